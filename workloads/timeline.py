"""A simulated training step as a Chrome / Perfetto trace (trace-event JSON): `mcusim train --timeline`.

Open the file in https://ui.perfetto.dev or chrome://tracing. One process per simulated step (per
dtype), and in it:
  tid 0          "steps": a span per (layer, phase) of the schedule (its cycles, MACs, DMA)
  tid 1 + core   "core N": a span per kernel run (the core's own region cycles: work, imbalance and
                 the final barrier included), args = the core's region counters with its stall
                 breakdown; nested in it, a span per barrier wait (and other sleeps) of that core,
                 at the cycles the simulation recorded them
  tid 1000       "DMA (modelled)": the step's modelled transfers (workloads.train.dma_model): the
                 exposed loads before the step's kernels, the exposed stores and unhidden tile
                 transfers after them, and with double buffering the transfers hidden under the
                 kernels; args = bytes, transfers, tiles, busy and exposed cycles
Layout (`--dma model`): steps run one after another (a step starts when the previous one ends: its
exposed DMA cycles, then its kernels one after another, each as long as its slowest core).
Simulated step program (the default): every span is where the simulation put it: the layer-phases
(the controller's `step` regions), each fork's kernel on each core, the controller's waits for the
DMA (tid 9, "controller: DMA waits"), and tid 1000 "DMA (simulated)": every transfer from its
set-up to its completion, as the DMA engine ran it. Times are cycles converted to µs at the chosen
clock (`freq_mhz`, in the file's otherData and process names).
The barrier waits need the kernels' profile (simulate_step(..., profile=True)); without it the core
spans are there but not the waits.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mcusim.workloads.train import KernelCall, StepRecord, StepResult

SCHEMA = "mcusim-timeline/1"
STEP_TID = 0
CORE_TID0 = 1
DMA_TID = 1000


def _us(cycles: float, freq_mhz: float) -> float:
    return round(cycles / freq_mhz, 6)


def _span(name: str, cat: str, start: float, dur: float, pid: int, tid: int, freq: float,
          args: dict[str, Any]) -> dict[str, Any]:
    ts = _us(start, freq)       # the end rounded once too, so back-to-back spans do not overlap
    return {"name": name, "cat": cat, "ph": "X", "ts": ts, "dur": round(_us(start + dur, freq) - ts, 6),
            "pid": pid, "tid": tid, "args": args}


def _meta(name: str, pid: int, tid: int | None, args: dict[str, Any]) -> dict[str, Any]:
    """A metadata event: process_name / thread_name ({"name": ...}), *_sort_index ({"sort_index": ...})."""
    ev: dict[str, Any] = {"name": name, "ph": "M", "pid": pid, "args": args}
    if tid is not None:
        ev["tid"] = tid
    return ev


def _track(pid: int, tid: int, name: str) -> list[dict[str, Any]]:
    return [_meta("thread_name", pid, tid, {"name": name}), _meta("thread_sort_index", pid, tid, {"sort_index": tid})]


def _kernel_events(k: KernelCall, rec: StepRecord, start: int, pid: int, freq: float) -> list[dict[str, Any]]:
    """Per core: the kernel's region span and the core's sleeps inside it."""
    events = []
    first = min((s[0] for s in k.spans.values()), default=0)
    for p in k.per_core:
        core = p["core"]
        begin, end = k.spans.get(core, (first, first + p["cycles"]))
        at = start + begin - first
        args = {"layer": rec.layer, "phase": rec.phase, "kernel": k.kernel, "variant": k.variant, "role": k.role,
                "cycles": p["cycles"], "instret": p["instret"], "kernel_cycles": k.cycles,
                "stalls": {c: v for c, v in p["stalls"].items() if v}}
        events.append(_span(k.kernel, "kernel", at, p["cycles"], pid, CORE_TID0 + core, freq, args))
        if k.profile is None:
            continue
        for c, cause, lo, hi in k.profile.sleeps:
            lo, hi = max(lo, begin), min(hi, end)
            if c != core or hi <= lo:
                continue
            name = "barrier wait" if cause == "barrier" else f"{cause} wait"
            events.append(_span(name, cause, start + lo - first, hi - lo, pid, CORE_TID0 + core, freq,
                                {"cycles": hi - lo, "cause": cause, "kernel": k.kernel}))
    return events


def _dma_events(rec: StepRecord, start: int, compute: int, pid: int, freq: float) -> list[dict[str, Any]]:
    d = rec.dma
    if not d.busy_cycles:
        return []
    args = {"layer": rec.layer, "phase": rec.phase, "bytes_in": d.bytes_in, "bytes_out": d.bytes_out,
            "transfers": d.transfers, "tiles": d.tiles, "split": d.split, "double_buffer": d.double_buffer,
            "busy_cycles": d.busy_cycles, "exposed_cycles": d.exposed_cycles}
    out = []
    kernels_at = start + d.exposed_in
    if d.exposed_in:
        out.append(_span("DMA in (exposed)", "dma", start, d.exposed_in, pid, DMA_TID, freq, args))
    hidden = d.busy_cycles - d.exposed_cycles
    if hidden > 0 and compute:
        out.append(_span("DMA (hidden by double buffering)", "dma", kernels_at, min(hidden, compute), pid,
                         DMA_TID, freq, {**args, "hidden_cycles": hidden}))
    rest = d.exposed_cycles - d.exposed_in
    if rest > 0:
        out.append(_span("DMA out (exposed)", "dma", kernels_at + compute, rest, pid, DMA_TID, freq, args))
    return out


def _simulated_events(res: StepResult, pid: int, freq: float) -> list[dict[str, Any]]:
    """The step program's trace: everything at the cycles the simulation recorded."""
    run = res.run
    ctrl = CORE_TID0 + 8
    events = [*_track(pid, ctrl, "controller: DMA waits"), *_track(pid, DMA_TID, "DMA (simulated)")]
    sleeps = run.result.profile.sleeps if run.result.profile is not None else []
    for rec, m in zip(res.records, run.measures):
        events.append(_span(f"{rec.layer} {rec.phase}", "step", rec.start_cycle, rec.cycles, pid, STEP_TID, freq,
                            {"layer": rec.layer, "kind": rec.kind, "phase": rec.phase, "kernel": rec.kernel,
                             "cycles": rec.cycles, "compute_cycles": rec.compute_cycles,
                             "dma_cycles": rec.dma_cycles, "overhead_cycles": rec.overhead_cycles,
                             "tiles": rec.dma.tiles, "macs": rec.macs, "mac_per_clk": round(rec.mac_per_clk, 4),
                             "note": rec.note}))
        for (kern, var, role), per in zip(m.info.calls, m.core_spans):
            for core, (a, b) in sorted(per.items()):
                events.append(_span(kern, "kernel", a, b - a, pid, CORE_TID0 + core, freq,
                                    {"layer": rec.layer, "phase": rec.phase, "kernel": kern, "variant": var,
                                     "role": role, "cycles": b - a}))
                for c, cause, lo, hi in sleeps:
                    lo, hi = max(lo, a), min(hi, b)
                    if c == core and hi > lo:
                        name = "barrier wait" if cause == "barrier" else f"{cause} wait"
                        events.append(_span(name, cause, lo, hi - lo, pid, CORE_TID0 + core, freq,
                                            {"cycles": hi - lo, "cause": cause, "kernel": kern}))
        for a, b in m.dma_spans:
            events.append(_span("waits for the DMA", "dma", a, b - a, pid, ctrl, freq,
                                {"layer": rec.layer, "phase": rec.phase, "cycles": b - a}))
    for start, end, src, dst, nbytes in run.dma_log:
        into = 0x1000_0000 <= dst < 0x1C00_0000
        events.append(_span("L2 -> TCDM" if into else "TCDM -> L2", "dma", start, end - start, pid, DMA_TID, freq,
                            {"src": f"{src:#010x}", "dst": f"{dst:#010x}", "bytes": nbytes, "cycles": end - start}))
    return events


def step_events(res: StepResult, pid: int, freq_mhz: float) -> list[dict[str, Any]]:
    """The trace events of one simulated step (process `pid`)."""
    title = f"{res.network} {res.dtype} training step ({res.cores} cores; cycles at {freq_mhz:g} MHz)"
    events = [_meta("process_name", pid, None, {"name": title}),
              _meta("process_sort_index", pid, None, {"sort_index": pid}), *_track(pid, STEP_TID, "steps (layer, phase)")]
    for core in range(res.cores):
        events += _track(pid, CORE_TID0 + core, f"core {core}")
    if res.dma_mode == "simulated" and res.run is not None:
        return events + _simulated_events(res, pid, freq_mhz)
    events += _track(pid, DMA_TID, "DMA (modelled)")
    t = 0
    for rec in res.records:
        events.append(_span(f"{rec.layer} {rec.phase}", "step", t, rec.cycles, pid, STEP_TID, freq_mhz,
                            {"layer": rec.layer, "kind": rec.kind, "phase": rec.phase, "kernel": rec.kernel,
                             "cycles": rec.cycles, "compute_cycles": rec.compute_cycles,
                             "dma_cycles": rec.dma_cycles, "macs": rec.macs,
                             "mac_per_clk": round(rec.mac_per_clk, 4), "note": rec.note}))
        events += _dma_events(rec, t, rec.compute_cycles, pid, freq_mhz)
        k_at = t + rec.dma.exposed_in
        for k in rec.kernels:
            events += _kernel_events(k, rec, k_at, pid, freq_mhz)
            k_at += k.cycles
        t += rec.cycles
    return events


def timeline(results: Sequence[StepResult], freq_mhz: float) -> dict[str, Any]:
    """The trace document: {"traceEvents": [...], "displayTimeUnit": "ns", "otherData": {...}}."""
    events: list[dict[str, Any]] = []
    for pid, res in enumerate(results, start=1):
        events += step_events(res, pid, freq_mhz)
    other = {"schema": SCHEMA, "generator": "mcusim train --timeline", "freq_mhz": freq_mhz,
             "time_unit": f"µs = simulated cycles / {freq_mhz:g} MHz",
             "layout": "simulated step program: every span where the simulation put it" if all(
                 r.dma_mode == "simulated" for r in results) else
                       "steps one after another: each step's exposed DMA, then its kernels one after another "
                       "(each as long as its slowest core); barrier waits as nested spans on the cores",
             "dma": "simulated: the DMA engine's transfers as they ran" if all(
                 r.dma_mode == "simulated" for r in results) else
                    "modelled, not simulated (workloads.train.dma_model)",
             "steps": [{"pid": pid, "network": r.network, "dtype": r.dtype, "cores": r.cores, "cycles": r.cycles}
                       for pid, r in enumerate(results, start=1)]}
    return {"traceEvents": events, "displayTimeUnit": "ns", "otherData": other}


def write_timeline(results: Sequence[StepResult], path: str | Path, freq_mhz: float) -> dict[str, Any]:
    doc = timeline(results, freq_mhz)
    Path(path).write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    return doc
