"""Source text to statements, and statement operands to tokens (GNU `as` lexical conventions).

Comments: `#` and `//` to the end of the line, `/* ... */` (may span lines). `;` separates statements.
Numbers: decimal, 0x hex, 0b binary, leading-0 octal, character literals ('a', '\\n').
`1f` / `1b` name the next / previous definition of numeric local label `1:`.
Columns are 1-based and refer to the original line, so errors point at the right character.
"""
from __future__ import annotations

import re
from typing import Callable, NamedTuple

from mcusim.kernels_asm.errors import AsmError

IDENT = r"[A-Za-z_.$][A-Za-z0-9_.$]*"
_IDENT_RE = re.compile(IDENT)
_PLACEHOLDER = re.compile(r"\{(" + IDENT + r")\}")
# One pattern for the common tokens, blanks before them skipped; `local` (1f, 1b) must be tried
# before numbers (0b1 is binary). Matches only the blanks when no common token follows them.
_TOKEN = re.compile(r"\s*(?:(?P<id>" + IDENT + r")|(?P<op><<|>>|<=|>=|==|!=|<>|&&|\|\||[-+*/%&|^~!(),<>=])"
                    r"|(?P<local>\d+[fb])(?![A-Za-z0-9_.$])"
                    r"|(?P<num>0[xX][0-9a-fA-F]+|0[bB][01]+|\d+)(?P<bad>[A-Za-z0-9_.$]*))?")
_PLAIN = re.compile(r"[^\"'#/;]*")     # a line without quotes, comments or separators
_SIMPLE_ESCAPES = {"n": 10, "t": 9, "r": 13, "b": 8, "f": 12, "v": 11, "a": 7, "e": 27,
                   "\\": 92, '"': 34, "'": 39}


class Token(NamedTuple):
    kind: str        # "num", "id", "op", "str", "ph" (expansion placeholder)
    value: object    # int for num, bytes for str, the text otherwise
    col: int
    text: str


def read_escape(text: str, i: int, col0: int) -> tuple[int, int]:
    """Decode the escape sequence whose backslash is at text[i]: (byte value, index after it)."""
    if i + 1 >= len(text):
        raise AsmError("backslash at end of line", col0 + i)
    c = text[i + 1]
    if c in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[c], i + 2
    if c in "01234567":
        m = re.match(r"[0-7]{1,3}", text[i + 1:])
        return int(m.group(), 8) & 0xFF, i + 1 + len(m.group())
    if c in "xX":
        m = re.match(r"[0-9a-fA-F]+", text[i + 2:])
        if not m:
            raise AsmError("\\x escape without hex digits", col0 + i)
        return int(m.group(), 16) & 0xFF, i + 2 + len(m.group())
    raise AsmError(f"unknown escape sequence '\\{c}'", col0 + i)


def _char_literal_end(line: str, i: int) -> int:
    """Index after the character literal starting with the quote at line[i] (closing quote optional)."""
    j = i + 1
    if j < len(line) and line[j] == "\\":
        try:
            j = read_escape(line, j, 0)[1]
        except AsmError:
            j += 2
    else:
        j += 1
    if j < len(line) and line[j] == "'":
        j += 1
    return min(j, len(line))


def split_line(line: str, in_block: bool) -> tuple[list[tuple[str, int]], bool]:
    """Statements of one source line as (text, column of its first character), with comments blanked;
    `in_block` says whether a /* comment is open at the start; returns whether one is open at the end."""
    if not in_block and _PLAIN.fullmatch(line):
        return ([(line, 1)] if line.strip() else []), False
    out: list[str] = []
    pieces: list[tuple[str, int]] = []
    start = 0
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if in_block:
            if line.startswith("*/", i):
                out.append("  ")
                in_block = False
                i += 2
            else:
                out.append(" ")
                i += 1
            continue
        if c == '"':
            j = i + 1
            while j < n and line[j] != '"':
                j += 2 if line[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(line[i:j])
            i = j
            continue
        if c == "'":
            j = _char_literal_end(line, i)
            out.append(line[i:j])
            i = j
            continue
        if c == "#" or line.startswith("//", i):
            break
        if line.startswith("/*", i):
            in_block = True
            out.append("  ")
            i += 2
            continue
        if c == ";":
            pieces.append(("".join(out)[start:], start + 1))
            out.append(" ")
            start = i + 1
            i += 1
            continue
        out.append(c)
        i += 1
    pieces.append(("".join(out)[start:], start + 1))
    return [(text, col) for text, col in pieces if text.strip()], in_block


LocalResolver = Callable[[str, str, int], str]   # (digits, "f" or "b", column) -> symbol name


def tokenize(text: str, col0: int, local: LocalResolver | None = None,
             placeholders: bool = False) -> list[Token]:
    """Tokens of an operand field; `col0` is the column of text[0]. `local` maps `1f`/`1b` to the
    internal name of that numeric label; `placeholders` allows `{name}` (pseudo expansion templates)."""
    tokens: list[Token] = []
    append = tokens.append
    match = _TOKEN.match
    i, n = 0, len(text)
    while i < n:
        m = match(text, i)
        kind = m.lastgroup
        if kind is None:               # blanks, then the end or a less common token
            i = m.end()
            if i < n:
                i = _special_token(text, i, col0, tokens, placeholders)
            continue
        i = m.end()
        if kind == "id" or kind == "op":
            word = m[kind]
            append(Token(kind, word, col0 + m.start(kind), word))
        elif kind == "local":
            word = m[kind]
            col = col0 + m.start(kind)
            if local is None:
                raise AsmError(f"local label reference '{word}' not allowed here", col)
            append(Token("id", local(word[:-1], word[-1], col), col, word))
        else:                          # a number, with `bad` holding any letters glued to it
            append(_number(m["num"], m["bad"], col0 + m.start("num")))
    return tokens


def _number(word: str, bad: str, col: int) -> Token:
    if bad:
        raise AsmError(f"bad number '{word + bad}'", col)
    if word[:2] in ("0x", "0X", "0b", "0B"):
        return Token("num", int(word, 0), col, word)
    if len(word) > 1 and word[0] == "0":
        if not word.isdigit() or "8" in word or "9" in word:
            raise AsmError(f"bad octal number '{word}'", col)
        return Token("num", int(word, 8), col, word)
    return Token("num", int(word), col, word)


def _special_token(text: str, i: int, col0: int, tokens: list[Token], placeholders: bool) -> int:
    """Character and string literals, `@type` names, `{placeholder}`s: appends the token, returns
    the index after it."""
    c = text[i]
    col = col0 + i
    if c == "'":
        j = _char_literal_end(text, i)
        body = text[i + 1:j]
        if len(body) > 1 and body.endswith("'"):
            body = body[:-1]
        if not body:
            raise AsmError("empty character literal", col)
        value = read_escape(body, 0, col + 1)[0] if body[0] == "\\" else ord(body[0])
        tokens.append(Token("num", value, col, text[i:j]))
        return j
    if c == '"':
        data, j = _read_string(text, i, col0)
        tokens.append(Token("str", data, col, text[i:j]))
        return j
    m = _IDENT_RE.match(text, i + 1)
    if c == "@" and m:
        tokens.append(Token("id", "@" + m.group(), col, "@" + m.group()))
        return m.end()
    m = _PLACEHOLDER.match(text, i)
    if placeholders and m:
        tokens.append(Token("ph", m.group(1), col, m.group()))
        return m.end()
    raise AsmError(f"unexpected character '{c}'", col)


def _read_string(text: str, i: int, col0: int) -> tuple[bytes, int]:
    """Decode the string literal whose opening quote is at text[i]: (bytes, index after it)."""
    out = bytearray()
    j = i + 1
    while True:
        if j >= len(text):
            raise AsmError("unterminated string", col0 + i)
        c = text[j]
        if c == '"':
            return bytes(out), j + 1
        if c == "\\":
            value, j = read_escape(text, j, col0)
            out.append(value)
        else:
            out += c.encode()
            j += 1
