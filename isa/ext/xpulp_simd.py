"""Xpulpv2 packed-SIMD integer instructions on 2 x 16-bit (.h) or 4 x 8-bit (.b) lanes (RI5CY user
manual v2.2, "Packed SIMD"; encodings and syntax of pulp-platform/riscv-binutils-gdb
riscv-binutils-2.34-pulp, opcodes/riscv-opc.c, classes XPULP_VECT and XPULP_VECT_SHUFFLEPACK).

Opcode 0x57: funct5 (bits 31:27) is the operation, bit 26 marks comparisons, funct3 the operand form:
  .h 0, .b 1 (vector-vector), .sc.h 4, .sc.b 5 (scalar: lane 0 of x[rs2] replicated),
  .sci.h 6, .sci.b 7 (6-bit immediate replicated; bit 25 holds imm[0], bits 24:20 imm[5:1]).
Lane 0 is the least significant. Results wrap to the lane width; shift amounts are taken modulo the
lane width. pv.avg(u) truncates the lane sum before shifting (RI5CY adds at lane width; GVSoC too).
"""
from mcusim.isa.bits import sext
from mcusim.isa.fields import Kind, define_field
from mcusim.isa.spec import instr

EXT = "Xpulpv2"
OPV = "6..0=0x57"

define_field("pv_simm6", Kind.IMM, [(24, 20, 1), (25, 25, 0)], signed=True,
             description="signed 6-bit SIMD immediate (imm[0] in bit 25, imm[5:1] in bits 24:20)")
define_field("pv_uimm6", Kind.IMM, [(24, 20, 1), (25, 25, 0)],
             description="unsigned 6-bit SIMD immediate (imm[0] in bit 25, imm[5:1] in bits 24:20)")

WIDTHS = {"h": 16, "b": 8}
FUNCT3 = {("h", ""): 0, ("b", ""): 1, ("h", "sc"): 4, ("b", "sc"): 5, ("h", "sci"): 6, ("b", "sci"): 7}
LANE_NAME = {16: "H", 8: "B"}


def lanes(value: int, width: int) -> list[int]:
    """The lanes of a 32-bit word, lane 0 first, as unsigned integers."""
    mask = (1 << width) - 1
    return [(value >> shift) & mask for shift in range(0, 32, width)]


def pack(values: list[int], width: int) -> int:
    """The 32-bit word whose lanes (lane 0 first) are `values`, each wrapped to the lane width."""
    mask = (1 << width) - 1
    return sum((v & mask) << (i * width) for i, v in enumerate(values))


def _imm_field(signed: bool) -> str:
    return "pv_simm6" if signed else "pv_uimm6"


def _second_operand(h, d, form: str, width: int, imm_field: str) -> list[int]:
    """Lanes of the second operand: x[rs2], lane 0 of x[rs2] replicated, or the immediate replicated."""
    if form == "":
        return lanes(h.x[d.rs2], width)
    scalar = h.x[d.rs2] if form == "sc" else getattr(d, imm_field)
    return [scalar & ((1 << width) - 1)] * (32 // width)


def _operand_names(form: str, lane: str) -> tuple[str, str]:
    b = {"": f"x[rs2].{lane}[i]", "sc": f"x[rs2].{lane}[0]", "sci": "imm6"}[form]
    return f"x[rs1].{lane}[i]", b


def _mnemonic(op: str, form: str, size: str) -> str:
    return f"pv.{op}.{form}.{size}" if form else f"pv.{op}.{size}"


def _syntax(form: str, imm_field: str) -> str:
    return f"rd, rs1, {imm_field}" if form == "sci" else "rd, rs1, rs2"


def _encoding(funct5: int, bit26: int, size: str, form: str) -> str:
    low = f"14..12={FUNCT3[size, form]} {OPV}"
    if form == "sci":
        return f"31..27={funct5} 26={bit26} {low}"
    return f"31..27={funct5} 26..25={bit26 << 1} {low}"


def _lanewise(op: str, funct5: int, fn, text: str, imm_signed: bool, bit26: int = 0) -> None:
    """pv.<op>.{h,b,sc.h,sc.b,sci.h,sci.b}: x[rd].lane[i] = fn(x[rs1].lane[i], b[i], width)."""
    imm_field = _imm_field(imm_signed)
    for size, width in WIDTHS.items():
        for form in ("", "sc", "sci"):
            def sem(h, d, form=form, width=width):
                b = _second_operand(h, d, form, width, imm_field)
                h.wx(d.rd, pack([fn(x, y, width) for x, y in zip(lanes(h.x[d.rs1], width), b)], width))
            lane = LANE_NAME[width]
            a_name, b_name = _operand_names(form, lane)
            sem.__doc__ = f"x[rd].{lane}[i] = {text.format(a=a_name, b=b_name)}"
            instr(_mnemonic(op, form, size), _syntax(form, imm_field),
                  _encoding(funct5, bit26, size, form), "alu", EXT)(sem)


def _dot(op: str, funct5: int, a_signed: bool, b_signed: bool, accumulate: bool) -> None:
    """pv.<op>: sum over lanes of x[rs1].lane[i] * b[i] (plus x[rd] for the sdot forms)."""
    kind = {(True, True): "signed x signed", (False, False): "unsigned x unsigned",
            (False, True): "unsigned x signed"}[a_signed, b_signed]
    imm_field = _imm_field(b_signed)
    for size, width in WIDTHS.items():
        for form in ("", "sc", "sci"):
            def sem(h, d, form=form, width=width):
                b = _second_operand(h, d, form, width, imm_field)
                total = h.x[d.rd] if accumulate else 0
                for x, y in zip(lanes(h.x[d.rs1], width), b):
                    total += (sext(x, width) if a_signed else x) * (sext(y, width) if b_signed else y)
                h.wx(d.rd, total)
            lane = LANE_NAME[width]
            a_name, b_name = _operand_names(form, lane)
            acc = "x[rd] + " if accumulate else ""
            sem.__doc__ = f"x[rd] = {acc}sum_i {a_name} * {b_name} ({kind})"
            instr(_mnemonic(op, form, size), _syntax(form, imm_field),
                  _encoding(funct5, 0, size, form), "mul", EXT, reads_dest=accumulate)(sem)


# --- lane-wise arithmetic and logic (funct5 0..13) ------------------------------------------------
_lanewise("add", 0, lambda a, b, w: a + b, "{a} + {b}", True)
_lanewise("sub", 1, lambda a, b, w: a - b, "{a} - {b}", True)
_lanewise("avg", 2, lambda a, b, w: sext(a + b, w) >> 1, "({a} + {b}) >>s 1 (sum wrapped to the lane)", True)
_lanewise("avgu", 3, lambda a, b, w: ((a + b) & ((1 << w) - 1)) >> 1,
          "({a} + {b}) >>u 1 (sum wrapped to the lane)", False)
_lanewise("min", 4, lambda a, b, w: min(sext(a, w), sext(b, w)), "minsext({a}, {b})", True)
_lanewise("minu", 5, lambda a, b, w: min(a, b), "min_u({a}, {b})", False)
_lanewise("max", 6, lambda a, b, w: max(sext(a, w), sext(b, w)), "maxsext({a}, {b})", True)
_lanewise("maxu", 7, lambda a, b, w: max(a, b), "max_u({a}, {b})", False)
_lanewise("srl", 8, lambda a, b, w: a >> (b & (w - 1)), "{a} >>u ({b} mod lane width)", False)
_lanewise("sra", 9, lambda a, b, w: sext(a, w) >> (b & (w - 1)), "{a} >>s ({b} mod lane width)", False)
_lanewise("sll", 10, lambda a, b, w: a << (b & (w - 1)), "{a} << ({b} mod lane width)", False)
_lanewise("or", 11, lambda a, b, w: a | b, "{a} | {b}", True)
_lanewise("xor", 12, lambda a, b, w: a ^ b, "{a} ^ {b}", True)
_lanewise("and", 13, lambda a, b, w: a & b, "{a} & {b}", True)

# --- comparisons (bit 26 = 1): all ones in a lane where true ---------------------------------------
for _op, _f5, _cmp, _signed, _text in (
        ("cmpeq", 0, lambda a, b: a == b, True, "=="), ("cmpne", 1, lambda a, b: a != b, True, "!="),
        ("cmpgt", 2, lambda a, b: a > b, True, ">s"), ("cmpge", 3, lambda a, b: a >= b, True, ">=s"),
        ("cmplt", 4, lambda a, b: a < b, True, "<s"), ("cmple", 5, lambda a, b: a <= b, True, "<=s"),
        ("cmpgtu", 6, lambda a, b: a > b, False, ">u"), ("cmpgeu", 7, lambda a, b: a >= b, False, ">=u"),
        ("cmpltu", 8, lambda a, b: a < b, False, "<u"), ("cmpleu", 9, lambda a, b: a <= b, False, "<=u")):
    _lanewise(_op, _f5,
              lambda a, b, w, cmp=_cmp, signed=_signed:
                  -1 if (cmp(sext(a, w), sext(b, w)) if signed else cmp(a, b)) else 0,
              f"({{a}} {_text} {{b}}) ? all ones : 0", _signed, bit26=1)


# --- abs (funct5 14) --------------------------------------------------------------------------------
def _abs(size: str, width: int) -> None:
    def sem(h, d):
        h.wx(d.rd, pack([abs(sext(a, width)) for a in lanes(h.x[d.rs1], width)], width))
    lane = LANE_NAME[width]
    sem.__doc__ = f"x[rd].{lane}[i] = |x[rs1].{lane}[i]| (the most negative value stays as is)"
    instr(f"pv.abs.{size}", "rd, rs1", f"31..27=14 26..25=0 24..20=0 14..12={FUNCT3[size, '']} {OPV}",
          "alu", EXT)(sem)


# --- lane extract / insert (funct5 15, 18, 22; immediate lane index) -------------------------------
def _extract_insert(size: str, width: int) -> None:
    count = 32 // width
    lane = LANE_NAME[width]
    enc = f"26=0 14..12={FUNCT3[size, 'sci']} {OPV}"

    def extract(h, d):
        h.wx(d.rd, sext(lanes(h.x[d.rs1], width)[d.pv_uimm6 % count], width))
    extract.__doc__ = f"x[rd] = sign-extend(x[rs1].{lane}[imm6 mod {count}])"
    instr(f"pv.extract.{size}", "rd, rs1, pv_uimm6", f"31..27=15 {enc}", "alu", EXT)(extract)

    def extractu(h, d):
        h.wx(d.rd, lanes(h.x[d.rs1], width)[d.pv_uimm6 % count])
    extractu.__doc__ = f"x[rd] = zero-extend(x[rs1].{lane}[imm6 mod {count}])"
    instr(f"pv.extractu.{size}", "rd, rs1, pv_uimm6", f"31..27=18 {enc}", "alu", EXT)(extractu)

    def insert(h, d):
        values = lanes(h.x[d.rd], width)
        values[d.pv_uimm6 % count] = h.x[d.rs1]
        h.wx(d.rd, pack(values, width))
    insert.__doc__ = f"x[rd].{lane}[imm6 mod {count}] = x[rs1].{lane}[0] (other lanes of x[rd] kept)"
    instr(f"pv.insert.{size}", "rd, rs1, pv_uimm6", f"31..27=22 {enc}", "alu", EXT, reads_dest=True)(insert)


for _size, _width in WIDTHS.items():
    _abs(_size, _width)
    _extract_insert(_size, _width)

# --- dot products (funct5 16, 17, 19 and the accumulating 20, 21, 23) ------------------------------
_dot("dotup", 16, False, False, False)
_dot("dotusp", 17, False, True, False)
_dot("dotsp", 19, True, True, False)
_dot("sdotup", 20, False, False, True)
_dot("sdotusp", 21, False, True, True)
_dot("sdotsp", 23, True, True, True)


# --- shuffles and packing (funct5 24..31) ----------------------------------------------------------
@instr("pv.shuffle.h", "rd, rs1, rs2", f"31..27=24 26..25=0 14..12=0 {OPV}", "alu", EXT)
def pv_shuffle_h(h, d):
    """x[rd].H[i] = x[rs1].H[x[rs2].H[i][0]]"""
    src = lanes(h.x[d.rs1], 16)
    h.wx(d.rd, pack([src[sel & 1] for sel in lanes(h.x[d.rs2], 16)], 16))


@instr("pv.shuffle.b", "rd, rs1, rs2", f"31..27=24 26..25=0 14..12=1 {OPV}", "alu", EXT)
def pv_shuffle_b(h, d):
    """x[rd].B[i] = x[rs1].B[x[rs2].B[i][1:0]]"""
    src = lanes(h.x[d.rs1], 8)
    h.wx(d.rd, pack([src[sel & 3] for sel in lanes(h.x[d.rs2], 8)], 8))


@instr("pv.shuffle.sci.h", "rd, rs1, pv_uimm6", f"31..27=24 26=0 14..12=6 {OPV}", "alu", EXT)
def pv_shuffle_sci_h(h, d):
    """x[rd].H[i] = x[rs1].H[imm6[i]]"""
    src = lanes(h.x[d.rs1], 16)
    h.wx(d.rd, pack([src[(d.pv_uimm6 >> i) & 1] for i in range(2)], 16))


def _shufflei(k: int, funct5: int) -> None:
    def sem(h, d):
        src = lanes(h.x[d.rs1], 8)
        h.wx(d.rd, pack([src[(d.pv_uimm6 >> (2 * i)) & 3] for i in range(3)] + [src[k]], 8))
    sem.__doc__ = f"x[rd].B[3] = x[rs1].B[{k}]; x[rd].B[i] = x[rs1].B[imm6[2i+1:2i]] for i < 3"
    instr(f"pv.shufflei{k}.sci.b", "rd, rs1, pv_uimm6", f"31..27={funct5} 26=0 14..12=7 {OPV}",
          "alu", EXT)(sem)


for _k, _f5 in enumerate((24, 29, 30, 31)):
    _shufflei(_k, _f5)


def _shuffle2(size: str, width: int) -> None:
    count = 32 // width
    lane = LANE_NAME[width]

    def sem(h, d):
        first, old = lanes(h.x[d.rs1], width), lanes(h.x[d.rd], width)
        h.wx(d.rd, pack([(first if sel & count else old)[sel % count] for sel in lanes(h.x[d.rs2], width)],
                        width))
    bit = count.bit_length() - 1
    sem.__doc__ = (f"x[rd].{lane}[i] = (x[rs2].{lane}[i][{bit}] ? x[rs1] : x[rd]).{lane}"
                   f"[x[rs2].{lane}[i][{bit - 1}:0]]")
    instr(f"pv.shuffle2.{size}", "rd, rs1, rs2", f"31..27=25 26..25=0 14..12={FUNCT3[size, '']} {OPV}",
          "alu", EXT, reads_dest=True)(sem)


for _size, _width in WIDTHS.items():
    _shuffle2(_size, _width)


@instr("pv.pack", "rd, rs1, rs2", f"31..27=26 26..25=0 14..12=0 {OPV}", "alu", EXT)
def pv_pack(h, d):
    """x[rd] = x[rs1].H[0] : x[rs2].H[0] (rs1's low half in the upper lane)"""
    h.wx(d.rd, (h.x[d.rs1] << 16) | (h.x[d.rs2] & 0xFFFF))


@instr("pv.pack.h", "rd, rs1, rs2", f"31..27=26 26..25=1 14..12=0 {OPV}", "alu", EXT)
def pv_pack_h(h, d):
    """x[rd] = x[rs1].H[1] : x[rs2].H[1] (the upper halves)"""
    h.wx(d.rd, (h.x[d.rs1] & 0xFFFF_0000) | (h.x[d.rs2] >> 16))


@instr("pv.packhi.b", "rd, rs1, rs2", f"31..27=27 26..25=0 14..12=1 {OPV}", "alu", EXT, reads_dest=True)
def pv_packhi_b(h, d):
    """x[rd].B[3] = x[rs1].B[0]; x[rd].B[2] = x[rs2].B[0]; lanes 1, 0 of x[rd] kept"""
    h.wx(d.rd, ((h.x[d.rs1] & 0xFF) << 24) | ((h.x[d.rs2] & 0xFF) << 16) | (h.x[d.rd] & 0xFFFF))


@instr("pv.packlo.b", "rd, rs1, rs2", f"31..27=28 26..25=0 14..12=1 {OPV}", "alu", EXT, reads_dest=True)
def pv_packlo_b(h, d):
    """x[rd].B[1] = x[rs1].B[0]; x[rd].B[0] = x[rs2].B[0]; lanes 3, 2 of x[rd] kept"""
    h.wx(d.rd, (h.x[d.rd] & 0xFFFF_0000) | ((h.x[d.rs1] & 0xFF) << 8) | (h.x[d.rs2] & 0xFF))

