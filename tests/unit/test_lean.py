"""The import's fast parse (models.lean) reads the column members exactly as the full parse
does, refuses every record orjson would refuse, and the import gives the same result with
it as with orjson; a number orjson cannot hold in a member it skips reads as null."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

import models.importer as importer
from models.decode import loads_stored, make_data_decoder, make_decoder
from models.generator import generate
from models.importer import event_at
from models.lean import ColumnDecoder, Refused
from models.mapping import FieldMapping
from tests.unit.test_importer import BAD_LINES, imported, write
from tests.unit.test_importer_parallel import assert_same, both, planted


def full_parse_columns(mapping: FieldMapping, records: list[bytes]) -> list[list[Any] | None]:
    return mapping.extract_columns([orjson.loads(raw) for raw in records])


def test_the_columns_are_the_ones_the_full_parse_reads(tmp_path: Path) -> None:
    log = tmp_path / "shop.jsonl"
    generate(log, events=600, seed=3)
    records = log.read_bytes().splitlines()
    mapping = FieldMapping.detect(orjson.loads(raw) for raw in records[:50])
    assert ColumnDecoder(mapping).columns(records) == full_parse_columns(mapping, records)


def test_alternatives_nested_paths_and_odd_values() -> None:
    records = [
        b'{"subject":"s1","source":"src","type":"A","meta":{"v":3,"at":"2024-01-01T00:00:00Z"}}',
        b'{"subject":null,"source":"src","type":"B","meta":{"v":"x"}}',
        b'{"source":"only","type":7,"meta":[1],"id":{"deep":true}}',
        b'{"type":"C","meta":null,"id":1.5,"extra":{"big":[1,2,{"a":"\\u00e9"}]}}',
    ]
    mapping = FieldMapping(
        {
            "event_id": "id",
            "stream": "subject|source",
            "type": "type",
            "version": "meta.v",
            "recorded_at": "meta.at|missing",
            "processed_at": None,
        }
    )
    got = ColumnDecoder(mapping).columns(records)
    assert got == full_parse_columns(mapping, records)
    assert got[1] == ["s1", "src", "only", None]
    assert got[3] == [3, "x", None, None]
    assert got[5] is None


@pytest.mark.parametrize(
    "bad",
    [
        b'{"id":"a","type":"T","data":"caf\xe9"}',  # Latin-1 in a member it skips
        b'{"id":"a","type":"T","\xff":1}',  # in a key it skips
        b'{"id":"a","type":"T","data":"\xed\xa0\x80"}',  # an encoded surrogate
        b'{"id":"a","type":"T","data":"\xf4\x90\x80\x80"}',  # beyond U+10FFFF
        b'{"id":"a","type":"T","data":NaN}',
        b'{"id":"a","type":"T","data":[1,]}',
        b'{"id":"a","type":"T","data":"\\ud800"}',
        b'[{"id":"a","type":"T"}]',
        b"",
        b'{"id":"a","type":"T"} trailing',
    ],
)
def test_what_orjson_refuses_is_refused(bad: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        loaded = orjson.loads(bad)
        if type(loaded) is not dict:  # (an array is valid JSON but not a record)
            raise orjson.JSONDecodeError("not an object", "", 0)
    good = b'{"id":"b","type":"T"}'
    with pytest.raises(Refused):
        ColumnDecoder(FieldMapping.default()).columns([good, bad, good])


def test_an_import_gives_the_same_with_the_full_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = planted() + BAD_LINES[:-1]
    path = write(tmp_path / "log.jsonl", b"\n".join(lines) + b"\n")
    fast = imported(path)

    def full(self: Any, records: list[bytes]) -> Any:
        try:
            objs = list(map(orjson.loads, records))
        except orjson.JSONDecodeError:
            return None
        return self.extract_fast(objs)

    monkeypatch.setattr(importer._Run, "extract_lean", full)
    assert_same(imported(path), fast)


def test_a_number_beyond_the_double_range_in_a_skipped_member_reads_as_null(
    tmp_path: Path,
) -> None:
    records = [
        b'{"id":"a","stream":"s","type":"T","data":{"x":1e400,"y":[2E+308],"z":1}}',
        b'{"id":"b","stream":"s","type":"T","data":{"x":1.5}}',
    ]
    path = write(tmp_path / "log.jsonl", b"\n".join(records) + b"\n")
    result, sink = imported(path)
    assert result.imported == 2
    assert sink.records == records  # stored as written: the source's bytes
    assert loads_stored(sink.records[0])["data"] == {"x": None, "y": [None], "z": 1}
    event = event_at(sink.records[0], result.mapping, result.columns, 0, 0)
    assert event.data == {"x": None, "y": [None], "z": 1}
    decode = make_decoder(result.mapping)
    assert decode(sink.records[0], 0, "a", "s", "T", None, None, None).data == event.data
    assert make_data_decoder(result.mapping)(sink.records[0]) == event.data
    # In a member the import reads, the careful path replaces it and says so.
    path = write(tmp_path / "version.jsonl", b'{"id":"c","type":"T","version":1e400}\n')
    result, sink = imported(path)
    assert result.imported == 1 and "out of range: replaced by null" in sink.problems[0].reason


def test_records_nested_deeper_than_the_fast_parse_goes_are_read_carefully(
    tmp_path: Path,
) -> None:
    lines = [orjson.dumps({"id": f"e{i}", "type": "T", "data": {"i": i}}) for i in range(50)]
    lines[3] = b'{"id":"deep","type":"T","data":' + b"[" * 1000 + b"]" * 1000 + b"}"
    lines[4] = b'{"id":"deeper","type":"T","data":' + b"[" * 1100 + b"]" * 1100 + b"}"
    path = write(tmp_path / "deep.jsonl", b"\n".join(lines) + b"\n")
    one, two = both(path)
    assert_same(one, two)
    result, sink = one
    assert (result.imported, result.skipped) == (49, 1)  # orjson reads 1000 levels, not 1100
    assert sink.problems[0].line == 5 and "not valid JSON" in sink.problems[0].reason


def test_what_is_stored_does_not_depend_on_the_batch(tmp_path: Path) -> None:
    # A number beyond the double range next to a broken record (which sends its sub-batch
    # down the careful path) is stored as it is when its sub-batch reads fast.
    lines = [
        orjson.dumps({"id": f"e{i}", "type": "T", "data": {"i": i, "pad": "x" * 60}})
        for i in range(600)
    ]
    for j in range(320, 600, 7):
        lines[j] = b'{"id":"inf%d","type":"T","data":{"v":1e400}}' % j
    for j in range(330, 600, 53):
        lines[j] = b"{broken"
    path = write(tmp_path / "inf.jsonl", b"\n".join(lines) + b"\n")
    one, two = both(path)
    assert_same(one, two)
    result, sink = one
    assert result.warnings == 0
    assert sink.records[320] == lines[320]


def test_a_remembered_1_does_not_answer_for_true(tmp_path: Path) -> None:
    lines = [b'{"id":"a","type":1}', b'{"id":"b","type":true}', b'{"id":"c","type":1}']
    result, sink = imported(write(tmp_path / "types.jsonl", b"\n".join(lines) + b"\n"))
    assert result.imported == 2 and result.columns.type_names == ["1"]
    assert "must be text, not true" in sink.problems[0].reason


def test_an_interrupted_caller_stops_the_parse_thread_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stop = threading.Event()
    seen: list[bool] = []

    def work() -> bool:
        seen.append(stop.wait(10))  # a parse that runs until it is told to stop
        return True

    real_join = threading.Thread.join
    calls = []

    def join(self: threading.Thread, timeout: float | None = None) -> None:
        calls.append(self.name)
        if len(calls) == 1:
            raise KeyboardInterrupt  # Ctrl-C while the caller waits
        real_join(self, timeout)

    monkeypatch.setattr(threading.Thread, "join", join)
    with pytest.raises(KeyboardInterrupt):
        importer._churning(work, stop)
    assert seen == [True] and calls == ["rewind-import-parse"] * 2
