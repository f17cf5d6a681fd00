"""Disassembly text, derived from the table: GNU objdump conventions (ABI register names, no space
after commas, pc-relative targets as absolute addresses, rounding mode shown only when not the
default), so the text re-assembles to the same word and can be diffed against objdump."""
from __future__ import annotations

from mcusim.isa.codec import decode
from mcusim.isa.csrs import CSR_BY_NUMBER
from mcusim.isa.fields import F_ABI_NAMES, FIELDS, ROUNDING_MODE_NAMES, X_ABI_NAMES, Kind, format_fence_set
from mcusim.isa.spec import DEFAULT_ISA, Decoded


def format_operand(name: str, value: int, pc: int) -> str:
    kind = FIELDS[name].kind
    if kind is Kind.XREG:
        return X_ABI_NAMES[value]
    if kind is Kind.FREG:
        return F_ABI_NAMES[value]
    if kind is Kind.PCREL:
        return f"0x{(pc + value) & 0xFFFF_FFFF:x}"
    if kind is Kind.CSR:
        csr = CSR_BY_NUMBER.get(value)
        return csr.name if csr else f"0x{value:x}"
    if kind is Kind.RM:
        return ROUNDING_MODE_NAMES.get(value, str(value))
    if kind is Kind.FENCE:
        return format_fence_set(value)
    if kind is Kind.LOOP:
        return f"x{value}"
    if name == "uimm20":
        return f"0x{value:x}"
    return str(value)


def format_decoded(d: Decoded, pc: int) -> str:
    """`mnemonic operands` for a decoded instruction at address `pc` (in the syntax of the row
    the word matched, e.g. cv.mac for a CORE-V word)."""
    entry = d.encoding
    value = {name: d.values[entry.rename.get(name, name)] for name in entry.operands}
    omit = {n for n, v in entry.defaults.items() if value[n] == v}
    if omit != set(entry.defaults):
        omit = set()
    parts: list[str] = []
    for token in entry.template:
        if token in omit:
            if parts and parts[-1] == ",":
                parts.pop()
            continue
        if token in value:
            parts.append(format_operand(token, value[token], pc))
        else:
            parts.append(token)
    operands = "".join(parts)
    return f"{entry.mnemonic}\t{operands}" if operands else entry.mnemonic


def disassemble_word(word: int, pc: int = 0, isa: str = DEFAULT_ISA) -> str:
    """Disassembly of one 32-bit word in custom-extension set `isa`; `.word 0x...` (marked
    unknown) when nothing decodes."""
    d = decode(word, isa)
    if d is None:
        return f".word\t0x{word:08x}\t# unknown"
    return format_decoded(d, pc)


def listing(code: bytes, base: int, labels: dict[int, str] | None = None,
            isa: str = DEFAULT_ISA) -> list[str]:
    """objdump-style lines `addr:  word  mnemonic operands` for a block of code at `base`.

    Each 32-bit encoding either decodes or is shown as unknown; 16-bit (compressed) encodings,
    which these cores do not implement, are shown as unknown halfwords.
    """
    labels = labels or {}
    lines: list[str] = []
    offset = 0
    while offset < len(code):
        addr = base + offset
        if addr in labels:
            lines.append(f"\n{addr:08x} <{labels[addr]}>:")
        low = int.from_bytes(code[offset:offset + 2], "little")
        if low & 3 == 3 and offset + 4 <= len(code):
            word = int.from_bytes(code[offset:offset + 4], "little")
            lines.append(f"{addr:8x}:\t{word:08x}          \t{disassemble_word(word, addr, isa)}")
            offset += 4
        else:
            size = min(2, len(code) - offset)
            raw = int.from_bytes(code[offset:offset + size], "little")
            lines.append(f"{addr:8x}:\t{raw:0{2 * size}x}              \t.{'half' if size == 2 else 'byte'}"
                         f"\t0x{raw:0{2 * size}x}\t# unknown")
            offset += size
    return lines
