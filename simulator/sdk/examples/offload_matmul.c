/* A PULP-style program: main (on the cluster controller) offloads a task to the cluster; the task
 * moves a block of A and all of B from L2 to the TCDM with the DMA (A's block with a 2-D transfer),
 * forks a matmul on 8 cores, moves C back, and counts cycles with pi_perf.
 *
 *     mcusim cc -O2 offload_matmul.c -o offload_matmul.elf && mcusim run offload_matmul.elf
 *
 * Prints the checksum of C (the same as the program compiled for a host: every value is a small
 * integer, exact in FP32) and the cycles of the task. */
#include <pmsis.h>
#include <stdint.h>
#include <stdio.h>

#define M 16
#define K 16
#define N 16
#define A_COLS 24            /* A in L2 is M x A_COLS; the task uses columns 4..4+K-1 */
#define A_COL0 4

static float A[M * A_COLS];          /* L2 */
static float B[K * N];
static float C[M * N];
PI_L1 static float a_l1[M * K];      /* TCDM */
PI_L1 static float b_l1[K * N];
PI_L1 static float c_l1[M * N];

static void matmul(void *arg) {
    (void)arg;
    int ncores = pi_cl_team_nb_cores();
    for (int i = pi_core_id(); i < M; i += ncores) {       /* rows interleaved over the cores */
        for (int j = 0; j < N; j++) {
            float acc = 0.0f;
            for (int k = 0; k < K; k++)
                acc += a_l1[i * K + k] * b_l1[k * N + j];
            c_l1[i * N + j] = acc;
        }
    }
}

static void cluster_task(void *arg) {
    unsigned *cycles = arg;
    pi_cl_dma_cmd_t cmd_a, cmd_b, cmd_c;
    pi_perf_conf(1 << PI_PERF_CYCLES | 1 << PI_PERF_INSTR);
    pi_perf_reset();
    pi_perf_start();
    /* K floats per line, lines A_COLS floats apart in L2, packed in the TCDM */
    pi_cl_dma_cmd_2d((uintptr_t)&A[A_COL0], (uintptr_t)a_l1, M * K * sizeof(float), A_COLS * sizeof(float),
                     K * sizeof(float), PI_CL_DMA_DIR_EXT2LOC, &cmd_a);
    pi_cl_dma_cmd((uintptr_t)B, (uintptr_t)b_l1, sizeof B, PI_CL_DMA_DIR_EXT2LOC, &cmd_b);
    pi_cl_dma_cmd_wait(&cmd_a);
    pi_cl_dma_cmd_wait(&cmd_b);
    pi_cl_team_fork(8, matmul, NULL);
    pi_cl_dma_cmd((uintptr_t)C, (uintptr_t)c_l1, sizeof C, PI_CL_DMA_DIR_LOC2EXT, &cmd_c);
    pi_cl_dma_cmd_wait(&cmd_c);
    pi_perf_stop();
    *cycles = pi_perf_read(PI_PERF_CYCLES);
}

int main(void) {
    for (int i = 0; i < M * A_COLS; i++)
        A[i] = (float)((i * 7) % 11) - 5.0f;
    for (int i = 0; i < K * N; i++)
        B[i] = (float)((i * 5) % 13) - 6.0f;

    struct pi_device cluster_dev;
    struct pi_cluster_conf conf;
    struct pi_cluster_task task;
    unsigned cycles = 0;
    pi_cluster_conf_init(&conf);
    pi_open_from_conf(&cluster_dev, &conf);
    if (pi_cluster_open(&cluster_dev))
        pmsis_exit(-1);
    pi_cluster_send_task_to_cl(&cluster_dev, pi_cluster_task(&task, cluster_task, &cycles));
    pi_cluster_close(&cluster_dev);

    long checksum = 0;
    for (int i = 0; i < M * N; i++)
        checksum += (long)C[i] * (i % 7 + 1);
    printf("result: checksum %ld\n", checksum);
    printf("cycles: %u (DMA in, 8-core matmul %dx%dx%d, DMA out)\n", cycles, M, N, K);
    return 0;
}
