"""Comparing branches: event lists aligned by identity with what differs, the summary by
entity kind, "after the same event" across branches, and the exported reports."""

from __future__ import annotations

import orjson
import pytest

from app.compare import (
    DROPPED_A,
    DROPPED_B,
    EDITED,
    MOVED,
    ONLY_A,
    ONLY_B,
    Side,
    align_events,
    aligned_row,
    compare,
    counts_line,
    report_html,
    report_json,
    report_markdown,
)
from app.session import Session
from models.event import Event
from models.log import MemoryLog
from replay_engine.engine import Engine
from replay_engine.generic import GenericProjection


def _session() -> Session:
    log = MemoryLog(
        [
            Event(
                key=i,
                pos=i,
                event_id=f"e{i}",
                stream=["acct-1", "acct-2", "order-1"][i % 3],
                type="T",
                data={"n": i, "total": i * 10},
            )
            for i in range(40)
        ]
    )
    s = Session(name="c", log=log, engine=Engine(log, GenericProjection()))
    s.create_branch("a", at="@4")
    a = s.branch_ops("a")
    a.drop("@6")
    a.edit_fields("@9", {"data": {"n": 99}})
    a.insert("@12", {"stream": "acct-3", "type": "Opened", "data": {"n": -1}})
    s.create_branch("b", at="@4")
    b = s.branch_ops("b")
    b.drop("@7")
    b.move("@20", "@25")
    b.insert("@30", {"stream": "acct-1", "type": "Fixed", "data": {"n": 0}})
    return s


def test_the_alignment_marks_every_difference_once() -> None:
    s = _session()
    engine = s.engine
    al = align_events(engine, "a", "b")
    n_a, n_b = engine.row_count("a"), engine.row_count("b")
    assert int((al.rows_a >= 0).sum()) == n_a and int((al.rows_b >= 0).sum()) == n_b
    flags = {int(k): int(f) for k, f in zip(al.keys, al.status, strict=True) if f}
    ins_a = next(iter(engine.sequence("a").inserted))
    ins_b = next(iter(engine.sequence("b").inserted))
    assert flags == {
        6: DROPPED_A,
        7: DROPPED_B,
        9: EDITED,
        ins_a: ONLY_A,
        20: MOVED,
        ins_b: ONLY_B,
    }
    # A's order, with B's own event right after the event before it in B
    i = al.index_of_key(ins_b)
    assert i is not None and int(al.keys[i - 1]) == 30
    # the first event after which the states differ: @6 (dropped in A only)
    assert al.first_divergence is not None and int(al.keys[al.first_divergence]) == 6
    assert al.counts()["edited"] == 1
    same = align_events(engine, "a", "a")
    assert same.differing().size == 0 and same.first_divergence is None


def test_after_the_same_event_in_another_branch() -> None:
    s = _session()
    engine = s.engine
    ins_a = next(iter(engine.sequence("a").inserted))
    row = engine.row_of("a", ins_a)
    assert row is not None
    # main lacks a's inserted event: after the event before it (@12)
    assert aligned_row(engine, "a", row, "main") == 12
    assert aligned_row(engine, "a", 20, "main") == engine.row_of("main", engine.key_at("a", 20))
    assert aligned_row(engine, "a", -1, "b") == -1


def test_compare_summary_and_reports() -> None:
    s = _session()
    engine = s.engine
    result = compare(
        engine,
        Side("main", engine.row_count("main") - 1),
        Side("a", engine.row_count("a") - 1),
    )
    paths = {".".join(map(str, c.path)): c.change for c in result.changes}
    assert paths["acct-3"] == "added"
    assert result.summary["acct"].entities >= 1
    assert result.summary["acct"].added == 1
    assert "acct" in counts_line(result)
    flipped = result.reversed_changes()
    assert {c.change for c in flipped if c.path == ("acct-3",)} == {"removed"}

    data = report_json(engine, result)
    assert data["a"]["branch"] == "main" and data["b"]["branch"] == "a"
    assert data["first_divergence"]["key"] == "@6"
    assert data["alignment"]["differing"] == 3
    assert {e["difference"] for e in data["alignment"]["events"]} == {
        "dropped in B",
        "edited",
        "only in B",
    }
    orjson.dumps(data)  # JSON all the way down
    md = report_markdown(engine, result)
    assert "First divergent event: **@6**" in md
    assert "| `acct-3` | added |" in md
    html = report_html(engine, result)
    assert html.startswith("<!DOCTYPE html>") and '<tr class="added">' in html


@pytest.mark.parametrize("report", [report_markdown, report_html])
def test_equal_states_say_so(report: object) -> None:
    s = _session()
    engine = s.engine
    end = engine.row_count("main") - 1
    result = compare(engine, Side("main", end), Side("main", end))
    text = report(engine, result)  # type: ignore[operator]
    assert "equal" in text and "never diverge" in text
