"""`mcusim train` under ISA profiles (core.extensions): every layer-phase runs kernel variants the
profile allows (FP16 without Xfaux: vfmac-based matmuls and the depthwise simd16), numerics stay OK,
both engines agree, and a profile that allows no variant is a one-line error naming the phase and
the missing extension."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from mcusim.isa.profiles import extensions_of_source
from mcusim.kernels_asm.kernels import matmul_fp16 as mm16
from mcusim.kernels_asm.kernels.layer_steps import Mm, ProfileError, matmul_candidates, matmul_variant
from mcusim.simulator.cli import UserError
from mcusim.simulator.config import ClusterConfig, load_config
from mcusim.workloads import model, networks, train

from test_train import mini_dscnn, mini_resnet

ENGINE = "c"


def with_profile(profile: str, base: ClusterConfig | None = None) -> ClusterConfig:
    cfg = base or load_config()
    return dataclasses.replace(cfg, core=dataclasses.replace(cfg.core, extensions=profile))


def _run(argv: list[str]) -> int:
    from mcusim.cli import build_parser
    args = build_parser().parse_args(argv)
    return args.func(args)


def test_matmul_choice_follows_the_profile() -> None:
    """A·Bᵀ FP16: vfdotpex variants with every extension, the TrainLib-style vfmac.h one without Xfaux;
    A·B keeps its vfmac variants; FP32 is unaffected; no tier at all is a ProfileError."""
    pulp = with_profile("pulp")
    from mcusim.isa.profiles import resolve
    ext = resolve(pulp.core.extensions)
    bt = Mm(16, 36, 72, "W", "B", "Y", True)
    ab = dataclasses.replace(bt, bt=False)
    assert mm16.variants(True, "fp16")[matmul_variant(bt, "fp16", 8)].family.name == "dotp"
    assert matmul_candidates(bt, "fp16", ext=ext) == ["tl_2x4"]
    assert "Xfaux" not in mm16.variant_extensions(True, "fp16", "tl_2x4")
    assert "Xfaux" in mm16.variant_extensions(True, "fp16", "simd_4x6")
    assert matmul_variant(ab, "fp16", 8, ext=ext) == matmul_variant(ab, "fp16", 8)
    assert matmul_variant(bt, "fp32", 8, ext=ext) == matmul_variant(bt, "fp32", 8)
    with pytest.raises(ProfileError, match="Xfaux"):
        matmul_candidates(bt, "fp16", naive=True, ext=ext)


@pytest.mark.parametrize("desc", [mini_resnet, mini_dscnn], ids=["mini_resnet", "mini_dscnn"])
def test_fp16_step_under_pulp_has_no_dot_product_and_trains(desc) -> None:
    net = model.build(desc())
    base = train.simulate_step(net, "fp16", engine=ENGINE)
    res = train.simulate_step(net, "fp16", with_profile("pulp"), engine=ENGINE)
    assert res.numerics.ok, res.numerics.describe()
    assert "Xfaux" in extensions_of_source(base.program.text)       # the default uses the dot products
    used = extensions_of_source(res.program.text)
    assert "Xfaux" not in used and "vfdotpex.s.h" not in res.program.text
    changed = [(a.layer, a.phase) for a, b in zip(base.records, res.records) if (a.variant, a.matmuls) !=
               (b.variant, b.matmuls)]
    assert changed                                                   # the profile chose other kernels
    assert res.cycles != base.cycles
    if desc is mini_dscnn:
        by = {(r.layer, r.phase): r for r in res.records}
        assert by[("dw1", "weight_grad")].variant == "simd16"
        assert by[("dw1", "forward")].variant == "simd"              # vfmac: allowed as it is


def test_both_engines_agree_under_pulp() -> None:
    """The A·Bᵀ forms forced: under pulp their matmuls are the TrainLib-style tl_2x4."""
    net = model.build(networks.single_conv2d(cin=4, h=6, w=6, cout=6, kernel=3, padding=1))
    cfg = with_profile("pulp")
    abt = {f"conv2d_{p}": "abt" for p in ("fw", "wg", "ig")}
    runs = [train.simulate_step(net, "fp16", cfg, engine=e, variants=abt) for e in ("py", "c")]
    assert runs[1].numerics.ok, runs[1].numerics.describe()
    assert runs[0].engines_used == ("py",) and runs[1].engines_used == ("c",)
    assert [r.cycles for r in runs[0].records] == [r.cycles for r in runs[1].records]
    assert runs[0].run_cycles == runs[1].run_cycles
    for name in runs[0].params:
        assert np.array_equal(runs[0].params[name], runs[1].params[name])
    assert [r.energy_uj for r in runs[0].records] == [r.energy_uj for r in runs[1].records]
    assert {r.matmuls for r in runs[1].records if r.kind == "Conv2D" and r.phase != "update"} == {"tl_2x4"}


def test_fp32_step_is_the_same_under_pulp() -> None:
    net = model.build(networks.single_conv2d(cin=3, h=6, w=6, cout=4, kernel=3, padding=1))
    a = train.simulate_step(net, "fp32", engine=ENGINE)
    b = train.simulate_step(net, "fp32", with_profile("pulp"), engine=ENGINE)
    assert [r.cycles for r in a.records] == [r.cycles for r in b.records]


def test_a_profile_without_any_variant_is_a_one_line_error(capsys) -> None:
    """FP16 without vector FP and dot products: no Conv2D forward variant at all."""
    net = model.build(networks.single_conv2d(cin=3, h=6, w=6, cout=4, kernel=3, padding=1))
    no_vec = "RV32I,RV32M,RV32F,Zfh,Xpulpv2"
    with pytest.raises(train.TrainError) as err:
        train.simulate_step(net, "fp16", with_profile(no_vec), engine=ENGINE)
    msg = str(err.value)
    assert "\n" not in msg and "phase forward" in msg and "conv2d_fw" in msg
    assert "Xfvec" in msg and "Xfaux" in msg and repr(no_vec) in msg
    # a variant forced by name is checked, not replaced
    with pytest.raises(train.TrainError, match=r"abt_naive needs .*Xfaux"):
        train.simulate_step(net, "fp16", with_profile("pulp"), engine=ENGINE, variants={"conv2d_fw": "abt_naive"})
    # the command line: a user error, one line, the option named for a bad profile
    with pytest.raises(UserError, match="phase forward.*Xfvec"):
        _run(["train", "conv2d", "--cin", "3", "--h", "6", "--w", "6", "--cout", "4", "--pad", "1", "--dtype",
              "fp16", "--extensions", no_vec, "-q"])
    with pytest.raises(UserError, match="--extensions Xnope: unknown extension"):
        _run(["train", "conv2d", "--extensions", "Xnope", "-q"])
    with pytest.raises(UserError, match="--compare-profile"):
        _run(["train", "conv2d", "--compare-profile", "RV32M", "-q"])


def test_cli_compare_profile_reports_both(tmp_path, capsys) -> None:
    out_csv = tmp_path / "cmp.csv"
    rc = _run(["train", "conv2d", "--cin", "4", "--h", "6", "--w", "6", "--cout", "6", "--pad", "1", "--dtype",
               "fp16", "--extensions", "pulp", "--compare-profile", "--engine", ENGINE, "--json", "-", "--csv",
               str(out_csv)])
    assert rc == 0
    cap = capsys.readouterr()
    doc = json.loads(cap.out)
    assert doc["extensions"] == "pulp" and doc["config"]["core"]["extensions"] == "pulp"
    cmp = doc["profile_comparison"]
    assert (cmp["a"], cmp["b"]) == ("pulp", "all") and cmp["step_b"]["extensions"] == "all"
    total = cmp["rows"][-1]
    assert total["name"] == "(total)" and total["cycles_a"] == doc["cycles"]
    assert total["cycles_b"] == cmp["step_b"]["cycles"]
    assert total["ratio"] == pytest.approx(total["cycles_a"] / total["cycles_b"], rel=1e-3)
    fw = next(r for r in cmp["rows"] if r["name"] == "conv2d" and r["phase"] == "forward")
    assert "vfdotpex" not in fw["matmul_a"] and fw["cycles_a"] == doc["layers"][0]["cycles"]
    assert out_csv.read_text().startswith("name,phase,kind,macs,variant_a,matmul_a,cycles_a,energy_uj_a")
    assert "'pulp' vs 'all'" in cap.err and "matmul variants used" in cap.err


@pytest.mark.slow
def test_resnet8_fp16_under_pulp() -> None:
    """The issue's case: ResNet8 FP16 on cores without vfdotpex.s.h (about 7 s)."""
    net = model.build("resnet8")
    res = train.simulate_step(net, "fp16", with_profile("pulp"), engine=ENGINE)
    assert res.numerics.ok, res.numerics.describe()
    assert "Xfaux" not in extensions_of_source(res.program.text)
    assert "tl_2x4" in {r.matmuls for r in res.records}
    assert res.mac_per_clk >= 6.0
