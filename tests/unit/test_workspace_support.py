"""Shared helpers of the workspace tests (no tests here).

Logs are real JSON Lines files in tmp_path; records are imported the way the importer will
(chunks of raw single-line JSON plus columns), and decoded by a small decoder that plays the
importer's ``decode_record``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from models.event import Event
from models.log import Columns
from models.problems import Problem
from models.readers.source import file_digest
from models.workspace import Source, Workspace

PG_URL_ENV = "REWIND_TEST_PG_URL"
CHUNK = 16
"""Small chunks so that small logs span many of them."""


@dataclass(frozen=True)
class ImportFacts:
    """What the importer's ImportResult carries (the ImportOutcome protocol)."""

    columns: Columns
    records_read: int
    imported: int
    skipped: int
    end_offset: int
    end_line: int
    file_size: int
    sha1: str | None
    format: str
    compressed: bool
    mapping: Any
    mtime_ns: int


def make_events(n: int, start: int = 0) -> list[Event]:
    """Events at positions start..start+n-1 with non-ASCII names and ids, some NA values."""
    streams = ["konto-ä", "счёт-1", "acct-3", "账户"]
    types = ["Opened", "Deposited", "Withdrawn", "Überwiesen"]
    events = []
    for pos in range(start, start + n):
        events.append(
            Event(
                key=pos,
                pos=pos,
                event_id=f"ид-{pos}" if pos % 5 else f"evt-{pos}-✓",
                stream=streams[pos % 7 % 4],
                type=types[pos % 3 if pos < 40 else 3],
                version=None if pos % 11 == 0 else pos // 4,
                recorded_us=None if pos % 13 == 0 else 1_700_000_000_000_000 + pos,
                processed_us=None if pos % 2 else -5 + pos,
                data={"n": pos, "text": "äöü" * (pos % 3)},
                metadata={"correlation_id": f"c{pos // 10}"},
            )
        )
    return events


def record_of(event: Event) -> bytes:
    return orjson.dumps(
        {
            "id": event.event_id,
            "stream": event.stream,
            "type": event.type,
            "data": event.data,
            "metadata": event.metadata,
        }
    )


def decode(
    raw: bytes,
    pos: int,
    event_id: str,
    stream: str,
    type_: str,
    version: int | None,
    recorded_us: int | None,
    processed_us: int | None,
) -> Event:
    record = orjson.loads(raw)
    return Event(
        key=pos,
        pos=pos,
        event_id=event_id,
        stream=stream,
        type=type_,
        version=version,
        recorded_us=recorded_us,
        processed_us=processed_us,
        data=record["data"],
        metadata=record["metadata"],
    )


def write_log(path: Path, events: Sequence[Event], *, append: bool = False) -> None:
    with open(path, "ab" if append else "wb") as handle:
        for event in events:
            handle.write(record_of(event) + b"\n")


def facts_for(path: Path, events: Sequence[Event], total_lines: int) -> ImportFacts:
    """As the importer reports a complete read of ``path`` (``end_line``: the line after)."""
    data = path.read_bytes()
    return ImportFacts(
        columns=Columns.from_events(events),
        records_read=len(events),
        imported=len(events),
        skipped=0,
        end_offset=len(data),
        end_line=total_lines + 1,
        file_size=len(data),
        sha1=file_digest(path),
        format="jsonl",
        compressed=False,
        mapping={"stream": "stream", "type": "type"},
        mtime_ns=path.stat().st_mtime_ns,
    )


def feed(writer: Any, events: Sequence[Event], chunk: int = CHUNK) -> None:
    records = [record_of(e) for e in events]
    base = writer.start_pos
    for i in range(0, len(records), chunk):
        writer.add_chunk(base + i, records[i : i + chunk])


def import_log(
    ws: Workspace,
    path: Path,
    events: Sequence[Event],
    problems: Sequence[Problem] = (),
    chunk: int = CHUNK,
) -> Source:
    """Write ``events`` as a JSON Lines file and import it in chunks of ``chunk``."""
    write_log(path, events)
    with ws.begin_import(path) as writer:
        feed(writer, events, chunk)
        for problem in problems:
            writer.add_problem(problem)
        return writer.finish(facts_for(path, events, len(events)))


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make a file read-only for the duration (proves nobody writes it)."""
    mode = path.stat().st_mode
    os.chmod(path, 0o444)
    try:
        yield
    finally:
        os.chmod(path, mode)


def workspace_targets() -> list[Any]:
    """Parameters for store tests: a SQLite file always, PostgreSQL when configured."""
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]


def open_target(kind: str, tmp_path: Path) -> Iterator[str | Path]:
    """Yield something Workspace.open accepts; PostgreSQL gets a fresh schema per test."""
    if kind == "sqlite":
        yield tmp_path / "workspace.sqlite"
        return
    base = os.environ.get(PG_URL_ENV)
    if not base:
        pytest.skip(f"set {PG_URL_ENV} to run the store tests against PostgreSQL")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"rewind_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
