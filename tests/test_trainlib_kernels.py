"""PULP-TrainLib-style kernel variants: matmul_bt `tl_2x4` (vfmac.h lanes, FP16 lane sum), the
element-loop im2row (`tl_row` of im2col / im2col_grad) and the Conv2D `trainlib` phases.

Each is checked against numpy (transforms bit-exact; FP16 matmuls bit-exact against the emulated
rounding sequence of the variant, which differs from the library's vfdotpex one: the test shows
it does), on odd and even k, strides 1 and 2, paddings; the Conv2D choice never takes `trainlib`;
and the TrainLib structure costs more than the library's own kernels on a ResNet8-like layer
(both engines run them identically: tests/test_engine_kernels.py covers every registered variant).
"""
from __future__ import annotations

import numpy as np
import pytest

from mcusim.kernels_asm.kernels import matmul_fp16 as mm16
from mcusim.kernels_asm.kernels import registry
from mcusim.kernels_asm.kernels.layers_conv import conv2d_choose
from mcusim.kernels_asm.kernels.transforms import ConvGeom, emit_im2row_loops, Asm
from mcusim.simulator.config import load_config

CFG = load_config()


def _run(name: str, shape: dict, dtype: str, variant: str, cores: int, seed: int = 0):
    out = registry.run(registry.get(name), shape, dtype, variant, cores, CFG, seed=seed, engine="c")
    assert out.check.ok, f"{name} {dtype} {variant} {shape}: {out.check.detail}"
    return out


@pytest.mark.parametrize("m, n, k", [(9, 7, 6), (9, 7, 7), (16, 13, 33), (1, 1, 1), (5, 8, 2)])
def test_tl_matmul_bit_exact(m: int, n: int, k: int) -> None:
    out = _run("matmul_bt", {"m": m, "n": n, "k": k}, "fp16", "tl_2x4", 8, seed=k)
    assert "vfmac.h lanes" in out.check.detail


def test_tl_rounding_rule_is_its_own() -> None:
    """The lane-split FP16 sum is not the FP32-accumulating dot product: on long k they differ."""
    rng = np.random.default_rng(4)
    a = rng.uniform(-1, 1, (8, 200)).astype(np.float16)
    b = rng.uniform(-1, 1, (200, 8)).astype(np.float16)
    tl = mm16._emulate_tl_dot(a, b)
    f32 = mm16._emulate_f32acc(a, b, pairs=True)[0].astype(np.float16).astype(np.float64)
    assert np.any(tl != f32)
    assert not mm16._check_fp16(a, b, f32.astype(np.float16), mm16.FP16_BT_VARIANTS["tl_2x4"]).ok


IM2COL_SHAPES = [
    {"c": 3, "h": 7, "w": 6, "kh": 3, "kw": 3, "s": 1, "p": 1},
    {"c": 5, "h": 8, "w": 9, "kh": 3, "kw": 2, "s": 2, "p": 1},
    {"c": 2, "h": 9, "w": 7, "kh": 5, "kw": 5, "s": 2, "p": 2},
    {"c": 9, "h": 4, "w": 5, "kh": 1, "kw": 1, "s": 1, "p": 0},
]


@pytest.mark.parametrize("name", ["im2col", "im2col_grad"])
@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_element_loop_im2row_bit_exact(name: str, dtype: str) -> None:
    for i, shape in enumerate(IM2COL_SHAPES):
        _run(name, shape, dtype, "tl_row", (8, 3, 1, 8)[i], seed=i)


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_element_loop_im2row_of_the_gradient_takes_any_stride(dtype: str) -> None:
    """Strides that are not powers of two test the dilation grid with remu/divu (a mask otherwise)."""
    for i, shape in enumerate([{"c": 2, "h": 9, "w": 9, "kh": 3, "kw": 3, "s": 3, "p": 1},
                               {"c": 3, "h": 11, "w": 8, "kh": 2, "kw": 3, "s": 5, "p": 0}]):
        _run("im2col_grad", shape, dtype, "tl_row", (8, 3)[i], seed=i)
    a = Asm()
    emit_im2row_loops(a, ConvGeom(2, 9, 9, 3, 3, 3, 3), "fp32", "X", "B", 8, grad=True)
    assert "divu" in a.source()


CONV_SHAPES = [
    {"ci": 3, "co": 5, "h": 5, "w": 7, "kh": 3, "kw": 3, "s": 1, "p": 1},
    {"ci": 2, "co": 3, "h": 7, "w": 5, "kh": 3, "kw": 2, "s": 2, "p": 0},
    {"ci": 4, "co": 6, "h": 6, "w": 6, "kh": 3, "kw": 3, "s": 2, "p": 1},
]


@pytest.mark.parametrize("phase", ["fw", "wg", "ig"])
@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_trainlib_conv2d(phase: str, dtype: str) -> None:
    for i, shape in enumerate(CONV_SHAPES):
        out = _run(f"conv2d_{phase}", shape, dtype, "trainlib", (1, 8, 3)[i], seed=i)
        assert out.run.result.regions          # ran as one kernel region
        # one barrier per primitive: im2row (+ block transpose for ig) before the matmul
        body = registry.get(f"conv2d_{phase}").build(out.shape, dtype, "trainlib", 8).body.source()
        assert body.count("\tbarrier") == (2 if phase == "ig" else 1)


def test_trainlib_is_never_chosen_and_is_slower() -> None:
    shape = {"ci": 16, "co": 16, "h": 12, "w": 12, "kh": 3, "kw": 3, "s": 1, "p": 1}
    g = ConvGeom(16, 12, 12, 3, 3, 1, 1, 1, 1, 1, 1)
    for phase in ("fw", "wg", "ig"):
        assert conv2d_choose(g, 16, phase, "fp16", 8) != "trainlib"
    tl = _run("conv2d_fw", shape, "fp16", "trainlib", 8).run.cycles
    own = _run("conv2d_fw", shape, "fp16", None, 8).run.cycles
    assert own < 0.7 * tl, (own, tl)
