"""The timing model's view of which registers an instruction reads (simulator.operands) must match
what its semantics actually do: an instruction whose result depends on its destination's old value
must be flagged `reads_dest` in the table, and only those."""
import random

import pytest

from mcusim.isa.codec import encode
from mcusim.isa.fields import FIELDS, Kind
from mcusim.isa.spec import DEFAULT_ISA, INSTRUCTIONS, ISA_OF_EXTENSION
from mcusim.simulator.hart import Hart, Trap
from mcusim.simulator.memory import Memory

SKIP_CLASSES = {"load", "store", "branch", "jal", "jalr", "system", "fence", "hwloop", "csr"}


def _candidates():
    for entry in INSTRUCTIONS:
        if entry.timing in SKIP_CLASSES:
            continue
        dest = "rd" if "rd" in entry.operands else "fd" if "fd" in entry.operands else None
        if dest is not None:
            yield pytest.param(entry, dest, id=entry.key)


def _run(entry, values, xregs, fregs, frm=0):
    mem = Memory()
    mem.add_region("ram", 0x1000, 0x1000)
    h = Hart(mem, custom_isa=ISA_OF_EXTENSION.get(entry.extension, DEFAULT_ISA))
    h.pc = 0x1000
    h.frm = frm
    h.x[:] = xregs
    h.f[:] = fregs
    mem.write(0x1000, 4, encode(entry, values))
    try:
        h.step()
    except Trap:
        return None
    return (tuple(h.x), tuple(h.f))


@pytest.mark.parametrize("entry, dest", list(_candidates()))
def test_reads_dest_flag_matches_semantics(entry, dest):
    rng = random.Random(entry.key)
    observed = False
    for _ in range(12):
        values = {}
        used = set()
        for name in entry.operands:
            f = FIELDS[name]
            if f.kind in (Kind.XREG, Kind.FREG):
                r = rng.choice([r for r in range(1, 32) if r not in used])
                used.add(r)
                values[name] = r
            elif f.kind is Kind.RM:
                values[name] = 7
            else:
                lo, hi = f.value_range
                values[name] = rng.randrange(lo, hi + 1) & ~((1 << f.implicit_zero_bits) - 1)
        xregs = [0] + [rng.getrandbits(32) for _ in range(31)]
        if rng.random() < 0.5:
            fregs = [rng.choice([0xFFFF0000 | rng.getrandbits(16), rng.getrandbits(32)]) for _ in range(32)]
        else:   # tame values (small halves in both lanes, FP32 near 1), so no operand swamps another
            fregs = [rng.choice([0x3C00_3C00 + rng.getrandbits(8) * 0x10001, 0x3F80_0000 + rng.getrandbits(16)])
                     for _ in range(32)]
        first = _run(entry, values, xregs, fregs)
        regs = fregs if FIELDS[dest].kind is Kind.FREG else xregs
        regs[values[dest]] ^= rng.getrandbits(32) | 1
        if FIELDS[dest].kind is Kind.FREG and fregs[values[dest]] >> 23 & 0xFF == 0xFF:
            fregs[values[dest]] ^= 0x4000_0000   # keep the flipped accumulator finite
        second = _run(entry, values, xregs, fregs)
        if first is None or second is None:
            continue
        # the destination register's new value depends on its old value?
        index = values[dest]
        pick = (lambda s: s[1][index]) if FIELDS[dest].kind is Kind.FREG else (lambda s: s[0][index])
        if pick(first) != pick(second):
            observed = True
            break
    assert observed == entry.reads_dest, \
        f"{entry.key}: semantics {'read' if observed else 'do not read'} {dest}; table says reads_dest={entry.reads_dest}"
