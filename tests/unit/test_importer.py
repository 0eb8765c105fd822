"""The bulk import loop on real files: formats, columns, chunks, every kind of bad input with
its exact place, strict mode, cancelling and resuming a grown log."""

from __future__ import annotations

import gc
import gzip
import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

import models.importer as importer
from models.decode import loads_stored
from models.digest import content_digest
from models.event import datetime_to_us
from models.importer import (
    ImportResult,
    decode_record,
    event_at,
    run_import,
)
from models.log import NA
from models.mapping import DERIVED_ID_PREFIX, NO_STREAM, FieldMapping
from models.problems import InputError, Problem, Severity
from models.readers import Format
from models.readers.source import file_digest
from models.timeparse import parse_timestamp


class ListSink:
    """A real, minimal sink: keeps every chunk and problem in memory."""

    def __init__(self) -> None:
        self.chunks: list[tuple[int, list[bytes]]] = []
        self.problems: list[Problem] = []

    def add_chunk(self, first_pos: int, records: list[bytes]) -> None:
        self.chunks.append((first_pos, list(records)))

    def add_problem(self, problem: Problem) -> None:
        self.problems.append(problem)

    @property
    def records(self) -> list[bytes]:
        return [raw for _, chunk in self.chunks for raw in chunk]


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def offsets_of(lines: list[bytes], sep: bytes = b"\n", start: int = 0) -> list[int]:
    """Byte offset of each line when joined with ``sep``."""
    out = []
    offset = start
    for line in lines:
        out.append(offset)
        offset += len(line) + len(sep)
    return out


def imported(path: Path, **kwargs: Any) -> tuple[ImportResult, ListSink]:
    """Import and check what must always hold: the counts add up, the sink got one stored
    single-line record per imported event, the file was not touched, GC state restored."""
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    gc_was = gc.isenabled()
    sink = ListSink()
    result = run_import(path, sink=sink, **kwargs)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert gc.isenabled() == gc_was
    assert result.imported + result.skipped == result.records_read
    assert result.skipped == sum(p.severity == Severity.ERROR for p in sink.problems)
    assert result.warnings == sum(p.severity == Severity.WARNING for p in sink.problems)
    assert len(result.columns) == result.imported == len(sink.records)
    assert all(b"\n" not in raw and b"\r" not in raw for raw in sink.records)
    for raw in sink.records:
        assert type(loads_stored(raw)) is dict  # (orjson.loads, see there)
    return result, sink


def synthetic(n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"evt-{i}",
            "stream": f"acc-{(i * 7) % 13}",
            "type": ["Opened", "Deposited", "Withdrawn"][i % 3],
            "version": i // 13 + 1,
            "recorded_at": f"2024-03-01T12:{i // 60 % 60:02d}:{i % 60:02d}.{i:06d}Z",
            "data": {"amount": i, "note": "x" * (i % 17)},
            "metadata": {"correlation_id": f"c-{i // 3}", "causation_id": f"evt-{i - 1}"},
        }
        for i in range(n)
    ]


# --- formats and columns -------------------------------------------------------------------


def test_jsonl_columns_chunks_and_the_read_path(tmp_path: Path) -> None:
    records = synthetic(3000)
    lines = [orjson.dumps(r) for r in records]
    path = write(tmp_path / "log.jsonl", b"\n".join(lines) + b"\n")
    result, sink = imported(path, block_size=8192)  # many batches
    assert result.format == Format.JSONL and not result.compressed
    assert (result.records_read, result.skipped, result.warnings) == (3000, 0, 0)
    assert result.sha1 == file_digest(path)
    assert result.file_size == result.end_offset == path.stat().st_size
    assert result.end_line == 3001
    assert sink.records == lines
    # Chunks are aligned: full CHUNK_SIZE chunks, then the rest.
    assert [(first, len(c)) for first, c in sink.chunks] == [(0, 1024), (1024, 1024), (2048, 952)]
    columns = result.columns
    streams = list(dict.fromkeys(r["stream"] for r in records))
    assert columns.stream_names == streams
    assert columns.stream_codes.tolist() == [streams.index(r["stream"]) for r in records]
    assert columns.type_names == ["Opened", "Deposited", "Withdrawn"]
    assert columns.versions.tolist() == [r["version"] for r in records]
    assert columns.recorded_us.tolist() == [parse_timestamp(r["recorded_at"]) for r in records]
    assert columns.processed_us.tolist() == [NA] * 3000
    assert columns.event_ids.tolist() == [r["id"] for r in records]
    r = records[1234]
    event = decode_record(
        sink.records[1234],
        result.mapping,
        1234,
        1234,
        r["id"],
        r["stream"],
        r["type"],
        r["version"],
        parse_timestamp(r["recorded_at"]),
        None,
    )
    assert event.data == records[1234]["data"]
    assert event.metadata == records[1234]["metadata"]
    assert (event.correlation_id, event.causation_id) == ("c-411", "evt-1233")
    assert event == event_at(sink.records[1234], result.mapping, columns, 1234, 1234)


def test_content_decides_not_the_name(tmp_path: Path) -> None:
    body = b'{"id":"a","type":"T"}\n{"id":"b","type":"T"}\n'
    result, _ = imported(write(tmp_path / "export.txt", body))
    assert result.format == Format.JSONL and result.imported == 2
    result, sink = imported(write(tmp_path / "export.json", gzip.compress(body)))
    assert result.compressed and result.format == Format.JSONL
    assert sink.records == body.split(b"\n")[:2]
    array = b'[\n  {"id": "a", "type": "T"},\n  {"id": "b", "type": "T"}\n]\n'
    result, _ = imported(write(tmp_path / "events.jsonl", array))
    assert result.format == Format.JSON_ARRAY and result.imported == 2


def test_gzip_jsonl_offsets_are_decompressed_offsets(tmp_path: Path) -> None:
    lines = [b'{"id":"a","type":"T"}', b"oops", b'{"id":"b","type":"T"}']
    path = write(tmp_path / "log.jsonl.gz", gzip.compress(b"\n".join(lines) + b"\n"))
    result, sink = imported(path)
    (problem,) = sink.problems
    assert (problem.line, problem.offset) == (2, len(lines[0]) + 1)
    assert result.end_offset == sum(len(line) + 1 for line in lines)
    assert result.file_size == path.stat().st_size
    assert result.sha1 == file_digest(path)


def test_pretty_printed_array_is_stored_compact(tmp_path: Path) -> None:
    records = synthetic(50)
    text = json.dumps(records, indent=2).encode()
    result, sink = imported(write(tmp_path / "log.json", text), block_size=512)
    assert result.format == Format.JSON_ARRAY and result.imported == 50
    assert [orjson.loads(raw) for raw in sink.records] == records
    assert result.columns.event_ids.tolist() == [r["id"] for r in records]
    assert result.end_offset == text.rindex(b"}") + 1  # just after the last element


def test_bom_crlf_and_blank_lines(tmp_path: Path) -> None:
    lines = [b'{"id":"a","type":"T"}', b"", b"   ", b'{"id":"b","type":"T"}', b"nope", b""]
    path = write(tmp_path / "win.jsonl", b"\xef\xbb\xbf" + b"\r\n".join(lines))
    result, sink = imported(path)
    assert sink.records == [lines[0], lines[3]]
    assert (result.records_read, result.imported, result.skipped) == (3, 2, 1)
    (problem,) = sink.problems
    assert (problem.line, problem.offset) == (5, offsets_of(lines, b"\r\n", start=3)[4])
    assert problem.excerpt == "nope\\r"


def test_mapping_detection_and_explicit_override(tmp_path: Path) -> None:
    body = b'{"eventId":"a","aggregateId":7,"kind":"Opened","meta":{"corr":"c"}}\n'
    path = write(tmp_path / "log.jsonl", body)
    with pytest.raises(InputError, match=r"no member holds the event type.*aggregateId"):
        run_import(path, sink=ListSink())
    result, sink = imported(path, mapping={"type": "kind", "correlation_id": "meta.corr"})
    assert result.mapping.paths["event_id"] == "eventId"
    assert result.columns.stream_names == ["7"]
    event = event_at(sink.records[0], result.mapping, result.columns, 0, 0)
    assert (event.type, event.correlation_id, event.metadata) == ("Opened", "c", {"corr": "c"})
    again, _ = imported(path, mapping=FieldMapping.from_json(result.mapping.to_json()))
    assert again.mapping == result.mapping


def test_missing_ids_and_streams_and_odd_values(tmp_path: Path) -> None:
    lines = [
        b'{"type":"A"}',
        b'{"id":"","type":"A","stream":""}',
        b'{"id":42,"type":7,"stream":3.0,"version":"12"}',
        b'{"id":"x","type":"A","version":1.5,"recorded_at":true}',
    ]
    result, sink = imported(write(tmp_path / "log.jsonl", b"\n".join(lines) + b"\n"))
    columns = result.columns
    assert columns.event_ids.tolist() == [
        f"{DERIVED_ID_PREFIX}0",
        f"{DERIVED_ID_PREFIX}1",
        "42",
        "x",
    ]
    assert [columns.stream_names[c] for c in columns.stream_codes] == [
        NO_STREAM,
        NO_STREAM,
        "3",
        NO_STREAM,
    ]
    assert [columns.type_names[c] for c in columns.type_codes] == ["A", "A", "7", "A"]
    assert columns.versions.tolist() == [NA, NA, 12, NA]
    assert [(p.line, p.severity) for p in sink.problems] == [(4, Severity.WARNING)] * 2
    assert "version: 1.5 is not an integer" in sink.problems[0].reason
    assert "recorded_at: True is not a timestamp" in sink.problems[1].reason


# --- bad input -----------------------------------------------------------------------------


BAD_LINES = [
    b'{"id":"a","stream":"s","type":"T","version":1,"data":{"x":1}}',  # 1 fine
    b"",  # 2 blank: not a record
    b"this is not json",  # 3
    b"[1, 2]",  # 4 valid JSON, not an object
    b'{"id":"b","stream":"s","payload":{}}',  # 5 no type
    b'{"id":"c","stream":"s","type":{"name":"T"}}',  # 6 type is not text
    b'{"id":"d","stream":"s","type":"T","data":{"s":"caf\xe9"}}',  # 7 Latin-1 byte
    b'{"id":"e","stream":"s","type":"T","data":{"v":NaN,"w":-Infinity}}',  # 8 imported
    b'{"id":"f","stream":"s","type":"T","data":{"big":123456789012345678901234567890}}',  # 9
    b'{"id":"g","stream":"s","type":"T","recorded_at":"last tuesday","version":"v1"}',  # 10
    b'{"id":"h","stream":"s","type":"T","data":{"cut',  # 11 truncated, no newline
]


def test_every_bad_record_is_reported_where_it_is(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", b"\n".join(BAD_LINES))
    result, sink = imported(path)
    at = offsets_of(BAD_LINES)
    got = [(p.severity, p.line, p.offset) for p in sink.problems]
    assert got == [
        (Severity.ERROR, 3, at[2]),
        (Severity.ERROR, 4, at[3]),
        (Severity.ERROR, 5, at[4]),
        (Severity.ERROR, 6, at[5]),
        (Severity.ERROR, 7, at[6]),
        (Severity.WARNING, 8, at[7]),
        (Severity.WARNING, 8, at[7]),
        (Severity.WARNING, 9, at[8]),
        (Severity.WARNING, 10, at[9]),
        (Severity.WARNING, 10, at[9]),
        (Severity.ERROR, 11, at[10]),
    ]
    reasons = [p.reason for p in sink.problems]
    assert reasons[0].startswith("not valid JSON: ")
    assert "a JSON array where a JSON object was expected" in reasons[1]
    assert "no event type" in reasons[2] and "members present: id, stream, payload" in reasons[2]
    assert 'must be text, not {"name":"T"}' in reasons[3]
    bad_byte = at[6] + BAD_LINES[6].index(b"\xe9")
    assert f"invalid UTF-8 at byte {bad_byte}" in reasons[4] and "iconv" in reasons[4]
    assert reasons[5] == "NaN replaced by null (not valid JSON)"
    assert reasons[6] == "-Infinity replaced by null (not valid JSON)"
    assert "integer 123456789012345678901234567890 does not fit in 64 bits" in reasons[7]
    assert 'version: "v1" is not an integer' in reasons[8]  # fields in column order
    assert "recorded_at: 'last tuesday' is not a timestamp" in reasons[9]
    assert "the log may still be being written" in reasons[10]
    assert (result.records_read, result.imported, result.skipped, result.warnings) == (10, 4, 6, 5)
    assert sink.problems[0].excerpt == "this is not json"
    assert result.problems == sink.problems
    # The truncated last line is where a later import resumes.
    assert (result.end_offset, result.end_line) == (at[10], 11)
    stored = [orjson.loads(raw) for raw in sink.records]
    assert stored[1]["data"] == {"v": None, "w": None}  # NaN/Infinity: null
    assert stored[2]["data"] == {"big": "123456789012345678901234567890"}  # exact, as text
    assert sink.records[0] == BAD_LINES[0]  # untouched records are stored as they were


def test_integers_orjson_would_round_are_kept_exactly(tmp_path: Path) -> None:
    values = [2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**40, 2**53 + 1]
    record = {"id": "n", "type": "T", "data": {"v": values, "f": 1.5e300}}
    for name, text in (
        ("big.jsonl", json.dumps(record).encode() + b"\n"),
        ("big.json", json.dumps([record], indent=1).encode()),
    ):
        result, sink = imported(write(tmp_path / name, text))
        (event,) = [event_at(raw, result.mapping, result.columns, 0, 0) for raw in sink.records]
        assert event.data["v"] == [
            2**64 - 1,
            str(2**64),
            -(2**63),
            str(-(2**63) - 1),
            str(10**40),
            2**53 + 1,
        ]
        assert event.data["f"] == 1.5e300
        assert len(sink.problems) == 3
        assert all(
            p.severity == Severity.WARNING and p.line == 1 + (name == "big.json")
            for p in sink.problems
        )


def test_digit_runs_inside_strings_are_not_touched(tmp_path: Path) -> None:
    line = (
        b'{"id":"123456789012345678901234567890","type":"T",'
        b'"data":{"card":"4111111111111111111111"}}'
    )
    _result, sink = imported(write(tmp_path / "log.jsonl", line + b"\n"))
    assert sink.records == [line] and sink.problems == []


def test_record_size_limit(tmp_path: Path) -> None:
    huge = b'{"id":"big","type":"T","data":{"blob":"' + b"z" * (5 << 20) + b'"}}'
    small = b'{"id":"small","type":"T"}'
    other = b'{"id":"other","type":"T"}'
    path = write(tmp_path / "log.jsonl", small + b"\n" + huge + b"\n" + other + b"\n")
    result, sink = imported(path)  # a 5 MB line is fine by default
    assert result.imported == 3 and sink.records[1] == huge
    result, sink = imported(path, max_record_bytes=1 << 20, block_size=64 << 10)
    assert result.imported == 2 and result.skipped == 1
    (problem,) = sink.problems
    assert (problem.line, problem.offset) == (2, len(small) + 1)
    assert f"{len(huge):,} bytes is larger than the limit of 1,048,576" in problem.reason
    assert "max_record_bytes" in problem.reason


def test_empty_files(tmp_path: Path) -> None:
    for data in (b"", b"\n\n  \n", b"\xef\xbb\xbf"):
        result, sink = imported(write(tmp_path / "empty.jsonl", data))
        (problem,) = sink.problems
        assert problem.severity == Severity.WARNING and "the file is empty" in problem.reason
        assert (result.records_read, result.imported, len(result.columns)) == (0, 0, 0)
        assert result.sha1 == content_digest(data)
    result, sink = imported(write(tmp_path / "batch.json", b"[ ]\n"))
    assert result.format == Format.JSON_ARRAY and sink.problems == [] and result.imported == 0


def test_files_that_cannot_be_imported_raise_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        run_import(tmp_path / "nope.jsonl", sink=ListSink())
    with pytest.raises(InputError, match="not a JSON Lines or JSON array log"):
        run_import(write(tmp_path / "data.csv", b"id,type\n1,A\n"), sink=ListSink())
    with pytest.raises(InputError, match="unknown format 'xml'"):
        run_import(write(tmp_path / "x.jsonl", b'{"type":"A"}\n'), sink=ListSink(), fmt="xml")
    if os.geteuid() != 0:  # root reads anything
        locked = write(tmp_path / "locked.jsonl", b'{"type":"A"}\n')
        locked.chmod(0)
        with pytest.raises(InputError, match="permission denied"):
            run_import(locked, sink=ListSink())


def test_array_element_problems_name_line_and_offset(tmp_path: Path) -> None:
    text = b'[\n  {"id":"a","type":"T"},\n  "just text",\n  {"id":"b"},\n  {"id":"c","type":"T"}\n]'
    result, sink = imported(write(tmp_path / "log.json", text))
    assert [(p.line, p.offset) for p in sink.problems] == [
        (3, text.index(b'"just text"')),
        (4, text.index(b'{"id":"b"}')),
    ]
    assert "a JSON string where a JSON object was expected" in sink.problems[0].reason
    assert result.imported == 2 and result.columns.event_ids.tolist() == ["a", "c"]


def test_strict_mode_stops_at_the_first_error_not_at_warnings(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", b"\n".join(BAD_LINES))
    with pytest.raises(InputError) as caught:
        run_import(path, sink=ListSink(), strict=True)
    (problem,) = caught.value.problems
    assert (problem.line, problem.offset) == (3, offsets_of(BAD_LINES)[2])
    assert str(caught.value).startswith(f"{path}:3 (byte {problem.offset}): not valid JSON")
    assert gc.isenabled()
    warnings_only = write(tmp_path / "warn.jsonl", b"\n".join(BAD_LINES[7:10]) + b"\n")
    result, _ = imported(warnings_only, strict=True)
    assert result.imported == 3 and result.warnings == 5


def test_unterminated_last_line_that_is_complete_json_is_imported(tmp_path: Path) -> None:
    body = b'{"id":"a","type":"T"}\n{"id":"b","type":"T"}'
    result, _ = imported(write(tmp_path / "log.jsonl", body))
    assert result.imported == 2 and (result.end_offset, result.end_line) == (len(body), 2)


# --- duplicates ----------------------------------------------------------------------------


def test_duplicate_ids_exact_redelivery_and_collision(tmp_path: Path) -> None:
    a = b'{"id":"a","type":"Paid","data":{"eur":5}}'
    lines = [a, b'{"id":"b","type":"Paid"}', a, b'{"id":"a","type":"Paid","data":{"eur":6}}']
    result, sink = imported(write(tmp_path / "log.jsonl", b"\n".join(lines) + b"\n"))
    assert result.imported == 4 and result.columns.event_ids.tolist() == ["a", "b", "a", "a"]
    at = offsets_of(lines)
    assert [(p.severity, p.line, p.offset) for p in sink.problems] == [
        (Severity.WARNING, 3, at[2]),
        (Severity.WARNING, 4, at[3]),
    ]
    assert "record at position 0 (line 1) with the same bytes: an exact re-delivery" in (
        sink.problems[0].reason
    )
    assert "position 0 (line 1) with a different body: an id collision" in sink.problems[1].reason


def test_duplicates_of_records_far_back_are_compared_after_reading_them_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "DUPLICATE_WINDOW", 10)
    first = [b'{"id":"x%d","type":"T","n":%d}' % (i, i) for i in range(60)]
    again = [first[3], b'{"id":"x4","type":"T","n":-4}', first[50]]
    lines = first + again
    for name, data, kwargs in (
        ("far.jsonl", b"\n".join(lines) + b"\n", {"block_size": 256}),
        ("far.jsonl.gz", gzip.compress(b"\n".join(lines) + b"\n"), {"block_size": 256}),
        ("far.json", b"[" + b",\n".join(lines) + b"]", {"block_size": 256}),
    ):
        _result, sink = imported(write(tmp_path / name, data), **kwargs)
        # Far ones are reported after the import, so the sink may get them out of order.
        reasons = sorted((p.line, p.reason) for p in sink.problems)
        assert [line for line, _ in reasons] == [61, 62, 63], name
        assert "position 3 (line 4) with the same bytes" in reasons[0][1]
        assert "position 4 (line 5) with a different body" in reasons[1][1]
        assert "position 50 (line 51) with the same bytes" in reasons[2][1]


# --- resuming, cancelling ------------------------------------------------------------------


def test_resume_after_the_log_grew(tmp_path: Path) -> None:
    records = [orjson.dumps(r) for r in synthetic(700)]
    cut = records[400][:25]  # the writer is in the middle of line 401
    path = write(tmp_path / "live.jsonl", b"\n".join(records[:400]) + b"\n" + cut)
    first, sink = imported(path, block_size=4096)
    assert (first.imported, first.skipped) == (400, 1)
    assert "still be being written" in sink.problems[0].reason
    old_size, old_sha1 = first.file_size, first.sha1
    with open(path, "ab") as handle:  # the log grows: the line is finished, more follow
        handle.write(records[400][25:] + b"\n" + b"\n".join(records[401:]) + b"\n")
    assert file_digest(path, old_size) == old_sha1  # it only grew
    second, sink2 = imported(
        path,
        block_size=4096,
        fmt=first.format,
        mapping=first.mapping,
        start_offset=first.end_offset,
        start_line=first.end_line,
        start_pos=first.start_pos + first.imported,
        previous_ids=first.columns.event_ids.tolist(),
    )
    assert (second.imported, second.skipped, second.sha1) == (300, 0, None)
    assert sink2.chunks[0][0] == 400  # positions continue; the first chunk fills up to 1024
    assert [(f, len(c)) for f, c in sink2.chunks] == [(400, 300)]
    whole, whole_sink = imported(path, block_size=4096)
    assert sink.records + sink2.records == whole_sink.records
    for name in ("versions", "recorded_us", "event_ids"):
        joined = np.concatenate([getattr(first.columns, name), getattr(second.columns, name)])
        assert joined.tolist() == getattr(whole.columns, name).tolist()
    assert second.end_offset == whole.end_offset == path.stat().st_size
    assert second.end_line == whole.end_line == 701


def test_resume_reports_duplicates_of_earlier_imports(tmp_path: Path) -> None:
    old = [b'{"id":"a","type":"T"}', b'{"id":"b","type":"T"}']
    path = write(tmp_path / "log.jsonl", b"\n".join(old) + b"\n")
    first, sink = imported(path)
    with open(path, "ab") as handle:
        handle.write(old[1] + b"\n" + b'{"id":"a","type":"U"}\n')
    stored = sink.records
    second, sink2 = imported(
        path,
        mapping=first.mapping,
        start_offset=first.end_offset,
        start_line=first.end_line,
        start_pos=2,
        previous_ids=["a", "b"],
        previous_raw=stored.__getitem__,
    )
    assert [p.line for p in sink2.problems] == [3, 4]
    assert "position 1 with the same bytes" in sink2.problems[0].reason
    assert "position 0 with a different body" in sink2.problems[1].reason
    with open(path, "ab") as handle:
        handle.write(b'{"id":"b","type":"T"}\n')
    _fourth, sink4 = imported(  # the earlier imports already held a duplicate
        path,
        mapping=first.mapping,
        start_offset=second.end_offset,
        start_line=second.end_line,
        start_pos=4,
        previous_ids=["a", "b", "b", "a"],
        previous_raw=(stored + sink2.records).__getitem__,
    )
    (problem,) = sink4.problems
    assert problem.line == 5 and "position 1 with the same bytes" in problem.reason
    _third, sink3 = imported(
        path,
        mapping=first.mapping,
        start_offset=first.end_offset,
        start_line=first.end_line,
        start_pos=2,
        previous_ids=["a", "b"],
    )
    assert "bodies not compared" in sink3.problems[0].reason


def test_progress_and_cancelling(tmp_path: Path) -> None:
    records = [orjson.dumps(r) for r in synthetic(2000)]
    path = write(tmp_path / "log.jsonl", b"\n".join(records) + b"\n")
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> bool:
        seen.append((done, total))
        return True

    imported(path, block_size=8192, progress=progress)
    size = path.stat().st_size
    assert len(seen) > 5 and seen[-1] == (size, size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    calls = 0

    def stop_after_three(done: int, total: int) -> bool:
        nonlocal calls
        calls += 1
        return calls < 3

    result, sink = imported(path, block_size=8192, progress=stop_after_three)
    assert result.cancelled and result.sha1 is None
    # Big blocks are hashed on a helper thread: cancelling must not leave it behind.
    early, _ = imported(path, block_size=256 << 10, progress=lambda done, total: False)
    assert early.cancelled and 0 < early.imported < 2000
    assert not [t for t in threading.enumerate() if t.name.startswith("rewind-")]
    assert 0 < result.imported < 2000
    assert sink.records == records[: result.imported]
    assert result.end_offset == offsets_of(records)[result.imported]  # resume right here
    _rest, rest_sink = imported(
        path,
        mapping=result.mapping,
        start_offset=result.end_offset,
        start_line=result.end_line,
        start_pos=result.imported,
    )
    assert sink.records + rest_sink.records == records


def test_timestamps_in_columns(tmp_path: Path) -> None:
    lines = [
        b'{"type":"T","time":"2024-03-01T12:00:00.5+01:00","processed_at":1709290800250}',
        b'{"type":"T","time":1709290800,"processed_at":"2024-03-01T11:00:00.000250Z"}',
    ]
    result, _ = imported(write(tmp_path / "log.jsonl", b"\n".join(lines)))
    base = datetime_to_us(parse_datetime("2024-03-01T11:00:00Z"))
    assert result.columns.recorded_us.tolist() == [base + 500_000, base]
    assert result.columns.processed_us.tolist() == [base + 250_000, base + 250]


def parse_datetime(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text)


def test_results_do_not_depend_on_block_and_sub_batch_sizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [orjson.dumps(r) for r in synthetic(400)]
    for i in (3, 50, 51, 120, 399):  # bad records scattered over fast and careful sub-batches
        lines[i] = b"{broken" if i % 2 else b'{"id":"x","stream":"s"}'
    lines[200] = b""
    lines[201] = b'{"id":"n","type":"T","data":{"v":NaN}}'
    path = write(tmp_path / "log.jsonl", b"\r\n".join(lines) + b"\r\n")
    reference, ref_sink = imported(path)
    assert reference.imported == 394 and reference.skipped == 5
    for sub_batch, block in ((1, 64), (7, 1000), (64, 4096), (1024, 333)):
        monkeypatch.setattr(importer, "SUB_BATCH", sub_batch)
        result, sink = imported(path, block_size=block)
        assert sink.records == ref_sink.records
        assert [(p.line, p.offset, p.reason) for p in sink.problems] == [
            (p.line, p.offset, p.reason) for p in ref_sink.problems
        ]
        for name in ("stream_codes", "type_codes", "versions", "recorded_us", "event_ids"):
            assert (
                getattr(result.columns, name).tolist() == getattr(reference.columns, name).tolist()
            )
        assert result.columns.stream_names == reference.columns.stream_names
        assert (result.end_offset, result.end_line) == (reference.end_offset, reference.end_line)


def test_resume_a_compressed_log_that_gained_a_member(tmp_path: Path) -> None:
    lines = [orjson.dumps(r) for r in synthetic(30)]
    path = write(tmp_path / "log.jsonl.gz", gzip.compress(b"\n".join(lines[:20]) + b"\n"))
    first, sink = imported(path)
    with open(path, "ab") as handle:  # gzip -c more >> log.jsonl.gz
        handle.write(gzip.compress(b"\n".join(lines[20:]) + b"\n"))
    second, sink2 = imported(
        path,
        mapping=first.mapping,
        fmt=first.format,
        start_offset=first.end_offset,
        start_line=first.end_line,
        start_pos=20,
    )
    assert sink.records + sink2.records == lines
    assert second.compressed and second.end_line == 31


def test_resume_an_array_that_was_still_being_written(tmp_path: Path) -> None:
    elements = [orjson.dumps(r) for r in synthetic(5)]
    path = write(tmp_path / "log.json", b"[\n" + b",\n".join(elements[:3]) + b",\n" + b'{"id":')
    first, sink = imported(path)
    assert first.imported == 3 and first.skipped == 1
    assert "file ends inside it" in sink.problems[0].reason
    path.write_bytes(b"[\n" + b",\n".join(elements) + b"\n]\n")  # rewritten, longer
    _second, sink2 = imported(
        path,
        mapping=first.mapping,
        fmt=first.format,
        start_offset=first.end_offset,
        start_line=first.end_line,
        start_pos=3,
    )
    assert sink2.records == elements[3:] and sink2.problems == []
