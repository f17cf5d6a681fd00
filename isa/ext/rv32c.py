"""RV32C compressed instructions, with the F loads and stores (RISC-V unprivileged spec 20191213,
chapter 16 "C" Standard Extension; RV32 forms only: c.jal, c.flw, c.fsw, c.flwsp, c.fswsp).

Each entry is a 16-bit encoding of a 32-bit entry, written as its expansion (`isa.spec.compressed`):
it runs that entry's semantics and costs its timing class, as on RI5CY, whose decoder expands
compressed instructions before the pipeline. Syntax is GNU as's (`c.lwsp a0, 4(sp)`,
`c.addi4spn a0, sp, 16`); `sp` is an operand that is implied, not encoded.

`reserved` lists the operand values whose encodings are not the instruction: reserved encodings
(c.addi4spn with 0, c.lwsp/c.jr with x0, c.addi16sp/c.lui with 0: illegal instructions) and another
entry's encoding (c.lui with rd = sp is c.addi16sp, c.mv/c.add with rs2 = x0 are c.jr/c.jalr/c.ebreak).
`hints` lists the values that make the instruction a HINT (rd x0, a zero immediate or shift): legal
and executed as their expansion (which then changes nothing), as QEMU does; the assembler writes
them only when their `c.` mnemonic is used, never when compressing a plain one (GNU as does the same).
`also` lists the other 32-bit forms the assembler compresses to the entry, as GNU as does; GNU as
never writes a plain `jal` as c.jal (auto=False), only `c.jal` itself.
"""
from mcusim.isa.fields import Kind, define_field
from mcusim.isa.spec import compressed

EXT = "RV32C"
Q0, Q1, Q2 = "1..0=0", "1..0=1", "1..0=2"

# Registers: the 3-bit fields name x8..x15 / f8..f15 (rd', rs1', rs2').
define_field("rdp", Kind.XREG, [(4, 2, 0)], bias=8, description="x8..x15 destination, bits 4..2 (rd')")
define_field("rs2p", Kind.XREG, [(4, 2, 0)], bias=8, description="x8..x15 source, bits 4..2 (rs2')")
define_field("rs1p", Kind.XREG, [(9, 7, 0)], bias=8,
             description="x8..x15, bits 9..7 (rs1'; also the destination of the CA/CB forms)")
define_field("fdp", Kind.FREG, [(4, 2, 0)], bias=8, description="f8..f15 destination, bits 4..2 (fd')")
define_field("fs2p", Kind.FREG, [(4, 2, 0)], bias=8, description="f8..f15 source, bits 4..2 (fs2')")
define_field("crs1", Kind.XREG, [(11, 7, 0)], description="x register, bits 11..7 (c.jr, c.jalr)")
define_field("crs2", Kind.XREG, [(6, 2, 0)], description="x register, bits 6..2 (CR and CSS forms)")
define_field("cfs2", Kind.FREG, [(6, 2, 0)], description="f register, bits 6..2 (c.fswsp)")
define_field("sp", Kind.XREG, [], bias=2, description="the stack pointer x2, implied (not encoded)")
# Immediates (the spec's bit scrambles as data)
define_field("imm6", Kind.IMM, [(12, 12, 5), (6, 2, 0)], signed=True, description="signed 6-bit immediate")
define_field("cshamt", Kind.IMM, [(6, 2, 0)], description="5-bit shift amount (bit 12, shamt[5], is 0 on RV32)")
define_field("luimm6", Kind.IMM, [(12, 12, 5), (6, 2, 0)], signed=True, wrap=20,
             description="c.lui upper immediate: 6 bits sign-extended to 20 (1..0x1f, 0xfffe0..0xfffff)")
define_field("imm10sp", Kind.IMM, [(12, 12, 9), (6, 6, 4), (5, 5, 6), (4, 3, 7), (2, 2, 5)], signed=True,
             description="c.addi16sp: signed multiple of 16, -512..496")
define_field("uimm10", Kind.IMM, [(12, 11, 4), (10, 7, 6), (6, 6, 2), (5, 5, 3)],
             description="c.addi4spn: unsigned multiple of 4, 4..1020")
define_field("uimm7", Kind.IMM, [(12, 10, 3), (6, 6, 2), (5, 5, 6)],
             description="word offset of c.lw/c.sw/c.flw/c.fsw: multiple of 4, 0..124")
define_field("uimm8sp", Kind.IMM, [(12, 12, 5), (6, 4, 2), (3, 2, 6)],
             description="sp-relative word offset of c.lwsp/c.flwsp: multiple of 4, 0..252")
define_field("uimm8ss", Kind.IMM, [(12, 9, 2), (8, 7, 6)],
             description="sp-relative word offset of c.swsp/c.fswsp: multiple of 4, 0..252")
define_field("cbimm9", Kind.PCREL, [(12, 12, 8), (11, 10, 3), (6, 5, 6), (4, 3, 1), (2, 2, 5)], signed=True,
             description="c.beqz/c.bnez target, +-256 bytes from pc")
define_field("cjimm12", Kind.PCREL, [(12, 12, 11), (11, 11, 4), (10, 9, 8), (8, 8, 10), (7, 7, 6), (6, 6, 7),
                                     (5, 3, 1), (2, 2, 5)], signed=True,
             description="c.j/c.jal target, +-2 KiB from pc")

ZERO = (0,)

# Quadrant 0
compressed("c.addi4spn", "rdp, sp, uimm10", f"15..13=0 {Q0}", "addi rdp, sp, uimm10", EXT, reserved={"uimm10": ZERO})
compressed("c.lw", "rdp, uimm7(rs1p)", f"15..13=2 {Q0}", "lw rdp, uimm7(rs1p)", EXT)
compressed("c.flw", "fdp, uimm7(rs1p)", f"15..13=3 {Q0}", "flw fdp, uimm7(rs1p)", EXT)
compressed("c.sw", "rs2p, uimm7(rs1p)", f"15..13=6 {Q0}", "sw rs2p, uimm7(rs1p)", EXT)
compressed("c.fsw", "fs2p, uimm7(rs1p)", f"15..13=7 {Q0}", "fsw fs2p, uimm7(rs1p)", EXT)
# Quadrant 1
compressed("c.nop", "", f"15..2=0 {Q1}", "addi zero, zero, 0", EXT)
compressed("c.addi", "rd, imm6", f"15..13=0 {Q1}", "addi rd, rd, imm6", EXT, hints={"rd": ZERO, "imm6": ZERO})
compressed("c.jal", "cjimm12", f"15..13=1 {Q1}", "jal ra, cjimm12", EXT, auto=False)
compressed("c.li", "rd, imm6", f"15..13=2 {Q1}", "addi rd, zero, imm6", EXT, hints={"rd": ZERO})
compressed("c.addi16sp", "sp, imm10sp", f"15..13=3 11..7=2 {Q1}", "addi sp, sp, imm10sp", EXT,
           reserved={"imm10sp": ZERO})
compressed("c.lui", "rd, luimm6", f"15..13=3 {Q1}", "lui rd, luimm6", EXT,
           reserved={"rd": (2,), "luimm6": ZERO}, hints={"rd": ZERO})
compressed("c.srli", "rs1p, cshamt", f"15..13=4 12=0 11..10=0 {Q1}", "srli rs1p, rs1p, cshamt", EXT,
           hints={"cshamt": ZERO})
compressed("c.srai", "rs1p, cshamt", f"15..13=4 12=0 11..10=1 {Q1}", "srai rs1p, rs1p, cshamt", EXT,
           hints={"cshamt": ZERO})
compressed("c.andi", "rs1p, imm6", f"15..13=4 11..10=2 {Q1}", "andi rs1p, rs1p, imm6", EXT)
for _name, _funct2 in (("sub", 0), ("xor", 1), ("or", 2), ("and", 3)):
    compressed(f"c.{_name}", "rs1p, rs2p", f"15..10=0x23 6..5={_funct2} {Q1}", f"{_name} rs1p, rs1p, rs2p", EXT,
               also=() if _name == "sub" else (f"{_name} rs1p, rs2p, rs1p",))
compressed("c.j", "cjimm12", f"15..13=5 {Q1}", "jal zero, cjimm12", EXT)
compressed("c.beqz", "rs1p, cbimm9", f"15..13=6 {Q1}", "beq rs1p, zero, cbimm9", EXT)
compressed("c.bnez", "rs1p, cbimm9", f"15..13=7 {Q1}", "bne rs1p, zero, cbimm9", EXT)
# Quadrant 2
compressed("c.slli", "rd, cshamt", f"15..13=0 12=0 {Q2}", "slli rd, rd, cshamt", EXT,
           hints={"rd": ZERO, "cshamt": ZERO})
compressed("c.lwsp", "rd, uimm8sp(sp)", f"15..13=2 {Q2}", "lw rd, uimm8sp(sp)", EXT, reserved={"rd": ZERO})
compressed("c.flwsp", "fd, uimm8sp(sp)", f"15..13=3 {Q2}", "flw fd, uimm8sp(sp)", EXT)
compressed("c.jr", "crs1", f"15..12=8 6..2=0 {Q2}", "jalr zero, 0(crs1)", EXT, reserved={"crs1": ZERO})
compressed("c.mv", "rd, crs2", f"15..12=8 {Q2}", "add rd, zero, crs2", EXT, reserved={"crs2": ZERO},
           hints={"rd": ZERO}, also=("addi rd, crs2, 0",))
compressed("c.ebreak", "", f"15..12=9 11..2=0 {Q2}", "ebreak", EXT)
compressed("c.jalr", "crs1", f"15..12=9 6..2=0 {Q2}", "jalr ra, 0(crs1)", EXT, reserved={"crs1": ZERO})
compressed("c.add", "rd, crs2", f"15..12=9 {Q2}", "add rd, rd, crs2", EXT, reserved={"crs2": ZERO},
           hints={"rd": ZERO}, also=("add rd, crs2, rd",))
compressed("c.swsp", "crs2, uimm8ss(sp)", f"15..13=6 {Q2}", "sw crs2, uimm8ss(sp)", EXT)
compressed("c.fswsp", "cfs2, uimm8ss(sp)", f"15..13=7 {Q2}", "fsw cfs2, uimm8ss(sp)", EXT)
