"""Lowering of one layer-phase to tiles of kernel calls for the step program (workloads.step_program).

A layer-phase becomes a `StepCode`: a list of `Tile`s, each a list of `Call`s (one fork of a library
kernel on the workers, its tensors bound to named TCDM buffers) with the DMA transfers that fill
the buffers from L2 before the tile and write them back after it. A tile's kernels are the library's
own layer kernels built for the tile's shape, so one tile computes exactly what the untiled kernel
computes for its part of the output:

| layer, phase | tiles over | how |
|---|---|---|
| Conv2D fw / wg | output rows x output channels | the rows' input window with its halo is a smaller convolution (padding kept only at the layer's border); wg over rows sums partial dW in the TCDM (`add`) |
| Conv2D ig | input rows x input channels | the dY rows that touch the input rows (plus zero rows where the layer's border needs them) as a smaller convolution; input channels take a column block of W |
| PointWise | pixels x output channels (fw, wg), pixels x input channels (ig) | column blocks of X / dY; wg over pixels sums partial dW |
| DepthWise | channels | every operand is per channel |
| Linear (and the one-pixel pools as matmuls) | output features (fw, wg), input features (ig) | row / column blocks of W |
| ReLU, Add, SGD, gradient sums | flat blocks | |
| MaxPool / AvgPool | channels | |
| loss | whole | |

Buffers: `Buf.kind` is "tile" (moved per tile; double-buffered when it fits), "res" (loaded once
before the first tile: the same data for every tile), "acc" (a resident result, stored after
its last tile) or "scratch" (never moved). Transfers are 2-D DMA descriptors (`Xfer`).
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from mcusim.isa.profiles import extensions_of_source
from mcusim.kernels_asm.dtypes import DTYPES as FLOAT
from mcusim.kernels_asm.dtypes import is_half
from mcusim.kernels_asm.kernels.harness import KernelProgram
from mcusim.kernels_asm.kernels.layers_conv import (
    conv2d_choose,
    conv2d_program,
    depthwise_program,
    pointwise_choose,
    pointwise_program,
)
from mcusim.kernels_asm.kernels.layers_elementwise import (
    add_program,
    pool_bwd_program,
    pool_fwd_program,
    relu_bwd_program,
    relu_program,
    sgd_program,
)
from mcusim.kernels_asm.kernels.layer_steps import ProfileError
from mcusim.kernels_asm.kernels.layers_linear import linear_choose, linear_program
from mcusim.kernels_asm.kernels.losses import crossentropy_program, mse_program
from mcusim.kernels_asm.kernels.transforms import ConvGeom
from mcusim.workloads.model import Layer, Phase, elem_bytes, ranges
from mcusim.workloads.planner import LowerError


@dataclass(frozen=True)
class Xfer:
    """One DMA transfer between an L2 tensor and a TCDM buffer: `rows` rows of `length` bytes."""
    buf: str
    buf_off: int
    tensor: str          # L2 tensor name ("zeros": the zero block)
    l2_off: int          # bytes from the tensor's start
    rows: int
    length: int
    l2_stride: int
    buf_stride: int
    copy: int | None = None   # the buffer copy; None: the tile's copy ("tile" buffers) or 0

    @property
    def nbytes(self) -> int:
        return self.rows * self.length


@dataclass
class Call:
    """One fork: a library kernel with its tensors bound to (buffer, copy)."""
    prog: KernelProgram
    bind: dict[str, tuple[str, int]]
    kernel: str
    variant: str
    role: str


def _with_scratch(prog: KernelProgram, bind: dict[str, tuple[str, int]], bufs: dict[str, str]) -> dict[str, tuple[str, int]]:
    """`bind` plus every scratch tensor of `prog` not bound yet, each in a scratch buffer of its name
    (variants of a kernel differ in their scratch: im2col patches, transposes, phase buffers)."""
    out = dict(bind)
    for t in prog.tensors:
        if t.name not in out:
            if t.role != "scratch":
                raise LowerError(f"kernel {prog.name}: tensor {t.name} ({t.role}) has no buffer")
            bufs.setdefault(t.name, "scratch")
            out[t.name] = (t.name, 0)
    return out


@dataclass
class Tile:
    calls: list[Call]
    loads: list[Xfer] = field(default_factory=list)
    stores: list[Xfer] = field(default_factory=list)
    copy: int = 0                                   # which copy of the "tile" buffers


@dataclass
class StepCode:
    layer: str
    kind: str
    phase: str               # forward | loss | weight_grad | input_grad | update
    macs: int
    split: str               # whole, or the tiled dimensions (e.g. "out_rows x out_channels")
    tiles: list[Tile]
    bufs: dict[str, str]     # buffer -> kind (tile | res | acc | scratch)
    res_loads: list[Xfer] = field(default_factory=list)
    acc_stores: list[Xfer] = field(default_factory=list)
    note: str = ""


# ------------------------------------------------------------------------------------------------
# Kernel programs (cached: tiles of the same shape share one)
# ------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def _conv(g: ConvGeom, co: int, ph: str, dtype: str, variant: str, cores: int,
          ext: frozenset[str] | None = None) -> KernelProgram:
    return conv2d_program(g, co, ph, dtype, variant, cores, ext=ext)


@functools.lru_cache(maxsize=4096)
def _pw(c: int, co: int, h: int, w: int, ph: str, dtype: str, variant: str, cores: int,
        ext: frozenset[str] | None = None) -> KernelProgram:
    return pointwise_program(c, co, h, w, ph, dtype, variant, cores, ext)


@functools.lru_cache(maxsize=4096)
def _dw(g: ConvGeom, ph: str, dtype: str, cores: int, variant: str) -> KernelProgram:
    return depthwise_program(g, ph, dtype, cores, variant)


@functools.lru_cache(maxsize=4096)
def _lin(ci: int, co: int, ph: str, dtype: str, variant: str, cores: int,
         ext: frozenset[str] | None = None) -> KernelProgram:
    return linear_program(ci, co, ph, dtype, variant, cores, ext)


_add = functools.lru_cache(maxsize=4096)(add_program)
_relu = functools.lru_cache(maxsize=4096)(relu_program)
_relu_bwd = functools.lru_cache(maxsize=4096)(relu_bwd_program)
_sgd = functools.lru_cache(maxsize=4096)(sgd_program)
_pool_fwd = functools.lru_cache(maxsize=256)(pool_fwd_program)
_pool_bwd = functools.lru_cache(maxsize=256)(pool_bwd_program)
_ce = functools.lru_cache(maxsize=64)(crossentropy_program)
_mse = functools.lru_cache(maxsize=64)(mse_program)


conv2d_choose = functools.lru_cache(maxsize=4096)(conv2d_choose)
pointwise_choose = functools.lru_cache(maxsize=4096)(pointwise_choose)
linear_choose = functools.lru_cache(maxsize=4096)(linear_choose)


def dw_variant(g: ConvGeom, dtype: str) -> str:
    """The registry's rule for depthwise (simd needs stride 1 and rows of at least 4)."""
    return "simd" if is_half(dtype) and g.sh == 1 and g.sw == 1 and g.w >= 4 else "direct"


# ------------------------------------------------------------------------------------------------
# Transfer helpers
# ------------------------------------------------------------------------------------------------

def mat(buf: str, tensor: str, cols_total: int, r0: int, r1: int, c0: int, c1: int, es: int,
        dst_stride: int, buf_off: int = 0, copy: int | None = None) -> list[Xfer]:
    """Rows [r0, r1) x columns [c0, c1) of an L2 matrix with `cols_total` columns into a buffer
    whose rows are `dst_stride` elements apart (one 2-D transfer; 1-D when both sides are packed)."""
    rows, n = r1 - r0, c1 - c0
    if rows <= 0 or n <= 0:
        return []
    src = (r0 * cols_total + c0) * es
    if n == cols_total and dst_stride == n:          # both sides packed: one 1-D transfer
        return [Xfer(buf, buf_off, tensor, src, 1, rows * n * es, rows * n * es, rows * n * es, copy)]
    return [Xfer(buf, buf_off, tensor, src, rows, n * es, cols_total * es, dst_stride * es, copy)]


def flat(buf: str, tensor: str, lo: int, hi: int, es: int, buf_off: int = 0) -> list[Xfer]:
    return [Xfer(buf, buf_off, tensor, lo * es, 1, (hi - lo) * es, (hi - lo) * es, (hi - lo) * es)] if hi > lo else []


def zeros(buf: str, rows: int, length: int, buf_stride: int, buf_off: int) -> list[Xfer]:
    """Zero rows into a buffer (from the L2 zero block)."""
    return [Xfer(buf, buf_off, "zeros", 0, rows, length, 0, buf_stride)] if rows > 0 and length > 0 else []


def even_ranges(n: int, t: int, unit: int) -> list[tuple[int, int]]:
    """T ranges over [0, n) whose boundaries are multiples of `unit` (SIMD pairs, cores)."""
    units = -(-n // unit)
    return [(lo * unit, min(hi * unit, n)) for lo, hi in ranges(units, t) if lo * unit < n]


# ------------------------------------------------------------------------------------------------
# Geometry of row tiles
# ------------------------------------------------------------------------------------------------

def out_rows_geom(g: ConvGeom, a: int, b: int) -> tuple[ConvGeom, int, int]:
    """Output rows [a, b) of a convolution as a smaller one: (geometry, first input row, end row)."""
    lo = a * g.sh - g.pt
    hi = (b - 1) * g.sh - g.pt + g.kh
    x0, x1 = max(0, lo), min(g.h, hi)
    sub = ConvGeom(g.c, x1 - x0, g.w, g.kh, g.kw, g.sh, g.sw, x0 - lo, hi - x1, g.pl, g.pr)
    assert sub.ho == b - a, (g, a, b, sub)
    return sub, x0, x1


def in_rows_geom(g: ConvGeom, ho: int, lo: int, hi: int) -> tuple[ConvGeom, int, int]:
    """Input rows [lo, hi) of a convolution's input gradient: the smaller forward convolution whose
    input is exactly rows [lo, hi) (with padding) and whose outputs are dY rows [ua, ua + Ho') that
    include every row touching [lo, hi). Returns (geometry, ua, Ho'); rows of the window at or past
    the layer's Ho are zero rows."""
    s, k, pt = g.sh, g.kh, g.pt
    touch_lo = max(0, -(-(lo + pt - k + 1) // s))
    touch_hi = min(ho - 1, (hi - 1 + pt) // s)
    ua = max(0, min(touch_lo, (lo + pt) // s))
    ptp = lo + pt - ua * s
    ub = max(touch_hi, ua)
    pbp = max(0, (ub - ua) * s + k - (hi - lo) - ptp)
    sub = ConvGeom(g.c, hi - lo, g.w, k, g.kw, s, g.sw, ptp, pbp, g.pl, g.pr)
    return sub, ua, sub.ho


# ------------------------------------------------------------------------------------------------
# The lowering
# ------------------------------------------------------------------------------------------------

@dataclass
class Ctx:
    dtype: str
    cores: int
    variants: Mapping[str, str]
    double: bool
    ext: frozenset[str] | None = None     # the cores' extensions (core.extensions; None: all)
    profile: str = "all"                  # core.extensions as configured (for messages)

    @property
    def es(self) -> int:
        return elem_bytes(self.dtype)

    def variant(self, kernel: str, default: Callable[[], str]) -> str:
        return self.variants.get(kernel) or default()

    def pick(self, kernel: str, default: Callable[[], str],
             build: Callable[[str], KernelProgram]) -> tuple[str, KernelProgram]:
        """The variant of `kernel` and its program. A forced variant (`variants`) must run on the
        cores' ISA profile; otherwise the default choice (made for the profile), else the first of
        the registry's variants for the dtype whose code the profile allows. ProfileError (naming
        every candidate and the extensions it lacks) when none runs."""
        forced = self.variants.get(kernel)
        first = forced or default()
        candidates = [first] if forced else list(dict.fromkeys([first, *registry_variants(kernel, self.dtype)]))
        lacking: dict[str, set[str]] = {}
        for v in candidates:
            try:
                prog = build(v)
            except ProfileError as exc:
                lacking[v] = exc.missing
                continue
            missing = missing_extensions(prog, self.ext)
            if not missing:
                return v, prog
            lacking[v] = missing
        detail = "; ".join(f"{v} needs {', '.join(sorted(m))}" for v, m in lacking.items())
        raise ProfileError(f"kernel {kernel} ({self.dtype}): no variant runs on core.extensions = "
                           f"{self.profile!r} ({detail})", set().union(*lacking.values()))


def registry_variants(kernel: str, dtype: str) -> tuple[str, ...]:
    """The registry's variants of `kernel` for `dtype` (none for a name it does not know)."""
    from mcusim.kernels_asm.kernels import registry
    try:
        return tuple(registry.get(kernel).variants.get(dtype, ()))
    except KeyError:
        return ()


def missing_extensions(prog: KernelProgram, ext: frozenset[str] | None) -> set[str]:
    """The extensions `prog`'s code uses that `ext` lacks (none when ext is None); the program's
    extensions are derived once from its source and kept in its meta."""
    if ext is None:
        return set()
    used = prog.meta.get("extensions")
    if used is None:
        used = prog.meta["extensions"] = frozenset(extensions_of_source(prog.source()))
    return set(used - ext)


def check_profile(tiles: list[Tile], ctx: Ctx) -> None:
    """Every kernel of a layer-phase runs on the cores' profile (the kernels without variants:
    element-wise, losses, SGD, partial sums); ProfileError otherwise."""
    if ctx.ext is None:
        return
    for tl in tiles:
        for call in tl.calls:
            missing = missing_extensions(call.prog, ctx.ext)
            if missing:
                raise ProfileError(f"kernel {call.kernel} ({ctx.dtype}) {call.variant} needs "
                                   f"{', '.join(sorted(missing))}, which core.extensions = {ctx.profile!r} "
                                   f"lacks", missing)


class _Builder:
    """Collects the tiles of one step."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.tiles: list[Tile] = []
        self.bufs: dict[str, str] = {}

    def buf(self, name: str, kind: str) -> str:
        self.bufs.setdefault(name, kind)
        return name

    def copy(self, kind: str, i: int) -> int:
        return i % 2 if self.ctx.double and kind in ("tile",) else 0


def _stride(prog: KernelProgram, name: str) -> int:
    return prog.tensor(name).stride


def _span(prog: KernelProgram, name: str) -> int:
    """Elements from a tensor's base to the end of its last row (what a flat kernel over it covers)."""
    t = prog.tensor(name)
    return t.nbytes // t.itemsize


def _accumulate(b: _Builder, tile: Tile, part: tuple[str, int], acc: tuple[str, int], n: int) -> None:
    """acc += part (the add kernel over n elements, in place)."""
    ctx = b.ctx
    v = "scalar" if ctx.dtype == "fp32" else "simd"
    tile.calls.append(Call(_add(n, ctx.dtype, ctx.cores), {"X": acc, "Y": part, "Z": acc}, "add", v, "partial sum"))


def _reduction_step(b: _Builder, tile: Tile, prog: KernelProgram, bind: dict[str, tuple[str, int]], kernel: str,
                    variant: str, step: int, steps: int, acc_copy: int,
                    store: Callable[[str, int | None], list[Xfer]]) -> None:
    """The weight-gradient call of one tile of a reduction over `steps` tiles (`step` its index): a lone
    tile writes the output buffer and stores it; otherwise the first tile writes the accumulator (copy
    `acc_copy`), each later one a partial sum that is added to it, and the last stores the accumulator.
    store(buffer, copy) gives the stores (copy None: the tile's own)."""
    if steps == 1:
        bind["DW"] = (b.buf("out", "tile"), tile.copy)
    elif step == 0:
        bind["DW"] = (b.buf("acc", "tile"), acc_copy)
    else:
        bind["DW"] = (b.buf("part", "scratch"), 0)
    tile.calls.append(Call(prog, _with_scratch(prog, bind, b.bufs), kernel, variant, "layer"))
    if steps == 1:
        tile.stores += store("out", None)
        return
    if step > 0:
        _accumulate(b, tile, bind["DW"], ("acc", acc_copy), _span(prog, "DW"))
    if step == steps - 1:
        tile.stores += store("acc", acc_copy)


def _grad_out(b: _Builder, tile: Tile, i: int, prog: KernelProgram, name: str, tensor: str, role: str,
              view: Callable[[str, int], list[Xfer]]) -> None:
    """Store kernel output `name` (bound to buffer "out") to L2 `tensor` through `view`; when the
    gradient accumulates (role inout), first add the tensor's current contents."""
    cp = b.copy("tile", i)
    if role == "inout":
        old = b.buf("old", "tile")
        tile.loads += view(old, cp)
        _accumulate(b, tile, ("out", cp), (old, cp), _span(prog, name))
        tile.stores += view(old, cp)
    else:
        tile.stores += view("out", cp)


def lower(lay: Layer, phase: Phase, names: dict[str, str], t: tuple[int, int], ctx: Ctx) -> tuple[str, list[Tile], dict[str, str]]:
    """Tiles of one layer-phase for tile counts t = (t1, t2) along its two split dimensions.
    `names`: the L2 tensors x, y, w, dy, dw, dx and dx_role (out | inout). Every kernel runs on the
    cores' ISA profile (ctx.ext), or ProfileError."""
    split, tiles, bufs = _lower(lay, phase, names, t, ctx)
    check_profile(tiles, ctx)
    return split, tiles, bufs


def _lower(lay: Layer, phase: Phase, names: dict[str, str], t: tuple[int, int], ctx: Ctx) -> tuple[str, list[Tile], dict[str, str]]:
    b = _Builder(ctx)
    es, dt, cores = ctx.es, ctx.dtype, ctx.cores
    kind = lay.kind
    c, h, w = lay.in_shape
    co, ho, wo = lay.out_shape
    if phase is Phase.UPDATE:
        n = lay.params
        for i, (lo, hi) in enumerate(even_ranges(n, t[0], 2 * cores)):
            cp = b.copy("tile", i)
            prog = _sgd(hi - lo, dt, cores)
            tl = Tile([Call(prog, {"W": (b.buf("W", "tile"), cp), "G": (b.buf("G", "tile"), cp),
                                   "LR": (b.buf("LR", "res"), 0)}, "sgd",
                            "fnmsub" if dt == "fp32" else "simd", "w -= lr*dW")], copy=cp)
            tl.loads += flat("W", names["w"], lo, hi, es) + flat("G", names["dw"], lo, hi, es) + flat("LR", "lr", 0, 1, es)
            tl.stores += flat("W", names["w"], lo, hi, es)
            b.tiles.append(tl)
        return "w_flat", b.tiles, b.bufs
    if lay.is_loss:
        n = c * h * w
        if kind == "CrossEntropy":       # softmax over the whole logit vector: never tiled
            prog = _ce(n, dt, cores)
            bind = {"Z": ("Z", 0), "T": ("T", 0), "DZ": ("D", 0), "LOSS": ("L", 0), "E": ("E", 0), "RED": ("R", 0)}
            tl = Tile([Call(prog, bind, "crossentropy", "fp32" if dt == "fp32" else "fp32_math", "value and gradient")])
            for nm in ("Z", "T", "D", "L"):
                b.buf(nm, "tile")
            for nm in ("E", "R"):
                b.buf(nm, "scratch")
            tl.loads += flat("Z", names["x"], 0, n, es) + flat("T", "target", 0, n, es)
            tl.stores += flat("D", names["dx"], 0, n, es) + [Xfer("L", 0, "loss", 0, 1, 4, 4, 4)]
            b.tiles.append(tl)
            return "whole", b.tiles, b.bufs
        # MSE: blocks of the elements; each block's LOSS is its partial sum / N (added when read back)
        for i, (lo, hi) in enumerate(even_ranges(n, t[0] * t[1], 2 * cores)):
            cp = b.copy("tile", i)
            prog = _mse(hi - lo, dt, cores, n)
            bind = {"Y": (b.buf("Z", "tile"), cp), "T": (b.buf("T", "tile"), cp), "DY": (b.buf("D", "tile"), cp),
                    "LOSS": (b.buf("L", "tile"), cp), "RED": (b.buf("R", "scratch"), 0)}
            tl = Tile([Call(prog, bind, "mse", "fp32" if dt == "fp32" else "fp32_math", "value and gradient")], copy=cp)
            tl.loads += flat("Z", names["x"], lo, hi, es) + flat("T", "target", lo, hi, es)
            tl.stores += flat("D", names["dx"], lo, hi, es) + [Xfer("L", 0, "loss", 4 * i, 1, 4, 4, 4)]
            b.tiles.append(tl)
        return _split_name(("elements", len(b.tiles))), b.tiles, b.bufs
    if kind == "Conv2D":
        return _conv2d(b, lay, phase, names, t)
    if kind == "PointWise":
        return _pointwise(b, lay, phase, names, t)
    if kind == "DepthWise":
        return _depthwise(b, lay, phase, names, t)
    if kind == "Linear" or (kind == "AvgPool" and lay.out_shape[1:] == (1, 1)):
        return _linear(b, lay, phase, names, t)
    if kind in ("ReLU", "Add"):
        return _elementwise(b, lay, phase, names, t)
    if kind in ("AvgPool", "MaxPool"):
        return _pool(b, lay, phase, names, t)
    raise LowerError(f"layer {lay.name!r}: no kernel for {kind} {phase.value}")


def geom_of(lay: Layer) -> ConvGeom:
    return ConvGeom(*lay.conv_geom_args())


def _conv2d(b: _Builder, lay: Layer, phase: Phase, names: dict[str, str], t: tuple[int, int]):
    ctx = b.ctx
    es, dt, cores = ctx.es, ctx.dtype, ctx.cores
    g = geom_of(lay)
    c, h, w = lay.in_shape
    co, ho, wo = lay.out_shape
    kk = g.kk
    K = c * kk
    if phase is Phase.FORWARD:
        rows, chans = ranges(ho, t[0]), ranges(co, t[1])
        for o0, o1 in chans:
            for a, bb in rows:
                i = len(b.tiles)
                sub, x0, x1 = out_rows_geom(g, a, bb)
                cot = o1 - o0
                v, prog = ctx.pick("conv2d_fw", lambda: conv2d_choose(sub, cot, "fw", dt, cores, ext=ctx.ext),
                                 lambda vv: _conv(sub, cot, "fw", dt, vv, cores, ctx.ext))
                cp = b.copy("tile", i)
                xk = "res" if len(rows) == 1 else "tile"
                wk = "res" if len(chans) == 1 else "tile"
                tl = Tile([], copy=cp)
                tl.loads += mat(b.buf("X", xk), names["x"], h * w, 0, c, x0 * w, x1 * w, es, (x1 - x0) * w)
                tl.loads += mat(b.buf("W", wk), names["w"], K, o0, o1, 0, K, es, _stride(prog, "W"))
                bind = _with_scratch(prog, {"X": ("X", cp if xk == "tile" else 0), "W": ("W", cp if wk == "tile" else 0),
                                            "Y": (b.buf("out", "tile"), cp)}, b.bufs)
                tl.calls.append(Call(prog, bind, "conv2d_fw", v, "layer"))
                tl.stores += mat("out", names["y"], ho * wo, o0, o1, a * wo, bb * wo, es, _stride(prog, "Y"))
                b.tiles.append(tl)
        return _split_name(("out_rows", len(rows)), ("out_channels", len(chans))), b.tiles, b.bufs
    if phase is Phase.WEIGHT_GRAD:
        # input channels: dW[:, c-block] = dY · B[c-block] (exact); output rows: partial sums of dW
        chans, rows = ranges(c, t[0]), ranges(ho, t[1])
        for ci, (c0, c1) in enumerate(chans):
            for ri, (a, bb) in enumerate(rows):
                i = len(b.tiles)
                sub, x0, x1 = out_rows_geom(g, a, bb)
                sub = ConvGeom(c1 - c0, sub.h, sub.w, sub.kh, sub.kw, sub.sh, sub.sw, sub.pt, sub.pb, sub.pl, sub.pr)
                v, prog = ctx.pick("conv2d_wg", lambda: conv2d_choose(sub, co, "wg", dt, cores, ext=ctx.ext),
                                 lambda vv: _conv(sub, co, "wg", dt, vv, cores, ctx.ext))
                cp = b.copy("tile", i)
                xk = "res" if len(rows) == 1 and len(chans) == 1 else "tile"
                dyk = "res" if len(rows) == 1 else "tile"
                tl = Tile([], copy=cp)
                tl.loads += mat(b.buf("X", xk), names["x"], h * w, c0, c1, x0 * w, x1 * w, es, (x1 - x0) * w)
                tl.loads += mat(b.buf("DY", dyk), names["dy"], ho * wo, 0, co, a * wo, bb * wo, es, _stride(prog, "DY"))
                bind = {"X": ("X", cp if xk == "tile" else 0), "DY": ("DY", cp if dyk == "tile" else 0)}
                sdw = _stride(prog, "DW")
                _reduction_step(b, tl, prog, bind, "conv2d_wg", v, ri, len(rows), ci % 2 if ctx.double else 0,
                                lambda buf, copy: mat(buf, names["dw"], K, 0, co, c0 * kk, c1 * kk, es, sdw,
                                                      copy=copy))
                b.tiles.append(tl)
        return _split_name(("in_channels", len(chans)), ("out_rows", len(rows))), b.tiles, b.bufs
    # input gradient: input rows x input channels
    rows, chans = ranges(h, t[0]), ranges(c, t[1])
    i = 0
    for (c0, c1) in chans:
        for (lo, hi) in rows:
            sub, ua, hop = in_rows_geom(g, ho, lo, hi)
            sub = ConvGeom(c1 - c0, sub.h, sub.w, sub.kh, sub.kw, sub.sh, sub.sw, sub.pt, sub.pb, sub.pl, sub.pr)
            v, prog = ctx.pick("conv2d_ig", lambda: conv2d_choose(sub, co, "ig", dt, cores, ext=ctx.ext),
                             lambda vv: _conv(sub, co, "ig", dt, vv, cores, ctx.ext))
            cp = b.copy("tile", i)
            tl = Tile([], copy=cp)
            dyk = "res" if len(rows) == 1 else "tile"
            wk = "res" if len(chans) == 1 else "tile"
            dcp, wcp = (cp if dyk == "tile" else 0), (cp if wk == "tile" else 0)
            real = min(ho, ua + hop) - ua
            sdy = _stride(prog, "DY")
            tl.loads += mat(b.buf("DY", dyk), names["dy"], ho * wo, 0, co, ua * wo, (ua + real) * wo, es, sdy)
            if real < hop:
                # dY rows past the layer's last one: zeros (the border rows of this window)
                for ch in range(co):
                    tl.loads += zeros("DY", 1, (hop - real) * wo * es, 0, (ch * sdy + real * wo) * es)
            tl.loads += mat(b.buf("W", wk), names["w"], K, 0, co, c0 * kk, c1 * kk, es, _stride(prog, "W"))
            bind = _with_scratch(prog, {"W": ("W", wcp), "DY": ("DY", dcp), "DX": (b.buf("out", "tile"), cp)}, b.bufs)
            tl.calls.append(Call(prog, bind, "conv2d_ig", v, "layer"))
            sdx = _stride(prog, "DX")
            _grad_out(b, tl, i, prog, "DX", names["dx"], names["dx_role"],
                      lambda bf, _cp, c0=c0, c1=c1, lo=lo, hi=hi, sdx=sdx:
                      mat(bf, names["dx"], h * w, c0, c1, lo * w, hi * w, es, sdx))
            b.tiles.append(tl)
            i += 1
    return _split_name(("in_rows", len(rows)), ("in_channels", len(chans))), b.tiles, b.bufs


def _split_name(*dims: tuple[str, int]) -> str:
    used = [f"{n}" for n, k in dims if k > 1]
    return " x ".join(used) if used else "whole"


def _pointwise(b: _Builder, lay: Layer, phase: Phase, names: dict[str, str], t: tuple[int, int]):
    ctx = b.ctx
    es, dt, cores = ctx.es, ctx.dtype, ctx.cores
    c, h, w = lay.in_shape
    co = lay.out_shape[0]
    P = h * w
    pix = even_ranges(P, t[0], 2)
    if phase is Phase.FORWARD:
        chans = ranges(co, t[1])
        for oi, (o0, o1) in enumerate(chans):
            for pi, (p0, p1) in enumerate(pix):
                i = len(b.tiles)
                v, prog = ctx.pick("pointwise_fw",
                                   lambda: pointwise_choose(c, o1 - o0, p1 - p0, "fw", dt, cores, ext=ctx.ext),
                                 lambda vv: _pw(c, o1 - o0, 1, p1 - p0, "fw", dt, vv, cores, ctx.ext))
                cp = b.copy("tile", i)
                xk, wk = ("res" if len(pix) == 1 else "tile"), ("res" if len(chans) == 1 else "tile")
                tl = Tile([], copy=cp)
                tl.loads += mat(b.buf("X", xk), names["x"], P, 0, c, p0, p1, es, _stride(prog, "X"))
                tl.loads += mat(b.buf("W", wk), names["w"], c, o0, o1, 0, c, es, _stride(prog, "W"))
                bind = {"X": ("X", cp if xk == "tile" else 0), "W": ("W", cp if wk == "tile" else 0),
                        "Y": (b.buf("out", "tile"), cp)}
                tl.calls.append(Call(prog, _with_scratch(prog, bind, b.bufs), "pointwise_fw", v, "layer"))
                tl.stores += mat("out", names["y"], P, o0, o1, p0, p1, es, _stride(prog, "Y"))
                b.tiles.append(tl)
        return _split_name(("pixels", len(pix)), ("out_channels", len(chans))), b.tiles, b.bufs
    if phase is Phase.WEIGHT_GRAD:
        chans = ranges(co, t[1])
        for oi, (o0, o1) in enumerate(chans):
            for pi, (p0, p1) in enumerate(pix):
                i = len(b.tiles)
                v, prog = ctx.pick("pointwise_wg",
                                   lambda: pointwise_choose(c, o1 - o0, p1 - p0, "wg", dt, cores, ext=ctx.ext),
                                 lambda vv: _pw(c, o1 - o0, 1, p1 - p0, "wg", dt, vv, cores, ctx.ext))
                cp = b.copy("tile", i)
                xk = "res" if len(pix) == 1 else "tile"
                tl = Tile([], copy=cp)
                tl.loads += mat(b.buf("X", xk), names["x"], P, 0, c, p0, p1, es, _stride(prog, "X"))
                tl.loads += mat(b.buf("DY", "tile"), names["dy"], P, o0, o1, p0, p1, es, _stride(prog, "DY"))
                bind = {"X": ("X", cp if xk == "tile" else 0), "DY": ("DY", cp)}
                _reduction_step(b, tl, prog, bind, "pointwise_wg", v, pi, len(pix), oi % 2 if ctx.double else 0,
                                lambda buf, copy: mat(buf, names["dw"], c, o0, o1, 0, c, es, _stride(prog, "DW"),
                                                      copy=copy))
                b.tiles.append(tl)
        return _split_name(("pixels", len(pix)), ("out_channels", len(chans))), b.tiles, b.bufs
    chans = ranges(c, t[1])
    for (c0, c1) in chans:
        for (p0, p1) in pix:
            i = len(b.tiles)
            v, prog = ctx.pick("pointwise_ig",
                               lambda: pointwise_choose(c1 - c0, co, p1 - p0, "ig", dt, cores, ext=ctx.ext),
                             lambda vv: _pw(c1 - c0, co, 1, p1 - p0, "ig", dt, vv, cores, ctx.ext))
            cp = b.copy("tile", i)
            dyk, wk = ("res" if len(pix) == 1 else "tile"), ("res" if len(chans) == 1 else "tile")
            tl = Tile([], copy=cp)
            tl.loads += mat(b.buf("DY", dyk), names["dy"], P, 0, co, p0, p1, es, _stride(prog, "DY"))
            tl.loads += mat(b.buf("W", wk), names["w"], c, 0, co, c0, c1, es, _stride(prog, "W"))
            bind = {"DY": ("DY", cp if dyk == "tile" else 0), "W": ("W", cp if wk == "tile" else 0),
                    "DX": (b.buf("out", "tile"), cp)}
            tl.calls.append(Call(prog, _with_scratch(prog, bind, b.bufs), "pointwise_ig", v, "layer"))
            sdx = _stride(prog, "DX")
            _grad_out(b, tl, i, prog, "DX", names["dx"], names["dx_role"],
                      lambda bf, _cp, c0=c0, c1=c1, p0=p0, p1=p1, sdx=sdx:
                      mat(bf, names["dx"], P, c0, c1, p0, p1, es, sdx))
            b.tiles.append(tl)
    return _split_name(("pixels", len(pix)), ("in_channels", len(chans))), b.tiles, b.bufs


def _depthwise(b: _Builder, lay: Layer, phase: Phase, names: dict[str, str], t: tuple[int, int]):
    ctx = b.ctx
    es, dt, cores = ctx.es, ctx.dtype, ctx.cores
    g = geom_of(lay)
    c, h, w = lay.in_shape
    _, ho, wo = lay.out_shape
    kk = g.kk
    ph = {Phase.FORWARD: "fw", Phase.WEIGHT_GRAD: "wg", Phase.INPUT_GRAD: "ig"}[phase]
    kname = f"depthwise_{ph}"
    chans = ranges(c, t[0] * t[1])
    for i, (c0, c1) in enumerate(chans):
        sub = ConvGeom(c1 - c0, h, w, g.kh, g.kw, g.sh, g.sw, g.pt, g.pb, g.pl, g.pr)
        v, prog = ctx.pick(kname, lambda: dw_variant(sub, dt),
                         lambda vv: _dw(sub, ph, dt, cores, vv))
        cp = b.copy("tile", i)
        tl = Tile([], copy=cp)
        bind: dict[str, tuple[str, int]] = {}
        for tn in prog.tensors:
            if tn.role == "scratch":
                bind[tn.name] = (b.buf(tn.name, "scratch"), 0)
        src = {"X": (names["x"], h * w), "W": (names["w"], kk), "DY": (names["dy"], ho * wo)}
        for tn in prog.tensors:
            if tn.role == "input":
                bind[tn.name] = (b.buf(tn.name, "tile"), cp)
                tl.loads += flat(tn.name, src[tn.name][0], c0 * src[tn.name][1], c1 * src[tn.name][1], es)
        out = {"fw": ("Y", names["y"], ho * wo), "wg": ("DW", names["dw"], kk), "ig": ("DX", names["dx"], h * w)}[ph]
        bind[out[0]] = (b.buf("out", "tile"), cp)
        tl.calls.append(Call(prog, bind, kname, v, "layer"))
        if ph == "ig":
            _grad_out(b, tl, i, prog, "DX", names["dx"], names["dx_role"],
                      lambda bf, _cp, c0=c0, c1=c1: flat(bf, names["dx"], c0 * h * w, c1 * h * w, es))
        else:
            tl.stores += flat("out", out[1], c0 * out[2], c1 * out[2], es)
        b.tiles.append(tl)
    return _split_name(("channels", len(chans))), b.tiles, b.bufs


def _linear(b: _Builder, lay: Layer, phase: Phase, names: dict[str, str], t: tuple[int, int]):
    """Linear, and a one-pixel pool as a matmul with the constant vector 1/window (`pool`)."""
    ctx = b.ctx
    es, dt, cores = ctx.es, ctx.dtype, ctx.cores
    c, h, w = lay.in_shape
    pool = lay.kind == "AvgPool"
    if pool:
        kh, kw = lay.kernel
        ci, co = kh * kw, c            # as a matmul: Y[C] = Xwin[C, n] · v
    else:
        ci, co = c * h * w, lay.out_shape[0]
    role = "avgpool as matmul" if pool else "layer"

    def win(buf: str, r0: int, r1: int, stride: int) -> list[Xfer]:
        """Rows [r0, r1) (channels) of the pool window as a [C, kh*kw] matrix."""
        if kw == w:
            return mat(buf, names["x" if phase is Phase.FORWARD else "dx"], h * w, r0, r1, 0, kh * w, es, stride)
        out = []
        for ch in range(r0, r1):
            out.append(Xfer(buf, (ch - r0) * stride * es, names["x" if phase is Phase.FORWARD else "dx"],
                            ch * h * w * es, kh, kw * es, w * es, kw * es))
        return out

    if phase is Phase.FORWARD:
        for i, (o0, o1) in enumerate(ranges(co, t[0] * t[1])):
            v, prog = ctx.pick("linear_fw", lambda: linear_choose(ci, o1 - o0, "fw", dt, cores, ext=ctx.ext),
                             lambda vv: _lin(ci, o1 - o0, "fw", dt, vv, cores, ctx.ext))
            cp = b.copy("tile", i)
            tl = Tile([], copy=cp)
            if pool:
                tl.loads += win(b.buf("W", "tile"), o0, o1, _stride(prog, "W"))
                tl.loads += flat(b.buf("X", "res"), f"pool:{ci}", 0, ci, es)
            else:
                tl.loads += mat(b.buf("W", "tile"), names["w"], ci, o0, o1, 0, ci, es, _stride(prog, "W"))
                tl.loads += flat(b.buf("X", "res"), names["x"], 0, ci, es)
            tl.calls.append(Call(prog, {"W": ("W", cp), "X": ("X", 0), "Y": (b.buf("out", "tile"), cp)},
                                 "linear_fw", v, role))
            tl.stores += flat("out", names["y"], o0, o1, es)
            b.tiles.append(tl)
        return _split_name(("out_features", len(b.tiles))), b.tiles, b.bufs
    if phase is Phase.WEIGHT_GRAD or pool:
        # Linear dW = dY · Xᵀ; pool backward dX[C, window] = dY · vᵀ
        for i, (o0, o1) in enumerate(ranges(co, t[0] * t[1])):
            v, prog = ctx.pick("linear_wg", lambda: linear_choose(ci, o1 - o0, "wg", dt, cores, ext=ctx.ext),
                             lambda vv: _lin(ci, o1 - o0, "wg", dt, vv, cores, ctx.ext))
            cp = b.copy("tile", i)
            tl = Tile([], copy=cp)
            tl.loads += flat(b.buf("DY", "tile"), names["dy"], o0, o1, es)
            tl.loads += flat(b.buf("X", "res"), f"pool:{ci}" if pool else names["x"], 0, ci, es)
            tl.calls.append(Call(prog, {"DY": ("DY", cp), "X": ("X", 0), "DW": (b.buf("out", "tile"), cp)},
                                 "linear_wg", v, "avgpool grad as matmul dY·vᵀ" if pool else "layer"))
            if pool:
                if names["dx_role"] == "inout":
                    raise LowerError(f"layer {lay.name!r}: a window pool whose input gradient accumulates")
                tl.stores += win("out", o0, o1, _stride(prog, "DW"))
            else:
                tl.stores += mat("out", names["dw"], ci, o0, o1, 0, ci, es, _stride(prog, "DW"))
            b.tiles.append(tl)
        return _split_name(("channels" if pool else "out_features", len(b.tiles))), b.tiles, b.bufs
    for i, (i0, i1) in enumerate(even_ranges(ci, t[0] * t[1], 2)):
        v, prog = ctx.pick("linear_ig", lambda: linear_choose(i1 - i0, co, "ig", dt, cores, ext=ctx.ext),
                         lambda vv: _lin(i1 - i0, co, "ig", dt, vv, cores, ctx.ext))
        cp = b.copy("tile", i)
        tl = Tile([], copy=cp)
        tl.loads += flat(b.buf("DY", "res"), names["dy"], 0, co, es)
        tl.loads += mat(b.buf("W", "tile"), names["w"], ci, 0, co, i0, i1, es, _stride(prog, "W"))
        bind = {"DY": ("DY", 0), "W": ("W", cp), "DX": (b.buf("out", "tile"), cp)}
        tl.calls.append(Call(prog, _with_scratch(prog, bind, b.bufs), "linear_ig", v, "layer"))
        _grad_out(b, tl, i, prog, "DX", names["dx"], names["dx_role"],
                  lambda bf, _cp, i0=i0, i1=i1: flat(bf, names["dx"], i0, i1, es))
        b.tiles.append(tl)
    return _split_name(("in_features", len(b.tiles))), b.tiles, b.bufs


def _elementwise(b: _Builder, lay: Layer, phase: Phase, names: dict[str, str], t: tuple[int, int]):
    ctx = b.ctx
    es, dt, cores = ctx.es, ctx.dtype, ctx.cores
    n = math.prod(lay.in_shape)
    if phase is Phase.INPUT_GRAD and lay.kind == "Add" and not names.get("acc_targets"):
        return "whole", [], b.bufs              # every operand's gradient is dY itself (L2 alias)
    blocks = even_ranges(n, t[0] * t[1], 2 * cores)
    for i, (lo, hi) in enumerate(blocks):
        m = hi - lo
        cp = b.copy("tile", i)
        tl = Tile([], copy=cp)
        if phase is Phase.FORWARD and lay.kind == "ReLU":
            v = ctx.variant("relu", lambda: "int" if dt == "fp32" else "int_simd")
            tl.loads += flat(b.buf("X", "tile"), names["x"], lo, hi, es)
            tl.calls.append(Call(_relu(m, dt, v, cores), {"X": ("X", cp), "Y": (b.buf("out", "tile"), cp)}, "relu", v, "layer"))
            tl.stores += flat("out", names["y"], lo, hi, es)
        elif phase is Phase.FORWARD:
            tl.loads += flat(b.buf("X", "tile"), names["x"], lo, hi, es) + flat(b.buf("Y", "tile"), names["x2"], lo, hi, es)
            tl.calls.append(Call(_add(m, dt, cores), {"X": ("X", cp), "Y": ("Y", cp), "Z": (b.buf("out", "tile"), cp)},
                                 "add", "scalar" if dt == "fp32" else "simd", "layer"))
            tl.stores += flat("out", names["y"], lo, hi, es)
        elif lay.kind == "ReLU":
            # the mask reads the ReLU's output (y > 0 exactly where x > 0), so its input need not
            # stay in L2 for the backward pass
            tl.loads += flat(b.buf("X", "tile"), names["y"], lo, hi, es) + flat(b.buf("DY", "tile"), names["dy"], lo, hi, es)
            tl.calls.append(Call(_relu_bwd(m, dt, cores), {"X": ("X", cp), "DY": ("DY", cp), "DX": (b.buf("out", "tile"), cp)},
                                 "relu_bwd", "mask" if dt == "fp32" else "simd_mask", "layer"))
            if names["dx_role"] == "inout":
                old = b.buf("old", "tile")
                tl.loads += flat(old, names["dx"], lo, hi, es)
                _accumulate(b, tl, ("out", cp), (old, cp), m)
                tl.stores += flat(old, names["dx"], lo, hi, es)
            else:
                tl.stores += flat("out", names["dx"], lo, hi, es)
        else:
            # Add backward: each accumulating operand gets old + dY (the others alias dY in L2)
            for j, tgt in enumerate(names.get("acc_targets", "").split(",") if names.get("acc_targets") else []):
                if j == 0:
                    tl.loads += flat(b.buf("DY", "tile"), names["dy"], lo, hi, es)
                old = b.buf(f"old{j}", "tile")
                tl.loads += flat(old, tgt, lo, hi, es)
                _accumulate(b, tl, ("DY", cp), (old, cp), m)
                tl.stores += flat(old, tgt, lo, hi, es)
        b.tiles.append(tl)
    return _split_name(("elements", len(blocks))), b.tiles, b.bufs


def _pool(b: _Builder, lay: Layer, phase: Phase, names: dict[str, str], t: tuple[int, int]):
    ctx = b.ctx
    es, dt, cores = ctx.es, ctx.dtype, ctx.cores
    c, h, w = lay.in_shape
    _, ho, wo = lay.out_shape
    (kh, kw), (sh, sw) = lay.kernel, lay.stride
    if kh != kw or sh != sw or any(lay.padding):
        raise LowerError(f"layer {lay.name!r} ({lay.kind}): the pool kernels take square windows and "
                         f"strides without padding, not kernel {lay.kernel} stride {lay.stride}")
    kind = lay.kind.lower()
    for i, (c0, c1) in enumerate(ranges(c, t[0] * t[1])):
        cp = b.copy("tile", i)
        tl = Tile([], copy=cp)
        if phase is Phase.FORWARD:
            prog = _pool_fwd(c1 - c0, h, w, kh, sh, dt, kind, cores)
            tl.loads += flat(b.buf("X", "tile"), names["x"], c0 * h * w, c1 * h * w, es)
            tl.calls.append(Call(prog, {"X": ("X", cp), "Y": (b.buf("out", "tile"), cp)}, kind, "scalar", "layer"))
            tl.stores += flat("out", names["y"], c0 * ho * wo, c1 * ho * wo, es)
        else:
            prog = _pool_bwd(c1 - c0, h, w, kh, sh, dt, f"{kind}_bwd", cores)
            bind = {"DY": (b.buf("DY", "tile"), cp), "DX": (b.buf("out", "tile"), cp)}
            tl.loads += flat("DY", names["dy"], c0 * ho * wo, c1 * ho * wo, es)
            if lay.kind == "MaxPool":
                bind["X"] = (b.buf("X", "tile"), cp)
                tl.loads += flat("X", names["x"], c0 * h * w, c1 * h * w, es)
            tl.calls.append(Call(prog, bind, f"{kind}_bwd", "scalar", "layer"))
            _grad_out(b, tl, i, prog, "DX", names["dx"], names["dx_role"],
                      lambda bf, _cp, c0=c0, c1=c1: flat(bf, names["dx"], c0 * h * w, c1 * h * w, es))
        b.tiles.append(tl)
    return _split_name(("channels", len(b.tiles))), b.tiles, b.bufs


def pool_vector(n: int, dtype: str) -> np.ndarray:
    return FLOAT[dtype].round(np.full(n, 1.0 / n))
