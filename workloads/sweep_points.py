"""One point of a sweep: a workload (a program, a library kernel or a training step) on one cluster
configuration, reduced to the numbers of a sweep row. This is the function the sweep's workers run,
in this process, in a local process pool or on a Dask worker (workloads/sweep_exec.py).

    from mcusim.workloads.sweep_points import evaluate, Task
    evaluate(Task(kind="kernel", name="matmul", args={"m": 64, "dtype": "fp16"}, cores=8,
                  config={"fpu": {"count": 4}}, preset="default", config_file=None, engine="c"))
    -> {"cycles": ..., "mac_per_clk": ..., "instret": ..., "macs": ..., "wall_s": ..., "error": "",
        "stall_load_use": ..., ...}

A task is plain data (picklable, importable on a remote worker). Each workload kind is one entry of
KINDS: which options (`args`) it takes, how it checks them before the sweep runs (so that a bad
value is reported before anything is simulated) and how it runs. Any exception while running a
point becomes the row's `error` (one line), so one failing point never stops a sweep.
"""
from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mcusim.simulator.cluster import STALL_CAUSES

STALL_COLUMNS = tuple(f"stall_{c}" for c in STALL_CAUSES)
# The measured columns of every row, after the grid columns (and `cost` when the spec has one).
METRIC_COLUMNS = ("cycles", "mac_per_clk", "instret", "macs", "wall_s", "error", *STALL_COLUMNS)


class PointError(ValueError):
    """A workload option with a bad value (the message names it)."""


@dataclass(frozen=True)
class Task:
    """One point: the workload with its options, and the cluster overrides (nested as in TOML)."""
    kind: str                              # run | kernel | train
    name: str                              # program path, kernel name, network name or FILE.json
    args: Mapping[str, Any]
    cores: int | None                      # None: the configuration's workers
    config: Mapping[str, Any] = field(default_factory=dict)
    preset: str = "default"
    config_file: str | None = None
    engine: str = "c"


@dataclass(frozen=True)
class Kind:
    """A workload kind: its options with their checkers, and how to run it."""
    options: Callable[[str], dict[str, Callable[[Any], Any]]]   # name -> {option: check(value) -> value}
    check_name: Callable[[str], None]
    run: Callable[[str, dict, Any, int, str], dict[str, Any]]   # (name, args, config, cores, engine)


# ------------------------------------------------------------------------------------------------
# Option checkers: each returns the value or raises PointError naming what is wrong
# ------------------------------------------------------------------------------------------------

def _int(lo: int = 0) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise PointError(f"expected an integer >= {lo}, got {v!r}")
        return v
    return check


def _choice(*choices: str) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if v not in choices:
            raise PointError(f"{v!r} is not one of {', '.join(choices)}")
        return v
    return check


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise PointError(f"expected true or false, got {v!r}")
    return v


def _number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise PointError(f"expected a positive number, got {v!r}")
    return float(v)


def _string(v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise PointError(f"expected a non-empty string, got {v!r}")
    return v


# ------------------------------------------------------------------------------------------------
# Kind "kernel": a library kernel (kernels_asm.kernels.registry), checked against numpy
# ------------------------------------------------------------------------------------------------

def _kernel_def(name: str):
    from mcusim.kernels_asm.kernels import registry
    try:
        return registry.get(name)
    except KeyError as exc:
        raise PointError(str(exc.args[0])) from None


def _kernel_options(name: str) -> dict[str, Callable[[Any], Any]]:
    kdef = _kernel_def(name)
    opts: dict[str, Callable[[Any], Any]] = {"dtype": _choice(*kdef.dtypes), "variant": _string,
                                             "seed": _int(0)}
    for p in kdef.params:
        opts[p.name] = _int(p.min)
    return opts


def _kernel_check_combination(kdef, args: dict) -> tuple[str, str | None]:
    dtype = args.get("dtype", kdef.dtypes[0])
    variant = args.get("variant")
    if variant is not None and variant not in kdef.variants[dtype]:
        raise PointError(f"args.variant: kernel {kdef.name} ({dtype}) has no variant {variant!r} "
                         f"(available: {', '.join(kdef.variants[dtype])})")
    return dtype, variant


def _kernel_run(name: str, args: dict, config, cores: int, engine: str) -> dict[str, Any]:
    from mcusim.kernels_asm.kernels import registry
    kdef = _kernel_def(name)
    dtype, variant = _kernel_check_combination(kdef, args)
    shape = {p.name: args[p.name] for p in kdef.params if p.name in args}
    out = registry.run(kdef, shape, dtype, variant, cores, config, args.get("seed", 0), engine)
    run = out.run
    error = "" if out.check.ok else (f"wrong result: max error {out.check.max_error:.3g} > bound "
                                     f"{out.check.bound:.3g} ({out.check.detail})")
    return {"cycles": run.cycles, "instret": run.instret, "macs": out.macs, "stalls": run.stalls(),
            "error": error}


# ------------------------------------------------------------------------------------------------
# Kind "run": an assembly program or ELF executable
# ------------------------------------------------------------------------------------------------

def _run_options(name: str) -> dict[str, Callable[[Any], Any]]:
    return {"controller": _bool, "macs": _int(0)}


def _check_file(name: str) -> None:
    import os
    if not os.path.isfile(name):
        raise PointError(f"{name}: no such file")


@functools.lru_cache(maxsize=8)
def _image(path: str):
    from mcusim.simulator.loader import load_program
    return load_program(path)


def _run_run(name: str, args: dict, config, cores: int, engine: str) -> dict[str, Any]:
    from mcusim.simulator import gcpause
    from mcusim.simulator.cluster import Cluster
    cluster = Cluster(_image(name), config, cores=cores, controller=args.get("controller", False), engine=engine)
    gcpause.resume()
    result = cluster.run()
    stalls = {c: sum(core.stalls[c] for core in result.cores) for c in STALL_CAUSES}
    error = "" if result.exit_code == 0 else f"exit code {result.exit_code} ({result.reason})"
    return {"cycles": result.cycles, "instret": result.instret, "macs": args.get("macs"),
            "stalls": stalls, "error": error}


# ------------------------------------------------------------------------------------------------
# Kind "train": one simulated training step of a network (workloads.train)
# ------------------------------------------------------------------------------------------------

def _train_options(name: str) -> dict[str, Callable[[Any], Any]]:
    return {"dtype": _choice("fp32", "fp16", "bf16"), "seed": _int(0), "lr": _number, "dma": _choice("model", "simulate"),
            "verify": _bool, "plan_file": _string}


def _train_check_name(name: str) -> None:
    from mcusim.workloads import model, networks
    try:
        model.build(networks.load_json(name) if name.endswith(".json") else networks.get(name))
    except (KeyError, TypeError) as exc:
        raise PointError(str(exc.args[0] if exc.args else exc)) from None
    except (OSError, ValueError) as exc:
        raise PointError(f"{name}: cannot read a network description ({exc})") from None


def _train_run(name: str, args: dict, config, cores: int, engine: str) -> dict[str, Any]:
    from mcusim.workloads import networks, train
    desc = networks.load_json(name) if name.endswith(".json") else networks.get(name)
    kwargs: dict[str, Any] = {}
    if "plan_file" in args:
        from mcusim.workloads import tune
        kwargs["variant_plan"] = tune.load_plan(args["plan_file"])
    if "dma" in args:                     # else the step's own default
        kwargs["dma"] = args["dma"]
    res = train.simulate_step(desc, args.get("dtype", "fp32"), config, engine=engine, cores=cores,
                              seed=args.get("seed", 0), lr=args.get("lr", 0.01),
                              verify=args.get("verify", False), **kwargs)
    error = ""
    if res.numerics is not None and not res.numerics.ok:
        error = res.numerics.describe()
    return {"cycles": res.cycles, "instret": res.instret, "macs": res.macs, "stalls": res.stalls(),
            "error": error}


# ------------------------------------------------------------------------------------------------
# Kind "layer": one layer-phase of a network's step program, alone (workloads.tune)
# ------------------------------------------------------------------------------------------------

def _tiles(v: Any) -> list[int]:
    if not isinstance(v, list) or len(v) != 2 or any(isinstance(n, bool) or not isinstance(n, int) or n < 1
                                                      for n in v):
        raise PointError(f"expected [T1, T2], tile counts >= 1, got {v!r}")
    return v


def _layer_options(name: str) -> dict[str, Callable[[Any], Any]]:
    return {"layer": _string, "phase": _choice("forward", "weight_grad", "input_grad", "update"),
            "variant": _string, "tiles": _tiles, "double_buffer": _bool, "dtype": _choice("fp32", "fp16", "bf16"),
            "seed": _int(0)}


def _layer_check_name(name: str) -> None:
    from mcusim.workloads import tune
    try:
        tune.network(name)
    except tune.TuneError as exc:
        raise PointError(str(exc)) from None


def _layer_run(name: str, args: dict, config, cores: int, engine: str) -> dict[str, Any]:
    """args: layer, phase (forward), variant (default: the library's rule), tiles [T1, T2] with
    double_buffer (default: the step compiler's tiling), dtype, seed."""
    from mcusim.workloads import tune
    if "layer" not in args:
        raise PointError("args.layer: name the layer to run (kind layer)")
    if "double_buffer" in args and "tiles" not in args:
        raise PointError("args.double_buffer: goes with args.tiles")
    tiles = (*args["tiles"], args.get("double_buffer", False)) if "tiles" in args else None
    try:
        return tune.run_layer(name, args["layer"], args.get("phase", "forward"), args.get("variant"), tiles,
                              args.get("dtype", "fp32"), config, cores, engine, args.get("seed", 0))
    except KeyError as exc:
        raise PointError(str(exc.args[0] if exc.args else exc)) from None


KINDS: dict[str, Kind] = {
    "layer": Kind(_layer_options, _layer_check_name, _layer_run),
    "kernel": Kind(_kernel_options, lambda name: _kernel_def(name) and None, _kernel_run),
    "run": Kind(_run_options, _check_file, _run_run),
    "train": Kind(_train_options, _train_check_name, _train_run),
}


# ------------------------------------------------------------------------------------------------
# Checking and running a point
# ------------------------------------------------------------------------------------------------

def point_config(task: Task):
    """The task's cluster configuration (preset, file, then the point's overrides); ConfigError."""
    from mcusim.simulator.config import load_config
    return load_config(task.preset, task.config_file, dict(task.config))


def check_args(kind: str, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """The workload options checked (PointError names the first bad one)."""
    options = KINDS[kind].options(name)
    out = {}
    for key, value in args.items():
        if key not in options:
            raise PointError(f"args.{key}: {kind} {name!r} has no option {key!r} "
                             f"(options: {', '.join(sorted(options))})")
        try:
            out[key] = options[key](value)
        except PointError as exc:
            raise PointError(f"args.{key}: {exc}") from None
    if kind == "kernel":
        kdef = _kernel_def(name)
        _kernel_check_combination(kdef, out)
        try:
            kdef.full_shape({k: v for k, v in out.items() if k in {p.name for p in kdef.params}})
        except ValueError as exc:
            raise PointError(str(exc)) from None
    return out


# Errors whose message already says what went wrong (the simulator's one-line reports).
_SELF_EXPLAINING = {"SimulationError", "LoadError", "AsmError"}


def _resolve_engine(engine: str) -> str:
    if engine != "c":
        return engine
    from mcusim.simulator.cengine import binding
    return "c" if binding.load() is not None else "py"


def evaluate(task: Task) -> dict[str, Any]:
    """Run one point; never raises (an error becomes the row's `error`)."""
    start = time.perf_counter()
    row: dict[str, Any] = dict.fromkeys(METRIC_COLUMNS)
    try:
        config = point_config(task)
        cores = config.workers if task.cores is None else task.cores
        if not 1 <= cores <= config.workers:
            raise PointError(f"cores {cores}: the configuration has {config.workers} workers")
        args = check_args(task.kind, task.name, task.args)
        got = KINDS[task.kind].run(task.name, args, config, cores, _resolve_engine(task.engine))
        row.update({k: v for k, v in got.items() if k != "stalls"})
        for cause, n in got["stalls"].items():
            row[f"stall_{cause}"] = int(n)
        if got["macs"] is not None and got["cycles"]:
            row["mac_per_clk"] = round(got["macs"] / got["cycles"], 6)
    except Exception as exc:           # noqa: BLE001 - a failing point is a row, not the end of the sweep
        text = " ".join(str(exc).split()) or type(exc).__name__
        plain = isinstance(exc, ValueError) or type(exc).__name__ in _SELF_EXPLAINING
        row["error"] = text if plain else f"{type(exc).__name__}: {text}"
    row["wall_s"] = round(time.perf_counter() - start, 6)
    if row["error"] is None:
        row["error"] = ""
    return row
