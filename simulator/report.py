"""Run reports: the JSON document (schema below) and the terminal table.

JSON schema `mcusim-run/1`:
  schema        "mcusim-run/1"
  program       path of the program
  engine        "c" (compiled engine) or "py" (the Python reference)
  mode          "spmd" | "controller"
  exit_code     the program's exit code (null when the run ended in an error)
  exit_reason   why the run ended: the program's exit ("exit(0)", "tohost = 1 (pass)", ...), or the
                error's kind: "trap", "hang", "deadlock", "max-cycles", "program" (misuse of the event
                unit or DMA, e.g. fork without join)
  error         null, or the error's one-line message (core, pc, instruction, cycle)
  cycles        cluster cycles from the start to the end of the run
  instret       instructions retired, all cores
  config        every cluster parameter (as in docs/CONFIG.md)
  cores         list, one object per core that ran: id, cycles, instret, active (= instret),
                stalls {cause: cycles} (cycles == active + sum(stalls)), events {name: count},
                exit_code (or null)
  regions       list: name, cycles (max over the cores that ran it), per_core list of
                {core, cycles, instret, count, stalls}
  energy_uj     the run's energy by the model of simulator/energy.py (docs/ENERGY.md), in µJ
  parts_uj      that energy by part: instructions, fpu, tcdm, l2, dma, idle_cores, background, leakage
"""
from __future__ import annotations

import json
from typing import Any

from mcusim.simulator import energy, ifetch
from mcusim.simulator.cluster import STALL_CAUSES, ClusterResult
from mcusim.simulator.tables import keep_headers


def core_cycles(core) -> int:
    return core.end_cycle if core.end_cycle is not None else 0


def to_json(result: ClusterResult, program: str, error: Exception | None = None) -> dict[str, Any]:
    cores = []
    for c in result.ran:
        cores.append({
            "id": c.id,
            "cycles": core_cycles(c),
            "instret": c.hart.instret,
            "active": c.hart.instret,
            "stalls": dict(c.stalls),
            "events": dict(c.events),
            "exit_code": c.exit_code,
        })
    regions = []
    for name, rec in result.regions.items():
        per_core = [{"core": core, **vals} for core, vals in sorted(rec.per_core.items())]
        regions.append({"name": name, "cycles": max(v["cycles"] for v in rec.per_core.values()),
                        "per_core": per_core})
    return {
        "schema": "mcusim-run/1",
        "program": program,
        "engine": result.engine,
        "mode": result.mode,
        "exit_code": result.exit_code,
        "exit_reason": result.reason,
        "error": None if error is None else str(error),
        "cycles": result.cycles,
        "instret": result.instret,
        "config": result.config.to_dict(),
        "fetch": ifetch.describe(result.config.icache),
        "cores": cores,
        "regions": regions,
        **energy.of_result(result).to_json(),
    }


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2)


def print_table(doc: dict[str, Any], console=None) -> None:
    """Per-core (and total) cycles and stall breakdown, then per-region cycles."""
    from rich.console import Console
    from rich.table import Table
    console = console or Console(stderr=True)
    causes = [c for c in STALL_CAUSES if any(core["stalls"][c] for core in doc["cores"])]
    ending = (f"exit code {doc['exit_code']} ({doc['exit_reason']})" if doc.get("error") is None
              else f"stopped by {doc['exit_reason']}")
    table = Table(title=f"{doc['program']}: {doc['cycles']:,} cycles, {ending}", show_lines=False)
    for col in ["core", "cycles", "instret", "IPC", *causes]:
        table.add_column(col, justify="right")
    total = {"cycles": 0, "instret": 0, **{c: 0 for c in causes}}
    for core in doc["cores"]:
        ipc = core["instret"] / core["cycles"] if core["cycles"] else 0.0
        table.add_row(str(core["id"]), f"{core['cycles']:,}", f"{core['instret']:,}", f"{ipc:.2f}",
                      *[f"{core['stalls'][c]:,}" for c in causes])
        total["cycles"] += core["cycles"]
        total["instret"] += core["instret"]
        for c in causes:
            total[c] += core["stalls"][c]
    if len(doc["cores"]) > 1:
        ipc = total["instret"] / total["cycles"] if total["cycles"] else 0.0
        table.add_row("total", f"{total['cycles']:,}", f"{total['instret']:,}", f"{ipc:.2f}",
                      *[f"{total[c]:,}" for c in causes], style="bold")
    console.print(keep_headers(table))
    if "fetch" in doc:
        console.print(doc["fetch"], highlight=False, markup=False)
    if "energy_uj" in doc:
        parts = ", ".join(f"{k} {v:.3g}" for k, v in doc["parts_uj"].items() if v)
        console.print(f"energy (model, docs/ENERGY.md): {doc['energy_uj']:.4g} µJ ({parts})")
    if doc["regions"]:
        rt = Table(title="regions")
        for col in ("region", "cycles (max over cores)", "cores", "instret (sum)", "top stall"):
            rt.add_column(col, justify="right")
        for reg in doc["regions"]:
            stalls: dict[str, int] = {}
            for pc in reg["per_core"]:
                for k, v in pc["stalls"].items():
                    stalls[k] = stalls.get(k, 0) + v
            top = max(stalls.items(), key=lambda kv: kv[1]) if stalls else ("-", 0)
            rt.add_row(reg["name"], f"{reg['cycles']:,}", str(len(reg["per_core"])),
                       f"{sum(p['instret'] for p in reg['per_core']):,}",
                       f"{top[0]} {top[1]:,}" if top[1] else "-")
        console.print(keep_headers(rt))
