"""Floating-point instructions: RV32F, Zfh (isa/ext/rv32f.py, zfh.py) and the PULP FP16 vectors and
auxiliary operations (isa/ext/xfvec.py).

1. Encodings and disassembly of every F and Zfh entry against GNU as/objdump 2.40 and LLVM 19 llvm-mc
   (one batched call per tool; a missing tool fails the test and names its Debian package).
2. Xfvec/Xfaux against tests/vectors/xfvec_encodings.txt (derived from riscv-opcodes and the PULP
   toolchain's opcode table, see tests/vectors/README.md).
3. Semantics through Hart.step on chosen values: rounding modes, flags, NaN-boxing, canonical NaNs,
   reserved rounding modes trapping, lane independence, .r replication, single rounding of fused ops.
"""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

from mcusim.isa import ieee754 as fp
from mcusim.isa.codec import decode, encode, entries
from mcusim.isa.disasm import disassemble_word
from mcusim.isa.spec import INSTRUCTIONS
from mcusim.simulator.hart import Hart, Trap
from mcusim.simulator.memory import Memory
from tests.reference_tools import compare_with_gnu, compare_with_llvm, norm

VECTORS = Path(__file__).resolve().parent / "vectors" / "xfvec_encodings.txt"
BASE = 0x1000_0000
NV, DZ, OF, UF, NX = fp.NV, fp.DZ, fp.OF, fp.UF, fp.NX
ILLEGAL = 2


# --- 1. F and Zfh encodings against GNU binutils and LLVM -------------------------------------------
RM_NAMES = ("rne", "rtz", "rdn", "rup", "rmm", "dyn")


def standard_cases() -> list[tuple[str, int, str]]:
    """(entry key, word, our disassembly) for every F/Zfh entry: three register/immediate sets with the
    default rounding mode, plus each explicit rounding mode once."""
    cases = []
    for entry in INSTRUCTIONS:
        if entry.extension not in ("RV32F", "Zfh"):
            continue
        value_sets = [dict(zip(("fd", "fs1", "fs2", "fs3", "imm12"), v)) for v in
                      ((10, 11, 12, 13, 4), (31, 8, 17, 0, -2048), (0, 30, 1, 31, 2047))]
        for values in value_sets:
            values.update(rd=values["fd"], rs1=values["fs1"], rs2=values["fs2"], simm12=values["imm12"])
        if "rm" in entry.operands:
            value_sets += [dict(value_sets[0], rm=rm) for rm in (0, 1, 2, 3, 4, 7) if rm != entry.defaults["rm"]]
        for values in value_sets:
            word = encode(entry, values)
            cases.append((entry.key, word, disassemble_word(word)))
    return cases


def gnu_accepts(key: str, word: int) -> bool:
    # GNU binutils 2.40 follows the draft Zfh that fixed fcvt.s.h's rm field to 0 (rne); LLVM takes any.
    return key != "fcvt.s.h" or (word >> 12) & 7 == 0


def test_f_zfh_encodings_and_disassembly_match_gnu_binutils(tmp_path: Path) -> None:
    bad = compare_with_gnu([c for c in standard_cases() if gnu_accepts(c[0], c[1])], tmp_path)
    assert not bad, "\n".join(bad)


def test_f_zfh_encodings_and_disassembly_match_llvm_mc(tmp_path: Path) -> None:
    bad = compare_with_llvm(standard_cases(), tmp_path)
    assert not bad, "\n".join(bad)


def test_omitted_rounding_mode_defaults_follow_the_assemblers() -> None:
    assert entries("fadd.s")[0].defaults == {"rm": 7}
    assert entries("fcvt.s.w")[0].defaults == {"rm": 7}
    assert entries("fcvt.s.h")[0].defaults == {"rm": 0}     # exact widening: both tools encode rne
    assert encode(entries("fadd.h")[0], {"fd": 10, "fs1": 11, "fs2": 12}) == 0x04C5F553   # REFERENCE
    assert encode(entries("fmadd.h")[0], {"fd": 10, "fs1": 11, "fs2": 12, "fs3": 13}) == 0x6CC5F543


# --- 2. Xfvec / Xfaux vectors ------------------------------------------------------------------------
def vector_lines() -> list[tuple[int, str, str]]:
    lines = []
    for line in VECTORS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            word, mnemonic, operands = line.split()
            lines.append((int(word, 16), mnemonic, f"{mnemonic} {operands}"))
    return lines


def test_xfvec_vectors_decode_encode_and_disassemble() -> None:
    lines = vector_lines()
    assert len(lines) > 150
    for word, mnemonic, text in lines:
        d = decode(word)
        assert d is not None, f"{word:08x} ({text}) does not decode"
        assert d.instr.mnemonic == mnemonic, f"{word:08x}: decoded as {d.instr.key}, expected {mnemonic}"
        assert encode(d.instr, d.values) == word
        assert norm(disassemble_word(word)) == text


def test_every_xfvec_entry_has_vectors() -> None:
    covered = {mnemonic for _, mnemonic, _ in vector_lines()}
    ours = {i.mnemonic for i in INSTRUCTIONS if i.extension in ("Xfvec", "Xfaux")}
    assert ours == covered


def test_reference_words() -> None:
    def word(mnemonic: str, **values) -> int:
        return encode(entries(mnemonic)[0], values)
    assert word("vfadd.h", fd=10, fs1=11, fs2=12) == 0x82C5A533
    assert word("vfmac.h", fd=10, fs1=11, fs2=12) == 0x90C5A533
    assert word("vfdotpex.s.h", fd=10, fs1=11, fs2=12) == 0x96C5A533
    assert word("vfcpka.h.s", fd=10, fs1=11, fs2=12) == 0xB0C5A533
    assert word("vfmv.x.h", rd=10, fs1=11) == 0x9805A533
    assert word("fmulex.s.h", fd=10, fs1=11, fs2=12) == 0x4CC5F553


# --- 3. Semantics -------------------------------------------------------------------------------------
def s(value: float) -> int:
    """FP32 bit pattern."""
    return struct.unpack("<I", struct.pack("<f", value))[0]


def h(value: float) -> int:
    """FP16 bit pattern."""
    return struct.unpack("<H", struct.pack("<e", value))[0]


def boxed(value: float) -> int:
    return 0xFFFF_0000 | h(value)


def vec(lane0: float | int, lane1: float | int) -> int:
    """Two FP16 lanes (ints are taken as bit patterns)."""
    lo, hi = (v if isinstance(v, int) else h(v) for v in (lane0, lane1))
    return lo | hi << 16


def prepare(mnemonic: str, x: dict | None = None, f: dict | None = None, frm: int = 0, **operands) -> Hart:
    memory = Memory()
    memory.add_region("ram", BASE, 0x1000)
    hart = Hart(memory)
    hart.pc = BASE
    hart.frm = frm
    for r, v in (x or {}).items():
        hart.x[r] = v
    for r, v in (f or {}).items():
        hart.f[r] = v
    memory.write(BASE, 4, encode(entries(mnemonic)[0], operands))
    return hart


def run(mnemonic: str, x: dict | None = None, f: dict | None = None, frm: int = 0, **operands) -> Hart:
    hart = prepare(mnemonic, x, f, frm, **operands)
    hart.step()
    return hart


FFF = {"fd": 10, "fs1": 11, "fs2": 12}


def test_single_arithmetic_and_flags() -> None:
    t = run("fadd.s", f={11: s(1.5), 12: s(2.25)}, **FFF)
    assert t.f[10] == s(3.75) and t.fflags == 0
    t = run("fdiv.s", f={11: s(1.0), 12: s(3.0)}, **FFF)
    assert t.f[10] == s(1 / 3) and t.fflags == NX
    t = run("fdiv.s", f={11: s(-1.0), 12: s(0.0)}, **FFF)
    assert t.f[10] == 0xFF80_0000 and t.fflags == DZ
    t = run("fsqrt.s", f={11: s(-1.0)}, fd=10, fs1=11)
    assert t.f[10] == 0x7FC0_0000 and t.fflags == NV              # canonical NaN
    t = run("fmul.s", f={11: s(3e38), 12: s(10.0)}, **FFF)
    assert t.f[10] == 0x7F80_0000 and t.fflags == OF | NX


def test_rounding_mode_field_and_frm() -> None:
    a, b = s(1.0), s(2.0 ** -30)
    assert run("fadd.s", f={11: a, 12: b}, rm=3, **FFF).f[10] == s(1.0) + 1      # rup
    assert run("fadd.s", f={11: a, 12: b}, rm=1, **FFF).f[10] == s(1.0)          # rtz
    assert run("fadd.s", f={11: a, 12: b}, frm=3, **FFF).f[10] == s(1.0) + 1     # dyn -> frm = rup
    t = run("fadd.s", f={11: a, 12: b}, **FFF)
    assert t.fflags == NX                                                        # flags accrue ...
    t.fflags |= DZ
    t.pc = BASE
    t.step()
    assert t.fflags == NX | DZ                                                   # ... and are sticky


@pytest.mark.parametrize("mnemonic, rm, frm", [("fadd.s", 5, 0), ("fadd.s", 6, 0), ("fadd.s", 7, 5),
                                               ("fmadd.h", 7, 7), ("fcvt.s.h", 7, 6), ("fcvt.w.s", 5, 0),
                                               ("fmulex.s.h", 6, 0), ("fmacex.s.h", 7, 5)])
def test_reserved_rounding_mode_is_illegal(mnemonic: str, rm: int, frm: int) -> None:
    t = prepare(mnemonic, f={11: boxed(1.0), 12: boxed(2.0), 13: boxed(3.0)}, frm=frm,
                fd=10, fs1=11, fs2=12, fs3=13, rd=10, rm=rm)
    with pytest.raises(Trap) as trap:
        t.step()
    assert trap.value.cause == ILLEGAL
    assert t.f[10] == 0 and t.x[10] == 0 and t.fflags == 0 and t.pc == BASE


def test_vector_ops_use_frm_and_trap_on_reserved_frm_only_when_rounding() -> None:
    ops = {11: vec(1.0, 1.0), 12: vec(2.0 ** -14, -(2.0 ** -14))}
    assert run("vfadd.h", f=ops, frm=3, **FFF).f[10] == vec(h(1.0) + 1, 1.0)          # rup per lane
    assert run("vfadd.h", f=ops, frm=2, **FFF).f[10] == vec(1.0, h(1.0) - 1)   # rdn: 1 - 2^-11
    t = prepare("vfadd.h", f=ops, frm=5, **FFF)
    with pytest.raises(Trap) as trap:
        t.step()
    assert trap.value.cause == ILLEGAL
    assert run("vfmax.h", f=ops, frm=5, **FFF).f[10] == vec(1.0, 1.0)    # min/max do not round


def test_fused_multiply_add_family_single_rounding() -> None:
    regs = {11: s(2.0), 12: s(3.0), 13: s(1.0)}
    expected = {"fmadd.s": 7.0, "fmsub.s": 5.0, "fnmsub.s": -5.0, "fnmadd.s": -7.0}
    for mnemonic, value in expected.items():
        assert run(mnemonic, f=regs, fs3=13, **FFF).f[10] == s(value), mnemonic
    # (1 + 2^-23)^2 - (1 + 2^-22) = 2^-46 exactly; a separate multiply would round it away to 0.
    t = run("fmadd.s", f={11: s(1 + 2.0 ** -23), 12: s(1 + 2.0 ** -23), 13: s(-(1 + 2.0 ** -22))}, fs3=13, **FFF)
    assert t.f[10] == s(2.0 ** -46) and t.fflags == 0
    t = run("fmadd.h", f={11: boxed(1 + 2.0 ** -10), 12: boxed(1 + 2.0 ** -10), 13: boxed(-(1 + 2.0 ** -9))},
            fs3=13, **FFF)
    assert t.f[10] == 0xFFFF_0000 | h(2.0 ** -20)


def test_sign_injection_min_max_compare_classify() -> None:
    f = {11: s(-2.5), 12: s(1.0)}
    assert run("fsgnj.s", f=f, **FFF).f[10] == s(2.5)
    assert run("fsgnjn.s", f=f, **FFF).f[10] == s(-2.5)
    assert run("fsgnjx.s", f={11: s(-2.5), 12: s(-1.0)}, **FFF).f[10] == s(2.5)
    nan_payload = 0x7FA0_0001                        # sNaN with payload: sign injection keeps it
    assert run("fsgnjn.s", f={11: nan_payload, 12: nan_payload}, **FFF).f[10] == 0xFFA0_0001
    assert run("fmin.s", f={11: s(0.0), 12: s(-0.0)}, **FFF).f[10] == s(-0.0)
    assert run("fmax.s", f={11: s(-0.0), 12: s(0.0)}, **FFF).f[10] == s(0.0)
    t = run("fmin.s", f={11: nan_payload, 12: s(3.0)}, **FFF)
    assert t.f[10] == s(3.0) and t.fflags == NV
    t = run("fmax.s", f={11: 0x7FC0_0000, 12: 0x7FC0_0000}, **FFF)
    assert t.f[10] == 0x7FC0_0000 and t.fflags == 0
    cmp = {"rd": 5, "fs1": 11, "fs2": 12}
    qnan = {11: 0x7FC0_0000, 12: s(1.0)}
    assert run("feq.s", f=qnan, **cmp).x[5] == 0 and run("feq.s", f=qnan, **cmp).fflags == 0
    assert run("flt.s", f=qnan, **cmp).fflags == NV and run("fle.s", f=qnan, **cmp).fflags == NV
    assert run("feq.s", f={11: nan_payload, 12: s(1.0)}, **cmp).fflags == NV
    assert run("flt.s", f={11: s(-1.0), 12: s(1.0)}, **cmp).x[5] == 1
    assert run("fle.s", f={11: s(0.0), 12: s(-0.0)}, **cmp).x[5] == 1
    assert run("fclass.s", f={11: s(-0.0)}, rd=5, fs1=11).x[5] == 1 << 3
    assert run("fclass.s", f={11: nan_payload}, rd=5, fs1=11).x[5] == 1 << 8


def test_single_conversions_and_moves() -> None:
    cvt = {"rd": 5, "fs1": 11}
    t = run("fcvt.w.s", f={11: s(2.5)}, **cvt)
    assert t.x[5] == 2 and t.fflags == NX                       # rne via frm
    assert run("fcvt.w.s", f={11: s(-1.5)}, rm=2, **cvt).x[5] == 0xFFFF_FFFE   # rdn -> -2
    t = run("fcvt.w.s", f={11: 0x7FC0_0000}, **cvt)
    assert t.x[5] == 0x7FFF_FFFF and t.fflags == NV
    t = run("fcvt.wu.s", f={11: s(-1.0)}, **cvt)
    assert t.x[5] == 0 and t.fflags == NV
    assert run("fcvt.s.w", x={11: 0xFFFF_FFF9}, fd=10, rs1=11).f[10] == s(-7.0)
    t = run("fcvt.s.wu", x={11: 0xFFFF_FFFF}, fd=10, rs1=11)
    assert t.f[10] == s(4294967296.0) and t.fflags == NX
    assert run("fmv.x.w", f={11: 0x7FA0_0001}, rd=5, fs1=11).x[5] == 0x7FA0_0001
    assert run("fmv.w.x", x={11: 0xFFA0_0001}, fd=10, rs1=11).f[10] == 0xFFA0_0001


def test_single_and_half_loads_and_stores() -> None:
    t = prepare("fsw", f={12: 0x7FA0_0001}, x={11: BASE + 0x100}, fs2=12, rs1=11, simm12=-4)
    t.step()
    assert t.mem.read(BASE + 0xFC, 4) == 0x7FA0_0001
    t = prepare("flw", x={11: BASE + 0x100}, fd=10, rs1=11, imm12=8)
    t.mem.write(BASE + 0x108, 4, 0x4049_0FDB)
    t.step()
    assert t.f[10] == 0x4049_0FDB
    t = prepare("flh", x={11: BASE + 0x100}, fd=10, rs1=11, imm12=2)
    t.mem.write(BASE + 0x100, 4, 0xBC00_1234)
    t.step()
    assert t.f[10] == 0xFFFF_BC00                       # the loaded half is NaN-boxed
    t = prepare("fsh", f={12: 0x1234_5678}, x={11: BASE + 0x100}, fs2=12, rs1=11, simm12=0)
    t.step()
    assert t.mem.read(BASE + 0x100, 4) == 0x5678       # low 16 bits stored, no box check


def test_half_nan_boxing() -> None:
    t = run("fadd.h", f={11: boxed(1.0), 12: boxed(0.5)}, **FFF)
    assert t.f[10] == boxed(1.5)
    t = run("fadd.h", f={11: 0x0000_3C00, 12: boxed(0.5)}, **FFF)      # not boxed: reads as canonical NaN
    assert t.f[10] == 0xFFFF_7E00 and t.fflags == 0
    assert run("fclass.h", f={11: 0x1234_3C00}, rd=5, fs1=11).x[5] == 1 << 9   # quiet NaN
    assert run("fsgnj.h", f={11: 0x0000_3C00, 12: boxed(-1.0)}, **FFF).f[10] == 0xFFFF_FE00
    assert run("fmv.x.h", f={11: 0xFFFF_8001}, rd=5, fs1=11).x[5] == 0xFFFF_8001   # sign-extended
    assert run("fmv.x.h", f={11: 0x1234_7001}, rd=5, fs1=11).x[5] == 0x7001        # no box check
    assert run("fmv.h.x", x={11: 0x1234_5678}, fd=10, rs1=11).f[10] == 0xFFFF_5678


def test_half_conversions() -> None:
    t = run("fcvt.s.h", f={11: boxed(-1.5)}, fd=10, fs1=11)
    assert t.f[10] == s(-1.5) and t.fflags == 0
    t = run("fcvt.s.h", f={11: 0xFFFF_7D00}, fd=10, fs1=11)                # sNaN
    assert t.f[10] == 0x7FC0_0000 and t.fflags == NV
    t = run("fcvt.h.s", f={11: s(1 + 2.0 ** -12)}, fd=10, fs1=11)
    assert t.f[10] == boxed(1.0) and t.fflags == NX
    t = run("fcvt.h.s", f={11: s(70000.0)}, fd=10, fs1=11)
    assert t.f[10] == 0xFFFF_7C00 and t.fflags == OF | NX
    t = run("fcvt.h.s", f={11: s(2.0 ** -20)}, fd=10, fs1=11, rm=1)
    assert t.f[10] == boxed(2.0 ** -20) and t.fflags == 0                  # exact subnormal
    t = run("fcvt.w.h", f={11: boxed(-65504.0)}, rd=5, fs1=11)
    assert t.x[5] == 0xFFFF_0020
    t = run("fcvt.h.w", x={11: 70000}, fd=10, rs1=11)
    assert t.f[10] == 0xFFFF_7C00 and t.fflags == OF | NX
    t = run("fcvt.h.wu", x={11: 2049}, fd=10, rs1=11)                      # halfway: rne to 2048
    assert t.f[10] == boxed(2048.0) and t.fflags == NX
    t = run("feq.h", f={11: boxed(1.0), 12: 0x3C00}, rd=5, fs1=11, fs2=12)  # fs2 unboxed -> NaN
    assert t.x[5] == 0 and t.fflags == 0


def test_half_divide_and_sqrt() -> None:
    t = run("fdiv.h", f={11: boxed(1.0), 12: boxed(3.0)}, **FFF)
    assert t.f[10] == boxed(1 / 3) and t.fflags == NX
    t = run("fsqrt.h", f={11: boxed(4.0)}, fd=10, fs1=11)
    assert t.f[10] == boxed(2.0) and t.fflags == 0


# --- Xfvec ---------------------------------------------------------------------------------------------
def test_vector_lanes_are_independent_and_flags_or() -> None:
    t = run("vfadd.h", f={11: vec(1.0, 60000.0), 12: vec(2.0 ** -12, 60000.0)}, **FFF)
    assert t.f[10] == vec(1.0, 0x7C00)                 # lane 0 inexact, lane 1 overflows
    assert t.fflags == NX | OF
    t = run("vfsub.h", f={11: vec(3.0, -1.0), 12: vec(1.0, 0.5)}, **FFF)
    assert t.f[10] == vec(2.0, -1.5) and t.fflags == 0
    t = run("vfmul.h", f={11: vec(0x3C00, 0xFFFF), 12: vec(0.5, 1.0)}, **FFF)   # no NaN-boxing of vectors
    assert t.f[10] == vec(0.5, 0x7E00) and t.fflags == 0
    t = run("vfdiv.h", f={11: vec(1.0, 6.0), 12: vec(0.0, 3.0)}, **FFF)
    assert t.f[10] == vec(0x7C00, 2.0) and t.fflags == DZ
    t = run("vfsqrt.h", f={11: vec(-4.0, 9.0)}, fd=10, fs1=11)
    assert t.f[10] == vec(0x7E00, 3.0) and t.fflags == NV


def test_vector_replicated_forms_use_lane_0_of_fs2() -> None:
    regs = {11: vec(1.0, 2.0), 12: vec(0.5, 100.0), 10: vec(10.0, 20.0)}
    assert run("vfadd.r.h", f=regs, **FFF).f[10] == vec(1.5, 2.5)
    assert run("vfmul.r.h", f=regs, **FFF).f[10] == vec(0.5, 1.0)
    assert run("vfmac.r.h", f=regs, **FFF).f[10] == vec(10.5, 21.0)
    assert run("vfmax.r.h", f=regs, **FFF).f[10] == vec(1.0, 2.0)
    assert run("vfsgnjn.r.h", f=regs, **FFF).f[10] == vec(-1.0, -2.0)
    assert run("vfgt.r.h", f=regs, rd=5, fs1=11, fs2=12).x[5] == 0x0001_0001
    assert run("vfdotpex.s.r.h", f={11: vec(1.0, 2.0), 12: vec(3.0, 100.0), 10: s(1.0)}, **FFF).f[10] == s(10.0)


def test_vector_fused_multiply_accumulate() -> None:
    a = 1 + 2.0 ** -10
    regs = {11: vec(a, 2.0), 12: vec(a, 3.0), 10: vec(-(1 + 2.0 ** -9), 1.0)}
    t = run("vfmac.h", f=regs, **FFF)
    assert t.f[10] == vec(2.0 ** -20, 7.0)             # lane 0: exact product kept (fused)
    t = run("vfmre.h", f=regs, **FFF)
    assert t.f[10] == vec(2 + 2.0 ** -8, 5.0)          # v1 * v2 - vd (RI5CY/FPnew)
    assert t.fflags == NX                              # 2 + 2^-8 + 2^-20 is inexact in lane 0


def test_vector_min_max_sign_injection() -> None:
    regs = {11: vec(-0.0, 0x7D00), 12: vec(0.0, 5.0)}     # lane 1 of fs1: signalling NaN
    t = run("vfmin.h", f=regs, **FFF)
    assert t.f[10] == vec(-0.0, 5.0) and t.fflags == NV
    assert run("vfmax.h", f=regs, **FFF).f[10] == vec(0.0, 5.0)
    regs = {11: vec(1.0, -2.0), 12: vec(-1.0, -1.0)}
    assert run("vfsgnj.h", f=regs, **FFF).f[10] == vec(-1.0, -2.0)
    assert run("vfsgnjn.h", f=regs, **FFF).f[10] == vec(1.0, 2.0)
    assert run("vfsgnjx.h", f=regs, **FFF).f[10] == vec(-1.0, 2.0)


def test_vector_comparisons_write_one_per_lane_to_x() -> None:
    cmp = {"rd": 5, "fs1": 11, "fs2": 12}
    regs = {11: vec(1.0, 3.0), 12: vec(2.0, 3.0)}
    expected = {"vfeq.h": 0x0001_0000, "vfne.h": 0x0000_0001, "vflt.h": 0x0000_0001,
                "vfge.h": 0x0001_0000, "vfle.h": 0x0001_0001, "vfgt.h": 0}
    for mnemonic, value in expected.items():
        t = run(mnemonic, f=regs, **cmp)
        assert (t.x[5], t.fflags) == (value, 0), mnemonic
    nan = {11: vec(0x7E00, 1.0), 12: vec(1.0, 1.0)}       # quiet NaN in lane 0
    assert (run("vfeq.h", f=nan, **cmp).x[5], run("vfeq.h", f=nan, **cmp).fflags) == (0x0001_0000, 0)
    assert (run("vfne.h", f=nan, **cmp).x[5], run("vfne.h", f=nan, **cmp).fflags) == (0x0000_0001, 0)
    for mnemonic in ("vflt.h", "vfge.h", "vfle.h", "vfgt.h"):
        t = run(mnemonic, f=nan, **cmp)
        assert t.x[5] & 0xFFFF == 0 and t.fflags == NV, mnemonic


def test_vector_class_moves_and_conversions() -> None:
    t = run("vfclass.h", f={11: vec(-0.0, 0x7D00)}, rd=5, fs1=11)
    assert t.x[5] == (1 << 7 | 1 << 3) | (1 << 6 | 1 << 4) << 8    # negative zero | signalling NaN
    assert run("vfclass.h", f={11: vec(1.0, -(2.0 ** -24))}, rd=5, fs1=11).x[5] == 0x84_42
    assert run("vfmv.x.h", f={11: 0x8001_7E01}, rd=5, fs1=11).x[5] == 0x8001_7E01
    assert run("vfmv.h.x", x={11: 0x1234_5678}, fd=10, rs1=11).f[10] == 0x1234_5678
    t = run("vfcvt.x.h", f={11: vec(-2.5, 40000.0)}, rd=5, fs1=11)
    assert t.x[5] == 0x7FFF_FFFE and t.fflags == NX | NV        # -2 (rne, NX); 40000 saturates (NV)
    t = run("vfcvt.x.h", f={11: vec(0x7E00, -65504.0)}, rd=5, fs1=11)
    assert t.x[5] == 0x8000_7FFF and t.fflags == NV             # NaN -> max, -65504 -> min
    t = run("vfcvt.xu.h", f={11: vec(-1.0, 65504.0)}, rd=5, fs1=11)
    assert t.x[5] == 0xFFE0_0000 and t.fflags == NV
    t = run("vfcvt.h.x", x={11: 0x0007_FFFD}, fd=10, rs1=11)
    assert t.f[10] == vec(-3.0, 7.0) and t.fflags == 0
    t = run("vfcvt.h.xu", x={11: 0xFFFF_FFE0}, fd=10, rs1=11)
    assert t.f[10] == vec(65504.0, 0x7C00) and t.fflags == OF | NX   # 65504 exact; 65535 -> inf
    t = run("vfcpka.h.s", f={11: s(1.0), 12: s(1e6)}, **FFF)
    assert t.f[10] == vec(1.0, 0x7C00) and t.fflags == OF | NX


def test_dot_products_average_and_expanding_ops() -> None:
    t = run("vfdotp.h", f={11: vec(1.0, 2.0), 12: vec(3.0, 4.0), 10: 0xFFFF_FFFF}, **FFF)
    assert t.f[10] == h(11.0)                          # FP16 in bits 15:0, no accumulation
    t = run("vfdotpex.s.h", f={11: vec(1.0, 2.0), 12: vec(3.0, -4.0), 10: s(0.5)}, **FFF)
    assert t.f[10] == s(-4.5) and t.fflags == 0
    t = run("vfavg.h", f={11: vec(1.0, 65504.0), 12: vec(2.0, 65504.0)}, **FFF)
    assert t.f[10] == vec(1.5, 65504.0) and t.fflags == 0    # no intermediate overflow
    t = run("fmulex.s.h", f={11: boxed(1 + 2.0 ** -10), 12: boxed(1 + 2.0 ** -10)}, **FFF)
    assert t.f[10] == s((1 + 2.0 ** -10) ** 2) and t.fflags == 0     # exact in FP32
    t = run("fmulex.s.h", f={11: 0x3C00, 12: boxed(1.0)}, **FFF)     # unboxed half -> canonical NaN
    assert t.f[10] == 0x7FC0_0000
    t = run("fmacex.s.h", f={11: boxed(3.0), 12: boxed(-0.5), 10: s(2.0)}, **FFF)
    assert t.f[10] == s(0.5)
    t = run("fmacex.s.h", f={11: boxed(1 + 2.0 ** -10), 12: boxed(1 + 2.0 ** -10), 10: s(-1.0)}, **FFF)
    assert t.f[10] == s(2.0 ** -9 + 2.0 ** -20) and t.fflags == 0   # product not rounded to FP16


def test_vfdotpex_rounds_once() -> None:
    """1.0 * 1.0 + 2^-15 * 2^-15 + 2^-24: rounding the dot product first (as GVSoC does) loses 2^-30
    and leaves an exact tie 1 + 2^-24 that rne rounds down to 1.0; one rounding gives 1 + 2^-23."""
    tiny = 0x0200                                      # 2^-15, an FP16 subnormal
    regs = {11: vec(tiny, 1.0), 12: vec(tiny, 1.0), 10: s(2.0 ** -24)}
    t = run("vfdotpex.s.h", f=regs, **FFF)
    assert t.f[10] == s(1.0) + 1 and t.fflags == NX
    cascaded, _ = fp.add(fp.F32, fp.fma(fp.F32, s(1.0), s(1.0), s(2.0 ** -30), fp.RNE)[0], s(2.0 ** -24), fp.RNE)
    assert cascaded == s(1.0)                          # the double-rounded result differs
    t = run("vfdotpex.s.h", f={11: vec(0x7C00, 1.0), 12: vec(0.0, 1.0), 10: s(1.0)}, **FFF)
    assert t.f[10] == 0x7FC0_0000 and t.fflags == NV   # inf * 0
