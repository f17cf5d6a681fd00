"""smallFloat Xf16alt: scalar bfloat16 ("alternative half", 1 sign, 8 exponent, 7 fraction bits), FLEN = 32.

A bfloat16 value lives NaN-boxed in an f register exactly like a Zfh half (`Hart.read_half` /
`write_half`), so flh, fsh, fmv.x.h and fmv.h.x move it too; this module adds its arithmetic,
compares and conversions, built by the same `rv32f.define_precision` as single and half.

Encoding (PULP smallFloat on RI5CY-class cores, as the PULP/GAP9 GNU assembler encodes it): the .ah
instructions are the .h ones with bit 14 set in funct3. An instruction that has an rm field gets
rm = 101, which is reserved in the base ISA, so its rounding mode is frm (as for dyn); the others keep
their funct3 operation code in bits 13..12 (fmin.ah 100, fmax.ah 101, fsgnjx.ah 110, ...). Checked
words (GAP9 as): `fmax.ah` 0x2cb55553, `fmin.ah` 0x2cb54553, `fsgnjx.ah` 0x24a56553, `fsqrt.ah`
0x5c055553 (register numbers aside, they also hold for f registers). Conversions between formats name
the source format in rs2 (riscv-opcodes' smallFloat convention: 0 single, 2 half) with the alternative
half as 2 | 4 = 6 (the RI5CY decoder's FP16ALT source code); a bfloat16 destination fixes rm = 101.
"""
from mcusim.isa import ieee754 as fp
from mcusim.isa.ext.rv32f import OP_FP, Precision, define_precision
from mcusim.isa.spec import instr

EXT = "Xf16alt"
ALT_RM = 0b101
ALT_SOURCE = 6          # rs2 of a conversion whose source is bfloat16

ALT = Precision("ah", fp.BF16, 2, EXT, lambda h, r: h.read_half(r), lambda h, r, v: h.write_half(r, v), "ah", "h",
                "fdiv16", "fsqrt16", rm_fixed=ALT_RM, funct3_alt=0b100, moves=False)
define_precision(ALT)


def _convert(name: str, src: fp.Format, dst: fp.Format, read, write, encoding: str, rm_field: bool,
             doc: str, default_rm: int = fp.RNE) -> None:
    def conversion(h, d):
        rm = h.rounding(d.rm if rm_field else 7)
        value, flags = fp.convert(src, dst, read(h, d.fs1), rm)
        h.accrue(flags)
        write(h, d.fd, value)
    conversion.__doc__ = doc
    syntax = "fd, fs1, rm" if rm_field else "fd, fs1"
    encoding = encoding if rm_field else f"14..12={ALT_RM} {encoding}"
    instr(name, syntax, f"{encoding} {OP_FP}", "fconv", EXT, **({"defaults": {"rm": default_rm}} if rm_field else {}))(
        conversion)


def _read_single(h, r):
    return h.f[r]


def _write_single(h, r, v):
    h.wf(r, v)


def _read_half(h, r):
    return h.read_half(r)


def _write_half(h, r, v):
    h.write_half(r, v)


# Widening to single is exact (default rm = rne, as for fcvt.s.h); the others round.
_convert("fcvt.s.ah", fp.BF16, fp.F32, _read_half, _write_single, f"31..27=0x08 26..25=0 24..20={ALT_SOURCE}", True,
         "f[fd] = ah[fs1] widened to single (exact; a NaN becomes the canonical NaN)")
_convert("fcvt.ah.s", fp.F32, fp.BF16, _read_single, _write_half, "31..27=0x08 26..25=2 24..20=0", False,
         "ah[fd] = round(f[fs1] to bfloat16) (rounding mode frm)")
_convert("fcvt.h.ah", fp.BF16, fp.F16, _read_half, _write_half, f"31..27=0x08 26..25=2 24..20={ALT_SOURCE}", True,
         "h[fd] = round(ah[fs1] to half)", default_rm=7)
_convert("fcvt.ah.h", fp.F16, fp.BF16, _read_half, _write_half, "31..27=0x08 26..25=2 24..20=2", False,
         "ah[fd] = round(h[fs1] to bfloat16) (rounding mode frm)")
