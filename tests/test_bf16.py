"""bfloat16 (smallFloat Xf16alt / Xfvecalt): encodings against the PULP (GAP9) assembler's words, and
the arithmetic of the hart against an independent oracle in every rounding mode.

The oracle is written here from the IEEE 754 definitions, independently of isa/ieee754.py: operands
become exact fractions, the exact result is rounded by choosing between the two neighbouring
representable values, and the flags follow RISC-V (tininess after rounding). SoftFloat (softfloatpy)
has no bfloat16 arithmetic, but it has the binary32 -> bfloat16 conversion: fcvt.ah.s is checked
against it in every rounding mode.
"""
from __future__ import annotations

import random
from fractions import Fraction

import pytest
import softfloatpy as sf

from mcusim.isa.codec import decode, encode, entries
from mcusim.kernels_asm import assemble
from mcusim.simulator.hart import Hart
from mcusim.simulator.memory import Memory

RNE, RTZ, RDN, RUP, RMM = range(5)
NX, UF, OF, DZ, NV = 1, 2, 4, 8, 16
EXP_BITS, FRAC_BITS = 8, 7
BIAS = 127
EMIN = 1 - BIAS
EMAX = BIAS
QNAN = 0x7FC0
BOX = 0xFFFF0000


# --- the oracle ------------------------------------------------------------------------------------
def value(bits: int) -> Fraction | str:
    """The exact value of a bfloat16, or 'inf', '-inf', 'qnan', 'snan'."""
    sign, exp, frac = bits >> 15, bits >> 7 & 0xFF, bits & 0x7F
    if exp == 0xFF:
        if frac:
            return "qnan" if frac & 0x40 else "snan"
        return "-inf" if sign else "inf"
    mag = Fraction(frac, 1 << FRAC_BITS) * Fraction(2) ** EMIN if exp == 0 else \
        (1 + Fraction(frac, 1 << FRAC_BITS)) * Fraction(2) ** (exp - BIAS)
    return -mag if sign else mag


def _quantum(mag: Fraction, unbounded: bool) -> Fraction:
    e = mag.numerator.bit_length() - mag.denominator.bit_length()
    if Fraction(2) ** e > mag:
        e -= 1
    if not unbounded:
        e = max(e, EMIN)
    return Fraction(2) ** (e - FRAC_BITS)


def _round_mag(mag: Fraction, negative: bool, rm: int, unbounded: bool = False) -> Fraction:
    q = _quantum(mag, unbounded)
    low = (mag // q) * q
    high = low + q
    if low == mag:
        return mag
    up = {RNE: mag - low > high - mag or (mag - low == high - mag and (low / q) % 2 == 1),
          RMM: mag - low >= high - mag,
          RTZ: False,
          RDN: negative,
          RUP: not negative}[rm]
    return high if up else low


def encode_bf16(negative: bool, mag: Fraction) -> int:
    if mag == 0:
        return 0x8000 if negative else 0
    e = mag.numerator.bit_length() - mag.denominator.bit_length()
    if Fraction(2) ** e > mag:
        e -= 1
    if e < EMIN:
        bits = int(mag / Fraction(2) ** (EMIN - FRAC_BITS))
    else:
        bits = (e + BIAS) << FRAC_BITS | int((mag / Fraction(2) ** e - 1) * (1 << FRAC_BITS))
    return bits | (0x8000 if negative else 0)


MAX_FINITE = (2 - Fraction(1, 1 << FRAC_BITS)) * Fraction(2) ** EMAX


def round_to_bf16(exact: Fraction, rm: int, zero_sign: int = 0) -> tuple[int, int]:
    if exact == 0:
        return zero_sign << 15, 0
    negative = exact < 0
    mag = abs(exact)
    rounded = _round_mag(mag, negative, rm)
    flags = NX if rounded != mag else 0
    if rounded > MAX_FINITE:
        to_inf = rm in (RNE, RMM) or (rm == RUP and not negative) or (rm == RDN and negative)
        return (0xFF80 if negative else 0x7F80) if to_inf else encode_bf16(negative, MAX_FINITE) | 0, OF | NX
    tiny = _round_mag(mag, negative, rm, unbounded=True) < Fraction(2) ** EMIN
    if tiny and flags:
        flags |= UF
    return encode_bf16(negative, rounded), flags


def oracle(op: str, rm: int, *operands: int) -> tuple[int, int]:
    vals = [value(b) for b in operands]
    if any(v == "snan" for v in vals):
        return QNAN, NV
    if any(v == "qnan" for v in vals):
        return QNAN, 0
    if any(isinstance(v, str) for v in vals):
        return _oracle_infinite(op, vals, [b >> 15 for b in operands])
    if op == "div" and vals[1] == 0:
        if vals[0] == 0:
            return QNAN, NV
        return (0x7F80 if (operands[0] ^ operands[1]) & 0x8000 == 0 else 0xFF80), DZ
    exact = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
             "div": lambda a, b: a / b, "fma": lambda a, b, c: a * b + c}[op](*vals)
    if exact == 0:
        return _zero(op, rm, operands), 0
    return round_to_bf16(exact, rm)


def _zero(op: str, rm: int, operands) -> int:
    """The sign of an exact zero result (IEEE 754 6.3): the sign of the terms when they agree,
    else +0 (-0 in round-down)."""
    s = [b >> 15 for b in operands]
    if op in ("mul", "div"):
        return (s[0] ^ s[1]) << 15
    terms = (s[0] ^ s[1], s[2]) if op == "fma" else (s[0], s[1] ^ (op == "sub"))
    return (terms[0] if terms[0] == terms[1] else int(rm == RDN)) << 15


def _oracle_infinite(op: str, vals, signs) -> tuple[int, int]:
    def inf_sign(v):
        return signs[vals.index(v)] if isinstance(v, str) else int(v < 0) if v else signs[vals.index(v)]

    def is_inf(v):
        return v in ("inf", "-inf")
    if op in ("add", "sub"):
        a, b = vals
        sb = inf_sign(b) ^ (op == "sub")
        if is_inf(a) and is_inf(b) and inf_sign(a) != sb:
            return QNAN, NV
        return (0xFF80 if (inf_sign(a) if is_inf(a) else sb) else 0x7F80), 0
    if op == "mul":
        a, b = vals
        if (is_inf(a) and b == 0) or (is_inf(b) and a == 0):
            return QNAN, NV
        return (0xFF80 if inf_sign(a) ^ inf_sign(b) else 0x7F80), 0
    if op == "div":
        a, b = vals
        if is_inf(a) and is_inf(b):
            return QNAN, NV
        if is_inf(b):
            return (inf_sign(a) ^ inf_sign(b)) << 15, 0
        return (0xFF80 if inf_sign(a) ^ inf_sign(b) else 0x7F80), 0
    a, b, c = vals     # fma
    if (is_inf(a) and b == 0) or (is_inf(b) and a == 0):
        return QNAN, NV
    if is_inf(a) or is_inf(b):
        ps = inf_sign(a) ^ inf_sign(b)
        if is_inf(c) and inf_sign(c) != ps:
            return QNAN, NV
        return (0xFF80 if ps else 0x7F80), 0
    return (0xFF80 if inf_sign(c) else 0x7F80), 0


# --- running one instruction on the hart -------------------------------------------------------------
def execute(mnemonic: str, frm: int, f: dict[int, int], operands: dict[str, int]) -> Hart:
    mem = Memory()
    mem.add_region("ram", 0x1000, 0x100)
    h = Hart(mem)
    h.pc, h.frm = 0x1000, frm
    for r, v in f.items():
        h.f[r] = v
    mem.write(0x1000, 4, encode(entries(mnemonic)[0], operands))
    h.step()
    return h


SPECIAL = [0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0x7F81, 0x0001, 0x007F, 0x0080, 0x7F7F, 0x3F80, 0xBF80,
           0x3F81, 0x4049, 0x0040, 0x8001, 0x00FF, 0x7F00]


def operand(rng: random.Random) -> int:
    if rng.random() < 0.35:
        return rng.choice(SPECIAL)
    if rng.random() < 0.3:      # near each other in exponent: cancellations and ties
        return (rng.choice([0x3F, 0xBF, 0x00, 0x80]) << 8) | rng.getrandbits(8)
    return rng.getrandbits(16)


SCALAR = {"fadd.ah": "add", "fsub.ah": "sub", "fmul.ah": "mul", "fdiv.ah": "div", "fmadd.ah": "fma"}


@pytest.mark.parametrize("mnemonic", sorted(SCALAR))
def test_scalar_arithmetic_equals_the_oracle_in_every_rounding_mode(mnemonic):
    rng = random.Random(mnemonic)
    op = SCALAR[mnemonic]
    n = 3 if op == "fma" else 2
    for trial in range(1500):
        ops = [operand(rng) for _ in range(n)]
        frm = trial % 5
        names = {"fd": 4, "fs1": 1, "fs2": 2, "fs3": 3}
        h = execute(mnemonic, frm, {1: BOX | ops[0], 2: BOX | ops[1], 3: BOX | (ops[2] if n == 3 else 0)},
                    {k: v for k, v in names.items() if k in entries(mnemonic)[0].operands})
        expect, flags = oracle(op, frm, *ops)
        assert (h.f[4], h.fflags) == (BOX | expect, flags), \
            f"{mnemonic} frm={frm} {[hex(o) for o in ops]}: got {h.f[4]:#x}/{h.fflags:#x}, oracle {expect:#x}/{flags:#x}"


def test_alternative_rounding_reads_frm_and_traps_on_a_reserved_frm():
    h = execute("fadd.ah", RUP, {1: BOX | 0x3F80, 2: BOX | 0x0001}, {"fd": 4, "fs1": 1, "fs2": 2})
    assert h.f[4] == BOX | 0x3F81 and h.fflags == NX          # 1 + tiny, rounded up by frm
    from mcusim.simulator.hart import Trap
    with pytest.raises(Trap):
        execute("fadd.ah", 5, {1: BOX | 0x3F80, 2: BOX | 0x3F80}, {"fd": 4, "fs1": 1, "fs2": 2})


def test_fcvt_ah_s_equals_softfloat_in_every_rounding_mode():
    sf.set_tininess_mode(sf.TininessMode.AFTER_ROUNDING)
    rng = random.Random(3)
    specials = [0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, 1, 0x007FFFFF, 0x3F800000,
                0x7F7FFFFF, 0x3F808000, 0x3F818000, 0x00008000, 0x7F7F8000]
    for trial in range(3000):
        a = rng.choice(specials) if rng.random() < 0.3 else rng.getrandbits(32)
        frm = trial % 5
        h = execute("fcvt.ah.s", frm, {1: a}, {"fd": 4, "fs1": 1})
        sf.set_rounding_mode(sf.RoundingMode(frm))
        sf.set_exception_flags(0)
        got = sf.f32_to_bf16(sf.Float32.from_bytes(a.to_bytes(4, "big")))
        expect = int.from_bytes(got.to_bytes(), "big")
        if (expect & 0x7F80) == 0x7F80 and expect & 0x7F:
            expect = QNAN
        assert (h.f[4], h.fflags) == (BOX | expect, int(sf.get_exception_flags())), f"{a:#010x} frm={frm}"


def test_widening_and_bf16_half_conversions_round_trip():
    rng = random.Random(4)
    for _ in range(500):
        a = rng.getrandbits(16)
        v = value(a)
        h = execute("fcvt.s.ah", RNE, {1: BOX | a}, {"fd": 4, "fs1": 1})
        if isinstance(v, Fraction):
            assert h.f[4] == a << 16 and h.fflags == 0        # exact: bfloat16 is binary32's top half
        else:
            assert h.f[4] == (0x7FC00000 if "nan" in v else a << 16)


def test_vector_lanes_equal_the_oracle():
    rng = random.Random(7)
    for mnemonic, op in (("vfadd.ah", "add"), ("vfmul.ah", "mul"), ("vfmac.ah", "fma"), ("vfsub.r.ah", "sub")):
        for trial in range(400):
            a, b, c = ([operand(rng), operand(rng)] for _ in range(3))
            frm = trial % 5
            pack = lambda lanes: lanes[0] | lanes[1] << 16   # noqa: E731
            h = execute(mnemonic, frm, {1: pack(a), 2: pack(b), 3: pack(c)}, {"fd": 3, "fs1": 1, "fs2": 2})
            expect, flags = 0, 0
            for lane in (0, 1):
                second = b[0] if ".r." in mnemonic else b[lane]
                args = (a[lane], second, c[lane]) if op == "fma" else (a[lane], second)
                v, fl = oracle(op, frm, *args)
                expect |= v << 16 * lane
                flags |= fl
            assert (h.f[3], h.fflags) == (expect, flags), f"{mnemonic} frm={frm} {a} {b} {c}"


def test_vfdotpex_s_ah_is_the_exact_sum_rounded_once_to_binary32():
    rng = random.Random(9)
    for trial in range(400):
        a, b = rng.getrandbits(32), rng.getrandbits(32)
        lanes = [a & 0xFFFF, a >> 16, b & 0xFFFF, b >> 16]
        if any(isinstance(value(x), str) for x in lanes):
            continue
        c = (rng.getrandbits(16) << 16) if rng.random() < 0.8 else 0x3F800000
        h = execute("vfdotpex.s.ah", RNE, {1: a, 2: b, 3: c}, {"fd": 3, "fs1": 1, "fs2": 2})
        exact = value(lanes[0]) * value(lanes[2]) + value(lanes[1]) * value(lanes[3]) + value(c >> 16)
        # c is a binary32 whose low half is zero, i.e. exactly the bfloat16 c >> 16
        got = h.f[3]
        if exact == 0 or (got & 0x7F800000) == 0x7F800000:
            continue
        sf.set_rounding_mode(sf.RoundingMode.NEAR_EVEN)
        # the binary32 result must be the exact sum rounded once: check it brackets the exact value
        step = Fraction(2) ** (((got >> 23) & 0xFF) - 127 - 23) if got & 0x7F800000 else Fraction(2) ** -149
        got_value = (-1 if got >> 31 else 1) * (((got & 0x7FFFFF) | (0x800000 if got & 0x7F800000 else 0))
                                                * (step if got & 0x7F800000 else Fraction(2) ** -149))
        assert abs(got_value - exact) <= step / 2, f"{a:#x} {b:#x} {c:#x}"


PULP_WORDS = {      # the PULP/GAP9 GNU assembler's words (its x registers a0/a1 = our fa0/fa1)
    "fmax.ah fa0, fa0, fa1": 0x2cb55553,
    "fmin.ah fa0, fa0, fa1": 0x2cb54553,
    "fsgnjx.ah fa0, fa0, fa0": 0x24a56553,
    "fsqrt.ah fa0, fa0": 0x5c055553,
    "vfmax.ah fa0, fa0, fa1": 0x8cb51533,
    "vfmin.ah fa0, fa0, fa1": 0x8ab51533,
    "vfsgnjx.ah fa0, fa0, fa0": 0x9ea51533,
}


def test_encodings_match_the_pulp_assembler():
    program = assemble("_start:\n" + "\n".join(PULP_WORDS) + "\n", "<bf16>")
    data = bytes(program.loadable_sections()[0].data)
    words = [int.from_bytes(data[i:i + 4], "little") for i in range(0, 4 * len(PULP_WORDS), 4)]
    assert words == list(PULP_WORDS.values())
    for text, word in PULP_WORDS.items():
        assert decode(word).instr.mnemonic == text.split()[0]
