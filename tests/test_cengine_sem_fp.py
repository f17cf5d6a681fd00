"""C floating-point semantics (simulator/cengine/sem_fp.c) against the Python reference: every RV32F, Zfh,
Xfvec and Xfaux entry through the differential harness, plus targeted cases (NaN-boxing, fmv.x.h sign
extension, vfcpka, vfdotpex's single rounding, .r replication, reserved rounding modes)."""
from __future__ import annotations

import copy
import ctypes

import pytest

import mcusim.isa.ext  # noqa: F401  (registers every instruction)
from mcusim.isa.codec import encode
from mcusim.isa.spec import INSTRUCTIONS
from mcusim.simulator.cengine.opgen import OP_INDEX, OP_INVALID
from mcusim.simulator.hart import Hart
from mcusim.simulator.memory import Memory
from tests import cengine_diff
from tests.cengine_diff import DATA, compare, module, run_c, run_python

FP_EXTENSIONS = {"RV32F", "Zfh", "Xfvec", "Xfaux"}
BF16_EXTENSIONS = {"Xf16alt", "Xfvecalt", "Xfauxalt"}     # sem_bf16.c, differential in test_cengine_bf16.py
FP_ENTRIES = [e for e in INSTRUCTIONS if e.extension in FP_EXTENSIONS]
BY_KEY = {e.key: e for e in FP_ENTRIES}
TRIALS = 300
NV, NX = 16, 1
BOX = 0xFFFF_0000


@pytest.fixture(scope="module", autouse=True)
def _cached_memory():
    """The harness fills a fresh 64 KiB region with random bytes for every run (most of its time): build
    each seed's memory once and hand out copies (same contents, so the same test)."""
    original = cengine_diff._memory
    cache = {}

    def memory(seed):
        if seed not in cache:
            cache[seed] = original(seed)
        return copy.deepcopy(cache[seed])

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cengine_diff, "_memory", memory)
        yield


@pytest.mark.parametrize("entry", FP_ENTRIES, ids=[e.key for e in FP_ENTRIES])
def test_differential(entry):
    module()
    assert compare(entry, trials=TRIALS) == []


def test_supports_exactly_the_fp_entries():
    mod = module()
    # mcu_sem_fp_supports is exported from sem_fp.c but not declared to cffi: reach it through ctypes
    fn = ctypes.CDLL(mod.__file__).mcu_sem_fp_supports
    fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
    fp_ops = {OP_INDEX[id(e)] for e in INSTRUCTIONS if e.extension in FP_EXTENSIONS | BF16_EXTENSIONS}
    assert {op for op in range(OP_INVALID + 1) if fn(op)} == fp_ops
    assert all(mod.lib.mcu_supported(op) for op in fp_ops)


# --- targeted cases ---------------------------------------------------------------------------------

def _x() -> list[int]:
    return [0] + [DATA + 0x100 + 4 * i for i in range(1, 32)]


def _f() -> list[int]:
    return [0x3F80_0000 + i for i in range(32)]


def run(key: str, values: dict, f: dict | None = None, x: dict | None = None, frm: int = 0):
    """Run one instruction on both engines from a given state; they must agree; the Python outcome."""
    module()
    entry = BY_KEY[key]
    xs, fs = _x(), _f()
    for r, v in (x or {}).items():
        xs[r] = v
    for r, v in (f or {}).items():
        fs[r] = v
    py = run_python(entry, values, xs, fs, frm, 0)
    c = run_c(entry, values, xs, fs, frm, 0)
    assert c == py, f"{key} {values}: C {c.status} {c.trap} vs Python {py.status} {py.trap}"
    return py


def test_half_operand_not_boxed_reads_canonical_nan():
    out = run("fsgnj.h", {"fd": 1, "fs1": 2, "fs2": 3}, f={2: 0x1234_3C00, 3: BOX | 0x8000})
    assert out.f[1] == BOX | 0xFE00          # -(canonical NaN), written boxed
    out = run("fadd.h", {"fd": 1, "fs1": 2, "fs2": 3, "rm": 0}, f={2: 0x0000_3C00, 3: BOX | 0x3C00})
    assert out.f[1] == BOX | 0x7E00 and out.fflags == 0
    out = run("fadd.h", {"fd": 1, "fs1": 2, "fs2": 3, "rm": 0}, f={2: BOX | 0x3C00, 3: BOX | 0x3C00})
    assert out.f[1] == BOX | 0x4000


def test_fmv_x_h_sign_extends_without_box_check():
    assert run("fmv.x.h", {"rd": 5, "fs1": 2}, f={2: 0x0000_8001}).x[5] == 0xFFFF_8001
    assert run("fmv.x.h", {"rd": 5, "fs1": 2}, f={2: 0x1234_7FFF}).x[5] == 0x0000_7FFF
    out = run("fmv.h.x", {"fd": 3, "rs1": 5}, x={5: 0x1234_5678})
    assert out.f[3] == BOX | 0x5678 and out.mstatus & 0x6000 == 0x6000


def test_flh_boxes_and_fsh_stores_raw_half():
    out = run("flh", {"fd": 3, "imm12": 2, "rs1": 5}, x={5: DATA + 0x10})
    assert out.f[3] == BOX | int.from_bytes(out.memory[0x12:0x14], "little")
    out = run("fsh", {"fs2": 3, "simm12": -2, "rs1": 5}, f={3: 0x1234_5678}, x={5: DATA + 0x22})
    assert out.memory[0x20:0x22] == bytes([0x78, 0x56])


def test_fp_access_to_peripheral_defers_to_python():
    module()
    xs, fs = _x(), _f()
    xs[5] = 0x1020_0000
    before = Hart(Memory()).mstatus           # FS initial: nothing may mark it dirty
    for key, values in (("flw", {"fd": 3, "imm12": 0, "rs1": 5}), ("flh", {"fd": 3, "imm12": 0, "rs1": 5}),
                        ("fsw", {"fs2": 3, "simm12": 4, "rs1": 5})):
        c = run_c(BY_KEY[key], values, xs, fs, 0, 0)
        assert c.status == "python" and c.f == fs and c.mstatus == before


def test_vfcpka_packs_two_rounded_singles():
    assert run("vfcpka.h.s", {"fd": 1, "fs1": 2, "fs2": 3}, f={2: 0x3F80_0000, 3: 0x4000_0000}).f[1] == 0x4000_3C00
    out = run("vfcpka.h.s", {"fd": 1, "fs1": 2, "fs2": 3}, f={2: 0x3F80_1000, 3: 0x3F80_1000}, frm=3)  # rup
    assert out.f[1] == 0x3C01_3C01 and out.fflags == NX
    out = run("vfcpka.h.s", {"fd": 1, "fs1": 2, "fs2": 3}, f={2: 0x3F80_1000, 3: 0x3F80_1000}, frm=0)  # tie: even
    assert out.f[1] == 0x3C00_3C00 and out.fflags == NX


def test_vfdotpex_rounds_once():
    # 1 + 2^-24 + 2^-48 rounds up to 1 + 2^-23; rounding the product sum first (2^-24) would give a tie -> 1.0
    out = run("vfdotpex.s.h", {"fd": 1, "fs1": 2, "fs2": 3},
              f={1: 0x3F80_0000, 2: 0x0001_0C00, 3: 0x0001_0C00})
    assert out.f[1] == 0x3F80_0001 and out.fflags == NX
    out = run("fmacex.s.h", {"fd": 1, "fs1": 2, "fs2": 3, "rm": 7},
              f={1: 0x3F80_0000, 2: BOX | 0x0C00, 3: BOX | 0x0C01}, frm=0)
    assert out.f[1] == 0x3F80_0001 and out.fflags == NX


def test_replicated_forms_use_lane_0_of_fs2():
    f = {2: 0x4000_3C00, 3: 0xDEAD_3C00}          # v1 = (1, 2); lane 0 of f3 = 1
    assert run("vfadd.r.h", {"fd": 1, "fs1": 2, "fs2": 3}, f=f).f[1] == 0x4200_4000
    assert run("vfadd.h", {"fd": 1, "fs1": 2, "fs2": 3}, f=f).f[1] != 0x4200_4000
    assert run("vfsgnj.r.h", {"fd": 1, "fs1": 2, "fs2": 3}, f={2: 0x4000_3C00, 3: 0x0000_8000}).f[1] == 0xC000_BC00
    assert run("vfeq.r.h", {"rd": 5, "fs1": 2, "fs2": 3}, f={2: 0x3C00_3C00, 3: 0x4000_3C00}).x[5] == 0x0001_0001
    assert run("vfdotp.r.h", {"fd": 1, "fs1": 2, "fs2": 3}, f={2: 0x4000_3C00, 3: 0x0000_4000}).f[1] == 0x4600


@pytest.mark.parametrize("key, values, frm, traps", [
    ("fadd.s", {"fd": 1, "fs1": 2, "fs2": 3, "rm": 5}, 0, True),
    ("fadd.s", {"fd": 1, "fs1": 2, "fs2": 3, "rm": 6}, 0, True),
    ("fadd.s", {"fd": 1, "fs1": 2, "fs2": 3, "rm": 7}, 5, True),
    ("fadd.s", {"fd": 1, "fs1": 2, "fs2": 3, "rm": 0}, 5, False),     # static rm: frm is not read
    ("fcvt.s.h", {"fd": 1, "fs1": 2, "rm": 5}, 0, True),              # exact, but the field is checked
    ("fcvt.w.s", {"rd": 1, "fs1": 2, "rm": 7}, 7, True),
    ("fsgnj.s", {"fd": 1, "fs1": 2, "fs2": 3}, 5, False),
    ("vfadd.h", {"fd": 1, "fs1": 2, "fs2": 3}, 5, True),              # vectors always use frm
    ("vfcpka.h.s", {"fd": 1, "fs1": 2, "fs2": 3}, 6, True),
    ("vfmin.h", {"fd": 1, "fs1": 2, "fs2": 3}, 5, False),             # non-rounding vector op
    ("vfclass.h", {"rd": 1, "fs1": 2}, 7, False),
    ("fmulex.s.h", {"fd": 1, "fs1": 2, "fs2": 3, "rm": 7}, 5, True),
])
def test_reserved_rounding_mode(key, values, frm, traps):
    out = run(key, values, frm=frm)
    if traps:
        assert out.status == "trap" and out.trap == (2, encode(BY_KEY[key], values))
    else:
        assert out.status == "ok"


def test_fs_dirty_only_on_f_write_or_flags():
    # feq without flags writes only x: FS stays as it was; fsgnj writes f: FS dirty
    out = run("feq.s", {"rd": 5, "fs1": 2, "fs2": 2})
    assert out.mstatus & 0x6000 != 0x6000 and out.x[5] == 1
    assert run("fsgnj.s", {"fd": 1, "fs1": 2, "fs2": 2}).mstatus & 0x6000 == 0x6000
    out = run("feq.s", {"rd": 5, "fs1": 2, "fs2": 3}, f={3: 0x7F80_0001})   # sNaN: NV, FS dirty
    assert out.fflags == NV and out.mstatus & 0x6000 == 0x6000 and out.x[5] == 0
