"""Run the design-space studies of docs/DSE.md: every sweep spec in tools/dse/, its rows to
docs/dse/NAME.csv and its figure to docs/img/dse_NAME.png, plus the TCDM each network needs
(the step compiler's tiling, no simulation), printed as Markdown tables.

    python tools/dse_studies.py [--jobs N] [--only NAME[,NAME]] [--need-only]

The sweeps resume: rows already in docs/dse/NAME.csv are kept (delete the file to measure again).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SPECS = ROOT / "tools" / "dse"
CSV_DIR = ROOT / "docs" / "dse"
IMG_DIR = ROOT / "docs" / "img"
NETWORKS = ("resnet8", "dscnn")


def _fits(net, dtype: str, kib: int, untiled: bool) -> bool:
    """Whether the step compiler (workloads.step_program, what `mcusim train` runs) places every
    layer-phase of the step in a TCDM of `kib` KiB (8 workers + controller stacks), with untiled:
    each one whole."""
    from mcusim.simulator.config import load_config
    from mcusim.workloads import planner
    from mcusim.workloads import step_program as spm
    config = load_config(overrides={"tcdm": {"size_kib": kib}})
    alias = spm.grad_aliases(net)
    for lay, ph in spm.todo(net):
        names = spm.step_names(lay, alias)
        label = spm.LOSS if lay.is_loss else ph.value
        try:
            f = spm.fit_step(lay, ph, names, dtype, 8, {}, config, True, label, net.name)
        except planner.PlanError:
            return False
        if untiled and len(f.code.tiles) > 1:
            return False
    return True


def smallest_kib(net, dtype: str, untiled: bool, hi: int = 2048) -> int | None:
    """The smallest TCDM (KiB) the step compiler places the step in (_fits); None above `hi`."""
    if not _fits(net, dtype, hi, untiled):
        return None
    lo = 10                       # below 10 KiB the stacks leave nothing
    while lo < hi:
        mid = (lo + hi) // 2
        if _fits(net, dtype, mid, untiled):
            hi = mid
        else:
            lo = mid + 1
    return lo


def tcdm_need() -> None:
    from mcusim.workloads import model
    print("| network | dtype | smallest TCDM that holds the step (tiled) | smallest with no tiled step |")
    print("|---|---|---|---|")
    for name in NETWORKS:
        net = model.build(name)
        for dtype in ("fp32", "fp16"):
            print(f"| {name} | {dtype} | {smallest_kib(net, dtype, False)} KiB | {smallest_kib(net, dtype, True)} KiB |",
                  flush=True)


def run(names: list[str], jobs: int) -> None:
    from mcusim.workloads.sweep import load_spec, run_sweep
    from mcusim.workloads.sweep_plot import plot_sweep
    CSV_DIR.mkdir(parents=True, exist_ok=True)
    IMG_DIR.mkdir(parents=True, exist_ok=True)
    for name in names:
        spec = load_spec(SPECS / f"{name}.toml")
        start = time.perf_counter()
        res = run_sweep(spec, jobs, csv_path=str(CSV_DIR / f"{name}.csv"), progress=sys.stderr)
        plot_sweep(res.rows, spec.grid, IMG_DIR / f"dse_{name}.png", spec.plot,
                   f"{spec.kind} {Path(spec.name).name}: {name}", bool(spec.cost))
        print(f"\n### {name} ({res.ran} points run in {time.perf_counter() - start:.0f} s)\n")
        cols = [*spec.grid, *(["cost"] if spec.cost else []), "cycles", "mac_per_clk", "stall_fpu_contention",
                "stall_tcdm_contention", "error"]
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for r in res.rows:
            print("| " + " | ".join("" if r.get(c) is None else (f"{r[c]:,}" if isinstance(r[c], int) and not
                                                                   isinstance(r[c], bool) else str(r[c]))
                                    for c in cols) + " |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", help="comma-separated spec names (default: every tools/dse/*.toml)")
    ap.add_argument("--need-only", action="store_true", help="only the TCDM-need table (no simulation)")
    args = ap.parse_args()
    tcdm_need()
    if not args.need_only:
        names = args.only.split(",") if args.only else sorted(p.stem for p in SPECS.glob("*.toml"))
        run(names, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
