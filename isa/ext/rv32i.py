"""RV32I base integer instructions (RISC-V unprivileged spec 20191213, chapter 2)."""
from mcusim.isa.bits import s32, u32
from mcusim.isa.spec import instr

EXT = "RV32I"
OP, OP_IMM, BRANCH, LOAD, STORE = "6..0=0x33", "6..0=0x13", "6..0=0x63", "6..0=0x03", "6..0=0x23"


@instr("lui", "rd, uimm20", "6..0=0x37", "alu", EXT)
def lui(h, d):
    """x[rd] = uimm20 << 12"""
    h.wx(d.rd, d.uimm20 << 12)


@instr("auipc", "rd, uimm20", "6..0=0x17", "alu", EXT)
def auipc(h, d):
    """x[rd] = pc + (uimm20 << 12)"""
    h.wx(d.rd, h.pc + (d.uimm20 << 12))


@instr("jal", "rd, jimm20", "6..0=0x6f", "jal", EXT)
def jal(h, d):
    """x[rd] = pc + 4; pc = target"""
    h.jump(h.pc + d.jimm20)
    h.wx(d.rd, h.pc + 4)


@instr("jalr", "rd, imm12(rs1)", "14..12=0 6..0=0x67", "jalr", EXT)
def jalr(h, d):
    """x[rd] = pc + 4; pc = (x[rs1] + imm12) & ~1"""
    h.jump((h.x[d.rs1] + d.imm12) & ~1)
    h.wx(d.rd, h.pc + 4)


def _branch(name: str, funct3: int, cond, text: str):
    def sem(h, d):
        if cond(h.x[d.rs1], h.x[d.rs2]):
            h.jump(h.pc + d.bimm12)
    sem.__doc__ = f"if ({text}) pc = target"
    instr(name, "rs1, rs2, bimm12", f"14..12={funct3} {BRANCH}", "branch", EXT)(sem)


_branch("beq", 0, lambda a, b: a == b, "x[rs1] == x[rs2]")
_branch("bne", 1, lambda a, b: a != b, "x[rs1] != x[rs2]")
_branch("blt", 4, lambda a, b: s32(a) < s32(b), "x[rs1] <s x[rs2]")
_branch("bge", 5, lambda a, b: s32(a) >= s32(b), "x[rs1] >=s x[rs2]")
_branch("bltu", 6, lambda a, b: a < b, "x[rs1] <u x[rs2]")
_branch("bgeu", 7, lambda a, b: a >= b, "x[rs1] >=u x[rs2]")


def _load(name: str, funct3: int, size: int, signed: bool):
    def sem(h, d):
        h.wx(d.rd, h.load(h.x[d.rs1] + d.imm12, size, signed))
    sem.__doc__ = f"x[rd] = {'sign' if signed else 'zero'}-extend(mem{8 * size}[x[rs1] + imm12])"
    instr(name, "rd, imm12(rs1)", f"14..12={funct3} {LOAD}", "load", EXT)(sem)


_load("lb", 0, 1, True)
_load("lh", 1, 2, True)
_load("lw", 2, 4, False)
_load("lbu", 4, 1, False)
_load("lhu", 5, 2, False)


def _store(name: str, funct3: int, size: int):
    def sem(h, d):
        h.store(h.x[d.rs1] + d.simm12, size, h.x[d.rs2])
    sem.__doc__ = f"mem{8 * size}[x[rs1] + simm12] = x[rs2]"
    instr(name, "rs2, simm12(rs1)", f"14..12={funct3} {STORE}", "store", EXT)(sem)


_store("sb", 0, 1)
_store("sh", 1, 2)
_store("sw", 2, 4)


def _op_imm(name: str, funct3: int, fn, text: str):
    def sem(h, d):
        h.wx(d.rd, fn(h.x[d.rs1], d.imm12))
    sem.__doc__ = f"x[rd] = {text}"
    instr(name, "rd, rs1, imm12", f"14..12={funct3} {OP_IMM}", "alu", EXT)(sem)


_op_imm("addi", 0, lambda a, i: a + i, "x[rs1] + imm12")
_op_imm("slti", 2, lambda a, i: int(s32(a) < i), "x[rs1] <s imm12")
_op_imm("sltiu", 3, lambda a, i: int(a < u32(i)), "x[rs1] <u sign-extended imm12")
_op_imm("xori", 4, lambda a, i: a ^ u32(i), "x[rs1] ^ imm12")
_op_imm("ori", 6, lambda a, i: a | u32(i), "x[rs1] | imm12")
_op_imm("andi", 7, lambda a, i: a & u32(i), "x[rs1] & imm12")


def _shift_imm(name: str, funct7: int, funct3: int, fn, text: str):
    def sem(h, d):
        h.wx(d.rd, fn(h.x[d.rs1], d.shamt))
    sem.__doc__ = f"x[rd] = {text}"
    instr(name, "rd, rs1, shamt", f"31..25={funct7} 14..12={funct3} {OP_IMM}", "alu", EXT)(sem)


_shift_imm("slli", 0, 1, lambda a, s: a << s, "x[rs1] << shamt")
_shift_imm("srli", 0, 5, lambda a, s: a >> s, "x[rs1] >>u shamt")
_shift_imm("srai", 0x20, 5, lambda a, s: s32(a) >> s, "x[rs1] >>s shamt")


def _op(name: str, funct7: int, funct3: int, fn, text: str, timing: str = "alu", ext: str = EXT):
    def sem(h, d):
        h.wx(d.rd, fn(h.x[d.rs1], h.x[d.rs2]))
    sem.__doc__ = f"x[rd] = {text}"
    instr(name, "rd, rs1, rs2", f"31..25={funct7} 14..12={funct3} {OP}", timing, ext)(sem)


_op("add", 0, 0, lambda a, b: a + b, "x[rs1] + x[rs2]")
_op("sub", 0x20, 0, lambda a, b: a - b, "x[rs1] - x[rs2]")
_op("sll", 0, 1, lambda a, b: a << (b & 31), "x[rs1] << x[rs2][4:0]")
_op("slt", 0, 2, lambda a, b: int(s32(a) < s32(b)), "x[rs1] <s x[rs2]")
_op("sltu", 0, 3, lambda a, b: int(a < b), "x[rs1] <u x[rs2]")
_op("xor", 0, 4, lambda a, b: a ^ b, "x[rs1] ^ x[rs2]")
_op("srl", 0, 5, lambda a, b: a >> (b & 31), "x[rs1] >>u x[rs2][4:0]")
_op("sra", 0x20, 5, lambda a, b: s32(a) >> (b & 31), "x[rs1] >>s x[rs2][4:0]")
_op("or", 0, 6, lambda a, b: a | b, "x[rs1] | x[rs2]")
_op("and", 0, 7, lambda a, b: a & b, "x[rs1] & x[rs2]")


@instr("fence", "pred, succ", "31..28=0 19..15=0 14..12=0 11..7=0 6..0=0x0f", "fence", EXT,
       defaults={"pred": 0xF, "succ": 0xF})
def fence(h, d):
    """order memory accesses (a no-op: every core sees memory in program order)"""


@instr("fence.i", "", "31..20=0 19..15=0 14..12=1 11..7=0 6..0=0x0f", "fence", "Zifencei")
def fence_i(h, d):
    """synchronise instruction fetch with earlier stores (stores already invalidate decoded code)"""


@instr("ecall", "", "31..20=0 19..15=0 14..12=0 11..7=0 6..0=0x73", "system", EXT)
def ecall(h, d):
    """a7 == 93: exit(a0); a7 == 64: write(fd a0, buf a1, len a2) to the console, a0 = len;
    otherwise trap (environment call from M-mode)"""
    if h.x[17] == 93:
        h.exit(s32(h.x[10]))
    if h.x[17] == 64 and h.x[10] in (1, 2):
        h.console_write(h.x[10], h.x[11], h.x[12])
        h.wx(10, h.x[12])
        return
    h.trap(11)


@instr("ebreak", "", "31..20=1 19..15=0 14..12=0 11..7=0 6..0=0x73", "system", EXT)
def ebreak(h, d):
    """trap (breakpoint)"""
    h.trap(3, h.pc)


@instr("mret", "", "31..20=0x302 19..15=0 14..12=0 11..7=0 6..0=0x73", "system", "Machine")
def mret(h, d):
    """pc = mepc; mstatus.MIE = mstatus.MPIE; mstatus.MPIE = 1"""
    h.mret()


@instr("wfi", "", "31..20=0x105 19..15=0 14..12=0 11..7=0 6..0=0x73", "system", "Machine")
def wfi(h, d):
    """wait for an event (the single-core model has none pending: a no-op)"""
    h.wait_for_event()
