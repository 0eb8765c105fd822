"""The import sink: chunks and problems stream in, ``finish`` makes them visible at once.

Chunks are written in batches of about ``FLUSH_BYTES`` (bounded memory and WAL), each batch in
its own transaction, but nothing a reader uses changes until ``finish``: a first import keeps
the source in status ``importing``; an append writes chunks past the stored ``event_count``;
a replacement writes a new ``generation``. ``finish`` then updates the columns, counts and file
identity in one transaction. Rows left by an interrupted import are garbage that the next
``begin_*`` removes.

The batches are written by a helper thread (SQLite releases the GIL while it writes, so the
hundreds of MB of a big import overlap the parsing instead of adding to it). At most
``WRITE_QUEUE`` batches wait for it (back-pressure: bounded memory); an error it meets is
raised by the next ``add_chunk``, ``add_problem``, ``flush`` or ``finish``.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from enum import StrEnum
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from sqlalchemy import and_, delete, select, update
from sqlalchemy.engine import Connection

from models.digest import prefix_digest
from models.log import Columns
from models.problems import Problem
from models.workspace_columns import (
    encode_columns,
    encode_offsets,
    merge_columns,
)
from models.workspace_db import executemany, insert_streamed
from models.workspace_records import ImportOutcome, Source, SourceStatus, WorkspaceError, now_us
from models.workspace_schema import chunks, columns, problems, snapshots, sources

if TYPE_CHECKING:
    from models.workspace import Workspace

FLUSH_BYTES = 4 << 20
"""Chunk bytes per write transaction. Small enough that the batches queued for the writer
thread stay a small part of the import's peak memory; the commits cost no sync (see
models.workspace_db, bulk writes)."""
FLUSH_PROBLEMS = 10_000
STREAM_COLUMNS_ABOVE = 1 << 20
"""Column blobs from this size up go into SQLite piece by piece (no whole copy of each)."""
WRITE_QUEUE = 2
"""Batches waiting for the writer thread; the importer blocks when they are this many."""
RAW = "raw"

CHUNK_FIELDS = ("source_id", "generation", "chunk_no", "first_pos", "count", "codec", "data")
PROBLEM_FIELDS = (
    "source_id",
    "generation",
    "seq",
    "severity",
    "file",
    "line",
    "offset",
    "reason",
    "excerpt",
)
COLUMN_FIELDS = ("source_id", "generation", "name", "dtype", "count", "data")


class ImportMode(StrEnum):
    NEW = "new"
    APPEND = "append"
    REPLACE = "replace"


class ImportWriter:
    """Implements the importer's sink (``add_chunk``, ``add_problem``); use as a context
    manager so that an exception aborts.

    Pass :attr:`start_pos`, :attr:`start_offset` and :attr:`start_line` to ``run_import``
    (they are 0, 0 and 1 except for an append, which resumes where the last import ended).
    """

    def __init__(
        self,
        workspace: Workspace,
        source: Source,
        mode: ImportMode,
        generation: int,
        first_chunk_no: int,
        mtime_ns: int,
    ) -> None:
        self._ws = workspace
        self.source_id = source.id
        self.path = source.path
        self.mode = mode
        self.generation = generation
        appending = mode is ImportMode.APPEND
        self.start_pos = source.event_count if appending else 0
        self.start_offset = source.end_offset if appending else 0
        self.start_line = source.end_line if appending else 1
        self._first_problem_seq = source.problem_count if appending else 0
        self._mtime_ns = mtime_ns
        self._next_pos = self.start_pos
        self._next_chunk_no = first_chunk_no
        self._next_problem_seq = self._first_problem_seq
        self._chunk_rows: list[tuple[object, ...]] = []
        self._chunk_bytes = 0
        self._offsets: list[npt.NDArray[np.uint32]] = []
        """Per chunk, where its records start (see workspace_columns.RECORD_OFFSETS)."""
        self._problem_rows: list[tuple[object, ...]] = []
        self._done = False
        self._queue: queue.Queue[_Rows | None] = queue.Queue(maxsize=WRITE_QUEUE)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._discard = False

    @property
    def records_added(self) -> int:
        return self._next_pos - self.start_pos

    @property
    def problems_added(self) -> int:
        return self._next_problem_seq - self._first_problem_seq

    def add_chunk(self, first_pos: int, records: list[bytes]) -> None:
        """Records are raw single-line JSON (the importer's are: lines, or re-serialised);
        ``first_pos`` must continue where the last ended."""
        self._check_open()
        if records:
            self.add_joined(first_pos, len(records), b"\n".join(records))
        elif first_pos != self._next_pos:
            self._check_next(first_pos)

    def add_joined(
        self, first_pos: int, count: int, data: bytes, starts: npt.NDArray[np.uint32] | None = None
    ) -> None:
        """Like :meth:`add_chunk` with the records already joined by newlines (the importer
        cuts chunks of consecutive lines straight from the file's bytes). ``starts``: where
        each record starts in ``data``, when the caller knows (else newlines are looked for)."""
        self._check_open()
        self._check_next(first_pos)
        if count <= 0:
            return
        if starts is None:
            newlines = np.flatnonzero(np.frombuffer(data, np.uint8) == _NEWLINE)
            if newlines.shape[0] != count - 1:
                raise ValueError(
                    f"a record of the chunk at position {first_pos} contains a newline; "
                    "records must be single-line"
                )
            starts = np.empty(count, np.uint32)
            starts[0] = 0
            starts[1:] = newlines + 1
        elif len(starts) != count:
            raise ValueError(f"{len(starts)} record starts given for {count} records")
        self._offsets.append(starts)
        self._chunk_rows.append(
            (
                self.source_id,
                self.generation,
                self._next_chunk_no,
                first_pos,
                count,
                RAW,
                data,
            )
        )
        self._chunk_bytes += len(data)
        self._next_chunk_no += 1
        self._next_pos += count
        if self._chunk_bytes >= FLUSH_BYTES:
            self._submit()

    def _check_next(self, first_pos: int) -> None:
        if first_pos != self._next_pos:
            raise ValueError(
                f"chunk starts at position {first_pos}, expected {self._next_pos} "
                "(chunks must be contiguous and start at writer.start_pos)"
            )

    def add_problem(self, problem: Problem) -> None:
        self._check_open()
        self._problem_rows.append(
            (
                self.source_id,
                self.generation,
                self._next_problem_seq,
                problem.severity.value,
                problem.file,
                problem.line,
                problem.offset,
                problem.reason,
                problem.excerpt,
            )
        )
        self._next_problem_seq += 1
        if len(self._problem_rows) >= FLUSH_PROBLEMS:
            self._submit()

    def flush(self) -> None:
        """Write what is buffered and wait until it is written (still invisible to readers
        until :meth:`finish`)."""
        self._check_open()
        self._submit()
        self._stop_thread()  # (started again by the next batch)
        self._raise_failure()

    def _submit(self) -> None:
        """Hand the buffered rows to the writer thread (blocks while it is behind)."""
        self._raise_failure()
        if not self._chunk_rows and not self._problem_rows:
            return
        rows = _Rows(self._chunk_rows, self._problem_rows)
        self._chunk_rows = []
        self._chunk_bytes = 0
        self._problem_rows = []
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._write_loop, name="rewind-import-writer", daemon=True
            )
            self._thread.start()
        self._queue.put(rows)

    def _write_loop(self) -> None:
        """The writer thread: one transaction per batch. After an error (or an abort) it
        keeps taking batches without writing them, so that nobody waits on it forever."""
        while True:
            rows = self._queue.get()
            try:
                if rows is None:
                    return
                if self._error is None and not self._discard:
                    with self._ws.write(bulk=True) as conn:
                        rows.write(conn)
            except BaseException as error:
                self._error = error
            finally:
                self._queue.task_done()

    def _stop_thread(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _raise_failure(self) -> None:
        error = self._error
        if error is not None:
            if isinstance(error, WorkspaceError):
                raise WorkspaceError(str(error)) from error
            raise WorkspaceError(
                f"writing the imported events to the workspace {self._ws.location} failed: {error}"
            ) from error

    def _write_buffers(self, conn: Connection) -> None:
        _Rows(self._chunk_rows, self._problem_rows).write(conn)
        self._chunk_rows = []
        self._chunk_bytes = 0
        self._problem_rows = []

    def finish(self, result: ImportOutcome) -> Source:
        """Make the import visible: columns, counts and file identity in one transaction."""
        self._check_open()
        added = result.columns
        if len(added) != self.records_added:
            raise ValueError(
                f"the import wrote {self.records_added} records but its columns hold "
                f"{len(added)} events"
            )
        sha1 = result.sha1
        if sha1 is None:  # a resumed import read only the new part
            try:
                sha1 = prefix_digest(self.path, result.file_size)
            except OSError as error:
                raise WorkspaceError(f"cannot read {self.path}: {error.strerror}") from None
        mapping = result.mapping
        if hasattr(mapping, "to_json"):
            mapping = mapping.to_json()
        mapping_json = self._ws._dump_json(mapping, "the import's mapping")
        self._stop_thread()  # what the writer thread holds is written before the swap
        self._raise_failure()
        with self._ws.write(final=True) as conn:
            self._write_buffers(conn)
            current = self._ws._source_row(conn, self.source_id, lock=True)
            offsets: npt.NDArray[np.uint32] | None = (
                np.concatenate(self._offsets) if self._offsets else np.empty(0, np.uint32)
            )
            if self.mode is ImportMode.APPEND:
                old = self._ws._load_columns(conn, current)
                merged: Columns = merge_columns(old, added)
                old_offsets = self._ws._load_offsets(conn, current)
                offsets = None if old_offsets is None else np.concatenate([old_offsets, offsets])
                counts = (
                    current.records_read + result.records_read,
                    current.imported + result.imported,
                    current.skipped + result.skipped,
                )
            else:
                merged = added
                counts = (result.records_read, result.imported, result.skipped)
            where_columns = and_(
                columns.c.source_id == self.source_id, columns.c.generation == self.generation
            )
            conn.execute(delete(columns).where(where_columns))
            for row in encode_columns(merged):  # one at a time, big ones piece by piece
                insert_streamed(
                    conn,
                    columns,
                    dict(zip(COLUMN_FIELDS, (self.source_id, self.generation, *row), strict=True)),
                    above=STREAM_COLUMNS_ABOVE,
                )
            if offsets is not None and offsets.shape[0] == len(merged):
                row = encode_offsets(offsets)
                executemany(
                    conn, "columns", COLUMN_FIELDS, [(self.source_id, self.generation, *row)]
                )
            conn.execute(
                update(sources)
                .where(sources.c.id == self.source_id)
                .values(
                    format=str(result.format),
                    compressed=bool(result.compressed),
                    mapping=mapping_json,
                    size=result.file_size,
                    mtime_ns=result.mtime_ns or self._mtime_ns,
                    sha1=sha1,
                    end_offset=result.end_offset,
                    end_line=result.end_line,
                    records_read=counts[0],
                    imported=counts[1],
                    skipped=counts[2],
                    event_count=len(merged),
                    problem_count=self._next_problem_seq,
                    imported_at=now_us(),
                    status=SourceStatus.READY.value,
                    generation=self.generation,
                )
            )
            if self.mode is ImportMode.REPLACE:
                for table in (chunks, columns, problems):
                    conn.execute(
                        delete(table).where(
                            table.c.source_id == self.source_id,
                            table.c.generation != self.generation,
                        )
                    )
                # Snapshots were folded from the old events; branches and edits stay.
                conn.execute(delete(snapshots).where(snapshots.c.source_id == self.source_id))
            source = self._ws._source_row(conn, self.source_id)
        self._done = True
        self._ws._hand_over(source, merged)  # opening the log next need not decode them
        self._ws.checkpoint_soon()  # the records went into the WAL without checkpoints
        return source

    def abort(self) -> None:
        """Drop what this import wrote; the source stays as it was before ``begin_*``."""
        if self._done:
            return
        self._done = True
        self._discard = True
        self._stop_thread()
        self._chunk_rows = []
        self._problem_rows = []
        with self._ws.write() as conn:
            _remove_unfinished(conn, self.source_id, self.mode, self.generation)

    def __enter__(self) -> ImportWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.abort()  # no-op after finish()
            return
        # The original error matters more; leftovers are removed by the next begin_*.
        with contextlib.suppress(WorkspaceError):
            self.abort()

    def _check_open(self) -> None:
        if self._done:
            raise RuntimeError("this import has already been finished or aborted")


class _Rows:
    """One batch of rows for the writer thread."""

    __slots__ = ("chunk_rows", "problem_rows")

    def __init__(
        self, chunk_rows: list[tuple[object, ...]], problem_rows: list[tuple[object, ...]]
    ) -> None:
        self.chunk_rows = chunk_rows
        self.problem_rows = problem_rows

    def write(self, conn: Connection) -> None:
        executemany(conn, "chunks", CHUNK_FIELDS, self.chunk_rows)
        executemany(conn, "problems", PROBLEM_FIELDS, self.problem_rows)


_NEWLINE = ord("\n")


def _remove_unfinished(conn: Connection, source_id: int, mode: ImportMode, generation: int) -> None:
    if mode is ImportMode.NEW:
        conn.execute(
            delete(sources).where(
                sources.c.id == source_id, sources.c.status == SourceStatus.IMPORTING.value
            )
        )
        return
    if mode is ImportMode.REPLACE:
        for table in (chunks, columns, problems):
            conn.execute(
                delete(table).where(
                    table.c.source_id == source_id, table.c.generation == generation
                )
            )
        return
    remove_garbage(conn, source_id)


def remove_garbage(conn: Connection, source_id: int) -> None:
    """Delete rows a reader can never see: other generations, and chunks or problems past
    the counts of the current one (left by an interrupted import)."""
    row = conn.execute(
        select(sources.c.generation, sources.c.event_count, sources.c.problem_count).where(
            sources.c.id == source_id
        )
    ).one_or_none()
    if row is None:
        return
    generation, event_count, problem_count = row
    for table in (chunks, columns, problems):
        conn.execute(
            delete(table).where(table.c.source_id == source_id, table.c.generation != generation)
        )
    conn.execute(
        delete(chunks).where(
            chunks.c.source_id == source_id,
            chunks.c.generation == generation,
            chunks.c.first_pos >= event_count,
        )
    )
    conn.execute(
        delete(problems).where(
            problems.c.source_id == source_id,
            problems.c.generation == generation,
            problems.c.seq >= problem_count,
        )
    )
