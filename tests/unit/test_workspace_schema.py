"""The workspace file itself: migrations, reopening, refusing what it cannot safely open."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from models.edits import Edit, EditKind
from models.migrations import HEAD
from models.problems import Problem, Severity
from models.workspace import Workspace, WorkspaceError
from models.workspace_db import _alembic_config, head_revision
from models.workspace_log import WorkspaceLog
from models.workspace_schema import metadata
from tests.unit.test_workspace_support import (
    decode,
    import_log,
    make_events,
    open_target,
    workspace_targets,
)

TABLES = {"meta", "sources", "chunks", "columns", "problems", "branches", "edits", "snapshots"}


def test_migrations_create_the_schema_of_the_code(tmp_path: Path) -> None:
    # Alembic itself, from an empty database to head (what an older workspace goes through).
    engine = create_engine(f"sqlite:///{tmp_path / 'migrated.sqlite'}")
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "head")
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert context.get_current_heads() == (head_revision(),)
        assert compare_metadata(context, metadata) == []
    engine.dispose()
    # A new workspace is made at head without running them, and is the same.
    with Workspace.open(tmp_path / "ws.sqlite") as ws, ws.engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) == TABLES | {"alembic_version"}
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert context.get_current_heads() == (head_revision(),)
        assert head_revision() == HEAD  # the fast path of migrate() knows the head
        assert compare_metadata(context, metadata) == []
        pragmas = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "synchronous")
        }
        assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 2}


def test_open_creates_parent_folders_and_accepts_a_url(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "ws.sqlite"
    with Workspace.open(path) as ws:
        ws.set_meta("hello", "wörld")
    with Workspace.open(f"sqlite:///{path}") as ws:
        assert ws.get_meta("hello") == "wörld"
        assert ws.get_meta("app_version")


@pytest.fixture(params=workspace_targets())
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | Path]:
    yield from open_target(request.param, tmp_path)


def test_reopen_keeps_everything(target: str | Path, tmp_path: Path) -> None:
    events = make_events(100)
    problem = Problem("log.jsonl", 7, 700, "not JSON: skipped", Severity.ERROR, "{oops")
    with Workspace.open(target) as ws:
        source = import_log(ws, tmp_path / "log.jsonl", events, [problem])
        branch = ws.create_branch(source.id, "fix", fork_at=10, note="why")
        edit = ws.append_edit(branch.id, Edit(EditKind.EDIT, target=3, changes={"data": {"x": 1}}))
        ws.save_snapshot(source.id, branch.id, "generic", 50, {"s": {"v": 1}}, edit_seq=1)
    with Workspace.open(target) as ws:
        assert ws.sources() == [source]
        assert ws.branches(source.id) == [branch]
        assert ws.edits(branch.id) == [edit]
        assert ws.problems(source.id) == [problem]
        snapshot = ws.load_snapshot(source.id, branch.id, "generic")
        assert snapshot is not None and snapshot.state == {"s": {"v": 1}}
        assert WorkspaceLog(ws, source.id, decode).events(0, 100) == events


def test_a_workspace_of_a_newer_rewind_is_refused_and_left_alone(target: str | Path) -> None:
    with Workspace.open(target) as ws, ws.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(WorkspaceError, match=r"newer Rewind \(revision 9999") as caught:
        Workspace.open(target)
    assert "update Rewind or open another workspace" in str(caught.value)
    engine = create_engine(f"sqlite:///{target}" if isinstance(target, Path) else target)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in rows] == [("9999",)]


def test_someone_elses_database_is_not_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE stored_events (originator_id TEXT)")
    conn.close()
    with pytest.raises(WorkspaceError, match=r"not a Rewind workspace.*stored_events"):
        Workspace.open(path)
    with sqlite3.connect(path) as conn:
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
    conn.close()
    assert tables == [("stored_events",)]


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    with pytest.raises(WorkspaceError, match="not a Rewind workspace or is damaged"):
        Workspace.open(path)
    assert path.read_bytes() == b"these are my notes, not a database\n" * 200


def test_a_locked_workspace_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "ws.sqlite"
    with Workspace.open(path) as ws:
        source = import_log(ws, tmp_path / "log.jsonl", make_events(20))
        branch = ws.create_branch(source.id, "b")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another program in the middle of a write
        with pytest.raises(WorkspaceError, match="locked by another program"):
            Workspace.open(path, busy_timeout=0.05)
        other.execute("COMMIT")
        with Workspace.open(path, busy_timeout=0.05) as ws:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(WorkspaceError, match="locked by another program"):
                ws.append_edit(branch.id, Edit(EditKind.DROP, target=1))
            assert ws.branches(source.id) == [branch]  # reading goes on meanwhile (WAL)
            other.execute("ROLLBACK")
            assert ws.append_edit(branch.id, Edit(EditKind.DROP, target=1)).seq == 1
    finally:
        other.close()


def test_downgrade_to_base_and_upgrade_again(tmp_path: Path) -> None:
    path = tmp_path / "ws.sqlite"
    with Workspace.open(path) as ws, ws.write() as conn:
        command.downgrade(_alembic_config(conn), "base")
        assert set(inspect(conn).get_table_names()) == {"alembic_version"}
    with Workspace.open(path) as ws, ws.engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) == TABLES | {"alembic_version"}


def test_a_closed_workspace_says_so(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws.sqlite")
    ws.close()
    with pytest.raises(WorkspaceError, match="has been closed"):
        ws.sources()


def test_bad_targets_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="no database driver"):
        Workspace.open("nosuchdialect://user@host/db")
    with pytest.raises(WorkspaceError, match="is a folder"):
        Workspace.open(tmp_path)
