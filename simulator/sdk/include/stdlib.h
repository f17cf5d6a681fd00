/* stdlib.h of mcusim's SDK: exit and abs; memory comes from pmsis.h (pi_l1_malloc, pi_l2_malloc). */
#ifndef MCUSIM_STDLIB_H
#define MCUSIM_STDLIB_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
#define EXIT_SUCCESS 0
#define EXIT_FAILURE 1
void exit(int code) __attribute__((noreturn));
void abort(void) __attribute__((noreturn));
static inline int abs(int x) { return x < 0 ? -x : x; }
#ifdef __cplusplus
}
#endif
#endif
