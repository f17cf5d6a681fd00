"""The compiled engine's IEEE 754 arithmetic (simulator/cengine/ieee754.c) against the Python reference
(isa/ieee754.py): every result pattern and every flag must be identical.

Curated special values (all pairs, fma triples with every negation, every rounding mode), seeded random
operands biased towards the hard cases (cancellation, halfway points, overflow, underflow, subnormals,
far-apart exponents), exhaustive FP16 unary operations, and random sums of products of mixed formats,
including exact cancellations that leave only far-away terms (the C code's wide accumulator).
"""
from __future__ import annotations

import os
import random
from typing import Callable

import pytest

from mcusim.isa import ieee754 as fp
from mcusim.isa.ieee754 import F16, F32, Format
from mcusim.simulator.cengine.binding import load

# Soak runs: MCUSIM_IEEE_SCALE multiplies the random case counts, MCUSIM_IEEE_SEED changes the seeds.
SCALE = int(os.environ.get("MCUSIM_IEEE_SCALE", "1"))
SEED = int(os.environ.get("MCUSIM_IEEE_SEED", "0"))
MODES = [fp.RNE, fp.RTZ, fp.RDN, fp.RUP, fp.RMM]
FORMATS = [F32, F16]
fmt_param = pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)


class CFP:
    """Calls into the compiled ieee754.c returning (result, flags) like the Python functions."""

    def __init__(self, mod):
        self.ffi, self.lib = mod.ffi, mod.lib
        # MCU_F32 / MCU_F16 are `extern const`: cffi (API mode) refuses ffi.addressof(lib, "MCU_F32") but
        # exposes lib.MCU_F32 as a reference to the C object, whose address is the real &MCU_F32.
        self.ptr = {F32: self.ffi.addressof(self.lib.MCU_F32), F16: self.ffi.addressof(self.lib.MCU_F16)}
        self.flags = self.ffi.new("uint32_t *")
        self.fmts = self.ffi.new("const mcu_fmt *[4]")
        self.a = self.ffi.new("uint32_t[4]")
        self.b = self.ffi.new("uint32_t[4]")

    def call(self, fn: Callable, *args) -> tuple[int, int]:
        self.flags[0] = 0
        r = fn(*args, self.flags)
        return r, self.flags[0]

    def sum_of_products(self, dst: Format, products, addend, rm: int) -> tuple[int, int]:
        for i, (f, x, y) in enumerate(products):
            self.fmts[i] = self.ptr[f]
            self.a[i] = x
            self.b[i] = y
        cf, c = (self.ptr[addend[0]], addend[1]) if addend is not None else (self.ffi.NULL, 0)
        return self.call(self.lib.mcu_fp_sum_of_products, self.ptr[dst], len(products), self.fmts, self.a, self.b,
                         cf, c, rm)


@pytest.fixture(scope="module")
def cfp() -> CFP:
    mod = load()
    if mod is None:
        pytest.fail("the compiled engine is not built: run `pip install -e .` (or python simulator/cengine/build.py)")
    return CFP(mod)


class Mismatches:
    """Collects differences; the assertion shows the first few."""

    def __init__(self):
        self.items: list[str] = []
        self.count = 0

    def check(self, what: str, py, c) -> None:
        self.count += 1
        if tuple(py) != tuple(c):
            self.items.append(f"{what}: python {_show(py)} C {_show(c)}")

    def done(self) -> None:
        assert not self.items, f"{len(self.items)} of {self.count} differ:\n" + "\n".join(self.items[:15])


def _show(r) -> str:
    return f"({r[0]:#x}, flags {r[1]:#x})"


# ---------------------------------------------------------------------------------------------------------
# Operands

def _bits(fmt: Format, biased_exp: int, frac: int) -> int:
    return (biased_exp << fmt.frac_bits) | frac


def specials(fmt: Format) -> list[int]:
    fb, bias, es = fmt.frac_bits, fmt.bias, fmt.exp_special
    pos = [0, 1, 2, 3, fmt.frac_mask, fmt.hidden_bit >> 1, fmt.frac_mask - 1,
           fmt.min_normal, fmt.min_normal + 1, fmt.max_finite, fmt.max_finite - 1, _bits(fmt, es - 1, 0),
           _bits(fmt, fmt.emax - fb - 1 + bias, 0), fmt.one, fmt.one + 1, fmt.one - 1,
           _bits(fmt, bias, 1 << (fb - 1)), _bits(fmt, bias + 1, 0), _bits(fmt, bias + 1, 1 << (fb - 2)),
           _bits(fmt, bias - 1, 0), _bits(fmt, bias - 2, fmt.frac_mask // 3 * 2 + 1),
           _bits(fmt, bias - fb - 1, 0), _bits(fmt, bias - fb, 0), _bits(fmt, bias + fmt.emin // 2, 0),
           _bits(fmt, bias + fmt.emax // 2, fmt.frac_mask), _bits(fmt, bias + fb + 1, 1),
           fmt.inf, fmt.canonical_nan, fmt.canonical_nan | 5, fmt.inf | 1, fmt.inf | (fmt.quiet_bit >> 1)]
    if fmt is F32:      # integer conversion boundaries
        pos += [0x4F000000, 0x4EFFFFFF, 0x4F800000, 0x4F7FFFFF, 0x4B800001, 0x4B000001]
    return pos + [v | fmt.sign_mask for v in pos]


def fma_specials(fmt: Format) -> list[int]:
    fb, bias = fmt.frac_bits, fmt.bias
    pos = [0, 1, fmt.frac_mask, fmt.min_normal, fmt.max_finite, fmt.one, fmt.one + 1,
           _bits(fmt, bias - fb - 1, 0), _bits(fmt, bias + fmt.emax // 2, fmt.frac_mask),
           fmt.inf, fmt.canonical_nan, fmt.inf | 1]
    return pos + [v | fmt.sign_mask for v in pos]


def rand_op(rng: random.Random, fmt: Format, near: int | None = None) -> int:
    """A pattern biased to interesting exponents and significands; `near` (a biased exponent) makes
    neighbouring exponents likely."""
    es, bias, fb = fmt.exp_special, fmt.bias, fmt.frac_bits
    r = rng.random()
    if near is not None and r < 0.5:
        e = near + rng.choice((0, 0, 0, 1, -1, 2, -2, fb, -fb, fb + 1, -fb - 1, fb + 2, -fb - 2,
                               rng.randint(-2 * fb - 8, 2 * fb + 8)))
    elif r < 0.6:
        e = rng.randint(0, 3)                  # zero, subnormals, smallest normals
    elif r < 0.7:
        e = rng.randint(es - 3, es)            # near overflow, inf / NaN
    elif r < 0.8:
        e = bias + rng.randint(-4, 4)          # around 1.0
    else:
        e = rng.randint(0, es)
    e = min(max(e, 0), es)
    if e == es and rng.random() < 0.7:
        e = es - 1                             # keep most operands finite
    r = rng.random()
    if r < 0.45:
        f = rng.getrandbits(fb)
    elif r < 0.55:
        f = 0
    elif r < 0.62:
        f = fmt.frac_mask
    elif r < 0.72:
        f = rng.getrandbits(3)                 # just above a power of two
    elif r < 0.82:
        f = fmt.frac_mask ^ rng.getrandbits(3)  # just below
    else:
        f = rng.getrandbits(fb) & ~((1 << rng.randint(1, fb)) - 1)   # trailing zeros: halfway sums
    return (rng.getrandbits(1) << fmt.sign_shift) | (e << fb) | f


def exp_field(fmt: Format, x: int) -> int:
    return (x >> fmt.frac_bits) & fmt.exp_special


def with_exp(fmt: Format, x: int, e: int) -> int:
    return (x & ~fmt.exp_mask) | (e << fmt.frac_bits)


def rand_pair(rng: random.Random, fmt: Format) -> tuple[int, int]:
    a = rand_op(rng, fmt)
    r = rng.random()
    if r < 0.4:
        b = rand_op(rng, fmt, near=exp_field(fmt, a))
    elif r < 0.6:   # cancellation: b = -a give or take a few ULPs
        b = ((a + rng.randint(-4, 4)) & fmt.mag_mask) | ((a ^ fmt.sign_mask) & fmt.sign_mask)
    else:
        b = rand_op(rng, fmt)
    return (a, b) if rng.random() < 0.5 else (b, a)


def rand_fma(rng: random.Random, fmt: Format) -> tuple[int, int, int]:
    a, b = rand_op(rng, fmt), rand_op(rng, fmt)
    if rng.random() < 0.3:        # products near 1, the overflow or the underflow threshold
        target = rng.choice((fmt.bias, fmt.bias, 2 * fmt.bias, 1, -fmt.frac_bits))
        ea = rng.randint(1, fmt.exp_special - 1)
        eb = min(max(target - ea + fmt.bias + rng.randint(-2, 2), 0), fmt.exp_special - 1)
        a = (a & ~fmt.exp_mask) | (ea << fmt.frac_bits)
        b = (b & ~fmt.exp_mask) | (eb << fmt.frac_bits)
    p, _ = fp.mul(fmt, a, b, fp.RTZ)
    r = rng.random()
    if r < 0.3 and not fp.is_nan(fmt, p):     # c = -(a*b) give or take a few ULPs: deep cancellation
        c = ((p + rng.randint(-3, 3)) & fmt.mag_mask) | ((p ^ fmt.sign_mask) & fmt.sign_mask)
    elif r < 0.65:                            # c at any distance from the product, exponents included
        c = rand_op(rng, fmt, near=min(exp_field(fmt, p), fmt.exp_special - 1))
        if rng.random() < 0.3:
            c = (c & ~fmt.exp_mask) | (rng.randint(0, fmt.exp_special - 1) << fmt.frac_bits)
    else:
        c = rand_op(rng, fmt)
    return a, b, c


# ---------------------------------------------------------------------------------------------------------
# Curated special values

BINARY = ["add", "sub", "mul", "div", "average"]
COMPARE = [("min_", "mcu_fp_min"), ("max_", "mcu_fp_max"), ("eq", "mcu_fp_eq"), ("lt", "mcu_fp_lt"),
           ("le", "mcu_fp_le")]


@fmt_param
def test_special_pairs(cfp, fmt):
    m = Mismatches()
    vals = specials(fmt)
    fmtp = cfp.ptr[fmt]
    for name in BINARY:
        pyf, cf = getattr(fp, name), getattr(cfp.lib, f"mcu_fp_{name}")
        for rm in MODES:
            for a in vals:
                for b in vals:
                    m.check(f"{name}({a:#x}, {b:#x}, rm={rm})", pyf(fmt, a, b, rm), cfp.call(cf, fmtp, a, b, rm))
    for pyname, cname in COMPARE:
        pyf, cf = getattr(fp, pyname), getattr(cfp.lib, cname)
        for a in vals:
            for b in vals:
                m.check(f"{pyname}({a:#x}, {b:#x})", pyf(fmt, a, b), cfp.call(cf, fmtp, a, b))
    m.done()


@fmt_param
def test_special_fma_triples(cfp, fmt):
    m = Mismatches()
    vals = fma_specials(fmt)
    fmtp, cf = cfp.ptr[fmt], cfp.lib.mcu_fp_fma
    for rm in MODES:
        for np_ in (0, 1):
            for na in (0, 1):
                for a in vals:
                    for b in vals:
                        for c in vals:
                            m.check(f"fma({a:#x}, {b:#x}, {c:#x}, rm={rm}, np={np_}, na={na})",
                                    fp.fma(fmt, a, b, c, rm, bool(np_), bool(na)),
                                    cfp.call(cf, fmtp, a, b, c, rm, np_, na))
    m.done()


@fmt_param
def test_special_unary(cfp, fmt):
    m = Mismatches()
    lib, fmtp = cfp.lib, cfp.ptr[fmt]
    other = F16 if fmt is F32 else F32
    for a in specials(fmt):
        assert fp.classify(fmt, a) == lib.mcu_fp_classify(fmtp, a), hex(a)
        for rm in MODES:
            m.check(f"sqrt({a:#x}, {rm})", fp.sqrt(fmt, a, rm), cfp.call(lib.mcu_fp_sqrt, fmtp, a, rm))
            for s in (0, 1):
                m.check(f"to_int({a:#x}, {rm}, {s})", fp.to_int(fmt, a, rm, bool(s)),
                        cfp.call(lib.mcu_fp_to_int, fmtp, a, rm, s))
            for dst in (fmt, other):
                m.check(f"convert({a:#x} -> {dst.name}, {rm})", fp.convert(fmt, dst, a, rm),
                        cfp.call(lib.mcu_fp_convert, fmtp, cfp.ptr[dst], a, rm))
    m.done()


def test_flags_accumulate(cfp):
    """Flags are ORed into *flags, never overwritten."""
    lib, f32 = cfp.lib, cfp.ptr[F32]
    cfp.flags[0] = 0x20
    assert lib.mcu_fp_add(f32, 0x3F800000, 0x33800001, fp.RNE, cfp.flags) == 0x3F800001
    assert cfp.flags[0] == 0x20 | fp.NX
    lib.mcu_fp_add(f32, 0x3F800000, 0x3F800000, fp.RNE, cfp.flags)   # exact: adds nothing
    lib.mcu_fp_div(f32, 0x3F800000, 0, fp.RNE, cfp.flags)
    assert cfp.flags[0] == 0x20 | fp.NX | fp.DZ


# ---------------------------------------------------------------------------------------------------------
# Random operands

@fmt_param
def test_random_binary(cfp, fmt):
    rng = random.Random(0x1EEE + fmt.width + SEED)
    m = Mismatches()
    fmtp = cfp.ptr[fmt]
    ops = [(getattr(fp, n), getattr(cfp.lib, f"mcu_fp_{n}"), n) for n in BINARY]
    cmps = [(getattr(fp, p), getattr(cfp.lib, c), p) for p, c in COMPARE]
    for _ in range(25000 * SCALE):
        a, b = rand_pair(rng, fmt)
        rm = rng.choice(MODES)
        for pyf, cf, name in ops:
            m.check(f"{name}({a:#x}, {b:#x}, rm={rm})", pyf(fmt, a, b, rm), cfp.call(cf, fmtp, a, b, rm))
        pyf, cf, name = rng.choice(cmps)
        m.check(f"{name}({a:#x}, {b:#x})", pyf(fmt, a, b), cfp.call(cf, fmtp, a, b))
    m.done()


@fmt_param
def test_random_fma(cfp, fmt):
    rng = random.Random(0xF3A + fmt.width + SEED)
    m = Mismatches()
    fmtp, cf = cfp.ptr[fmt], cfp.lib.mcu_fp_fma
    for _ in range(40000 * SCALE):
        a, b, c = rand_fma(rng, fmt)
        rm = rng.choice(MODES)
        np_, na = rng.getrandbits(1), rng.getrandbits(1)
        m.check(f"fma({a:#x}, {b:#x}, {c:#x}, rm={rm}, np={np_}, na={na})",
                fp.fma(fmt, a, b, c, rm, bool(np_), bool(na)), cfp.call(cf, fmtp, a, b, c, rm, np_, na))
    m.done()


def test_random_f32_unary(cfp):
    rng = random.Random(0x5E7 + SEED)
    m = Mismatches()
    lib, f32, f16 = cfp.lib, cfp.ptr[F32], cfp.ptr[F16]
    for i in range(12000 * SCALE):
        a = rand_op(rng, F32) if i & 1 else rng.getrandbits(32)
        if i % 4 == 2:   # just around the F16 range and rounding boundaries of the narrowing conversion
            a = (a & ~F32.exp_mask) | ((F32.bias + rng.randint(-26, 17)) << F32.frac_bits)
        rm = rng.choice(MODES)
        m.check(f"sqrt({a:#x}, {rm})", fp.sqrt(F32, a, rm), cfp.call(lib.mcu_fp_sqrt, f32, a, rm))
        s = rng.getrandbits(1)
        m.check(f"to_int({a:#x}, {rm}, {s})", fp.to_int(F32, a, rm, bool(s)), cfp.call(lib.mcu_fp_to_int, f32, a, rm, s))
        m.check(f"convert({a:#x} -> f16, {rm})", fp.convert(F32, F16, a, rm),
                cfp.call(lib.mcu_fp_convert, f32, f16, a, rm))
        m.check(f"convert({a:#x} -> f32, {rm})", fp.convert(F32, F32, a, rm),
                cfp.call(lib.mcu_fp_convert, f32, f32, a, rm))
        assert fp.classify(F32, a) == lib.mcu_fp_classify(f32, a), hex(a)
    m.done()


def test_exhaustive_f16_unary(cfp):
    m = Mismatches()
    lib, f32, f16 = cfp.lib, cfp.ptr[F32], cfp.ptr[F16]
    sqrt_c, toint_c, conv_c, cls_c = lib.mcu_fp_sqrt, lib.mcu_fp_to_int, lib.mcu_fp_convert, lib.mcu_fp_classify
    for a in range(1 << 16):
        assert fp.classify(F16, a) == cls_c(f16, a), hex(a)
        m.check(f"convert({a:#x} -> f32)", fp.convert(F16, F32, a, fp.RNE), cfp.call(conv_c, f16, f32, a, fp.RNE))
        for rm in MODES:
            m.check(f"sqrt({a:#x}, {rm})", fp.sqrt(F16, a, rm), cfp.call(sqrt_c, f16, a, rm))
            for s in (0, 1):
                m.check(f"to_int({a:#x}, {rm}, {s})", fp.to_int(F16, a, rm, bool(s)), cfp.call(toint_c, f16, a, rm, s))
        if a & 0x7C00 in (0, 0x7C00):   # identity conversion canonicalises NaNs; exact for the rest
            m.check(f"convert({a:#x} -> f16)", fp.convert(F16, F16, a, fp.RNE), cfp.call(conv_c, f16, f16, a, fp.RNE))
    m.done()


def test_from_int(cfp):
    rng = random.Random(0xF21 + SEED)
    values = [0, 1, 2, 3, 0x7FFFFFFF, 0x80000000, 0x80000001, 0xFFFFFFFF, 0xFFFFFFFE, 65504, 65519, 65520,
              65535, 65536, 0x00FFFFFF, 0x01000001, 0x01000003, 0xFF000001, 2047, 2049, 4097, 0xFFFFF7FF]
    values += [(1 << rng.randint(0, 31)) + rng.randint(-3, 3) & 0xFFFFFFFF for _ in range(1500)]
    values += [rng.getrandbits(32) for _ in range(1500)]
    values += [rng.getrandbits(rng.randint(1, 32)) for _ in range(1500)]
    m = Mismatches()
    for fmt in FORMATS:
        fmtp = cfp.ptr[fmt]
        for v in values:
            for s in (0, 1):
                for rm in MODES:
                    m.check(f"from_int({fmt.name}, {v:#x}, {s}, {rm})", fp.from_int(fmt, v, bool(s), rm),
                            cfp.call(cfp.lib.mcu_fp_from_int, fmtp, v, s, rm))
    m.done()


# ---------------------------------------------------------------------------------------------------------
# Sums of products

def _sop_case(rng: random.Random):
    dst = rng.choice(FORMATS)
    n = rng.randint(1, 4)
    pf = rng.choice(FORMATS) if rng.random() < 0.5 else None      # one format or mixed
    moderate = rng.random() < 0.4                                 # magnitudes around 1: the fast paths
    products = []
    for _ in range(n):
        f = pf or rng.choice(FORMATS)
        if products and rng.random() < 0.35:     # near an earlier product: cancellation
            g, x, y = rng.choice(products)
            if g is f:
                x2 = x ^ f.sign_mask if rng.random() < 0.7 else rand_op(rng, f, near=exp_field(f, x))
                y2 = (y + rng.choice((0, 0, 0, 1, -1))) & f.mask
                products.append((f, x2, y2) if rng.random() < 0.5 else (f, y2, x2))
                continue
        if moderate:
            x, y = (with_exp(f, rand_op(rng, f), f.bias + rng.randint(-8, 8)) for _ in range(2))
        else:
            x = rand_op(rng, f)
            y = rand_op(rng, f, near=f.bias - exp_field(f, x) + f.bias + rng.randint(-f.frac_bits, f.frac_bits)
                        if rng.random() < 0.3 else None)
        products.append((f, x, y))
    addend = None
    if rng.random() < 0.6:
        cf = rng.choice(FORMATS)
        if rng.random() < 0.3:   # minus a product's value, converted: cancellation with the addend
            f, x, y = rng.choice(products)
            p, _ = fp.mul(f, x, y, rng.choice(MODES))
            c, _ = fp.convert(f, cf, p ^ f.sign_mask, fp.RTZ)
        else:
            c = rand_op(rng, cf)
            if moderate:
                c = with_exp(cf, c, cf.bias + rng.randint(-12, 12))
        addend = (cf, c)
    return dst, products, addend


def test_random_sum_of_products(cfp):
    rng = random.Random(0x50D + SEED)
    m = Mismatches()
    for _ in range(25000 * SCALE):
        dst, products, addend = _sop_case(rng)
        rm = rng.choice(MODES)
        m.check(f"sop({dst.name}, {products}, {addend}, rm={rm})", fp.sum_of_products(dst, products, addend, rm),
                cfp.sum_of_products(dst, products, addend, rm))
    m.done()


def test_sum_of_products_far_terms(cfp):
    """Large terms that cancel exactly, leaving terms up to ~550 bits below them (the exact result is
    the small terms alone), and sums spanning the whole F32 product range without cancellation."""
    rng = random.Random(0xFA2 + SEED)
    m = Mismatches()

    def f32(e_lo: int, e_hi: int) -> int:
        return (rng.getrandbits(1) << 31) | (rng.randint(e_lo, e_hi) << 23) | rng.getrandbits(23)

    for _ in range(10000 * SCALE):
        big = (F32, f32(200, 254), f32(200, 254))
        products = [big, (F32, big[1] ^ F32.sign_mask, big[2])] if rng.random() < 0.7 else [big]
        while len(products) < rng.randint(len(products), 4):
            f = rng.choice(FORMATS)
            if f is F32:
                products.append((F32, f32(0, 60), f32(0, 60)))
            else:
                products.append((F16, rand_op(rng, F16), rand_op(rng, F16)))
        rng.shuffle(products)
        addend = rng.choice((None, (F32, f32(0, 254)), (F32, f32(0, 8)), (F16, rand_op(rng, F16))))
        dst = rng.choice(FORMATS)
        rm = rng.choice(MODES)
        m.check(f"sop({dst.name}, {products}, {addend}, rm={rm})", fp.sum_of_products(dst, products, addend, rm),
                cfp.sum_of_products(dst, products, addend, rm))
    m.done()


def test_sum_of_products_specials(cfp):
    rng = random.Random(0x5B + SEED)
    m = Mismatches()
    vals = {f: fma_specials(f) for f in FORMATS}
    for _ in range(12000 * SCALE):
        n = rng.randint(1, 4)
        products = []
        for _ in range(n):
            f = rng.choice(FORMATS)
            products.append((f, rng.choice(vals[f]), rng.choice(vals[f])))
        addend = None
        if rng.random() < 0.7:
            cf = rng.choice(FORMATS)
            addend = (cf, rng.choice(vals[cf]))
        dst = rng.choice(FORMATS)
        rm = rng.choice(MODES)
        m.check(f"sop({dst.name}, {products}, {addend}, rm={rm})", fp.sum_of_products(dst, products, addend, rm),
                cfp.sum_of_products(dst, products, addend, rm))
    m.done()


def test_dotpex_fast_path_equals_the_reference():
    """mcu_fp_dotpex_h (the vfdotpex.s.h fast path) against isa.ieee754.sum_of_products."""
    import random as _random

    rng = _random.Random(11)
    specials16 = [0, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0x7C01, 1, 0x3FF, 0x400, 0x7BFF, 0x3C00, 0xBC00]
    specials32 = [0, 0x80000000, 0x7F800000, 0x7FC00000, 1, 0x7F7FFFFF, 0x3F800000, 0xBF800000]

    def case() -> tuple[list[int], int, int]:
        h = [rng.choice(specials16) if rng.random() < 0.15 else rng.getrandbits(16) for _ in range(4)]
        if rng.random() < 0.5:   # similar magnitudes: the fast path
            h = [(v & 0x83FF) | (rng.randrange(12, 18) << 10) for v in h]
        c = rng.choice(specials32) if rng.random() < 0.1 else (
            rng.getrandbits(32) if rng.random() < 0.3 else (rng.getrandbits(23) | rng.randrange(110, 140) << 23
                                                           | rng.getrandbits(1) << 31))
        return h, c, rng.randrange(5)
    _check_dotpex(case() for _ in range(60_000))


def test_dotpex_double_path_boundaries():
    """The host-double path of vfdotpex.s.h (dotpex_fast.h) at its edges: exact zeros of mixed signs
    (zero products, cancellation) in every mode, exponent windows around the 51 bits it accepts
    (and a window one bit too wide for a double), results at the bottom of the normal range and near
    overflow."""
    import random as _random

    from mcusim.isa import ieee754 as ref
    rng = _random.Random(5)

    def half(exp_lo: int, exp_hi: int) -> int:
        return rng.getrandbits(1) << 15 | rng.randrange(exp_lo, exp_hi + 1) << 10 | rng.getrandbits(10)

    def case(kind: int) -> tuple[list[int], int]:
        if kind == 0:     # zeros: every term zero, or products that cancel c exactly
            h = [rng.choice([0, 0x8000]) if rng.random() < 0.7 else half(10, 20) for _ in range(4)]
            c = rng.choice([0, 0x80000000])
            if rng.random() < 0.5:          # c = -(a0*b0) exactly (an FP16 product fits FP32)
                h[1] = rng.choice([0, 0x8000])
                p, _ = ref.sum_of_products(ref.F32, [(ref.F16, h[0], h[2])], None, 0)
                c = p ^ 0x80000000
            return h, c
        if kind == 1:     # products and c 40 to 60 bits apart: both sides of the 51-bit window
            h = [half(12, 18) for _ in range(4)]
            e = rng.choice([rng.randrange(127 + 25, 127 + 45), rng.randrange(127 - 45, 127 - 25)])
            return h, rng.getrandbits(1) << 31 | e << 23 | rng.getrandbits(23)
        if kind == 2:     # results around 2**-126 (tiny products, tiny normal c)
            h = [half(1, 4) for _ in range(4)]
            return h, rng.getrandbits(1) << 31 | rng.randrange(1, 4) << 23 | rng.getrandbits(23)
        if kind == 3:     # near overflow: c close to the largest float
            h = [half(25, 30) for _ in range(4)]
            return h, rng.getrandbits(1) << 31 | rng.randrange(250, 255) << 23 | rng.getrandbits(23)
        # c plus the smallest product (2**-24 * 2**-24): exact in a double only while c's top bit is
        # at most 53 bits above it (exponent field 131); a wider window loses it (inexact flag, RUP)
        return [1, 0, 1, 0], rng.getrandbits(1) << 31 | rng.randrange(126, 138) << 23 | rng.getrandbits(23)

    _check_dotpex((*case(i % 5), rng.randrange(5)) for i in range(40_000))


def _check_dotpex(cases) -> None:
    """mcu_fp_dotpex_h against isa.ieee754.sum_of_products on (halves [a0, a1, b0, b1], c, rm) cases."""
    from mcusim.isa import ieee754 as ref
    mod = _module_for_dotpex()
    flags = mod.ffi.new("uint32_t *")
    bad = []
    for h, c, rm in cases:
        a, b = h[0] | h[1] << 16, h[2] | h[3] << 16
        flags[0] = 0
        got = mod.lib.mcu_fp_dotpex_h(a, b, c, rm, flags)
        want, want_flags = ref.sum_of_products(ref.F32, [(ref.F16, h[0], h[2]), (ref.F16, h[1], h[3])],
                                               (ref.F32, c), rm)
        if (got, flags[0]) != (want, want_flags):
            bad.append(f"a={a:#010x} b={b:#010x} c={c:#010x} rm={rm}: C {got:#010x}/{flags[0]:#x} "
                       f"ref {want:#010x}/{want_flags:#x}")
            if len(bad) > 5:
                break
    assert not bad, "\n".join(bad)


def _module_for_dotpex():
    from mcusim.simulator.cengine import binding
    mod = binding.load()
    if mod is None:
        pytest.fail("the compiled engine is not built: run `pip install -e .`")
    return mod
