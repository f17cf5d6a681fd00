"""What an instruction entry is, and the table that holds them all.

Each instruction is one `Instr`: mnemonic, operand syntax, encoding, semantics, timing class.
The encoding string names the fixed bits the way riscv-opcodes does (`31..25=0 14..12=0 6..0=0x33`);
the operand fields (from `isa.fields`) come from the syntax. Together they must cover all 32 bits
exactly once, which `Instr.__post_init__` checks, so a typo in a table entry fails at import.

Semantics are Python functions `sem(h, d)`: `h` is the hart (architectural state, see
`simulator.hart.Hart`), `d` the `Decoded` instruction whose attributes are the operand values
(registers as numbers, immediates sign-extended, pc-relative fields as byte offsets).
The function's docstring is the one-line semantic description that `docs/ISA.md` shows.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from mcusim.isa.fields import FIELDS, Field, Kind
from mcusim.isa.timing import TIMING_CLASSES

Semantics = Callable[[Any, "Decoded"], None]

_TEMPLATE_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|[,()!])")


@dataclass
class Instr:
    """One instruction (one encoding form of one mnemonic)."""
    mnemonic: str
    syntax: str                 # operand template, e.g. "rd, imm12(rs1!)"; "" for none
    encoding: str               # fixed bits, e.g. "31..25=0 14..12=0 6..0=0x33"
    semantics: Semantics
    timing: str                 # one of isa.timing.TIMING_CLASSES
    extension: str              # e.g. "RV32I", "Xpulpv2", "Xfvec"
    defaults: dict[str, int] = field(default_factory=dict)  # trailing operands that may be omitted
    form: str = ""              # distinguishes entries that share a mnemonic (e.g. "reg post-inc")
    description: str = ""       # semantics in one line; defaults to the semantics docstring
    reads_dest: bool = False    # the destination register is also a source (accumulators)
    # Derived:
    match: int = field(init=False, default=0)
    mask: int = field(init=False, default=0)
    operands: tuple[str, ...] = field(init=False, default=())
    template: tuple[str, ...] = field(init=False, default=())   # tokens: operand names and punctuation

    def __post_init__(self) -> None:
        if self.timing not in TIMING_CLASSES:
            raise ValueError(f"{self.mnemonic}: unknown timing class {self.timing!r}")
        self.template = tuple(_TEMPLATE_TOKEN.findall(self.syntax)) if self.syntax else ()
        if "".join(self.template) != self.syntax.replace(" ", ""):
            raise ValueError(f"{self.mnemonic}: cannot parse syntax {self.syntax!r}")
        self.operands = tuple(t for t in self.template if t not in ",()!")
        for name in self.operands:
            if name not in FIELDS:
                raise ValueError(f"{self.mnemonic}: unknown operand field {name!r}")
        for name in self.defaults:
            if name not in self.operands:
                raise ValueError(f"{self.mnemonic}: default for absent operand {name!r}")
        self.match, self.mask = parse_fixed_bits(self.encoding, self.mnemonic)
        operand_mask = 0
        for name in self.operands:
            fmask = FIELDS[name].word_mask
            if operand_mask & fmask or self.mask & fmask:
                raise ValueError(f"{self.mnemonic}: field {name} overlaps other bits")
            operand_mask |= fmask
        if operand_mask | self.mask != 0xFFFF_FFFF:
            raise ValueError(f"{self.mnemonic}: bits {~(operand_mask | self.mask) & 0xFFFFFFFF:#010x} "
                             "are neither fixed nor an operand")
        if not self.description:
            self.description = " ".join((self.semantics.__doc__ or "").split())

    @property
    def key(self) -> str:
        """Unique name of this entry: the mnemonic, plus the form when the mnemonic has several."""
        return f"{self.mnemonic} [{self.form}]" if self.form else self.mnemonic

    @property
    def fields(self) -> list[Field]:
        return [FIELDS[n] for n in self.operands]


def parse_fixed_bits(encoding: str, what: str = "") -> tuple[int, int]:
    """Parse `hi..lo=value` / `bit=value` terms into (match, mask)."""
    match = mask = 0
    for term in encoding.split():
        m = re.fullmatch(r"(\d+)(?:\.\.(\d+))?=(0x[0-9a-fA-F]+|0b[01]+|\d+)", term)
        if not m:
            raise ValueError(f"{what}: bad encoding term {term!r}")
        hi = int(m.group(1))
        lo = int(m.group(2)) if m.group(2) is not None else hi
        value = int(m.group(3), 0)
        width = hi - lo + 1
        if hi > 31 or lo > hi or value >> width:
            raise ValueError(f"{what}: bad encoding term {term!r}")
        bits = ((1 << width) - 1) << lo
        if mask & bits:
            raise ValueError(f"{what}: encoding term {term!r} overlaps another")
        mask |= bits
        match |= value << lo
    return match, mask


class Decoded:
    """A decoded instruction: the table entry, the word, and one attribute per operand."""

    def __init__(self, instr: Instr, word: int, values: dict[str, int]) -> None:
        self.instr = instr
        self.word = word
        self.sem = instr.semantics
        for name, value in values.items():
            setattr(self, name, value)
        self.values = values

    def __repr__(self) -> str:
        return f"Decoded({self.instr.key}, {self.word:#010x}, {self.values})"


# --- The table -------------------------------------------------------------------------------------
INSTRUCTIONS: list[Instr] = []
BY_MNEMONIC: dict[str, list[Instr]] = {}


def register(*instrs: Instr) -> None:
    """Add entries to the table (called by the extension modules at import)."""
    for ins in instrs:
        if any(i.key == ins.key for i in BY_MNEMONIC.get(ins.mnemonic, ())):
            raise ValueError(f"instruction {ins.key} defined twice")
        INSTRUCTIONS.append(ins)
        BY_MNEMONIC.setdefault(ins.mnemonic, []).append(ins)


def instr(mnemonic: str, syntax: str, encoding: str, timing: str, extension: str,
          **kwargs: Any) -> Callable[[Semantics], Semantics]:
    """Decorator form: define an instruction whose semantics is the decorated function."""
    def wrap(fn: Semantics) -> Semantics:
        register(Instr(mnemonic, syntax, encoding, fn, timing, extension, **kwargs))
        return fn
    return wrap


Kind = Kind  # re-exported for extension modules
