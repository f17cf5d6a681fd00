/* The compiled engine: single-instruction execution and (engine loop) the cluster's cycle-by-cycle
 * timing, the twin of simulator/cluster.py.
 *
 * The semantic files are compiled as part of this file (not as separate objects) so that their
 * dispatch switches inline into the issue loop: a call per simulated instruction saved. */
#include "mcu.h"
#include "sem_int.c"
#include "sem_fp.c"
#include "sem_sys.c"

#define MCU_EXPORT __attribute__((visibility("default")))
#define MCU_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define MCU_LIKELY(x) __builtin_expect(!!(x), 1)

static inline int exec_insn(McuCore *c, McuMem *m, const McuInsn *d) {
    c->next_pc = c->pc + d->size;
    c->acc_valid = 0;
    c->taken = 0;
    int st = mcu_sem_int(c, m, d);
    if (st == MCU_UNSUPPORTED) st = mcu_sem_fp(c, m, d);
    return st;
}

MCU_EXPORT int mcu_exec(McuCore *c, McuMem *m, const McuInsn *d) { return exec_insn(c, m, d); }

/* Retire the instruction at pc (size bytes): control flow and hardware-loop back-edges (Hart.advance). */
static inline void advance(McuCore *c, uint32_t pc, uint32_t size) {
    uint32_t npc = c->next_pc;
    if (npc == pc + size) {
        if (pc == c->hwloop_end[0] && c->hwloop_count[0]) {
            c->hwloop_count[0]--;
            if (c->hwloop_count[0]) npc = c->hwloop_start[0];
            else if (pc == c->hwloop_end[1] && c->hwloop_count[1]) {
                c->hwloop_count[1]--;
                if (c->hwloop_count[1]) npc = c->hwloop_start[1];
            }
        } else if (pc == c->hwloop_end[1] && c->hwloop_count[1]) {
            c->hwloop_count[1]--;
            if (c->hwloop_count[1]) npc = c->hwloop_start[1];
        }
    }
    c->pc = npc;
    c->instret++;
}

MCU_EXPORT void mcu_advance(McuCore *c, uint32_t pc, uint32_t size) { advance(c, pc, size); }

MCU_EXPORT int mcu_supported(int op) { return mcu_sem_int_supports(op) || mcu_sem_fp_supports(op); }
MCU_EXPORT int mcu_num_ops(void) { return MCU_NUM_OPS; }

/* ------------------------------------------------------------------------------------------------ */
/* The cluster loop: the twin of simulator/cluster.py (Cluster._advance_cores and Cluster.issue).   */
/* ------------------------------------------------------------------------------------------------ */
#include "cluster.h"
#include "eu.c"

static inline int64_t dma_first_free_slot(const McuCluster *cl, int bank, int64_t cycle) {
    if (!cl->ndma) return cycle;
    int wpc = cl->dma_words_per_cycle, banks = cl->banks;
    int span = wpc < banks ? wpc : banks;
    int moved = 1;
    while (moved) {
        moved = 0;
        for (int i = 0; i < cl->ndma; i++) {
            const McuDma *t = &cl->dma[i];
            if (t->base_word < 0 || cycle < t->start || cycle >= t->end) continue;
            int64_t first = t->base_word + (cycle - t->start) * wpc;
            int64_t diff = ((int64_t)bank - first) % banks;
            if (diff < 0) diff += banks;
            if (diff < span) { cycle++; moved = 1; }
        }
    }
    return cycle;
}

/* The cycles [dma_lo, dma_hi) in which a transfer of dma[] may hold TCDM banks (cluster.h). */
static void dma_window(McuCluster *cl) {
    int64_t lo = MCU_NEVER, hi = 0;
    for (int i = 0; i < cl->ndma; i++) {
        const McuDma *t = &cl->dma[i];
        if (t->base_word < 0 || t->end <= t->start) continue;
        if (t->start < lo) lo = t->start;
        if (t->end > hi) hi = t->end;
    }
    cl->dma_lo = lo;
    cl->dma_hi = hi;
}

/* Book `bank` for core c at the first cycle >= grant the cores and the DMA leave it free (Cluster._bank_grant) */
static inline __attribute__((always_inline)) int64_t bank_grant(McuCluster *cl, McuCore *c, int bank, int64_t grant) {
    const int64_t free_at = cl->bank_free[bank];
    grant = free_at > grant ? free_at : grant;      /* a conditional move: under conflicts it is unpredictable */
    /* cycles the DMA held the bank: dma_bank, not core contention; outside [dma_lo, dma_hi) no transfer
     * holds a bank, so dma_first_free_slot would return grant unchanged */
    if (MCU_UNLIKELY(grant >= cl->dma_lo) && grant < cl->dma_hi) {
        int64_t held = dma_first_free_slot(cl, bank, grant);
        c->stalls[MCU_S_DMA_BANK] += held - grant;
        c->stalls[MCU_S_TCDM] -= held - grant;
        grant = held;
    }
    cl->bank_free[bank] = grant + 1;
    c->events[MCU_E_TCDM]++;
    return grant;
}

/* Cycle at which the access completes (Cluster._memory_cost). */
static inline __attribute__((always_inline)) int64_t memory_cost(McuCluster *cl, McuCore *c, int64_t start) {
    uint32_t addr = c->acc_addr, size = c->acc_size;
    c->events[c->acc_store ? MCU_E_STORES : MCU_E_LOADS]++;
    if (addr - cl->tcdm_base < cl->tcdm_end - cl->tcdm_base) {
        const uint32_t bank_mask = (uint32_t)(cl->banks - 1), w0 = (addr - cl->tcdm_base) >> 2;
        if (MCU_LIKELY((addr & 3) + size <= 4)) {     /* one word, one bank */
            int64_t grant = bank_grant(cl, c, (int)(w0 & bank_mask), start);
            c->stalls[MCU_S_TCDM] += grant - start;   /* >= 0; no branch (unpredictable under conflicts) */
            return grant + 1;
        }
        /* a misaligned access across two words (Cluster._split_access_cost) */
        int64_t grant = bank_grant(cl, c, (int)(w0 & bank_mask), start);
        grant = bank_grant(cl, c, (int)((w0 + 1) & bank_mask), grant + 1);
        int64_t end = grant + 1, extra = cl->misaligned_extra;
        c->stalls[MCU_S_MISALIGNED] += extra;
        if (start + 1 + extra > end) end = start + 1 + extra;
        int64_t contention = end - (start + 1) - extra;
        if (contention > 0) c->stalls[MCU_S_TCDM] += contention;
        return end;
    }
    /* a peripheral register eu.c served: one cycle */
    if (MCU_UNLIKELY(is_periph(&cl->mem, addr))) return start + 1;
    /* L2 and other memories */
    int64_t latency = cl->l2_latency;
    c->events[MCU_E_L2]++;
    c->stalls[MCU_S_L2] += latency - 1;
    if (c->acc_store) { c->l2_stores++; c->l2_store_cycles += latency; }
    else { c->l2_loads++; c->l2_load_cycles += latency; }
    return start + latency;
}

static inline int divide_cycles(uint32_t divisor, int is_signed, int base, int by_zero) {
    if (!divisor) return by_zero;
    if (is_signed && (divisor >> 31)) divisor = (uint32_t)(-(int64_t)(int32_t)divisor);
    return __builtin_clz(divisor) + base;
}

/* Instruction fetch: the cycle an L1 I-cache request for l1_line made at cycle t is served (hit_latency
 * after, or when its refill lands); a miss takes `miss` cycles and, if commit, puts the line in the L1
 * (simulator/ifetch.py InstrFetch._l1). */
static inline int64_t ifetch_l1(McuCluster *cl, int64_t l1_line, int64_t t, int64_t miss, int commit) {
    int s = (int)(l1_line & (cl->l1_sets - 1)), base = s * cl->l1_ways;
    for (int w = base; w < base + cl->l1_ways; w++) {
        if (cl->l1_tag[w] == l1_line) {
            int64_t ready = cl->l1_ready[w];
            return ready > t + cl->icache_hit ? ready : t + cl->icache_hit;
        }
    }
    if (commit) {
        int victim = base + cl->l1_next[s];
        cl->l1_next[s] = (cl->l1_next[s] + 1) % cl->l1_ways;
        cl->l1_tag[victim] = l1_line;
        cl->l1_ready[victim] = t + miss;
    }
    return t + miss;
}

/* Instruction fetch, the miss path (simulator/ifetch.py InstrFetch.fetch): stall cycles of core `index`
 * fetching pc at cycle t when pc's line is not in its L0. `commit` 0 only computes (the issue may
 * still hand the instruction to the reference), 1 also updates the L0, L1 and stream state.
 * fetch_stream per core: the last L0 line missed, the run of consecutive line misses ending with it,
 * the cycle the prefetched next line arrives. */
static __attribute__((noinline)) int64_t ifetch_miss(McuCluster *cl, int index, uint32_t pc, int64_t t,
                                                     int commit) {
    int64_t line = pc >> cl->l0_shift;
    int64_t *st = &cl->fetch_stream[(int64_t)index * 3];
    const int64_t run = line == st[0] + 1 ? st[1] + 1 : 0, after = cl->icache_stream_after;
    const int64_t ready = after >= 0 && run > after ? st[2]
        : ifetch_l1(cl, pc >> cl->l1_shift, t, cl->icache_refill, commit);
    const int64_t arrival = ready > t ? ready : t;
    if (commit) {
        cl->l0[(int64_t)index * cl->l0_lines + (line & (cl->l0_lines - 1))] = line;
        st[0] = line;
        st[1] = run;
        if (after >= 0 && run >= after)     /* prefetch the next line */
            st[2] = ifetch_l1(cl, ((line + 1) << cl->l0_shift) >> cl->l1_shift, arrival, cl->icache_hit, 1);
    }
    return arrival - t;
}

/* Profile: the instruction timed since prof_t gets the cycles up to t and the stalls since its
 * issue; the instruction at word_index (its halfword's index in the code table) starts being timed
 * (Cluster._profile_step). */
static inline void profile_step(McuCluster *cl, McuCore *c, int index, uint32_t pc, uint32_t word_index,
                                int64_t t) {
    int64_t *snap = cl->prof_snap[index], *tab = cl->prof[index];
    int64_t prev = cl->prof_pc[index];
    if (prev >= 0) {
        int64_t *e = tab + (size_t)(((uint32_t)prev - cl->mem.code_base) >> 1) * MCU_PROF_W;
        e[1] += t - cl->prof_t[index];
        for (int s = 0; s < MCU_NSTALLS; s++) e[2 + s] += c->stalls[s] - snap[s];
    }
    for (int s = 0; s < MCU_NSTALLS; s++) snap[s] = c->stalls[s];
    tab[(size_t)word_index * MCU_PROF_W]++;
    cl->prof_pc[index] = pc;
    cl->prof_t[index] = t;
}

/* --trace: record the instruction core `index` just executed (Cluster._trace_line's content) */
static inline void trace_record(McuCluster *cl, const McuCore *c, const McuInsn *d, int index, uint32_t pc) {
    if (!(cl->trace_cores >> index & 1u) || c->issue_cycle < cl->trace_lo || c->issue_cycle >= cl->trace_hi)
        return;
    McuTraceRec *r = &cl->trace_buf[cl->trace_n++];
    r->cycle = c->issue_cycle;
    r->pc = pc;
    r->word = d->word;
    r->core = (uint8_t)index;
    for (int k = 0; k < 3; k++) {
        int w = k < d->nwrites ? d->writes[k] & 0x7F : -1;
        r->regs[k] = (int8_t)w;
        r->vals[k] = w < 0 ? 0 : w < 32 ? c->x[w] : c->f[w - 32];
    }
    r->acc_valid = (uint8_t)c->acc_valid;
    r->acc_store = (uint8_t)c->acc_store;
    r->acc_addr = c->acc_addr;
    r->acc_size = c->acc_size;
}

/* The retire of an instruction whose event-unit access changed its own core's state (Cluster.issue):
 * asleep, it sleeps from its end on; woken by itself (the last core at a barrier), it runs again at
 * the later of the wake-up and its end. */
static __attribute__((noinline)) void eu_retire(McuCluster *cl, McuCore *c, int index, int64_t t, int64_t end) {
    cl->eu.acted = 0;
    if (cl->eu.mark_pending) {     /* a logged region marker: its stalls include its operand waits */
        memcpy(cl->eu.marks[cl->eu.marks_n++].stalls, c->stalls, sizeof c->stalls);
        cl->eu.mark_pending = 0;
    }
    if (cl->ready[index] <= t) cl->ready[index] = end;
    else if (c->state == MCU_SLEEP) { if (end > c->sleep_start) c->sleep_start = end; }
    else if (end > cl->ready[index]) cl->ready[index] = end;
}

/* An issue outside the pre-decoded code (or of an instruction without C semantics): a worker's return
 * to the dispatcher is the event unit's (eu.c), the rest the reference's (1). */
static __attribute__((noinline)) int issue_outside(McuCluster *cl, int index, uint32_t pc, int64_t t) {
    if (pc == MCU_DISPATCH_RETURN && cl->mem.periph_in_c && cl->cores[index].id != MCU_CONTROLLER_ID)
        return eu_task_returned(cl, index, t);
    return 1;
}

/* 1 if the profile table has an entry for pc */
static inline int profiled(const McuCluster *cl, int64_t pc) {
    return !(pc & 1) && pc >= cl->mem.code_base && ((pc - cl->mem.code_base) >> 1) < cl->prof_halves;
}

/* Enter the trap handler at mtvec (Hart.take_trap with Cluster._trap's timing): the trapping instruction
 * (at pc, issued at `cycle`) does not retire; entering costs like a jump. Only with a handler installed. */
static void enter_trap(McuCluster *cl, McuCore *c, int index, uint32_t pc, int64_t cycle) {
    c->mepc = pc;
    c->mcause = c->trap_cause;
    c->mtval = c->trap_tval;
    uint32_t mie = c->mstatus >> 3 & 1u;
    c->mstatus = (c->mstatus & ~0x88u) | mie << 7 | 0x1800u;
    c->pc = c->mtvec & ~3u;
    c->stalls[MCU_S_TRAP] += cl->jal;
    cl->ready[index] = cycle + cl->jal;
    c->issue_cycle = cycle;
}

/* What issue_body does when the semantics did not return MCU_OK (out of line: rare). `st`: their status;
 * the rest is issue_body's state before its bookkeeping. A trap with a handler installed enters it, an
 * ecall exit ends the core (6: Python does the end-of-core accounting), a full console buffer returns 4
 * (nothing issued); everything else goes to the reference (1: a trap without a handler, which the
 * reference reports, a peripheral access, an op without C semantics). */
static __attribute__((noinline)) int issue_special(McuCluster *cl, McuCore *c, const McuInsn *d, int index,
                                                   uint32_t pc, uint32_t word_index, int64_t t, int st,
                                                   int64_t start, int64_t fetched, int cause, int jr,
                                                   int fetch_miss, int prof) {
    if (st == MCU_FULL) return 4;
    if (!(st == MCU_EXIT || (st == MCU_TRAP && c->mtvec_set))) return 1;
    /* the reference counts fetch and operand stalls before it executes (Cluster.issue) */
    if (prof && cl->profile) profile_step(cl, c, index, pc, word_index, t);
    if (fetch_miss) {
        ifetch_miss(cl, index, pc, t, 1);
        c->stalls[MCU_S_IMISS] += fetched - t;
    }
    if (cause >= 0) c->stalls[cause] += start - fetched;
    c->stalls[MCU_S_JR] += jr;
    start += jr;
    if (st == MCU_TRAP) {
        if (c->trap_cause == MCU_CAUSE_ILLEGAL) c->trap_tval = d->word;   /* Hart.enter_trap */
        enter_trap(cl, c, index, pc, start);
        return 0;
    }
    /* ecall exit or a store to tohost: the instruction retires, the core stops (Cluster.issue's
     * ProgramExit, without the cost of the store; Python sets the core's state and does the rest,
     * Cluster._end_core) */
    c->instret++;
    c->issue_cycle = start;
    cl->ready[index] = MCU_NEVER;
    if (prof && cl->trace) trace_record(cl, c, d, index, pc);
    return 6;
}

/* An undecodable word (McuInsn sem 4) with a handler installed: the illegal-instruction trap at fetch,
 * at cycle t, before any fetch or operand timing (Cluster._fetch); without a handler the reference
 * reports it (1). */
static __attribute__((noinline)) int issue_illegal(McuCluster *cl, McuCore *c, const McuInsn *d, int index,
                                                   uint32_t pc, uint32_t word_index, int64_t t, int prof) {
    if (!c->mtvec_set) return 1;
    if (prof && cl->profile) profile_step(cl, c, index, pc, word_index, t);
    c->trap_cause = MCU_CAUSE_ILLEGAL;
    c->trap_tval = d->word;
    enter_trap(cl, c, index, pc, t);
    return 0;
}

/* Issue the instruction d at pc of core c (cl->cores[index]) at cycle >= t. Returns 0 when done in C,
 * 1 when the Python reference must execute it (nothing has been changed then), 3 on a jump-to-self
 * hang (issue_impl: 4 when the trace buffer is full, nothing issued), 5 when done in C by the event
 * unit (eu.c), which may have woken or started cores (the run loop updates its runnable set), 4 also
 * when the console buffer is full (nothing issued), 6 when the core exited (ecall exit). `prof`, `op` and `op_cls` are
 * constants: the compiler makes an instrumented copy (profile and/or trace, as cl says), so a plain
 * run pays nothing, and plain copies: one per op of MCU_SPECIALISED_OPS (op, op_cls: that op
 * and its timing class) and a generic one (op = op_cls = -1: both read from d). */
static inline __attribute__((always_inline)) int issue_body(McuCluster *cl, McuCore *c, const McuInsn *d,
                                                           int index, uint32_t pc, uint32_t word_index,
                                                           int64_t t, const int prof, const int op,
                                                           const int op_cls) {
    McuMem *m = &cl->mem;
    const int cls = op_cls >= 0 ? op_cls : d->cls, opcode = op >= 0 ? op : d->op;
    /* 1. fetch (when modelled: an L0 hit is one compare with the line's L0 slot; a test of the core's
     * last line first mispredicted at every line change; icache_on is the same for the whole run, and
     * l0 is NULL without it), then wait for source operands */
    const int64_t fetch_line = pc >> cl->l0_shift;
    const int fetch_miss = cl->icache_on &&
        cl->l0[(int64_t)index * cl->l0_lines + (fetch_line & (cl->l0_lines - 1))] != fetch_line;
    const int64_t fetched = fetch_miss ? t + ifetch_miss(cl, index, pc, t, 0) : t;
    int64_t start = fetched;
    int cause = -1;
    for (int k = 0; k < d->nreads; k++) {
        int r = d->reads[k];
        if (c->reg_ready[r] > start) { start = c->reg_ready[r]; cause = c->reg_cause[r]; }
    }
    int jr = (cls == MCU_T_JALR && d->rs1 && (int32_t)d->rs1 == c->prev_dest) ? cl->jalr_dep : 0;
    uint32_t divisor = cls == MCU_T_DIV ? c->x[d->rs2] : 0;
    c->issue_cycle = start + jr;
    if (cls == MCU_T_CSR) {      /* what a performance-counter read must see (folds away for other ops) */
        c->pend_imiss = fetched - t;
        c->pend_wait = start - fetched;
        c->pend_cause = cause;
    }
    /* 2. execute */
    /* the table knows which semantics file implements the op; the plain loop inlines its switch */
    c->next_pc = pc + d->size;
    c->acc_valid = 0;
    c->taken = 0;
    int st;
    if (prof) st = d->sem == 1 ? mcu_sem_int(c, m, d) : d->sem == 2 ? mcu_sem_fp(c, m, d) : mcu_sem_sys(c, m, d);
    else if (op < 0)
        st = d->sem == 1 ? sem_int_inline(c, m, d, opcode)
             : d->sem == 2 ? sem_fp_inline(c, m, d, opcode) : sem_sys_inline(c, m, d, opcode);
    else {                                 /* all but one fold to MCU_UNSUPPORTED */
        st = sem_int_inline(c, m, d, op);
        if (st == MCU_UNSUPPORTED) st = sem_fp_inline(c, m, d, op);
        if (st == MCU_UNSUPPORTED) st = sem_sys_inline(c, m, d, op);
    }
    if (MCU_UNLIKELY(st != MCU_OK))      /* traps, exits, peripheral accesses the reference does */
        return issue_special(cl, c, d, index, pc, word_index, t, st, start, fetched, cause, jr, fetch_miss, prof);
    if (prof && cl->profile) profile_step(cl, c, index, pc, word_index, t);   /* before this instruction's stalls */
    if (MCU_UNLIKELY(fetch_miss)) {
        ifetch_miss(cl, index, pc, t, 1);
        c->stalls[MCU_S_IMISS] += fetched - t;
    }
    if (cause >= 0) c->stalls[cause] += start - fetched;
    if (jr) {                              /* rare: no memory update on the common path */
        c->stalls[MCU_S_JR] += jr;
        start += jr;
    }
    /* 3. cost */
    int64_t end = start + 1, dest_ready = 0;
    int dest_cause = MCU_S_LOAD_USE;
    switch (cls) {
        case MCU_T_LOAD: case MCU_T_STORE:
            if (c->acc_valid) {
                end = memory_cost(cl, c, start);
                if (cls == MCU_T_LOAD) dest_ready = end + cl->load_use_stall;
            }
            break;
        case MCU_T_BRANCH:
            c->events[MCU_E_BRANCHES]++;
            if (c->taken) {
                c->events[MCU_E_TAKEN]++;
                c->stalls[MCU_S_BRANCH] += cl->branch_taken - 1;
                end = start + cl->branch_taken;
            } else {
                c->stalls[MCU_S_BRANCH] += cl->branch_not_taken - 1;
                end = start + cl->branch_not_taken;
            }
            break;
        case MCU_T_JAL: case MCU_T_JALR: {
            c->events[MCU_E_JUMPS]++;
            int cost = cls == MCU_T_JAL ? cl->jal : cl->jalr;
            c->stalls[MCU_S_JUMP] += cost - 1;
            end = start + cost;
            break;
        }
        case MCU_T_MUL:
            end = start + cl->mul;
            c->stalls[MCU_S_MULH] += cl->mul - 1;
            break;
        case MCU_T_MULH:
            end = start + cl->mulh;
            c->stalls[MCU_S_MULH] += cl->mulh - 1;
            break;
        case MCU_T_DIV: {
            int signed_op = opcode == MCU_OP_DIV || opcode == MCU_OP_REM;
            int cost = divide_cycles(divisor, signed_op, cl->div_base, cl->div_by_zero);
            end = start + cost;
            c->stalls[MCU_S_DIV] += cost - 1;
            break;
        }
        case MCU_T_FADD: case MCU_T_FMUL: case MCU_T_FMA: case MCU_T_FCONV: case MCU_T_FNONCOMP:
        case MCU_T_FDIV32: case MCU_T_FSQRT32: case MCU_T_FDIV16: case MCU_T_FSQRT16: {
            c->events[MCU_E_FPU]++;
            c->events[MCU_E_FPU_VEC] += MCU_VECTOR_FP[opcode];
            int k = c->fpu;
            int64_t grant = start > cl->fpu_free[k] ? start : cl->fpu_free[k];
            if (grant > start) c->stalls[MCU_S_FPU_CONT] += grant - start;
            if (cls >= MCU_T_FDIV32) {
                int busy = cl->fp_block[cls - MCU_T_FDIV32];
                cl->fpu_free[k] = grant + busy;
                end = grant + busy;
                c->stalls[MCU_S_FDIV] += busy - 1;
            } else {
                cl->fpu_free[k] = grant + 1;
                end = grant + 1;
                int latency = cl->fp_latency[cls - MCU_T_FADD];
                if (latency) { dest_ready = end + latency; dest_cause = MCU_S_FPU_LAT; }
            }
            break;
        }
        default:
            break;
    }
    /* 4. register results and retire */
    for (int k = 0; k < d->nwrites; k++) {
        int w = d->writes[k], r = w & 0x7F;
        if (dest_ready && !((w & 0x80) && cls == MCU_T_LOAD)) {
            c->reg_ready[r] = dest_ready;
            c->reg_cause[r] = dest_cause;
        } else if (c->reg_ready[r] > end) {
            c->reg_ready[r] = 0;
        }
    }
    c->prev_dest = d->last_x;
    advance(c, pc, d->size);
    if (MCU_UNLIKELY(c->pc == pc && (cls == MCU_T_JAL || cls == MCU_T_BRANCH))) { c->issue_cycle = start; return 3; }
    /* (only a peripheral access or wfi can have slept, woken or started a core: the test folds away
     * elsewhere) */
    const int acted = (cls == MCU_T_LOAD || cls == MCU_T_STORE || cls == MCU_T_SYSTEM) && MCU_UNLIKELY(cl->eu.acted);
    if (!acted) cl->ready[index] = end;
    else eu_retire(cl, c, index, t, end);
    if (prof && cl->trace) trace_record(cl, c, d, index, pc);
    return acted ? MCU_ISSUE_RESCHEDULE : 0;
}

/* The plain issue path, one function per op of MCU_SPECIALISED_OPS (opgen.SPECIALISED_ISSUE) and a
 * generic one for every other op, called through a table indexed by op: each function's branches
 * are predicted for its op alone, and its semantic and cost switches fold to one case. */
typedef int (*issue_fn)(McuCluster *, McuCore *, const McuInsn *, int, int64_t);
/* (five arguments, all in registers: the pc is the core's; the code-table index is the profile's only,
 * and the profile runs issue_prof) */
static __attribute__((noinline)) int issue_generic(McuCluster *cl, McuCore *c, const McuInsn *d, int index, int64_t t) {
    return issue_body(cl, c, d, index, c->pc, 0, t, 0, -1, -1);
}
#define MCU_ISSUE_FN(OP, CLS)                                                                           \
    static __attribute__((noinline)) int issue_##OP(McuCluster *cl, McuCore *c, const McuInsn *d, int index, \
                                                    int64_t t) {                                        \
        return issue_body(cl, c, d, index, c->pc, 0, t, 0, OP, CLS);                                    \
    }
MCU_SPECIALISED_OPS(MCU_ISSUE_FN)
#undef MCU_ISSUE_FN
static __attribute__((noinline)) int issue_illegal_plain(McuCluster *cl, McuCore *c, const McuInsn *d, int index,
                                                         int64_t t) {
    return issue_illegal(cl, c, d, index, c->pc, 0, t, 0);
}
/* a pair of ops sharing one function (opgen.PAIRED_ISSUE: a load and a store that cores interleave) */
#define MCU_PAIR_FN(A, CLS_A, B, CLS_B)                                                                 \
    static __attribute__((noinline)) int issue_pair_##A(McuCluster *cl, McuCore *c, const McuInsn *d,     \
                                                        int index, int64_t t) {                          \
        if (d->op == A) return issue_body(cl, c, d, index, c->pc, 0, t, 0, A, CLS_A);                    \
        return issue_body(cl, c, d, index, c->pc, 0, t, 0, B, CLS_B);                                   \
    }
MCU_PAIRED_OPS(MCU_PAIR_FN)
#undef MCU_PAIR_FN
#define MCU_ISSUE_ENTRY(OP, CLS) [OP] = issue_##OP,
#define MCU_PAIR_ENTRY(A, CLS_A, B, CLS_B) [A] = issue_pair_##A, [B] = issue_pair_##A,
static const issue_fn ISSUE_BY_OP[MCU_NUM_OPS + 1] = {
    [0 ... MCU_NUM_OPS] = issue_generic,   /* GCC range initialiser; the entries below override it */
    MCU_SPECIALISED_OPS(MCU_ISSUE_ENTRY)
    MCU_PAIRED_OPS(MCU_PAIR_ENTRY)
    [MCU_OP_INVALID] = issue_illegal_plain,
};
#undef MCU_ISSUE_ENTRY
#undef MCU_PAIR_ENTRY

/* Issue the next instruction of core `index` at cycle >= t (results as issue_body). */
static inline __attribute__((always_inline)) int issue_impl(McuCluster *cl, int index, int64_t t,
                                                           const int prof) {
    McuCore *c = &cl->cores[index];
    const McuMem *m = &cl->mem;
    uint32_t pc = c->pc;
    /* outside the pre-decoded code, invalidated, without C semantics, or the dispatch-return address
     * (never pre-decoded): the reference executes it */
    /* the code table has an entry per halfword; one compare: code_base is a multiple of 4, so an odd pc
     * rotates its low bit to bit 31 and a pc below code_base wraps, both beyond code_halves */
    const uint32_t off = pc - m->code_base, word_index = (off >> 1) | (off << 31);
    if (MCU_UNLIKELY(word_index >= m->code_halves)) return issue_outside(cl, index, pc, t);
    const McuInsn *d = &m->code[word_index];
    if (MCU_UNLIKELY(!d->sem)) return issue_outside(cl, index, pc, t);
    if (!prof) return ISSUE_BY_OP[d->op](cl, c, d, index, t);
    /* the reference keeps the counters of instructions outside the table */
    if (cl->profile && (word_index >= cl->prof_halves || (cl->prof_pc[index] >= 0 && !profiled(cl, cl->prof_pc[index]))))
        return 1;
    if (MCU_UNLIKELY(d->op == MCU_OP_INVALID)) return issue_illegal(cl, c, d, index, pc, word_index, t, 1);
    if (cl->trace && cl->trace_n >= cl->trace_cap) return 4;   /* full: Python empties it first */
    return issue_body(cl, c, d, index, pc, word_index, t, 1, -1, -1);
}

static int issue_prof(McuCluster *cl, int index, int64_t t) { return issue_impl(cl, index, t, 1); }

/* The run result of an issue that stopped the loop (issue_body's results but 0 and 5) */
static inline int run_status(int st) {
    return st == 3 ? MCU_RUN_HANG : st == 4 ? MCU_RUN_TRACE : st == 6 ? MCU_RUN_EXIT : MCU_RUN_PYTHON;
}

/* Run core `only`, the one runnable core, from cycle *t until the horizon or the cycle limit (*t: where
 * it stopped) or until an issue returns non-zero (returned; *t: that issue's cycle). Its own function
 * (measured faster than the same loop inside run_impl: it keeps its registers to itself). */
static inline __attribute__((always_inline)) int run_one_core(McuCluster *cl, int only, int64_t *t_io,
                                                             const int prof) {
    int64_t t = *t_io, horizon = cl->horizon;
    int st = 0;
    while (t < horizon && t < cl->max_cycles) {
        cl->now = t;
        st = prof ? issue_prof(cl, only, t) : issue_impl(cl, only, t, 0);
        if (MCU_UNLIKELY(st)) break;
        t = cl->ready[only];
    }
    *t_io = t;
    return st;
}

static __attribute__((noinline)) int run_one_core_plain(McuCluster *cl, int only, int64_t *t) {
    return run_one_core(cl, only, t, 0);
}
static __attribute__((noinline)) int run_one_core_prof(McuCluster *cl, int only, int64_t *t) {
    return run_one_core(cl, only, t, 1);
}

/* The cores' ready cycles, kept incrementally for run_impl (a timing wheel): a pass at cycle t finds
 * the cores due at t in one slot and the next cycle with a bit scan, so a cycle costs the same whether
 * one core issues in it or eight (before: every pass compared all nine cores' ready cycles twice and
 * rebuilt the runnable set, about 20 ns a cycle with one core issuing under bank conflicts).
 * Invariant, for the pass cycle lo: every runnable core (ready < MCU_NEVER) is either in
 * slot[ready % 64] with lo <= ready < lo + 64, or in `far` (ready beyond that window, or, should the
 * reference ever move a core back in time, before it); far_min is the earliest `far` ready cycle. */
#define MCU_WHEEL 64
typedef struct {
    uint16_t slot[MCU_WHEEL];   /* a bit per core index */
    uint64_t occ;               /* bit s: slot s is not empty */
    uint32_t far;
    int64_t far_min;
} McuWheel;

static inline __attribute__((always_inline)) void wheel_put(McuWheel *w, int64_t lo, int index, int64_t r) {
    if (MCU_LIKELY((uint64_t)(r - lo) < MCU_WHEEL)) {
        w->slot[r & (MCU_WHEEL - 1)] |= (uint16_t)(1u << index);
        w->occ |= 1ull << (r & (MCU_WHEEL - 1));
    } else {
        w->far |= 1u << index;
        if (r < w->far_min) w->far_min = r;
    }
}

/* every runnable core of the mask, from its ready cycle, for the pass cycle lo */
static __attribute__((noinline)) void wheel_build(McuWheel *w, int64_t lo, const int64_t *ready, uint32_t runnable) {
    memset(w->slot, 0, sizeof w->slot);
    w->occ = 0;
    w->far = 0;
    w->far_min = MCU_NEVER;
    for (uint32_t m = runnable; m; m &= m - 1u) wheel_put(w, lo, __builtin_ctz(m), ready[__builtin_ctz(m)]);
}

/* a 9-bit core mask rotated so that bit j is core (first + j) mod 9, and back */
static inline uint32_t rot9(uint32_t m, int first) { return ((m >> first) | (m << (MCU_NCORES - first))) & 0x1FFu; }
static inline uint32_t unrot9(uint32_t m, int first) { return ((m << first) | (m >> (MCU_NCORES - first))) & 0x1FFu; }

/* Issue core `index`, at position j of cycle t's round-robin order (-1: work it out, only if needed), for
 * run_impl: 0 when done in C (the pass goes on), -1 when the event unit rescheduled (*first_i: where
 * the rest of the pass at t resumes; run_impl rebuilds its schedule), else the run result to return
 * (the exit's core, cycle and resume position recorded: after this core, or at it when a full buffer
 * kept it from issuing). */
static inline __attribute__((always_inline)) int issue_in_pass(McuCluster *cl, int index, int j, int64_t t,
                                                              int *first_i, const int prof) {
    int st = prof ? issue_prof(cl, index, t) : issue_impl(cl, index, t, 0);
    if (MCU_LIKELY(!st)) return 0;
    if (j < 0) j = (index - (int)(t % MCU_NCORES) + MCU_NCORES) % MCU_NCORES;
    if (st == MCU_ISSUE_RESCHEDULE) { *first_i = j + 1; return -1; }
    cl->exit_core = index;
    cl->exit_cycle = t;
    cl->resume_index = j - (st == 4);
    return run_status(st);
}

/* The round-robin order's first core at cycle t (t mod 9), without a division when cycles follow each
 * other (*first_t: the cycle *first belongs to) */
static inline void rotation_start(int64_t t, int *first, int64_t *first_t) {
    if (t == *first_t + 1) *first = *first + 1 == MCU_NCORES ? 0 : *first + 1;
    else *first = (int)(t % MCU_NCORES);
    *first_t = t;
}

/* the earliest ready cycle of the cores in mask (MCU_NEVER: none) */
static inline int64_t earliest_ready(const int64_t *ready, uint32_t mask) {
    int64_t t = MCU_NEVER;
    for (; mask; mask &= mask - 1u) {
        const int64_t r = ready[__builtin_ctz(mask)];
        t = r < t ? r : t;
    }
    return t;
}

/* Advance the cores cycle by cycle until `horizon` (exclusive) or until a core needs the Python
 * reference (Cluster._advance_cores). Within a cycle, cores are visited in an order that rotates
 * every cycle (round-robin priority); an exit remembers where to resume in that order.
 * Only the reference (between two calls) and an issue returning MCU_ISSUE_RESCHEDULE (an event-unit
 * operation done in C, eu.c: it may have woken, started or put to sleep cores) change which cores are
 * runnable or another core's ready cycle: both rebuild the wheel, and cores woken at t still issue in
 * this pass if they come later in its order (as in the reference, which tests c.ready == t as it
 * visits each core), else in a new pass at t; otherwise an issue changes only its own core's ready
 * cycle, to a later one (or ends the core: an exit to Python), and puts the core back in the wheel. */
_Static_assert(MCU_NCORES == 9, "run_impl's masks and rotations are written for 9 cores");
_Static_assert(MCU_NCORES <= 16, "McuWheel slots are 16-bit masks");
static inline __attribute__((always_inline)) int run_impl(McuCluster *cl, int64_t horizon, const int prof) {
    cl->horizon = horizon;
    const int n = MCU_NCORES;
    int64_t *ready = cl->ready;
    int64_t t;
    int first_i = 0;           /* the pass at t visits rotation positions >= first_i only */
    if (cl->resume_pending) {  /* finish the exit's cycle in round-robin order first */
        t = cl->exit_cycle;
        first_i = cl->resume_index + 1;
        cl->resume_pending = 0;
    } else {
        t = earliest_ready(ready, (1u << n) - 1u);
    }
    McuWheel w;
    uint32_t runnable;
    int single;
    int64_t first_t = -2;   /* the cycle `first` belongs to: none yet (cycles start at 0, so t == first_t + 1
                             * cannot hold before the first pass; -1 made cycle 0 look like a successor) */
    int first = 0;
rebuild:
    runnable = 0;
    for (int i = 0; i < n; i++) runnable |= (uint32_t)(ready[i] < MCU_NEVER) << i;
    single = runnable && !(runnable & (runnable - 1u));
    wheel_build(&w, t, ready, runnable);
    for (;;) {
        /* now stays at the last issue cycle, as in the reference (a deadlock is reported at it) */
        if (t >= horizon) return MCU_RUN_HORIZON;
        if (t >= cl->max_cycles) { cl->now = t; return MCU_RUN_MAX_CYCLES; }
        if (single && !first_i) {
            /* one runnable core: no arbitration order to keep; only an exit or a reschedule can wake another */
            const int only = __builtin_ctz(runnable);
            t = ready[only];       /* (after a reschedule t is still the pass's cycle) */
            int st = prof ? run_one_core_prof(cl, only, &t) : run_one_core_plain(cl, only, &t);
            if (MCU_UNLIKELY(st)) {
                if (st == MCU_ISSUE_RESCHEDULE) goto rebuild;   /* a new pass at t over every core */
                cl->exit_core = only;
                cl->exit_cycle = t;
                /* resume after this core, or (a full trace buffer: it did not issue) at it */
                cl->resume_index = (only - (int)(t % n) + n) % n - (st == 4);
                return run_status(st);
            }
            continue;
        }
        cl->now = t;
        const int k = (int)(t & (MCU_WHEEL - 1));
        const uint32_t due = w.slot[k];
        if (MCU_LIKELY(!first_i) && due && !(due & (due - 1u))) {
            /* one core due at t (under bank conflicts or long stalls, most cycles): no order to keep,
             * no rotation, and no loop whose trip count changes from cycle to cycle */
            const int index = __builtin_ctz(due);
            w.slot[k] = 0;
            w.occ &= ~(1ull << k);
            const int st = issue_in_pass(cl, index, -1, t, &first_i, prof);
            if (MCU_UNLIKELY(st)) { if (st < 0) goto rebuild; return st; }
            wheel_put(&w, t, index, ready[index]);
            goto next_cycle;
        }
        rotation_start(t, &first, &first_t);
        /* the cores due at t, as a mask rotated so that bit j is core (first + j) mod n: the issue loop
         * visits only them, in round-robin order, with no branch per core */
        uint32_t rot = rot9(due, first);
        if (MCU_UNLIKELY(first_i)) {    /* the positions before first_i wait for another pass at t */
            uint32_t left = rot & ((1u << first_i) - 1u);
            rot &= ~0u << first_i;
            first_i = 0;
            w.slot[k] = (uint16_t)unrot9(left, first);
            if (!left) w.occ &= ~(1ull << k);
        } else {
            w.slot[k] = 0;
            w.occ &= ~(1ull << k);
        }
        while (rot) {
            int j = __builtin_ctz(rot);
            rot &= rot - 1u;
            int index = first + j < n ? first + j : first + j - n;
            const int st = issue_in_pass(cl, index, j, t, &first_i, prof);
            if (MCU_UNLIKELY(st)) { if (st < 0) goto rebuild; return st; }   /* rebuild: the rest of this pass */
            wheel_put(&w, t, index, ready[index]);
        }
    next_cycle:;
        /* the next cycle: the first occupied slot from t on, or a `far` core's */
        int64_t next = w.occ ? t + __builtin_ctzll((w.occ >> k) | (w.occ << ((MCU_WHEEL - k) & (MCU_WHEEL - 1))))
                             : MCU_NEVER;
        if (MCU_UNLIKELY(w.far) && w.far_min - next < MCU_WHEEL) {
            /* a far core enters the window of the next pass (or comes before it): rebuild around it */
            t = w.far_min < next ? w.far_min : next;
            wheel_build(&w, t, ready, runnable);
            continue;
        }
        t = next;
        if (w.occ == 1ull << (t & (MCU_WHEEL - 1)) && w.slot[t & (MCU_WHEEL - 1)] == runnable && !w.far) {
            /* Lockstep: every runnable core is due at t and no other cycle is booked. While each issue
             * leaves its core ready for the next cycle (code without stalls on 2..9 cores), a pass is
             * the round-robin visit of `runnable` alone, with no wheel to update: the pass's fixed cost
             * was most of a 2-core cycle's. Any other outcome rebuilds the wheel. */
            w.slot[t & (MCU_WHEEL - 1)] = 0;
            w.occ = 0;
            for (;;) {
                if (t >= horizon || t >= cl->max_cycles) break;      /* the loop's top returns */
                cl->now = t;
                rotation_start(t, &first, &first_t);
                uint32_t rot = rot9(runnable, first);
                int all_next = 1;
                while (rot) {
                    int j = __builtin_ctz(rot);
                    rot &= rot - 1u;
                    int index = first + j < n ? first + j : first + j - n;
                    const int st = issue_in_pass(cl, index, j, t, &first_i, prof);
                    if (MCU_UNLIKELY(st)) { if (st < 0) goto rebuild; return st; }
                    all_next &= ready[index] == t + 1;
                }
                if (!all_next) {                     /* every core issued at t: the next pass is later */
                    t = earliest_ready(ready, runnable);
                    break;
                }
                t++;
            }
            wheel_build(&w, t, ready, runnable);
        }
    }
}


static __attribute__((noinline)) int run_plain(McuCluster *cl, int64_t horizon) { return run_impl(cl, horizon, 0); }
static __attribute__((noinline)) int run_prof(McuCluster *cl, int64_t horizon) { return run_impl(cl, horizon, 1); }

/* The fast window of m (McuMem.fast_*): the region holding `preferred` (the TCDM) if none of its bytes is
 * a peripheral register, code (an instruction starting 2 bytes before it may cover its first
 * halfword) or tohost, so that mcu_load and mcu_store may skip those checks there; else none. */
static void mcu_fast_window(McuMem *m, uint32_t preferred) {
    m->fast_data = 0;
    m->fast_base = m->fast_size = 0;
    for (int i = 0; i < m->nregions; i++) {
        const McuRegion *r = &m->regions[i];
        if (!region_has(r, preferred, 1) || r->size < 4) continue;
        const uint64_t lo = r->base, hi = (uint64_t)r->base + r->size;
        if (lo < (uint64_t)m->periph_base + m->periph_size && hi > m->periph_base) return;
        if (hi > m->alias_base) return;
        if (in_code(m, r->base, (int)r->size)) return;
        if (m->has_tohost && m->tohost + 4ull > lo && m->tohost < hi) return;
        m->fast_data = r->data;
        m->fast_base = r->base;
        m->fast_size = r->size;
        return;
    }
}

MCU_EXPORT int mcu_run(McuCluster *cl, int64_t horizon) {
    dma_window(cl);
    mcu_fast_window(&cl->mem, cl->tcdm_base);
    return cl->profile || cl->trace ? run_prof(cl, horizon) : run_plain(cl, horizon);
}
