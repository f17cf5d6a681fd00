"""Convolution layers, forward (fw), weight gradient (wg) and input gradient (ig), FP32, FP16 and
bfloat16, CHW: Conv2D (any kernel, stride, padding), PointWise (1x1) and DepthWise (direct loops,
see its section below). Everything said of FP16 below holds for bfloat16 (dtype bf16) with the
`.ah` twins of the instructions; where bfloat16 has no twin (fmacex/fmulex) the operands are widened
with the exact fcvt.s.ah and multiplied in FP32 (the same single rounding).

How a layer phase is built. One program per layer phase, as PULP-TrainLib runs it: the shape
transforms (transforms.py) as one parallel step, a `barrier`, then the matrix multiplication
(matmul_fp32/matmul_fp16 generators, emitted into the same program). So the kernel region's
cycles are the real cost of the phase, transforms, synchronisation and load imbalance included.
No bias term (PULP-TrainLib's optional bias is not implemented).

| phase | Conv2D as a matmul (K = Ci*Kh*Kw, P = Ho*Wo) | step before the matmul |
|---|---|---|
| fw | Y[Co, P] = W[Co, K] · B | `ab`: B = im2col(X) [K, P]; `abt`: B = im2row(X) [P, K] used as Bᵀ |
| wg | dW[Co, K] = dY[Co, P] · B | `ab`: B = im2row(X) [P, K]; `abt`: B = im2col(X) [K, P] used as Bᵀ |
| ig | dX[Ci, H*W] = Wbt[Ci, Co*Kh*Kw] · G | block_transpose(W) -> Wbt, and `ab`: G = im2col_grad(dY); `abt`: its im2row form |

PointWise needs no patches: fw `ab` multiplies W · X directly, wg `abt` multiplies dY · Xᵀ with X
as stored, ig `ab` needs Wᵀ (transpose step); the other forms add a transpose of X, dY or W.

Variants: the form (`ab`: A·B, `abt`: A·Bᵀ), optionally with the naive matmul (`_naive`, for
comparison with PULP-TrainLib's naive kernels). The matmul micro-kernel of a form is the fastest
by the matmul generator's cycle estimate among its register-blocked variants (FP32) or its SIMD
variants (FP16): FP16 `ab` uses `vfmac.r.h` (FP16 accumulators), FP16 `abt` uses `vfdotpex.s.h`
(FP32 accumulators, rounded to FP16 at the store). The default form (`choose`) is the one with the
fewest estimated cycles (matmul estimate + transform estimate). Conv2D phases can have further
variants built in other modules (`EXTRA_VARIANTS`), priced by the same choice: the input
gradient's phase sub-convolutions (`poly*`, conv_polyphase.py), taken for strides > 1. Variant
`trainlib` of Conv2D, PointWise and DepthWise (conv_trainlib.py, dw_trainlib.py): built the way
PULP-TrainLib's C primitives are, for comparison (`mcusim train --kernels trainlib`); never chosen.

Tensors (harness layout): 2-D matrices [channels, pixels] whose row stride is padded to an odd
number of words (`padded_stride`: rows start in different banks, and FP16 rows have an even number
of halves as the vector loads need); X of Conv2D is read only by im2col and stays plain [C, H, W].

Checks: the transforms are exact, so each output is a matrix product of the transformed operands
(computed in numpy by the transform references); it is compared with the matmul module's rule:
FP32 within gamma_k * sum|a||b| of the float64 product, FP16 against the emulation of the
hardware's rounding sequence (bit-exact for FP16 accumulators; FP32 accumulators within the
documented double-rounding margin). The tests also compare the references with a direct
convolution, so the transforms' meaning is checked independently.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from mcusim.kernels_asm.dtypes import DTYPES, FLOAT_DTYPES, is_half
from mcusim.kernels_asm.kernels import conv_polyphase as poly
from mcusim.kernels_asm.kernels import conv_trainlib as tl
from mcusim.kernels_asm.kernels import dw_trainlib as dwtl
from mcusim.kernels_asm.kernels import matmul_fp16 as mm16
from mcusim.kernels_asm.kernels.harness import KernelProgram
from mcusim.kernels_asm.kernels.layer_steps import (
    FORMS,
    LAYER_VARIANTS,
    PHASES,
    Mm,
    PhaseBuilder,
    _estimate,
    _form,
    family_variant,
    matmul_check,
)
from mcusim.kernels_asm.kernels.registry import Check, KernelDef, Param, register
from mcusim.kernels_asm.kernels.transforms import (
    ESIZE,
    Asm,
    ConvGeom,
    block_transpose_ref,
    core_range,
    emit_block_transpose,
    emit_gather,
    emit_transpose,
    im2col_gather,
    im2col_grad_gather,
    im2col_grad_ref,
    im2col_ref,
    pad_gather,
    random_tensor,
)


# ------------------------------------------------------------------------------------------------
# Conv2D
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Conv2dVariant:
    """A Conv2D phase variant built by another module: its program (g, cout, dtype, variant,
    cores, ext), its cycle estimate (same arguments, no simulation) and its check (inputs, outputs, g,
    cout, dtype, variant). `ext`: the cores' extensions (None: all), for the matmul choice."""
    build: Callable[[ConvGeom, int, str, str, int, frozenset[str] | None], KernelProgram]
    estimate: Callable[[ConvGeom, int, str, str, int, frozenset[str] | None], float]
    check: Callable[[Mapping[str, np.ndarray], Mapping[str, np.ndarray], ConvGeom, int, str, str], Check]
    help: str
    when: Callable[[ConvGeom], bool]     # the geometries `conv2d_choose` considers it for


# The variants of each phase beyond the im2col forms (LAYER_VARIANTS); `conv2d_choose` prices them
# beside the forms. Input gradient: the phase sub-convolutions (conv_polyphase) skip the zeros of
# the stride-dilated dY. Chosen only for strides > 1: with stride 1 they do the im2col forms' MACs
# plus a scatter and need one more dX-sized buffer than the planner budgets for an input gradient
# (`polyt_*` is still faster there on few input channels; it stays selectable by name).
_POLY = {v: Conv2dVariant(lambda g, cout, dtype, variant, cores, ext: poly.poly_program(g, cout, dtype, variant,
                                                                                         cores, ext=ext),
                          poly.poly_estimate, poly.poly_check, poly.POLY_HELP[v],
                          lambda g: g.sh > 1 or g.sw > 1)
         for v in poly.POLY_VARIANTS}
# `trainlib`: each phase built the way PULP-TrainLib's C primitives are (conv_trainlib), for
# comparison; never chosen by `conv2d_choose`.


def _trainlib(phase: str) -> dict[str, Conv2dVariant]:
    return {"trainlib": Conv2dVariant(
        lambda g, cout, dtype, variant, cores, ext: tl.tl_program(g, cout, phase, dtype, cores),
        lambda g, cout, dtype, variant, cores, ext: tl.tl_estimate(g, cout, phase, dtype, cores),
        lambda i, o, g, cout, dtype, variant: tl.tl_check(i, o, g, cout, phase, dtype),
        "PULP-TrainLib style: im2row element loops, one parallel region per primitive, 2x4 matmuls "
        "(FP16: v2f16 FP16 accumulation, vfmac; no vfdotpex)",
        lambda g: False)}


EXTRA_VARIANTS: dict[str, dict[str, Conv2dVariant]] = {"fw": _trainlib("fw"), "wg": _trainlib("wg"),
                                                       "ig": {**_POLY, **_trainlib("ig")}}


def conv2d_program(g: ConvGeom, cout: int, phase: str, dtype: str, variant: str, cores: int,
                   vec: bool = True, ext: frozenset[str] | None = None) -> KernelProgram:
    """One phase of a Conv2D layer (g: input geometry and kernel; cout output channels). `ext`: the
    cores' extensions (None: all): the matmul is chosen among the variants they allow."""
    g.check()
    extra = EXTRA_VARIANTS.get(phase, {}).get(variant)
    if extra is not None:
        return extra.build(g, cout, dtype, variant, cores, ext)
    form, naive = _form(variant)
    bt = form == "abt"
    cin, kk = g.c, g.kk
    K, P, HW = cin * kk, g.ho * g.wo, g.h * g.w
    fp16v = vec and is_half(dtype)
    pb = PhaseBuilder(f"conv2d_{phase}", dtype, cores, ext)
    if phase == "fw":
        pb.tensor("X", (cin, g.h, g.w), padded=False)
        pb.tensor("W", (cout, K), bank=3)
        pb.tensor("B", (P, K) if bt else (K, P), "scratch", bank=6)
        pb.tensor("Y", (cout, P), "output", bank=11)
        emit_gather(pb.code(), im2col_gather(g, dtype, "X", "B", "row" if bt else "col",
                                             dst_stride=pb.stride("B"), vec=fp16v and not bt), cores)
        pb.matmul(Mm(cout, P, K, "W", "B", "Y", bt), naive)
    elif phase == "wg":
        pb.tensor("X", (cin, g.h, g.w), padded=False)
        pb.tensor("DY", (cout, P), bank=3)
        pb.tensor("B", (K, P) if bt else (P, K), "scratch", bank=6)
        pb.tensor("DW", (cout, K), "output", bank=11)
        emit_gather(pb.code(), im2col_gather(g, dtype, "X", "B", "col" if bt else "row",
                                             dst_stride=pb.stride("B"), vec=fp16v and bt), cores)
        pb.matmul(Mm(cout, K, P, "DY", "B", "DW", bt), naive)
    elif phase == "ig":
        gd = ConvGeom(cout, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.pt, g.pb, g.pl, g.pr)
        pb.tensor("W", (cout, K), bank=3)
        pb.tensor("DY", (cout, P), bank=7)
        pb.tensor("WBT", (cin, cout * kk), "scratch", bank=1)
        pb.tensor("G", (HW, cout * kk) if bt else (cout * kk, HW), "scratch", bank=6)
        pb.tensor("DX", (cin, HW), "output", bank=11)
        a = pb.code()
        emit_gather(a, im2col_grad_gather(gd, dtype, "DY", "G", "row" if bt else "col", src_chan=pb.stride("DY"),
                                          dst_stride=pb.stride("G"), vec=fp16v and not bt), cores)
        a("core_id", "a0")
        emit_block_transpose(a, cout, cin, kk, dtype, "W", "WBT", cores, src_stride=pb.stride("W"),
                             dst_stride=pb.stride("WBT"))
        pb.matmul(Mm(cin, HW, cout * kk, "WBT", "G", "DX", bt), naive)
    else:
        raise ValueError(f"phase must be one of {PHASES}")
    prog = pb.program()
    prog.meta.update(form=form, geom=g, cout=cout)
    return prog


def conv2d_operands(phase: str, inputs: Mapping[str, np.ndarray], g: ConvGeom, cout: int) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) with the phase's output = A · B (B as k x n), from the exact transform references."""
    if phase == "fw":
        return inputs["W"], im2col_ref(inputs["X"], g, "col")
    if phase == "wg":
        return inputs["DY"], im2col_ref(inputs["X"], g, "row")
    gd = ConvGeom(cout, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.pt, g.pb, g.pl, g.pr)
    w4 = inputs["W"].reshape(cout, g.c, g.kh, g.kw)
    wbt = block_transpose_ref(w4).reshape(g.c, cout * g.kk)
    dy = inputs["DY"].reshape(cout, g.ho, g.wo)
    return wbt, im2col_grad_ref(dy, gd, "col")



# ------------------------------------------------------------------------------------------------
# PointWise (1x1 convolution, stride 1, no padding)
# ------------------------------------------------------------------------------------------------

def pointwise_program(cin: int, cout: int, h: int, w: int, phase: str, dtype: str, variant: str,
                      cores: int, ext: frozenset[str] | None = None) -> KernelProgram:
    """One phase of a PointWise layer. Variant `trainlib`: the form PULP-TrainLib's CHW primitive
    uses (conv_trainlib.TL_PW_FORMS) with its matmul (conv_trainlib.TL_MATMUL). `ext`: the cores'
    extensions (None: all): the matmul is chosen among the variants they allow."""
    trainlib = variant == "trainlib"
    form, naive = (tl.TL_PW_FORMS[phase], False) if trainlib else _form(variant)
    bt = form == "abt"
    forced = tl.TL_MATMUL[(dtype, bt)] if trainlib else None
    P = h * w
    pb = PhaseBuilder(f"pointwise_{phase}", dtype, cores, ext)
    if phase == "fw":
        pb.tensor("X", (cin, P), bank=6)
        pb.tensor("W", (cout, cin), bank=3)
        pb.tensor("Y", (cout, P), "output", bank=11)
        if bt:
            pb.tensor("XT", (P, cin), "scratch", bank=1)
            emit_transpose(pb.code(), cin, P, dtype, "X", "XT", cores, pb.stride("X"), pb.stride("XT"))
        pb.matmul(Mm(cout, P, cin, "W", "XT" if bt else "X", "Y", bt), naive, forced)
    elif phase == "wg":
        pb.tensor("X", (cin, P), bank=6)
        pb.tensor("DY", (cout, P), bank=3)
        pb.tensor("DW", (cout, cin), "output", bank=11)
        if not bt:
            pb.tensor("XT", (P, cin), "scratch", bank=1)
            emit_transpose(pb.code(), cin, P, dtype, "X", "XT", cores, pb.stride("X"), pb.stride("XT"))
        pb.matmul(Mm(cout, cin, P, "DY", "X" if bt else "XT", "DW", bt), naive, forced)
    elif phase == "ig":
        pb.tensor("W", (cout, cin), bank=3)
        pb.tensor("DY", (cout, P), bank=6)
        pb.tensor("WT", (cin, cout), "scratch", bank=1)
        pb.tensor("DX", (cin, P), "output", bank=11)
        a = pb.code()
        emit_transpose(a, cout, cin, dtype, "W", "WT", cores, pb.stride("W"), pb.stride("WT"))
        if bt:
            pb.tensor("DYT", (P, cout), "scratch", bank=9)
            a("core_id", "a0")
            emit_transpose(a, cout, P, dtype, "DY", "DYT", cores, pb.stride("DY"), pb.stride("DYT"))
        pb.matmul(Mm(cin, P, cout, "WT", "DYT" if bt else "DY", "DX", bt), naive, forced)
    else:
        raise ValueError(f"phase must be one of {PHASES}")
    prog = pb.program()
    prog.meta.update(form=form, **({"trainlib": True} if trainlib else {}))
    return prog


def pointwise_operands(phase: str, inputs: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    if phase == "fw":
        return inputs["W"], inputs["X"]
    if phase == "wg":
        return inputs["DY"], inputs["X"].T
    return inputs["W"].T, inputs["DY"]


# ------------------------------------------------------------------------------------------------
# Variant choice (no simulation): matmul estimate + transform estimate
# ------------------------------------------------------------------------------------------------



def conv2d_choose(g: ConvGeom, cout: int, phase: str, dtype: str, cores: int,
                  ext: frozenset[str] | None = None) -> str:
    K, P, HW, kk = g.c * g.kk, g.ho * g.wo, g.h * g.w, g.kk

    def mms(bt: bool) -> tuple[list[Mm], int]:
        if phase == "fw":
            return [Mm(cout, P, K, "W", "B", "Y", bt)], K * P
        if phase == "wg":
            return [Mm(cout, K, P, "DY", "B", "DW", bt)], K * P
        return [Mm(g.c, HW, cout * kk, "WBT", "G", "DX", bt)], cout * kk * HW + cout * K
    cost = {f: _estimate(*mms(f == "abt"), dtype, cores, ext) for f in FORMS}
    for name, v in EXTRA_VARIANTS[phase].items():
        if v.when(g):
            cost[name] = v.estimate(g, cout, dtype, name, cores, ext)
    return min(cost, key=lambda name: cost[name])


def pointwise_choose(cin: int, cout: int, P: int, phase: str, dtype: str, cores: int,
                     ext: frozenset[str] | None = None) -> str:
    def cost(bt: bool) -> float:
        if phase == "fw":
            return _estimate([Mm(cout, P, cin, "W", "X", "Y", bt)], cin * P if bt else 0, dtype, cores, ext)
        if phase == "wg":
            return _estimate([Mm(cout, cin, P, "DY", "X", "DW", bt)], 0 if bt else cin * P, dtype, cores, ext)
        return _estimate([Mm(cin, P, cout, "WT", "DY", "DX", bt)], cin * cout + (cout * P if bt else 0), dtype,
                         cores, ext)
    return min(FORMS, key=lambda f: cost(f == "abt"))


# ------------------------------------------------------------------------------------------------
# Registry
# ------------------------------------------------------------------------------------------------

def _rand(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    return random_tensor(rng, shape, dtype)


_CONV_PARAMS = (Param("ci", 8, "input channels"), Param("co", 8, "output channels"), Param("h", 8, "input rows"),
                Param("w", 8, "input columns"), Param("kh", 3, "kernel rows"), Param("kw", 3, "kernel columns"),
                Param("s", 1, "stride (both axes)"), Param("p", 1, "padding (all sides)", min=0))


def conv_geom(shape: Mapping[str, int]) -> ConvGeom:
    p, s = shape["p"], shape["s"]
    return ConvGeom(shape["ci"], shape["h"], shape["w"], shape["kh"], shape["kw"], s, s, p, p, p, p)


def conv2d_inputs(shape: Mapping[str, int], phase: str, dtype: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    g, co = conv_geom(shape), shape["co"]
    K, P = g.c * g.kk, g.ho * g.wo
    if phase == "fw":
        return {"X": _rand(rng, (g.c, g.h, g.w), dtype), "W": _rand(rng, (co, K), dtype)}
    if phase == "wg":
        return {"X": _rand(rng, (g.c, g.h, g.w), dtype), "DY": _rand(rng, (co, P), dtype)}
    return {"W": _rand(rng, (co, K), dtype), "DY": _rand(rng, (co, P), dtype)}


def conv2d_check(inputs, outputs, shape, dtype, variant, phase) -> Check:
    return conv2d_geom_check(inputs, outputs, conv_geom(shape), shape["co"], phase, dtype, variant)


def conv2d_geom_check(inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray], g: ConvGeom,
                      co: int, phase: str, dtype: str, variant: str) -> Check:
    """The check of a Conv2D phase program of any geometry (asymmetric padding included)."""
    extra = EXTRA_VARIANTS[phase].get(variant)
    if extra is not None:
        return extra.check(inputs, outputs, g, co, dtype, variant)
    a, b = conv2d_operands(phase, inputs, g, co)
    out = outputs[{"fw": "Y", "wg": "DW", "ig": "DX"}[phase]]
    return matmul_check(a, b, out, dtype, variant, _form(variant)[0] == "abt")


def conv2d_macs(shape: Mapping[str, int]) -> int:
    g = conv_geom(shape)
    return shape["co"] * g.c * g.kk * g.ho * g.wo


def _register_conv2d(phase: str) -> None:
    register(KernelDef(
        name=f"conv2d_{phase}",
        description={"fw": "Conv2D forward: Y = conv(X, W) as im2col + matmul",
                     "wg": "Conv2D weight gradient: dW = dY · im2row(X)",
                     "ig": "Conv2D input gradient: dX = flip(W)ᵀ · im2col(dilated, padded dY)"}[phase],
        dtypes=FLOAT_DTYPES, variants={d: LAYER_VARIANTS + tuple(EXTRA_VARIANTS[phase]) for d in FLOAT_DTYPES},
        params=_CONV_PARAMS,
        build=lambda shape, dtype, variant, cores: conv2d_program(
            conv_geom(shape), shape["co"], phase, dtype, variant, cores),
        inputs=lambda shape, dtype, rng: conv2d_inputs(shape, phase, dtype, rng),
        check=lambda i, o, shape, dtype, variant: conv2d_check(i, o, shape, dtype, variant, phase),
        macs=conv2d_macs,
        choose=lambda shape, dtype, cores: conv2d_choose(conv_geom(shape), shape["co"], phase, dtype, cores),
        variant_help={"ab": "im2col + A·B (FP16: vfmac.r.h, FP16 accumulators)",
                      "abt": "im2row + A·Bᵀ (FP16: vfdotpex.s.h, FP32 accumulators)",
                      "ab_naive": "ab with the naive matmul", "abt_naive": "abt with the naive matmul",
                      **{name: v.help for name, v in EXTRA_VARIANTS[phase].items()}},
    ))


for _phase in PHASES:
    _register_conv2d(_phase)

_PW_PARAMS = (Param("ci", 16, "input channels"), Param("co", 16, "output channels"), Param("h", 8, "rows"),
              Param("w", 8, "columns"))


def pointwise_inputs(shape, phase, dtype, rng):
    ci, co, P = shape["ci"], shape["co"], shape["h"] * shape["w"]
    if phase == "fw":
        return {"X": _rand(rng, (ci, P), dtype), "W": _rand(rng, (co, ci), dtype)}
    if phase == "wg":
        return {"X": _rand(rng, (ci, P), dtype), "DY": _rand(rng, (co, P), dtype)}
    return {"W": _rand(rng, (co, ci), dtype), "DY": _rand(rng, (co, P), dtype)}


def pointwise_check(inputs, outputs, shape, dtype, variant, phase) -> Check:
    a, b = pointwise_operands(phase, inputs)
    out = outputs[{"fw": "Y", "wg": "DW", "ig": "DX"}[phase]]
    if variant == "trainlib":
        return tl.tl_matmul_check(a, b, out, dtype, tl.TL_PW_FORMS[phase] == "abt")
    return matmul_check(a, b, out, dtype, variant, _form(variant)[0] == "abt")


def _register_pointwise(phase: str) -> None:
    register(KernelDef(
        name=f"pointwise_{phase}",
        description={"fw": "PointWise (1x1) forward: Y = W · X",
                     "wg": "PointWise weight gradient: dW = dY · Xᵀ",
                     "ig": "PointWise input gradient: dX = Wᵀ · dY"}[phase],
        dtypes=FLOAT_DTYPES, variants={d: LAYER_VARIANTS + ("trainlib",) for d in FLOAT_DTYPES},
        params=_PW_PARAMS,
        build=lambda shape, dtype, variant, cores: pointwise_program(
            shape["ci"], shape["co"], shape["h"], shape["w"], phase, dtype, variant, cores),
        inputs=lambda shape, dtype, rng: pointwise_inputs(shape, phase, dtype, rng),
        check=lambda i, o, shape, dtype, variant: pointwise_check(i, o, shape, dtype, variant, phase),
        macs=lambda shape: shape["ci"] * shape["co"] * shape["h"] * shape["w"],
        choose=lambda shape, dtype, cores: pointwise_choose(
            shape["ci"], shape["co"], shape["h"] * shape["w"], phase, dtype, cores),
        variant_help={"ab": "A·B (transposes where the layout needs them)", "abt": "A·Bᵀ",
                      "ab_naive": "ab with the naive matmul", "abt_naive": "abt with the naive matmul",
                      "trainlib": tl.TL_PW_HELP},
    ))


for _phase in PHASES:
    _register_pointwise(_phase)


# ------------------------------------------------------------------------------------------------
# DepthWise (one Kh x Kw filter per channel; no channel reduction, so direct loops, no matmul)
# ------------------------------------------------------------------------------------------------
#
# fw: XP = X in its zero border (a parallel gather step; skipped without padding), barrier, then
#     y[c, oh, ow] = sum_k w[c, k] * XP[c, oh*sh + kh, ow*sw + kw]: work split over output rows
#     (c, oh); the channel's Kh*Kw weights sit in f registers; per output Kh*Kw loads and
#     multiply-accumulates in a hardware loop over ow.
# ig: D = dY dilated by the stride in a border of Kh-1-pt / Kw-1-pl (H + Kh - 1 rows), barrier,
#     then the same stride-1 loop with the flipped filter: dx[c, i, j] = sum_k w[c, KK-1-k] * D[c, i+kh, j+kw].
# wg: XP as in fw, barrier, then per channel (split over the cores) Kh*Kw accumulators in f
#     registers; per output pixel one dy load, Kh*Kw loads of XP and Kh*Kw multiply-accumulates.
# FP32: fmul.s / fmadd.s. FP16 `direct`: FP16 operands, FP32 accumulators (fmulex.s.h /
# fmacex.s.h, one rounding each), one fcvt.h.s at the store. FP16 `simd` (stride 1): fw and ig
# compute outputs ow, ow+1 with one vfmac.r.h per tap (FP16 accumulators, one rounding per lane
# and tap; the weight broadcast from lane 0): the input pair is an aligned word of the border copy
# (even tap column) or of a second copy shifted left by one element (odd tap column), rows padded
# to an even length with a spare column; odd-length output rows store the lanes separately. wg adds
# two pixels per vfdotpex.s.h (FP32 accumulators), dy rows padded to an even length with a zero
# (the zero partner adds an exact 0). Larger strides: simd fw falls back to scalar fmadd.h (same
# FP16 rounding), simd wg to the direct loop. The products run in row-major tap order (fw, ig) or
# pixel order (wg), so each output is a dot product the matmul checks cover exactly.

DW_MAX_TAPS = 28        # taps (fw, ig: weights in f4..f31; wg: accumulators in f3..f30)


def _dw_ops(mode: str) -> dict[str, str]:
    """Instructions of a depthwise accumulation mode: fp32; <half>_acc32 (16-bit operands, FP32
    accumulator, the `direct` variant); <half>_acc16 and <half>_simd (16-bit accumulator: scalar
    fmadd.<h|ah>, or vfmac.r.<h|ah> on two adjacent outputs; the `simd` variant), <half> = fp16 or
    bf16 ("simd" alone is fp16). bfloat16 has no fmulex/fmacex: bf16_acc32 widens every loaded
    operand with the exact fcvt.s.ah ("widen") and multiplies in FP32 (the same single rounding)."""
    if mode == "fp32":
        return {"ld": "flw", "st": "fsw", "first": "fmul.s", "mac": "fmadd.s"}
    half, _, kind = (mode if "_" in mode else "fp16_simd").partition("_")
    s = DTYPES[half].suffix
    if kind == "acc32" and half == "bf16":
        return {"ld": "flh", "st": "fsh", "first": "fmul.s", "mac": "fmadd.s", "widen": "fcvt.s.ah"}
    return {"acc32": {"ld": "flh", "st": "fsh", "first": f"fmulex.s.{s}", "mac": f"fmacex.s.{s}"},
            "acc16": {"ld": "flh", "st": "fsh", "first": f"fmul.{s}", "mac": f"fmadd.{s}"},
            "simd": {"ld": "flw", "st": "fsw", "first": f"vfmul.r.{s}", "mac": f"vfmac.r.{s}"}}[kind]


def _dw_mode(dtype: str, kind: str) -> str:
    """The _dw_ops mode of a dtype: kind acc32 | acc16 | simd (FP32 has one mode)."""
    return "fp32" if dtype == "fp32" else f"{dtype}_{kind}"


def _tap_pointers(a: Asm, offsets: list[int], base: str, regs: list[str]) -> list[tuple[str, int]]:
    """(register, displacement) per offset: extra pointers for offsets beyond the 12-bit range."""
    bases: list[int] = [0]
    for off in sorted(offsets):
        if off - bases[-1] > 2047:
            bases.append(off)
    if len(bases) > len(regs) + 1:
        raise ValueError("depthwise filter rows too far apart")
    names = [base] + regs[:len(bases) - 1]
    for reg, b0 in zip(names[1:], bases[1:]):
        a.addi(reg, base, b0)
    out = []
    for off in offsets:
        i = max(i for i, b0 in enumerate(bases) if b0 <= off)
        out.append((names[i], off - bases[i]))
    return out


def _dw_direct(a: Asm, c: int, ho: int, wo: int, kh: int, kw: int, src: str, src_h: int, src_w: int,
               sh: int, sw: int, dst: str, wts: str, mode: str, flip: bool, cores: int,
               shifted: str | None = None) -> None:
    """dst[c, oh, ow] = sum_k w[c, k or KK-1-k] * src[c, oh*sh + i, ow*sw + j] for the calling
    core's output rows (c, oh). Mode `simd` (sw = 1) computes outputs ow, ow+1 together: the pair
    src[.., ow+j], src[.., ow+1+j] is one aligned word of `src` for even j and of `shifted`
    (src moved left by one element) for odd j; src_w must be even and leave one spare column."""
    op = _dw_ops(mode)
    es, kk = (4 if mode == "fp32" else 2), kh * kw
    simd = mode.endswith("simd")
    widen = op.get("widen")
    if kk > DW_MAX_TAPS:
        raise ValueError(f"depthwise kernel of {kk} taps; at most {DW_MAX_TAPS}")
    if simd and (sw != 1 or src_w % 2 or shifted is None):
        raise ValueError("the simd depthwise loop needs stride 1, an even source row and the shifted copy")
    done, loop, same = a.fresh("dw_done"), a.fresh("dw_row"), a.fresh("dw_same")
    core_range(a, c * ho, cores)
    a.li("t0", ho)
    a("divu", "s5", "s0", "t0")              # channel of the first row
    a("remu", "s6", "s0", "t0")              # its oh
    a("sub", "s2", "s1", "s0")
    a("blez", "s2", done)
    a.li("t0", src_h * src_w * es)
    a("mul", "t1", "s5", "t0")
    a.li("t0", sh * src_w * es)
    a("mul", "t2", "s6", "t0")
    a("add", "t1", "t1", "t2")
    a.li("s3", src)
    a("add", "s3", "s3", "t1")               # s3 = &src[c, oh*sh, 0]
    if simd:
        a.li("s8", shifted)
        a("add", "s8", "s8", "t1")           # s8 = &shifted[c, oh*sh, 0]
    a.li("t0", wo * es)
    a("mul", "t1", "s0", "t0")
    a.li("s4", dst)
    a("add", "s4", "s4", "t1")               # s4 = &dst[c, oh, 0]
    a.li("t0", kk * es)
    a("mul", "t1", "s5", "t0")
    a.li("s7", wts)
    a("add", "s7", "s7", "t1")               # s7 = &w[c, 0]
    a.label(loop)
    wregs = F_REGS[4:4 + kk]
    wld = "flh" if mode != "fp32" else "flw"
    for k in range(kk):
        a(wld, wregs[k], f"{(kk - 1 - k if flip else k) * es}(s7)")
        if widen:
            a(widen, wregs[k], wregs[k])
    a("mv", "a1", "s3")
    a("mv", "a2", "s4")
    offs = [(i * src_w + j) * es for i in range(kh) for j in range(kw)]
    if simd:
        a("mv", "a5", "s8")
        even = _tap_pointers(a, [o for o, j in zip(offs, [j for _ in range(kh) for j in range(kw)]) if j % 2 == 0],
                             "a1", ["a3", "a4"])
        odd = _tap_pointers(a, [o - es for o, j in zip(offs, [j for _ in range(kh) for j in range(kw)]) if j % 2],
                            "a5", ["a6", "a7"])
        ev, od = iter(even), iter(odd)
        taps = [next(ev) if j % 2 == 0 else next(od) for _ in range(kh) for j in range(kw)]
    else:
        taps = _tap_pointers(a, offs, "a1", ["a3", "a4", "a5", "a6", "a7"])
    ptrs = sorted({r for r, _ in taps})
    step = 2 * es if simd else sw * es        # source bytes per output (pair)

    def output(lanes: int = 2) -> None:
        x = ["f0", "f1"]
        acc = "f2"

        def ld(k: int) -> None:
            a(op["ld"], x[k % 2], f"{taps[k][1]}({taps[k][0]})")
            if widen:
                a(widen, x[k % 2], x[k % 2])
        ld(0)
        if kk > 1:
            ld(1)
        for k in range(kk):
            if k == 0:
                a(op["first"], acc, x[0], wregs[0])
            elif op["mac"] in ("fmadd.s", "fmadd.h", "fmadd.ah"):
                a(op["mac"], acc, x[k % 2], wregs[k], acc)
            else:
                a(op["mac"], acc, x[k % 2], wregs[k])
            if k + 2 < kk:
                ld(k + 2)
        if mode.endswith("acc32"):
            a(f"fcvt.{DTYPES[mode.partition('_')[0]].suffix}.s", "f3", acc)
            acc = "f3"
        for p in ptrs:
            a.addi(p, p, step)
        if not simd:
            a(op["st"], acc, "0(a2)")
            a("addi", "a2", "a2", es)
        elif wo % 2 == 0:
            a("fsw", acc, "0(a2)")
            a("addi", "a2", "a2", 4)
        else:        # rows of odd length: the pair may start at an odd half, store the lanes apart
            a("fsh", acc, "0(a2)")
            if lanes == 2:
                a("fmv.x.w", "t0", acc)
                a("srli", "t0", "t0", 16)
                a("sh", "t0", "2(a2)")
            a("addi", "a2", "a2", 2 * lanes)
    if simd:
        a.repeat(wo // 2, output, 2 * kk + 4, inline_max=0)
        if wo % 2:
            output(lanes=1)
    else:
        a.repeat(wo, output, 2 * kk + 3, inline_max=0)
    a("addi", "s6", "s6", 1)
    a.addi("s3", "s3", sh * src_w * es)
    if simd:
        a.addi("s8", "s8", sh * src_w * es)
    a.addi("s4", "s4", wo * es)
    a.li("t0", ho)
    a("bne", "s6", "t0", same)
    a.li("s6", 0)
    a.addi("s3", "s3", (src_h - ho * sh) * src_w * es)
    if simd:
        a.addi("s8", "s8", (src_h - ho * sh) * src_w * es)
    a.addi("s7", "s7", kk * es)
    a.label(same)
    a("addi", "s2", "s2", -1)
    a("bnez", "s2", loop)
    a.label(done)


def _dw_wgrad(a: Asm, c: int, ho: int, wo: int, kh: int, kw: int, src: str, src_h: int, src_w: int,
              sh: int, sw: int, dy: str, dw: str, dtype: str, cores: int, shifted: str | None = None,
              dy_w: int | None = None, mode: str | None = None) -> None:
    """dw[c, k] = sum_{oh, ow} dy[c, oh, ow] * src[c, oh*sh + i, ow*sw + j], channels split.
    With `shifted` (FP16, stride 1): two pixels per vfdotpex.s.h (FP32 accumulators), dy read
    from rows of dy_w (even) elements whose padding is zero, the src pairs as in _dw_direct.
    `mode` (_dw_ops) of the scalar loop: fp32, fp16_acc32 (the FP16 default) or fp16_acc16
    (FP16 accumulators, fmadd.h: no Xfaux instruction)."""
    es, kk = ESIZE[dtype], kh * kw
    simd = shifted is not None
    mode = mode or _dw_mode(dtype, "acc32")
    op = _dw_ops(mode)
    widen = op.get("widen")
    sfx = DTYPES[dtype].suffix
    if kk > DW_MAX_TAPS:
        raise ValueError(f"depthwise kernel of {kk} taps; at most {DW_MAX_TAPS}")
    dy_w = dy_w or wo
    if simd and (sw != 1 or src_w % 2 or dy_w % 2):
        raise ValueError("the simd depthwise weight gradient needs stride 1 and even rows")
    done, loop = a.fresh("dww_done"), a.fresh("dww_chan")
    core_range(a, c, cores)
    a("sub", "s2", "s1", "s0")
    a("blez", "s2", done)
    a.li("t0", src_h * src_w * es)
    a("mul", "t1", "s0", "t0")
    a.li("s3", src)
    a("add", "s3", "s3", "t1")
    if simd:
        a.li("s8", shifted)
        a("add", "s8", "s8", "t1")
    a.li("t0", ho * dy_w * es)
    a("mul", "t1", "s0", "t0")
    a.li("s4", dy)
    a("add", "s4", "s4", "t1")
    a.li("t0", kk * es)
    a("mul", "t1", "s0", "t0")
    a.li("s7", dw)
    a("add", "s7", "s7", "t1")
    accs = F_REGS[3:3 + kk]
    a.label(loop)
    for r in accs:          # a 16-bit accumulator is a NaN-boxed half
        a("fmv.h.x" if mode.endswith("_acc16") else "fmv.w.x", r, "zero")
    a("mv", "a1", "s3")
    a("mv", "a2", "s4")
    offs = [(i * src_w + j) * es for i in range(kh) for j in range(kw)]
    cols = [j for _ in range(kh) for j in range(kw)]
    if simd:
        a("mv", "a5", "s8")
        ev = iter(_tap_pointers(a, [o for o, j in zip(offs, cols) if j % 2 == 0], "a1", ["a3", "a4"]))
        od = iter(_tap_pointers(a, [o - es for o, j in zip(offs, cols) if j % 2], "a5", ["a6", "a7"]))
        taps = [next(ev) if j % 2 == 0 else next(od) for j in cols]
    else:
        taps = _tap_pointers(a, offs, "a1", ["a3", "a4", "a5", "a6", "a7"])
    ptrs = sorted({r for r, _ in taps})
    if simd:
        mac = lambda acc, xr: a(f"vfdotpex.s.{sfx}", acc, xr, "f2")
    elif op["mac"].startswith("fmadd."):
        mac = lambda acc, xr: a(op["mac"], acc, xr, "f2", acc)
    else:
        mac = lambda acc, xr: a(op["mac"], acc, xr, "f2")
    ld_x = "flw" if simd else op["ld"]
    step = 2 * es if simd else sw * es       # source bytes per pixel (pair)

    def pixel() -> None:
        x = ["f0", "f1"]
        a("flw" if simd else op["ld"], "f2", "0(a2)")
        if widen and not simd:
            a(widen, "f2", "f2")

        def ld(k: int) -> None:
            a(ld_x, x[k % 2], f"{taps[k][1]}({taps[k][0]})")
            if widen and not simd:
                a(widen, x[k % 2], x[k % 2])
        ld(0)
        if kk > 1:
            ld(1)
        for k in range(kk):
            mac(accs[k], x[k % 2])
            if k + 2 < kk:
                ld(k + 2)
        for p in ptrs:
            a.addi(p, p, step)
        a("addi", "a2", "a2", 2 * es if simd else es)

    per_row = dy_w // 2 if simd else wo

    def row() -> None:
        a.repeat(per_row, pixel, 2 * kk + 3, level=0, inline_max=0)
        for p in ptrs:
            a.addi(p, p, (sh * src_w - per_row * (step // es)) * es)
        if dy_w != wo and not simd:
            a.addi("a2", "a2", (dy_w - wo) * es)
    if ho > 1:
        with a.hwloop(1, ho):
            row()
    else:
        row()
    for k, r in enumerate(accs):
        if mode.endswith("_acc32"):
            a(f"fcvt.{sfx}.s", r, r)
        a(op["st"], r, f"{k * es}(s7)")
    a.addi("s3", "s3", src_h * src_w * es)
    if simd:
        a.addi("s8", "s8", src_h * src_w * es)
    a.addi("s4", "s4", ho * dy_w * es)
    a.addi("s7", "s7", kk * es)
    a("addi", "s2", "s2", -1)
    a("bnez", "s2", loop)
    a.label(done)


F_REGS = [f"f{i}" for i in range(32)]


def _even(n: int) -> int:
    return n + n % 2


# (in the order a training step tries them when the ISA profile lacks the default's extensions)
DW_VARIANTS: dict[str, tuple[str, ...]] = {"fp32": ("direct", "trainlib"),
                                           "fp16": ("simd", "simd16", "direct", "trainlib"),
                                           "bf16": ("simd", "direct", "trainlib")}


def depthwise_program(g: ConvGeom, phase: str, dtype: str, cores: int, variant: str = "direct") -> KernelProgram:
    """One phase of a DepthWise layer (g.c channels in and out, one filter per channel).
    Variants: `direct` (FP32; FP16 with FP32 accumulators) and, FP16 only, `simd` (FP16
    accumulators; fw with stride 1 and ig compute two outputs per vfmac.r.h from a border copy and
    a copy shifted by one element; fw with a larger stride uses scalar fmadd.h) and `simd16` (as
    `simd`, but wg accumulates in FP16 with scalar fmadd.h: no Xfaux instruction in any phase,
    for cores without the dot products)."""
    g.check()
    if variant == "trainlib":
        return dwtl.tl_dw_program(g, phase, dtype, cores)
    c, kk = g.c, g.kk
    if variant not in DW_VARIANTS[dtype]:
        raise ValueError(f"depthwise {dtype} has no variant {variant!r} "
                         f"(variants: {', '.join(DW_VARIANTS[dtype])})")
    simd = variant in ("simd", "simd16")
    acc16_wg = variant == "simd16" and phase == "wg"
    scalar_mode = _dw_mode(dtype, "acc16" if simd else "acc32")
    pb = PhaseBuilder(f"depthwise_{phase}", dtype, cores)
    padded = (g.pt, g.pb, g.pl, g.pr) != (0, 0, 0, 0)
    hp = g.h + g.pt + g.pb
    if phase in ("fw", "wg"):
        pb.tensor("X", (c, g.h, g.w), padded=False)
        pair = simd and g.sw == 1 and not acc16_wg
        if pair:            # even rows with a spare column, and the copy shifted left by one
            wp = _even(g.w + g.pl + g.pr + 1)
            pb.tensor("XP", (c, hp * wp), "scratch", padded=False, bank=5)
            pb.tensor("XS", (c, hp * wp), "scratch", padded=False, bank=13)
            a = pb.code()
            emit_gather(a, pad_gather(c, g.h, g.w, dtype, "X", "XP", g.pt, g.pb, g.pl, wp - g.w - g.pl, vec=True), cores)
            a("core_id", "a0")
            emit_gather(a, pad_gather(c, g.h, g.w, dtype, "X", "XS", g.pt, g.pb, g.pl - 1, wp - g.w - g.pl + 1,
                                      vec=True), cores)
            if phase == "wg" and g.wo % 2:      # dy rows padded to an even length with a zero
                pb.tensor("DYP", (c, g.ho * (g.wo + 1)), "scratch", padded=False, bank=3)
                a("core_id", "a0")
                emit_gather(a, pad_gather(c, g.ho, g.wo, dtype, "DY", "DYP", 0, 0, 0, 1, vec=True), cores)
            pb.sync()
            src, src_h, src_w = "XP", hp, wp
        elif padded:
            wp = g.w + g.pl + g.pr
            pb.tensor("XP", (c, hp * wp), "scratch", padded=False, bank=5)
            emit_gather(pb.code(), pad_gather(c, g.h, g.w, dtype, "X", "XP", g.pt, g.pb, g.pl, g.pr,
                                              vec=is_half(dtype)), cores)
            pb.sync()
            src, src_h, src_w = "XP", hp, wp
        else:
            src, src_h, src_w = "X", g.h, g.w
        if phase == "fw":
            pb.tensor("W", (c, kk), padded=False, bank=9)
            pb.tensor("Y", (c, g.ho * g.wo), "output", padded=False, bank=12)
            _dw_direct(pb.code(), c, g.ho, g.wo, g.kh, g.kw, src, src_h, src_w, g.sh, g.sw, "Y", "W",
                       _dw_mode(dtype, "simd") if pair else scalar_mode, False, cores, "XS" if pair else None)
        else:
            pb.tensor("DY", (c, g.ho * g.wo), padded=False, bank=9)
            pb.tensor("DW", (c, kk), "output", padded=False, bank=12)
            dys, dy_w = ("DYP", g.wo + 1) if pair and g.wo % 2 else ("DY", g.wo)
            _dw_wgrad(pb.code(), c, g.ho, g.wo, g.kh, g.kw, src, src_h, src_w, g.sh, g.sw, dys, "DW", dtype, cores,
                      "XS" if pair else None, dy_w, _dw_mode(dtype, "acc16") if acc16_wg else None)
    elif phase == "ig":
        top, left = g.kh - 1 - g.pt, g.kw - 1 - g.pl
        dh = g.h + g.kh - 1
        dw_ = _even(g.w + g.kw) if simd else g.w + g.kw - 1
        bottom = dh - top - ((g.ho - 1) * g.sh + 1)
        right = dw_ - left - ((g.wo - 1) * g.sw + 1)
        pb.tensor("W", (c, kk), padded=False, bank=9)
        pb.tensor("DY", (c, g.ho * g.wo), padded=False)
        pb.tensor("D", (c, dh * dw_), "scratch", padded=False, bank=5)
        pb.tensor("DX", (c, g.h * g.w), "output", padded=False, bank=12)
        a = pb.code()
        emit_gather(a, pad_gather(c, g.ho, g.wo, dtype, "DY", "D", top, bottom, left, right, g.sh, g.sw,
                                  vec=is_half(dtype)), cores)
        if simd:
            pb.tensor("DS", (c, dh * dw_), "scratch", padded=False, bank=13)
            a("core_id", "a0")
            emit_gather(a, pad_gather(c, g.ho, g.wo, dtype, "DY", "DS", top, bottom, left - 1, right + 1, g.sh, g.sw,
                                      vec=True), cores)
        pb.sync()
        _dw_direct(pb.code(), c, g.h, g.w, g.kh, g.kw, "D", dh, dw_, 1, 1, "DX", "W",
                   _dw_mode(dtype, "simd") if simd else scalar_mode, True, cores, "DS" if simd else None)
    else:
        raise ValueError(f"phase must be one of {PHASES}")
    prog = pb.program()
    prog.meta.update(geom=g, variant=variant)
    return prog


def depthwise_check(inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray], g: ConvGeom,
                    phase: str, dtype: str, variant: str = "direct") -> Check:
    """Per channel, the output is a dot-product matrix (1 x KK · KK x P, or 1 x P · P x KK for wg)
    in the kernel's product order: checked with the matmul rule of the same FMA sequence (FP32:
    gamma bound; FP16 `direct` and wg: FP32-accumulator emulation (fmacex.s.h); FP16 `simd` fw/ig:
    FP16-accumulator emulation (vfmac.r.h / fmadd.h per lane), bit-exact). `trainlib`: dw_trainlib."""
    if variant == "trainlib":
        return dwtl.tl_dw_check(inputs, outputs, g, phase, dtype)
    one = ConvGeom(1, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.pt, g.pb, g.pl, g.pr)
    half = dtype if is_half(dtype) else "fp16"
    naive16 = mm16.variants(False, half)["naive"]
    if variant == "simd16" or (variant == "simd" and phase != "wg"):
        naive16 = family_variant(half, False, False)
    pairs_wg = variant == "simd" and phase == "wg" and g.sw == 1
    worst: Check | None = None
    for ch in range(g.c):
        if phase == "fw":
            a = inputs["W"][ch:ch + 1]
            b = im2col_ref(inputs["X"][ch:ch + 1], one, "col")
            out = outputs["Y"][ch:ch + 1]
        elif phase == "wg":
            a = inputs["DY"][ch:ch + 1]
            b = im2col_ref(inputs["X"][ch:ch + 1], one, "row")
            out = outputs["DW"][ch:ch + 1]
            if pairs_wg:      # vfdotpex pairs along each row; an odd row ends with a zero pair partner
                wo2 = _even(g.wo)
                a = np.zeros((1, g.ho, wo2), a.dtype)
                a[0, :, :g.wo] = inputs["DY"][ch].reshape(g.ho, g.wo)
                bb = np.zeros((g.ho, wo2, b.shape[1]), b.dtype)
                bb[:, :g.wo] = b.reshape(g.ho, g.wo, -1)
                a, b = a.reshape(1, -1), bb.reshape(-1, b.shape[1])
                chk = mm16._check_fp16(a, b, out, family_variant(half, True, False))
                if not chk.ok:
                    chk.detail = f"channel {ch}: {chk.detail}"
                    return chk
                worst = chk if worst is None or chk.max_error > worst.max_error else worst
                continue
        else:
            a = inputs["W"][ch:ch + 1, ::-1]
            b = im2col_grad_ref(inputs["DY"][ch:ch + 1].reshape(1, g.ho, g.wo), one, "col")
            out = outputs["DX"][ch:ch + 1]
        chk = mm16._check_fp32(a, b, out) if dtype == "fp32" else mm16._check_fp16(a, b, out, naive16)
        if not chk.ok:
            chk.detail = f"channel {ch}: {chk.detail}"
            return chk
        if worst is None or chk.max_error > worst.max_error:
            worst = chk
    return worst


def depthwise_inputs(shape: Mapping[str, int], phase: str, dtype: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    g = dw_geom(shape)
    if phase == "fw":
        return {"X": _rand(rng, (g.c, g.h, g.w), dtype), "W": _rand(rng, (g.c, g.kk), dtype)}
    if phase == "wg":
        return {"X": _rand(rng, (g.c, g.h, g.w), dtype), "DY": _rand(rng, (g.c, g.ho * g.wo), dtype)}
    return {"W": _rand(rng, (g.c, g.kk), dtype), "DY": _rand(rng, (g.c, g.ho * g.wo), dtype)}


def dw_geom(shape: Mapping[str, int]) -> ConvGeom:
    p, s = shape["p"], shape["s"]
    return ConvGeom(shape["c"], shape["h"], shape["w"], shape["kh"], shape["kw"], s, s, p, p, p, p)


def _register_depthwise(phase: str) -> None:
    register(KernelDef(
        name=f"depthwise_{phase}",
        description={"fw": "DepthWise forward (direct loops over a zero-padded copy)",
                     "wg": "DepthWise weight gradient (per-channel accumulators)",
                     "ig": "DepthWise input gradient (flipped filter over the dilated, padded dY)"}[phase],
        dtypes=FLOAT_DTYPES, variants=DW_VARIANTS,
        params=(Param("c", 8, "channels"), Param("h", 8, "input rows"), Param("w", 8, "input columns"),
                Param("kh", 3, "kernel rows"), Param("kw", 3, "kernel columns"), Param("s", 1, "stride"),
                Param("p", 1, "padding (all sides)", min=0)),
        build=lambda shape, dtype, variant, cores: depthwise_program(dw_geom(shape), phase, dtype, cores, variant),
        inputs=lambda shape, dtype, rng: depthwise_inputs(shape, phase, dtype, rng),
        check=lambda i, o, shape, dtype, variant: depthwise_check(i, o, dw_geom(shape), phase, dtype, variant),
        macs=lambda shape: shape["c"] * shape["kh"] * shape["kw"] * dw_geom(shape).ho * dw_geom(shape).wo,
        choose=lambda shape, dtype, cores: "simd" if is_half(dtype) and shape["s"] == 1 and shape["w"] >= 4
        else "direct",
        variant_help={"direct": "direct loops; FP16 with FP32 accumulators (fmacex.s.h; bf16: fcvt.s.ah + fmadd.s)",
                      "simd": "stride 1: fw/ig two outputs per vfmac.r.h (FP16 accumulators), "
                              "wg two pixels per vfdotpex.s.h (FP32); larger strides: scalar fmadd.h (fw)",
                      "simd16": "as simd, but wg with FP16 accumulators (scalar fmadd.h): no Xfaux "
                                "instruction (core.extensions = pulp)",
                      "trainlib": dwtl.DW_TL_HELP},
    ))


for _phase in PHASES:
    _register_depthwise(_phase)
