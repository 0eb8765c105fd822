"""The fast decoder gives exactly what FieldMapping.to_event gives."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from models.decode import make_decoder
from models.generator import iter_events, to_cloudevent
from models.mapping import FieldMapping

ODD = [
    {"id": 1, "stream": "s", "type": "T", "data": {"a": 1}, "metadata": {"correlation_id": 7}},
    {"id": "x", "stream": "s", "type": "T", "data": [1, 2], "extra": True, "metadata": None},
    {"id": "y", "stream": "s", "type": "T", "data": None, "metadata": "text", "more": {"b": 2}},
    {"id": "z", "stream": "s", "type": "T", "payload": {"p": 1}, "schema_version": "3"},
    {"id": "w", "stream": "s", "type": "T", "data": {}, "schema_version": "bad"},
]


def _check(mapping: FieldMapping, records: list[dict[str, Any]]) -> None:
    fast = make_decoder(mapping)
    for pos, rec in enumerate(records):
        raw = orjson.dumps(rec)
        args = (pos, f"id{pos}", "stream", "Type", pos, 1_000 + pos, None)
        expected = mapping.to_event(
            orjson.loads(raw),
            key=pos,
            pos=pos,
            event_id=args[1],
            stream=args[2],
            type=args[3],
            version=args[4],
            recorded_us=args[5],
            processed_us=args[6],
        )
        assert fast(raw, *args) == expected


def test_generated_shop_records() -> None:
    records = list(iter_events(events=600, seed=3))
    _check(FieldMapping.detect(records[:50]), records)


@pytest.mark.parametrize("record", ODD)
def test_odd_records_and_mappings(record: dict[str, Any]) -> None:
    _check(FieldMapping.detect([record]), [record])
    _check(FieldMapping.detect([record]).with_overrides({"data": None}), [record])


def test_cloudevents_uses_the_reference_path() -> None:
    records = [to_cloudevent(r) for r in iter_events(events=600, seed=3)]
    _check(FieldMapping.cloudevents(), records)


def test_workspace_payloads_match_full_events(tmp_path) -> None:
    from app.session import open_session
    from models.generator import generate

    log = tmp_path / "shop.jsonl"
    generate(log, events=2500, seed=4)  # more than two chunks of 1,024
    session = open_session(log, workspace=str(tmp_path / "ws.sqlite"))
    try:
        slow = [(e.stream, e.type, e.version, e.data) for e in session.log.iter_events()]
        assert list(session.log.iter_payloads()) == slow
        assert list(session.log.iter_payloads(1000, 1100)) == slow[1000:1100]
    finally:
        session.close()


def test_events_at_reads_scattered_positions_like_event(tmp_path) -> None:
    from app.session import open_session
    from models.generator import generate

    log = tmp_path / "shop.jsonl"
    generate(log, events=3000, seed=6)
    session = open_session(log, workspace=str(tmp_path / "ws.sqlite"))
    try:
        wanted = [0, 5, 1023, 1024, 2047, 2999]
        assert session.log.events_at(wanted) == [session.log.event(p) for p in wanted]
        with pytest.raises(ValueError):
            session.log.events_at([5, 0])
    finally:
        session.close()
