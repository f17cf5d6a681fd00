"""One core's architectural state and the pure-Python reference interpreter step.

This is the executable specification of what instructions do: the semantics come from the ISA
table (`isa.ext.*`), this class supplies the state they act on (registers, CSRs, memory, traps,
hardware loops). Cycle timing is not modelled here; the cluster model adds it on top.

The interface the semantic functions use:
  x[i] / wx(i, v)        integer registers (unsigned 32-bit values; writes to x0 are dropped)
  f[i] / wf(i, v)        f registers as 32-bit patterns
  read_half(i) / write_half(i, v)   scalar FP16 in f registers with NaN-boxing
  pc                     the instruction's address
  next_pc                pc + the instruction's size (2 for a compressed one) until a jump changes it
  jump(target)           taken branches and jumps (sets next_pc; an odd target traps)
  load(addr, size, signed) / store(addr, size, value)
  rounding(rm) -> int    the effective rounding mode (dyn resolves to frm; reserved ones trap)
  accrue(flags)          OR exception flags into fflags
  csr_access(num, write_value | None, write_mask) -> old value
  illegal(), trap(cause, tval), exit(code)
  hwloop_start/end/count[0..1]
"""
from __future__ import annotations

import sys
from typing import Callable

from mcusim.isa.codec import decode
from mcusim.isa.csrs import CSR_BY_NUMBER, PERF_EVENTS
from mcusim.isa.spec import DEFAULT_ISA
from mcusim.simulator.memory import AccessFault, Memory

# mcause values (privileged spec, table "Machine cause register values")
CAUSE_MISALIGNED_FETCH = 0
CAUSE_FETCH_ACCESS = 1
CAUSE_ILLEGAL = 2
CAUSE_BREAKPOINT = 3
CAUSE_MISALIGNED_LOAD = 4
CAUSE_LOAD_ACCESS = 5
CAUSE_MISALIGNED_STORE = 6
CAUSE_STORE_ACCESS = 7
CAUSE_ECALL_M = 11

CAUSE_NAMES = {
    CAUSE_MISALIGNED_FETCH: "misaligned instruction fetch",
    CAUSE_FETCH_ACCESS: "instruction access fault",
    CAUSE_ILLEGAL: "illegal instruction",
    CAUSE_BREAKPOINT: "breakpoint (ebreak)",
    CAUSE_MISALIGNED_LOAD: "misaligned load",
    CAUSE_LOAD_ACCESS: "load access fault",
    CAUSE_MISALIGNED_STORE: "misaligned store",
    CAUSE_STORE_ACCESS: "store access fault",
    CAUSE_ECALL_M: "environment call (ecall)",
}

EXIT_SYSCALL = 93           # ecall with a7 = 93 ends the program, exit code in a0
MISA = 0x4080_1124          # RV32 (MXL=1), C, F, I, M, X
MSTATUS_WRITABLE = 0x0000_6088   # MIE, MPIE, FS
MSTATUS_MPP = 0x0000_1800        # always machine mode
FS_INITIAL = 0x0000_2000
HALF_BOX = 0xFFFF_0000
CANONICAL_NAN_H = 0x7E00


class Trap(Exception):
    """A synchronous exception raised by an instruction."""

    def __init__(self, cause: int, tval: int = 0, detail: str = "") -> None:
        super().__init__(CAUSE_NAMES.get(cause, f"cause {cause}"))
        self.cause = cause
        self.tval = tval
        self.detail = detail


class ProgramExit(Exception):
    """The program ended (exit ecall or a write to tohost)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def program_exit(code: int) -> ProgramExit:
    """The end of a program by the exit system call (ecall a7 = 93) with `code`."""
    return ProgramExit(code, f"exit({code})")


def tohost_exit(value: int) -> ProgramExit:
    """The end of a program by a nonzero store to tohost (the riscv-tests convention: 1 passes,
    2 * n + 1 fails test n)."""
    if value == 1:
        return ProgramExit(0, "tohost = 1 (pass)")
    test = (value & 0xFFFF_FFFF) >> 1
    return ProgramExit(min(max(test, 1), 255), f"tohost = {value:#x} (failure of test {test})")


def _write_console(fd: int, data: bytes) -> None:
    stream = sys.stdout if fd == 1 else sys.stderr
    stream.flush()
    stream.buffer.write(data)
    stream.buffer.flush()


class Hart:
    """Architectural state of one RV32IMF + Xpulpv2 + FP16 core."""

    def __init__(self, memory: Memory, hart_id: int = 0, tohost: int | None = None,
                 misaligned_traps: bool = False, custom_isa: str = DEFAULT_ISA,
                 extensions: frozenset[str] | None = None) -> None:
        self.mem = memory
        self.custom_isa = custom_isa       # which encodings of the custom extensions it decodes
        self.extensions = extensions       # its ISA profile (isa.profiles); None: every extension
        self.hart_id = hart_id
        self.tohost = tohost
        self.misaligned_traps = misaligned_traps
        self.x = [0] * 32
        self.f = [0] * 32
        self.pc = 0
        self.next_pc = 0
        self.frm = 0
        self.fflags = 0
        self.mstatus = MSTATUS_MPP | FS_INITIAL
        self.mtvec: int | None = None      # None until the program installs a handler
        self.mscratch = self.mepc = self.mcause = self.mtval = self.mie = self.mip = 0
        self.cycle = 0                     # functional model: one cycle per instruction
        self.instret = 0
        self.hwloop_start = [0, 0]
        self.hwloop_end = [0, 0]
        self.hwloop_count = [0, 0]
        self.pcer = 0
        self.pcmr = 0
        self.pccr = [0] * 31
        self.last_access: tuple[int, int, bool] | None = None   # (address, size, is_store)
        self.taken = False                 # set by jump(); the cluster model reads and clears it
        self.decoded: dict[int, object] = {}    # pc -> decoded instruction (fetch_decode)
        self.csr_read_hook: Callable[[int], int | None] | None = None
        self.console: Callable[[int, bytes], None] = _write_console

    # --- registers ---------------------------------------------------------------------------------
    def wx(self, r: int, value: int) -> None:
        if r:
            self.x[r] = value & 0xFFFF_FFFF

    def wf(self, r: int, value: int) -> None:
        self.f[r] = value & 0xFFFF_FFFF
        self.mstatus |= 0x6000   # FS = dirty

    def read_half(self, r: int) -> int:
        """FP16 operand from f[r]; an improperly NaN-boxed value reads as the canonical NaN."""
        v = self.f[r]
        return v & 0xFFFF if v & HALF_BOX == HALF_BOX else CANONICAL_NAN_H

    def write_half(self, r: int, value: int) -> None:
        self.wf(r, HALF_BOX | (value & 0xFFFF))

    # --- floating-point control ------------------------------------------------------------------------
    def rounding(self, rm: int) -> int:
        """Effective rounding mode; reserved encodings (5, 6, or dyn with frm > 4) are illegal."""
        if rm == 7:
            rm = self.frm
        if rm > 4:
            self.illegal()
        return rm

    def accrue(self, flags: int) -> None:
        if flags:
            self.fflags |= flags
            self.mstatus |= 0x6000

    # --- memory ------------------------------------------------------------------------------------
    def load(self, address: int, size: int, signed: bool = False) -> int:
        address &= 0xFFFF_FFFF
        if address % size and self.misaligned_traps:
            raise Trap(CAUSE_MISALIGNED_LOAD, address)
        try:
            value = self.mem.read(address, size)
        except AccessFault:
            raise Trap(CAUSE_LOAD_ACCESS, address) from None
        self.last_access = (address, size, False)
        if signed and value >> (8 * size - 1):
            value -= 1 << (8 * size)
        return value & 0xFFFF_FFFF

    def store(self, address: int, size: int, value: int) -> None:
        address &= 0xFFFF_FFFF
        if address % size and self.misaligned_traps:
            raise Trap(CAUSE_MISALIGNED_STORE, address)
        try:
            self.mem.write(address, size, value)
        except AccessFault:
            raise Trap(CAUSE_STORE_ACCESS, address) from None
        self.last_access = (address, size, True)
        # Self-modifying code: forget decoded instructions that this store overwrote (instructions
        # start at even addresses and are at most 4 bytes, so the first may start 2 bytes before).
        decoded = self.decoded
        for a in range((address - 2) & ~1, address + size, 2):
            if a in decoded:
                del decoded[a]
        if self.tohost is not None and address == self.tohost and value:
            raise tohost_exit(value)

    # --- control flow ------------------------------------------------------------------------------
    def jump(self, target: int) -> None:
        """Taken branch or jump: continue at `target` (with C, instructions are 2-byte aligned: an odd
        target traps at the jump; jalr clears bit 0 and branch offsets are even, so only mret can)."""
        target &= 0xFFFF_FFFF
        if target & 1:
            raise Trap(CAUSE_MISALIGNED_FETCH, target)
        self.next_pc = target
        self.taken = True

    # --- traps -------------------------------------------------------------------------------------
    def illegal(self) -> None:
        raise Trap(CAUSE_ILLEGAL)

    def trap(self, cause: int, tval: int = 0, detail: str = "") -> None:
        raise Trap(cause, tval, detail)

    def exit(self, code: int) -> None:
        raise program_exit(code)

    def console_write(self, fd: int, address: int, length: int) -> None:
        """The `write` system call (a7 = 64) for fd 1 (stdout) and 2 (stderr)."""
        data = bytes(self.load(address + i, 1) for i in range(length))
        self.console(fd, data)

    def wait_for_event(self) -> None:
        """wfi: one core alone has no event source, so waiting ends at once (a legal no-op).
        The cluster model overrides this to put the core to sleep."""

    def take_trap(self, trap: Trap) -> bool:
        """Enter the trap handler; False when the program has installed none."""
        if self.mtvec is None:
            return False
        self.mepc = self.pc
        self.mcause = trap.cause
        self.mtval = trap.tval
        mie = (self.mstatus >> 3) & 1
        self.mstatus = (self.mstatus & ~0x88) | (mie << 7) | MSTATUS_MPP
        self.pc = self.mtvec & ~3
        return True

    def mret(self) -> None:
        mpie = (self.mstatus >> 7) & 1
        self.mstatus = (self.mstatus & ~0x8) | (mpie << 3) | 0x80
        self.next_pc = self.mepc

    # --- CSRs --------------------------------------------------------------------------------------
    def csr_access(self, number: int, value: int | None, write_mask: int = 0xFFFF_FFFF) -> int:
        """Read CSR `number`; if `value` is not None, then write (old & ~mask) | (value & mask).

        Unknown CSRs and writes to read-only ones are illegal instructions.
        """
        csr = CSR_BY_NUMBER.get(number)
        if csr is None or (value is not None and not csr.writable):
            self.illegal()
        old = self._csr_read(number)
        if value is not None:
            self._csr_write(number, (old & ~write_mask) | (value & write_mask))
        return old

    def _csr_read(self, n: int) -> int:
        if self.csr_read_hook is not None:
            hooked = self.csr_read_hook(n)
            if hooked is not None:
                return hooked & 0xFFFF_FFFF
        if n == 0x001:
            return self.fflags
        if n == 0x002:
            return self.frm
        if n == 0x003:
            return (self.frm << 5) | self.fflags
        if n == 0x300:
            sd = 0x8000_0000 if (self.mstatus & 0x6000) == 0x6000 else 0
            return self.mstatus | sd
        if n in (0xB00, 0xC00):
            return self.cycle & 0xFFFF_FFFF
        if n in (0xB80, 0xC80):
            return self.cycle >> 32
        if n in (0xB02, 0xC02):
            return self.instret & 0xFFFF_FFFF
        if n in (0xB82, 0xC82):
            return self.instret >> 32
        if 0x780 <= n < 0x79F:
            return self.pccr[n - 0x780]
        simple = {0x301: MISA, 0x304: self.mie, 0x305: self.mtvec or 0, 0x340: self.mscratch,
                  0x341: self.mepc, 0x342: self.mcause, 0x343: self.mtval, 0x344: self.mip,
                  0xF11: 0, 0xF12: 0, 0xF13: 0, 0xF14: self.hart_id,
                  0x7B0: self.hwloop_start[0], 0x7B1: self.hwloop_end[0], 0x7B2: self.hwloop_count[0],
                  0x7B4: self.hwloop_start[1], 0x7B5: self.hwloop_end[1], 0x7B6: self.hwloop_count[1],
                  0xCC0: self.pcer, 0xCC1: self.pcmr, 0x79F: 0}
        return simple[n]

    def _csr_write(self, n: int, v: int) -> None:
        v &= 0xFFFF_FFFF
        if n == 0x001:
            self.fflags = v & 0x1F
        elif n == 0x002:
            self.frm = v & 0x7
        elif n == 0x003:
            self.frm, self.fflags = (v >> 5) & 0x7, v & 0x1F
        elif n == 0x300:
            self.mstatus = (v & MSTATUS_WRITABLE) | MSTATUS_MPP
        elif n == 0xB00:
            self.cycle = (self.cycle & ~0xFFFF_FFFF) | v
        elif n == 0xB80:
            self.cycle = (self.cycle & 0xFFFF_FFFF) | (v << 32)
        elif n == 0xB02:
            self.instret = (self.instret & ~0xFFFF_FFFF) | v
        elif n == 0xB82:
            self.instret = (self.instret & 0xFFFF_FFFF) | (v << 32)
        elif n == 0x305:
            self.mtvec = v & ~3
        elif n == 0x341:
            self.mepc = v & ~1
        elif n in (0x304, 0x340, 0x342, 0x343, 0x344):
            setattr(self, {0x304: "mie", 0x340: "mscratch", 0x342: "mcause",
                           0x343: "mtval", 0x344: "mip"}[n], v)
        elif n in (0x7B0, 0x7B1, 0x7B2, 0x7B4, 0x7B5, 0x7B6):
            loop = (n >> 2) & 1
            kind = n & 3
            (self.hwloop_start, self.hwloop_end, self.hwloop_count)[kind][loop] = v
        elif n == 0xCC0:
            self.pcer = v & ((1 << len(PERF_EVENTS)) - 1)
        elif n == 0xCC1:
            self.pcmr = v & 0x3
        elif n == 0x79F:
            self.pccr[0:31] = [v] * 31      # (in place: the compiled engine's view is a C array)
        elif 0x780 <= n < 0x79F:
            self.pccr[n - 0x780] = v

    # --- execution ---------------------------------------------------------------------------------
    def fetch_decode(self, pc: int):
        """The decoded instruction at `pc` (cached until a store overwrites it). A parcel whose low
        bits are 11 starts a 32-bit instruction, which may straddle a word boundary; any other is a
        16-bit compressed one."""
        d = self.decoded.get(pc)
        if d is None:
            if pc & 1:
                raise Trap(CAUSE_MISALIGNED_FETCH, pc)
            try:
                word = self.mem.read(pc, 2)
                if word & 3 == 3:
                    word = self.mem.read(pc, 4)
            except AccessFault:
                raise Trap(CAUSE_FETCH_ACCESS, pc) from None
            d = decode(word, self.custom_isa, self.extensions)
            if d is None:
                raise Trap(CAUSE_ILLEGAL, word)
            self.decoded[pc] = d
        return d

    def step(self) -> object:
        """Execute one instruction (or enter a trap handler). Returns the decoded instruction.

        Raises Trap when an exception occurs and no handler is installed, ProgramExit at the end
        (the exiting instruction counts as retired).
        """
        pc = self.pc
        d = None
        try:
            d = self.decoded.get(pc) or self.fetch_decode(pc)
            self.next_pc = pc + d.size  # inlined execute(): this is the interpreter's hot path
            self.last_access = None
            d.sem(self, d)
        except Trap as trap:
            self.enter_trap(trap, d)
            self.cycle += 1
            return d
        except ProgramExit:
            self.instret += 1
            self.cycle += 1
            raise
        self.advance(pc, d.size)
        self.cycle += 1
        return d

    def execute(self, d) -> None:
        """Run the semantics of decoded instruction `d` at the current pc (sets next_pc)."""
        self.next_pc = self.pc + d.size
        self.last_access = None
        d.sem(self, d)

    def enter_trap(self, trap: Trap, d) -> None:
        """Deliver `trap` raised by instruction `d` to mtvec, or re-raise it when unhandled."""
        if trap.cause == CAUSE_ILLEGAL and d is not None:
            trap.tval = d.word
        trap.instruction = d
        if not self.take_trap(trap):
            raise trap

    def advance(self, pc: int, size: int = 4) -> None:
        """Retire the instruction at `pc` (`size` bytes): follow control flow and hardware-loop
        back-edges (taken when the instruction at the loop's end address falls through)."""
        npc = self.next_pc
        if npc == pc + size:
            # Hardware loops: loop 0 is the inner one and is checked first.
            if pc == self.hwloop_end[0] and self.hwloop_count[0]:
                self.hwloop_count[0] -= 1
                if self.hwloop_count[0]:
                    npc = self.hwloop_start[0]
                elif pc == self.hwloop_end[1] and self.hwloop_count[1]:
                    self.hwloop_count[1] -= 1
                    if self.hwloop_count[1]:
                        npc = self.hwloop_start[1]
            elif pc == self.hwloop_end[1] and self.hwloop_count[1]:
                self.hwloop_count[1] -= 1
                if self.hwloop_count[1]:
                    npc = self.hwloop_start[1]
        self.pc = npc & 0xFFFF_FFFF
        self.instret += 1
