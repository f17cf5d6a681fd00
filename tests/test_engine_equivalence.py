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


# three passes that each add 1 to the immediate of the addi they then run: exit code 2 + 3 + 4
PATCHING_LOOP = """
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


def test_self_modifying_code_identical():
    """A core rewrites an instruction it then runs: the C engine invalidates the pre-decoded record
    and takes the new one (CEngine.invalidate / refresh), as the reference re-decodes it."""
    source = "    .globl _start\n_start:\n" + PATCHING_LOOP
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
    csrw mscratch, s0              # a trap CSR
    csrr a2, mscratch
    sw a2, 104(s1)
    barrier
    li a7, 93
    li a0, 0
    ecall
"""


@pytest.mark.parametrize("cores", [1, 3, 8])
def test_csr_instructions_identical(cores):
    """The CSR instructions the compiled loop executes (sem_sys.c: fflags, frm, fcsr, mstatus, mcycle,
    minstret, mhartid, misa, the ids, the hardware-loop and the trap CSRs) give the reference's values,
    cycles and round-robin order (the performance counters: tests/test_cengine_sys.py)."""
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


# --- the event unit and the DMA's registers in C (simulator/cengine/eu.c) -----------------------------
def _alias(offset: int) -> int:
    from mcusim.simulator import memory_map as mm
    return mm.alias(offset)


def _dispatch_program(pre_join_work: int = 0) -> str:
    """Controller mode: rounds of fork to every worker and join; the tasks meet at barriers, pass
    events between neighbours (some sent before the receiver waits, some after), read the team, the
    core id and the number of workers; the controller writes and reads back the DMA's transfer
    registers, forks all workers but one, and joins once after its workers have all returned."""
    from mcusim.simulator import memory_map as mm
    eu, dma = (lambda off: _alias(mm.EU_OFFSET + off)), (lambda off: _alias(mm.DMA_OFFSET + off))
    return f"""
    .globl _start
_start:
    num_workers s0
    li s4, 1
    sll s4, s4, s0
    addi s4, s4, -1             # every worker
    la s1, task
    la s2, results
    li s3, 3
round:
    region_begin round
    fork s4, s1, s2
    join
    sw s3, {dma(mm.DMA_SRC)}(x0)
    addi t0, s3, 100
    sw t0, {dma(mm.DMA_SRC_STRIDE)}(x0)
    lw t1, {dma(mm.DMA_SRC)}(x0)
    lw t2, {dma(mm.DMA_SRC_STRIDE)}(x0)
    lw t3, {dma(mm.DMA_DST)}(x0)      # never written: 0
    add t1, t1, t2
    add t1, t1, t3
    sw t1, 64(s2)
    region_end round
    addi s3, s3, -1
    bnez s3, round
    srli t1, s4, 1              # all workers but the last (an event to it stays pending)
    fork t1, s1, s2
    li t5, {pre_join_work}
1:  beqz t5, 2f
    addi t5, t5, -1
    j 1b
2:  join
    lw a0, 64(s2)
    lw t0, 96(s2)
    add a0, a0, t0              # + the number of tasks run
    li a7, 93
    ecall
task:                           # a0 = results
    region_begin task
    core_id t0
    barrier
    region_begin work
    addi t6, t0, 1
    slli t6, t6, 3              # some work, longer on higher cores
3:  addi t6, t6, -1
    bnez t6, 3b
    andi t1, t0, 1
    beqz t1, 4f
    andi t1, t0, 2
    beqz t1, 6f
    region_end work
    wait_event                  # odd cores wait for their even neighbour
    j 5f
6:  region_end work
    wfi                         # (the same wait)
    j 5f
4:  region_end work
    li t2, 2
    sll t2, t2, t0
    send_event t2
5:  mutex_lock                  # a shared count under the mutex
    lw t5, 96(a0)
    addi t5, t5, 1
    sw t5, 96(a0)
    mutex_unlock
    lw t3, {eu(mm.EU_BARRIER_TEAM)}(x0)
    slli t1, t0, 2
    add t1, t1, a0
    lw t4, 0(t1)
    add t4, t4, t3
    addi t4, t4, 1
    sw t4, 0(t1)
    barrier
    region_end task
    ret
    .section .tcdm
results: .space 128
"""


EU_CONFIGS = [{}, {"event_unit": {"event_wakeup": 0, "barrier_wakeup": 0}},
              {"event_unit": {"event_wakeup": 5, "barrier_wakeup": 1}, "workers": 4}]


@pytest.mark.parametrize("overrides", EU_CONFIGS)
@pytest.mark.parametrize("pre_join_work", [0, 3000])
def test_dispatch_barriers_events_identical(overrides, pre_join_work):
    """fork, join, a worker's return to the dispatcher, barriers, wait/send event, the team, the core
    id and the number of workers, the DMA's registers, done by eu.c in the compiled engine, give the
    reference's cycles, counters and state (with wake-up latencies of 0 too: a core woken in the
    cycle of the event issues in that cycle)."""
    results = run_both(_dispatch_program(pre_join_work), 1, overrides, controller=True)
    assert_same(results)
    doc = results[0][0]
    workers = overrides.get("workers", 8)
    assert doc["exit_code"] == 1 + 101 + 3 * workers + workers - 1 and doc["cycles"] > 500


def test_common_event_unit_accesses_stay_in_c(monkeypatch):
    """The compiled loop hands none of the dispatch program's event-unit or DMA-register accesses,
    nor the workers' region markers, to the reference: it executes only the controller's region
    markers (6; its hooks may read every core). The exit's ecall runs in C too."""
    if binding.load() is None:
        pytest.fail("the compiled engine is not built: run `pip install -e .`")
    image = read_elf(to_elf(assemble(_dispatch_program(), "<eu>")), "<eu>")
    handed = []
    orig = Cluster.issue

    def issue(self, core, t):
        handed.append((core.id, core.hart.fetch_decode(core.hart.pc).instr.mnemonic))
        return orig(self, core, t)
    monkeypatch.setattr(Cluster, "issue", issue)
    result = Cluster(image, load_config(), controller=True, engine="c").run()
    assert result.exit_code == 1 + 101 + 3 * 8 + 7
    assert handed == [(8, "sw")] * 6, handed


@pytest.mark.parametrize("source, controller, expected", [
    # workers wait for an event nobody sends; the controller waits in join
    (".globl _start\n_start:\n la t0, task\n li t1, 3\n fork t1, t0, x0\n join\n li a7, 93\n ecall\n"
     "task:\n wait_event\n ret\n", True,
     ("deadlock", "core 0 waits for an event", "core 8 waits for the dispatched workers to return")),
    # core 0 never reaches the barrier
    (".globl _start\n_start:\n core_id t0\n bnez t0, 1f\n wait_event\n1: barrier\n li a7, 93\n ecall\n", False,
     ("deadlock", "core 1 waits for the barrier", "core 0 waits for an event")),
    # errors the compiled loop leaves to the reference
    (".globl _start\n_start:\n li t1, 3\n sw t1, %d(x0)\n li a7, 93\n ecall\n" % _alias(0x28), True,
     ("program", "fork without an entry address")),
    (".globl _start\n_start:\n li t1, 1\n sw t1, %d(x0)\n barrier\n li a7, 93\n ecall\n" % _alias(0x0C), False,
     ("program", "core 1 reached a barrier it is not part of")),
    (".globl _start\n_start:\n join\n li a7, 93\n ecall\n", False, ("program", "join in SPMD mode")),
    # core 0 takes the mutex twice, core 1 queues behind it
    (".globl _start\n_start:\n mutex_lock\n mutex_lock\n li a7, 93\n ecall\n", False,
     ("deadlock", "core 0 waits for the mutex (held by core 0)", "core 1 waits for the mutex (held by core 0)")),
    (".globl _start\n_start:\n mutex_unlock\n li a7, 93\n ecall\n", False,
     ("program", "released a mutex it does not hold")),
    (".globl _start\n_start:\n wfi\n li a7, 93\n ecall\n", False, ("deadlock", "core 1 waits for an event")),
    (".globl _start\n_start:\n la t0, task\n li t1, 0x100\n fork t1, t0, x0\n li a7, 93\n ecall\ntask: ret\n", True,
     ("program", "does not name workers")),
])
def test_event_unit_errors_and_deadlocks_identical(source, controller, expected):
    """Deadlocks (every core asleep, nothing pending) and the event unit's errors are reported with
    the same message by both engines, naming the cores, what they wait for and where."""
    from mcusim.simulator.functional import SimulationError
    if binding.load() is None:
        pytest.fail("the compiled engine is not built: run `pip install -e .`")
    image = read_elf(to_elf(assemble(source, "<eu>")), "<eu>")
    messages = []
    for engine in ("py", "c"):
        with pytest.raises(SimulationError) as err:
            Cluster(image, load_config(), cores=2, controller=controller, engine=engine).run()
        assert err.value.kind == expected[0]
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    for part in expected[1:]:
        assert part in messages[0], messages[0]


def test_dispatch_trace_identical():
    """--trace of the dispatch program: the event unit's accesses done in C give the reference's lines."""
    import io
    image = read_elf(to_elf(assemble(_dispatch_program(), "<trace>")), "<trace>")
    outs = []
    for engine in ("py", "c"):
        out = io.StringIO()
        Cluster(image, load_config(), controller=True, engine=engine, trace=out).run()
        outs.append(out.getvalue())
    assert outs[0].count("\n") > 500 and outs[0] == outs[1]


def _marks_and_regions(source: str, engine: str, controller: bool, cores: int = 1):
    """Every region hook call as (core, name, begin, instret, events) and the regions' records."""
    image = read_elf(to_elf(assemble(source, "<regions>")), "<regions>")
    cluster = Cluster(image, load_config(), cores=cores, controller=controller, engine=engine)
    calls = []
    cluster.region_hooks.append(lambda core, name, begin: calls.append(
        (core.id, name, begin, core.hart.instret, dict(core.events))))
    result = cluster.run()
    regions = {name: (rec.per_core, rec.spans) for name, rec in result.regions.items()}
    return calls, regions


@pytest.mark.parametrize("capacity", [256, 3])
def test_region_markers_and_hooks_identical(capacity, monkeypatch):
    """The workers' numbered region markers, which eu.c logs and the reference replays when the loop
    returns (with the counters as they were at each marker), give the reference's region records,
    spans and hook calls in the same order; also when the log fills up (a small one here)."""
    from mcusim.simulator.cengine.engine import CEngine
    if binding.load() is None:
        pytest.fail("the compiled engine is not built: run `pip install -e .`")
    monkeypatch.setattr(CEngine, "MARKS_CAPACITY", capacity)
    py = _marks_and_regions(_dispatch_program(), "py", True)
    c = _marks_and_regions(_dispatch_program(), "c", True)
    assert len(py[0]) > 100 and {"task", "work", "round"} <= set(py[1])
    assert py == c


NAMED_AND_NUMBERED = """
    .globl _start
_start:
    la t0, name
    sw t0, %d(x0)               # a named region_begin of "blk"
    li t1, 20
1:  addi t1, t1, -1
    bnez t1, 1b
    region_end blk              # closed by its numbered marker
    region_begin blk
    li t1, 10
2:  addi t1, t1, -1
    bnez t1, 2b
    la t0, name
    sw t0, %d(x0)               # a named region_end
    region_end blk              # not open any more: an error
    li a7, 93
    ecall
    .section .tcdm
name: .string "blk"
""" % (_alias(0xF8), _alias(0xFC))


def test_named_and_numbered_region_markers_mix_identically():
    """A region opened by a named marker and closed by its numbered one (and the other way round)
    is one region for both engines; a numbered region_end of a region no longer open is the same
    error on both, after the same records."""
    from mcusim.simulator.functional import SimulationError
    if binding.load() is None:
        pytest.fail("the compiled engine is not built: run `pip install -e .`")
    image = read_elf(to_elf(assemble(NAMED_AND_NUMBERED, "<regions>")), "<regions>")
    outcomes = []
    for engine in ("py", "c"):
        cluster = Cluster(image, load_config(), cores=2, engine=engine)
        with pytest.raises(SimulationError) as err:
            cluster.run()
        rec = cluster.regions["blk"]
        outcomes.append((str(err.value), rec.per_core, rec.spans))
    assert outcomes[0] == outcomes[1]
    assert "region_end 'blk' without region_begin" in outcomes[0][0]
    assert all(len(spans) == 2 for spans in outcomes[0][2].values())


# --- the cycle loop's pass for a lone due core (one core per cycle under heavy bank conflicts) -------
CONFLICT_PROGRAM = """
    .globl _start
_start:
    core_id s0
    la t4, handler
    csrw mtvec, t4
    la t0, SHARED              # every core on one bank: one core is served per cycle
    addi s1, s0, 3             # cores run different lengths, so they end in different cycles
1:  lw t1, 0(t0)
    sw t1, 64(t0)
    p.lw t2, 128(t0!)
    addi t0, t0, -128
    andi t3, s1, 3
    bnez t3, 2f
    li a0, 1                   # a console write now and then
    la a1, MSG
    li a2, 3
    li a7, 64
    ecall
    ebreak                     # and a trap the handler returns from
2:  addi s1, s1, -1
    bnez s1, 1b
    barrier
    lw t1, 0(t0)
    sw s0, 4(t0)
    li a7, 93
    mv a0, s0
    ecall
handler:
    csrr t5, mepc
    addi t5, t5, 4
    csrw mepc, t5
    mret
    .section .tcdm
    .align 4
SHARED: .fill 64, 4, 0x1234
MSG: .ascii "ab\\n"
"""


@pytest.mark.parametrize("capacity, overrides", [(None, {}), (3, {}), (None, {"icache": {"model": "ideal"}})])
def test_lone_due_core_pass_identical(capacity, overrides, monkeypatch, capsys):
    """Under heavy bank conflicts most cycles have one core due, which the compiled loop issues
    without its round-robin rotation: the cycles, counters, console output and the exit codes of
    cores that exit in different cycles stay the reference's, also when a tiny console or trace
    buffer makes the loop stop and resume in such a cycle; with fetch modelled and ideal."""
    from mcusim.simulator.cengine.engine import CEngine
    if capacity:
        monkeypatch.setattr(CEngine, "CONSOLE_BYTES", capacity)
    results = run_both(CONFLICT_PROGRAM, 8, overrides)
    out = capsys.readouterr().out
    writes = sum((core + 3) // 4 for core in range(8))   # iterations with s1 % 4 == 0, per core
    assert out == "ab\n" * (2 * writes), out            # both engines
    assert_same(results)
    stalls = [core["stalls"]["tcdm_contention"] for core in results[0][0]["cores"][:8]]
    assert min(stalls) > 0, stalls
    if capacity:
        monkeypatch.setattr(CEngine, "TRACE_CAPACITY", capacity)
        py, c = _trace(CONFLICT_PROGRAM, 8, "py"), _trace(CONFLICT_PROGRAM, 8, "c")
        assert py.count("\n") > 300
        assert py == c


@pytest.mark.parametrize("seed, cores", [(20, 2), (21, 2), (22, 4), (23, 5)])
def test_lockstep_passes_identical(seed, cores):
    """Cores running stall-free code issue in every cycle, which the compiled loop runs without its
    timing wheel until an issue leaves a core behind: 2, 4 and 5 cores, whose random programs go in
    and out of lockstep (ALU runs, loads, FPU latency, barriers, DMA), give the reference's results."""
    assert_same(run_both(generate(seed, blocks=25), cores, CONFIGS[seed % len(CONFIGS)]))


# --- the fast window of loads and stores (mcu.h: the TCDM unless code, tohost or a peripheral is in it) --
CODE_IN_TCDM = """
    .section .tcdm, "ax"           # the whole program in the TCDM, pre-decoded there
    .globl _start
_start:
    la t0, SHARED
    sw t0, 0(t0)                   # data next to the code
""" + PATCHING_LOOP + """
    .align 2
SHARED: .word 0, 0
"""
TOHOST_IN_TCDM = """
    .globl _start
_start:
    la t0, SHARED
    sw t0, 0(t0)                   # data next to tohost
    la t0, tohost
    li t1, 9
    sw t1, 0(t0)                   # ends the run: exit code 9 >> 1
    li a7, 93
    ecall
    .section .tcdm
    .align 2
SHARED: .word 0, 0
tohost: .word 0, 0
"""


@pytest.mark.parametrize("source, exit_code", [(CODE_IN_TCDM, 9), (TOHOST_IN_TCDM, 4)])
def test_code_or_tohost_in_tcdm_identical(source, exit_code):
    """Code that rewrites itself, or a tohost word, inside the TCDM: the compiled engine's fast
    window for TCDM accesses must not skip the code or tohost check there (both engines identical)."""
    results = run_both(source, 1)
    assert_same(results)
    assert results[0][0]["exit_code"] == exit_code, results[0][0]["exit_reason"]
