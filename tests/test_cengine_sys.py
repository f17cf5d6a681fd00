"""ecall (exit, console write), ebreak, mret, the trap CSRs and traps into a handler run in the compiled
loop (sem_sys.c, engine.c issue_special): the same output byte for byte, registers, memory, exit codes,
cycles, counters and trace lines as the Python reference, and none of those instructions goes back to
the reference (counted with a wrapper on Cluster.issue, through which every instruction the compiled
loop hands back runs)."""
from __future__ import annotations

import io
import json

import pytest

from mcusim.isa.codec import decode
from mcusim.kernels_asm import assemble, to_elf
from mcusim.simulator.cengine import binding
from mcusim.simulator.cluster import Cluster
from mcusim.simulator.config import load_config
from mcusim.simulator.functional import SimulationError
from mcusim.simulator.loader import read_elf
from mcusim.simulator.report import to_json

SYSTEM = {"ecall", "ebreak", "mret", "csrrw", "csrrs", "csrrc", "csrrwi", "csrrsi", "csrrci"}


def _merge(writes: list[tuple[int, int, bytes]]) -> list[tuple[int, int, bytes]]:
    """Consecutive writes of one core to one fd as one (the compiled engine writes them at once)."""
    out: list[tuple[int, int, bytes]] = []
    for core, fd, data in writes:
        if out and out[-1][:2] == (core, fd):
            out[-1] = (core, fd, out[-1][2] + data)
        elif data:
            out.append((core, fd, data))
    return out


def _run(source: str, engine: str, cores: int = 1, controller: bool = False, overrides: dict | None = None,
         monkeypatch=None, trace: bool = False, shared_console: bool = False):
    """(report, memory, registers, console writes, trace text, instructions the reference issued)."""
    if engine == "c" and binding.load() is None:
        pytest.fail("the compiled engine is not built: run `python simulator/cengine/build.py`")
    image = read_elf(to_elf(assemble(source, "<sys>")), "<sys>")
    out = io.StringIO() if trace else None
    cluster = Cluster(image, load_config(overrides=overrides), cores=cores, controller=controller,
                      engine=engine, trace=out)
    assert cluster.engine_used == engine
    writes: list[tuple[int, int, bytes]] = []
    shared = lambda fd, data: writes.append((-1, fd, bytes(data)))   # noqa: E731
    for c in cluster.cores:      # one writer per core, or one for all (the C loop then merges across cores)
        c.hart.console = shared if shared_console else (
            lambda fd, data, cid=c.id: writes.append((cid, fd, bytes(data))))
    issued: list[str] = []
    if monkeypatch is not None:
        original = Cluster.issue

        def counting(self, core, t):
            pc = core.hart.pc
            d = decode(core.hart.mem.read(pc, 4) if core.hart.mem.read(pc, 2) & 3 == 3
                       else core.hart.mem.read(pc, 2))
            issued.append(d.instr.mnemonic if d is not None else "illegal")
            return original(self, core, t)
        Cluster.issue = counting
    try:
        result = cluster.run()
        error = None
    except SimulationError as exc:
        result, error = cluster.result_after_error(exc), str(exc)
    finally:
        if monkeypatch is not None:
            Cluster.issue = original
    doc = to_json(result, "p")
    doc.pop("engine")
    memory = [bytes(r.data) for r in cluster.memory.regions]
    regs = [(list(c.hart.x), list(c.hart.f), c.hart.pc, c.hart.mstatus, c.hart.mepc, c.hart.mcause,
             c.hart.mtval, c.hart.mtvec, c.hart.mscratch) for c in result.cores]
    return (doc, memory, regs, _merge(writes), out.getvalue() if trace else "", error), issued


def _both(source: str, monkeypatch, **kwargs):
    py, _ = _run(source, "py", **kwargs)
    c, issued = _run(source, "c", monkeypatch=monkeypatch, **kwargs)
    if py[0] != c[0]:
        for key in py[0]:
            assert py[0][key] == c[0][key], f"{key}: py {json.dumps(py[0][key])[:400]} / c {json.dumps(c[0][key])[:400]}"
    assert py[1:] == c[1:]
    return py, issued


# --- console writes --------------------------------------------------------------------------------
CONSOLE = """
    .globl _start
_start:
    core_id s0
    li s1, {n}
    la s2, text
1:  andi t0, s1, 7
    addi a2, t0, 1                 # 1..8 bytes
    add a1, s2, s0                 # core-dependent text
    add a1, a1, t0
    andi a0, s1, 1
    addi a0, a0, 1                 # stdout and stderr alternate
    li a7, 64
    ecall
    add s3, s3, a0                 # the length it returns
    andi t1, s1, 63
    bnez t1, 2f
    li a2, 0                       # an empty write now and then
    li a7, 64
    ecall
    li a2, {big}                   # and a larger one
    la a1, text
    li a0, 1
    li a7, 64
    ecall
2:  addi s1, s1, -1
    bnez s1, 1b
    li t0, 0x10000000
    slli t1, s0, 2
    add t0, t0, t1
    sw s3, 0(t0)
    mv a0, x0
    li a7, 93
    ecall
    .data
text:
    .ascii "The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. "
    .ascii "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ the end of the console text"
"""


@pytest.mark.parametrize("cores,shared", [(1, False), (4, False), (8, False), (8, True)])
def test_console_writes_identical_and_in_c(cores, shared, monkeypatch):
    """Thousands of console writes on several cores (each core its own writer, or one for all): the
    same bytes on the same fds in the same order, the same cycles, and the compiled loop never stops
    for them."""
    source = CONSOLE.format(n=1200 if cores == 1 else 400, big=120)
    (doc, _, _, writes, _, error), issued = _both(source, monkeypatch, cores=cores, shared_console=shared)
    assert error is None and doc["exit_code"] == 0
    assert sum(len(w[2]) for w in writes) > 5000
    assert {fd for _, fd, _ in writes} == {1, 2}
    assert len({core for core, _, _ in writes}) == (1 if shared else cores)
    assert not SYSTEM & set(issued), issued


def test_console_buffer_full_and_oversized_writes(monkeypatch):
    """A small console buffer: it fills up many times (C stops, Python writes it out, C issues the write
    again) and writes larger than the buffer go through the reference: the same output."""
    from mcusim.simulator.cengine.engine import CEngine
    monkeypatch.setattr(CEngine, "CONSOLE_BYTES", 64)
    monkeypatch.setattr(CEngine, "CONSOLE_WRITES", 5)
    source = CONSOLE.format(n=300, big=100)
    (doc, _, _, writes, _, error), issued = _both(source, monkeypatch, cores=3)
    assert error is None
    assert issued.count("ecall") == 3 * 4     # only the writes larger than 64 bytes (s1 = 256, 192, 128, 64)
    assert sum(len(w[2]) for w in writes) > 3000


def test_console_output_from_a_peripheral_or_bad_buffer_matches(monkeypatch):
    """A write whose buffer is unmapped: the reference's load access fault, reported the same way."""
    source = """
    .globl _start
_start:
    li a0, 1
    la a1, msg
    li a2, 5
    li a7, 64
    ecall
    li a0, 2
    li a1, 0x0fffff00              # nothing mapped there
    li a2, 4
    li a7, 64
    ecall
    li a7, 93
    ecall
    .data
msg: .ascii "hello"
"""
    (doc, _, _, writes, _, error), issued = _both(source, monkeypatch)
    assert writes == [(0, 1, b"hello")]
    assert error is not None and "load access fault" in error and "0x0fffff00" in error


def test_console_writes_through_the_default_writer(capfd):
    """The default console (Hart's): the bytes reach the process's stdout and stderr, in order."""
    source = CONSOLE.format(n=40, big=10)
    image = read_elf(to_elf(assemble(source, "<sys>")), "<sys>")
    outputs = []
    for engine in ("py", "c"):
        Cluster(image, load_config(), cores=2, engine=engine).run()
        outputs.append(capfd.readouterr())
    assert outputs[0].out and outputs[0].err
    assert outputs[0] == outputs[1]


# --- traps into a handler and mret -----------------------------------------------------------------
TRAPS = """
    .option rvc
    .globl _start
_start:
    core_id s0
    li s1, 0x10000000
    slli t0, s0, 9
    add s1, s1, t0                 # this core's 128 result words
    la t0, handler
    csrw mtvec, t0
    csrsi mstatus, 8               # MIE: a trap moves it to MPIE, mret brings it back
    csrw mscratch, s1
    li s2, {n}
    mv s3, x0                      # result index
1:  li a7, 1234
    ecall                          # an unknown system call: the environment-call trap
    ebreak
    c.ebreak
    .word 0xffffffff               # an undecodable word: illegal at fetch
    csrr t1, 0x7c0                 # an unknown CSR: illegal
    csrw mhartid, t1               # a write to a read-only CSR: illegal
    li a3, 0x0fffff00              # (the handler uses the t registers)
    lw t3, 0(a3)                   # a load access fault
    sw t3, 0(a3)                   # a store access fault
    lw t3, 2(s1)                   # misaligned: traps with core.misaligned = "trap"
    li a0, 1
    li a1, 0x0fffff00
    li a2, 4
    li a7, 64
    ecall                          # a console write from unmapped memory (the reference traps it)
    csrw minstret, s2              # counter writes run in C too
    csrr t4, minstret
    csrw mcycle, s2
    csrr t5, mcycle
    add s4, s4, t4
    add s4, s4, t5
    addi s2, s2, -1
    bnez s2, 1b
    csrr t0, mstatus
    sw t0, 500(s1)
    sw s4, 504(s1)
    csrr t0, mcause
    sw t0, 508(s1)
    li a0, 0
    li a7, 93
    ecall

    .align 2                           # mtvec's low two bits read as 0
handler:                           # record mcause, mtval, mepc, mstatus; skip the instruction
    csrrw s1, mscratch, s1
    csrr t0, mcause
    csrr t1, mtval
    csrr t2, mepc
    csrr t3, mstatus
    andi t4, s3, 63
    slli t4, t4, 3
    add t4, t4, s1
    sw t0, 0(t4)
    xor t1, t1, t3
    sw t1, 4(t4)
    addi s3, s3, 1
    lhu t5, 0(t2)                  # a compressed instruction is 2 bytes
    andi t5, t5, 3
    li t6, 3
    addi t2, t2, 2
    bne t5, t6, 2f
    addi t2, t2, 2
2:  csrw mepc, t2
    csrrw s1, mscratch, s1
    mret
"""


@pytest.mark.parametrize("cores,misaligned", [(1, "trap"), (3, "split"), (8, "trap")])
def test_traps_into_a_handler_and_mret_identical_and_in_c(cores, misaligned, monkeypatch):
    """A loop that traps in every way a program can (ecall, ebreak, c.ebreak, an undecodable word, CSR
    instructions that are illegal, access faults, a misaligned load) into a handler that returns with
    mret: identical on both engines, and the compiled loop takes every trap and mret itself (the
    console write from unmapped memory is the one instruction the reference runs)."""
    assert decode(0xFFFFFFFF) is None
    n = 30
    (doc, memory, regs, _, _, error), issued = _both(TRAPS.format(n=n), monkeypatch, cores=cores,
                                                      overrides={"core": {"misaligned": misaligned}})
    assert error is None and doc["exit_code"] == 0
    traps = (10 if misaligned == "trap" else 9) * n
    for core in doc["cores"][:cores]:
        assert core["stalls"]["trap"] == traps * 2      # entering the handler costs a jal (2 cycles)
    assert all(regs[i][5] == 5 for i in range(cores))  # the last trap: the console write's load fault
    assert sorted(issued) == ["ecall"] * (n * cores), issued[:20]     # that console write only


def test_traps_without_a_handler_report_the_same_error(monkeypatch):
    """Without mtvec the trap is the reference's one-line error, also after C ran the program so far."""
    for body in ("ebreak", ".word 0xffffffff", "csrr t1, 0x7c0", "li a7, 5\n    ecall"):
        source = f"""
    .globl _start
_start:
    li t0, 100
1:  addi t0, t0, -1
    bnez t0, 1b
    {body}
    li a7, 93
    ecall
"""
        (doc, _, _, _, _, error), issued = _both(source, monkeypatch, cores=2)
        assert error is not None and "core 0" in error, error


# --- exits -------------------------------------------------------------------------------------------
EXITS = """
    .globl _start
_start:
    core_id s0
    addi t0, s0, 1
    li t1, {scale}
    mul t0, t0, t1                 # each core its own run length
1:  addi t0, t0, -1
    bnez t0, 1b
    li a0, 1
    li a7, 64
    la a1, msg
    add a1, a1, s0
    li a2, 1
    ecall
    {barrier}
    sub a0, x0, s0                 # exit codes 0, -1, -2, ...
    li a7, 93
    ecall
    .data
msg: .ascii "abcdefgh"
"""


@pytest.mark.parametrize("cores,barrier", [(8, ""), (5, ""), (8, "barrier")])
def test_exits_of_several_cores_identical_and_in_c(cores, barrier, monkeypatch):
    """Cores that exit at different cycles (and, with a barrier, release each other): the same exit
    code, reason, per-core end cycles and counters; the exits run in C."""
    (doc, _, _, writes, _, error), issued = _both(EXITS.format(scale=37, barrier=barrier), monkeypatch,
                                                  cores=cores)
    assert error is None
    assert doc["exit_code"] == -1            # the first core's nonzero code (core 1)
    assert b"".join(w[2] for w in writes) == b"abcdefgh"[:cores]
    assert "ecall" not in issued, issued


def test_controller_exit_in_c(monkeypatch):
    """The controller's exit ends a controller-mode run (the reference's accounting after C returns)."""
    source = """
    .globl _start
_start:
    li t0, 50
1:  addi t0, t0, -1
    bnez t0, 1b
    li a0, 7
    li a7, 93
    ecall
"""
    (doc, _, _, _, _, error), issued = _both(source, monkeypatch, controller=True)
    assert error is None and doc["exit_code"] == 7
    assert issued == []


def test_trace_identical_with_console_traps_and_exits():
    """--trace lines of console writes (their last byte loaded), trapping loops and exits are the
    reference's, in the same order."""
    for source, kwargs in ((TRAPS.format(n=3), {"cores": 3, "overrides": {"core": {"misaligned": "trap"}}}),
                           (CONSOLE.format(n=70, big=20), {"cores": 2}),
                           (EXITS.format(scale=5, barrier="barrier"), {"cores": 4})):
        py, _ = _run(source, "py", trace=True, **kwargs)
        c, _ = _run(source, "c", trace=True, **kwargs)
        assert py[4].count("\n") > 50
        assert py[4] == c[4]


def test_system_ops_have_c_semantics():
    """ecall, ebreak (and c.ebreak, its expansion) and mret are sem_sys.c's; wfi is the event unit's."""
    from mcusim.isa.spec import INSTRUCTIONS
    from mcusim.simulator.cengine.opgen import OP_INDEX
    if binding.load() is None:
        pytest.fail("the compiled engine is not built")
    by_name = {e.mnemonic: binding.SEM_FILE[OP_INDEX[id(e)]] for e in INSTRUCTIONS}
    assert by_name["ecall"] == by_name["ebreak"] == by_name["mret"] == 3


# --- the RI5CY performance counters ------------------------------------------------------------------
def _perf_program(mode: int, n: int) -> str:
    reads = [f"pccr{i}" for i in range(16)] + ["pccr31", "pcer", "pcmr"]
    loop_reads = "\n".join(f"    csrr a0, {r}\n    xor s4, s4, a0\n    add s4, s4, a0" for r in reads)
    final = "\n".join(f"    csrr a0, {r}\n    sw a0, {4 * k}(s1)" for k, r in enumerate(reads))
    return f"""
    .globl _start
_start:
    core_id s0
    li s1, 0x10000000
    slli t0, s0, 8
    add s1, s1, t0                 # this core's 64 result words
    li t0, -1
    csrw pcer, t0                  # every event (bits beyond the 16 events read as 0)
    csrwi pcmr, {mode}             # 1: counting, 3: saturating
    li t1, 0xFFFFFF00
    csrw pccr1, t1                 # instructions, near the top: wraps or saturates
    li s2, {n}
    la s3, shared
    la s5, l2data
1:  lw t2, 0(s3)                   # every core on one bank: contention
    addi t2, t2, 1                 # load-use
    sw t2, 4(s3)
    lw t4, 0(s5)                   # L2 accesses
    sw t4, 4(s5)
    la t5, 2f
    jalr x0, 0(t5)                 # a jump on a register written just before: jr
2:  beq s2, x0, 3f                 # a branch not taken
3:
{loop_reads}
    csrr t6, pccr15                # right after a contended load: its operand wait is pending
    lw t2, 0(s3)
    csrr t6, pccr2
    add s4, s4, t6
    addi s2, s2, -1
    bnez s2, 1b
{final}
    csrw minstret, x0              # a source falls below the last synchronisation
    csrr a0, pccr1
    sw a0, 100(s1)
    csrw pccr31, s4                # every counter
    csrr a0, pccr4
    sw a0, 104(s1)
    sw s4, 108(s1)
    li a0, 0
    li a7, 93
    ecall
    .section .tcdm
shared: .word 1, 2
    .data
l2data: .word 3, 4
"""


@pytest.mark.parametrize("mode,cores", [(1, 1), (1, 8), (3, 4)])
def test_performance_counters_identical_and_in_c(mode, cores, monkeypatch):
    """PCER, PCMR and the PCCR counters (synchronised from the timing model's counters at every access,
    counting or saturating, written one by one or all at once through pccr31): the reference's values,
    read in a loop with loads, stores, L2 accesses, contention, jumps and branches around, and none of
    these CSR instructions leaves the compiled loop."""
    (doc, memory, regs, _, _, error), issued = _both(_perf_program(mode, 25), monkeypatch, cores=cores)
    assert error is None
    assert issued == [], issued[:10]
    words = [int.from_bytes(memory[0][k:k + 4], "little") for k in range(0, 112, 4)]
    assert words[0] > 1000 and words[5] >= 25 and words[17] == 0xFFFF and words[18] == mode


def test_profile_identical_with_console_traps_exits_and_counters():
    """--profile on the compiled engine (its instrumented loop) with console writes, trap loops, exits
    and performance-counter reads: the reference's per-instruction counts, cycles and stalls."""
    if binding.load() is None:
        pytest.fail("the compiled engine is not built")
    cases = ((TRAPS.format(n=4), 3, {"core": {"misaligned": "trap"}}), (CONSOLE.format(n=90, big=20), 2, None),
             (EXITS.format(scale=5, barrier="barrier"), 4, None), (_perf_program(1, 4), 3, None))
    for source, cores, overrides in cases:
        image = read_elf(to_elf(assemble(source, "<sys>")), "<sys>")
        profiles = []
        for engine in ("py", "c"):
            cluster = Cluster(image, load_config(overrides=overrides), cores=cores, engine=engine, profile=True)
            for c in cluster.cores:
                c.hart.console = lambda fd, data: None
            result = cluster.run()
            assert result.engine == engine
            profiles.append(result.profile)
        py, c = profiles
        assert dict(py) == dict(c) and py.per_core == c.per_core and py.stalls == c.stalls
        assert py.sleeps == c.sleeps
        assert len(dict(py)) > 10


TOHOST = """
    .globl _start
_start:
    core_id s0
    la s1, tohost
    sb x0, 0(s1)                   # zero: a plain store, the program goes on
    addi t0, s0, 1
    li t1, 23
    mul t0, t0, t1
1:  addi t0, t0, -1
    bnez t0, 1b
    li t2, {value}
    {store}
    li a7, 93                      # not reached by the core that stores first
    ecall
    .data
    .align 2
tohost: .word 0, 0
"""


@pytest.mark.parametrize("value,store,cores", [(1, "sw t2, 0(s1)", 1), (7, "p.sw t2, 4(s1!)", 4),
                                               (0x2001, "sh t2, 0(s1)", 8)])
def test_tohost_exit_identical_and_in_c(value, store, cores, monkeypatch):
    """A nonzero store to tohost ends the run (pass, or the failing test's number) on the core that
    stores first: the same exit code, reason, cycles and memory on both engines, done in C."""
    (doc, memory, _, _, trace, error), issued = _both(TOHOST.format(value=value, store=store), monkeypatch,
                                                      cores=cores, trace=True)
    assert error is None
    assert doc["exit_code"] == (0 if value == 1 else min(max(value >> 1, 1), 255))
    assert "tohost" in doc["exit_reason"]
    assert issued == [], issued
    assert trace.count("st[") >= cores
