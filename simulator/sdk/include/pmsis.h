/* pmsis.h: the subset of the PULP-SDK PMSIS cluster API that PULP programs and PULP-TrainLib use,
 * with PMSIS's names, types and signatures (from the public PMSIS API headers), implemented on mcusim.
 *
 * What differs from a PULP chip (see docs/C_SDK.md):
 * - mcusim models no fabric controller. `main` runs on the cluster controller (core 8); the
 *   fabric-side offload sequence (pi_cluster_open, pi_cluster_send_task_to_cl, ...) runs the task
 *   right there, on core 8, and returns when it has finished.
 * - pi_cl_team_fork(n, entry, arg) called by the controller runs entry(arg) on workers 0..n-1 and
 *   waits for them (the controller does not take part); called by a worker in SPMD mode
 *   (`mcusim run --cores N`, every core already in main) the workers 0..n-1 call entry(arg) and every
 *   started core meets at a barrier.
 * - mcusim's DMA is one engine that completes transfers in queue order; pi_cl_dma_cmd_wait waits
 *   for the given transfer (and the older ones of the calling core), pi_cl_dma_flush for all.
 */
#ifndef PMSIS_H
#define PMSIS_H

#include <stddef.h>
#include <stdint.h>

#include "mcusim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- placement ------------------------------------------------------------------------------------ */
#define PI_L1 __attribute__((section(".tcdm")))
#define PI_CL_L1 PI_L1
#define PI_L2 __attribute__((section(".l2_data")))
#define PI_FC_L1 PI_L2
#define PI_INLINE static inline __attribute__((always_inline))

/* --- team ----------------------------------------------------------------------------------------- */
PI_INLINE int pi_core_id(void) { return mcusim_core_id(); }
PI_INLINE int pi_cluster_id(void) { return 0; }
PI_INLINE int pi_is_fc(void) { return 0; }
PI_INLINE int pi_cl_cluster_nb_cores(void) { return mcusim_num_workers(); }
int pi_cl_team_nb_cores(void);
void pi_cl_team_fork(int nb_cores, void (*entry)(void *), void *arg);
PI_INLINE void pi_cl_team_barrier(void) { mcusim_barrier(); }
PI_INLINE void pi_cl_team_critical_enter(void) { mcusim_mutex_lock(); }
PI_INLINE void pi_cl_team_critical_exit(void) { mcusim_mutex_unlock(); }

/* --- DMA ------------------------------------------------------------------------------------------ */
typedef enum {
    PI_CL_DMA_DIR_LOC2EXT = 0,   /* cluster memory (TCDM) -> external memory (L2) */
    PI_CL_DMA_DIR_EXT2LOC = 1    /* external memory (L2) -> cluster memory (TCDM) */
} pi_cl_dma_dir_e;

typedef struct pi_cl_dma_cmd_s {
    uint32_t id;
    struct pi_cl_dma_cmd_s *next;
} pi_cl_dma_cmd_t;

typedef struct pi_cl_dma_copy_s {
    uint32_t id;
    uint32_t ext;
    uint32_t loc;
    uint32_t size;
    pi_cl_dma_dir_e dir;
    uint8_t merge;
    uint32_t stride;    /* 2-D: bytes from one line's start to the next one's in external memory */
    uint32_t length;    /* 2-D: bytes per line */
} pi_cl_dma_copy_t;
typedef pi_cl_dma_copy_t pi_cl_dma_copy_2d_t;

/* 1-D copy of size bytes between ext (L2) and loc (TCDM) */
PI_INLINE void pi_cl_dma_cmd(uint32_t ext, uint32_t loc, uint32_t size, pi_cl_dma_dir_e dir,
                             pi_cl_dma_cmd_t *cmd) {
    cmd->id = dir == PI_CL_DMA_DIR_EXT2LOC ? mcusim_dma_1d((void *)loc, (const void *)ext, size)
                                           : mcusim_dma_1d((void *)ext, (const void *)loc, size);
}
/* 2-D copy: size bytes in lines of `length` bytes; the lines are `stride` bytes apart in external
 * memory and packed in cluster memory. size must be a multiple of length. */
PI_INLINE void pi_cl_dma_cmd_2d(uint32_t ext, uint32_t loc, uint32_t size, uint32_t stride,
                                uint32_t length, pi_cl_dma_dir_e dir, pi_cl_dma_cmd_t *cmd) {
    uint32_t rows = size / length;
    cmd->id = dir == PI_CL_DMA_DIR_EXT2LOC
        ? mcusim_dma_2d((void *)loc, (const void *)ext, length, stride, length, rows)
        : mcusim_dma_2d((void *)ext, (const void *)loc, length, length, stride, rows);
}
PI_INLINE void pi_cl_dma_cmd_wait(pi_cl_dma_cmd_t *cmd) { mcusim_dma_wait_id(cmd->id); }
PI_INLINE void pi_cl_dma_flush(void) { mcusim_dma_wait(); }
PI_INLINE void pi_cl_dma_memcpy(pi_cl_dma_copy_t *copy) {
    pi_cl_dma_cmd(copy->ext, copy->loc, copy->size, copy->dir, (pi_cl_dma_cmd_t *)copy);
}
PI_INLINE void pi_cl_dma_memcpy_2d(pi_cl_dma_copy_2d_t *copy) {
    pi_cl_dma_cmd_2d(copy->ext, copy->loc, copy->size, copy->stride, copy->length, copy->dir,
                     (pi_cl_dma_cmd_t *)copy);
}
PI_INLINE void pi_cl_dma_wait(void *copy) { mcusim_dma_wait_id(((pi_cl_dma_copy_t *)copy)->id); }

/* --- performance counters ------------------------------------------------------------------------- */
typedef enum {
    PI_PERF_CYCLES = 17,         /* cycles since pi_perf_start, sleep included (mcycle) */
    PI_PERF_ACTIVE_CYCLES = 0,   /* RI5CY PCCR0 (mcusim counts every cycle, sleep included) */
    PI_PERF_INSTR = 1,
    PI_PERF_LD_STALL = 2,
    PI_PERF_JR_STALL = 3,
    PI_PERF_IMISS = 4,           /* instruction-fetch stall cycles (0 with the default ideal fetch) */
    PI_PERF_LD = 5,
    PI_PERF_ST = 6,
    PI_PERF_JUMP = 7,
    PI_PERF_BRANCH = 8,
    PI_PERF_BTAKEN = 9,
    PI_PERF_RVC = 10,
    PI_PERF_LD_EXT = 12,
    PI_PERF_ST_EXT = 13,
    PI_PERF_LD_EXT_CYC = 14,
    PI_PERF_ST_EXT_CYC = 15,
    PI_PERF_TCDM_CONT = 16
} pi_perf_event_e;

/* events: a mask of 1 << PI_PERF_* */
void pi_perf_conf(unsigned events);
void pi_perf_reset(void);
void pi_perf_start(void);
void pi_perf_stop(void);
unsigned int pi_perf_read(int id);

/* --- memory --------------------------------------------------------------------------------------- */
struct pi_device {
    void *config;
    void *data;
};
void *pi_l1_malloc(struct pi_device *device, uint32_t size);
void pi_l1_free(struct pi_device *device, void *chunk, uint32_t size);
void *pi_l2_malloc(uint32_t size);
void pi_l2_free(void *chunk, uint32_t size);

/* --- fabric-side offload (runs on the cluster controller: mcusim has no fabric controller) -------- */
struct pi_cluster_conf {
    int id;
};
struct pi_cluster_task {
    void (*entry)(void *);
    void *arg;
    void *stacks;
    uint32_t stack_size;
    uint32_t slave_stack_size;
    int nb_cores;
};
void pi_cluster_conf_init(struct pi_cluster_conf *conf);
void pi_open_from_conf(struct pi_device *device, void *conf);
int pi_cluster_open(struct pi_device *device);
int pi_cluster_close(struct pi_device *device);
PI_INLINE struct pi_cluster_task *pi_cluster_task(struct pi_cluster_task *task, void (*entry)(void *),
                                                  void *arg) {
    task->entry = entry;
    task->arg = arg;
    task->stacks = NULL;
    task->stack_size = 0;
    task->slave_stack_size = 0;
    task->nb_cores = 0;
    return task;
}
int pi_cluster_send_task_to_cl(struct pi_device *device, struct pi_cluster_task *task);
PI_INLINE int pi_cluster_send_task(struct pi_device *device, struct pi_cluster_task *task) {
    return pi_cluster_send_task_to_cl(device, task);
}
void pmsis_exit(int err) __attribute__((noreturn));

#ifdef __cplusplus
}
#endif
#endif
