"""Workspace store benchmark (on demand): ``.venv/bin/python tests/benchmarks/bench_workspace.py``.

Writes 1,000 chunks of 1,024 records of about 250 bytes (a 1M-event source), then measures
loading its columns, streaming it with ``iter_events`` and reading 1,000-event windows.
Prints medians of 3 runs.
"""

from __future__ import annotations

import gc
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from models.edits import Edit, EditKind
from models.event import Event
from models.log import NA, Columns
from models.workspace import Workspace
from models.workspace_log import WorkspaceLog

CHUNKS = 1_000
CHUNK = 1_024
N = CHUNKS * CHUNK


@dataclass(frozen=True)
class Result:
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


def make_records() -> list[bytes]:
    records = []
    for i in range(CHUNK):
        record = {
            "id": str(uuid.uuid4()),
            "stream": f"account-{i % 97}",
            "type": "Deposited",
            "version": i,
            "time": "2024-05-01T12:00:00.123456Z",
            "data": {"amount": i * 3, "currency": "EUR", "note": "n" * (i % 40)},
            "metadata": {"correlation_id": str(uuid.uuid4())},
        }
        records.append(orjson.dumps(record))
    return records


def make_columns() -> Columns:
    rng = np.random.default_rng(1)
    ids = np.empty(N, object)
    ids[:] = [str(uuid.UUID(int=int(x))) for x in rng.integers(0, 2**63, N)]
    versions = np.arange(N, dtype=np.int64) // 10_000
    versions[::17] = NA
    return Columns(
        stream_codes=(np.arange(N) % 10_000).astype(np.int32),
        type_codes=(np.arange(N) % 20).astype(np.int32),
        versions=versions,
        recorded_us=1_700_000_000_000_000 + np.arange(N, dtype=np.int64),
        processed_us=np.full(N, NA, np.int64),
        event_ids=ids,
        stream_names=[f"account-{i}" for i in range(10_000)],
        type_names=[f"Type{i}" for i in range(20)],
    )


def timed(fn: Callable[[], Any], runs: int = 3) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    records = make_records()
    mean = sum(map(len, records)) / len(records)
    columns = make_columns()
    sentinel = Event(key=0, pos=0, event_id="", stream="", type="")

    def trivial(raw: bytes, pos: int, *rest: Any) -> Event:
        return sentinel

    def parsing(
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
            pos, pos, event_id, stream, type_, version, None, recorded_us, processed_us,
            record["data"], record["metadata"],
        )  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "log.jsonl"
        log_path.write_bytes(b"{}\n")

        def write() -> int:
            db = Path(tmp) / f"ws-{time.perf_counter_ns()}.sqlite"
            with Workspace.open(db) as ws:
                writer = ws.begin_import(log_path)
                for c in range(CHUNKS):
                    writer.add_chunk(c * CHUNK, records)
                source = writer.finish(
                    Result(columns, N, N, 0, 3, 2, 3, "x", "jsonl", False, {"stream": "stream"}, 0)
                )
            os.replace(db, Path(tmp) / "ws.sqlite")
            for suffix in ("-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            return source.id

        t_write, source_id = timed(write)
        size = (Path(tmp) / "ws.sqlite").stat().st_size
        print(f"records of {mean:.0f} bytes, {N:,} events")
        print(
            f"write {CHUNKS} chunks x {CHUNK} + 1M columns, one import: {t_write:.2f} s "
            f"({N / t_write / 1e6:.2f} M records/s, {N * mean / t_write / 1e6:.0f} MB/s); "
            f"file {size / 1e6:.0f} MB"
        )
        with Workspace.open(Path(tmp) / "ws.sqlite") as ws:
            t_cols, log = timed(lambda: WorkspaceLog(ws, source_id, trivial))
            print(f"load 1M-event columns + chunk index (WorkspaceLog()): {t_cols * 1e3:.0f} ms")
            t_load, _ = timed(lambda: ws.load_columns(source_id))
            print(f"  of which columns alone: {t_load * 1e3:.0f} ms")

            def drain(log: WorkspaceLog) -> int:
                n = 0
                for _ in log.iter_events():
                    n += 1
                return n

            t_iter, n = timed(lambda: drain(log))
            assert n == N
            print(f"iter_events, trivial decode: {t_iter:.2f} s ({N / t_iter / 1e6:.2f} M ev/s)")
            real = WorkspaceLog(ws, source_id, parsing)
            t_real, _ = timed(lambda: drain(real), runs=1)
            print(
                f"iter_events, orjson + Event decode: {t_real:.2f} s "
                f"({N / t_real / 1e6:.2f} M ev/s)"
            )

            def decode_alone() -> None:
                for _ in range(CHUNKS):
                    for pos, raw in enumerate(records):
                        parsing(raw, pos, "id", "s", "t", 1, 2, None)

            t_alone, _ = timed(decode_alone, runs=1)
            print(f"  the same decode alone, no store: {t_alone:.2f} s")

            cold = []
            for start in range(10_500, N - 1_000, 97_001):
                fresh = WorkspaceLog(ws, source_id, parsing)
                began = time.perf_counter()
                fresh.events(start, start + 1_000)
                cold.append(time.perf_counter() - began)
            print(
                "events() window of 1,000, cold (2 chunks read + 1,000 decoded): "
                f"{statistics.median(cold) * 1e3:.2f} ms"
            )
            real.events(500_000, 501_000)
            t_warm, _ = timed(lambda: real.events(500_000, 501_000), runs=5)
            print(f"events() window of 1,000, cached: {t_warm * 1e3:.3f} ms")

            branch = ws.create_branch(source_id, "b")
            lat = []
            for i in range(50):
                began = time.perf_counter()
                ws.append_edit(branch.id, Edit(EditKind.DROP, target=i))
                lat.append(time.perf_counter() - began)
            print(f"append_edit (durable, synchronous=FULL): {statistics.median(lat) * 1e3:.2f} ms")
            state = {f"stream-{i}": {f"f{j}": j for j in range(5)} for i in range(10_000)}
            t_save, _ = timed(lambda: ws.save_snapshot(source_id, None, "p", 1, state))
            t_snap, _ = timed(lambda: ws.load_snapshot(source_id, None, "p"))
            print(f"snapshot of 10,000 streams x 5 fields: save {t_save * 1e3:.1f} ms, "
                  f"load {t_snap * 1e3:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
