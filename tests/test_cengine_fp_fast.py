"""The inline FP fast paths of the compiled engine (simulator/cengine/fp_fast.h, dotpex_fast.h)
against the exact paths: ieee754.c (mcu_fp_*) and the Python reference (isa/ieee754.py). Results and
flags must be identical for every operation and rounding mode.

In CI: every pair (triple for the FMAs) of special values (zeros, subnormals, the normal range's
edges, infinities, NaNs, overflow) in every mode, the windows where host arithmetic stops being exact
(exponent differences around each limit), a seeded random sample run in C, and a random sample against
the Python reference. The >= 10 M-per-op soak is tools/fp_fast_soak.py (outside CI)."""
from __future__ import annotations

import random

import pytest

from mcusim.isa import ieee754 as fp
from mcusim.isa.ieee754 import F16, F32
from mcusim.simulator.cengine.binding import load
from tests.test_cengine_ieee754 import fma_specials, rand_op, specials


def _lanes(fn):
    """The Python reference of an FP16-SIMD op: fn(x, y, z, rm) -> (half, flags) on each lane of the
    words a, b, c; the results packed, the flags ORed."""
    def ref(a, b, c, rm):
        lo, f0 = fn(a & 0xFFFF, b & 0xFFFF, c & 0xFFFF, rm)
        hi, f1 = fn(a >> 16, b >> 16, c >> 16, rm)
        return lo | hi << 16, f0 | f1
    return ref


def _cpka(a, b, c, rm):
    lo, f0 = fp.convert(F32, F16, a, rm)
    hi, f1 = fp.convert(F32, F16, b, rm)
    return lo | hi << 16, f0 | f1


# fp_fast_check.c's operation ids, in order: (name, operand format, Python reference); formats: "h"
# binary16, "s" binary32, "v" vfdotpex (two halves in a and b, a binary32 c), "w" FP16-SIMD (two
# halves in every operand), "p" vfcpka.h.s (binary32 a and b, packed into two halves)
FAST_OPS = [
    ("fadd.h", "h", lambda a, b, c, rm: fp.add(F16, a, b, rm)),
    ("fsub.h", "h", lambda a, b, c, rm: fp.sub(F16, a, b, rm)),
    ("fmul.h", "h", lambda a, b, c, rm: fp.mul(F16, a, b, rm)),
    ("fmadd.h", "h", lambda a, b, c, rm: fp.fma(F16, a, b, c, rm, False, False)),
    ("fmsub.h", "h", lambda a, b, c, rm: fp.fma(F16, a, b, c, rm, False, True)),
    ("fnmsub.h", "h", lambda a, b, c, rm: fp.fma(F16, a, b, c, rm, True, False)),
    ("fnmadd.h", "h", lambda a, b, c, rm: fp.fma(F16, a, b, c, rm, True, True)),
    ("fadd.s", "s", lambda a, b, c, rm: fp.add(F32, a, b, rm)),
    ("fsub.s", "s", lambda a, b, c, rm: fp.sub(F32, a, b, rm)),
    ("fmul.s", "s", lambda a, b, c, rm: fp.mul(F32, a, b, rm)),
    ("fcvt.h.s", "s", lambda a, b, c, rm: fp.convert(F32, F16, a, rm)),
    ("fcvt.s.h", "h", lambda a, b, c, rm: fp.convert(F16, F32, a, rm)),
    ("feq.h", "h", lambda a, b, c, rm: fp.eq(F16, a, b)),
    ("flt.h", "h", lambda a, b, c, rm: fp.lt(F16, a, b)),
    ("fle.h", "h", lambda a, b, c, rm: fp.le(F16, a, b)),
    ("fmin.h", "h", lambda a, b, c, rm: fp.min_(F16, a, b)),
    ("fmax.h", "h", lambda a, b, c, rm: fp.max_(F16, a, b)),
    ("feq.s", "s", lambda a, b, c, rm: fp.eq(F32, a, b)),
    ("flt.s", "s", lambda a, b, c, rm: fp.lt(F32, a, b)),
    ("fle.s", "s", lambda a, b, c, rm: fp.le(F32, a, b)),
    ("fmin.s", "s", lambda a, b, c, rm: fp.min_(F32, a, b)),
    ("fmax.s", "s", lambda a, b, c, rm: fp.max_(F32, a, b)),
    ("vfdotpex.s.h", "v", lambda a, b, c, rm: fp.dotpex_h(a, b, c, rm)),
    ("fmadd.s", "s", lambda a, b, c, rm: fp.fma(F32, a, b, c, rm, False, False)),
    ("fmsub.s", "s", lambda a, b, c, rm: fp.fma(F32, a, b, c, rm, False, True)),
    ("fnmsub.s", "s", lambda a, b, c, rm: fp.fma(F32, a, b, c, rm, True, False)),
    ("fnmadd.s", "s", lambda a, b, c, rm: fp.fma(F32, a, b, c, rm, True, True)),
    ("fdiv.h", "h", lambda a, b, c, rm: fp.div(F16, a, b, rm)),
    ("fdiv.s", "s", lambda a, b, c, rm: fp.div(F32, a, b, rm)),
    ("fsqrt.h", "h", lambda a, b, c, rm: fp.sqrt(F16, a, rm)),
    ("fsqrt.s", "s", lambda a, b, c, rm: fp.sqrt(F32, a, rm)),
    ("vfadd.h", "w", _lanes(lambda x, y, z, rm: fp.add(F16, x, y, rm))),
    ("vfsub.h", "w", _lanes(lambda x, y, z, rm: fp.sub(F16, x, y, rm))),
    ("vfmul.h", "w", _lanes(lambda x, y, z, rm: fp.mul(F16, x, y, rm))),
    ("vfmac.h", "w", _lanes(lambda x, y, z, rm: fp.fma(F16, x, y, z, rm, False, False))),
    ("vfmre.h", "w", _lanes(lambda x, y, z, rm: fp.fma(F16, x, y, z, rm, False, True))),
    ("vfmin.h", "w", _lanes(lambda x, y, z, rm: fp.min_(F16, x, y))),
    ("vfmax.h", "w", _lanes(lambda x, y, z, rm: fp.max_(F16, x, y))),
    ("vfcpka.h.s", "p", _cpka),
]
NAMES = [op[0] for op in FAST_OPS]
MODES = [fp.RNE, fp.RTZ, fp.RDN, fp.RUP, fp.RMM]


@pytest.fixture(scope="module")
def lib():
    mod = load()
    if mod is None:
        pytest.fail("the compiled engine is not built: run `pip install -e .` (or python simulator/cengine/build.py)")
    return mod


def fast(mod, op: int, a: int, b: int, c: int, rm: int) -> tuple[int, int]:
    flags = mod.ffi.new("uint32_t *")
    return mod.lib.mcu_fp_fast_op(op, a, b, c, rm, flags), flags[0]


def exact(mod, op: int, a: int, b: int, c: int, rm: int) -> tuple[int, int]:
    flags = mod.ffi.new("uint32_t *")
    return mod.lib.mcu_fp_exact_op(op, a, b, c, rm, flags), flags[0]


def test_every_fast_op_is_listed(lib):
    assert lib.lib.mcu_fp_fast_num_ops() == len(FAST_OPS)


def _check_all(mod, op: int, cases, python: bool) -> None:
    bad = []
    ref = FAST_OPS[op][2]
    for a, b, c, rm in cases:
        got = fast(mod, op, a, b, c, rm)
        want = ref(a, b, c, rm) if python else exact(mod, op, a, b, c, rm)
        if tuple(got) != tuple(want):
            bad.append(f"{NAMES[op]}({a:#x}, {b:#x}, {c:#x}, rm={rm}): fast {got[0]:#x}/{got[1]:#x} "
                       f"exact {want[0]:#x}/{want[1]:#x}")
    assert not bad, f"{len(bad)} differ:\n" + "\n".join(bad[:10])


@pytest.mark.parametrize("op", range(len(FAST_OPS)), ids=NAMES)
def test_special_values_every_mode(lib, op):
    """All pairs of special values (for the FMAs: triples of a shorter list) in every mode, against
    the Python reference."""
    name, kind, _ = FAST_OPS[op]
    if kind == "w":
        # every pair of specials in the low lanes (the FMAs: triples of the shorter list), the high
        # lanes a rotation of the same list, so that each lane meets every special somewhere
        if name in ("vfmac.h", "vfmre.h"):
            hs = fma_specials(F16)
            trip = [(x, y, z) for x in hs for y in hs for z in hs]
        else:
            hs = specials(F16)
            trip = [(x, y, 0x3C00) for x in hs for y in hs]
        rot = trip[len(trip) // 3:] + trip[:len(trip) // 3]
        cases = [(a0 | a1 << 16, b0 | b1 << 16, c0 | c1 << 16, rm) for rm in MODES
                 for (a0, b0, c0), (a1, b1, c1) in zip(trip, rot)]
    elif kind == "p":
        vals = specials(F32)
        cases = [(a, b, 0, rm) for rm in MODES for a in vals for b in vals[::3]]
    elif kind == "v":
        hs = fma_specials(F16)
        vals = [(x | y << 16) for x in hs[::2] for y in hs[1::3]]
        cs = fma_specials(F32)
        cases = [(a, b, c, rm) for rm in MODES for a in vals[::3] for b in vals[1::4] for c in cs]
    elif "ma" in name or "ms" in name:
        vals = fma_specials(F16 if kind == "h" else F32)
        cases = [(a, b, c, rm) for rm in MODES for a in vals for b in vals for c in vals]
    else:
        vals = specials(F16 if kind == "h" else F32)
        cases = [(a, b, 0, rm) for rm in MODES for a in vals for b in vals]
    _check_all(lib, op, cases, python=True)


def _window_cases(rng: random.Random, kind: str, n: int):
    """Operands whose exponents differ by amounts around the limits where host arithmetic stops being
    exact (fadd.s: 28 bits; fmadd.h: a 53-bit window over product and addend), with significands
    that make ties and near-ties (trailing zeros, all ones)."""
    fmt = F16 if kind == "h" else F32
    fb, bias = fmt.frac_bits, fmt.bias
    fracs = [0, fmt.frac_mask, 1, fmt.frac_mask - 1, 1 << (fb - 1), (1 << (fb - 1)) + 1, (1 << (fb - 1)) - 1]
    for _ in range(n):
        ea = rng.randint(fb + 4, 2 * bias - 2) if kind == "s" else rng.randint(1, 30)
        d = rng.randint(20, 34) if kind == "s" else rng.randint(0, 30)
        eb = max(min(ea - d, 2 * bias), 0)
        fa = rng.choice(fracs + [rng.getrandbits(fb)])
        fbv = rng.choice(fracs + [rng.getrandbits(fb)])
        a = rng.getrandbits(1) << fmt.sign_shift | ea << fb | fa
        b = rng.getrandbits(1) << fmt.sign_shift | eb << fb | fbv
        c = rng.getrandbits(1) << fmt.sign_shift | rng.randint(0, 30) << fb | rng.choice(fracs) if kind == "h" else 0
        yield a, b, c, rng.choice(MODES)


def _fma_window_cases(rng: random.Random, kind: str, n: int):
    """FMA operands whose addend's exponent lies around the product's, from far below to far above
    (the product has 2p bits: cancellation, ties and sticky bits far away), and division/square root
    operands whose quotients are exact, midpoints or near them (significands with trailing zeros)."""
    fmt = F16 if kind == "h" else F32
    fb, bias, top = fmt.frac_bits, fmt.bias, 2 * fmt.bias
    fracs = [0, fmt.frac_mask, 1, 1 << (fb - 1), (1 << (fb - 1)) + 1, fmt.frac_mask - 1]
    for _ in range(n):
        ea = rng.randint(bias - fb, bias + fb)
        eb = rng.randint(bias - fb, bias + fb)
        ep = ea + eb - bias
        ec = max(min(ep + rng.randint(-3 * fb - 4, 3 * fb + 4), top), 0)
        a = rng.getrandbits(1) << fmt.sign_shift | ea << fb | rng.choice(fracs + [rng.getrandbits(fb)])
        b = rng.getrandbits(1) << fmt.sign_shift | eb << fb | rng.choice(fracs + [rng.getrandbits(fb)])
        c = rng.getrandbits(1) << fmt.sign_shift | ec << fb | rng.choice(fracs + [rng.getrandbits(fb)])
        yield a, b, c, rng.choice(MODES)


@pytest.mark.parametrize("op", range(len(FAST_OPS)), ids=NAMES)
def test_exactness_windows_and_random_against_python(lib, op):
    """Window edges and biased random operands, against the Python reference."""
    name, kind, _ = FAST_OPS[op]
    rng = random.Random(f"fp-fast/{name}")
    cases = []
    if kind == "w":
        # two FP16 window cases per word (the first one's mode), plus training-range random lanes
        gen = _fma_window_cases if name in ("vfmac.h", "vfmre.h") else _window_cases
        lanes = list(gen(rng, "h", 1200)) + list(_window_cases(rng, "h", 1200))
        for (a0, b0, c0, rm), (a1, b1, c1, _) in zip(lanes[0::2], lanes[1::2]):
            cases.append((a0 | a1 << 16, b0 | b1 << 16, c0 | c1 << 16, rm))
        for _ in range(600):
            near = rng.randint(1, 30)
            w = [rand_op(rng, F16, near) | rand_op(rng, F16, near) << 16 for _ in range(3)]
            cases.append((*w, rng.choice(MODES)))
    elif kind == "p":
        # binary32 around binary16's range: its subnormals, overflow, ties at 13 dropped bits
        for _ in range(1200):
            near = 127 - 15 + rng.randint(-14, 31)
            cases.append((rand_op(rng, F32, near), rand_op(rng, F32, near), 0, rng.choice(MODES)))
    elif kind in "hs":
        cases += list(_window_cases(rng, kind, 600))
        if name[:2] in ("fm", "fn") and "mul" not in name or name.startswith(("fdiv", "fsqrt")):
            cases += list(_fma_window_cases(rng, kind, 600))
        fmt = F16 if kind == "h" else F32
        for _ in range(600):
            near = rng.randint(1, fmt.exp_special - 1)
            cases.append((rand_op(rng, fmt, near), rand_op(rng, fmt, near), rand_op(rng, fmt, near), rng.choice(MODES)))
    else:
        for _ in range(600):
            near = rng.randint(1, 30)
            a = rand_op(rng, F16, near) | rand_op(rng, F16, near) << 16
            b = rand_op(rng, F16, near) | rand_op(rng, F16, near) << 16
            cases.append((a, b, rand_op(rng, F32, near - 15 + 127 + rng.randint(-20, 20)), rng.choice(MODES)))
    _check_all(lib, op, cases, python=True)


@pytest.mark.parametrize("op", range(len(FAST_OPS)), ids=NAMES)
def test_random_sample_in_c(lib, op):
    """40,000 biased random operand sets per op (8,000 per rounding mode), fast against exact, in C."""
    first = lib.ffi.new("uint32_t[5]")
    for rm in MODES:
        bad = lib.lib.mcu_fp_fast_soak(op, 8000, 7 + rm, rm, first)
        assert bad == 0, (f"{NAMES[op]} rm={rm}: {bad} differ, first a={first[0]:#x} b={first[1]:#x} "
                          f"c={first[2]:#x} fast={first[4]:#x}")


@pytest.mark.parametrize("op", range(len(FAST_OPS)), ids=NAMES)
def test_training_like_sample_in_c(lib, op):
    """10,000 training-like operand sets per op (normal values at random scales, zeros, accumulators
    above and below the products; random modes), fast against exact, in C."""
    first = lib.ffi.new("uint32_t[5]")
    bad = lib.lib.mcu_fp_fast_soak_training(op, 10000, 3, -1, first)
    assert bad == 0, (f"{NAMES[op]}: {bad} differ, first a={first[0]:#x} b={first[1]:#x} c={first[2]:#x} "
                      f"rm={first[3]} fast={first[4]:#x}")


def test_known_values(lib):
    """The entries compute what their names say (1 + 2 = 3, 1 - 2 = -1)."""
    ffi, l = lib.ffi, lib.lib
    fl1, fl2 = ffi.new("uint32_t *"), ffi.new("uint32_t *")
    a, b = 0x3C00, 0x4000                       # 1.0, 2.0
    assert l.mcu_fp_fast_op(0, a, b, 0, 0, fl1) == 0x4200   # 3.0
    assert l.mcu_fp_exact_op(1, a, b, 0, 0, fl2) == 0xBC00  # -1.0
    assert l.mcu_fp_fast_soak(0, 2000, 1, -1, ffi.NULL) == 0


def _half(rng: random.Random, e_lo: int, e_hi: int) -> int:
    """A random FP16 with biased exponent in [e_lo, e_hi] (0: subnormal or zero)."""
    return rng.getrandbits(1) << 15 | rng.randint(e_lo, e_hi) << 10 | rng.getrandbits(10)


def _dotpex_hard_cases(rng: random.Random, n: int):
    """vfdotpex.s.h operands where the double path has its limits: an FP32 accumulator from far below
    to far above the products (no window on it any more: rounding to odd), products 20-40 binades
    apart (where p0 + p1 stops being exact and the path declines), c cancelling the products exactly
    or to within a few units, subnormal halves and zeros."""
    for k in range(n):
        kind = k % 4
        if kind == 0:                            # accumulator far from the products
            a = _half(rng, 10, 20) | _half(rng, 10, 20) << 16
            b = _half(rng, 10, 20) | _half(rng, 10, 20) << 16
            ec = max(1, min(254, 127 + rng.randint(-70, 70)))
            c = rng.getrandbits(1) << 31 | ec << 23 | rng.choice([0, 1, 0x7FFFFF, rng.getrandbits(23)])
        elif kind == 1:                          # products far apart (subnormal and large halves)
            a = _half(rng, 0, 3) | _half(rng, 26, 30) << 16
            b = _half(rng, 0, 6) | _half(rng, 24, 30) << 16
            if rng.random() < 0.5:
                a, b = a >> 16 | (a & 0xFFFF) << 16, b
            c = rng.choice([0, 0x80000000, rng.getrandbits(32) & 0xBFFFFFFF])
        else:                                    # c = -(a0*b0 + a1*b1), exactly or nearly
            a = _half(rng, 8, 22) | _half(rng, 8, 22) << 16
            b = _half(rng, 8, 22) | _half(rng, 8, 22) << 16
            exact = fp.dotpex_h(a, b, 0, fp.RTZ if kind == 2 else fp.RNE)[0]
            c = (exact ^ 0x80000000) + rng.choice([0, 0, 1, -1, 2]) if exact & 0x7FFFFFFF else rng.getrandbits(1) << 31
            c &= 0xFFFFFFFF
        yield a, b, c, rng.choice(MODES)


def test_dotpex_accumulator_windows_cancellation_against_python(lib):
    """The double path of vfdotpex.s.h (dotpex_fast.h) where its exactness argument is tight."""
    op = NAMES.index("vfdotpex.s.h")
    rng = random.Random("fp-fast/dotpex-hard")
    _check_all(lib, op, list(_dotpex_hard_cases(rng, 2000)), python=True)


def test_every_half_through_the_table(lib):
    """fp_fast.h's binary16 table, exhaustively: every half times 1.0, plus -0.0, and times 2**-14
    (subnormal results), rounding to nearest and down, fast against exact (ieee754.c)."""
    ops = [(NAMES.index("fmul.h"), 0x3C00), (NAMES.index("fadd.h"), 0x8000), (NAMES.index("fmul.h"), 0x0400)]
    bad = []
    for op, b in ops:
        for rm in (fp.RNE, fp.RDN):
            for h in range(0x10000):
                got, want = fast(lib, op, h, b, 0, rm), exact(lib, op, h, b, 0, rm)
                if got != want:
                    bad.append(f"{NAMES[op]}({h:#x}, {b:#x}) rm={rm}: fast {got} exact {want}")
    assert not bad, f"{len(bad)} differ: " + "; ".join(bad[:5])


def _edge_cases(rng: random.Random, fmt, name: str, n: int):
    """Operands whose exact result lands just below, on or just above the smallest normal (where
    tininess decides UF and the specialised round-to-nearest paths must decline) or the largest finite
    value (overflow, and the midpoint above it), with significands that make ties and near-ties."""
    fb, bias, es = fmt.frac_bits, fmt.bias, fmt.exp_special
    fracs = [0, fmt.frac_mask, 1, fmt.frac_mask - 1, 1 << (fb - 1), (1 << (fb - 1)) + 1]
    def num(e):
        return rng.getrandbits(1) << fmt.sign_shift | max(0, min(e, es - 1)) << fb | rng.choice(fracs + [rng.getrandbits(fb)])
    for k in range(n):
        low = k % 2 == 0                         # the smallest normal, else the largest finite value
        target = 1 if low else es - 1           # biased exponent of the result
        d = rng.randint(-2, 1)
        if name.startswith("fmul") or name.startswith("vfmul"):
            ea = rng.randint(bias // 2, bias + bias // 2) if not low else rng.randint(1, bias)
            a, b, c = num(ea), num(target + bias - ea + d), 0
        elif name.startswith("fdiv"):
            ea = rng.randint(1, bias) if low else rng.randint(bias, es - 1)
            a, b, c = num(ea), num(ea - target + bias - d), 0
        elif name.startswith(("fmadd", "vfmac")):
            ea = rng.randint(1, es - 1)
            a, b = num(ea), num(target + bias - ea + d)
            c = num(target + rng.randint(-2, 1))
        else:                                    # sums: near-cancellation or near-overflow
            a = num(target + rng.randint(0, 2))
            b = num(target + rng.randint(0, 2)) ^ (fmt.sign_mask if low and rng.random() < 0.7 else 0)
            c = 0
        yield a, b, c


@pytest.mark.parametrize("name", ["fadd.s", "fmul.s", "fdiv.s", "fmadd.s", "fadd.h", "fmul.h", "fmadd.h",
                                  "vfadd.h", "vfmul.h", "vfmac.h"])
def test_results_at_the_range_limits(lib, name):
    """The round-to-nearest-even tries (host float arithmetic for binary32, the specialised binary16
    rounding) where they must hand over: results at the smallest normal (tininess, UF) and at the
    overflow threshold, in every mode (RNE first), against the Python reference."""
    op = NAMES.index(name)
    kind = FAST_OPS[op][1]
    rng = random.Random(f"fp-fast/limits/{name}")
    fmt = F32 if kind == "s" else F16
    scalar = name[1:] if kind == "w" else name
    cases = []
    for rm in MODES:
        for a, b, c in _edge_cases(rng, fmt, scalar, 300):
            if kind == "w":                      # the same edge in one lane, a random neighbour in the other
                a2, b2, c2 = next(_edge_cases(rng, fmt, scalar, 2))
                a, b, c = a | a2 << 16, b | b2 << 16, c | c2 << 16
            cases.append((a, b, c, rm))
    _check_all(lib, op, cases, python=True)


def test_dotpex_results_at_the_range_limits(lib):
    """vfdotpex.s.h where its round-to-nearest-even conversion must hand over: an FP32 accumulator at
    the overflow threshold (the products pushing it over or not) and at the smallest normal with zero
    or cancelling products, in every mode, against the Python reference."""
    op = NAMES.index("vfdotpex.s.h")
    rng = random.Random("fp-fast/dotpex-limits")
    cases = []
    for k in range(1500):
        if k % 2:                                # near FP32's largest finite value
            a = _half(rng, 20, 30) | _half(rng, 20, 30) << 16
            b = _half(rng, 20, 30) | _half(rng, 20, 30) << 16
            c = rng.getrandbits(1) << 31 | 254 << 23 | rng.choice([0x7FFFFF, 0x7FFFFE, 0x7FFF00, rng.getrandbits(23)])
        else:                                    # near the smallest normal: zero products, or products that cancel
            z = rng.random() < 0.5
            h = _half(rng, 1, 30)
            a = (0 if z else h) | (0 if z else h) << 16
            b = _half(rng, 1, 30) | (_half(rng, 1, 30) if z else 0) << 16
            if not z:                            # a1*b1 = -(a0*b0): the products cancel exactly
                b = (b & 0xFFFF) | ((b & 0xFFFF) ^ 0x8000) << 16
            c = rng.getrandbits(1) << 31 | rng.choice([0, 1, 2]) << 23 | rng.choice([0, 1, 0x7FFFFF, rng.getrandbits(23)])
        cases.append((a, b, c, rng.choice(MODES)))
    _check_all(lib, op, cases, python=True)
