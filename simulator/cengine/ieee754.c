/* Bit-exact IEEE 754 arithmetic: the C twin of isa/ieee754.py (see ieee754.h).
 *
 * Same design as the Python reference: every operation produces its result as an exact value
 * (-1)**sign * sig * 2**exp and hands it to the one rounding routine round_pack (= round_exact).
 * Python ints are unbounded; here sig is a uint64_t. Where a result does not fit, the bits that fall
 * off are "jammed" into the least significant bit (round to odd): a value strictly between two even
 * integers 2k and 2k+2 is represented as 2k+1. As long as every rounding decision is taken at least
 * two bits above that LSB, round-to-odd followed by the final rounding gives exactly the same result,
 * the same inexact status and the same tininess as rounding the exact value (every midpoint and every
 * grid point of the final rounding is an even integer, so all values of (2k, 2k+2) round alike).
 * Each caller below states why its jam sits at least two bits below the rounding position.
 *
 * Supported formats: width <= 32, frac_bits <= 23, exp_bits <= 8 (F32, F16, and anything smaller).
 * F32 and F16 get constant-folded specialisations (the hot path); other formats use the generic one.
 * Rounding modes are 0..4 (the semantic handlers reject the reserved ones before calling). */
#include "ieee754.h"
#include "dotpex_fast.h"

#include <string.h>

const mcu_fmt MCU_F32 = {8, 23};
const mcu_fmt MCU_F16 = {5, 10};

/* fp_fast.h's table: binary16 bits -> binary32 bits of the same value (exact: a binary32 has more
 * exponent range and significand than a binary16), filled once when the library is loaded */
uint32_t mcu_half_float_bits[65536];

__attribute__((constructor)) static void fill_half_float_bits(void) {
    for (uint32_t h = 0; h < 65536u; h++) {
        uint32_t sign = (h & 0x8000u) << 16, e = h >> 10 & 31u, f = h & 0x3FFu, r;
        if (e == 31u) {
            r = 0x7F800000u | f << 13;                         /* infinity, NaN (payload kept) */
        } else if (e) {
            r = (e + 112u) << 23 | f << 13;                    /* rebias 15 -> 127 */
        } else if (f) {                                        /* f * 2**-24: normalise */
            int shift = __builtin_clz(f) - 21;                 /* brings the top bit to bit 10 */
            r = (uint32_t)(1 - shift + 112) << 23 | (f << shift & 0x3FFu) << 13;
        } else {
            r = 0;
        }
        mcu_half_float_bits[h] = sign | r;
    }
}

enum { NX = 1, UF = 2, OF = 4, DZ = 8, NV = 16 };
enum { RNE = 0, RTZ = 1, RDN = 2, RUP = 3, RMM = 4 };

__extension__ typedef unsigned __int128 u128;   /* gcc/clang */
__extension__ typedef __int128 i128;

#define INLINE static inline __attribute__((always_inline))

/* Derived constants of a format (Format.__post_init__ of the reference). */
typedef struct {
    int fb, ss, p, qmin, emin;
    uint32_t es, inf, cnan, smask, mag, fmask, hidden, qbit;
} FP;

INLINE FP fp_make(int eb, int fb) {
    FP F;
    int bias = (1 << (eb - 1)) - 1;
    F.fb = fb;
    F.ss = eb + fb;
    F.p = fb + 1;
    F.emin = 1 - bias;
    F.qmin = 1 - bias - fb;
    F.es = (1u << eb) - 1;
    F.inf = F.es << fb;
    F.cnan = F.inf | (1u << (fb - 1));
    F.smask = 1u << F.ss;
    F.mag = F.smask - 1;
    F.fmask = (1u << fb) - 1;
    F.hidden = 1u << fb;
    F.qbit = 1u << (fb - 1);
    return F;
}

#define FP32 fp_make(8, 23)
#define FP16 fp_make(5, 10)
#define IS_F32(f) ((f)->frac_bits == 23 && (f)->exp_bits == 8)
#define IS_F16(f) ((f)->frac_bits == 10 && (f)->exp_bits == 5)
/* Dispatch to the constant-folded implementation for F32 / F16, else the generic one. */
#define DISPATCH(f, impl, ...)                                                                     \
    (IS_F32(f) ? impl(FP32, __VA_ARGS__) : IS_F16(f) ? impl(FP16, __VA_ARGS__)                     \
                                         : impl(fp_make((f)->exp_bits, (f)->frac_bits), __VA_ARGS__))

INLINE int is_nan(FP F, uint32_t a) { return (a & F.mag) > F.inf; }
INLINE int is_snan(FP F, uint32_t a) { return (a & F.mag) > F.inf && !(a & F.qbit); }
INLINE int is_inf(FP F, uint32_t a) { return (a & F.mag) == F.inf; }
INLINE int is_zero(FP F, uint32_t a) { return !(a & F.mag); }
INLINE int bitlen64(uint64_t x) { return x ? 64 - __builtin_clzll(x) : 0; }
INLINE int bitlen128(u128 x) {
    uint64_t hi = (uint64_t)(x >> 64);
    return hi ? 128 - __builtin_clzll(hi) : bitlen64((uint64_t)x);
}

/* Unpack a finite operand: significand with the hidden bit, biased exponent with subnormals at 1,
 * so that the value is m * 2**(e - 1 + qmin). */
INLINE void unpack(FP F, uint32_t a, uint32_t *m, int *e) {
    int ex = (int)((a >> F.fb) & F.es);
    uint32_t mm = a & F.fmask;
    if (ex) mm |= F.hidden;
    else ex = 1;
    *m = mm;
    *e = ex;
}

/* Python _round_up, with rem described by its round bit rb (rem >= half) and sticky st (the bits
 * below half): rem > half <=> rb && st, rem == half <=> rb && !st. rem is nonzero. */
INLINE int round_up(int rm, uint32_t sign, int lsb, int rb, int st) {
    switch (rm) {
    case RNE: return rb && (st || lsb);
    case RDN: return (int)sign;
    case RUP: return !sign;
    case RMM: return rb;
    default: return 0;   /* RTZ (the reserved modes never get here) */
    }
}

static uint32_t overflow(FP F, uint32_t sign, int rm, uint32_t *flags) {
    int to_max = rm == RTZ || (rm == RDN && !sign) || (rm == RUP && sign);
    *flags |= OF | NX;
    return (sign << F.ss) | (to_max ? F.inf - 1 : F.inf);
}

/* round_exact: round (-1)**sign * sig * 2**exp to F. Tininess after rounding; UF only if inexact. */
INLINE uint32_t round_pack(FP F, uint32_t sign, uint64_t sig, int exp, int rm, uint32_t *flags) {
    uint32_t sbit = sign << F.ss;
    if (!sig) return sbit;
    int n = bitlen64(sig);
    int top = exp + n - 1;            /* 2**top <= value < 2**(top+1) */
    int q = top - F.fb;               /* exponent of the result's LSB ... */
    if (q < F.qmin) q = F.qmin;       /* ... pinned to the subnormal LSB below the normal range */
    int shift = q - exp;
    if (shift <= 0) {                 /* fits (then -shift <= fb): exact */
        int64_t bits = ((int64_t)(q - F.qmin) << F.fb) + (int64_t)(sig << -shift);
        if (bits >= (int64_t)F.inf) return overflow(F, sign, rm, flags);
        return sbit | (uint32_t)bits;
    }
    uint64_t m;
    int rb, st;
    if (shift < 64) {
        m = sig >> shift;
        uint64_t rem = sig & ((1ull << shift) - 1);
        if (!rem) {
            int64_t bits = ((int64_t)(q - F.qmin) << F.fb) + (int64_t)m;
            if (bits >= (int64_t)F.inf) return overflow(F, sign, rm, flags);
            return sbit | (uint32_t)bits;
        }
        rb = (int)((rem >> (shift - 1)) & 1);
        st = (rem & ((1ull << (shift - 1)) - 1)) != 0;
    } else {                          /* far below the smallest subnormal: m = 0 */
        m = 0;
        rb = shift == 64 ? (int)(sig >> 63) : 0;
        st = shift == 64 ? (sig << 1) != 0 : 1;
    }
    m += (uint64_t)round_up(rm, sign, (int)(m & 1), rb, st);
    /* m includes the hidden bit: a carry out of the significand bumps the exponent field itself. */
    int64_t bits = ((int64_t)(q - F.qmin) << F.fb) + (int64_t)m;
    if (bits >= (int64_t)F.inf) return overflow(F, sign, rm, flags);
    uint32_t fl = NX;
    if (top < F.emin) {
        /* _tiny_after_rounding: below 2**(emin-1) it stays tiny; at emin-1 only an all-ones p-bit
         * prefix that rounds up reaches 2**emin. */
        int tiny = 1;
        int sh = n - F.p;
        if (top == F.emin - 1 && sh > 0) {
            uint64_t mp = sig >> sh, rem = sig & ((1ull << sh) - 1);
            if (mp == (1ull << F.p) - 1 && rem)
                tiny = !round_up(rm, sign, 1, (int)((rem >> (sh - 1)) & 1),
                                 (rem & ((1ull << (sh - 1)) - 1)) != 0);
        }
        if (tiny) fl |= UF;
    }
    *flags |= fl;
    return sbit | (uint32_t)bits;
}

/* Round a 128-bit magnitude: jam it into 62 bits first (the final rounding keeps at most 24 of them,
 * so it happens >= 38 bits above the jammed LSB). */
INLINE uint32_t round_pack128(FP F, uint32_t sign, u128 sig, int exp, int rm, uint32_t *flags) {
    int n = bitlen128(sig);
    if (n > 62) {
        int sh = n - 62;
        int sticky = (sig & (((u128)1 << sh) - 1)) != 0;
        sig = (sig >> sh) | (u128)sticky;
        exp += sh;
    }
    return round_pack(F, sign, (uint64_t)sig, exp, rm, flags);
}

/* Sign of an exactly-zero sum (IEEE 754 6.3). */
INLINE uint32_t zero_sign(int all_same, uint32_t sign, int rm) {
    return all_same ? sign : (rm == RDN);
}

/* ------------------------------------------------------------------------------------------------ */
/* add, sub, average                                                                                */

INLINE uint32_t add_impl(FP F, uint32_t a, uint32_t b, int rm, int halve, uint32_t *flags) {
    int ea = (int)((a >> F.fb) & F.es), eb = (int)((b >> F.fb) & F.es);
    uint32_t sa = a >> F.ss, sb = b >> F.ss;
    if ((uint32_t)ea == F.es || (uint32_t)eb == F.es) {
        if (is_nan(F, a) || is_nan(F, b)) {
            if (is_snan(F, a) || is_snan(F, b)) *flags |= NV;
            return F.cnan;
        }
        if ((uint32_t)ea == F.es && (uint32_t)eb == F.es && sa != sb) {
            *flags |= NV;             /* inf - inf */
            return F.cnan;
        }
        return (uint32_t)ea == F.es ? a : b;
    }
    uint32_t ma, mb;
    unpack(F, a, &ma, &ea);
    unpack(F, b, &mb, &eb);
    if (ea < eb) {                    /* operand A has the larger exponent */
        uint32_t t = ma; ma = mb; mb = t;
        int te = ea; ea = eb; eb = te;
        uint32_t ts = sa; sa = sb; sb = ts;
    }
    /* Both significands at bit K..62-ish; B shifted right by the exponent difference d. Bits are
     * lost only if d > K, and then A is normal (A >= 2**(K+p-1) >= 2**61) and B < 2**(62-d) <
     * 2**(p-1): the result is >= 2**60, so its rounding position (>= bit 60-fb) is far above the
     * jammed bit 0. */
    const int K = 62 - F.p;
    uint64_t A = (uint64_t)ma << K, B = (uint64_t)mb << K;
    int d = ea - eb;
    if (d) {
        if (d < 64) B = (B >> d) | ((B & ((1ull << d) - 1)) != 0);
        else B = B != 0;
    }
    uint64_t s;
    uint32_t sign;
    if (sa == sb) {
        s = A + B;
        sign = sa;
    } else if (A >= B) {
        s = A - B;
        sign = sa;
    } else {
        s = B - A;
        sign = sb;
    }
    if (!s) return zero_sign(sa == sb, sa, rm) << F.ss;
    return round_pack(F, sign, s, ea - 1 + F.qmin - K - halve, rm, flags);
}

uint32_t mcu_fp_add(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    return DISPATCH(f, add_impl, a, b, rm, 0, flags);
}

uint32_t mcu_fp_sub(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    /* flipping b's sign is safe for NaNs: the result is canonical and the signaling bit untouched */
    return DISPATCH(f, add_impl, a, b ^ (1u << (f->exp_bits + f->frac_bits)), rm, 0, flags);
}

uint32_t mcu_fp_average(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    return DISPATCH(f, add_impl, a, b, rm, 1, flags);
}

/* ------------------------------------------------------------------------------------------------ */
/* mul, div, sqrt                                                                                   */

INLINE uint32_t mul_impl(FP F, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    int ea = (int)((a >> F.fb) & F.es), eb = (int)((b >> F.fb) & F.es);
    uint32_t sign = (a ^ b) >> F.ss;
    if ((uint32_t)ea == F.es || (uint32_t)eb == F.es) {
        if (is_nan(F, a) || is_nan(F, b)) {
            if (is_snan(F, a) || is_snan(F, b)) *flags |= NV;
            return F.cnan;
        }
        if (is_zero(F, a) || is_zero(F, b)) {
            *flags |= NV;             /* inf * 0 */
            return F.cnan;
        }
        return (sign << F.ss) | F.inf;
    }
    uint32_t ma, mb;
    unpack(F, a, &ma, &ea);
    unpack(F, b, &mb, &eb);
    return round_pack(F, sign, (uint64_t)ma * mb, ea + eb - 2 + 2 * F.qmin, rm, flags);  /* exact */
}

uint32_t mcu_fp_mul(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    return DISPATCH(f, mul_impl, a, b, rm, flags);
}

INLINE uint32_t div_impl(FP F, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    uint32_t sign = (a ^ b) >> F.ss;
    if (is_nan(F, a) || is_nan(F, b)) {
        if (is_snan(F, a) || is_snan(F, b)) *flags |= NV;
        return F.cnan;
    }
    int a_inf = is_inf(F, a), b_inf = is_inf(F, b);
    if (a_inf || b_inf) {
        if (a_inf && b_inf) {
            *flags |= NV;
            return F.cnan;
        }
        return a_inf ? (sign << F.ss) | F.inf : sign << F.ss;
    }
    uint32_t ma, mb;
    int ea, eb;
    unpack(F, a, &ma, &ea);
    unpack(F, b, &mb, &eb);
    if (!mb) {
        if (!ma) {
            *flags |= NV;             /* 0 / 0 */
            return F.cnan;
        }
        *flags |= DZ;
        return (sign << F.ss) | F.inf;
    }
    if (!ma) return sign << F.ss;
    /* Normalise both significands to p bits; (ma << (p+2)) / mb then has p+2 or p+3 bits, and the
     * remainder becomes a sticky bit below it: the final rounding is >= 2 bits above that bit. */
    int la = F.p - bitlen64(ma), lb = F.p - bitlen64(mb);
    uint64_t num = (uint64_t)ma << (la + F.p + 2), den = (uint64_t)mb << lb;
    uint64_t quo = num / den, r = num - quo * den;
    return round_pack(F, sign, (quo << 1) | (r != 0), (ea - la) - (eb - lb) - F.p - 3, rm, flags);
}

uint32_t mcu_fp_div(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    return DISPATCH(f, div_impl, a, b, rm, flags);
}

/* floor(sqrt(x)) for 0 < x <= 2**53 (exact as a double). A reciprocal-square-root estimate (bit trick,
 * then Newton steps: only multiplications, so no libm and no errno) lands within one unit; the integer
 * corrections make the result exact whatever the estimate. */
static uint64_t isqrt64(uint64_t x) {
    double d = (double)x, y;
    uint64_t i;
    memcpy(&i, &d, sizeof i);
    i = 0x5FE6EB50C7B537A9ull - (i >> 1);
    memcpy(&y, &i, sizeof y);
    for (int k = 0; k < 4; k++) y = y * (1.5 - 0.5 * d * y * y);
    uint64_t r = (uint64_t)(d * y);
    while (r * r > x) r--;
    while ((r + 1) * (r + 1) <= x) r++;
    return r;
}

INLINE uint32_t sqrt_impl(FP F, uint32_t a, int rm, uint32_t *flags) {
    if (is_nan(F, a)) {
        if (is_snan(F, a)) *flags |= NV;
        return F.cnan;
    }
    if (is_zero(F, a)) return a;      /* sqrt(-0) = -0 */
    if (a >> F.ss) {
        *flags |= NV;
        return F.cnan;
    }
    if (a == F.inf) return a;
    uint32_t m;
    int e;
    unpack(F, a, &m, &e);
    int exp = e - 1 + F.qmin;
    /* radicand of 2p+4 or 2p+5 bits with an even exponent: the root has p+2 bits, then a sticky bit */
    int sh = 2 * F.p + 4 - bitlen64(m);
    if ((exp - sh) & 1) sh++;
    uint64_t rad = (uint64_t)m << sh;
    uint64_t root = isqrt64(rad);
    return round_pack(F, 0, (root << 1) | (root * root != rad), ((exp - sh) >> 1) - 1, rm, flags);
}

uint32_t mcu_fp_sqrt(const mcu_fmt *f, uint32_t a, int rm, uint32_t *flags) {
    return DISPATCH(f, sqrt_impl, a, rm, flags);
}

/* ------------------------------------------------------------------------------------------------ */
/* fma                                                                                              */

/* Exact-or-jammed sum of two nonzero terms (-1)**s * m * 2**e (m < 2**48) rounded once. Both are
 * normalised so their leading bit is bit 62 of a uint64_t; the one with the smaller leading exponent is
 * shifted right by the difference d with jamming. Its lowest set bit is at or above bit 62 - 47 = 15, so
 * nonzero bits are lost only if d > 15; then the smaller term is < 2**47 while the larger is >= 2**62:
 * the result is >= 2**61 and is rounded (to <= 24 bits) far above the jammed bit 0. With d <= 15 the
 * sum is exact, however deep the cancellation. */
INLINE uint32_t sum2_round(FP F, uint32_t s1, uint64_t m1, int e1, uint32_t s2, uint64_t m2, int e2, int rm,
                           uint32_t *flags) {
    int n1 = bitlen64(m1), n2 = bitlen64(m2);
    int t1 = e1 + n1, t2 = e2 + n2;   /* leading exponents (+1) */
    if (t1 < t2) {
        uint32_t ts = s1; s1 = s2; s2 = ts;
        uint64_t tm = m1; m1 = m2; m2 = tm;
        int te = t1; t1 = t2; t2 = te;
        te = n1; n1 = n2; n2 = te;
    }
    uint64_t A = m1 << (63 - n1), B = m2 << (63 - n2);
    int d = t1 - t2;
    if (d) {
        if (d < 64) B = (B >> d) | ((B & ((1ull << d) - 1)) != 0);
        else B = 1;
    }
    uint64_t s;
    uint32_t sign;
    if (s1 == s2) {
        s = A + B;                    /* < 2**64 */
        sign = s1;
    } else if (A >= B) {
        s = A - B;
        sign = s1;
    } else {
        s = B - A;
        sign = s2;
    }
    if (!s) return (uint32_t)(rm == RDN) << F.ss;   /* exact cancellation */
    return round_pack(F, sign, s, t1 - 63, rm, flags);
}

INLINE uint32_t fma_impl(FP F, uint32_t a, uint32_t b, uint32_t c, int rm, int np, int na, uint32_t *flags) {
    int ea = (int)((a >> F.fb) & F.es), eb = (int)((b >> F.fb) & F.es), ec = (int)((c >> F.fb) & F.es);
    uint32_t sp = ((a ^ b) >> F.ss) ^ (uint32_t)(np != 0);
    uint32_t sc = (c >> F.ss) ^ (uint32_t)(na != 0);
    if ((uint32_t)ea == F.es || (uint32_t)eb == F.es || (uint32_t)ec == F.es) {
        if (is_nan(F, a) || is_nan(F, b)) {
            if (is_snan(F, a) || is_snan(F, b) || is_snan(F, c)) *flags |= NV;
            return F.cnan;
        }
        int p_inf = is_inf(F, a) || is_inf(F, b);
        if (p_inf && (is_zero(F, a) || is_zero(F, b))) {
            *flags |= NV;             /* inf * 0, invalid even with a quiet-NaN addend */
            return F.cnan;
        }
        if (is_nan(F, c)) {
            if (is_snan(F, c)) *flags |= NV;
            return F.cnan;
        }
        if (p_inf) {
            if (is_inf(F, c) && sp != sc) {
                *flags |= NV;         /* inf - inf */
                return F.cnan;
            }
            return (sp << F.ss) | F.inf;
        }
        return (sc << F.ss) | F.inf;  /* only c is infinite */
    }
    uint32_t ma, mb, mc;
    unpack(F, a, &ma, &ea);
    unpack(F, b, &mb, &eb);
    unpack(F, c, &mc, &ec);
    uint64_t mp = (uint64_t)ma * mb;
    int ep = ea + eb + F.qmin - 1;    /* product in the same units: m * 2**(e - 1 + qmin) */
    if (!mp) {
        if (!mc) return zero_sign(sp == sc, sp, rm) << F.ss;
        return (sc << F.ss) | (c & F.mag);   /* 0 + c is exactly c */
    }
    if (!mc) return round_pack(F, sp, mp, ep - 1 + F.qmin, rm, flags);
    return sum2_round(F, sp, mp, ep - 1 + F.qmin, sc, mc, ec - 1 + F.qmin, rm, flags);
}

uint32_t mcu_fp_fma(const mcu_fmt *f, uint32_t a, uint32_t b, uint32_t c, int rm, int negate_product,
                    int negate_addend, uint32_t *flags) {
    return DISPATCH(f, fma_impl, a, b, c, rm, negate_product, negate_addend, flags);
}

/* ------------------------------------------------------------------------------------------------ */
/* sum of products                                                                                  */

typedef struct { uint32_t sign; uint64_t sig; int exp; } Term;

/* Exact sum of nonzero terms (sig < 2**49, |exp| < 400) when they span more than a 128-bit window:
 * a two's-complement fixed-point accumulator over the whole span (F32 products reach from 2**-298 to
 * 2**256: 555 bits, plus 3 bits of growth for five terms and a sign bit, so 10 limbs suffice).
 * Returns 0 for an exactly-zero sum, otherwise stores the magnitude jammed to 62 bits. */
#define WIDE_LIMBS 10
static int wide_sum(const Term *t, int nt, int lo, uint32_t *sign, uint64_t *sig, int *exp) {
    uint64_t acc[WIDE_LIMBS] = {0};
    for (int i = 0; i < nt; i++) {
        int pos = t[i].exp - lo;
        int k = pos >> 6;
        u128 v = (u128)t[i].sig << (pos & 63);
        uint64_t part[2] = {(uint64_t)v, (uint64_t)(v >> 64)};
        if (!t[i].sign) {
            unsigned carry = 0;
            for (int j = k; j < WIDE_LIMBS; j++) {
                uint64_t add = j - k < 2 ? part[j - k] : 0;
                uint64_t x = acc[j] + add;
                unsigned c1 = x < add;
                uint64_t y = x + carry;
                carry = c1 | (y < x);
                acc[j] = y;
                if (j - k >= 1 && !carry) break;
            }
        } else {
            unsigned borrow = 0;
            for (int j = k; j < WIDE_LIMBS; j++) {
                uint64_t sub = j - k < 2 ? part[j - k] : 0;
                uint64_t x = acc[j] - sub;
                unsigned b1 = acc[j] < sub;
                uint64_t y = x - borrow;
                borrow = b1 | (x < borrow);
                acc[j] = y;
                if (j - k >= 1 && !borrow) break;
            }
        }
    }
    *sign = (uint32_t)(acc[WIDE_LIMBS - 1] >> 63);
    if (*sign) {                      /* two's-complement negate */
        unsigned carry = 1;
        for (int j = 0; j < WIDE_LIMBS; j++) {
            acc[j] = ~acc[j] + carry;
            carry = carry && acc[j] == 0;
        }
    }
    int hi = WIDE_LIMBS - 1;
    while (hi >= 0 && !acc[hi]) hi--;
    if (hi < 0) return 0;
    int n = 64 * hi + bitlen64(acc[hi]);   /* bit length of the magnitude */
    if (n <= 62) {
        *sig = acc[0];
        *exp = lo;
        return 1;
    }
    int sh = n - 62;                  /* keep bits [sh, n), jam the rest */
    int k = sh >> 6, o = sh & 63;
    u128 w = acc[k];
    if (k + 1 < WIDE_LIMBS) w |= (u128)acc[k + 1] << 64;
    uint64_t m = (uint64_t)(w >> o);
    int sticky = (acc[k] & ((1ull << o) - 1)) != 0;   /* o == 0: nothing of limb k below */
    for (int j = 0; j < k; j++) sticky |= acc[j] != 0;
    *sig = m | (uint64_t)sticky;
    *exp = lo + sh;
    return 1;
}

/* One more term: classify a product or addend per the reference. */
typedef struct {
    Term t[5];
    int nt;                           /* nonzero finite terms */
    int any_nan, snan, inf_pos, inf_neg, nfinite;
    uint32_t sign_or, sign_and, flags;
} SopState;

static void sop_finite_term(SopState *S, uint32_t sign, uint64_t sig, int exp) {
    S->nfinite++;
    S->sign_or |= sign;
    S->sign_and &= sign;
    if (sig) {
        S->t[S->nt].sign = sign;
        S->t[S->nt].sig = sig;
        S->t[S->nt].exp = exp;
        S->nt++;
    }
}

uint32_t mcu_fp_sum_of_products(const mcu_fmt *dst, int n, const mcu_fmt *const *fmts, const uint32_t *a,
                                const uint32_t *b, const mcu_fmt *cfmt, uint32_t c, int rm, uint32_t *flags) {
    SopState S;
    S.nt = S.any_nan = S.snan = S.inf_pos = S.inf_neg = S.nfinite = 0;
    S.sign_or = 0;
    S.sign_and = 1;
    S.flags = 0;
    for (int i = 0; i < n; i++) {
        const mcu_fmt *pf = fmts[i];
        FP F = IS_F16(pf) ? FP16 : IS_F32(pf) ? FP32 : fp_make(pf->exp_bits, pf->frac_bits);
        uint32_t x = a[i], y = b[i];
        uint32_t sign = (x ^ y) >> F.ss;
        S.snan |= is_snan(F, x) || is_snan(F, y);
        if (is_nan(F, x) || is_nan(F, y)) {
            S.any_nan = 1;
        } else if (is_inf(F, x) || is_inf(F, y)) {
            if (is_zero(F, x) || is_zero(F, y)) {
                S.flags |= NV;        /* inf * 0 */
                S.any_nan = 1;
            } else if (sign) {
                S.inf_neg = 1;
            } else {
                S.inf_pos = 1;
            }
        } else {
            uint32_t mx, my;
            int ex, ey;
            unpack(F, x, &mx, &ex);
            unpack(F, y, &my, &ey);
            sop_finite_term(&S, sign, (uint64_t)mx * my, ex + ey - 2 + 2 * F.qmin);
        }
    }
    if (cfmt) {
        FP F = IS_F32(cfmt) ? FP32 : IS_F16(cfmt) ? FP16 : fp_make(cfmt->exp_bits, cfmt->frac_bits);
        uint32_t sign = c >> F.ss;
        S.snan |= is_snan(F, c);
        if (is_nan(F, c)) {
            S.any_nan = 1;
        } else if (is_inf(F, c)) {
            if (sign) S.inf_neg = 1;
            else S.inf_pos = 1;
        } else {
            uint32_t mc;
            int ec;
            unpack(F, c, &mc, &ec);
            sop_finite_term(&S, sign, mc, ec - 1 + F.qmin);
        }
    }
    FP D = fp_make(dst->exp_bits, dst->frac_bits);
    if (S.snan) S.flags |= NV;
    if (S.any_nan) {
        *flags |= S.flags;
        return D.cnan;
    }
    if (S.inf_pos || S.inf_neg) {
        if (S.inf_pos && S.inf_neg) {
            *flags |= NV;
            return D.cnan;
        }
        return ((uint32_t)S.inf_neg << D.ss) | D.inf;
    }
    uint32_t zs = zero_sign(S.nfinite == 0 || S.sign_or == S.sign_and, S.nfinite ? S.sign_or : 0, rm) << D.ss;
    if (!S.nt) return zs;
    int lo = S.t[0].exp, top = S.t[0].exp + bitlen64(S.t[0].sig);
    for (int i = 1; i < S.nt; i++) {
        if (S.t[i].exp < lo) lo = S.t[i].exp;
        int tt = S.t[i].exp + bitlen64(S.t[i].sig);
        if (tt > top) top = tt;
    }
    uint32_t sign;
    if (top - lo <= 58) {             /* the usual case: exact in an int64_t, 5 terms < 2**58 each */
        int64_t acc = 0;
        for (int i = 0; i < S.nt; i++) {
            int64_t v = (int64_t)(S.t[i].sig << (S.t[i].exp - lo));
            acc += S.t[i].sign ? -v : v;
        }
        if (!acc) return zs;
        sign = acc < 0;
        return DISPATCH(dst, round_pack, sign, (uint64_t)(sign ? -acc : acc), lo, rm, flags);
    }
    if (top - lo <= 120) {            /* exact in a signed 128-bit window: 5 terms < 2**120 each */
        i128 acc = 0;
        for (int i = 0; i < S.nt; i++) {
            i128 v = (i128)((u128)S.t[i].sig << (S.t[i].exp - lo));
            acc += S.t[i].sign ? -v : v;
        }
        if (!acc) return zs;
        sign = acc < 0;
        return DISPATCH(dst, round_pack128, sign, (u128)(sign ? -acc : acc), lo, rm, flags);
    }
    uint64_t sig;
    int exp;
    if (!wide_sum(S.t, S.nt, lo, &sign, &sig, &exp)) return zs;
    return round_pack(D, sign, sig, exp, rm, flags);
}

/* ------------------------------------------------------------------------------------------------ */
/* comparisons, min/max, classify                                                                   */

/* order key with +0 == -0 (total: -0 < +0) */
INLINE int64_t key(FP F, uint32_t a) {
    int64_t mag = a & F.mag;
    return (a >> F.ss) ? -mag : mag;
}
INLINE int64_t total_key(FP F, uint32_t a) {
    int64_t mag = a & F.mag;
    return (a >> F.ss) ? -mag - 1 : mag;
}

INLINE uint32_t minmax_impl(FP F, uint32_t a, uint32_t b, int want_max, uint32_t *flags) {
    if (is_snan(F, a) || is_snan(F, b)) *flags |= NV;
    int an = is_nan(F, a), bn = is_nan(F, b);
    if (an && bn) return F.cnan;
    if (an) return b;
    if (bn) return a;
    int a_smaller = total_key(F, a) <= total_key(F, b);
    return a_smaller == want_max ? b : a;
}

uint32_t mcu_fp_min(const mcu_fmt *f, uint32_t a, uint32_t b, uint32_t *flags) {
    return DISPATCH(f, minmax_impl, a, b, 0, flags);
}

uint32_t mcu_fp_max(const mcu_fmt *f, uint32_t a, uint32_t b, uint32_t *flags) {
    return DISPATCH(f, minmax_impl, a, b, 1, flags);
}

/* op: 0 eq (quiet), 1 lt, 2 le (signaling) */
INLINE uint32_t cmp_impl(FP F, uint32_t a, uint32_t b, int op, uint32_t *flags) {
    if (is_nan(F, a) || is_nan(F, b)) {
        if (op || is_snan(F, a) || is_snan(F, b)) *flags |= NV;
        return 0;
    }
    int64_t ka = key(F, a), kb = key(F, b);
    return op == 0 ? ka == kb : op == 1 ? ka < kb : ka <= kb;
}

uint32_t mcu_fp_eq(const mcu_fmt *f, uint32_t a, uint32_t b, uint32_t *flags) {
    return DISPATCH(f, cmp_impl, a, b, 0, flags);
}

uint32_t mcu_fp_lt(const mcu_fmt *f, uint32_t a, uint32_t b, uint32_t *flags) {
    return DISPATCH(f, cmp_impl, a, b, 1, flags);
}

uint32_t mcu_fp_le(const mcu_fmt *f, uint32_t a, uint32_t b, uint32_t *flags) {
    return DISPATCH(f, cmp_impl, a, b, 2, flags);
}

uint32_t mcu_fp_classify(const mcu_fmt *f, uint32_t a) {
    FP F = fp_make(f->exp_bits, f->frac_bits);
    uint32_t sign = a >> F.ss, e = (a >> F.fb) & F.es, frac = a & F.fmask;
    if (e == F.es) {
        if (frac) return frac & F.qbit ? 1u << 9 : 1u << 8;
        return sign ? 1u << 0 : 1u << 7;
    }
    if (e) return sign ? 1u << 1 : 1u << 6;
    if (frac) return sign ? 1u << 2 : 1u << 5;
    return sign ? 1u << 3 : 1u << 4;
}

/* ------------------------------------------------------------------------------------------------ */
/* conversions                                                                                      */

INLINE uint32_t to_int_impl(FP F, uint32_t a, int rm, int is_signed, uint32_t *flags) {
    int64_t lo = is_signed ? -((int64_t)1 << 31) : 0;
    int64_t hi = is_signed ? ((int64_t)1 << 31) - 1 : (int64_t)0xFFFFFFFF;
    if (is_nan(F, a)) {
        *flags |= NV;
        return (uint32_t)hi;
    }
    uint32_t sign = a >> F.ss;
    if (is_inf(F, a)) {
        *flags |= NV;
        return (uint32_t)(sign ? lo : hi);
    }
    uint32_t m;
    int e;
    unpack(F, a, &m, &e);
    int exp = e - 1 + F.qmin;
    int inexact = 0;
    uint64_t mag;
    if (exp >= 0) {
        if (exp > 31) {               /* >= 2**32: out of range (exp >= 0 implies a normal, m != 0) */
            *flags |= NV;
            return (uint32_t)(sign ? lo : hi);
        }
        mag = (uint64_t)m << exp;
    } else {
        int sh = -exp;
        int rb, st;
        if (sh < 64) {
            mag = (uint64_t)m >> sh;
            uint64_t rem = (uint64_t)m & ((1ull << sh) - 1);
            rb = (int)((rem >> (sh - 1)) & 1);
            st = (rem & ((1ull << (sh - 1)) - 1)) != 0;
        } else {
            mag = 0;
            rb = 0;
            st = m != 0;
        }
        if (rb || st) {
            inexact = 1;
            mag += (uint64_t)round_up(rm, sign, (int)(mag & 1), rb, st);
        }
    }
    int64_t v = sign ? -(int64_t)mag : (int64_t)mag;
    if (v < lo || v > hi) {
        *flags |= NV;
        return (uint32_t)(sign ? lo : hi);
    }
    if (inexact) *flags |= NX;
    return (uint32_t)v;
}

uint32_t mcu_fp_to_int(const mcu_fmt *f, uint32_t a, int rm, int is_signed, uint32_t *flags) {
    return DISPATCH(f, to_int_impl, a, rm, is_signed, flags);
}

uint32_t mcu_fp_from_int(const mcu_fmt *f, uint32_t v, int is_signed, int rm, uint32_t *flags) {
    if (is_signed && (v >> 31))
        return DISPATCH(f, round_pack, 1, (uint64_t)((1ull << 32) - v), 0, rm, flags);
    return DISPATCH(f, round_pack, 0, (uint64_t)v, 0, rm, flags);
}

uint32_t mcu_fp_convert(const mcu_fmt *src, const mcu_fmt *dst, uint32_t a, int rm, uint32_t *flags) {
    FP S = fp_make(src->exp_bits, src->frac_bits);
    FP D = fp_make(dst->exp_bits, dst->frac_bits);
    if (is_nan(S, a)) {
        if (is_snan(S, a)) *flags |= NV;
        return D.cnan;
    }
    uint32_t sign = a >> S.ss;
    if (is_inf(S, a)) return (sign << D.ss) | D.inf;
    uint32_t m;
    int e;
    unpack(S, a, &m, &e);
    return DISPATCH(dst, round_pack, sign, m, e - 1 + S.qmin, rm, flags);
}

/* ------------------------------------------------------------------------------------------------ */
/* vfdotpex.s.h fast path: FP32 round(a0*b0 + a1*b1 + c) for two FP16 lanes a, b and an FP32 c.     */
/* The common case (every operand finite, the exact sum nonzero and within a 58-bit window) is      */
/* summed exactly in an int64_t and rounded once, with the formats' constants folded; anything else */
/* (NaN, infinity, exact zero, far-apart terms) goes through mcu_fp_sum_of_products. Same results.  */
uint32_t mcu_fp_dotpex_h(uint32_t a, uint32_t b, uint32_t c, int rm, uint32_t *flags) {
    const FP S = FP32;
    uint32_t x[2] = {a & 0xFFFFu, a >> 16}, y[2] = {b & 0xFFFFu, b >> 16};
    /* fast paths only when the four halves are finite (exponent field below 31: adding 1 to both
     * 5-bit fields at once carries into bit 5 only for 31) and c is finite */
    if (((a >> 10 & 0x1F001Fu) + 0x10001u) & 0x200020u || ((b >> 10 & 0x1F001Fu) + 0x10001u) & 0x200020u ||
        ((c >> 23) & 255) == 255)
        goto general;
    uint32_t fast;
    if (mcu_dotpex_double(a, b, c, rm, &fast, flags)) return fast;
    {
        /* FP16 significand and exponent (subnormals: exponent field 0 acts as 1, no hidden bit) */
#define H_SIG(h) (((h) & 0x3FFu) | (((h) & 0x7C00u) ? 0x400u : 0u))
#define H_EXP(h) (((h) >> 10 & 31u) ? (int)((h) >> 10 & 31u) : 1)
        uint64_t sig[3] = {(uint64_t)(H_SIG(x[0]) * H_SIG(y[0])), (uint64_t)(H_SIG(x[1]) * H_SIG(y[1])),
                           (c & 0x7FFFFFu) | ((c >> 23 & 255u) ? 0x800000u : 0u)};
        int exp[3] = {H_EXP(x[0]) + H_EXP(y[0]) - 2 * 25,      /* 2 * (qmin16 - 1): qmin16 = -24 */
                      H_EXP(x[1]) + H_EXP(y[1]) - 2 * 25,
                      ((c >> 23 & 255u) ? (int)(c >> 23 & 255u) : 1) - 1 + S.qmin};
        int neg[3] = {(int)((x[0] ^ y[0]) >> 15 & 1), (int)((x[1] ^ y[1]) >> 15 & 1), (int)(c >> 31)};
#undef H_SIG
#undef H_EXP
        /* zero terms (frequent in training: ReLU outputs, dilated gradients) add nothing; they only
         * matter for the sign of an exactly-zero sum, which the general routine handles */
        int lo = 1 << 20, top = -(1 << 20);
        for (int i = 0; i < 3; i++) {
            if (!sig[i]) continue;
            if (exp[i] < lo) lo = exp[i];
            int t = exp[i] + bitlen64(sig[i]);
            if (t > top) top = t;
        }
        if (top < lo || top - lo > 58) goto general;
        int64_t acc = 0;
        for (int i = 0; i < 3; i++) {
            if (!sig[i]) continue;
            int64_t v = (int64_t)(sig[i] << (exp[i] - lo));
            acc += neg[i] ? -v : v;
        }
        if (!acc) goto general;                 /* the sign of an exact zero has its own rules */
        uint32_t sign = acc < 0;
        return round_pack(S, sign, (uint64_t)(sign ? -acc : acc), lo, rm, flags);
    }
general: {
        static const mcu_fmt *const fmts[2] = {&MCU_F16, &MCU_F16};
        return mcu_fp_sum_of_products(&MCU_F32, 2, fmts, x, y, &MCU_F32, c, rm, flags);
    }
}
