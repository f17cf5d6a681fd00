"""FP16-vector lanes against a SoftFloat composition: each lane of a vector instruction executed on
the hart equals the scalar SoftFloat (softfloatpy) operation on that lane, in every rounding mode,
and fflags is the OR of the lanes' flags."""
import random

import pytest
import softfloatpy as sf

from mcusim.isa.codec import encode, entries
from mcusim.simulator.hart import Hart
from mcusim.simulator.memory import Memory

sf.set_tininess_mode(sf.TininessMode.AFTER_ROUNDING)

SPECIAL = [0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0x7C01, 0x0001, 0x03FF, 0x0400, 0x7BFF, 0x3C00,
           0xBC00, 0x3555, 0x5BFF, 0xC2AA, 0x0200]


def half(v: int):
    return sf.Float16.from_bytes(v.to_bytes(2, "big"))


def bits(x) -> int:
    v = int.from_bytes(x.to_bytes(), "big")
    return 0x7E00 if (v & 0x7C00) == 0x7C00 and v & 0x3FF else v      # RISC-V canonical NaN


def soft(rm: int, fn, *args) -> tuple[int, int]:
    sf.set_rounding_mode(sf.RoundingMode(rm))
    sf.set_exception_flags(0)
    result = fn(*[half(a) for a in args])
    return bits(result), int(sf.get_exception_flags())


def neg(v: int) -> int:
    return v ^ 0x8000


LANE_OPS = {
    "vfadd.h": lambda rm, a, b, c: soft(rm, sf.f16_add, a, b),
    "vfsub.h": lambda rm, a, b, c: soft(rm, sf.f16_sub, a, b),
    "vfmul.h": lambda rm, a, b, c: soft(rm, sf.f16_mul, a, b),
    "vfdiv.h": lambda rm, a, b, c: soft(rm, sf.f16_div, a, b),
    "vfmac.h": lambda rm, a, b, c: soft(rm, sf.f16_mul_add, a, b, c),
    "vfmre.h": lambda rm, a, b, c: soft(rm, sf.f16_mul_add, a, b, neg(c)),
}


def lanes(rng: random.Random) -> int:
    pick = lambda: rng.choice(SPECIAL) if rng.random() < 0.4 else rng.getrandbits(16)  # noqa: E731
    return pick() | pick() << 16


def execute(mnemonic: str, a: int, b: int, c: int, frm: int) -> tuple[int, int]:
    mem = Memory()
    mem.add_region("ram", 0x1000, 0x100)
    h = Hart(mem)
    h.pc = 0x1000
    h.frm = frm
    h.f[1], h.f[2], h.f[3] = a, b, c
    mem.write(0x1000, 4, encode(entries(mnemonic)[0], {"fd": 3, "fs1": 1, "fs2": 2}))
    h.step()
    return h.f[3], h.fflags


@pytest.mark.parametrize("mnemonic", sorted(LANE_OPS))
@pytest.mark.parametrize("replicated", [False, True])
def test_vector_lanes_equal_softfloat_per_lane(mnemonic, replicated):
    rng = random.Random(mnemonic)
    op = LANE_OPS[mnemonic]
    name = mnemonic.replace(".h", ".r.h") if replicated else mnemonic
    for _ in range(300):
        a, b, c, frm = lanes(rng), lanes(rng), lanes(rng), rng.randrange(5)
        got, flags = execute(name, a, b, c, frm)
        expect, expect_flags = 0, 0
        for lane in (0, 1):
            x, y, z = (a >> 16 * lane) & 0xFFFF, (b >> (0 if replicated else 16 * lane)) & 0xFFFF, \
                (c >> 16 * lane) & 0xFFFF
            value, fl = op(frm, x, y, z)
            expect |= value << 16 * lane
            expect_flags |= fl
        assert (got, flags) == (expect, expect_flags), \
            f"{name} frm={frm} a={a:#010x} b={b:#010x} c={c:#010x}: got {got:#010x}/{flags:#x}, " \
            f"SoftFloat {expect:#010x}/{expect_flags:#x}"


def test_vector_sqrt_equals_softfloat_per_lane():
    rng = random.Random(5)
    for _ in range(300):
        a, frm = lanes(rng), rng.randrange(5)
        mem = Memory()
        mem.add_region("ram", 0x1000, 0x100)
        h = Hart(mem)
        h.pc, h.frm, h.f[1] = 0x1000, frm, a
        mem.write(0x1000, 4, encode(entries("vfsqrt.h")[0], {"fd": 3, "fs1": 1}))
        h.step()
        expect, flags = 0, 0
        for lane in (0, 1):
            value, fl = soft(frm, sf.f16_sqrt, (a >> 16 * lane) & 0xFFFF)
            expect |= value << 16 * lane
            flags |= fl
        assert (h.f[3], h.fflags) == (expect, flags)
