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
