"""A branch's edits as the user sees them: an undo history, marks per event, a change list.

The engine keeps every edit record (UNDO and REDO included) and which edits are in effect;
this module turns that into what a debugger shows: a linear history with the current point
(edits in effect, then the undone ones that Redo would bring back), the keys each kind of
edit touches along the branch's ancestry (for table and timeline marks), and batches of
edits the user made with one command (undone and redone together).

Qt-free: the CLI and the window share it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.edits import Edit, EditKind
from models.event import EventKey, format_key


@dataclass(frozen=True, slots=True)
class EditGroup:
    """Edit records ``first..last`` (indices into the branch's edits) made by one command."""

    first: int
    last: int
    label: str

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and self.first <= index <= self.last

    def to_json(self) -> list[Any]:
        return [self.first, self.last, self.label]

    @staticmethod
    def from_json(value: Any) -> EditGroup | None:
        if (
            isinstance(value, list)
            and len(value) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value[:2])
            and isinstance(value[2], str)
        ):
            return EditGroup(value[0], value[1], value[2])
        return None


def stacks(edits: Sequence[Edit], count: int | None = None) -> tuple[list[int], list[int]]:
    """(in effect, undone) after the first ``count`` records: the engine's undo semantics
    (an edit made after undos discards what could have been redone)."""
    applied: list[int] = []
    undone: list[int] = []
    for i, edit in enumerate(edits[: len(edits) if count is None else count]):
        if edit.kind is EditKind.UNDO:
            if applied:
                undone.append(applied.pop())
        elif edit.kind is EditKind.REDO:
            if undone:
                applied.append(undone.pop())
        else:
            applied.append(i)
            undone.clear()
    return applied, undone


def describe(edit: Edit) -> str:
    """One line for a history list."""
    target = "" if edit.target is None else format_key(edit.target)
    where = "the start" if edit.after is None else format_key(edit.after)
    kind = edit.kind
    if kind is EditKind.DROP:
        return f"Drop {target}"
    if kind is EditKind.RESTORE:
        return f"Restore {target}"
    if kind is EditKind.EDIT:
        fields = ", ".join(sorted(edit.changes or {})) or "nothing"
        return f"Edit {target} ({fields})"
    if kind is EditKind.INSERT:
        event = edit.event or {}
        what = f"{event.get('type', '?')} on {event.get('stream', '?')}"
        return f"Insert {target} {what} after {where}"
    if kind is EditKind.MOVE:
        return f"Move {target} after {where}"
    return kind.value.capitalize()


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One step of the undo history: a single edit or a batch made by one command."""

    indices: tuple[int, ...]
    """Edit records it stands for, in the order they were appended."""
    label: str
    applied: bool
    """In effect now (above the current point) or undone (Redo brings it back)."""


def history(edits: Sequence[Edit], groups: Sequence[EditGroup] = ()) -> list[HistoryEntry]:
    """The linear history: entries in effect (oldest first), then the undone ones in the
    order Redo would re-apply them. Batches are one entry each."""
    applied, undone = stacks(edits)
    order = [(i, True) for i in applied] + [(i, False) for i in reversed(undone)]
    out: list[HistoryEntry] = []
    for i, is_applied in order:
        group = group_of(groups, i)
        if group is not None and out and out[-1].applied == is_applied:
            last = out[-1]
            if group_of(groups, last.indices[-1]) == group:
                out[-1] = HistoryEntry((*last.indices, i), last.label, is_applied)
                continue
        label = describe(edits[i]) if group is None else group.label
        out.append(HistoryEntry((i,), label, is_applied))
    return out


def group_of(groups: Sequence[EditGroup], index: int) -> EditGroup | None:
    for group in groups:
        if index in group:
            return group
    return None


def current_point(entries: Sequence[HistoryEntry]) -> int:
    """How many entries are in effect (0: the branch as forked)."""
    return sum(1 for e in entries if e.applied)


def steps_to(entries: Sequence[HistoryEntry], point: int) -> tuple[EditKind, int]:
    """What reaching ``point`` entries in effect takes: (UNDO or REDO, number of records)."""
    now = current_point(entries)
    if point < now:
        return EditKind.UNDO, sum(len(e.indices) for e in entries[point:now])
    return EditKind.REDO, sum(len(e.indices) for e in entries[now:point])


def undo_count(edits: Sequence[Edit], groups: Sequence[EditGroup]) -> int:
    """Records one Undo takes back: the latest edit in effect, or its whole batch."""
    entries = history(edits, groups)
    point = current_point(entries)
    return len(entries[point - 1].indices) if point else 0


def redo_count(edits: Sequence[Edit], groups: Sequence[EditGroup]) -> int:
    entries = history(edits, groups)
    point = current_point(entries)
    return len(entries[point].indices) if point < len(entries) else 0


# --- what a branch changed, along its ancestry ------------------------------------------


@dataclass
class RowMarks:
    """Keys a branch (with the ancestors' edits it sees) dropped, edited, inserted, moved;
    and where it and its ancestors fork. Dropped events are also in the sequence's mask."""

    dropped: frozenset[EventKey] = frozenset()
    edited: frozenset[EventKey] = frozenset()
    inserted: frozenset[EventKey] = frozenset()
    moved: frozenset[EventKey] = frozenset()
    forks: list[tuple[str, str, EventKey | None]] = field(default_factory=list)
    """(branch, its parent, fork point) from this branch up to the first branch of main."""

    def kinds(self, key: EventKey) -> list[str]:
        out = []
        for name in ("dropped", "edited", "inserted", "moved"):
            if key in getattr(self, name):
                out.append(name)
        return out

    @property
    def empty(self) -> bool:
        return not (self.dropped or self.edited or self.inserted or self.moved)


def chain_edits(engine: Any, branch: str) -> list[tuple[str, Edit]]:
    """The edits in effect in ``branch``, its ancestors' (as far as it sees them) first."""
    chain: list[tuple[str, int | None]] = []
    name: str | None = branch
    limit: int | None = None
    while name is not None:
        info = engine.branch(name)
        chain.append((name, limit))
        limit = info.parent_edit_count
        name = info.parent
    out: list[tuple[str, Edit]] = []
    for name, count in reversed(chain):
        info = engine.branch(name)
        applied = list(info.in_effect) if count is None else stacks(info.edits, count)[0]
        out.extend((name, info.edits[i]) for i in applied)
    return out


def row_marks(engine: Any, branch: str) -> RowMarks:
    """Marks for the table and the timeline (cheap: proportional to the number of edits)."""
    seq = engine.sequence(branch)
    moved = frozenset(
        e.target
        for _, e in chain_edits(engine, branch)
        if e.kind is EditKind.MOVE and e.target is not None
    )
    forks = []
    name: str | None = branch
    while name is not None:
        info = engine.branch(name)
        if info.parent is not None:
            forks.append((name, info.parent, info.fork_at))
        name = info.parent
    dropped: frozenset[EventKey] = frozenset()
    if seq.effective_count < len(seq):
        dropped = frozenset(np.asarray(seq.keys)[np.asarray(seq.dropped)].tolist())
    return RowMarks(
        dropped=dropped,
        edited=frozenset(seq.edited),
        inserted=frozenset(seq.inserted),
        moved=moved - frozenset(seq.inserted),
        forks=forks,
    )


@dataclass(frozen=True, slots=True)
class Changed:
    """One event a branch changed against the source log, for export reports."""

    key: EventKey
    kind: str
    """dropped, edited, inserted or moved."""
    row: int | None
    """Its display row in the branch."""
    event: Any
    """The event as the branch has it (an Event)."""
    original: Any = None
    """The source's version (edited events)."""


def changed_events(engine: Any, branch: str) -> list[Changed]:
    """Every event the branch's effective log differs in from the source, in branch order."""
    marks = row_marks(engine, branch)
    out: list[Changed] = []
    for kind in ("dropped", "edited", "inserted", "moved"):
        for key in getattr(marks, kind):
            row = engine.row_of(branch, key)
            if row is None:
                continue
            event = engine.event_at(branch, row)
            original = engine.original_event(branch, row) if kind == "edited" else None
            out.append(Changed(key, kind, row, event, original))
    out.sort(key=lambda c: (c.row if c.row is not None else -1, c.kind))
    return out
