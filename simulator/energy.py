"""Energy of a run: a linear model over the counters both engines keep (docs/ENERGY.md).

    E = sum over the cores that ran of
          instret * instruction_pj + scalar FPU ops * fpu_op_pj + vector FPU ops * fpu_vec_op_pj
        + TCDM accesses * tcdm_access_pj + L2 accesses * l2_access_pj
        + (cycles - instret) * core_cycle_pj                      (stalled or asleep, clock-gated)
      + DMA bytes * dma_byte_pj
      + cycles * (background_mw + leakage_mw) / freq_mhz          (the cluster around the cores)

Every coefficient is a configuration parameter (`[energy]`, docs/CONFIG.md) with its source. What is
modelled: energy per event, not per bit toggled; no voltage or temperature dependence; the
coefficients fitted to Vega's published efficiency figures are fitted on mcusim's own matmul kernels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcusim.simulator.config import EnergyConfig

PARTS = ("instructions", "fpu", "tcdm", "l2", "dma", "idle_cores", "background", "leakage")


@dataclass
class Energy:
    parts_pj: dict[str, float]     # PARTS -> pJ

    @property
    def total_pj(self) -> float:
        return sum(self.parts_pj.values())

    @property
    def total_uj(self) -> float:
        return self.total_pj * 1e-6

    def gflops_per_w(self, flops: int) -> float | None:
        """FLOPs per joule / 1e9 (2 FLOPs per MAC), None without energy."""
        return flops / (self.total_pj * 1e-12) / 1e9 if self.total_pj else None

    def to_json(self) -> dict[str, Any]:
        return {"energy_uj": round(self.total_uj, 6), "parts_uj": {k: round(v * 1e-6, 6) for k, v in self.parts_pj.items()}}


def estimate(cores: list[dict[str, Any]], cycles: int, dma_bytes: int, coeff: EnergyConfig) -> Energy:
    """Energy from per-core counters (dicts as in the run report: cycles, instret, events) and the
    cluster's cycles and DMA bytes."""
    parts = dict.fromkeys(PARTS, 0.0)
    for core in cores:
        ev, instret = core["events"], core["instret"]
        vec = ev["fpu_vec_ops"]
        parts["instructions"] += instret * coeff.instruction_pj
        parts["fpu"] += (ev["fpu_ops"] - vec) * coeff.fpu_op_pj + vec * coeff.fpu_vec_op_pj
        parts["tcdm"] += ev["tcdm_accesses"] * coeff.tcdm_access_pj
        parts["l2"] += ev["l2_accesses"] * coeff.l2_access_pj
        parts["idle_cores"] += max(core["cycles"] - instret, 0) * coeff.core_cycle_pj
    parts["dma"] = dma_bytes * coeff.dma_byte_pj
    per_cycle_pj = 1000.0 / coeff.freq_mhz            # 1 mW for one cycle at f MHz, in pJ
    parts["background"] = cycles * coeff.background_mw * per_cycle_pj
    parts["leakage"] = cycles * coeff.leakage_mw * per_cycle_pj
    return Energy(parts)


def of_result(result, coeff: EnergyConfig | None = None) -> Energy:
    """The energy of a simulator.cluster.ClusterResult."""
    from mcusim.simulator.report import core_cycles
    cores = [{"cycles": core_cycles(c), "instret": c.hart.instret, "events": c.events}
             for c in result.ran]
    return estimate(cores, result.cycles, result.dma_bytes, coeff or result.config.energy)
