"""The bad-input corpus (tests/bad_inputs/cases.txt): every case ends with its documented exit status
and a clear message, never a traceback, an internal error or a hang.

Each case runs in a fresh folder holding tests/bad_inputs/files/ and the ELF variants made by
`make_elves` (truncated, 64-bit, another machine, ...). Most run in-process through mcusim.cli.main
(fast; an alarm turns a hang into a failure); `sh:` cases run in a shell with a timeout (pipes, stdout
checks). Classes (column 2) and what each asserts besides the exit status of column 3:
  usage     argparse refused the command line: `error:` and the fragment on stderr
  input     bad input (exit 2): one `mcusim: error:` line holding the fragment
  program   the simulated program failed (exit 3): one error line holding the fragment
  limit     --max-cycles reached (exit 4): one error line holding the fragment
  exit      the program exited non-zero or a result was wrong (exit 1): the fragment on stderr
  ok        success (exit 0): the fragment (a warning, a note, output) on stdout or stderr
"""
from __future__ import annotations

import contextlib
import io
import os
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent / "bad_inputs"
ROOT = HERE.parent.parent
TIMEOUT = 60          # seconds per case: far above any case's run time; reaching it is a hang
CLASSES = {"usage": 2, "input": 2, "program": 3, "limit": 4, "exit": 1, "ok": 0}


@dataclass(frozen=True)
class Case:
    name: str
    cls: str
    status: int
    command: str
    fragment: str
    line: int


def load_cases() -> list[Case]:
    cases = []
    for number, raw in enumerate((HERE / "cases.txt").read_text().splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in raw.split(" :: ")]
        assert len(parts) == 5, f"cases.txt:{number}: expected 5 columns separated by ' :: '"
        name, cls, status, command, fragment = parts
        assert cls in CLASSES, f"cases.txt:{number}: unknown class {cls!r}"
        cases.append(Case(name, cls, int(status), command, fragment, number))
    return cases


CASES = load_cases()


def subcommand(case: Case) -> str:
    words = case.command.removeprefix("sh:").split()
    if case.command.startswith("sh:"):
        words = words[words.index("mcusim") + 1:] if "mcusim" in words else []
    return words[0] if words else ""


def test_corpus_is_wide_and_consistent():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    assert len(CASES) >= 150
    assert {"asm", "disasm", "run", "kernel", "train", "reproduce"} <= {subcommand(c) for c in CASES}
    for c in CASES:
        if c.cls != "exit":         # exit: 1, or the program's own code with --exit-code program
            assert c.status == CLASSES[c.cls], f"cases.txt:{c.line}: class {c.cls} means status {CLASSES[c.cls]}"


def make_elves(folder: Path) -> None:
    """ELF files that are wrong in one way each, made from a good one (files/ok.s)."""
    from mcusim.kernels_asm import assemble, to_elf
    good = bytearray(to_elf(assemble((folder / "ok.s").read_text(), "ok.s")))
    (folder / "ok.elf").write_bytes(good)

    def variant(name: str, offset: int, value: bytes) -> None:
        data = bytearray(good)
        data[offset:offset + len(value)] = value
        (folder / name).write_bytes(data)
    (folder / "truncated.elf").write_bytes(good[:30])
    (folder / "header_only.elf").write_bytes(good[:52])
    (folder / "magic_only.elf").write_bytes(b"\x7fELF")
    (folder / "garbage_after_magic.elf").write_bytes(b"\x7fELF" + bytes(range(256)) * 4)
    variant("elf64.elf", 4, b"\x02")
    variant("bigendian.elf", 5, b"\x02")
    variant("x86.elf", 18, (3).to_bytes(2, "little"))
    variant("relocatable.elf", 16, (1).to_bytes(2, "little"))
    variant("bad_phoff.elf", 28, (0xFFFFFF00).to_bytes(4, "little"))
    variant("bad_shoff.elf", 32, (0xFFFFFF00).to_bytes(4, "little"))
    variant("entry_outside.elf", 24, (0x40000000).to_bytes(4, "little"))
    (folder / "ok.bin").write_bytes(good[52:64])
    (folder / "odd.bin").write_bytes(b"\x13\x00\x00")
    (folder / "empty.bin").write_bytes(b"")
    (folder / "big.bin").write_bytes(bytes(256 * 1024))      # a long listing, for a reader that stops early
    (folder / "adir.s").mkdir()
    (folder / "adir.json").mkdir()
    (folder / "adir.elf").mkdir()
    (folder / "outdir").mkdir()


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """files/ plus the ELF variants, made once per test process."""
    folder = tmp_path_factory.mktemp("bad_inputs") / "template"
    shutil.copytree(HERE / "files", folder)
    make_elves(folder)
    return folder


@pytest.fixture
def workdir(template: Path, tmp_path: Path) -> Path:
    """A fresh copy for each case (cases write outputs; parallel runs must not share them)."""
    folder = tmp_path / "w"
    shutil.copytree(template, folder)
    return folder


class _Hang(Exception):
    pass


def _run_in_process(argv: list[str]) -> tuple[int, str, str]:
    from mcusim.cli import main
    out, err = io.StringIO(), io.StringIO()
    out.buffer = io.BytesIO()            # the simulated program's console writes bytes
    err.buffer = io.BytesIO()

    def alarm(*_):
        raise _Hang()
    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(TIMEOUT)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(argv)
            except SystemExit as exc:       # argparse (usage errors, --help, --version)
                status = exc.code if isinstance(exc.code, int) else 2
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return status, out.getvalue() + out.buffer.getvalue().decode(errors="replace"), \
        err.getvalue() + err.buffer.getvalue().decode(errors="replace")


def _run_shell(command: str, folder: Path) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "80"}
    line = command.replace("mcusim ", f"{shlex.quote(sys.executable)} -m mcusim ")
    done = subprocess.run(["bash", "-o", "pipefail", "-c", line], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, template: Path, monkeypatch) -> None:
    """Cases run in the process's template folder (tests of one process run one at a time; a case's
    outputs have names no input uses)."""
    workdir = template
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("COLUMNS", "80")
    where = f"cases.txt:{case.line} ({case.command})"
    if case.command.startswith("sh:"):
        status, out, err = _run_shell(case.command[3:].strip(), workdir)
    else:
        try:
            status, out, err = _run_in_process(shlex.split(case.command))
        except _Hang:
            pytest.fail(f"{where}: no result within {TIMEOUT} s (a hang)")
    text = out + err
    assert "Traceback" not in text, f"{where}: a traceback:\n{text[-3000:]}"
    assert "internal error" not in text, f"{where}: an internal error:\n{err[-2000:]}"
    assert status == case.status, f"{where}: exit status {status}, expected {case.status}\n{err[-2000:]}"
    if case.cls in ("input", "program", "limit"):
        lines = [ln for ln in err.splitlines() if ln.startswith("mcusim: error:")]
        assert len(lines) == 1, f"{where}: expected one error line, got:\n{err[-2000:]}"
        assert case.fragment in lines[0], f"{where}: {case.fragment!r} not in {lines[0]!r}"
    elif case.cls == "usage":
        assert "error:" in err and case.fragment in err, f"{where}: {case.fragment!r} not in:\n{err[-2000:]}"
    else:
        assert case.fragment in text, f"{where}: {case.fragment!r} not in the output:\n{text[-3000:]}"


# --- a report for every outcome, stdout kept clean (in-process: fast) ---------------------------------
@pytest.mark.parametrize("program, extra, status, reason, error", [
    ("trap_illegal.s", [], 3, "trap", "core 0: illegal instruction at pc 0x1c000000"),
    ("loop.s", ["--max-cycles", "500"], 4, "max-cycles", "did not finish within 500 cycles"),
    # 6 cycles of instructions + 2 x 18: its two 16 B code lines refilled from L2 (icache defaults)
    ("deadlock_barrier.s", ["--cores", "2"], 3, "deadlock", "deadlock at cycle 42"),
    ("hang.s", [], 3, "hang", "jump-to-self"),
    ("fork_no_join.s", ["--controller"], 3, "program", "fork without join"),
])
@pytest.mark.parametrize("engine", ["c", "py"])
def test_run_writes_its_report_on_every_error(workdir, monkeypatch, program, extra, status, reason, error, engine):
    import json
    monkeypatch.chdir(workdir)
    code, _, err = _run_in_process(["run", program, *extra, "--json", "r.json", "-q", "--engine", engine])
    doc = json.loads((workdir / "r.json").read_text())
    assert code == status and error in err
    assert doc["schema"] == "mcusim-run/1" and doc["exit_code"] is None and doc["exit_reason"] == reason
    assert error in doc["error"] and doc["cycles"] > 0 and doc["cores"]


def test_bad_input_writes_an_error_report(workdir, monkeypatch):
    import json
    monkeypatch.chdir(workdir)
    code, _, _ = _run_in_process(["run", "unknown_insn.s", "--json", "r.json"])
    doc = json.loads((workdir / "r.json").read_text())
    assert code == 2 and doc["schema"] == "mcusim-error/1" and doc["exit_status"] == 2
    assert doc["exit_reason"] == "bad-input" and "unknown instruction 'addd'" in doc["error"]
    code, _, _ = _run_in_process(["kernel", "matmul", "--m", "0", "--json", "k.json"])
    assert code == 2 and json.loads((workdir / "k.json").read_text())["exit_reason"] == "bad-input"


def test_signature_is_written_when_the_program_traps(workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    code, _, err = _run_in_process(["run", "signature.s", "--signature", "sig.txt", "-q"])
    assert code == 3 and "load access fault" in err
    assert (workdir / "sig.txt").read_text().splitlines() == ["12345678", "00000000"]


def test_report_on_stdout_keeps_the_console_off_it(workdir, monkeypatch):
    import json
    monkeypatch.chdir(workdir)
    code, out, err = _run_in_process(["run", "print.s", "--json", "-", "-q"])
    assert code == 0 and json.loads(out)["exit_code"] == 0 and "hello from the program" in err
    code, out, err = _run_in_process(["run", "print.s", "--console", "con.txt", "-q"])
    assert code == 0 and "hello" not in out + err
    assert (workdir / "con.txt").read_text() == "hello from the program\n"
    code, out, _ = _run_in_process(["run", "print.s", "-q"])       # no report on stdout: the console is
    assert code == 0 and out == "hello from the program\n"        # stdout, as a program expects


def test_outputs_are_replaced_atomically(workdir, monkeypatch):
    """A failed run leaves an earlier report whole (never half-written) and no temporary files."""
    monkeypatch.chdir(workdir)
    (workdir / "r.json").write_text("old")
    code, _, _ = _run_in_process(["run", "ok.s", "--json", "r.json", "-q"])
    assert code == 0 and (workdir / "r.json").read_text().startswith("{")
    assert not [p for p in workdir.iterdir() if p.name.startswith(".r.json")]
