"""The compiled engine against the Python reference: random multi-core programs (integer, FP32,
FP16, FP16-SIMD, hardware loops, post-increment, barriers, shared-bank traffic, DMA) and the
calibration programs must give identical registers, memory, exit codes, cycles and every counter."""
import json

import pytest

from mcusim.kernels_asm import assemble, to_elf
from mcusim.simulator.cengine import binding
from mcusim.simulator.cluster import Cluster
from mcusim.simulator.config import load_config
from mcusim.simulator.loader import read_elf
from mcusim.simulator.report import to_json
from tools.gen_cluster_program import generate

CONFIGS = [
    {},
    {"fpu": {"count": 2, "latency_fma": 2, "latency_add": 0}},
    {"tcdm": {"banks": 4}, "core": {"misaligned": "split"}, "l2": {"latency": 7}},
]


def run_both(source: str, cores: int, overrides: dict | None = None, controller: bool = False):
    if binding.load() is None:
        pytest.fail("the compiled engine is not built: run `pip install -e .`")
    image = read_elf(to_elf(assemble(source, "<random>")), "<random>")
    results = []
    for engine in ("py", "c"):
        config = load_config(overrides=overrides or None)
        cluster = Cluster(image, config, cores=cores, controller=controller, engine=engine)
        result = cluster.run()
        assert result.engine == engine
        doc = to_json(result, "p")
        doc.pop("engine")
        memory = [bytes(r.data) for r in cluster.memory.regions]
        regs = [(list(c.hart.x), list(c.hart.f), c.hart.pc, c.hart.fflags) for c in result.cores]
        results.append((doc, memory, regs))
    return results


def assert_same(results) -> None:
    (doc_py, mem_py, regs_py), (doc_c, mem_c, regs_c) = results
    if doc_py != doc_c:
        for key in doc_py:
            assert doc_py[key] == doc_c[key], f"{key}: py {json.dumps(doc_py[key])[:500]} / c {json.dumps(doc_c[key])[:500]}"
    assert regs_py == regs_c
    assert mem_py == mem_c


RANDOM_SEEDS = range(12)


@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_random_programs_identical(seed):
    cores = [1, 3, 8][seed % 3]
    assert_same(run_both(generate(seed, blocks=25), cores, CONFIGS[seed % len(CONFIGS)]))


def test_round_robin_priority_from_cycle_0_identical():
    """Eight cores store to one TCDM bank in the same cycles from the start: the bank serves them in
    the round-robin order of each cycle (t mod 9 first), so every core's contention stalls depend on
    that order being right from cycle 0 (the compiled loop once started it one core late)."""
    source = """
    .globl _start
_start:
    lui a0, 0x10000
    sw zero, 0(a0)
    sw zero, 0(a0)
    sw zero, 0(a0)
    li a7, 93
    li a0, 0
    ecall
"""
    results = run_both(source, 8)
    assert_same(results)
    stalls = [core["stalls"]["tcdm_contention"] for core in results[0][0]["cores"][:8]]
    assert len(set(stalls)) == 8, stalls        # a real conflict: every core waits differently


@pytest.mark.parametrize("workload", ["int-loop", "fp16-matmul", "int-matmul"])
def test_benchmark_programs_identical(workload):
    """The programs of tools/bench_engine.py, small: (a) the integer loop, (b) the FP16-SIMD matmul,
    (e) the integer matmul (hardware loop, post-increment loads and stores, p.mac, every core on
    the same B^T rows), the multi-core ones on 3 and 8 cores."""
    from tools.bench_engine import FP16_MATMUL, INT_LOOP, INT_MATMUL
    if workload == "int-loop":
        assert_same(run_both(INT_LOOP.format(n=50), 1))
        return
    program = {"fp16-matmul": FP16_MATMUL, "int-matmul": INT_MATMUL}[workload]
    for cores in (3, 8):
        assert_same(run_both(program.format(m=8, n=8, k=8, reps=1), cores))


def test_ops_with_their_own_issue_function_have_c_semantics():
    """An op listed in opgen.SPECIALISED_ISSUE without C semantics would never reach its function
    (the reference runs it): the list would only cost build time."""
    from mcusim.isa.spec import INSTRUCTIONS
    from mcusim.simulator.cengine.opgen import OP_INDEX, SPECIALISED_ISSUE
    if binding.load() is None:
        pytest.fail("the compiled engine is not built: run `pip install -e .`")
    by_key = {e.key: e for e in INSTRUCTIONS}
    without = [k for k in SPECIALISED_ISSUE if not binding.SEM_FILE[OP_INDEX[id(by_key[k])]]]
    assert not without, without


def test_random_programs_contain_every_op_with_its_own_issue_function():
    """The compiled engine issues the ops of opgen.SPECIALISED_ISSUE through their own C functions;
    the random programs above must contain each of them so that every one is compared."""
    from mcusim.isa.codec import find_entry
    from mcusim.simulator.cengine.opgen import SPECIALISED_ISSUE
    present = set()
    for seed in RANDOM_SEEDS:
        for section in assemble(generate(seed, blocks=25), "<random>").loadable_sections():
            data = bytes(section.data)
            for i in range(0, len(data) - 3, 4):
                entry = find_entry(int.from_bytes(data[i:i + 4], "little"))
                if entry is not None:
                    present.add(entry.key)
    missing = sorted(set(SPECIALISED_ISSUE) - present)
    assert not missing, f"extend tools/gen_cluster_program.py to generate {missing}"


def test_calibration_programs_identical():
    from tests.cluster_helpers import loop_program
    bodies = ["lw a0, 0(s0)\n add a1, a0, a0", "beq x0, x0, 1f\n1: nop", "divu a0, a1, a2\n rem a3, a1, a2",
              "fdiv.s fa2, fa0, fa1\n fmadd.s fa3, fa2, fa1, fa3", "mulh a0, a1, a2\n jal x0, 1f\n1: nop"]
    setup = "core_id t0\n li s0, 0x10000000\n slli t0, t0, 2\n add s0, s0, t0\n li a2, 0x9876\n li a1, 100"
    for body in bodies:
        assert_same(run_both(loop_program(body, 50, setup), 8))


def test_self_modifying_code_identical():
    """A core rewrites an instruction it then runs: the C engine invalidates the pre-decoded record
    and takes the new one (CEngine.invalidate / refresh), as the reference re-decodes it."""
    source = """
    .globl _start
_start:
    li t2, 3
1:  la t0, patched
    lw t1, 0(t0)
    li t3, 1 << 20
    add t1, t1, t3                # addi a0, a0, k -> addi a0, a0, k + 1
    sw t1, 0(t0)
    fence.i
patched:
    addi a0, a0, 1
    addi t2, t2, -1
    bnez t2, 1b
    li a7, 93
    ecall
"""
    results = run_both(source, 1)
    assert_same(results)
    assert results[0][0]["exit_code"] == 2 + 3 + 4    # the patched immediates 2, 3, 4
    # the rewritten word is pre-decoded again (not left to the reference for good)
    image = read_elf(to_elf(assemble(source, "<smc>")), "<smc>")
    cluster = Cluster(image, load_config(), cores=1, engine="c")
    cluster.run()
    mem = cluster.cengine.state.mem
    record = mem.code[(image.symbols["patched"] - mem.code_base) >> 1]   # an entry per halfword
    assert record.valid and record.sem and record.imm[0] == 4


CSR_PROGRAM = """
    .globl _start
_start:
    core_id s0
    li s1, 0x10000000
    slli t0, s0, 7
    add s1, s1, t0                 # this core's 32 result words
    csrr a0, mcycle
    csrr a1, cycle
    csrr a2, mcycleh
    csrr a3, minstret
    csrr a4, instreth
    csrr a5, mhartid
    csrr a6, misa
    csrr a7, mvendorid
    sw a0, 0(s1)
    sw a1, 4(s1)
    sw a2, 8(s1)
    sw a3, 12(s1)
    sw a4, 16(s1)
    sw a5, 20(s1)
    sw a6, 24(s1)
    sw a7, 28(s1)
    addi t1, s0, 1
    csrw frm, t1                   # core-dependent rounding modes (5..7 are reserved: masked to 0..4)
    andi t1, t1, 3
    csrw frm, t1
    csrrsi t2, fflags, 5
    csrrci t3, fflags, 1
    csrrw t4, fcsr, s0
    csrrwi t5, fcsr, 0x1f
    csrrs t6, fcsr, x0             # a read without a write
    csrrc a0, mstatus, zero
    csrrsi a1, mstatus, 8
    csrrci a2, mstatus, 8
    li t0, 0xFFFFFFFF
    csrrw a3, mstatus, t0
    csrr a4, mstatus
    fadd.s ft0, ft1, ft2           # FS becomes dirty
    csrr a5, mstatus
    sw t2, 32(s1)
    sw t3, 36(s1)
    sw t4, 40(s1)
    sw t5, 44(s1)
    sw t6, 48(s1)
    sw a0, 52(s1)
    sw a1, 56(s1)
    sw a2, 60(s1)
    sw a3, 64(s1)
    sw a4, 68(s1)
    sw a5, 72(s1)
    li t0, 3
    lp.setup x0, t0, 2f
    csrr a0, lpcount0
    csrr a1, lpstart0
2:  csrr a2, lpend0
    csrw lpcount1, s0
    csrr a3, lpcount1
    csrs lpstart1, s1
    csrr a4, lpstart1
    sw a0, 76(s1)
    sw a1, 80(s1)
    sw a2, 84(s1)
    sw a3, 88(s1)
    sw a4, 92(s1)
    csrr a0, mcycle
    csrr a1, minstret
    sw a0, 96(s1)
    sw a1, 100(s1)
    csrw mscratch, s0              # the trap CSRs stay in the reference: mixed in the same run
    csrr a2, mscratch
    sw a2, 104(s1)
    barrier
    li a7, 93
    li a0, 0
    ecall
"""


@pytest.mark.parametrize("cores", [1, 3, 8])
def test_csr_instructions_identical(cores):
    """The CSR instructions the compiled loop executes itself (sem_sys.c: fflags, frm, fcsr, mstatus,
    mcycle, minstret, mhartid, misa, the ids and the hardware-loop CSRs) give the reference's values,
    cycles and round-robin order; the ones it hands back (mscratch) mix in."""
    results = run_both(CSR_PROGRAM, cores)
    assert_same(results)
    words = results[0][1]
    assert any(words), "the program wrote nothing"


def test_csr_instructions_run_in_c():
    """The common CSR instructions have C semantics: the compiled loop does not stop for them."""
    from mcusim.isa.spec import INSTRUCTIONS
    from mcusim.simulator.cengine.opgen import OP_INDEX
    if binding.load() is None:
        pytest.fail("the compiled engine is not built: run `pip install -e .`")
    for e in INSTRUCTIONS:
        if e.mnemonic in ("csrrw", "csrrs", "csrrc", "csrrwi", "csrrsi", "csrrci"):
            assert binding.SEM_FILE[OP_INDEX[id(e)]] == 3, e.key


def _trace(source: str, cores: int, engine: str, **kwargs) -> str:
    import io
    image = read_elf(to_elf(assemble(source, "<trace>")), "<trace>")
    out = io.StringIO()
    cluster = Cluster(image, load_config(), cores=cores, engine=engine, trace=out, **kwargs)
    cluster.run()
    assert cluster.engine_used == engine
    return out.getvalue()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trace_identical(seed, monkeypatch):
    """--trace on the compiled engine: the same lines as the reference's, in the same order (C's
    records interleaved with the instructions the reference executes: CSRs it hands back, barriers,
    DMA, exits), also when the record buffer fills up many times (a small one here)."""
    from mcusim.simulator.cengine.engine import CEngine
    if binding.load() is None:
        pytest.fail("the compiled engine is not built: run `pip install -e .`")
    monkeypatch.setattr(CEngine, "TRACE_CAPACITY", 7)
    source = generate(seed, blocks=12)
    cores = [1, 3, 8][seed]
    py, c = _trace(source, cores, "py"), _trace(source, cores, "c")
    assert py.count("\n") > 200
    assert py == c


def test_trace_filters_identical():
    """The core and cycle filters of --trace give the reference's lines on the compiled engine."""
    kwargs = {"trace_cores": {1, 6}, "trace_window": (20, 90)}
    py, c = _trace(CSR_PROGRAM, 8, "py", **kwargs), _trace(CSR_PROGRAM, 8, "c", **kwargs)
    assert py and py == c
    assert {line.split()[1] for line in py.splitlines()} == {"c1", "c6"}
