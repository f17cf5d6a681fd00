/* bfloat16 semantics in C: smallFloat Xf16alt (scalar .ah), Xfvecalt and Xfauxalt (two .ah lanes per
 * f register). The twin of isa/ext/xf16alt.py and the ALT format of isa/ext/xfvec.py; included by
 * sem_fp.c (whose switch hands every op it does not know to sem_bf16_inline) and kept apart from it
 * so that the FP16/FP32 paths and these evolve separately.
 *
 * The same order as every FP handler (sem_fp.c): rounding mode first (a reserved frm traps before
 * anything is read or written), compute, accrue flags, write. Every .ah op that rounds uses frm: the
 * scalar ones have their rm bits fixed to 101 (isa/ext/xf16alt.py), the vector ones have no rm field.
 * The exception are fcvt.s.ah and fcvt.h.ah, whose rm field is real. Arithmetic goes through the
 * bf16_fast.h fast paths, which fall back to ieee754.c with MCU_BF16 (the generic format path). */
#include "bf16_fast.h"

#define AH (&MCU_BF16)

/* Every op this file implements (part of mcu_sem_fp_supports). */
#define MCU_BF16_OPS(X)                                                                                  \
    X(FMADD_AH) X(FMSUB_AH) X(FNMSUB_AH) X(FNMADD_AH) X(FADD_AH) X(FSUB_AH) X(FMUL_AH) X(FDIV_AH)       \
    X(FSQRT_AH) X(FSGNJ_AH) X(FSGNJN_AH) X(FSGNJX_AH) X(FMIN_AH) X(FMAX_AH) X(FCVT_W_AH) X(FCVT_WU_AH)  \
    X(FCVT_AH_W) X(FCVT_AH_WU) X(FCLASS_AH) X(FEQ_AH) X(FLT_AH) X(FLE_AH)                               \
    X(FCVT_S_AH) X(FCVT_AH_S) X(FCVT_H_AH) X(FCVT_AH_H)                                                 \
    X(VFADD_AH) X(VFADD_R_AH) X(VFSUB_AH) X(VFSUB_R_AH) X(VFMUL_AH) X(VFMUL_R_AH) X(VFDIV_AH)           \
    X(VFDIV_R_AH) X(VFMIN_AH) X(VFMIN_R_AH) X(VFMAX_AH) X(VFMAX_R_AH) X(VFMAC_AH) X(VFMAC_R_AH)         \
    X(VFMRE_AH) X(VFMRE_R_AH) X(VFSGNJ_AH) X(VFSGNJ_R_AH) X(VFSGNJN_AH) X(VFSGNJN_R_AH) X(VFSGNJX_AH)   \
    X(VFSGNJX_R_AH) X(VFEQ_AH) X(VFEQ_R_AH) X(VFNE_AH) X(VFNE_R_AH) X(VFLT_AH) X(VFLT_R_AH) X(VFGE_AH)  \
    X(VFGE_R_AH) X(VFLE_AH) X(VFLE_R_AH) X(VFGT_AH) X(VFGT_R_AH) X(VFSQRT_AH) X(VFCLASS_AH)             \
    X(VFMV_X_AH) X(VFMV_AH_X) X(VFCVT_X_AH) X(VFCVT_AH_X) X(VFCVT_XU_AH) X(VFCVT_AH_XU)                 \
    X(VFCPKA_AH_S) X(VFCPKB_AH_S) X(VFDOTP_AH) X(VFDOTP_R_AH) X(VFDOTPEX_S_AH) X(VFDOTPEX_S_R_AH)       \
    X(VFAVG_AH) X(VFAVG_R_AH)

static int mcu_sem_bf16_supports(int op) {
#define MCU_BF16_CASE(NAME) case MCU_OP_##NAME:
    switch (op) {
    MCU_BF16_OPS(MCU_BF16_CASE)
        return 1;
    default:
        return 0;
    }
#undef MCU_BF16_CASE
}

/* --- lane loops: kind selects the lane operation (constant at every call site, so it folds) ------- */
enum { AH_ADD, AH_SUB, AH_MUL, AH_DIV, AH_AVG, AH_MIN, AH_MAX, AH_MAC, AH_MRE };

static inline __attribute__((always_inline)) uint32_t ah_lane(int kind, uint32_t a, uint32_t b, uint32_t v, int rm,
                                                               uint32_t *fl) {
    switch (kind) {
    case AH_ADD: return fast_add_ah(AH, a, b, rm, fl);
    case AH_SUB: return fast_sub_ah(AH, a, b, rm, fl);
    case AH_MUL: return fast_mul_ah(AH, a, b, rm, fl);
    case AH_DIV: return mcu_fp_div(AH, a, b, rm, fl);
    case AH_AVG: return mcu_fp_average(AH, a, b, rm, fl);
    case AH_MIN: return fast_min_ah(AH, a, b, fl);
    case AH_MAX: return fast_max_ah(AH, a, b, fl);
    case AH_MAC: return fast_fma_ah(a, b, v, rm, 0, 0, fl);
    default: return fast_fma_ah(a, b, v, rm, 0, 1, fl);      /* AH_MRE: v1 * v2 - vd */
    }
}

/* vd[i] = op(v1[i], v2[i] (lane 0 for .r), vd[i]); min/max do not round (no frm check) */
static inline __attribute__((always_inline)) int ah_vector(McuCore *c, const McuInsn *d, int kind, int rep) {
    int rm = 0;
    if (kind != AH_MIN && kind != AH_MAX) {
        rm = mcu_rounding(c, 7);
        if (rm < 0) return illegal(c, d);
    }
    uint32_t a = c->f[d->rs1], b = second(c, d->rs2, rep), v = c->f[d->rd], fl = 0;
    uint32_t lo = ah_lane(kind, a & 0xFFFFu, b & 0xFFFFu, v & 0xFFFFu, rm, &fl);
    uint32_t hi = ah_lane(kind, a >> 16, b >> 16, v >> 16, rm, &fl);
    mcu_accrue(c, fl);
    mcu_wf(c, d->rd, pack(lo, hi));
    return MCU_OK;
}

/* comparisons into x[rd] lanes: op 0 eq, 1 lt, 2 le; `swap` compares (b, a), `invert` negates (vfne) */
static inline __attribute__((always_inline)) int ah_compare(McuCore *c, const McuInsn *d, int op, int rep, int swap,
                                                             int invert) {
    uint32_t a = c->f[d->rs1], b = second(c, d->rs2, rep), fl = 0;
    uint32_t x0 = a & 0xFFFFu, x1 = a >> 16, y0 = b & 0xFFFFu, y1 = b >> 16;
    uint32_t lo = swap ? fpf_cmp(y0, x0, AH_EB, AH_FB, op, &fl) : fpf_cmp(x0, y0, AH_EB, AH_FB, op, &fl);
    uint32_t hi = swap ? fpf_cmp(y1, x1, AH_EB, AH_FB, op, &fl) : fpf_cmp(x1, y1, AH_EB, AH_FB, op, &fl);
    if (invert) { lo ^= 1; hi ^= 1; }
    mcu_accrue(c, fl);
    mcu_wx(c, d->rd, pack(lo, hi));
    return MCU_OK;
}

/* bfloat16 lane -> 16-bit integer lane: saturating, out of range (NaN, infinities too) gives NV only */
static inline uint32_t ah_to_int16(uint32_t a, int rm, int is_signed, uint32_t *flags) {
    uint32_t fl = 0, v = mcu_fp_to_int(AH, a, rm, is_signed, &fl);
    if (is_signed) {
        int32_t s = (int32_t)v;
        if (s < -0x8000 || s > 0x7FFF) { *flags |= NV; return s < 0 ? 0x8000u : 0x7FFFu; }
    } else if (v > 0xFFFFu) {
        *flags |= NV; return 0xFFFFu;
    }
    *flags |= fl;
    return v & 0xFFFFu;
}

static inline uint32_t ah_class_block(uint32_t a) {
    static const uint8_t block[10] = {0x81, 0x82, 0x84, 0x88, 0x48, 0x44, 0x42, 0x41, 0x50, 0x60};
    return block[__builtin_ctz(mcu_fp_classify(AH, a) | 0x400u)];
}

#define AH_RD(r) mcu_read_half(c, (r))
#define AH_WR(r, v) mcu_write_half(c, (r), (v))
/* scalar .ah: `expr` computes v from a, b (and c3) with rm = frm and the flags in fl */
#define AH_SCALAR(NAME, expr)                                                                   \
    case MCU_OP_##NAME: {                                                                       \
        ROUNDING(7);                                                                            \
        uint32_t a = AH_RD(d->rs1), b = AH_RD(d->rs2), fl = 0;                                  \
        (void)b; uint32_t v = (expr);                                                           \
        mcu_accrue(c, fl); AH_WR(d->rd, v); return MCU_OK;                                      \
    }
#define AH_FMA(NAME, np, na)                                                                    \
    case MCU_OP_##NAME: {                                                                       \
        ROUNDING(7);                                                                            \
        uint32_t fl = 0, v = fast_fma_ah(AH_RD(d->rs1), AH_RD(d->rs2), AH_RD(d->rs3), rm, np, na, &fl); \
        mcu_accrue(c, fl); AH_WR(d->rd, v); return MCU_OK;                                      \
    }
#define AH_NOROUND(NAME, expr, write)                                                           \
    case MCU_OP_##NAME: {                                                                       \
        uint32_t a = AH_RD(d->rs1), b = AH_RD(d->rs2), fl = 0;                                  \
        (void)b; uint32_t v = (expr);                                                           \
        mcu_accrue(c, fl); write; return MCU_OK;                                                \
    }
#define AH_SGNJ(NAME, sign_expr) AH_NOROUND(NAME, (a & 0x7FFFu) | ((sign_expr) & 0x8000u), AH_WR(d->rd, v))
/* pairs .ah / .r.ah */
#define AH_VPAIR(NAME, call) \
    case MCU_OP_##NAME##_AH: return call(0); \
    case MCU_OP_##NAME##_R_AH: return call(1);

static inline __attribute__((always_inline)) int sem_bf16_inline(McuCore *c, McuMem *m, const McuInsn *d, const int op) {
    (void)m;
    switch (op) {
    /* --- Xf16alt: scalar, NaN-boxed in f registers like a half -------------------------------------- */
    AH_FMA(FMADD_AH, 0, 0) AH_FMA(FMSUB_AH, 0, 1) AH_FMA(FNMSUB_AH, 1, 0) AH_FMA(FNMADD_AH, 1, 1)
    AH_SCALAR(FADD_AH, fast_add_ah(AH, a, b, rm, &fl))
    AH_SCALAR(FSUB_AH, fast_sub_ah(AH, a, b, rm, &fl))
    AH_SCALAR(FMUL_AH, fast_mul_ah(AH, a, b, rm, &fl))
    AH_SCALAR(FDIV_AH, mcu_fp_div(AH, a, b, rm, &fl))
    case MCU_OP_FSQRT_AH: {
        ROUNDING(7);
        uint32_t fl = 0, v = mcu_fp_sqrt(AH, AH_RD(d->rs1), rm, &fl);
        mcu_accrue(c, fl); AH_WR(d->rd, v); return MCU_OK;
    }
    AH_SGNJ(FSGNJ_AH, b) AH_SGNJ(FSGNJN_AH, ~b) AH_SGNJ(FSGNJX_AH, a ^ b)
    AH_NOROUND(FMIN_AH, fast_min_ah(AH, a, b, &fl), AH_WR(d->rd, v))
    AH_NOROUND(FMAX_AH, fast_max_ah(AH, a, b, &fl), AH_WR(d->rd, v))
    AH_NOROUND(FEQ_AH, fast_eq_ah(AH, a, b, &fl), mcu_wx(c, d->rd, v))
    AH_NOROUND(FLT_AH, fast_lt_ah(AH, a, b, &fl), mcu_wx(c, d->rd, v))
    AH_NOROUND(FLE_AH, fast_le_ah(AH, a, b, &fl), mcu_wx(c, d->rd, v))
    case MCU_OP_FCLASS_AH: mcu_wx(c, d->rd, mcu_fp_classify(AH, AH_RD(d->rs1))); return MCU_OK;
    case MCU_OP_FCVT_W_AH:
    case MCU_OP_FCVT_WU_AH: {
        ROUNDING(7);
        uint32_t fl = 0, v = mcu_fp_to_int(AH, AH_RD(d->rs1), rm, d->op == MCU_OP_FCVT_W_AH, &fl);
        mcu_accrue(c, fl); mcu_wx(c, d->rd, v); return MCU_OK;
    }
    case MCU_OP_FCVT_AH_W:
    case MCU_OP_FCVT_AH_WU: {
        ROUNDING(7);
        uint32_t fl = 0, v = mcu_fp_from_int(AH, c->x[d->rs1], d->op == MCU_OP_FCVT_AH_W, rm, &fl);
        mcu_accrue(c, fl); AH_WR(d->rd, v); return MCU_OK;
    }
    /* conversions: fcvt.s.ah and fcvt.h.ah have a real rm field, the .ah destinations round with frm */
    case MCU_OP_FCVT_S_AH: {
        ROUNDING(d->rm);   /* exact, but a reserved rm still traps */
        uint32_t fl = 0, v = fast_ah_to_s(AH_RD(d->rs1), rm, &fl);
        mcu_accrue(c, fl); mcu_wf(c, d->rd, v); return MCU_OK;
    }
    case MCU_OP_FCVT_AH_S: {
        ROUNDING(7);
        uint32_t fl = 0, v = fast_s_to_ah(c->f[d->rs1], rm, &fl);
        mcu_accrue(c, fl); AH_WR(d->rd, v); return MCU_OK;
    }
    case MCU_OP_FCVT_H_AH: {
        ROUNDING(d->rm);
        uint32_t fl = 0, v = mcu_fp_convert(AH, F16, AH_RD(d->rs1), rm, &fl);
        mcu_accrue(c, fl); AH_WR(d->rd, v); return MCU_OK;
    }
    case MCU_OP_FCVT_AH_H: {
        ROUNDING(7);
        uint32_t fl = 0, v = mcu_fp_convert(F16, AH, AH_RD(d->rs1), rm, &fl);
        mcu_accrue(c, fl); AH_WR(d->rd, v); return MCU_OK;
    }

    /* --- Xfvecalt: two raw bfloat16 lanes, frm ------------------------------------------------------- */
#define AHV_ADD(rep) ah_vector(c, d, AH_ADD, rep)
#define AHV_SUB(rep) ah_vector(c, d, AH_SUB, rep)
#define AHV_MUL(rep) ah_vector(c, d, AH_MUL, rep)
#define AHV_DIV(rep) ah_vector(c, d, AH_DIV, rep)
#define AHV_AVG(rep) ah_vector(c, d, AH_AVG, rep)
#define AHV_MIN(rep) ah_vector(c, d, AH_MIN, rep)
#define AHV_MAX(rep) ah_vector(c, d, AH_MAX, rep)
#define AHV_MAC(rep) ah_vector(c, d, AH_MAC, rep)
#define AHV_MRE(rep) ah_vector(c, d, AH_MRE, rep)
#define AHV_SGNJ(rep) v_sgnj(c, d, 0, rep)
#define AHV_SGNJN(rep) v_sgnj(c, d, 1, rep)
#define AHV_SGNJX(rep) v_sgnj(c, d, 2, rep)
#define AHV_EQ(rep) ah_compare(c, d, 0, rep, 0, 0)
#define AHV_NE(rep) ah_compare(c, d, 0, rep, 0, 1)
#define AHV_LT(rep) ah_compare(c, d, 1, rep, 0, 0)
#define AHV_GE(rep) ah_compare(c, d, 2, rep, 1, 0)
#define AHV_LE(rep) ah_compare(c, d, 2, rep, 0, 0)
#define AHV_GT(rep) ah_compare(c, d, 1, rep, 1, 0)
    AH_VPAIR(VFADD, AHV_ADD) AH_VPAIR(VFSUB, AHV_SUB) AH_VPAIR(VFMUL, AHV_MUL) AH_VPAIR(VFDIV, AHV_DIV)
    AH_VPAIR(VFAVG, AHV_AVG) AH_VPAIR(VFMIN, AHV_MIN) AH_VPAIR(VFMAX, AHV_MAX) AH_VPAIR(VFMAC, AHV_MAC)
    AH_VPAIR(VFMRE, AHV_MRE) AH_VPAIR(VFSGNJ, AHV_SGNJ) AH_VPAIR(VFSGNJN, AHV_SGNJN) AH_VPAIR(VFSGNJX, AHV_SGNJX)
    AH_VPAIR(VFEQ, AHV_EQ) AH_VPAIR(VFNE, AHV_NE) AH_VPAIR(VFLT, AHV_LT) AH_VPAIR(VFGE, AHV_GE)
    AH_VPAIR(VFLE, AHV_LE) AH_VPAIR(VFGT, AHV_GT)
    case MCU_OP_VFSQRT_AH: {
        ROUNDING(7);
        uint32_t a = c->f[d->rs1], fl = 0;
        uint32_t lo = mcu_fp_sqrt(AH, a & 0xFFFFu, rm, &fl), hi = mcu_fp_sqrt(AH, a >> 16, rm, &fl);
        mcu_accrue(c, fl); mcu_wf(c, d->rd, pack(lo, hi)); return MCU_OK;
    }
    case MCU_OP_VFCLASS_AH: {
        uint32_t a = c->f[d->rs1];
        mcu_wx(c, d->rd, ah_class_block(a & 0xFFFFu) | ah_class_block(a >> 16) << 8);
        return MCU_OK;
    }
    case MCU_OP_VFMV_X_AH: mcu_wx(c, d->rd, c->f[d->rs1]); return MCU_OK;
    case MCU_OP_VFMV_AH_X: mcu_wf(c, d->rd, c->x[d->rs1]); return MCU_OK;
    case MCU_OP_VFCVT_X_AH:
    case MCU_OP_VFCVT_XU_AH: {
        ROUNDING(7);
        int is_signed = d->op == MCU_OP_VFCVT_X_AH;
        uint32_t a = c->f[d->rs1], fl = 0;
        uint32_t lo = ah_to_int16(a & 0xFFFFu, rm, is_signed, &fl), hi = ah_to_int16(a >> 16, rm, is_signed, &fl);
        mcu_accrue(c, fl); mcu_wx(c, d->rd, pack(lo, hi)); return MCU_OK;
    }
    case MCU_OP_VFCVT_AH_X:
    case MCU_OP_VFCVT_AH_XU: {
        ROUNDING(7);
        int is_signed = d->op == MCU_OP_VFCVT_AH_X;
        uint32_t a = c->x[d->rs1], fl = 0;
        uint32_t x0 = is_signed ? (uint32_t)(int32_t)(int16_t)(a & 0xFFFFu) : a & 0xFFFFu;
        uint32_t x1 = is_signed ? (uint32_t)(int32_t)(int16_t)(a >> 16) : a >> 16;
        uint32_t lo = mcu_fp_from_int(AH, x0, is_signed, rm, &fl), hi = mcu_fp_from_int(AH, x1, is_signed, rm, &fl);
        mcu_accrue(c, fl); mcu_wf(c, d->rd, pack(lo, hi)); return MCU_OK;
    }
    /* illegal with FLEN = 32 (isa/ext/xfvec.py): the reference raises it, with its message */
    case MCU_OP_VFCPKB_AH_S: return MCU_PYTHON;
    case MCU_OP_VFCPKA_AH_S: {
        ROUNDING(7);
        uint32_t fl = 0;
        uint32_t lo = fast_s_to_ah(c->f[d->rs1], rm, &fl), hi = fast_s_to_ah(c->f[d->rs2], rm, &fl);
        mcu_accrue(c, fl); mcu_wf(c, d->rd, pack(lo, hi)); return MCU_OK;
    }

    /* --- Xfauxalt: dot products, one rounding ------------------------------------------------------- */
    case MCU_OP_VFDOTP_AH:
    case MCU_OP_VFDOTP_R_AH: {
        static const mcu_fmt *const fmts[2] = {&MCU_BF16, &MCU_BF16};
        ROUNDING(7);
        uint32_t a = c->f[d->rs1], b = second(c, d->rs2, d->op == MCU_OP_VFDOTP_R_AH), fl = 0;
        uint32_t av[2] = {a & 0xFFFFu, a >> 16}, bv[2] = {b & 0xFFFFu, b >> 16};
        uint32_t v = mcu_fp_sum_of_products(AH, 2, fmts, av, bv, 0, 0, rm, &fl) & 0xFFFFu;
        mcu_accrue(c, fl); mcu_wf(c, d->rd, v); return MCU_OK;
    }
    case MCU_OP_VFDOTPEX_S_AH:
    case MCU_OP_VFDOTPEX_S_R_AH: {
        ROUNDING(7);
        uint32_t fl = 0;
        uint32_t v = fast_dotpex_ah(c->f[d->rs1], second(c, d->rs2, d->op == MCU_OP_VFDOTPEX_S_R_AH), c->f[d->rd],
                                    rm, &fl);
        mcu_accrue(c, fl); mcu_wf(c, d->rd, v); return MCU_OK;
    }
    default:
        return MCU_UNSUPPORTED;
    }
}

#undef AH_RD
#undef AH_WR
