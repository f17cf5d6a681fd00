/* Host stand-in for the SDK's pmsis.h / mcusim.h (tests only): the same C runs on the host, where
 * a fork runs the entry once per core id in turn and the DMA is memcpy. Enough for programs whose
 * forked entries do not wait for each other (no barrier inside them). */
#ifndef HOST_PMSIS_H
#define HOST_PMSIS_H
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

#define PI_L1
#define PI_CL_L1
#define PI_L2
#define MCUSIM_L1
static int host_core = 8, host_team = 1;
static inline int pi_core_id(void) { return host_core; }
static inline int mcusim_core_id(void) { return host_core; }
static inline int pi_cluster_id(void) { return 0; }
static inline int pi_cl_cluster_nb_cores(void) { return 8; }
static inline int pi_cl_team_nb_cores(void) { return host_team; }
static inline void pi_cl_team_fork(int n, void (*entry)(void *), void *arg) {
    int saved = host_core;
    host_team = n ? n : 8;
    for (host_core = 0; host_core < host_team; host_core++) entry(arg);
    host_core = saved;
}
static inline void pi_cl_team_barrier(void) {}
static inline void pi_cl_team_critical_enter(void) {}
static inline void pi_cl_team_critical_exit(void) {}
static inline void mcusim_region_begin(const char *n) { (void)n; }
static inline void mcusim_region_end(const char *n) { (void)n; }

typedef enum { PI_CL_DMA_DIR_LOC2EXT = 0, PI_CL_DMA_DIR_EXT2LOC = 1 } pi_cl_dma_dir_e;
typedef struct { uint32_t id; } pi_cl_dma_cmd_t;
static inline void pi_cl_dma_cmd(uintptr_t ext, uintptr_t loc, uint32_t size, pi_cl_dma_dir_e dir, pi_cl_dma_cmd_t *c) {
    (void)c;
    if (dir == PI_CL_DMA_DIR_EXT2LOC) memcpy((void *)loc, (void *)ext, size); else memcpy((void *)ext, (void *)loc, size);
}
static inline void pi_cl_dma_cmd_2d(uintptr_t ext, uintptr_t loc, uint32_t size, uint32_t stride, uint32_t length,
                                    pi_cl_dma_dir_e dir, pi_cl_dma_cmd_t *c) {
    for (uint32_t r = 0; r < size / length; r++)
        pi_cl_dma_cmd(ext + r * stride, loc + r * length, length, dir, c);
}
static inline void pi_cl_dma_cmd_wait(pi_cl_dma_cmd_t *c) { (void)c; }
static inline void pi_cl_dma_flush(void) {}

typedef enum { PI_PERF_CYCLES = 17, PI_PERF_ACTIVE_CYCLES = 0, PI_PERF_INSTR = 1, PI_PERF_LD_STALL = 2,
               PI_PERF_JR_STALL = 3, PI_PERF_IMISS = 4, PI_PERF_LD = 5, PI_PERF_ST = 6, PI_PERF_JUMP = 7,
               PI_PERF_BRANCH = 8, PI_PERF_BTAKEN = 9, PI_PERF_RVC = 10, PI_PERF_LD_EXT = 12,
               PI_PERF_ST_EXT = 13, PI_PERF_LD_EXT_CYC = 14, PI_PERF_ST_EXT_CYC = 15,
               PI_PERF_TCDM_CONT = 16 } pi_perf_event_e;
static inline void pi_perf_conf(unsigned e) { (void)e; }
static inline void pi_perf_reset(void) {}
static inline void pi_perf_start(void) {}
static inline void pi_perf_stop(void) {}
static inline unsigned pi_perf_read(int id) { (void)id; return 1; }

struct pi_device { void *config; void *data; };
struct pi_cluster_conf { int id; };
struct pi_cluster_task { void (*entry)(void *); void *arg; };
static inline void pi_cluster_conf_init(struct pi_cluster_conf *c) { c->id = 0; }
static inline void pi_open_from_conf(struct pi_device *d, void *c) { d->config = c; }
static inline int pi_cluster_open(struct pi_device *d) { (void)d; return 0; }
static inline int pi_cluster_close(struct pi_device *d) { (void)d; return 0; }
static inline struct pi_cluster_task *pi_cluster_task(struct pi_cluster_task *t, void (*e)(void *), void *a) {
    t->entry = e; t->arg = a; return t;
}
static inline int pi_cluster_send_task_to_cl(struct pi_device *d, struct pi_cluster_task *t) { (void)d; t->entry(t->arg); return 0; }
static inline void *pi_l1_malloc(struct pi_device *d, uint32_t n) { (void)d; return malloc(n); }
static inline void pi_l1_free(struct pi_device *d, void *p, uint32_t n) { (void)d; (void)n; free(p); }
static inline void *pi_l2_malloc(uint32_t n) { return malloc(n); }
static inline void pi_l2_free(void *p, uint32_t n) { (void)n; free(p); }
static inline void pmsis_exit(int e) { exit(e); }

#if defined(__FLT16_MAX__)
typedef _Float16 v2f16 __attribute__((vector_size(4)));
static inline v2f16 __vfmac_h(v2f16 acc, v2f16 a, v2f16 b) {
    v2f16 r;
    for (int i = 0; i < 2; i++) r[i] = (_Float16)((float)a[i] * (float)b[i] + (float)acc[i]);
    return r;
}
static inline float __vfdotpex_s_h(float acc, v2f16 a, v2f16 b) {
    return acc + (float)a[0] * (float)b[0] + (float)a[1] * (float)b[1];
}
#endif
#endif
