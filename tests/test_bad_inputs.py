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


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    folder = tmp_path / "w"
    shutil.copytree(HERE / "files", folder)
    make_elves(folder)
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
def test_bad_input(case: Case, workdir: Path, monkeypatch) -> None:
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
