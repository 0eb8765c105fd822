"""JMESPath expressions for watches and conditions, evaluated fast enough for a million events.

The library parses; evaluation of the common node types (fields, paths, comparisons,
literals, and/or/not, indexes) is compiled here into nested closures with exactly the
library's semantics, and any other node (filters, functions, projections...) is handed to
one reused interpreter. ``jmespath.search`` itself builds a new interpreter per call, which
costs more than the expression a condition typically is.

Convenience: a bare number after a comparison (``balance < 0``) is read as the JSON literal
JMESPath wants (``balance < `0```).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Number
from typing import TYPE_CHECKING, Any, Final

import jmespath
import jmespath.exceptions
from jmespath.visitor import TreeInterpreter

if TYPE_CHECKING:
    from jmespath.visitor import _TreeNode

Evaluator = Callable[[Any], Any]

MISSING: Final = object()
"""A value that does not exist (a key with no state yet)."""
_COMPARATOR_NUMBER = re.compile(r"((?:[<>]=?|[=!]=)\s*)(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`|\"(?:[^\"\\]|\\.)*\"")
_INTERPRETER: Final = TreeInterpreter()


class ExpressionError(ValueError):
    """An expression that does not parse; the message says where and what to type."""


@dataclass(frozen=True)
class Expression:
    """A compiled JMESPath expression."""

    text: str
    search: Evaluator = field(repr=False, compare=False)


def _literal_numbers(text: str) -> str:
    """``a < 0`` → ``a < `0```, outside quoted strings and literals."""
    out, last = [], 0
    for m in _QUOTED.finditer(text):
        out.append(_COMPARATOR_NUMBER.sub(r"\1`\2`", text[last : m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(_COMPARATOR_NUMBER.sub(r"\1`\2`", text[last:]))
    return "".join(out)


def compile_expression(text: str) -> Expression:
    """Parse ``text`` (JMESPath); raises :class:`ExpressionError` naming the column."""
    stripped = text.strip()
    if not stripped:
        raise ExpressionError("Type an expression, e.g. balance_eur or balance_eur < 0")
    try:
        parsed = jmespath.compile(_literal_numbers(stripped))
    except jmespath.exceptions.ParseError as error:
        column = getattr(error, "lex_position", None)
        where = f" at column {int(column) + 1}" if isinstance(column, int) else ""
        raise ExpressionError(
            f"{stripped!r} is not a JMESPath expression{where}: {error.msg}. Examples: "
            "balance_eur, items[?qty > `2`].sku, status == 'open' && total > 100"
        ) from error
    except jmespath.exceptions.JMESPathError as error:
        raise ExpressionError(f"{stripped!r}: {error}") from error
    return Expression(stripped, _compile(parsed.parsed))


def is_false(value: Any) -> bool:
    """JMESPath's falsehood: false, null, and empty strings, lists and objects."""
    return value == "" or value == [] or value == {} or value is None or value is False


def truthy(value: Any) -> bool:
    return value is not MISSING and not is_false(value)


def evaluate(expression: Expression, value: Any) -> Any:
    """The expression over ``value``; MISSING stays MISSING. A function applied to the wrong
    type (``abs('x')``) gives None, as a comparison of mismatched types does."""
    if value is MISSING:
        return MISSING
    try:
        return expression.search(value)
    except (jmespath.exceptions.JMESPathError, TypeError):
        return None


# --- the compiler --------------------------------------------------------------------------


def _is_number(x: Any) -> bool:
    t = type(x)
    if t is int or t is float:
        return True
    return t is not bool and isinstance(x, Number)


def _equals(x: Any, y: Any) -> bool:
    if _is_number(x) and x in (0, 1):
        if isinstance(y, bool):
            return False
    elif _is_number(y) and y in (0, 1) and isinstance(x, bool):
        return False
    return bool(x == y)


def _comparable(x: Any) -> bool:
    return _is_number(x) or isinstance(x, str)


_ORDER: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "lt": lambda a, b: a < b,
    "gt": lambda a, b: a > b,
    "lte": lambda a, b: a <= b,
    "gte": lambda a, b: a >= b,
}


def _compile(node: _TreeNode) -> Evaluator:
    kind = node["type"]
    children = node.get("children", [])
    if kind == "field":
        name = node["value"]

        def get(value: Any) -> Any:
            try:
                return value.get(name)
            except AttributeError:
                return None

        return get
    if kind == "subexpression":
        steps = [_compile(child) for child in children]

        def chain(value: Any) -> Any:
            for step in steps:
                value = step(value)
            return value

        return chain
    if kind == "literal":
        constant = node["value"]
        return lambda _value: constant
    if kind in ("current", "identity"):
        return lambda value: value
    if kind == "index":
        i = node["value"]

        def index(value: Any) -> Any:
            if not isinstance(value, list):
                return None
            try:
                return value[i]
            except IndexError:
                return None

        return index
    if kind == "comparator":
        left, right = _compile(children[0]), _compile(children[1])
        op = node["value"]
        if op == "eq":
            return lambda value: _equals(left(value), right(value))
        if op == "ne":
            return lambda value: not _equals(left(value), right(value))
        order = _ORDER[op]

        def compare(value: Any) -> Any:
            a, b = left(value), right(value)
            if not (_comparable(a) and _comparable(b)) or isinstance(a, str) != isinstance(b, str):
                return None  # the library raises TypeError for a number against a string
            return order(a, b)

        return compare
    if kind == "and_expression":
        first, second = _compile(children[0]), _compile(children[1])

        def both(value: Any) -> Any:
            matched = first(value)
            return matched if is_false(matched) else second(value)

        return both
    if kind == "or_expression":
        first, second = _compile(children[0]), _compile(children[1])

        def either(value: Any) -> Any:
            matched = first(value)
            return second(value) if is_false(matched) else matched

        return either
    if kind == "not_expression":
        inner = _compile(children[0])

        def negate(value: Any) -> bool:
            original = inner(value)
            if _is_number(original) and original == 0:
                return False  # !0 is false: 0 is not falsy in JMESPath
            return not original

        return negate
    return lambda value: _INTERPRETER.visit(node, value)
