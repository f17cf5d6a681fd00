"""The energy model (simulator/energy.py, docs/ENERGY.md): its sum, the counters it reads on both
engines, and the calibration of its FPU coefficients against Vega's published efficiency."""
from dataclasses import replace

import pytest

from mcusim.kernels_asm import assemble, to_elf
from mcusim.kernels_asm.kernels import registry
from mcusim.simulator import energy
from mcusim.simulator.cluster import Cluster
from mcusim.simulator.config import ClusterConfig, ConfigError, load_config
from mcusim.simulator.loader import read_elf
from mcusim.simulator.report import to_json

MIXED = """
    .globl _start
_start:
    core_id s0
    li t0, 0x3c003c00
    fmv.w.x ft0, t0
    li t1, 0x3f800000
    fmv.w.x ft3, t1
    li t2, 20
1:  vfmac.h ft1, ft0, ft0
    fmadd.s ft4, ft3, ft3, ft4
    lw a1, -4(sp)
    addi t2, t2, -1
    bnez t2, 1b
    barrier
    li a0, 0
    li a7, 93
    ecall
"""


def run(engine: str, config: ClusterConfig = ClusterConfig()):
    image = read_elf(to_elf(assemble(MIXED, "<energy>")), "<energy>")
    return Cluster(image, config, cores=4, engine=engine).run()


def test_vector_fpu_ops_are_counted_alike_on_both_engines():
    counts = []
    for engine in ("py", "c"):
        result = run(engine)
        counts.append([(c.events["fpu_ops"], c.events["fpu_vec_ops"]) for c in result.cores if c.hart.instret])
    assert counts[0] == counts[1]
    assert all(vec == 20 and ops == 42 for ops, vec in counts[0])     # + the two fmv.w.x


def test_energy_is_the_documented_sum_of_counters_times_coefficients():
    result = run("c")
    e = ClusterConfig().energy
    doc = to_json(result, "<energy>")
    expect = result.dma_bytes * e.dma_byte_pj + result.cycles * (e.background_mw + e.leakage_mw) * 1000 / e.freq_mhz
    for core in doc["cores"]:
        ev = core["events"]
        expect += (core["instret"] * e.instruction_pj + (ev["fpu_ops"] - ev["fpu_vec_ops"]) * e.fpu_op_pj
                   + ev["fpu_vec_ops"] * e.fpu_vec_op_pj + ev["tcdm_accesses"] * e.tcdm_access_pj
                   + ev["l2_accesses"] * e.l2_access_pj + (core["cycles"] - core["instret"]) * e.core_cycle_pj)
    assert doc["energy_uj"] == pytest.approx(expect * 1e-6, rel=1e-9, abs=1e-6)
    assert sum(doc["parts_uj"].values()) == pytest.approx(doc["energy_uj"], abs=1e-5)


def test_every_coefficient_moves_the_energy():
    result = run("c")
    base = energy.of_result(result).total_pj
    for name in ("instruction_pj", "fpu_op_pj", "fpu_vec_op_pj", "tcdm_access_pj", "core_cycle_pj",
                 "background_mw", "leakage_mw"):
        coeff = replace(result.config.energy, **{name: getattr(result.config.energy, name) * 2 + 1})
        assert energy.of_result(result, coeff).total_pj > base, name


@pytest.mark.parametrize("dtype, published", [("fp32", 79.0), ("fp16", 129.0)])
def test_the_fpu_coefficients_reproduce_vegas_efficiency_on_the_matmul(dtype, published):
    """The calibration of tools/calibrate_energy.py still holds (re-fit when kernels or counters change)."""
    kdef = registry.get("matmul")
    outcome = registry.run(kdef, kdef.full_shape({"m": 64, "n": 64, "k": 64}), dtype, None, 8, ClusterConfig(),
                           engine="c")
    assert energy.of_result(outcome.run.result).gflops_per_w(2 * outcome.macs) == pytest.approx(published, rel=0.03)


@pytest.mark.parametrize("bad", ["x", float("nan"), True, -1.0, 1e9])
def test_energy_parameters_are_validated(bad):
    with pytest.raises(ConfigError, match="energy.fpu_op_pj"):
        load_config(overrides={"energy": {"fpu_op_pj": bad}})
