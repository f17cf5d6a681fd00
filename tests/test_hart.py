"""The reference interpreter's machinery: traps through mtvec, mret, CSRs, exits, tohost,
self-modifying code, hardware-loop CSRs, console output. Programs are built with the encoder
directly, so these tests do not depend on the assembler."""
import pytest

from mcusim.isa.codec import encode, entries
from mcusim.simulator.functional import SimulationError, run_functional
from mcusim.simulator.hart import Hart, ProgramExit, Trap
from mcusim.simulator.loader import Image, Segment, build_memory

BASE = 0x1C00_0000


def enc(mnemonic: str, **values) -> int:
    return encode(entries(mnemonic)[0], values)


def image(words: list[int], symbols: dict[str, int] | None = None) -> Image:
    data = b"".join(w.to_bytes(4, "little") for w in words)
    return Image(BASE, [Segment(BASE, data, len(data), True)], symbols or {})


def exit_with(reg: int) -> list[int]:
    return [enc("addi", rd=17, rs1=0, imm12=93), enc("addi", rd=10, rs1=reg, imm12=0), enc("ecall")]


def test_exit_code_from_ecall():
    prog = [enc("addi", rd=5, rs1=0, imm12=42)] + exit_with(5)
    result = run_functional(image(prog))
    assert result.exit_code == 42
    assert result.instret == 4          # the exit ecall retires too


def test_unhandled_illegal_instruction_reports_core_pc_and_word():
    with pytest.raises(SimulationError) as err:
        run_functional(image([enc("addi", rd=1, rs1=0, imm12=1), 0xFFFF_FFFF]))
    msg = str(err.value)
    assert "core 0" in msg and "illegal instruction" in msg and f"{BASE + 4:#010x}" in msg
    assert "0xffffffff" in msg


def test_misaligned_load_reports_address():
    prog = [enc("addi", rd=1, rs1=0, imm12=0), enc("lui", rd=1, uimm20=BASE >> 12),
            enc("lw", rd=2, rs1=1, imm12=2)]
    with pytest.raises(SimulationError) as err:
        run_functional(image(prog))
    assert "misaligned load" in str(err.value) and f"{BASE + 2:#010x}" in str(err.value)


def test_misaligned_load_split_mode_reads_bytes():
    prog = [enc("lui", rd=1, uimm20=BASE >> 12), enc("lw", rd=2, rs1=1, imm12=1)] + exit_with(2)
    result = run_functional(image(prog), misaligned_traps=False)
    raw = b"".join(w.to_bytes(4, "little") for w in prog)
    assert result.exit_code == int.from_bytes(raw[1:5], "little")


def test_trap_goes_through_mtvec_and_mret_returns():
    # handler at BASE+0x40: mcause -> x6, mepc += 4, mret
    prog = [0] * 32
    prog[0] = enc("lui", rd=1, uimm20=BASE >> 12)
    prog[1] = enc("addi", rd=1, rs1=1, imm12=0x40)
    prog[2] = enc("csrrw", rd=0, csr=0x305, rs1=1)       # mtvec = handler
    prog[3] = enc("ebreak")
    prog[4:7] = exit_with(6)                               # after the handler: exit(mcause)
    prog[16] = enc("csrrs", rd=6, csr=0x342, rs1=0)       # x6 = mcause
    prog[17] = enc("csrrs", rd=7, csr=0x341, rs1=0)       # x7 = mepc
    prog[18] = enc("addi", rd=7, rs1=7, imm12=4)
    prog[19] = enc("csrrw", rd=0, csr=0x341, rs1=7)
    prog[20] = enc("mret")
    result = run_functional(image(prog))
    assert result.exit_code == 3                            # breakpoint
    assert result.hart.mepc == BASE + 16                    # ebreak at +12, handler added 4


def test_tohost_pass_and_fail():
    tohost = BASE + 0x100
    words = [enc("lui", rd=1, uimm20=BASE >> 12), enc("addi", rd=2, rs1=0, imm12=1),
             enc("sw", rs2=2, rs1=1, simm12=0x100)] + [0] * 64
    assert run_functional(image(words, {"tohost": tohost})).exit_code == 0
    words[1] = enc("addi", rd=2, rs1=0, imm12=(5 << 1) | 1)
    result = run_functional(image(words, {"tohost": tohost}))
    assert result.exit_code == 5 and "test 5" in result.reason


def test_max_cycles_and_self_loop_detection():
    loop = [enc("addi", rd=1, rs1=1, imm12=1), enc("jal", rd=0, jimm20=-4)]
    with pytest.raises(SimulationError) as err:
        run_functional(image(loop), max_cycles=1000)
    assert err.value.kind == "max-cycles" and "1000 cycles" in str(err.value)
    with pytest.raises(SimulationError) as err:
        run_functional(image([enc("jal", rd=0, jimm20=0)]))
    assert err.value.kind == "hang"


def test_self_modifying_code_is_seen():
    # overwrite the instruction at +12 (addi x5, x0, 1) with addi x5, x0, 7, then execute it
    new = enc("addi", rd=5, rs1=0, imm12=7)
    prog = [enc("lui", rd=1, uimm20=BASE >> 12),
            enc("lui", rd=2, uimm20=(new + 0x800) >> 12),
            enc("addi", rd=2, rs1=2, imm12=((new & 0xFFF) ^ 0x800) - 0x800),
            enc("sw", rs2=2, rs1=1, simm12=20),
            enc("fence.i"),
            enc("addi", rd=5, rs1=0, imm12=1)] + exit_with(5)
    assert run_functional(image(prog)).exit_code == 7


def test_csr_rules():
    mem = build_memory(image([0]))
    h = Hart(mem, hart_id=3)
    assert h.csr_access(0xF14, None) == 3                   # mhartid
    with pytest.raises(Trap):
        h.csr_access(0xF14, 1)                              # read-only
    with pytest.raises(Trap):
        h.csr_access(0x7FF, None)                           # unknown
    h.csr_access(0x003, 0xFF)                               # fcsr
    assert (h.frm, h.fflags) == (7, 0x1F)
    assert h.csr_access(0x002, None) == 7
    h.csr_access(0x7B2, 9)
    assert h.hwloop_count[0] == 9
    h.csr_access(0xCC1, 1)
    h.csr_access(0xCC0, 1 << 5)                             # PCMR / PCER keep what is written
    assert (h.pcmr, h.pcer) == (1, 1 << 5)


def test_reserved_rounding_mode_traps():
    h = Hart(build_memory(image([0])))
    h.frm = 5
    with pytest.raises(Trap) as err:
        h.rounding(7)
    assert err.value.cause == 2
    assert h.rounding(1) == 1


def test_write_syscall_reaches_console():
    out: list[tuple[int, bytes]] = []
    msg = b"hi\n\0"
    prog = [enc("lui", rd=11, uimm20=BASE >> 12), enc("addi", rd=11, rs1=11, imm12=0x40),
            enc("addi", rd=10, rs1=0, imm12=1), enc("addi", rd=12, rs1=0, imm12=3),
            enc("addi", rd=17, rs1=0, imm12=64), enc("ecall"), enc("addi", rd=5, rs1=10, imm12=0)]
    prog += exit_with(5)
    prog += [0] * (16 - len(prog)) + [int.from_bytes(msg, "little")]
    mem = build_memory(image(prog))
    h = Hart(mem)
    h.pc = BASE
    h.console = lambda fd, data: out.append((fd, data))
    with pytest.raises(ProgramExit) as done:
        for _ in range(100):
            h.step()
    assert out == [(1, b"hi\n")] and done.value.code == 3
