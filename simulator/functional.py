"""Running a program on one core with the reference interpreter (functional: one cycle per
instruction, no pipeline or memory timing). The cluster model (issue 3) builds on the same Hart."""
from __future__ import annotations

from dataclasses import dataclass

from mcusim.isa.disasm import format_decoded
from mcusim.isa.spec import CUSTOM_ISAS, DEFAULT_ISA
from mcusim.simulator.hart import CAUSE_ILLEGAL, CAUSE_NAMES, Hart, ProgramExit, Trap
from mcusim.simulator.loader import Image, build_memory

DEFAULT_MAX_CYCLES = 10_000_000


class SimulationError(Exception):
    """The simulated program went wrong (unhandled trap, hang, cycle limit): a one-line report."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind   # "trap", "hang", "max-cycles"


@dataclass
class RunResult:
    exit_code: int
    reason: str
    cycles: int
    instret: int
    hart: Hart


def describe_instruction(hart: Hart, pc: int) -> str:
    """`pc 0x...: <disassembly>` for error messages; tolerant of unreadable memory."""
    try:
        word = hart.mem.read(pc, 4)
    except Exception:  # noqa: BLE001 - any failure means there is nothing to show
        return f"pc {pc:#010x} (no memory)"
    from mcusim.isa.codec import decode
    d = decode(word, hart.custom_isa)
    if d is not None:
        text = format_decoded(d, pc).replace("\t", " ")
        if hart.extensions is not None and d.encoding.extension not in hart.extensions:
            text += f" (extension {d.encoding.extension} is not in the core's profile, core.extensions)"
        return f"pc {pc:#010x}: {text}"
    # a word of the other custom-extension set: say so, and how to choose that set
    for isa in CUSTOM_ISAS:
        other = decode(word, isa)
        if other is not None:
            return (f"pc {pc:#010x}: .word {word:#010x} (not a {hart.custom_isa} instruction: "
                    f"{isa}'s {format_decoded(other, pc).replace(chr(9), ' ')}; run with --isa {isa} "
                    f"or core.custom_isa = \"{isa}\")")
    return f"pc {pc:#010x}: .word {word:#010x} (not an instruction)"


def trap_message(core: int, hart: Hart, trap: Trap) -> str:
    what = CAUSE_NAMES.get(trap.cause, f"trap cause {trap.cause}")
    where = describe_instruction(hart, hart.pc)
    extra = ""
    if trap.cause in (4, 5, 6, 7, 0, 1):
        extra = f" (address {trap.tval:#010x})"
    elif trap.cause == CAUSE_ILLEGAL:
        extra = " (no handler installed in mtvec)"
    return f"core {core}: {what} at {where}{extra}"


def run_functional(image: Image, max_cycles: int = DEFAULT_MAX_CYCLES, hart_id: int = 0,
                   misaligned_traps: bool = True, custom_isa: str | None = None) -> RunResult:
    """Run `image` on one core from its entry point until it exits. `custom_isa`: the encodings
    of the custom extensions to decode (default: the image's, else Xpulpv2)."""
    mem = build_memory(image)
    hart = Hart(mem, hart_id, tohost=image.symbols.get("tohost"), misaligned_traps=misaligned_traps,
                custom_isa=custom_isa or image.custom_isa or DEFAULT_ISA)
    hart.pc = image.entry
    step = hart.step
    try:
        while hart.cycle < max_cycles:
            pc = hart.pc
            step()
            if hart.pc == pc and not hart.hwloop_count[0] + hart.hwloop_count[1]:
                # A jump to itself on a lone core with no interrupt sources can never end.
                raise SimulationError(f"core {hart_id}: program hangs in a jump-to-self loop at "
                                      f"{describe_instruction(hart, pc)}", "hang")
    except ProgramExit as done:
        return RunResult(done.code, done.reason, hart.cycle, hart.instret, hart)
    except Trap as trap:
        raise SimulationError(trap_message(hart_id, hart, trap), "trap") from None
    raise SimulationError(f"core {hart_id}: program did not finish within {max_cycles} cycles "
                          f"(now at {describe_instruction(hart, hart.pc)}); raise --max-cycles "
                          "if it needs longer", "max-cycles")
