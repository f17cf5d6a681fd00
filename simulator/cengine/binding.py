"""Python side of the compiled engine: loading the module, pre-decoding instructions into McuInsn
records, and copying architectural state between a Python Hart and a C McuCore."""
from __future__ import annotations

from typing import Any

from mcusim.isa.spec import Decoded
from mcusim.isa.timing import TIMING_CLASSES
from mcusim.simulator.cengine.opgen import OP_INDEX, OP_INVALID, slot_plan
from mcusim.simulator.operands import scoreboard_use

TIMING_IDS = {name: i for i, name in enumerate(TIMING_CLASSES)}   # order matches cluster.h MCU_T_*
SEM_FILE: list[int] = []   # per op: 1 sem_int.c, 2 sem_fp.c, 3 sem_sys.c, 0 the reference (set by load())
# (an undecodable word's record has sem 4: predecode)

_MODULE: Any = None
_TRIED = False


def load() -> Any:
    """The compiled module (with .ffi and .lib), or None when it is not built."""
    global _MODULE, _TRIED
    if not _TRIED:
        _TRIED = True
        try:
            from mcusim.simulator import _mcusim_c
            if _mcusim_c.lib.mcu_num_ops() != OP_INVALID:
                raise ImportError("stale build: the instruction table changed (rebuild with pip install .)")
            _MODULE = _mcusim_c
            lib = _mcusim_c.lib
            SEM_FILE[:] = [1 if lib.mcu_sem_int_supports(op) else 2 if lib.mcu_sem_fp_supports(op)
                           else 3 if lib.mcu_sem_sys_supports(op) else 0 for op in range(OP_INVALID + 1)]
        except ImportError:
            _MODULE = None
    return _MODULE


_PLANS: dict[int, tuple] = {}


def predecode(d: Decoded | None, insn: Any, word: int = 0) -> None:
    """Fill McuInsn `insn` from decoded instruction `d` (None: an undecodable word)."""
    insn.valid = 1
    if d is None:      # sem 4: the illegal-instruction trap, which C takes when a handler is installed
        insn.op = OP_INVALID
        insn.word = word
        insn.sem = 4
        insn.size = 4
        return
    entry = d.instr
    plan = _PLANS.get(id(entry))
    if plan is None:
        plan = _PLANS[id(entry)] = slot_plan(entry)
    insn.op = OP_INDEX[id(entry)]     # a compressed instruction is its expansion, 2 bytes long
    insn.word = d.word
    insn.size = d.size
    insn.rd = insn.rs1 = insn.rs2 = insn.rs3 = 0
    insn.rm = 0
    for name, slot in plan:
        value = d.values[name]
        if slot.startswith("imm"):
            insn.imm[int(slot[3])] = value
        else:
            setattr(insn, slot, value)
    # timing descriptors (0x80 marks the post-increment write of rs1)
    reads, writes, last_x = scoreboard_use(d)
    insn.cls = TIMING_IDS[entry.timing]
    insn.sem = SEM_FILE[insn.op] if SEM_FILE else 0
    insn.nreads, insn.nwrites = len(reads), len(writes)
    insn.reads[0:len(reads)] = reads
    insn.writes[0:len(writes)] = [r | (0x80 if post_increment else 0) for r, post_increment in writes]
    insn.last_x = last_x


_SCALARS = ("pc", "frm", "fflags", "mstatus", "instret")


def hart_to_core(h: Any, c: Any) -> None:
    """Copy a Hart's architectural state into McuCore `c`."""
    c.x[0:32] = h.x
    c.f[0:32] = h.f
    c.pc, c.frm, c.fflags, c.mstatus, c.instret = h.pc, h.frm, h.fflags, h.mstatus, h.instret
    c.hwloop_start[0:2] = h.hwloop_start
    c.hwloop_end[0:2] = h.hwloop_end
    c.hwloop_count[0:2] = h.hwloop_count
    c.misaligned_traps = int(h.misaligned_traps)
    c.id = h.hart_id
