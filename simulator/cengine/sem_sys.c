/* System semantics in C for the cluster loop: the CSR instructions (Zicsr), ecall (exit, console
 * write, the environment-call trap), ebreak and mret. The twin of isa/ext/zicsr.py and the system
 * entries of isa/ext/rv32i.py with simulator/hart.py (Hart._csr_read/_csr_write, take_trap, mret)
 * and simulator/cluster.py (ClusterHart: mcycle reads the issue cycle; the RI5CY performance counters
 * are synchronised from the timing model's counters, CoreModel.sync_perf_counters). Left to the
 * reference (MCU_PYTHON): a console write of more than the buffer or from a peripheral or unmapped
 * address (the load then traps or reaches a peripheral). wfi is the event unit's wait for an event
 * (eu.c; in the reference when the peripherals are: a profiled run).
 * docs/PERFORMANCE.md lists what the reference still runs.
 *
 * Only the cluster loop (engine.c issue_body) calls this file: mcycle is the cycle the instruction
 * issues at (c->issue_cycle), which a lone mcu_exec does not have, and the console buffer is the
 * cluster's. Traps return MCU_TRAP; engine.c enters the handler (or hands the instruction to the
 * reference, which reports the error, when the program installed none). */
#include "mcu.h"
#include "cluster.h"
#include <stddef.h>

#define MCU_UNLIKELY_SYS(x) __builtin_expect(!!(x), 0)

enum { MSTATUS_WRITABLE = 0x6088u, MSTATUS_MPP = 0x1800u };

/* CoreModel.sync_perf_counters: the enabled PCCR counters advance by what their source (cluster.py
 * _PCCR_SOURCES, in that order) did since the last synchronisation; saturating (PCMR bit 1) at 0 and
 * 2**32 - 1, else modulo 2**32. The CSR instruction's own stalls are not counted yet (pend_*). */
static void sync_perf(McuCore *c) {
    const int64_t wait = c->pend_wait;
    const int cause = c->pend_cause;
    int64_t now[16] = {
        c->issue_cycle, (int64_t)c->instret,
        c->stalls[MCU_S_LOAD_USE] + (cause == MCU_S_LOAD_USE ? wait : 0), c->stalls[MCU_S_JR],
        c->stalls[MCU_S_IMISS] + c->pend_imiss, c->events[MCU_E_LOADS], c->events[MCU_E_STORES],
        c->events[MCU_E_JUMPS], c->events[MCU_E_BRANCHES], c->events[MCU_E_TAKEN], 0,
        c->l2_loads, c->l2_stores, c->l2_load_cycles, c->l2_store_cycles,
        c->stalls[MCU_S_TCDM] + (cause == MCU_S_TCDM ? wait : 0)};
    for (int i = 0; i < 16; i++) {
        if (i == 10) continue;          /* rvc: no source */
        if ((c->pcmr & 1) && (c->pcer >> i & 1)) {
            int64_t total = (int64_t)c->pccr[i] + now[i] - c->perf_last[i];
            c->pccr[i] = (c->pcmr & 2) ? (uint32_t)(total < 0 ? 0 : total > 0xFFFFFFFFll ? 0xFFFFFFFFll : total)
                                       : (uint32_t)total;
        }
        c->perf_last[i] = now[i];
    }
}

static inline int is_perf_csr(uint32_t n) { return (n >= 0x780 && n <= 0x79F) || n == 0xCC0 || n == 0xCC1; }

/* The value of CSR n, or MCU_PYTHON (nothing read or written) when the reference must do it */
static inline int csr_read(McuCore *c, uint32_t n, uint32_t *out) {
    if (MCU_UNLIKELY_SYS(is_perf_csr(n))) {   /* ClusterHart._csr_read (pccr31 reads 0, unsynchronised) */
        if (n == 0x79F) { *out = 0; return MCU_OK; }
        sync_perf(c);
        *out = n == 0xCC0 ? c->pcer : n == 0xCC1 ? c->pcmr : c->pccr[n - 0x780];
        return MCU_OK;
    }
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
    case 0x304: *out = c->mie; return MCU_OK;
    case 0x305: *out = c->mtvec_set ? c->mtvec : 0; return MCU_OK;
    case 0x340: *out = c->mscratch; return MCU_OK;
    case 0x341: *out = c->mepc; return MCU_OK;
    case 0x342: *out = c->mcause; return MCU_OK;
    case 0x343: *out = c->mtval; return MCU_OK;
    case 0x344: *out = c->mip; return MCU_OK;
    default: return MCU_PYTHON;
    }
}

static inline void csr_write(McuCore *c, uint32_t n, uint32_t v) {
    switch (n) {
    case 0x001: c->fflags = v & 0x1Fu; break;
    case 0x002: c->frm = v & 7u; break;
    case 0x003: c->frm = v >> 5 & 7u; c->fflags = v & 0x1Fu; break;
    case 0x300: c->mstatus = (v & MSTATUS_WRITABLE) | MSTATUS_MPP; break;
    case 0x304: c->mie = v; break;
    case 0x305: c->mtvec = v & ~3u; c->mtvec_set = 1; break;
    case 0x340: c->mscratch = v; break;
    case 0x341: c->mepc = v & ~1u; break;
    case 0x342: c->mcause = v; break;
    case 0x343: c->mtval = v; break;
    case 0x344: c->mip = v; break;
    /* mcycle/mcycleh: the reference writes Hart.cycle, which the cluster never reads (mcycle reads the
     * issue cycle): nothing observable changes */
    case 0xB00: case 0xB80: break;
    case 0xB02: c->instret = (c->instret & ~(uint64_t)0xFFFFFFFFu) | v; break;
    case 0xB82: c->instret = (c->instret & 0xFFFFFFFFu) | (uint64_t)v << 32; break;
    case 0x7B0: c->hwloop_start[0] = v; break;
    case 0x7B1: c->hwloop_end[0] = v; break;
    case 0x7B2: c->hwloop_count[0] = v; break;
    case 0x7B4: c->hwloop_start[1] = v; break;
    case 0x7B5: c->hwloop_end[1] = v; break;
    case 0x7B6: c->hwloop_count[1] = v; break;
    case 0xCC0: sync_perf(c); c->pcer = v & ((1u << MCU_NPERF_EVENTS) - 1u); break;   /* a bit per event */
    case 0xCC1: sync_perf(c); c->pcmr = v & 3u; break;
    case 0x79F: sync_perf(c); for (int i = 0; i < 31; i++) c->pccr[i] = v; break;
    default: sync_perf(c); c->pccr[n - 0x780] = v; break;         /* 0x780..0x79E */
    }
}

/* Hart.csr_access: read, then (when `write`) store (old & ~mask) | (value & mask); x[rd] = old */
static inline int csr_op(McuCore *c, const McuInsn *d, int write, uint32_t value, uint32_t mask) {
    uint32_t n = (uint32_t)d->imm[0] & 0xFFFu, old;
    const int kind = mcu_csr_kind(n);     /* unknown CSRs and writes to read-only ones are illegal */
    if (kind == 0 || (write && kind == 1)) return mcu_trap(c, MCU_CAUSE_ILLEGAL, d->word);
    if (csr_read(c, n, &old) != MCU_OK) return MCU_PYTHON;
    if (write) csr_write(c, n, (old & ~mask) | (value & mask));
    mcu_wx(c, d->rd, old);
    return MCU_OK;
}

/* ecall a7 = 64, fd a0 = 1 or 2: len a2 bytes from a1 into the cluster's console buffer (Hart.console_write;
 * a0 = len). The bytes are read as the reference's byte loads would: a peripheral or unmapped byte, or
 * a write larger than the buffer, goes to the reference (nothing changed); a full buffer: MCU_FULL. */
static inline int console_write(McuCore *c, McuMem *m) {
    McuCluster *cl = (McuCluster *)((char *)m - offsetof(McuCluster, mem));   /* the cluster loop's memory */
    uint32_t addr = c->x[11], len = c->x[12], fd = c->x[10];
    const int core = (int)(c - cl->cores), group = cl->con_group[core];
    /* the same writer and fd as the previous write: one record (cores taking turns share one) */
    McuConsoleRec *rec = cl->con_nrec ? &cl->con_rec[cl->con_nrec - 1] : 0;
    const int extend = rec && rec->group == group && rec->fd == fd;
    if (len > (uint32_t)cl->con_cap) return MCU_PYTHON;
    if ((int64_t)cl->con_n + len > cl->con_cap || (!extend && cl->con_nrec >= cl->con_rec_cap)) return MCU_FULL;
    uint8_t *out = cl->con_buf + cl->con_n;
    if ((uint64_t)(addr - m->fast_base) + len <= m->fast_size) {   /* all in the fast window (mcu.h): one copy */
        memcpy(out, m->fast_data + (addr - m->fast_base), len);
    } else {
        for (uint32_t i = 0; i < len; i++) {     /* check first: nothing changes before the reference runs it */
            uint32_t a = addr + i;
            if (is_periph(m, a) || !find_region(m, a, 1)) return MCU_PYTHON;
        }
        for (uint32_t i = 0; i < len; i++) {
            uint32_t a = addr + i;
            const McuRegion *r = find_region(m, a, 1);
            out[i] = r->data[a - r->base];
        }
    }
    if (len) {                               /* the reference's last access: the last byte loaded */
        c->acc_addr = addr + len - 1; c->acc_size = 1; c->acc_store = 0; c->acc_valid = 1;
    }
    if (extend) rec->len += len;
    else {
        rec = &cl->con_rec[cl->con_nrec++];
        rec->len = len;
        rec->core = (uint8_t)core;
        rec->fd = (uint8_t)fd;
        rec->group = (uint8_t)group;
    }
    cl->con_n += (int32_t)len;
    mcu_wx(c, 10, len);
    return MCU_OK;
}

/* ecall (isa/ext/rv32i.py): a7 = 93 exit(a0); a7 = 64 write to fd 1 or 2; otherwise the trap */
static inline int ecall(McuCore *c, McuMem *m) {
    if (c->x[17] == 93) { c->exit_code = (int32_t)c->x[10]; c->exit_tohost = 0; return MCU_EXIT; }
    if (c->x[17] == 64 && (c->x[10] == 1 || c->x[10] == 2)) return console_write(c, m);
    return mcu_trap(c, MCU_CAUSE_ECALL_M, 0);
}

/* mret (Hart.mret): pc = mepc; MIE = MPIE; MPIE = 1 */
static inline int mret(McuCore *c) {
    uint32_t mpie = c->mstatus >> 7 & 1u;
    c->mstatus = (c->mstatus & ~0x8u) | mpie << 3 | 0x80u;
    c->next_pc = c->mepc;
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
    case MCU_OP_ECALL: return ecall(c, m);
    case MCU_OP_EBREAK: return mcu_trap(c, MCU_CAUSE_BREAKPOINT, c->pc);
    case MCU_OP_MRET: return mret(c);
    default: return MCU_UNSUPPORTED;
    }
}

int mcu_sem_sys(McuCore *c, McuMem *m, const McuInsn *d) { return sem_sys_inline(c, m, d, d->op); }

__attribute__((visibility("default"))) int mcu_sem_sys_supports(int op) {
    return op == MCU_OP_CSRRW || op == MCU_OP_CSRRS || op == MCU_OP_CSRRC || op == MCU_OP_CSRRWI ||
           op == MCU_OP_CSRRSI || op == MCU_OP_CSRRCI || op == MCU_OP_ECALL || op == MCU_OP_EBREAK ||
           op == MCU_OP_MRET || op == MCU_OP_WFI;
}
