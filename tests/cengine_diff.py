"""Differential execution of single instructions: the Python reference (Hart.step) against the C
engine (mcu_exec + mcu_advance) from the same random state. Used by the C semantics tests."""
from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from mcusim.isa.codec import decode, encode
from mcusim.isa.fields import FIELDS, Kind
from mcusim.isa.spec import DEFAULT_ISA, ISA_OF_EXTENSION, Instr
from mcusim.simulator.cengine import binding
from mcusim.simulator.hart import Hart, ProgramExit, Trap
from mcusim.simulator.memory import Memory

CODE = 0x1C00_0000          # where the instruction sits
DATA = 0x1000_0000          # a 64 KiB data region; random address registers point into it
DATA_SIZE = 0x1_0000
STATUS = {0: "ok", 1: "trap", 2: "python", 3: "unsupported"}


def module():
    mod = binding.load()
    if mod is None:
        pytest.fail("the compiled engine is not built: run `pip install -e .` (or python simulator/cengine/build.py)")
    return mod


@dataclass
class Outcome:
    status: str                  # ok | trap | python | unsupported
    x: list[int]
    f: list[int]
    pc: int
    fflags: int
    mstatus: int
    hwloop: tuple
    trap: tuple[int, int] | None
    memory: bytes


def random_state(rng: random.Random, entry: Instr) -> tuple[list[int], list[int], int]:
    """x (address-like values for base registers), f (mix of FP32, boxed FP16 and random), frm."""
    x = [0] + [rng.choice([rng.getrandbits(32), DATA + rng.randrange(0, DATA_SIZE - 64, 4),
                           rng.randrange(-64, 64) & 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000])
               for _ in range(31)]
    specials16 = [0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0x7C01, 0x0001, 0x03FF, 0x3C00, 0x7BFF]
    specials32 = [0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, 1, 0x007FFFFF,
                  0x3F800000, 0x7F7FFFFF]

    def half() -> int:
        return rng.choice(specials16) if rng.random() < 0.3 else rng.getrandbits(16)

    f = []
    for _ in range(32):
        kind = rng.randrange(4)
        if kind == 0:
            f.append(rng.choice(specials32) if rng.random() < 0.3 else rng.getrandbits(32))
        elif kind == 1:
            f.append(0xFFFF0000 | half())
        elif kind == 2:
            f.append(half() | half() << 16)
        else:
            f.append(rng.getrandbits(32))
    return x, f, rng.choice([0, 1, 2, 3, 4, 0, 0, 5, 7])


def random_operands(rng: random.Random, entry: Instr) -> dict[str, int]:
    values = {}
    for name in entry.operands:
        fld = FIELDS[name]
        if fld.kind in (Kind.XREG, Kind.FREG):
            values[name] = rng.randrange(32)
        elif fld.kind is Kind.RM:
            values[name] = rng.choice([0, 1, 2, 3, 4, 7, 7, 5])
        elif fld.kind is Kind.LOOP:
            values[name] = rng.randrange(2)
        elif fld.kind is Kind.CSR:
            values[name] = 0x001
        else:
            low, high = fld.value_range
            step = max(1 << fld.implicit_zero_bits, 4 if fld.kind is Kind.PCREL else 1)
            values[name] = rng.randrange(low // step, high // step + 1) * step
    if values.get("rm") == 5 and decode(encode(entry, values)).instr is not entry:
        values["rm"] = 6    # rm = 101 of a Zfh op is its Xf16alt twin: test the other reserved mode
    return values


def _memory(seed: int) -> Memory:
    mem = Memory()
    mem.add_region("data", DATA, DATA_SIZE)
    mem.add_region("code", CODE, 0x1000)
    rng = random.Random(seed)
    mem.write_bytes(DATA, rng.randbytes(DATA_SIZE))
    return mem


def isa_of(entry: Instr) -> str:
    """The custom-extension set that decodes `entry` (CORE-V rows need corev)."""
    return ISA_OF_EXTENSION.get(entry.extension, DEFAULT_ISA)


def run_python(entry: Instr, values: dict, x, f, frm, seed: int, misaligned_traps: bool = True) -> Outcome:
    mem = _memory(seed)
    word = encode(entry, values)
    mem.write(CODE, 4, word)
    h = Hart(mem, misaligned_traps=misaligned_traps, custom_isa=isa_of(entry))
    h.pc, h.x[:], h.f[:], h.frm = CODE, list(x), list(f), frm
    status, trap = "ok", None
    try:
        h.step()
    except Trap as t:
        status, trap = "trap", (t.cause, t.tval)
    except ProgramExit:
        status = "python"
    return Outcome(status, list(h.x), list(h.f), h.pc, h.fflags, h.mstatus,
                   (tuple(h.hwloop_start), tuple(h.hwloop_end), tuple(h.hwloop_count)), trap,
                   mem.read_bytes(DATA, DATA_SIZE))


def run_c(entry: Instr, values: dict, x, f, frm, seed: int, misaligned_traps: bool = True) -> Outcome:
    mod = module()
    ffi, lib = mod.ffi, mod.lib
    mem = _memory(seed)
    word = encode(entry, values)
    mem.write(CODE, 4, word)
    h = Hart(mem, misaligned_traps=misaligned_traps, custom_isa=isa_of(entry))
    h.pc, h.x[:], h.f[:], h.frm = CODE, list(x), list(f), frm
    core = ffi.new("McuCore *")
    binding.hart_to_core(h, core)
    m = ffi.new("McuMem *")
    keep = []
    for i, region in enumerate(mem.regions):
        buf = ffi.from_buffer(region.data)
        keep.append(buf)
        m.regions[i].base, m.regions[i].size, m.regions[i].data = region.base, len(region.data), buf
    m.nregions = len(mem.regions)
    m.periph_base, m.periph_size, m.alias_base = 0x1020_0000, 0x800, 0xFFFF_F800
    insn = ffi.new("McuInsn *")
    binding.predecode(decode(word, isa_of(entry)), insn, word)
    st = lib.mcu_exec(core, m, insn)
    status = STATUS[st]
    trap = None
    if st == 0:
        lib.mcu_advance(core, CODE)
    elif st == 1:
        trap = (core.trap_cause, core.trap_tval)
    return Outcome(status, list(core.x), list(core.f), core.pc, core.fflags, core.mstatus,
                   (tuple(core.hwloop_start), tuple(core.hwloop_end), tuple(core.hwloop_count)), trap,
                   mem.read_bytes(DATA, DATA_SIZE))


def compare(entry: Instr, trials: int = 200, seed: int = 0, misaligned_traps: bool = True) -> list[str]:
    """Run `trials` random cases of `entry` on both engines; differences as text (empty: identical).
    Cases where C says 'python' (it defers to the reference) are skipped; 'unsupported' is a failure."""
    rng = random.Random(f"{entry.key}/{seed}")
    problems = []
    for t in range(trials):
        values = random_operands(rng, entry)
        x, f, frm = random_state(rng, entry)
        py = run_python(entry, values, x, f, frm, t, misaligned_traps)
        c = run_c(entry, values, x, f, frm, t, misaligned_traps)
        if c.status == "unsupported":
            return [f"{entry.key}: not implemented in C"]
        if c.status == "python":
            continue
        if c.status == "trap" and py.status == "trap":
            # a trap: the reference redirects nothing (no mtvec): compare cause/tval and unchanged state
            if c.trap != py.trap or c.x != x or c.f != f:
                problems.append(f"{entry.key} {values}: trap C {c.trap} vs Python {py.trap}")
            continue
        for name in ("status", "x", "f", "pc", "fflags", "mstatus", "hwloop", "memory"):
            a, b = getattr(py, name), getattr(c, name)
            if a != b:
                if name in ("x", "f"):
                    diff = [f"{name}{i}: py {p:#010x} c {q:#010x}" for i, (p, q) in enumerate(zip(a, b)) if p != q]
                    detail = ", ".join(diff[:4])
                elif name == "memory":
                    detail = "memory differs"
                else:
                    detail = f"py {a} c {b}"
                problems.append(f"{entry.key} {values} frm={frm}: {detail}")
                break
        if len(problems) > 5:
            break
    return problems
