"""Byte-addressed memory made of regions (TCDM, L2, whatever an ELF places elsewhere)."""
from __future__ import annotations

from dataclasses import dataclass, field
from struct import Struct


class AccessFault(Exception):
    """An access to an address that no region covers."""

    def __init__(self, address: int, size: int) -> None:
        super().__init__(f"no memory at {address:#010x} ({size} bytes)")
        self.address = address
        self.size = size


@dataclass
class Region:
    name: str
    base: int
    data: bytearray
    end: int = field(init=False)       # base + size (regions never change size)

    def __post_init__(self) -> None:
        self.end = self.base + len(self.data)


# Little-endian unsigned values of the access sizes loads and stores use (other sizes: int.from_bytes).
_UNPACK = {1: Struct("<B").unpack_from, 2: Struct("<H").unpack_from, 4: Struct("<I").unpack_from}
_PACK = {1: Struct("<B").pack_into, 2: Struct("<H").pack_into, 4: Struct("<I").pack_into}
_NOWHERE = Region("none", -1, bytearray())     # matches no access, not even an empty one


class Memory:
    """A set of non-overlapping regions; little-endian accessors."""

    def __init__(self) -> None:
        self.regions: list[Region] = []
        self._last = _NOWHERE            # the region of the last access: most accesses hit it again

    def add_region(self, name: str, base: int, size: int) -> Region:
        for r in self.regions:
            if base < r.end and r.base < base + size:
                raise ValueError(f"region {name} [{base:#x}, {base + size:#x}) overlaps {r.name}")
        region = Region(name, base, bytearray(size))
        self.regions.append(region)
        self.regions.sort(key=lambda r: r.base)
        return region

    def region_at(self, address: int, size: int = 1) -> Region:
        r = self._last
        if r.base <= address and address + size <= r.end:
            return r
        for r in self.regions:
            if r.base <= address and address + size <= r.end:
                self._last = r
                return r
        raise AccessFault(address, size)

    def covers(self, address: int, size: int = 1) -> bool:
        try:
            self.region_at(address, size)
            return True
        except AccessFault:
            return False

    def read(self, address: int, size: int) -> int:
        """Unsigned little-endian value of `size` bytes at `address`."""
        r = self._last
        if not (r.base <= address and address + size <= r.end):
            r = self.region_at(address, size)
        off = address - r.base
        unpack = _UNPACK.get(size)
        if unpack is None:
            return int.from_bytes(r.data[off:off + size], "little")
        return unpack(r.data, off)[0]

    def write(self, address: int, size: int, value: int) -> None:
        r = self._last
        if not (r.base <= address and address + size <= r.end):
            r = self.region_at(address, size)
        off = address - r.base
        pack = _PACK.get(size)
        if pack is None:
            r.data[off:off + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        else:
            pack(r.data, off, value & ((1 << (8 * size)) - 1))

    def read_bytes(self, address: int, size: int) -> bytes:
        r = self.region_at(address, size)
        off = address - r.base
        return bytes(r.data[off:off + size])

    def write_bytes(self, address: int, data: bytes) -> None:
        r = self.region_at(address, len(data))
        off = address - r.base
        r.data[off:off + len(data)] = data
