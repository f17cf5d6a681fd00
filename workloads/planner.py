"""Memory placement and tiling of a training step: which operands go to the TCDM whole, which are
tiled, how many tiles, the DMA traffic, and whether double buffering fits.

Model. Every tensor (activations, their gradients, weights, weight gradients) lives in L2. Each
step of the training step (a layer and phase, `Network.schedule()`) runs one kernel whose
operands must be in the TCDM: inputs are DMA'd in, outputs DMA'd out, scratch buffers (im2col
patches, transposed weights) are produced in the TCDM and never leave it. Nothing stays in the
TCDM from one step to the next. The budget is the TCDM size minus the per-core stacks
(default 256 KiB - 9 KiB: 1 KiB for each of 8 workers and the controller).

Operands per layer and phase (the PULP-TrainLib structure the kernel library follows; X input,
Y output, W weights, d = gradient, e = element size):
| layer     | forward            | weight gradient          | input gradient                      |
|-----------|--------------------|--------------------------|-------------------------------------|
| Conv2D    | X, W, col -> Y     | X, dY, col -> dW         | dY, W, Wbt, colg -> dX              |
| PointWise | X, W -> Y          | X, dY, Xt -> dW          | dY, W, Wt -> dX                     |
| DepthWise | X, W, col -> Y     | X, dY, col -> dW         | dY, W, colg -> dX                   |
| Linear    | X, W -> Y          | X, dY -> dW              | dY, W -> dX                         |
| ReLU      | X -> Y             |                          | X, dY -> dX                         |
| AvgPool   | X -> Y             |                          | dY -> dX                            |
| MaxPool   | X -> Y             |                          | X, dY -> dX                         |
| Add       | A, B -> Y          |                          | dY -> dA, dB                        |
| loss      | logits (, T) -> L  |                          | logits (, T) -> dlogits             |
| update    |                    |                          | (UPDATE) W, dW -> W                 |
col = im2col of X: Cin*Kh*Kw x Ho*Wo elements (a 3x3 conv expands its input ~9x); colg = im2col of
the dilated, padded dY: Cout*Kh*Kw x H*W; Wbt = flipped, Cin/Cout-swapped W; Xt, Wt = transposes;
T = the MSE target tensor (CrossEntropy's label is a scalar argument).
An input gradient whose tensor already holds a gradient from another consumer (ResNet skips,
`Layer.accumulate`) is read, added to and written back: role "inout", DMA'd both ways.

Tiling. When a step's operands do not fit whole, it is split along one dimension into T
near-equal contiguous tiles; some operands are sliced per tile, the others stay resident:
- conv-like forward: output channels (W, Y sliced; X and col resident) or output rows (X rows with
  their halo, col, Y sliced; W resident);
- conv-like weight gradient: output channels (dY, dW sliced) or output rows (X, col, dY sliced;
  dW accumulates in the TCDM and is written once);
- conv-like input gradient: input channels (W, Wbt, dX sliced; dY, colg resident) or input rows
  (dY rows with halo, colg, dX sliced; W resident); DepthWise splits all operands by channel;
- Linear: rows of W (out features) in every phase (input gradient: dX accumulates in the TCDM);
- element-wise layers, pools and the MSE loss: channels (ReLU and Add also rows); UPDATE: rows
  of W; CrossEntropy is never tiled (softmax over the whole logit vector).
Double buffering holds two buffers of every sliced input and output (scratch is single); it is
used when it fits. Among the strategies that fit, the planner takes the one with double
buffering if any, then the fewest DMA bytes, then the fewest tiles. Buffers are rounded up to
64 bytes (the kernel harness starts every tensor on a 64-byte boundary); row padding that a
kernel adds against bank conflicts is not counted.

`plan_network(net, dtype)` returns a `Plan`; a step that does not fit even as the smallest
tile raises `PlanError` naming the layer, the phase, the bytes needed and the bytes available.
`format_plan(plan)` renders the plan as text (`--plan`).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from mcusim.workloads.model import Layer, Network, Phase, elem_bytes, ranges

DEFAULT_TCDM_BYTES = 256 * 1024
DEFAULT_RESERVE_BYTES = 9 * 1024          # 1 KiB stack per core: 8 workers + the controller
ALIGN = 64


class PlanError(ValueError):
    """A step that cannot be placed in the configured TCDM (the message says which and why)."""


class LowerError(ValueError):
    """A layer-phase the step program cannot lower (the message names it; workloads.step_lower)."""


@dataclass(frozen=True)
class Buffer:
    """One operand buffer of a step in the TCDM."""
    name: str          # X, W, Y, col, dY, dW, dX, Wbt, ...
    role: str          # in | out | inout | scratch
    tensor: str        # the L2 tensor: act:<layer>, grad:<layer>, W:<layer>, dW:<layer>, tmp, ...
    tiled: bool        # sliced per tile (False: resident for the whole step)
    elems: int         # elements of one buffer (the largest tile when tiled)
    bytes: int         # TCDM bytes of one buffer (rounded up to ALIGN)
    copies: int        # 2 when double-buffered


@dataclass(frozen=True)
class StepPlan:
    layer: str
    kind: str
    phase: Phase
    macs: int
    split: str                 # "whole" or the split dimension (out_channels, out_rows, ...)
    extent: int                # units along the split dimension (1 when whole)
    tiles: int
    tile_units: int            # units in the largest tile
    double_buffer: bool
    buffers: tuple[Buffer, ...]
    tcdm_bytes: int            # TCDM bytes the step needs (all buffers, copies included)
    dma_in: int                # bytes L2 -> TCDM over all tiles
    dma_out: int               # bytes TCDM -> L2 over all tiles

    @property
    def tiled(self) -> bool:
        return self.tiles > 1


@dataclass(frozen=True)
class Plan:
    network: str
    dtype: str
    tcdm_bytes: int
    reserve_bytes: int
    steps: tuple[StepPlan, ...]

    @property
    def budget(self) -> int:
        return self.tcdm_bytes - self.reserve_bytes

    @property
    def tiled_steps(self) -> tuple[StepPlan, ...]:
        return tuple(s for s in self.steps if s.tiled)

    @property
    def tiled_layers(self) -> tuple[str, ...]:
        """Layers with at least one tiled step, in schedule order."""
        return tuple(dict.fromkeys(s.layer for s in self.steps if s.tiled))

    @property
    def dma_in(self) -> int:
        return sum(s.dma_in for s in self.steps)

    @property
    def dma_out(self) -> int:
        return sum(s.dma_out for s in self.steps)

    @property
    def peak_bytes(self) -> int:
        return max(s.tcdm_bytes for s in self.steps)

    def step(self, layer: str, phase: Phase) -> StepPlan:
        for s in self.steps:
            if s.layer == layer and s.phase is phase:
                return s
        raise KeyError(f"{self.network}: no step {layer} {phase.value}")


# ------------------------------------------------------------------------------------------------
# Operands and split strategies
# ------------------------------------------------------------------------------------------------

Count = Callable[[int, int], int]       # elements needed for the tile of units [lo, hi)


@dataclass(frozen=True)
class _Op:
    name: str
    role: str
    tensor: str
    count: Count | None = None          # sliced operand
    fixed: int = 0                      # resident operand (count is None)


@dataclass(frozen=True)
class _Strategy:
    split: str
    extent: int
    ops: tuple[_Op, ...]


def _res(name: str, role: str, tensor: str, n: int) -> _Op:
    return _Op(name, role, tensor, None, n)


def _sl(name: str, role: str, tensor: str, count: Count) -> _Op:
    return _Op(name, role, tensor, count)


def _per(n: int) -> Count:
    return lambda lo, hi: (hi - lo) * n


def _in_rows(h: int, k: int, s: int, pt: int) -> Callable[[int, int], int]:
    """Input rows a window op reads for output rows [lo, hi) (the halo included, padding not)."""
    return lambda lo, hi: max(0, min(h, (hi - 1) * s - pt + k) - max(0, lo * s - pt))


def _dy_rows(ho: int, k: int, s: int, pt: int) -> Callable[[int, int], int]:
    """Output-gradient rows an input gradient needs for input rows [lo, hi): the u with
    u*s - pt + i in [lo, hi) for some tap i < k."""
    def rows(lo: int, hi: int) -> int:
        a = max(0, -(-(lo + pt - k + 1) // s))
        b = min(ho - 1, (hi - 1 + pt) // s)
        return max(0, b - a + 1)
    return rows


def _act(name: str) -> str:
    return f"act:{name}"


def _grad(name: str) -> str:
    return f"grad:{name}"


@dataclass(frozen=True)
class _Names:
    """The L2 tensors one step touches, and the layer's geometry."""
    lay: Layer
    x: str          # activation input
    y: str          # activation output
    wt: str         # weights
    dy: str         # output gradient
    dw: str         # weight gradient
    dx: str         # input gradient (of the first input)
    dx_role: str    # out, or inout when it accumulates

    @staticmethod
    def of(lay: Layer) -> _Names:
        n, src = lay.name, lay.inputs[0]
        acc = bool(lay.accumulate) and lay.accumulate[0]
        return _Names(lay, _act(src), _act(n), f"W:{n}", _grad(n), f"dW:{n}", _grad(src),
                      "inout" if acc else "out")


def _strategies(lay: Layer, phase: Phase) -> list[_Strategy]:
    """The ways to split one step (the first strategy's operands at T = 1 are the whole step)."""
    t = _Names.of(lay)
    if phase is Phase.UPDATE:
        rows = _weight_rows(lay)
        per = lay.params // rows
        return [_Strategy("w_rows", rows, (_sl("W", "inout", t.wt, _per(per)), _sl("dW", "in", t.dw, _per(per))))]
    if lay.is_loss:
        return _loss(t, phase)
    if lay.kind in ("Conv2D", "PointWise"):
        return _conv(t, phase)
    if lay.kind == "DepthWise":
        return _depthwise(t, phase)
    if lay.kind == "Linear":
        return _linear(t, phase)
    if lay.kind in ("ReLU", "Add"):
        return _elementwise(t, phase)
    if lay.kind in ("AvgPool", "MaxPool"):
        return _pool(t, phase)
    raise ValueError(f"layer {lay.name!r}: no operand model for {lay.kind}")  # pragma: no cover


def _loss(t: _Names, phase: Phase) -> list[_Strategy]:
    """CrossEntropy needs the whole logit vector (softmax; the label is a scalar argument); MSE
    reads a target tensor and splits by channels (the loss value is a resident sum)."""
    c, h, w = t.lay.in_shape
    if t.lay.kind == "CrossEntropy":
        last = _res("loss", "out", "loss", 1) if phase is Phase.FORWARD else _res("dlogits", "out", t.dx, c * h * w)
        return [_Strategy("whole", 1, (_res("logits", "in", t.x, c * h * w), last))]
    ops = [_sl("logits", "in", t.x, _per(h * w)), _sl("target", "in", "target", _per(h * w))]
    ops.append(_res("loss", "out", "loss", 1) if phase is Phase.FORWARD else _sl("dlogits", "out", t.dx, _per(h * w)))
    return [_Strategy("channels", c, tuple(ops))]


def _weight_rows(lay: Layer) -> int:
    if lay.weight_shape is None:
        raise ValueError(f"layer {lay.name!r} has no weights")
    return lay.weight_shape[0]


def _conv(t: _Names, phase: Phase) -> list[_Strategy]:
    """Conv2D (im2col + matmul) and PointWise (matmul; transposes for the gradients)."""
    lay = t.lay
    c, h, w = lay.in_shape
    co, ho, wo = lay.out_shape
    kk = lay.kernel[0] * lay.kernel[1]
    pw = lay.kind == "PointWise"
    col = c * kk                               # im2col rows (elements per output pixel)
    rows_x = _in_rows(h, lay.kernel[0], lay.stride[0], lay.padding[0])
    xrows: Count = lambda a, b: c * w * rows_x(a, b)
    by_ch: list[_Op]
    by_row: list[_Op]
    if phase is Phase.FORWARD:
        by_ch = [_res("X", "in", t.x, c * h * w), _sl("W", "in", t.wt, _per(c * kk)), _sl("Y", "out", t.y, _per(ho * wo))]
        by_row = [_res("W", "in", t.wt, co * c * kk), _sl("X", "in", t.x, xrows), _sl("Y", "out", t.y, _per(co * wo))]
        if not pw:
            by_ch.insert(1, _res("col", "scratch", "tmp", col * ho * wo))
            by_row.insert(2, _sl("col", "scratch", "tmp", _per(col * wo)))
        return [_Strategy("out_channels", co, tuple(by_ch)), _Strategy("out_rows", ho, tuple(by_row))]
    if phase is Phase.WEIGHT_GRAD:
        sname, whole_s, row_s = ("Xt", c * h * w, xrows) if pw else ("col", col * ho * wo, _per(col * wo))
        by_ch = [_res("X", "in", t.x, c * h * w), _res(sname, "scratch", "tmp", whole_s),
                 _sl("dY", "in", t.dy, _per(ho * wo)), _sl("dW", "out", t.dw, _per(c * kk))]
        by_row = [_res("dW", "out", t.dw, co * c * kk), _sl("X", "in", t.x, xrows),
                  _sl(sname, "scratch", "tmp", row_s), _sl("dY", "in", t.dy, _per(co * wo))]
        return [_Strategy("out_channels", co, tuple(by_ch)), _Strategy("out_rows", ho, tuple(by_row))]
    # input gradient: dX = Wbt . colg (Conv2D), Wt . dY (PointWise)
    rows_dy = _dy_rows(ho, lay.kernel[0], lay.stride[0], lay.padding[0])
    sname = "Wt" if pw else "Wbt"
    by_ch = [_res("dY", "in", t.dy, co * ho * wo), _sl("W", "in", t.wt, _per(co * kk)),
             _sl(sname, "scratch", "tmp", _per(co * kk)), _sl("dX", t.dx_role, t.dx, _per(h * w))]
    by_row = [_res("W", "in", t.wt, co * c * kk), _res(sname, "scratch", "tmp", co * c * kk),
              _sl("dY", "in", t.dy, lambda a, b: co * wo * rows_dy(a, b)), _sl("dX", t.dx_role, t.dx, _per(c * w))]
    if not pw:
        by_ch.insert(1, _res("colg", "scratch", "tmp", co * kk * h * w))
        by_row.insert(3, _sl("colg", "scratch", "tmp", _per(co * kk * w)))
    return [_Strategy("in_channels", c, tuple(by_ch)), _Strategy("in_rows", h, tuple(by_row))]


def _depthwise(t: _Names, phase: Phase) -> list[_Strategy]:
    """DepthWise: every operand splits by channel; or by rows with the weights resident."""
    lay = t.lay
    c, h, w = lay.in_shape
    _, ho, wo = lay.out_shape
    kk = lay.kernel[0] * lay.kernel[1]
    rows_x = _in_rows(h, lay.kernel[0], lay.stride[0], lay.padding[0])
    xrows: Count = lambda a, b: c * w * rows_x(a, b)
    if phase is Phase.FORWARD:
        by_ch = (_sl("X", "in", t.x, _per(h * w)), _sl("W", "in", t.wt, _per(kk)),
                 _sl("col", "scratch", "tmp", _per(kk * ho * wo)), _sl("Y", "out", t.y, _per(ho * wo)))
        by_row = (_res("W", "in", t.wt, c * kk), _sl("X", "in", t.x, xrows),
                  _sl("col", "scratch", "tmp", _per(c * kk * wo)), _sl("Y", "out", t.y, _per(c * wo)))
        return [_Strategy("channels", c, by_ch), _Strategy("out_rows", ho, by_row)]
    if phase is Phase.WEIGHT_GRAD:
        by_ch = (_sl("X", "in", t.x, _per(h * w)), _sl("col", "scratch", "tmp", _per(kk * ho * wo)),
                 _sl("dY", "in", t.dy, _per(ho * wo)), _sl("dW", "out", t.dw, _per(kk)))
        by_row = (_res("dW", "out", t.dw, c * kk), _sl("X", "in", t.x, xrows),
                  _sl("col", "scratch", "tmp", _per(c * kk * wo)), _sl("dY", "in", t.dy, _per(c * wo)))
        return [_Strategy("channels", c, by_ch), _Strategy("out_rows", ho, by_row)]
    rows_dy = _dy_rows(ho, lay.kernel[0], lay.stride[0], lay.padding[0])
    by_ch = (_sl("dY", "in", t.dy, _per(ho * wo)), _sl("W", "in", t.wt, _per(kk)),
             _sl("colg", "scratch", "tmp", _per(kk * h * w)), _sl("dX", t.dx_role, t.dx, _per(h * w)))
    by_row = (_res("W", "in", t.wt, c * kk), _sl("dY", "in", t.dy, lambda a, b: c * wo * rows_dy(a, b)),
              _sl("colg", "scratch", "tmp", _per(c * kk * w)), _sl("dX", t.dx_role, t.dx, _per(c * w)))
    return [_Strategy("channels", c, by_ch), _Strategy("in_rows", h, by_row)]


def _linear(t: _Names, phase: Phase) -> list[_Strategy]:
    """Linear: split the rows of W (out features); the input gradient accumulates dX in the TCDM."""
    nin, nout = math.prod(t.lay.in_shape), t.lay.out_shape[0]
    if phase is Phase.FORWARD:
        ops = (_res("X", "in", t.x, nin), _sl("W", "in", t.wt, _per(nin)), _sl("Y", "out", t.y, _per(1)))
    elif phase is Phase.WEIGHT_GRAD:
        ops = (_res("X", "in", t.x, nin), _sl("dY", "in", t.dy, _per(1)), _sl("dW", "out", t.dw, _per(nin)))
    else:
        ops = (_sl("dY", "in", t.dy, _per(1)), _sl("W", "in", t.wt, _per(nin)), _res("dX", t.dx_role, t.dx, nin))
    return [_Strategy("out_features", nout, ops)]


def _elementwise(t: _Names, phase: Phase) -> list[_Strategy]:
    """ReLU and Add: every operand has the output's shape; split by channels or rows."""
    lay = t.lay
    c, h, w = lay.in_shape
    spec: list[tuple[str, str, str]]
    if phase is Phase.FORWARD:
        names = ("A", "B") if lay.kind == "Add" else ("X",)
        spec = [(nm, "in", _act(i)) for nm, i in zip(names, lay.inputs)] + [("Y", "out", t.y)]
    elif lay.kind == "ReLU":
        spec = [("X", "in", t.x), ("dY", "in", t.dy), ("dX", t.dx_role, t.dx)]
    else:                                       # Add: dA = dB = dY
        spec = [("dY", "in", t.dy)] + [(f"d{nm}", "inout" if acc else "out", _grad(i)) for nm, i, need, acc
                                       in zip(("A", "B"), lay.inputs, lay.grad_inputs, lay.accumulate) if need]
    return [_Strategy("channels", c, tuple(_sl(nm, r, tn, _per(h * w)) for nm, r, tn in spec)),
            _Strategy("rows", h, tuple(_sl(nm, r, tn, _per(c * w)) for nm, r, tn in spec))]


def _pool(t: _Names, phase: Phase) -> list[_Strategy]:
    """AvgPool and MaxPool: split by channels (MaxPool's gradient also reads X)."""
    lay = t.lay
    c, h, w = lay.in_shape
    _, ho, wo = lay.out_shape
    if phase is Phase.FORWARD:
        ops = [_sl("X", "in", t.x, _per(h * w)), _sl("Y", "out", t.y, _per(ho * wo))]
    else:
        ops = [_sl("dY", "in", t.dy, _per(ho * wo)), _sl("dX", t.dx_role, t.dx, _per(h * w))]
        if lay.kind == "MaxPool":
            ops.insert(1, _sl("X", "in", t.x, _per(h * w)))
    return [_Strategy("channels", c, tuple(ops))]


# ------------------------------------------------------------------------------------------------
# Choosing the tiles
# ------------------------------------------------------------------------------------------------

def _align(nbytes: int) -> int:
    return -(-nbytes // ALIGN) * ALIGN


def _footprint(st: _Strategy, t: int, es: int, double: bool) -> tuple[int, list[Buffer]]:
    tiles = ranges(st.extent, t)
    bufs = []
    for op in st.ops:
        if op.count is None:
            elems, tiled, copies = op.fixed, False, 1
        else:
            elems = max(op.count(lo, hi) for lo, hi in tiles)
            tiled = t > 1
            copies = 2 if double and tiled and op.role != "scratch" else 1
        bufs.append(Buffer(op.name, op.role, op.tensor, tiled, elems, _align(elems * es), copies))
    return sum(b.bytes * b.copies for b in bufs), bufs


def _dma(st: _Strategy, t: int, es: int) -> tuple[int, int]:
    tiles = ranges(st.extent, t)
    din = dout = 0
    for op in st.ops:
        if op.role == "scratch":
            continue
        n = op.fixed if op.count is None else sum(op.count(lo, hi) for lo, hi in tiles)
        if op.role in ("in", "inout"):
            din += n * es
        if op.role in ("out", "inout"):
            dout += n * es
    return din, dout


def _min_tiles(st: _Strategy, es: int, budget: int, double: bool) -> int | None:
    """The fewest tiles (>= 2) whose footprint fits. A linear search: with strided halos the
    largest tile depends on the tile boundaries, so the footprint need not shrink monotonically."""
    for t in range(2, st.extent + 1):
        if _footprint(st, t, es, double)[0] <= budget:
            return t
    return None


def _step_plan(lay: Layer, phase: Phase, st: _Strategy, t: int, es: int, double: bool) -> StepPlan:
    total, bufs = _footprint(st, t, es, double)
    din, dout = _dma(st, t, es)
    split = "whole" if t == 1 else st.split
    units = max(hi - lo for lo, hi in ranges(st.extent, t))
    return StepPlan(lay.name, lay.kind, phase, lay.macs(phase), split, st.extent if t > 1 else 1, t,
                    units if t > 1 else 1, double and t > 1, tuple(bufs), total, din, dout)


def plan_step(lay: Layer, phase: Phase, dtype: str = "fp32", budget: int =
              DEFAULT_TCDM_BYTES - DEFAULT_RESERVE_BYTES, double_buffer: bool = True,
              network: str = "") -> StepPlan:
    """Place one layer-phase in `budget` bytes of TCDM (see the module docstring)."""
    es = elem_bytes(dtype)
    strategies = _strategies(lay, phase)
    whole, _ = _footprint(strategies[0], 1, es, False)
    if whole <= budget:
        return _step_plan(lay, phase, strategies[0], 1, es, False)
    options = []
    for st in strategies:
        for double in ((True, False) if double_buffer else (False,)):
            t = _min_tiles(st, es, budget, double)
            if t is not None:
                p = _step_plan(lay, phase, st, t, es, double)
                options.append(((not double, p.dma_in + p.dma_out, t), p))
    if not options:
        need = min(_footprint(st, st.extent, es, False)[0] for st in strategies)
        where = f"{network}: " if network else ""
        raise PlanError(f"{where}layer {lay.name!r} ({lay.kind}) phase {phase.value}: needs at least "
                        f"{need:,} B of TCDM (smallest tile; whole {whole:,} B), {budget:,} B available")
    return min(options, key=lambda o: o[0])[1]


def plan_network(net: Network, dtype: str = "fp32", tcdm_bytes: int = DEFAULT_TCDM_BYTES,
                 reserve_bytes: int = DEFAULT_RESERVE_BYTES, double_buffer: bool = True) -> Plan:
    """A plan for every step of `net.schedule()`; PlanError when a step cannot fit."""
    budget = tcdm_bytes - reserve_bytes
    if budget <= 0:
        raise PlanError(f"{net.name}: TCDM of {tcdm_bytes:,} B leaves nothing after {reserve_bytes:,} B of stacks")
    steps = tuple(plan_step(lay, ph, dtype, budget, double_buffer, net.name) for lay, ph in net.schedule())
    return Plan(net.name, dtype, tcdm_bytes, reserve_bytes, steps)


def _kib(n: int) -> str:
    return f"{n / 1024:.1f}K"


def format_plan(plan: Plan) -> str:
    """The plan as a text table (one line per step, then totals)."""
    lines = [(f"plan {plan.network} {plan.dtype}: TCDM {plan.tcdm_bytes:,} B - {plan.reserve_bytes:,} B "
              f"stacks = {plan.budget:,} B for operands"),
             f"{'layer':<16} {'phase':<5} {'MACs':>10} {'placement':<24} {'TCDM':>7} {'DMA in':>8} {'DMA out':>8}  buffers"]
    for s in plan.steps:
        if s.tiled:
            place = f"{s.tiles} x {s.tile_units} {s.split}" + (" 2buf" if s.double_buffer else "")
        else:
            place = "whole"
        bufs = " ".join(f"{b.name}{'*' if b.tiled else ''}{'x2' if b.copies == 2 else ''}:{_kib(b.bytes)}"
                        for b in s.buffers)
        lines.append(f"{s.layer:<16} {s.phase.short:<5} {s.macs:>10,} {place:<24} {_kib(s.tcdm_bytes):>7} "
                     f"{_kib(s.dma_in):>8} {_kib(s.dma_out):>8}  {bufs}")
    lines.append(f"{len(plan.steps)} steps, {len(plan.tiled_steps)} tiled ({len(plan.tiled_layers)} layers: "
                 f"{', '.join(plan.tiled_layers) or '-'}); peak {plan.peak_bytes:,} B; "
                 f"DMA in {plan.dma_in:,} B, out {plan.dma_out:,} B")
    lines.append("(* = sliced per tile, x2 = double-buffered; sizes of one tile)")
    return "\n".join(lines)
