"""Benchmark of the sweep machinery (issue 15 targets): a 100-point kernel sweep, matmul 64x64x64
FP16 on 8 cores, over fpu.count x tcdm.banks x fpu.latency_fma (4 x 5 x 5 points).

    python tools/bench_sweep.py [--jobs 1,2] [--points 100] [--scheduler tcp://HOST:PORT]

For each --jobs value it reports, end to end (`python -m mcusim sweep SPEC --csv FILE`, a fresh
process: interpreter start, imports, spec check, workers, CSV) and in process (run_sweep):
- the elapsed time of the whole sweep (target: <= 30 s for 100 points on this 2-core machine);
- the sum of the points' own time (`wall_s`: build, inputs, simulation, numpy check of one point);
- the sweep overhead per point = ((elapsed - fixed start-up) x jobs - sum of wall_s) / points: what
  the machinery adds per point beyond the points' work, charging each worker for the whole elapsed
  time (idle time included, so an upper bound; target <= 50 ms). The fixed start-up (end to end
  only) is the same command run again when every point is already in the output.
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SPEC = """
[workload]
kind = "kernel"
name = "matmul"
args = {{ m = 64, n = 64, k = 64, dtype = "fp16" }}
cores = 8
[grid]
"fpu.count" = [1, 2, 4, 8]
"tcdm.banks" = [4, 8, 16, 32, 64]
"fpu.latency_fma" = {latencies}
"""
TARGET_S, TARGET_OVERHEAD_MS = 30.0, 50.0


def spec_text(points: int) -> str:
    n = max(1, points // 20)
    return SPEC.format(latencies=list(range(n)))


def end_to_end(spec: Path, jobs: int, scheduler: str | None, tmp: Path) -> tuple[float, float, list[dict]]:
    """(elapsed, fixed start-up, rows): the start-up is the same command again once every point is in
    the output (interpreter, imports, spec check, reading and writing the CSV; nothing simulated)."""
    out = tmp / f"e2e_{jobs}.csv"
    if out.exists():
        out.unlink()
    cmd = [sys.executable, "-m", "mcusim", "sweep", str(spec), "--csv", str(out), "-q", "--jobs", str(jobs)]
    if scheduler:
        cmd += ["--scheduler", scheduler]
    times = []
    for _ in range(2):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
    with open(out, newline="") as f:
        return times[0], times[1], list(csv.DictReader(f))


def in_process(spec: Path, jobs: int, scheduler: str | None) -> tuple[float, list[dict]]:
    from mcusim.workloads.sweep import load_spec, run_sweep
    s = load_spec(spec)
    start = time.perf_counter()
    res = run_sweep(s, jobs, scheduler)
    return time.perf_counter() - start, res.rows


def report(label: str, elapsed: float, rows: list[dict], jobs: int, fixed: float = 0.0) -> None:
    n = len(rows)
    work = sum(float(r["wall_s"]) for r in rows)
    failed = sum(1 for r in rows if r["error"])
    overhead = ((elapsed - fixed) * jobs - work) / n * 1e3
    verdict = "OK" if elapsed <= TARGET_S * n / 100 and overhead <= TARGET_OVERHEAD_MS else "MISSED"
    print(f"{label:<28} jobs {jobs}: {n} points in {elapsed:6.2f} s ({elapsed / n * 1e3:6.1f} ms/point), "
          f"points' own time {work:6.2f} s ({work / n * 1e3:5.1f} ms/point), overhead "
          f"{overhead:5.1f} ms/point{f', fixed start-up {fixed:.2f} s' if fixed else ''}, {failed} failed  "
          f"[{verdict}]")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", default="1,2", help="comma-separated job counts (default 1,2)")
    ap.add_argument("--points", type=int, default=100, help="points (multiple of 20; default 100)")
    ap.add_argument("--scheduler", help="also run on this Dask scheduler")
    args = ap.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# bench_sweep: {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}, "
          f"load average {load:.1f}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        spec = tmp / "bench.toml"
        spec.write_text(spec_text(args.points))
        reference = None
        for jobs in (int(j) for j in args.jobs.split(",")):
            elapsed, fixed, rows = end_to_end(spec, jobs, None, tmp)
            report("end to end (mcusim sweep)", elapsed, rows, jobs, fixed)
            elapsed, rows = in_process(spec, jobs, None)
            report("in process (run_sweep)", elapsed, rows, jobs)
            cycles = [int(r["cycles"]) for r in rows]
            reference = reference or cycles
            assert cycles == reference, "rows differ between job counts"
        if args.scheduler:
            from distributed import Client
            with Client(args.scheduler, set_as_default=False) as client:
                workers = sum(client.nthreads().values())
            elapsed, fixed, rows = end_to_end(spec, 1, args.scheduler, tmp)
            report(f"end to end on Dask ({workers} worker threads)", elapsed, rows, workers, fixed)
            assert [int(r["cycles"]) for r in rows] == reference
    return 0


if __name__ == "__main__":
    sys.exit(main())
