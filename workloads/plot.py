"""Per-layer cycles by phase, FP32 beside FP16 (or bfloat16 with --dtype bf16), as a PNG: `mcusim train --plot FILE.png`.

One pair of stacked bars per layer (left FP32, right FP16, hatched), each stacked by phase
(forward, loss, weight gradient, input gradient, update, exposed DMA), in the network's layer
order; the title gives both steps' totals and the speedup. matplotlib with the Agg backend (no
display needed).
"""
from __future__ import annotations

from pathlib import Path

from mcusim.workloads.train import PHASE_ORDER, StepResult

PHASES = (*PHASE_ORDER, "dma")
LABELS = {"forward": "forward", "loss": "loss", "weight_grad": "weight gradient", "input_grad": "input gradient",
          "update": "update (SGD)", "dma": "DMA (exposed)"}
COLORS = {"forward": "#4c72b0", "loss": "#8172b3", "weight_grad": "#dd8452", "input_grad": "#55a868",
          "update": "#c44e52", "dma": "#999999"}


def layer_phase_cycles(res: StepResult) -> dict[str, dict[str, int]]:
    """{layer: {phase: cycles}} in layer order; phase "dma" is the layer's exposed DMA cycles."""
    order = [lay.name for lay in res.net.layers] if res.net is not None else []
    out: dict[str, dict[str, int]] = {}
    for name in order + [r.layer for r in res.records]:
        out.setdefault(name, dict.fromkeys(PHASES, 0))
    for r in res.records:
        out[r.layer][r.phase] += r.compute_cycles
        out[r.layer]["dma"] += r.dma_cycles
    return {name: v for name, v in out.items() if any(v.values())}


def _time(cycles: int, freq_mhz: float) -> str:
    us = cycles / freq_mhz
    return f"{us / 1e3:.3g} ms" if us >= 100 else f"{us:.3g} µs"


def plot_dtypes(a: StepResult, b: StepResult, path: str | Path, freq_mhz: float | None = None) -> Path:
    """Write the FP32-vs-16-bit per-layer plot (`a` and `b` are the steps of one network in fp32 and in
    fp16 or bf16)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if a.dtype != "fp32":
        a, b = b, a
    if a.dtype != "fp32" or b.dtype not in ("fp16", "bf16"):
        raise ValueError(f"the plot needs an fp32 and an fp16 or bf16 step, not {a.dtype} and {b.dtype}")
    half = b.dtype.upper()
    ca, cb = layer_phase_cycles(a), layer_phase_cycles(b)
    layers = list(dict.fromkeys([*ca, *cb]))
    width = 0.38
    dense = len(layers) > 10
    fig, ax = plt.subplots(figsize=(min(max(7.0, 0.6 * len(layers) + 3.0), 16.0), 6.0), dpi=110)
    for side, (res, cyc) in enumerate(((a, ca), (b, cb))):
        xs = [i + (side - 0.5) * (width + 0.02) for i in range(len(layers))]
        bottom = [0.0] * len(layers)
        for ph in PHASES:
            vals = [cyc.get(name, {}).get(ph, 0) / 1e3 for name in layers]
            if not any(vals):
                continue
            ax.bar(xs, vals, width, bottom=bottom, color=COLORS[ph], edgecolor="white" if side == 0 else "black",
                   linewidth=0.4, hatch="//" if side == 1 else None)
            bottom = [u + v for u, v in zip(bottom, vals)]
        for x, top in zip(xs, bottom):
            ax.text(x, top, res.dtype.upper(), ha="center", va="bottom", fontsize=6 if dense else 7,
                    rotation=90 if dense else 0)
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels(layers, rotation=35 if len(layers) > 6 else 0, ha="right" if len(layers) > 6 else "center",
                       fontsize=8 if dense else 9)
    ax.set_ylabel("kilocycles")
    ax.set_xlabel(f"layer (left bar FP32, right bar {half}, hatched)")
    speed = a.cycles / b.cycles if b.cycles else float("nan")
    title = (f"{a.network}: cycles per layer and phase ({a.cores} cores)\n"
             f"step: FP32 {a.cycles:,} vs {half} {b.cycles:,} cycles ({half} speedup {speed:.2f}x)")
    if freq_mhz:
        title += f"\n{_time(a.cycles, freq_mhz)} vs {_time(b.cycles, freq_mhz)} at {freq_mhz:g} MHz"
    ax.set_title(title, fontsize=10)
    used = [ph for ph in PHASES if any(v[ph] for v in (*ca.values(), *cb.values()))]
    handles = [Patch(facecolor=COLORS[ph], label=LABELS[ph]) for ph in used]
    handles.append(Patch(facecolor="white", edgecolor="black", hatch="//", label=half))
    ax.legend(handles=handles, fontsize=8, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out
