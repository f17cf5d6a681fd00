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
from functools import partial
from typing import Any, Callable, TextIO

import simpy

from mcusim.isa.disasm import format_decoded
from mcusim.isa.profiles import resolve as resolve_extensions
from mcusim.isa.timing import is_vector_fp
from mcusim.simulator.config import ClusterConfig
from mcusim.simulator.functional import SimulationError, describe_instruction, trap_message
from mcusim.simulator.hart import Hart, ProgramExit, Trap
from mcusim.simulator.ifetch import InstrFetch
from mcusim.simulator.loader import Image
from mcusim.simulator.memory import Memory
from mcusim.simulator import memory_map as mm
from mcusim.simulator.memory_map import (ALIAS_BASE, DISPATCH_RETURN, L2_BASE, PERIPH_BASE, PERIPH_SIZE, TCDM_BASE,
                                  periph_offset)
from mcusim.simulator.operands import F_OFFSET, register_use, scoreboard_use
from mcusim.simulator.peripherals import Dma, EventUnit, PeripheralState

CONTROLLER = 8
NEVER = 1 << 62
PERIPH_END = PERIPH_BASE + PERIPH_SIZE

STALL_CAUSES = ("load_use", "jr", "branch", "jump", "mulh", "div", "fdiv", "misaligned",
                "tcdm_contention", "l2", "fpu_contention", "fpu_latency", "barrier", "sleep", "trap", "imiss",
                "dma_bank")
EVENTS = ("loads", "stores", "branches", "taken_branches", "jumps", "tcdm_accesses",
          "l2_accesses", "fpu_ops", "fpu_vec_ops")

# RI5CY performance counters (PCCR index -> how to read it off the core's counters)
_PCCR_SOURCES: dict[int, Callable[["CoreModel"], int]] = {
    0: lambda c: c.now_cycles(),
    1: lambda c: c.hart.instret,
    2: lambda c: c.stalls["load_use"],
    3: lambda c: c.stalls["jr"],
    4: lambda c: c.stalls["imiss"],
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

    # (Hart.load / Hart.store are named rather than reached through super(): these are hot paths.)
    def load(self, address: int, size: int, signed: bool = False) -> int:
        address &= 0xFFFF_FFFF
        if not (PERIPH_BASE <= address < PERIPH_END or address >= ALIAS_BASE):
            return Hart.load(self, address, size, signed)
        self.last_access = (address, size, False)
        return self.core.cluster.periph_read(self.core, periph_offset(address)) & 0xFFFF_FFFF

    def store(self, address: int, size: int, value: int) -> None:
        address &= 0xFFFF_FFFF
        if not (PERIPH_BASE <= address < PERIPH_END or address >= ALIAS_BASE):
            Hart.store(self, address, size, value)
            return
        self.last_access = (address, size, True)
        self.core.cluster.periph_write(self.core, periph_offset(address), value & 0xFFFF_FFFF)

    def fetch_decode(self, pc: int):
        """The decoded instruction at `pc`, with what the cluster needs to issue it
        (`decoded.timing`, see Cluster._timing)."""
        d = self.decoded.get(pc)
        if d is None:
            # the cores share one decoding per instruction word (a decoding depends on the word, the
            # ISA and the configuration alone: all the cluster's); traps take the hart's own path
            by_word = self.core.cluster.decoded_words
            word = None
            if not pc & 1 and self.mem.covers(pc, 4):
                word = self.mem.read(pc, 2)
                if word & 3 == 3:
                    word = self.mem.read(pc, 4)
            d = by_word.get(word)
            if d is None:
                d = super().fetch_decode(pc)
                d.timing = self.core.cluster._timing(d)
                if word is not None:
                    by_word[word] = d
            else:
                self.decoded[pc] = d
        return d

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
    divisor: int = 0                    # of the div/rem being issued, read before it executes
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
    # stall counters then, the counters per code halfword (simulator.profile.WIDTH each) and per pc
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
                # saturating: within 0..2**32 - 1 (a source can fall: a program may write minstret)
                h.pccr[i] = min(max(total, 0), 0xFFFF_FFFF) if h.pcmr & 2 else total & 0xFFFF_FFFF
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
    exit_code: int | None      # None when the run ended in an error (reason: its kind)
    reason: str
    cycles: int
    cores: list[CoreModel]
    regions: dict[str, RegionRecord]
    config: ClusterConfig
    mode: str
    engine: str = "py"
    profile: Any = None        # simulator.profile.Profile ({pc: (count, cycles)}, ...) when profiled
    dma_bytes: int = 0         # bytes the DMA moved between L2 and the TCDM

    @property
    def instret(self) -> int:
        return sum(c.hart.instret for c in self.cores)

    @property
    def ran(self) -> list[CoreModel]:
        """The cores that took part in the run (reports and the energy model leave the others out)."""
        return [c for c in self.cores if not (c.state == "off" and not c.hart.instret)]


class Cluster:
    """The cluster: cores, TCDM banks, FPUs, event unit, DMA, under one simpy environment."""

    def __init__(self, image: Image, config: ClusterConfig, cores: int = 8, controller: bool = False,
                 trace: TextIO | None = None, trace_cores: set[int] | None = None,
                 trace_window: tuple[int, int] | None = None, engine: str = "py",
                 profile: bool = False, cache_code: bool = False) -> None:
        """`engine`: "py" (the reference) or "c" (the compiled engine; see `engine_used`, which is
        "py" when the extension is not built).
        `profile`: count executions and cycles per instruction (ClusterResult.profile).
        `cache_code`: the compiled engine keeps a large program's pre-decoded code in the disk cache
        (simulator.diskcache; for programs run again, such as a training step)."""
        from mcusim.simulator.loader import build_memory
        self.config = config
        self.cengine = None
        self.wakeups = 0                   # counts wake-ups and core starts (for _advance_one)
        self.decoded_words: dict[int, Any] = {}   # instruction word -> decoding (ClusterHart.fetch_decode)
        if engine == "c":
            from mcusim.simulator.cengine import binding
            if binding.load() is not None:
                from mcusim.simulator.cengine.engine import CEngine, make_view_classes
                self.cengine = CEngine(self, STALL_CAUSES, EVENTS)
                self._core_class, self._hart_class = make_view_classes(CoreModel, ClusterHart,
                                                                       STALL_CAUSES, EVENTS)
                from mcusim.simulator.cengine.engine import MarkView
                self._mark_view = MarkView
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
            self.cengine.setup_memory(self.memory, image, cache_code)
        else:
            self.bank_free = [0] * config.tcdm.banks
            self.fpu_free = [0] * (config.fpu.count + 1)
        self.icache: InstrFetch | None = None      # None: ideal instruction fetch
        if config.icache.model == "cache":
            arrays = self.cengine.icache_arrays() if self.cengine is not None else None
            self.icache = InstrFetch(config.icache, 9, arrays)
        self.cores: list[CoreModel] = []
        tohost = image.symbols.get("tohost")
        for i in range(config.workers):
            self.cores.append(self._make_core(i, tohost))
        self.cores.append(self._make_core(CONTROLLER, tohost))
        # the event unit's and DMA registers' state: the C engine's own (its eu.c runs the common
        # operations) or, for the reference engine, a Python copy
        periph = self.cengine.peripheral_state(self, controller) if self.cengine is not None else PeripheralState()
        self.event_unit = EventUnit(self, periph)
        self.dma = Dma(self, periph)
        self.regions: dict[str, RegionRecord] = {}
        prefix = mm.REGION_SYMBOL_PREFIX
        self.region_names = {value: name[len(prefix):] for name, value in image.symbols.items()
                             if name.startswith(prefix)}
        # called after every region marker as hook(core, name, begin), with the core's counters as
        # they are at the marker (e.g. workloads.step_program.Counters: energy per layer-phase)
        self.region_hooks: list[Callable[[CoreModel, str, bool], None]] = []
        self.finished: tuple[int, str] | None = None
        self.progress_tick = NEVER                 # next progress report (set_progress), none by default
        self.progress_step = NEVER
        self.progress_hook: Callable[[int], None] | None = None
        self.trace = trace
        self.trace_cores = trace_cores
        self.trace_window = trace_window or (0, NEVER)
        if self.cengine is not None and trace is not None:
            self.cengine.enable_trace(trace_cores, self.trace_window, [c.id for c in self.cores])
        self._cost_methods = self._make_cost_methods()
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
        isa = self.config.core.custom_isa
        profile = resolve_extensions(self.config.core.extensions)
        if self.cengine is not None:
            index = len(self.cores)
            cstruct = self.cengine.core_struct(index)
            core = self._core_class(core_id, self, cstruct, self.cengine.state.ready, index)
            core.hart = self._hart_class(self.memory, core, cstruct, tohost=tohost, misaligned_traps=traps,
                                         custom_isa=isa, extensions=profile)
        else:
            core = CoreModel(core_id, self)
            core.hart = ClusterHart(self.memory, core, tohost=tohost, misaligned_traps=traps, custom_isa=isa,
                                    extensions=profile)
        core.fpu = core_id % self.config.fpu.count if core_id != CONTROLLER else self.config.fpu.count
        core.slot = len(self.cores)       # its index in self.cores (the C loop's core index)
        return core

    def _setup_profile(self, image: Image) -> None:
        """Profile tables over the pre-decoded code range (the C loop's, shared with it in C mode)."""
        from mcusim.simulator import profile as prof
        if self.cengine is not None:
            self.prof_base, self.prof_halves = self.cengine.enable_profile(prof.MAX_HALVES, prof.WIDTH)
            for i, core in enumerate(self.cores):
                core.prof_tab, core.prof_snap = self.cengine.profile_arrays(i)
        else:
            self.prof_base, halves = prof.code_range(image)
            self.prof_halves = min(halves, prof.MAX_HALVES)
            for core in self.cores:
                core.prof_tab = [0] * (self.prof_halves * prof.WIDTH)
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
        k = (pc - self.prof_base) >> 1
        if not pc & 1 and 0 <= k < self.prof_halves:
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
        from mcusim.simulator import profile as prof
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
        if offset in (mm.REGION_NAME_BEGIN, mm.REGION_NAME_END):
            self._region_mark(core, self._region_name_at(core, value), offset == mm.REGION_NAME_BEGIN)
        elif offset < mm.DMA_OFFSET:
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
        self._region_mark(core, self.region_names.get(region_id, f"region{region_id}"), begin)

    def _region_name_at(self, core: CoreModel, address: int) -> str:
        """The NUL-terminated region name a named marker's store points at."""
        raw = b""
        for i in range(mm.REGION_NAME_MAX + 1):
            if not self.memory.covers(address + i, 1):
                break
            byte = self.memory.read_bytes(address + i, 1)
            if byte == b"\0":
                name = raw.decode("utf-8", "replace")
                if name:
                    return name
                break
            raw += byte
        raise SimulationError(f"core {core.id}: region marker name at {address:#010x} is not a NUL-terminated "
                              f"string of 1..{mm.REGION_NAME_MAX} bytes in memory at "
                              f"{describe_instruction(core.hart, core.hart.pc)}", "program")

    def _region_mark(self, core: CoreModel, name: str, begin: bool) -> None:
        """`core`: the core at its marker, or (compiled engine) an engine.MarkView of it as it was
        at a marker the C loop logged, whose hooks then see those counters."""
        # The region starts after its region_begin store and includes its region_end store.
        now = core.stalls.copy()     # a dict (reference, MarkView) or engine.CounterView (compiled)
        snapshot = (core.issue_cycle + 1, core.hart.instret + 1, now)
        if self.cengine is not None and type(core) is not self._mark_view:
            self.cengine.region_marked(core.slot, name, begin)   # what eu.c knows open
        if begin:
            core.regions_open[name] = snapshot
            for hook in self.region_hooks:
                hook(core, name, begin)
            return
        start = core.regions_open.pop(name, None)
        if start is None:
            raise SimulationError(f"core {core.id}: region_end {name!r} without region_begin at "
                                  f"{describe_instruction(core.hart, core.hart.pc)}", "program")
        before = start[2]
        stalls = {k: now[k] - before[k] for k in STALL_CAUSES}
        # The region includes the region_end instruction itself.
        self.regions.setdefault(name, RegionRecord(name)).add(
            core.id, core.issue_cycle + 1 - start[0], core.hart.instret + 1 - start[1], stalls,
            (start[0], core.issue_cycle + 1))
        for hook in self.region_hooks:
            hook(core, name, begin)

    # --- timing ------------------------------------------------------------------------------------
    def _timing(self, d) -> tuple:
        """What issuing `d` needs besides its semantics, computed once per decoded instruction:
        (timing class, cost method or None for a 1-cycle class, scoreboard indices read,
        writes as (index, gets the result latency), x register written last or -1,
        None or what happens at issue before execution: start = before(core, d, start))."""
        cls = d.instr.timing
        reads, writes, last_x = scoreboard_use(d)
        # A load's post-incremented base register is ready at once, not after the load.
        timed_writes = tuple((r, not (post_increment and cls == "load")) for r, post_increment in writes)
        before = {"jalr": self._before_jalr, "div": self._before_div}.get(cls)
        return cls, self._cost_methods.get(cls), reads, timed_writes, last_x, before

    def _before_jalr(self, core: CoreModel, d, start: int) -> int:
        """A jalr whose base register the previous instruction wrote waits for it (jr stall)."""
        if d.rs1 and d.rs1 == core.prev_dest:
            core.stalls["jr"] += self.config.core.jalr_dependency_stall
            start += self.config.core.jalr_dependency_stall
        return start

    @staticmethod
    def _before_div(core: CoreModel, d, start: int) -> int:
        """The divide latency depends on the divisor, read before the instruction may overwrite it."""
        core.divisor = core.hart.x[d.rs2]
        return start

    def _make_cost_methods(self) -> dict[str, Callable[[CoreModel, Any, int], tuple[int, int, str]]]:
        """Timing class -> cost method(core, decoded, start) -> (end cycle, cycle the written registers
        are ready or 0 for at once, stall cause of waiting for them). Classes not listed take 1 cycle."""
        fpu = self.config.fpu
        methods: dict[str, Callable] = {
            "load": self._memory_cost, "store": self._memory_cost, "branch": self._cost_branch,
            "jal": self._cost_jal, "jalr": self._cost_jalr, "mul": self._cost_mul,
            "mulh": self._cost_mulh, "div": self._cost_div}
        for cls, name in _FP_LATENCY_FIELD.items():
            methods[cls] = partial(self._cost_fpu, getattr(fpu, name), 1)
        for cls, name in _FP_BLOCKING_FIELD.items():
            methods[cls] = partial(self._cost_fpu, 0, getattr(fpu, name))
        return methods

    def _cost_branch(self, core: CoreModel, d, start: int) -> tuple[int, int, str]:
        ev = core.events
        ev["branches"] += 1
        if core.hart.taken:
            ev["taken_branches"] += 1
            cycles = self.config.core.branch_taken
        else:
            cycles = self.config.core.branch_not_taken
        return self._multi_cycle(core, "branch", start, cycles)

    def _cost_jal(self, core: CoreModel, d, start: int) -> tuple[int, int, str]:
        core.events["jumps"] += 1
        return self._multi_cycle(core, "jump", start, self.config.core.jal)

    def _cost_jalr(self, core: CoreModel, d, start: int) -> tuple[int, int, str]:
        core.events["jumps"] += 1
        return self._multi_cycle(core, "jump", start, self.config.core.jalr)

    def _cost_mul(self, core: CoreModel, d, start: int) -> tuple[int, int, str]:
        return self._multi_cycle(core, "mulh", start, self.config.core.mul)

    def _cost_mulh(self, core: CoreModel, d, start: int) -> tuple[int, int, str]:
        return self._multi_cycle(core, "mulh", start, self.config.core.mulh)

    def _cost_div(self, core: CoreModel, d, start: int) -> tuple[int, int, str]:
        cfg = self.config.core
        cycles = divide_cycles(core.divisor, d.instr.mnemonic in ("div", "rem"), cfg.div_base, cfg.div_by_zero)
        return self._multi_cycle(core, "div", start, cycles)

    @staticmethod
    def _multi_cycle(core: CoreModel, cause: str, start: int, cycles: int) -> tuple[int, int, str]:
        """An instruction that occupies its core `cycles` cycles: the extra ones are `cause` stalls."""
        if cycles != 1:
            core.stalls[cause] += cycles - 1
        return start + cycles, 0, ""

    def _cost_fpu(self, latency: int, busy: int, core: CoreModel, d, start: int) -> tuple[int, int, str]:
        """The core's FPU accepts one operation per cycle (its cores take turns when it is shared).
        Divide and square root hold it and the core `busy` cycles; the pipelined operations
        (busy = 1) deliver their result `latency` cycles after they leave it."""
        core.events["fpu_ops"] += 1
        if is_vector_fp(d.instr):
            core.events["fpu_vec_ops"] += 1
        grant = self.fpu_free[core.fpu]
        if grant > start:
            core.stalls["fpu_contention"] += grant - start
        else:
            grant = start
        end = grant + busy
        self.fpu_free[core.fpu] = end
        if busy != 1:
            core.stalls["fdiv"] += busy - 1
        return end, (end + latency if latency else 0), "fpu_latency"

    def _memory_cost(self, core: CoreModel, d, start: int) -> tuple[int, int, str]:
        """Loads and stores: the access (hart.last_access) ends when its TCDM bank serves it, after
        the L2 latency, or at once for a peripheral; a loaded register is ready load_use_stall
        cycles after that."""
        access = core.hart.last_access
        if access is None:
            return start + 1, 0, ""
        address, size, is_store = access
        ev = core.events
        ev["stores" if is_store else "loads"] += 1
        if TCDM_BASE <= address < self.tcdm_end:
            if (address & 3) + size > 4:
                end = self._split_access_cost(core, start, address)
            else:
                grant = self._bank_grant(core, address >> 2, start)
                if grant > start:
                    core.stalls["tcdm_contention"] += grant - start
                end = grant + 1
        elif periph_offset(address) is not None:
            end = start + 1
        else:
            end = self._l2_access_cost(core, start, is_store)
        if is_store:
            return end, 0, ""
        return end, end + self.config.core.load_use_stall, "load_use"

    def _l2_access_cost(self, core: CoreModel, start: int, is_store: bool) -> int:
        """L2 (and any other memory outside the TCDM): a blocking access of l2.latency cycles."""
        latency = self.config.l2.latency
        core.events["l2_accesses"] += 1
        core.stalls["l2"] += latency - 1
        if is_store:
            core.l2_stores += 1
            core.l2_store_cycles += latency
        else:
            core.l2_loads += 1
            core.l2_load_cycles += latency
        return start + latency

    def _split_access_cost(self, core: CoreModel, start: int, address: int) -> int:
        """A misaligned TCDM access that crosses a word (core.misaligned = "split"): two bank
        requests, and misaligned_extra cycles at least."""
        grant = self._bank_grant(core, address >> 2, start)
        grant = self._bank_grant(core, (address >> 2) + 1, grant + 1)
        extra = self.config.core.misaligned_extra
        end = grant + 1
        if extra:
            core.stalls["misaligned"] += extra
            end = max(end, start + 1 + extra)
        contention = end - (start + 1) - extra
        if contention > 0:
            core.stalls["tcdm_contention"] += contention
        return end

    def _bank_grant(self, core: CoreModel, word: int, cycle: int) -> int:
        """Book the TCDM bank of `word` at the first cycle >= `cycle` it is free (of cores and DMA)."""
        bank = (word - (TCDM_BASE >> 2)) & self.bank_mask
        grant = self.bank_free[bank]
        if grant < cycle:
            grant = cycle
        if self.dma.active:
            held = self.dma.first_free_slot(bank, grant)
            # cycles the DMA held the bank: `dma_bank`, not core contention (the callers count the
            # whole wait as tcdm_contention)
            core.stalls["dma_bank"] += held - grant
            core.stalls["tcdm_contention"] -= held - grant
            grant = held
        self.bank_free[bank] = grant + 1
        core.events["tcdm_accesses"] += 1
        return grant

    def _fetch(self, core: CoreModel, pc: int, t: int):
        """Fetch and decode the instruction at `pc`; None when there is none to issue: a worker's
        return from a dispatched task, or a fetch that traps (both handled here, at cycle t)."""
        if pc == DISPATCH_RETURN and core.id != CONTROLLER:
            core.issue_cycle = t
            self.event_unit.task_returned(core)
            return None
        try:
            return core.hart.fetch_decode(pc)
        except Trap as trap:
            self._trap(core, trap, None, t)
            return None

    def issue(self, core: CoreModel, t: int) -> None:
        """Issue and execute the next instruction of `core` at cycle >= t; set its next ready cycle."""
        h = core.hart
        pc = h.pc
        if self.profile:
            self._profile_step(core, pc, t)
        try:
            d = h.decoded[pc]
        except KeyError:               # not decoded yet (or overwritten since)
            d = self._fetch(core, pc, t)
            if d is None:
                return
        cls, cost, reads, writes, last_x_write, before = d.timing
        # 1. fetch (when modelled: an L0 line change may stall), then wait for source operands
        start = t
        ic = self.icache
        if ic is not None:
            fetch_stall = ic.fetch(core.slot, pc, t)
            if fetch_stall:
                core.stalls["imiss"] += fetch_stall
                start += fetch_stall
        fetched = start
        rr = core.reg_ready
        for r in reads:
            if rr[r] > start:
                start = rr[r]
                cause = core.reg_cause[r]
        if start > fetched:
            core.stalls[cause] += start - fetched
        if before is not None:
            start = before(core, d, start)
        core.issue_cycle = start
        old_values = self._written_registers(h, d) if self.trace is not None else None
        # 2. execute
        try:
            h.next_pc = pc + d.size
            h.last_access = None
            h.taken = False
            d.sem(h, d)
        except Trap as trap:
            self._trap(core, trap, d, start)
            return
        except ProgramExit as done:
            h.instret += 1
            core.ready = NEVER
            self._trace_line(core, start, pc, d, old_values)
            self._end_core(core, done, start)
            return
        # 3. cost: one cycle unless the timing class has a cost method
        if cost is None:
            end = start + 1
            dest_ready = 0
        else:
            end, dest_ready, dest_cause = cost(core, d, start)
        # 4. register results and retire
        for r, timed in writes:
            if dest_ready and timed:
                rr[r] = dest_ready
                core.reg_cause[r] = dest_cause
            elif rr[r] > end:
                rr[r] = 0
        core.prev_dest = last_x_write
        if pc in h.hwloop_end and h.next_pc == pc + d.size:
            h.advance(pc, d.size)     # the hardware-loop back-edges
        else:                         # the rest of Hart.advance
            h.pc = h.next_pc & 0xFFFF_FFFF
            h.instret += 1
        if h.pc == pc and (cls == "jal" or cls == "branch"):
            # Registers cannot change while a core jumps to itself: it can never leave.
            raise SimulationError(f"core {core.id}: program hangs in a jump-to-self loop at "
                                  f"{describe_instruction(h, pc)} (cycle {start})", "hang")
        if core.ready <= t:        # (a sleeping core's ready is NEVER)
            core.ready = end
        elif core.state == "sleep":
            core.sleep_start = max(core.sleep_start, end)
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
        self.trace.write(trace_text(cycle, core.id, pc, d, parts))

    def _write_c_trace(self, records) -> None:
        """The trace lines of the instructions the compiled loop executed (CEngine.drain_trace: the
        registers it wrote, in Cluster.issue's order, as scoreboard indices, and its access), in
        the reference's format. The C loop keeps only the traced cores and cycles."""
        from mcusim.isa.codec import decode
        write = self.trace.write
        cache: dict[int, Any] = {}
        for cycle, index, pc, word, writes, access in records:
            d = cache.get(word)
            if d is None:
                d = cache[word] = decode(word)
            parts = [f"{'f' if r >= F_OFFSET else 'x'}{r % F_OFFSET}={v:#010x}" for r, v in writes]
            if access is not None:
                addr, is_store = access
                parts.append(f"{'st' if is_store else 'ld'}[{addr:#010x}]")
            write(trace_text(cycle, self.cores[index].id, pc, d, parts))

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

    def _end_core(self, core: CoreModel, done: ProgramExit, cycle: int) -> None:
        """`core` ended the program with its instruction issued at `cycle` (retired, not ready any more)."""
        core.state = "done"
        core.exit_code = done.code
        core.end_cycle = cycle + 1
        self._core_exited(core, done)

    def _core_exited(self, core: CoreModel, done: ProgramExit) -> None:
        if "tohost" in done.reason:
            self.finished = (done.code, f"core {core.id}: {done.reason}")
            return
        if self.mode == "controller":
            if core.id == CONTROLLER:
                busy = [c.id for c in self.cores[:self.config.workers] if self.event_unit.dispatched >> c.id & 1]
                if busy:
                    raise SimulationError(
                        f"core {core.id}: the controller exited at {describe_instruction(core.hart, core.hart.pc)} "
                        f"(cycle {core.end_cycle - 1}) while worker{'s' if len(busy) > 1 else ''} "
                        f"{', '.join(map(str, busy))} still run{'' if len(busy) > 1 else 's'} the task it "
                        "dispatched: fork without join (join before exiting)", "program")
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
        # Round-robin: at cycle t the cores are served in the order rotations[t % n].
        rotations = [cores[first:] + cores[:first] for first in range(n)]
        max_cycles = self.config.max_cycles
        while self.finished is None:
            peek = self.env.peek()
            self.horizon = NEVER if peek == float("inf") else int(peek)
            tick = self.progress_tick
            if tick < self.horizon:       # a progress report, not an event: only ends the quantum
                self.horizon = tick
            self.now = int(self.env.now)
            if self.cengine is not None:
                self._advance_compiled()
            while self.finished is None and self.cengine is None:
                readies = [c.ready for c in cores]      # each a cycle, or NEVER when not runnable
                t = min(readies)
                if readies.count(NEVER) == n - 1:
                    if self._advance_one(cores[readies.index(t)], max_cycles):
                        break
                    continue
                if t >= self.horizon:
                    break
                if t >= max_cycles:
                    self._max_cycles_error()
                self.now = t
                for c in rotations[t % n]:
                    if c.ready == t:
                        self.issue(c, t)
                        if self.finished is not None:
                            break
            if self.finished is not None:
                break
            if self.horizon == NEVER:
                self._deadlock_error()
            if self.horizon == tick:
                if self.env.peek() == float("inf") and all(c.ready >= NEVER for c in cores):
                    self._deadlock_error()     # what the horizon NEVER would have found
                self.progress_tick = tick + self.progress_step
                self.progress_hook(tick)
            yield self.env.timeout(self.horizon - self.env.now)

    def _advance_one(self, core: CoreModel, max_cycles: int) -> bool:
        """One runnable core: no arbitration order to keep, so skip the per-cycle scan. Returns True
        at the horizon or the end (also when the core sleeps or exits: it is ready at NEVER, beyond
        any horizon, and no other core is runnable), False when another core may have become
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
            if self.wakeups != wakeups:
                return False
        return True

    def _advance_compiled(self) -> None:
        """The compiled loop up to the horizon; instructions it hands back run in the reference."""
        ce = self.cengine
        while self.finished is None:
            status, index, t = ce.run(self.horizon)
            if ce.state.eu.marks_n:              # the workers' region markers C logged, first
                for view, region_id, begin in ce.drain_region_marks(self.cores):
                    self.region_event(view, region_id, begin)
            ce.flush_console()                   # the program's output before anything Python does next
            if self.trace is not None:           # C's lines come before the reference's next ones
                self._write_c_trace(ce.drain_trace())
            if status == 4:                      # a buffer was full: C resumes where it stopped
                ce.resume_after_python()
                continue
            if status == 0:             # at the horizon; C's now is its last issue cycle
                self.now = max(self.now, int(ce.state.now))
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
            if status == 5:             # an exit (ecall, tohost) retired and traced in C: the end-of-core accounting
                self._end_core(core, ce.program_exit(index), core.issue_cycle)
                ce.resume_after_python()
                continue
            pc = core.hart.pc
            self.issue(core, t)
            ce.refresh(pc)
            ce.resume_after_python()

    def dma_changed(self) -> None:
        """The DMA's active transfers changed: the compiled loop needs them for bank slots."""
        if self.cengine is not None:
            self.cengine.sync_dma(self.dma.active)

    def set_progress(self, hook: Callable[[int], None], step: int) -> None:
        """Call hook(cycle) every `step` cycles of simulated time (simulator.progress)."""
        self.progress_hook, self.progress_step, self.progress_tick = hook, step, step

    def run(self) -> ClusterResult:
        self.error: SimulationError | None = None
        if self.cengine is not None:
            self.cengine.console_groups()     # the cores' console writers, as set when the run starts
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
                             self.engine_used, self._profile_finish() if self.profile else None,
                             self.dma.bytes_moved)

    def result_after_error(self, error: SimulationError) -> ClusterResult:
        """The report of a run that ended in `error` (trap, hang, deadlock, cycle limit): every core's
        counters up to the stop, exit code None, the error's kind as the reason."""
        end = max([c.end_cycle or 0 for c in self.cores] + [c.issue_cycle + 1 for c in self.started]
                  + [min(self.now, self.config.max_cycles)])
        if error.kind == "max-cycles":      # the run stopped at the limit, whichever core reached it first
            end = self.config.max_cycles
        self._close_accounting(end)
        for c in self.cores:
            if c.end_cycle is not None and c.end_cycle > end:
                c.end_cycle = end
        return ClusterResult(None, error.kind, end, self.cores, self.regions, self.config, self.mode,
                             self.engine_used, None)

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


def trace_text(cycle: int, core_id: int, pc: int, d, parts: list[str]) -> str:
    """One --trace line: issue cycle, core, pc, instruction, registers written and access."""
    text = format_decoded(d, pc).replace("\t", " ")
    return f"{cycle:>10} c{core_id} {pc:08x} {text:<32} {' '.join(parts)}\n"


def divide_cycles(divisor: int, signed: bool, base: int, by_zero: int) -> int:
    """RI5CY divider latency: clz(|divisor|) + base cycles, `by_zero` for a zero divisor."""
    divisor &= 0xFFFF_FFFF
    if divisor == 0:
        return by_zero
    if signed and divisor >> 31:
        divisor = (-divisor) & 0xFFFF_FFFF
    return (32 - divisor.bit_length()) + base
