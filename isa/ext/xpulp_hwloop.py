"""Xpulpv2 hardware loops (RI5CY user manual v2.2, "Hardware Loops"; encodings and syntax of the
PULP GNU toolchain, pulp-platform/riscv-binutils-gdb riscv-binutils-2.34-pulp, opcodes/riscv-opc.c).

Opcode 0x7B; funct3 selects the operation; the loop index L (0 = inner loop) is bit 7, written x0/x1.
Start/end offsets are unsigned and in halfwords from the instruction's own pc (the assembler takes a
label and encodes label - pc). The end address is that of the LAST instruction of the body; the
loop-back itself happens in `Hart.step` when pc reaches hwloop_end[L] with hwloop_count[L] != 0.
"""
from mcusim.isa.fields import Kind, define_field
from mcusim.isa.spec import instr

EXT = "Xpulpv2"
HWLOOP = "11..8=0 6..0=0x7b"   # bits 11:8 of the rd slot are zero: only L (bit 7) is encoded

define_field("L", Kind.LOOP, [(7, 7, 0)], description="hardware-loop index (x0 inner, x1 outer)")
# RI5CY zero-extends these immediates (imm_iz_type), so targets only lie after the instruction.
define_field("lp_target12", Kind.PCREL, [(31, 20, 1)],
             description="loop start/end address, pc + 2 * uimm12 (0..8190 bytes ahead)")
define_field("lp_target5", Kind.PCREL, [(19, 15, 1)],
             description="loop end address of lp.setupi, pc + 2 * uimm5 (0..62 bytes ahead)")
define_field("lp_count12", Kind.IMM, [(31, 20, 0)], description="unsigned 12-bit iteration count")


@instr("lp.starti", "L, lp_target12", f"19..15=0 14..12=0 {HWLOOP}", "hwloop", EXT)
def lp_starti(h, d):
    """lpstart[L] = pc + uimm12 * 2"""
    h.hwloop_start[d.L] = (h.pc + d.lp_target12) & 0xFFFF_FFFF


@instr("lp.endi", "L, lp_target12", f"19..15=0 14..12=1 {HWLOOP}", "hwloop", EXT)
def lp_endi(h, d):
    """lpend[L] = pc + uimm12 * 2 (address of the last instruction of the body)"""
    h.hwloop_end[d.L] = (h.pc + d.lp_target12) & 0xFFFF_FFFF


@instr("lp.count", "L, rs1", f"31..20=0 14..12=2 {HWLOOP}", "hwloop", EXT)
def lp_count(h, d):
    """lpcount[L] = x[rs1]"""
    h.hwloop_count[d.L] = h.x[d.rs1]


@instr("lp.counti", "L, lp_count12", f"19..15=0 14..12=3 {HWLOOP}", "hwloop", EXT)
def lp_counti(h, d):
    """lpcount[L] = uimm12"""
    h.hwloop_count[d.L] = d.lp_count12


@instr("lp.setup", "L, rs1, lp_target12", f"14..12=4 {HWLOOP}", "hwloop", EXT)
def lp_setup(h, d):
    """lpstart[L] = pc + 4; lpend[L] = pc + uimm12 * 2; lpcount[L] = x[rs1]"""
    h.hwloop_start[d.L] = (h.pc + 4) & 0xFFFF_FFFF
    h.hwloop_end[d.L] = (h.pc + d.lp_target12) & 0xFFFF_FFFF
    h.hwloop_count[d.L] = h.x[d.rs1]


@instr("lp.setupi", "L, lp_count12, lp_target5", f"14..12=5 {HWLOOP}", "hwloop", EXT)
def lp_setupi(h, d):
    """lpstart[L] = pc + 4; lpend[L] = pc + uimm5 * 2; lpcount[L] = uimm12"""
    h.hwloop_start[d.L] = (h.pc + 4) & 0xFFFF_FFFF
    h.hwloop_end[d.L] = (h.pc + d.lp_target5) & 0xFFFF_FFFF
    h.hwloop_count[d.L] = d.lp_count12
