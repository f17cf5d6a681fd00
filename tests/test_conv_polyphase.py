"""The Conv2D input gradient by phase sub-convolutions (kernels_asm/kernels/conv_polyphase.py).

- numpy: the phases' operands, multiplied and scattered, are the direct convolution gradient for
  a wide set of geometries (strides 1-4, unequal strides, kernels 1-5, asymmetric paddings, sizes
  smaller than the stride, phases without taps);
- on the cluster: every variant, both dtypes, strides 2 and 3, kernels 1/3/5, paddings 0/1/2,
  odd and even sizes, channel counts that are not multiples of the SIMD width: the registry's check
  (each phase's product by the matmul rule, zero phases exactly zero) and, independently, the
  float64 direct gradient within the FMA dot-product bound of the dtype;
- both engines: identical cycles, counters and output bits for stride-2 and stride-3 programs;
- the layer's variant choice takes a phase variant for every stride > 1 layer of ResNet8 and DS-CNN
  and an im2col form for stride 1; and the phase variant is faster on a stride-2 shape.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from mcusim.kernels_asm.kernels import conv_polyphase as poly
from mcusim.kernels_asm.kernels import registry
from mcusim.kernels_asm.kernels.harness import run_kernel
from mcusim.kernels_asm.kernels.layers_conv import conv2d_choose, conv2d_program
from mcusim.kernels_asm.kernels.transforms import ConvGeom, random_tensor
from mcusim.simulator.cengine import binding
from mcusim.simulator.config import load_config
from mcusim.workloads import model, networks

CFG = load_config()
VARIANTS = tuple(poly.POLY_VARIANTS)


def _direct_input_grad(dy: np.ndarray, w: np.ndarray, g: ConvGeom) -> tuple[np.ndarray, np.ndarray]:
    """dX (float64) by pushing every output gradient back through the forward formula, and
    sum |w||dy| per element (for the error bound)."""
    dx, mag = np.zeros((g.c, g.h, g.w)), np.zeros((g.c, g.h, g.w))
    for oh, ow, i, j in itertools.product(range(g.ho), range(g.wo), range(g.kh), range(g.kw)):
        ih, iw = oh * g.sh - g.pt + i, ow * g.sw - g.pl + j
        if 0 <= ih < g.h and 0 <= iw < g.w:
            dx[:, ih, iw] += w[:, :, i, j].T @ dy[:, oh, ow]
            mag[:, ih, iw] += np.abs(w[:, :, i, j]).T @ np.abs(dy[:, oh, ow])
    return dx, mag


def _geoms() -> list[ConvGeom]:
    out = []
    for s, k, p in itertools.product((1, 2, 3, 4), (1, 2, 3, 5), (0, 1, 2)):
        for h, w in ((7, 6), (8, 9), (s, 1)):
            g = ConvGeom(2, h, w, k, k, s, s, p, p, p, p)
            if g.ho >= 1 and g.wo >= 1:
                out.append(g)
    out += [ConvGeom(2, 32, 32, 3, 3, 2, 2, 0, 1, 0, 1), ConvGeom(1, 49, 10, 10, 4, 2, 2, 4, 5, 1, 1),
            ConvGeom(3, 9, 8, 3, 2, 2, 3, 1, 0, 2, 1), ConvGeom(2, 5, 11, 4, 3, 3, 2, 0, 2, 1, 0)]
    return out


def test_phases_scatter_to_the_direct_gradient() -> None:
    """Pure numpy, every geometry of _geoms(): sum over phases of scatter(A_p · B_p) = dX."""
    rng = np.random.default_rng(0)
    for g in _geoms():
        co = 3
        w = rng.standard_normal((co, g.c, g.kh, g.kw))
        dy = rng.standard_normal((co, g.ho, g.wo))
        dx = np.full((g.c, g.h, g.w), np.nan)
        lay = poly.layout(g, co, "fp32", "poly_ab")
        assert sum(p.ntaps for p in lay.phases) == g.kk or g.h < g.sh or g.w < g.sw, g
        for p in lay.phases:
            part = dx[:, p.rows.r::g.sh, p.cols.r::g.sw]
            if p.ntaps:
                a, b = poly.phase_operands(p, w, dy, g)
                part[...] = (a @ b).reshape(part.shape)
            else:
                part[...] = 0.0
        ref, _ = _direct_input_grad(dy, w, g)
        np.testing.assert_allclose(dx, ref, atol=1e-12, err_msg=str(g))


# (ci, co, h, w, k, s, p): strides 2 and 3, kernels 1/3/5, paddings 0/1/2, odd and even sizes,
# channels off the SIMD width (odd), a 1x1 stride-2 (three phases without taps)
CLUSTER_SHAPES = [
    (3, 5, 7, 6, 3, 2, 1),
    (5, 3, 8, 9, 5, 2, 2),
    (2, 7, 9, 7, 3, 3, 0),
    (3, 4, 6, 8, 1, 2, 0),
    (1, 6, 5, 5, 5, 3, 2),
]


def _shape(t: tuple[int, ...]) -> dict[str, int]:
    return dict(zip(("ci", "co", "h", "w", "kh", "s", "p"), t)) | {"kw": t[4]}


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_cluster_against_the_rule_and_the_direct_gradient(variant: str, dtype: str) -> None:
    kdef = registry.get("conv2d_ig")
    for i, t in enumerate(CLUSTER_SHAPES):
        shape = _shape(t)
        cores = (8, 3, 1, 8, 5)[i]
        out = registry.run(kdef, shape, dtype, variant, cores, CFG, seed=i, engine="c")
        assert out.check.ok, f"{variant} {dtype} {shape}: {out.check.detail}"
        g = ConvGeom(t[0], t[2], t[3], t[4], t[4], t[5], t[5], t[6], t[6], t[6], t[6])
        inputs = kdef.inputs(out.shape, dtype, np.random.default_rng(i))
        w = inputs["W"].astype(np.float64).reshape(t[1], g.c, g.kh, g.kw)
        dy = inputs["DY"].astype(np.float64).reshape(t[1], g.ho, g.wo)
        ref, mag = _direct_input_grad(dy, w, g)
        k = t[1] * g.kk
        u = 2.0 ** -24 if dtype == "fp32" else 2.0 ** -11
        bound = (k + 1) * u / (1 - (k + 1) * u) * mag + 2.0 ** -24
        got = out.run.outputs["DX"].astype(np.float64).reshape(ref.shape)
        assert np.all(np.abs(got - ref) <= bound), (variant, dtype, shape, float(np.max(np.abs(got - ref) - bound)))


def test_phases_without_taps_are_written_with_zeros() -> None:
    """A 1x1 kernel with stride 2: three of four phases have no taps; their pixels of dX must be
    stored as zeros even when the buffer held something else (the step reuses TCDM buffers)."""
    g = ConvGeom(3, 6, 5, 1, 1, 2, 2, 0, 0, 0, 0)
    rng = np.random.default_rng(1)
    for dtype, variant in (("fp16", "polyt_ab"), ("fp32", "poly_abt")):
        prog = conv2d_program(g, 4, "ig", dtype, variant, 8)
        inputs = {"W": random_tensor(rng, (4, 3), dtype), "DY": random_tensor(rng, (4, g.ho * g.wo), dtype),
                  "DX": np.full((3, 30), 7.0, np.float32 if dtype == "fp32" else np.float16)}
        run = run_kernel(prog, inputs, 8, CFG, "c")
        assert poly.poly_check(inputs, run.outputs, g, 4, dtype, variant).ok
        dx = run.outputs["DX"].reshape(3, 6, 5)
        assert not np.any(dx[:, 1::2, :]) and not np.any(dx[:, :, 1::2])
        assert np.all(dx[:, ::2, ::2] != 0)


@pytest.mark.parametrize("t, variant, dtype", [((3, 5, 7, 6, 3, 2, 1), "polyt_ab", "fp16"),
                                               ((2, 3, 8, 7, 5, 3, 2), "poly_abt", "fp16"),
                                               ((3, 2, 6, 5, 3, 2, 0), "polyt_abt", "fp32")])
def test_both_engines_identical(t, variant, dtype) -> None:
    if binding.load() is None:
        pytest.fail("the compiled engine is not built: run `python simulator/cengine/build.py`")
    kdef = registry.get("conv2d_ig")
    shape = kdef.full_shape(_shape(t))
    prog = kdef.build(shape, dtype, variant, 4)
    inputs = kdef.inputs(shape, dtype, np.random.default_rng(5))
    py, c = (run_kernel(prog, inputs, 4, CFG, engine=e) for e in ("py", "c"))
    assert (py.cycles, py.instret, py.result.cycles) == (c.cycles, c.instret, c.result.cycles)
    assert py.per_core == c.per_core
    assert np.array_equal(py.outputs["DX"].view(np.uint8), c.outputs["DX"].view(np.uint8))
    assert kdef.check(inputs, c.outputs, shape, dtype, variant).ok


def _conv_layers(desc: dict) -> list[model.Layer]:
    return [lay for lay in model.build(desc).layers if lay.kind == "Conv2D"]


def test_choice_takes_the_phase_variants_for_strides_above_one() -> None:
    seen = 0
    for desc in (networks.resnet8(), networks.ds_cnn()):
        for lay in _conv_layers(desc):
            g = ConvGeom(*lay.conv_geom_args())
            for dtype in ("fp32", "fp16"):
                v = conv2d_choose(g, lay.out_shape[0], "ig", dtype, 8)
                if g.sh > 1:
                    seen += 1
                    assert v in poly.POLY_VARIANTS, (lay.name, dtype, v)
                else:
                    assert v in ("ab", "abt"), (lay.name, dtype, v)
    assert seen == 2 * 5        # ResNet8: two 3x3 and two 1x1 stride-2 convs; DS-CNN: its first conv


def test_phase_variant_is_faster_on_a_stride_two_shape() -> None:
    """Three of four MACs of the dilated im2col are zeros: the phase variant must be well ahead."""
    g = ConvGeom(8, 12, 12, 3, 3, 2, 2, 0, 1, 0, 1)
    rng = np.random.default_rng(2)
    for dtype in ("fp32", "fp16"):
        inputs = {"W": random_tensor(rng, (16, 72), dtype), "DY": random_tensor(rng, (16, 36), dtype)}
        best = conv2d_choose(g, 16, "ig", dtype, 8)
        new = run_kernel(conv2d_program(g, 16, "ig", dtype, best, 8), inputs, 8, CFG, "c").cycles
        old = min(run_kernel(conv2d_program(g, 16, "ig", dtype, f, 8), inputs, 8, CFG, "c").cycles
                  for f in ("ab", "abt"))
        assert new < 0.6 * old, (dtype, best, new, old)


def test_unknown_variant_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown polyphase variant"):
        poly.layout(ConvGeom(1, 4, 4, 3, 3, 2, 2), 1, "fp32", "poly_xy")
