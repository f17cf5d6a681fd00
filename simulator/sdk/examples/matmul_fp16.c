/* FP16 matmul C = A x B^T with the FP16 SIMD unit through mcusim.h's __vfmac_h (vfmac.h), the C
 * twin of the library's assembly FP16 matmul. B is given transposed (BT, N x K), as PULP-TrainLib's
 * fastest FP16 kernels take it; each core computes 2 x 2 output blocks of rows interleaved over the
 * 8 workers, accumulating two lanes per vfmac.h and adding the lanes at the end.
 *
 *     mcusim cc -O3 matmul_fp16.c -o matmul_fp16.elf && mcusim run matmul_fp16.elf
 *
 * Prints the checksum (exact: small integers), the cycles of the kernel region and its MAC/clk. */
#include <pmsis.h>
#include <stdio.h>

#ifndef DIM
#define DIM 64
#endif
#define M DIM
#define N DIM
#define K DIM

PI_L1 static _Float16 A[M * K] __attribute__((aligned(4)));
PI_L1 static _Float16 BT[N * K] __attribute__((aligned(4)));
PI_L1 static _Float16 C[M * N];

static void matmul_fp16(void *arg) {
    (void)arg;
    int ncores = pi_cl_team_nb_cores();
    for (int i = 2 * pi_core_id(); i < M; i += 2 * ncores) {
        const v2f16 *a0 = (const v2f16 *)&A[i * K], *a1 = (const v2f16 *)&A[(i + 1) * K];
        for (int j = 0; j < N; j += 2) {
            const v2f16 *b0 = (const v2f16 *)&BT[j * K], *b1 = (const v2f16 *)&BT[(j + 1) * K];
            v2f16 c00 = {0, 0}, c01 = {0, 0}, c10 = {0, 0}, c11 = {0, 0};
            for (int k = 0; k < K / 2; k++) {
                v2f16 x0 = a0[k], x1 = a1[k], y0 = b0[k], y1 = b1[k];
                c00 = __vfmac_h(c00, x0, y0);
                c01 = __vfmac_h(c01, x0, y1);
                c10 = __vfmac_h(c10, x1, y0);
                c11 = __vfmac_h(c11, x1, y1);
            }
            C[i * N + j] = c00[0] + c00[1];
            C[i * N + j + 1] = c01[0] + c01[1];
            C[(i + 1) * N + j] = c10[0] + c10[1];
            C[(i + 1) * N + j + 1] = c11[0] + c11[1];
        }
    }
}

static unsigned kernel_cycles;

static void task(void *arg) {
    (void)arg;
    pi_perf_conf(1 << PI_PERF_CYCLES);
    pi_perf_reset();
    pi_perf_start();
    mcusim_region_begin("matmul_fp16");
    pi_cl_team_fork(8, matmul_fp16, NULL);
    mcusim_region_end("matmul_fp16");
    pi_perf_stop();
    kernel_cycles = pi_perf_read(PI_PERF_CYCLES);
}

int main(void) {
    for (int i = 0; i < M * K; i++)
        A[i] = (_Float16)((i * 3) % 5 - 2);
    for (int i = 0; i < N * K; i++)
        BT[i] = (_Float16)((i * 7) % 3 - 1);
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
    printf("cycles: %u for %u MACs, %u.%02u MAC/clk\n", kernel_cycles, macs, macs / kernel_cycles,
           macs * 100 / kernel_cycles % 100);
    return 0;
}
