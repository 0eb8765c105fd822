"""EventStoreDB / KurrentDB JSON converted to canonical JSON Lines, then imported for real.

EventStoreDB is not on PyPI: the stream pages are built member by member as its HTTP API
writes them with ``?embed=body`` (Convert.ToEntry / FeedElement, serialised by Newtonsoft:
entry members eventId, eventType, eventNumber, data, metaData, streamId, isJson, isMetaData,
isLinkMetaData, positionEventNumber, positionStreamId, then title, id, updated, author,
summary, links; null members left out; 20 entries a page, newest first), and the append
format as ``application/vnd.eventstore.events+json`` describes it.
"""

from __future__ import annotations

import io
import json
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from app.session import open_session
from models.converters.base import ConversionCancelled
from models.converters.eventstore import CONVERTER
from models.event import Event, datetime_to_us
from models.generator import generate
from models.problems import InputError, Severity

BASE = "http://127.0.0.1:2113"
T0 = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def xml_time(at: datetime) -> str:
    """XmlConvert.ToString(dt, Utc): fraction digits without trailing zeros."""
    text = at.strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "Z"


def event_uuid(stream: str, number: int) -> str:
    return f"{zlib.crc32(stream.encode()):08x}-0000-4000-8000-{number:012d}"


def atom_entry(
    stream: str,
    number: int,
    event_type: str,
    body: Any,
    at: datetime,
    *,
    metadata: dict[str, Any] | None = None,
    is_json: bool = True,
    position: tuple[str, int] | None = None,
) -> dict[str, Any]:
    """One entry of a stream page read with ?embed=body."""
    entry: dict[str, Any] = {
        "eventId": event_uuid(stream, number),
        "eventType": event_type,
        "eventNumber": number,
    }
    if is_json:
        entry["data"] = json.dumps(body, indent=2) if not isinstance(body, str) else body
    if metadata is not None:
        entry["metaData"] = json.dumps(metadata)
    position_stream, position_number = position or (stream, number)
    entry |= {
        "streamId": stream,
        "isJson": is_json,
        "isMetaData": metadata is not None,
        "isLinkMetaData": False,
        "positionEventNumber": position_number,
        "positionStreamId": position_stream,
        "title": f"{number}@{stream}",
        "id": f"{BASE}/streams/{stream}/{number}",
        "updated": xml_time(at),
        "author": {"name": "EventStore"},
        "summary": event_type,
        "links": [
            {"uri": f"{BASE}/streams/{stream}/{number}", "relation": "edit"},
            {"uri": f"{BASE}/streams/{stream}/{number}", "relation": "alternate"},
        ],
    }
    return entry


def atom_page(stream: str, entries: list[dict[str, Any]], *, head: bool, last: int) -> dict:
    """A backward stream page around ``entries`` (already newest first)."""
    self_url = f"{BASE}/streams/{stream}"
    page: dict[str, Any] = {
        "title": f"Event stream '{stream}'",
        "id": self_url,
        "updated": entries[0]["updated"] if entries else "0001-01-01T00:00:00Z",
        "streamId": stream,
        "author": {"name": "EventStore"},
        "headOfStream": head,
        "selfUrl": self_url,
    }
    if head:
        page["eTag"] = f"{last};248368668"
    page["links"] = [
        {"uri": self_url, "relation": "self"},
        {"uri": f"{self_url}/head/backward/20", "relation": "first"},
        {"uri": f"{self_url}/{last + 1}/forward/20", "relation": "previous"},
        {"uri": f"{self_url}/metadata", "relation": "metadata"},
    ]
    page["entries"] = entries
    return page


def shop_pages() -> list[dict[str, Any]]:
    """account-1: 25 events (two pages, read backward from the head); account-2: 3 events,
    one of them not JSON (no body in the page). Times interleave the two streams."""
    one = [
        atom_entry(
            "account-1",
            n,
            "Opened" if n == 0 else "Deposited",
            {"owner": "Zoë"} if n == 0 else {"amount": n},
            T0 + timedelta(seconds=2 * n),
            metadata={"$correlationId": f"corr-{n}", "$causationId": f"cause-{n}"},
        )
        for n in range(25)
    ]
    two = [
        atom_entry("account-2", 0, "Opened", {"owner": "Ada"}, T0 + timedelta(seconds=1)),
        atom_entry("account-2", 1, "Scanned", None, T0 + timedelta(seconds=3), is_json=False),
        atom_entry("account-2", 2, "Deposited", {"amount": 7}, T0 + timedelta(seconds=5)),
    ]
    return [
        atom_page("account-1", one[::-1][:20], head=True, last=24),
        atom_page("account-1", one[::-1][20:], head=False, last=24),
        atom_page("account-2", two[::-1], head=True, last=2),
    ]


def write_pages(path: Path, pages: list[dict[str, Any]], layout: str) -> None:
    if layout == "pretty":  # pages saved one after another (curl >> file)
        path.write_text("\n".join(json.dumps(p, indent=2) for p in pages) + "\n")
    elif layout == "lines":
        path.write_text("".join(json.dumps(p) + "\n" for p in pages))
    else:
        path.write_text(json.dumps(pages, indent=2))


def page_sample() -> bytes:
    return json.dumps(shop_pages()[0], indent=2).encode()


def append_events() -> list[dict[str, Any]]:
    return [
        {
            "eventId": "fbf4a1a1-b4a3-4dfe-a01f-ec52c34e16e4",
            "eventType": "Opened",
            "data": {"owner": "Ann"},
            "metadata": {"$correlationId": "c-9"},
        },
        {
            "eventId": "0f9fad5b-d9cb-469f-a165-70867728950e",
            "eventType": "Deposited",
            "data": {"amount": 3},
        },
    ]


def append_sample() -> bytes:
    return json.dumps(append_events(), indent=2).encode()


def convert(path: Path, strict: bool = False) -> tuple[bytes, Any]:
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


@pytest.mark.parametrize("layout", ["pretty", "lines", "array"])
def test_pages_import_oldest_first_with_versions_times_and_metadata(
    tmp_path: Path, layout: str
) -> None:
    pages = shop_pages()
    source = tmp_path / "pages.json"
    write_pages(source, pages, layout)
    converted, result = convert(source)
    entries = [e for p in pages for e in p["entries"]]
    assert (result.records, result.skipped) == (len(entries), 0)
    assert result.problems == []
    assert any("no body" in note for note in result.notes)
    events, problems = import_converted(tmp_path, converted)
    assert problems == []
    expected = sorted(entries, key=lambda e: (e["updated"], e["streamId"], e["eventNumber"]))
    assert [(e.stream, e.version) for e in events] == [
        (x["streamId"], x["eventNumber"] + 1) for x in expected
    ]
    for event, entry in zip(events, expected, strict=True):
        assert event.event_id == entry["eventId"]
        assert event.type == entry["eventType"]
        stamp = datetime.fromisoformat(entry["updated"].replace("Z", "+00:00"))
        assert event.recorded_us == datetime_to_us(stamp)
        assert event.metadata["eventstore"]["eventNumber"] == entry["eventNumber"]
        assert event.metadata["eventstore"]["isJson"] is entry["isJson"]
        if entry["isJson"]:
            assert event.data == json.loads(entry["data"])
        else:
            assert event.data is None
    first = next(e for e in events if e.stream == "account-1")
    assert (first.type, first.version, first.data) == ("Opened", 1, {"owner": "Zoë"})
    assert (first.correlation_id, first.causation_id) == ("corr-0", "cause-0")
    assert [e.version for e in events if e.stream == "account-1"] == list(range(1, 26))


def test_a_category_projection_page_orders_by_position(tmp_path: Path) -> None:
    """$ce-account links resolved to their events: each event keeps its own stream and
    version; the order is the projection stream's; the position stays in the metadata."""
    links = [("account-2", 0), ("account-1", 0), ("account-1", 1), ("account-2", 1)]
    entries = [
        atom_entry(
            stream,
            number,
            "Opened" if number == 0 else "Deposited",
            {"n": k},
            T0 + timedelta(seconds=k),
            position=("$ce-account", k),
        )
        for k, (stream, number) in enumerate(links)
    ]
    source = tmp_path / "ce.json"
    source.write_text(
        json.dumps(atom_page("$ce-account", entries[::-1], head=True, last=3), indent=2)
    )
    converted, result = convert(source)
    assert result.records == 4
    events, _ = import_converted(tmp_path, converted)
    assert [(e.stream, e.version) for e in events] == [(s, n + 1) for s, n in links]
    assert [e.metadata["eventstore"]["positionEventNumber"] for e in events] == [0, 1, 2, 3]
    assert {e.metadata["eventstore"]["positionStreamId"] for e in events} == {"$ce-account"}


def test_the_append_format_takes_its_stream_from_the_file_name(tmp_path: Path) -> None:
    source = tmp_path / "account-7.json"
    body = [*append_events(), {"eventId": "x", "data": {}}, 42]
    source.write_text(json.dumps(body, indent=2))
    text = source.read_text()
    converted, result = convert(source)
    assert (result.records, result.skipped) == (2, 2)
    assert any("account-7" in note for note in result.notes)
    # The bad elements are reported where they start in the file.
    bad_object = text.index('{\n    "eventId": "x"')
    bad_scalar = text.index("42")
    assert [(p.line, p.offset) for p in result.problems] == [
        (text.count("\n", 0, bad_object) + 1, bad_object),
        (text.count("\n", 0, bad_scalar) + 1, bad_scalar),
    ]
    assert "no eventType" in result.problems[0].reason
    events, problems = import_converted(tmp_path, converted)
    assert problems == []
    assert [(e.event_id, e.stream, e.type, e.version) for e in events] == [
        (x["eventId"], "account-7", x["eventType"], None) for x in append_events()
    ]
    assert events[0].data == {"owner": "Ann"}
    assert events[0].correlation_id == "c-9"
    assert events[1].metadata == {}


def test_bad_entries_are_located_inside_their_page(tmp_path: Path) -> None:
    at = T0 + timedelta(minutes=1)
    good = atom_entry("s-1", 0, "Opened", {"a": 1}, at)
    no_body = {k: v for k, v in atom_entry("s-1", 1, "X", {}, at).items() if k in (
        "title", "id", "updated", "author", "summary", "links"
    )}  # fmt: skip
    dangling = dict(no_body, summary="$>", title="7@gone")
    not_json = atom_entry("s-1", 2, "Noted", "this is not { json", at)
    bad_time = dict(atom_entry("s-1", 3, "Moved", {}, at), updated="yesterday")
    bad_number = dict(atom_entry("s-1", 4, "Moved", {}, at), eventNumber=-1)
    page = atom_page(
        "s-1", [bad_number, bad_time, not_json, dangling, no_body, good], head=True, last=4
    )
    source = tmp_path / "bad.json"
    text = json.dumps(page, indent=2) + "\n" + json.dumps(page, indent=2)[:300]
    source.write_text(text)
    lines = text.split("\n")
    opened = lines.index('  "entries": [')
    closed = lines.index("  ]", opened)
    entry_starts = [i for i in range(opened, closed) if lines[i] == "    {"]
    places = [(i + 1, sum(len(x) + 1 for x in lines[:i]) + 4) for i in entry_starts]
    converted, result = convert(source)
    assert (result.records, result.skipped) == (2, 5)  # the cut page counts as one
    found = [(p.line, p.offset, p.severity) for p in result.problems]
    second_page = text.index("{", len(json.dumps(page, indent=2)))
    assert found == [
        (*places[0], Severity.ERROR),
        (*places[1], Severity.ERROR),
        (*places[2], Severity.WARNING),
        (*places[3], Severity.ERROR),
        (*places[4], Severity.ERROR),
        (text.count("\n", 0, second_page) + 1, second_page, Severity.ERROR),
    ]
    reasons = [p.reason for p in result.problems]
    assert "'eventNumber' must be a non-negative integer" in reasons[0]
    assert "'updated'" in reasons[1] and "not a timestamp" in reasons[1]
    assert "not valid JSON; it is kept as text" in reasons[2]
    assert "no longer exists" in reasons[3]
    assert "?embed=body" in reasons[4]
    assert reasons[5].startswith("truncated last page")
    data = [orjson.loads(x)["data"] for x in converted.splitlines()]
    assert data == [{"a": 1}, "this is not { json"]

    with pytest.raises(InputError) as raised:
        CONVERTER.convert(source, io.BytesIO(), strict=True, progress=None)
    assert [(p.line, p.offset) for p in raised.value.problems] == [places[0]]
    with pytest.raises(ConversionCancelled):
        CONVERTER.convert(source, io.BytesIO(), strict=False, progress=lambda d, t: False)


def test_not_eventstore_json_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    source = tmp_path / "log.json"
    source.write_text('[{"id": "e1", "stream": "s", "type": "A", "data": {}}]')
    with pytest.raises(InputError, match="not EventStoreDB JSON"):
        CONVERTER.convert(source, io.BytesIO(), strict=False, progress=None)


def test_sniff_claims_eventstore_json_only(tmp_path: Path) -> None:
    from tests.unit.test_convert_csv import csv_sample
    from tests.unit.test_convert_kafka import sample_dump

    pages = shop_pages()
    for layout in ("pretty", "lines", "array"):
        source = tmp_path / f"{layout}.txt"
        write_pages(source, pages, layout)
        assert CONVERTER.sniff(source, source.read_bytes()[:65_536]), layout
    assert CONVERTER.sniff(tmp_path / "a", append_sample())
    assert CONVERTER.sniff(tmp_path / "a", b"\xef\xbb\xbf" + page_sample())
    big = atom_page(
        "big", [atom_entry("big", 0, "Blob", {"x": "y" * 80_000}, T0)], head=True, last=0
    )
    assert CONVERTER.sniff(tmp_path / "a", json.dumps(big, indent=2).encode()[:65_536])
    jsonl = tmp_path / "shop.jsonl"
    generate(jsonl, events=600)
    cloudevents = tmp_path / "shop.ce.jsonl"
    generate(cloudevents, events=600, fmt="cloudevents")
    as_array = b"[" + b",".join(jsonl.read_bytes().splitlines()[:50]) + b"]"
    others = {
        "rewind jsonl": jsonl.read_bytes()[:65_536],
        "rewind json array": as_array,
        "cloudevents": cloudevents.read_bytes()[:65_536],
        "kcat": sample_dump(),
        "csv": csv_sample(),
        "generic events with eventId": b'[{"eventId": "1", "eventType": "A", "time": 5}]',
    }
    for name, head in others.items():
        assert not CONVERTER.sniff(tmp_path / "x.json", head), name
