"""The store's contract, written once and run on every backend (SQLite always; PostgreSQL when
REWIND_TEST_PG_URL is set)."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.edits import Edit, EditKind
from models.event import Event
from models.log import NA, Columns, IdColumn
from models.problems import Problem, Severity
from models.workspace import SourceStatus, Workspace, WorkspaceError, merge_columns
from models.workspace_change import classify_change
from models.workspace_log import WorkspaceLog
from tests.unit.test_workspace_support import (
    CHUNK,
    decode,
    facts_for,
    feed,
    import_log,
    make_events,
    open_target,
    record_of,
    workspace_targets,
    write_log,
)


@pytest.fixture(params=workspace_targets())
def ws(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    for target in open_target(request.param, tmp_path):
        with Workspace.open(target) as workspace:
            yield workspace


def assert_columns_equal(actual: Columns, expected: Columns) -> None:
    for name in ("stream_codes", "type_codes", "versions", "recorded_us", "processed_us"):
        a, e = getattr(actual, name), getattr(expected, name)
        assert a.dtype == e.dtype, name
        assert np.array_equal(a, e), name
    assert isinstance(actual.event_ids, IdColumn)
    assert actual.event_ids.tolist() == expected.event_ids.tolist()
    assert actual.stream_names == expected.stream_names
    assert actual.type_names == expected.type_names


# ------------------------------------------------------------------------------ columns


@pytest.mark.parametrize("piecewise", [False, True])
def test_columns_round_trip_exactly(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, piecewise: bool
) -> None:
    if piecewise:  # (SQLite: big column blobs go in through incremental blob I/O)
        import models.workspace_db as workspace_db
        import models.workspace_import as workspace_import

        monkeypatch.setattr(workspace_import, "STREAM_COLUMNS_ABOVE", 64)
        monkeypatch.setattr(workspace_db, "_STREAM_PIECE", 77)
    events = make_events(200)
    source = import_log(ws, tmp_path / "log.jsonl", events)
    stored = ws.load_columns(source.id)
    expected = Columns.from_events(events)
    assert_columns_equal(stored, expected)
    assert (stored.versions == NA).sum() == sum(e.version is None for e in events) > 0
    assert "счёт-1" in stored.stream_names and "Überwiesen" in stored.type_names


@pytest.mark.parametrize(
    "ids",
    [
        ["line\nbreak", "plain", ""],  # a newline inside an id: stored as a JSON list
        ["", "", "x"],
        ["lone \udcff surrogate", "ok"],  # what lenient decoding can produce
    ],
)
def test_awkward_event_ids_round_trip(ws: Workspace, tmp_path: Path, ids: list[str]) -> None:
    events = [
        Event(key=i, pos=i, event_id=event_id, stream="s\udcfe" if i else "s", type="t")
        for i, event_id in enumerate(ids)
    ]
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"{}\n" * len(ids))
    with ws.begin_import(path) as writer:
        writer.add_chunk(0, [b"{}"] * len(ids))
        source = writer.finish(facts_for(path, events, len(ids)))
    assert_columns_equal(ws.load_columns(source.id), Columns.from_events(events))


def test_an_empty_log_imports_and_reads_as_empty(ws: Workspace, tmp_path: Path) -> None:
    source = import_log(ws, tmp_path / "empty.jsonl", [])
    log = WorkspaceLog(ws, source.id, decode)
    assert len(log) == 0 and log.events(0, 10) == [] and list(log.iter_events()) == []
    assert_columns_equal(log.columns, Columns.empty())


# ------------------------------------------------------------------------------ reading


def test_workspace_log_reads_what_was_imported(ws: Workspace, tmp_path: Path) -> None:
    events = make_events(203)  # the last chunk is partial
    source = import_log(ws, tmp_path / "log.jsonl", events)
    assert source.ready and source.event_count == 203 and source.generation == 1
    log = WorkspaceLog(ws, source.id, decode, cache_chunks=4, batch_chunks=3)
    assert len(log) == 203
    assert log.events(0, 203) == events  # more chunks than the cache holds: streamed
    assert log.events(30, 70) == events[30:70]
    assert log.events(-5, 2) == events[:2] and log.events(200, 999) == events[200:]
    assert log.events(50, 50) == []
    assert log.event(202) == events[202] and log.event(0) == events[0]
    with pytest.raises(IndexError):
        log.event(203)
    assert list(log.iter_events()) == events
    assert list(log.iter_events(17, 150)) == events[17:150]
    assert list(log.iter_events(150)) == events[150:]
    assert list(log.iter_events(5, 5)) == []
    assert log.raw(130) == record_of(events[130])
    with pytest.raises(IndexError):
        log.raw(-1)


def test_iter_events_reads_each_chunk_once_and_caches_nothing(
    ws: Workspace, tmp_path: Path
) -> None:
    events = make_events(10 * CHUNK)
    source = import_log(ws, tmp_path / "log.jsonl", events)
    log = WorkspaceLog(ws, source.id, decode, batch_chunks=4)
    assert list(log.iter_events()) == events
    assert log.chunk_reads == 10
    assert log.cached_chunks() == []


def test_the_chunk_cache_is_bounded_and_least_recently_used(ws: Workspace, tmp_path: Path) -> None:
    events = make_events(20 * CHUNK)
    source = import_log(ws, tmp_path / "log.jsonl", events)
    log = WorkspaceLog(ws, source.id, decode, cache_chunks=3)
    for chunk in range(20):
        log.event(chunk * CHUNK + 1)
        assert len(log.cached_chunks()) <= 3
    assert log.cached_chunks() == [17, 18, 19]
    reads = log.chunk_reads
    assert log.events(18 * CHUNK, 19 * CHUNK + 3) == events[18 * CHUNK : 19 * CHUNK + 3]
    assert log.chunk_reads == reads  # both chunks were cached
    assert log.cached_chunks() == [17, 18, 19]
    assert log.event(2) == events[2]  # evicts 17, the least recently used
    assert log.cached_chunks() == [18, 19, 0]
    assert log.chunk_reads == reads + 1
    first = log.event(3)
    assert log.event(3) is first  # decoded once, then served from the cache


# ------------------------------------------------------------------------------ imports


def test_append_import_merges_dictionaries(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    old = make_events(37)
    source = import_log(ws, path, old)
    new = [
        Event(key=p, pos=p, event_id=f"n{p}", stream=s, type=t, version=p)
        for p, (s, t) in enumerate(
            [("new-stream", "Überwiesen"), ("konto-ä", "Fresh"), ("new-stream", "Opened")],
            start=37,
        )
    ]
    write_log(path, new, append=True)
    with ws.begin_append(source.id) as writer:
        assert (writer.start_pos, writer.start_line) == (37, 38)
        assert writer.start_offset == source.end_offset == source.size
        feed(writer, new)
        writer.add_problem(Problem(str(path), 39, 1, "late problem"))
        facts = facts_for(path, new, 40)
        grown = writer.finish(dataclasses.replace(facts, skipped=2, records_read=5, sha1=None))
    assert grown.event_count == 40 and grown.imported == 40 and grown.skipped == 2
    assert grown.records_read == 42 and grown.problem_count == 1
    assert grown.size == path.stat().st_size and grown.end_line == 41
    assert grown.sha1 == facts.sha1  # hashed by the store: the importer resumed
    assert classify_change(grown, path) == "unchanged"
    stored = ws.load_columns(source.id)
    old_columns = Columns.from_events(old)
    # names already known keep their codes; new ones come next in order of appearance
    assert stored.stream_names == [*old_columns.stream_names, "new-stream"]
    assert old_columns.type_names == ["Opened", "Deposited", "Withdrawn"]
    assert stored.type_names == [*old_columns.type_names, "Überwiesen", "Fresh"]
    assert_columns_equal(stored, Columns.from_events(old + new))
    log = WorkspaceLog(ws, source.id, decode)
    assert list(log.iter_events()) == old + new
    assert log.events(30, 40) == (old + new)[30:40]
    assert ws.problems(source.id) == [Problem(str(path), 39, 1, "late problem")]


def test_merge_columns_handles_empty_sides() -> None:
    events = make_events(9)
    columns = Columns.from_events(events)
    assert_columns_equal(merge_columns(Columns.empty(), columns), columns)
    assert_columns_equal(merge_columns(columns, Columns.empty()), columns)


def test_an_aborted_append_leaves_the_source_as_it_was(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    events = make_events(40)
    source = import_log(ws, path, events)
    more = make_events(100, start=40)
    write_log(path, more, append=True)
    with pytest.raises(RuntimeError, match="cancelled"), ws.begin_append(source.id) as writer:
        feed(writer, more)
        writer.flush()  # some chunks are already in the database
        raise RuntimeError("cancelled")
    assert ws.source(source.id) == source
    assert list(WorkspaceLog(ws, source.id, decode).iter_events()) == events
    with ws.begin_append(source.id) as writer:  # and a later append works normally
        feed(writer, more)
        writer.finish(facts_for(path, more, 140))
    assert list(WorkspaceLog(ws, source.id, decode).iter_events()) == events + more


def test_replace_swaps_events_keeps_branches_drops_snapshots(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    source = import_log(ws, path, make_events(50))
    branch = ws.create_branch(source.id, "keep me")
    edit = ws.append_edit(branch.id, Edit(EditKind.DROP, target=4))
    ws.save_snapshot(source.id, None, "generic", 10, {"a": 1})
    changed = [e.with_changes(data={"changed": e.pos}) for e in make_events(30)]
    write_log(path, changed)
    writer = ws.replace_source(source.id)
    feed(writer, changed)
    writer.flush()
    # until finish, readers still see the old import
    assert ws.source(source.id) == source
    assert len(WorkspaceLog(ws, source.id, decode)) == 50
    replaced = writer.finish(facts_for(path, changed, 30))
    assert replaced.id == source.id and replaced.generation == 2 and replaced.event_count == 30
    assert list(WorkspaceLog(ws, source.id, decode).iter_events()) == changed
    assert ws.branches(source.id) == [branch] and ws.edits(branch.id) == [edit]
    assert ws.load_snapshot(source.id, None, "generic") is None


def test_an_interrupted_first_import_is_not_readable_and_is_redone(
    ws: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "log.jsonl"
    events = make_events(64)
    write_log(path, events)
    writer = ws.begin_import(path)
    feed(writer, events)
    writer.flush()  # ... and the process dies here: finish never runs
    pending = ws.find_source(path)
    assert pending is not None and pending.status is SourceStatus.IMPORTING
    with pytest.raises(WorkspaceError, match="not been fully imported"):
        WorkspaceLog(ws, pending.id, decode)
    with ws.begin_import(path) as again:
        assert again.source_id == pending.id
        feed(again, events)
        done = again.finish(facts_for(path, events, 64))
    assert list(WorkspaceLog(ws, done.id, decode).iter_events()) == events


def test_an_aborted_first_import_leaves_no_source(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    events = make_events(20)
    write_log(path, events)
    with ws.begin_import(path) as writer:
        feed(writer, events)
        writer.abort()
    assert ws.find_source(path) is None and ws.sources() == []


def test_the_writer_refuses_what_breaks_the_contract(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    events = make_events(10)
    write_log(path, events)
    with ws.begin_import(path) as writer:
        writer.add_chunk(0, [b"{}", b"{}"])
        with pytest.raises(ValueError, match="expected 2"):
            writer.add_chunk(5, [b"{}"])
        with pytest.raises(ValueError, match="newline"):
            writer.add_chunk(2, [b'{"a":\n1}'])
        with pytest.raises(ValueError, match="wrote 2 records but its columns hold 10"):
            writer.finish(facts_for(path, events, 10))
    source = import_log(ws, path, events)
    with pytest.raises(WorkspaceError, match="already imported"):
        ws.begin_import(path)
    assert ws.find_source(tmp_path / "." / "log.jsonl") == source


def test_problems_are_kept_in_order(ws: Workspace, tmp_path: Path) -> None:
    found = [
        Problem(f"log-{i % 2}.jsonl", i + 1, i * 100, f"bad record {i} ✗", Severity.ERROR, "{x")
        for i in range(25)
    ] + [Problem("log.jsonl", 0, 0, "duplicate ids", Severity.WARNING)]
    source = import_log(ws, tmp_path / "log.jsonl", make_events(5), found)
    assert source.problem_count == 26
    assert ws.problems(source.id) == found
    assert ws.problems(source.id, start=10, limit=5) == found[10:15]


def test_delete_source_removes_everything_built_on_it(ws: Workspace, tmp_path: Path) -> None:
    source = import_log(ws, tmp_path / "log.jsonl", make_events(30))
    branch = ws.create_branch(source.id, "b")
    ws.append_edit(branch.id, Edit(EditKind.DROP, target=1))
    ws.save_snapshot(source.id, branch.id, "p", 3, [1, 2])
    ws.delete_source(source.id)
    assert ws.sources() == [] and ws.branches(source.id) == []
    assert ws.edits(branch.id) == []
    assert ws.load_snapshot(source.id, branch.id, "p") is None


# ----------------------------------------------------------------------------- branches


def test_branches_crud(ws: Workspace, tmp_path: Path) -> None:
    source = import_log(ws, tmp_path / "log.jsonl", make_events(30))
    main = ws.create_branch(source.id, "  main  ")
    assert main.name == "main" and main.parent_id is None and main.parent_edit_count == 0
    ws.append_edit(main.id, Edit(EditKind.DROP, target=2))
    ws.append_edit(main.id, Edit(EditKind.DROP, target=3))
    child = ws.create_branch(source.id, "what if", parent_id=main.id, fork_at=12, note="try")
    assert (child.parent_id, child.fork_at, child.parent_edit_count) == (main.id, 12, 2)
    older = ws.create_branch(source.id, "older", parent_id=main.id, parent_edit_count=1)
    assert older.parent_edit_count == 1
    with pytest.raises(ValueError, match=r"outside 0\.\.2"):
        ws.create_branch(source.id, "x", parent_id=main.id, parent_edit_count=3)
    with pytest.raises(WorkspaceError, match="already exists"):
        ws.create_branch(source.id, "main")
    with pytest.raises(WorkspaceError, match="already exists"):
        ws.rename_branch(child.id, "older")
    with pytest.raises(WorkspaceError, match="needs a name"):
        ws.create_branch(source.id, "   ")
    renamed = ws.rename_branch(child.id, "what if — v2")
    noted = ws.set_note(child.id, "note ✎")
    archived = ws.archive_branch(older.id)
    assert renamed.name == "what if — v2" and noted.note == "note ✎" and archived.archived
    assert [b.name for b in ws.branches(source.id)] == ["main", "what if — v2", "older"]
    assert [b.name for b in ws.branches(source.id, include_archived=False)] == [
        "main",
        "what if — v2",
    ]
    assert ws.archive_branch(older.id, archived=False).archived is False
    other = import_log(ws, tmp_path / "other.jsonl", make_events(3))
    assert ws.create_branch(other.id, "main").source_id == other.id  # names are per log
    with pytest.raises(WorkspaceError, match="another log"):
        ws.create_branch(other.id, "fork", parent_id=main.id)
    with pytest.raises(WorkspaceError, match="no branch 999"):
        ws.branch(999)


def test_edits_are_appended_in_order_and_round_trip(ws: Workspace, tmp_path: Path) -> None:
    source = import_log(ws, tmp_path / "log.jsonl", make_events(30))
    branch = ws.create_branch(source.id, "b")
    wanted = [
        Edit(EditKind.DROP, target=5),
        Edit(EditKind.EDIT, target=7, changes={"data": {"amount": 2**70, "ü": [1.5, None]}}),
        Edit(EditKind.INSERT, after=3, event={"type": "Refund", "data": {"n": 1}}),
        Edit(EditKind.INSERT, after=None, event={"type": "Second"}),
        Edit(EditKind.MOVE, target=9, after=None),
        Edit(EditKind.UNDO),
        Edit(EditKind.REDO),
        Edit(EditKind.RESTORE, target=5),
    ]
    saved = [ws.append_edit(branch.id, edit) for edit in wanted]
    assert [e.seq for e in saved] == list(range(1, 9))
    assert [e.target for e in saved if e.kind is EditKind.INSERT] == [-1, -2]
    assert ws.edits(branch.id) == saved
    assert ws.edits(branch.id, upto_seq=3) == saved[:3]
    assert ws.edit_count(branch.id) == 8
    assert saved[1].changes == {"data": {"amount": 2**70, "ü": [1.5, None]}}
    other = ws.create_branch(source.id, "other")
    # inserted keys are allocated per log, across branches
    assert ws.append_edit(other.id, Edit(EditKind.INSERT, event={})).target == -3
    assert ws.append_edit(other.id, Edit(EditKind.INSERT, target=-10, event={})).target == -10
    with pytest.raises(WorkspaceError, match="already used"):
        ws.append_edit(branch.id, Edit(EditKind.INSERT, target=-10, event={}))
    with pytest.raises(ValueError, match="negative key"):
        ws.append_edit(branch.id, Edit(EditKind.INSERT, target=4, event={}))
    with pytest.raises(WorkspaceError, match="cannot be saved as JSON"):
        ws.append_edit(branch.id, Edit(EditKind.EDIT, target=1, changes={"x": object()}))
    assert ws.edit_count(branch.id) == 8  # refused edits left no trace


# ---------------------------------------------------------------------------- snapshots


def test_big_snapshots_are_written_piece_by_piece_and_read_back(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite a big blob goes in through incremental blob I/O (no second copy of a
    hundred megabytes); elsewhere, and in any case, what is read back is what was saved."""
    import models.workspace_db as workspace_module
    from models.packed import Packable, PackedStates

    monkeypatch.setattr(workspace_module, "_STREAM_ABOVE", 1000)
    monkeypatch.setattr(workspace_module, "_STREAM_PIECE", 777)  # pieces that do not divide it
    source = import_log(ws, tmp_path / "log.jsonl", make_events(5))
    states = {f"stream-{i}": {"balance": i, "name": "é" * (i % 9)} for i in range(500)}
    ws.save_snapshot(source.id, None, "generic", 4, Packable(states))
    ws.save_snapshot(source.id, None, "plain", 4, states)
    packed = ws.load_snapshot(source.id, None, "generic")
    assert packed is not None and isinstance(packed.state, PackedStates)
    assert dict(packed.state) == states and list(packed.state) == list(states)
    plain = ws.load_snapshot(source.id, None, "plain")
    assert plain is not None and plain.state == states


def test_snapshots_latest_and_nearest(ws: Workspace, tmp_path: Path) -> None:
    source = import_log(ws, tmp_path / "log.jsonl", make_events(30))
    branch = ws.create_branch(source.id, "b")
    big = {f"stream-{i}": {"balance": i, "name": "ä" * 20} for i in range(2000)}  # compressed
    ws.save_snapshot(source.id, None, "generic", 9, {"row": 9})
    ws.save_snapshot(source.id, None, "generic", 19, big)
    ws.save_snapshot(source.id, None, "generic", 4, {"row": 4})
    ws.save_snapshot(source.id, branch.id, "generic", 5, {"branch": 1}, edit_seq=2)
    ws.save_snapshot(source.id, None, "other", 5, {1: "non-str key"})
    latest = ws.load_snapshot(source.id, None, "generic")
    assert latest is not None and (latest.row, latest.state) == (4, {"row": 4})
    nearest = ws.load_snapshot(source.id, None, "generic", at_or_before=25)
    assert nearest is not None and nearest.row == 19 and nearest.state == big
    nearest = ws.load_snapshot(source.id, None, "generic", at_or_before=18)
    assert nearest is not None and nearest.state == {"row": 9}
    assert ws.load_snapshot(source.id, None, "generic", at_or_before=3) is None
    on_branch = ws.load_snapshot(source.id, branch.id, "generic", edit_seq=2)
    assert on_branch is not None and on_branch.state == {"branch": 1} and on_branch.edit_seq == 2
    assert ws.load_snapshot(source.id, branch.id, "generic", edit_seq=1) is None
    other = ws.load_snapshot(source.id, None, "other")
    assert other is not None and other.state == {"1": "non-str key"}
    assert ws.snapshot_rows(source.id, None, "generic") == [(4, 0), (9, 0), (19, 0)]
    assert ws.delete_snapshots(source.id, None, "generic", from_row=9) == 2
    assert ws.snapshot_rows(source.id, None, "generic") == [(4, 0)]
    with pytest.raises(WorkspaceError, match="cannot be saved"):
        ws.save_snapshot(source.id, None, "generic", 1, {"x": {1, 2}})
    ws.save_snapshots(source.id, branch.id, "many", [(row, {"r": row}) for row in (3, 1, 2)])
    assert ws.snapshot_rows(source.id, branch.id, "many") == [(1, 0), (2, 0), (3, 0)]
    last = ws.load_snapshot(source.id, branch.id, "many")
    assert last is not None and last.state == {"r": 2}  # the last one of the batch


# -------------------------------------------------------------------------- concurrency


def test_an_import_in_a_worker_thread_and_edits_meanwhile(ws: Workspace, tmp_path: Path) -> None:
    source = import_log(ws, tmp_path / "log.jsonl", make_events(20))
    branch = ws.create_branch(source.id, "b")
    path = tmp_path / "second.jsonl"
    events = make_events(40 * CHUNK)
    write_log(path, events)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with ws.begin_import(path) as writer:
                for i in range(0, len(events), CHUNK):
                    feed_one = [record_of(e) for e in events[i : i + CHUNK]]
                    writer.add_chunk(i, feed_one)
                    writer.flush()  # a write transaction per chunk, racing the edits
                writer.finish(facts_for(path, events, len(events)))
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    worker = threading.Thread(target=work)
    worker.start()
    saved = [ws.append_edit(branch.id, Edit(EditKind.DROP, target=i)) for i in range(30)]
    worker.join()
    assert errors == []
    assert ws.edits(branch.id) == saved
    second = ws.find_source(path)
    assert second is not None
    assert list(WorkspaceLog(ws, second.id, decode).iter_events()) == events


def test_begin_methods_check_their_preconditions(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="cannot read"):
        ws.begin_import(tmp_path / "nowhere.jsonl")
    path = tmp_path / "log.jsonl"
    events = make_events(10)
    write_log(path, events)
    writer = ws.begin_import(path)
    pending = ws.find_source(path)
    assert pending is not None
    with pytest.raises(WorkspaceError, match="not been fully imported"):
        ws.begin_append(pending.id)
    writer.abort()
    with pytest.raises(WorkspaceError, match="no log"):
        ws.replace_source(pending.id)
    with ws.begin_import(path) as writer:
        feed(writer, events)
        writer.finish(facts_for(path, events, 10))
    with ws.replace_source(ws.sources()[0].id) as writer:
        assert writer.mode == "replace" and writer.generation == 2
        with pytest.raises(RuntimeError, match="already been finished or aborted"):
            writer.abort()
            writer.add_chunk(0, [b"{}"])


def test_touch_source_records_a_new_mtime(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    source = import_log(ws, path, make_events(5))
    later = source.mtime_ns + 5 * 10**9
    os.utime(path, ns=(later, later))
    assert classify_change(source, path) == "unchanged"  # found by hashing
    ws.touch_source(source.id, later)
    touched = ws.source(source.id)
    assert touched == dataclasses.replace(source, mtime_ns=later)
    # the next check trusts size + mtime without hashing
    assert classify_change(dataclasses.replace(touched, sha1="0" * 40), path) == "unchanged"


def test_an_imports_records_skip_checkpoints_and_are_checkpointed_after(tmp_path: Path) -> None:
    """SQLite: an import's batches commit unsynced and without checkpoints, its last
    transaction is synced, every other write is synced and checkpoints as usual; after an
    import the WAL is copied into the database file in the background."""

    def settings(conn: Any) -> tuple[int, int]:
        return (
            conn.exec_driver_sql("PRAGMA synchronous").scalar(),
            conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar(),
        )

    with Workspace.open(tmp_path / "ws.sqlite") as ws:
        with ws.write(bulk=True) as conn:
            assert settings(conn) == (1, 0)  # NORMAL, no checkpoint
        with ws.write(final=True) as conn:
            assert settings(conn) == (2, 0)  # FULL, no checkpoint
        with ws.write() as conn:
            assert settings(conn) == (2, 1000)  # FULL, SQLite's usual checkpoints
        import_log(ws, tmp_path / "log.jsonl", make_events(3000))
        import_log(ws, tmp_path / "log2.jsonl", make_events(3000))  # (while one may run)
        checkpointer = ws._checkpointer
        assert checkpointer is not None and checkpointer.name == "rewind-checkpoint"
        checkpointer.join()
        raw = sqlite3.connect(tmp_path / "ws.sqlite")
        busy, frames, copied = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        raw.close()
        assert busy == 0 and frames == copied  # nothing left to copy
        ws.checkpoint_soon()
    assert ws._checkpointer is not None and not ws._checkpointer.is_alive()  # joined by close
    ws.checkpoint_soon()  # closed: nothing starts
    assert not ws._checkpointer.is_alive()
