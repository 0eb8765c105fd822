"""Concurrency findings: generated logs with planted conflicts and re-deliveries (real SQLite
workspaces), hand-made logs for each kind, and a plain-Python reference on random logs."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from app.findings import findings_lines, findings_report
from app.session import Session, open_session
from models.event import Event
from models.findings import (
    KINDS,
    Conflict,
    FindingsCancelled,
    Gap,
    IdCollision,
    OutOfOrder,
    Redelivery,
    TimeBackwards,
    find,
)
from models.generator import GeneratedLog, generate
from models.log import MemoryLog

T0 = 1_741_000_000_000_000


def ev(
    pos: int,
    stream: str,
    version: int | None,
    *,
    event_id: str | None = None,
    at: int | None = None,
    data: Any = None,
) -> Event:
    """An event at ``pos``; recorded ``at`` seconds after T0 (default: ``pos`` seconds)."""
    seconds = pos if at is None else at
    return Event(
        key=pos,
        pos=pos,
        event_id=event_id or f"e{pos}",
        stream=stream,
        type="Changed",
        version=version,
        recorded_us=T0 + seconds * 1_000_000,
        data={"n": pos} if data is None else data,
    )


# --- generated logs in a real workspace ---------------------------------------------------


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Session, GeneratedLog]]:
    root = tmp_path_factory.mktemp("findings")
    summary = generate(
        root / "shop.jsonl", events=2000, seed=9, conflicts=3, redeliveries=2, plant_bug=True
    )
    session = open_session(summary.path, workspace=root / "ws.sqlite")
    yield session, summary
    session.close()


def test_generated_conflicts_and_redeliveries_are_found_exactly(shop) -> None:
    session, summary = shop
    found = find(session.log)
    assert len(summary.conflicts) == 3 and len(summary.redeliveries) == 2
    assert [(c.stream, c.version, c.positions, c.event_ids) for c in found.conflicts] == [
        (c.stream, c.version, c.positions, c.event_ids) for c in summary.conflicts
    ]
    assert [(r.event_id, r.stream, r.positions) for r in found.redeliveries] == [
        (r.event_id, r.stream, r.positions) for r in summary.redeliveries
    ]
    # the copies carry their original's version
    versions = session.log.columns.versions
    assert [r.version for r in found.redeliveries] == [
        int(versions[r.positions[0]]) for r in summary.redeliveries
    ]
    # versions are contiguous and times monotonic once the copies are set aside
    assert found.gaps == found.out_of_order == found.id_collisions == found.time_backwards == []
    assert found.counts() == {
        "conflicts": 3,
        "gaps": 0,
        "out_of_order": 0,
        "redeliveries": 2,
        "id_collisions": 0,
        "time_backwards": 0,
    }


def test_late_copies_are_not_reported_as_clocks_going_back(shop) -> None:
    session, summary = shop
    found = find(session.log)
    late = set(summary.recorded_out_of_order)
    assert late  # the generator's copies arrive after later events...
    assert late <= {p for r in found.redeliveries for p in r.positions[1:]}
    flagged = {p for _kind, f in found for p in f.positions}
    assert not late & {f.position for f in found.time_backwards}  # ...and are explained once
    # the double charge is a business bug (new id, next version), not a concurrency finding
    dc = summary.double_charge
    assert dc is not None
    assert not flagged & {*dc.charge_positions, *dc.debit_positions}


def test_findings_report_for_inspect(shop) -> None:
    session, summary = shop
    report = findings_report(session)
    assert set(report) == {"findings", "finding_counts"}
    assert list(report["findings"]) == list(KINDS)
    assert report["finding_counts"]["conflicts"] == len(summary.conflicts)
    conflict = report["findings"]["conflicts"][0]
    assert set(conflict) == {"stream", "version", "event_ids", "positions"}
    assert conflict["positions"] == list(summary.conflicts[0].positions)
    orjson.dumps(report)  # JSON as it stands
    lines = findings_lines(report)
    assert any("3 version conflicts" in line for line in lines)
    assert any(summary.conflicts[0].stream in line for line in lines)
    assert any("2 exact re-deliveries" in line for line in lines)


def test_workspace_bodies_tell_redeliveries_from_collisions(tmp_path: Path) -> None:
    """Bodies are compared on the stored record bytes: an identical line is a re-delivery,
    the same id with another payload a collision."""
    lines = [
        {"id": "a", "stream": "s-1", "type": "T", "version": 1, "data": {"x": 1}},
        {"id": "b", "stream": "s-1", "type": "T", "version": 2, "data": {"x": 2}},
        {"id": "a", "stream": "s-1", "type": "T", "version": 1, "data": {"x": 1}},
        {"id": "b", "stream": "s-2", "type": "T", "version": 1, "data": {"x": 99}},
        {"id": "c", "stream": "s-1", "type": "T", "version": 3, "data": {"x": 3}},
    ]
    path = tmp_path / "dups.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    session = open_session(path, workspace=tmp_path / "ws.sqlite")
    try:
        found = find(session.log)
        assert found.redeliveries == [Redelivery("s-1", 1, "a", (0, 2))]
        assert found.id_collisions == [IdCollision("b", (1, 3), ("s-1", "s-2"), (2, 1))]
        assert found.conflicts == []  # the copy at v1 is the same event, not a lost update
    finally:
        session.close()


# --- hand-made logs --------------------------------------------------------------------------


def test_conflicts_list_every_event_at_the_version() -> None:
    log = MemoryLog(
        [
            ev(0, "a", 1),
            ev(1, "a", 2),
            ev(2, "b", 1),
            ev(3, "a", 2),
            ev(4, "a", 2),
            ev(5, "b", 2),
            ev(6, "a", 3),
        ]
    )
    found = find(log)
    assert found.conflicts == [Conflict("a", 2, (1, 3, 4), ("e1", "e3", "e4"))]
    assert found.gaps == found.out_of_order == []


def test_gaps_name_the_missing_versions_and_the_event_after() -> None:
    log = MemoryLog(
        [
            ev(0, "a", 1),
            ev(1, "a", 2),
            ev(2, "late", 3),  # a stream that starts mid-way is not a gap
            ev(3, "a", 5),
            ev(4, "late", 4),
            ev(5, "a", 6),
            ev(6, "a", 8),
        ]
    )
    found = find(log)
    assert found.gaps == [Gap("a", 2, 2, 3, "e3"), Gap("a", 6, 1, 6, "e6")]
    assert [g.version for g in found.gaps] == [5, 8]
    assert found.gaps[0].to_json() == {
        "stream": "a",
        "after_version": 2,
        "missing": 2,
        "position": 3,
    }


def test_out_of_order_versions_point_at_what_came_before() -> None:
    log = MemoryLog(
        [
            ev(0, "a", 1),
            ev(1, "b", 1),
            ev(2, "a", 3),
            ev(3, "a", 2),  # lower than v3 at @2
            ev(4, "b", 2),
            ev(5, "a", 4),
            ev(6, "a", 3),  # a second v3, written after v4: out of order and a conflict
        ]
    )
    found = find(log)
    assert found.out_of_order == [
        OutOfOrder("a", 2, 3, "e3", 3, 2),
        OutOfOrder("a", 3, 6, "e6", 4, 5),
    ]
    assert found.conflicts == [Conflict("a", 3, (2, 6), ("e2", "e6"))]
    assert found.gaps == []  # 1, 2, 3, 4 are all there, just not in that order


def test_recorded_time_going_back_within_a_stream() -> None:
    log = MemoryLog(
        [
            ev(0, "a", 1, at=10),
            ev(1, "b", 1, at=5),  # earlier than @0, but another stream: fine
            ev(2, "a", 2, at=20),
            ev(3, "a", 3, at=15),
            ev(4, "a", 4, at=30),
            ev(5, "b", 2, at=5),  # the same time is not going back
        ]
    )
    found = find(log)
    assert found.time_backwards == [
        TimeBackwards("a", 3, 3, "e3", T0 + 15_000_000, 2, T0 + 20_000_000)
    ]
    item = found.time_backwards[0].to_json()
    assert item["back_us"] == 5_000_000
    assert item["recorded_at"] < item["previous_recorded_at"]


def test_redeliveries_and_collisions_of_memory_logs() -> None:
    log = MemoryLog(
        [
            ev(0, "a", 1, event_id="x", data={"v": 1}),
            ev(1, "a", 2, event_id="y", data={"v": 2}),
            ev(2, "a", 1, event_id="x", data={"v": 1}, at=0),  # copy of @0
            ev(3, "a", 3, event_id="y", data={"v": 3}),  # same id as @1, another body
            ev(4, "a", 3, event_id="y", data={"v": 3}, at=3),  # copy of @3
            ev(5, "a", 4, event_id="z"),
        ]
    )
    found = find(log)
    assert found.redeliveries == [
        Redelivery("a", 1, "x", (0, 2)),
        Redelivery("a", 3, "y", (3, 4)),
    ]
    assert found.id_collisions == [IdCollision("y", (1, 3), ("a", "a"), (2, 3))]
    assert found.conflicts == []  # copies are not lost updates


def test_copies_arriving_late_are_no_disorder() -> None:
    log = MemoryLog(
        [
            ev(0, "a", 1, event_id="x"),
            ev(1, "a", 2),
            ev(2, "a", 3),
            ev(3, "a", 1, event_id="x", at=0, data={"n": 0}),  # copy of @0, delivered late
        ]
    )
    found = find(log)
    assert found.redeliveries == [Redelivery("a", 1, "x", (0, 3))]
    assert found.out_of_order == found.time_backwards == found.conflicts == []


def test_missing_versions_and_times_are_skipped() -> None:
    log = MemoryLog(
        [
            ev(0, "a", None),
            ev(1, "a", None),
            ev(2, "a", 1),
            ev(3, "a", 5),
            Event(3 + 1, 4, "e4", "a", "T", version=None, recorded_us=None),
        ]
    )
    found = find(log)
    assert found.conflicts == []  # two events without a version are no conflict
    assert found.gaps == [Gap("a", 1, 3, 3, "e3")]
    assert found.time_backwards == []


def test_limit_keeps_the_earliest_and_counts_all() -> None:
    events = []
    for i in range(10):  # ten streams, each with a conflict at v1
        events += [ev(2 * i, f"s{i}", 1), ev(2 * i + 1, f"s{i}", 1)]
    found = find(MemoryLog(events), limit=3)
    assert [c.positions for c in found.conflicts] == [(0, 1), (2, 3), (4, 5)]
    assert found.counts()["conflicts"] == 10
    assert len(found) == 10


def test_progress_reports_and_cancels() -> None:
    log = MemoryLog([ev(0, "a", 1), ev(1, "a", 1)])
    seen: list[tuple[int, int]] = []
    find(log, progress=lambda done, total: seen.append((done, total)))
    assert seen[0][0] == 0 and seen[-1][0] == seen[-1][1] > 0
    with pytest.raises(FindingsCancelled):
        find(log, progress=lambda done, total: done < 2)


def test_empty_log() -> None:
    found = find(MemoryLog([]))
    assert len(found) == 0
    assert found.to_json() == {kind: [] for kind in KINDS}


# --- against a plain-Python reference ---------------------------------------------------------


def reference(events: list[Event]) -> dict[str, Any]:
    """The definitions, written the slow and obvious way."""
    seen: list[Event] = []
    copies: set[int] = set()
    for e in events:
        body = e._replace(key=0, pos=0)
        if any(other == body for other in seen):
            copies.add(e.pos)
        else:
            seen.append(body)
    kept = [e for e in events if e.pos not in copies]
    streams: dict[str, list[Event]] = {}
    for e in kept:
        streams.setdefault(e.stream, []).append(e)
    conflicts, gaps, ooo, back = [], [], [], []
    for name, evs in streams.items():
        with_v = [e for e in evs if e.version is not None]
        by_version: dict[int, list[int]] = {}
        for e in with_v:
            by_version.setdefault(e.version, []).append(e.pos)  # type: ignore[arg-type]
        conflicts += [(name, v, tuple(p)) for v, p in by_version.items() if len(p) > 1]
        present = sorted(by_version)
        for a, b in itertools.pairwise(present):
            if b > a + 1:
                gaps.append((name, a, b - a - 1, by_version[b][0]))
        top: Event | None = None
        for e in with_v:
            if top is not None and e.version < top.version:  # type: ignore[operator]
                ooo.append((e.pos, top.version, top.pos))
            if top is None or e.version >= top.version:  # type: ignore[operator]
                top = e
        timed = [e for e in evs if e.recorded_us is not None]
        for a, b in itertools.pairwise(timed):
            if b.recorded_us < a.recorded_us:  # type: ignore[operator]
                back.append((b.pos, a.pos))
    return {
        "copies": sorted(copies),
        "conflicts": sorted(conflicts, key=lambda c: c[2][0]),
        "gaps": sorted(gaps, key=lambda g: g[3]),
        "out_of_order": sorted(ooo),
        "time_backwards": sorted(back),
    }


@pytest.mark.parametrize("seed", range(6))
def test_matches_the_reference_on_random_logs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 400
    streams = rng.integers(0, 12, n)
    next_version = np.ones(12, np.int64)
    events: list[Event] = []
    for pos in range(n):
        s = int(streams[pos])
        roll = rng.random()
        if roll < 0.05 and events:  # re-deliver an earlier event
            e = events[int(rng.integers(0, len(events)))]
            events.append(e._replace(key=pos, pos=pos))
            continue
        version = int(next_version[s])
        if roll < 0.12:
            version -= int(rng.integers(1, 3))  # a lost update or a late write
        elif roll < 0.18:
            version += int(rng.integers(1, 3))  # a gap
        elif roll < 0.21:
            version = None  # type: ignore[assignment]
        else:
            next_version[s] += 1
        if version is not None and version >= next_version[s]:
            next_version[s] = version + 1
        at = pos - (int(rng.integers(1, 30)) if rng.random() < 0.05 else 0)
        eid = f"e{int(rng.integers(0, 3))}" if rng.random() < 0.02 else None
        events.append(ev(pos, f"s{s}", version, at=at, event_id=eid))
    found = find(MemoryLog(events))
    want = reference(events)
    assert sorted(p for r in found.redeliveries for p in r.positions[1:]) == want["copies"]
    assert [(c.stream, c.version, c.positions) for c in found.conflicts] == want["conflicts"]
    assert [(g.stream, g.after_version, g.missing, g.position) for g in found.gaps] == want["gaps"]
    assert [(o.position, o.after_version, o.after_position) for o in found.out_of_order] == want[
        "out_of_order"
    ]
    assert [(t.position, t.previous_position) for t in found.time_backwards] == want[
        "time_backwards"
    ]
    assert found.conflicts and found.gaps and found.out_of_order and found.redeliveries


def test_huge_versions_out_of_order() -> None:
    """Versions too far apart for one sort key take the slower exact path."""
    big = 2**62
    log = MemoryLog([ev(0, "a", big), ev(1, "b", 1), ev(2, "a", 1), ev(3, "a", big)])
    found = find(log)
    assert found.out_of_order == [OutOfOrder("a", 1, 2, "e2", big, 0)]
    assert found.conflicts == [Conflict("a", big, (0, 3), ("e0", "e3"))]
    assert found.gaps == [Gap("a", 1, big - 2, 0, "e0")]


def test_versions_at_the_ends_of_int64() -> None:
    low, high = -(2**63) + 1, 2**63 - 1  # the lowest int64 is the missing-value sentinel
    found = find(MemoryLog([ev(0, "a", low), ev(1, "a", high)]))
    assert found.gaps == [Gap("a", low, 2**64 - 3, 1, "e1")]


def test_every_kind_in_the_inspect_summary() -> None:
    from replay_engine.engine import Engine
    from replay_engine.generic import GenericProjection

    log = MemoryLog(
        [
            ev(0, "a", 1, event_id="x", data={"v": 0}),
            ev(1, "a", 1),  # conflict with @0
            ev(2, "a", 4),  # v2 is missing
            ev(3, "a", 3, at=1),  # out of order, and recorded before @2
            ev(4, "b", 1, event_id="x", data={"v": 4}),  # collision with @0
            ev(5, "b", 2, event_id="r"),
            ev(6, "b", 2, event_id="r", at=5, data={"n": 5}),  # re-delivery of @5
        ]
    )
    session = Session(name="all.jsonl", log=log, engine=Engine(log, GenericProjection()))
    report = findings_report(session)
    assert all(report["finding_counts"][kind] == 1 for kind in KINDS)
    text = "\n".join(findings_lines(report))
    for expected in (
        "a v1: 2 events (@0, @1)",
        "a: 1 version(s) missing after v1 (next event @3)",
        "a v3 @3 written after v4 @2",
        "r (b) delivered 2x: @5, @6",
        "x used by 2 different events: @0, @4",
        "a @3 recorded 1 s before @2",
    ):
        assert expected in text
    assert findings_lines({"finding_counts": dict.fromkeys(KINDS, 0), "findings": {}}) == [
        "concurrency: no conflicts, gaps, re-deliveries or clock problems found"
    ]
