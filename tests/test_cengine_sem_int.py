"""The C integer semantics (simulator/cengine/sem_int.c) against the Python reference, bit for bit:
every RV32I/RV32M/Zifencei/Xpulpv2 table entry and CORE-V entry without an Xpulpv2 twin on random states (both misaligned-access modes), the
exact set of ops C claims, and targeted corner cases (register aliasing, x0, misaligned post-increment
accesses, division, over-wide shifts, SIMD immediate signs)."""
from __future__ import annotations

import functools
import random

import pytest

import mcusim.isa.ext  # noqa: F401  (registers every instruction)
from mcusim.isa.spec import INSTRUCTIONS
from mcusim.simulator.cengine.opgen import OP_INDEX
from mcusim.simulator.memory import Memory
from tests import cengine_diff
from tests.cengine_diff import DATA, DATA_SIZE, compare, module, run_c, run_python

INT_EXTENSIONS = {"RV32I", "RV32M", "Zifencei", "Xpulpv2", "XCVhwlp", "XCVbitmanip", "XCVsimd"}   # (XCV*: the
# rows with no Xpulpv2 twin; the twins run their twin's op)
PYTHON_ONLY = {"ecall", "ebreak"}          # (csr*, mret, wfi are in other extensions)
INT_ENTRIES = [e for e in INSTRUCTIONS if e.extension in INT_EXTENSIONS and e.mnemonic not in PYTHON_ONLY]
BY_KEY = {e.key: e for e in INSTRUCTIONS}
TRIALS = 80
F = [0] * 32


@pytest.fixture(autouse=True, scope="module")
def _fast_memory():
    """The harness fills its 64 KiB data region one getrandbits(8) at a time (~98% of the run time);
    an equally random seeded image made with randbytes, cached per seed, keeps this file fast."""
    @functools.cache
    def image(seed: int) -> bytes:
        return random.Random(seed).randbytes(DATA_SIZE)

    def memory(seed: int) -> Memory:
        mem = Memory()
        mem.add_region("data", DATA, DATA_SIZE)
        mem.add_region("code", cengine_diff.CODE, 0x1000)
        mem.write_bytes(DATA, image(seed))
        return mem

    original = cengine_diff._memory
    cengine_diff._memory = memory
    yield
    cengine_diff._memory = original


@pytest.fixture(scope="module")
def lib():
    return module().lib


# --- every entry on random states ----------------------------------------------------------------
@pytest.mark.parametrize("entry", INT_ENTRIES, ids=[e.key for e in INT_ENTRIES])
def test_random_states_match(entry):
    assert compare(entry, trials=TRIALS) == []
    assert compare(entry, trials=TRIALS // 2, seed=1, misaligned_traps=False) == []


def test_supported_set(lib):
    c_supports = lib.mcu_sem_int_supports
    expected = {OP_INDEX[id(e)] for e in INT_ENTRIES}
    claimed = {op for op in range(len(INSTRUCTIONS)) if c_supports(op)}
    assert claimed == expected
    assert not c_supports(len(INSTRUCTIONS)) and not c_supports(-1)
    assert all(lib.mcu_supported(op) for op in expected)


# --- targeted cases --------------------------------------------------------------------------------
def state(**regs: int) -> list[int]:
    """A register file: x[i] = DATA + 64 * i (aligned, in the data region) unless given as xN=..."""
    x = [0] + [DATA + 0x40 * i for i in range(1, 32)]
    for name, value in regs.items():
        x[int(name[1:])] = value & 0xFFFF_FFFF
    return x


def both(key: str, values: dict, x: list[int], misaligned_traps: bool = True, seed: int = 3):
    """Run one instruction on both engines; assert identical outcomes (unless C defers to Python);
    return the C outcome."""
    entry = BY_KEY[key]
    py = run_python(entry, values, x, F, 0, seed, misaligned_traps)
    c = run_c(entry, values, x, F, 0, seed, misaligned_traps)
    if c.status == "python":       # a peripheral address: C rightly defers (checked separately)
        return c
    assert c.status == py.status, (key, values, c.status, py.status)
    if c.status == "trap":
        assert c.trap == py.trap and c.x == x, (key, values)
    else:
        for name in ("x", "pc", "hwloop", "memory", "mstatus"):
            assert getattr(c, name) == getattr(py, name), (key, values, name)
    return c


POST_LOADS = [e.key for e in INT_ENTRIES if e.mnemonic.startswith("p.l") and "post-inc" in (e.form or "")]
POST_STORES = [e.key for e in INT_ENTRIES if e.mnemonic.startswith("p.s") and "post-inc" in (e.form or "")]
SIZES = {"b": 1, "bu": 1, "h": 2, "hu": 2, "w": 4}


def _load_values(key: str, rd: int, rs1: int, step: int = 4, rs2: int = 7) -> dict:
    return {"rd": rd, "rs1": rs1, "imm12": step} if "imm" in key else {"rd": rd, "rs1": rs1, "rs2": rs2}


@pytest.mark.parametrize("key", POST_LOADS)
def test_post_increment_load_rd_equals_rs1(key):
    x = state(x5=DATA + 0x100, x7=8)
    c = both(key, _load_values(key, 5, 5), x)
    py = run_python(BY_KEY[key], _load_values(key, 6, 5), x, F, 0, 3)   # same access, rd != rs1
    assert c.x[5] == py.x[6]            # the loaded data wins over the incremented address


@pytest.mark.parametrize("key", POST_LOADS)
def test_post_increment_load_step_register_aliases(key):
    # step register == base register (x[rs1] doubles), and rd == x0 (only the base moves)
    x = state(x5=DATA + 0x100)
    both(key, _load_values(key, 9, 5, rs2=5), x)
    c = both(key, _load_values(key, 0, 5), state(x5=DATA + 0x100, x7=12))
    assert c.x[0] == 0 and c.x[5] != DATA + 0x100


@pytest.mark.parametrize("key", POST_STORES)
def test_post_increment_store_aliases(key):
    # stored value register == base (the old base is stored), step register == base
    imm = "imm" in key
    for values in ({"rs2": 5, "rs1": 5, "simm12": -8} if imm else {"rs2": 5, "rs1": 5, "rs3": 5},
                   {"rs2": 6, "rs1": 5, "simm12": 0} if imm else {"rs2": 6, "rs1": 5, "rs3": 0}):
        both(key, values, state(x5=DATA + 0x200, x6=0x12345678))


@pytest.mark.parametrize("traps", [True, False])
@pytest.mark.parametrize("key", [k for k in POST_LOADS + POST_STORES if SIZES[BY_KEY[k].mnemonic[3:]] > 1])
def test_misaligned_post_increment(key, traps):
    load = BY_KEY[key].mnemonic.startswith("p.l")
    if load:
        values = _load_values(key, 9, 5)
    else:
        values = {"rs2": 6, "rs1": 5, "simm12": 4} if "imm" in key else {"rs2": 6, "rs1": 5, "rs3": 7}
    base = DATA + 0x101
    c = both(key, values, state(x5=base, x7=4), misaligned_traps=traps)
    if traps:
        assert c.status == "trap" and c.trap == ((4 if load else 6), base)
    else:
        assert c.status == "ok" and c.x[5] == base + 4


def test_peripheral_access_defers_before_any_write(lib):
    for key in POST_LOADS + POST_STORES:
        values = _load_values(key, 9, 5) if BY_KEY[key].mnemonic.startswith("p.l") else \
            ({"rs2": 6, "rs1": 5, "simm12": 4} if "imm" in key else {"rs2": 6, "rs1": 5, "rs3": 7})
        x = state(x5=0x1020_0010)
        c = run_c(BY_KEY[key], values, x, F, 0, 3)
        assert c.status == "python" and c.x == x, key


RS1_RS2 = [e for e in INT_ENTRIES if {"rs1", "rs2"} <= set(e.operands)]


def test_rs1_equals_rs2():
    rng = random.Random(7)
    for entry in RS1_RS2:
        for _ in range(3):
            values = cengine_diff.random_operands(rng, entry)
            values["rs2"] = values["rs1"]
            x, _, _ = cengine_diff.random_state(rng, entry)
            both(entry.key, values, x)


def test_x0_destination():
    rng = random.Random(8)
    for entry in INT_ENTRIES:
        if "rd" not in entry.operands:
            continue
        for _ in range(3):
            values = cengine_diff.random_operands(rng, entry)
            values["rd"] = 0
            x, _, _ = cengine_diff.random_state(rng, entry)
            c = both(entry.key, values, x)
            assert c.x[0] == 0


def test_rd_aliases_sources():
    # accumulating and inserting ops read x[rd]: rd == rs1 == rs2 as well
    rng = random.Random(9)
    for entry in RS1_RS2:
        if "rd" not in entry.operands:
            continue
        values = cengine_diff.random_operands(rng, entry)
        values["rd"] = values["rs1"] = values["rs2"] = 11
        x, _, _ = cengine_diff.random_state(rng, entry)
        both(entry.key, values, x)


@pytest.mark.parametrize("key", ["div", "divu", "rem", "remu", "mulh", "mulhsu", "mulhu", "mul"])
def test_division_and_multiply_corners(key):
    specials = [0, 1, 2, 3, 0xFFFF_FFFF, 0xFFFF_FFFE, 0x8000_0000, 0x8000_0001, 0x7FFF_FFFF, 7, -7]
    for a in specials:
        for b in specials:
            both(key, {"rd": 10, "rs1": 11, "rs2": 12}, state(x11=a, x12=b))
    expected = {"div": 0x8000_0000, "rem": 0}
    if key in expected:      # the overflow case
        c = both(key, {"rd": 10, "rs1": 11, "rs2": 12}, state(x11=0x8000_0000, x12=-1))
        assert c.x[10] == expected[key]
    c = both(key, {"rd": 10, "rs1": 11, "rs2": 12}, state(x11=-7, x12=0))
    if key in ("div", "divu"):
        assert c.x[10] == 0xFFFF_FFFF
    elif key in ("rem", "remu"):
        assert c.x[10] == (-7) & 0xFFFF_FFFF


SHIFTS = [f"pv.{op}{form}.{size}" for op in ("sll", "srl", "sra") for form in ("", ".sc") for size in "hb"]


@pytest.mark.parametrize("key", SHIFTS)
def test_simd_shift_amounts_wrap_to_lane_width(key):
    width = 16 if key.endswith("h") else 8
    for amount in range(40):
        b = amount * (0x0001_0001 if width == 16 else 0x0101_0101) & 0xFFFF_FFFF
        c = both(key, {"rd": 10, "rs1": 11, "rs2": 12}, state(x11=0x8421_F0F1, x12=b))
        if amount == width:      # a lane-width shift is a shift by 0
            same = both(key, {"rd": 10, "rs1": 11, "rs2": 12}, state(x11=0x8421_F0F1, x12=0))
            assert c.x[10] == same.x[10]


@pytest.mark.parametrize("key", [f"pv.{op}.sci.{size}" for op in ("sll", "srl", "sra") for size in "hb"])
def test_simd_shift_immediates(key):
    for imm in range(64):
        both(key, {"rd": 10, "rs1": 11, "pv_uimm6": imm}, state(x11=0x8421_F0F1))


def test_shift_scalar_amounts():
    for key in ("sll", "srl", "sra", "p.ror"):
        for amount in (0, 1, 31, 32, 33, 63, 0xFFFF_FFFF):
            both(key, {"rd": 10, "rs1": 11, "rs2": 12}, state(x11=0x8421_F0F1, x12=amount))


def _imm_field(entry) -> str:
    return next(n for n in entry.operands if n.startswith("pv_"))


def test_sci_immediate_sign():
    def run(key: str, imm: int, a: int) -> int:
        return both(key, {"rd": 10, "rs1": 11, _imm_field(BY_KEY[key]): imm}, state(x11=a)).x[10]

    assert run("pv.add.sci.h", -1, 0x0001_0002) == 0x0000_0001
    assert run("pv.add.sci.b", -32, 0x2020_2020) == 0x0000_0000
    assert run("pv.add.sci.b", 31, 0x0000_0000) == 0x1F1F_1F1F
    assert run("pv.cmpgt.sci.b", -1, 0x00FF_80FE) == 0xFF00_0000
    assert run("pv.cmpgtu.sci.b", 63, 0x40FF_3F00) == 0xFFFF_0000
    assert run("pv.avgu.sci.h", 63, 0xFFFF_0001) == 0x001F_0020
    assert run("pv.max.sci.h", -2, 0x8000_FFFF) == 0xFFFE_FFFF
    assert run("pv.maxu.sci.h", 63, 0x8000_0001) == 0x8000_003F
    assert run("pv.dotsp.sci.h", -3, 0x0002_0005) == (-21) & 0xFFFF_FFFF
    assert run("pv.dotusp.sci.b", -1, 0xFF01_0203) == (-(255 + 1 + 2 + 3)) & 0xFFFF_FFFF
    assert run("pv.dotup.sci.b", 63, 0xFF01_0203) == 63 * (255 + 1 + 2 + 3)
    assert run("pv.and.sci.h", -32, 0xFFFF_1234) == 0xFFE0_1220
    for entry in INT_ENTRIES:                       # every sci op at its immediate extremes
        for name in ("pv_simm6", "pv_uimm6"):
            if name in entry.operands:
                low, high = (-32, 31) if name == "pv_simm6" else (0, 63)
                for imm in (low, low + 1, -1 if low else 1, 0, high - 1, high):
                    both(entry.key, {"rd": 10, "rs1": 11, name: imm}, state(x11=0x80FF_7F01))


def test_control_flow_traps_and_links():
    # jalr: bit 0 cleared, bit 1 set traps (rd untouched); jal to pc + 2 traps; rd == rs1 links last
    c = both("jalr", {"rd": 5, "rs1": 5, "imm12": 1}, state(x5=0x1C00_0100))
    assert c.status == "ok" and c.pc == 0x1C00_0100 and c.x[5] == 0x1C00_0004
    c = both("jalr", {"rd": 5, "rs1": 5, "imm12": 2}, state(x5=0x1C00_0100))
    assert c.status == "trap" and c.trap == (0, 0x1C00_0102)
    c = both("jal", {"rd": 1, "jimm20": 2}, state())
    assert c.status == "trap" and c.trap == (0, 0x1C00_0002)
    c = both("p.beqimm", {"rs1": 5, "p_simm5": -16, "bimm12": 6}, state(x5=-16))
    assert c.status == "trap"
    c = both("p.bneimm", {"rs1": 5, "p_simm5": -1, "bimm12": -8}, state(x5=0xFFFF_FFFF))
    assert c.status == "ok" and c.pc == 0x1C00_0004


@pytest.mark.parametrize("key", ["beq", "bne", "blt", "bge", "bltu", "bgeu"])
def test_branches_taken_not_taken_misaligned(key):
    # the random harness only draws word-aligned offsets: a taken branch to pc + 2 must trap
    for a, b in ((5, 5), (5, 6), (6, 5), (-1, 1), (1, -1)):
        for offset in (2, -2, 8, 4):
            c = both(key, {"rs1": 11, "rs2": 12, "bimm12": offset}, state(x11=a, x12=b))
            assert c.status in ("ok", "trap")
            if c.status == "trap":
                assert c.trap == (0, (0x1C00_0000 + offset) & 0xFFFF_FFFF)


def test_hardware_loop_setup():
    c = both("lp.setupi", {"L": 1, "lp_count12": 4095, "lp_target5": 62}, state())
    assert c.hwloop == ((0, 0x1C00_0004), (0, 0x1C00_003E), (0, 4095))
    c = both("lp.setup", {"L": 0, "rs1": 5, "lp_target12": 8190}, state(x5=0xFFFF_FFFF))
    assert c.hwloop == ((0x1C00_0004, 0), (0x1C00_1FFE, 0), (0xFFFF_FFFF, 0))
