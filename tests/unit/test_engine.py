"""The replay engine's behaviour beyond the laws: errors, cancelling, views, reuse of work."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

import numpy as np
import pytest

from models.edits import Edit, EditKind
from models.event import Event
from replay_engine.branches import BranchSpec
from replay_engine.diff import Change, diff
from replay_engine.engine import Cancelled, Engine, KeyedState, ProjectionError
from replay_engine.generic import GenericProjection, Substate
from replay_engine.keyed import Grouping
from tests.unit.test_engine_reference import (
    RefBranch,
    Tally,
    make_log,
    ref_apply,
    ref_first_divergence,
    ref_states,
    source_seq,
)


class CountingGeneric(GenericProjection):
    """The generic projection, counting how many events it folds."""

    def __init__(self) -> None:
        self.applied = 0

    def apply_substate(self, substate: Substate, event: Event) -> Substate:
        self.applied += 1
        return super().apply_substate(substate, event)


class CountingTally(Tally):
    def __init__(self) -> None:
        self.applied = 0

    def apply(self, state: dict[str, Any], event: Event) -> dict[str, Any]:
        self.applied += 1
        return super().apply(state, event)


class Fragile(GenericProjection):
    """Fails on events of type ``Boom``, as buggy user code would."""

    def apply_substate(self, substate: Substate, event: Event) -> Substate:
        if event.type == "Boom":
            raise ValueError(f"cannot handle {event.data!r}")
        return super().apply_substate(substate, event)


class FragileTally(Tally):
    def apply(self, state: dict[str, Any], event: Event) -> dict[str, Any]:
        if event.type == "Boom":
            raise ZeroDivisionError("division by zero in the handler")
        return super().apply(state, event)


class ByAccount:
    """A keyed projection whose key is in the payload, not the stream."""

    name = "balances"

    def key(self, event: Event) -> str:
        return str(event.data["account"])

    def initial_substate(self) -> int:
        return 0

    def apply_substate(self, substate: int, event: Event) -> int:
        return substate + int(event.data["amount"])


def shop_log(n: int = 40, streams: int = 6, seed: int = 3) -> Any:
    rng = random.Random(seed)
    return make_log(
        [
            (
                f"s{rng.randrange(streams)}",
                rng.choice(["Opened", "Paid", "Closed"]),
                {"n": i, "amount": rng.randrange(100), "tag": rng.choice(["x", "y", None])},
            )
            for i in range(n)
        ]
    )


# --- states and views -----------------------------------------------------------------------


def test_keyed_state_is_a_lazy_read_only_mapping() -> None:
    log = make_log([("a", "T", {"x": 1}), ("b", "T", {"y": 2}), ("a", "U", {"x": None, "z": 3})])
    engine = Engine(log, GenericProjection())
    state = engine.state_at("main", 1)
    assert isinstance(state, KeyedState) and state.row == 1 and state.branch == "main"
    assert list(state) == ["a", "b"] and len(state) == 2
    assert "a" in state and "c" not in state and 3 not in state
    assert state.count("a") == 1 and state.count("nope") == 0
    with pytest.raises(KeyError):
        state["c"]
    assert state["a"] == {"version": 1, "last_type": "T", "data": {"x": 1}}
    assert engine.substate_at("main", 2, "a") == {"version": 2, "last_type": "U", "data": {"z": 3}}
    assert len(engine.state_at("main", -1)) == 0
    end = engine.end_state("main")
    with pytest.raises(TypeError):
        end["a"] = {}  # type: ignore[index]
    assert engine.materialize("main", 2) == dict(end)
    assert "row=1" in repr(state)


def test_row_bounds_are_checked_with_a_clear_message() -> None:
    engine = Engine(make_log([("a", "T", {})] * 3), GenericProjection())
    with pytest.raises(IndexError, match=r"row 3 is outside branch 'main' \(rows -1\.\.2\)"):
        engine.state_at("main", 3)
    with pytest.raises(IndexError, match=r"row -1 is outside branch 'main' \(rows 0\.\.2\)"):
        engine.event_at("main", -1)
    with pytest.raises(IndexError):
        engine.changes_at("main", 7)
    with pytest.raises(IndexError):
        engine.diff("main", 0, "main", -2)


def test_engine_checks_its_projection_and_settings() -> None:
    log = make_log([("a", "T", {})])
    with pytest.raises(TypeError, match="not a KeyedProjection"):
        Engine(log, Tally(), keyed=True)
    with pytest.raises(TypeError, match="not a Projection"):
        Engine(log, object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="snapshot_every"):
        Engine(log, Tally(), snapshot_every=0)
    assert Engine(log, GenericProjection()).is_keyed
    assert not Engine(log, GenericProjection(), keyed=False).is_keyed
    with pytest.raises(TypeError, match="keyed projection"):
        Engine(log, Tally()).substate_at("main", 0, "a")


def test_a_projection_keyed_by_payload_matches_a_full_fold() -> None:
    rng = random.Random(5)
    log = make_log(
        [
            ("ledger", "Moved", {"account": rng.choice("pqrs"), "amount": rng.randrange(9)})
            for _ in range(30)
        ]
    )
    engine = Engine(log, ByAccount(), stream_snapshot_every=2)
    ref = RefBranch("b", source_seq(log), -1)
    engine.add_branch(BranchSpec("b", "main"))
    for edit in (
        Edit(EditKind.DROP, target=4),
        Edit(EditKind.EDIT, target=7, changes={"data": {"account": "new", "amount": 50}}),
        Edit(EditKind.MOVE, target=20, after=None),
    ):
        engine.append_edit("b", edit)
        ref.append(edit)
    for name, seq in (("main", source_seq(log)), ("b", ref.current)):
        expected = ref_states(seq, ByAccount())
        for row in random.Random(1).sample(range(30), 30):
            assert engine.materialize(name, row) == expected[row]
            assert list(engine.materialize(name, row)) == list(expected[row])


def test_changes_at() -> None:
    log = make_log(
        [
            ("a", "Opened", {"x": 1, "l": [1]}),
            ("b", "Opened", {}),
            ("a", "Changed", {"x": 2, "l": [1, 2], "y": None}),
        ]
    )
    engine = Engine(log, GenericProjection())
    assert engine.changes_at("main", 1) == [
        Change(("b",), "added", None, {"version": 1, "last_type": "Opened", "data": {}})
    ]
    changes = engine.changes_at("main", 2)
    assert [c.dotted_path for c in changes] == [
        "a.version",
        "a.last_type",
        "a.data.x",
        "a.data.l[1]",
    ]
    assert changes[-1] == Change(("a", "data", "l", 1), "added", None, 2)
    engine.append_edit("main", Edit(EditKind.DROP, target=2))
    assert engine.changes_at("main", 2) == []
    tally = Engine(log, Tally())
    assert tally.changes_at("main", 0) == diff(
        Tally().initial_state(), Tally().apply(Tally().initial_state(), log.event(0))
    )


# --- projection errors --------------------------------------------------------------------


def boom_log() -> Any:
    return make_log(
        [
            ("a", "T", {"x": 1}),
            ("b", "T", {"y": 1}),
            ("a", "Boom", {"x": 2}),
            ("b", "T", {"y": 2}),
            ("a", "T", {"x": 3}),
        ]
    )


def test_a_failing_keyed_projection_stops_at_the_event_with_its_traceback() -> None:
    engine = Engine(boom_log(), Fragile())
    with pytest.raises(ProjectionError) as caught:
        engine.end_state("main")
    error = caught.value
    assert (error.key, error.row, error.branch, error.projection) == (2, 2, "main", "generic")
    assert isinstance(error.error, ValueError)
    assert "apply_substate" in error.traceback_text and "cannot handle" in error.traceback_text
    assert error.state_before == engine.materialize("main", 1)
    assert str(error) == (
        "projection 'generic' failed on event @2 (row 2 of branch 'main'): "
        "ValueError: cannot handle {'x': 2}"
    )
    # Seeks before the failure work; after it, only the failing key raises, never a partial.
    assert engine.materialize("main", 1)["a"]["data"] == {"x": 1}
    state = engine.state_at("main", 3)
    assert state["b"]["data"] == {"y": 2}
    with pytest.raises(ProjectionError) as again:
        state["a"]
    assert again.value.row == 2 and again.value.branch == "main"
    with pytest.raises(ProjectionError):
        engine.materialize("main", 4)
    # A branch that drops the bad event replays fine.
    engine.add_branch(BranchSpec("fixed", "main", 1, 0, (Edit(EditKind.DROP, target=2),)))
    with pytest.raises(ProjectionError):
        engine.end_state("main")
    fixed = Engine(boom_log(), GenericProjection())
    fixed.append_edit("main", Edit(EditKind.DROP, target=2))
    assert engine.materialize("fixed", 4) == fixed.materialize("main", 4)


def test_a_failing_keyed_projection_in_a_branch_names_the_branch() -> None:
    log = make_log([("a", "T", {"x": 1}), ("b", "T", {"y": 1}), ("a", "T", {"x": 2})])
    engine = Engine(log, Fragile())
    engine.add_branch(
        BranchSpec(
            "b",
            "main",
            0,
            0,
            (Edit(EditKind.INSERT, target=-1, after=1, event={"stream": "a", "type": "Boom"}),),
        )
    )
    assert engine.end_state("main")["a"]["data"] == {"x": 2}
    with pytest.raises(ProjectionError) as caught:
        engine.end_state("b")
    assert (caught.value.key, caught.value.row, caught.value.branch) == (-1, 2, "b")
    assert caught.value.state_before == engine.materialize("b", 1)


def test_a_failing_key_function_is_reported_at_its_event() -> None:
    log = make_log([("l", "T", {"account": "p", "amount": 1}), ("l", "T", {"amount": 2})])
    with pytest.raises(ProjectionError) as caught:
        Engine(log, ByAccount()).end_state("main")
    assert (caught.value.key, caught.value.row) == (1, 1)
    assert isinstance(caught.value.error, KeyError)


def test_a_failing_general_projection_stops_the_fold() -> None:
    engine = Engine(boom_log(), FragileTally(), snapshot_every=1)
    assert engine.state_at("main", 1)["count"] == 2
    with pytest.raises(ProjectionError) as caught:
        engine.state_at("main", 4)
    error = caught.value
    assert (error.key, error.row, error.branch, error.projection) == (2, 2, "main", "tally")
    assert isinstance(error.error, ZeroDivisionError)
    assert "ZeroDivisionError" in error.traceback_text
    assert error.state_before == engine.state_at("main", 1)
    for call in (
        lambda: engine.end_state("main"),
        lambda: engine.materialize("main", 2),
        lambda: engine.changes_at("main", 3),
        lambda: engine.diff("main", 0, "main", 3),
    ):
        with pytest.raises(ProjectionError):
            call()
    engine.add_branch(BranchSpec("ok", "main", 1, 0, (Edit(EditKind.DROP, target=2),)))
    assert engine.end_state("ok")["count"] == 4
    with pytest.raises(ProjectionError) as diverging:
        engine.first_divergence("ok", "main")
    assert diverging.value.branch == "main"


# --- cancelling -----------------------------------------------------------------------------


@pytest.mark.parametrize("projection", [GenericProjection, Tally])
def test_progress_reports_and_cancels_long_folds(projection: Any) -> None:
    log = shop_log(n=5000)
    calls: list[tuple[int, int]] = []
    engine = Engine(log, projection(), progress=lambda done, total: not calls.append((done, total)))
    expected = ref_states(source_seq(log), projection())[-1]
    assert engine.materialize("main", len(log) - 1) == expected
    assert calls and calls[-1] == (5000, 5000)
    assert all(0 < done <= total for done, total in calls)
    stopping = Engine(log, projection(), progress=lambda done, total: False)
    with pytest.raises(Cancelled, match="stopped after"):
        stopping.end_state("main")
    stopping.progress = None  # nothing half-done was kept
    assert stopping.materialize("main", len(log) - 1) == expected


# --- reuse of work ----------------------------------------------------------------------------


def test_a_keyed_branch_recomputes_only_the_streams_its_edits_touch() -> None:
    log = shop_log(n=3000, streams=300)
    projection = CountingGeneric()
    engine = Engine(log, projection)
    main_end = engine.end_state("main")
    assert projection.applied == 3000
    stream = log.event(1000).stream
    stream_length = sum(1 for i in range(3000) if log.event(i).stream == stream)
    projection.applied = 0
    engine.add_branch(BranchSpec("b", "main", 999, 0, (Edit(EditKind.DROP, target=1000),)))
    end = engine.end_state("b")
    assert projection.applied <= stream_length
    assert [name for name in main_end if main_end[name] != end.get(name)] == [stream]
    ref = ref_apply(source_seq(log), Edit(EditKind.DROP, target=1000))
    assert dict(end) == ref_states(ref, GenericProjection())[-1]


def test_a_seek_into_a_long_stream_folds_at_most_k_of_its_events() -> None:
    log = make_log([("long" if i % 3 else f"s{i}", "T", {"n": i}) for i in range(3000)])
    projection = CountingGeneric()
    engine = Engine(log, projection, stream_snapshot_every=16)
    engine.end_state("main")
    expected = ref_states(source_seq(log), GenericProjection())
    projection.applied = 0
    assert engine.substate_at("main", 10, "long") == expected[10]["long"]
    assert projection.applied <= 2000 + 16  # the first seek snapshots the whole stream, once
    for row in random.Random(2).sample(range(3000), 25):
        projection.applied = 0
        assert engine.substate_at("main", row, "long") == expected[row]["long"]
        engine.changes_at("main", row)
        assert projection.applied <= 2 * 16


def test_a_general_branch_reuses_its_parents_snapshots_up_to_the_first_change() -> None:
    log = shop_log(n=4000)
    projection = CountingTally()
    engine = Engine(log, projection, snapshot_every=100)
    engine.end_state("main")
    projection.applied = 0
    engine.add_branch(BranchSpec("b", "main", 3899, 0, (Edit(EditKind.DROP, target=3950),)))
    end = engine.end_state("b")
    assert projection.applied <= 100 + 100
    ref = ref_apply(source_seq(log), Edit(EditKind.DROP, target=3950))
    assert end == ref_states(ref, Tally())[-1]
    projection.applied = 0
    engine.state_at("b", 3990)  # stepping back within the branch: a snapshot, then a few events
    engine.state_at("b", 3991)
    assert projection.applied <= 100 + 1


def test_undo_in_a_general_branch_forgets_only_later_snapshots() -> None:
    log = shop_log(n=2000)
    projection = CountingTally()
    engine = Engine(log, projection, snapshot_every=50)
    engine.end_state("main")
    engine.append_edit("main", Edit(EditKind.DROP, target=1500))
    assert (
        engine.end_state("main")
        == ref_states(ref_apply(source_seq(log), Edit(EditKind.DROP, target=1500)), Tally())[-1]
    )
    projection.applied = 0
    engine.append_edit("main", Edit(EditKind.UNDO))
    assert engine.end_state("main") == ref_states(source_seq(log), Tally())[-1]
    assert projection.applied <= 550


# --- comparing branches ------------------------------------------------------------------------


def test_first_divergence_ignores_edits_without_effect() -> None:
    log = make_log(
        [
            ("acct", "Opened", {"balance": 0}),
            ("acct", "Charged", {"balance": -5}),
            ("acct", "Charged", {"balance": -5}),
            ("other", "Opened", {}),
            ("acct", "Charged", {"balance": -9}),
        ],
        versions=[1, 2, 2, 1, 3],
    )
    for projection in (GenericProjection(), Tally()):
        engine = Engine(log, projection)
        # Dropping the redelivered duplicate changes nothing while it has no effect...
        engine.add_branch(BranchSpec("dedup", "main", 1, 0, (Edit(EditKind.DROP, target=2),)))
        engine.add_branch(BranchSpec("undo", "main", 0, 0, (Edit(EditKind.DROP, target=1),)))
        for name in ("dedup", "undo"):
            ref = RefBranch(name, source_seq(log), -1)
            ref.append(engine.branch(name).edits[0])
            assert engine.first_divergence("main", name) == ref_first_divergence(
                source_seq(log), ref.current, projection
            )
        assert engine.first_divergence("main", "undo") == 1
    generic = Engine(log, GenericProjection())
    generic.add_branch(BranchSpec("dedup", "main", 1, 0, (Edit(EditKind.DROP, target=2),)))
    assert generic.first_divergence("main", "dedup") is None
    assert generic.diff("main", 4, "dedup", 4) == []


def test_first_divergence_with_an_inserted_event_reports_the_insert() -> None:
    log = shop_log(n=20)
    engine = Engine(log, GenericProjection())
    engine.add_branch(
        BranchSpec(
            "b",
            "main",
            5,
            0,
            (Edit(EditKind.INSERT, target=-1, after=5, event={"stream": "new", "type": "Added"}),),
        )
    )
    assert engine.first_divergence("main", "b") == -1
    assert engine.first_divergence("b", "main") == -1
    alignment = engine.align("main", "b")
    assert len(alignment) == 20
    assert alignment.rows_b.tolist() == list(range(6)) + list(range(7, 21))
    changes = engine.diff("main", 19, "b", 20)
    assert changes == [
        Change(("new",), "added", None, {"version": 1, "last_type": "Added", "data": None})
    ]


class BulkFragile(Fragile):
    """A bulk fold that raises somewhere inside a run, without saying on which event."""

    def fold_events(self, substates: dict[str, Any], events: Iterable[Event]) -> None:
        for event in events:
            if event.type == "Boom":
                raise RuntimeError("somewhere in this run")
            old = substates.get(event.stream)
            substates[event.stream] = self.apply_substate(
                self.initial_substate() if old is None else old, event
            )


def test_when_a_bulk_fold_raises_the_engine_finds_the_failing_event() -> None:
    engine = Engine(boom_log(), BulkFragile())
    with pytest.raises(ProjectionError) as caught:
        engine.end_state("main")
    assert (caught.value.key, caught.value.row) == (2, 2)
    assert isinstance(caught.value.error, ValueError)


def test_grouping_by_key_is_a_stable_sort_even_beyond_16_bit_codes() -> None:
    rng = np.random.default_rng(4)
    for high in (300, 70_000, 2**20):
        codes = rng.integers(0, high, 5000).astype(np.int32)
        grouping = Grouping.of(codes, high)
        assert grouping.order.tolist() == np.argsort(codes, kind="stable").tolist()
        assert grouping.rows(int(codes[0])).tolist() == np.flatnonzero(codes == codes[0]).tolist()
