"""JSON Merge Patch against RFC 7396 (the examples of its Appendix A), without mutation."""

from __future__ import annotations

import copy
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from replay_engine.merge_patch import merge_patch, merge_patch_into

RFC_7396_APPENDIX_A = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC_7396_APPENDIX_A)
def test_rfc_7396_examples(target: Any, patch: Any, result: Any) -> None:
    target_before, patch_before = copy.deepcopy(target), copy.deepcopy(patch)
    assert merge_patch(target, patch) == result
    assert target == target_before and patch == patch_before


def test_unchanged_members_are_shared_not_copied() -> None:
    untouched = {"deep": [1, 2, 3]}
    target = {"keep": untouched, "change": {"x": 1}}
    merged = merge_patch(target, {"change": {"y": 2}})
    assert merged["keep"] is untouched
    assert merged["change"] == {"x": 1, "y": 2} and target["change"] == {"x": 1}
    assert merged is not target


def rfc_merge_patch(target: Any, patch: Any) -> Any:
    """The pseudo-code of RFC 7396, section 2, transcribed literally."""
    if isinstance(patch, dict):
        if not isinstance(target, dict):
            target = {}
        target = copy.deepcopy(target)
        for name, value in patch.items():
            if value is None:
                target.pop(name, None)
            else:
                target[name] = rfc_merge_patch(target.get(name), value)
        return target
    return patch


LEAVES = st.none() | st.booleans() | st.integers(-3, 3) | st.text("ab", max_size=2)
VALUES = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=500, deadline=None)
@given(VALUES, VALUES)
def test_merge_patch_follows_the_rfc_pseudo_code_without_mutating(target: Any, patch: Any) -> None:
    target_before, patch_before = copy.deepcopy(target), copy.deepcopy(patch)
    assert merge_patch(target, patch) == rfc_merge_patch(target, patch)
    assert target == target_before and patch == patch_before
    if isinstance(patch, dict):
        working = merge_patch(None, target) if isinstance(target, dict) else {}
        expected = rfc_merge_patch(working, patch)
        merge_patch_into(working, patch)
        assert working == expected and patch == patch_before
