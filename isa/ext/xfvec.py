"""PULP smallFloat: FP16 vectors (Xfvec) and the FP16 auxiliary operations (Xfaux), with FLEN = 32.

A vector is a whole f register, two FP16 lanes: lane 0 = bits 15:0, lane 1 = bits 31:16, no NaN-boxing.
Below, v1[i], v2[i], vd[i] are lane i of f[fs1], f[fs2], f[fd]; in the .r (replicated) forms v2[i] is
lane 0 of f[fs2] for both lanes. Flags of both lanes are ORed into fflags.
Encoding: opcode 0x33, [31:30] = 10, [29:25] operation, [14] R, [13:12] format (10 = FP16). There is
no rm field: every rounding operation uses frm, checked as dyn (frm > 4 is an illegal instruction), as
RI5CY's decoder does (`fp_rnd_mode_o = frm_i`, `check_fprm`).

Sources. Encodings and syntax: pulp-platform/riscv-binutils-gdb branch riscv-binutils-2.34-pulp
(include/opcode/riscv-opc.h, opcodes/riscv-opc.c, classes XPULP_FVECHALF*, XPULP_FAUX*), which is the
toolchain whose words /work/shared/REFERENCE.md lists; cross-checked with riscv/riscv-opcodes
extensions/unratified/rv_xsmallfloat_vh and rv_xsmallfloat_h. They agree except for vfdotpex.s.h,
where riscv-opcodes (Snitch/Occamy, also GVSoC) puts format 00 in [13:12] and PULP puts 10; PULP is
followed (REFERENCE: `vfdotpex.s.h fa0,fa1,fa2` = 0x96c5a533). vfdotp.h and vfavg.h exist only in the
PULP toolchain. Semantics: RI5CY's decoder (openhwgroup/cv32e40p rtl/riscv_decoder.sv before the
cv32e40p rename) and FPnew (openhwgroup/cvfpu), then GVSoC (gvsoc/gvsoc-core
models/cpu/iss/include/isa/rv32Xfvec.hpp, rv32Xfaux.hpp) where the hardware says nothing:
- vfmre.h: vd = v1 * v2 - vd (FPnew FMADD with op_mod = fused multiply-subtract; GVSoC's RI5CY build
  does the same, its other builds compute -(v1 * v2) + vd).
- vfmv.x.h / vfmv.h.x move the whole 32-bit register (both lanes): FPnew's vectorial SGNJ pass-through;
  only legal without RV32D because the vector then fits an x register.
- vfcvt.x[u].h / vfcvt.h.x[u] convert each lane to or from a 16-bit integer lane (FPnew INT16 for
  FP16 vectors), saturating with NV only, like fcvt.w.
- Comparisons write 1 in bit 0 of each 16-bit lane of x[rd] (lane 1 at bit 16): FPnew's lane result
  is a boolean; GVSoC's RI5CY build agrees. vfne is quiet (true with a NaN, NV only for sNaN); vflt,
  vfle, vfge, vfgt signal NV for any NaN and are false then (FPnew inverts lt/le only for ordered
  operands).
- vfclass.h: one 8-bit block per lane in x[rd] (lane i at bits 8i+7..8i): bit 7 negative, 6 not
  negative (NaNs count as not negative), 5 qNaN, 4 sNaN, 3 zero, 2 subnormal, 1 normal, 0 infinity
  (FPnew without TrueSIMDClass; GVSoC uses the same layout but takes a NaN's sign bit).
- vfcpka.h.s packs round(f[fs1]) and round(f[fs2]) into lanes 0 and 1. vfcpkb..d.h.s (lanes 2..7)
  need FLEN >= 64: RI5CY's decoder rejects them without RVD, so they are not in the table (illegal).
  For the same reason vfcvt[u].s.h and vfcvt[u].h.s (vectors of singles) are left out.
- Xfaux (not in RI5CY's decoder; GVSoC implements them): vfdotp.h, vfdotpex.s.h and fmacex.s.h are
  computed exactly and rounded once (see vfdotpex_s_h); GVSoC rounds the partial products/sums and
  always uses rne for the vector forms, here frm is used as for every other vector operation.
"""
from collections.abc import Callable
from dataclasses import dataclass

from mcusim.isa import ieee754 as fp
from mcusim.isa.bits import s32, sext
from mcusim.isa.ext.rv32f import DYN
from mcusim.isa.spec import instr

EXT = "Xfvec"
AUX = "Xfaux"
H, S = fp.F16, fp.F32
_LANE = 0xFFFF
_REPLICATED = " (.r: lane 0 of f[fs2] for both lanes)"


def _lanes(v: int) -> tuple[int, int]:
    return v & _LANE, v >> 16 & _LANE


def _pack(lo: int, hi: int) -> int:
    return (lo & _LANE) | (hi & _LANE) << 16


def _second_word(h, d, replicated: int) -> int:
    """The second vector operand f[fs2]; the .r forms use its lane 0 in both lanes."""
    v = h.f[d.fs2]
    return (v & _LANE) * 0x10001 if replicated else v


def _second(h, d, replicated: int) -> tuple[int, int]:
    return _lanes(_second_word(h, d, replicated))


@dataclass(frozen=True)
class VectorFormat:
    """One 16-bit lane format of the vector instructions: [13:12] = vfmt (smallFloat: 2 = half,
    1 = alternative half, i.e. bfloat16)."""
    suffix: str
    fmt: fp.Format
    vfmt: int
    ext: str
    aux: str
    dotpex: Callable[[int, int, int, int], tuple[int, int]]   # (v1, v2, f[fd], rm) -> FP32 result, flags


def _dotpex_alt(a: int, b: int, c: int, rm: int) -> tuple[int, int]:
    """round_F32(a0*b0 + a1*b1 + c), one rounding, for bfloat16 lanes."""
    A = fp.BF16
    return fp.sum_of_products(S, [(A, a & _LANE, b & _LANE), (A, a >> 16, b >> 16)], (S, c), rm)


def _name(stem: str, replicated: int, v: VectorFormat) -> str:
    return f"{stem}.r.{v.suffix}" if replicated else f"{stem}.{v.suffix}"


def _enc(op5: int, replicated: int, v: VectorFormat, fixed_rs2: int | None = None) -> str:
    rs2 = "" if fixed_rs2 is None else f"24..20={fixed_rs2} "
    return f"31..30=2 29..25={op5:#x} {rs2}14={replicated} 13..12={v.vfmt} 6..0=0x33"


def _lanewise(v: VectorFormat, stem: str, op5: int, fn, doc: str, timing: str, rounded: bool = True, to_x: bool = False,
              aux: bool = False, accumulates: bool = False) -> None:
    """Register `stem.<fmt>` and `stem.r.<fmt>`: lane i = fn(v1[i], v2[i], vd[i], rm) -> (bits, flags).

    `rounded` ops resolve frm first; `to_x` ops write x[rd] instead of f[fd]."""
    for replicated in (0, 1):
        def sem(h, d, replicated=replicated):
            rm = h.rounding(DYN) if rounded else None
            a, b = _lanes(h.f[d.fs1]), _second(h, d, replicated)
            c = (0, 0) if to_x else _lanes(h.f[d.fd])
            (lo, f0), (hi, f1) = (fn(a[i], b[i], c[i], rm) for i in (0, 1))
            h.accrue(f0 | f1)
            if to_x:
                h.wx(d.rd, _pack(lo, hi))
            else:
                h.wf(d.fd, _pack(lo, hi))
        sem.__doc__ = doc + (_REPLICATED if replicated else "")
        syntax = "rd, fs1, fs2" if to_x else "fd, fs1, fs2"
        instr(_name(stem, replicated, v), syntax, _enc(op5, replicated, v), timing, v.aux if aux else v.ext,
              reads_dest=accumulates)(sem)


def define_vector_format(v: VectorFormat) -> None:
    """Register every vector operation of one 16-bit format (two lanes per f register)."""
    F = v.fmt
    # --- arithmetic, fused multiply-add, min/max, sign injection ------------------------------------------
    _lanewise(v, "vfadd", 0x01, lambda a, b, c, rm: fp.add(F, a, b, rm), "vd[i] = round(v1[i] + v2[i])", "fadd")
    _lanewise(v, "vfsub", 0x02, lambda a, b, c, rm: fp.sub(F, a, b, rm), "vd[i] = round(v1[i] - v2[i])", "fadd")
    _lanewise(v, "vfmul", 0x03, lambda a, b, c, rm: fp.mul(F, a, b, rm), "vd[i] = round(v1[i] * v2[i])", "fmul")
    _lanewise(v, "vfdiv", 0x04, lambda a, b, c, rm: fp.div(F, a, b, rm), "vd[i] = round(v1[i] / v2[i])", "fdiv16")
    _lanewise(v, "vfmin", 0x05, lambda a, b, c, rm: fp.min_(F, a, b), "vd[i] = minimumNumber(v1[i], v2[i])",
              "fnoncomp", rounded=False)
    _lanewise(v, "vfmax", 0x06, lambda a, b, c, rm: fp.max_(F, a, b), "vd[i] = maximumNumber(v1[i], v2[i])",
              "fnoncomp", rounded=False)
    _lanewise(v, "vfmac", 0x08, lambda a, b, c, rm: fp.fma(F, a, b, c, rm),
              "vd[i] = round(v1[i] * v2[i] + vd[i]) (fused)", "fma", accumulates=True)
    _lanewise(v, "vfmre", 0x09, lambda a, b, c, rm: fp.fma(F, a, b, c, rm, negate_addend=True),
              "vd[i] = round(v1[i] * v2[i] - vd[i]) (fused)", "fma", accumulates=True)
    _SIGN = F.sign_mask
    _lanewise(v, "vfsgnj", 0x0D, lambda a, b, c, rm: ((a & ~_SIGN) | (b & _SIGN), 0),
              "vd[i] = |v1[i]| with the sign of v2[i]", "fnoncomp", rounded=False)
    _lanewise(v, "vfsgnjn", 0x0E, lambda a, b, c, rm: ((a & ~_SIGN) | (~b & _SIGN), 0),
              "vd[i] = |v1[i]| with the inverted sign of v2[i]", "fnoncomp", rounded=False)
    _lanewise(v, "vfsgnjx", 0x0F, lambda a, b, c, rm: (a ^ (b & _SIGN), 0),
              "vd[i] = v1[i] with sign = sign(v1[i]) xor sign(v2[i])", "fnoncomp", rounded=False)

    # --- comparisons: x[rd] lane i = 1 or 0 -------------------------------------------------------------


    def _not(result: tuple[int, int]) -> tuple[int, int]:
        return 1 - result[0], result[1]


    _SIGNALLING = " (NV and 0 if either is NaN)"
    for _stem, _op5, _fn, _cond, _note in (
            ("vfeq", 0x10, lambda a, b, c, rm: fp.eq(F, a, b), "v1[i] == v2[i]", " (quiet: NV only for sNaN)"),
            ("vfne", 0x11, lambda a, b, c, rm: _not(fp.eq(F, a, b)), "v1[i] != v2[i]",
             " (quiet: 1 with a NaN, NV only for sNaN)"),
            ("vflt", 0x12, lambda a, b, c, rm: fp.lt(F, a, b), "v1[i] < v2[i]", _SIGNALLING),
            ("vfge", 0x13, lambda a, b, c, rm: fp.le(F, b, a), "v1[i] >= v2[i]", _SIGNALLING),
            ("vfle", 0x14, lambda a, b, c, rm: fp.le(F, a, b), "v1[i] <= v2[i]", _SIGNALLING),
            ("vfgt", 0x15, lambda a, b, c, rm: fp.lt(F, b, a), "v1[i] > v2[i]", _SIGNALLING)):
        _lanewise(v, _stem, _op5, _fn, f"x[rd] lane i = {_cond} ? 1 : 0{_note}", "fnoncomp", rounded=False, to_x=True)


    # --- one-operand operations (rs2 field fixed, no .r form) --------------------------------------------
    @instr(f"vfsqrt.{v.suffix}", "fd, fs1", _enc(0x07, 0, v, fixed_rs2=0), "fsqrt16", v.ext)
    def vfsqrt_h(h, d):
        """vd[i] = round(sqrt(v1[i]))"""
        rm = h.rounding(DYN)
        (lo, f0), (hi, f1) = (fp.sqrt(F, a, rm) for a in _lanes(h.f[d.fs1]))
        h.accrue(f0 | f1)
        h.wf(d.fd, _pack(lo, hi))


    # classify bit (ieee754.classify) -> FPnew vector-class block bit: inf 0, normal 1, subnormal 2, zero 3,
    # sNaN 4, qNaN 5; classes 0..3 are the negative ones (block bit 7), the others set block bit 6.
    _CLASS_BLOCK_BIT = (0, 1, 2, 3, 3, 2, 1, 0, 4, 5)


    def _class_block(a: int) -> int:
        index = fp.classify(F, a).bit_length() - 1
        return 1 << _CLASS_BLOCK_BIT[index] | 1 << (7 if index < 4 else 6)


    @instr(f"vfclass.{v.suffix}", "rd, fs1", _enc(0x0C, 0, v, fixed_rs2=1), "fnoncomp", v.ext)
    def vfclass_h(h, d):
        """x[rd][8i+7:8i] = class block of v1[i] (7 neg, 6 not neg, 5 qNaN, 4 sNaN, 3 zero, 2 subnormal, 1 normal, 0 inf)"""
        lo, hi = _lanes(h.f[d.fs1])
        h.wx(d.rd, _class_block(lo) | _class_block(hi) << 8)


    @instr(f"vfmv.x.{v.suffix}", "rd, fs1", _enc(0x0C, 0, v, fixed_rs2=0), "fnoncomp", v.ext)
    def vfmv_x_h(h, d):
        """x[rd] = f[fs1] (both lanes)"""
        h.wx(d.rd, h.f[d.fs1])


    @instr(f"vfmv.{v.suffix}.x", "fd, rs1", _enc(0x0C, 1, v, fixed_rs2=0), "fnoncomp", v.ext)
    def vfmv_h_x(h, d):
        """f[fd] = x[rs1] (both lanes)"""
        h.wf(d.fd, h.x[d.rs1])


    def _to_int16(a: int, rm: int, signed: bool) -> tuple[int, int]:
        """FP16 -> 16-bit integer lane, saturating; out of range (incl. NaN -> max, infinities) is NV only."""
        lo, hi = (-0x8000, 0x7FFF) if signed else (0, 0xFFFF)
        value, flags = fp.to_int(F, a, rm, signed)
        value = s32(value) if signed else value
        if not lo <= value <= hi:   # also catches to_int's 32-bit saturation of NaN and infinities
            return min(max(value, lo), hi) & _LANE, fp.NV
        return value & _LANE, flags


    for _replicated, _signed in ((0, True), (1, False)):
        _u = "" if _signed else "u"
        _kind = "signed" if _signed else "unsigned"

        def _f2i(h, d, signed=_signed):
            rm = h.rounding(DYN)
            (lo, f0), (hi, f1) = (_to_int16(a, rm, signed) for a in _lanes(h.f[d.fs1]))
            h.accrue(f0 | f1)
            h.wx(d.rd, _pack(lo, hi))
        _f2i.__doc__ = f"x[rd] lane i = {_kind} 16-bit integer of v1[i], rounded (saturating)"
        instr(f"vfcvt.x{_u}.{v.suffix}", "rd, fs1", _enc(0x0C, _replicated, v, fixed_rs2=2), "fconv", v.ext)(_f2i)

        def _i2f(h, d, signed=_signed):
            rm = h.rounding(DYN)
            lanes = (sext(v, 16) & 0xFFFF_FFFF if signed else v for v in _lanes(h.x[d.rs1]))
            (lo, f0), (hi, f1) = (fp.from_int(F, v, signed, rm) for v in lanes)
            h.accrue(f0 | f1)
            h.wf(d.fd, _pack(lo, hi))
        _i2f.__doc__ = f"vd[i] = round({_kind} 16-bit integer lane i of x[rs1])"
        instr(f"vfcvt.{v.suffix}.x{_u}", "fd, rs1", _enc(0x0C, _replicated, v, fixed_rs2=3), "fconv", v.ext)(_i2f)


    @instr(f"vfcpka.{v.suffix}.s", "fd, fs1, fs2", _enc(0x18, 0, v), "fconv", v.ext)
    def vfcpka_h_s(h, d):
        """vd[0] = round(f[fs1] to half); vd[1] = round(f[fs2] to half)"""
        rm = h.rounding(DYN)
        (lo, f0), (hi, f1) = (fp.convert(S, F, h.f[r], rm) for r in (d.fs1, d.fs2))
        h.accrue(f0 | f1)
        h.wf(d.fd, _pack(lo, hi))


    # --- Xfaux: dot products, average, expanding scalar operations ----------------------------------------
    for _replicated in (0, 1):
        def vfdotp_h(h, d, replicated=_replicated):
            rm = h.rounding(DYN)
            a, b = _lanes(h.f[d.fs1]), _second(h, d, replicated)
            value, flags = fp.sum_of_products(F, [(F, a[0], b[0]), (F, a[1], b[1])], None, rm)
            h.accrue(flags)
            h.wf(d.fd, value)
        vfdotp_h.__doc__ = ("f[fd] = round(v1[0] * v2[0] + v1[1] * v2[1]) as FP16 in bits 15:0, bits 31:16 = 0 "
                            "(no accumulation, as in GVSoC; one rounding)" + (_REPLICATED if _replicated else ""))
        instr(_name("vfdotp", _replicated, v), "fd, fs1, fs2", _enc(0x0A, _replicated, v), "fma", v.aux)(vfdotp_h)

        def vfdotpex_s_h(h, d, replicated=_replicated):
            """f[fd] (FP32) = round(f[fd] + v1[0] * v2[0] + v1[1] * v2[1]), one rounding.

            Decision: the exact sum of the two FP16 products and the FP32 accumulator is rounded once
            to FP32, as the fused expanding dot-product (ExSdotp) unit of the smallFloat FPU does.
            GVSoC instead rounds twice: fma(v1[1], v2[1], v1[0] * v2[0]) to FP32 (the products are exact
            in FP32), then adds f[fd] with a second rounding, and uses rne instead of frm.
            """
            rm = h.rounding(DYN)
            value, flags = v.dotpex(h.f[d.fs1], _second_word(h, d, replicated), h.f[d.fd], rm)
            h.accrue(flags)
            h.wf(d.fd, value)
        instr(_name("vfdotpex.s", _replicated, v), "fd, fs1, fs2", _enc(0x0B, _replicated, v), "fma", v.aux,
              reads_dest=True,
              description="f[fd] (FP32) = round(f[fd] + v1[0] * v2[0] + v1[1] * v2[1]), exact sum rounded once"
              + (_REPLICATED if _replicated else ""))(vfdotpex_s_h)

    _lanewise(v, "vfavg", 0x16, lambda a, b, c, rm: fp.average(F, a, b, rm), "vd[i] = round((v1[i] + v2[i]) / 2)",
              "fadd", aux=True)


HALF = VectorFormat("h", H, 2, EXT, AUX, fp.dotpex_h)
ALT = VectorFormat("ah", fp.BF16, 1, "Xfvecalt", "Xfauxalt", _dotpex_alt)
define_vector_format(HALF)
define_vector_format(ALT)


@instr("fmulex.s.h", "fd, fs1, fs2, rm", "31..25=0x26 6..0=0x53", "fmul", AUX, defaults={"rm": DYN})
def fmulex_s_h(h, d):
    """f[fd] (FP32) = round(h[fs1] * h[fs2]) (the FP16 product is exact in FP32)"""
    rm = h.rounding(d.rm)
    value, flags = fp.sum_of_products(S, [(H, h.read_half(d.fs1), h.read_half(d.fs2))], None, rm)
    h.accrue(flags)
    h.wf(d.fd, value)


@instr("fmacex.s.h", "fd, fs1, fs2, rm", "31..25=0x2a 6..0=0x53", "fma", AUX, defaults={"rm": DYN},
       reads_dest=True)
def fmacex_s_h(h, d):
    """f[fd] (FP32) = round(h[fs1] * h[fs2] + f[fd]) (fused, one rounding)"""
    rm = h.rounding(d.rm)
    value, flags = fp.sum_of_products(S, [(H, h.read_half(d.fs1), h.read_half(d.fs2))], (S, h.f[d.fd]), rm)
    h.accrue(flags)
    h.wf(d.fd, value)
