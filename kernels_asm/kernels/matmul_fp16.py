"""16-bit (FP16 and bfloat16) matrix-multiplication micro-kernels, and the registry entries `matmul` and
`matmul_bt` (every dtype; the framework and the FP32 family are in matmul_fp32.py).

Data are IEEE half (binary16, dtype fp16) or bfloat16 (dtype bf16, the smallFloat `.ah` instructions)
in memory, row-major; C is written in the same format. Each family below is one class built for a
format (`dtypes.DType`): the bf16 kernels are the FP16 ones with the `.ah` twins of the FP16
instructions, except where bfloat16 has no twin: there is no `fmacex.s.ah`, so the scalar FP32-
accumulator steps (`f16` family, the odd k of `dotp`) widen each loaded operand with the exact
`fcvt.s.ah` and use `fmadd.s` (the same single rounding). The table names the FP16 instructions:

| family | instruction | accumulator | layouts | used by |
|---|---|---|---|---|
| `f16` | `fmacex.s.h` (FP16 x FP16 + FP32, one rounding) | FP32, one per C element | A·B, A·Bᵀ | `naive`, `naive_cols` |
| `vfmac` | `vfmac.r.h` (2 lanes: FP16 vector x broadcast FP16, one rounding per lane) | FP16, 2 columns per register | A·B | `simd_RxW` of `matmul` |
| `dotp` | `vfdotpex.s.h` (2 FP16 products + FP32, one rounding) | FP32, one per C element | A·Bᵀ | `simd_RxW` of `matmul_bt` |

Why two SIMD families. With B row-major (k x n) two adjacent FP16 words of B hold two columns at
one k, so a register can hold two columns of C: `vfmac.r.h acc, B[k][j:j+2], A[i][k]` (A loaded as
one half with flh and broadcast by the .r form). The accumulators are FP16 (as in PULP-TrainLib's
v2f16 kernels). With Bᵀ (n x k) adjacent words hold two k values, so `vfdotpex.s.h acc,
A[i][k:k+2], Bᵀ[j][k:k+2]` sums two products per instruction into an FP32 accumulator; two FP32
results are packed into one FP16 word with `vfcpka.h.s` for the store. A 4x8 block of `vfdotpex`
would need 32 FP32 accumulators, more than the 32 f registers with the operands, so the largest
`dotp` block is 4x6 (24 accumulators + operands = 32 registers); `vfmac` reaches 4x8 with 16
vector accumulators (8 columns = 4 vectors per row).
Leftovers: `vfmac` columns go W, then 2 (one vector), then 1 (scalar `fmadd.h`, the same
rounding as one lane of `vfmac.h`); `dotp` columns go W, then 1; an odd k ends with one
`fmacex.s.h` step (same rounding as `vfdotpex` with one product). Vector loads and stores need
even row strides (in halves) and even column starts: the registry pads the strides; the column
split rounds each core's chunk up to an even count.

Checks (next to the code below): FP32 compares with float64 within the FMA dot-product bound; FP16
emulates the hardware's rounding sequence step by step in numpy and requires bit-exact results
(the FP32-accumulating families allow the double-rounding margin documented at `_emulate_f32acc`).
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import numpy as np

from mcusim.kernels_asm import Builder
from mcusim.kernels_asm.dtypes import DTYPES, HALF_DTYPES, DType
from mcusim.kernels_asm.kernels.harness import KernelProgram, Tensor, padded_stride
from mcusim.kernels_asm.kernels.matmul_fp32 import (
    FP32_VARIANTS,
    Family,
    MatmulSpec,
    Op,
    Operand,
    Step,
    Variant,
    build_micro,
    gen_matmul,
    store,
)
from mcusim.kernels_asm.kernels.registry import Check, KernelDef, Param, register


class HalfFamily(Family):
    """A family of one 16-bit format: `dt` (fp16 or bf16) gives its instructions' suffix."""

    def __init__(self, dt: DType = DTYPES["fp16"]):
        self.dt = dt
        self.s = dt.suffix
        self.instr = self.instr.replace(".h", f".{dt.suffix}")


class F16(HalfFamily):
    """Scalar FP16 operands, FP32 accumulators: flh, fmacex.s.h; fcvt.h.s + fsh to store (bf16: flh,
    fcvt.s.ah, fmadd.s)."""
    name = "f16"
    instr = "fmacex.s.h"
    a_elem = b_elem = c_elem = 2

    def __init__(self, dt: DType = DTYPES["fp16"]):
        super().__init__(dt)
        if dt.name == "bf16":
            self.instr, self.widen = "fmadd.s", "fcvt.s.ah"

    def step(self, r, w, spec, single=False):
        loads = [("flh", f"a{i}", "a", i * spec.a.stride) for i in range(r)]
        if spec.bt:
            loads += [("flh", f"b{j}", "b", j * spec.b.stride) for j in range(w)]
        else:
            loads += [("flh", f"b{j}", "b", 2 * j) for j in range(w)]
        computes = [(self.instr, f"c{i}_{j}", (f"a{i}", f"b{j}")) for i in range(r) for j in range(w)]
        return Step(loads, computes)

    def store(self, r, w, spec, reg, temp):
        ops: list[Op] = []
        for i in range(r):
            for j in range(w):
                t = temp()
                ops.append(Op(f"fcvt.{self.s}.s", (t, reg(f"c{i}_{j}")), (t,), (reg(f"c{i}_{j}"),), "fp"))
                ops.append(store("fsh", t, "c", i * spec.c.stride + 2 * j))
        return ops


class Vfmac(HalfFamily):
    """FP16 vector accumulators (2 columns each): flh A (broadcast), flw B pairs, vfmac.r.h; fsw.
    Width 1 (a last odd column) uses scalar fmadd.h."""
    name = "vfmac"
    instr = "vfmac.r.h"
    a_elem = b_elem = c_elem = 2
    col_align = 2
    layouts = ("b",)

    def word_aligned(self, spec):
        return ("b", "c")

    def widths(self, w):
        return [x for x in (w, 2, 1) if x <= w] if w > 2 else ([2, 1] if w == 2 else [1])

    def accs(self, r, w):
        return [f"c{i}_{j}" for i in range(r) for j in range(max(w // 2, 1))]

    def step(self, r, w, spec, single=False):
        loads = [("flh", f"a{i}", "a", i * spec.a.stride) for i in range(r)]
        if w == 1:
            loads += [("flh", "b0", "b", 0)]
            computes = [(f"fmadd.{self.s}", f"c{i}_0", (f"a{i}", "b0")) for i in range(r)]
        else:
            loads += [("flw", f"b{v}", "b", 4 * v) for v in range(w // 2)]
            computes = [(f"vfmac.r.{self.s}", f"c{i}_{v}", (f"b{v}", f"a{i}")) for i in range(r) for v in range(w // 2)]
        return Step(loads, computes)

    def init(self, acc, w):
        if w == 1:        # a scalar half must be NaN-boxed
            return Op("fmv.h.x", (acc, "zero"), (acc,), (), "fp")
        return Op("fmv.w.x", (acc, "zero"), (acc,), (), "fp")

    def store(self, r, w, spec, reg, temp):
        if w == 1:
            return [store("fsh", reg(f"c{i}_0"), "c", i * spec.c.stride) for i in range(r)]
        return [store("fsw", reg(f"c{i}_{v}"), "c", i * spec.c.stride + 4 * v)
                for i in range(r) for v in range(w // 2)]


class Dotp(HalfFamily):
    """FP32 accumulators, two k per instruction: flw A and Bᵀ pairs, vfdotpex.s.h; an odd last k with
    flh + fmacex.s.h; vfcpka.h.s packs two results for one fsw (fcvt.h.s + fsh for an odd one)."""
    name = "dotp"
    instr = "vfdotpex.s.h"
    ksize = 2
    a_elem = b_elem = c_elem = 2
    col_align = 2
    layouts = ("bt",)

    def word_aligned(self, spec):
        return ("a", "b", "c")

    def __init__(self, dt: DType = DTYPES["fp16"]):
        super().__init__(dt)
        self.single_op = "fmacex.s.h"
        if dt.name == "bf16":
            self.single_op, self.widen = "fmadd.s", "fcvt.s.ah"

    def step(self, r, w, spec, single=False):
        ld = "flh" if single else "flw"
        op = self.single_op if single else self.instr
        loads = [(ld, f"a{i}", "a", i * spec.a.stride) for i in range(r)]
        loads += [(ld, f"b{j}", "b", j * spec.b.stride) for j in range(w)]
        computes = [(op, f"c{i}_{j}", (f"a{i}", f"b{j}")) for i in range(r) for j in range(w)]
        return Step(loads, computes)

    def store(self, r, w, spec, reg, temp):
        ops: list[Op] = []
        for i in range(r):
            base = i * spec.c.stride
            for p in range(w // 2):
                t = temp()
                lo, hi = reg(f"c{i}_{2 * p}"), reg(f"c{i}_{2 * p + 1}")
                ops.append(Op(f"vfcpka.{self.s}.s", (t, lo, hi), (t,), (lo, hi), "fp"))
                ops.append(store("fsw", t, "c", base + 4 * p))
            if w % 2:
                t = temp()
                acc = reg(f"c{i}_{w - 1}")
                ops.append(Op(f"fcvt.{self.s}.s", (t, acc), (t,), (acc,), "fp"))
                ops.append(store("fsh", t, "c", base + 2 * (w - 1)))
        return ops


class TlDot(HalfFamily):
    """PULP-TrainLib's FP16 A·Bᵀ (mm_fp16_SIMD_2x4 with B transposed, the paper-era structure): per
    C element a v2f16 accumulator of FP16 lanes, vfmac.h on word pairs of A and Bᵀ along k (lane 0
    sums the even k, lane 1 the odd k, one rounding per lane and step), then the two lanes added in
    FP16 at the store. No FP32 accumulation and no vfdotpex. An odd last k is one FP16 product
    (flh, fmul.h) added after the lanes (TrainLib adds it into lane 0 first: the same number of
    roundings, in another order). The lane sum goes through integer registers (fmv.x.w, srli,
    fmv.h.x: a vector register's lanes are not NaN-boxed halves), using the last two X_BLOCK
    registers (a0, ra) as temporaries; C is stored one half at a time."""
    name = "tl_dot"
    instr = "vfmac.h"
    ksize = 2
    a_elem = b_elem = c_elem = 2
    layouts = ("bt",)
    TEMPS = ("a0", "ra")

    def word_aligned(self, spec):
        return ("a", "b")

    def accs(self, r, w):
        return [f"c{i}_{j}" for i in range(r) for j in range(w)] + [f"s{i}_{j}" for i in range(r) for j in range(w)]

    def step(self, r, w, spec, single=False):
        ld = "flh" if single else "flw"
        loads = [(ld, f"a{i}", "a", i * spec.a.stride) for i in range(r)]
        loads += [(ld, f"b{j}", "b", j * spec.b.stride) for j in range(w)]
        if single:
            computes = [(f"fmul.{self.s}", f"s{i}_{j}", (f"a{i}", f"b{j}")) for i in range(r) for j in range(w)]
        else:
            computes = [(f"vfmac.{self.s}", f"c{i}_{j}", (f"a{i}", f"b{j}")) for i in range(r) for j in range(w)]
        return Step(loads, computes)

    def store(self, r, w, spec, reg, temp):
        ops: list[Op] = []
        for n, (i, j) in enumerate((i, j) for i in range(r) for j in range(w)):
            x = self.TEMPS[n % 2]
            acc, lo, hi = reg(f"c{i}_{j}"), temp(), temp()
            ops += [Op("fmv.x.w", (x, acc), (x,), (acc,), "fp"),
                    Op("fmv.h.x", (lo, x), (lo,), (x,), "fp"),
                    Op("srli", (x, x, 16), (x,), (x,), "alu"),
                    Op("fmv.h.x", (hi, x), (hi,), (x,), "fp"),
                    Op(f"fadd.{self.s}", (lo, lo, hi), (lo,), (lo, hi), "fp")]
            if spec.k % 2:
                s_acc = reg(f"s{i}_{j}")
                ops.append(Op(f"fadd.{self.s}", (lo, lo, s_acc), (lo,), (lo, s_acc), "fp"))
            ops.append(store("fsh", lo, "c", i * spec.c.stride + 2 * j))
        return ops


def _half_variants(dt: DType) -> tuple[dict[str, Variant], dict[str, Variant]]:
    """The A·B and A·Bᵀ variants of one 16-bit format (help texts name its instructions)."""
    f16, vfmac, dotp, tldot = F16(dt), Vfmac(dt), Dotp(dt), TlDot(dt)
    x = lambda text: text.replace(".h", f".{dt.suffix}").replace("FP16", dt.name.upper()) \
        .replace("scalar fmacex.s.ah", "scalar fcvt.s.ah + fmadd.s")
    b_variants = {
        "naive": Variant("naive", f16, 1, 1, 1, help=x("scalar fmacex.s.h, FP32 accumulator, no unrolling")),
        "naive_cols": Variant("naive_cols", f16, 1, 1, 1, "cols", help="naive, columns of C split over the cores"),
        "simd_2x4": Variant("simd_2x4", vfmac, 2, 4, 2, help=x("vfmac.r.h, FP16 accumulators, 2 rows x 4 columns")),
        "simd_4x8": Variant("simd_4x8", vfmac, 4, 8, 2, help=x("vfmac.r.h, FP16 accumulators, 4 rows x 8 columns")),
        "simd_8x6": Variant("simd_8x6", vfmac, 8, 6, 2, help=x("vfmac.r.h, FP16 accumulators, 8 rows x 6 columns")),
        "simd_1x8_cols": Variant("simd_1x8_cols", vfmac, 1, 8, 2, "cols",
                                 help=x("vfmac.r.h 1x8 blocks, columns of C split over the cores")),
    }
    bt_variants = {
        "naive": Variant("naive", f16, 1, 1, 1, help=x("scalar fmacex.s.h, FP32 accumulator, no unrolling")),
        "naive_cols": Variant("naive_cols", f16, 1, 1, 1, "cols", help="naive, columns of C split over the cores"),
        "simd_2x4": Variant("simd_2x4", dotp, 2, 4, 2, help=x("vfdotpex.s.h, FP32 accumulators, 2 rows x 4 columns")),
        "simd_4x4": Variant("simd_4x4", dotp, 4, 4, 2, help=x("vfdotpex.s.h, FP32 accumulators, 4 rows x 4 columns")),
        "simd_4x6": Variant("simd_4x6", dotp, 4, 6, 2, help=x("vfdotpex.s.h, FP32 accumulators, 4 rows x 6 columns")),
        "simd_1x8_cols": Variant("simd_1x8_cols", dotp, 1, 8, 2, "cols",
                                 help=x("vfdotpex.s.h 1x8 blocks, columns of C split over the cores")),
        "tl_2x4": Variant("tl_2x4", tldot, 2, 4, 1,
                          help=x("PULP-TrainLib style: vfmac.h on k pairs into FP16 lanes, 2 rows x 4 columns, "
                                 "lanes added in FP16 at the store (no vfdotpex)")),
    }
    return b_variants, bt_variants


HALF_VARIANTS: dict[str, tuple[dict[str, Variant], dict[str, Variant]]] = {d: _half_variants(DTYPES[d])
                                                                            for d in HALF_DTYPES}
FP16_B_VARIANTS, FP16_BT_VARIANTS = HALF_VARIANTS["fp16"]
_F16, _VFMAC, _DOTP, _TLDOT = (FP16_B_VARIANTS["naive"].family, FP16_B_VARIANTS["simd_2x4"].family,
                               FP16_BT_VARIANTS["simd_2x4"].family, FP16_BT_VARIANTS["tl_2x4"].family)
MATMUL_DTYPES = ("fp32",) + HALF_DTYPES


def variants(bt: bool, dtype: str) -> dict[str, Variant]:
    if dtype == "fp32":
        return FP32_VARIANTS
    return HALF_VARIANTS[dtype][1 if bt else 0]


@lru_cache(maxsize=None)
def variant_extensions(bt: bool, dtype: str, variant: str) -> frozenset[str]:
    """The ISA extensions a matmul variant's code uses (isa/profiles.py), derived from the code it
    emits for a probe shape with odd m, n and k, so every leftover path (single k step, last column,
    last row) is in it: what `core.extensions` must hold for the variant to run."""
    from mcusim.isa.profiles import extensions_of_source
    return frozenset(extensions_of_source(build({"m": 9, "n": 11, "k": 7}, dtype, variant, 8, bt).source()))


def gen(b: Builder, spec: MatmulSpec, dtype: str, variant: str | None = None) -> Variant:
    """Emit a matmul into `b` for a layer program: `spec` names the operands (symbols and row strides
    in bytes; FP16 SIMD variants need word-aligned bases and strides that are multiples of 4 bytes),
    `variant` defaults to `choose` for the shape. Returns the variant used. Clobbers every register
    but sp; needs no barrier before (put one between dependent steps)."""
    name = variant or choose({"m": spec.m, "n": spec.n, "k": spec.k}, dtype, spec.cores, spec.bt)
    v = variants(spec.bt, dtype)[name]
    gen_matmul(b, spec, v)
    return v


# --- programs for the registry -------------------------------------------------------------------------

def _spec(shape: Mapping[str, int], dtype: str, bt: bool, cores: int) -> MatmulSpec:
    m, n, k = shape["m"], shape["n"], shape["k"]
    size = 4 if dtype == "fp32" else 2
    sa, sb, sc = padded_stride(k, dtype), padded_stride(k if bt else n, dtype), padded_stride(n, dtype)
    return MatmulSpec(m, n, k, Operand("A", sa * size), Operand("B", sb * size), Operand("C", sc * size),
                      bt, cores)


def build(shape: Mapping[str, int], dtype: str, variant: str, cores: int, bt: bool) -> KernelProgram:
    """The registry's program: A, B (or Bᵀ), C with padded row strides (odd word counts, so rows
    start in different banks), A at bank 0, B at bank 5, C at bank 11."""
    spec = _spec(shape, dtype, bt, cores)
    v = variants(bt, dtype)[variant]
    b = Builder()
    plan = gen_matmul(b, spec, v)
    size = 4 if dtype == "fp32" else 2
    m, n, k = spec.m, spec.n, spec.k
    tensors = [Tensor("A", (m, k), dtype, row_stride=spec.a.stride // size),
               Tensor("B", (n, k) if bt else (k, n), dtype, row_stride=spec.b.stride // size, bank=5),
               Tensor("C", (m, n), dtype, role="output", row_stride=spec.c.stride // size, bank=11)]
    return KernelProgram("matmul_bt" if bt else "matmul", b, tensors,
                         meta={"plan": plan, "variant": v})


def make_inputs(shape: Mapping[str, int], dtype: str, rng: np.random.Generator, bt: bool) -> dict:
    m, n, k = shape["m"], shape["n"], shape["k"]
    dt = DTYPES[dtype]
    a = dt.round(rng.uniform(-1, 1, (m, k)))
    b = dt.round(rng.uniform(-1, 1, (n, k) if bt else (k, n)))
    return {"A": a, "B": b}


U32 = 2.0 ** -24           # unit roundoff of binary32 (round to nearest)


def _check_fp32(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> Check:
    """FP32: every C element is a dot product of k terms accumulated by fmadd.s, one rounding per
    step: s_i = (s_{i-1} + a_i b_i)(1 + d_i), |d_i| <= u = 2^-24. Unrolling the recursion gives
    |s_k - sum a_i b_i| <= gamma_k * sum |a_i||b_i| with gamma_k = k u / (1 - k u) (Higham,
    Accuracy and Stability, eq. 3.4 with one rounding per FMA step), independent of the order, so it
    holds for every blocking. Compared with the float64 product."""
    k = a.shape[1]
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    ref = a64 @ b64
    gamma = k * U32 / (1 - k * U32)
    bound = gamma * (np.abs(a64) @ np.abs(b64))
    err = np.abs(c.astype(np.float64) - ref)
    bad = np.argwhere(err > bound)
    ok = bad.size == 0
    detail = (f"|C - C_float64| <= gamma_k * sum|a||b| (gamma_{k} = {gamma:.3g})" if ok else
              f"{len(bad)} elements outside the bound, first at {tuple(bad[0])}: "
              f"{c[tuple(bad[0])]!r} vs {ref[tuple(bad[0])]!r}")
    return Check(ok, float(err.max(initial=0.0)), float(bound.max(initial=0.0)), detail)


def _f32(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32).astype(np.float64)


def _emulate_f32acc(a: np.ndarray, b: np.ndarray, pairs: bool) -> tuple[np.ndarray, np.ndarray]:
    """FP16 operands, FP32 accumulator, the hardware's rounding sequence: `pairs` (vfdotpex.s.h):
    acc = f32(acc + a[2s] b[2s] + a[2s+1] b[2s+1]) for s = 0, 1, ..., then an odd last k as
    fmacex.s.h: acc = f32(acc + a b); otherwise (fmacex.s.h) acc = f32(acc + a_i b_i) for each i.
    Each product of two halves is exact in float64 (22 significant bits) and their sum is too unless
    the exponents differ by more than 31; adding the accumulator in float64 is exact unless the terms
    span more than 53 bits. Only then is the float64 value rounded before the rounding to f32, and
    that double rounding can move the result by at most one f32 ulp of that step. Returns the
    emulated accumulators and the bound sum over the steps of ulp32(|acc|) (a bound, not an estimate)."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    m, k = a64.shape
    acc = np.zeros((m, b64.shape[1]))
    peak = np.zeros_like(acc)
    steps = 0
    i = 0
    while i < k:
        if pairs and i + 1 < k:
            prods = np.outer(a64[:, i], b64[i]) + np.outer(a64[:, i + 1], b64[i + 1])
            i += 2
        else:
            prods = np.outer(a64[:, i], b64[i])
            i += 1
        acc = _f32(acc + prods)
        peak = np.maximum(peak, np.abs(acc))
        steps += 1
    # ulp32(x) <= 2^-23 |x| for normal x; 2^-149 for the subnormal range
    ulp = np.maximum(peak * 2.0 ** -23, 2.0 ** -149)
    return acc, steps * ulp


def fma_round(dt: DType, acc: np.ndarray, prod: np.ndarray) -> np.ndarray:
    """round_dt(acc + prod) with one rounding, for float64 `acc` and exact float64 products `prod`.
    FP16: the float64 sum rounded (exact enough: see _emulate_f16acc). bfloat16 spans binary32's
    exponent range, so a product can be a bfloat16 rounding midpoint while a tiny accumulator makes
    the float64 sum lose the bit that breaks the tie: the sum's error term (TwoSum, exact) decides
    the ties, which makes the emulation a correctly rounded FMA."""
    s = acc + prod
    if dt.name != "bf16":
        return dt.round64(s)
    bb = s - acc
    err = (acc - (s - bb)) + (prod - bb)
    with np.errstate(invalid="ignore"):
        mid = np.isfinite(s) & ((np.abs(s) / dt.ulp(s)) % 1 == 0.5) & (err != 0)
    return dt.round64(np.where(mid, np.nextafter(s, np.where(err > 0, np.inf, -np.inf)), s))


def _emulate_f16acc(a: np.ndarray, b: np.ndarray, dt: DType = DTYPES["fp16"]) -> np.ndarray:
    """vfmac.h / fmadd.h: acc = f16(acc + a_i b_i) for i = 0..k-1, one rounding per step, computed as
    float64(a*b + acc) rounded to FP16. This is the correctly rounded FMA (round to nearest even):
    a*b is exact in float64 (22 bits); if a*b + acc is not, the terms span more than 53 bits, so the
    smaller one is less than 2^-30 of the larger, far from moving the larger past an FP16 rounding
    midpoint, and the float64 rounding cannot create a midpoint either, except when a*b is itself a
    midpoint above 2^29, which overflows FP16 to infinity either way. So the check is bit-exact."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    acc = np.zeros((a64.shape[0], b64.shape[1]))
    for i in range(a64.shape[1]):
        acc = fma_round(dt, acc, np.outer(a64[:, i], b64[i]))
    return acc


def _emulate_tl_dot(a: np.ndarray, b: np.ndarray, dt: DType = DTYPES["fp16"]) -> np.ndarray:
    """TlDot: lane 0 = FP16 FMA chain over the even k, lane 1 over the odd k (pairs only), then
    f16(lane0 + lane1), then f16(that + f16(a b)) for an odd last k. Each step is one correctly
    rounded operation, emulated exactly as in _emulate_f16acc."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    f16 = dt.round64
    k = a64.shape[1]
    lanes = [np.zeros((a64.shape[0], b64.shape[1])) for _ in range(2)]
    for i in range(k - k % 2):
        lanes[i % 2] = fma_round(dt, lanes[i % 2], np.outer(a64[:, i], b64[i]))
    out = f16(lanes[0] + lanes[1])
    if k % 2:
        out = f16(out + f16(np.outer(a64[:, k - 1], b64[k - 1])))
    return out


def _check_fp16(a: np.ndarray, b: np.ndarray, c: np.ndarray, v: Variant) -> Check:
    """A 16-bit variant's output against the emulation of its rounding sequence (the format is the
    variant family's: FP16 or bfloat16)."""
    dt = v.family.dt
    c64 = c.astype(np.float64)
    if v.family.name in ("vfmac", "tl_dot"):
        ref = _emulate_f16acc(a, b, dt) if v.family.name == "vfmac" else _emulate_tl_dot(a, b, dt)
        diff = c64 != ref
        ok = not diff.any()
        err = np.abs(c64 - ref)
        detail = ("bit-exact against the FP16-accumulator emulation (" +
                  ("vfmac.r.h / fmadd.h sequence)" if v.family.name == "vfmac" else "vfmac.h lanes, FP16 lane sum)"))
        bound = 0.0
    else:
        acc, margin = _emulate_f32acc(a, b, pairs=v.family.name == "dotp")
        ref16 = dt.round64(acc)
        err = np.abs(c64 - ref16)
        # Bit-exact, or a correct 16-bit rounding of a value within the double-rounding margin of the
        # emulated FP32 result: |c - acc| <= ulp16(acc) / 2 + margin.
        ulp16 = dt.ulp(acc)
        diff = c64 != ref16
        ok = bool(np.all(~diff | (np.abs(c64 - acc) <= ulp16 / 2 + margin)))
        bound = float(margin.max(initial=0.0))
        detail = (f"FP32-accumulator emulation ({v.family.instr} sequence): "
                  f"{int(diff.sum())} of {c.size} elements not bit-exact (allowed: within the "
                  f"double-rounding margin)")
    if not ok:
        first = tuple(np.argwhere(diff)[0])
        detail += f"; first mismatch at {first}: {c[first]!r} vs {ref[first] if v.family.name in ('vfmac', 'tl_dot') else acc[first]!r}"
    return Check(ok, float(err.max(initial=0.0)), bound, detail)


def reference(inputs: Mapping[str, np.ndarray], shape: Mapping[str, int], dtype: str, variant: str,
              bt: bool) -> dict[str, np.ndarray]:
    """The outputs `check` compares with: float64 A·B for FP32 (compared within a bound), the
    variant's emulated rounding sequence for FP16."""
    a = inputs["A"]
    b = inputs["B"].T if bt else inputs["B"]
    if dtype == "fp32":
        return {"C": a.astype(np.float64) @ b.astype(np.float64)}
    dt = DTYPES[dtype]
    if variants(bt, dtype)[variant].family.name == "vfmac":
        return {"C": dt.round(_emulate_f16acc(a, b, dt))}
    if variants(bt, dtype)[variant].family.name == "tl_dot":
        return {"C": dt.round(_emulate_tl_dot(a, b, dt))}
    pairs = variants(bt, dtype)[variant].family.name == "dotp"
    return {"C": dt.round(_emulate_f32acc(a, b, pairs)[0])}


def check(inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray], shape: Mapping[str, int],
          dtype: str, variant: str, bt: bool) -> Check:
    a = inputs["A"]
    b = inputs["B"].T if bt else inputs["B"]
    if dtype == "fp32":
        return _check_fp32(a, b, outputs["C"])
    return _check_fp16(a, b, outputs["C"], variants(bt, dtype)[variant])


# --- the variant model: fastest variant without simulating ---------------------------------------------

def estimate_cycles(shape: Mapping[str, int], dtype: str, variant: str, cores: int, bt: bool) -> int:
    """Instructions issued by the busiest core (the first): per block, accumulator set-up, pointer
    set-up, k loop (iterations x body), tail, stores and loop bookkeeping, plus the stalls the
    schedule leaves in the body. Contention and the final barrier are ignored (they are similar for
    all variants). Used to pick a variant when none is given."""
    return _estimate_cycles(shape["m"], shape["n"], shape["k"], dtype, variant, cores, bt)


@lru_cache(maxsize=4096)
def _estimate_cycles(m: int, n: int, k: int, dtype: str, variant: str, cores: int, bt: bool) -> int:
    """estimate_cycles, cached: layers price the same matmuls for each form and again to emit one."""
    from mcusim.kernels_asm.kernels.matmul_fp32 import X_BLOCK, stall_slots
    spec = _spec({"m": m, "n": n, "k": k}, dtype, bt, cores)
    v = variants(bt, dtype)[variant]
    fam = v.family
    m, n = spec.m, spec.n
    if v.split == "rows":
        rows, cols = min(-(-m // cores), m), n
    else:
        chunk = _ceil_div(_ceil_div(n, cores), fam.col_align) * fam.col_align
        rows, cols = m, min(chunk, n)
    cost_cache: dict[tuple[int, int], int] = {}

    def block_cost(r: int, w: int) -> int:
        if (r, w) not in cost_cache:
            mk = build_micro(fam, MatmulSpec(spec.m, spec.n, spec.k, spec.a, spec.b, spec.c, spec.bt,
                                             cores, v.split), r, w, v.u, X_BLOCK)
            loop = mk.kiters * (mk.loop_len + stall_slots(mk.body, loop=True)) if mk.kiters else 0
            cost_cache[(r, w)] = (len(mk.init) + len(mk.ptr_init) + (1 if mk.kiters else 0) + loop +
                                  len(mk.tail) + stall_slots(mk.tail) + len(mk.store_ptrs) +
                                  len(mk.stores) + stall_slots(mk.stores) + 2)
        return cost_cache[(r, w)]

    total = 30
    row_levels = [v.r, 1] if v.r > 1 else [1]
    rest_rows = rows
    for rl in row_levels:
        nrb, rest_rows = divmod(rest_rows, rl)
        if not nrb:
            continue
        per_row_block = 8
        rest = cols
        for wd in fam.widths(v.w):
            nb, rest = divmod(rest, wd)
            if nb:
                per_row_block += 3 + nb * block_cost(rl, wd)
        total += nrb * per_row_block
    return total


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def choose(shape: Mapping[str, int], dtype: str, cores: int, bt: bool) -> str:
    """The variant with the fewest estimated cycles (`estimate_cycles`); ties go to the first listed."""
    names = list(variants(bt, dtype))
    costs = {name: estimate_cycles(shape, dtype, name, cores, bt) for name in names}
    return min(names, key=lambda name: costs[name])


def ceiling(shape: Mapping[str, int], dtype: str, variant: str, bt: bool) -> float | None:
    """MACs per instruction of the variant's main k-loop body (one core, issue-bound)."""
    spec = _spec(shape, dtype, bt, 1)
    v = variants(bt, dtype)[variant]
    from mcusim.kernels_asm.kernels.matmul_fp32 import X_BLOCK
    mk = build_micro(v.family, spec, v.r, v.w, v.u, X_BLOCK)
    return mk.macs_per_iter / mk.loop_len if mk.kiters else None


def _register(bt: bool) -> None:
    name = "matmul_bt" if bt else "matmul"
    register(KernelDef(
        name=name,
        description=("C = A·Bᵀ (A m x k, B stored transposed n x k, C m x n; row-major)" if bt else
                     "C = A·B (A m x k, B k x n, C m x n; row-major)"),
        dtypes=MATMUL_DTYPES,
        variants={d: tuple(variants(bt, d)) for d in MATMUL_DTYPES},
        params=(Param("m", 64, "rows of C and A"), Param("n", 64, "columns of C"),
                Param("k", 64, "inner dimension")),
        build=lambda shape, dtype, variant, cores: build(shape, dtype, variant, cores, bt),
        inputs=lambda shape, dtype, rng: make_inputs(shape, dtype, rng, bt),
        check=lambda inputs, outputs, shape, dtype, variant: check(inputs, outputs, shape, dtype, variant, bt),
        macs=lambda shape: shape["m"] * shape["n"] * shape["k"],
        choose=lambda shape, dtype, cores: choose(shape, dtype, cores, bt),
        reference=lambda inputs, shape, dtype, variant: reference(inputs, shape, dtype, variant, bt),
        ceiling=lambda shape, dtype, variant: ceiling(shape, dtype, variant, bt),
        variant_help={f"{d}:{n}": v.help for d in MATMUL_DTYPES for n, v in variants(bt, d).items()},
    ))


_register(False)
_register(True)
