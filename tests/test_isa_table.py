"""Whole-table checks on isa.spec.INSTRUCTIONS / ENCODINGS (every extension module, as registered)."""
from itertools import combinations

import pytest

import mcusim.isa.ext  # noqa: F401  (registers every instruction)
from mcusim.isa.codec import rows
from mcusim.isa.spec import CUSTOM_ISAS, ENCODINGS, INSTRUCTIONS


def overlapping_pairs(table) -> list[tuple[str, str, int]]:
    """Pairs of entries some word could match both of: no fixed bit that both fix tells them apart."""
    pairs = []
    for a, b in combinations(table, 2):
        if (a.match ^ b.match) & a.mask & b.mask == 0:
            pairs.append((a.key, b.key, a.match | b.match))
    return pairs


@pytest.mark.parametrize("isa", list(CUSTOM_ISAS))
def test_no_two_entries_overlap(isa: str) -> None:
    pairs = overlapping_pairs(rows(isa))
    report = "\n".join(f"  {a}  <->  {b}   (e.g. word {w:#010x})" for a, b, w in pairs)
    assert not pairs, f"{len(pairs)} overlapping encodings in the {isa} set:\n{report}"


def test_the_sets_do_overlap_so_decoding_is_per_set() -> None:
    # The reason for per-set decoding: Xpulpv2 and CORE-V words collide (e.g. lp.setup / cv.cplxmul).
    assert overlapping_pairs(ENCODINGS)


def test_every_row_belongs_to_a_set_and_twins_are_semantic_entries() -> None:
    every = set().union(*(map(id, rows(isa)) for isa in CUSTOM_ISAS))
    assert every == set(map(id, ENCODINGS))
    for row in ENCODINGS:
        if row.twin is not None:
            assert row.twin.twin is None and any(row.twin is e for e in INSTRUCTIONS), row.key


def test_keys_are_unique() -> None:
    keys = [i.key for i in INSTRUCTIONS]
    assert len(keys) == len(set(keys))
