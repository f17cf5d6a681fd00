"""Encoder and decoder, derived from the instruction table.

`encode(entry, values)` packs operand values into a word; `decode(word, isa)` finds the row whose fixed
bits match (the most specific one when a more general entry also matches) among the rows of the
custom-extension set `isa` ("xpulpv2" or "corev", isa.spec.CUSTOM_ISAS) and unpacks the operands.
"""
from __future__ import annotations

from functools import lru_cache

from mcusim.isa.fields import FIELDS, FieldError
from mcusim.isa.spec import BY_MNEMONIC, CUSTOM_ISAS, DEFAULT_ISA, ENCODINGS, ISA_OF_EXTENSION, Decoded, Instr
import mcusim.isa.ext  # noqa: F401  (registers every instruction)


class EncodeError(ValueError):
    """Operands that do not fit the instruction (message names the operand and the range)."""


def encode(entry: Instr, values: dict[str, int]) -> int:
    """The 32-bit word for `entry` with the given operand values (pc-relative ones as offsets)."""
    word = entry.match
    for name in entry.operands:
        if name in values:
            value = values[name]
        elif name in entry.defaults:
            value = entry.defaults[name]
        else:
            raise EncodeError(f"{entry.mnemonic}: missing operand {name}")
        try:
            word |= FIELDS[name].encode(value)
        except FieldError as exc:
            raise EncodeError(f"{entry.mnemonic}: {exc}") from None
    return word


def rows(isa: str = DEFAULT_ISA) -> list[Instr]:
    """The rows a core of custom-extension set `isa` decodes: common rows plus that set's own."""
    if isa not in CUSTOM_ISAS:
        raise ValueError(f"unknown custom ISA {isa!r} (one of {', '.join(CUSTOM_ISAS)})")
    return [r for r in ENCODINGS if ISA_OF_EXTENSION.get(r.extension, isa) == isa]


@lru_cache(maxsize=None)
def _candidates(opcode: int, isa: str) -> tuple[Instr, ...]:
    # Most specific first, so a special case (e.g. a fixed rs2) wins over the general form.
    found = [i for i in rows(isa) if (i.mask & 0x7F) == 0x7F and (i.match & 0x7F) == opcode]
    return tuple(sorted(found, key=lambda i: -bin(i.mask).count("1")))


def find_entry(word: int, isa: str = DEFAULT_ISA) -> Instr | None:
    """The row that `word` encodes in set `isa`, or None."""
    for entry in _candidates(word & 0x7F, isa):
        if word & entry.mask == entry.match:
            return entry
    return None


_ISAS_OF: dict[int, frozenset[str]] = {}


def isas_of(row: Instr) -> frozenset[str]:
    """The custom-extension sets in which `row`'s words mean what `row` says: every set for a common
    row; for a set's own row, that set plus any other whose decoder gives the same semantics for the
    same bits (e.g. Xpulpv2's p.lw imm post-inc and CORE-V's cv.lw imm post-inc)."""
    found = _ISAS_OF.get(id(row))
    if found is None:
        home = ISA_OF_EXTENSION.get(row.extension)
        meaning = row.twin or row
        found = _ISAS_OF[id(row)] = frozenset(CUSTOM_ISAS) if home is None else frozenset(
            {home} | {isa for isa in CUSTOM_ISAS
                      if (other := find_entry(row.match, isa)) is not None and other.mask == row.mask
                      and (other.twin or other) is meaning})
    return found


def decode(word: int, isa: str = DEFAULT_ISA, extensions: frozenset[str] | None = None) -> Decoded | None:
    """Decode a 32-bit word in custom-extension set `isa`; None when no row has that encoding, or
    when `extensions` (a core's ISA profile, isa.profiles) does not hold the row's extension."""
    row = find_entry(word, isa)
    if row is None or (extensions is not None and row.extension not in extensions):
        return None
    if row.twin is None:
        return Decoded(row, word, {name: FIELDS[name].decode(word) for name in row.operands})
    values = {row.rename.get(name, name): FIELDS[name].decode(word) for name in row.operands}
    return Decoded(row.twin, word, values, row)


def entries(mnemonic: str) -> list[Instr]:
    """Every encoding form of a mnemonic (empty if unknown)."""
    return BY_MNEMONIC.get(mnemonic, [])
