"""`mcusim tune` and `mcusim train --plan-file`: candidates per layer-phase, the plan file, and the
training step that uses it (a tuned step is never slower; a forced variant is the one that runs)."""
import json

import pytest

from mcusim.cli import main
from mcusim.simulator.config import load_config
from mcusim.workloads import networks, train, tune

TINY = networks.single_conv2d(4, 6, 6, 8, 3, 1, 1)


@pytest.fixture(scope="module")
def tiny_json(tmp_path_factory):
    path = tmp_path_factory.mktemp("net") / "tiny.json"
    path.write_text(networks.to_json(TINY))
    return str(path)


@pytest.fixture(scope="module")
def tuned(tiny_json):
    return tune.tune(tiny_json, "fp16", load_config(), cores=8, jobs=1)


def test_every_variant_of_every_tunable_layer_phase_is_simulated(tuned):
    from mcusim.kernels_asm.kernels import registry
    phases = {(s.layer, s.phase) for s in tuned.steps}
    assert phases == {("conv2d", "forward"), ("conv2d", "weight_grad"), ("conv2d", "input_grad")}
    for s in tuned.steps:
        assert set(s.candidates) == set(registry.get(s.kernel).variants["fp16"])
        cycles = {v: r["cycles"] for v, r in s.candidates.items()}
        assert all(c > 0 for c in cycles.values()) and s.cycles == min(cycles.values())
        assert len(set(cycles.values())) > 1            # the variants really differ
        assert s.default_variant in cycles and s.cycles <= s.default_cycles


def test_plan_file_drives_the_step_and_the_tuned_step_is_never_slower(tuned, tiny_json, tmp_path):
    path = tmp_path / "plan.json"
    tune.save_plan(tuned, str(path))
    doc = json.loads(path.read_text())
    assert doc["schema"] == tune.PLAN_SCHEMA and doc["dtype"] == "fp16" and len(doc["steps"]) == 3
    net = tune.network(tiny_json)
    plan = tune.load_plan(str(path), net, "fp16")
    cfg = load_config()
    default = train.simulate_step(net, "fp16", cfg, verify=False)
    tuned_step = train.simulate_step(net, "fp16", cfg, verify=False, variant_plan=plan)
    assert tuned_step.cycles <= default.cycles
    # force the slowest candidate of the forward pass: that variant runs, with the cycles tune measured
    fw = next(s for s in doc["steps"] if s["phase"] == "forward")
    slow = max(fw["candidates"], key=lambda v: fw["candidates"][v])
    fw["variant"] = slow
    path.write_text(json.dumps(doc))
    forced = train.simulate_step(net, "fp16", cfg, verify=False, variant_plan=tune.load_plan(str(path), net, "fp16"))
    rec = next(r for r in forced.records if r.layer == "conv2d" and r.phase == "forward")
    assert rec.variant == slow
    assert forced.cycles > tuned_step.cycles
    # kernel by kernel (--dma model), each variant's cycles are the ones tune measured on random
    # operands (the step program's kernels read their addresses from an argument table: a few more)
    forced_m = train.simulate_step(net, "fp16", cfg, verify=False, dma="model",
                                   variant_plan=tune.load_plan(str(path), net, "fp16"))
    rec = next(r for r in forced_m.records if r.layer == "conv2d" and r.phase == "forward")
    assert rec.variant == slow and rec.compute_cycles == fw["candidates"][slow]
    tuned_m = train.simulate_step(net, "fp16", cfg, verify=False, dma="model", variant_plan=plan)
    for s in tuned.steps:
        rec = next(r for r in tuned_m.records if r.layer == s.layer and r.phase == s.phase)
        assert rec.variant == s.variant and rec.compute_cycles == s.cycles
        rec = next(r for r in tuned_step.records if r.layer == s.layer and r.phase == s.phase)
        assert rec.variant == s.variant and s.cycles <= rec.compute_cycles <= s.cycles + 200


def test_choice_rule_prefers_fitting_then_fastest_then_default():
    def row(c, fits=True, err=""):
        return {"cycles": c, "fits_tcdm": fits, "error": err}
    s = tune.StepChoice("l", "forward", "conv2d_fw", "abt", {"abt": row(100), "ab": row(90)})
    assert s.variant == "ab" and s.cycles == 90 and s.default_cycles == 100
    s.candidates["ab"] = row(100)
    assert s.variant == "abt"                                   # a tie keeps the default
    s.candidates["ab"] = row(50, fits=False)
    assert s.variant == "abt"                                   # one that fits beats one that does not
    s.candidates = {"abt": row(100, False), "ab": row(50, False)}
    assert s.variant == "ab"                                    # none fits: the fastest
    s.candidates = {"abt": row(None, err="boom"), "ab": row(70)}
    assert s.variant == "ab"


def test_tune_cli_and_train_plan_file(tiny_json, tmp_path, capsys):
    out = tmp_path / "p.json"
    assert main(["tune", tiny_json, "--dtype", "fp32", "--out", str(out), "--jobs", "2"]) == 0
    err = capsys.readouterr().err
    assert "gain" in err and "tuned layer-phases" in err
    assert main(["train", tiny_json, "--dtype", "fp32", "--plan-file", str(out), "-q", "--no-verify"]) == 0
    assert main(["train", tiny_json, "--dtype", "fp16", "--plan-file", str(out), "-q"]) == 2
    assert "tuned for fp32, not fp16" in capsys.readouterr().err


@pytest.mark.parametrize("edit, expect", [
    (lambda d: d.update(schema="x"), "not a plan file"),
    (lambda d: d["steps"][0].update(layer="nope"), "has no layer 'nope'"),
    (lambda d: d["steps"][0].update(variant="simd_99"), "has no variant 'simd_99'"),
    (lambda d: d["steps"][0].update(kernel="linear_fw"), "does not run kernel 'linear_fw'"),
    (lambda d: d["steps"][0].pop("variant"), "needs layer, phase, kernel and variant"),
])
def test_bad_plan_file_is_one_line(tuned, tiny_json, tmp_path, capsys, edit, expect):
    doc = tuned.to_json()
    edit(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    assert main(["train", tiny_json, "--dtype", "fp16", "--plan-file", str(path), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expect in err, err


def test_layer_kind_sweeps_one_layer_phase(tiny_json, tuned):
    from mcusim.workloads import sweep
    res = sweep.sweep({"workload": {"kind": "layer", "name": tiny_json,
                                    "args": {"layer": "conv2d", "phase": "forward", "dtype": "fp16"}},
                       "grid": {"args.variant": ["abt", "ab"], "fpu.count": [8]}})
    fw = next(s for s in tuned.steps if s.phase == "forward")
    assert [r["cycles"] for r in res.rows] == [fw.candidates["abt"]["cycles"], fw.candidates["ab"]["cycles"]]
