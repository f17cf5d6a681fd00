"""Bit-exact IEEE 754 binary32 / binary16 arithmetic with RISC-V semantics.

This module is the executable specification of the simulator's FPU.  All
operands and results are raw, unsigned bit patterns; every operation returns
``(result_bits, fflags)`` with the RISC-V fcsr flag layout.

Design
------
* A finite operand is decoded into an exact value ``(-1)**sign * sig * 2**exp``
  with integer ``sig`` and ``exp`` (:func:`decode`).
* Each operation first deals with its special operands (NaN, infinity, and
  the zero cases that have a defined sign or raise a flag), then computes the
  *exact* result in the same sign/significand/exponent form.  Python ints are
  unbounded and these formats are small, so aligning operands for an add, an
  FMA or a dot product never needs more than a few hundred bits: no guard or
  sticky approximations are needed there.  Division and square root have no
  finite binary expansion; they produce a truncated result of at least p+2
  significant bits followed by a sticky bit (1 if the remainder is nonzero),
  which rounds exactly like the true value.
* That exact value goes to the single rounding routine :func:`round_exact`,
  which implements the five rounding modes, overflow, underflow with
  tininess detected after rounding, subnormals and signed zeros.  Because
  there is exactly one rounding routine, fused operations (fma,
  sum_of_products, average) are single-rounding by construction.

RISC-V specifics encoded here: NaN results are always the canonical NaN (no
payload propagation); ``fmin``/``fmax`` follow IEEE 754-2019
minimumNumber/maximumNumber; ``fma`` raises NV for ``inf * 0`` even when the
addend is a quiet NaN; ``fcvt.w[u]`` saturates (NaN -> maximum).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import isqrt

# Rounding modes = RISC-V frm encodings.
RNE, RTZ, RDN, RUP, RMM = 0, 1, 2, 3, 4
# fflags bits (RISC-V fcsr layout).
NX, UF, OF, DZ, NV = 1, 2, 4, 8, 16

_M32 = 0xFFFFFFFF


@dataclass(frozen=True)
class Format:
    """An IEEE 754 binary interchange format; derived constants are precomputed."""

    name: str
    exp_bits: int
    frac_bits: int
    # Derived constants (filled in by __post_init__; excluded from eq/hash/repr).
    width: int = field(init=False, repr=False, compare=False)
    precision: int = field(init=False, repr=False, compare=False)  # p = frac_bits + 1
    bias: int = field(init=False, repr=False, compare=False)
    emax: int = field(init=False, repr=False, compare=False)
    emin: int = field(init=False, repr=False, compare=False)
    qmin: int = field(init=False, repr=False, compare=False)  # exponent of the subnormal LSB
    exp_special: int = field(init=False, repr=False, compare=False)  # all-ones exponent field
    sign_shift: int = field(init=False, repr=False, compare=False)
    sign_mask: int = field(init=False, repr=False, compare=False)
    mag_mask: int = field(init=False, repr=False, compare=False)
    exp_mask: int = field(init=False, repr=False, compare=False)
    frac_mask: int = field(init=False, repr=False, compare=False)
    hidden_bit: int = field(init=False, repr=False, compare=False)
    quiet_bit: int = field(init=False, repr=False, compare=False)
    mask: int = field(init=False, repr=False, compare=False)
    inf: int = field(init=False, repr=False, compare=False)  # +infinity
    max_finite: int = field(init=False, repr=False, compare=False)
    min_normal: int = field(init=False, repr=False, compare=False)
    one: int = field(init=False, repr=False, compare=False)
    canonical_nan: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        def put(name: str, value: int) -> None:
            object.__setattr__(self, name, value)

        eb, fb = self.exp_bits, self.frac_bits
        width = 1 + eb + fb
        bias = (1 << (eb - 1)) - 1
        put("width", width)
        put("precision", fb + 1)
        put("bias", bias)
        put("emax", bias)
        put("emin", 1 - bias)
        put("qmin", 1 - bias - fb)
        put("exp_special", (1 << eb) - 1)
        put("sign_shift", width - 1)
        put("sign_mask", 1 << (width - 1))
        put("mag_mask", (1 << (width - 1)) - 1)
        put("exp_mask", ((1 << eb) - 1) << fb)
        put("frac_mask", (1 << fb) - 1)
        put("hidden_bit", 1 << fb)
        put("quiet_bit", 1 << (fb - 1))
        put("mask", (1 << width) - 1)
        put("inf", ((1 << eb) - 1) << fb)
        put("max_finite", (((1 << eb) - 1) << fb) - 1)
        put("min_normal", 1 << fb)
        put("one", bias << fb)
        put("canonical_nan", (((1 << eb) - 1) << fb) | (1 << (fb - 1)))


F32 = Format("f32", 8, 23)  # canonical NaN 0x7fc00000
F16 = Format("f16", 5, 10)  # canonical NaN 0x7e00
# bfloat16, smallFloat's "alternative half" (Xf16alt): the exponent range of binary32 with 8 significant
# bits; the same IEEE rules (subnormals, RISC-V canonical NaN 0x7fc0) apply.
BF16 = Format("bf16", 8, 7)


# ---------------------------------------------------------------------------
# Classification helpers
# ---------------------------------------------------------------------------

def is_nan(fmt: Format, a: int) -> bool:
    return (a & fmt.mag_mask) > fmt.inf


def is_snan(fmt: Format, a: int) -> bool:
    return (a & fmt.mag_mask) > fmt.inf and not (a & fmt.quiet_bit)


def is_inf(fmt: Format, a: int) -> bool:
    return (a & fmt.mag_mask) == fmt.inf


def is_zero(fmt: Format, a: int) -> bool:
    return not a & fmt.mag_mask


def neg(fmt: Format, a: int) -> int:
    """Sign flip (fsgnjn rd, a, a): no flags, NaNs untouched except the sign."""
    return a ^ fmt.sign_mask


def decode(fmt: Format, a: int) -> tuple[int, int, int]:
    """Exact value of a finite pattern as (sign, sig, exp): (-1)**sign * sig * 2**exp."""
    fb = fmt.frac_bits
    e = (a >> fb) & fmt.exp_special
    sig = a & fmt.frac_mask
    if e:
        sig |= fmt.hidden_bit
    else:
        e = 1  # subnormals share the exponent of the smallest normal
    return a >> fmt.sign_shift, sig, e - 1 + fmt.qmin


def _round_up(lsb: int, rem: int, half: int, sign: int, rm: int) -> bool:
    """Whether dropping `rem` (nonzero, `half` = half an ULP) rounds the magnitude up."""
    if rm == RNE:
        return rem > half or (rem == half and bool(lsb))
    if rm == RTZ:
        return False
    if rm == RDN:
        return bool(sign)
    if rm == RUP:
        return not sign
    if rm == RMM:
        return rem >= half
    raise ValueError(f"invalid rounding mode {rm}")


def _nan_result(fmt: Format, *operands: tuple[Format, int]) -> tuple[int, int]:
    """Canonical NaN, with NV if any operand is a signaling NaN."""
    for f, x in operands:
        if is_snan(f, x):
            return fmt.canonical_nan, NV
    return fmt.canonical_nan, 0


# ---------------------------------------------------------------------------
# The one rounding routine
# ---------------------------------------------------------------------------

def round_exact(fmt: Format, sign: int, sig: int, exp: int, rm: int) -> tuple[int, int]:
    """Round (-1)**sign * sig * 2**exp to `fmt` (sig >= 0, any size).

    Overflow gives OF|NX and infinity or the largest finite number depending
    on the rounding direction.  Tininess is detected after rounding (the value
    rounded to p bits with an unbounded exponent is below 2**emin) and UF is
    raised only if the result is also inexact.  A zero `sig` gives a zero with
    the given sign.
    """
    sbit = sign << fmt.sign_shift
    if sig <= 0:
        if sig < 0:
            raise ValueError("sig must be >= 0")
        return sbit, 0
    fb = fmt.frac_bits
    qmin = fmt.qmin
    n = sig.bit_length()
    top = exp + n - 1  # exponent of the leading bit: 2**top <= value < 2**(top+1)
    q = top - fb  # exponent of the result's LSB when normal ...
    if q < qmin:
        q = qmin  # ... fixed at the subnormal LSB below the normal range
    shift = q - exp
    if shift <= 0:  # fits: exact
        bits = ((q - qmin) << fb) + (sig << -shift)
        if bits >= fmt.inf:
            return _overflow(fmt, sign, rm)
        return sbit | bits, 0
    m = sig >> shift
    rem = sig & ((1 << shift) - 1)
    if not rem:
        bits = ((q - qmin) << fb) + m
        if bits >= fmt.inf:
            return _overflow(fmt, sign, rm)
        return sbit | bits, 0
    half = 1 << (shift - 1)
    if rm == RNE:
        up = rem > half or (rem == half and m & 1)
    elif rm == RTZ:
        up = False
    else:
        up = _round_up(m & 1, rem, half, sign, rm)
    if up:
        m += 1
    # Encoding trick: for a normal result, m includes the hidden bit, so adding
    # it to the (biased exponent - 1) field yields the right pattern, and a
    # carry out of the significand (m == 2**p, or a subnormal rounding up to
    # the smallest normal) bumps the exponent field by itself.
    bits = ((q - qmin) << fb) + m
    if bits >= fmt.inf:
        return _overflow(fmt, sign, rm)
    flags = NX
    if top < fmt.emin and _tiny_after_rounding(fmt, sign, sig, exp, top, rm):
        flags |= UF
    return sbit | bits, flags


def _tiny_after_rounding(fmt: Format, sign: int, sig: int, exp: int, top: int, rm: int) -> bool:
    """For an inexact value below 2**emin: is it still below after rounding to p bits?"""
    if top < fmt.emin - 1:
        return True  # rounding to p bits can at most double it: still < 2**emin
    # top == emin - 1: only an all-ones p-bit prefix that rounds up reaches 2**emin.
    shift = sig.bit_length() - fmt.precision
    if shift <= 0:
        return True  # exact at p bits, so it stays below 2**emin
    m = sig >> shift
    rem = sig & ((1 << shift) - 1)
    if m != (1 << fmt.precision) - 1 or not rem:
        return True
    return not _round_up(1, rem, 1 << (shift - 1), sign, rm)


def _overflow(fmt: Format, sign: int, rm: int) -> tuple[int, int]:
    # Modes that round away from this sign's direction stop at the largest finite.
    to_max = rm == RTZ or (rm == RDN and not sign) or (rm == RUP and sign)
    bits = fmt.max_finite if to_max else fmt.inf
    return (sign << fmt.sign_shift) | bits, OF | NX


def _signed_sum(sa: int, ma: int, ea: int, sb: int, mb: int, eb: int) -> tuple[int, int, int]:
    """(-1)**sa * ma * 2**ea + (-1)**sb * mb * 2**eb exactly, aligned on the smaller exponent, as
    (sign, magnitude, exponent). A zero magnitude's sign means nothing: callers apply the IEEE rule."""
    if ea >= eb:
        ma <<= ea - eb
        e = eb
    else:
        mb <<= eb - ea
        e = ea
    if sa == sb:
        return sa, ma + mb, e
    s = ma - mb
    return (sa, s, e) if s >= 0 else (sb, -s, e)


def _exact_zero_sign(all_same_sign: bool, sign: int, rm: int) -> int:
    """Sign of an exactly-zero sum (IEEE 754 6.3)."""
    if all_same_sign:
        return sign  # x + x, including (+0)+(+0) and (-0)+(-0)
    return 1 if rm == RDN else 0  # cancellation or mixed zeros


# ---------------------------------------------------------------------------
# Addition, subtraction, average
# ---------------------------------------------------------------------------

def add(fmt: Format, a: int, b: int, rm: int) -> tuple[int, int]:
    return _add(fmt, a, b, rm, 0)


def sub(fmt: Format, a: int, b: int, rm: int) -> tuple[int, int]:
    # Flipping b's sign is safe for NaNs too: the result is canonical anyway and
    # the signaling bit is untouched.
    return _add(fmt, a, b ^ fmt.sign_mask, rm, 0)


def average(fmt: Format, a: int, b: int, rm: int) -> tuple[int, int]:
    """round((a + b) / 2) with a single rounding (no intermediate overflow)."""
    return _add(fmt, a, b, rm, 1)


def _finite_significands(fmt: Format, a: int, ea: int, b: int, eb: int) -> tuple[int, int, int, int]:
    """Significands and exponent fields of two finite operands (exponent fields ea, eb), as
    (ma, ea, mb, eb): normal numbers get their hidden bit, subnormals the exponent 1."""
    ma = a & fmt.frac_mask
    mb = b & fmt.frac_mask
    if ea:
        ma |= fmt.hidden_bit
    else:
        ea = 1
    if eb:
        mb |= fmt.hidden_bit
    else:
        eb = 1
    return ma, ea, mb, eb


def _add(fmt: Format, a: int, b: int, rm: int, halve: int) -> tuple[int, int]:
    fb = fmt.frac_bits
    es = fmt.exp_special
    ea = (a >> fb) & es
    eb = (b >> fb) & es
    ss = fmt.sign_shift
    sa = a >> ss
    sb = b >> ss
    if ea == es or eb == es:
        if is_nan(fmt, a) or is_nan(fmt, b):
            return _nan_result(fmt, (fmt, a), (fmt, b))
        if ea == es and eb == es and sa != sb:
            return fmt.canonical_nan, NV  # inf - inf
        return (a if ea == es else b), 0
    ma, ea, mb, eb = _finite_significands(fmt, a, ea, b, eb)
    sign, s, e = _signed_sum(sa, ma, ea, sb, mb, eb)
    if not s:
        return _exact_zero_sign(sa == sb, sa, rm) << ss, 0
    return round_exact(fmt, sign, s, e - 1 + fmt.qmin - halve, rm)


# ---------------------------------------------------------------------------
# Multiplication, division, square root
# ---------------------------------------------------------------------------

def mul(fmt: Format, a: int, b: int, rm: int) -> tuple[int, int]:
    fb = fmt.frac_bits
    es = fmt.exp_special
    ea = (a >> fb) & es
    eb = (b >> fb) & es
    ss = fmt.sign_shift
    sign = (a ^ b) >> ss
    if ea == es or eb == es:
        if is_nan(fmt, a) or is_nan(fmt, b):
            return _nan_result(fmt, (fmt, a), (fmt, b))
        if is_zero(fmt, a) or is_zero(fmt, b):
            return fmt.canonical_nan, NV  # inf * 0
        return (sign << ss) | fmt.inf, 0
    ma, ea, mb, eb = _finite_significands(fmt, a, ea, b, eb)
    return round_exact(fmt, sign, ma * mb, ea + eb - 2 + 2 * fmt.qmin, rm)


def div(fmt: Format, a: int, b: int, rm: int) -> tuple[int, int]:
    ss = fmt.sign_shift
    sign = (a ^ b) >> ss
    if is_nan(fmt, a) or is_nan(fmt, b):
        return _nan_result(fmt, (fmt, a), (fmt, b))
    a_inf, b_inf = is_inf(fmt, a), is_inf(fmt, b)
    if a_inf or b_inf:
        if a_inf and b_inf:
            return fmt.canonical_nan, NV
        return ((sign << ss) | fmt.inf if a_inf else sign << ss), 0
    _, ma, xa = decode(fmt, a)
    _, mb, xb = decode(fmt, b)
    if not mb:
        if not ma:
            return fmt.canonical_nan, NV  # 0 / 0
        return (sign << ss) | fmt.inf, DZ
    if not ma:
        return sign << ss, 0
    # Quotient with >= p+2 bits, then a sticky bit: rounds like the exact value.
    k = max(fmt.precision + 2 + mb.bit_length() - ma.bit_length(), 0)
    quo, r = divmod(ma << k, mb)
    return round_exact(fmt, sign, (quo << 1) | (r != 0), xa - xb - k - 1, rm)


def sqrt(fmt: Format, a: int, rm: int) -> tuple[int, int]:
    if is_nan(fmt, a):
        return _nan_result(fmt, (fmt, a))
    if is_zero(fmt, a):
        return a, 0  # sqrt(-0) = -0
    if a >> fmt.sign_shift:
        return fmt.canonical_nan, NV
    if a == fmt.inf:
        return a, 0
    _, sig, exp = decode(fmt, a)
    # Radicand with >= 2(p+2) bits and an even exponent: root has >= p+2 bits.
    sh = max(2 * (fmt.precision + 2) - sig.bit_length(), 0)
    if (exp - sh) & 1:
        sh += 1
    rad = sig << sh
    root = isqrt(rad)
    sticky = root * root != rad
    return round_exact(fmt, 0, (root << 1) | sticky, ((exp - sh) >> 1) - 1, rm)


# ---------------------------------------------------------------------------
# Fused multiply-add and fused dot product
# ---------------------------------------------------------------------------

def fma(fmt: Format, a: int, b: int, c: int, rm: int,
        negate_product: bool = False, negate_addend: bool = False) -> tuple[int, int]:
    """(+-a*b) + (+-c) with one rounding: fmadd (F,F), fmsub (F,T), fnmsub (T,F), fnmadd (T,T)."""
    fb = fmt.frac_bits
    es = fmt.exp_special
    ss = fmt.sign_shift
    ea = (a >> fb) & es
    eb = (b >> fb) & es
    ec = (c >> fb) & es
    sp = ((a ^ b) >> ss) ^ negate_product
    sc = (c >> ss) ^ negate_addend
    if ea == es or eb == es or ec == es:
        return _fma_special(fmt, a, b, c, sp, sc)
    ma, ea, mb, eb = _finite_significands(fmt, a, ea, b, eb)
    mc = c & fmt.frac_mask
    if ec:
        mc |= fmt.hidden_bit
    else:
        ec = 1
    mp = ma * mb
    # Exponents in units where x = m * 2**(e + qmin - 1); the product carries one
    # extra (qmin - 1) offset.
    ep = ea + eb + fmt.qmin - 1
    if not mp or not mc:
        if not mp and not mc:
            return _exact_zero_sign(sp == sc, sp, rm) << ss, 0
        if not mp:
            return (sc << ss) | (c & fmt.mag_mask), 0  # 0 + c is exactly c
    sign, s, e = _signed_sum(sp, mp, ep, sc, mc, ec)
    if not s:   # exact cancellation of the product and the addend
        return _exact_zero_sign(False, 0, rm) << ss, 0
    return round_exact(fmt, sign, s, e - 1 + fmt.qmin, rm)


def _fma_special(fmt: Format, a: int, b: int, c: int, sp: int, sc: int) -> tuple[int, int]:
    a_nan, b_nan, c_nan = is_nan(fmt, a), is_nan(fmt, b), is_nan(fmt, c)
    if a_nan or b_nan:
        return _nan_result(fmt, (fmt, a), (fmt, b), (fmt, c))
    p_inf = is_inf(fmt, a) or is_inf(fmt, b)
    if p_inf and (is_zero(fmt, a) or is_zero(fmt, b)):
        return fmt.canonical_nan, NV  # inf * 0, invalid even with a quiet-NaN addend
    if c_nan:
        return _nan_result(fmt, (fmt, c))
    c_inf = is_inf(fmt, c)
    if p_inf:
        if c_inf and sp != sc:
            return fmt.canonical_nan, NV  # inf - inf
        return (sp << fmt.sign_shift) | fmt.inf, 0
    # Only c is infinite.
    return (sc << fmt.sign_shift) | fmt.inf, 0


# Every exact term of a sum of products is an integer multiple of 2**_TERM_LSB: the smallest product
# is that of two F32 subnormals (F16 operands, and any addend, have coarser units).
_TERM_LSB = 2 * F32.qmin


def sum_of_products(dst_fmt: Format, products: list[tuple[Format, int, int]],
                    addend: tuple[Format, int] | None, rm: int) -> tuple[int, int]:
    """round_dst(a0*b0 + a1*b1 + ... + c) with a single rounding (ExSdotp-style).

    NV for any sNaN operand, any inf*0 product, or infinities of opposite
    signs among the terms when no term is NaN (a NaN term makes the result
    NaN before any inf - inf is formed, as in fma).  NaN results are canonical.
    """
    total = 0   # the exact sum in units of 2**_TERM_LSB
    signs = 0   # bit 0: some term is positive, bit 1: some term is negative (zero terms too)
    operands = [(fmt, x) for fmt, a, b in products for x in (a, b)]
    if addend is not None:
        operands.append(addend)
    if any((x >> fmt.frac_bits) & fmt.exp_special == fmt.exp_special for fmt, x in operands):
        return _sum_of_products_special(dst_fmt, products, addend)
    for fmt, a, b in products:
        sa, ma, xa = decode(fmt, a)
        sb, mb, xb = decode(fmt, b)
        term = ma * mb << (xa + xb - _TERM_LSB)
        total += -term if sa ^ sb else term
        signs |= 2 if sa ^ sb else 1
    if addend is not None:
        sc, mc, xc = decode(*addend)
        term = mc << (xc - _TERM_LSB)
        total += -term if sc else term
        signs |= 2 if sc else 1
    if not total:
        return _exact_zero_sign(signs != 3, signs >> 1, rm) << dst_fmt.sign_shift, 0
    if total < 0:
        return round_exact(dst_fmt, 1, -total, _TERM_LSB, rm)
    return round_exact(dst_fmt, 0, total, _TERM_LSB, rm)


_LANES_SHIFT = 2 * (F16.qmin - 1) - _TERM_LSB    # (the product's exponent fields) + this = its shift
_ADDEND_SHIFT = F32.qmin - 1 - _TERM_LSB


def dotpex_h(a: int, b: int, c: int, rm: int) -> tuple[int, int]:
    """round_F32(a0*b0 + a1*b1 + c) with a single rounding, for the FP16 lanes of a and b (lane 0 =
    bits 15:0, lane 1 = bits 31:16) and the FP32 c (vfdotpex.s.h): sum_of_products with its common
    case, every operand finite, written out with the formats' constants (the twin of mcu_fp_dotpex_h)."""
    # An exponent field of all ones (infinity, NaN): adding 1 to both 5-bit FP16 fields carries into
    # the bit above only for 31.
    if (((a >> 10 & 0x1F001F) + 0x10001) & 0x200020 or ((b >> 10 & 0x1F001F) + 0x10001) & 0x200020
            or c >> 23 & 0xFF == 0xFF):
        return sum_of_products(F32, [(F16, a & 0xFFFF, b & 0xFFFF), (F16, a >> 16, b >> 16)], (F32, c), rm)
    total = 0   # the exact sum in units of 2**_TERM_LSB
    signs = 0   # bit 0: some term is positive, bit 1: some term is negative
    for x, y in ((a & 0xFFFF, b & 0xFFFF), (a >> 16, b >> 16)):
        ex = x >> 10 & 0x1F
        ey = y >> 10 & 0x1F
        mx = x & 0x3FF | 0x400 if ex else x & 0x3FF
        my = y & 0x3FF | 0x400 if ey else y & 0x3FF
        term = mx * my << ((ex or 1) + (ey or 1) + _LANES_SHIFT)
        total += -term if (x ^ y) & 0x8000 else term
        signs |= 2 if (x ^ y) & 0x8000 else 1
    ec = c >> 23 & 0xFF
    term = (c & 0x7FFFFF | 0x800000 if ec else c & 0x7FFFFF) << ((ec or 1) + _ADDEND_SHIFT)
    total += -term if c >> 31 else term
    signs |= 2 if c >> 31 else 1
    if not total:
        return _exact_zero_sign(signs != 3, signs >> 1, rm) << 31, 0
    if total < 0:
        return round_exact(F32, 1, -total, _TERM_LSB, rm)
    return round_exact(F32, 0, total, _TERM_LSB, rm)


def _sum_of_products_special(dst_fmt: Format, products: list[tuple[Format, int, int]],
                             addend: tuple[Format, int] | None) -> tuple[int, int]:
    """sum_of_products when an operand is infinite or NaN: the result is a NaN or an infinity."""
    ops: list[tuple[Format, int]] = []
    flags = 0
    any_nan = False
    inf_signs: set[int] = set()
    for fmt, a, b in products:
        ops.append((fmt, a))
        ops.append((fmt, b))
        if is_nan(fmt, a) or is_nan(fmt, b):
            any_nan = True
        elif is_inf(fmt, a) or is_inf(fmt, b):
            if is_zero(fmt, a) or is_zero(fmt, b):
                flags |= NV
                any_nan = True
            else:
                inf_signs.add((a ^ b) >> fmt.sign_shift)
    if addend is not None:
        fmt, c = addend
        ops.append((fmt, c))
        if is_nan(fmt, c):
            any_nan = True
        elif is_inf(fmt, c):
            inf_signs.add(c >> fmt.sign_shift)
    if any(is_snan(f, x) for f, x in ops):
        flags |= NV
    if any_nan:
        return dst_fmt.canonical_nan, flags
    if len(inf_signs) == 2:
        return dst_fmt.canonical_nan, NV
    return (inf_signs.pop() << dst_fmt.sign_shift) | dst_fmt.inf, 0


# ---------------------------------------------------------------------------
# Comparisons, min/max, classify
# ---------------------------------------------------------------------------

def _key(fmt: Format, a: int) -> int:
    """Order key of a non-NaN value for IEEE comparisons (+0 == -0)."""
    mag = a & fmt.mag_mask
    return -mag if a >> fmt.sign_shift else mag


def _total_key(fmt: Format, a: int) -> int:
    """Order key of a non-NaN value with -0 < +0 (fmin/fmax)."""
    mag = a & fmt.mag_mask
    return -mag - 1 if a >> fmt.sign_shift else mag


def _minmax(fmt: Format, a: int, b: int, want_max: bool) -> tuple[int, int]:
    flags = NV if is_snan(fmt, a) or is_snan(fmt, b) else 0
    a_nan, b_nan = is_nan(fmt, a), is_nan(fmt, b)
    if a_nan and b_nan:
        return fmt.canonical_nan, flags
    if a_nan:
        return b, flags
    if b_nan:
        return a, flags
    a_smaller = _total_key(fmt, a) <= _total_key(fmt, b)
    return (b if a_smaller == want_max else a), flags


def min_(fmt: Format, a: int, b: int) -> tuple[int, int]:
    """RISC-V fmin (minimumNumber): -0 < +0, a single NaN operand is ignored."""
    return _minmax(fmt, a, b, False)


def max_(fmt: Format, a: int, b: int) -> tuple[int, int]:
    """RISC-V fmax (maximumNumber): -0 < +0, a single NaN operand is ignored."""
    return _minmax(fmt, a, b, True)


def eq(fmt: Format, a: int, b: int) -> tuple[int, int]:
    """Quiet equality (feq): NV only for signaling NaNs."""
    if is_nan(fmt, a) or is_nan(fmt, b):
        return 0, (NV if is_snan(fmt, a) or is_snan(fmt, b) else 0)
    return int(_key(fmt, a) == _key(fmt, b)), 0


def lt(fmt: Format, a: int, b: int) -> tuple[int, int]:
    """Signaling less-than (flt): NV for any NaN."""
    if is_nan(fmt, a) or is_nan(fmt, b):
        return 0, NV
    return int(_key(fmt, a) < _key(fmt, b)), 0


def le(fmt: Format, a: int, b: int) -> tuple[int, int]:
    """Signaling less-or-equal (fle): NV for any NaN."""
    if is_nan(fmt, a) or is_nan(fmt, b):
        return 0, NV
    return int(_key(fmt, a) <= _key(fmt, b)), 0


def classify(fmt: Format, a: int) -> int:
    """RISC-V fclass: a one-hot 10-bit mask."""
    sign = a >> fmt.sign_shift
    e = (a >> fmt.frac_bits) & fmt.exp_special
    frac = a & fmt.frac_mask
    if e == fmt.exp_special:
        if frac:
            return 1 << 9 if frac & fmt.quiet_bit else 1 << 8
        return 1 << 0 if sign else 1 << 7
    if e:
        return 1 << 1 if sign else 1 << 6
    if frac:
        return 1 << 2 if sign else 1 << 5
    return 1 << 3 if sign else 1 << 4


# ---------------------------------------------------------------------------
# Conversions
# ---------------------------------------------------------------------------

def to_int(fmt: Format, a: int, rm: int, signed: bool) -> tuple[int, int]:
    """fcvt.w[u]: the 32-bit result as an unsigned pattern, saturating as RISC-V does.

    Out of range (after rounding), infinities and NaNs give NV only (no NX);
    NaN saturates to the maximum.  A negative value that rounds to 0 is in
    range for the unsigned conversion (NX only if inexact).
    """
    lo, hi = (-(1 << 31), (1 << 31) - 1) if signed else (0, _M32)
    if is_nan(fmt, a):
        return hi & _M32, NV
    if is_inf(fmt, a):
        return (lo if a >> fmt.sign_shift else hi) & _M32, NV
    sign, sig, exp = decode(fmt, a)
    inexact = False
    if exp >= 0:
        m = sig << exp
    else:
        sh = -exp
        m = sig >> sh
        rem = sig & ((1 << sh) - 1)
        if rem:
            inexact = True
            if _round_up(m & 1, rem, 1 << (sh - 1), sign, rm):
                m += 1
    v = -m if sign else m
    if v < lo or v > hi:
        return (lo if sign else hi) & _M32, NV
    return v & _M32, (NX if inexact else 0)


def from_int(fmt: Format, value: int, signed: bool, rm: int) -> tuple[int, int]:
    """fcvt.{s,h}.w[u]: `value` is a 32-bit pattern (two's complement if signed)."""
    value &= _M32
    if signed and value >> 31:
        return round_exact(fmt, 1, (1 << 32) - value, 0, rm)
    return round_exact(fmt, 0, value, 0, rm)


def convert(src_fmt: Format, dst_fmt: Format, a: int, rm: int) -> tuple[int, int]:
    """Format conversion (fcvt.s.h / fcvt.h.s; identity also canonicalises NaNs)."""
    if is_nan(src_fmt, a):
        return _nan_result(dst_fmt, (src_fmt, a))
    sign = a >> src_fmt.sign_shift
    if is_inf(src_fmt, a):
        return (sign << dst_fmt.sign_shift) | dst_fmt.inf, 0
    sign, sig, exp = decode(src_fmt, a)
    return round_exact(dst_fmt, sign, sig, exp, rm)


__all__ = [
    "RNE", "RTZ", "RDN", "RUP", "RMM", "NX", "UF", "OF", "DZ", "NV",
    "Format", "F32", "F16",
    "add", "sub", "mul", "div", "sqrt", "fma", "min_", "max_", "eq", "lt", "le",
    "classify", "to_int", "from_int", "convert", "sum_of_products", "dotpex_h", "average",
    "round_exact", "is_nan", "is_snan", "is_inf", "is_zero", "neg", "decode",
]
