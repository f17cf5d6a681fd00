"""The assembler (kernels_asm): GNU `as` compatibility, directives, pseudo-instructions, expressions,
errors, section placement and the ELF writer. Instruction words are compared with
riscv64-unknown-elf-as 2.40 (-mno-relax, linked with riscv64-unknown-elf-ld)."""
import io
import random
import re

from mcusim.kernels_asm.cluster_ops import CLUSTER_PSEUDOS
import shutil
import struct
import subprocess

import pytest
from elftools.elf.elffile import ELFFile

from mcusim.isa.codec import encode
from mcusim.isa.disasm import disassemble_word
from mcusim.isa.fields import FIELDS, Kind
from mcusim.isa.spec import INSTRUCTIONS
from mcusim.kernels_asm import AsmError, assemble, assemble_file, to_elf, to_raw
from mcusim.kernels_asm.pseudo import PSEUDOS

TEXT = 0x1C00_0000


def words(data: bytes) -> list[int]:
    return [w for (w,) in struct.iter_unpack("<I", data)]


def text_words(source: str, **kw) -> list[int]:
    return words(assemble(source, **kw).section(".text").data)


def section_bytes(source: str, name: str) -> bytes:
    return assemble(source).section(name).data


def asm_error(source: str, **kw) -> AsmError:
    with pytest.raises(AsmError) as err:
        assemble(source, "t.s", **kw)
    return err.value


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: install binutils-riscv64-unknown-elf")
    return path


def gnu_text(source: str, tmp_path) -> bytes:
    """.text of `source` assembled by GNU as (-mno-relax) and linked at 0x1C000000."""
    src, obj, elf = tmp_path / "gnu.s", tmp_path / "gnu.o", tmp_path / "gnu.elf"
    src.write_text(source)
    subprocess.run([tool("riscv64-unknown-elf-as"), "-march=rv32imf_zfh_zicsr_zifencei", "-mabi=ilp32",
                    "-mno-relax", "-o", str(obj), str(src)], check=True, capture_output=True)
    subprocess.run([tool("riscv64-unknown-elf-ld"), "-m", "elf32lriscv", f"-Ttext={TEXT:#x}", "-e", "_start",
                    "-o", str(elf), str(obj)], check=True, capture_output=True)
    with open(elf, "rb") as f:
        return ELFFile(f).get_section_by_name(".text").data()


# --- Comparison with GNU as ------------------------------------------------------------------------
# Only mnemonics GNU binutils knows (RV32IMF, Zicsr, Zifencei, Zfh): PULP ones are checked below
# against the words in /work/shared/REFERENCE.md. Data alignments stay above 4 bytes in code,
# where GNU without -mrelax skips .align 2 (see test_align_in_code_always_aligns).
GNU_CORPUS = r"""
    .text
    .globl _start
_start:
    add a0, a1, a2
    sub t0, t1, t2
    addi sp, sp, -16
    andi a0, a0, 0xff
    ori s0, s1, -1
    xori a3, a4, 0x7ff
    slli a0, a0, 31
    srai a1, a2, 3
    srli a1, a2, 0x1f
    slt a0, a1, a2
    sltiu a0, a1, -2048
    lui a0, 0xfffff
    auipc gp, 0x10
    lw a0, 0(sp)
    lh a1, -2(s0)
    lbu a2, 2047(a3)
    sw ra, 12(sp)
    sh a1, -2048(fp)
    sb zero, (a0)
    mul a0, a1, a2
    mulhsu t0, t1, t2
    divu a0, a1, a2
    remu a3, a4, a5
    fence
    fence rw, w
    fence.i
    ecall
    ebreak
    csrrw a0, mstatus, a1
    csrrsi zero, 0x7c0, 5
    csrrci t0, mie, 31
    csrr t0, mhartid
    csrw mtvec, t0
    csrw mtvec, 1
    csrs mstatus, 8
    csrs mstatus, a1
    csrc mie, a0
    csrc mie, 4
    csrwi mscratch, 7
    csrsi mscratch, 7
    csrci mscratch, 7
    rdcycle a0
    rdcycleh a0
    rdinstret a1
    rdinstreth a1
    frcsr a0
    fscsr a0, a1
    fscsr a1
    frrm a0
    fsrm a2
    fsrm a3, a2
    fsrmi 1
    fsrmi a0, 2
    frflags a3
    fsflags a4
    fsflags a5, a4
    fsflagsi 3
    fsflagsi a0, 4
    nop
    unimp
    mv a0, a1
    not t0, t1
    neg a2, a3
    seqz a0, a1
    snez a0, a1
    sltz a0, a1
    sgtz a0, a1
    zext.b a0, a1
    add a0, a0, 5
    and a0, a1, 12
    or a0, a1, -3
    xor a0, a1, 7
    slt a0, a1, -1
    sltu a0, a1, 9
    sll a1, a1, 2
    srl a1, a1, 3
    sra a1, a1, 4
    li a0, 0
    li a1, -1
    li a2, 2047
    li a3, -2048
    li a4, 2048
    li a5, 0x12345678
    li a6, 0x80000000
    li a7, 0xfffff800
    li t0, 0x7ffff800
    li t1, 0xfffff
    li t2, 4096
    li s2, (1 << 12) + 0x800
    li s3, -2147483648
1:  beqz a0, 1b
    bnez a0, 1f
    blez a1, _start
    bgez a1, 1f
    bltz a2, 1b
    bgtz a2, 1f
1:  bgt a0, a1, 1b
    ble a0, a1, 1b
    bgtu a0, a1, far
    bleu a0, a1, far
    beq a0, a1, . + 8
    bge s1, s2, _start
    j 1b
    jal far
    jal ra, far
    jal t0, 1f
1:  jr a0
    jr a1, 8
    jr 8(a1)
    jalr a1
    jalr t0, a1
    jalr t0, a1, 4
    jalr t0, 4(a1)
    jalr 4(a1)
    ret
    call far
    tail far
    la a0, table
    lla a1, table + 8
    lw a2, table
    lb a2, table
    lh a2, table
    lhu a2, table
    lbu a2, table + 1
    sw a2, table, t3
    sh a2, table + 2, t4
    sb a2, table + 3, t5
3:  auipc a0, %pcrel_hi(table)
    addi a0, a0, %pcrel_lo(3b)
2:  auipc a1, %pcrel_hi(table+4)
    lw a1, %pcrel_lo(2b)(a1)
    lui a0, %hi(table)
    addi a0, a0, %lo(table)
    sw a1, %lo(table)(a0)
    addi a0, a0, 'A'
    addi a0, a0, 2 + 3 & 1
    addi a0, a0, (10 - 4) * 2 >> 1
far:
    flw fa0, 4(a0)
    fsw fa1, -4(sp)
    fadd.s fa0, fa1, fa2
    fadd.s fa0, fa1, fa2, rtz
    fsub.s ft0, ft1, ft2, rne
    fmul.s fs0, fs1, fa7
    fdiv.s fa0, fa1, fa2, rup
    fsqrt.s fa0, fa1
    fmadd.s fa0, fa1, fa2, fa3
    fnmsub.s fa0, fa1, fa2, fa3, rmm
    fmin.s fa0, fa1, fa2
    fmax.s fa0, fa1, fa2
    fcvt.w.s a0, fa0, rtz
    fcvt.wu.s a0, fa0
    fcvt.s.w fa0, a0
    fcvt.s.wu fa0, a0, rdn
    fmv.x.w a0, fa0
    fmv.w.x fa0, a0
    fmv.x.s a0, fa1
    fmv.s.x fa1, a0
    feq.s a0, fa0, fa1
    flt.s a0, fa0, fa1
    fle.s a0, fa0, fa1
    fclass.s a0, fa0
    fsgnj.s fa0, fa1, fa2
    fmv.s fa0, fa1
    fabs.s fa0, fa1
    fneg.s fa0, fa1
    flw fa0, table, t0
    fsw fa0, table, t0
    flh fa1, table, t1
    fsh fa1, table, t1
    flh fa0, 2(a0)
    fsh fa0, 2(a0)
    fadd.h fa0, fa1, fa2
    fmadd.h fa0, fa1, fa2, fa3
    fmul.h fa0, fa1, fa2, rtz
    fcvt.s.h fa0, fa1
    fcvt.h.s fa0, fa1
    fcvt.h.w fa0, a0
    fcvt.w.h a0, fa0, rtz
    fmv.x.h a0, fa0
    fmv.h.x fa0, a0
    fsgnjx.h fa0, fa1, fa2
    fmv.h fa0, fa1
    fneg.h fa0, fa1
    fabs.h fa0, fa1
    fclass.h a0, fa1
    fsqrt.h fa0, fa1
    .p2align 3
table:
    .word 1, -1, 0xdeadbeef, table, far - _start, . - table, . - table
    .half 1, -2, 0xffff
    .byte 1, 2, 'z', -128
    .float 0.1, -1.5, 16777219, 1.17549435e-38, 3.4028235e38, 1e-45, inf, nan
    .float16 0.1, 65504, 6e-8, -0.0, nan
    .double 0.1, -2.5e-300
    .string "ab\tc"
    .ascii "xyz"
    .balign 8
    .zero 3
    .space 2, 0x55
    .align 3
    .word 7 / 2, -7 / 2, -7 % 3, 1 << 4 | 1, ~0, 0b1011, 010, 2 == 1 + 1, 1 || 0 && 0, 3 < 4 == 0
    .4byte 5
    .2byte 6
    .short 7
    .long 8
    .8byte 0x123456789
"""


def test_gnu_corpus_words_match(tmp_path):
    program = assemble(GNU_CORPUS, "corpus.s")
    ours = program.section(".text").data
    gnu = gnu_text(GNU_CORPUS, tmp_path)
    # GNU pads the end of .text to the section's alignment (with nops): that tail is not ours.
    assert len(ours) <= len(gnu) < len(ours) + 16 and set(words(gnu[len(ours):])) <= {0x13}
    lines = GNU_CORPUS.split("\n")
    diffs = []
    for i, (o, g) in enumerate(zip(words(ours), words(gnu), strict=False)):
        if o != g:
            pc = TEXT + 4 * i
            line = program.line_map.get(pc, ("", 0))[1]
            diffs.append(f"{pc:#x} line {line} `{lines[line - 1].strip() if line else 'data'}`: ours {o:#010x} "
                         f"({disassemble_word(o, pc)}), GNU {g:#010x} ({disassemble_word(g, pc)})")
    assert not diffs, "\n".join(diffs)


def test_gnu_corpus_covers_every_pseudo_instruction():
    used = {m.group(1) for m in re.finditer(r"^\s*(?:\d+:)?\s*([a-z][\w.]*)", GNU_CORPUS, re.M)}
    # The cluster pseudo-ops are mcusim's own (GNU as has none); tests/test_cluster.py runs them.
    cluster = {m for m, _, _ in CLUSTER_PSEUDOS}
    # GNU as has no CORE-V: tests/test_xcv.py checks the cv.* aliases against llvm-mc 19.
    corev = {m for m in PSEUDOS if m.startswith("cv.")}
    assert set(PSEUDOS) - cluster - corev - used == set()


def test_pulp_encodings_from_reference():
    src = """
        lp.setupi x1, 100, . + 36
        p.lw a0, 4(a1!)
        p.lw a0, a2(a1!)
        p.sw a0, 4(a1!)
        p.mac a0, a1, a2
        pv.add.h a0, a1, a2
        fadd.h fa0, fa1, fa2
        fmadd.h fa0, fa1, fa2, fa3
        vfadd.h fa0, fa1, fa2
        vfmac.h fa0, fa1, fa2
        vfdotpex.s.h fa0, fa1, fa2
        vfcpka.h.s fa0, fa1, fa2
        vfmv.x.h a0, fa1
        fmulex.s.h fa0, fa1, fa2
    """
    assert text_words(src) == [0x064950FB, 0x0045A50B, 0x20C5F50B, 0x00A5A22B, 0x42C58533, 0x00C58557,
                               0x04C5F553, 0x6CC5F543, 0x82C5A533, 0x90C5A533, 0x96C5A533, 0xB0C5A533,
                               0x9805A533, 0x4CC5F553]


def _sample_value(name: str, i: int) -> int:
    f = FIELDS[name]
    if f.kind in (Kind.XREG, Kind.FREG):
        return (7 * i + 3 + len(name)) % 32
    special = {Kind.PCREL: 8, Kind.CSR: 0x300, Kind.RM: 1, Kind.LOOP: 1, Kind.FENCE: 3}
    if f.kind in special:
        return special[f.kind]
    low, high = f.value_range
    v = low + (high - low) // 3
    return v - v % (1 << f.implicit_zero_bits)


def test_every_table_entry_assembles_from_its_disassembly():
    # The assembler is generic over the table: every entry (whoever added it) re-assembles from the
    # disassembler's text to the same word.
    expected, lines = [], []
    for i, entry in enumerate(INSTRUCTIONS):
        word = encode(entry, {n: _sample_value(n, i) for n in entry.operands})
        expected.append(word)
        lines.append(disassemble_word(word, TEXT + 4 * i))
    got = text_words("\n".join(lines))
    bad = [f"{line}: {w:#010x} -> {g:#010x}" for line, w, g in zip(lines, expected, got, strict=True) if w != g]
    assert not bad, "\n".join(bad)


def test_hardware_loop_targets_are_labels():
    src = """
        lp.setupi x0, 10, end
        addi a0, a0, 1
        addi a1, a1, 1
    end: addi a2, a2, 1
        lp.starti x1, start
        lp.endi x1, stop
    start: nop
    stop: nop
    """
    w = text_words(src)
    assert w[0] == text_words("lp.setupi x0, 10, . + 12")[0]
    assert w[4] == text_words("lp.starti x1, . + 8")[0]
    assert w[5] == text_words("lp.endi x1, . + 8")[0]


# --- Pseudo-instructions whose expansion depends on values -----------------------------------------
def test_li_sequences():
    assert text_words("li a0, 5") == [0x00500513]
    assert text_words("li a0, 0x12345000") == [0x12345537]
    assert len(text_words("li a0, 0x12345678")) == 2


def test_li_of_a_forward_symbol_takes_two_instructions():
    w = text_words("li a0, N\nli a1, N\n.equ N, 5")
    assert w == [0x00000537, 0x00550513, 0x000005B7, 0x00558593]


def test_li_of_an_address_takes_two_instructions():
    prog = assemble("li a0, buf\n.data\nbuf: .word 0")
    buf = prog.symbol("buf")
    lui, addi = words(prog.section(".text").data)
    assert lui >> 12 == (buf + 0x800) >> 12 and (addi >> 20) == buf & 0xFFF


def test_la_of_a_constant_is_li():
    assert text_words("la a0, 0x1234") == text_words("li a0, 0x1234")


def test_la_call_and_symbol_loads_reach_their_targets():
    prog = assemble("""
        la a0, var
        call fn
        lw a1, var
        sw a1, var, t0
        .section .tcdm
    var: .word 0
        .text
    fn: ret
    """)
    var, fn = prog.symbol("var"), prog.symbol("fn")
    w = words(prog.section(".text").data)

    def target(pc, auipc, low12):
        low = low12 - 4096 if low12 & 0x800 else low12
        return (pc + ((auipc >> 12) << 12) + low) & 0xFFFF_FFFF
    assert target(TEXT, w[0], w[1] >> 20) == var
    assert target(TEXT + 8, w[2], w[3] >> 20) == fn and (w[2] >> 7) & 31 == 1
    assert target(TEXT + 16, w[4], w[5] >> 20) == var
    store_imm = ((w[7] >> 25) << 5) | ((w[7] >> 7) & 31)
    assert target(TEXT + 24, w[6], store_imm) == var and (w[6] >> 7) & 31 == 5
    assert var == 0x1000_0000


# --- Labels and expressions ------------------------------------------------------------------------
def test_numeric_local_labels():
    w = text_words("1: nop\n1: j 1b\nj 1f\n1: j 1b\nbeq a0, a1, 1b")
    assert w[1] == 0x0000006F            # j 1b -> itself
    assert w[2] == 0x0040006F            # j 1f -> next instruction
    assert w[3] == 0x0000006F
    assert w[4] == text_words("beq a0, a1, . - 4")[0]


def test_symbols_with_dots_dollars_and_several_labels_per_line():
    prog = assemble("a.b$c: _x: .Lfoo: nop\nj .Lfoo")
    assert prog.symbol("a.b$c") == prog.symbol("_x") == prog.symbol(".Lfoo") == TEXT
    assert text_words("a.b$c: _x: .Lfoo: nop\nj .Lfoo")[1] == 0xFFDFF06F


@pytest.mark.parametrize("expr, value", [
    ("2 + 3 & 1", 3), ("1 + 1 << 2", 5), ("6 - 2 | 1", 3), ("4 | 1 * 2", 6), ("1 << 2 * 3", 12),
    ("5 ^ 3 & 1", 0), ("~1 + 1", -1), ("-2 * 3", -6), ("7 && 0", 0), ("1 || 0 && 0", 1),
    ("2 == 1 + 1", -1), ("3 < 4 == 0", 0), ("1 <> 2", -1), ("2 >= 3", 0), ("!0", 1),
    ("-7 / 2", -3), ("-7 % 3", -1), ("7 % -3", 1), ("0x10 + 0b11 + 010 + 'a'", 16 + 3 + 8 + 97),
    ("'\\n'", 10), ("(1 + 2) * 3", 9), ("%hi(0x12345FFF)", 0x12346), ("%lo(0x12345FFF)", -1),
    ("%hi(0x800)", 1), ("%lo(0x800)", -2048),
])
def test_expression_values(expr, value):
    assert section_bytes(f".data\n.word {expr}", ".data") == struct.pack("<i", value)


def test_dot_label_differences_and_forward_references():
    prog = assemble("""
    start: nop
        .word end - start, . - start, . - start
        .space 20 - (. - start)
    mid: .word mid
    end:
    """)
    w = words(prog.section(".text").data)
    assert w[1:4] == [24, 8, 12]          # `.` is the address of each item, as in GNU
    assert prog.symbol("mid") == TEXT + 20 and w[5] == TEXT + 20


def test_equ_set_and_assignment():
    src = """
        .equ A, 3
        .set B, A * 2
        C = B + 1
        .equ D, later - start
        .data
    start: .word A, B, C, D
        .set B, 100
        .word B
    later:
    """
    assert words(section_bytes(src, ".data")) == [3, 6, 7, 20, 100]
    assert "already defined" in asm_error(".equiv X, 1\n.equiv X, 2").message
    assert "label" in asm_error("x: nop\n.equ x, 1").message


def test_hi_lo_with_forward_symbol():
    prog = assemble("lui a0, %hi(v)\naddi a0, a0, %lo(v)\nlw a1, %lo(v)(a0)\n.data\n.space 0x7fc\nv: .word 1")
    v = prog.symbol("v")
    w = words(prog.section(".text").data)
    lo = ((w[1] >> 20) ^ 0x800) - 0x800
    assert ((w[0] >> 12) << 12) + lo == v
    assert w[2] >> 20 == w[1] >> 20


# --- Directives ------------------------------------------------------------------------------------
def test_data_directives():
    src = """
        .data
        .byte 1, -1, 'A'
        .half 0x1234, -2
        .2byte 1
        .short 2
        .word 0x11223344
        .4byte 3
        .long 4
        .int 5
        .dword -1
        .8byte 6
        .quad 7
    """
    expected = (bytes([1, 255, 65]) + struct.pack("<hhhh", 0x1234, -2, 1, 2) + struct.pack("<Iiii", 0x11223344, 3, 4, 5)
                + struct.pack("<qqq", -1, 6, 7))
    assert section_bytes(src, ".data") == expected


def test_float_directives_round_exactly():
    data = section_bytes(""".data
        .float 0.1, 1.5, -0.0, 16777217, 1e-45, 0.7e-45, 3.4028235e38
        .single 2.5
        .float16 0.1, 2049, 65504, 5.96e-8
        .double 0.1
    """, ".data")
    f32 = struct.unpack_from("<8I", data)
    # 16777217 is a tie: round to even (GNU as rounds this tie away from zero, to 0x4b800001)
    assert f32 == (0x3DCCCCCD, 0x3FC00000, 0x80000000, 0x4B800000, 0x00000001, 0x00000000, 0x7F7FFFFF,
                   0x40200000)
    assert struct.unpack_from("<4H", data, 32) == (0x2E66, 0x6800, 0x7BFF, 0x0001)
    assert struct.unpack_from("<d", data, 40)[0] == 0.1
    assert "out of range" in asm_error(".float 1e39").message
    assert "bad floating-point" in asm_error(".float 1.5x").message


def test_string_directives():
    data = section_bytes(r""".data
        .string "a;b#c", "\t\"\\"
        .asciz "x"
        .ascii "yz", "\101\x42"
    """, ".data")
    assert data == b'a;b#c\0\t"\\\0x\0yzAB'


def test_space_skip_zero_fill():
    data = section_bytes(".data\n.space 3\n.skip 2, 0xAB\n.zero 2\n.fill 2, 2, 0x1234\n.fill 1, 8, -1\n.fill 3",
                         ".data")
    assert data == bytes(3) + b"\xab\xab" + bytes(2) + b"\x34\x12\x34\x12" + b"\xff" * 4 + bytes(4) + bytes(3)


def test_alignment_directives():
    data = section_bytes(""".data
        .byte 1
        .align 2
        .byte 2
        .p2align 3, 0xEE
        .byte 3
        .balign 4
        .byte 4
        .balign 16, 0, 2
        .byte 5
        .p2align 2,,1
        .byte 6
    """, ".data")
    assert data == (b"\x01\0\0\0" + b"\x02" + b"\xee" * 3 + b"\x03\0\0\0" + b"\x04" + b"\x05" + b"\x06")


def test_align_in_code_pads_like_gnu_and_always_aligns():
    # GNU's code padding (zero byte for an odd gap, c.nop, then nops); unlike GNU as -mno-relax
    # without the C extension, .align 2 in code really aligns.
    w = words(section_bytes(".byte 1\n.p2align 4\nnop\n.byte 1, 2\n.align 2\nnop", ".text"))
    assert w[:4] == [0x00010001, 0x00000013, 0x00000013, 0x00000013]
    assert w[4:] == [0x00000013, 0x00010201, 0x00000013]


def test_sections_and_placement():
    prog = assemble("""
        .data
    d: .word 1
        .text
    t: nop
        .bss
    b: .space 8
        .rodata
    r: .word 2
        .section .tcdm
    l1: .word 3
        .section .l1.buf, "aw", @nobits
    nb: .space 4
        .section .other
    o: .word 4
        .section .text.hot, "ax"
    h: nop
    """)
    names = {s.name: s for s in prog.sections}
    assert names[".text"].address == 0x1C000000
    assert names[".rodata"].address == 0x1C000010
    assert names[".data"].address == 0x1C000020
    assert names[".bss"].address == 0x1C000030 and names[".bss"].nobits and names[".bss"].size == 8
    assert names[".other"].address == 0x1C000040 and names[".text.hot"].address == 0x1C000050
    assert names[".tcdm"].address == 0x10000000 and names[".l1.buf"].address == 0x10000010
    assert names[".l1.buf"].nobits and names[".l1.buf"].data == b""
    assert names[".text.hot"].flags == "ax" and names[".rodata"].flags == "a" and names[".data"].flags == "aw"
    assert prog.entry == 0x1C000000


def test_section_addresses_override():
    prog = assemble(".text\nnop\n.data\nx: .word 1\n.section .tcdm\ny: .word 2",
                    section_addresses={".text": 0x80000000, ".tcdm": 0x10001000})
    assert prog.section(".text").address == 0x80000000
    assert prog.symbol("x") == 0x80000010 and prog.symbol("y") == 0x10001000
    err = asm_error(".text\n.space 32\n.data\n.word 1", section_addresses={".data": 0x1C000010})
    assert "overlap" in err.message


def test_section_stack_and_previous():
    prog = assemble("""
        nop
        .pushsection .data
    a: .word 1
        .popsection
    b: nop
        .data
        .previous
    c: nop
    """)
    assert prog.symbol("a") == 0x1C000010 and prog.symbol("b") == TEXT + 4 and prog.symbol("c") == TEXT + 8


def test_symbol_directives_and_entry():
    prog = assemble("""
        .globl _start, g
        .weak w
        .local l
        .equ ABS, 42
        .globl ABS
        .type f, @function
    l: nop
    _start: nop
    f: nop
        nop
        .size f, . - f
    g: w: nop
        .file "x.c"
        .ident "cc"
        .option norvc
        .attribute arch, "rv32i"
        .cfi_startproc
    """)
    s = prog.symbols
    assert prog.entry == TEXT + 4
    assert s["_start"].binding == "global" and s["w"].binding == "weak" and s["l"].binding == "local"
    assert s["f"].type == "function" and s["f"].size == 8
    assert s["ABS"].value == 42 and s["ABS"].section is None


def test_macros():
    w = text_words(r"""
        .macro store reg, off=0
        sw \reg, \off(sp)
        .endm
        .macro twice insn
        \insn
        \insn
        .endm
        store ra
        store a0, 4
        store off=8, reg=a1
        store a2 12
        twice nop
    """)
    assert w == text_words("sw ra, 0(sp)\nsw a0, 4(sp)\nsw a1, 8(sp)\nsw a2, 12(sp)\nnop\nnop")


def test_macro_arguments_left_out_are_empty():
    # as GNU as: parameters without an argument or a default expand to nothing
    assert text_words(".macro m x, y\nnop\n.endm\nm\nm 1\nm 1, 2") == text_words("nop\nnop\nnop")


def test_macro_unique_labels():
    prog = assemble(".macro m\nL\\@: nop\n.endm\nm\nm")
    assert len([n for n in prog.symbols if n.startswith("L")]) == 2


def test_comments_and_separators():
    w = text_words("""/* a block
    comment */ addi a0, a0, 1 /* inline */ ; addi a1, a1, '#'  // trailing
    # a full-line comment
    addi a2, a2, ';' # 'x'
    .end
    this is not assembled
    """)
    assert w == text_words("addi a0, a0, 1\naddi a1, a1, 35\naddi a2, a2, 59")


def test_memory_operand_offset_forms():
    assert text_words("lw a0, (a1)") == text_words("lw a0, 0(a1)")
    assert text_words("lw a0, (4)(a1)") == text_words("lw a0, 4(a1)")
    assert text_words("lw a0, (2 + 2) * 2(a1)") == text_words("lw a0, 8(a1)")
    assert text_words("p.lw a0, (a1!)") == text_words("p.lw a0, 0(a1!)")


def test_defaults_may_be_omitted():
    assert text_words("fadd.s fa0, fa1, fa2") == text_words("fadd.s fa0, fa1, fa2, dyn")
    assert text_words("fence") == text_words("fence iorw, iorw")


# --- Errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("source, line, col, message", [
    ("nop\n  addx a0, a0, 1", 2, 3, "unknown instruction 'addx' (did you mean add"),
    ("  .wrod 5", 1, 3, "unknown directive '.wrod' (did you mean .word"),
    ("addi a0, a0, 5000", 1, 14, "addi: imm12 value 5000 out of range [-2048, 2047]"),
    ("slli a0, a0, 32", 1, 14, "shamt value 32 out of range [0, 31]"),
    ("nop\nbeq a0, a1, nowhere", 2, 13, "undefined symbol 'nowhere'"),
    ("x: nop\nx: nop", 2, 1, "symbol 'x' is already defined (first defined at t.s:1)"),
    ("beq a0, a1, . + 2", 1, 13, "misaligned branch target 0x1c000002"),
    ("j . + 0x200000", 1, 3, "jal: target 0x1c200000 is out of range"),
    ("lw a0, 4(x32)", 1, 10, "bad register name 'x32'"),
    ("sub a0, a1, q0", 1, 13, "expected an integer register (x0-x31 or ABI name), found 'q0'"),
    ("fadd.s a0, fa1, fa2", 1, 8, "expected a floating-point register"),
    ("add a0, a1", 1, 11, "expected ','"),
    ("add a0, a1, a2, a3", 1, 15, "too many operands"),
    ("addi a0, a0,", 1, 13, "missing operand imm12"),
    ("p.lw a0, 4(a1", 1, 14, "forms of p.lw: p.lw rd, imm12(rs1!) | p.lw rd, rs2(rs1!) | p.lw rd, rs2(rs1)"),
    ("fadd.s fa0, fa1, fa2, rxx", 1, 23, "bad rounding mode 'rxx'"),
    ("lp.setupi x2, 10, end", 1, 11, "bad hardware-loop index 'x2'"),
    ("fence rx, w", 1, 7, "bad fence set 'rx'"),
    ("csrr a0, nosuchcsr", 1, 10, "unknown CSR 'nosuchcsr'"),
    ("lw a0, 100", 1, 11, "forms of lw: lw rd, imm12(rs1) | lw rd, symbol"),
    ("1: j 2b", 1, 6, "local label '2b': no '2:' before this point"),
    ("j 1f", 1, 3, "local label '1f' is not defined after this point"),
    ("li a0, 09", 1, 8, "bad octal number '09'"),
    ("li a0, 12ab", 1, 8, "bad number '12ab'"),
    ("li a0, 0x100000000", 1, 8, "li value 0x100000000 does not fit in 32 bits"),
    (".word 1/0", 1, 8, "division by zero"),
    (".word (1", 1, 9, "missing ')' to match '('"),
    (".word 1 +", 1, 10, "missing expression"),
    (".byte 256", 1, 7, "value 0x100 does not fit in 1 byte(s)"),
    (".space n\nn = 3", 1, 8, "expected a constant expression"),
    (".bss\n.word 1", 2, 7, "non-zero data in nobits section .bss"),
    (".bss\nnop", 2, 1, "instructions in nobits section .bss"),
    (".balign 3", 1, 9, "alignment 3 is not a power of 2"),
    (".string abc", 1, 9, "expected a string, found 'abc'"),
    ('.string "abc', 1, 9, "unterminated string"),
    ("  +++", 1, 3, "expected a label, directive or instruction"),
    ("addi a0, a0, %pcrel_lo(x)\nx: nop", 1, 14, "%pcrel_lo: no earlier instruction with %pcrel_hi"),
    (".macro m\nnop", 1, 1, "macro 'm' has no .endm"),
    (".macro m x, y\naddi a0, a0, \\x\n.endm\nm", 4, 1, "missing operand imm12 (expected: addi rd, rs1, imm12)"),
    (".endm", 1, 1, ".endm without .macro"),
    (".macro m\nm\n.endm\nm", 4, 1, "recursive macro"),
    (".macro m\naddi a0, a0, 5000\n.endm\nnop\n  m", 5, 3, "out of range [-2048, 2047] (in an expansion of macro 'm')"),
    ("addi a0, a0, a1", 1, 14, "register 'a1' where an expression was expected"),
    (". = 4", 1, 1, "assigning to '.' is not supported"),
    (".word " + "(" * 2000 + "1" + ")" * 2000, 1, 1, "nested too deeply"),
])
def test_errors(source, line, col, message):
    err = asm_error(source)
    assert message in err.message
    assert (err.file, err.line, err.column) == ("t.s", line, col)
    assert str(err) == f"t.s:{line}:{col}: error: {err.message}"


def test_assemble_file_and_unreadable_file(tmp_path):
    path = tmp_path / "k.s"
    path.write_text("nop\naddi a0, a0, 9999\n")
    with pytest.raises(AsmError) as err:
        assemble_file(path)
    assert str(err.value).startswith(f"{path}:2:14: error:")
    with pytest.raises(AsmError):
        assemble_file(tmp_path / "missing.s")


def test_mangled_input_raises_only_asm_errors():
    pool = [line for line in GNU_CORPUS.split("\n") if line.strip()]
    pool += [".macro m a", ".endm", "m 1", '.section .x, "aw", @nobits', ".popsection", "%lo(", "1f:", "'"]
    rnd = random.Random(7)
    for _ in range(400):
        lines = []
        for _ in range(rnd.randint(1, 4)):
            line = rnd.choice(pool)
            i = rnd.randrange(len(line) + 1)
            junk = rnd.choice(["", "(", ")", ",", "!", '"', "%", "1b", "x", "#", "\\", "::", "+"])
            line = line[:i] + junk + line[i + 1:]
            lines.append(line)
        try:
            assemble("\n".join(lines), "f.s")
        except AsmError as exc:
            assert str(exc).startswith("f.s:")


# --- Output ----------------------------------------------------------------------------------------
ELF_SOURCE = """
    .globl _start
    .globl tohost
_start:
    la a0, buf
    lw a1, 0(a0)
loop:
    addi a1, a1, -1
    bnez a1, loop
    fadd.h fa0, fa1, fa2
    j .
    .data
buf: .word 3
tohost: .word 0
begin_signature: .word 1, 2
end_signature:
    .bss
scratch: .space 64
    .section .tcdm
tbuf: .space 16
"""


def test_elf_reads_back_with_pyelftools():
    prog = assemble(ELF_SOURCE)
    elf = ELFFile(io.BytesIO(to_elf(prog)))
    assert elf.elfclass == 32 and elf.little_endian
    assert elf["e_machine"] == "EM_RISCV" and elf["e_type"] == "ET_EXEC" and elf["e_flags"] == 0
    assert elf["e_entry"] == prog.symbol("_start") == TEXT
    segments = [(s["p_vaddr"], s["p_filesz"], s["p_memsz"], s["p_flags"]) for s in elf.iter_segments()]
    assert (TEXT, prog.section(".text").size, prog.section(".text").size, 5) in segments
    bss = prog.section(".bss")
    assert (bss.address, 0, 64, 6) in segments
    assert elf.get_section_by_name(".text").data() == prog.section(".text").data == to_raw(prog)
    assert elf.get_section_by_name(".data").data() == prog.section(".data").data
    assert elf.get_section_by_name(".bss")["sh_type"] == "SHT_NOBITS"
    symbols = {s.name: s for s in elf.get_section_by_name(".symtab").iter_symbols() if s.name}
    for name in ("_start", "loop", "buf", "tohost", "begin_signature", "end_signature", "scratch", "tbuf"):
        assert symbols[name]["st_value"] == prog.symbol(name), name
    assert symbols["_start"]["st_info"]["bind"] == "STB_GLOBAL"
    assert symbols["loop"]["st_info"]["bind"] == "STB_LOCAL"
    for seg in elf.iter_segments():
        assert seg["p_offset"] % seg["p_align"] == seg["p_vaddr"] % seg["p_align"]


def test_elf_accepted_by_binutils(tmp_path):
    path = tmp_path / "prog.elf"
    path.write_bytes(to_elf(assemble(ELF_SOURCE)))
    readelf = subprocess.run([tool("riscv64-unknown-elf-readelf"), "-a", "-W", str(path)],
                             capture_output=True, text=True)
    assert readelf.returncode == 0 and readelf.stderr == "" and "warning" not in readelf.stdout.lower()
    assert "Tag_RISCV_arch" in readelf.stdout
    dump = subprocess.run([tool("riscv64-unknown-elf-objdump"), "-d", str(path)], capture_output=True, text=True)
    assert dump.returncode == 0 and dump.stderr == ""
    assert re.search(r"<loop>:", dump.stdout) and "fadd.h\tfa0,fa1,fa2" in dump.stdout
    assert "bnez\ta1,1c00000c <loop>" in dump.stdout


def test_raw_is_text_only():
    prog = assemble("nop\n.data\n.word 5")
    assert to_raw(prog) == struct.pack("<I", 0x13)


def test_line_map_points_at_source_lines():
    prog = assemble("nop\n\nli a0, 0x12345678\n", "k.s")
    assert prog.line_map == {TEXT: ("k.s", 1), TEXT + 4: ("k.s", 3), TEXT + 8: ("k.s", 3)}
