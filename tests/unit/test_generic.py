"""The generic projection: merged payloads, versions and last types, per stream."""

from __future__ import annotations

import copy

import hypothesis.strategies as st
from hypothesis import given, settings

from models.edits import Edit, EditKind
from models.event import Event
from replay_engine.engine import Engine
from replay_engine.generic import GenericProjection
from replay_engine.projection import KeyedProjection, Projection, is_keyed_by_stream
from tests.unit.test_engine_reference import make_log


def event(stream: str, type_: str, data: object, version: int | None = None) -> Event:
    return Event(key=0, pos=0, event_id="e", stream=stream, type=type_, data=data, version=version)


def test_it_is_both_a_keyed_and_a_plain_projection_keyed_by_stream() -> None:
    projection = GenericProjection()
    assert isinstance(projection, KeyedProjection) and isinstance(projection, Projection)
    assert is_keyed_by_stream(projection) and not is_keyed_by_stream(object())
    assert projection.name == "generic"
    assert projection.key(event("acct-9", "T", {})) == "acct-9"


def test_versions_count_up_unless_the_event_carries_one() -> None:
    p = GenericProjection()
    s = p.initial_substate()
    assert s["version"] == 0
    s = p.apply_substate(s, event("a", "Opened", {"x": 1}))
    assert (s["version"], s["last_type"]) == (1, "Opened")
    s = p.apply_substate(s, event("a", "Moved", {"x": 2}, version=7))
    assert s["version"] == 7
    s = p.apply_substate(s, event("a", "Moved", {}))
    assert (s["version"], s["last_type"], s["data"]) == (8, "Moved", {"x": 2})


def test_payloads_merge_and_a_non_object_replaces_data() -> None:
    p = GenericProjection()
    s = p.apply_substate(p.initial_substate(), event("a", "T", {"x": 1, "nested": {"k": 1}}))
    s = p.apply_substate(s, event("a", "T", {"nested": {"k": None, "j": 2}, "y": [1]}))
    assert s["data"] == {"x": 1, "nested": {"j": 2}, "y": [1]}
    replaced = p.apply_substate(s, event("a", "T", [1, 2]))
    assert replaced["data"] == [1, 2]
    assert p.apply_substate(replaced, event("a", "T", {"z": None}))["data"] == {}
    assert p.apply_substate(s, event("a", "T", None))["data"] is None
    assert s["data"] == {"x": 1, "nested": {"j": 2}, "y": [1]}  # earlier states untouched


def test_the_full_state_is_an_object_keyed_by_stream_in_order_of_first_appearance() -> None:
    log = make_log([("b", "T", {"v": 1}), ("a", "T", {"v": 2}), ("b", "U", {"w": 3})])
    plain = GenericProjection()
    folded = plain.initial_state()
    for i in range(len(log)):
        folded = plain.apply(folded, log.event(i))
    engine = Engine(log, GenericProjection())
    end = engine.end_state("main")
    assert list(end) == ["b", "a"] and dict(end) == folded
    assert end["b"] == {"version": 2, "last_type": "U", "data": {"v": 1, "w": 3}}
    engine.append_edit("main", Edit(EditKind.DROP, target=0))  # b now first appears after a
    assert list(engine.end_state("main")) == ["a", "b"]
    assert engine.end_state("main")["b"] == {"version": 1, "last_type": "U", "data": {"w": 3}}


EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from(["T", "U"]),
        st.none() | st.integers(0, 5),
        st.recursive(
            st.none() | st.integers(0, 3) | st.text("x", max_size=1),
            lambda inner: (
                st.lists(inner, max_size=2)
                | st.dictionaries(st.sampled_from(["p", "q"]), inner, max_size=2)
            ),
            max_leaves=6,
        ),
    ),
    max_size=20,
)


@settings(max_examples=300, deadline=None)
@given(EVENTS, st.integers(1, 5))
def test_the_bulk_fold_equals_one_apply_per_event_and_mutates_no_payload(
    specs: list[tuple[str, str, int | None, object]], chunk: int
) -> None:
    events = [
        Event(key=i, pos=i, event_id=f"e{i}", stream=s, type=t, version=v, data=d)
        for i, (s, t, v, d) in enumerate(specs)
    ]
    payloads = copy.deepcopy([e.data for e in events])
    p = GenericProjection()
    expected: dict[str, object] = {}
    for e in events:
        old = expected.get(e.stream)
        expected[e.stream] = p.apply_substate(p.initial_substate() if old is None else old, e)
    folded: dict[str, object] = {}
    for start in range(0, len(events), chunk):  # in runs, as the engine calls it
        p.fold_events(folded, events[start : start + chunk])
    assert folded == expected and list(folded) == list(expected)
    assert [e.data for e in events] == payloads
