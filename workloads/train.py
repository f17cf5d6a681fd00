"""One simulated on-device training step of a network.

    from mcusim.workloads import train
    r = train.simulate_step("resnet8", "fp16", config, engine="c", cores=8, seed=0, lr=0.01,
                            progress=lambda done, total, rec: ...)
    r.cycles, r.compute_cycles, r.dma_cycles, r.instret, r.macs, r.mac_per_clk, r.by_phase()
    r.records[i].layer / .phase / .kernel / .variant / .cycles / .macs / .mac_per_clk / .stalls() / .dma
    r.dma_mode                     # "simulated" (default) or "model"
    r.program, r.run               # simulated: the StepProgram (r.program.elf()) and its StepRun
    r.numerics.ok, r.numerics.describe()          # updated weights vs workloads.reference.train_step

What is simulated, and what is not (default, `dma="simulate"`: workloads/step_program.py)
- Simulated, cycle by cycle, in ONE run on the configured cluster (no enlarged TCDM anywhere): the
  whole step as one controller-mode program. The controller (core 8) walks `Network.schedule()`;
  per layer-phase and tile it programs the DMA between L2 and the TCDM buffers, fills the kernel's
  argument table, forks the library kernel built for the tile's shape on the workers, joins, and
  waits for the DMA; with double buffering the next tile's loads and the previous tile's stores run
  while the workers compute. Every kernel (forward of every layer, the loss value and gradient,
  weight and input gradients, the `add` of two gradients of one tensor and of partial sums over
  tiles, SGD) reads the tensors the previous kernels wrote to L2. The DMA's bandwidth, set-up
  latency, FIFO order and the TCDM bank cycles it takes from the cores, fork/join latencies,
  barriers and bank conflicts are all in the simulation.
- Measured from the run's regions, per layer-phase: cycles (the controller's span), compute (each
  fork's span on the workers), exposed DMA (the controller waiting for transfers while the workers
  are idle), overhead (the rest: fork/join, argument tables, DMA programming), bank cycles the DMA
  took (`dma_bank` stalls). DmaModel.busy_cycles is the only computed figure: the DMA rule applied
  to the step's transfers (the simulator uses the same rule).
- Instruction fetch as configured (`icache.model`): by default modelled, the step's code lives in L2
  and reaches the cores through their L0 buffers and the shared I-cache (misses are `imiss` stalls,
  docs/TIMING.md); `"ideal"` makes every fetch free.
- Not modelled: the host side (weights, input and target are in the image before cycle 0), the
  summing of a tiled MSE's partial loss values (read back and added in FP32 on the host; the
  gradient is the kernels'). Layer-phases do not overlap each other (the next one's first loads
  start after the previous one's last stores).
- Lowering of layers the library has no direct kernel for: a pool with a 1x1 output (ResNet8's
  global 8x8 average, DS-CNN's 24x5 window) is a matmul with a constant vector v = 1/window (forward
  `linear_fw`, backward `linear_wg`), the window cropped by a 2-D DMA transfer (the row it leaves out
  keeps a zero gradient). Residual Add backward needs no kernel: an operand whose gradient does not
  accumulate shares the Add's output-gradient tensor in L2.
- A layer-phase that fits the TCDM in no tiling fails with planner.PlanError naming the layer, the
  phase and the bytes; a step program larger than the L2 likewise.

`dma="model"` (`--dma model`, an estimate): each layer-phase's kernel simulated on its own with its
operands placed directly in the TCDM; the DMA priced by the planner's transfers and the rule
`dma.setup_latency + ceil(bytes / dma.bandwidth)` (with double buffering only the first load, the
last store and the part of each tile's transfers longer than its compute are exposed); steps the
planner tiles run whole on a TCDM enlarged just enough (`StepRecord.tcdm_kib`, `enlarged`).

Numerics (`check_numerics`): the simulated updated weights are compared with
reference.train_step(...) from the same initial weights, input and target, within the tolerances
documented at ULPS / REL16 below; the relative error of each simulated weight gradient is reported
too (TensorCheck.grad_rel_error).
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mcusim.simulator import energy as energy_model
from mcusim.simulator.cluster import STALL_CAUSES
from mcusim.simulator.energy import Energy
from mcusim.simulator.config import ClusterConfig, load_config
from mcusim.simulator.memory_map import TCDM_BASE
from mcusim.simulator.profile import Profile
from mcusim.kernels_asm.dtypes import DTYPES as FLOAT
from mcusim.kernels_asm.dtypes import is_half
from mcusim.workloads import model, planner, reference
from mcusim.workloads.model import INPUT, Layer, Network, Phase

if TYPE_CHECKING:
    from mcusim.kernels_asm.kernels.harness import KernelProgram
    from mcusim.kernels_asm.kernels.transforms import ConvGeom

LOSS = "loss"                 # the phase label of the loss kernel (value and gradient in one run)
PHASE_ORDER = ("forward", LOSS, "weight_grad", "input_grad", "update")
NP_DTYPE = {name: dt.np_type for name, dt in FLOAT.items()}   # numpy type of each dtype's values
MAX_TCDM_KIB = 2048           # the TCDM window below the cluster peripherals (0x10200000)

# Tolerances of the updated weights against the reference (check_numerics):
#   |w_sim - w_ref| <= ULPS * ulp(w_ref) + lr * REL * max|dW_ref|   (per weight tensor)
# ulp term: both sides round w - lr*dW once to the dtype; when their dW differ slightly the two
# results may fall on either side of a rounding boundary (one ulp apart).
# REL, FP32: the kernels and the reference (float64, rounded once per op) differ by the FP32
# summation error of every op on the path to dW: a K-term dot product is within gamma_K ~ K u of
# sum|a||b| (u = 2^-24); along a chain of L ops (forward and backward) the relative errors add up,
# so REL = 2 * L * Kmax * u with Kmax the longest sum of the network (Network-specific, computed
# in fp32_rel). Measured errors are far below it (random rounding errors add like sqrt, not K).
# REL, FP16: the kernels store every tensor in FP16 and several (vfmac.r.h matmuls, depthwise simd)
# also accumulate in FP16, rounding at every one of the K steps; the reference rounds each op's
# result to FP16 once. Relative errors of a few 2^-11 per op compound along the chain, so the
# updates are compared relative to their magnitude with REL16 = 0.25 (a quarter of the largest
# update). The loss is also compared (LOSS_REL16).
# bfloat16 uses the same rule with ulp(w) in bfloat16 (8 significant bits: its ulp term is 8 times
# FP16's) against reference.train_step(precision="bf16"), which rounds every op's result to
# bfloat16 once (round to nearest even from float64). Its kernels accumulate in FP32
# (vfdotpex.s.ah) or in bfloat16 (vfmac.r.ah); measured on the built-in networks (seed 0, lr 0.01)
# the worst tensor stays within half of the bound (docs/RESULTS.md).
ULPS = 1.0
REL16 = 0.25
LOSS_REL16 = 0.05


class TrainError(ValueError):
    """A layer-phase the simulated step cannot lower to a kernel (the message names it)."""


# ------------------------------------------------------------------------------------------------
# Results
# ------------------------------------------------------------------------------------------------

@dataclass
class KernelCall:
    """One simulated kernel run inside a step."""
    kernel: str                  # registry name: conv2d_fw, add, linear_wg, ...
    variant: str
    role: str                    # what it does in the step (layer, accumulate, pool as matmul, ...)
    cycles: int                  # kernel region, max over cores
    instret: int                 # kernel region, all cores
    stalls: dict[str, int]       # region stall cycles summed over the cores
    per_core: list[dict]
    tcdm_kib: int                # TCDM size it ran with (> the config's when enlarged)
    engine: str                  # engine that ran it
    spans: dict[int, tuple[int, int]] = field(default_factory=dict)   # core -> region (first, end) cycle
    profile: Profile | None = None   # per-instruction profile of the program run (profile=True)
    dma_cycles: tuple[int, int] | None = None   # dma="simulate": the controller's simulated (in, out) DMA
    energy: Energy | None = None     # the energy model over the kernel's forks (simulated: the workers'
    #                                  counters in them, background and leakage over their spans)


@dataclass
class DmaModel:
    """The modelled DMA of one step (see the module docstring)."""
    tiles: int
    split: str
    double_buffer: bool
    bytes_in: int
    bytes_out: int
    transfers: int
    busy_cycles: int             # all transfers one after the other
    exposed_cycles: int          # what the step waits for (= busy without double buffering)
    exposed_in: int = 0          # the part of exposed_cycles spent loading (the rest: stores, and
    #                              with double buffering the loads a tile's compute does not hide)
    mode: str = "model"          # "model" (the formula) or "simulated" (measured in the step program)
    bank_cycles: int = 0         # simulated: TCDM bank cycles the DMA took from the cores (their waits)
    overhead_cycles: int = 0     # simulated: fork, join, barriers and DMA programming with idle workers


@dataclass
class StepRecord:
    """One (layer, phase) of the schedule: its kernels and its DMA."""
    layer: str
    kind: str
    phase: str                   # forward | loss | weight_grad | input_grad | update
    macs: int
    kernels: list[KernelCall]
    dma: DmaModel
    plan_tcdm_bytes: int         # TCDM bytes the planner places for the step (tiles included)
    tcdm_kib: int                # largest TCDM size its kernels were simulated with
    note: str = ""
    tcdm_kib_config: int = 0     # the configured TCDM size (for `enlarged`)
    measured_cycles: int | None = None   # simulated step program: the controller's span of the step
    start_cycle: int = 0                 # simulated step program: where that span starts
    tile_cycles: list[int] = field(default_factory=list)   # simulated: compute of every fork
    energy: Energy | None = None         # the energy model over the layer-phase (simulated: every core's
    #                                      counters during its span, its DMA bytes, background, leakage)
    matmuls: str = ""                    # the matmul variants its kernels used ("+"-joined)

    @property
    def energy_uj(self) -> float | None:
        return None if self.energy is None else self.energy.total_uj

    @property
    def gflops_per_w(self) -> float | None:
        return None if self.energy is None or not self.macs else self.energy.gflops_per_w(2 * self.macs)

    @property
    def compute_cycles(self) -> int:
        return sum(k.cycles for k in self.kernels)

    @property
    def dma_cycles(self) -> int:
        return self.dma.exposed_cycles

    @property
    def overhead_cycles(self) -> int:
        """Fork, join, barrier and DMA-programming cycles with idle workers (simulated step only)."""
        return self.dma.overhead_cycles

    @property
    def cycles(self) -> int:
        if self.measured_cycles is not None:
            return self.measured_cycles
        return self.compute_cycles + self.dma_cycles

    @property
    def instret(self) -> int:
        return sum(k.instret for k in self.kernels)

    @property
    def mac_per_clk(self) -> float:
        return self.macs / self.cycles if self.cycles else 0.0

    @property
    def kernel(self) -> str:
        return "+".join(k.kernel for k in self.kernels) or "-"

    @property
    def variant(self) -> str:
        return "+".join(k.variant for k in self.kernels) or "-"

    @property
    def enlarged(self) -> bool:
        return any(k.tcdm_kib > self.tcdm_kib_config for k in self.kernels)

    def stalls(self) -> dict[str, int]:
        return {c: sum(k.stalls.get(c, 0) for k in self.kernels) for c in STALL_CAUSES}


@dataclass
class TensorCheck:
    name: str
    max_error: float             # max |w_sim - w_ref|
    bound: float                 # the largest per-element bound
    ok: bool
    update: float                # lr * max|dW_ref| (the scale of the update)
    update_rel_error: float      # ||Δw_sim - Δw_ref|| / ||Δw_ref|| (Δ = new - initial weights; in FP16
    #                              mostly the rounding of w - lr*dW, Δ being a few ulps of w)
    grad_rel_error: float        # ||dW_sim - dW_ref|| / ||dW_ref|| (the gradient itself; informative)


@dataclass
class NumericsCheck:
    dtype: str
    rule: str
    rel: float
    tensors: list[TensorCheck]
    loss: float
    loss_ref: float
    loss_ok: bool

    @property
    def ok(self) -> bool:
        return self.loss_ok and all(t.ok for t in self.tensors)

    def describe(self) -> str:
        worst = max(self.tensors, key=lambda t: t.max_error / t.bound if t.bound else 0.0, default=None)
        head = (f"numerics {'OK' if self.ok else 'FAILED'} ({self.dtype}): loss {self.loss:.6g} vs "
                f"reference {self.loss_ref:.6g}; rule {self.rule}")
        if worst is None:
            return head
        text = head + (f"; worst tensor {worst.name}: |Δ| {worst.max_error:.3g} <= {worst.bound:.3g}"
                       f" (update scale {worst.update:.3g})")
        known = [t for t in self.tensors if not math.isnan(t.grad_rel_error)]
        if known:
            grad = max(known, key=lambda t: t.grad_rel_error)
            text += f"; largest relative error of a weight gradient {grad.grad_rel_error:.3g} ({grad.name})"
        return text


@dataclass
class StepResult:
    network: str
    dtype: str
    cores: int
    engine: str                  # requested
    engines_used: tuple[str, ...]
    config: ClusterConfig
    records: list[StepRecord]
    plan: planner.Plan
    loss: float
    params: dict[str, np.ndarray]       # weights after the simulated update
    weight_grads: dict[str, np.ndarray]  # the simulated dL/dW
    numerics: NumericsCheck | None
    lr: float
    seed: int
    net: Network = field(repr=False, default=None)  # type: ignore[assignment]
    dma_mode: str = "model"             # "simulated": one step program, every cycle simulated
    program: Any = field(repr=False, default=None)   # simulated: workloads.step_program.StepProgram
    run_cycles: int = 0                 # simulated: the whole program run (boot and exit included)
    cluster_result: Any = field(repr=False, default=None)
    run: Any = field(repr=False, default=None)       # simulated: workloads.step_program.StepRun

    @property
    def cycles(self) -> int:
        return sum(r.cycles for r in self.records)

    @property
    def compute_cycles(self) -> int:
        return sum(r.compute_cycles for r in self.records)

    @property
    def dma_cycles(self) -> int:
        return sum(r.dma_cycles for r in self.records)

    @property
    def instret(self) -> int:
        return sum(r.instret for r in self.records)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.records)

    @property
    def mac_per_clk(self) -> float:
        return self.macs / self.cycles if self.cycles else 0.0

    def by_phase(self) -> dict[str, dict[str, int]]:
        """{phase: {cycles, macs}} for every phase plus "dma" (the exposed DMA cycles)."""
        out = {p: {"cycles": 0, "macs": 0} for p in PHASE_ORDER}
        for r in self.records:
            out[r.phase]["cycles"] += r.compute_cycles
            out[r.phase]["macs"] += r.macs
        out["dma"] = {"cycles": self.dma_cycles, "macs": 0}
        if self.dma_mode == "simulated":
            out["overhead"] = {"cycles": sum(r.overhead_cycles for r in self.records), "macs": 0}
        return out

    def stalls(self) -> dict[str, int]:
        return {c: sum(r.stalls()[c] for r in self.records) for c in STALL_CAUSES}

    @property
    def energy(self) -> Energy | None:
        """The step's energy: the sum of its layer-phases' (None when one has none)."""
        return sum_energy([r.energy for r in self.records])

    @property
    def run_energy(self) -> Energy | None:
        """Simulated: the energy of the whole program run (boot and exit included)."""
        return None if self.cluster_result is None else energy_model.of_result(self.cluster_result)

    def phase_energy(self) -> dict[str, Energy | None]:
        """{phase: energy} of the phases of PHASE_ORDER (their layer-phases' sum; DMA included)."""
        return {p: sum_energy([r.energy for r in self.records if r.phase == p]) for p in PHASE_ORDER}


def sum_energy(parts: list[Energy | None], extra: Mapping[str, float] | None = None) -> Energy | None:
    """The sum of energies part by part (None when one of them is None), plus `extra` pJ per part."""
    if any(e is None for e in parts):
        return None
    total = dict.fromkeys(energy_model.PARTS, 0.0)
    for e in parts:
        for k, v in e.parts_pj.items():
            total[k] += v
    for k, v in (extra or {}).items():
        total[k] += v
    return Energy(total)


# ------------------------------------------------------------------------------------------------
# Running one kernel
# ------------------------------------------------------------------------------------------------

def resolve_engine(engine: str) -> str:
    """The engine that can run: "c" falls back to "py" when the compiled module is not built."""
    if engine not in ("c", "py"):
        raise ValueError(f"unknown engine {engine!r} (c or py)")
    if engine == "c":
        from mcusim.simulator.cengine import binding
        if binding.load() is None:
            return "py"
    return engine


def fit_config(prog: KernelProgram, config: ClusterConfig) -> ClusterConfig:
    """`config`, or a copy whose TCDM is enlarged to the nearest KiB that holds the program's tensors
    and the per-core stacks (same banks and timing)."""
    from mcusim.kernels_asm.kernels import harness
    from mcusim.kernels_asm.kernels.harness import HarnessError
    try:
        harness.layout(prog.tensors, config)
        return config
    except HarnessError:
        pass
    big = dataclasses.replace(config, tcdm=dataclasses.replace(config.tcdm, size_kib=MAX_TCDM_KIB))
    try:
        addrs = harness.layout(prog.tensors, big)
    except HarnessError as exc:
        raise HarnessError(f"kernel {prog.name}: tensors exceed even a {MAX_TCDM_KIB} KiB TCDM ({exc})") from None
    end = max(addrs[t.name] + t.nbytes for t in prog.tensors)
    need = -(-(end - TCDM_BASE) // 1024) + config.workers + 1
    return dataclasses.replace(config, tcdm=dataclasses.replace(config.tcdm, size_kib=need))


class _Runner:
    """Runs kernels for one step and records them."""

    def __init__(self, config: ClusterConfig, cores: int, engine: str,
                 variants: Mapping[str, str] | None, profile: bool = False, dma: str = "model") -> None:
        self.config, self.cores, self.engine = config, cores, engine
        self.dma = dma
        self.variants = dict(variants or {})
        self.profile = profile
        self.calls: list[KernelCall] = []

    def variant(self, kernel: str, default: str) -> str:
        return self.variants.get(kernel, default)

    def run(self, kernel: str, variant: str, role: str, prog: KernelProgram,
            inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        from mcusim.kernels_asm.kernels import harness
        cfg = fit_config(prog, self.config)
        # Simulated DMA (the controller moves operands L2 <-> TCDM around the kernel) when the kernel
        # fits the configured TCDM untiled and its tensors fit in L2; otherwise the DMA model.
        simulate_dma = (self.dma == "simulate" and cfg.tcdm.size_kib == self.config.tcdm.size_kib
                        and harness.l2_layout(prog, cfg, set(inputs)) is not None)
        kr = harness.run_kernel(prog, inputs, self.cores, cfg, self.engine, self.profile, dma=simulate_dma)
        self.calls.append(KernelCall(kernel, variant, role, kr.cycles, kr.instret, kr.stalls(), kr.per_core,
                                     cfg.tcdm.size_kib, getattr(kr.result, "engine", self.engine), kr.spans,
                                     kr.profile, (kr.dma_in_cycles, kr.dma_out_cycles) if simulate_dma else None,
                                     energy_model.of_result(kr.result, self.config.energy)))
        return kr.outputs


# ------------------------------------------------------------------------------------------------
# Lowering: one layer-phase to kernel runs
# ------------------------------------------------------------------------------------------------

def geom_of(lay: Layer) -> ConvGeom:
    from mcusim.kernels_asm.kernels.transforms import ConvGeom
    return ConvGeom(*lay.conv_geom_args())


def _dw_variant(g: ConvGeom, dtype: str) -> str:
    # the registry's rule for depthwise (simd needs stride 1 and rows of at least 4)
    return "simd" if is_half(dtype) and g.sh == 1 and g.sw == 1 and g.w >= 4 else "direct"


def _pool_window(lay: Layer) -> bool:
    """A pool whose output is one pixel: lowered to a matmul with a constant vector."""
    return lay.out_shape[1:] == (1, 1)


def _crop(lay: Layer, x: np.ndarray) -> np.ndarray:
    """The pool window of a one-pixel pool as [C, Kh*Kw] (rows/columns outside it dropped)."""
    kh, kw = lay.kernel
    return np.ascontiguousarray(x[:, :kh, :kw]).reshape(x.shape[0], kh * kw)


def _pool_vector(lay: Layer, dtype: str) -> np.ndarray:
    n = lay.kernel[0] * lay.kernel[1]
    return FLOAT[dtype].round(np.full(n, 1.0 / n))


def _weights(lay: Layer, w: np.ndarray | None) -> np.ndarray:
    if w is None:
        raise TrainError(f"layer {lay.name!r}: no weights given")
    return w


def _square(lay: Layer) -> tuple[int, int]:
    (kh, kw), (sh, sw) = lay.kernel, lay.stride
    if kh != kw or sh != sw or any(lay.padding):
        raise TrainError(f"layer {lay.name!r} ({lay.kind}): the pool kernels take square windows and "
                         f"strides without padding, not kernel {lay.kernel} stride {lay.stride}")
    return kh, sh


def forward(run: _Runner, lay: Layer, xs: list[np.ndarray], w: np.ndarray | None, dtype: str,
            cores: int) -> np.ndarray:
    """Simulate the forward kernel of `lay`; returns its output in the layer's CHW shape."""
    from mcusim.kernels_asm.kernels.layers_conv import conv2d_choose, conv2d_program, depthwise_program, \
        pointwise_choose, pointwise_program
    from mcusim.kernels_asm.kernels.layers_elementwise import add_program, pool_fwd_program, relu_program
    from mcusim.kernels_asm.kernels.layers_linear import linear_choose, linear_program
    x = xs[0]
    co = lay.out_shape[0]
    wt = _weights(lay, w) if lay.trainable else np.empty(0)
    if lay.kind == "Conv2D":
        g = geom_of(lay)
        v = run.variant("conv2d_fw", conv2d_choose(g, co, "fw", dtype, cores))
        out = run.run("conv2d_fw", v, "layer", conv2d_program(g, co, "fw", dtype, v, cores),
                      {"X": x, "W": wt.reshape(co, -1)})
        return out["Y"].reshape(lay.out_shape)
    if lay.kind == "PointWise":
        c, h, wd = lay.in_shape
        v = run.variant("pointwise_fw", pointwise_choose(c, co, h * wd, "fw", dtype, cores))
        out = run.run("pointwise_fw", v, "layer", pointwise_program(c, co, h, wd, "fw", dtype, v, cores),
                      {"X": x.reshape(c, -1), "W": wt})
        return out["Y"].reshape(lay.out_shape)
    if lay.kind == "DepthWise":
        g = geom_of(lay)
        v = run.variant("depthwise_fw", _dw_variant(g, dtype))
        out = run.run("depthwise_fw", v, "layer", depthwise_program(g, "fw", dtype, cores, v),
                      {"X": x, "W": wt.reshape(g.c, -1)})
        return out["Y"].reshape(lay.out_shape)
    if lay.kind == "Linear":
        ci = x.size
        v = run.variant("linear_fw", linear_choose(ci, co, "fw", dtype, cores))
        out = run.run("linear_fw", v, "layer", linear_program(ci, co, "fw", dtype, v, cores),
                      {"X": x.reshape(-1), "W": wt})
        return out["Y"].reshape(lay.out_shape)
    if lay.kind == "ReLU":
        v = run.variant("relu", "int" if dtype == "fp32" else "int_simd")
        out = run.run("relu", v, "layer", relu_program(x.size, dtype, v, cores), {"X": x.reshape(-1)})
        return out["Y"].reshape(lay.out_shape)
    if lay.kind == "Add":
        out = run.run("add", "scalar" if dtype == "fp32" else "simd", "layer", add_program(x.size, dtype, cores),
                      {"X": x.reshape(-1), "Y": xs[1].reshape(-1)})
        return out["Z"].reshape(lay.out_shape)
    if lay.kind == "AvgPool" and _pool_window(lay):
        a = _crop(lay, x)
        n = a.shape[1]
        v = run.variant("linear_fw", linear_choose(n, co, "fw", dtype, cores))
        out = run.run("linear_fw", v, "avgpool as matmul X·v", linear_program(n, co, "fw", dtype, v, cores),
                      {"W": a, "X": _pool_vector(lay, dtype)})
        return out["Y"].reshape(lay.out_shape)
    if lay.kind in ("AvgPool", "MaxPool"):
        k, s = _square(lay)
        kind = lay.kind.lower()
        c, h, wd = lay.in_shape
        out = run.run(kind, "scalar", "layer", pool_fwd_program(c, h, wd, k, s, dtype, kind, cores), {"X": x})
        return out["Y"].reshape(lay.out_shape)
    raise TrainError(f"layer {lay.name!r}: no forward kernel for {lay.kind}")


def weight_grad(run: _Runner, lay: Layer, xs: list[np.ndarray], dy: np.ndarray, dtype: str,
                cores: int) -> np.ndarray:
    """Simulate dL/dW of a trainable layer; returns it in the weight shape."""
    from mcusim.kernels_asm.kernels.layers_conv import conv2d_choose, conv2d_program, depthwise_program, \
        pointwise_choose, pointwise_program
    from mcusim.kernels_asm.kernels.layers_linear import linear_choose, linear_program
    x = xs[0]
    co = lay.out_shape[0]
    if lay.kind == "Conv2D":
        g = geom_of(lay)
        v = run.variant("conv2d_wg", conv2d_choose(g, co, "wg", dtype, cores))
        out = run.run("conv2d_wg", v, "layer", conv2d_program(g, co, "wg", dtype, v, cores),
                      {"X": x, "DY": dy.reshape(co, -1)})
        return out["DW"].reshape(lay.weight_shape)
    if lay.kind == "PointWise":
        c, h, wd = lay.in_shape
        v = run.variant("pointwise_wg", pointwise_choose(c, co, h * wd, "wg", dtype, cores))
        out = run.run("pointwise_wg", v, "layer", pointwise_program(c, co, h, wd, "wg", dtype, v, cores),
                      {"X": x.reshape(c, -1), "DY": dy.reshape(co, -1)})
        return out["DW"].reshape(lay.weight_shape)
    if lay.kind == "DepthWise":
        g = geom_of(lay)
        v = run.variant("depthwise_wg", _dw_variant(g, dtype))
        out = run.run("depthwise_wg", v, "layer", depthwise_program(g, "wg", dtype, cores, v),
                      {"X": x, "DY": dy.reshape(co, -1)})
        return out["DW"].reshape(lay.weight_shape)
    if lay.kind == "Linear":
        ci = x.size
        v = run.variant("linear_wg", linear_choose(ci, co, "wg", dtype, cores))
        out = run.run("linear_wg", v, "layer", linear_program(ci, co, "wg", dtype, v, cores),
                      {"X": x.reshape(-1), "DY": dy.reshape(-1)})
        return out["DW"].reshape(lay.weight_shape)
    raise TrainError(f"layer {lay.name!r}: {lay.kind} has no weights")


def input_grads(run: _Runner, lay: Layer, xs: list[np.ndarray], w: np.ndarray | None, dy: np.ndarray,
                dtype: str, cores: int) -> list[np.ndarray]:
    """Simulate dL/d(input) for each input of `lay` (before any sum with an earlier gradient)."""
    from mcusim.kernels_asm.kernels.layers_conv import conv2d_choose, conv2d_program, depthwise_program, \
        pointwise_choose, pointwise_program
    from mcusim.kernels_asm.kernels.layers_elementwise import pool_bwd_program, relu_bwd_program
    from mcusim.kernels_asm.kernels.layers_linear import linear_choose, linear_program
    c, h, wd = lay.in_shape
    co = lay.out_shape[0]
    wt = _weights(lay, w) if lay.trainable else np.empty(0)
    if lay.kind == "Conv2D":
        g = geom_of(lay)
        v = run.variant("conv2d_ig", conv2d_choose(g, co, "ig", dtype, cores))
        out = run.run("conv2d_ig", v, "layer", conv2d_program(g, co, "ig", dtype, v, cores),
                      {"W": wt.reshape(co, -1), "DY": dy.reshape(co, -1)})
        return [out["DX"].reshape(lay.in_shape)]
    if lay.kind == "PointWise":
        v = run.variant("pointwise_ig", pointwise_choose(c, co, h * wd, "ig", dtype, cores))
        out = run.run("pointwise_ig", v, "layer", pointwise_program(c, co, h, wd, "ig", dtype, v, cores),
                      {"W": wt, "DY": dy.reshape(co, -1)})
        return [out["DX"].reshape(lay.in_shape)]
    if lay.kind == "DepthWise":
        g = geom_of(lay)
        v = run.variant("depthwise_ig", _dw_variant(g, dtype))
        out = run.run("depthwise_ig", v, "layer", depthwise_program(g, "ig", dtype, cores, v),
                      {"W": wt.reshape(co, -1), "DY": dy.reshape(co, -1)})
        return [out["DX"].reshape(lay.in_shape)]
    if lay.kind == "Linear":
        ci = c * h * wd
        v = run.variant("linear_ig", linear_choose(ci, co, "ig", dtype, cores))
        out = run.run("linear_ig", v, "layer", linear_program(ci, co, "ig", dtype, v, cores),
                      {"W": wt, "DY": dy.reshape(-1)})
        return [out["DX"].reshape(lay.in_shape)]
    if lay.kind == "ReLU":
        out = run.run("relu_bwd", "mask" if dtype == "fp32" else "simd_mask", "layer",
                      relu_bwd_program(xs[0].size, dtype, cores), {"X": xs[0].reshape(-1), "DY": dy.reshape(-1)})
        return [out["DX"].reshape(lay.in_shape)]
    if lay.kind == "Add":
        return [dy, dy]                       # both operands receive dY: no kernel
    if lay.kind == "AvgPool" and _pool_window(lay):
        kh, kw = lay.kernel
        n = kh * kw
        v = run.variant("linear_wg", linear_choose(n, co, "wg", dtype, cores))
        out = run.run("linear_wg", v, "avgpool grad as matmul dY·vᵀ", linear_program(n, co, "wg", dtype, v, cores),
                      {"DY": dy.reshape(-1), "X": _pool_vector(lay, dtype)})
        dx = np.zeros(lay.in_shape, NP_DTYPE[dtype])
        dx[:, :kh, :kw] = out["DW"].reshape(c, kh, kw)
        return [dx]
    if lay.kind in ("AvgPool", "MaxPool"):
        k, s = _square(lay)
        kind = f"{lay.kind.lower()}_bwd"
        inputs = {"DY": dy}
        if lay.kind == "MaxPool":
            inputs["X"] = xs[0]
        out = run.run(kind, "scalar", "layer", pool_bwd_program(c, h, wd, k, s, dtype, kind, cores), inputs)
        return [out["DX"].reshape(lay.in_shape)]
    raise TrainError(f"layer {lay.name!r}: no input-gradient kernel for {lay.kind}")


def accumulate(run: _Runner, old: np.ndarray, new: np.ndarray, dtype: str, cores: int) -> np.ndarray:
    """The sum of two gradients of one tensor (the `add` kernel)."""
    from mcusim.kernels_asm.kernels.layers_elementwise import add_program
    out = run.run("add", "scalar" if dtype == "fp32" else "simd", "gradient sum",
                  add_program(old.size, dtype, cores), {"X": old.reshape(-1), "Y": new.reshape(-1)})
    return out["Z"].reshape(old.shape)


def loss_kernel(run: _Runner, lay: Layer, logits: np.ndarray, target: Any, dtype: str,
                cores: int) -> tuple[float, np.ndarray]:
    """The loss value (FP32) and dL/dlogits from one kernel run."""
    from mcusim.kernels_asm.kernels.losses import crossentropy_program, mse_program
    z = logits.reshape(-1)
    if lay.kind == "CrossEntropy":
        t = np.zeros(z.size, NP_DTYPE[dtype])
        t[int(target)] = 1
        out = run.run("crossentropy", "fp32" if dtype == "fp32" else "fp32_math", "value and gradient",
                      crossentropy_program(z.size, dtype, cores), {"Z": z, "T": t})
        return float(out["LOSS"][0]), out["DZ"].reshape(logits.shape)
    t = FLOAT[dtype].round(np.asarray(target)).reshape(-1)
    out = run.run("mse", "fp32" if dtype == "fp32" else "fp32_math", "value and gradient",
                  mse_program(z.size, dtype, cores), {"Y": z, "T": t})
    return float(out["LOSS"][0]), out["DY"].reshape(logits.shape)


def sgd(run: _Runner, w: np.ndarray, dw: np.ndarray, lr: float, dtype: str, cores: int) -> np.ndarray:
    from mcusim.kernels_asm.kernels.layers_elementwise import sgd_program
    out = run.run("sgd", "fnmsub" if dtype == "fp32" else "simd", "w -= lr*dW",
                  sgd_program(w.size, dtype, cores),
                  {"W": w.reshape(-1), "G": dw.reshape(-1), "LR": FLOAT[dtype].round(np.array([lr]))})
    return out["W"].reshape(w.shape)


# ------------------------------------------------------------------------------------------------
# DMA model
# ------------------------------------------------------------------------------------------------

def _transfer(nbytes: float, config: ClusterConfig) -> int:
    return config.dma.setup_latency + math.ceil(nbytes / config.dma.bandwidth) if nbytes > 0 else 0


def dma_model(steps: list[planner.StepPlan], compute_cycles: int, dtype: str,
              config: ClusterConfig) -> DmaModel:
    """Exposed DMA cycles of one step (several plan steps when one kernel serves them: the loss)."""
    es = model.elem_bytes(dtype)
    busy = exposed = exposed_in = transfers = bin_ = bout = 0
    for sp in steps:
        t = sp.tiles
        res_in = [b.elems * es for b in sp.buffers if not b.tiled and b.role in ("in", "inout")]
        res_out = [b.elems * es for b in sp.buffers if not b.tiled and b.role in ("out", "inout")]
        sl_in = [b for b in sp.buffers if b.tiled and b.role in ("in", "inout")]
        sl_out = [b for b in sp.buffers if b.tiled and b.role in ("out", "inout")]
        # bytes of the sliced operands per tile: the plan's totals less the resident ones, averaged
        tile_in = (sp.dma_in - sum(res_in)) / t if sl_in else 0.0
        tile_out = (sp.dma_out - sum(res_out)) / t if sl_out else 0.0
        load_res = sum(_transfer(n, config) for n in res_in)
        store_res = sum(_transfer(n, config) for n in res_out)
        # one transfer per sliced operand and tile, its share of the tile's bytes by buffer size
        def per_tile(bufs: list[planner.Buffer], total: float) -> int:
            size = sum(b.elems for b in bufs)
            return sum(_transfer(total * b.elems / size, config) for b in bufs) if bufs else 0
        load_t, store_t = per_tile(sl_in, tile_in), per_tile(sl_out, tile_out)
        step_busy = load_res + store_res + t * (load_t + store_t)
        if sp.double_buffer and t > 1:
            c = compute_cycles / len(steps) / t
            hidden_exposed = sum(max(0.0, (load_t if i < t - 1 else 0) + (store_t if i > 0 else 0) - c)
                                 for i in range(t))
            step_exposed = load_res + load_t + math.ceil(hidden_exposed) + store_t + store_res
            exposed_in += load_res + load_t
        else:
            step_exposed = step_busy
            exposed_in += load_res + t * load_t
        busy += step_busy
        exposed += step_exposed
        transfers += len(res_in) + len(res_out) + t * (len(sl_in) + len(sl_out))
        bin_ += sp.dma_in
        bout += sp.dma_out
    main = max(steps, key=lambda s: s.tiles)
    return DmaModel(main.tiles, main.split, main.double_buffer, bin_, bout, transfers, busy, exposed, exposed_in)


# ------------------------------------------------------------------------------------------------
# The step
# ------------------------------------------------------------------------------------------------

Progress = Callable[[int, int, StepRecord], None]


def as_network(network: Network | Mapping[str, Any] | str) -> Network:
    if isinstance(network, Network):
        return network
    return model.build(dict(network) if isinstance(network, Mapping) else network)


def simulate_step(network: Network | Mapping[str, Any] | str, dtype: str = "fp32",
                  config: ClusterConfig | None = None, engine: str = "c", cores: int = 8, seed: int = 0,
                  lr: float = 0.01, progress: Progress | None = None,
                  params: Mapping[str, np.ndarray] | None = None, x: np.ndarray | None = None,
                  target: Any = None, double_buffer: bool = True,
                  variants: Mapping[str, str] | None = None, verify: bool = True,
                  profile: bool = False, dma: str = "simulate",
                  variant_plan: Mapping[tuple[str, str], Mapping[str, Any]] | None = None) -> StepResult:
    """Simulate one SGD training step (see the module docstring). Initial weights, input and target
    default to reference.init_params / random_input / random_target with `seed`. `variants` forces a
    kernel variant per kernel name (e.g. {"conv2d_fw": "ab"}). `verify` compares the updated weights
    with reference.train_step (StepResult.numerics). `dma`: "simulate" (default: the whole step is
    ONE program, workloads.step_program: the controller moves every tile with the DMA while the
    workers compute, all in one simulation on the configured TCDM; the records' cycles, exposed DMA
    and overhead are measured) or "model" (each layer-phase's kernel simulated on its own, the
    planner's transfers priced by the DMA timing rule, tiled steps run whole on an enlarged TCDM: an
    estimate). `profile` profiles the kernel runs (KernelCall.profile: cycles per instruction, and
    the cores' sleeps such as barrier waits; simulated: one profile of the whole program).
    `progress(done, total, record)`: called per layer-phase (simulated: as the simulation reaches
    it, record None until the run ends). `variant_plan` (workloads.tune.load_plan) forces kernel
    variants per layer-phase over `variants`, and (dma="simulate") tilings:
    {(layer, phase): {kernel: variant, step_program.TILING: Tiling}}."""
    if dtype not in NP_DTYPE:
        raise ValueError(f"dtype must be one of {', '.join(NP_DTYPE)}, not {dtype!r}")
    if dma not in ("model", "simulate"):
        raise ValueError(f"dma must be model or simulate, not {dma!r}")
    net = as_network(network)
    config = config or load_config()
    if not 1 <= cores <= config.workers:
        raise ValueError(f"cores must be 1..{config.workers}, not {cores}")
    if dma == "simulate":
        return _simulate_program(net, dtype, config, engine, cores, seed, lr, progress, params, x, target,
                                 double_buffer, variants, verify, profile, variant_plan)
    plan = planner.plan_network(net, dtype, config.tcdm.size_kib * 1024, (config.workers + 1) * 1024,
                                double_buffer)
    rnd = FLOAT[dtype].round
    params0 = {k: rnd(np.asarray(v)) for k, v in (params or reference.init_params(net, seed, dtype)).items()}
    x0 = rnd(np.asarray(reference.random_input(net, seed, dtype) if x is None else x))
    target = reference.random_target(net, seed, dtype) if target is None else target
    eng = resolve_engine(engine)

    weights = dict(params0)
    acts: dict[str, np.ndarray] = {INPUT: x0}
    grads: dict[str, np.ndarray] = {}
    wgrads: dict[str, np.ndarray] = {}
    loss = float("nan")
    records: list[StepRecord] = []
    schedule = net.schedule()
    plans = dict(zip(((lay.name, ph) for lay, ph in schedule), plan.steps))
    todo = [(lay, ph) for lay, ph in schedule if not (lay.is_loss and ph is Phase.INPUT_GRAD)]
    for lay, ph in todo:
        chosen = {k: v for k, v in (variant_plan or {}).get((lay.name, ph.value), {}).items()
                  if isinstance(v, str)}         # a plan's tiling is the step program's (dma="simulate")
        run = _Runner(config, cores, eng, {**(variants or {}), **chosen}, profile, dma)
        xs = [acts[i] for i in lay.inputs]
        w = weights.get(lay.name)
        steps = [plans[(lay.name, ph)]]
        label, note = ph.value, ""
        if lay.is_loss:
            label, note = LOSS, "forward and gradient in one kernel"
            steps.append(plans[(lay.name, Phase.INPUT_GRAD)])
            loss, grads[net.output.name] = loss_kernel(run, lay, xs[0], target, dtype, cores)
        elif ph is Phase.FORWARD:
            acts[lay.name] = forward(run, lay, xs, w, dtype, cores)
        elif ph is Phase.WEIGHT_GRAD:
            wgrads[lay.name] = weight_grad(run, lay, xs, grads[lay.name], dtype, cores)
        elif ph is Phase.INPUT_GRAD:
            dxs = input_grads(run, lay, xs, w, grads[lay.name], dtype, cores)
            for src, need, acc, dx in zip(lay.inputs, lay.grad_inputs, lay.accumulate, dxs):
                if need:
                    grads[src] = accumulate(run, grads[src], dx, dtype, cores) if acc else dx
            if lay.kind == "Add":
                note = "dY goes to both operands"
        else:
            weights[lay.name] = sgd(run, weights[lay.name], wgrads[lay.name], lr, dtype, cores)
        compute = sum(k.cycles for k in run.calls)
        step_dma = dma_model(steps, compute, dtype, config)
        if run.calls and all(k.dma_cycles is not None for k in run.calls):
            # every kernel of the step moved its operands with the simulated DMA: use those cycles
            d_in = sum(k.dma_cycles[0] for k in run.calls)
            d_out = sum(k.dma_cycles[1] for k in run.calls)
            step_dma = dataclasses.replace(step_dma, tiles=1, split="simulated", double_buffer=False,
                                           busy_cycles=d_in + d_out, exposed_cycles=d_in + d_out,
                                           exposed_in=d_in)
        rec = StepRecord(lay.name, lay.kind, label, sum(s.macs for s in steps), run.calls,
                         step_dma, max(s.tcdm_bytes for s in steps),
                         max((k.tcdm_kib for k in run.calls), default=config.tcdm.size_kib), note,
                         config.tcdm.size_kib)
        # model: the kernels' runs (each a whole harness run) plus the modelled DMA's bytes
        rec.energy = sum_energy([k.energy for k in run.calls],
                                {"dma": (step_dma.bytes_in + step_dma.bytes_out) * config.energy.dma_byte_pj})
        records.append(rec)
        if progress is not None:
            progress(len(records), len(todo), rec)
    used = tuple(sorted({k.engine for r in records for k in r.kernels}))
    result = StepResult(net.name, dtype, cores, engine, used, config, records, plan, loss, weights, wgrads, None,
                        lr, seed, net)
    if verify:
        result.numerics = check_numerics(net, dtype, params0, x0, target, lr, loss, weights, wgrads)
    return result


def _simulate_program(net: Network, dtype: str, config: ClusterConfig, engine: str, cores: int, seed: int,
                      lr: float, progress: Progress | None, params: Mapping[str, np.ndarray] | None,
                      x: np.ndarray | None, target: Any, double_buffer: bool,
                      variants: Mapping[str, str] | None, verify: bool, profile: bool,
                      variant_plan: Mapping[tuple[str, str], Mapping[str, Any]] | None = None) -> StepResult:
    """simulate_step(dma="simulate"): compile the step program, run it once, read the records from
    its regions and the updated weights from L2."""
    from mcusim.workloads import step_program as spm
    plan = _plan_or_none(net, dtype, config, double_buffer)
    rnd = FLOAT[dtype].round
    params0 = {k: rnd(np.asarray(v)) for k, v in (params or reference.init_params(net, seed, dtype)).items()}
    x0 = rnd(np.asarray(reference.random_input(net, seed, dtype) if x is None else x))
    target = reference.random_target(net, seed, dtype) if target is None else target
    eng = resolve_engine(engine)
    try:
        sp = spm.compile_step(net, dtype, config, cores, params0, x0, target, lr, variants, double_buffer,
                              variant_plan=variant_plan)
    except spm.LowerError as exc:
        raise TrainError(str(exc)) from None
    hook = None
    if progress is not None:
        hook = lambda done, total: progress(done, total, None)  # noqa: E731
    run = spm.run_step_program(sp, eng, profile, hook)
    records = [_record(m, run, config, eng) for m in run.measures]
    weights = {lay.name: run.tensor(f"W:{lay.name}", lay.weight_shape) for lay in net.trainable}
    wgrads = {lay.name: run.tensor(f"dW:{lay.name}", lay.weight_shape) for lay in net.trainable}
    loss = run.loss()
    if plan is None:
        plan = planner.Plan(net.name, dtype, config.tcdm.size_kib * 1024, (config.workers + 1) * 1024, ())
    result = StepResult(net.name, dtype, cores, engine, (run.result.engine,), config, records, plan, loss,
                        weights, wgrads, None, lr, seed, net, "simulated", sp, run.cycles, run.result, run)
    if progress is not None:
        for i, r in enumerate(records):
            progress(i + 1, len(records), r)
    if verify:
        result.numerics = check_numerics(net, dtype, params0, x0, target, lr, loss, weights, wgrads)
    return result


def _plan_or_none(net: Network, dtype: str, config: ClusterConfig, double_buffer: bool) -> planner.Plan | None:
    try:
        return planner.plan_network(net, dtype, config.tcdm.size_kib * 1024, (config.workers + 1) * 1024,
                                    double_buffer)
    except planner.PlanError:
        return None


def _record(m: Any, run: Any, config: ClusterConfig, engine: str) -> StepRecord:
    """A StepRecord from one layer-phase's measurements in the step program."""
    info = m.info
    coeff = config.energy
    ran = {c.id for c in run.result.ran}
    kernels: list[KernelCall] = []
    groups: dict[tuple[str, str, str], int] = {}
    for e, ((kern, var, role), cyc) in enumerate(zip(info.calls, m.compute)):
        key = (kern, var, role)
        if key not in groups:
            groups[key] = len(kernels)
            kernels.append(KernelCall(kern, var, role, 0, 0, dict.fromkeys(STALL_CAUSES, 0), [],
                                      config.tcdm.size_kib, engine,
                                      energy=Energy(dict.fromkeys(energy_model.PARTS, 0.0))))
        k = kernels[groups[key]]
        k.cycles += cyc
        if e < len(m.fork_counters):
            # a fork: the workers' counters inside it; every worker is powered over its whole span
            workers = [{"cycles": cyc, **v} for c, v in m.fork_counters[e].items() if c in ran]
            k.energy = sum_energy([k.energy, energy_model.estimate(workers, cyc, 0, coeff)])
    if kernels:
        # per-region counters cover every fork of the step: they go to its first kernel
        kernels[0].instret, kernels[0].stalls, kernels[0].per_core = m.instret, dict(m.stalls), m.per_core
        kernels[0].spans = m.spans
    if run.result.profile is not None and kernels:
        kernels[0].profile = None
    dma = DmaModel(info.tiles, info.split if info.tiles > 1 else "whole", info.double_buffer, info.bytes_in,
                   info.bytes_out, info.transfers, _busy(info, config), m.exposed,
                   sum(b - a for a, b in m.dma_spans[:1]), "simulated", m.bank_cycles, m.overhead)
    phase_energy = None
    if m.counters:
        cores = [{"cycles": m.cycles, **v} for c, v in m.counters.items() if c in ran]
        phase_energy = energy_model.estimate(cores, m.cycles, info.bytes_in + info.bytes_out, coeff)
    matmuls = "+".join(dict.fromkeys(v for mm in info.matmuls for v in mm.split("+") if v))
    return StepRecord(info.layer, info.kind, info.phase, info.macs, kernels, dma, info.tcdm_bytes,
                      config.tcdm.size_kib, info.note, config.tcdm.size_kib, m.cycles, m.start,
                      list(m.compute), phase_energy, matmuls)


def _busy(info: Any, config: ClusterConfig) -> int:
    """Cycles the DMA engine is busy for the step's transfers (the simulator's rule, per transfer)."""
    return info.transfers * config.dma.setup_latency + math.ceil((info.bytes_in + info.bytes_out) / config.dma.bandwidth)


# ------------------------------------------------------------------------------------------------
# Numerics
# ------------------------------------------------------------------------------------------------

def longest_sum(net: Network) -> int:
    """The longest dot product of the step (terms of one output of any forward, weight-gradient or
    input-gradient op), for the FP32 bound."""
    k = 1
    for lay in net.layers:
        if not lay.trainable:
            continue
        c, h, w = lay.in_shape
        co, ho, wo = lay.out_shape
        kk = lay.kernel[0] * lay.kernel[1]
        if lay.kind == "Conv2D":
            k = max(k, c * kk, ho * wo, co * kk)
        elif lay.kind == "PointWise":
            k = max(k, c, ho * wo, co)
        elif lay.kind == "DepthWise":
            k = max(k, kk, ho * wo)
        else:
            k = max(k, c * h * w, co)
    return k


def fp32_rel(net: Network) -> float:
    """REL for FP32: 2 * (layers, a bound on the ops along any path) * Kmax * 2^-24 (see ULPS/REL16)."""
    return 2 * len(net.layers) * longest_sum(net) * 2.0 ** -24


def _ulp(a: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "bf16":
        return FLOAT[dtype].ulp(a)
    st = NP_DTYPE[dtype]
    a = np.abs(np.asarray(a, st))
    return (np.nextafter(a, np.array(np.inf, st)) - a).astype(np.float64)


def check_numerics(net: Network, dtype: str, params0: Mapping[str, np.ndarray], x: np.ndarray, target: Any,
                   lr: float, loss: float, new_params: Mapping[str, np.ndarray],
                   weight_grads: Mapping[str, np.ndarray] | None = None) -> NumericsCheck:
    """Compare the simulated updated weights and loss with reference.train_step (rules at ULPS/REL16)."""
    ref = reference.train_step(net, dict(params0), x, target, lr, dtype)
    rel = fp32_rel(net) if dtype == "fp32" else REL16
    checks = []
    for name, w_ref in ref.params.items():
        w_ref64 = w_ref.astype(np.float64)
        w_sim64 = np.asarray(new_params[name]).astype(np.float64)
        w0 = np.asarray(params0[name]).astype(np.float64)
        update = lr * float(np.max(np.abs(ref.weight_grads[name].astype(np.float64))))
        bound = ULPS * _ulp(w_ref, dtype) + rel * update
        err = np.abs(w_sim64 - w_ref64)
        d_ref, d_sim = w_ref64 - w0, w_sim64 - w0
        norm = float(np.linalg.norm(d_ref))
        upd_rel = float(np.linalg.norm(d_sim - d_ref)) / norm if norm else float(np.linalg.norm(d_sim))
        g_rel = float("nan")
        if weight_grads is not None:
            g_ref = ref.weight_grads[name].astype(np.float64)
            g_norm = float(np.linalg.norm(g_ref))
            g_diff = float(np.linalg.norm(np.asarray(weight_grads[name]).astype(np.float64) - g_ref))
            g_rel = g_diff / g_norm if g_norm else g_diff
        checks.append(TensorCheck(name, float(err.max()), float(bound.max()), bool(np.all(err <= bound)),
                                  update, upd_rel, g_rel))
    if dtype == "fp32":
        loss_bound = rel * max(abs(ref.loss), 1.0)
        rule = f"|Δw| <= ulp(w) + {rel:.2g} * lr * max|dW| (= 2 * {len(net.layers)} ops * Kmax {longest_sum(net)} * 2^-24)"
    else:
        loss_bound = LOSS_REL16 * max(abs(ref.loss), 1.0)
        rule = (f"|Δw| <= ulp16(w) + {REL16} * lr * max|dW| (pure FP16 step, see train.py)" if dtype == "fp16" else
                f"|Δw| <= ulp_bf16(w) + {REL16} * lr * max|dW| (pure bfloat16 step against a numpy bfloat16 "
                f"reference, see train.py)")
    return NumericsCheck(dtype, rule, rel, checks, loss, ref.loss, bool(abs(loss - ref.loss) <= loss_bound))
