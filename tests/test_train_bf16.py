"""`--dtype bf16` training: the one-program step on bfloat16 kernels against the numpy bfloat16
reference (reference.train_step(precision="bf16")), the reference's rounding itself, the numerics
check's power to fail, both engines cycle for cycle, and the command line. The whole ResNet8 and
DS-CNN steps are `slow` (run by CI, deselectable locally)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mcusim.kernels_asm.dtypes import DTYPES
from mcusim.simulator.config import load_config
from mcusim.workloads import model, reference, step_program, train
from tests.test_train import SINGLE, _run, check_step, mini_dscnn, mini_resnet

ENGINE = "c"
BF16 = DTYPES["bf16"]


def _is_bf16(a) -> bool:
    a = np.asarray(a)
    return a.dtype == np.float32 and not (a.view(np.uint32) & 0xFFFF).any()


def test_reference_rounds_every_tensor_to_bfloat16():
    net = model.build(mini_resnet())
    params = reference.init_params(net, 0, "bf16")
    x, t = reference.random_input(net, 0, "bf16"), reference.random_target(net, 0, "bf16")
    ref = reference.train_step(net, params, x, t, 0.01, "bf16")
    assert _is_bf16(x) and all(_is_bf16(w) for w in params.values())
    assert all(_is_bf16(a) for a in ref.outputs.values()) and all(_is_bf16(g) for g in ref.grads.values())
    assert all(_is_bf16(w) for w in ref.params.values()) and all(_is_bf16(g) for g in ref.weight_grads.values())
    # bfloat16 is not FP32 with a coarser look: the same step in FP32 gives other weights
    ref32 = reference.train_step(net, {k: v.astype(np.float32) for k, v in params.items()}, x, t, 0.01, "fp32")
    assert any(not np.array_equal(ref.params[k], ref32.params[k]) for k in ref.params)


@pytest.mark.parametrize("kind", list(SINGLE))
def test_single_layer_steps(kind):
    net = model.build(SINGLE[kind]())
    res = train.simulate_step(net, "bf16", engine=ENGINE)
    check_step(res, net)
    assert all(_is_bf16(w) for w in res.params.values())


def test_mini_networks():
    for desc in (mini_resnet, mini_dscnn):
        net = model.build(desc())
        res = train.simulate_step(net, "bf16", engine=ENGINE)
        check_step(res, net)
        kinds = {(r.layer, r.phase): (r.kernel, r.variant) for r in res.records}
        if desc is mini_dscnn:
            assert kinds[("dw1", "forward")] == ("depthwise_fw", "simd")
        text = res.program.text
        assert ".ah" in text and "vfdotpex.s.h" not in text and "vfmac.r.h " not in text


def test_numerics_check_detects_a_wrong_bf16_update():
    net = model.build(SINGLE["linear"]())
    params = reference.init_params(net, 0, "bf16")
    x, t = reference.random_input(net, 0, "bf16"), reference.random_target(net, 0, "bf16")
    ref = reference.train_step(net, params, x, t, 0.01, "bf16")
    ok = train.check_numerics(net, "bf16", params, x, t, 0.01, ref.loss, ref.params)
    assert ok.ok and all(c.max_error == 0 for c in ok.tensors)
    w = ref.params["linear"]
    bound = BF16.ulp(w[0, 0]) + train.REL16 * 0.01 * np.abs(ref.weight_grads["linear"]).max()
    bad = {k: v.copy() for k, v in ref.params.items()}
    bad["linear"][0, 0] = BF16.round(w[0, 0] + 2 * bound)
    assert not train.check_numerics(net, "bf16", params, x, t, 0.01, ref.loss, bad).ok
    assert not train.check_numerics(net, "bf16", params, x, t, 0.01, ref.loss + 1.0, ref.params).ok
    # the FP16 reference of the same step is not what a bf16 step is compared with
    assert "bfloat16" in ok.rule


def test_both_engines_give_identical_cycles():
    net = model.build(mini_dscnn())
    cfg = load_config("pulp-open")
    params = reference.init_params(net, 0, "bf16")
    x, t = reference.random_input(net, 0, "bf16"), reference.random_target(net, 0, "bf16")
    sp = step_program.compile_step(net, "bf16", cfg, 8, params, x, t)
    a, b = (step_program.run_step_program(sp, e) for e in ("c", "py"))
    assert a.result.engine == "c" and b.result.engine == "py"
    assert a.cycles == b.cycles
    assert [(m.cycles, m.compute, m.stalls) for m in a.measures] == [(m.cycles, m.compute, m.stalls) for m in b.measures]
    assert a.l2_contents() == b.l2_contents()


def test_cli_train_bf16_json(capsys):
    assert _run(["train", "layer", "--type", "conv2d", "--cin", "3", "--cout", "4", "--h", "6", "--w", "6",
                 "--dtype", "bf16", "--engine", ENGINE, "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["dtype"] == "bf16" and doc["numerics"]["ok"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet8", "dscnn"])
def test_networks_train_in_bf16(name):
    net = model.build(name)
    res = train.simulate_step(net, "bf16", engine=ENGINE)
    assert res.numerics.ok, res.numerics.describe()
    assert res.macs == net.macs() and res.dma_mode == "simulated"
