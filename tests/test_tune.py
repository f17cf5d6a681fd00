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
    return tune.tune(tiny_json, "fp16", load_config(), cores=8, jobs=1, prune=1.0)


def test_every_variant_and_tilings_of_every_layer_phase_are_simulated(tuned):
    from mcusim.kernels_asm.kernels import registry
    phases = {(s.layer, s.phase) for s in tuned.steps}
    assert {("conv2d", "forward"), ("conv2d", "weight_grad"), ("conv2d", "input_grad")} <= phases
    for s in tuned.steps:
        variants = {c.variant for c in s.candidates}
        if s.kernel is not None:      # every variant of the library (and its rule) ran, on its own tiling at least
            assert variants == {None, *registry.get(s.kernel).variants["fp16"]}
        tilings = {c.tiling for c in s.candidates}
        assert len(tilings) > 1                          # tiling candidates, not only the compiler's choice
        assert s.default.tiling in tilings and all(t[0] * t[1] >= 1 for t in tilings)
        ok = {c: r["cycles"] for c, r in s.candidates.items() if not r["error"]}
        assert all(v > 0 for v in ok.values()) and s.cycles == min(ok.values()) or s.best == s.default
        assert s.cycles <= s.default_cycles
    fw = next(s for s in tuned.steps if s.phase == "forward" and s.layer == "conv2d")
    assert len({r["cycles"] for r in fw.candidates.values()}) > 3          # the candidates really differ
    assert tuned.tuned_step <= tuned.default_step


def test_one_layer_phase_program_has_the_span_it_has_in_the_step(tiny_json):
    """tune measures a layer-phase alone; inside the whole step it takes the same cycles but for
    the TCDM arbiters' state the layer-phase before leaves (a few cycles on this network)."""
    net = tune.network(tiny_json)
    # ideal fetch: with the fetch model the I-cache contents the layer-phase before leaves differ too
    # (code warm in the step, cold alone: a few refills of 18 cycles)
    cfg = load_config(overrides={"icache": {"model": "ideal"}})
    step = train.simulate_step(net, "fp16", cfg, verify=False)
    for rec in step.records:
        if rec.layer == "conv2d" and rec.phase in ("forward", "weight_grad", "input_grad", "update"):
            alone = tune.run_layer(tiny_json, rec.layer, rec.phase, None, None, "fp16", cfg, 8, "c")
            assert abs(alone["cycles"] - rec.cycles) <= max(8, rec.cycles // 100), (rec.phase, alone, rec.cycles)


def test_plan_file_drives_the_step_and_the_tuned_step_is_never_slower(tuned, tiny_json, tmp_path):
    path = tmp_path / "plan.json"
    tune.save_plan(tuned, str(path))
    doc = json.loads(path.read_text())
    assert doc["schema"] == tune.PLAN_SCHEMA and doc["dtype"] == "fp16" and len(doc["steps"]) == len(tuned.steps)
    assert doc["step"]["tuned_cycles"] <= doc["step"]["default_cycles"]
    net = tune.network(tiny_json)
    plan = tune.load_plan(str(path), net, "fp16")
    cfg = load_config()
    default = train.simulate_step(net, "fp16", cfg, verify=False)
    tuned_step = train.simulate_step(net, "fp16", cfg, verify=True, variant_plan=plan)
    assert tuned_step.numerics.ok
    assert tuned_step.cycles <= default.cycles
    assert default.cycles == tuned.default_step and tuned_step.cycles == tuned.tuned_step
    # force a slow candidate of the forward pass, with another tiling: that variant and tiling run,
    # with the cycles tune measured for them (give or take the arbiters' state)
    fw = next(s for s in tuned.steps if s.phase == "forward" and s.layer == "conv2d")
    ok = {c: r["cycles"] for c, r in fw.candidates.items() if not r["error"]}
    slow = max((c for c in ok if c.variant is not None and c.tiling != fw.default.tiling), key=lambda c: ok[c])
    entry = next(e for e in doc["steps"] if e["layer"] == "conv2d" and e["phase"] == "forward")
    entry["variant"] = slow.variant
    entry["tiling"] = {"tiles": list(slow.tiling[:2]), "double_buffer": slow.tiling[2]}
    path.write_text(json.dumps(doc))
    forced = train.simulate_step(net, "fp16", cfg, verify=True, variant_plan=tune.load_plan(str(path), net, "fp16"))
    assert forced.numerics.ok
    rec = next(r for r in forced.records if r.layer == "conv2d" and r.phase == "forward")
    info = next(i for i in forced.program.steps if i.layer == "conv2d" and i.phase == "forward")
    assert {v for _, v, role in info.calls if role == "layer"} == {slow.variant}
    assert info.double_buffer == slow.tiling[2] and info.tiles == slow.tiling[0] * slow.tiling[1]
    assert abs(rec.cycles - ok[slow]) <= max(8, ok[slow] // 100)
    assert forced.cycles > tuned_step.cycles


def test_a_forced_tiling_that_does_not_fit_is_a_one_line_error(tmp_path, capsys):
    net = tmp_path / "conv.json"
    net.write_text(networks.to_json(networks.single_conv2d(16, 16, 16, 16, 3, 1, 1)))
    cfg = tmp_path / "small.toml"
    cfg.write_text("[tcdm]\nsize_kib = 32\n")
    doc = {"schema": tune.PLAN_SCHEMA, "network": "conv", "dtype": "fp16",
           "steps": [{"layer": "conv2d", "phase": "forward", "kernel": None, "variant": None,
                      "tiling": {"tiles": [1, 1], "double_buffer": False}}]}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    assert main(["train", str(net), "--dtype", "fp16", "--plan-file", str(path), "-q", "--no-verify",
                 "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tiling 1x1 needs" in err and "conv2d" in err, err


def test_choice_rule_fastest_beyond_the_margin_else_the_default():
    def row(c, err=""):
        return {"cycles": c, "error": err}
    d, a, b = tune.Candidate(None, (1, 1, False)), tune.Candidate("ab", (1, 1, False)), tune.Candidate(None, (2, 1, True))
    s = tune.StepChoice("l", "forward", "conv2d_fw", d, {d: row(1000), a: row(900), b: row(950)})
    assert s.best == a and s.cycles == 900 and s.default_cycles == 1000 and s.saved == 100
    assert s.override()["conv2d_fw"] == "ab" and s.override()["tiling"].t1 == 1
    s.candidates[a] = row(999)                                  # within the margin: the default stays
    s.candidates[b] = row(1001)
    assert s.best == d and s.saved == 0
    s.candidates = {d: row(None, "boom"), a: row(700), b: row(800)}
    assert s.best == a                                          # a failed default: the fastest that ran
    s.candidates = {d: row(1000), a: row(500)}
    s.reverted = True
    assert s.best == d                                          # the whole-step check reverted it
    import random
    for seed in range(50):                                      # whatever the candidates: <= the default
        rnd = random.Random(seed)
        s = tune.StepChoice("l", "forward", None, d, {c: row(rnd.randint(1, 9) * 100) for c in (d, a, b)})
        assert s.cycles <= s.default_cycles


def test_tune_cli_and_train_plan_file(tmp_path, capsys):
    net = tmp_path / "lin.json"
    net.write_text(networks.to_json(networks.single_linear(32, 16)))
    out = tmp_path / "p.json"
    assert main(["tune", str(net), "--dtype", "fp32", "--out", str(out), "--jobs", "2", "--prune", "1"]) == 0
    err = capsys.readouterr().err
    assert "gain" in err and "tuned layer-phases" in err and "whole step (simulated)" in err
    assert json.loads(out.read_text())["step"]["tuned_cycles"] <= json.loads(out.read_text())["step"]["default_cycles"]
    assert main(["train", str(net), "--dtype", "fp32", "--plan-file", str(out), "-q"]) == 0
    assert main(["train", str(net), "--dtype", "fp16", "--plan-file", str(out), "-q"]) == 2
    assert "tuned for fp32, not fp16" in capsys.readouterr().err
    for bad in ("0.5", "x"):
        with pytest.raises(SystemExit):
            main(["tune", str(net), "--out", str(out), "--prune", bad])
        assert "--prune" in capsys.readouterr().err


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
                                    "args": {"layer": "conv2d", "phase": "forward", "dtype": "fp16",
                                             "tiles": [2, 1], "double_buffer": True}},
                       "grid": {"args.variant": ["abt", "ab"], "fpu.count": [8]}})
    cfg = load_config()
    assert [r["cycles"] for r in res.rows] == [
        tune.run_layer(tiny_json, "conv2d", "forward", v, (2, 1, True), "fp16", cfg, 8, "c")["cycles"]
        for v in ("abt", "ab")]
    assert res.rows[0]["cycles"] != res.rows[1]["cycles"] and not res.rows[0]["error"]


def test_tune_on_a_dask_cluster_gives_the_same_plan(tmp_path):
    """The same candidates through a real scheduler and workers on localhost (TCP) as in this process."""
    import distributed
    net = tmp_path / "lin.json"
    net.write_text(networks.to_json(networks.single_linear(32, 16)))
    cfg = load_config()
    local = tune.tune(str(net), "fp16", cfg, jobs=1, prune=1.0, verify=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        remote = tune.tune(str(net), "fp16", cfg, scheduler=cluster.scheduler_address, prune=1.0, verify=False)

    def plain(plan):
        doc = plan.to_json()
        return doc["steps"]
    assert plain(local) == plain(remote)
    assert sum(len(s.candidates) for s in local.steps) > 10
