"""The building blocks of the matmul-based layer programs (Conv2D, PointWise, Linear): a layer
phase is one program made of parallel transform steps, barriers and matmuls (`PhaseBuilder`); the
matmul variant of a step is the fastest by the matmul generator's estimate (`matmul_variant`);
`_estimate` prices a candidate layer variant without simulating; `matmul_check` is the numerical rule
of one step's product. See layers_conv.py for how the layers use them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from mcusim.kernels_asm import Builder
from mcusim.kernels_asm.dtypes import is_half
from mcusim.kernels_asm.kernels import matmul_fp16 as mm16
from mcusim.kernels_asm.kernels.harness import KernelProgram, Tensor, padded_stride
from mcusim.kernels_asm.kernels.matmul_fp32 import MatmulSpec, Operand, gen_matmul
from mcusim.kernels_asm.kernels.registry import Check
from mcusim.kernels_asm.kernels.transforms import ESIZE, Asm

PHASES = ("fw", "wg", "ig")
FORMS = ("abt", "ab")
LAYER_VARIANTS = ("abt", "ab", "abt_naive", "ab_naive")
TRANSFORM_CYCLES_PER_ELEMENT = 2.3      # scalar gather, one core: measured 2.2-2.3 (im2col 3x3 of 16x16 and 8x8)


# ------------------------------------------------------------------------------------------------
# Matmul steps
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mm:
    """One matmul of a layer phase: C[m, n] = A[m, k] · B (B k x n, or n x k when bt)."""
    m: int
    n: int
    k: int
    a: str
    b: str
    c: str
    bt: bool


class ProfileError(ValueError):
    """No variant the cores' ISA profile (`core.extensions`) allows (the message names what is missing)."""

    def __init__(self, message: str, missing: set[str] | frozenset[str] = frozenset()) -> None:
        super().__init__(message)
        self.missing = set(missing)


# The matmul families a layer step chooses from, in order of preference (variant name prefixes):
# a later tier is used only when the ISA profile allows no variant of the earlier ones (FP16 A·Bᵀ
# without Xfaux: the TrainLib-style vfmac.h dot products instead of vfdotpex.s.h). A dtype not
# listed has one tier: every variant but the naive ones.
MATMUL_TIERS: dict[str, tuple[tuple[str, ...], ...]] = {"fp16": (("simd",), ("tl_",)), "bf16": (("simd",), ("tl_",))}


def matmul_candidates(mm: Mm, dtype: str, naive: bool = False,
                      ext: frozenset[str] | None = None) -> list[str]:
    """The matmul variants `matmul_variant` prices for a step: the first tier (MATMUL_TIERS; the
    naive ones when asked) with a variant whose extensions (matmul_fp16.variant_extensions) `ext`
    holds (None: every extension). ProfileError when no tier has one."""
    names = list(mm16.variants(mm.bt, dtype))
    if naive:
        tiers = [[v for v in names if v.startswith("naive")]]
    elif dtype in MATMUL_TIERS:
        tiers = [[v for v in names if v.startswith(prefixes)] for prefixes in MATMUL_TIERS[dtype]]
    else:
        tiers = [[v for v in names if not v.startswith("naive")]]
    missing: set[str] = set()
    for tier in tiers:
        allowed = [v for v in tier if ext is None or mm16.variant_extensions(mm.bt, dtype, v) <= ext]
        if allowed:
            return allowed
        for v in tier:
            missing |= mm16.variant_extensions(mm.bt, dtype, v) - (ext or frozenset())
    raise ProfileError(f"no {'naive ' if naive else ''}{dtype} {'A·Bᵀ' if mm.bt else 'A·B'} matmul variant "
                       f"runs without {', '.join(sorted(missing))}", missing)


def matmul_variant(mm: Mm, dtype: str, cores: int, naive: bool = False, ext: frozenset[str] | None = None) -> str:
    """The matmul variant for a layer step: the naive one when asked; otherwise the fastest by the
    matmul generator's estimate among the blocked (FP32) or SIMD (FP16) variants, so the FP16
    accumulation rule is fixed by the form (ab: vfmac, FP16 accumulators; abt: dotp, FP32). `ext`:
    the extensions the cores have (None: all); see matmul_candidates."""
    names = matmul_candidates(mm, dtype, naive, ext)
    shape = {"m": mm.m, "n": mm.n, "k": mm.k}
    return min(names, key=lambda v: mm16.estimate_cycles(shape, dtype, v, cores, mm.bt))


def family_variant(dtype: str, bt: bool, naive: bool) -> mm16.Variant:
    """A representative matmul variant of the family a layer variant uses (for the checks)."""
    vs = mm16.variants(bt, dtype)
    if naive:
        return vs["naive"]
    return next(v for n, v in vs.items() if (n.startswith("simd") if is_half(dtype) else n != "naive"))


def _halfword_only(fam: type) -> type:
    """A copy of an FP16 vector family whose operand-alignment rule skips operands the kernel
    only ever accesses as single halves: with n == 1 no B or C word is touched (vfmac: width-1
    blocks use flh / fmadd.h / fsh; dotp: one column stores with fcvt.h.s + fsh), with k == 1 no A
    or B word (dotp: the lone k step is flh + fmacex.s.h). The code it emits is unchanged; this
    lets a vector be used as a column ([n, 1], row stride one half). (Workaround in this module
    for matmul_fp32.emit_matmul's alignment check, which applies to every shape.)"""
    class Relaxed(fam):
        def word_aligned(self, spec):
            need = set(super().word_aligned(spec))
            if spec.n == 1:
                need -= {"c"} | ({"b"} if not spec.bt else set())
            if spec.k == 1 and spec.bt:
                need -= {"a", "b"}
            return tuple(sorted(need))
    Relaxed.__name__ = fam.__name__
    return Relaxed


_RELAXED: dict[tuple[type, str], object] = {}


def _relax(v: mm16.Variant, mm: Mm) -> mm16.Variant:
    """The variant with the half-word-only rule above when an operand is a column (n or k = 1)."""
    if mm.n != 1 and mm.k != 1 or type(v.family) not in (mm16.Vfmac, mm16.Dotp):
        return v
    key = (type(v.family), v.family.dt.name)
    if key not in _RELAXED:
        _RELAXED[key] = _halfword_only(type(v.family))(v.family.dt)
    fam = _RELAXED[key]
    return dataclasses.replace(v, family=fam)


class PhaseBuilder:
    """Collects the tensors and code of one layer phase: transform steps, barrier, matmuls."""

    def __init__(self, name: str, dtype: str, cores: int, ext: frozenset[str] | None = None) -> None:
        self.name, self.dtype, self.cores = name, dtype, cores
        self.ext = ext                      # the cores' extensions (None: all): limits the matmul choice
        self.es = ESIZE[dtype]
        self.tensors: list[Tensor] = []
        self.b = Builder()
        self.asm: Asm | None = None
        self.steps = 0
        self.meta: dict = {"matmuls": []}
        self.views: dict[str, int] = {}     # row stride (elements) of a vector used as a matrix

    def tensor(self, name: str, shape: tuple[int, ...], role: str = "input", padded: bool = True,
               bank: int = 0) -> Tensor:
        stride = padded_stride(shape[-1], self.dtype) if padded and len(shape) > 1 else None
        t = Tensor(name, shape, self.dtype, role, stride, bank)
        self.tensors.append(t)
        return t

    def stride(self, name: str) -> int:
        if name in self.views:
            return self.views[name]
        return next(t for t in self.tensors if t.name == name).stride

    def code(self) -> Asm:
        """The Asm of the current parallel step (a0 = core id at its start)."""
        if self.asm is None:
            self.asm = Asm(f"{self.name}{self.steps}")
            if self.steps:
                self.asm("core_id", "a0")
        return self.asm

    def sync(self) -> None:
        """End the current step: its code, then a barrier."""
        if self.asm is not None:
            self.b.line(self.asm.source().rstrip("\n"))
            self.b.emit("barrier")
            self.asm = None
            self.steps += 1

    def matmul(self, mm: Mm, naive: bool = False, variant: str | None = None) -> None:
        """Emit `mm` after a barrier; `variant` forces a matmul variant (default: matmul_variant)."""
        self.sync()
        es = self.es
        variant = variant or matmul_variant(mm, self.dtype, self.cores, naive, self.ext)
        v = _relax(mm16.variants(mm.bt, self.dtype)[variant], mm)
        spec = MatmulSpec(mm.m, mm.n, mm.k, Operand(mm.a, self.stride(mm.a) * es),
                          Operand(mm.b, self.stride(mm.b) * es), Operand(mm.c, self.stride(mm.c) * es),
                          mm.bt, self.cores)
        gen_matmul(self.b, spec, v)
        self.meta["matmuls"].append((mm, variant))

    def program(self) -> KernelProgram:
        if self.asm is not None:
            self.b.line(self.asm.source().rstrip("\n"))
            self.asm = None
        return KernelProgram(self.name, self.b, self.tensors, self.meta)


def _form(variant: str) -> tuple[str, bool]:
    return variant.split("_")[0], variant.endswith("_naive")


def matmul_check(a: np.ndarray, b: np.ndarray, c: np.ndarray, dtype: str, variant: str, bt: bool) -> Check:
    """The matmul module's rule for C = A·B (see the module docstring)."""
    if dtype == "fp32":
        return mm16._check_fp32(a, b, c)
    return mm16._check_fp16(a, b, c, family_variant(dtype, bt, _form(variant)[1]))


def _estimate(mms: list[Mm], moved: int, dtype: str, cores: int, ext: frozenset[str] | None = None) -> float:
    """Estimated cycles; infinite when `ext` allows no matmul variant for one of the steps."""
    total = TRANSFORM_CYCLES_PER_ELEMENT * moved / cores
    for mm in mms:
        try:
            v = matmul_variant(mm, dtype, cores, ext=ext)
        except ProfileError:
            return float("inf")
        total += mm16.estimate_cycles({"m": mm.m, "n": mm.n, "k": mm.k}, dtype, v, cores, mm.bt)
    return total
