"""The simulated training step (workloads.train), its reports and its CLI (workloads.report, workloads.cli).

Small shapes only; engine "c" (falls back to the Python engine when the harness or the build lacks it).
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json

import numpy as np
import pytest

from mcusim.simulator.config import load_config
from mcusim.workloads import cli, model, networks, planner, reference, train
from mcusim.workloads.model import Phase

ENGINE = "c"


def mini_resnet() -> dict:
    """ResNet-like: 3x8x8 input, a stride-2 residual block with a 1x1 shortcut, global pool, Linear."""
    return {"name": "mini_resnet", "input": [3, 8, 8], "layers": [
        {"name": "conv1", "type": "Conv2D", "out_channels": 4, "kernel": 3, "padding": "same"},
        {"name": "relu1", "type": "ReLU"},
        {"name": "b_conv1", "type": "Conv2D", "out_channels": 8, "kernel": 3, "stride": 2, "padding": "same"},
        {"name": "b_relu1", "type": "ReLU"},
        {"name": "b_conv2", "type": "Conv2D", "out_channels": 8, "kernel": 3, "padding": "same"},
        {"name": "b_add", "type": "Add", "skip": "relu1",
         "shortcut": {"out_channels": 8, "stride": 2, "padding": "same"}},
        {"name": "b_relu2", "type": "ReLU"},
        {"name": "pool", "type": "AvgPool", "global": True},
        {"name": "fc", "type": "Linear", "out_features": 10}],
        "loss": {"type": "CrossEntropy"}}


def mini_dscnn() -> dict:
    """DS-CNN-like: rectangular strided first conv, DepthWise + PointWise, a 4x5 pool window over 5x5 that
    leaves the last input row out (as DS-CNN's 24x5 pool over 25x5), Linear."""
    return {"name": "mini_dscnn", "input": [1, 9, 10], "layers": [
        {"name": "conv1", "type": "Conv2D", "out_channels": 8, "kernel": [4, 2], "stride": 2, "padding": "same"},
        {"name": "relu1", "type": "ReLU"},
        {"name": "dw1", "type": "DepthWise", "kernel": 3, "padding": "same"},
        {"name": "pw1", "type": "PointWise", "out_channels": 8},
        {"name": "pw1_relu", "type": "ReLU"},
        {"name": "pool", "type": "AvgPool", "kernel": [4, 5]},
        {"name": "fc", "type": "Linear", "out_features": 5}],
        "loss": {"type": "CrossEntropy"}}


SINGLE = {
    "conv2d": lambda: networks.single_conv2d(cin=3, h=6, w=6, cout=4, kernel=3, padding=1),
    "pointwise": lambda: networks.single_pointwise(cin=8, h=4, w=4, cout=6),
    "depthwise": lambda: networks.single_depthwise(c=4, h=6, w=6, kernel=3, padding=1),
    "linear": lambda: networks.single_linear(16, 8),
}
KERNELS = {"conv2d": "conv2d", "pointwise": "pointwise", "depthwise": "depthwise", "linear": "linear"}


def check_step(res: train.StepResult, net: model.Network) -> None:
    """What every simulated step must satisfy."""
    assert res.numerics is not None and res.numerics.ok, res.numerics.describe()
    # the simulated weight gradients themselves: FP32 within a few float32 roundings of the
    # reference; FP16 (FP16 storage, some FP16 accumulators) within a few per cent on these small nets
    grad_bound = 1e-5 if res.dtype == "fp32" else 0.02
    assert all(t.grad_rel_error <= grad_bound for t in res.numerics.tensors), res.numerics.describe()
    # one record per schedule step (the loss's gradient comes from its forward kernel)
    expect = [(lay.name, train.LOSS if lay.is_loss else ph.value) for lay, ph in net.schedule()
              if not (lay.is_loss and ph is Phase.INPUT_GRAD)]
    assert [(r.layer, r.phase) for r in res.records] == expect
    assert res.macs == net.macs()
    over = sum(r.overhead_cycles for r in res.records)
    assert res.cycles == res.compute_cycles + res.dma_cycles + over == sum(r.cycles for r in res.records)
    assert res.mac_per_clk == pytest.approx(net.macs() / res.cycles)
    simulated = res.dma_mode == "simulated"
    if simulated:
        # one program on the configured cluster: nothing enlarged, every cycle measured
        assert res.run_cycles >= res.cycles
        assert not any(r.enlarged for r in res.records)
        assert all(r.tcdm_kib == res.config.tcdm.size_kib and r.overhead_cycles >= 0 for r in res.records)
    else:
        assert over == 0
    for r in res.records:
        if r.kind != "Add" or r.phase == "forward":
            assert r.kernels and all(k.cycles > 0 for k in r.kernels) and r.instret > 0, r
            assert r.dma.exposed_cycles > 0
            if not simulated:
                assert r.dma.exposed_cycles <= r.dma.busy_cycles
        for k in r.kernels:
            if simulated and not k.per_core:
                continue        # the step's region counters sit on its first kernel
            assert len(k.per_core) == res.cores
            # a core's region cycles are its instructions plus its stalls
            assert all(p["cycles"] >= p["instret"] for p in k.per_core)
    # the weights moved, and by the reference's update
    params0 = reference.init_params(net, res.seed, res.dtype)
    assert set(res.params) == {lay.name for lay in net.trainable}
    assert any(not np.array_equal(res.params[n], params0[n]) for n in res.params)


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
@pytest.mark.parametrize("kind", list(SINGLE))
def test_single_layer_step(kind: str, dtype: str) -> None:
    net = model.build(SINGLE[kind]())
    res = train.simulate_step(net, dtype, engine=ENGINE)
    check_step(res, net)
    lay = net.layers[0]
    kernels = [r.kernel for r in res.records if r.layer == lay.name]
    k = KERNELS[kind]
    assert kernels == [f"{k}_fw", f"{k}_wg", f"{k}_ig", "sgd"]
    assert [r.kernel for r in res.records if r.layer == "loss"] == ["mse"]
    # the layer's MACs per phase follow model.py's rule
    for r in res.records:
        if r.layer == lay.name and r.phase in ("forward", "weight_grad", "input_grad"):
            assert r.macs == lay.forward_macs


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_mini_resnet_step(dtype: str) -> None:
    net = model.build(mini_resnet())
    res = train.simulate_step(net, dtype, engine=ENGINE)
    check_step(res, net)
    by = {(r.layer, r.phase): r for r in res.records}
    # relu1 feeds b_conv1 and the shortcut: the second gradient written (b_conv1's) is summed
    assert by[("b_conv1", "input_grad")].kernel == "conv2d_ig+add"
    assert by[("b_add_shortcut", "input_grad")].kernel == "conv2d_ig"
    assert by[("b_add", "input_grad")].kernels == []          # dY goes to both operands
    assert by[("pool", "forward")].kernel == "linear_fw"       # global pool as X · v
    assert by[("pool", "input_grad")].kernel == "linear_wg"    # dY · vᵀ
    phases = res.by_phase()
    assert set(phases) == {"forward", "loss", "weight_grad", "input_grad", "update", "dma", "overhead"}
    assert sum(v["cycles"] for v in phases.values()) == res.cycles


def test_mini_dscnn_step_fp16() -> None:
    net = model.build(mini_dscnn())
    res = train.simulate_step(net, "fp16", engine=ENGINE)
    check_step(res, net)
    by = {(r.layer, r.phase): r for r in res.records}
    assert by[("dw1", "forward")].kernel == "depthwise_fw" and by[("dw1", "forward")].variant == "simd"
    assert by[("pw1", "input_grad")].kernel == "pointwise_ig"
    assert by[("conv1", "weight_grad")].kernel == "conv2d_wg"


def test_windowed_pools_use_the_pool_kernels() -> None:
    """Pools with several output pixels run the library's pool kernels (max-pool backward included)."""
    desc = {"name": "pools", "input": [2, 8, 8], "layers": [
        {"name": "c", "type": "Conv2D", "out_channels": 4, "kernel": 3, "padding": "same"},
        {"name": "mp", "type": "MaxPool", "kernel": 2},
        {"name": "ap", "type": "AvgPool", "kernel": 2},
        {"name": "fc", "type": "Linear", "out_features": 3}], "loss": {"type": "MSE"}}
    net = model.build(desc)
    res = train.simulate_step(net, "fp32", engine=ENGINE)
    check_step(res, net)
    kernels = [(r.layer, r.phase, r.kernel) for r in res.records if r.layer in ("mp", "ap")]
    assert kernels == [("mp", "forward", "maxpool"), ("ap", "forward", "avgpool"),
                       ("ap", "input_grad", "avgpool_bwd"), ("mp", "input_grad", "maxpool_bwd")]


def test_pool_crop_gradient_leaves_the_last_row_zero() -> None:
    """DS-CNN's pool window misses the last input row: its gradient is exactly zero there."""
    net = model.build(mini_dscnn())
    pool = net.layer("pool")
    run = train._Runner(load_config(), 8, train.resolve_engine(ENGINE), None)
    dy = np.linspace(-1, 1, pool.out_shape[0]).astype(np.float32).reshape(pool.out_shape)
    x = np.random.default_rng(0).standard_normal(pool.in_shape).astype(np.float32)
    (dx,) = train.input_grads(run, pool, [x], None, dy, "fp32", 8)
    ref = reference.layer_input_grad(pool, [x], None, dy, "fp32")[0]
    assert np.all(dx[:, 4:, :] == 0) and np.allclose(dx, ref, rtol=1e-6, atol=1e-9)
    y = train.forward(run, pool, [x], None, "fp32", 8)
    assert np.allclose(y, reference.layer_forward(pool, [x], None, "fp32"), rtol=1e-5, atol=1e-7)


def test_numerics_check_detects_a_wrong_update() -> None:
    """The tolerance is not vacuous: one weight off by a tenth of the largest update fails FP32."""
    net = model.build(SINGLE["linear"]())
    params = reference.init_params(net, 0, "fp32")
    x, t = reference.random_input(net, 0, "fp32"), reference.random_target(net, 0, "fp32")
    ref = reference.train_step(net, params, x, t, 0.01, "fp32")
    ok = train.check_numerics(net, "fp32", params, x, t, 0.01, ref.loss, ref.params)
    assert ok.ok and all(c.max_error == 0 for c in ok.tensors)
    bad = {k: v.copy() for k, v in ref.params.items()}
    bad["linear"][0, 0] += np.float32(0.1 * 0.01 * np.abs(ref.weight_grads["linear"]).max())
    assert not train.check_numerics(net, "fp32", params, x, t, 0.01, ref.loss, bad).ok
    assert not train.check_numerics(net, "fp32", params, x, t, 0.01, ref.loss + 0.1, ref.params).ok


def test_fit_config_enlarges_only_when_needed() -> None:
    from mcusim.kernels_asm.kernels.layers_linear import linear_program
    cfg = load_config()
    small = linear_program(16, 8, "fw", "fp32", "ab", 8)
    assert train.fit_config(small, cfg) is cfg
    big = linear_program(512, 256, "fw", "fp32", "ab", 8)        # W alone is 512 KiB+
    fitted = train.fit_config(big, cfg)
    assert fitted.tcdm.size_kib > cfg.tcdm.size_kib and fitted.tcdm.banks == cfg.tcdm.banks
    assert fitted.core == cfg.core and fitted.fpu == cfg.fpu and fitted.dma == cfg.dma
    from mcusim.kernels_asm.kernels.harness import HarnessError, layout
    layout(big.tensors, fitted)                                   # fits
    tighter = dataclasses.replace(fitted, tcdm=dataclasses.replace(fitted.tcdm, size_kib=fitted.tcdm.size_kib - 1))
    with pytest.raises(HarnessError):
        layout(big.tensors, tighter)                              # and just enough


def test_dma_model() -> None:
    cfg = load_config()
    lay = model.build(networks.single_conv2d(cin=16, h=32, w=32, cout=16, kernel=3, padding=1)).layers[0]
    whole = planner.plan_step(lay, Phase.FORWARD, "fp32", 10 ** 7)
    d = train.dma_model([whole], 1000, "fp32", cfg)
    expect = sum(cfg.dma.setup_latency + -(-b.elems * 4 // cfg.dma.bandwidth)
                 for b in whole.buffers if b.role != "scratch")
    assert (d.tiles, d.double_buffer) == (1, False)
    assert d.exposed_cycles == d.busy_cycles == expect
    assert (d.bytes_in, d.bytes_out) == (whole.dma_in, whole.dma_out)
    tiled = planner.plan_step(lay, Phase.FORWARD, "fp32", 200 * 1024)
    assert tiled.tiles > 1 and tiled.double_buffer
    slow = train.dma_model([tiled], 10, "fp32", cfg)            # compute too short to hide anything
    fast = train.dma_model([tiled], 10 ** 8, "fp32", cfg)       # compute hides every middle transfer
    assert slow.busy_cycles == fast.busy_cycles
    assert fast.exposed_cycles < slow.exposed_cycles <= slow.busy_cycles
    assert fast.exposed_cycles > 0                                # first load and last store remain


def test_network_too_big_for_the_tcdm_is_a_clear_error() -> None:
    cfg = load_config(overrides={"tcdm": {"size_kib": 16}})
    net = model.build(networks.single_linear(4096, 4))
    with pytest.raises(planner.PlanError, match=r"layer 'linear'.*B"):
        train.simulate_step(net, "fp32", cfg, engine=ENGINE)


# ------------------------------------------------------------------------------------------------
# Reports and CLI
# ------------------------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mcusim")
    sub = p.add_subparsers(dest="command", required=True)
    cli.add_train_parser(sub)
    cli.add_reproduce_parser(sub)
    return p


def _run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    return args.func(args)


def test_cli_train_layer_json_and_csv(tmp_path, capsys) -> None:
    out_csv = tmp_path / "steps.csv"
    rc = _run(["train", "layer", "--type", "linear", "--cin", "16", "--cout", "8", "--dtype", "fp16",
               "--engine", ENGINE, "--json", "-", "--csv", str(out_csv), "--freq-mhz", "500"])
    assert rc == 0
    cap = capsys.readouterr()
    doc = json.loads(cap.out)
    assert doc["network"] == "linear_16_8" and doc["dtype"] == "fp16" and doc["freq_mhz"] == 500
    for key in ("cycles", "instret", "macs", "mac_per_clk", "layers"):
        assert key in doc
    assert doc["macs"] == 3 * 16 * 8
    assert doc["cycles"] == sum(r["cycles"] for r in doc["layers"])
    assert doc["time_ms"] == pytest.approx(doc["cycles"] / 500e3, rel=1e-3)
    assert {(r["name"], r["phase"]) for r in doc["layers"]} >= {("linear", "forward"), ("loss", "loss")}
    assert all({"name", "phase", "cycles", "macs"} <= set(r) for r in doc["layers"])
    assert doc["numerics"]["ok"]
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert len(rows) == len(doc["layers"]) and rows[0]["layer"] == "linear"
    assert int(rows[0]["cycles"]) == doc["layers"][0]["cycles"]
    assert "per phase" in cap.err and "MAC/clk" in cap.err      # the tables went to stderr


def test_cli_plan_and_errors(capsys) -> None:
    assert _run(["train", "resnet8", "--plan", "--dtype", "fp16", "--dma", "model"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("plan resnet8 fp16") and "s1_conv1" in out
    # the step program's tiling (what the simulation runs): pulp-open's 64 KiB TCDM tiles more steps
    assert _run(["train", "resnet8", "--plan", "--dtype", "fp16", "--preset", "pulp-open"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("step program resnet8 fp16: TCDM 64 KiB") and "s3_conv2" in out
    tiled = [line for line in out.splitlines() if line.startswith("s3_conv2 ") and "forward" in line]
    assert tiled and int(tiled[0].split()[3]) > 1
    from mcusim.simulator.cli import UserError
    with pytest.raises(UserError, match="unknown network"):
        _run(["train", "nosuchnet", "--plan"])
    with pytest.raises(UserError, match="cores"):
        _run(["train", "resnet8", "--cores", "9"])


def test_cli_compare_dtypes(capsys) -> None:
    rc = _run(["train", "layer", "--type", "pointwise", "--cin", "8", "--cout", "8", "--h", "4", "--w", "4",
               "--compare-dtypes", "--engine", ENGINE, "--json", "-"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["steps"]) == {"fp32", "fp16"}
    total = doc["rows"][-1]
    assert total["name"] == "(total)"
    assert total["speedup"] == pytest.approx(total["cycles_fp32"] / total["cycles_fp16"], rel=1e-3)
    fw = next(r for r in doc["rows"] if r["name"] == "pointwise" and r["phase"] == "forward")
    assert fw["cycles_fp32"] == doc["steps"]["fp32"]["layers"][0]["cycles"]


def test_cli_reproduce_on_small_networks(monkeypatch, capsys) -> None:
    """The reproduce command's flow, with tiny stand-ins for the networks and the extra shapes."""
    monkeypatch.setattr(cli, "RESNET8_CONVS", ())
    monkeypatch.setattr(cli, "REPRO_NETWORKS", {"resnet8": mini_resnet, "dscnn": mini_dscnn})
    monkeypatch.setattr(cli, "TUTORIAL_CONV", {"cin": 4, "cout": 8, "h": 6, "w": 6, "kernel": 3, "stride": 1,
                                               "padding": 0})
    assert _run(["reproduce", "--engine", ENGINE, "--json", "-"]) == 0
    cap = capsys.readouterr()
    doc = json.loads(cap.out)
    metrics = {(r["experiment"].split(" ")[0], r["metric"]): r for r in doc["rows"]}
    speed = metrics[("Conv2D", "FP16 speedup over FP32, best of the shapes")]
    assert speed["published"] == 1.72 and speed["measured"] > 1.0
    assert metrics[("ResNet8", "MAC/clk")]["published"] == 3.11
    assert metrics[("DS-CNN", "ms at 700 MHz")]["published"] == 6.4
    assert "published" in cap.err and "700 MHz" in cap.err


def test_cli_user_errors_and_failed_numerics(tmp_path, monkeypatch, capsys) -> None:
    from mcusim.simulator.cli import UserError
    tiny = tmp_path / "tiny.toml"
    tiny.write_text("[tcdm]\nsize_kib = 16\n")
    with pytest.raises(UserError, match=r"layer 'linear'.*available"):
        _run(["train", "layer", "--type", "linear", "--cin", "4096", "--cout", "4", "--config", str(tiny), "-q"])
    # exit status 1 when the simulated weights leave the tolerance (here: a zero tolerance)
    monkeypatch.setattr(train, "ULPS", 0.0)
    monkeypatch.setattr(train, "REL16", 0.0)
    rc = _run(["train", "layer", "--type", "conv2d", "--cin", "3", "--cout", "4", "--h", "6", "--w", "6",
               "--dtype", "fp16", "--engine", ENGINE, "-q"])
    assert rc == 1


def test_trainlib_kernel_set_runs_the_conv_phases_trainlib_style(capsys) -> None:
    """`--kernels trainlib`: every Conv2D layer-phase uses the TrainLib-style variant, numerics hold, and
    the step is slower than with the library's own kernels (its reason to exist in `reproduce`)."""
    net = model.build(networks.single_conv2d(8, 8, 8, 16, kernel=3, padding=1))
    lib = train.simulate_step(net, "fp16", engine=ENGINE, variants=cli.KERNEL_SETS["library"])
    tl = train.simulate_step(net, "fp16", engine=ENGINE, variants=cli.KERNEL_SETS["trainlib"])
    assert tl.numerics.ok and lib.numerics.ok
    conv = [k for r in tl.records if r.kind == "Conv2D" and r.phase != "update" for k in r.kernels]
    assert len(conv) == 3 and all(k.variant == "trainlib" for k in conv)
    assert tl.cycles > lib.cycles


def test_reproduce_prints_the_study_trainlib_and_library_columns(monkeypatch, capsys) -> None:
    tiny = {"cin": 4, "cout": 4, "h": 6, "w": 6, "kernel": 3, "stride": 1, "padding": 1}
    monkeypatch.setattr(cli, "TUTORIAL_CONV", tiny)
    monkeypatch.setattr(cli, "RESNET8_CONVS", ())
    monkeypatch.setattr(cli, "REPRO_NETWORKS", {"resnet8": lambda: networks.single_conv2d(4, 6, 6, 4, padding=1)})
    monkeypatch.setenv("COLUMNS", "250")
    assert _run(["reproduce", "--engine", ENGINE, "--json", "-"]) == 0
    cap = capsys.readouterr()
    doc = json.loads(cap.out)
    mac = next(r for r in doc["rows"] if r["metric"] == "MAC/clk")
    assert mac["trainlib"] < mac["measured"] and mac["published"] == 3.11
    assert "TrainLib-style kernels" in cap.err and "own library" in cap.err
    assert "resnet8_fp16_trainlib" in doc["steps"]
