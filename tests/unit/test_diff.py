"""Structural diff: paths, kinds of change, JSON (not Python) equality."""

from __future__ import annotations

from types import MappingProxyType

from replay_engine.diff import Change, diff, equal, format_path


def test_changes_name_their_path_and_kind_in_document_order() -> None:
    a = {"acct-1": {"balance": 5, "tags": ["x", "y"], "gone": 1}, "z": None}
    b = {"acct-1": {"balance": 7, "tags": ["x"], "owner": {"name": "Ann"}}, "z": None, "new": [1]}
    assert diff(a, b) == [
        Change(("acct-1", "balance"), "changed", 5, 7),
        Change(("acct-1", "tags", 1), "removed", "y", None),
        Change(("acct-1", "gone"), "removed", 1, None),
        Change(("acct-1", "owner"), "added", None, {"name": "Ann"}),
        Change(("new",), "added", None, [1]),
    ]
    assert [c.dotted_path for c in diff(a, b)] == [
        "acct-1.balance",
        "acct-1.tags[1]",
        "acct-1.gone",
        "acct-1.owner",
        "new",
    ]


def test_type_changes_are_changes_and_bools_are_not_numbers() -> None:
    assert diff({"a": [1]}, {"a": {"0": 1}}) == [Change(("a",), "changed", [1], {"0": 1})]
    assert diff(True, 1) == [Change((), "changed", True, 1)]
    assert diff(0, False) == [Change((), "changed", 0, False)]
    assert not equal([True], [1]) and equal([1], [1.0]) and equal(False, False)
    assert diff(1, 1.0) == [] and diff("1", 1) == [Change((), "changed", "1", 1)]
    assert diff({"x": None}, {}) == [Change(("x",), "removed", None, None)]


def test_any_mapping_is_an_object() -> None:
    proxy = MappingProxyType({"a": {"b": 1}})
    assert diff(proxy, {"a": {"b": 2}}) == [Change(("a", "b"), "changed", 1, 2)]
    assert equal(proxy, {"a": {"b": 1}}) and not equal(proxy, {"a": {"b": 1}, "c": 0})


def test_a_path_prefix_is_prepended() -> None:
    assert diff({"v": 1}, {"v": 2}, ("stream-7",)) == [Change(("stream-7", "v"), "changed", 1, 2)]


def test_format_path_quotes_what_would_be_ambiguous() -> None:
    assert format_path(()) == "(root)"
    assert format_path(("a", 0, "b")) == "a[0].b"
    assert format_path((3, "x")) == "[3].x"
    assert format_path(("order:17", "7")) == "order:17.7"
    assert format_path(("a.b", "c d", "", 'q"')) == '["a.b"]["c d"][""]["q\\""]'
