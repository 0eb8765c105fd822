"""Branches: a parent, a fork point and an append-only list of edits (DESIGN.md, Replay engine).

A branch's *display sequence* (every event in branch order, dropped ones included and marked)
is derived, never stored: its *base* is the parent's sequence as it was when the branch forked
(the parent's first ``parent_edit_count`` edits), and the edits in effect are replayed on top.
A derivation copies an array at most once per kind of change, so a drop costs one mask copy
and never a re-sort; inserts and moves cost an O(n) memmove each.

Edits are validated once, when they are appended, against the sequence they apply to. Undo and
redo keep the edits in effect a stack, so an edit is always re-applied to the very sequence it
was validated against, and its effect (a :class:`Step`) can be computed once and reused.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from models.edits import Edit, EditKind
from models.event import Event, EventKey, datetime_to_us, format_key
from models.log import EventLog, Int64Array

BoolArray = npt.NDArray[np.bool_]

MAIN: Final = "main"
"""The root branch: the source log as imported, plus its own edits."""


class BranchError(Exception):
    """A branch cannot be created, found or removed as asked."""


class EditError(BranchError):
    """An edit that is invalid for its branch as it stands; nothing was recorded."""


@dataclass(frozen=True, slots=True)
class BranchSpec:
    """What :meth:`Engine.add_branch` needs to (re)create a branch, e.g. from the workspace."""

    name: str
    parent: str
    fork_at: EventKey | None = None
    """The parent's event after which the branch forks; ``None``: from the very start."""
    parent_edit_count: int = 0
    """How many of the parent's edit records existed at fork time (later ones do not apply)."""
    edits: tuple[Edit, ...] = ()


@dataclass(frozen=True, slots=True)
class BranchInfo:
    name: str
    parent: str | None
    fork_at: EventKey | None
    parent_edit_count: int
    edits: tuple[Edit, ...]
    """Every edit record as appended (an INSERT without ``event_id`` got one)."""
    in_effect: tuple[int, ...]
    """Indices into ``edits`` of the edits currently in effect, oldest first."""
    can_undo: bool
    can_redo: bool


@dataclass(frozen=True, slots=True)
class Step:
    """The validated effect of one DROP, RESTORE, EDIT, INSERT or MOVE."""

    kind: EditKind
    key: EventKey
    after: EventKey | None = None
    event: Event | None = None
    """The new version (EDIT) or the new event (INSERT)."""
    revision: int = 0
    """Identifies ``event``'s content across derivations (0: the source's own content)."""


_serials = itertools.count()


class Derivation:
    """One display sequence: keys in branch order, the dropped mask and the edited events.

    Treat as immutable: derivations share arrays with the ones they were derived from.
    """

    __slots__ = (
        "__weakref__",
        "_negative_rows",
        "_source_rows",
        "drop_count",
        "dropped",
        "identity",
        "inserted",
        "keys",
        "n_source",
        "overrides",
        "relocated",
        "revisions",
        "serial",
        "touched",
    )

    def __init__(
        self,
        keys: Int64Array,
        dropped: BoolArray,
        *,
        n_source: int,
        identity: bool,
        drop_count: int,
        overrides: dict[EventKey, Event],
        inserted: dict[EventKey, Event],
        revisions: dict[EventKey, int],
        touched: frozenset[EventKey],
        relocated: frozenset[EventKey],
    ) -> None:
        self.serial = next(_serials)
        self.keys = keys
        self.dropped = dropped
        self.n_source = n_source
        self.identity = identity
        """``keys`` is ``arange(n_source)``: display row == source position."""
        self.drop_count = drop_count
        self.overrides = overrides
        """Key -> the version this sequence uses, for edited and inserted events."""
        self.inserted = inserted
        """Key -> the event as inserted (before any later edit of it)."""
        self.revisions = revisions
        self.touched = touched
        """Keys any edit in effect (here or in an ancestor) dropped, restored, edited, inserted
        or moved: everything else is exactly as in the source."""
        self.relocated = relocated
        """Keys inserted or moved: their rows no longer follow source order."""
        self._source_rows: Int64Array | None = None
        self._negative_rows: dict[EventKey, int] | None = None

    @staticmethod
    def source(n: int) -> Derivation:
        return Derivation(
            np.arange(n, dtype=np.int64),
            np.zeros(n, np.bool_),
            n_source=n,
            identity=True,
            drop_count=0,
            overrides={},
            inserted={},
            revisions={},
            touched=frozenset(),
            relocated=frozenset(),
        )

    def __len__(self) -> int:
        return int(self.keys.shape[0])

    @property
    def effective_count(self) -> int:
        return len(self) - self.drop_count

    def source_rows(self) -> Int64Array:
        """The display row of every source event (index: source position)."""
        if self._source_rows is None:
            if self.identity:
                self._source_rows = self.keys
            else:
                rows = np.empty(self.n_source, np.int64)
                mask = self.keys >= 0
                rows[self.keys[mask]] = np.flatnonzero(mask)
                self._source_rows = rows
        return self._source_rows

    def row_of(self, key: EventKey) -> int | None:
        if key >= 0:
            if key >= self.n_source:
                return None
            return key if self.identity else int(self.source_rows()[key])
        if self._negative_rows is None:
            rows = np.flatnonzero(self.keys < 0)
            self._negative_rows = dict(zip(self.keys[rows].tolist(), rows.tolist(), strict=True))
        return self._negative_rows.get(key)

    def event(self, key: EventKey, log: EventLog) -> Event:
        """The version of event ``key`` this sequence uses."""
        found = self.overrides.get(key)
        return log.event(key) if found is None else found

    def events(self, log: EventLog, start: int, stop: int) -> list[Event]:
        """The events at display rows ``start..stop-1`` (dropped ones included), reading runs
        of consecutive source positions with one ``log.events`` call each."""
        if self.identity:
            out = list(log.events(start, stop))  # a copy: the log may hand out its cache
        else:
            keys = self.keys[start:stop]
            if keys.shape[0] == 0:
                return []
            breaks = np.flatnonzero((np.diff(keys) != 1) | (keys[:-1] < 0)) + 1
            bounds = [0, *breaks.tolist(), int(keys.shape[0])]
            out = []
            for lo, hi in itertools.pairwise(bounds):
                first = int(keys[lo])
                if first < 0:
                    out.append(self.overrides[first])
                else:
                    out.extend(log.events(first, first + hi - lo))
        if self.overrides:
            window = self.keys[start:stop]
            for i in np.flatnonzero(np.isin(window, list(self.overrides))).tolist():
                out[i] = self.overrides[int(window[i])]
        return out


def derive(base: Derivation, steps: Sequence[Step]) -> Derivation:
    """``base`` with ``steps`` applied in order (each validated against its predecessor)."""
    if not steps:
        return base
    keys, dropped = base.keys, base.dropped
    own_dropped = False
    shifted = False  # rows no longer match base's: look them up in ``keys``
    identity, drop_count = base.identity, base.drop_count
    overrides, inserted = dict(base.overrides), dict(base.inserted)
    revisions = dict(base.revisions)
    touched, relocated = set(base.touched), set(base.relocated)

    def row(key: EventKey) -> int:
        if not shifted:
            found = base.row_of(key)
            assert found is not None, f"validated step names a missing event {format_key(key)}"
            return found
        return int(np.flatnonzero(keys == key)[0])

    for step in steps:
        key = step.key
        touched.add(key)
        if step.kind is EditKind.DROP or step.kind is EditKind.RESTORE:
            at = row(key)
            if not own_dropped:
                dropped, own_dropped = dropped.copy(), True
            value = step.kind is EditKind.DROP
            if bool(dropped[at]) != value:
                drop_count += 1 if value else -1
                dropped[at] = value
        elif step.kind is EditKind.EDIT:
            assert step.event is not None
            overrides[key] = step.event
            revisions[key] = step.revision
        else:
            was_dropped = False
            if step.kind is EditKind.MOVE:
                at = row(key)
                was_dropped = bool(dropped[at])
                keys, dropped = np.delete(keys, at), np.delete(dropped, at)
            else:
                assert step.event is not None
                overrides[key] = inserted[key] = step.event
                revisions[key] = step.revision
            shifted, own_dropped, identity = True, True, False
            to = 0 if step.after is None else row(step.after) + 1
            keys = np.insert(keys, to, key)
            dropped = np.insert(dropped, to, was_dropped)
            relocated.add(key)
    return Derivation(
        keys,
        dropped,
        n_source=base.n_source,
        identity=identity,
        drop_count=drop_count,
        overrides=overrides,
        inserted=inserted,
        revisions=revisions,
        touched=frozenset(touched),
        relocated=frozenset(relocated),
    )


class Branch:
    """The engine's mutable record of one branch: its edits, the stack of those in effect,
    and its current derivation."""

    def __init__(
        self,
        name: str,
        parent: str | None,
        fork_at: EventKey | None,
        parent_edit_count: int,
        base: Derivation,
    ) -> None:
        self.name = name
        self.parent = parent
        self.fork_at = fork_at
        self.parent_edit_count = parent_edit_count
        self.base = base
        fork_row = -1 if fork_at is None else base.row_of(fork_at)
        if fork_row is None:
            raise BranchError(
                f"cannot fork branch {name!r} after {format_key(fork_at or 0)}: "
                f"branch {parent!r} has no such event"
            )
        self.fork_row = fork_row
        self.edits: list[Edit] = []
        self.steps: list[Step | None] = []
        self.applied: list[int] = []
        self.undone: list[int] = []
        self.redo_blocked = False
        self.current = base

    def info(self) -> BranchInfo:
        return BranchInfo(
            name=self.name,
            parent=self.parent,
            fork_at=self.fork_at,
            parent_edit_count=self.parent_edit_count,
            edits=tuple(self.edits),
            in_effect=tuple(self.applied),
            can_undo=bool(self.applied),
            can_redo=bool(self.undone),
        )

    def is_after_fork(self, key: EventKey) -> bool:
        """Edits may only touch events after the fork point (by their row in the base)."""
        row = self.base.row_of(key)
        return row is None or row > self.fork_row

    def applied_after(self, count: int) -> tuple[int, ...]:
        """The edits in effect once the first ``count`` edit records had been appended."""
        applied: list[int] = []
        undone: list[int] = []
        for i, edit in enumerate(self.edits[:count]):
            if edit.kind is EditKind.UNDO:
                undone.append(applied.pop())
            elif edit.kind is EditKind.REDO:
                applied.append(undone.pop())
            else:
                applied.append(i)
                undone.clear()
        return tuple(applied)

    def check_undo_redo(self, kind: EditKind) -> None:
        if kind is EditKind.UNDO and not self.applied:
            raise EditError(f"nothing to undo in branch {self.name!r}")
        if kind is EditKind.REDO and not self.undone:
            if self.redo_blocked:
                raise EditError(
                    f"cannot redo in branch {self.name!r}: an edit was made after the last undo"
                )
            raise EditError(f"nothing to redo in branch {self.name!r}")

    def record(self, edit: Edit, step: Step | None) -> None:
        """Append a validated edit (``step`` is None for UNDO and REDO)."""
        index = len(self.edits)
        self.edits.append(edit)
        self.steps.append(step)
        if edit.kind is EditKind.UNDO:
            self.undone.append(self.applied.pop())
        elif edit.kind is EditKind.REDO:
            self.applied.append(self.undone.pop())
        else:
            self.applied.append(index)
            self.redo_blocked = self.redo_blocked or bool(self.undone)
            self.undone.clear()
        if edit.kind is EditKind.UNDO or edit.kind is EditKind.REDO:
            self.redo_blocked = self.redo_blocked and not self.undone

    def steps_for(self, applied: Sequence[int]) -> list[Step]:
        out = []
        for i in applied:
            step = self.steps[i]
            assert step is not None
            out.append(step)
        return out


# --- validation -------------------------------------------------------------------------

_NAMES: Final = ("event_id", "stream", "type")
_OPTIONAL_NAMES: Final = ("correlation_id", "causation_id")
_OPTIONAL_INTS: Final = ("version", "schema_version")
_TIMES: Final = {"recorded_at": "recorded_us", "processed_at": "processed_us"}
EVENT_FIELDS: Final = frozenset(
    (*_NAMES, *_OPTIONAL_NAMES, *_OPTIONAL_INTS, *_TIMES, "data", "metadata")
)
"""Fields an EDIT may change and an INSERT may carry (canonical JSON names)."""


def make_step(branch: Branch, edit: Edit, log: EventLog, revision: int) -> tuple[Step, Edit]:
    """Validate a DROP/RESTORE/EDIT/INSERT/MOVE against the branch's current sequence.

    Returns its effect and the edit as it should be recorded (an INSERT without an
    ``event_id`` gets a fresh one, so that re-deriving the sequence gives the same event).
    Raises :class:`EditError` naming the event when the edit does not apply.
    """
    seq = branch.current
    kind = edit.kind
    if kind is EditKind.INSERT:
        return _insert_step(branch, edit, revision)
    verb = kind.value
    if edit.target is None:
        raise EditError(f"cannot {verb} in branch {branch.name!r}: the edit names no event")
    key = edit.target
    shown = format_key(key)
    row = seq.row_of(key)
    if row is None:
        raise EditError(f"cannot {verb} {shown}: no such event in branch {branch.name!r}")
    if not branch.is_after_fork(key):
        raise EditError(
            f"cannot {verb} {shown}: branch {branch.name!r} forks after "
            f"{format_key(branch.fork_at or 0)}; only events after the fork point can be changed"
        )
    if kind is EditKind.DROP:
        if seq.dropped[row]:
            raise EditError(f"cannot drop {shown}: it is already dropped in branch {branch.name!r}")
        return Step(kind, key), edit
    if kind is EditKind.RESTORE:
        if not seq.dropped[row]:
            raise EditError(f"cannot restore {shown}: it is not dropped in branch {branch.name!r}")
        return Step(kind, key), edit
    if kind is EditKind.EDIT:
        what = f"cannot edit {shown}"
        if not edit.changes:
            raise EditError(f"{what}: the edit changes nothing (give field: new value pairs)")
        fields = _event_fields(edit.changes, what)
        new = seq.event(key, log).with_changes(**fields)
        return Step(kind, key, event=new, revision=revision), edit
    if kind is EditKind.MOVE:
        if edit.after == key:
            raise EditError(f"cannot move {shown} after itself")
        _check_anchor(branch, edit.after, f"move {shown}")
        return Step(kind, key, after=edit.after), edit
    raise EditError(f"cannot apply a {verb} edit here (undo and redo are handled by the branch)")


def _insert_step(branch: Branch, edit: Edit, revision: int) -> tuple[Step, Edit]:
    key = edit.target
    if key is None or key >= 0:
        raise EditError(
            f"cannot insert an event with key {key!r} in branch {branch.name!r}: inserted "
            f"events need a negative key (see Engine.new_insert_key)"
        )
    shown = format_key(key)
    what = f"cannot insert {shown}"
    if branch.current.row_of(key) is not None:
        raise EditError(f"{what}: branch {branch.name!r} already has an event with that key")
    raw = edit.event
    if not isinstance(raw, dict):
        raise EditError(f"{what}: the edit carries no event (a JSON object with stream and type)")
    missing = [name for name in ("stream", "type") if name not in raw]
    if missing:
        raise EditError(f"{what}: the event needs {' and '.join(missing)}")
    _check_anchor(branch, edit.after, f"insert {shown}")
    fields = _event_fields(raw, what)
    if "event_id" not in fields:
        fields["event_id"] = uuid.uuid4().hex
        edit = replace(edit, event={**raw, "event_id": fields["event_id"]})
    fields.setdefault("metadata", {})
    event = Event(key=key, pos=-1, **fields)
    return Step(EditKind.INSERT, key, after=edit.after, event=event, revision=revision), edit


def _check_anchor(branch: Branch, after: EventKey | None, what: str) -> None:
    fork = format_key(branch.fork_at or 0)
    if after is None:
        if branch.fork_at is not None:
            raise EditError(
                f"cannot {what} at the start: branch {branch.name!r} forks after {fork}; "
                f"events can only be placed after the fork point"
            )
        return
    if branch.current.row_of(after) is None:
        raise EditError(
            f"cannot {what} after {format_key(after)}: no such event in branch {branch.name!r}"
        )
    if after != branch.fork_at and not branch.is_after_fork(after):
        raise EditError(
            f"cannot {what} after {format_key(after)}: branch {branch.name!r} forks after "
            f"{fork}; events can only be placed after the fork point"
        )


def _event_fields(raw: dict[str, Any], what: str) -> dict[str, Any]:
    """Canonical JSON fields -> :class:`Event` constructor arguments, checked."""
    unknown = sorted(set(raw) - EVENT_FIELDS)
    if unknown:
        raise EditError(
            f"{what}: unknown field {', '.join(unknown)} "
            f"(known fields: {', '.join(sorted(EVENT_FIELDS))})"
        )
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name in _NAMES:
            if not isinstance(value, str) or not value:
                raise EditError(f"{what}: {name} must be a non-empty string, not {value!r}")
        elif name in _OPTIONAL_NAMES:
            if value is not None and not isinstance(value, str):
                raise EditError(f"{what}: {name} must be a string or null, not {value!r}")
        elif name in _OPTIONAL_INTS:
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise EditError(f"{what}: {name} must be an integer or null, not {value!r}")
        elif name == "metadata":
            if not isinstance(value, dict):
                raise EditError(f"{what}: metadata must be a JSON object, not {value!r}")
        elif name in _TIMES:
            out[_TIMES[name]] = _timestamp(value, name, what)
            continue
        out[name] = value
    return out


def _timestamp(value: object, name: str, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return datetime_to_us(datetime.fromisoformat(value))
        except ValueError:
            pass
    raise EditError(
        f"{what}: {name} must be an ISO 8601 time such as 2024-01-31T12:00:00Z, not {value!r}"
    )
