"""The training step as one program (workloads.step_program): it fits every TCDM by tiling, trains with
the reference's numerics, is an artifact `mcusim run` reproduces cycle for cycle, runs identically on
both engines, and its tiles compute what the untiled kernels compute.

The whole ResNet8 / DS-CNN steps on both presets and dtypes are `slow` (nightly: `pytest -m slow`);
the default run keeps one of each network plus small networks that need tiling on pulp-open.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mcusim.simulator.cluster import Cluster
from mcusim.simulator.config import load_config
from mcusim.simulator.loader import load_program
from mcusim.workloads import model, networks, reference, step_program, train
from mcusim.workloads.model import Phase
from tests.test_train import check_step, mini_dscnn, mini_resnet

ENGINE = "c"
BIG_CONV = networks.single_conv2d(cin=8, h=32, w=32, cout=8, kernel=3, padding=1)   # im2col 288 KiB in FP32


def _run_checked(desc, dtype: str, preset: str) -> train.StepResult:
    net = model.build(desc)
    cfg = load_config(preset)
    res = train.simulate_step(net, dtype, cfg, engine=ENGINE)
    check_step(res, net)
    assert res.dma_mode == "simulated"
    return res


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
@pytest.mark.parametrize("desc", [mini_resnet, mini_dscnn, lambda: BIG_CONV,
                                  lambda: networks.single_pointwise(cin=64, h=16, w=16, cout=64),
                                  lambda: networks.single_depthwise(c=64, h=24, w=24, kernel=3, padding=1),
                                  lambda: networks.single_linear(4096, 16)],
                         ids=["mini_resnet", "mini_dscnn", "conv2d", "pointwise", "depthwise", "linear"])
def test_pulp_open_tiles_and_trains(desc, dtype: str) -> None:
    """64 KiB TCDM, 4 shared FPUs: the layers that do not fit are tiled, numerics stay OK."""
    res = _run_checked(desc(), dtype, "pulp-open")
    assert res.config.tcdm.size_kib == 64
    budget = 64 * 1024 - (res.config.workers + 1) * 1024
    assert all(r.plan_tcdm_bytes <= budget for r in res.records)
    if desc is not mini_resnet and desc is not mini_dscnn:
        tiled = [r for r in res.records if r.dma.tiles > 1]
        assert tiled and all(len(r.tile_cycles) >= r.dma.tiles for r in tiled)
        assert all(r.dma.bytes_in > 0 for r in tiled)


@pytest.mark.parametrize("name,dtype,preset", [
    ("resnet8", "fp16", "default"), ("dscnn", "fp32", "default"), ("dscnn", "fp16", "pulp-open"),
    pytest.param("resnet8", "fp16", "pulp-open", marks=pytest.mark.slow),
    pytest.param("resnet8", "fp32", "default", marks=pytest.mark.slow),
    pytest.param("resnet8", "fp32", "pulp-open", marks=pytest.mark.slow),
    pytest.param("dscnn", "fp16", "default", marks=pytest.mark.slow),
    pytest.param("dscnn", "fp32", "pulp-open", marks=pytest.mark.slow)])
def test_networks_train_as_one_program(name: str, dtype: str, preset: str) -> None:
    net = model.build(name)
    cfg = load_config(preset)
    res = train.simulate_step(net, dtype, cfg, engine=ENGINE)
    assert res.numerics.ok, res.numerics.describe()
    assert res.dma_mode == "simulated" and not any(r.enlarged for r in res.records)
    assert all(r.tcdm_kib == cfg.tcdm.size_kib for r in res.records)
    assert res.macs == net.macs() and res.cycles <= res.run_cycles
    if (name, dtype, preset) == ("resnet8", "fp16", "default"):
        assert res.mac_per_clk >= 6.0          # the target, everything simulated


def test_json_reports_measured_dma(capsys) -> None:
    from mcusim.cli import build_parser
    args = build_parser().parse_args(["train", "layer", "--type", "conv2d", "--cin", "8", "--cout", "8",
                                      "--h", "32", "--w", "32", "--pad", "1", "--preset", "pulp-open",
                                      "--engine", ENGINE, "--json", "-"])
    assert args.func(args) == 0
    cap = capsys.readouterr()
    doc = json.loads(cap.out)
    assert doc["dma_mode"] == "simulated" and doc["phases"]["overhead"]["cycles"] > 0
    for r in doc["layers"]:
        assert r["enlarged"] is False and r["tcdm_kib"] == 64
        assert {"tiles", "bytes_in", "bytes_out", "exposed_cycles", "bank_cycles"} <= set(r["dma"])
        assert r["dma"]["mode"] == "simulated"
    fw = next(r for r in doc["layers"] if r["phase"] == "forward")
    assert fw["dma"]["tiles"] > 1 and fw["dma"]["bytes_in"] >= 32 * 32 * 8 * 4
    assert sum(len(r["tile_cycles"]) for r in doc["layers"]) > len(doc["layers"])
    assert "tiles" in cap.err                                   # the table marks tiled steps


def test_emitted_elf_and_source_reproduce_the_run(tmp_path, capsys) -> None:
    """--emit-elf / --emit-asm: `mcusim run --controller` gives the same cycles and the same L2."""
    net = model.build(mini_resnet())
    res = train.simulate_step(net, "fp16", engine=ENGINE)
    from mcusim.cli import build_parser
    elf, src = tmp_path / "step.elf", tmp_path / "src"
    args = build_parser().parse_args(["train", str(_write_json(tmp_path, mini_resnet())), "--dtype", "fp16",
                                      "--engine", ENGINE, "-q", "--emit-elf", str(elf), "--emit-asm", str(src)])
    assert args.func(args) == 0
    l2 = res.run.l2_contents()
    for path in (elf, src / "step.s"):
        cl = Cluster(load_program(path), res.config, cores=8, engine=ENGINE, controller=True)
        out = cl.run()
        assert out.exit_code == 0 and out.cycles == res.run_cycles
        assert cl.memory.read_bytes(0x1C00_0000, len(l2)) == l2
    # the command line: same cycles
    args = build_parser().parse_args(["run", str(elf), "--controller", "--json", "-", "-q"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["cycles"] == res.run_cycles
    # a user edits one kernel's source: the step runs again, slower, with the same results
    text = (src / "step.s").read_text()
    body = text.index("\nrelu_k")
    entry = text.index("\tsw ra, 12(sp)\n", body) + len("\tsw ra, 12(sp)\n")
    (src / "step.s").write_text(text[:entry] + "\tnop\n\tnop\n\tnop\n" + text[entry:])
    edited = load_program(src / "step.s")
    cl = Cluster(edited, res.config, cores=8, engine=ENGINE, controller=True)
    out = cl.run()
    assert out.exit_code == 0 and out.cycles > res.run_cycles
    sp = res.program
    for lay in net.trainable:             # the L2 block may have moved with the longer code
        t = sp.l2[f"W:{lay.name}"]
        new = cl.memory.read_bytes(edited.symbols[step_program.L2_SYMBOL] + t.offset, t.nbytes)
        assert new == res.run.read(sp.tensor_address(f"W:{lay.name}"), t.nbytes)


def _write_json(tmp_path: Path, desc: dict) -> Path:
    p = tmp_path / "net.json"
    p.write_text(networks.to_json(desc))
    return p


def test_tiled_equals_untiled_on_a_large_tcdm() -> None:
    """The same layer whole on a 1 MiB TCDM and forced into tiles there (a small buffer budget)
    computes bit-identical activations and input gradients, and weight gradients where no partial
    sums are needed (tiles over input channels)."""
    net = model.build(BIG_CONV)
    cfg = load_config(overrides={"tcdm": {"size_kib": 1024}})
    for dtype in ("fp32", "fp16"):
        params = reference.init_params(net, 1, dtype)
        x, t = reference.random_input(net, 1, dtype), reference.random_target(net, 1, dtype)
        runs = []
        same = {"conv2d_fw": "abt", "conv2d_wg": "abt", "conv2d_ig": "abt"}    # one variant for every tile
        for budget in (None, 40 * 1024):
            sp = step_program.compile_step(net, dtype, cfg, 8, params, x, t, variants=same, budget=budget)
            runs.append((sp, step_program.run_step_program(sp, ENGINE)))
        (sp0, r0), (sp1, r1) = runs
        assert all(s.tiles == 1 for s in sp0.steps)
        tiled = {(s.layer, s.phase): s for s in sp1.steps if s.tiles > 1}
        assert {("conv2d", "forward"), ("conv2d", "weight_grad"), ("conv2d", "input_grad")} <= set(tiled)
        lay = net.layers[0]
        names = ["act:conv2d", "grad:input"]
        if "out_rows" not in tiled[("conv2d", "weight_grad")].split:
            names.append("dW:conv2d")
        for name in names:
            shape = (sp0.l2[name].nbytes // (4 if dtype == "fp32" else 2),)
            assert np.array_equal(r0.tensor(name, shape).view(np.uint8), r1.tensor(name, shape).view(np.uint8)), \
                (dtype, name, tiled)
        assert lay.name == "conv2d"


def test_both_engines_give_identical_cycles() -> None:
    net = model.build(mini_dscnn())
    cfg = load_config("pulp-open")
    params = reference.init_params(net, 0, "fp16")
    x, t = reference.random_input(net, 0, "fp16"), reference.random_target(net, 0, "fp16")
    sp = step_program.compile_step(net, "fp16", cfg, 8, params, x, t)
    a, b = (step_program.run_step_program(sp, e) for e in ("c", "py"))
    assert a.result.engine == "c" and b.result.engine == "py"
    assert a.cycles == b.cycles
    assert [(m.cycles, m.compute, m.exposed, m.stalls) for m in a.measures] == \
        [(m.cycles, m.compute, m.exposed, m.stalls) for m in b.measures]
    assert a.l2_contents() == b.l2_contents() and a.dma_log == b.dma_log


def test_progress_follows_the_simulation_and_timeline_shows_the_dma(tmp_path) -> None:
    net = model.build(networks.single_conv2d(cin=8, h=16, w=16, cout=8, kernel=3, padding=1))
    seen = []
    res = train.simulate_step(net, "fp32", load_config("pulp-open"), engine=ENGINE,
                              progress=lambda done, total, rec: seen.append((done, total, rec)))
    live = [s for s in seen if s[2] is None]
    assert [d for d, _, _ in live] == list(range(1, len(res.records) + 1))     # as the controller went on
    assert [s[2] for s in seen if s[2] is not None] == res.records
    from mcusim.workloads import timeline
    doc = timeline.timeline([res], 700.0)
    spans = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    dma = [e for e in spans if e["tid"] == timeline.DMA_TID]
    assert len(dma) == len(res.run.dma_log) and sum(e["args"]["bytes"] for e in dma) == \
        sum(r.dma.bytes_in + r.dma.bytes_out for r in res.records)
    assert all(a["ts"] + a["dur"] <= b["ts"] + 1e-6 for a, b in zip(dma, dma[1:]))   # one engine, in order
    steps = [e for e in spans if e["tid"] == timeline.STEP_TID]
    assert [round(e["dur"] * 700) for e in steps] == [r.cycles for r in res.records]
    kernels = [e for e in spans if e["cat"] == "kernel"]
    assert {e["tid"] for e in kernels} == set(range(1, 9))
    assert doc["otherData"]["dma"].startswith("simulated")


def test_unfittable_step_is_a_clear_error() -> None:
    cfg = load_config(overrides={"tcdm": {"size_kib": 16}})
    net = model.build(networks.single_linear(4096, 4))
    with pytest.raises(train.planner.PlanError, match=r"layer 'linear' \(Linear\) phase forward: .*available"):
        train.simulate_step(net, "fp32", cfg, engine=ENGINE)


def test_row_tile_geometry_covers_every_gradient_row() -> None:
    """in_rows_geom: for any stride, kernel, padding and row range, the dY rows it takes include
    every row that touches the range, and the smaller convolution has exactly the range as input."""
    from mcusim.kernels_asm.kernels.transforms import ConvGeom
    from mcusim.workloads.step_lower import in_rows_geom, out_rows_geom
    for k in (1, 2, 3, 4):
        for s in (1, 2, 3):
            for p in range(k):
                g = ConvGeom(2, 11, 5, k, k, s, s, p, p, p, p)
                if g.h + 2 * p < k:
                    continue
                for lo in range(g.h):
                    for hi in range(lo + 1, g.h + 1):
                        sub, ua, hop = in_rows_geom(g, g.ho, lo, hi)
                        assert sub.h == hi - lo and sub.ho == hop
                        touching = {u for u in range(g.ho) for i in range(k) if lo <= u * s - p + i < hi}
                        assert touching <= set(range(ua, ua + hop))
                        # tap i of output row u' lands on input row (ua + u') * s - p + i, as in the layer
                        assert lo - sub.pt == ua * s - p
                for a in range(g.ho):
                    for b in range(a + 1, g.ho + 1):
                        sub, x0, x1 = out_rows_geom(g, a, b)
                        assert sub.ho == b - a and x0 - sub.pt == a * s - p
    assert Phase.FORWARD.value == "forward"


def test_shared_body_renames_labels_and_refuses_tensor_symbols_outside_li() -> None:
    """The emitter's kernel body: labels get the body's prefix (also when a label is written right
    after a digit-free token), `li rd, TENSOR + off` reads the argument table, a tensor's name in a
    comment or inside a longer symbol is not a use, and any other use is a LowerError."""
    from mcusim.kernels_asm.kernels.harness import KernelProgram, Tensor
    tensors = [Tensor("X", (4, 4), "fp16"), Tensor("Y", (4,), "fp16", "output")]
    ok = KernelProgram("k", "\tli a0, X + 8\n\tli a1, Y\nloop:  # X and Y here are comments\n"
                            "\tlw t0, 0(a0)\n\tli t1, X_STRIDE\n\tbnez t0, loop\n\tj kernel_end\n", tensors)
    em = step_program._Emitter(8, 0x10000000)
    name = em.body(ok)
    text = em.kernels[-1]
    assert f"{name}_loop:" in text and f"bnez t0, {name}_loop" in text and f"j {name}_kernel_end" in text
    assert f"li t1, {name}_X_STRIDE" in text and f".equ {name}_X_STRIDE, 8" in text
    assert "li a0, X" not in text and "lui a0, %hi(0x10000000)" in text and "lui a1, %hi(0x10000004)" in text
    assert em.slots[name] == [("X", 0), ("Y", 0)] and "addi a0, a0, 8" in text
    for bad in ("\tla a0, X\n", "\taddi a0, a0, %lo(Y)\n", "\tlw a0, X(zero)\n"):
        with pytest.raises(step_program.LowerError, match="used other than by li"):
            step_program._Emitter(8, 0x10000000).body(KernelProgram("k", bad, tensors))
