/* Inline fast paths of the bfloat16 (smallFloat "alternative half": 8 exponent, 7 fraction bits) FP
 * operations for the .ah semantic handlers (sem_bf16.c). Built from fp_fast.h's format-generic pieces
 * (fpf_value, round_d, fpf_cmp, fpf_minmax) with the format's constants; each returns the same bits and
 * flags as the exact functions of ieee754.c called with MCU_BF16, which it calls for every case it
 * does not cover (NaN/infinite operands, results that are subnormal, tiny or overflowing, terms too
 * far apart). tests/test_cengine_bf16.py compares every .ah op of the C engine with the reference.
 *
 * Why the host double arithmetic is exact (fp_fast.h states the general argument):
 *   mul: two 8-bit significands, a 16-bit product: always exact (lsb >= -266, a normal double scale).
 *   add/sub: sig < 2**8 each; the sum is below 2**(max lsb + 9) and a multiple of 2**min lsb:
 *     exact when max lsb - min lsb <= 44 (the window test; a zero term never widens it wrongly).
 *   fma: a 16-bit exact product and an 8-bit addend: exact when hi + 1 - lo <= 53 (as fast_fma_h).
 *   dotpex (vfdotpex.s.ah): two 16-bit products and a 24-bit FP32 addend, every partial sum below
 *     2**(max top + 2): exact when max top - min lsb <= 51 (as mcu_dotpex_double for FP16 lanes).
 *   conversions: a bfloat16 is the top half of the binary32 with the same value (widening is a
 *     shift, subnormals included); binary32 -> bfloat16 rounds the float's own (exact) value.
 * The one rounding to the destination is fp_fast.h's round_d (normal range only). */
#ifndef MCU_BF16_FAST_H
#define MCU_BF16_FAST_H

#include "fp_fast.h"

static const mcu_fmt MCU_BF16 = {8, 7};

#define AH_EB 8
#define AH_FB 7

FPF_INLINE uint32_t ah_zero_sum_sign(uint32_t sa, uint32_t sb, int rm) { return sa == sb ? sa : (uint32_t)(rm == 2); }

/* --- add / sub ------------------------------------------------------------------------------------ */
FPF_INLINE uint32_t fast_add_ah(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    (void)f;
    if (!(fpf_special(a, AH_EB, AH_FB) | fpf_special(b, AH_EB, AH_FB))) {
        int la = fpf_lsb(a, AH_EB, AH_FB), lb = fpf_lsb(b, AH_EB, AH_FB);
        int diff = la > lb ? la - lb : lb - la;
        if (diff <= 44) {
            double v = fpf_value(a, AH_EB, AH_FB) + fpf_value(b, AH_EB, AH_FB);
            uint32_t r;
            if (v == 0.0) return ah_zero_sum_sign(a >> 15 & 1u, b >> 15 & 1u, rm) << 15;
            if (round_d(v, AH_EB, AH_FB, rm, &r, flags)) return r;
        }
    }
    return mcu_fp_add(&MCU_BF16, a, b, rm, flags);
}
FPF_INLINE uint32_t fast_sub_ah(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    return fast_add_ah(f, a, b ^ 0x8000u, rm, flags);
}

/* --- mul ------------------------------------------------------------------------------------------ */
FPF_INLINE uint32_t fast_mul_ah(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags) {
    (void)f;
    if (!(fpf_special(a, AH_EB, AH_FB) | fpf_special(b, AH_EB, AH_FB))) {
        double v = fpf_value(a, AH_EB, AH_FB) * fpf_value(b, AH_EB, AH_FB);
        uint32_t r;
        if (v == 0.0) return (a ^ b) & 0x8000u;
        if (round_d(v, AH_EB, AH_FB, rm, &r, flags)) return r;
    }
    return mcu_fp_mul(&MCU_BF16, a, b, rm, flags);
}

/* --- fma: round(+-(a*b) +- c); np/na negate the product/the addend ------------------------------- */
FPF_INLINE uint32_t fast_fma_ah(uint32_t a, uint32_t b, uint32_t c, int rm, int np, int na, uint32_t *flags) {
    if (!(fpf_special(a, AH_EB, AH_FB) | fpf_special(b, AH_EB, AH_FB) | fpf_special(c, AH_EB, AH_FB))) {
        uint32_t sp = ((a ^ b) >> 15 & 1u) ^ (uint32_t)(np != 0), sc = (c >> 15 & 1u) ^ (uint32_t)(na != 0);
        uint32_t sigp = fpf_sig(a, AH_EB, AH_FB) * fpf_sig(b, AH_EB, AH_FB), sigc = fpf_sig(c, AH_EB, AH_FB);
        int lp = fpf_lsb(a, AH_EB, AH_FB) + fpf_lsb(b, AH_EB, AH_FB), lc = fpf_lsb(c, AH_EB, AH_FB);
        int lo = sigp ? lp : lc, hi = sigc ? lc + 8 : lp + 16;
        if (sigp && sigc) {
            lo = lp < lc ? lp : lc;
            hi = lp + 16 > lc + 8 ? lp + 16 : lc + 8;
        }
        if (hi + 1 - lo <= 53) {
            /* both terms exact as +-sig * 2**lsb (lsb >= -266: a normal double scale) */
            double p = (double)(int32_t)sigp * fpf_bits_to_d((uint64_t)sp << 63 | (uint64_t)(lp + 1023) << 52);
            double q = (double)(int32_t)sigc * fpf_bits_to_d((uint64_t)sc << 63 | (uint64_t)(lc + 1023) << 52);
            double v = p + q;
            uint32_t r;
            if (v == 0.0) {                              /* exact zero: sign by IEEE 754 6.3 */
                uint32_t s = (!sigp && !sigc && sp == sc) ? sp : (uint32_t)(rm == 2);
                return s << 15;
            }
            if (round_d(v, AH_EB, AH_FB, rm, &r, flags)) return r;
        }
    }
    return mcu_fp_fma(&MCU_BF16, a, b, c, rm, np, na, flags);
}

/* --- vfdotpex.s.ah: FP32 round(a0*b0 + a1*b1 + c), one rounding ---------------------------------- */
FPF_INLINE uint32_t fast_dotpex_ah(uint32_t a, uint32_t b, uint32_t c, int rm, uint32_t *flags) {
    uint32_t x[2] = {a & 0xFFFFu, a >> 16}, y[2] = {b & 0xFFFFu, b >> 16};
    if (!(fpf_special(x[0], AH_EB, AH_FB) | fpf_special(x[1], AH_EB, AH_FB) | fpf_special(y[0], AH_EB, AH_FB) |
          fpf_special(y[1], AH_EB, AH_FB) | fpf_special(c, 8, 23))) {
        uint32_t sig0 = fpf_sig(x[0], AH_EB, AH_FB) * fpf_sig(y[0], AH_EB, AH_FB);
        uint32_t sig1 = fpf_sig(x[1], AH_EB, AH_FB) * fpf_sig(y[1], AH_EB, AH_FB), sigc = fpf_sig(c, 8, 23);
        int l0 = fpf_lsb(x[0], AH_EB, AH_FB) + fpf_lsb(y[0], AH_EB, AH_FB);
        int l1 = fpf_lsb(x[1], AH_EB, AH_FB) + fpf_lsb(y[1], AH_EB, AH_FB), lc = fpf_lsb(c, 8, 23);
        int lo = 1 << 20, hi = -(1 << 20);
        if (sig0) { lo = l0 < lo ? l0 : lo; hi = l0 + 16 > hi ? l0 + 16 : hi; }
        if (sig1) { lo = l1 < lo ? l1 : lo; hi = l1 + 16 > hi ? l1 + 16 : hi; }
        if (sigc) { lo = lc < lo ? lc : lo; hi = lc + 24 > hi ? lc + 24 : hi; }
        if (hi - lo <= 51) {
            double v = (fpf_value(x[0], AH_EB, AH_FB) * fpf_value(y[0], AH_EB, AH_FB) +
                        fpf_value(x[1], AH_EB, AH_FB) * fpf_value(y[1], AH_EB, AH_FB)) + fpf_value(c, 8, 23);
            uint32_t r;
            if (v == 0.0) {
                /* an exact zero (IEEE 754 6.3): the terms' common sign, else +0 (-0 rounding down) */
                uint32_t s0 = (x[0] ^ y[0]) >> 15 & 1u, s1 = (x[1] ^ y[1]) >> 15 & 1u, s2 = c >> 31;
                return (s0 == s1 && s1 == s2 ? s2 : (uint32_t)(rm == 2)) << 31;
            }
            if (round_d(v, 8, 23, rm, &r, flags)) return r;
        }
    }
    static const mcu_fmt *const fmts[2] = {&MCU_BF16, &MCU_BF16};
    return mcu_fp_sum_of_products(&MCU_F32, 2, fmts, x, y, &MCU_F32, c, rm, flags);
}

/* --- conversions ---------------------------------------------------------------------------------- */
FPF_INLINE uint32_t fast_s_to_ah(uint32_t a, int rm, uint32_t *flags) {
    if (!fpf_special(a, 8, 23) && (a & 0x7FFFFFFFu)) {
        uint32_t r;
        if (round_d(fpf_value(a, 8, 23), AH_EB, AH_FB, rm, &r, flags)) return r;
    } else if (!(a & 0x7FFFFFFFu)) {
        return a >> 16;                                  /* +-0 */
    }
    return mcu_fp_convert(&MCU_F32, &MCU_BF16, a, rm, flags);
}
/* bfloat16 -> binary32: the same value in the top half, for every finite one (subnormals too) */
FPF_INLINE uint32_t fast_ah_to_s(uint32_t a, int rm, uint32_t *flags) {
    if (!fpf_special(a, AH_EB, AH_FB)) return a << 16;
    return mcu_fp_convert(&MCU_BF16, &MCU_F32, a, rm, flags);   /* infinities, NaNs (canonical, NV) */
}

/* --- comparisons and min/max: integer only --------------------------------------------------------- */
FPF_INLINE uint32_t fast_eq_ah(const mcu_fmt *f, uint32_t a, uint32_t b, uint32_t *fl) { (void)f; return fpf_cmp(a, b, AH_EB, AH_FB, 0, fl); }
FPF_INLINE uint32_t fast_lt_ah(const mcu_fmt *f, uint32_t a, uint32_t b, uint32_t *fl) { (void)f; return fpf_cmp(a, b, AH_EB, AH_FB, 1, fl); }
FPF_INLINE uint32_t fast_le_ah(const mcu_fmt *f, uint32_t a, uint32_t b, uint32_t *fl) { (void)f; return fpf_cmp(a, b, AH_EB, AH_FB, 2, fl); }
FPF_INLINE uint32_t fast_min_ah(const mcu_fmt *f, uint32_t a, uint32_t b, uint32_t *fl) { (void)f; return fpf_minmax(a, b, AH_EB, AH_FB, 0, fl); }
FPF_INLINE uint32_t fast_max_ah(const mcu_fmt *f, uint32_t a, uint32_t b, uint32_t *fl) { (void)f; return fpf_minmax(a, b, AH_EB, AH_FB, 1, fl); }

#endif
