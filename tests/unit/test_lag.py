"""Processing lag and out-of-order processing from the time columns."""

from __future__ import annotations

import numpy as np

from app.lag import lag_of
from models.event import Event
from models.log import MemoryLog


def ev(pos: int, rec: int | None, proc: int | None) -> Event:
    return Event(
        key=pos, pos=pos, event_id=f"e{pos}", stream="s", type="T", data={},
        recorded_us=rec, processed_us=proc,
    )  # fmt: skip


def test_lag_percentiles_and_out_of_order() -> None:
    events = [
        ev(0, 1_000, 1_500),
        ev(1, 2_000, 2_100),
        ev(2, 3_000, 9_000),  # slow
        ev(3, 4_000, 4_200),  # processed before the slow one recorded earlier: out of order
        ev(4, 5_000, None),  # no processed time: no lag
        ev(5, 6_000, 9_500),
    ]
    lag = lag_of(MemoryLog(events).columns)
    assert lag.positions.tolist() == [0, 1, 2, 3, 5]
    assert lag.lag_us.tolist() == [500, 100, 6_000, 200, 3_500]
    assert lag.out_of_order.tolist() == [3]
    pct = lag.percentiles((50, 100))
    assert pct[50] == 500 and pct[100] == 6_000
    starts, bands = lag.buckets(count=5, qs=(50,))
    assert starts.shape[0] == 5 and np.nanmax(bands[50]) == 6_000


def test_a_log_in_order_has_no_findings() -> None:
    events = [ev(i, 1_000 * i, 1_000 * i + 50) for i in range(10)]
    lag = lag_of(MemoryLog(events).columns)
    assert lag.out_of_order.size == 0 and set(lag.lag_us.tolist()) == {50}


def test_read_sides_trail_the_log_by_their_checkpoints() -> None:
    from app.lag import checkpoints_of

    events = []
    for pos in range(12):
        events.append(ev(pos, 1_000_000 * pos, 1_000_000 * pos + 10))
    # two read sides record where they are, in the log itself
    marks = {
        4: ("orders-view", 2),
        7: ("orders-view", 6),
        8: ("emailer", 3),
        10: ("broken", None),  # no position: not a checkpoint
    }
    for pos, (name, position) in marks.items():
        data = (
            {"projection": name} if position is None else {"projection": name, "position": position}
        )
        events[pos] = Event(
            key=pos, pos=pos, event_id=f"e{pos}", stream="$checkpoints", type="CheckpointSaved",
            data=data, recorded_us=1_000_000 * pos, processed_us=1_000_000 * pos,
        )  # fmt: skip
    log = MemoryLog(events)
    cps = checkpoints_of(log)
    assert sorted(cps.sides) == ["emailer", "orders-view"]
    at = {s.name: s for s in cps.at(9, log.columns.recorded_us)}
    assert (at["orders-view"].position, at["orders-view"].behind_events) == (6, 3)
    assert at["orders-view"].behind_us == 3_000_000
    assert (at["emailer"].position, at["emailer"].behind_events) == (3, 6)
    assert [s.name for s in cps.at(5, log.columns.recorded_us)] == ["orders-view"]
    assert cps.at(3, log.columns.recorded_us) == []
