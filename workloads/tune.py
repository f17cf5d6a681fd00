"""Autotuning (`mcusim tune`): for each layer-phase of a network, the fastest kernel variant.

    from mcusim.workloads import tune
    plan = tune.tune("resnet8", "fp16", config, cores=8, jobs=2)          # or scheduler="tcp://..."
    tune.save_plan(plan, "plan.json"); tune.print_gains(plan)
    overrides = tune.load_plan("plan.json", network="resnet8", dtype="fp16")
    train.simulate_step("resnet8", "fp16", config, variant_plan=overrides)       # {(layer, phase): {kernel: variant}}

What it does. Every layer-phase the library lowers to one kernel with a choice of variants
(LOWERINGS: Conv2D, PointWise, DepthWise and Linear in forward, weight gradient and input gradient,
ReLU forward) is a candidate set: every variant the kernel library offers for the dtype
(registry variants). Each candidate is simulated as that layer-phase's kernel, with the layer's real
shapes and seeded random operands, through the sweep machinery (workloads.sweep_points, kind
"layer": in this process, a local pool or on Dask). A candidate whose operands do not fit the
configured TCDM is simulated on the TCDM enlarged as the training step does (train.fit_config), so
its cycles are the step's; the plan records whether it fits. The fastest candidate is kept; ties go
to the library's default (its `choose` rule), then to one that fits, so a tuned step is never slower
than the default one.

What it does not do (yet). Tiling: a step the planner tiles is simulated whole (as the training step
does today), so tile counts are recorded from the planner, not searched. Layer-phases with a single
kernel variant (pools, losses, SGD, element-wise) are not listed.

Cycles do not depend on the data values (the FPU and integer timings are data-independent for the
operations these kernels use; divides are not in them), so a candidate's cycles on random operands
are its cycles inside the step; tests/test_tune.py checks this against the simulated step.

Plan file (JSON, schema `mcusim-plan/1`): network, dtype, cores, config, and `steps`: one object per
tuned layer-phase with layer, phase, kernel, variant (the chosen one), default_variant, cycles,
default_cycles, gain (default_cycles / cycles), fits_tcdm and candidates {variant: cycles or error}.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

PLAN_SCHEMA = "mcusim-plan/1"


class TuneError(ValueError):
    """A network, plan file or option tune cannot use (one line naming it)."""


@dataclass(frozen=True)
class Lowering:
    """How one (layer kind, phase) becomes one library kernel: its registry name, its program for a
    variant, and the library's default variant."""
    kernel: str
    program: Callable[[Any, str, str, int], Any]       # (layer, variant, dtype, cores) -> KernelProgram
    default: Callable[[Any, str, int], str]             # (layer, dtype, cores) -> variant


def _geom(lay):
    from mcusim.kernels_asm.kernels.transforms import ConvGeom
    return ConvGeom(*lay.conv_geom_args())


def _conv(phase: str) -> Lowering:
    from mcusim.kernels_asm.kernels import layers_conv as lc
    return Lowering(f"conv2d_{phase}",
                    lambda lay, v, d, c: lc.conv2d_program(_geom(lay), lay.out_shape[0], phase, d, v, c),
                    lambda lay, d, c: lc.conv2d_choose(_geom(lay), lay.out_shape[0], phase, d, c))


def _pointwise(phase: str) -> Lowering:
    from mcusim.kernels_asm.kernels import layers_conv as lc
    return Lowering(f"pointwise_{phase}",
                    lambda lay, v, d, c: lc.pointwise_program(lay.in_shape[0], lay.out_shape[0], lay.in_shape[1],
                                                              lay.in_shape[2], phase, d, v, c),
                    lambda lay, d, c: lc.pointwise_choose(lay.in_shape[0], lay.out_shape[0],
                                                          lay.in_shape[1] * lay.in_shape[2], phase, d, c))


def _depthwise(phase: str) -> Lowering:
    from mcusim.kernels_asm.kernels import layers_conv as lc
    from mcusim.kernels_asm.kernels import registry
    kernel = f"depthwise_{phase}"

    def default(lay, d: str, c: int) -> str:
        g = _geom(lay)
        shape = {"c": g.c, "h": g.h, "w": g.w, "kh": lay.kernel[0], "kw": lay.kernel[1], "s": lay.stride[0],
                 "p": 0}
        return registry.get(kernel).default_variant(shape, d, c)
    return Lowering(kernel, lambda lay, v, d, c: lc.depthwise_program(_geom(lay), phase, d, c, v), default)


def _linear(phase: str) -> Lowering:
    from mcusim.kernels_asm.kernels import layers_linear as ll
    return Lowering(f"linear_{phase}",
                    lambda lay, v, d, c: ll.linear_program(_size(lay.in_shape), lay.out_shape[0], phase, d, v, c),
                    lambda lay, d, c: ll.linear_choose(_size(lay.in_shape), lay.out_shape[0], phase, d, c))


def _relu() -> Lowering:
    from mcusim.kernels_asm.kernels import layers_elementwise as le
    from mcusim.kernels_asm.kernels import registry
    return Lowering("relu", lambda lay, v, d, c: le.relu_program(_size(lay.in_shape), d, v, c),
                    lambda lay, d, c: registry.get("relu").variants[d][0])


def _size(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


_PHASE = {"forward": "fw", "weight_grad": "wg", "input_grad": "ig"}
# (layer kind, phase) -> lowering; built on first use (the kernel modules are imported then).
_TABLE: dict[tuple[str, str], Callable[[], Lowering]] = {
    **{("Conv2D", ph): (lambda p=p: _conv(p)) for ph, p in _PHASE.items()},
    **{("PointWise", ph): (lambda p=p: _pointwise(p)) for ph, p in _PHASE.items()},
    **{("DepthWise", ph): (lambda p=p: _depthwise(p)) for ph, p in _PHASE.items()},
    **{("Linear", ph): (lambda p=p: _linear(p)) for ph, p in _PHASE.items()},
    ("ReLU", "forward"): _relu,
}


def lowering(kind: str, phase: str) -> Lowering | None:
    make = _TABLE.get((kind, phase))
    return make() if make is not None else None


def network(name: str):
    """The Network of a name (resnet8, dscnn) or a description FILE.json; TuneError names it."""
    from mcusim.workloads import model, networks
    try:
        desc = networks.load_json(name) if name.endswith(".json") else networks.get(name)
        return model.build(desc)
    except (KeyError, TypeError) as exc:
        raise TuneError(str(exc.args[0] if exc.args else exc)) from None
    except (OSError, ValueError) as exc:
        raise TuneError(f"{name}: cannot read a network description ({exc})") from None


def run_layer(net_name: str, layer: str, phase: str, variant: str, dtype: str, config, cores: int, engine: str,
              seed: int = 0) -> dict[str, Any]:
    """Simulate one layer-phase's kernel in one variant on random operands (the sweep kind "layer")."""
    import numpy as np

    from mcusim.kernels_asm.kernels import harness
    from mcusim.workloads.train import fit_config
    lay = network(net_name).layer(layer)
    low = lowering(lay.kind, phase)
    if low is None:
        raise TuneError(f"layer {layer!r} ({lay.kind}) phase {phase}: no tunable kernel")
    prog = low.program(lay, variant, dtype, cores)
    rng = np.random.default_rng(seed)
    from mcusim.kernels_asm.dtypes import DTYPES
    inputs = {t.name: DTYPES[dtype].round(rng.uniform(-1, 1, t.shape)) for t in prog.tensors if t.role == "input"}
    fits = True
    try:
        harness.layout(prog.tensors, config)
    except harness.HarnessError:
        fits = False
    run = harness.run_kernel(prog, inputs, cores, fit_config(prog, config), engine)
    return {"cycles": run.cycles, "instret": run.instret, "macs": lay.macs(_phase(phase)), "stalls": run.stalls(),
            "error": "", "fits_tcdm": fits}


def _phase(name: str):
    from mcusim.workloads.model import Phase
    return Phase(name)


@dataclass
class StepChoice:
    layer: str
    phase: str
    kernel: str
    default_variant: str
    candidates: dict[str, dict[str, Any]]      # variant -> sweep row (cycles, error, fits_tcdm, ...)

    @property
    def variant(self) -> str:
        """The fastest candidate; among equals the default, then one whose operands fit the TCDM.
        A candidate that does not fit is kept: the step runs it the same way as the default that
        does not fit (whole, on an enlarged TCDM), so the tuned step is never slower."""
        ok = {v: r for v, r in self.candidates.items() if not r["error"] and r["cycles"] is not None}
        if not ok:
            return self.default_variant
        best = min(r["cycles"] for r in ok.values())
        if self.default_variant in ok and ok[self.default_variant]["cycles"] == best:
            return self.default_variant
        return min((not r.get("fits_tcdm"), v) for v, r in ok.items() if r["cycles"] == best)[1]

    @property
    def cycles(self) -> int | None:
        return self.candidates[self.variant]["cycles"]

    @property
    def default_cycles(self) -> int | None:
        return self.candidates.get(self.default_variant, {}).get("cycles")


@dataclass
class TunedPlan:
    network: str
    dtype: str
    cores: int
    config: dict
    steps: list[StepChoice]

    def overrides(self) -> dict[tuple[str, str], dict[str, str]]:
        return {(s.layer, s.phase): {s.kernel: s.variant} for s in self.steps}

    def to_json(self) -> dict[str, Any]:
        steps = []
        for s in self.steps:
            dc, c = s.default_cycles, s.cycles
            steps.append({"layer": s.layer, "phase": s.phase, "kernel": s.kernel, "variant": s.variant,
                          "default_variant": s.default_variant, "cycles": c, "default_cycles": dc,
                          "gain": round(dc / c, 4) if dc and c else None,
                          "fits_tcdm": bool(s.candidates[s.variant].get("fits_tcdm")),
                          "candidates": {v: (r["cycles"] if not r["error"] else f"error: {r['error']}")
                                         for v, r in s.candidates.items()}})
        return {"schema": PLAN_SCHEMA, "network": self.network, "dtype": self.dtype, "cores": self.cores,
                "config": self.config, "steps": steps}


def tune(network_name: str, dtype: str = "fp32", config=None, cores: int = 8, engine: str = "c", jobs: int = 1,
         scheduler: Any = None, progress: IO[str] | None = None, seed: int = 0) -> TunedPlan:
    """Simulate every variant of every tunable layer-phase; the fastest per layer-phase (module docstring)."""
    from mcusim.simulator.config import load_config
    from mcusim.kernels_asm.kernels import registry
    from mcusim.workloads.sweep_exec import Progress, execute
    from mcusim.workloads.sweep_points import Task, evaluate
    from mcusim.kernels_asm.dtypes import FLOAT_DTYPES
    if dtype not in FLOAT_DTYPES:
        raise TuneError(f"--dtype {dtype!r}: expected one of {', '.join(FLOAT_DTYPES)}")
    config = config or load_config()
    net = network(network_name)
    name = str(Path(network_name).resolve()) if network_name.endswith(".json") else network_name
    choices: list[StepChoice] = []
    tasks: list[Task] = []
    where: list[tuple[int, str]] = []
    overrides = config.to_dict()          # the whole configuration, so that a worker rebuilds it exactly
    for lay, ph in net.schedule():
        low = lowering(lay.kind, ph.value)
        if low is None or lay.is_loss:
            continue
        variants = registry.get(low.kernel).variants[dtype]
        if len(variants) < 2:
            continue
        choices.append(StepChoice(lay.name, ph.value, low.kernel, low.default(lay, dtype, cores), {}))
        for v in variants:
            where.append((len(choices) - 1, v))
            tasks.append(Task("layer", name, {"layer": lay.name, "phase": ph.value, "variant": v, "dtype": dtype,
                                              "seed": seed}, cores, overrides, engine=engine))
    bar = Progress(len(tasks), 0, progress, "tune") if progress is not None else None

    def on_result(i: int, row: Any) -> None:
        if isinstance(row, BaseException):
            row = {"cycles": None, "error": f"worker failed: {row}"}
        step, v = where[i]
        choices[step].candidates[v] = row
        if bar is not None:
            bar.update(bool(row["error"]))

    execute(evaluate, tasks, jobs, scheduler, on_result)
    return TunedPlan(net.name, dtype, cores, config.to_dict(), choices)


def save_plan(plan: TunedPlan, path: str) -> None:
    try:
        Path(path).write_text(json.dumps(plan.to_json(), indent=2) + "\n")
    except OSError as exc:
        raise TuneError(f"{path}: cannot write ({exc.strerror})") from None


def load_plan(path: str, network: Any = None, dtype: str | None = None) -> dict[tuple[str, str], dict[str, str]]:
    """The per-layer-phase kernel variants of a plan file, {(layer, phase): {kernel: variant}}; TuneError
    when the file is not a plan, or was tuned for another network or dtype (`network`: a Network)."""
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as exc:
        raise TuneError(f"{path}: cannot read ({exc.strerror})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise TuneError(f"{path}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != PLAN_SCHEMA or not isinstance(doc.get("steps"), list):
        raise TuneError(f"{path}: not a plan file (schema {PLAN_SCHEMA}, written by mcusim tune)")
    if dtype is not None and doc.get("dtype") != dtype:
        raise TuneError(f"{path}: tuned for {doc.get('dtype')}, not {dtype}")
    out: dict[tuple[str, str], dict[str, str]] = {}
    for i, step in enumerate(doc["steps"]):
        try:
            layer, phase, kernel, variant = (step[k] for k in ("layer", "phase", "kernel", "variant"))
        except (KeyError, TypeError):
            raise TuneError(f"{path}: steps[{i}] needs layer, phase, kernel and variant") from None
        if not all(isinstance(v, str) for v in (layer, phase, kernel, variant)):
            raise TuneError(f"{path}: steps[{i}]: layer, phase, kernel and variant must be strings")
        if network is not None:
            names = {lay.name: lay for lay in network.layers}
            if layer not in names:
                raise TuneError(f"{path}: steps[{i}]: network {network.name} has no layer {layer!r} "
                                f"(plan for {doc.get('network')})")
            low = lowering(names[layer].kind, phase)
            if low is None or low.kernel != kernel:
                raise TuneError(f"{path}: steps[{i}]: layer {layer!r} phase {phase!r} does not run kernel {kernel!r}")
        from mcusim.kernels_asm.kernels import registry
        try:
            kdef = registry.get(kernel)
        except KeyError as exc:
            raise TuneError(f"{path}: steps[{i}]: {exc.args[0]}") from None
        d = doc.get("dtype", "fp32")
        if variant not in kdef.variants.get(d, ()):
            raise TuneError(f"{path}: steps[{i}]: kernel {kernel} ({d}) has no variant {variant!r}")
        out[(layer, phase)] = {kernel: variant}
    return out


def gain_rows(plan: TunedPlan) -> list[dict[str, Any]]:
    return plan.to_json()["steps"]


def print_gains(plan: TunedPlan, stream: IO[str] | None = None) -> None:
    """Per layer-phase: default and chosen variant, their cycles and the gain; then the total."""
    out = stream or sys.stderr
    rows = gain_rows(plan)
    out.write(f"{'layer':<14} {'phase':<12} {'kernel':<14} {'default':<10} {'cycles':>9}  {'tuned':<10} "
              f"{'cycles':>9} {'gain':>6}\n")
    tot_d = tot_t = 0
    for r in rows:
        d, t = r["default_cycles"] or 0, r["cycles"] or 0
        tot_d += d
        tot_t += t
        gain = f"{r['gain']:.2f}x" if r["gain"] else "-"
        out.write(f"{r['layer']:<14} {r['phase']:<12} {r['kernel']:<14} {r['default_variant']:<10} {d:>9,}  "
                  f"{r['variant']:<10} {t:>9,} {gain:>6}\n")
    if tot_t:
        out.write(f"tuned layer-phases: {tot_d:,} -> {tot_t:,} cycles ({tot_d / tot_t:.3f}x) over {len(rows)} "
                  f"layer-phases ({plan.network} {plan.dtype}, {plan.cores} cores)\n")
