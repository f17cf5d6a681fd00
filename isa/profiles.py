"""ISA profiles: which extensions a core implements (`core.extensions`).

A core decodes only the rows of its profile's extensions; a word of any other extension is an
illegal instruction (both engines decode through `isa.codec.decode`, so they trap alike). The kernel
library and the training step choose only variants whose instructions the profile holds.

Named profiles (facts behind them):
- `all`: every extension mcusim knows (its default; GVSoC's pulp-open core model also executes the
  Xfaux dot products).
- `pulp-dotp`: a PULP cluster core with the smallFloat FPU including the expanding dot products
  (Xfaux: vfdotpex.s.h, vfdotp.h, fmulex/fmacex) in both 16-bit formats; today the same rows as `all`.
- `pulp`: the same core without Xfaux / Xfauxalt. RI5CY's decoder (openhwgroup/cv32e40p before the
  rename) has no Xfaux rows and the study's library (PULP-TrainLib) uses none of them, so this is the
  profile of the study's cores as far as public sources say.
A profile may also be written as a comma-separated list of extension names (`RV32I,RV32M,...`).
"""
from __future__ import annotations

from mcusim.isa.spec import ENCODINGS
import mcusim.isa.ext  # noqa: F401  (registers every instruction)

KNOWN: tuple[str, ...] = tuple(dict.fromkeys(row.extension for row in ENCODINGS))
DOT_PRODUCTS = ("Xfaux", "Xfauxalt")

PROFILES: dict[str, frozenset[str]] = {
    "all": frozenset(KNOWN),
    "pulp-dotp": frozenset(KNOWN),
    "pulp": frozenset(KNOWN) - set(DOT_PRODUCTS),
}


def resolve(text: str) -> frozenset[str]:
    """The extensions a `core.extensions` value names; ValueError names what is unknown."""
    if text in PROFILES:
        return PROFILES[text]
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in KNOWN]
    if unknown or not names:
        raise ValueError(f"unknown extension or profile {', '.join(unknown) or repr(text)} (profiles: "
                         f"{', '.join(PROFILES)}; extensions: {', '.join(KNOWN)})")
    if "RV32I" not in names:
        raise ValueError(f"{text!r}: a profile needs RV32I")
    return frozenset(names)


def extensions_of_source(text: str) -> set[str]:
    """The extensions an assembly source's instructions belong to (by mnemonic: directives, labels and
    pseudo-instructions, which expand to base instructions, add none)."""
    from mcusim.isa.spec import BY_MNEMONIC
    found = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if ":" in line.split(" ", 1)[0]:
            line = line.split(":", 1)[1].strip()
        mnemonic = line.split(None, 1)[0].lower() if line else ""
        rows = BY_MNEMONIC.get(mnemonic)
        if rows:
            found.add(rows[0].extension)
    return found
