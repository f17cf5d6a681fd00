/* mcusim compiled engine: shared definitions.
 *
 * The instruction table lives in Python (the modules of isa/ext); the build script generates ops_gen.h (one
 * MCU_OP_* per table entry, in table order) so C and Python agree on instruction ids. Python
 * pre-decodes instructions into McuInsn records; C executes them.
 *
 * Semantic handlers (sem_int.c, sem_fp.c) have the signature
 *     int handler(McuCore *c, McuMem *m, const McuInsn *d)
 * and return MCU_OK, MCU_TRAP (after mcu_trap()), MCU_PYTHON (the instruction must run in the Python
 * reference instead: peripheral access, tohost) or MCU_UNSUPPORTED (not implemented in C: Python runs
 * it). A handler must not change architectural state before it knows it will return MCU_OK or
 * MCU_TRAP: do memory accesses first, then register writes (the Python semantics do the same).
 */
#ifndef MCU_H
#define MCU_H

#include <stdint.h>
#include <string.h>

#include "ops_gen.h"
#include "ieee754.h"

enum { MCU_OK = 0, MCU_TRAP = 1, MCU_PYTHON = 2, MCU_UNSUPPORTED = 3,
       /* the cluster loop only: the core exits (ecall exit or a store to tohost: McuCore.exit_code);
        * the console buffer is full (ecall write: Python empties it, the instruction issues again) */
       MCU_EXIT = 4, MCU_FULL = 5 };

/* mcause values */
enum { MCU_CAUSE_MISALIGNED_FETCH = 0, MCU_CAUSE_ILLEGAL = 2, MCU_CAUSE_BREAKPOINT = 3,
       MCU_CAUSE_MISALIGNED_LOAD = 4, MCU_CAUSE_LOAD_ACCESS = 5, MCU_CAUSE_MISALIGNED_STORE = 6,
       MCU_CAUSE_STORE_ACCESS = 7, MCU_CAUSE_ECALL_M = 11 };

/* A pre-decoded instruction. Register operands by field: rd/fd -> rd, rs1/fs1 -> rs1, rs2/fs2 -> rs2,
 * rs3/fs3 -> rs3. The rounding-mode field -> rm. Every other operand, in syntax order, -> imm[0..2]
 * (immediates sign-extended as the field says; pc-relative ones as byte offsets from the pc).
 * `valid` is for Python (engine.py: 0 when a store overwrote the word or it is a hole, so it is
 * decoded again); C looks only at `sem`, which is 0 then too. */
typedef struct {
    uint16_t op;
    uint8_t rd, rs1, rs2, rs3, rm, valid;
    int32_t imm[3];
    uint32_t word;
    /* for the timing model (engine.c), filled by Python from the table: timing class, which
     * semantics file (1 int, 2 fp, 3 sys, 0 none: the reference runs it; 4: an undecodable word, whose
     * illegal-instruction trap C takes when a handler is installed), scoreboard indices read (x0 left out; f registers +32),
     * written (0x80 marks the post-increment write of rs1), and the last x register written (-1: none) */
    uint8_t cls, sem, nreads, nwrites;
    uint8_t reads[4], writes[3];
    int8_t last_x;
    uint8_t size;                   /* bytes: 2 for a compressed instruction (it runs as its expansion) */
} McuInsn;

typedef struct {
    uint32_t base, size;
    uint8_t *data;
} McuRegion;

#define MCU_MAX_REGIONS 8

typedef struct McuMem {
    McuRegion regions[MCU_MAX_REGIONS];
    int32_t nregions, last_region;   /* last_region: where the previous access went (tried first) */
    uint32_t periph_base, periph_size, alias_base;   /* peripheral block and its core-local alias */
    uint32_t tohost;
    int32_t has_tohost;
    /* pre-decoded code: an entry per halfword of [code_base, code_base + 2 * code_halves), for the
     * instruction that starts there (with C, instructions start at any even address) */
    uint32_t code_base, code_halves;
    McuInsn *code;
    /* 1: this McuMem is a McuCluster's and peripheral word accesses go to eu.c first (which hands
     * the rare ones back as MCU_PYTHON); 0 (a lone mcu_exec, or a profiled run): all go to Python */
    int32_t periph_in_c;
    /* the fast window (engine.c mcu_fast_window, on each mcu_run; zero: none): a region with no
     * peripheral, code or tohost byte, the TCDM's when it qualifies, whose loads and stores skip
     * those checks and the region search */
    uint8_t *fast_data;
    uint32_t fast_base, fast_size;
} McuMem;

#define MCU_NSTALLS 17
#define MCU_NEVENTS 9

typedef struct McuCore {
    /* architectural state (mirrors simulator.hart.Hart) */
    uint32_t x[32], f[32];
    uint32_t pc, next_pc;
    uint32_t frm, fflags, mstatus;
    uint32_t hwloop_start[2], hwloop_end[2], hwloop_count[2];
    uint64_t instret;
    int32_t taken;                  /* set by mcu_jump */
    int32_t misaligned_traps;
    int32_t id;
    /* the last memory access of the instruction (address, size, store?) */
    uint32_t acc_addr, acc_size;
    int32_t acc_store, acc_valid;
    /* trap raised by the instruction */
    uint32_t trap_cause, trap_tval;
    /* timing state (engine.c; mirrors simulator.cluster.CoreModel) */
    int64_t issue_cycle;            /* when ready to issue: McuCluster.ready[core index] */
    int32_t state;                  /* 0 off, 1 run, 2 sleep, 3 done */
    int32_t prev_dest, fpu;
    int64_t reg_ready[64];
    int32_t reg_cause[64];
    int64_t stalls[MCU_NSTALLS];
    int64_t events[MCU_NEVENTS];
    int64_t l2_loads, l2_stores, l2_load_cycles, l2_store_cycles;
    /* trap state (Hart: mtvec None until written is mtvec_set 0; take_trap, mret, the trap CSRs) */
    uint32_t mtvec, mepc, mcause, mtval, mscratch, mie, mip;
    int32_t mtvec_set;
    int32_t exit_code;              /* a0 of the core's ecall exit (MCU_EXIT), or the value stored to tohost */
    int32_t exit_tohost;            /* 1: the exit was a store to tohost */
    /* RI5CY performance counters (Hart.pccr/pcer/pcmr) and each counter's source at the last
     * synchronisation (CoreModel.perf_last); pend_*: the stalls of the CSR instruction being executed
     * that issue_body counts only after its semantics (the reference counts them first: a counter
     * read sees them), its fetch stall and its operand wait of cause pend_cause */
    uint32_t pccr[31], pcer, pcmr;
    int64_t perf_last[31];
    int64_t pend_imiss, pend_wait;
    int32_t pend_cause;
    /* asleep (state 2): since sleep_start, counted as stall sleep_cause, waiting for `waiting`
     * (MCU_W_*: CoreModel.waiting_for) */
    int64_t sleep_start;
    int32_t sleep_cause, waiting, waiting_arg;   /* waiting_arg: the mutex's holder (MCU_W_MUTEX) */
} McuCore;

/* --- helpers for semantic handlers (engine.c defines the non-inline ones) ------------------------- */
static inline void mcu_wx(McuCore *c, int r, uint32_t v) { if (r) c->x[r] = v; }
static inline void mcu_wf(McuCore *c, int r, uint32_t v) { c->f[r] = v; c->mstatus |= 0x6000; }
/* FP16 operand from f[r]: an improperly NaN-boxed value reads as the canonical NaN 0x7e00 */
static inline uint32_t mcu_read_half(const McuCore *c, int r) {
    uint32_t v = c->f[r];
    return (v & 0xFFFF0000u) == 0xFFFF0000u ? (v & 0xFFFFu) : 0x7E00u;
}
static inline void mcu_write_half(McuCore *c, int r, uint32_t v) { mcu_wf(c, r, 0xFFFF0000u | (v & 0xFFFFu)); }
static inline void mcu_accrue(McuCore *c, uint32_t flags) { if (flags) { c->fflags |= flags; c->mstatus |= 0x6000; } }
static inline int mcu_trap(McuCore *c, uint32_t cause, uint32_t tval) {
    c->trap_cause = cause; c->trap_tval = tval; return MCU_TRAP;
}
/* effective rounding mode; -1 when reserved (the handler then returns mcu_trap(c, MCU_CAUSE_ILLEGAL, d->word):
 * like the reference, an illegal-instruction trap reports the instruction word in mtval) */
static inline int mcu_rounding(const McuCore *c, int rm) {
    if (rm == 7) rm = (int)c->frm;
    return rm > 4 ? -1 : rm;
}
/* taken branch or jump (with C, instructions are 2-byte aligned: only an odd target traps) */
static inline int mcu_jump(McuCore *c, uint32_t target) {
    if (target & 1) return mcu_trap(c, MCU_CAUSE_MISALIGNED_FETCH, target);
    c->next_pc = target; c->taken = 1; return MCU_OK;
}
static inline int32_t mcu_s32(uint32_t v) { return (int32_t)v; }

/* Memory access: MCU_OK (value in *out), MCU_TRAP (misaligned / access fault), MCU_PYTHON
 * (peripheral register or tohost: the Python reference must execute the instruction). Inline: every
 * load and store handler calls them, mostly with a constant size. */
static inline int region_has(const McuRegion *r, uint32_t addr, uint32_t size) {
    return addr >= r->base && (uint64_t)addr + size <= (uint64_t)r->base + r->size;
}

/* The region holding [addr, addr + size); the last one found is tried first (accesses cluster). */
static inline McuRegion *find_region(McuMem *m, uint32_t addr, uint32_t size) {
    McuRegion *r = &m->regions[m->last_region];
    if (region_has(r, addr, size)) return r;
    for (int i = 0; i < m->nregions; i++) {
        if (region_has(&m->regions[i], addr, size)) { m->last_region = i; return &m->regions[i]; }
    }
    return 0;
}

static inline uint32_t read_le(const uint8_t *p, int size) {
    switch (size) {
        case 1: return p[0];
        case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
        default: { uint32_t v; memcpy(&v, p, 4); return v; }
    }
}

static inline void write_le(uint8_t *p, int size, uint32_t value) {
    switch (size) {
        case 1: p[0] = (uint8_t)value; break;
        case 2: { uint16_t v = (uint16_t)value; memcpy(p, &v, 2); break; }
        default: memcpy(p, &value, 4); break;
    }
}

static inline int is_periph(const McuMem *m, uint32_t addr) {
    return (addr - m->periph_base < m->periph_size) || addr >= m->alias_base;
}

static inline int in_code(const McuMem *m, uint32_t addr, int size) {
    uint64_t end = (uint64_t)m->code_base + 2ull * m->code_halves;
    /* an instruction starting 2 bytes before addr may cover it too */
    return m->code_halves && (uint64_t)addr + size > m->code_base && (uint64_t)addr < end + 2;
}

/* Peripheral word access in the cluster loop (eu.c; only when m->periph_in_c): MCU_OK (done, the
 * access recorded) or MCU_PYTHON (nothing changed: the reference does it). */
int mcu_periph_load(McuCore *c, McuMem *m, uint32_t addr, int size, uint32_t *out);
int mcu_periph_store(McuCore *c, McuMem *m, uint32_t addr, int size, uint32_t value);
/* wfi in the cluster loop (eu.c): the event unit's wait for an event */
int mcu_periph_wfi(McuCore *c, McuMem *m);

/* An access inside the fast window (McuMem.fast_*) skips the peripheral, region, code and tohost
 * checks, which cannot apply there; otherwise they run in the reference's order. */
static inline int in_fast_window(const McuMem *m, uint32_t addr, int size) {
    return addr - m->fast_base <= m->fast_size - (uint32_t)size && m->fast_size;
}

static inline int mcu_load(McuCore *c, McuMem *m, uint32_t addr, int size, int sign, uint32_t *out) {
    const int fast = __builtin_expect(in_fast_window(m, addr, size), 1);
    if (!fast && is_periph(m, addr)) return m->periph_in_c ? mcu_periph_load(c, m, addr, size, out) : MCU_PYTHON;
    if ((addr & (uint32_t)(size - 1)) && c->misaligned_traps) return mcu_trap(c, MCU_CAUSE_MISALIGNED_LOAD, addr);
    const uint8_t *p;
    if (fast) p = m->fast_data + (addr - m->fast_base);
    else {
        McuRegion *r = find_region(m, addr, (uint32_t)size);
        if (!r) return mcu_trap(c, MCU_CAUSE_LOAD_ACCESS, addr);
        p = r->data + (addr - r->base);
    }
    uint32_t v = read_le(p, size);   /* little-endian host */
    if (sign && size < 4 && (v >> (8 * size - 1)) & 1) v |= ~0u << (8 * size);
    c->acc_addr = addr; c->acc_size = (uint32_t)size; c->acc_store = 0; c->acc_valid = 1;
    *out = v;
    return MCU_OK;
}

static inline int mcu_store(McuCore *c, McuMem *m, uint32_t addr, int size, uint32_t value) {
    const int fast = __builtin_expect(in_fast_window(m, addr, size), 1);
    if (!fast && is_periph(m, addr)) return m->periph_in_c ? mcu_periph_store(c, m, addr, size, value) : MCU_PYTHON;
    if ((addr & (uint32_t)(size - 1)) && c->misaligned_traps) return mcu_trap(c, MCU_CAUSE_MISALIGNED_STORE, addr);
    uint8_t *p;
    if (fast) p = m->fast_data + (addr - m->fast_base);
    else {
        McuRegion *r = find_region(m, addr, (uint32_t)size);
        if (!r) return mcu_trap(c, MCU_CAUSE_STORE_ACCESS, addr);
        /* self-modifying code needs both decode caches: the reference does it */
        if (in_code(m, addr, size)) return MCU_PYTHON;
        p = r->data + (addr - r->base);
    }
    write_le(p, size, value);
    c->acc_addr = addr; c->acc_size = (uint32_t)size; c->acc_store = 1; c->acc_valid = 1;
    /* a nonzero store to tohost ends the program once stored (Hart.store; the cluster loop's MCU_EXIT) */
    if (!fast && m->has_tohost && addr == m->tohost && value) { c->exit_code = (int32_t)value; c->exit_tohost = 1; return MCU_EXIT; }
    return MCU_OK;
}

/* Semantic dispatch (each returns MCU_UNSUPPORTED for ops it does not implement). */
int mcu_sem_int(McuCore *c, McuMem *m, const McuInsn *d);
int mcu_sem_fp(McuCore *c, McuMem *m, const McuInsn *d);
int mcu_sem_sys(McuCore *c, McuMem *m, const McuInsn *d);   /* the cluster loop only (sem_sys.c) */
/* 1 if the file implements op */
int mcu_sem_int_supports(int op);
int mcu_sem_fp_supports(int op);
int mcu_sem_sys_supports(int op);

/* engine.c: one instruction without timing (next_pc, taken, last access reset first), then retire */
int mcu_exec(McuCore *c, McuMem *m, const McuInsn *d);
void mcu_advance(McuCore *c, uint32_t pc, uint32_t size);
int mcu_supported(int op);
int mcu_num_ops(void);

#endif
