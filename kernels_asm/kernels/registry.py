"""The kernel registry: what `mcusim kernel --list` shows and `mcusim kernel NAME` runs.

API (stable; every kernel module registers its kernels at import):

    from mcusim.kernels_asm.kernels.registry import KernelDef, Param, Check, register

    register(KernelDef(
        name="matmul",
        description="C = A·B (A m x k, B k x n, row-major)",
        dtypes=("fp32", "fp16"),
        variants={"fp32": ("naive", "4x4"), "fp16": ("naive", "simd_4x4")},   # first = default
        params=(Param("m", 64, "rows of C"), Param("n", 64, "columns of C"), Param("k", 64, "inner")),
        build=lambda shape, dtype, variant, cores: KernelProgram(...),      # harness.KernelProgram
        inputs=lambda shape, dtype, rng: {"A": ..., "B": ...},               # seeded random inputs
        check=lambda inputs, outputs, shape, dtype, variant: Check(...),     # reference + tolerance
        macs=lambda shape: m * n * k,
        choose=lambda shape, dtype, cores: "4x4",                            # optional
        reference=lambda inputs, shape, dtype, variant: {"C": ...},          # optional
        ceiling=lambda shape, dtype, variant: 0.64,                          # optional
    ))

- `shape` is a dict {param name: int}, complete (defaults filled in by `full_shape`).
- `build` returns a harness.KernelProgram for `cores` cores; `inputs` returns numpy arrays keyed by
  the program's input tensor names (fp16 as numpy float16).
- `check` compares the outputs with a numpy reference and returns a Check: ok, the largest error and
  the bound it was compared with (each kernel documents its rule next to the code).
- `reference` (optional) returns the numpy reference outputs that `check` compares with (for
  FP16 kernels: the emulated rounding sequence of the variant).
- `choose` picks the variant used when none is given (default: the dtype's first variant); it must
  not simulate. `ceiling(shape, dtype, variant)` is the variant's issue-bound MACs per instruction of its
  inner loop (one core), for reports; None when unknown.

Kernel modules are found automatically: every module of the package `kernels_asm.kernels` other
than harness, registry and cli is imported by `load_all()` (so a new layers_*.py needs no edit here).
`run(kdef, shape, dtype, variant, cores, config, seed, engine)` builds, runs and checks one kernel.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from mcusim.kernels_asm.kernels.harness import KernelProgram, KernelRun, run_kernel
from mcusim.simulator.config import ClusterConfig

_INFRA = {"harness", "registry", "cli"}


@dataclass(frozen=True)
class Param:
    name: str
    default: int
    help: str
    min: int = 1


@dataclass
class Check:
    ok: bool
    max_error: float          # largest |out - ref| (or a normalised measure the kernel documents)
    bound: float              # the tolerance it was compared against (0 = bit-exact)
    detail: str = ""          # what was compared and, on failure, where


@dataclass
class KernelDef:
    name: str
    description: str
    dtypes: tuple[str, ...]
    variants: Mapping[str, tuple[str, ...]]
    params: tuple[Param, ...]
    build: Callable[[dict, str, str, int], KernelProgram]
    inputs: Callable[[dict, str, np.random.Generator], dict[str, np.ndarray]]
    check: Callable[[Mapping[str, np.ndarray], Mapping[str, np.ndarray], dict, str, str], Check]
    macs: Callable[[dict], int]
    choose: Callable[[dict, str, int], str] | None = None
    reference: Callable[[Mapping[str, np.ndarray], dict, str, str], dict[str, np.ndarray]] | None = None
    ceiling: Callable[[dict, str, str], float | None] | None = None
    variant_help: Mapping[str, str] = field(default_factory=dict)

    def full_shape(self, given: Mapping[str, int | None] | None = None) -> dict[str, int]:
        """Every parameter, from `given` or its default; raises ValueError when one is out of range."""
        given = given or {}
        unknown = {k for k, v in given.items() if v is not None} - {p.name for p in self.params}
        if unknown:
            raise ValueError(f"kernel {self.name} has no parameter {', '.join(sorted(unknown))} "
                             f"(parameters: {', '.join(p.name for p in self.params) or 'none'})")
        shape = {}
        for p in self.params:
            value = given.get(p.name)
            value = p.default if value is None else int(value)
            if value < p.min:
                raise ValueError(f"{self.name}: {p.name} must be >= {p.min}, not {value}")
            if value > MAX_PARAM:
                raise ValueError(f"{self.name}: {p.name} = {value:,} is beyond any cluster memory (at most "
                                 f"{MAX_PARAM:,})")
            shape[p.name] = value
        return shape

    def default_variant(self, shape: dict, dtype: str, cores: int) -> str:
        if self.choose is not None:
            return self.choose(shape, dtype, cores)
        return self.variants[dtype][0]


_KERNELS: dict[str, KernelDef] = {}
_loaded = False


def register(kdef: KernelDef) -> KernelDef:
    if kdef.name in _KERNELS and _KERNELS[kdef.name] is not kdef:
        raise ValueError(f"kernel {kdef.name!r} registered twice")
    for d in kdef.dtypes:
        if not kdef.variants.get(d):
            raise ValueError(f"kernel {kdef.name!r}: no variants for dtype {d}")
    _KERNELS[kdef.name] = kdef
    return kdef


def load_all() -> None:
    """Import every kernel module of the package (they register themselves)."""
    global _loaded
    if _loaded:
        return
    import mcusim.kernels_asm.kernels as pkg
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name not in _INFRA and not info.name.startswith("_"):
            importlib.import_module(f"{pkg.__name__}.{info.name}")
    _loaded = True


def all_kernels() -> list[KernelDef]:
    load_all()
    return sorted(_KERNELS.values(), key=lambda k: k.name)


def get(name: str) -> KernelDef:
    load_all()
    try:
        return _KERNELS[name]
    except KeyError:
        raise KeyError(f"unknown kernel {name!r} (known: {', '.join(sorted(_KERNELS))})") from None


@dataclass
class Outcome:
    kernel: str
    dtype: str
    variant: str
    shape: dict
    run: KernelRun
    check: Check
    macs: int

    @property
    def mac_per_clk(self) -> float:
        return self.macs / self.run.cycles if self.run.cycles else 0.0


# Shape limits checked before anything is built or allocated (the inputs are then checked against the
# TCDM exactly): no single parameter, and no product of them, can describe tensors of gigabytes.
MAX_PARAM = 65536
MAX_SHAPE_PRODUCT = 1 << 26


def _shape_text(shape: Mapping[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in shape.items())


def check_size(kdef: KernelDef, shape: Mapping[str, int], config: ClusterConfig) -> None:
    """ValueError when the shape is far beyond what the TCDM can hold (before allocating inputs)."""
    product = 1
    for v in shape.values():
        product *= max(int(v), 1)
    if product > MAX_SHAPE_PRODUCT:
        raise ValueError(f"kernel {kdef.name} {_shape_text(shape)}: far too large for the cluster (its "
                         f"tensors cannot fit in the {config.tcdm.size_kib:,} KiB TCDM)")


def missing_extensions(program: KernelProgram, config: ClusterConfig) -> set[str]:
    """The extensions `program` uses that the configured cores lack (core.extensions)."""
    from mcusim.isa.profiles import extensions_of_source, resolve
    return extensions_of_source(program.source()) - resolve(config.core.extensions)


def build_allowed(kdef: KernelDef, shape: dict, dtype: str, variant: str | None, cores: int,
                  config: ClusterConfig) -> tuple[str, KernelProgram]:
    """The variant to run and its program: `variant` when given (an error if the cores' ISA profile
    lacks one of its instructions), else the default choice, or, when the profile lacks that one's
    instructions, the first of the dtype's variants that the profile allows."""
    choice = variant or kdef.default_variant(shape, dtype, cores)
    candidates = [choice] if variant else [choice] + [v for v in kdef.variants[dtype] if v != choice]
    lacking = {}
    for name in candidates:
        program = kdef.build(shape, dtype, name, cores)
        missing = missing_extensions(program, config)
        if not missing:
            return name, program
        lacking[name] = missing
    detail = "; ".join(f"{v} needs {', '.join(sorted(m))}" for v, m in lacking.items())
    raise ValueError(f"kernel {kdef.name} ({dtype}): no variant runs on cores with core.extensions = "
                     f"{config.core.extensions!r} ({detail})")


def run(kdef: KernelDef, shape: Mapping[str, int | None] | None, dtype: str, variant: str | None,
        cores: int, config: ClusterConfig, seed: int = 0, engine: str = "py", watch=None) -> Outcome:
    """Build `kdef` for the shape, run it on random inputs (seeded) and check it (`watch`: see
    harness.simulate)."""
    full = kdef.full_shape(shape)
    if dtype not in kdef.dtypes:
        raise ValueError(f"kernel {kdef.name} has no dtype {dtype} (available: {', '.join(kdef.dtypes)})")
    if variant is not None and variant not in kdef.variants[dtype]:
        raise ValueError(f"kernel {kdef.name} ({dtype}) has no variant {variant!r} "
                         f"(available: {', '.join(kdef.variants[dtype])})")
    check_size(kdef, full, config)
    inputs = kdef.inputs(full, dtype, np.random.default_rng(seed))
    need = sum(a.nbytes for a in inputs.values())
    tcdm = config.tcdm.size_kib * 1024
    if need > tcdm:
        raise ValueError(f"kernel {kdef.name} {_shape_text(full)} ({dtype}): its inputs alone take "
                         f"{need / 1024:,.0f} KiB; the TCDM holds {tcdm // 1024:,} KiB")
    variant, program = build_allowed(kdef, full, dtype, variant, cores, config)
    result = run_kernel(program, inputs, cores, config, engine, watch=watch)
    check = kdef.check(inputs, result.outputs, full, dtype, variant)
    return Outcome(kdef.name, dtype, variant, full, result, check, kdef.macs(full))
