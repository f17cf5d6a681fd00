"""CORE-V XCVhwlp: the CV32E40P v2 hardware-loop instructions (CV32E40P user manual, "CORE-V
Instruction Set Custom Extensions", "Hardware Loops", and "CORE-V Hardware Loop feature"). LLVM 19
has no xcvhwlp, so tests/test_xcv.py checks these words against the manual's encoding table.

Custom-1 (0x2B), funct3 = 4, funct4 (bits 11:8) the operation, L (bit 7) the loop, written 0 or 1.
Targets are in words: start/end = pc + (uimm << 2). Two differences from Xpulpv2 make some rows
instructions of their own rather than second encodings:
  - the end address names the instruction AFTER the body (Xpulpv2: the last one); mcusim keeps the
    last one in its loop state (hwloop_end, as the `lpend` CSRs show), so cv.endi / cv.end / cv.setup /
    cv.setupi store end - 4;
  - cv.start / cv.end take the address from a register (2 low bits ignored).
cv.starti, cv.count and cv.counti are second encodings of lp.starti, lp.count and lp.counti.
"""
from mcusim.isa.fields import Kind, define_field
from mcusim.isa.spec import instr, second_encoding

EXT = "XCVhwlp"


def _enc(funct4: int, rest: str = "") -> str:
    return f"{rest} 14..12=4 11..8={funct4} 6..0=0x2b".strip()


define_field("cv_L", Kind.IMM, [(7, 7, 0)], description="CORE-V hardware-loop index, written 0 or 1")
define_field("cv_lp_target12", Kind.PCREL, [(31, 20, 2)],
             description="CORE-V loop start/end address, pc + 4 * uimm12 (0..16380 bytes ahead)")
define_field("cv_lp_target5", Kind.PCREL, [(19, 15, 2)],
             description="cv.setupi end address (after the body), pc + 4 * uimm5 (0..124 bytes ahead)")
_L = {"cv_L": "L"}

second_encoding("lp.starti", "cv.starti", _enc(0, "19..15=0"), EXT, "cv_L, cv_lp_target12",
                rename=_L | {"cv_lp_target12": "lp_target12"})
second_encoding("lp.counti", "cv.counti", _enc(4, "19..15=0"), EXT, "cv_L, lp_count12", rename=_L)
second_encoding("lp.count", "cv.count", _enc(5, "31..20=0"), EXT, "cv_L, rs1", rename=_L)


@instr("cv.start", "cv_L, rs1", _enc(1, "31..20=0"), "hwloop", EXT)
def cv_start(h, d):
    """lpstart[L] = x[rs1] & ~3"""
    h.hwloop_start[d.cv_L] = h.x[d.rs1] & 0xFFFF_FFFC


@instr("cv.endi", "cv_L, cv_lp_target12", _enc(2, "19..15=0"), "hwloop", EXT)
def cv_endi(h, d):
    """lpend[L] = pc + uimm12 * 4 (the instruction after the body; mcusim stores that minus 4)"""
    h.hwloop_end[d.cv_L] = (h.pc + d.cv_lp_target12 - 4) & 0xFFFF_FFFF


@instr("cv.end", "cv_L, rs1", _enc(3, "31..20=0"), "hwloop", EXT)
def cv_end(h, d):
    """lpend[L] = x[rs1] & ~3 (the instruction after the body; mcusim stores that minus 4)"""
    h.hwloop_end[d.cv_L] = ((h.x[d.rs1] & 0xFFFF_FFFC) - 4) & 0xFFFF_FFFF


@instr("cv.setupi", "cv_L, lp_count12, cv_lp_target5", _enc(6), "hwloop", EXT)
def cv_setupi(h, d):
    """lpstart[L] = pc + 4; lpend[L] = pc + uimm5 * 4 (after the body); lpcount[L] = uimm12"""
    h.hwloop_start[d.cv_L] = (h.pc + 4) & 0xFFFF_FFFF
    h.hwloop_end[d.cv_L] = (h.pc + d.cv_lp_target5 - 4) & 0xFFFF_FFFF
    h.hwloop_count[d.cv_L] = d.lp_count12


@instr("cv.setup", "cv_L, rs1, cv_lp_target12", _enc(7), "hwloop", EXT)
def cv_setup(h, d):
    """lpstart[L] = pc + 4; lpend[L] = pc + uimm12 * 4 (after the body); lpcount[L] = x[rs1]"""
    h.hwloop_start[d.cv_L] = (h.pc + 4) & 0xFFFF_FFFF
    h.hwloop_end[d.cv_L] = (h.pc + d.cv_lp_target12 - 4) & 0xFFFF_FFFF
    h.hwloop_count[d.cv_L] = h.x[d.rs1]
