"""Encoder and decoder, derived from the instruction table.

`encode(entry, values)` packs operand values into a word (a 16-bit parcel for a compressed entry);
`decode(word, isa)` finds the row whose fixed bits match (the most specific one when a more general
entry also matches) among the rows of the custom-extension set `isa` ("xpulpv2" or "corev",
isa.spec.CUSTOM_ISAS) and unpacks the operands. A word whose low two bits are not 11 is a 16-bit (RVC)
instruction, common to every set: only its low half is decoded, and the result is its 32-bit
expansion (`Decoded.size` 2).
"""
from __future__ import annotations

from functools import lru_cache

from mcusim.isa.fields import FIELDS, FieldError
from mcusim.isa.spec import (BY_MNEMONIC, COMPRESSED, CUSTOM_ISAS, DEFAULT_ISA, ENCODINGS, ISA_OF_EXTENSION,
                             Decoded, Instr)
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
        if value in entry.reserved.get(name, ()):
            raise EncodeError(f"{entry.mnemonic}: {name} cannot be {value} (reserved encoding or another "
                              "instruction)")
    return word


def expand(entry: Instr, values: dict[str, int]) -> dict[str, int]:
    """The operand values of a compressed entry's 32-bit expansion."""
    return {slot: values[src] if isinstance(src, str) else src for slot, src in entry.expansion}


@lru_cache(maxsize=None)
def _compressions(target_id: int) -> tuple[tuple[Instr, tuple[tuple[str, str | int], ...]], ...]:
    """(compressed entry, mapping) for every compressed form of the 32-bit entry with this id, in
    table order (the order GNU as tries them: c.addi before c.addi16sp, c.li after both)."""
    return tuple((c, mapping) for c in COMPRESSED if c.auto
                 for target, mapping in ((c.expands, c.expansion), *c.also) if id(target) == target_id)


def compressions(entry: Instr) -> tuple[tuple[Instr, tuple[tuple[str, str | int], ...]], ...]:
    """The compressed entries a 32-bit entry can be written as (with their operand mappings)."""
    return _compressions(id(entry))


@lru_cache(maxsize=1 << 16)
def compress(word: int) -> int | None:
    """The 16-bit parcel equivalent to 32-bit instruction `word` (pc-relative fields are offsets, so
    the result does not depend on where it is), or None. HINT encodings are never chosen."""
    d = decode(word)
    if d is None or d.size != 4:
        return None
    for entry, mapping in _compressions(id(d.instr)):
        own: dict[str, int] = {}
        for slot, src in mapping:
            value = d.values[slot]
            if isinstance(src, int):
                if value != src:
                    break
            elif own.setdefault(src, value) != value:
                break
        else:
            if any(own.get(name) in values for name, values in entry.hints.items()):
                continue
            try:
                return encode(entry, own)
            except EncodeError:
                continue
    return None
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


@lru_cache(maxsize=None)
def _compressed_candidates(key: int) -> tuple[Instr, ...]:
    """Compressed entries with quadrant and funct3 (bits 1..0 and 15..13) `key`, most specific first."""
    found = [i for i in COMPRESSED if ((i.match >> 11) & 0x1C | i.match & 3) == key]
    return tuple(sorted(found, key=lambda i: -bin(i.mask).count("1")))


def find_entry(word: int, isa: str = DEFAULT_ISA) -> Instr | None:
    """The row that `word` encodes in set `isa` (a compressed one when its low bits are not 11), or None."""
    if word & 3 != 3:
        half = word & 0xFFFF
        for entry in _compressed_candidates((half >> 11) & 0x1C | half & 3):
            if half & entry.mask == entry.match and not any(
                    FIELDS[name].decode(half) in values for name, values in entry.reserved.items()):
                return entry
        return None
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
    """Decode an instruction word in custom-extension set `isa`: 32 bits, or a 16-bit parcel in the
    low half (low bits not 11); None when no row has that encoding, or when `extensions` (a core's
    ISA profile, isa.profiles) does not hold the row's extension (for a compressed row, also its
    expansion's: c.flw needs F)."""
    row = find_entry(word, isa)
    if row is None or (extensions is not None and (row.extension not in extensions or (
            row.size == 2 and row.expands.extension not in extensions))):
        return None
    if row.size == 2:
        half = word & 0xFFFF
        own = {name: FIELDS[name].decode(half) for name in row.operands}
        return Decoded(row.expands, half, expand(row, own), row, 2, own)
    if row.twin is None:
        return Decoded(row, word, {name: FIELDS[name].decode(word) for name in row.operands})
    values = {row.rename.get(name, name): FIELDS[name].decode(word) for name in row.operands}
    return Decoded(row.twin, word, values, row)


def entries(mnemonic: str) -> list[Instr]:
    """Every encoding form of a mnemonic (empty if unknown)."""
    return BY_MNEMONIC.get(mnemonic, [])
