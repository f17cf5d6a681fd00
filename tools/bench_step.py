"""Benchmark of the training step as one program (workloads.step_program): every network, dtype and
preset, the simulated figures beside the kernel-by-kernel model, and the wall time of the whole
`mcusim train resnet8 --dtype fp16` process (cold and warm assembly cache).

    python tools/bench_step.py                 # the table of docs/RESULTS.md (a few minutes)
    python tools/bench_step.py --quick         # ResNet8 FP16 default only, plus the wall time
    python tools/bench_step.py --wall          # only the whole-process times: start-up, step cold/warm
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


EMPTY_PROGRAM = "    .globl _start\n_start:\n    li a7, 93\n    li a0, 0\n    ecall\n"


def _timed(cmd: list[str], env: dict, repeat: int) -> dict:
    """Wall and CPU (user + system) seconds of `repeat` runs of the process `cmd`: best and median."""
    import resource
    import statistics
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return {"wall_best": round(min(walls), 3), "wall_median": round(statistics.median(walls), 3),
            "cpu_best": round(min(cpus), 3), "cpu_median": round(statistics.median(cpus), 3), "runs": repeat}


def wall_time(repeat: int = 3, startup_repeat: int = 10) -> dict:
    """Whole processes as a user runs them (compiled bytecode cached, as installed; one warm-up run
    first): `mcusim run` of a program that exits at once (start-up), and `mcusim train resnet8
    --dtype fp16` cold (MCUSIM_CACHE='': nothing cached on disk) and warm (the cache its first run
    filled: the assembled step program and its pre-decoded code)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.s"
        empty.write_text(EMPTY_PROGRAM)
        run = [sys.executable, "-m", "mcusim", "run", str(empty)]
        _timed(run, env, 1)
        out["startup"] = _timed(run, env, startup_repeat)
        train = [sys.executable, "-m", "mcusim", "train", "resnet8", "--dtype", "fp16", "-q"]
        out["cold"] = _timed(train, dict(env, MCUSIM_CACHE=""), repeat)
        cache = dict(env, MCUSIM_CACHE=str(Path(tmp) / "cache"))
        _timed(train, cache, 1)
        out["warm"] = _timed(train, cache, repeat)
    return out


def _wall_line(label: str, r: dict) -> str:
    return (f"{label}: wall best {r['wall_best']:.2f} s, median {r['wall_median']:.2f} s; CPU best "
            f"{r['cpu_best']:.2f} s, median {r['cpu_median']:.2f} s ({r['runs']} runs)")


def print_wall(wall: dict) -> None:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"whole processes (load average {load:.1f} when done, {os.cpu_count()} CPUs):")
    print(_wall_line("  `mcusim run` of a program that exits at once", wall["startup"]))
    print(_wall_line("  `mcusim train resnet8 --dtype fp16`, cold (MCUSIM_CACHE='')", wall["cold"]))
    print(_wall_line("  `mcusim train resnet8 --dtype fp16`, warm cache", wall["warm"]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--wall", action="store_true", help="only the whole-process wall and CPU times")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each timed step process")
    ap.add_argument("--engine", default="c")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.wall:
        wall = wall_time(args.repeat)
        print_wall(wall)
        if args.json:
            Path(args.json).write_text(json.dumps({"wall_s": wall}, indent=1))
        return 0
    grid = [("resnet8", "fp16", "default")] if args.quick else [
        (n, d, p) for n in ("resnet8", "dscnn") for d in ("fp32", "fp16") for p in ("default", "pulp-open")]
    rows = [step_row(n, d, p, args.engine) for n, d, p in grid]
    models = [model_row(n, d, args.engine) for n, d in sorted({(n, d) for n, d, p in grid if p == "default"})]
    wall = wall_time(args.repeat)
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
    print()
    print_wall(wall)
    if args.json:
        Path(args.json).write_text(json.dumps({"steps": rows, "model": models, "wall_s": wall}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
