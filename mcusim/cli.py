"""The `mcusim` command: one sub-command per job, each registered by the package that implements it
(this module sits above them all and only dispatches)."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from mcusim.simulator.cli import (EXIT_BAD_INPUT, EXIT_MAX_CYCLES, EXIT_PROGRAM_ERROR, UserError,
                                  add_program_parsers)

DESCRIPTION = "cycle-level simulator of a PULP-style 8+1-core RISC-V cluster (RI5CY, Xpulpv2, FP16 SIMD)"


def build_parser() -> argparse.ArgumentParser:
    from mcusim.kernels_asm.kernels.cli import add_kernel_parser
    from mcusim.workloads.cli import add_reproduce_parser, add_train_parser
    from mcusim.workloads.dse_cli import add_sweep_parser, add_tune_parser
    parser = argparse.ArgumentParser(prog="mcusim", description=f"mcusim: {DESCRIPTION}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_program_parsers(sub)
    add_kernel_parser(sub)
    add_train_parser(sub)
    add_reproduce_parser(sub)
    add_sweep_parser(sub)
    add_tune_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from mcusim.kernels_asm import AsmError
    from mcusim.simulator.functional import SimulationError
    from mcusim.simulator.loader import LoadError
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UserError, AsmError, LoadError) as exc:
        print(f"mcusim: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SimulationError as exc:
        print(f"mcusim: error: {exc}", file=sys.stderr)
        if exc.kind == "config":
            return EXIT_BAD_INPUT
        return EXIT_MAX_CYCLES if exc.kind == "max-cycles" else EXIT_PROGRAM_ERROR
    except KeyboardInterrupt:
        print("mcusim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
