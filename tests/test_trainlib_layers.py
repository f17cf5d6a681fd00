"""PULP-TrainLib-style DepthWise, PointWise and Linear phases (variant `trainlib`), the `trainlib`
kernel set in a DS-CNN-like step, and `reproduce`'s attribution of the gaps.

Every variant runs on shapes wider than the defaults (strides 1 and 2, paddings, fewer channels
than cores, odd sizes, 1 x 1), each checked against numpy: FP16 bit-exact against the emulation of
its FP16-accumulator sequence, FP32 within gamma_k (tests/test_engine_kernels.py also runs every
registered variant on both engines at the default shapes)."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from mcusim.kernels_asm.kernels import matmul_fp16 as mm16
from mcusim.kernels_asm.kernels import registry
from mcusim.kernels_asm.kernels.layers_conv import dw_geom, pointwise_choose
from mcusim.kernels_asm.kernels.layers_linear import linear_choose
from mcusim.kernels_asm.kernels.transforms import im2col_ref
from mcusim.simulator.config import load_config
from mcusim.workloads import cli, model, networks, report, train

CFG = load_config()
PHASES = ("fw", "wg", "ig")
DTYPES = ("fp32", "fp16")


def _run(name: str, shape: dict, dtype: str, cores: int, seed: int = 0, engine: str = "c", variant="trainlib"):
    out = registry.run(registry.get(name), shape, dtype, variant, cores, CFG, seed=seed, engine=engine)
    assert out.check.ok, f"{name} {dtype} {variant} {shape}: {out.check.detail}"
    return out


DW_SHAPES = [
    {"c": 5, "h": 7, "w": 6, "kh": 3, "kw": 3, "s": 1, "p": 1},
    {"c": 9, "h": 8, "w": 5, "kh": 3, "kw": 2, "s": 2, "p": 0},
    {"c": 3, "h": 6, "w": 6, "kh": 3, "kw": 3, "s": 2, "p": 1},
    {"c": 16, "h": 4, "w": 3, "kh": 1, "kw": 1, "s": 1, "p": 0},
    {"c": 4, "h": 9, "w": 9, "kh": 3, "kw": 3, "s": 3, "p": 1},
]


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_trainlib_depthwise(phase: str, dtype: str) -> None:
    for i, shape in enumerate(DW_SHAPES):
        _run(f"depthwise_{phase}", shape, dtype, (8, 3, 1, 8, 8)[i], seed=i)
    # two parallel regions: im2row, then the depthwise loop
    body = registry.get(f"depthwise_{phase}").build(DW_SHAPES[0], dtype, "trainlib", 8).body.source()
    assert body.count("\tbarrier") == 1
    assert ("fmadd.h" if dtype == "fp16" else "fmadd.s") in body and "vf" not in body


@pytest.mark.parametrize("name", ["depthwise_fw", "depthwise_wg", "depthwise_ig", "pointwise_ig", "linear_ig"])
def test_trainlib_variants_same_cycles_on_both_engines(name: str) -> None:
    shape = ({"c": 3, "h": 5, "w": 4, "kh": 3, "kw": 3, "s": 1, "p": 1} if name.startswith("depthwise")
             else {"ci": 5, "co": 3, "h": 3, "w": 3} if name.startswith("pointwise") else {"ci": 9, "co": 5})
    c = _run(name, shape, "fp16", 8, engine="c")
    py = _run(name, shape, "fp16", 8, engine="py")
    assert c.run.cycles == py.run.cycles
    assert all(np.array_equal(c.run.outputs[k], py.run.outputs[k]) for k in c.run.outputs)


def test_trainlib_depthwise_splits_channels_in_ceil_blocks() -> None:
    """9 channels on 8 cores: TrainLib gives ceil(9/8) = 2 each, so cores 0-3 take two, core 4 one
    and cores 5-7 none in the depthwise loop (the balanced split would give cores 1-7 one each)."""
    out = _run("depthwise_fw", {"c": 9, "h": 5, "w": 5, "kh": 3, "kw": 3, "s": 1, "p": 1}, "fp32", 8)
    instret = {core: rec["instret"] for core, rec in out.run.result.regions["depthwise_fw"].per_core.items()}
    assert instret[5] == instret[6] == instret[7] < instret[4] < instret[1] == instret[2] == instret[3]


def test_trainlib_depthwise_accumulates_in_fp16() -> None:
    """The weight gradient sums 144 pixels in an FP16 accumulator: its result is the FP16-accumulator
    sequence, not a correctly rounded FP32 sum (the check would reject the latter)."""
    shape = {"c": 2, "h": 12, "w": 12, "kh": 3, "kw": 3, "s": 1, "p": 1}
    out = _run("depthwise_wg", shape, "fp16", 8, seed=3)
    inputs = registry.get("depthwise_wg").inputs(out.shape, "fp16", np.random.default_rng(3))
    g, one = dw_geom(shape), dw_geom({**shape, "c": 1})
    a, b = inputs["DY"][:1], im2col_ref(inputs["X"][:1], one, "row")
    f32 = mm16._emulate_f32acc(a, b, pairs=False)[0].astype(np.float16)
    assert not np.array_equal(f32, out.run.outputs["DW"][:1])
    assert np.array_equal(mm16._emulate_f16acc(a, b).astype(np.float16), out.run.outputs["DW"][:1])
    assert g.ho * g.wo == 144


PW_SHAPES = [{"ci": 5, "co": 7, "h": 3, "w": 5}, {"ci": 16, "co": 8, "h": 4, "w": 4}, {"ci": 1, "co": 3, "h": 1, "w": 1},
             {"ci": 12, "co": 20, "h": 5, "w": 3}]


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_trainlib_pointwise(phase: str, dtype: str) -> None:
    for i, shape in enumerate(PW_SHAPES):
        _run(f"pointwise_{phase}", shape, dtype, (8, 8, 3, 1)[i], seed=i)
    body = registry.get(f"pointwise_{phase}").build(PW_SHAPES[1], dtype, "trainlib", 8).body.source()
    assert body.count("\tbarrier") == (1 if phase == "ig" else 0)     # ig: the transpose of W first
    if dtype == "fp16":
        assert ("vfmac.h" if phase == "wg" else "vfmac.r.h") in body and "vfdotpex" not in body


LIN_SHAPES = [{"ci": 64, "co": 12}, {"ci": 7, "co": 9}, {"ci": 1, "co": 1}, {"ci": 3, "co": 20}]


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_trainlib_linear(phase: str, dtype: str) -> None:
    for i, shape in enumerate(LIN_SHAPES):
        _run(f"linear_{phase}", shape, dtype, (8, 3, 8, 1)[i], seed=i)


def test_trainlib_is_never_chosen() -> None:
    for dtype in DTYPES:
        for shape in DW_SHAPES:
            for phase in PHASES:
                assert registry.get(f"depthwise_{phase}").choose(shape, dtype, 8) != "trainlib"
        for phase in PHASES:
            assert pointwise_choose(16, 16, 64, phase, dtype, 8) != "trainlib"
            assert linear_choose(64, 12, phase, dtype, 8) != "trainlib"


def _mini_dscnn() -> dict:
    """DS-CNN's layer kinds at a small size: Conv2D stride 2, DepthWise + PointWise, one-pixel AvgPool, Linear."""
    return {"name": "mini_dscnn", "input": [1, 10, 6], "loss": {"type": "CrossEntropy"}, "layers": [
        {"name": "conv1", "type": "Conv2D", "out_channels": 8, "kernel": [3, 3], "stride": 2, "padding": "same"},
        {"name": "relu1", "type": "ReLU"},
        {"name": "dw1", "type": "DepthWise", "kernel": 3, "padding": "same"},
        {"name": "dw1_relu", "type": "ReLU"},
        {"name": "pw1", "type": "PointWise", "out_channels": 8},
        {"name": "pw1_relu", "type": "ReLU"},
        {"name": "pool", "type": "AvgPool", "kernel": [5, 3]},
        {"name": "fc", "type": "Linear", "out_features": 4}]}


def test_trainlib_kernel_set_covers_every_kind_it_has(capsys) -> None:
    net = model.build(_mini_dscnn())
    lib = train.simulate_step(net, "fp16", engine="c", variants=cli.KERNEL_SETS["library"])
    tl = train.simulate_step(net, "fp16", engine="c", variants=cli.KERNEL_SETS["trainlib"])
    assert tl.numerics.ok and lib.numerics.ok
    kinds = {"Conv2D", "DepthWise", "PointWise", "Linear"}
    calls = [(r.kind, k) for r in tl.records if r.kind in kinds and r.phase != "update" for k in r.kernels
             if k.role == "layer"]
    assert {kind for kind, _ in calls} == kinds
    assert all(k.variant == "trainlib" for _, k in calls)
    assert not any(k.variant == "trainlib" for r in lib.records for k in r.kernels)
    assert tl.cycles > lib.cycles
    shares = cli.step_shares(tl)
    assert 0 < shares["other_kernels"] < 1 and 0 <= shares["dma"] < 1
    assert cli.step_shares(lib)["other_kernels"] == pytest.approx(
        sum(k.cycles for r in lib.records for k in r.kernels) / lib.cycles)


def _rows(pub: float, tl: float, own: float) -> list[dict]:
    return [{"experiment": "x", "metric": "MAC/clk", "published": pub, "trainlib": tl, "measured": own,
             "network": "Net", "macs": 2_000_000, "trainlib_shares": {"other_kernels": 0.25, "dma": 0.1}},
            {"experiment": "x", "metric": "ms at 500 MHz", "published": 2.0, "trainlib": 4.0, "measured": 1.0}]


def test_attribution_is_computed_from_the_rows() -> None:
    text = "\n".join(report.reproduce_attribution(_rows(1.0, 2.0, 8.0), 500, "ideal", "ReLU"))
    # study: 1 MAC/clk for 2 ms at 500 MHz = 1 M MACs, half of the 2 M counted here
    assert "study 2.00 ms -> TrainLib-style 4.00 ms = 0.50x" in text and "imply 1.00 M MACs" in text
    assert "partly a different MAC count" in text
    # 2x from the model and 4x from the kernels: a third and two thirds of log(8)
    assert "= 2.00x from the model" in text and "= 4.00x from the kernels" in text
    assert "33% / 67% of the 8.00x" in text and "25% of the cycles" in text and "10% are exposed DMA" in text
    assert "instruction fetch is ideal" in text
    other = "\n".join(report.reproduce_attribution(_rows(3.0, 1.5, 6.0), 500, "cache", "ReLU"))
    assert "= 0.50x from the model" in other and "= 4.00x from the kernels" in other
    assert "instruction fetch is modelled" in other
    assert "log terms" not in other         # the parts go opposite ways: no split of the whole
    assert "imply 3.00 M MACs" in other


def test_reproduce_prints_the_attribution(monkeypatch, capsys) -> None:
    tiny = {"cin": 4, "cout": 4, "h": 6, "w": 6, "kernel": 3, "stride": 1, "padding": 1}
    monkeypatch.setattr(cli, "TUTORIAL_CONV", tiny)
    monkeypatch.setattr(cli, "RESNET8_CONVS", ())
    monkeypatch.setattr(cli, "REPRO_NETWORKS", {"dscnn": _mini_dscnn})
    monkeypatch.setenv("COLUMNS", "250")
    p = argparse.ArgumentParser(prog="mcusim")
    cli.add_reproduce_parser(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(["reproduce", "--engine", "c", "--json", "-"])
    assert args.func(args) == 0
    cap = capsys.readouterr()
    doc = json.loads(cap.out)
    mac = next(r for r in doc["rows"] if r["metric"] == "MAC/clk")
    model_x, kern_x = mac["trainlib"] / mac["published"], mac["measured"] / mac["trainlib"]
    err = " ".join(cap.err.split())
    assert "Where the differences come from" in err
    assert f"= {model_x:.2f}x from the model" in err and f"= {kern_x:.2f}x from the kernels" in err
    assert doc["attribution"][1].startswith("- DS-CNN:")
    assert mac["trainlib_shares"]["other_kernels"] > 0
