/* The compiled engine's cluster state: the twin of simulator/cluster.py's Cluster (timing). */
#ifndef MCU_CLUSTER_H
#define MCU_CLUSTER_H

#include "mcu.h"

#define MCU_NCORES 9
#define MCU_MAX_BANKS 64
#define MCU_MAX_DMA 16
#define MCU_NEVER ((int64_t)1 << 62)
/* profile counters per pre-decoded halfword and core: count, cycles, then cycles per stall cause */
#define MCU_PROF_W (2 + MCU_NSTALLS)

/* timing classes (McuInsn.cls; the order of isa/timing.py TIMING_CLASSES, see binding.TIMING_IDS) */
enum { MCU_T_ALU, MCU_T_LOAD, MCU_T_STORE, MCU_T_BRANCH, MCU_T_JAL, MCU_T_JALR, MCU_T_MUL, MCU_T_MULH,
       MCU_T_DIV, MCU_T_CSR, MCU_T_SYSTEM, MCU_T_FENCE, MCU_T_HWLOOP, MCU_T_FADD, MCU_T_FMUL, MCU_T_FMA,
       MCU_T_FCONV, MCU_T_FNONCOMP, MCU_T_FDIV32, MCU_T_FSQRT32, MCU_T_FDIV16, MCU_T_FSQRT16 };

/* stall causes, in simulator.cluster.STALL_CAUSES order */
enum { MCU_S_LOAD_USE, MCU_S_JR, MCU_S_BRANCH, MCU_S_JUMP, MCU_S_MULH, MCU_S_DIV, MCU_S_FDIV,
       MCU_S_MISALIGNED, MCU_S_TCDM, MCU_S_L2, MCU_S_FPU_CONT, MCU_S_FPU_LAT, MCU_S_BARRIER, MCU_S_SLEEP,
       MCU_S_TRAP, MCU_S_IMISS, MCU_S_DMA_BANK };
/* events, in simulator.cluster.EVENTS order */
enum { MCU_E_LOADS, MCU_E_STORES, MCU_E_BRANCHES, MCU_E_TAKEN, MCU_E_JUMPS, MCU_E_TCDM, MCU_E_L2, MCU_E_FPU, MCU_E_FPU_VEC };

/* run results (MCU_RUN_TRACE: the trace or the console buffer is full; Python empties them and resumes
 * the loop at the core that did not issue; MCU_RUN_EXIT: core exit_core ended with ecall exit at
 * exit_cycle, Python does the end-of-core accounting and resumes at the next core) */
enum { MCU_RUN_HORIZON = 0, MCU_RUN_PYTHON = 1, MCU_RUN_MAX_CYCLES = 2, MCU_RUN_HANG = 3, MCU_RUN_TRACE = 4,
       MCU_RUN_EXIT = 5 };
/* an issue's result (engine.c issue_body) beside 0 (done in C), 1 (to the reference), 3 (hang), 4 (a
 * full buffer) and 6 (ecall exit): done in C by the event unit (eu.c), which may have changed other
 * cores' ready cycles or which cores are runnable (woken, started or put to sleep a core): run_impl
 * rebuilds its schedule and finishes the cycle's pass */
#define MCU_ISSUE_RESCHEDULE 5

/* Console writes (ecall a7 = 64) the C loop buffered, in issue order: len bytes of McuCluster.con_buf
 * for fd, written by core index `core` and, after it, by cores of the same console group (cores whose
 * Hart.console is one writer: McuCluster.con_group) */
typedef struct {
    uint32_t len;
    uint8_t core, fd, group;
} McuConsoleRec;

/* One executed instruction for --trace (Cluster._trace_line formats it): its issue cycle, core index,
 * pc and word, the values of the registers it wrote (regs: scoreboard indices as McuInsn.writes,
 * f registers + 32; -1 none) and its memory access. */
typedef struct {
    int64_t cycle;
    uint32_t pc, word, acc_addr, acc_size;
    uint32_t vals[3];
    int8_t regs[3];
    uint8_t core, acc_valid, acc_store;
} McuTraceRec;

typedef struct {
    int64_t start, end, base_word;
} McuDma;

/* what an asleep core waits for (McuCore.waiting; engine.WAITING: CoreModel.waiting_for's text;
 * MCU_W_OTHER: a text only the reference sets, kept on the Python side) */
enum { MCU_W_NONE, MCU_W_BARRIER, MCU_W_EVENT, MCU_W_DISPATCH, MCU_W_JOIN, MCU_W_MUTEX, MCU_W_OTHER };
/* core states (McuCore.state; CoreModel.state) */
enum { MCU_OFF, MCU_RUN, MCU_SLEEP, MCU_DONE };
#define MCU_DMA_NREGS 6   /* DMA_SRC .. DMA_ROWS, a word each from offset 0 */

/* A numbered region marker (a store to REGION_BEGIN / REGION_END + 4 id) of a worker that eu.c logged
 * for the reference (Cluster._replay_region_marks): the core's counters as Cluster._region_mark and
 * the region hooks see them at the marker (issue cycle, instret and events before it retires, stalls
 * with its operand waits) */
typedef struct {
    int64_t cycle;
    uint64_t instret;
    int64_t stalls[MCU_NSTALLS], events[MCU_NEVENTS];
    int32_t core, id, begin;
} McuRegionMark;
#define MCU_REGION_WORDS ((MCU_REGION_IDS + 31) / 32)

/* The event unit's state and the DMA's register file (simulator/peripherals.py EventUnit and
 * Dma.regs): the one copy while the compiled engine runs; the reference reads and writes it through
 * EventUnit/Dma too. Masks have a bit per core id, arrays an entry per core id. eu.c does the
 * common operations; `acted` tells issue_body that one slept, woke or started a core. */
typedef struct {
    uint32_t team, arrived, events, dispatched;
    int32_t joiner;                          /* core index waiting in join, -1: none */
    uint32_t fork_set;                       /* ids that wrote EU_FORK_ENTRY */
    uint32_t fork_entry[MCU_NCORES], fork_arg[MCU_NCORES];
    uint32_t dma_set[MCU_NCORES];            /* DMA registers written, a bit per register */
    uint32_t dma_regs[MCU_NCORES][MCU_DMA_NREGS];
    int32_t mutex_owner, mutex_waiting;      /* holder's id (-1: free); cores queued for it, */
    int32_t mutex_queue[MCU_NCORES];         /* by index, first come first served */
    /* region markers: the numbered regions open per core index (as Cluster's regions_open; the
     * reference updates them for the markers it handles) and the log of those eu.c handled
     * (marks_n of marks_cap; 0 capacity: none logged), the last one's stalls still to take */
    uint32_t region_open[MCU_NCORES][MCU_REGION_WORDS];
    McuRegionMark *marks;
    int32_t marks_n, marks_cap, mark_pending;
    int32_t acted;
    /* configuration: cores in use (indices 0..ncores-1: workers, then the controller) */
    int32_t ncores, workers, controller_mode, barrier_wakeup, event_wakeup;
} McuEventUnit;

typedef struct McuCluster {
    McuCore cores[MCU_NCORES];
    int64_t ready[MCU_NCORES];      /* next issue cycle per core (MCU_NEVER: asleep, off or done) */
    McuMem mem;
    int64_t now, horizon, max_cycles;
    int64_t bank_free[MCU_MAX_BANKS];
    int64_t fpu_free[MCU_NCORES + 1];
    int32_t banks;
    uint32_t tcdm_base, tcdm_end;
    /* configuration */
    int32_t load_use_stall, branch_taken, branch_not_taken, jal, jalr, jalr_dep, mul, mulh;
    int32_t div_base, div_by_zero, misaligned_extra, l2_latency;
    int32_t fp_latency[5];   /* fadd fmul fma fconv fnoncomp */
    int32_t fp_block[4];     /* fdiv32 fsqrt32 fdiv16 fsqrt16 */
    /* DMA transfers holding TCDM bank slots */
    int32_t ndma, dma_words_per_cycle;
    McuDma dma[MCU_MAX_DMA];
    /* exit to Python: which core at which cycle, and where to resume in that cycle's rotation */
    int32_t exit_core, resume_pending, resume_index;
    int64_t exit_cycle;
    /* per-instruction profile (simulator/cluster.py Cluster._profile_step; off when profile is 0).
     * Per core: the instruction being timed (prof_pc, -1 none; it may lie outside the table, then
     * the reference closes it) since the cycle it could issue (prof_t), the core's stall counters
     * then (prof_snap), and MCU_PROF_W counters per halfword of [mem.code_base, + 2 * prof_halves). */
    int32_t profile;
    uint32_t prof_halves;
    int64_t prof_pc[MCU_NCORES], prof_t[MCU_NCORES];
    int64_t prof_snap[MCU_NCORES][MCU_NSTALLS];
    int64_t *prof[MCU_NCORES];
    /* instruction fetch (simulator/ifetch.py; icache_on 0: ideal). Per core its direct-mapped L0
     * (l0: l0_lines line numbers per core, -1 empty); the shared L1:
     * l1_tag and l1_ready (cycle the line is usable) per set x way, l1_next (FIFO victim) per set;
     * icache_stream_after and fetch_stream (3 per core): the sequential prefetch (ifetch_miss) */
    int32_t icache_on, l0_shift, l1_shift, l0_lines, l1_sets, l1_ways, icache_hit, icache_refill;
    int64_t *l0, *l1_tag, *l1_ready;
    int32_t *l1_next;
    int32_t icache_stream_after;
    int64_t *fetch_stream;
    /* C's own cache, recomputed by mcu_run on entry (the reference may change the DMA transfers
     * between two calls): dma_lo/dma_hi, the cycles [lo, hi) in which some transfer of dma[] holds TCDM
     * banks (an access outside skips dma_first_free_slot; whatever changes dma[] in C calls dma_window) */
    int64_t dma_lo, dma_hi;
    /* --trace (off when trace is 0): records of the instructions C executes, of the cores in
     * trace_cores (a bit per core index) issued in [trace_lo, trace_hi); trace_n of trace_cap used */
    int32_t trace;
    uint32_t trace_cores;
    int64_t trace_lo, trace_hi;
    int32_t trace_n, trace_cap;
    McuTraceRec *trace_buf;
    /* the console (ecall write): con_n bytes of con_buf (con_cap) in con_nrec records (of con_rec_cap);
     * Python writes them out after every mcu_run (CEngine.flush_console) */
    uint8_t *con_buf;
    int32_t con_n, con_cap, con_nrec, con_rec_cap;
    McuConsoleRec *con_rec;
    uint8_t con_group[MCU_NCORES];
    McuEventUnit eu;
} McuCluster;

int mcu_run(McuCluster *cl, int64_t horizon);

#endif
