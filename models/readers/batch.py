"""What a reader hands the importer: records cut from one block of input, and how to locate
them for a problem report."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from models.problems import Severity


@dataclass(frozen=True, slots=True)
class Issue:
    """A problem the reader found itself (the importer adds the file name)."""

    line: int
    offset: int
    reason: str
    severity: Severity = Severity.ERROR
    excerpt: str = ""
    counts_as_record: bool = True
    """True when a (bad) record was read and skipped, so the counts include it."""


def excerpt(raw: bytes, limit: int = 200) -> str:
    """The first bytes of a record for a report, decoded leniently, on one line."""
    text = raw[:limit].decode("utf-8", "replace")
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text + ("..." if len(raw) > limit else "")


@dataclass(eq=False)
class RecordBatch:
    """Records cut from one block, in input order.

    ``records`` are the bytes as they appear in the input (JSON Lines: the line, possibly with
    a trailing CR; arrays: the element). Entries listed in ``rejected`` are placeholders for
    records the reader already refused (too large); their issue says why.
    """

    records: list[bytes]
    base_offset: int
    base_line: int
    end_offset: int
    """Byte offset just after the last complete record of the batch: where a resumed import
    starts."""
    end_line: int
    offsets: list[int] | None = None
    """Offset of each record; ``None`` means consecutive lines from ``base_offset``."""
    lines: list[int] | None = None
    """Line of each record; ``None`` means ``base_line + index``."""
    rejected: dict[int, Issue] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    """Problems not tied to an entry of ``records`` (trailing data, an unclosed array...)."""
    lengths: dict[int, int] = field(default_factory=dict)
    """True lengths of placeholder lines, for offsets (JSON Lines)."""
    has_cr: bool = False
    multiline: bool = False
    """Records may contain line breaks (array elements): store them re-serialised."""
    unterminated: bool = False
    """The last record is the end of the input without a final newline."""
    big_ints: list[int] = field(default_factory=list)
    """Offsets of integer literals beyond 64 bits (see :mod:`models.readers.numbers`)."""
    _offsets: npt.NDArray[np.int64] | None = None

    def offset_array(self) -> npt.NDArray[np.int64]:
        if self._offsets is None:
            if self.offsets is not None:
                self._offsets = np.array(self.offsets, np.int64)
            else:
                sizes = np.fromiter(map(len, self.records), np.int64, len(self.records)) + 1
                for i, length in self.lengths.items():
                    sizes[i] = length + 1
                starts = np.empty(len(sizes), np.int64)
                starts[:1] = 0
                np.cumsum(sizes[:-1], out=starts[1:])
                self._offsets = starts + self.base_offset
        return self._offsets

    def locate(self, i: int) -> tuple[int, int]:
        """(1-based line, byte offset) of record ``i``."""
        line = self.base_line + i if self.lines is None else self.lines[i]
        return line, int(self.offset_array()[i])

    def index_at(self, offset: int) -> int:
        """Index of the record containing byte ``offset``."""
        return int(np.searchsorted(self.offset_array(), offset, side="right")) - 1
