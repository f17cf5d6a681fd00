"""bfloat16 in the kernel library: the numpy bfloat16 emulation (kernels_asm.dtypes, the matmul checks'
FMA rounding) against an exact oracle, every bf16 matmul variant bit-exact against the emulation of
its rounding sequence on awkward shapes, every other kernel registered for bf16 checked by its own
rule, the instructions the bf16 programs use, the ISA-profile fallback, and both engines."""
from __future__ import annotations

import random
import re
from fractions import Fraction

import numpy as np
import pytest

from mcusim.isa.profiles import extensions_of_source
from mcusim.kernels_asm.dtypes import DTYPES
from mcusim.kernels_asm.kernels import registry
from mcusim.kernels_asm.kernels.matmul_fp16 import HALF_VARIANTS, _check_fp16, fma_round
from mcusim.simulator.config import load_config
from tests.test_bf16 import RNE, encode_bf16, round_to_bf16, value
from tests.test_kernels_matmul import SHAPES

CONFIG = load_config()
BF16 = DTYPES["bf16"]
B_VARIANTS, BT_VARIANTS = HALF_VARIANTS["bf16"]


def _oracle(x: Fraction) -> float:
    """Exact value -> bfloat16 (round to nearest even, test_bf16's Fraction oracle) -> float."""
    if x == 0:
        return 0.0
    bits, _ = round_to_bf16(x, RNE)
    v = value(bits)
    return float(v) if not isinstance(v, str) else (np.inf if v == "inf" else -np.inf)


def test_round_matches_the_exact_oracle():
    rng = random.Random(1)
    xs = [1 + 2 ** -8, 1 + 3 * 2 ** -8, -(1 + 2 ** -8), 2.0 ** -133, 1.5 * 2.0 ** -134, 2.0 ** -134,
          3.3961e38, 3.3962e38, 2.0 ** 127 * (2 - 2 ** -8), 1e-300]
    for _ in range(3000):
        e = rng.choice([rng.randrange(-140, 130), rng.randrange(-5, 5)])
        xs.append(rng.choice([-1, 1]) * rng.random() * 2.0 ** e)
        # exact midpoints between two bfloat16 values, and one float64 ulp either side
        m = (rng.randrange(128, 256) * 2 + 1) * 2.0 ** rng.randrange(-140, 110)
        xs += [m, np.nextafter(m, 0), np.nextafter(m, np.inf)]
    got = BF16.round64(np.array(xs))
    want = np.array([_oracle(Fraction(x)) for x in xs])
    assert np.array_equal(got, want), [(x, g, w) for x, g, w in zip(xs, got, want) if g != w][:5]
    # the memory words round-trip and every value is a bfloat16 (low 16 bits of the float32 zero)
    bits = BF16.to_bits(np.array(xs))
    assert np.array_equal(BF16.from_bits(bits).astype(np.float64), want)
    assert not (BF16.round(np.array(xs)).view(np.uint32) & 0xFFFF).any()


def test_fma_round_is_one_correct_rounding():
    """round(acc + prod) with the tie decided by the part of the sum a float64 loses."""
    rng = np.random.default_rng(2)
    # a product on a bfloat16 midpoint plus a tiny accumulator: the float64 sum is the midpoint itself
    acc = np.array([2.0 ** -60, -2.0 ** -60, 0.0, 2.0 ** -60])
    prod = np.array([1 + 2 ** -8, 1 + 2 ** -8, 1 + 2 ** -8, 1 + 3 * 2 ** -8])
    assert list(fma_round(BF16, acc, prod)) == [1 + 2 ** -7, 1.0, 1.0, 1 + 2 ** -6]
    a = BF16.round64(rng.standard_normal(4000))
    b = BF16.round64(rng.standard_normal(4000))
    c = BF16.round64(rng.standard_normal(4000) * 2.0 ** rng.integers(-40, 40, 4000))
    got = fma_round(BF16, c, a * b)
    want = [_oracle(Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z))) for x, y, z in zip(a, b, c)]
    assert np.array_equal(got, want)


def _cases():
    out = []
    for vi, name in enumerate(B_VARIANTS):
        out.append(pytest.param("matmul", name, [SHAPES[(vi + j) % len(SHAPES)] for j in range(3)],
                                id=f"matmul-{name}"))
    for vi, name in enumerate(BT_VARIANTS):
        out.append(pytest.param("matmul_bt", name, [SHAPES[(vi + 2 * j + 1) % len(SHAPES)] for j in range(3)],
                                id=f"matmul_bt-{name}"))
    return out


@pytest.mark.parametrize("kernel, variant, shapes", _cases())
def test_matmul_variants_match_their_rounding_sequence(kernel, variant, shapes):
    kdef = registry.get(kernel)
    for seed, (m, n, k, cores) in enumerate(shapes):
        out = registry.run(kdef, {"m": m, "n": n, "k": k}, "bf16", variant, cores, CONFIG, seed=seed, engine="c")
        assert out.check.ok, f"{kernel} {variant} {m}x{n}x{k} on {cores}: {out.check.detail}"
        assert out.check.bound == 0.0 or re.search(r"\b0 of \d+ elements not bit-exact", out.check.detail), \
            out.check.detail
        inputs = kdef.inputs(out.shape, "bf16", np.random.default_rng(seed))
        ref = kdef.reference(inputs, out.shape, "bf16", variant)["C"]
        assert np.array_equal(ref.view(np.uint32), out.run.outputs["C"].view(np.uint32))


def test_check_rejects_a_one_ulp_error_and_the_fp16_emulation():
    rng = np.random.default_rng(3)
    a, b = BF16.round(rng.uniform(-1, 1, (6, 40))), BF16.round(rng.uniform(-1, 1, (40, 5)))
    v = B_VARIANTS["simd_2x4"]
    good = BF16.round(fma_chain(a, b))
    assert _check_fp16(a, b, good, v).ok
    bad = good.copy()
    bad[2, 3] = BF16.from_bits(BF16.to_bits(bad[2, 3]) + 1)
    assert not _check_fp16(a, b, bad, v).ok
    # the FP16 emulation of the same products is a different result
    assert not _check_fp16(a, b, good, HALF_VARIANTS["fp16"][0]["simd_2x4"]).ok


def fma_chain(a, b):
    acc = np.zeros((a.shape[0], b.shape[1]))
    for i in range(a.shape[1]):
        acc = fma_round(BF16, acc, np.outer(a[:, i].astype(np.float64), b[i].astype(np.float64)))
    return acc


# Small shapes for every other kernel (the defaults where they are small already).
SMALL = {"conv2d_fw": {"ci": 3, "co": 5, "h": 6, "w": 7}, "conv2d_wg": {"ci": 3, "co": 5, "h": 6, "w": 7},
         "conv2d_ig": {"ci": 3, "co": 5, "h": 6, "w": 7, "s": 2}, "depthwise_fw": {"c": 3, "h": 7, "w": 6},
         "depthwise_wg": {"c": 3, "h": 7, "w": 7}, "depthwise_ig": {"c": 3, "h": 6, "w": 7},
         "relu": {"n": 37}, "relu_bwd": {"n": 37}, "add": {"n": 37}, "sgd": {"n": 37}, "cast": {"n": 37},
         "mse": {"n": 11}, "crossentropy": {"n": 11}}


def _kernel_cases():
    out = []
    for kdef in registry.all_kernels():
        if kdef.name in ("matmul", "matmul_bt") or "bf16" not in kdef.dtypes:
            continue
        for variant in kdef.variants["bf16"]:
            out.append(pytest.param(kdef.name, variant, id=f"{kdef.name}-{variant}"))
    return out


@pytest.mark.parametrize("name, variant", _kernel_cases())
def test_every_bf16_kernel_is_correct(name, variant):
    kdef = registry.get(name)
    out = registry.run(kdef, SMALL.get(name), "bf16", variant, 3, CONFIG, seed=1, engine="c")
    assert out.check.ok, f"{name} {variant}: {out.check.detail}"
    source = kdef.build(out.shape, "bf16", variant, 3).source()
    ext = extensions_of_source(source)
    assert not ext & {"Xfvec", "Xfaux"}, f"{name} {variant} uses FP16 instructions: {ext}"
    mnemonics = set(re.findall(r"^\s*([a-z][a-z0-9.]*)\s", source, re.M))
    fp16_ops = {m for m in mnemonics if ".h" in m and not m.startswith("pv.")}
    assert fp16_ops <= {"fmv.h.x"}, fp16_ops     # moves are shared with Zfh (isa/ext/xf16alt.py)


def test_the_library_covers_what_a_training_step_needs():
    names = {k.name for k in registry.all_kernels() if "bf16" in k.dtypes}
    for need in ("matmul", "matmul_bt", "im2col", "im2col_grad", "transpose", "block_transpose",
                 "conv2d_fw", "conv2d_wg", "conv2d_ig", "pointwise_fw", "pointwise_wg", "pointwise_ig",
                 "depthwise_fw", "depthwise_wg", "depthwise_ig", "linear_fw", "linear_wg", "linear_ig",
                 "relu", "relu_bwd", "add", "sgd", "maxpool", "avgpool", "maxpool_bwd", "avgpool_bwd",
                 "mse", "crossentropy", "cast"):
        assert need in names


def test_profile_without_the_bf16_dot_product_picks_another_variant():
    """core.extensions = pulp (no Xfauxalt): matmul_bt's default (vfdotpex.s.ah) is not allowed, the
    library takes a variant the profile holds and the result is still right."""
    cfg = load_config()
    pulp = load_config(overrides={"core": {"extensions": "pulp"}})
    kdef = registry.get("matmul_bt")
    shape = {"m": 6, "n": 5, "k": 9}
    default = registry.run(kdef, shape, "bf16", None, 4, cfg, engine="c")
    assert "vfdotpex.s.ah" in kdef.build(default.shape, "bf16", default.variant, 4).source()
    out = registry.run(kdef, shape, "bf16", None, 4, pulp, engine="c")
    assert out.check.ok and "vfdotpex" not in kdef.build(out.shape, "bf16", out.variant, 4).source()
    with pytest.raises(ValueError, match="Xfauxalt"):
        registry.run(kdef, shape, "bf16", "simd_4x4", 4, pulp, engine="c")


def test_both_engines_run_bf16_kernels_identically():
    for name, variant, shape in (("conv2d_fw", "ab", {"ci": 2, "co": 3, "h": 5, "w": 6}),
                                 ("depthwise_wg", "simd", {"c": 2, "h": 5, "w": 6}),
                                 ("matmul_bt", "simd_2x4", {"m": 5, "n": 6, "k": 7})):
        kdef = registry.get(name)
        c = registry.run(kdef, shape, "bf16", variant, 4, CONFIG, seed=5, engine="c")
        py = registry.run(kdef, shape, "bf16", variant, 4, CONFIG, seed=5, engine="py")
        assert c.run.cycles == py.run.cycles and c.run.instret == py.run.instret
        for key in c.run.outputs:
            assert np.array_equal(c.run.outputs[key].view(np.uint32), py.run.outputs[key].view(np.uint32))
