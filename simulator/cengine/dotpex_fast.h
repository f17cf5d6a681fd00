/* vfdotpex.s.h in host doubles, for the semantic handler to inline: the common case of the one
 * instruction that dominates FP16 training kernels. mcu_fp_dotpex_h (ieee754.c) tries it first too.
 *
 * FP32 round(a0*b0 + a1*b1 + c) with one rounding. The two FP16 products are exact in double (11 x 11
 * significand bits); when the three terms' exponents lie within a window that a double spans (checked
 * on the exponent fields, below), both additions are exact too, and rounding the sum's 53-bit
 * significand to FP32 is the one correct rounding. Everything else returns 0 for the exact integer
 * paths of ieee754.c: NaN or infinite operands, subnormal addends, terms too far apart, results
 * below the normal range (tininess) or overflowing. Doubles are built from bits,
 * so the host's denormal modes cannot matter; the build turns off FMA contraction
 * (-ffp-contract=off): a fused multiply-add would change nothing here but keeps the rule simple. */
#ifndef MCU_DOTPEX_FAST_H
#define MCU_DOTPEX_FAST_H

#include <stdint.h>
#include <string.h>

static inline double mcu_double_from_bits(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }

/* FP16 significand (hidden bit included; subnormals without) and the exponent of its LSB: a finite
 * half is sig * 2**lsb */
static inline uint32_t mcu_half_sig(uint32_t h) { return (h & 0x3FFu) | ((h & 0x7C00u) ? 0x400u : 0u); }
static inline int mcu_half_lsb(uint32_t h) {
    int e = (int)(h >> 10 & 31u);
    return (e ? e : 1) - 25;
}

/* 1 with the result in *out (flags ORed into *flags) when this path applies, else 0 (nothing changed).
 * Branch-free where the data decides (zeros are frequent in training data). */
static inline int mcu_dotpex_double(uint32_t a, uint32_t b, uint32_t c, int rm, uint32_t *out,
                                    uint32_t *flags) {
    /* four finite halves: adding 1 to both 5-bit exponent fields carries into bit 5 only for 31 */
    if ((((a >> 10 & 0x1F001Fu) + 0x10001u) | ((b >> 10 & 0x1F001Fu) + 0x10001u)) & 0x200020u) return 0;
    uint32_t ce = c >> 23 & 255u;
    if (ce == 255u || (!ce && (c & 0x7FFFFFu))) return 0;
    uint32_t neg = a ^ b;                              /* product signs at bits 15 and 31 */
    uint32_t sig0 = mcu_half_sig(a & 0xFFFFu) * mcu_half_sig(b & 0xFFFFu);   /* < 2**22: exact */
    uint32_t sig1 = mcu_half_sig(a >> 16) * mcu_half_sig(b >> 16);
    int lsb0 = mcu_half_lsb(a & 0xFFFFu) + mcu_half_lsb(b & 0xFFFFu);
    int lsb1 = mcu_half_lsb(a >> 16) + mcu_half_lsb(b >> 16);
    int lsbc = (int)ce - 150;                          /* c is normal or zero here */
    /* Each nonzero term is a multiple of 2**lsb below 2**top (products: 22 significand bits, c: 24);
     * the sum of the three and every partial sum stay below 2**(max top + 2). A double holds every
     * multiple of 2**L below 2**(L + 53) exactly, so max top - min lsb <= 51 makes both additions
     * exact. Zero terms add nothing and are left out of the window. */
    int lo = 1 << 20, hi = -(1 << 20);
    lo = sig0 && lsb0 < lo ? lsb0 : lo;
    hi = sig0 && lsb0 + 22 > hi ? lsb0 + 22 : hi;
    lo = sig1 && lsb1 < lo ? lsb1 : lo;
    hi = sig1 && lsb1 + 22 > hi ? lsb1 + 22 : hi;
    lo = ce && lsbc < lo ? lsbc : lo;
    hi = ce && lsbc + 24 > hi ? lsbc + 24 : hi;
    if (hi - lo > 51) return 0;
    /* exact terms: +-sig * 2**lsb (lsb within [-48, 10] for products: a normal double scale). The
     * signs go into the scale factors and a zero c is masked to +0 (its sign only matters for an
     * exact zero sum, decided below from the operands' signs): no branch on the data, whose signs
     * and zeros are as good as random in training. */
    double p0 = (double)(int32_t)sig0 * mcu_double_from_bits((uint64_t)(neg >> 15 & 1u) << 63 |
                                                             (uint64_t)(lsb0 + 1023) << 52);
    double p1 = (double)(int32_t)sig1 * mcu_double_from_bits((uint64_t)(neg >> 31) << 63 |
                                                             (uint64_t)(lsb1 + 1023) << 52);
    uint64_t c_bits = (uint64_t)(c >> 31) << 63 | (uint64_t)(ce - 127 + 1023) << 52 | (uint64_t)(c & 0x7FFFFFu) << 29;
    double cd = mcu_double_from_bits(c_bits & -(uint64_t)(ce != 0));
    double t = (p0 + p1) + cd;
    uint64_t u;
    memcpy(&u, &t, 8);
    uint64_t mag = u & 0x7FFFFFFFFFFFFFFFull;
    uint32_t sign = (uint32_t)(u >> 63);
    if (!mag) {
        /* an exact zero (IEEE 754 6.3): the terms' common sign, else +0 (-0 rounding down) */
        uint32_t s0 = neg >> 15 & 1u, s1 = neg >> 31, sc = c >> 31;
        *out = (s0 == s1 && s1 == sc ? sc : rm == 2) << 31;
        return 1;
    }
    if (mag < (uint64_t)(1023 - 126) << 52) return 0;  /* below the normal range: tininess rules */
    /* FP32 keeps the top 24 of the 53 significand bits: 29 fall off (round bit 28, sticky below) */
    uint64_t rem = mag & ((1ull << 29) - 1);
    uint64_t r = (mag >> 29) - ((uint64_t)(1023 - 127) << 23);   /* rebias; a carry bumps the exponent */
    if (rem) {
        int half = (int)(rem >> 28 & 1), sticky = (rem & ((1ull << 28) - 1)) != 0, up;
        switch (rm) {
        case 0: up = half && (sticky || (r & 1)); break;   /* RNE */
        case 2: up = (int)sign; break;                      /* RDN */
        case 3: up = !sign; break;                          /* RUP */
        case 4: up = half; break;                           /* RMM */
        default: up = 0; break;                             /* RTZ */
        }
        r += (uint64_t)up;
    }
    if (r >= 0x7F800000ull) return 0;
    if (rem) *flags |= 1u;                                  /* NX */
    *out = sign << 31 | (uint32_t)r;
    return 1;
}

#endif
