"""The assembler's output: sections placed at addresses, symbols, entry point.

Section placement (`place_sections`), overridable per section through `section_addresses`:
- the L2 chain starts at 0x1C000000: .text, .rodata, .data, .bss, then every other section in the
  order of first appearance;
- the TCDM chain starts at 0x10000000: sections named .tcdm, .tcdm.*, .l1, .l1.*;
- each section is aligned to 16 bytes (or to its largest .align, if larger) after the previous one of
  its chain; a section named in `section_addresses` is placed exactly there and the rest of its chain
  follows it (so {".text": 0x80000000} moves the whole L2 chain);
- sections without the "a" (allocated) flag are not placed: their address is 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field

L2_BASE = 0x1C00_0000
TCDM_BASE = 0x1000_0000
SECTION_ALIGN = 16
_L2_ORDER = (".text", ".rodata", ".data", ".bss")


@dataclass
class Section:
    name: str
    address: int
    data: bytes            # empty for a nobits section (.bss)
    size: int
    flags: str             # subset of "awx": allocated, writable, executable
    nobits: bool = False
    align: int = SECTION_ALIGN

    @property
    def end(self) -> int:
        return self.address + self.size


@dataclass
class Symbol:
    name: str
    value: int
    section: str | None    # None: an absolute value (a global .equ)
    binding: str = "local"  # local, global, weak
    type: str = ""          # "", "function", "object"
    size: int = 0


@dataclass
class Program:
    sections: list[Section]
    symbols: dict[str, Symbol]
    entry: int
    line_map: dict[int, tuple[str, int]] = field(default_factory=dict)   # instruction address -> (file, line)
    # the custom-extension encodings ("xpulpv2" or "corev") its instructions need; None: valid in both
    custom_isa: str | None = None

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def loadable_sections(self) -> list[Section]:
        """The sections a loader places in memory (an ELF's PT_LOAD segments): allocated, non-empty."""
        return [s for s in self.sections if s.size and "a" in s.flags]

    def symbols_in_table_order(self) -> list[Symbol]:
        """The symbols in ELF symbol-table order: locals first (as ELF requires), then by value, name."""
        return sorted(self.symbols.values(), key=lambda y: (y.binding != "local", y.value, y.name))

    def symbol(self, name: str) -> int:
        """Address (or value) of a symbol; KeyError names the symbol if it is not defined."""
        if name not in self.symbols:
            raise KeyError(f"symbol {name!r} is not defined")
        return self.symbols[name].value


def is_tcdm(name: str) -> bool:
    return name in (".tcdm", ".l1") or name.startswith((".tcdm.", ".l1."))


def _align_up(value: int, align: int) -> int:
    return (value + align - 1) // align * align


def place_sections(sections: list[tuple[str, int, int]], overrides: dict[str, int] | None = None
                   ) -> dict[str, int]:
    """Addresses of sections given as (name, size, alignment) in order of first appearance.
    Raises ValueError if two non-empty sections overlap."""
    overrides = overrides or {}
    l2 = [s for s in sections if not is_tcdm(s[0])]
    l2.sort(key=lambda s: _L2_ORDER.index(s[0]) if s[0] in _L2_ORDER else len(_L2_ORDER))
    tcdm = [s for s in sections if is_tcdm(s[0])]
    bases: dict[str, int] = {}
    for chain, start in ((l2, L2_BASE), (tcdm, TCDM_BASE)):
        address = start
        for name, size, align in chain:
            address = overrides[name] if name in overrides else _align_up(address, max(align, SECTION_ALIGN))
            bases[name] = address
            address += size
    placed = sorted((bases[n], size, n) for n, size, _ in sections if size)
    for (a, size_a, name_a), (b, _, name_b) in zip(placed, placed[1:], strict=False):
        if a + size_a > b:
            raise ValueError(f"sections {name_a} ({a:#x}..{a + size_a:#x}) and {name_b} (at {b:#x}) overlap")
    return bases
