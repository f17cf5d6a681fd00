"""Tests for isa.ieee754 against Berkeley SoftFloat (softfloatpy) and a Fraction oracle.

softfloatpy conventions (checked in test_softfloatpy_conventions below):
* it is built with SoftFloat's RISC-V specialization: NaN results are already
  canonical (0x7fc00000 / 0x7e00), fcvt of NaN gives 0x7fffffff / 0xffffffff,
  and fma(inf, 0, qNaN) raises NV.  We still normalise any NaN it returns to
  the canonical NaN, since canonical NaN results are the RISC-V rule we
  implement, not a detail of the oracle;
* its flags are global and sticky: every oracle call clears them first;
* its flag bits have the RISC-V fflags layout (NX=1, UF=2, OF=4, DZ=8, NV=16);
* its RoundingMode enum values equal the RISC-V frm encodings;
* integer results are Int32/UInt32 objects (``.to_int()``), floats are
  Float32/Float16 objects built from big-endian bytes;
* tininess is set to after-rounding explicitly (it is also the default).

Operations without a SoftFloat counterpart (sum_of_products, average,
round_exact, min/max, classify) are checked against slow, independent
oracles written here with fractions.Fraction.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest
import softfloatpy as sf
from hypothesis import given, settings, strategies as st

from mcusim.isa import ieee754 as fp
from mcusim.isa.ieee754 import (DZ, F16, F32, NV, NX, OF, RDN, RMM, RNE, RTZ, RUP, UF,
                         Format)

sf.set_tininess_mode(sf.TininessMode.AFTER_ROUNDING)

FORMATS = [F32, F16]
MODES = [RNE, RTZ, RDN, RUP, RMM]
MODE_IDS = ["rne", "rtz", "rdn", "rup", "rmm"]
M32 = 0xFFFFFFFF

fmt_param = pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
rm_param = pytest.mark.parametrize("rm", MODES, ids=MODE_IDS)


# ---------------------------------------------------------------------------
# softfloatpy adapter
# ---------------------------------------------------------------------------

_SF_CLASS = {F32: sf.Float32, F16: sf.Float16}
_PREFIX = {F32: "f32", F16: "f16"}


def enc(fmt: Format, bits: int):
    return _SF_CLASS[fmt].from_bytes(bits.to_bytes(fmt.width // 8, "big"))


def dec(value) -> int:
    return int.from_bytes(value.to_bytes(), "big")


def canon(fmt: Format, bits: int) -> int:
    # RISC-V returns the canonical NaN for every NaN result.
    return fmt.canonical_nan if fp.is_nan(fmt, bits) else bits


def sf_call(rm: int, fn, *args):
    sf.set_rounding_mode(sf.RoundingMode(rm))
    sf.set_exception_flags(0)
    result = fn(*args)
    return result, int(sf.get_exception_flags())


def sf_float_op(fmt: Format, op: str, rm: int, *xs: int) -> tuple[int, int]:
    fn = getattr(sf, f"{_PREFIX[fmt]}_{op}")
    r, flags = sf_call(rm, fn, *[enc(fmt, x) for x in xs])
    return canon(fmt, dec(r)), flags


def sf_compare(fmt: Format, op: str, a: int, b: int) -> tuple[int, int]:
    # f*_eq is quiet, f*_lt / f*_le are signaling, as feq / flt / fle.
    fn = getattr(sf, f"{_PREFIX[fmt]}_{op}")
    r, flags = sf_call(RNE, fn, enc(fmt, a), enc(fmt, b))
    return int(r), flags


def sf_fma(fmt: Format, a: int, b: int, c: int, rm: int, np_: bool, na: bool) -> tuple[int, int]:
    # (-a)*b + (-c) is the same exact value as -(a*b) - c, signs of zero included.
    s = fmt.sign_mask
    return sf_float_op(fmt, "mul_add", rm, a ^ (s if np_ else 0), b, c ^ (s if na else 0))


def sf_to_int(fmt: Format, a: int, rm: int, signed: bool) -> tuple[int, int]:
    fn = getattr(sf, f"{_PREFIX[fmt]}_to_{'i32' if signed else 'ui32'}")
    sf.set_exception_flags(0)
    r = fn(enc(fmt, a), sf.RoundingMode(rm), True)
    return r.to_int() & M32, int(sf.get_exception_flags())


def sf_from_int(fmt: Format, v: int, signed: bool, rm: int) -> tuple[int, int]:
    if signed:
        arg = sf.Int32.from_int(v - (1 << 32) if v >> 31 else v)
        fn = getattr(sf, f"i32_to_{_PREFIX[fmt]}")
    else:
        arg = sf.UInt32.from_int(v)
        fn = getattr(sf, f"ui32_to_{_PREFIX[fmt]}")
    r, flags = sf_call(rm, fn, arg)
    return dec(r), flags


def sf_convert(src: Format, dst: Format, a: int, rm: int) -> tuple[int, int]:
    fn = getattr(sf, f"{_PREFIX[src]}_to_{_PREFIX[dst]}")
    r, flags = sf_call(rm, fn, enc(src, a))
    return canon(dst, dec(r)), flags


# ---------------------------------------------------------------------------
# Test values
# ---------------------------------------------------------------------------

def _bits(fmt: Format, biased_exp: int, frac: int) -> int:
    return (biased_exp << fmt.frac_bits) | frac


def special_values(fmt: Format) -> list[int]:
    """Curated values, both signs: zeros, subnormals, normal range ends, NaNs, halfway points."""
    fb, bias, es = fmt.frac_bits, fmt.bias, fmt.exp_special
    emin = fmt.emin
    pos = [
        0, 1, 2, 3, fmt.frac_mask, fmt.hidden_bit >> 1,    # zero and subnormals
        fmt.min_normal, fmt.min_normal + 1,                 # smallest normals
        fmt.max_finite, fmt.max_finite - 1,                 # largest normals
        _bits(fmt, es - 1, 0),                              # 2**emax
        _bits(fmt, bias + fmt.emax - fb - 1, 0),            # half an ULP of max_finite
        fmt.one, fmt.one + 1, fmt.one - 1,                  # 1.0 and neighbours
        _bits(fmt, bias, 1 << (fb - 1)),                    # 1.5
        _bits(fmt, bias + 1, 0),                            # 2.0
        _bits(fmt, bias + 1, 1 << (fb - 2)),                # 2.5
        _bits(fmt, bias + 1, 1 << (fb - 1)),                # 3.0
        _bits(fmt, bias - 1, 0),                            # 0.5
        _bits(fmt, bias - 2, fmt.frac_mask // 3 * 2 + 1),   # ~0.333
        _bits(fmt, bias - fb - 1, 0),                       # half ULP of 1.0
        _bits(fmt, bias - fb, 0),                           # ULP of 1.0
        _bits(fmt, bias + emin // 2, 0),                    # ~sqrt(min_normal)
        _bits(fmt, bias + emin // 2 - 1, fmt.frac_mask),
        _bits(fmt, bias + fmt.emax // 2, 0),                # ~sqrt(2**emax)
        _bits(fmt, bias + fmt.emax // 2, fmt.frac_mask),
        fmt.inf,
        fmt.canonical_nan, fmt.canonical_nan | 0x15,        # quiet NaNs
        fmt.inf | 1, fmt.inf | (fmt.quiet_bit >> 1),        # signaling NaNs
    ]
    if fmt is F32:  # integer conversion boundaries
        pos += [0x4F000000, 0x4EFFFFFF, 0x4F800000, 0x4F7FFFFF, 0x4B800001]
    out: list[int] = []
    for v in pos:
        for s in (0, fmt.sign_mask):
            if v | s not in out:
                out.append(v | s)
    return out


def fma_values(fmt: Format) -> list[int]:
    """A smaller curated set for all-triples fma tests."""
    fb, bias = fmt.frac_bits, fmt.bias
    pos = [0, 1, fmt.frac_mask, fmt.min_normal, fmt.max_finite, fmt.one, fmt.one + 1,
           _bits(fmt, bias, 1 << (fb - 1)), _bits(fmt, bias - fb - 1, 0),
           _bits(fmt, bias + fmt.emin // 2, 0), _bits(fmt, bias + fmt.emax // 2, fmt.frac_mask),
           fmt.inf, fmt.canonical_nan, fmt.inf | 1]
    return pos + [v | fmt.sign_mask for v in pos]


def rand_bits(rng: random.Random, fmt: Format, near: int | None = None) -> int:
    """A random pattern biased towards interesting exponents.

    `near` (a biased exponent) makes equal/neighbouring exponents likely, for
    cancellation in add/fma.
    """
    es, bias, fb = fmt.exp_special, fmt.bias, fmt.frac_bits
    r = rng.random()
    if near is not None and r < 0.45:
        e = near + rng.randint(-2, 2)
    elif r < 0.6:
        e = rng.randint(0, 2)                 # zero, subnormal, smallest normals
    elif r < 0.72:
        e = rng.randint(es - 3, es)           # near overflow, inf / NaN
    elif r < 0.8:
        e = bias + rng.randint(-3, 3)         # around 1.0
    else:
        e = rng.randint(0, es)
    e = min(max(e, 0), es)
    r = rng.random()
    if r < 0.55:
        f = rng.getrandbits(fb)
    elif r < 0.65:
        f = 0
    elif r < 0.75:
        f = fmt.frac_mask
    elif r < 0.85:
        f = rng.getrandbits(3)                # few low bits: near a power of two
    elif r < 0.95:
        f = fmt.frac_mask ^ rng.getrandbits(3)
    else:
        f = rng.getrandbits(fb) & ~rng.getrandbits(fb)  # sparse
    return (rng.getrandbits(1) << fmt.sign_shift) | (e << fb) | f


def biased_exp(fmt: Format, x: int) -> int:
    return (x >> fmt.frac_bits) & fmt.exp_special


def hx(x: int) -> str:
    return f"{x:#x}"


def report(fails: list[str], total: int) -> str:
    return f"{len(fails)} of {total} mismatches, first ones:\n" + "\n".join(fails[:15])


# ---------------------------------------------------------------------------
# Fraction oracle (independent of the implementation)
# ---------------------------------------------------------------------------

def pow2(k: int) -> Fraction:
    return Fraction(2) ** k


def value(fmt: Format, bits: int) -> Fraction:
    """Exact value of a finite pattern."""
    sign = bits >> fmt.sign_shift
    e = biased_exp(fmt, bits)
    f = bits & fmt.frac_mask
    if e == 0:
        v = f * pow2(fmt.emin - fmt.frac_bits)
    else:
        v = (f + (1 << fmt.frac_bits)) * pow2(e - fmt.bias - fmt.frac_bits)
    return -v if sign else v


def floor_log2(x: Fraction) -> int:
    e = x.numerator.bit_length() - x.denominator.bit_length()
    return e - 1 if pow2(e) > x else e


def encode_exact(fmt: Format, v: Fraction) -> int:
    """Pattern of a positive value known to be representable."""
    p = fmt.frac_bits + 1
    if v < pow2(fmt.emin):
        n = v / pow2(fmt.emin - p + 1)
        assert n.denominator == 1
        return int(n)
    e = floor_log2(v)
    n = v / pow2(e - p + 1)
    assert n.denominator == 1
    return ((e + fmt.bias) << fmt.frac_bits) | (int(n) - (1 << fmt.frac_bits))


def ref_round(fmt: Format, x: Fraction, rm: int, zero_sign: int = 0) -> tuple[int, int]:
    """Round an exact rational to fmt per IEEE 754 with tininess after rounding."""
    if x == 0:
        return zero_sign << fmt.sign_shift, 0
    sign = int(x < 0)
    ax = -x if sign else x
    p = fmt.frac_bits + 1
    half = Fraction(1, 2)

    def round_to(q: int) -> tuple[int, bool]:
        scaled = ax / pow2(q)
        n = math.floor(scaled)
        frac = scaled - n
        if frac == 0:
            return n, False
        up = {RNE: frac > half or (frac == half and n % 2 == 1),
              RTZ: False, RDN: sign == 1, RUP: sign == 0, RMM: frac >= half}[rm]
        return n + int(up), True

    e = floor_log2(ax)
    n_unb, _ = round_to(e - p + 1)  # as if the exponent range were unbounded
    v_unb = n_unb * pow2(e - p + 1)
    largest = ((1 << p) - 1) * pow2(fmt.emax - p + 1)
    if v_unb > largest:
        to_inf = rm in (RNE, RMM) or (rm == RUP and not sign) or (rm == RDN and sign)
        return (sign << fmt.sign_shift) | (fmt.inf if to_inf else fmt.max_finite), OF | NX
    tiny = v_unb < pow2(fmt.emin)
    q = max(e, fmt.emin) - p + 1
    n, inexact = round_to(q)
    bits = encode_exact(fmt, n * pow2(q)) if n else 0
    flags = (NX if inexact else 0) | (UF if tiny and inexact else 0)
    return (sign << fmt.sign_shift) | bits, flags


def ref_zero_sign(zero_term_signs: list[int], all_zero: bool, rm: int) -> int:
    """IEEE sign of an exact zero sum: all terms zero -> like repeated x+y of zeros;
    cancellation of nonzero terms -> -0 only in RDN."""
    if not all_zero:
        return int(rm == RDN)
    if not zero_term_signs:
        return 0
    if rm == RDN:
        return int(any(zero_term_signs))
    return int(all(zero_term_signs))


def ref_sum_of_products(dst: Format, products, addend, rm: int) -> tuple[int, int]:
    operands = [(f, x) for f, a, b in products for x in (a, b)]
    if addend is not None:
        operands.append(addend)
    flags = NV if any(fp.is_snan(f, x) for f, x in operands) else 0
    nan = any(fp.is_nan(f, x) for f, x in operands)
    infs = []
    vals = []
    signs = []
    for f, a, b in products:
        if fp.is_nan(f, a) or fp.is_nan(f, b):
            continue
        s = (a ^ b) >> f.sign_shift
        if fp.is_inf(f, a) or fp.is_inf(f, b):
            if value_is_zero(f, a) or value_is_zero(f, b):
                flags |= NV  # inf * 0
                nan = True
            else:
                infs.append(s)
            continue
        vals.append(value(f, a) * value(f, b))
        signs.append(s)
    if addend is not None and not fp.is_nan(*addend):
        f, c = addend
        if fp.is_inf(f, c):
            infs.append(c >> f.sign_shift)
        else:
            vals.append(value(f, c))
            signs.append(c >> f.sign_shift)
    if nan:
        return dst.canonical_nan, flags
    if infs:
        if len(set(infs)) == 2:
            return dst.canonical_nan, flags | NV
        return (infs[0] << dst.sign_shift) | dst.inf, flags
    total = sum(vals, Fraction(0))
    zs = ref_zero_sign(signs, all(v == 0 for v in vals), rm)
    r, fl = ref_round(dst, total, rm, zs)
    return r, flags | fl


def value_is_zero(fmt: Format, x: int) -> bool:
    return not x & fmt.mag_mask


def ref_average(fmt: Format, a: int, b: int, rm: int) -> tuple[int, int]:
    if fp.is_nan(fmt, a) or fp.is_nan(fmt, b):
        return fmt.canonical_nan, NV if fp.is_snan(fmt, a) or fp.is_snan(fmt, b) else 0
    sa, sb = a >> fmt.sign_shift, b >> fmt.sign_shift
    if fp.is_inf(fmt, a) and fp.is_inf(fmt, b):
        return (a, 0) if sa == sb else (fmt.canonical_nan, NV)
    if fp.is_inf(fmt, a) or fp.is_inf(fmt, b):
        return (a if fp.is_inf(fmt, a) else b), 0
    va, vb = value(fmt, a), value(fmt, b)
    zs = ref_zero_sign([sa, sb], va == 0 and vb == 0, rm)
    return ref_round(fmt, (va + vb) / 2, rm, zs)


# ---------------------------------------------------------------------------
# Conventions of the oracle and explicit RISC-V rules
# ---------------------------------------------------------------------------

def test_softfloatpy_conventions():
    assert [m.value for m in sf.RoundingMode] == MODES
    assert sf.ExceptionFlag.INEXACT == NX and sf.ExceptionFlag.UNDERFLOW == UF
    assert sf.ExceptionFlag.OVERFLOW == OF and sf.ExceptionFlag.INFINITE == DZ
    assert sf.ExceptionFlag.INVALID == NV
    assert sf.get_tininess_mode() == sf.TininessMode.AFTER_ROUNDING
    # RISC-V specialization: canonical NaNs, saturating NaN conversion.
    r, fl = sf_call(RNE, sf.f32_add, enc(F32, 0x7FC12345), enc(F32, F32.one))
    assert (dec(r), fl) == (0x7FC00000, 0)
    r, fl = sf_call(RNE, sf.f16_mul, enc(F16, 0x7C01), enc(F16, F16.one))
    assert (dec(r), fl) == (0x7E00, NV)
    assert sf_to_int(F32, 0x7FC00000, RNE, True) == (0x7FFFFFFF, NV)
    assert sf_to_int(F32, 0x7FC00000, RNE, False) == (0xFFFFFFFF, NV)
    r, fl = sf_call(RNE, sf.f32_mul_add, enc(F32, F32.inf), enc(F32, 0), enc(F32, 0x7FC00000))
    assert (dec(r), fl) == (0x7FC00000, NV)


def test_format_constants():
    assert (F32.width, F32.bias, F32.canonical_nan, F32.inf, F32.max_finite) == (
        32, 127, 0x7FC00000, 0x7F800000, 0x7F7FFFFF)
    assert (F16.width, F16.bias, F16.canonical_nan, F16.inf, F16.max_finite) == (
        16, 15, 0x7E00, 0x7C00, 0x7BFF)
    assert F32 == Format("f32", 8, 23) and hash(F16) == hash(Format("f16", 5, 10))


@pytest.mark.parametrize("case", [
    # (function, args, expected)
    (fp.add, (F32, 0x3F800000, 0xBF800000, RNE), (0x00000000, 0)),
    (fp.add, (F32, 0x3F800000, 0xBF800000, RDN), (0x80000000, 0)),
    (fp.add, (F32, 0x80000000, 0x80000000, RNE), (0x80000000, 0)),
    (fp.add, (F32, 0x00000000, 0x80000000, RDN), (0x80000000, 0)),
    (fp.add, (F32, 0x7F800000, 0xFF800000, RNE), (0x7FC00000, NV)),
    (fp.add, (F32, 0x7F7FFFFF, 0x7F7FFFFF, RTZ), (0x7F7FFFFF, OF | NX)),
    (fp.add, (F32, 0x7F7FFFFF, 0x7F7FFFFF, RUP), (0x7F800000, OF | NX)),
    (fp.mul, (F16, 0x7C00, 0x0000, RNE), (0x7E00, NV)),
    (fp.div, (F32, 0x3F800000, 0x80000000, RNE), (0xFF800000, DZ)),
    (fp.div, (F32, 0x00000000, 0x00000000, RNE), (0x7FC00000, NV)),
    (fp.sqrt, (F32, 0x80000000, RNE), (0x80000000, 0)),
    (fp.sqrt, (F32, 0xBF800000, RNE), (0x7FC00000, NV)),
    # RISC-V fma: inf*0 + qNaN is invalid.
    (fp.fma, (F32, 0x7F800000, 0x00000000, 0x7FC00000, RNE), (0x7FC00000, NV)),
    (fp.fma, (F32, 0x3F800000, 0x3F800000, 0x3F800000, RNE, True, True), (0xC0000000, 0)),
    (fp.fma, (F32, 0x3F800000, 0x3F800000, 0x3F800000, RNE, False, True), (0x00000000, 0)),
    (fp.fma, (F32, 0x3F800000, 0x3F800000, 0x3F800000, RDN, False, True), (0x80000000, 0)),
    # Underflow: tiny and inexact; an exact subnormal raises nothing.
    (fp.mul, (F32, 0x00800000, 0x3F000000, RNE), (0x00400000, 0)),
    (fp.mul, (F32, 0x00800001, 0x3F000000, RNE), (0x00400000, UF | NX)),
    # Tininess after rounding: rounds up to min normal -> no UF.
    (fp.mul, (F32, 0x007FFFFF, 0x3F800001, RNE), (0x00800000, NX)),
    (fp.round_exact, (F32, 0, (1 << 25) - 1, -151, RNE), (0x00800000, NX)),
    # ... but a value that is exact at 24 bits below 2**-126 is tiny even if it rounds up.
    (fp.round_exact, (F32, 0, (1 << 24) - 1, -150, RUP), (0x00800000, UF | NX)),
    (fp.round_exact, (F32, 1, (1 << 24) - 1, -150, RUP), (0x807FFFFF, UF | NX)),
    (fp.round_exact, (F16, 1, 0, 7, RNE), (0x8000, 0)),
    (fp.round_exact, (F16, 1, 3, -26, RNE), (0x8001, UF | NX)),
])
def test_explicit_cases(case):
    fn, args, expected = case
    assert fn(*args) == expected


def test_compare_minmax_classify_explicit():
    q, s = F32.canonical_nan, F32.inf | 1
    one = F32.one
    assert fp.eq(F32, q, one) == (0, 0)          # feq is quiet
    assert fp.eq(F32, s, one) == (0, NV)
    assert fp.lt(F32, q, one) == (0, NV)         # flt / fle signal on any NaN
    assert fp.le(F32, one, q) == (0, NV)
    assert fp.eq(F32, 0, 0x80000000) == (1, 0)
    assert fp.lt(F32, 0x80000000, 0) == (0, 0)
    assert fp.min_(F32, 0, 0x80000000) == (0x80000000, 0)
    assert fp.max_(F32, 0x80000000, 0) == (0, 0)
    assert fp.min_(F32, q, one) == (one, 0)
    assert fp.max_(F32, one, s) == (one, NV)
    assert fp.min_(F32, s, 0x7FC12345) == (q, NV)
    assert fp.max_(F16, 0x7E01, 0xFE00) == (0x7E00, 0)
    expected = {0xFF800000: 0, 0xBF800000: 1, 0x807FFFFF: 2, 0x80000000: 3, 0: 4,
                1: 5, one: 6, 0x7F800000: 7, s: 8, q: 9}
    for bits, k in expected.items():
        assert fp.classify(F32, bits) == 1 << k


def test_to_int_riscv_rules():
    # fcvt saturation: these are the RISC-V rules (and what softfloatpy's RISC-V build does).
    assert fp.to_int(F32, 0x7FC00000, RNE, True) == (0x7FFFFFFF, NV)
    assert fp.to_int(F32, 0xFFC00000, RNE, False) == (0xFFFFFFFF, NV)
    assert fp.to_int(F32, 0xFF800000, RNE, True) == (0x80000000, NV)
    assert fp.to_int(F32, 0xFF800000, RNE, False) == (0, NV)
    assert fp.to_int(F32, 0x4F000000, RNE, True) == (0x7FFFFFFF, NV)        # 2**31
    assert fp.to_int(F32, 0xCF000000, RNE, True) == (0x80000000, 0)         # -2**31
    assert fp.to_int(F32, 0xBE99999A, RTZ, False) == (0, NX)                # -0.3 -> 0
    assert fp.to_int(F32, 0xBF333333, RNE, False) == (0, NV)                # -0.7 -> -1
    assert fp.to_int(F32, 0x80000000, RNE, False) == (0, 0)
    assert fp.to_int(F16, 0xC100, RMM, True) == ((-3) & M32, NX)            # -2.5
    assert fp.to_int(F16, 0xC100, RNE, True) == ((-2) & M32, NX)


def test_convert_and_from_int_explicit():
    assert fp.convert(F16, F32, 0x7C01, RNE) == (0x7FC00000, NV)
    assert fp.convert(F32, F16, 0xFFC12345, RNE) == (0x7E00, 0)
    assert fp.convert(F32, F16, 0x477FF000, RNE) == (0x7C00, OF | NX)       # 65520
    # RTZ: 65520 rounds to 65504 with an unbounded exponent, so it does not overflow.
    assert fp.convert(F32, F16, 0x477FF000, RTZ) == (0x7BFF, NX)
    assert fp.convert(F32, F16, 0x47800000, RTZ) == (0x7BFF, OF | NX)       # 65536
    assert fp.convert(F32, F32, 0x7F800001, RNE) == (0x7FC00000, NV)
    assert fp.convert(F16, F16, 0x3C00, RNE) == (0x3C00, 0)
    assert fp.from_int(F32, 0xFFFFFFFF, True, RNE) == (0xBF800000, 0)
    assert fp.from_int(F32, 0xFFFFFFFF, False, RNE) == (0x4F800000, NX)
    assert fp.from_int(F16, 65520, False, RNE) == (0x7C00, OF | NX)
    assert fp.from_int(F16, 0, True, RDN) == (0, 0)
    assert fp.neg(F16, 0x3C00) == 0xBC00 and fp.is_snan(F16, 0x7D00) and not fp.is_snan(F16, 0x7E00)


# ---------------------------------------------------------------------------
# Curated values: all pairs / triples, all modes, both formats
# ---------------------------------------------------------------------------

@fmt_param
@rm_param
def test_binary_ops_special_pairs(fmt, rm):
    vals = special_values(fmt)
    fails, total = [], 0
    for op in ("add", "sub", "mul", "div"):
        fn = getattr(fp, op)
        for a in vals:
            for b in vals:
                got, want = fn(fmt, a, b, rm), sf_float_op(fmt, op, rm, a, b)
                total += 1
                if got != want:
                    fails.append(f"{op}({hx(a)}, {hx(b)}): got {got} want {want}")
    assert not fails, report(fails, total)


@fmt_param
def test_compare_special_pairs(fmt):
    vals = special_values(fmt)
    fails, total = [], 0
    for op in ("eq", "lt", "le"):
        fn = getattr(fp, op)
        for a in vals:
            for b in vals:
                got, want = fn(fmt, a, b), sf_compare(fmt, op, a, b)
                total += 1
                if got != want:
                    fails.append(f"{op}({hx(a)}, {hx(b)}): got {got} want {want}")
    assert not fails, report(fails, total)


@fmt_param
@rm_param
def test_fma_special_triples(fmt, rm):
    vals = fma_values(fmt)
    fails, total = [], 0
    for np_ in (False, True):
        for na in (False, True):
            for a in vals:
                for b in vals:
                    for c in vals:
                        got = fp.fma(fmt, a, b, c, rm, np_, na)
                        want = sf_fma(fmt, a, b, c, rm, np_, na)
                        total += 1
                        if got != want:
                            fails.append(f"fma({hx(a)}, {hx(b)}, {hx(c)}, np={np_}, "
                                         f"na={na}): got {got} want {want}")
    assert not fails, report(fails, total)


@fmt_param
@rm_param
def test_unary_special_values(fmt, rm):
    other = F16 if fmt is F32 else F32
    fails, total = [], 0
    for a in special_values(fmt):
        checks = [
            ("sqrt", fp.sqrt(fmt, a, rm), sf_float_op(fmt, "sqrt", rm, a)),
            ("to_i32", fp.to_int(fmt, a, rm, True), sf_to_int(fmt, a, rm, True)),
            ("to_u32", fp.to_int(fmt, a, rm, False), sf_to_int(fmt, a, rm, False)),
            ("convert", fp.convert(fmt, other, a, rm), sf_convert(fmt, other, a, rm)),
        ]
        for name, got, want in checks:
            total += 1
            if got != want:
                fails.append(f"{name}({hx(a)}): got {got} want {want}")
    assert not fails, report(fails, total)


# ---------------------------------------------------------------------------
# Biased random patterns (seeded, deterministic)
# ---------------------------------------------------------------------------

N_RANDOM = 5000  # per (format, rounding mode, operation)


@fmt_param
@rm_param
def test_random_add_sub_mul_div(fmt, rm):
    rng = random.Random(f"arith-{fmt.name}-{rm}")
    fails, total = [], 0
    for op in ("add", "sub", "mul", "div"):
        fn = getattr(fp, op)
        for _ in range(N_RANDOM):
            a = rand_bits(rng, fmt)
            if op in ("add", "sub"):
                b = rand_bits(rng, fmt, near=biased_exp(fmt, a))
            else:  # products/quotients near the overflow/underflow thresholds too
                target = rng.choice([fmt.bias, 2 * fmt.bias - biased_exp(fmt, a),
                                     biased_exp(fmt, a), fmt.bias + rng.randint(-fmt.bias, fmt.bias)])
                b = rand_bits(rng, fmt, near=target)
            got, want = fn(fmt, a, b, rm), sf_float_op(fmt, op, rm, a, b)
            total += 1
            if got != want:
                fails.append(f"{op}({hx(a)}, {hx(b)}): got {got} want {want}")
    assert not fails, report(fails, total)


@fmt_param
@rm_param
def test_random_fma(fmt, rm):
    rng = random.Random(f"fma-{fmt.name}-{rm}")
    fails, total = [], 0
    for i in range(2 * N_RANDOM):
        np_, na = bool(i & 1), bool(i & 2)
        a = rand_bits(rng, fmt)
        b = rand_bits(rng, fmt, near=rng.choice([fmt.bias, 2 * fmt.bias - biased_exp(fmt, a)]))
        # Addend near the product's exponent: exercises massive cancellation.
        pe = biased_exp(fmt, a) + biased_exp(fmt, b) - fmt.bias
        c = rand_bits(rng, fmt, near=pe if 0 <= pe <= fmt.exp_special else None)
        got, want = fp.fma(fmt, a, b, c, rm, np_, na), sf_fma(fmt, a, b, c, rm, np_, na)
        total += 1
        if got != want:
            fails.append(f"fma({hx(a)}, {hx(b)}, {hx(c)}, np={np_}, na={na}): "
                         f"got {got} want {want}")
    assert not fails, report(fails, total)


@fmt_param
def test_random_compare(fmt):
    rng = random.Random(f"cmp-{fmt.name}")
    fails, total = [], 0
    for _ in range(N_RANDOM):
        a = rand_bits(rng, fmt)
        b = a if rng.random() < 0.1 else rand_bits(rng, fmt, near=biased_exp(fmt, a))
        for op in ("eq", "lt", "le"):
            got, want = getattr(fp, op)(fmt, a, b), sf_compare(fmt, op, a, b)
            total += 1
            if got != want:
                fails.append(f"{op}({hx(a)}, {hx(b)}): got {got} want {want}")
    assert not fails, report(fails, total)


@rm_param
def test_random_f32_unary(rm):
    rng = random.Random(f"unary-f32-{rm}")
    fails, total = [], 0
    for _ in range(N_RANDOM):
        a = rand_bits(rng, F32)
        # Values whose magnitude is around the int32 range or a few units.
        i = (rng.getrandbits(1) << 31) | (rng.choice([F32.bias + rng.randint(-2, 33),
                                                        F32.bias + rng.randint(-2, 3)]) << 23) \
            | rng.getrandbits(23)
        # F16 range, including halfway points of the F16 grid (13 dropped bits).
        h = (rng.getrandbits(1) << 31) | ((rng.randint(127 - 26, 127 + 16)) << 23) \
            | (rng.getrandbits(10) << 13) | rng.choice([0, 0x1000, 0x0FFF, 0x1001, rng.getrandbits(13)])
        checks = [
            ("sqrt", a, fp.sqrt(F32, a, rm), sf_float_op(F32, "sqrt", rm, a)),
            ("to_i32", i, fp.to_int(F32, i, rm, True), sf_to_int(F32, i, rm, True)),
            ("to_u32", i, fp.to_int(F32, i, rm, False), sf_to_int(F32, i, rm, False)),
            ("to_f16", a, fp.convert(F32, F16, a, rm), sf_convert(F32, F16, a, rm)),
            ("to_f16", h, fp.convert(F32, F16, h, rm), sf_convert(F32, F16, h, rm)),
        ]
        for name, x, got, want in checks:
            total += 1
            if got != want:
                fails.append(f"{name}({hx(x)}): got {got} want {want}")
    assert not fails, report(fails, total)


@fmt_param
@rm_param
def test_random_from_int(fmt, rm):
    rng = random.Random(f"from_int-{fmt.name}-{rm}")
    fails, total = [], 0
    for _ in range(N_RANDOM):
        r = rng.random()
        if r < 0.3:
            v = rng.getrandbits(32)
        elif r < 0.6:  # near powers of two: rounding and carry boundaries
            v = ((1 << rng.randint(0, 31)) + rng.randint(-3, 3)) & M32
        elif r < 0.8:  # near the F16 overflow threshold / grid
            v = (rng.choice([65504, 65519, 65520, 65535, 2048, 4096]) + rng.randint(-2, 2)) & M32
        else:
            v = rng.getrandbits(rng.randint(1, 32))
        if rng.random() < 0.5:
            v = (-v) & M32
        for signed in (True, False):
            got, want = fp.from_int(fmt, v, signed, rm), sf_from_int(fmt, v, signed, rm)
            total += 1
            if got != want:
                fails.append(f"from_int({hx(v)}, signed={signed}): got {got} want {want}")
    assert not fails, report(fails, total)


@settings(max_examples=1500, deadline=None, database=None, derandomize=True)
@given(fmt=st.sampled_from(FORMATS), rm=st.sampled_from(MODES), data=st.data())
def test_hypothesis_fma_add(fmt, rm, data):
    pattern = st.one_of(st.integers(0, fmt.mask), st.sampled_from(special_values(fmt)))
    a, b, c = data.draw(pattern), data.draw(pattern), data.draw(pattern)
    assert fp.fma(fmt, a, b, c, rm) == sf_fma(fmt, a, b, c, rm, False, False)
    assert fp.add(fmt, a, c, rm) == sf_float_op(fmt, "add", rm, a, c)


# ---------------------------------------------------------------------------
# Exhaustive F16 unary operations
# ---------------------------------------------------------------------------

ALL_F16 = range(1 << 16)


@rm_param
def test_f16_exhaustive_sqrt_to_int(rm):
    fails, total = [], 0
    for a in ALL_F16:
        checks = [
            ("sqrt", fp.sqrt(F16, a, rm), sf_float_op(F16, "sqrt", rm, a)),
            ("to_i32", fp.to_int(F16, a, rm, True), sf_to_int(F16, a, rm, True)),
            ("to_u32", fp.to_int(F16, a, rm, False), sf_to_int(F16, a, rm, False)),
        ]
        for name, got, want in checks:
            total += 1
            if got != want:
                fails.append(f"{name}({hx(a)}): got {got} want {want}")
    assert not fails, report(fails, total)


def test_f16_exhaustive_to_f32_and_classify():
    fails = []
    for a in ALL_F16:
        got, want = fp.convert(F16, F32, a, RDN), sf_convert(F16, F32, a, RDN)
        if got != want:
            fails.append(f"to_f32({hx(a)}): got {got} want {want}")
        # Round trip is exact for every non-NaN F16.
        if not fp.is_nan(F16, a) and fp.convert(F32, F16, got[0], RUP) != (a, 0):
            fails.append(f"round trip {hx(a)}")
        x = enc(F16, a)
        if x.is_nan():
            k = 8 if x.is_signaling_nan() else 9
        elif x.is_inf():
            k = 0 if a >> 15 else 7
        elif a & 0x7FFF == 0:
            k = 3 if a >> 15 else 4
        elif abs(x.to_float()) < 2.0 ** -14:
            k = 2 if a >> 15 else 5
        else:
            k = 1 if a >> 15 else 6
        if fp.classify(F16, a) != 1 << k:
            fails.append(f"classify({hx(a)}) = {fp.classify(F16, a):#x}, want bit {k}")
    assert not fails, report(fails, 1 << 16)


@pytest.mark.parametrize("rm", [RNE, RDN, RMM], ids=["rne", "rdn", "rmm"])
def test_f32_to_f16_grid_boundaries(rm):
    """Every F16 grid point's F32 neighbourhood: exact, halfway and halfway +- 1 ULP."""
    fails, total = [], 0
    for h in range(0, F16.inf):
        lo = fp.convert(F16, F32, h, RNE)[0]
        hi = fp.convert(F16, F32, h + 1, RNE)[0] if h + 1 < F16.inf else 0x47800000  # 2**16
        mid = (lo + hi) // 2
        for x in (lo, mid - 1, mid, mid + 1):
            x |= (h & 1) << 31  # both signs, alternating
            got, want = fp.convert(F32, F16, x, rm), sf_convert(F32, F16, x, rm)
            total += 1
            if got != want:
                fails.append(f"to_f16({hx(x)}): got {got} want {want}")
    assert not fails, report(fails, total)


# ---------------------------------------------------------------------------
# Fraction-oracle tests: round_exact, sum_of_products, average, min/max
# ---------------------------------------------------------------------------

@fmt_param
def test_fraction_oracle_agrees_with_softfloat(fmt):
    """Validates the slow oracle itself on exact fma values."""
    rng = random.Random(f"oracle-{fmt.name}")
    for i in range(600):
        rm = MODES[i % 5]
        a, b, c = (rand_bits(rng, fmt) & ~fmt.exp_mask | (rng.randint(0, fmt.exp_special - 1)
                                                          << fmt.frac_bits) for _ in range(3))
        exact = value(fmt, a) * value(fmt, b) + value(fmt, c)
        if exact == 0:
            continue
        assert ref_round(fmt, exact, rm) == sf_fma(fmt, a, b, c, rm, False, False), (a, b, c, rm)


@fmt_param
@rm_param
def test_round_exact_vs_fraction_oracle(fmt, rm):
    rng = random.Random(f"round-{fmt.name}-{rm}")
    p = fmt.precision
    fails = []
    for _ in range(400):
        r = rng.random()
        if r < 0.4:
            sig = rng.getrandbits(rng.randint(1, 3 * p))
        elif r < 0.7:  # all-ones prefix with a chosen tail: carry and halfway cases
            k = rng.randint(1, p + 3)
            sig = (((1 << p) - 1) << k) + rng.choice([0, 1, (1 << (k - 1)) - 1, 1 << (k - 1),
                                                      (1 << (k - 1)) + 1, rng.getrandbits(k)])
        else:
            k = rng.randint(1, p + 5)
            sig = (rng.getrandbits(p) << k) | rng.choice([1 << (k - 1), 0, 1])
        n = max(sig.bit_length(), 1)
        # Place the leading bit anywhere from far below the subnormals to above overflow.
        top = rng.choice([rng.randint(fmt.qmin - 3, fmt.emin + 1), rng.randint(fmt.emax - 1, fmt.emax + 2),
                          rng.randint(fmt.qmin - 3, fmt.emax + 2)])
        exp = top - n + 1
        sign = rng.getrandbits(1)
        got = fp.round_exact(fmt, sign, sig, exp, rm)
        x = sig * pow2(exp)
        want = ref_round(fmt, -x if sign else x, rm, sign)
        if got != want:
            fails.append(f"round_exact({sign}, {hx(sig)}, {exp}): got {got} want {want}")
    assert not fails, report(fails, 400)


def _random_operand(rng: random.Random, fmt: Format) -> int:
    if rng.random() < 0.08:
        return rng.choice(special_values(fmt))
    return rand_bits(rng, fmt)


@rm_param
def test_sum_of_products_vs_fraction_oracle(rm):
    rng = random.Random(f"sop-{rm}")
    fails = []
    n_cases = 500
    for _ in range(n_cases):
        dst = rng.choice(FORMATS)
        products = []
        for _ in range(rng.randint(0, 4)):
            f = rng.choice(FORMATS)
            a = _random_operand(rng, f)
            products.append((f, a, _random_operand(rng, f)))
        addend = None
        if rng.random() < 0.8:
            f = rng.choice(FORMATS)
            c = _random_operand(rng, f)
            if products and rng.random() < 0.5 and not any(fp.is_nan(g, x) or fp.is_inf(g, x)
                                                           for g, x, _ in products):
                # Cancel the first product (to within rounding): massive cancellation.
                g, a, b = products[0]
                if not (fp.is_nan(g, b) or fp.is_inf(g, b)):
                    c = fp.mul(f, *(fp.convert(g, f, x, RNE)[0] for x in (a, b)), RNE)[0] ^ f.sign_mask
            addend = (f, c)
        got = fp.sum_of_products(dst, products, addend, rm)
        want = ref_sum_of_products(dst, products, addend, rm)
        if got != want:
            fails.append(f"sum_of_products({dst.name}, {products}, {addend}): got {got} want {want}")
    assert not fails, report(fails, n_cases)


@pytest.mark.parametrize("case", [
    # Zero-sum signs and specials, checked against the oracle and by hand.
    (F32, [], None, RNE, (0, 0)),
    (F32, [(F32, 0x80000000, 0x3F800000)], (F32, 0x80000000), RNE, (0x80000000, 0)),
    (F32, [(F32, 0x80000000, 0x3F800000)], (F32, 0x00000000), RNE, (0x00000000, 0)),
    (F32, [(F32, 0x80000000, 0x3F800000)], (F32, 0x00000000), RDN, (0x80000000, 0)),
    (F32, [(F32, 0x3F800000, 0x3F800000), (F32, 0xBF800000, 0x3F800000)], None, RNE, (0, 0)),
    (F32, [(F32, 0x3F800000, 0x3F800000), (F32, 0xBF800000, 0x3F800000)], None, RDN,
     (0x80000000, 0)),
    (F32, [(F16, 0x7C00, 0x3C00), (F16, 0xFC00, 0x3C00)], None, RNE, (0x7FC00000, NV)),
    (F32, [(F16, 0x7C00, 0x0000)], (F32, 0x7FC00000), RNE, (0x7FC00000, NV)),
    (F16, [(F32, 0x7F800000, 0x3F800000)], (F16, 0x7D00), RNE, (0x7E00, NV)),
    (F16, [(F32, 0x7F800000, 0x3F800000)], (F16, 0x7E00), RNE, (0x7E00, 0)),
    (F32, [(F16, 0x7BFF, 0x7BFF), (F16, 0x7BFF, 0x7BFF)], None, RNE, (0x4FFFC004, 0)),
    (F16, [(F16, 0x7BFF, 0x7BFF)], (F16, 0xFC00), RNE, (0xFC00, 0)),
])
def test_sum_of_products_explicit(case):
    dst, products, addend, rm, expected = case
    assert fp.sum_of_products(dst, products, addend, rm) == expected
    assert ref_sum_of_products(dst, products, addend, rm) == expected


@fmt_param
def test_sum_of_products_single_term_equals_fma(fmt):
    rng = random.Random(f"sop-fma-{fmt.name}")
    vals = fma_values(fmt)
    triples = [(a, b, c) for a in vals for b in vals for c in vals[::3]]
    triples += [(rand_bits(rng, fmt), rand_bits(rng, fmt), rand_bits(rng, fmt)) for _ in range(3000)]
    fails = []
    for i, (a, b, c) in enumerate(triples):
        rm = MODES[i % 5]
        got = fp.sum_of_products(fmt, [(fmt, a, b)], (fmt, c), rm)
        want = fp.fma(fmt, a, b, c, rm)
        if got != want:
            fails.append(f"({hx(a)}, {hx(b)}, {hx(c)}) rm={rm}: got {got} want {want}")
    assert not fails, report(fails, len(triples))


@fmt_param
def test_average_vs_fraction_oracle(fmt):
    rng = random.Random(f"avg-{fmt.name}")
    vals = special_values(fmt)
    pairs = [(a, b) for a in vals for b in vals[::2]]
    pairs += [(a, rand_bits(rng, fmt, near=biased_exp(fmt, a)))
              for a in (rand_bits(rng, fmt) for _ in range(1500))]
    fails = []
    for i, (a, b) in enumerate(pairs):
        rm = MODES[i % 5]
        got, want = fp.average(fmt, a, b, rm), ref_average(fmt, a, b, rm)
        if got != want:
            fails.append(f"average({hx(a)}, {hx(b)}) rm={rm}: got {got} want {want}")
    assert not fails, report(fails, len(pairs))


def ref_minmax(fmt: Format, a: int, b: int, want_max: bool) -> tuple[int, int]:
    flags = NV if fp.is_snan(fmt, a) or fp.is_snan(fmt, b) else 0
    if fp.is_nan(fmt, a) and fp.is_nan(fmt, b):
        return fmt.canonical_nan, flags
    if fp.is_nan(fmt, a) or fp.is_nan(fmt, b):
        return (b if fp.is_nan(fmt, a) else a), flags

    def key(x):  # (value, sign tiebreak): -0 < +0
        v = math.inf if fp.is_inf(fmt, x) else value(fmt, x)
        v = -v if fp.is_inf(fmt, x) and x >> fmt.sign_shift else v
        return (v, 0 if x >> fmt.sign_shift else 1)
    return (max if want_max else min)(a, b, key=key), flags


@fmt_param
def test_min_max_vs_reference(fmt):
    rng = random.Random(f"minmax-{fmt.name}")
    vals = special_values(fmt)
    pairs = [(a, b) for a in vals for b in vals]
    pairs += [(rand_bits(rng, fmt), rand_bits(rng, fmt)) for _ in range(3000)]
    fails = []
    for a, b in pairs:
        for want_max, fn in ((False, fp.min_), (True, fp.max_)):
            got, want = fn(fmt, a, b), ref_minmax(fmt, a, b, want_max)
            if got != want:
                fails.append(f"{fn.__name__}({hx(a)}, {hx(b)}): got {got} want {want}")
    assert not fails, report(fails, 2 * len(pairs))
