/* mcusim.h: the cluster as mcusim models it, for C programs built with `mcusim cc`.
 *
 * Every function is one or a few instructions: the event unit and the DMA are reached through the
 * core-local alias of the peripherals (`lw/sw reg, OFFSET-2048(x0)`), the counters through CSRs.
 * Register offsets and the instruction functions (`__vfmac_h`, `__p_mac`, `__pv_dotsp_h`...) come
 * from mcusim_gen.h, generated from simulator/memory_map.py and the isa/ table.
 */
#ifndef MCUSIM_H
#define MCUSIM_H

#include <stddef.h>
#include <stdint.h>

#include "mcusim_gen.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MCUSIM_CONTROLLER 8          /* core id of the cluster controller */
#define MCUSIM_INLINE static inline __attribute__((always_inline))

/* placement: L1 (TCDM) data; everything else is in L2 */
#define MCUSIM_L1 __attribute__((section(".tcdm")))

#define _MCUSIM_LOAD(off) ({ int32_t _v; __asm__ volatile ("lw %0, %1(x0)" : "=r"(_v) : "i"(MCUSIM_ALIAS(off)) : "memory"); _v; })
#define _MCUSIM_STORE(off, val) __asm__ volatile ("sw %0, %1(x0)" : : "r"(val), "i"(MCUSIM_ALIAS(off)) : "memory")
#define _MCUSIM_TOUCH(off) __asm__ volatile ("lw x0, %0(x0)" : : "i"(MCUSIM_ALIAS(off)) : "memory")

/* --- cores --------------------------------------------------------------------------------------- */
/* this core's id: 0..7 workers, 8 the cluster controller */
MCUSIM_INLINE int mcusim_core_id(void) {
    int id;
    __asm__ volatile ("csrr %0, mhartid" : "=r"(id));
    return id;
}
/* number of worker cores of the cluster (8 by default) */
MCUSIM_INLINE int mcusim_num_workers(void) { return _MCUSIM_LOAD(MCUSIM_EU_NUM_WORKERS); }
/* bit mask of the cores in the current team (the started cores in SPMD mode, the forked ones after a fork) */
MCUSIM_INLINE uint32_t mcusim_team_mask(void) { return (uint32_t)_MCUSIM_LOAD(MCUSIM_EU_BARRIER_TEAM); }
/* number of cores in the current team */
int mcusim_nb_cores(void);

/* --- synchronisation ------------------------------------------------------------------------------ */
/* wait until every core of the team has arrived */
MCUSIM_INLINE void mcusim_barrier(void) { _MCUSIM_TOUCH(MCUSIM_EU_BARRIER); }
/* the event unit's one mutex */
MCUSIM_INLINE void mcusim_mutex_lock(void) { _MCUSIM_TOUCH(MCUSIM_EU_MUTEX); }
MCUSIM_INLINE void mcusim_mutex_unlock(void) { _MCUSIM_STORE(MCUSIM_EU_MUTEX, 0); }
/* sleep until another core sends this core an event (consumes it) */
MCUSIM_INLINE void mcusim_wait_event(void) { _MCUSIM_TOUCH(MCUSIM_EU_WAIT_EVENT); }
/* send an event to the cores in the bit mask */
MCUSIM_INLINE void mcusim_send_event(uint32_t mask) { _MCUSIM_STORE(MCUSIM_EU_SEND_EVENT, mask); }
/* controller: run entry(arg) on the workers in the mask (each on its own SDK stack), then mcusim_join() */
void mcusim_fork(uint32_t mask, void (*entry)(void *), void *arg);
/* controller: wait until the forked workers have returned */
MCUSIM_INLINE void mcusim_join(void) { _MCUSIM_TOUCH(MCUSIM_EU_JOIN); }

/* --- DMA (L2 <-> TCDM; transfers queue in order on one engine) ------------------------------------ */
/* copy len bytes from src to dst; returns the transfer's id */
MCUSIM_INLINE uint32_t mcusim_dma_1d(void *dst, const void *src, uint32_t len) {
    _MCUSIM_STORE(MCUSIM_DMA_SRC, src);
    _MCUSIM_STORE(MCUSIM_DMA_DST, dst);
    _MCUSIM_STORE(MCUSIM_DMA_LEN, len);
    _MCUSIM_STORE(MCUSIM_DMA_ROWS, 1);
    _MCUSIM_STORE(MCUSIM_DMA_START, 0);
    return (uint32_t)_MCUSIM_LOAD(MCUSIM_DMA_START);
}
/* copy rows x len bytes; row r goes from src + r*src_stride to dst + r*dst_stride */
MCUSIM_INLINE uint32_t mcusim_dma_2d(void *dst, const void *src, uint32_t len, uint32_t src_stride,
                                     uint32_t dst_stride, uint32_t rows) {
    _MCUSIM_STORE(MCUSIM_DMA_SRC, src);
    _MCUSIM_STORE(MCUSIM_DMA_DST, dst);
    _MCUSIM_STORE(MCUSIM_DMA_LEN, len);
    _MCUSIM_STORE(MCUSIM_DMA_SRC_STRIDE, src_stride);
    _MCUSIM_STORE(MCUSIM_DMA_DST_STRIDE, dst_stride);
    _MCUSIM_STORE(MCUSIM_DMA_ROWS, rows);
    _MCUSIM_STORE(MCUSIM_DMA_START, 0);
    return (uint32_t)_MCUSIM_LOAD(MCUSIM_DMA_START);
}
/* sleep until every transfer this core queued is complete */
MCUSIM_INLINE void mcusim_dma_wait(void) { _MCUSIM_TOUCH(MCUSIM_DMA_WAIT); }
/* sleep until this core's transfers up to id `id` (as returned by mcusim_dma_1d/2d) are complete */
MCUSIM_INLINE void mcusim_dma_wait_id(uint32_t id) {
    _MCUSIM_STORE(MCUSIM_DMA_WAIT_ID, id);
    _MCUSIM_TOUCH(MCUSIM_DMA_WAIT);
}
/* number of this core's transfers not yet complete */
MCUSIM_INLINE uint32_t mcusim_dma_busy(void) { return (uint32_t)_MCUSIM_LOAD(MCUSIM_DMA_BUSY); }

/* --- regions: named spans of cycles in mcusim's report (a string literal names them) --------------- */
MCUSIM_INLINE void mcusim_region_begin(const char *name) { _MCUSIM_STORE(MCUSIM_REGION_NAME_BEGIN, name); }
MCUSIM_INLINE void mcusim_region_end(const char *name) { _MCUSIM_STORE(MCUSIM_REGION_NAME_END, name); }

/* --- counters ------------------------------------------------------------------------------------- */
MCUSIM_INLINE uint32_t mcusim_mcycle(void) {
    uint32_t v;
    __asm__ volatile ("csrr %0, mcycle" : "=r"(v));
    return v;
}
MCUSIM_INLINE uint32_t mcusim_minstret(void) {
    uint32_t v;
    __asm__ volatile ("csrr %0, minstret" : "=r"(v));
    return v;
}
/* RI5CY performance counters: PCER (0xCC0) enables events, PCMR (0xCC1) bit 0 starts counting,
 * PCCR0..15 (0x780+i) hold the counts (isa/csrs.py PERF_EVENTS gives the index of each event). */
#define MCUSIM_PCCR_CYCLES 0
#define MCUSIM_PCCR_INSTR 1
#define MCUSIM_PCCR_LD_STALL 2
#define MCUSIM_PCCR_JR_STALL 3
#define MCUSIM_PCCR_IMISS 4
#define MCUSIM_PCCR_LD 5
#define MCUSIM_PCCR_ST 6
#define MCUSIM_PCCR_JUMP 7
#define MCUSIM_PCCR_BRANCH 8
#define MCUSIM_PCCR_BTAKEN 9
#define MCUSIM_PCCR_RVC 10
#define MCUSIM_PCCR_LD_EXT 11
#define MCUSIM_PCCR_ST_EXT 12
#define MCUSIM_PCCR_LD_EXT_CYC 13
#define MCUSIM_PCCR_ST_EXT_CYC 14
#define MCUSIM_PCCR_TCDM_CONT 15
MCUSIM_INLINE void mcusim_perf_enable(uint32_t pcer_mask) { __asm__ volatile ("csrw 0xCC0, %0" : : "r"(pcer_mask)); }
MCUSIM_INLINE void mcusim_perf_start(void) { __asm__ volatile ("csrwi 0xCC1, 1"); }
MCUSIM_INLINE void mcusim_perf_stop(void) { __asm__ volatile ("csrwi 0xCC1, 0"); }
MCUSIM_INLINE void mcusim_perf_reset(void) { __asm__ volatile ("csrw 0x79F, x0"); }
/* PCCR counter `index` (0..15); the CSR number must be a constant, hence the switch */
uint32_t mcusim_perf_read(int index);

/* --- console and exit ----------------------------------------------------------------------------- */
/* write len bytes to fd 1 or 2 (ecall a7 = 64); returns len */
int mcusim_write(int fd, const void *buf, size_t len);
/* end this core with an exit code (ecall a7 = 93) */
void mcusim_exit(int code) __attribute__((noreturn));

#ifdef __cplusplus
}
#endif
#endif
