"""`mcusim cc`: compile and link C / assembly for the cluster with clang 19 and ld.lld 19, using the
SDK shipped in `simulator/sdk/` (crt0, linker script, libc, mcusim.h, pmsis.h). `mcusim sdk-path`
prints where the SDK is.

    mcusim cc -O2 prog.c kernel.c -o prog.elf [--isa corev] [any clang option]

The SDK's defaults come first, so the user's options (-march, -O, -D, -I, -Wl,...) override them.
The runtime (crt0.S, lib/*.c) is compiled with the same target options and linked as a library
(lld's --start-lib), so a program only gets what it calls; its objects are cached per (clang
version, options, SDK sources) under $XDG_CACHE_HOME/mcusim (or ~/.cache/mcusim; a temporary
directory when that is not writable). libgcc of riscv64-unknown-elf-gcc is linked after it when
installed (64-bit division, double arithmetic).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

CLANG = "clang-19"
LLD = "ld.lld-19"
TARGET = "riscv32-unknown-elf"
# RI5CY: RV32IMF + Zfh (scalar FP16); the custom extensions are reached through .insn (mcusim_gen.h).
MARCH = "rv32imf_zfh"
MABI = "ilp32f"
# `--isa corev`: CORE-V (CV32E40P) extensions clang 19 knows (no hardware loops: LLVM has none)
COREV_EXTENSIONS = ("xcvalu", "xcvmac", "xcvmem", "xcvsimd", "xcvbi", "xcvbitmanip")
GCC = "riscv64-unknown-elf-gcc"
RUNTIME_SOURCES = ("crt0.S", "lib/libc.c", "lib/runtime.c", "lib/offload.c")
MISSING = ("mcusim cc: {tool} not found: install the Debian packages clang-19 and lld-19 "
           "(apt-get install clang-19 lld-19)")


class CcError(Exception):
    """A one-line error of the compiler driver."""


def sdk_path() -> Path:
    """The SDK folder shipped inside the package."""
    return Path(__file__).resolve().parent / "sdk"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise CcError(MISSING.format(tool=name))
    return path


def march_for(isa: str) -> str:
    if isa == "corev":
        return MARCH + "_" + "_".join(COREV_EXTENSIONS)
    return MARCH


def target_flags(isa: str = "xpulpv2") -> list[str]:
    sdk = sdk_path()
    return [f"--target={TARGET}", f"-march={march_for(isa)}", f"-mabi={MABI}", "-nostdinc",
            "-isystem", str(sdk / "include"), "-isystem", _clang_resource_include()]


def _clang_resource_include() -> str:
    """clang's own headers (stdint.h, stdarg.h, stddef.h...), kept while -nostdinc drops the rest."""
    out = subprocess.run([_tool(CLANG), "-print-resource-dir"], capture_output=True, text=True)
    return str(Path(out.stdout.strip()) / "include")


def libgcc() -> str | None:
    """libgcc.a of riscv64-unknown-elf-gcc for rv32imf/ilp32f (same ABI), or None."""
    gcc = shutil.which(GCC)
    if gcc is None:
        return None
    out = subprocess.run([gcc, "-march=rv32imf", "-mabi=ilp32f", "-print-libgcc-file-name"],
                         capture_output=True, text=True)
    path = out.stdout.strip()
    return path if out.returncode == 0 and os.path.isfile(path) else None


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        raise CcError(f"mcusim cc: {Path(cmd[0]).name} failed (exit {proc.returncode})")


def build_runtime(workdir: Path, flags: list[str]) -> list[str]:
    """Compile crt0 and the SDK library into workdir; [crt0.o, library objects...]."""
    sdk = sdk_path()
    objs = []
    for src in RUNTIME_SOURCES:
        obj = workdir / (Path(src).stem + ".o")
        _run([_tool(CLANG), *flags, "-O2", "-fno-builtin", "-ffreestanding", "-Wall", "-c",
              str(sdk / src), "-o", str(obj)])
        objs.append(str(obj))
    return objs


def _runtime_key(flags: list[str]) -> str:
    """What the runtime objects depend on: clang's version, the options, the SDK's sources."""
    h = hashlib.sha256()
    h.update(subprocess.run([_tool(CLANG), "--version"], capture_output=True, text=True).stdout.encode())
    h.update("\0".join(flags).encode())
    sdk = sdk_path()
    for path in sorted(p for p in sdk.rglob("*") if p.is_file() and p.parent.name != "examples"):
        h.update(str(path.relative_to(sdk)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:20]


def cached_runtime(flags: list[str], scratch: Path) -> list[str]:
    """The runtime objects for `flags`: from the cache, else built (into the cache when it is writable)."""
    names = [Path(src).stem + ".o" for src in RUNTIME_SOURCES]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mcusim"
    entry = base / f"sdk-runtime-{_runtime_key(flags)}"
    if all((entry / n).is_file() for n in names):
        return [str(entry / n) for n in names]
    build = scratch / "runtime"
    build.mkdir()
    objs = build_runtime(build, flags)
    tmp: Path | None = None
    try:                                   # publish atomically; a concurrent build may win the race
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=entry.name + ".", dir=base))
        for n in names:
            shutil.copyfile(build / n, tmp / n)
        os.replace(tmp, entry)
    except OSError:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        return objs
    return [str(entry / n) for n in names]


def _compile_only(args: Sequence[str]) -> bool:
    return any(a in ("-c", "-S", "-E", "-M", "-MM") for a in args)


def compile_and_link(user_args: Sequence[str], isa: str = "xpulpv2") -> None:
    clang = _tool(CLANG)
    flags = target_flags(isa)
    if _compile_only(user_args):
        _run([clang, *flags, *user_args])
        return
    lld = _tool(LLD)
    with tempfile.TemporaryDirectory(prefix="mcusim-cc-") as tmp:
        crt0, *lib = cached_runtime(flags, Path(tmp))
        link = [f"-fuse-ld=lld", f"--ld-path={lld}", "-nostdlib", "-static",
                "-T", str(sdk_path() / "link.ld"), crt0]
        tail = ["-Wl,--start-lib", *lib, "-Wl,--end-lib"]
        gcc_lib = libgcc()
        if gcc_lib:
            tail.append(gcc_lib)
        proc = subprocess.run([clang, *flags, *link, *user_args, *tail], capture_output=True, text=True)
        sys.stderr.write(proc.stderr)
        if proc.returncode != 0:
            hint = ""
            if re.search(r"undefined symbol: __(div|mod|udiv|umod)di3|__\w+df\d", proc.stderr) and not gcc_lib:
                hint = " (64-bit division and double arithmetic need libgcc: install gcc-riscv64-unknown-elf)"
            raise CcError(f"mcusim cc: compiling or linking failed (exit {proc.returncode}){hint}")


def add_cc_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cc", help="compile and link C/assembly for the cluster (clang-19 + the SDK)",
                       description="Compile and link with clang-19 / ld.lld-19 and the SDK (crt0, "
                                   "link.ld, libc, mcusim.h, pmsis.h). Options other than --isa go to clang.",
                       add_help=False)
    p.add_argument("cc_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_cc)
    p = sub.add_parser("sdk-path", help="print where the C SDK (headers, crt0, link.ld) is installed")
    p.set_defaults(func=cmd_sdk_path)


def _split_isa(args: list[str]) -> tuple[str, list[str]]:
    isa, rest = "xpulpv2", []
    it = iter(args)
    for a in it:
        if a == "--isa" or a.startswith("--isa="):
            value = a.partition("=")[2] if "=" in a else next(it, "")
            if value not in ("xpulpv2", "corev"):
                raise CcError(f"mcusim cc: --isa {value or '(missing)'}: expected xpulpv2 or corev")
            isa = value
        else:
            rest.append(a)
    return isa, rest


def cmd_cc(args: argparse.Namespace) -> int:
    cc_args = list(args.cc_args)
    if not cc_args or cc_args[0] in ("-h", "--help"):
        print("usage: mcusim cc [--isa xpulpv2|corev] [clang options] FILE.c|FILE.S... [-o PROG.elf]\n"
              f"defaults: --target={TARGET} -march={MARCH} -mabi={MABI}, the SDK at {sdk_path()}")
        return 0 if cc_args else 2
    try:
        isa, rest = _split_isa(cc_args)
        compile_and_link(rest, isa)
    except CcError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


def cmd_sdk_path(args: argparse.Namespace) -> int:
    print(sdk_path())
    return 0
