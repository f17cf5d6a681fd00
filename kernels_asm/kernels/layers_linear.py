"""Linear (fully connected) layer, one sample, FP32 and FP16: forward, weight gradient, input gradient.

x[Ci], W[Co, Ci] (row stride padded like every matmul operand), y[Co]; each phase is one matmul
(matmul_fp32 / matmul_fp16 generators, see layers_conv.py for the composition and the variants):

| phase | `ab` (A·B) | `abt` (A·Bᵀ) |
|---|---|---|
| fw | y[Co,1] = W · x[Ci,1] | y[Co,1] = W · (x[1,Ci])ᵀ (FP16: vfdotpex along Ci) |
| wg | dW = dy[Co,1] · x[1,Ci] (outer product, k = 1) | dW = dy[Co,1] · (x[Ci,1])ᵀ |
| ig | dx[1,Ci] = dy[1,Co] · W (one row of C: columns split over the cores) | Wᵀ by a transpose step, then dx[1,Ci] = dy[1,Co] · (Wᵀ)ᵀ |

Vectors are stored contiguously; as a column [n, 1] their row stride is one element. Checks as for
the convolutions (layers_conv.matmul_check).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mcusim.kernels_asm.dtypes import FLOAT_DTYPES
from mcusim.kernels_asm.kernels import dw_trainlib as tls
from mcusim.kernels_asm.kernels.harness import KernelProgram, Tensor
from mcusim.kernels_asm.kernels.layer_steps import (
    FORMS,
    LAYER_VARIANTS,
    PHASES,
    Mm,
    PhaseBuilder,
    _estimate,
    _form,
    matmul_check,
)
from mcusim.kernels_asm.kernels.registry import Check, KernelDef, Param, register
from mcusim.kernels_asm.kernels.transforms import emit_transpose, random_tensor


def _vector(pb: PhaseBuilder, name: str, n: int, column: bool, role: str = "input", bank: int = 0) -> None:
    """A contiguous vector used as a [n, 1] column (row stride one element) or a [1, n] row."""
    pb.tensors.append(Tensor(name, (n,), pb.dtype, role, None, bank))
    # a row's stride is never used (one row): an even count keeps the word-alignment rule happy
    pb.views[name] = 1 if column else n + n % 2


def linear_program(ci: int, co: int, phase: str, dtype: str, variant: str, cores: int,
                   ext: frozenset[str] | None = None) -> KernelProgram:
    if variant == "trainlib":
        return _trainlib_program(ci, co, phase, dtype, cores)
    form, naive = _form(variant)
    bt = form == "abt"
    pb = PhaseBuilder(f"linear_{phase}", dtype, cores, ext)
    if phase == "fw":
        pb.tensor("W", (co, ci), bank=3)
        _vector(pb, "X", ci, column=not bt, bank=9)
        _vector(pb, "Y", co, column=True, role="output", bank=12)
        pb.matmul(Mm(co, 1, ci, "W", "X", "Y", bt), naive)
    elif phase == "wg":
        _vector(pb, "DY", co, column=True, bank=3)
        _vector(pb, "X", ci, column=bt, bank=9)
        pb.tensor("DW", (co, ci), "output", bank=12)
        pb.matmul(Mm(co, ci, 1, "DY", "X", "DW", bt), naive)
    elif phase == "ig":
        pb.tensor("W", (co, ci), bank=3)
        _vector(pb, "DY", co, column=False, bank=9)
        _vector(pb, "DX", ci, column=False, role="output", bank=12)
        if bt:
            pb.tensor("WT", (ci, co), "scratch", bank=6)
            emit_transpose(pb.code(), co, ci, dtype, "W", "WT", cores, pb.stride("W"), pb.stride("WT"))
        pb.matmul(Mm(1, ci, co, "DY", "WT" if bt else "W", "DX", bt), naive)
    else:
        raise ValueError(f"phase must be one of {PHASES}")
    prog = pb.program()
    prog.meta.update(form=form)
    return prog


# `trainlib`: the phases as PULP-TrainLib's pulp_linear primitives run them (facts from its public
# sources, no code taken). Every phase is its naive matmul, because the vectors make M or K one
# (its 2x4 SIMD matmul falls back to the naive one there too): fw y = W · x with mm_fp16 (rows of W
# in ceil(Co/cores) blocks, a scalar accumulation over Ci in the data type: FP16 fmadd.h into an
# FP16 accumulator); wg dW = dy · xᵀ with k = 1 (each element one product, rows in ceil blocks);
# ig dx = dyᵀ · W with mm_M_fp16 (the columns of W, i.e. dx's elements, in ceil(Ci/cores) blocks,
# W read down its columns). One parallel region each; same tensors as the `ab` form.
TRAINLIB_HELP = ("PULP-TrainLib style: its naive matmuls (scalar accumulation in the data type, FP16 "
                 "fmadd.h; rows or columns in ceil(n/cores) blocks)")


def _trainlib_program(ci: int, co: int, phase: str, dtype: str, cores: int) -> KernelProgram:
    pb = PhaseBuilder(f"linear_{phase}", dtype, cores)
    if phase == "fw":
        pb.tensor("W", (co, ci), bank=3)
        _vector(pb, "X", ci, column=True, bank=9)
        _vector(pb, "Y", co, column=True, role="output", bank=12)
        tls.emit_mm_dw(pb.code(), 1, co, ci, dtype, "W", "X", 0, 1, 0, 1, 0, pb.stride("W"), "Y", 0, 1, cores)
    elif phase == "wg":
        _vector(pb, "DY", co, column=True, bank=3)
        _vector(pb, "X", ci, column=False, bank=9)
        pb.tensor("DW", (co, ci), "output", bank=12)
        tls.emit_outer(pb.code(), co, ci, dtype, "DY", "X", "DW", pb.stride("DW"), cores)
    elif phase == "ig":
        pb.tensor("W", (co, ci), bank=3)
        _vector(pb, "DY", co, column=False, bank=9)
        _vector(pb, "DX", ci, column=False, role="output", bank=12)
        tls.emit_mm_dw(pb.code(), 1, ci, co, dtype, "DY", "W", 0, pb.stride("W"), 1, 1, 0, 0, "DX", 0, 1, cores)
    else:
        raise ValueError(f"phase must be one of {PHASES}")
    prog = pb.program()
    prog.meta.update(form="ab", trainlib=True)
    return prog


def linear_operands(phase: str, inputs: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) with the phase's output = A · B (B as k x n)."""
    if phase == "fw":
        return inputs["W"], inputs["X"].reshape(-1, 1)
    if phase == "wg":
        return inputs["DY"].reshape(-1, 1), inputs["X"].reshape(1, -1)
    return inputs["DY"].reshape(1, -1), inputs["W"]


def linear_choose(ci: int, co: int, phase: str, dtype: str, cores: int, ext: frozenset[str] | None = None) -> str:
    def cost(bt: bool) -> float:
        if phase == "fw":
            return _estimate([Mm(co, 1, ci, "W", "X", "Y", bt)], 0, dtype, cores, ext)
        if phase == "wg":
            return _estimate([Mm(co, ci, 1, "DY", "X", "DW", bt)], 0, dtype, cores, ext)
        return _estimate([Mm(1, ci, co, "DY", "W", "DX", bt)], ci * co if bt else 0, dtype, cores, ext)
    return min(FORMS, key=lambda f: cost(f == "abt"))


def linear_inputs(shape: Mapping[str, int], phase: str, dtype: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    ci, co = shape["ci"], shape["co"]
    if phase == "fw":
        return {"W": random_tensor(rng, (co, ci), dtype), "X": random_tensor(rng, (ci,), dtype)}
    if phase == "wg":
        return {"DY": random_tensor(rng, (co,), dtype), "X": random_tensor(rng, (ci,), dtype)}
    return {"W": random_tensor(rng, (co, ci), dtype), "DY": random_tensor(rng, (co,), dtype)}


def linear_check(inputs, outputs, shape, dtype, variant, phase) -> Check:
    a, b = linear_operands(phase, inputs)
    out = outputs[{"fw": "Y", "wg": "DW", "ig": "DX"}[phase]]
    c = out.reshape(a.shape[0], b.shape[1])
    if variant == "trainlib":     # scalar accumulation in k order: FP16 accumulator, bit-exact
        return tls.scalar_check(a, b, c, dtype)
    return matmul_check(a, b, c, dtype, variant, _form(variant)[0] == "abt")


def _register(phase: str) -> None:
    register(KernelDef(
        name=f"linear_{phase}",
        description={"fw": "Linear forward: y = W x", "wg": "Linear weight gradient: dW = dy xᵀ",
                     "ig": "Linear input gradient: dx = Wᵀ dy"}[phase],
        dtypes=FLOAT_DTYPES, variants={d: LAYER_VARIANTS + ("trainlib",) for d in FLOAT_DTYPES},
        params=(Param("ci", 64, "input features"), Param("co", 16, "output features")),
        build=lambda shape, dtype, variant, cores: linear_program(shape["ci"], shape["co"], phase, dtype, variant,
                                                                  cores),
        inputs=lambda shape, dtype, rng: linear_inputs(shape, phase, dtype, rng),
        check=lambda i, o, shape, dtype, variant: linear_check(i, o, shape, dtype, variant, phase),
        macs=lambda shape: shape["ci"] * shape["co"],
        choose=lambda shape, dtype, cores: linear_choose(shape["ci"], shape["co"], phase, dtype, cores),
        variant_help={"ab": "A·B", "abt": "A·Bᵀ (ig: with a transpose of W)",
                      "ab_naive": "ab with the naive matmul", "abt_naive": "abt with the naive matmul",
                      "trainlib": TRAINLIB_HELP},
    ))


for _phase in PHASES:
    _register(_phase)
