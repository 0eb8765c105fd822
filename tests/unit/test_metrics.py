"""Metric series: one value or an aggregate over the event sequence, equal to what the
engine's states say at every row, in branches with every kind of edit."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from app.metrics import (
    MISSING,
    MetricError,
    event_rows,
    extract,
    first_difference,
    metric_series,
    parse_metric,
    values_by_branch,
)
from app.session import Session
from models.event import Event
from models.log import MemoryLog
from replay_engine.engine import Engine
from replay_engine.generic import GenericProjection


def _session() -> Session:
    events = []
    for i in range(120):
        cust = f"cust-{i % 5}"
        if i % 3 == 0:
            events.append((cust, "Debited", {"balance": -i, "name": f"n{i}"}))
        elif i % 3 == 1:
            events.append((f"order.{i % 7}", "Placed", {"amount": i, "ok": i % 2 == 0}))
        else:
            events.append((cust, "Noted", {"note": f"x{i}", "tags": [i, i + 1]}))
    log = MemoryLog(
        [
            Event(key=i, pos=i, event_id=f"e{i}", stream=s, type=t, data=d)
            for i, (s, t, d) in enumerate(events)
        ]
    )
    s = Session(name="m", log=log, engine=Engine(log, GenericProjection()))
    s.create_branch("fix", at="@9")
    ops = s.branch_ops("fix")
    ops.drop("@15")
    ops.drop("@30")
    ops.edit_fields("@45", {"data": {"balance": 1000}})
    ops.insert("@50", {"stream": "cust-1", "type": "Debited", "data": {"balance": 7}})
    ops.insert("@51", {"stream": "cust-9", "type": "Debited", "data": {"balance": -3}})
    ops.move("@60", "@75")
    ops.edit_fields("@66", {"stream": "cust-2"})
    return s


def _brute(engine: Any, branch: str, func: str, path: list[str], pattern: str) -> list[float]:
    """The aggregate at every row, from fully materialised states."""
    import fnmatch

    out = []
    for row in range(-1, engine.row_count(branch)):
        state = engine.state_at(branch, row)  # folded per key as read
        vals = []
        for key, sub in state.items():
            if not fnmatch.fnmatchcase(key, pattern):
                continue
            v = extract(sub, path) if path else 1.0
            if v is MISSING or not isinstance(v, int | float):
                continue
            vals.append(float(v))
        if func == "count":
            out.append(float(len(vals)))
        elif func == "sum":
            out.append(float(sum(vals)))
        elif not vals:
            out.append(math.nan)
        else:
            out.append({"avg": sum(vals) / len(vals), "min": min(vals), "max": max(vals)}[func])
    return out


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b)


def test_parse_values_and_aggregates() -> None:
    keys = {"order.3", "order", "cust-1"}
    m = parse_metric("order.3.data.amount", keys.__contains__)
    assert (m.func, m.key, m.path) == ("value", "order.3", ("data", "amount"))
    m = parse_metric(" SUM( cust-*.data.balance ) ", keys.__contains__)
    assert (m.func, m.pattern, m.path) == ("sum", "cust-*", ("data", "balance"))
    assert parse_metric("count(cust-*)").path == ()
    with pytest.raises(MetricError, match="needs a value"):
        parse_metric("avg(cust-*)")
    with pytest.raises(MetricError, match="No entity 'nope'"):
        parse_metric("nope.data", keys.__contains__)
    with pytest.raises(MetricError, match="Type a value"):
        parse_metric("  ")


@pytest.mark.parametrize("branch", ["main", "fix"])
@pytest.mark.parametrize(
    "text", ["cust-1.data.balance", "order.3.data.ok", "cust-2.data.tags.1", "cust-9.version"]
)
def test_a_value_series_is_the_engines_value_at_every_row(branch: str, text: str) -> None:
    s = _session()
    engine = s.engine
    metric = parse_metric(text, lambda k: k in engine.end_state(branch) or k == "cust-9")
    series = metric_series(engine, branch, metric)
    rows = np.arange(-1, engine.row_count(branch))
    got = series.at(rows)
    for row, value in zip(rows.tolist(), got.tolist(), strict=True):
        state = engine.state_at(branch, row)
        want = math.nan
        if row >= 0 and metric.key in state:
            raw = extract(state[metric.key], metric.path)
            if raw is not MISSING and isinstance(raw, int | float):
                want = float(raw)
        assert _same(value, want), (row, value, want)
    # only change points are kept
    assert len(series.x) <= engine.row_count(branch) // 2


def test_event_rows_are_the_entitys_non_dropped_events() -> None:
    s = _session()
    engine = s.engine
    seq = engine.sequence("fix")
    want = [
        r
        for r in range(len(seq))
        if not seq.dropped[r] and engine.event_at("fix", r).stream == "cust-2"
    ]
    assert event_rows(engine, "fix", "cust-2").tolist() == want


@pytest.mark.parametrize("func", ["count", "sum", "avg", "min", "max"])
def test_aggregates_match_a_full_fold(func: str) -> None:
    s = _session()
    engine = s.engine
    for branch in ("main", "fix"):
        text = "count(cust-*)" if func == "count" else f"{func}(cust-*.data.balance)"
        metric = parse_metric(text)
        series = metric_series(engine, branch, metric)
        path = [] if func == "count" else ["data", "balance"]
        want = _brute(engine, branch, func, path, "cust-*")
        got = series.at(np.arange(-1, engine.row_count(branch))).tolist()
        assert all(_same(g, w) for g, w in zip(got, want, strict=True)), (branch, func)


def test_where_two_branches_part_and_their_values_side_by_side() -> None:
    s = _session()
    engine = s.engine
    metric = parse_metric("cust-0.data.balance", {f"cust-{i}" for i in range(10)}.__contains__)
    main, fix = (metric_series(engine, b, metric) for b in ("main", "fix"))
    assert first_difference(main, fix) == 15.0  # @15 (cust-0) is dropped in fix
    assert first_difference(main, main) is None
    values = values_by_branch(engine, metric, ["main", "fix"], cursor_key=30)
    assert [v.branch for v in values] == ["main", "fix"]
    assert values[0].at_cursor == -30  # after @30 in main
    assert values[1].at_cursor == 0  # @15 and @30 are dropped in fix: @0's balance
    assert values[0].at_end == engine.end_state("main")["cust-0"]["data"]["balance"]
    inserted = engine.sequence("fix").inserted
    key = next(iter(inserted))
    missing = values_by_branch(engine, metric, ["main", "fix"], cursor_key=key)
    assert missing[0].cursor_row is None and missing[1].cursor_row is not None
