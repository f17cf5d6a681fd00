"""argparse value types shared by every `mcusim` sub-command (one place for their error messages).

Every number is bounded: integers to 63 bits (what the engines count cycles in), floats to finite
values, so no option can smuggle nan, inf or a 1000-digit number into a run."""
from __future__ import annotations

import argparse
import math

MAX_INT = (1 << 63) - 1
MAX_CYCLES = 1 << 62        # the engines' "never" is 1 << 62


def integer(text: str) -> int:
    """An integer in any base Python accepts (0x.., 0b.., decimal), at most 63 bits."""
    try:
        value = int(text.strip().replace("_", ""), 0) if len(text) <= 40 else None
    except ValueError:
        value = None
    if value is None:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}")
    if abs(value) > MAX_INT:
        raise argparse.ArgumentTypeError(f"too large: {text!r}")
    return value


def positive(text: str) -> int:
    value = integer(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def non_negative(text: str) -> int:
    value = integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


def cycles(text: str) -> int:
    """A positive cycle count below the engines' limit of 2**62."""
    value = positive(text)
    if value >= MAX_CYCLES:
        raise argparse.ArgumentTypeError(f"must be below 2**62: {text!r}")
    return value


def address(text: str) -> int:
    """A 32-bit address."""
    value = integer(text)
    if not 0 <= value <= 0xFFFF_FFFF:
        raise argparse.ArgumentTypeError(f"not a 32-bit address: {text!r}")
    return value


def finite_positive(text: str) -> float:
    """A finite number > 0 (no nan, no inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite: {text!r}")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value
