"""Xpulpv2 scalar ALU extensions: multiply-accumulate, abs/min/max, clip, sign/zero extension,
bit counting, bit-field manipulation, compare-with-immediate branches, and 16x16 multiply(-accumulate)
and add/subtract with normalisation and rounding (RI5CY user manual v2.2, "ALU", "Bit manipulation",
"Multiply-accumulate", "Immediate branching"; CV32E40P user manual for corner cases; encodings and
syntax of pulp-platform/riscv-binutils-gdb riscv-binutils-2.34-pulp, opcodes/riscv-opc.c, classes
XPULP_ABS/SLET/MINMAX/BITOP/CLIP/MAC_SI/BR/ADDSUBRN/PARTMAC/MACRN_HI/MULRN_HI).

The ALU operations live in the OP opcode (0x33) under funct7 values that RV32IM leaves free; the
branches use the two funct3 values (2, 3) that RV32I leaves free in BRANCH; the normalising
operations use custom-2 (0x5B). Alias mnemonics with the same encoding are not separate entries
(p.clipi, p.extracti, ..., and p.muls/p.mulhhs/p.mulu/p.mulhhu/p.macs/p.machhs/p.macu/p.machhu,
which are the N = 0 cases of p.mulsn ... p.machhun): the decoder must pick one name.
"""
from mcusim.isa.bits import s32, u32
from mcusim.isa.ext.rv32i import _op
from mcusim.isa.fields import Kind, define_field
from mcusim.isa.spec import instr

EXT = "Xpulpv2"
OP = "6..0=0x33"

define_field("p_uimm5", Kind.IMM, [(24, 20, 0)],
             description="5-bit unsigned immediate in bits 24:20 (clip bound Is2, bit-field offset)")
define_field("p_uimm5hi", Kind.IMM, [(29, 25, 0)],
             description="5-bit unsigned immediate in bits 29:25 (bit-field width minus one, Is3)")
define_field("p_simm5", Kind.IMM, [(24, 20, 0)], signed=True,
             description="5-bit signed immediate in bits 24:20 (p.beqimm/p.bneimm comparand)")


def _unary(name: str, funct7: int, funct3: int, fn, text: str) -> None:
    def sem(h, d):
        h.wx(d.rd, fn(h.x[d.rs1]))
    sem.__doc__ = f"x[rd] = {text}"
    instr(name, "rd, rs1", f"31..25={funct7} 24..20=0 14..12={funct3} {OP}", "alu", EXT)(sem)


def _clip(value: int, low: int, high: int) -> int:
    return low if value <= low else min(high, value)


def _clip_bound(is2: int) -> int:
    # 2^(Is2-1) - 1; Is2 = 0 gives bounds [-1, 0] like Is2 = 1 (CV32E40P user manual, cv.clip; GVSoC)
    return (1 << max(is2 - 1, 0)) - 1


def _ff1(a: int) -> int:
    return (a & -a).bit_length() - 1 if a else 32


def _clb(a: int) -> int:
    # Sign bits beyond the first; 0 for an all-zero word (RI5CY manual, GVSoC lib_CLB).
    if a == 0:
        return 0
    return 32 - (a ^ (0xFFFF_FFFF if a >> 31 else 0)).bit_length() - 1


def _field_mask(width_m1: int, shift: int) -> int:
    return u32(((1 << (width_m1 + 1)) - 1) << shift)


def _extract(a: int, width_m1: int, shift: int) -> int:
    # A field running past bit 31 stops there, sign taken from bit 31 (GVSoC lib_BEXTRACT).
    bits = min(width_m1 + 1, 32 - shift)
    field = (a >> shift) & ((1 << bits) - 1)
    return field - (1 << bits) if field >> (bits - 1) else field


# --- multiply-accumulate (class MAC_SI) ------------------------------------------------------------
@instr("p.mac", "rd, rs1, rs2", f"31..25=0x21 14..12=0 {OP}", "mul", EXT, reads_dest=True)
def p_mac(h, d):
    """x[rd] = x[rd] + x[rs1] * x[rs2] (low 32 bits)"""
    h.wx(d.rd, h.x[d.rd] + h.x[d.rs1] * h.x[d.rs2])


@instr("p.msu", "rd, rs1, rs2", f"31..25=0x21 14..12=1 {OP}", "mul", EXT, reads_dest=True)
def p_msu(h, d):
    """x[rd] = x[rd] - x[rs1] * x[rs2] (low 32 bits)"""
    h.wx(d.rd, h.x[d.rd] - h.x[d.rs1] * h.x[d.rs2])


# --- abs, set-less-or-equal, min/max (funct7 = 2) --------------------------------------------------
_unary("p.abs", 2, 0, lambda a: abs(s32(a)), "|x[rs1]| (abs(-2^31) = -2^31)")
_op("p.slet", 2, 2, lambda a, b: int(s32(a) <= s32(b)), "x[rs1] <=s x[rs2]", ext=EXT)
_op("p.sletu", 2, 3, lambda a, b: int(a <= b), "x[rs1] <=u x[rs2]", ext=EXT)
_op("p.min", 2, 4, lambda a, b: min(s32(a), s32(b)), "min_s(x[rs1], x[rs2])", ext=EXT)
_op("p.minu", 2, 5, min, "min_u(x[rs1], x[rs2])", ext=EXT)
_op("p.max", 2, 6, lambda a, b: max(s32(a), s32(b)), "max_s(x[rs1], x[rs2])", ext=EXT)
_op("p.maxu", 2, 7, max, "max_u(x[rs1], x[rs2])", ext=EXT)

# --- rotate (funct7 = 4) ---------------------------------------------------------------------------
_op("p.ror", 4, 5, lambda a, b: (a >> (b & 31)) | (a << (32 - (b & 31))),
    "x[rs1] rotated right by x[rs2][4:0]", ext=EXT)

# --- bit counting and extension (funct7 = 8, rs2 = 0) ----------------------------------------------
_unary("p.ff1", 8, 0, _ff1, "index of the lowest set bit of x[rs1] (32 if none)")
_unary("p.fl1", 8, 1, lambda a: a.bit_length() - 1 if a else 32,
       "index of the highest set bit of x[rs1] (32 if none)")
_unary("p.clb", 8, 2, _clb, "number of leading bits equal to bit 31, minus one (0 if x[rs1] = 0)")
_unary("p.cnt", 8, 3, lambda a: a.bit_count(), "number of set bits of x[rs1]")
_unary("p.exths", 8, 4, lambda a: s32(a << 16) >> 16, "sign-extend(x[rs1][15:0])")
_unary("p.exthz", 8, 5, lambda a: a & 0xFFFF, "zero-extend(x[rs1][15:0])")
_unary("p.extbs", 8, 6, lambda a: s32(a << 24) >> 24, "sign-extend(x[rs1][7:0])")
_unary("p.extbz", 8, 7, lambda a: a & 0xFF, "zero-extend(x[rs1][7:0])")


# --- clip (funct7 = 0x0a) --------------------------------------------------------------------------
@instr("p.clip", "rd, rs1, p_uimm5", f"31..25=0x0a 14..12=1 {OP}", "alu", EXT)
def p_clip(h, d):
    """x[rd] = clamp(x[rs1], -2^(Is2-1), 2^(Is2-1) - 1), Is2 = p_uimm5 (Is2 = 0 acts as 1)"""
    bound = _clip_bound(d.p_uimm5)
    h.wx(d.rd, _clip(s32(h.x[d.rs1]), -bound - 1, bound))


@instr("p.clipu", "rd, rs1, p_uimm5", f"31..25=0x0a 14..12=2 {OP}", "alu", EXT)
def p_clipu(h, d):
    """x[rd] = clamp(x[rs1], 0, 2^(Is2-1) - 1), Is2 = p_uimm5 (Is2 = 0 acts as 1)"""
    h.wx(d.rd, _clip(s32(h.x[d.rs1]), 0, _clip_bound(d.p_uimm5)))


# The register bound ignores bit 31 of x[rs2] (CV32E40P user manual, cv.clipr/cv.clipur).
@instr("p.clipr", "rd, rs1, rs2", f"31..25=0x0a 14..12=5 {OP}", "alu", EXT)
def p_clipr(h, d):
    """b = x[rs2] & 0x7fffffff; x[rd] = clamp(x[rs1], -(b + 1), b) (signed)"""
    bound = h.x[d.rs2] & 0x7FFF_FFFF
    h.wx(d.rd, _clip(s32(h.x[d.rs1]), -bound - 1, bound))


@instr("p.clipur", "rd, rs1, rs2", f"31..25=0x0a 14..12=6 {OP}", "alu", EXT)
def p_clipur(h, d):
    """b = x[rs2] & 0x7fffffff; x[rd] = clamp(x[rs1], 0, b) (signed)"""
    h.wx(d.rd, _clip(s32(h.x[d.rs1]), 0, h.x[d.rs2] & 0x7FFF_FFFF))


# --- bit-field manipulation (immediate forms: bits 31:30 = 11; register forms: funct7 = 0x40) -----
# Field width - 1 (Is3) and offset (Is2) come from the immediates, or from x[rs2][9:5] and x[rs2][4:0].
def _bitfield(name: str, funct3: int, fn, text: str) -> None:
    def imm_form(h, d):
        h.wx(d.rd, fn(h.x[d.rs1], h.x[d.rd], d.p_uimm5hi, d.p_uimm5))
    imm_form.__doc__ = f"x[rd] = {text.format(w='Is3', s='Is2')}"
    inserts = name == "p.insert"   # the only bit-field op that keeps bits of x[rd]
    instr(name, "rd, rs1, p_uimm5hi, p_uimm5", f"31..30=3 14..12={funct3} {OP}", "alu", EXT,
          reads_dest=inserts)(imm_form)

    def reg_form(h, d):
        control = h.x[d.rs2]
        h.wx(d.rd, fn(h.x[d.rs1], h.x[d.rd], (control >> 5) & 31, control & 31))
    reg_form.__doc__ = f"x[rd] = {text.format(w='x[rs2][9:5]', s='x[rs2][4:0]')}"
    instr(f"{name}r", "rd, rs1, rs2", f"31..25=0x40 14..12={funct3} {OP}", "alu", EXT,
          reads_dest=inserts)(reg_form)


_bitfield("p.extract", 0, lambda a, rd, w, s: _extract(a, w, s),
          "sign-extend(x[rs1][{s}+{w}:{s}])")
_bitfield("p.extractu", 1, lambda a, rd, w, s: (a & _field_mask(w, s)) >> s,
          "zero-extend(x[rs1][{s}+{w}:{s}])")
_bitfield("p.insert", 2, lambda a, rd, w, s: (rd & ~_field_mask(w, s)) | ((a << s) & _field_mask(w, s)),
          "x[rd] with bits {s}+{w}:{s} replaced by x[rs1][{w}:0]")
_bitfield("p.bclr", 3, lambda a, rd, w, s: a & ~_field_mask(w, s), "x[rs1] with bits {s}+{w}:{s} cleared")
_bitfield("p.bset", 4, lambda a, rd, w, s: a | _field_mask(w, s), "x[rs1] with bits {s}+{w}:{s} set")


# --- branches comparing with a 5-bit immediate (class BR) -----------------------------------------
@instr("p.beqimm", "rs1, p_simm5, bimm12", "14..12=2 6..0=0x63", "branch", EXT)
def p_beqimm(h, d):
    """if (x[rs1] == sign-extend(simm5)) pc = target"""
    if h.x[d.rs1] == u32(d.p_simm5):
        h.jump(h.pc + d.bimm12)


@instr("p.bneimm", "rs1, p_simm5, bimm12", "14..12=3 6..0=0x63", "branch", EXT)
def p_bneimm(h, d):
    """if (x[rs1] != sign-extend(simm5)) pc = target"""
    if h.x[d.rs1] != u32(d.p_simm5):
        h.jump(h.pc + d.bimm12)


# --- 16x16 multiply / multiply-accumulate with normalisation (classes MULRN_HI, MACRN_HI) ---------
# Bits 31:30 pick the halves and signedness; the 32-bit sum wraps before the shift (RI5CY, GVSoC).
HALVES = {"u": (0, False, 0), "hhu": (1, False, 16), "s": (2, True, 0), "hhs": (3, True, 16)}


def _round_shift(value: int, shift: int, signed: bool, rounding: bool) -> int:
    value = u32(value + ((1 << shift) >> 1 if rounding else 0))
    return (s32(value) if signed else value) >> shift


def _mul_norm(kind: str, accumulate: bool, rounding: bool) -> None:
    top, signed, half = HALVES[kind]
    name = f"p.{'mac' if accumulate else 'mul'}{kind}{'rn' if rounding else 'n'}"

    def operand(v: int) -> int:
        v = (v >> half) & 0xFFFF
        return v - 0x10000 if signed and v & 0x8000 else v

    def sem(h, d):
        product = operand(h.x[d.rs1]) * operand(h.x[d.rs2]) + (h.x[d.rd] if accumulate else 0)
        h.wx(d.rd, _round_shift(product, d.p_uimm5hi, signed, rounding))
    lane = "[31:16]" if half else "[15:0]"
    ext = "sign" if signed else "zero"
    sem.__doc__ = (f"x[rd] = ({ext}-extend(x[rs1]{lane}) * {ext}-extend(x[rs2]{lane})"
                   f"{' + x[rd]' if accumulate else ''}{' + 2^(Is3-1)' if rounding else ''})"
                   f" >>{'s' if signed else 'u'} Is3, Is3 = p_uimm5hi")
    funct3 = (4 if rounding else 0) + (1 if accumulate else 0)
    instr(name, "rd, rs1, rs2, p_uimm5hi", f"31..30={top} 14..12={funct3} 6..0=0x5b", "mul", EXT,
          reads_dest=accumulate)(sem)


for _kind in HALVES:
    for _accumulate in (False, True):
        for _rounding in (False, True):
            _mul_norm(_kind, _accumulate, _rounding)


# --- add/subtract with normalisation (class ADDSUBRN) -----------------------------------------------
# Immediate forms: (x[rs1] op x[rs2] [+ 2^(Is3-1)]) >> Is3; register forms: (x[rd] op x[rs1] ...) >>
# x[rs2][4:0]. Bit 31 = unsigned (logical shift), bit 30 = register form.
def _add_norm(op: str, unsigned: bool, rounding: bool) -> None:
    name = f"p.{op}{'u' if unsigned else ''}{'rn' if rounding else 'n'}"
    funct3 = {"add": 2, "sub": 3}[op] + (4 if rounding else 0)
    combine = (lambda a, b: a + b) if op == "add" else (lambda a, b: a - b)
    sign = "+" if op == "add" else "-"
    tail = f"{' + 2^(sh-1)' if rounding else ''}) >>{'u' if unsigned else 's'} sh"

    def imm_form(h, d):
        h.wx(d.rd, _round_shift(combine(h.x[d.rs1], h.x[d.rs2]), d.p_uimm5hi, not unsigned, rounding))
    imm_form.__doc__ = f"x[rd] = (x[rs1] {sign} x[rs2]{tail}, sh = p_uimm5hi"
    instr(name, "rd, rs1, rs2, p_uimm5hi", f"31..30={2 * unsigned} 14..12={funct3} 6..0=0x5b", "alu",
          EXT)(imm_form)

    def reg_form(h, d):
        h.wx(d.rd, _round_shift(combine(h.x[d.rd], h.x[d.rs1]), h.x[d.rs2] & 31, not unsigned, rounding))
    reg_form.__doc__ = f"x[rd] = (x[rd] {sign} x[rs1]{tail}, sh = x[rs2][4:0]"
    instr(f"{name}r", "rd, rs1, rs2", f"31..25={(2 * unsigned + 1) << 5} 14..12={funct3} 6..0=0x5b", "alu",
          EXT, reads_dest=True)(reg_form)


for _addsub in ("add", "sub"):
    for _unsigned in (False, True):
        for _rounding in (False, True):
            _add_norm(_addsub, _unsigned, _rounding)
