"""Merging a branch back: merge patches, compensating events that replay to the branch's
state, and the corrected log whose report lists every change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.compensate import (
    CORRECTION_TYPE,
    compensating_events,
    export_with_report,
    merge_patch_diff,
    report_path,
    write_records,
)
from app.errors import UsageError
from app.session import Session, open_session
from models.event import Event
from models.generator import GeneratedLog, generate
from models.log import MemoryLog
from replay_engine.diff import equal
from replay_engine.engine import Engine
from replay_engine.generic import GenericProjection
from replay_engine.merge_patch import merge_patch

# --- merge patches -------------------------------------------------------------------------

scalars = st.one_of(
    st.booleans(), st.integers(-1000, 1000), st.text(max_size=4), st.floats(allow_nan=False)
)
# Objects in a generic projection's state never hold null members (null deletes): values are
# scalars, lists (anything inside) or objects without nulls.
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(st.one_of(inner, st.none()), max_size=3),
        st.dictionaries(st.text(max_size=3), inner, max_size=4),
    ),
    max_leaves=12,
)
objects = st.dictionaries(st.text(max_size=3), values, max_size=5)


@settings(max_examples=300, deadline=None)
@given(objects, objects)
def test_a_merge_patch_diff_turns_one_object_into_the_other(before: Any, after: Any) -> None:
    patch = merge_patch_diff(before, after)
    assert equal(merge_patch(before, patch), after)
    if equal(before, after):
        assert patch == {}


@settings(max_examples=100, deadline=None)
@given(st.one_of(values, st.none()), st.one_of(scalars, st.lists(values, max_size=3)))
def test_anything_but_an_object_is_replaced_whole(before: Any, after: Any) -> None:
    assert merge_patch_diff(before, after) == after
    assert equal(merge_patch(before, merge_patch_diff(before, after)), after)


def test_the_patch_names_only_what_changed() -> None:
    before = {"balance": -100, "address": {"city": "Berlin", "zip": "10100"}, "tags": [1]}
    after = {"balance": -50, "address": {"city": "Paris", "zip": "10100"}, "vip": True}
    assert merge_patch_diff(before, after) == {
        "balance": -50,
        "address": {"city": "Paris"},
        "tags": None,
        "vip": True,
    }


# --- compensating events: the replay proof -----------------------------------------------


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GeneratedLog]:
    path = tmp_path_factory.mktemp("logs") / "shop.jsonl"
    return path, generate(path, events=900, seed=5)


def _streams(session: Session) -> list[str]:
    return list(session.log.columns.stream_names)


def _fix_the_double_charge(session: Session, summary: GeneratedLog) -> str:
    """The demo story: fork before the duplicate charge, drop it and the second debit,
    correct the running balance of the customer's later balance events, and more: an
    inserted event on a new stream and an edit of another stream's data."""
    bug = summary.double_charge
    assert bug is not None
    charge, debit = bug.charge_positions[1], bug.debit_positions[1]
    session.create_branch("fix", at=f"@{charge - 1}")
    ops = session.branch_ops("fix")
    ops.drop(f"@{charge}")
    ops.drop(f"@{debit}")
    engine = session.engine
    code = _streams(session).index(bug.customer)
    cols = session.log.columns
    later = [int(p) for p in (cols.stream_codes == code).nonzero()[0] if p > debit]
    for pos in later:  # every later balance the retry made wrong goes up by the amount
        data = dict(engine.event_at("fix", pos).data)
        if "balance" in data:
            data["balance"] += bug.amount
            ops.edit_fields(f"@{pos}", {"data": data})
    ops.insert(
        f"@{debit}",
        {"stream": "refund-0001", "type": "RefundIssued", "data": {"amount": bug.amount}},
    )
    other = int(cols.stream_codes[debit + 5])
    pos = int((cols.stream_codes == other).nonzero()[0][-1])
    ops.edit_fields(f"@{pos}", {"data": {"note": "checked", "nested": {"a": 1}}})
    return "fix"


def test_appending_the_compensating_events_to_the_log_replays_to_the_branch(
    shop: tuple[Path, GeneratedLog], tmp_path: Path
) -> None:
    path, summary = shop
    session = open_session(path, workspace=tmp_path / "ws.sqlite")
    branch = _fix_the_double_charge(session, summary)
    engine = session.engine
    comp = compensating_events(engine, branch, recorded_us=1_800_000_000_000_000)
    assert comp.base == "main" and not comp.unresolved
    bug = summary.double_charge
    assert bug is not None
    by_stream = {r["stream"]: r for r in comp.records}
    assert set(by_stream) >= {bug.customer, "refund-0001"}
    assert by_stream[bug.customer]["data"] == {"balance": bug.expected_balance}
    assert by_stream[bug.customer]["type"] == CORRECTION_TYPE
    # the duplicate charge only bumped the payment's version: nothing to send for it
    assert bug.payment in comp.bookkeeping

    patched = tmp_path / "patched.jsonl"
    write_records(comp.records, tmp_path / "comp.jsonl")
    patched.write_bytes(path.read_bytes() + (tmp_path / "comp.jsonl").read_bytes())
    replayed = open_session(patched, workspace=tmp_path / "ws2.sqlite")
    try:
        got = replayed.engine.end_state("main")
        want = engine.end_state(branch)
        base = engine.end_state("main")
        assert set(got) == set(want)
        for stream, sub in want.items():
            assert equal(got[stream]["data"], sub["data"]), stream
            if stream in by_stream:  # appended at the stream's next version
                before = base.get(stream)
                assert got[stream]["version"] == (before["version"] + 1 if before else 1)
                assert got[stream]["last_type"] == CORRECTION_TYPE
            elif stream not in comp.bookkeeping:
                assert equal(got[stream], sub), stream
    finally:
        replayed.close()
        session.close()


def test_ids_are_stable_so_a_second_export_is_the_same_events(
    shop: tuple[Path, GeneratedLog], tmp_path: Path
) -> None:
    path, summary = shop
    session = open_session(path, workspace=tmp_path / "ws.sqlite")
    branch = _fix_the_double_charge(session, summary)
    a = compensating_events(session.engine, branch, recorded_us=1)
    b = compensating_events(session.engine, branch, recorded_us=2)
    assert [r["id"] for r in a.records] == [r["id"] for r in b.records]
    session.close()


def _small_session(events: list[tuple[str, dict[str, Any]]]) -> Session:
    log = MemoryLog(
        [
            Event(key=i, pos=i, event_id=f"e{i}", stream=s, type="T", data=d)
            for i, (s, d) in enumerate(events)
        ]
    )
    return Session(name="t", log=log, engine=Engine(log, GenericProjection()))


def test_what_no_event_can_express_is_listed_not_dropped() -> None:
    s = _small_session([("a-1", {"x": 1}), ("b-1", {"y": 1}), ("b-1", {"y": 2})])
    s.create_branch("gone")
    s.branch_ops("gone").drop("@0")
    comp = compensating_events(s.engine, "gone")
    assert comp.records == []
    assert len(comp.unresolved) == 1 and comp.unresolved[0].startswith("a-1:")
    with pytest.raises(UsageError, match="needs no correction"):
        compensating_events(s.engine, "main")


class LedgerProjection(GenericProjection):
    """A user projection with its own compensation: a credit of the difference."""

    name = "ledger"

    def compensate(self, key: str, before: Any, after: Any) -> list[dict[str, Any]]:
        delta = after["data"]["balance"] - before["data"]["balance"]
        return [{"stream": key, "type": "BalanceCredited", "data": {"credit": delta}}]


def test_a_projection_can_provide_its_own_compensating_events() -> None:
    log = MemoryLog(
        [
            Event(key=0, pos=0, event_id="e0", stream="acct-1", type="T", data={"balance": 10}),
            Event(key=1, pos=1, event_id="e1", stream="acct-1", type="T", data={"balance": 4}),
        ]
    )
    s = Session(name="t", log=log, engine=Engine(log, LedgerProjection()))
    s.create_branch("fix")
    s.branch_ops("fix").drop("@1")
    comp = compensating_events(s.engine, "fix")
    assert comp.records == [{"stream": "acct-1", "type": "BalanceCredited", "data": {"credit": 6}}]


# --- the corrected log --------------------------------------------------------------------


def test_the_corrected_log_round_trips_and_its_report_lists_every_change(
    shop: tuple[Path, GeneratedLog], tmp_path: Path
) -> None:
    path, summary = shop
    session = open_session(path, workspace=tmp_path / "ws.sqlite")
    branch = _fix_the_double_charge(session, summary)
    bug = summary.double_charge
    assert bug is not None
    moved = bug.charge_positions[1] + 10
    session.branch_ops(branch).move(f"@{moved}", f"@{moved + 10}")
    out = tmp_path / "fixed.jsonl"
    report = export_with_report(session, branch, out)
    assert report.events_written == summary.events - 2 + 1
    assert {c.key for c in report.by_kind("dropped")} == {
        bug.charge_positions[1],
        bug.debit_positions[1],
    }
    assert [c.event.stream for c in report.by_kind("inserted")] == ["refund-0001"]
    assert [c.key for c in report.by_kind("moved")] == [moved]
    edited = session.engine.sequence(branch).edited
    assert edited and {c.key for c in report.by_kind("edited")} == set(edited)
    md = report_path(out).read_text(encoding="utf-8")
    assert "## Dropped (2)" in md and "## Moved (1)" in md and "`data.note` added" in md
    data = orjson.loads(report_path(out).with_suffix(".json").read_bytes())
    assert len(data["edited"]) == len(report.by_kind("edited"))
    assert all(e["changes"] for e in data["edited"])

    again = open_session(out, workspace=tmp_path / "ws-fixed.sqlite")
    try:
        assert equal(dict(again.engine.end_state("main")), dict(session.engine.end_state(branch)))
    finally:
        again.close()
        session.close()


def test_the_source_log_is_never_the_target(
    shop: tuple[Path, GeneratedLog], tmp_path: Path
) -> None:
    path, _ = shop
    session = open_session(path, workspace=tmp_path / "ws.sqlite")
    session.create_branch("b")
    with pytest.raises(UsageError, match="never writes the source log"):
        export_with_report(session, "b", path)
    session.close()
