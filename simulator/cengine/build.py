"""cffi (API mode) build of the compiled engine, run by `pip install` through setup.py's
cffi_modules. Generates ops_gen.h from the instruction table first, so C and Python agree on ids."""
from __future__ import annotations

import os
import re
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from mcusim.simulator.cengine.opgen import ops_header  # noqa: E402  (needs ROOT on sys.path)

SOURCES = ["engine.c", "ieee754.c", "fp_fast_check.c"]   # engine.c includes sem_int.c, sem_fp.c and sem_sys.c

CDEF = """
typedef struct {
    uint16_t op; uint8_t rd, rs1, rs2, rs3, rm, valid; int32_t imm[3]; uint32_t word;
    uint8_t cls, sem, nreads, nwrites; uint8_t reads[4], writes[3]; int8_t last_x; uint8_t size;
} McuInsn;
typedef struct { uint32_t base, size; uint8_t *data; } McuRegion;
typedef struct McuMem {
    McuRegion regions[8]; int32_t nregions, last_region;
    uint32_t periph_base, periph_size, alias_base;
    uint32_t tohost; int32_t has_tohost;
    uint32_t code_base, code_halves; McuInsn *code;
    int32_t periph_in_c;
    uint8_t *fast_data; uint32_t fast_base, fast_size;
} McuMem;
typedef struct McuCore {
    uint32_t x[32], f[32]; uint32_t pc, next_pc; uint32_t frm, fflags, mstatus;
    uint32_t hwloop_start[2], hwloop_end[2], hwloop_count[2];
    uint64_t instret; int32_t taken; int32_t misaligned_traps; int32_t id;
    uint32_t acc_addr, acc_size; int32_t acc_store, acc_valid;
    uint32_t trap_cause, trap_tval;
    int64_t issue_cycle;
    int32_t state; int32_t prev_dest, fpu;
    int64_t reg_ready[64]; int32_t reg_cause[64];
    int64_t stalls[17]; int64_t events[9];
    int64_t l2_loads, l2_stores, l2_load_cycles, l2_store_cycles;
    uint32_t mtvec, mepc, mcause, mtval, mscratch, mie, mip; int32_t mtvec_set; int32_t exit_code; int32_t exit_tohost;
    uint32_t pccr[31], pcer, pcmr; int64_t perf_last[31]; int64_t pend_imiss, pend_wait; int32_t pend_cause;
    int64_t sleep_start; int32_t sleep_cause, waiting, waiting_arg;
} McuCore;

typedef struct { int64_t start, end, base_word; } McuDma;
typedef struct {
    int64_t cycle; uint32_t pc, word, acc_addr, acc_size; uint32_t vals[3]; int8_t regs[3];
    uint8_t core, acc_valid, acc_store;
} McuTraceRec;
typedef struct { uint32_t len; uint8_t core, fd, group; } McuConsoleRec;
typedef struct {
    int64_t cycle; uint64_t instret; int64_t stalls[17], events[9]; int32_t core, id, begin;
} McuRegionMark;
typedef struct {
    uint32_t team, arrived, events, dispatched; int32_t joiner; uint32_t fork_set;
    uint32_t fork_entry[9], fork_arg[9]; uint32_t dma_set[9]; uint32_t dma_regs[9][6];
    int32_t mutex_owner, mutex_waiting; int32_t mutex_queue[9];
    uint32_t region_open[9][6]; McuRegionMark *marks; int32_t marks_n, marks_cap, mark_pending;
    int32_t acted; int32_t ncores, workers, controller_mode, barrier_wakeup, event_wakeup;
} McuEventUnit;
typedef struct McuCluster {
    McuCore cores[9];
    int64_t ready[9];
    McuMem mem;
    int64_t now, horizon, max_cycles;
    int64_t bank_free[64];
    int64_t fpu_free[10];
    int32_t banks;
    uint32_t tcdm_base, tcdm_end;
    int32_t load_use_stall, branch_taken, branch_not_taken, jal, jalr, jalr_dep, mul, mulh;
    int32_t div_base, div_by_zero, misaligned_extra, l2_latency;
    int32_t fp_latency[5];
    int32_t fp_block[4];
    int32_t ndma, dma_words_per_cycle;
    McuDma dma[16];
    int32_t exit_core, resume_pending, resume_index;
    int64_t exit_cycle;
    int32_t profile;
    uint32_t prof_halves;
    int64_t prof_pc[9], prof_t[9];
    int64_t prof_snap[9][17];
    int64_t *prof[9];
    int32_t icache_on, l0_shift, l1_shift, l0_lines, l1_sets, l1_ways, icache_hit, icache_refill;
    int64_t *l0, *l1_tag, *l1_ready;
    int32_t *l1_next;
    int32_t icache_stream_after;
    int64_t *fetch_stream;
    int64_t dma_lo, dma_hi;
    int32_t trace; uint32_t trace_cores; int64_t trace_lo, trace_hi; int32_t trace_n, trace_cap;
    McuTraceRec *trace_buf;
    uint8_t *con_buf; int32_t con_n, con_cap, con_nrec, con_rec_cap; McuConsoleRec *con_rec; uint8_t con_group[9];
    McuEventUnit eu;
} McuCluster;
int mcu_run(McuCluster *cl, int64_t horizon);

int mcu_exec(McuCore *c, McuMem *m, const McuInsn *d);
void mcu_advance(McuCore *c, uint32_t pc, uint32_t size);
int mcu_supported(int op);
int mcu_sem_int_supports(int op);
int mcu_sem_fp_supports(int op);
int mcu_sem_sys_supports(int op);
int mcu_num_ops(void);

"""


def header_declarations(name: str) -> str:
    """A header's declarations for cffi's cdef (comments and preprocessor lines removed), so the C
    interface of ieee754.h is written once."""
    text = open(os.path.join(HERE, name)).read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def write_generated_header() -> None:
    path = os.path.join(HERE, "ops_gen.h")
    text = ops_header()
    if not os.path.exists(path) or open(path).read() != text:
        with open(path, "w") as fh:
            fh.write(text)


write_generated_header()
ffibuilder = FFI()
ffibuilder.cdef(CDEF + header_declarations("ieee754.h"))
ffibuilder.set_source(
    "mcusim.simulator._mcusim_c", '#include "mcu.h"\n#include "cluster.h"\n',
    sources=[os.path.relpath(os.path.join(HERE, s), ROOT) for s in SOURCES],
    include_dirs=[os.path.relpath(HERE, ROOT)],
    extra_compile_args=["-O3", "-g0", "-std=c11", "-ffp-contract=off", "-fvisibility=hidden", "-Wall", "-Wno-unused-function"],
)

if __name__ == "__main__":
    # Developer rebuild in place (what `pip install -e .` does, faster): python simulator/cengine/build.py
    import fcntl
    import glob
    import shutil
    os.chdir(ROOT)
    with open(os.path.join(HERE, ".build.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)          # helpers may rebuild concurrently
        built = ffibuilder.compile(tmpdir=".", verbose=False)   # writes mcusim/simulator/_mcusim_c.*
        target = os.path.join(ROOT, "simulator", "_mcusim_c.abi3.so")
        shutil.copyfile(built, target + ".tmp")
        os.replace(target + ".tmp", target)
        shutil.rmtree(os.path.join(ROOT, "mcusim", "simulator"))
        for stale in glob.glob(os.path.join(ROOT, "simulator", "_mcusim_c.cpython-*.so")) + \
                glob.glob(os.path.join(HERE, "*.o")):
            os.remove(stale)
