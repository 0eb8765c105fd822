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
import jmespath.functions
from jmespath.visitor import TreeInterpreter

from replay_engine.query_codegen import generate

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
    tree: Any = field(default=None, repr=False, compare=False)
    """The library's parse tree (what :func:`necessary` reads)."""


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
    return Expression(stripped, _generated(parsed.parsed), parsed.parsed)


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


# --- what a match needs (for pre-filters) ------------------------------------------------


@dataclass(frozen=True)
class Atom:
    """A fact about any value an expression is truthy on: every name in ``path`` is a key
    present along that path from the root, and ``value``, when set, is a string inside the
    value at ``path[0]``. ``exact``: the value at ``path`` *is* ``value``."""

    path: tuple[str, ...]
    value: str | None = None
    exact: bool = False


Clause = frozenset[Atom]
"""At least one of its atoms holds."""
_MAX_CLAUSES: Final = 16


def necessary(expression: Expression) -> list[Clause]:
    """Conditions, in conjunctive form, that hold for every value ``expression`` is truthy
    on (an empty list: nothing is known). Sound, not complete: a search may skip a value that
    fails one without evaluating the expression, e.g. a raw record without the key a
    comparison reads. Only fields, paths, indexes, comparisons, and/or are looked into."""
    return _necessary(expression.tree) if expression.tree is not None else []


def _necessary(node: _TreeNode) -> list[Clause]:
    kind = node["type"]
    children = node.get("children", [])
    if kind == "and_expression":
        return _necessary(children[0]) + _necessary(children[1])
    if kind == "or_expression":
        first, second = _necessary(children[0]), _necessary(children[1])
        if not first or not second or len(first) * len(second) > _MAX_CLAUSES:
            return []
        return [a | b for a in first for b in second]
    path = _path(node)
    if path is not None:  # truthy: the path exists
        return [frozenset({Atom(path[0])})]
    if kind != "comparator":
        return []
    op = node["value"]
    sides = [(_path(child), child) for child in children]
    if op == "ne":
        return []
    if op != "eq":  # an order: both sides are numbers or strings, so both paths exist
        return [frozenset({Atom(p[0])}) for p, _child in sides if p is not None]
    for (p, _child), (_q, other) in (sides, sides[::-1]):
        if p is None or other["type"] != "literal" or other["value"] is None:
            continue
        literal = other["value"]
        if isinstance(literal, str) and literal:
            return [frozenset({Atom(p[0], literal, exact=p[1])})]
        return [frozenset({Atom(p[0])})]
    return []  # path == path holds when both are missing


def reads_only(expression: Expression, names: frozenset[str]) -> bool:
    """Whether ``expression`` reads nothing of its input but the members ``names`` (so a
    document holding just those gives the same result). Conservative: ``@``, wildcards or
    projections over the input itself, and node types not looked into, count as reading
    everything."""
    return expression.tree is not None and _reads_only(expression.tree, names, True)


_SAME_INPUT: Final = frozenset(
    {
        "comparator",
        "and_expression",
        "or_expression",
        "not_expression",
        "function_expression",
        "multi_select_list",
        "multi_select_dict",
        "key_val_pair",
    }
)
"""Nodes whose children all read the node's own input."""
_THEN_RESULT: Final = frozenset(
    {
        "subexpression",
        "index_expression",
        "pipe",
        "projection",
        "filter_projection",
        "value_projection",
        "flatten",
    }
)
"""Nodes whose first child reads the input and the others read what it gave (or its
elements)."""


def _reads_only(node: _TreeNode, names: frozenset[str], at_input: bool) -> bool:
    if not at_input:
        return True  # below the input: whatever it reads is inside an allowed member
    kind = node["type"]
    children = node.get("children", [])
    if kind == "field":
        return bool(node["value"] in names)
    if kind in ("literal", "expref"):
        return True  # an expref reads the elements a function hands it, not the input
    if kind in _SAME_INPUT:
        return all(_reads_only(child, names, True) for child in children)
    if kind in _THEN_RESULT and children:
        return _reads_only(children[0], names, True)
    return False


def _path(node: _TreeNode) -> tuple[tuple[str, ...], bool] | None:
    """The field names of a chain of fields and indexes, and whether it ends at a field."""
    kind = node["type"]
    children = node.get("children", [])
    if kind == "field":
        return (node["value"],), True
    if kind == "index_expression" and len(children) == 2 and children[1]["type"] == "index":
        inner = _path(children[0])
        return None if inner is None else (inner[0], False)
    if kind == "subexpression" and children:
        names: tuple[str, ...] = ()
        exact = True
        for child in children:
            part = _path(child)
            if part is None:
                return None
            names, exact = names + part[0], part[1]
        return names, exact
    return None


# --- the compiler --------------------------------------------------------------------------


_NOT_NUMBERS: Final = frozenset({str, type(None), bool, dict, list})


def _is_number(x: Any) -> bool:
    t = type(x)
    if t is int or t is float:
        return True
    return t not in _NOT_NUMBERS and isinstance(x, Number)


def _equals(x: Any, y: Any) -> bool:
    if type(x) is str or type(y) is str or x is None or y is None:
        return bool(x == y)  # the common case: no number can be confused with a boolean
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
        return lambda value: _get_other(value, name)
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
        return lambda value: _index_of(value, i)
    if kind == "comparator":
        left, right = _compile(children[0]), _compile(children[1])
        op = node["value"]
        if op == "eq":
            return lambda value: _equals(left(value), right(value))
        if op == "ne":
            return lambda value: not _equals(left(value), right(value))
        order = _ORDER[op]
        if children[1]["type"] == "literal" and type(children[1]["value"]) in (int, float):
            limit = children[1]["value"]

            def against_number(value: Any) -> Any:
                a = left(value)
                if type(a) is int or type(a) is float:
                    return order(a, limit)
                if isinstance(a, str):
                    raise TypeError("a string compared with a number")  # as the library
                return order(a, limit) if _is_number(a) else None

            return against_number

        def compare(value: Any) -> Any:
            return ordered(left(value), right(value))

        ordered = _ordered(order)

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
        return lambda value: _not(inner(value))
    if kind == "function_expression":
        call = _function(node["value"], len(children))
        if call is not None and all(child["type"] != "expref" for child in children):
            args = [_compile(child) for child in children]
            if len(args) == 1:
                (only,) = args
                return lambda value: call([only(value)])
            return lambda value: call([arg(value) for arg in args])
    return lambda value: _INTERPRETER.visit(node, value)


_FUNCTIONS: Final = jmespath.functions.Functions()


def _get_other(value: Any, name: str) -> Any:
    """A member of an object; None for anything that has none (the library's field)."""
    try:
        return value.get(name)
    except AttributeError:
        return None


def _ordered(order: Callable[[Any, Any], bool]) -> Callable[[Any, Any], Any]:
    def compare(a: Any, b: Any) -> Any:
        if not (_comparable(a) and _comparable(b)):
            return None
        if isinstance(a, str) != isinstance(b, str):
            raise TypeError("a string compared with a number")  # as the library does
        return order(a, b)

    return compare


def _not(original: Any) -> bool:
    if _is_number(original) and original == 0:
        return False  # !0 is false: 0 is not falsy in JMESPath
    return not original


def _index_of(value: Any, i: int) -> Any:
    if not isinstance(value, list):
        return None
    try:
        return value[i]
    except IndexError:
        return None


_HELPERS: Final[dict[str, Any]] = {
    "_get_other": _get_other,
    "_equals": _equals,
    "_is_false": is_false,
    "_not": _not,
    "_index": _index_of,
    **{f"_order_{op}": _ordered(order) for op, order in _ORDER.items()},
}


def _generated(tree: _TreeNode) -> Evaluator:
    """One generated function for the whole expression (see :mod:`replay_engine.query_codegen`);
    the closures when the tree is too deep for the compiler."""
    try:
        return generate(tree, _HELPERS, _compile, _function)
    except (RecursionError, MemoryError, SyntaxError):
        return _compile(tree)


def _function(name: str, arity: int) -> Callable[[list[Any]], Any] | None:
    """The library's own function body, called with the library's argument check done
    without its per-call signature walk; None (the interpreter then runs it) for an unknown
    name or a wrong arity, which are errors the library reports at run time."""
    spec = _FUNCTIONS.FUNCTION_TABLE.get(name)
    if spec is None:
        return None
    signature = spec["signature"]
    variadic = bool(signature and signature[-1].get("variadic"))
    if arity < len(signature) if variadic else arity != len(signature):
        return None
    checks: list[tuple[int, frozenset[str]]] = []
    for i, argument in enumerate(signature):  # like the library: not the variadic extras
        types = argument["types"]
        if any("-" in t for t in types):  # element types of arrays: the library checks
            return lambda args: _FUNCTIONS.call_function(name, args)
        if types:
            allowed = frozenset(n for t in types for n in jmespath.functions.REVERSE_TYPES_MAP[t])
            checks.append((i, allowed))
    body = spec["function"]

    def call(args: list[Any]) -> Any:
        for i, allowed in checks:
            if type(args[i]).__name__ not in allowed:
                raise TypeError(f"{name}() got a {type(args[i]).__name__} as argument {i + 1}")
        return body(_FUNCTIONS, *args)

    return call
