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
    # A second encoding of another entry (Sail's "another mapping onto the same execute"): the row
    # has its own mnemonic, syntax and bits, and decodes to `twin` (same semantics function, timing
    # class and compiled-engine op); `rename` maps this row's operand fields to the twin's.
    twin: "Instr | None" = None
    rename: dict[str, str] = field(default_factory=dict)
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
        if self.twin is not None:
            mine = sorted(self.rename.get(n, n) for n in self.operands)
            if mine != sorted(self.twin.operands):
                raise ValueError(f"{self.mnemonic}: operands {mine} are not those of its twin "
                                 f"{self.twin.key} {sorted(self.twin.operands)}")

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
    """A decoded instruction: the table entry, the word, and one attribute per operand.

    `instr` is the entry whose semantics run (for a second encoding, its twin; `values` then use
    the twin's operand names); `encoding` is the row the word matched, which the disassembler
    prints."""

    def __init__(self, instr: Instr, word: int, values: dict[str, int], encoding: Instr | None = None) -> None:
        self.instr = instr
        self.encoding = encoding or instr
        self.word = word
        self.sem = instr.semantics
        for name, value in values.items():
            setattr(self, name, value)
        self.values = values

    def __repr__(self) -> str:
        return f"Decoded({self.instr.key}, {self.word:#010x}, {self.values})"


# --- The table -------------------------------------------------------------------------------------
INSTRUCTIONS: list[Instr] = []          # entries with semantics of their own (compiled-engine ops)
ENCODINGS: list[Instr] = []             # every row: INSTRUCTIONS plus the second encodings
BY_MNEMONIC: dict[str, list[Instr]] = {}

# Custom-extension sets a core decodes (`core.custom_isa`): the Xpulpv2 and the CORE-V (CV32E40P v2)
# encodings of the PULP extensions overlap in encoding space, so a run decodes one of them. A row
# whose extension is listed here belongs to that set only; every other row (RV32IMF, Zfh, Xfvec...)
# belongs to all sets. Each set is a view of ENCODINGS (isa.codec.rows).
CUSTOM_ISAS: dict[str, tuple[str, ...]] = {
    "xpulpv2": ("Xpulpv2",),
    "corev": ("XCVmem", "XCValu", "XCVbi", "XCVbitmanip", "XCVmac", "XCVsimd", "XCVhwlp"),
}
DEFAULT_ISA = "xpulpv2"
# The arch string of an ELF's .riscv.attributes names the set: an extension with one of these
# prefixes picks it (clang -march=..._xcvmac...; the PULP GNU toolchain's ..._xpulpv2...).
ARCH_PREFIXES: dict[str, str] = {"xcv": "corev", "xpulp": "xpulpv2"}
# What mcusim's assembler appends to its arch string for a program that needs a set's own encodings.
ARCH_EXTENSIONS: dict[str, str] = {
    "corev": "_xcvalu1p0_xcvbi1p0_xcvbitmanip1p0_xcvhwlp1p0_xcvmac1p0_xcvmem1p0_xcvsimd1p0",
    "xpulpv2": "",      # the default: mcusim's ELFs have always meant Xpulpv2
}
ISA_OF_EXTENSION: dict[str, str] = {ext: isa for isa, exts in CUSTOM_ISAS.items() for ext in exts}


def custom_isa_of_arch(arch: str) -> str | None:
    """The custom-extension set an ELF arch string names (rv32imf_xcvmac1p0 -> "corev"), or None."""
    for ext in arch.lower().split("_")[1:]:
        for prefix, isa in ARCH_PREFIXES.items():
            if ext.startswith(prefix):
                return isa
    return None


def register(*instrs: Instr) -> None:
    """Add entries to the table (called by the extension modules at import)."""
    for ins in instrs:
        if any(i.key == ins.key for i in BY_MNEMONIC.get(ins.mnemonic, ())):
            raise ValueError(f"instruction {ins.key} defined twice")
        if ins.twin is None:
            INSTRUCTIONS.append(ins)
        ENCODINGS.append(ins)
        BY_MNEMONIC.setdefault(ins.mnemonic, []).append(ins)


def instr(mnemonic: str, syntax: str, encoding: str, timing: str, extension: str,
          **kwargs: Any) -> Callable[[Semantics], Semantics]:
    """Decorator form: define an instruction whose semantics is the decorated function."""
    def wrap(fn: Semantics) -> Semantics:
        register(Instr(mnemonic, syntax, encoding, fn, timing, extension, **kwargs))
        return fn
    return wrap


def find(key: str) -> Instr:
    """The entry with this key (`mnemonic` or `mnemonic [form]`)."""
    mnemonic = key.split(" [")[0]
    for entry in BY_MNEMONIC.get(mnemonic, ()):
        if entry.key == key:
            return entry
    raise KeyError(f"no instruction {key!r}")


def second_encoding(twin_key: str, mnemonic: str, encoding: str, extension: str, syntax: str | None = None,
                    rename: dict[str, str] | None = None, **kwargs: Any) -> Instr:
    """Register `mnemonic` as another encoding of the entry `twin_key` (same semantics function,
    timing class and compiled-engine op); `syntax` defaults to the twin's."""
    twin = find(twin_key)
    row = Instr(mnemonic, twin.syntax if syntax is None else syntax, encoding, twin.semantics, twin.timing,
                extension, defaults=dict(twin.defaults), description=twin.description,
                reads_dest=twin.reads_dest, twin=twin, rename=rename or {}, **kwargs)
    register(row)
    return row


def fixed_bits_text(match: int, mask: int) -> str:
    """The `hi..lo=value` terms of a (match, mask) pair, one per run of fixed bits (inverse of
    parse_fixed_bits), so a second encoding can be written as its twin's bits with a few changed."""
    terms = []
    bit = 31
    while bit >= 0:
        if not mask >> bit & 1:
            bit -= 1
            continue
        hi = bit
        while bit >= 0 and mask >> bit & 1:
            bit -= 1
        lo = bit + 1
        value = (match >> lo) & ((1 << (hi - lo + 1)) - 1)
        terms.append(f"{hi}..{lo}={value:#x}" if hi != lo else f"{hi}={value}")
    return " ".join(terms)


def respell(entry: Instr, **fields: int) -> str:
    """`entry`'s fixed bits with some ranges replaced: respell(e, b6_0=0x7b, b31_27=18)."""
    match, mask = entry.match, entry.mask
    for name, value in fields.items():
        hi, lo = (int(x) for x in name[1:].split("_"))
        bits = ((1 << (hi - lo + 1)) - 1) << lo
        match = (match & ~bits) | (value << lo)
        mask |= bits
    return fixed_bits_text(match, mask)


Kind = Kind  # re-exported for extension modules
