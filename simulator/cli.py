"""The program commands of `mcusim` (asm, disasm, run) and what every subcommand shares: UserError,
the exit codes and the error handling (run_guarded), the engine option. `mcusim.cli` builds the
command line from these and the other packages' subcommands; this module imports nothing above the
simulator.

Exit status of every command (EXIT_STATUS below; README "Exit status"):
  0    success (the program exited with 0; the kernel/training step was correct)
  1    the simulated program exited with a non-zero code (its code is in the message and the JSON;
       `run --exit-code program` passes the program's own code through instead), or a kernel/step
       gave wrong numbers
  2    bad input: options, files, assembly, ELF, configuration (also argparse's usage errors)
  3    the simulated program failed: unhandled trap, jump-to-self hang, deadlock, misuse of the
       event unit or DMA (fork without join, ...)
  4    the run exceeded --max-cycles
  5    internal error: a bug in mcusim; the full report is written to a file named in the message
  130  interrupted (Ctrl-C);  141  stdout was closed early (e.g. `| head`)
Errors are one line on stderr (also with -q), never a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from mcusim.simulator.argtypes import address, cycles, positive
from mcusim.simulator.errors import UserError

EXIT_OK = 0
EXIT_PROGRAM_NONZERO = 1
EXIT_BAD_INPUT = 2
EXIT_PROGRAM_ERROR = 3
EXIT_MAX_CYCLES = 4
EXIT_INTERNAL = 5
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
# SimulationError.kind -> exit status
EXIT_BY_KIND = {"config": EXIT_BAD_INPUT, "max-cycles": EXIT_MAX_CYCLES}
CONTROLLER_MODE_SYMBOL = "__mcusim_controller_mode"


__all__ = ["EXIT_BAD_INPUT", "EXIT_INTERNAL", "EXIT_MAX_CYCLES", "EXIT_PROGRAM_ERROR", "EXIT_PROGRAM_NONZERO",
           "UserError", "add_engine_option", "add_program_parsers", "resolve_engine", "run_guarded", "version"]


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
    from mcusim.simulator.outputs import check_outputs, write_atomic
    out = Path(args.output)
    suffix = out.suffix.lower()
    if suffix not in (".bin", ".elf", ".o", ""):
        raise UserError(f"-o {out}: unknown output kind {suffix!r} (use .elf for ELF, .bin for raw .text bytes)")
    check_outputs([("-o", args.output)])
    source = _read_text(args.source)
    program = assemble(source, str(args.source), include_dirs=args.include)
    if not any("x" in sec.flags and sec.size for sec in program.sections):
        _warn(f"{args.source}: no instructions (an empty program: `run` would refuse it)")
    elif "_start" not in program.symbols:
        _warn(f"{args.source}: no _start label; the entry point is the start of .text ({program.entry:#x})")
    data = to_raw(program) if suffix == ".bin" else to_elf(program)
    write_atomic(args.output, data, "-o")
    return 0


def cmd_disasm(args: argparse.Namespace) -> int:
    from mcusim.isa.disasm import listing
    from mcusim.isa.spec import DEFAULT_ISA
    from mcusim.simulator.loader import load_program, read_elf
    path = Path(args.program)
    raw = _read_bytes(args.program)
    is_source = path.suffix.lower() in (".s", ".asm")
    if raw[:4] == b"\x7fELF" or is_source:
        # an assembly source is assembled first (as `objdump -d` after `as`): the listing shows what
        # the assembler made of it, with its labels
        image = read_elf(raw, str(path)) if not is_source else load_program(path, include_dirs=args.include)
        isa = args.isa or image.custom_isa or DEFAULT_ISA
        labels = image.symbol_at()
        kind = "assembled from source" if is_source else "file format elf32-littleriscv"
        print(f"\n{path}:     {kind}, custom extensions {isa}\n")
        for name, addr, code in image.exec_sections:
            print(f"\nDisassembly of section {name}:")
            for line in listing(code, addr, labels, isa):
                print(line)
    else:
        if not raw:
            raise UserError(f"{path}: empty file (nothing to disassemble)")
        if not args.raw and _looks_like_text(raw):
            raise UserError(f"{path}: a text file, not an ELF or a raw binary (an assembly source needs the "
                            f".s suffix to be assembled and listed; --raw lists its bytes anyway)")
        isa = args.isa or DEFAULT_ISA
        print(f"\n{path}:     raw binary, base {args.base:#x}, custom extensions {isa}\n")
        for line in listing(raw, args.base, isa=isa):
            print(line)
    return 0


def _looks_like_text(raw: bytes) -> bool:
    """Printable ASCII/UTF-8 with line breaks: what no RISC-V code of any length looks like (its
    opcodes put control bytes and high bytes in almost every word)."""
    if b"\n" not in raw[:4096]:
        return False
    try:
        text = raw[:4096].decode()
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\t\r\n\f" for c in text)


def _console_writer(args: argparse.Namespace):
    """Where the simulated program's console (ecall write) goes: --console FILE, else stderr when a
    report goes to stdout (stdout stays one clean document), else stdout/stderr by fd. Returns
    (writer, file to close or None)."""
    if args.console:
        try:
            f = open(args.console, "wb")
        except OSError as exc:
            raise UserError(f"--console {args.console}: cannot write ({exc.strerror})") from None

        def to_file(fd: int, data: bytes) -> None:
            f.write(data)
            f.flush()
        return to_file, f
    if "-" in (args.json, args.trace, args.signature):
        def to_stderr(fd: int, data: bytes) -> None:
            sys.stderr.flush()
            sys.stderr.buffer.write(data)
            sys.stderr.buffer.flush()
        return to_stderr, None
    return None, None


def cmd_run(args: argparse.Namespace) -> int:
    from mcusim.simulator.cluster import Cluster
    from mcusim.simulator.config import ConfigError, load_config
    from mcusim.simulator.functional import SimulationError
    from mcusim.simulator.loader import load_program
    from mcusim.simulator.outputs import check_outputs, write_atomic
    from mcusim.simulator.report import dumps, print_table, to_json
    check_outputs([("--json", args.json), ("--trace", args.trace), ("--signature", args.signature),
                   ("--console", args.console)])
    if args.console and args.console == "-":
        raise UserError("--console -: the console goes to stdout by default; give a file name")
    overrides: dict = {}
    if args.max_cycles is not None:
        overrides["max_cycles"] = args.max_cycles
    if args.misaligned is not None:
        overrides["core"] = {"misaligned": args.misaligned}
    image = load_program(args.program, include_dirs=args.include)
    isa = args.isa or image.custom_isa     # explicit --isa wins over the ELF's arch string
    if isa is not None:
        overrides.setdefault("core", {})["custom_isa"] = isa
    try:
        config = load_config(args.preset, args.config, overrides)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    from mcusim.simulator.loader import has_code
    if not has_code(image):
        raise UserError(f"{args.program}: no instructions (an empty program)")
    if str(args.program).lower().endswith((".s", ".asm")) and "_start" not in image.symbols:
        _warn(f"{args.program}: no _start label; starting at the beginning of .text ({image.entry:#x})")
    if args.signature:
        missing = [s for s in ("begin_signature", "end_signature") if s not in image.symbols]
        if missing:
            raise UserError(f"--signature: the program has no symbol {missing[0]}")
    if args.controller and args.cores is not None:
        raise UserError("--cores and --controller exclude each other (controller mode starts core 8 only)")
    if args.cores is not None and args.cores > config.workers:
        raise UserError(f"--cores {args.cores}: the cluster has {config.workers} workers (1..{config.workers})")
    trace = None
    if args.trace:
        try:
            trace = sys.stdout if args.trace == "-" else open(args.trace, "w")
        except OSError as exc:
            raise UserError(f"--trace {args.trace}: cannot write ({exc.strerror})") from None
    engine = resolve_engine(args.engine)
    # The SDK's offload object (PMSIS pi_cluster_*) marks programs whose main belongs on the controller.
    controller = args.controller or (args.cores is None and CONTROLLER_MODE_SYMBOL in image.symbols)
    writer, console_file = _console_writer(args)
    error: SimulationError | None = None
    try:
        cluster = Cluster(image, config, cores=args.cores or 1, controller=controller, trace=trace,
                          trace_cores=args.trace_cores, trace_window=args.trace_cycles, engine=engine,
                          profile=args.profile)
        if writer is not None:
            for c in cluster.cores:
                c.hart.console = writer
        from mcusim.simulator import gcpause
        from mcusim.simulator.progress import cycle_progress
        gcpause.resume()
        with cycle_progress(cluster, args.progress, args.quiet):
            try:
                result = cluster.run()
            except SimulationError as exc:
                if exc.kind == "config":
                    raise
                error = exc
                result = cluster.result_after_error(exc)
    finally:
        if trace is not None and trace is not sys.stdout:
            trace.close()
        if console_file is not None:
            console_file.close()
    if args.signature:
        _write_signature(args.signature, image, cluster.memory)
    doc = to_json(result, str(args.program), error)
    if args.json:
        write_atomic(args.json, dumps(doc) + "\n", "--json")
        args.report_written = True
    if not args.quiet and error is None:     # an error is one line (its counters are in --json)
        print_table(doc)
    if args.profile and error is None:
        from mcusim.simulator.profile import print_profile
        print_profile(result, top=args.top)
    if error is not None:
        raise error
    if args.exit_code == "program":
        return result.exit_code & 0xFF
    if result.exit_code:
        print(f"mcusim: the program exited with code {result.exit_code} ({result.reason})", file=sys.stderr)
        return EXIT_PROGRAM_NONZERO
    return EXIT_OK


def _write_signature(path: str, image, memory) -> None:
    from mcusim.simulator.outputs import write_atomic
    begin, end = image.symbols["begin_signature"], image.symbols["end_signature"]
    try:
        words = [memory.read(a, 4) for a in range(begin, end, 4)]
    except Exception:  # noqa: BLE001 - the memory model's access fault
        raise UserError(f"--signature: begin_signature..end_signature ({begin:#x}..{end:#x}) is not in "
                        "memory") from None
    write_atomic(path, "".join(f"{w:08x}\n" for w in words), "--signature")


def _read_bytes(path: str) -> bytes:
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{path}: is a directory")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None


def _read_text(path: str) -> str:
    if Path(path).is_dir():
        raise UserError(f"{path}: is a directory")
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None


def version() -> str:
    """mcusim's version (mcusim.__version__)."""
    from mcusim import __version__
    return __version__


def add_program_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `mcusim asm`, `mcusim disasm` and `mcusim run` on the top-level sub-parsers."""

    p = sub.add_parser("asm", help="assemble PROG.s into an ELF executable or raw .text bytes",
                       description="Assemble GNU-syntax RV32IMFC + Xpulpv2 + Xfvec source into an ELF32 "
                                   "executable (.elf) or raw little-endian .text bytes (.bin).")
    p.add_argument("source", help="assembly source file")
    p.add_argument("-o", "--output", required=True, help="PROG.elf (ELF32) or PROG.bin (raw .text bytes)")
    p.add_argument("-I", "--include", action="append", default=[], metavar="DIR",
                   help="search DIR for .include and .incbin files (after the including file's folder)")
    p.set_defaults(func=cmd_asm)

    p = sub.add_parser("disasm", help="objdump-like listing of an ELF, an assembly source or a raw binary",
                       description="Disassemble the executable sections of an ELF, of an assembly source "
                                   "(.s/.asm: assembled first, like objdump -d after as), or of a raw "
                                   "binary, in objdump's layout. A text file without the .s suffix is "
                                   "refused unless --raw is given.")
    p.add_argument("program", help="PROG.elf, PROG.s or PROG.bin")
    p.add_argument("--base", type=address, default=0, help="load address of a raw binary (default 0)")
    p.add_argument("--raw", action="store_true",
                   help="list the file's bytes as a raw binary even when they look like text")
    p.add_argument("-I", "--include", action="append", default=[], metavar="DIR",
                   help="directory searched by .include/.incbin of an assembly source (repeatable)")
    add_isa_option(p)
    p.set_defaults(func=cmd_disasm)

    from mcusim.simulator.config import PRESETS, ClusterConfig
    p = sub.add_parser("run", help="run a program (assembly or ELF) on the cluster until it exits",
                       description="Simulate a program cycle by cycle on the cluster and report cycles, "
                                   "instructions and stall causes per core and region.")
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
    p.add_argument("--max-cycles", type=cycles, default=None,
                   help=f"stop with an error after this many cycles (default {ClusterConfig().max_cycles:,})")
    p.add_argument("--misaligned", choices=("trap", "split"), default=None,
                   help="misaligned loads/stores: split into two accesses as RI5CY does (default), or trap "
                        "(a check that a program never accesses memory misaligned)")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON ('-' for stdout)")
    p.add_argument("--trace", metavar="FILE", help="one line per executed instruction ('-' for stdout)")
    p.add_argument("--trace-cores", type=_core_set, default=None, metavar="LIST",
                   help="trace only these cores, e.g. 0,1,8")
    p.add_argument("--trace-cycles", type=_window, default=None, metavar="A:B",
                   help="trace only cycles A (inclusive) to B (exclusive)")
    p.add_argument("--console", metavar="FILE",
                   help="write the program's console output (ecall write) to FILE (default: stdout, or stderr "
                        "when a report goes to stdout)")
    p.add_argument("--exit-code", choices=("status", "program"), default="status",
                   help="status (default): 0 when the program exits with 0, 1 when with another code, 2-5 for "
                        "mcusim's own failures; program: the program's own exit code (0-255)")
    p.add_argument("-I", "--include", action="append", default=[], metavar="DIR",
                   help="search DIR for .include and .incbin files of an assembly source")
    p.add_argument("--progress", action="store_true",
                   help="report cycles simulated on stderr also when it is not a terminal")
    p.add_argument("-q", "--quiet", action="store_true", help="no table on stderr (errors are still printed)")
    p.add_argument("--profile", action="store_true",
                   help="cycles and stall causes per region, label and instruction (hottest first)")
    p.add_argument("--top", type=positive, default=20, help="rows of the --profile tables (default 20)")
    add_isa_option(p)
    add_engine_option(p)
    p.set_defaults(func=cmd_run)


def run_guarded(func, args: argparse.Namespace) -> int:
    """Run a command; turn every failure into one line on stderr and its exit status (module doc).
    A bug (any other exception) is reported in one line naming the file with its traceback."""
    from mcusim.kernels_asm import AsmError
    from mcusim.simulator.config import ConfigError
    from mcusim.simulator.functional import SimulationError
    from mcusim.simulator.loader import LoadError
    from mcusim.simulator.outputs import OutputError
    try:
        return func(args)
    except (UserError, AsmError, LoadError, OutputError, ConfigError) as exc:
        _error(str(exc))
        _error_report(args, "bad-input", exc, EXIT_BAD_INPUT)
        return EXIT_BAD_INPUT
    except SimulationError as exc:
        _error(str(exc))
        status = EXIT_BY_KIND.get(exc.kind, EXIT_PROGRAM_ERROR)
        _error_report(args, exc.kind, exc, status)
        return status
    except KeyboardInterrupt:
        _error("interrupted")
        _error_report(args, "interrupted", "interrupted (Ctrl-C)", EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout's reader went away (`| head`): nothing more to say, and nothing left to flush.
        try:
            import os
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return EXIT_BROKEN_PIPE
    except MemoryError:
        _error("out of memory (the input asks for more than this machine has)")
        return EXIT_BAD_INPUT
    except Exception as exc:  # noqa: BLE001 - a bug: one line here, the traceback in a file
        report = _crash_report(exc)
        message = (f"internal error (a bug in mcusim, please report it): {type(exc).__name__}: {exc}; "
                   f"full report in {report}")
        _error(message)
        _error_report(args, "internal-error", message, EXIT_INTERNAL)
        return EXIT_INTERNAL


ERROR_SCHEMA = "mcusim-error/1"


def _error_report(args: argparse.Namespace, reason: str, error: object, status: int) -> None:
    """A command that fails before writing its --json report writes this one instead, so a script
    gets a report for every outcome: {schema, command, exit_status, exit_code: null, exit_reason, error}."""
    path = getattr(args, "json", None)
    if not path or getattr(args, "report_written", False):
        return
    from mcusim.simulator.outputs import write_atomic
    doc = {"schema": ERROR_SCHEMA, "command": getattr(args, "command", None), "exit_status": status,
           "exit_code": None, "exit_reason": reason, "error": " ".join(str(error).split("\n"))}
    try:
        write_atomic(path, json.dumps(doc, indent=2) + "\n")
    except Exception:  # noqa: BLE001 - the path itself may be what was wrong
        pass


def _warn(message: str) -> None:
    print(f"mcusim: warning: {message}", file=sys.stderr, flush=True)


def _error(message: str) -> None:
    line = " ".join(str(message).split("\n"))
    try:
        print(f"mcusim: error: {line}", file=sys.stderr, flush=True)
    except (BrokenPipeError, ValueError):
        pass


def _crash_report(exc: BaseException) -> str:
    import platform
    import tempfile
    import time
    import traceback
    text = (f"mcusim {version()} internal error\ncommand: {' '.join(sys.argv)}\n"
            f"python {platform.python_version()} on {platform.platform()}\n"
            f"time: {time.strftime('%Y-%m-%d %H:%M:%S')}\n\n"
            + "".join(traceback.format_exception(exc)))
    try:
        fd, path = tempfile.mkstemp(prefix="mcusim-crash-", suffix=".txt")
        with open(fd, "w") as f:
            f.write(text)
        return path
    except OSError:
        return "(could not be written: " + "".join(traceback.format_exception_only(exc)).strip() + ")"
