"""The second half of a big import, parsed in a helper process: the process and its
messages (what each side does with them: :mod:`models.import_parallel`).

A large plain JSON Lines file is cut at a line boundary: the importing process parses the
first part while a helper process (a fresh interpreter, never a fork: the GUI imports from a
worker thread of a Qt process) parses the rest with the same loop
(:mod:`models.importer`). The helper sends back columns, event ids, problems (lines counted
from its first line), duplicate-id findings (positions counted from its first record) and
*where* its stored records are in the file (offsets and lengths, plus the few records whose
stored form differs from the file's bytes) — not the records themselves: the parent reads
those bytes again from the page cache while it hashes the file, which costs far less than
sending hundreds of MB through a pipe.

Messages (see :mod:`models.helper_process`): span batches (where its next stored records
are, and how far it got), then one result or one error. A stop request makes it stop after
its current batch and send what it has (its records may already be in the sink).
"""

from __future__ import annotations

import subprocess
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from models import helper_process
from models.helper_process import HelperProcess, Send, StopRequested
from models.log import Columns
from models.problems import Problem


@dataclass(frozen=True)
class PartJob:
    """What the helper parses: bytes ``[split, size)`` of ``path``."""

    path: str
    label: str
    fmt: str
    mapping: dict[str, Any]
    strict: bool
    split: int
    size: int
    max_record_bytes: int
    block_size: int


@dataclass
class PartResult:
    """What the helper found; positions and lines are relative to its part (0 and 1 at
    ``split``), byte offsets are absolute."""

    columns: Columns
    """Its columns; ``event_ids`` is empty when ``ids_text`` holds them."""
    ids_text: bytes | None
    """The event ids joined by newlines (UTF-8): far cheaper to send than a pickled list;
    ``None`` when an id contains a newline."""
    records_read: int
    skipped: int
    problems: list[Problem]
    """Everything its run reported, in the order reported; duplicate ids appear as
    placeholders (see ``findings``)."""
    findings: list[Any]
    """The duplicate-id findings (``models.importer._Finding``) the placeholders point to."""
    lines: npt.NDArray[np.int64]
    """Line of each stored record."""
    offsets: npt.NDArray[np.int64]
    """Byte offset of each stored record."""
    end_offset: int
    end_line: int
    check: int
    """XXH3-64 of the bytes it parsed, ``[split, read_to)``: the parent checks that it hashed
    and stored the same bytes."""
    read_to: int
    strict_error: Problem | None = None
    """Strict mode: the first bad record of the part (it stopped there)."""
    cancelled: bool = False
    """It was asked to stop: the result covers the part up to ``end_offset``."""


@dataclass
class SpanBatch:
    """Where the next stored records of the part are (sent while it runs)."""

    first: int
    """Index (within the part) of the first record described."""
    offsets: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]
    """Length of each record as stored."""
    changed: dict[int, bytes]
    """Stored forms that are not the file's bytes at (offset, length), by record index."""
    ids: bytes | None = None
    """The event ids of these records joined by newlines (UTF-8), so that the parent finds
    ids it has seen too while the helper runs; ``None`` when an id holds a newline."""


class PartProcess(HelperProcess):
    """The parent's handle on one import helper."""

    ENTRY = "from models.import_worker import serve; serve()"

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        super().__init__(process)
        self.done = 0
        """Bytes of its part parsed so far (from its progress messages)."""
        self.spans: deque[SpanBatch] = deque()
        """Span batches received and not yet used, in order."""

    def on_message(self, kind: str, payload: Any) -> None:
        if kind == "spans":
            spans, done = payload
            self.spans.append(spans)
            self.done = int(done)


def serve() -> None:
    """Entry point of the helper process: read the job, parse, send the result."""

    def run(job: Any, send: Send, stop_requested: StopRequested) -> object:
        from models.import_parallel import run_part

        return run_part(job, send, stop_requested)

    helper_process.serve(run)
