"""Table headers are never cut off (rich's "…") on an 80-column terminal: run, kernel and train
(they wrap at spaces and underscores, and fold when a table is wider than the terminal)."""
from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from mcusim.cli import main

EXAMPLE = Path(__file__).resolve().parent.parent / "kernels_asm" / "examples" / "dot_fp16.s"


def test_run_and_kernel_tables_at_80_columns(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("COLUMNS", "80")
    ideal = tmp_path / "ideal.toml"
    ideal.write_text('[icache]\nmodel = "ideal"\n')
    # ideal fetch (no imiss column): every header fits whole
    assert main(["run", str(EXAMPLE), "--cores", "8", "--engine", "py", "--config", str(ideal)]) == 0
    err = capsys.readouterr().err
    assert "…" not in err and "contention" in err and "load use" in err
    # the default fetch model adds the imiss column: headers fold where they must, never cut
    assert main(["run", str(EXAMPLE), "--cores", "8", "--engine", "py"]) == 0
    err = capsys.readouterr().err
    assert "…" not in err and "imiss" in err and "instruction fetch: modelled" in err
    for config, whole in ((["--config", str(ideal)], "contention"), ([], "imiss")):
        assert main(["kernel", "matmul", "--m", "8", "--n", "8", "--k", "8", "--engine", "py", *config]) == 0
        err = capsys.readouterr().err
        assert "…" not in err and whole in err


def test_train_tables_at_80_columns():
    from mcusim.workloads import model, networks, report, train
    res = train.simulate_step(model.build(networks.single_linear(8, 4)), "fp32", engine="c", cores=8)
    buf = io.StringIO()
    report.print_report(res, 700.0, Console(file=buf, width=80, force_terminal=False))
    text = buf.getvalue()
    assert "…" not in text                       # eleven columns fold at 80 columns, nothing is cut
    assert "per phase" in text and "weight gradient" in text
