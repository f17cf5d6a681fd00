"""Pseudo-instructions: each is an operand syntax plus the real instructions it stands for.

Most are data: expansion lines in ordinary assembly syntax whose `{name}` placeholders are the
pseudo's operands (names are field names from `isa.fields`, or `imm`/`symbol`/`rt` below). The few
whose expansion depends on values (li, la/lla, call/tail, loads and stores from a symbol) are small
functions. A mnemonic's real table entries are always tried before its pseudo forms, so `jal ra, x`
is the instruction and `jal x` the pseudo. Every expansion produces the words GNU `as -mno-relax`
produces (checked in tests/test_assembler.py against riscv64-unknown-elf-as).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

from mcusim.isa.fields import FIELDS, Kind
from mcusim.isa.spec import BY_MNEMONIC, Instr
from mcusim.kernels_asm.cluster_ops import CLUSTER_PSEUDOS
from mcusim.kernels_asm.errors import AsmError
from mcusim.kernels_asm.expr import Func, has_symbol
from mcusim.kernels_asm.lexer import tokenize
from mcusim.kernels_asm.operands import Operand, match

# Operand names that only pseudo-instructions use, and how they are read.
PSEUDO_OPERANDS: dict[str, Kind] = {"imm": Kind.IMM, "symbol": Kind.PCREL, "rt": Kind.XREG}

RA, T1, ZERO = 1, 6, 0

Expansion = list[tuple[Instr, dict[str, Operand]]]


@dataclass
class LoadImmediate:
    """`li rd, value`: one or two instructions depending on the value (decided by the assembler)."""
    rd: int
    operand: Operand


@dataclass
class PseudoForm:
    mnemonic: str
    syntax: str
    expand: tuple[str, ...] | Callable[[dict[str, Operand]], Expansion | LoadImmediate]
    symbolic: frozenset[str] = frozenset()      # operands that must name a symbol
    template: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.template = tuple(t.text for t in tokenize(self.syntax, 1)) if self.syntax else ()


def kind_of(name: str) -> Kind:
    return PSEUDO_OPERANDS[name] if name in PSEUDO_OPERANDS else FIELDS[name].kind


# --- Expansion templates (data) --------------------------------------------------------------------
_TEXT: list[tuple[str, str, tuple[str, ...]]] = [
    ("nop", "", ("addi x0, x0, 0",)),
    ("unimp", "", ("csrrw x0, cycle, x0",)),
    ("mv", "rd, rs1", ("addi {rd}, {rs1}, 0",)),
    ("not", "rd, rs1", ("xori {rd}, {rs1}, -1",)),
    ("neg", "rd, rs2", ("sub {rd}, x0, {rs2}",)),
    ("seqz", "rd, rs1", ("sltiu {rd}, {rs1}, 1",)),
    ("snez", "rd, rs2", ("sltu {rd}, x0, {rs2}",)),
    ("sltz", "rd, rs1", ("slt {rd}, {rs1}, x0",)),
    ("sgtz", "rd, rs2", ("slt {rd}, x0, {rs2}",)),
    ("zext.b", "rd, rs1", ("andi {rd}, {rs1}, 255",)),
    ("j", "jimm20", ("jal x0, {jimm20}",)),
    ("jal", "jimm20", ("jal x1, {jimm20}",)),
    ("jr", "rs1", ("jalr x0, 0({rs1})",)),
    ("jr", "rs1, imm12", ("jalr x0, {imm12}({rs1})",)),
    ("jr", "imm12(rs1)", ("jalr x0, {imm12}({rs1})",)),
    ("jalr", "rs1", ("jalr x1, 0({rs1})",)),
    ("jalr", "rd, rs1", ("jalr {rd}, 0({rs1})",)),
    ("jalr", "rd, rs1, imm12", ("jalr {rd}, {imm12}({rs1})",)),
    ("jalr", "imm12(rs1)", ("jalr x1, {imm12}({rs1})",)),
    ("ret", "", ("jalr x0, 0(x1)",)),
    ("beqz", "rs1, bimm12", ("beq {rs1}, x0, {bimm12}",)),
    ("bnez", "rs1, bimm12", ("bne {rs1}, x0, {bimm12}",)),
    ("blez", "rs2, bimm12", ("bge x0, {rs2}, {bimm12}",)),
    ("bgez", "rs1, bimm12", ("bge {rs1}, x0, {bimm12}",)),
    ("bltz", "rs1, bimm12", ("blt {rs1}, x0, {bimm12}",)),
    ("bgtz", "rs2, bimm12", ("blt x0, {rs2}, {bimm12}",)),
    ("bgt", "rs1, rs2, bimm12", ("blt {rs2}, {rs1}, {bimm12}",)),
    ("ble", "rs1, rs2, bimm12", ("bge {rs2}, {rs1}, {bimm12}",)),
    ("bgtu", "rs1, rs2, bimm12", ("bltu {rs2}, {rs1}, {bimm12}",)),
    ("bleu", "rs1, rs2, bimm12", ("bgeu {rs2}, {rs1}, {bimm12}",)),
    ("csrr", "rd, csr", ("csrrs {rd}, {csr}, x0",)),
    ("csrw", "csr, rs1", ("csrrw x0, {csr}, {rs1}",)),
    ("csrw", "csr, zimm", ("csrrwi x0, {csr}, {zimm}",)),
    ("csrs", "csr, rs1", ("csrrs x0, {csr}, {rs1}",)),
    ("csrs", "csr, zimm", ("csrrsi x0, {csr}, {zimm}",)),
    ("csrc", "csr, rs1", ("csrrc x0, {csr}, {rs1}",)),
    ("csrc", "csr, zimm", ("csrrci x0, {csr}, {zimm}",)),
    ("csrwi", "csr, zimm", ("csrrwi x0, {csr}, {zimm}",)),
    ("csrsi", "csr, zimm", ("csrrsi x0, {csr}, {zimm}",)),
    ("csrci", "csr, zimm", ("csrrci x0, {csr}, {zimm}",)),
    ("rdcycle", "rd", ("csrrs {rd}, cycle, x0",)),
    ("rdcycleh", "rd", ("csrrs {rd}, cycleh, x0",)),
    ("rdinstret", "rd", ("csrrs {rd}, instret, x0",)),
    ("rdinstreth", "rd", ("csrrs {rd}, instreth, x0",)),
    ("frcsr", "rd", ("csrrs {rd}, fcsr, x0",)),
    ("fscsr", "rd, rs1", ("csrrw {rd}, fcsr, {rs1}",)),
    ("fscsr", "rs1", ("csrrw x0, fcsr, {rs1}",)),
    ("frrm", "rd", ("csrrs {rd}, frm, x0",)),
    ("fsrm", "rd, rs1", ("csrrw {rd}, frm, {rs1}",)),
    ("fsrm", "rs1", ("csrrw x0, frm, {rs1}",)),
    ("fsrmi", "rd, zimm", ("csrrwi {rd}, frm, {zimm}",)),
    ("fsrmi", "zimm", ("csrrwi x0, frm, {zimm}",)),
    ("frflags", "rd", ("csrrs {rd}, fflags, x0",)),
    ("fsflags", "rd, rs1", ("csrrw {rd}, fflags, {rs1}",)),
    ("fsflags", "rs1", ("csrrw x0, fflags, {rs1}",)),
    ("fsflagsi", "rd, zimm", ("csrrwi {rd}, fflags, {zimm}",)),
    ("fsflagsi", "zimm", ("csrrwi x0, fflags, {zimm}",)),
    ("fmv.x.s", "rd, fs1", ("fmv.x.w {rd}, {fs1}",)),
    ("fmv.s.x", "fd, rs1", ("fmv.w.x {fd}, {rs1}",)),
]
# GNU accepts the register-register mnemonic with an immediate operand for the I-type forms.
_TEXT += [(op, "rd, rs1, imm12", (f"{op}i {{rd}}, {{rs1}}, {{imm12}}",))
          for op in ("add", "and", "or", "xor", "slt")]
_TEXT += [("sltu", "rd, rs1, imm12", ("sltiu {rd}, {rs1}, {imm12}",))]
_TEXT += [(op, "rd, rs1, shamt", (f"{op}i {{rd}}, {{rs1}}, {{shamt}}",)) for op in ("sll", "srl", "sra")]
# CORE-V: the CV32E40P manual's newer names of cv.slet / cv.sletu (LLVM 19's), and its 16x16
# multiplication pseudo-instructions (cv.muls = cv.mulsn with Is3 = 0, ...).
_TEXT += [("cv.sle", "rd, rs1, rs2", ("cv.slet {rd}, {rs1}, {rs2}",)),
          ("cv.sleu", "rd, rs1, rs2", ("cv.sletu {rd}, {rs1}, {rs2}",))]
_TEXT += [(f"cv.mul{k}", "rd, rs1, rs2", (f"cv.mul{k}n {{rd}}, {{rs1}}, {{rs2}}, 0",)) for k in ("s", "hhs", "u", "hhu")]
for _p in ("s", "h"):
    _TEXT += [(f"fmv.{_p}", "fd, fs1", (f"fsgnj.{_p} {{fd}}, {{fs1}}, {{fs1}}",)),
              (f"fabs.{_p}", "fd, fs1", (f"fsgnjx.{_p} {{fd}}, {{fs1}}, {{fs1}}",)),
              (f"fneg.{_p}", "fd, fs1", (f"fsgnjn.{_p} {{fd}}, {{fs1}}, {{fs1}}",))]


@lru_cache(maxsize=None)
def _compile_line(line: str) -> tuple[Instr, dict[str, Operand]]:
    """An expansion line as (table entry, operands); placeholders stay as `Operand.ref`."""
    mnemonic, _, rest = line.partition(" ")
    entries = BY_MNEMONIC.get(mnemonic)
    if not entries:
        raise AsmError(f"expansion needs '{mnemonic}', which the instruction table does not define")
    tokens = tokenize(rest, 1, placeholders=True)
    for entry in entries:
        try:
            return entry, match(entry.template, lambda n: FIELDS[n].kind, entry.defaults, tokens, len(rest) + 1)
        except AsmError:
            continue
    raise AsmError(f"internal error: expansion '{line}' matches no form of {mnemonic}")


def _expand_text(lines: tuple[str, ...], ops: dict[str, Operand]) -> Expansion:
    out: Expansion = []
    for line in lines:
        entry, template_ops = _compile_line(line)
        out.append((entry, {name: ops[op.ref] if op.ref else op for name, op in template_ops.items()}))
    return out


# --- Expansions that compute (data-dependent or pc-relative) ---------------------------------------
def _const(value: int, col: int = 0) -> Operand:
    return Operand(col, value=value)


def _pcrel_pair(target: Operand) -> tuple[Operand, Operand]:
    """auipc immediate and the low part for the instruction right after the auipc."""
    hi = Operand(target.col, expr=Func("pcrel_hi", target.expr, target.col))
    lo = Operand(target.col, expr=Func("pcrel_lo_at", target.expr, target.col, delta=-4))
    return hi, lo


def _auipc(rd: int, hi: Operand) -> tuple[Instr, dict[str, Operand]]:
    return BY_MNEMONIC["auipc"][0], {"rd": _const(rd), "uimm20": hi}


def _jalr(rd: int, rs1: int, lo: Operand) -> tuple[Instr, dict[str, Operand]]:
    return BY_MNEMONIC["jalr"][0], {"rd": _const(rd), "rs1": _const(rs1), "imm12": lo}


def _li(ops: dict[str, Operand]) -> LoadImmediate:
    return LoadImmediate(ops["rd"].value, ops["imm"])


def _la(ops: dict[str, Operand]) -> Expansion | LoadImmediate:
    rd, target = ops["rd"].value, ops["symbol"]
    if not has_symbol(target.expr):    # GNU: a constant address is loaded like li
        return LoadImmediate(rd, target)
    hi, lo = _pcrel_pair(target)
    return [_auipc(rd, hi), (BY_MNEMONIC["addi"][0], {"rd": _const(rd), "rs1": _const(rd), "imm12": lo})]


def _call(link: int, temp: int) -> Callable[[dict[str, Operand]], Expansion]:
    def expand(ops: dict[str, Operand]) -> Expansion:
        hi, lo = _pcrel_pair(ops["symbol"])
        return [_auipc(temp, hi), _jalr(link, temp, lo)]
    return expand


def _memory_entry(mnemonic: str) -> tuple[Instr, str, str, str] | None:
    """The `data, offset(base)` entry of a load/store mnemonic and its field names, if it has one."""
    for entry in BY_MNEMONIC.get(mnemonic, ()):
        t = entry.template
        if len(t) == 6 and t[1] == "," and t[3] == "(" and t[5] == ")" \
                and FIELDS[t[2]].kind is Kind.IMM and FIELDS[t[4]].kind is Kind.XREG:
            return entry, t[0], t[2], t[4]
    return None


def _memory_symbol(mnemonic: str) -> PseudoForm | None:
    """GNU's `lw rd, symbol` / `flw fd, symbol, rt` / `sw rs2, symbol, rt`: auipc + access."""
    found = _memory_entry(mnemonic)
    if found is None:
        return None
    entry, data, offset, base = found
    needs_temp = entry.timing == "store" or FIELDS[data].kind is not Kind.XREG
    syntax = f"{data}, symbol, rt" if needs_temp else f"{data}, symbol"

    def expand(ops: dict[str, Operand]) -> Expansion:
        temp = ops["rt"].value if needs_temp else ops[data].value
        hi, lo = _pcrel_pair(ops["symbol"])
        return [_auipc(temp, hi), (entry, {data: ops[data], offset: lo, base: _const(temp)})]
    return PseudoForm(mnemonic, syntax, expand, frozenset({"symbol"}))


def _build() -> dict[str, list[PseudoForm]]:
    forms = [PseudoForm(m, syntax, lines) for m, syntax, lines in _TEXT + CLUSTER_PSEUDOS]
    forms += [PseudoForm("li", "rd, imm", _li), PseudoForm("la", "rd, symbol", _la),
              PseudoForm("lla", "rd, symbol", _la), PseudoForm("call", "symbol", _call(RA, RA)),
              PseudoForm("tail", "symbol", _call(ZERO, T1))]
    for m in ("lb", "lh", "lw", "lbu", "lhu", "sb", "sh", "sw", "flw", "fsw", "flh", "fsh"):
        form = _memory_symbol(m)
        if form is not None:
            forms.append(form)
    table: dict[str, list[PseudoForm]] = {}
    for form in forms:
        table.setdefault(form.mnemonic, []).append(form)
    return table


PSEUDOS: dict[str, list[PseudoForm]] = _build()


def expand(form: PseudoForm, ops: dict[str, Operand]) -> Expansion | LoadImmediate:
    """The real instructions for a matched pseudo form."""
    if isinstance(form.expand, tuple):
        return _expand_text(form.expand, ops)
    return form.expand(ops)


def li_sequence(value: int) -> list[tuple[str, int]]:
    """GNU's li for RV32: addi when the value fits 12 bits, else lui, plus addi when the low part is
    not zero. Returns [(mnemonic, immediate)]; the value is taken as a 32-bit two's-complement number."""
    value = (value + 0x8000_0000) % (1 << 32) - 0x8000_0000
    if -2048 <= value < 2048:
        return [("addi", value)]
    lo = (value & 0xFFF) - ((value & 0x800) << 1)
    seq = [("lui", ((value - lo) >> 12) & 0xFFFFF)]
    return seq + [("addi", lo)] if lo else seq
