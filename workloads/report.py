"""Reports of a simulated training step (workloads.train.StepResult): rich tables, JSON, CSV, and the
FP32-vs-FP16 comparison.

JSON schema `mcusim-train/1` (`to_json`):
  schema, network, dtype, cores, dma_mode ("simulated": one step program, every cycle simulated;
  "model": kernels simulated one by one, DMA from the formula), run_cycles (simulated: the whole
  program run, boot and exit included), engine (requested), engines_used, freq_mhz, time_ms,
  cycles (sum of the layer-phases: kernels + exposed DMA + overhead), compute_cycles, dma_cycles,
  instret, macs, mac_per_clk, loss,
  config (every cluster parameter),
  numerics {ok, rule, loss, loss_ref, tensors: [{name, max_error, bound, ok, update, update_rel_error}]},
  extensions (core.extensions), energy_uj, parts_uj {part: µJ}, gflops_per_w (the step, by the energy
  model at energy_freq_mhz: docs/ENERGY.md), run_energy_uj (simulated: the whole program run),
  phases {forward|loss|weight_grad|input_grad|update|dma|overhead: {cycles, macs, mac_per_clk, share,
    energy_uj, gflops_per_w (None for dma and overhead, whose energy is in the phases)}}
    (overhead only when simulated: fork/join, barriers, DMA programming while the workers wait),
  stalls {cause: cycles, all steps and cores},
  layers: one per step [{name, kind, phase, kernel, variant, cycles, compute_cycles, dma_cycles,
    instret, macs, mac_per_clk, share, tcdm_kib, enlarged, note,
    dma {tiles, split, double_buffer, bytes_in, bytes_out, transfers, busy_cycles, exposed_cycles,
    exposed_in, mode (simulated | model), bank_cycles (TCDM bank cycles the DMA took from the cores)},
    overhead_cycles, tile_cycles (simulated: compute of every fork, in order),
    stalls {cause: cycles}, matmul (the matmul variants its kernels used), energy_uj, parts_uj,
    gflops_per_w, kernels [{kernel, variant, role, cycles, instret, tcdm_kib, engine, energy_uj,
    per_core [{core, cycles, instret, stalls}]}]}]
With `--compare-profile`: profile_comparison {a, b (the two core.extensions), step_b (the other
step's document), rows [{name, phase, kind, macs, variant_a, matmul_a, cycles_a, energy_uj_a, the
same for b, ratio = cycles_a / cycles_b}]}.
`compare_json(a, b)` is the `--compare-dtypes` document: both steps and the speedup per row.
With `--profile`, to_json's document gets `profile` (`profile_json`): {cycles (profiled core cycles,
all kernels), kernels [{kernel, variant, calls, cycles, core_cycles, instret, share, stalls, energy_uj}],
instructions [{kernel, variant, where, text, count, cycles, share, stalls}] (the hottest first),
labels [{kernel, variant, label, count, cycles, share, stalls}]}.

Time: cycles / frequency. DEFAULT_FREQ_MHZ (workloads/study.py) explains the default.
"""
from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from mcusim.simulator import ifetch
from mcusim.simulator import profile as prof
from mcusim.simulator.cluster import STALL_CAUSES
from mcusim.simulator.energy import Energy
from mcusim.workloads.train import StepRecord, StepResult
from mcusim.simulator.tables import keep_headers
from mcusim.workloads.study import DEFAULT_FREQ_MHZ

if TYPE_CHECKING:      # rich is imported by the functions that draw: -q and --json runs need none of it
    from rich.console import Console
    from rich.table import Table

JSON_SCHEMA = "mcusim-train/1"
COMPARE_SCHEMA = "mcusim-train-compare/1"


PHASE_LABEL = {"forward": "forward", "loss": "loss", "weight_grad": "weight gradient",
               "input_grad": "input gradient", "update": "update (SGD)", "dma": "DMA (exposed)",
               "overhead": "fork/join, DMA set-up"}
SHORT = {"forward": "FW", "loss": "LOSS", "weight_grad": "WG", "input_grad": "IG", "update": "UP"}

# Published figures (Nadalini et al. 2023, abstract) and this project's targets.
PUBLISHED = {
    "conv2d_speedup": 1.72,
    "resnet8_mac_per_clk": 3.11, "resnet8_ms": 17.1,
    "dscnn_mac_per_clk": 0.81, "dscnn_ms": 6.4,
}
TARGETS = {"conv2d_speedup": 1.9, "resnet8_mac_per_clk": 4.5, "dscnn_mac_per_clk": 1.6}


def time_ms(cycles: int, freq_mhz: float) -> float:
    return cycles / (freq_mhz * 1e3)


def _share(part: int, total: int) -> float:
    return part / total if total else 0.0


# ------------------------------------------------------------------------------------------------
# JSON and CSV
# ------------------------------------------------------------------------------------------------

def _record_json(r: StepRecord, total: int) -> dict[str, Any]:
    return {
        "name": r.layer, "kind": r.kind, "phase": r.phase, "kernel": r.kernel, "variant": r.variant,
        "cycles": r.cycles, "compute_cycles": r.compute_cycles, "dma_cycles": r.dma_cycles,
        "instret": r.instret, "macs": r.macs, "mac_per_clk": round(r.mac_per_clk, 4),
        "share": round(_share(r.cycles, total), 6), "tcdm_kib": r.tcdm_kib, "enlarged": r.enlarged,
        "note": r.note,
        "dma": {"tiles": r.dma.tiles, "split": r.dma.split, "double_buffer": r.dma.double_buffer,
                "bytes_in": r.dma.bytes_in, "bytes_out": r.dma.bytes_out, "transfers": r.dma.transfers,
                "busy_cycles": r.dma.busy_cycles, "exposed_cycles": r.dma.exposed_cycles,
                "exposed_in": r.dma.exposed_in, "mode": r.dma.mode, "bank_cycles": r.dma.bank_cycles},
        "overhead_cycles": r.overhead_cycles, "tile_cycles": r.tile_cycles,
        "stalls": r.stalls(), "matmul": r.matmuls,
        "energy_uj": _uj(r.energy), "parts_uj": _parts(r.energy), "gflops_per_w": _round(r.gflops_per_w, 2),
        "kernels": [{"kernel": k.kernel, "variant": k.variant, "role": k.role, "cycles": k.cycles,
                     "instret": k.instret, "tcdm_kib": k.tcdm_kib, "engine": k.engine,
                     "energy_uj": _uj(k.energy), "per_core": k.per_core} for k in r.kernels],
    }


def _uj(e: Energy | None) -> float | None:
    return None if e is None else round(e.total_uj, 6)


def _parts(e: Energy | None) -> dict[str, float] | None:
    return None if e is None else {k: round(v * 1e-6, 6) for k, v in e.parts_pj.items()}


def _round(v: float | None, digits: int) -> float | None:
    return None if v is None else round(v, digits)


def phase_rows(res: StepResult) -> dict[str, dict[str, Any]]:
    """Per phase (and "dma"): cycles, MACs, MAC/clk, share of the step; energy_uj and gflops_per_w of
    the phase's layer-phases (their DMA included; None for the "dma" and "overhead" rows, whose
    energy is inside the phases)."""
    out = {}
    energies = res.phase_energy()
    for ph, v in res.by_phase().items():
        e = energies.get(ph)
        out[ph] = {"cycles": v["cycles"], "macs": v["macs"],
                   "mac_per_clk": round(v["macs"] / v["cycles"], 4) if v["cycles"] else 0.0,
                   "share": round(_share(v["cycles"], res.cycles), 6), "energy_uj": _uj(e),
                   "gflops_per_w": _round(e.gflops_per_w(2 * v["macs"]) if e is not None and v["macs"] else None, 2)}
    return out


def to_json(res: StepResult, freq_mhz: float = DEFAULT_FREQ_MHZ) -> dict[str, Any]:
    num = res.numerics
    return {
        "schema": JSON_SCHEMA, "network": res.network, "dtype": res.dtype, "cores": res.cores,
        "dma_mode": res.dma_mode, "run_cycles": res.run_cycles,
        "engine": res.engine, "engines_used": list(res.engines_used), "freq_mhz": freq_mhz,
        "time_ms": round(time_ms(res.cycles, freq_mhz), 6), "cycles": res.cycles,
        "compute_cycles": res.compute_cycles, "dma_cycles": res.dma_cycles, "instret": res.instret,
        "macs": res.macs, "mac_per_clk": round(res.mac_per_clk, 4), "loss": res.loss, "lr": res.lr,
        "seed": res.seed, "config": res.config.to_dict(), "fetch": ifetch.describe(res.config.icache),
        "numerics": None if num is None else {
            "ok": num.ok, "rule": num.rule, "loss": num.loss, "loss_ref": num.loss_ref,
            "tensors": [vars(t) for t in num.tensors]},
        "phases": phase_rows(res), "stalls": res.stalls(),
        "extensions": res.config.core.extensions,
        "energy_uj": _uj(res.energy), "parts_uj": _parts(res.energy),
        "gflops_per_w": _round(res.energy.gflops_per_w(2 * res.macs) if res.energy is not None else None, 2),
        "energy_freq_mhz": res.config.energy.freq_mhz, "run_energy_uj": _uj(res.run_energy),
        "layers": [_record_json(r, res.cycles) for r in res.records],
    }


CSV_FIELDS = ("layer", "kind", "phase", "kernel", "variant", "cycles", "compute_cycles", "dma_cycles",
              "instret", "macs", "mac_per_clk", "share", "tiles", "double_buffer", "dma_bytes_in",
              "dma_bytes_out", "tcdm_kib", "enlarged") + tuple(f"stall_{c}" for c in STALL_CAUSES) + \
    ("matmul", "energy_uj", "gflops_per_w")


def write_csv(res: StepResult, out: IO[str]) -> None:
    """One row per step (CSV_FIELDS)."""
    w = csv.writer(out)
    w.writerow(CSV_FIELDS)
    for r in res.records:
        st = r.stalls()
        w.writerow([r.layer, r.kind, r.phase, r.kernel, r.variant, r.cycles, r.compute_cycles, r.dma_cycles,
                    r.instret, r.macs, f"{r.mac_per_clk:.4f}", f"{_share(r.cycles, res.cycles):.6f}",
                    r.dma.tiles, int(r.dma.double_buffer), r.dma.bytes_in, r.dma.bytes_out, r.tcdm_kib,
                    int(r.enlarged)] + [st[c] for c in STALL_CAUSES] +
                   [r.matmuls, "" if r.energy is None else f"{r.energy.total_uj:.6f}",
                    "" if r.gflops_per_w is None else f"{r.gflops_per_w:.2f}"])


def dumps(doc: Any) -> str:
    return json.dumps(doc, indent=1)


def write_text(path: str, text: str) -> None:
    """`-` is stdout."""
    from mcusim.simulator.outputs import write_atomic
    write_atomic(path, text + ("" if text.endswith("\n") else "\n"), "--json")


# ------------------------------------------------------------------------------------------------
# Tables
# ------------------------------------------------------------------------------------------------

def _n(v: int) -> str:
    return f"{v:,}"


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def step_table(res: StepResult) -> Table:
    """One row per (layer, phase): kernel, compute and DMA cycles, MACs, MAC/clk, share."""
    from rich.table import Table
    t = Table(title=f"{res.network} {res.dtype} training step: {res.cores} cores", title_justify="left")
    for col, just in (("layer", "left"), ("phase", "left"), ("kernel", "left"), ("variant", "left"),
                      ("cycles", "right"), ("compute", "right"), ("DMA", "right"), ("MACs", "right"),
                      ("MAC/clk", "right"), ("share", "right"), ("TCDM", "right"), ("µJ", "right"),
                      ("GFLOPS/W", "right")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in res.records:
        tcdm = f"{r.tcdm_kib}K*" if r.enlarged else (f"{r.dma.tiles} tiles" if r.dma.tiles > 1 else "")
        t.add_row(r.layer, SHORT[r.phase], r.kernel, r.variant, _n(r.cycles), _n(r.compute_cycles),
                  _n(r.dma_cycles), _n(r.macs), f"{r.mac_per_clk:.2f}" if r.macs else "",
                  _pct(_share(r.cycles, res.cycles)), tcdm, _energy_cell(r.energy),
                  "" if r.gflops_per_w is None else f"{r.gflops_per_w:.1f}")
    return keep_headers(t)


def _energy_cell(e: Energy | None) -> str:
    return "" if e is None else f"{e.total_uj:.4g}"


def phase_table(res: StepResult, freq_mhz: float) -> Table:
    from rich.table import Table
    t = Table(title="per phase", title_justify="left")
    for col in ("phase", "cycles", "MACs", "MAC/clk", "share", "ms", "µJ", "GFLOPS/W"):
        # the phase names stay on one line: the numeric columns fold first on a narrow terminal
        t.add_column(col, justify="left" if col == "phase" else "right", no_wrap=col == "phase")
    for ph, v in phase_rows(res).items():
        t.add_row(PHASE_LABEL[ph], _n(v["cycles"]), _n(v["macs"]), f"{v['mac_per_clk']:.2f}" if v["macs"] else "",
                  _pct(v["share"]), f"{time_ms(v['cycles'], freq_mhz):.3f}",
                  "" if v["energy_uj"] is None else f"{v['energy_uj']:.4g}",
                  "" if v["gflops_per_w"] is None else f"{v['gflops_per_w']:.1f}")
    e = res.energy
    t.add_row("total", _n(res.cycles), _n(res.macs), f"{res.mac_per_clk:.2f}", "100.0%",
              f"{time_ms(res.cycles, freq_mhz):.3f}", _energy_cell(e),
              "" if e is None else f"{e.gflops_per_w(2 * res.macs):.1f}", style="bold")
    return keep_headers(t)


def energy_line(res: StepResult) -> str | None:
    """The step's energy by the model (docs/ENERGY.md), its parts and efficiency, one line."""
    e = res.energy
    if e is None:
        return None
    parts = ", ".join(f"{k} {v * 1e-6:.3g}" for k, v in e.parts_pj.items() if v)
    run = res.run_energy
    whole = f"; whole program run {run.total_uj:.4g} µJ" if run is not None else ""
    return (f"energy (model, docs/ENERGY.md): {e.total_uj:.4g} µJ per step, {e.gflops_per_w(2 * res.macs):.1f} "
            f"GFLOPS/W at {res.config.energy.freq_mhz:g} MHz (energy.freq_mhz) ({parts} µJ){whole}")


def profile_line(res: StepResult) -> str:
    """The cores' ISA profile and the matmul variants the step's kernels used."""
    used: dict[str, int] = {}
    for r in res.records:
        for v in filter(None, r.matmuls.split("+")):
            used[v] = used.get(v, 0) + 1
    mm = ", ".join(f"{v} ({n} layer-phases)" for v, n in used.items()) or "none recorded"
    return f"ISA profile core.extensions = {res.config.core.extensions!r}; matmul variants used: {mm}"


def summary_lines(res: StepResult, freq_mhz: float) -> list[str]:
    over = sum(r.overhead_cycles for r in res.records)
    lines = [(f"{res.network} {res.dtype}: {_n(res.cycles)} cycles ({_n(res.compute_cycles)} kernels + "
              f"{_n(res.dma_cycles)} exposed DMA" + (f" + {_n(over)} fork/join and DMA set-up" if over else "")
              + f"), {_n(res.instret)} instructions, {_n(res.macs)} MACs, "
              f"{res.mac_per_clk:.2f} MAC/clk; {time_ms(res.cycles, freq_mhz):.2f} ms at {freq_mhz:g} MHz "
              f"(default 700 MHz: the clock the study's ResNet8 figures imply, see workloads/report.py)"),
             f"engine: {', '.join(res.engines_used) or '-'} (requested {res.engine}); loss {res.loss:.6g}",
             ifetch.describe(res.config.icache)]
    if res.dma_mode == "simulated":
        tiled = [r for r in res.records if r.dma.tiles > 1]
        lines.append(f"simulated: the whole step as one program ({_n(res.run_cycles)} cycles run) on the configured "
                     f"{res.config.tcdm.size_kib} KiB TCDM; {len(tiled)} layer-phases tiled; DMA, fork/join and "
                     f"bank conflicts all simulated (bank cycles the DMA took from the cores: "
                     f"{_n(sum(r.dma.bank_cycles for r in res.records))})")
    else:
        lines.append("DMA modelled (--dma model): kernels simulated one by one, transfers priced by the formula")
    stalls = sorted(((v, c) for c, v in res.stalls().items() if v), reverse=True)[:5]
    if stalls:
        core_cycles = sum(p["cycles"] for r in res.records for k in r.kernels for p in k.per_core)
        lines.append("stall cycles (all kernels and cores): " + ", ".join(
            f"{c} {v:,} ({_pct(_share(v, core_cycles))})" for v, c in stalls))
    big = [r for r in res.records if r.enlarged]
    if big:
        lines.append(f"{len(big)} steps simulated whole on an enlarged TCDM (* in the table; the planner "
                     f"tiles them in {res.config.tcdm.size_kib} KiB): their cycles approximate the tiles' compute")
    lines.append("shape transforms (im2col, transposes, padding) are inside the kernels' cycles (one region "
                 "per kernel), not reported separately")
    line = energy_line(res)
    if line:
        lines.append(line)
    if res.dma_mode == "simulated":
        lines.append(profile_line(res))
    if res.numerics is not None:
        lines.append(res.numerics.describe())
    return lines


def stderr_console() -> Console:
    """A console on stderr; 160 columns when it is not a terminal (rich would assume 80 and cut the
    step table)."""
    from rich.console import Console
    con = Console(stderr=True)
    return con if con.is_terminal else Console(stderr=True, width=160)


def print_report(res: StepResult, freq_mhz: float = DEFAULT_FREQ_MHZ, console: Console | None = None) -> None:
    """The step table, the phase table and the summary (stderr by default)."""
    con = console or stderr_console()
    con.print(step_table(res))
    con.print(phase_table(res, freq_mhz))
    for line in summary_lines(res, freq_mhz):
        con.print(line, highlight=False, markup=False)


# ------------------------------------------------------------------------------------------------
# FP32 vs FP16
# ------------------------------------------------------------------------------------------------

def compare_rows(a: StepResult, b: StepResult) -> list[dict[str, Any]]:
    """Rows (layer, phase) of two steps of one network, with speedup = cycles a / cycles b; then
    one row per phase and a total."""
    if [(r.layer, r.phase) for r in a.records] != [(r.layer, r.phase) for r in b.records]:
        raise ValueError("the two steps have different schedules")
    rows = []
    for ra, rb in zip(a.records, b.records):
        rows.append({"name": ra.layer, "phase": ra.phase, "kind": ra.kind, "macs": ra.macs,
                     f"cycles_{a.dtype}": ra.cycles, f"cycles_{b.dtype}": rb.cycles,
                     "speedup": round(ra.cycles / rb.cycles, 4) if rb.cycles else None})
    pa, pb = a.by_phase(), b.by_phase()
    for ph in pa:
        ca, cb = pa[ph]["cycles"], pb[ph]["cycles"]
        rows.append({"name": "(all)", "phase": ph, "kind": "", "macs": pa[ph]["macs"], f"cycles_{a.dtype}": ca,
                     f"cycles_{b.dtype}": cb, "speedup": round(ca / cb, 4) if cb else None})
    rows.append({"name": "(total)", "phase": "step", "kind": "", "macs": a.macs, f"cycles_{a.dtype}": a.cycles,
                 f"cycles_{b.dtype}": b.cycles, "speedup": round(a.cycles / b.cycles, 4) if b.cycles else None})
    return rows


def compare_json(a: StepResult, b: StepResult, freq_mhz: float = DEFAULT_FREQ_MHZ) -> dict[str, Any]:
    return {"schema": COMPARE_SCHEMA, "network": a.network, "freq_mhz": freq_mhz,
            "steps": {a.dtype: to_json(a, freq_mhz), b.dtype: to_json(b, freq_mhz)},
            "rows": compare_rows(a, b)}


def compare_table(a: StepResult, b: StepResult, freq_mhz: float) -> Table:
    from rich.table import Table
    t = Table(title=f"{a.network}: {a.dtype} vs {b.dtype} (speedup = {a.dtype} cycles / {b.dtype} cycles)",
              title_justify="left")
    for col in ("layer", "phase", "MACs", f"{a.dtype} cycles", f"{b.dtype} cycles", "speedup",
                f"{a.dtype} MAC/clk", f"{b.dtype} MAC/clk"):
        t.add_column(col, justify="left" if col in ("layer", "phase") else "right")
    for row in compare_rows(a, b):
        ca, cb = row[f"cycles_{a.dtype}"], row[f"cycles_{b.dtype}"]
        m = row["macs"]
        phase = SHORT.get(row["phase"], row["phase"]) if not row["name"].startswith("(") else \
            PHASE_LABEL.get(row["phase"], row["phase"])
        style = "bold" if row["name"].startswith("(") else None
        t.add_row(row["name"], phase, _n(m), _n(ca), _n(cb),
                  f"{row['speedup']:.2f}x" if row["speedup"] else "-",
                  f"{m / ca:.2f}" if m and ca else "", f"{m / cb:.2f}" if m and cb else "", style=style)
    t.caption = (f"step: {time_ms(a.cycles, freq_mhz):.2f} ms {a.dtype}, {time_ms(b.cycles, freq_mhz):.2f} ms "
                 f"{b.dtype} at {freq_mhz:g} MHz")
    return keep_headers(t)


def compare_csv(a: StepResult, b: StepResult, out: IO[str]) -> None:
    rows = compare_rows(a, b)
    w = csv.DictWriter(out, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)


# ------------------------------------------------------------------------------------------------
# One step under two ISA profiles (`--compare-profile`)
# ------------------------------------------------------------------------------------------------

def profile_compare_rows(a: StepResult, b: StepResult) -> list[dict[str, Any]]:
    """Rows (layer, phase) of one step under two ISA profiles (a: the configured one, b: the
    comparison): each side's variant, matmul variants, cycles and energy, and ratio = cycles a /
    cycles b; then one row per phase and a total."""
    if [(r.layer, r.phase) for r in a.records] != [(r.layer, r.phase) for r in b.records]:
        raise ValueError("the two steps have different schedules")

    def side(tag: str, cycles: int, energy: Energy | None, variant: str = "", matmul: str = "") -> dict[str, Any]:
        return {f"variant_{tag}": variant, f"matmul_{tag}": matmul, f"cycles_{tag}": cycles,
                f"energy_uj_{tag}": _uj(energy)}

    rows = []
    for ra, rb in zip(a.records, b.records):
        rows.append({"name": ra.layer, "phase": ra.phase, "kind": ra.kind, "macs": ra.macs,
                     **side("a", ra.cycles, ra.energy, ra.variant, ra.matmuls),
                     **side("b", rb.cycles, rb.energy, rb.variant, rb.matmuls),
                     "ratio": round(ra.cycles / rb.cycles, 4) if rb.cycles else None})
    pa, pb = a.by_phase(), b.by_phase()
    ea, eb = a.phase_energy(), b.phase_energy()
    for ph in pa:
        ca, cb = pa[ph]["cycles"], pb[ph]["cycles"]
        rows.append({"name": "(all)", "phase": ph, "kind": "", "macs": pa[ph]["macs"], **side("a", ca, ea.get(ph)),
                     **side("b", cb, eb.get(ph)), "ratio": round(ca / cb, 4) if cb else None})
    rows.append({"name": "(total)", "phase": "step", "kind": "", "macs": a.macs, **side("a", a.cycles, a.energy),
                 **side("b", b.cycles, b.energy), "ratio": round(a.cycles / b.cycles, 4) if b.cycles else None})
    return rows


def profile_compare_json(a: StepResult, b: StepResult, freq_mhz: float = DEFAULT_FREQ_MHZ) -> dict[str, Any]:
    """`--compare-profile`'s part of the JSON: the profiles (a = the configured one), the other step
    and the rows of profile_compare_rows."""
    return {"a": a.config.core.extensions, "b": b.config.core.extensions, "step_b": to_json(b, freq_mhz),
            "rows": profile_compare_rows(a, b)}


def _variant_cell(variant: str, matmul: str) -> str:
    return f"{variant} ({matmul})" if matmul else variant


def profile_compare_table(a: StepResult, b: StepResult, freq_mhz: float) -> Table:
    from rich.table import Table
    pa, pb = a.config.core.extensions, b.config.core.extensions
    t = Table(title=f"{a.network} {a.dtype}: core.extensions {pa!r} vs {pb!r} (ratio = cycles {pa} / cycles {pb}; "
                    f"variant (matmul variants))", title_justify="left")
    for col in ("layer", "phase", f"{pa} variant", f"{pb} variant", f"{pa} cycles", f"{pb} cycles", "ratio",
                f"{pa} MAC/clk", f"{pb} MAC/clk", f"{pa} µJ", f"{pb} µJ"):
        t.add_column(col, justify="left" if col in ("layer", "phase") or col.endswith("variant") else "right")
    for row in profile_compare_rows(a, b):
        ca, cb, m = row["cycles_a"], row["cycles_b"], row["macs"]
        total = row["name"].startswith("(")
        phase = PHASE_LABEL.get(row["phase"], row["phase"]) if total else SHORT.get(row["phase"], row["phase"])
        t.add_row(row["name"], phase, _variant_cell(row["variant_a"], row["matmul_a"]),
                  _variant_cell(row["variant_b"], row["matmul_b"]), _n(ca), _n(cb),
                  f"{row['ratio']:.3f}" if row["ratio"] else "-",
                  f"{m / ca:.2f}" if m and ca else "", f"{m / cb:.2f}" if m and cb else "",
                  "" if row["energy_uj_a"] is None else f"{row['energy_uj_a']:.4g}",
                  "" if row["energy_uj_b"] is None else f"{row['energy_uj_b']:.4g}", style="bold" if total else None)
    t.caption = (f"step: {_n(a.cycles)} cycles, {a.mac_per_clk:.2f} MAC/clk, {time_ms(a.cycles, freq_mhz):.2f} ms "
                 f"with {pa!r}; {_n(b.cycles)} cycles, {b.mac_per_clk:.2f} MAC/clk, "
                 f"{time_ms(b.cycles, freq_mhz):.2f} ms with {pb!r} at {freq_mhz:g} MHz")
    return keep_headers(t)


def profile_compare_csv(a: StepResult, b: StepResult, out: IO[str]) -> None:
    rows = profile_compare_rows(a, b)
    w = csv.DictWriter(out, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)


# ------------------------------------------------------------------------------------------------
# Reproduction table
# ------------------------------------------------------------------------------------------------

def reproduce_table(rows: Sequence[dict[str, Any]], freq_mhz: float) -> Table:
    """rows: {experiment, metric, measured, trainlib, published, target} (trainlib, published and target
    may be None). Three result columns: the study's figure, mcusim with TrainLib-style kernels (what
    the model gives for kernels built as the study's), mcusim with its own library (what better
    kernels give on the same model)."""
    from rich.table import Table
    t = Table(title=f"published experiments (Nadalini et al. 2023) vs mcusim; times at {freq_mhz:g} MHz",
              title_justify="left")
    for col in ("experiment", "metric", "published", "mcusim, TrainLib-style kernels", "mcusim, own library",
                "target", "target met"):
        t.add_column(col, justify="left" if col in ("experiment", "metric") else "right")
    for r in rows:
        fmt = r.get("fmt", "{:.2f}")
        met = "" if r.get("target") is None else ("yes" if r["measured"] >= r["target"] else "NO")
        t.add_row(r["experiment"], r["metric"],
                  "" if r.get("published") is None else fmt.format(r["published"]),
                  "" if r.get("trainlib") is None else fmt.format(r["trainlib"]), fmt.format(r["measured"]),
                  "" if r.get("target") is None else f">= {fmt.format(r['target'])}", met)
    return keep_headers(t)


def reproduce_attribution(rows: Sequence[dict[str, Any]], freq_mhz: float, fetch_model: str,
                          missing: str) -> list[str]:
    """Lines saying, per network, which part of the gap between the study and mcusim's own library
    comes from the model (study -> TrainLib-style column: the same kind of kernels, so what differs
    is what the simulator does or leaves out) and which from the kernels (TrainLib-style -> own
    library: the same model). Computed from the rows: MAC/clk (published, trainlib, measured, the
    step's MACs and cycle shares) and the time row of the same experiment; the split of the whole
    ratio is in log terms (so the parts add up), given only when both parts go the same way."""
    out = ["Where the differences come from (computed from the rows above):"]
    times = {r["experiment"]: r for r in rows if str(r.get("metric", "")).startswith("ms at")}
    for r in rows:
        if r.get("metric") != "MAC/clk" or r.get("trainlib") is None or not r.get("published"):
            continue
        pub, tl, own = r["published"], r["trainlib"], r["measured"]
        model, kern, whole = tl / pub, own / tl, own / pub
        same_way = math.log(model) * math.log(whole) >= 0 and math.log(kern) * math.log(whole) >= 0
        share = lambda x: 100 * math.log(x) / math.log(whole)
        split = (f" ({share(model):.0f}% / {share(kern):.0f}% of the {whole:.2f}x between the study and the "
                 f"library, in log terms)") if same_way and abs(math.log(whole)) > 1e-9 else ""
        out.append(f"- {r.get('network', r['experiment'])}: study {pub:.2f} -> TrainLib-style {tl:.2f} MAC/clk = "
                   f"{model:.2f}x from the model (the same kind of kernels: what the simulator does "
                   f"differently); TrainLib-style -> own library {own:.2f} = {kern:.2f}x from the kernels "
                   f"(the same model){split}.")
        t = times.get(r["experiment"])
        if t and t.get("published") and t.get("trainlib") and r.get("macs"):
            implied = pub * t["published"] * 1e-3 * freq_mhz * 1e6
            out.append(f"  In time at {freq_mhz:g} MHz: study {t['published']:.2f} ms -> TrainLib-style "
                       f"{t['trainlib']:.2f} ms = {t['published'] / t['trainlib']:.2f}x. The study's MAC/clk and "
                       f"time imply {implied / 1e6:.2f} M MACs at that clock, against {r['macs'] / 1e6:.2f} M "
                       f"counted here"
                       + (": where these differ, the MAC/clk ratio above is partly a different MAC count."
                          if abs(implied / r["macs"] - 1) > 0.05 else "."))
        tsh = r.get("trainlib_shares", {})
        if tsh:
            out.append(f"  In the TrainLib-style step {100 * tsh['other_kernels']:.0f}% of the cycles are in "
                       f"kernels without a TrainLib-style variant, the library's ({missing}), and "
                       f"{100 * tsh['dma']:.0f}% are exposed DMA (mcusim's tiling, not TrainLib's).")
    fetch = ("modelled (icache.model = cache)" if fetch_model == "cache" else
             "ideal in this run (icache.model = ideal; 'cache' models it)")
    out.append("Not modelled, so inside the model part: the dispatch cost of each parallel region (a "
               "pi_cl_team_fork per primitive, here a barrier), the C compiler's exact code (the "
               "TrainLib-style kernels are hand-written assembly of the same loop structure), TrainLib's "
               "own DMA use and data placement, its two-elements-per-word FP16 im2row, and the study's "
               f"clock (not published; {freq_mhz:g} MHz assumed for the times); instruction fetch is {fetch}.")
    return out


# ------------------------------------------------------------------------------------------------
# Profile (`--profile`): kernels, instructions and labels across the whole step
# ------------------------------------------------------------------------------------------------

def kernel_profile_rows(res: StepResult) -> list[dict[str, Any]]:
    """Per kernel program (registry name and variant), most cycles first: calls, cycles (regions,
    slowest core, summed over the calls), core_cycles (regions, all cores), instret, share (of the
    step's kernel cycles), stalls {cause: cycles, all cores}, energy_uj (the energy model over the
    kernel's forks; None when not known). Needs no profile (region counters)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in res.records:
        for k in r.kernels:
            row = out.setdefault((k.kernel, k.variant), {"kernel": k.kernel, "variant": k.variant, "calls": 0,
                                                         "cycles": 0, "core_cycles": 0, "instret": 0,
                                                         "stalls": dict.fromkeys(STALL_CAUSES, 0), "energy_uj": 0.0})
            row["calls"] += 1
            if row["energy_uj"] is not None:
                row["energy_uj"] = None if k.energy is None else row["energy_uj"] + k.energy.total_uj
            row["cycles"] += k.cycles
            row["core_cycles"] += sum(p["cycles"] for p in k.per_core)
            row["instret"] += k.instret
            for c, v in k.stalls.items():
                row["stalls"][c] += v
    rows = sorted(out.values(), key=lambda r: (-r["cycles"], r["kernel"], r["variant"]))
    for row in rows:
        row["share"] = _share(row["cycles"], res.compute_cycles)
    return rows


def _profiles(res: StepResult):
    if res.dma_mode == "simulated" and res.run is not None:
        if res.run.result.profile is not None:
            from types import SimpleNamespace        # one profile: the whole step program
            yield SimpleNamespace(kernel="step program", variant="-", role="all", cycles=res.cycles), \
                res.run.result.profile
        return
    for r in res.records:
        for k in r.kernels:
            if k.profile is not None:
                yield k, k.profile


def instruction_profile_rows(res: StepResult, top: int | None = None) -> list[dict[str, Any]]:
    """Every executed instruction of every kernel program, summed over the calls of a program (one
    row per kernel, variant, label+offset and instruction), most cycles first; share = of all
    profiled core cycles of the step."""
    out: dict[tuple, dict[str, Any]] = {}
    for k, p in _profiles(res):
        for row in prof.instruction_rows(p):
            key = (k.kernel, k.variant, row["where"], row["text"])
            acc = out.setdefault(key, {"kernel": k.kernel, "variant": k.variant, "where": row["where"],
                                       "label": row["label"], "text": row["text"], "count": 0, "cycles": 0,
                                       "stalls": {}})
            acc["count"] += row["count"]
            acc["cycles"] += row["cycles"]
            for c, v in row["stalls"].items():
                acc["stalls"][c] = acc["stalls"].get(c, 0) + v
    total = sum(r["cycles"] for r in out.values())
    rows = sorted(out.values(), key=lambda r: (-r["cycles"], r["kernel"], r["where"]))
    for r in rows:
        r["share"] = _share(r["cycles"], total)
        r["per_exec"] = _share(r["cycles"], r["count"])
    return rows if top is None else rows[:top]


def label_profile_rows(res: StepResult, top: int | None = None) -> list[dict[str, Any]]:
    """instruction_profile_rows summed per kernel, variant and label."""
    out: dict[tuple, dict[str, Any]] = {}
    for row in instruction_profile_rows(res):
        key = (row["kernel"], row["variant"], row["label"])
        acc = out.setdefault(key, {"kernel": row["kernel"], "variant": row["variant"],
                                   "label": row["label"] or "(no label)", "count": 0, "cycles": 0, "share": 0.0,
                                   "stalls": {}})
        acc["count"] += row["count"]
        acc["cycles"] += row["cycles"]
        acc["share"] += row["share"]
        for c, v in row["stalls"].items():
            acc["stalls"][c] = acc["stalls"].get(c, 0) + v
    rows = sorted(out.values(), key=lambda r: (-r["cycles"], r["kernel"], r["label"]))
    return rows if top is None else rows[:top]


def profile_json(res: StepResult, top: int = 50) -> dict[str, Any]:
    return {"cycles": sum(p.cycles for _k, p in _profiles(res)), "kernels": kernel_profile_rows(res),
            "instructions": instruction_profile_rows(res, top), "labels": label_profile_rows(res, top)}


def print_profile(res: StepResult, console: Console | None = None, top: int = 20) -> None:
    """Kernels with their stall causes, then the hottest instructions and labels of the whole step."""
    from rich.table import Table
    con = console or stderr_console()
    krows = kernel_profile_rows(res)
    t = Table(title=f"{res.network} {res.dtype}: kernels (all calls; stall shares of the kernels' cycles "
                    f"summed over the cores)", title_justify="left")
    causes = [c for c in STALL_CAUSES if any(r["stalls"][c] for r in krows)]
    for col in ("kernel", "variant", "calls", "cycles", "share", "core cycles", "IPC/core", "µJ", *causes):
        t.add_column(col, justify="left" if col in ("kernel", "variant") else "right")
    for r in krows:
        t.add_row(r["kernel"], r["variant"], str(r["calls"]), _n(r["cycles"]), _pct(r["share"]), _n(r["core_cycles"]),
                  f"{_share(r['instret'], r['core_cycles']):.2f}",
                  "" if r["energy_uj"] is None else f"{r['energy_uj']:.4g}",
                  *[_pct(_share(r["stalls"][c], r["core_cycles"])) for c in causes])
    con.print(t)
    rows = instruction_profile_rows(res)
    if not rows:
        con.print("no instruction profile (simulate_step(..., profile=True))", highlight=False, markup=False)
        return
    total = sum(r["cycles"] for r in rows)
    con.print(prof.instruction_table(rows[:top], f"hottest instructions of the step ({_n(total)} profiled core "
                                                  f"cycles: every kernel program run, all cores; an instruction "
                                                  f"is charged until its core can issue the next)",
                                     kernel_column=True))
    con.print(prof.label_table(label_profile_rows(res, top), "hottest labels", kernel_column=True))
