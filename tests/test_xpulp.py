"""Xpulpv2 integer extensions: encodings against independent vectors, and semantics on edge values.

Encodings: tests/vectors/xpulp_encodings.txt (provenance in tests/vectors/README.md) holds words
derived from the PULP binutils MATCH/MASK constants and operand encoders, not from our table.
Semantics: each instruction is encoded, written to memory and executed with Hart.step; expected
values are worked out by hand.
"""
import re
from pathlib import Path

import pytest

from mcusim.isa.codec import decode, encode, entries
from mcusim.isa.disasm import disassemble_word
from mcusim.isa.fields import FIELDS, X_REGISTERS, Kind
from mcusim.isa.spec import INSTRUCTIONS, Instr
from mcusim.simulator.hart import Hart, Trap
from mcusim.simulator.memory import Memory

VECTORS = Path(__file__).parent / "vectors" / "xpulp_encodings.txt"
RAM = 0x1000_0000
DATA = RAM + 0x8000
A0, A1, A2, A3, T0, T1, T2, T3, T4 = 10, 11, 12, 13, 5, 6, 7, 28, 29
M32 = 0xFFFF_FFFF


# --- encodings ---------------------------------------------------------------------------------------
def read_vectors() -> list[tuple[int, str]]:
    out = []
    for line in VECTORS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            word, text = line.split(None, 1)
            out.append((int(word, 16), " ".join(text.split())))
    return out


def normalise(text: str) -> str:
    return re.sub(r",\s+", ",", " ".join(text.split()))


def parse_operands(entry: Instr, text: str, pc: int = 0) -> dict[str, int]:
    """Operand values of `text` (objdump style) read through the entry's syntax template."""
    pattern = "".join(re.escape(t) if t in ",()!" else r"([^,()!]+)" for t in entry.template)
    m = re.fullmatch(pattern, text)
    assert m, f"{text!r} does not fit the syntax {entry.syntax!r}"
    values = {}
    for name, raw in zip(entry.operands, m.groups()):
        kind = FIELDS[name].kind
        if kind is Kind.XREG:
            values[name] = X_REGISTERS[raw]
        elif kind is Kind.LOOP:
            values[name] = int(raw.removeprefix("x"))
        elif kind is Kind.PCREL:
            target = int(raw, 0)
            values[name] = target - pc if target < 0x8000_0000 else target - (1 << 32) - pc
        else:
            values[name] = int(raw, 0)
    return values


def test_vector_file_covers_every_xpulp_entry_and_the_reference_words():
    vectors = read_vectors()
    covered = {decode(w).instr.key for w, _ in vectors if decode(w) is not None}
    missing = [i.key for i in INSTRUCTIONS if i.extension == "Xpulpv2" and i.key not in covered]
    assert not missing, f"no vector for {missing}"
    reference = {(0x0045A50B, "p.lw a0,4(a1!)"), (0x20C5F50B, "p.lw a0,a2(a1!)"),
                 (0x00A5A22B, "p.sw a0,4(a1!)"), (0x064950FB, "lp.setupi x1,100,0x24"),
                 (0x42C58533, "p.mac a0,a1,a2"), (0x00C58557, "pv.add.h a0,a1,a2")}
    assert reference <= set(vectors)


def test_vectors_decode_encode_and_disassemble():
    failures = []
    for word, text in read_vectors():
        mnemonic, _, operands = text.partition(" ")
        d = decode(word)
        if d is None or d.instr.mnemonic != mnemonic:
            failures.append(f"{word:08x} {text}: decodes as {d}")
            continue
        values = parse_operands(d.instr, operands)
        if values != d.values:
            failures.append(f"{word:08x} {text}: decoded operands {d.values} != text {values}")
        if encode(d.instr, values) != word:
            failures.append(f"{word:08x} {text}: encodes to {encode(d.instr, values):08x}")
        if normalise(disassemble_word(word)) != text:
            failures.append(f"{word:08x} {text}: disassembles as {disassemble_word(word)!r}")
    assert not failures, "\n".join(failures)


# --- execution harness ---------------------------------------------------------------------------------
def entry(mnemonic: str, form: str = "") -> Instr:
    (e,) = [e for e in entries(mnemonic) if e.form == form]
    return e


def hart() -> Hart:
    mem = Memory()
    mem.add_region("ram", RAM, 0x10000)
    h = Hart(mem)
    h.pc = RAM
    return h


def step(h: Hart, mnemonic: str, form: str = "", **operands: int) -> Hart:
    """Execute one instruction at h.pc."""
    h.mem.write(h.pc, 4, encode(entry(mnemonic, form), operands))
    h.step()
    return h


def run(mnemonic: str, form: str = "", x: dict[int, int] | None = None, **operands: int) -> Hart:
    h = hart()
    for r, v in (x or {}).items():
        h.x[r] = v & M32
    return step(h, mnemonic, form, **operands)


def rr(mnemonic: str, a: int, b: int = 0, rd: int = 0) -> int:
    """x[a0] after `mnemonic a0, a1, a2` with a0 = rd, a1 = a, a2 = b (rs2 unused by unary ops)."""
    ops = {"rd": A0, "rs1": A1}
    if "rs2" in entry(mnemonic).operands:
        ops["rs2"] = A2
    return run(mnemonic, x={A0: rd, A1: a, A2: b}, **ops).x[A0]


def ri(mnemonic: str, a: int, imm: int, rd: int = 0) -> int:
    """x[a0] after `mnemonic a0, a1, imm` (the entry's own immediate field)."""
    e = entry(mnemonic)
    (field,) = [n for n in e.operands if FIELDS[n].kind is Kind.IMM]
    return run(mnemonic, x={A0: rd, A1: a}, rd=A0, rs1=A1, **{field: imm}).x[A0]


# --- hardware loops ------------------------------------------------------------------------------------
def test_hwloop_setup_instructions_set_start_end_count():
    h = run("lp.setupi", L=1, lp_count12=100, lp_target5=36)
    assert (h.hwloop_start[1], h.hwloop_end[1], h.hwloop_count[1]) == (RAM + 4, RAM + 36, 100)
    assert (h.hwloop_start[0], h.hwloop_end[0], h.hwloop_count[0]) == (0, 0, 0)
    # the same values through the RI5CY hardware-loop CSRs (lpstart1/lpend1/lpcount1)
    assert [h.csr_access(n, None) for n in (0x7B4, 0x7B5, 0x7B6)] == [RAM + 4, RAM + 36, 100]

    h = run("lp.setup", x={A1: 0xFFFF_FFFF}, L=0, rs1=A1, lp_target12=0x1FFE)
    assert (h.hwloop_start[0], h.hwloop_end[0], h.hwloop_count[0]) == (RAM + 4, RAM + 0x1FFE, M32)
    assert [h.csr_access(n, None) for n in (0x7B0, 0x7B1, 0x7B2)] == [RAM + 4, RAM + 0x1FFE, M32]

    h = hart()
    h.x[A2] = 7
    step(h, "lp.starti", L=1, lp_target12=8)           # at RAM
    step(h, "lp.endi", L=1, lp_target12=16)            # at RAM + 4
    step(h, "lp.count", L=1, rs1=A2)                   # at RAM + 8
    step(h, "lp.counti", L=0, lp_count12=4095)         # at RAM + 12
    assert (h.hwloop_start[1], h.hwloop_end[1], h.hwloop_count[1]) == (RAM + 8, RAM + 4 + 16, 7)
    assert h.hwloop_count[0] == 4095


def addi(rd: int, imm: int = 1) -> int:
    return encode(entry("addi"), {"rd": rd, "rs1": rd, "imm12": imm})


def load_program(h: Hart, words: list[int]) -> None:
    for i, w in enumerate(words):
        h.mem.write(RAM + 4 * i, 4, w)


def run_until(h: Hart, pc: int, limit: int = 10_000) -> int:
    steps = 0
    while h.pc != pc:
        h.step()
        steps += 1
        assert steps < limit, "program did not reach its end"
    return steps


def test_nested_hardware_loops_execute_the_exact_number_of_iterations():
    # outer (loop 1) x3 around: t0++; inner (loop 0) x4 of {t1++, t2 += 2, t3++}; t4++
    prog = [
        encode(entry("lp.setupi"), {"L": 1, "lp_count12": 3, "lp_target5": 24}),   # +0, end = +24
        addi(T0),                                                                  # +4  outer start
        encode(entry("lp.setupi"), {"L": 0, "lp_count12": 4, "lp_target5": 12}),   # +8, end = +20
        addi(T1),                                                                  # +12 inner start
        addi(T2, 2),                                                               # +16
        addi(T3),                                                                  # +20 inner end
        addi(T4),                                                                  # +24 outer end
        addi(A0),                                                                  # +28 after loops
    ]
    h = hart()
    load_program(h, prog)
    steps = run_until(h, RAM + 28)
    assert (h.x[T0], h.x[T1], h.x[T2], h.x[T3], h.x[T4]) == (3, 12, 24, 12, 3)
    assert steps == 1 + 3 * (1 + 1 + 4 * 3 + 1)
    assert h.hwloop_count == [0, 0]
    h.step()
    assert h.x[A0] == 1 and h.pc == RAM + 32


def test_hardware_loop_set_up_piecewise_with_register_count():
    # lp.starti/lp.endi/lp.count for loop 1, lp.setup for loop 0 (count from a register)
    prog = [
        encode(entry("lp.starti"), {"L": 1, "lp_target12": 16}),   # +0: start = +16
        encode(entry("lp.endi"), {"L": 1, "lp_target12": 32}),     # +4: end = +36
        encode(entry("lp.count"), {"L": 1, "rs1": A1}),            # +8
        encode(entry("lp.counti"), {"L": 0, "lp_count12": 9}),     # +12 (overwritten by lp.setup)
        encode(entry("lp.setup"), {"L": 0, "rs1": A2, "lp_target12": 12}),   # +16: outer start
        addi(T1),                                                  # +20 inner start
        addi(T2),                                                  # +24
        addi(T3),                                                  # +28 inner end
        addi(T0),                                                  # +32
        addi(T4),                                                  # +36 outer end
        addi(A0),                                                  # +40
    ]
    h = hart()
    h.x[A1], h.x[A2] = 5, 2
    load_program(h, prog)
    run_until(h, RAM + 40)
    assert (h.x[T0], h.x[T1], h.x[T2], h.x[T3], h.x[T4]) == (5, 10, 10, 10, 5)


# --- post-increment and register-offset loads/stores ------------------------------------------------
LOAD_CASES = [  # mnemonic, memory word at DATA, expected x[rd]
    ("p.lb", 0x1234_5680, 0xFFFF_FF80), ("p.lbu", 0x1234_5680, 0x80),
    ("p.lh", 0x1234_8001, 0xFFFF_8001), ("p.lhu", 0x1234_8001, 0x8001),
    ("p.lw", 0x8765_4321, 0x8765_4321),
]


@pytest.mark.parametrize("mnemonic, memory, expected", LOAD_CASES)
def test_post_increment_loads(mnemonic, memory, expected):
    def fresh() -> Hart:
        h = hart()
        h.mem.write(DATA, 4, memory)
        h.x[A1], h.x[A2] = DATA, -8 & M32
        return h

    h = step(fresh(), mnemonic, "imm post-inc", rd=A0, rs1=A1, imm12=-2048)
    assert (h.x[A0], h.x[A1]) == (expected, DATA - 2048)        # access at the OLD x[rs1]
    h = step(fresh(), mnemonic, "reg post-inc", rd=A0, rs1=A1, rs2=A2)
    assert (h.x[A0], h.x[A1], h.x[A2]) == (expected, DATA - 8, -8 & M32)
    h = fresh()
    h.x[A1] = DATA + 8
    step(h, mnemonic, "reg offset", rd=A0, rs1=A1, rs2=A2)      # x[rs1] + x[rs2], rs1 not written
    assert (h.x[A0], h.x[A1]) == (expected, DATA + 8)


def test_post_increment_load_into_its_own_base_register_keeps_the_loaded_value():
    h = hart()
    h.mem.write(DATA, 4, 0xCAFE_F00D)
    h.x[A1], h.x[A2] = DATA, 4
    step(h, "p.lw", "imm post-inc", rd=A1, rs1=A1, imm12=4)
    assert h.x[A1] == 0xCAFE_F00D
    h.x[A1] = DATA
    step(h, "p.lw", "reg post-inc", rd=A2, rs1=A1, rs2=A2)      # rd == rs2: increment uses the old x[rs2]
    assert (h.x[A1], h.x[A2]) == (DATA + 4, 0xCAFE_F00D)


def test_post_increment_load_that_traps_leaves_the_base_register():
    h = hart()
    h.x[A1] = DATA + 2
    with pytest.raises(Trap):
        step(h, "p.lw", "imm post-inc", rd=A0, rs1=A1, imm12=4)
    assert (h.x[A0], h.x[A1]) == (0, DATA + 2)


@pytest.mark.parametrize("mnemonic, size", [("p.sb", 1), ("p.sh", 2), ("p.sw", 4)])
def test_post_increment_and_register_offset_stores(mnemonic, size):
    mask = (1 << (8 * size)) - 1
    h = hart()
    h.x[A0], h.x[A1], h.x[A3] = 0x8899_AABB, DATA, 12
    step(h, mnemonic, "imm post-inc", rs2=A0, rs1=A1, simm12=2047)
    assert h.mem.read(DATA, size) == 0x8899_AABB & mask and h.x[A1] == DATA + 2047

    h.x[A1] = DATA + 16
    step(h, mnemonic, "reg post-inc", rs2=A0, rs1=A1, rs3=A3)
    assert h.mem.read(DATA + 16, size) == 0x8899_AABB & mask and h.x[A1] == DATA + 28

    h.x[A1] = DATA + 32
    step(h, mnemonic, "reg offset", rs2=A0, rs1=A1, rs3=A3)
    assert h.mem.read(DATA + 44, size) == 0x8899_AABB & mask and h.x[A1] == DATA + 32
    assert h.mem.read(DATA + 32, size) == 0


def test_post_increment_store_of_its_own_base_register_stores_the_old_address():
    h = hart()
    h.x[A1] = DATA
    step(h, "p.sw", "imm post-inc", rs2=A1, rs1=A1, simm12=-4)
    assert h.mem.read(DATA, 4) == DATA and h.x[A1] == DATA - 4


# --- scalar ALU ------------------------------------------------------------------------------------------
def test_mac_and_msu_wrap_modulo_2_32():
    assert rr("p.mac", 3, 4, rd=10) == 22
    assert rr("p.mac", 0x10000, 0x10000, rd=5) == 5                     # 2^32 + 5
    assert rr("p.mac", -1, 1, rd=0) == M32
    assert rr("p.msu", 3, 4, rd=10) == -2 & M32
    assert rr("p.msu", 0x8000_0000, 2, rd=7) == 7


def test_abs_min_max_slet():
    assert rr("p.abs", -5) == 5 and rr("p.abs", 5) == 5
    assert rr("p.abs", 0x8000_0000) == 0x8000_0000
    assert rr("p.min", 0x8000_0000, 0x7FFF_FFFF) == 0x8000_0000
    assert rr("p.minu", 0x8000_0000, 0x7FFF_FFFF) == 0x7FFF_FFFF
    assert rr("p.max", 0x8000_0000, 0x7FFF_FFFF) == 0x7FFF_FFFF
    assert rr("p.maxu", 0x8000_0000, 0x7FFF_FFFF) == 0x8000_0000
    assert rr("p.max", -1, -2) == M32 and rr("p.minu", 0, M32) == 0
    assert rr("p.slet", -1, 0) == 1 and rr("p.slet", 5, 5) == 1 and rr("p.slet", 0, -1) == 0
    assert rr("p.sletu", -1, 0) == 0 and rr("p.sletu", 5, 5) == 1 and rr("p.sletu", 0, -1) == 1


def test_clip_bounds():
    assert ri("p.clip", 200, 8) == 127 and ri("p.clip", -200 & M32, 8) == -128 & M32
    assert ri("p.clip", 127, 8) == 127 and ri("p.clip", -128 & M32, 8) == -128 & M32
    assert ri("p.clip", 5, 8) == 5
    assert ri("p.clip", 0x7FFF_FFFF, 31) == 0x3FFF_FFFF
    assert ri("p.clip", 0x8000_0000, 31) == 0xC000_0000
    assert ri("p.clip", 5, 1) == 0 and ri("p.clip", -5 & M32, 1) == M32
    assert ri("p.clip", 5, 0) == 0 and ri("p.clip", -5 & M32, 0) == M32          # Is2 = 0 acts as 1
    assert ri("p.clipu", 300, 9) == 255 and ri("p.clipu", -1 & M32, 9) == 0
    assert ri("p.clipu", 0x8000_0000, 31) == 0 and ri("p.clipu", 0x7FFF_FFFF, 31) == 0x3FFF_FFFF
    assert ri("p.clipu", 77, 9) == 77
    assert rr("p.clipr", 1000, 99) == 99 and rr("p.clipr", -1000, 99) == -100 & M32
    assert rr("p.clipr", -100, 99) == -100 & M32 and rr("p.clipr", 42, 99) == 42
    assert rr("p.clipur", 1000, 99) == 99 and rr("p.clipur", -1000, 99) == 0
    assert rr("p.clipur", 0x8000_0000, 99) == 0 and rr("p.clipur", 42, 99) == 42
    # bit 31 of the register bound is ignored
    assert rr("p.clipr", 1000, 0x8000_0063) == 99 and rr("p.clipr", -1000, 0x8000_0063) == -100 & M32
    assert rr("p.clipur", 1000, 0xFFFF_FFFF) == 1000 and rr("p.clipur", 0x7FFF_FFFF, M32) == 0x7FFF_FFFF


def test_sign_and_zero_extension():
    assert rr("p.exths", 0x1234_8000) == 0xFFFF_8000 and rr("p.exths", 0xFFFF_7FFF) == 0x7FFF
    assert rr("p.exthz", 0xFFFF_8000) == 0x8000
    assert rr("p.extbs", 0x1234_5680) == 0xFFFF_FF80 and rr("p.extbs", 0xFFFF_FF7F) == 0x7F
    assert rr("p.extbz", 0xFFFF_FF80) == 0x80


def test_bit_counting():
    assert rr("p.cnt", 0) == 0 and rr("p.cnt", M32) == 32 and rr("p.cnt", 0x8000_0001) == 2
    assert rr("p.ff1", 0) == 32 and rr("p.fl1", 0) == 32                   # RI5CY: 32 when no bit is set
    assert rr("p.ff1", 1) == 0 and rr("p.fl1", 1) == 0
    assert rr("p.ff1", 0x8000_0000) == 31 and rr("p.fl1", 0x8000_0000) == 31
    assert rr("p.ff1", 0x0001_0100) == 8 and rr("p.fl1", 0x0001_0100) == 16
    assert rr("p.clb", 0) == 0 and rr("p.clb", M32) == 31 and rr("p.clb", 1) == 30
    assert rr("p.clb", 0x8000_0000) == 0 and rr("p.clb", 0xFF00_0000) == 7 and rr("p.clb", 0x7FFF_FFFF) == 0


def test_rotate():
    assert rr("p.ror", 0x8000_0001, 1) == 0xC000_0000
    assert rr("p.ror", 0x1234_5678, 0) == 0x1234_5678
    assert rr("p.ror", 0x1234_5678, 36) == 0x8123_4567                      # amount mod 32


def bitfield(mnemonic: str, a: int, width_m1: int, shift: int, rd: int = 0) -> tuple[int, int]:
    """(immediate form, register form) results of a bit-field instruction."""
    imm = run(mnemonic, x={A0: rd, A1: a}, rd=A0, rs1=A1, p_uimm5hi=width_m1, p_uimm5=shift).x[A0]
    reg = rr(mnemonic + "r", a, (width_m1 << 5) | shift | 0xFFFF_FC00, rd)   # bits above 9 ignored
    return imm, reg


def test_bit_field_operations():
    assert bitfield("p.extract", 0x0000_0F00, 3, 8) == (M32, M32)
    assert bitfield("p.extract", 0x0000_0700, 3, 8) == (7, 7)
    assert bitfield("p.extract", 0x8000_0000, 7, 28) == (0xFFFF_FFF8, 0xFFFF_FFF8)   # clipped at bit 31
    assert bitfield("p.extractu", 0x0000_0F00, 3, 8) == (15, 15)
    assert bitfield("p.extractu", 0xDEAD_BEEF, 31, 0) == (0xDEAD_BEEF, 0xDEAD_BEEF)
    assert bitfield("p.insert", 0x5, 3, 4, rd=0xFFFF_FFFF) == (0xFFFF_FF5F, 0xFFFF_FF5F)
    assert bitfield("p.insert", 0xFFFF_FFFF, 0, 31, rd=0) == (0x8000_0000, 0x8000_0000)
    assert bitfield("p.bclr", M32, 7, 8) == (0xFFFF_00FF, 0xFFFF_00FF)
    assert bitfield("p.bset", 0, 3, 30) == (0xC000_0000, 0xC000_0000)      # mask clipped at bit 31


def rrn(mnemonic: str, a: int, b: int, n: int, rd: int = 0) -> int:
    """x[a0] after `mnemonic a0, a1, a2, n`."""
    return run(mnemonic, x={A0: rd, A1: a, A2: b}, rd=A0, rs1=A1, rs2=A2, p_uimm5hi=n).x[A0]


def test_16x16_multiply_with_normalisation_and_rounding():
    assert rrn("p.mulsn", 0x0000_FFFF, 0x0000_0010, 3) == 0xFFFF_FFFE     # -16 >>s 3
    assert rrn("p.mulsrn", 0x0000_FFFF, 0x0000_0010, 3) == 0xFFFF_FFFE    # (-16 + 4) >>s 3
    assert rrn("p.mulsn", 0x0000_0005, 0x0000_0003, 3) == 1
    assert rrn("p.mulsrn", 0x0000_0005, 0x0000_0003, 3) == 2
    assert rrn("p.mulsn", 0xFFFF_FFFF, 0xFFFF_FFFF, 1) == 0                # (-1)(-1) >> 1
    assert rrn("p.mulun", 0xFFFF_FFFF, 0xFFFF_FFFF, 1) == 0x7FFF_0000     # 0xfffe0001 >>u 1
    assert rrn("p.mulhhsn", 0x8000_0000, 0x8000_1234, 0) == 0x4000_0000   # upper halves
    assert rrn("p.mulhhsn", 0x8000_0000, 0x8000_1234, 31) == 0
    assert rrn("p.mulhhsrn", 0xFFFD_0000, 0x0001_0000, 1) == M32          # (-3 + 1) >>s 1
    assert rrn("p.mulhhun", 0xFFFF_0000, 0x0002_0000, 1) == 0xFFFF
    assert rrn("p.mulurn", 3, 1, 1) == 2 and rrn("p.mulurn", 3, 1, 0) == 3
    assert rrn("p.mulhhurn", 0x0003_0000, 0x0001_0000, 2) == 1


def test_16x16_multiply_accumulate_with_normalisation_and_rounding():
    assert rrn("p.macsn", 1, 1, 1, rd=0x7FFF_FFFF) == 0xC000_0000          # sum wraps, then >>s
    assert rrn("p.macun", 1, 1, 1, rd=0x7FFF_FFFF) == 0x4000_0000
    assert rrn("p.macsrn", 0x0000_FFFF, 0x0000_0002, 2, rd=10) == 2        # (-2 + 10 + 2) >> 2
    assert rrn("p.machhsn", 0x8000_0000, 0x0001_0000, 4, rd=0) == 0xFFFF_F800
    assert rrn("p.machhsrn", 0x0002_0000, 0x0003_0000, 3, rd=1) == 1       # (6 + 1 + 4) >> 3
    assert rrn("p.machhun", 0x0001_0000, 0x0001_0000, 4, rd=M32) == 0
    assert rrn("p.macurn", 0x0000_0002, 0x0000_0003, 2, rd=5) == 3         # (6 + 5 + 2) >> 2
    assert rrn("p.machhurn", 0xFFFF_0000, 0xFFFF_0000, 16, rd=0) == 0xFFFE
    assert rrn("p.macun", 0x0000_FFFF, 0x0000_0001, 8, rd=0x100) == 0x100


def test_add_sub_with_normalisation_and_rounding():
    assert rrn("p.addn", 0x7FFF_FFFF, 1, 1) == 0xC000_0000                 # 32-bit sum wraps first
    assert rrn("p.addun", 0x7FFF_FFFF, 1, 1) == 0x4000_0000
    assert rrn("p.addrn", 5, 0, 1) == 3 and rrn("p.addrn", -5 & M32, 0, 1) == M32 - 1
    assert rrn("p.addrn", 5, 0, 0) == 5                                    # no rounding term for 0
    assert rrn("p.addurn", 5, 2, 2) == 2
    assert rrn("p.subn", 0, 1, 4) == M32 and rrn("p.subun", 0, 1, 4) == 0x0FFF_FFFF
    assert rrn("p.subrn", 10, 3, 1) == 4 and rrn("p.suburn", 3, 10, 1) == 0x7FFF_FFFD
    # register forms: (x[rd] op x[rs1]) >> x[rs2][4:0]
    assert rr("p.addnr", 1, 0xFFFF_FFE1, rd=0x7FFF_FFFF) == 0xC000_0000
    assert rr("p.addunr", 1, 1, rd=0x7FFF_FFFF) == 0x4000_0000
    assert rr("p.addrnr", 0, 1, rd=5) == 3 and rr("p.addurnr", 2, 2, rd=5) == 2
    assert rr("p.subnr", 1, 4, rd=0) == M32 and rr("p.subunr", 1, 4, rd=0) == 0x0FFF_FFFF
    assert rr("p.subrnr", 3, 1, rd=10) == 4 and rr("p.suburnr", 10, 1, rd=3) == 0x7FFF_FFFD


def test_branch_on_immediate():
    def taken(mnemonic: str, value: int, imm: int) -> bool:
        h = run(mnemonic, x={A1: value}, rs1=A1, p_simm5=imm, bimm12=-16)
        return h.pc == RAM - 16

    assert taken("p.beqimm", -16 & M32, -16) and not taken("p.beqimm", 16, -16)
    assert taken("p.bneimm", 0, 15) and not taken("p.bneimm", 15, 15)


# --- packed SIMD -----------------------------------------------------------------------------------------
def test_simd_add_sub_wrap_within_lanes():
    assert rr("pv.add.h", 0x7FFF_FFFF, 0x0001_0001) == 0x8000_0000         # no carry into lane 1
    assert rr("pv.add.b", 0xFF7F_80FF, 0x0101_8001) == 0x0080_0000
    assert rr("pv.add.sc.h", 0x0001_0002, 0xFFFF_0003) == 0x0004_0005      # lane 0 of rs2 only
    assert rr("pv.add.sc.b", 0x1020_3040, 0x0000_01FF) == 0x0F1F_2F3F
    assert ri("pv.add.sci.h", 0x0005_0000, -1) == 0x0004_FFFF
    assert ri("pv.add.sci.b", 0x0000_0000, 31) == 0x1F1F_1F1F
    assert rr("pv.sub.h", 0x8000_0000, 0x0001_0001) == 0x7FFF_FFFF
    assert rr("pv.sub.b", 0x0000_0000, 0x0102_0380) == 0xFFFE_FD80
    assert rr("pv.sub.sc.b", 0x0000_0000, 0xFFFF_FF01) == 0xFFFF_FFFF
    assert ri("pv.sub.sci.h", 0x0000_0000, -32) == 0x0020_0020


def test_simd_average_truncates_the_lane_sum():
    assert rr("pv.avg.h", 0x0004_FFFC, 0x0002_0002) == 0x0003_FFFF
    assert rr("pv.avg.h", 0x7FFF_0000, 0x7FFF_0000) == 0xFFFF_0000         # 0x7fff+0x7fff wraps to -2
    assert rr("pv.avgu.h", 0xFFFF_0004, 0xFFFF_0002) == 0x7FFF_0003
    assert rr("pv.avgu.b", 0x80FF_0102, 0x8001_0304) == 0x0000_0203
    assert rr("pv.avg.sc.b", 0x02FE_0406, 0x0000_0002) == 0x0200_0304
    assert ri("pv.avg.sci.b", 0xF0F0_F0F0, -16) == 0xF0F0_F0F0
    assert ri("pv.avgu.sci.h", 0x0010_FFFF, 31) == 0x0017_000F
    assert rr("pv.avgu.sc.h", 0x0000_0002, 0x1234_0004) == 0x0002_0003


def test_simd_min_max_signedness():
    a, b = 0x8000_7FFF, 0x7FFF_8000
    assert rr("pv.min.h", a, b) == 0x8000_8000 and rr("pv.minu.h", a, b) == 0x7FFF_7FFF
    assert rr("pv.max.h", a, b) == 0x7FFF_7FFF and rr("pv.maxu.h", a, b) == 0x8000_8000
    assert rr("pv.min.b", 0x807F_00FF, 0x7F80_FF00) == 0x8080_FFFF
    assert rr("pv.maxu.b", 0x807F_00FF, 0x7F80_FF00) == 0x8080_FFFF
    assert rr("pv.minu.b", 0x807F_00FF, 0x7F80_FF00) == 0x7F7F_0000
    assert rr("pv.max.b", 0x807F_00FF, 0x7F80_FF00) == 0x7F7F_0000
    assert rr("pv.max.sc.h", 0xFFFE_0005, 0x0000_FFFF) == 0xFFFF_0005
    assert rr("pv.minu.sc.b", 0x0102_FF80, 0x0000_0081) == 0x0102_8180
    assert ri("pv.min.sci.h", 0x0000_FFF0, -3) == 0xFFFD_FFF0
    assert ri("pv.maxu.sci.b", 0x0010_2001, 31) == 0x1F1F_201F
    assert ri("pv.minu.sci.h", 0x8000_0001, 63) == 0x003F_0001
    assert ri("pv.max.sci.b", 0x8000_7F01, -1) == 0xFF00_7F01


def test_simd_shifts_take_the_amount_modulo_the_lane_width():
    assert rr("pv.sll.h", 0x0001_0001, 0x0011_000F) == 0x0002_8000         # 17 -> 1, 15
    assert rr("pv.srl.h", 0x8000_8000, 0x0010_0001) == 0x8000_4000         # 16 -> 0
    assert rr("pv.sra.h", 0x8000_8000, 0x000F_0001) == 0xFFFF_C000
    assert rr("pv.sll.b", 0x0101_0101, 0x0907_0100) == 0x0280_0201         # 9 -> 1
    assert rr("pv.srl.b", 0x8080_8080, 0x0807_0100) == 0x8001_4080
    assert rr("pv.sra.b", 0x8080_8080, 0x0807_0100) == 0x80FF_C080
    assert rr("pv.sra.sc.h", 0x8000_4000, 0xFFFF_0012) == 0xE000_1000      # lane 0 of rs2: 0x12 -> 2
    assert rr("pv.srl.sc.b", 0xFF80_4020, 0x0000_000D) == 0x0704_0201
    assert rr("pv.sll.sc.h", 0x0001_0003, 0x0000_0004) == 0x0010_0030
    assert ri("pv.sll.sci.b", 0x0101_0101, 7) == 0x8080_8080
    assert ri("pv.srl.sci.h", 0x8000_0100, 15) == 0x0001_0000
    assert ri("pv.sra.sci.b", 0x8040_2010, 12) == 0xF804_0201              # 12 mod 8 = 4
    assert ri("pv.sra.sci.h", 0x8000_7FFF, 31) == 0xFFFF_0000              # 31 mod 16 = 15


def test_simd_logic():
    assert rr("pv.or.h", 0xF000_000F, 0x0F00_00F0) == 0xFF00_00FF
    assert rr("pv.xor.b", 0xFF00_FF00, 0x0F0F_0F0F) == 0xF00F_F00F
    assert rr("pv.and.h", 0xFFFF_1234, 0x0F0F_FFFF) == 0x0F0F_1234
    assert rr("pv.or.sc.b", 0x0000_0000, 0xFFFF_FF81) == 0x8181_8181
    assert rr("pv.xor.sc.h", 0x1234_5678, 0xABCD_FFFF) == 0xEDCB_A987
    assert rr("pv.and.sc.b", 0xFFFF_FFFF, 0x0000_003C) == 0x3C3C_3C3C
    assert ri("pv.or.sci.h", 0x0000_0000, -32) == 0xFFE0_FFE0
    assert ri("pv.xor.sci.b", 0x0000_0000, -1) == M32
    assert ri("pv.and.sci.h", 0xFFFF_FFFF, 21) == 0x0015_0015
    assert ri("pv.and.sci.b", 0xFFFF_FFFF, -2) == 0xFEFE_FEFE
    assert ri("pv.or.sci.b", 0x1000_0001, 2) == 0x1202_0203
    assert rr("pv.or.b", 0x0102_0408, 0x1020_4080) == 0x1122_4488
    assert rr("pv.xor.h", 0xFFFF_0000, 0xFFFF_FFFF) == 0x0000_FFFF
    assert rr("pv.and.b", 0xF0F0_F0F0, 0x3C3C_3C3C) == 0x3030_3030
    assert ri("pv.xor.sci.h", 0x0000_FFFF, 1) == 0x0001_FFFE
    assert rr("pv.and.sc.h", 0xFFFF_FFFF, 0x0000_8001) == 0x8001_8001
    assert rr("pv.or.sc.h", 0x0000_0000, 0x1234_5678) == 0x5678_5678
    assert rr("pv.xor.sc.b", 0x0000_00FF, 0x0000_00FF) == 0xFFFF_FF00


def test_simd_comparisons_set_whole_lanes():
    assert rr("pv.cmpeq.h", 0x1234_5678, 0x1234_0000) == 0xFFFF_0000
    assert rr("pv.cmpne.b", 0x0102_0304, 0x0100_0300) == 0x00FF_00FF
    assert rr("pv.cmpgt.h", 0x0001_8000, 0xFFFF_0000) == 0xFFFF_0000       # signed
    assert rr("pv.cmpgtu.h", 0x0001_8000, 0xFFFF_0000) == 0x0000_FFFF      # unsigned
    assert rr("pv.cmpge.b", 0x80FF_0001, 0x80FE_0102) == 0xFFFF_0000
    assert rr("pv.cmplt.b", 0x80FF_0001, 0x7F00_0000) == 0xFFFF_0000
    assert rr("pv.cmple.h", 0x8000_0005, 0x8000_0004) == 0xFFFF_0000
    assert rr("pv.cmpgeu.b", 0x80FF_0001, 0x7F00_0102) == 0xFFFF_0000
    assert rr("pv.cmpltu.h", 0x0001_FFFF, 0x0002_0000) == 0xFFFF_0000
    assert rr("pv.cmpleu.b", 0x0102_0304, 0x0102_0203) == 0xFFFF_0000
    assert rr("pv.cmpeq.sc.b", 0x0501_0501, 0x0000_0005) == 0xFF00_FF00
    assert ri("pv.cmpgt.sci.h", 0xFFFF_0000, -1) == 0x0000_FFFF
    assert ri("pv.cmpltu.sci.b", 0x1F20_0010, 31) == 0x0000_FFFF


def test_simd_abs():
    assert rr("pv.abs.h", 0x8000_FFFF) == 0x8000_0001                      # -32768 stays
    assert rr("pv.abs.b", 0x80FF_7F01) == 0x8001_7F01


def test_simd_lane_extract_and_insert():
    assert ri("pv.extract.h", 0x8001_7FFF, 1) == 0xFFFF_8001
    assert ri("pv.extract.h", 0x8001_7FFF, 0) == 0x7FFF
    assert ri("pv.extract.b", 0x80FF_7F01, 2) == M32
    assert ri("pv.extract.b", 0x80FF_7F01, 3) == 0xFFFF_FF80
    assert ri("pv.extractu.h", 0x8001_7FFF, 1) == 0x8001
    assert ri("pv.extractu.b", 0x80FF_7F01, 2) == 0xFF
    assert ri("pv.insert.h", 0xABCD_1234, 1, rd=0x1111_2222) == 0x1234_2222
    assert ri("pv.insert.b", 0xABCD_1234, 2, rd=0x1111_2222) == 0x1134_2222


def test_simd_dot_products():
    # (-32768)(-32768) * 2 = 2^31: wraps to 0x80000000
    assert rr("pv.dotsp.h", 0x8000_8000, 0x8000_8000) == 0x8000_0000
    assert rr("pv.dotsp.h", 0xFFFF_0002, 0x0003_0004) == 5                 # -3 + 8
    assert rr("pv.dotup.h", 0xFFFF_FFFF, 0xFFFF_FFFF) == (2 * 0xFFFF * 0xFFFF) & M32
    assert rr("pv.dotusp.h", 0xFFFF_0001, 0xFFFF_0001) == (-0xFFFF + 1) & M32
    assert rr("pv.dotsp.b", 0x80FF_0102, 0x8001_0304) == 16384 - 1 + 3 + 8
    assert rr("pv.dotup.b", 0xFFFF_FFFF, 0x0102_0304) == 255 * 10
    assert rr("pv.dotusp.b", 0xFF00_0000, 0xFF00_0000) == -255 & M32
    assert rr("pv.dotsp.sc.h", 0x0002_FFFF, 0x7777_0003) == 3
    assert rr("pv.dotup.sc.b", 0x0102_0304, 0x0000_00FF) == 2550
    assert rr("pv.dotusp.sc.h", 0x8000_0001, 0x0000_FFFF) == (-0x8001) & M32
    assert ri("pv.dotsp.sci.b", 0x0102_0304, -2) == -20 & M32
    assert ri("pv.dotup.sci.h", 0xFFFF_0001, 63) == (0x10000 * 63) & M32
    assert ri("pv.dotusp.sci.b", 0xFF00_0001, -1) == -256 & M32


def test_simd_accumulating_dot_products():
    assert rr("pv.sdotsp.h", 0x0002_0003, 0x0004_0005, rd=100) == 123
    assert rr("pv.sdotsp.h", 0x8000_8000, 0x8000_8000, rd=0x8000_0000) == 0
    assert rr("pv.sdotup.b", 0xFFFF_FFFF, 0x0101_0101, rd=M32) == 1019
    assert rr("pv.sdotusp.b", 0x0000_00FF, 0x0000_00FF, rd=5) == 5 - 255 & M32
    assert rr("pv.sdotsp.sc.b", 0x0101_0101, 0x1234_56FE, rd=8) == 0
    assert rr("pv.sdotup.sc.h", 0x0001_0002, 0xFFFF_0003, rd=1) == 10
    assert rr("pv.sdotusp.sc.h", 0xFFFF_0000, 0x0000_FFFF, rd=0) == -0xFFFF & M32
    assert ri("pv.sdotsp.sci.h", 0x0001_0001, -32, rd=64) == 0
    assert ri("pv.sdotup.sci.b", 0x0101_0101, 31, rd=1) == 125
    assert ri("pv.sdotusp.sci.b", 0x0000_0080, -1, rd=0) == -128 & M32
    assert rr("pv.sdotsp.b", 0x7F7F_7F7F, 0x7F7F_7F7F, rd=0) == 4 * 127 * 127
    assert rr("pv.sdotup.h", 0x0002_0003, 0x0004_0005, rd=2) == 25
    assert rr("pv.sdotusp.h", 0x8000_0000, 0xFFFF_0000, rd=0) == -0x8000 & M32


def test_simd_shuffles():
    assert rr("pv.shuffle.h", 0xAAAA_BBBB, 0x0000_0001) == 0xBBBB_AAAA
    assert rr("pv.shuffle.h", 0xAAAA_BBBB, 0xFFFE_FFFF) == 0xBBBB_AAAA     # only bit 0 of each lane
    assert rr("pv.shuffle.b", 0x4433_2211, 0x0001_0203) == 0x1122_3344
    assert rr("pv.shuffle.b", 0x4433_2211, 0xFCFD_FEFF) == 0x1122_3344
    assert ri("pv.shuffle.sci.h", 0xAAAA_BBBB, 1) == 0xBBBB_AAAA
    assert ri("pv.shuffle.sci.h", 0xAAAA_BBBB, 3) == 0xAAAA_AAAA
    # selectors for lanes 0..2 in imm bits 1:0, 3:2, 5:4; lane 3 fixed by the mnemonic
    for k in range(4):
        expected = ([0x11, 0x22, 0x33, 0x44][k] << 24) | 0x0033_2244
        assert ri(f"pv.shufflei{k}.sci.b", 0x4433_2211, 0b10_01_11) == expected


def test_simd_shuffle2_selects_between_rs1_and_old_rd():
    # the brief's example: rd = 0xDEADBEAF, rs1 = 0x12345678
    assert rr("pv.shuffle2.h", 0x1234_5678, 0x0002_0001, rd=0xDEAD_BEAF) == 0x5678_DEAD
    assert rr("pv.shuffle2.b", 0x1122_3344, 0x0405_0200, rd=0xAAAA_BBBB) == 0x4433_AABB
    assert rr("pv.shuffle2.h", 0x1234_5678, 0xFFFC_FFFB, rd=0xDEAD_BEAF) == 0xBEAF_1234


def test_simd_pack():
    assert rr("pv.pack", 0x89AB_CDEF, 0x0123_4567) == 0xCDEF_4567
    assert rr("pv.pack.h", 0x1234_0000, 0x5678_FFFF) == 0x1234_5678
    assert rr("pv.packhi.b", 0xFFFF_FF12, 0xFFFF_FF34, rd=0xAAAA_BBBB) == 0x1234_BBBB
    assert rr("pv.packlo.b", 0xFFFF_FF12, 0xFFFF_FF34, rd=0xAAAA_BBBB) == 0xAAAA_1234


def test_timing_classes():
    for i in INSTRUCTIONS:
        if i.extension != "Xpulpv2":
            continue
        if i.mnemonic.startswith("lp."):
            assert i.timing == "hwloop"
        elif i.mnemonic.startswith(("p.mac", "p.msu", "p.mul", "pv.dot", "pv.sdot")):
            assert i.timing == "mul", i.key
        elif i.mnemonic.startswith(("p.l", "p.s")) and i.form:
            assert i.timing == ("load" if i.mnemonic.startswith("p.l") else "store"), i.key
