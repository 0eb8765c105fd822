"""The helper process of a long search (see :func:`app.search._scan`): it checks the last
part of the positions against the query, reading the SQLite workspace file itself, and
sends back the positions that match.

Messages (:mod:`models.helper_process`): ``progress`` (how many of its positions are done)
while it runs, then the result: the matching positions as int64 bytes, or None when it was
asked to stop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from models import helper_process
from models.helper_process import HelperProcess, Send, StopRequested

_PROGRESS_EVERY = 8
"""Chunks between progress messages."""


@dataclass(frozen=True)
class SearchJob:
    path: str
    """The SQLite workspace file."""
    source_id: int
    generation: int
    mapping: Any
    """The source's field mapping, as stored."""
    raw_holds_payload: bool
    positions: bytes
    """Ascending int64 positions to check."""
    patterns: list[tuple[bytes, int]]
    """Pre-filter patterns (source and flags)."""
    where: str | None
    text: str | None


class SearchProcess(HelperProcess):
    ENTRY = "from app.search_helper import serve; serve()"

    def __init__(self, process: Any) -> None:
        super().__init__(process)
        self.done = 0
        """How many of its positions it has checked."""

    def on_message(self, kind: str, payload: Any) -> None:
        if kind == "progress":
            self.done = int(payload)


def run(job: SearchJob, send: Send, stop_requested: StopRequested) -> bytes | None:
    from app.search import Checks, Filter, matching_positions
    from models.decode import make_document_decoder
    from models.gc_pause import cycle_gc_paused
    from models.mapping import FieldMapping
    from models.scan import DocumentScan, sqlite_columns, sqlite_documents

    f = Filter(where=job.where, text=job.text)
    checks = Checks(f, f.check())
    columns = sqlite_columns(job.path, job.source_id, job.generation)
    scan = DocumentScan(
        np.frombuffer(job.positions, np.int64),
        [re.compile(source, flags) for source, flags in job.patterns],
        make_document_decoder(FieldMapping.from_json(job.mapping)),
        columns,
        job.raw_holds_payload,
        lean=checks.lean,
    )
    found: list[int] = []
    chunks = sqlite_documents(job.path, job.source_id, job.generation, scan)
    with cycle_gc_paused():
        for i, (done, documents) in enumerate(chunks):
            found.extend(matching_positions(documents, checks))
            if i % _PROGRESS_EVERY == _PROGRESS_EVERY - 1:
                send("progress", done)
                if stop_requested():
                    return None
    return np.asarray(found, np.int64).tobytes()


def serve() -> None:
    helper_process.serve(run)
