/* System semantics in C for the cluster loop: the CSR instructions (Zicsr) on the CSRs whose state
 * lives in McuCore. The twin of isa/ext/zicsr.py with simulator/hart.py (Hart._csr_read/_csr_write)
 * and simulator/cluster.py (ClusterHart: mcycle reads the issue cycle). Everything else returns
 * MCU_PYTHON and runs in the reference: unknown CSRs and writes to read-only ones (the illegal-
 * instruction trap), the trap CSRs (mtvec, mepc, mcause, mtval, mscratch, mie, mip), the performance
 * counters (PCCR, PCER, PCMR: synchronised from the timing model), and writes to the cycle and
 * instret counters. ecall, ebreak and mret stay in the reference too (docs/PERFORMANCE.md); wfi is
 * the event unit's wait for an event (eu.c), in the reference when the peripherals are (a profiled run).
 *
 * Only the cluster loop (engine.c issue_body) calls this file: mcycle is the cycle the instruction
 * issues at (c->issue_cycle), which a lone mcu_exec does not have. */
#include "mcu.h"

enum { MSTATUS_WRITABLE = 0x6088u, MSTATUS_MPP = 0x1800u };

/* The value of CSR n, or MCU_PYTHON (nothing read or written) when the reference must do it */
static inline int csr_read(const McuCore *c, uint32_t n, uint32_t *out) {
    switch (n) {
    case 0x001: *out = c->fflags; return MCU_OK;
    case 0x002: *out = c->frm; return MCU_OK;
    case 0x003: *out = c->frm << 5 | c->fflags; return MCU_OK;
    case 0x300: *out = c->mstatus | ((c->mstatus & 0x6000u) == 0x6000u ? 0x80000000u : 0u); return MCU_OK;
    case 0x301: *out = MCU_MISA; return MCU_OK;   /* hart.MISA, through ops_gen.h */
    case 0xB00: case 0xC00: *out = (uint32_t)c->issue_cycle; return MCU_OK;
    case 0xB80: case 0xC80: *out = (uint32_t)((uint64_t)c->issue_cycle >> 32); return MCU_OK;
    case 0xB02: case 0xC02: *out = (uint32_t)c->instret; return MCU_OK;
    case 0xB82: case 0xC82: *out = (uint32_t)(c->instret >> 32); return MCU_OK;
    case 0xF11: case 0xF12: case 0xF13: *out = 0; return MCU_OK;
    case 0xF14: *out = (uint32_t)c->id; return MCU_OK;
    case 0x7B0: *out = c->hwloop_start[0]; return MCU_OK;
    case 0x7B1: *out = c->hwloop_end[0]; return MCU_OK;
    case 0x7B2: *out = c->hwloop_count[0]; return MCU_OK;
    case 0x7B4: *out = c->hwloop_start[1]; return MCU_OK;
    case 0x7B5: *out = c->hwloop_end[1]; return MCU_OK;
    case 0x7B6: *out = c->hwloop_count[1]; return MCU_OK;
    default: return MCU_PYTHON;
    }
}

/* 1 if C writes CSR n (the read-only ones trap in the reference; the others C leaves to it) */
static inline int csr_writable_here(uint32_t n) {
    return n <= 0x003 ? n != 0 : n == 0x300 || (n >= 0x7B0 && n <= 0x7B6 && n != 0x7B3);
}

static inline void csr_write(McuCore *c, uint32_t n, uint32_t v) {
    switch (n) {
    case 0x001: c->fflags = v & 0x1Fu; break;
    case 0x002: c->frm = v & 7u; break;
    case 0x003: c->frm = v >> 5 & 7u; c->fflags = v & 0x1Fu; break;
    case 0x300: c->mstatus = (v & MSTATUS_WRITABLE) | MSTATUS_MPP; break;
    case 0x7B0: c->hwloop_start[0] = v; break;
    case 0x7B1: c->hwloop_end[0] = v; break;
    case 0x7B2: c->hwloop_count[0] = v; break;
    case 0x7B4: c->hwloop_start[1] = v; break;
    case 0x7B5: c->hwloop_end[1] = v; break;
    default: c->hwloop_count[1] = v; break;   /* 0x7B6 */
    }
}

/* Hart.csr_access: read, then (when `write`) store (old & ~mask) | (value & mask); x[rd] = old */
static inline int csr_op(McuCore *c, const McuInsn *d, int write, uint32_t value, uint32_t mask) {
    uint32_t n = (uint32_t)d->imm[0] & 0xFFFu, old;
    if (write && !csr_writable_here(n)) return MCU_PYTHON;
    if (csr_read(c, n, &old) != MCU_OK) return MCU_PYTHON;
    if (write) csr_write(c, n, (old & ~mask) | (value & mask));
    mcu_wx(c, d->rd, old);
    return MCU_OK;
}

static inline __attribute__((always_inline)) int sem_sys_inline(McuCore *c, McuMem *m, const McuInsn *d,
                                                                const int op) {
    uint32_t zimm = (uint32_t)d->imm[1];
    switch (op) {
    case MCU_OP_CSRRW: return csr_op(c, d, 1, c->x[d->rs1], 0xFFFFFFFFu);
    case MCU_OP_CSRRS: return csr_op(c, d, d->rs1 != 0, 0xFFFFFFFFu, c->x[d->rs1]);
    case MCU_OP_CSRRC: return csr_op(c, d, d->rs1 != 0, 0, c->x[d->rs1]);
    case MCU_OP_CSRRWI: return csr_op(c, d, 1, zimm, 0xFFFFFFFFu);
    case MCU_OP_CSRRSI: return csr_op(c, d, zimm != 0, 0xFFFFFFFFu, zimm);
    case MCU_OP_CSRRCI: return csr_op(c, d, zimm != 0, 0, zimm);
    case MCU_OP_WFI: return m->periph_in_c ? mcu_periph_wfi(c, m) : MCU_PYTHON;   /* the event unit's wait (eu.c) */
    default: return MCU_UNSUPPORTED;
    }
}

int mcu_sem_sys(McuCore *c, McuMem *m, const McuInsn *d) { return sem_sys_inline(c, m, d, d->op); }

__attribute__((visibility("default"))) int mcu_sem_sys_supports(int op) {
    return op == MCU_OP_CSRRW || op == MCU_OP_CSRRS || op == MCU_OP_CSRRC || op == MCU_OP_CSRRWI ||
           op == MCU_OP_CSRRSI || op == MCU_OP_CSRRCI || op == MCU_OP_WFI;
}
