"""argparse value types shared by every `mcusim` sub-command (one place for their error messages)."""
from __future__ import annotations

import argparse


def integer(text: str) -> int:
    """An integer in any base Python accepts (0x.., 0b.., decimal)."""
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


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
