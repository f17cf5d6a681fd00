"""Element-wise and pooling layer kernels, forward and backward, FP32, FP16 and bfloat16 (bf16: the FP16
column with the `.ah` twins, e.g. vfadd.ah, vfmac.r.ah; the integer ReLU forms are the same code, since
both 16-bit formats keep the sign in bit 15; `cast` variant `vfcpka_bf16` converts FP32 to bfloat16).

| kernel | computes | FP32 | FP16 |
|---|---|---|---|
| `relu` | y = max(x, 0) | `int`: p.max on the bit pattern; `fp`: fmax.s | `int_simd`: pv.max.h on both lanes; `simd`: vfmax.h |
| `relu_bwd` | dx = dy where x > 0, else 0 | slt/neg/and mask | pv.cmpgt.h mask and `and` (two lanes) |
| `add` | z = x + y (residual add; its backward sums two gradients the same way) | fadd.s | vfadd.h |
| `cast` | FP32 -> FP16 (dtype fp32) / FP16 -> FP32 (dtype fp16) | vfcpka.h.s (two per instruction) | flh + fcvt.s.h |
| `sgd` | w -= lr * g (lr is a one-element tensor of the weights' dtype) | fnmsub.s | vfmac.r.h with -lr |
| `maxpool`, `maxpool_bwd` | K x K window, stride S, no padding | fmax.s / flt.s | fmax.h / flt.h |
| `avgpool`, `avgpool_bwd` | mean of the window (sum as a pairwise tree, times 1/K²) | fadd.s, fmul.s | fadd.h, fmul.h |

Rules that make every result reproducible bit for bit (the tests compare bit-exactly, bound 0):
- ReLU(x) = max(x, +0) equals the signed-integer maximum of the bit pattern with 0 for every non-NaN
  x (negative values have the sign bit set); the `fp` / `simd` variants use the FP max instead (NaN
  in -> 0 out, as maximumNumber does).
- FP16 vectors are two lanes in one word: the work is split over the cores in pairs; an odd last
  element is done by the last core with the scalar Zfh instruction.
- The pooling window sum is a pairwise tree over the row-major window (((x0+x1)+(x2+x3)) ...), each
  addition rounded to the dtype; the mean multiplies by 1/K² rounded to the dtype. Max-pool backward
  sends dy to the first maximum of the window (row-major, like numpy.argmax).
- Pool backward: dX is zeroed first (a parallel step), then, after a barrier, each window adds its
  gradient. Windows that do not overlap (S >= K) are split by output rows and store directly;
  overlapping windows are split by channels (no two cores touch one element) and accumulate in
  window order (oh, ow).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mcusim.kernels_asm.dtypes import DTYPES, FLOAT_DTYPES
from mcusim.kernels_asm.kernels.harness import KernelProgram, Tensor
from mcusim.kernels_asm.kernels.registry import KernelDef, Param, register
from mcusim.kernels_asm.kernels.transforms import ESIZE, Asm, core_range, exact_check, random_tensor

F = [f"f{i}" for i in range(32)]


# ------------------------------------------------------------------------------------------------
# Streaming helper
# ------------------------------------------------------------------------------------------------

def emit_stream(asm: Asm, n: int, cores: int, ptrs: Sequence[tuple[str, str, int]],
                group: Callable[[list[int]], None], unroll: int = 4) -> None:
    """For the calling core's slice of `n` units (a0 = core id): `group(ks)` emits the work of the
    units at positions ks of the current group, addressing unit k of pointer (reg, base, bytes per
    unit) as k * bytes(reg). Groups of `unroll` units run in a hardware loop; the leftover units
    one at a time in a software loop. Clobbers s0-s4, t0-t3, t5 and the pointer registers."""
    a = asm
    core_range(a, n, cores)
    a("sub", "s2", "s1", "s0")
    for reg, base, ub in ptrs:
        a.li("t0", ub)
        a("mul", "t1", "s0", "t0")
        a.li(reg, base)
        a("add", reg, reg, "t1")
    shift = unroll.bit_length() - 1
    assert unroll == 1 << shift
    rest, done, one = a.fresh("rest"), a.fresh("done"), a.fresh("one")
    if unroll > 1:
        a("srli", "s3", "s2", shift)
        a("andi", "s4", "s2", unroll - 1)
        a("beqz", "s3", rest)
        with a.hwloop(0, "s3"):
            group(list(range(unroll)))
            for reg, _, ub in ptrs:
                a.addi(reg, reg, unroll * ub)
        a.label(rest)
    else:
        a("mv", "s4", "s2")
    a("beqz", "s4", done)
    a.label(one)
    group([0])
    for reg, _, ub in ptrs:
        a.addi(reg, reg, ub)
    a("addi", "s4", "s4", -1)
    a("bnez", "s4", one)
    a.label(done)


def emit_last_core(asm: Asm, cores: int, body: Callable[[], None], cid: str = "s11") -> None:
    """`body` on the last core only (cid holds the core id)."""
    skip = asm.fresh("notlast")
    asm.li("t0", cores - 1)
    asm("bne", cid, "t0", skip)
    body()
    asm.label(skip)


def emit_zero(asm: Asm, base: str, nbytes: int, cores: int) -> None:
    """Zero nbytes (a multiple of 2) at `base` (4-byte aligned), words split over the cores; a last
    half-word by the last core. Needs a0 = core id; sets s11 = core id."""
    a = asm
    a("mv", "s11", "a0")
    words = nbytes // 4
    if words:
        emit_stream(a, words, cores, [("a1", base, 4)],
                    lambda ks: [a("sw", "zero", f"{4 * k}(a1)") for k in ks], unroll=4)
    if nbytes % 4:
        emit_last_core(a, cores, lambda: (a.li("t1", f"{base} + {nbytes - 2}"), a("sh", "zero", "0(t1)")))


# ------------------------------------------------------------------------------------------------
# Element-wise kernels
# ------------------------------------------------------------------------------------------------

def _pairs_and_tail(asm: Asm, n: int, dtype: str, cores: int, ptrs: list[tuple[str, str]],
                    vec_group: Callable[[list[int]], None], scalar: Callable[[], None],
                    unroll: int = 4) -> None:
    """Stream over n elements: FP32 one element per unit; FP16 two per unit (vec_group) plus an odd
    last element on the last core (scalar(), pointers set to the last element)."""
    a = asm
    a("mv", "s11", "a0")
    es = ESIZE[dtype]
    per = 1 if es == 4 else 2
    units = n // per
    if units:
        emit_stream(a, units, cores, [(reg, base, 4) for reg, base in ptrs], vec_group, unroll)
    if n % per:
        def tail() -> None:
            for reg, base in ptrs:
                a.li(reg, f"{base} + {(n - 1) * es}")
            scalar()
        emit_last_core(a, cores, tail)


def relu_program(n: int, dtype: str, variant: str, cores: int) -> KernelProgram:
    a = Asm("relu")
    fp32 = dtype == "fp32"
    sfx = DTYPES[dtype].suffix
    if variant in ("int", "int_simd"):
        # sign-magnitude: a float is > 0 exactly when its bit pattern is a positive integer, for
        # both 16-bit formats (the sign is bit 15 of each lane)
        op = "p.max" if fp32 else "pv.max.h"

        def group(ks: list[int]) -> None:
            for k in ks:
                a("lw", f"t{k}", f"{4 * k}(a1)")
            for k in ks:
                a(op, f"t{k}", f"t{k}", "zero")
            for k in ks:
                a("sw", f"t{k}", f"{4 * k}(a2)")
    else:
        a("fmv.w.x", "f31", "zero")
        op = "fmax.s" if fp32 else f"vfmax.{sfx}"

        def group(ks: list[int]) -> None:
            for k in ks:
                a("flw", F[k], f"{4 * k}(a1)")
            for k in ks:
                a(op, F[k], F[k], "f31")
            for k in ks:
                a("fsw", F[k], f"{4 * k}(a2)")

    def scalar() -> None:       # FP16 odd last element
        a("lh", "t0", "0(a1)")
        a("p.max", "t0", "t0", "zero")
        a("sh", "t0", "0(a2)")
    _pairs_and_tail(a, n, dtype, cores, [("a1", "X"), ("a2", "Y")], group, scalar)
    return KernelProgram("relu", a.source(), [Tensor("X", (n,), dtype), Tensor("Y", (n,), dtype, role="output")])


def relu_bwd_program(n: int, dtype: str, cores: int) -> KernelProgram:
    a = Asm("relub")
    fp32 = dtype == "fp32"

    def group(ks: list[int]) -> None:
        for k in ks:
            a("lw", f"t{k}", f"{4 * k}(a1)")
            a("lw", f"a{k + 4}", f"{4 * k}(a2)")
        for k in ks:
            if fp32:
                a("slt", f"t{k}", "zero", f"t{k}")      # 1 where x > 0 (positive bit pattern)
                a("neg", f"t{k}", f"t{k}")
            else:
                a("pv.cmpgt.h", f"t{k}", f"t{k}", "zero")  # per lane all ones where x > 0
            a("and", f"a{k + 4}", f"a{k + 4}", f"t{k}")
        for k in ks:
            a("sw", f"a{k + 4}", f"{4 * k}(a3)")

    def scalar() -> None:
        a("lh", "t0", "0(a1)")
        a("lh", "t1", "0(a2)")
        a("slt", "t0", "zero", "t0")
        a("neg", "t0", "t0")
        a("and", "t1", "t1", "t0")
        a("sh", "t1", "0(a3)")
    _pairs_and_tail(a, n, dtype, cores, [("a1", "X"), ("a2", "DY"), ("a3", "DX")], group, scalar)
    return KernelProgram("relu_bwd", a.source(), [Tensor("X", (n,), dtype), Tensor("DY", (n,), dtype),
                                                  Tensor("DX", (n,), dtype, role="output")])


def add_program(n: int, dtype: str, cores: int) -> KernelProgram:
    a = Asm("add")
    sfx = DTYPES[dtype].suffix
    op = "fadd.s" if dtype == "fp32" else f"vfadd.{sfx}"

    def group(ks: list[int]) -> None:
        for k in ks:
            a("flw", F[2 * k], f"{4 * k}(a1)")
            a("flw", F[2 * k + 1], f"{4 * k}(a2)")
        for k in ks:
            a(op, F[2 * k], F[2 * k], F[2 * k + 1])
        for k in ks:
            a("fsw", F[2 * k], f"{4 * k}(a3)")

    def scalar() -> None:
        a("flh", "f0", "0(a1)")
        a("flh", "f1", "0(a2)")
        a(f"fadd.{sfx}", "f0", "f0", "f1")
        a("fsh", "f0", "0(a3)")
    _pairs_and_tail(a, n, dtype, cores, [("a1", "X"), ("a2", "Y"), ("a3", "Z")], group, scalar)
    return KernelProgram("add", a.source(), [Tensor("X", (n,), dtype), Tensor("Y", (n,), dtype),
                                             Tensor("Z", (n,), dtype, role="output")])


def cast_program(n: int, src_dtype: str, cores: int, half: str = "fp16") -> KernelProgram:
    """FP32 -> `half` (src fp32; fp16 or bf16) or a 16-bit format -> FP32 (src fp16 or bf16), round to
    nearest even (frm)."""
    a = Asm("cast")
    a("mv", "s11", "a0")
    sfx = DTYPES[half if src_dtype == "fp32" else src_dtype].suffix
    if src_dtype == "fp32":
        def group(ks: list[int]) -> None:       # a unit = two elements: 8 source bytes, 4 destination
            for k in ks:
                a("flw", F[2 * k], f"{8 * k}(a1)")
                a("flw", F[2 * k + 1], f"{8 * k + 4}(a1)")
            for k in ks:
                a(f"vfcpka.{sfx}.s", F[2 * k], F[2 * k], F[2 * k + 1])
            for k in ks:
                a("fsw", F[2 * k], f"{4 * k}(a2)")
        if n // 2:
            emit_stream(a, n // 2, cores, [("a1", "X", 8), ("a2", "Y", 4)], group)
        if n % 2:
            def tail() -> None:
                a.li("a1", f"X + {4 * (n - 1)}")
                a.li("a2", f"Y + {2 * (n - 1)}")
                a("flw", "f0", "0(a1)")
                a(f"fcvt.{sfx}.s", "f0", "f0")
                a("fsh", "f0", "0(a2)")
            emit_last_core(a, cores, tail)
        dst = half
    else:
        def group(ks: list[int]) -> None:
            for k in ks:
                a("flh", F[k], f"{2 * k}(a1)")
            for k in ks:
                a(f"fcvt.s.{sfx}", F[k], F[k])
            for k in ks:
                a("fsw", F[k], f"{4 * k}(a2)")
        emit_stream(a, n, cores, [("a1", "X", 2), ("a2", "Y", 4)], group)
        dst = "fp32"
    return KernelProgram("cast", a.source(), [Tensor("X", (n,), src_dtype), Tensor("Y", (n,), dst, role="output")])


def sgd_program(n: int, dtype: str, cores: int) -> KernelProgram:
    """W -= LR[0] * G in place (W is input and output)."""
    a = Asm("sgd")
    if dtype == "fp32":
        a.li("t0", "LR")
        a("flw", "f31", "0(t0)")

        def group(ks: list[int]) -> None:
            for k in ks:
                a("flw", F[2 * k], f"{4 * k}(a1)")
                a("flw", F[2 * k + 1], f"{4 * k}(a2)")
            for k in ks:
                a("fnmsub.s", F[2 * k], "f31", F[2 * k + 1], F[2 * k])    # w - lr*g, one rounding
            for k in ks:
                a("fsw", F[2 * k], f"{4 * k}(a1)")
    else:
        sfx = DTYPES[dtype].suffix
        a.li("t0", "LR")
        a("flh", "f31", "0(t0)")
        a(f"fsgnjn.{sfx}", "f31", "f31", "f31")                      # -lr

        def group(ks: list[int]) -> None:
            for k in ks:
                a("flw", F[2 * k], f"{4 * k}(a1)")
                a("flw", F[2 * k + 1], f"{4 * k}(a2)")
            for k in ks:
                a(f"vfmac.r.{sfx}", F[2 * k], F[2 * k + 1], "f31")        # w + g*(-lr), fused
            for k in ks:
                a("fsw", F[2 * k], f"{4 * k}(a1)")

    def scalar() -> None:
        a("flh", "f0", "0(a1)")
        a("flh", "f1", "0(a2)")
        a(f"fmadd.{DTYPES[dtype].suffix}", "f0", "f1", "f31", "f0")
        a("fsh", "f0", "0(a1)")
    _pairs_and_tail(a, n, dtype, cores, [("a1", "W"), ("a2", "G")], group, scalar)
    return KernelProgram("sgd", a.source(), [Tensor("W", (n,), dtype, role="output"), Tensor("G", (n,), dtype),
                                             Tensor("LR", (1,), dtype)])


# ------------------------------------------------------------------------------------------------
# Pooling
# ------------------------------------------------------------------------------------------------

def pool_out(h: int, w: int, k: int, s: int) -> tuple[int, int]:
    if k > h or k > w:
        raise ValueError(f"pool window {k} larger than the input {h}x{w}")
    return (h - k) // s + 1, (w - k) // s + 1


def tree(values: list, op: Callable):
    """Pairwise reduction: ((v0 op v1) op (v2 op v3)) ..., the order the kernels use."""
    while len(values) > 1:
        nxt = [op(values[i], values[i + 1]) for i in range(0, len(values) - 1, 2)]
        if len(values) % 2:
            nxt.append(values[-1])
        values = nxt
    return values[0]


def _emit_tree(a: Asm, regs: list[str], op: str) -> str:
    """Emit the pairwise tree over regs (results overwrite the left operand); returns the result."""
    while len(regs) > 1:
        nxt = []
        for i in range(0, len(regs) - 1, 2):
            a(op, regs[i], regs[i], regs[i + 1])
            nxt.append(regs[i])
        if len(regs) % 2:
            nxt.append(regs[-1])
        regs = nxt
    return regs[0]


def _row_items(a: Asm, items: int, per: int, cores: int) -> None:
    """s0, s1 = core slice of `items`; s5 = first item / per, s6 = first item % per (divu once)."""
    core_range(a, items, cores)
    a.li("t0", per)
    a("divu", "s5", "s0", "t0")
    a("remu", "s6", "s0", "t0")


def pool_fwd_program(c: int, h: int, w: int, k: int, s: int, dtype: str, kind: str, cores: int) -> KernelProgram:
    """Max or average pooling; work split over output rows (c, oh)."""
    ho, wo = pool_out(h, w, k, s)
    es = ESIZE[dtype]
    sfx = DTYPES[dtype].suffix
    ld, st = ("flw", "fsw") if dtype == "fp32" else ("flh", "fsh")
    a = Asm(kind)
    if kind == "avgpool":
        _load_const(a, "f31", 1.0 / (k * k), dtype)
    done, loop, same = a.fresh("done"), a.fresh("row"), a.fresh("same")
    _row_items(a, c * ho, ho, cores)
    a("sub", "s2", "s1", "s0")
    a("blez", "s2", done)
    # s3 = &X[c, oh*s, 0], s4 = &Y[c, oh, 0]
    a.li("t0", h * w * es)
    a("mul", "t1", "s5", "t0")
    a.li("t0", s * w * es)
    a("mul", "t2", "s6", "t0")
    a.li("s3", "X")
    a("add", "s3", "s3", "t1")
    a("add", "s3", "s3", "t2")
    a.li("t0", wo * es)
    a("mul", "t1", "s0", "t0")
    a.li("s4", "Y")
    a("add", "s4", "s4", "t1")
    a.label(loop)
    a("mv", "a1", "s3")
    a("mv", "a2", "s4")
    regs = F[:k * k]

    def window() -> None:
        for i in range(k):
            for j in range(k):
                a(ld, regs[i * k + j], f"{(i * w + j) * es}(a1)")
        r = _emit_tree(a, list(regs), f"fmax.{sfx}" if kind == "maxpool" else f"fadd.{sfx}")
        if kind == "avgpool":
            a(f"fmul.{sfx}", r, r, "f31")
        a(st, r, "0(a2)")
        a.addi("a1", "a1", s * es)
        a.addi("a2", "a2", es)
    a.repeat(wo, window, k * k + 3, inline_max=0)
    # next row: oh += 1, wrapping to the next channel
    a("addi", "s6", "s6", 1)
    a.addi("s3", "s3", s * w * es)
    a.addi("s4", "s4", wo * es)
    a.li("t0", ho)
    a("bne", "s6", "t0", same)
    a.li("s6", 0)
    a.addi("s3", "s3", (h - ho * s) * w * es)
    a.label(same)
    a("addi", "s2", "s2", -1)
    a("bnez", "s2", loop)
    a.label(done)
    return KernelProgram(kind, a.source(), [Tensor("X", (c, h, w), dtype),
                                            Tensor("Y", (c, ho, wo), dtype, role="output")])


def _load_const(a: Asm, freg: str, value: float, dtype: str) -> None:
    """freg = value rounded to dtype (FP16 NaN-boxed)."""
    if dtype == "fp32":
        a.li("t0", int(np.float32(value).view(np.uint32)))
        a("fmv.w.x", freg, "t0")
    else:
        a.li("t0", int(DTYPES[dtype].to_bits(np.float64(value))) | 0xFFFF0000)
        a("fmv.w.x", freg, "t0")


def pool_bwd_program(c: int, h: int, w: int, k: int, s: int, dtype: str, kind: str, cores: int) -> KernelProgram:
    """dX from dY (and X for max pooling): zero dX, barrier, scatter the window gradients."""
    ho, wo = pool_out(h, w, k, s)
    es = ESIZE[dtype]
    sfx = DTYPES[dtype].suffix
    ld, st = ("flw", "fsw") if dtype == "fp32" else ("flh", "fsh")
    a = Asm(kind)
    emit_zero(a, "DX", c * h * w * es, cores)
    a("barrier")
    a("core_id", "a0")
    if kind == "avgpool_bwd":
        _load_const(a, "f31", 1.0 / (k * k), dtype)
    overlap = s < k
    done, loop, same = a.fresh("done"), a.fresh("row"), a.fresh("same")
    # items: output rows (c, oh) without overlap, whole channels with overlap
    per_item = 1 if overlap else ho
    _row_items(a, c * per_item if not overlap else c, per_item, cores)
    if overlap:       # s5 = channel, s6 = 0
        a("mv", "s5", "s0")
        a.li("s6", 0)
    a("sub", "s2", "s1", "s0")
    a("blez", "s2", done)
    a.li("t0", h * w * es)
    a("mul", "t1", "s5", "t0")
    a.li("t0", s * w * es)
    a("mul", "t2", "s6", "t0")
    a("add", "t1", "t1", "t2")
    a.li("s3", "X" if kind == "maxpool_bwd" else "DX")
    a("add", "s3", "s3", "t1")               # window origin in X (max) or DX (avg)
    a.li("s7", "DX")
    a("add", "s7", "s7", "t1")               # window origin in DX
    a.li("t0", (ho if overlap else 1) * wo * es)
    a("mul", "t1", "s0", "t0")
    a.li("s4", "DY")
    a("add", "s4", "s4", "t1")
    a.label(loop)
    rows_per_item = ho if overlap else 1
    a("mv", "a1", "s3")
    a("mv", "a3", "s7")
    a("mv", "a2", "s4")
    offs = [(i * w + j) * es for i in range(k) for j in range(k)]

    def window_max() -> None:
        a(ld, "f0", "0(a1)")
        a("mv", "t3", "a3")                 # dx pointer of the maximum so far
        for idx in range(1, k * k):
            a(ld, "f1", f"{offs[idx]}(a1)")
            a(f"flt.{sfx}", "t0", "f0", "f1")   # 1 when this one is larger (first maximum wins)
            a(f"fmax.{sfx}", "f0", "f0", "f1")
            a("neg", "t0", "t0")
            a("addi", "t1", "a3", offs[idx])
            a("sub", "t1", "t1", "t3")
            a("and", "t1", "t1", "t0")
            a("add", "t3", "t3", "t1")
        a(ld, "f2", "0(a2)")
        if overlap:
            a(ld, "f3", "0(t3)")
            a(f"fadd.{sfx}", "f3", "f3", "f2")
            a(st, "f3", "0(t3)")
        else:
            a(st, "f2", "0(t3)")

    def window_avg() -> None:
        a(ld, "f2", "0(a2)")
        a(f"fmul.{sfx}", "f2", "f2", "f31")
        for idx in range(k * k):
            if overlap:
                a(ld, F[3 + idx], f"{offs[idx]}(a3)")
        for idx in range(k * k):
            if overlap:
                a(f"fadd.{sfx}", F[3 + idx], F[3 + idx], "f2")
        for idx in range(k * k):
            a(st, F[3 + idx] if overlap else "f2", f"{offs[idx]}(a3)")

    def window() -> None:
        (window_max if kind == "maxpool_bwd" else window_avg)()
        a.addi("a1", "a1", s * es)
        a.addi("a3", "a3", s * es)
        a.addi("a2", "a2", es)
    if rows_per_item == 1:
        a.repeat(wo, window, 8, inline_max=0)
    else:       # a channel: rows in a software loop, columns in a hardware loop
        rl = a.fresh("orow")
        a.li("s8", ho)
        a.label(rl)
        a.repeat(wo, window, 8, inline_max=0)
        a.addi("a1", "a1", (s * w - wo * s) * es)
        a.addi("a3", "a3", (s * w - wo * s) * es)
        a("addi", "s8", "s8", -1)
        a("bnez", "s8", rl)
    if overlap:
        a.addi("s3", "s3", h * w * es)
        a.addi("s7", "s7", h * w * es)
        a.addi("s4", "s4", ho * wo * es)
    else:
        a("addi", "s6", "s6", 1)
        a.addi("s3", "s3", s * w * es)
        a.addi("s7", "s7", s * w * es)
        a.addi("s4", "s4", wo * es)
        a.li("t0", ho)
        a("bne", "s6", "t0", same)
        a.li("s6", 0)
        a.addi("s3", "s3", (h - ho * s) * w * es)
        a.addi("s7", "s7", (h - ho * s) * w * es)
        a.label(same)
    a("addi", "s2", "s2", -1)
    a("bnez", "s2", loop)
    a.label(done)
    tensors = [Tensor("DY", (c, ho, wo), dtype), Tensor("DX", (c, h, w), dtype, role="output")]
    if kind == "maxpool_bwd":
        tensors.insert(0, Tensor("X", (c, h, w), dtype))
    return KernelProgram(kind, a.source(), tensors)


# ------------------------------------------------------------------------------------------------
# numpy references that round like the kernels (bit-exact)
# ------------------------------------------------------------------------------------------------

def _np(dtype: str) -> type:
    return DTYPES[dtype].np_type


def _rounder(x: np.ndarray, dtype: str | None) -> Callable[[np.ndarray], np.ndarray]:
    """Rounding of float64 values to the kernels' format: `dtype`'s, else x's numpy type (numpy has no
    bfloat16: a bf16 tensor is float32 and needs its dtype named)."""
    if dtype is None:
        return lambda v: np.asarray(v).astype(x.dtype)
    return DTYPES[dtype].round


def relu_ref(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.zeros_like(x))


def relu_bwd_ref(x: np.ndarray, dy: np.ndarray) -> np.ndarray:
    return np.where(x > 0, dy, np.zeros_like(dy))


def sgd_ref(w: np.ndarray, g: np.ndarray, lr: np.ndarray, dtype: str | None = None) -> np.ndarray:
    """One rounding of w - lr*g: exact in float64 then rounded once (the product of two FP32 / FP16 /
    bfloat16 values is exact in float64, and float64 -> dtype double rounding is innocuous here:
    53 >= 2p+2)."""
    exact = w.astype(np.float64) - lr.astype(np.float64)[0] * g.astype(np.float64)
    return _rounder(w, dtype)(exact)


def add_ref(x: np.ndarray, y: np.ndarray, dtype: str | None = None) -> np.ndarray:
    """x + y rounded once to the format (the float64 sum's double rounding is innocuous: 53 >= 2p+2)."""
    return _rounder(x, dtype)(x.astype(np.float64) + y.astype(np.float64))


def rv_max(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """fmax as RISC-V defines it for non-NaN values: -0 < +0 (np.maximum may return either zero)."""
    return np.where((p > q) | ((p == q) & ~np.signbit(p)), p, q)


def pool_fwd_ref(x: np.ndarray, k: int, s: int, kind: str, dtype: str | None = None) -> np.ndarray:
    c, h, w = x.shape
    ho, wo = pool_out(h, w, k, s)
    rnd = _rounder(x, dtype)
    inv = rnd(1.0 / (k * k)).astype(np.float64)
    y = np.empty((c, ho, wo), x.dtype)
    for oh in range(ho):
        for ow in range(wo):
            win = [x[:, oh * s + i, ow * s + j] for i in range(k) for j in range(k)]
            if kind == "maxpool":
                y[:, oh, ow] = tree(win, rv_max)
            else:
                y[:, oh, ow] = rnd(tree(win, lambda p, q: rnd(p.astype(np.float64) + q)).astype(np.float64) * inv)
    return y


def pool_bwd_ref(x: np.ndarray | None, dy: np.ndarray, h: int, w: int, k: int, s: int, kind: str,
                 dtype: str | None = None) -> np.ndarray:
    c, ho, wo = dy.shape
    dt = dy.dtype
    rnd = _rounder(dy, dtype)
    dx = np.zeros((c, h, w), dt)
    inv = float(rnd(1.0 / (k * k)))
    for ch in range(c):
        for oh in range(ho):
            for ow in range(wo):
                if kind == "maxpool_bwd":
                    win = x[ch, oh * s:oh * s + k, ow * s:ow * s + k].reshape(-1)
                    i = int(np.argmax(win))
                    r, q = oh * s + i // k, ow * s + i % k
                    dx[ch, r, q] = rnd(float(dx[ch, r, q]) + float(dy[ch, oh, ow]))
                else:
                    gval = float(rnd(float(dy[ch, oh, ow]) * inv))
                    blk = dx[ch, oh * s:oh * s + k, ow * s:ow * s + k]
                    blk[...] = rnd(blk.astype(np.float64) + gval)
    return dx


# ------------------------------------------------------------------------------------------------
# Registry
# ------------------------------------------------------------------------------------------------

_N = (Param("n", 64, "elements"),)
_POOL = (Param("c", 4, "channels"), Param("h", 8, "input rows"), Param("w", 8, "input columns"),
         Param("k", 2, "window"), Param("s", 2, "stride"))


def _ew(name: str, desc: str, variants: dict, build, inputs, ref, help_: dict | None = None) -> None:
    register(KernelDef(
        name=name, description=desc, dtypes=FLOAT_DTYPES, variants=variants, params=_N,
        build=build, inputs=inputs,
        check=lambda i, o, shape, dtype, variant: exact_check(o, ref(i, dtype, variant)),
        macs=lambda shape: 0, variant_help=help_ or {}))


def _rand(rng: np.random.Generator, n: int, dtype: str, zeros: bool = True) -> np.ndarray:
    x = random_tensor(rng, (n,), dtype)
    if zeros and n > 2:
        x[rng.integers(0, n, size=max(1, n // 8))] = 0   # exact zeros and
        x[0] = -0.0                                     # a negative zero exercise the x > 0 rule
    return x


_ew("relu", "y = max(x, 0)", {"fp32": ("int", "fp"), "fp16": ("int_simd", "simd"), "bf16": ("int_simd", "simd")},
    lambda shape, dtype, variant, cores: relu_program(shape["n"], dtype, variant, cores),
    lambda shape, dtype, rng: {"X": _rand(rng, shape["n"], dtype)},
    lambda i, dtype, _: {"Y": relu_ref(i["X"])},
    {"int": "p.max on the FP32 bit pattern", "fp": "fmax.s", "int_simd": "pv.max.h on both halves",
     "simd": "vfmax.h / vfmax.ah"})
_ew("relu_bwd", "dx = dy where x > 0 else 0", {"fp32": ("mask",), "fp16": ("simd_mask",), "bf16": ("simd_mask",)},
    lambda shape, dtype, variant, cores: relu_bwd_program(shape["n"], dtype, cores),
    lambda shape, dtype, rng: {"X": _rand(rng, shape["n"], dtype), "DY": _rand(rng, shape["n"], dtype, False)},
    lambda i, dtype, _: {"DX": relu_bwd_ref(i["X"], i["DY"])})
_ew("add", "z = x + y (residual add; backward: the sum of two gradients)",
    {"fp32": ("scalar",), "fp16": ("simd",), "bf16": ("simd",)},
    lambda shape, dtype, variant, cores: add_program(shape["n"], dtype, cores),
    lambda shape, dtype, rng: {"X": _rand(rng, shape["n"], dtype, False), "Y": _rand(rng, shape["n"], dtype, False)},
    lambda i, dtype, _: {"Z": add_ref(i["X"], i["Y"], dtype)})
_ew("cast", "FP32 -> FP16 (dtype fp32, variant vfcpka) or bfloat16 (variant vfcpka_bf16), or FP16 / bfloat16 -> "
    "FP32 (dtype fp16 / bf16), round to nearest even",
    {"fp32": ("vfcpka", "vfcpka_bf16"), "fp16": ("fcvt",), "bf16": ("fcvt",)},
    lambda shape, dtype, variant, cores: cast_program(shape["n"], dtype, cores,
                                                      "bf16" if variant == "vfcpka_bf16" else "fp16"),
    lambda shape, dtype, rng: {"X": DTYPES[dtype].round(rng.standard_normal(shape["n"]) * 100)},
    lambda i, dtype, variant: {"Y": DTYPES["bf16" if variant == "vfcpka_bf16" else "fp16"].round(i["X"].astype(np.float64))
                               if dtype == "fp32" else i["X"].astype(np.float32)})
_ew("sgd", "w -= lr * g (in place)", {"fp32": ("fnmsub",), "fp16": ("simd",), "bf16": ("simd",)},
    lambda shape, dtype, variant, cores: sgd_program(shape["n"], dtype, cores),
    lambda shape, dtype, rng: {"W": _rand(rng, shape["n"], dtype, False), "G": _rand(rng, shape["n"], dtype, False),
                               "LR": DTYPES[dtype].round(np.array([0.05]))},
    lambda i, dtype, _: {"W": sgd_ref(i["W"], i["G"], i["LR"], dtype)})


def _pool_inputs(shape: dict, dtype: str, rng: np.random.Generator, kind: str) -> dict[str, np.ndarray]:
    c, h, w, k, s = (shape[p] for p in "chwks")
    ho, wo = pool_out(h, w, k, s)
    out = {}
    if kind != "avgpool_bwd":
        x = random_tensor(rng, (c, h, w), dtype)
        if kind.startswith("maxpool"):
            x = DTYPES[dtype].round(np.round(x * 4) / 4)   # few distinct values: ties in the windows
        out["X"] = x
    if kind.endswith("_bwd"):
        out["DY"] = random_tensor(rng, (c, ho, wo), dtype)
    return out


def _pool_ref(i: dict, shape: dict, kind: str, dtype: str | None = None) -> dict[str, np.ndarray]:
    h, w, k, s = (shape[p] for p in "hwks")
    if kind in ("maxpool", "avgpool"):
        return {"Y": pool_fwd_ref(i["X"], k, s, kind, dtype)}
    return {"DX": pool_bwd_ref(i.get("X"), i["DY"], h, w, k, s, kind, dtype)}


def _register_pool(kind: str, desc: str) -> None:
    build = pool_fwd_program if kind in ("maxpool", "avgpool") else pool_bwd_program
    register(KernelDef(
        name=kind, description=desc, dtypes=FLOAT_DTYPES,
        variants={d: ("scalar",) for d in FLOAT_DTYPES}, params=_POOL,
        build=lambda shape, dtype, variant, cores: build(shape["c"], shape["h"], shape["w"], shape["k"], shape["s"],
                                                         dtype, kind, cores),
        inputs=lambda shape, dtype, rng: _pool_inputs(shape, dtype, rng, kind),
        check=lambda i, o, shape, dtype, variant: exact_check(o, _pool_ref(i, shape, kind, dtype)),
        macs=lambda shape: 0))


for _kind, _desc in (("maxpool", "max over k x k windows, stride s"), ("avgpool", "mean over k x k windows, stride s"),
                     ("maxpool_bwd", "dx: dy to the first maximum of each window"),
                     ("avgpool_bwd", "dx: dy / k² to every element of each window")):
    _register_pool(_kind, _desc)
