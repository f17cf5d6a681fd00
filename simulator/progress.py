"""Progress of a long `mcusim run` on stderr: cycles simulated, speed, and the time left until the
--max-cycles limit at that speed (the only end a run is known to have in advance).

Shown on a terminal once a run has taken longer than SHOW_AFTER seconds (one line, redrawn in place and
erased at the end), or always with `--progress` (a plain line every PLAIN_EVERY seconds, for logs).
The cluster calls the hook between quanta of TICK cycles (Cluster.set_progress); the ticks only split
the simulation into more quanta, which does not change any result (tests compare the cycles)."""
from __future__ import annotations

import contextlib
import sys
import time
from typing import Iterator

SHOW_AFTER = 2.0        # seconds before a terminal shows anything
REDRAW_EVERY = 0.25     # seconds between redraws on a terminal
PLAIN_EVERY = 2.0       # seconds between lines without a terminal
FIRST_PLAIN = 1.0       # seconds before the first of those lines
TICK = {"c": 1 << 20, "py": 1 << 15}


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:02.0f} min"


class CycleProgress:
    def __init__(self, limit: int, terminal: bool, stream=None) -> None:
        self.limit = limit
        self.terminal = terminal
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self.last = 0.0
        self.drawn = False

    def line(self, cycle: int, elapsed: float) -> str:
        rate = cycle / elapsed if elapsed > 0 else 0.0
        left = f"; the --max-cycles limit ({self.limit:,}) in <= {_duration((self.limit - cycle) / rate)}" \
            if rate > 0 else ""
        return f"mcusim: {cycle:,} cycles simulated in {_duration(elapsed)} ({rate / 1e6:.2f} M cycles/s){left}"

    def __call__(self, cycle: int) -> None:
        now = time.monotonic()
        elapsed = now - self.start
        if self.terminal:
            if elapsed < SHOW_AFTER or now - self.last < REDRAW_EVERY:
                return
            self.stream.write("\r\x1b[2K" + self.line(cycle, elapsed))
            self.drawn = True
        else:
            if now - self.last < PLAIN_EVERY:
                return
            self.stream.write(self.line(cycle, elapsed) + "\n")
        self.last = now
        self.stream.flush()

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


@contextlib.contextmanager
def cycle_progress(cluster, forced: bool, quiet: bool) -> Iterator[None]:
    """Report the cluster's progress while the block runs (see the module doc)."""
    terminal = sys.stderr.isatty()
    if not forced and (quiet or not terminal):
        yield
        return
    hook = CycleProgress(cluster.config.max_cycles, terminal and not forced or terminal)
    if forced and not terminal:
        hook.last = time.monotonic() - PLAIN_EVERY + FIRST_PLAIN
    cluster.set_progress(hook, TICK[cluster.engine_used])
    try:
        yield
    finally:
        hook.close()
