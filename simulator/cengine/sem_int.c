/* Integer semantics in C: RV32I (non-system), RV32M, Zifencei, Xpulpv2 (hardware loops, post-increment
 * memory, ALU, packed SIMD). The twin of isa/ext/rv32i.py, rv32m.py, xpulp_*.py, which win on any
 * doubt. ecall, ebreak, csr*, mret and wfi stay in Python (MCU_UNSUPPORTED).
 *
 * All arithmetic is on uint32_t so that wrapping is defined and matches Python's `& 0xFFFFFFFF`;
 * signed views go through (int32_t) casts and arithmetic right shifts of int32_t (GCC and Clang
 * define both as two's complement). */
#include "mcu.h"

#define MCU_EXPORT __attribute__((visibility("default")))

/* --- operand shorthands (d, c in scope) --------------------------------------------------------- */
#define RS1 (c->x[d->rs1])
#define RS2 (c->x[d->rs2])
#define RS3 (c->x[d->rs3])
#define RDV (c->x[d->rd])                 /* old x[rd], for accumulating / inserting ops */
#define IMM0 ((uint32_t)d->imm[0])
#define IMM1 ((uint32_t)d->imm[1])
#define IMM2 ((uint32_t)d->imm[2])
#define RET(v) return wx_ok(c, d->rd, (v))

static inline int wx_ok(McuCore *c, int r, uint32_t v) { mcu_wx(c, r, v); return MCU_OK; }

static inline uint32_t sra32(uint32_t a, unsigned s) { return (uint32_t)((int32_t)a >> s); }
static inline int32_t s32v(uint32_t a) { return (int32_t)a; }

/* --- memory ------------------------------------------------------------------------------------- */
/* Inlined: every load and store op has its own issue function (opgen.SPECIALISED_ISSUE), where the
 * access folds to straight-line code with its size and step constant. */
#define MCU_MEM_INLINE inline __attribute__((always_inline))

static MCU_MEM_INLINE int load_rd(McuCore *c, McuMem *m, const McuInsn *d, uint32_t addr, int size, int sign) {
    uint32_t v;
    int st = mcu_load(c, m, addr, size, sign, &v);
    if (st != MCU_OK) return st;
    RET(v);
}

/* access at x[rs1], then x[rs1] += step, then x[rd] = data (the data wins when rd == rs1) */
static MCU_MEM_INLINE int load_post(McuCore *c, McuMem *m, const McuInsn *d, uint32_t step, int size, int sign) {
    uint32_t base = RS1, v;
    int st = mcu_load(c, m, base, size, sign, &v);
    if (st != MCU_OK) return st;
    mcu_wx(c, d->rs1, base + step);
    RET(v);
}

static MCU_MEM_INLINE int store_post(McuCore *c, McuMem *m, const McuInsn *d, uint32_t step, int size) {
    uint32_t base = RS1;
    int st = mcu_store(c, m, base, size, RS2);
    if (st != MCU_OK) return st;
    mcu_wx(c, d->rs1, base + step);
    return MCU_OK;
}

/* --- RV32M -------------------------------------------------------------------------------------- */
static inline uint32_t div_s(uint32_t a, uint32_t b) {
    if (b == 0) return 0xFFFFFFFFu;
    if (a == 0x80000000u && b == 0xFFFFFFFFu) return a;
    return (uint32_t)(s32v(a) / s32v(b));          /* C truncates toward zero, like the reference */
}
static inline uint32_t rem_s(uint32_t a, uint32_t b) {
    if (b == 0) return a;
    if (a == 0x80000000u && b == 0xFFFFFFFFu) return 0;
    return (uint32_t)(s32v(a) % s32v(b));          /* sign of the dividend */
}

/* --- Xpulpv2 scalar ALU --------------------------------------------------------------------------- */
static inline uint32_t clip(int32_t v, int32_t low, int32_t high) {
    return (uint32_t)(v <= low ? low : (v < high ? v : high));
}
/* 2^(Is2-1) - 1; Is2 = 0 behaves like Is2 = 1 */
static inline int32_t clip_bound(uint32_t is2) { return (int32_t)((1u << (is2 ? is2 - 1 : 0)) - 1); }

static inline uint32_t ff1(uint32_t a) { return a ? (uint32_t)__builtin_ctz(a) : 32; }
static inline uint32_t fl1(uint32_t a) { return a ? 31u - (uint32_t)__builtin_clz(a) : 32; }
static inline uint32_t clb(uint32_t a) {
    if (a == 0) return 0;
    uint32_t t = a ^ (uint32_t)((int32_t)a >> 31);   /* leading sign copies become zeros */
    return t ? (uint32_t)__builtin_clz(t) - 1 : 31;
}
/* SWAR count: __builtin_popcount is a libgcc call on baseline x86-64, which would cost a frame */
static inline uint32_t popcount(uint32_t a) {
    a = a - ((a >> 1) & 0x55555555u);
    a = (a & 0x33333333u) + ((a >> 2) & 0x33333333u);
    return (((a + (a >> 4)) & 0x0F0F0F0Fu) * 0x01010101u) >> 24;
}
static inline uint32_t ror(uint32_t a, uint32_t b) {
    unsigned s = b & 31;
    return s ? (a >> s) | (a << (32 - s)) : a;
}

/* bits shift .. shift + width_m1 (clipped at bit 31) */
static inline uint32_t field_mask(uint32_t width_m1, uint32_t shift) {
    return (uint32_t)((((uint64_t)1 << (width_m1 + 1)) - 1) << shift);
}
/* a field running past bit 31 stops there, its sign taken from bit 31 */
static inline uint32_t bf_extract(uint32_t a, uint32_t width_m1, uint32_t shift) {
    uint32_t bits = width_m1 + 1 < 32 - shift ? width_m1 + 1 : 32 - shift;
    uint32_t mask = bits >= 32 ? 0xFFFFFFFFu : (1u << bits) - 1;
    uint32_t f = (a >> shift) & mask;
    return (f >> (bits - 1)) & 1 ? f | ~mask : f;
}
static inline uint32_t bf_extractu(uint32_t a, uint32_t w, uint32_t s) { return (a & field_mask(w, s)) >> s; }
static inline uint32_t bf_insert(uint32_t a, uint32_t rd, uint32_t w, uint32_t s) {
    uint32_t fm = field_mask(w, s);
    return (rd & ~fm) | ((a << s) & fm);
}

/* the 32-bit sum wraps before the (rounded) normalising shift */
static inline uint32_t round_shift(uint32_t v, uint32_t sh, int sgn, int rnd) {
    if (rnd) v += (1u << sh) >> 1;
    return sgn ? sra32(v, sh) : v >> sh;
}
static inline uint32_t half_op(uint32_t v, int hi, int sgn) {
    v = hi ? v >> 16 : v & 0xFFFF;
    return sgn ? (v ^ 0x8000u) - 0x8000u : v;
}
static inline uint32_t mul_norm(uint32_t a, uint32_t b, uint32_t acc, uint32_t sh, int hi, int sgn, int rnd) {
    return round_shift(half_op(a, hi, sgn) * half_op(b, hi, sgn) + acc, sh, sgn, rnd);
}

/* --- packed SIMD: lanes of W bits, lane 0 least significant --------------------------------------
 * Each lane op is one function over whole words for W = 16 or 8 (a constant after inlining); the
 * .sc/.sci forms replicate their scalar into every lane first, so all three forms share it. */
#define LMASK(W) ((1u << (W)) - 1)
#define LSIGN(W) (1u << ((W) - 1))
#define SX(v, W) ((((v) & LMASK(W)) ^ LSIGN(W)) - LSIGN(W))   /* lane sign-extended to 32 bits */
#define SLT(a, b, W) (((a) ^ LSIGN(W)) < ((b) ^ LSIGN(W)))    /* signed lane compare */
#define REP16(v) (((v) & 0xFFFFu) * 0x00010001u)
#define REP8(v) (((v) & 0xFFu) * 0x01010101u)

/* Unrolled by hand (GCC -O2 keeps a 4-trip lane loop rolled). */
#define LANES(x, y, W, F)                                                                     \
    ((W) == 16 ? F((x) & 0xFFFFu, (y) & 0xFFFFu, 16) | F((x) >> 16, (y) >> 16, 16) << 16      \
               : F((x) & 0xFFu, (y) & 0xFFu, 8) | F(((x) >> 8) & 0xFFu, ((y) >> 8) & 0xFFu, 8) << 8 | \
                 F(((x) >> 16) & 0xFFu, ((y) >> 16) & 0xFFu, 8) << 16 | F((x) >> 24, (y) >> 24, 8) << 24)

/* name(x, y, W): the lane op EXPR (of lanes a, b) applied to every lane; the result is masked */
#define LANEWISE(name, EXPR)                                                                  \
    static inline uint32_t name##_lane(uint32_t a, uint32_t b, const unsigned W) {           \
        (void)b;                                                                             \
        return (uint32_t)(EXPR) & LMASK(W);                                                  \
    }                                                                                        \
    static inline uint32_t name(uint32_t x, uint32_t y, const unsigned W) {                  \
        return LANES(x, y, W, name##_lane);                                                  \
    }

/* carry-free lane add / subtract on the whole word: the top bit of each lane is fixed up apart */
static inline uint32_t v_add(uint32_t x, uint32_t y, const unsigned W) {
    const uint32_t top = W == 16 ? 0x80008000u : 0x80808080u;
    return ((x & ~top) + (y & ~top)) ^ ((x ^ y) & top);
}
static inline uint32_t v_sub(uint32_t x, uint32_t y, const unsigned W) {
    const uint32_t top = W == 16 ? 0x80008000u : 0x80808080u;
    return ((x | top) - (y & ~top)) ^ ((x ^ ~y) & top);
}
LANEWISE(v_avg, sra32(SX(a + b, W), 1))             /* sum wrapped to the lane, then >>s 1 */
LANEWISE(v_avgu, ((a + b) & LMASK(W)) >> 1)
LANEWISE(v_min, SLT(a, b, W) ? a : b)
LANEWISE(v_minu, a < b ? a : b)
LANEWISE(v_max, SLT(a, b, W) ? b : a)
LANEWISE(v_maxu, a < b ? b : a)
LANEWISE(v_srl, a >> (b & (W - 1)))                 /* shift amounts modulo the lane width */
LANEWISE(v_sra, sra32(SX(a, W), b & (W - 1)))
LANEWISE(v_sll, a << (b & (W - 1)))
LANEWISE(v_cmpeq, a == b ? ~0u : 0)
LANEWISE(v_cmpne, a != b ? ~0u : 0)
LANEWISE(v_cmpgt, SLT(b, a, W) ? ~0u : 0)
LANEWISE(v_cmpge, SLT(a, b, W) ? 0 : ~0u)
LANEWISE(v_cmplt, SLT(a, b, W) ? ~0u : 0)
LANEWISE(v_cmple, SLT(b, a, W) ? 0 : ~0u)
LANEWISE(v_cmpgtu, a > b ? ~0u : 0)
LANEWISE(v_cmpgeu, a >= b ? ~0u : 0)
LANEWISE(v_cmpltu, a < b ? ~0u : 0)
LANEWISE(v_cmpleu, a <= b ? ~0u : 0)
static inline uint32_t v_or(uint32_t x, uint32_t y, const unsigned W) { (void)W; return x | y; }
static inline uint32_t v_xor(uint32_t x, uint32_t y, const unsigned W) { (void)W; return x ^ y; }
static inline uint32_t v_and(uint32_t x, uint32_t y, const unsigned W) { (void)W; return x & y; }
LANEWISE(v_abs, (a & LSIGN(W)) ? 0u - a : a)        /* the most negative lane stays as is */

/* sum of lane products, modulo 2^32 (which is all the 32-bit result keeps) */
#define DOTP(name, SA, SB)                                                                    \
    static inline uint32_t name##_lane(uint32_t a, uint32_t b, const unsigned W) {           \
        return (SA ? SX(a, W) : a) * (SB ? SX(b, W) : b);                                    \
    }                                                                                        \
    static inline uint32_t name(uint32_t x, uint32_t y, const unsigned W) {                  \
        if (W == 16) return name##_lane(x & 0xFFFFu, y & 0xFFFFu, 16) + name##_lane(x >> 16, y >> 16, 16); \
        return name##_lane(x & 0xFFu, y & 0xFFu, 8) + name##_lane((x >> 8) & 0xFFu, (y >> 8) & 0xFFu, 8) + \
               name##_lane((x >> 16) & 0xFFu, (y >> 16) & 0xFFu, 8) + name##_lane(x >> 24, y >> 24, 8);     \
    }

DOTP(v_dotup, 0, 0)
DOTP(v_dotusp, 0, 1)
DOTP(v_dotsp, 1, 1)

static inline uint32_t lane(uint32_t x, unsigned i, unsigned W) { return (x >> (i * W)) & LMASK(W); }

/* rd lanes picked by the selector lanes of y from rs1 (selector bit `count`) or the old rd */
static inline uint32_t shuffle2(uint32_t x, uint32_t old, uint32_t y, const unsigned W) {
    const unsigned count = 32 / W;
    uint32_t r = 0;
    for (unsigned i = 0; i < count; i++) {
        uint32_t sel = lane(y, i, W);
        r |= lane(sel & count ? x : old, sel & (count - 1), W) << (i * W);
    }
    return r;
}

/* --- case families ------------------------------------------------------------------------------- */
/* lb & co: base form, then the three Xpulpv2 forms */
#define LOAD_CASES(NAME, SIZE, SIGN)                                                                  \
    case MCU_OP_##NAME: return load_rd(c, m, d, RS1 + IMM0, SIZE, SIGN);                              \
    case MCU_OP_P_##NAME##_IMM_POST_INC: return load_post(c, m, d, IMM0, SIZE, SIGN);                 \
    case MCU_OP_P_##NAME##_REG_POST_INC: return load_post(c, m, d, RS2, SIZE, SIGN);                  \
    case MCU_OP_P_##NAME##_REG_OFFSET: return load_rd(c, m, d, RS1 + RS2, SIZE, SIGN);

#define STORE_CASES(NAME, SIZE)                                                                       \
    case MCU_OP_##NAME: return mcu_store(c, m, RS1 + IMM0, SIZE, RS2);                                \
    case MCU_OP_P_##NAME##_IMM_POST_INC: return store_post(c, m, d, IMM0, SIZE);                      \
    case MCU_OP_P_##NAME##_REG_POST_INC: return store_post(c, m, d, RS3, SIZE);                       \
    case MCU_OP_P_##NAME##_REG_OFFSET: return mcu_store(c, m, RS1 + RS3, SIZE, RS2);

#define BRANCH(NAME, COND)                                                                            \
    case MCU_OP_##NAME: return (COND) ? mcu_jump(c, c->pc + IMM0) : MCU_OK;

/* p.{mul,mac}<KIND>{n,rn}: 16x16 halves (HI: upper), signed (SGN), normalised by Is3 */
#define MULN_CASES(KIND, HI, SGN)                                                                     \
    case MCU_OP_P_MUL##KIND##N: RET(mul_norm(RS1, RS2, 0, IMM0, HI, SGN, 0));                         \
    case MCU_OP_P_MUL##KIND##RN: RET(mul_norm(RS1, RS2, 0, IMM0, HI, SGN, 1));                        \
    case MCU_OP_P_MAC##KIND##N: RET(mul_norm(RS1, RS2, RDV, IMM0, HI, SGN, 0));                       \
    case MCU_OP_P_MAC##KIND##RN: RET(mul_norm(RS1, RS2, RDV, IMM0, HI, SGN, 1));

/* p.{add,sub}[u]{n,rn}[r]: immediate forms combine rs1, rs2 and shift by Is3; register forms
 * combine rd, rs1 and shift by x[rs2][4:0]. U is empty or U. */
#define ADDN_CASES(OP, U, SGN, SYM)                                                                   \
    case MCU_OP_P_##OP##U##N: RET(round_shift(RS1 SYM RS2, IMM0, SGN, 0));                            \
    case MCU_OP_P_##OP##U##RN: RET(round_shift(RS1 SYM RS2, IMM0, SGN, 1));                           \
    case MCU_OP_P_##OP##U##NR: RET(round_shift(RDV SYM RS1, RS2 & 31, SGN, 0));                       \
    case MCU_OP_P_##OP##U##RNR: RET(round_shift(RDV SYM RS1, RS2 & 31, SGN, 1));

/* p.<OP> (immediate Is3, Is2) and p.<OP>r (x[rs2][9:5], x[rs2][4:0]) bit-field pairs */
#define BITFIELD_CASES(OP, EXPR_W_S)                                                                  \
    case MCU_OP_P_##OP: { uint32_t w = IMM0, s = IMM1; RET(EXPR_W_S); }                               \
    case MCU_OP_P_##OP##R: { uint32_t w = (RS2 >> 5) & 31, s = RS2 & 31; RET(EXPR_W_S); }

/* the six forms .h .sc.h .sci.h .b .sc.b .sci.b; ACC is empty or `RDV +` */
#define PV_CASES(OP, FN, ACC)                                                                         \
    case MCU_OP_PV_##OP##_H: RET(ACC FN(RS1, RS2, 16));                                               \
    case MCU_OP_PV_##OP##_SC_H: RET(ACC FN(RS1, REP16(RS2), 16));                                     \
    case MCU_OP_PV_##OP##_SCI_H: RET(ACC FN(RS1, REP16(IMM0), 16));                                   \
    case MCU_OP_PV_##OP##_B: RET(ACC FN(RS1, RS2, 8));                                                \
    case MCU_OP_PV_##OP##_SC_B: RET(ACC FN(RS1, REP8(RS2), 8));                                       \
    case MCU_OP_PV_##OP##_SCI_B: RET(ACC FN(RS1, REP8(IMM0), 8));

#define NO_ACC

/* `op` is d->op, or a constant in the issue path's per-op copies (the switch then folds to one case) */
/* CORE-V ops with no Xpulpv2 twin (twins of isa/ext/xcv_alu.py and xcv_simd.py) */
static inline uint32_t bitrev(uint32_t v, unsigned g) {      /* groups of g bits from bit 31, reversed */
    uint32_t out = 0;
    for (unsigned k = 0; k < 32 / g; k++)
        out |= ((v >> (32 - g * (k + 1))) & ((1u << g) - 1)) << (g * k);
    return out;
}
static inline int32_t h16(uint32_t v) { return (int32_t)(int16_t)(uint16_t)v; }
static inline uint32_t cplxmul(uint32_t a, uint32_t b, uint32_t old, int imaginary, unsigned sh) {
    int64_t a0 = h16(a), a1 = h16(a >> 16), b0 = h16(b), b1 = h16(b >> 16);
    if (imaginary)
        return (uint32_t)((a0 * b1 + a1 * b0) >> sh) << 16 | (old & 0xFFFFu);
    return (old & 0xFFFF0000u) | ((uint32_t)((a0 * b0 - a1 * b1) >> sh) & 0xFFFFu);
}
static inline uint32_t subrotmj(uint32_t a, uint32_t b, unsigned sh) {
    uint32_t hi = (uint32_t)(h16((b & 0xFFFFu) - (a & 0xFFFFu)) >> sh);
    uint32_t lo = (uint32_t)(h16((a >> 16) - (b >> 16)) >> sh);
    return hi << 16 | (lo & 0xFFFFu);
}
static inline uint32_t halving(uint32_t a, uint32_t b, int add, unsigned sh) {
    uint32_t lo = add ? a + b : a - b;
    uint32_t hi = add ? (a >> 16) + (b >> 16) : (a >> 16) - (b >> 16);
    return (uint32_t)(h16(hi) >> sh) << 16 | ((uint32_t)(h16(lo) >> sh) & 0xFFFFu);
}

static inline __attribute__((always_inline)) int sem_int_inline(McuCore *c, McuMem *m, const McuInsn *d, const int op) {
    switch (op) {
    /* --- RV32I ---------------------------------------------------------------------------------- */
    case MCU_OP_LUI: RET(IMM0 << 12);
    case MCU_OP_AUIPC: RET(c->pc + (IMM0 << 12));
    case MCU_OP_JAL: {
        uint32_t link = c->next_pc;             /* pc + the instruction's size (c.jal: 2) */
        int st = mcu_jump(c, c->pc + IMM0);     /* a misaligned target traps before rd is written */
        if (st != MCU_OK) return st;
        RET(link);
    }
    case MCU_OP_JALR: {
        uint32_t link = c->next_pc;
        int st = mcu_jump(c, (RS1 + IMM0) & ~1u);
        if (st != MCU_OK) return st;
        RET(link);
    }
    BRANCH(BEQ, RS1 == RS2)
    BRANCH(BNE, RS1 != RS2)
    BRANCH(BLT, s32v(RS1) < s32v(RS2))
    BRANCH(BGE, s32v(RS1) >= s32v(RS2))
    BRANCH(BLTU, RS1 < RS2)
    BRANCH(BGEU, RS1 >= RS2)
    LOAD_CASES(LB, 1, 1)
    LOAD_CASES(LH, 2, 1)
    LOAD_CASES(LW, 4, 0)
    LOAD_CASES(LBU, 1, 0)
    LOAD_CASES(LHU, 2, 0)
    STORE_CASES(SB, 1)
    STORE_CASES(SH, 2)
    STORE_CASES(SW, 4)
    case MCU_OP_ADDI: RET(RS1 + IMM0);
    case MCU_OP_SLTI: RET(s32v(RS1) < d->imm[0]);
    case MCU_OP_SLTIU: RET(RS1 < IMM0);
    case MCU_OP_XORI: RET(RS1 ^ IMM0);
    case MCU_OP_ORI: RET(RS1 | IMM0);
    case MCU_OP_ANDI: RET(RS1 & IMM0);
    case MCU_OP_SLLI: RET(RS1 << (IMM0 & 31));
    case MCU_OP_SRLI: RET(RS1 >> (IMM0 & 31));
    case MCU_OP_SRAI: RET(sra32(RS1, IMM0 & 31));
    case MCU_OP_ADD: RET(RS1 + RS2);
    case MCU_OP_SUB: RET(RS1 - RS2);
    case MCU_OP_SLL: RET(RS1 << (RS2 & 31));
    case MCU_OP_SLT: RET(s32v(RS1) < s32v(RS2));
    case MCU_OP_SLTU: RET(RS1 < RS2);
    case MCU_OP_XOR: RET(RS1 ^ RS2);
    case MCU_OP_SRL: RET(RS1 >> (RS2 & 31));
    case MCU_OP_SRA: RET(sra32(RS1, RS2 & 31));
    case MCU_OP_OR: RET(RS1 | RS2);
    case MCU_OP_AND: RET(RS1 & RS2);
    case MCU_OP_FENCE:
    case MCU_OP_FENCE_I:
        return MCU_OK;      /* memory is sequentially consistent; stores to code defer to Python */

    /* --- RV32M ---------------------------------------------------------------------------------- */
    case MCU_OP_MUL: RET(RS1 * RS2);
    case MCU_OP_MULH: RET((uint32_t)((uint64_t)((int64_t)s32v(RS1) * s32v(RS2)) >> 32));
    case MCU_OP_MULHSU: RET((uint32_t)((uint64_t)((int64_t)s32v(RS1) * (int64_t)RS2) >> 32));
    case MCU_OP_MULHU: RET((uint32_t)(((uint64_t)RS1 * RS2) >> 32));
    case MCU_OP_DIV: RET(div_s(RS1, RS2));
    case MCU_OP_DIVU: RET(RS2 ? RS1 / RS2 : 0xFFFFFFFFu);
    case MCU_OP_REM: RET(rem_s(RS1, RS2));
    case MCU_OP_REMU: RET(RS2 ? RS1 % RS2 : RS1);

    /* --- Xpulpv2 hardware loops (the loop-back itself is mcu_advance's) --------------------------- */
    /* Writing loop L inside loop L's own body is illegal (xpulp_hwloop._not_inside_own_body): the
     * reference raises it, with its message. */
#define LP_NESTED(l) (c->hwloop_count[l] && c->pc >= c->hwloop_start[l] && c->pc <= c->hwloop_end[l])
    case MCU_OP_LP_STARTI: if (LP_NESTED(IMM0 & 1)) return MCU_PYTHON;
        c->hwloop_start[IMM0 & 1] = c->pc + IMM1; return MCU_OK;
    case MCU_OP_LP_ENDI: if (LP_NESTED(IMM0 & 1)) return MCU_PYTHON;
        c->hwloop_end[IMM0 & 1] = c->pc + IMM1; return MCU_OK;
    case MCU_OP_LP_COUNT: if (LP_NESTED(IMM0 & 1)) return MCU_PYTHON;
        c->hwloop_count[IMM0 & 1] = RS1; return MCU_OK;
    case MCU_OP_LP_COUNTI: if (LP_NESTED(IMM0 & 1)) return MCU_PYTHON;
        c->hwloop_count[IMM0 & 1] = IMM1; return MCU_OK;
    case MCU_OP_LP_SETUP: {
        uint32_t l = IMM0 & 1;
        if (LP_NESTED(l)) return MCU_PYTHON;
        c->hwloop_start[l] = c->pc + 4;
        c->hwloop_end[l] = c->pc + IMM1;
        c->hwloop_count[l] = RS1;
        return MCU_OK;
    }
    case MCU_OP_LP_SETUPI: {
        uint32_t l = IMM0 & 1;
        if (LP_NESTED(l)) return MCU_PYTHON;
        c->hwloop_start[l] = c->pc + 4;
        c->hwloop_end[l] = c->pc + IMM2;
        c->hwloop_count[l] = IMM1;
        return MCU_OK;
    }

    /* --- CORE-V hardware loops without an Xpulpv2 twin (isa/ext/xcv_hwloop.py): the end operand
     * names the instruction after the body; the loop state keeps the last one (end - 4) ------------- */
    case MCU_OP_CV_START: c->hwloop_start[IMM0 & 1] = RS1 & ~3u; return MCU_OK;
    case MCU_OP_CV_ENDI: c->hwloop_end[IMM0 & 1] = c->pc + IMM1 - 4; return MCU_OK;
    case MCU_OP_CV_END: c->hwloop_end[IMM0 & 1] = (RS1 & ~3u) - 4; return MCU_OK;
    case MCU_OP_CV_SETUP: {
        uint32_t l = IMM0 & 1;
        c->hwloop_start[l] = c->pc + 4;
        c->hwloop_end[l] = c->pc + IMM1 - 4;
        c->hwloop_count[l] = RS1;
        return MCU_OK;
    }
    case MCU_OP_CV_SETUPI: {
        uint32_t l = IMM0 & 1;
        c->hwloop_start[l] = c->pc + 4;
        c->hwloop_end[l] = c->pc + IMM2 - 4;
        c->hwloop_count[l] = IMM1;
        return MCU_OK;
    }
    case MCU_OP_CV_BITREV: RET(bitrev(RS1 << (IMM1 & 31), IMM0 == 1 ? 2 : IMM0 == 2 ? 3 : 1));

    /* --- CORE-V complex-number and halving SIMD ops (isa/ext/xcv_simd.py; lane 0 = real part) ---- */
    case MCU_OP_CV_CPLXMUL_R: RET(cplxmul(RS1, RS2, RDV, 0, 15));
    case MCU_OP_CV_CPLXMUL_R_DIV2: RET(cplxmul(RS1, RS2, RDV, 0, 16));
    case MCU_OP_CV_CPLXMUL_R_DIV4: RET(cplxmul(RS1, RS2, RDV, 0, 17));
    case MCU_OP_CV_CPLXMUL_R_DIV8: RET(cplxmul(RS1, RS2, RDV, 0, 18));
    case MCU_OP_CV_CPLXMUL_I: RET(cplxmul(RS1, RS2, RDV, 1, 15));
    case MCU_OP_CV_CPLXMUL_I_DIV2: RET(cplxmul(RS1, RS2, RDV, 1, 16));
    case MCU_OP_CV_CPLXMUL_I_DIV4: RET(cplxmul(RS1, RS2, RDV, 1, 17));
    case MCU_OP_CV_CPLXMUL_I_DIV8: RET(cplxmul(RS1, RS2, RDV, 1, 18));
    case MCU_OP_CV_CPLXCONJ: RET((RS1 & 0xFFFFu) | (0u - (RS1 >> 16)) << 16);
    case MCU_OP_CV_SUBROTMJ: RET(subrotmj(RS1, RS2, 0));
    case MCU_OP_CV_SUBROTMJ_DIV2: RET(subrotmj(RS1, RS2, 1));
    case MCU_OP_CV_SUBROTMJ_DIV4: RET(subrotmj(RS1, RS2, 2));
    case MCU_OP_CV_SUBROTMJ_DIV8: RET(subrotmj(RS1, RS2, 3));
    case MCU_OP_CV_ADD_DIV2: RET(halving(RS1, RS2, 1, 1));
    case MCU_OP_CV_ADD_DIV4: RET(halving(RS1, RS2, 1, 2));
    case MCU_OP_CV_ADD_DIV8: RET(halving(RS1, RS2, 1, 3));
    case MCU_OP_CV_SUB_DIV2: RET(halving(RS1, RS2, 0, 1));
    case MCU_OP_CV_SUB_DIV4: RET(halving(RS1, RS2, 0, 2));
    case MCU_OP_CV_SUB_DIV8: RET(halving(RS1, RS2, 0, 3));

    /* --- Xpulpv2 ALU ---------------------------------------------------------------------------- */
    case MCU_OP_P_MAC: RET(RDV + RS1 * RS2);
    case MCU_OP_P_MSU: RET(RDV - RS1 * RS2);
    case MCU_OP_P_ABS: RET(s32v(RS1) < 0 ? 0u - RS1 : RS1);
    case MCU_OP_P_SLET: RET(s32v(RS1) <= s32v(RS2));
    case MCU_OP_P_SLETU: RET(RS1 <= RS2);
    case MCU_OP_P_MIN: RET(s32v(RS1) < s32v(RS2) ? RS1 : RS2);
    case MCU_OP_P_MINU: RET(RS1 < RS2 ? RS1 : RS2);
    case MCU_OP_P_MAX: RET(s32v(RS1) < s32v(RS2) ? RS2 : RS1);
    case MCU_OP_P_MAXU: RET(RS1 < RS2 ? RS2 : RS1);
    case MCU_OP_P_ROR: RET(ror(RS1, RS2));
    case MCU_OP_P_FF1: RET(ff1(RS1));
    case MCU_OP_P_FL1: RET(fl1(RS1));
    case MCU_OP_P_CLB: RET(clb(RS1));
    case MCU_OP_P_CNT: RET(popcount(RS1));
    case MCU_OP_P_EXTHS: RET(SX(RS1, 16));
    case MCU_OP_P_EXTHZ: RET(RS1 & 0xFFFFu);
    case MCU_OP_P_EXTBS: RET(SX(RS1, 8));
    case MCU_OP_P_EXTBZ: RET(RS1 & 0xFFu);
    case MCU_OP_P_CLIP: { int32_t b = clip_bound(IMM0); RET(clip(s32v(RS1), -b - 1, b)); }
    case MCU_OP_P_CLIPU: RET(clip(s32v(RS1), 0, clip_bound(IMM0)));
    /* the register bound ignores bit 31 of x[rs2] */
    case MCU_OP_P_CLIPR: { int32_t b = (int32_t)(RS2 & 0x7FFFFFFFu); RET(clip(s32v(RS1), -b - 1, b)); }
    case MCU_OP_P_CLIPUR: RET(clip(s32v(RS1), 0, (int32_t)(RS2 & 0x7FFFFFFFu)));
    BITFIELD_CASES(EXTRACT, bf_extract(RS1, w, s))
    BITFIELD_CASES(EXTRACTU, bf_extractu(RS1, w, s))
    BITFIELD_CASES(INSERT, bf_insert(RS1, RDV, w, s))
    BITFIELD_CASES(BCLR, RS1 & ~field_mask(w, s))
    BITFIELD_CASES(BSET, RS1 | field_mask(w, s))
    case MCU_OP_P_BEQIMM: return RS1 == IMM0 ? mcu_jump(c, c->pc + IMM1) : MCU_OK;
    case MCU_OP_P_BNEIMM: return RS1 != IMM0 ? mcu_jump(c, c->pc + IMM1) : MCU_OK;
    MULN_CASES(U, 0, 0)
    MULN_CASES(HHU, 1, 0)
    MULN_CASES(S, 0, 1)
    MULN_CASES(HHS, 1, 1)
    ADDN_CASES(ADD, , 1, +)
    ADDN_CASES(ADD, U, 0, +)
    ADDN_CASES(SUB, , 1, -)
    ADDN_CASES(SUB, U, 0, -)

    /* --- Xpulpv2 packed SIMD -------------------------------------------------------------------- */
    PV_CASES(ADD, v_add, NO_ACC)
    PV_CASES(SUB, v_sub, NO_ACC)
    PV_CASES(AVG, v_avg, NO_ACC)
    PV_CASES(AVGU, v_avgu, NO_ACC)
    PV_CASES(MIN, v_min, NO_ACC)
    PV_CASES(MINU, v_minu, NO_ACC)
    PV_CASES(MAX, v_max, NO_ACC)
    PV_CASES(MAXU, v_maxu, NO_ACC)
    PV_CASES(SRL, v_srl, NO_ACC)
    PV_CASES(SRA, v_sra, NO_ACC)
    PV_CASES(SLL, v_sll, NO_ACC)
    PV_CASES(OR, v_or, NO_ACC)         /* bitwise: lanes do not matter */
    PV_CASES(XOR, v_xor, NO_ACC)
    PV_CASES(AND, v_and, NO_ACC)
    PV_CASES(CMPEQ, v_cmpeq, NO_ACC)
    PV_CASES(CMPNE, v_cmpne, NO_ACC)
    PV_CASES(CMPGT, v_cmpgt, NO_ACC)
    PV_CASES(CMPGE, v_cmpge, NO_ACC)
    PV_CASES(CMPLT, v_cmplt, NO_ACC)
    PV_CASES(CMPLE, v_cmple, NO_ACC)
    PV_CASES(CMPGTU, v_cmpgtu, NO_ACC)
    PV_CASES(CMPGEU, v_cmpgeu, NO_ACC)
    PV_CASES(CMPLTU, v_cmpltu, NO_ACC)
    PV_CASES(CMPLEU, v_cmpleu, NO_ACC)
    PV_CASES(DOTUP, v_dotup, NO_ACC)
    PV_CASES(DOTUSP, v_dotusp, NO_ACC)
    PV_CASES(DOTSP, v_dotsp, NO_ACC)
    PV_CASES(SDOTUP, v_dotup, RDV +)
    PV_CASES(SDOTUSP, v_dotusp, RDV +)
    PV_CASES(SDOTSP, v_dotsp, RDV +)
    case MCU_OP_PV_ABS_H: RET(v_abs(RS1, 0, 16));
    case MCU_OP_PV_ABS_B: RET(v_abs(RS1, 0, 8));
    /* lane index = imm6 mod lane count */
    case MCU_OP_PV_EXTRACT_H: RET(SX(lane(RS1, IMM0 & 1, 16), 16));
    case MCU_OP_PV_EXTRACT_B: RET(SX(lane(RS1, IMM0 & 3, 8), 8));
    case MCU_OP_PV_EXTRACTU_H: RET(lane(RS1, IMM0 & 1, 16));
    case MCU_OP_PV_EXTRACTU_B: RET(lane(RS1, IMM0 & 3, 8));
    case MCU_OP_PV_INSERT_H: {
        unsigned sh = (IMM0 & 1) * 16;
        RET((RDV & ~(0xFFFFu << sh)) | ((RS1 & 0xFFFFu) << sh));
    }
    case MCU_OP_PV_INSERT_B: {
        unsigned sh = (IMM0 & 3) * 8;
        RET((RDV & ~(0xFFu << sh)) | ((RS1 & 0xFFu) << sh));
    }
    case MCU_OP_PV_SHUFFLE_H: {
        uint32_t x = RS1, y = RS2;
        RET(lane(x, y & 1, 16) | lane(x, (y >> 16) & 1, 16) << 16);
    }
    case MCU_OP_PV_SHUFFLE_B: {
        uint32_t x = RS1, y = RS2;
        RET(lane(x, y & 3, 8) | lane(x, (y >> 8) & 3, 8) << 8 | lane(x, (y >> 16) & 3, 8) << 16 |
            lane(x, (y >> 24) & 3, 8) << 24);
    }
    case MCU_OP_PV_SHUFFLE_SCI_H: {
        uint32_t x = RS1, k = IMM0;
        RET(lane(x, k & 1, 16) | lane(x, (k >> 1) & 1, 16) << 16);
    }
    /* pv.shufflei<K>.sci.b: lanes 0..2 from imm6 pairs, lane 3 from x[rs1] lane K */
#define SHUFFLEI(K)                                                                                   \
    case MCU_OP_PV_SHUFFLEI##K##_SCI_B: {                                                             \
        uint32_t x = RS1, k = IMM0;                                                                   \
        RET(lane(x, k & 3, 8) | lane(x, (k >> 2) & 3, 8) << 8 | lane(x, (k >> 4) & 3, 8) << 16 |      \
            lane(x, K, 8) << 24);                                                                     \
    }
    SHUFFLEI(0)
    SHUFFLEI(1)
    SHUFFLEI(2)
    SHUFFLEI(3)
#undef SHUFFLEI
    case MCU_OP_PV_SHUFFLE2_H: RET(shuffle2(RS1, RDV, RS2, 16));
    case MCU_OP_PV_SHUFFLE2_B: RET(shuffle2(RS1, RDV, RS2, 8));
    case MCU_OP_PV_PACK: RET(RS1 << 16 | (RS2 & 0xFFFFu));
    case MCU_OP_PV_PACK_H: RET((RS1 & 0xFFFF0000u) | RS2 >> 16);
    case MCU_OP_PV_PACKHI_B: RET((RS1 & 0xFFu) << 24 | (RS2 & 0xFFu) << 16 | (RDV & 0xFFFFu));
    case MCU_OP_PV_PACKLO_B: RET((RDV & 0xFFFF0000u) | (RS1 & 0xFFu) << 8 | (RS2 & 0xFFu));

    default:
        return MCU_UNSUPPORTED;     /* ecall, ebreak, csr*, mret, wfi, FP: elsewhere */
    }
}

/* Whether the switch above implements op: asked of the switch itself (on a scratch core with no
 * memory, where every access defers to Python), so the answer cannot drift from the dispatch.
 * Exported so tests can ask it directly. */
MCU_EXPORT int mcu_sem_int_supports(int op) {
    if (op < 0 || op >= MCU_NUM_OPS) return 0;
    McuCore c;
    McuMem m;
    McuInsn d;
    memset(&c, 0, sizeof c);
    memset(&m, 0, sizeof m);
    memset(&d, 0, sizeof d);
    d.op = (uint16_t)op;
    return mcu_sem_int(&c, &m, &d) != MCU_UNSUPPORTED;
}

/* out of line: single-instruction execution and the profiling loop (the plain loop inlines it) */
int mcu_sem_int(McuCore *c, McuMem *m, const McuInsn *d) { return sem_int_inline(c, m, d, d->op); }
