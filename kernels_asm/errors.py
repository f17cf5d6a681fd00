"""The one exception the assembler raises for bad input."""
from __future__ import annotations


class AsmError(Exception):
    """A mistake in the assembly source, located as `file:line:column` (column 1-based).

    Code deep inside the assembler raises it with only a column (or nothing); the statement loop
    fills in the file and line of the statement being processed (`locate`).
    """

    def __init__(self, message: str, column: int = 0, file: str = "", line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column

    def locate(self, file: str, line: int, column: int = 0) -> AsmError:
        """Fill in the location fields that are still unknown; returns self."""
        if not self.file:
            self.file, self.line = file, line
        if not self.column:
            self.column = column or 1
        return self

    def __str__(self) -> str:
        return f"{self.file or '<input>'}:{self.line}:{self.column}: error: {self.message}"
