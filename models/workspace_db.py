"""The workspace database connection: engine, pragmas, transactions, migrations, errors.

SQLite notes. The driver's own transaction handling is switched off and every transaction is
begun explicitly: ``BEGIN IMMEDIATE`` for writes (a read-then-write transaction, such as
"next edit seq", cannot be overtaken by another writer, and a lock is noticed at its start),
plain ``BEGIN`` for reads. WAL lets readers go on while an import writes.

Durability: ``synchronous=FULL`` in WAL mode syncs the WAL at each commit, so a transaction
that returned is kept across a process kill *and* a power cut. ``NORMAL`` would keep it only
across a process kill. The store commits rarely (one transaction per edit, per import, per
snapshot), so FULL costs an fsync per user action, not per event.

Bulk writes (:data:`BULK_OPTION` ``"bulk"``: the batches of raw records an import writes
while it runs) commit with ``NORMAL`` and without checkpoints: nothing reads them until the
import's last transaction (``"final"``), which is FULL, and syncing the WAL syncs every frame
written before it. A power cut during an import loses at most that unfinished import, which
is cleaned up like one that was killed. The WAL then holds the whole import; the workspace
copies it into the database file on a thread of its own (``Workspace.checkpoint_soon``), and
the last connection's close would do it anyway. Measured for 420 MB of records: the writer
thread spent 1.9 s in its transactions with a checkpoint every 16 MB (two fsyncs each; the
parse then waited 0.39 s for it), 0.97 s without (0.09 s); the import took 0.3 s less. Every
other write goes through ``Workspace.write()``, whose begin hook sets FULL and the usual
checkpoints again on that connection; a write through the raw ``Workspace.engine`` would skip
the hook (nothing does that).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata as importlib_metadata
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Table, create_engine, event, func, insert, inspect, select, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError

from models.migrations import HEAD, MIGRATIONS_DIR
from models.workspace_records import WorkspaceError
from models.workspace_schema import meta
from models.workspace_schema import metadata as workspace_tables

if TYPE_CHECKING:
    from alembic.config import Config

WRITE_OPTION = "rewind_write"
BULK_OPTION = "rewind_bulk"
"""How a write transaction commits (see the module notes): ``""`` as usual, ``"bulk"`` (an
import's rows while it runs: no sync, no checkpoint), ``"final"`` (the import's last
transaction: synced, no checkpoint; the workspace checkpoints in the background after it)."""
_MODES = {"": ("FULL", 1000), "bulk": ("NORMAL", 0), "final": ("FULL", 0)}
"""(synchronous, wal_autocheckpoint) of each mode; 1000 pages is SQLite's default."""
PAGE_SIZE = 16384
"""SQLite page size of new workspace files."""


def app_version() -> str:
    try:
        return importlib_metadata.version("rewind")
    except importlib_metadata.PackageNotFoundError:  # running from a source tree
        return "0+source"


def create_workspace_engine(url: URL, busy_timeout: float) -> Engine:
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": busy_timeout})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see _sqlite_on_begin)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        # Only takes effect on a new, empty file (before WAL mode is set): chunks of raw
        # events are blobs of hundreds of KB, and 16 KiB pages write them about 30 % faster.
        cursor.execute(f"PRAGMA page_size={PAGE_SIZE}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA wal_autocheckpoint=1000")  # (what the begin hook's "" mode sets)
        cursor.execute("PRAGMA cache_size=-16384")  # 16 MiB per connection
        cursor.execute("PRAGMA journal_size_limit=67108864")  # trim the WAL back to 64 MiB
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    write = options.get(WRITE_OPTION, False)
    if write:
        mode = options.get(BULK_OPTION, "")
        info = conn.connection.info  # (per driver connection: it outlives the checkout)
        if info.get(BULK_OPTION, "") != mode:
            sync, checkpoint = _MODES[mode]
            conn.exec_driver_sql(f"PRAGMA synchronous={sync}")
            conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={checkpoint}")
            info[BULK_OPTION] = mode
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def describe_db_error(error: DBAPIError, location: str) -> str:
    """A message for the user from a driver error (the common SQLite ones get their own)."""
    text = str(error.orig)
    low = text.lower()
    if isinstance(error.orig, sqlite3.Error) or "sqlite" in low:
        if "locked" in low or "busy" in low:
            return (
                f"the workspace {location} is locked by another program (another Rewind "
                "writing to it?); close that program and try again, or open another workspace"
            )
        if "not a database" in low or "malformed" in low:
            return (
                f"{location} is not a Rewind workspace or is damaged ({text}); "
                "open another workspace"
            )
        if "unable to open" in low or "readonly" in low or "read-only" in low:
            return (
                f"the workspace {location} cannot be opened for writing ({text}); check the "
                "folder's permissions or open another workspace"
            )
        if "full" in low:
            return f"the disk holding the workspace {location} is full; free some space"
    return f"the workspace {location} reported an error: {text}"


@contextmanager
def translated_errors(location: str) -> Iterator[None]:
    """Driver errors become :class:`WorkspaceError` with a message for the user."""
    try:
        yield
    except DBAPIError as error:
        raise WorkspaceError(describe_db_error(error, location)) from error


def executemany(conn: Connection, table: str, names: Sequence[str], rows: list[Any]) -> None:
    """Bulk insert through the driver's ``executemany`` (3x faster than Core's insert)."""
    if not rows:
        return
    quote = conn.dialect.identifier_preparer.quote
    marks = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(conn.dialect.paramstyle)
    if marks is None:
        numbered = ", ".join(f":{i + 1}" for i in range(len(names)))
    else:
        numbered = ", ".join([marks] * len(names))
    sql = f"INSERT INTO {quote(table)} ({', '.join(quote(n) for n in names)}) VALUES ({numbered})"
    conn.exec_driver_sql(sql, rows)


def _alembic_config(conn: Connection) -> Config:
    from alembic.config import Config  # alembic costs 0.2 s to import: only when migrating

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = conn
    return config


def head_revision() -> str:
    """The schema revision this code writes."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


_CREATE_VERSION_TABLE = (
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
)
"""Alembic's own version table, as it creates it."""


def migrate(conn: Connection) -> None:
    """Bring the schema to head inside the caller's write transaction.

    Refuses a database written by a newer Rewind (a revision this code does not know) and a
    database that holds tables but no Rewind schema (someone else's data).
    """
    if conn.dialect.name == "postgresql":
        # SQLite's BEGIN IMMEDIATE serialises openers; on a shared server, a lock does.
        conn.execute(text("SELECT pg_advisory_xact_lock(7466901)"))
    tables = inspect(conn).get_table_names()
    if "alembic_version" in tables:
        stored = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        if stored == [HEAD]:
            return  # the common case, without importing Alembic
    elif not tables:
        # A new, empty database: made at head from the code's tables and stamped, as
        # Alembic's cookbook builds one from scratch ("create_all, then stamp head"); a test
        # checks that the migrations give exactly these tables. Every first open of a log
        # (a workspace per log) skips importing Alembic: 0.15 s.
        workspace_tables.create_all(conn)
        conn.execute(text(_CREATE_VERSION_TABLE))
        conn.execute(
            text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": HEAD}
        )
        return
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    config = _alembic_config(conn)
    script = ScriptDirectory.from_config(config)
    current = MigrationContext.configure(conn).get_current_heads()
    for revision in current:
        try:
            script.get_revision(revision)
        except CommandError:
            written_by = _stored_app_version(conn)
            by = f", Rewind {written_by}" if written_by else ""
            raise WorkspaceError(
                f"this workspace was written by a newer Rewind (revision {revision}{by}); "
                "update Rewind or open another workspace"
            ) from None
    if not current:
        tables = sorted(set(inspect(conn).get_table_names()) - {"alembic_version"})
        if tables:
            shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
            raise WorkspaceError(
                f"this database is not a Rewind workspace: it holds other tables ({shown}); "
                "open or create a workspace in another file"
            )
    if set(current) != set(script.get_heads()):
        command.upgrade(config, "head")


def _stored_app_version(conn: Connection) -> str | None:
    try:
        return conn.execute(select(meta.c.value).where(meta.c.key == "app_version")).scalar()
    except DBAPIError:  # a newer schema may keep it elsewhere; the revision says enough
        return None


_STREAM_ABOVE = 8 << 20
"""Snapshot blobs from this size up are written into the database piece by piece."""
_STREAM_PIECE = 1 << 20


def streams_blob(conn: Connection, data: Any, above: int | None = None) -> bool:
    """SQLite copies a blob bound to an INSERT whole; a big one (a million events' end
    state) is written through SQLite's incremental blob I/O instead: no second copy."""
    return (
        isinstance(data, bytes | bytearray | memoryview)
        and len(data) >= (_STREAM_ABOVE if above is None else above)
        and conn.dialect.name == "sqlite"
    )


def insert_streamed(
    conn: Connection, table: Table, values: dict[str, Any], above: int | None = None
) -> None:
    """Insert one row whose ``data`` blob, when big, goes in through incremental blob I/O."""
    data = values["data"]
    if not streams_blob(conn, data, above):
        conn.execute(insert(table), [values])
        return
    result = conn.execute(insert(table).values({**values, "data": func.zeroblob(len(data))}))
    write_blob(conn, table.name, "data", int(result.lastrowid), data)


def write_blob(conn: Connection, table: str, column: str, row_id: int, data: Any) -> None:
    raw = conn.connection.driver_connection
    view = memoryview(data)
    with raw.blobopen(table, column, row_id) as blob:  # type: ignore[union-attr]
        for at in range(0, len(view), _STREAM_PIECE):
            blob.write(view[at : at + _STREAM_PIECE])
    view.release()
