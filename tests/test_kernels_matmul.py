"""Matmul kernels (every variant x dtype x layout on awkward shapes and core counts), the kernel
harness, the registry and `mcusim kernel`."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from mcusim.kernels_asm import Builder
from mcusim.kernels_asm.kernels import registry
from mcusim.kernels_asm.kernels.harness import (
    HarnessError,
    KernelProgram,
    Tensor,
    layout,
    padded_stride,
    run_kernel,
)
from mcusim.kernels_asm.kernels.matmul_fp16 import (
    FP16_B_VARIANTS,
    FP16_BT_VARIANTS,
    _check_fp16,
    _emulate_f16acc,
    _emulate_f32acc,
    choose,
)
from mcusim.kernels_asm.kernels.matmul_fp32 import FP32_VARIANTS
from mcusim.kernels_asm.kernels.registry import Check
from mcusim.simulator.config import load_config

CONFIG = load_config()

# (m, n, k, cores): ones, primes, odd sizes, sizes that are not multiples of any blocking, one row
# (vector x matrix), one column (matrix x vector), k = 1, more cores than rows or columns.
SHAPES = [
    (1, 1, 1, 2),
    (13, 11, 17, 8),
    (7, 1, 9, 3),
    (1, 13, 6, 4),
    (5, 7, 3, 1),
    (3, 5, 1, 8),
    (17, 10, 2, 5),
    (9, 19, 5, 8),
]


def _cases(variants: dict, dtype: str, kernels: tuple[str, ...]):
    """Each variant on four shapes (rotating through SHAPES so every shape meets every blocking
    family), at least one on 1 core and one on several."""
    out = []
    for vi, name in enumerate(variants):
        for kernel in kernels:
            shapes = [SHAPES[(vi + j * 2 + (kernel == "matmul_bt")) % len(SHAPES)] for j in range(4)]
            out.append(pytest.param(kernel, dtype, name, shapes, id=f"{kernel}-{dtype}-{name}"))
    return out


CASES = (_cases(FP32_VARIANTS, "fp32", ("matmul", "matmul_bt")) +
         _cases(FP16_B_VARIANTS, "fp16", ("matmul",)) +
         _cases(FP16_BT_VARIANTS, "fp16", ("matmul_bt",)))


@pytest.mark.parametrize("kernel, dtype, variant, shapes", CASES)
def test_variant_is_correct_on_awkward_shapes(kernel, dtype, variant, shapes):
    kdef = registry.get(kernel)
    cores_seen = set()
    for seed, (m, n, k, cores) in enumerate(shapes):
        out = registry.run(kdef, {"m": m, "n": n, "k": k}, dtype, variant, cores, CONFIG, seed=seed)
        assert out.check.ok, f"{kernel} {dtype} {variant} {m}x{n}x{k} on {cores}: {out.check.detail}"
        if dtype == "fp16":
            # the FP16 kernels must match the emulated rounding sequence bit for bit
            assert out.check.bound == 0.0 or re.search(r"\b0 of \d+ elements not bit-exact", out.check.detail), \
                out.check.detail
        assert out.run.cycles > 0 and out.run.instret >= out.macs // 8   # at most 8 MACs per instruction
        if dtype == "fp16" and seed == 0:
            inputs = kdef.inputs(out.shape, dtype, np.random.default_rng(seed))
            ref = kdef.reference(inputs, out.shape, dtype, variant)["C"]
            assert (ref.view(np.uint16) == out.run.outputs["C"].view(np.uint16)).all()
        cores_seen.add(cores)
    assert len(cores_seen) >= 2


@pytest.mark.parametrize("kernel, dtype, variant, m, n, k", [
    ("matmul", "fp32", "4x4", 3, 600, 5),         # B stride 2404 B: increment in a register, 2 pointers
    ("matmul_bt", "fp32", "8x1", 9, 2, 600),      # A and Bᵀ strides > 2047 B: a pointer per row group
    ("matmul", "fp16", "simd_4x8", 5, 1100, 3),   # FP16 B stride 2204 B
    ("matmul_bt", "fp16", "simd_4x6", 6, 7, 1030),  # odd-k tail after a long k loop
])
def test_large_strides(kernel, dtype, variant, m, n, k):
    out = registry.run(registry.get(kernel), {"m": m, "n": n, "k": k}, dtype, variant, 2, CONFIG, seed=3)
    assert out.check.ok, out.check.detail


# --- the checks themselves -----------------------------------------------------------------------

def _run(kernel, dtype, variant, m, n, k, cores, seed=0):
    return registry.run(registry.get(kernel), {"m": m, "n": n, "k": k}, dtype, variant, cores, CONFIG, seed=seed)


def test_fp32_check_rejects_an_error_just_above_the_bound():
    out = _run("matmul", "fp32", "2x2", 6, 5, 40, 2)
    kdef = registry.get("matmul")
    inputs = kdef.inputs(out.shape, "fp32", np.random.default_rng(0))
    c = out.run.outputs["C"].copy()
    assert kdef.check(inputs, {"C": c}, out.shape, "fp32", "2x2").ok
    ref = inputs["A"].astype(np.float64) @ inputs["B"].astype(np.float64)
    gamma = 40 * 2.0 ** -24 / (1 - 40 * 2.0 ** -24)
    bound = gamma * (np.abs(inputs["A"].astype(np.float64)) @ np.abs(inputs["B"].astype(np.float64)))
    c[2, 3] = np.float32(ref[2, 3] + 2 * bound[2, 3])
    assert not kdef.check(inputs, {"C": c}, out.shape, "fp32", "2x2").ok


def test_fp16_checks_are_bit_exact_and_tell_the_accumulators_apart():
    rng = np.random.default_rng(5)
    a = rng.uniform(-1, 1, (12, 64)).astype(np.float16)
    b = rng.uniform(-1, 1, (64, 10)).astype(np.float16)
    f16acc = _emulate_f16acc(a, b).astype(np.float16)
    f32acc, margin = _emulate_f32acc(a, b, pairs=True)
    assert margin.max() < 1e-4        # 32 steps x 2^-23 x |partial sums| << an FP16 ulp of the results
    # FP16 accumulation loses bits that FP32 accumulation keeps: the results differ
    assert (f16acc != f32acc.astype(np.float16)).sum() > 10
    assert _check_fp16(a, b, f16acc, FP16_B_VARIANTS["simd_4x8"]).ok
    assert not _check_fp16(a, b, f32acc.astype(np.float16), FP16_B_VARIANTS["simd_4x8"]).ok
    assert _check_fp16(a, b, f32acc.astype(np.float16), FP16_BT_VARIANTS["simd_4x6"]).ok
    assert not _check_fp16(a, b, f16acc, FP16_BT_VARIANTS["simd_4x6"]).ok
    one_ulp = f16acc.copy()
    one_ulp.view(np.uint16)[3, 4] += 1
    assert not _check_fp16(a, b, one_ulp, FP16_B_VARIANTS["simd_2x4"]).ok


def test_vfdotpex_pairs_and_scalar_fmacex_round_differently():
    """The emulation follows each family's rounding sequence: one rounding per pair of products
    (vfdotpex.s.h) is not the same as one per product (fmacex.s.h) in FP32."""
    rng = np.random.default_rng(2)
    a = rng.uniform(-1, 1, (16, 64)).astype(np.float16)
    b = rng.uniform(-1, 1, (64, 16)).astype(np.float16)
    pairs, _ = _emulate_f32acc(a, b, pairs=True)
    single, _ = _emulate_f32acc(a, b, pairs=False)
    assert (pairs != single).any()


# --- performance (small shapes; the full numbers are in docs/KERNELS.md) -----------------------------

def test_register_blocking_and_simd_pay_off_and_stay_below_the_ceiling():
    kdef = registry.get("matmul")
    shape = {"m": 16, "n": 16, "k": 32}
    naive = _run("matmul", "fp32", "naive", 16, 16, 32, 1)
    best = _run("matmul", "fp32", "4x4", 16, 16, 32, 1)
    simd = _run("matmul", "fp16", "simd_4x8", 16, 16, 32, 1)
    assert naive.mac_per_clk < 0.21                    # 5 instructions per MAC
    assert best.mac_per_clk > 0.55 and best.mac_per_clk > 2.8 * naive.mac_per_clk
    assert simd.mac_per_clk > 1.1
    for out in (naive, best, simd):
        assert out.mac_per_clk <= kdef.ceiling(shape, out.dtype, out.variant) + 1e-9


def test_eight_cores_scale():
    one = _run("matmul", "fp32", "4x4", 32, 32, 32, 1)
    eight = _run("matmul", "fp32", "4x4", 32, 32, 32, 8)
    assert one.run.cycles / eight.run.cycles > 7.5
    assert eight.mac_per_clk > 4.5


def test_variant_choice_uses_the_model():
    assert choose({"m": 128, "n": 128, "k": 128}, "fp32", 8, False) == "4x4"
    assert choose({"m": 128, "n": 128, "k": 128}, "fp16", 8, True) == "simd_4x6"
    assert choose({"m": 1, "n": 128, "k": 64}, "fp32", 8, False).endswith("_cols")
    kdef = registry.get("matmul_bt")
    assert kdef.default_variant({"m": 3, "n": 3, "k": 3}, "fp16", 2) in kdef.variants["fp16"]


# --- harness ---------------------------------------------------------------------------------------

def test_harness_layout_padding_banks_and_readback():
    b = Builder()
    # every core copies row `id` of X (int32, padded rows) to Y and writes its id into Z (fp16)
    b.li("t0", "X_STRIDE")
    b.mul("t1", "a0", "t0")
    b.li("t2", "X")
    b.add("t2", "t2", "t1")
    b.lw("t3", "0(t2)")
    b.lw("t4", "4(t2)")
    b.li("t5", "Y")
    b.slli("t6", "a0", 3)
    b.add("t5", "t5", "t6")
    b.sw("t3", "0(t5)")
    b.sw("t4", "4(t5)")
    b.fcvt_s_w("ft0", "a0")
    b.fcvt_h_s("ft0", "ft0")
    b.li("t5", "Z")
    b.slli("t6", "a0", 1)
    b.add("t5", "t5", "t6")
    b.fsh("ft0", "0(t5)")
    x = np.arange(12, dtype=np.int32).reshape(4, 3) * 7 - 20
    tensors = [Tensor("X", (4, 3), "int32", row_stride=5),
               Tensor("Y", (4, 2), "int32", role="output", bank=3),
               Tensor("Z", (4,), "fp16", role="output", bank=7)]
    prog = KernelProgram("copyrows", b, tensors)
    run = run_kernel(prog, {"X": x}, 4, CONFIG)
    assert (run.outputs["Y"] == x[:, :2]).all()
    assert run.outputs["Z"].dtype == np.float16 and list(run.outputs["Z"]) == [0, 1, 2, 3]
    assert run.addresses["Y"] % 64 == 12 and run.addresses["Z"] % 64 == 28
    assert run.addresses["Y"] >= run.addresses["X"] + (3 * 5 + 3) * 4
    for p in run.per_core:
        assert p["cycles"] == p["instret"] + sum(p["stalls"].values())
    assert run.cycles == max(p["cycles"] for p in run.per_core) < run.total_cycles


def test_harness_errors():
    big = [Tensor("A", (300, 256), "fp32")]
    with pytest.raises(HarnessError, match="TCDM"):
        layout(big, CONFIG)
    with pytest.raises(HarnessError, match="symbol"):
        layout([Tensor("a0", (4,), "fp32")], CONFIG)
    prog = KernelProgram("k", "\tnop\n", [Tensor("A", (4,), "fp32")])
    with pytest.raises(HarnessError, match="no data"):
        run_kernel(prog, {}, 1, CONFIG)


def test_padded_stride_puts_consecutive_rows_in_different_banks():
    for cols, dtype in ((128, "fp32"), (128, "fp16"), (7, "fp16"), (33, "fp32")):
        s = padded_stride(cols, dtype)
        words = s * (4 if dtype == "fp32" else 2) // 4
        assert s >= cols and words % 2 == 1


# --- registry and CLI --------------------------------------------------------------------------------

def test_registry_shapes_and_errors():
    kdef = registry.get("matmul")
    assert kdef.full_shape({"m": 3}) == {"m": 3, "n": 64, "k": 64}
    with pytest.raises(ValueError, match="no parameter"):
        kdef.full_shape({"q": 1})
    with pytest.raises(ValueError, match=">= 1"):
        kdef.full_shape({"k": 0})
    with pytest.raises(ValueError, match="no variant"):
        registry.run(kdef, {"m": 2}, "fp16", "4x4", 1, CONFIG)
    with pytest.raises(KeyError):
        registry.get("nope")


def _mcusim(argv, monkeypatch):
    from mcusim.cli import main
    return main(argv)


def test_cli_list_and_run(monkeypatch, capsys):
    assert _mcusim(["kernel", "--list"], monkeypatch) == 0
    listing = capsys.readouterr().out
    assert "matmul:" in listing and "matmul_bt:" in listing and "simd_4x6" in listing and "--m 64" in listing
    code = _mcusim(["kernel", "matmul", "--m", "9", "--n", "5", "--k", "7", "--cores", "3", "--dtype", "fp16",
                    "--json", "-"], monkeypatch)
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert code == 0 and doc["correct"] is True
    assert doc["kernel"] == "matmul" and doc["dtype"] == "fp16" and doc["cores"] == 3
    assert doc["macs"] == 9 * 5 * 7 and doc["variant"] in FP16_B_VARIANTS
    assert doc["mac_per_clk"] == pytest.approx(doc["macs"] / doc["cycles"], rel=1e-3)
    assert doc["instret"] == sum(p["instret"] for p in doc["per_core"])
    assert "MAC/clk" in captured.err and "correct" in captured.err


def test_cli_wrong_result_exits_1(monkeypatch, capsys):
    kdef = registry.get("matmul")
    monkeypatch.setattr(kdef, "check", lambda *a: Check(False, 1.0, 0.0, "forced failure"))
    assert _mcusim(["kernel", "matmul", "--m", "2", "--n", "2", "--k", "2", "--cores", "1", "-q"],
                   monkeypatch) == 1


@pytest.mark.parametrize("argv, message", [
    (["kernel", "nope"], "unknown kernel"),
    (["kernel", "matmul", "--variant", "9x9"], "no variant"),
    (["kernel", "matmul", "--m", "0"], "m must be >= 1"),
    (["kernel", "matmul", "--m", "400", "--n", "400", "--k", "400"], "TCDM"),
    (["kernel"], "name a kernel"),
])
def test_cli_bad_arguments_exit_2_in_one_line(argv, message, monkeypatch, capsys):
    assert _mcusim(argv, monkeypatch) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_progress_reports_cycles_of_a_long_kernel_run(monkeypatch, capsys):
    # --progress prints plain lines (stderr is not a terminal here) with the cycles simulated, and the
    # result is the same as without it; lines every tick rather than every 2 s, for a short test
    from mcusim.simulator import progress
    monkeypatch.setattr(progress, "PLAIN_EVERY", 0.0)
    monkeypatch.setattr(progress, "FIRST_PLAIN", 0.0)
    monkeypatch.setitem(progress.TICK, "py", 1 << 10)
    argv = ["kernel", "matmul", "--m", "16", "--n", "16", "--k", "16", "--dtype", "fp32", "--engine", "py",
            "--json", "-", "-q"]
    assert _mcusim(argv + ["--progress"], monkeypatch) == 0
    captured = capsys.readouterr()
    assert "cycles simulated" in captured.err
    with_progress = json.loads(captured.out)
    assert _mcusim(argv, monkeypatch) == 0
    captured = capsys.readouterr()
    assert "cycles simulated" not in captured.err
    assert json.loads(captured.out)["cycles"] == with_progress["cycles"]
