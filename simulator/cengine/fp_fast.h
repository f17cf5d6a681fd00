/* Inline fast paths of the FP operations for the semantic handlers (sem_fp.c), with the format fixed
 * by the function's name (_h binary16, _s binary32). Each returns the same bits and ORs the same
 * flags into *flags as the exact functions of ieee754.c (mcu_fp_*), which it calls for every case it
 * does not cover itself; tests/test_cengine_fp_fast.py and tools/fp_fast_soak.py compare them.
 *
 * Why the host arithmetic below is exact (the argument, per operation):
 * - Operands become doubles from their bits with integer arithmetic only (a normal number's fields
 *   rebiased; a subnormal's integer significand, converted exactly, times a power of two built from
 *   bits), so neither the host's rounding mode nor its denormal modes (DAZ/FTZ) can touch them. The build turns FMA contraction
 *   off (-ffp-contract=off), so every expression is the host operation written.
 * - A double holds every multiple of 2**L below 2**(L+53) exactly. The host operations are used only
 *   where the exact result is such a number, so the host never rounds (and its rounding mode, which
 *   Python leaves at round-to-nearest, cannot matter), and no result is below 2**-1022 (the smallest
 *   nonzero value any of them can produce is 2**-298, a binary32 product): never a host subnormal.
 *     add/sub .h: both terms are multiples of 2**-24 below 2**16: the sum is below 2**17 (41 bits).
 *     mul .h: the product of two 11-bit significands has 22 bits.
 *     mul .s: the product of two 24-bit significands has 48 bits.
 *     add/sub .s, fma .h: checked per operation on the terms' exponents (the window, below); the
 *       rest (terms far apart) goes to the exact path.
 *     conversions: a binary16 is a binary32 exactly; binary32 to binary16 rounds the float's own bits.
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
FPF_INLINE double fpf_value(uint32_t a, int eb, int fb) {
    const int bias = (1 << (eb - 1)) - 1;
    uint64_t sign = (uint64_t)(a >> (eb + fb) & 1u) << 63;
    uint32_t e = a >> fb & ((1u << eb) - 1u);
    if (__builtin_expect(e != 0, 1))
        return fpf_bits_to_d(sign | (uint64_t)(e + (uint32_t)(1023 - bias)) << 52 |
                             (uint64_t)(a & ((1u << fb) - 1u)) << (52 - fb));
    return (double)(int32_t)(a & ((1u << fb) - 1u)) * fpf_bits_to_d(sign | (uint64_t)(1 - bias - fb + 1023) << 52);
}
/* exponent field all ones: infinity or NaN */
FPF_INLINE int fpf_special(uint32_t a, int eb, int fb) { return (a >> fb & ((1u << eb) - 1u)) == (1u << eb) - 1u; }

/* Round the exact nonzero double v to the format; 1 with the result in *out (NX ORed into *flags) when
 * the result is in the format's normal range, else 0 with nothing changed. */
FPF_INLINE int round_d(double v, int eb, int fb, int rm, uint32_t *out, uint32_t *flags) {
    const int bias = (1 << (eb - 1)) - 1, sh = 52 - fb;
    uint64_t u = fpf_d_to_bits(v);
    uint32_t sign = (uint32_t)(u >> 63);
    int e = (int)(u >> 52 & 0x7FF) - 1023;
    if (e < 1 - bias || e > bias) return 0;              /* below the normal range, or overflowing */
    uint64_t frac = u & ((1ull << 52) - 1);
    uint64_t r = (uint64_t)(e + bias) << fb | frac >> sh;
    uint64_t rem = frac & ((1ull << sh) - 1);
    if (rem) {
        int half = (int)(rem >> (sh - 1) & 1), sticky = (rem & ((1ull << (sh - 1)) - 1)) != 0, up;
        switch (rm) {
        case 0: up = half && (sticky || (int)(r & 1)); break;   /* RNE */
        case 2: up = (int)sign; break;                           /* RDN */
        case 3: up = !sign; break;                               /* RUP */
        case 4: up = half; break;                                /* RMM */
        default: up = 0; break;                                  /* RTZ */
        }
        r += (uint64_t)up;                               /* a carry bumps the exponent field */
        if (r >= (uint64_t)((1u << eb) - 1u) << fb) return 0;   /* rounded up to overflow */
        *flags |= 1u;                                    /* NX */
    }
    *out = sign << (eb + fb) | (uint32_t)r;
    return 1;
}

/* --- add / sub ------------------------------------------------------------------------------------ */
/* binary16: always exact in a double (see above) */
FPF_INLINE uint32_t fast_add_h(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    (void)f;
    if (!(fpf_special(a, 5, 10) | fpf_special(b, 5, 10))) {
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
FPF_INLINE uint32_t fast_sub_h(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    /* flipping b's sign is what the exact path does too (a NaN stays a NaN of the same kind) */
    return fast_add_h(f, a, b ^ 0x8000u, rm, flags);
}

/* binary32: exact when both terms fit one 53-bit window. Each term is sig * 2**lsb with sig < 2**24;
 * the sum is below 2**(max(lsb) + 25) and a multiple of 2**min(lsb): max(lsb) - min(lsb) <= 28. */
FPF_INLINE uint32_t fast_add_s(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    (void)f;
    if (!(fpf_special(a, 8, 23) | fpf_special(b, 8, 23))) {
        int la = fpf_lsb(a, 8, 23), lb = fpf_lsb(b, 8, 23);
        int diff = la > lb ? la - lb : lb - la;
        /* a zero term has the smallest lsb and adds nothing: the window test may only fail, not lie */
        if (diff <= 28) {
            double v = fpf_value(a, 8, 23) + fpf_value(b, 8, 23);
            uint32_t r;
            if (v == 0.0) {
                uint32_t sa = a >> 31, sb = b >> 31;
                return (sa == sb ? sa : (uint32_t)(rm == 2)) << 31;
            }
            if (round_d(v, 8, 23, rm, &r, flags)) return r;
        }
    }
    return mcu_fp_add(&MCU_F32, a, b, rm, flags);
}
FPF_INLINE uint32_t fast_sub_s(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    return fast_add_s(f, a, b ^ 0x80000000u, rm, flags);
}

/* --- mul ------------------------------------------------------------------------------------------ */
/* exact products (22 and 48 bits); a zero product has the sign a ^ b in the host as in IEEE 754 */
FPF_INLINE uint32_t fast_mul_h(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    (void)f;
    if (!(fpf_special(a, 5, 10) | fpf_special(b, 5, 10))) {
        double v = fpf_value(a, 5, 10) * fpf_value(b, 5, 10);
        uint32_t r;
        if (v == 0.0) return (a ^ b) & 0x8000u;
        if (round_d(v, 5, 10, rm, &r, flags)) return r;
    }
    return mcu_fp_mul(&MCU_F16, a, b, rm, flags);
}
FPF_INLINE uint32_t fast_mul_s(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    (void)f;
    if (!(fpf_special(a, 8, 23) | fpf_special(b, 8, 23))) {
        double v = fpf_value(a, 8, 23) * fpf_value(b, 8, 23);
        uint32_t r;
        if (v == 0.0) return (a ^ b) & 0x80000000u;
        if (round_d(v, 8, 23, rm, &r, flags)) return r;
    }
    return mcu_fp_mul(&MCU_F32, a, b, rm, flags);
}

/* --- fma (binary16) ------------------------------------------------------------------------------- */
/* round(+-(a*b) +- c): the product is exact (22 bits, below 2**(lsb_p + 22)); with c (below
 * 2**(lsb_c + 11)) the sum is below 2**(hi + 1) and a multiple of 2**lo over the nonzero terms:
 * exact when hi + 1 - lo <= 53. np/na negate the product/the addend (fmsub, fnmadd, vfmre...). */
FPF_INLINE uint32_t fast_fma_h(uint32_t a, uint32_t b, uint32_t c, int rm, int np, int na, uint32_t *flags) {
    if (!(fpf_special(a, 5, 10) | fpf_special(b, 5, 10) | fpf_special(c, 5, 10))) {
        uint32_t sp = ((a ^ b) >> 15 & 1u) ^ (uint32_t)(np != 0), sc = (c >> 15 & 1u) ^ (uint32_t)(na != 0);
        uint32_t sigp = fpf_sig(a, 5, 10) * fpf_sig(b, 5, 10), sigc = fpf_sig(c, 5, 10);
        int lp = fpf_lsb(a, 5, 10) + fpf_lsb(b, 5, 10), lc = fpf_lsb(c, 5, 10);
        int lo = sigp ? lp : lc, hi = sigc ? lc + 11 : lp + 22;
        if (sigp && sigc) {
            lo = lp < lc ? lp : lc;
            hi = lp + 22 > lc + 11 ? lp + 22 : lc + 11;
        }
        if (hi + 1 - lo <= 53) {
            /* both terms exact, as +-sig * 2**lsb (lsb >= -48) */
            double p = (double)(int32_t)sigp * fpf_bits_to_d((uint64_t)sp << 63 | (uint64_t)(lp + 1023) << 52);
            double q = (double)(int32_t)sigc * fpf_bits_to_d((uint64_t)sc << 63 | (uint64_t)(lc + 1023) << 52);
            double v = p + q;
            uint32_t r;
            if (v == 0.0) {                              /* exact zero: sign by IEEE 754 6.3 */
                uint32_t s = (!sigp && !sigc && sp == sc) ? sp : (uint32_t)(rm == 2);
                return s << 15;
            }
            if (round_d(v, 5, 10, rm, &r, flags)) return r;
        }
    }
    return mcu_fp_fma(&MCU_F16, a, b, c, rm, np, na, flags);
}

/* --- conversions ---------------------------------------------------------------------------------- */
/* binary32 -> binary16: the float's value is exact in a double */
FPF_INLINE uint32_t fast_s_to_h(uint32_t a, int rm, uint32_t *flags) {
    if (!fpf_special(a, 8, 23) && (a & 0x7FFFFFFFu)) {
        uint32_t r;
        if (round_d(fpf_value(a, 8, 23), 5, 10, rm, &r, flags)) return r;
    } else if (!(a & 0x7FFFFFFFu)) {
        return a >> 16;                                  /* +-0 */
    }
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

#endif
