"""SQL table converter benchmark: a SQLite event table -> canonical JSON Lines.

Run on demand (not part of the test suite):

    .venv/bin/python tests/benchmarks/bench_sqltable.py                  # 100,000 events
    .venv/bin/python tests/benchmarks/bench_sqltable.py --events 1000000 --page-size 5000
    REWIND_BENCH_PG_URL=postgresql+psycopg://... .venv/bin/python tests/benchmarks/...

The shop generator's events (:func:`models.generator.iter_events`) are written to a table
``events`` as an application would keep them: an INTEGER PRIMARY KEY, the event id, stream,
type and version columns, ISO text times and JSON text data and metadata (on PostgreSQL, when
``REWIND_BENCH_PG_URL`` is set: timestamptz and jsonb, in a throw-away schema). The table is
then converted to a file. Beside each figure: the baseline of the same run, ``orjson.loads``
over the same number of JSON Lines lines, so a slow or busy machine shows in both.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from models.converters.sqltable import PAGE_SIZE, TableSource, convert  # noqa: E402
from models.generator import iter_events  # noqa: E402

COLUMNS = {
    "id": "event_id",
    "stream": "stream",
    "type": "type",
    "version": "version",
    "recorded_at": "recorded_at",
    "processed_at": "processed_at",
    "data": "data",
    "metadata": "metadata",
}


def baseline(lines: list[bytes]) -> float:
    loads = orjson.loads
    t0 = time.perf_counter()
    for line in lines:
        loads(line)
    return time.perf_counter() - t0


def rows_of(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    dumps = orjson.dumps
    return [
        (
            r["id"],
            r["stream"],
            r["type"],
            r["version"],
            r["recorded_at"],
            r.get("processed_at"),
            dumps(r["data"]).decode(),
            dumps(r["metadata"]).decode(),
        )
        for r in records
    ]


def write_sqlite(path: Path, records: list[dict[str, Any]]) -> str:
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE events (pos INTEGER PRIMARY KEY, event_id TEXT, stream TEXT, type TEXT, "
        "version INTEGER, recorded_at TEXT, processed_at TEXT, data TEXT, metadata TEXT)"
    )
    conn.executemany(
        "INSERT INTO events (event_id, stream, type, version, recorded_at, processed_at, data, "
        "metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows_of(records),
    )
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


def write_postgres(url: str, schema: str, records: list[dict[str, Any]]) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            conn.execute(
                text(
                    f'CREATE TABLE "{schema}".events (pos BIGSERIAL PRIMARY KEY, event_id TEXT, '
                    "stream TEXT, type TEXT, version INTEGER, recorded_at TIMESTAMPTZ, "
                    "processed_at TIMESTAMPTZ, data JSONB, metadata JSONB)"
                )
            )
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.cursor() as cursor:
                copy_sql = (
                    f'COPY "{schema}".events (event_id, stream, type, version, recorded_at, '
                    "processed_at, data, metadata) FROM STDIN"
                )
                with cursor.copy(copy_sql) as copy:
                    for row in rows_of(records):
                        copy.write_row(row)
    finally:
        engine.dispose()


def drop_postgres(url: str, schema: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        engine.dispose()


def timed(source: TableSource, out_path: Path, page_size: int) -> tuple[float, int, int]:
    with open(out_path, "wb") as out:
        t0 = time.perf_counter()
        result = convert(source, out, page_size=page_size)
        elapsed = time.perf_counter() - t0
    if result.skipped or result.problems:
        raise SystemExit(f"{result.skipped} rows skipped: {result.problems[:3]}")
    return elapsed, result.records, out_path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--page-size", type=int, default=PAGE_SIZE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rewind-bench-sqltable-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        records = list(iter_events(events=args.events, seed=args.seed))
        lines = [orjson.dumps(r) for r in records]
        url = write_sqlite(folder / "events.sqlite", records)
        print(
            f"{len(records):,} events generated and written to a SQLite table in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        base = min(baseline(lines) for _ in range(3))
        base_rate = len(lines) / base
        print(
            f"baseline: orjson.loads over {len(lines):,} JSON Lines lines: {base:.3f} s, "
            f"{base_rate:,.0f} lines/s\n"
        )
        targets = [("sqlite", TableSource(url, "events", COLUMNS))]
        pg_url = os.environ.get("REWIND_BENCH_PG_URL")
        schema = f"rewind_bench_{uuid.uuid4().hex[:10]}"
        if pg_url:
            write_postgres(pg_url, schema, records)
            targets.append(("postgresql", TableSource(pg_url, "events", COLUMNS, schema=schema)))
        try:
            header = (
                f"{'database':<11} {'events':>9} {'output MB':>9} {'seconds':>8} "
                f"{'events/s':>10} {'x baseline':>10}"
            )
            print(f"page size {args.page_size:,} rows\n{header}\n{'-' * len(header)}")
            for name, source in targets:
                elapsed, count, size = timed(source, folder / f"{name}.jsonl", args.page_size)
                rate = count / elapsed
                print(
                    f"{name:<11} {count:>9,} {size / 1e6:>9.1f} {elapsed:>8.2f} {rate:>10,.0f} "
                    f"{base_rate / rate:>9.1f}x"
                )
        finally:
            if pg_url:
                drop_postgres(pg_url, schema)


if __name__ == "__main__":
    main()
