"""Xpulpv2 post-increment and register-offset loads and stores (RI5CY user manual v2.2, "Load/Store
operations"; encodings and syntax of pulp-platform/riscv-binutils-gdb riscv-binutils-2.34-pulp,
opcodes/riscv-opc.c, class XPULP_POSTMOD).

Three forms per mnemonic:
  imm post-inc  `p.lw rd, imm12(rs1!)`   opcodes 0x0B (loads) / 0x2B (stores): access at x[rs1],
                                         then x[rs1] += imm
  reg post-inc  `p.lw rd, rs2(rs1!)`     same opcodes, funct3 = 7 (loads) / 4..6 (stores): x[rs1] += x[rs2]
  reg offset    `p.lw rd, rs2(rs1)`      LOAD/STORE opcodes with funct3 = 7 / 4..6: access at x[rs1] + x[rs2]
Stores name the offset register rs3 (it sits in the rd slot): `p.sw rs2, rs3(rs1!)`.

Post-increment load with rd == rs1: the loaded value is what rd holds afterwards. RI5CY writes the
incremented address from the EX stage and the load data one cycle later from WB, so the data wins;
the CV32E40P user manual documents this case the same way (openhwgroup/cv32e40p issue #920).
GVSoC's ISS does the opposite (it writes the address last); the hardware is followed here.
"""
from mcusim.isa.spec import instr

EXT = "Xpulpv2"
# suffix, bytes, sign-extended, funct3 of the imm form, funct7 of the register forms
LOADS = (("b", 1, True, 0, 0x00), ("h", 2, True, 1, 0x08), ("w", 4, False, 2, 0x10),
         ("bu", 1, False, 4, 0x20), ("hu", 2, False, 5, 0x28))
# suffix, bytes, funct3 of the imm form (the register forms use funct3 + 4)
STORES = (("b", 1, 0), ("h", 2, 1), ("w", 4, 2))


def _ext(size: int, signed: bool) -> str:
    return f"{'sign' if signed else 'zero'}-extend(mem{8 * size}"


def _loads(suffix: str, size: int, signed: bool, funct3: int, funct7: int) -> None:
    name = f"p.l{suffix}"

    def imm_post(h, d):
        base = h.x[d.rs1]
        value = h.load(base, size, signed)
        h.wx(d.rs1, base + d.imm12)
        h.wx(d.rd, value)
    imm_post.__doc__ = f"x[rd] = {_ext(size, signed)}[x[rs1]]); x[rs1] += imm12 (rd wins if rd == rs1)"
    instr(name, "rd, imm12(rs1!)", f"14..12={funct3} 6..0=0x0b", "load", EXT, form="imm post-inc")(imm_post)

    def reg_post(h, d):
        base, step = h.x[d.rs1], h.x[d.rs2]
        value = h.load(base, size, signed)
        h.wx(d.rs1, base + step)
        h.wx(d.rd, value)
    reg_post.__doc__ = f"x[rd] = {_ext(size, signed)}[x[rs1]]); x[rs1] += x[rs2] (rd wins if rd == rs1)"
    instr(name, "rd, rs2(rs1!)", f"31..25={funct7} 14..12=7 6..0=0x0b", "load", EXT,
          form="reg post-inc")(reg_post)

    def reg_offset(h, d):
        h.wx(d.rd, h.load(h.x[d.rs1] + h.x[d.rs2], size, signed))
    reg_offset.__doc__ = f"x[rd] = {_ext(size, signed)}[x[rs1] + x[rs2]])"
    instr(name, "rd, rs2(rs1)", f"31..25={funct7} 14..12=7 6..0=0x03", "load", EXT,
          form="reg offset")(reg_offset)


def _stores(suffix: str, size: int, funct3: int) -> None:
    name = f"p.s{suffix}"
    bits = 8 * size

    def imm_post(h, d):
        base = h.x[d.rs1]
        h.store(base, size, h.x[d.rs2])
        h.wx(d.rs1, base + d.simm12)
    imm_post.__doc__ = f"mem{bits}[x[rs1]] = x[rs2]; x[rs1] += simm12"
    instr(name, "rs2, simm12(rs1!)", f"14..12={funct3} 6..0=0x2b", "store", EXT,
          form="imm post-inc")(imm_post)

    def reg_post(h, d):
        base, step = h.x[d.rs1], h.x[d.rs3]
        h.store(base, size, h.x[d.rs2])
        h.wx(d.rs1, base + step)
    reg_post.__doc__ = f"mem{bits}[x[rs1]] = x[rs2]; x[rs1] += x[rs3]"
    instr(name, "rs2, rs3(rs1!)", f"31..25=0 14..12={funct3 + 4} 6..0=0x2b", "store", EXT,
          form="reg post-inc")(reg_post)

    def reg_offset(h, d):
        h.store(h.x[d.rs1] + h.x[d.rs3], size, h.x[d.rs2])
    reg_offset.__doc__ = f"mem{bits}[x[rs1] + x[rs3]] = x[rs2]"
    instr(name, "rs2, rs3(rs1)", f"31..25=0 14..12={funct3 + 4} 6..0=0x23", "store", EXT,
          form="reg offset")(reg_offset)


for _load in LOADS:
    _loads(*_load)
for _store in STORES:
    _stores(*_store)
