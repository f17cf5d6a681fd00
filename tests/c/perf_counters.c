/* pi_perf and the RI5CY counters around a loop of known loads and stores. */
#include <pmsis.h>
#include <stdio.h>

#define N 200
PI_L1 static volatile int buf[N];

int main(void) {
    pi_perf_conf(1 << PI_PERF_CYCLES | 1 << PI_PERF_INSTR | 1 << PI_PERF_LD | 1 << PI_PERF_ST |
                 1 << PI_PERF_ACTIVE_CYCLES | 1 << PI_PERF_BRANCH);
    pi_perf_reset();
    uint32_t c0 = mcusim_mcycle(), i0 = mcusim_minstret();
    pi_perf_start();
    for (int i = 0; i < N; i++)
        buf[i] = buf[i] + i;
    pi_perf_stop();
    uint32_t c1 = mcusim_mcycle(), i1 = mcusim_minstret();
    unsigned cyc = pi_perf_read(PI_PERF_CYCLES), ins = pi_perf_read(PI_PERF_INSTR);
    unsigned ld = pi_perf_read(PI_PERF_LD), st = pi_perf_read(PI_PERF_ST), br = pi_perf_read(PI_PERF_BRANCH);
    unsigned act = pi_perf_read(PI_PERF_ACTIVE_CYCLES);
    unsigned again = pi_perf_read(PI_PERF_INSTR);      /* stopped: does not move */
    printf("perf: cycles %u instr %u ld %u st %u branch %u active %u again %u mcycle %u minstret %u\n",
           cyc, ins, ld, st, br, act, again, c1 - c0, i1 - i0);
    return 0;
}
