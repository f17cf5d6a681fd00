"""Layer kernels (layers_conv, layers_linear, layers_elementwise, losses) on the cluster against numpy.

Rules (each kernel module documents its own next to its check):
- Conv2D / PointWise / Linear: the output is a matrix product of exactly transformed operands;
  FP32 within gamma_k * sum|a||b| of float64 (Higham's FMA dot-product bound); FP16 against the
  emulation of the hardware's rounding sequence (vfmac.r.h: bit-exact; vfdotpex.s.h / fmacex.s.h
  FP32 accumulators: bit-exact or within the documented double-rounding margin).
- DepthWise: per channel a dot-product matrix, same rules (FP16: FP32 accumulators).
- Element-wise, pooling: bit-exact (the references round each operation like the kernel).
- MSE: gradient bit-exact; loss bit-exact against the kernel's own summation order for the given
  core count, and within (N + 11) u of float64. Cross-entropy: step-by-step error bounds
  (losses.py), and exp within EXP_REL over a dense grid.
Shapes are small and awkward (1, odd, prime sizes; strides; asymmetric sizes); 1 and 8 cores (3
where the split has remainders)."""
from __future__ import annotations

import numpy as np
import pytest

from mcusim.kernels_asm.kernels import registry
from mcusim.kernels_asm.kernels.harness import KernelProgram, Tensor, run_kernel
from mcusim.kernels_asm.kernels.layers_conv import LAYER_VARIANTS, conv2d_program
from mcusim.kernels_asm.kernels.layers_elementwise import emit_stream
from mcusim.kernels_asm.kernels.losses import EXP_REL, exp_consts, exp_ops, mse_loss_ref
from mcusim.kernels_asm.kernels.transforms import Asm, ConvGeom
from mcusim.simulator.config import load_config

CFG = load_config()


def _run(name: str, shape: dict | None, dtype: str, variant: str | None, cores: int, seed: int = 0):
    kdef = registry.get(name)
    out = registry.run(kdef, shape, dtype, variant, cores, CFG, seed=seed)
    assert out.check.ok, f"{name} {dtype} {out.variant} {cores} cores {shape}: {out.check.detail}"
    return out


# --- convolutions, linear -----------------------------------------------------------------------------

CONV_SHAPES = [
    {"ci": 3, "co": 5, "h": 5, "w": 7, "kh": 3, "kw": 3, "s": 1, "p": 1},   # odd channels and pixels, "same"
    {"ci": 2, "co": 3, "h": 7, "w": 5, "kh": 3, "kw": 2, "s": 2, "p": 0},   # stride 2, 3 x 2 kernel
]


@pytest.mark.parametrize("phase", ["fw", "wg", "ig"])
@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
@pytest.mark.parametrize("form", ["ab", "abt"])
def test_conv2d(phase: str, dtype: str, form: str) -> None:
    for i, shape in enumerate(CONV_SHAPES):
        _run(f"conv2d_{phase}", shape, dtype, form, [1, 8][i], seed=i)


def test_conv2d_naive_matmul_and_single_pixel() -> None:
    _run("conv2d_fw", CONV_SHAPES[0], "fp16", "abt_naive", 3)
    _run("conv2d_ig", CONV_SHAPES[1], "fp32", "ab_naive", 3)
    one = {"ci": 1, "co": 1, "h": 1, "w": 1, "kh": 1, "kw": 1, "s": 1, "p": 0}
    for phase in ("fw", "wg", "ig"):
        _run(f"conv2d_{phase}", one, "fp16", None, 8)


def test_conv2d_program_is_transform_barrier_matmul() -> None:
    """One program per phase: the transform steps, one barrier, then the matmul of the other
    generator (its own core_id read), in one kernel region."""
    prog = conv2d_program(ConvGeom(3, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1), 4, "ig", "fp16", "abt", 8)
    src = prog.body.source()
    assert src.count("\tbarrier") == 1
    assert src.index("p.lhu") < src.index("\tbarrier") < src.index("vfdotpex.s.h")
    assert [v for _, v in prog.meta["matmuls"]] and prog.meta["matmuls"][0][0].bt


@pytest.mark.parametrize("phase", ["fw", "wg", "ig"])
@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_pointwise(phase: str, dtype: str) -> None:
    for i, form in enumerate(("ab", "abt")):
        _run(f"pointwise_{phase}", {"ci": 5, "co": 3, "h": 3, "w": 5}, dtype, form, [8, 3][i], seed=i)


@pytest.mark.parametrize("phase", ["fw", "wg", "ig"])
@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_linear(phase: str, dtype: str) -> None:
    for i, (form, shape) in enumerate((("ab", {"ci": 13, "co": 7}), ("abt", {"ci": 10, "co": 9}),
                                       ("ab", {"ci": 1, "co": 1}))):
        _run(f"linear_{phase}", shape, dtype, form, [8, 3, 1][i], seed=i)


DW_SHAPES = [
    {"c": 3, "h": 7, "w": 5, "kh": 3, "kw": 2, "s": 2, "p": 1},
    {"c": 9, "h": 5, "w": 5, "kh": 5, "kw": 5, "s": 1, "p": 2},
    {"c": 2, "h": 6, "w": 3, "kh": 3, "kw": 3, "s": 1, "p": 0},
]


@pytest.mark.parametrize("phase", ["fw", "wg", "ig"])
@pytest.mark.parametrize("dtype,variant", [("fp32", "direct"), ("fp16", "direct"), ("fp16", "simd"), ("fp16", "simd16")])
def test_depthwise(phase: str, dtype: str, variant: str) -> None:
    """Strides 2 and 1, odd and even rows (the simd pairs store lane by lane on odd rows; its wg
    pads dy rows with a zero), a 5 x 5 kernel, no padding."""
    for i, shape in enumerate(DW_SHAPES):
        _run(f"depthwise_{phase}", shape, dtype, variant, [8, 3, 1][i], seed=i)


def test_depthwise_simd_is_faster_on_a_dscnn_shape() -> None:
    shape = {"c": 4, "h": 12, "w": 10, "kh": 3, "kw": 3, "s": 1, "p": 1}
    for phase in ("fw", "wg"):
        simd = _run(f"depthwise_{phase}", shape, "fp16", "simd", 1).run.cycles
        direct = _run(f"depthwise_{phase}", shape, "fp16", "direct", 1).run.cycles
        assert simd < 0.8 * direct, (phase, simd, direct)


def test_layer_variant_choice_is_valid() -> None:
    for name in ("conv2d_fw", "conv2d_wg", "conv2d_ig", "pointwise_ig", "linear_ig", "linear_fw"):
        kdef = registry.get(name)
        for dtype in ("fp32", "fp16"):
            v = kdef.default_variant(kdef.full_shape(), dtype, 8)
            assert v in LAYER_VARIANTS and not v.endswith("naive")


# --- element-wise, pooling ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["relu", "relu_bwd", "add", "cast", "sgd"])
def test_elementwise_bit_exact(name: str) -> None:
    kdef = registry.get(name)
    for dtype in kdef.dtypes:
        for variant in kdef.variants[dtype]:
            for n, cores in ((1, 8), (37, 3), (64, 8)):
                out = _run(name, {"n": n}, dtype, variant, cores, seed=n)
                assert out.check.bound == 0.0


POOL_SHAPES = [{"c": 3, "h": 7, "w": 9, "k": 3, "s": 2},     # overlapping windows, odd sizes
               {"c": 2, "h": 5, "w": 6, "k": 2, "s": 2},     # disjoint, a row / column left over
               {"c": 1, "h": 3, "w": 3, "k": 3, "s": 1}]     # one window


@pytest.mark.parametrize("name", ["maxpool", "avgpool", "maxpool_bwd", "avgpool_bwd"])
@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_pooling_bit_exact(name: str, dtype: str) -> None:
    for i, shape in enumerate(POOL_SHAPES):
        _run(name, shape, dtype, None, [8, 3, 1][i], seed=i)


def test_maxpool_backward_sends_to_the_first_maximum() -> None:
    """Ties (quantised inputs) exercise the first-maximum rule; the gradient is conserved."""
    out = _run("maxpool_bwd", {"c": 2, "h": 4, "w": 4, "k": 2, "s": 2}, "fp32", None, 8)
    dx, dy = out.run.outputs["DX"], registry.get("maxpool_bwd").inputs(
        {"c": 2, "h": 4, "w": 4, "k": 2, "s": 2}, "fp32", np.random.default_rng(0))["DY"]
    assert np.count_nonzero(dx) == dy.size and np.isclose(dx.sum(), dy.sum())


# --- losses -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_mse(dtype: str) -> None:
    for n, cores in ((1, 8), (10, 3), (37, 8)):
        out = _run("mse", {"n": n}, dtype, None, cores, seed=n)
        inputs = registry.get("mse").inputs({"n": n}, dtype, np.random.default_rng(n))
        # the loss equals the kernel's own FP32 summation order for this core count
        assert out.run.outputs["LOSS"][0] == mse_loss_ref(inputs["Y"], inputs["T"], cores)


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_crossentropy(dtype: str) -> None:
    for n, cores in ((1, 8), (10, 3), (37, 8)):
        out = _run("crossentropy", {"n": n}, dtype, None, cores, seed=n)
        assert out.run.outputs["LOSS"][0] >= 0


def test_crossentropy_with_soft_targets_and_large_logits() -> None:
    """Targets that are probabilities, logits spread over +-60 (exp of -120 flushes to 0)."""
    rng = np.random.default_rng(4)
    n = 11
    z = (rng.uniform(-60, 60, n)).astype(np.float32)
    t = rng.uniform(0, 1, n).astype(np.float32)
    t /= t.sum()
    kdef = registry.get("crossentropy")
    prog = kdef.build({"n": n}, "fp32", "fp32", 8)
    run = run_kernel(prog, {"Z": z, "T": t}, 8, CFG)
    check = kdef.check({"Z": z, "T": t}, run.outputs, {"n": n}, "fp32", "fp32")
    assert check.ok, check.detail


def test_exp_accuracy() -> None:
    """The softmax's exp routine over [-104, 0] (and tiny arguments) against float64."""
    n = 4000
    x = np.concatenate([np.linspace(-104, 0, n - 200), -np.logspace(-12, 0, 200)]).astype(np.float32)
    a = Asm("exp")
    a.li("s10", -127)
    exp_consts(a)

    def group(ks: list[int]) -> None:
        for k in ks:
            a("flw", f"f{8 * k}", f"{4 * k}(a1)")
        for k in ks:
            for op in exp_ops(f"f{8 * k}", f"f{8 * k + 2}", [f"f{8 * k + 3}", f"f{8 * k + 4}", f"f{8 * k + 5}"], f"t{k}"):
                a(*op)
            a("fsw", f"f{8 * k + 2}", f"{4 * k}(a2)")
    emit_stream(a, n, 8, [("a1", "X", 4), ("a2", "Y", 4)], group, unroll=2)
    prog = KernelProgram("exp", a.source(), [Tensor("X", (n,), "fp32"), Tensor("Y", (n,), "fp32", "output")])
    y = run_kernel(prog, {"X": x}, 8, CFG).outputs["Y"].astype(np.float64)
    ref = np.exp(x.astype(np.float64))
    normal = ref >= 2.0 ** -126
    assert np.max(np.abs(y - ref)[normal] / ref[normal]) <= EXP_REL
    assert np.max(np.abs(y - ref)[~normal]) <= 2.0 ** -126          # flushed to zero below FP32's normals
    assert y[-1] == np.float32(np.exp(np.float64(x[-1]))) or abs(y[-1] - 1) < 1e-7


def test_every_layer_kernel_is_registered() -> None:
    names = {k.name for k in registry.all_kernels()}
    for layer in ("conv2d", "pointwise", "depthwise", "linear"):
        assert {f"{layer}_{p}" for p in ("fw", "wg", "ig")} <= names
    assert {"relu", "relu_bwd", "add", "cast", "sgd", "maxpool", "maxpool_bwd", "avgpool", "avgpool_bwd",
            "mse", "crossentropy"} <= names
