"""mcusim's assembler: GNU `as` syntax for RV32IMF + Zfh + Xpulpv2 + Xfvec, driven by the ISA table.

    program = assemble(source, "kernel.s")           # -> Program (sections, symbols, entry)
    elf_bytes = to_elf(program); text_bytes = to_raw(program)

`Builder` writes the same programs from Python code. Bad input raises `AsmError`
(`file:line:col: error: message`). See kernels_asm.assembler for the design and GNU deviations.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcusim.kernels_asm.builder import Builder
    from mcusim.kernels_asm.elf import to_elf, to_raw
    from mcusim.kernels_asm.errors import AsmError
    from mcusim.kernels_asm.program import Program, Section, Symbol

__all__ = ["AsmError", "Builder", "Program", "Section", "Symbol", "assemble", "assemble_file", "to_elf",
           "to_raw"]

# The public names and the module of each, imported on first use (PEP 562): loading a cached step
# program needs `program` alone, and the assembler with the ISA table's parsing tables is the
# larger part of this package's import time.
_LAZY = {"AsmError": "errors", "Builder": "builder", "Program": "program", "Section": "program",
         "Symbol": "program", "to_elf": "elf", "to_raw": "elf"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def assemble(source: str, filename: str = "<input>", section_addresses: dict[str, int] | None = None,
             include_dirs: list[str] | tuple[str, ...] = ()) -> Program:
    """Assemble GNU-syntax source text. `section_addresses` overrides where sections go
    (see kernels_asm.program: e.g. {".text": 0x80000000}); `include_dirs` are searched by
    .include/.incbin after the including file's folder."""
    from mcusim.kernels_asm.assembler import assemble_source
    return assemble_source(source, filename, section_addresses, include_dirs=include_dirs)


def assemble_file(path: str | Path, section_addresses: dict[str, int] | None = None) -> Program:
    """Assemble a source file (UTF-8); unreadable files raise AsmError too."""
    from mcusim.kernels_asm.assembler import assemble_source
    from mcusim.kernels_asm.errors import AsmError
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise AsmError(f"cannot read source: {exc}", 1, str(path), 0) from None
    return assemble_source(text, str(path), section_addresses)
