"""Loading programs: ELF executables (from mcusim's assembler, GNU ld or LLVM lld) into memory.

ELF is read with pyelftools. PT_LOAD segments are copied into the cluster's memory map; a segment
outside it (riscv-tests link at 0x80000000) gets a region of its own that spans every such segment
plus `EXTRA_RAM` bytes after the last, for stacks and scratch data.

What a segment loads is the span of the allocated sections in it: linkers round segments down to a
page (GNU ld without -N puts `.text` at 0x1c000000 in a segment that starts at 0x1bfff000 with the ELF
headers) or give the headers a segment of their own (ld.lld); those bytes are no part of the
program, so they are not loaded, and a segment with no section loads nothing. (Without section
headers the whole segment loads.) A segment whose loaded bytes lie partly in a memory and partly
outside it is an error that names the segment and the range outside.

`program_image` gives the Image of a program the assembler just made without writing and parsing
its ELF (the kernel harness runs many generated programs); it equals `read_elf(to_elf(program))`.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mcusim.isa.spec import ARCH_EXTENSIONS, custom_isa_of_arch
from mcusim.simulator.memory import Memory
from mcusim.simulator.memory_map import L2_BASE, TCDM_BASE

if TYPE_CHECKING:
    from elftools.elf.elffile import ELFFile

    from mcusim.kernels_asm.program import Program

EM_RISCV = 243
EXTRA_RAM = 64 * 1024

# The PULP cluster memory map (docs/ARCHITECTURE.md): TCDM and L2 sizes are the defaults of the
# study's setup (256 KiB L1 TCDM, 1.5 MiB L2).
TCDM_SIZE = 256 * 1024
L2_SIZE = 1536 * 1024


class LoadError(Exception):
    """A file that is not a loadable RV32 executable (the message says why)."""


@dataclass
class Segment:
    address: int
    data: bytes
    mem_size: int
    executable: bool


@dataclass
class Image:
    """What a program puts in memory, and its symbols."""
    entry: int
    segments: list[Segment]
    symbols: dict[str, int] = field(default_factory=dict)
    exec_sections: list[tuple[str, int, bytes]] = field(default_factory=list)  # (name, addr, bytes)
    # the custom-extension encodings the ELF's .riscv.attributes arch string names (isa.spec), or None
    custom_isa: str | None = None
    functions: set[str] = field(default_factory=set)    # symbols the ELF marks STT_FUNC
    sections: list[tuple[str, int, int]] = field(default_factory=list)   # allocated: (name, addr, size)

    def symbol_at(self) -> dict[int, str]:
        """Address -> first symbol name, for listings."""
        out: dict[int, str] = {}
        for name, addr in sorted(self.symbols.items(), key=lambda kv: (kv[1], kv[0])):
            out.setdefault(addr, name)
        return out


def read_elf(data: bytes, name: str = "<elf>") -> Image:
    """Parse an RV32 little-endian ELF executable."""
    from elftools.common.exceptions import ELFError     # here: pyelftools takes a while to import
    from elftools.elf.constants import SH_FLAGS
    from elftools.elf.elffile import ELFFile
    try:
        elf = ELFFile(io.BytesIO(data))
        if elf.elfclass != 32 or not elf.little_endian or elf["e_machine"] not in ("EM_RISCV", EM_RISCV):
            raise LoadError(f"{name}: not a 32-bit little-endian RISC-V ELF "
                            f"(class {elf.elfclass}, machine {elf['e_machine']})")
        if elf["e_type"] != "ET_EXEC":
            raise LoadError(f"{name}: ELF type {elf['e_type']} is not an executable (link it first)")
        alloc = [(s["sh_addr"], s["sh_size"]) for s in elf.iter_sections()
                 if s["sh_flags"] & SH_FLAGS.SHF_ALLOC and s["sh_size"]]
        segments = []
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
                continue
            vaddr, filesz, memsz = seg["p_vaddr"], seg["p_filesz"], seg["p_memsz"]
            lo, hi = 0, memsz                  # the loaded span, as offsets into the segment
            if elf.num_sections():
                inside = [(a - vaddr, a - vaddr + n) for a, n in alloc if vaddr <= a < vaddr + memsz]
                if not inside:
                    continue                   # headers or padding only
                lo, hi = min(a for a, _ in inside), min(max(b for _, b in inside), memsz)
            base = seg["p_paddr"] if seg["p_paddr"] else vaddr
            segments.append(Segment(base + lo, seg.data()[lo:max(min(hi, filesz), lo)], hi - lo,
                                    bool(seg["p_flags"] & 1)))
        symbols: dict[str, int] = {}
        functions: set[str] = set()
        symtab = elf.get_section_by_name(".symtab")
        if symtab is not None:
            for sym in symtab.iter_symbols():
                if sym.name and sym["st_info"]["type"] in ("STT_NOTYPE", "STT_FUNC", "STT_OBJECT") \
                        and sym["st_shndx"] != "SHN_UNDEF":
                    symbols.setdefault(sym.name, sym["st_value"])
                    if sym["st_info"]["type"] == "STT_FUNC":
                        functions.add(sym.name)
        exec_sections = [(s.name, s["sh_addr"], s.data()) for s in elf.iter_sections()
                         if s["sh_flags"] & SH_FLAGS.SHF_EXECINSTR and s["sh_type"] == "SHT_PROGBITS"]
        sections = [(s.name, s["sh_addr"], s["sh_size"]) for s in elf.iter_sections()
                    if s["sh_flags"] & SH_FLAGS.SHF_ALLOC and s["sh_size"]]
        return Image(elf["e_entry"], segments, symbols, exec_sections, _custom_isa(elf), functions, sections)
    except (ELFError, ValueError, KeyError, OSError) as exc:
        raise LoadError(f"{name}: not a valid ELF file ({exc})") from None


def arch_string(elf: ELFFile) -> str | None:
    """Tag_RISCV_arch of the .riscv.attributes section (RISC-V ELF psABI, "Attributes"), or None."""
    section = elf.get_section_by_name(".riscv.attributes")
    if section is None:
        return None
    found = re.search(rb"\x05(rv(?:32|64)[a-z0-9_]*)\x00", section.data(), re.IGNORECASE)
    return found.group(1).decode() if found else None


def _custom_isa(elf: ELFFile) -> str | None:
    arch = arch_string(elf)
    return custom_isa_of_arch(arch) if arch else None


def program_image(program: Program) -> Image:
    """The Image `read_elf(to_elf(program))` gives, built straight from the assembler's output: one
    segment per non-empty allocated section (no file bytes for nobits ones), every symbol (values
    as 32-bit words, in the ELF symbol table's order), the executable sections that have contents."""
    segments = [Segment(s.address, b"" if s.nobits else bytes(s.data), s.size, "x" in s.flags)
                for s in program.loadable_sections()]
    symbols = {y.name: y.value & 0xFFFF_FFFF for y in program.symbols_in_table_order()}
    exec_sections = [(s.name, s.address, bytes(s.data)) for s in program.sections
                     if "x" in s.flags and not s.nobits]
    sections = [(s.name, s.address, s.size) for s in program.loadable_sections()]
    # the set as its ELF's arch string would name it (mcusim's ELFs leave the default set unnamed)
    custom_isa = custom_isa_of_arch("rv32i" + ARCH_EXTENSIONS.get(program.custom_isa or "", ""))
    return Image(program.entry, segments, symbols, exec_sections, custom_isa, sections=sections)


def load_program(path: str | Path, section_addresses: dict[str, int] | None = None,
                 include_dirs: list[str] | tuple[str, ...] = ()) -> Image:
    """An ELF file, or an assembly source (assembled in memory through the same ELF path;
    `include_dirs` for its .include/.incbin)."""
    path = Path(path)
    if path.is_dir():
        raise LoadError(f"{path}: is a directory")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"{path}: cannot read ({exc.strerror})") from None
    if raw[:4] == b"\x7fELF":
        return read_elf(raw, str(path))
    if path.suffix.lower() in (".s", ".asm"):
        from mcusim.kernels_asm import assemble
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            raise LoadError(f"{path}: assembly source is not UTF-8 text") from None
        # the image the ELF round trip gives (program_image), without importing the ELF reader
        return program_image(assemble(text, str(path), section_addresses, include_dirs))
    raise LoadError(f"{path}: neither an ELF executable nor an assembly source (.s)")


# The address windows of the two memories: what starts in one must end inside the configured size.
_WINDOWS = (("TCDM", TCDM_BASE, 0x1020_0000, "tcdm.size_kib"), ("L2", L2_BASE, 0x2000_0000, "l2.size_kib"))


def _size(n: int) -> str:
    return f"{n:,} bytes" if n % 1024 else f"{n // 1024:,} KiB"


def check_fits(image: Image, tcdm_size: int, l2_size: int) -> None:
    """LoadError naming the section (or segment), its size and the memory's size when something placed in
    the TCDM or L2 runs past the end of that memory as configured."""
    parts = image.sections or [(f"segment at {s.address:#x}", s.address, s.mem_size) for s in image.segments]
    for name, address, size in parts:
        for memory, base, window_end, setting in _WINDOWS:
            if not base <= address < window_end:
                continue
            capacity = tcdm_size if memory == "TCDM" else l2_size
            if address + size > base + capacity:
                what = name if name.startswith("segment") else f"section {name}"
                raise LoadError(f"{what} ({_size(size)} at {address:#x}) does not fit in the {memory} "
                                f"({_size(capacity)}; its end {address + size:#x} is past {base + capacity:#x}; "
                                f"a larger {setting} in --config, or a smaller section)")


def has_code(image: Image) -> bool:
    """Whether the image holds any instruction bytes."""
    return any(code for _, _, code in image.exec_sections) or any(s.executable and s.data for s in image.segments)


def build_memory(image: Image, tcdm_size: int = TCDM_SIZE, l2_size: int = L2_SIZE) -> Memory:
    """The cluster memory map with the image's segments copied in."""
    check_fits(image, tcdm_size, l2_size)
    mem = Memory()
    mem.add_region("tcdm", TCDM_BASE, tcdm_size)
    mem.add_region("l2", L2_BASE, l2_size)
    outside = [s for s in image.segments if not mem.covers(s.address, max(s.mem_size, 1))]
    for s in outside:
        end = s.address + max(s.mem_size, 1)
        for r in mem.regions:
            if s.address < r.end and r.base < end:     # partly in this memory: the rest is outside
                gap = (s.address, r.base) if s.address < r.base else (r.end, end)
                raise LoadError(f"the {'code' if s.executable else 'data'} segment at {s.address:#x}..{end:#x} "
                                f"does not fit in {r.name} ({r.base:#x}..{r.end:#x}): bytes {gap[0]:#x}..{gap[1]:#x} "
                                "lie outside it (link the program inside one memory)")
    if outside:
        lo = min(s.address for s in outside) & ~0xFFF
        hi = max(s.address + s.mem_size for s in outside) + EXTRA_RAM
        try:
            mem.add_region("ram", lo, hi - lo)
        except ValueError as exc:
            raise LoadError(f"segments at {lo:#x}..{hi:#x} straddle the cluster memory map ({exc})") from None
    for s in image.segments:
        mem.write_bytes(s.address, s.data)
    return mem
