"""Multi-core behaviour: bank conflicts, round-robin fairness, shared FPUs, barriers, fork/join,
DMA bandwidth and overlap, deadlock and runaway detection, determinism, counters."""
import json

import pytest

from mcusim.simulator.functional import SimulationError
from mcusim.simulator.report import to_json
from tests.cluster_helpers import IDEAL_FETCH, marginal_cycles, run_asm

# Each core's s0 points into the TCDM; `stride` bytes apart per core id.
TCDM_SETUP = """
    core_id t0
    li s0, 0x10000000
    li t1, {stride}
    mul t1, t1, t0
    add s0, s0, t1
"""


def test_eight_cores_on_one_bank_serialise_8_way():
    body = "lw a0, 0(s0)\n lw a1, 0(s0)\n lw a2, 0(s0)"
    # ideal fetch: bank timing alone (8 cores refilling the same code lines would add a fraction of a
    # cycle per iteration to the marginal cost)
    alone = marginal_cycles(body, TCDM_SETUP.format(stride=0), cores=1, icache=IDEAL_FETCH)
    shared = marginal_cycles(body, TCDM_SETUP.format(stride=0), cores=8, icache=IDEAL_FETCH)
    assert alone == 3 + 1
    # 8 cores x 3 accesses per iteration on one bank: the bank is the bottleneck
    assert shared == 8 * 3


def test_eight_cores_on_eight_banks_do_not_stall():
    body = "lw a0, 0(s0)\n lw a1, 0(s0)\n lw a2, 0(s0)"
    result = run_asm(_loop(body, 200, TCDM_SETUP.format(stride=4)), cores=8)
    assert all(c.stalls["tcdm_contention"] == 0 for c in result.cores[:8])
    assert marginal_cycles(body, TCDM_SETUP.format(stride=4), cores=8) == 3 + 1


def test_round_robin_is_fair():
    body = "lw a0, 0(s0)\n lw a1, 0(s0)\n lw a2, 0(s0)"
    result = run_asm(_loop(body, 400, TCDM_SETUP.format(stride=64)), cores=8)   # stride 64 B = same bank
    stalls = [c.stalls["tcdm_contention"] for c in result.cores[:8]]
    assert min(stalls) > 0
    assert max(stalls) - min(stalls) <= 0.02 * max(stalls)


def test_shared_fpu_contention():
    setup = "li a0, 0x3f800000\n fmv.w.x fa0, a0"
    body = "fadd.s fa1, fa0, fa0\n fadd.s fa2, fa0, fa0\n fadd.s fa3, fa0, fa0"
    private = run_asm(_loop(body, 100, setup), cores=8)
    assert all(c.stalls["fpu_contention"] == 0 for c in private.cores[:8])
    # 8 cores on 2 FPUs: 4 cores x 3 ops per iteration on one FPU that takes one op per cycle
    assert marginal_cycles(body, setup, cores=8, fpu={"count": 2}) == 4 * 3
    shared = run_asm(_loop(body, 100, setup), cores=8, fpu={"count": 2})
    assert all(c.stalls["fpu_contention"] > 0 for c in shared.cores[:8])


def test_barrier_latency():
    # all 8 cores arrive together: barrier (1) + wake-up latency (8) + nop
    assert marginal_cycles("barrier\n nop", cores=8) == 1 + 8 + 1 + 1
    assert marginal_cycles("barrier\n nop", cores=8, event_unit={"barrier_wakeup": 2}) == 1 + 2 + 1 + 1


def test_barrier_waits_for_the_slowest_core():
    src = """
    .globl _start
_start:
    core_id t0
    li t1, 0
    bnez t0, 2f
    li t2, 500                  # core 0 works 500 iterations longer
1:  addi t2, t2, -1
    bnez t2, 1b
2:  barrier
    rdcycle a0
    li a7, 93
    li a0, 0
    ecall
"""
    r = run_asm(src, cores=4)
    waits = [c.stalls["barrier"] for c in r.cores[:4]]
    assert waits[0] < 20 and all(w > 1000 for w in waits[1:])
    ends = {c.end_cycle for c in r.cores[:4]}
    assert len(ends) == 1      # everybody leaves the barrier together and exits in lockstep


def test_fork_join_controller_mode():
    src = """
    .globl _start
_start:                         # runs on the controller (core 8)
    la t0, task
    li t1, 0xff                 # all 8 workers
    la t2, results
    fork t1, t0, t2
    join
    la t2, results
    li a0, 0
    li t3, 8
1:  lw t4, 0(t2)
    add a0, a0, t4
    addi t2, t2, 4
    addi t3, t3, -1
    bnez t3, 1b
    li a7, 93
    ecall                       # exit(sum of core ids + 1) = 36
task:                           # a0 = results
    core_id t0
    slli t1, t0, 2
    add t1, t1, a0
    addi t0, t0, 1
    sw t0, 0(t1)
    ret
    .section .tcdm
results: .space 32
"""
    r = run_asm(src, controller=True)
    assert r.exit_code == 36
    assert all(c.hart.instret == 6 for c in r.cores[:8])


def test_dma_bandwidth_and_overlap_with_compute():
    base = """
    .globl _start
_start:
    la t0, src
    li t1, 0x10000000
    li t2, 4096
    dma_copy t1, t0, t2
{work}
    dma_wait
    li t1, 0x10000ffc
    lw a0, 0(t1)
    li a7, 93
    ecall
    .data
src: .space 4092
     .word 77
"""
    # ideal fetch: the bounds are the DMA's timing alone (the code's cold refills would add to the wait)
    just_wait = run_asm(base.format(work=""), icache=IDEAL_FETCH)
    assert just_wait.exit_code == 77
    # set-up latency 20 + 4096 B / 8 B per cycle + event wake-up 2
    assert 20 + 512 <= just_wait.cycles <= 20 + 512 + 20
    work = "    li t3, 300\n1:  addi t3, t3, -1\n    bnez t3, 1b"
    overlapped = run_asm(base.format(work=work), icache=IDEAL_FETCH)
    compute_only = 300 * 4   # addi + taken bnez (3)
    assert overlapped.cycles < just_wait.cycles + compute_only - 400   # mostly hidden
    slow = run_asm(base.format(work=""), dma={"bandwidth": 4}, icache=IDEAL_FETCH)
    assert slow.cycles - just_wait.cycles == 512


def test_dma_takes_tcdm_bank_slots():
    src = """
    .globl _start
_start:
    la t0, src
    li t1, 0x10000000
    li t2, 8192
    dma_copy t1, t0, t2
    li s0, 0x10000000
    li t3, 400
1:  lw a0, 0(s0)
    addi t3, t3, -1
    bnez t3, 1b
    dma_wait
    li a7, 93
    li a0, 0
    ecall
    .data
src: .space 8192
"""
    r = run_asm(src)
    # the waits for banks the DMA holds are counted apart from the cores' own contention
    assert r.cores[0].stalls["dma_bank"] > 0 and r.cores[0].stalls["tcdm_contention"] == 0


def test_deadlock_is_reported():
    with pytest.raises(SimulationError) as err:
        run_asm(".globl _start\n_start:\n wait_event\n li a7, 93\n ecall")
    msg = str(err.value)
    assert err.value.kind == "deadlock" and "core 0" in msg and "event" in msg


def test_barrier_deadlock_names_the_waiting_cores():
    src = """
    .globl _start
_start:
    core_id t0
    bnez t0, 1f
    wait_event                  # core 0 never reaches the barrier
1:  barrier
    li a7, 93
    ecall
"""
    with pytest.raises(SimulationError) as err:
        run_asm(src, cores=3)
    msg = str(err.value)
    assert "core 1 waits for the barrier" in msg and "core 2 waits for the barrier" in msg


def test_runaway_program_hits_max_cycles():
    with pytest.raises(SimulationError) as err:
        run_asm(".globl _start\n_start:\n1: addi a0, a0, 1\n j 1b", max_cycles=5000)
    assert err.value.kind == "max-cycles" and "5000" in str(err.value)


def test_same_program_same_cycles():
    body = "lw a0, 0(s0)\n fadd.s fa0, fa1, fa2\n sw a0, 4(s0)"
    src = _loop(body, 300, TCDM_SETUP.format(stride=8))
    docs = [json.dumps(to_json(run_asm(src, cores=8, fpu={"count": 3}), "p")) for _ in range(3)]
    assert docs[0] == docs[1] == docs[2]


def test_regions_and_counters():
    src = """
    .globl _start
_start:
    region_begin compute
    li t0, 10
1:  addi t0, t0, -1
    bnez t0, 1b
    region_end compute
    li a7, 93
    li a0, 0
    ecall
"""
    r = run_asm(src, cores=2, icache=IDEAL_FETCH)     # the region's cycles counted instruction by instruction
    doc = to_json(r, "p")
    region = doc["regions"][0]
    assert region["name"] == "compute" and len(region["per_core"]) == 2
    # li (1) + 10 x addi (1) + 9 taken branches (3) + 1 not taken (1) + region_end (1)
    assert region["cycles"] == 1 + 10 + 27 + 1 + 1


def test_performance_counter_csrs():
    src = """
    .globl _start
_start:
    li t0, 1 << 5               # PCER: count loads
    csrw 0xcc0, t0
    csrw 0xcc1, 1               # PCMR: enable
    csrw 0x79f, zero            # reset every counter
    la s0, buf
    lw a1, 0(s0)
    lw a1, 0(s0)
    lw a1, 0(s0)
    csrr a0, 0x785              # loads counted so far
    rdcycle a2
    li a7, 93
    ecall
    .section .tcdm
buf: .word 0
"""
    assert run_asm(src).exit_code == 3


def _loop(body: str, count: int, setup: str) -> str:
    from tests.cluster_helpers import loop_program
    return loop_program(body, count, setup)


def test_dma_2d_transfer_gathers_a_strided_block():
    src = """
    .globl _start
_start:
    la t0, matrix              # 4 rows of 16 bytes; copy 8 bytes of each row
    li t1, 0x10000000
    li a1, 16                  # source stride
    li a2, 8                   # destination stride (packed)
    li a3, 4                   # rows
    dma_2d a1, a2, a3
    li t2, 8
    dma_copy_2d t1, t0, t2
    dma_wait
    li t1, 0x10000000
    lw a0, 24(t1)              # row 3, first word: 0x33333333
    li t3, 0x33333333
    sub a0, a0, t3
    lw t4, 8(t1)               # row 1, first word
    li t3, 0x11111111
    sub t4, t4, t3
    or a0, a0, t4
    li a7, 93
    ecall
    .data
matrix:
    .word 0x00000000, 0x00000000, 0xdeadbeef, 0xdeadbeef
    .word 0x11111111, 0x11111111, 0xdeadbeef, 0xdeadbeef
    .word 0x22222222, 0x22222222, 0xdeadbeef, 0xdeadbeef
    .word 0x33333333, 0x33333333, 0xdeadbeef, 0xdeadbeef
"""
    assert run_asm(src).exit_code == 0


def test_mutex_serialises_a_critical_section():
    src = """
    .globl _start
_start:
    la s0, counter
    li t2, 20
1:  mutex_lock
    lw t0, 0(s0)
    addi t0, t0, 1
    sw t0, 0(s0)
    mutex_unlock
    addi t2, t2, -1
    bnez t2, 1b
    barrier
    lw a0, 0(s0)
    li a7, 93
    ecall
    .section .tcdm
counter: .word 0
"""
    r = run_asm(src, cores=4)
    assert r.exit_code == 80
    assert sum(c.stalls["sleep"] for c in r.cores[:4]) > 0      # cores waited for the mutex


def test_send_event_wakes_a_sleeping_core():
    src = """
    .globl _start
_start:
    core_id t0
    bnez t0, 1f
    li t1, 300                 # core 0 works, then wakes core 1
2:  addi t1, t1, -1
    bnez t1, 2b
    li t2, 2
    send_event t2
    li a0, 0
    li a7, 93
    ecall
1:  wfi                        # core 1 sleeps until the event
    li a0, 0
    li a7, 93
    ecall
"""
    r = run_asm(src, cores=2)
    assert r.cores[1].stalls["sleep"] > 1000
    assert r.cores[1].end_cycle > r.cores[0].end_cycle - 5
