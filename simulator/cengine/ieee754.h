/* Bit-exact IEEE 754 binary32 / binary16 arithmetic with RISC-V rules: the C twin of isa/ieee754.py.
 * Operands and results are raw bit patterns; exception flags are ORed into *flags
 * (NX 1, UF 2, OF 4, DZ 8, NV 16); rounding modes are RISC-V frm values 0..4. */
#ifndef MCU_IEEE754_H
#define MCU_IEEE754_H

#include <stdint.h>

typedef struct { int exp_bits, frac_bits; } mcu_fmt;
extern const mcu_fmt MCU_F32, MCU_F16;

uint32_t mcu_fp_add(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags);
uint32_t mcu_fp_sub(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags);
uint32_t mcu_fp_mul(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags);
uint32_t mcu_fp_div(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags);
uint32_t mcu_fp_sqrt(const mcu_fmt *f, uint32_t a, int rm, uint32_t *flags);
uint32_t mcu_fp_fma(const mcu_fmt *f, uint32_t a, uint32_t b, uint32_t c, int rm, int negate_product,
                    int negate_addend, uint32_t *flags);
uint32_t mcu_fp_min(const mcu_fmt *f, uint32_t a, uint32_t b, uint32_t *flags);
uint32_t mcu_fp_max(const mcu_fmt *f, uint32_t a, uint32_t b, uint32_t *flags);
uint32_t mcu_fp_eq(const mcu_fmt *f, uint32_t a, uint32_t b, uint32_t *flags);
uint32_t mcu_fp_lt(const mcu_fmt *f, uint32_t a, uint32_t b, uint32_t *flags);
uint32_t mcu_fp_le(const mcu_fmt *f, uint32_t a, uint32_t b, uint32_t *flags);
uint32_t mcu_fp_classify(const mcu_fmt *f, uint32_t a);
uint32_t mcu_fp_to_int(const mcu_fmt *f, uint32_t a, int rm, int is_signed, uint32_t *flags);
uint32_t mcu_fp_from_int(const mcu_fmt *f, uint32_t v, int is_signed, int rm, uint32_t *flags);
uint32_t mcu_fp_convert(const mcu_fmt *src, const mcu_fmt *dst, uint32_t a, int rm, uint32_t *flags);
/* round_dst(exact(sum_i a[i]*b[i] + c)) with one rounding; fmts[i] is the format of a[i] and b[i];
 * cfmt == 0 means no addend. n <= 4. */
uint32_t mcu_fp_sum_of_products(const mcu_fmt *dst, int n, const mcu_fmt *const *fmts, const uint32_t *a,
                                const uint32_t *b, const mcu_fmt *cfmt, uint32_t c, int rm, uint32_t *flags);
/* vfdotpex.s.h: FP32 round(a[15:0]*b[15:0] + a[31:16]*b[31:16] + c), one rounding (a fast path of
 * mcu_fp_sum_of_products with the same results) */
uint32_t mcu_fp_dotpex_h(uint32_t a, uint32_t b, uint32_t c, int rm, uint32_t *flags);
uint32_t mcu_fp_average(const mcu_fmt *f, uint32_t a, uint32_t b, int rm, uint32_t *flags);

/* Checks of the inline fast paths (fp_fast.h, dotpex_fast.h) against the functions above
 * (fp_fast_check.c): operation `op` (ids in fp_fast_check.c) through the fast path or the exact one,
 * and n random biased operand sets compared, returning the number of differences (rm -1: random
 * modes; first[0..4] = a, b, c, rm, fast result of the first difference); _training: the same with
 * training-like operands (normal values at random scales, zeros). */
int mcu_fp_fast_num_ops(void);
uint32_t mcu_fp_fast_op(int op, uint32_t a, uint32_t b, uint32_t c, int rm, uint32_t *flags);
uint32_t mcu_fp_exact_op(int op, uint32_t a, uint32_t b, uint32_t c, int rm, uint32_t *flags);
int64_t mcu_fp_fast_soak(int op, int64_t n, uint64_t seed, int rm, uint32_t *first);
int64_t mcu_fp_fast_soak_training(int op, int64_t n, uint64_t seed, int rm, uint32_t *first);

#endif
