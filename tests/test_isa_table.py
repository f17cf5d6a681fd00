"""Whole-table checks on isa.spec.INSTRUCTIONS / ENCODINGS (every extension module, as registered)."""
from itertools import combinations

import pytest

import mcusim.isa.ext  # noqa: F401  (registers every instruction)
from mcusim.isa.codec import rows
from mcusim.isa.spec import CUSTOM_ISAS, ENCODINGS, INSTRUCTIONS, ISA_OF_EXTENSION

RM_BITS = 0x7000


def alternative_format_refines(a, b) -> bool:
    """Xf16alt's rounding instructions are their Zfh twins with the reserved rounding mode 101: the
    one intended overlap (the decoder takes the more specific entry)."""
    general, specific = (a, b) if b.extension == "Xf16alt" else (b, a)
    return (specific.extension == "Xf16alt" and "rm" in general.operands
            and specific.mask == general.mask | RM_BITS and specific.match & RM_BITS == 0x5000)


def overlapping_pairs(table) -> list[tuple[str, str, int]]:
    """Pairs of entries some word could match both of: no fixed bit that both fix tells them apart."""
    pairs = []
    for a, b in combinations(table, 2):
        if (a.match ^ b.match) & a.mask & b.mask == 0 and not alternative_format_refines(a, b):
            pairs.append((a.key, b.key, a.match | b.match))
    return pairs


@pytest.mark.parametrize("isa", list(CUSTOM_ISAS))
def test_no_two_entries_overlap(isa: str) -> None:
    pairs = overlapping_pairs(rows(isa))
    report = "\n".join(f"  {a}  <->  {b}   (e.g. word {w:#010x})" for a, b, w in pairs)
    assert not pairs, f"{len(pairs)} overlapping encodings in the {isa} set:\n{report}"


def test_the_sets_do_overlap_so_decoding_is_per_set() -> None:
    # The reason for per-set decoding: Xpulpv2 and CORE-V words collide (e.g. lp.setup / cv.cplxmul.r).
    custom = [e for e in ENCODINGS if e.extension in ISA_OF_EXTENSION]
    assert ("lp.setup", "cv.cplxmul.r.div4", 0x5400407B) in overlapping_pairs(custom)


def test_every_row_belongs_to_a_set_and_twins_are_semantic_entries() -> None:
    every = set().union(*(map(id, rows(isa)) for isa in CUSTOM_ISAS))
    assert every == set(map(id, ENCODINGS))
    for row in ENCODINGS:
        if row.twin is not None:
            assert row.twin.twin is None and any(row.twin is e for e in INSTRUCTIONS), row.key


def test_keys_are_unique() -> None:
    keys = [i.key for i in ENCODINGS]
    assert len(keys) == len(set(keys))
