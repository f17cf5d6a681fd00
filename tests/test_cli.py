"""The command-line contract: asm/disasm/run, exit codes, signatures, JSON, trace, and one-line
errors (never a traceback) for every kind of bad input."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcusim.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "kernels_asm" / "examples" / "dot_fp16.s"


def mcusim(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}       # this checkout, whatever the cwd
    return subprocess.run([sys.executable, "-m", "mcusim", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120, env=env)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


EXIT_42 = """
    .globl _start
_start:
    li a0, 42
    li a7, 93
    ecall
"""


def test_run_exit_code_and_json(tmp_path, capsys):
    prog = write(tmp_path, "p.s", EXIT_42)
    assert main(["run", str(prog), "--json", "-", "-q", "--exit-code", "program"]) == 42
    doc = json.loads(capsys.readouterr().out)
    # 3 instructions in one 16 B line, which comes from L2 once (the default fetch model)
    refill = doc["config"]["icache"]["refill_latency"]
    assert doc["exit_code"] == 42 and doc["cycles"] == 3 + refill and doc["instret"] == 3
    assert doc["cores"][0]["stalls"]["imiss"] == refill and doc["fetch"].startswith("instruction fetch: modelled")
    assert doc["cores"][0]["id"] == 0 and set(doc["cores"][0]["stalls"]) >= {"load_use", "tcdm_contention"}
    assert doc["config"]["tcdm"]["size_kib"] == 256 and doc["regions"] == []


def test_asm_elf_and_bin_and_disasm(tmp_path, capsys):
    prog = write(tmp_path, "p.s", EXIT_42)
    elf, raw = tmp_path / "p.elf", tmp_path / "p.bin"
    assert main(["asm", str(prog), "-o", str(elf)]) == 0
    assert main(["asm", str(prog), "-o", str(raw)]) == 0
    assert elf.read_bytes()[:4] == b"\x7fELF"
    assert len(raw.read_bytes()) == 12                                        # .text only: 3 instructions
    assert int.from_bytes(raw.read_bytes()[:4], "little") == 0x02A00513      # li a0, 42 = addi a0, x0, 42
    assert main(["run", str(elf), "-q"]) == 1           # --exit-code status (default): non-zero exit is 1
    assert "the program exited with code 42" in capsys.readouterr().err
    assert main(["disasm", str(elf)]) == 0
    out = capsys.readouterr().out
    assert "<_start>:" in out and "1c000000:\t02a00513" in out and "li\ta0,42" not in out and "addi\ta0,zero,42" in out
    assert main(["disasm", str(raw), "--base", "0x100"]) == 0
    assert "     108:\t00000073          \tecall" in capsys.readouterr().out


def test_disasm_shows_unknown_encodings(tmp_path, capsys):
    raw = tmp_path / "x.bin"
    # an unknown word, c.nop (4 hex digits, as objdump shows 16-bit parcels), the illegal parcel 0,
    # then a word start cut off by the end of the file
    raw.write_bytes(bytes.fromhex("ffffffff") + bytes.fromhex("0100") + bytes.fromhex("0000") + bytes.fromhex("1300"))
    assert main(["disasm", str(raw)]) == 0
    out = capsys.readouterr().out
    assert ".word\t0xffffffff\t# unknown" in out and "       4:\t0001              \tc.nop\n" in out
    assert ".half\t0x0000\t# unknown" in out and ".half\t0x0013\t# unknown" in out


def test_signature(tmp_path):
    prog = write(tmp_path, "sig.s", """
    .globl _start
_start:
    la t0, begin_signature
    li t1, 0xdeadbeef
    sw t1, 4(t0)
    li a7, 93
    li a0, 0
    ecall
    .data
    .align 4
    .globl begin_signature, end_signature
begin_signature: .word 1, 0, 3
end_signature:
""")
    sig = tmp_path / "out.sig"
    assert main(["run", str(prog), "--signature", str(sig), "-q"]) == 0
    assert sig.read_text() == "00000001\ndeadbeef\n00000003\n"


def test_tohost_convention(tmp_path):
    prog = write(tmp_path, "t.s", """
    .globl _start
_start:
    la t0, tohost
    li t1, (3 << 1) | 1
    sw t1, 0(t0)
1:  j 1b
    .data
    .align 3
    .globl tohost
tohost: .word 0, 0
""")
    assert main(["run", str(prog), "-q", "--exit-code", "program"]) == 3
    assert main(["run", str(prog), "-q"]) == 1


def test_example_runs_on_eight_cores():
    result = mcusim("run", str(EXAMPLE), "--cores", "8", "--json", "-", "-q")
    assert result.returncode == 0, result.stderr
    assert "= 512.0 (correct)" in result.stderr          # the console goes to stderr: stdout is the JSON
    doc = json.loads(result.stdout)
    assert len(doc["cores"]) == 8 and doc["regions"][0]["name"] == "dot"


def test_trace_filters_by_core_and_cycle(tmp_path):
    trace = tmp_path / "t.txt"
    assert main(["run", str(EXAMPLE), "--cores", "8", "-q", "--trace", str(trace),
                 "--trace-cores", "3", "--trace-cycles", "10:40"]) == 0
    lines = trace.read_text().splitlines()
    assert lines and all(" c3 " in line for line in lines)
    cycles = [int(line.split()[0]) for line in lines]
    assert min(cycles) >= 10 and max(cycles) < 40
    assert any("x" in line.split(None, 4)[-1] for line in lines)   # registers written are shown


BAD_SOURCES = {
    "malformed": ("_start: addi a0, , 1\n", "p.s:1:"),
    "unknown mnemonic": (".globl _start\n_start:\n  addd a0, a0, a1\n", "p.s:3:3: error: unknown instruction 'addd'"),
    "out of range": (".globl _start\n_start:\n  addi a0, a0, 5000\n", "out of range"),
    "undefined label": (".globl _start\n_start:\n  j nowhere\n", "nowhere"),
}


@pytest.mark.parametrize("case", sorted(BAD_SOURCES))
def test_bad_source_gives_one_line_error(tmp_path, case):
    text, expected = BAD_SOURCES[case]
    write(tmp_path, "p.s", text)
    for args in (["asm", "p.s", "-o", "p.elf"], ["run", "p.s"]):
        result = mcusim(*args, cwd=tmp_path)
        assert result.returncode == 2
        assert expected in result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


RUNTIME_ERRORS = {
    "illegal instruction": (".globl _start\n_start:\n  .word 0xffffffff\n", [], 3,
                            "core 0: illegal instruction at pc 0x1c000000"),
    "misaligned access": (".globl _start\n_start:\n  li t0, 0x10000001\n  lw a0, 0(t0)\n", ["--misaligned", "trap"], 3,
                          "misaligned load at pc 0x1c000008: lw a0,0(t0) (address 0x10000001)"),
    "max cycles": (".globl _start\n_start:\n1: addi a0, a0, 1\n  j 1b\n", ["--max-cycles", "1000"], 4,
                   "did not finish within 1000 cycles"),
    "deadlock": (".globl _start\n_start:\n  core_id t0\n  bnez t0, 1f\n  wait_event\n1: barrier\n",
                 ["--cores", "2"], 3, "deadlock at cycle"),
    "hang": (".globl _start\n_start:\n  j .\n", [], 3, "jump-to-self"),
}


@pytest.mark.parametrize("case", sorted(RUNTIME_ERRORS))
def test_runtime_errors_are_one_line(tmp_path, case):
    text, extra, code, expected = RUNTIME_ERRORS[case]
    write(tmp_path, "p.s", text)
    result = mcusim("run", "p.s", *extra, cwd=tmp_path)
    assert result.returncode == code, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, expected", [
    (["run", "missing.s"], "missing.s: cannot read"),
    (["run", "p.s", "--preset", "nope"], "invalid choice"),
    (["run", "p.s", "--config", "bad.toml"], "tcdm.banks: 3 is not a power of two"),
    (["run", "p.s", "--config", "range.toml"], "fpu.count: 9 is out of range [1, 8]"),
    (["run", "p.s", "--config", "unknown.toml"], "unknown setting core.speed"),
    (["run", "p.s", "--cores", "9"], "the cluster has 8 workers"),
    (["run", "notelf.bin"], "neither an ELF executable nor an assembly source"),
])
def test_bad_options_and_files(tmp_path, args, expected):
    write(tmp_path, "p.s", EXIT_42)
    write(tmp_path, "bad.toml", "[tcdm]\nbanks = 3\n")
    write(tmp_path, "range.toml", "[fpu]\ncount = 9\n")
    write(tmp_path, "unknown.toml", "[core]\nspeed = 1\n")
    (tmp_path / "notelf.bin").write_bytes(b"\x00" * 16)
    result = mcusim(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr


def test_run_profile_names_the_hot_loop():
    result = mcusim("run", str(EXAMPLE), "--cores", "8", "-q", "--profile", "--top", "5")
    assert result.returncode == 0, result.stderr
    assert "vfdotpex" in result.stderr and "flw" in result.stderr and "_start+0x" in result.stderr


def test_run_imports_only_what_it_needs(tmp_path):
    """`mcusim run` (start-up time) imports neither numpy (nor so starts BLAS threads), the kernel
    library, the workloads, rich for a quiet run, nor pyelftools for an assembly source."""
    src = tmp_path / "empty.s"
    src.write_text("    .globl _start\n_start:\n    li a7, 93\n    li a0, 0\n    ecall\n")
    code = ("import sys\nfrom mcusim.cli import main\nrc = main(['run', '-q', sys.argv[1]])\n"
            "heavy = [m for m in ('numpy', 'mcusim.workloads', 'mcusim.kernels_asm.kernels', 'rich', 'elftools')"
            " if m in sys.modules]\nprint(rc, heavy)\n")
    out = subprocess.run([sys.executable, "-c", code, str(src)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0 []", out.stdout + out.stderr
