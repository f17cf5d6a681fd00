"""Cluster configuration: every parameter with its default, allowed range and the source of the default.

A configuration is built from a named preset, then a TOML file (`--config FILE`), then individual
overrides. Unknown sections or keys, wrong types and out-of-range values are rejected with the
field name and the allowed range. `docs/CONFIG.md` is generated from the same definitions
(`python -m mcusim.simulator.config > docs/CONFIG.md`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from mcusim.isa.spec import CUSTOM_ISAS


class ConfigError(ValueError):
    """An invalid configuration value; the message names the field and the allowed range."""


def param(default: Any, doc: str, source: str, lo: float | None = None, hi: float | None = None,
          choices: tuple[str, ...] | None = None) -> Any:
    return field(default=default, metadata={"doc": doc, "source": source, "lo": lo, "hi": hi,
                                            "choices": choices})


CV32E40P = "CV32E40P user manual (pipeline, instruction timing)"
RI5CY_RTL = "RI5CY RTL measurements recorded in GVSoC's calibration tests"
GVSOC = "GVSoC pulp-open cluster model"
STUDY = "Nadalini et al. 2023 / PULP-TrainLib tutorial setup"
PULP_RTL = "pulp_cluster RTL defaults"


@dataclass(frozen=True)
class CoreConfig:
    load_use_stall: int = param(1, "stall cycles when an instruction uses the register loaded by the "
                                   "instruction right before it", CV32E40P, 0, 8)
    branch_taken: int = param(3, "cycles of a taken conditional branch", CV32E40P, 1, 16)
    branch_not_taken: int = param(1, "cycles of a not-taken conditional branch", CV32E40P, 1, 16)
    jal: int = param(2, "cycles of jal", CV32E40P, 1, 16)
    jalr: int = param(2, "cycles of jalr", CV32E40P, 1, 16)
    jalr_dependency_stall: int = param(1, "extra stall when jalr's source register was written by the "
                                          "previous instruction", RI5CY_RTL, 0, 8)
    mul: int = param(1, "cycles of mul, p.mac/p.msu and integer dot products", CV32E40P, 1, 16)
    mulh: int = param(5, "cycles of mulh, mulhsu, mulhu", CV32E40P, 1, 32)
    div_base: int = param(3, "div/rem cycles = clz(|divisor|) + div_base", RI5CY_RTL, 0, 64)
    div_by_zero: int = param(35, "cycles of div/rem by zero", RI5CY_RTL, 1, 64)
    misaligned: str = param("split", "misaligned load/store: 'split' performs it as RI5CY's load-store "
                                     "unit does, as two accesses (compiled code relies on it, e.g. packed-"
                                     "half loads in im2col); 'trap' raises a misaligned exception instead, "
                                     "a check for kernels that should never access memory misaligned",
                            "RI5CY hardware (CV32E40P user manual: misaligned accesses in two cycles)",
                            choices=("split", "trap"))
    misaligned_extra: int = param(1, "extra cycles of a misaligned access split in two", CV32E40P, 0, 8)
    custom_isa: str = param("xpulpv2", "which encodings of the custom extensions the cores decode: "
                                       "'xpulpv2' (RI5CY, PULP GNU toolchain: p.*, pv.*, lp.*) or 'corev' "
                                       "(CV32E40P v2, clang -march=..._xcv*: cv.*); twins run the same "
                                       "semantics and timing. `mcusim run` takes it from --isa, else from "
                                       "an xcv/xpulp extension in the ELF's .riscv.attributes arch string",
                            "RI5CY user manual v2.2 / CV32E40P user manual (CORE-V ISA extensions)",
                            choices=tuple(sorted(CUSTOM_ISAS)))
    extensions: str = param("all", "the core's ISA profile: the extensions it decodes, a word of any other is "
                                   "an illegal instruction; a profile name (all, pulp-dotp, pulp = without the "
                                   "Xfaux dot products) or a comma-separated list of extension names "
                                   "(isa/profiles.py, docs/ISA.md); kernels and training steps choose only "
                                   "variants it allows", "mcusim (isa/profiles.py)")


@dataclass(frozen=True)
class FpuConfig:
    count: int = param(8, "FPUs for the 8 workers: 8 = one private FPU per worker; fewer are shared, "
                          "worker i uses FPU i % count, round-robin arbitration (the controller "
                          "always has its own)", PULP_RTL, 1, 8)
    latency_add: int = param(1, "pipeline latency of FP add/sub: a dependent instruction issued right "
                                "after stalls this many cycles", STUDY, 0, 8)
    latency_mul: int = param(1, "pipeline latency of FP multiply", STUDY, 0, 8)
    latency_fma: int = param(1, "pipeline latency of FP fused multiply-add and dot products", STUDY, 0, 8)
    latency_conv: int = param(1, "pipeline latency of FP conversions and packing", STUDY, 0, 8)
    latency_noncomp: int = param(0, "latency of FP min/max, sign injection, compare, classify, moves",
                                 CV32E40P, 0, 8)
    fdiv32: int = param(14, "cycles of an FP32 divide (iterative, blocking)", GVSOC, 1, 64)
    fsqrt32: int = param(14, "cycles of an FP32 square root (iterative, blocking)", GVSOC, 1, 64)
    fdiv16: int = param(10, "cycles of an FP16 divide (iterative, blocking)", GVSOC, 1, 64)
    fsqrt16: int = param(10, "cycles of an FP16 square root (iterative, blocking)", GVSOC, 1, 64)


@dataclass(frozen=True)
class TcdmConfig:
    size_kib: int = param(256, "TCDM (L1) size in KiB", STUDY, 4, 4096)
    banks: int = param(16, "word-interleaved banks (a power of two); each serves one access per cycle",
                       PULP_RTL, 1, 64)


@dataclass(frozen=True)
class L2Config:
    size_kib: int = param(1536, "L2 size in KiB", STUDY, 64, 16384)
    latency: int = param(15, "cycles of a core's load or store to L2 (blocking)", GVSOC, 1, 1000)


@dataclass(frozen=True)
class EventUnitConfig:
    barrier_wakeup: int = param(8, "cycles from the last core's arrival at a barrier to the wake-up",
                                GVSOC, 0, 100)
    event_wakeup: int = param(2, "cycles from an event (fork, mutex release, DMA done, event send) "
                                 "to the sleeping core's next instruction", GVSOC, 0, 100)


@dataclass(frozen=True)
class DmaConfig:
    bandwidth: int = param(8, "bytes per cycle between L2 and TCDM (AXI 64-bit)", "mchan / PULP cluster",
                           1, 64)
    setup_latency: int = param(20, "cycles from the start command to the first byte moved",
                               "mchan / GVSoC (approximate)", 0, 1000)


ICACHE_RTL = "pulp_cluster RTL I$ parameters (CACHE_SIZE 4096, SET_ASSOCIATIVE 4, ICACHE_DATA_WIDTH 128)"
GVSOC_FETCH = "calibrated on GVSoC pulp-open: 16 nops + csrr, 21 cycles warm, 89 cold (docs/TIMING.md)"


@dataclass(frozen=True)
class IcacheConfig:
    model: str = param("cache", "instruction fetch: 'cache' (per-core L0 prefetch buffer in front of the "
                                "shared L1 I-cache, refilled from L2, with a sequential stream prefetch; miss "
                                "cycles are `imiss` stalls) or 'ideal' (every fetch is free)",
                       "mcusim (docs/TIMING.md)",
                       choices=("cache", "ideal"))
    l0_size: int = param(512, "bytes of each core's L0 prefetch buffer (direct-mapped lines)",
                         "GVSoC pulp-open L0 buffer (its docs: 512 B)", 4, 65536)
    l0_line: int = param(16, "bytes per L0 line (a power of two, at most icache.line)",
                         "GVSoC pulp-open L0 buffer (16 B lines)", 4, 1024)
    size: int = param(4096, "bytes of the shared L1 instruction cache", ICACHE_RTL, 16, 1 << 20)
    line: int = param(16, "bytes per L1 I-cache line (a power of two)", ICACHE_RTL, 4, 1024)
    ways: int = param(4, "L1 I-cache ways (FIFO replacement per set; the RTL picks a pseudo-random way)",
                      ICACHE_RTL, 1, 64)
    hit_latency: int = param(1, "stall cycles of an L0 miss that hits the L1 I-cache (GVSoC's 2-cycle L0 "
                                "refill, one overlapped with the instruction before)", GVSOC_FETCH, 0, 100)
    refill_latency: int = param(18, "stall cycles of an L1 I-cache miss, refilled from L2 (about "
                                    "l2.latency 15 + 2 beats of a 16 B line on the 64-bit bus + 1)",
                                GVSOC_FETCH, 1, 10000)
    stream_after: int = param(4, "consecutive sequential L0 line misses after which each line's arrival "
                                 "prefetches the next (the L0's next-line prefetch; the L1 refill streams "
                                 "from L2), so straight-line code stops stalling; -1: no prefetch",
                              "calibrated on GVSoC pulp-open: a cold straight-line block pays 4 to 5 line "
                              "refills whatever its length (docs/TIMING.md)", -1, 1 << 20)


VEGA = ("fitted to Vega's 79 GFLOPS/W FP32 / 129 GFLOPS/W FP16 (Rossi et al., arXiv 2110.09101) by "
        "tools/calibrate_energy.py")
GVSOC_POWER = "GVSoC pulp-open power model (gvsoc-pulp power_models, 25 C, 1.2 V): a placeholder value"


@dataclass(frozen=True)
class EnergyConfig:
    instruction_pj: float = param(4.98, "energy of any retired instruction (fetch, decode, register file, "
                                        "ALU), pJ", GVSOC_POWER, 0.0, 1e6)
    fpu_op_pj: float = param(12.9, "extra energy of a scalar FPU operation (FP32 or FP16), pJ", VEGA, 0.0, 1e6)
    fpu_vec_op_pj: float = param(18.8, "extra energy of a smallFloat vector FPU operation (two 16-bit lanes), pJ",
                                 VEGA, 0.0, 1e6)
    tcdm_access_pj: float = param(2.124, "energy of a TCDM (L1) access by a core, pJ", GVSOC_POWER, 0.0, 1e6)
    l2_access_pj: float = param(10.0, "energy of a core's L2 access, pJ (no published figure: about five TCDM "
                                      "accesses, for the longer path through two interconnects)", "mcusim estimate",
                                0.0, 1e6)
    dma_byte_pj: float = param(1.0, "energy per byte the DMA moves between L2 and the TCDM (read, write and "
                                    "interconnect), pJ (no published figure)", "mcusim estimate", 0.0, 1e6)
    core_cycle_pj: float = param(0.5, "energy per cycle of a started core that does not retire an instruction "
                                      "(stalled or asleep, clock-gated), pJ", "mcusim estimate", 0.0, 1e6)
    background_mw: float = param(2.84, "cluster background power (interconnect, event unit, clock tree), mW",
                                 GVSOC_POWER, 0.0, 1e6)
    leakage_mw: float = param(1.1, "cluster leakage power, mW", GVSOC_POWER, 0.0, 1e6)
    freq_mhz: float = param(250.0, "clock frequency at which background and leakage power turn into energy "
                                   "per cycle, MHz", "mcusim assumption (PULP clusters run at 100-450 MHz)",
                            1.0, 10000.0)


@dataclass(frozen=True)
class ClusterConfig:
    workers: int = param(8, "worker cores (ids 0..workers-1); the controller is core 8", PULP_RTL, 1, 8)
    core: CoreConfig = field(default_factory=CoreConfig)
    fpu: FpuConfig = field(default_factory=FpuConfig)
    tcdm: TcdmConfig = field(default_factory=TcdmConfig)
    l2: L2Config = field(default_factory=L2Config)
    event_unit: EventUnitConfig = field(default_factory=EventUnitConfig)
    dma: DmaConfig = field(default_factory=DmaConfig)
    icache: IcacheConfig = field(default_factory=IcacheConfig)
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    max_cycles: int = param(100_000_000, "a run that reaches this many cycles stops with an error",
                            "mcusim", 1, 1 << 62)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = {g.name: getattr(value, g.name) for g in fields(value)} \
                if hasattr(value, "__dataclass_fields__") else value
        return out


SECTIONS = ("core", "fpu", "tcdm", "l2", "event_unit", "dma", "icache", "energy")

PRESETS: dict[str, dict[str, dict[str, Any] | Any]] = {
    # The study's training setup: 256 KiB TCDM in 16 banks, 8 private FPUs, L2 1.5 MiB.
    "default": {},
    # GVSoC's pulp-open cluster: 64 KiB TCDM, 4 FPUs shared by the 8 workers.
    "pulp-open": {"tcdm": {"size_kib": 64}, "fpu": {"count": 4}},
    # pulp_cluster RTL default TCDM size.
    "rtl": {"tcdm": {"size_kib": 128}},
}


def _check(section: str, f, value: Any) -> Any:
    meta = f.metadata
    name = f"{section}.{f.name}" if section else f.name
    expected = type(f.default)
    if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{name}: expected an integer, got {value!r}")
    if expected is str and not isinstance(value, str):
        raise ConfigError(f"{name}: expected a string, got {value!r}")
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise ConfigError(f"{name}: expected a number, got {value!r}")
        value = float(value)
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(f"{name}: {value!r} is not one of {', '.join(meta['choices'])}")
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and not lo <= value <= hi:
        raise ConfigError(f"{name}: {value} is out of range [{lo}, {hi}]")
    return value


def apply(config: ClusterConfig, values: dict[str, Any], origin: str = "") -> ClusterConfig:
    """A copy of `config` with `values` (nested dicts as in TOML) applied and validated."""
    where = f"{origin}: " if origin else ""
    top: dict[str, Any] = {}
    by_name = {f.name: f for f in fields(ClusterConfig)}
    for key, value in values.items():
        if key not in by_name:
            raise ConfigError(f"{where}unknown setting {key!r} (known: {', '.join(by_name)})")
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{where}[{key}] must be a table")
            section = getattr(config, key)
            sub_fields = {f.name: f for f in fields(section)}
            changes = {}
            for k, v in value.items():
                if k not in sub_fields:
                    raise ConfigError(f"{where}unknown setting {key}.{k} (known: {', '.join(sub_fields)})")
                try:
                    changes[k] = _check(key, sub_fields[k], v)
                except ConfigError as exc:
                    raise ConfigError(f"{where}{exc}") from None
            top[key] = replace(section, **changes)
        else:
            try:
                top[key] = _check("", by_name[key], value)
            except ConfigError as exc:
                raise ConfigError(f"{where}{exc}") from None
    result = replace(config, **top)
    from mcusim.isa.profiles import resolve as resolve_extensions   # the instruction table: only when validating
    try:
        resolve_extensions(result.core.extensions)
    except ValueError as exc:
        raise ConfigError(f"{where}core.extensions: {exc}") from None
    if result.tcdm.banks & (result.tcdm.banks - 1):
        raise ConfigError(f"{where}tcdm.banks: {result.tcdm.banks} is not a power of two")
    ic = result.icache
    for name in ("l0_size", "l0_line", "size", "line", "ways"):
        value = getattr(ic, name)
        if value & (value - 1):
            raise ConfigError(f"{where}icache.{name}: {value} is not a power of two")
    if ic.l0_line > ic.line:
        raise ConfigError(f"{where}icache.l0_line: {ic.l0_line} is larger than icache.line ({ic.line})")
    if ic.l0_line > ic.l0_size:
        raise ConfigError(f"{where}icache.l0_line: {ic.l0_line} is larger than icache.l0_size ({ic.l0_size})")
    if ic.line * ic.ways > ic.size:
        raise ConfigError(f"{where}icache.size: {ic.size} B holds fewer than icache.ways ({ic.ways}) lines "
                          f"of {ic.line} B")
    return result


def load_config(preset: str = "default", path: str | Path | None = None,
                overrides: dict[str, Any] | None = None) -> ClusterConfig:
    """The configuration from a preset, a TOML file and overrides (in that order)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    config = apply(ClusterConfig(), PRESETS[preset], f"preset {preset}")
    if path is not None:
        import tomllib          # only for a file: most runs take a preset (start-up time)
        try:
            data = tomllib.loads(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not UTF-8 text (a TOML file is expected)") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML ({exc})") from None
        config = apply(config, data, str(path))
    if overrides:
        config = apply(config, overrides, "override")
    return config


def render_docs() -> str:
    lines = ["# Cluster configuration", "",
             "Generated by `python -m mcusim.simulator.config`; do not edit. Select a preset with `--preset`,",
             "override with a TOML file (`--config FILE`) whose tables are the sections below.", "",
             "## Presets", ""]
    for name, values in PRESETS.items():
        lines.append(f"- `{name}`: {values or 'the defaults below'}")
    lines += ["", "## Parameters", "", "| setting | default | range | meaning | source of the default |",
              "|---|---|---|---|---|"]
    base = ClusterConfig()
    for f in fields(ClusterConfig):
        value = getattr(base, f.name)
        groups = [(f.name, g, getattr(value, g.name)) for g in fields(value)] \
            if f.name in SECTIONS else [("", f, value)]
        for section, g, default in groups:
            m = g.metadata
            rng = " / ".join(m["choices"]) if m.get("choices") else f"{m['lo']} .. {m['hi']}"
            name = f"{section}.{g.name}" if section else g.name
            lines.append(f"| `{name}` | {default} | {rng} | {m['doc']} | {m['source']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_docs(), end="")
