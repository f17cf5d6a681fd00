"""The Python API of mcusim (re-exported by `mcusim/__init__.py`, loaded on first use).

    import mcusim
    cfg = mcusim.Config({"fpu.count": 4}, preset="default")      # or mcusim.Config(fpu_count=4)
    r = mcusim.run("prog.s", config=cfg, cores=8)                   # r.cycles, r.cores[0]["stalls"], ...
    k = mcusim.kernel("matmul", m=64, n=64, k=64, dtype="fp16", cores=8)   # k.mac_per_clk, k.correct
    t = mcusim.train("resnet8", "fp16", config=cfg)                 # t.cycles, t.layers, t.numerics
    s = mcusim.sweep("spec.toml", jobs=2)                           # s.rows, s.to_parquet(...), s.pareto()
    p = mcusim.tune("resnet8", "fp16", jobs=2)                      # p.steps, mcusim.train(..., plan_file=...)

Results are `Report`s: the JSON report of the matching command (`mcusim run --json`, `mcusim kernel
--json`, `mcusim train --json`: schemas mcusim-run/1, mcusim-kernel/1, mcusim-train/1), readable
as attributes (r.cycles) or keys (r["cycles"]); `r.to_json()` is that document, `r.raw` the
underlying result object. Bad arguments raise ValueError (or a subclass) with the same one-line
message the command line prints. Importing this module imports nothing heavy: each function
imports the simulator when it is called.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["Config", "Report", "run", "kernel", "train", "sweep", "tune"]


class Report(Mapping):
    """A result with the fields of its command's JSON report (attributes or keys)."""

    def __init__(self, doc: dict[str, Any], raw: Any = None) -> None:
        self._doc = doc
        self.raw = raw

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_doc"][name]
        except KeyError:
            raise AttributeError(f"{self.__dict__['_doc'].get('schema', 'report')} has no field {name!r} "
                                 f"(fields: {', '.join(self.__dict__['_doc'])})") from None

    def __getitem__(self, key: str) -> Any:
        return self._doc[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._doc)

    def __len__(self) -> int:
        return len(self._doc)

    def to_json(self) -> dict[str, Any]:
        return self._doc

    def __repr__(self) -> str:
        head = {k: self._doc[k] for k in ("schema", "cycles", "mac_per_clk") if k in self._doc}
        return f"Report({head})"


def _param_names() -> dict[str, str]:
    """Keyword form -> docs/CONFIG.md name: fpu_count -> fpu.count, max_cycles -> max_cycles."""
    from mcusim.workloads.sweep import cluster_keys
    return {k.replace(".", "_"): k for k in cluster_keys()}


def Config(values: Mapping[str, Any] | None = None, *, preset: str = "default", file: str | Path | None = None,
           **params: Any):
    """A validated cluster configuration (mcusim.simulator.config.ClusterConfig): the preset, then the
    TOML `file`, then `values` by docs/CONFIG.md name ({"fpu.count": 4}) and keyword parameters with
    the dot as an underscore (fpu_count=4, tcdm_banks=8). ValueError names a bad parameter or value."""
    from mcusim.simulator.config import load_config
    from mcusim.workloads.sweep import nest
    names = _param_names()
    flat = dict(values or {})
    for key, value in params.items():
        if key not in names:
            raise ValueError(f"Config: unknown parameter {key!r} (e.g. {', '.join(list(names)[:4])}, ...; "
                             f"docs/CONFIG.md names with '_' for '.')")
        flat[names[key]] = value
    unknown = [k for k in flat if k not in names.values()]
    if unknown:
        raise ValueError(f"Config: unknown parameter {unknown[0]!r} (docs/CONFIG.md)")
    return load_config(preset, file, nest(flat))


def _config(config: Any):
    if config is None:
        return Config()
    if isinstance(config, Mapping):
        return Config(config)
    return config


def _engine(engine: str) -> str:
    if engine not in ("c", "py"):
        raise ValueError(f"engine must be 'c' or 'py', not {engine!r}")
    if engine == "c":
        from mcusim.simulator.cengine import binding
        if binding.load() is None:
            return "py"
    return engine


def run(program: str | Path, config: Any = None, cores: int = 1, controller: bool = False,
        engine: str = "c") -> Report:
    """Simulate a program (PROG.s or PROG.elf path, or assembly source text) until it exits; the
    `mcusim run --json` report (mcusim-run/1). A failing program raises SimulationError."""
    from mcusim.simulator.cluster import Cluster
    from mcusim.simulator.loader import load_program, read_elf
    from mcusim.simulator.report import to_json
    cfg = _config(config)
    if isinstance(program, str) and "\n" in program:
        from mcusim.kernels_asm import assemble, to_elf
        name, image = "<source>", read_elf(to_elf(assemble(program, "<source>")), "<source>")
    else:
        name, image = str(program), load_program(program)
    result = Cluster(image, cfg, cores=cores, controller=controller, engine=_engine(engine)).run()
    return Report(to_json(result, name), result)


def kernel(name: str, dtype: str | None = None, variant: str | None = None, cores: int = 8, config: Any = None,
           seed: int = 0, engine: str = "c", **shape: int) -> Report:
    """Run a library kernel on seeded random inputs and check it against numpy; the `mcusim kernel
    --json` report (mcusim-kernel/1: cycles, mac_per_clk, correct, per_core, ...)."""
    from mcusim.kernels_asm.kernels import registry
    from mcusim.kernels_asm.kernels.cli import to_json
    try:
        kdef = registry.get(name)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None
    cfg = _config(config)
    eng = _engine(engine)
    outcome = registry.run(kdef, shape, dtype or kdef.dtypes[0], variant, cores, cfg, seed, eng)
    ceiling = kdef.ceiling(outcome.shape, outcome.dtype, outcome.variant) if kdef.ceiling else None
    return Report(to_json(outcome, cfg, seed, eng, ceiling), outcome)


def train(network: Any, dtype: str = "fp32", config: Any = None, cores: int = 8, engine: str = "c", seed: int = 0,
          lr: float = 0.01, verify: bool = True, dma: str | None = None, plan_file: str | Path | None = None) -> Report:
    """Simulate one SGD training step of a network (resnet8, dscnn, a description FILE.json or dict);
    the `mcusim train --json` report (mcusim-train/1: cycles, mac_per_clk, phases, layers, numerics)."""
    from mcusim.workloads import report, train as train_mod, tune as tune_mod
    if isinstance(network, (str, Path)) and str(network).endswith(".json"):
        net = tune_mod.network(str(network))
    else:
        net = train_mod.as_network(network)
    plan = tune_mod.load_plan(str(plan_file), net, dtype) if plan_file is not None else None
    extra = {} if dma is None else {"dma": dma}          # None: the step's default (mcusim train's)
    res = train_mod.simulate_step(net, dtype, _config(config), engine=engine, cores=cores, seed=seed, lr=lr,
                                  verify=verify, variant_plan=plan, **extra)
    return Report(report.to_json(res), res)


def sweep(spec: str | Path | Mapping[str, Any], grid: Mapping[str, Any] | None = None, *, jobs: int = 1,
          scheduler: Any = None, out: str | None = None, csv: str | None = None, retry_failed: bool = False,
          progress: bool = False):
    """Run a sweep spec (a TOML file or the same structure as a dict; `grid` adds keys); a SweepResult
    (rows with the columns of `mcusim sweep`'s output, to_csv, to_parquet, pareto). `scheduler`: a
    Dask address or a distributed.Client. SpecError (a ValueError) names a bad key before anything runs."""
    from mcusim.workloads.sweep import sweep as run_sweep
    return run_sweep(spec, grid, jobs=jobs, scheduler=scheduler, out=out, csv=csv, retry_failed=retry_failed,
                     progress=progress)


def tune(network: str, dtype: str = "fp32", config: Any = None, cores: int = 8, engine: str = "c", jobs: int = 1,
         scheduler: Any = None, out: str | Path | None = None, prune: float | None = 1.25, verify: bool = True):
    """Pick the fastest kernel variant x tiling per layer-phase (`mcusim tune`; prune=None: every
    variant with every tiling); a TunedPlan (steps, default_step, tuned_step, to_json); with `out`,
    the plan file for train(..., plan_file=out) is written too."""
    from mcusim.workloads import tune as tune_mod
    plan = tune_mod.tune(network, dtype, _config(config), cores=cores, engine=engine, jobs=jobs, scheduler=scheduler,
                         prune=prune, verify=verify)
    if out is not None:
        tune_mod.save_plan(plan, str(out))
    return plan
