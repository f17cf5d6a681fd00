"""Shape transforms (kernels_asm/kernels/transforms.py) on the cluster against numpy.

The transforms only move elements, so every comparison is bit-exact (bound 0), for FP32 and FP16,
on awkward shapes (1, odd, prime sizes; strides 1-3; asymmetric padding; kernels larger than the
padding) and on 1, 3 and 8 cores. The numpy references are themselves checked against direct
convolution formulas, so the transforms are shown to mean what the layers need."""
from __future__ import annotations

import numpy as np
import pytest

from mcusim.kernels_asm.kernels import registry
from mcusim.kernels_asm.kernels.harness import KernelProgram, Tensor, run_kernel
from mcusim.kernels_asm.kernels.transforms import (
    Asm,
    ConvGeom,
    axis_from_map,
    block_transpose_ref,
    emit_block_transpose,
    emit_gather,
    emit_transpose,
    exact_check,
    im2col_grad_ref,
    im2col_program,
    im2col_ref,
    pad_gather,
    random_tensor,
)
from mcusim.simulator.config import load_config

CFG = load_config()

# (geometry, what it exercises)
GEOMS = [
    ConvGeom(1, 1, 1, 1, 1),                                  # everything 1
    ConvGeom(3, 5, 7, 3, 3, 1, 1, 1, 1, 1, 1),                # odd sizes, "same" padding
    ConvGeom(2, 7, 6, 3, 2, 2, 3, 0, 2, 1, 0),                # asymmetric kernel, strides, padding
    ConvGeom(1, 9, 11, 5, 5, 3, 2, 2, 2, 2, 2),               # big kernel, stride 3 / 2
    ConvGeom(2, 4, 4, 4, 4, 1, 1, 3, 3, 3, 3),                # padding = kernel - 1 (full conv)
    ConvGeom(5, 13, 4, 1, 3, 2, 1, 0, 0, 1, 1),               # prime channels and rows, 1 x 3 kernel
]


def _ids(g: ConvGeom) -> str:
    return f"c{g.c}h{g.h}w{g.w}k{g.kh}x{g.kw}s{g.sh}{g.sw}p{g.pt}{g.pb}{g.pl}{g.pr}"


COMBOS = [("fp32", "col", False), ("fp16", "row", False), ("fp16", "col", True), ("fp32", "row", False),
          ("fp16", "col", False)]


@pytest.mark.parametrize("gi", range(len(GEOMS)), ids=[_ids(g) for g in GEOMS])
@pytest.mark.parametrize("grad", [False, True], ids=["fwd", "grad"])
def test_im2col_bit_exact(gi: int, grad: bool) -> None:
    """Two (dtype, layout, FP16 word moves) combinations per case, rotating so that every
    combination meets several geometries; cores rotate through 1, 3, 8."""
    g = GEOMS[gi]
    rng = np.random.default_rng(gi * 2 + grad)
    for j in range(2):
        dtype, layout, vec = COMBOS[(2 * gi + grad + j) % len(COMBOS)]
        cores = [1, 3, 8][(gi + grad + j) % 3]
        x = random_tensor(rng, (g.c, g.ho, g.wo) if grad else (g.c, g.h, g.w), dtype)
        run = run_kernel(im2col_program(g, dtype, layout, cores, vec=vec, grad=grad), {"X": x}, cores, CFG)
        ref = im2col_grad_ref(x, g, layout) if grad else im2col_ref(x, g, layout)
        check = exact_check(run.outputs, {"B": ref})
        assert check.ok, f"{dtype} {layout} vec={vec} cores={cores}: {check.detail}"


@pytest.mark.parametrize("cores", [1, 8])
def test_im2col_resnet_shape_on_one_and_eight_cores(cores: int) -> None:
    """A 16 x 16 input with 3 x 3 'same' padding, both gradients forms, FP16 word moves."""
    rng = np.random.default_rng(cores)
    g = ConvGeom(2, 16, 16, 3, 3, 2, 2, 1, 1, 1, 1)
    for grad in (False, True):
        x = random_tensor(rng, (g.c, g.ho, g.wo) if grad else (g.c, g.h, g.w), "fp16")
        run = run_kernel(im2col_program(g, "fp16", "col", cores, vec=True, grad=grad), {"X": x}, cores, CFG)
        ref = im2col_grad_ref(x, g, "col") if grad else im2col_ref(x, g, "col")
        assert exact_check(run.outputs, {"B": ref}).ok


def test_fp16_word_moves_are_faster() -> None:
    """The FP16 `vec` variant moves aligned runs two halves per access: fewer cycles, same bits."""
    rng = np.random.default_rng(7)
    g = ConvGeom(2, 16, 16, 3, 3, 2, 2, 1, 1, 1, 1)
    dy = random_tensor(rng, (g.c, g.ho, g.wo), "fp16")
    runs = {vec: run_kernel(im2col_program(g, "fp16", "col", 1, vec=vec, grad=True), {"X": dy}, 1, CFG)
            for vec in (False, True)}
    assert np.array_equal(runs[True].outputs["B"].view(np.uint16), runs[False].outputs["B"].view(np.uint16))
    assert runs[True].cycles < 0.85 * runs[False].cycles


def test_parallel_split_uses_every_core_for_three_channels() -> None:
    """Items are (kernel offset, channel) pairs, so a 3-channel input keeps 8 cores busy."""
    g = ConvGeom(3, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1)
    x = random_tensor(np.random.default_rng(1), (3, 8, 8), "fp32")
    # ideal fetch: the check is the work split; on this small input the cold I-cache refills, the
    # same for 1 and 8 cores, would be a third of the 8-core time
    ideal = load_config(overrides={"icache": {"model": "ideal"}})
    one = run_kernel(im2col_program(g, "fp32", "col", 1), {"X": x}, 1, ideal)
    eight = run_kernel(im2col_program(g, "fp32", "col", 8), {"X": x}, 8, ideal)
    assert all(p["instret"] > 100 for p in eight.per_core)
    assert eight.cycles < one.cycles / 4


# --- the references mean what the layers need ------------------------------------------------------

def _conv_direct(x: np.ndarray, w: np.ndarray, g: ConvGeom) -> np.ndarray:
    """Y[co, oh, ow] = sum W[co, ci, i, j] X[ci, oh*sh - pt + i, ow*sw - pl + j] (zero outside)."""
    co = w.shape[0]
    y = np.zeros((co, g.ho, g.wo))
    for oh in range(g.ho):
        for ow in range(g.wo):
            for i in range(g.kh):
                for j in range(g.kw):
                    ih, iw = oh * g.sh - g.pt + i, ow * g.sw - g.pl + j
                    if 0 <= ih < g.h and 0 <= iw < g.w:
                        y[:, oh, ow] += w[:, :, i, j] @ x[:, ih, iw]
    return y


def _weight_grad_direct(x: np.ndarray, dy: np.ndarray, g: ConvGeom) -> np.ndarray:
    """dW[co, ci, i, j] = sum dY[co, oh, ow] X[ci, oh*sh - pt + i, ow*sw - pl + j]."""
    dw = np.zeros((dy.shape[0], g.c, g.kh, g.kw))
    for oh in range(g.ho):
        for ow in range(g.wo):
            for i in range(g.kh):
                for j in range(g.kw):
                    ih, iw = oh * g.sh - g.pt + i, ow * g.sw - g.pl + j
                    if 0 <= ih < g.h and 0 <= iw < g.w:
                        dw[:, :, i, j] += np.outer(dy[:, oh, ow], x[:, ih, iw])
    return dw


def _input_grad_direct(dy: np.ndarray, w: np.ndarray, g: ConvGeom) -> np.ndarray:
    """dX by scattering every output gradient back through the forward formula."""
    dx = np.zeros((g.c, g.h, g.w))
    for oh in range(g.ho):
        for ow in range(g.wo):
            for i in range(g.kh):
                for j in range(g.kw):
                    ih, iw = oh * g.sh - g.pt + i, ow * g.sw - g.pl + j
                    if 0 <= ih < g.h and 0 <= iw < g.w:
                        dx[:, ih, iw] += w[:, :, i, j].T @ dy[:, oh, ow]
    return dx


@pytest.mark.parametrize("g", GEOMS, ids=_ids)
def test_references_are_convolution_and_its_gradients(g: ConvGeom) -> None:
    rng = np.random.default_rng(3)
    co = 3
    x = rng.standard_normal((g.c, g.h, g.w))
    w = rng.standard_normal((co, g.c, g.kh, g.kw))
    dy = rng.standard_normal((co, g.ho, g.wo))
    # forward: W · im2col(X), and W · im2row(X)ᵀ
    y = w.reshape(co, -1) @ im2col_ref(x, g, "col")
    np.testing.assert_allclose(y.reshape(co, g.ho, g.wo), _conv_direct(x, w, g), atol=1e-12)
    np.testing.assert_array_equal(im2col_ref(x, g, "row"), im2col_ref(x, g, "col").T)
    # weight gradient: dW = dY · im2row(X)
    dw = dy.reshape(co, -1) @ im2col_ref(x, g, "row")
    np.testing.assert_allclose(dw.reshape(w.shape), _weight_grad_direct(x, dy, g), atol=1e-12)
    # input gradient: flipped, swapped weights times the patches of the dilated, padded dY
    gd = ConvGeom(co, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.pt, g.pb, g.pl, g.pr)
    dx = block_transpose_ref(w).reshape(g.c, -1) @ im2col_grad_ref(dy, gd, "col")
    np.testing.assert_allclose(dx.reshape(g.c, g.h, g.w), _input_grad_direct(dy, w, g), atol=1e-12)


def test_axis_compression() -> None:
    a = axis_from_map(7, lambda d: d // 2 if d % 2 == 1 and d < 6 else None)
    assert (a.lead, a.count, a.spread, a.src0, a.step, a.trail) == (1, 3, 2, 0, 1, 1)
    empty = axis_from_map(4, lambda d: None)
    assert (empty.count, empty.trail) == (0, 0)


# --- weight flip, transposes, padding ---------------------------------------------------------------

def _run(asm: Asm, tensors: list[Tensor], inputs: dict, cores: int) -> dict[str, np.ndarray]:
    return run_kernel(KernelProgram("t", asm.source(), tensors), inputs, cores, CFG).outputs


@pytest.mark.parametrize("co,ci,kh,kw", [(1, 1, 1, 1), (3, 5, 3, 3), (7, 2, 1, 5), (4, 3, 2, 2)])
@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_block_transpose(co: int, ci: int, kh: int, kw: int, dtype: str) -> None:
    rng = np.random.default_rng(co * 100 + ci)
    w = random_tensor(rng, (co, ci, kh, kw), dtype)
    for cores in (1, 3, 8):
        asm = Asm("bt")
        emit_block_transpose(asm, co, ci, kh * kw, dtype, "W", "WBT", cores)
        out = _run(asm, [Tensor("W", (co, ci, kh, kw), dtype), Tensor("WBT", (ci, co, kh, kw), dtype, "output")],
                   {"W": w}, cores)
        assert exact_check(out, {"WBT": block_transpose_ref(w)}).ok


def test_block_transpose_with_row_strides() -> None:
    """Source and destination rows padded (as the layers lay them out): the padding is skipped."""
    rng = np.random.default_rng(5)
    co, ci, kk = 3, 4, 9
    w = random_tensor(rng, (co, ci * kk), "fp16")
    asm = Asm("bt")
    emit_block_transpose(asm, co, ci, kk, "fp16", "W", "WBT", 8, src_stride=ci * kk + 2, dst_stride=co * kk + 3)
    out = _run(asm, [Tensor("W", (co, ci * kk), "fp16", row_stride=ci * kk + 2),
                     Tensor("WBT", (ci, co * kk), "fp16", "output", row_stride=co * kk + 3)], {"W": w}, 8)
    ref = block_transpose_ref(w.reshape(co, ci, 3, 3)).reshape(ci, co * kk)
    assert exact_check(out, {"WBT": ref}).ok


@pytest.mark.parametrize("rows,cols", [(1, 1), (1, 7), (7, 1), (5, 13), (16, 10)])
@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_transpose(rows: int, cols: int, dtype: str) -> None:
    a = random_tensor(np.random.default_rng(rows * cols), (rows, cols), dtype)
    for cores in (1, 8):
        asm = Asm("tr")
        emit_transpose(asm, rows, cols, dtype, "A", "B", cores)
        out = _run(asm, [Tensor("A", (rows, cols), dtype), Tensor("B", (cols, rows), dtype, "output")], {"A": a}, cores)
        assert exact_check(out, {"B": a.T}).ok


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_pad_and_dilate(dtype: str) -> None:
    """The depthwise layers' border copy: dilation 2 x 3, a border on three sides, one side cropped."""
    rng = np.random.default_rng(11)
    c, h, w = 3, 4, 5
    x = random_tensor(rng, (c, h, w), dtype)
    pt, pb, pl, pr, dh, dw = 2, 1, 1, -1, 2, 3
    gat = pad_gather(c, h, w, dtype, "X", "D", pt, pb, pl, pr, dh, dw, vec=dtype == "fp16")
    hd, wd = (h - 1) * dh + 1 + pt + pb, (w - 1) * dw + 1 + pl + pr
    ref = np.zeros((c, hd, wd + 1), x.dtype)
    ref[:, pt:pt + (h - 1) * dh + 1:dh, pl:pl + (w - 1) * dw + 1:dw] = x
    ref = ref[:, :, :wd]
    for cores in (1, 8):
        asm = Asm("pad")
        emit_gather(asm, gat, cores)
        out = _run(asm, [Tensor("X", (c, h, w), dtype), Tensor("D", (c, hd, wd), dtype, "output")], {"X": x}, cores)
        assert exact_check(out, {"D": ref}).ok


# --- code-generation rules -------------------------------------------------------------------------

def test_hardware_loop_rules() -> None:
    a = Asm("t")
    with pytest.raises(ValueError, match="minimum 3"), a.hwloop(0, 4):
        a("nop")
        a("nop")
    a = Asm("t")
    # the inner loop ends on the outer loop's last instruction: a nop is added after it
    # (CV32E40P: at least one instruction between the two ends)
    with a.hwloop(1, 2), a.hwloop(0, 3):
        for _ in range(3):
            a("addi", "t0", "t0", 1)
    body = [line.strip() for line in a.lines]
    assert body[-1] == "nop" and body[-2].startswith("t_lp1") and body[-3].startswith("addi")
    with pytest.raises(ValueError, match="nested"), a.hwloop(0, 3), a.hwloop(1, 3):
        pass


def test_exact_check_reports_a_moved_element() -> None:
    ref = np.arange(6, dtype=np.float32).reshape(2, 3)
    bad = ref.copy()
    bad[1, 2] = -0.0 if ref[1, 2] == 0 else 0.0
    check = exact_check({"B": bad}, {"B": ref})
    assert not check.ok and "(1, 2)" in check.detail
    zero = np.zeros(2, np.float16)
    assert not exact_check({"B": -zero}, {"B": zero}).ok     # bit-exact: -0 is not +0


def test_transforms_are_registered() -> None:
    names = {k.name for k in registry.all_kernels()}
    assert {"im2col", "im2col_grad", "block_transpose", "transpose"} <= names
    for name in ("im2col", "im2col_grad"):
        kdef = registry.get(name)
        for dtype in kdef.dtypes:
            for variant in kdef.variants[dtype]:
                out = registry.run(kdef, {"c": 2, "h": 5, "w": 4, "kh": 3, "kw": 2, "s": 2, "p": 1}, dtype, variant, 3, CFG)
                assert out.check.ok and out.check.bound == 0.0, out.check.detail
