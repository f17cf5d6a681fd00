"""Running sweep tasks in parallel: in this process (`jobs=1`), in a local process pool (`jobs=N`), or
on a Dask cluster (`scheduler="tcp://HOST:PORT"` or a `distributed.Client`). Results are the same
either way: every task is a pure function of its data (workloads.sweep_points.evaluate), and the
caller orders the rows by point, not by completion.

    execute(fn, tasks, jobs=2, scheduler=None, on_result=lambda index, result: ...)

`fn` must be a module-level function (it is pickled by reference: a Dask worker imports it, so the
workers need mcusim installed, in the same version). A task whose worker dies is reported to
`on_result` as an exception instance, so the caller records it and the sweep goes on.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

OnResult = Callable[[int, Any], None]


class ExecError(RuntimeError):
    """The executor cannot start (missing optional dependency, unreachable scheduler)."""


def execute(fn: Callable[[Any], Any], tasks: Sequence[Any], jobs: int = 1, scheduler: Any = None,
            on_result: OnResult | None = None) -> list[Any]:
    """Run fn(task) for every task; returns the results in task order, calling on_result as they come."""
    results: list[Any] = [None] * len(tasks)

    def done(i: int, value: Any) -> None:
        results[i] = value
        if on_result is not None:
            on_result(i, value)

    if not tasks:
        return results
    if scheduler is not None:
        _dask(fn, tasks, scheduler, done)
    elif jobs <= 1 or len(tasks) == 1:
        for i, task in enumerate(tasks):
            done(i, fn(task))
    else:
        _pool(fn, tasks, jobs, done)
    return results


def _pool(fn: Callable[[Any], Any], tasks: Sequence[Any], jobs: int, done: OnResult) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    # fork: the workers inherit the modules the parent imported while checking the spec (no start-up
    # import per worker); the parent starts no threads before this point.
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=ctx) as pool:
        pending = {pool.submit(fn, task): i for i, task in enumerate(tasks)}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                i = pending.pop(fut)
                try:
                    value = fut.result()
                except Exception as exc:      # noqa: BLE001 - a dead worker fails its task, not the sweep
                    value = exc
                done(i, value)


def _dask(fn: Callable[[Any], Any], tasks: Sequence[Any], scheduler: Any, done: OnResult) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ExecError("--scheduler needs dask.distributed: pip install 'mcusim[distributed]'") from None
    own = not isinstance(scheduler, Client)
    if own:
        try:
            client = Client(scheduler, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ExecError(f"cannot connect to the Dask scheduler at {scheduler} ({exc})") from None
    else:
        client = scheduler
    try:
        futures = client.map(fn, list(tasks), pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        for fut in as_completed(futures, loop=client.loop):
            try:
                value = fut.result()
            except Exception as exc:          # noqa: BLE001 - a lost worker fails its task, not the sweep
                value = exc
            done(index[fut.key], value)
            fut.release()
    finally:
        if own:
            client.close()


class Progress:
    """`done/total (pct), failed, elapsed, ETA` on one line of `stream`: rewritten in place on a
    terminal, else printed at every tenth of the work."""

    def __init__(self, total: int, skipped: int = 0, stream: IO[str] | None = None, label: str = "sweep") -> None:
        self.total, self.skipped, self.label = total, skipped, label
        self.stream = stream if stream is not None else sys.stderr
        self.done = self.failed = 0
        self.start = time.perf_counter()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_tenth = -1
        if skipped:
            self.stream.write(f"{label}: {skipped} point{'s' if skipped != 1 else ''} already in the output, "
                              f"skipped\n")

    def line(self) -> str:
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        pct = 100 * self.done / self.total if self.total else 100.0
        fail = f", {self.failed} failed" if self.failed else ""
        eta_text = f"ETA {eta:.1f} s" if self.done < self.total else "done"
        return f"{self.label}: {self.done}/{self.total} points ({pct:.0f}%){fail}, {elapsed:.1f} s, {eta_text}"

    def update(self, failed: bool) -> None:
        self.done += 1
        self.failed += int(failed)
        if self.tty:
            self.stream.write("\r" + self.line() + ("\n" if self.done == self.total else ""))
            self.stream.flush()
            return
        tenth = 10 * self.done // max(self.total, 1)
        if tenth != self._last_tenth:
            self._last_tenth = tenth
            self.stream.write(self.line() + "\n")
            self.stream.flush()
