"""The compiled JMESPath evaluator agrees with the library on every value (it only has to be
faster), and the bare-number convenience."""

from __future__ import annotations

from typing import Any

import jmespath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replay_engine.query import (
    MISSING,
    ExpressionError,
    compile_expression,
    evaluate,
    necessary,
    reads_only,
    truthy,
)

EXPRESSIONS = [
    "a",
    "a.b",
    "a.b.c",
    "a[0]",
    "a[-1].b",
    "a < `1`",
    "a <= `0`",
    "a > `1.5`",
    "a >= b",
    "a == `1`",
    "a == `true`",
    "a != `0`",
    "a == b",
    "a == 'x'",
    "a < 'm'",
    "a && b",
    "a || b",
    "!a",
    "!(a == `0`)",
    "a.b && !c || d",
    "@",
    "`[1, 2]`",
    "a[?b > `0`].c",
    "length(a)",
    "a.*",
    "[a, b]",
    "{x: a, y: b.c}",
    "a | b",
    # functions: the library's bodies, called without its per-call signature walk
    "length(a) > `1`",
    "keys(a)",
    "values(a)",
    "contains(a, 'x')",
    "starts_with(a, 'x')",
    "ends_with(a, b)",
    "abs(a)",
    "not_null(a, b)",
    "not_null(a, b, c)",
    "to_string(a)",
    "to_number(a)",
    "type(a)",
    "sum(a)",
    "max(a)",
    "join(',', a)",
    "sort_by(a, &b)",
    "length(keys(a)) > `1` || b == null",
    "length(a, b)",
    "no_such_function(a)",
    # nesting the generated code must get right: inputs evaluated once, in order
    "(a || b).c",
    "(a && b).c.d",
    "a.b.c == 'x' && (b || !c.d)",
    "contains(a, b.c)",
    "not_null(a.b, c, d.a)",
    "a[0].b",
    "a.b[1].c[0]",
    "!(a.b == b.c) || c.d.a",
    "length(keys(a)) > `1` || b.c == `null`",
    "a.b < b.c",
    "abs(a.b) >= `1`",
    # a path before a literal or a function that ignores it still runs (and may fail)
    "abs(a).not_null(`1`)",
    "length(a).not_null(`1`)",
    # a string ordered against a number is an error for the whole expression, not a null
    "!(a < 'm')",
    "!(a < `1`)",
    "!(a >= b)",
]

# for necessary(): expressions whose truth needs keys and strings
NEEDS = [
    "a.b > `0`",
    "a.b == 'x' && c",
    "a == 'x' || b.c",
    "a[0].b == 'm'",
    "a.b.c == `1` && (b == 'z' || c.d)",
    "!a",
    "a != 'x'",
    "a == b",
    "a == `null`",
    "a.b < c.d",
    "length(a) > `0`",
]

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(-3, 3, allow_nan=False),
    st.sampled_from(["", "x", "m", "z"]),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), inner, max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(doc=st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), values, max_size=4))
def test_the_compiled_evaluator_agrees_with_jmespath(doc: dict[str, Any]) -> None:
    for text in EXPRESSIONS:
        expected: Any
        try:
            expected = jmespath.search(text, doc)
        except (jmespath.exceptions.JMESPathError, TypeError):
            expected = None  # a function on the wrong type, or the library ordering 1 < 'x'
        got = evaluate(compile_expression(text), doc)
        assert got == expected and type(got) is type(expected), text


def _keys_and_strings(value: Any, keys: set[str], strings: set[str]) -> None:
    if isinstance(value, dict):
        keys.update(value)
        for v in value.values():
            _keys_and_strings(v, keys, strings)
    elif isinstance(value, list):
        for v in value:
            _keys_and_strings(v, keys, strings)
    elif isinstance(value, str):
        strings.add(value)


@settings(max_examples=300, deadline=None)
@given(doc=st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), values, max_size=4))
def test_what_a_match_needs_holds_on_every_match(doc: dict[str, Any]) -> None:
    for text in NEEDS:
        expression = compile_expression(text)
        if not truthy(evaluate(expression, doc)):
            continue
        for clause in necessary(expression):
            held = []
            for atom in clause:
                keys: set[str] = set()
                strings: set[str] = set()
                _keys_and_strings(doc, keys, set())
                _keys_and_strings(doc.get(atom.path[0]), set(), strings)
                ok = all(name in keys for name in atom.path)
                if atom.value is not None:
                    ok = ok and atom.value in strings
                if atom.exact and len(atom.path) == 1:
                    ok = ok and doc[atom.path[0]] == atom.value
                held.append(ok)
            assert any(held), (text, clause)


@settings(max_examples=200, deadline=None)
@given(doc=st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), values, max_size=4))
def test_an_expression_that_reads_only_some_members_gives_the_same_on_just_those(
    doc: dict[str, Any],
) -> None:
    only = frozenset({"a", "b"})
    lean = {k: v for k, v in doc.items() if k in only}
    read_only = 0
    for text in [*EXPRESSIONS, *NEEDS, "a[*].b", "a[?b > `0`]", "*.a", "[*].a", "keys(@)"]:
        expression = compile_expression(text)
        if reads_only(expression, only):
            read_only += 1
            got, expected = evaluate(expression, lean), evaluate(expression, doc)
            assert got == expected and type(got) is type(expected), text
    assert read_only >= 30  # most of them read only a and b


def test_what_a_match_needs() -> None:
    def needs(text: str) -> set[frozenset[tuple[tuple[str, ...], str | None, bool]]]:
        return {
            frozenset((a.path, a.value, a.exact) for a in clause)
            for clause in necessary(compile_expression(text))
        }

    assert needs("data.amount > 5 && type == 'X'") == {
        frozenset({(("data", "amount"), None, False)}),
        frozenset({(("type",), "X", True)}),
    }
    assert needs("metadata.service == 'payments' || data.a") == {
        frozenset({(("metadata", "service"), "payments", True), (("data", "a"), None, False)})
    }
    assert needs("data.items[0] == 'x'") == {frozenset({(("data", "items"), "x", False)})}
    for nothing in ("!a", "a != 'x'", "a == b", "a == `null`", "length(a) > `0`", "a || !b"):
        assert needs(nothing) == set(), nothing


def test_field_names_and_literals_never_become_code() -> None:
    """Names and literals reach the generated function as constants, never as source."""
    hostile = "\"x) or __import__('os').system('false') or (x\""
    e = compile_expression(f"{hostile} == 'y'")
    assert e.search({"x) or __import__('os').system('false') or (x": "y"}) is True
    assert e.search({"x": "y"}) is False
    assert compile_expression("a == 'q\\'s'").search({"a": "q's"}) is True


def test_bare_numbers_after_comparisons_become_literals() -> None:
    assert compile_expression("balance < 0").search({"balance": -1}) is True
    assert compile_expression("balance < -2.5").search({"balance": -3}) is True
    assert compile_expression("note == 'a < 1'").search({"note": "a < 1"}) is True
    assert compile_expression("items[0] > 1e2").search({"items": [101]}) is True


def test_errors_and_missing_values() -> None:
    with pytest.raises(ExpressionError, match="column 10"):
        compile_expression("balance <")
    e = compile_expression("length(a)")
    assert evaluate(e, {"a": 5}) is None  # a function on the wrong type: no value, no error
    assert evaluate(e, MISSING) is MISSING
    assert not truthy(MISSING) and not truthy([]) and not truthy("") and truthy(0)
