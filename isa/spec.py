"""What an instruction entry is, and the table that holds them all.

Each instruction is one `Instr`: mnemonic, operand syntax, encoding, semantics, timing class.
The encoding string names the fixed bits the way riscv-opcodes does (`31..25=0 14..12=0 6..0=0x33`);
the operand fields (from `isa.fields`) come from the syntax. Together they must cover all 32 bits
(16 for a compressed entry) exactly once, which `Instr.__post_init__` checks, so a typo in a table
entry fails at import.

A compressed (RVC) entry is a second encoding of a 32-bit entry, the way Sail maps C forms onto the
same execute clauses: `compressed(...)` gives its 16-bit encoding, its syntax and its expansion
written in assembly over its own operands (`"addi rd, rd, imm6"`); it has no semantics or timing of
its own (both are its expansion's), and decoding it yields the expansion's `Decoded` (size 2), so
everything that executes, times or pre-decodes instructions sees only 32-bit entries.

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
_EXPANSION_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|-?\d+|[,()!])")


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
    size: int = 4               # bytes: 2 for a compressed encoding
    expands: "Instr | None" = None   # compressed: the 32-bit entry it stands for
    expansion: tuple[tuple[str, str | int], ...] = ()   # compressed: (expands' operand, own operand or constant)
    reserved: dict[str, tuple[int, ...]] = field(default_factory=dict)  # operand values that are not this entry
    hints: dict[str, tuple[int, ...]] = field(default_factory=dict)     # values that make it a HINT (a no-op)
    also: tuple[tuple[Instr, tuple[tuple[str, str | int], ...]], ...] = ()  # more 32-bit forms it compresses
    auto: bool = True           # compressed: the assembler writes its expansion as it with RVC on
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
        known = DERIVED.get((self.key, self.syntax, self.encoding, self.size))
        if known is not None:       # built and checked by an earlier process from the same sources
            self.template, self.operands, self.match, self.mask = known
            if not self.description:
                self.description = " ".join((self.semantics.__doc__ or "").split())
            return
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
        full = (1 << (8 * self.size)) - 1
        if operand_mask | self.mask != full or (operand_mask | self.mask) & ~full:
            raise ValueError(f"{self.mnemonic}: bits {~(operand_mask | self.mask) & full:#010x} "
                             "are neither fixed nor an operand")
        for name in (*self.reserved, *self.hints):
            if name not in self.operands:
                raise ValueError(f"{self.mnemonic}: reserved or HINT values for absent operand {name!r}")
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


# The derived fields of every entry, (key, syntax, encoding, size) -> (template, operands, match,
# mask), as an earlier process built and checked them from the same sources of this package
# (isa.ext saves and loads them through the disk cache, keyed by those sources' hash): deriving and
# checking them is almost half of building the table at import. Empty: every entry is checked.
DERIVED: dict[tuple[str, str, str, int], tuple[tuple[str, ...], tuple[str, ...], int, int]] = {}


_FIXED_TERM = re.compile(r"(\d+)(?:\.\.(\d+))?=(0x[0-9a-fA-F]+|0b[01]+|\d+)")


def parse_fixed_bits(encoding: str, what: str = "") -> tuple[int, int]:
    """Parse `hi..lo=value` / `bit=value` terms into (match, mask)."""
    match = mask = 0
    for term in encoding.split():
        m = _FIXED_TERM.fullmatch(term)
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

    `instr` is the entry whose semantics run (for a second encoding, its twin; for a compressed
    instruction, its 32-bit expansion; `values` then use that entry's operand names); `encoding` is
    the row the word matched, which the disassembler prints (with `encoding_values`, its own operand
    values, when they are not a renaming of `values`); `size` is 2 for a compressed instruction (the
    word is then the 16-bit parcel)."""

    def __init__(self, instr: Instr, word: int, values: dict[str, int], encoding: Instr | None = None,
                 size: int = 4, encoding_values: dict[str, int] | None = None) -> None:
        self.instr = instr
        self.encoding = encoding or instr
        self.word = word
        self.sem = instr.semantics
        for name, value in values.items():
            setattr(self, name, value)
        self.values = values
        self.size = size
        self.encoding_values = encoding_values

    def __repr__(self) -> str:
        if self.encoding is not self.instr:
            return f"Decoded({self.encoding.key} -> {self.instr.key}, {self.word:#010x}, {self.values})"
        return f"Decoded({self.instr.key}, {self.word:#010x}, {self.values})"


# --- The table -------------------------------------------------------------------------------------
INSTRUCTIONS: list[Instr] = []          # entries with semantics of their own (compiled-engine ops)
ENCODINGS: list[Instr] = []             # every 32-bit row: INSTRUCTIONS plus the second encodings
COMPRESSED: list[Instr] = []            # the 16-bit (RVC) encodings of some of them, common to every set
BY_MNEMONIC: dict[str, list[Instr]] = {}
BY_KEY: dict[str, Instr] = {}

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
        if ins.key in BY_KEY:
            raise ValueError(f"instruction {ins.key} defined twice")
        if ins.size == 2:
            COMPRESSED.append(ins)
        else:
            if ins.twin is None:
                INSTRUCTIONS.append(ins)
            ENCODINGS.append(ins)
        BY_MNEMONIC.setdefault(ins.mnemonic, []).append(ins)
        BY_KEY[ins.key] = ins


def _expansion(mnemonic: str, syntax: str, expansion: str) -> tuple[Instr, tuple[tuple[str, str | int], ...]]:
    """The 32-bit entry named by `expansion` and, per operand of it, this form's operand or a constant."""
    from mcusim.isa.fields import F_REGISTERS, X_REGISTERS
    target_key, _, args = expansion.partition(" ")
    target = BY_KEY.get(target_key)
    if target is None or target.size != 4:
        raise ValueError(f"{mnemonic}: expansion {target_key!r} is not a 32-bit entry")
    tokens = tuple(_EXPANSION_TOKEN.findall(args)) if args else ()
    if len(tokens) != len(target.template):
        raise ValueError(f"{mnemonic}: expansion {expansion!r} does not match {target.key} {target.syntax}")
    own = tuple(_TEMPLATE_TOKEN.findall(syntax)) if syntax else ()
    mapping: list[tuple[str, str | int]] = []
    for tok, slot in zip(tokens, target.template):
        if slot in ",()!":
            if tok != slot:
                raise ValueError(f"{mnemonic}: expansion {expansion!r} does not match {target.key} {target.syntax}")
            continue
        if tok in own:
            mapping.append((slot, tok))
        elif tok in X_REGISTERS or tok in F_REGISTERS:
            mapping.append((slot, X_REGISTERS.get(tok, F_REGISTERS.get(tok))))
        elif re.fullmatch(r"-?\d+", tok):
            mapping.append((slot, int(tok)))
        else:
            raise ValueError(f"{mnemonic}: expansion operand {tok!r} is not an operand of {mnemonic}")
    return target, tuple(mapping)


def compressed(mnemonic: str, syntax: str, encoding: str, expansion: str, extension: str,
               reserved: dict[str, tuple[int, ...]] | None = None,
               hints: dict[str, tuple[int, ...]] | None = None, also: tuple[str, ...] = (),
               auto: bool = True) -> Instr:
    """Register a 16-bit encoding of a 32-bit entry. `expansion` is the instruction it stands for in
    assembly syntax (the 32-bit entry's key as the mnemonic), each operand one of this entry's operand
    names, a register name or a number. `reserved`: operand values whose encodings are not this
    instruction (reserved, or another instruction's encoding); `hints`: values that make it a HINT
    (legal, a no-op; the assembler writes one only when asked by its c. mnemonic); `also`: other
    32-bit instructions with the same effect that the assembler compresses to it, as GNU as does
    (`mv` = `addi rd, rs, 0` to c.mv); `auto` False: the assembler never compresses to it (GNU as
    keeps `jal ra, label` 32-bit)."""
    target, mapping = _expansion(mnemonic, syntax, expansion)
    args = expansion.partition(" ")[2]
    entry = Instr(mnemonic, syntax, encoding, target.semantics, target.timing, extension,
                  description=f"{target.mnemonic} {args}".strip(), reads_dest=target.reads_dest, size=2,
                  expands=target, expansion=mapping, reserved=dict(reserved or {}), hints=dict(hints or {}),
                  also=tuple(_expansion(mnemonic, syntax, e) for e in also), auto=auto)
    register(entry)
    return entry


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
