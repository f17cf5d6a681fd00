"""Differential test of instruction semantics against QEMU.

Random RV32IMF + Zfh programs (tools/gen_random_program.py) are assembled and linked with GNU
binutils, not with mcusim's own assembler, so this checks the semantics independently of it. The
same ELF runs under `qemu-riscv32 -cpu rv32,Zfh=true` (bit-exact SoftFloat arithmetic and flags in
every rounding mode) and in mcusim's reference interpreter; the register dumps the programs print
must be byte-identical. A mismatch is reported with the block, the registers that differ, the
block's inputs and its disassembly.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from mcusim.isa.spec import INSTRUCTIONS
from mcusim.simulator.functional import trap_message
from mcusim.simulator.hart import Hart, ProgramExit, Trap
from mcusim.simulator.loader import Image, build_memory, read_elf

ROOT = Path(__file__).resolve().parent.parent


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_random_program",
                                                  ROOT / "tools" / "gen_random_program.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


gen = _load_generator()

TOOLS = {  # program -> Debian package that provides it
    "riscv64-unknown-elf-as": "binutils-riscv64-unknown-elf",
    "riscv64-unknown-elf-ld": "binutils-riscv64-unknown-elf",
    "riscv64-unknown-elf-objdump": "binutils-riscv64-unknown-elf",
    "qemu-riscv32": "qemu-user",
}
AS_FLAGS = ["-march=rv32imf_zicsr_zifencei_zfh", "-mabi=ilp32"]
# Text at the start of L2, data on the next page; unlike -Ttext this maps no ELF headers below L2.
LINKER_SCRIPT = """ENTRY(_start)
SECTIONS
{
  . = 0x1c000000;
  .text : { *(.text) }
  . = ALIGN(0x1000);
  .data : { *(.data) }
}
"""
# --no-relax: `la` must stay auipc + addi (relaxation could make it relative to gp = x3, which
# the programs fill with random values).
LD_FLAGS = ["-m", "elf32lriscv", "--no-relax"]
QEMU = ["qemu-riscv32", "-cpu", "rv32,Zfh=true"]

BLOCKS = 160
# Each program executes ~13,700 instructions in mcusim, ~2,800 of them random (the rest is setup
# and dumps); the minimums guard against a test that silently shrinks.
SEEDS = range(1, 17)
MIN_INSTRET = 200_000
MIN_RANDOM_INSTRUCTIONS = 40_000
# A longer soak: MCUSIM_DIFF_SEEDS=FIRST-LAST python -m pytest tests/test_qemu_differential.py
if os.environ.get("MCUSIM_DIFF_SEEDS"):
    _first, _, _last = os.environ["MCUSIM_DIFF_SEEDS"].partition("-")
    SEEDS = range(int(_first), int(_last or _first) + 1)

NOT_GENERATED = {"ebreak"}   # would trap
CHECKED_EXTENSIONS = ("RV32I", "RV32M", "Zicsr", "Zifencei", "RV32F", "Zfh")


def require_tools() -> None:
    missing = [f"{tool} (Debian package {pkg})" for tool, pkg in TOOLS.items() if not shutil.which(tool)]
    if missing:
        pytest.fail("missing reference tools: " + ", ".join(missing) + "; install them with apt-get",
                    pytrace=False)


def build_elf(program, workdir: Path) -> Path:
    src = workdir / f"random_{program.seed}.s"
    obj, elf = src.with_suffix(".o"), src.with_suffix(".elf")
    script = workdir / "link.ld"
    src.write_text(program.source)
    script.write_text(LINKER_SCRIPT)
    for cmd in (["riscv64-unknown-elf-as", *AS_FLAGS, str(src), "-o", str(obj)],
                ["riscv64-unknown-elf-ld", *LD_FLAGS, "-T", str(script), str(obj), "-o", str(elf)]):
        done = subprocess.run(cmd, check=False, capture_output=True, text=True)
        assert done.returncode == 0 and not done.stderr, f"{' '.join(cmd)} failed:\n{done.stderr}"
    return elf


@dataclass
class SimRun:
    output: bytes            # what the program wrote to stdout
    instret: int
    executed: set[str]       # mnemonics
    error: str | None        # why it did not exit(0)
    pc: int                  # where it stopped


def run_mcusim(image: Image, max_instructions: int) -> SimRun:
    """Run `image` on one hart of mcusim's reference interpreter, capturing its console output."""
    hart = Hart(build_memory(image))
    hart.pc = image.entry
    out = bytearray()
    hart.console = lambda fd, data: out.extend(data) if fd == 1 else None
    executed: set[str] = set()
    step = hart.step
    error: str | None = f"did not exit within {max_instructions} instructions"
    try:
        while hart.instret < max_instructions:
            executed.add(step().instr.mnemonic)
    except ProgramExit as done:
        error = None if done.code == 0 else f"exit code {done.code}"
    except Trap as trap:
        error = trap_message(0, hart, trap)
    return SimRun(bytes(out), hart.instret, executed, error, hart.pc)


def block_of(image: Image, pc: int) -> int:
    """The number of the block that contains `pc` (0: initialisation)."""
    starts = sorted((addr, int(name[6:])) for name, addr in image.symbols.items()
                    if name.startswith("block_"))
    return max([n for addr, n in starts if addr <= pc], default=0)


def words(data: bytes) -> list[int]:
    return [int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data) - 3, 4)]


def disassemble(elf: Path, image: Image, block: int) -> str:
    start = image.symbols["_start"] if block == 0 else image.symbols[f"block_{block}"]
    stop = image.symbols.get(f"block_{block + 1}", image.symbols["end_of_blocks"])
    done = subprocess.run(["riscv64-unknown-elf-objdump", "-d", "-M", "numeric,no-aliases",
                           f"--start-address={start}", f"--stop-address={stop}", str(elf)],
                          check=False, capture_output=True, text=True)
    listing = [line for line in done.stdout.splitlines() if re.match(r"\s*[0-9a-f]+:\t", line)]
    # Leave out the state dump that ends the block (its first store is `sw x1,0(x31)`).
    end = next((i for i, line in enumerate(listing) if line.endswith("\tx1,0(x31)")), len(listing))
    return "\n".join(listing[:end])


def describe_mismatch(program, elf: Path, image: Image, qemu: bytes, sim: SimRun) -> str:
    """The first block whose dump differs (or where mcusim stopped), what differs, the block's
    inputs, source and disassembly."""
    n = len(gen.DUMP_REGS)
    q, s = words(qemu), words(sim.output)
    common = min(len(q), len(s))
    first = next((i for i in range(common) if q[i] != s[i]), common)
    lines = [(f"seed {program.seed}: qemu printed {len(qemu)} bytes, mcusim {len(sim.output)} "
              f"(expected {program.dump_bytes})")]
    if first < common:
        block = first // n
        lines.append(f"first difference after block {block} (0 = initial state):")
        for r in range(n):
            i = block * n + r
            if i < common and q[i] != s[i]:
                lines.append(f"  {gen.DUMP_REGS[r]:>5}: qemu {q[i]:#010x}  mcusim {s[i]:#010x}")
    else:   # no differing word: mcusim stopped early (the dumps are printed only at the end)
        block = block_of(image, sim.pc)
        lines.append(f"mcusim stopped in block {block}: {sim.error}")
    if block > 0:
        before = q[(block - 1) * n:block * n]
        tokens = set(re.findall(r"\b[xf]\d+\b", " ".join(program.blocks[block])))
        used = [r for r in gen.DUMP_REGS[:-1] if r in tokens]
        lines.append("inputs (state before the block, identical on both sides): "
                     + ", ".join(f"{r}={before[gen.DUMP_REGS.index(r)]:#010x}" for r in used))
    lines.append(f"block {block} source:")
    lines += program.blocks[block] if block < len(program.blocks) else ["(none)"]
    lines.append("disassembly:")
    lines.append(disassemble(elf, image, min(block, len(program.blocks) - 1)))
    lines.append(f"reproduce: python tools/gen_random_program.py --seed {program.seed} "
                 f"--blocks {len(program.blocks) - 1} > prog.s")
    return "\n".join(lines)


def test_generator_is_deterministic_and_prints(capsys):
    a = gen.generate(7, 5)
    assert a.source == gen.generate(7, 5).source != gen.generate(8, 5).source
    assert len(a.blocks) == 6 and a.dump_bytes == 6 * gen.DUMP_BYTES
    assert gen.main(["--seed", "7", "--blocks", "5"]) == 0
    assert capsys.readouterr().out == a.source


def test_generator_covers_the_table():
    """Every RV32I/M/Zicsr/F/Zfh instruction in mcusim's table is one the generator emits."""
    generated = set(gen.MNEMONICS)
    fp = set(gen.RV32F) | set(gen.ZFH)
    table = {e.mnemonic for e in INSTRUCTIONS if e.extension in CHECKED_EXTENSIONS} - NOT_GENERATED
    assert table <= generated, f"not generated: {sorted(table - generated)}"
    assert fp <= table, f"F / Zfh instructions missing from mcusim's table: {sorted(fp - table)}"


def test_semantics_match_qemu(tmp_path):
    require_tools()
    started = time.perf_counter()
    instret = random_instructions = 0
    executed: set[str] = set()
    failures: list[str] = []
    for seed in SEEDS:
        program = gen.generate(seed, BLOCKS)
        random_instructions += program.random_instructions
        elf = build_elf(program, tmp_path)
        # qemu runs on the other core while mcusim runs here.
        qemu = subprocess.Popen([*QEMU, str(elf)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        image = read_elf(elf.read_bytes(), str(elf))
        sim = run_mcusim(image, 40 * len(program.source.splitlines()))
        qemu_out, qemu_err = qemu.communicate(timeout=60)
        assert qemu.returncode == 0, f"seed {seed}: qemu failed ({qemu.returncode}): {qemu_err.decode()}"
        assert len(qemu_out) == program.dump_bytes, f"seed {seed}: qemu printed {len(qemu_out)} bytes"
        instret += sim.instret
        executed |= sim.executed
        if sim.output != qemu_out or sim.error:
            failures.append(describe_mismatch(program, elf, image, qemu_out, sim))
    elapsed = time.perf_counter() - started
    print(f"{len(SEEDS)} programs, {instret} instructions in mcusim "
          f"({random_instructions} random), {elapsed:.1f} s")
    assert not failures, "\n\n".join(failures)
    assert instret >= MIN_INSTRET
    assert random_instructions >= MIN_RANDOM_INSTRUCTIONS
    assert set(gen.MNEMONICS) <= executed, f"never executed: {sorted(set(gen.MNEMONICS) - executed)}"
