"""A deliberately naive model of branches and replay, the oracle of the engine tests.

Sequences are Python lists, every state is a full fold from row 0, undo is a stack of whole
copies: slow and obviously right, and sharing no code with replay_engine beyond the
projections themselves. The tests at the bottom pin the model to the semantics the lead set.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from models.edits import Edit, EditKind
from models.event import Event, EventKey, datetime_to_us
from models.log import MemoryLog
from replay_engine.generic import GenericProjection


class Tally:
    """A general (non-keyed) projection: counts, sums and per-type counts."""

    name = "tally"

    def initial_state(self) -> dict[str, Any]:
        return {"count": 0, "sum": 0, "types": {}, "last": None}

    def apply(self, state: dict[str, Any], event: Event) -> dict[str, Any]:
        n = event.data.get("n", 0) if isinstance(event.data, dict) else 0
        n = n if isinstance(n, int) and not isinstance(n, bool) else 0
        types = dict(state["types"])
        types[event.type] = types.get(event.type, 0) + 1
        return {
            "count": state["count"] + 1,
            "sum": state["sum"] + n,
            "types": types,
            "last": event.stream,
        }


def make_log(
    specs: Sequence[tuple[str, str, Any]], versions: Sequence[int | None] = ()
) -> MemoryLog:
    """Events from (stream, type, data) triples; keys and positions 0..n-1."""
    events = []
    for i, (stream, type_, data) in enumerate(specs):
        version = versions[i] if i < len(versions) else None
        events.append(
            Event(
                key=i,
                pos=i,
                event_id=f"id-{i}",
                stream=stream,
                type=type_,
                version=version,
                data=data,
                recorded_us=1_700_000_000_000_000 + i,
            )
        )
    return MemoryLog(events)


@dataclass(frozen=True)
class RefSeq:
    keys: tuple[EventKey, ...]
    dropped: frozenset[EventKey]
    events: dict[EventKey, Event]

    def row(self, key: EventKey) -> int | None:
        return self.keys.index(key) if key in self.keys else None


def source_seq(log: MemoryLog) -> RefSeq:
    n = len(log)
    return RefSeq(tuple(range(n)), frozenset(), {i: log.event(i) for i in range(n)})


_TIME_FIELDS = {"recorded_at": "recorded_us", "processed_at": "processed_us"}


def _fields(raw: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in raw.items():
        if name in _TIME_FIELDS:
            out[_TIME_FIELDS[name]] = (
                None if value is None else datetime_to_us(datetime.fromisoformat(value))
            )
        else:
            out[name] = value
    return out


def ref_apply(seq: RefSeq, edit: Edit) -> RefSeq:
    """Apply one valid DROP/RESTORE/EDIT/INSERT/MOVE."""
    keys = list(seq.keys)
    events = dict(seq.events)
    dropped = set(seq.dropped)
    target = edit.target
    assert target is not None
    if edit.kind is EditKind.DROP:
        dropped.add(target)
    elif edit.kind is EditKind.RESTORE:
        dropped.discard(target)
    elif edit.kind is EditKind.EDIT:
        assert edit.changes is not None
        events[target] = events[target].with_changes(**_fields(edit.changes))
    elif edit.kind is EditKind.MOVE:
        keys.remove(target)
        keys.insert(0 if edit.after is None else keys.index(edit.after) + 1, target)
    elif edit.kind is EditKind.INSERT:
        raw = dict(edit.event or {})
        raw.setdefault("event_id", uuid.uuid4().hex)
        raw.setdefault("metadata", {})
        events[target] = Event(key=target, pos=-1, **_fields(raw))
        keys.insert(0 if edit.after is None else keys.index(edit.after) + 1, target)
    return RefSeq(tuple(keys), frozenset(dropped), events)


@dataclass
class RefBranch:
    name: str
    base: RefSeq
    fork_row: int
    fork_at: EventKey | None = None
    edits: list[Edit] = field(default_factory=list)
    stack: list[RefSeq] = field(default_factory=list)
    """Sequences after each edit in effect (undo pops, redo pushes back)."""
    redo: list[RefSeq] = field(default_factory=list)
    history: list[RefSeq] = field(default_factory=list)
    """The current sequence after each edit record (for children forking at a count)."""

    @property
    def current(self) -> RefSeq:
        return self.stack[-1] if self.stack else self.base

    def editable(self, key: EventKey) -> bool:
        row = self.base.row(key)
        return row is None or row > self.fork_row

    def append(self, edit: Edit) -> None:
        if edit.kind is EditKind.UNDO:
            self.redo.append(self.stack.pop())
        elif edit.kind is EditKind.REDO:
            self.stack.append(self.redo.pop())
        else:
            self.stack.append(ref_apply(self.current, edit))
            self.redo.clear()
        self.edits.append(edit)
        self.history.append(self.current)

    def at_count(self, count: int) -> RefSeq:
        return self.history[count - 1] if count else self.base


def ref_states(seq: RefSeq, projection: Any) -> list[Any]:
    """State after each row (full folds; keyed projections as an ordered dict of keys)."""
    out = []
    if hasattr(projection, "apply_substate"):
        state: dict[str, Any] = {}
        for key in seq.keys:
            if key not in seq.dropped:
                ev = seq.events[key]
                name = projection.key(ev)
                old = state.get(name, projection.initial_substate())
                state = {**state, name: projection.apply_substate(old, ev)}
            out.append(state)
    else:
        general = projection.initial_state()
        for key in seq.keys:
            if key not in seq.dropped:
                general = projection.apply(general, seq.events[key])
            out.append(general)
    return out


def ref_state(seq: RefSeq, projection: Any, row: int) -> Any:
    if row < 0:
        return {} if hasattr(projection, "apply_substate") else projection.initial_state()
    return ref_states(seq, projection)[row]


def ref_first_divergence(a: RefSeq, b: RefSeq, projection: Any) -> EventKey | None:
    """Walk A's order with B-only events after their predecessor in B; compare full states."""
    timeline: list[EventKey] = []
    attached: dict[EventKey | None, list[EventKey]] = {}
    anchor: EventKey | None = None
    for key in b.keys:
        if key in a.keys:
            anchor = key
        else:
            attached.setdefault(anchor, []).append(key)
    timeline.extend(attached.get(None, []))
    for key in a.keys:
        timeline.append(key)
        timeline.extend(attached.get(key, []))
    row_a = row_b = -1
    for key in timeline:
        if key in a.keys:
            row_a = a.keys.index(key)
        if key in b.keys:
            row_b = b.keys.index(key)
        if not json_equal(ref_state(a, projection, row_a), ref_state(b, projection, row_b)):
            return key
    return None


def json_equal(x: Any, y: Any) -> bool:
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(json_equal(x[k], y[k]) for k in x)
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(json_equal(p, q) for p, q in zip(x, y, strict=True))
    if isinstance(x, dict | list) or isinstance(y, dict | list):
        return False
    if isinstance(x, bool) or isinstance(y, bool):
        return type(x) is type(y) and x == y
    return bool(x == y)


# --- the model itself, pinned to the specified semantics ----------------------------------


def _log() -> MemoryLog:
    return make_log(
        [("a", "T", {"n": 1}), ("b", "T", {"n": 2}), ("a", "T", {"n": 3}), ("c", "T", {"n": 4})]
    )


def test_reference_move_and_insert_placement() -> None:
    seq = source_seq(_log())
    moved = ref_apply(seq, Edit(EditKind.MOVE, target=3, after=0))
    assert moved.keys == (0, 3, 1, 2)
    first = ref_apply(moved, Edit(EditKind.MOVE, target=2, after=None))
    assert first.keys == (2, 0, 3, 1)
    inserted = ref_apply(
        seq, Edit(EditKind.INSERT, target=-1, after=1, event={"stream": "z", "type": "New"})
    )
    assert inserted.keys == (0, 1, -1, 2, 3)
    assert inserted.events[-1].stream == "z" and inserted.events[-1].pos == -1


def test_reference_undo_redo_stack() -> None:
    branch = RefBranch("b", source_seq(_log()), -1)
    branch.append(Edit(EditKind.DROP, target=1))
    branch.append(Edit(EditKind.DROP, target=2))
    branch.append(Edit(EditKind.UNDO))
    assert branch.current.dropped == {1}
    branch.append(Edit(EditKind.REDO))
    assert branch.current.dropped == {1, 2}
    assert branch.at_count(1).dropped == {1}


def test_reference_fold_skips_dropped_and_keeps_first_appearance_order() -> None:
    seq = ref_apply(source_seq(_log()), Edit(EditKind.DROP, target=0))
    states = ref_states(seq, GenericProjection())
    assert list(states[-1]) == ["b", "a", "c"]
    assert states[0] == {}
    assert states[-1]["a"]["data"] == {"n": 3}
