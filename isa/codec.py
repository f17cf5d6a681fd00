"""Encoder and decoder, derived from the instruction table.

`encode(entry, values)` packs operand values into a word; `decode(word)` finds the entry whose fixed
bits match (the most specific one when a more general entry also matches) and unpacks the operands.
"""
from __future__ import annotations

from functools import lru_cache

from mcusim.isa.fields import FIELDS, FieldError
from mcusim.isa.spec import BY_MNEMONIC, INSTRUCTIONS, Decoded, Instr
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


@lru_cache(maxsize=None)
def _candidates(opcode: int) -> tuple[Instr, ...]:
    # Most specific first, so a special case (e.g. a fixed rs2) wins over the general form.
    found = [i for i in INSTRUCTIONS if (i.mask & 0x7F) == 0x7F and (i.match & 0x7F) == opcode]
    return tuple(sorted(found, key=lambda i: -bin(i.mask).count("1")))


def find_entry(word: int) -> Instr | None:
    """The table entry that `word` encodes, or None."""
    for entry in _candidates(word & 0x7F):
        if word & entry.mask == entry.match:
            return entry
    return None


def decode(word: int) -> Decoded | None:
    """Decode a 32-bit word; None when no instruction has that encoding."""
    entry = find_entry(word)
    if entry is None:
        return None
    return Decoded(entry, word, {name: FIELDS[name].decode(word) for name in entry.operands})


def entries(mnemonic: str) -> list[Instr]:
    """Every encoding form of a mnemonic (empty if unknown)."""
    return BY_MNEMONIC.get(mnemonic, [])
