"""Whole-table checks on isa.spec.INSTRUCTIONS (every extension module, as registered)."""
from itertools import combinations

import mcusim.isa.ext  # noqa: F401  (registers every instruction)
from mcusim.isa.spec import INSTRUCTIONS


RM_BITS = 0x7000


def alternative_format_refines(a, b) -> bool:
    """Xf16alt's rounding instructions are their Zfh twins with the reserved rounding mode 101: the
    one intended overlap (the decoder takes the more specific entry)."""
    general, specific = (a, b) if b.extension == "Xf16alt" else (b, a)
    return (specific.extension == "Xf16alt" and "rm" in general.operands
            and specific.mask == general.mask | RM_BITS and specific.match & RM_BITS == 0x5000)


def overlapping_pairs() -> list[tuple[str, str, int]]:
    """Pairs of entries some word could match both of: no fixed bit that both fix tells them apart."""
    pairs = []
    for a, b in combinations(INSTRUCTIONS, 2):
        if (a.match ^ b.match) & a.mask & b.mask == 0 and not alternative_format_refines(a, b):
            pairs.append((a.key, b.key, a.match | b.match))
    return pairs


def test_no_two_entries_overlap() -> None:
    pairs = overlapping_pairs()
    report = "\n".join(f"  {a}  <->  {b}   (e.g. word {w:#010x})" for a, b, w in pairs)
    assert not pairs, f"{len(pairs)} overlapping encodings:\n{report}"


def test_keys_are_unique() -> None:
    keys = [i.key for i in INSTRUCTIONS]
    assert len(keys) == len(set(keys))
