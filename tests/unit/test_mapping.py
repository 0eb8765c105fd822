"""Field mapping: detection from common names, explicit overrides, JSON round trip, and the
two ways of reading a record (columns in bulk, one full event)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from models.mapping import (
    CLOUDEVENTS,
    DERIVED_ID_PREFIX,
    NO_STREAM,
    FieldMapping,
    normalise_id,
    normalise_int,
    normalise_name,
    resolve_mapping,
)

SNAKE: dict[str, Any] = {
    "event_id": "e-1",
    "stream_id": "order-7",
    "event_type": "Placed",
    "sequence": 3,
    "created_at": "2024-03-01T12:00:00Z",
    "processed_at": "2024-03-01T12:00:01Z",
    "payload": {"total": 12},
    "meta": {"correlation_id": "c-1", "causation_id": "e-0", "user": "ann"},
}
CAMEL: dict[str, Any] = {
    "eventId": "e-1",
    "aggregateId": "order-7",
    "eventType": "Placed",
    "eventNumber": 3,
    "timestamp": 1709294400000,
    "body": {"total": 12},
    "correlationId": "c-1",
    "causationId": "e-0",
    "tenant": "acme",
}


def test_detects_snake_case_names_and_ids_inside_metadata() -> None:
    mapping = FieldMapping.detect([SNAKE])
    assert mapping.paths == {
        "event_id": "event_id",
        "stream": "stream_id",
        "type": "event_type",
        "version": "sequence",
        "schema_version": None,
        "recorded_at": "created_at",
        "processed_at": "processed_at",
        "data": "payload",
        "metadata": "meta",
        "correlation_id": "meta.correlation_id",
        "causation_id": "meta.causation_id",
    }


def test_detects_camel_case_names_and_top_level_ids() -> None:
    mapping = FieldMapping.detect([CAMEL])
    assert mapping.paths["event_id"] == "eventId"
    assert mapping.paths["stream"] == "aggregateId"
    assert mapping.paths["type"] == "eventType"
    assert mapping.paths["version"] == "eventNumber"
    assert mapping.paths["recorded_at"] == "timestamp"
    assert mapping.paths["data"] == "body"
    assert mapping.paths["metadata"] is None
    assert mapping.paths["correlation_id"] == "correlationId"
    assert mapping.paths["causation_id"] == "causationId"


def test_detection_looks_at_several_records_and_both_places() -> None:
    first = {"id": "1", "type": "A", "metadata": {"correlationId": "c"}}
    second = {"id": "2", "type": "B", "correlation_id": "d", "metadata": {}}
    mapping = FieldMapping.detect([first, second])
    assert mapping.paths["correlation_id"] == "correlation_id|metadata.correlationId"
    event = mapping.to_event(first, **_columns(mapping, first))
    assert event.correlation_id == "c"
    assert mapping.to_event(second, **_columns(mapping, second)).correlation_id == "d"


def test_no_records_gives_the_canonical_names() -> None:
    assert FieldMapping.detect([]) == FieldMapping.default()
    assert FieldMapping.default().paths["type"] == "type"


def test_cloudevents_are_recognised() -> None:
    event = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}
    assert FieldMapping.detect([event]).preset == CLOUDEVENTS


def test_explicit_override_with_dotted_paths_and_escaped_dots() -> None:
    record = {"kind": "Placed", "meta": {"corr": "c-9", "a.b": "dotted"}, "id": 5}
    mapping = resolve_mapping({"type": "kind", "correlation_id": "meta.corr"}, [record])
    assert mapping.paths["type"] == "kind"
    assert mapping.extract(record)[:3] == (5, None, "Placed")
    event = mapping.to_event(record, **_columns(mapping, record))
    assert event.correlation_id == "c-9"
    escaped = mapping.with_overrides({"causation_id": "meta.a\\.b"})
    assert escaped.to_event(record, **_columns(escaped, record)).causation_id == "dotted"
    assert mapping.with_overrides({"version": None}).paths["version"] is None


def test_a_field_mapping_is_used_as_is() -> None:
    mapping = FieldMapping({"type": "kind"})
    assert resolve_mapping(mapping, [SNAKE]) is mapping


@pytest.mark.parametrize(
    "mapping",
    [FieldMapping.detect([SNAKE]), FieldMapping.cloudevents(), FieldMapping({"type": "a\\.b|c"})],
)
def test_json_round_trip(mapping: FieldMapping) -> None:
    stored = json.loads(json.dumps(mapping.to_json()))
    assert FieldMapping.from_json(stored) == mapping
    assert hash(FieldMapping.from_json(stored)) == hash(mapping)


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ({"paths": {"colour": "c"}}, "unknown field"),
        ({"paths": {"type": ""}}, "non-empty string"),
        ({"paths": {"type": "a..b"}}, "empty member name"),
        ({"paths": {"type": "t"}, "preset": "kafka"}, "unknown mapping preset"),
        ({"preset": "generic"}, "needs a 'paths' object"),
    ],
)
def test_bad_stored_mappings_say_what_is_wrong(stored: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FieldMapping.from_json(stored)


def test_requires_names_the_missing_type() -> None:
    reason = FieldMapping({"event_id": "id"}).requires()
    assert reason is not None and "explicit mapping for 'type'" in reason
    assert FieldMapping.default().requires() is None


def test_extract_columns_equals_extract_per_record() -> None:
    records: list[dict[str, Any]] = [
        SNAKE,
        {**SNAKE, "event_id": None, "stream_id": 7},
        {"event_type": "X"},
    ]
    mapping = FieldMapping.detect(records).with_overrides({"processed_at": None})
    columns = mapping.extract_columns(records)
    assert columns[5] is None  # unmapped: no list at all
    for i, record in enumerate(records):
        row = mapping.extract(record)
        assert row[5] is None
        assert tuple(c[i] for c in columns[:5]) == row[:5]  # type: ignore[index]
    dotted = mapping.with_overrides({"stream": "payload.total|stream_id"})
    assert dotted.extract_columns(records)[1] == [12, 12, None]


def test_plain_members_reject_records_that_are_not_objects() -> None:
    mapping = FieldMapping.default()
    assert mapping.checks_objects
    with pytest.raises(TypeError):
        mapping.extract_columns([{"type": "A"}, ["not", "an", "object"]])  # type: ignore[list-item]


def test_full_event_with_data_and_metadata_mapped() -> None:
    mapping = FieldMapping.detect([SNAKE])
    record = {**SNAKE, "tenant": "acme", "meta": {**SNAKE["meta"], "tenant": "meta wins"}}
    event = mapping.to_event(record, **_columns(mapping, record))
    assert event.data == {"total": 12}
    assert event.metadata == {
        "correlation_id": "c-1",
        "causation_id": "e-0",
        "user": "ann",
        "tenant": "meta wins",
    }
    assert (event.correlation_id, event.causation_id) == ("c-1", "e-0")
    assert (event.key, event.pos, event.type, event.version) == (4, 4, "Placed", 3)


def test_unmapped_data_is_the_rest_of_the_record_and_extras_go_to_metadata() -> None:
    flat = {"id": "1", "type": "Deposited", "stream": "acc", "amount": 5, "currency": "EUR"}
    mapping = FieldMapping.detect([flat])
    assert mapping.paths["data"] is None
    event = mapping.to_event(flat, **_columns(mapping, flat))
    assert event.data == {"amount": 5, "currency": "EUR"}
    assert event.metadata == {}
    camel = FieldMapping.detect([CAMEL])
    event = camel.to_event(CAMEL, **_columns(camel, CAMEL))
    assert event.data == {"total": 12}
    assert event.metadata == {"tenant": "acme"}


def test_scalar_metadata_and_schema_version() -> None:
    record = {"type": "A", "meta": "just text", "schemaVersion": "2"}
    mapping = FieldMapping.detect([record])
    assert mapping.paths["schema_version"] == "schemaVersion"
    event = mapping.to_event(record, **_columns(mapping, record))
    assert event.metadata == {"value": "just text"}
    assert event.schema_version == 2
    odd = mapping.to_event({**record, "schemaVersion": "v2"}, **_columns(mapping, record))
    assert odd.schema_version is None


def test_cloudevents_preset() -> None:
    mapping = FieldMapping.cloudevents()
    structured = {
        "specversion": "1.0",
        "id": "9",
        "source": "/orders",
        "type": "order.placed",
        "subject": "order-7",
        "time": "2024-03-01T12:00:00Z",
        "datacontenttype": "application/json",
        "correlationid": "c-1",
        "causationid": "e-0",
        "sequence": "42",
        "traceparent": None,
        "data": {"total": 12},
    }
    assert mapping.extract(structured) == (
        "9",
        "order-7",
        "order.placed",
        "42",
        "2024-03-01T12:00:00Z",
        None,
    )
    event = mapping.to_event(structured, **_columns(mapping, structured))
    assert event.data == {"total": 12}
    assert event.metadata == {
        "specversion": "1.0",
        "source": "/orders",
        "subject": "order-7",
        "datacontenttype": "application/json",
        "correlationid": "c-1",
        "causationid": "e-0",
        "sequence": "42",
    }
    assert (event.correlation_id, event.causation_id) == ("c-1", "e-0")
    no_subject = {k: v for k, v in structured.items() if k != "subject"}
    assert mapping.extract(no_subject)[1] == "/orders"
    binary = {**no_subject, "data_base64": "AAE=", "data": None}
    event = mapping.to_event(binary, **_columns(mapping, binary))
    assert event.data == "AAE=" and event.metadata["data_base64"] is True


def test_normalisers() -> None:
    assert normalise_id("x", 3) == "x"
    assert normalise_id("", 3) == normalise_id(None, 3) == f"{DERIVED_ID_PREFIX}3"
    assert normalise_id(17, 3) == "17"
    assert normalise_id({"a": 1}, 3) == '{"a":1}'
    assert normalise_name(None, NO_STREAM) == NO_STREAM
    assert normalise_name("", NO_STREAM) == NO_STREAM
    assert normalise_name(7, None) == "7"
    assert normalise_name(7.0, None) == "7"
    assert normalise_name(True, None) is None
    assert normalise_name({"a": 1}, None) is None
    assert normalise_int("12") == 12 and normalise_int(3.0) == 3 and normalise_int(None) is None
    for bad in ("x", 1.5, True, [1]):
        with pytest.raises(ValueError, match="not an integer"):
            normalise_int(bad)


def _columns(mapping: FieldMapping, record: dict[str, Any], pos: int = 4) -> dict[str, Any]:
    """What the import would have stored as the record's column values."""
    event_id, stream, type_, version, _recorded, _processed = mapping.extract(record)
    return {
        "key": pos,
        "pos": pos,
        "event_id": normalise_id(event_id, pos),
        "stream": normalise_name(stream, NO_STREAM) or NO_STREAM,
        "type": normalise_name(type_, None) or "?",
        "version": normalise_int(version) if version is not None else None,
        "recorded_us": None,
        "processed_us": None,
    }
