/* Inline fast paths of the FP operations for the semantic handlers (sem_fp.c), with the format fixed
 * by the function's name (_h binary16, _s binary32). Each returns the same bits and ORs the same
 * flags into *flags as the exact functions of ieee754.c (mcu_fp_*), which it calls for every case it
 * does not cover itself; tests/test_cengine_fp_fast.py and tools/fp_fast_soak.py compare them.
 *
 * Why the host arithmetic below is exact (the argument, per operation):
 * - Operands become doubles exactly: binary32 from their bits with integer arithmetic only (a normal
 *   number's fields rebiased; a subnormal's integer significand, converted exactly, times a power of
 *   two built from bits); binary16 through a table of the binary32 with the same value (normal for
 *   every nonzero finite half) and the host's float -> double conversion, exact for a normal float.
 *   So neither the host's rounding mode nor its denormal modes (DAZ/FTZ) can touch them. The build turns FMA contraction
 *   off (-ffp-contract=off), so every expression is the host operation written.
 * - A double holds every multiple of 2**L below 2**(L+53) exactly. The host operations are used only
 *   where the exact result is such a number, so the host never rounds (and its rounding mode, which
 *   Python leaves at round-to-nearest, cannot matter), and no result is below 2**-1022 (the smallest
 *   nonzero value any of them can produce is 2**-298, a binary32 product): never a host subnormal.
 *     add/sub .h: both terms are multiples of 2**-24 below 2**16: the sum is below 2**17 (41 bits).
 *     mul .h: the product of two 11-bit significands has 22 bits.
 *     mul .s: the product of two 24-bit significands has 48 bits.
 *     conversions: a binary16 is a binary32 exactly; binary32 to binary16 rounds the float's own bits.
 * - Sums that may not fit 53 bits (add/sub .s, every FMA) are rounded to odd at 53 bits instead
 *   (fpf_add_odd, below): the host sum plus its exact error (TwoSum) give the 53-bit neighbour of the
 *   exact sum whose last bit is 1 when the sum is inexact. Rounding that value once more to 24 or 11
 *   bits gives the exact sum's rounding in every mode, and NX, because 53 >= 24 + 2 (rounding to odd
 *   at p + 2 or more bits is innocuous for a later rounding to p bits in any mode: Boldo and
 *   Melquiond, "Emulation of FMA and correctly rounded sums: proved algorithms using rounding to odd",
 *   IEEE Trans. Computers 57(4), 2008).
 * - Division and square root (fast_div_*, fast_sqrt_*) use the host's correctly rounded double
 *   division and square root; why one more rounding of that double is exact is argued there.
 * - The one rounding to the destination format is integer code on the exact double's bits
 *   (round_d): every rounding mode, NX when bits fall off. It handles results in the destination's
 *   normal range only; subnormal or tiny results (UF, tininess after rounding) and overflow (OF) are
 *   left to the exact path, as are NaN and infinite operands (NV, canonical NaN).
 * - An exactly zero result takes its sign from the operands (IEEE 754 6.3: x + -x is +0, or -0
 *   when rounding down), not from the host.
 */
#ifndef MCU_FP_FAST_H
#define MCU_FP_FAST_H

#include <stdint.h>
#include <string.h>

#include "ieee754.h"

#define FPF_INLINE static inline __attribute__((always_inline))

FPF_INLINE double fpf_bits_to_d(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
FPF_INLINE uint64_t fpf_d_to_bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

/* 2**e for -1022 <= e <= 1023 */
FPF_INLINE double fpf_pow2(int e) { return fpf_bits_to_d((uint64_t)(e + 1023) << 52); }

/* A finite value of format (eb exponent bits, fb fraction bits) as sig * 2**lsb: significand with the
 * hidden bit (subnormals without) and the exponent of its LSB */
FPF_INLINE uint32_t fpf_sig(uint32_t a, int eb, int fb) {
    uint32_t e = a >> fb & ((1u << eb) - 1u);
    return (a & ((1u << fb) - 1u)) | (e ? 1u << fb : 0u);
}
FPF_INLINE int fpf_lsb(uint32_t a, int eb, int fb) {
    int e = (int)(a >> fb & ((1u << eb) - 1u)), bias = (1 << (eb - 1)) - 1;
    return (e ? e : 1) - bias - fb;
}
/* its value, exactly (sign included): a normal number's bits rebiased into a double's (integer
 * operations only), a subnormal one (or zero) as its integer significand times a power of two */
FPF_INLINE double fpf_half(uint32_t h);
FPF_INLINE double fpf_value(uint32_t a, int eb, int fb) {
    if (eb == 5 && fb == 10) return fpf_half(a);
    /* binary32 other than subnormal (zeros, normals, infinities, NaNs): the host's float -> double
     * conversion, which is exact and which no denormal mode touches for these */
    if (eb == 8 && fb == 23 && __builtin_expect((a & 0x7FFFFFFFu) - 1u >= 0x7FFFFFu, 1)) {
        float f;
        memcpy(&f, &a, 4);
        return (double)f;
    }
    const int bias = (1 << (eb - 1)) - 1;
    uint64_t sign = (uint64_t)(a >> (eb + fb) & 1u) << 63;
    uint32_t e = a >> fb & ((1u << eb) - 1u);
    if (__builtin_expect(e != 0, 1))
        return fpf_bits_to_d(sign | (uint64_t)(e + (uint32_t)(1023 - bias)) << 52 |
                             (uint64_t)(a & ((1u << fb) - 1u)) << (52 - fb));
    return (double)(int32_t)(a & ((1u << fb) - 1u)) * fpf_bits_to_d(sign | (uint64_t)(1 - bias - fb + 1023) << 52);
}
/* Every binary16 bit pattern as the bits of the binary32 with its value (ieee754.c fills it when the
 * library loads): a finite half is a normal binary32 (subnormal halves, from 2**-24 up, included), or
 * a zero; infinities and NaNs stay infinities and NaNs. One load per operand instead of a dozen
 * integer operations; 256 KiB, of which training data touches a few hundred cache lines. */
extern uint32_t mcu_half_float_bits[65536];
/* the exact value of a binary16 as a double: hardware float -> double of a normal float or zero,
 * which no denormal mode (DAZ) touches; an infinity or a NaN stays one */
FPF_INLINE double fpf_half(uint32_t h) {
    float f;
    memcpy(&f, &mcu_half_float_bits[h & 0xFFFFu], 4);
    return (double)f;
}

/* exponent field all ones: infinity or NaN */
FPF_INLINE int fpf_special(uint32_t a, int eb, int fb) { return (a >> fb & ((1u << eb) - 1u)) == (1u << eb) - 1u; }
/* 1 when the fast path must leave these operands to the exact one before computing. binary16 and
 * binary32: never, since fpf_value keeps an infinity or a NaN one, which makes the host result of
 * add, mul and fma an infinity or a NaN (or, after fpf_add_odd's last-bit step, the largest double),
 * all of which round_d declines. Other formats' values are built from the fields, which is exact for
 * finite operands only. */
FPF_INLINE int fpf_specials(uint32_t a, uint32_t b, uint32_t c, int eb, int fb) {
    if ((eb == 5 && fb == 10) || (eb == 8 && fb == 23)) return 0;
    return fpf_special(a, eb, fb) | fpf_special(b, eb, fb) | fpf_special(c, eb, fb);
}

/* Round the exact nonzero double v to the format; 1 with the result in *out (NX ORed into *flags) when
 * the result is in the format's normal range, else 0 with nothing changed. On the double's bits with
 * no branch on the data: an increment by mode, added below the kept bits, then truncation (a carry
 * out of the significand bumps the exponent field, as it should): RNE half - 1 plus the kept LSB,
 * RMM half, RTZ nothing, RDN/RUP all ones when rounding away from zero. */
FPF_INLINE int round_d(double v, int eb, int fb, int rm, uint32_t *out, uint32_t *flags) {
    const int bias = (1 << (eb - 1)) - 1, sh = 52 - fb;
    const uint64_t half = 1ull << (sh - 1), ones = (1ull << sh) - 1;
    uint64_t u = fpf_d_to_bits(v), mag = u & 0x7FFFFFFFFFFFFFFFull;
    uint32_t sign = (uint32_t)(u >> 63);
    /* the exponent within [1 - bias, bias] (one unsigned compare): else below the normal range or
     * overflowing */
    if (mag - ((uint64_t)(1024 - bias) << 52) >= (uint64_t)(2 * bias) << 52) return 0;
    uint64_t inc = rm == 0 ? half - 1 + (mag >> sh & 1u) : rm == 4 ? half : rm == 1 ? 0 : (uint32_t)(rm == 2) == sign ? ones : 0;
    uint32_t r = (uint32_t)(((mag + inc) >> sh) - ((uint64_t)(1023 - bias) << fb));
    if (r >= ((1u << eb) - 1u) << fb) return 0;          /* rounded up to overflow */
    *flags |= (uint32_t)((mag & ones) != 0);             /* NX */
    *out = sign << (eb + fb) | r;
    return 1;
}

/* The exact sum x = p + q of two doubles, rounded to odd at 53 bits: s = RN(p + q) and its error
 * e = x - s by TwoSum (Knuth; exact in round-to-nearest without overflow, which these magnitudes,
 * at most 2**257, never reach). x lies strictly between s and its neighbour towards e when e != 0;
 * of the two, round-to-odd takes the one whose last significand bit is 1: s itself when its last bit
 * is 1, else the neighbour (one unit of the magnitude towards e: from a power of two down, that is
 * the all-ones significand below, odd too). Zero e: x = s. Branch-free. */
FPF_INLINE double fpf_add_odd(double p, double q) {
    double s = p + q, bb = s - p;
    double e = (p - (s - bb)) + (q - bb);
    uint64_t u = fpf_d_to_bits(s), ue = fpf_d_to_bits(e);
    uint64_t move = (uint64_t)((e != 0.0) & !(u & 1u));           /* inexact with an even last bit */
    uint64_t down = (ue ^ u) >> 63;                                 /* e's sign differs from s's */
    return fpf_bits_to_d(u + (move & !down) - (move & down));
}
/* The same, for sums that are almost always exact (binary16 FMAs: a 22-bit product and an 11-bit
 * addend need more than 53 bits only when about 30 binades apart; vfdotpex's FP32 accumulator plus
 * the products: exact in all of the 4.4 M sets recorded from a ResNet8 FP16 step): the last-bit step
 * behind a branch that the host predicts, instead of a dozen integer operations every time. */
FPF_INLINE double fpf_add_odd_mostly_exact(double p, double q) {
    double s = p + q, bb = s - p;
    double e = (p - (s - bb)) + (q - bb);
    if (__builtin_expect(e != 0.0, 0)) {                          /* inexact, or NaN: as fpf_add_odd */
        uint64_t u = fpf_d_to_bits(s), ue = fpf_d_to_bits(e);
        uint64_t move = (uint64_t)!(u & 1u), down = (ue ^ u) >> 63;
        return fpf_bits_to_d(u + (move & !down) - (move & down));
    }
    return s;
}

/* --- binary32 in round-to-nearest-even: the host's own float operations -------------------------- */
/* The host's float addition, multiplication and division are IEEE 754's, correctly rounded to nearest
 * even (the mode Python leaves the host in, which TwoSum above needs too): in frm's default mode they
 * give the result itself whenever it is normal. What the host does not give here is the flags, so
 * each op tests exactness for NX. The tries decline (the general path takes over): an operand that is
 * subnormal (a host denormals-are-zero mode would read it as zero; zeros, infinities and NaNs pass,
 * their results are declined below when they need to be), and a result whose magnitude is not in
 * (2**-126, infinity) (fpf_s_range): zeros, subnormal results, the smallest normal (which may come
 * from a tiny exact value: UF), infinities (overflow) and NaNs. A result r above the smallest normal
 * comes from an exact value above r - ulp(r)/2 > 2**-126: never tiny, so no UF, and no OF since r is
 * finite; NX is then the only flag. */
FPF_INLINE float fpf_sf(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
FPF_INLINE int fpf_s_nosub(uint32_t a) { return (a & 0x7FFFFFFFu) - 1u >= 0x7FFFFFu; }
FPF_INLINE int fpf_s_range(uint32_t r) { return (r & 0x7FFFFFFFu) - 0x00800001u < 0x7F800000u - 0x00800001u; }
FPF_INLINE uint32_t fpf_s_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
/* a + b: NX when the host sum s is not exact, i.e. unless RN(s - a) == b and RN(s - b) == a (Dekker's
 * Fast2Sum lemma, as fpf_sum_exact below: with |a| >= |b|, s - a is a float, so it equals b only when
 * s = a + b; an exact sum passes both). A host flush-to-zero mode cannot fake exactness: an exact
 * sum gives b (zero or normal) itself, and an inexact one has b != 0, which a flushed 0 is not. */
FPF_INLINE int fpf_try_add_s_rne(uint32_t a, uint32_t b, uint32_t *out, uint32_t *nx) {
    float x = fpf_sf(a), y = fpf_sf(b), s = x + y;
    *out = fpf_s_bits(s);
    *nx = !((s - x == y) & (s - y == x));
    return fpf_s_nosub(a) & fpf_s_nosub(b) & fpf_s_range(*out);
}
/* a * b: the double product of the two floats is exact (48 bits, magnitudes within [2**-252, 2**256]) */
FPF_INLINE int fpf_try_mul_s_rne(uint32_t a, uint32_t b, uint32_t *out, uint32_t *nx) {
    float x = fpf_sf(a), y = fpf_sf(b), p = x * y;
    *out = fpf_s_bits(p);
    *nx = (double)x * (double)y != (double)p;
    return fpf_s_nosub(a) & fpf_s_nosub(b) & fpf_s_range(*out);
}
/* a / b: the quotient q is exact when q * b (exact in a double, as above) is a; b = 0 makes q infinite
 * or NaN and a = 0 makes it zero, both declined */
FPF_INLINE int fpf_try_div_s_rne(uint32_t a, uint32_t b, uint32_t *out, uint32_t *nx) {
    float x = fpf_sf(a), y = fpf_sf(b), q = x / y;
    *out = fpf_s_bits(q);
    *nx = (double)q * (double)y != (double)x;
    return fpf_s_nosub(a) & fpf_s_nosub(b) & fpf_s_range(*out);
}
/* +-(a*b) +- c: the exact double product plus c rounded to odd at 53 bits (fpf_add_odd, below), then
 * the host's double -> float conversion (round to nearest even): the correct rounding of the exact
 * value, since 53 >= 24 + 2 (Boldo and Melquiond, as for the general path). NX when the float differs
 * from the double: an exact value that is a float is its own odd rounding; one that is not either has
 * at most 53 bits (then v is it, not a float) or rounds to odd with bit 52 set (53 significant bits,
 * not a float either). */
FPF_INLINE int fpf_try_fma_s_rne(uint32_t a, uint32_t b, uint32_t c, uint32_t *out, uint32_t *nx) {
    double v = fpf_add_odd((double)fpf_sf(a) * (double)fpf_sf(b), (double)fpf_sf(c));
    float r = (float)v;
    *out = fpf_s_bits(r);
    *nx = (double)r != v;
    return fpf_s_nosub(a) & fpf_s_nosub(b) & fpf_s_nosub(c) & fpf_s_range(*out);
}

/* --- add / sub ------------------------------------------------------------------------------------ */
/* binary16: always exact in a double (see above); every mode (fast_add_h below tries the
 * round-to-nearest-even path first) */
FPF_INLINE uint32_t fpf_add_h_any(uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    if (!fpf_specials(a, b, 0, 5, 10)) {
        double v = fpf_value(a, 5, 10) + fpf_value(b, 5, 10);
        uint32_t r;
        if (v == 0.0) {                                  /* exact zero: x + -x, or zeros */
            uint32_t sa = a >> 15 & 1u, sb = b >> 15 & 1u;
            return (sa == sb ? sa : (uint32_t)(rm == 2)) << 15;
        }
        if (round_d(v, 5, 10, rm, &r, flags)) return r;
    }
    return mcu_fp_add(&MCU_F16, a, b, rm, flags);
}

/* binary32: the host's sum in round-to-nearest-even, else the sum of two floats rounded to odd
 * (fpf_add_odd), then to binary32 */
FPF_INLINE uint32_t fast_add_s(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    (void)f;
    uint32_t r0, nx;
    if (rm == 0 && __builtin_expect(fpf_try_add_s_rne(a, b, &r0, &nx), 1)) { *flags |= nx; return r0; }
    if (!fpf_specials(a, b, 0, 8, 23)) {
        double v = fpf_add_odd(fpf_value(a, 8, 23), fpf_value(b, 8, 23));
        uint32_t r;
        if (v == 0.0) {                                  /* exact zero: x + -x, or zeros */
            uint32_t sa = a >> 31, sb = b >> 31;
            return (sa == sb ? sa : (uint32_t)(rm == 2)) << 31;
        }
        if (round_d(v, 8, 23, rm, &r, flags)) return r;
    }
    return mcu_fp_add(&MCU_F32, a, b, rm, flags);
}
FPF_INLINE uint32_t fast_sub_s(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    return fast_add_s(f, a, b ^ 0x80000000u, rm, flags);
}

/* --- mul ------------------------------------------------------------------------------------------ */
/* exact products (22 and 48 bits); a zero product has the sign a ^ b in the host as in IEEE 754
 * (binary16: fast_mul_h below rounds the float product's bits first) */
FPF_INLINE uint32_t fpf_mul_h_any(uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    if (!fpf_specials(a, b, 0, 5, 10)) {
        double v = fpf_value(a, 5, 10) * fpf_value(b, 5, 10);
        uint32_t r;
        if (v == 0.0) return (a ^ b) & 0x8000u;
        if (round_d(v, 5, 10, rm, &r, flags)) return r;
    }
    return mcu_fp_mul(&MCU_F16, a, b, rm, flags);
}
FPF_INLINE uint32_t fast_mul_s(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    (void)f;
    uint32_t r0, nx;
    if (rm == 0 && __builtin_expect(fpf_try_mul_s_rne(a, b, &r0, &nx), 1)) { *flags |= nx; return r0; }
    if (!fpf_specials(a, b, 0, 8, 23)) {
        double v = fpf_value(a, 8, 23) * fpf_value(b, 8, 23);
        uint32_t r;
        if (v == 0.0) return (a ^ b) & 0x80000000u;
        if (round_d(v, 8, 23, rm, &r, flags)) return r;
    }
    return mcu_fp_mul(&MCU_F32, a, b, rm, flags);
}

/* --- fma ------------------------------------------------------------------------------------------ */
/* round(+-(a*b) +- c): the product is exact in a double (22 or 48 bits, magnitude within
 * [2**-298, 2**256]), the sum is rounded to odd (fpf_add_odd) and then to the format. np/na negate the
 * product/the addend (fmsub, fnmadd, vfmre...). An exact zero takes its sign by IEEE 754 6.3: the
 * terms' common sign when both are zeros of one sign, else +0 (-0 rounding down). */
FPF_INLINE uint32_t fpf_fma(uint32_t a, uint32_t b, uint32_t c, int rm, int np, int na, uint32_t *flags,
                            int eb, int fb) {
    const uint32_t sbit = 1u << (eb + fb), mag = sbit - 1u;
    if (!fpf_specials(a, b, c, eb, fb)) {
        double p = fpf_value(a ^ (np ? sbit : 0u), eb, fb) * fpf_value(b, eb, fb);
        double q = fpf_value(c ^ (na ? sbit : 0u), eb, fb);
        double v = fb == 10 ? fpf_add_odd_mostly_exact(p, q) : fpf_add_odd(p, q);
        uint32_t r;
        if (v == 0.0) {
            uint32_t sp = ((a ^ b) >> (eb + fb) & 1u) ^ (uint32_t)(np != 0), sc = (c >> (eb + fb) & 1u) ^ (uint32_t)(na != 0);
            int pzero = !(a & mag) || !(b & mag);
            uint32_t sg = (pzero && !(c & mag) && sp == sc) ? sp : (uint32_t)(rm == 2);
            return sg << (eb + fb);
        }
        if (round_d(v, eb, fb, rm, &r, flags)) return r;
    }
    return mcu_fp_fma(fb == 10 ? &MCU_F16 : &MCU_F32, a, b, c, rm, np, na, flags);
}
FPF_INLINE uint32_t fast_fma_s(uint32_t a, uint32_t b, uint32_t c, int rm, int np, int na, uint32_t *flags) {
    uint32_t r, nx;
    if (rm == 0 && __builtin_expect(fpf_try_fma_s_rne(a ^ (np ? 0x80000000u : 0u), b, c ^ (na ? 0x80000000u : 0u),
                                                      &r, &nx), 1)) {
        *flags |= nx;
        return r;
    }
    return fpf_fma(a, b, c, rm, np, na, flags, 8, 23);
}

/* --- division and square root ------------------------------------------------------------------------ */
/* The host's double quotient q = RN53(x) of two nonzero finite operands (exact values in a double), x
 * the exact quotient. With p the format's precision (24 or 11), call a "point" every number of p + 1
 * significant bits: the format's numbers and the midpoints between them. Rounding to the format in
 * any mode depends only on which points x lies on or between, and NX on whether x is a format number.
 * Claim: x is a point, or no point lies between x and q (included); either way rounding q (round_d)
 * gives x's rounding and flags.
 *   Write x = (A/B) * 2**E with integers 0 < A, B < 2**p, and 2**k <= x < 2**(k+1). The points in
 *   [2**k, 2**(k+1)] are the multiples of 2**(k-p). For such a point P, x - P = (A - B*m*2**(k-p-E))
 *   * 2**E / B with m an integer; k - p - E <= 0 (x < 2**(p+E)), so when nonzero the bracket is at
 *   least 2**(k-p-E) in magnitude and |x - P| >= 2**(k-p) / B > 2**(k-2p) >= 2**(-2p-1) * x.
 *   |q - x| <= 2**-53 * x, smaller (2p + 1 <= 49). When x is a point it has p + 1 <= 53 bits: q = x.
 * Square root: x = sqrt(A * 2**E), 0 < A < 2**p; P as above; x**2 - P**2 is a multiple of 2**(2k-2p)
 *   (2k < E + p, so 2k - 2p < E), nonzero unless x = P; x + P <= 2**(k+2), so |x - P| >= 2**(k-2p-2)
 *   > 2**(-2p-3) * x, again more than 2**-53 * x (2p + 3 <= 51).
 * The host operations see operands of at most 2**128 in magnitude and at least 2**-149, so the
 * quotient and root are normal doubles; Python leaves the host in round-to-nearest. Zeros,
 * infinities, NaNs, negative square roots and results outside the normal range (round_d declines)
 * take the exact path. */
FPF_INLINE uint32_t fpf_div(uint32_t a, uint32_t b, int rm, uint32_t *flags, int eb, int fb) {
    const uint32_t mag = (1u << (eb + fb)) - 1u;
    if (!(fpf_special(a, eb, fb) | fpf_special(b, eb, fb)) && (a & mag) && (b & mag)) {
        uint32_t r;
        if (round_d(fpf_value(a, eb, fb) / fpf_value(b, eb, fb), eb, fb, rm, &r, flags)) return r;
    }
    return mcu_fp_div(fb == 10 ? &MCU_F16 : &MCU_F32, a, b, rm, flags);
}
FPF_INLINE uint32_t fpf_sqrt(uint32_t a, int rm, uint32_t *flags, int eb, int fb) {
    const uint32_t mag = (1u << (eb + fb)) - 1u;
    if (!fpf_special(a, eb, fb) && (a & mag) && !(a >> (eb + fb) & 1u)) {
        uint32_t r;
        if (round_d(__builtin_sqrt(fpf_value(a, eb, fb)), eb, fb, rm, &r, flags)) return r;
    }
    return mcu_fp_sqrt(fb == 10 ? &MCU_F16 : &MCU_F32, a, rm, flags);
}
FPF_INLINE uint32_t fast_div_h(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    (void)f; return fpf_div(a, b, rm, flags, 5, 10);
}
FPF_INLINE uint32_t fast_div_s(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    (void)f;
    uint32_t r, nx;
    if (rm == 0 && __builtin_expect(fpf_try_div_s_rne(a, b, &r, &nx), 1)) { *flags |= nx; return r; }
    return fpf_div(a, b, rm, flags, 8, 23);
}
FPF_INLINE uint32_t fast_sqrt_h(const mcu_fmt *f, uint32_t a, int rm, uint32_t *flags) {
    (void)f; return fpf_sqrt(a, rm, flags, 5, 10);
}
FPF_INLINE uint32_t fast_sqrt_s(const mcu_fmt *f, uint32_t a, int rm, uint32_t *flags) {
    (void)f; return fpf_sqrt(a, rm, flags, 8, 23);
}

/* --- conversions ---------------------------------------------------------------------------------- */
/* binary32 -> binary16: rounding of the float's own bits (fpf_round_f_h, below) */
FPF_INLINE int fpf_round_f_h(uint32_t u, int rm, uint32_t *out, uint32_t *nx);
FPF_INLINE uint32_t fast_s_to_h(uint32_t a, int rm, uint32_t *flags) {
    uint32_t r, nx;
    if (__builtin_expect(fpf_round_f_h(a, rm, &r, &nx), 1)) { *flags |= nx; return r; }
    if (!(a & 0x7FFFFFFFu)) return a >> 16;              /* +-0 */
    return mcu_fp_convert(&MCU_F32, &MCU_F16, a, rm, flags);
}
/* binary16 -> binary32: exact (no rounding, no flags) for every finite half */
FPF_INLINE uint32_t fast_h_to_s(uint32_t a, int rm, uint32_t *flags) {
    uint32_t e = a >> 10 & 31u, sign = (a & 0x8000u) << 16;
    if (e && e != 31u) return sign | (e + 112u) << 23 | (a & 0x3FFu) << 13;   /* normal: rebias 15 -> 127 */
    if (!(a & 0x7FFFu)) return sign;                                          /* +-0 */
    return mcu_fp_convert(&MCU_F16, &MCU_F32, a, rm, flags);                  /* subnormal, inf, NaN */
}

/* --- comparisons and min/max: integer only, format constant (fb fraction bits, ss sign shift) ------ */
FPF_INLINE int fpf_nan(uint32_t a, int eb, int fb) {
    uint32_t mag = a & ((1u << (eb + fb)) - 1u);
    return mag > ((1u << eb) - 1u) << fb;
}
FPF_INLINE int fpf_snan(uint32_t a, int eb, int fb) { return fpf_nan(a, eb, fb) && !(a >> (fb - 1) & 1u); }
/* order key: +0 == -0 */
FPF_INLINE int64_t fpf_key(uint32_t a, int eb, int fb) {
    int64_t mag = a & ((1u << (eb + fb)) - 1u);
    return (a >> (eb + fb) & 1u) ? -mag : mag;
}
/* op 0 eq (quiet), 1 lt, 2 le (signaling) */
FPF_INLINE uint32_t fpf_cmp(uint32_t a, uint32_t b, int eb, int fb, int op, uint32_t *flags) {
    if (fpf_nan(a, eb, fb) || fpf_nan(b, eb, fb)) {
        if (op || fpf_snan(a, eb, fb) || fpf_snan(b, eb, fb)) *flags |= 16u;
        return 0;
    }
    int64_t ka = fpf_key(a, eb, fb), kb = fpf_key(b, eb, fb);
    return op == 0 ? ka == kb : op == 1 ? ka < kb : ka <= kb;
}
FPF_INLINE uint32_t fpf_minmax(uint32_t a, uint32_t b, int eb, int fb, int want_max, uint32_t *flags) {
    if (fpf_snan(a, eb, fb) || fpf_snan(b, eb, fb)) *flags |= 16u;
    int an = fpf_nan(a, eb, fb), bn = fpf_nan(b, eb, fb);
    if (an && bn) return ((1u << eb) - 1u) << fb | 1u << (fb - 1);   /* canonical NaN */
    if (an) return b;
    if (bn) return a;
    /* total order key: -0 < +0 */
    int64_t ma = a & ((1u << (eb + fb)) - 1u), mb = b & ((1u << (eb + fb)) - 1u);
    int64_t ka = (a >> (eb + fb) & 1u) ? -ma - 1 : ma, kb = (b >> (eb + fb) & 1u) ? -mb - 1 : mb;
    return (ka <= kb) == want_max ? b : a;
}
#define FPF_CMP_FNS(P, EB, FB)                                                                            \
    FPF_INLINE uint32_t fast_eq_##P(const mcu_fmt *f, uint32_t a, uint32_t b, uint32_t *fl) { (void)f; return fpf_cmp(a, b, EB, FB, 0, fl); } \
    FPF_INLINE uint32_t fast_lt_##P(const mcu_fmt *f, uint32_t a, uint32_t b, uint32_t *fl) { (void)f; return fpf_cmp(a, b, EB, FB, 1, fl); } \
    FPF_INLINE uint32_t fast_le_##P(const mcu_fmt *f, uint32_t a, uint32_t b, uint32_t *fl) { (void)f; return fpf_cmp(a, b, EB, FB, 2, fl); } \
    FPF_INLINE uint32_t fast_min_##P(const mcu_fmt *f, uint32_t a, uint32_t b, uint32_t *fl) { (void)f; return fpf_minmax(a, b, EB, FB, 0, fl); } \
    FPF_INLINE uint32_t fast_max_##P(const mcu_fmt *f, uint32_t a, uint32_t b, uint32_t *fl) { (void)f; return fpf_minmax(a, b, EB, FB, 1, fl); }
FPF_CMP_FNS(h, 5, 10)
FPF_CMP_FNS(s, 8, 23)
#undef FPF_CMP_FNS

/* --- binary16 and FP16-SIMD: the specialised paths ------------------------------------------------- */
/* What the vector FP16 ops (vfadd.h, vfmac.h, ... : two lanes per instruction) and the scalar FP16 ops
 * spend is mostly the latency of one long chain per lane (table load, convert, arithmetic, exactness
 * check, rounding) and the branches between its steps. Here both lanes are computed in full with no
 * branch on the data, and one predicted branch at the end takes the result when every lane stayed in
 * its path's domain; otherwise (zeros, subnormal or overflowing results, infinities, NaNs, sums the
 * host rounded) each lane goes through the general functions above, which give the exact result.
 *  - Products: the product of two binary16 values is exact in binary32 (two 11-bit significands give
 *    22 <= 24 bits; the magnitudes of nonzero finite products lie in [2**-48, 2**32], inside binary32's
 *    normal range), so it is one host float multiplication, and its rounding to binary16 is integer
 *    code on the float's bits (fpf_round_f_h), in every rounding mode.
 *  - Sums (add, and the product plus the addend of an FMA) in a double, then the one rounding to
 *    binary16; in round-to-nearest-even, the mode `frm` holds unless a program changes it, by
 *    fpf_round_d_h_rne; other modes go through the general round_d.
 *  - An FMA's sum may need more than 53 bits (a 22-bit product and an 11-bit addend about 30 binades
 *    apart): fpf_sum_exact tests, without a branch, that the host's double sum is exact; the rare
 *    inexact sums go to the general path (rounding to odd, then to binary16). */

/* the binary16 h (low 16 bits) as the float of the same value (mcu_half_float_bits) */
FPF_INLINE float fpf_hf(uint32_t h) {
    float f;
    memcpy(&f, &mcu_half_float_bits[h & 0xFFFFu], 4);
    return f;
}
FPF_INLINE uint32_t fpf_f_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* Round the float with bits u to binary16 in mode rm: 1 with the half in *out and NX in *nx (0 or 1)
 * when the result is in binary16's normal range, else 0 (zeros, |u| < 2**-14: subnormal or tiny
 * results; overflow; infinities and NaNs; *out and *nx are then meaningless). round_d's integer
 * rounding done on the float's bits: the float's significand is the top 23 bits of the double's, the
 * 29 below being zeros, so rounding at bit 13 here is rounding at bit 42 there. The exponent field
 * (bit 23) ends at bit 10 after the shift and is rebiased by 127 - 15 = 112. */
FPF_INLINE int fpf_round_f_h(uint32_t u, int rm, uint32_t *out, uint32_t *nx) {
    uint32_t mag = u & 0x7FFFFFFFu, sign = u >> 31;
    /* 0x38800000 = 2**-14, 0x47800000 = 2**16: the exponent in [-14, 15] (one unsigned compare) */
    int ok = mag - 0x38800000u < 0x47800000u - 0x38800000u;
    uint32_t inc = rm == 0 ? 0xFFFu + (mag >> 13 & 1u) : rm == 4 ? 0x1000u : rm == 1 ? 0u
                 : (uint32_t)(rm == 2) == sign ? 0x1FFFu : 0u;
    uint32_t r = ((mag + inc) >> 13) - (112u << 10);
    ok &= r < 0x7C00u;                                   /* not rounded up to overflow */
    *nx = (mag & 0x1FFFu) != 0;
    *out = sign << 15 | r;
    return ok;
}

/* Round the double v to binary16 in round-to-nearest-even: 1 with the half in *out and NX in *nx when
 * the result is normal, else 0. As round_d(v, 5, 10, 0) without its branches: the one compare keeps
 * |v| in [2**-14, 65520): below, the result is subnormal or tiny (round_d declines those too); from
 * 65520 up (the midpoint between the largest half, 65504, whose last significand bit is 1, and 2**16,
 * to which a tie rounds) the result overflows, and from 2**16 up round_d declines as well; infinities
 * and NaNs are above. Inside, adding half an ulp minus one plus the kept LSB and truncating is
 * round-to-nearest-even (a carry into the exponent field is the right result); the exponent is
 * rebiased from 1023 to 15. */
FPF_INLINE int fpf_round_d_h_rne(double v, uint32_t *out, uint32_t *nx) {
    uint64_t u = fpf_d_to_bits(v), mag = u & 0x7FFFFFFFFFFFFFFFull;
    /* 0x3F10000000000000 = 2**-14, 0x40EFFE0000000000 = 65520.0 */
    int ok = mag - 0x3F10000000000000ull < 0x40EFFE0000000000ull - 0x3F10000000000000ull;
    uint32_t r = (uint32_t)((mag + 0x1FFFFFFFFFFull + (mag >> 42 & 1u)) >> 42) - (1008u << 10);
    *nx = (mag & 0x3FFFFFFFFFFull) != 0;
    *out = ((uint32_t)(u >> 48) & 0x8000u) | (r & 0x7FFFu);
    return ok;
}

/* 1 when s = RN(p + q) (host double addition) is the exact sum. If RN(s - p) == q and RN(s - q) == p
 * then s = p + q: take |p| >= |q| (the test is symmetric); then s - p is a double (Dekker's Fast2Sum
 * lemma, radix 2, round-to-nearest, no overflow or underflow here: every value is a multiple of
 * 2**-48 below 2**34), so RN(s - p) = s - p = q. Conversely an exact s passes (both differences are
 * then exact). A NaN or infinity fails (NaN compares unequal). Two independent subtractions after s,
 * where TwoSum's error term needs four dependent ones. */
FPF_INLINE int fpf_sum_exact(double s, double p, double q) { return (s - p == q) & (s - q == p); }

/* The fast tries for one lane: 1 with the result and NX in *out and *nx when taken */
/* a + b: exact in a double (both multiples of 2**-24 below 2**16) */
FPF_INLINE int fpf_try_add_h_rne(uint32_t a, uint32_t b, uint32_t *out, uint32_t *nx) {
    return fpf_round_d_h_rne((double)fpf_hf(a) + (double)fpf_hf(b), out, nx);
}
/* a * b: exact in a float (see above) */
FPF_INLINE int fpf_try_mul_h(uint32_t a, uint32_t b, int rm, uint32_t *out, uint32_t *nx) {
    return fpf_round_f_h(fpf_f_to_bits(fpf_hf(a) * fpf_hf(b)), rm, out, nx);
}
/* a * b + c (signs already applied to the bits): the exact float product in a double, plus c, when
 * that double sum is exact; a zero sum declines (its sign is IEEE 754 6.3's business, fpf_fma's) */
FPF_INLINE int fpf_try_fma_h_rne(uint32_t a, uint32_t b, uint32_t c, uint32_t *out, uint32_t *nx) {
    double p = (double)(fpf_hf(a) * fpf_hf(b)), q = (double)fpf_hf(c), s = p + q;
    return fpf_round_d_h_rne(s, out, nx) & fpf_sum_exact(s, p, q);
}

/* Both lanes in one host vector of two doubles (GCC/Clang vector extensions: SSE2 on x86-64, plain
 * code elsewhere): the same operations as the one-lane tries above, lane by lane. */
typedef double fpf_v2d __attribute__((vector_size(16)));
typedef uint64_t fpf_v2u __attribute__((vector_size(16)));
typedef int64_t fpf_v2i __attribute__((vector_size(16)));
FPF_INLINE fpf_v2d fpf_v2_halves(uint32_t w) {
    fpf_v2d v = {(double)fpf_hf(w), (double)fpf_hf(w >> 16)};
    return v;
}
/* fpf_round_d_h_rne on both lanes of s, taken only where `ok` (lanes of all ones) holds: 1 with the
 * packed halves in *out and NX of either lane ORed into *flags, else 0 with nothing changed. The range
 * test is the same interval [2**-14, 65520) as double compares (a NaN fails them). */
FPF_INLINE int fpf_v2_round_h_rne(fpf_v2d s, fpf_v2i ok, uint32_t *out, uint32_t *flags) {
    const fpf_v2u absmask = {0x7FFFFFFFFFFFFFFFull, 0x7FFFFFFFFFFFFFFFull};
    fpf_v2u u = (fpf_v2u)s, mag = u & absmask;
    fpf_v2d m = (fpf_v2d)mag;
    ok &= (m >= 0x1p-14) & (m < 65520.0);
    if (__builtin_expect(!(ok[0] & ok[1]), 0)) return 0;
    fpf_v2u r = ((mag + 0x1FFFFFFFFFFull + ((mag >> 42) & 1u)) >> 42) - (1008u << 10);
    r |= (u >> 48) & 0x8000u;
    fpf_v2u x = mag & 0x3FFFFFFFFFFull;
    *flags |= (x[0] | x[1]) != 0;
    *out = (uint32_t)r[0] | (uint32_t)r[1] << 16;
    return 1;
}

/* scalar binary16 (the general paths out of line: see the vector ops below) */
static __attribute__((noinline, cold)) uint32_t fpf_add_h_cold(uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    return fpf_add_h_any(a, b, rm, flags);
}
static __attribute__((noinline, cold)) uint32_t fpf_mul_h_cold(uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    return fpf_mul_h_any(a, b, rm, flags);
}
static __attribute__((noinline, cold)) uint32_t fpf_fma_h_cold(uint32_t a, uint32_t b, uint32_t c, int rm, int np, int na,
                                                              uint32_t *flags) {
    return fpf_fma(a, b, c, rm, np, na, flags, 5, 10);
}
FPF_INLINE uint32_t fast_add_h(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    (void)f;
    uint32_t r, nx;
    if (rm == 0 && __builtin_expect(fpf_try_add_h_rne(a, b, &r, &nx), 1)) { *flags |= nx; return r; }
    return fpf_add_h_cold(a, b, rm, flags);
}
FPF_INLINE uint32_t fast_sub_h(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    /* flipping b's sign is what the exact path does too (a NaN stays a NaN of the same kind) */
    return fast_add_h(f, a, b ^ 0x8000u, rm, flags);
}
FPF_INLINE uint32_t fast_mul_h(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    (void)f;
    uint32_t r, nx;
    if (__builtin_expect(fpf_try_mul_h(a, b, rm, &r, &nx), 1)) { *flags |= nx; return r; }
    return fpf_mul_h_cold(a, b, rm, flags);
}
FPF_INLINE uint32_t fast_fma_h(uint32_t a, uint32_t b, uint32_t c, int rm, int np, int na, uint32_t *flags) {
    uint32_t r, nx;
    if (rm == 0 && __builtin_expect(fpf_try_fma_h_rne(a ^ (np ? 0x8000u : 0u), b, c ^ (na ? 0x8000u : 0u), &r, &nx), 1)) {
        *flags |= nx;
        return r;
    }
    return fpf_fma_h_cold(a, b, c, rm, np, na, flags);
}

/* FP16-SIMD: a word holds two binary16 lanes (bits 15:0 and 31:16); the result is packed the same way
 * and the flags of both lanes are ORed. Both lanes' tries run, then one branch. */
FPF_INLINE uint32_t fpf_pack(uint32_t lo, uint32_t hi) { return (lo & 0xFFFFu) | hi << 16; }
/* The general lane by lane paths, out of line (cold: other rounding modes, and what the tries
 * decline), so that the issue path's copy of each op keeps its registers for the fast case */
#define FPF_COLD static __attribute__((noinline, cold))
FPF_COLD uint32_t fpf_vadd_h_any(uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    return fpf_pack(fpf_add_h_any(a & 0xFFFFu, b & 0xFFFFu, rm, flags), fpf_add_h_any(a >> 16, b >> 16, rm, flags));
}
FPF_COLD uint32_t fpf_vmul_h_any(uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    return fpf_pack(fpf_mul_h_any(a & 0xFFFFu, b & 0xFFFFu, rm, flags), fpf_mul_h_any(a >> 16, b >> 16, rm, flags));
}
FPF_COLD uint32_t fpf_vfma_h_any(uint32_t a, uint32_t b, uint32_t c, int rm, int na, uint32_t *flags) {
    return fpf_pack(fpf_fma(a & 0xFFFFu, b & 0xFFFFu, c & 0xFFFFu, rm, 0, na, flags, 5, 10),
                    fpf_fma(a >> 16, b >> 16, c >> 16, rm, 0, na, flags, 5, 10));
}
FPF_COLD uint32_t fpf_vcpka_h_s_any(uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    return fpf_pack(fast_s_to_h(a, rm, flags), fast_s_to_h(b, rm, flags));
}
FPF_COLD uint32_t fpf_vminmax_h_any(uint32_t a, uint32_t b, int want_max, uint32_t *flags) {
    return fpf_pack(fpf_minmax(a & 0xFFFFu, b & 0xFFFFu, 5, 10, want_max, flags),
                    fpf_minmax(a >> 16, b >> 16, 5, 10, want_max, flags));
}
#undef FPF_COLD

/* vfadd.h; vfsub.h is b with both sign bits flipped */
FPF_INLINE uint32_t fast_vadd_h(uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    uint32_t r;
    if (rm == 0) {
        const fpf_v2i all = {-1, -1};
        if (__builtin_expect(fpf_v2_round_h_rne(fpf_v2_halves(a) + fpf_v2_halves(b), all, &r, flags), 1)) return r;
    }
    return fpf_vadd_h_any(a, b, rm, flags);
}
FPF_INLINE uint32_t fast_vmul_h(uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    uint32_t r0, r1, x0, x1;
    if (rm == 0) {                           /* the products exact in a double (22 bits) */
        const fpf_v2i all = {-1, -1};
        if (__builtin_expect(fpf_v2_round_h_rne(fpf_v2_halves(a) * fpf_v2_halves(b), all, &r0, flags), 1)) return r0;
        return fpf_vmul_h_any(a, b, rm, flags);
    }
    int ok = fpf_try_mul_h(a, b, rm, &r0, &x0) & fpf_try_mul_h(a >> 16, b >> 16, rm, &r1, &x1);
    if (__builtin_expect(ok, 1)) { *flags |= x0 | x1; return fpf_pack(r0, r1); }
    return fpf_vmul_h_any(a, b, rm, flags);
}
/* vfmac.h (na 0: a*b + c) and vfmre.h (na 1: a*b - c), lane by lane */
FPF_INLINE uint32_t fast_vfma_h(uint32_t a, uint32_t b, uint32_t c, int rm, int na, uint32_t *flags) {
    uint32_t r;
    if (rm == 0) {
        /* the products exact in a double (22 bits), the sums checked exact as fpf_sum_exact */
        fpf_v2d p = fpf_v2_halves(a) * fpf_v2_halves(b), q = fpf_v2_halves(c ^ (na ? 0x80008000u : 0u));
        fpf_v2d s = p + q;
        fpf_v2i exact = (s - p == q) & (s - q == p);
        if (__builtin_expect(fpf_v2_round_h_rne(s, exact, &r, flags), 1)) return r;
    }
    return fpf_vfma_h_any(a, b, c, rm, na, flags);
}
/* vfcpka.h.s: two binary32 to the two lanes */
FPF_INLINE uint32_t fast_vcpka_h_s(uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    uint32_t r0, r1, x0, x1;
    int ok = fpf_round_f_h(a, rm, &r0, &x0) & fpf_round_f_h(b, rm, &r1, &x1);
    if (__builtin_expect(ok, 1)) { *flags |= x0 | x1; return fpf_pack(r0, r1); }
    return fpf_vcpka_h_s_any(a, b, rm, flags);
}
/* vfmin.h / vfmax.h: no NaN in the four lanes (the common case) is one test on both words: a lane's
 * magnitude is above 0x7C00 (a NaN) when adding 0x3FF carries into bit 15, which stays in the lane
 * (0x7FFF + 0x3FF < 0x10000). Then per lane the larger (want_max) or smaller of the total-order keys
 * (x as a signed 16-bit integer with the magnitude bits inverted when negative: -0 below +0), b on
 * equal keys (identical bits), as fpf_minmax. */
FPF_INLINE int32_t fpf_hkey(uint32_t x) {
    int32_t v = (int16_t)(x & 0xFFFFu);
    return v ^ ((v >> 15) & 0x7FFF);
}
FPF_INLINE uint32_t fast_vminmax_h(uint32_t a, uint32_t b, int want_max, uint32_t *flags) {
    uint32_t nan = (((a & 0x7FFF7FFFu) + 0x03FF03FFu) | ((b & 0x7FFF7FFFu) + 0x03FF03FFu)) & 0x80008000u;
    if (__builtin_expect(!nan, 1)) {
        uint32_t a1 = a >> 16, b1 = b >> 16;
        int le0 = fpf_hkey(a) <= fpf_hkey(b), le1 = fpf_hkey(a1) <= fpf_hkey(b1);
        uint32_t r0 = le0 == want_max ? b : a, r1 = le1 == want_max ? b1 : a1;
        return fpf_pack(r0, r1);
    }
    return fpf_vminmax_h_any(a, b, want_max, flags);
}

#endif
