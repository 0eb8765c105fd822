"""The timeline's numbers: x per event, lanes, gap collapsing, binning, nearest row."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from app.controller import BranchRows
from app.qt_timeline import TimelineLayout, stream_type
from models.event import Event
from models.log import Columns

T0 = 1_740_000_000_000_000


def _columns(times_s: list[float], streams: list[str], types: list[str]) -> Columns:
    events = [
        Event(key=i, pos=i, event_id=f"e{i}", stream=s, type=t, recorded_us=T0 + int(x * 1e6))
        for i, (x, s, t) in enumerate(zip(times_s, streams, types, strict=True))
    ]
    return Columns.from_events(events)


def test_stream_type_is_the_prefix() -> None:
    assert stream_type("order-42") == "order"
    assert stream_type("bank:Account-1") == "bank"
    assert stream_type("inventory") == "inventory"


def test_lanes_by_stream_type_or_event_type() -> None:
    cols = _columns([0, 1, 2, 3], ["order-1", "cust-1", "order-2", "cust-2"], ["A", "B", "A", "C"])
    rows = BranchRows.build("main", cols, None)
    by_stream = TimelineLayout.build(rows, cols, lanes_by="stream")
    assert by_stream.lane_names == ["order", "cust"]
    assert by_stream.lane.tolist() == [0, 1, 0, 1]
    by_type = TimelineLayout.build(rows, cols, lanes_by="type")
    assert by_type.lane_names == ["A", "B", "C"]
    assert by_type.lane.tolist() == [0, 1, 0, 2]


def test_idle_gaps_collapse_and_map_back_to_real_time() -> None:
    times = [0, 1, 2, 3, 10_000, 10_001, 10_002]  # a gap of almost three hours
    cols = _columns(times, ["s-1"] * 7, ["A"] * 7)
    rows = BranchRows.build("main", cols, None)
    flat = TimelineLayout.build(rows, cols, collapse_gaps=False)
    folded = TimelineLayout.build(rows, cols, collapse_gaps=True)
    assert flat.x_max == 10_002
    assert folded.x_max < 100  # the gap shrank
    assert len(folded.gaps()) == 1
    assert np.all(np.diff(folded.x) > 0)  # order kept
    for row in range(7):  # each event's axis label is still its real time
        assert abs(folded.real_us(folded.x_of_row(row)) - (T0 + times[row] * 1e6)) < 1


def test_position_mode_and_nearest_row() -> None:
    cols = _columns([0, 0, 5, 9], ["a-1", "a-1", "b-1", "a-1"], ["A", "A", "B", "A"])
    rows = BranchRows.build("main", cols, None)
    lay = TimelineLayout.build(rows, cols, mode="position")
    assert lay.x.tolist() == [0, 1, 2, 3]
    assert lay.row_near(2.2) == 2
    assert lay.row_near(-5) == -1
    timed = TimelineLayout.build(rows, cols, mode="time", collapse_gaps=False)
    assert timed.row_near(0.1) == 1  # two events at t=0: the later row of the burst
    assert timed.row_near(8) == 3


def test_marks_are_bounded_by_pixels_not_events() -> None:
    n = 40_000
    rng = np.random.default_rng(1)
    times = np.sort(rng.uniform(0, 3600, n))
    streams = [f"s{i % 3}-1" for i in range(n)]
    types = [f"T{i % 5}" for i in range(n)]
    cols = _columns(times.tolist(), streams, types)
    rows = BranchRows.build("main", cols, None)
    lay = TimelineLayout.build(rows, cols, collapse_gaps=False)
    marks = lay.marks(lay.x_min, lay.x_max, 800)
    assert marks.x.shape[0] <= 800 * 3 * 5
    assert int(marks.count.sum()) == n  # every event is in some mark
    zoomed = lay.marks(100.0, 100.5, 800)  # few events: exact positions, one each
    inside = ((times >= 100.0) & (times <= 100.5)).sum()
    assert zoomed.x.shape[0] == inside and set(zoomed.count.tolist()) <= {1}


def test_lanes_of_many_streams_follow_the_stream_type_rule() -> None:
    from app.qt_timeline import _lanes_cache, _stream_lanes, stream_type

    names = ["order-42", "bank:Account", "abc", "a-b:c", "a:b-c", "-abc:x", "-:", "", "x"]
    names += ["ü-1", ":lead", "--x", "order-7", "bank:Other"]
    _lanes_cache.clear()
    per_stream, lanes = _stream_lanes(names)
    assert [lanes[i] for i in per_stream.tolist()] == [stream_type(n) for n in names]
    _lanes_cache.clear()
    with_newline = [*names, "odd\nname-1"]
    per_stream, lanes = _stream_lanes(with_newline)
    assert [lanes[i] for i in per_stream.tolist()] == [stream_type(n) for n in with_newline]
    _lanes_cache.clear()


@settings(max_examples=200, deadline=None)
@given(
    names=st.lists(
        st.text(alphabet="ab-:x\n", max_size=6).filter(lambda n: "\n" not in n), max_size=40
    )
)
def test_the_numpy_lanes_agree_with_the_stream_type_rule(names: list[str]) -> None:
    from app.qt_timeline import _ascii_lanes, stream_type

    fast = _ascii_lanes(names)
    if fast is None:  # empty, or a name with a leading separator: the other way takes it
        assert not names or any(n[:1] in ("-", ":") for n in names)
        return
    per_stream, lanes = fast
    assert [lanes[i] for i in per_stream.tolist()] == [stream_type(n) for n in names]
    assert lanes == list(dict.fromkeys(stream_type(n) for n in names))  # first seen first
