"""Calibration: the marginal cost of each timing rule (docs/TIMING.md), measured as
(cycles for 256 repetitions - cycles for 128) / 128 on the cluster model, matched exactly."""
import pytest

from tests.cluster_helpers import IDEAL_FETCH, marginal_cycles, run_asm

NOP = 1  # the loop's trailing nop


def test_alu_is_one_cycle():
    assert marginal_cycles("addi a0, a0, 1\n xor a1, a1, a0\n slli a2, a1, 3") == 3 + NOP


def test_load_and_store_one_cycle_without_conflict():
    setup = "la s0, buf"
    assert marginal_cycles("lw a0, 0(s0)\n sw a1, 4(s0)\n lw a2, 8(s0)", setup, "buf: .space 64") == 3 + NOP


def test_load_use_stall():
    setup = "la s0, buf"
    # the add uses a0 right after the load: one stall cycle
    assert marginal_cycles("lw a0, 0(s0)\n add a1, a0, a0", setup, "buf: .space 64") == 2 + 1 + NOP
    # one independent instruction in between hides it
    assert marginal_cycles("lw a0, 0(s0)\n addi a2, a2, 1\n add a1, a0, a0", setup, "buf: .space 64") == 3 + NOP


def test_post_increment_load_costs_like_a_plain_load():
    setup = "la s0, buf"
    body = "p.lw a0, 4(s0!)\n addi s0, s0, -4\n nop"
    assert marginal_cycles(body, setup, "buf: .space 64") == 3 + NOP


def test_taken_branch_3_not_taken_1():
    assert marginal_cycles("beq x0, x0, 1f\n1: nop") == 3 + 1 + NOP
    assert marginal_cycles("bne x0, x0, 1f\n1: nop") == 1 + 1 + NOP


def test_jal_2_jalr_2_and_jalr_dependency():
    assert marginal_cycles("jal x0, 1f\n1: nop") == 2 + 1 + NOP
    setup = "la s1, target"
    body = "jalr x0, 0(s1)\ntarget: nop"
    assert marginal_cycles(body, setup) == 2 + 1 + NOP
    body = "mv s2, s1\n jalr x0, 0(s2)\ntarget: nop"
    assert marginal_cycles(body, setup) == 1 + 2 + 1 + 1 + NOP


def test_mul_1_mulh_5():
    assert marginal_cycles("mul a0, a1, a2\n p.mac a3, a1, a2") == 2 + NOP
    assert marginal_cycles("mulh a0, a1, a2") == 5 + NOP
    assert marginal_cycles("mulhu a0, a1, a2") == 5 + NOP


@pytest.mark.parametrize("divisor, cycles", [(0x9876, 19), (1, 34), (0x40000000, 4), (0, 35)])
def test_divide_latency_depends_on_divisor(divisor, cycles):
    setup = f"li a2, {divisor}\n li a1, 1000"
    assert marginal_cycles("divu a0, a1, a2", setup) == cycles + NOP
    assert marginal_cycles("rem a0, a1, a2", setup) == cycles + NOP


def test_misaligned_word_access_takes_two_cycles_when_split():
    """Split is the default (RI5CY's hardware behaviour); stated explicitly it is the same."""
    setup = "la s0, buf"
    body = "lw a0, 2(s0)\n nop"
    assert marginal_cycles(body, setup, ".align 4\nbuf: .space 64") == 2 + 1 + NOP
    assert marginal_cycles(body, setup, ".align 4\nbuf: .space 64", core={"misaligned": "split"}) == 2 + 1 + NOP


def test_misaligned_trap_is_the_checking_option():
    from mcusim.simulator.functional import SimulationError
    with pytest.raises(SimulationError, match=r"misaligned load at pc 0x[0-9a-f]+: lw a0,2\(s0\)"):
        marginal_cycles("lw a0, 2(s0)\n nop", "la s0, buf", ".align 4\nbuf: .space 64", core={"misaligned": "trap"})


def test_l2_access_latency():
    # data in the default .data section lives in L2
    setup = "la s0, buf"
    assert marginal_cycles("lw a0, 0(s0)\n nop", setup, "buf: .word 0", ".data") == 15 + 1 + NOP
    assert marginal_cycles("lw a0, 0(s0)\n nop", setup, "buf: .word 0", ".data", l2={"latency": 40}) == 40 + 1 + NOP


def test_fpu_latency_stalls_a_dependent_instruction():
    setup = "li a0, 0x3f800000\n fmv.w.x fa0, a0\n fmv.w.x fa1, a0"
    assert marginal_cycles("fadd.s fa2, fa0, fa1\n fadd.s fa3, fa0, fa1", setup) == 2 + NOP
    assert marginal_cycles("fadd.s fa2, fa0, fa1\n fadd.s fa3, fa2, fa1", setup) == 2 + 1 + NOP
    # a chain through fa2: the next fmadd waits for the result; the nop hides in the shadow
    assert marginal_cycles("fmadd.s fa2, fa0, fa1, fa2", setup, fpu={"latency_fma": 3}) == 1 + 3


def test_fp_divide_and_sqrt_block():
    setup = "li a0, 0x3f800000\n fmv.w.x fa0, a0\n fmv.w.x fa1, a0"
    assert marginal_cycles("fdiv.s fa2, fa0, fa1", setup) == 14 + NOP
    assert marginal_cycles("fsqrt.s fa2, fa0", setup) == 14 + NOP
    assert marginal_cycles("fdiv.h fa2, fa0, fa1", setup) == 10 + NOP
    assert marginal_cycles("fdiv.s fa2, fa0, fa1", setup, fpu={"fdiv32": 7}) == 7 + NOP


def test_hardware_loop_has_no_overhead():
    one = run_asm("""
    .globl _start
_start:
    li t0, 100
    lp.setup x0, t0, 1f
    addi a0, a0, 1
1:  addi a1, a1, 1
    li a7, 93
    li a0, 0
    ecall""", icache=IDEAL_FETCH)
    assert one.cores[0].stalls["branch"] == 0 and one.cores[0].stalls["jump"] == 0
    assert one.cycles == one.instret
