"""Two-pass assembler for GNU `as` syntax, driven by the instruction table (`isa.spec`).

Reading turns each source statement into a `_Stmt` (labels, directives, instructions with operands
already matched against the table, pseudo-instructions already expanded). Pass 1 walks the
statements to size them and give labels section-relative values; sections are then placed
(`program.place_sections`); pass 2 walks them again with absolute addresses and emits bytes. Every
statement's size is fixed in pass 1: `li` of a value pass 1 cannot know (a forward symbol, or any
address) always takes two instructions (lui + addi), where GNU `as` would require a constant.
Forward references in .equ/.set are resolved between the passes.

Speed: what an instruction statement assembles to rarely depends on where it is (only `1f`/`1b`
do), so each distinct instruction line is read once per process (`_PARSED`, `_OPERANDS`: kernel
programs repeat most of their lines), and instructions whose operands are all numbers are encoded
then; pass 2 only evaluates operands that name symbols, `.` or branch targets.

Errors: the first mistake raises `AsmError` (file:line:column: error: message); the assembler does
not try to continue after it.

Matched GNU `as` (riscv64-unknown-elf-as 2.40, -mno-relax) behaviours, checked word for word in
tests/test_assembler.py: pseudo-instruction expansions (li sequences, la/lla/call/tail/symbol loads
and stores as auipc pairs, `tail` through t1), operator precedence, `-1` for true comparisons, octal
`010`, `.` in data directives = the address of each item, code padding (zero byte, c.nop, nops),
`.float nan` = all-ones payload, `.align N` = 2**N bytes.
Deliberate differences:
- `li` of a non-constant: two instructions (GNU: error). `lw rd, 100` is an error, as in GNU.
- `.align`/`.balign` of 4 bytes or less in code really aligns (GNU -mno-relax without C skips it).
- `.float`/`.float16`/`.double` round exact decimal ties to even (GNU rounds some ties away).
- A value that does not fit its .byte/.half/.word is an error (GNU: warning and truncation).
- Expressions use unbounded integers (GNU: 64-bit); results are range-checked where used.
- A section named without flags gets "aw" unless its name says text/rodata/bss (GNU: no flags).
- `%pcrel_lo(L)` must follow the auipc at L; `\\@` in macros counts every expansion.
- The ELF symbol table has every label except numeric local labels, and .equ symbols only if global.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Callable

from mcusim.isa.codec import EncodeError, encode, isas_of
from mcusim.isa.fields import FIELDS, FieldError, Kind
from mcusim.isa.spec import BY_MNEMONIC, CUSTOM_ISAS, Instr, custom_isa_of_arch
from mcusim.kernels_asm import cluster_ops, pseudo
from mcusim.kernels_asm.errors import AsmError
from mcusim.kernels_asm.expr import FLOAT_FORMATS, Node, Num, Rel, Sym, Unknown, Value, evaluate, float_bits, lo12, parse_expr
from mcusim.kernels_asm.lexer import IDENT, Token, split_line, tokenize
from mcusim.kernels_asm.operands import Operand, match
from mcusim.kernels_asm.program import Program, Section, Symbol, place_sections
from mcusim.simulator.memory_map import MAX_REGIONS, REGION_SYMBOL_PREFIX

NOP = 0x0000_0013        # addi x0, x0, 0
C_NOP = 0x0001           # GNU pads a 2-byte gap in code with c.nop even without the C extension
_LABEL = re.compile(rf"\s*({IDENT}|\d+)\s*:")
_ASSIGN = re.compile(rf"\s*({IDENT})\s*=(?!=)")
_MNEMONIC = re.compile(rf"\s*({IDENT})(?=\s|$)")
_MAX_MACRO_DEPTH = 50
_LOCAL_SEP = "\x02"      # numeric local label `1:` number k is the symbol "1\x02k" (never in the ELF)
_IGNORED = (".file", ".ident", ".option", ".attribute", ".loc", ".addrsig", ".addrsig_sym", ".hidden",
            ".protected", ".internal")   # and every .cfi_* directive
_DATA_WIDTHS = {".byte": 1, ".half": 2, ".2byte": 2, ".short": 2, ".word": 4, ".4byte": 4, ".long": 4,
                ".int": 4, ".dword": 8, ".8byte": 8, ".quad": 8}
Location = tuple[str, int, int]        # file, line, column


def field_kind(name: str) -> Kind:
    return FIELDS[name].kind


def default_flags(name: str) -> tuple[str, bool]:
    """Flags ("awx" subset) and nobits for a section named without explicit flags. Unknown names are
    allocated and writable (GNU would leave them unallocated, which no loader would load)."""
    if name.startswith((".bss", ".sbss")) or name.endswith(".bss"):
        return "aw", True
    if name == ".text" or name.startswith(".text."):
        return "ax", False
    if name.startswith((".rodata", ".srodata")):
        return "a", False
    return "aw", False


# --- Statements ------------------------------------------------------------------------------------
class _Stmt:
    """One source statement. `run` is called in both passes (`p.final` tells which). `origin` is the
    macro invocation it comes from (None outside macros) and `origin_macro` that macro's name.
    (Slots: a program has a statement per line.)"""
    __slots__ = ("file", "line", "col", "text", "origin", "origin_macro")
    file: str
    line: int
    col: int
    text: str
    origin: Location | None
    origin_macro: str

    def run(self, p: _Pass) -> None:
        raise NotImplementedError


class _Label(_Stmt):
    __slots__ = ("name", "shown")

    def __init__(self, name: str, shown: str) -> None:
        self.name, self.shown = name, shown

    def run(self, p: _Pass) -> None:
        if p.final:
            return
        sym = p.asm.symbols.get(self.name)
        if sym is not None and sym.value is not None:
            where = f" (first defined at {sym.file}:{sym.line})" if sym.file else ""
            raise AsmError(f"symbol '{self.shown}' is already defined{where}", self.col)
        if sym is None:
            sym = p.asm.symbols[self.name] = _SymbolInfo(self.name)
        sym.value, sym.is_label, sym.file, sym.line = Rel(p.section, p.offset), True, *p.asm.where(self)[:2]


class _Instructions(_Stmt):
    """Instructions of one source statement: each item is a word already encoded when the line was
    read (`_constant_word`), or (entry, operands) to encode in pass 2."""
    __slots__ = ("items",)

    def __init__(self, items: tuple[int | tuple[Instr, dict[str, Operand]], ...]) -> None:
        self.items = items

    def run(self, p: _Pass) -> None:
        p.check_code(self)
        if not p.final:
            p.offset += 4 * len(self.items)
            return
        where = p.asm.where(self)[:2]
        for item in self.items:
            p.put_word(item if type(item) is int else _encode(*item, p), where)


class _ConstantRun(_Stmt):
    """Consecutive instruction lines whose words were all encoded when they were read (`_Parsed.code`),
    from one place (file or macro expansion): one statement for the passes, which is all they need;
    its location is the first line's (the only error they can cause is a nobits section, reported
    there as it would be for that line), and each word keeps its own line for the line map."""
    __slots__ = ("code", "lines")

    def __init__(self) -> None:
        self.code = bytearray()
        self.lines: list[int] = []      # source line of each word

    def add(self, parsed: _Parsed, line: int) -> None:
        self.code += parsed.code
        self.lines += [line] * (len(parsed.code) // 4)

    def run(self, p: _Pass) -> None:
        p.check_code(self)
        if p.final:
            line_map, address = p.line_map, p.bases[p.section] + p.offset
            last = where = None
            for line in self.lines:
                if line != last:
                    where, last = p.asm.where(self, line)[:2], line
                line_map[address] = where
                address += 4
            p.data[p.section] += self.code
        p.offset += len(self.code)


def _li_words(rd: int, seq: list[tuple[str, int]]) -> list[int]:
    """The words of an li sequence (`pseudo.li_sequence`, or lui + addi) into rd."""
    addi, lui = BY_MNEMONIC["addi"][0], BY_MNEMONIC["lui"][0]
    words = []
    for mnemonic, imm in seq:
        if mnemonic == "lui":
            words.append(encode(lui, {"rd": rd, "uimm20": imm}))
        else:
            words.append(encode(addi, {"rd": rd, "rs1": rd if len(seq) == 2 else 0, "imm12": imm}))
    return words


class _LoadImmediate(_Stmt):
    """li: sized in pass 1 from the value if pass 1 knows it, else two instructions."""
    __slots__ = ("rd", "operand", "words", "pass1_value")

    def __init__(self, rd: int, operand: Operand) -> None:
        self.rd, self.operand = rd, operand
        self.words = 0
        self.pass1_value: int | None = None

    def value(self, p: _Pass) -> int:
        value = p.absolute(evaluate(self.operand.expr, p))
        if not _li_fits(value):
            raise AsmError(f"li value {value:#x} does not fit in 32 bits", self.operand.col)
        return value

    def run(self, p: _Pass) -> None:
        p.check_code(self)
        if not p.final:
            try:
                self.pass1_value = self.value(p)
                self.words = len(pseudo.li_sequence(self.pass1_value))
            except Unknown:
                self.words = 2
            p.offset += 4 * self.words
            return
        value = self.value(p)
        if self.pass1_value is not None:
            seq = pseudo.li_sequence(value)
            if len(seq) != self.words:
                raise AsmError("li value changed between passes (.set redefined after use?)", self.operand.col)
        else:
            low = lo12(value)
            seq = [("lui", ((value - low) >> 12) & 0xFFFFF), ("addi", low)]
        where = p.asm.where(self)[:2]
        for word in _li_words(self.rd, seq):
            p.put_word(word, where)


def _li_fits(value: int) -> bool:
    return -(1 << 31) <= value < (1 << 32)


# --- Lines read once: what an instruction line assembles to ------------------------------------------
class _ConstantContext:
    """Evaluation context for folding an operand at read time: any symbol, `.`, pc or section-relative
    value makes it Unknown (it is then evaluated in the passes, as usual)."""

    def symbol(self, node: Sym) -> Value:
        raise Unknown(node.name)

    def dot(self) -> Rel:
        raise Unknown(".")

    def pc(self) -> int:
        raise Unknown(".")

    def absolute(self, value: Value) -> int:
        if isinstance(value, int):
            return value
        raise Unknown(value.section)

    def record_pcrel_hi(self, target: int) -> None:
        raise Unknown(".")

    def pcrel_hi_target(self, address: int, col: int) -> int:
        raise Unknown(".")


_CONSTANT = _ConstantContext()


def _constant(op: Operand) -> int | None:
    """The operand's value if it is a number without symbols, else None."""
    if op.value is not None:
        return op.value
    try:
        return evaluate(op.expr, _CONSTANT)
    except (Unknown, AsmError):
        return None


def _constant_word(entry: Instr, ops: dict[str, Operand]) -> int | None:
    """The word of an instruction whose operands are all numbers (no symbol, `.` or pc-relative
    field); None otherwise, or when it does not encode (pass 2 then encodes it and reports the error
    where GNU would)."""
    values = {}
    for name, op in ops.items():
        if FIELDS[name].kind is Kind.PCREL:
            return None
        value = _constant(op)
        if value is None:
            return None
        values[name] = value
    try:
        return encode(entry, values)
    except EncodeError:
        return None


_ALL_ISAS = frozenset(CUSTOM_ISAS)


class _Parsed:
    """What an instruction statement assembles to, independent of the program it is in: its
    instructions (words or (entry, operands), see `_Instructions`), or an li whose size the passes
    decide; `code` holds the bytes when every word is known already. Statements without labels are
    read once per process (`_PARSED`, by text and column; `mnemonic` and `col` are the mnemonic and
    its column)."""
    __slots__ = ("items", "li", "code", "mnemonic", "col", "isas")

    def __init__(self, items: tuple = (), li: tuple[int, Operand] | None = None,
                 isas: frozenset[str] = _ALL_ISAS) -> None:
        self.items, self.li = items, li
        self.isas = isas          # the custom-extension sets whose cores run these words as written
        constant = li is None and all(type(item) is int for item in items)
        self.code = b"".join(word.to_bytes(4, "little") for word in items) if constant else None
        self.mnemonic, self.col = "", 0

    @classmethod
    def of(cls, result: list[tuple[Instr, dict[str, Operand]]] | pseudo.LoadImmediate) -> _Parsed:
        if isinstance(result, pseudo.LoadImmediate):
            value = _constant(result.operand)
            if value is None or not _li_fits(value):
                return cls(li=(result.rd, result.operand))
            try:
                return cls(tuple(_li_words(result.rd, pseudo.li_sequence(value))))
            except EncodeError:
                return cls(li=(result.rd, result.operand))
        items = []
        isas = _ALL_ISAS
        for entry, ops in result:
            word = _constant_word(entry, ops)
            items.append((entry, ops) if word is None else word)
            isas &= isas_of(entry)
        return cls(tuple(items), isas=_ALL_ISAS if isas == _ALL_ISAS else isas)

    def statement(self) -> _Stmt:
        if self.li is not None:
            return _LoadImmediate(*self.li)
        return _Instructions(self.items)


# Instruction statements read before: by statement text and column (statements without labels), and
# by mnemonic, operand text and operand column (any instruction, e.g. after a label or a region marker's
# store). A mnemonic's column follows from its operands' column, so both give the same _Parsed.
_PARSED: dict[tuple[str, int], _Parsed] = {}
_OPERANDS: dict[tuple[str, str, int], _Parsed] = {}
_PARSED_MAX = 50_000       # entries kept (a training step reads about 20,000 statements, 2,700 distinct)


def _remember(cache: dict, key: tuple, parsed: _Parsed) -> None:
    if len(cache) >= _PARSED_MAX:
        cache.clear()
    cache[key] = parsed


class _Data(_Stmt):
    __slots__ = ("width", "items")

    def __init__(self, width: int, items: list[tuple[Node, int]]) -> None:
        self.width, self.items = width, items

    def run(self, p: _Pass) -> None:
        if not p.final:
            p.offset += self.width * len(self.items)
            return
        bits = 8 * self.width
        for node, col in self.items:
            p.stmt_offset = p.offset        # as in GNU, `.` is the address of the item itself
            value = p.absolute(evaluate(node, p))
            if not -(1 << (bits - 1)) <= value < (1 << bits):
                raise AsmError(f"value {value:#x} does not fit in {self.width} byte(s)", col)
            p.put((value & ((1 << bits) - 1)).to_bytes(self.width, "little"), col)


class _Bytes(_Stmt):
    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def run(self, p: _Pass) -> None:
        p.put(self.data, self.col)


class _Space(_Stmt):
    """.space/.skip/.zero size[, fill] and .fill repeat[, size[, value]]."""
    __slots__ = ("count", "unit", "fill")

    def __init__(self, count: tuple[Node, int], unit: tuple[Node, int] | None,
                 fill: tuple[Node, int] | None) -> None:
        self.count, self.unit, self.fill = count, unit, fill

    def run(self, p: _Pass) -> None:
        count = p.constant(*self.count)
        unit = p.constant(*self.unit) if self.unit else 1
        if count < 0 or not 0 <= unit <= 8:
            raise AsmError(f"bad size {count if count < 0 else unit}", self.count[1])
        if not p.final:
            p.offset += count * unit
            return
        fill = p.absolute(evaluate(self.fill[0], p)) if self.fill else 0
        if self.unit:   # .fill: each unit holds the low 4 bytes of the value, the rest zero
            chunk = (fill & 0xFFFF_FFFF).to_bytes(4, "little")[:unit] + bytes(max(0, unit - 4))
        else:
            chunk = bytes([fill & 0xFF])
        p.put(chunk * count, self.col)


class _Align(_Stmt):
    __slots__ = ("power", "amount", "fill", "limit")

    def __init__(self, power: bool, amount: tuple[Node, int], fill: tuple[Node, int] | None,
                 limit: tuple[Node, int] | None) -> None:
        self.power, self.amount, self.fill, self.limit = power, amount, fill, limit

    def run(self, p: _Pass) -> None:
        amount = p.constant(*self.amount)
        if self.power:
            if not 0 <= amount <= 16:
                raise AsmError(f"alignment 2**{amount} out of range [0, 16]", self.amount[1])
            boundary = 1 << amount
        else:
            boundary = amount or 1
            if boundary & (boundary - 1) or boundary > 1 << 16:
                raise AsmError(f"alignment {amount} is not a power of 2 (up to 65536)", self.amount[1])
        pad = -p.offset % boundary
        if self.limit is not None and pad > p.constant(*self.limit):
            return
        p.asm.sections[p.section].align = max(p.asm.sections[p.section].align, boundary)
        if not p.final:
            p.offset += pad
        elif self.fill is not None:
            p.put(bytes([p.constant(*self.fill) & 0xFF]) * pad, self.col)
        elif "x" in p.asm.sections[p.section].flags:
            p.put(_nops(pad), self.col)
        else:
            p.put(bytes(pad), self.col)


def _nops(count: int) -> bytes:
    """GNU's code padding: a zero byte if the gap is odd, one c.nop if needed, then nops."""
    out = bytes(count % 2)
    if (count - len(out)) % 4 == 2:
        out += C_NOP.to_bytes(2, "little")
    return out + NOP.to_bytes(4, "little") * ((count - len(out)) // 4)


class _SetSymbol(_Stmt):
    __slots__ = ("name", "node", "kind")

    def __init__(self, name: str, node: Node, kind: str) -> None:
        self.name, self.node, self.kind = name, node, kind

    def run(self, p: _Pass) -> None:
        symbols = p.asm.symbols
        sym = symbols.get(self.name)
        if not p.final:
            if sym is not None and sym.is_label:
                raise AsmError(f"'{self.name}' is already defined as a label", self.col)
            if sym is not None and sym.value is not None and self.kind == ".equiv":
                raise AsmError(f"'{self.name}' is already defined (.equiv forbids redefinition)", self.col)
            if sym is None:
                sym = symbols[self.name] = _SymbolInfo(self.name)
            sym.file, sym.line = p.asm.where(self)[:2]
            sym.pending = self.node
            try:
                sym.value = evaluate(self.node, p)
            except Unknown:
                sym.value = None
            return
        sym.value = evaluate(self.node, p)


class _Switch(_Stmt):
    """.text/.data/.section/.pushsection (name set), .previous, .popsection (name None)."""
    __slots__ = ("how", "name", "flags", "nobits")

    def __init__(self, how: str, name: str | None = None, flags: str | None = None,
                 nobits: bool | None = None) -> None:
        self.how, self.name, self.flags, self.nobits = how, name, flags, nobits

    def run(self, p: _Pass) -> None:
        if self.how == "previous":
            p.switch(p.previous)
        elif self.how == "pop":
            if not p.stack:
                raise AsmError(".popsection without .pushsection", self.col)
            p.switch(p.stack.pop())
        else:
            if not p.final:
                p.asm.declare_section(self.name, self.flags, self.nobits)
            if self.how == "push":
                p.stack.append(p.section)
            p.switch(self.name)


class _SymbolAttr(_Stmt):
    """.globl/.local/.weak (attr = binding), .type (attr = "type"), .size (attr = "size")."""
    __slots__ = ("attr", "name", "value")

    def __init__(self, attr: str, name: str, value: str | tuple[Node, int] | None = None) -> None:
        self.attr, self.name, self.value = attr, name, value

    def run(self, p: _Pass) -> None:
        sym = p.asm.symbols.setdefault(self.name, _SymbolInfo(self.name))
        if self.attr == "size":
            if p.final:
                sym.size = p.constant(*self.value)
        elif self.attr == "type":
            sym.type = self.value
        else:
            sym.binding = self.attr


@dataclass
class _SymbolInfo:
    name: str
    value: Value | None = None
    is_label: bool = False
    binding: str = "local"
    type: str = ""
    size: int = 0
    file: str = ""
    line: int = 0
    pending: Node | None = None      # .equ/.set expression, for forward references


@dataclass
class _SectionInfo:
    name: str
    flags: str
    nobits: bool
    align: int = 1


def _encode(entry: Instr, ops: dict[str, Operand], p: _Pass) -> int:
    pc = p.pc()
    values: dict[str, int] = {}
    for name, op in ops.items():
        try:
            value = op.value if op.value is not None else p.absolute(evaluate(op.expr, p))
        except AsmError as exc:
            if FIELDS[name].kind is Kind.CSR and isinstance(op.expr, Sym):
                exc.message = f"unknown CSR '{op.expr.shown}' (not a CSR name nor a defined symbol)"
            raise
        if FIELDS[name].kind is Kind.PCREL:
            offset = ((value - pc + (1 << 31)) & 0xFFFF_FFFF) - (1 << 31)
            if offset % 4:
                raise AsmError(f"misaligned branch target {value & 0xFFFF_FFFF:#x} (instructions are "
                               "4-byte aligned)", op.col)
            value = offset
        values[name] = value
    try:
        return encode(entry, values)
    except EncodeError as exc:
        for name, op in ops.items():
            field = FIELDS[name]
            try:
                field.encode(values[name])
            except FieldError as fexc:
                if field.kind is Kind.PCREL:
                    low, high = field.value_range
                    target = (pc + values[name]) & 0xFFFF_FFFF
                    raise AsmError(f"{entry.mnemonic}: target {target:#x} is out of range (offset "
                                   f"{values[name]} from {pc:#x}; {name} holds [{low}, {high}])", op.col) from None
                raise AsmError(f"{entry.mnemonic}: {fexc}", op.col) from None
        raise AsmError(str(exc)) from None


# --- Passes ----------------------------------------------------------------------------------------
class _Pass:
    """State of one walk over the statements; also the expression evaluation context."""

    def __init__(self, asm: _Assembler, bases: dict[str, int] | None) -> None:
        self.asm = asm
        self.final = bases is not None
        self.bases = bases or {}
        self.section = self.previous = ".text"
        self.stack: list[str] = []
        self.offsets: dict[str, int] = {name: 0 for name in asm.sections}
        self.offset = 0
        self.stmt_offset = 0
        self.data: dict[str, bytearray] = {name: bytearray() for name in asm.sections}
        self.pcrel_hi: dict[int, int] = {}
        self.line_map: dict[int, tuple[str, int]] = {}

    def switch(self, name: str) -> None:
        self.offsets[self.section] = self.offset
        self.previous, self.section = self.section, name
        self.offset = self.offsets.setdefault(name, 0)
        self.data.setdefault(name, bytearray())

    def check_code(self, stmt: _Stmt) -> None:
        if self.asm.sections[self.section].nobits:
            raise AsmError(f"instructions in nobits section {self.section}", stmt.col)

    def put(self, data: bytes, col: int) -> None:
        if self.final:
            if self.asm.sections[self.section].nobits:
                if any(data):
                    raise AsmError(f"non-zero data in nobits section {self.section}", col)
            else:
                self.data[self.section] += data
        self.offset += len(data)

    def put_word(self, word: int, where: tuple[str, int]) -> None:
        """An instruction word in pass 2, from source `where` (file, line); the caller has checked
        that the section takes code."""
        self.line_map[self.bases[self.section] + self.offset] = where
        self.data[self.section] += word.to_bytes(4, "little")
        self.offset += 4

    def constant(self, node: Node, col: int) -> int:
        """A value that must be a number in pass 1 already (sizes, alignments)."""
        try:
            value = evaluate(node, self)
        except Unknown:
            value = None
        if not isinstance(value, int):
            raise AsmError("expected a constant expression (no forward references or addresses)", col)
        return value

    # Evaluation context (kernels_asm.expr.Context)
    def symbol(self, node: Sym) -> Value:
        sym = self.asm.symbols.get(node.name)
        if sym is None or sym.value is None:
            if not self.final:
                raise Unknown(node.name)
            if _LOCAL_SEP in node.name:
                raise AsmError(f"local label '{node.shown}' is not defined after this point", node.col)
            raise AsmError(f"undefined symbol '{node.shown}'", node.col)
        return sym.value

    def dot(self) -> Rel:
        return Rel(self.section, self.stmt_offset)

    def pc(self) -> int:
        if not self.final:
            raise Unknown(".")
        return self.bases[self.section] + self.offset

    def absolute(self, value: Value) -> int:
        if isinstance(value, int):
            return value
        if not self.final:
            raise Unknown(value.section)
        return self.bases[value.section] + value.offset

    def record_pcrel_hi(self, target: int) -> None:
        self.pcrel_hi[self.pc()] = target

    def pcrel_hi_target(self, address: int, col: int) -> int:
        if address not in self.pcrel_hi:
            raise AsmError(f"%pcrel_lo: no earlier instruction with %pcrel_hi at {address:#x}", col)
        return self.pcrel_hi[address]


# --- Reading ---------------------------------------------------------------------------------------
@dataclass
class _Macro:
    name: str
    params: list[tuple[str, str]]    # (name, default text)
    body: list[str]
    where: Location


class _Assembler:
    def __init__(self, locations: list[Location] | None) -> None:
        self.locations = locations
        self.statements: list[_Stmt] = []
        self.symbols: dict[str, _SymbolInfo] = {}
        self.sections: dict[str, _SectionInfo] = {}
        self.declare_section(".text", None, None)
        self.macros: dict[str, _Macro] = {}
        self.defining: _Macro | None = None
        self.nesting = 0
        self.expansions = 0
        self.depth = 0
        self.local_counts: dict[str, int] = {}
        self.region_ids: dict[str, int] = {}
        self.ended = False
        # custom-extension sets every instruction so far is valid in, and the first instruction
        # that narrowed them (to name both sides when a program mixes Xpulpv2 and CORE-V words)
        self.isas: frozenset[str] = _ALL_ISAS
        self.narrowed_by = ""

    def use_isas(self, parsed: _Parsed, text: str) -> None:
        """Narrow the program's custom-extension set by one instruction statement's (or an
        `.attribute arch`'s)."""
        if parsed.isas == self.isas or parsed.isas >= self.isas:
            return
        remaining = self.isas & parsed.isas
        if not remaining:
            raise AsmError(f"'{text.strip()}' is {'/'.join(sorted(parsed.isas))}-only but '{self.narrowed_by}' "
                           f"is {'/'.join(sorted(self.isas))}-only: a core decodes one set of custom "
                           "encodings (core.custom_isa), so a program cannot mix Xpulpv2 and CORE-V words")
        self.isas, self.narrowed_by = remaining, text.strip()

    # Locations
    def where(self, stmt: _Stmt, line: int = 0) -> Location:
        """Where to report a statement (or its source line `line`, for a `_ConstantRun`): its macro
        invocation, or the caller of a Builder method."""
        file, line, col = stmt.origin or (stmt.file, line or stmt.line, stmt.col)
        if self.locations is not None and 0 < line <= len(self.locations):
            return self.locations[line - 1]
        return file, line, col

    def fail(self, exc: AsmError, stmt: _Stmt) -> AsmError:
        if exc.file:
            return exc
        file, line, col = self.where(stmt)
        if stmt.origin is not None:
            exc.message += f" (in an expansion of macro '{stmt.origin_macro}')"
            exc.column = 0
        if self.locations is not None:
            exc.message += f" (in `{stmt.text.strip()}`)"
            exc.column = 0
        return exc.locate(file, line, col)

    def declare_section(self, name: str, flags: str | None, nobits: bool | None) -> None:
        default_f, default_nobits = default_flags(name)
        if name not in self.sections:
            self.sections[name] = _SectionInfo(name, default_f if flags is None else flags,
                                               default_nobits if nobits is None else nobits)
        elif flags is not None:
            self.sections[name].flags = flags
            self.sections[name].nobits = bool(nobits)

    # Source lines
    def feed(self, lines: list[str], file: str, first_line: int = 1,
             origin: tuple[str, int, int, str] | None = None) -> None:
        in_block = False
        macro_origin = (origin[:3], origin[3]) if origin is not None else (None, "")
        run: _ConstantRun | None = None      # the statement the next constant instructions join
        for i, raw in enumerate(lines):
            if self.ended:
                return
            pieces, in_block = split_line(raw, in_block)
            line_no = first_line + i
            if self.defining is not None:
                self.collect(raw, pieces)
                continue
            for text, col in pieces:
                known = _PARSED.get((text, col))
                if known is not None and known.mnemonic not in self.macros:   # read before
                    if known.isas is not self.isas:
                        try:
                            self.use_isas(known, text)
                        except AsmError as exc:
                            stmt = _Stmt()
                            stmt.file, stmt.line, stmt.col, stmt.text = file, line_no, known.col, text
                            stmt.origin, stmt.origin_macro = macro_origin
                            raise self.fail(exc, stmt) from None
                    if known.code is None:
                        stmt, run = known.statement(), None
                    elif run is None:
                        stmt = run = _ConstantRun()
                    else:
                        run.add(known, line_no)
                        continue
                    stmt.file, stmt.line, stmt.col, stmt.text = file, line_no, known.col, text
                    stmt.origin, stmt.origin_macro = macro_origin
                    self.statements.append(stmt)
                    if run is not None:
                        run.add(known, line_no)
                    continue
                run = None
                stmt = _Stmt()
                stmt.file, stmt.line, stmt.col, stmt.text = file, line_no, col, text
                stmt.origin, stmt.origin_macro = macro_origin
                try:
                    self.statement(text, col, stmt)
                except AsmError as exc:
                    raise self.fail(exc, stmt) from None
                except RecursionError:
                    raise self.fail(AsmError("expression nested too deeply"), stmt) from None
                if self.defining is not None or self.ended:
                    break

    def collect(self, raw: str, pieces: list[tuple[str, int]]) -> None:
        first = pieces[0][0].split()[0] if pieces else ""
        if first == ".macro":
            self.nesting += 1
        elif first in (".endm", ".endmacro"):
            if self.nesting == 0:
                self.macros[self.defining.name] = self.defining
                self.defining = None
                return
            self.nesting -= 1
        self.defining.body.append(raw)

    def add(self, stmt: _Stmt, template: _Stmt) -> None:
        stmt.file, stmt.line, stmt.col, stmt.text = template.file, template.line, template.col, template.text
        stmt.origin, stmt.origin_macro = template.origin, template.origin_macro
        self.statements.append(stmt)

    def resolve_local(self, digits: str, direction: str, col: int) -> str:
        count = self.local_counts.get(digits, 0)
        if direction == "b":
            if count == 0:
                raise AsmError(f"local label '{digits}b': no '{digits}:' before this point", col)
            return f"{digits}{_LOCAL_SEP}{count}"
        return f"{digits}{_LOCAL_SEP}{count + 1}"

    def statement(self, text: str, col: int, base: _Stmt) -> None:
        pos = 0
        while m := _LABEL.match(text, pos):
            name = m.group(1)
            if name.isdigit():
                self.local_counts[name] = self.local_counts.get(name, 0) + 1
                label = _Label(f"{name}{_LOCAL_SEP}{self.local_counts[name]}", name)
            else:
                label = _Label(name, name)
            self.add(label, base)
            label.col = col + m.start(1)
            pos = m.end()
        if not text[pos:].strip():
            return
        m = _ASSIGN.match(text, pos)
        if m:
            if m.group(1) == ".":
                raise AsmError("assigning to '.' is not supported (use .space or .align)", col + m.start(1))
            rest = text[m.end():]
            node = self.expression(rest, col + m.end())
            self.add(_SetSymbol(m.group(1), node, "="), base)
            return
        m = _MNEMONIC.match(text, pos)
        if not m:
            bad = len(text[pos:]) - len(text[pos:].lstrip())
            raise AsmError(f"expected a label, directive or instruction, found '{text[pos:].strip()}'",
                           col + pos + bad)
        name = m.group(1)
        base.col = col + m.start(1)
        args, args_col = text[m.end():], col + m.end()
        if name in self.macros:
            self.expand_macro(self.macros[name], args, args_col, base)
        elif name.startswith("."):
            handler = _DIRECTIVES.get(name)
            if handler is None:
                if name in _IGNORED or name.startswith(".cfi_"):
                    return
                hint = difflib.get_close_matches(name, list(_DIRECTIVES) + list(self.macros), n=3)
                suggestion = f" (did you mean {', '.join(hint)}?)" if hint else ""
                raise AsmError(f"unknown directive '{name}'{suggestion}", base.col)
            handler(self, name, args, args_col, base)
        else:
            parsed = self.instruction(name, args, args_col, base)
            if parsed is not None and pos == 0:    # a line without labels: remember it whole
                parsed.mnemonic, parsed.col = name, base.col
                _remember(_PARSED, (text, col), parsed)

    # Helpers for operands of directives
    def tokens(self, text: str, col: int) -> list[Token]:
        return tokenize(text, col, self.resolve_local)

    def expression(self, text: str, col: int) -> Node:
        tokens = self.tokens(text, col)
        end = col + len(text.rstrip())
        node, pos = parse_expr(tokens, 0, end)
        if pos != len(tokens):
            raise AsmError(f"unexpected '{tokens[pos].text}' after expression", tokens[pos].col)
        return node

    def arguments(self, text: str, col: int) -> list[tuple[Node, int] | None]:
        """Comma-separated expressions; an empty argument is None (as in `.p2align 4,,8`)."""
        tokens = self.tokens(text, col)
        if not tokens:
            return []
        groups: list[list[Token]] = [[]]
        depth = 0
        for tok in tokens:
            if tok.kind == "op" and tok.value in "()":
                depth += 1 if tok.value == "(" else -1
            if tok.kind == "op" and tok.value == "," and depth == 0:
                groups.append([])
            else:
                groups[-1].append(tok)
        out: list[tuple[Node, int] | None] = []
        end = col + len(text.rstrip())
        for group in groups:
            if not group:
                out.append(None)
                continue
            node, pos = parse_expr(group, 0, end)
            if pos != len(group):
                raise AsmError(f"unexpected '{group[pos].text}' after expression", group[pos].col)
            out.append((node, group[0].col))
        return out

    def args_between(self, name: str, text: str, col: int, low: int, high: int
                     ) -> list[tuple[Node, int] | None]:
        args = self.arguments(text, col)
        if not low <= len(args) <= high or (args and args[0] is None):
            expected = f"{low}" if low == high else f"{low} to {high}"
            raise AsmError(f"{name} takes {expected} argument(s), got {len(args)}", col)
        return args + [None] * (high - len(args))

    def names(self, text: str, col: int) -> list[str]:
        names = [n.strip() for n in text.split(",")]
        for n in names:
            if not re.fullmatch(IDENT, n):
                raise AsmError(f"expected a symbol name, found '{n}'", col + text.find(n) if n else col)
        return names

    # Instructions
    def instruction(self, name: str, args: str, col: int, base: _Stmt) -> _Parsed | None:
        """Add the statements of an instruction; returns what it assembles to when that does not
        depend on where it is (then `statement` may remember the whole line in `_PARSED`)."""
        if name in cluster_ops.REGION_OPS:
            self.region_marker(name, args, col, base)
            return None
        key = (name, args, col)
        parsed = _OPERANDS.get(key)
        if parsed is None:
            parsed, uses_local_labels = self.parse_instruction(name, args, col, base)
            if uses_local_labels:                # `1f` / `1b` mean another label at each use
                self.add(parsed.statement(), base)
                return None
            _remember(_OPERANDS, key, parsed)
        self.use_isas(parsed, f"{name} {args.strip()}")
        self.add(parsed.statement(), base)
        return parsed

    def parse_instruction(self, name: str, args: str, col: int, base: _Stmt) -> tuple[_Parsed, bool]:
        """Match the operands against the mnemonic's table entries, then its pseudo forms; returns
        the result and whether the operands referred to a numeric local label."""
        entries = BY_MNEMONIC.get(name, [])
        forms = pseudo.PSEUDOS.get(name, [])
        if not entries and not forms:
            known = sorted(set(BY_MNEMONIC) | set(pseudo.PSEUDOS) | set(self.macros))
            hint = difflib.get_close_matches(name, known, n=3)
            suggestion = f" (did you mean {', '.join(hint)}?)" if hint else ""
            raise AsmError(f"unknown instruction '{name}'{suggestion}", base.col)
        uses_local_labels = False

        def resolve_local(digits: str, direction: str, at: int) -> str:
            nonlocal uses_local_labels
            uses_local_labels = True
            return self.resolve_local(digits, direction, at)
        tokens = tokenize(args, col, resolve_local)
        end = col + len(args.rstrip())
        failures: list[AsmError] = []
        for entry in entries:
            try:
                ops = match(entry.template, field_kind, entry.defaults, tokens, end)
            except AsmError as exc:
                failures.append(exc)
                continue
            return _Parsed.of([(entry, ops)]), uses_local_labels
        for form in forms:
            try:
                ops = match(form.template, pseudo.kind_of, set(), tokens, end, form.symbolic)
            except AsmError as exc:
                failures.append(exc)
                continue
            return _Parsed.of(pseudo.expand(form, ops)), uses_local_labels
        best = max(failures, key=lambda e: e.column)
        syntaxes = [f"{name} {e.syntax}".strip() for e in entries] + [f"{name} {f.syntax}".strip() for f in forms]
        if len(syntaxes) == 1:
            raise AsmError(f"{best.message} (expected: {syntaxes[0]})", best.column)
        raise AsmError(f"{best.message} (forms of {name}: {' | '.join(syntaxes)})", best.column)

    def region_marker(self, name: str, args: str, col: int, base: _Stmt) -> None:
        """region_begin/region_end NAME: number the name, define __region.NAME, emit the marker store."""
        region = args.strip()
        if not re.fullmatch(r"[A-Za-z0-9_.$-]+", region):
            raise AsmError(f"{name} needs a region name (letters, digits, _ . $ -), found '{region}'", col)
        new = region not in self.region_ids
        rid = self.region_ids.setdefault(region, len(self.region_ids))
        if rid >= MAX_REGIONS:
            raise AsmError(f"too many regions (at most {MAX_REGIONS} names per program)", col)
        symbol = f"{REGION_SYMBOL_PREFIX}{region}"
        if new:
            self.add(_SetSymbol(symbol, self.expression(str(rid), col), ".set"), base)
            self.add(_SymbolAttr("global", symbol), base)
        self.instruction("sw", cluster_ops.region_store(rid, name == "region_begin"), col, base)

    # Macros
    def expand_macro(self, macro: _Macro, args: str, col: int, base: _Stmt) -> None:
        values = {p: default for p, default in macro.params}
        positional = [a.strip() for a in _split_macro_args(args, len(macro.params))]
        index = 0
        for arg in positional:
            m = re.fullmatch(rf"({IDENT})\s*=(?!=)(.*)", arg, re.S)
            if m and m.group(1) in values:
                values[m.group(1)] = m.group(2).strip()
                continue
            if index >= len(macro.params):
                raise AsmError(f"too many arguments for macro '{macro.name}'", col)
            values[macro.params[index][0]] = arg
            index += 1
        self.expansions += 1
        if self.depth >= _MAX_MACRO_DEPTH:
            raise AsmError(f"macro '{macro.name}': expansions nested more than {_MAX_MACRO_DEPTH} deep "
                           "(recursive macro?)", base.col)
        counter = str(self.expansions)

        def substitute(m: re.Match) -> str:
            key = m.group(1)
            if key == "()":
                return ""
            if key == "@":
                return counter
            return values.get(key, m.group(0))
        body = [re.sub(r"\\(\(\)|@|[A-Za-z_][A-Za-z0-9_]*)", substitute, line) for line in macro.body]
        origin = base.origin or (base.file, base.line, base.col)
        self.depth += 1
        self.feed(body, base.file, base.line, (*origin, macro.name))
        self.depth -= 1


def _split_macro_args(text: str, nparams: int) -> list[str]:
    """Macro arguments: separated by top-level commas, or by blanks when there is no comma."""
    parts, depth, current, quote = [], 0, "", False
    for c in text:
        if c == '"':
            quote = not quote
        elif not quote and c in "()":
            depth += 1 if c == "(" else -1
        if c == "," and depth == 0 and not quote:
            parts.append(current)
            current = ""
        else:
            current += c
    parts.append(current)
    if len(parts) == 1:
        parts = text.split() if nparams > 1 else [text]
    return [p for p in parts if p.strip()]


# --- Directives ------------------------------------------------------------------------------------
Handler = Callable[[_Assembler, str, str, int, _Stmt], None]
_DIRECTIVES: dict[str, Handler] = {}


def _directive(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for n in names:
            _DIRECTIVES[n] = fn
        return fn
    return register


@_directive(".text", ".data", ".bss", ".rodata")
def _section_shorthand(asm: _Assembler, name: str, args: str, col: int, base: _Stmt) -> None:
    asm.add(_Switch("switch", name), base)


@_directive(".section", ".pushsection")
def _section(asm: _Assembler, name: str, args: str, col: int, base: _Stmt) -> None:
    parts = [p.strip() for p in args.split(",")]
    section = parts[0].strip('"')
    if not re.fullmatch(r"[A-Za-z0-9_.$]+", section):
        raise AsmError(f"bad section name '{parts[0]}'", col)
    flags = nobits = None
    if len(parts) > 1:
        if not re.fullmatch(r'"[a-zA-Z]*"', parts[1]):
            raise AsmError(f"bad section flags {parts[1]} (expected a quoted string like \"aw\")", col)
        flags = "".join(c for c in "awx" if c in parts[1])
        nobits = len(parts) > 2 and parts[2].lstrip("@%") == "nobits"
    asm.add(_Switch("push" if name == ".pushsection" else "switch", section, flags, nobits), base)


@_directive(".attribute")
def _attribute(asm: _Assembler, name: str, args: str, col: int, base: _Stmt) -> None:
    """`.attribute arch, "rv32imf_xcvmac1p0"` (tag 5, as GNU as and clang write it): an arch string
    that names a custom-extension set (isa.spec.ARCH_PREFIXES) makes the program need that set, so
    hand-made words (`.word`) run under it too. Other attributes are accepted and ignored."""
    tag, _, value = args.partition(",")
    if tag.strip().lower() not in ("arch", "tag_riscv_arch", "5"):
        return
    arch = value.strip()
    if not re.fullmatch(r'"[A-Za-z0-9_]*"', arch):
        raise AsmError(f".attribute arch needs a quoted arch string like \"rv32imf_xcvmac1p0\", found {arch!r}",
                       col + len(tag) + 1)
    isa = custom_isa_of_arch(arch.strip('"'))
    if isa is not None:
        asm.use_isas(_Parsed(isas=frozenset({isa})), f".attribute arch, {arch}")


@_directive(".previous", ".popsection")
def _section_back(asm: _Assembler, name: str, args: str, col: int, base: _Stmt) -> None:
    asm.add(_Switch("previous" if name == ".previous" else "pop"), base)


@_directive(".globl", ".global", ".local", ".weak")
def _binding(asm: _Assembler, name: str, args: str, col: int, base: _Stmt) -> None:
    binding = {".globl": "global", ".global": "global", ".local": "local", ".weak": "weak"}[name]
    for sym in asm.names(args, col):
        asm.add(_SymbolAttr(binding, sym), base)


@_directive(".type")
def _type(asm: _Assembler, name: str, args: str, col: int, base: _Stmt) -> None:
    sym, _, kind = args.partition(",")
    kind = kind.strip().lstrip("@%\"").rstrip('"').lower()
    types = {"function": "function", "stt_func": "function", "object": "object", "stt_object": "object",
             "notype": "", "stt_notype": ""}
    if kind not in types:
        raise AsmError(f"unknown symbol type '{kind}' (expected @function, @object or @notype)", col)
    asm.add(_SymbolAttr("type", asm.names(sym, col)[0], types[kind]), base)


@_directive(".size")
def _size(asm: _Assembler, name: str, args: str, col: int, base: _Stmt) -> None:
    sym, comma, rest = args.partition(",")
    if not comma:
        raise AsmError(".size needs a symbol and an expression", col)
    rest_col = col + len(sym) + 1
    asm.add(_SymbolAttr("size", asm.names(sym, col)[0], (asm.expression(rest, rest_col), rest_col)), base)


@_directive(".equ", ".set", ".equiv")
def _equ(asm: _Assembler, name: str, args: str, col: int, base: _Stmt) -> None:
    sym, comma, rest = args.partition(",")
    if not comma:
        raise AsmError(f"{name} needs a symbol and an expression", col)
    node = asm.expression(rest, col + len(sym) + 1)
    asm.add(_SetSymbol(asm.names(sym, col)[0], node, name), base)


@_directive(*_DATA_WIDTHS)
def _data(asm: _Assembler, name: str, args: str, col: int, base: _Stmt) -> None:
    items = asm.arguments(args, col)
    if not items or None in items:
        raise AsmError(f"{name} needs comma-separated values", col)
    asm.add(_Data(_DATA_WIDTHS[name], items), base)


@_directive(*FLOAT_FORMATS)
def _floats(asm: _Assembler, name: str, args: str, col: int, base: _Stmt) -> None:
    fmt = FLOAT_FORMATS[name]
    data = bytearray()
    offset = 0
    for item in args.split(","):
        try:
            bits = float_bits(item, fmt)
        except ValueError as exc:
            raise AsmError(str(exc), col + offset + len(item) - len(item.lstrip())) from None
        data += bits.to_bytes(fmt.width // 8, "little")
        offset += len(item) + 1
    asm.add(_Bytes(bytes(data)), base)


@_directive(".string", ".asciz", ".ascii")
def _strings(asm: _Assembler, name: str, args: str, col: int, base: _Stmt) -> None:
    tokens = asm.tokens(args, col)
    data = bytearray()
    for i, tok in enumerate(tokens):
        if i % 2 == 0 and tok.kind == "str":
            data += tok.value + (b"\0" if name != ".ascii" else b"")
        elif i % 2 == 1 and tok.kind == "op" and tok.value == ",":
            continue
        else:
            raise AsmError(f"expected a string, found '{tok.text}'", tok.col)
    if not tokens or len(tokens) % 2 == 0:
        raise AsmError(f"{name} needs a string", col)
    asm.add(_Bytes(bytes(data)), base)


@_directive(".incbin")
def _incbin(asm: _Assembler, name: str, args: str, col: int, base: _Stmt) -> None:
    """.incbin "FILE": the file's bytes (a relative name is found beside the source file)."""
    tokens = asm.tokens(args, col)
    if len(tokens) != 1 or tokens[0].kind != "str":
        raise AsmError('.incbin takes one file name in quotes (offset and count are not supported)', col)
    import os
    from pathlib import Path
    rel = tokens[0].value.decode(errors="replace")
    src = getattr(base, "file", None) or ""
    path = Path(rel) if os.path.isabs(rel) or src.startswith("<") else Path(src).parent / rel
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AsmError(f".incbin: cannot read {path} ({exc.strerror})", tokens[0].col) from None
    asm.add(_Bytes(data), base)


@_directive(".space", ".skip", ".zero")
def _space(asm: _Assembler, name: str, args: str, col: int, base: _Stmt) -> None:
    args = asm.args_between(name, args, col, 1, 1 if name == ".zero" else 2)
    asm.add(_Space(args[0], None, args[1] if len(args) > 1 else None), base)


@_directive(".fill")
def _fill(asm: _Assembler, name: str, args: str, col: int, base: _Stmt) -> None:
    count, unit, value = asm.args_between(name, args, col, 1, 3)
    asm.add(_Space(count, unit or (Num(1), col), value), base)


@_directive(".align", ".p2align", ".balign")
def _align(asm: _Assembler, name: str, args: str, col: int, base: _Stmt) -> None:
    amount, fill, limit = asm.args_between(name, args, col, 1, 3)
    asm.add(_Align(name != ".balign", amount, fill, limit), base)


@_directive(".macro")
def _macro(asm: _Assembler, name: str, args: str, col: int, base: _Stmt) -> None:
    words = [w for w in re.split(r"[\s,]+", args.strip()) if w]
    if not words or not re.fullmatch(IDENT, words[0]):
        raise AsmError(".macro needs a name", col)
    params = []
    for w in words[1:]:
        pname, _, default = w.partition("=")
        pname = pname.split(":")[0]
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", pname):
            raise AsmError(f"bad macro parameter '{w}'", col + args.find(w))
        params.append((pname, default))
    asm.defining = _Macro(words[0], params, [], (base.file, base.line, base.col))
    asm.nesting = 0


@_directive(".endm", ".endmacro")
def _endm(asm: _Assembler, name: str, args: str, col: int, base: _Stmt) -> None:
    raise AsmError(f"{name} without .macro", base.col)


@_directive(".end")
def _end(asm: _Assembler, name: str, args: str, col: int, base: _Stmt) -> None:
    asm.ended = True


# --- Driver ----------------------------------------------------------------------------------------
def assemble_source(source: str, filename: str = "<input>", section_addresses: dict[str, int] | None = None,
                    locations: list[Location] | None = None) -> Program:
    """Assemble GNU-syntax source into a Program. `locations` maps source line numbers (1-based index
    into the list) to the place errors should be reported (the Builder passes its callers)."""
    asm = _Assembler(locations)
    asm.feed(source.split("\n"), filename)
    if asm.defining is not None:
        file, line, col = asm.defining.where
        raise AsmError(f"macro '{asm.defining.name}' has no .endm", col, file, line)

    first = _Pass(asm, None)
    sizes: list[tuple[str, int]] = []
    for stmt in asm.statements:
        first.stmt_offset = first.offset
        try:
            stmt.run(first)
        except AsmError as exc:
            raise asm.fail(exc, stmt) from None
        except RecursionError:
            raise asm.fail(AsmError("expression nested too deeply"), stmt) from None
        sizes.append((first.section, first.offset))
    first.switch(first.section)

    layout = [(name, first.offsets.get(name, 0), info.align) for name, info in asm.sections.items()
              if "a" in info.flags]
    try:
        bases = place_sections(layout, section_addresses)
    except ValueError as exc:
        raise AsmError(str(exc), 1, filename, 0) from None
    bases.update({name: 0 for name, info in asm.sections.items() if "a" not in info.flags})
    _resolve_pending(asm, bases)

    second = _Pass(asm, bases)
    for stmt, (section, end) in zip(asm.statements, sizes, strict=True):
        second.stmt_offset = second.offset
        try:
            stmt.run(second)
            if second.offset != end or second.section != section:
                raise AsmError("statement size changed between passes (a .set symbol redefined after "
                               "it was used for a size?)", stmt.col)
        except AsmError as exc:
            raise asm.fail(exc, stmt) from None
        except RecursionError:
            raise asm.fail(AsmError("expression nested too deeply"), stmt) from None
    second.switch(second.section)
    return _program(asm, bases, second)


def _resolve_pending(asm: _Assembler, bases: dict[str, int]) -> None:
    """Give .equ/.set symbols that pass 1 could not evaluate (forward references) their values,
    in as many rounds as chains of them need; what stays unknown is reported where it is used."""
    probe = _Pass(asm, bases)
    changed = True
    while changed:
        changed = False
        for sym in asm.symbols.values():
            if sym.value is None and sym.pending is not None:
                try:
                    sym.value = evaluate(sym.pending, probe)
                    changed = True
                except (Unknown, AsmError):
                    continue


def _program(asm: _Assembler, bases: dict[str, int], p: _Pass) -> Program:
    sections = []
    for name, info in asm.sections.items():
        size = p.offsets.get(name, 0)
        data = b"" if info.nobits else bytes(p.data[name])
        sections.append(Section(name, bases[name], data, size, info.flags, info.nobits, max(info.align, 16)))
    sections.sort(key=lambda s: s.address)
    symbols: dict[str, Symbol] = {}
    for sym in asm.symbols.values():
        if sym.value is None or _LOCAL_SEP in sym.name or (not sym.is_label and sym.binding == "local"):
            continue
        if isinstance(sym.value, Rel):
            value, section = bases[sym.value.section] + sym.value.offset, sym.value.section
        else:
            value, section = sym.value, None
        symbols[sym.name] = Symbol(sym.name, value, section, sym.binding, sym.type, sym.size)
    entry = symbols["_start"].value if "_start" in symbols else bases[".text"]
    custom_isa = next(iter(asm.isas)) if len(asm.isas) == 1 else None
    return Program(sections, symbols, entry, p.line_map, custom_isa)
