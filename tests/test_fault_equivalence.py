"""Both engines report every runtime fault identically: the same exit status, the same one-line
message (core, pc, instruction, cycle) and the same JSON report (cycles, per-core counters), also
with progress reporting on (its ticks split the run into more quanta and must change nothing).

The fault programs are the corpus's (tests/bad_inputs/files); each runs on 1 and on 4 cores where
the program's meaning allows."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.test_bad_inputs import HERE, _run_in_process

FAULTS = [
    # program, options, exit status, message fragment
    ("trap_illegal.s", [], 3, "illegal instruction"),
    ("trap_misaligned_load.s", ["--misaligned", "trap"], 3, "misaligned load"),
    ("trap_misaligned_store.s", ["--misaligned", "trap"], 3, "misaligned store"),
    ("trap_load_fault.s", [], 3, "load access fault"),
    ("trap_store_fault.s", [], 3, "store access fault"),
    ("trap_fetch_fault.s", [], 3, "instruction access fault"),
    ("trap_ebreak.s", [], 3, "breakpoint"),
    ("trap_ecall.s", [], 3, "unknown system call a7 = 1234"),
    ("trap_ecall_fd.s", [], 3, "a7 = 64, a0 = 7"),
    ("trap_write_bad_buffer.s", [], 3, "load access fault"),
    ("trap_run_off_end.s", [], 3, "pc 0x1c000004"),
    ("trap_csr.s", [], 3, "illegal instruction"),
    ("stack_overflow.s", [], 3, "store access fault"),
    ("vfcpkb.s", [], 3, "FLEN >= 64"),
    ("hwloop_nested_same.s", [], 3, "inside loop 0's own body"),
    ("hang.s", [], 3, "jump-to-self"),
    ("loop.s", ["--max-cycles", "3000"], 4, "did not finish within 3000 cycles"),
    ("livelock.s", ["--max-cycles", "5000"], 4, "did not finish within 5000 cycles"),
    ("deadlock_barrier.s", [], 3, "deadlock at cycle"),
    ("deadlock_event.s", [], 3, "deadlock at cycle"),
    ("deadlock_mutex.s", [], 3, "deadlock at cycle"),
    ("mutex_not_held.s", [], 3, "released a mutex it does not hold"),
    ("join_spmd.s", [], 3, "join in SPMD mode"),
    ("region_unbalanced.s", [], 3, "without region_begin"),
    ("dma_bad.s", [], 3, "DMA"),
    ("periph_unknown.s", [], 3, "unknown event-unit register"),
    ("fork_no_join.s", ["--controller"], 3, "fork without join"),
    ("fork_busy.s", ["--controller"], 3, "still busy"),
]
TWO_OR_MORE = {"deadlock_barrier.s"}       # core 0 waits at a barrier the others skip


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("faults") / "files"
    shutil.copytree(HERE / "files", target)
    return target


def _run(folder: Path, program: str, options: list[str], engine: str, extra: list[str]) -> tuple[int, str, dict]:
    out = f"{program}.{engine}.{'-'.join(extra) or 'plain'}.json"
    status, _, err = _run_in_process(["run", program, *options, "--engine", engine, "--json", out, "-q", *extra])
    errors = [line for line in err.splitlines() if line.startswith("mcusim: error:")]
    assert len(errors) == 1, err
    doc = json.loads((folder / out).read_text())
    doc.pop("engine")
    return status, errors[0], doc


@pytest.mark.parametrize("cores", [1, 4])
@pytest.mark.parametrize("program, options, status, fragment", FAULTS, ids=[f[0] for f in FAULTS])
def test_engines_agree_on_every_fault(folder, monkeypatch, program, options, status, fragment, cores):
    if program in TWO_OR_MORE:
        cores = cores + 1
    monkeypatch.chdir(folder)
    opts = [*options] if "--controller" in options else [*options, "--cores", str(cores)]
    ref = _run(folder, program, opts, "py", [])
    assert ref[0] == status and fragment in ref[1], ref[1]
    assert ref[2]["exit_code"] is None and ref[2]["error"] in ref[1]
    for engine, extra in (("c", []), ("c", ["--progress"]), ("py", ["--progress"])):
        got = _run(folder, program, opts, engine, extra)
        assert got[0] == ref[0], f"{engine} {extra}: status"
        assert got[1] == ref[1], f"{engine} {extra}: message"
        assert got[2] == ref[2], f"{engine} {extra}: report"
