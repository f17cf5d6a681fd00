"""Conv2D input gradient without the zeros of the dilated dY: the polyphase decomposition.

Why. The im2col input gradient (layers_conv, variants `ab` / `abt`) convolves dY dilated by the
stride: with stride s, (s*s - 1) of every s*s patch entries are zeros, and the matmul multiplies
them all (stride 2: three of every four MACs are wasted).

Decomposition. dX[ci, i, j] = sum over (co, kh, kw) with (i + pt - kh) % sh == 0 and
(j + pl - kw) % sw == 0 of W[co, ci, kh, kw] * dY[co, (i + pt - kh) / sh, (j + pl - kw) / sw]. The
pixels of one phase (ph, pw) = (i mod sh, j mod sw) meet only the taps kh = kh0 + sh*a with
kh0 = (ph + pt) mod sh (likewise kw), and for i = sh*m + ph the dY row is m + off_h - a with
off_h = (ph + pt - kh0) / sh. So each phase is a small dense stride-1 convolution of dY with a
sub-sampled kernel (na x nb taps, na = len(range(kh0, Kh, sh))), over Mh x Mw = len(range(ph, H,
sh)) x len(range(pw, W, sw)) pixels: sh*sw phases whose taps add up to Kh*Kw, so the matmuls do
exactly the useful MACs (Co*Ci*Kh*Kw*Ho*Wo up to the border terms that fall outside dY, which
the patches hold as zeros like any padded convolution). A phase without taps (e.g. a 1x1 kernel
with stride 2: three of four phases) only gets zeros.

Program (one region, like the other layer phases):
1. parallel step: the phases' dY patches (`G`, one Gather for all phases: its (tap, co) items are
   split over the cores) and the phases' sub-kernels (`WP` or `WPT`, a Gather of W), barrier;
2. one matmul per phase with taps, back to back (they write disjoint outputs, so no barrier
   between them), into `DXP`, barrier;
3. parallel step: the scatter of each phase's outputs to its pixels of dX (sh, sw apart), zeros
   for the phases without taps.

Variants (the matmul form and which side holds the pixels; the k order is (tap, co) in all):
| variant | per phase | G layout | weights |
|---|---|---|---|
| `poly_ab` | DXP[ci, pix] = WP[ci, k] · G[k, pix] | col | WP[ci, (tap, co)] |
| `poly_abt` | DXP[ci, pix] = WP[ci, k] · G[pix, k]ᵀ | row | WP |
| `polyt_ab` | DXP[pix, ci] = G[pix, k] · WPT[k, ci] | row | WPT[(tap, co), ci] |
| `polyt_abt` | DXP[pix, ci] = G[pix, k] · WP[ci, k]ᵀ | row | WP |
`polyt_*` put the pixels on the matmul rows: with few input channels (16 in ResNet8's stage-2
conv) the ci rows give each of 8 cores only 2 rows, while a phase has 64-256 pixels. FP16 `ab`
forms use vfmac.r.h (FP16 accumulators), `abt` forms vfdotpex.s.h (FP32 accumulators), as in the
im2col variants; the matmul micro-kernel of each phase is the fastest by the generator's estimate.

Layout. All phases share one tensor per operand with a common row stride (padded like every
matmul operand), each phase at its own offset: G col rows (tap, co) for all taps (phase p from row
T_p * Co, T_p = taps of the phases before it); G row / DXP (polyt) one row block per phase; WP
column blocks (even widths: FP16 vector loads need word-aligned operands); DXP (poly) one block of
Ci rows per phase.

Checks: the transforms are exact, so each phase's pixels of dX are the matrix product of its
operands (built in numpy below) and are checked with the matmul rule of the form (layer_steps.
matmul_check: FP32 within gamma_k * sum|a||b|, FP16 against the emulated rounding sequence); the
pixels of phases without taps must be exactly zero. The tests also compare with a direct numpy
convolution gradient.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mcusim.kernels_asm.dtypes import is_half
from mcusim.kernels_asm.kernels.harness import KernelProgram, padded_stride
from mcusim.kernels_asm.kernels.layer_steps import Mm, PhaseBuilder, _estimate, matmul_check
from mcusim.kernels_asm.kernels.registry import Check
from mcusim.kernels_asm.kernels.transforms import (
    ESIZE,
    Asm,
    Axis,
    Block,
    ConvGeom,
    Gather,
    axis_from_map,
    core_range,
    emit_gather,
)

# variant -> (pixels on the matmul rows, A·Bᵀ form)
POLY_VARIANTS: dict[str, tuple[bool, bool]] = {
    "poly_ab": (False, False), "poly_abt": (False, True),
    "polyt_ab": (True, False), "polyt_abt": (True, True),
}
POLY_HELP = {
    "poly_ab": "phase sub-convolutions, no dilation zeros: dXp = Wp · Gp per phase (FP16: vfmac.r.h)",
    "poly_abt": "phase sub-convolutions: dXp = Wp · Gpᵀᵀ (FP16: vfdotpex.s.h, FP32 accumulators)",
    "polyt_ab": "phase sub-convolutions, pixels on the matmul rows: dXpᵀ = Gp · Wpᵀ (FP16: vfmac.r.h)",
    "polyt_abt": "phase sub-convolutions, pixels on the matmul rows: dXpᵀ = Gp · (Wp)ᵀ (FP16: vfdotpex.s.h)",
}


# ------------------------------------------------------------------------------------------------
# The phases of a geometry
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AxisPhase:
    """One residue r of an axis (outputs i = s*m + r): its taps k0, k0 + s, ... and the dY index
    m + off - a of output m and tap number a; `n` outputs."""
    r: int
    taps: tuple[int, ...]
    off: int
    n: int


def axis_phases(n: int, k: int, s: int, pad: int) -> list[AxisPhase]:
    """The s residues of an axis of n input positions (kernel k, stride s, leading padding pad)."""
    out = []
    for r in range(s):
        k0 = (r + pad) % s
        out.append(AxisPhase(r, tuple(range(k0, k, s)), (r + pad - k0) // s, len(range(r, n, s))))
    return out


@dataclass(frozen=True)
class Phase:
    rows: AxisPhase
    cols: AxisPhase

    @property
    def taps(self) -> list[tuple[int, int, int, int]]:
        """(kh, kw, a, b) of each tap, in the k order of the phase's matmul (row-major)."""
        return [(kh, kw, a, b) for a, kh in enumerate(self.rows.taps) for b, kw in enumerate(self.cols.taps)]

    @property
    def ntaps(self) -> int:
        return len(self.rows.taps) * len(self.cols.taps)

    @property
    def npix(self) -> int:
        return self.rows.n * self.cols.n


def phases(g: ConvGeom) -> list[Phase]:
    """The phases with at least one pixel, row residue major."""
    return [Phase(r, c) for r in axis_phases(g.h, g.kh, g.sh, g.pt) for c in axis_phases(g.w, g.kw, g.sw, g.pl)
            if r.n and c.n]


def _even(n: int) -> int:
    return n + n % 2


@dataclass(frozen=True)
class Layout:
    """Where each phase's operands sit (elements; see the module docstring)."""
    g: ConvGeom
    cout: int
    dtype: str
    pix_rows: bool           # polyt: pixels on the matmul rows
    bt: bool
    phases: tuple[Phase, ...]

    @property
    def live(self) -> list[Phase]:
        return [p for p in self.phases if p.ntaps]

    @property
    def g_col(self) -> bool:
        return not self.pix_rows and not self.bt

    @property
    def wp_t(self) -> bool:          # weights as WPT[(tap, co), ci]
        return self.pix_rows and not self.bt

    def k(self, p: Phase) -> int:
        return p.ntaps * self.cout

    def tap0(self, p: Phase) -> int:
        """Global tap index of the phase's first tap (phases with taps, in order)."""
        live = self.live
        return sum(q.ntaps for q in live[:live.index(p)])

    def pix0(self, p: Phase) -> int:
        live = self.live
        return sum(q.npix for q in live[:live.index(p)])

    def wp_col0(self, p: Phase) -> int:
        live = self.live
        return sum(_even(self.k(q)) for q in live[:live.index(p)])

    # shapes of the scratch tensors
    def g_shape(self) -> tuple[int, int]:
        live = self.live
        if self.g_col:
            return sum(p.ntaps for p in live) * self.cout, max(p.npix for p in live)
        return sum(p.npix for p in live), max(self.k(p) for p in live)

    def w_shape(self) -> tuple[int, int]:
        live = self.live
        if self.wp_t:
            return sum(p.ntaps for p in live) * self.cout, self.g.c
        return self.g.c, sum(_even(self.k(p)) for p in live)

    def dxp_shape(self) -> tuple[int, int]:
        live = self.live
        if self.pix_rows:
            return sum(p.npix for p in live), self.g.c
        return len(live) * self.g.c, max(p.npix for p in live)

    def matmul(self, p: Phase, g_stride: int, w_stride: int, c_stride: int) -> Mm:
        """The phase's matmul with its operand expressions (strides in elements)."""
        es, ci, k = ESIZE[self.dtype], self.g.c, self.k(p)
        if self.g_col:
            gsym = f"G + {self.tap0(p) * self.cout * g_stride * es}"
        else:
            gsym = f"G + {self.pix0(p) * g_stride * es}"
        if self.wp_t:
            wsym = f"WP + {self.tap0(p) * self.cout * w_stride * es}"
        else:
            wsym = f"WP + {self.wp_col0(p) * es}"
        if self.pix_rows:
            csym = f"DXP + {self.pix0(p) * c_stride * es}"
            return Mm(p.npix, ci, k, gsym, wsym, csym, self.bt)
        csym = f"DXP + {self.live.index(p) * ci * c_stride * es}"
        return Mm(ci, p.npix, k, wsym, gsym, csym, self.bt)


def layout(g: ConvGeom, cout: int, dtype: str, variant: str) -> Layout:
    if variant not in POLY_VARIANTS:
        raise ValueError(f"unknown polyphase variant {variant!r} (known: {', '.join(POLY_VARIANTS)})")
    pix_rows, bt = POLY_VARIANTS[variant]
    return Layout(g, cout, dtype, pix_rows, bt, tuple(phases(g)))


# ------------------------------------------------------------------------------------------------
# The gathers: dY patches, sub-kernels
# ------------------------------------------------------------------------------------------------

def _one(step: int = 1) -> Axis:
    return Axis(1, 0, 1, 1, 0, step)


def patch_gather(lay: Layout, dy_chan: int, g_stride: int, vec: bool) -> Gather:
    """G for every phase with taps: item (tap, co) holds dY[co, m + off_h - a, n + off_w - b] (or 0
    outside dY) for the phase's pixels (m, n); col layout: row tap*Co + co, pixels along the row;
    row layout: rows are the phase's pixels, column tau*Co + co (tau = tap number in the phase)."""
    g, es, co = lay.g, ESIZE[lay.dtype], lay.cout
    blocks = []
    for p in lay.live:
        for tau, (_, _, a, b) in enumerate(p.taps):
            rows = axis_from_map(p.rows.n, lambda m, a=a: u if 0 <= (u := m + p.rows.off - a) < g.ho else None)
            cols = axis_from_map(p.cols.n, lambda n, b=b: v if 0 <= (v := n + p.cols.off - b) < g.wo else None)
            if lay.g_col:
                off = (lay.tap0(p) + tau) * co * g_stride * es
            else:
                off = (lay.pix0(p) * g_stride + tau * co) * es
            blocks.append(Block(rows, cols, off))
    if lay.g_col:
        return Gather(lay.dtype, "DY", "G", co, dy_chan * es, g_stride * es, g.wo * es, es, tuple(blocks), vec)
    return Gather(lay.dtype, "DY", "G", co, dy_chan * es, es, g.wo * es, g_stride * es, tuple(blocks), False)


def weight_gather(lay: Layout, w_stride: int, wp_stride: int) -> Gather:
    """The sub-kernels from W[co, ci*Kh*Kw]: WP[ci, col0 + tau*Co + co] (items (tap, ci), a row of
    Co values Co rows of W apart) or WPT[(tap0 + tau)*Co + co, ci] (items (tap, co), a row of Ci
    values Kh*Kw apart)."""
    g, es, co = lay.g, ESIZE[lay.dtype], lay.cout
    blocks = []
    for p in lay.live:
        for tau, (kh, kw, _, _) in enumerate(p.taps):
            src = (kh * g.kw + kw) * es
            if lay.wp_t:
                cols = Axis(g.c, 0, g.c, 1, 0, g.kk)
                blocks.append(Block(_one(), cols, (lay.tap0(p) + tau) * co * wp_stride * es, src))
            else:
                cols = Axis(co, 0, co, 1, 0, w_stride)
                blocks.append(Block(_one(), cols, (lay.wp_col0(p) + tau * co) * es, src))
    if lay.wp_t:
        return Gather(lay.dtype, "W", "WP", co, w_stride * es, wp_stride * es, es, es, tuple(blocks))
    return Gather(lay.dtype, "W", "WP", g.c, g.kk * es, wp_stride * es, es, es, tuple(blocks))


# ------------------------------------------------------------------------------------------------
# The scatter: phase outputs to their pixels of dX
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Placement:
    """One phase's part of the scatter (bytes): dX[c, sh*m + ph, sw*n + pw] = DXP[src + c*src_chan
    + (m*cols + n)*src_step], or 0 when src is None."""
    rows: int
    cols: int
    dst: int                 # from dX's channel base to pixel (ph, pw)
    src: int | None
    src_chan: int = 0
    src_step: int = 0


def emit_scatter(a: Asm, items: list[Placement], channels: int, dst: str, src: str, dst_chan: int,
                 dst_step: int, dst_row: int, dtype: str, cores: int) -> None:
    """The calling core's share of the (placement, channel) items (split evenly, a0 = core id on
    entry): per output row, post-increment load/store pairs in a hardware loop. Clobbers a0-a1,
    t0-t6, s0-s7."""
    es = ESIZE[dtype]
    ld, st = ("p.lw", "p.sw") if es == 4 else ("p.lhu", "p.sh")
    core_range(a, len(items) * channels, cores)
    a.li("s6", dst_chan)
    for bi, it in enumerate(items):
        skip, loop = a.fresh("sc_skip"), a.fresh("sc_chan")
        base = bi * channels
        a.addi("t0", "s0", -base)
        a("p.max", "t0", "t0", "zero")
        a.li("t3", channels)
        a("p.min", "t0", "t0", "t3")
        a.addi("t1", "s1", -base)
        a("p.min", "t1", "t1", "t3")
        a("sub", "s2", "t1", "t0")
        a("blez", "s2", skip)
        a("mul", "t2", "t0", "s6")
        a.li("s4", f"{dst} + {it.dst}")
        a("add", "s4", "s4", "t2")
        if it.src is not None:
            a.li("s5", it.src_chan)
            a("mul", "t2", "t0", "s5")
            a.li("s3", f"{src} + {it.src}")
            a("add", "s3", "s3", "t2")
        a.label(loop)
        a("mv", "a1", "s4")
        if it.src is not None:
            a("mv", "a0", "s3")
        step_in = it.src_step if -2048 <= it.src_step < 2048 else "s7"
        if step_in == "s7":
            a.li("s7", it.src_step)

        def two() -> None:
            a(ld, "t0", f"{step_in}(a0!)")
            a(ld, "t1", f"{step_in}(a0!)")
            a(st, "t0", f"{dst_step}(a1!)")
            a(st, "t1", f"{dst_step}(a1!)")

        def row() -> None:
            if it.src is None:
                a.repeat(it.cols, lambda: a(st, "zero", f"{dst_step}(a1!)"), 1, inline_max=6)
            else:
                pairs, odd = divmod(it.cols, 2)
                a.repeat(pairs, two, 4)
                if odd:
                    a(ld, "t0", f"{step_in}(a0!)")
                    a(st, "t0", f"{dst_step}(a1!)")
            a.addi("a1", "a1", dst_row - it.cols * dst_step, tmp="t4")
        if it.rows > 1:
            with a.hwloop(1, it.rows):
                row()
        else:
            row()
        if it.src is not None:
            a.li("s5", it.src_chan)
            a("add", "s3", "s3", "s5")
        a("add", "s4", "s4", "s6")
        a("addi", "s2", "s2", -1)
        a("bnez", "s2", loop)
        a.label(skip)


# ------------------------------------------------------------------------------------------------
# The program
# ------------------------------------------------------------------------------------------------

def poly_program(g: ConvGeom, cout: int, dtype: str, variant: str, cores: int, vec: bool = True,
                 ext: frozenset[str] | None = None) -> KernelProgram:
    """The Conv2D input gradient of `g` (cout output channels) by phase sub-convolutions. Tensors as
    the im2col input gradient: W[cout, Ci*Kh*Kw], DY[cout, Ho*Wo] in, DX[Ci, H*W] out."""
    g.check()
    lay = layout(g, cout, dtype, variant)
    es, cin = ESIZE[dtype], g.c
    pb = PhaseBuilder("conv2d_ig", dtype, cores, ext)
    pb.tensor("W", (cout, cin * g.kk), bank=3)
    pb.tensor("DY", (cout, g.ho * g.wo), bank=7)
    live = lay.live
    if live:
        pb.tensor("WP", lay.w_shape(), "scratch", bank=1)
        pb.tensor("G", lay.g_shape(), "scratch", bank=6)
        pb.tensor("DXP", lay.dxp_shape(), "scratch", bank=9)
    pb.tensor("DX", (cin, g.h * g.w), "output", bank=11)
    if live:
        gs, ws, cs = pb.stride("G"), pb.stride("WP"), pb.stride("DXP")
        a = pb.code()
        emit_gather(a, patch_gather(lay, pb.stride("DY"), gs, vec and is_half(dtype)), cores)
        a("core_id", "a0")
        emit_gather(a, weight_gather(lay, pb.stride("W"), ws), cores)
        strides = {"G": gs, "WP": ws, "DXP": cs}
        for p in live:
            mm = lay.matmul(p, gs, ws, cs)
            for sym in (mm.a, mm.b, mm.c):          # "NAME + offset": a view of NAME
                pb.views[sym] = strides[sym.split()[0]]
            pb.matmul(mm)
        pb.b.emit("barrier")
    items = []
    for p in lay.phases:
        dst = (p.rows.r * g.w + p.cols.r) * es
        if not p.ntaps:
            items.append(Placement(p.rows.n, p.cols.n, dst, None))
        elif lay.pix_rows:
            items.append(Placement(p.rows.n, p.cols.n, dst, lay.pix0(p) * pb.stride("DXP") * es, es,
                                   pb.stride("DXP") * es))
        else:
            items.append(Placement(p.rows.n, p.cols.n, dst, live.index(p) * cin * pb.stride("DXP") * es,
                                   pb.stride("DXP") * es, es))
    a = pb.code()
    emit_scatter(a, items, cin, "DX", "DXP", pb.stride("DX") * es, g.sw * es, g.sh * g.w * es, dtype, cores)
    prog = pb.program()
    prog.meta.update(form="abt" if lay.bt else "ab", geom=g, cout=cout, phases=len(live))
    return prog


# ------------------------------------------------------------------------------------------------
# Estimate (variant choice) and numpy references
# ------------------------------------------------------------------------------------------------

def poly_estimate(g: ConvGeom, cout: int, dtype: str, variant: str, cores: int,
                  ext: frozenset[str] | None = None) -> float:
    """Cycles by the layer estimate: the phases' matmuls plus every element the three steps move."""
    lay = layout(g, cout, dtype, variant)
    live = lay.live
    if not live:
        return _estimate([], g.c * g.h * g.w, dtype, cores, ext)
    gs = padded_stride(lay.g_shape()[1], dtype)
    ws = padded_stride(lay.w_shape()[1], dtype)
    cs = padded_stride(lay.dxp_shape()[1], dtype)
    mms = [lay.matmul(p, gs, ws, cs) for p in live]
    moved = sum(p.ntaps * cout * p.npix for p in live) + cout * g.c * g.kk + g.c * g.h * g.w
    return _estimate(mms, moved, dtype, cores, ext)


def phase_operands(p: Phase, w4: np.ndarray, dy: np.ndarray, g: ConvGeom) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) of phase p with its pixels of dX = A · B: A = WP[ci, (tap, co)], B = G[(tap, co), pix]."""
    co = w4.shape[0]
    a = np.concatenate([w4[:, :, kh, kw].T for kh, kw, _, _ in p.taps], axis=1)
    b = np.zeros((p.ntaps, co, p.rows.n, p.cols.n), dy.dtype)
    for t, (_, _, ta, tb) in enumerate(p.taps):
        for m in range(p.rows.n):
            u = m + p.rows.off - ta
            if not 0 <= u < g.ho:
                continue
            for n in range(p.cols.n):
                v = n + p.cols.off - tb
                if 0 <= v < g.wo:
                    b[t, :, m, n] = dy[:, u, v]
    return a, b.reshape(p.ntaps * co, p.npix)


def poly_check(inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray], g: ConvGeom,
               cout: int, dtype: str, variant: str) -> Check:
    """Each phase's pixels of dX against its operands' product (the form's matmul rule); the pixels
    of phases without taps must be exactly zero."""
    lay = layout(g, cout, dtype, variant)
    w4 = inputs["W"].reshape(cout, g.c, g.kh, g.kw)
    dy = inputs["DY"].reshape(cout, g.ho, g.wo)
    dx = outputs["DX"].reshape(g.c, g.h, g.w)
    worst: Check | None = None
    for p in lay.phases:
        out = dx[:, p.rows.r::g.sh, p.cols.r::g.sw].reshape(g.c, -1)
        where = f"phase ({p.rows.r}, {p.cols.r})"
        if not p.ntaps:
            if np.any(out != 0):
                return Check(False, float(np.max(np.abs(out.astype(np.float64)))), 0.0,
                             f"{where} has no taps but non-zero outputs")
            continue
        a, b = phase_operands(p, w4, dy, g)
        chk = matmul_check(a, b, out, dtype, "abt" if lay.bt else "ab", lay.bt)
        if not chk.ok:
            chk.detail = f"{where}: {chk.detail}"
            return chk
        if worst is None or chk.max_error > worst.max_error:
            worst = chk
    if worst is None:
        return Check(True, 0.0, 0.0, "no phase has taps: dX is exactly zero")
    worst.detail = f"{len(lay.live)} phase matmuls, worst: {worst.detail}"
    return worst
