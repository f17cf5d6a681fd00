"""Autotuning (`mcusim tune`): for each layer-phase of a network, the fastest kernel variant x tiling.

    from mcusim.workloads import tune
    plan = tune.tune("resnet8", "fp16", config, cores=8, jobs=2)          # or scheduler="tcp://..."
    tune.save_plan(plan, "plan.json"); tune.print_gains(plan)
    overrides = tune.load_plan("plan.json", network=net, dtype="fp16")
    train.simulate_step(net, "fp16", config, variant_plan=overrides)
    # overrides: {(layer, phase): {kernel: variant, step_program.TILING: Tiling}}

What it does. The training step is one program (workloads.step_program): every layer-phase is a
sequence of tiles, each DMA'd in, computed by a library kernel on the workers and DMA'd out, with
double buffering when it fits. For each layer-phase tune builds the candidates:
- variants: the library's own rule (per tile shape, `*_choose`) and every variant the kernel
  library offers for the dtype, for the layer-phases that lower to a kernel with a choice
  (KERNELS: Conv2D, PointWise, DepthWise and Linear in every phase, ReLU forward);
- tilings, for each variant: those that fit the configured TCDM (step_program.tiling_candidates:
  the step compiler's own choice, the fewest tiles along the first split dimension for 1, 2 and 4
  along the second with single and double buffers, and 2x and 4x more tiles double-buffered).
Every candidate is simulated as a program of that one layer-phase, compiled by the step compiler
exactly as the whole step would run it (the same tiles, buffers, DMA transfers, forks and joins;
only the other layer-phases are left out), through the sweep machinery (workloads.sweep_points,
kind "layer": in this process, a local pool or on Dask). Its cycles are the layer-phase's span.

The choice. The fastest candidate wins when it beats the default (library rule, compiler's tiling)
by more than MARGIN; otherwise the default stays. A layer-phase's span inside the whole step is
not exactly its span alone: the TCDM arbiters' round-robin state left by the layer-phase before
shifts bank conflicts by up to ~1 % on convolutions (more on short element-wise steps). So tune then
simulates the whole step with the default and with the tuned plan (`verify`, on by default); if
the tuned step is slower, it reverts the choices with the smallest measured gains, half at a time,
until it is not: the plan it writes is never slower than the default, measured.

Cycles do not depend on the data values (the step's cycles are the same for any seed; tests check
it), so the one-layer-phase programs run on whatever the L2 holds.

Plan file (JSON, schema `mcusim-plan/2`): network, dtype, cores, config, `step` (default and tuned
whole-step cycles when verified) and `steps`: one object per tuned layer-phase with layer, phase,
kernel (null when the layer-phase has no variant choice), variant (null: the library's rule),
tiling {tiles: [t1, t2], double_buffer}, the default's, cycles, default_cycles, gain and the
candidates {"variant tiling": cycles or "error: ..."}. Schema `mcusim-plan/1` files (variants only)
are still read.
"""
from __future__ import annotations

import functools
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

PLAN_SCHEMA = "mcusim-plan/2"
OLD_SCHEMAS = ("mcusim-plan/1",)
MARGIN = 0.002        # a candidate must beat the default by more than this fraction of its cycles
LIBRARY = "library"   # the candidate label of the library's own variant rule
PRUNE = 1.25          # second round: the other tilings of the variants within this factor of the fastest


class TuneError(ValueError):
    """A network, plan file or option tune cannot use (one line naming it)."""


_PHASE = {"forward": "fw", "weight_grad": "wg", "input_grad": "ig"}
# (layer kind, phase) -> the library kernel whose variant the plan chooses (step_lower's ctx.variant names)
KERNELS: dict[tuple[str, str], str] = {
    **{(kind, ph): f"{prefix}_{p}" for kind, prefix in (("Conv2D", "conv2d"), ("PointWise", "pointwise"),
                                                        ("DepthWise", "depthwise"), ("Linear", "linear"))
       for ph, p in _PHASE.items()},
    ("ReLU", "forward"): "relu",
}


def kernel_of(kind: str, phase: str) -> str | None:
    return KERNELS.get((kind, phase))


def network(name: str):
    """The Network of a name (resnet8, dscnn) or a description FILE.json; TuneError names it."""
    return _network(name, _mtime(name))


def _mtime(name: str) -> float:
    try:
        return Path(name).stat().st_mtime if name.endswith(".json") else 0.0
    except OSError:
        return 0.0


@functools.lru_cache(maxsize=8)
def _network(name: str, _mtime: float):
    from mcusim.workloads import model, networks
    try:
        desc = networks.load_json(name) if name.endswith(".json") else networks.get(name)
        return model.build(desc)
    except (KeyError, TypeError) as exc:
        raise TuneError(str(exc.args[0] if exc.args else exc)) from None
    except (OSError, ValueError) as exc:
        raise TuneError(f"{name}: cannot read a network description ({exc})") from None


def _tiling(t: Any):
    from mcusim.workloads.step_program import Tiling
    return None if t is None else Tiling(int(t[0]), int(t[1]), bool(t[2]))


def layer_phases(net) -> list[tuple[Any, Any, str]]:
    """The (layer, phase, label) of the step program (the loss once, as "loss")."""
    from mcusim.workloads.step_program import LOSS, todo
    return [(lay, ph, LOSS if lay.is_loss else ph.value) for lay, ph in todo(net)]


@functools.lru_cache(maxsize=8)
def _inputs(name: str, mtime: float, dtype: str, seed: int):
    return _step_inputs(_network(name, mtime), dtype, seed)


def _step_inputs(net, dtype: str, seed: int):
    from mcusim.workloads import reference
    return (reference.init_params(net, seed, dtype), reference.random_input(net, seed, dtype),
            reference.random_target(net, seed, dtype))


def run_layer(net_name: str, layer: str, phase: str, variant: str | None, tiles: Any, dtype: str, config,
              cores: int, engine: str, seed: int = 0) -> dict[str, Any]:
    """Simulate one layer-phase as the step program runs it, alone (the sweep kind "layer"):
    `variant` None = the library's rule, `tiles` (t1, t2, double) or None = the compiler's tiling."""
    from mcusim.workloads import step_program as spm
    net = network(net_name)
    lay = net.layer(layer)
    if (lay.name, phase) not in {(la.name, ph.value) for la, ph, _ in layer_phases(net)}:
        raise TuneError(f"layer {layer!r} ({lay.kind}) has no phase {phase} in the step")
    choice: dict[str, Any] = {}
    if variant is not None:
        kernel = kernel_of(lay.kind, phase)
        if kernel is None:
            raise TuneError(f"layer {layer!r} ({lay.kind}) phase {phase}: no kernel with a variant choice")
        choice[kernel] = variant
    if tiles is not None:
        choice[spm.TILING] = _tiling(tiles)
    params, x, target = _inputs(net_name, _mtime(net_name), dtype, seed)
    sp = spm.compile_step(net, dtype, config, cores, params, x, target, variant_plan={(layer, phase): choice},
                          only={(layer, phase)})
    sp.cache = False                    # one of many throw-away programs: keep the assembly caches small
    run = spm.run_step_program(sp, engine)
    m = run.measures[0]
    return {"cycles": m.cycles, "instret": run.result.instret, "macs": lay.macs(_phase(phase)) or None,
            "stalls": {k: int(v) for k, v in m.stalls.items()}, "error": ""}


def _phase(name: str):
    from mcusim.workloads.model import Phase
    return Phase(name)


@dataclass(frozen=True)
class Candidate:
    variant: str | None          # None: the library's rule
    tiling: tuple[int, int, bool]

    def label(self) -> str:
        t1, t2, d = self.tiling
        return f"{self.variant or LIBRARY} {t1}x{t2}{' 2buf' if d else ''}"


@dataclass
class StepChoice:
    layer: str
    phase: str
    kernel: str | None
    default: Candidate
    candidates: dict[Candidate, dict[str, Any]] = field(default_factory=dict)   # simulated -> sweep row
    pool: dict[str | None, list[Candidate]] = field(default_factory=dict)        # variant -> its tilings
    reverted: bool = False          # the whole-step check put the default back

    def first_round(self) -> list[Candidate]:
        """Every variant on its first tiling (the step compiler's choice for it)."""
        return list(dict.fromkeys([self.default, *(c[0] for c in self.pool.values())]))

    def second_round(self, prune: float | None) -> list[Candidate]:
        """The other tilings of every variant (`prune` None), or of the variants whose first round
        was within `prune` times the fastest one."""
        done = {c: r for c, r in self.candidates.items() if not r.get("error") and r.get("cycles")}
        best = min((r["cycles"] for r in done.values()), default=None)
        out = []
        for v, cands in self.pool.items():
            first = done.get(cands[0])
            if prune is not None and (first is None or best is None or first["cycles"] > prune * best):
                continue
            out += [c for c in cands[1:] if c not in self.candidates]
        return out

    @property
    def best(self) -> Candidate:
        """The fastest candidate if it beats the default by more than MARGIN, else the default."""
        ok = {c: r for c, r in self.candidates.items() if not r["error"] and r["cycles"] is not None}
        if not ok or self.reverted:
            return self.default
        best = min(ok, key=lambda c: (ok[c]["cycles"], c != self.default, c.label()))
        dc = ok.get(self.default, {}).get("cycles")
        if dc is not None and ok[best]["cycles"] >= dc * (1 - MARGIN):
            return self.default
        return best

    @property
    def variant(self) -> str | None:
        return self.best.variant

    @property
    def cycles(self) -> int | None:
        return self.candidates.get(self.best, {}).get("cycles")

    @property
    def default_cycles(self) -> int | None:
        return self.candidates.get(self.default, {}).get("cycles")

    @property
    def saved(self) -> int:
        d, c = self.default_cycles, self.cycles
        return (d - c) if d is not None and c is not None else 0

    def override(self) -> dict[str, Any]:
        from mcusim.workloads.step_program import TILING
        b = self.best
        out: dict[str, Any] = {TILING: _tiling(b.tiling)}
        if b.variant is not None and self.kernel is not None:
            out[self.kernel] = b.variant
        return out


@dataclass
class TunedPlan:
    network: str
    dtype: str
    cores: int
    config: dict
    steps: list[StepChoice]
    default_step: int | None = None      # whole-step cycles, default plan (when verified)
    tuned_step: int | None = None        # whole-step cycles, this plan

    def overrides(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {(s.layer, s.phase): s.override() for s in self.steps if s.best != s.default}

    def to_json(self) -> dict[str, Any]:
        steps = []
        for s in self.steps:
            dc, c, b = s.default_cycles, s.cycles, s.best
            steps.append({"layer": s.layer, "phase": s.phase, "kernel": s.kernel, "variant": b.variant,
                          "tiling": _tiling_json(b.tiling), "default_variant": s.default.variant,
                          "default_tiling": _tiling_json(s.default.tiling), "cycles": c, "default_cycles": dc,
                          "gain": round(dc / c, 4) if dc and c else None, "reverted": s.reverted,
                          "candidates": {k.label(): (r["cycles"] if not r["error"] else f"error: {r['error']}")
                                         for k, r in s.candidates.items()}})
        return {"schema": PLAN_SCHEMA, "network": self.network, "dtype": self.dtype, "cores": self.cores,
                "config": self.config, "step": {"default_cycles": self.default_step, "tuned_cycles": self.tuned_step},
                "steps": steps}


def _tiling_json(t: tuple[int, int, bool]) -> dict[str, Any]:
    return {"tiles": [t[0], t[1]], "double_buffer": t[2]}


def candidates(net, dtype: str, config, cores: int) -> list[StepChoice]:
    """Every layer-phase's candidates (not yet simulated): the library rule and each variant, each
    with the tilings that fit (step_program.tiling_candidates); layer-phases with one candidate are
    left out."""
    from mcusim.kernels_asm.kernels import registry
    from mcusim.workloads import planner
    from mcusim.workloads import step_program as spm
    alias = spm.grad_aliases(net)
    out: list[StepChoice] = []
    for lay, ph, label in layer_phases(net):
        names = spm.step_names(lay, alias)
        kernel = kernel_of(lay.kind, ph.value)
        variants: list[str | None] = [None]
        if kernel is not None:
            variants += list(registry.get(kernel).variants[dtype])
        try:
            fitted = spm.fit_step(lay, ph, names, dtype, cores, {}, config, True, label, net.name)
        except planner.PlanError as exc:
            raise TuneError(str(exc)) from None
        if not fitted.code.tiles:
            continue                     # no kernel runs (an Add's gradient that is dY itself)
        default = fitted.tiling
        choice = StepChoice(lay.name, ph.value, kernel, Candidate(None, (default.t1, default.t2, default.double)))
        for v in variants:
            try:
                tilings = spm.tiling_candidates(lay, ph, names, dtype, cores, {kernel: v} if v else {}, config,
                                                label, net.name)
            except (planner.PlanError, spm.LowerError, ValueError):
                continue                 # this variant fits no tiling (or cannot take this shape)
            choice.pool[v] = [Candidate(v, (t.t1, t.t2, t.double)) for t in tilings]
        if len({c for cands in choice.pool.values() for c in cands} | {choice.default}) > 1:
            out.append(choice)
    return out


def tune(network_name: str, dtype: str = "fp32", config=None, cores: int = 8, engine: str = "c", jobs: int = 1,
         scheduler: Any = None, progress: IO[str] | None = None, seed: int = 0, verify: bool = True,
         prune: float | None = PRUNE) -> TunedPlan:
    """Simulate the variant x tiling candidates of every layer-phase and keep the fastest (module
    docstring): first every variant on its own tiling, then every other tiling of the variants
    within `prune` times the fastest (None: of every variant). With `verify`, check the whole step
    against the default and revert choices while it is slower."""
    from mcusim.simulator.config import load_config
    from mcusim.workloads.sweep_exec import Progress, execute
    from mcusim.workloads.sweep_points import Task, evaluate
    from mcusim.kernels_asm.dtypes import FLOAT_DTYPES
    if dtype not in FLOAT_DTYPES:
        raise TuneError(f"--dtype {dtype!r}: expected one of {', '.join(FLOAT_DTYPES)}")
    if prune is not None and not prune >= 1.0:
        raise TuneError(f"--prune {prune}: expected a factor >= 1")
    config = config or load_config()
    net = network(network_name)
    name = str(Path(network_name).resolve()) if network_name.endswith(".json") else network_name
    choices = candidates(net, dtype, config, cores)
    plan = TunedPlan(net.name, dtype, cores, config.to_dict(), choices)
    overrides = config.to_dict()          # the whole configuration, so that a worker rebuilds it exactly

    def task(ch: StepChoice, c: Candidate):
        args: dict[str, Any] = {"layer": ch.layer, "phase": ch.phase, "dtype": dtype, "seed": seed,
                                "tiles": list(c.tiling[:2]), "double_buffer": c.tiling[2]}
        if c.variant is not None:
            args["variant"] = c.variant
        return Task("layer", name, args, cores, overrides, engine=engine)

    def run_round(where: list[tuple[int, Candidate]], extra: list) -> None:
        tasks = [task(choices[i], c) for i, c in where] + extra
        bar = Progress(len(tasks), 0, progress, "tune") if progress is not None else None

        def on_result(i: int, row: Any) -> None:
            if isinstance(row, BaseException):
                row = {"cycles": None, "error": f"worker failed: {row}"}
            if i >= len(where):
                plan.default_step = row.get("cycles")
            else:
                step, c = where[i]
                choices[step].candidates[c] = row
            if bar is not None:
                bar.update(bool(row["error"]))
        execute(evaluate, tasks, jobs, scheduler, on_result)

    run_round([(i, c) for i, ch in enumerate(choices) for c in ch.first_round()], [])
    verify_task = [Task("train", name, {"dtype": dtype, "seed": seed}, cores, overrides, engine=engine)]
    run_round([(i, c) for i, ch in enumerate(choices) for c in ch.second_round(prune)],
              verify_task if verify else [])
    if verify:
        _verify(plan, net, config, seed, engine)
    return plan


def _verify(plan: TunedPlan, net, config, seed: int, engine: str) -> None:
    """Simulate the whole step with the plan; while it is slower than the default one, put back the
    default for the half of the tuned layer-phases with the smallest measured gains."""
    from mcusim.workloads import train
    if plan.default_step is None:
        raise TuneError(f"{plan.network} {plan.dtype}: the default step failed to simulate")
    while True:
        over = plan.overrides()
        if not over:
            plan.tuned_step = plan.default_step
            return
        plan.tuned_step = train.simulate_step(net, plan.dtype, config, engine=engine, cores=plan.cores, seed=seed,
                                              verify=False, variant_plan=over).cycles
        if plan.tuned_step <= plan.default_step:
            return
        tuned = sorted((s for s in plan.steps if s.best != s.default), key=lambda s: (s.saved, s.layer, s.phase))
        for s in tuned[:max(1, len(tuned) // 2)]:
            s.reverted = True


def save_plan(plan: TunedPlan, path: str) -> None:
    try:
        Path(path).write_text(json.dumps(plan.to_json(), indent=2) + "\n")
    except OSError as exc:
        raise TuneError(f"{path}: cannot write ({exc.strerror})") from None


def _tiles_of(path: str, i: int, step: Mapping[str, Any]) -> Any:
    t = step.get("tiling")
    if t is None:
        return None
    ok = isinstance(t, dict) and isinstance(t.get("tiles"), list) and len(t["tiles"]) == 2 and \
        all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in t["tiles"]) and \
        isinstance(t.get("double_buffer"), bool)
    if not ok:
        raise TuneError(f"{path}: steps[{i}].tiling must be {{\"tiles\": [T1, T2], \"double_buffer\": "
                        f"true|false}} with T1, T2 >= 1")
    return _tiling((*t["tiles"], t["double_buffer"]))


def load_plan(path: str, network: Any = None, dtype: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """The per-layer-phase choices of a plan file, {(layer, phase): {kernel: variant, TILING: Tiling}};
    TuneError when the file is not a plan, or was tuned for another network or dtype (`network`: a
    Network)."""
    from mcusim.kernels_asm.kernels import registry
    from mcusim.workloads.step_program import TILING
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as exc:
        raise TuneError(f"{path}: cannot read ({exc.strerror})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise TuneError(f"{path}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") not in (PLAN_SCHEMA, *OLD_SCHEMAS) or \
            not isinstance(doc.get("steps"), list):
        raise TuneError(f"{path}: not a plan file (schema {PLAN_SCHEMA}, written by mcusim tune)")
    if dtype is not None and doc.get("dtype") != dtype:
        raise TuneError(f"{path}: tuned for {doc.get('dtype')}, not {dtype}")
    phases = {(la.name, ph.value): la for la, ph, _ in layer_phases(network)} if network is not None else None
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for i, step in enumerate(doc["steps"]):
        if not isinstance(step, dict) or not all(k in step for k in ("layer", "phase", "kernel", "variant")):
            raise TuneError(f"{path}: steps[{i}] needs layer, phase, kernel and variant")
        layer, phase, kernel, variant = (step[k] for k in ("layer", "phase", "kernel", "variant"))
        if not all(isinstance(v, str) for v in (layer, phase)) or \
                not all(v is None or isinstance(v, str) for v in (kernel, variant)):
            raise TuneError(f"{path}: steps[{i}]: layer and phase must be strings, kernel and variant strings or null")
        if phases is not None:
            if layer not in {la.name for la in network.layers}:
                raise TuneError(f"{path}: steps[{i}]: network {network.name} has no layer {layer!r} "
                                f"(plan for {doc.get('network')})")
            lay = phases.get((layer, phase))
            if lay is None:
                raise TuneError(f"{path}: steps[{i}]: layer {layer!r} has no phase {phase!r} in the step")
            if kernel is not None and kernel_of(lay.kind, phase) != kernel:
                raise TuneError(f"{path}: steps[{i}]: layer {layer!r} phase {phase!r} does not run kernel {kernel!r}")
        choice: dict[str, Any] = {}
        if variant is not None:
            if kernel is None:
                raise TuneError(f"{path}: steps[{i}]: a variant needs its kernel")
            try:
                kdef = registry.get(kernel)
            except KeyError as exc:
                raise TuneError(f"{path}: steps[{i}]: {exc.args[0]}") from None
            d = doc.get("dtype", "fp32")
            if variant not in kdef.variants.get(d, ()):
                raise TuneError(f"{path}: steps[{i}]: kernel {kernel} ({d}) has no variant {variant!r}")
            choice[kernel] = variant
        tiling = _tiles_of(path, i, step)
        if tiling is not None:
            choice[TILING] = tiling
        out[(layer, phase)] = choice
    return out


def gain_rows(plan: TunedPlan) -> list[dict[str, Any]]:
    return plan.to_json()["steps"]


def print_gains(plan: TunedPlan, stream: IO[str] | None = None) -> None:
    """Per layer-phase: the default and the chosen candidate, their cycles and the gain; then the
    total and the whole step's."""
    out = stream or sys.stderr
    out.write(f"{'layer':<16} {'phase':<12} {'default':<22} {'cycles':>9}  {'tuned':<22} {'cycles':>9} {'gain':>6}\n")
    tot_d = tot_t = 0
    for s in plan.steps:
        d, t = s.default_cycles or 0, s.cycles or 0
        tot_d += d
        tot_t += t
        gain = f"{d / t:.2f}x" if d and t else "-"
        note = " (reverted)" if s.reverted else ""
        out.write(f"{s.layer:<16} {s.phase:<12} {s.default.label():<22} {d:>9,}  {s.best.label():<22} {t:>9,} "
                  f"{gain:>6}{note}\n")
    n = sum(len(s.candidates) for s in plan.steps)
    if tot_t:
        out.write(f"tuned layer-phases: {tot_d:,} -> {tot_t:,} cycles ({tot_d / tot_t:.3f}x) over {len(plan.steps)} "
                  f"layer-phases, {n} candidates ({plan.network} {plan.dtype}, {plan.cores} cores)\n")
    if plan.default_step and plan.tuned_step:
        out.write(f"whole step (simulated): {plan.default_step:,} -> {plan.tuned_step:,} cycles "
                  f"({plan.default_step / plan.tuned_step:.3f}x)\n")
