"""Breakpoints, watches and the search behind run forward / run backward.

A *breakpoint* stops at events: a given event (the table's gutter), events of a type or a
stream (globs such as ``Order*``), optionally only when a condition on the payload holds.
A *watch* is an expression over the state; a watch that *breaks* stops where its condition
becomes true (false before the event, true after it), like a hardware watchpoint.

Expressions are JMESPath, never Python: a workspace shared by a colleague can name
breakpoints and watches but cannot make this machine run code. As a convenience a bare number
after a comparison (``balance < 0``) is read as the JSON literal JMESPath wants
(``balance < `0```).

For keyed projections a watch looks at one key's substate (``scope``), or with scope ``*`` at
the substate of whichever key each event touches ("any customer's balance goes negative").
Searches skip dropped events (they do not run) and report progress; the engine's progress
hook cancels them.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np

from models.event import Event, EventKey, format_key
from models.gc_pause import cycle_gc_paused
from models.log import Int64Array
from replay_engine.diff import equal
from replay_engine.engine import Engine
from replay_engine.errors import Cancelled
from replay_engine.query import (
    MISSING,
    Expression,
    ExpressionError,
    compile_expression,
    evaluate,
    truthy,
)

ANY: Final = "*"
"""Watch scope: the substate of the key each event touches."""
BLOCK: Final = 4096
NEAR: Final = 1024
"""Run backward over a condition on any key first looks at this many rows before the cursor
(reading each key's state where they start); beyond, it folds forward from the start in one
pass, which beats reading every key's state at each block boundary."""


# --- breakpoints -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """Stops at events that match every field given (all None: every event)."""

    event: EventKey | None = None
    type: str | None = None
    """A glob over event types."""
    stream: str | None = None
    """A glob over stream names."""
    condition: str | None = None
    """JMESPath over the event's payload; the event matches when it is true."""
    enabled: bool = True

    def describe(self) -> str:
        parts = []
        if self.event is not None:
            parts.append(f"event {format_key(self.event)}")
        if self.type:
            parts.append(f"type {self.type}")
        if self.stream:
            parts.append(f"stream {self.stream}")
        if self.condition:
            parts.append(f"when {self.condition}")
        return ", ".join(parts) or "every event"

    def with_enabled(self, enabled: bool) -> Breakpoint:
        return replace(self, enabled=enabled)

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "type": self.type,
            "stream": self.stream,
            "condition": self.condition,
            "enabled": self.enabled,
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Breakpoint:
        def text(name: str) -> str | None:
            value = data.get(name)
            return str(value) if value not in (None, "") else None

        event = data.get("event")
        return Breakpoint(
            event=int(event) if isinstance(event, int) else None,
            type=text("type"),
            stream=text("stream"),
            condition=text("condition"),
            enabled=bool(data.get("enabled", True)),
        )

    def check(self) -> None:
        """Raise :class:`ExpressionError` if the condition does not parse."""
        if self.condition:
            compile_expression(self.condition)


@dataclass(frozen=True, slots=True)
class Watch:
    expression: str
    scope: str | None = None
    """Keyed projections: the key whose substate it reads, or ANY; None: the whole state."""
    breaks: bool = False
    """A condition that stops run forward/backward where it becomes true."""
    enabled: bool = True

    def describe(self) -> str:
        where = "" if self.scope is None else f" in {self.scope}"
        return f"{self.expression}{where}"

    def to_json(self) -> dict[str, Any]:
        return {
            "expression": self.expression,
            "scope": self.scope,
            "breaks": self.breaks,
            "enabled": self.enabled,
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Watch:
        scope = data.get("scope")
        return Watch(
            expression=str(data.get("expression", "")),
            scope=str(scope) if scope not in (None, "") else None,
            breaks=bool(data.get("breaks", False)),
            enabled=bool(data.get("enabled", True)),
        )


@dataclass(frozen=True, slots=True)
class Hit:
    row: int
    reason: str


class _EventMatcher:
    """One breakpoint, compiled against the log's dictionaries."""

    def __init__(self, bp: Breakpoint, type_names: Sequence[str], stream_names: Sequence[str]):
        self.bp = bp
        self.condition = compile_expression(bp.condition) if bp.condition else None
        self.type_codes = _codes(bp.type, type_names)
        self.stream_codes = _codes(bp.stream, stream_names)

    def rows(self, keys: Int64Array, types: Any, streams: Any) -> Any:
        """Mask of the rows whose key/type/stream match (the condition is checked later)."""
        mask = np.ones(keys.shape[0], bool)
        if self.bp.event is not None:
            mask &= keys == self.bp.event
        if self.type_codes is not None:
            mask &= np.isin(types, self.type_codes)
        if self.stream_codes is not None:
            mask &= np.isin(streams, self.stream_codes)
        return mask

    def fields_match(self, event: Event) -> bool:
        bp = self.bp
        return (
            (bp.event is None or event.key == bp.event)
            and (bp.type is None or fnmatch.fnmatchcase(event.type, bp.type))
            and (bp.stream is None or fnmatch.fnmatchcase(event.stream, bp.stream))
        )

    def condition_holds(self, data: Any) -> bool:
        return self.condition is None or truthy(evaluate(self.condition, data))


def _codes(pattern: str | None, names: Sequence[str]) -> Any:
    if pattern is None:
        return None
    return np.array(
        [i for i, name in enumerate(names) if fnmatch.fnmatchcase(name, pattern)], np.int32
    )


def _tick(engine: Engine, done: int, total: int) -> None:
    progress = engine.progress
    if progress is not None and progress(done, total) is False:
        raise Cancelled(f"search stopped after {done:,} of {total:,} events")


def _blocks(start: int, stop: int, direction: int) -> Iterator[tuple[int, int]]:
    """``[lo, hi)`` blocks covering rows ``start..stop-1``, nearest first."""
    if direction > 0:
        for lo in range(start, stop, BLOCK):
            yield lo, min(stop, lo + BLOCK)
    else:
        for hi in range(stop, start, -BLOCK):
            yield max(start, hi - BLOCK), hi


_DENSE: Final = 16
"""A block with at least one candidate in this many rows has its payloads decoded in one
sequential pass (payloads only), instead of event by event."""


def _candidate_payloads(
    engine: Engine, branch: str, lo: int, keys: Int64Array, plain: Any, offsets: Any
) -> Iterator[tuple[int, Any, Event | None]]:
    """``(offset, payload, event or None)`` of the candidate rows of a block, ascending. The
    event is read only where fields must be checked on it (edited or inserted events)."""
    n = keys.shape[0]
    iter_payloads = getattr(engine.log, "iter_payloads", None)
    if (
        iter_payloads is not None
        and n
        and bool(plain.all())
        and int(keys[-1]) - int(keys[0]) == n - 1
        and bool((np.diff(keys) == 1).all())
        and offsets.shape[0] * _DENSE >= n
    ):
        wanted = set(offsets.tolist())
        first = int(keys[0])
        for off, payload in enumerate(iter_payloads(first, first + n)):
            if off in wanted:
                yield off, payload[3], None
        return
    rows = (offsets + lo).astype(np.int64)
    for row, event in engine.iter_events(branch, rows):
        off = row - lo
        yield off, event.data, None if plain[off] else event


def _event_hit(
    engine: Engine,
    branch: str,
    matchers: list[_EventMatcher],
    start: int,
    stop: int,
    direction: int,
) -> Hit | None:
    """The nearest row in ``[start, stop)`` (from the ``direction`` side) that a breakpoint
    matches: type and stream by numpy over the columns, conditions on the few candidates."""
    if not matchers or start >= stop:
        return None
    seq = engine.sequence(branch)
    cols = engine.log.columns
    special = np.array(sorted(seq.edited | seq.inserted), np.int64)
    total = stop - start
    done = 0
    for lo, hi in _blocks(start, stop, direction):
        keys = np.asarray(seq.keys[lo:hi], np.int64)
        live = ~np.asarray(seq.dropped[lo:hi])
        plain = (keys >= 0) & ~np.isin(keys, special)
        safe = np.where(plain, keys, 0)
        types, streams = cols.type_codes[safe], cols.stream_codes[safe]
        candidates = np.zeros(keys.shape[0], bool)
        per_matcher = []
        for m in matchers:
            mask = m.rows(keys, types, streams) & plain
            per_matcher.append(mask)
            candidates |= mask
        candidates |= ~plain  # edited and inserted events are checked one by one
        candidates &= live
        offsets = np.flatnonzero(candidates)
        hits: list[Hit] = []
        for off, data, event in _candidate_payloads(engine, branch, lo, keys, plain, offsets):
            for m, mask in zip(matchers, per_matcher, strict=True):
                if plain[off]:
                    matched = bool(mask[off])
                else:
                    assert event is not None
                    matched = m.fields_match(event)
                if matched and m.condition_holds(data):
                    hits.append(Hit(lo + off, f"breakpoint: {m.bp.describe()}"))
                    break
            if hits and direction > 0:
                return hits[0]
        if hits:
            return hits[-1]
        done += hi - lo
        _tick(engine, done, total)
    return None


# --- watches -------------------------------------------------------------------------------


def _initial_substate(engine: Engine) -> Any:
    return engine.projection.initial_substate()  # type: ignore[union-attr]


def substate_or_missing(engine: Engine, branch: str, row: int, key: str) -> Any:
    try:
        return engine.substate_at(branch, row, key)
    except KeyError:
        return MISSING


def watch_scope(engine: Engine, branch: str, row: int, watch: Watch) -> str | None:
    """The key a watch reads at ``row``: its own, or for ANY — and for no scope (a watch made
    under a projection that has no keys) — the key of the event there, as a run to the
    watch's condition reads it."""
    if watch.scope not in (None, ANY):
        return watch.scope
    if row < 0:
        return None
    return engine.key_of(engine.event_at(branch, row))


def watch_value(engine: Engine, branch: str, row: int, watch: Watch) -> Any:
    """The watch's value at ``row`` (MISSING where its scope has no state)."""
    expression = compile_expression(watch.expression)
    if not engine.is_keyed:
        return evaluate(expression, engine.state_at(branch, row))
    key = watch_scope(engine, branch, row, watch)
    if key is None:
        return MISSING
    return evaluate(expression, substate_or_missing(engine, branch, row, key))


def watch_series(
    engine: Engine, branch: str, watch: Watch, key: str | None = None
) -> tuple[Int64Array, list[Any]]:
    """Rows where the watch's value may change and its value after each, starting with row -1
    (the initial state): for keyed projections the key's own events (``key`` overrides the
    scope, for ANY), otherwise every event. Values are raw (MISSING, numbers, anything)."""
    expression = compile_expression(watch.expression)
    if engine.is_keyed:
        scope = key if key is not None else watch.scope
        if scope is None or scope == ANY:
            raise ValueError("a series needs one key")
        rows = engine.key_rows(branch, scope)
        values: list[Any] = [MISSING]
        for _row, state in engine.key_history(branch, scope):
            values.append(evaluate(expression, state))
        return np.concatenate([[-1], rows]).astype(np.int64), values
    seq = engine.sequence(branch)
    live = np.flatnonzero(~np.asarray(seq.dropped)).astype(np.int64)
    values = []
    for _row, value in _general_values(engine, branch, -1, live, expression):
        values.append(value)
    return np.concatenate([[-1], live]).astype(np.int64), values


def _general_values(
    engine: Engine, branch: str, base_row: int, rows: Int64Array, expression: Expression
) -> Iterator[tuple[int, Any]]:
    """Non-keyed: ``(row, value)`` starting at ``base_row``'s state, then after each of
    ``rows`` (ascending, after ``base_row``), folding the state once."""
    state = engine.state_at(branch, base_row)
    yield base_row, evaluate(expression, state)
    apply = engine.projection.apply  # type: ignore[union-attr]
    with cycle_gc_paused():
        for i, (row, event) in enumerate(engine.iter_events(branch, rows)):
            try:
                state = apply(state, event)
            except Cancelled:
                raise
            except Exception:
                engine.state_at(branch, row)  # raises the engine's ProjectionError for it
                raise
            yield row, evaluate(expression, state)
            if i % BLOCK == BLOCK - 1:
                _tick(engine, i + 1, int(rows.shape[0]))


def _edges(values: Iterable[tuple[int, bool]], before: bool) -> Iterator[int]:
    """Rows where a condition goes from false to true."""
    for row, now in values:
        if now and not before:
            yield row
        before = now


def _key_condition_hit(
    engine: Engine, branch: str, watch: Watch, expression: Expression, row: int, direction: int
) -> int | None:
    assert watch.scope is not None
    before = False
    last = None
    for r, state in engine.key_history(branch, watch.scope):
        if direction < 0 and r >= row:
            break
        now = truthy(evaluate(expression, state))
        if now and not before:
            if direction > 0 and r > row:
                return r
            last = r
        before = now
    return None if direction > 0 else last


def _any_key_values(
    engine: Engine, branch: str, base_row: int, rows: Int64Array, expression: Expression
) -> Iterator[tuple[int, bool, bool]]:
    """Keyed, scope ANY: for each of ``rows`` (ascending, live, after ``base_row``) whether
    the condition held on its key's substate before and after the event. Folds the substates
    itself from ``base_row``'s state, reading each key's state there once."""
    projection: Any = engine.projection
    base = engine.state_at(branch, base_row) if base_row >= 0 else None
    states: dict[str, Any] = {}
    held: dict[str, bool] = {}
    with cycle_gc_paused():
        for i, (row, event) in enumerate(engine.iter_events(branch, rows)):
            key = projection.key(event)
            state = states.get(key, MISSING)
            if state is MISSING:
                state = MISSING if base is None else base.get(key, MISSING)
                before = truthy(evaluate(expression, state))
                if state is MISSING:
                    state = _initial_substate(engine)  # its own: a handler may mutate it
            else:
                before = held[key]
            try:
                state = projection.apply_substate(state, event)
            except Cancelled:
                raise
            except Exception:
                engine.substate_at(branch, row, key)  # raises the engine's ProjectionError
                raise
            states[key] = state
            now = held[key] = truthy(evaluate(expression, state))
            yield row, before, now
            if i % BLOCK == BLOCK - 1:
                _tick(engine, i + 1, int(rows.shape[0]))


def _live_rows(engine: Engine, branch: str, start: int, stop: int) -> Int64Array:
    dropped = np.asarray(engine.sequence(branch).dropped[start:stop])
    return (np.flatnonzero(~dropped) + start).astype(np.int64)


def _condition_hit(
    engine: Engine, branch: str, watch: Watch, row: int, direction: int, bound: int | None
) -> int | None:
    """The nearest row where the watch's condition becomes true, strictly after (direction
    +1) or before (-1) ``row``, not beyond ``bound`` (a nearer hit found already)."""
    expression = compile_expression(watch.expression)
    n = engine.row_count(branch)
    if engine.is_keyed and watch.scope not in (None, ANY):
        found = _key_condition_hit(engine, branch, watch, expression, row, direction)
        if found is None or bound is None:
            return found
        return found if (found < bound if direction > 0 else found > bound) else None
    if direction > 0:
        stop = n if bound is None else bound
        rows = _live_rows(engine, branch, row + 1, stop)
        if engine.is_keyed:
            for r, before, now in _any_key_values(engine, branch, row, rows, expression):
                if now and not before:
                    return r
            return None
        values = _general_values(engine, branch, row, rows, expression)
        _, first = next(values)
        for r in _edges(((r, truthy(v)) for r, v in values), truthy(first)):
            return r
        return None
    floor = 0 if bound is None else bound + 1
    blocks = 0
    hi = row
    while hi > floor:
        if not engine.is_keyed:
            lo = max(floor, hi - BLOCK)  # states at block starts come from snapshots
        else:
            lo = max(floor, hi - NEAR) if blocks == 0 else floor
        rows = _live_rows(engine, branch, lo, hi)
        last = None
        if engine.is_keyed:
            for r, before, now in _any_key_values(engine, branch, lo - 1, rows, expression):
                if now and not before:
                    last = r
        else:
            values = _general_values(engine, branch, lo - 1, rows, expression)
            _, first = next(values)
            for r in _edges(((r, truthy(v)) for r, v in values), truthy(first)):
                last = r
        if last is not None:
            return last
        hi = lo
        blocks += 1
    return None


# --- run forward / backward ----------------------------------------------------------------


def find_hit(
    engine: Engine,
    branch: str,
    row: int,
    direction: int,
    breakpoints: Sequence[Breakpoint],
    watches: Sequence[Watch] = (),
) -> Hit | None:
    """The nearest hit of an enabled breakpoint or breaking watch strictly after
    (``direction`` > 0) or before (< 0) display row ``row``; None when there is none.

    Breakpoints on fields are cheap (numpy over the columns), so they are searched first and
    bound how far the conditions of watches, which fold states, need to look.
    """
    cols = engine.log.columns
    matchers = [
        _EventMatcher(bp, cols.type_names, cols.stream_names) for bp in breakpoints if bp.enabled
    ]
    n = engine.row_count(branch)
    if not -1 <= row < n:
        raise IndexError(f"row {row} is outside branch {branch!r} (rows -1..{n - 1})")
    if direction > 0:
        best = _event_hit(engine, branch, matchers, row + 1, n, 1)
    else:
        best = _event_hit(engine, branch, matchers, 0, row, -1)
    for watch in watches:
        if not (watch.enabled and watch.breaks):
            continue
        bound = None if best is None else best.row
        found = _condition_hit(engine, branch, watch, row, direction, bound)
        if found is not None and (
            best is None or (found < best.row if direction > 0 else found > best.row)
        ):
            best = Hit(found, f"watch: {watch.describe()} became true")
    return best


# --- which events touched this? -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Touch:
    row: int
    before: Any
    after: Any


def extract(value: Any, path: Sequence[str | int]) -> Any:
    """The value at ``path`` below ``value``, or MISSING."""
    node = value
    for part in path:
        if isinstance(node, list | tuple):
            if not (isinstance(part, int) and -len(node) <= part < len(node)):
                return MISSING
        elif not (isinstance(node, Mapping) and part in node):
            return MISSING
        node = node[part]
    return node


def touches(
    engine: Engine, branch: str, path: Sequence[str | int], limit: int = 100_000
) -> list[Touch]:
    """The events that changed the value at ``path`` in the state (keyed projections: the
    path starts with the key, and only that key's events are read), oldest first, with the
    value before and after each; at most ``limit`` of them."""
    found: list[Touch] = []
    if engine.is_keyed:
        if not path:
            raise ValueError("pick a node inside one key's substate")
        key, rest = str(path[0]), path[1:]
        before: Any = MISSING
        for row, state in engine.key_history(branch, key):
            after = extract(state, rest)
            if not _same(before, after):
                found.append(Touch(row, before, after))
                if len(found) >= limit:
                    break
            before = after
        return found
    state = engine.state_at(branch, -1)
    before = extract(state, path)
    apply = engine.projection.apply  # type: ignore[union-attr]
    live = _live_rows(engine, branch, 0, engine.row_count(branch))
    for i, (row, event) in enumerate(engine.iter_events(branch, live)):
        state = apply(state, event)
        after = extract(state, path)
        if not _same(before, after):
            found.append(Touch(row, before, after))
            if len(found) >= limit:
                break
        before = after
        if i % BLOCK == BLOCK - 1:
            _tick(engine, i + 1, int(live.shape[0]))
    return found


def _same(a: Any, b: Any) -> bool:
    if a is MISSING or b is MISSING:
        return a is b
    return equal(a, b)


def numeric(value: Any) -> float:
    """Plottable: numbers, booleans as 0/1, anything else NaN."""
    if value is True or value is False:
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return math.nan


__all__ = [
    "ANY",
    "MISSING",
    "Breakpoint",
    "Expression",
    "ExpressionError",
    "Hit",
    "Touch",
    "Watch",
    "compile_expression",
    "evaluate",
    "extract",
    "find_hit",
    "numeric",
    "touches",
    "truthy",
    "watch_series",
    "watch_value",
]
