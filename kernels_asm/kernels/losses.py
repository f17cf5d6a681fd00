"""Losses for one sample: mean squared error and cross-entropy with softmax, value and gradient.
Every dtype computes in FP32 (FP16 / bfloat16 inputs are widened exactly with fcvt.s.h / fcvt.s.ah;
the gradient is rounded once to the 16-bit format with fcvt.h.s / fcvt.ah.s; the loss value is always an
FP32 scalar): the losses are tiny next to
the layers, and FP16 exp/log/division would lose the accuracy the training step needs.

`mse`: L = (1/N) sum (y - t)^2, dY = (2/N) (y - t). Each core: d = y - t (fsub.s), its partial sum
with fmadd.s, the gradient d * fl(2/N); partial sums go to a scratch row, and after a barrier core 0
adds them in core order and multiplies by fl(1/N).

`crossentropy`: p = softmax(z), L = -sum t log p = T log S - sum t (z - m) with m = max z,
S = sum exp(z - m), T = sum t; dZ = p - t. Three parallel steps separated by barriers: (1) partial
maxima; (2) every core reduces the maxima, computes e = exp(z - m) for its slice (kept in FP32
scratch), partial sums of e, of t (z - m) and of t; (3) every core reduces the sums in core order
(all get the same S), p = e * fl(1/S) (one fdiv.s per core), dZ = p - t; core 0 computes
log S and the loss.

exp(x), x <= 0 (after the max subtraction): x is clamped to >= -104 (exp(-104) is far below the
FP32 range); n = round(x * log2 e) (fcvt.w.s, round to nearest even), clamped to >= -127;
r = x - n ln2_hi - n ln2_lo (Cody-Waite, ln2_hi = 0x3f317200 has 8 trailing zero bits so n * ln2_hi
is exact, two fnmsub.s); p(r) = sum_{k<=7} r^k / k! by Horner (fmadd.s), |r| <= ln2/2 so the
truncation error r^8/8! < 5.3e-9; the result is p * 2^n with 2^n built in the exponent field
((n + 127) << 23), so n = -127 gives exactly 0 (results below 2^-126 are flushed to zero, an absolute
error below 1.2e-38). Measured against float64 exp over [-104, 0]: relative error 6.7e-8
(about 1.1 ulp; tests/test_kernels_layers.py checks 4,000 points); the checks use EXP_REL = 2e-7.
log(S), S >= 1: S = 2^e m with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(f), f = (m-1)/(m+1),
|f| <= 0.1716, series to f^9 (truncation < 4e-10), log S = e ln2 + log m.

Checks (registry; the tests also emulate exactly where the order is known):
- MSE gradient: bit-exact (fl(fl(y - t) * fl(2/N)), then FP16 rounding for FP16). Loss: all terms
  are non-negative, so |L - L_exact| <= (N + cores + 3) u L_exact with u = 2^-24 (cores <= 8).
- Cross-entropy gradient: |dz - (p - t)| <= (2 EXP_REL + (N + 6) u) p + u (p + |t|) (+ half an
  FP16 ulp of dz for FP16 outputs); loss: |L - L64| <= T (EXP_REL + (N + 8) u) +
  (N + 16) u (T |log S| + sum |t (z - m)|), from the error of each step (Higham-style bounds).
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from mcusim.kernels_asm.dtypes import DTYPES, FLOAT_DTYPES
from mcusim.kernels_asm.kernels.harness import KernelProgram, Tensor
from mcusim.kernels_asm.kernels.layers_elementwise import emit_stream
from mcusim.kernels_asm.kernels.registry import Check, KernelDef, Param, register
from mcusim.kernels_asm.kernels.transforms import ESIZE, Asm, random_tensor

U32 = 2.0 ** -24
EXP_REL = 2e-7
LN2_HI = 0x3F317200
LN2_LO = 0x35BFBE8E
LOG2E = 0x3FB8AA3B
SQRT2 = 0x3FB504F3
ONE = 0x3F800000
MAX_CORES = 8


def _f32bits(x: float) -> int:
    return int(np.float32(x).view(np.uint32))


def _fconst(a: Asm, freg: str, bits: int) -> None:
    a.li("t6", bits)
    a("fmv.w.x", freg, "t6")


def _load(a: Asm, dtype: str, freg: str, addr: str) -> None:
    """freg = the FP32 value of one element at addr."""
    if dtype == "fp32":
        a("flw", freg, addr)
    else:
        a("flh", freg, addr)
        a(f"fcvt.s.{DTYPES[dtype].suffix}", freg, freg)


def _store(a: Asm, dtype: str, freg: str, addr: str, tmp: str) -> None:
    if dtype == "fp32":
        a("fsw", freg, addr)
    else:
        a(f"fcvt.{DTYPES[dtype].suffix}.s", tmp, freg)
        a("fsh", tmp, addr)


def _interleave(a: Asm, lanes: list[list[tuple]]) -> None:
    """Emit several independent instruction lists alternately (hides FPU and load latencies)."""
    longest = max(len(x) for x in lanes)
    for i in range(longest):
        for lane in lanes:
            if i < len(lane):
                a(*lane[i])


# ------------------------------------------------------------------------------------------------
# MSE
# ------------------------------------------------------------------------------------------------

def mse_program(n: int, dtype: str, cores: int, norm: int | None = None) -> KernelProgram:
    """MSE over n elements: DY = 2 (Y - T) / N, LOSS = sum (Y - T)^2 / N, with N = `norm` (default n;
    a block of a larger tensor passes the whole tensor's size, its LOSS is then a partial sum)."""
    a = Asm("mse")
    es = ESIZE[dtype]
    sfx = DTYPES[dtype].suffix
    N = norm or n
    a("mv", "s11", "a0")
    _fconst(a, "f31", _f32bits(2.0 / N))
    a("fmv.w.x", "f30", "zero")            # this core's partial sum

    def group(ks: list[int]) -> None:
        lanes = []
        for k in ks:
            y, t, g = f"f{4 * k}", f"f{4 * k + 1}", f"f{4 * k + 2}"
            ops: list[tuple] = []
            if dtype == "fp32":
                ops += [("flw", y, f"{4 * k}(a1)"), ("flw", t, f"{4 * k}(a2)")]
            else:
                ops += [("flh", y, f"{2 * k}(a1)"), ("flh", t, f"{2 * k}(a2)"),
                        (f"fcvt.s.{sfx}", y, y), (f"fcvt.s.{sfx}", t, t)]
            ops += [("fsub.s", y, y, t), ("fmul.s", g, y, "f31")]
            ops += [("fsw", g, f"{4 * k}(a3)")] if dtype == "fp32" else \
                [(f"fcvt.{sfx}.s", g, g), ("fsh", g, f"{2 * k}(a3)")]
            lanes.append(ops)
        _interleave(a, lanes)
        for k in ks:                          # the partial sum in element order
            a("fmadd.s", "f30", f"f{4 * k}", f"f{4 * k}", "f30")
    emit_stream(a, n, cores, [("a1", "Y", es), ("a2", "T", es), ("a3", "DY", es)], group, unroll=2)
    a("slli", "t0", "s11", 2)
    a.li("t1", "RED")
    a("add", "t1", "t1", "t0")
    a("fsw", "f30", "0(t1)")
    a("barrier")
    skip = a.fresh("notzero")
    a("bnez", "s11", skip)
    a.li("t1", "RED")
    a("flw", "f0", "0(t1)")
    for c in range(1, cores):
        a("flw", "f1", f"{4 * c}(t1)")
        a("fadd.s", "f0", "f0", "f1")
    _fconst(a, "f2", _f32bits(1.0 / N))
    a("fmul.s", "f0", "f0", "f2")
    a.li("t1", "LOSS")
    a("fsw", "f0", "0(t1)")
    a.label(skip)
    return KernelProgram("mse", a.source(), [
        Tensor("Y", (n,), dtype), Tensor("T", (n,), dtype), Tensor("DY", (n,), dtype, role="output"),
        Tensor("LOSS", (1,), "fp32", role="output"), Tensor("RED", (MAX_CORES,), "fp32", role="scratch")])


def mse_grad_ref(y: np.ndarray, t: np.ndarray, dtype: str | None = None) -> np.ndarray:
    """fl(fl(y - t) * fl(2/N)) in FP32, then rounded to the dtype (bit-exact; `dtype` names the format
    when y is a float32 array of bfloat16 values)."""
    d = y.astype(np.float32) - t.astype(np.float32)
    g = d * np.float32(2.0 / y.size)
    return DTYPES[dtype].round(g.astype(np.float64)) if dtype else g.astype(y.dtype)


def mse_loss_ref(y: np.ndarray, t: np.ndarray, cores: int) -> np.float32:
    """The kernel's exact FP32 sequence for `cores` cores (partial sums with fmadd.s; the FMA of
    an FP32 square and an FP32 sum, evaluated in float64 and rounded once, is exact except in the
    double-rounding corner, which the tests' random data do not hit; see mse_check for the bound)."""
    d = (y.astype(np.float32) - t.astype(np.float32)).astype(np.float64)
    n = y.size
    q, r = divmod(n, cores)
    parts = []
    lo = 0
    for c in range(cores):
        hi = lo + q + (1 if c < r else 0)
        acc = np.float32(0)
        for i in range(lo, hi):
            acc = np.float32(float(acc) + d[i] * d[i])
        parts.append(acc)
        lo = hi
    total = parts[0]
    for p in parts[1:]:
        total = np.float32(total + p)
    return np.float32(total * np.float32(1.0 / n))


def mse_check(inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray], dtype: str | None = None) -> Check:
    y, t = inputs["Y"], inputs["T"]
    g = mse_grad_ref(y, t, dtype)
    out_g = outputs["DY"]
    if not np.array_equal(out_g.view(np.uint16 if out_g.dtype == np.float16 else np.uint32),
                          g.view(np.uint16 if g.dtype == np.float16 else np.uint32)):
        i = int(np.argmax(out_g != g))
        return Check(False, float(np.max(np.abs(out_g.astype(np.float64) - g))), 0.0,
                     f"DY not bit-exact at {i}: {out_g[i]} vs {g[i]}")
    d64 = y.astype(np.float64) - t.astype(np.float64)
    exact = float(np.mean(d64 * d64))
    loss = float(outputs["LOSS"][0])
    bound = (y.size + MAX_CORES + 3) * U32 * exact
    err = abs(loss - exact)
    return Check(err <= bound, err, bound, "DY bit-exact; |L - L64| <= (N + 11) u L64")


# ------------------------------------------------------------------------------------------------
# Cross-entropy with softmax
# ------------------------------------------------------------------------------------------------

# f registers: constants f20..f31; lane k works in f(8k)..f(8k+7); accumulators f16..f19
C_LOG2E, C_HI, C_LO, C_ONE, C_XMIN, C_MAX = "f20", "f21", "f22", "f23", "f24", "f31"
C_POLY = ["f25", "f26", "f27", "f28", "f29", "f30"]        # 1/7! .. 1/2!
ACC_S, ACC_A, ACC_T = "f16", "f17", "f18"


def exp_consts(a: Asm) -> None:
    """The constants exp_ops reads (f20-f30); exp_ops also needs s10 = -127."""
    _fconst(a, C_LOG2E, LOG2E)
    _fconst(a, C_HI, LN2_HI)
    _fconst(a, C_LO, LN2_LO)
    _fconst(a, C_ONE, ONE)
    _fconst(a, C_XMIN, _f32bits(-104.0))
    for reg, k in zip(C_POLY, range(7, 1, -1)):
        _fconst(a, reg, _f32bits(1.0 / math.factorial(k)))


def exp_ops(x: str, out: str, f: list[str], t: str) -> list[tuple]:
    """exp(x) for x <= 0 into `out` (see the module docstring); f: 3 scratch f registers, t: an
    integer scratch register. Returns the instruction list (for interleaving)."""
    r, p, fn = f
    return [
        ("fmax.s", r, x, C_XMIN),                  # x itself stays (the loss needs z - m)
        ("fmul.s", fn, r, C_LOG2E),
        ("fcvt.w.s", t, fn, "rne"),
        ("p.max", t, t, "s10"),                    # s10 = -127
        ("fcvt.s.w", fn, t),
        ("fnmsub.s", r, fn, C_HI, r),              # x - n*ln2_hi (exact product)
        ("fnmsub.s", r, fn, C_LO, r),
        ("fmadd.s", p, C_POLY[0], r, C_POLY[1]),   # Horner: 1/7! r + 1/6!, ...
        ("fmadd.s", p, p, r, C_POLY[2]),
        ("fmadd.s", p, p, r, C_POLY[3]),
        ("fmadd.s", p, p, r, C_POLY[4]),
        ("fmadd.s", p, p, r, C_POLY[5]),
        ("fmadd.s", p, p, r, C_ONE),
        ("fmadd.s", p, p, r, C_ONE),
        ("addi", t, t, 127),
        ("slli", t, t, 23),
        ("fmv.w.x", fn, t),                        # 2^n (0 for n = -127)
        ("fmul.s", out, p, fn),
    ]


def _log_ops(a: Asm, s: str, out: str) -> None:
    """out = log(s) for s >= 1 (see the module docstring); uses f0-f7, t0-t4."""
    a("fmv.x.w", "t0", s)
    a("srli", "t1", "t0", 23)
    a("addi", "t1", "t1", -127)                    # e
    a.li("t2", 0x007FFFFF)
    a("and", "t0", "t0", "t2")
    a.li("t2", ONE)
    a("or", "t0", "t0", "t2")                      # m in [1, 2)
    a.li("t2", SQRT2)
    a("slt", "t3", "t2", "t0")                     # m > sqrt(2): halve m, e += 1
    a("slli", "t4", "t3", 23)
    a("sub", "t0", "t0", "t4")
    a("add", "t1", "t1", "t3")
    a("fmv.w.x", "f0", "t0")
    a("fsub.s", "f1", "f0", C_ONE)
    a("fadd.s", "f2", "f0", C_ONE)
    a("fdiv.s", "f1", "f1", "f2")                  # f
    a("fmul.s", "f2", "f1", "f1")                  # f^2
    _fconst(a, "f3", _f32bits(1 / 9))
    for k in (7, 5, 3):
        _fconst(a, "f4", _f32bits(1 / k))
        a("fmadd.s", "f3", "f3", "f2", "f4")
    a("fmadd.s", "f3", "f3", "f2", C_ONE)
    a("fmul.s", "f3", "f3", "f1")
    a("fadd.s", "f3", "f3", "f3")                  # log m = 2 f (1 + f^2/3 + ...)
    a("fcvt.s.w", "f4", "t1")
    _fconst(a, "f5", _f32bits(math.log(2)))
    a("fmadd.s", out, "f4", "f5", "f3")


def crossentropy_program(n: int, dtype: str, cores: int) -> KernelProgram:
    a = Asm("ce")
    es = ESIZE[dtype]
    a("mv", "s11", "a0")
    a.li("s10", -127)
    exp_consts(a)
    # step 1: partial maxima
    _fconst(a, C_MAX, 0xFF800000)                  # -inf

    def gmax(ks: list[int]) -> None:
        for k in ks:
            _load(a, dtype, f"f{k}", f"{es * k}(a1)")
        for k in ks:
            a("fmax.s", C_MAX, C_MAX, f"f{k}")
    emit_stream(a, n, cores, [("a1", "Z", es)], gmax, unroll=2)
    a("slli", "s9", "s11", 2)
    a.li("s8", "RED")
    a("add", "s8", "s8", "s9")                     # s8 = &RED[0][core]
    a("fsw", C_MAX, "0(s8)")
    a("barrier")
    # step 2: m, e = exp(z - m), partial sums
    a.li("t1", "RED")
    a("flw", C_MAX, "0(t1)")
    for c in range(1, cores):
        a("flw", "f0", f"{4 * c}(t1)")
        a("fmax.s", C_MAX, C_MAX, "f0")
    for acc in (ACC_S, ACC_A, ACC_T):
        a("fmv.w.x", acc, "zero")
    a("mv", "a0", "s11")

    def gexp(ks: list[int]) -> None:
        lanes = []
        for k in ks:
            z, tt, e = f"f{8 * k}", f"f{8 * k + 1}", f"f{8 * k + 2}"
            ops = [("flw", z, f"{4 * k}(a1)") if dtype == "fp32" else ("flh", z, f"{2 * k}(a1)")]
            ops += [] if dtype == "fp32" else [(f"fcvt.s.{DTYPES[dtype].suffix}", z, z)]
            ops += [("fsub.s", z, z, C_MAX)]
            ops += exp_ops(z, e, [f"f{8 * k + 3}", f"f{8 * k + 4}", f"f{8 * k + 5}"], f"t{k}")
            ops += [("fsw", e, f"{4 * k}(a3)")]
            lanes.append(ops)
        _interleave(a, lanes)
        for k in ks:
            z, tt, e = f"f{8 * k}", f"f{8 * k + 1}", f"f{8 * k + 2}"
            _load(a, dtype, tt, f"{es * k}(a2)")
        for k in ks:                               # partial sums in element order
            z, tt, e = f"f{8 * k}", f"f{8 * k + 1}", f"f{8 * k + 2}"
            a("fadd.s", ACC_S, ACC_S, e)
            a("fmadd.s", ACC_A, tt, z, ACC_A)
            a("fadd.s", ACC_T, ACC_T, tt)
    emit_stream(a, n, cores, [("a1", "Z", es), ("a2", "T", es), ("a3", "E", 4)], gexp, unroll=2)
    a("fsw", ACC_S, f"{4 * MAX_CORES}(s8)")
    a("fsw", ACC_A, f"{8 * MAX_CORES}(s8)")
    a("fsw", ACC_T, f"{12 * MAX_CORES}(s8)")
    a("barrier")
    # step 3: S, 1/S, dZ = e/S - t; core 0: the loss
    a.li("t1", "RED")
    a("flw", ACC_S, f"{4 * MAX_CORES}(t1)")
    for c in range(1, cores):
        a("flw", "f0", f"{4 * MAX_CORES + 4 * c}(t1)")
        a("fadd.s", ACC_S, ACC_S, "f0")
    a("fdiv.s", "f19", C_ONE, ACC_S)               # 1/S
    a("mv", "a0", "s11")

    def gsoft(ks: list[int]) -> None:
        for k in ks:
            a("flw", f"f{2 * k}", f"{4 * k}(a3)")
            _load(a, dtype, f"f{2 * k + 1}", f"{es * k}(a2)")
        for k in ks:
            a("fmul.s", f"f{2 * k}", f"f{2 * k}", "f19")
        for k in ks:
            a("fsub.s", f"f{2 * k}", f"f{2 * k}", f"f{2 * k + 1}")
        for k in ks:
            _store(a, dtype, f"f{2 * k}", f"{es * k}(a4)", f"f{2 * k + 8}")
    emit_stream(a, n, cores, [("a2", "T", es), ("a3", "E", 4), ("a4", "DZ", es)], gsoft, unroll=2)
    skip = a.fresh("notzero")
    a("bnez", "s11", skip)
    a.li("t5", "RED")
    for acc, row in ((ACC_A, 2), (ACC_T, 3)):
        a("flw", acc, f"{4 * MAX_CORES * row}(t5)")
        for c in range(1, cores):
            a("flw", "f0", f"{4 * MAX_CORES * row + 4 * c}(t5)")
            a("fadd.s", acc, acc, "f0")
    _log_ops(a, ACC_S, "f6")
    a("fmsub.s", "f6", ACC_T, "f6", ACC_A)         # T log S - A
    a.li("t5", "LOSS")
    a("fsw", "f6", "0(t5)")
    a.label(skip)
    return KernelProgram("crossentropy", a.source(), [
        Tensor("Z", (n,), dtype), Tensor("T", (n,), dtype), Tensor("DZ", (n,), dtype, role="output"),
        Tensor("LOSS", (1,), "fp32", role="output"), Tensor("E", (n,), "fp32", role="scratch"),
        Tensor("RED", (4, MAX_CORES), "fp32", role="scratch")])


def softmax_ce_ref(z: np.ndarray, t: np.ndarray) -> tuple[float, np.ndarray, dict]:
    """float64 loss, gradient p - t and the quantities the bounds use."""
    z64, t64 = z.astype(np.float64), t.astype(np.float64)
    m = z64.max()
    e = np.exp(z64 - m)
    s = e.sum()
    p = e / s
    loss = float(t64.sum() * math.log(s) - np.sum(t64 * (z64 - m)))
    return loss, p - t64, {"p": p, "logS": math.log(s), "T": float(t64.sum()),
                           "A_abs": float(np.sum(np.abs(t64 * (z64 - m))))}


def crossentropy_check(inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray],
                       dtype: str | None = None) -> Check:
    z, t = inputs["Z"], inputs["T"]
    n = z.size
    loss64, g64, q = softmax_ce_ref(z, t)
    p, t64 = q["p"], t.astype(np.float64)
    bound_g = (2 * EXP_REL + (n + 6) * U32) * p + U32 * (p + np.abs(t64))
    out_g = outputs["DZ"].astype(np.float64)
    half = dtype if dtype else ("fp16" if z.dtype == np.float16 else None)
    if half and half != "fp32":    # plus the final rounding of the FP32 value to 16 bits (half an ulp)
        top = np.abs(g64) + bound_g
        bound_g = bound_g + DTYPES[half].ulp(top) / 2
    err_g = np.abs(out_g - g64)
    bound_l = q["T"] * (EXP_REL + (n + 8) * U32) + (n + 16) * U32 * (q["T"] * abs(q["logS"]) + q["A_abs"])
    err_l = abs(float(outputs["LOSS"][0]) - loss64)
    ok = bool(np.all(err_g <= bound_g)) and err_l <= bound_l
    detail = f"|dz - (p - t)| within the step bound; |L - L64| = {err_l:.3g} <= {bound_l:.3g}"
    if not ok:
        i = int(np.argmax(err_g - bound_g))
        detail = f"dz[{i}] = {out_g[i]!r} vs {g64[i]!r} (bound {bound_g[i]:.3g}); loss {outputs['LOSS'][0]!r} vs {loss64!r}"
    return Check(ok, max(float(err_g.max()), err_l), max(float(bound_g.max()), bound_l), detail)


# ------------------------------------------------------------------------------------------------
# Registry
# ------------------------------------------------------------------------------------------------

def _mse_inputs(shape: dict, dtype: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = shape["n"]
    return {"Y": random_tensor(rng, (n,), dtype), "T": random_tensor(rng, (n,), dtype)}


def _ce_inputs(shape: dict, dtype: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = shape["n"]
    z = DTYPES[dtype].round(rng.standard_normal(n) * 3)
    t = np.zeros(n, z.dtype)
    t[rng.integers(0, n)] = 1                      # one-hot target
    return {"Z": z, "T": t}


register(KernelDef(
    name="mse", description="mean squared error loss (FP32 value) and its gradient 2 (y - t) / N",
    dtypes=FLOAT_DTYPES, variants={"fp32": ("fp32",), "fp16": ("fp32_math",), "bf16": ("fp32_math",)},
    params=(Param("n", 10, "elements"),),
    build=lambda shape, dtype, variant, cores: mse_program(shape["n"], dtype, cores),
    inputs=_mse_inputs,
    check=lambda i, o, shape, dtype, variant: mse_check(i, o, dtype),
    macs=lambda shape: 0,
))
register(KernelDef(
    name="crossentropy", description="softmax + cross-entropy loss (FP32 value) and its gradient p - t",
    dtypes=FLOAT_DTYPES, variants={"fp32": ("fp32",), "fp16": ("fp32_math",), "bf16": ("fp32_math",)},
    params=(Param("n", 10, "classes"),),
    build=lambda shape, dtype, variant, cores: crossentropy_program(shape["n"], dtype, cores),
    inputs=_ce_inputs,
    check=lambda i, o, shape, dtype, variant: crossentropy_check(i, o, dtype),
    macs=lambda shape: 0,
))
