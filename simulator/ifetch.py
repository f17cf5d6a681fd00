"""Instruction fetch: per-core L0 prefetch buffers in front of the cluster's shared L1 I-cache, refilled
from L2 (config section `icache`, model "cache"; docs/TIMING.md). The twin of engine.c `ifetch_miss`.

Rules (what a fetch of the instruction at `pc`, by a core ready at cycle t, stalls it):
- the line of pc is the core's current L0 line: 0 (the hit path, one compare; the caller checks it);
- it is in the core's L0 buffer (direct-mapped, `l0_size / l0_line` lines): 0;
- else the L0 refills from the L1: `hit_latency`, or until the line arrives if another core's refill of
  it is still on its way from L2;
- else an L1 miss: `refill_latency`; the line goes into the L1 (FIFO way of its set) at t + refill_latency.
Idealised: refills do not contend for L2 or the bus, the L1 serves any number of cores per cycle, a
store to code does not invalidate the caches, and the fetch does not overlap a previous multi-cycle
instruction (it starts when the core is ready to issue).

The state lives in flat int arrays: Python lists for the reference engine, or the compiled engine's
cffi arrays (shared with the C loop, so the reference sees and updates the same state).
"""
from __future__ import annotations

from typing import Any

from mcusim.simulator.config import IcacheConfig

EMPTY = -1          # a line slot holding nothing


class InstrFetch:
    """The fetch model's parameters and state (`cur`: each core's current L0 line)."""

    def __init__(self, cfg: IcacheConfig, ncores: int, arrays: dict[str, Any] | None = None) -> None:
        self.l0_shift = cfg.l0_line.bit_length() - 1
        self.l1_shift = cfg.line.bit_length() - 1
        self.l0_lines = cfg.l0_size // cfg.l0_line
        self.ways = cfg.ways
        self.sets = cfg.size // (cfg.line * cfg.ways)
        self.hit = cfg.hit_latency
        self.refill = cfg.refill_latency
        sizes = self.array_sizes(cfg, ncores)
        if arrays is None:
            arrays = {name: [0] * n for name, n in sizes.items()}
        for name in ("cur", "l0", "l1_tag"):
            arrays[name][0:sizes[name]] = [EMPTY] * sizes[name]
        self.cur = arrays["cur"]
        self.l0 = arrays["l0"]
        self.l1_tag = arrays["l1_tag"]
        self.l1_ready = arrays["l1_ready"]
        self.l1_next = arrays["l1_next"]

    @staticmethod
    def array_sizes(cfg: IcacheConfig, ncores: int) -> dict[str, int]:
        sets = cfg.size // (cfg.line * cfg.ways)
        return {"cur": ncores, "l0": ncores * (cfg.l0_size // cfg.l0_line), "l1_tag": sets * cfg.ways,
                "l1_ready": sets * cfg.ways, "l1_next": sets}

    def miss(self, slot: int, pc: int, t: int) -> int:
        """Stall cycles of core `slot` fetching pc at cycle t, its line not being its current L0 line;
        updates the state (the line becomes current, enters the L0 and the L1)."""
        line = pc >> self.l0_shift
        self.cur[slot] = line
        k = slot * self.l0_lines + (line & (self.l0_lines - 1))
        if self.l0[k] == line:
            return 0
        self.l0[k] = line
        l1_line = pc >> self.l1_shift
        s = l1_line & (self.sets - 1)
        base = s * self.ways
        for w in range(base, base + self.ways):
            if self.l1_tag[w] == l1_line:
                wait = self.l1_ready[w] - t
                return wait if wait > self.hit else self.hit
        victim = base + self.l1_next[s]
        self.l1_next[s] = (self.l1_next[s] + 1) % self.ways
        self.l1_tag[victim] = l1_line
        self.l1_ready[victim] = t + self.refill
        return self.refill
