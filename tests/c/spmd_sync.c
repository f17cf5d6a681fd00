/* SPMD (`mcusim run --cores 4`): every started core runs main. Barrier, critical section, events,
 * a named region and pi_cl_team_fork on the started cores. */
#include <pmsis.h>
#include <stdio.h>

static int counter;
static int partial[8];
static int forked[8];

static void work(void *arg) {
    int *base = arg;
    forked[pi_core_id()] = *base + pi_core_id();
}

int main(void) {
    int id = pi_core_id(), n = mcusim_nb_cores();
    mcusim_region_begin("sum phase");
    int s = 0;
    for (int i = id; i < 1000; i += n)
        s += i;
    partial[id] = s;
    pi_cl_team_critical_enter();
    counter += 1;
    pi_cl_team_critical_exit();
    mcusim_region_end("sum phase");
    pi_cl_team_barrier();
    int base = 100;
    pi_cl_team_fork(0, work, &base);
    if (id == 0) {
        int total = 0, f = 0;
        for (int c = 0; c < n; c++) {
            total += partial[c];
            f += forked[c];
        }
        printf("result: cores %d counter %d total %d forked %d team %d\n", n, counter, total, f,
               pi_cl_team_nb_cores());
    }
    return 0;
}
