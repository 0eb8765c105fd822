"""What a reader says about a record it could not import as it was."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    """The record was skipped (or, with the strict policy, the import stopped here)."""
    WARNING = "warning"
    """The record was imported, but something about it deserves a look (a duplicate id...)."""


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    """1-based line (or row / array element) where the record starts; 0 for the whole file."""
    offset: int
    """Byte offset of the record's start in the (decompressed) input."""
    reason: str
    """What is wrong and, where it helps, what to do about it."""
    severity: Severity = Severity.ERROR
    excerpt: str = ""
    """The first bytes of the record, decoded leniently, for the report."""

    def location(self) -> str:
        return f"{self.file}:{self.line} (byte {self.offset})"

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "offset": self.offset,
            "reason": self.reason,
            "severity": self.severity.value,
            "excerpt": self.excerpt,
        }


class InputError(Exception):
    """Bad input that stops an operation: carries the problem(s) to show the user."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []
