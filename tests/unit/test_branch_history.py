"""A branch's undo history, batches undone as one step, and the branch panel's operations
(rename, note, archive) — kept in a real workspace and found again on reopening."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from app.errors import UsageError
from app.history import EditGroup, current_point, history, row_marks, stacks, steps_to
from app.session import Session, open_session
from models.edits import Edit, EditKind
from models.event import Event
from models.log import MemoryLog
from replay_engine.engine import Engine
from replay_engine.generic import GenericProjection


def _session(n: int = 30) -> Session:
    log = MemoryLog(
        [
            Event(key=i, pos=i, event_id=f"e{i}", stream=f"s-{i % 4}", type="T", data={"i": i})
            for i in range(n)
        ]
    )
    return Session(name="t", log=log, engine=Engine(log, GenericProjection()))


def _log(path: Path, n: int = 40) -> Path:
    lines = [
        orjson.dumps({"id": f"e{i}", "stream": f"s-{i % 5}", "type": "T", "data": {"i": i}})
        for i in range(n)
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


D, U, R = EditKind.DROP, EditKind.UNDO, EditKind.REDO


def test_the_history_is_the_edits_in_effect_then_what_redo_brings_back() -> None:
    edits = [Edit(D, 1), Edit(D, 2), Edit(D, 3), Edit(U), Edit(U), Edit(R)]
    assert stacks(edits) == ([0, 1], [2])
    entries = history(edits)
    assert [e.label for e in entries] == ["Drop @1", "Drop @2", "Drop @3"]
    assert [e.applied for e in entries] == [True, True, False]
    assert current_point(entries) == 2
    assert steps_to(entries, 0) == (U, 2)
    assert steps_to(entries, 3) == (R, 1)
    # an edit after undos discards what could have been redone
    edits += [Edit(U), Edit(D, 9)]
    assert [e.label for e in history(edits)] == ["Drop @1", "Drop @9"]


def test_a_batch_is_one_entry_and_one_undo_step() -> None:
    s = _session()
    s.create_branch("b", at="@4")
    ops = s.branch_ops("b")
    ops.drop("@5")
    ops.drop_batch([20, 21, 22, 23], "Revert to @19")
    ops.drop("@6")
    entries = history(s.engine.branch("b").edits, s.edit_groups("b"))
    assert [(e.label, len(e.indices)) for e in entries] == [
        ("Drop @5", 1),
        ("Revert to @19", 4),
        ("Drop @6", 1),
    ]
    ops.undo_step()
    ops.undo_step()  # the whole batch at once
    seq = s.engine.sequence("b")
    assert seq.dropped.tolist().count(True) == 1 and bool(seq.dropped[5])
    ops.redo_step()
    assert s.engine.sequence("b").dropped[20:24].all()
    ops.go_to_history(0)
    assert not s.engine.sequence("b").dropped.any()
    ops.go_to_history(3)
    assert s.engine.sequence("b").dropped.tolist().count(True) == 6
    with pytest.raises(UsageError, match=r"points 0\.\.3"):
        ops.go_to_history(4)


def test_marks_follow_the_branch_and_its_ancestors() -> None:
    s = _session()
    s.create_branch("a", at="@2")
    a = s.branch_ops("a")
    a.drop("@3")
    a.move("@10", "@12")
    a.edit_fields("@4", {"type": "Renamed"})
    a.insert("@5", {"stream": "new-1", "type": "Added", "data": {}})
    s.create_branch("b", parent="a", at="@20")
    s.branch_ops("b").drop("@25")
    marks = row_marks(s.engine, "b")
    assert marks.dropped == {3, 25}
    assert marks.moved == {10}
    assert marks.edited == {4}
    assert len(marks.inserted) == 1
    assert [(name, parent) for name, parent, _ in marks.forks] == [("b", "a"), ("a", "main")]
    # a's edits after b forked are not b's
    a.drop("@8")
    assert 8 not in row_marks(s.engine, "b").dropped


def test_rename_note_and_archive_in_memory() -> None:
    s = _session()
    s.create_branch("a", at="@2")
    s.branch_ops("a").drop("@3")
    s.create_branch("child", parent="a", at="@5")
    s.branch_ops("child").drop("@7")
    s.rename_branch("a", "fix")
    assert s.engine.branches() == ["main", "fix", "child"]
    assert s.engine.branch("child").parent == "fix"
    assert bool(s.engine.sequence("child").dropped[3]) and bool(s.engine.sequence("fix").dropped[3])
    with pytest.raises(UsageError, match="already exists"):
        s.rename_branch("child", "fix")
    with pytest.raises(UsageError, match="main is the log itself"):
        s.rename_branch("main", "x")
    s.set_branch_note("fix", "drop the duplicate")
    with pytest.raises(UsageError, match="archive those first"):
        s.archive_branch("fix")
    s.archive_branch("child")
    s.archive_branch("fix")
    meta = s.branch_meta()
    assert meta["fix"].note == "drop the duplicate" and meta["fix"].archived
    s.archive_branch("fix", archived=False)
    assert not s.branch_meta()["fix"].archived


def test_everything_survives_reopening_the_workspace(tmp_path: Path) -> None:
    log = _log(tmp_path / "log.jsonl")
    ws = tmp_path / "ws.sqlite"
    s = open_session(log, workspace=ws)
    s.create_branch("a", at="@2")
    ops = s.branch_ops("a")
    ops.drop("@3")
    ops.drop_batch([30, 31, 32], "Revert to @29")
    ops.undo_step()
    s.create_branch("child", parent="a", at="@10")
    s.rename_branch("a", "fix")
    s.set_branch_note("fix", "the fix")
    s.archive_branch("child")
    before = s.engine.branch("fix")
    s.close()

    again = open_session(log, workspace=ws)
    try:
        assert again.engine.branches() == ["main", "fix", "child"]
        info = again.engine.branch("fix")
        assert [e.kind for e in info.edits] == [e.kind for e in before.edits]
        assert info.in_effect == before.in_effect and info.can_redo
        assert again.edit_groups("fix") == [EditGroup(1, 3, "Revert to @29")]
        entries = history(info.edits, again.edit_groups("fix"))
        assert [(e.label, e.applied) for e in entries] == [
            ("Drop @3", True),
            ("Revert to @29", False),
        ]
        meta = again.branch_meta()
        assert meta["fix"].note == "the fix" and not meta["fix"].archived
        assert meta["child"].archived
        again.branch_ops("fix").redo_step()
        assert again.engine.sequence("fix").dropped[30:33].all()
    finally:
        again.close()
