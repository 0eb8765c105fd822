"""The workspace store: everything the user builds while debugging, in one database.

An embedded SQLite file by default (no server to start); any SQLAlchemy URL works, so a team
can share a workspace on PostgreSQL. The schema is migrated with Alembic on open, never
recreated. Imported events live as chunks of raw JSON records plus numpy columns (see
``models/workspace_log.py`` for reading them back); branches keep append-only edits;
snapshots keep projection states so that reopening is instant.

Every method runs in its own short transaction and returns once it is committed (durable,
see ``models/workspace_db.py``). The object may be shared between threads.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from sqlalchemy import (
    Engine,
    Insert,
    Row,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError

from models.edits import Edit, EditKind
from models.event import JSON
from models.log import Columns, Int64Array
from models.packed import Packable, PackedStates
from models.paths import absolute_log_path
from models.problems import Problem, Severity
from models.workspace_columns import (
    RECORD_OFFSETS,
    ColumnRow,
    decode_columns,
    decode_offsets,
    merge_columns,
)
from models.workspace_db import (
    BULK_OPTION,
    WRITE_OPTION,
    app_version,
    create_workspace_engine,
    migrate,
    streams_blob,
    translated_errors,
    write_blob,
)
from models.workspace_import import ImportMode, ImportWriter, remove_garbage
from models.workspace_records import (
    Branch,
    ImportOutcome,
    Snapshot,
    Source,
    SourceStatus,
    WorkspaceError,
    now_us,
)
from models.workspace_schema import (
    branches,
    chunks,
    columns,
    edits,
    meta,
    problems,
    snapshots,
    sources,
)

__all__ = [
    "Branch",
    "ChunkIndex",
    "ImportOutcome",
    "ImportWriter",
    "Snapshot",
    "Source",
    "SourceStatus",
    "Workspace",
    "WorkspaceError",
    "merge_columns",
]

SNAPSHOT_COMPRESS_ABOVE = 16 << 10
"""Snapshot JSON larger than this is zlib-compressed (level 1: ~3 ms for 500 KB)."""
_MMAP_BYTES = 1 << 31
"""SQLite's own cap on a memory map (SQLITE_MAX_MMAP_SIZE); parts of a bigger file are read."""
_SNAPSHOT_JSON = "json"
_SNAPSHOT_ZLIB = "json+zlib"
_SNAPSHOT_PACKED = "packed"
"""Many states in one blob, each decoded when first read (models.packed): end states."""
_SNAPSHOT_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


@dataclass(frozen=True, slots=True)
class ChunkIndex:
    """Where each stored chunk starts; position -> chunk by ``np.searchsorted``."""

    chunk_nos: Int64Array
    starts: Int64Array
    counts: Int64Array

    def __len__(self) -> int:
        return int(self.chunk_nos.shape[0])

    def chunk_of(self, pos: int) -> int:
        """Index (not chunk_no) of the chunk holding ``pos``."""
        return int(np.searchsorted(self.starts, pos, side="right")) - 1


_CHECKPOINT_TRIES = 100
_CHECKPOINT_PAUSE = 0.05
"""A background checkpoint that stopped early (a reader on old pages) is tried again this
often, this many times at most."""


class Workspace:
    """Open with :meth:`open`; use as a context manager or call :meth:`close`."""

    def __init__(self, engine: Engine, url: URL, location: str) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._bulk_writer = engine.execution_options(**{WRITE_OPTION: True, BULK_OPTION: "bulk"})
        self._final_writer = engine.execution_options(**{WRITE_OPTION: True, BULK_OPTION: "final"})
        self.url = url
        self.location = location
        """The file path, or the URL without its password: for messages."""
        self._closed = False
        self._checkpointer: threading.Thread | None = None
        self._checkpoint_wanted = False
        self._checkpoint_lock = threading.Lock()
        self._handed_over: dict[int, tuple[tuple[int, int, int | None], Columns]] = {}
        """Columns an import just wrote, by source: the next load of exactly that import
        (generation, count, time) takes them instead of decoding the blobs again."""

    # ----------------------------------------------------------------- open / close

    @classmethod
    def open(cls, target: str | Path, *, busy_timeout: float = 5.0) -> Workspace:
        """A path opens (or creates, with its folders) an SQLite file; a string with ``://``
        is a SQLAlchemy URL (``postgresql+psycopg://user@host/db``). Migrates to the current
        schema. ``busy_timeout``: seconds to wait for another program's write to finish."""
        if isinstance(target, str) and "://" in target:
            try:
                url = make_url(target)
            except ArgumentError as error:
                raise WorkspaceError(f"{target!r} is not a database URL ({error})") from None
            location = url.render_as_string(hide_password=True)
        else:
            path = Path(target).expanduser().resolve()
            if path.is_dir():
                raise WorkspaceError(f"{path} is a folder; a workspace is a file")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise WorkspaceError(
                    f"cannot create the folder for the workspace {path}: {error.strerror}"
                ) from None
            url = URL.create("sqlite+pysqlite", database=str(path))
            location = str(path)
        try:
            engine = create_workspace_engine(url, busy_timeout)
        except (NoSuchModuleError, ModuleNotFoundError) as error:
            raise WorkspaceError(
                f"cannot open {location}: no database driver for it ({error}); install the "
                "driver or use an SQLite workspace file"
            ) from None
        workspace = cls(engine, url, location)
        try:
            with workspace.write() as conn:
                migrate(conn)
                workspace._record_app_version(conn)
        except BaseException:
            engine.dispose()
            raise
        return workspace

    @property
    def engine(self) -> Engine:
        """For tables other parts of Rewind add to the workspace (bookmarks, watches...).
        Writes should use :meth:`write` so that SQLite takes its write lock up front."""
        return self._engine

    def close(self) -> None:
        with self._checkpoint_lock:
            if self._closed:
                return
            self._closed = True
            checkpointer = self._checkpointer
        if checkpointer is not None:
            checkpointer.join()
        self._engine.dispose()

    def checkpoint_soon(self) -> None:
        """Copy what the WAL holds into the database file on a thread of its own (SQLite).

        An import writes its records with no checkpoint on the way (see
        :mod:`models.workspace_db`): the hundreds of megabytes it leaves in the WAL are
        copied here, while the caller goes on, instead of in the next commit. Readers and
        writers go on meanwhile: a passive checkpoint waits for neither, it stops early
        where a reader still uses old pages and is tried again until all is copied. If it
        cannot finish, a later commit or the last connection's close does the rest.
        """
        if self._engine.dialect.name != "sqlite":
            return
        with self._checkpoint_lock:
            if self._closed:
                return
            self._checkpoint_wanted = True
            if self._checkpointer is not None and self._checkpointer.is_alive():
                return  # (it goes round again for what came since)
            self._checkpointer = threading.Thread(
                target=self._checkpoint, name="rewind-checkpoint", daemon=True
            )
            self._checkpointer.start()

    def _checkpoint(self) -> None:
        for _ in range(_CHECKPOINT_TRIES):
            with self._checkpoint_lock:
                if self._closed:
                    return  # (the last connection's close checkpoints)
                self._checkpoint_wanted = False
            try:
                raw = self._engine.raw_connection()
                try:
                    cursor = raw.driver_connection.execute(  # type: ignore[union-attr]
                        "PRAGMA wal_checkpoint(PASSIVE)"
                    )
                    _busy, frames, copied = cursor.fetchone()
                finally:
                    raw.close()
            except Exception:  # (the last connection's close checkpoints instead)
                return
            with self._checkpoint_lock:
                if copied >= frames and not self._checkpoint_wanted:
                    return
            time.sleep(_CHECKPOINT_PAUSE)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def write(self, *, bulk: bool = False, final: bool = False) -> Iterator[Connection]:
        """A write transaction (SQLite: BEGIN IMMEDIATE), committed on leaving.

        ``bulk``: rows nothing reads until a later (ordinary) transaction makes them part of
        the workspace; SQLite then commits without syncing (see :mod:`models.workspace_db`).
        """
        self._check_open()
        writer = self._bulk_writer if bulk else self._final_writer if final else self._writer
        with translated_errors(self.location), writer.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction: one consistent view of the database."""
        self._check_open()
        with translated_errors(self.location), self._engine.connect() as conn:
            yield conn

    def _check_open(self) -> None:
        if self._closed:
            raise WorkspaceError(f"the workspace {self.location} has been closed")

    # ------------------------------------------------------------------------- meta

    def get_meta(self, key: str) -> str | None:
        with self.read() as conn:
            value: str | None = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
            return value

    def set_meta(self, key: str, value: str) -> None:
        with self.write() as conn:
            _put_meta(conn, key, value)

    def _record_app_version(self, conn: Connection) -> None:
        version = app_version()
        stored = conn.execute(select(meta.c.value).where(meta.c.key == "app_version")).scalar()
        if stored != version:
            _put_meta(conn, "app_version", version)
        if stored is None:
            _put_meta(conn, "created_at", str(now_us()))

    # ---------------------------------------------------------------------- sources

    def sources(self) -> list[Source]:
        with self.read() as conn:
            rows = conn.execute(select(sources).order_by(sources.c.id)).all()
        return [_source(row) for row in rows]

    def source(self, source_id: int) -> Source:
        with self.read() as conn:
            return self._source_row(conn, source_id)

    def find_source(self, path: str | Path) -> Source | None:
        """The source imported from this file (any status), or None."""
        key = str(absolute_log_path(path))
        with self.read() as conn:
            row = conn.execute(select(sources).where(sources.c.path == key)).one_or_none()
        return None if row is None else _source(row)

    def delete_source(self, source_id: int) -> None:
        """Remove a log and everything built on it (branches, edits, snapshots)."""
        with self.write() as conn:
            conn.execute(delete(sources).where(sources.c.id == source_id))

    def touch_source(self, source_id: int, mtime_ns: int) -> None:
        """Record a new mtime for a file whose content was found unchanged (no re-hashing
        next time)."""
        with self.write() as conn:
            conn.execute(update(sources).where(sources.c.id == source_id).values(mtime_ns=mtime_ns))

    def begin_import(self, path: str | Path) -> ImportWriter:
        """Start the first import of a log file. A source left half-imported (status
        ``importing``) is reused; an imported one must be appended to or replaced instead."""
        abs_path = absolute_log_path(path)
        mtime_ns = _mtime_ns(abs_path)
        with self.write() as conn:
            row = conn.execute(select(sources).where(sources.c.path == str(abs_path))).one_or_none()
            if row is not None and row.status == SourceStatus.READY.value:
                raise WorkspaceError(
                    f"{abs_path} is already imported in this workspace; append the new "
                    "records or re-import it (replace)"
                )
            if row is None:
                source_id = _new_id(
                    conn,
                    insert(sources).values(
                        path=str(abs_path),
                        format="",
                        compressed=False,
                        mapping="null",
                        size=0,
                        mtime_ns=0,
                        sha1="",
                        end_offset=0,
                        end_line=0,
                        records_read=0,
                        imported=0,
                        skipped=0,
                        event_count=0,
                        problem_count=0,
                        imported_at=None,
                        status=SourceStatus.IMPORTING.value,
                        generation=1,
                    ),
                )
            else:
                source_id = row.id
                conn.execute(
                    update(sources)
                    .where(sources.c.id == source_id)
                    .values(event_count=0, problem_count=0)
                )
                remove_garbage(conn, source_id)
            source = self._source_row(conn, source_id)
        return ImportWriter(self, source, ImportMode.NEW, source.generation, 0, mtime_ns)

    def begin_append(self, source_id: int) -> ImportWriter:
        """Import the records a grown log gained: run the importer with the writer's
        ``start_offset``, ``start_line`` and ``start_pos`` (and the stored format and mapping)."""
        with self.write() as conn:
            source = self._source_row(conn, source_id, lock=True)
            if not source.ready:
                raise WorkspaceError(
                    f"{source.path} has not been fully imported yet; import it again first"
                )
            remove_garbage(conn, source_id)
            last = conn.execute(
                select(func.max(chunks.c.chunk_no)).where(
                    chunks.c.source_id == source_id, chunks.c.generation == source.generation
                )
            ).scalar()
        mtime_ns = _mtime_ns(Path(source.path))
        next_no = 0 if last is None else int(last) + 1
        return ImportWriter(self, source, ImportMode.APPEND, source.generation, next_no, mtime_ns)

    def replace_source(self, source_id: int) -> ImportWriter:
        """Re-import a changed log. The old events stay readable until ``finish``, which
        swaps in the new ones and drops the snapshots; branches and edits are kept."""
        with self.write() as conn:
            source = self._source_row(conn, source_id, lock=True)
            remove_garbage(conn, source_id)
        if not source.ready:
            return self.begin_import(source.path)
        mtime_ns = _mtime_ns(Path(source.path))
        return ImportWriter(self, source, ImportMode.REPLACE, source.generation + 1, 0, mtime_ns)

    def load_columns(self, source_id: int) -> Columns:
        with self.read() as conn:
            return self._load_columns(conn, self._source_row(conn, source_id))

    def log_state(self, source_id: int) -> tuple[Source, Columns, ChunkIndex]:
        """The source row, its columns and chunk index, read in one consistent view."""
        with self.read() as conn:
            source = self._source_row(conn, source_id)
            if not source.ready:
                raise WorkspaceError(
                    f"{source.path} has not been fully imported yet; import it again"
                )
            return source, self._load_columns(conn, source), self._chunk_index(conn, source)

    def read_chunks(
        self, source_id: int, generation: int, first_no: int, last_no: int
    ) -> list[tuple[int, int, int, str, bytes]]:
        """Chunks ``first_no..last_no`` (inclusive) as (chunk_no, first_pos, count, codec,
        data), in order."""
        query = (
            select(
                chunks.c.chunk_no, chunks.c.first_pos, chunks.c.count, chunks.c.codec, chunks.c.data
            )
            .where(
                chunks.c.source_id == source_id,
                chunks.c.generation == generation,
                chunks.c.chunk_no >= first_no,
                chunks.c.chunk_no <= last_no,
            )
            .order_by(chunks.c.chunk_no)
        )
        with self.read() as conn:
            return [tuple(row) for row in conn.execute(query)]

    def read_chunk_set(
        self, source_id: int, generation: int, chunk_nos: list[int]
    ) -> list[tuple[int, int, int, str, bytes]]:
        """Like :meth:`read_chunks` for scattered chunk numbers."""
        query = select(
            chunks.c.chunk_no, chunks.c.first_pos, chunks.c.count, chunks.c.codec, chunks.c.data
        ).where(
            chunks.c.source_id == source_id,
            chunks.c.generation == generation,
            chunks.c.chunk_no.in_(bindparam("nos", expanding=True)),
        )
        with self.read() as conn:
            rows = conn.execute(query, {"nos": chunk_nos})
            return [tuple(row) for row in rows]

    def problems(self, source_id: int, start: int = 0, limit: int | None = None) -> list[Problem]:
        """The import report, in the order the importer found the problems."""
        with self.read() as conn:
            source = self._source_row(conn, source_id)
            query = (
                select(problems)
                .where(
                    problems.c.source_id == source_id,
                    problems.c.generation == source.generation,
                    problems.c.seq >= start,
                    problems.c.seq < source.problem_count,
                )
                .order_by(problems.c.seq)
            )
            if limit is not None:
                query = query.limit(limit)
            rows = conn.execute(query).all()
        return [
            Problem(
                file=row.file,
                line=row.line,
                offset=row.offset,
                reason=row.reason,
                severity=Severity(row.severity),
                excerpt=row.excerpt,
            )
            for row in rows
        ]

    def _source_row(self, conn: Connection, source_id: int, *, lock: bool = False) -> Source:
        query = select(sources).where(sources.c.id == source_id)
        if lock:
            query = query.with_for_update()
        row = conn.execute(query).one_or_none()
        if row is None:
            raise WorkspaceError(f"there is no log {source_id} in the workspace {self.location}")
        return _source(row)

    def _hand_over(self, source: Source, columns: Columns) -> None:
        """Keep the columns ``finish`` wrote for the next :meth:`_load_columns` (once)."""
        self._handed_over[source.id] = (
            (source.generation, source.event_count, source.imported_us),
            columns,
        )

    def _load_columns(self, conn: Connection, source: Source) -> Columns:
        handed = self._handed_over.pop(source.id, None)
        if handed is not None:
            key, fresh = handed
            if key == (source.generation, source.event_count, source.imported_us):
                return fresh
        rows = conn.execute(
            select(columns.c.name, columns.c.dtype, columns.c.count, columns.c.data).where(
                columns.c.source_id == source.id,
                columns.c.generation == source.generation,
                columns.c.name != RECORD_OFFSETS,  # loaded only when needed (_load_offsets)
            )
        ).all()
        if not rows and source.event_count == 0:
            return Columns.empty()
        stored: list[ColumnRow] = [(n, d, c, b) for n, d, c, b in rows]
        loaded = decode_columns(stored, source.path)
        if len(loaded) != source.event_count:
            raise WorkspaceError(
                f"the stored columns of {source.path} hold {len(loaded)} events, not "
                f"{source.event_count}; re-import the log"
            )
        return loaded

    def _load_offsets(self, conn: Connection, source: Source) -> npt.NDArray[np.uint32] | None:
        row = conn.execute(
            select(columns.c.name, columns.c.dtype, columns.c.count, columns.c.data).where(
                columns.c.source_id == source.id,
                columns.c.generation == source.generation,
                columns.c.name == RECORD_OFFSETS,
            )
        ).one_or_none()
        if row is None:
            return None
        name, dtype, count, data = row
        return decode_offsets((name, dtype, count, data), source.event_count)

    def record_offsets(self, source: Source) -> npt.NDArray[np.uint32] | None:
        """Where each event of this import of ``source`` starts in its chunk, if the
        workspace stored that (see :meth:`read_records`)."""
        with self.read() as conn:
            return self._load_offsets(conn, source)

    def read_records(
        self, source_id: int, generation: int, wanted: dict[int, list[tuple[int, int]]]
    ) -> dict[int, list[bytes]] | None:
        """Byte ranges ``(start, stop)`` (stop -1: to the end) of stored chunks, by chunk_no,
        without reading the rest of each chunk; None where the database cannot do that
        cheaply (then read whole chunks).

        SQLite: incremental blob I/O over a memory map of the file, so that reaching a
        record deep in a chunk does not copy the pages before it (1,229 records scattered
        over 684 chunks: 8 ms, against 0.5 s to fetch and split the chunks).
        """
        if self._engine.dialect.name != "sqlite" or not wanted:
            return None
        query = select(literal_column("rowid"), chunks.c.chunk_no).where(
            chunks.c.source_id == source_id,
            chunks.c.generation == generation,
            chunks.c.chunk_no.in_(bindparam("nos", expanding=True)),
        )
        out: dict[int, list[bytes]] = {}
        with self.read() as conn:
            rowids = {
                int(no): int(rowid) for rowid, no in conn.execute(query, {"nos": list(wanted)})
            }
            if len(rowids) != len(wanted):
                raise WorkspaceError(
                    "the stored events changed while reading (re-imported?); reopen the log"
                )
            raw = conn.connection.driver_connection
            assert isinstance(raw, sqlite3.Connection)
            raw.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
            try:
                for no, ranges in wanted.items():
                    with raw.blobopen("chunks", "data", rowids[no], readonly=True) as blob:
                        got = out[no] = []
                        for start, stop in ranges:
                            blob.seek(start)
                            got.append(blob.read(-1 if stop < 0 else stop - start))
            finally:
                raw.execute("PRAGMA mmap_size=0")  # full scans keep out of the map (and RSS)
        return out

    def _chunk_index(self, conn: Connection, source: Source) -> ChunkIndex:
        rows = conn.execute(
            select(chunks.c.chunk_no, chunks.c.first_pos, chunks.c.count)
            .where(
                chunks.c.source_id == source.id,
                chunks.c.generation == source.generation,
                chunks.c.first_pos < source.event_count,
            )
            .order_by(chunks.c.chunk_no)
        ).all()
        # tuples first: numpy probes each SQLAlchemy Row slowly (15 ms per 1,000 rows)
        table = np.array([tuple(row) for row in rows], dtype=np.int64).reshape(len(rows), 3)
        index = ChunkIndex(
            chunk_nos=table[:, 0].copy(), starts=table[:, 1].copy(), counts=table[:, 2].copy()
        )
        ends = index.starts + index.counts
        contiguous = bool(
            len(rows) == 0 or (index.starts[0] == 0 and np.array_equal(index.starts[1:], ends[:-1]))
        )
        total = int(ends[-1]) if len(rows) else 0
        if not contiguous or total != source.event_count:
            raise WorkspaceError(
                f"the stored events of {source.path} are incomplete; re-import the log"
            )
        return index

    # --------------------------------------------------------------------- branches

    def branches(self, source_id: int, *, include_archived: bool = True) -> list[Branch]:
        query = select(branches).where(branches.c.source_id == source_id)
        if not include_archived:
            query = query.where(branches.c.archived.is_(False))
        with self.read() as conn:
            rows = conn.execute(query.order_by(branches.c.id)).all()
        return [_branch(row) for row in rows]

    def branch(self, branch_id: int) -> Branch:
        with self.read() as conn:
            return self._branch_row(conn, branch_id)

    def create_branch(
        self,
        source_id: int,
        name: str,
        *,
        parent_id: int | None = None,
        fork_at: int | None = None,
        parent_edit_count: int | None = None,
        note: str = "",
    ) -> Branch:
        """``parent_edit_count`` None: the parent's edits as they are now."""
        name = _branch_name(name)
        with self.write() as conn:
            self._source_row(conn, source_id)
            if parent_id is None:
                seen = 0
            else:
                parent = self._branch_row(conn, parent_id)
                if parent.source_id != source_id:
                    raise WorkspaceError(
                        f"branch {parent.name!r} belongs to another log; fork from a branch "
                        "of this log"
                    )
                seen = _max_seq(conn, parent_id)
                if parent_edit_count is not None:
                    if not 0 <= parent_edit_count <= seen:
                        raise ValueError(
                            f"parent_edit_count {parent_edit_count} is outside 0..{seen}"
                        )
                    seen = parent_edit_count
            self._check_name_free(conn, source_id, name)
            branch_id = _new_id(
                conn,
                insert(branches).values(
                    source_id=source_id,
                    name=name,
                    parent_id=parent_id,
                    fork_at=fork_at,
                    parent_edit_count=seen,
                    note=note,
                    archived=False,
                    created_at=now_us(),
                ),
            )
            return self._branch_row(conn, branch_id)

    def rename_branch(self, branch_id: int, name: str) -> Branch:
        name = _branch_name(name)
        with self.write() as conn:
            branch = self._branch_row(conn, branch_id)
            if branch.name != name:
                self._check_name_free(conn, branch.source_id, name)
            return self._update_branch(conn, branch_id, name=name)

    def set_note(self, branch_id: int, note: str) -> Branch:
        with self.write() as conn:
            return self._update_branch(conn, branch_id, note=note)

    def archive_branch(self, branch_id: int, archived: bool = True) -> Branch:
        """Archived branches are hidden, not deleted (edits are history)."""
        with self.write() as conn:
            return self._update_branch(conn, branch_id, archived=archived)

    def append_edit(self, branch_id: int, edit: Edit) -> Edit:
        """Append to the branch's edit list; returns the edit with its ``seq`` (and, for an
        INSERT without a target, a newly allocated negative key) once it is durable."""
        changes = None if edit.changes is None else self._dump_json(edit.changes, "the edit")
        event = None if edit.event is None else self._dump_json(edit.event, "the inserted event")
        kind = EditKind(edit.kind)
        with self.write() as conn:
            branch = self._branch_row(conn, branch_id, lock=True)
            target = edit.target
            if kind is EditKind.INSERT:
                target = self._checked_insert_key(conn, branch.source_id, target)
            seq = _max_seq(conn, branch_id) + 1
            conn.execute(
                insert(edits).values(
                    branch_id=branch_id,
                    seq=seq,
                    kind=kind.value,
                    target=target,
                    after=edit.after,
                    changes=changes,
                    event=event,
                    created_at=now_us(),
                )
            )
        return replace(edit, kind=kind, seq=seq, target=target)

    def edits(self, branch_id: int, *, upto_seq: int | None = None) -> list[Edit]:
        """The branch's own edits in order (not its parent's)."""
        query = select(edits).where(edits.c.branch_id == branch_id)
        if upto_seq is not None:
            query = query.where(edits.c.seq <= upto_seq)
        with self.read() as conn:
            rows = conn.execute(query.order_by(edits.c.seq)).all()
        return [self._edit(row) for row in rows]

    def edit_count(self, branch_id: int) -> int:
        with self.read() as conn:
            return _max_seq(conn, branch_id)

    def _checked_insert_key(self, conn: Connection, source_id: int, target: int | None) -> int:
        used = (
            select(edits.c.target)
            .join(branches, branches.c.id == edits.c.branch_id)
            .where(branches.c.source_id == source_id, edits.c.kind == EditKind.INSERT.value)
        )
        if target is None:
            lowest = conn.execute(select(func.min(used.subquery().c.target))).scalar()
            return min(int(lowest or 0), 0) - 1
        if target >= 0:
            raise ValueError(f"an inserted event needs a negative key, not {target}")
        if conn.execute(used.where(edits.c.target == target).limit(1)).first() is not None:
            raise WorkspaceError(
                f"the key {target} is already used by another inserted event of this log; "
                "leave the target empty to get a fresh key"
            )
        return target

    def _branch_row(self, conn: Connection, branch_id: int, *, lock: bool = False) -> Branch:
        query = select(branches).where(branches.c.id == branch_id)
        if lock:
            query = query.with_for_update()
        row = conn.execute(query).one_or_none()
        if row is None:
            raise WorkspaceError(f"there is no branch {branch_id} in the workspace {self.location}")
        return _branch(row)

    def _check_name_free(self, conn: Connection, source_id: int, name: str) -> None:
        taken = conn.execute(
            select(branches.c.id).where(branches.c.source_id == source_id, branches.c.name == name)
        ).first()
        if taken is not None:
            raise WorkspaceError(
                f"a branch named {name!r} already exists for this log; choose another name"
            )

    def _update_branch(self, conn: Connection, branch_id: int, **values: Any) -> Branch:
        self._branch_row(conn, branch_id)
        try:
            conn.execute(update(branches).where(branches.c.id == branch_id).values(**values))
        except IntegrityError as error:  # a concurrent writer took the name meanwhile
            raise WorkspaceError(f"cannot change the branch: {error.orig}") from None
        return self._branch_row(conn, branch_id)

    def _edit(self, row: Row[Any]) -> Edit:
        try:
            kind = EditKind(row.kind)
        except ValueError:
            raise WorkspaceError(
                f"the workspace {self.location} holds an edit of a kind this Rewind does not "
                f"know ({row.kind!r}); update Rewind"
            ) from None
        return Edit(
            kind=kind,
            target=row.target,
            after=row.after,
            changes=None if row.changes is None else _load_json(row.changes),
            event=None if row.event is None else _load_json(row.event),
            seq=row.seq,
        )

    # -------------------------------------------------------------------- snapshots

    def save_snapshot(
        self,
        source_id: int,
        branch_id: int | None,
        projection: str,
        row: int,
        state: Any,
        *,
        edit_seq: int = 0,
    ) -> None:
        """Persist a projection state (JSON: dict keys become strings, tuples lists)."""
        self.save_snapshots(source_id, branch_id, projection, [(row, state)], edit_seq=edit_seq)

    def save_snapshots(
        self,
        source_id: int,
        branch_id: int | None,
        projection: str,
        states: Iterable[tuple[int, Any]],
        *,
        edit_seq: int = 0,
    ) -> None:
        """Several (row, state) pairs in one transaction: one disk sync, not one per state
        (a replay saving every K events would otherwise wait on each)."""
        created = now_us()
        rows = []
        for row, state in states:
            data: bytes | bytearray
            try:
                if isinstance(state, PackedStates | Packable):
                    data = PackedStates.serialize(
                        state.states if isinstance(state, Packable) else state
                    )
                    codec = _SNAPSHOT_PACKED  # read back lazily: not compressed
                else:
                    data = orjson.dumps(state, option=_SNAPSHOT_OPTIONS)
                    codec = _SNAPSHOT_JSON
                    if len(data) > SNAPSHOT_COMPRESS_ABOVE:
                        data, codec = zlib.compress(data, 1), _SNAPSHOT_ZLIB
            except TypeError as error:
                raise WorkspaceError(
                    f"the state of projection {projection!r} after event {row} cannot be "
                    f"saved: {error}"
                ) from None
            rows.append(
                {
                    "source_id": source_id,
                    "branch_id": branch_id,
                    "projection": projection,
                    "row": row,
                    "edit_seq": edit_seq,
                    "created_at": created,
                    "codec": codec,
                    "data": data,
                }
            )
        if rows:
            with self.write() as conn:
                rest = [r for r in rows if not streams_blob(conn, r["data"])]
                if rest:
                    conn.execute(insert(snapshots), rest)
                for r in rows:
                    blob = r["data"]
                    if not streams_blob(conn, blob):
                        continue
                    assert isinstance(blob, bytes | bytearray)
                    row_id = conn.execute(
                        insert(snapshots).values({**r, "data": func.zeroblob(len(blob))})
                    ).inserted_primary_key
                    assert row_id is not None
                    write_blob(conn, "snapshots", "data", int(row_id[0]), blob)

    def load_snapshot(
        self,
        source_id: int,
        branch_id: int | None,
        projection: str,
        *,
        at_or_before: int | None = None,
        edit_seq: int | None = None,
    ) -> Snapshot | None:
        """The latest saved snapshot; with ``at_or_before``, the one with the greatest row
        not after it (latest saved among equals); ``edit_seq`` filters on the edits seen."""
        query = select(snapshots).where(*self._snapshot_filter(source_id, branch_id, projection))
        if edit_seq is not None:
            query = query.where(snapshots.c.edit_seq == edit_seq)
        if at_or_before is None:
            query = query.order_by(snapshots.c.id.desc())
        else:
            query = query.where(snapshots.c.row <= at_or_before).order_by(
                snapshots.c.row.desc(), snapshots.c.id.desc()
            )
        with self.read() as conn:
            found = conn.execute(query.limit(1)).one_or_none()
        if found is None:
            return None
        if found.codec not in (_SNAPSHOT_JSON, _SNAPSHOT_ZLIB, _SNAPSHOT_PACKED):
            raise WorkspaceError(
                f"the snapshot of {projection!r} after event {found.row} uses an encoding this "
                f"Rewind does not know ({found.codec}); update Rewind"
            )
        data = zlib.decompress(found.data) if found.codec == _SNAPSHOT_ZLIB else found.data
        try:
            state = (
                PackedStates.from_bytes(data)
                if found.codec == _SNAPSHOT_PACKED
                else orjson.loads(data)
            )
        except (ValueError, orjson.JSONDecodeError) as error:
            raise WorkspaceError(
                f"the snapshot of {projection!r} after event {found.row} is damaged ({error})"
            ) from None
        return Snapshot(
            source_id=found.source_id,
            branch_id=found.branch_id,
            projection=found.projection,
            row=found.row,
            edit_seq=found.edit_seq,
            created_us=found.created_at,
            state=state,
        )

    def snapshot_rows(
        self, source_id: int, branch_id: int | None, projection: str
    ) -> list[tuple[int, int]]:
        """(row, edit_seq) of every saved snapshot, by row: to plan seeks without loading."""
        query = (
            select(snapshots.c.row, snapshots.c.edit_seq)
            .where(*self._snapshot_filter(source_id, branch_id, projection))
            .order_by(snapshots.c.row, snapshots.c.id)
        )
        with self.read() as conn:
            return [(int(r), int(e)) for r, e in conn.execute(query)]

    def delete_snapshots(
        self,
        source_id: int,
        branch_id: int | None,
        projection: str | None = None,
        *,
        from_row: int | None = None,
    ) -> int:
        """Drop snapshots an edit made stale (those at ``from_row`` and after)."""
        where = [snapshots.c.source_id == source_id, _branch_is(branch_id)]
        if projection is not None:
            where.append(snapshots.c.projection == projection)
        if from_row is not None:
            where.append(snapshots.c.row >= from_row)
        with self.write() as conn:
            return conn.execute(delete(snapshots).where(and_(*where))).rowcount

    @staticmethod
    def _snapshot_filter(source_id: int, branch_id: int | None, projection: str) -> list[Any]:
        return [
            snapshots.c.source_id == source_id,
            _branch_is(branch_id),
            snapshots.c.projection == projection,
        ]

    # ------------------------------------------------------------------------- json

    @staticmethod
    def _dump_json(value: Any, what: str) -> str:
        """orjson for speed; the stdlib for what orjson refuses (integers beyond 64 bits)."""
        try:
            return orjson.dumps(value).decode()
        except TypeError:
            try:
                return json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as error:
                raise WorkspaceError(f"{what} cannot be saved as JSON: {error}") from None


def _load_json(text: str) -> JSON:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _put_meta(conn: Connection, key: str, value: str) -> None:
    done = conn.execute(update(meta).where(meta.c.key == key).values(value=value)).rowcount
    if not done:
        conn.execute(insert(meta).values(key=key, value=value))


def _branch_is(branch_id: int | None) -> Any:
    if branch_id is None:
        return snapshots.c.branch_id.is_(None)
    return snapshots.c.branch_id == branch_id


def _new_id(conn: Connection, statement: Insert) -> int:
    key = conn.execute(statement).inserted_primary_key
    assert key is not None
    return int(key[0])


def _max_seq(conn: Connection, branch_id: int) -> int:
    value = conn.execute(select(func.max(edits.c.seq)).where(edits.c.branch_id == branch_id))
    return int(value.scalar() or 0)


def _branch_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise WorkspaceError("a branch needs a name")
    return name


def _mtime_ns(path: Path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError as error:
        raise WorkspaceError(f"cannot read {path}: {error.strerror}") from None


def _source(row: Row[Any]) -> Source:
    return Source(
        id=row.id,
        path=row.path,
        format=row.format,
        compressed=bool(row.compressed),
        mapping=_load_json(row.mapping),
        size=row.size,
        mtime_ns=row.mtime_ns,
        sha1=row.sha1,
        end_offset=row.end_offset,
        end_line=row.end_line,
        records_read=row.records_read,
        imported=row.imported,
        skipped=row.skipped,
        event_count=row.event_count,
        problem_count=row.problem_count,
        imported_us=row.imported_at,
        status=SourceStatus(row.status),
        generation=row.generation,
    )


def _branch(row: Row[Any]) -> Branch:
    return Branch(
        id=row.id,
        source_id=row.source_id,
        name=row.name,
        parent_id=row.parent_id,
        fork_at=row.fork_at,
        parent_edit_count=row.parent_edit_count,
        note=row.note,
        archived=bool(row.archived),
        created_us=row.created_at,
    )
