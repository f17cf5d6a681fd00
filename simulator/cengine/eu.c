/* The event unit's common operations and the DMA's register file in the cluster loop: the twin of
 * simulator/peripherals.py (EventUnit, Dma.read/write of the transfer registers) and of
 * simulator/cluster.py (Cluster.sleep, wake, _start_core, the dispatch return in _fetch).
 *
 * A word access to a peripheral register first comes here (mcu_periph_load/store, from mcu_load and
 * mcu_store when McuMem.periph_in_c). What is done here is done exactly as the reference does it
 * (same cycles, wake-up latencies and stall accounting); everything else returns MCU_PYTHON before
 * changing anything, and the reference does it on the same state (McuCluster.eu, the cores' sleep
 * fields): every error (a barrier outside the team, fork without entry or to a busy core, join in
 * SPMD mode, releasing a mutex not held, unknown registers), the controller's region markers (its
 * `step` hook reads every core's counters), named ones, and a region_end C does not know open, DMA_START / DMA_BUSY / DMA_WAIT /
 * DMA_WAIT_ID (the transfers and their completion events live in the simpy side), byte and half-word
 * accesses. Included by engine.c after cluster.h. */
#include <stddef.h>

#include "cluster.h"

#define MCU_CONTROLLER_ID 8

static inline McuCluster *cluster_of(McuMem *m) {
    return (McuCluster *)((char *)m - offsetof(McuCluster, mem));
}

/* Cluster.sleep: core `index` sleeps from the cycle after its instruction (stall `cause`) */
static void mcu_core_sleep(McuCluster *cl, int index, int cause, int waiting) {
    McuCore *c = &cl->cores[index];
    c->state = MCU_SLEEP;
    c->sleep_cause = cause;
    c->waiting = waiting;
    c->sleep_start = c->issue_cycle + 1;
    cl->ready[index] = MCU_NEVER;
    cl->eu.acted = 1;
}

/* Cluster.wake: an asleep core runs again at `cycle` (not before it fell asleep); the sleep is its stall */
static void mcu_core_wake(McuCluster *cl, int index, int64_t cycle) {
    McuCore *c = &cl->cores[index];
    if (c->state != MCU_SLEEP) return;
    if (cycle < c->sleep_start) cycle = c->sleep_start;
    c->stalls[c->sleep_cause] += cycle - c->sleep_start;
    c->state = MCU_RUN;
    c->waiting = MCU_W_NONE;
    cl->ready[index] = cycle;
    cl->eu.acted = 1;
}

/* Cluster._start_core for a worker (the dispatch of a core that never ran) */
static void mcu_core_start(McuCluster *cl, int index, uint32_t pc, int64_t cycle) {
    McuCore *c = &cl->cores[index];
    c->pc = pc;
    c->x[2] = cl->tcdm_end - 1024u * (uint32_t)c->id;
    c->state = MCU_RUN;
    cl->ready[index] = cycle;
    cl->eu.acted = 1;
}

/* EventUnit.arrive (the caller checked that the core is in the team) */
static void eu_arrive(McuCluster *cl, int index) {
    McuEventUnit *eu = &cl->eu;
    McuCore *c = &cl->cores[index];
    eu->arrived |= 1u << c->id;
    mcu_core_sleep(cl, index, MCU_S_BARRIER, MCU_W_BARRIER);
    if ((eu->arrived & eu->team) == eu->team) {
        int64_t wake_at = c->issue_cycle + 1 + eu->barrier_wakeup;
        for (int i = 0; i < eu->ncores; i++)
            if (eu->arrived >> cl->cores[i].id & 1u) mcu_core_wake(cl, i, wake_at);
        eu->arrived = 0;
    }
}

/* EventUnit.wait_event */
static void eu_wait_event(McuCluster *cl, int index) {
    uint32_t bit = 1u << cl->cores[index].id;
    if (cl->eu.events & bit) cl->eu.events &= ~bit;
    else mcu_core_sleep(cl, index, MCU_S_SLEEP, MCU_W_EVENT);
}

/* EventUnit.lock */
static void eu_lock(McuCluster *cl, int index) {
    McuEventUnit *eu = &cl->eu;
    if (eu->mutex_owner < 0) { eu->mutex_owner = cl->cores[index].id; return; }
    eu->mutex_queue[eu->mutex_waiting++] = index;
    mcu_core_sleep(cl, index, MCU_S_SLEEP, MCU_W_MUTEX);
    cl->cores[index].waiting_arg = eu->mutex_owner;
}

/* EventUnit.unlock (the caller checked that the core holds the mutex) */
static void eu_unlock(McuCluster *cl, int index) {
    McuEventUnit *eu = &cl->eu;
    if (!eu->mutex_waiting) { eu->mutex_owner = -1; return; }
    int next = eu->mutex_queue[0];
    eu->mutex_waiting--;
    memmove(eu->mutex_queue, eu->mutex_queue + 1, sizeof(int32_t) * (size_t)eu->mutex_waiting);
    eu->mutex_owner = cl->cores[next].id;
    mcu_core_wake(cl, next, cl->cores[index].issue_cycle + 1 + eu->event_wakeup);
}

/* EventUnit.send */
static void eu_send(McuCluster *cl, int index, uint32_t mask) {
    int64_t wake_at = cl->cores[index].issue_cycle + 1 + cl->eu.event_wakeup;
    for (int i = 0; i < cl->eu.ncores; i++) {
        McuCore *w = &cl->cores[i];
        if (!(mask >> w->id & 1u)) continue;
        if (w->state == MCU_SLEEP && w->waiting == MCU_W_EVENT) mcu_core_wake(cl, i, wake_at);
        else cl->eu.events |= 1u << w->id;
    }
}

/* EventUnit.fork; MCU_PYTHON (nothing done) for the errors the reference reports */
static int eu_fork(McuCluster *cl, int index, uint32_t mask) {
    McuEventUnit *eu = &cl->eu;
    McuCore *c = &cl->cores[index];
    uint32_t id = (uint32_t)c->id;
    if (!(eu->fork_set >> id & 1u)) return MCU_PYTHON;
    if (mask >> eu->workers || !(mask & ((1u << eu->workers) - 1u))) return MCU_PYTHON;
    for (int i = 0; i < eu->workers; i++) {
        const McuCore *w = &cl->cores[i];
        if ((mask >> w->id & 1u) &&
            (w->state == MCU_RUN || (w->state == MCU_SLEEP && w->waiting != MCU_W_DISPATCH)))
            return MCU_PYTHON;
    }
    int64_t start = c->issue_cycle + 1 + eu->event_wakeup;
    uint32_t entry = eu->fork_entry[id];
    for (int i = 0; i < eu->workers; i++) {
        McuCore *w = &cl->cores[i];
        if (!(mask >> w->id & 1u)) continue;
        w->x[10] = eu->fork_arg[id];
        w->x[1] = MCU_DISPATCH_RETURN;
        if (w->state == MCU_OFF) {
            w->stalls[MCU_S_SLEEP] += start;
            mcu_core_start(cl, i, entry, start);
        } else {
            w->pc = entry;
            mcu_core_wake(cl, i, start);
            w->x[2] = cl->tcdm_end - 1024u * (uint32_t)w->id;
        }
    }
    eu->dispatched |= mask;
    eu->team = mask;
    eu->arrived = 0;
    return MCU_OK;
}

/* EventUnit.task_returned: worker `index` reached the dispatch-return address at cycle t (an issue
 * result of engine.c: 5, the runnable cores may have changed) */
static int eu_task_returned(McuCluster *cl, int index, int64_t t) {
    McuEventUnit *eu = &cl->eu;
    McuCore *w = &cl->cores[index];
    w->issue_cycle = t;
    eu->dispatched &= ~(1u << w->id);
    mcu_core_sleep(cl, index, MCU_S_SLEEP, MCU_W_DISPATCH);
    w->sleep_start = t;
    if (!eu->dispatched && eu->joiner >= 0) {
        int joiner = eu->joiner;
        eu->joiner = -1;
        mcu_core_wake(cl, joiner, t + eu->event_wakeup);
    }
    eu->acted = 0;
    return 5;
}

static inline void record_access(McuCore *c, uint32_t addr, int store) {
    c->acc_addr = addr; c->acc_size = 4; c->acc_store = store; c->acc_valid = 1;
}

static inline uint32_t periph_offset(const McuMem *m, uint32_t addr) {
    return addr - m->periph_base < m->periph_size ? addr - m->periph_base : addr - m->alias_base;
}

/* A worker's numbered region marker at offset `off`: logged (Cluster._replay_region_marks runs the
 * reference's _region_mark and hooks on it when the loop returns), its stalls taken at its retire
 * (eu_retire); MCU_PYTHON for the rest */
static int eu_region_mark(McuCluster *cl, int index, uint32_t off) {
    McuEventUnit *eu = &cl->eu;
    McuCore *c = &cl->cores[index];
    if (c->id == MCU_CONTROLLER_ID || eu->marks_n >= eu->marks_cap) return MCU_PYTHON;
    int begin = off < MCU_REGION_END;
    uint32_t id = (off - (begin ? MCU_REGION_BEGIN : MCU_REGION_END)) >> 2, bit = 1u << (id & 31u);
    uint32_t *open = &eu->region_open[index][id >> 5];
    if (!begin && !(*open & bit)) return MCU_PYTHON;
    if (begin) *open |= bit;
    else *open &= ~bit;
    McuRegionMark *r = &eu->marks[eu->marks_n];
    r->cycle = c->issue_cycle;
    r->instret = c->instret;
    memcpy(r->events, c->events, sizeof r->events);
    r->core = index;
    r->id = (int32_t)id;
    r->begin = begin;
    eu->mark_pending = 1;
    eu->acted = 1;
    return MCU_OK;
}

int mcu_periph_load(McuCore *c, McuMem *m, uint32_t addr, int size, uint32_t *out) {
    if (size != 4 || (addr & 3u)) return MCU_PYTHON;
    McuCluster *cl = cluster_of(m);
    McuEventUnit *eu = &cl->eu;
    int index = (int)(c - cl->cores);
    uint32_t off = periph_offset(m, addr), v = 0;
    if (off < MCU_DMA_OFFSET) {
        switch (off) {
        case MCU_EU_CORE_ID: v = (uint32_t)c->id; break;
        case MCU_EU_NUM_WORKERS: v = (uint32_t)eu->workers; break;
        case MCU_EU_BARRIER_TEAM: v = eu->team; break;
        case MCU_EU_BARRIER:
            if (!(eu->team >> c->id & 1u)) return MCU_PYTHON;   /* not in the team: an error */
            eu_arrive(cl, index);
            break;
        case MCU_EU_WAIT_EVENT: eu_wait_event(cl, index); break;
        case MCU_EU_JOIN:
            if (!eu->controller_mode) return MCU_PYTHON;      /* join in SPMD mode: an error */
            if (eu->dispatched) {
                eu->joiner = index;
                mcu_core_sleep(cl, index, MCU_S_SLEEP, MCU_W_JOIN);
            }
            break;
        case MCU_EU_MUTEX: eu_lock(cl, index); break;
        default: return MCU_PYTHON;                           /* errors */
        }
    } else if (off < MCU_REGION_BEGIN) {
        uint32_t k = (off - MCU_DMA_OFFSET) >> 2;
        if (k < MCU_DMA_NREGS) v = eu->dma_set[c->id] >> k & 1u ? eu->dma_regs[c->id][k] : 0;
        else if (off - MCU_DMA_OFFSET <= MCU_DMA_WAIT) return MCU_PYTHON;   /* START, BUSY, WAIT */
        /* (other offsets read 0, as Dma.read does) */
    } else {
        return MCU_PYTHON;
    }
    record_access(c, addr, 0);
    *out = v;
    return MCU_OK;
}

int mcu_periph_wfi(McuCore *c, McuMem *m) {
    McuCluster *cl = cluster_of(m);
    eu_wait_event(cl, (int)(c - cl->cores));
    return MCU_OK;
}

int mcu_periph_store(McuCore *c, McuMem *m, uint32_t addr, int size, uint32_t value) {
    if (size != 4 || (addr & 3u)) return MCU_PYTHON;
    McuCluster *cl = cluster_of(m);
    McuEventUnit *eu = &cl->eu;
    int index = (int)(c - cl->cores);
    uint32_t off = periph_offset(m, addr), id = (uint32_t)c->id;
    if (off < MCU_REGION_NAME_BEGIN) {
        switch (off) {
        case MCU_EU_BARRIER_TEAM: eu->team = value & 0x1FFu; break;
        case MCU_EU_SEND_EVENT: eu_send(cl, index, value); break;
        case MCU_EU_FORK_ENTRY: eu->fork_entry[id] = value; eu->fork_set |= 1u << id; break;
        case MCU_EU_FORK_ARG: eu->fork_arg[id] = value; break;
        case MCU_EU_FORK:
            if (eu_fork(cl, index, value) != MCU_OK) return MCU_PYTHON;
            break;
        case MCU_EU_MUTEX:
            if (eu->mutex_owner != c->id) return MCU_PYTHON;   /* not the holder: an error */
            eu_unlock(cl, index);
            break;
        default: return MCU_PYTHON;                           /* errors */
        }
    } else if (off >= MCU_DMA_OFFSET && off < MCU_REGION_BEGIN) {
        uint32_t k = (off - MCU_DMA_OFFSET) >> 2;
        if (k >= MCU_DMA_NREGS) return MCU_PYTHON;            /* START, WAIT_ID, errors */
        eu->dma_regs[id][k] = value;
        eu->dma_set[id] |= 1u << k;
    } else if (off >= MCU_REGION_BEGIN && off < MCU_REGION_END + 4u * MCU_REGION_IDS) {
        if (eu_region_mark(cl, index, off) != MCU_OK) return MCU_PYTHON;
    } else {
        return MCU_PYTHON;                                    /* errors */
    }
    record_access(c, addr, 1);
    return MCU_OK;
}
