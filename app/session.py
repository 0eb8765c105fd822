"""An opened log: the workspace, the log's columns and payloads, the engine and its branches.

Qt-free, so the CLI and the GUI share it; the GUI runs `open_session` in a worker thread.
Opening a log that was imported before reads nothing from it (its size and mtime are
compared); a log that only grew imports just the new records; a changed one is re-imported.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from app.errors import UsageError
from app.history import EditGroup, redo_count, steps_to, undo_count
from app.history import history as edit_history
from app.projections import (
    PROJECTIONS_META,
    LoadedFile,
    ProjectionLoadError,
    load_file,
    load_responses,
)
from models import converters
from models.converters import eventsourcing_store, redux, sqltable
from models.decode import make_data_decoder, make_decoder, make_document_decoder
from models.edits import Edit, EditKind
from models.event import Event, EventKey, format_key, parse_key
from models.importer import run_import
from models.log import EventLog
from models.mapping import GENERIC as PLAIN_JSON
from models.mapping import FieldMapping
from models.memory import release_free_memory
from models.packed import Packable
from models.paths import default_workspace_for
from models.problems import InputError, Problem
from models.workspace import Workspace, WorkspaceError
from models.workspace_change import classify_change
from models.workspace_log import WorkspaceLog
from replay_engine.branches import BranchError, BranchSpec
from replay_engine.engine import MAIN, Engine
from replay_engine.generic import GenericProjection
from replay_engine.recorded import RecordedStateProjection

ProgressFn = Callable[[int, int], bool]
GENERIC = GenericProjection.name
STREAMS_SUFFIX = "#streams"
"""Projection-name suffix of the persisted per-stream snapshots of long streams."""

_BOOKMARKS = "bookmarks"
_DEBUG_META = "debug_points"
"""Workspace meta key (+ ":" source id): the log's breakpoints and watches as JSON."""
_GROUPS_META = "edit_groups:"
"""Workspace meta key prefix (+ branch id): the branch's edit batches as JSON."""


@dataclass(frozen=True, slots=True)
class BranchMeta:
    note: str
    archived: bool
    created_us: int | None


@dataclass
class Session:
    name: str
    """What to show in a title bar: the log's file name."""
    log: EventLog
    engine: Engine
    """The engine over ``log`` with the workspace's branches loaded."""
    problems: list[Problem] = field(default_factory=list)
    """The import report: skipped records and warnings."""
    path: Path | None = None
    workspace: Workspace | None = None
    """None for an in-memory session (tests)."""
    source_id: int | None = None
    import_info: dict[str, Any] = field(default_factory=dict)
    """format, records_read, imported, skipped, workspace, change (new/unchanged/grown/...)."""
    branch_ids: dict[str, int] = field(default_factory=dict)
    local_meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Notes, archive flags and edit batches of an in-memory session (no workspace)."""
    projection_files: list[LoadedFile] = field(default_factory=list)
    """The user's projection modules loaded into this session (issue 5)."""
    _engines: dict[str, Engine] = field(default_factory=dict)
    """Engines of the projections that are not the active one, built on demand."""
    builtin: dict[str, Any] = field(default_factory=dict)
    """Projections that come with the log's format (a Redux export's recorded states)."""
    start_row: int | None = None
    """Where the window puts the cursor first (the state a Redux export showed), if not at
    the start."""

    # --- projections ------------------------------------------------------------------------

    @property
    def projection_name(self) -> str:
        return str(self.engine.projection.name)

    def projections(self) -> dict[str, Any]:
        """Every projection the session can replay through, by name: the built-in generic
        one first, then the user's in the order they were loaded."""
        found: dict[str, Any] = {GENERIC: self._generic(), **self.builtin}
        for loaded in self.projection_files:
            for p in loaded.projections:
                found[p.name] = p
        return found

    def _generic(self) -> Any:
        if isinstance(self.engine.projection, GenericProjection):
            return self.engine.projection
        cached = self._engines.get(GENERIC)
        return cached.projection if cached is not None else GenericProjection()

    def add_projection_file(
        self, path: str | os.PathLike[str], *, remember: bool = True
    ) -> list[str]:
        """Load (or load again) a projection module; returns the names it defines. Replaces
        the projections an earlier load of the same file defined."""
        names = self._install([load_file(path)])
        if remember:
            self._remember_projections()
        return names

    def _install(self, files: list[LoadedFile]) -> list[str]:
        """Put freshly loaded files in place of their earlier loads; engines of replaced
        projections are rebuilt, the active one at once. Nothing changes if a name clashes."""
        paths = {f.path for f in files}
        taken = {GENERIC, *self.builtin} | {
            p.name for f in self.projection_files if f.path not in paths for p in f.projections
        }
        names: list[str] = []
        for f in files:
            for p in f.projections:
                if p.name in taken or p.name in names:
                    raise ProjectionLoadError(
                        f"{f.path}: a projection named {p.name!r} is loaded already"
                    )
                names.append(p.name)
        responses = load_responses(self.path)
        for f in files:
            for p in f.projections:
                p.recordings = responses
        self.projection_files = [f for f in self.projection_files if f.path not in paths]
        self.projection_files += files
        known = self.projections()
        self._engines = {k: e for k, e in self._engines.items() if k in known and k not in names}
        active = self.projection_name
        if active != GENERIC and (active in names or active not in known):
            # the active projection's code was replaced (or is gone): rebuild it now
            self.engine = self._build(known.get(active, known[GENERIC]))
        return names

    def remembered_projections(self) -> list[Path]:
        """The projection files the workspace names for this log (not loaded: see
        app.projections on trust)."""
        if self.workspace is None or self.source_id is None:
            return []
        text = self.workspace.get_meta(f"{PROJECTIONS_META}:{self.source_id}")
        if not text:
            return []
        try:
            paths = orjson.loads(text)
        except orjson.JSONDecodeError:
            return []
        return [Path(p) for p in paths if isinstance(p, str)] if isinstance(paths, list) else []

    def _remember_projections(self) -> None:
        if self.workspace is None or self.source_id is None:
            return
        paths = [str(f.path) for f in self.projection_files]
        with contextlib.suppress(WorkspaceError):
            self.workspace.set_meta(
                f"{PROJECTIONS_META}:{self.source_id}", orjson.dumps(paths).decode()
            )

    def debug_points(self) -> dict[str, Any]:
        """Breakpoints and watches saved for this log ({"breakpoints": [...], "watches":
        [...]}, JSON as replay_engine.breakpoints writes them); empty when none."""
        if self.workspace is None or self.source_id is None:
            return dict(self.local_meta.get("\0" + _DEBUG_META, {}))  # no branch has that name
        text = self.workspace.get_meta(f"{_DEBUG_META}:{self.source_id}")
        try:
            found = orjson.loads(text) if text else {}
        except orjson.JSONDecodeError:
            return {}
        return found if isinstance(found, dict) else {}

    def save_debug_points(self, data: dict[str, Any]) -> None:
        if self.workspace is None or self.source_id is None:
            self.local_meta["\0" + _DEBUG_META] = dict(data)
            return
        with contextlib.suppress(WorkspaceError):
            self.workspace.set_meta(f"{_DEBUG_META}:{self.source_id}", orjson.dumps(data).decode())

    def bookmarks(self) -> dict[str, str]:
        """Bookmarked events of this log: event key text (``@123``, ``@+2``) -> note."""
        found = self.debug_points().get(_BOOKMARKS, {})
        return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}

    def set_bookmark(self, key: EventKey, note: str | None) -> None:
        """Bookmark the event (with ``note``, may be empty), or remove it (None)."""
        points = self.debug_points()
        marks = dict(points.get(_BOOKMARKS, {}))
        if note is None:
            marks.pop(format_key(key), None)
        else:
            marks[format_key(key)] = note
        points[_BOOKMARKS] = marks
        self.save_debug_points(points)

    def use_projection(self, name: str) -> None:
        """Make ``name`` the projection the engine (and everything showing state) uses. The
        branches carry over; the previous engine is kept for side-by-side views."""
        if name == self.projection_name:
            return
        engine = self.engine_for(name)
        self._engines[self.projection_name] = self.engine
        self._engines.pop(name, None)
        self.engine = engine

    def engine_for(self, name: str) -> Engine:
        """The engine replaying through projection ``name``, with the active engine's
        branches (rebuilt when they changed since it was built)."""
        if name == self.projection_name:
            return self.engine
        known = self.projections()
        if name not in known:
            raise UsageError(f"no projection named {name!r} (loaded: {', '.join(known)})")
        cached = self._engines.get(name)
        if cached is not None and self._branch_infos(cached) == self._branch_infos(self.engine):
            return cached
        self._engines[name] = engine = self._build(known[name])
        return engine

    def built_engine(self, name: str) -> Engine | None:
        """The engine for ``name`` if it is built and has the active engine's branches (so
        using it costs no replay); None when :meth:`engine_for` would have to build it."""
        if name == self.projection_name:
            return self.engine
        cached = self._engines.get(name)
        if cached is not None and self._branch_infos(cached) == self._branch_infos(self.engine):
            return cached
        return None

    @staticmethod
    def _branch_infos(engine: Engine) -> list[Any]:
        return [engine.branch(b) for b in engine.branches()]

    def _build(self, projection: Any) -> Engine:
        """A new engine over the log with the active engine's branches and edits."""
        engine = Engine(self.log, projection)
        for info in self._branch_infos(self.engine):
            if info.parent is None:
                continue  # main
            engine.add_branch(
                BranchSpec(
                    name=info.name,
                    parent=info.parent,
                    fork_at=info.fork_at,
                    parent_edit_count=info.parent_edit_count,
                    edits=info.edits,
                )
            )
        return engine

    def reload_projections(self) -> list[str]:
        """Run every loaded projection file again (after the user edited it) and rebuild the
        engines; the active projection stays active (the generic one if the file no longer
        defines it), branches stay as they are. If any file fails, nothing changes."""
        return self._install([load_file(f.path) for f in self.projection_files])

    # --- branches ---------------------------------------------------------------------------

    def branch_list(self) -> list[dict[str, Any]]:
        out = []
        for name in self.engine.branches():
            info = self.engine.branch(name)
            out.append(
                {
                    "name": name,
                    "parent": info.parent,
                    "fork_at": format_key(info.fork_at) if info.fork_at is not None else None,
                    "edits": len(info.edits),
                    "in_effect": len(info.in_effect),
                    "events": self.engine.row_count(name),
                }
            )
        return out

    def create_branch(
        self, name: str, *, parent: str = MAIN, at: str | None = None
    ) -> dict[str, Any]:
        fork_key = None if at in (None, "start") else self.resolve_event(parent, at)
        parent_edits = (
            len(self.engine.branch(parent).edits) if parent in self.engine.branches() else 0
        )
        spec = BranchSpec(
            name=name, parent=parent, fork_at=fork_key, parent_edit_count=parent_edits
        )
        try:
            self.engine.add_branch(spec)
        except BranchError as exc:
            raise UsageError(str(exc)) from None
        if self.workspace is not None and self.source_id is not None:
            try:
                row = self.workspace.create_branch(
                    self.source_id,
                    name,
                    parent_id=self.branch_ids.get(parent),
                    fork_at=fork_key,
                    parent_edit_count=parent_edits,
                )
            except WorkspaceError as exc:
                self.engine.remove_branch(name)
                raise UsageError(str(exc)) from None
            self.branch_ids[name] = row.id
        where = f" after {format_key(fork_key)}" if fork_key is not None else ""
        return {
            "branch": name,
            "parent": parent,
            "message": f"created branch {name} from {parent}{where}",
        }

    def branch_ops(self, name: str) -> BranchOps:
        if name not in self.engine.branches():
            known = ", ".join(self.engine.branches())
            raise UsageError(f"no branch named {name!r} (branches: {known})")
        return BranchOps(self, name)

    # --- branch metadata (issue 4: the branch panel) -------------------------------------

    def branch_meta(self) -> dict[str, BranchMeta]:
        """Note, archive flag and creation time of every branch the engine has."""
        out: dict[str, BranchMeta] = {}
        ws = self.workspace
        records = {}
        if ws is not None and self.source_id is not None:
            records = {b.name: b for b in ws.branches(self.source_id, include_archived=True)}
        for name in self.engine.branches():
            rec = records.get(name)
            if rec is not None:
                out[name] = BranchMeta(rec.note, rec.archived, rec.created_us)
            else:
                local = self.local_meta.get(name, {})
                out[name] = BranchMeta(
                    str(local.get("note", "")), bool(local.get("archived", False)), None
                )
        return out

    def _branch_id(self, name: str) -> int | None:
        if self.workspace is None or self.source_id is None:
            return None
        return self.branch_ids.get(name)

    def _check_branch(self, name: str, what: str) -> None:
        if name == MAIN:
            raise UsageError(f"main is the log itself: it cannot be {what}")
        if name not in self.engine.branches():
            raise UsageError(f"no branch named {name!r}")

    def rename_branch(self, old: str, new: str) -> dict[str, Any]:
        """Rename in the workspace, then re-create the branch and its descendants under the
        new name in the engine (it names branches by key; their edits are replayed)."""
        self._check_branch(old, "renamed")
        new = new.strip()
        if not new:
            raise UsageError("a branch needs a name")
        if new == old:
            return {"branch": old, "message": f"{old} keeps its name"}
        if new in self.engine.branches():
            raise UsageError(f"a branch named {new!r} already exists; choose another name")
        bid = self._branch_id(old)
        if bid is not None:
            assert self.workspace is not None
            try:
                self.workspace.rename_branch(bid, new)
            except WorkspaceError as exc:
                raise UsageError(str(exc)) from None
        engine = self.engine
        order = engine.branches()
        subtree = [old]
        for name in order:
            if engine.branch(name).parent in subtree:
                subtree.append(name)
        infos = {name: engine.branch(name) for name in subtree}
        for name in reversed(subtree):
            engine.remove_branch(name)
        for name in subtree:
            info = infos[name]
            assert info.parent is not None
            engine.add_branch(
                BranchSpec(
                    name=new if name == old else name,
                    parent=new if info.parent == old else info.parent,
                    fork_at=info.fork_at,
                    parent_edit_count=info.parent_edit_count,
                    edits=info.edits,
                )
            )
        if old in self.branch_ids:
            self.branch_ids[new] = self.branch_ids.pop(old)
        if old in self.local_meta:
            self.local_meta[new] = self.local_meta.pop(old)
        return {"branch": new, "message": f"renamed {old} to {new}"}

    def set_branch_note(self, name: str, note: str) -> dict[str, Any]:
        if name not in self.engine.branches():
            raise UsageError(f"no branch named {name!r}")
        bid = self._branch_id(name)
        if bid is not None:
            assert self.workspace is not None
            self.workspace.set_note(bid, note)
        else:
            self.local_meta.setdefault(name, {})["note"] = note
        return {"branch": name, "message": f"note of {name} saved"}

    def archive_branch(self, name: str, archived: bool = True) -> dict[str, Any]:
        """Archived branches are hidden, never deleted; a branch whose children are still
        shown cannot be archived (they would lose their place in the tree)."""
        self._check_branch(name, "archived")
        if archived:
            meta = self.branch_meta()
            live = [
                b
                for b in self.engine.branches()
                if self.engine.branch(b).parent == name and not meta[b].archived
            ]
            if live:
                raise UsageError(
                    f"branch {name} has branches forked from it ({', '.join(live)}); "
                    "archive those first"
                )
        bid = self._branch_id(name)
        if bid is not None:
            assert self.workspace is not None
            self.workspace.archive_branch(bid, archived)
        else:
            self.local_meta.setdefault(name, {})["archived"] = archived
        verb = "archived" if archived else "restored from the archive"
        return {"branch": name, "message": f"{name} {verb}"}

    def edit_groups(self, name: str) -> list[EditGroup]:
        """Batches of edits one command made (undone and redone as one step)."""
        bid = self._branch_id(name)
        if bid is not None:
            assert self.workspace is not None
            raw: Any = self.workspace.get_meta(f"{_GROUPS_META}{bid}")
            try:
                values = [] if raw is None else orjson.loads(raw)
            except orjson.JSONDecodeError:
                values = []
        else:
            values = self.local_meta.get(name, {}).get("groups", [])
        groups = [EditGroup.from_json(v) for v in values] if isinstance(values, list) else []
        return [g for g in groups if g is not None]

    def add_edit_group(self, name: str, group: EditGroup) -> None:
        groups = [*self.edit_groups(name), group]
        values = [g.to_json() for g in groups]
        bid = self._branch_id(name)
        if bid is not None:
            assert self.workspace is not None
            self.workspace.set_meta(f"{_GROUPS_META}{bid}", orjson.dumps(values).decode())
        else:
            self.local_meta.setdefault(name, {})["groups"] = values

    # --- events -----------------------------------------------------------------------------

    def resolve_event(self, branch: str, ref: str) -> EventKey:
        """``@POS``, ``@+N`` or an event id, as it stands in ``branch``."""
        key = parse_key(ref)
        seq = self.engine.sequence(branch)
        if key is not None:
            if self.engine.row_of(branch, key) is None:
                raise UsageError(f"no event {ref} in branch {branch} (it has {len(seq):,} events)")
            return key
        ids = self.log.columns.event_ids
        matches = [int(p) for p in np.flatnonzero(ids == ref)]
        for k in seq.inserted:  # events the branch inserted carry ids of their own
            row = self.engine.row_of(branch, k)
            if row is not None and self.engine.event_at(branch, row).event_id == ref:
                matches.append(k)
        if not matches:
            raise UsageError(
                f"no event with id {ref!r} in branch {branch}; use @POS for a position"
            )
        if len(matches) > 1:
            where = ", ".join(format_key(m) for m in matches[:20])
            raise UsageError(
                f"event id {ref!r} is ambiguous: it occurs {len(matches)} times, at {where}; "
                "name one by position (@POS)"
            )
        return matches[0]

    def row_for(self, branch: str, at: str | None) -> int:
        """The display row for ``--at``: a row number, ``@POS``/an id (after that event), or
        the end."""
        count = self.engine.row_count(branch)
        if at is None:
            return count - 1
        text = at.strip()
        if text.lstrip("-").isdigit():
            row = int(text)
            if not -1 <= row < count:
                raise UsageError(f"--at {row}: branch {branch} has rows -1..{count - 1}")
            return row
        key = self.resolve_event(branch, text)
        row = self.engine.row_of(branch, key)
        assert row is not None  # resolve_event checked it
        return row

    def save_end_state(self, branch: str, state: Any) -> None:
        """Persist the end state of the log so that reopening is instant (main only: a
        branch's end state is rebuilt from it in milliseconds)."""
        if branch != MAIN or self.workspace is None or self.source_id is None:
            return
        if not isinstance(self.engine.projection, GenericProjection):
            return  # the user's code can change at any reload: its states are not kept
        row = self.engine.row_count(MAIN) - 1
        if self.import_info.get("snapshot_row") == row:
            return
        try:
            name = self.engine.projection.name
            # packed: a reopen then decodes only the streams something reads
            packed = state.as_packed() if hasattr(state, "as_packed") else None
            self.workspace.save_snapshot(
                self.source_id, None, name, row, packed if packed is not None else Packable(state)
            )
            self.workspace.save_snapshot(
                self.source_id, None, f"{name}{STREAMS_SUFFIX}", row, self.engine.stream_snapshots()
            )
        except (WorkspaceError, TypeError):
            return  # a read-only or locked workspace, or a value JSON cannot hold: not kept
        finally:
            release_free_memory()  # the serialized state, a hundred MB for a million events
        self.import_info["snapshot_row"] = row

    def end_state(self, branch: str) -> Any:
        state = self.engine.end_state(branch)
        if branch == MAIN:
            self.save_end_state(branch, state)
        return state

    def close(self) -> None:
        if self.workspace is not None:
            self.workspace.close()


class BranchOps:
    """Edits of one branch, each validated by the engine, then kept in the workspace."""

    def __init__(self, session: Session, name: str) -> None:
        self.s = session
        self.name = name

    def row_for(self, at: str | None) -> int:
        return self.s.row_for(self.name, at)

    def materialize(self, row: int) -> Any:
        engine = self.s.engine
        if row == engine.row_count(self.name) - 1 and row >= 0:
            return _plain(self.s.end_state(self.name))
        return engine.materialize(self.name, row)

    def _key(self, ref: str) -> EventKey:
        return self.s.resolve_event(self.name, ref)

    def _after(self, ref: str) -> EventKey | None:
        return None if ref == "start" else self._key(ref)

    def _apply(self, edit: Edit, message: str) -> dict[str, Any]:
        if self.name == MAIN:
            raise UsageError(
                "main is the log itself and is never edited; fork a branch first: "
                "branch LOG create NAME"
            )
        try:
            recorded = self.s.engine.append_edit(self.name, edit)
        except BranchError as exc:
            raise UsageError(str(exc)) from None
        ws, bid = self.s.workspace, self.s.branch_ids.get(self.name)
        if ws is not None and bid is not None:
            ws.append_edit(bid, recorded)
        return {"branch": self.name, "edit": recorded.kind.value, "message": message}

    def drop(self, ref: str) -> dict[str, Any]:
        key = self._key(ref)
        return self._apply(
            Edit(EditKind.DROP, target=key), f"dropped {format_key(key)} in {self.name}"
        )

    def restore(self, ref: str) -> dict[str, Any]:
        key = self._key(ref)
        return self._apply(
            Edit(EditKind.RESTORE, target=key), f"restored {format_key(key)} in {self.name}"
        )

    def edit(self, ref: str, data: Any) -> dict[str, Any]:
        key = self._key(ref)
        return self._apply(
            Edit(EditKind.EDIT, target=key, changes={"data": data}),
            f"edited {format_key(key)} in {self.name}",
        )

    def insert(self, after: str, event: Any) -> dict[str, Any]:
        if not isinstance(event, dict):
            raise UsageError(
                '--event must be a JSON object like {"stream": "s", "type": "T", "data": {}}'
            )
        anchor = self._after(after)
        key = self.s.engine.new_insert_key()
        info = self._apply(
            Edit(EditKind.INSERT, target=key, after=anchor, event=event),
            f"inserted {format_key(key)} in {self.name}",
        )
        info["key"] = format_key(key)
        return info

    def move(self, ref: str, after: str) -> dict[str, Any]:
        key, anchor = self._key(ref), self._after(after)
        where = "the start" if anchor is None else format_key(anchor)
        return self._apply(
            Edit(EditKind.MOVE, target=key, after=anchor),
            f"moved {format_key(key)} after {where} in {self.name}",
        )

    def undo(self) -> dict[str, Any]:
        return self._apply(Edit(EditKind.UNDO), f"undid the latest edit of {self.name}")

    def redo(self) -> dict[str, Any]:
        return self._apply(Edit(EditKind.REDO), f"redid the latest undone edit of {self.name}")

    # --- issue 4: the window's edits --------------------------------------------------------

    def edit_fields(self, ref: str, changes: dict[str, Any]) -> dict[str, Any]:
        """A new version of the event with ``changes`` (canonical field names: data,
        metadata, type, stream, ...)."""
        key = self._key(ref)
        if not changes:
            raise UsageError(f"the edit of {format_key(key)} changes nothing")
        return self._apply(
            Edit(EditKind.EDIT, target=key, changes=dict(changes)),
            f"edited {', '.join(sorted(changes))} of {format_key(key)} in {self.name}",
        )

    def drop_batch(
        self, keys: Sequence[EventKey], label: str, progress: ProgressFn | None = None
    ) -> dict[str, Any]:
        """Drop several events as one step of the history (undone and redone together).
        Stops at the first edit that does not apply; what was dropped before stays a batch."""
        first = len(self.s.engine.branch(self.name).edits)
        done = 0
        try:
            for key in keys:
                self._apply(Edit(EditKind.DROP, target=key), "")
                done += 1
                if progress is not None and done % 64 == 0 and not progress(done, len(keys)):
                    break
        finally:
            if done:
                self.s.add_edit_group(self.name, EditGroup(first, first + done - 1, label))
        return {"branch": self.name, "edit": "drop", "count": done, "message": label}

    def undo_step(self) -> dict[str, Any]:
        """Undo the latest edit in effect, or the whole batch it belongs to."""
        info = self.s.engine.branch(self.name)
        count = undo_count(info.edits, self.s.edit_groups(self.name))
        if count == 0:
            raise UsageError(f"nothing to undo in branch {self.name}")
        for _ in range(count):
            self.undo()
        return {"branch": self.name, "edit": "undo", "count": count, "message": "undone"}

    def redo_step(self) -> dict[str, Any]:
        info = self.s.engine.branch(self.name)
        count = redo_count(info.edits, self.s.edit_groups(self.name))
        if count == 0:
            raise UsageError(f"nothing to redo in branch {self.name}")
        for _ in range(count):
            self.redo()
        return {"branch": self.name, "edit": "redo", "count": count, "message": "redone"}

    def go_to_history(self, point: int) -> dict[str, Any]:
        """Undo or redo until ``point`` entries of the history are in effect."""
        info = self.s.engine.branch(self.name)
        entries = edit_history(info.edits, self.s.edit_groups(self.name))
        if not 0 <= point <= len(entries):
            raise UsageError(f"the history of {self.name} has points 0..{len(entries)}")
        kind, count = steps_to(entries, point)
        step = self.undo if kind is EditKind.UNDO else self.redo
        for _ in range(count):
            step()
        return {"branch": self.name, "edit": kind.value, "count": count, "message": ""}


def _plain(state: Any) -> Any:
    """A keyed state view as a plain dict (JSON output)."""
    if isinstance(state, dict):
        return state
    return dict(state.items()) if hasattr(state, "items") else state


# --- opening --------------------------------------------------------------------------------


def open_session(
    path: str | os.PathLike[str],
    *,
    workspace: str | os.PathLike[str] | None = None,
    strict: bool = False,
    fmt: str | None = None,
    mapping: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
) -> Session:
    """Import (or reopen) ``path`` into its workspace and load its branches.

    Raises InputError for a log that cannot be read (the message names the file and what to
    do); a workspace that cannot be opened is an InputError too.
    """
    log_path = Path(path).expanduser().absolute()
    import_path, conversion, converter = log_path, None, None
    if fmt is None or fmt in converters.names():
        converter = converters.pick(log_path, fmt)
    if converter is not None:
        if not log_path.exists():
            raise InputError(f"{log_path}: no such file; check the path")
        # Read once into canonical JSON Lines in Rewind's cache (the log is never written);
        # the workspace then imports that file like any other.
        import_path, conversion = converters.convert_cached(
            log_path, converter, strict=strict, progress=progress
        )
        fmt = mapping = None
    session = _open_imported(
        log_path, import_path, workspace, strict=strict, fmt=fmt, mapping=mapping, progress=progress
    )
    if converter is not None:
        assert conversion is not None
        _describe_conversion(session, converter.name, import_path, conversion)
        if converter.name == redux.CONVERTER.name:
            _open_as_devtools_did(session)
    return session


def open_table(
    source: sqltable.TableSource,
    *,
    workspace: str | os.PathLike[str] | None = None,
    strict: bool = False,
    progress: ProgressFn | None = None,
) -> Session:
    """Read an event table of a database (by SQLAlchemy URL) into canonical JSON Lines in
    Rewind's cache — again only when its rows changed — and open that like a log. The session
    is named after the table (the URL's password masked)."""
    return _open_database(
        source.describe(),
        source.table,
        "sql-table",
        source.key(),
        lambda out: sqltable.convert(source, out, strict=strict, progress=progress),
        workspace=workspace,
        strict=strict,
        progress=progress,
        identity=source.describe()
        + orjson.dumps(
            [source.columns, source.where, source.since, source.until, source.order_by],
            default=str,
        ).decode(),
    )


def open_eventsourcing_store(
    url: str,
    *,
    schema: str | None = None,
    workspace: str | os.PathLike[str] | None = None,
    strict: bool = False,
    progress: ProgressFn | None = None,
) -> Session:
    """A PostgreSQL store of the Python eventsourcing library, by URL (its events table is
    found by its columns, in ``schema``, default public)."""
    name = f"{sqltable.mask_url(url)}#{schema or 'public'} (eventsourcing)"
    return _open_database(
        name,
        "eventsourcing",
        "eventsourcing-postgres",
        eventsourcing_store.postgres_key(url, schema),
        lambda out: eventsourcing_store.convert_postgres(
            url, out, schema=schema, strict=strict, progress=progress
        ),
        workspace=workspace,
        strict=strict,
        progress=progress,
    )


def _open_database(
    name: str,
    label_name: str,
    kind: str,
    key: str,
    write: Callable[[Any], converters.Conversion],
    *,
    workspace: str | os.PathLike[str] | None,
    strict: bool,
    progress: ProgressFn | None,
    identity: str | None = None,
) -> Session:
    """Rows of a database, converted into the cache once per content key, opened as a log
    with its own workspace (keyed by the masked name)."""
    import_path, conversion = converters.cached(
        label_name, kind, identity or name, key, write, strict=strict
    )
    digest = hashlib.sha1(name.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]
    label = Path("/") / "database-tables" / digest / label_name
    target = workspace if workspace is not None else default_workspace_for(label)
    session = _open_imported(label, import_path, target, strict=strict, progress=progress)
    session.name = name
    session.path = None
    _describe_conversion(session, kind, import_path, conversion)
    return session


def _open_imported(
    log_path: Path,
    import_path: Path,
    workspace: str | os.PathLike[str] | None,
    *,
    strict: bool,
    fmt: str | None = None,
    mapping: dict[str, Any] | None = None,
    progress: ProgressFn | None,
) -> Session:
    target = Path(workspace) if workspace and "://" not in str(workspace) else workspace
    try:
        ws = Workspace.open(target if target is not None else default_workspace_for(log_path))
    except WorkspaceError as exc:
        raise InputError(f"cannot open the workspace: {exc}") from None
    try:
        source, change = _import(
            ws, import_path, strict=strict, fmt=fmt, mapping=mapping, progress=progress
        )
        if change not in ("unchanged", "missing"):
            release_free_memory()  # what the import freed (see models.memory)
        return _load(ws, source, log_path, change)
    except BaseException:
        ws.close()
        raise


def _describe_conversion(
    session: Session, kind: str, import_path: Path, conversion: converters.Conversion
) -> None:
    session.problems[:0] = conversion.problems
    info = session.import_info
    info["format"] = kind
    info["records_read"] = conversion.records + conversion.skipped
    info["skipped"] = int(info.get("skipped", 0)) + conversion.skipped
    info["converted"] = str(import_path)
    info["notes"] = list(conversion.notes)


SKIPPED_BRANCH = "skipped in DevTools"


def _open_as_devtools_did(session: Session) -> None:
    """A Redux DevTools export opens as the DevTools showed it: its recorded states as the
    projection, the actions skipped there dropped in a branch, the cursor on the action that
    was shown."""
    hints = redux.hints_from_events(session.log.iter_events())
    if hints.get("projection"):
        recorded = RecordedStateProjection(hints.get("initial_state"))
        session.builtin[recorded.name] = recorded
        session.use_projection(recorded.name)
    skipped = hints.get("skipped_event_ids") or []
    if skipped and SKIPPED_BRANCH not in session.engine.branches():
        session.create_branch(SKIPPED_BRANCH)
        keys = [session.resolve_event(MAIN, event_id) for event_id in skipped]
        BranchOps(session, SKIPPED_BRANCH).drop_batch(keys, "skipped in DevTools")
    current = hints.get("current_event_id")
    if current is not None:
        session.start_row = session.engine.row_of(MAIN, session.resolve_event(MAIN, current))


def _remember_mtime(ws: Workspace, source: Any, log_path: Path) -> None:
    """A log found unchanged by its hash (only touched): record its new mtime, so the next
    open does not hash a few hundred megabytes again. A read-only workspace just skips it."""
    try:
        mtime_ns = log_path.stat().st_mtime_ns
    except OSError:
        return
    if mtime_ns != source.mtime_ns:
        with contextlib.suppress(WorkspaceError):
            ws.touch_source(source.id, mtime_ns)


def _import(
    ws: Workspace,
    log_path: Path,
    *,
    strict: bool,
    fmt: str | None,
    mapping: dict[str, Any] | None,
    progress: ProgressFn | None,
) -> tuple[Any, str]:
    source = ws.find_source(log_path)
    if source is not None and source.ready:
        change = classify_change(source, log_path)
        wants_other = (fmt is not None and fmt != source.format) or (
            mapping is not None and _remaps(source.mapping, mapping)
        )
        if wants_other and change != "missing":
            change = "changed"
        if change == "unchanged":
            _remember_mtime(ws, source, log_path)
            return source, change
        if change == "missing":
            return source, change  # the workspace holds every payload: still readable
        if change == "grown":
            old = WorkspaceLog(ws, source.id, _decoder(source))
            with ws.begin_append(source.id) as w:
                res = run_import(
                    log_path,
                    sink=w,
                    fmt=source.format,
                    mapping=FieldMapping.from_json(source.mapping),
                    strict=strict,
                    start_offset=w.start_offset,
                    start_line=w.start_line,
                    start_pos=w.start_pos,
                    previous_ids=old.columns.event_ids.tolist(),
                    previous_raw=old.raw,
                    progress=progress,
                )
                return w.finish(res), change
        with ws.replace_source(source.id) as w:
            res = run_import(
                log_path,
                sink=w,
                fmt=fmt,
                mapping=mapping,
                strict=strict,
                start_pos=w.start_pos,
                progress=progress,
            )
            return w.finish(res), change
    if not log_path.exists():
        raise InputError(f"{log_path}: no such file; check the path")
    with ws.begin_import(log_path) as w:
        res = run_import(
            log_path,
            sink=w,
            fmt=fmt,
            mapping=mapping,
            strict=strict,
            start_pos=w.start_pos,
            progress=progress,
        )
        return w.finish(res), "new"


def _remaps(stored: Any, overrides: dict[str, Any]) -> bool:
    """Whether ``--mapping`` overrides change the mapping the log was imported with."""
    mapping = FieldMapping.from_json(stored)
    return bool(mapping.with_overrides(overrides).to_json() != mapping.to_json())


def _decoder(source: Any) -> Callable[..., Event]:
    return make_decoder(FieldMapping.from_json(source.mapping))


def _load(ws: Workspace, source: Any, log_path: Path, change: str) -> Session:
    mapping = FieldMapping.from_json(source.mapping)
    log = WorkspaceLog(
        ws,
        source.id,
        _decoder(source),
        data_decode=make_data_decoder(mapping),
        document_decode=make_document_decoder(mapping),
        raw_holds_payload=mapping.preset == PLAIN_JSON,  # not CloudEvents: data_base64
    )
    engine = Engine(log, GenericProjection())
    session = Session(
        name=log_path.name,
        log=log,
        engine=engine,
        problems=ws.problems(source.id),
        path=log_path,
        workspace=ws,
        source_id=source.id,
        import_info={
            "format": source.format + (" (gzip)" if source.compressed else ""),
            "records_read": source.records_read,
            "imported": source.imported,
            "skipped": source.skipped,
            "workspace": ws.location,
            "change": change,
        },
    )
    rows = ws.branches(source.id, include_archived=True)
    names = {b.id: b.name for b in rows}
    for b in rows:  # parents are created before their children (ids grow)
        parent = names.get(b.parent_id, MAIN) if b.parent_id is not None else MAIN
        spec = BranchSpec(
            name=b.name,
            parent=parent,
            fork_at=b.fork_at,
            parent_edit_count=b.parent_edit_count,
            edits=tuple(ws.edits(b.id)),
        )
        try:
            engine.add_branch(spec)
        except BranchError as exc:
            session.problems.append(
                Problem(
                    file=ws.location,
                    line=0,
                    offset=0,
                    reason=f"branch {b.name!r} could not be loaded: {exc}",
                )
            )
            continue
        session.branch_ids[b.name] = b.id
    _seed_from_snapshot(ws, source.id, engine, session)
    return session


def _seed_from_snapshot(ws: Workspace, source_id: int, engine: Engine, session: Session) -> None:
    """Hand the engine the persisted end state, to be loaded when first needed (a window that
    opens on the first events never needs it), and the long streams' snapshots now (small).

    The end state is millions of small dicts: the cycle collector's scans would double the
    load, and every later collection would scan them again for nothing (they live as long as
    the session), so they are loaded with it paused and then frozen out of its way.
    """
    row = len(session.log) - 1
    name = engine.projection.name

    def long_streams() -> Any:
        streams = ws.load_snapshot(source_id, None, name + STREAMS_SUFFIX)
        return streams.state if streams is not None and streams.row == row else None

    def load() -> Any:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            snap = ws.load_snapshot(source_id, None, name)
            if snap is None or snap.row != row:
                return None
            session.import_info["snapshot_row"] = snap.row
            return snap.state
        finally:
            if was_enabled:
                gc.freeze()
                gc.enable()

    if ws.snapshot_rows(source_id, None, name):
        engine.defer_end_state(load, long_streams)
