"""Instruction fetch: per-core L0 prefetch buffers in front of the cluster's shared L1 I-cache, refilled
from L2 (config section `icache`, model "cache"; docs/TIMING.md). The twin of engine.c `ifetch_miss`.

Rules (what a fetch of the instruction at `pc`, by a core ready at cycle t, stalls it):
- the line of pc is in the core's L0 buffer (direct-mapped, `l0_size / l0_line` lines): 0 (in the C
  engine the hit path is one compare with that slot);
- else, if the core's sequential stream prefetched that line (below): until it arrives (0 when it
  already has);
- else the L0 refills from the L1: `hit_latency`, or until the line arrives if another core's refill of
  it is still on its way from L2;
- else an L1 miss: `refill_latency`; the line goes into the L1 (FIFO way of its set) at t + refill_latency.
Streaming (`stream_after`): each core counts its L0 misses to consecutive lines (`run`: 0 after a jump
to another line). Once the run reaches `stream_after`, each line's arrival also prefetches the next
line: from the L1 (`hit_latency` after, or when an in-flight refill lands) or, if the L1 lacks it,
streamed from L2 by the refill engine that is already ahead of the core (`hit_latency` after too: a
16 B line takes 2 beats on the 64-bit bus, a core needs at least 4 cycles to execute it), and the L1
keeps the prefetched line. So a straight-line run pays its first `stream_after` + 1 lines and nothing
after (GVSoC: +70 to +90 cycles on any long cold block). `stream_after` -1: no prefetch at all.
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
# the stream state per core in the `fetch_stream` array: the last L0 line missed, the run of consecutive
# line misses ending with it, the cycle the prefetched next line arrives in the L0
S_LAST, S_RUN, S_READY, S_WIDTH = 0, 1, 2, 3


class InstrFetch:
    """The fetch model's parameters and state."""

    def __init__(self, cfg: IcacheConfig, ncores: int, arrays: dict[str, Any] | None = None) -> None:
        self.l0_shift = cfg.l0_line.bit_length() - 1
        self.l1_shift = cfg.line.bit_length() - 1
        self.l0_lines = cfg.l0_size // cfg.l0_line
        self.ways = cfg.ways
        self.sets = cfg.size // (cfg.line * cfg.ways)
        self.hit = cfg.hit_latency
        self.refill = cfg.refill_latency
        self.after = cfg.stream_after
        sizes = self.array_sizes(cfg, ncores)
        if arrays is None:
            arrays = {name: [0] * n for name, n in sizes.items()}
        for name in ("l0", "l1_tag"):
            arrays[name][0:sizes[name]] = [EMPTY] * sizes[name]
        self.l0 = arrays["l0"]
        self.l1_tag = arrays["l1_tag"]
        self.l1_ready = arrays["l1_ready"]
        self.l1_next = arrays["l1_next"]
        self.stream = arrays["fetch_stream"]
        self.stream[0:sizes["fetch_stream"]] = [EMPTY, 0, 0] * ncores

    @staticmethod
    def array_sizes(cfg: IcacheConfig, ncores: int) -> dict[str, int]:
        sets = cfg.size // (cfg.line * cfg.ways)
        return {"l0": ncores * (cfg.l0_size // cfg.l0_line), "l1_tag": sets * cfg.ways,
                "l1_ready": sets * cfg.ways, "l1_next": sets, "fetch_stream": S_WIDTH * ncores}

    def fetch(self, slot: int, pc: int, t: int) -> int:
        """Stall cycles of core `slot` fetching pc at cycle t; updates the state (the line enters the
        core's L0 and the L1; the stream advances)."""
        line = pc >> self.l0_shift
        k = slot * self.l0_lines + (line & (self.l0_lines - 1))
        if self.l0[k] == line:
            return 0
        self.l0[k] = line
        st = slot * S_WIDTH
        stream = self.stream
        run = stream[st + S_RUN] + 1 if line == stream[st + S_LAST] + 1 else 0
        if 0 <= self.after < run:       # the previous line's arrival prefetched this one
            ready = stream[st + S_READY]
        else:
            ready = self._l1(pc >> self.l1_shift, t, self.refill)
        arrival = ready if ready > t else t
        stream[st + S_LAST] = line
        stream[st + S_RUN] = run
        if 0 <= self.after <= run:      # prefetch the next line
            stream[st + S_READY] = self._l1(((line + 1) << self.l0_shift) >> self.l1_shift, arrival, self.hit)
        return arrival - t

    def _l1(self, l1_line: int, t: int, miss: int) -> int:
        """The cycle an L1 request for l1_line made at cycle t is served: `hit_latency` after, or when
        its refill lands; a miss takes `miss` cycles and puts the line in the L1."""
        s = l1_line & (self.sets - 1)
        base = s * self.ways
        for w in range(base, base + self.ways):
            if self.l1_tag[w] == l1_line:
                ready = self.l1_ready[w]
                return ready if ready > t + self.hit else t + self.hit
        victim = base + self.l1_next[s]
        self.l1_next[s] = (self.l1_next[s] + 1) % self.ways
        self.l1_tag[victim] = l1_line
        self.l1_ready[victim] = t + miss
        return t + miss


def describe(cfg: IcacheConfig) -> str:
    """One line for reports: whether instruction fetch is modelled, and how."""
    if cfg.model == "ideal":
        return "instruction fetch: ideal (every fetch free, icache.model = \"ideal\"; no imiss stalls)"
    stream = ("no prefetch" if cfg.stream_after < 0 else
              f"next-line prefetch streaming after {cfg.stream_after} sequential line misses")
    return (f"instruction fetch: modelled (per-core {cfg.l0_size} B L0, shared {cfg.size // 1024 or cfg.size} "
            f"{'KiB' if cfg.size >= 1024 else 'B'} L1 I-cache refilled from L2 in {cfg.refill_latency} cycles, "
            f"{stream}; stalls counted as imiss; docs/TIMING.md)")
