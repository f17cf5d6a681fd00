"""RVC (compressed instructions): every RV32C form's encoding and disassembly against GNU as/objdump
and llvm-mc 19, our assembler's compression of plain mnemonics against GNU as, round trips, and
compressed code on both engines (identical to each other, and costing exactly what the same program
uncompressed costs, as on RI5CY). Execution against qemu: tests/test_qemu_differential.py."""
from __future__ import annotations

import random
import re
import subprocess
from pathlib import Path

import pytest

from mcusim.isa.codec import compress, decode, encode
from mcusim.isa.disasm import disassemble_word, listing
from mcusim.isa.fields import F_ABI_NAMES, FIELDS, X_ABI_NAMES, Kind
from mcusim.isa.spec import COMPRESSED, Instr
from mcusim.kernels_asm import AsmError, assemble, to_elf
from mcusim.simulator.cluster import Cluster
from mcusim.simulator.config import load_config
from mcusim.simulator.functional import run_functional
from mcusim.simulator.loader import read_elf
from tests.reference_tools import GNU_AS, GNU_OBJDUMP, LLVM_MC, norm, tool

MARCH = "rv32imfc_zfh_zicsr"


def random_values(entry: Instr, rng: random.Random) -> dict[str, int]:
    """Operand values of `entry` that encode it (no reserved or HINT values)."""
    while True:
        values = {}
        for name in entry.operands:
            low, high = FIELDS[name].value_range
            step = 1 << FIELDS[name].implicit_zero_bits
            values[name] = rng.randrange(low, high + 1, step) if low % step == 0 else low
            if FIELDS[name].wrap:            # c.lui: written as the 20-bit value
                values[name] &= (1 << FIELDS[name].wrap) - 1
        if not any(values[n] in v for n, v in (*entry.reserved.items(), *entry.hints.items())):
            return values


def rvc_cases(per_entry: int = 12) -> list[tuple[Instr, dict[str, int], int]]:
    rng = random.Random(12)
    cases = []
    for entry in COMPRESSED:
        for k in range(per_entry):
            values = random_values(entry, rng)
            if k == 0:       # the extremes of every immediate too
                values = {n: (FIELDS[n].value_range[1] if FIELDS[n].kind not in (Kind.XREG, Kind.FREG)
                              and FIELDS[n].value_range[1] not in (*entry.reserved.get(n, ()), *entry.hints.get(n, ()))
                              else v) for n, v in values.items()}
            cases.append((entry, values, encode(entry, values)))
    return cases


def _operand_text(name: str, value: int) -> str:
    kind = FIELDS[name].kind
    if kind is Kind.XREG:
        return X_ABI_NAMES[value]
    if kind is Kind.FREG:
        return F_ABI_NAMES[value]
    return str(value)


def _tool_text(entry: Instr, values: dict[str, int], pcrel: str) -> str:
    """Assembly text for a reference tool; a pc-relative operand as `pcrel.format(offset)`."""
    parts = []
    for token in entry.template:
        if token in values:
            parts.append(pcrel.format(values[token]) if FIELDS[token].kind is Kind.PCREL
                         else _operand_text(token, values[token]))
        else:
            parts.append(token)
    return f"{entry.mnemonic} {' '.join(parts).replace(' ,', ',').replace(' (', '(').replace('( ', '(').replace(' )', ')')}"


def test_cases_cover_every_compressed_entry():
    assert {e.key for e, _, _ in rvc_cases(1)} == {e.key for e in COMPRESSED}
    assert len(COMPRESSED) == 31          # RV32C with c.flw/c.fsw/c.flwsp/c.fswsp, c.jal; no D forms


def test_encodings_and_disassembly_match_gnu(tmp_path: Path):
    cases = rvc_cases()
    src = tmp_path / "c.s"
    src.write_text("".join(_tool_text(e, v, ".{:+d}") + "\n" for e, v, _ in cases))
    obj = tmp_path / "c.o"
    done = subprocess.run([tool(GNU_AS), f"-march={MARCH}", "-mno-relax", str(src), "-o", str(obj)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    dump = subprocess.run([tool(GNU_OBJDUMP), "-d", "-M", "no-aliases", str(obj)],
                          capture_output=True, text=True, check=True).stdout
    got = re.findall(r"^\s*([0-9a-f]+):\t([0-9a-f]{4})[ \t]+(\S+)[ \t]*(.*)$", dump, re.MULTILINE)
    assert len(got) == len(cases)
    bad = []
    for (entry, _, parcel), (addr, hexword, mnemonic, operands) in zip(cases, got):
        pc = int(addr, 16)
        ours = disassemble_word(parcel, pc)
        if any(FIELDS[n].kind is Kind.PCREL for n in entry.operands):
            # objdump writes the target in hex without 0x, then <symbol>
            operands = re.sub(r"\b([0-9a-f]+) <[^>]*>", lambda m: f"0x{m.group(1)}", operands)
        theirs = f"{mnemonic} {operands}"
        if entry.mnemonic == "c.nop":         # objdump -M no-aliases: c.addi zero,0
            theirs = theirs.replace("c.addi zero,0", "c.nop")
        if int(hexword, 16) != parcel or norm(theirs) != norm(ours):
            bad.append(f"{entry.key}: ours {parcel:04x} '{ours}', GNU {hexword} '{theirs}'")
    assert not bad, "\n".join(bad[:30])


def test_encodings_and_disassembly_match_llvm_mc(tmp_path: Path):
    cases = rvc_cases()
    src = tmp_path / "c.s"
    src.write_text("".join(_tool_text(e, v, "{}") + "\n" for e, v, _ in cases))  # llvm-mc: offsets
    done = subprocess.run([tool(LLVM_MC), "-triple=riscv32", "-mattr=+c,+f,+zfh", "-show-encoding",
                           "-riscv-no-aliases", str(src)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    got = re.findall(r"^\s*([a-z][^#\n]*?)\s*# encoding: \[([^\]]*)\]", done.stdout, re.MULTILINE)
    assert len(got) == len(cases)
    bad = []
    for (entry, values, parcel), (text, enc) in zip(cases, got):
        theirs = int.from_bytes(bytes(int(b, 16) for b in enc.split(",")), "little")
        # llvm-mc writes pc-relative operands as offsets and c.lui's immediate in decimal
        ours = _tool_text(entry, values, "{}")
        if theirs != parcel or norm(text) != norm(ours):
            bad.append(f"{entry.key}: ours {parcel:04x} '{ours}', LLVM {theirs:04x} '{text}'")
    assert not bad, "\n".join(bad[:30])


def test_round_trip_through_our_assembler():
    """Our disassembly of every case (at its own address) assembles back to the same parcel, with
    `c.` mnemonics and without `.option rvc`."""
    cases = rvc_cases()
    base = 0x1C00_0000
    text = "".join(f"{disassemble_word(parcel, base + 2 * i)}\n" for i, (_, _, parcel) in enumerate(cases))
    program = assemble(text)
    code = next(s for s in program.sections if s.name == ".text").data
    assert len(code) == 2 * len(cases)
    for i, (entry, values, parcel) in enumerate(cases):
        assert int.from_bytes(code[2 * i:2 * i + 2], "little") == parcel, entry.key
        d = decode(parcel)
        assert d.size == 2 and d.encoding is entry and d.instr is entry.expands and d.encoding_values == values


def test_decode_gives_the_expansion():
    d = decode(0x952E)                      # c.add a0, a1
    assert d.instr.key == "add" and d.values == {"rd": 10, "rs1": 10, "rs2": 11} and d.size == 2
    d = decode(0x7139)                      # c.addi16sp sp, -64
    assert d.instr.key == "addi" and d.values == {"rd": 2, "rs1": 2, "imm12": -64}
    d = decode(0x757D)                      # c.lui a0, 0xfffff
    assert d.encoding.key == "c.lui" and d.values == {"rd": 10, "uimm20": 0xFFFFF}
    # reserved encodings are illegal; HINTs decode (as their expansion: a no-op)
    for parcel in (0x0000, 0x4002, 0x8002, 0x6101, 0x6501, 0x0004 | 0x0000):
        assert decode(parcel) is None, hex(parcel)
    assert decode(0x0501).encoding.key == "c.addi" and decode(0x0501).values["imm12"] == 0   # c.addi a0, 0
    assert decode(0x4015).encoding.key == "c.li" and decode(0x4015).values["rd"] == 0       # c.li zero, 5
    assert decode(0x1002) is None           # c.slli with shamt[5] = 1: reserved on RV32
    assert decode(0x2002) is None and decode(0xA002) is None   # c.fldsp / c.fsdsp: no D here


def test_compress_chooses_like_gnu_as(tmp_path: Path):
    """A corpus of plain instructions assembled with `.option rvc` by us and by GNU as gives the
    same bytes: every instruction with operands known where it is read, and backward branches and
    jumps to labels (in range: compressed; out of range: not)."""
    rng = random.Random(5)
    regs = [f"x{i}" for i in range(32)]
    lines = ["back0:", "1:", "2:"]
    labels = ["back0"]
    for i in range(1500):
        kind = rng.randrange(12)
        rd = rng.choice(regs + ["x8", "x9", "x10", "x15", "sp", "sp"])
        rs = rng.choice([rd] * 3 + regs + ["x0", "sp"])
        imm = rng.choice((0, 1, -1, 31, 32, -32, -33, 16, 48, 496, -512, 512, 1020, 1024, 4, 124, 128, 252, 256,
                          rng.randint(-2048, 2047)))
        if kind == 0:
            lines.append(f"addi {rd}, {rs}, {imm}")
        elif kind == 1:
            op = rng.choice("add sub and or xor".split())
            a, b = rng.choice([(rd, rs), (rs, rd), ("x0", rs), (rs, "x0"), (rd, rd)])
            lines.append(f"{op} {rd}, {a}, {b}")
        elif kind == 2:
            op = rng.choice("slli srli srai".split())
            lines.append(f"{op} {rd}, {rd if rng.random() < 0.8 else rs}, {rng.choice((0, 1, 5, 31))}")
        elif kind == 3:
            lines.append(f"andi {rd}, {rd if rng.random() < 0.8 else rs}, {imm}")
        elif kind == 4:
            op = rng.choice("lw sw".split())
            base = rng.choice(["sp", "x8", "x9", "x15", "x16", "x0"])
            lines.append(f"{op} {rd}, {rng.choice((0, 4, 124, 128, 252, 256, 2, -4))}({base})")
        elif kind == 5:
            op = rng.choice("flw fsw".split())
            base = rng.choice(["sp", "x8", "x12", "x16"])
            lines.append(f"{op} f{rng.choice((8, 9, 15, 16, 0, 31))}, {rng.choice((0, 4, 124, 128, 252, 256))}({base})")
        elif kind == 6:
            lines.append(f"lui {rd}, {rng.choice((0, 1, 31, 32, 0xFFFFF, 0xFFFE0, 0xFFFDF, 0x12345))}")
        elif kind == 7:
            lines.append(rng.choice(["nop", "ebreak", f"mv {rd}, {rs}", f"li {rd}, {imm}", f"jr {rs}",
                                     f"jalr {rs}", "ret", f"not {rd}, {rs}", f"neg {rd}, {rs}"]))
        elif kind == 8:     # backward branches and jumps: some in range, some not
            op = rng.choice(["beqz", "bnez", "j", "jal", "beq", "bne"])
            reg = rng.choice(["x8", "x9", "x15", "x1", "x16"])
            target = rng.choice(["1b", "2b", *labels[-2:]])
            if op in ("j", "jal"):
                lines.append(f"{op} {target}")
            elif op in ("beq", "bne"):
                lines.append(f"{op} {reg}, {rng.choice(['x0', reg, 'x9'])}, {target}")
            else:
                lines.append(f"{op} {reg}, {target}")
        elif kind == 9:
            lines.append(rng.choice(["1:", "2:"]))
        elif kind == 10:
            labels.append(f"back{i}")
            lines.append(f"back{i}:")
        else:
            lines.append(f"add {rd}, {rd}, {rs}")
    source = ".option rvc\n" + "\n".join(lines) + "\n"
    src = tmp_path / "corpus.s"
    src.write_text(source)
    obj = tmp_path / "corpus.o"
    done = subprocess.run([tool(GNU_AS), f"-march={MARCH}", "-mno-relax", str(src), "-o", str(obj)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    raw = tmp_path / "corpus.bin"
    subprocess.run(["riscv64-unknown-elf-objcopy", "-O", "binary", "-j", ".text", str(obj), str(raw)], check=True)
    gnu = raw.read_bytes()
    ours = next(s for s in assemble(source).sections if s.name == ".text").data
    if ours != gnu:
        a = listing(ours, 0)
        b = listing(gnu, 0)
        first = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
        pytest.fail("first difference:\n" + "\n".join(f"ours {x}\nGNU  {y}" for x, y in zip(a[first:first + 4], b[first:first + 4])))
    small = sum(1 for line in listing(ours, 0) if re.match(r"\s*[0-9a-f]+:\t[0-9a-f]{4} ", line))
    assert small > 400                       # the corpus really exercises compression


def test_option_directives_and_sizes():
    program = assemble("""
    .option rvc
    addi a0, a0, 1          # c.addi
    .option push
    .option norvc
    addi a0, a0, 1          # 32-bit
    .option pop
    addi a0, a0, 1          # c.addi again
    .option arch, -c
    addi a0, a0, 1
    .option arch, +c
    addi a0, a0, 1
    c.addi a0, 1
    """)
    code = next(s for s in program.sections if s.name == ".text").data
    assert code == bytes.fromhex("0505" "13051500" "0505" "13051500" "0505" "0505")
    with pytest.raises(AsmError, match=r"\.option pop without \.option push"):
        assemble(".option pop\n")
    with pytest.raises(AsmError, match="reserved encoding"):
        assemble("c.lwsp zero, 0(sp)\n")
    with pytest.raises(AsmError, match="uimm7"):
        assemble("c.lw a0, 128(a1)\n")
    with pytest.raises(AsmError, match="rs1p"):
        assemble("c.lw a0, 0(a6)\n")
    # forward branches keep their 32-bit form; backward ones in range are compressed
    code = next(s for s in assemble(".option rvc\nb: beqz a0, f\nbeqz a0, b\nf: j b\n").sections
                if s.name == ".text").data
    assert [len(x) for x in (code,)] == [4 + 2 + 2]
    assert disassemble_word(int.from_bytes(code[4:6], "little"), 4) == "c.beqz\ta0,0x0"


def test_branch_to_halfword_target_needs_rvc():
    with pytest.raises(AsmError, match="4-byte aligned without .option rvc"):
        assemble("beq a0, a1, . + 2\n")
    assemble(".option rvc\nbeq a0, a1, . + 6\nc.nop\nc.nop\nc.nop\n")


HWLOOP_PROGRAM = """
    .option rvc
    .globl _start
_start:
    li a0, 0
    li s0, 0
    li a1, 7
    c.nop                       # the lp.setup below starts at pc % 4 == 2: a straddling word
    lp.setup x0, a1, 2f         # body of compressed and 32-bit instructions
    c.addi a0, 3
    add s0, s0, a0              # 32-bit at pc % 4 == 2
    c.slli s0, 1
2:  c.srli s0, 1                # the loop ends on a 16-bit instruction
    lp.setupi x1, 5, 3f
    c.addi a0, -1
3:  c.mv a2, a0
    jal ra, func                # 32-bit call to a compressed function
    c.jal func
    la t0, func
    c.jalr t0
    add a0, a0, s0
    add a0, a0, a2
    li a7, 93
    ecall
func:
    c.addi a0, 1
    c.jr ra
"""


def test_compressed_program_reference_and_hardware_loops():
    image = read_elf(to_elf(assemble(HWLOOP_PROGRAM)))
    result = run_functional(image)
    # a0: 7 * 3 = 21, then 5 * -1 -> 16, +3 calls -> 19; s0 = sum of a0 after each add (3+6+...+21 = 84)
    assert result.exit_code == 19 + 84 + 16


@pytest.mark.parametrize("cores", [1, 8])
def test_compressed_code_identical_on_both_engines_and_costs_its_expansion(cores):
    """The same program with and without `.option rvc`: both engines identical, and the compressed
    build costs exactly the cycles (and every counter) of the uncompressed one."""
    from tests.test_engine_equivalence import assert_same, run_both
    from tools.gen_cluster_program import generate
    ideal = {"icache": {"model": "ideal"}}     # the core's cost alone: the layouts differ, so would the fetch
    for seed in (101, 102):
        source = generate(seed, blocks=20)
        compressed = run_both(".option rvc\n" + source, cores, ideal)
        assert_same(compressed)
        plain = run_both(source, cores, ideal)
        assert compressed[0][0] == plain[0][0]          # report: cycles, stalls, events, exit
        fetched = run_both(".option rvc\n" + source, cores)     # the default fetch model: still identical
        assert_same(fetched)
        assert fetched[0][0]["cycles"] > compressed[0][0]["cycles"]
        small = assemble(".option rvc\n" + source)
        assert len(next(s for s in small.sections if s.name == ".text").data) < \
            len(next(s for s in assemble(source).sections if s.name == ".text").data)
    hw = run_both(HWLOOP_PROGRAM, cores)
    assert_same(hw)
    assert hw[0][0]["exit_code"] == 19 + 84 + 16


def test_misa_has_c_and_jumps_to_halfwords_are_legal():
    image = read_elf(to_elf(assemble("""
    .globl _start
_start:
    csrr a0, misa
    andi a0, a0, 4              # C
    la t0, half
    jalr t0                      # to pc % 4 == 2
    .half 0x0001                 # c.nop (not executed)
half:
    c.addi a0, 1
    li a7, 93
    ecall
""")))
    assert run_functional(image).exit_code == 5
    for engine in ("py", "c"):
        assert Cluster(image, load_config(), cores=1, engine=engine).run().exit_code == 5


def test_compress_is_exact():
    """compress() of a word gives a parcel whose expansion is that word, for every compressible
    word of the random cases' expansions."""
    for entry, values, parcel in rvc_cases(4):
        if entry.hints or not entry.auto or entry.mnemonic == "c.nop":
            continue
        word = encode(entry.expands, decode(parcel).values)
        small = compress(word)
        assert small is not None and decode(small).values == decode(word).values, entry.key


def test_illegal_parcel_is_reported_as_a_halfword():
    from mcusim.simulator.functional import SimulationError
    image = read_elf(to_elf(assemble(".globl _start\n_start:\n    c.nop\n    .half 0x0000\n")))
    with pytest.raises(SimulationError, match=r"illegal instruction at pc 0x1c000002: \.half 0x0000 \(not an instruction\)"):
        run_functional(image)
    for engine in ("py", "c"):
        with pytest.raises(SimulationError, match=r"pc 0x1c000002: \.half 0x0000"):
            Cluster(image, load_config(), cores=1, engine=engine).run()


def test_profile_of_compressed_code_identical_on_both_engines():
    """The profile tables have a row per halfword: compressed instructions and 32-bit ones at
    pc % 4 == 2 are charged at their own pcs, identically by both engines."""
    image = read_elf(to_elf(assemble(HWLOOP_PROGRAM)))
    profiles = [Cluster(image, load_config(), cores=2, engine=e, profile=True).run().profile for e in ("py", "c")]
    assert dict(profiles[0]) == dict(profiles[1]) and profiles[0].stalls == profiles[1].stalls
    pcs = set(profiles[0])
    assert any(pc % 4 == 2 for pc in pcs) and len(pcs) > 20
    loop_end = next(pc for pc in pcs if profiles[0].text(pc).startswith("c.srli"))
    assert profiles[0][loop_end][0] == 2 * 7               # two cores, seven iterations


def test_profiles_hold_rvc_and_check_the_expansion():
    from mcusim.isa.profiles import PROFILES
    assert all("RV32C" in p for p in PROFILES.values())
    no_f = frozenset({"RV32I", "RV32C"})
    assert decode(0x41C8, extensions=no_f).encoding.key == "c.lw"
    assert decode(0x61C8, extensions=no_f) is None                       # c.flw needs F
    assert decode(0x41C8, extensions=frozenset({"RV32I"})) is None      # no C at all


def test_trace_of_compressed_code_is_identical_on_both_engines(tmp_path):
    """--trace runs on the compiled engine too: its lines for compressed code equal the reference's."""
    from mcusim.cli import main
    src = tmp_path / "c.s"
    src.write_text(".option rvc\n.globl _start\n_start:\n li a0, 5\n li a1, 0\n1: add a1, a1, a0\n"
                   " addi a0, a0, -1\n bnez a0, 1b\n mv a0, a1\n li a7, 93\n ecall\n")
    traces = []
    for engine in ("c", "py"):
        out = tmp_path / f"{engine}.txt"
        assert main(["run", str(src), "--trace", str(out), "-q", "--engine", engine, "--exit-code", "program"]) == 15
        traces.append(out.read_text())
    assert traces[0] == traces[1] and "c.add a1,a0" in traces[0]
