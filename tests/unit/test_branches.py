"""Branches and edits: validation messages, placement, the fork-point rule, undo and redo."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import numpy as np
import pytest

from models.edits import Edit, EditKind
from models.event import datetime_to_us, format_key
from replay_engine.branches import BranchError, BranchSpec, EditError
from replay_engine.engine import Engine
from replay_engine.generic import GenericProjection
from tests.unit.test_engine_reference import make_log

STREAMS = ["a", "b", "a", "c", "b", "a", "c", "b"]


@pytest.fixture
def engine() -> Engine:
    log = make_log([(s, "T", {"n": i}) for i, s in enumerate(STREAMS)])
    return Engine(log, GenericProjection())


def drop(key: int) -> Edit:
    return Edit(EditKind.DROP, target=key)


def keys(engine: Engine, branch: str) -> list[int]:
    return engine.sequence(branch).keys.tolist()


def insert(key: int, after: int | None, **event: object) -> Edit:
    return Edit(
        EditKind.INSERT, target=key, after=after, event={"stream": "z", "type": "Added", **event}
    )


# --- every EditError message ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (drop(99), "cannot drop @99: no such event in branch 'main'"),
        (Edit(EditKind.RESTORE, target=2), "cannot restore @2: it is not dropped in branch 'main'"),
        (Edit(EditKind.MOVE, target=3, after=3), "cannot move @3 after itself"),
        (
            Edit(EditKind.MOVE, target=3, after=42),
            "cannot move @3 after @42: no such event in branch 'main'",
        ),
        (
            Edit(EditKind.MOVE, target=-7, after=1),
            "cannot move @+7: no such event in branch 'main'",
        ),
        (Edit(EditKind.EDIT, target=1), "cannot edit @1: the edit changes nothing"),
        (
            Edit(EditKind.EDIT, target=1, changes={"colour": "red"}),
            "cannot edit @1: unknown field colour",
        ),
        (
            Edit(EditKind.EDIT, target=1, changes={"stream": 5}),
            "cannot edit @1: stream must be a non-empty string, not 5",
        ),
        (
            Edit(EditKind.EDIT, target=1, changes={"version": True}),
            "cannot edit @1: version must be an integer or null, not True",
        ),
        (
            Edit(EditKind.EDIT, target=1, changes={"metadata": [1]}),
            "cannot edit @1: metadata must be a JSON object",
        ),
        (
            Edit(EditKind.EDIT, target=1, changes={"causation_id": 3}),
            "cannot edit @1: causation_id must be a string or null",
        ),
        (
            Edit(EditKind.EDIT, target=1, changes={"recorded_at": "yesterday"}),
            "cannot edit @1: recorded_at must be an ISO 8601 time",
        ),
        (Edit(EditKind.DROP), "cannot drop in branch 'main': the edit names no event"),
        (insert(3, None), "inserted events need a negative key"),
        (Edit(EditKind.INSERT, target=-1), "cannot insert @+1: the edit carries no event"),
        (
            Edit(EditKind.INSERT, target=-1, event={"stream": "z"}),
            "cannot insert @+1: the event needs type",
        ),
        (
            Edit(EditKind.INSERT, target=-1, event={"data": {}}),
            "cannot insert @+1: the event needs stream and type",
        ),
        (insert(-1, 77), "cannot insert @+1 after @77: no such event in branch 'main'"),
        (insert(-1, None, pos=3), "cannot insert @+1: unknown field pos"),
        (Edit(EditKind.UNDO), "nothing to undo in branch 'main'"),
        (Edit(EditKind.REDO), "nothing to redo in branch 'main'"),
    ],
)
def test_invalid_edits_raise_a_clear_edit_error_and_record_nothing(
    engine: Engine, edit: Edit, message: str
) -> None:
    before = keys(engine, "main")
    with pytest.raises(EditError, match=re.escape(message)):
        engine.append_edit("main", edit)
    assert engine.branch("main").edits == ()
    assert keys(engine, "main") == before


def test_drop_of_a_dropped_event_and_insert_of_a_used_key(engine: Engine) -> None:
    engine.append_edit("main", drop(4))
    with pytest.raises(EditError, match=re.escape("cannot drop @4: it is already dropped")):
        engine.append_edit("main", drop(4))
    engine.append_edit("main", insert(-1, 2))
    with pytest.raises(EditError, match=re.escape("cannot insert @+1: branch 'main' already has")):
        engine.append_edit("main", insert(-1, 5))
    assert len(engine.branch("main").edits) == 2


def test_redo_after_a_new_edit_is_refused(engine: Engine) -> None:
    engine.append_edit("main", drop(1))
    engine.append_edit("main", Edit(EditKind.UNDO))
    engine.append_edit("main", drop(2))
    with pytest.raises(EditError, match="an edit was made after the last undo"):
        engine.append_edit("main", Edit(EditKind.REDO))


# --- placement ------------------------------------------------------------------------------


def test_insert_and_move_placement(engine: Engine) -> None:
    engine.append_edit("main", insert(-1, None))
    assert keys(engine, "main") == [-1, 0, 1, 2, 3, 4, 5, 6, 7]
    engine.append_edit("main", insert(-2, -1))
    engine.append_edit("main", insert(-3, 7))
    assert keys(engine, "main") == [-1, -2, 0, 1, 2, 3, 4, 5, 6, 7, -3]
    engine.append_edit("main", Edit(EditKind.MOVE, target=5, after=None))
    engine.append_edit("main", Edit(EditKind.MOVE, target=-1, after=3))
    assert keys(engine, "main") == [5, -2, 0, 1, 2, 3, -1, 4, 6, 7, -3]
    engine.append_edit("main", Edit(EditKind.MOVE, target=0, after=7))
    assert keys(engine, "main") == [5, -2, 1, 2, 3, -1, 4, 6, 7, 0, -3]
    seq = engine.sequence("main")
    assert seq.inserted == {-1, -2, -3} and len(seq) == 11
    for row, key in enumerate(seq.keys.tolist()):
        assert engine.row_of("main", key) == row
        assert engine.key_at("main", row) == key
    assert engine.row_of("main", -9) is None and engine.row_of("main", 8) is None


def test_a_moved_event_keeps_its_dropped_mark(engine: Engine) -> None:
    engine.append_edit("main", drop(2))
    engine.append_edit("main", Edit(EditKind.MOVE, target=2, after=6))
    seq = engine.sequence("main")
    assert seq.keys.tolist() == [0, 1, 3, 4, 5, 6, 2, 7]
    assert seq.dropped.tolist() == [k == 2 for k in seq.keys.tolist()]
    assert seq.effective_count == 7
    engine.append_edit("main", Edit(EditKind.RESTORE, target=2))
    assert not engine.is_dropped("main", engine.row_of("main", 2) or 0)


def test_inserted_event_is_built_from_the_edit_json(engine: Engine) -> None:
    recorded = engine.append_edit(
        "main",
        Edit(
            EditKind.INSERT,
            target=-1,
            after=1,
            event={
                "stream": "acct",
                "type": "Refunded",
                "data": {"amount": 5},
                "recorded_at": "2024-01-31T12:00:00Z",
                "processed_at": "2024-01-31T12:00:01+00:00",
                "version": 3,
                "correlation_id": "corr",
            },
        ),
    )
    assert recorded.event is not None
    generated = recorded.event["event_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    event = engine.event_at("main", 2)
    assert (event.key, event.pos, event.stream, event.type) == (-1, -1, "acct", "Refunded")
    assert event.event_id == generated and event.version == 3 and event.metadata == {}
    assert event.data == {"amount": 5} and event.correlation_id == "corr"
    assert event.recorded_us == datetime_to_us(datetime(2024, 1, 31, 12, tzinfo=UTC))
    assert event.processed_us == datetime_to_us(datetime(2024, 1, 31, 12, 0, 1, tzinfo=UTC))
    # Re-deriving (undo, redo) gives the very same event, id included.
    engine.append_edit("main", Edit(EditKind.UNDO))
    assert engine.row_of("main", -1) is None
    engine.append_edit("main", Edit(EditKind.REDO))
    assert engine.event_at("main", 2) == event
    assert engine.branch("main").edits[0] == recorded


def test_edits_make_new_versions_and_keep_the_original(engine: Engine) -> None:
    engine.append_edit("main", Edit(EditKind.EDIT, target=3, changes={"data": {"n": 30}}))
    engine.append_edit("main", Edit(EditKind.EDIT, target=3, changes={"type": "Fixed"}))
    edited, original = engine.event_at("main", 3), engine.original_event("main", 3)
    assert (edited.type, edited.data) == ("Fixed", {"n": 30})
    assert original == engine.log.event(3)
    assert engine.sequence("main").edited == {3}
    engine.append_edit("main", insert(-1, 0))
    engine.append_edit("main", Edit(EditKind.EDIT, target=-1, changes={"data": {"v": 2}}))
    assert engine.original_event("main", 1).data is None
    assert engine.event_at("main", 1).data == {"v": 2}
    assert engine.sequence("main").edited == {3, -1}


def test_new_insert_key_is_unused_across_branches(engine: Engine) -> None:
    assert engine.new_insert_key() == -1
    engine.append_edit("main", insert(-1, 0))
    engine.add_branch(BranchSpec("b", "main", None, 1))
    engine.append_edit("b", insert(engine.new_insert_key(), 0))
    assert engine.new_insert_key() == -3
    assert format_key(engine.new_insert_key()) == "@+3"


# --- the fork point ---------------------------------------------------------------------------


def test_edits_may_only_touch_events_after_the_fork_point(engine: Engine) -> None:
    engine.add_branch(BranchSpec("fix", "main", fork_at=3))
    rule = "branch 'fix' forks after @3"
    for edit in (
        drop(2),
        drop(3),
        Edit(EditKind.EDIT, target=0, changes={"type": "X"}),
        Edit(EditKind.MOVE, target=1, after=5),
    ):
        with pytest.raises(EditError, match=re.escape(rule)):
            engine.append_edit("fix", edit)
    with pytest.raises(EditError, match=re.escape("cannot move @5 after @1: " + rule)):
        engine.append_edit("fix", Edit(EditKind.MOVE, target=5, after=1))
    with pytest.raises(EditError, match=re.escape("cannot insert @+1 at the start: " + rule)):
        engine.append_edit("fix", insert(-1, None))
    engine.append_edit("fix", insert(-1, 3))  # right after the fork point is fine
    engine.append_edit("fix", drop(4))
    engine.append_edit("fix", Edit(EditKind.MOVE, target=7, after=3))
    engine.append_edit("fix", Edit(EditKind.MOVE, target=-1, after=7))
    assert keys(engine, "fix") == [0, 1, 2, 3, 7, -1, 4, 5, 6]
    assert keys(engine, "fix")[:4] == keys(engine, "main")[:4]


def test_the_fork_rule_uses_positions_in_the_parent_display_sequence(engine: Engine) -> None:
    engine.append_edit("main", Edit(EditKind.MOVE, target=7, after=None))  # @7 is now row 0
    engine.add_branch(BranchSpec("fix", "main", fork_at=2, parent_edit_count=1))
    with pytest.raises(EditError, match=re.escape("cannot drop @7: branch 'fix' forks after @2")):
        engine.append_edit("fix", drop(7))
    engine.append_edit("fix", drop(3))


def test_a_parents_later_edits_do_not_reach_the_child(engine: Engine) -> None:
    engine.append_edit("main", drop(1))
    engine.append_edit("main", drop(2))
    engine.append_edit("main", Edit(EditKind.UNDO))
    engine.add_branch(BranchSpec("one", "main", None, 1))
    engine.add_branch(BranchSpec("undone", "main", None, 3))
    engine.append_edit("main", drop(6))
    for name in ("one", "undone"):
        seq = engine.sequence(name)
        assert [k for k, d in zip(seq.keys.tolist(), seq.dropped.tolist(), strict=True) if d] == [1]
    main = engine.sequence("main")
    assert main.dropped.tolist() == [k in (1, 6) for k in range(8)]


def test_branch_info_tracks_the_edits_in_effect(engine: Engine) -> None:
    engine.add_branch(BranchSpec("b", "main"))
    assert engine.branch("b").in_effect == () and not engine.branch("b").can_undo
    engine.append_edit("b", drop(1))
    engine.append_edit("b", drop(2))
    engine.append_edit("b", Edit(EditKind.UNDO))
    info = engine.branch("b")
    assert info.in_effect == (0,) and info.can_undo and info.can_redo
    assert [e.kind for e in info.edits] == [EditKind.DROP, EditKind.DROP, EditKind.UNDO]
    engine.append_edit("b", Edit(EditKind.UNDO))
    engine.append_edit("b", Edit(EditKind.REDO))
    engine.append_edit("b", Edit(EditKind.REDO))
    info = engine.branch("b")
    assert info.in_effect == (0, 1) and not info.can_redo
    assert engine.sequence("b").effective_count == 6


# --- creating and removing branches -----------------------------------------------------------


def test_add_branch_errors(engine: Engine) -> None:
    with pytest.raises(BranchError, match="already exists"):
        engine.add_branch(BranchSpec("main", "main"))
    with pytest.raises(BranchError, match="no parent 'nope'"):
        engine.add_branch(BranchSpec("x", "nope"))
    with pytest.raises(BranchError, match="needs a name"):
        engine.add_branch(BranchSpec(" ", "main"))
    with pytest.raises(BranchError, match=re.escape("parent 'main' has 0 edit(s), not 2")):
        engine.add_branch(BranchSpec("x", "main", parent_edit_count=2))
    with pytest.raises(BranchError, match=re.escape("cannot fork branch 'x' after @40")):
        engine.add_branch(BranchSpec("x", "main", fork_at=40))
    with pytest.raises(BranchError, match="no branch named 'x'"):
        engine.branch("x")
    assert engine.branches() == ["main"]


def test_add_branch_replays_its_edits_and_refuses_a_bad_one(engine: Engine) -> None:
    with pytest.raises(EditError, match=re.escape("edit 1 of branch 'x': cannot drop @2: it is")):
        engine.add_branch(BranchSpec("x", "main", None, 0, (drop(2), drop(2))))
    assert engine.branches() == ["main"]
    info = engine.add_branch(BranchSpec("x", "main", 1, 0, (drop(2), insert(-1, 2))))
    assert info.in_effect == (0, 1)
    assert keys(engine, "x") == [0, 1, 2, -1, 3, 4, 5, 6, 7]


def test_remove_branch(engine: Engine) -> None:
    engine.add_branch(BranchSpec("b", "main"))
    engine.add_branch(BranchSpec("c", "b"))
    with pytest.raises(BranchError, match="main branch cannot be removed"):
        engine.remove_branch("main")
    with pytest.raises(BranchError, match="child branches: c"):
        engine.remove_branch("b")
    engine.remove_branch("c")
    engine.remove_branch("b")
    assert engine.branches() == ["main"]
    engine.add_branch(BranchSpec("b", "main", None, 0, (drop(0),)))
    assert engine.sequence("b").dropped[0]


def test_sequences_are_read_only_and_a_drop_copies_no_keys() -> None:
    log = make_log([(f"s{i % 50}", "T", {"n": i}) for i in range(20_000)])
    engine = Engine(log, GenericProjection())
    engine.add_branch(BranchSpec("b", "main", None, 0, (drop(10_000),)))
    main, b = engine.sequence("main"), engine.sequence("b")
    assert np.shares_memory(main.keys, b.keys)  # a drop does not rebuild the order
    with pytest.raises(ValueError):
        b.keys[0] = 5
    with pytest.raises(ValueError):
        b.dropped[0] = True
