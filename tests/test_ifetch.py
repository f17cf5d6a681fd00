"""Instruction fetch (config `icache.model = "cache"`, the default; simulator/ifetch.py and its twin in
engine.c): the GVSoC calibration on short and long straight-line blocks, the L0 / L1 / stream rules,
the `imiss` stall cause and counter, and both engines giving identical results on random programs
with small caches that evict, with and without the stream."""
import pytest

from mcusim.kernels_asm import assemble, to_elf
from mcusim.simulator.cluster import Cluster
from mcusim.simulator.config import ConfigError, load_config
from mcusim.simulator.loader import read_elf
from mcusim.simulator.report import to_json
from tests.test_engine_equivalence import assert_same, run_both
from tests.test_profile import _need_c, _same
from tools.gen_cluster_program import generate

CACHE = {"icache": {"model": "cache"}}
IDEAL = {"icache": {"model": "ideal"}}
# small caches: the random programs' code evicts lines from both levels
SMALL = {"icache": {"model": "cache", "l0_size": 32, "size": 256, "ways": 2, "refill_latency": 9,
                    "stream_after": 1}}
SMALL_WIDE = {"icache": {"model": "cache", "l0_size": 64, "l0_line": 8, "line": 32, "size": 512, "ways": 1,
                         "hit_latency": 2, "stream_after": 0}}
PER_LINE = {"icache": {"model": "cache", "l0_size": 64, "size": 512, "ways": 2, "stream_after": -1}}


def straight(n: int, evict: int = 160) -> str:
    """A block of n nops between two mcycle reads, called cold (s2), then after `evict` other nops
    replaced the L0 (s3) and once more at once (s4): the calibration program for any length."""
    nops = "\n".join(["    nop"] * n)
    other = "\n".join(["    nop"] * evict)
    return f"""
    .text
    .globl _start
_start:
    jal ra, block
    mv s2, a0
    jal ra, evict
    jal ra, block
    mv s3, a0
    jal ra, block
    mv s4, a0
    li a7, 93
    li a0, 0
    ecall
    .balign 16
block:
    csrr t0, mcycle
{nops}
    csrr t1, mcycle
    sub a0, t1, t0
    ret
    .balign 16
evict:
{other}
    ret
"""


# GVSoC's instruction-fetch test (docs/TIMING.md): 16 nops and the closing csrr between two mcycle reads
CALIBRATION = straight(16)


def _calibration(overrides, program=CALIBRATION):
    """(cold, warm, resident) cycles of the block and the report, both engines checked equal."""
    results = run_both(program, 1, overrides)
    assert_same(results)
    regs = results[0][2][0][0]
    return regs[18], regs[19], regs[20], results[0][0]


def test_gvsoc_calibration_warm_21_cold_89():
    """GVSoC pulp-open: 17 straight-line instructions take 89 cycles cold, 21 warm, 17 with ideal fetch."""
    cold, warm, resident, doc = _calibration(CACHE)
    assert (cold, warm) == (89, 21)
    assert resident == 17                   # still in the L0: no miss at all
    assert doc["cores"][0]["stalls"]["imiss"] > 72 + 4
    assert _calibration(IDEAL)[:3] == (17, 17, 17)


@pytest.mark.parametrize("n", [16, 64, 1152, 4094])
def test_a_straight_block_pays_its_first_lines_whatever_its_length(n):
    """GVSoC: a straight-line block costs +70 to +90 cycles cold (1,153 to 4,095 instructions) as it
    does on 17 (+72): after 4 sequential line misses the prefetch streams. The 4 lines after the first
    (whose miss precedes the first mcycle read) pay a refill each cold, a hit each warm; nothing after.
    Blocks larger than the 4 KiB L1 evict their own first lines, so their warm call is cold."""
    cold, warm, resident, _ = _calibration(CACHE, straight(n))
    assert cold == n + 1 + 4 * 18
    assert warm == n + 1 + (4 * 18 if 4 * (n + 2) > 4096 else 4)
    assert resident == n + 1 + (0 if 4 * (n + 2) <= 512 else 4 * 18 if 4 * (n + 2) > 4096 else 4)


def test_stream_after_sets_where_the_prefetch_takes_over():
    n = 200                                   # 800 B: 50 lines, in the L1, not in the L0
    lines = (4 * (n + 2) - 1) // 16           # lines after the first
    for after in (-1, 0, 1, 4, 12):
        cold, warm, _, _ = _calibration({"icache": {"model": "cache", "stream_after": after}}, straight(n))
        paid = lines if after < 0 else after
        assert (cold, warm) == (n + 1 + 18 * paid, n + 1 + paid), after


def test_a_jump_restarts_the_stream():
    """Forward jumps over a line: no run of consecutive lines, so every line pays its refill."""
    hops = "\n".join(f"""    .balign 16
    nop
    nop
    nop
    j 1f
    nop
    nop
    nop
    nop
1:""" for _ in range(12))
    src = f"""
    .globl _start
_start:
    csrr t0, mcycle
{hops}
    csrr t1, mcycle
    sub a0, t1, t0
    li a7, 93
    ecall
"""
    results = run_both(src, 1, CACHE)
    assert_same(results)
    ideal = run_both(src, 1, IDEAL)
    extra = results[0][2][0][0][10] - ideal[0][2][0][0][10]
    assert extra == 13 * 18     # the 12 groups (jump targets) and the line after; the lines jumped over: never fetched


def test_eight_cores_share_the_stream_and_its_refills():
    one = _calibration(CACHE, straight(1152))
    results = run_both(straight(1152), 8, CACHE)
    assert_same(results)
    for i in range(8):
        cold = results[0][2][i][0][18]
        assert one[0] - 1 <= cold <= one[0] + 2, (i, cold)


def test_refill_and_hit_latency_scale_the_misses():
    cold, warm, _, _ = _calibration({"icache": {"model": "cache", "refill_latency": 30, "hit_latency": 3}})
    assert (cold, warm) == (17 + 4 * 30, 17 + 4 * 3)
    # one L0 line per L1 line of 64 B: the 17 instructions cross one 64 B boundary
    cold, warm, _, _ = _calibration({"icache": {"model": "cache", "l0_line": 64, "line": 64}})
    assert (cold, warm) == (17 + 18, 17 + 1)


def test_l1_too_small_for_the_evicting_code_makes_the_warm_call_cold():
    cold, warm, _, _ = _calibration({"icache": {"model": "cache", "size": 256, "ways": 1}})
    assert cold == warm == 89


def test_imiss_is_performance_counter_4():
    src = """
    .globl _start
_start:
    li t0, 1 << 4               # PCER: count instruction-miss cycles
    csrw 0xcc0, t0
    csrw 0xcc1, 1               # PCMR: enable
    csrw 0x79f, zero            # reset every counter
    .balign 16
    nop
    nop
    nop
    nop
    nop
    csrr a0, 0x784
    li a7, 93
    ecall
"""
    for overrides, expected in ((CACHE, 2 * 18), (IDEAL, 0)):
        results = run_both(src, 1, overrides)
        assert_same(results)
        assert results[0][2][0][0][10] == expected


def test_cores_share_the_l1_and_wait_for_a_refill_in_flight():
    """Eight cores start together on cold code: one refill per line, the others wait for it, so every
    core ends within a few cycles of one core alone."""
    src = CALIBRATION
    one = run_both(src, 1, CACHE)
    eight = run_both(src, 8, CACHE)
    assert_same(eight)
    cold = [eight[0][2][i][0][18] for i in range(8)]
    assert cold[0] == one[0][2][0][0][18] == 89
    assert all(89 - 1 <= c <= 89 + 1 for c in cold), cold


def test_a_loop_in_the_l0_pays_only_its_first_iteration():
    body = "\n".join(["    addi t1, t1, 1"] * 20)
    src = f"""
    .globl _start
_start:
    li t5, 100
    .balign 16
    lp.setup x0, t5, 9f
{body}
9:  nop
    li a7, 93
    li a0, 0
    ecall
"""
    results = run_both(src, 1, CACHE)
    assert_same(results)
    ideal = run_both(src, 1, IDEAL)
    core = results[0][0]["cores"][0]
    extra = core["cycles"] - ideal[0][0]["cores"][0]["cycles"]
    assert extra == core["stalls"]["imiss"] > 0
    assert extra <= 18 * 8                  # the code's 8 lines, refilled once
    # an L0 of 2 lines: every line change of every iteration refills from the L1
    small = run_both(src, 1, {"icache": {"model": "cache", "l0_size": 32}})
    assert_same(small)
    assert small[0][0]["cores"][0]["stalls"]["imiss"] >= 100 * 5


@pytest.mark.parametrize("seed", range(8))
def test_random_programs_identical_with_instruction_fetch(seed):
    cores = [1, 3, 8][seed % 3]
    overrides = [CACHE, SMALL, SMALL_WIDE, PER_LINE][seed % 4]
    results = run_both(generate(100 + seed, blocks=25), cores, overrides)
    assert_same(results)
    assert sum(core["stalls"]["imiss"] for core in results[0][0]["cores"]) > 0


def test_profile_identical_with_instruction_fetch():
    _need_c()
    image = read_elf(to_elf(assemble(generate(3, blocks=20), "<p>")), "<p>")
    out = []
    for engine in ("py", "c"):
        docs = []
        for on in (False, True):
            result = Cluster(image, load_config(overrides=SMALL), cores=8, engine=engine, profile=on).run()
            doc = to_json(result, "p")
            doc.pop("engine")
            docs.append(doc)
        assert docs[0] == docs[1]
        out.append(result)
    _same(out[0].profile, out[1].profile)
    assert any(s.get("imiss") for s in out[0].profile.stalls.values())


@pytest.mark.parametrize("values,message", [
    ({"model": "lru"}, "icache.model"),
    ({"l0_size": 500}, "icache.l0_size: 500 is not a power of two"),
    ({"l0_line": 32}, "icache.l0_line: 32 is larger than icache.line"),
    ({"size": 32, "ways": 4}, "icache.size"),
    ({"refill_latency": 0}, "icache.refill_latency"),
    ({"stream_after": -2}, "icache.stream_after"),
])
def test_bad_icache_settings_are_named(values, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides={"icache": values})


def test_api_and_toml_select_the_model(tmp_path):
    import mcusim
    assert mcusim.Config(icache_model="cache").icache.model == "cache"
    assert mcusim.Config(icache_model="ideal").icache.model == "ideal"
    assert mcusim.Config().icache.model == "cache"          # fetch is modelled by default
    path = tmp_path / "fetch.toml"
    path.write_text('[icache]\nmodel = "cache"\nrefill_latency = 30\n')
    config = load_config(path=path)
    assert (config.icache.model, config.icache.refill_latency) == ("cache", 30)
