"""kcat -C -J dumps converted to canonical JSON Lines, then imported with the real importer.

kcat is not on PyPI, so the dumps are written as its JSON formatter writes them (kcat's
json.c, yajl): compact objects with the members in the order topic, partition, offset,
tstype, ts, broker, headers (a flat name/value list, only when there are headers), key,
payload; non-ASCII written as UTF-8; one message per line; partitions in blocks.
"""

from __future__ import annotations

import gzip
import io
import json
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from app.session import open_session
from models.converters.base import ConversionCancelled
from models.converters.common import Spool
from models.converters.kafka import CONVERTER, TOMBSTONE
from models.event import Event
from models.generator import generate
from models.problems import InputError, Severity

T0_MS = 1_709_294_400_000  # 2024-03-01T12:00:00Z
_ABSENT = object()


def kcat_line(
    topic: str,
    partition: int,
    offset: int,
    *,
    key: str | None,
    payload: str | None,
    ts: int | None = None,
    tstype: str = "create",
    broker: int = 1,
    headers: list[str | None] | None = None,
) -> bytes:
    """One message as ``kcat -C -J`` prints it (newline included)."""
    record: dict[str, Any] = {"topic": topic, "partition": partition, "offset": offset}
    if ts is not None:
        record["tstype"] = tstype
        record["ts"] = ts
    record["broker"] = broker
    if headers is not None:
        record["headers"] = headers
    record["key"] = key
    record["payload"] = payload
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def sample_dump() -> bytes:
    """Two partitions of ``orders`` in blocks (as kcat prints them), timestamps interleaved."""
    p0 = [
        kcat_line(
            "orders",
            0,
            10,
            key="order-1",
            ts=T0_MS,
            headers=["type", "OrderPlaced", "correlation_id", "c-1", "trace", "a"],
            payload='{"total": 12, "items": ["mug"]}',
        ),
        kcat_line(
            "orders",
            0,
            11,
            key="order-1",
            ts=T0_MS + 3000,
            headers=["ce_type", "OrderPaid", "ce_id", "evt-77", "trace", "b", "trace", None],
            payload='{"paid": true}',
        ),
        kcat_line("orders", 0, 12, key="order-1", ts=T0_MS + 5000, payload=None),
    ]
    p1 = [
        kcat_line("orders", 1, 0, key=None, ts=T0_MS + 1000, payload="plain text, not JSON"),
        kcat_line(
            "orders",
            1,
            1,
            key="order-2",
            ts=T0_MS + 3000,
            tstype="logappend",
            headers=["event_type", "OrderPlaced"],
            payload='{"total": 7, "note": "gift — wrap"}',
        ),
        kcat_line("orders", 1, 2, key="order-2", payload='"just a JSON string"'),
    ]
    return b"".join(p0 + p1)


def convert_bytes(path: Path, strict: bool = False) -> tuple[bytes, Any]:
    out = io.BytesIO()
    result = CONVERTER.convert(path, out, strict=strict, progress=None)
    return out.getvalue(), result


def import_converted(tmp_path: Path, converted: bytes) -> tuple[list[Event], Any]:
    log = tmp_path / "x.jsonl"
    log.write_bytes(converted)
    session = open_session(log, workspace=tmp_path / "ws.sqlite")
    try:
        return list(session.log.iter_events()), session.problems
    finally:
        session.close()


def test_a_dump_imports_with_streams_types_times_and_metadata(tmp_path: Path) -> None:
    dump = tmp_path / "orders.kcat"
    dump.write_bytes(sample_dump())
    converted, result = convert_bytes(dump)
    assert (result.records, result.skipped) == (6, 0)
    assert [p.severity for p in result.problems] == []
    events, problems = import_converted(tmp_path, converted)
    assert problems == []
    # Partitions merged by timestamp; the message without ts keeps its place after its
    # predecessor in partition 1; the tie at +3000 goes to partition 0 first.
    order = [(e.metadata["kafka"]["partition"], e.metadata["kafka"]["offset"]) for e in events]
    assert order == [(0, 10), (1, 0), (0, 11), (1, 1), (1, 2), (0, 12)]
    by = {pair: e for pair, e in zip(order, events, strict=True)}

    placed = by[(0, 10)]
    assert (placed.event_id, placed.stream, placed.type) == (
        "orders/0/10",
        "order-1",
        "OrderPlaced",
    )
    assert placed.version is None
    assert placed.recorded_us == T0_MS * 1000
    assert placed.data == {"total": 12, "items": ["mug"]}
    assert placed.correlation_id == "c-1"
    kafka = placed.metadata["kafka"]
    assert kafka["topic"] == "orders" and kafka["tstype"] == "create" and kafka["ts"] == T0_MS
    assert kafka["headers"] == {"type": "OrderPlaced", "correlation_id": "c-1", "trace": "a"}

    paid = by[(0, 11)]
    assert (paid.event_id, paid.type) == ("evt-77", "OrderPaid")  # CloudEvents binary headers
    assert paid.metadata["kafka"]["headers"]["trace"] == ["b", None]  # a repeated name

    tombstone = by[(0, 12)]
    assert (tombstone.type, tombstone.data) == (TOMBSTONE, None)
    assert tombstone.metadata["kafka"]["tombstone"] is True

    keyless = by[(1, 0)]
    assert (keyless.stream, keyless.type) == ("orders-1", "orders")
    assert keyless.data == "plain text, not JSON"
    assert keyless.metadata["kafka"]["key"] is None

    appended = by[(1, 1)]
    assert appended.metadata["kafka"]["tstype"] == "logappend"
    assert appended.data == {"total": 7, "note": "gift — wrap"}

    untimed = by[(1, 2)]
    assert untimed.recorded_us is None and untimed.data == "just a JSON string"
    assert "ts" not in untimed.metadata["kafka"] and "headers" not in untimed.metadata["kafka"]
    assert any("tombstone" in note for note in result.notes)
    assert any("no key" in note for note in result.notes)


def test_partitions_keep_their_order_and_merge_by_running_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Producer clocks go backwards inside partitions: offset order still holds, and the
    merge follows each partition's latest time so far, ties by (topic, partition). The
    result is the same from a gzip-compressed dump, and when the spool of converted lines
    overflows to its temporary file."""
    rng = random.Random(5)
    lines: list[bytes] = []
    for topic in ("b-topic", "a-topic"):
        for partition in (2, 0, 1):
            for offset in range(60):
                ts = T0_MS + rng.randrange(0, 40) * 1000  # many ties, non-monotonic
                lines.append(
                    kcat_line(topic, partition, offset, key=f"k{offset % 7}", ts=ts, payload="{}")
                )
    dump = tmp_path / "many.kcat"
    dump.write_bytes(b"".join(lines))
    converted, result = convert_bytes(dump)
    assert result.records == len(lines) and result.skipped == 0
    seen = [orjson.loads(line)["metadata"]["kafka"] for line in converted.splitlines()]
    assert sorted((k["topic"], k["partition"], k["offset"]) for k in seen) == sorted(
        (m["topic"], m["partition"], m["offset"]) for m in map(orjson.loads, lines)
    )
    latest: dict[tuple[str, int], int] = {}
    last_offset: dict[tuple[str, int], int] = {}
    previous: tuple[int, tuple[str, int]] | None = None
    for k in seen:
        part = (k["topic"], k["partition"])
        assert k["offset"] > last_offset.get(part, -1)  # offset order within the partition
        last_offset[part] = k["offset"]
        latest[part] = max(latest.get(part, 0), k["ts"])
        current = (latest[part], part)
        if previous is not None:
            assert previous[0] <= current[0]
            if previous[0] == current[0] and previous[1] != part:
                assert previous[1] < part  # a tie goes to the lower (topic, partition)
        previous = current

    packed = tmp_path / "many.kcat.gz"
    packed.write_bytes(gzip.compress(dump.read_bytes()))
    assert convert_bytes(packed)[0] == converted
    monkeypatch.setattr(Spool, "MEMORY", 10_000)
    assert convert_bytes(dump)[0] == converted


def test_bad_lines_are_reported_where_they_start(tmp_path: Path) -> None:
    good = kcat_line("t", 0, 0, key="a", ts=T0_MS, payload="{}")
    rows = [
        good.replace(b"\n", b"\r\n"),  # CRLF ends are fine
        b"\n",  # blank lines are not records
        b'{"topic":"t","partition":0,"offset":1,"payload":"{\\"a\\":\n',  # broken JSON
        b"[1, 2, 3]\n",  # valid JSON, not a message
        b'{"topic":"t","offset":2,"key":null,"payload":"x"}\n',  # no partition
        kcat_line("t", 0, 3, key="a", payload="x").replace(b'"offset":3', b'"offset":"3"'),
        kcat_line("t", 0, 4, key="a", ts=T0_MS, payload="x").replace(
            f'"ts":{T0_MS}'.encode(), f'"ts":"{T0_MS}"'.encode()
        ),
        kcat_line("t", 0, 5, key="a", ts=T0_MS + 1, payload="{}"),
        kcat_line("t", 0, 6, key="a", ts=T0_MS + 2, payload="{}")[:30],  # cut, no newline
    ]
    dump = tmp_path / "bad.kcat"
    dump.write_bytes(b"".join(rows))
    starts = [sum(map(len, rows[:i])) for i in range(len(rows))]
    lines = [1 + sum(r.count(b"\n") for r in rows[:i]) for i in range(len(rows))]

    converted, result = convert_bytes(dump)
    assert result.records == 2
    assert result.records + result.skipped == len(rows) - 1  # the blank line is no record
    errors = [p for p in result.problems if p.severity is Severity.ERROR]
    assert [(p.line, p.offset) for p in errors] == [
        (lines[i], starts[i]) for i in (2, 3, 4, 5, 6, 8)
    ]
    assert all(p.file == str(dump) for p in errors)
    reasons = [p.reason for p in errors]
    assert "not valid JSON" in reasons[0]
    assert "not a kcat -J message" in reasons[1]
    assert "no partition" in reasons[2]
    assert "'offset' must be" in reasons[3]
    assert "'ts' must be milliseconds" in reasons[4]
    assert reasons[5].startswith("truncated last line")
    assert errors[0].excerpt.startswith('{"topic":"t","partition":0,"offset":1')
    assert [orjson.loads(x)["metadata"]["kafka"]["offset"] for x in converted.splitlines()] == [
        0,
        5,
    ]

    with pytest.raises(InputError) as raised:
        CONVERTER.convert(dump, io.BytesIO(), strict=True, progress=None)
    assert [(p.line, p.offset) for p in raised.value.problems] == [(lines[2], starts[2])]
    assert f"{dump}:{lines[2]} (byte {starts[2]})" in str(raised.value)


def test_payload_warnings_and_invalid_utf8(tmp_path: Path) -> None:
    broken = kcat_line("t", 3, 1, key="k", ts=T0_MS + 1, payload="caf\u00e9").replace(
        "é".encode(),
        b"\xe9",  # kcat copies the message bytes as they are: Latin-1 here
    )
    rows = [kcat_line("t", 3, 0, key="k", ts=T0_MS, payload='{"unclosed": 1'), broken]
    dump = tmp_path / "warn.kcat"
    dump.write_bytes(b"".join(rows))
    converted, result = convert_bytes(dump)
    assert (result.records, result.skipped) == (2, 0)
    warnings = [(p.line, p.offset, p.severity) for p in result.problems]
    assert warnings == [(1, 0, Severity.WARNING), (2, len(rows[0]), Severity.WARNING)]
    assert "looks like JSON" in result.problems[0].reason
    assert "U+FFFD" in result.problems[1].reason
    data = [orjson.loads(x)["data"] for x in converted.splitlines()]
    assert data == ['{"unclosed": 1', "caf\ufffd"]


def test_header_map_form_and_progress(tmp_path: Path) -> None:
    """kcat's header-map output ({name: [values]}) is read too; progress reports bytes and
    a False answer cancels."""
    record = {
        "topic": "t",
        "partition": 0,
        "offset": 0,
        "tstype": "create",
        "ts": T0_MS,
        "broker": 1,
        "headers": {"type": ["Moved"], "tag": ["x", "y"]},
        "key": "k",
        "payload": "{}",
    }
    line = json.dumps(record, separators=(",", ":")).encode() + b"\n"
    dump = tmp_path / "map.kcat"
    dump.write_bytes(line * 9000)
    calls: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> bool:
        calls.append((done, total))
        return True

    out = io.BytesIO()
    result = CONVERTER.convert(dump, out, strict=False, progress=progress)
    assert result.records == 9000
    first = orjson.loads(out.getvalue().split(b"\n", 1)[0])
    assert first["type"] == "Moved"
    assert first["metadata"]["kafka"]["headers"] == {"type": "Moved", "tag": ["x", "y"]}
    assert len(calls) >= 3 and all(total == dump.stat().st_size for _, total in calls)
    assert calls[-1][0] == dump.stat().st_size
    with pytest.raises(ConversionCancelled):
        CONVERTER.convert(dump, io.BytesIO(), strict=False, progress=lambda d, t: False)


def test_sniff_claims_kcat_dumps_only(tmp_path: Path) -> None:
    from tests.unit.test_convert_csv import csv_sample
    from tests.unit.test_convert_eventstore import append_sample, page_sample

    dump = tmp_path / "dump.json"
    dump.write_bytes(sample_dump())
    assert CONVERTER.sniff(dump, dump.read_bytes())
    assert CONVERTER.sniff(dump, b"\xef\xbb\xbf" + dump.read_bytes())
    long_first = kcat_line("t", 0, 0, key="k", payload="x" * 70_000)
    assert CONVERTER.sniff(dump, long_first[:65_536])  # a first line longer than the head
    jsonl = tmp_path / "shop.jsonl"
    generate(jsonl, events=600)
    cloudevents = tmp_path / "shop.ce.jsonl"
    generate(cloudevents, events=600, fmt="cloudevents")
    others = {
        "rewind jsonl": jsonl.read_bytes()[:65_536],
        "cloudevents": cloudevents.read_bytes()[:65_536],
        "eventstore page": page_sample(),
        "eventstore append": append_sample(),
        "csv": csv_sample(),
    }
    for name, head in others.items():
        assert not CONVERTER.sniff(tmp_path / "x.json", head), name
