"""CloudEvents 1.0 logs written with the real SDK: structured mode one per line, and the JSON
batch format (an array; the SDK has no batch writer, so the array is built from its
structured output as the spec describes)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from cloudevents.v1.conversion import to_json as legacy_to_json
from cloudevents.v1.http import CloudEvent as LegacyCloudEvent

from models.event import datetime_to_us
from models.importer import ImportResult, event_at, run_import
from models.mapping import CLOUDEVENTS
from models.problems import Problem
from models.readers import Format

T0 = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


class ListSink:
    def __init__(self) -> None:
        self.records: list[bytes] = []
        self.problems: list[Problem] = []

    def add_chunk(self, first_pos: int, records: list[bytes]) -> None:
        assert first_pos == len(self.records)
        self.records.extend(records)

    def add_problem(self, problem: Problem) -> None:
        self.problems.append(problem)


def sdk_events() -> list[bytes]:
    """Structured-mode JSON of four events, as the SDK (new core API) writes them."""
    fmt = JSONFormat()
    return [
        fmt.write(
            CloudEvent(
                {
                    "id": "e1",
                    "source": "https://shop.example/orders",
                    "type": "order.placed",
                    "subject": "order-7",
                    "time": T0,
                    "sequence": "1",
                    "correlationid": "c-1",
                },
                {"total": 12, "items": ["a", "b"]},
            )
        ),
        fmt.write(
            CloudEvent(
                {
                    "id": "e2",
                    "source": "https://shop.example/orders",
                    "type": "order.note",
                    "subject": "order-7",
                    "time": T0,
                    "datacontenttype": "text/plain",
                    "sequence": "2",
                    "correlationid": "c-1",
                    "causationid": "e1",
                },
                "gift wrap, please",
            )
        ),
        fmt.write(
            CloudEvent(
                {
                    "id": "e3",
                    "source": "https://shop.example/scanner",
                    "type": "parcel.scanned",
                    "time": T0,
                    "datacontenttype": "application/octet-stream",
                },
                b"\x00\x01\xfe",
            )
        ),
        legacy_to_json(
            LegacyCloudEvent(
                {
                    "id": "e4",
                    "source": "https://shop.example/orders",
                    "type": "order.shipped",
                    "subject": "order-7",
                    "time": "2024-03-01T12:00:01Z",
                },
                {"carrier": "dhl"},
            )
        ),
    ]


def check(result: ImportResult, sink: ListSink) -> None:
    assert result.imported == 4 and result.skipped == 0 and result.records_read == 4
    assert sink.problems == [] and result.problems == []
    assert result.mapping.preset == CLOUDEVENTS
    columns = result.columns
    assert columns.event_ids.tolist() == ["e1", "e2", "e3", "e4"]
    assert columns.stream_names == ["order-7", "https://shop.example/scanner"]
    assert columns.stream_codes.tolist() == [0, 0, 1, 0]
    assert columns.type_names == ["order.placed", "order.note", "parcel.scanned", "order.shipped"]
    assert columns.versions.tolist()[:2] == [1, 2]
    t0 = datetime_to_us(T0)
    assert columns.recorded_us.tolist() == [
        t0,
        t0,
        t0,
        datetime_to_us(T0.replace(second=1, microsecond=0)),
    ]
    events = [event_at(raw, result.mapping, columns, i, i) for i, raw in enumerate(sink.records)]
    placed, note, scanned, shipped = events
    assert placed.data == {"total": 12, "items": ["a", "b"]}
    assert placed.correlation_id == "c-1" and placed.causation_id is None
    assert placed.metadata["source"] == "https://shop.example/orders"
    assert placed.metadata["specversion"] == "1.0"
    assert placed.metadata["sequence"] == "1"
    assert note.data == "gift wrap, please"
    assert note.metadata["datacontenttype"] == "text/plain"
    assert (note.correlation_id, note.causation_id) == ("c-1", "e1")
    assert scanned.data == "AAH+" and scanned.metadata["data_base64"] is True
    assert scanned.stream == "https://shop.example/scanner"  # no subject: the source
    assert shipped.data == {"carrier": "dhl"} and shipped.recorded_at == T0.replace(
        second=1, microsecond=0
    )


def test_structured_mode_one_per_line(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"\n".join(sdk_events()) + b"\n")
    sink = ListSink()
    result = run_import(path, sink=sink)
    assert result.format == Format.CLOUDEVENTS
    check(result, sink)
    assert sink.records == sdk_events()  # stored as written: one line each already


def test_batch_format(tmp_path: Path) -> None:
    path = tmp_path / "batch.json"
    path.write_bytes(b"[" + b",\n ".join(sdk_events()) + b"]")
    sink = ListSink()
    result = run_import(path, sink=sink)
    assert result.format == Format.CLOUDEVENTS_BATCH
    check(result, sink)


def test_empty_batch_is_a_valid_empty_log(tmp_path: Path) -> None:
    path = tmp_path / "empty-batch.json"
    path.write_bytes(b"[]")
    sink = ListSink()
    result = run_import(path, sink=sink, fmt="cloudevents-batch")
    assert (result.records_read, result.imported, result.warnings) == (0, 0, 0)
    assert result.format == Format.CLOUDEVENTS_BATCH and sink.problems == []
    assert len(result.columns) == 0
