"""Energy of a training step (simulator/energy.py over the counters of each layer-phase and fork of
the step program): the parts add up, they follow the coefficients, and the reports carry them."""
from __future__ import annotations

import csv
import dataclasses
import io
import json

import pytest

from mcusim.simulator import energy
from mcusim.simulator.config import load_config
from mcusim.workloads import model, train

from test_train import mini_resnet

ENGINE = "c"


@pytest.fixture(scope="module")
def step() -> train.StepResult:
    return train.simulate_step(model.build(mini_resnet()), "fp16", engine=ENGINE)


def test_layer_phases_sum_to_the_step_and_the_step_to_the_run(step) -> None:
    e = step.energy
    assert e is not None and e.total_pj > 0
    assert sum(r.energy.total_pj for r in step.records) == pytest.approx(e.total_pj, rel=1e-12)
    phases = step.phase_energy()
    assert sum(p.total_pj for p in phases.values()) == pytest.approx(e.total_pj, rel=1e-12)
    # the whole run adds only the boot and the exit around the layer-phases, part by part
    run = step.run_energy
    assert run.total_pj >= e.total_pj
    assert run.total_pj == pytest.approx(e.total_pj, rel=2e-3)
    for part in energy.PARTS:
        assert run.parts_pj[part] == pytest.approx(e.parts_pj[part], rel=2e-2, abs=1e3)
    # every DMA byte of the run is in exactly one layer-phase
    coeff = step.config.energy
    assert e.parts_pj["dma"] == pytest.approx(step.cluster_result.dma_bytes * coeff.dma_byte_pj)
    assert sum(r.dma.bytes_in + r.dma.bytes_out for r in step.records) == step.cluster_result.dma_bytes
    # background and leakage over exactly the layer-phases' cycles
    assert e.parts_pj["leakage"] == pytest.approx(step.cycles * coeff.leakage_mw * 1000 / coeff.freq_mhz)


def test_kernels_cost_at_most_their_layer_phase(step) -> None:
    for r in step.records:
        if not r.kernels:
            continue
        ks = sum(k.energy.total_pj for k in r.kernels)
        assert 0 < ks <= r.energy.total_pj, (r.layer, r.phase)
    conv = next(r for r in step.records if r.layer == "b_conv2" and r.phase == "forward")
    assert conv.energy.parts_pj["fpu"] > 0 and conv.gflops_per_w > 0


def test_energy_follows_the_coefficients(step) -> None:
    """The same step with one coefficient changed: same cycles, that part (only) changes."""
    base = step.config
    for name, part, alone in (("fpu_vec_op_pj", "fpu", False), ("dma_byte_pj", "dma", True),
                              ("leakage_mw", "leakage", True), ("core_cycle_pj", "idle_cores", True)):
        cfg = dataclasses.replace(base, energy=dataclasses.replace(base.energy, **{name: getattr(base.energy, name) * 3}))
        other = train.simulate_step(model.build(mini_resnet()), "fp16", cfg, engine=ENGINE, verify=False)
        assert other.cycles == step.cycles
        if alone:       # the part is that coefficient times a count
            assert other.energy.parts_pj[part] == pytest.approx(3 * step.energy.parts_pj[part], rel=1e-9), name
        else:           # fpu: scalar and vector operations; the vector ones (vfmac.r.h...) cost more
            assert other.energy.parts_pj[part] > step.energy.parts_pj[part] > 0, name
        rest = [p for p in energy.PARTS if p != part]
        assert all(other.energy.parts_pj[p] == pytest.approx(step.energy.parts_pj[p], rel=1e-12) for p in rest)
        assert other.energy.total_pj > step.energy.total_pj


def test_model_mode_reports_energy_too() -> None:
    res = train.simulate_step(model.build(mini_resnet()), "fp32", load_config(), engine=ENGINE, dma="model",
                              verify=False)
    assert res.energy is not None and all(r.energy.total_pj > 0 for r in res.records if r.kernels)


def test_json_and_csv_carry_the_energy(tmp_path, capsys) -> None:
    from mcusim.cli import build_parser
    out_csv = tmp_path / "steps.csv"
    args = build_parser().parse_args(["train", "conv2d", "--cin", "4", "--h", "6", "--w", "6", "--cout", "6",
                                      "--pad", "1", "--dtype", "fp16", "--engine", ENGINE, "--json", "-",
                                      "--csv", str(out_csv)])
    assert args.func(args) == 0
    cap = capsys.readouterr()
    doc = json.loads(cap.out)
    assert doc["energy_uj"] > 0 and doc["gflops_per_w"] > 0 and doc["energy_freq_mhz"] == 250.0
    assert sum(doc["parts_uj"].values()) == pytest.approx(doc["energy_uj"], abs=1e-5)
    assert doc["run_energy_uj"] >= doc["energy_uj"]
    assert sum(r["energy_uj"] for r in doc["layers"]) == pytest.approx(doc["energy_uj"], abs=1e-5)
    phases = [p for p in ("forward", "loss", "weight_grad", "input_grad", "update")]
    assert sum(doc["phases"][p]["energy_uj"] for p in phases) == pytest.approx(doc["energy_uj"], abs=1e-5)
    assert doc["phases"]["dma"]["energy_uj"] is None              # inside the phases
    fw = doc["layers"][0]
    assert fw["phase"] == "forward" and fw["gflops_per_w"] > 0 and fw["matmul"]
    assert all(k["energy_uj"] > 0 for k in fw["kernels"])
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert float(rows[0]["energy_uj"]) == pytest.approx(fw["energy_uj"], abs=1e-6)
    assert rows[0]["matmul"] == fw["matmul"] and float(rows[0]["gflops_per_w"]) > 0
    assert "µJ per step" in cap.err and "GFLOPS/W" in cap.err
