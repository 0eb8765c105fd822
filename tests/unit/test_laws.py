"""The engine's laws, over random logs and random edit sequences (hypothesis).

Every law is checked against the naive model in test_engine_reference.py: full folds from
row 0 over Python lists.
"""

from __future__ import annotations

import copy
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from models.edits import Edit, EditKind
from models.event import EventKey
from models.log import MemoryLog
from replay_engine.branches import BranchSpec
from replay_engine.diff import Change, diff, equal
from replay_engine.engine import Engine
from replay_engine.generic import GenericProjection
from tests.unit.test_engine_reference import (
    RefBranch,
    Tally,
    json_equal,
    make_log,
    ref_first_divergence,
    ref_state,
    ref_states,
    source_seq,
)

LAWS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

STREAMS = st.sampled_from(["a", "b", "c", "d", "e"])
TYPES = st.sampled_from(["Opened", "Changed", "Closed"])
LEAVES = st.none() | st.booleans() | st.integers(-3, 3) | st.text("xy", max_size=2)
JSON_VALUES = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["x", "y", "z"]), inner, max_size=3)
    ),
    max_leaves=8,
)
PAYLOADS = st.one_of(
    st.dictionaries(st.sampled_from(["n", "x", "y", "z"]), JSON_VALUES, max_size=3),
    st.dictionaries(st.sampled_from(["n", "x"]), st.integers(0, 9), max_size=2),
    JSON_VALUES,
)
SPECS = st.lists(st.tuples(STREAMS, TYPES, PAYLOADS), max_size=14)
VERSIONS = st.lists(st.none() | st.integers(0, 9), max_size=14)
PROJECTIONS = {"generic": GenericProjection, "tally": Tally}


def random_edit(data: st.DataObject, ref: RefBranch, keys: list[int]) -> Edit:
    """A random edit that is valid for ``ref`` as it stands."""
    seq = ref.current
    editable = [k for k in seq.keys if ref.editable(k)]
    anchors: list[EventKey | None] = [None if ref.fork_at is None else ref.fork_at, *editable]
    options = ["insert"]
    if any(k not in seq.dropped for k in editable):
        options.append("drop")
    if any(k in seq.dropped for k in editable):
        options.append("restore")
    if editable:
        options += ["edit", "move"]
    if ref.stack:
        options.append("undo")
    if ref.redo:
        options.append("redo")
    kind = data.draw(st.sampled_from(options))
    if kind == "drop":
        return Edit(
            EditKind.DROP,
            target=data.draw(st.sampled_from([k for k in editable if k not in seq.dropped])),
        )
    if kind == "restore":
        return Edit(
            EditKind.RESTORE,
            target=data.draw(st.sampled_from([k for k in editable if k in seq.dropped])),
        )
    if kind == "edit":
        change = data.draw(st.sampled_from(["data", "type", "stream", "version"]))
        value = data.draw(
            {
                "data": PAYLOADS,
                "type": TYPES,
                "stream": STREAMS,
                "version": st.none() | st.integers(0, 9),
            }[change]
        )
        return Edit(
            EditKind.EDIT, target=data.draw(st.sampled_from(editable)), changes={change: value}
        )
    if kind == "move":
        target = data.draw(st.sampled_from(editable))
        return Edit(
            EditKind.MOVE,
            target=target,
            after=data.draw(st.sampled_from([a for a in anchors if a != target])),
        )
    if kind == "insert":
        keys[0] -= 1
        return Edit(
            EditKind.INSERT,
            target=keys[0],
            after=data.draw(st.sampled_from(anchors)),
            event={
                "stream": data.draw(STREAMS),
                "type": data.draw(TYPES),
                "data": data.draw(PAYLOADS),
                "event_id": f"ins{-keys[0]}",
            },
        )
    return Edit(EditKind.UNDO if kind == "undo" else EditKind.REDO)


class World:
    """An engine and the reference model, kept in step."""

    def __init__(self, log: MemoryLog, projection: Any, **engine_args: Any) -> None:
        self.log = log
        self.projection = projection
        self.engine = Engine(log, projection, **engine_args)
        self.refs = {"main": RefBranch("main", source_seq(log), -1)}
        self.keys = [0]

    def edit(self, data: st.DataObject, branch: str) -> Edit:
        edit = random_edit(data, self.refs[branch], self.keys)
        self.engine.append_edit(branch, edit)
        self.refs[branch].append(edit)
        return edit

    def fork(self, data: st.DataObject, name: str, parent: str) -> None:
        ref_parent = self.refs[parent]
        count = data.draw(st.integers(0, len(ref_parent.edits)))
        base = ref_parent.at_count(count)
        fork_at = data.draw(st.sampled_from([None, *base.keys]))
        self.engine.add_branch(BranchSpec(name, parent, fork_at, count))
        self.refs[name] = RefBranch(
            name, base, -1 if fork_at is None else base.keys.index(fork_at), fork_at
        )

    def check_sequence(self, branch: str) -> None:
        seq, ref = self.engine.sequence(branch), self.refs[branch].current
        assert tuple(seq.keys.tolist()) == ref.keys
        assert {k for k, d in zip(ref.keys, seq.dropped.tolist(), strict=True) if d} == ref.dropped
        assert seq.effective_count == len(ref.keys) - len(ref.dropped)
        for row, key in enumerate(ref.keys):
            assert self.engine.event_at(branch, row) == ref.events[key]


def build(data: st.DataObject, projection: str, **engine_args: Any) -> World:
    specs = data.draw(SPECS)
    world = World(make_log(specs, data.draw(VERSIONS)), PROJECTIONS[projection](), **engine_args)
    for _ in range(data.draw(st.integers(0, 3))):
        world.edit(data, "main")
    world.fork(data, "b", "main")
    for _ in range(data.draw(st.integers(0, 5))):
        world.edit(data, data.draw(st.sampled_from(["main", "b", "b"])))
    if data.draw(st.booleans()):
        world.fork(data, "c", "b")
        for _ in range(data.draw(st.integers(0, 3))):
            world.edit(data, "c")
    return world


def assert_same_state(actual: Any, expected: Any) -> None:
    assert json_equal(actual, expected), (actual, expected)
    if isinstance(expected, dict):
        assert list(actual) == list(expected)  # keys in order of first appearance


ENGINE_SETUPS = [
    ("generic", {"stream_snapshot_every": 2, "cache_size": 6}),
    ("generic", {"keyed": False, "snapshot_every": 3}),
    ("tally", {"snapshot_every": 2}),
]


@LAWS
@given(st.data(), st.sampled_from(ENGINE_SETUPS))
def test_seek_equals_a_full_fold_at_every_row(data: st.DataObject, setup: tuple[str, Any]) -> None:
    """Seeks in random order (snapshots, caches, cursors in play) equal full folds."""
    world = build(data, setup[0], **setup[1])
    engine = world.engine
    for name, ref in world.refs.items():
        world.check_sequence(name)
        expected = ref_states(ref.current, world.projection)
        rows = data.draw(st.permutations(list(range(-1, len(expected)))))
        for row in rows:
            want = expected[row] if row >= 0 else ref_state(ref.current, world.projection, -1)
            assert_same_state(engine.materialize(name, row), want)
            state = engine.state_at(name, row)
            assert_same_state(dict(state) if engine.is_keyed else state, want)
        assert_same_state(
            dict(engine.end_state(name)) if engine.is_keyed else engine.end_state(name),
            expected[-1] if expected else ref_state(ref.current, world.projection, -1),
        )


@LAWS
@given(st.data(), st.sampled_from(ENGINE_SETUPS))
def test_a_child_without_edits_equals_its_parent(
    data: st.DataObject, setup: tuple[str, Any]
) -> None:
    world = build(data, setup[0], **setup[1])
    parent = data.draw(st.sampled_from(sorted(world.refs)))
    count = len(world.refs[parent].edits)
    fork_at = data.draw(st.sampled_from([None, *world.refs[parent].current.keys]))
    engine = world.engine
    engine.add_branch(BranchSpec("copy", parent, fork_at, count))
    a, b = engine.sequence(parent), engine.sequence("copy")
    assert a.keys.tolist() == b.keys.tolist() and a.dropped.tolist() == b.dropped.tolist()
    assert engine.first_divergence(parent, "copy") is None
    for row in range(-1, len(a)):
        assert engine.diff(parent, row, "copy", row) == []
        assert_same_state(engine.materialize("copy", row), engine.materialize(parent, row))


@LAWS
@given(st.data(), st.sampled_from(ENGINE_SETUPS))
def test_drop_then_restore_equals_the_original(data: st.DataObject, setup: tuple[str, Any]) -> None:
    world = build(data, setup[0], **setup[1])
    engine = world.engine
    name = data.draw(st.sampled_from(sorted(world.refs)))
    ref = world.refs[name]
    live = [k for k in ref.current.keys if ref.editable(k) and k not in ref.current.dropped]
    if not live:
        return
    key = data.draw(st.sampled_from(live))
    before = [engine.materialize(name, row) for row in range(-1, engine.row_count(name))]
    keys_before = engine.sequence(name).keys.tolist()
    engine.append_edit(name, Edit(EditKind.DROP, target=key))
    assert engine.sequence(name).dropped[engine.row_of(name, key)]
    engine.append_edit(name, Edit(EditKind.RESTORE, target=key))
    seq = engine.sequence(name)
    assert seq.keys.tolist() == keys_before and not seq.dropped[engine.row_of(name, key)]
    after = [engine.materialize(name, row) for row in range(-1, engine.row_count(name))]
    for old, new in zip(before, after, strict=True):
        assert_same_state(new, old)


@LAWS
@given(st.data(), st.sampled_from(ENGINE_SETUPS))
def test_undo_restores_the_previous_sequence_and_state(
    data: st.DataObject, setup: tuple[str, Any]
) -> None:
    world = build(data, setup[0], **setup[1])
    engine = world.engine
    name = data.draw(st.sampled_from(sorted(world.refs)))

    def snapshot() -> tuple[Any, ...]:
        seq = engine.sequence(name)
        events = [engine.event_at(name, row) for row in range(len(seq))]
        states = [engine.materialize(name, row) for row in range(-1, len(seq))]
        return seq.keys.tolist(), seq.dropped.tolist(), events, states

    before = snapshot()
    edit = world.edit(data, name)
    if edit.kind in (EditKind.UNDO, EditKind.REDO):
        return
    after = snapshot()
    engine.append_edit(name, Edit(EditKind.UNDO))
    world.refs[name].append(Edit(EditKind.UNDO))
    assert_snapshots_equal(snapshot(), before)
    engine.append_edit(name, Edit(EditKind.REDO))
    world.refs[name].append(Edit(EditKind.REDO))
    assert_snapshots_equal(snapshot(), after)
    world.check_sequence(name)


def assert_snapshots_equal(actual: tuple[Any, ...], expected: tuple[Any, ...]) -> None:
    assert actual[:3] == expected[:3]
    for new, old in zip(actual[3], expected[3], strict=True):
        assert_same_state(new, old)


@LAWS
@given(st.data())
def test_a_childs_end_state_computed_incrementally_equals_a_full_fold(data: st.DataObject) -> None:
    world = build(data, "generic")
    engine = world.engine
    names = sorted(world.refs)
    if data.draw(st.booleans()):
        engine.end_state("main")  # the child then reuses main's end state
    for name in data.draw(st.permutations(names)):
        expected = ref_states(world.refs[name].current, world.projection)
        assert_same_state(dict(engine.end_state(name)), expected[-1] if expected else {})


@LAWS
@given(st.data(), st.sampled_from(ENGINE_SETUPS))
def test_changes_at_is_the_diff_around_the_event(
    data: st.DataObject, setup: tuple[str, Any]
) -> None:
    world = build(data, setup[0], **setup[1])
    for name, ref in world.refs.items():
        for row in range(len(ref.current.keys)):
            expected = diff(
                ref_state(ref.current, world.projection, row - 1),
                ref_state(ref.current, world.projection, row),
            )
            assert world.engine.changes_at(name, row) == expected


@LAWS
@given(st.data(), st.sampled_from(ENGINE_SETUPS))
def test_diff_and_first_divergence_between_branches(
    data: st.DataObject, setup: tuple[str, Any]
) -> None:
    world = build(data, setup[0], **setup[1])
    engine = world.engine
    a = data.draw(st.sampled_from(sorted(world.refs)))
    b = data.draw(st.sampled_from(sorted(world.refs)))
    ref_a, ref_b = world.refs[a].current, world.refs[b].current
    assert engine.first_divergence(a, b) == ref_first_divergence(ref_a, ref_b, world.projection)
    for _ in range(4):
        ra = data.draw(st.integers(-1, len(ref_a.keys) - 1))
        rb = data.draw(st.integers(-1, len(ref_b.keys) - 1))
        expected = diff(
            ref_state(ref_a, world.projection, ra), ref_state(ref_b, world.projection, rb)
        )
        assert engine.diff(a, ra, b, rb) == expected
    alignment = engine.align(a, b)
    common = [k for k in ref_a.keys if k in ref_b.keys]
    assert [ref_a.keys[r] for r in alignment.rows_a.tolist()] == common
    assert [ref_b.keys[r] for r in alignment.rows_b.tolist()] == common


# --- structural diff ------------------------------------------------------------------------


def apply_changes(value: Any, changes: list[Change]) -> Any:
    """Rebuild ``b`` from ``a`` and ``diff(a, b)`` (list removals last, highest index first)."""
    root = [copy.deepcopy(value)]
    removals: list[tuple[Any, Any]] = []
    for change in changes:
        path = (0, *change.path)
        parent: Any = root
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        if change.change == "removed":
            removals.append((parent, last))
        elif isinstance(parent, list) and last == len(parent):
            parent.append(copy.deepcopy(change.new))
        else:
            parent[last] = copy.deepcopy(change.new)
    for parent, last in sorted(
        removals, key=lambda r: r[1] if isinstance(r[1], int) else 0, reverse=True
    ):
        del parent[last]
    return root[0]


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, JSON_VALUES)
def test_diff_is_empty_exactly_when_equal_and_rebuilds_b(a: Any, b: Any) -> None:
    changes = diff(a, b)
    assert (changes == []) == json_equal(a, b) == equal(a, b)
    assert diff(a, a) == [] and diff(b, b) == []
    assert json_equal(apply_changes(a, changes), b)
    assert all(c.change in ("added", "removed", "changed") for c in changes)
