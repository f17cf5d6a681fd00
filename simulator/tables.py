"""Terminal tables that never cut a column header off on a narrow terminal (COLUMNS=80).

rich shortens a header that does not fit its column to "tcdm_conten…"; `keep_headers` lets the
headers break at their underscores and spaces and fold what still does not fit, so every header is
shown whole (over two or three lines when the terminal is narrow)."""
from __future__ import annotations

from typing import Any



def keep_headers(table: Any) -> Any:
    """Make the headers (and cells) of a rich Table wrap or fold instead of being cut; returns it."""
    for column in table.columns:
        header = column.header
        if isinstance(header, str) and "_" in header:
            column.header = header.replace("_", " ")      # rich breaks headers at spaces only
        column.overflow = "fold"
    return table
