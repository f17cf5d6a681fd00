"""The `mcusim` command: one sub-command per job, each registered by the package that implements it
(this module sits above them all and only dispatches)."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from mcusim.simulator.cli import add_program_parsers, run_guarded, version

DESCRIPTION = "cycle-level simulator of a PULP-style 8+1-core RISC-V cluster (RI5CY, Xpulpv2, FP16 SIMD)"


def build_parser() -> argparse.ArgumentParser:
    from mcusim.kernels_asm.kernels.cli import add_kernel_parser
    from mcusim.simulator.cc import add_cc_parsers
    from mcusim.workloads.cli import add_reproduce_parser, add_train_parser
    from mcusim.workloads.dse_cli import add_sweep_parser, add_tune_parser
    parser = argparse.ArgumentParser(prog="mcusim", description=f"mcusim: {DESCRIPTION}",
                                     epilog="Exit status: 0 ok; 1 the program exited non-zero, or a kernel/step "
                                            "gave wrong numbers; 2 bad input; 3 the program failed (trap, hang, "
                                            "deadlock); 4 --max-cycles exceeded; 5 a bug in mcusim "
                                            "(README: Exit status).")
    parser.add_argument("--version", action="version", version=f"mcusim {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_program_parsers(sub)
    add_cc_parsers(sub)
    add_kernel_parser(sub)
    add_train_parser(sub)
    add_reproduce_parser(sub)
    add_sweep_parser(sub)
    add_tune_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run the sub-command; every failure is one line on stderr and an exit status
    (mcusim.simulator.cli: the table, run_guarded)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["cc"]:     # every other option goes to clang: argparse would reject them
        from mcusim.simulator.cc import cmd_cc
        return run_guarded(cmd_cc, argparse.Namespace(cc_args=argv[1:], command="cc"))
    args = build_parser().parse_args(argv)
    return run_guarded(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
