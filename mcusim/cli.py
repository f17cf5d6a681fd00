"""The `mcusim` command: one sub-command per job, each registered by the package that implements it
(this module sits above them all and only dispatches)."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from mcusim.simulator import gcpause
from mcusim.simulator.cli import run_guarded, version

DESCRIPTION = "cycle-level simulator of a PULP-style 8+1-core RISC-V cluster (RI5CY, Xpulpv2, FP16 SIMD)"


# Each subcommand and the (module, function) that registers it: `mcusim run` imports only the
# simulator's command module, not the kernel library, the workloads or numpy (start-up time).
COMMANDS: dict[str, tuple[str, str]] = {
    "asm": ("mcusim.simulator.cli", "add_program_parsers"),
    "disasm": ("mcusim.simulator.cli", "add_program_parsers"),
    "run": ("mcusim.simulator.cli", "add_program_parsers"),
    "cc": ("mcusim.simulator.cc", "add_cc_parsers"),
    "sdk-path": ("mcusim.simulator.cc", "add_cc_parsers"),
    "kernel": ("mcusim.kernels_asm.kernels.cli", "add_kernel_parser"),
    "train": ("mcusim.workloads.cli", "add_train_parser"),
    "reproduce": ("mcusim.workloads.cli", "add_reproduce_parser"),
    "sweep": ("mcusim.workloads.dse_cli", "add_sweep_parser"),
    "tune": ("mcusim.workloads.dse_cli", "add_tune_parser"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line; with `command` (a key of COMMANDS) only that subcommand's parser is
    registered (its module alone is imported), else all of them (help, errors)."""
    import importlib
    parser = argparse.ArgumentParser(prog="mcusim", description=f"mcusim: {DESCRIPTION}",
                                     epilog="Exit status: 0 ok; 1 the program exited non-zero, or a kernel/step "
                                            "gave wrong numbers; 2 bad input; 3 the program failed (trap, hang, "
                                            "deadlock); 4 --max-cycles exceeded; 5 a bug in mcusim "
                                            "(README: Exit status).")
    parser.add_argument("--version", action="version", version=f"mcusim {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    registrars = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for module, function in registrars:
        getattr(importlib.import_module(module), function)(sub)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The subcommand named by argv (its first argument), or None (options first, help, typos)."""
    return argv[0] if argv and argv[0] in COMMANDS else None


def _quiet_blas() -> None:
    """One BLAS thread unless the user chose otherwise: numpy's work here is small arrays, and
    OpenBLAS's idle worker threads spin on the cores the simulation loop needs (on a 2-core machine
    they took a few percent of a training step). Effective only before numpy is first imported."""
    import os
    if "numpy" not in sys.modules:
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, "1")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run the sub-command; every failure is one line on stderr and an exit status
    (mcusim.simulator.cli: the table, run_guarded)."""
    _quiet_blas()
    if argv is None:            # the process's own command line: start-up without the collector
        gcpause.pause()         # (a call with argv, e.g. from a test, leaves it alone)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["cc"]:     # every other option goes to clang: argparse would reject them
        from mcusim.simulator.cc import cmd_cc
        return run_guarded(cmd_cc, argparse.Namespace(cc_args=argv[1:], command="cc"))
    args = build_parser(_command(argv)).parse_args(argv)
    return run_guarded(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
