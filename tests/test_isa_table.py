"""Whole-table checks on isa.spec.INSTRUCTIONS (every extension module, as registered)."""
from itertools import combinations

import mcusim.isa.ext  # noqa: F401  (registers every instruction)
from mcusim.isa.spec import INSTRUCTIONS


def overlapping_pairs() -> list[tuple[str, str, int]]:
    """Pairs of entries some word could match both of: no fixed bit that both fix tells them apart."""
    pairs = []
    for a, b in combinations(INSTRUCTIONS, 2):
        if (a.match ^ b.match) & a.mask & b.mask == 0:
            pairs.append((a.key, b.key, a.match | b.match))
    return pairs


def test_no_two_entries_overlap() -> None:
    pairs = overlapping_pairs()
    report = "\n".join(f"  {a}  <->  {b}   (e.g. word {w:#010x})" for a, b, w in pairs)
    assert not pairs, f"{len(pairs)} overlapping encodings:\n{report}"


def test_keys_are_unique() -> None:
    keys = [i.key for i in INSTRUCTIONS]
    assert len(keys) == len(set(keys))
