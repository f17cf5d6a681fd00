"""Zfh half-precision scalar floating point (RISC-V unprivileged spec, chapter "Zfh/Zfhmin"; PULP calls
the same encodings Xf16), with FLEN = 32.

A half lives NaN-boxed in an f register: h[r] below means f[r][15:0] when f[r][31:16] are all ones and
the canonical NaN 0x7e00 otherwise (`Hart.read_half`); every half result is written boxed
(`Hart.write_half`). Exceptions, as the spec defines them: fmv.x.h and fsh move f[r][15:0] as they are,
without the box check; fmv.x.h sign-extends to 32 bits.

The .h instructions are the RV32F ones built for the half format (`rv32f.define_precision`); this
module adds the two conversions between the formats. fcvt.s.h is exact, so GNU as 2.40 and LLVM 19
encode it with rm = rne when the mode is omitted (GNU as even rejects an explicit one, following the
draft Zfh that fixed the field to 0); the table's default does the same. The rm field is still
checked: a reserved mode (or dyn with frm > 4) is an illegal instruction, as for every rm field.
"""
from mcusim.isa import ieee754 as fp
from mcusim.isa.ext.rv32f import DYN, OP_FP, Precision, define_precision
from mcusim.isa.spec import instr

EXT = "Zfh"

HALF = Precision("h", fp.F16, 2, EXT, lambda h, r: h.read_half(r), lambda h, r, v: h.write_half(r, v), "h", "h",
                 "fdiv16", "fsqrt16")
define_precision(HALF)


@instr("fcvt.s.h", "fd, fs1, rm", f"31..27=0x08 26..25=0 24..20=2 {OP_FP}", "fconv", EXT, defaults={"rm": fp.RNE})
def fcvt_s_h(h, d):
    """f[fd] = h[fs1] widened to single (exact; a NaN becomes the canonical NaN)"""
    rm = h.rounding(d.rm)
    value, flags = fp.convert(fp.F16, fp.F32, h.read_half(d.fs1), rm)
    h.accrue(flags)
    h.wf(d.fd, value)


@instr("fcvt.h.s", "fd, fs1, rm", f"31..27=0x08 26..25=2 24..20=0 {OP_FP}", "fconv", EXT, defaults={"rm": DYN})
def fcvt_h_s(h, d):
    """h[fd] = round(f[fs1] to half)"""
    rm = h.rounding(d.rm)
    value, flags = fp.convert(fp.F32, fp.F16, h.f[d.fs1], rm)
    h.accrue(flags)
    h.write_half(d.fd, value)
