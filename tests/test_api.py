"""The Python API (`import mcusim`): lazy import, Config, and results with the JSON reports' fields."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

import mcusim
from mcusim.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_import_mcusim_loads_nothing_heavy():
    code = ("import sys, mcusim; heavy = [m for m in ('numpy', 'mcusim.simulator', 'mcusim.workloads', 'simpy') "
            "if m in sys.modules]; print(heavy); print(callable(mcusim.run), sorted(m for m in ('numpy',) "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60).stdout
    assert out.splitlines() == ["[]", "True []"]


def test_config_by_name_and_keyword_and_errors():
    cfg = mcusim.Config({"fpu.count": 2}, tcdm_banks=8, event_unit_barrier_wakeup=3)
    assert (cfg.fpu.count, cfg.tcdm.banks, cfg.event_unit.barrier_wakeup, cfg.tcdm.size_kib) == (2, 8, 3, 256)
    assert mcusim.Config(preset="pulp-open").tcdm.size_kib == 64
    with pytest.raises(ValueError, match="unknown parameter 'fpu_cont'"):
        mcusim.Config(fpu_cont=2)
    with pytest.raises(ValueError, match="fpu.count: 9 is out of range"):
        mcusim.Config(fpu_count=9)
    with pytest.raises(ValueError, match="unknown parameter 'tcdm.bank'"):
        mcusim.Config({"tcdm.bank": 8})


def test_kernel_report_has_the_fields_of_mcusim_kernel_json(capsys):
    r = mcusim.kernel("matmul", m=16, n=16, k=16, dtype="fp16", cores=4, config={"fpu.count": 2})
    assert main(["kernel", "matmul", "--m", "16", "--n", "16", "--k", "16", "--dtype", "fp16", "--cores", "4",
                 "--json", "-", "-q"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(r) == set(doc) and r.schema == "mcusim-kernel/1" and r.correct
    assert r.config["fpu"]["count"] == 2 and r.cycles > doc["cycles"]      # 2 FPUs for 4 cores: slower
    default = mcusim.kernel("matmul", m=16, n=16, k=16, dtype="fp16", cores=4)
    assert {k: v for k, v in default.items() if k != "engine"} == {k: v for k, v in doc.items() if k != "engine"}
    with pytest.raises(ValueError, match="unknown kernel 'matmull'"):
        mcusim.kernel("matmull")
    with pytest.raises(AttributeError, match="has no field 'cyclez'"):
        r.cyclez


def test_run_report_from_source_and_file(tmp_path, capsys):
    src = ".globl _start\n_start:\n  li a0, 5\n  li a7, 93\n  ecall\n"
    r = mcusim.run(src, cores=2)
    # 3 instructions in one 16 B line, which comes from L2 once (the default fetch model)
    refill = mcusim.Config().icache.refill_latency
    assert r.schema == "mcusim-run/1" and r.exit_code == 5 and r.cycles == 3 + refill and len(r.cores) == 2
    assert r.cores[0]["stalls"]["imiss"] == refill and "instruction fetch: modelled" in r.fetch
    assert mcusim.run(src, cores=2, config={"icache.model": "ideal"}).cycles == 3
    path = tmp_path / "p.s"
    path.write_text(src)
    assert main(["run", str(path), "--json", "-", "-q", "--exit-code", "program"]) == 5
    doc = json.loads(capsys.readouterr().out)
    assert set(mcusim.run(path)) == set(doc) and mcusim.run(path).cycles == doc["cycles"]


def test_train_report_and_sweep(tmp_path):
    from mcusim.workloads import networks
    desc = networks.single_linear(16, 4)
    t = mcusim.train(desc, "fp32")
    assert t.schema == "mcusim-train/1" and t.numerics["ok"] and t.cycles == sum(x["cycles"] for x in t.layers)
    s = mcusim.sweep({"workload": {"kind": "train", "name": str(tmp_path / "n.json")}, "grid": {"fpu.count": [1, 8]}}
                     if (tmp_path / "n.json").write_text(networks.to_json(desc)) else None)
    assert [r["fpu.count"] for r in s.rows] == [1, 8] and s.rows[1]["cycles"] == t.cycles
    assert s.rows[0]["cycles"] > s.rows[1]["cycles"] and not s.failed
