"""Expressions: parsing (GNU `as` operator precedence) and evaluation with section-relative values.

Precedence, highest first (GNU `as` manual, "Infix Operators", checked against riscv64-unknown-elf-as
2.40): unary - + ~ !; * / % << >>; | & ^; + -; == != <> < > <= >=; &&; ||. Comparisons give -1 for
true, as GNU does. Division and remainder truncate toward zero (C semantics, as GNU).

In pass 1 a label is `Rel(section, offset)` (section addresses are not known yet); `Rel - Rel` in one
section is a plain number, `Rel +- number` stays relative. Anything else needs absolute addresses, which
exist in pass 2 only: in pass 1 it raises `Unknown` (the caller then picks a worst-case size or reports
that a constant was required).

Relocation operators: %hi(x) = ((x + 0x800) >> 12) & 0xfffff, %lo(x) = sign-extended x & 0xfff,
%pcrel_hi(x) = %hi(x - pc), %pcrel_lo(L) = low part for the auipc at label L (GNU semantics).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Protocol

from mcusim.isa import ieee754
from mcusim.isa.bits import sext
from mcusim.isa.fields import F_REGISTERS, X_REGISTERS
from mcusim.kernels_asm.errors import AsmError
from mcusim.kernels_asm.lexer import Token


class Unknown(Exception):
    """A value that pass 1 cannot know yet (forward reference, or absolute address needed)."""


@dataclass(frozen=True)
class Rel:
    """An address inside a section whose base address is not fixed yet."""
    section: str
    offset: int


Value = int | Rel


# --- AST -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Num:
    value: int


@dataclass(frozen=True)
class Sym:
    name: str      # internal name (numeric local labels are renamed)
    col: int
    shown: str     # as written, for messages


@dataclass(frozen=True)
class Dot:
    col: int


@dataclass(frozen=True)
class Unary:
    op: str
    arg: Node
    col: int


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node
    col: int


@dataclass(frozen=True)
class Func:
    name: str      # hi, lo, pcrel_hi, pcrel_lo; pcrel_lo_at (pseudo expansions, see `delta`)
    arg: Node
    col: int
    delta: int = 0   # pcrel_lo_at: the auipc is at pc + delta


Node = Num | Sym | Dot | Unary | Binary | Func
FUNCTIONS = ("hi", "lo", "pcrel_hi", "pcrel_lo")

_BINARY_PREC = {"*": 5, "/": 5, "%": 5, "<<": 5, ">>": 5, "|": 4, "&": 4, "^": 4, "+": 3, "-": 3,
                "==": 2, "!=": 2, "<>": 2, "<": 2, ">": 2, "<=": 2, ">=": 2, "&&": 1, "||": 0}


def has_symbol(node: Node) -> bool:
    """Whether the expression refers to a symbol or to `.` (not a pure number)."""
    if isinstance(node, (Sym, Dot)):
        return True
    if isinstance(node, Unary | Func):
        return has_symbol(node.arg)
    if isinstance(node, Binary):
        return has_symbol(node.left) or has_symbol(node.right)
    return False


# --- Parsing ---------------------------------------------------------------------------------------
def parse_expr(tokens: list[Token], pos: int, end_col: int) -> tuple[Node, int]:
    """Parse the longest expression starting at tokens[pos]; returns (node, position after it).
    `end_col` is the column just past the operand text (for 'missing operand' errors)."""
    if pos < len(tokens) and tokens[pos].kind in ("num", "id"):    # most operands: one number or name
        after = tokens[pos + 1] if pos + 1 < len(tokens) else None
        if after is None or after.kind != "op" or after.value not in _BINARY_PREC:
            return _atom(tokens[pos]), pos + 1
    return _Parser(tokens, end_col).parse(pos)


def _atom(tok: Token) -> Node:
    """The node of a number or name token."""
    if tok.kind == "num":
        return Num(tok.value)
    if tok.value == ".":
        return Dot(tok.col)
    if tok.value in X_REGISTERS or tok.value in F_REGISTERS:
        raise AsmError(f"register '{tok.value}' where an expression was expected", tok.col)
    if tok.value.startswith("@"):
        raise AsmError(f"unexpected '{tok.value}'", tok.col)
    return Sym(tok.value, tok.col, tok.text)


class _Parser:
    def __init__(self, tokens: list[Token], end_col: int) -> None:
        self.tokens = tokens
        self.end_col = end_col
        self.pos = 0

    def parse(self, pos: int) -> tuple[Node, int]:
        self.pos = pos
        node = self.binary(0)
        return node, self.pos

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def binary(self, min_prec: int) -> Node:
        left = self.unary()
        while True:
            tok = self.peek()
            if tok is None or tok.kind != "op" or tok.value not in _BINARY_PREC:
                return left
            prec = _BINARY_PREC[tok.value]
            if prec < min_prec:
                return left
            self.pos += 1
            right = self.binary(prec + 1)
            left = Binary(tok.value, left, right, tok.col)

    def unary(self) -> Node:
        tok = self.peek()
        if tok is not None and tok.kind == "op" and tok.value in ("-", "+", "~", "!"):
            self.pos += 1
            arg = self.unary()
            return arg if tok.value == "+" else Unary(tok.value, arg, tok.col)
        return self.primary()

    def primary(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise AsmError("missing expression", self.end_col)
        if tok.kind in ("num", "id"):
            self.pos += 1
            return _atom(tok)
        if tok.kind == "op" and tok.value == "(":
            self.pos += 1
            node = self.binary(0)
            self.expect(")", tok)
            return node
        if tok.kind == "op" and tok.value == "%":
            name = self.tokens[self.pos + 1] if self.pos + 1 < len(self.tokens) else None
            if name is None or name.kind != "id" or name.value not in FUNCTIONS:
                raise AsmError("expected %hi, %lo, %pcrel_hi or %pcrel_lo", tok.col)
            self.pos += 2
            opening = self.peek()
            if opening is None or opening.value != "(":
                raise AsmError(f"expected '(' after %{name.value}", name.col + len(name.text))
            self.pos += 1
            node = self.binary(0)
            self.expect(")", opening)
            return Func(name.value, node, tok.col)
        raise AsmError(f"unexpected '{tok.text}' in expression", tok.col)

    def expect(self, op: str, opening: Token) -> None:
        tok = self.peek()
        if tok is None or tok.kind != "op" or tok.value != op:
            raise AsmError(f"missing '{op}' to match '{opening.text}'", tok.col if tok else self.end_col)
        self.pos += 1


# --- Evaluation ------------------------------------------------------------------------------------
class Context(Protocol):
    """What evaluation needs from the assembler's current pass."""

    def symbol(self, node: Sym) -> Value: ...          # raises Unknown (pass 1) or AsmError (pass 2)
    def dot(self) -> Rel: ...                           # `.`: the start of the current statement
    def pc(self) -> int: ...                            # absolute address of the current instruction
    def absolute(self, value: Value) -> int: ...        # raises Unknown in pass 1 for a Rel
    def record_pcrel_hi(self, target: int) -> None: ...
    def pcrel_hi_target(self, address: int, col: int) -> int: ...


def evaluate(node: Node, ctx: Context) -> Value:
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Sym):
        return ctx.symbol(node)
    if isinstance(node, Dot):
        return ctx.dot()
    if isinstance(node, Unary):
        v = ctx.absolute(evaluate(node.arg, ctx))
        return -v if node.op == "-" else ~v if node.op == "~" else int(not v)
    if isinstance(node, Binary):
        return _binary(node, evaluate(node.left, ctx), evaluate(node.right, ctx), ctx)
    return _function(node, ctx)


def _binary(node: Binary, a: Value, b: Value, ctx: Context) -> Value:
    op = node.op
    if op == "+":
        if isinstance(a, Rel) and isinstance(b, int):
            return Rel(a.section, a.offset + b)
        if isinstance(b, Rel) and isinstance(a, int):
            return Rel(b.section, b.offset + a)
    elif op == "-":
        if isinstance(a, Rel) and isinstance(b, Rel) and a.section == b.section:
            return a.offset - b.offset
        if isinstance(a, Rel) and isinstance(b, int):
            return Rel(a.section, a.offset - b)
    x, y = ctx.absolute(a), ctx.absolute(b)
    if op == "+":
        return x + y
    if op == "-":
        return x - y
    if op == "*":
        return x * y
    if op in ("/", "%"):
        if y == 0:
            raise AsmError("division by zero", node.col)
        q = abs(x) // abs(y) * (1 if (x < 0) == (y < 0) else -1)
        return q if op == "/" else x - q * y
    if op in ("<<", ">>"):
        if not 0 <= y < 64:
            raise AsmError(f"shift count {y} out of range [0, 63]", node.col)
        return x << y if op == "<<" else x >> y
    if op == "&":
        return x & y
    if op == "|":
        return x | y
    if op == "^":
        return x ^ y
    if op == "&&":
        return int(bool(x) and bool(y))
    if op == "||":
        return int(bool(x) or bool(y))
    truth = {"==": x == y, "!=": x != y, "<>": x != y, "<": x < y, ">": x > y,
             "<=": x <= y, ">=": x >= y}[op]
    return -1 if truth else 0


def hi20(value: int) -> int:
    return ((value + 0x800) >> 12) & 0xFFFFF


def lo12(value: int) -> int:
    return sext(value & 0xFFF, 12)


def _function(node: Func, ctx: Context) -> int:
    if node.name == "pcrel_lo":
        anchor = ctx.absolute(evaluate(node.arg, ctx))
        return lo12(ctx.pcrel_hi_target(anchor, node.col) - anchor)
    value = ctx.absolute(evaluate(node.arg, ctx))
    if node.name == "hi":
        return hi20(value)
    if node.name == "lo":
        return lo12(value)
    pc = ctx.pc()
    if node.name == "pcrel_hi":
        ctx.record_pcrel_hi(value)
        return hi20(value - pc)
    return lo12(value - (pc + node.delta))      # pcrel_lo_at


# --- Floating-point literals -----------------------------------------------------------------------
F64 = ieee754.Format("f64", 11, 52)
FLOAT_FORMATS = {".float": ieee754.F32, ".single": ieee754.F32, ".float16": ieee754.F16, ".double": F64}
_FLOAT_RE = re.compile(r"([+-]?)(?:0[fFdDhH])?(inf|infinity|nan|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)",
                       re.IGNORECASE)


def float_bits(text: str, fmt: ieee754.Format) -> int:
    """Bit pattern of a decimal literal, correctly rounded (to nearest, ties to even) in ONE step from
    the exact decimal value (no double rounding through binary64). `nan` gives the all-ones-payload
    quiet NaN and overflow is an error, as GNU `as` does. Raises ValueError for malformed text."""
    m = _FLOAT_RE.fullmatch(text.strip())
    if not m:
        raise ValueError(f"bad floating-point number '{text.strip()}'")
    sign = 1 if m.group(1) == "-" else 0
    body = m.group(2).lower()
    if body.startswith("inf"):
        return (sign << fmt.sign_shift) | fmt.inf
    if body == "nan":
        return (sign << fmt.sign_shift) | fmt.mag_mask
    try:
        exact = Fraction(Decimal(body))
    except InvalidOperation:
        raise ValueError(f"bad floating-point number '{text.strip()}'") from None
    if exact == 0:
        return sign << fmt.sign_shift
    p, q = exact.numerator, exact.denominator
    # Enough quotient bits for precision + guard bits, plus a sticky bit for the remainder.
    k = max(0, fmt.precision + 3 - (p.bit_length() - q.bit_length()))
    sig, rem = divmod(p << k, q)
    bits, flags = ieee754.round_exact(fmt, sign, (sig << 1) | (rem != 0), -k - 1, ieee754.RNE)
    if flags & ieee754.OF:
        raise ValueError(f"{text.strip()} is out of range for {fmt.name}")
    return bits
