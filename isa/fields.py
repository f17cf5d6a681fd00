"""Operand fields: where each operand lives in the 32-bit instruction word and how it is written.

A field maps pieces of the instruction word onto bits of the operand value, so split and scaled
immediates (S-, B-, J-type, hardware-loop offsets in halfwords) are data, not code. The assembler,
decoder and disassembler all go through `Field.encode` / `Field.decode` / `Field.format`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from mcusim.isa.bits import get_bits, sext


class Kind(Enum):
    XREG = "xreg"      # integer register, written x0..x31 or an ABI name
    FREG = "freg"      # floating-point register, written f0..f31 or an ABI name
    IMM = "imm"        # immediate value (expression)
    PCREL = "pcrel"    # target address; encoded as target - pc
    CSR = "csr"        # CSR number or name
    RM = "rm"          # rounding mode name
    FENCE = "fence"    # fence predecessor/successor set, written with letters from "iorw"
    LOOP = "loop"      # hardware-loop index, written x0/x1 (PULP toolchain syntax) or 0/1


X_ABI_NAMES = ("zero ra sp gp tp t0 t1 t2 s0 s1 a0 a1 a2 a3 a4 a5 a6 a7 "
               "s2 s3 s4 s5 s6 s7 s8 s9 s10 s11 t3 t4 t5 t6").split()
F_ABI_NAMES = ("ft0 ft1 ft2 ft3 ft4 ft5 ft6 ft7 fs0 fs1 fa0 fa1 fa2 fa3 fa4 fa5 fa6 fa7 "
               "fs2 fs3 fs4 fs5 fs6 fs7 fs8 fs9 fs10 fs11 ft8 ft9 ft10 ft11").split()

X_REGISTERS: dict[str, int] = {f"x{i}": i for i in range(32)} | {n: i for i, n in enumerate(X_ABI_NAMES)}
X_REGISTERS["fp"] = 8
F_REGISTERS: dict[str, int] = {f"f{i}": i for i in range(32)} | {n: i for i, n in enumerate(F_ABI_NAMES)}

ROUNDING_MODES: dict[str, int] = {"rne": 0, "rtz": 1, "rdn": 2, "rup": 3, "rmm": 4, "dyn": 7}
ROUNDING_MODE_NAMES = {v: k for k, v in ROUNDING_MODES.items()}


class FieldError(ValueError):
    """An operand value that the field cannot hold (the message says why)."""


@dataclass(frozen=True)
class Field:
    """One operand field.

    `pieces` are (word_hi, word_lo, value_lo): instruction bits word_hi..word_lo hold operand
    bits value_lo + (word_hi - word_lo) .. value_lo. Operand bits not covered (e.g. bit 0 of a
    branch offset) must be zero.
    """
    name: str
    kind: Kind
    pieces: tuple[tuple[int, int, int], ...]
    signed: bool = False
    description: str = ""
    word_mask: int = field(init=False)
    value_bits: int = field(init=False)
    implicit_zero_bits: int = field(init=False)   # low operand bits that are not encoded

    def __post_init__(self) -> None:
        mask = 0
        top = 0
        covered = 0
        for hi, lo, vlo in self.pieces:
            width = hi - lo + 1
            piece = ((1 << width) - 1) << lo
            if mask & piece:
                raise ValueError(f"field {self.name}: pieces overlap")
            mask |= piece
            top = max(top, vlo + width)
            covered |= ((1 << width) - 1) << vlo
        low_zero = 0
        while low_zero < top and not covered >> low_zero & 1:
            low_zero += 1
        object.__setattr__(self, "word_mask", mask)
        object.__setattr__(self, "value_bits", top)
        object.__setattr__(self, "implicit_zero_bits", low_zero)

    @property
    def value_range(self) -> tuple[int, int]:
        """Smallest and largest operand value the field can hold."""
        if self.signed:
            return -(1 << (self.value_bits - 1)), (1 << (self.value_bits - 1)) - (1 << self.implicit_zero_bits)
        return 0, (1 << self.value_bits) - (1 << self.implicit_zero_bits)

    def encode(self, value: int) -> int:
        """Place operand `value` in an instruction word; raise FieldError if it does not fit."""
        low, high = self.value_range
        if not low <= value <= high:
            raise FieldError(f"{self.name} value {value} out of range [{low}, {high}]")
        if value & ((1 << self.implicit_zero_bits) - 1):
            raise FieldError(f"{self.name} value {value} must be a multiple of {1 << self.implicit_zero_bits}")
        word = 0
        for hi, lo, vlo in self.pieces:
            width = hi - lo + 1
            word |= ((value >> vlo) & ((1 << width) - 1)) << lo
        return word

    def decode(self, word: int) -> int:
        """The operand value held in instruction `word`."""
        value = 0
        for hi, lo, vlo in self.pieces:
            value |= get_bits(word, hi, lo) << vlo
        return sext(value, self.value_bits) if self.signed else value


FIELDS: dict[str, Field] = {}


def define_field(name: str, kind: Kind, pieces: list[tuple[int, int, int]] | tuple,
                 signed: bool = False, description: str = "") -> Field:
    """Register an operand field (extension modules may add their own)."""
    if name in FIELDS:
        raise ValueError(f"field {name} defined twice")
    f = Field(name, kind, tuple(pieces), signed, description)
    FIELDS[name] = f
    return f


# --- Base fields (RISC-V unprivileged spec, chapter "Base Instruction Formats") -------------------
define_field("rd", Kind.XREG, [(11, 7, 0)], description="destination x register")
define_field("rs1", Kind.XREG, [(19, 15, 0)], description="first source x register")
define_field("rs2", Kind.XREG, [(24, 20, 0)], description="second source x register")
# PULP names the x register in the rd slot "rs3" when it is a source (p.sw rs2, rs3(rs1!)).
define_field("rs3", Kind.XREG, [(11, 7, 0)], description="x register in the rd slot, read as a source")
define_field("fd", Kind.FREG, [(11, 7, 0)], description="destination f register")
define_field("fs1", Kind.FREG, [(19, 15, 0)], description="first source f register")
define_field("fs2", Kind.FREG, [(24, 20, 0)], description="second source f register")
define_field("fs3", Kind.FREG, [(31, 27, 0)], description="third source f register (R4-type)")
define_field("imm12", Kind.IMM, [(31, 20, 0)], signed=True, description="I-type signed 12-bit immediate")
define_field("simm12", Kind.IMM, [(31, 25, 5), (11, 7, 0)], signed=True,
             description="S-type signed 12-bit immediate")
define_field("bimm12", Kind.PCREL, [(31, 31, 12), (30, 25, 5), (11, 8, 1), (7, 7, 11)], signed=True,
             description="B-type branch target, +-4 KiB from pc")
define_field("jimm20", Kind.PCREL, [(31, 31, 20), (30, 21, 1), (20, 20, 11), (19, 12, 12)], signed=True,
             description="J-type jump target, +-1 MiB from pc")
define_field("uimm20", Kind.IMM, [(31, 12, 0)], description="U-type 20-bit upper immediate")
define_field("shamt", Kind.IMM, [(24, 20, 0)], description="5-bit shift amount")
define_field("csr", Kind.CSR, [(31, 20, 0)], description="CSR number or name")
define_field("zimm", Kind.IMM, [(19, 15, 0)], description="5-bit unsigned CSR immediate")
define_field("rm", Kind.RM, [(14, 12, 0)], description="rounding mode (rne rtz rdn rup rmm dyn)")
define_field("pred", Kind.FENCE, [(27, 24, 0)], description="fence predecessor set (iorw)")
define_field("succ", Kind.FENCE, [(23, 20, 0)], description="fence successor set (iorw)")


def format_fence_set(value: int) -> str:
    return "".join(ch for bit, ch in zip((8, 4, 2, 1), "iorw") if value & bit) or "0"


def parse_fence_set(text: str) -> int:
    text = text.strip().lower()
    if text == "0":
        return 0
    value = 0
    for ch in text:
        if ch not in "iorw" or value & {"i": 8, "o": 4, "r": 2, "w": 1}[ch]:
            raise FieldError(f"bad fence set {text!r} (letters from 'iorw', each once)")
        value |= {"i": 8, "o": 4, "r": 2, "w": 1}[ch]
    return value
