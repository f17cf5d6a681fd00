"""The cycle-level cluster model (pure-Python reference engine).

Nine cores (workers 0-7, controller 8) share the TCDM, the FPUs (when configured shared), the event
unit and the DMA. simpy is the event kernel: the DMA and other long-running activities are simpy
events; the cores are advanced cycle by cycle in quanta up to the next pending simpy event, so
no core runs past an event that could affect it (conservative synchronisation, no timing error).

Per-instruction timing (docs/TIMING.md): an instruction issues when the core is ready and its
source registers are available (load-use, FPU latency); it executes (its semantics run at issue);
its cost comes from its timing class and what it did (branch taken, divisor value, which memory it
touched, bank and FPU arbitration). Each core accumulates cycles so that, per core,
cycles = instructions retired + the sum of every stall cause.

Profile (`Cluster(..., profile=True)`, off by default): every executed instruction is charged the
cycles from the cycle its core was ready to issue it to the cycle the core was ready to issue its
next one (operand waits, its own cost and any sleep it caused, e.g. at a barrier), the stall cycles
its core accumulated meanwhile, and one execution; `ClusterResult.profile` (simulator.profile).

Arbitration: TCDM banks and shared FPUs serve one request per cycle. Requests are handled in cycle
order and, within a cycle, in a core order that rotates every cycle (round-robin); a request that
finds its bank taken waits for the next free cycle and the core stalls (TCDM contention). DMA
transfers hold their bank slots first.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, TextIO

import simpy

from isa.disasm import format_decoded
from simulator.config import ClusterConfig
from simulator.functional import SimulationError, describe_instruction, trap_message
from simulator.hart import Hart, ProgramExit, Trap
from simulator.loader import Image
from simulator.memory import Memory
from simulator import memory_map as mm
from simulator.memory_map import DISPATCH_RETURN, L2_BASE, TCDM_BASE, periph_offset
from simulator.operands import F_OFFSET, register_use
from simulator.peripherals import Dma, EventUnit

CONTROLLER = 8
NEVER = 1 << 62

STALL_CAUSES = ("load_use", "jr", "branch", "jump", "mulh", "div", "fdiv", "misaligned",
                "tcdm_contention", "l2", "fpu_contention", "fpu_latency", "barrier", "sleep", "trap")
EVENTS = ("loads", "stores", "branches", "taken_branches", "jumps", "tcdm_accesses",
          "l2_accesses", "fpu_ops")

# RI5CY performance counters (PCCR index -> how to read it off the core's counters)
_PCCR_SOURCES: dict[int, Callable[["CoreModel"], int]] = {
    0: lambda c: c.now_cycles(),
    1: lambda c: c.hart.instret,
    2: lambda c: c.stalls["load_use"],
    3: lambda c: c.stalls["jr"],
    5: lambda c: c.events["loads"],
    6: lambda c: c.events["stores"],
    7: lambda c: c.events["jumps"],
    8: lambda c: c.events["branches"],
    9: lambda c: c.events["taken_branches"],
    11: lambda c: c.l2_loads,
    12: lambda c: c.l2_stores,
    13: lambda c: c.l2_load_cycles,
    14: lambda c: c.l2_store_cycles,
    15: lambda c: c.stalls["tcdm_contention"],
}

_FP_LATENCY_FIELD = {"fadd": "latency_add", "fmul": "latency_mul", "fma": "latency_fma",
                     "fconv": "latency_conv", "fnoncomp": "latency_noncomp"}
_FP_BLOCKING_FIELD = {"fdiv32": "fdiv32", "fsqrt32": "fsqrt32", "fdiv16": "fdiv16", "fsqrt16": "fsqrt16"}


class ClusterHart(Hart):
    """A hart whose loads and stores may reach the cluster's peripherals and whose counter CSRs
    read the timing model."""

    def __init__(self, memory: Memory, core: "CoreModel", **kwargs) -> None:
        super().__init__(memory, core.id, **kwargs)
        self.core = core

    def load(self, address: int, size: int, signed: bool = False) -> int:
        address &= 0xFFFF_FFFF
        off = periph_offset(address)
        if off is None:
            return super().load(address, size, signed)
        self.last_access = (address, size, False)
        return self.core.cluster.periph_read(self.core, off) & 0xFFFF_FFFF

    def store(self, address: int, size: int, value: int) -> None:
        address &= 0xFFFF_FFFF
        off = periph_offset(address)
        if off is None:
            super().store(address, size, value)
            return
        self.last_access = (address, size, True)
        self.core.cluster.periph_write(self.core, off, value & 0xFFFF_FFFF)

    def wait_for_event(self) -> None:
        self.core.cluster.event_unit.wait_event(self.core)

    def _csr_read(self, n: int) -> int:
        core = self.core
        if n in (0xB00, 0xC00):
            return core.now_cycles() & 0xFFFF_FFFF
        if n in (0xB80, 0xC80):
            return core.now_cycles() >> 32
        if 0x780 <= n < 0x79F or n in (0xCC0, 0xCC1):
            core.sync_perf_counters()
        return super()._csr_read(n)

    def _csr_write(self, n: int, v: int) -> None:
        if 0x780 <= n <= 0x79F or n in (0xCC0, 0xCC1):
            self.core.sync_perf_counters()
        super()._csr_write(n, v)


@dataclass
class CoreModel:
    """One core: architectural state plus timing state and counters."""
    id: int
    cluster: "Cluster"
    hart: ClusterHart = field(init=False)
    ready: int = NEVER                  # cycle at which the next instruction may issue
    state: str = "off"                  # off | run | sleep | done
    waiting_for: str = ""
    sleep_start: int = 0
    sleep_cause: str = "sleep"
    exit_code: int | None = None
    end_cycle: int | None = None
    issue_cycle: int = 0                # cycle of the instruction being executed
    prev_dest: int = -1                 # x register written by the previous instruction
    fpu: int = 0
    reg_ready: list[int] = field(default_factory=lambda: [0] * 64)
    reg_cause: list[str] = field(default_factory=lambda: ["load_use"] * 64)
    stalls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STALL_CAUSES, 0))
    events: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVENTS, 0))
    l2_loads: int = 0
    l2_stores: int = 0
    l2_load_cycles: int = 0
    l2_store_cycles: int = 0
    perf_last: list[int] = field(default_factory=lambda: [0] * 31)
    regions_open: dict[str, tuple[int, int, dict[str, int]]] = field(default_factory=dict)
    # profile (Cluster._profile_step): the instruction being timed (pc, -1 none) since prof_t, the
    # stall counters then, the counters per code word (simulator.profile.WIDTH each) and per pc
    # outside the table
    prof_pc: int = -1
    prof_t: int = 0
    prof_snap: Any = None
    prof_tab: Any = None
    prof_extra: dict[int, list[int]] = field(default_factory=dict)

    def now_cycles(self) -> int:
        return self.issue_cycle

    def sync_perf_counters(self) -> None:
        """Bring the RI5CY PCCR registers up to date: enabled events advance by what happened
        since the last sync (counting is gated by PCMR bit 0 and the PCER bit of each event)."""
        h = self.hart
        for i, source in _PCCR_SOURCES.items():
            now = source(self)
            if h.pcmr & 1 and h.pcer >> i & 1:
                total = h.pccr[i] + now - self.perf_last[i]
                h.pccr[i] = min(total, 0xFFFF_FFFF) if h.pcmr & 2 else total & 0xFFFF_FFFF
            self.perf_last[i] = now

    def total_stalls(self) -> int:
        return sum(self.stalls.values())


@dataclass
class RegionRecord:
    name: str
    per_core: dict[int, dict[str, int]] = field(default_factory=dict)   # core -> counters
    spans: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # core -> [(first, end) cycle]

    def add(self, core: int, cycles: int, instret: int, stalls: dict[str, int],
            span: tuple[int, int] | None = None) -> None:
        if span is not None:
            self.spans.setdefault(core, []).append(span)
        rec = self.per_core.setdefault(core, {"cycles": 0, "instret": 0, "count": 0,
                                              "stalls": dict.fromkeys(STALL_CAUSES, 0)})
        rec["cycles"] += cycles
        rec["instret"] += instret
        rec["count"] += 1
        for k, v in stalls.items():
            rec["stalls"][k] += v


@dataclass
class ClusterResult:
    exit_code: int
    reason: str
    cycles: int
    cores: list[CoreModel]
    regions: dict[str, RegionRecord]
    config: ClusterConfig
    mode: str
    engine: str = "py"
    profile: Any = None        # simulator.profile.Profile ({pc: (count, cycles)}, ...) when profiled

    @property
    def instret(self) -> int:
        return sum(c.hart.instret for c in self.cores)


class Cluster:
    """The cluster: cores, TCDM banks, FPUs, event unit, DMA, under one simpy environment."""

    def __init__(self, image: Image, config: ClusterConfig, cores: int = 8, controller: bool = False,
                 trace: TextIO | None = None, trace_cores: set[int] | None = None,
                 trace_window: tuple[int, int] | None = None, engine: str = "py",
                 profile: bool = False) -> None:
        """`engine`: "py" (the reference) or "c" (the compiled engine; see `engine_used`, which is
        "py" when the extension is not built, or when tracing, which the reference does).
        `profile`: count executions and cycles per instruction (ClusterResult.profile)."""
        from simulator.loader import build_memory
        self.config = config
        self.cengine = None
        self.wakeups = 0                   # counts wake-ups and core starts (for _advance_one)
        if engine == "c" and trace is None:
            from simulator.cengine import binding
            if binding.load() is not None:
                from simulator.cengine.engine import CEngine, make_view_classes
                self.cengine = CEngine(self, STALL_CAUSES, EVENTS)
                self._core_class, self._hart_class = make_view_classes(CoreModel, ClusterHart,
                                                                       STALL_CAUSES, EVENTS)
        elif engine not in ("py", "c"):
            raise SimulationError(f"unknown engine {engine!r} (c or py)", "config")
        self.engine_used = "c" if self.cengine is not None else "py"
        self.image = image
        self.mode = "controller" if controller else "spmd"
        self.memory = build_memory(image, config.tcdm.size_kib * 1024, config.l2.size_kib * 1024)
        self.tcdm_end = TCDM_BASE + config.tcdm.size_kib * 1024
        self.l2_end = L2_BASE + config.l2.size_kib * 1024
        self.env = simpy.Environment()
        self.now = 0
        self.horizon = NEVER
        self.bank_mask = config.tcdm.banks - 1
        if self.cengine is not None:      # the C loop and the reference share these arrays
            self.bank_free = self.cengine.state.bank_free
            self.fpu_free = self.cengine.state.fpu_free
            self.cengine.setup_memory(self.memory, image)
        else:
            self.bank_free = [0] * config.tcdm.banks
            self.fpu_free = [0] * (config.fpu.count + 1)
        self.cores: list[CoreModel] = []
        tohost = image.symbols.get("tohost")
        for i in range(config.workers):
            self.cores.append(self._make_core(i, tohost))
        self.cores.append(self._make_core(CONTROLLER, tohost))
        self.event_unit = EventUnit(self)
        self.dma = Dma(self)
        self.regions: dict[str, RegionRecord] = {}
        prefix = mm.REGION_SYMBOL_PREFIX
        self.region_names = {value: name[len(prefix):] for name, value in image.symbols.items()
                             if name.startswith(prefix)}
        self.finished: tuple[int, str] | None = None
        self.trace = trace
        self.trace_cores = trace_cores
        self.trace_window = trace_window or (0, NEVER)
        self._timing_cache: dict[int, tuple] = {}
        self.profile = profile
        self.sleeps: list[tuple[int, str, int, int]] = []   # profile: (core, cause, from, to) per sleep
        if profile:
            self._setup_profile(image)
        if controller:
            self._start_core(self.cores[-1], image.entry, 0)
            self.started = [self.cores[-1]]
        else:
            if not 1 <= cores <= config.workers:
                raise SimulationError(f"--cores {cores}: the cluster has {config.workers} workers "
                                      f"(1..{config.workers})", "config")
            self.started = self.cores[:cores]
            for c in self.started:
                self._start_core(c, image.entry, 0)
            self.event_unit.team = sum(1 << c.id for c in self.started)

    def _make_core(self, core_id: int, tohost: int | None) -> CoreModel:
        traps = self.config.core.misaligned == "trap"
        if self.cengine is not None:
            index = len(self.cores)
            cstruct = self.cengine.core_struct(index)
            core = self._core_class(core_id, self, cstruct, self.cengine.state.ready, index)
            core.hart = self._hart_class(self.memory, core, cstruct, tohost=tohost, misaligned_traps=traps)
        else:
            core = CoreModel(core_id, self)
            core.hart = ClusterHart(self.memory, core, tohost=tohost, misaligned_traps=traps)
        core.fpu = core_id % self.config.fpu.count if core_id != CONTROLLER else self.config.fpu.count
        return core

    def _setup_profile(self, image: Image) -> None:
        """Profile tables over the pre-decoded code range (the C loop's, shared with it in C mode)."""
        from simulator import profile as prof
        if self.cengine is not None:
            self.prof_base, self.prof_words = self.cengine.enable_profile(prof.MAX_WORDS, prof.WIDTH)
            for i, core in enumerate(self.cores):
                core.prof_tab, core.prof_snap = self.cengine.profile_arrays(i)
        else:
            self.prof_base, words = prof.code_range(image)
            self.prof_words = min(words, prof.MAX_WORDS)
            for core in self.cores:
                core.prof_tab = [0] * (self.prof_words * prof.WIDTH)
                core.prof_snap = [0] * len(STALL_CAUSES)

    def _profile_step(self, core: CoreModel, pc: int, t: int) -> None:
        """Close the instruction timed so far (cycles to t, stalls since its issue), start timing pc
        (the twin of engine.c profile_step)."""
        now = list(core.stalls.values())
        if core.prof_pc >= 0:
            self._profile_add(core, core.prof_pc, 0, t - core.prof_t, now)
        core.prof_snap[0:len(now)] = now
        self._profile_add(core, pc, 1, 0, None)
        core.prof_pc = pc
        core.prof_t = t

    def _profile_add(self, core: CoreModel, pc: int, count: int, cycles: int, stalls: list[int] | None) -> None:
        k = (pc - self.prof_base) >> 2
        if not pc & 3 and 0 <= k < self.prof_words:
            tab, e = core.prof_tab, k * (2 + len(STALL_CAUSES))
        else:
            tab, e = core.prof_extra.setdefault(pc, [0] * (2 + len(STALL_CAUSES))), 0
        tab[e] += count
        tab[e + 1] += cycles
        if stalls is not None:
            snap = core.prof_snap
            for i, v in enumerate(stalls):
                tab[e + 2 + i] += v - snap[i]

    def _profile_finish(self) -> Any:
        """Close every core's last instruction at its end cycle; the run's Profile."""
        from simulator import profile as prof
        for c in self.cores:
            if c.state == "sleep":
                self.sleeps.append((c.id, c.sleep_cause, c.sleep_start, max(c.end_cycle or 0, c.sleep_start)))
            if c.prof_pc >= 0 and c.end_cycle is not None:
                self._profile_add(c, c.prof_pc, 0, c.end_cycle - c.prof_t, list(c.stalls.values()))
                c.prof_pc = -1
        return prof.collect(self)

    def _start_core(self, core: CoreModel, pc: int, cycle: int) -> None:
        h = core.hart
        h.pc = pc
        # Each core gets a stack at the top of the TCDM (1 KiB per core, controller lowest).
        h.x[2] = self.tcdm_end - 1024 * (core.id if core.id != CONTROLLER else self.config.workers)
        core.state = "run"
        core.ready = cycle
        self.wakeups += 1

    # --- sleeping and waking (used by the peripherals) ---------------------------------------------
    def sleep(self, core: CoreModel, cause: str, what: str) -> None:
        core.state = "sleep"
        core.sleep_cause = cause
        core.waiting_for = what
        core.sleep_start = core.issue_cycle + 1
        core.ready = NEVER

    def wake(self, core: CoreModel, cycle: int) -> None:
        if core.state != "sleep":
            return
        self.wakeups += 1
        cycle = max(cycle, core.sleep_start)
        if self.profile:
            self.sleeps.append((core.id, core.sleep_cause, core.sleep_start, cycle))
        core.stalls[core.sleep_cause] += cycle - core.sleep_start
        core.state = "run"
        core.waiting_for = ""
        core.ready = cycle

    def schedule(self, cycle: int, action: Callable[[], None]) -> None:
        """Run `action` at `cycle` as a simpy event; cores will not run past it before it fires."""
        delay = max(cycle - self.env.now, 0)
        event = self.env.timeout(delay)
        event.callbacks.append(lambda _event: action())
        self.horizon = min(self.horizon, cycle)

    # --- peripherals -------------------------------------------------------------------------------
    def periph_read(self, core: CoreModel, offset: int) -> int:
        if offset < mm.DMA_OFFSET:
            return self.event_unit.read(core, offset)
        if offset < mm.REGION_BEGIN:
            return self.dma.read(core, offset - mm.DMA_OFFSET)
        raise SimulationError(f"core {core.id}: read of write-only peripheral address "
                              f"+{offset:#x} at {describe_instruction(core.hart, core.hart.pc)}", "program")

    def periph_write(self, core: CoreModel, offset: int, value: int) -> None:
        if offset < mm.DMA_OFFSET:
            self.event_unit.write(core, offset, value)
        elif offset < mm.REGION_BEGIN:
            self.dma.write(core, offset - mm.DMA_OFFSET, value)
        elif offset < mm.REGION_END:
            self.region_event(core, (offset - mm.REGION_BEGIN) >> 2, True)
        elif offset < mm.REGION_END + 4 * mm.MAX_REGIONS:
            self.region_event(core, (offset - mm.REGION_END) >> 2, False)
        else:
            raise SimulationError(f"core {core.id}: write to unknown peripheral address +{offset:#x}",
                                  "program")

    def region_event(self, core: CoreModel, region_id: int, begin: bool) -> None:
        name = self.region_names.get(region_id, f"region{region_id}")
        # The region starts after its region_begin store and includes its region_end store.
        snapshot = (core.issue_cycle + 1, core.hart.instret + 1, dict(core.stalls))
        if begin:
            core.regions_open[name] = snapshot
            return
        start = core.regions_open.pop(name, None)
        if start is None:
            raise SimulationError(f"core {core.id}: region_end {name!r} without region_begin at "
                                  f"{describe_instruction(core.hart, core.hart.pc)}", "program")
        stalls = {k: core.stalls[k] - start[2][k] for k in STALL_CAUSES}
        # The region includes the region_end instruction itself.
        self.regions.setdefault(name, RegionRecord(name)).add(
            core.id, core.issue_cycle + 1 - start[0], core.hart.instret + 1 - start[1], stalls,
            (start[0], core.issue_cycle + 1))

    # --- timing ------------------------------------------------------------------------------------
    @staticmethod
    def _timing(d) -> tuple:
        """(timing class, scoreboard indices read, writes as (index, is x, is post-increment rs1),
        x register written last or -1), computed once per decoded instruction."""
        timing = d.__dict__.get("timing")
        if timing is None:
            use = register_use(d.instr)
            regs = [(name, off, getattr(d, name) + off) for name, off in zip(use.reads, use.reads_offset)]
            reads = tuple(r for _name, off, r in regs if r or off)
            writes = tuple((getattr(d, name) + off, off == 0, name == "rs1")
                           for name, off in zip(use.writes, use.writes_offset) if getattr(d, name) or off)
            x_writes = [r for r, is_x, _ in writes if is_x]
            timing = d.timing = (d.instr.timing, reads, writes, x_writes[-1] if x_writes else -1)
        return timing

    def _memory_cost(self, core: CoreModel, start: int, access: tuple[int, int, bool]) -> int:
        """Cycle at which the access completes (the core's next issue cycle)."""
        address, size, is_store = access
        cfg = self.config
        ev = core.events
        ev["stores" if is_store else "loads"] += 1
        if TCDM_BASE <= address < self.tcdm_end:
            words = [address >> 2]
            if (address & 3) + size > 4:
                words.append((address >> 2) + 1)
            grant = start
            for w in words:
                bank = (w - (TCDM_BASE >> 2)) & self.bank_mask
                grant = max(grant, self.bank_free[bank])
                grant = self.dma.first_free_slot(bank, grant)
                self.bank_free[bank] = grant + 1
                ev["tcdm_accesses"] += 1
                grant += 1
            grant -= 1
            end = grant + 1
            extra = len(words) - 1
            if extra:
                core.stalls["misaligned"] += extra * cfg.core.misaligned_extra
                end = max(end, start + 1 + extra * cfg.core.misaligned_extra)
            contention = end - (start + 1) - extra * cfg.core.misaligned_extra
            if contention > 0:
                core.stalls["tcdm_contention"] += contention
            return end
        if periph_offset(address) is not None:
            return start + 1
        # L2 (and any other memory outside the TCDM): a blocking access of l2.latency cycles.
        latency = cfg.l2.latency
        ev["l2_accesses"] += 1
        core.stalls["l2"] += latency - 1
        if is_store:
            core.l2_stores += 1
            core.l2_store_cycles += latency
        else:
            core.l2_loads += 1
            core.l2_load_cycles += latency
        return start + latency

    def issue(self, core: CoreModel, t: int) -> None:
        """Issue and execute the next instruction of `core` at cycle >= t; set its next ready cycle."""
        h = core.hart
        pc = h.pc
        cfg = self.config
        if self.profile:
            self._profile_step(core, pc, t)
        if pc == DISPATCH_RETURN and core.id != CONTROLLER:
            core.issue_cycle = t
            self.event_unit.task_returned(core)
            return
        d = None
        try:
            d = h.fetch_decode(pc)
        except Trap as trap:
            self._trap(core, trap, d, t)
            return
        cls, reads, writes, last_x_write = self._timing(d)
        # 1. wait for source operands (load-use, FPU latency)
        start = t
        cause = None
        rr = core.reg_ready
        for r in reads:
            if rr[r] > start:
                start = rr[r]
                cause = core.reg_cause[r]
        if cause is not None:
            core.stalls[cause] += start - t
        if cls == "jalr" and d.rs1 and d.rs1 == core.prev_dest:
            core.stalls["jr"] += cfg.core.jalr_dependency_stall
            start += cfg.core.jalr_dependency_stall
        divisor = h.x[d.rs2] if cls == "div" else 0
        core.issue_cycle = start
        old_values = self._written_registers(h, d) if self.trace is not None else None
        # 2. execute
        try:
            h.next_pc = pc + 4
            h.last_access = None
            h.taken = False
            d.sem(h, d)
        except Trap as trap:
            self._trap(core, trap, d, start)
            return
        except ProgramExit as done:
            h.instret += 1
            core.ready = NEVER
            core.state = "done"
            core.exit_code = done.code
            core.end_cycle = start + 1
            self._trace_line(core, start, pc, d, old_values)
            self._core_exited(core, done)
            return
        # 3. cost
        end = start + 1
        dest_ready = 0
        dest_cause = "load_use"
        if cls == "load" or cls == "store":
            access = h.last_access
            if access is not None:
                end = self._memory_cost(core, start, access)
                if cls == "load":
                    dest_ready = end + cfg.core.load_use_stall
        elif cls == "branch":
            core.events["branches"] += 1
            if h.taken:
                core.events["taken_branches"] += 1
                core.stalls["branch"] += cfg.core.branch_taken - 1
                end = start + cfg.core.branch_taken
            else:
                core.stalls["branch"] += cfg.core.branch_not_taken - 1
                end = start + cfg.core.branch_not_taken
        elif cls == "jal" or cls == "jalr":
            core.events["jumps"] += 1
            cost = cfg.core.jal if cls == "jal" else cfg.core.jalr
            core.stalls["jump"] += cost - 1
            end = start + cost
        elif cls == "mul":
            end = start + cfg.core.mul
            core.stalls["mulh"] += cfg.core.mul - 1
        elif cls == "mulh":
            end = start + cfg.core.mulh
            core.stalls["mulh"] += cfg.core.mulh - 1
        elif cls == "div":
            cost = divide_cycles(divisor, d.instr.mnemonic in ("div", "rem"), cfg.core.div_base,
                                 cfg.core.div_by_zero)
            end = start + cost
            core.stalls["div"] += cost - 1
        elif cls in _FP_LATENCY_FIELD or cls in _FP_BLOCKING_FIELD:
            core.events["fpu_ops"] += 1
            k = core.fpu
            grant = max(start, self.fpu_free[k])
            if grant > start:
                core.stalls["fpu_contention"] += grant - start
            if cls in _FP_BLOCKING_FIELD:
                busy = getattr(cfg.fpu, _FP_BLOCKING_FIELD[cls])
                self.fpu_free[k] = grant + busy
                end = grant + busy
                core.stalls["fdiv"] += busy - 1
            else:
                self.fpu_free[k] = grant + 1
                end = grant + 1
                latency = getattr(cfg.fpu, _FP_LATENCY_FIELD[cls])
                if latency:
                    dest_ready = end + latency
                    dest_cause = "fpu_latency"
        # 4. register results and retire
        for r, _is_x, post_increment in writes:
            if dest_ready and not (post_increment and cls == "load"):
                rr[r] = dest_ready
                core.reg_cause[r] = dest_cause
            elif rr[r] > end:
                rr[r] = 0
        core.prev_dest = last_x_write
        h.advance(pc)
        if h.pc == pc and (cls == "jal" or cls == "branch"):
            # Registers cannot change while a core jumps to itself: it can never leave.
            raise SimulationError(f"core {core.id}: program hangs in a jump-to-self loop at "
                                  f"{describe_instruction(h, pc)} (cycle {start})", "hang")
        if core.state == "sleep":
            core.sleep_start = max(core.sleep_start, end)
        elif core.ready <= t:
            core.ready = end
        else:                      # woken by its own instruction (the last core at a barrier)
            core.ready = max(core.ready, end)
        if self.trace is not None:
            self._trace_line(core, start, pc, d, old_values)

    @staticmethod
    def _reg_value(h: Hart, r: int, off: int) -> int:
        return h.f[r] if off else h.x[r]

    def _written_registers(self, h: Hart, d) -> list[tuple[str, int, int]]:
        use = register_use(d.instr)
        return [(name, off, self._reg_value(h, getattr(d, name), off))
                for name, off in zip(use.writes, use.writes_offset)]

    def _trace_line(self, core: CoreModel, cycle: int, pc: int, d, old_values) -> None:
        if self.trace is None or old_values is None:
            return
        if self.trace_cores is not None and core.id not in self.trace_cores:
            return
        lo, hi = self.trace_window
        if not lo <= cycle < hi:
            return
        h = core.hart
        parts = []
        for name, off, _old in old_values:
            r = getattr(d, name)
            if off == 0 and r == 0:
                continue
            parts.append(f"{'f' if off else 'x'}{r}={self._reg_value(h, r, off):#010x}")
        if h.last_access is not None:
            addr, size, is_store = h.last_access
            parts.append(f"{'st' if is_store else 'ld'}[{addr:#010x}]")
        text = format_decoded(d, pc).replace("\t", " ")
        self.trace.write(f"{cycle:>10} c{core.id} {pc:08x} {text:<32} {' '.join(parts)}\n")

    def _trap(self, core: CoreModel, trap: Trap, d, cycle: int) -> None:
        h = core.hart
        try:
            h.enter_trap(trap, d)
        except Trap:
            raise SimulationError(trap_message(core.id, h, trap) + f" (cycle {cycle})", "trap") from None
        # Entering the handler costs like a jump; the trapping instruction does not retire.
        core.stalls["trap"] += self.config.core.jal
        core.ready = cycle + self.config.core.jal
        core.issue_cycle = cycle

    def _core_exited(self, core: CoreModel, done: ProgramExit) -> None:
        if "tohost" in done.reason:
            self.finished = (done.code, f"core {core.id}: {done.reason}")
            return
        if self.mode == "controller":
            if core.id == CONTROLLER:
                self.finished = (done.code, f"controller exited with code {done.code}")
            return
        self.event_unit.core_left(core)
        if all(c.state == "done" for c in self.started):
            codes = [c.exit_code for c in self.started if c.exit_code]
            code = codes[0] if codes else 0
            self.finished = (code, f"all {len(self.started)} cores exited" +
                             (f"; first nonzero exit code {code}" if codes else ""))

    # --- the run loop ------------------------------------------------------------------------------
    def _cores_process(self):
        try:
            yield from self._advance_cores()
        except SimulationError as exc:   # reported by run(), not through simpy's failure path
            self.error = exc

    def _advance_cores(self):
        cores = self.cores
        n = len(cores)
        max_cycles = self.config.max_cycles
        while self.finished is None:
            peek = self.env.peek()
            self.horizon = NEVER if peek == float("inf") else int(peek)
            self.now = int(self.env.now)
            if self.cengine is not None:
                self._advance_compiled()
            while self.finished is None and self.cengine is None:
                live = [c for c in cores if c.ready < NEVER]
                if len(live) == 1:
                    if self._advance_one(live[0], max_cycles):
                        break
                    continue
                t = min(c.ready for c in live) if live else NEVER
                if t >= self.horizon:
                    break
                if t >= max_cycles:
                    self._max_cycles_error()
                self.now = t
                first = t % n
                for i in range(n):
                    c = cores[(first + i) % n]
                    if c.ready == t:
                        self.issue(c, t)
                        if self.finished is not None:
                            break
            if self.finished is not None:
                break
            if self.horizon == NEVER:
                self._deadlock_error()
            yield self.env.timeout(self.horizon - self.env.now)

    def _advance_one(self, core: CoreModel, max_cycles: int) -> bool:
        """One runnable core: no arbitration order to keep, so skip the per-cycle scan. Returns True
        at the horizon or the end, False when the core sleeps or another core may have become
        runnable (a wake-up or a fork happened)."""
        wakeups = self.wakeups
        while self.finished is None:
            t = core.ready
            if t >= self.horizon:
                return True
            if t >= max_cycles:
                self._max_cycles_error()
            self.now = t
            self.issue(core, t)
            if core.ready == NEVER or self.wakeups != wakeups:
                return False
        return True

    def _advance_compiled(self) -> None:
        """The compiled loop up to the horizon; instructions it hands back run in the reference."""
        ce = self.cengine
        while self.finished is None:
            status, index, t = ce.run(self.horizon)
            if status == 0:
                self.now = int(ce.state.now)
                return
            if status == 2:
                self.now = int(ce.state.now)
                self._max_cycles_error()
            core = self.cores[index]
            self.now = t
            if status == 3:
                raise SimulationError(f"core {core.id}: program hangs in a jump-to-self loop at "
                                      f"{describe_instruction(core.hart, core.hart.pc)} "
                                      f"(cycle {core.issue_cycle})", "hang")
            pc = core.hart.pc
            self.issue(core, t)
            ce.refresh(pc)
            ce.resume_after_python()

    def dma_changed(self) -> None:
        """The DMA's active transfers changed: the compiled loop needs them for bank slots."""
        if self.cengine is not None:
            self.cengine.sync_dma(self.dma.active)

    def run(self) -> ClusterResult:
        self.error: SimulationError | None = None
        self.env.process(self._cores_process())
        self.env.run()
        if self.error is not None:
            raise self.error
        if self.finished is None:
            self._deadlock_error()
        code, reason = self.finished
        end = max([c.end_cycle or 0 for c in self.cores] + [c.issue_cycle + 1 for c in self.started])
        end = max(end, self.now + 1 if self.mode == "controller" else 0)
        self._close_accounting(end)
        return ClusterResult(code, reason, end, self.cores, self.regions, self.config, self.mode,
                             self.engine_used, self._profile_finish() if self.profile else None)

    def _close_accounting(self, end: int) -> None:
        """Cores still asleep (or never started) at the end spent the rest of the run asleep."""
        for c in self.cores:
            if c.state == "sleep":
                c.stalls[c.sleep_cause] += max(end - c.sleep_start, 0)
                c.end_cycle = end
            elif c.state == "run":
                c.end_cycle = max(c.ready, c.issue_cycle + 1)
            elif c.state == "off" and (self.mode == "controller" and c.id < self.config.workers):
                c.stalls["sleep"] += end
                c.end_cycle = end

    def _max_cycles_error(self) -> None:
        where = "; ".join(f"core {c.id} at {describe_instruction(c.hart, c.hart.pc)}"
                          for c in self.cores if c.state == "run")
        raise SimulationError(f"the program did not finish within {self.config.max_cycles} cycles "
                              f"({where}); raise --max-cycles if it needs longer", "max-cycles")

    def _deadlock_error(self) -> None:
        asleep = [c for c in self.cores if c.state == "sleep"]
        what = "; ".join(f"core {c.id} waits for {c.waiting_for} at "
                         f"{describe_instruction(c.hart, c.hart.pc - 4 if c.hart.pc >= 4 else 0)}"
                         for c in asleep)
        raise SimulationError(f"deadlock at cycle {self.now}: every live core is asleep and nothing "
                              f"is pending ({what})", "deadlock")


def divide_cycles(divisor: int, signed: bool, base: int, by_zero: int) -> int:
    """RI5CY divider latency: clz(|divisor|) + base cycles, `by_zero` for a zero divisor."""
    divisor &= 0xFFFF_FFFF
    if divisor == 0:
        return by_zero
    if signed and divisor >> 31:
        divisor = (-divisor) & 0xFFFF_FFFF
    return (32 - divisor.bit_length()) + base
