/* The SDK's cluster runtime: team fork/join, performance counters, L1/L2 allocators.
 * The PMSIS names (pmsis.h) are implemented here on top of mcusim.h. */
#include <stddef.h>
#include <stdint.h>

#include "mcusim.h"
#include "pmsis.h"

#define NCORES 9

/* --- team ----------------------------------------------------------------------------------------- */
/* what a forked worker runs: crt0's __mcusim_fork_entry reads it (a0 = its address) */
struct mcusim_fork_desc {
    void (*entry)(void *);
    void *arg;
};
static struct mcusim_fork_desc fork_desc MCUSIM_L1;
static int team_nb;                        /* cores of the last pi_cl_team_fork (0: none yet) */
extern void __mcusim_fork_entry(void);

static int popcount(uint32_t v) {
    int n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

int mcusim_nb_cores(void) { return popcount(mcusim_team_mask()); }

void mcusim_fork(uint32_t mask, void (*entry)(void *), void *arg) {
    fork_desc.entry = entry;
    fork_desc.arg = arg;
    _MCUSIM_STORE(MCUSIM_EU_FORK_ENTRY, (void *)__mcusim_fork_entry);
    _MCUSIM_STORE(MCUSIM_EU_FORK_ARG, &fork_desc);
    _MCUSIM_STORE(MCUSIM_EU_FORK, mask);
}

int pi_cl_team_nb_cores(void) { return team_nb ? team_nb : mcusim_nb_cores(); }

void pi_cl_team_fork(int nb_cores, void (*entry)(void *), void *arg) {
    int workers = mcusim_num_workers();
    int controller = mcusim_core_id() == MCUSIM_CONTROLLER;
    /* nb_cores 0: the previous team, else every worker (controller) or every started core (SPMD) */
    int n = nb_cores > 0 ? nb_cores : team_nb ? team_nb : controller ? workers : mcusim_nb_cores();
    if (controller) {
        if (n > workers)
            n = workers;
        team_nb = n;
        mcusim_fork((1u << n) - 1, entry, arg);
        mcusim_join();
    } else {                               /* SPMD: every started core is already here */
        team_nb = n;
        if (mcusim_core_id() < n)
            entry(arg);
        mcusim_barrier();
    }
}

/* --- performance counters ------------------------------------------------------------------------- */
#define PCCR_READ(i) case i: __asm__ volatile ("csrr %0, %1" : "=r"(v) : "i"(0x780 + i)); break;
uint32_t mcusim_perf_read(int index) {
    uint32_t v = 0;
    switch (index) {
        PCCR_READ(0) PCCR_READ(1) PCCR_READ(2) PCCR_READ(3) PCCR_READ(4) PCCR_READ(5) PCCR_READ(6)
        PCCR_READ(7) PCCR_READ(8) PCCR_READ(9) PCCR_READ(10) PCCR_READ(11) PCCR_READ(12)
        PCCR_READ(13) PCCR_READ(14) PCCR_READ(15)
    default:
        break;
    }
    return v;
}

/* PMSIS event id -> RI5CY PCCR index (-1: the cycle timer, which mcusim reads from mcycle) */
static int pccr_index(int id) {
    if (id == PI_PERF_CYCLES) return -1;
    if (id <= PI_PERF_RVC) return id;
    if (id >= PI_PERF_LD_EXT && id <= PI_PERF_TCDM_CONT) return id - 1;
    return -2;
}

static struct {
    uint32_t start, acc;
    int running;
} timer[NCORES];

void pi_perf_conf(unsigned events) {
    uint32_t mask = 0;
    for (int id = 0; id < 32; id++) {
        int i = pccr_index(id);
        if (events >> id & 1 && i >= 0)
            mask |= 1u << i;
    }
    mcusim_perf_enable(mask);
}

void pi_perf_reset(void) {
    int c = mcusim_core_id();
    mcusim_perf_reset();
    timer[c].acc = 0;
    timer[c].start = mcusim_mcycle();
}

void pi_perf_start(void) {
    int c = mcusim_core_id();
    timer[c].start = mcusim_mcycle();
    timer[c].running = 1;
    mcusim_perf_start();
}

void pi_perf_stop(void) {
    mcusim_perf_stop();
    int c = mcusim_core_id();
    if (timer[c].running)
        timer[c].acc += mcusim_mcycle() - timer[c].start;
    timer[c].running = 0;
}

unsigned int pi_perf_read(int id) {
    int i = pccr_index(id);
    if (i >= 0)
        return mcusim_perf_read(i);
    if (i == -1) {
        int c = mcusim_core_id();
        return timer[c].acc + (timer[c].running ? mcusim_mcycle() - timer[c].start : 0);
    }
    return 0;
}

/* --- memory: first-fit allocators over the linker script's heaps ---------------------------------- */
typedef struct block {
    uint32_t size;
    struct block *next;
} block_t;

typedef struct {
    block_t *free;
    int ready;
} heap_t;

extern char __l1_heap_start[], __l1_heap_end[], __l2_heap_start[], __l2_heap_end[];
static heap_t l1_heap, l2_heap;

static uint32_t round8(uint32_t n) { return (n + 7) & ~7u; }

static void *heap_alloc(heap_t *h, char *start, char *end, uint32_t size) {
    if (!h->ready) {
        h->free = (block_t *)start;
        h->free->size = (uint32_t)(end - start) & ~7u;
        h->free->next = NULL;
        h->ready = 1;
    }
    size = round8(size ? size : 1);
    for (block_t **p = &h->free; *p; p = &(*p)->next) {
        block_t *b = *p;
        if (b->size < size)
            continue;
        if (b->size - size >= sizeof(block_t)) {      /* split: the rest stays free */
            block_t *rest = (block_t *)((char *)b + size);
            rest->size = b->size - size;
            rest->next = b->next;
            *p = rest;
        } else {
            size = b->size;
            *p = b->next;
        }
        return b;
    }
    return NULL;
}

static void heap_free(heap_t *h, void *chunk, uint32_t size) {
    if (!chunk)
        return;
    block_t *b = chunk;
    b->size = round8(size ? size : 1);
    block_t **p = &h->free;
    while (*p && *p < b)
        p = &(*p)->next;
    b->next = *p;
    *p = b;
    if (b->next && (char *)b + b->size == (char *)b->next) {   /* merge with the next block */
        b->size += b->next->size;
        b->next = b->next->next;
    }
    for (block_t *q = h->free; q && q != b; q = q->next)          /* and with the previous one */
        if (q->next == b && (char *)q + q->size == (char *)b) {
            q->size += b->size;
            q->next = b->next;
            break;
        }
}

void *pi_l1_malloc(struct pi_device *device, uint32_t size) {
    (void)device;
    return heap_alloc(&l1_heap, __l1_heap_start, __l1_heap_end, size);
}
void pi_l1_free(struct pi_device *device, void *chunk, uint32_t size) {
    (void)device;
    heap_free(&l1_heap, chunk, size);
}
void *pi_l2_malloc(uint32_t size) { return heap_alloc(&l2_heap, __l2_heap_start, __l2_heap_end, size); }
void pi_l2_free(void *chunk, uint32_t size) { heap_free(&l2_heap, chunk, size); }

void pmsis_exit(int err) { mcusim_exit(err); }
