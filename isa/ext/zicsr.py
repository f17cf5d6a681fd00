"""Zicsr: CSR read/modify/write (RISC-V unprivileged spec 20191213, chapter 9).

csrrs/csrrc with rs1 = x0 (and the immediate forms with zimm = 0) do not write, so reading a
read-only CSR that way is legal; every other form writes.
"""
from mcusim.isa.spec import instr

EXT = "Zicsr"
SYSTEM = "6..0=0x73"


@instr("csrrw", "rd, csr, rs1", f"14..12=1 {SYSTEM}", "csr", EXT)
def csrrw(h, d):
    """t = csr; csr = x[rs1]; x[rd] = t"""
    h.wx(d.rd, h.csr_access(d.csr, h.x[d.rs1]))


@instr("csrrs", "rd, csr, rs1", f"14..12=2 {SYSTEM}", "csr", EXT)
def csrrs(h, d):
    """t = csr; csr = t | x[rs1] (no write if rs1 = x0); x[rd] = t"""
    mask = h.x[d.rs1]
    h.wx(d.rd, h.csr_access(d.csr, 0xFFFF_FFFF if d.rs1 else None, mask))


@instr("csrrc", "rd, csr, rs1", f"14..12=3 {SYSTEM}", "csr", EXT)
def csrrc(h, d):
    """t = csr; csr = t & ~x[rs1] (no write if rs1 = x0); x[rd] = t"""
    mask = h.x[d.rs1]
    h.wx(d.rd, h.csr_access(d.csr, 0 if d.rs1 else None, mask))


@instr("csrrwi", "rd, csr, zimm", f"14..12=5 {SYSTEM}", "csr", EXT)
def csrrwi(h, d):
    """x[rd] = csr; csr = zimm"""
    h.wx(d.rd, h.csr_access(d.csr, d.zimm))


@instr("csrrsi", "rd, csr, zimm", f"14..12=6 {SYSTEM}", "csr", EXT)
def csrrsi(h, d):
    """t = csr; csr = t | zimm (no write if zimm = 0); x[rd] = t"""
    h.wx(d.rd, h.csr_access(d.csr, 0xFFFF_FFFF if d.zimm else None, d.zimm))


@instr("csrrci", "rd, csr, zimm", f"14..12=7 {SYSTEM}", "csr", EXT)
def csrrci(h, d):
    """t = csr; csr = t & ~zimm (no write if zimm = 0); x[rd] = t"""
    h.wx(d.rd, h.csr_access(d.csr, 0 if d.zimm else None, d.zimm))
