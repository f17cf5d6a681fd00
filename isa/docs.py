"""Generate docs/ISA.md from the instruction table: `python -m mcusim.isa.docs > docs/ISA.md`.

A test checks that the committed file equals this output, so the document cannot drift.
"""
from __future__ import annotations

from mcusim.isa.csrs import CSRS
import mcusim.isa.ext  # noqa: F401  (registers every instruction)
from mcusim.isa.fields import FIELDS
from mcusim.isa.spec import CUSTOM_ISAS, ENCODINGS, INSTRUCTIONS, Instr
from mcusim.isa.timing import TIMING_CLASSES


def _bits(entry: Instr) -> str:
    """The word as 32 characters: fixed bits as 0/1, operand bits as '.'."""
    return "".join(str(entry.match >> b & 1) if entry.mask >> b & 1 else "." for b in range(31, -1, -1))


def render() -> str:
    sets = "; ".join(f"`{isa}`: {', '.join(exts)}" for isa, exts in CUSTOM_ISAS.items())
    out = ["# mcusim instruction set", "",
           "Generated from the instruction table (`isa/ext/*.py`) by `python -m mcusim.isa.docs`; do not edit.",
           "", f"{len(INSTRUCTIONS)} instruction forms with semantics of their own, and "
           f"{len(ENCODINGS) - len(INSTRUCTIONS)} second encodings of them (CORE-V rows marked *twin*).", "",
           "Encoding: bit 31 first; `0`/`1` fixed, `.` operand bits. `match`/`mask` as in riscv-opcodes.",
           "Timing classes are priced by the cluster configuration (see docs/TIMING.md).", "",
           "Custom-extension sets (`core.custom_isa`, `--isa`): a core decodes the rows of every other "
           f"extension plus those of one set ({sets}). The sets overlap in encoding space; a row marked "
           "*twin* decodes to the named entry and runs its semantics function and timing class.", ""]
    by_ext: dict[str, list[Instr]] = {}
    for entry in ENCODINGS:
        by_ext.setdefault(entry.extension, []).append(entry)
    for ext in by_ext:   # in the order the extension modules register them
        out += [f"## {ext}", "", "| instruction | encoding | match / mask | timing | semantics |",
                "|---|---|---|---|---|"]
        for entry in by_ext[ext]:
            syntax = f"{entry.mnemonic} {entry.syntax}".strip()
            defaults = ", ".join(f"{k} = {v}" for k, v in entry.defaults.items())
            if defaults:
                syntax += f" (optional {defaults})"
            desc = entry.description.replace("|", "\\|")
            if entry.twin is not None:
                desc = f"*twin of `{entry.twin.key}`*: {desc}"
            out.append(f"| `{syntax}` | `{_bits(entry)}` | `{entry.match:#010x}` / `{entry.mask:#010x}` "
                       f"| {entry.timing} | {desc} |")
        out.append("")
    out += ["## Operand fields", "", "| field | kind | bits (word hi..lo -> value bit) | signed | meaning |",
            "|---|---|---|---|---|"]
    for f in FIELDS.values():
        pieces = ", ".join(f"{hi}..{lo}->{vlo}" for hi, lo, vlo in f.pieces)
        out.append(f"| `{f.name}` | {f.kind.value} | {pieces} | {'yes' if f.signed else 'no'} | {f.description} |")
    out += ["", "## Timing classes", "", "| class | meaning |", "|---|---|"]
    out += [f"| `{k}` | {v} |" for k, v in TIMING_CLASSES.items()]
    out += ["", "## CSRs", "", "| number | name | writable | meaning |", "|---|---|---|---|"]
    out += [f"| `{c.number:#05x}` | `{c.name}` | {'yes' if c.writable else 'no'} | {c.description} |"
            for c in CSRS]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render(), end="")
