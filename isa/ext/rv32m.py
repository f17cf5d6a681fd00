"""RV32M multiply and divide (RISC-V unprivileged spec 20191213, chapter 7)."""
from mcusim.isa.bits import s32
from mcusim.isa.ext.rv32i import _op

EXT = "RV32M"


def _div(a: int, b: int) -> int:
    a, b = s32(a), s32(b)
    if b == 0:
        return -1
    if a == -(1 << 31) and b == -1:
        return a
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _rem(a: int, b: int) -> int:
    a, b = s32(a), s32(b)
    if b == 0:
        return a
    if a == -(1 << 31) and b == -1:
        return 0
    r = abs(a) % abs(b)
    return -r if a < 0 else r


_op("mul", 1, 0, lambda a, b: a * b, "low 32 bits of x[rs1] * x[rs2]", "mul", EXT)
_op("mulh", 1, 1, lambda a, b: (s32(a) * s32(b)) >> 32, "high 32 bits of signed x signed", "mulh", EXT)
_op("mulhsu", 1, 2, lambda a, b: (s32(a) * b) >> 32, "high 32 bits of signed x unsigned", "mulh", EXT)
_op("mulhu", 1, 3, lambda a, b: (a * b) >> 32, "high 32 bits of unsigned x unsigned", "mulh", EXT)
_op("div", 1, 4, _div, "x[rs1] /s x[rs2] (toward zero; /0 = -1; overflow = -2^31)", "div", EXT)
_op("divu", 1, 5, lambda a, b: a // b if b else 0xFFFF_FFFF, "x[rs1] /u x[rs2] (/0 = 2^32-1)", "div", EXT)
_op("rem", 1, 6, _rem, "x[rs1] rem_s x[rs2] (sign of dividend; %0 = x[rs1])", "div", EXT)
_op("remu", 1, 7, lambda a, b: a % b if b else a, "x[rs1] rem_u x[rs2] (%0 = x[rs1])", "div", EXT)
