"""Which registers an instruction reads and writes, derived from its table entry.

The timing model needs this for hazards (load-use, FPU latency, jalr dependency). It is derived
from the operand fields: rs1/rs2/rs3 and fs1/fs2/fs3 are read, rd/fd are written, a post-increment
form `(rs1!)` also writes rs1, and an entry with `reads_dest` (accumulators such as p.mac,
pv.sdotsp, vfmac.h) also reads its destination.
"""
from __future__ import annotations

from dataclasses import dataclass

from mcusim.isa.fields import FIELDS, Kind
from mcusim.isa.spec import Instr

# Registers are numbered 0..31 for x and 32..63 for f in the scoreboard.
F_OFFSET = 32


@dataclass(frozen=True)
class RegisterUse:
    reads: tuple[str, ...]        # field names whose register is read
    reads_offset: tuple[int, ...]  # 0 for x fields, 32 for f fields (same order)
    writes: tuple[str, ...]
    writes_offset: tuple[int, ...]


_CACHE: dict[int, RegisterUse] = {}

_DEST_FIELDS = {"rd", "fd"}


def register_use(entry: Instr) -> RegisterUse:
    use = _CACHE.get(id(entry))
    if use is not None:
        return use
    reads: list[tuple[str, int]] = []
    writes: list[tuple[str, int]] = []
    for name in entry.operands:
        f = FIELDS[name]
        if f.kind not in (Kind.XREG, Kind.FREG):
            continue
        offset = F_OFFSET if f.kind is Kind.FREG else 0
        if name in _DEST_FIELDS and not _stores_from(entry, name):
            writes.append((name, offset))
            if getattr(entry, "reads_dest", False):
                reads.append((name, offset))
        else:
            reads.append((name, offset))
    if "!" in entry.template and "rs1" in entry.operands:
        writes.append(("rs1", 0))
    use = RegisterUse(tuple(n for n, _ in reads), tuple(o for _, o in reads),
                      tuple(n for n, _ in writes), tuple(o for _, o in writes))
    _CACHE[id(entry)] = use
    return use


def scoreboard_use(d) -> tuple[tuple[int, ...], tuple[tuple[int, bool], ...], int]:
    """The scoreboard indices of decoded instruction `d` (both engines' timing derives from this):
    registers read; registers written, as (index, whether it is the post-increment write of rs1);
    the x register written last, or -1. x0 (index 0) is left out: always ready, never written."""
    use = register_use(d.instr)
    values = d.values
    reads = tuple(r for r in (values[n] + off for n, off in zip(use.reads, use.reads_offset)) if r)
    writes = tuple((values[n] + off, n == "rs1") for n, off in zip(use.writes, use.writes_offset)
                   if values[n] + off)
    x_writes = [r for r, _ in writes if r < F_OFFSET]
    return reads, writes, x_writes[-1] if x_writes else -1


def _stores_from(entry: Instr, name: str) -> bool:
    # Stores and branches have no destination; an "rd"-slot field there is a source.
    return entry.timing in ("store", "branch")
