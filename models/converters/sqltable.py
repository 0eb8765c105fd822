"""Any SQL table (or view) of events, read through SQLAlchemy, as canonical lines.

A :class:`TableSource` names the database (a SQLAlchemy URL: ``sqlite:///events.db``,
``postgresql+psycopg://user:pw@host/db``), the table, which column holds which canonical
field, and optionally an equality filter and a time window. :func:`convert` writes one
canonical line per row.

**Reading.** The table is reflected (``Table(..., autoload_with=...)``); every identifier in
the statements comes from that reflection (names the caller gives are only looked up in it,
exactly, else case-insensitively when that is unambiguous) and every value is a bound
parameter: nothing the caller gives is pasted into SQL text (:func:`explain` shows a
statement and its parameters). Rows are read in pages of :data:`PAGE_SIZE` by keyset
pagination (``WHERE (k1, k2) > (:a, :b) ORDER BY k1, k2 LIMIT :n``), never by OFFSET, so each
page costs the same however deep it lies. (SQLAlchemy's SQLite dialect writes ``OFFSET 0``
after every LIMIT; it is a constant.)

**Only reading.** A SQLite file is opened with
:func:`~models.converters.eventsourcing_store.open_store`: read-only, and without changing any
file beside it (``immutable`` when there is no write-ahead log, else a private copy of the
database and its log, so a store with recent commits only in its ``-wal`` file is read
whole); the URL's query parameters are not used. PostgreSQL runs everything in one
``REPEATABLE READ, READ ONLY`` transaction: every page sees the same snapshot and the server
refuses any write. Other SQLAlchemy backends are accepted as they are (only SELECTs are sent)
but are not tested.

**Order** (``order_by``, a column name; default: the table's primary key, else the
recorded_at column, else SQLite's rowid). Keyset pagination needs a unique order, so a
column that is not unique by itself is followed by the primary key (or the rowid) as a
tie-break. Rows whose order column is NULL come last, in tie-break order (SQL compares no
NULLs, so they are read by a second keyset pass). On SQLite, a primary key that is not an
INTEGER PRIMARY KEY may hold NULLs; it is used only when none does, else the rowid is used in
its place. A table with no primary key, no rowid (a PostgreSQL table, a view) and no unique
order column cannot be paged by keys: it is read by one ordered query whose rows are fetched
in pages (ties in an arbitrary order); with no order column at all, ``order_by`` is required.
A note says which order was used.

**Mapping** (``columns``: canonical field -> column; ``type`` is required):

- ``id``: text of the column; absent (or NULL) -> ``"row:<primary key>"`` (the key's values
  joined by ``,``; the rowid on SQLite; the 1-based position in the read order when there is
  neither, which changes with the filter).
- ``stream``, ``type``, ``correlation_id``, ``causation_id``: text (UUIDs and numbers as their
  text). An empty stream is Rewind's "(no stream)"; a NULL or empty type skips the row.
  Correlation and causation go to the top of the metadata, where the importer lifts them.
- ``version``: an integer (an integral number or digits as text).
- ``recorded_at`` / ``processed_at``: native date-time values (a value without a time zone is
  UTC, as PostgreSQL's ``timestamp``), ISO 8601 text (:mod:`models.timeparse`; a numeric text
  is read by its own magnitude there), or epoch numbers. The unit of epoch numbers is decided
  **per column**, once, by the largest magnitude in the first page holding a non-zero number
  (seconds below 1e11, milliseconds below 1e14, microseconds below 1e17, else nanoseconds;
  the thresholds of :mod:`models.timeparse`), so a column of milliseconds is never read
  partly as seconds; a note names the unit chosen.
- ``data``: JSON (``json``/``jsonb`` on PostgreSQL, JSON text on SQLite or in a text column).
  Text that is not JSON is kept as a string, with a WARNING (a column of plain text is data
  too); NULL or empty text is null. Without a data column, the columns no field uses become
  the members of ``data`` (dates as ISO text, decimals as numbers when a float holds them
  exactly, else as text; bytes as hex); with one, those columns are not read (a note lists
  them).
- ``metadata``: a JSON object (NULL or empty: none). Anything else skips the row.

**Filter.** ``where`` compares columns with values (``=``; ``None`` is ``IS NULL``), ANDed.
``since`` (inclusive) and ``until`` (exclusive) are ISO timestamps compared with the
recorded_at column: in SQL for PostgreSQL date-time and number columns; in Python, on the
converted time, for other columns (text, and anything on SQLite, whose columns may mix
text and numbers), where a row without a time is outside the window and a row whose time
cannot be read is skipped with an ERROR (it cannot be placed). Progress counts the rows the
SQL filter selects, so a window applied in Python reads (and counts) more rows.

**Problems.** A row that cannot be converted is skipped with one ERROR (``strict`` raises
:class:`~models.problems.InputError` at the first). Problems name :meth:`TableSource.describe`
as their file and, as their line, the row's integer key (primary key or rowid) when it has
one, else its 1-based position in the read order; the reason names the key's columns and
values and the excerpt shows the row. ``records + skipped`` is the number of rows the filter
selects.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import unquote, urlsplit
from uuid import UUID

import orjson
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    Numeric,
    Select,
    Table,
    Text,
    cast,
    create_engine,
    func,
    inspect,
    literal,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    type_coerce,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    NoSuchModuleError,
    NoSuchTableError,
    SAWarning,
    SQLAlchemyError,
)
from sqlalchemy.pool import NullPool, StaticPool
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import JSON, DateTime, Integer, NullType

from models.converters.base import Conversion, ConversionCancelled, ProgressFn, canonical_line
from models.converters.common import Skip
from models.converters.eventsourcing_store import open_store
from models.log import NA
from models.mapping import NO_STREAM
from models.problems import InputError, Problem, Severity
from models.readers.batch import excerpt
from models.timeparse import (
    MAX_US,
    MICROS_BELOW,
    MILLIS_BELOW,
    MIN_US,
    SECONDS_BELOW,
    datetime_us,
    parse_timestamp,
    parse_timestamps,
)

FIELDS: Final = (
    "id",
    "stream",
    "type",
    "version",
    "recorded_at",
    "processed_at",
    "data",
    "metadata",
    "correlation_id",
    "causation_id",
)
"""The canonical fields a column can be mapped to (``event_id`` is accepted for ``id``)."""
PAGE_SIZE: Final = 5000
"""Rows per page (one query each, one progress call each)."""
CONNECT_TIMEOUT: Final = 10
"""Seconds a PostgreSQL server has to answer (unless the URL sets ``connect_timeout``)."""
_ALIASES: Final = {"event_id": "id"}
_SECRET_KEYS: Final = frozenset({"password", "passwd", "pwd", "sslpassword"})
_SECRET_QUERY: Final = re.compile(
    rf"([?&](?:{'|'.join(sorted(_SECRET_KEYS))})=)[^&#]*", re.IGNORECASE
)
_ROWID_NAMES: Final = ("rowid", "_rowid_", "oid")
_TIME_FIELDS: Final = ("recorded_at", "processed_at")

Unit = tuple[int, int]
"""An epoch unit as (multiplier, divisor) to microseconds."""
_SECONDS: Final[Unit] = (1_000_000, 1)
_UNIT_NAMES: Final = {
    (1_000_000, 1): "seconds",
    (1_000, 1): "milliseconds",
    (1, 1): "microseconds",
    (1, 1_000): "nanoseconds",
}


# --- the source --------------------------------------------------------------------------


@dataclass(frozen=True)
class TableSource:
    """Where the events are and how the table's columns map onto canonical fields (see the
    module doc). Treat the dicts as frozen too."""

    url: str
    table: str
    columns: dict[str, str]
    """Canonical field (:data:`FIELDS`) -> column name; ``type`` is required."""
    order_by: str | None = None
    """The column giving the events' order (default: primary key, recorded_at, rowid)."""
    where: dict[str, Any] = field(default_factory=dict)
    """Column -> value, each compared with ``=`` (``None``: IS NULL), all ANDed."""
    since: str | None = None
    """ISO timestamp: only rows recorded at or after it."""
    until: str | None = None
    """ISO timestamp: only rows recorded before it."""
    schema: str | None = None
    """The table's schema (PostgreSQL) or attached database name; None: the default."""

    def describe(self) -> str:
        """The URL with its password masked, then ``#`` and the table: the name problems and
        messages give the source."""
        table = f"{self.schema}.{self.table}" if self.schema else self.table
        return f"{mask_url(self.url)}#{table}"

    def key(self) -> str:
        """What identifies the rows now: a hash of everything that selects and maps them
        (the URL without its password) and of the table's row count and greatest order
        key(s) under the filter, so that added or removed rows change it. Rows changed in
        place without either are not noticed. Connects to the database."""
        label = self.describe()
        with _reading(label), _connection(self, label) as conn:
            plan = _Plan(conn, self, label)
            count, *greatest = conn.execute(plan.summary()).one()
        identity = {
            "url": _url_identity(self.url),
            "table": self.table,
            "schema": self.schema,
            "columns": sorted(self.columns.items()),
            "order_by": self.order_by,
            "where": sorted((k, repr(v)) for k, v in self.where.items()),
            "since": self.since,
            "until": self.until,
            "count": count,
            "greatest": [repr(value) for value in greatest],
        }
        return hashlib.sha1(orjson.dumps(identity), usedforsecurity=False).hexdigest()[:16]


def mask_url(url: str) -> str:
    """``url`` with its password (and password query parameters) shown as ``***``."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return re.sub(r"(://[^/@:]*:)[^@/]*@", r"\1***@", url)
    return _SECRET_QUERY.sub(r"\1***", parsed.render_as_string(hide_password=True))


def _url_identity(url: str) -> str:
    """The URL without any password; a SQLite file by its absolute path."""
    parsed = make_url(url)._replace(password=None)  # set(password=None) keeps it
    parsed = parsed.difference_update_query(
        [key for key in parsed.query if key.lower() in _SECRET_KEYS]
    )
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return f"sqlite:{_sqlite_path(parsed, url).absolute()}"
    return parsed.render_as_string(hide_password=False)


# --- connecting, read-only -----------------------------------------------------------------


@contextmanager
def _connection(source: TableSource, label: str) -> Iterator[Connection]:
    """A connection that can only read (see the module doc)."""
    try:
        url = make_url(source.url)
    except ArgumentError as exc:
        raise InputError(
            f"{mask_url(source.url)}: not a database URL ({exc}); write it as SQLAlchemy "
            "does, e.g. sqlite:///events.db or postgresql+psycopg://user:password@host/db"
        ) from None
    if url.get_backend_name() == "sqlite":
        path = _sqlite_path(url, label)
        with open_store(path) as raw:
            engine = create_engine("sqlite://", creator=lambda: raw, poolclass=StaticPool)
            try:
                with engine.connect() as conn:
                    yield conn
            finally:
                engine.dispose()
        return
    engine = _server_engine(url, source.url)
    try:
        try:
            conn = engine.connect()
        except DBAPIError as exc:
            raise InputError(_cannot_connect(url, source.url, exc)) from None
        with conn:
            conn.begin()
            if url.get_backend_name() == "postgresql":
                conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
            yield conn  # never committed: closing rolls the transaction back
    finally:
        engine.dispose()


def _sqlite_path(url: URL, label: str) -> Path:
    database = url.database or ""
    if database.startswith("file:"):  # a URI (``?uri=true``): its path only
        database = unquote(urlsplit(database).path)
    if not database or database == ":memory:":
        raise InputError(
            f"{label}: an in-memory SQLite database holds no events; give the database "
            "file's path, e.g. sqlite:///path/to/events.db"
        )
    return Path(database)


def _server_engine(url: URL, raw_url: str) -> Engine:
    args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
        args["connect_timeout"] = CONNECT_TIMEOUT
    try:
        return create_engine(url, poolclass=NullPool, connect_args=args)
    except NoSuchModuleError:
        raise InputError(
            f"{mask_url(raw_url)}: unknown kind of database {url.drivername!r}; use a "
            "SQLAlchemy URL such as sqlite:///events.db or postgresql+psycopg://..."
        ) from None
    except ImportError as exc:
        raise InputError(
            f"{mask_url(raw_url)}: the database driver for {url.drivername!r} is not "
            f"installed ({exc}); install it, or use postgresql+psycopg:// for PostgreSQL"
        ) from None


def _scrub(message: str, raw_url: str) -> str:
    """A driver's message with the URL's password taken out, should it quote it."""
    try:
        password = make_url(raw_url).password
    except ArgumentError:
        return message
    if password and len(str(password)) >= 3:
        message = message.replace(str(password), "***")
    return message


def _cannot_connect(url: URL, raw_url: str, exc: DBAPIError) -> str:
    reason = _scrub(str(exc.orig).strip(), raw_url)
    low = reason.lower()
    where = f"{url.host or 'localhost'}:{url.port or 'default port'}"
    if "password" in low or "authentication" in low:
        check = "check the user name and password"
    elif "does not exist" in low:
        check = f"check the database name ({url.database!r}) and the user name"
    elif "refused" in low or "timeout" in low or "timed out" in low or "resolve" in low:
        check = f"check that the server is running and reachable at {where}"
    else:
        check = f"check the server at {where}, the database name, user and password"
    return f"cannot connect to {mask_url(raw_url)}: {reason}; {check}"


@contextmanager
def _reading(label: str) -> Iterator[None]:
    """Database errors while reading become :class:`InputError` with the source's name."""
    try:
        yield
    except DBAPIError as exc:
        reason = str(exc.orig).strip()
        if "permission denied" in reason.lower():
            raise InputError(
                f"{label}: not allowed to read the table ({reason}); ask for SELECT on it or "
                "connect as a user who has it"
            ) from None
        raise InputError(f"{label}: the database reported an error: {reason}") from None
    except SQLAlchemyError as exc:
        raise InputError(f"{label}: cannot read the table ({exc})") from None


# --- the table, its columns and the statements ----------------------------------------------


@dataclass
class _Phase:
    """One pass over the rows: extra filters, the keyset columns (their places in a row);
    ``stream``: no unique key, one ordered query fetched in pages."""

    filters: list[ColumnElement[bool]]
    keys: list[ColumnElement[Any]]
    names: list[str]
    stream: bool
    key_at: list[int] = field(default_factory=list)


class _Plan:
    """The reflected table and every statement the conversion sends."""

    def __init__(self, conn: Connection, source: TableSource, label: str) -> None:
        self.conn = conn
        self.label = label
        self.sqlite = conn.dialect.name == "sqlite"
        self.table = _reflect(conn, source, label)
        self.fields: dict[str, Column[Any]] = {}
        for key, name in source.columns.items():
            canonical = _ALIASES.get(key, key)
            if canonical not in FIELDS:
                raise InputError(
                    f"{label}: unknown field {key!r} in the column mapping; known fields: "
                    f"{', '.join(FIELDS)}"
                )
            self.fields[canonical] = self.column(name, f"the {canonical} field")
        if "type" not in self.fields:
            raise InputError(
                f"{label}: the column mapping needs the type field (which column holds the "
                f"event's type?); the table's columns: {self.names()}"
            )
        self.filters: list[ColumnElement[bool]] = []
        for name, value in source.where.items():
            expr = self.compared(self.column(name, "the filter"))
            self.filters.append(expr.is_(None) if value is None else expr == value)
        self.window = _window(source, label)
        self.python_window = False
        self.units: dict[str, Unit | None] = dict.fromkeys(_TIME_FIELDS)
        if self.window != (None, None):
            self._time_filter()
        self.rowid = self._rowid()
        self.ident: list[tuple[str, ColumnElement[Any]]] = []
        """The columns identifying a row (primary key, else rowid), by name."""
        self.phases: list[_Phase] = []
        self.order_note = ""
        self.selected: list[ColumnElement[Any]] = []
        self.at: dict[str, int] = {}
        self._order(source)
        self.extra: list[tuple[str, int, bool]] = []
        """Without a data column: the other columns (name, place in a row, holds JSON)."""
        self.unread: list[str] = []
        self._select()

    # columns

    def names(self) -> str:
        return ", ".join(c.name for c in self.table.columns)

    def column(self, name: str, purpose: str) -> Column[Any]:
        """The reflected column ``name`` (exact, else the one matching case-insensitively)."""
        if name in self.table.c:
            return self.table.c[name]
        same = [c for c in self.table.columns if c.name.lower() == str(name).lower()]
        if len(same) == 1:
            return same[0]
        raise InputError(
            f"{self.label}: the table has no column {name!r} (for {purpose}); its columns: "
            f"{self.names()}"
        )

    def compared(self, col: ColumnElement[Any]) -> ColumnElement[Any]:
        """The column as conditions and keys use it. SQLite: its raw stored values (a column
        may mix text and numbers whatever its declared type), so that what a page returns
        binds back unchanged as the next page's key."""
        return type_coerce(col, NullType()) if self.sqlite else col

    def _read(self, col: ColumnElement[Any]) -> ColumnElement[Any]:
        """The column as the SELECT returns it: raw on SQLite, JSON as text elsewhere (parsed
        by orjson, whatever the driver would do)."""
        if self.sqlite:
            return type_coerce(col, NullType())
        if isinstance(col.type, JSON):
            return cast(col, Text)
        return col

    def _rowid(self) -> ColumnElement[Any] | None:
        """SQLite's rowid under a name no column shadows; None for views, WITHOUT ROWID
        tables and other databases."""
        if not self.sqlite:
            return None
        if self.table.name in inspect(self.conn).get_view_names(schema=self.table.schema):
            return None  # a view's "rowid" is NULL
        taken = {c.name.lower() for c in self.table.columns}
        name = next((n for n in _ROWID_NAMES if n not in taken), None)
        if name is None:
            return None
        rowid: ColumnElement[Any] = literal_column(name)
        try:
            self.conn.execute(select(rowid).select_from(self.table).limit(0))
        except DBAPIError:
            return None
        return rowid

    # the time window

    def _time_filter(self) -> None:
        col = self.fields.get("recorded_at")
        if col is None:
            raise InputError(
                f"{self.label}: since/until need the recorded_at column (which column holds "
                f"the events' time?); the table's columns: {self.names()}"
            )
        since, until = self.window
        if self.sqlite or not isinstance(col.type, DateTime | Integer | Numeric):
            self.python_window = True
            return
        bounds: list[ColumnElement[bool]] = []
        if isinstance(col.type, DateTime):
            naive = not col.type.timezone
            for us, upper in ((since, False), (until, True)):
                if us is None:
                    continue
                stamp = datetime(1970, 1, 1) + timedelta(microseconds=us)
                if not naive:
                    stamp = stamp.replace(tzinfo=UTC)
                bound = literal(stamp, col.type)
                bounds.append(col < bound if upper else col >= bound)
        else:
            biggest = self.conn.execute(
                select(func.max(func.abs(col))).select_from(self.table).where(*self.filters)
            ).scalar()
            unit = _unit(abs(biggest)) if biggest else _SECONDS
            self.units["recorded_at"] = unit
            for us, upper in ((since, False), (until, True)):
                if us is None:
                    continue
                number = literal(Decimal(us) * unit[1] / unit[0], Numeric())
                bounds.append(col < number if upper else col >= number)
        self.filters.extend(bounds)

    # the order

    def _order(self, source: TableSource) -> None:
        pk = list(self.table.primary_key.columns)
        pk_ok = bool(pk) and (not self.sqlite or self.rowid is None or not self._pk_nulls(pk))
        if pk_ok:
            self.ident = [(c.name, self.compared(c)) for c in pk]
        elif self.rowid is not None:
            self.ident = [(str(self.rowid), self.rowid)]
        ident_names = [name for name, _ in self.ident]
        if source.order_by is not None:
            first: Column[Any] | None = self.column(source.order_by, "the order")
        elif pk_ok:
            self.phases = [_Phase([], [e for _, e in self.ident], ident_names, False)]
            self.order_note = f"rows read in primary key order ({', '.join(ident_names)})"
            if not isinstance(pk[0].type, Integer | DateTime):
                self.order_note += (
                    f"; a {pk[0].type} key rarely follows the events' order: name the column "
                    "that does (order_by) if it does not"
                )
            return
        else:
            first = self.fields.get("recorded_at")
        if first is None:
            if self.rowid is None:
                raise InputError(
                    f"{self.label}: the table has no primary key and no recorded_at column is "
                    "mapped: name the column that gives the events' order (order_by); its "
                    f"columns: {self.names()}"
                )
            self.phases = [_Phase([], [self.rowid], ident_names, False)]
            self.order_note = "rows read in rowid order (the table has no primary key)"
            return
        key = self.compared(first)
        pk_names = [c.name for c in pk]
        unique = (pk_ok and pk_names == [first.name]) or first.name in self._unique_columns()
        tiebreak = [(n, e) for n, e in self.ident if n != first.name]
        keys = [key, *(e for _, e in tiebreak)]
        names = [first.name, *(n for n, _ in tiebreak)]
        nullable = bool(first.nullable) and not (pk_ok and first.name in pk_names)
        then = f", then {', '.join(names[1:])}" if tiebreak and not unique else ""
        self.order_note = f"rows read in the order of column {first.name}{then}"
        not_null: list[ColumnElement[bool]] = [key.is_not(None)] if nullable else []
        if unique:
            self.phases.append(_Phase(not_null, [key], [first.name], False))
        elif tiebreak:
            self.phases.append(_Phase(not_null, keys, names, False))
        else:
            self.phases.append(_Phase(not_null, [key], [first.name], True))
            self.order_note += (
                " (not unique, and there is no primary key: rows with the same value come "
                "in the order the database gives)"
            )
        if nullable:
            self.phases.append(_Phase([key.is_(None)], keys[1:], names[1:], not tiebreak))
            self.order_note += f"; rows where {first.name} is NULL come last"

    def _pk_nulls(self, pk: list[Column[Any]]) -> bool:
        """Whether a SQLite rowid table's primary key holds a NULL (allowed unless it is an
        INTEGER PRIMARY KEY or declared NOT NULL)."""
        if all(not c.nullable for c in pk):
            return False
        found = self.conn.execute(
            select(literal(1))
            .select_from(self.table)
            .where(or_(*[self.compared(c).is_(None) for c in pk]))
            .limit(1)
        ).first()
        return found is not None

    def _unique_columns(self) -> set[str]:
        inspector = inspect(self.conn)
        name, schema = self.table.name, self.table.schema
        unique: set[str] = set()
        try:
            constraints = inspector.get_unique_constraints(name, schema=schema)
            indexes = inspector.get_indexes(name, schema=schema)
        except NotImplementedError:
            return unique
        for columns in [c["column_names"] for c in constraints] + [
            i["column_names"]
            for i in indexes
            if i.get("unique")
            and not any(k.endswith("_where") for k in i.get("dialect_options", {}))  # partial
        ]:
            if len(columns) == 1 and columns[0] is not None:
                unique.add(columns[0])
        return unique

    # the statements

    def _select(self) -> None:
        wanted: list[tuple[str, ColumnElement[Any]]] = []
        for phase in self.phases:
            wanted.extend(zip(phase.names, phase.keys, strict=True))
        wanted.extend(self.ident)
        wanted.extend((c.name, c) for c in self.fields.values())
        used = {c.name for c in self.fields.values()}
        rest = [c for c in self.table.columns if c.name not in used]
        if "data" not in self.fields:
            wanted.extend((c.name, c) for c in rest)
        else:
            read = {name for name, _ in wanted}
            self.unread = [c.name for c in rest if c.name not in read]
        for name, col in wanted:
            if name in self.at:
                continue
            self.at[name] = len(self.selected)
            expr = col if col is self.rowid else self._read(col)
            self.selected.append(expr.label(f"c{len(self.selected)}"))
        if "data" not in self.fields:
            self.extra = [(c.name, self.at[c.name], isinstance(c.type, JSON)) for c in rest]
        for phase in self.phases:
            phase.key_at = [self.at[name] for name in phase.names]

    def count(self) -> Select[*tuple[Any, ...]]:
        return select(func.count()).select_from(self.table).where(*self.filters)

    def summary(self) -> Select[*tuple[Any, ...]]:
        """Row count and the greatest value of each key column, under the filter."""
        keys = self.phases[0].keys or [e for _, e in self.ident]
        return (
            select(func.count(), *[func.max(k) for k in keys])
            .select_from(self.table)
            .where(*self.filters)
        )

    def page(
        self, phase: _Phase, after: Sequence[Any] | None, size: int
    ) -> Select[*tuple[Any, ...]]:
        """The next page of ``phase`` after the key values ``after`` (None: the first)."""
        stmt = select(*self.selected).select_from(self.table).where(*self.filters, *phase.filters)
        if phase.stream:
            return stmt.order_by(*phase.keys)
        if after is not None:
            if len(phase.keys) == 1:
                stmt = stmt.where(phase.keys[0] > literal(after[0], phase.keys[0].type))
            else:
                values = [literal(v, k.type) for v, k in zip(after, phase.keys, strict=True)]
                stmt = stmt.where(tuple_(*phase.keys) > tuple_(*values))
        return stmt.order_by(*phase.keys).limit(size)


def _reflect(conn: Connection, source: TableSource, label: str) -> Table:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SAWarning)  # types it does not know: read raw
            return Table(source.table, MetaData(), schema=source.schema, autoload_with=conn)
    except NoSuchTableError:
        inspector = inspect(conn)
        try:
            names = inspector.get_table_names(schema=source.schema)
            names += inspector.get_view_names(schema=source.schema)
        except SQLAlchemyError:
            names = []
        where = f" in schema {source.schema!r}" if source.schema else ""
        have = ", ".join(sorted(names)[:30]) or "none"
        raise InputError(
            f"{label}: no table or view {source.table!r}{where}; the database has: {have}"
        ) from None


def _window(source: TableSource, label: str) -> tuple[int | None, int | None]:
    bounds: list[int | None] = []
    for name, value in (("since", source.since), ("until", source.until)):
        if value is None:
            bounds.append(None)
            continue
        try:
            bounds.append(parse_timestamp(value))
        except ValueError as exc:
            raise InputError(f"{label}: {name}: {exc}") from None
    since, until = bounds
    if since is not None and until is not None and since >= until:
        raise InputError(f"{label}: since ({source.since}) must come before until ({source.until})")
    return since, until


def _unit(magnitude: Any) -> Unit:
    if magnitude < SECONDS_BELOW:
        return _SECONDS
    if magnitude < MILLIS_BELOW:
        return (1_000, 1)
    if magnitude < MICROS_BELOW:
        return (1, 1)
    return (1, 1_000)


# --- values ----------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if type(value) is str:
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _jsonable(value: Any) -> Any:
    """A column's value as a JSON value (for data built from plain columns)."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, datetime):
        text = value.isoformat()
        return text.replace("+00:00", "Z") if value.utcoffset() == timedelta(0) else text
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, UUID):
        return str(value)
    return str(value)


def _json_or_text(value: Any) -> Any:
    """A JSON column's value (text on SQLite and as read from PostgreSQL) as JSON; what is
    not JSON stays as it is."""
    if isinstance(value, str | bytes):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return _text(value)
    return _jsonable(value)


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return excerpt(value.encode("utf-8"))
    if isinstance(value, bytes | bytearray | memoryview):
        return excerpt(bytes(value))
    return excerpt(repr(value).encode("utf-8"))


# --- the conversion --------------------------------------------------------------------------


class _Run:
    def __init__(
        self,
        plan: _Plan,
        out: IO[bytes],
        strict: bool,
        progress: ProgressFn | None,
        page_size: int,
    ) -> None:
        self.plan = plan
        self.out = out
        self.strict = strict
        self.progress = progress
        self.page_size = page_size
        self.result = Conversion()
        self.position = 0
        at = plan.at
        fields = plan.fields

        def where(name: str) -> int:
            col = fields.get(name)
            return -1 if col is None else at[col.name]

        def label(name: str) -> str:
            col = fields.get(name)
            return "" if col is None else col.name

        self.i = {name: where(name) for name in FIELDS}
        self.names = {name: label(name) for name in FIELDS}
        self.ident_names = [name for name, _ in plan.ident]
        self.ident_at = [at[name] for name in self.ident_names]
        self.since, self.until = plan.window
        self.numbers_seen: set[str] = set()
        i = self.i
        self.k_type, self.k_id, self.k_stream = i["type"], i["id"], i["stream"]
        self.k_links = [(n, i[n]) for n in ("correlation_id", "causation_id") if i[n] >= 0]

    def report(self, done: int, total: int) -> None:
        if self.progress is not None and not self.progress(done, max(done, total)):
            raise ConversionCancelled()

    def run(self) -> Conversion:
        conn = self.plan.conn
        total = int(conn.execute(self.plan.count()).scalar() or 0)
        done = 0
        self.report(0, total)
        for phase in self.plan.phases:
            for rows in self._pages(phase):
                self._convert(rows)
                done += len(rows)
                self.report(done, total)
        notes = [self.plan.order_note]
        for name in _TIME_FIELDS:
            unit = self.plan.units[name]
            if unit is not None and name in self.numbers_seen:
                notes.append(
                    f"column {self.names[name]}: epoch numbers read as {_UNIT_NAMES[unit]} "
                    "(by their magnitude)"
                )
        if self.plan.unread:
            notes.append(
                f"columns not mapped to a field were not read: {', '.join(self.plan.unread)}"
            )
        if self.plan.python_window:
            notes.append(
                f"the time window was applied to the converted times of column "
                f"{self.names['recorded_at']} (its values are compared as text otherwise)"
            )
        self.result.notes = notes
        return self.result

    def _pages(self, phase: _Phase) -> Iterator[Sequence[Any]]:
        conn = self.plan.conn
        if phase.stream:
            result = conn.execute(
                self.plan.page(phase, None, self.page_size),
                execution_options={"stream_results": True, "max_row_buffer": self.page_size},
            )
            try:
                while rows := result.fetchmany(self.page_size):
                    yield rows
            finally:
                result.close()
            return
        after: list[Any] | None = None
        while True:
            rows = conn.execute(self.plan.page(phase, after, self.page_size)).all()
            if not rows:
                return
            yield rows
            if len(rows) < self.page_size:
                return
            last = rows[-1]
            after = [last[k] for k in phase.key_at]

    def _convert(self, rows: Sequence[Any]) -> None:
        recorded, recorded_bad = self._times(rows, "recorded_at")
        processed, processed_bad = self._times(rows, "processed_at")
        window = self.plan.python_window
        since = MIN_US if self.since is None else self.since
        until = MAX_US + 1 if self.until is None else self.until
        lines: list[bytes] = []
        for j, row in enumerate(rows):
            self.position += 1
            try:
                if recorded_bad and j in recorded_bad:
                    raise Skip(recorded_bad[j])
                at = recorded[j]
                if window and (at is None or not since <= at < until):
                    continue
                if processed_bad and j in processed_bad:
                    raise Skip(processed_bad[j])
                lines.append(self._line(row, at, processed[j]))
            except Skip as exc:
                self._problem(row, str(exc), Severity.ERROR)
                self.result.skipped += 1
        self.out.write(b"".join(lines))
        self.result.records += len(lines)

    def _times(self, rows: Sequence[Any], name: str) -> tuple[list[Any], dict[int, str]]:
        """A page's times of field ``name`` (microseconds or None) and, by row, why a value
        is not a time. ISO text is parsed in one batch (:func:`parse_timestamps`)."""
        k = self.i[name]
        if k < 0:
            return [None] * len(rows), {}
        values = [row[k] for row in rows]
        stamps, errors = parse_timestamps([v if type(v) is str else None for v in values])
        times: list[Any] = stamps.tolist()
        if errors or bool((stamps == NA).any()):
            times = [None if t == NA else t for t in times]
        column = self.names[name]
        bad: dict[int, str] = {}
        for j, reason in errors:
            if values[j].strip():  # blank text is no time, not a bad one
                bad[j] = f"column {column!r}: {reason}"
        others = [j for j, v in enumerate(values) if v is not None and type(v) is not str]
        if others and self.plan.units[name] is None:
            self._decide_unit(name, [values[j] for j in others])
        for j in others:
            try:
                times[j] = self._time(values[j], name)
            except (ValueError, ArithmeticError) as exc:
                bad[j] = f"column {column!r}: {exc}"
        return times, bad

    def _decide_unit(self, name: str, values: list[Any]) -> None:
        biggest: Any = 0
        for value in values:
            if type(value) in (int, float, Decimal) and value:
                biggest = max(biggest, abs(value))
        if biggest:
            self.plan.units[name] = _unit(biggest)

    def _time(self, value: Any, name: str) -> int:
        """A time that is not text: a date-time (naive: UTC), a date, an epoch number."""
        kind = type(value)
        if kind is datetime:
            return datetime_us(value)
        if kind is date:
            return datetime_us(datetime(value.year, value.month, value.day))
        if kind in (int, float, Decimal):
            self.numbers_seen.add(name)
            return self._epoch(value, self.plan.units[name] or _SECONDS)
        raise ValueError(f"{_shown(value)} is not a time ({kind.__name__})")

    def _ident(self, row: Sequence[Any]) -> str:
        if not self.ident_at:
            return str(self.position)
        return ",".join(_text(row[k]) for k in self.ident_at)

    def _line(self, row: Sequence[Any], recorded: int | None, processed: int | None) -> bytes:
        event_type = row[self.k_type]
        if event_type is None or event_type == "":
            raise Skip(
                f"the type column {self.names['type']!r} is empty: every event needs a type; "
                "fill it in, or map another column to type"
            )
        k = self.k_id
        event_id = "" if k < 0 or row[k] is None else _text(row[k])
        k = self.k_stream
        stream = "" if k < 0 or row[k] is None else _text(row[k])
        metadata = self._metadata(row)
        for name, k in self.k_links:
            if row[k] is not None and row[k] != "":
                metadata[name] = _text(row[k])
        return canonical_line(
            event_id=event_id or f"row:{self._ident(row)}",
            stream=stream or NO_STREAM,
            event_type=event_type if type(event_type) is str else _text(event_type),
            data=self._data(row),
            version=self._version(row),
            recorded_us=recorded,
            processed_us=processed,
            metadata=metadata,
        )

    def _version(self, row: Sequence[Any]) -> int | None:
        k = self.i["version"]
        if k < 0:
            return None
        value = row[k]
        kind = type(value)
        if value is None or kind is int:
            return value  # type: ignore[no-any-return]
        if kind in (float, Decimal) and value == int(value):
            return int(value)
        if kind is str and value.strip().lstrip("+-").isdigit():
            return int(value)
        raise Skip(f"column {self.names['version']!r}: {value!r} is not an integer version")

    @staticmethod
    def _epoch(value: Any, unit: Unit) -> int:
        multiplier, divisor = unit
        if type(value) is int:
            scaled = value * multiplier
            us = scaled // divisor if scaled >= 0 else -(-scaled // divisor)
        elif type(value) is float:
            us = round(value * multiplier / divisor)
        else:
            us = int((value * multiplier / divisor).to_integral_value())
        if not MIN_US <= us <= MAX_US:
            raise ValueError(f"{value} is outside the years 1 to 9999")
        return us

    def _data(self, row: Sequence[Any]) -> Any:
        k = self.i["data"]
        if k < 0:
            return {
                name: _json_or_text(row[at]) if json else _jsonable(row[at])
                for name, at, json in self.plan.extra
            }
        value = row[k]
        if isinstance(value, memoryview | bytearray):
            value = bytes(value)
        if type(value) is not str and type(value) is not bytes:
            return _jsonable(value)
        if not value.strip():
            return None
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            text = _text(value)
            self._problem(
                row,
                f"column {self.names['data']!r} holds text that is not JSON ({exc}); it was "
                "kept as a string",
                Severity.WARNING,
            )
            return text

    def _metadata(self, row: Sequence[Any]) -> dict[str, Any]:
        k = self.i["metadata"]
        if k < 0:
            return {}
        value = row[k]
        if value is None:
            return {}
        if isinstance(value, memoryview | bytearray):
            value = bytes(value)
        parsed = value
        if isinstance(value, str | bytes):
            if not value.strip():
                return {}
            try:
                parsed = orjson.loads(value)
            except orjson.JSONDecodeError as exc:
                raise Skip(
                    f"column {self.names['metadata']!r} must hold a JSON object, and this "
                    f"value is not JSON ({exc})"
                ) from None
        if type(parsed) is not dict:
            raise Skip(
                f"column {self.names['metadata']!r} must hold a JSON object, not "
                f"{type(parsed).__name__}"
            )
        return parsed

    def _problem(self, row: Sequence[Any], reason: str, severity: Severity) -> None:
        plan = self.plan
        if self.ident_at:
            values = [row[k] for k in self.ident_at]
            shown = ", ".join(f"{n}={v!r}" for n, v in zip(self.ident_names, values, strict=True))
            line = values[0] if len(values) == 1 and type(values[0]) is int else self.position
        else:
            shown = f"position {self.position} in the read order"
            line = self.position
        cells = ", ".join(f"{c.name}={row[plan.at[c.name]]!r}" for c in plan.fields.values())
        problem = Problem(
            plan.label,
            line,
            0,
            f"{reason} (row {shown})",
            severity,
            excerpt(cells.encode("utf-8")),
        )
        if severity is Severity.ERROR and self.strict:
            raise InputError(f"{problem.location()}: {problem.reason}", [problem])
        self.result.problems.append(problem)


def convert(
    source: TableSource,
    out: IO[bytes],
    *,
    strict: bool = False,
    progress: ProgressFn | None = None,
    page_size: int = PAGE_SIZE,
) -> Conversion:
    """Write a canonical line for every row ``source`` selects to ``out`` (see the module
    doc); ``progress(rows_read, rows_selected)`` after each page, False cancels
    (:class:`ConversionCancelled`). Errors that stop it are :class:`InputError`."""
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    label = source.describe()
    with _reading(label), _connection(source, label) as conn:
        plan = _Plan(conn, source, label)
        return _Run(plan, out, strict, progress, page_size).run()


def explain(source: TableSource, *, page_size: int = PAGE_SIZE) -> tuple[str, dict[str, Any]]:
    """The SQL of the first page's query as the database gets it, and its bound parameters
    (for logs and checks: the caller's values are only ever parameters)."""
    label = source.describe()
    with _reading(label), _connection(source, label) as conn:
        plan = _Plan(conn, source, label)
        compiled = plan.page(plan.phases[0], None, page_size).compile(dialect=conn.dialect)
        return str(compiled), dict(compiled.params)


__all__ = [
    "FIELDS",
    "PAGE_SIZE",
    "TableSource",
    "convert",
    "explain",
    "mask_url",
]
