"""The import dialog's preview: the real import on the first records."""

from __future__ import annotations

from pathlib import Path

import orjson

from app.preview import detect, preview
from models.generator import generate


def test_a_json_lines_log_previews_with_its_detected_mapping(tmp_path: Path) -> None:
    log = tmp_path / "shop.jsonl"
    generate(log, events=600, seed=3)
    found = preview(log, rows=20)
    assert found.format == found.detected == "jsonl" and not found.converted
    assert len(found.events) == 20
    first = orjson.loads(log.read_bytes().split(b"\n")[0])
    assert (found.events[0].stream, found.events[0].type) == (first["stream"], first["type"])
    assert found.mapping["stream"] == "stream" and found.mapping["type"] == "type"
    assert "data" in found.fields and "stream" in found.fields


def test_a_changed_mapping_and_problems_at_their_place(tmp_path: Path) -> None:
    log = tmp_path / "odd.jsonl"
    records = [{"kind": "Paid", "agg": f"a{i % 2}", "n": i} for i in range(5)]
    lines = [orjson.dumps(r) for r in records]
    lines.insert(2, b"{broken")
    log.write_bytes(b"\n".join(lines) + b"\n")
    found = preview(log, mapping={"stream": "agg", "type": "kind"})
    assert [e.stream for e in found.events] == ["a0", "a1", "a0", "a1", "a0"]
    assert [(p.file, p.line) for p in found.problems] == [(str(log), 3)]
    nothing = preview(log, mapping={"type": "nothing_like_that"})
    assert nothing.events == [] and len(nothing.problems) == 6


def test_an_array_and_a_converted_format(tmp_path: Path) -> None:
    arr = tmp_path / "events.json"
    arr.write_bytes(orjson.dumps([{"type": "A", "stream": "s", "i": i} for i in range(30)]))
    assert detect(arr) == "json-array"
    assert [e.data["i"] for e in preview(arr, rows=5).events] == [0, 1, 2, 3, 4]
    csv = tmp_path / "events.csv"
    csv.write_text("id,stream,type,amount\n1,s,Paid,5\n2,s,Refunded,2\n")
    found = preview(csv)
    assert found.format == "csv" and found.converted
    assert [e.type for e in found.events] == ["Paid", "Refunded"]
