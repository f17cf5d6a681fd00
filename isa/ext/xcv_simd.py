"""CORE-V XCVsimd: the CV32E40P v2 encodings of the Xpulpv2 packed-SIMD instructions, plus the
complex-number and halving operations that Xpulpv2 lacks (CV32E40P user manual, "CORE-V Instruction
Set Custom Extensions", "SIMD"; LLVM 19 RISCVInstrInfoXCV.td; words checked against llvm-mc-19 in
tests/test_xcv.py).

The CORE-V rows keep the Xpulpv2 layout (funct5 in 31:27, F = bit 26, bit 25, funct3 = operand form)
in custom-3 (0x7B) instead of 0x57; most operations keep their funct5. `MOVED` lists the ones whose
bits differ: every other `pv.*` row becomes `cv.*` with only the opcode changed. Each is a second
encoding of its Xpulpv2 twin (isa/ext/xpulp_simd.py): same semantics and timing.
"""
from mcusim.isa.bits import sext
from mcusim.isa.ext.xpulp_simd import lanes, pack
from mcusim.isa.spec import INSTRUCTIONS, instr, respell, second_encoding

EXT = "XCVsimd"
OPC = "6..0=0x7b"

# Xpulpv2 mnemonic prefix -> the CORE-V bit fields that differ (funct5 = b31_27, bit 25, funct3 = b14_12)
MOVED: dict[str, dict[str, int]] = {
    "pv.dotsp.": {"b31_27": 18}, "pv.sdotup.": {"b31_27": 19}, "pv.sdotusp.": {"b31_27": 20},
    "pv.sdotsp.": {"b31_27": 21},
    "pv.extract.h": {"b31_27": 23, "b14_12": 0}, "pv.extract.b": {"b31_27": 23, "b14_12": 1},
    "pv.extractu.h": {"b31_27": 23, "b14_12": 2}, "pv.extractu.b": {"b31_27": 23, "b14_12": 3},
    "pv.insert.h": {"b31_27": 23, "b14_12": 4}, "pv.insert.b": {"b31_27": 23, "b14_12": 5},
    "pv.shufflei1.": {"b31_27": 25}, "pv.shufflei2.": {"b31_27": 26}, "pv.shufflei3.": {"b31_27": 27},
    "pv.shuffle2.": {"b31_27": 28}, "pv.pack": {"b31_27": 30},
    "pv.packhi.b": {"b31_27": 31, "b25_25": 1}, "pv.packlo.b": {"b31_27": 31, "b25_25": 0},
}


def _moved(mnemonic: str) -> dict[str, int]:
    # the longest matching prefix wins (pv.pack.h is a pv.pack, pv.packhi.b is not)
    hits = [p for p in MOVED if mnemonic.startswith(p)]
    return MOVED[max(hits, key=len)] if hits else {}


for _twin in [e for e in INSTRUCTIONS if e.extension == "Xpulpv2" and e.mnemonic.startswith("pv.")]:
    second_encoding(_twin.key, "cv." + _twin.mnemonic[3:], respell(_twin, b6_0=0x7B, **_moved(_twin.mnemonic)),
                    EXT)


# --- no Xpulpv2 twin: complex numbers (lane 0 real, lane 1 imaginary) and halving add/sub ----------
def _half(v: int) -> int:
    return sext(v & 0xFFFF, 16)


def _cplxmul(part: str, funct3: int, shift: int) -> None:
    imaginary = part == "i"

    def sem(h, d):
        (a0, a1), (b0, b1) = ([_half(x) for x in lanes(h.x[r], 16)] for r in (d.rs1, d.rs2))
        kept = lanes(h.x[d.rd], 16)
        if imaginary:
            h.wx(d.rd, pack([kept[0], (a0 * b1 + a1 * b0) >> shift], 16))
        else:
            h.wx(d.rd, pack([(a0 * b0 - a1 * b1) >> shift, kept[1]], 16))
    expr = "(x[rs1].H[0]*x[rs2].H[1] + x[rs1].H[1]*x[rs2].H[0])" if imaginary else \
        "(x[rs1].H[0]*x[rs2].H[0] - x[rs1].H[1]*x[rs2].H[1])"
    sem.__doc__ = (f"x[rd].H[{int(imaginary)}] = {expr} >>s {shift}; x[rd].H[{1 - imaginary}] kept "
                   "(signed halves)")
    suffix = {15: "", 16: ".div2", 17: ".div4", 18: ".div8"}[shift]
    instr(f"cv.cplxmul.{part}{suffix}", "rd, rs1, rs2", f"31..27=10 26=1 25={int(imaginary)} 14..12={funct3} {OPC}",
          "mul", EXT, reads_dest=True)(sem)


for _funct3, _shift in ((0, 15), (2, 16), (4, 17), (6, 18)):
    _cplxmul("r", _funct3, _shift)
    _cplxmul("i", _funct3, _shift)


@instr("cv.cplxconj", "rd, rs1", f"31..27=11 26..25=2 24..20=0 14..12=0 {OPC}", "alu", EXT)
def cv_cplxconj(h, d):
    """x[rd].H[1] = -x[rs1].H[1]; x[rd].H[0] = x[rs1].H[0]"""
    a0, a1 = lanes(h.x[d.rs1], 16)
    h.wx(d.rd, pack([a0, -a1], 16))


def _subrotmj(funct3: int, shift: int) -> None:
    def sem(h, d):
        (a0, a1), (b0, b1) = lanes(h.x[d.rs1], 16), lanes(h.x[d.rs2], 16)
        h.wx(d.rd, pack([_half(a1 - b1) >> shift, _half(b0 - a0) >> shift], 16))
    sem.__doc__ = (f"x[rd].H[1] = (x[rs2].H[0] - x[rs1].H[0]) >>s {shift}; "
                   f"x[rd].H[0] = (x[rs1].H[1] - x[rs2].H[1]) >>s {shift} (differences wrapped to 16 bits)")
    suffix = {0: "", 1: ".div2", 2: ".div4", 3: ".div8"}[shift]
    instr(f"cv.subrotmj{suffix}", "rd, rs1, rs2", f"31..27=12 26..25=2 14..12={funct3} {OPC}", "alu", EXT)(sem)


def _halving(op: str, funct5: int, funct3: int, shift: int) -> None:
    sign = 1 if op == "add" else -1

    def sem(h, d):
        h.wx(d.rd, pack([_half(a + sign * b) >> shift
                         for a, b in zip(lanes(h.x[d.rs1], 16), lanes(h.x[d.rs2], 16))], 16))
    sem.__doc__ = (f"x[rd].H[i] = (x[rs1].H[i] {'+' if sign > 0 else '-'} x[rs2].H[i]) >>s {shift} "
                   "(sum wrapped to 16 bits)")
    instr(f"cv.{op}.div{1 << shift}", "rd, rs1, rs2", f"31..27={funct5} 26..25=2 14..12={funct3} {OPC}",
          "alu", EXT)(sem)


for _funct3, _shift in ((0, 0), (2, 1), (4, 2), (6, 3)):
    _subrotmj(_funct3, _shift)
    if _shift:
        _halving("add", 13, _funct3, _shift)
        _halving("sub", 14, _funct3, _shift)
