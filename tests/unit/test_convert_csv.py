"""CSV exports (written with Python's csv.writer: quoted fields with separators, quotes and
line breaks, CRLF ends, a UTF-8 byte order mark) converted to canonical JSON Lines, then
imported with the real importer."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from app.session import open_session
from models.converters.base import ConversionCancelled
from models.converters.csvlog import CONVERTER, CsvConverter
from models.event import Event, datetime_to_us
from models.generator import generate
from models.mapping import DERIVED_ID_PREFIX, NO_STREAM
from models.problems import InputError, Severity

BOM = "\ufeff"


def write_csv(
    path: Path, rows: list[list[str]], *, delimiter: str = ",", bom: bool = True
) -> list[tuple[int, int]]:
    """Write ``rows`` (the header first) as csv.writer does; return where each row starts
    (1-based physical line, byte offset), measured on the text as it is written."""
    text = io.StringIO()
    writer = csv.writer(text, delimiter=delimiter)
    places: list[tuple[int, int]] = []
    prefix = BOM if bom else ""
    for row in rows:
        so_far = prefix + text.getvalue()
        places.append((1 + so_far.count("\n"), len(so_far.encode())))
        writer.writerow(row)
    path.write_bytes((prefix + text.getvalue()).encode())
    return places


def csv_sample() -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["id", "stream", "type", "data"])
    writer.writerow(["e1", "acc-1", "Opened", json.dumps({"owner": 'Ann, "A"'})])
    return text.getvalue().encode()


def convert(path: Path, converter: CsvConverter = CONVERTER, strict: bool = False) -> Any:
    out = io.BytesIO()
    result = converter.convert(path, out, strict=strict, progress=None)
    return out.getvalue(), result


def import_converted(tmp_path: Path, converted: bytes) -> tuple[list[Event], Any]:
    log = tmp_path / "x.jsonl"
    log.write_bytes(converted)
    session = open_session(log, workspace=tmp_path / "ws.sqlite")
    try:
        return list(session.log.iter_events()), session.problems
    finally:
        session.close()


def us(text: str) -> int:
    return datetime_to_us(datetime.fromisoformat(text.replace("Z", "+00:00")))


def test_an_export_with_bom_quoted_newlines_and_json_columns(tmp_path: Path) -> None:
    payload = json.dumps({"owner": "Zoë", "address": "1 Rue Neuve, Lyon"}, indent=2)
    rows = [
        ["event_id", "aggregate_id", "event_type", "version", "recorded_at", "payload",
         "metadata", "correlation_id", "note"],
        ["e1", "acc-1", "Opened", "1", "2024-03-01T12:00:00.123456Z", payload,
         '{"source": "crm"}', "c-1", 'multi\nline "note"'],
        ["e2", "acc-1", "Deposited", "2", "2024-03-01T13:00:00+01:00", '{"amount": 5}',
         "", "c-1", ""],
        ["", "acc-2", "Opened", "", "1709294400", '{"owner": "Ada; the first"}', "", "", "x"],
        ["e4", "", "Pinged", "", "", "", "", "", ""],
    ]  # fmt: skip
    source = tmp_path / "export.csv"
    write_csv(source, rows)
    assert source.read_bytes().startswith(b"\xef\xbb\xbf")
    converted, result = convert(source)
    assert (result.records, result.skipped, result.problems) == (4, 0, [])
    assert any("metadata.csv" in note for note in result.notes)
    events, problems = import_converted(tmp_path, converted)
    assert problems == []
    assert [(e.stream, e.type, e.version) for e in events] == [
        ("acc-1", "Opened", 1),
        ("acc-1", "Deposited", 2),
        ("acc-2", "Opened", None),
        (NO_STREAM, "Pinged", None),
    ]
    one, two, three, four = events
    assert one.event_id == "e1" and two.event_id == "e2"
    assert three.event_id == f"{DERIVED_ID_PREFIX}2"  # an empty id: derived by the importer
    assert one.data == json.loads(payload)
    assert one.metadata == {"source": "crm", "csv": {"note": 'multi\nline "note"'},
                            "correlation_id": "c-1"}  # fmt: skip
    assert one.correlation_id == "c-1"
    assert one.recorded_us == us("2024-03-01T12:00:00.123456Z")
    assert two.recorded_us == us("2024-03-01T12:00:00Z")
    assert three.recorded_us == 1_709_294_400 * 1_000_000
    assert three.data == {"owner": "Ada; the first"}
    assert (four.data, four.recorded_us) == (None, None)


@pytest.mark.parametrize(("delimiter", "name"), [(";", "ledger.txt"), ("\t", "ledger.tsv")])
def test_separators_are_detected_and_loose_columns_become_data(
    tmp_path: Path, delimiter: str, name: str
) -> None:
    rows = [
        ["Id", "Stream", "Event Type", "amount", "comment"],
        ["e1", "acc-1", "Deposited", "5", "a, b; c\td"],
        ["e2", "acc-1", "Withdrawn", "2", ""],
    ]
    source = tmp_path / name
    write_csv(source, rows, delimiter=delimiter, bom=False)
    converted, result = convert(source)
    assert (result.records, result.skipped) == (2, 0)
    lines = [orjson.loads(x) for x in converted.splitlines()]
    assert [x["type"] for x in lines] == ["Deposited", "Withdrawn"]
    assert lines[0]["data"] == {"amount": "5", "comment": "a, b; c\td"}  # strings, as written
    assert lines[0]["metadata"] == {}


def test_an_explicit_mapping_wins_over_the_guesses(tmp_path: Path) -> None:
    rows = [
        ["type", "Kind", "Account", "When", "Body", "Ref"],
        ["ignored", "Opened", "acc-9", "2024-03-01 12:00:00", '{"a": 1}', "r-1"],
    ]
    source = tmp_path / "mapped.csv"
    write_csv(source, rows)
    converter = CsvConverter(
        {"type": "kind", "stream": "Account", "recorded_at": "When", "data": "Body", "id": "Ref"}
    )
    converted, _ = convert(source, converter)
    events, _ = import_converted(tmp_path, converted)
    (event,) = events
    assert (event.event_id, event.stream, event.type) == ("r-1", "acc-9", "Opened")
    assert event.recorded_us == us("2024-03-01T12:00:00Z")
    assert event.data == {"a": 1}
    assert event.metadata == {"csv": {"type": "ignored"}}
    with pytest.raises(ValueError, match="unknown field 'kind'"):
        CsvConverter({"kind": "Kind"})
    with pytest.raises(InputError, match="no such column"):
        convert(source, CsvConverter({"type": "Category"}))


def test_bad_rows_are_reported_at_the_line_and_byte_where_they_start(tmp_path: Path) -> None:
    header = ["id", "stream", "type", "version", "timestamp", "data"]
    rows = [
        header,
        ["e1", "s", "A", "1", "2024-03-01T12:00:00Z", '{\n  "multi": "line"\n}'],
        ["e2", "s", "", "2", "2024-03-01T12:00:01Z", "{}"],  # no type
        ["e3", "s", "B", "two", "2024-03-01T12:00:02Z", "{}"],  # bad version
        ["e4", "s", "B", "3", "noon", "{}"],  # bad time
        ["e5", "s", "B", "4", "2024-03-01T12:00:04Z", "{not json\n}"],  # bad payload
        ["e6", "s", "B", "5"],  # too few fields
        ["e7", "s", "C", "6", "2024-03-01T12:00:06Z", '"text"'],
    ]
    source = tmp_path / "bad.csv"
    places = write_csv(source, rows)
    tail = b'e8,s,D,7,2024-03-01T12:00:07Z,"{\n  ""open'  # a last row cut inside quotes
    with source.open("ab") as fh:
        fh.write(tail)
    cut = (places[-1][0] + 1, source.stat().st_size - len(tail))
    converted, result = convert(source)
    assert result.records == 2 and result.records + result.skipped == len(rows) - 1 + 1
    found = [(p.line, p.offset) for p in result.problems]
    assert found == [places[i] for i in (2, 3, 4, 5, 6)] + [cut]
    assert all(p.severity is Severity.ERROR and p.file == str(source) for p in result.problems)
    reasons = [p.reason for p in result.problems]
    assert "type column 'type' is empty" in reasons[0]
    assert "'two' is not an integer version" in reasons[1]
    assert "column 'timestamp'" in reasons[2] and "not a timestamp" in reasons[2]
    assert "column 'data' must hold JSON" in reasons[3]
    assert "has 4 field(s) but the header has 6" in reasons[4]
    assert "ends inside a quoted field" in reasons[5]
    assert result.problems[0].excerpt == "e2,s,,2,2024-03-01T12:00:01Z,{}"
    assert [orjson.loads(x)["data"] for x in converted.splitlines()] == [
        {"multi": "line"},
        "text",
    ]
    with pytest.raises(InputError) as raised:
        convert(source, strict=True)
    assert [(p.line, p.offset) for p in raised.value.problems] == [places[2]]


def test_invalid_utf8_no_type_column_and_progress(tmp_path: Path) -> None:
    source = tmp_path / "latin.csv"
    source.write_bytes(b"id,type,data\r\ne1,Caf\xe9,{}\r\ne2,Tea,{}\r\n")
    converted, result = convert(source)
    assert result.records == 2
    assert [(p.line, p.offset, p.severity) for p in result.problems] == [
        (2, len(b"id,type,data\r\n"), Severity.WARNING)
    ]
    assert orjson.loads(converted.splitlines()[0])["type"] == "Caf\ufffd"

    untyped = tmp_path / "untyped.csv"
    untyped.write_text("id,stream,kind\ne1,s,A\n")
    with pytest.raises(InputError, match="no column for the event type"):
        convert(untyped)

    many = tmp_path / "many.csv"
    write_csv(many, [["id", "type"]] + [[f"e{i}", "T"] for i in range(9000)])
    calls: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> bool:
        calls.append((done, total))
        return True

    result = CONVERTER.convert(many, io.BytesIO(), strict=False, progress=progress)
    assert result.records == 9000
    size = many.stat().st_size
    assert len(calls) >= 3 and all(total == size for _, total in calls)
    assert calls[-1] == (size, size)
    with pytest.raises(ConversionCancelled):
        CONVERTER.convert(many, io.BytesIO(), strict=False, progress=lambda d, t: False)


def test_sniff_claims_csv_only(tmp_path: Path) -> None:
    from tests.unit.test_convert_eventstore import append_sample, page_sample
    from tests.unit.test_convert_kafka import sample_dump

    assert CONVERTER.sniff(tmp_path / "x.csv", b"anything,at,all\n1,2,3\n")
    assert CONVERTER.sniff(tmp_path / "x.TSV.gz", b"")
    assert CONVERTER.sniff(tmp_path / "export.txt", csv_sample())
    assert CONVERTER.sniff(tmp_path / "export.txt", b"id;EventType;data\ne1;A;{}\n")
    assert not CONVERTER.sniff(tmp_path / "export.txt", b"id,kind,data\ne1,A,{}\n")
    assert CsvConverter({"type": "kind"}).sniff(tmp_path / "e.txt", b"id,kind,data\ne1,A,{}\n")
    jsonl = tmp_path / "shop.jsonl"
    generate(jsonl, events=600)
    cloudevents = tmp_path / "shop.ce.jsonl"
    generate(cloudevents, events=600, fmt="cloudevents")
    others = {
        "rewind jsonl": jsonl.read_bytes()[:65_536],
        "cloudevents": cloudevents.read_bytes()[:65_536],
        "kcat": sample_dump(),
        "eventstore page": page_sample(),
        "eventstore append": append_sample(),
        "sqlite": b"SQLite format 3\x00" + b"\x00" * 84 + b"CREATE TABLE t(id, type)\n",
    }
    for name, head in others.items():
        assert not CONVERTER.sniff(tmp_path / "x.log", head), name
