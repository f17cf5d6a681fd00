/* vfdotpex.s.h in host doubles, for the semantic handler to inline: the common case of the one
 * instruction that dominates FP16 training kernels (about half the instructions of a ResNet8 FP16
 * step). mcu_fp_dotpex_h (ieee754.c) tries it first too.
 *
 * FP32 round(a0*b0 + a1*b1 + c) with one rounding, exact by construction:
 * - the halves are exact floats (fp_fast.h's table), their products exact floats (11 x 11 = 22
 *   significand bits, magnitudes within [2**-48, 2**32]: normal), then exact doubles; c is an exact
 *   double (hardware float -> double of a normal float or a zero; a subnormal c, whose conversion a
 *   denormal mode could flush, is left to the exact path).
 * - s = p0 + p1, checked exact by fpf_sum_exact (fp_fast.h: Dekker's Fast2Sum lemma): when it is not
 *   (products more than about 30 binades apart, or a NaN from an infinite or NaN operand) this path
 *   declines, so from here s = p0 + p1 exactly.
 * - s + c rounded to odd at 53 bits (fpf_add_odd_mostly_exact: TwoSum, then the last bit set when
 *   inexact) and rounded once more to 24 bits is the correct rounding of s + c in every mode, with
 *   NX, because
 *   53 >= 24 + 2 (Boldo and Melquiond, "Emulation of FMA and correctly rounded sums: proved
 *   algorithms using rounding to odd", IEEE Trans. Computers 57(4), 2008). So there is no window on
 *   the addend: an FP32 accumulator far above the products, as in long training sums, stays here.
 * - Every host value is a normal double or zero (the exact sum, when nonzero, is a multiple of
 *   2**-149, and every intermediate is at most 2**130), so the host's denormal modes cannot matter;
 *   Python leaves the host in round-to-nearest, which TwoSum needs. The build turns off FMA
 *   contraction (-ffp-contract=off).
 * - The final rounding declines results outside FP32's normal range (tininess, UF; overflow, OF);
 *   an infinite or NaN c makes s + c infinite or NaN, which it declines too. In round-to-nearest-even
 *   it is the host's double -> float conversion, with NX when the float differs from the double
 *   (fp_fast.h's fpf_try_fma_s_rne has the argument), taken for results above the smallest normal.
 * Measured (callgrind, 1 M vfdotpex operand sets recorded from `mcusim train resnet8 --dtype fp16`,
 * all of which this path takes): about 75 host instructions each, from about 150 with the exponent
 * window of the previous version. */
#ifndef MCU_DOTPEX_FAST_H
#define MCU_DOTPEX_FAST_H

#include <stdint.h>
#include <string.h>

#include "fp_fast.h"

/* 1 with the result in *out (flags ORed into *flags) when this path applies, else 0 (nothing changed).
 * Branch-free where the data decides (zeros are frequent in training data: a third of the halves of
 * a ResNet8 step). */
static inline __attribute__((always_inline)) int mcu_dotpex_double(uint32_t a, uint32_t b, uint32_t c, int rm,
                                                                   uint32_t *out, uint32_t *flags) {
    if ((c & 0x7FFFFFFFu) - 1u < 0x7FFFFFu) return 0;            /* subnormal c */
    float a0, a1, b0, b1, cf;
    memcpy(&a0, &mcu_half_float_bits[a & 0xFFFFu], 4);
    memcpy(&a1, &mcu_half_float_bits[a >> 16], 4);
    memcpy(&b0, &mcu_half_float_bits[b & 0xFFFFu], 4);
    memcpy(&b1, &mcu_half_float_bits[b >> 16], 4);
    memcpy(&cf, &c, 4);
    double p0 = (double)(a0 * b0), p1 = (double)(a1 * b1);       /* exact products */
    double s = p0 + p1;
    if (!fpf_sum_exact(s, p0, p1)) return 0;                      /* inexact (or NaN): decline */
    double t = fpf_add_odd_mostly_exact(s, (double)cf);
    if (rm == 0) {                      /* as fpf_try_fma_s_rne: the host's conversion, NX if it moved */
        float r = (float)t;
        uint32_t rb = fpf_s_bits(r);
        if (__builtin_expect(fpf_s_range(rb), 1)) {
            *flags |= (double)r != t;
            *out = rb;
            return 1;
        }
    }
    uint64_t u = fpf_d_to_bits(t), mag = u & 0x7FFFFFFFFFFFFFFFull;
    if (!mag) {
        /* an exact zero (IEEE 754 6.3): the terms' common sign, else +0 (-0 rounding down) */
        uint32_t neg = a ^ b, s0 = neg >> 15 & 1u, s1 = neg >> 31, sc = c >> 31;
        *out = (s0 == s1 && s1 == sc ? sc : (uint32_t)(rm == 2)) << 31;
        return 1;
    }
    return round_d(t, 8, 23, rm, out, flags);
}

#endif
