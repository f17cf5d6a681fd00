"""`mcusim sweep` and `mcusim tune`: design-space exploration from the command line.

    mcusim sweep SPEC.toml [--out FILE.parquet|FILE.csv] [--csv FILE.csv] [--jobs N]
                 [--scheduler tcp://HOST:PORT] [--plot FILE.png] [--retry-failed] [-q]
    mcusim tune NETWORK --dtype D --out PLAN.json [--jobs N] [--scheduler tcp://HOST:PORT]
                [--prune F | --exhaustive] [--no-verify]
                [--config FILE] [--preset NAME] [--cores N] [--engine c|py] [-q]

`sweep` runs the spec's grid (workloads/sweep.py documents the spec and the columns): points in
parallel in N local processes (default 1: in this process) or on a Dask cluster, with progress and
an ETA on stderr; rows go to --out (Parquet when it ends in .parquet, else CSV) and/or --csv, or to
stdout as CSV when neither is given. Points already in the output are skipped (--retry-failed runs
the failed ones again). Exit status 0 when every point ran, 1 when some failed (recorded in the
`error` column), 2 for a bad spec (one line naming the key and value, before anything runs).

`tune` simulates the kernel variant x tiling candidates of each layer-phase of the network
(workloads/tune.py), keeps the fastest, checks the whole step, writes the plan (`mcusim train
NETWORK --plan-file PLAN.json` uses it) and prints the gain over the default choice per layer-phase.

Hook-up: add_sweep_parser(sub); add_tune_parser(sub) in the top-level parser.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from mcusim.kernels_asm.dtype_names import FLOAT_DTYPES
from mcusim.simulator.argtypes import positive


def _user_error(msg: str) -> Exception:
    from mcusim.simulator.cli import UserError
    return UserError(msg)


def _executor_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", type=positive, default=1, help="local worker processes (default 1: this process)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run the points on this Dask scheduler instead (needs mcusim[distributed] here and on "
                        "the workers)")


def add_sweep_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `mcusim sweep` on the top-level sub-parsers."""
    p = subparsers.add_parser("sweep", help="run a workload over a grid of cluster/workload parameters",
                              description="Run a workload (program, kernel or training step) over a grid of "
                                          "cluster and workload parameters; one row per point.")
    p.add_argument("spec", metavar="SPEC.toml", help="the sweep: [workload], [grid], optional [cost] and [plot]")
    p.add_argument("--out", metavar="FILE", help="rows as Parquet (FILE.parquet, needs pyarrow) or CSV")
    p.add_argument("--csv", metavar="FILE.csv", help="rows as CSV (besides --out)")
    _executor_options(p)
    p.add_argument("--plot", metavar="FILE.png", help="the metric over the grid (lines or heat map; Pareto front "
                                                      "of cycles vs cost with a [cost] table)")
    p.add_argument("--retry-failed", action="store_true", help="run again the points the output records as failed")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_sweep)
    return p


def add_tune_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `mcusim tune` on the top-level sub-parsers."""
    from mcusim.simulator.config import PRESETS
    from mcusim.workloads.tune import PRUNE
    p = subparsers.add_parser("tune", help="pick the fastest kernel variant and tiling per layer-phase of a network",
                              description="Simulate the kernel variant x tiling candidates of each layer-phase, "
                                          "keep the fastest, check the whole step, write the plan for "
                                          "`mcusim train --plan-file`.")
    p.add_argument("network", help="resnet8, dscnn or a description FILE.json")
    p.add_argument("--dtype", choices=FLOAT_DTYPES, default="fp32",
                   help="data type: fp32, fp16 (IEEE half) or bf16 (bfloat16, smallFloat .ah) (default fp32)")
    p.add_argument("--out", metavar="PLAN.json", required=True, help="the chosen plan")
    p.add_argument("--prune", type=_factor, default=PRUNE, metavar="F",
                   help=f"try the other tilings only of the variants within F times the fastest on their own "
                        f"tiling (default {PRUNE})")
    p.add_argument("--exhaustive", action="store_true", help="every variant x every tiling (no pruning)")
    p.add_argument("--no-verify", action="store_true",
                   help="do not simulate the whole step with the plan against the default one")
    _executor_options(p)
    p.add_argument("--config", metavar="FILE", help="TOML file overriding cluster parameters (docs/CONFIG.md)")
    p.add_argument("--preset", default="default", choices=sorted(PRESETS), help="cluster preset")
    p.add_argument("--cores", type=positive, default=8, help="worker cores (default 8)")
    p.add_argument("--engine", choices=("c", "py"), default="c", help="c: compiled engine (default); py: reference")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or table on stderr")
    p.set_defaults(func=cmd_tune)
    return p


def _check_outputs(outputs: list[tuple[str, str | None]]) -> None:
    """Output paths are checked before the (long) sweep or tuning starts (simulator.outputs)."""
    from mcusim.simulator.outputs import OutputError, check_outputs, check_plot_path
    try:
        for opt, path in outputs:
            if path == "-":
                raise OutputError(f"{opt}: give a file name")
        check_outputs(outputs)
        plot = dict(outputs).get("--plot")
        if plot:
            check_plot_path(plot)
    except OutputError as exc:
        raise _user_error(str(exc)) from None


def cmd_sweep(args: argparse.Namespace) -> int:
    from mcusim.workloads.sweep import SpecError, load_spec, require_pyarrow, run_sweep, write_csv
    from mcusim.workloads.sweep_exec import ExecError
    _check_outputs([("--out", args.out), ("--csv", args.csv), ("--plot", args.plot)])
    try:
        spec = load_spec(args.spec)
        for path in (args.out, args.csv):
            if path is not None and path.endswith(".parquet"):
                require_pyarrow(path)
        if args.csv is not None and args.csv.endswith(".parquet"):
            raise SpecError(f"--csv {args.csv}: a CSV file name is expected (Parquet goes to --out)")
        result = run_sweep(spec, args.jobs, args.scheduler, args.out, args.csv, args.retry_failed,
                           None if args.quiet else sys.stderr)
    except (SpecError, ExecError) as exc:
        raise _user_error(str(exc)) from None
    if args.out is None and args.csv is None:
        write_csv(result.rows, result.columns, sys.stdout)
    if args.plot:
        from mcusim.workloads.sweep_plot import plot_sweep
        try:
            plot_sweep(result.rows, spec.grid, args.plot, spec.plot, f"{spec.kind} {_short(spec.name)}",
                       bool(spec.cost))
        except OSError as exc:
            raise _user_error(f"{args.plot}: cannot write ({exc.strerror})") from None
    if not args.quiet:
        failed = len(result.failed)
        print(f"sweep: {len(result.rows)} rows ({result.ran} run, {result.skipped} skipped, {failed} failed) "
              f"in {result.wall_s:.1f} s", file=sys.stderr)
        for row in result.failed[:5]:
            where = ", ".join(f"{k}={row.get(k)}" for k in spec.grid)
            print(f"sweep: failed: {where}: {row['error']}", file=sys.stderr)
    return 1 if result.failed else 0


def _short(name: str) -> str:
    from pathlib import Path
    return Path(name).name


def _factor(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {text!r}") from None
    if not value >= 1.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {text!r}")
    return value


def cmd_tune(args: argparse.Namespace) -> int:
    from mcusim.simulator.config import ConfigError, load_config
    from mcusim.workloads import tune
    from mcusim.workloads.sweep_exec import ExecError
    _check_outputs([("--out", args.out)])
    try:
        config = load_config(args.preset, args.config)
    except ConfigError as exc:
        raise _user_error(str(exc)) from None
    if args.cores > config.workers:
        raise _user_error(f"--cores {args.cores}: the configuration has {config.workers} workers")
    try:
        plan = tune.tune(args.network, args.dtype, config, cores=args.cores, engine=args.engine, jobs=args.jobs,
                         scheduler=args.scheduler, progress=None if args.quiet else sys.stderr,
                         verify=not args.no_verify, prune=None if args.exhaustive else args.prune)
        tune.save_plan(plan, args.out)
    except (tune.TuneError, ExecError) as exc:
        raise _user_error(str(exc)) from None
    if not args.quiet:
        tune.print_gains(plan)
    return 0
