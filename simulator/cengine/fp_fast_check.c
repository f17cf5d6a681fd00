/* Differential checking of the inline FP fast paths (fp_fast.h, dotpex_fast.h) against the exact
 * functions of ieee754.c, for tests/test_cengine_fp_fast.py and tools/fp_fast_soak.py: one operation
 * on given operands (mcu_fp_fast_op / mcu_fp_exact_op), and a loop over random biased operands that
 * counts the differences (mcu_fp_fast_soak), so that millions of operand sets take seconds. */
#include <math.h>
#include <stdint.h>

#include "ieee754.h"
#include "fp_fast.h"
#include "dotpex_fast.h"

#include <string.h>

#define EXPORT __attribute__((visibility("default")))

/* Operation ids (tests/test_cengine_fp_fast.py FAST_OPS lists their names in this order). */
enum { ADD_H, SUB_H, MUL_H, FMADD_H, FMSUB_H, FNMSUB_H, FNMADD_H, ADD_S, SUB_S, MUL_S, CVT_H_S, CVT_S_H,
       EQ_H, LT_H, LE_H, MIN_H, MAX_H, EQ_S, LT_S, LE_S, MIN_S, MAX_S, DOTPEX_S_H,
       FMADD_S, FMSUB_S, FNMSUB_S, FNMADD_S, DIV_H, DIV_S, SQRT_H, SQRT_S,
       /* FP16-SIMD (two lanes per word, fp_fast.h's fast_v*): a, b, c are words of two halves, except
        * VCPKA_H_S's a and b (binary32) */
       VFADD_H, VFSUB_H, VFMUL_H, VFMAC_H, VFMRE_H, VFMIN_H, VFMAX_H, VFCPKA_H_S, NUM_FAST_OPS };

EXPORT int mcu_fp_fast_num_ops(void) { return NUM_FAST_OPS; }

EXPORT uint32_t mcu_fp_fast_op(int op, uint32_t a, uint32_t b, uint32_t c, int rm, uint32_t *fl) {
    switch (op) {
    case ADD_H: return fast_add_h(0, a, b, rm, fl);
    case SUB_H: return fast_sub_h(0, a, b, rm, fl);
    case MUL_H: return fast_mul_h(0, a, b, rm, fl);
    case FMADD_H: return fast_fma_h(a, b, c, rm, 0, 0, fl);
    case FMSUB_H: return fast_fma_h(a, b, c, rm, 0, 1, fl);
    case FNMSUB_H: return fast_fma_h(a, b, c, rm, 1, 0, fl);
    case FNMADD_H: return fast_fma_h(a, b, c, rm, 1, 1, fl);
    case ADD_S: return fast_add_s(0, a, b, rm, fl);
    case SUB_S: return fast_sub_s(0, a, b, rm, fl);
    case MUL_S: return fast_mul_s(0, a, b, rm, fl);
    case CVT_H_S: return fast_s_to_h(a, rm, fl);
    case CVT_S_H: return fast_h_to_s(a, rm, fl);
    case EQ_H: return fast_eq_h(0, a, b, fl);
    case LT_H: return fast_lt_h(0, a, b, fl);
    case LE_H: return fast_le_h(0, a, b, fl);
    case MIN_H: return fast_min_h(0, a, b, fl);
    case MAX_H: return fast_max_h(0, a, b, fl);
    case EQ_S: return fast_eq_s(0, a, b, fl);
    case LT_S: return fast_lt_s(0, a, b, fl);
    case LE_S: return fast_le_s(0, a, b, fl);
    case MIN_S: return fast_min_s(0, a, b, fl);
    case MAX_S: return fast_max_s(0, a, b, fl);
    case FMADD_S: return fast_fma_s(a, b, c, rm, 0, 0, fl);
    case FMSUB_S: return fast_fma_s(a, b, c, rm, 0, 1, fl);
    case FNMSUB_S: return fast_fma_s(a, b, c, rm, 1, 0, fl);
    case FNMADD_S: return fast_fma_s(a, b, c, rm, 1, 1, fl);
    case DIV_H: return fast_div_h(0, a, b, rm, fl);
    case DIV_S: return fast_div_s(0, a, b, rm, fl);
    case SQRT_H: return fast_sqrt_h(0, a, rm, fl);
    case SQRT_S: return fast_sqrt_s(0, a, rm, fl);
    case VFADD_H: return fast_vadd_h(a, b, rm, fl);
    case VFSUB_H: return fast_vadd_h(a, b ^ 0x80008000u, rm, fl);
    case VFMUL_H: return fast_vmul_h(a, b, rm, fl);
    case VFMAC_H: return fast_vfma_h(a, b, c, rm, 0, fl);
    case VFMRE_H: return fast_vfma_h(a, b, c, rm, 1, fl);
    case VFMIN_H: return fast_vminmax_h(a, b, 0, fl);
    case VFMAX_H: return fast_vminmax_h(a, b, 1, fl);
    case VFCPKA_H_S: return fast_vcpka_h_s(a, b, rm, fl);
    default: {                                    /* DOTPEX_S_H: the double path, else the exact one */
        uint32_t v;
        if (mcu_dotpex_double(a, b, c, rm, &v, fl)) return v;
        return mcu_fp_dotpex_h(a, b, c, rm, fl);
    }
    }
}

EXPORT uint32_t mcu_fp_exact_op(int op, uint32_t a, uint32_t b, uint32_t c, int rm, uint32_t *fl) {
    const mcu_fmt *H = &MCU_F16, *S = &MCU_F32;
    switch (op) {
    case ADD_H: return mcu_fp_add(H, a, b, rm, fl);
    case SUB_H: return mcu_fp_sub(H, a, b, rm, fl);
    case MUL_H: return mcu_fp_mul(H, a, b, rm, fl);
    case FMADD_H: return mcu_fp_fma(H, a, b, c, rm, 0, 0, fl);
    case FMSUB_H: return mcu_fp_fma(H, a, b, c, rm, 0, 1, fl);
    case FNMSUB_H: return mcu_fp_fma(H, a, b, c, rm, 1, 0, fl);
    case FNMADD_H: return mcu_fp_fma(H, a, b, c, rm, 1, 1, fl);
    case ADD_S: return mcu_fp_add(S, a, b, rm, fl);
    case SUB_S: return mcu_fp_sub(S, a, b, rm, fl);
    case MUL_S: return mcu_fp_mul(S, a, b, rm, fl);
    case CVT_H_S: return mcu_fp_convert(S, H, a, rm, fl);
    case CVT_S_H: return mcu_fp_convert(H, S, a, rm, fl);
    case EQ_H: return mcu_fp_eq(H, a, b, fl);
    case LT_H: return mcu_fp_lt(H, a, b, fl);
    case LE_H: return mcu_fp_le(H, a, b, fl);
    case MIN_H: return mcu_fp_min(H, a, b, fl);
    case MAX_H: return mcu_fp_max(H, a, b, fl);
    case EQ_S: return mcu_fp_eq(S, a, b, fl);
    case LT_S: return mcu_fp_lt(S, a, b, fl);
    case LE_S: return mcu_fp_le(S, a, b, fl);
    case MIN_S: return mcu_fp_min(S, a, b, fl);
    case MAX_S: return mcu_fp_max(S, a, b, fl);
    case FMADD_S: return mcu_fp_fma(S, a, b, c, rm, 0, 0, fl);
    case FMSUB_S: return mcu_fp_fma(S, a, b, c, rm, 0, 1, fl);
    case FNMSUB_S: return mcu_fp_fma(S, a, b, c, rm, 1, 0, fl);
    case FNMADD_S: return mcu_fp_fma(S, a, b, c, rm, 1, 1, fl);
    case DIV_H: return mcu_fp_div(H, a, b, rm, fl);
    case DIV_S: return mcu_fp_div(S, a, b, rm, fl);
    case SQRT_H: return mcu_fp_sqrt(H, a, rm, fl);
    case SQRT_S: return mcu_fp_sqrt(S, a, rm, fl);
    /* the vector ops lane by lane, flags ORed (as the Python reference's lane loops) */
    case VFADD_H: case VFSUB_H: case VFMUL_H: case VFMAC_H: case VFMRE_H: case VFMIN_H: case VFMAX_H: {
        uint32_t r[2];
        for (int k = 0; k < 2; k++) {
            uint32_t x = a >> (16 * k) & 0xFFFFu, y = b >> (16 * k) & 0xFFFFu, z = c >> (16 * k) & 0xFFFFu;
            r[k] = op == VFADD_H ? mcu_fp_add(H, x, y, rm, fl) : op == VFSUB_H ? mcu_fp_sub(H, x, y, rm, fl)
                 : op == VFMUL_H ? mcu_fp_mul(H, x, y, rm, fl) : op == VFMAC_H ? mcu_fp_fma(H, x, y, z, rm, 0, 0, fl)
                 : op == VFMRE_H ? mcu_fp_fma(H, x, y, z, rm, 0, 1, fl) : op == VFMIN_H ? mcu_fp_min(H, x, y, fl)
                 : mcu_fp_max(H, x, y, fl);
        }
        return (r[0] & 0xFFFFu) | (r[1] & 0xFFFFu) << 16;
    }
    case VFCPKA_H_S: {
        uint32_t lo = mcu_fp_convert(S, H, a, rm, fl), hi = mcu_fp_convert(S, H, b, rm, fl);
        return (lo & 0xFFFFu) | (hi & 0xFFFFu) << 16;
    }
    default: {                                    /* DOTPEX_S_H: the general sum of products */
        static const mcu_fmt *const fmts[2] = {&MCU_F16, &MCU_F16};
        uint32_t x[2] = {a & 0xFFFFu, a >> 16}, y[2] = {b & 0xFFFFu, b >> 16};
        return mcu_fp_sum_of_products(S, 2, fmts, x, y, S, c, rm, fl);
    }
    }
}

/* --- random operands, biased to the hard cases ------------------------------------------------------ */
static uint64_t next_u64(uint64_t *s) {          /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* One operand of format (eb, fb): exponent near `near` (a biased exponent) half of the time, else
 * zeros/subnormals, near overflow and specials, around 1.0, or anywhere; significands random, all
 * ones, just above or below a power of two, or with trailing zeros (halfway sums and products). */
static uint32_t rand_operand(uint64_t *s, int eb, int fb, int near) {
    const int es = (1 << eb) - 1, bias = es >> 1;
    uint64_t r = next_u64(s);
    int pick = (int)(r % 100), e;
    r = next_u64(s);
    if (pick < 50) {
        static const int offs[] = {0, 0, 0, 1, -1, 2, -2, 10, -10, 11, -11, 12, -12, 23, -23, 24, -24, 25, -25,
                                   26, -26, 27, -27, 28, -28, 29, -29, 30, -30, 31, -31, 40, -40};
        int k = (int)(r % (sizeof offs / sizeof offs[0]));
        e = near + offs[k];
        if ((r >> 8) % 4 == 0) e = near + (int)((r >> 16) % (uint64_t)(4 * fb + 17)) - 2 * fb - 8;
    } else if (pick < 60) {
        e = (int)(r % 4);
    } else if (pick < 68) {
        e = es - 3 + (int)(r % 4);
    } else if (pick < 85) {
        e = bias + (int)(r % 9) - 4;
    } else {
        e = (int)(r % (uint64_t)(es + 1));
    }
    if (e < 0) e = 0;
    if (e > es) e = es;
    r = next_u64(s);
    if (e == es && r % 10 < 7) e = es - 1;     /* keep most operands finite */
    uint32_t mask = (1u << fb) - 1u, f;
    uint64_t q = next_u64(s);
    int kind = (int)(r >> 8) % 100;
    if (kind < 45) f = (uint32_t)q & mask;
    else if (kind < 55) f = 0;
    else if (kind < 62) f = mask;
    else if (kind < 72) f = (uint32_t)q & 7u;
    else if (kind < 82) f = mask ^ ((uint32_t)q & 7u);
    else f = (uint32_t)q & mask & ~((1u << (1 + (int)((q >> 32) % (uint64_t)fb))) - 1u);
    return (uint32_t)((r >> 40) & 1u) << (eb + fb) | (uint32_t)e << fb | f;
}

/* operand formats per op: 'h' half, 's' single, 'v' two halves (a, b of dotpex, every operand of the
 * FP16-SIMD ops) */
static void op_formats(int op, char *fa, char *fc) {
    *fa = (op <= FNMADD_H || (op >= EQ_H && op <= MAX_H) || op == CVT_S_H || op == DIV_H || op == SQRT_H) ? 'h'
          : op == DOTPEX_S_H || (op >= VFADD_H && op <= VFMAX_H) ? 'v' : 's';
    *fc = op == DOTPEX_S_H ? 's' : *fa;
}

static uint32_t operand(uint64_t *s, char fmt, int near_h, int near_s) {
    if (fmt == 'h') return rand_operand(s, 5, 10, near_h);
    if (fmt == 's') return rand_operand(s, 8, 23, near_s);
    return rand_operand(s, 5, 10, near_h) | rand_operand(s, 5, 10, near_h) << 16;
}

/* 1 when the fast and the exact path differ on one operand set (result or flags); the first such set
 * (bad == 0 so far) goes to first[0..4]: a, b, c, rounding mode, the fast result */
static int differs(int op, uint32_t a, uint32_t b, uint32_t c, int m, int64_t bad, uint32_t *first) {
    uint32_t f1 = 0, f2 = 0;
    uint32_t v1 = mcu_fp_fast_op(op, a, b, c, m, &f1), v2 = mcu_fp_exact_op(op, a, b, c, m, &f2);
    if (v1 == v2 && f1 == f2) return 0;
    if (!bad && first) { first[0] = a; first[1] = b; first[2] = c; first[3] = (uint32_t)m; first[4] = v1; }
    return 1;
}

/* One operand set of op (formats fa, fc) from the generator state s and the set's first draw r */
typedef void (*draw_fn)(int op, char fa, char fc, uint64_t *s, uint64_t r, uint32_t *a, uint32_t *b, uint32_t *c);

/* Run n operand sets of op drawn by `draw` in rounding mode rm (0..4; -1: a random mode per set, from
 * the set's first draw) from the state seeded by seed and salt; returns the number of differences
 * (results or flags), the first one's operands in first[0..4] (a, b, c, rm, fast result) when there is
 * one. */
static int64_t soak(int op, int64_t n, uint64_t seed, uint64_t salt, int rm, uint32_t *first, draw_fn draw) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + salt + (uint64_t)op;
    if (!s) s = 1;
    char fa, fc;
    op_formats(op, &fa, &fc);
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = next_u64(&s);
        uint32_t a, b, c;
        draw(op, fa, fc, &s, r, &a, &b, &c);
        int m = rm >= 0 ? rm : (int)((r >> 24) % 5);
        bad += differs(op, a, b, c, m, bad, first);
    }
    return bad;
}

/* biased operands: near the formats' edges (operand), the vfdotpex accumulator near its products */
static void draw_biased(int op, char fa, char fc, uint64_t *s, uint64_t r, uint32_t *a, uint32_t *b, uint32_t *c) {
    int near_h = 1 + (int)(r % 29), near_s = 1 + (int)((r >> 8) % 253);
    *a = operand(s, fa, near_h, near_s);
    *b = operand(s, fa, near_h, near_s);
    *c = operand(s, fc, near_h, near_s);
    if (op == DOTPEX_S_H) *c = rand_operand(s, 8, 23, near_h - 15 + 127 + (int)((r >> 16) % 40) - 20);
}

/* Run n random operand sets of op in rounding mode rm (soak's results) */
EXPORT int64_t mcu_fp_fast_soak(int op, int64_t n, uint64_t seed, int rm, uint32_t *first) {
    return soak(op, n, seed, 0x1234567ull, rm, first, draw_biased);
}

/* --- training-like operands: normally distributed values at a random scale ------------------------ */
/* a standard normal draw (Box-Muller on two uniform doubles) */
static double normal(uint64_t *s) {
    double u1 = ((double)(next_u64(s) >> 11) + 0.5) * 0x1p-53, u2 = (double)(next_u64(s) >> 11) * 0x1p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
/* bits of x rounded to nearest in the format of op's operands ('h' half, 's' single), with a zero
 * one time in `zeros` (ReLU outputs) */
static uint32_t train_operand(uint64_t *s, char fmt, double scale, int zeros) {
    if (zeros && next_u64(s) % (uint64_t)zeros == 0) return 0;
    float f = (float)(normal(s) * scale);
    uint32_t u;
    memcpy(&u, &f, 4);
    if (fmt == 's') return u;
    uint32_t fl = 0;
    return mcu_fp_convert(&MCU_F32, &MCU_F16, u, 0, &fl);
}

/* training-like operands: per set a scale 2**k (k in [-12, 4]) for the multiplicands, values drawn from
 * a normal distribution, a third of the halves zero; the addend of the FMAs and vfdotpex (an
 * accumulator) at a scale 2**j above or below (j in [-4, 12]) */
static void draw_training(int op, char fa, char fc, uint64_t *s, uint64_t r, uint32_t *a, uint32_t *b, uint32_t *c) {
    double scale = ldexp(1.0, (int)(r % 17) - 12), acc = ldexp(scale * scale, (int)((r >> 8) % 17) - 4);
    char f = fa == 'v' ? 'h' : fa;
    *a = train_operand(s, f, scale, 3);
    *b = train_operand(s, f, scale, 3);
    if (fa == 'v') {
        *a |= train_operand(s, 'h', scale, 3) << 16;
        *b |= train_operand(s, 'h', scale, 3) << 16;
        if (op == DOTPEX_S_H) {
            *c = train_operand(s, 's', acc * 16.0, 0);
        } else {                                 /* vfmac/vfmre's accumulator, else a third operand */
            double cs = op == VFMAC_H || op == VFMRE_H ? acc : scale;
            *c = train_operand(s, 'h', cs, 0) | train_operand(s, 'h', cs, 0) << 16;
        }
    } else {
        *c = train_operand(s, fc, op == FMADD_H || op == FMSUB_H || op == FNMSUB_H || op == FNMADD_H ||
                                  op == FMADD_S || op == FMSUB_S || op == FNMSUB_S || op == FNMADD_S ? acc : scale, 0);
    }
}

/* As mcu_fp_fast_soak, with training-like operands (draw_training) */
EXPORT int64_t mcu_fp_fast_soak_training(int op, int64_t n, uint64_t seed, int rm, uint32_t *first) {
    return soak(op, n, seed, 0x7654321ull, rm, first, draw_training);
}
