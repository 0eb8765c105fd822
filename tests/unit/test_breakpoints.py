"""Breakpoints, watches, run forward/backward and "which events touched this?"
(replay_engine.breakpoints), checked against a plain fold written here."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from app.session import open_session
from models.edits import Edit, EditKind
from models.event import Event
from models.generator import generate
from models.log import MemoryLog
from replay_engine import breakpoints as bps
from replay_engine.api import Projection
from replay_engine.branches import BranchSpec
from replay_engine.breakpoints import (
    ANY,
    MISSING,
    Breakpoint,
    ExpressionError,
    Watch,
    compile_expression,
    find_hit,
    touches,
    watch_series,
    watch_value,
)
from replay_engine.engine import Engine

ACCOUNTS = ["acct-a", "acct-b", "acct-c", "other-d"]


def ledger_events(n: int = 240, seed: int = 7) -> list[Event]:
    rng = random.Random(seed)
    events = []
    for pos in range(n):
        kind = rng.choice(["Deposited", "Withdrawn", "Withdrawn", "Noted"])
        events.append(
            Event(
                key=pos,
                pos=pos,
                event_id=f"e{pos}",
                stream=rng.choice(ACCOUNTS),
                type=kind,
                recorded_us=pos,
                data={"amount": rng.randint(1, 40), "note": "x" * rng.randint(0, 2)},
            )
        )
    return events


def ledger(*, keyed: bool = True) -> Projection:
    p = Projection("ledger", initial={"balance": 0, "moves": 0}, key="stream" if keyed else None)

    @p.on("Deposited")
    def deposited(state: dict[str, Any], event: Event) -> None:
        if keyed:
            state["balance"] += event.data["amount"]
            state["moves"] += 1
        else:
            state["balance"] += event.data["amount"]

    @p.on("Withdrawn")
    def withdrawn(state: dict[str, Any], event: Event) -> None:
        state["balance"] -= event.data["amount"]
        if keyed:
            state["moves"] += 1

    return p


def balances_after(events: list[Event], dropped: set[int] = frozenset()) -> list[dict[str, int]]:
    """The oracle: every account's balance after each row (a plain fold)."""
    balances: dict[str, int] = {}
    out = []
    for e in events:
        if e.pos not in dropped:
            sign = {"Deposited": 1, "Withdrawn": -1}.get(e.type, 0)
            if sign:
                balances[e.stream] = balances.get(e.stream, 0) + sign * e.data["amount"]
            else:
                balances.setdefault(e.stream, 0)
        out.append(dict(balances))
    return out


def negative_edges(events: list[Event], only: str | None = None) -> list[int]:
    """Rows where the balance of the event's account (or of ``only``) becomes negative."""
    after = balances_after(events)
    edges = []
    for row, e in enumerate(events):
        if only is not None and e.stream != only:
            continue
        before = after[row - 1].get(e.stream, 0) if row else 0
        if after[row][e.stream] < 0 <= before:
            edges.append(row)
    return edges


def expected(hits: list[int], row: int, direction: int) -> int | None:
    if direction > 0:
        return next((h for h in hits if h > row), None)
    return next((h for h in reversed(hits) if h < row), None)


def test_a_bare_number_after_a_comparison_is_read_as_a_literal() -> None:
    e = compile_expression("balance < 0")
    assert e.search({"balance": -1}) is True
    assert e.search({"balance": 1}) is False
    assert compile_expression("note == 'a < 1'").search({"note": "a < 1"}) is True
    assert compile_expression("amount >= 2.5e1").search({"amount": 30}) is True


def test_an_expression_that_does_not_parse_says_where() -> None:
    with pytest.raises(ExpressionError, match="column"):
        compile_expression("balance <")
    with pytest.raises(ExpressionError, match="Type an expression"):
        compile_expression("  ")


def test_breakpoints_by_type_stream_and_payload_condition() -> None:
    events = ledger_events()
    engine = Engine(MemoryLog(events), ledger())
    withdrawals_b = [e.pos for e in events if e.type == "Withdrawn" and e.stream == "acct-b"]
    bp = Breakpoint(type="With*", stream="acct-b")
    for row in (-1, 10, withdrawals_b[3], 200):
        for direction in (1, -1):
            hit = find_hit(engine, "main", row, direction, [bp])
            assert (hit and hit.row) == expected(withdrawals_b, row, direction), (row, direction)
    big = [e.pos for e in events if e.data["amount"] > 35 and e.stream.startswith("acct-")]
    cond = Breakpoint(stream="acct-*", condition="amount > 35")
    for row in (-1, big[2], len(events) - 1):
        for direction in (1, -1):
            hit = find_hit(engine, "main", row, direction, [cond])
            assert (hit and hit.row) == expected(big, row, direction)
    assert find_hit(engine, "main", -1, 1, [Breakpoint(event=17)]).row == 17  # type: ignore[union-attr]
    assert find_hit(engine, "main", -1, 1, [Breakpoint(event=17, enabled=False)]) is None


def test_dropped_events_do_not_hit_and_edited_payloads_are_checked() -> None:
    events = ledger_events()
    engine = Engine(MemoryLog(events), ledger())
    first = next(e.pos for e in events if e.type == "Deposited")
    second = next(e.pos for e in events if e.type == "Deposited" and e.pos > first)
    engine.add_branch(BranchSpec("fix", "main", None, 0, [Edit(EditKind.DROP, first)]))
    hit = find_hit(engine, "fix", -1, 1, [Breakpoint(type="Deposited")])
    assert hit is not None and hit.row == second
    noted = next(e.pos for e in events if e.type == "Noted")
    engine.append_edit(
        "fix",
        Edit(EditKind.EDIT, noted, changes={"data": {"amount": 999}}),
    )
    hit = find_hit(engine, "fix", -1, 1, [Breakpoint(condition="amount == `999`")])
    assert hit is not None and hit.row == noted


@pytest.mark.parametrize("block", [4096, 16])
def test_run_to_a_condition_on_any_key_matches_a_plain_fold(
    block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bps, "BLOCK", block)
    monkeypatch.setattr(bps, "NEAR", block // 2)
    events = ledger_events()
    engine = Engine(MemoryLog(events), ledger())
    edges = negative_edges(events)
    assert len(edges) >= 3
    watch = Watch("balance < 0", ANY, breaks=True)
    for row in (-1, 0, edges[0], edges[1] - 1, edges[-1], 150, len(events) - 1):
        for direction in (1, -1):
            hit = find_hit(engine, "main", row, direction, [], [watch])
            assert (hit and hit.row) == expected(edges, row, direction), (row, direction)


def test_run_to_a_condition_on_one_key_and_the_nearer_of_two_hits() -> None:
    events = ledger_events()
    engine = Engine(MemoryLog(events), ledger())
    edges = negative_edges(events, only="acct-c")
    assert edges
    watch = Watch("balance < 0", "acct-c", breaks=True)
    for row in (-1, edges[0], len(events) - 1):
        for direction in (1, -1):
            hit = find_hit(engine, "main", row, direction, [], [watch])
            assert (hit and hit.row) == expected(edges, row, direction)
    # a breakpoint nearer than the watch's hit wins, and vice versa
    bp_row = edges[0] - 1
    hit = find_hit(engine, "main", -1, 1, [Breakpoint(event=bp_row)], [watch])
    assert hit is not None and hit.row == bp_row and hit.reason.startswith("breakpoint")
    hit = find_hit(engine, "main", -1, 1, [Breakpoint(event=edges[0] + 1)], [watch])
    assert hit is not None and hit.row == edges[0] and hit.reason.startswith("watch")


def test_conditions_over_a_projection_with_one_state() -> None:
    events = ledger_events()
    engine = Engine(MemoryLog(events), ledger(keyed=False))
    assert not engine.is_keyed
    total = 0
    edges = []
    for e in events:
        sign = {"Deposited": 1, "Withdrawn": -1}.get(e.type, 0)
        before, total = total, total + sign * e.data["amount"]
        if total < -100 <= before:
            edges.append(e.pos)
    assert edges
    watch = Watch("balance < -100", None, breaks=True)
    for row in (-1, edges[0], len(events) - 1):
        for direction in (1, -1):
            hit = find_hit(engine, "main", row, direction, [], [watch])
            assert (hit and hit.row) == expected(edges, row, direction)
    rows, values = watch_series(engine, "main", Watch("balance"))
    assert rows[0] == -1 and values[0] == 0
    assert values[-1] == total and rows.shape[0] == len(events) + 1


def test_watch_value_and_series_match_the_fold() -> None:
    events = ledger_events()
    engine = Engine(MemoryLog(events), ledger())
    after = balances_after(events)
    watch = Watch("balance", "acct-a")
    for row in (-1, 5, 100, len(events) - 1):
        value = watch_value(engine, "main", row, watch)
        assert value == (after[row].get("acct-a", MISSING) if row >= 0 else MISSING)
    rows, values = watch_series(engine, "main", watch)
    mine = [e.pos for e in events if e.stream == "acct-a"]
    assert rows.tolist() == [-1, *mine]
    assert values[1:] == [after[r]["acct-a"] for r in mine]
    # ANY follows the key of the event at the row
    row = next(e.pos for e in events if e.stream == "acct-b")
    assert watch_value(engine, "main", row, Watch("balance", ANY)) == after[row]["acct-b"]
    # so does a watch with no scope (made under a projection without keys): its value is
    # what a run to its condition reads
    assert watch_value(engine, "main", row, Watch("balance")) == after[row]["acct-b"]
    edges = negative_edges(events)
    hit = find_hit(engine, "main", -1, 1, [], [Watch("balance < 0", None, breaks=True)])
    assert hit is not None and hit.row == edges[0]
    assert watch_value(engine, "main", hit.row, Watch("balance < 0")) is True


def test_which_events_touched_a_value() -> None:
    events = ledger_events()
    engine = Engine(MemoryLog(events), ledger())
    after = balances_after(events)
    found = touches(engine, "main", ["acct-b", "balance"])
    rows = [e.pos for e in events if e.stream == "acct-b"]
    changed = [
        r
        for i, r in enumerate(rows)
        if i == 0 or after[r]["acct-b"] != after[rows[i - 1]]["acct-b"]
    ]
    assert [t.row for t in found] == changed
    assert found[0].before is MISSING and found[-1].after == after[-1]["acct-b"]
    # Noted events touch the account but not its balance: they are not listed
    assert not {t.row for t in found} & {e.pos for e in events if e.type == "Noted"} - {rows[0]}
    flat = Engine(MemoryLog(events), ledger(keyed=False))
    found = touches(flat, "main", ["balance"])
    assert [t.row for t in found] == [e.pos for e in events if e.type != "Noted"]


def test_breakpoints_and_watches_survive_json() -> None:
    bp = Breakpoint(event=3, type="A*", stream=None, condition="x > 1", enabled=False)
    assert Breakpoint.from_json(bp.to_json()) == bp
    w = Watch("balance < 0", ANY, breaks=True)
    assert Watch.from_json(w.to_json()) == w
    assert bp.describe() == "event @3, type A*, when x > 1"


def test_searches_over_a_real_workspace_match_a_scan_of_every_event(tmp_path: Path) -> None:
    """The SQLite-backed log takes the fast paths (payload-only decoding of dense blocks,
    one fold per key reading records by offset); they must find what a plain scan finds."""
    log_path = tmp_path / "shop.jsonl"
    generate(log_path, events=3000, seed=4)
    session = open_session(log_path, workspace=tmp_path / "ws.sqlite")
    engine = session.engine
    n = engine.row_count("main")
    events = [engine.event_at("main", r) for r in range(n)]
    cond = Breakpoint(type="Stock*", condition="available < `100`")
    expect = [
        e.pos
        for e in events
        if e.type.startswith("Stock") and isinstance(e.data.get("available"), int)
        and e.data["available"] < 100
    ]  # fmt: skip
    assert len(expect) > 10
    for row in (-1, expect[3], n // 2, n - 1):
        for direction in (1, -1):
            hit = find_hit(engine, "main", row, direction, [cond])
            assert (hit and hit.row) == expected(expect, row, direction), (row, direction)
    # one key: series and touches folded in one pass equal per-row seeks
    stream = max({e.stream for e in events}, key=lambda s: sum(e.stream == s for e in events))
    rows, values = watch_series(engine, "main", Watch("version", stream))
    assert values[1:] == [engine.substate_at("main", r, stream)["version"] for r in rows[1:]]
    changed = [int(r) for i, r in enumerate(rows) if i and values[i] != values[i - 1]]
    assert [t.row for t in touches(engine, "main", [stream, "version"])] == changed
    session.close()
