"""What every converter of a foreign log format shares.

A converter reads a log some other tool wrote (a Kafka dump, an event store's pages, a CSV
export, a database table...) and writes it as canonical JSON Lines — one object per event
with the fields Rewind's automatic mapping reads (see :func:`canonical_line`) — which the
ordinary importer then stores. Problems are reported against the *original* input (its file,
1-based line or row, byte offset where known), never against the converted file.

Policy, as for every reader: a record that cannot be converted is skipped with one ERROR
problem (``strict=True`` raises :class:`~models.problems.InputError` at the first one
instead); ``records + skipped`` equals the records the input holds; the input is only ever
read (databases are opened read-only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from models.event import us_to_datetime
from models.problems import Problem

ProgressFn = Callable[[int, int], bool]
"""``progress(done, total) -> keep_going`` (bytes or rows); False cancels the conversion."""


class ConversionCancelled(Exception):
    """The progress callback asked to stop; nothing converted so far is used."""


@dataclass
class Conversion:
    records: int = 0
    """Events written."""
    skipped: int = 0
    """Input records not written: one ERROR problem each."""
    problems: list[Problem] = field(default_factory=list)
    """Errors and warnings, in input order."""
    notes: list[str] = field(default_factory=list)
    """What the user should know about the whole input (e.g. "3 snapshots shown as...")."""


class Converter(Protocol):
    name: str
    """The format's id, as ``--format`` takes it (e.g. ``kafka-kcat``)."""
    description: str
    """One line for the import dialog and ``--help``."""

    def sniff(self, path: Path, head: bytes) -> bool:
        """Whether ``path`` (whose first bytes are ``head``, at most 64 KiB, decompressed)
        is in this format. Must be cheap and must not claim plain JSON Lines event logs."""
        ...

    def convert(
        self, path: Path, out: IO[bytes], *, strict: bool, progress: ProgressFn | None
    ) -> Conversion:
        """Write canonical lines (:func:`canonical_line`) for every event to ``out``."""
        ...


def canonical_line(
    *,
    event_id: str,
    stream: str,
    event_type: str,
    data: Any,
    version: int | None = None,
    recorded_us: int | None = None,
    processed_us: int | None = None,
    metadata: dict[str, Any] | None = None,
    schema_version: int | None = None,
) -> bytes:
    """One canonical JSON Lines record, newline included (what app/export.py writes too)."""
    out: dict[str, Any] = {"id": event_id, "stream": stream, "type": event_type}
    if version is not None:
        out["version"] = version
    if schema_version is not None:
        out["schema_version"] = schema_version
    if recorded_us is not None:  # orjson writes what format_us would, twice as fast
        out["recorded_at"] = us_to_datetime(recorded_us)
    if processed_us is not None:
        out["processed_at"] = us_to_datetime(processed_us)
    out["data"] = data
    out["metadata"] = metadata or {}
    return orjson.dumps(out, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z) + b"\n"
