"""Figures of a sweep (`mcusim sweep --plot FILE.png`): the figure of merit against one or two grid
parameters, and the Pareto front of cycles against cost when the spec has a [cost] table.

- One varying parameter: a line of the metric against it.
- Two or more: `x` (the spec's [plot] x, else the first varying key) on the horizontal axis, one line
  per combination of the others; or, with kind = "heatmap" (the default when exactly two keys vary
  and both hold numbers), a heat map of the metric over x and y with the values written in the cells.
- With [cost]: a second panel, every point as cost against cycles, the Pareto front (no other point
  is both cheaper and faster) drawn as a step line and labelled with its grid values.
Failed points (non-empty `error`) are drawn as crosses on the horizontal axis (lines) or left blank. matplotlib with the Agg backend (no display needed).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

LABEL = {"cycles": "cycles", "mac_per_clk": "MAC/clk", "instret": "instructions", "wall_s": "wall time (s)"}


def pareto_front(rows: Sequence[Mapping[str, Any]], cost: str = "cost", metric: str = "cycles") -> list[dict]:
    """Rows not dominated on (cost, metric), lower both better; sorted by cost."""
    ok = [dict(r) for r in rows if not r.get("error") and r.get(cost) is not None and r.get(metric) is not None]
    ok.sort(key=lambda r: (r[cost], r[metric]))
    front: list[dict] = []
    for r in ok:
        if not front or r[metric] < front[-1][metric]:
            if front and r[cost] == front[-1][cost]:
                front[-1] = r
            else:
                front.append(r)
    return front


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _varying(grid: Mapping[str, Sequence[Any]]) -> list[str]:
    return [k for k, v in grid.items() if len(v) > 1]


def plot_sweep(rows: Sequence[Mapping[str, Any]], grid: Mapping[str, Sequence[Any]], path: str | Path,
               options: Mapping[str, Any] | None = None, title: str = "", cost: bool = False) -> Path:
    """Draw the sweep's figure into `path` (PNG); see the module docstring."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    options = dict(options or {})
    metric = options.get("metric", "cycles")
    ok = [r for r in rows if not r.get("error") and r.get(metric) is not None]
    varying = _varying(grid) or list(grid)[:1]
    x = options.get("x") or (varying[0] if varying else None)
    others = [k for k in varying if k != x]
    y = options.get("y") or (others[0] if len(others) == 1 else None)
    kind = options.get("kind") or ("heatmap" if y and len(varying) == 2 and _numeric(grid[x]) and _numeric(grid[y])
                                   else "lines")
    panels = 2 if cost else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.4 * panels, 4.6), squeeze=False)
    ax = axes[0][0]
    if x is None:
        ax.bar([0], [ok[0][metric] if ok else 0])
        ax.set_xticks([])
    elif kind == "heatmap" and y:
        _heatmap(ax, fig, ok, grid, x, y, metric)
    else:
        _lines(ax, ok, grid, x, [k for k in others], metric)
        _failed(ax, [r for r in rows if r.get("error")], grid, x)
    if cost:
        _pareto(axes[0][1], [r for r in rows if not r.get("error") and r.get("cycles") is not None], grid)
    fig.suptitle(title or f"{LABEL.get(metric, metric)} over the grid")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _positions(values: Sequence[Any]) -> tuple[list[Any], bool]:
    """Axis positions of the grid values: the values when numeric, else their indices."""
    if _numeric(values):
        return list(values), True
    return list(range(len(values))), False


def _lines(ax, rows, grid, x: str, others: list[str], metric: str) -> None:
    xs, numeric = _positions(grid[x])
    pos = dict(zip(map(repr, grid[x]), xs))
    series: dict[tuple, list[tuple[Any, Any]]] = {}
    for r in rows:
        label = tuple((k, r[k]) for k in others)
        series.setdefault(label, []).append((pos[repr(r[x])], r[metric]))
    for label, pts in series.items():
        pts.sort()
        name = ", ".join(f"{k}={v}" for k, v in label) or metric
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
    if numeric and len(xs) > 2 and all(v > 0 for v in xs) and max(xs) / min(xs) >= 8:
        ax.set_xscale("log", base=2)
    ax.set_xticks(xs)
    ax.set_xticklabels([str(v) for v in grid[x]])
    ax.set_xlabel(x)
    ax.set_ylabel(LABEL.get(metric, metric))
    ax.grid(True, alpha=0.3)
    if len(series) > 1 or others:
        ax.legend(fontsize=8)


def _failed(ax, rows, grid, x: str) -> None:
    """Failed points as crosses on the horizontal axis (their error is in the rows)."""
    if not rows:
        return
    xs, _ = _positions(grid[x])
    pos = dict(zip(map(repr, grid[x]), xs))
    bottom = ax.get_ylim()[0]
    ax.scatter([pos[repr(r[x])] for r in rows], [bottom] * len(rows), marker="x", color="#c44e52", zorder=3,
               clip_on=False, label=f"failed ({len(rows)}: see the error column)")
    ax.legend(fontsize=8)


def _heatmap(ax, fig, rows, grid, x: str, y: str, metric: str) -> None:
    import numpy as np
    xv, yv = list(grid[x]), list(grid[y])
    data = np.full((len(yv), len(xv)), np.nan)
    for r in rows:
        data[yv.index(r[y]), xv.index(r[x])] = r[metric]
    im = ax.imshow(data, origin="lower", aspect="auto", cmap="viridis_r" if metric != "mac_per_clk" else "viridis")
    fig.colorbar(im, ax=ax, label=LABEL.get(metric, metric))
    ax.set_xticks(range(len(xv)))
    ax.set_xticklabels([str(v) for v in xv])
    ax.set_yticks(range(len(yv)))
    ax.set_yticklabels([str(v) for v in yv])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    lo, hi = np.nanmin(data), np.nanmax(data)
    for i in range(len(yv)):
        for j in range(len(xv)):
            if not np.isnan(data[i, j]):
                v = data[i, j]
                # dark cells (high cycles in viridis_r, low MAC/clk in viridis) get white text
                dark = (v - lo) / (hi - lo) > 0.5 if hi > lo else False
                dark = dark if metric != "mac_per_clk" else not dark
                ax.text(j, i, f"{v:,.0f}" if v >= 100 else f"{v:.3g}", ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")


def _pareto(ax, rows, grid, metric: str = "cycles") -> None:
    front = pareto_front(rows, "cost", metric)
    ax.scatter([r["cost"] for r in rows], [r[metric] for r in rows], s=18, color="#999999", label="points")
    if front:
        ax.step([r["cost"] for r in front], [r[metric] for r in front], where="post", color="#c44e52",
                marker="o", label="Pareto front")
        keys = _varying(grid)
        for i, r in enumerate(front):
            ax.annotate("/".join(str(r[k]) for k in keys), (r["cost"], r[metric]), fontsize=7,
                        xytext=(4, 4 + 9 * (i % 2)), textcoords="offset points")
    ax.set_xlabel("cost")
    ax.set_ylabel(LABEL.get(metric, metric))
    ax.set_title(f"Pareto front, labels {'/'.join(_varying(grid))}", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
