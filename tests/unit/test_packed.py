"""Packed states (the persisted end state) and the overlay a branch's end state puts on them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.session import open_session
from models.edits import Edit, EditKind
from models.generator import generate
from models.packed import Overlay, PackedStates
from replay_engine.branches import BranchSpec

ints = st.integers(-(2**63), 2**63 - 1)  # what JSON logs hold (bigger ones become strings)
values = st.recursive(
    st.none() | st.booleans() | ints | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=100, deadline=None)
@given(states=st.dictionaries(st.text(max_size=8), values, max_size=20))
def test_packing_round_trips_and_keeps_the_order(states: dict[str, Any]) -> None:
    packed = PackedStates.from_bytes(PackedStates.pack(states).to_bytes())
    assert list(packed) == list(states) and dict(packed) == states
    assert len(packed) == len(states)
    for name in states:
        assert packed[name] is packed[name]  # decoded once, then the same object
    assert PackedStates.pack(packed).to_bytes() == PackedStates.pack(states).to_bytes()


@settings(max_examples=100, deadline=None)
@given(states=st.dictionaries(st.text(max_size=8), values, max_size=20), data=st.data())
def test_consuming_packs_and_empties_or_leaves_the_dict_as_it_was(
    states: dict[str, Any], data: st.DataObject
) -> None:
    original = dict(states)
    packed = PackedStates.consume(states)
    assert packed is not None and states == {}
    assert list(packed) == list(original) and {k: packed[k] for k in packed} == original
    assert PackedStates.serialize(packed) is packed._stored  # saved again without a copy
    if original:  # a value JSON cannot hold, somewhere: nothing changes
        again = dict(original)
        bad = data.draw(st.sampled_from(list(again)))
        again[bad] = {"n": 2**70}
        before = list(again.items())
        assert PackedStates.consume(again) is None
        assert list(again.items()) == before


@settings(max_examples=100, deadline=None)
@given(
    base=st.dictionaries(st.sampled_from("abcdefgh"), ints, max_size=8),
    ops=st.lists(
        st.tuples(st.sampled_from(["set", "pop"]), st.sampled_from("abcdefghij"), ints),
        max_size=12,
    ),
)
def test_an_overlay_behaves_like_a_copy(base: dict[str, int], ops: list[Any]) -> None:
    copy = dict(base)
    overlay = Overlay(PackedStates.pack(base))
    for op, name, value in ops:
        if op == "set":
            if name in copy and name not in base:
                copy.pop(name)  # a dict keeps re-added names last; so does the overlay
            copy[name] = value
            overlay[name] = value
        else:
            assert overlay.pop(name, None) == copy.pop(name, None)
    assert dict(overlay) == copy and len(overlay) == len(copy)
    assert set(overlay) == set(copy)
    assert all((name in overlay) == (name in copy) for name in "abcdefghij")


def test_a_reopened_log_decodes_only_what_is_read_and_branches_agree(tmp_path: Path) -> None:
    log = tmp_path / "shop.jsonl"
    generate(log, events=1500, seed=9)
    first = open_session(log, workspace=tmp_path / "ws.sqlite")
    expected = dict(first.end_state("main"))
    first.close()
    again = open_session(log, workspace=tmp_path / "ws.sqlite")
    end = again.end_state("main")
    assert len(end) == len(expected)
    stream = next(iter(expected))
    assert end[stream] == expected[stream]
    packed = again.engine._keyed._source_end  # type: ignore[union-attr]
    assert isinstance(packed, PackedStates) and "1 read" in repr(packed)
    # a branch's end state over the packed one equals a fresh computation
    row = 100
    key = again.engine.key_at("main", row)
    again.engine.add_branch(BranchSpec("fix", "main", None, 0, [Edit(EditKind.DROP, key)]))
    over = again.engine.end_state("fix")
    again.close()
    fresh = open_session(log, workspace=tmp_path / "other.sqlite")
    fresh.engine.add_branch(BranchSpec("fix", "main", None, 0, [Edit(EditKind.DROP, key)]))
    assert dict(over) == dict(fresh.engine.end_state("fix"))
    assert list(over) == list(fresh.engine.end_state("fix"))
    fresh.close()


def test_a_touched_log_is_hashed_once_then_known_by_its_new_mtime(tmp_path: Path) -> None:
    log = tmp_path / "shop.jsonl"
    generate(log, events=600, seed=2)
    open_session(log, workspace=tmp_path / "ws.sqlite").close()
    later = log.stat().st_mtime_ns + 5_000_000_000
    os.utime(log, ns=(later, later))
    touched = open_session(log, workspace=tmp_path / "ws.sqlite")
    assert touched.import_info["change"] == "unchanged"
    source = touched.workspace.find_source(log)  # type: ignore[union-attr]
    assert source is not None and source.mtime_ns == later
    touched.close()
