"""Plain records the workspace store hands out, and its one error type."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from models.event import JSON, us_to_datetime
from models.log import Columns


class WorkspaceError(Exception):
    """The workspace cannot do what was asked; the message says why and what to do."""


def now_us() -> int:
    return time.time_ns() // 1000


class ImportOutcome(Protocol):
    """What ``ImportWriter.finish`` needs from the importer's ``ImportResult``.

    ``file_size`` and ``sha1`` describe the raw file prefix ``[0, file_size)`` the source now
    reflects; ``sha1`` None (a resumed import) makes the store hash that prefix itself.
    ``end_offset`` and ``end_line`` are absolute: where a later append-import resumes. For an
    append-import, ``columns`` and the three counts cover only the newly read part; the store
    adds them to what it holds. ``mapping`` is stored as JSON (its ``to_json()`` if it has
    one); ``mtime_ns`` 0 means unknown (the store then uses the mtime seen at ``begin_*``).
    """

    @property
    def columns(self) -> Columns: ...
    @property
    def records_read(self) -> int: ...
    @property
    def imported(self) -> int: ...
    @property
    def skipped(self) -> int: ...
    @property
    def end_offset(self) -> int: ...
    @property
    def end_line(self) -> int: ...
    @property
    def file_size(self) -> int: ...
    @property
    def sha1(self) -> str | None: ...
    @property
    def format(self) -> str: ...
    @property
    def compressed(self) -> bool: ...
    @property
    def mapping(self) -> Any: ...
    @property
    def mtime_ns(self) -> int: ...


class SourceStatus(StrEnum):
    IMPORTING = "importing"
    """The first import has not finished (or was interrupted): nothing to read yet."""
    READY = "ready"


@dataclass(frozen=True, slots=True)
class Source:
    """An imported log file: its identity when imported and what the import found."""

    id: int
    path: str
    format: str
    compressed: bool
    """gzip: appended bytes are never appended records (growth means re-import)."""
    mapping: JSON
    size: int
    mtime_ns: int
    sha1: str
    """SHA-1 (hex) of the file's first ``size`` bytes."""
    end_offset: int
    end_line: int
    records_read: int
    imported: int
    skipped: int
    event_count: int
    problem_count: int
    imported_us: int | None
    status: SourceStatus
    generation: int

    @property
    def ready(self) -> bool:
        return self.status == SourceStatus.READY

    @property
    def imported_at(self) -> datetime | None:
        return us_to_datetime(self.imported_us)


@dataclass(frozen=True, slots=True)
class Branch:
    """A parallel system: the parent's sequence up to ``fork_at`` plus this branch's edits.

    ``parent_id`` None means forked from the source log itself. The branch sees the parent's
    edits with ``seq <= parent_edit_count``.
    """

    id: int
    source_id: int
    name: str
    parent_id: int | None
    fork_at: int | None
    parent_edit_count: int
    note: str
    archived: bool
    created_us: int

    @property
    def created_at(self) -> datetime | None:
        return us_to_datetime(self.created_us)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A persisted projection state after event ``row`` of a branch's effective sequence."""

    source_id: int
    branch_id: int | None
    """None: the source log's own sequence (no branch)."""
    projection: str
    row: int
    edit_seq: int
    """The branch's edits it reflects (``seq <= edit_seq``)."""
    created_us: int
    state: Any
