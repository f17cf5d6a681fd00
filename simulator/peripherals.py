"""Cluster peripherals: the event unit (barrier, events, mutex, fork/join, region markers) and the
DMA between L2 and TCDM. Register maps are in `simulator.memory_map`.

Both act on the cluster synchronously when a core touches a register (the core loop is at that
core's issue cycle); what happens later (a DMA transfer completing) is a simpy event scheduled
through `Cluster.schedule`, so the cores never run past it.

The event unit's state and the DMA's register file are kept in a `PeripheralState` (the compiled
engine: its C twin McuEventUnit, which simulator/cengine/eu.c runs the common operations on; the
code here then reads and writes the same state, for the operations C leaves to the reference).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mcusim.simulator import memory_map as mm
from mcusim.simulator.functional import SimulationError, describe_instruction

if TYPE_CHECKING:
    from mcusim.simulator.cluster import Cluster, CoreModel


DMA_REGISTERS = (mm.DMA_SRC, mm.DMA_DST, mm.DMA_LEN, mm.DMA_SRC_STRIDE, mm.DMA_DST_STRIDE, mm.DMA_ROWS)
assert DMA_REGISTERS == tuple(range(0, 4 * len(DMA_REGISTERS), 4))   # register k at offset 4 k (eu.c)


class PeripheralState:
    """The event unit's state and the DMA's transfer registers (the pure-Python engine's copy; the
    compiled engine's is cluster.h McuEventUnit, with the same fields). Masks have a bit per core id,
    lists an entry per core id."""

    def __init__(self) -> None:
        self.team = 0                  # barrier participants
        self.arrived = 0               # cores waiting at the barrier
        self.events = 0                # a pending event per core
        self.dispatched = 0            # workers running a dispatched task
        self.joiner = -1               # index in Cluster.cores of the core waiting in join, -1: none
        self.mutex_owner = -1          # id of the mutex's holder, -1: free
        self.mutex_queue = [0] * 9     # indices in Cluster.cores of the cores waiting for it, in order
        self.mutex_waiting = 0         # (the first mutex_waiting entries)
        self.fork_set = 0              # cores that wrote EU_FORK_ENTRY
        self.fork_entry = [0] * 9
        self.fork_arg = [0] * 9
        self.dma_set = [0] * 9         # DMA registers written (a bit per DMA_REGISTERS entry)
        self.dma_regs = [[0] * len(DMA_REGISTERS) for _ in range(9)]


class EventUnit:
    def __init__(self, cluster: "Cluster", state: PeripheralState) -> None:
        self.cluster = cluster
        self.s = state

    # the state's fields as the behaviour below reads them
    @property
    def team(self) -> int:
        return self.s.team

    @team.setter
    def team(self, value: int) -> None:
        self.s.team = value

    @property
    def dispatched(self) -> int:
        return self.s.dispatched

    def _wakeup(self) -> int:
        return self.cluster.config.event_unit.event_wakeup

    # --- register access ---------------------------------------------------------------------------
    def read(self, core: "CoreModel", offset: int) -> int:
        if offset == mm.EU_CORE_ID:
            return core.id
        if offset == mm.EU_NUM_WORKERS:
            return self.cluster.config.workers
        if offset == mm.EU_BARRIER:
            self.arrive(core)
            return 0
        if offset == mm.EU_BARRIER_TEAM:
            return self.team
        if offset == mm.EU_WAIT_EVENT:
            self.wait_event(core)
            return 0
        if offset == mm.EU_MUTEX:
            self.lock(core)
            return 0
        if offset == mm.EU_JOIN:
            self.join(core)
            return 0
        return self._bad(core, offset, "read")

    def write(self, core: "CoreModel", offset: int, value: int) -> None:
        if offset == mm.EU_BARRIER_TEAM:
            self.team = value & 0x1FF
        elif offset == mm.EU_SEND_EVENT:
            self.send(core, value)
        elif offset == mm.EU_MUTEX:
            self.unlock(core)
        elif offset == mm.EU_FORK_ENTRY:
            self.s.fork_entry[core.id] = value
            self.s.fork_set |= 1 << core.id
        elif offset == mm.EU_FORK_ARG:
            self.s.fork_arg[core.id] = value
        elif offset == mm.EU_FORK:
            self.fork(core, value)
        else:
            self._bad(core, offset, "write")

    def _bad(self, core: "CoreModel", offset: int, what: str) -> int:
        raise SimulationError(f"core {core.id}: {what} of unknown event-unit register "
                              f"+{offset:#x} at {describe_instruction(core.hart, core.hart.pc)}", "program")

    # --- behaviour ---------------------------------------------------------------------------------
    def arrive(self, core: "CoreModel") -> None:
        cl, s = self.cluster, self.s
        if not s.team >> core.id & 1:
            raise SimulationError(f"core {core.id} reached a barrier it is not part of (team mask "
                                  f"{s.team:#x}) at {describe_instruction(core.hart, core.hart.pc)}",
                                  "program")
        s.arrived |= 1 << core.id
        cl.sleep(core, "barrier", "the barrier")
        if s.arrived & s.team == s.team:
            wake_at = core.issue_cycle + 1 + cl.config.event_unit.barrier_wakeup
            for c in cl.cores:
                if s.arrived >> c.id & 1:
                    cl.wake(c, wake_at)
            s.arrived = 0

    def core_left(self, core: "CoreModel") -> None:
        """An exited core no longer takes part in barriers."""
        self.s.team &= ~(1 << core.id)

    def wait_event(self, core: "CoreModel") -> None:
        bit = 1 << core.id
        if self.s.events & bit:
            self.s.events &= ~bit
            return
        self.cluster.sleep(core, "sleep", "an event (wfi / wait_event)")

    def send(self, sender: "CoreModel", mask: int) -> None:
        cl = self.cluster
        for c in cl.cores:
            if mask >> c.id & 1:
                if c.state == "sleep" and c.waiting_for.startswith("an event"):
                    cl.wake(c, sender.issue_cycle + 1 + self._wakeup())
                else:
                    self.s.events |= 1 << c.id

    def lock(self, core: "CoreModel") -> None:
        s = self.s
        if s.mutex_owner < 0:
            s.mutex_owner = core.id
            return
        s.mutex_queue[s.mutex_waiting] = core.slot
        s.mutex_waiting += 1
        self.cluster.sleep(core, "sleep", f"the mutex (held by core {s.mutex_owner})")

    def unlock(self, core: "CoreModel") -> None:
        s = self.s
        if s.mutex_owner != core.id:
            raise SimulationError(f"core {core.id} released a mutex it does not hold at "
                                  f"{describe_instruction(core.hart, core.hart.pc)}", "program")
        if s.mutex_waiting:
            nxt = self.cluster.cores[s.mutex_queue[0]]
            s.mutex_waiting -= 1
            for k in range(s.mutex_waiting):
                s.mutex_queue[k] = s.mutex_queue[k + 1]
            s.mutex_owner = nxt.id
            self.cluster.wake(nxt, core.issue_cycle + 1 + self._wakeup())
        else:
            s.mutex_owner = -1

    def fork(self, core: "CoreModel", mask: int) -> None:
        cl, s = self.cluster, self.s
        if not s.fork_set >> core.id & 1:
            raise SimulationError(f"core {core.id}: fork without an entry address (write FORK_ENTRY "
                                  f"first) at {describe_instruction(core.hart, core.hart.pc)}", "program")
        workers = [c for c in cl.cores[:cl.config.workers] if mask >> c.id & 1]
        if mask >> cl.config.workers or not workers:
            raise SimulationError(f"core {core.id}: fork mask {mask:#x} does not name workers "
                                  f"0..{cl.config.workers - 1}", "program")
        start = core.issue_cycle + 1 + self._wakeup()
        for w in workers:
            if w.state in ("run",) or (w.state == "sleep" and w.waiting_for != "a dispatch"):
                raise SimulationError(f"fork to core {w.id}, which is still busy", "program")
            h = w.hart
            h.x[10] = s.fork_arg[core.id]
            h.x[1] = mm.DISPATCH_RETURN
            if w.state == "off":
                w.stalls["sleep"] += start
                cl._start_core(w, s.fork_entry[core.id], start)
            else:
                h.pc = s.fork_entry[core.id]
                cl.wake(w, start)
                h.x[2] = cl.tcdm_end - 1024 * w.id
        s.dispatched |= mask
        s.team = mask
        s.arrived = 0

    def task_returned(self, worker: "CoreModel") -> None:
        s = self.s
        s.dispatched &= ~(1 << worker.id)
        self.cluster.sleep(worker, "sleep", "a dispatch")
        worker.sleep_start = worker.issue_cycle
        if not s.dispatched and s.joiner >= 0:
            joiner, s.joiner = self.cluster.cores[s.joiner], -1
            self.cluster.wake(joiner, worker.issue_cycle + self._wakeup())

    def join(self, core: "CoreModel") -> None:
        if self.cluster.mode == "spmd":
            raise SimulationError(f"core {core.id}: join in SPMD mode at "
                                  f"{describe_instruction(core.hart, core.hart.pc)} (cycle {core.issue_cycle}): "
                                  "join waits for workers dispatched with fork, which is controller mode "
                                  "(--controller)", "program")
        if self.s.dispatched:
            self.s.joiner = core.slot
            self.cluster.sleep(core, "sleep", "the dispatched workers to return (join)")


@dataclass
class Transfer:
    ident: int
    owner: int
    src: int
    dst: int
    length: int
    src_stride: int
    dst_stride: int
    rows: int
    start: int = 0            # cycle the first byte moves
    end: int = 0              # cycle after the last byte moved
    tcdm_base_word: int = -1  # first TCDM word touched, for bank occupancy (-1: none)

    @property
    def size(self) -> int:
        return self.length * self.rows


class Dma:
    """One DMA engine: transfers queue in order; each moves `bandwidth` bytes per cycle after a
    set-up latency. While it moves data it occupies `bandwidth / 4` consecutive TCDM banks per
    cycle on its TCDM side; cores that want those banks that cycle wait."""

    def __init__(self, cluster: "Cluster", state: PeripheralState) -> None:
        self.cluster = cluster
        self.s = state                             # the transfer registers, per core (dma_regs)
        self.next_id = 0
        self.busy_until = 0
        self.active: list[Transfer] = []
        self.pending: dict[int, int] = {}          # core -> transfers not complete
        self.waiters: list[tuple["CoreModel", int | None]] = []   # (core, wait up to id; None: all)
        self.wait_upto: dict[int, int] = {}        # core -> id set by DMA_WAIT_ID for its next wait
        self.last_id: dict[int, int] = {}
        self.bytes_moved = 0
        self.log: list[tuple[int, int, int, int, int]] = []   # (start, end, src, dst, bytes) per transfer

    def read(self, core: "CoreModel", offset: int) -> int:
        if offset == mm.DMA_START:
            return self.last_id.get(core.id, 0)
        if offset == mm.DMA_BUSY:
            return self.pending.get(core.id, 0)
        if offset == mm.DMA_WAIT:
            upto = self.wait_upto.pop(core.id, None)
            if self._outstanding(core.id, upto):
                self.waiters.append((core, upto))
                self.cluster.sleep(core, "sleep", "its DMA transfers" if upto is None
                                   else f"its DMA transfers up to id {upto}")
            return 0
        return self.register(core.id, offset, 0)

    def register(self, core_id: int, offset: int, default: int) -> int:
        """Transfer register `offset` as core `core_id` last wrote it (`default` if it never did)."""
        k = offset >> 2
        if offset & 3 or k >= len(DMA_REGISTERS) or not self.s.dma_set[core_id] >> k & 1:
            return default
        return self.s.dma_regs[core_id][k]

    def write(self, core: "CoreModel", offset: int, value: int) -> None:
        if offset == mm.DMA_START:
            self.start(core)
        elif offset == mm.DMA_WAIT_ID:
            self.wait_upto[core.id] = value
        elif offset in DMA_REGISTERS:
            self.s.dma_regs[core.id][offset >> 2] = value
            self.s.dma_set[core.id] |= 1 << (offset >> 2)
        else:
            raise SimulationError(f"core {core.id}: write to unknown DMA register +{offset:#x}", "program")

    def start(self, core: "CoreModel") -> None:
        cl = self.cluster
        def r(offset: int, default: int) -> int:
            return self.register(core.id, offset, default)
        rows = r(mm.DMA_ROWS, 1) or 1
        length = r(mm.DMA_LEN, 0)
        t = Transfer(self.next_id, core.id, r(mm.DMA_SRC, 0), r(mm.DMA_DST, 0), length,
                     r(mm.DMA_SRC_STRIDE, length), r(mm.DMA_DST_STRIDE, length), rows)
        for base, stride, what in ((t.src, t.src_stride, "source"), (t.dst, t.dst_stride, "destination")):
            last = base + (rows - 1) * stride
            if length and not (cl.memory.covers(base, length) and cl.memory.covers(last, length)):
                raise SimulationError(f"core {core.id}: DMA {what} {base:#010x} (+{length} bytes x {rows} "
                                      f"rows, stride {stride}) is outside memory at "
                                      f"{describe_instruction(core.hart, core.hart.pc)}", "program")
        self.next_id += 1
        self.last_id[core.id] = t.ident
        cfg = cl.config.dma
        t.start = max(core.issue_cycle + 1, self.busy_until) + cfg.setup_latency
        t.end = t.start + -(-t.size // cfg.bandwidth)
        self.busy_until = t.end
        self.log.append((t.start - cfg.setup_latency, t.end, t.src, t.dst, t.size))
        side = t.dst if mm.TCDM_BASE <= t.dst < cl.tcdm_end else \
            t.src if mm.TCDM_BASE <= t.src < cl.tcdm_end else None
        # Bank occupancy is modelled for contiguous TCDM sides (1-D, or 2-D with a packed stride).
        packed = rows == 1 or (t.dst_stride if side == t.dst else t.src_stride) == length
        if side is not None and packed:
            t.tcdm_base_word = (side - mm.TCDM_BASE) >> 2
        self.active.append(t)
        cl.dma_changed()
        self.pending[core.id] = self.pending.get(core.id, 0) + 1
        cl.schedule(t.end, lambda: self.complete(t))

    def complete(self, t: Transfer) -> None:
        cl = self.cluster
        mem = cl.memory
        for row in range(t.rows):
            data = mem.read_bytes(t.src + row * t.src_stride, t.length)
            mem.write_bytes(t.dst + row * t.dst_stride, data)
        self.bytes_moved += t.size
        self.active.remove(t)
        cl.dma_changed()
        self.pending[t.owner] -= 1
        wake_at = t.end + cl.config.event_unit.event_wakeup
        for waiter in [w for w in self.waiters if w[0].id == t.owner]:
            if not self._outstanding(t.owner, waiter[1]):
                self.waiters.remove(waiter)
                cl.wake(waiter[0], wake_at)

    def _outstanding(self, owner: int, upto: int | None) -> bool:
        """Whether core `owner` has transfers not yet complete (with ids <= upto, unless None)."""
        if upto is None:
            return bool(self.pending.get(owner, 0))
        return any(t.owner == owner and t.ident <= upto for t in self.active)

    def first_free_slot(self, bank: int, cycle: int) -> int:
        """The first cycle >= `cycle` at which no DMA transfer holds TCDM `bank`."""
        if not self.active:
            return cycle
        cl = self.cluster
        banks = cl.config.tcdm.banks
        words_per_cycle = max(cl.config.dma.bandwidth // 4, 1)
        moved = True
        while moved:
            moved = False
            for t in self.active:
                if t.tcdm_base_word < 0 or not t.start <= cycle < t.end:
                    continue
                first = t.tcdm_base_word + (cycle - t.start) * words_per_cycle
                if (bank - first) % banks < min(words_per_cycle, banks):
                    cycle += 1
                    moved = True
        return cycle
