/* Integer matmul C = A x B (int32, 32x32x32) forked on 8 cores from main on the controller: the
 * plain C loop, for comparing clang's Xpulpv2-free output with its CORE-V output (docs/C_SDK.md).
 *
 *     mcusim cc -O3 matmul_int32.c -o mm.elf && mcusim run mm.elf --controller
 *     mcusim cc --isa corev -O3 matmul_int32.c -o mm_cv.elf && mcusim run mm_cv.elf --controller
 */
#include <pmsis.h>
#include <stdio.h>
#define D 32
PI_L1 static int A[D*D], B[D*D], C[D*D];
static void mm(void *arg) {
    (void)arg;
    for (int i = pi_core_id(); i < D; i += pi_cl_team_nb_cores())
        for (int j = 0; j < D; j++) { int acc = 0; for (int k = 0; k < D; k++) acc += A[i*D+k] * B[k*D+j]; C[i*D+j] = acc; }
}
int main(void) {
    for (int i = 0; i < D*D; i++) { A[i] = i % 7 - 3; B[i] = i % 5 - 2; }
    pi_perf_conf(1 << PI_PERF_CYCLES); pi_perf_reset(); pi_perf_start();
    pi_cl_team_fork(8, mm, 0);
    pi_perf_stop();
    long s = 0; for (int i = 0; i < D*D; i++) s += C[i] * (i % 3 + 1);
    printf("result: %ld cycles %u\n", s, pi_perf_read(PI_PERF_CYCLES));
    return 0;
}
