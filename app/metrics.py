"""Metrics over the event sequence: one value in the state, or an aggregate over entities.

``customer-00020.data.balance`` is one entity's value; ``sum(customer-*.data.balance)``,
``avg(...)``, ``min(...)``, ``max(...)`` and ``count(customer-*)`` aggregate over every entity
whose key matches the glob (the glob ends at the first dot). A series holds the value after
each event *where it changes* (a step function), so a balance that changes 20 times in a
million-event log is 20 points.

Computed the cheap way for keyed projections: one entity's value needs only that entity's
events (their rows are found by bisection over the engine's per-key counts, then the engine
folds the entity's substates incrementally); an aggregate reads only the rows of matching
streams (numpy over the stream column) and folds those. Qt-free; runs in a worker.
"""

from __future__ import annotations

import fnmatch
import heapq
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from models.event import Event, EventKey
from replay_engine.errors import Cancelled
from replay_engine.projection import is_keyed_by_stream

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
ProgressFn = Callable[[int, int], bool]

AGGREGATES: Final = ("count", "sum", "avg", "min", "max")
MISSING: Final = object()
_AGGREGATE = re.compile(r"^\s*(count|sum|avg|min|max)\s*\(\s*(.+?)\s*\)\s*$", re.IGNORECASE)
_CHUNK: Final = 4096


class MetricError(ValueError):
    """The metric cannot be read or computed; the message says why and what to type."""


@dataclass(frozen=True, slots=True)
class Metric:
    text: str
    func: str
    """"value" or one of AGGREGATES."""
    key: str | None
    """The entity (top-level key of the state) of a value metric; None for the whole state."""
    pattern: str | None
    """The glob over entity keys of an aggregate."""
    path: tuple[str, ...]
    """Inside each entity's substate (list indices as digits)."""

    @property
    def is_aggregate(self) -> bool:
        return self.func != "value"


def parse_metric(text: str, is_key: Callable[[str], bool] | None = None) -> Metric:
    """Read what the user typed. ``is_key`` tells entity keys apart (keys may contain dots:
    the longest prefix that is a key wins); None for a state that is not keyed."""
    text = text.strip()
    if not text:
        raise MetricError(
            "Type a value such as customer-00020.data.balance, or an aggregate such as "
            "sum(customer-*.data.balance) or count(order-*)."
        )
    m = _AGGREGATE.match(text)
    if m is not None:
        func, inner = m.group(1).lower(), m.group(2)
        pattern, _, rest = inner.partition(".")
        path = tuple(p for p in rest.split(".") if p) if rest else ()
        if func != "count" and not path:
            raise MetricError(
                f"{func}() needs a value inside each entity, e.g. {func}({pattern}.data.amount)"
            )
        return Metric(text, func, None, pattern, path)
    parts = text.split(".")
    if is_key is None:
        return Metric(text, "value", None, None, tuple(parts))
    for j in range(len(parts), 0, -1):
        key = ".".join(parts[:j])
        if is_key(key):
            return Metric(text, "value", key, None, tuple(parts[j:]))
    raise MetricError(
        f"No entity '{parts[0]}' in this log: start with a stream (entity) key, "
        "e.g. customer-00020.data.balance"
    )


def extract(value: Any, path: Sequence[str]) -> Any:
    """The value at ``path`` below ``value``, or MISSING."""
    node = value
    for part in path:
        if isinstance(node, Mapping):
            if part not in node:
                return MISSING
            node = node[part]
        elif isinstance(node, list | tuple) and part.lstrip("-").isdigit():
            i = int(part)
            if not -len(node) <= i < len(node):
                return MISSING
            node = node[i]
        else:
            return MISSING
    return node


def numeric(value: Any) -> float:
    """Plottable: numbers as they are, booleans as 0/1, anything else NaN."""
    if value is True or value is False:
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return math.nan


@dataclass(frozen=True)
class Series:
    """A step function over display rows: ``y[i]`` holds from ``x[i]`` until ``x[i + 1]``
    (the last one to ``end_row``); ``x[0]`` is -1, the initial state."""

    branch: str
    metric: Metric
    x: F64
    y: F64
    end_row: int
    non_numeric: int = 0
    """Points whose value exists but is not a number (plotted as gaps)."""

    def at(self, rows: Any) -> Any:
        idx = np.searchsorted(self.x, np.asarray(rows, np.float64), side="right") - 1
        return self.y[np.maximum(idx, 0)]

    def value_at(self, row: int) -> float:
        return float(self.at([row])[0])

    @property
    def end_value(self) -> float:
        return float(self.y[-1])


def first_difference(a: Series, b: Series) -> float | None:
    """The first row where the two step functions differ (NaN equals NaN), or None."""
    xs = np.union1d(a.x, b.x)
    ya, yb = a.at(xs), b.at(xs)
    same = (ya == yb) | (np.isnan(ya) & np.isnan(yb))
    bad = np.flatnonzero(~same)
    return float(xs[bad[0]]) if bad.size else None


# --- computing ---------------------------------------------------------------------------


def _tick(progress: ProgressFn | None, done: int, total: int) -> None:
    if progress is not None and not progress(done, total):
        raise Cancelled(f"stopped after {done:,} of {total:,}")


def _steps(rows: list[int], values: list[float], branch: str, metric: Metric, end: int) -> Series:
    x = np.array(rows, np.float64)
    y = np.array(values, np.float64)
    if x.shape[0] > 1:  # keep only the points where the value changes
        prev = y[:-1]
        cur = y[1:]
        changed = ~((cur == prev) | (np.isnan(cur) & np.isnan(prev)))
        keep = np.concatenate([[True], changed])
        x, y = x[keep], y[keep]
    return Series(branch, metric, x, y, end)


def event_rows(engine: Any, branch: str, key: str) -> I64:
    """Display rows of the non-dropped events of entity ``key`` (keyed engines), found by
    bisection over the engine's per-key counts: O(k log n) cheap calls, no payload read."""
    n = engine.row_count(branch)
    if n == 0:
        return np.zeros(0, np.int64)

    def count(row: int) -> int:
        return 0 if row < 0 else int(engine.state_at(branch, row).count(key))

    found: list[int] = []
    stack = [(0, n - 1, 0, count(n - 1))]
    while stack:
        lo, hi, before, upto = stack.pop()
        if upto == before:
            continue
        if upto - before == hi - lo + 1:
            found.extend(range(lo, hi + 1))
            continue
        mid = (lo + hi) // 2
        at_mid = count(mid)
        stack.append((mid + 1, hi, at_mid, upto))
        stack.append((lo, mid, before, at_mid))
    return np.array(sorted(found), np.int64)


def iter_events(engine: Any, branch: str, rows: I64) -> Iterator[tuple[int, Event]]:
    """The events at ``rows`` (ascending display rows) as the branch has them."""
    return engine.iter_events(branch, rows)  # type: ignore[no-any-return]


def metric_series(
    engine: Any, branch: str, metric: Metric, progress: ProgressFn | None = None
) -> Series:
    if metric.is_aggregate:
        if not engine.is_keyed:
            raise MetricError(
                "Aggregates need a keyed projection (one substate per entity); "
                "plot a single value instead."
            )
        return _aggregate_series(engine, branch, metric, progress)
    if engine.is_keyed:
        return _value_series(engine, branch, metric, progress)
    return _general_series(engine, branch, metric, progress)


def _value_series(engine: Any, branch: str, metric: Metric, progress: ProgressFn | None) -> Series:
    assert metric.key is not None
    end = engine.row_count(branch) - 1
    rows = event_rows(engine, branch, metric.key).tolist()
    xs, ys = [-1], [math.nan]
    non_numeric = 0
    for i, row in enumerate(rows):
        value = extract(engine.substate_at(branch, row, metric.key), metric.path)
        y = numeric(value)
        if value is not MISSING and value is not None and math.isnan(y):
            non_numeric += 1
        xs.append(row)
        ys.append(y)
        if i % 256 == 255:
            _tick(progress, i + 1, len(rows))
    s = _steps(xs, ys, branch, metric, end)
    return Series(s.branch, s.metric, s.x, s.y, s.end_row, non_numeric)


def _general_series(
    engine: Any, branch: str, metric: Metric, progress: ProgressFn | None
) -> Series:
    """A projection with one opaque state: fold the branch once, read the path per event."""
    projection = engine.projection
    seq = engine.sequence(branch)
    rows = np.flatnonzero(~np.asarray(seq.dropped)).astype(np.int64)
    state = projection.initial_state()
    xs, ys = [-1], [numeric(extract(state, metric.path))]
    for i, (row, event) in enumerate(iter_events(engine, branch, rows)):
        state = projection.apply(state, event)
        xs.append(row)
        ys.append(numeric(extract(state, metric.path)))
        if i % _CHUNK == _CHUNK - 1:
            _tick(progress, i + 1, int(rows.shape[0]))
    return _steps(xs, ys, branch, metric, len(seq) - 1)


class _Aggregate:
    """count / sum / avg / min / max over entities' current values, updated per event."""

    def __init__(self, func: str) -> None:
        self.func = func
        self.values: dict[str, float] = {}
        self.total = 0.0
        self.low: list[tuple[float, str]] = []
        self.high: list[tuple[float, str]] = []

    def set(self, key: str, value: float) -> None:
        old = self.values.pop(key, None)
        if old is not None:
            self.total -= old
        if not math.isnan(value):
            self.values[key] = value
            self.total += value
            if self.func == "min":
                heapq.heappush(self.low, (value, key))
            elif self.func == "max":
                heapq.heappush(self.high, (-value, key))

    def result(self) -> float:
        n = len(self.values)
        if self.func == "count":
            return float(n)
        if self.func == "sum":
            return self.total
        if n == 0:
            return math.nan
        if self.func == "avg":
            return self.total / n
        heap, sign = (self.low, 1.0) if self.func == "min" else (self.high, -1.0)
        while heap and self.values.get(heap[0][1]) != sign * heap[0][0]:
            heapq.heappop(heap)  # stale: that entity has another value now
        return sign * heap[0][0]


def _aggregate_series(
    engine: Any, branch: str, metric: Metric, progress: ProgressFn | None
) -> Series:
    assert metric.pattern is not None
    projection = engine.projection
    seq = engine.sequence(branch)
    keys = np.asarray(seq.keys, np.int64)
    live = ~np.asarray(seq.dropped)
    pattern = metric.pattern
    matches: dict[str, bool] = {}

    def wanted(name: str) -> bool:
        found = matches.get(name)
        if found is None:
            found = matches[name] = fnmatch.fnmatchcase(name, pattern)
        return found

    if is_keyed_by_stream(projection):
        cols = engine.log.columns
        codes = np.array([i for i, name in enumerate(cols.stream_names) if wanted(name)], np.int64)
        source = keys >= 0
        hit = np.zeros(keys.shape[0], np.bool_)
        hit[source] = np.isin(cols.stream_codes[keys[source]], codes)
        special = np.isin(keys, list(set(seq.edited) | set(seq.inserted)))
        rows = np.flatnonzero(live & (hit | special)).astype(np.int64)
    else:
        rows = np.flatnonzero(live).astype(np.int64)

    agg = _Aggregate(metric.func)
    substates: dict[str, Any] = {}
    xs, ys = [-1], [agg.result()]
    total = int(rows.shape[0])
    for i, (row, event) in enumerate(iter_events(engine, branch, rows)):
        if i % _CHUNK == _CHUNK - 1:
            _tick(progress, i + 1, total)
        key = projection.key(event)
        if not wanted(key):
            continue
        old = substates.get(key)
        sub = projection.apply_substate(
            projection.initial_substate() if old is None else old, event
        )
        substates[key] = sub
        if metric.path:
            agg.set(key, numeric(extract(sub, metric.path)))
        else:
            agg.set(key, 1.0)
        xs.append(row)
        ys.append(agg.result())
    return _steps(xs, ys, branch, metric, len(seq) - 1)


# --- one value across branches -----------------------------------------------------------


def value_at(engine: Any, branch: str, row: int, metric: Metric) -> Any:
    """The raw value (any JSON) of a value metric after ``row``, or MISSING."""
    if row < 0:
        return MISSING
    if metric.is_aggregate:
        raise MetricError("value_at reads one value; aggregates come from their series")
    state = engine.state_at(branch, row)
    if metric.key is None:
        return extract(state, metric.path)
    if metric.key not in state:
        return MISSING
    return extract(state[metric.key], metric.path)


@dataclass(frozen=True)
class BranchValue:
    branch: str
    cursor_row: int | None
    """The branch's row after the cursor's event (None: it lacks that event)."""
    at_cursor: Any
    at_end: Any


def values_by_branch(
    engine: Any,
    metric: Metric,
    branches: Sequence[str],
    cursor_key: EventKey | None,
    series: Mapping[str, Series] | None = None,
) -> list[BranchValue]:
    """One path's value in every branch, after the cursor's event (aligned by identity) and at
    the end; aggregates are read off their series."""
    out = []
    for b in branches:
        end = engine.row_count(b) - 1
        row = -1 if cursor_key is None else engine.row_of(b, cursor_key)
        s = None if series is None else series.get(b)
        if metric.is_aggregate:
            if s is None:
                continue
            at_cursor: Any = None if row is None else s.value_at(row)
            at_end: Any = s.end_value
        else:
            at_cursor = None if row is None else value_at(engine, b, row, metric)
            at_end = value_at(engine, b, end, metric)
        out.append(BranchValue(b, row, at_cursor, at_end))
    return out


def difference(a: Any, b: Any) -> float | None:
    """``b - a`` when both are numbers."""
    fa, fb = numeric(a), numeric(b)
    if a is MISSING or b is MISSING or math.isnan(fa) or math.isnan(fb):
        return None
    return fb - fa
