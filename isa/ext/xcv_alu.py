"""CORE-V XCValu, XCVbi, XCVbitmanip and XCVmac: the CV32E40P v2 encodings of the Xpulpv2 scalar ALU,
immediate-branch, bit-manipulation and multiply-accumulate instructions (CV32E40P user manual,
"CORE-V Instruction Set Custom Extensions": "ALU", "Multiply-Accumulate"; LLVM 19
RISCVInstrInfoXCV.td; words checked against llvm-mc-19 in tests/test_xcv.py).

Every row but cv.bitrev is a second encoding of its Xpulpv2 twin in isa/ext/xpulp_alu.py (same
semantics function and timing class). Register-register and unary forms live in custom-1 (0x2B) with
funct3 = 3 and funct7 naming the operation; the forms with a 5-bit immediate in bits 29:25 (Is3) live
in custom-2 (0x5B) with bits 31:30 and funct3 naming it; the immediate branches in custom-0 (0x0B).
Names follow LLVM 19 (cv.slet/cv.sletu; the manual's newer cv.sle/cv.sleu are assembler aliases).
"""
from mcusim.isa.bits import u32
from mcusim.isa.ext.xpulp_alu import _field_mask  # noqa: F401  (keeps the Xpulpv2 module imported first)
from mcusim.isa.fields import Kind, define_field
from mcusim.isa.spec import find, instr, second_encoding

RR = "14..12=3 6..0=0x2b"
C2 = "6..0=0x5b"

# (CORE-V mnemonic, Xpulpv2 twin, funct7) of the custom-1 register forms; unary ones fix rs2 = 0.
_CUSTOM1 = {
    "XCVbitmanip": (("cv.extractr", "p.extractr", 0x18), ("cv.extractur", "p.extractur", 0x19),
                    ("cv.insertr", "p.insertr", 0x1A), ("cv.bclrr", "p.bclrr", 0x1C),
                    ("cv.bsetr", "p.bsetr", 0x1D), ("cv.ror", "p.ror", 0x20), ("cv.ff1", "p.ff1", 0x21),
                    ("cv.fl1", "p.fl1", 0x22), ("cv.clb", "p.clb", 0x23), ("cv.cnt", "p.cnt", 0x24)),
    "XCValu": (("cv.abs", "p.abs", 0x28), ("cv.slet", "p.slet", 0x29), ("cv.sletu", "p.sletu", 0x2A),
               ("cv.min", "p.min", 0x2B), ("cv.minu", "p.minu", 0x2C), ("cv.max", "p.max", 0x2D),
               ("cv.maxu", "p.maxu", 0x2E), ("cv.exths", "p.exths", 0x30), ("cv.exthz", "p.exthz", 0x31),
               ("cv.extbs", "p.extbs", 0x32), ("cv.extbz", "p.extbz", 0x33), ("cv.clip", "p.clip", 0x38),
               ("cv.clipu", "p.clipu", 0x39), ("cv.clipr", "p.clipr", 0x3A), ("cv.clipur", "p.clipur", 0x3B),
               ("cv.addnr", "p.addnr", 0x40), ("cv.addunr", "p.addunr", 0x41),
               ("cv.addrnr", "p.addrnr", 0x42), ("cv.addurnr", "p.addurnr", 0x43),
               ("cv.subnr", "p.subnr", 0x44), ("cv.subunr", "p.subunr", 0x45),
               ("cv.subrnr", "p.subrnr", 0x46), ("cv.suburnr", "p.suburnr", 0x47)),
    "XCVmac": (("cv.mac", "p.mac", 0x48), ("cv.msu", "p.msu", 0x49)),
}
for _ext, _rows in _CUSTOM1.items():
    for _name, _twin, _funct7 in _rows:
        _unary = "24..20=0 " if find(_twin).syntax == "rd, rs1" else ""
        second_encoding(_twin, _name, f"31..25={_funct7:#x} {_unary}{RR}", _ext)

# (CORE-V mnemonic, Xpulpv2 twin, bits 31:30, funct3) of the custom-2 forms with Is3 in bits 29:25.
_CUSTOM2 = {
    "XCVbitmanip": (("cv.extract", "p.extract", 0, 0), ("cv.extractu", "p.extractu", 1, 0),
                    ("cv.insert", "p.insert", 2, 0), ("cv.bclr", "p.bclr", 0, 1), ("cv.bset", "p.bset", 1, 1)),
    "XCValu": tuple((f"cv.{op}{u}{r}n", f"p.{op}{u}{r}n", 2 * bool(r) + bool(u), 2 + (op == "sub"))
                    for op in ("add", "sub") for r in ("", "r") for u in ("", "u")),
    "XCVmac": tuple((f"cv.{acc}{kind}{r}n", f"p.{acc}{kind}{r}n", 2 * bool(r) + kind.startswith("hh"),
                     4 + (acc == "mac") * 2 + kind.endswith("u"))
                    for acc in ("mul", "mac") for kind in ("s", "hhs", "u", "hhu") for r in ("", "r")),
}
for _ext, _rows in _CUSTOM2.items():
    for _name, _twin, _top, _funct3 in _rows:
        second_encoding(_twin, _name, f"31..30={_top} 14..12={_funct3} {C2}", _ext)

# XCVbi: compare with a 5-bit immediate and branch, custom-0 funct3 6 / 7.
second_encoding("p.beqimm", "cv.beqimm", "14..12=6 6..0=0x0b", "XCVbi")
second_encoding("p.bneimm", "cv.bneimm", "14..12=7 6..0=0x0b", "XCVbi")

# --- cv.bitrev: no Xpulpv2 twin -------------------------------------------------------------------
define_field("cv_radix", Kind.IMM, [(26, 25, 0)],
             description="cv.bitrev group size minus one (Is3: 0 bits, 1 pairs, 2 triples; 3 acts as 0)")


def bit_reverse(value: int, group_bits: int) -> int:
    """Groups of `group_bits` taken from bit 31 down, written back in reverse order from bit 0 up
    (bits left over below the last whole group are dropped), as CV32E40P's ALU does."""
    mask = (1 << group_bits) - 1
    out = 0
    for k in range(32 // group_bits):
        out |= ((value >> (32 - group_bits * (k + 1))) & mask) << (group_bits * k)
    return out


@instr("cv.bitrev", "rd, rs1, cv_radix, p_uimm5", f"31..27=0x18 14..12=1 {C2}", "alu", "XCVbitmanip")
def cv_bitrev(h, d):
    """x[rd] = groups of Is3+1 bits of (x[rs1] << Is2) in reverse order (Is3 = cv_radix, Is2 = p_uimm5)"""
    h.wx(d.rd, bit_reverse(u32(h.x[d.rs1] << d.p_uimm5), (1, 2, 3, 1)[d.cv_radix]))
