/* FP32 matmul C = A x B, the plain C loop a compiler gets (no hand vectorisation), on 1 or 8 cores
 * (rows interleaved), for comparing compiled C with the assembly kernel library (docs/C_SDK.md).
 *
 *     mcusim cc -O3 -DDIM=32 -DCORES=1 matmul_fp32.c -o mm32.elf && mcusim run mm32.elf
 */
#include <pmsis.h>
#include <stdio.h>

#ifndef DIM
#define DIM 32
#endif
#ifndef CORES
#define CORES 8
#endif
#define M DIM
#define N DIM
#define K DIM

PI_L1 static float A[M * K], B[K * N], C[M * N];

static void matmul_fp32(void *arg) {
    (void)arg;
    int ncores = pi_cl_team_nb_cores();
    for (int i = pi_core_id(); i < M; i += ncores)
        for (int j = 0; j < N; j++) {
            float acc = 0.0f;
            for (int k = 0; k < K; k++)
                acc += A[i * K + k] * B[k * N + j];
            C[i * N + j] = acc;
        }
}

static unsigned kernel_cycles;

static void task(void *arg) {
    (void)arg;
    pi_perf_conf(1 << PI_PERF_CYCLES);
    pi_perf_reset();
    pi_perf_start();
    mcusim_region_begin("matmul_fp32");
    pi_cl_team_fork(CORES, matmul_fp32, NULL);
    mcusim_region_end("matmul_fp32");
    pi_perf_stop();
    kernel_cycles = pi_perf_read(PI_PERF_CYCLES);
}

int main(void) {
    for (int i = 0; i < M * K; i++)
        A[i] = (float)((i * 3) % 5 - 2);
    for (int i = 0; i < K * N; i++)
        B[i] = (float)((i * 7) % 3 - 1);
    struct pi_device dev;
    struct pi_cluster_conf conf;
    struct pi_cluster_task t;
    pi_cluster_conf_init(&conf);
    pi_open_from_conf(&dev, &conf);
    pi_cluster_open(&dev);
    pi_cluster_send_task_to_cl(&dev, pi_cluster_task(&t, task, NULL));
    pi_cluster_close(&dev);
    long checksum = 0;
    for (int i = 0; i < M * N; i++)
        checksum += (long)C[i] * (i % 5 + 1);
    printf("result: checksum %ld\n", checksum);
    unsigned macs = M * N * K;
    printf("cycles: %u for %u MACs on %d cores, %u.%02u MAC/clk\n", kernel_cycles, macs, CORES,
           macs / kernel_cycles, macs * 100 / kernel_cycles % 100);
    return 0;
}
