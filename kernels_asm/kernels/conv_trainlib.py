"""Conv2D phases built the way PULP-TrainLib's paper-era C primitives are (variant `trainlib`).

Facts from PULP-TrainLib's public sources (pulp_conv2d_fp16.c, pulp_im2col_fp16.c,
pulp_matmul_fp16.c; read for facts, no code taken), CHW layout:
- every primitive is its own parallel region (`pi_cl_team_fork`): im2row, then (input gradient)
  the block transpose of the weights, then the matmul; here each is a step of the program followed
  by a barrier (the harness runs a kernel SPMD; a fork's dispatch cost is not added);
- im2row builds B[pixel, (c, kh, kw)] with loops over pixels and the core's channels, each
  element's coordinates bounds-checked at run time (transforms.emit_im2row_loops);
- forward: Y = W · Bᵀ (trans_B = 1); weight gradient: dW = dY · B (trans_B = 0); input gradient:
  im2row of the dY patches, block transpose of W, dX = Wbt · Bᵀ (trans_B = 1);
- FP16 matmuls with v2f16 FP16 accumulation in 2x4 register blocks (mm_fp16_SIMD_2x4): A·B as
  matmul `simd_2x4` (vfmac with the A element broadcast), A·Bᵀ as matmul_bt `tl_2x4` (vfmac.h on k
  pairs, lanes summed in FP16); FP32 uses the 2x4 blocked fmadd.s matmul. Rows of C split over the
  cores (ceil(N / cores) each), as TrainLib does.
Not modelled: TrainLib's FP16 im2row moves two elements per word where the kernel row allows (the
element loops here move one), the C compiler's exact instruction selection, the fork dispatch
cost, and its DMA use. Checks: the matmul rule of the variant that ran (FP16 bit-exact against the
emulated rounding sequence).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mcusim.kernels_asm.kernels import matmul_fp16 as mm16
from mcusim.kernels_asm.kernels.harness import KernelProgram
from mcusim.kernels_asm.kernels.layer_steps import TRANSFORM_CYCLES_PER_ELEMENT, Mm, PhaseBuilder
from mcusim.kernels_asm.kernels.registry import Check
from mcusim.kernels_asm.kernels.transforms import (
    ConvGeom,
    block_transpose_ref,
    emit_block_transpose,
    emit_im2row_loops,
    im2col_grad_ref,
    im2col_ref,
)

TL_MATMUL = {("fp16", False): "simd_2x4", ("fp16", True): "tl_2x4", ("fp32", False): "2x4", ("fp32", True): "2x4",
             ("bf16", False): "simd_2x4", ("bf16", True): "tl_2x4"}
# PointWise (pulp_conv_pw, CHW): fw W · X (trans_B = 0), wg dY · Xᵀ (trans_B = 1, X as stored), ig a
# transpose of W in its own parallel region, then Wᵀ · dY (trans_B = 0); each with TL_MATMUL's matmul.
# The non-OPTIMIZE build calls the naive mm_fp16 here; the 2x4 matmul is its OPTIMIZE choice
# (matmul_type 2), taken as for Conv2D.
TL_PW_FORMS = {"fw": "ab", "wg": "abt", "ig": "ab"}
TL_PW_HELP = ("PULP-TrainLib style (CHW): fw W·X, wg dY·Xᵀ, ig transpose of W then Wᵀ·dY, one parallel "
              "region per primitive, 2x4 matmuls (FP16: v2f16 FP16 accumulation, vfmac; no vfdotpex)")
LOOP_CYCLES_PER_ELEMENT = 4 * TRANSFORM_CYCLES_PER_ELEMENT   # element loops: measured ~10 cycles per element


def _mms(g: ConvGeom, cout: int, phase: str) -> Mm:
    K, P, HW = g.c * g.kk, g.ho * g.wo, g.h * g.w
    return {"fw": Mm(cout, P, K, "W", "B", "Y", True), "wg": Mm(cout, K, P, "DY", "B", "DW", False),
            "ig": Mm(g.c, HW, cout * g.kk, "WBT", "B", "DX", True)}[phase]


def tl_program(g: ConvGeom, cout: int, phase: str, dtype: str, cores: int) -> KernelProgram:
    """One Conv2D phase as PULP-TrainLib runs it (see the module docstring). Tensors as the im2col
    variants: fw X, W -> Y; wg X, DY -> DW; ig W, DY -> DX."""
    g.check()
    cin, kk = g.c, g.kk
    K, P, HW = cin * kk, g.ho * g.wo, g.h * g.w
    pb = PhaseBuilder(f"conv2d_{phase}", dtype, cores)
    mm = _mms(g, cout, phase)
    if phase in ("fw", "wg"):
        pb.tensor("X", (cin, g.h, g.w), padded=False)
        pb.tensor("W" if phase == "fw" else "DY", (cout, K) if phase == "fw" else (cout, P), bank=3)
        pb.tensor("B", (P, K), "scratch", bank=6)
        pb.tensor(mm.c, (cout, P) if phase == "fw" else (cout, K), "output", bank=11)
        emit_im2row_loops(pb.code(), g, dtype, "X", "B", cores, dst_stride=pb.stride("B"))
    elif phase == "ig":
        gd = ConvGeom(cout, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.pt, g.pb, g.pl, g.pr)
        pb.tensor("W", (cout, K), bank=3)
        pb.tensor("DY", (cout, P), bank=7)
        pb.tensor("WBT", (cin, cout * kk), "scratch", bank=1)
        pb.tensor("B", (HW, cout * kk), "scratch", bank=6)
        pb.tensor("DX", (cin, HW), "output", bank=11)
        emit_im2row_loops(pb.code(), gd, dtype, "DY", "B", cores, grad=True, dst_stride=pb.stride("B"),
                          src_chan=pb.stride("DY"))
        pb.sync()                               # one parallel region per primitive
        emit_block_transpose(pb.code(), cout, cin, kk, dtype, "W", "WBT", cores, src_stride=pb.stride("W"),
                             dst_stride=pb.stride("WBT"))
    else:
        raise ValueError(f"phase must be fw, wg or ig, not {phase!r}")
    pb.matmul(mm, variant=TL_MATMUL[(dtype, mm.bt)])
    prog = pb.program()
    prog.meta.update(form="abt" if mm.bt else "ab", geom=g, cout=cout, trainlib=True)
    return prog


def tl_estimate(g: ConvGeom, cout: int, phase: str, dtype: str, cores: int) -> float:
    """Rough cycles: the forced matmul's estimate plus ~10 cycles per patch element per core."""
    mm = _mms(g, cout, phase)
    moved = (g.c * g.kk * g.ho * g.wo) if phase != "ig" else cout * g.kk * g.h * g.w
    mat = mm16.estimate_cycles({"m": mm.m, "n": mm.n, "k": mm.k}, dtype, TL_MATMUL[(dtype, mm.bt)], cores, mm.bt)
    return mat + LOOP_CYCLES_PER_ELEMENT * moved / cores


def tl_check(inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray], g: ConvGeom, cout: int,
             phase: str, dtype: str) -> Check:
    """The output against its operands' product by the rule of the matmul variant that ran."""
    if phase == "fw":
        a, b, out = inputs["W"], im2col_ref(inputs["X"], g, "col"), outputs["Y"]
    elif phase == "wg":
        a, b, out = inputs["DY"], im2col_ref(inputs["X"], g, "row"), outputs["DW"]
    else:
        gd = ConvGeom(cout, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.pt, g.pb, g.pl, g.pr)
        wbt = block_transpose_ref(inputs["W"].reshape(cout, g.c, g.kh, g.kw)).reshape(g.c, cout * g.kk)
        a, b, out = wbt, im2col_grad_ref(inputs["DY"].reshape(cout, g.ho, g.wo), gd, "col"), outputs["DX"]
    return tl_matmul_check(a, b, out, dtype, _mms(g, cout, phase).bt)


def tl_matmul_check(a: np.ndarray, b: np.ndarray, out: np.ndarray, dtype: str, bt: bool) -> Check:
    """out = a · b (b as k x n) by the rule of the TrainLib-style matmul of the form (TL_MATMUL)."""
    if dtype == "fp32":
        return mm16._check_fp32(a, b, out)
    return mm16._check_fp16(a, b, out, mm16.variants(bt, dtype)[TL_MATMUL[(dtype, bt)]])
