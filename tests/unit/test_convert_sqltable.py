"""Event tables read through SQLAlchemy: SQLite files, and a real PostgreSQL server when
REWIND_TEST_PG_URL is set (each test runs on both, PostgreSQL in a fresh schema that is
dropped afterwards). Tables are created with SQLAlchemy as an application would: on SQLite
the times are DATETIME text and the JSON columns JSON text; on PostgreSQL timestamptz and
jsonb."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Table,
    Text,
    create_engine,
    event,
    insert,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url

from app.session import open_session
from models.converters.base import Conversion, ConversionCancelled
from models.converters.sqltable import TableSource, convert, explain, mask_url
from models.event import format_us
from models.mapping import NO_STREAM
from models.problems import InputError, Severity
from models.timeparse import datetime_us, parse_timestamp

PG_URL_ENV = "REWIND_TEST_PG_URL"
START = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
KINDS = ("Opened", "Deposited", "Withdrawn")
MAPPING = {
    "stream": "aggregate",
    "type": "kind",
    "version": "seq",
    "recorded_at": "at",
    "data": "payload",
    "metadata": "meta",
}
BAD_TYPE = 7
"""Row id whose type is NULL."""
BAD_META = 12
"""Row id whose metadata is a JSON array."""

JsonColumn = JSON().with_variant(JSONB(), "postgresql")


@dataclass
class Db:
    """A database the tests write with SQLAlchemy and the converter then reads."""

    kind: str
    url: str
    schema: str | None
    engine: Engine

    def source(self, table: str = "events", **options: Any) -> TableSource:
        options.setdefault("columns", MAPPING)
        return TableSource(self.url, table, schema=self.schema, **options)

    def table(self, name: str, *columns: Column[Any]) -> Table:
        table = Table(name, MetaData(schema=self.schema), *columns)
        table.create(self.engine)
        return table

    def insert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(table), rows)


def backends() -> list[Any]:
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]


@pytest.fixture(params=backends())
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'events.sqlite'}"
        engine = create_engine(url)
        try:
            yield Db("sqlite", url, None, engine)
        finally:
            engine.dispose()
        return
    base = os.environ.get(PG_URL_ENV)
    if not base:
        pytest.skip(f"set {PG_URL_ENV} to run the table tests against PostgreSQL")
    schema = f"rewind_sqlt_{uuid.uuid4().hex[:12]}"
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield Db("postgresql", base, schema, engine)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def event_rows(n: int = 30) -> list[dict[str, Any]]:
    """Three interleaved accounts, one second apart (with microseconds), two bad rows."""
    rows = []
    seqs = [0, 0, 0]
    for i in range(1, n + 1):
        account = i % 3
        seqs[account] += 1
        rows.append(
            {
                "id": i,
                "aggregate": f"acct-{account}",
                "kind": None if i == BAD_TYPE else KINDS[seqs[account] % 3],
                "seq": seqs[account],
                "at": START + timedelta(seconds=i, microseconds=7 * i),
                "payload": {"n": i, "owner": "Zoë", "tags": ["a", i]},
                "meta": [1, 2] if i == BAD_META else {"user": f"u{i % 2}"},
                "note": f"note {i}",
            }
        )
    return rows


def events_table(db: Db, rows: list[dict[str, Any]] | None = None) -> Table:
    table = db.table(
        "events",
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("aggregate", Text),
        Column("kind", Text),
        Column("seq", Integer),
        Column("at", DateTime(timezone=True)),
        Column("payload", JsonColumn),
        Column("meta", JsonColumn),
        Column("note", Text),
    )
    db.insert(table, event_rows() if rows is None else rows)
    return table


def expected(row: dict[str, Any]) -> dict[str, Any]:
    """The canonical record of a good row under MAPPING, from the values written."""
    return {
        "id": f"row:{row['id']}",
        "stream": row["aggregate"],
        "type": row["kind"],
        "version": row["seq"],
        "recorded_at": format_us(datetime_us(row["at"])),
        "data": row["payload"],
        "metadata": row["meta"],
    }


def good(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["id"] not in (BAD_TYPE, BAD_META)]


def run(source: TableSource, **options: Any) -> tuple[list[dict[str, Any]], Conversion]:
    out = io.BytesIO()
    result = convert(source, out, **options)
    return [orjson.loads(line) for line in out.getvalue().splitlines()], result


# --- what is converted -------------------------------------------------------------------------


def test_rows_become_events_in_key_order_with_their_fields_and_times(db: Db) -> None:
    rows = event_rows()
    events_table(db, list(reversed(rows)))  # written backwards: the order is the key's
    events, result = run(db.source())
    assert events == [expected(r) for r in good(rows)]
    assert result.records == len(rows) - 2 and result.skipped == 2
    assert result.notes[0] == "rows read in primary key order (id)"


def test_bad_rows_are_skipped_and_located_by_their_key(db: Db) -> None:
    events_table(db)
    _, result = run(db.source())
    problems = result.problems
    assert [(p.line, p.severity) for p in problems] == [
        (BAD_TYPE, Severity.ERROR),
        (BAD_META, Severity.ERROR),
    ]
    assert all(p.file == db.source().describe() and p.offset == 0 for p in problems)
    assert "type column 'kind' is empty" in problems[0].reason
    assert f"(row id={BAD_TYPE})" in problems[0].reason
    assert "kind=None" in problems[0].excerpt
    assert "column 'meta' must hold a JSON object, not list" in problems[1].reason


def test_strict_mode_stops_at_the_first_bad_row(db: Db) -> None:
    events_table(db)
    out = io.BytesIO()
    with pytest.raises(InputError, match="type column 'kind' is empty") as caught:
        convert(db.source(), out, strict=True)
    assert [p.line for p in caught.value.problems] == [BAD_TYPE]
    assert str(caught.value).startswith(f"{db.source().describe()}:{BAD_TYPE} ")


def test_the_converted_lines_import_as_events(db: Db, tmp_path: Path) -> None:
    rows = event_rows()
    events_table(db, rows)
    out = io.BytesIO()
    convert(db.source(), out)
    log = tmp_path / "converted.jsonl"
    log.write_bytes(out.getvalue())
    session = open_session(log, workspace=tmp_path / "ws.sqlite")
    try:
        events = list(session.log.iter_events())
    finally:
        session.close()
    want = good(rows)
    assert [e.event_id for e in events] == [f"row:{r['id']}" for r in want]
    assert [e.stream for e in events] == [r["aggregate"] for r in want]
    assert [e.version for e in events] == [r["seq"] for r in want]
    assert [e.recorded_us for e in events] == [datetime_us(r["at"]) for r in want]


def test_a_filter_selects_one_stream_with_bound_values(db: Db) -> None:
    rows = event_rows()
    events_table(db, rows)
    calls: list[tuple[int, int]] = []
    events, result = run(
        db.source(where={"aggregate": "acct-2"}),
        progress=lambda done, total: calls.append((done, total)) or True,
    )
    want = [r for r in good(rows) if r["aggregate"] == "acct-2"]
    assert events == [expected(r) for r in want]
    assert result.records + result.skipped == sum(r["aggregate"] == "acct-2" for r in rows)
    assert calls[-1] == (result.records + result.skipped,) * 2


def test_where_values_are_parameters_never_sql_text(db: Db) -> None:
    events_table(db)
    hostile = "acct-1' OR '1'='1"
    sql, params = explain(db.source(where={"aggregate": hostile, "seq": 3}))
    assert "acct-1" not in sql and "'" not in sql and " OR " not in sql
    assert hostile in params.values() and 3 in params.values()
    events, result = run(db.source(where={"aggregate": hostile}))
    assert events == [] and result.records == 0
    with pytest.raises(InputError, match=r"no column 'kind; DROP TABLE events' .*aggregate"):
        run(db.source(where={"kind; DROP TABLE events": 1}))
    assert len(run(db.source())[0]) == 28  # still there


def test_a_time_window_keeps_since_up_to_but_not_including_until(db: Db) -> None:
    rows = event_rows()
    events_table(db, rows)
    since, until = rows[9]["at"], rows[19]["at"]
    events, result = run(db.source(since=since.isoformat(), until=until.isoformat()))
    want = [r for r in good(rows) if since <= r["at"] < until]
    assert events == [expected(r) for r in want] and len(want) == 9  # rows 10..19 minus 12
    assert result.records + result.skipped == 10
    sql, params = explain(db.source(since=since.isoformat()))
    if db.kind == "postgresql":  # a native time column: compared by the server
        assert since in params.values() and since.isoformat() not in sql
    else:  # SQLite columns may mix text and numbers: compared after conversion
        assert any("window was applied" in note for note in result.notes)


def test_keyset_pages_of_bound_keys_read_every_row_once(db: Db) -> None:
    rows = event_rows()
    events_table(db, rows)
    statements: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        if " AS c0" in sql and "ORDER BY" in sql:  # the converter's pages
            statements.append((sql, params))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        events, _ = run(db.source(), page_size=4)
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert events == run(db.source())[0]
    assert len(statements) == 8  # 30 rows: seven pages of 4, then 2
    first, *later = [sql for sql, _ in statements]
    assert "events.id >" not in first
    assert all(sql == later[0] and "events.id >" in sql for sql in later)
    keys = [_values(params) for _, params in statements[1:]]
    assert [k[0] for k in keys] == [4, 8, 12, 16, 20, 24, 28]  # the last key of each page
    if db.kind == "sqlite":  # the dialect always writes OFFSET: a constant 0
        assert all(_values(params)[-1] == 0 for _, params in statements)
    else:
        assert all("OFFSET" not in sql for sql, _ in statements)


def _values(params: Any) -> list[Any]:
    return list(params.values()) if isinstance(params, dict) else list(params)


def test_progress_reports_pages_and_a_false_answer_cancels(db: Db) -> None:
    events_table(db)
    calls: list[tuple[int, int]] = []
    run(db.source(), page_size=8, progress=lambda d, t: calls.append((d, t)) or True)
    assert calls == [(0, 30), (8, 30), (16, 30), (24, 30), (30, 30)]
    asked: list[int] = []
    with pytest.raises(ConversionCancelled):
        run(db.source(), page_size=8, progress=lambda d, t: asked.append(d) or d < 16)
    assert asked == [0, 8, 16]


# --- order ----------------------------------------------------------------------------------


def test_a_table_without_primary_key_ordered_by_a_column_with_ties(db: Db) -> None:
    table = db.table(
        "plain",
        Column("kind", Text, nullable=False),
        Column("at", DateTime(timezone=True)),
        Column("n", Integer, unique=True, nullable=False),
    )
    rows = [
        {"kind": "K", "at": None if n % 5 == 0 else START + timedelta(seconds=n // 3), "n": n}
        for n in range(1, 24)
    ]
    db.insert(table, rows)
    columns = {"type": "kind", "recorded_at": "at"}
    events, result = run(db.source("plain", columns=columns, order_by="at"), page_size=2)
    got = [e["data"]["n"] for e in events]
    assert sorted(got) == [r["n"] for r in rows]  # each row once, across pages with ties
    timed = [r for r in rows if r["at"] is not None]
    times = [e.get("recorded_at") for e in events]
    assert times[: len(timed)] == sorted(format_us(datetime_us(r["at"])) for r in timed)
    assert times[len(timed) :] == [None] * (len(rows) - len(timed))  # NULL times last
    assert "rows where at is NULL come last" in result.notes[0]
    assert all(e["id"].startswith("row:") for e in events)
    by_n, result = run(db.source("plain", columns=columns, order_by="n"), page_size=2)
    assert [e["data"]["n"] for e in by_n] == [r["n"] for r in rows]
    assert result.notes[0] == "rows read in the order of column n"  # unique: no tie-break


def test_rows_whose_order_column_is_null_come_last(db: Db) -> None:
    rows = event_rows(12)
    for row in rows[::4]:
        row["at"] = None
    events_table(db, rows)
    events, _ = run(db.source(order_by="at", where={"aggregate": "acct-1"}), page_size=1)
    acct = [r for r in good(rows) if r["aggregate"] == "acct-1"]
    timed = sorted((r for r in acct if r["at"] is not None), key=lambda r: r["at"])
    untimed = [r for r in acct if r["at"] is None]
    assert [e["id"] for e in events] == [f"row:{r['id']}" for r in timed + untimed]


def test_a_view_is_read_whole_in_the_order_of_its_times(db: Db) -> None:
    rows = event_rows()
    events_table(db)
    prefix = f'"{db.schema}".' if db.schema else ""
    with db.engine.begin() as conn:
        conn.execute(
            text(f"CREATE VIEW {prefix}recent AS SELECT aggregate, kind, at FROM {prefix}events")
        )
        conn.execute(text(f"UPDATE {prefix}events SET at = NULL WHERE id = 2"))
    columns = {"stream": "aggregate", "type": "kind", "recorded_at": "at"}
    events, result = run(db.source("recent", columns=columns), page_size=4)
    order = [r for r in rows if r["id"] != 2] + [rows[1]]  # no time: last
    assert [(e["id"], e["stream"], e.get("recorded_at")) for e in events] == [
        (f"row:{n}", r["aggregate"], None if r["id"] == 2 else format_us(datetime_us(r["at"])))
        for n, r in enumerate(order, 1)
        if r["kind"] is not None
    ]  # no key: ids are positions in the read order
    assert "no primary key" in result.notes[0] and result.skipped == 1


def test_a_sqlite_primary_key_holding_nulls_gives_way_to_the_rowid(tmp_path: Path) -> None:
    path = tmp_path / "nulls.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (name TEXT PRIMARY KEY, kind TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [("b", "K1"), (None, "K2"), ("a", "K3")])
    conn.close()
    events, result = run(TableSource(f"sqlite:///{path}", "t", {"type": "kind"}), page_size=1)
    assert [(e["id"], e["type"]) for e in events] == [
        ("row:1", "K1"),
        ("row:2", "K2"),
        ("row:3", "K3"),
    ]
    assert result.notes[0] == "rows read in rowid order (the table has no primary key)"


# --- values ---------------------------------------------------------------------------------


def test_epoch_milliseconds_are_read_per_column_and_windowed(db: Db) -> None:
    table = db.table(
        "ticks",
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("kind", Text),
        Column("ms", BigInteger),
    )
    base = datetime_us(START) // 1000
    # the first value alone would pass for seconds: the column's largest decides
    values = [90_000, *(base + 1500 * i for i in range(1, 10))]
    db.insert(table, [{"id": i, "kind": "Tick", "ms": v} for i, v in enumerate(values)])
    columns = {"type": "kind", "recorded_at": "ms"}
    events, result = run(db.source("ticks", columns=columns))
    assert [e["recorded_at"] for e in events] == [format_us(v * 1000) for v in values]
    assert "column ms: epoch numbers read as milliseconds (by their magnitude)" in result.notes
    since = START + timedelta(seconds=3)
    until = START + timedelta(seconds=9)
    windowed, _ = run(
        db.source("ticks", columns=columns, since=since.isoformat(), until=until.isoformat())
    )
    assert [e["id"] for e in windowed] == ["row:2", "row:3", "row:4", "row:5"]


def test_text_data_is_kept_with_a_warning_and_plain_columns_become_data(db: Db) -> None:
    rows = event_rows(4)
    rows[1]["note"] = '{"json": true}'
    events_table(db, rows)
    columns = {"id": "note", "type": "aggregate", "data": "note", "correlation_id": "seq"}
    events, result = run(db.source(columns=columns))
    assert [e["data"] for e in events] == ["note 1", {"json": True}, "note 3", "note 4"]
    assert [e["id"] for e in events] == [r["note"] for r in rows]
    assert [e["metadata"] for e in events] == [{"correlation_id": str(r["seq"])} for r in rows]
    assert [(p.line, p.severity) for p in result.problems] == [
        (1, Severity.WARNING),
        (3, Severity.WARNING),
        (4, Severity.WARNING),
    ]
    assert "column 'note' holds text that is not JSON" in result.problems[0].reason
    assert any("not read: kind, at, payload, meta" in note for note in result.notes)
    plain, _ = run(db.source(columns={"type": "kind", "stream": "aggregate"}))
    first = rows[0]
    assert plain[0]["stream"] == first["aggregate"]
    assert plain[0]["data"]["id"] == first["id"] and plain[0]["data"]["note"] == "note 1"
    assert plain[0]["data"]["payload"] == first["payload"]
    assert parse_timestamp(plain[0]["data"]["at"]) == datetime_us(first["at"])


def test_an_empty_stream_is_no_stream(db: Db) -> None:
    rows = event_rows(3)
    rows[0]["aggregate"] = ""
    rows[1]["aggregate"] = None
    events_table(db, rows)
    events, _ = run(db.source())
    assert [e["stream"] for e in events] == [NO_STREAM, NO_STREAM, rows[2]["aggregate"]]


# --- what the user is told ------------------------------------------------------------------


def test_a_wrong_mapping_or_table_names_what_there_is(db: Db) -> None:
    events_table(db)
    with pytest.raises(InputError, match=r"no column 'kindd' \(for the type field\).*kind"):
        run(db.source(columns={**MAPPING, "type": "kindd"}))
    with pytest.raises(InputError, match="needs the type field"):
        run(db.source(columns={"stream": "aggregate"}))
    with pytest.raises(InputError, match="unknown field 'colour'"):
        run(db.source(columns={**MAPPING, "colour": "note"}))
    with pytest.raises(InputError, match=r"no table or view 'event'.*events"):
        run(db.source("event"))
    with pytest.raises(InputError, match=r"since .* must come before until"):
        run(db.source(since="2024-03-02", until="2024-03-01"))
    with pytest.raises(InputError, match="since: 'yesterday' is not a timestamp"):
        run(db.source(since="yesterday"))
    events, _ = run(db.source(columns={**MAPPING, "type": "KIND"}))  # case-insensitive
    assert len(events) == 28


def test_a_password_is_never_shown() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql+psycopg://ann:s3cret-pw@127.0.0.1:{port}/shop?sslpassword=k3y-pw"
    source = TableSource(url, "events", {"type": "kind"})
    shown = f"postgresql+psycopg://ann:***@127.0.0.1:{port}"
    assert source.describe() == f"{shown}/shop?sslpassword=***#events"
    for attempt in (lambda: run(source), source.key):
        with pytest.raises(InputError) as caught:
            attempt()
        message = str(caught.value)
        assert "s3cret-pw" not in message and "k3y-pw" not in message
        assert message.startswith(f"cannot connect to {shown}/shop")
        assert "check that the server is running" in message
    assert mask_url("mysql://ann:pw@db/x") == "mysql://ann:***@db/x"


def test_bad_urls_and_missing_files_are_input_errors(tmp_path: Path) -> None:
    columns = {"type": "kind"}
    cases = [
        ("not a url", "not a database URL"),
        ("nosuchdb://x/y", "unknown kind of database 'nosuchdb'"),
        ("sqlite://", "in-memory SQLite database holds no events"),
        (f"sqlite:///{tmp_path / 'missing.sqlite'}", "cannot read the file"),
    ]
    for url, message in cases:
        with pytest.raises(InputError, match=message):
            run(TableSource(url, "events", columns))


# --- only reading ---------------------------------------------------------------------------


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_a_sqlite_file_is_left_as_it_was(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    url = f"sqlite:///{folder / 'events.sqlite'}"
    engine = create_engine(url)
    db = Db("sqlite", url, None, engine)
    events_table(db)
    engine.dispose()
    before = _snapshot(folder)
    run(db.source(), page_size=7)
    db.source().key()
    assert _snapshot(folder) == before


def test_recent_commits_in_a_write_ahead_log_are_read_and_nothing_changes(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    path = folder / "events.sqlite"
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, kind TEXT, at INTEGER)")
        writer.executemany(
            "INSERT INTO events (kind, at) VALUES (?, ?)",
            [("Tick", 1_709_294_400 + i) for i in range(10)],
        )
        assert (folder / "events.sqlite-wal").stat().st_size > 0
        before = _snapshot(folder)
        source = TableSource(f"sqlite:///{path}", "events", {"type": "kind", "recorded_at": "at"})
        events, _ = run(source)
        assert _snapshot(folder) == before
    finally:
        writer.close()
    assert [e["id"] for e in events] == [f"row:{i}" for i in range(1, 11)]
    assert events[0]["recorded_at"] == "2024-03-01T12:00:00Z"


def test_only_reading_statements_are_sent(db: Db) -> None:
    events_table(db)
    sent: list[str] = []

    def record(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        sent.append(" ".join(sql.split()).upper())

    event.listen(Engine, "before_cursor_execute", record)
    try:
        run(db.source(since="2024-03-01T12:00:03Z"), page_size=5)
        db.source().key()
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    setting = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
    reading = [s for s in sent if s.startswith("SELECT ") or s == setting]
    reflecting = [s for s in sent if s.startswith("PRAGMA ") and "=" not in s]  # SQLite
    assert len(reading) + len(reflecting) == len(sent)
    if db.kind == "postgresql":  # the server refuses writes in these transactions
        assert sent.count(setting) == 2


def test_the_key_changes_when_rows_change_and_not_with_the_password(db: Db) -> None:
    table = events_table(db)
    source = db.source()
    key = source.key()
    assert source.key() == key
    assert db.source(where={"aggregate": "acct-1"}).key() != key
    if db.kind == "postgresql":  # the test server trusts any password
        url = make_url(db.url).set(password="another")
        moved = TableSource(url.render_as_string(hide_password=False), "events", MAPPING)
        other = make_url(db.url).set(password="other")
        same = TableSource(other.render_as_string(hide_password=False), "events", MAPPING)
        moved, same = (
            TableSource(s.url, "events", MAPPING, schema=db.schema) for s in (moved, same)
        )
        assert moved.key() == same.key()
    db.insert(table, [{**event_rows(1)[0], "id": 31}])
    assert source.key() != key
