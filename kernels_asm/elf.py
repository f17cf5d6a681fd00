"""ELF32 little-endian RISC-V executables (written by hand: pyelftools only reads ELF).

Layout: ELF header, one PT_LOAD program header per non-empty allocated section, section contents
(file offset congruent to the address modulo the section's alignment), .riscv.attributes, .symtab,
.strtab, .shstrtab, section header table. e_flags = 0: soft-float ABI and no compressed instructions
(the executable holds no ABI-dependent code, so this only tells tools not to expect RVC). The
.riscv.attributes arch string (RV32IMF + Zicsr + Zifencei + Zfh) lets objdump decode FP16 without -M.
Symbols: every label except numeric local labels, plus global absolute symbols (.globl of an .equ).
"""
from __future__ import annotations

import struct

from mcusim.isa.spec import ARCH_EXTENSIONS
from mcusim.kernels_asm.program import Program

EM_RISCV = 243
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_NOBITS, SHT_RISCV_ATTRIBUTES = 1, 2, 3, 8, 0x7000_0003
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 1, 2, 4
PT_LOAD = 1
PF_X, PF_W, PF_R = 1, 2, 4
SHN_ABS = 0xFFF1
STB = {"local": 0, "global": 1, "weak": 2}
STT = {"": 0, "object": 1, "function": 2}
ARCH = "rv32i2p1_m2p0_f2p2_zicsr2p0_zifencei2p0_zfh1p0_zfhmin1p0"
_EHDR, _PHDR, _SHDR, _SYM = "<16sHHIIIIIHHHHHH", "<8I", "<10I", "<IIIBBH"


class _StringTable:
    def __init__(self) -> None:
        self.data = bytearray(b"\0")
        self.index: dict[str, int] = {}

    def add(self, name: str) -> int:
        if name not in self.index:
            self.index[name] = len(self.data)
            self.data += name.encode() + b"\0"
        return self.index[name]


def _attributes(custom_isa: str | None = None) -> bytes:
    # Tag_File (1) with Tag_RISCV_arch (5); lengths include their own 4 bytes (ELF attribute format).
    # A program that needs CORE-V encodings says so with xcv extensions, as clang's output does.
    arch = ARCH + ARCH_EXTENSIONS.get(custom_isa or "", "")
    file_attrs = bytes([5]) + arch.encode() + b"\0"
    sub = bytes([1]) + struct.pack("<I", 5 + len(file_attrs)) + file_attrs
    vendor = b"riscv\0" + sub
    return b"A" + struct.pack("<I", 4 + len(vendor)) + vendor


def _pad_to(buf: bytearray, offset: int) -> None:
    buf += bytes(offset - len(buf))


def to_elf(program: Program) -> bytes:
    """The program as an ELF32 executable (ET_EXEC, EM_RISCV)."""
    sections = program.sections
    loadable = program.loadable_sections()
    shstr = _StringTable()
    strtab = _StringTable()
    index = {s.name: i + 1 for i, s in enumerate(sections)}

    out = bytearray(52 + 32 * len(loadable))
    offsets: dict[str, int] = {}
    for s in sections:
        align = max(s.align, 1)
        offset = len(out) + (s.address - len(out)) % align
        offsets[s.name] = offset
        if not s.nobits:
            _pad_to(out, offset)
            out += s.data
    attr_offset = len(out)
    attributes = _attributes(program.custom_isa)
    out += attributes

    symbols = program.symbols_in_table_order()
    symtab = bytearray(struct.pack(_SYM, 0, 0, 0, 0, 0, 0))
    first_global = 1 + sum(1 for y in symbols if y.binding == "local")
    for y in symbols:
        shndx = SHN_ABS if y.section is None else index[y.section]
        symtab += struct.pack(_SYM, strtab.add(y.name), y.value & 0xFFFF_FFFF, y.size,
                              STB[y.binding] << 4 | STT[y.type], 0, shndx)
    _pad_to(out, (len(out) + 3) & ~3)
    symtab_offset = len(out)
    out += symtab
    strtab_offset = len(out)
    out += strtab.data

    headers = [struct.pack(_SHDR, *[0] * 10)]
    for s in sections:
        flags = SHF_ALLOC * ("a" in s.flags) | SHF_WRITE * ("w" in s.flags) | SHF_EXECINSTR * ("x" in s.flags)
        headers.append(struct.pack(_SHDR, shstr.add(s.name), SHT_NOBITS if s.nobits else SHT_PROGBITS,
                                   flags, s.address, offsets[s.name], s.size, 0, 0, s.align, 0))
    n = len(sections)
    headers.append(struct.pack(_SHDR, shstr.add(".riscv.attributes"), SHT_RISCV_ATTRIBUTES, 0, 0,
                               attr_offset, len(attributes), 0, 0, 1, 0))
    headers.append(struct.pack(_SHDR, shstr.add(".symtab"), SHT_SYMTAB, 0, 0, symtab_offset, len(symtab),
                               n + 3, first_global, 4, 16))
    headers.append(struct.pack(_SHDR, shstr.add(".strtab"), SHT_STRTAB, 0, 0, strtab_offset,
                               len(strtab.data), 0, 0, 1, 0))
    shstrndx = len(headers)
    name = shstr.add(".shstrtab")
    shstr_offset = len(out)
    out += shstr.data
    headers.append(struct.pack(_SHDR, name, SHT_STRTAB, 0, 0, shstr_offset, len(shstr.data), 0, 0, 1, 0))
    _pad_to(out, (len(out) + 3) & ~3)
    shoff = len(out)
    for h in headers:
        out += h

    ident = b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8)
    out[0:52] = struct.pack(_EHDR, ident, 2, EM_RISCV, 1, program.entry, 52 if loadable else 0, shoff, 0,
                            52, 32, len(loadable), 40, len(headers), shstrndx)
    for i, s in enumerate(loadable):
        flags = PF_R | PF_W * ("w" in s.flags) | PF_X * ("x" in s.flags)
        out[52 + 32 * i:84 + 32 * i] = struct.pack(
            _PHDR, PT_LOAD, offsets[s.name], s.address, s.address, 0 if s.nobits else s.size, s.size,
            flags, max(s.align, 1))
    return bytes(out)


def to_raw(program: Program) -> bytes:
    """The bytes of .text alone (empty if there is none)."""
    text = program.section(".text")
    return bytes(text.data) if text is not None else b""
