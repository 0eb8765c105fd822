"""Helpers the converters share: problem reports, a spool for formats that must be sorted,
the merge order of interleaved groups, BOM handling."""

from __future__ import annotations

import mmap
import tempfile
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from models.converters.base import Conversion
from models.problems import InputError, Problem, Severity
from models.readers.batch import Issue, excerpt
from models.readers.source import BOM, Source

MAX_RECORD_BYTES = 64 << 20
"""A longer line is skipped (as the importer does)."""
PROGRESS_EVERY = 4096
"""Records between two progress callbacks."""


class Skip(Exception):
    """This record cannot be converted; the message says why and what to do."""


class Report:
    """Problems against the original input; strict mode stops at the first error."""

    def __init__(self, path: Path, strict: bool, result: Conversion) -> None:
        self.file = str(path)
        self.strict = strict
        self.result = result

    def error(
        self, line: int, offset: int, reason: str, raw: bytes = b"", *, counts: bool = True
    ) -> None:
        """``counts``: a record was read and is skipped (False: a problem between records)."""
        self._error(Problem(self.file, line, offset, reason, Severity.ERROR, excerpt(raw)), counts)

    def _error(self, problem: Problem, counts: bool) -> None:
        if self.strict:
            raise InputError(f"{problem.location()}: {problem.reason}", [problem])
        self.result.problems.append(problem)
        if counts:
            self.result.skipped += 1

    def warn(self, line: int, offset: int, reason: str, raw: bytes = b"") -> None:
        self.result.problems.append(
            Problem(self.file, line, offset, reason, Severity.WARNING, excerpt(raw))
        )

    def issue(self, issue: Issue) -> None:
        """A problem a splitter of :mod:`models.readers` found."""
        problem = Problem(
            self.file, issue.line, issue.offset, issue.reason, issue.severity, issue.excerpt
        )
        if issue.severity is Severity.ERROR:
            self._error(problem, issue.counts_as_record)
        else:
            self.result.problems.append(problem)


class Spool:
    """Converted lines held until their order is known: in memory up to :attr:`MEMORY` bytes,
    then in an anonymous temporary file (removed when closed; the input is never written)."""

    MEMORY = 64 << 20

    def __init__(self) -> None:
        self._buf = bytearray()
        self._file: IO[bytes] | None = None
        self.starts = array("q")
        self.size = 0

    def add(self, line: bytes) -> None:
        self.starts.append(self.size)
        self.size += len(line)
        self._buf += line
        if len(self._buf) >= self.MEMORY:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="rewind-convert-")  # noqa: SIM115
            self._file.write(self._buf)
            self._buf = bytearray()

    def write(self, out: IO[bytes], order: npt.NDArray[np.intp] | None) -> None:
        """Every line to ``out``, in ``order`` (indices in the order added; None: as added)."""
        if self.size == 0:
            return
        if self._file is None:
            with memoryview(self._buf) as view:
                self._write(view, out, order)
            return
        self._file.write(self._buf)
        self._buf = bytearray()
        self._file.flush()
        with mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            self._write(mapped, out, order)

    def _write(
        self, data: memoryview | mmap.mmap, out: IO[bytes], order: npt.NDArray[np.intp] | None
    ) -> None:
        chunk = 16 << 20
        if order is None:
            for at in range(0, self.size, chunk):
                out.write(data[at : at + chunk])
            return
        n = len(self.starts)
        starts = np.frombuffer(self.starts, np.int64)
        ends = np.empty(n, np.int64)
        ends[:-1] = starts[1:]
        ends[-1] = self.size
        # Runs of consecutive lines are copied as one slice.
        breaks = np.flatnonzero(np.diff(order) != 1) + 1
        firsts = order[np.concatenate(([0], breaks))]
        lasts = order[np.concatenate((breaks - 1, [n - 1]))]
        pending: list[bytes | memoryview] = []
        size = 0
        for a, b in zip(starts[firsts].tolist(), ends[lasts].tolist(), strict=True):
            pending.append(data[a:b])
            size += b - a
            if size >= chunk:
                out.write(b"".join(pending))
                pending = []
                size = 0
        if pending:
            out.write(b"".join(pending))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._buf = bytearray()


def merge_order(
    groups: npt.NDArray[np.int64],
    times: npt.NDArray[np.int64],
    sequence: npt.NDArray[np.int64] | None = None,
) -> npt.NDArray[np.intp] | None:
    """The order that merges several sequences by time; ``None`` when it is the input order.

    ``groups`` numbers each record's sequence (a partition, a stream) with ids that sort as the
    tie-break should; within a group records follow ``sequence`` (``None``: input order).
    Records are sorted by the latest time seen so far in their group, so a group's own order
    always holds, then by group, then by their place in the group. ``times`` holds
    ``iinfo(int64).min`` where a record has none.
    """
    n = len(groups)
    if n == 0:
        return None
    index = np.arange(n)
    keys = (index, groups) if sequence is None else (index, sequence, groups)
    within = np.lexsort(keys)
    g = groups[within]
    # Running maximum per group in one pass: ranks of the times offset by group * ranks, so
    # that every group's values lie above all the previous groups' values.
    _, rank = np.unique(times[within], return_inverse=True)
    rank = rank.reshape(-1).astype(np.int64)
    width = int(rank.max()) + 1
    offset = g * width
    running = np.maximum.accumulate(rank + offset) - offset
    order: npt.NDArray[np.intp] = within[np.lexsort((index, g, running))]
    return None if bool((order == index).all()) else order


def group_ranks(names: list[Any]) -> npt.NDArray[np.int64]:
    """For group names numbered by first appearance: each number's rank in sorted order."""
    ranks = np.empty(len(names), np.int64)
    ranks[sorted(range(len(names)), key=names.__getitem__)] = np.arange(len(names))
    return ranks


def without_bom(source: Source) -> tuple[Iterator[bytes], int]:
    """The source's blocks with a leading byte order mark removed, and the first offset."""
    skip = len(BOM) if source.head().startswith(BOM) else 0

    def blocks() -> Iterator[bytes]:
        left = skip
        for block in source.blocks():
            if left:
                cut = min(left, len(block))
                block = block[cut:]
                left -= cut
            if block:
                yield block

    return blocks(), skip
