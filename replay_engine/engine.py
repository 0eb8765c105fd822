"""The replay engine: branches of a log, states at any row, changes and comparisons.

Every position the engine takes or returns is a *display row* of a branch: ``0..len-1`` over
the branch's display sequence (dropped events included, so the table can show them struck
through), ``-1`` for the initial state. The state at row ``r`` is the state after applying
every non-dropped event at rows ``0..r``. For ``main`` without edits, row == source position.

The engine is not thread-safe: the application runs it on one worker thread. Long folds call
``progress(done, total)`` now and then; returning False stops them with :class:`Cancelled`.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from models.edits import Edit, EditKind
from models.event import JSON, Event, EventKey
from models.log import EventLog, Int64Array
from replay_engine import compare
from replay_engine.branches import (
    MAIN,
    BoolArray,
    Branch,
    BranchError,
    BranchInfo,
    BranchSpec,
    Derivation,
    EditError,
    derive,
    make_step,
)
from replay_engine.diff import Change, diff
from replay_engine.errors import Cancelled, ProjectionError
from replay_engine.general import GeneralReplayer, SnapshotStore
from replay_engine.keyed import EndState, KeyedReplayer, KeyedState
from replay_engine.projection import KeyedProjection, Projection

ProgressFn = Callable[[int, int], bool]
"""``progress(done, total) -> keep_going``: called during long folds; False cancels."""

_DERIVATION_CACHE: Final = 8
_READ_CHUNK: Final = 4096
_GAP: Final = 8


@dataclass(frozen=True, slots=True)
class DisplaySequence:
    """A branch's events in display order, dropped ones included (arrays are read-only)."""

    keys: Int64Array
    dropped: BoolArray
    effective_count: int
    """How many events are not dropped (the ones a replay applies)."""
    edited: frozenset[EventKey]
    """Keys whose event this branch (or an ancestor) replaced by a new version."""
    inserted: frozenset[EventKey]

    def __len__(self) -> int:
        return int(self.keys.shape[0])


@dataclass(frozen=True, slots=True)
class Alignment:
    """Rows of the events two branches share, in the first branch's order."""

    rows_a: Int64Array
    rows_b: Int64Array

    def __len__(self) -> int:
        return int(self.rows_a.shape[0])


class Engine:
    """Replays one log through one projection, over any number of branches.

    A projection that satisfies :class:`KeyedProjection` is replayed keyed (per-key folds,
    flat memory) unless ``keyed=False``; any other :class:`Projection` uses snapshots every
    ``snapshot_every`` rows (adaptive when None).
    """

    def __init__(
        self,
        log: EventLog,
        projection: Projection | KeyedProjection,
        *,
        progress: ProgressFn | None = None,
        keyed: bool | None = None,
        snapshot_every: int | None = None,
        stream_snapshot_every: int = 16,
        cache_size: int = 100_000,
    ) -> None:
        if keyed is None:
            keyed = isinstance(projection, KeyedProjection) and getattr(projection, "keyed", True)
        if snapshot_every is not None and snapshot_every < 1:
            raise ValueError(f"snapshot_every must be at least 1, not {snapshot_every}")
        if stream_snapshot_every < 1:
            raise ValueError(f"stream_snapshot_every must be >= 1, not {stream_snapshot_every}")
        self.log = log
        self.projection = projection
        self.progress = progress
        self._source = Derivation.source(len(log))
        self._branches: dict[str, Branch] = {MAIN: Branch(MAIN, None, None, 0, self._source)}
        self._derived: OrderedDict[tuple[str, tuple[int, ...]], Derivation] = OrderedDict()
        self._revisions = itertools.count(1)
        self._prefixes: OrderedDict[tuple[int, int], int] = OrderedDict()
        self._keyed: KeyedReplayer | None = None
        self._general: GeneralReplayer | None = None
        self._stores: dict[str, SnapshotStore] = {MAIN: SnapshotStore()}
        if keyed:
            if not isinstance(projection, KeyedProjection):
                raise TypeError(f"projection {projection!r} is not a KeyedProjection")
            self._keyed = KeyedReplayer(
                log,
                projection,
                self._source,
                tick=self._tick,
                cache_size=cache_size,
                stream_snapshot_every=stream_snapshot_every,
            )
        else:
            if not isinstance(projection, Projection):
                raise TypeError(f"projection {projection!r} is not a Projection")
            self._general = GeneralReplayer(
                log, projection, tick=self._tick, snapshot_every=snapshot_every
            )

    @property
    def is_keyed(self) -> bool:
        return self._keyed is not None

    # --- branches ---------------------------------------------------------------------------

    def branches(self) -> list[str]:
        """Branch names, parents before children."""
        return list(self._branches)

    def branch(self, name: str) -> BranchInfo:
        return self._branch(name).info()

    def add_branch(self, spec: BranchSpec) -> BranchInfo:
        """Create a branch (``spec.edits`` are validated and appended in order).

        Raises :class:`BranchError` for a bad name, parent, fork point or edit count, and
        :class:`EditError` (naming the edit's index) for an edit that does not apply; the
        branch is then not created.
        """
        if not spec.name or not spec.name.strip():
            raise BranchError("a branch needs a name")
        if spec.name in self._branches:
            raise BranchError(f"a branch named {spec.name!r} already exists")
        parent = self._branches.get(spec.parent)
        if parent is None:
            raise BranchError(f"cannot create branch {spec.name!r}: no parent {spec.parent!r}")
        if not 0 <= spec.parent_edit_count <= len(parent.edits):
            raise BranchError(
                f"cannot create branch {spec.name!r}: parent {spec.parent!r} has "
                f"{len(parent.edits)} edit(s), not {spec.parent_edit_count}"
            )
        base = self._derivation(parent, parent.applied_after(spec.parent_edit_count))
        branch = Branch(spec.name, spec.parent, spec.fork_at, spec.parent_edit_count, base)
        for i, edit in enumerate(spec.edits):
            try:
                self._append(branch, edit)
            except EditError as error:
                raise EditError(f"edit {i} of branch {spec.name!r}: {error}") from error
        self._branches[spec.name] = branch
        self._stores[spec.name] = SnapshotStore()
        return branch.info()

    def remove_branch(self, name: str) -> None:
        if name == MAIN:
            raise BranchError("the main branch cannot be removed")
        branch = self._branch(name)
        children = [b.name for b in self._branches.values() if b.parent == branch.name]
        if children:
            raise BranchError(f"branch {name!r} has child branches: {', '.join(children)}")
        del self._branches[name]
        del self._stores[name]
        for key in [key for key in self._derived if key[0] == name]:
            del self._derived[key]

    def append_edit(self, branch: str, edit: Edit) -> Edit:
        """Validate and append one edit; returns it as recorded (persist that one: an INSERT
        without ``event_id`` got a generated one). Raises :class:`EditError` if it does not
        apply, recording nothing."""
        return self._append(self._branch(branch), edit)

    def new_insert_key(self) -> EventKey:
        """A negative key no branch uses yet, for an INSERT edit."""
        lowest = 0
        for branch in self._branches.values():
            for edit in branch.edits:
                if edit.kind is EditKind.INSERT and edit.target is not None:
                    lowest = min(lowest, edit.target)
            if branch.base.inserted:
                lowest = min(lowest, *branch.base.inserted)
        return lowest - 1

    def _append(self, branch: Branch, edit: Edit) -> Edit:
        if edit.kind is EditKind.UNDO or edit.kind is EditKind.REDO:
            branch.check_undo_redo(edit.kind)
            if edit.kind is EditKind.UNDO:
                applied = tuple(branch.applied[:-1])
            else:
                applied = (*branch.applied, branch.undone[-1])
            new = self._derivation(branch, applied)
            branch.record(edit, None)
            self._set_current(branch, new)
            return edit
        step, recorded = make_step(branch, edit, self.log, next(self._revisions))
        new = derive(branch.current, [step])
        branch.record(recorded, step)
        self._set_current(branch, new)
        return recorded

    def _set_current(self, branch: Branch, new: Derivation) -> None:
        old, branch.current = branch.current, new
        self._remember_derivation(branch.name, tuple(branch.applied), new)
        store = self._stores.get(branch.name)
        if store is not None and old is not new:
            store.truncate(compare.common_prefix(old, new))

    def _derivation(self, branch: Branch, applied: tuple[int, ...]) -> Derivation:
        """The branch's sequence with exactly the edits ``applied`` in effect (cached)."""
        if list(applied) == branch.applied:
            return branch.current
        found = self._derived.get((branch.name, applied))
        if found is not None:
            self._derived.move_to_end((branch.name, applied))
            return found
        start, done = branch.base, 0
        for n in range(len(applied) - 1, 0, -1):
            prefix = self._derived.get((branch.name, applied[:n]))
            if prefix is not None:
                start, done = prefix, n
                break
        result = derive(start, branch.steps_for(applied[done:]))
        self._remember_derivation(branch.name, applied, result)
        return result

    def _remember_derivation(self, name: str, applied: tuple[int, ...], d: Derivation) -> None:
        self._derived[(name, applied)] = d
        self._derived.move_to_end((name, applied))
        while len(self._derived) > _DERIVATION_CACHE:
            self._derived.popitem(last=False)

    def _branch(self, name: str) -> Branch:
        found = self._branches.get(name)
        if found is None:
            raise BranchError(f"no branch named {name!r}")
        return found

    # --- sequences and events ----------------------------------------------------------------

    def sequence(self, branch: str) -> DisplaySequence:
        d = self._branch(branch).current
        keys, dropped = d.keys.view(), d.dropped.view()
        keys.flags.writeable = False
        dropped.flags.writeable = False
        return DisplaySequence(
            keys=keys,
            dropped=dropped,
            effective_count=d.effective_count,
            edited=frozenset(
                key for key, ev in d.overrides.items() if ev is not d.inserted.get(key)
            ),
            inserted=frozenset(d.inserted),
        )

    def row_count(self, branch: str) -> int:
        return len(self._branch(branch).current)

    def key_at(self, branch: str, row: int) -> EventKey:
        d = self._branch(branch).current
        self._check_row(branch, d, row, allow_initial=False)
        return int(d.keys[row])

    def event_at(self, branch: str, row: int) -> Event:
        """The event at ``row`` as this branch sees it (its edited version, if any)."""
        d = self._branch(branch).current
        return d.event(self.key_at(branch, row), self.log)

    def original_event(self, branch: str, row: int) -> Event:
        """The event at ``row`` before any edit: the source's, or the inserted one as inserted."""
        d = self._branch(branch).current
        key = self.key_at(branch, row)
        return d.inserted[key] if key < 0 else self.log.event(key)

    def is_dropped(self, branch: str, row: int) -> bool:
        self.key_at(branch, row)
        return bool(self._branch(branch).current.dropped[row])

    def row_of(self, branch: str, key: EventKey) -> int | None:
        return self._branch(branch).current.row_of(key)

    def iter_events(self, branch: str, rows: Int64Array) -> Iterator[tuple[int, Event]]:
        """``(row, event)`` for ascending display ``rows``, as the branch has them: runs of
        nearby source positions are read with one ``log.events`` call each (a call costs far
        more than decoding the few records in between)."""
        d = self._branch(branch).current
        special = set(d.overrides)
        for start in range(0, rows.shape[0], _READ_CHUNK):
            chunk = rows[start : start + _READ_CHUNK]
            ks = d.keys[chunk]
            plain = (ks >= 0) & ~np.isin(ks, list(special)) if special else ks >= 0
            step = np.diff(ks)
            breaks = np.flatnonzero((step <= 0) | (step > _GAP) | ~plain[:-1] | ~plain[1:]) + 1
            bounds = [0, *breaks.tolist(), int(chunk.shape[0])]
            for lo, hi in itertools.pairwise(bounds):
                if plain[lo]:
                    first = int(ks[lo])
                    events = self.log.events(first, int(ks[hi - 1]) + 1)
                    for i in range(lo, hi):
                        yield int(chunk[i]), events[int(ks[i]) - first]
                else:
                    for i in range(lo, hi):
                        yield int(chunk[i]), d.event(int(ks[i]), self.log)

    def key_rows(self, branch: str, key: str) -> Int64Array:
        """Keyed projections: the display rows of key ``key``'s non-dropped events, ascending
        (empty for a key the branch never has)."""
        if self._keyed is None:
            raise TypeError("key_rows needs a keyed projection")
        code = self._keyed.table.codes.get(key)
        if code is None:
            return np.zeros(0, np.int64)
        return self._keyed.effective_rows(self._branch(branch).current, code)

    def key_history(self, branch: str, key: str) -> Iterator[tuple[int, Any]]:
        """Keyed projections: ``(row, substate after it)`` for each of key ``key``'s
        non-dropped events in order, by one sequential fold that reads those events in a few
        passes (watch plots, value histories). Raises ProjectionError like a seek would."""
        if self._keyed is None:
            raise TypeError("key_history needs a keyed projection")
        keyed = self._keyed
        d = self._branch(branch).current
        code = keyed.table.codes.get(key)
        if code is None:
            return
        rows = keyed.effective_rows(d, code)
        state = keyed.projection.initial_substate()
        with self._naming({d.serial: branch}):
            for start in range(0, rows.shape[0], _READ_CHUNK):
                part = rows[start : start + _READ_CHUNK].tolist()
                events = keyed._prefetch(d, part, minimum=4)
                for row in part:
                    state = keyed._apply(d, row, state, events.get(row))
                    yield row, state
                self._tick(start + len(part), int(rows.shape[0]))

    def key_of(self, event: Event) -> str:
        """Keyed projections: the key (substate) event ``event`` belongs to."""
        if self._keyed is None or not isinstance(self.projection, KeyedProjection):
            raise TypeError("key_of needs a keyed projection")
        return self.projection.key(event)

    # --- states -------------------------------------------------------------------------------

    def state_at(self, branch: str, row: int) -> Any:
        """The state after rows ``0..row``.

        Keyed projections: a read-only :class:`KeyedState` mapping whose substates are folded
        when read (cheap to create: seek, then read the keys you show). Others: the state.
        """
        b = self._branch(branch)
        self._check_row(branch, b.current, row)
        if self._keyed is not None:
            return self._keyed.state(b.current, row, branch)
        with self._naming({b.current.serial: branch}):
            return self._general_state(b, row)

    def substate_at(self, branch: str, row: int, key: str) -> Any:
        """Keyed projections: key ``key``'s substate at ``row`` (KeyError if it has none)."""
        state = self.state_at(branch, row)
        if not isinstance(state, KeyedState):
            raise TypeError("substate_at needs a keyed projection")
        return state[key]

    def materialize(self, branch: str, row: int) -> JSON:
        """The state at ``row`` as plain dicts and lists (keyed: every key folded).

        Shares substates with the engine's caches: copy before mutating.
        """
        b = self._branch(branch)
        self._check_row(branch, b.current, row)
        with self._naming({b.current.serial: branch}):
            if self._keyed is not None:
                return self._keyed.materialize(b.current, row)
            return self._general_state(b, row)

    def end_state(self, branch: str) -> Any:
        """The state after the last row (keyed: a read-only mapping of every key).

        For ``main`` without edits this is one streaming fold of the log; a branch's end state
        reuses it and recomputes only the keys its edits touched.
        """
        b = self._branch(branch)
        with self._naming({b.current.serial: branch}):
            if self._keyed is not None:
                return self._keyed.end_state(b.current)
            return self._general_state(b, len(b.current) - 1)

    def defer_end_state(
        self,
        loader: Callable[[], Mapping[str, Any] | None],
        stream_snapshots: Callable[[], Mapping[str, list[Any]] | None] | None = None,
    ) -> bool:
        """Use a persisted end state of the log (``main`` without edits) instead of folding
        every event again, loaded by ``loader`` only when something first needs it: opening
        a log to look at its first events then costs no load at all. ``stream_snapshots``
        (what :meth:`stream_snapshots` gave, loaded on the first seek that could use them)
        spare the first seek into each long stream a fold from its start. A state that does
        not fit this log is ignored (the log is folded). False for non-keyed projections."""
        if self._keyed is None:
            return False
        self._keyed.end_loader = loader
        self._keyed.snapshots_loader = stream_snapshots
        return True

    def stream_snapshots(self) -> dict[str, list[Any]]:
        """Keyed projections: the per-stream snapshots of long streams over the log itself
        (taken by the full replay), by stream, for persisting beside the end state."""
        return {} if self._keyed is None else self._keyed.source_snapshots()

    def changes_at(self, branch: str, row: int) -> list[Change]:
        """What the event at ``row`` changed (none if it is dropped).

        Keyed: only its key's substate is compared (paths start with the key).
        """
        b = self._branch(branch)
        d = b.current
        self._check_row(branch, d, row, allow_initial=False)
        with self._naming({d.serial: branch}):
            if self._keyed is not None:
                return self._keyed.changes_at(d, row)
            if d.dropped[row]:
                return []
            return diff(self._general_state(b, row - 1), self._general_state(b, row))

    def diff(self, branch_a: str, row_a: int, branch_b: str, row_b: int) -> list[Change]:
        """Structural diff of two (branch, row) states; empty iff they are equal."""
        a, b = self._branch(branch_a), self._branch(branch_b)
        self._check_row(branch_a, a.current, row_a)
        self._check_row(branch_b, b.current, row_b)
        with self._naming({a.current.serial: branch_a, b.current.serial: branch_b}):
            if self._keyed is not None:
                return self._keyed.diff(a.current, row_a, b.current, row_b)
            return diff(self._general_state(a, row_a), self._general_state(b, row_b))

    def first_divergence(self, branch_a: str, branch_b: str) -> EventKey | None:
        """The first event, aligned by identity along ``branch_a``'s order (events only
        ``branch_b`` has sit right after their predecessor there), after which the two states
        differ; None if they never do."""
        a, b = self._branch(branch_a), self._branch(branch_b)
        da, db = a.current, b.current
        if compare.identical(da, db):
            return None
        tl = compare.timeline(da, db)
        with self._naming({da.serial: branch_a, db.serial: branch_b}):
            if self._keyed is not None:
                return self._keyed.first_divergence(da, db, tl)
            assert self._general is not None
            return self._general.first_divergence(
                da,
                db,
                tl,
                lambda row: self._general_state(a, row),
                lambda row: self._general_state(b, row),
            )

    def align(self, branch_a: str, branch_b: str) -> Alignment:
        rows_a, rows_b = compare.align(
            self._branch(branch_a).current, self._branch(branch_b).current
        )
        return Alignment(rows_a, rows_b)

    # --- internals ------------------------------------------------------------------------

    def _general_state(self, b: Branch, row: int) -> Any:
        assert self._general is not None
        shared = []
        parent = b.parent
        while parent is not None:
            ancestor = self._branches[parent]
            limit = self._common_prefix(b.current, ancestor.current)
            if limit > 0:
                shared.append((self._stores[parent], limit))
            parent = ancestor.parent
        return self._general.state_at(b.current, row, self._stores[b.name], shared)

    def _common_prefix(self, a: Derivation, b: Derivation) -> int:
        key = (a.serial, b.serial)
        found = self._prefixes.get(key)
        if found is None:
            found = self._prefixes[key] = compare.common_prefix(a, b)
            while len(self._prefixes) > 64:
                self._prefixes.popitem(last=False)
        return found

    def _check_row(self, name: str, d: Derivation, row: int, *, allow_initial: bool = True) -> None:
        low = -1 if allow_initial else 0
        if not low <= row < len(d):
            raise IndexError(f"row {row} is outside branch {name!r} (rows {low}..{len(d) - 1})")

    def _tick(self, done: int, total: int) -> None:
        callback = self.progress
        if callback is not None and callback(done, total) is False:
            raise Cancelled(f"stopped after {done:,} of {total:,} events")

    @contextmanager
    def _naming(self, names: Mapping[int, str]) -> Iterator[None]:
        """Name the branch in a ProjectionError raised by a fold over one of its sequences."""
        try:
            yield
        except ProjectionError as error:
            if error.branch is None:
                error.branch = names.get(error.sequence_serial)
                if error.branch is None and len(set(names.values())) == 1:
                    error.branch = next(iter(names.values()))
            raise


__all__ = [
    "MAIN",
    "Alignment",
    "BranchError",
    "BranchInfo",
    "BranchSpec",
    "Cancelled",
    "DisplaySequence",
    "EditError",
    "EndState",
    "Engine",
    "KeyedState",
    "ProgressFn",
    "ProjectionError",
]
