"""C bfloat16 semantics (simulator/cengine/sem_bf16.c, bf16_fast.h) against the Python reference: every
Xf16alt, Xfvecalt and Xfauxalt entry through the differential harness with bfloat16 edge values in the
registers, every rounding mode (frm 0..4, and the reserved 5 and 7 -> dyn), fflags compared; then
targeted cases that force each fast path to its boundary (window of add/fma/dotpex, tininess,
overflow, exact zeros) in every rounding mode."""
from __future__ import annotations

import copy
import random

import pytest

import mcusim.isa.ext  # noqa: F401  (registers every instruction)
from mcusim.isa.spec import INSTRUCTIONS
from tests import cengine_diff
from tests.cengine_diff import compare, module, run_c, run_python

BF16_EXTENSIONS = {"Xf16alt", "Xfvecalt", "Xfauxalt"}
ENTRIES = [e for e in INSTRUCTIONS if e.extension in BF16_EXTENSIONS]
BY_KEY = {e.key: e for e in ENTRIES}
TRIALS = 250
BOX = 0xFFFF_0000
# zeros, infinities, qNaN, sNaN, smallest/largest subnormal, smallest normal, 1, largest finite, 1 + ulp,
# a value whose square is subnormal, values near 2**-126 and 2**127 for overflow and tininess
SPECIALS = [0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0x7F81, 0x0001, 0x007F, 0x0080, 0x3F80, 0x7F7F, 0x3F81,
            0x1F80, 0x0081, 0x00FF, 0x7F00, 0xFF7F, 0xBF80, 0x4000, 0x3F7F]


def _bf16(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.35:
        return rng.choice(SPECIALS)
    if r < 0.7:     # a normal number of moderate exponent: the fast paths' common case
        return rng.getrandbits(1) << 15 | rng.randrange(100, 154) << 7 | rng.getrandbits(7)
    return rng.getrandbits(16)


def _random_state(rng: random.Random, entry):
    x, _, frm = ORIGINAL_STATE(rng, entry)
    f = []
    for _ in range(32):
        kind = rng.randrange(4)
        if kind == 0:     # FP32 (the accumulator of vfdotpex.s.ah, the source of fcvt.ah.s / vfcpka.ah.s)
            f.append(_bf16(rng) << 16 | (rng.getrandbits(16) if rng.random() < 0.7 else 0))
        elif kind == 1:   # a NaN-boxed scalar
            f.append(BOX | _bf16(rng))
        elif kind == 2:   # a vector of two lanes
            f.append(_bf16(rng) | _bf16(rng) << 16)
        else:
            f.append(rng.getrandbits(32))
    return x, f, frm


ORIGINAL_STATE = cengine_diff.random_state


@pytest.fixture(scope="module", autouse=True)
def _bf16_state():
    """bfloat16 edge values in the registers, and each seed's 64 KiB memory built once."""
    original = cengine_diff._memory
    cache = {}

    def memory(seed):
        if seed not in cache:
            cache[seed] = original(seed)
        return copy.deepcopy(cache[seed])

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cengine_diff, "_memory", memory)
        mp.setattr(cengine_diff, "random_state", _random_state)
        yield


def test_every_bf16_entry_is_in_the_table():
    names = {e.key for e in ENTRIES}
    for must in ("fadd.ah", "fmadd.ah", "vfmac.ah", "vfmac.r.ah", "vfdotpex.s.ah", "fcvt.ah.s", "vfcpka.ah.s"):
        assert must in names


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.key for e in ENTRIES])
def test_differential(entry):
    module()
    assert compare(entry, trials=TRIALS) == []


# --- targeted boundaries, every rounding mode ----------------------------------------------------------

def _run(key: str, f: dict, frm: int):
    entry = BY_KEY[key]
    values = {name: r for name, r in zip(entry.operands, (1, 2, 3, 4)) if name != "rm"}
    if "rm" in entry.operands:
        values["rm"] = 7
    x = [0] * 32
    fs = [0] * 32
    for r, v in f.items():
        fs[r] = v
    py = run_python(entry, values, x, fs, frm, 0)
    c = run_c(entry, values, x, fs, frm, 0)
    assert c == py, f"{key} f={ {r: hex(v) for r, v in f.items()} } frm={frm}: C {c.f[1]:#x}/{c.fflags} " \
                    f"vs Python {py.f[1]:#x}/{py.fflags}"
    return py


@pytest.mark.parametrize("frm", range(5))
def test_fast_path_boundaries(frm):
    module()
    rng = random.Random(frm)
    for _ in range(150):
        # add: exponent differences around the 44-bit window, results near the normal range's ends
        e = rng.randrange(1, 255)
        d = rng.choice([0, 1, 7, 8, 9, 43, 44, 45, 46, rng.randrange(0, 255)])
        a = rng.getrandbits(1) << 15 | e << 7 | rng.getrandbits(7)
        b = rng.getrandbits(1) << 15 | max(0, min(254, e - d)) << 7 | rng.getrandbits(7)
        for key in ("fadd.ah", "fsub.ah"):
            _run(key, {2: BOX | a, 3: BOX | b}, frm)
        _run("vfadd.ah", {2: a | b << 16, 3: b | a << 16}, frm)
        # mul: products near 2**-126 (tininess) and 2**128 (overflow)
        ea = rng.randrange(1, 255)
        eb = rng.choice([254 - ea, 253 - ea, 255 - ea, 127 - ea, 128 - ea, 126 - ea, 0, 1])
        eb = max(0, min(254, eb))
        p = rng.getrandbits(1) << 15 | ea << 7 | rng.getrandbits(7)
        q = rng.getrandbits(1) << 15 | eb << 7 | rng.getrandbits(7)
        _run("fmul.ah", {2: BOX | p, 3: BOX | q}, frm)
        _run("vfmul.ah", {2: p | q << 16, 3: q | p << 16}, frm)
        # fma / vfmac: addend around the product's window; exact cancellation
        c = rng.choice([p ^ 0x8000, b, a, rng.getrandbits(16), 0x8000, 0])
        _run("fmadd.ah", {2: BOX | p, 3: BOX | q, 4: BOX | c}, frm)
        _run("fnmsub.ah", {2: BOX | p, 3: BOX | q, 4: BOX | c}, frm)
        _run("vfmac.ah", {1: c | a << 16, 2: p | b << 16, 3: q | 0x3F80 << 16}, frm)
        _run("vfmre.r.ah", {1: c | a << 16, 2: p | b << 16, 3: q}, frm)
        # dotpex: FP32 accumulators near the products, cancelling, far away, subnormal
        acc = rng.choice([rng.getrandbits(32), (p << 16) ^ 0x8000_0000, rng.getrandbits(23),
                          rng.randrange(1, 255) << 23 | rng.getrandbits(23)])
        _run("vfdotpex.s.ah", {1: acc, 2: p | a << 16, 3: q | b << 16}, frm)
        _run("vfdotpex.s.r.ah", {1: acc, 2: p | a << 16, 3: q}, frm)
        # conversions
        s = rng.choice([rng.getrandbits(32), rng.randrange(0, 4) << 23 | rng.getrandbits(23),
                        0x7F7F_0000 | rng.getrandbits(16)])
        _run("fcvt.ah.s", {2: s}, frm)
        _run("vfcpka.ah.s", {2: s, 3: acc}, frm)
        _run("fcvt.s.ah", {2: BOX | a}, frm)


def test_dotpex_ah_rounds_once_and_cancels_to_signed_zero():
    module()
    # 1 + 2^-48 + 2^-80 (two exact bf16 products): one rounding, up to 1 + 2^-23 in RUP; a cancelling sum is +0
    out = _run("vfdotpex.s.ah", {1: 0x3F80_0000, 2: 0x2B80_3380, 3: 0x2B80_3380}, 3)
    assert out.f[1] == 0x3F80_0001 and out.fflags == 1
    out = _run("vfdotpex.s.ah", {1: 0xBF80_0000, 2: 0x0000_3F80, 3: 0x0000_3F80}, 0)
    assert out.f[1] == 0 and out.fflags == 0
    out = _run("vfdotpex.s.ah", {1: 0xBF80_0000, 2: 0x0000_3F80, 3: 0x0000_3F80}, 2)   # rdn: -0
    assert out.f[1] == 0x8000_0000
