"""Small bit-manipulation helpers shared by the ISA semantics."""

MASK32 = 0xFFFF_FFFF


def u32(value: int) -> int:
    """The low 32 bits of `value`, as an unsigned integer."""
    return value & MASK32


def s32(value: int) -> int:
    """The low 32 bits of `value`, read as a signed (two's complement) integer."""
    value &= MASK32
    return value - (1 << 32) if value & 0x8000_0000 else value


def sext(value: int, bits: int) -> int:
    """Sign-extend the low `bits` bits of `value` to a Python int."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def get_bits(word: int, hi: int, lo: int) -> int:
    """Bits hi..lo (inclusive) of `word`."""
    return (word >> lo) & ((1 << (hi - lo + 1)) - 1)
