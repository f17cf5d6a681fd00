"""The command line starts without the cyclic garbage collector, and turns it on when a simulation
starts.

Start-up allocates long-lived objects only (modules, the instruction table, a loaded step program,
the pre-decoded code tables): the collector's passes over them found nothing to free and took
30-90 ms of a training step (three full collections on a cached step, more when it is compiled).
`resume` freezes what exists then (gc.freeze: later full collections skip it) and enables the
collector; every command that runs long reaches a simulation, where `resume` is called
(workloads.step_program, the kernel harness, `mcusim run`, the sweep's program points). Library use
(`import mcusim`) never pauses the collector.
"""
from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Disable the collector until `resume` (the command line's start)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Freeze the objects allocated so far and enable the collector again, if `pause` disabled it."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
