"""DepthWise phases built the way PULP-TrainLib's paper-era C primitives are (variant `trainlib`).

Facts from PULP-TrainLib's public sources at the im2col-based DepthWise era (pulp_conv_dw_fp16.c,
pulp_im2col_fp16.c, pulp_matmul_fp16.c mm_dw_fp16 / mm_dw_in_grad_fp16, and the FP32 twins; read for
facts, no code taken), CHW layout, the default (non-OPTIMIZE) path:
- two parallel regions per phase (`pi_cl_team_fork`): im2row, then the depthwise "matmul"; here
  two steps of one program with a barrier between them (a fork's dispatch cost is not added);
- im2row B[pixel, (c, kh, kw)] by element loops with run-time bounds checks
  (transforms.emit_im2row_loops); fw: patches of X; ig: the input-gradient patches of dY (mod 1);
  wg: patches of X;
- mm_dw: channels split over the cores in blocks of ceil(C / cores) (the last cores may get none);
  fw: for each output pixel, for each of the core's channels, a scalar accumulation over the
  Kh*Kw taps, `temp += a * b` in the data type (FP16: one fmadd.h per tap, FP16 accumulator;
  FP32: fmadd.s), both operands loaded per tap, the result stored to the CHW output;
  ig (mm_dw_in_grad): the same over the dY patches with the taps of the filter flipped;
  wg: for each tap, for each of the core's channels, the accumulation over the output pixels
  (dY[c, p] · B[p, (c, tap)]).
Where this differs from the library's C code (said, not hidden): its wg im2row uses no padding and
reads the patch buffer as [tap, channel, pixel] while its im2row writes [pixel, channel, tap]; here
the wg patches use the layer's padding and are read with the pixel stride of the buffer as written,
so the gradient is right for every geometry at the same instruction count per MAC. Its forward
im2row moves two FP16 elements per word where the kernel row allows (here one), the DepthWise
primitives of that era run stride 1 only (here any stride), and the C compiler's exact instruction selection is not reproduced
(the inner loop here: two loads, two pointer increments and one fmadd in a hardware loop).
Checks: per channel, the output is a dot-product row in the kernel's tap (fw, ig) or pixel (wg)
order: FP16 bit-exact against the FP16-accumulator emulation, FP32 within gamma_k of sum|a||b|.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mcusim.kernels_asm.kernels import matmul_fp16 as mm16
from mcusim.kernels_asm.kernels.harness import KernelProgram
from mcusim.kernels_asm.kernels.layer_steps import PhaseBuilder, family_variant
from mcusim.kernels_asm.kernels.registry import Check
from mcusim.kernels_asm.kernels.transforms import ESIZE, Asm, ConvGeom, emit_im2row_loops, im2col_grad_ref, im2col_ref

DW_TL_HELP = ("PULP-TrainLib style: im2row element loops, then per output and channel a scalar "
              "accumulation over the taps (FP16: fmadd.h, FP16 accumulator; wg over the pixels), "
              "channels in ceil(C/cores) blocks, one parallel region per primitive")
_OPS = {"fp32": ("flw", "fsw", "fmadd.s", "fmv.w.x"), "fp16": ("flh", "fsh", "fmadd.h", "fmv.h.x"),   # fmv.h.x: NaN-boxed zero
        "bf16": ("flh", "fsh", "fmadd.ah", "fmv.h.x")}        # bfloat16: the .ah twins (TrainLib HEAD's "fp16")


def _ceil_block(a: Asm, total: int, cores: int) -> None:
    """s0, s1 = this core's block of `total` items as TrainLib splits them: ceil(total/cores) each,
    the last block cut at `total` (so later cores may get an empty one)."""
    bs = -(-total // cores)
    a.li("t0", bs)
    a("mul", "s0", "a0", "t0")
    a.addi("s1", "s0", bs)
    a.li("t0", total)
    a("p.minu", "s1", "s1", "t0")


def emit_mm_dw(a: Asm, rows: int, chans: int, taps: int, dtype: str, wts: str, b: str, b_row: int,
               b_step: int, b_chan: int, w_step: int, w_first: int, w_chan: int, dst: str, d_row: int,
               d_chan: int, cores: int) -> None:
    """out[c, r] = sum_t W[c, t'] * B(r, c, t) for r < rows and this core's channels c (ceil
    blocks), one scalar accumulator from zero per output, taps t in order. Addresses in elements:
    W at w_chan * c + w_first + w_step * t; B at b_row * r + b_chan * c + b_step * t; the output at
    d_chan * c + d_row * r."""
    es = ESIZE[dtype]
    ld, st, mac, zero = _OPS[dtype]
    done, row = a.fresh("mmdw_done"), a.fresh("mmdw_row")
    _ceil_block(a, chans, cores)
    a("bgeu", "s0", "s1", done)
    a("sub", "s2", "s1", "s0")                # channels of this core
    a.li("t0", b_chan * es)
    a("mul", "s3", "s0", "t0")
    a.li("t0", b)
    a("add", "s3", "s3", "t0")                # s3 = &B(0, c0, 0)
    a.li("t0", w_chan * es)
    a("mul", "s4", "s0", "t0")
    a.li("t0", wts)
    a("add", "s4", "s4", "t0")
    a.addi("s4", "s4", w_first * es)          # s4 = &W[c0, t'(0)]
    a.li("t0", d_chan * es)
    a("mul", "s5", "s0", "t0")
    a.li("t0", dst)
    a("add", "s5", "s5", "t0")                # s5 = &out[c0, 0]
    a.li("s6", rows)
    a.li("s7", b_step * es)
    a.li("s8", w_step * es)
    a.li("s9", b_chan * es)
    a.li("s10", w_chan * es)
    a.li("s11", d_chan * es)
    a.label(row)
    a("mv", "a1", "s3")                       # B(r, c, 0)
    a("mv", "a2", "s4")                       # W[c, t'(0)]
    a("mv", "a3", "s5")                       # out[c, r]
    with a.hwloop(1, "s2"):
        a("mv", "a4", "a1")
        a("mv", "a5", "a2")
        a(zero, "f2", "zero")
        with a.hwloop(0, taps):
            a(ld, "f0", "0(a5)")
            a(ld, "f1", "0(a4)")
            a("add", "a5", "a5", "s8")
            a("add", "a4", "a4", "s7")
            a(mac, "f2", "f0", "f1", "f2")
        a(st, "f2", "0(a3)")
        a("add", "a1", "a1", "s9")
        a("add", "a2", "a2", "s10")
        a("add", "a3", "a3", "s11")
    a.addi("s3", "s3", b_row * es)
    a.addi("s5", "s5", d_row * es)
    a("addi", "s6", "s6", -1)
    a("bnez", "s6", row)
    a.label(done)


def emit_outer(a: Asm, rows: int, cols: int, dtype: str, x: str, y: str, dst: str, d_row: int, cores: int) -> None:
    """dst[i, j] = x[i] * y[j] (a matmul with k = 1, as TrainLib's naive matmul runs it): rows in
    ceil blocks, x[i] kept in a register, one product per element."""
    es = ESIZE[dtype]
    ld, st = _OPS[dtype][:2]
    mul = {"fp32": "fmul.s", "fp16": "fmul.h", "bf16": "fmul.ah"}[dtype]
    done = a.fresh("outer_done")
    _ceil_block(a, rows, cores)
    a("bgeu", "s0", "s1", done)
    a("sub", "s2", "s1", "s0")
    a.li("t0", es)
    a("mul", "s3", "s0", "t0")
    a.li("t0", x)
    a("add", "s3", "s3", "t0")                # &x[i0]
    a.li("t0", d_row * es)
    a("mul", "s5", "s0", "t0")
    a.li("t0", dst)
    a("add", "s5", "s5", "t0")                # &dst[i0, 0]
    a.li("s6", d_row * es)
    with a.hwloop(1, "s2"):
        a(ld, "f0", "0(s3)")
        a.li("a1", y)
        a("mv", "a2", "s5")
        with a.hwloop(0, cols):
            a(ld, "f1", "0(a1)")
            a("addi", "a1", "a1", es)
            a(mul, "f2", "f0", "f1")
            a(st, "f2", "0(a2)")
            a("addi", "a2", "a2", es)
        a("addi", "s3", "s3", es)
        a("add", "s5", "s5", "s6")
    a.label(done)


def scalar_check(a: np.ndarray, b: np.ndarray, out: np.ndarray, dtype: str) -> Check:
    """out = a · b accumulated in k order from zero: FP16 bit-exact against the FP16-accumulator
    emulation, FP32 within gamma_k of sum|a||b|."""
    if dtype == "fp32":
        return mm16._check_fp32(a, b, out)
    return mm16._check_fp16(a, b, out, family_variant(dtype, False, False))


def tl_dw_program(g: ConvGeom, phase: str, dtype: str, cores: int) -> KernelProgram:
    """One DepthWise phase as PULP-TrainLib runs it (see the module docstring). Tensors as the
    library's depthwise variants (flat CHW): fw X, W -> Y; wg X, DY -> DW; ig W, DY -> DX."""
    g.check()
    c, kk = g.c, g.kk
    P, HW = g.ho * g.wo, g.h * g.w
    pb = PhaseBuilder(f"depthwise_{phase}", dtype, cores)
    if phase in ("fw", "wg"):
        pb.tensor("X", (c, g.h, g.w), padded=False)
        if phase == "fw":
            pb.tensor("W", (c, kk), padded=False, bank=9)
        else:
            pb.tensor("DY", (c, P), padded=False, bank=9)
        pb.tensor("B", (P, c * kk), "scratch", bank=5)
        pb.tensor("Y" if phase == "fw" else "DW", (c, P) if phase == "fw" else (c, kk), "output",
                  padded=False, bank=12)
        emit_im2row_loops(pb.code(), g, dtype, "X", "B", cores, dst_stride=pb.stride("B"))
    elif phase == "ig":
        pb.tensor("W", (c, kk), padded=False, bank=9)
        pb.tensor("DY", (c, P), padded=False)
        pb.tensor("B", (HW, c * kk), "scratch", bank=5)
        pb.tensor("DX", (c, HW), "output", padded=False, bank=12)
        emit_im2row_loops(pb.code(), g, dtype, "DY", "B", cores, grad=True, dst_stride=pb.stride("B"))
    else:
        raise ValueError(f"phase must be fw, wg or ig, not {phase!r}")
    pb.sync()                                   # one parallel region per primitive
    rb = pb.stride("B")
    a = pb.code()
    if phase == "fw":       # rows = output pixels, taps in order
        emit_mm_dw(a, P, c, kk, dtype, "W", "B", rb, 1, kk, 1, 0, kk, "Y", 1, P, cores)
    elif phase == "ig":     # rows = input pixels, the filter's taps flipped
        emit_mm_dw(a, HW, c, kk, dtype, "W", "B", rb, 1, kk, -1, kk - 1, kk, "DX", 1, HW, cores)
    else:                   # rows = taps; the sum runs over the output pixels (B read with its row stride)
        emit_mm_dw(a, kk, c, P, dtype, "DY", "B", 1, rb, kk, 1, 0, P, "DW", 1, kk, cores)
    prog = pb.program()
    prog.meta.update(geom=g, variant="trainlib", trainlib=True)
    return prog


def tl_dw_check(inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray], g: ConvGeom, phase: str,
                dtype: str) -> Check:
    """Per channel, the output row against its operands' product in the kernel's order (see the
    module docstring): FP16 bit-exact (FP16 accumulator), FP32 gamma bound."""
    one = ConvGeom(1, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.pt, g.pb, g.pl, g.pr)
    worst: Check | None = None
    for ch in range(g.c):
        if phase == "fw":
            a, b, out = inputs["W"][ch:ch + 1], im2col_ref(inputs["X"][ch:ch + 1], one, "col"), outputs["Y"][ch:ch + 1]
        elif phase == "wg":
            a, b = inputs["DY"][ch:ch + 1], im2col_ref(inputs["X"][ch:ch + 1], one, "row")
            out = outputs["DW"][ch:ch + 1]
        else:
            a = inputs["W"][ch:ch + 1, ::-1]
            b = im2col_grad_ref(inputs["DY"][ch:ch + 1].reshape(1, g.ho, g.wo), one, "col")
            out = outputs["DX"][ch:ch + 1]
        chk = scalar_check(a, b, out, dtype)
        if not chk.ok:
            chk.detail = f"channel {ch}: {chk.detail}"
            return chk
        if worst is None or chk.max_error > worst.max_error:
            worst = chk
    assert worst is not None
    return worst
