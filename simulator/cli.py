"""The program commands of `mcusim` (asm, disasm, run) and what every subcommand shares: UserError,
the exit codes, the engine option. `mcusim.cli` builds the command line from these and the other
packages' subcommands; this module imports nothing above the simulator.

Exit status: a simulated program's own exit code for `run`; 2 for bad input (assembly errors,
unreadable files, bad options); 3 when the simulated program fails (unhandled trap, hang);
4 when it exceeds --max-cycles. Errors are one line on stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from mcusim.simulator.argtypes import integer, positive

EXIT_BAD_INPUT = 2
EXIT_PROGRAM_ERROR = 3
EXIT_MAX_CYCLES = 4
CONTROLLER_MODE_SYMBOL = "__mcusim_controller_mode"


class UserError(Exception):
    """A mistake of the user's (bad file, option, program): reported in one line."""


def resolve_engine(requested: str) -> str:
    """The engine to use: the compiled one unless asked otherwise or not built (one-line warning)."""
    if requested == "py":
        return "py"
    from mcusim.simulator.cengine import binding
    if binding.load() is None:
        print("mcusim: warning: the compiled engine is not built; using the Python engine "
              "(reinstall with `pip install .` and a C compiler)", file=sys.stderr)
        return "py"
    return "c"


def add_engine_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", choices=("c", "py"), default="c",
                        help="c: the compiled engine (default); py: the Python reference (identical results)")


def add_isa_option(parser: argparse.ArgumentParser) -> None:
    from mcusim.isa.spec import CUSTOM_ISAS
    parser.add_argument("--isa", choices=tuple(CUSTOM_ISAS), default=None,
                        help="encodings of the custom extensions: xpulpv2 (p.*, pv.*, lp.*) or corev (cv.*); "
                             "default: from the ELF's .riscv.attributes (an xcv extension means corev), "
                             "else core.custom_isa (xpulpv2)")


def _core_set(text: str) -> set[int]:
    try:
        cores = {int(x) for x in text.split(",") if x.strip()}
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of core ids: {text!r}") from None
    if not cores or any(not 0 <= c <= 8 for c in cores):
        raise argparse.ArgumentTypeError(f"core ids are 0..8: {text!r}")
    return cores


def _window(text: str) -> tuple[int, int]:
    lo, sep, hi = text.partition(":")
    try:
        window = (int(lo or 0, 0) if lo else 0, int(hi, 0) if hi else 1 << 62)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected A:B cycles, got {text!r}") from None
    if not sep or window[0] >= window[1]:
        raise argparse.ArgumentTypeError(f"expected A:B with A < B, got {text!r}")
    return window


def cmd_asm(args: argparse.Namespace) -> int:
    from mcusim.kernels_asm import assemble, to_elf, to_raw
    source = _read_text(args.source)
    program = assemble(source, str(args.source))
    out = Path(args.output)
    suffix = out.suffix.lower()
    if suffix == ".bin":
        data = to_raw(program)
    elif suffix in (".elf", ".o", ""):
        data = to_elf(program)
    else:
        raise UserError(f"{out}: unknown output kind {suffix!r} (use .elf for ELF, .bin for raw .text bytes)")
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise UserError(f"{out}: cannot write ({exc.strerror})") from None
    return 0


def cmd_disasm(args: argparse.Namespace) -> int:
    from mcusim.isa.disasm import listing
    from mcusim.isa.spec import DEFAULT_ISA
    from mcusim.simulator.loader import read_elf
    path = Path(args.program)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    if raw[:4] == b"\x7fELF":
        image = read_elf(raw, str(path))
        isa = args.isa or image.custom_isa or DEFAULT_ISA
        labels = image.symbol_at()
        print(f"\n{path}:     file format elf32-littleriscv, custom extensions {isa}\n")
        for name, addr, code in image.exec_sections:
            print(f"\nDisassembly of section {name}:")
            for line in listing(code, addr, labels, isa):
                print(line)
    else:
        isa = args.isa or DEFAULT_ISA
        print(f"\n{path}:     raw binary, base {args.base:#x}, custom extensions {isa}\n")
        for line in listing(raw, args.base, isa=isa):
            print(line)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from mcusim.simulator.cluster import Cluster
    from mcusim.simulator.config import ConfigError, load_config
    from mcusim.simulator.loader import load_program
    from mcusim.simulator.report import dumps, print_table, to_json
    overrides: dict = {}
    if args.max_cycles is not None:
        overrides["max_cycles"] = args.max_cycles
    if args.misaligned is not None:
        overrides["core"] = {"misaligned": args.misaligned}
    image = load_program(args.program)
    isa = args.isa or image.custom_isa     # explicit --isa wins over the ELF's arch string
    if isa is not None:
        overrides.setdefault("core", {})["custom_isa"] = isa
    try:
        config = load_config(args.preset, args.config, overrides)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    trace = None
    if args.trace:
        try:
            trace = sys.stdout if args.trace == "-" else open(args.trace, "w")
        except OSError as exc:
            raise UserError(f"{args.trace}: cannot write ({exc.strerror})") from None
    engine = resolve_engine(args.engine)
    if args.controller and args.cores is not None:
        raise UserError("--cores and --controller exclude each other (controller mode starts core 8 only)")
    # The SDK's offload object (PMSIS pi_cluster_*) marks programs whose main belongs on the controller.
    controller = args.controller or (args.cores is None and CONTROLLER_MODE_SYMBOL in image.symbols)
    try:
        cluster = Cluster(image, config, cores=args.cores or 1, controller=controller, trace=trace,
                          trace_cores=args.trace_cores, trace_window=args.trace_cycles, engine=engine,
                          profile=args.profile)
        result = cluster.run()
    finally:
        if trace is not None and trace is not sys.stdout:
            trace.close()
    if args.signature:
        _write_signature(args.signature, image, cluster.memory)
    doc = to_json(result, str(args.program))
    if args.json:
        if args.json == "-":
            print(dumps(doc))
        else:
            Path(args.json).write_text(dumps(doc) + "\n")
    if not args.quiet:
        print_table(doc)
    if args.profile:
        from mcusim.simulator.profile import print_profile
        print_profile(result, top=args.top)
    return result.exit_code & 0xFF


def _write_signature(path: str, image, memory) -> None:
    try:
        begin, end = image.symbols["begin_signature"], image.symbols["end_signature"]
    except KeyError as exc:
        raise UserError(f"--signature: the program has no symbol {exc.args[0]}") from None
    words = [memory.read(a, 4) for a in range(begin, end, 4)]
    Path(path).write_text("".join(f"{w:08x}\n" for w in words))


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None


def add_program_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `mcusim asm`, `mcusim disasm` and `mcusim run` on the top-level sub-parsers."""

    p = sub.add_parser("asm", help="assemble PROG.s into an ELF executable or raw .text bytes")
    p.add_argument("source", help="assembly source file")
    p.add_argument("-o", "--output", required=True, help="PROG.elf (ELF32) or PROG.bin (raw .text bytes)")
    p.set_defaults(func=cmd_asm)

    p = sub.add_parser("disasm", help="objdump-like listing of an ELF or raw binary")
    p.add_argument("program", help="PROG.elf or PROG.bin")
    p.add_argument("--base", type=integer, default=0, help="load address of a raw binary (default 0)")
    add_isa_option(p)
    p.set_defaults(func=cmd_disasm)

    from mcusim.simulator.config import PRESETS, ClusterConfig
    p = sub.add_parser("run", help="run a program (assembly or ELF) on the cluster until it exits")
    p.add_argument("program", help="PROG.s or PROG.elf")
    p.add_argument("--cores", type=positive, default=None,
                   help="SPMD: start workers 0..N-1 at _start (default 1)")
    p.add_argument("--controller", action="store_true",
                   help="controller mode: core 8 boots at _start, workers sleep until dispatched (the "
                        "default for a C program that uses the PMSIS offload API, see docs/C_SDK.md)")
    p.add_argument("--preset", default="default", choices=sorted(PRESETS),
                   help="named cluster configuration (default: the study's cluster)")
    p.add_argument("--config", metavar="FILE", help="TOML file overriding cluster parameters (docs/CONFIG.md)")
    p.add_argument("--signature", metavar="FILE",
                   help="write memory between begin_signature and end_signature as hex words")
    p.add_argument("--max-cycles", type=positive, default=None,
                   help=f"stop with an error after this many cycles (default {ClusterConfig().max_cycles:,})")
    p.add_argument("--misaligned", choices=("trap", "split"), default=None,
                   help="misaligned loads/stores: trap (default) or split into two accesses as RI5CY does")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON ('-' for stdout)")
    p.add_argument("--trace", metavar="FILE", help="one line per executed instruction ('-' for stdout)")
    p.add_argument("--trace-cores", type=_core_set, default=None, metavar="LIST",
                   help="trace only these cores, e.g. 0,1,8")
    p.add_argument("--trace-cycles", type=_window, default=None, metavar="A:B",
                   help="trace only cycles A (inclusive) to B (exclusive)")
    p.add_argument("-q", "--quiet", action="store_true", help="no table on stderr")
    p.add_argument("--profile", action="store_true",
                   help="cycles and stall causes per region, label and instruction (hottest first)")
    p.add_argument("--top", type=positive, default=20, help="rows of the --profile tables (default 20)")
    add_isa_option(p)
    add_engine_option(p)
    p.set_defaults(func=cmd_run)
