"""The per-instruction profile: identical on both engines (multi-core programs, a kernel, forked
workers, a table too small for the code), cycles adding up per core, the reports, and `mcusim train
--profile --timeline --plot`."""
import itertools
import json

import numpy as np
import pytest

from mcusim.kernels_asm import assemble, to_elf
from mcusim.kernels_asm.kernels import harness
from mcusim.kernels_asm.kernels.layers_elementwise import add_program
from mcusim.simulator import profile as prof
from mcusim.simulator.cengine import binding
from mcusim.simulator.cluster import Cluster
from mcusim.simulator.config import load_config
from mcusim.simulator.loader import read_elf
from mcusim.simulator.report import to_json
from tools.gen_cluster_program import generate

FORK_TWICE = """
    .globl _start
_start:                         # the controller forks the task to 4 workers twice
    li s0, 2
again:
    la t0, task
    li t1, 0x0f
    la t2, results
    fork t1, t0, t2
    join
    addi s0, s0, -1
    bnez s0, again
    li a0, 0
    li a7, 93
    ecall
task:
    core_id t0
    slli t1, t0, 2
    add t1, t1, a0
    lw t3, 0(t1)
    addi t3, t3, 1
    sw t3, 0(t1)
    barrier
    ret
    .section .tcdm
results: .space 32
"""


def _need_c() -> None:
    if binding.load() is None:
        pytest.fail("the compiled engine is not built: run `pip install -e .`")


def _profiled(source: str, cores: int, controller: bool = False):
    """Run on both engines with and without the profile; returns the two profiled results after
    checking the profile changes no timing, counter or output."""
    _need_c()
    image = read_elf(to_elf(assemble(source, "<p>")), "<p>")
    out = []
    for engine in ("py", "c"):
        docs = []
        for on in (False, True):
            result = Cluster(image, load_config(), cores=cores, controller=controller, engine=engine,
                             profile=on).run()
            assert result.engine == engine and (result.profile is not None) == on
            doc = to_json(result, "p")
            doc.pop("engine")
            docs.append(doc)
        assert docs[0] == docs[1], "the profile changed the simulation"
        out.append(result)
    return out


def _same(a: prof.Profile, b: prof.Profile) -> None:
    assert dict(a) == dict(b)
    assert a.per_core == b.per_core
    assert a.stalls == b.stalls
    assert a.sleeps == b.sleeps
    assert a.words == b.words and a.symbols == b.symbols


def _adds_up(p: prof.Profile) -> None:
    """Per pc: cycles = retired executions + the stall cycles charged to it (an instruction that traps,
    or a worker's return to the dispatcher, does not retire)."""
    for pc, (n, cycles) in p.items():
        stalls = sum(p.stalls.get(pc, {}).values())
        assert stalls <= cycles <= n + stalls, hex(pc)


@pytest.mark.parametrize("seed,cores", [(1, 3), (2, 8), (7, 8)])
def test_random_multicore_programs_profile_identically(seed: int, cores: int) -> None:
    py, c = _profiled(generate(seed, blocks=25), cores)
    _same(py.profile, c.profile)
    for r in (py, c):
        p = r.profile
        for core in r.cores[:cores]:
            assert p.core_cycles(core.id) == core.end_cycle == core.hart.instret + sum(core.stalls.values())
            # every issued instruction counted once (a trapping one does not retire)
            assert sum(n for n, _ in p.per_core[core.id].values()) >= core.hart.instret
        _adds_up(p)
        assert p.cycles == sum(core.end_cycle for core in r.cores[:cores])
    assert any(cause == "barrier" for _c, cause, _a, _b in c.profile.sleeps)


def test_what_an_instruction_is_charged() -> None:
    """The operand wait lands on the instruction that waits; a taken branch pays its own cost."""
    cfg = load_config()
    src = """
    .globl _start
_start:
    li s0, 0x10000000
    lw a0, 0(s0)
use:
    addi a0, a0, 1
    beq x0, x0, out
out:
    li a7, 93
    ecall
"""
    py, c = _profiled(src, 1)
    _same(py.profile, c.profile)
    p = c.profile
    use = p.symbols["use"]
    assert p[use] == (1, 1 + cfg.core.load_use_stall)
    assert p.stalls[use] == {"load_use": cfg.core.load_use_stall}
    assert p[use + 4] == (1, cfg.core.branch_taken) and p.where(use + 4) == "use+0x4"
    assert p.text(use + 4).startswith("beq zero,zero,")


def test_forked_workers_and_the_dispatch_return() -> None:
    """Workers sleep at the dispatch-return address (outside the code table) between two forks: the
    C loop hands the instruction after it back to the reference, which closes it."""
    py, c = _profiled(FORK_TWICE, 1, controller=True)
    _same(py.profile, c.profile)
    from mcusim.simulator.memory_map import DISPATCH_RETURN
    p = c.profile
    assert p[DISPATCH_RETURN][0] == 8 and p.where(DISPATCH_RETURN) == "<dispatch return>"
    for core in c.cores[:4]:
        first_start = core.stalls["sleep"] - sum(b - a for k, cause, a, b in p.sleeps if k == core.id and cause == "sleep")
        assert p.core_cycles(core.id) == core.end_cycle - first_start
    _adds_up(p)


def test_small_table_falls_back_to_the_reference(monkeypatch) -> None:
    """pcs beyond the table (MAX_WORDS) are counted in the reference's dict: same profile."""
    monkeypatch.setattr(prof, "MAX_WORDS", 6)
    py, c = _profiled(generate(3, blocks=10), 3)
    _same(py.profile, c.profile)
    assert c.profile.cycles == sum(core.end_cycle for core in c.cores[:3])


def test_kernel_profile_identical_and_reports() -> None:
    _need_c()
    config = load_config()
    x = np.arange(100, dtype=np.float32)
    runs = [harness.run_kernel(add_program(100, "fp32", 8), {"X": x, "Y": x}, 8, config, engine, profile=True)
            for engine in ("py", "c")]
    assert runs[1].result.engine == "c"
    _same(runs[0].profile, runs[1].profile)
    p = runs[1].profile
    assert p.name == "add" and "kernel_end" in p.symbols and "_start" in p.symbols
    assert not any(n.startswith("__region") for n in p.symbols)
    assert np.array_equal(runs[1].outputs["Z"], x + x)
    end = p.symbols["kernel_end"]
    assert p.where(end) == "kernel_end" and p.where(end + 4) == "kernel_end+0x4"
    assert p.text(end) == "lw zero,-2040(zero)  # barrier"
    assert p[end][0] == 8                                   # the final barrier, once per core
    assert all(c == n + sum(p.stalls.get(pc, {}).values()) for pc, (n, c) in p.items())   # all retire
    rows = prof.instruction_rows(p)
    assert rows[0]["cycles"] == max(c for _n, c in p.values())
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)
    assert sum(r["cycles"] for r in prof.label_rows(p)) == p.cycles
    listing = prof.annotate(p)
    assert any(line.strip() == "kernel_end:" for line in listing)
    assert any("# barrier" in line for line in listing)
    region = prof.region_rows(runs[1].result)[0]
    assert region["region"] == "add" and region["cycles"] == runs[1].cycles
    assert region["core_cycles"] == sum(q["cycles"] for q in runs[1].per_core)
    assert set(runs[1].spans) == set(range(8))
    assert all(e - b == q["cycles"] for (b, e), q in zip(runs[1].spans.values(), runs[1].per_core))


def test_cli_train_profile_timeline_plot(tmp_path, capsys) -> None:
    """The kernel-by-kernel step (--dma model); the step program's timeline: tests/test_step_program.py."""
    from mcusim.cli import build_parser
    tl, png = tmp_path / "t.json", tmp_path / "p.png"
    args = build_parser().parse_args(["train", "layer", "--type", "linear", "--cin", "8", "--cout", "4",
                                      "--engine", "c", "--profile", "--top", "5", "--timeline", str(tl),
                                      "--plot", str(png), "--json", "-", "--dma", "model"])
    assert args.func(args) == 0
    cap = capsys.readouterr()
    assert "hottest instructions of the step" in cap.err and "hottest labels" in cap.err
    doc = json.loads(cap.out)
    p = doc["profile"]
    assert len(p["instructions"]) == 5 and p["instructions"][0]["cycles"] >= p["instructions"][-1]["cycles"]
    assert {k["kernel"] for k in p["kernels"]} >= {"linear_fw", "sgd"}
    assert p["cycles"] > doc["compute_cycles"]                # core cycles: 8 cores per kernel cycle
    # the trace: one process per dtype (fp16 was simulated for the plot), tracks per core and the DMA
    trace = json.loads(tl.read_text())
    events = trace["traceEvents"]
    assert trace["otherData"]["freq_mhz"] == 700.0
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e["name"] == "thread_name"}
    for pid in (1, 2):
        assert {names[(pid, 1 + c)] for c in range(8)} == {f"core {c}" for c in range(8)}
        assert names[(pid, 1000)] == "DMA (modelled)"
    spans = [e for e in events if e["ph"] == "X"]
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in spans)
    fw = [e for e in spans if e["pid"] == 1 and e["name"] == "linear_fw"]
    assert sorted(e["tid"] for e in fw) == list(range(1, 9))
    assert all("stalls" in e["args"] for e in fw)
    waits = [e for e in spans if e["pid"] == 1 and e["name"] == "barrier wait"]
    assert waits and all(1 <= e["tid"] <= 8 for e in waits)
    for w in waits:                                           # inside its core's kernel span
        k = next(e for e in spans if e["pid"] == 1 and e["tid"] == w["tid"] and e["cat"] == "kernel"
                 and e["ts"] <= w["ts"] + 1e-6 and w["ts"] + w["dur"] <= e["ts"] + e["dur"] + 1e-6)
        assert k["args"]["stalls"]["barrier"] >= w["args"]["cycles"]
    assert any(e["tid"] == 1000 for e in spans if e["pid"] == 1)
    for tid in (0, *range(1, 9), 1000):                      # no overlapping spans on a track
        track = sorted((e["ts"], e["ts"] + e["dur"]) for e in spans
                       if e["pid"] == 1 and e["tid"] == tid and e["cat"] in ("step", "kernel", "dma"))
        assert all(a[1] <= b[0] + 1e-9 for a, b in itertools.pairwise(track))
    steps = [e for e in spans if e["pid"] == 1 and e["tid"] == 0]
    assert [round(e["dur"] * 700) for e in steps] == [r["cycles"] for r in doc["layers"]]
    assert all(abs(a["ts"] + a["dur"] - b["ts"]) < 1e-5 for a, b in itertools.pairwise(steps))   # back to back
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_plot_needs_both_dtypes(tmp_path) -> None:
    from mcusim.workloads import networks, plot, train
    res = train.simulate_step(networks.single_linear(4, 2), "fp32", verify=False)
    with pytest.raises(ValueError, match="fp32 and an fp16"):
        plot.plot_dtypes(res, res, tmp_path / "x.png")
