"""Benchmark of the training step as one program (workloads.step_program): every network, dtype and
preset, the simulated figures beside the kernel-by-kernel model, and the wall time of the whole
`mcusim train resnet8 --dtype fp16` process (cold and warm assembly cache).

    python tools/bench_step.py                 # the table of docs/RESULTS.md (a few minutes)
    python tools/bench_step.py --quick         # ResNet8 FP16 default only, plus the wall time
    python tools/bench_step.py --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def step_row(name: str, dtype: str, preset: str, engine: str) -> dict:
    from mcusim.simulator.config import load_config
    from mcusim.workloads import train
    t0 = time.perf_counter()
    res = train.simulate_step(name, dtype, load_config(preset), engine=engine)
    wall = time.perf_counter() - t0
    recs = res.records
    return {"network": name, "dtype": dtype, "preset": preset, "cycles": res.cycles, "run_cycles": res.run_cycles,
            "compute": res.compute_cycles, "exposed_dma": res.dma_cycles,
            "overhead": sum(r.overhead_cycles for r in recs), "bank_cycles": sum(r.dma.bank_cycles for r in recs),
            "tiled": sum(1 for r in recs if r.dma.tiles > 1), "tiles": sum(r.dma.tiles for r in recs),
            "forks": sum(len(r.tile_cycles) for r in recs),
            "mac_per_clk": round(res.mac_per_clk, 3), "numerics_ok": res.numerics.ok, "wall_s": round(wall, 2),
            "dma_bytes": sum(r.dma.bytes_in + r.dma.bytes_out for r in recs)}


def model_row(name: str, dtype: str, engine: str) -> dict:
    from mcusim.workloads import train
    res = train.simulate_step(name, dtype, engine=engine, dma="model")
    return {"network": name, "dtype": dtype, "cycles": res.cycles, "compute": res.compute_cycles,
            "exposed_dma": res.dma_cycles, "mac_per_clk": round(res.mac_per_clk, 3),
            "enlarged": sum(1 for r in res.records if r.enlarged)}


def wall_time() -> dict:
    """The whole process, twice: with an empty assembly cache, then with the cache it left."""
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, MCUSIM_CACHE=cache)
        for label in ("cold", "warm"):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "mcusim", "train", "resnet8", "--dtype", "fp16", "-q"],
                           cwd=ROOT, env=env, check=True)
            out[label] = round(time.perf_counter() - t0, 2)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--engine", default="c")
    ap.add_argument("--json")
    args = ap.parse_args()
    grid = [("resnet8", "fp16", "default")] if args.quick else [
        (n, d, p) for n in ("resnet8", "dscnn") for d in ("fp32", "fp16") for p in ("default", "pulp-open")]
    rows = [step_row(n, d, p, args.engine) for n, d, p in grid]
    models = [model_row(n, d, args.engine) for n, d in sorted({(n, d) for n, d, p in grid if p == "default"})]
    wall = wall_time()
    print("| network | dtype | preset | cycles | kernels | exposed DMA | fork/join + DMA set-up | DMA bank cycles "
          "| tiled steps (forks) | MAC/clk | numerics |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['network']} | {r['dtype']} | {r['preset']} | {r['cycles']:,} | {r['compute']:,} | "
              f"{r['exposed_dma']:,} | {r['overhead']:,} | {r['bank_cycles']:,} | {r['tiled']} ({r['forks']}) | "
              f"{r['mac_per_clk']:.2f} | {'OK' if r['numerics_ok'] else 'FAILED'} |")
    print("\nkernel by kernel (--dma model): " + "; ".join(
        f"{m['network']} {m['dtype']} {m['cycles']:,} cycles ({m['compute']:,} kernels + {m['exposed_dma']:,} "
        f"modelled DMA, {m['enlarged']} steps on an enlarged TCDM), {m['mac_per_clk']:.2f} MAC/clk" for m in models))
    print(f"\nwall time of `mcusim train resnet8 --dtype fp16`: {wall['cold']} s (empty assembly cache), "
          f"{wall['warm']} s (cached)")
    if args.json:
        Path(args.json).write_text(json.dumps({"steps": rows, "model": models, "wall_s": wall}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
