"""JMESPath expressions compiled to one Python function each, for the hottest loops.

:mod:`replay_engine.query` compiles an expression to nested closures: one Python call per
node and per evaluation. A search over a million events evaluates the same expression a
million times, so here the common nodes (fields, paths, literals, comparisons, and/or/not,
functions) become a single expression in the source of one ``lambda``, with the same
semantics as the closures (and the library): checked by hypothesis against both.

Nothing of the expression's text reaches the generated source: field names, literals and
the nodes left to the closures are passed in as constants named ``_k0``, ``_k1``... so a
query can never be code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jmespath.visitor import _TreeNode

Evaluator = Callable[[Any], Any]


class _Source:
    def __init__(self, helpers: dict[str, Any]) -> None:
        self.namespace: dict[str, Any] = dict(helpers)
        self._n = 0

    def const(self, value: Any) -> str:
        name = f"_k{self._n}"
        self._n += 1
        self.namespace[name] = value
        return name

    def temp(self) -> str:
        name = f"_t{self._n}"
        self._n += 1
        return name


def generate(
    tree: _TreeNode,
    helpers: dict[str, Any],
    fallback: Callable[[_TreeNode], Evaluator],
    function: Callable[[str, int], Callable[[list[Any]], Any] | None],
) -> Evaluator:
    """The evaluator of ``tree``. ``helpers`` (by name): ``_get_other(value, key)``,
    ``_equals``, ``_order_<op>`` (the comparators' slow paths), ``_is_false``, ``_not``,
    ``_index``; ``fallback(node)`` is the closure of a node not generated here; ``function``
    gives a function's caller (None: the fallback runs it)."""
    source = _Source(helpers)
    body = _node(tree, "v", source, fallback, function)
    code = compile(f"lambda v: {body}", "<jmespath>", "eval")
    evaluator: Evaluator = eval(code, source.namespace)
    return evaluator


def _node(
    node: _TreeNode,
    x: str,
    src: _Source,
    fallback: Callable[[_TreeNode], Evaluator],
    function: Callable[[str, int], Callable[[list[Any]], Any] | None],
) -> str:
    """Source of an expression giving ``node``'s value for the input ``x`` (source too: a
    plain name, or an expression to evaluate exactly once)."""
    kind = node["type"]
    children = node.get("children", [])

    def sub(child: _TreeNode, name: str) -> str:
        return _node(child, name, src, fallback, function)

    def once(build: Callable[[str], str]) -> str:
        """``build(name)`` may read its input several times: bind a non-name input first."""
        if x.isidentifier():
            return build(x)
        t = src.temp()
        return f"(({t} := {x}), {build(t)})[1]"

    if kind == "field":
        k = src.const(node["value"])
        if x.isidentifier():
            return f"({x}.get({k}) if type({x}) is dict else _get_other({x}, {k}))"
        t = src.temp()  # the condition runs first: it binds the input
        return f"({t}.get({k}) if type({t} := {x}) is dict else _get_other({t}, {k}))"
    if kind == "subexpression" and children:
        out = x
        for child in children:
            out = sub(child, out)  # each step's source takes the previous step's as input
        return out
    if kind == "literal":
        k = src.const(node["value"])
        # (a literal after a path, as in ``abs(a).not_null(`1`)``: the path still runs, and
        # may fail, as the library's does)
        return k if x.isidentifier() else f"({x}, {k})[1]"
    if kind in ("current", "identity"):
        return x
    if kind == "index":
        return f"_index({x}, {src.const(node['value'])})"
    if kind == "comparator":
        op = node["value"]

        def compare(name: str) -> str:
            left, right = sub(children[0], name), sub(children[1], name)
            if op == "eq":
                return f"_equals({left}, {right})"
            if op == "ne":
                return f"(not _equals({left}, {right}))"
            return f"_order_{op}({left}, {right})"

        return once(compare)
    if kind in ("and_expression", "or_expression"):

        def logic(name: str) -> str:
            t = src.temp()
            first, second = sub(children[0], name), sub(children[1], name)
            if kind == "and_expression":
                return f"({t} if _is_false({t} := {first}) else {second})"
            return f"({second} if _is_false({t} := {first}) else {t})"

        return once(logic)
    if kind == "not_expression":
        return f"_not({sub(children[0], x)})"
    if kind == "function_expression" and all(c["type"] != "expref" for c in children):
        call = function(node["value"], len(children))
        if call is not None:
            if not children:
                return once(lambda _name: f"{src.const(call)}([])")
            if len(children) == 1:
                return f"{src.const(call)}([{sub(children[0], x)}])"
            return once(
                lambda name: f"{src.const(call)}([{', '.join(sub(c, name) for c in children)}])"
            )
    return f"{src.const(fallback(node))}({x})"
