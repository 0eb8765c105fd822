"""Stores written by the real ``eventsourcing`` library, converted and replayed by Rewind.

Each store is built with the library's own Application and SQLite persistence module (and
its PostgreSQL one when REWIND_TEST_PG_URL names a server, as the workspace store's tests);
what Rewind replays from the converted log is compared with what the library itself
reconstructs (``application.repository.get``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
import socket
import sqlite3
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import JSONTranscoder, Transcoding
from sqlalchemy import Engine as Database
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.session import Session, open_session
from models.converters.base import Conversion, ConversionCancelled
from models.converters.eventsourcing_store import (
    CONVERTER,
    ENCRYPTED,
    TOPIC_KEY,
    convert_postgres,
    postgres_key,
)
from models.event import datetime_to_us
from models.problems import InputError, Severity
from replay_engine.api import Projection
from replay_engine.engine import Engine

# --- the domain, as an eventsourcing user writes it -----------------------------------------


class Currency(Enum):
    EUR = "EUR"
    GBP = "GBP"


class CurrencyAsValue(Transcoding):
    """An application-defined transcoding: Rewind cannot know it and keeps it wrapped."""

    type = Currency
    name = "currency"

    def encode(self, obj: Currency) -> str:
        return obj.value

    def decode(self, data: str) -> Currency:
        return Currency(data)


class Account(Aggregate):
    @event("Opened")
    def __init__(self, owner: str, branch: UUID) -> None:
        self.owner = owner
        self.branch = branch
        self.balance = Decimal("0")
        self.last_at: datetime | None = None
        self.noted: Any = None

    @event("Credited")
    def credit(self, amount: Decimal, at: datetime, ref: dict[str, Any]) -> None:
        self.balance += amount
        self.last_at = at

    @event("Debited")
    def debit(self, amount: Decimal, at: datetime) -> None:
        self.balance -= amount
        self.last_at = at

    class Renamed(Aggregate.Event):
        class_version = 2
        owner: str

        def apply(self, aggregate: Any) -> None:
            aggregate.owner = self.owner

    def rename(self, owner: str) -> None:
        self.trigger_event(self.Renamed, owner=owner)

    @event("Noted")
    def note(self, value: Any) -> None:
        self.noted = value


class Bank(Application[UUID]):
    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(CurrencyAsValue())


@dataclass(frozen=True)
class PgPlace:
    """A PostgreSQL database and a schema of its own for one test."""

    url: str
    schema: str
    admin: Database
    """The test's own connections (to look at the database, or to damage it)."""

    def env(self) -> dict[str, str]:
        """What an application is configured with to store its events here."""
        url = make_url(self.url)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": url.database or "",
            "POSTGRES_HOST": url.host or "localhost",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": url.username or "",
            "POSTGRES_PASSWORD": url.password or "",
            "POSTGRES_SCHEMA": self.schema,
        }

    def label(self, table: str = "bank_events") -> str:
        """What problems and messages name the store by (the URL has no password here)."""
        return f"{self.url}#{self.schema}.{table}"


def bank(where: Path | PgPlace, **env: str) -> Bank:
    if isinstance(where, PgPlace):
        return Bank(env={**where.env(), **env})
    return Bank(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(where), **env}
    )


COMPRESSED = {"COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"}


def fill(app: Bank, *, accounts: int = 4, operations: int = 40, seed: int = 1) -> list[UUID]:
    """Interleaved saves over several aggregates, amounts a float could not hold."""
    rnd = random.Random(seed)
    opened = [Account(f"owner{i}", uuid4()) for i in range(accounts)]
    for account in opened:
        app.save(account)
    start = datetime(2024, 3, 1, 12, tzinfo=UTC)
    for step in range(operations):
        account = rnd.choice(opened)
        amount = Decimal(f"{rnd.randint(1, 10**12)}.{rnd.randint(0, 10**9):09d}")
        at = start + timedelta(minutes=step, microseconds=rnd.randint(0, 999_999))
        kind = rnd.random()
        if kind < 0.55:
            ref = {"by": uuid4(), "fees": [Decimal("0.01"), Decimal("1E-9")], "cur": Currency.EUR}
            account.credit(amount, at, ref)
        elif kind < 0.9:
            account.debit(amount, at)
        else:
            account.rename(f"renamed{step}")
        app.save(account)
    return [a.id for a in opened]


# --- Rewind's side ---------------------------------------------------------------------------


def bank_projection() -> Projection:
    p = Projection("bank", initial={"balance": "0", "version": 0})

    @p.on("Opened")
    def opened(state: dict[str, Any], event: Any) -> None:
        state.update(owner=event.data["owner"], branch=event.data["branch"], version=event.version)

    @p.on("Credited")
    def credited(state: dict[str, Any], event: Any) -> None:
        state["balance"] = str(Decimal(state["balance"]) + Decimal(event.data["amount"]))
        state.update(last_at=event.data["at"], version=event.version)

    @p.on("Debited")
    def debited(state: dict[str, Any], event: Any) -> None:
        state["balance"] = str(Decimal(state["balance"]) - Decimal(event.data["amount"]))
        state.update(last_at=event.data["at"], version=event.version)

    @p.on("Renamed")
    def renamed(state: dict[str, Any], event: Any) -> None:
        state.update(owner=event.data["owner"], version=event.version)
        state["schemas"] = [*state.get("schemas", []), event.schema_version]

    @p.on("Noted")
    def noted(state: dict[str, Any], event: Any) -> None:
        state.update(noted=event.data["value"], version=event.version)

    return p


def convert(path: Path, *, strict: bool = False) -> tuple[bytes, Conversion]:
    out = io.BytesIO()
    conversion = CONVERTER.convert(path, out, strict=strict, progress=None)
    return out.getvalue(), conversion


@pytest.fixture
def imported(tmp_path: Path) -> Iterator[Any]:
    sessions: list[Session] = []

    def load(lines: bytes) -> Session:
        log = tmp_path / "x.jsonl"
        log.write_bytes(lines)
        session = open_session(log, workspace=tmp_path / "ws.sqlite")
        sessions.append(session)
        return session

    yield load
    for session in sessions:
        session.close()


def assert_same_as_library(app: Bank, ids: list[UUID], session: Session) -> None:
    """Rewind's log is the library's notification log, and its replay the library's state."""
    notifications = app.recorder.select_notifications(start=1, limit=10_000)
    events = list(session.log.iter_events())
    assert [(e.event_id, e.stream, e.version) for e in events] == [
        (str(n.id), str(n.originator_id), n.originator_version) for n in notifications
    ]
    assert all(e.metadata[TOPIC_KEY] == n.topic for e, n in zip(events, notifications, strict=True))
    states = Engine(session.log, bank_projection()).end_state("main")
    for account_id in ids:
        lib: Account = app.repository.get(account_id)
        got = states[str(account_id)]
        assert Decimal(got["balance"]) == lib.balance and got["balance"] == str(lib.balance)
        assert got["version"] == lib.version
        assert (got["owner"], got["branch"]) == (lib.owner, str(lib.branch))
        assert got.get("last_at") == (lib.last_at.isoformat() if lib.last_at else None)
        last = [e for e in events if e.stream == str(account_id)][-1]
        assert last.recorded_us == datetime_to_us(lib.modified_on)


def tree(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file of a folder: its content hash and mtime (what "left alone" means)."""
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
    }


# --- tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("env", [{}, COMPRESSED], ids=["plain", "zlib"])
def test_replay_matches_what_the_library_reconstructs(tmp_path: Path, imported: Any, env) -> None:
    store = tmp_path / "store" / "bank.sqlite"
    store.parent.mkdir()
    app = bank(store, **env)
    ids = fill(app)
    app.close()
    with contextlib.closing(sqlite3.connect(store)) as conn:
        raw = conn.execute("SELECT state FROM stored_events LIMIT 1").fetchone()[0]
    assert raw.startswith(b"\x78\x9c") == bool(env)  # the store is what the case says
    before = tree(store.parent)
    assert list(before) == ["bank.sqlite"]  # closed: in WAL mode, without a -wal file
    assert store.read_bytes()[18] == 2
    assert CONVERTER.sniff(store, store.read_bytes()[:65536])
    lines, conversion = convert(store)
    assert tree(store.parent) == before  # no -wal / -shm created, nothing modified
    assert conversion.skipped == 0 and conversion.problems == []
    session = imported(lines)
    assert session.problems == [] and len(session.log) == conversion.records
    reopened = bank(store, **env)
    try:
        assert_same_as_library(reopened, ids, session)
    finally:
        reopened.close()


def test_values_become_plain_json_and_class_version_the_schema_version(tmp_path: Path) -> None:
    store = tmp_path / "bank.sqlite"
    app = bank(store)
    account = Account("ann", UUID("12345678-1234-5678-1234-567812345678"))
    by = uuid4()
    at = datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    account.credit(Decimal("0.10"), at, {"by": by, "fees": [Decimal("2.50")], "cur": Currency.GBP})
    account.rename("bob")
    app.save(account)
    app.close()
    lines, conversion = convert(store)
    opened, credited, renamed = (orjson.loads(line) for line in lines.splitlines())
    assert opened["stream"] == str(account.id) and "-" in opened["stream"]
    assert opened["data"]["branch"] == "12345678-1234-5678-1234-567812345678"
    assert opened["data"]["originator_topic"].endswith(":Account")
    assert (opened["type"], credited["type"], renamed["type"]) == ("Opened", "Credited", "Renamed")
    assert credited["metadata"] == {TOPIC_KEY: f"{__name__}:Account.Credited"}
    assert credited["data"] == {
        "amount": "0.10",  # the exact decimal text, trailing zero included
        "at": "2024-01-02T03:04:05.000006+00:00",
        "ref": {"by": str(by), "fees": ["2.50"], "cur": {"_type_": "currency", "_data_": "GBP"}},
    }
    assert [renamed["schema_version"], renamed["data"]] == [2, {"owner": "bob"}]
    assert "schema_version" not in credited and credited["version"] == 2
    assert credited["recorded_at"].startswith(str(account.modified_on.date()))
    assert any("currency (1)" in note for note in conversion.notes)


def test_a_store_left_in_wal_mode_is_read_with_its_log_and_left_untouched(
    tmp_path: Path, imported: Any
) -> None:
    store = tmp_path / "store" / "bank.sqlite"
    store.parent.mkdir()
    app = bank(store, **COMPRESSED)
    try:
        ids = fill(app, operations=30)
        wal = Path(f"{store}-wal")
        assert wal.stat().st_size > 0  # the application is running: commits are in the log
        main_only = sqlite3.connect(f"file:{store}?mode=ro&immutable=1", uri=True)
        try:
            in_main = main_only.execute("SELECT count(*) FROM stored_events").fetchone()[0]
        except sqlite3.OperationalError:
            in_main = 0  # not even the table was checkpointed yet
        finally:
            main_only.close()
        before = tree(store.parent)
        assert {"bank.sqlite", "bank.sqlite-wal", "bank.sqlite-shm"} <= set(before)
        assert CONVERTER.sniff(store, store.read_bytes()[:65536])
        lines, conversion = convert(store)
        assert tree(store.parent) == before
        assert conversion.records == 4 + 30 > in_main
        assert_same_as_library(app, ids, imported(lines))
    finally:
        app.close()


def test_snapshots_are_counted_in_a_note_and_not_imported(tmp_path: Path) -> None:
    store = tmp_path / "bank.sqlite"
    app = bank(store, IS_SNAPSHOTTING_ENABLED="y")
    ids = fill(app, accounts=3, operations=9)
    app.take_snapshot(ids[0])
    app.take_snapshot(ids[1])
    app.close()
    lines, conversion = convert(store)
    assert conversion.records == len(lines.splitlines()) == 3 + 9
    assert not any(b"Snapshot" in line for line in lines.splitlines())
    assert [n for n in conversion.notes if "snapshot" in n] == [
        "2 snapshots of 2 aggregates (table stored_snapshots) were not imported: Rewind "
        "replays the events themselves and does not need them"
    ]


@pytest.mark.parametrize("env", [{}, COMPRESSED], ids=["plain", "zlib"])
def test_an_encrypted_store_is_refused_before_anything_is_written(tmp_path: Path, env) -> None:
    from eventsourcing.cipher import AESCipher

    store = tmp_path / "bank.sqlite"
    app = bank(store, CIPHER_KEY=AESCipher.create_key(16), **env)
    fill(app, accounts=2, operations=5)
    app.close()
    assert CONVERTER.sniff(store, store.read_bytes()[:65536])
    out = io.BytesIO()
    with pytest.raises(InputError) as caught:
        CONVERTER.convert(store, out, strict=False, progress=None)
    assert ENCRYPTED in str(caught.value) and str(store) in str(caught.value)
    assert caught.value.problems[0].file == str(store)
    assert out.getvalue() == b""


def _damage(store: Path, rowid: int, state: bytes) -> None:
    with sqlite3.connect(store) as conn:
        conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (state, rowid))
    conn.close()


@pytest.mark.parametrize(
    ("env", "cut", "reason"),
    [({}, 14, "not JSON"), (COMPRESSED, 12, "zlib-compressed state is damaged")],
    ids=["plain", "zlib"],
)
def test_a_damaged_row_is_skipped_at_its_notification_id(
    tmp_path: Path, imported: Any, env, cut: int, reason: str
) -> None:
    store = tmp_path / "bank.sqlite"
    app = bank(store, **env)
    fill(app, accounts=2, operations=8)
    app.close()
    with sqlite3.connect(store) as conn:
        good = conn.execute("SELECT state FROM stored_events WHERE rowid = 5").fetchone()[0]
    conn.close()
    _damage(store, 5, good[:cut])
    lines, conversion = convert(store)
    assert (conversion.records, conversion.skipped) == (9, 1)
    [problem] = conversion.problems
    assert (problem.file, problem.line, problem.severity) == (str(store), 5, Severity.ERROR)
    assert reason in problem.reason and "stored_events" in problem.reason
    ids = [orjson.loads(line)["id"] for line in lines.splitlines()]
    assert ids == [str(n) for n in range(1, 11) if n != 5]
    assert len(imported(lines).log) == 9
    with pytest.raises(InputError) as caught:
        convert(store, strict=True)
    assert caught.value.problems[0].line == 5 and f"{store}:5" in str(caught.value)


def test_a_few_undecodable_rows_are_damage_not_encryption(tmp_path: Path) -> None:
    store = tmp_path / "bank.sqlite"
    app = bank(store)
    fill(app, accounts=2, operations=8)
    app.close()
    _damage(store, 2, bytes(range(200, 256)) * 2)  # random-looking, as a cipher writes
    _, conversion = convert(store)
    assert (conversion.records, conversion.skipped) == (9, 1)
    assert conversion.problems[0].line == 2 and conversion.problems[0].excerpt.startswith(
        "bytes c8"
    )


def test_numbers_json_cannot_hold_are_kept_with_a_warning(tmp_path: Path, imported: Any) -> None:
    store = tmp_path / "bank.sqlite"
    app = bank(store)
    account = Account("ann", uuid4())
    account.note(2**70)
    account.note(float("nan"))
    app.save(account)
    app.close()
    lines, conversion = convert(store)
    values = [orjson.loads(line)["data"].get("value") for line in lines.splitlines()]
    assert values == [None, str(2**70), None]
    assert [(p.line, p.severity) for p in conversion.problems] == [
        (2, Severity.WARNING),
        (3, Severity.WARNING),
    ]
    assert "64 bits" in conversion.problems[0].reason and "NaN" in conversion.problems[1].reason
    states = Engine(imported(lines).log, bank_projection()).end_state("main")
    assert states[str(account.id)]["version"] == 3


def test_progress_counts_rows_and_can_cancel(tmp_path: Path) -> None:
    store = tmp_path / "bank.sqlite"
    app = bank(store)
    fill(app, accounts=2, operations=6)
    app.close()
    calls: list[tuple[int, int]] = []
    CONVERTER.convert(
        store, io.BytesIO(), strict=False, progress=lambda d, t: not calls.append((d, t))
    )
    assert calls[0] == (0, 8) and calls[-1] == (8, 8)
    with pytest.raises(ConversionCancelled):
        CONVERTER.convert(store, io.BytesIO(), strict=False, progress=lambda d, t: False)


def test_other_files_are_not_claimed(tmp_path: Path) -> None:
    other = tmp_path / "orders.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, state BLOB, topic TEXT)")
    conn.close()
    assert not CONVERTER.sniff(other, other.read_bytes()[:65536])
    with pytest.raises(InputError, match="no table of stored events"):
        convert(other)
    log = tmp_path / "log.jsonl"
    log.write_bytes(b'{"id": "1", "type": "A", "stream": "s"}\n')
    assert not CONVERTER.sniff(log, log.read_bytes())
    with pytest.raises(InputError, match="not a SQLite database"):
        convert(log)
    garbage = tmp_path / "broken.sqlite"
    garbage.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 4)
    assert not CONVERTER.sniff(garbage, garbage.read_bytes())
    with pytest.raises(InputError, match="not a readable SQLite database"):
        convert(garbage)


def test_a_store_holding_only_snapshots_says_so(tmp_path: Path) -> None:
    store = tmp_path / "snapshots.sqlite"
    with sqlite3.connect(store) as conn:
        conn.execute(
            "CREATE TABLE stored_snapshots (originator_id TEXT, originator_version INTEGER, "
            "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version)) "
            "WITHOUT ROWID"
        )
        conn.execute(
            "INSERT INTO stored_snapshots VALUES (?, 1, 'eventsourcing.domain:Snapshot', ?)",
            (uuid4().hex, zlib.compress(b"{}")),
        )
    conn.close()
    assert CONVERTER.sniff(store, store.read_bytes()[:65536])
    with pytest.raises(InputError, match="only stored_snapshots, without notification ids"):
        convert(store)


def test_a_transaction_in_progress_in_rollback_journal_mode_is_not_read(tmp_path: Path) -> None:
    """A writer mid-transaction has spilled uncommitted pages into the database file and
    holds its lock: the committed events are read from a private copy, rolled back there."""
    store = tmp_path / "store" / "bank.sqlite"
    store.parent.mkdir()
    app = bank(store)
    fill(app, accounts=2, operations=8)
    app.close()
    writer = sqlite3.connect(store, isolation_level=None)
    try:
        writer.execute("PRAGMA journal_mode=DELETE")
        writer.execute("PRAGMA cache_size=10")
        writer.execute("BEGIN")
        writer.executemany(
            "INSERT INTO stored_events VALUES (?, 1, 'bank:Account.Opened', ?)",
            [(uuid4().hex, b'{"owner": "%d"}' % i + b" " * 2000) for i in range(300)],
        )
        assert Path(f"{store}-journal").stat().st_size > 0
        before = tree(store.parent)
        lines, conversion = convert(store)
        assert tree(store.parent) == before
        assert conversion.records == len(lines.splitlines()) == 10
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_the_store_opens_by_its_own_path_and_reopens_with_new_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole way a user takes: ``main.py inspect bank.db`` (sniffed, converted into the
    cache, imported); then the application commits more and the store is opened again."""
    monkeypatch.setenv("REWIND_DATA_DIR", str(tmp_path / "data"))
    store = tmp_path / "bank.db"
    app = bank(store)
    ids = fill(app, operations=20)
    session = open_session(store, workspace=tmp_path / "ws.sqlite")
    assert session.name == "bank.db" and session.import_info["format"] == "eventsourcing"
    assert_same_as_library(app, ids, session)
    session.close()
    account = app.repository.get(ids[0])
    account.debit(Decimal("1.5"), datetime(2024, 4, 1, tzinfo=UTC))
    app.save(account)  # into the still-open application's write-ahead log
    again = open_session(store, workspace=tmp_path / "ws.sqlite")
    assert_same_as_library(app, ids, again)
    again.close()
    app.close()


# --- the same stores on PostgreSQL, by URL ---------------------------------------------------

PG_URL_ENV = "REWIND_TEST_PG_URL"


@pytest.fixture
def pg() -> Iterator[PgPlace]:
    """A fresh schema on the test server, dropped afterwards. The library creates its tables
    and types in ``POSTGRES_SCHEMA`` but not the schema itself."""
    base = os.environ.get(PG_URL_ENV)
    if not base:
        pytest.skip(f"set {PG_URL_ENV} to run the eventsourcing tests against PostgreSQL")
    schema = f"rewind_es_{uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield PgPlace(base, schema, admin)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def pg_convert(pg: PgPlace, **options: Any) -> tuple[bytes, Conversion]:
    out = io.BytesIO()
    conversion = convert_postgres(pg.url, out, schema=pg.schema, **options)
    return out.getvalue(), conversion


def footprint(pg: PgPlace) -> dict[str, Any]:
    """Everything in the schema: each table's rows (count and checksum), each sequence's
    position, the other relations, types and functions by name."""
    with pg.admin.connect() as conn:
        relations = conn.execute(
            text(
                "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = :s ORDER BY c.relname"
            ),
            {"s": pg.schema},
        ).all()
        found: dict[str, Any] = {}
        for name, kind in relations:
            where = f'"{pg.schema}"."{name}"'
            if kind == "r":
                found[name] = tuple(
                    conn.execute(
                        text(
                            "SELECT count(*), md5(coalesce(string_agg(t::text, '|' "
                            f"ORDER BY t::text), '')) FROM {where} t"
                        )
                    ).one()
                )
            elif kind == "S":
                found[name] = tuple(
                    conn.execute(text(f"SELECT last_value, is_called FROM {where}")).one()
                )
            else:
                found[name] = kind
        for catalog, column in (("pg_type", "typnamespace"), ("pg_proc", "pronamespace")):
            found[catalog] = conn.execute(
                text(
                    f"SELECT array_agg(x.oid::text ORDER BY x.oid) FROM {catalog} x "
                    f"JOIN pg_namespace n ON n.oid = x.{column} WHERE n.nspname = :s"
                ),
                {"s": pg.schema},
            ).scalar()
    return found


def locks_of_others(pg: PgPlace) -> list[tuple[str, str, bool]]:
    """(relation, lock mode, whether the session holding it has a transaction id) for every
    lock another session holds on the schema's relations: a session that wrote anything has
    a transaction id, and a write takes a stronger lock than ACCESS SHARE."""
    with pg.admin.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.relname, l.mode, a.backend_xid IS NOT NULL FROM pg_locks l "
                "JOIN pg_class c ON c.oid = l.relation "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE n.nspname = :s AND l.pid <> pg_backend_pid() ORDER BY 1, 2"
            ),
            {"s": pg.schema},
        ).all()
    return [(name, mode, xid) for name, mode, xid in rows]


def queries_of_others(pg: PgPlace) -> list[str]:
    """The last statement of every other session in a transaction on the database."""
    with pg.admin.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
                )
            ).scalars()
        )


@pytest.mark.postgres
@pytest.mark.parametrize("env", [{}, COMPRESSED], ids=["plain", "zlib"])
def test_pg_replay_matches_the_library_and_reading_writes_nothing(
    pg: PgPlace, imported: Any, env: dict[str, str]
) -> None:
    app = bank(pg, **env)
    ids = fill(app)
    app.close()
    with pg.admin.connect() as conn:
        kind, raw = conn.execute(
            text(
                "SELECT pg_typeof(originator_id)::text, state "
                f'FROM "{pg.schema}".bank_events LIMIT 1'
            )
        ).one()
    assert kind == "uuid"  # read by the driver as UUID objects: Rewind reads them as text
    assert raw.startswith(b"\x78\x9c") == bool(env)  # the store is what the case says
    before = footprint(pg)
    assert before["bank_events"][0] == 4 + 40
    calls: list[tuple[int, int]] = []
    locks: list[list[tuple[str, str, bool]]] = []
    queries: list[str] = []

    def progress(done: int, total: int) -> bool:
        calls.append((done, total))
        locks.append(locks_of_others(pg))
        queries.extend(queries_of_others(pg))
        return True

    lines, conversion = pg_convert(pg, progress=progress, page_size=7)
    assert footprint(pg) == before  # no row, sequence, table, index, type or function changed
    assert calls == [(done, 44) for done in [*range(0, 44, 7), 44]]  # pages of 7 rows
    for held in locks:  # while reading: only ACCESS SHARE locks, and no transaction id
        assert held and {(mode, xid) for _, mode, xid in held} == {("AccessShareLock", False)}
        assert "bank_events" in {name for name, _, _ in held}
    assert locks_of_others(pg) == []  # the transaction ended with the conversion
    pages = [q for q in queries if "LIMIT" in q]  # keyset pages: after the last id, no OFFSET
    assert any("WHERE notification_id > $1 ORDER BY notification_id LIMIT $2" in q for q in pages)
    assert not any("OFFSET" in q.upper() for q in queries)
    assert conversion.skipped == 0 and conversion.problems == []
    session = imported(lines)
    assert session.problems == [] and len(session.log) == conversion.records == 44
    reopened = bank(pg, **env)
    try:
        assert_same_as_library(reopened, ids, session)
    finally:
        reopened.close()


@pytest.mark.postgres
def test_pg_reads_one_snapshot_while_the_application_writes(pg: PgPlace) -> None:
    """An event committed between two pages is not read: every page sees the snapshot the
    conversion started with (with a new one per page the keyset would reach it)."""
    app = bank(pg)
    try:
        ids = fill(app, accounts=2, operations=28)
        written: list[int] = []

        def progress(done: int, total: int) -> bool:
            # the first rows are read before the first call (to spot an encrypted store):
            # the pages after the 20th row are read after this write
            if done and not written:
                account = app.repository.get(ids[0])
                account.debit(Decimal("1"), datetime(2024, 5, 1, tzinfo=UTC))
                app.save(account)
                written.append(app.recorder.max_notification_id() or 0)
            return True

        lines, conversion = pg_convert(pg, progress=progress, page_size=5)
        assert written == [31]
        assert conversion.records == 30
        assert [orjson.loads(line)["id"] for line in lines.splitlines()] == [
            str(n) for n in range(1, 31)
        ]
        lines, conversion = pg_convert(pg)
        assert conversion.records == 31 and orjson.loads(lines.splitlines()[-1])["id"] == "31"
    finally:
        app.close()


@pytest.mark.postgres
def test_pg_encrypted_store_is_refused_before_anything_is_written(pg: PgPlace) -> None:
    from eventsourcing.cipher import AESCipher

    app = bank(pg, CIPHER_KEY=AESCipher.create_key(16), **COMPRESSED)
    fill(app, accounts=2, operations=5)
    app.close()
    out = io.BytesIO()
    with pytest.raises(InputError) as caught:
        convert_postgres(pg.url, out, schema=pg.schema)
    assert str(caught.value).startswith(f"{pg.label()}: ") and ENCRYPTED in str(caught.value)
    assert caught.value.problems[0].file == pg.label()
    assert out.getvalue() == b""


@pytest.mark.postgres
def test_pg_damaged_row_is_located_by_notification_id_and_snapshots_noted(pg: PgPlace) -> None:
    app = bank(pg, IS_SNAPSHOTTING_ENABLED="y", **COMPRESSED)
    ids = fill(app, accounts=2, operations=8)
    app.take_snapshot(ids[0])
    app.take_snapshot(ids[1])
    app.close()
    events = f'"{pg.schema}".bank_events'
    with pg.admin.begin() as conn:
        good = conn.execute(text(f"SELECT state FROM {events} WHERE notification_id = 5"))
        conn.execute(
            text(f"UPDATE {events} SET state = :s WHERE notification_id = 5"),
            {"s": good.scalar_one()[:12]},
        )
    lines, conversion = pg_convert(pg, page_size=3)
    assert (conversion.records, conversion.skipped) == (9, 1)
    [problem] = conversion.problems
    assert (problem.file, problem.line, problem.severity) == (pg.label(), 5, Severity.ERROR)
    assert "zlib-compressed state is damaged" in problem.reason and "bank_events" in problem.reason
    assert [orjson.loads(line)["id"] for line in lines.splitlines()] == [
        str(n) for n in range(1, 11) if n != 5
    ]
    assert [n for n in conversion.notes if "snapshot" in n] == [
        "2 snapshots of 2 aggregates (table bank_snapshots) were not imported: Rewind "
        "replays the events themselves and does not need them"
    ]
    with pytest.raises(InputError) as caught:
        pg_convert(pg, strict=True)
    assert caught.value.problems[0].line == 5 and f"{pg.label()}:5" in str(caught.value)
    with pytest.raises(ConversionCancelled):
        pg_convert(pg, progress=lambda done, total: done == 0, page_size=3)
    assert locks_of_others(pg) == []  # the transaction ended with it


@pytest.mark.postgres
def test_pg_key_changes_when_an_event_is_added_and_ignores_the_password(pg: PgPlace) -> None:
    app = bank(pg)
    try:
        ids = fill(app, accounts=2, operations=4)
        key = postgres_key(pg.url, pg.schema)
        assert postgres_key(pg.url, pg.schema) == key
        # the test server trusts local connections: any password connects
        url = make_url(pg.url).set(password="an0ther-secret").render_as_string(False)
        assert postgres_key(url, pg.schema) == key
        account = app.repository.get(ids[1])
        account.rename("someone")
        app.save(account)
        added = postgres_key(pg.url, pg.schema)
        assert added != key and postgres_key(pg.url, pg.schema) == added
    finally:
        app.close()


@pytest.mark.postgres
def test_pg_wrong_database_or_schema_says_what_to_check(pg: PgPlace) -> None:
    app = bank(pg)
    fill(app, accounts=1, operations=1)
    app.close()
    with pytest.raises(InputError, match=r"has no schema 'nowhere'.*in schema .*" + pg.schema):
        convert_postgres(pg.url, io.BytesIO(), schema="nowhere")
    with pytest.raises(InputError) as caught:  # the library's default schema: public
        postgres_key(pg.url)
    assert str(caught.value).startswith(f"{pg.url}#public: no table of stored events")
    assert f"'{pg.schema}'" in str(caught.value) and "POSTGRES_SCHEMA" in str(caught.value)
    other = make_url(pg.url).set(database=f"no_db_{uuid4().hex[:8]}")
    with pytest.raises(InputError, match=r"does not exist.*POSTGRES_DBNAME"):
        convert_postgres(other.render_as_string(False), io.BytesIO(), schema=pg.schema)


def test_pg_connection_errors_say_what_to_check_without_the_password() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://ann:s3cret-pw@127.0.0.1:{port}/bank"
    with pytest.raises(InputError) as caught:
        convert_postgres(url, io.BytesIO())
    message = str(caught.value)
    assert message.startswith(f"cannot connect to postgresql://ann:***@127.0.0.1:{port}/bank")
    assert f"check that the server is running and reachable at 127.0.0.1:{port}" in message
    assert "s3cret-pw" not in message
    with pytest.raises(InputError, match="not a database URL"):
        postgres_key("bank events", None)
    with pytest.raises(InputError, match="not a PostgreSQL URL"):
        convert_postgres("sqlite:///bank.db", io.BytesIO())


def test_pg_store_opens_from_the_command_line(
    pg: PgPlace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``inspect URL --input-format eventsourcing --schema S``: the store by its URL."""
    from app.cli import main

    monkeypatch.setenv("REWIND_DATA_DIR", str(tmp_path / "data"))
    app = bank(pg)
    ids = fill(app, operations=12)
    app.close()
    args = ["inspect", pg.url, "--input-format", "eventsourcing", "--schema", pg.schema]
    code = main([*args, "--json", "--workspace", str(tmp_path / "ws.sqlite")])
    report = orjson.loads(capsys.readouterr().out)
    assert code == 0 and report["events"] == len(ids) + 12
    assert report["format"] == "eventsourcing-postgres" and report["streams"] == len(ids)
