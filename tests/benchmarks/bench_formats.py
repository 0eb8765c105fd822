"""Converter benchmark: kcat dump, EventStoreDB pages, CSV -> canonical JSON Lines.

Run on demand (not part of the test suite):

    .venv/bin/python tests/benchmarks/bench_formats.py                  # 100,000 events
    .venv/bin/python tests/benchmarks/bench_formats.py --events 1000000

The shop generator's events are written in each format as the real tools lay them out (kcat:
one compact object per message, partitions in blocks; EventStoreDB: pretty-printed stream
pages of 20 entries, newest first, written one after another; CSV: csv.writer with JSON
cells), then converted to a file. Beside each figure: the baseline of the same run,
``orjson.loads`` over the same number of JSON Lines lines (the generator's own log), so a
slow or busy machine shows in both.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from models.converters.base import Converter, canonical_line  # noqa: E402
from models.converters.csvlog import CONVERTER as CSV  # noqa: E402
from models.converters.eventstore import CONVERTER as EVENTSTORE  # noqa: E402
from models.converters.kafka import CONVERTER as KAFKA  # noqa: E402
from models.generator import generate  # noqa: E402
from models.timeparse import parse_timestamp  # noqa: E402

PARTITIONS = 6


def write_kcat(records: list[dict[str, Any]], path: Path) -> None:
    parts: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        parts[sum(r["stream"].encode()) % PARTITIONS].append(r)
    with open(path, "wb") as fh:
        for partition in sorted(parts):
            for offset, r in enumerate(parts[partition]):
                line = {
                    "topic": "shop",
                    "partition": partition,
                    "offset": offset,
                    "tstype": "create",
                    "ts": parse_timestamp(r["recorded_at"]) // 1000,
                    "broker": 1,
                    "headers": ["type", r["type"], "id", r["id"]],
                    "key": r["stream"],
                    "payload": orjson.dumps(r["data"]).decode(),
                }
                fh.write(json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode())
                fh.write(b"\n")


def write_pages(records: list[dict[str, Any]], path: Path) -> None:
    streams: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        streams[r["stream"]].append(r)
    base = "http://127.0.0.1:2113/streams"
    with open(path, "w", encoding="utf-8") as fh:
        for stream, events in streams.items():
            entries = []
            for number, r in enumerate(events):
                entries.append(
                    {
                        "eventId": r["id"],
                        "eventType": r["type"],
                        "eventNumber": number,
                        "data": json.dumps(r["data"], indent=2),
                        "metaData": json.dumps(r["metadata"]),
                        "streamId": stream,
                        "isJson": True,
                        "isMetaData": True,
                        "isLinkMetaData": False,
                        "positionEventNumber": number,
                        "positionStreamId": stream,
                        "title": f"{number}@{stream}",
                        "id": f"{base}/{stream}/{number}",
                        "updated": r["recorded_at"],
                        "author": {"name": "EventStore"},
                        "summary": r["type"],
                        "links": [
                            {"uri": f"{base}/{stream}/{number}", "relation": "edit"},
                            {"uri": f"{base}/{stream}/{number}", "relation": "alternate"},
                        ],
                    }
                )
            entries.reverse()  # newest first
            for start in range(0, len(entries), 20):
                page = {
                    "title": f"Event stream '{stream}'",
                    "id": f"{base}/{stream}",
                    "updated": entries[start]["updated"],
                    "streamId": stream,
                    "author": {"name": "EventStore"},
                    "headOfStream": start == 0,
                    "selfUrl": f"{base}/{stream}",
                    "links": [{"uri": f"{base}/{stream}", "relation": "self"}],
                    "entries": entries[start : start + 20],
                }
                fh.write(json.dumps(page, indent=2))
                fh.write("\n")


def write_csv(records: list[dict[str, Any]], path: Path) -> None:
    text = io.StringIO()
    writer = csv.writer(text)
    columns = ["id", "stream", "type", "version", "recorded_at", "processed_at"]
    writer.writerow([*columns, "data", "metadata"])
    for r in records:
        writer.writerow(
            [r[c] for c in columns] + [orjson.dumps(r["data"]).decode(), json.dumps(r["metadata"])]
        )
    path.write_text(text.getvalue(), encoding="utf-8-sig")


def baseline(lines: list[bytes]) -> float:
    loads = orjson.loads
    t0 = time.perf_counter()
    for line in lines:
        loads(line)
    return time.perf_counter() - t0


def canonical_floor(records: list[dict[str, Any]]) -> float:
    """What every converter pays per event for writing: :func:`canonical_line` alone."""
    stamps = [parse_timestamp(r["recorded_at"]) for r in records]
    t0 = time.perf_counter()
    for r, recorded in zip(records, stamps, strict=True):
        canonical_line(
            event_id=r["id"],
            stream=r["stream"],
            event_type=r["type"],
            data=r["data"],
            version=r["version"],
            recorded_us=recorded,
            metadata=r["metadata"],
        )
    return time.perf_counter() - t0


def timed(converter: Converter, path: Path, out_dir: Path) -> tuple[float, int, int]:
    out_path = out_dir / f"{path.name}.out.jsonl"
    with open(out_path, "wb") as out:
        t0 = time.perf_counter()
        result = converter.convert(path, out, strict=False, progress=None)
        elapsed = time.perf_counter() - t0
    if result.skipped:
        raise SystemExit(
            f"{converter.name}: {result.skipped} records skipped: {result.problems[:3]}"
        )
    return elapsed, result.records, out_path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rewind-bench-formats-") as tmp:
        folder = Path(tmp)
        log = folder / "shop.jsonl"
        t0 = time.perf_counter()
        generate(log, events=args.events, seed=args.seed)
        lines = log.read_bytes().splitlines()
        records = [orjson.loads(line) for line in lines]
        files = {
            KAFKA: folder / "shop.kcat.json",
            EVENTSTORE: folder / "shop.pages.json",
            CSV: folder / "shop.csv",
        }
        write_kcat(records, files[KAFKA])
        write_pages(records, files[EVENTSTORE])
        write_csv(records, files[CSV])
        print(f"{len(records):,} events generated and written in 3 formats in "
              f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
        base = min(baseline(lines) for _ in range(3))
        base_rate = len(lines) / base
        print(
            f"baseline: orjson.loads over {len(lines):,} JSON Lines lines: {base:.3f} s, "
            f"{base_rate:,.0f} lines/s"
        )
        floor = min(canonical_floor(records) for _ in range(3))
        print(
            f"floor: canonical_line alone for {len(records):,} events: {floor:.3f} s, "
            f"{len(records) / floor:,.0f} events/s\n"
        )
        header = (
            f"{'format':<14} {'input MB':>9} {'output MB':>9} {'events':>9} {'seconds':>8} "
            f"{'events/s':>10} {'MB/s':>7} {'x baseline':>10}"
        )
        print(header)
        print("-" * len(header))
        for converter, path in files.items():
            elapsed, count, out_size = timed(converter, path, folder)
            size = path.stat().st_size
            rate = count / elapsed
            print(
                f"{converter.name:<14} {size / 1e6:>9.1f} {out_size / 1e6:>9.1f} {count:>9,} "
                f"{elapsed:>8.2f} {rate:>10,.0f} {size / 1e6 / elapsed:>7.1f} "
                f"{base_rate / rate:>9.1f}x"
            )
        print("\nopening each file in Rewind (convert + import into a fresh workspace):")
        import os

        from app.session import open_session

        for name, path in [("jsonl", log), *((c.name, p) for c, p in files.items())]:
            os.environ["REWIND_DATA_DIR"] = str(folder / f"data-{name}")
            t0 = time.perf_counter()
            session = open_session(path, workspace=folder / f"ws-{name}.sqlite")
            elapsed = time.perf_counter() - t0
            count = len(session.log)
            session.close()
            print(
                f"{name:<14} {count:>9,} events {elapsed:>7.2f} s {count / elapsed:>10,.0f} "
                f"events/s ({base_rate / (count / elapsed):.1f}x the orjson.loads baseline)"
            )


if __name__ == "__main__":
    main()
