"""The `mcusim` command line.

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

EXIT_BAD_INPUT = 2
EXIT_PROGRAM_ERROR = 3
EXIT_MAX_CYCLES = 4


class UserError(Exception):
    """A mistake of the user's (bad file, option, program): reported in one line."""


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _positive(text: str) -> int:
    value = _int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def cmd_asm(args: argparse.Namespace) -> int:
    from kernels_asm import assemble, to_elf, to_raw
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
    from isa.disasm import listing
    from simulator.loader import read_elf
    path = Path(args.program)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    if raw[:4] == b"\x7fELF":
        image = read_elf(raw, str(path))
        labels = image.symbol_at()
        print(f"\n{path}:     file format elf32-littleriscv\n")
        for name, addr, code in image.exec_sections:
            print(f"\nDisassembly of section {name}:")
            for line in listing(code, addr, labels):
                print(line)
    else:
        print(f"\n{path}:     raw binary, base {args.base:#x}\n")
        for line in listing(raw, args.base):
            print(line)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from simulator.functional import run_functional
    from simulator.loader import load_program
    image = load_program(args.program)
    if "_start" not in image.symbols and not image.entry:
        raise UserError(f"{args.program}: no _start symbol and no entry point")
    result = run_functional(image, max_cycles=args.max_cycles,
                            misaligned_traps=args.misaligned == "trap")
    if args.signature:
        _write_signature(args.signature, image, result.hart)
    report = {
        "program": str(args.program),
        "exit_code": result.exit_code,
        "exit_reason": result.reason,
        "cycles": result.cycles,
        "instret": result.instret,
        "engine": "py-functional",
        "cores": [{"id": result.hart.hart_id, "cycles": result.cycles, "instret": result.instret,
                   "stalls": {}}],
    }
    if args.json:
        text = json.dumps(report, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    if not args.quiet and args.json != "-":
        print(f"{args.program}: {result.reason}; exit code {result.exit_code}; "
              f"{result.instret} instructions", file=sys.stderr)
    return result.exit_code & 0xFF


def _write_signature(path: str, image, hart) -> None:
    try:
        begin, end = image.symbols["begin_signature"], image.symbols["end_signature"]
    except KeyError as exc:
        raise UserError(f"--signature: the program has no symbol {exc.args[0]}") from None
    words = [hart.mem.read(a, 4) for a in range(begin, end, 4)]
    Path(path).write_text("".join(f"{w:08x}\n" for w in words))


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mcusim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("asm", help="assemble PROG.s into an ELF executable or raw .text bytes")
    p.add_argument("source", help="assembly source file")
    p.add_argument("-o", "--output", required=True, help="PROG.elf (ELF32) or PROG.bin (raw .text bytes)")
    p.set_defaults(func=cmd_asm)

    p = sub.add_parser("disasm", help="objdump-like listing of an ELF or raw binary")
    p.add_argument("program", help="PROG.elf or PROG.bin")
    p.add_argument("--base", type=_int, default=0, help="load address of a raw binary (default 0)")
    p.set_defaults(func=cmd_disasm)

    from simulator.functional import DEFAULT_MAX_CYCLES
    p = sub.add_parser("run", help="run a program (assembly or ELF) from _start until it exits")
    p.add_argument("program", help="PROG.s or PROG.elf")
    p.add_argument("--signature", metavar="FILE",
                   help="write memory between begin_signature and end_signature as hex words")
    p.add_argument("--max-cycles", type=_positive, default=DEFAULT_MAX_CYCLES,
                   help=f"stop with an error after this many cycles (default {DEFAULT_MAX_CYCLES})")
    p.add_argument("--misaligned", choices=("trap", "split"), default="trap",
                   help="misaligned loads/stores: trap through mtvec (default), or perform them as "
                        "RI5CY's load-store unit does (two aligned accesses)")
    p.add_argument("--json", metavar="FILE", help="write a machine-readable report ('-' for stdout)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line on stderr")
    p.set_defaults(func=cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from kernels_asm import AsmError
    from simulator.functional import SimulationError
    from simulator.loader import LoadError
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UserError, AsmError, LoadError) as exc:
        print(f"mcusim: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SimulationError as exc:
        print(f"mcusim: error: {exc}", file=sys.stderr)
        return EXIT_MAX_CYCLES if exc.kind == "max-cycles" else EXIT_PROGRAM_ERROR
    except KeyboardInterrupt:
        print("mcusim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
