"""`mcusim sweep` and the sweep machinery: the same rows locally and on a real Dask cluster, resuming,
spec errors before anything runs, failing points recorded, outputs and plots."""
import csv
import sys
from pathlib import Path

import pytest

from mcusim.cli import main
from mcusim.simulator.config import load_config
from mcusim.workloads import sweep as sw
from mcusim.workloads import sweep_points

SMALL = """
[workload]
kind = "kernel"
name = "matmul"
args = { m = 16, n = 16, k = 16, dtype = "fp16" }
cores = 8
[grid]
"fpu.count" = [2, 4, 8]
"tcdm.banks" = [4, 16]
"args.dtype" = ["fp32", "fp16"]
"""


def spec_file(tmp_path: Path, text: str = SMALL, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def without_wall(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


def test_same_rows_with_one_two_jobs_and_a_dask_cluster(tmp_path, capsys):
    import distributed
    spec = spec_file(tmp_path)
    outs = {}
    for name, extra in (("j1", ["--jobs", "1"]), ("j2", ["--jobs", "2"])):
        outs[name] = tmp_path / f"{name}.csv"
        assert main(["sweep", str(spec), "--csv", str(outs[name]), "-q", *extra]) == 0
    # a real scheduler on localhost over TCP, two workers (threads of this process: fast to start)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        outs["dask"] = tmp_path / "dask.csv"
        assert main(["sweep", str(spec), "--csv", str(outs["dask"]), "-q",
                     "--scheduler", cluster.scheduler_address]) == 0
    rows = {k: read_csv(v) for k, v in outs.items()}
    assert len(rows["j1"]) == 12
    assert without_wall(rows["j1"]) == without_wall(rows["j2"]) == without_wall(rows["dask"])
    # the rows really differ by point: sharing FPUs and halving the data width change the cycles
    cycles = {(r["fpu.count"], r["tcdm.banks"], r["args.dtype"]): int(r["cycles"]) for r in rows["j1"]}
    assert cycles[("2", "16", "fp32")] > cycles[("8", "16", "fp32")] > cycles[("8", "16", "fp16")]
    assert all(r["error"] == "" and float(r["mac_per_clk"]) > 0 for r in rows["j1"])
    assert int(rows["j1"][0]["stall_fpu_contention"]) > 0          # 2 FPUs for 8 workers contend
    # the row is the kernel's own report: same cycles as `mcusim kernel`
    from mcusim.kernels_asm.kernels import registry
    from mcusim.simulator.config import load_config
    cfg = load_config(overrides={"fpu": {"count": 4}, "tcdm": {"banks": 4}})
    ref = registry.run(registry.get("matmul"), {"m": 16, "n": 16, "k": 16}, "fp32", None, 8, cfg, 0, "c")
    assert cycles[("4", "4", "fp32")] == ref.run.cycles


def test_parquet_output_matches_csv_and_resume_skips_done_points(tmp_path):
    import pyarrow.parquet as pq
    spec = sw.load_spec(spec_file(tmp_path), grid={"fpu.count": [2, 4], "tcdm.banks": [16]})
    out, csv_path = str(tmp_path / "r.parquet"), str(tmp_path / "r.csv")
    first = sw.run_sweep(spec, out=out, csv_path=csv_path)
    assert (first.ran, first.skipped) == (4, 0)
    table = pq.read_table(out).to_pylist()
    assert [r["cycles"] for r in table] == [int(r["cycles"]) for r in read_csv(Path(csv_path))]
    assert table[0]["fpu.count"] == 2 and table[0]["args.dtype"] == "fp32" and table[0]["error"] == ""
    # mark one stored row: a resumed sweep must keep it as it is, not simulate the point again
    import pyarrow as pa
    rows = pq.read_table(out).to_pylist()
    rows[1]["cycles"] = 123
    pq.write_table(pa.Table.from_pylist(rows), out)
    bigger = sw.load_spec(spec_file(tmp_path), grid={"fpu.count": [2, 4, 8], "tcdm.banks": [16]})
    ran: list = []
    again = sw.run_sweep(bigger, out=out, csv_path=csv_path, on_row=ran.append)
    assert (again.ran, again.skipped) == (2, 4)
    assert sorted((r["fpu.count"], r["args.dtype"]) for r in ran) == [(8, "fp16"), (8, "fp32")]
    assert again.rows[1]["cycles"] == 123 and len(again.rows) == 6
    assert [r["fpu.count"] for r in pq.read_table(out).to_pylist()] == [2, 2, 4, 4, 8, 8]


def test_resume_from_csv_and_retry_failed(tmp_path):
    text = SMALL.replace('"fpu.count" = [2, 4, 8]', '"max_cycles" = [50, 100000000]') \
                .replace('"tcdm.banks" = [4, 16]\n', "").replace('"args.dtype" = ["fp32", "fp16"]\n', "")
    spec = sw.load_spec(spec_file(tmp_path, text))
    csv_path = str(tmp_path / "r.csv")
    first = sw.run_sweep(spec, csv_path=csv_path)
    assert first.ran == 2 and len(first.failed) == 1
    assert sw.run_sweep(spec, csv_path=csv_path).ran == 0                 # failed points are results too
    retry = sw.run_sweep(spec, csv_path=csv_path, retry_failed=True)
    assert retry.ran == 1 and retry.rows[0]["max_cycles"] == 50 and retry.rows[0]["error"]


def test_failing_points_are_recorded_and_the_sweep_finishes(tmp_path, capsys):
    text = """
[workload]
kind = "train"
name = "layer.json"
[grid]
"tcdm.size_kib" = [4, 256]
"""
    from mcusim.workloads import networks
    (tmp_path / "layer.json").write_text(networks.to_json(networks.single_conv2d(4, 6, 6, 4, 3, 1, 1)))
    spec = spec_file(tmp_path, text)
    out = tmp_path / "r.csv"
    assert main(["sweep", str(spec), "--csv", str(out)]) == 1
    rows = read_csv(out)
    assert [r["tcdm.size_kib"] for r in rows] == ["4", "256"]
    assert "TCDM" in rows[0]["error"] and "conv2d" in rows[0]["error"] and rows[0]["cycles"] == ""
    assert rows[1]["error"] == "" and int(rows[1]["cycles"]) > 0
    err = capsys.readouterr().err
    assert "1 failed" in err and "Traceback" not in err


def test_failing_program_in_a_run_sweep(tmp_path):
    prog = tmp_path / "p.s"
    prog.write_text(".globl _start\n_start:\n  li a0, 3\n  li a7, 93\n  ecall\n")
    hang = tmp_path / "h.s"
    hang.write_text(".globl _start\n_start:\n  j _start\n")
    for name, expect in (("p.s", "exit code 3"), ("h.s", "hang")):
        spec = sw.load_spec({"workload": {"kind": "run", "name": str(tmp_path / name), "args": {"macs": 6}},
                             "grid": {"cores": [1, 2]}})
        res = sw.run_sweep(spec)
        assert len(res.rows) == 2 and all(expect in r["error"] for r in res.rows), res.rows
    ok = sw.sweep({"workload": {"kind": "run", "name": str(prog), "args": {"macs": 6}}, "grid": {"cores": [1]}})
    cycles = 3 + load_config().icache.refill_latency     # 3 instructions + their line's refill from L2
    assert ok.rows[0]["cycles"] == cycles and ok.rows[0]["mac_per_clk"] == pytest.approx(6 / cycles, abs=1e-6) and ok.rows[0]["instret"] == 3


@pytest.mark.parametrize("grid, expect", [
    ('"fpu.cont" = [2]', "'fpu.cont': not a cluster parameter"),
    ('"fpu.count" = [2, 9]', "fpu.count: 9 is out of range [1, 8]"),
    ('"tcdm.banks" = [12]', "tcdm.banks: 12 is not a power of two"),
    ('"args.dtype" = ["fp8"]', "args.dtype: 'fp8' is not one of fp32, fp16"),
    ('"args.variant" = ["simd_9x9"]', "has no variant 'simd_9x9'"),
    ('"args.mm" = [4]', "has no option 'mm'"),
    ('"args.m" = [0]', "args.m: expected an integer >= 1, got 0"),
    ('"cores" = [9]', "cores 9 must be 1..8"),
    ('"workers" = [4]', "cores 8 must be 1..4"),
    ('"fpu.count" = []', "expected a non-empty list"),
    ('"fpu.count" = 4', "expected a non-empty list"),
    ('"core.misaligned" = ["sometimes"]', "'sometimes' is not one of"),
])
def test_bad_grid_is_one_line_naming_it_before_anything_runs(tmp_path, capsys, monkeypatch, grid, expect):
    ran = []
    monkeypatch.setattr(sweep_points, "evaluate", lambda task: ran.append(task))
    text = SMALL.split("[grid]")[0] + "[grid]\n" + grid + "\n"
    out = tmp_path / "r.csv"
    assert main(["sweep", str(spec_file(tmp_path, text)), "--csv", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mcusim: error: ") and expect in err, err
    assert not ran and not out.exists()


@pytest.mark.parametrize("text, expect", [
    ("[workload]\nkind = 'kernel'\nname = 'matmull'\n", "unknown kernel 'matmull'"),
    ("[workload]\nkind = 'sim'\nname = 'x'\n", "kind = 'sim'"),
    ("[workload]\nkind = 'run'\nname = 'nothere.s'\n", "no such file"),
    ("[workload]\nkind = 'train'\nname = 'resnet9'\n", "resnet9"),
    ("[workload]\nkind = 'kernel'\nname = 'matmul'\n[grids]\n", "unknown table [grids]"),
    ("[workload]\nkind = 'kernel'\nname = 'matmul'\n[cost]\n'fpu.cont' = 1\n", "[cost] 'fpu.cont'"),
    ("[workload]\nkind = 'kernel'\nname = 'matmul'\nargs = { dtype = 3 }\n", "args.dtype: 3 is not one of"),
    ("[workload\n", "invalid TOML"),
])
def test_bad_spec_is_one_line(tmp_path, capsys, text, expect):
    assert main(["sweep", str(spec_file(tmp_path, text))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expect in err, err


def test_parquet_without_pyarrow_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    assert main(["sweep", str(spec_file(tmp_path)), "--out", str(tmp_path / "r.parquet")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs pyarrow" in err and "mcusim[distributed]" in err


def test_output_of_another_sweep_is_refused(tmp_path, capsys):
    other = tmp_path / "o.csv"
    other.write_text("a,b\n1,2\n")
    assert main(["sweep", str(spec_file(tmp_path)), "--csv", str(other)]) == 2
    assert "not an output of this sweep" in capsys.readouterr().err


def test_plots_lines_heatmap_and_pareto(tmp_path, capsys):
    text = SMALL.replace('"args.dtype" = ["fp32", "fp16"]\n', "") + \
        '[cost]\nbase = 1.0\n"fpu.count" = 1.0\n"tcdm.banks" = 0.25\n'
    spec = spec_file(tmp_path, text)
    png = tmp_path / "h.png"
    assert main(["sweep", str(spec), "--plot", str(png), "-q"]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert png.read_bytes()[:4] == b"\x89PNG" and len(rows) == 6
    costs = {(r["fpu.count"], r["tcdm.banks"]): float(r["cost"]) for r in rows}
    assert costs[("2", "4")] == 1 + 2 + 1 and costs[("8", "16")] == 1 + 8 + 4
    res = sw.SweepResult(sw.load_spec(spec), [{**r, "cost": float(r["cost"]), "cycles": int(r["cycles"])}
                                              for r in rows])
    front = res.pareto()
    assert front[0]["cost"] == min(costs.values())
    assert all(a["cycles"] > b["cycles"] and a["cost"] < b["cost"] for a, b in zip(front, front[1:]))
    for r in res.rows:      # nothing off the front is both cheaper and faster than a front point
        assert not any(r["cost"] <= f["cost"] and r["cycles"] < f["cycles"] for f in front if r is not f)
    lines = tmp_path / "l.png"
    assert main(["sweep", str(spec_file(tmp_path, SMALL, "l.toml")), "--plot", str(lines), "-q"]) == 0
    assert lines.read_bytes()[:4] == b"\x89PNG"
