"""Matching operand text against a syntax template from the instruction table.

A template is the token tuple of `Instr.template` (operand field names and the literal punctuation
`, ( ) !`). Each operand is read according to its field's kind (`isa.fields.Kind`), so instructions
that other modules add to the table assemble without changes here. Conventions (GNU `as`):
- an IMM/PCREL operand right before `(` may be omitted: `lw a0, (a1)` means offset 0;
- trailing operands that the entry lists in `defaults` may be omitted (with their commas);
- a PCREL operand is the target ADDRESS (a plain number is an absolute address).
"""
from __future__ import annotations

import re
from typing import Callable, NamedTuple

from mcusim.isa.csrs import CSR_BY_NAME
from mcusim.isa.fields import F_REGISTERS, ROUNDING_MODES, X_REGISTERS, FieldError, Kind, parse_fence_set
from mcusim.kernels_asm.errors import AsmError
from mcusim.kernels_asm.expr import Node, Num, has_symbol, parse_expr
from mcusim.kernels_asm.lexer import Token

PUNCTUATION = frozenset(",()!")


class Operand(NamedTuple):
    """One parsed operand: a number known now (`value`), an expression for pass 2 (`expr`), or, in a
    pseudo-instruction expansion template, a reference to one of the pseudo's operands (`ref`).
    (A named tuple: every instruction line makes a few, and tuples are the cheapest to make.)"""
    col: int
    value: int | None = None
    expr: Node | None = None
    ref: str | None = None


def match(template: tuple[str, ...], kind_of: Callable[[str], Kind], defaults: dict[str, int] | set[str],
          tokens: list[Token], end_col: int, symbolic: frozenset[str] = frozenset()) -> dict[str, Operand]:
    """Operands of `tokens` read with `template`, or AsmError at the first token that does not fit.
    Names in `symbolic` must be expressions that refer to a symbol (GNU's `lw rd, symbol` form)."""
    return _Matcher(template, kind_of, defaults, tokens, end_col, symbolic).run(0, 0, {})


_EXPRESSIONS = (Kind.IMM, Kind.PCREL, Kind.CSR)


class _Matcher:
    def __init__(self, template, kind_of, defaults, tokens, end_col, symbolic) -> None:
        self.template, self.kind_of, self.defaults = template, kind_of, defaults
        self.tokens, self.end_col, self.symbolic = tokens, end_col, symbolic

    def run(self, ti: int, pos: int, found: dict[str, Operand]) -> dict[str, Operand]:
        """Match template[ti:] against tokens[pos:], adding the operands to `found` (in template
        order); only an expression operand may need a second try (`expression`)."""
        template, tokens = self.template, self.tokens
        ntemplate, ntokens = len(template), len(tokens)
        while True:
            if pos == ntokens and all(t == "," or t in self.defaults for t in template[ti:]):
                return found
            if ti == ntemplate:
                tok = tokens[pos]
                raise AsmError(f"unexpected '{tok.text}' (too many operands)", tok.col)
            name = template[ti]
            tok = tokens[pos] if pos < ntokens else None
            if name in PUNCTUATION:
                if tok is not None and tok.kind == "op" and tok.value == name:
                    ti += 1
                    pos += 1
                    continue
                after = f", found '{tok.text}'" if tok is not None else ""
                raise AsmError(f"expected '{name}'{after}", tok.col if tok is not None else self.end_col)
            if tok is None:
                raise AsmError(f"missing operand {name}", self.end_col)
            if tok.kind == "ph":
                found[name] = Operand(tok.col, ref=tok.value)
            else:
                kind = self.kind_of(name)
                if kind is Kind.CSR and tok.kind == "id" and tok.value in CSR_BY_NAME:
                    found[name] = Operand(tok.col, value=CSR_BY_NAME[tok.value].number)
                elif kind in _EXPRESSIONS:
                    return self.expression(name, ti, pos, tok, found)
                else:
                    found[name] = Operand(tok.col, value=_single(kind, name, tok))
            ti += 1
            pos += 1

    def expression(self, name: str, ti: int, pos: int, tok: Token, found: dict[str, Operand]) -> dict[str, Operand]:
        omitted_error: AsmError | None = None
        if tok.value == "(" and ti + 1 < len(self.template) and self.template[ti + 1] == "(":
            try:   # `(a1)` with the offset left out
                return self.run(ti + 1, pos, {**found, name: Operand(tok.col, expr=Num(0))})
            except AsmError as exc:
                omitted_error = exc
        try:
            node, after = parse_expr(self.tokens, pos, self.end_col)
            if name in self.symbolic and not has_symbol(node):
                raise AsmError(f"{name} must be a symbol (an address), not a number", tok.col)
            found[name] = Operand(tok.col, expr=node)
            return self.run(ti + 1, after, found)
        except AsmError as exc:
            if omitted_error is not None and omitted_error.column > exc.column:
                raise omitted_error from None
            raise


def _single(kind: Kind, name: str, tok: Token) -> int:
    text = tok.text
    if kind is Kind.XREG:
        if tok.kind == "id" and tok.value in X_REGISTERS:
            return X_REGISTERS[tok.value]
        raise AsmError(_bad_register(text, "an integer register (x0-x31 or ABI name)"), tok.col)
    if kind is Kind.FREG:
        if tok.kind == "id" and tok.value in F_REGISTERS:
            return F_REGISTERS[tok.value]
        raise AsmError(_bad_register(text, "a floating-point register (f0-f31 or ABI name)"), tok.col)
    if kind is Kind.RM:
        if tok.kind == "id" and tok.value in ROUNDING_MODES:
            return ROUNDING_MODES[tok.value]
        raise AsmError(f"bad rounding mode '{text}' (expected rne, rtz, rdn, rup, rmm or dyn)", tok.col)
    if kind is Kind.FENCE:
        try:
            if tok.kind == "id" or (tok.kind == "num" and tok.value == 0):
                return parse_fence_set(text)
        except FieldError:
            pass
        raise AsmError(f"bad fence set '{text}' (letters from 'iorw', each at most once)", tok.col)
    if kind is Kind.LOOP:
        index = {"x0": 0, "x1": 1, "0": 0, "1": 1}.get(text)
        if index is None:
            raise AsmError(f"bad hardware-loop index '{text}' (expected x0 or x1)", tok.col)
        return index
    raise AsmError(f"operand {name} has unsupported kind {kind}", tok.col)


def _bad_register(text: str, expected: str) -> str:
    m = re.fullmatch(r"[xf](\d+)", text)
    if m and int(m.group(1)) > 31:
        return f"bad register name '{text}' (registers are numbered 0-31)"
    return f"expected {expected}, found '{text}'"
