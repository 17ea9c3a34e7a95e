"""Domain errors for reading input: each names the file and line."""

from __future__ import annotations


class InputError(Exception):
    """Input that cannot be read: names the file, the line (1-based) when known, and why."""

    def __init__(self, path: str, reason: str, line: int | None = None) -> None:
        self.path = path
        self.reason = reason
        self.line = line
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {reason}")
