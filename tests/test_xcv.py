"""CORE-V XCV (CV32E40P v2) encodings: words against llvm-mc 19 and, for the hardware loops LLVM 19
lacks, against the CV32E40P user manual's encoding table; semantics and cycles equal to the Xpulpv2
twins on both engines; the set chosen from an ELF's .riscv.attributes (a clang-19 -march=..._xcv*
program runs with the right result)."""
from __future__ import annotations

import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mcusim.isa.codec import decode, encode, isas_of, rows
from mcusim.isa.disasm import disassemble_word
from mcusim.isa.fields import FIELDS, Kind
from mcusim.isa.spec import find
from mcusim.kernels_asm import AsmError, assemble, to_elf
from mcusim.simulator.cengine import binding
from mcusim.simulator.cluster import Cluster
from mcusim.simulator.config import ConfigError, load_config
from mcusim.simulator.loader import read_elf
from mcusim.simulator.report import to_json
from reference_tools import LLVM_MC, norm, tool
from tools.gen_cluster_program import generate

XCV_MATTR = "+xcvalu,+xcvmac,+xcvmem,+xcvsimd,+xcvbi,+xcvbitmanip"
CLANG_MARCH = "rv32imf_xcvalu_xcvmac_xcvmem_xcvsimd_xcvbi"


def _llvm_rows():
    """Every CORE-V row LLVM 19 knows: all XCV rows but the hardware loops."""
    return [r for r in rows("corev") if r.extension.startswith("XCV") and r.extension != "XCVhwlp"]


def _values(rng: random.Random, row) -> dict[str, int]:
    values = {}
    for name in row.operands:
        f = FIELDS[name]
        if f.kind is Kind.XREG:
            values[name] = rng.randrange(32)
            continue
        low, high = f.value_range
        step = 1 << f.implicit_zero_bits
        if f.kind is Kind.PCREL:        # forward targets: llvm-mc reads the number as an offset
            low, step = 0, 4
        if name == "cv_radix":          # LLVM accepts Is3 0..2 (3 is reserved; mcusim reads it as 0)
            high = 2
        if row.mnemonic.startswith(("cv.srl.sci", "cv.sra.sci", "cv.sll.sci")):
            high = 15 if row.mnemonic.endswith(".h") else 7     # LLVM: uimm4 / uimm3
        values[name] = rng.randrange(low // step, high // step + 1) * step
    return values


def _llvm_mc(source: str) -> list[tuple[str, int]]:
    result = subprocess.run([tool(LLVM_MC), "-triple=riscv32", f"-mattr={XCV_MATTR}", "-show-encoding"],
                            input=source, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"llvm-mc rejected:\n{result.stderr[:2000]}"
    got = re.findall(r"^\s*([a-z][^#\n]*?)\s*# encoding: \[([^\]]*)\]", result.stdout, re.MULTILINE)
    return [(text, int.from_bytes(bytes(int(b, 16) for b in enc.split(",")), "little")) for text, enc in got]


def test_every_cv_row_encodes_and_prints_as_llvm_mc_19():
    """Three random operand sets per row: our word and text equal llvm-mc's for our text, LLVM's word
    decodes back to the same row, and our assembler gives the same word from our text."""
    rng = random.Random(12)
    cases = [(row, encode(row, values)) for row in _llvm_rows() for values in (_values(rng, row) for _ in range(3))]
    assert len(cases) > 900
    texts = [disassemble_word(word, 0, "corev") for _, word in cases]
    got = _llvm_mc("".join(f"{t}\n" for t in texts))
    assert len(got) == len(cases)
    bad = [f"{row.key}: ours {word:08x} '{text}', LLVM {lw:08x} '{lt}'"
           for (row, word), text, (lt, lw) in zip(cases, texts, got) if lw != word or norm(lt) != norm(text)]
    assert not bad, "\n".join(bad[:20])
    for (row, _), (_, llvm_word) in zip(cases, got):
        d = decode(llvm_word, "corev")
        assert d is not None and d.encoding is row, row.key
    # our assembler, each line at its own address (pc-relative operands are absolute there)
    base = 0x1C00_0000
    source = "".join(disassemble_word(w, base + 4 * i, "corev") + "\n" for i, (_, w) in enumerate(cases))
    data = assemble(source, "cv.s").section(".text").data
    ours = [int.from_bytes(data[4 * i:4 * i + 4], "little") for i in range(len(cases))]
    assert ours == [w for _, w in cases]


def test_aliases_assemble_as_llvm_and_the_manual_name_them():
    ours = assemble("cv.sle a0, a1, a2\ncv.sleu a3, a4, a5\ncv.muls a0, a1, a2\ncv.mulhhs t0, t1, t2\n"
                    "cv.mulu s0, s1, s2\ncv.mulhhu a6, a7, t3\n").section(".text").data
    llvm = _llvm_mc("cv.slet a0, a1, a2\ncv.sletu a3, a4, a5\ncv.muls a0, a1, a2\ncv.mulhhs t0, t1, t2\n"
                    "cv.mulu s0, s1, s2\ncv.mulhhu a6, a7, t3\n")
    assert [int.from_bytes(ours[i:i + 4], "little") for i in range(0, len(ours), 4)] == [w for _, w in llvm]


# --- hardware loops: LLVM 19 has no xcvhwlp, so the manual's table is the reference -------------------
def test_llvm_19_has_no_corev_hardware_loops():
    result = subprocess.run([tool(LLVM_MC), "-triple=riscv32", "-mattr=+xcvhwlp", "-show-encoding"],
                            input="cv.setupi 0, 10, 20\n", capture_output=True, text=True, check=False)
    assert result.returncode != 0 and "unrecognized instruction mnemonic" in result.stderr


def _manual_word(funct4: int, loop: int, uimm_l: int = 0, rs1: int = 0) -> int:
    # CV32E40P user manual, "Hardware Loops operations encoding": uimmL[11:0] | rs1 or uimmS | 100 |
    # funct4 | L | 010 1011
    return uimm_l << 20 | rs1 << 15 | 0b100 << 12 | funct4 << 8 | loop << 7 | 0b0101011


HWLOOP_CASES = [   # (source at 0x1C000000, manual word); targets are labels `pc + 4 * uimm`
    ("cv.starti 1, .+40", _manual_word(0, 1, 10)),
    ("cv.start 0, a3", _manual_word(1, 0, rs1=13)),
    ("cv.endi 0, .+16380", _manual_word(2, 0, 4095)),
    ("cv.end 1, s2", _manual_word(3, 1, rs1=18)),
    ("cv.counti 1, 4095", _manual_word(4, 1, 4095)),
    ("cv.count 0, s4", _manual_word(5, 0, rs1=20)),
    ("cv.setupi 0, 100, .+124", _manual_word(6, 0, 100, 31)),
    ("cv.setup 1, t0, .+8", _manual_word(7, 1, 2, 5)),
]


@pytest.mark.parametrize("source, word", HWLOOP_CASES, ids=[c[0].split()[0] for c in HWLOOP_CASES])
def test_hardware_loop_words_are_the_manuals(source, word):
    program = assemble(source + "\n", "hwlp.s")
    assert int.from_bytes(program.section(".text").data[:4], "little") == word
    assert program.custom_isa == "corev"
    assert re.sub(r"\s+", " ", disassemble_word(word, 0x1C00_0000, "corev")) == \
        re.sub(r"\.\+(\d+)", lambda m: f"{0x1C00_0000 + int(m.group(1)):#x}", source).replace(", ", ",")


def test_cv_count_word_of_openhw_llvm_fork():
    # REFERENCE.md: OpenHW's LLVM fork's MC tests give cv.count 0, s4 = 0x000a452b (the manual's layout)
    assert int.from_bytes(assemble("cv.count 0, s4\n").section(".text").data, "little") == 0x000A452B


MANUAL_NESTED_LOOP = """
    .globl _start
_start:
    li a0, 0
    li a1, 0
    li a2, 10
    cv.starti 1, start1
    cv.endi 1, end1
    cv.count 1, a2
    cv.starti 0, start0
    cv.endi 0, end0
start1:
    cv.count 0, a2
start0:
    addi a0, a0, 1
    addi a0, a0, 1
    addi a0, a0, 1
end0:
    addi a1, a1, 2
    addi a1, a1, 2
end1:
    cv.setupi 0, 7, 1f
    addi a1, a1, 1
    addi a1, a1, 1
    addi a1, a1, 1
1:  li t0, 5
    cv.setup 1, t0, 2f
    cv.mac a1, t0, t0
    addi a0, a0, 2
    nop
2:  li a7, 93
    ecall
"""


def _run(image, isa: str, engine: str, cores: int = 1, overrides: dict | None = None):
    if engine == "c" and binding.load() is None:
        pytest.fail("the compiled engine is not built: run `python simulator/cengine/build.py`")
    config = load_config(overrides={**(overrides or {}), "core": {**(overrides or {}).get("core", {}),
                                                                  "custom_isa": isa}})
    cluster = Cluster(image, config, cores=cores, engine=engine)
    result = cluster.run()
    assert result.engine == engine
    doc = to_json(result, "p")
    doc.pop("engine")
    assert doc["config"]["core"].pop("custom_isa") == isa      # the report says which set ran
    regs = [(list(c.hart.x), list(c.hart.f), c.hart.pc, c.hart.fflags) for c in result.cores]
    return doc, regs, cluster.memory


def test_the_manuals_nested_hardware_loop_on_both_engines():
    """The manual's example: i = 300, j = 40 after 10 x 10 iterations; then cv.setupi / cv.setup loops
    whose end labels name the instruction after the body."""
    image = read_elf(to_elf(assemble(MANUAL_NESTED_LOOP, "loop.s")), "loop.s")
    assert image.custom_isa == "corev"
    results = [_run(image, "corev", engine) for engine in ("py", "c")]
    assert results[0][:2] == results[1][:2]
    x = results[0][1][0][0]
    assert x[10] == 300 + 5 * 2 and x[11] == 40 + 7 * 3 + 5 * 25


# --- semantics and cycles equal to the Xpulpv2 twins ---------------------------------------------------
def _corev_word(word: int) -> int:
    """The CORE-V word of an Xpulpv2 word: its twin's row in the corev set; the hardware-loop set-ups
    whose end convention differs become cv.setup / cv.setupi / cv.endi with the end one instruction on."""
    d = decode(word, "xpulpv2")
    if d is None or "corev" in isas_of(d.encoding):
        return word
    special = {"lp.setup": ("cv.setup", "lp_target12", "cv_lp_target12"),
               "lp.setupi": ("cv.setupi", "lp_target5", "cv_lp_target5"),
               "lp.endi": ("cv.endi", "lp_target12", "cv_lp_target12")}
    if d.instr.mnemonic in special:
        name, old, new = special[d.instr.mnemonic]
        values = {("cv_L" if k == "L" else new if k == old else k): v for k, v in d.values.items()}
        values[new] += 4
        return encode(find(name), values)
    row = next(r for r in rows("corev") if r.twin is d.instr)
    back = {twin_name: name for name, twin_name in row.rename.items()}
    return encode(row, {back.get(k, k): v for k, v in d.values.items()})


def _translated(image):
    """The image with every Xpulpv2 instruction word of its code replaced by its CORE-V word."""
    import copy
    out = copy.deepcopy(image)
    for seg in out.segments:
        if seg.executable:
            data = bytearray(seg.data)
            for i in range(0, len(data) - 3, 4):
                word = int.from_bytes(data[i:i + 4], "little")
                data[i:i + 4] = _corev_word(word).to_bytes(4, "little")
            seg.data = bytes(data)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_translated_random_programs_give_the_same_results_and_cycles(seed):
    """A random Xpulpv2 cluster program and its word-by-word CORE-V translation: same registers, TCDM,
    exit codes, cycles, stalls and counters, on both engines."""
    cores = [1, 3, 8][seed]
    source = generate(seed, blocks=20)
    image = read_elf(to_elf(assemble(source, "<random>")), "<random>")
    corev = _translated(image)
    changed = sum(a.data != b.data for a, b in zip(image.segments, corev.segments))
    assert changed, "the translation changed no word: the program has no Xpulpv2-only instruction"
    runs = {(isa, engine): _run(img, isa, engine, cores)
            for isa, img in (("xpulpv2", image), ("corev", corev)) for engine in ("py", "c")}
    reference_doc, reference_regs, reference_mem = runs["xpulpv2", "py"]
    for key, (doc, regs, mem) in runs.items():
        assert doc == reference_doc, key
        assert regs == reference_regs, key
        assert mem.read_bytes(0x1000_0000, 16 * 1024) == reference_mem.read_bytes(0x1000_0000, 16 * 1024), key


@pytest.mark.parametrize("seed", [3, 4])
def test_random_corev_programs_identical_on_both_engines(seed):
    """Random programs written with cv.* mnemonics (including the ops with no Xpulpv2 twin)."""
    source = generate(seed, blocks=20, isa="corev")
    image = read_elf(to_elf(assemble(source, "<random>")), "<random>")
    assert image.custom_isa == "corev"
    py, c = (_run(image, "corev", engine, cores=2) for engine in ("py", "c"))
    assert py[:2] == c[:2]
    assert py[2].read_bytes(0x1000_0000, 16 * 1024) == c[2].read_bytes(0x1000_0000, 16 * 1024)


NO_TWIN_OPS = [r for r in rows("corev") if r.twin is None and r.extension in ("XCVsimd", "XCVbitmanip")]


def test_ops_without_twins_identical_on_both_engines():
    """Each op several times on fresh random registers, each result stored: same memory and registers
    on both engines (the compiled one hands these ops to the Python reference)."""
    rng = random.Random(5)
    lines = ["    .globl _start", "_start:", "    li t2, 0x10000000"]
    count = 0
    for _ in range(4):
        for row in NO_TWIN_OPS:
            lines += [f"    li {r}, {rng.getrandbits(32):#x}" for r in ("a0", "a1", "a2")]
            values = {n: ({"rd": "a0", "rs1": "a1", "rs2": "a2"}[n] if FIELDS[n].kind is Kind.XREG
                          else rng.randrange(4 if n == "cv_radix" else 32)) for n in row.operands}
            lines += [f"    {row.mnemonic} " + ", ".join(str(values[n]) for n in row.operands),
                      f"    sw a0, {4 * count}(t2)"]
            count += 1
    lines += ["    li a7, 93", "    li a0, 0", "    ecall"]
    image = read_elf(to_elf(assemble("\n".join(lines) + "\n", "nt.s")), "nt.s")
    py, c = (_run(image, "corev", engine) for engine in ("py", "c"))
    assert py[:2] == c[:2]
    results = py[2].read_bytes(0x1000_0000, 4 * count)
    assert results == c[2].read_bytes(0x1000_0000, 4 * count)
    assert len({results[i:i + 4] for i in range(0, len(results), 4)}) > count * 3 // 4


@pytest.mark.parametrize("radix, expected", [(0, 0x0CC9A526), (1, 0x0CC65A19), (2, 0x216B244B)])
def test_bitrev_examples_of_the_manual(radix, expected):
    # CV32E40P user manual, "Bit Reverse Instruction": cv.bitrev x18, x20, radix, 4 with x20 = 0xC64A5933
    source = f".globl _start\n_start:\n li s4, 0xC64A5933\n cv.bitrev s2, s4, {radix}, 4\n mv a0, s2\n li a7, 93\n ecall\n"
    image = read_elf(to_elf(assemble(source, "b.s")), "b.s")
    for engine in ("py", "c"):
        _, regs, _ = _run(image, "corev", engine)
        assert regs[0][0][18] == expected


@pytest.mark.parametrize("op, a, b, rd, expected", [
    # operands given as (H[1], H[0]) 16-bit values; lane 0 (H[0]) is the real part
    ("cv.cplxmul.r", (0x4000, 0x2000), (0x2000, 0x4000), 0x7777_0000, 0x7777_0000 | ((0x2000 * 0x4000 - 0x4000 * 0x2000) >> 15 & 0xFFFF)),
    ("cv.cplxmul.i", (0x4000, 0x2000), (0x2000, 0x4000), 0x0000_1234, ((0x2000 * 0x2000 + 0x4000 * 0x4000) >> 15 & 0xFFFF) << 16 | 0x1234),
    ("cv.cplxmul.r.div2", (0, -0x8000), (0, -0x8000), 0, 0x4000),
    ("cv.cplxconj", (5, -7), (0, 0), 0, 0xFFFB_FFF9),
    ("cv.add.div2", (-3, 7), (1, 2), 0, (((-2) >> 1) & 0xFFFF) << 16 | (9 >> 1)),
    # H1: 0x7FFF - (-1) wraps to -0x8000, >> 3 = 0xF000; H0: -0x8000 - 1 wraps to 0x7FFF, >> 3 = 0x0FFF
    ("cv.sub.div8", (0x7FFF, -0x8000), (-1, 1), 0, 0xF000_0FFF),
    ("cv.subrotmj", (1, 2), (10, 20), 0, ((20 - 2) & 0xFFFF) << 16 | ((1 - 10) & 0xFFFF)),
])
def test_complex_and_halving_ops_on_worked_values(op, a, b, rd, expected):
    """Hand-computed from the manual's formulas (lane 0 = real = bits 15:0)."""
    def word(hi_lo):
        hi, lo = hi_lo
        return (hi & 0xFFFF) << 16 | (lo & 0xFFFF)
    operands = "a0, a1" if op == "cv.cplxconj" else "a0, a1, a2"
    source = (f".globl _start\n_start:\n li a1, {word(a):#x}\n li a2, {word(b):#x}\n li a0, {rd:#x}\n"
              f" {op} {operands}\n mv s2, a0\n li a7, 93\n ecall\n")
    image = read_elf(to_elf(assemble(source, "c.s")), "c.s")
    for engine in ("py", "c"):
        _, regs, _ = _run(image, "corev", engine)
        assert regs[0][0][18] == expected, f"{op}: {regs[0][0][18]:#010x} != {expected:#010x}"


# --- choosing the set ----------------------------------------------------------------------------------
def test_a_program_cannot_mix_the_sets():
    with pytest.raises(AsmError) as exc:
        assemble("cv.mac a0, a1, a2\nnop\np.mac a0, a1, a2\n", "mix.s")
    text = str(exc.value)
    assert text.startswith("mix.s:3:") and "cv.mac" in text and "p.mac" in text and "\n" not in text
    # the shared immediate post-increment forms go with either
    assert assemble("p.lw a0, 4(a1!)\ncv.mac a0, a1, a2\n").custom_isa == "corev"
    assert assemble("cv.lw a0, (a1), 4\np.mac a0, a1, a2\n").custom_isa == "xpulpv2"
    assert assemble("cv.lw a0, (a1), 4\nadd a0, a0, a0\n").custom_isa is None


def test_attribute_arch_names_the_set_for_hand_made_words():
    program = assemble('.attribute arch, "rv32imf_xcvmac1p0"\n.word 0x90c5b52b\n', "w.s")
    assert program.custom_isa == "corev" and read_elf(to_elf(program)).custom_isa == "corev"
    assert assemble('.attribute 5, "rv32i2p1_m2p0"\n.attribute stack_align, 16\nnop\n').custom_isa is None
    with pytest.raises(AsmError, match=r"^a\.s:2:1: .*'cv\.mac a0,a1,a2' is corev-only but '\.attribute arch"):
        assemble('.attribute arch, "rv32imf_xpulpv2"\ncv.mac a0,a1,a2\n', "a.s")
    with pytest.raises(AsmError, match="quoted arch string"):
        assemble(".attribute arch, rv32\n", "a.s")


def test_bad_custom_isa_option_is_named():
    with pytest.raises(ConfigError, match="core.custom_isa"):
        load_config(overrides={"core": {"custom_isa": "xpulpv3"}})


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    import sys
    root = Path(__file__).resolve().parent.parent
    return subprocess.run([sys.executable, "-m", "mcusim", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})


KERNEL_C = r"""
int a[32], b[32], idx[16];

__attribute__((noinline)) int dot(const int *x, const int *y, int n) {
    int s = 0;
    for (int i = 0; i < n; i++) {
        int xi = x[i], yi = y[i];
        __asm__("cv.mac %0, %1, %2" : "+r"(s) : "r"(xi), "r"(yi));   /* clang 19 does not select cv.mac */
    }
    return s;
}

__attribute__((noinline)) int clamp_sum(const int *x, const int *ix, int n, int lo, int hi) {
    int s = 0;
    for (int i = 0; i < n; i++) {
        int v = x[ix[i]];
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
        s += v;
    }
    return s;
}

int main(void) {
    for (int i = 0; i < 32; i++) { a[i] = i * 7 - 50; b[i] = 3 - i; }
    for (int i = 0; i < 16; i++) idx[i] = (i * 5) & 31;
    return (dot(a, b, 32) + clamp_sum(a, idx, 16, -20, 60)) & 0xff;
}
"""
START_S = """
    .globl _start
_start:
    li sp, 0x10010000
    call main
    li a7, 93
    ecall
"""


def _expected_kernel_result() -> int:
    a = [i * 7 - 50 for i in range(32)]
    b = [3 - i for i in range(32)]
    idx = [(i * 5) & 31 for i in range(16)]
    return (sum(x * y for x, y in zip(a, b)) + sum(min(max(a[j], -20), 60) for j in idx)) & 0xFF


def test_clang_corev_program_selects_the_set_from_its_attributes(tmp_path):
    clang, lld = shutil.which("clang-19"), shutil.which("ld.lld-19")
    if clang is None or lld is None:
        pytest.fail("clang-19 / ld.lld-19 not found: install the Debian packages clang-19 and lld-19")
    (tmp_path / "k.c").write_text(KERNEL_C)
    (tmp_path / "s.S").write_text(START_S)
    flags = ["--target=riscv32", f"-march={CLANG_MARCH}", "-mabi=ilp32", "-c"]
    subprocess.run([clang, *flags, "-O2", "k.c", "-o", "k.o"], cwd=tmp_path, check=True)
    subprocess.run([clang, *flags, "s.S", "-o", "s.o"], cwd=tmp_path, check=True)
    subprocess.run([lld, "-Ttext=0x1c000000", "-e", "_start", "s.o", "k.o", "-o", "k.elf"], cwd=tmp_path, check=True)
    image = read_elf((tmp_path / "k.elf").read_bytes(), "k.elf")
    assert image.custom_isa == "corev"
    listing = _cli("disasm", "k.elf", cwd=tmp_path).stdout
    assert "custom extensions corev" in listing
    for needed in (r"cv\.mac\s", r"cv\.min\s", r"cv\.max\s", r"cv\.lw\s+\w+,\w+\(\w+\)", r"cv\.lw\s+\w+,\(\w+\),4"):
        assert re.search(needed, listing), f"clang's output has no {needed}: {listing}"
    expected = _expected_kernel_result()
    for engine in ("c", "py"):
        run = _cli("run", "k.elf", "-q", "--engine", engine, cwd=tmp_path)
        assert run.returncode == expected, run.stderr
    # explicit --isa wins: the CORE-V words are not Xpulpv2 instructions
    wrong = _cli("run", "k.elf", "-q", "--isa", "xpulpv2", cwd=tmp_path)
    assert wrong.returncode == 3 and "illegal instruction" in wrong.stderr and wrong.stderr.count("\n") == 1
    assert "not a xpulpv2 instruction: corev's cv." in wrong.stderr and "--isa corev" in wrong.stderr
    same = _cli("run", "k.elf", "-q", "--isa", "corev", cwd=tmp_path)
    assert same.returncode == expected
