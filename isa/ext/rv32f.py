"""RV32F single-precision floating point (RISC-V unprivileged spec 20191213, chapter 11), FLEN = 32.

Arithmetic is `isa.ieee754` (bit-exact, canonical NaNs, RISC-V flag rules). An instruction with an rm
field first resolves it with `h.rounding` (dyn reads frm; a reserved mode is an illegal instruction,
raised before anything is written), computes, accrues the flags, then writes its result. Sign
injection, moves and fclass raise no flags.

The builders here are parameterised by a `Precision` so that Zfh (`isa.ext.zfh`) registers its .h
instructions with the same code: a precision says how a value of its format is read from and written
to the f registers (whole register for single, NaN-boxed low half for half).

Omitted rounding mode: dyn for every instruction, as GNU as 2.40 and LLVM 19 encode it (exact
widening conversions, which default to rne, live in zfh.py).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcusim.isa import ieee754 as fp
from mcusim.isa.bits import sext
from mcusim.isa.spec import instr

DYN = 7
OP_FP = "6..0=0x53"


@dataclass(frozen=True)
class Precision:
    """One FP format as the f registers hold it."""
    suffix: str                                 # mnemonic suffix: "s", "h"
    fmt: fp.Format
    fmt_bits: int                               # instruction bits 26..25
    ext: str
    read: Callable[[Any, int], int]             # operand of this format from f[r]
    write: Callable[[Any, int, int], None]      # result of this format to f[r]
    reg: str                                    # how the docstrings name such an operand: "f", "h"
    move_suffix: str                            # fmv.x.<w|h>
    div_timing: str
    sqrt_timing: str
    # smallFloat's alternative formats reuse another format's encodings: their rounding instructions
    # have the rm bits fixed to `rm_fixed` (and round with frm), the others have `funct3_alt` ORed
    # into funct3; loads, stores and moves are the other format's (`moves` False).
    rm_fixed: int | None = None
    funct3_alt: int = 0
    moves: bool = True

    def rm_syntax(self, syntax: str) -> str:
        """An instruction's operand syntax: without the rm operand when the rm bits are fixed."""
        return syntax if self.rm_fixed is None else syntax.replace(", rm", "")

    def rm_bits(self, encoding: str) -> str:
        return encoding if self.rm_fixed is None else f"14..12={self.rm_fixed} {encoding}"

    @property
    def rm_defaults(self) -> dict[str, int]:
        return {"rm": DYN} if self.rm_fixed is None else {}

    def rounding(self, h, d) -> int:
        """The rounding mode of instruction d: its rm field, or frm when the field is fixed."""
        return h.rounding(d.rm if self.rm_fixed is None else DYN)

    @property
    def bytes(self) -> int:
        return self.fmt.width // 8


SINGLE = Precision("s", fp.F32, 0, "RV32F", lambda h, r: h.f[r], lambda h, r, v: h.wf(r, v), "f", "w",
                   "fdiv32", "fsqrt32")


def define_precision(p: Precision) -> None:
    """Register the loads, stores, arithmetic, conversions, moves and compares of one format."""
    fmt, s, r, ext = p.fmt, p.suffix, p.reg, p.ext
    fmt_bits = f"26..25={p.fmt_bits}"

    if p.moves:
        _define_memory(p)

    # R4-type fused multiply-add family: (negate product, negate addend)
    for name, opcode, neg_p, neg_c, text in (
            ("fmadd", 0x43, False, False, "fs1 * fs2 + fs3"),
            ("fmsub", 0x47, False, True, "fs1 * fs2 - fs3"),
            ("fnmsub", 0x4B, True, False, "-(fs1 * fs2) + fs3"),
            ("fnmadd", 0x4F, True, True, "-(fs1 * fs2) - fs3")):
        def fused(h, d, neg_p=neg_p, neg_c=neg_c):
            rm = p.rounding(h, d)
            value, flags = fp.fma(fmt, p.read(h, d.fs1), p.read(h, d.fs2), p.read(h, d.fs3), rm, neg_p, neg_c)
            h.accrue(flags)
            p.write(h, d.fd, value)
        fused.__doc__ = f"{r}[fd] = round({_operands(text, r)}) (fused, one rounding)"
        instr(f"{name}.{s}", p.rm_syntax("fd, fs1, fs2, fs3, rm"), p.rm_bits(f"{fmt_bits} 6..0={opcode:#x}"), "fma",
              ext, defaults=p.rm_defaults)(fused)

    for name, funct5, fn, sym, timing in (("fadd", 0x00, fp.add, "+", "fadd"), ("fsub", 0x01, fp.sub, "-", "fadd"),
                                          ("fmul", 0x02, fp.mul, "*", "fmul"),
                                          ("fdiv", 0x03, fp.div, "/", p.div_timing)):
        def arith(h, d, fn=fn):
            rm = p.rounding(h, d)
            value, flags = fn(fmt, p.read(h, d.fs1), p.read(h, d.fs2), rm)
            h.accrue(flags)
            p.write(h, d.fd, value)
        arith.__doc__ = f"{r}[fd] = round({r}[fs1] {sym} {r}[fs2])"
        instr(f"{name}.{s}", p.rm_syntax("fd, fs1, fs2, rm"), p.rm_bits(f"31..27={funct5:#x} {fmt_bits} {OP_FP}"),
              timing, ext, defaults=p.rm_defaults)(arith)

    def fsqrt(h, d):
        rm = p.rounding(h, d)
        value, flags = fp.sqrt(fmt, p.read(h, d.fs1), rm)
        h.accrue(flags)
        p.write(h, d.fd, value)
    fsqrt.__doc__ = f"{r}[fd] = round(sqrt({r}[fs1]))"
    instr(f"fsqrt.{s}", p.rm_syntax("fd, fs1, rm"), p.rm_bits(f"31..27=0x0b {fmt_bits} 24..20=0 {OP_FP}"),
          p.sqrt_timing, ext, defaults=p.rm_defaults)(fsqrt)

    sign = fmt.sign_mask
    for name, funct3, pick, text in (
            ("fsgnj", 0, lambda a, b: b & sign, "the sign of {r}[fs2]"),
            ("fsgnjn", 1, lambda a, b: ~b & sign, "the inverted sign of {r}[fs2]"),
            ("fsgnjx", 2, lambda a, b: (a ^ b) & sign, "sign = sign({r}[fs1]) xor sign({r}[fs2])")):
        def sgnj(h, d, pick=pick):
            a = p.read(h, d.fs1)
            p.write(h, d.fd, (a & ~sign & fmt.mask) | pick(a, p.read(h, d.fs2)))
        sgnj.__doc__ = f"{r}[fd] = |{r}[fs1]| with " + text.format(r=r)
        instr(f"{name}.{s}", "fd, fs1, fs2", f"31..27=0x04 {fmt_bits} 14..12={funct3 | p.funct3_alt} {OP_FP}",
              "fnoncomp", ext)(sgnj)

    for name, funct3, fn, text in (("fmin", 0, fp.min_, "minimumNumber"), ("fmax", 1, fp.max_, "maximumNumber")):
        def minmax(h, d, fn=fn):
            value, flags = fn(fmt, p.read(h, d.fs1), p.read(h, d.fs2))
            h.accrue(flags)
            p.write(h, d.fd, value)
        minmax.__doc__ = f"{r}[fd] = {text}({r}[fs1], {r}[fs2]) (-0 < +0; NaN only if both are NaN)"
        instr(f"{name}.{s}", "fd, fs1, fs2", f"31..27=0x05 {fmt_bits} 14..12={funct3 | p.funct3_alt} {OP_FP}",
              "fnoncomp", ext)(minmax)

    for name, rs2, signed in (("fcvt.w", 0, True), ("fcvt.wu", 1, False)):
        def to_int(h, d, signed=signed):
            rm = p.rounding(h, d)
            value, flags = fp.to_int(fmt, p.read(h, d.fs1), rm, signed)
            h.accrue(flags)
            h.wx(d.rd, value)
        to_int.__doc__ = (f"x[rd] = {'signed' if signed else 'unsigned'} 32-bit integer of {r}[fs1], rounded "
                          "(saturating; NaN gives the maximum)")
        instr(f"{name}.{s}", p.rm_syntax("rd, fs1, rm"), p.rm_bits(f"31..27=0x18 {fmt_bits} 24..20={rs2} {OP_FP}"),
              "fconv", ext, defaults=p.rm_defaults)(to_int)

    for name, rs2, signed in (("w", 0, True), ("wu", 1, False)):
        def from_int(h, d, signed=signed):
            rm = p.rounding(h, d)
            value, flags = fp.from_int(fmt, h.x[d.rs1], signed, rm)
            h.accrue(flags)
            p.write(h, d.fd, value)
        from_int.__doc__ = f"{r}[fd] = round({'signed' if signed else 'unsigned'} x[rs1])"
        instr(f"fcvt.{s}.{name}", p.rm_syntax("fd, rs1, rm"), p.rm_bits(f"31..27=0x1a {fmt_bits} 24..20={rs2} {OP_FP}"),
              "fconv", ext, defaults=p.rm_defaults)(from_int)

    if p.moves:
        def move_to_x(h, d):
            h.wx(d.rd, sext(h.f[d.fs1], fmt.width))
        move_to_x.__doc__ = ("x[rd] = f[fs1]" if fmt.width == 32 else
                             f"x[rd] = sign-extend(f[fs1][{fmt.width - 1}:0]) (bits moved as they are, no NaN-box check)")
        instr(f"fmv.x.{p.move_suffix}", "rd, fs1", f"31..27=0x1c {fmt_bits} 24..20=0 14..12=0 {OP_FP}", "fnoncomp",
              ext)(move_to_x)

        def move_from_x(h, d):
            p.write(h, d.fd, h.x[d.rs1] & fmt.mask)
        move_from_x.__doc__ = f"{r}[fd] = x[rs1][{fmt.width - 1}:0]"
        instr(f"fmv.{p.move_suffix}.x", "fd, rs1", f"31..27=0x1e {fmt_bits} 24..20=0 14..12=0 {OP_FP}", "fnoncomp",
              ext)(move_from_x)

    def fclass(h, d):
        h.wx(d.rd, fp.classify(fmt, p.read(h, d.fs1)))
    fclass.__doc__ = f"x[rd] = class mask of {r}[fs1] (one of 10 bits: -inf ... qNaN)"
    instr(f"fclass.{s}", "rd, fs1", f"31..27=0x1c {fmt_bits} 24..20=0 14..12={1 | p.funct3_alt} {OP_FP}", "fnoncomp",
          ext)(fclass)

    for name, funct3, fn, sym, nan_rule in (("feq", 2, fp.eq, "==", "quiet: NV only for sNaN"),
                                            ("flt", 1, fp.lt, "<", "signalling: NV for any NaN"),
                                            ("fle", 0, fp.le, "<=", "signalling: NV for any NaN")):
        def compare(h, d, fn=fn):
            value, flags = fn(fmt, p.read(h, d.fs1), p.read(h, d.fs2))
            h.accrue(flags)
            h.wx(d.rd, value)
        compare.__doc__ = f"x[rd] = {r}[fs1] {sym} {r}[fs2] ? 1 : 0 ({nan_rule})"
        instr(f"{name}.{s}", "rd, fs1, fs2", f"31..27=0x14 {fmt_bits} 14..12={funct3 | p.funct3_alt} {OP_FP}",
              "fnoncomp", ext)(compare)


def _define_memory(p: Precision) -> None:
    """The loads and stores of one format."""
    fmt, r, ext = p.fmt, p.reg, p.ext
    size = p.bytes
    width_funct3 = size.bit_length() - 1         # flw/fsw 2, flh/fsh 1

    def load(h, d):
        p.write(h, d.fd, h.load(h.x[d.rs1] + d.imm12, size))
    load.__doc__ = f"{r}[fd] = mem{fmt.width}[x[rs1] + imm12]"
    instr(f"fl{p.move_suffix}", "fd, imm12(rs1)", f"14..12={width_funct3} 6..0=0x07", "load", ext)(load)

    def store(h, d):
        h.store(h.x[d.rs1] + d.simm12, size, h.f[d.fs2])
    store.__doc__ = f"mem{fmt.width}[x[rs1] + simm12] = f[fs2][{fmt.width - 1}:0]"
    instr(f"fs{p.move_suffix}", "fs2, simm12(rs1)", f"14..12={width_funct3} 6..0=0x27", "store", ext)(store)


def _operands(text: str, reg: str) -> str:
    """'fs1 * fs2 + fs3' -> 'f[fs1] * f[fs2] + f[fs3]'."""
    for name in ("fs1", "fs2", "fs3"):
        text = text.replace(name, f"{reg}[{name}]")
    return text


define_precision(SINGLE)
