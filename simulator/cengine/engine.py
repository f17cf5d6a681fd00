"""The compiled engine inside the cluster model.

The C side (engine.c) runs the hot loop: it issues, executes and prices instructions cycle by
cycle, exactly as `Cluster.issue` does, with the event unit's common operations and wfi (eu.c), CSRs,
ecall (exit, console write), ebreak, mret and traps into a handler the program installed (an exit
returns to Python for the end-of-core accounting; console output is buffered and written out after
every return). Everything else stays in the Python reference: when an instruction needs it (a rare
peripheral access, a performance counter, a trap without a handler, which the reference
reports, an op without C semantics) the C loop stops *before* changing anything, Python runs
`Cluster.issue` for that one instruction, and the C loop resumes in the same cycle at the next core
of the round-robin order.

There is no copying of state: in this mode each core's Python objects (`CCoreModel`, `CHart`) are
views onto the C structs, so the reference code reads and writes the same memory the C loop uses.
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

from mcusim.isa.codec import decode
from mcusim.isa.profiles import resolve as resolve_extensions
from mcusim.simulator import diskcache
from mcusim.simulator.cengine import binding
from mcusim.simulator.memory_map import ALIAS_BASE, DISPATCH_RETURN, MAX_REGIONS, PERIPH_BASE, PERIPH_SIZE, TCDM_BASE
from mcusim.simulator.profile import code_range

RUN_HORIZON, RUN_PYTHON, RUN_MAX_CYCLES, RUN_HANG, RUN_FULL, RUN_EXIT = 0, 1, 2, 3, 4, 5   # cluster.h MCU_RUN_*

# McuCore.state (cluster.h MCU_OFF..MCU_DONE) and McuCore.waiting (MCU_W_*: what eu.c's sleeps wait
# for; any other text, which only the reference sets, is MCU_W_OTHER and kept on the Python side)
STATES = ("off", "run", "sleep", "done")
_STATE_INDEX = {name: i for i, name in enumerate(STATES)}
WAITING = ("", "the barrier", "an event (wfi / wait_event)", "a dispatch",
           "the dispatched workers to return (join)", "the mutex (held by core {})")
_WAITING_INDEX = {text: i for i, text in enumerate(WAITING)}
W_MUTEX, W_OTHER = 5, len(WAITING)


class MarkView:
    """A core as it was at a region marker eu.c logged (CEngine.drain_region_marks), for
    Cluster._region_mark and the region hooks: its id, the marker's issue cycle, its instret, stall
    and event counters then, and its own open regions."""

    def __init__(self, core, cycle: int, instret: int, stalls: dict[str, int], events: dict[str, int]) -> None:
        self.id = core.id
        self.slot = core.slot
        self.cluster = core.cluster
        self.issue_cycle = cycle
        self.stalls = stalls
        self.events = events
        self.regions_open = core.regions_open
        self.hart = SimpleNamespace(instret=instret, pc=core.hart.pc)


class CounterView:
    """A dict-like view of a C counter array with named entries (stalls, events)."""

    def __init__(self, array: Any, names: tuple[str, ...]) -> None:
        self._array = array
        self._names = names
        self._index = {n: i for i, n in enumerate(names)}

    def __getitem__(self, name: str) -> int:
        return self._array[self._index[name]]

    def __setitem__(self, name: str, value: int) -> None:
        self._array[self._index[name]] = value

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def keys(self):
        return list(self._names)

    def values(self):
        return [self._array[i] for i in range(len(self._names))]

    def items(self):
        return [(n, self._array[i]) for i, n in enumerate(self._names)]

    def copy(self) -> dict[str, int]:
        """A plain dict snapshot (one slice of the C array rather than a lookup per name)."""
        return dict(zip(self._names, self._array[0:len(self._names)]))


class CauseView:
    """reg_cause as stall-cause names over the C array of cause indices."""

    def __init__(self, array: Any, names: tuple[str, ...]) -> None:
        self._array = array
        self._names = names
        self._index = {n: i for i, n in enumerate(names)}

    def __getitem__(self, r: int) -> str:
        return self._names[self._array[r]]

    def __setitem__(self, r: int, name: str) -> None:
        self._array[r] = self._index[name]


def _c_property(name: str) -> property:
    def get(self):
        return getattr(self._c, name)

    def set_(self, value):
        setattr(self._c, name, value)
    return property(get, set_)


def make_view_classes(CoreModel: type, ClusterHart: type, stall_causes: tuple, events: tuple):
    """CCoreModel and CHart: the reference classes with their hot state stored in a C McuCore."""

    class CHart(ClusterHart):
        pc = _c_property("pc")
        frm = _c_property("frm")
        fflags = _c_property("fflags")
        mstatus = _c_property("mstatus")
        instret = _c_property("instret")
        mepc = _c_property("mepc")
        mcause = _c_property("mcause")
        mtval = _c_property("mtval")
        mscratch = _c_property("mscratch")
        mie = _c_property("mie")
        mip = _c_property("mip")
        pcer = _c_property("pcer")
        pcmr = _c_property("pcmr")

        @property
        def mtvec(self) -> int | None:       # None until the program installs a handler (Hart)
            return self._c.mtvec if self._c.mtvec_set else None

        @mtvec.setter
        def mtvec(self, value: int | None) -> None:
            self._c.mtvec, self._c.mtvec_set = (0, 0) if value is None else (value, 1)

        def __init__(self, memory, core, cstruct, **kwargs) -> None:
            self._c = cstruct
            super().__init__(memory, core, **kwargs)
            cstruct.x[0:32] = self.x
            self.x = cstruct.x
            self.f = cstruct.f
            self.hwloop_start = cstruct.hwloop_start
            self.hwloop_end = cstruct.hwloop_end
            self.hwloop_count = cstruct.hwloop_count
            self.pccr = cstruct.pccr
            cstruct.misaligned_traps = int(self.misaligned_traps)
            cstruct.id = core.id

        def store(self, address: int, size: int, value: int) -> None:
            super().store(address, size, value)
            # the C decode table follows self-modifying code too
            self.core.cluster.cengine.invalidate(address, size)

    class CCoreModel(CoreModel):
        issue_cycle = _c_property("issue_cycle")
        prev_dest = _c_property("prev_dest")
        fpu = _c_property("fpu")
        l2_loads = _c_property("l2_loads")
        l2_stores = _c_property("l2_stores")
        l2_load_cycles = _c_property("l2_load_cycles")
        l2_store_cycles = _c_property("l2_store_cycles")

        # the sleep state lives in McuCore too: eu.c sleeps and wakes cores
        @property
        def state(self) -> str:
            return STATES[self._c.state]

        @state.setter
        def state(self, value: str) -> None:
            self._c.state = _STATE_INDEX[value]

        @property
        def sleep_start(self) -> int:
            return self._c.sleep_start

        @sleep_start.setter
        def sleep_start(self, value: int) -> None:
            self._c.sleep_start = value

        @property
        def sleep_cause(self) -> str:
            return stall_causes[self._c.sleep_cause]

        @sleep_cause.setter
        def sleep_cause(self, value: str) -> None:
            self._c.sleep_cause = stall_causes.index(value)

        @property
        def waiting_for(self) -> str:
            code = self._c.waiting
            if code == W_MUTEX:
                return WAITING[code].format(self._c.waiting_arg)
            return self._waiting_text if code == W_OTHER else WAITING[code]

        @waiting_for.setter
        def waiting_for(self, value: str) -> None:
            code = _WAITING_INDEX.get(value, W_OTHER)
            self._c.waiting = code
            self._waiting_text = value if code == W_OTHER else ""

        @property
        def ready(self) -> int:
            return self._ready[self._index]

        @ready.setter
        def ready(self, value: int) -> None:
            self._ready[self._index] = value

        # the profile's per-core state lives in McuCluster (prof_pc, prof_t), shared with the C loop
        @property
        def prof_pc(self) -> int:
            return self._state.prof_pc[self._index]

        @prof_pc.setter
        def prof_pc(self, value: int) -> None:
            self._state.prof_pc[self._index] = value

        @property
        def prof_t(self) -> int:
            return self._state.prof_t[self._index]

        @prof_t.setter
        def prof_t(self, value: int) -> None:
            self._state.prof_t[self._index] = value

        def __init__(self, core_id: int, cluster, cstruct, ready_array, index: int) -> None:  # noqa: D107
            self._c = cstruct
            self._ready = ready_array
            self._index = index
            self._state = cluster.cengine.state
            self.id = core_id
            self.cluster = cluster
            self.ready = 1 << 62
            self.state = "off"
            self.waiting_for = ""
            self.sleep_start = 0
            self.sleep_cause = "sleep"
            self.exit_code = None
            self.end_cycle = None
            self.issue_cycle = 0
            self.prev_dest = -1
            self.fpu = 0
            self.reg_ready = cstruct.reg_ready
            self.reg_cause = CauseView(cstruct.reg_cause, stall_causes)
            self.stalls = CounterView(cstruct.stalls, stall_causes)
            self.events = CounterView(cstruct.events, events)
            self.perf_last = cstruct.perf_last
            self.regions_open = {}
            self.prof_pc = -1
            self.prof_t = 0
            self.prof_snap = None
            self.prof_tab = None
            self.prof_extra = {}

    return CCoreModel, CHart


_RECORDS: dict[tuple[int, str], bytes] = {}   # (word, custom ISA) -> McuInsn record (CEngine._record)
_MAX_RECORDS = 1 << 16


class CEngine:
    """The C cluster state for one Cluster, and the loop that alternates C and the reference."""

    def __init__(self, cluster, stall_causes: tuple, events: tuple) -> None:
        mod = binding.load()
        if mod is None:
            raise RuntimeError("compiled engine not built")
        self.ffi, self.lib = mod.ffi, mod.lib
        self.cluster = cluster
        self.stall_causes = stall_causes
        self.events = events
        self.state = self.ffi.new("McuCluster *")
        self._keep: list[Any] = []
        st = self.state
        cfg = cluster.config
        st.max_cycles = cfg.max_cycles
        st.banks = cfg.tcdm.banks
        st.tcdm_base, st.tcdm_end = TCDM_BASE, TCDM_BASE + cfg.tcdm.size_kib * 1024
        c = cfg.core
        (st.load_use_stall, st.branch_taken, st.branch_not_taken, st.jal, st.jalr, st.jalr_dep, st.mul,
         st.mulh, st.div_base, st.div_by_zero, st.misaligned_extra) = (
            c.load_use_stall, c.branch_taken, c.branch_not_taken, c.jal, c.jalr, c.jalr_dependency_stall,
            c.mul, c.mulh, c.div_base, c.div_by_zero, c.misaligned_extra)
        st.l2_latency = cfg.l2.latency
        f = cfg.fpu
        st.fp_latency[0:5] = [f.latency_add, f.latency_mul, f.latency_fma, f.latency_conv, f.latency_noncomp]
        st.fp_block[0:4] = [f.fdiv32, f.fsqrt32, f.fdiv16, f.fsqrt16]
        st.dma_words_per_cycle = max(cfg.dma.bandwidth // 4, 1)
        for i in range(9):
            st.ready[i] = 1 << 62
        self._con_buf = self.ffi.new("uint8_t[]", self.CONSOLE_BYTES)
        self._con_rec = self.ffi.new("McuConsoleRec[]", self.CONSOLE_WRITES)
        st.con_buf, st.con_cap = self._con_buf, self.CONSOLE_BYTES
        st.con_rec, st.con_rec_cap = self._con_rec, self.CONSOLE_WRITES

    # the console buffer of the C loop's ecall writes (a larger write goes through the reference)
    CONSOLE_BYTES = 1 << 16
    CONSOLE_WRITES = 4096

    def console_groups(self) -> None:
        """Tell C which cores share a console writer (Hart.console; the same function by default): the
        C loop buffers their consecutive writes to one fd as one record, written out in one call."""
        writers: dict[int, int] = {}
        for i, core in enumerate(self.cluster.cores):
            self.state.con_group[i] = writers.setdefault(id(core.hart.console), len(writers))

    def flush_console(self) -> None:
        """Write out the console writes the C loop buffered, in issue order, through the writers
        (Hart.console) of the cores that made them (the same bytes in the same order as the
        reference's one call per write)."""
        st = self.state
        n = st.con_nrec
        if not n:
            return
        data = bytes(self.ffi.buffer(self._con_buf, st.con_n))
        records = [(r.core, r.fd, r.len) for r in (self._con_rec[i] for i in range(n))]
        st.con_n = st.con_nrec = 0        # emptied first: a writer that raises does not write twice
        pos = 0
        cores = self.cluster.cores
        for index, fd, length in records:
            cores[index].hart.console(fd, data[pos:pos + length])
            pos += length

    def program_exit(self, index: int):
        """How core `index` ended the program in C (RUN_EXIT): its ecall exit or store to tohost."""
        from mcusim.simulator.hart import program_exit, tohost_exit
        c = self.state.cores[index]
        return tohost_exit(c.exit_code & 0xFFFF_FFFF) if c.exit_tohost else program_exit(int(c.exit_code))

    def peripheral_state(self, cluster, controller: bool) -> Any:
        """The event unit's and DMA registers' state (McuEventUnit, the fields of
        peripherals.PeripheralState), configured for `cluster`; from now on eu.c serves the common
        peripheral accesses (Cluster.__init__ calls this once its cores exist)."""
        st = self.state
        eu = st.eu
        eu.joiner = eu.mutex_owner = -1
        eu.ncores, eu.workers = len(cluster.cores), cluster.config.workers
        eu.controller_mode = int(controller)
        eu.barrier_wakeup = cluster.config.event_unit.barrier_wakeup
        eu.event_wakeup = cluster.config.event_unit.event_wakeup
        st.mem.periph_in_c = 1
        self._marks = self.ffi.new("McuRegionMark[]", self.MARKS_CAPACITY)
        eu.marks, eu.marks_cap, eu.marks_n = self._marks, self.MARKS_CAPACITY, 0
        self._region_ids: dict[str, list[int]] | None = None
        return eu

    MARKS_CAPACITY = 256

    def region_marked(self, index: int, name: str, begin: bool) -> None:
        """The reference opened (begin) or closed region `name` on core `index`: the numbered
        regions of that name are open or not for eu.c too."""
        if self._region_ids is None:     # region name -> its numbers (Cluster.region_event's names)
            names = self.cluster.region_names
            self._region_ids = {}
            for k in range(MAX_REGIONS):
                self._region_ids.setdefault(names.get(k, f"region{k}"), []).append(k)
        rows = self.state.eu.region_open[index]
        for k in self._region_ids.get(name, ()):
            if begin:
                rows[k >> 5] |= 1 << (k & 31)
            else:
                rows[k >> 5] &= ~(1 << (k & 31)) & 0xFFFF_FFFF

    def drain_region_marks(self, cores: list) -> list[tuple[Any, int, bool]]:
        """The region markers eu.c logged, oldest first, as (MarkView of the core, region id,
        begin); the log is emptied."""
        eu = self.state.eu
        out = []
        n_stalls, n_events = len(self.stall_causes), len(self.events)
        for k in range(eu.marks_n):
            r = self._marks[k]
            core = cores[r.core]
            view = MarkView(core, r.cycle, r.instret, dict(zip(self.stall_causes, r.stalls[0:n_stalls])),
                            dict(zip(self.events, r.events[0:n_events])))
            out.append((view, r.id, bool(r.begin)))
        eu.marks_n = 0
        return out

    def icache_arrays(self) -> dict[str, Any]:
        """The instruction-fetch state (simulator.ifetch.InstrFetch) as C arrays the C loop reads."""
        from mcusim.simulator.ifetch import InstrFetch
        st = self.state
        cfg = self.cluster.config.icache
        sizes = InstrFetch.array_sizes(cfg, 9)
        arrays = {}
        for name, ctype in (("l0", "int64_t[]"), ("l1_tag", "int64_t[]"), ("l1_ready", "int64_t[]"),
                            ("l1_next", "int32_t[]"), ("fetch_stream", "int64_t[]")):
            arrays[name] = self.ffi.new(ctype, sizes[name])
            self._keep.append(arrays[name])
            setattr(st, name, arrays[name])
        st.icache_on = 1
        st.l0_shift, st.l1_shift = cfg.l0_line.bit_length() - 1, cfg.line.bit_length() - 1
        st.l0_lines, st.l1_ways = cfg.l0_size // cfg.l0_line, cfg.ways
        st.l1_sets = cfg.size // (cfg.line * cfg.ways)
        st.icache_hit, st.icache_refill = cfg.hit_latency, cfg.refill_latency
        st.icache_stream_after = cfg.stream_after
        return arrays

    def core_struct(self, index: int) -> Any:
        return self.state.cores[index]

    def setup_memory(self, memory, image, cache_code: bool = False) -> None:
        """Point the C memory at the Python regions (shared, no copy) and pre-decode the code (with
        `cache_code`, a large program's table through the disk cache)."""
        self._cache_code = cache_code
        m = self.state.mem
        if len(memory.regions) > 8:
            raise RuntimeError("too many memory regions for the compiled engine")
        for i, region in enumerate(memory.regions):
            buf = self.ffi.from_buffer(region.data)
            self._keep.append(buf)
            m.regions[i].base, m.regions[i].size, m.regions[i].data = region.base, len(region.data), buf
        m.nregions = len(memory.regions)
        m.periph_base, m.periph_size, m.alias_base = PERIPH_BASE, PERIPH_SIZE, ALIAS_BASE
        tohost = image.symbols.get("tohost")
        m.has_tohost, m.tohost = (1, tohost) if tohost is not None else (0, 0)
        lo, halves = code_range(image)     # the profile's tables cover the same range
        if halves:
            table = self.ffi.new("McuInsn[]", halves)
            self._keep.append(table)
            m.code, m.code_base, m.code_halves = table, lo, halves
            if memory.covers(lo, 2 * halves + 2):
                # an entry per halfword: the 16-bit parcel there, or the 32-bit word it starts
                # (parcels with low bits 11); little-endian host
                raw = memory.read_bytes(lo, 2 * halves + 2)
                records = self._cached_table(raw, halves)
                if records is None:
                    code = memoryview(raw).cast("H")
                    records = b"".join([self._record(p if p & 3 != 3 else p | code[k + 1] << 16)
                                        for k, p in enumerate(code[:halves])])
                    self._store_table(raw, records)
                self.ffi.memmove(table, records, len(records))
                self._leave_dispatch_return_to_reference()
            else:                                      # holes in the range: one by one
                for k in range(halves):
                    self._predecode(memory, k)
        self.memory = memory

    # A code table this large (halfwords) is cached on disk (simulator.diskcache): pre-decoding a
    # training step's 130 KB of code takes a fifth of a second, reading its table a few ms.
    DISK_TABLE_HALVES = 8192

    def _table_name(self, raw: bytes, halves: int) -> str | None:
        if not self._cache_code or halves < self.DISK_TABLE_HALVES or diskcache.cache_dir() is None:
            return None
        import hashlib

        from mcusim import isa
        core = self.cluster.config.core
        h = hashlib.sha256(raw)
        # the records depend on the words, the core's ISA, the ISA table and the compiled struct layout
        h.update(repr((core.custom_isa, sorted(core.extensions), self.ffi.sizeof("McuInsn"))).encode())
        h.update(diskcache.source_hash(diskcache.package_root(isa), Path(__file__).parent,
                                       Path(__file__).parent.parent / "operands.py").encode())
        so = Path(binding.load().__file__).stat()
        h.update(f"{so.st_size}:{so.st_mtime_ns}".encode())
        return f"predecode-{h.hexdigest()[:40]}.bin"

    def _cached_table(self, raw: bytes, halves: int) -> bytes | None:
        name = self._table_name(raw, halves)
        data = diskcache.read(name) if name else None
        size = halves * self.ffi.sizeof("McuInsn")
        return data if data is not None and len(data) == size else None

    def _store_table(self, raw: bytes, records: bytes) -> None:
        name = self._table_name(raw, len(raw) // 2 - 1)
        if name:
            diskcache.write(name, records)

    def _record(self, word: int) -> bytes:
        """The McuInsn record of instruction `word` (a 16-bit parcel or a 32-bit word; the record
        depends on it alone: pc-relative immediates are offsets), pre-decoded once per process."""
        core = self.cluster.config.core
        key = (word, core.custom_isa, core.extensions)
        record = _RECORDS.get(key)
        if record is None:
            insn = self.ffi.new("McuInsn *")
            binding.predecode(decode(word, core.custom_isa, resolve_extensions(core.extensions)), insn[0], word)
            record = bytes(self.ffi.buffer(insn))
            if len(_RECORDS) < _MAX_RECORDS:
                _RECORDS[key] = record
        return record

    def _predecode(self, memory, k: int) -> None:
        m = self.state.mem
        address = m.code_base + 2 * k
        try:
            word = memory.read(address, 2)
            if word & 3 == 3:
                word = memory.read(address, 4)
        except Exception:  # noqa: BLE001 - a hole in the code range: leave it to the reference
            m.code[k].valid = 0
            return
        record = self._record(word)
        self.ffi.memmove(m.code + k, record, len(record))
        self._leave_dispatch_return_to_reference()

    def _leave_dispatch_return_to_reference(self) -> None:
        """A worker's return to DISPATCH_RETURN ends its task, which the reference does: should the
        code range cover that address, its record says so (sem 0)."""
        m = self.state.mem
        if m.code_base <= DISPATCH_RETURN < m.code_base + 2 * m.code_halves:
            m.code[(DISPATCH_RETURN - m.code_base) >> 1].sem = 0

    def invalidate(self, address: int, size: int) -> None:
        """A store to [address, address + size): forget the instructions it overwrote (any that
        starts there, or 2 bytes before)."""
        m = self.state.mem
        for a in range((address - 2) & ~1, address + size, 2):
            k = (a - m.code_base) >> 1
            if 0 <= k < m.code_halves:
                m.code[k].valid = m.code[k].sem = 0

    def refresh(self, pc: int) -> None:
        """Re-decode the instruction at `pc` if a store invalidated it."""
        m = self.state.mem
        k = (pc - m.code_base) >> 1
        if not pc & 1 and 0 <= k < m.code_halves and not m.code[k].valid:
            self._predecode(self.memory, k)

    def sync_dma(self, transfers) -> None:
        st = self.state
        active = [t for t in transfers if t.tcdm_base_word >= 0][:16]
        st.ndma = len(active)
        for i, t in enumerate(active):
            st.dma[i].start, st.dma[i].end, st.dma[i].base_word = t.start, t.end, t.tcdm_base_word

    def enable_profile(self, max_halves: int, width: int) -> tuple[int, int]:
        """Turn the C loop's profile on: a table of `width` int64 per code halfword (at most
        `max_halves` from the code base) per core. Returns (base address, halfwords)."""
        st = self.state
        halves = min(int(st.mem.code_halves), max_halves)
        st.prof_halves = halves
        self._prof_tables = []
        for i in range(9):
            table = self.ffi.new("int64_t[]", max(halves * width, 1))
            self._prof_tables.append(table)
            st.prof[i] = table
            st.prof_pc[i] = -1
        st.profile = 1
        # a profiled run keeps the peripherals in the reference (its sleeps go to Cluster.sleeps)
        st.mem.periph_in_c = 0
        return int(st.mem.code_base), halves

    TRACE_CAPACITY = 4096

    def enable_trace(self, cores: set[int] | None, window: tuple[int, int], core_ids: list[int]) -> None:
        """Record the instructions the C loop executes for --trace: those of `cores` (ids; None:
        all) issued in [window[0], window[1]) (cycles). Cluster._write_c_trace formats them."""
        st = self.state
        st.trace_cores = sum(1 << i for i, cid in enumerate(core_ids) if cores is None or cid in cores)
        st.trace_lo, st.trace_hi = window[0], min(window[1], (1 << 62) - 1)
        self._trace_buf = self.ffi.new("McuTraceRec[]", self.TRACE_CAPACITY)
        st.trace_buf, st.trace_cap, st.trace_n = self._trace_buf, self.TRACE_CAPACITY, 0
        st.trace = 1

    def drain_trace(self) -> list[tuple]:
        """The recorded instructions, oldest first, as (cycle, core index, pc, word, ((scoreboard
        index, value), ...), (address, is store) or None); the buffer is emptied."""
        st = self.state
        out = []
        for k in range(st.trace_n):
            r = self._trace_buf[k]
            writes = tuple((r.regs[j], r.vals[j]) for j in range(3) if r.regs[j] >= 0)
            access = (r.acc_addr, bool(r.acc_store)) if r.acc_valid else None
            out.append((r.cycle, r.core, r.pc, r.word, writes, access))
        st.trace_n = 0
        return out

    def profile_arrays(self, index: int) -> tuple[Any, Any]:
        """(table, stall snapshot) of core `index`: cffi arrays the reference indexes like lists."""
        return self._prof_tables[index], self.state.prof_snap[index]

    def profile_table(self, index: int) -> Any:
        """Core `index`'s profile table as a read-only numpy view (simulator.profile.collect)."""
        import numpy as np
        halves = int(self.state.prof_halves)
        width = 2 + len(self.stall_causes)
        buf = self.ffi.buffer(self._prof_tables[index], 8 * halves * width)
        return np.frombuffer(buf, dtype=np.int64).reshape(halves, width)

    def run(self, horizon: int) -> tuple[int, int, int]:
        """Run C until `horizon` or an exit: (status, core index, cycle)."""
        st = self.state
        status = self.lib.mcu_run(st, horizon)
        return status, st.exit_core, st.exit_cycle

    def resume_after_python(self) -> None:
        self.state.resume_pending = 1
