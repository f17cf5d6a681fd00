"""Writing programs from Python: each Builder call adds one line of assembly source, and `assemble`
feeds that source to the same assembler as text. Errors point at the Python line that made the
offending statement (file:line:col of the call), with the generated statement quoted.

    b = Builder()
    b.text(); b.globl("_start"); b.label("_start")
    b.li("a0", 10); b.label("loop"); b.addi("a0", "a0", -1); b.bnez("a0", "loop")
    b.emit("p.lw", "a1", "4(a2!)")        # any mnemonic; or b.p_lw(...): '_' stands for '.'
    b.and_("a0", "a1", "a2")               # a trailing '_' for Python keywords
    b.data(); b.label("buf"); b.word(1, 2, 3); b.float32(1.5)
    program = b.assemble()

Operands are strings (registers, `4(a2!)`, labels, expressions) or ints (immediates).
"""
from __future__ import annotations

import sys
from decimal import Decimal
from typing import Callable

from mcusim.isa import ieee754
from mcusim.kernels_asm.assembler import Location, assemble_source
from mcusim.kernels_asm.expr import float_bits
from mcusim.kernels_asm.program import Program

_POSITIONS: dict[object, list] = {}   # code object -> co_positions(), cached (callers are few)


def _caller() -> Location:
    """file, line, column of the nearest frame outside this module."""
    frame = sys._getframe(1)
    while frame.f_code.co_filename == __file__:
        frame = frame.f_back
    code = frame.f_code
    positions = _POSITIONS.get(code)
    if positions is None:
        positions = _POSITIONS[code] = list(code.co_positions())
    index = frame.f_lasti // 2
    col = positions[index][2] if index < len(positions) and positions[index][2] is not None else None
    return code.co_filename, frame.f_lineno, (col + 1) if col is not None else 1


def _operand(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"operands are str or int, not {type(value).__name__}: {value!r}")
    return str(value)


def _float_text(value: float | str, fmt: ieee754.Format) -> str:
    """A decimal literal that rounds to the same bits as `value` itself: the short repr when it does,
    else the exact decimal expansion of the binary64 value."""
    if isinstance(value, str):
        return value
    short = repr(float(value))
    if short in ("inf", "-inf", "nan"):
        return short
    exact = format(Decimal(float(value)), "f")
    return short if float_bits(short, fmt) == float_bits(exact, fmt) else exact


class Builder:
    """Accumulates assembly source; see the module docstring."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._locations: list[Location] = []

    def _add(self, text: str) -> Builder:
        where = _caller()
        if "\n" in text:
            lines = text.split("\n")
            self._lines += lines
            self._locations += [where] * len(lines)
        else:
            self._lines.append(text)
            self._locations.append(where)
        return self

    # Instructions and raw lines
    def emit(self, mnemonic: str, *operands: int | str) -> Builder:
        """One instruction (or pseudo-instruction, or macro invocation)."""
        ops = ", ".join([o if type(o) is str else _operand(o) for o in operands])
        return self._add(f"\t{mnemonic} {ops}" if ops else f"\t{mnemonic}")

    def line(self, text: str) -> Builder:
        """A line of assembly as is."""
        return self._add(text)

    def __getattr__(self, name: str) -> Callable[..., Builder]:
        if name.startswith("_"):
            raise AttributeError(name)
        mnemonic = name.rstrip("_").replace("_", ".")
        return lambda *operands: self.emit(mnemonic, *operands)

    # Labels, sections, symbols
    def label(self, name: str) -> Builder:
        return self._add(f"{name}:")

    def directive(self, name: str, *args: int | str) -> Builder:
        ops = ", ".join(_operand(a) for a in args)
        return self._add(f"\t{name} {ops}" if ops else f"\t{name}")

    def text(self) -> Builder:
        return self._add("\t.text")

    def data(self) -> Builder:
        return self._add("\t.data")

    def rodata(self) -> Builder:
        return self._add("\t.rodata")

    def bss(self) -> Builder:
        return self._add("\t.bss")

    def section(self, name: str, flags: str | None = None, nobits: bool = False) -> Builder:
        extra = f', "{flags}"' + (", @nobits" if nobits else ", @progbits") if flags is not None else ""
        return self._add(f"\t.section {name}{extra}")

    def globl(self, *names: str) -> Builder:
        return self._add(f"\t.globl {', '.join(names)}")

    def equ(self, name: str, value: int | str) -> Builder:
        return self._add(f"\t.equ {name}, {_operand(value)}")

    # Data
    def align(self, power: int) -> Builder:
        """Align to 2**power bytes (.p2align)."""
        return self._add(f"\t.p2align {power}")

    def balign(self, boundary: int) -> Builder:
        return self._add(f"\t.balign {boundary}")

    def word(self, *values: int | str) -> Builder:
        return self.directive(".word", *values)

    def half(self, *values: int | str) -> Builder:
        return self.directive(".half", *values)

    def byte(self, *values: int | str) -> Builder:
        return self.directive(".byte", *values)

    def float32(self, *values: float | str) -> Builder:
        return self._add("\t.float " + ", ".join(_float_text(v, ieee754.F32) for v in values))

    def float16(self, *values: float | str) -> Builder:
        return self._add("\t.float16 " + ", ".join(_float_text(v, ieee754.F16) for v in values))

    def space(self, size: int, fill: int | None = None) -> Builder:
        return self.directive(".space", size, *(() if fill is None else (fill,)))

    def string(self, text: str) -> Builder:
        escaped = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else
                          "".join(f"\\{b:03o}" for b in c.encode()) for c in text)
        return self._add(f'\t.string "{escaped}"')

    # Results
    def source(self) -> str:
        """The generated assembly text."""
        return "\n".join(self._lines) + "\n"

    def assemble(self, section_addresses: dict[str, int] | None = None) -> Program:
        return assemble_source(self.source(), "<builder>", section_addresses, self._locations)
