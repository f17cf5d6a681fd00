"""`mcusim kernel`: list, build, run and check the registered kernels.

    mcusim kernel --list
    mcusim kernel NAME [--dtype fp32|fp16|bf16] [--variant V] [--m M --n N --k K ...] [--cores N]
                       [--preset NAME] [--config FILE] [--seed S] [--engine c|py] [--json FILE|-] [-q]

Builds kernel NAME for the shape (each kernel's parameters are options: --m --n --k for matmul; the
defaults are listed by --list), fills its inputs with seeded random numbers, runs it on the
cluster, checks the outputs against numpy and prints cycles, instructions, MACs, MAC/clk, the
per-core stall breakdown and the verdict (table on stderr; --json writes the same as JSON). Without
--variant the kernel's own rule picks one (matmul: the fewest cycles by an instruction-count model,
no simulation). Exit status: 0 correct, 1 wrong result, 2 bad arguments, 3/4 simulation errors.

Two-stage parsing: `add_kernel_parser` registers the sub-command and hands its arguments over
unparsed; `cmd_kernel` parses them with a parser that knows every kernel's shape parameters, so
the kernel modules are imported only when `mcusim kernel` runs.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mcusim.simulator.argtypes import cycles, integer, non_negative, positive
from mcusim.kernels_asm.dtype_names import FLOAT_DTYPES

JSON_SCHEMA = "mcusim-kernel/1"
_FIXED = {"list", "dtype", "variant", "cores", "preset", "config", "seed", "engine", "json", "quiet",
          "help", "name", "max_cycles"}


def add_kernel_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `mcusim kernel` on the sub-parsers of simulator.cli.build_parser."""
    p = subparsers.add_parser("kernel", help="run and check a library kernel (--list shows them)",
                              add_help=False, prefix_chars="\x00",
                              description="see `mcusim kernel --help`")
    p.add_argument("argv", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_kernel)
    return p


def build_kernel_parser() -> argparse.ArgumentParser:
    """The full parser of `mcusim kernel` (imports the kernel modules for their parameters)."""
    from mcusim.kernels_asm.kernels import registry
    from mcusim.kernels_asm.kernels.harness import ENGINES
    from mcusim.simulator.config import PRESETS
    p = argparse.ArgumentParser(prog="mcusim kernel", description=__doc__.splitlines()[0])
    p.add_argument("name", nargs="?", metavar="NAME", help="kernel to run (see --list)")
    p.add_argument("--list", action="store_true", help="list kernels, dtypes, variants and parameters")
    p.add_argument("--dtype", choices=FLOAT_DTYPES, help="data type (default: the kernel's first)")
    p.add_argument("--variant", help="kernel variant (default: chosen for the shape; see --list)")
    p.add_argument("--cores", type=positive, default=8, help="worker cores (default 8)")
    p.add_argument("--preset", default="default", choices=sorted(PRESETS), help="cluster preset")
    p.add_argument("--config", metavar="FILE", help="TOML file overriding cluster parameters")
    p.add_argument("--max-cycles", type=cycles, default=None, help="simulation cycle limit")
    p.add_argument("--seed", type=non_negative, default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--engine", default="c", choices=ENGINES,
                   help="c: the compiled engine (default; falls back to py if not built), py: the reference")
    p.add_argument("--json", metavar="FILE", help="write the result as JSON ('-' for stdout)")
    p.add_argument("-q", "--quiet", action="store_true", help="no table or progress on stderr")
    p.add_argument("--progress", action="store_true",
                   help="show the simulation's progress even without a terminal (a line every 2 s); on a "
                        "terminal it shows by itself once the run takes over 2 s")
    params: dict[str, list[str]] = {}
    for kdef in registry.all_kernels():
        for prm in kdef.params:
            params.setdefault(prm.name, []).append(f"{kdef.name} (default {prm.default})")
    group = p.add_argument_group("shape parameters (each kernel uses its own; see --list)")
    for name, users in sorted(params.items()):
        if name in _FIXED:
            raise ValueError(f"kernel parameter {name!r} clashes with an option of mcusim kernel")
        group.add_argument(f"--{name}", dest=f"shape_{name}", type=integer, default=None, metavar="N",
                           help="; ".join(users))
    return p


def list_kernels(out=None) -> None:
    from mcusim.kernels_asm.kernels import registry
    out = out or sys.stdout
    for kdef in registry.all_kernels():
        out.write(f"{kdef.name}: {kdef.description}\n")
        params = ", ".join(f"--{p.name} {p.default}" for p in kdef.params) or "none"
        out.write(f"  parameters: {params}\n")
        for dtype in kdef.dtypes:
            out.write(f"  {dtype}: {', '.join(kdef.variants[dtype])}\n")
    out.flush()


def cmd_kernel(args: argparse.Namespace) -> int:
    """Run `mcusim kernel` (args.argv holds its unparsed arguments)."""
    from mcusim.kernels_asm.kernels import registry
    from mcusim.kernels_asm.kernels.harness import HarnessError
    from mcusim.simulator.cli import UserError
    from mcusim.simulator.config import ConfigError, load_config
    from mcusim.simulator.outputs import check_outputs, write_atomic
    opts = build_kernel_parser().parse_args(getattr(args, "argv", None) or [])
    args.json = opts.json                   # for the error report of simulator.cli.run_guarded
    check_outputs([("--json", opts.json)])
    if opts.list:
        list_kernels()
        return 0
    if not opts.name:
        raise UserError("kernel: name a kernel or use --list")
    try:
        kdef = registry.get(opts.name)
    except KeyError as exc:
        raise UserError(str(exc.args[0])) from None
    dtype = opts.dtype or kdef.dtypes[0]
    if dtype not in kdef.dtypes:
        raise UserError(f"kernel {kdef.name} has no dtype {dtype} (available: {', '.join(kdef.dtypes)})")
    given = {k[len("shape_"):]: v for k, v in vars(opts).items() if k.startswith("shape_") and v is not None}
    overrides: dict = {}
    if opts.max_cycles is not None:
        overrides["max_cycles"] = opts.max_cycles
    try:
        config = load_config(opts.preset, opts.config, overrides)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    if opts.cores > config.workers:
        raise UserError(f"--cores {opts.cores}: the cluster has {config.workers} workers")
    try:
        shape = kdef.full_shape(given)
        registry.check_size(kdef, shape, config)
        from mcusim.simulator.cli import resolve_engine
        opts.engine = resolve_engine(opts.engine)
        from mcusim.simulator.progress import cycle_progress
        outcome = registry.run(kdef, shape, dtype, opts.variant, opts.cores, config, opts.seed, opts.engine,
                               watch=lambda cluster: cycle_progress(cluster, opts.progress, opts.quiet))
    except (ValueError, HarnessError) as exc:
        raise UserError(str(exc)) from None
    ceiling = kdef.ceiling(shape, dtype, outcome.variant) if kdef.ceiling else None
    doc = to_json(outcome, config, opts.seed, opts.engine, ceiling)
    if opts.json:
        text = json.dumps(doc, indent=2)
        write_atomic(opts.json, text + "\n", "--json")
        args.report_written = True
    if not opts.quiet:
        print_table(doc)
    return 0 if outcome.check.ok else 1


def to_json(outcome, config, seed: int, engine: str, ceiling: float | None) -> dict[str, Any]:
    """The JSON document `mcusim-kernel/1` (see the keys below)."""
    run = outcome.run
    from mcusim.simulator import energy, ifetch
    spent = energy.of_result(run.result)
    gflops_w = spent.gflops_per_w(2 * outcome.macs)
    return {
        "schema": JSON_SCHEMA,
        "kernel": outcome.kernel,
        "variant": outcome.variant,
        "dtype": outcome.dtype,
        "shape": outcome.shape,
        "cores": run.cores,
        "engine": engine,
        "seed": seed,
        "cycles": run.cycles,                   # the kernel region, max over cores
        "total_cycles": run.total_cycles,       # the whole run
        "instret": run.instret,                 # the kernel region, all cores
        "macs": outcome.macs,
        "mac_per_clk": round(outcome.mac_per_clk, 4),
        "ceiling_mac_per_instr": None if ceiling is None else round(ceiling, 4),
        **spent.to_json(),                      # the whole run, by the energy model (docs/ENERGY.md)
        "gflops_per_w": None if gflops_w is None else round(gflops_w, 2),
        "correct": outcome.check.ok,
        "check": {"max_error": outcome.check.max_error, "bound": outcome.check.bound,
                  "detail": outcome.check.detail},
        "per_core": run.per_core,
        "config": config.to_dict(),
        "fetch": ifetch.describe(config.icache),
    }


def print_table(doc: dict[str, Any], console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    from mcusim.simulator.cluster import STALL_CAUSES
    console = console or Console(stderr=True)
    shape = " ".join(f"{k}={v}" for k, v in doc["shape"].items())
    verdict = "[green]correct[/green]" if doc["correct"] else "[red]WRONG[/red]"
    summary = Table(title=f"{doc['kernel']} {doc['dtype']} {doc['variant']} ({shape}) on {doc['cores']} "
                          f"core{'s' if doc['cores'] > 1 else ''}: {verdict}", show_header=False)
    summary.add_column("what")
    summary.add_column("value", justify="right")
    summary.add_row("cycles (kernel region)", f"{doc['cycles']:,}")
    summary.add_row("cycles (whole run)", f"{doc['total_cycles']:,}")
    summary.add_row("instructions (region, all cores)", f"{doc['instret']:,}")
    summary.add_row("MACs", f"{doc['macs']:,}")
    summary.add_row("MAC/clk", f"{doc['mac_per_clk']:.3f}")
    if doc["ceiling_mac_per_instr"] is not None:
        summary.add_row("issue-bound ceiling (MAC/instr x cores)",
                        f"{doc['ceiling_mac_per_instr'] * doc['cores']:.3f}")
    summary.add_row("energy, whole run (model)", f"{doc['energy_uj']:.4g} µJ")
    if doc["gflops_per_w"] is not None:
        summary.add_row("GFLOPS/W (2 FLOPs per MAC)", f"{doc['gflops_per_w']:.1f}")
    summary.add_row("check", f"max error {doc['check']['max_error']:.3g}, bound {doc['check']['bound']:.3g}")
    console.print(summary)
    console.print(doc["check"]["detail"])
    console.print(doc["fetch"], highlight=False, markup=False)
    causes = [c for c in STALL_CAUSES if any(p["stalls"][c] for p in doc["per_core"])]
    table = Table(title="kernel region per core")
    for col in ["core", "cycles", "instret", "IPC", *causes]:
        table.add_column(col, justify="right")
    for p in doc["per_core"]:
        ipc = p["instret"] / p["cycles"] if p["cycles"] else 0.0
        table.add_row(str(p["core"]), f"{p['cycles']:,}", f"{p['instret']:,}", f"{ipc:.2f}",
                      *(f"{p['stalls'][c]:,}" for c in causes))
    from mcusim.simulator.tables import keep_headers
    console.print(keep_headers(table))
