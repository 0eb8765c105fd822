"""Stores written by the Python ``eventsourcing`` library (9.x), as canonical lines: SQLite
files (:data:`CONVERTER`) and PostgreSQL databases by URL (:func:`convert_postgres`).

What the library writes (``eventsourcing/sqlite.py`` and ``persistence.py``, 9.5):

- The application recorder's table (``stored_events`` unless configured otherwise) has the
  columns ``originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB`` and a
  SQLite ``rowid``: the notification id, the store's global order. The aggregate recorder's
  tables (``stored_snapshots``) have the same columns but are ``WITHOUT ROWID``. Tables are
  found by their columns, not their names.
- ``originator_id`` is a UUID as 32 hex digits (or any text with ``ORIGINATOR_ID_TYPE=text``);
  ``topic`` is ``module:Class.Event``.
- ``state`` is compact JSON of the event's attributes minus the originator id and version,
  zlib-compressed with ``COMPRESSOR_TOPIC=eventsourcing.compressor:ZlibCompressor`` and then
  AES-GCM encrypted with a ``CIPHER_KEY`` (nonce + tag + ciphertext: random-looking bytes).
  Values of other types are ``{"_type_": name, "_data_": value}``, innermost first.

The mapping (one canonical line per stored event, in notification order):

- id = the notification id (as text); stream = the originator id (a UUID in its hyphenated
  form); version = ``originator_version``; type = the last part of the topic
  (``bank:Account.Credited`` -> ``Credited``), the whole topic in
  ``metadata["eventsourcing.topic"]``.
- recorded time = the state's ``timestamp``; schema version = ``class_version`` (present
  from version 2 on, as the library writes it); data = the rest of the state.
- ``uuid_hex`` -> hyphenated UUID text, ``decimal_str`` -> the decimal's exact text (a JSON
  number could lose digits), ``datetime_iso`` -> the ISO text; unknown (application-defined)
  transcodings stay as they are, with a note.
- Snapshots are not converted (Rewind replays the events); a note counts them.
- An encrypted store raises :class:`~models.problems.InputError` before anything is written.

Reading never changes the database nor creates anything beside it (see :func:`open_store`).

**PostgreSQL** (``eventsourcing/postgres.py``, 9.5): the application recorder's table is
``<application name>_events`` (lower case) in the schema ``POSTGRES_SCHEMA`` (default
``public``; the library creates its tables and types there, not the schema), with
``originator_id uuid`` (``text`` with ``ORIGINATOR_ID_TYPE=text``), ``originator_version
bigint``, ``topic text``, ``state bytea`` and ``notification_id bigserial`` under a unique
index; ``<name>_snapshots`` has them without ``notification_id``. In the schema, the
tables are found by these columns; ``state`` is what SQLite stores hold and is converted the
same way (a uuid is read as its hyphenated text). Everything is read in one ``REPEATABLE
READ, READ ONLY`` transaction (one snapshot; the server refuses any write), in keyset pages
of ``notification_id`` (never OFFSET). Problems name ``<URL, password masked>#<schema>.
<table>`` as their file and the notification id as their line. :func:`postgres_key` tells
whether events were added since.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import re
import shutil
import sqlite3
import tempfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import quote
from uuid import UUID

import orjson
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from models.converters.base import (
    Conversion,
    ConversionCancelled,
    ProgressFn,
    canonical_line,
)
from models.decode import LenientJson
from models.event import datetime_to_us
from models.problems import InputError, Problem, Severity
from models.readers.batch import excerpt

SQLITE_MAGIC: Final = b"SQLite format 3\x00"
EVENT_COLUMNS: Final = frozenset({"originator_id", "originator_version", "topic", "state"})
TOPIC_KEY: Final = "eventsourcing.topic"
"""Metadata member holding the stored event's full topic."""
ENCRYPTED: Final = (
    "encrypted, cannot read: export it without the cipher or give Rewind the key (not supported)"
)
CHUNK_ROWS: Final = 2048
SAMPLE_ROWS: Final = 16
"""Rows looked at before anything is written, to tell an encrypted store from bad rows."""
COPY_ATTEMPTS: Final = 3
PG_EVENT_COLUMNS: Final = EVENT_COLUMNS | {"notification_id"}
"""An application recorder's table on PostgreSQL (``notification_id bigserial``, uniquely
indexed); without ``notification_id``: an aggregate recorder's (snapshots)."""
PG_DEFAULT_SCHEMA: Final = "public"
"""The library's schema when ``POSTGRES_SCHEMA`` is not set."""
PG_PAGE_ROWS: Final = 5000
"""Rows per query when reading PostgreSQL (one progress call each)."""
PG_CONNECT_TIMEOUT: Final = 10
"""Seconds a server has to answer (unless the URL sets ``connect_timeout``)."""

_BIG: Final = 2.0**63
"""orjson reads an integer literal outside [-2**63, 2**64) as a float, losing digits; a float
this large in its result sends the state to the careful parse."""
_HEX32 = re.compile(r"[0-9a-fA-F]{32}")


class _BadRow(Exception):
    """A stored event that cannot be converted; the message is the problem's reason."""


class _Careful(Exception):
    """orjson may have read this state wrongly: parse it again with the stdlib."""


# --- opening the database without touching it -------------------------------------------


@contextlib.contextmanager
def open_store(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the database at ``path`` that changes no file around it.

    SQLite's ``mode=ro`` alone is not enough: on a WAL-mode database it creates (or writes
    to) the ``-shm`` and ``-wal`` files. ``immutable=1`` touches nothing but ignores the
    write-ahead log, so it is used only when there is no ``-wal`` file. When there is one
    (the application is running, or it stopped without a checkpoint: recent commits live
    only there), the database and its log are copied to a private temporary folder and the
    copy is read; the same for a rollback journal left by a crash. A copy whose source
    changed while it was made (a writer is active) is made again, then refused.
    """
    wal = Path(f"{path}-wal")
    journal = Path(f"{path}-journal")
    side = wal if wal.exists() else journal if _non_empty(journal) else None
    if side is None:
        conn = _connect(path, _uri(path, immutable=_header(path)[18:19] == b"\x02"))
        try:
            yield conn
        finally:
            conn.close()
        return
    with tempfile.TemporaryDirectory(prefix="rewind-sqlite-") as folder:
        copy = Path(folder) / "store.sqlite"
        _stable_copy(path, side, copy, Path(f"{copy}{side.name[len(path.name) :]}"))
        # a WAL copy only needs reading; a hot journal must be rolled back into the copy
        uri = f"file:{quote(str(copy))}" + ("?mode=ro" if side is wal else "")
        conn = _connect(path, uri)
        try:
            yield conn
        finally:
            conn.close()


def _uri(path: Path, *, immutable: bool) -> str:
    """Read-only; ``immutable`` also skips locking and the ``-shm``/``-wal`` files (their
    content too: only right when there is no write-ahead log)."""
    uri = f"file:{quote(str(path.absolute()))}?mode=ro"
    return uri + "&immutable=1" if immutable else uri


def _non_empty(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def _header(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(100)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file ({exc.strerror or exc})") from None


def _connect(path: Path, uri: str) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(uri, uri=True)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        if "locked" in str(exc):
            raise InputError(
                f"{path}: the database is locked by a program writing to it ({exc}); try again "
                "when it is idle"
            ) from None
        raise InputError(f"{path}: not a readable SQLite database ({exc})") from None
    return conn


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _stable_copy(db: Path, side: Path, db_copy: Path, side_copy: Path) -> None:
    for _ in range(COPY_ATTEMPTS):
        try:
            before = (_stat(db), _stat(side))
            shutil.copyfile(db, db_copy)
            shutil.copyfile(side, side_copy)
            after = (_stat(db), _stat(side))
        except FileNotFoundError:
            continue  # the log went away: the writer checkpointed and closed meanwhile
        except OSError as exc:
            raise InputError(f"{db}: cannot read the database ({exc.strerror or exc})") from None
        if before == after:
            return
    raise InputError(
        f"{db}: the database is being written to while Rewind reads it; try again when the "
        "application is idle, or read a copy (sqlite3 STORE '.backup copy.sqlite')"
    )


# --- finding the tables ----------------------------------------------------------------------


def _tables(conn: sqlite3.Connection) -> tuple[list[str], list[str]]:
    """(event tables: with rowids, snapshot-like tables: without), by their columns."""
    events: list[str] = []
    others: list[str] = []
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for name in names:
        columns = {r[0] for r in conn.execute("SELECT name FROM pragma_table_info(?)", (name,))}
        if not EVENT_COLUMNS.issubset(columns):
            continue
        try:
            conn.execute(f"SELECT rowid FROM {_ident(name)} LIMIT 0")
        except sqlite3.OperationalError:  # WITHOUT ROWID: an aggregate recorder's table
            others.append(name)
        else:
            events.append(name)
    return events, others


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- one stored event ----------------------------------------------------------------------


def _is_zlib(raw: bytes) -> bool:
    """RFC 1950 header: deflate, a window of at most 32 KiB, a check that divides by 31."""
    return (
        len(raw) >= 2
        and raw[0] & 0x0F == 8
        and raw[0] >> 4 <= 7
        and (raw[0] << 8 | raw[1]) % 31 == 0
    )


def _parse_state(raw: bytes, unknown: Counter[str]) -> tuple[dict[str, Any], list[str]]:
    """The state as plain JSON values, and warnings about numbers JSON cannot hold."""
    body = raw
    if _is_zlib(raw):
        try:
            body = zlib.decompress(raw)
        except zlib.error as exc:
            raise _BadRow(f"the zlib-compressed state is damaged ({exc})") from None
    found: list[str] = []
    try:
        value = orjson.loads(body)
        if type(value) is dict:
            fields = _plain(value, found, False)
            if found:
                unknown.update(found)
            return fields, []
    except (ValueError, _Careful):  # NaN, Infinity, huge integers; or not JSON at all
        found.clear()
        lenient = LenientJson()
        try:
            value = lenient.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise _BadRow(f"the state is not JSON ({exc})") from None
        if type(value) is dict:
            fields = _plain(value, found, True)
            if found:
                unknown.update(found)
            return fields, lenient.notes
    raise _BadRow(f"the state is JSON {type(value).__name__}, not an object")


def _hyphenated(text: str) -> str:
    """What ``str(UUID(text))`` gives, several times faster, for 32 hex digits."""
    h = text.lower()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _uuid(data: Any) -> str:
    if not isinstance(data, str):
        raise ValueError("not text")
    return _hyphenated(data) if _HEX32.fullmatch(data) else str(UUID(data))


def _decimal(data: Any) -> str:
    if not isinstance(data, str):
        raise ValueError("not text")
    try:
        Decimal(data)
    except InvalidOperation:
        raise ValueError("not a decimal") from None
    return data


def _datetime(data: Any) -> str:
    if not isinstance(data, str):
        raise ValueError("not text")
    datetime.fromisoformat(data)
    return data


TRANSCODINGS: Final[dict[str, Callable[[Any], Any]]] = {
    "uuid_hex": _uuid,
    "decimal_str": _decimal,
    "datetime_iso": _datetime,
}
"""The library's own transcodings (persistence.py: UUIDAsHex, DecimalAsStr, DatetimeAsISO),
each to the plain JSON value that keeps it exactly."""


def _plain(value: Any, found: list[str], exact: bool) -> Any:
    """``value`` (an object or an array) with every transcoded member replaced, innermost
    first as the library's ``object_hook`` decodes: only objects of exactly ``_type_`` and
    ``_data_`` are wrapped values. Unknown type names are added to ``found``. Unless
    ``exact``, a float that may be an integer orjson could not hold raises :class:`_Careful`.
    Scalars and wrapped values get no call of their own: this runs for every member of every
    event.
    """
    if type(value) is dict:
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            return _transcoded(value, found, exact)
        out: dict[str, Any] = {}
        for key, item in value.items():
            kind = type(item)
            if kind is dict:
                if len(item) == 2 and "_type_" in item and "_data_" in item:
                    item = _transcoded(item, found, exact)
                else:
                    item = _plain(item, found, exact)
            elif kind is list:
                item = _plain(item, found, exact)
            elif kind is float and not exact and not -_BIG < item < _BIG:
                raise _Careful()
            out[key] = item
        return out
    items: list[Any] = []
    for item in value:
        kind = type(item)
        if kind is dict or kind is list:
            item = _plain(item, found, exact)
        elif kind is float and not exact and not -_BIG < item < _BIG:
            raise _Careful()
        items.append(item)
    return items


def _transcoded(value: dict[str, Any], found: list[str], exact: bool) -> Any:
    name = value["_type_"]
    data = value["_data_"]
    kind = type(data)
    if kind is dict or kind is list:
        data = _plain(data, found, exact)
    elif kind is float and not exact and not -_BIG < data < _BIG:
        raise _Careful()
    decode = TRANSCODINGS.get(name) if type(name) is str else None
    if decode is None:
        found.append(str(name))
        return {"_type_": name, "_data_": data}
    try:
        return decode(data)
    except ValueError as exc:
        raise _BadRow(f"a {name} value {str(data)[:60]!r} cannot be read ({exc})") from None


def _recorded_us(stamp: Any) -> int | None:
    if not isinstance(stamp, str):
        return None
    try:
        return datetime_to_us(datetime.fromisoformat(stamp))
    except ValueError:
        return None


def _stream(originator_id: Any) -> str:
    if isinstance(originator_id, UUID):  # a PostgreSQL uuid column, as the driver reads it
        return str(originator_id)
    if not isinstance(originator_id, str) or not originator_id:
        raise _BadRow(f"originator_id {originator_id!r} is not text")
    if _HEX32.fullmatch(originator_id):
        return _hyphenated(originator_id)
    return originator_id


def _event_type(topic: Any) -> str:
    if not isinstance(topic, str) or not topic:
        raise _BadRow(f"topic {topic!r} is not text")
    return topic.rpartition(":")[2].rpartition(".")[2] or topic


def _convert_row(
    row: Sequence[Any], streams: dict[Any, str], unknown: Counter[str]
) -> tuple[bytes, list[str]]:
    """The canonical line of one stored event and its warnings; :class:`_BadRow` if none.
    ``streams`` caches originator ids already seen (aggregates have many events)."""
    rowid, originator_id, version, topic, state = row
    stream = streams.get(originator_id)
    if stream is None:
        stream = streams[originator_id] = _stream(originator_id)
    if type(version) is not int:
        raise _BadRow(f"originator_version {version!r} is not an integer")
    event_type = _event_type(topic)
    if type(state) is not bytes:
        state = _bytes(state)
    if not isinstance(state, bytes):
        raise _BadRow(f"the state is {type(state).__name__}, not bytes")
    fields, warnings = _parse_state(state, unknown)
    recorded = None
    if "timestamp" in fields:
        recorded = _recorded_us(fields["timestamp"])
        if recorded is not None:
            del fields["timestamp"]
    schema_version = fields.get("class_version")
    if type(schema_version) is int:
        del fields["class_version"]
    else:
        schema_version = None
    line = canonical_line(
        event_id=str(rowid),
        stream=stream,
        event_type=event_type,
        data=fields,
        version=version,
        recorded_us=recorded,
        metadata={TOPIC_KEY: topic},
        schema_version=schema_version,
    )
    return line, warnings


def _bytes(state: Any) -> Any:
    """A state as bytes: text (a TEXT column) encoded, a driver's buffer (``bytea`` read by
    psycopg2) copied; anything else as it is."""
    if isinstance(state, str):
        return state.encode("utf-8")
    if isinstance(state, memoryview | bytearray):
        return bytes(state)
    return state


def _looks_encrypted(state: Any) -> bool:
    """Bytes that are neither JSON text nor the start of zlib-compressed JSON: what the
    library's AES-GCM cipher writes (12-byte nonce, 16-byte tag, ciphertext)."""
    if isinstance(state, memoryview | bytearray):
        state = bytes(state)
    if not isinstance(state, bytes) or len(state) < 28:
        return False
    try:
        state.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return False
    if _is_zlib(state):
        try:
            start = zlib.decompressobj().decompress(state[:4096], 16)
        except zlib.error:
            return True
        return not start.lstrip().startswith(b"{")
    return True


def _excerpt(state: Any) -> str:
    if isinstance(state, memoryview | bytearray):
        state = bytes(state)
    if isinstance(state, str):
        return excerpt(state.encode("utf-8"))
    if not isinstance(state, bytes):
        return repr(state)[:200]
    try:
        state.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes " + state[:48].hex(" ") + (" ..." if len(state) > 48 else "")
    return excerpt(state)


# --- the converter ---------------------------------------------------------------------------


class EventsourcingStore:
    """Converter for the ``eventsourcing`` library's SQLite stores (see the module doc)."""

    name = "eventsourcing"
    description = "SQLite database of the Python eventsourcing library (its stored_events table)"

    def sniff(self, path: Path, head: bytes) -> bool:
        if not head.startswith(SQLITE_MAGIC):
            return False
        # the main file alone first: cheap, and enough unless the schema is still only in
        # the write-ahead log of a store that was never checkpointed (then small to copy)
        with contextlib.suppress(InputError, sqlite3.Error):
            conn = _connect(path, _uri(path, immutable=True))
            try:
                if any(_tables(conn)):
                    return True
            finally:
                conn.close()
        if not Path(f"{path}-wal").exists():
            return False
        try:
            with open_store(path) as conn:
                return any(_tables(conn))
        except (InputError, sqlite3.Error):
            return False

    def convert(
        self, path: Path, out: IO[bytes], *, strict: bool, progress: ProgressFn | None
    ) -> Conversion:
        if not _header(path).startswith(SQLITE_MAGIC):
            raise InputError(f"{path}: not a SQLite database (no 'SQLite format 3' header)")
        with open_store(path) as conn:
            try:
                return _convert_sqlite(str(path), conn, out, strict, progress)
            except sqlite3.Error as exc:
                raise InputError(f"{path}: cannot read the database ({exc})") from None


def _convert_sqlite(
    label: str,
    conn: sqlite3.Connection,
    out: IO[bytes],
    strict: bool,
    progress: ProgressFn | None,
) -> Conversion:
    events, others = _tables(conn)
    notes: list[str] = []
    for name in others:
        count, aggregates = conn.execute(
            f"SELECT count(*), count(DISTINCT originator_id) FROM {_ident(name)}"
        ).fetchone()
        notes.extend(_snapshot_note(name, count, aggregates))
    if not events:
        found = f" (only {', '.join(others)}, without notification ids)" if others else ""
        raise InputError(
            f"{label}: no table of stored events from the eventsourcing library "
            f"(columns originator_id, originator_version, topic, state){found}; convert "
            "the database of the application itself"
        )
    table, note = _choose(events)
    notes.extend(note)
    total = conn.execute(f"SELECT count(*) FROM {_ident(table)}").fetchone()[0]
    cursor = conn.execute(
        "SELECT rowid, originator_id, originator_version, topic, state "
        f"FROM {_ident(table)} ORDER BY rowid"
    )
    pages = iter(lambda: cursor.fetchmany(CHUNK_ROWS), [])
    return _Run(label, table, out, strict, progress).run(total, pages, notes)


def _snapshot_note(table: str, count: int, aggregates: int) -> list[str]:
    if not count:
        return []
    return [
        f"{count} snapshots of {aggregates} aggregates (table {table}) were not imported: "
        "Rewind replays the events themselves and does not need them"
    ]


def _choose(events: list[str]) -> tuple[str, list[str]]:
    """The events table read when there are several (one application's recorder each), and
    a note naming the others."""
    table = "stored_events" if "stored_events" in events else sorted(events)[0]
    left = [name for name in sorted(events) if name != table]
    if not left:
        return table, []
    return table, [
        f"read the events of table {table}; the database also holds event tables "
        f"{', '.join(left)}, which were not converted"
    ]


_Row = Sequence[Any]
"""(notification id, originator_id, originator_version, topic, state)."""


class _Run:
    """The rows of one events table, in notification order, as canonical lines; problems
    against ``label`` at the row's notification id."""

    def __init__(
        self,
        label: str,
        table: str,
        out: IO[bytes],
        strict: bool,
        progress: ProgressFn | None,
    ) -> None:
        self.label = label
        self.table = table
        self.out = out
        self.strict = strict
        self.progress = progress
        self.result = Conversion()
        self.unknown: Counter[str] = Counter()

    def run(self, total: int, pages: Iterable[Sequence[_Row]], notes: list[str]) -> Conversion:
        """Convert every row of ``pages`` (``total`` of them); an encrypted store is refused
        (:class:`InputError`) from its first rows, before anything is written."""
        pages = iter(pages)
        head: list[Sequence[_Row]] = []
        seen = 0
        for page in pages:
            head.append(page)
            seen += len(page)
            if seen >= SAMPLE_ROWS:
                break
        sample = [row for page in head for row in page][:SAMPLE_ROWS]
        if sample and all(_looks_encrypted(row[4]) for row in sample):
            reason = f"the events in table {self.table} are {ENCRYPTED}"
            problem = Problem(self.label, 0, 0, reason, excerpt=_excerpt(sample[0][4]))
            raise InputError(f"{self.label}: {reason}", [problem])
        self._report(0, total)
        done = 0
        streams: dict[Any, str] = {}
        table = self.table
        for rows in itertools.chain(head, pages):
            lines: list[bytes] = []
            for row in rows:
                try:
                    line, warnings = _convert_row(row, streams, self.unknown)
                except _BadRow as exc:
                    self._skip(row, str(exc))
                    continue
                lines.append(line)
                for warning in warnings:
                    self._problem(row, f"{warning} (table {table})", Severity.WARNING)
            self.out.write(b"".join(lines))
            self.result.records += len(lines)
            done += len(rows)
            self._report(done, total)
        if self.unknown:
            kinds = ", ".join(f"{name} ({n})" for name, n in sorted(self.unknown.items()))
            notes.append(
                "values of application-defined types were kept as the library stored them, "
                f'{{"_type_": name, "_data_": value}}: {kinds}'
            )
        self.result.notes = notes
        return self.result

    def _report(self, done: int, total: int) -> None:
        if self.progress is not None and not self.progress(done, max(done, total)):
            raise ConversionCancelled()

    def _skip(self, row: _Row, reason: str) -> None:
        where = f"table {self.table}, aggregate {row[1]!s:.40} version {row[2]!s:.20}"
        self._problem(row, f"{reason} ({where}); the event was skipped", Severity.ERROR)
        self.result.skipped += 1

    def _problem(self, row: _Row, reason: str, severity: Severity) -> None:
        """Against the row's notification id, as the "line" (a database has no byte
        offsets)."""
        problem = Problem(self.label, row[0], 0, reason, severity, _excerpt(row[4]))
        if severity is Severity.ERROR and self.strict:
            raise InputError(f"{problem.location()}: {problem.reason}", [problem])
        self.result.problems.append(problem)


# --- PostgreSQL stores, by URL -------------------------------------------------------------


def convert_postgres(
    url: str,
    out: IO[bytes],
    *,
    schema: str | None = None,
    strict: bool = False,
    progress: ProgressFn | None = None,
    page_size: int = PG_PAGE_ROWS,
) -> Conversion:
    """Write a canonical line for every event of the library's PostgreSQL store at ``url``
    (a SQLAlchemy or libpq URL) in ``schema`` (the application's ``POSTGRES_SCHEMA``;
    default ``public``) to ``out``, as for a SQLite store (see the module doc).
    ``progress(rows_read, rows_total)`` after each page of ``page_size`` rows; False cancels
    (:class:`ConversionCancelled`). Problems name ``<masked URL>#<schema>.<table>`` as their
    file and the notification id as their line. Errors that stop it are :class:`InputError`.
    """
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    with _PgStore.open(url, schema) as store:
        total, _ = store.summary()
        run = _Run(store.label, store.table, out, strict, progress)
        return run.run(total, store.pages(page_size), store.notes)


def postgres_key(url: str, schema: str | None = None) -> str:
    """What identifies the events of the store at ``url`` now: a hash of the URL without its
    password, the schema, the events table, its greatest notification id and its row count;
    an added event changes it (rows changed in place do not). Connects to the database."""
    with _PgStore.open(url, schema) as store:
        count, greatest = store.summary()
        identity = [_pg_identity(store.url), store.schema, store.table, count, greatest]
    return hashlib.sha1(orjson.dumps(identity), usedforsecurity=False).hexdigest()[:16]


def _masked(url: str) -> str:
    # imported here: sqltable imports this module (for open_store)
    from models.converters.sqltable import mask_url

    return mask_url(url)


def _pg_url(url: str) -> URL:
    """``url`` as SQLAlchemy takes it, with psycopg (the driver installed, and the library's)
    when it names no driver: ``postgresql://`` and libpq's ``postgres://`` too."""
    try:
        parsed = make_url(url.strip())
    except ArgumentError as exc:
        raise InputError(
            f"{_masked(url)}: not a database URL ({exc}); write it as "
            "postgresql://user:password@host:port/database"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() != "postgresql":
        raise InputError(
            f"{_masked(url)}: not a PostgreSQL URL; write it as "
            "postgresql://user:password@host:port/database (a SQLite store is opened by its "
            "file's path)"
        )
    return parsed


def _pg_identity(url: URL) -> str:
    """The URL without its password (nor password query parameters) and driver."""
    parsed = url._replace(password=None, drivername="postgresql")  # set() keeps a password
    parsed = parsed.difference_update_query(
        [key for key in parsed.query if key.lower() in ("password", "sslpassword")]
    )
    return parsed.render_as_string(hide_password=False)


def _pg_cannot_connect(url: URL, raw_url: str, exc: DBAPIError) -> str:
    reason = " ".join(str(exc.orig).split())  # libpq's messages span lines
    if url.password and len(str(url.password)) >= 3:
        reason = reason.replace(str(url.password), "***")
    low = reason.lower()
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    if "password" in low or "authentication" in low:
        check = "check the user name and password (the application's POSTGRES_USER, ..._PASSWORD)"
    elif "does not exist" in low:
        check = (
            f"check the database name ({url.database!r}, the application's POSTGRES_DBNAME) "
            "and the user name"
        )
    elif any(word in low for word in ("refused", "timeout", "timed out", "resolve", "route")):
        check = f"check that the server is running and reachable at {where}"
    else:
        check = f"check the server at {where}, the database name, user and password"
    return f"cannot connect to {_masked(raw_url)}: {reason}; {check}"


def _pg_error(label: str, exc: SQLAlchemyError) -> InputError:
    if not isinstance(exc, DBAPIError):
        return InputError(f"{label}: cannot read the store ({exc})")
    reason = " ".join(str(exc.orig).split())
    if "permission denied" in reason.lower():
        return InputError(
            f"{label}: not allowed to read the store ({reason}); ask for USAGE on the schema "
            "and SELECT on its tables, or connect as the application's user"
        )
    return InputError(f"{label}: the database reported an error: {reason}")


_PG_TABLES: Final = text(
    "SELECT n.nspname, c.relname, array_agg(a.attname::text) "
    "FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
    "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
    "AND a.attnum > 0 AND NOT a.attisdropped AND a.attname = ANY(:columns) "
    "AND (n.nspname = :schema OR CAST(:schema AS text) IS NULL) "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "GROUP BY n.nspname, c.relname"
)
"""Every table with some of the library's columns: in one schema, or (NULL) in all."""


class _PgStore:
    """A store's schema on a server, read in one ``REPEATABLE READ, READ ONLY`` transaction:
    every statement sees the same snapshot, and the server refuses any write."""

    def __init__(self, conn: Connection, url: URL, raw_url: str, schema: str) -> None:
        self.conn = conn
        self.url = url
        self.schema = schema
        self.label = f"{_masked(raw_url)}#{schema}"
        self.notes: list[str] = []
        self.table = self._pick()
        self.label = f"{self.label}.{self.table}"
        self.name = f"{_ident(schema)}.{_ident(self.table)}"

    @classmethod
    @contextlib.contextmanager
    def open(cls, raw_url: str, schema: str | None) -> Iterator[_PgStore]:
        url = _pg_url(raw_url)
        schema = (schema or "").strip() or PG_DEFAULT_SCHEMA
        args: dict[str, Any] = {}
        if url.get_driver_name() in ("psycopg", "psycopg2") and "connect_timeout" not in url.query:
            args["connect_timeout"] = PG_CONNECT_TIMEOUT
        try:
            engine = create_engine(url, poolclass=NullPool, connect_args=args)
        except (NoSuchModuleError, ImportError) as exc:
            raise InputError(
                f"{_masked(raw_url)}: the database driver {url.drivername!r} is not available "
                f"({exc}); write the URL as postgresql://... to use psycopg"
            ) from None
        label = f"{_masked(raw_url)}#{schema}"
        try:
            try:
                conn = engine.connect()
            except DBAPIError as exc:
                raise InputError(_pg_cannot_connect(url, raw_url, exc)) from None
            with conn:
                try:
                    conn.begin()
                    conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
                    store = cls(conn, url, raw_url, schema)
                    label = store.label
                    yield store  # never committed: closing rolls the transaction back
                except SQLAlchemyError as exc:
                    raise _pg_error(label, exc) from None
        finally:
            engine.dispose()

    def _pick(self) -> str:
        found = self.conn.execute(
            _PG_TABLES, {"columns": sorted(PG_EVENT_COLUMNS), "schema": self.schema}
        ).all()
        events: list[str] = []
        others: list[str] = []
        for _, name, columns in found:
            if EVENT_COLUMNS.issubset(columns):
                (events if "notification_id" in columns else others).append(name)
        for name in sorted(others):
            count, aggregates = self.conn.execute(
                text(
                    "SELECT count(*), count(DISTINCT originator_id) "
                    f"FROM {_ident(self.schema)}.{_ident(name)}"
                )
            ).one()
            self.notes.extend(_snapshot_note(name, count, aggregates))
        if events:
            table, notes = _choose(events)
            self.notes.extend(notes)
            return table
        exists = self.conn.execute(
            text("SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = :schema"),
            {"schema": self.schema},
        ).scalar()
        if not exists:
            raise InputError(
                f"{self.label}: the database has no schema {self.schema!r}; {self._elsewhere()}"
            )
        only = f" (only {', '.join(sorted(others))}, without notification ids)" if others else ""
        raise InputError(
            f"{self.label}: no table of stored events from the eventsourcing library "
            "(columns originator_id, originator_version, topic, state, notification_id) in "
            f"schema {self.schema!r}{only}; {self._elsewhere()}"
        )

    def _elsewhere(self) -> str:
        """Where to look instead: the schemas that hold events tables, if any."""
        rows = self.conn.execute(
            _PG_TABLES, {"columns": sorted(PG_EVENT_COLUMNS), "schema": None}
        ).all()
        schemas = sorted(
            {space for space, _, columns in rows if PG_EVENT_COLUMNS.issubset(columns)}
        )
        if schemas:
            return (
                f"the library's events tables are in schema {', '.join(map(repr, schemas))}: "
                "give that schema (the application's POSTGRES_SCHEMA)"
            )
        return (
            "no schema of this database holds one: check the database name (the "
            "application's POSTGRES_DBNAME) and schema (POSTGRES_SCHEMA)"
        )

    def summary(self) -> tuple[int, int | None]:
        """(events, greatest notification id)."""
        count, greatest = self.conn.execute(
            text(f"SELECT count(notification_id), max(notification_id) FROM {self.name}")
        ).one()
        return int(count), greatest

    def pages(self, size: int) -> Iterator[Sequence[_Row]]:
        """The events in notification order, by keyset pagination on the library's unique
        index (each page costs the same however deep it lies; OFFSET would not)."""
        columns = (
            "SELECT notification_id, CAST(originator_id AS text), originator_version, topic, "
            f"state FROM {self.name} "
        )
        first = text(
            f"{columns}WHERE notification_id IS NOT NULL ORDER BY notification_id LIMIT :n"
        )
        after = text(f"{columns}WHERE notification_id > :after ORDER BY notification_id LIMIT :n")
        rows = self.conn.execute(first, {"n": size}).all()
        while rows:
            yield rows
            if len(rows) < size:
                return
            rows = self.conn.execute(after, {"after": rows[-1][0], "n": size}).all()


CONVERTER: Final = EventsourcingStore()

__all__ = [
    "CONVERTER",
    "ENCRYPTED",
    "PG_PAGE_ROWS",
    "TOPIC_KEY",
    "EventsourcingStore",
    "convert_postgres",
    "open_store",
    "postgres_key",
]
