/* Floating-point semantics in C: RV32F, Zfh, Xfvec, Xfaux (bfloat16: sem_bf16.c). The twin of isa/ext/rv32f.py, zfh.py,
 * xfvec.py; arithmetic through the inline fast paths of fp_fast.h and dotpex_fast.h, which fall back
 * to the exact functions of ieee754.c for what they do not cover.
 *
 * Order inside every handler, as in the Python reference: resolve the rounding mode (a reserved one traps
 * before anything is read or written), do the memory access, compute, accrue flags, write the result.
 * Every source operand is read before the destination is written, so aliased registers behave as in
 * Python. Scalar .h operands go through mcu_read_half (NaN-box check) and results through
 * mcu_write_half; vector (Xfvec) registers are two raw FP16 lanes without boxing. */
#include "mcu.h"
#include "dotpex_fast.h"
#include "fp_fast.h"

#define F32 (&MCU_F32)
#define F16 (&MCU_F16)
#define NV 16u

typedef uint32_t (*mcu_bin_fn)(const mcu_fmt *, uint32_t, uint32_t, int, uint32_t *);
typedef uint32_t (*mcu_cmp_fn)(const mcu_fmt *, uint32_t, uint32_t, uint32_t *);

/* The Hart fills tval with the instruction word for an illegal instruction. */
static inline int illegal(McuCore *c, const McuInsn *d) { return mcu_trap(c, MCU_CAUSE_ILLEGAL, d->word); }

/* The flags of an op that then writes an f register (mcu_wf, which marks the FP state dirty in
 * mstatus whatever the flags): ORed without mcu_accrue's test, a branch on NX that the data decides.
 * Ops that write an x register keep mcu_accrue (mstatus changes only when a flag is raised). */
static inline void accrue_f(McuCore *c, uint32_t fl) { c->fflags |= fl; }

/* `int rm` = the effective rounding mode of field `field`, or trap when it is reserved */
#define ROUNDING(field)                                      \
    int rm = mcu_rounding(c, (field));                       \
    if (rm < 0) return illegal(c, d)

static inline uint32_t pack(uint32_t lo, uint32_t hi) { return (lo & 0xFFFFu) | (hi & 0xFFFFu) << 16; }
/* second vector operand; .r forms use lane 0 of f[fs2] for both lanes */
static inline uint32_t second(const McuCore *c, int r, int rep) {
    uint32_t v = c->f[r];
    return rep ? (v & 0xFFFFu) * 0x10001u : v;
}

/* --- vector lane loops (inlined with constant fn/rep at every call site) ----------------------------- */
static inline __attribute__((always_inline)) int v_arith(McuCore *c, const McuInsn *d, mcu_bin_fn fn, int rep) {
    ROUNDING(7);
    uint32_t a = c->f[d->rs1], b = second(c, d->rs2, rep), fl = 0;
    uint32_t lo = fn(F16, a & 0xFFFFu, b & 0xFFFFu, rm, &fl), hi = fn(F16, a >> 16, b >> 16, rm, &fl);
    accrue_f(c, fl);
    mcu_wf(c, d->rd, pack(lo, hi));
    return MCU_OK;
}

/* both lanes at once (fp_fast.h's FP16-SIMD functions): vfadd/vfsub/vfmul (kind 0 add, 1 sub, 2 mul) */
static inline __attribute__((always_inline)) int v_arith2(McuCore *c, const McuInsn *d, int kind, int rep) {
    ROUNDING(7);
    uint32_t a = c->f[d->rs1], b = second(c, d->rs2, rep), fl = 0;
    uint32_t v = kind == 2 ? fast_vmul_h(a, b, rm, &fl) : fast_vadd_h(a, kind ? b ^ 0x80008000u : b, rm, &fl);
    accrue_f(c, fl);
    mcu_wf(c, d->rd, v);
    return MCU_OK;
}

static inline __attribute__((always_inline)) int v_minmax(McuCore *c, const McuInsn *d, int want_max, int rep) {
    uint32_t a = c->f[d->rs1], b = second(c, d->rs2, rep), fl = 0;
    uint32_t v = fast_vminmax_h(a, b, want_max, &fl);
    accrue_f(c, fl);
    mcu_wf(c, d->rd, v);
    return MCU_OK;
}

/* comparisons: `swap` compares (b, a) (vfge, vfgt), `invert` negates the result (vfne; flags kept) */
static inline __attribute__((always_inline)) int v_compare(McuCore *c, const McuInsn *d, mcu_cmp_fn fn, int rep, int swap, int invert) {
    uint32_t a = c->f[d->rs1], b = second(c, d->rs2, rep), fl = 0, lo, hi;
    if (swap) {
        lo = fn(F16, b & 0xFFFFu, a & 0xFFFFu, &fl);
        hi = fn(F16, b >> 16, a >> 16, &fl);
    } else {
        lo = fn(F16, a & 0xFFFFu, b & 0xFFFFu, &fl);
        hi = fn(F16, a >> 16, b >> 16, &fl);
    }
    if (invert) { lo ^= 1; hi ^= 1; }
    mcu_accrue(c, fl);
    mcu_wx(c, d->rd, pack(lo, hi));
    return MCU_OK;
}

/* vfmac / vfmre: vd[i] = round(v1[i] * v2[i] +- vd[i]) */
static inline __attribute__((always_inline)) int v_fma(McuCore *c, const McuInsn *d, int neg_addend, int rep) {
    ROUNDING(7);
    uint32_t a = c->f[d->rs1], b = second(c, d->rs2, rep), v = c->f[d->rd], fl = 0;
    uint32_t r = fast_vfma_h(a, b, v, rm, neg_addend, &fl);
    accrue_f(c, fl);
    mcu_wf(c, d->rd, r);
    return MCU_OK;
}

/* sign injection on both lanes at once: kind 0 sgnj, 1 sgnjn, 2 sgnjx */
static inline __attribute__((always_inline)) int v_sgnj(McuCore *c, const McuInsn *d, int kind, int rep) {
    const uint32_t sign = 0x80008000u;
    uint32_t a = c->f[d->rs1], b = second(c, d->rs2, rep);
    uint32_t v = kind == 0 ? (a & ~sign) | (b & sign) : kind == 1 ? (a & ~sign) | (~b & sign) : a ^ (b & sign);
    mcu_wf(c, d->rd, v);
    return MCU_OK;
}

/* f[fd] = round(v1[0]*v2[0] + v1[1]*v2[1] (+ f[fd] as FP32 when `ex`)) with one rounding */
/* always inlined: with `ex` and `rep` constant, the issue path's vfdotpex.s.h copy keeps only its own
 * lanes and the double fast path (the call was 17% of benchmark (b)'s samples; inlined, (b) went from
 * 51 to 54 M instructions/s) */
static inline __attribute__((always_inline)) int v_dotp(McuCore *c, const McuInsn *d, int ex, int rep) {
    static const mcu_fmt *const fmts[2] = {&MCU_F16, &MCU_F16};
    ROUNDING(7);
    uint32_t a = c->f[d->rs1], b = second(c, d->rs2, rep), fl = 0;
    uint32_t av[2] = {a & 0xFFFFu, a >> 16}, bv[2] = {b & 0xFFFFu, b >> 16};
    uint32_t v;
    if (!ex) v = mcu_fp_sum_of_products(F16, 2, fmts, av, bv, 0, 0, rm, &fl) & 0xFFFFu;
    else if (!mcu_dotpex_double(a, b, c->f[d->rd], rm, &v, &fl)) v = mcu_fp_dotpex_h(a, b, c->f[d->rd], rm, &fl);
    accrue_f(c, fl);
    mcu_wf(c, d->rd, v);
    return MCU_OK;
}

/* FP16 -> 16-bit integer lane: saturating, out of range (NaN, infinities too) gives NV only */
static inline uint32_t to_int16(uint32_t a, int rm, int is_signed, uint32_t *flags) {
    uint32_t fl = 0, v = mcu_fp_to_int(F16, a, rm, is_signed, &fl);
    if (is_signed) {
        int32_t s = (int32_t)v;
        if (s < -0x8000 || s > 0x7FFF) { *flags |= NV; return s < 0 ? 0x8000u : 0x7FFFu; }
    } else if (v > 0xFFFFu) {
        *flags |= NV; return 0xFFFFu;
    }
    *flags |= fl;
    return v & 0xFFFFu;
}

/* vfclass.h block bit of each fclass index (0 -inf .. 7 +inf, 8 sNaN, 9 qNaN); 7 negative, 6 not */
static inline uint32_t class_block(uint32_t a) {
    static const uint8_t block[10] = {0x81, 0x82, 0x84, 0x88, 0x48, 0x44, 0x42, 0x41, 0x50, 0x60};
    return block[__builtin_ctz(mcu_fp_classify(F16, a) | 0x400u)];
}

/* --- scalar helpers ---------------------------------------------------------------------------------- */
#define RD_S(r) (c->f[r])
#define WR_S(r, v) mcu_wf(c, (r), (v))
#define RD_H(r) mcu_read_half(c, (r))
#define WR_H(r, v) mcu_write_half(c, (r), (v))

/* The instructions that rv32f.define_precision registers for one format: P is the op-name suffix (S, H),
 * FMT the format, RD/WR how the f registers hold it, SIGN its sign bit. Loads, stores, moves and the
 * integer conversions differ in names and are written out below. */
#define FP_ARITH(NAME, fn)                                                                      \
    case MCU_OP_##NAME: {                                                                       \
        ROUNDING(d->rm);                                                                        \
        uint32_t fl = 0, v = fn(FMT, RD(d->rs1), RD(d->rs2), rm, &fl);                          \
        accrue_f(c, fl); WR(d->rd, v); return MCU_OK;                                           \
    }
#define FP_FMA(NAME, np, na)                                                                    \
    case MCU_OP_##NAME: {                                                                       \
        ROUNDING(d->rm);                                                                        \
        uint32_t fl = 0, v = FMA(RD(d->rs1), RD(d->rs2), RD(d->rs3), rm, np, na, &fl);          \
        accrue_f(c, fl); WR(d->rd, v); return MCU_OK;                                           \
    }
#define FP_MINMAX(NAME, fn)                                                                     \
    case MCU_OP_##NAME: {                                                                       \
        uint32_t fl = 0, v = fn(FMT, RD(d->rs1), RD(d->rs2), &fl);                              \
        accrue_f(c, fl); WR(d->rd, v); return MCU_OK;                                           \
    }
#define FP_COMPARE(NAME, fn)                                                                    \
    case MCU_OP_##NAME: {                                                                       \
        uint32_t fl = 0, v = fn(FMT, RD(d->rs1), RD(d->rs2), &fl);                              \
        mcu_accrue(c, fl); mcu_wx(c, d->rd, v); return MCU_OK;                                  \
    }
#define FP_SGNJ(NAME, expr)                                                                     \
    case MCU_OP_##NAME: {                                                                       \
        uint32_t a = RD(d->rs1), b = RD(d->rs2);                                                \
        (void)b; WR(d->rd, (a & ~SIGN & MASK) | ((expr) & SIGN)); return MCU_OK;                \
    }
#define FP_TO_INT(NAME, is_signed)                                                              \
    case MCU_OP_##NAME: {                                                                       \
        ROUNDING(d->rm);                                                                        \
        uint32_t fl = 0, v = mcu_fp_to_int(FMT, RD(d->rs1), rm, is_signed, &fl);                \
        mcu_accrue(c, fl); mcu_wx(c, d->rd, v); return MCU_OK;                                  \
    }
#define FP_FROM_INT(NAME, is_signed)                                                            \
    case MCU_OP_##NAME: {                                                                       \
        ROUNDING(d->rm);                                                                        \
        uint32_t fl = 0, v = mcu_fp_from_int(FMT, c->x[d->rs1], is_signed, rm, &fl);            \
        accrue_f(c, fl); WR(d->rd, v); return MCU_OK;                                           \
    }
#define FP_PRECISION(P, p)                                                                      \
    FP_FMA(FMADD_##P, 0, 0) FP_FMA(FMSUB_##P, 0, 1) FP_FMA(FNMSUB_##P, 1, 0) FP_FMA(FNMADD_##P, 1, 1) \
    FP_ARITH(FADD_##P, fast_add_##p) FP_ARITH(FSUB_##P, fast_sub_##p)                           \
    FP_ARITH(FMUL_##P, fast_mul_##p) FP_ARITH(FDIV_##P, fast_div_##p)                             \
    case MCU_OP_FSQRT_##P: {                                                                    \
        ROUNDING(d->rm);                                                                        \
        uint32_t fl = 0, v = fast_sqrt_##p(FMT, RD(d->rs1), rm, &fl);                           \
        accrue_f(c, fl); WR(d->rd, v); return MCU_OK;                                           \
    }                                                                                           \
    FP_SGNJ(FSGNJ_##P, b) FP_SGNJ(FSGNJN_##P, ~b) FP_SGNJ(FSGNJX_##P, a ^ b)                    \
    FP_MINMAX(FMIN_##P, fast_min_##p) FP_MINMAX(FMAX_##P, fast_max_##p)                         \
    FP_TO_INT(FCVT_W_##P, 1) FP_TO_INT(FCVT_WU_##P, 0)                                          \
    FP_FROM_INT(FCVT_##P##_W, 1) FP_FROM_INT(FCVT_##P##_WU, 0)                                  \
    case MCU_OP_FCLASS_##P: mcu_wx(c, d->rd, mcu_fp_classify(FMT, RD(d->rs1))); return MCU_OK;  \
    FP_COMPARE(FEQ_##P, fast_eq_##p) FP_COMPARE(FLT_##P, fast_lt_##p) FP_COMPARE(FLE_##P, fast_le_##p)

/* Every op this file implements (also the body of mcu_sem_fp_supports). */
#define MCU_FP_OPS(X)                                                                                   \
    X(FLW) X(FSW) X(FMADD_S) X(FMSUB_S) X(FNMSUB_S) X(FNMADD_S) X(FADD_S) X(FSUB_S) X(FMUL_S) X(FDIV_S)  \
    X(FSQRT_S) X(FSGNJ_S) X(FSGNJN_S) X(FSGNJX_S) X(FMIN_S) X(FMAX_S) X(FCVT_W_S) X(FCVT_WU_S)           \
    X(FCVT_S_W) X(FCVT_S_WU) X(FMV_X_W) X(FMV_W_X) X(FCLASS_S) X(FEQ_S) X(FLT_S) X(FLE_S)                \
    X(FLH) X(FSH) X(FMADD_H) X(FMSUB_H) X(FNMSUB_H) X(FNMADD_H) X(FADD_H) X(FSUB_H) X(FMUL_H) X(FDIV_H)  \
    X(FSQRT_H) X(FSGNJ_H) X(FSGNJN_H) X(FSGNJX_H) X(FMIN_H) X(FMAX_H) X(FCVT_W_H) X(FCVT_WU_H)           \
    X(FCVT_H_W) X(FCVT_H_WU) X(FMV_X_H) X(FMV_H_X) X(FCLASS_H) X(FEQ_H) X(FLT_H) X(FLE_H)                \
    X(FCVT_S_H) X(FCVT_H_S)                                                                             \
    X(VFADD_H) X(VFADD_R_H) X(VFSUB_H) X(VFSUB_R_H) X(VFMUL_H) X(VFMUL_R_H) X(VFDIV_H) X(VFDIV_R_H)     \
    X(VFMIN_H) X(VFMIN_R_H) X(VFMAX_H) X(VFMAX_R_H) X(VFMAC_H) X(VFMAC_R_H) X(VFMRE_H) X(VFMRE_R_H)     \
    X(VFSGNJ_H) X(VFSGNJ_R_H) X(VFSGNJN_H) X(VFSGNJN_R_H) X(VFSGNJX_H) X(VFSGNJX_R_H)                   \
    X(VFEQ_H) X(VFEQ_R_H) X(VFNE_H) X(VFNE_R_H) X(VFLT_H) X(VFLT_R_H) X(VFGE_H) X(VFGE_R_H)             \
    X(VFLE_H) X(VFLE_R_H) X(VFGT_H) X(VFGT_R_H) X(VFSQRT_H) X(VFCLASS_H) X(VFMV_X_H) X(VFMV_H_X)        \
    X(VFCVT_X_H) X(VFCVT_H_X) X(VFCVT_XU_H) X(VFCVT_H_XU) X(VFCPKA_H_S) X(VFCPKB_H_S)                                 \
    X(VFDOTP_H) X(VFDOTP_R_H) X(VFDOTPEX_S_H) X(VFDOTPEX_S_R_H) X(VFAVG_H) X(VFAVG_R_H)                 \
    X(FMULEX_S_H) X(FMACEX_S_H)

/* bfloat16 (.ah) ops: their own file, reached from the default case of sem_fp_inline */
#include "sem_bf16.c"

/* Exported (not only hidden like the rest of the library) so that the tests can query it. */
__attribute__((visibility("default"))) int mcu_sem_fp_supports(int op) {
#define MCU_FP_CASE(NAME) case MCU_OP_##NAME:
    switch (op) {
    MCU_FP_OPS(MCU_FP_CASE)
        return 1;
    default:
        return mcu_sem_bf16_supports(op);
    }
#undef MCU_FP_CASE
}

/* the two lanes of a .h/.r.h pair */
#define VPAIR(NAME, call) \
    case MCU_OP_##NAME##_H: return call(0); \
    case MCU_OP_##NAME##_R_H: return call(1);

/* `op` as for sem_int_inline */
static inline __attribute__((always_inline)) int sem_fp_inline(McuCore *c, McuMem *m, const McuInsn *d, const int op) {
    switch (op) {
    /* --- loads and stores: memory first, so MCU_PYTHON / traps leave the registers untouched ------- */
    case MCU_OP_FLW: {
        uint32_t v;
        int st = mcu_load(c, m, c->x[d->rs1] + (uint32_t)d->imm[0], 4, 0, &v);
        if (st != MCU_OK) return st;
        mcu_wf(c, d->rd, v);
        return MCU_OK;
    }
    case MCU_OP_FLH: {
        uint32_t v;
        int st = mcu_load(c, m, c->x[d->rs1] + (uint32_t)d->imm[0], 2, 0, &v);
        if (st != MCU_OK) return st;
        mcu_write_half(c, d->rd, v);
        return MCU_OK;
    }
    case MCU_OP_FSW: return mcu_store(c, m, c->x[d->rs1] + (uint32_t)d->imm[0], 4, c->f[d->rs2]);
    /* fsh stores f[fs2][15:0] as it is (no NaN-box check) */
    case MCU_OP_FSH: return mcu_store(c, m, c->x[d->rs1] + (uint32_t)d->imm[0], 2, c->f[d->rs2]);

    /* --- RV32F ----------------------------------------------------------------------------------------- */
#define FMT F32
#define RD RD_S
#define WR WR_S
#define SIGN 0x80000000u
#define MASK 0xFFFFFFFFu
#define FMA(a, b, c3, rm, np, na, fl) fast_fma_s(a, b, c3, rm, np, na, fl)
    FP_PRECISION(S, s)
    case MCU_OP_FMV_X_W: mcu_wx(c, d->rd, c->f[d->rs1]); return MCU_OK;
    case MCU_OP_FMV_W_X: mcu_wf(c, d->rd, c->x[d->rs1]); return MCU_OK;
#undef FMT
#undef RD
#undef WR
#undef SIGN
#undef MASK
#undef FMA

    /* --- Zfh ------------------------------------------------------------------------------------------- */
#define FMT F16
#define RD RD_H
#define WR WR_H
#define SIGN 0x8000u
#define MASK 0xFFFFu
#define FMA(a, b, c3, rm, np, na, fl) fast_fma_h(a, b, c3, rm, np, na, fl)
    FP_PRECISION(H, h)
#undef FMT
#undef RD
#undef WR
#undef SIGN
#undef MASK
#undef FMA
    /* fmv.x.h moves f[fs1][15:0] as it is (no NaN-box check), sign-extended */
    case MCU_OP_FMV_X_H: mcu_wx(c, d->rd, (uint32_t)(int32_t)(int16_t)(c->f[d->rs1] & 0xFFFFu)); return MCU_OK;
    case MCU_OP_FMV_H_X: mcu_write_half(c, d->rd, c->x[d->rs1]); return MCU_OK;
    case MCU_OP_FCVT_S_H: {
        ROUNDING(d->rm);   /* exact, but a reserved rm still traps */
        uint32_t fl = 0, v = fast_h_to_s(mcu_read_half(c, d->rs1), rm, &fl);
        accrue_f(c, fl); mcu_wf(c, d->rd, v); return MCU_OK;
    }
    case MCU_OP_FCVT_H_S: {
        ROUNDING(d->rm);
        uint32_t fl = 0, v = fast_s_to_h(c->f[d->rs1], rm, &fl);
        accrue_f(c, fl); mcu_write_half(c, d->rd, v); return MCU_OK;
    }

    /* --- Xfvec: no rm field; rounding ops use frm and trap when it is reserved ------------------------- */
#define V_ADD(rep) v_arith2(c, d, 0, rep)
#define V_SUB(rep) v_arith2(c, d, 1, rep)
#define V_MUL(rep) v_arith2(c, d, 2, rep)
#define V_DIV(rep) v_arith(c, d, fast_div_h, rep)
#define V_AVG(rep) v_arith(c, d, mcu_fp_average, rep)
#define V_MIN(rep) v_minmax(c, d, 0, rep)
#define V_MAX(rep) v_minmax(c, d, 1, rep)
#define V_MAC(rep) v_fma(c, d, 0, rep)
#define V_MRE(rep) v_fma(c, d, 1, rep)
#define V_SGNJ(rep) v_sgnj(c, d, 0, rep)
#define V_SGNJN(rep) v_sgnj(c, d, 1, rep)
#define V_SGNJX(rep) v_sgnj(c, d, 2, rep)
#define V_EQ(rep) v_compare(c, d, fast_eq_h, rep, 0, 0)
#define V_NE(rep) v_compare(c, d, fast_eq_h, rep, 0, 1)
#define V_LT(rep) v_compare(c, d, fast_lt_h, rep, 0, 0)
#define V_GE(rep) v_compare(c, d, fast_le_h, rep, 1, 0)
#define V_LE(rep) v_compare(c, d, fast_le_h, rep, 0, 0)
#define V_GT(rep) v_compare(c, d, fast_lt_h, rep, 1, 0)
#define V_DOTP(rep) v_dotp(c, d, 0, rep)
#define V_DOTPEX(rep) v_dotp(c, d, 1, rep)
    VPAIR(VFADD, V_ADD) VPAIR(VFSUB, V_SUB) VPAIR(VFMUL, V_MUL) VPAIR(VFDIV, V_DIV)
    VPAIR(VFMIN, V_MIN) VPAIR(VFMAX, V_MAX) VPAIR(VFMAC, V_MAC) VPAIR(VFMRE, V_MRE)
    VPAIR(VFSGNJ, V_SGNJ) VPAIR(VFSGNJN, V_SGNJN) VPAIR(VFSGNJX, V_SGNJX)
    VPAIR(VFEQ, V_EQ) VPAIR(VFNE, V_NE) VPAIR(VFLT, V_LT) VPAIR(VFGE, V_GE) VPAIR(VFLE, V_LE) VPAIR(VFGT, V_GT)
    VPAIR(VFDOTP, V_DOTP) VPAIR(VFDOTPEX_S, V_DOTPEX) VPAIR(VFAVG, V_AVG)
    case MCU_OP_VFSQRT_H: {
        ROUNDING(7);
        uint32_t a = c->f[d->rs1], fl = 0;
        uint32_t lo = fast_sqrt_h(F16, a & 0xFFFFu, rm, &fl), hi = fast_sqrt_h(F16, a >> 16, rm, &fl);
        accrue_f(c, fl); mcu_wf(c, d->rd, pack(lo, hi)); return MCU_OK;
    }
    case MCU_OP_VFCLASS_H: {
        uint32_t a = c->f[d->rs1];
        mcu_wx(c, d->rd, class_block(a & 0xFFFFu) | class_block(a >> 16) << 8);
        return MCU_OK;
    }
    case MCU_OP_VFMV_X_H: mcu_wx(c, d->rd, c->f[d->rs1]); return MCU_OK;
    case MCU_OP_VFMV_H_X: mcu_wf(c, d->rd, c->x[d->rs1]); return MCU_OK;
    case MCU_OP_VFCVT_X_H:
    case MCU_OP_VFCVT_XU_H: {
        ROUNDING(7);
        int is_signed = d->op == MCU_OP_VFCVT_X_H;
        uint32_t a = c->f[d->rs1], fl = 0;
        uint32_t lo = to_int16(a & 0xFFFFu, rm, is_signed, &fl), hi = to_int16(a >> 16, rm, is_signed, &fl);
        mcu_accrue(c, fl); mcu_wx(c, d->rd, pack(lo, hi)); return MCU_OK;
    }
    case MCU_OP_VFCVT_H_X: {
        ROUNDING(7);
        uint32_t a = c->x[d->rs1], fl = 0;
        uint32_t lo = mcu_fp_from_int(F16, (uint32_t)(int32_t)(int16_t)(a & 0xFFFFu), 1, rm, &fl);
        uint32_t hi = mcu_fp_from_int(F16, (uint32_t)(int32_t)(int16_t)(a >> 16), 1, rm, &fl);
        accrue_f(c, fl); mcu_wf(c, d->rd, pack(lo, hi)); return MCU_OK;
    }
    case MCU_OP_VFCVT_H_XU: {
        ROUNDING(7);
        uint32_t a = c->x[d->rs1], fl = 0;
        uint32_t lo = mcu_fp_from_int(F16, a & 0xFFFFu, 0, rm, &fl), hi = mcu_fp_from_int(F16, a >> 16, 0, rm, &fl);
        accrue_f(c, fl); mcu_wf(c, d->rd, pack(lo, hi)); return MCU_OK;
    }
    /* illegal with FLEN = 32 (isa/ext/xfvec.py): the reference raises it, with its message */
    case MCU_OP_VFCPKB_H_S: return MCU_PYTHON;
    case MCU_OP_VFCPKA_H_S: {
        ROUNDING(7);
        uint32_t fl = 0, v = fast_vcpka_h_s(c->f[d->rs1], c->f[d->rs2], rm, &fl);
        accrue_f(c, fl); mcu_wf(c, d->rd, v); return MCU_OK;
    }

    /* --- Xfaux scalar expanding ops: FP16 (NaN-boxed) operands, FP32 result, one rounding ------------- */
    case MCU_OP_FMULEX_S_H:
    case MCU_OP_FMACEX_S_H: {
        static const mcu_fmt *const fmts[1] = {&MCU_F16};
        ROUNDING(d->rm);
        uint32_t a = mcu_read_half(c, d->rs1), b = mcu_read_half(c, d->rs2), fl = 0;
        uint32_t v = d->op == MCU_OP_FMACEX_S_H
                         ? mcu_fp_sum_of_products(F32, 1, fmts, &a, &b, F32, c->f[d->rd], rm, &fl)
                         : mcu_fp_sum_of_products(F32, 1, fmts, &a, &b, 0, 0, rm, &fl);
        accrue_f(c, fl); mcu_wf(c, d->rd, v); return MCU_OK;
    }
    default:
        return sem_bf16_inline(c, m, d, op);
    }
}

/* out of line: single-instruction execution and the profiling loop (the plain loop inlines it) */
int mcu_sem_fp(McuCore *c, McuMem *m, const McuInsn *d) { return sem_fp_inline(c, m, d, d->op); }
