/* The fabric-side offload sequence of PMSIS. mcusim models no fabric controller: main runs on the
 * cluster controller (core 8) and a "sent" task runs right there, to completion.
 *
 * Linking this object (a program that calls pi_cluster_open / pi_cluster_send_task...) defines
 * __mcusim_controller_mode, which makes `mcusim run` boot the program in controller mode when
 * neither --cores nor --controller is given. */
#include "pmsis.h"

__asm__(".globl __mcusim_controller_mode\n.set __mcusim_controller_mode, 1");

void pi_cluster_conf_init(struct pi_cluster_conf *conf) { conf->id = 0; }

void pi_open_from_conf(struct pi_device *device, void *conf) {
    device->config = conf;
    device->data = NULL;
}

int pi_cluster_open(struct pi_device *device) {
    (void)device;
    return 0;
}

int pi_cluster_close(struct pi_device *device) {
    (void)device;
    return 0;
}

int pi_cluster_send_task_to_cl(struct pi_device *device, struct pi_cluster_task *task) {
    (void)device;
    task->entry(task->arg);
    return 0;
}
