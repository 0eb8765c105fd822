"""Aligning two display sequences by event identity (DESIGN.md, Compare).

"After the same event" must mean the same thing in both branches, so comparisons walk an
*aligned timeline*: branch A's display order, with the events only B has placed right after
the event that precedes them in B. At every element each side is at its own row (the row of
that event, or where it stood before it when it lacks the event).

Finding the first divergence never folds the whole log twice: the prefix both sequences share
is skipped outright, and a step where both sides apply the very same event (same key, content
and drop mark) to equal states cannot make them differ — only the remaining *candidate* steps
are examined, in order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.event import EventKey
from models.log import Int64Array
from replay_engine.branches import Derivation

_MARK = -2


def common_prefix(a: Derivation, b: Derivation) -> int:
    """How many leading rows hold the same events, content and drop marks in both."""
    if a is b:
        return len(a)
    n = min(len(a), len(b))
    limit = n
    if a.keys is not b.keys:
        limit = _first_true(a.keys[:n] != b.keys[:n], limit)
    if a.dropped is not b.dropped and limit:
        limit = _first_true(a.dropped[:limit] != b.dropped[:limit], limit)
    if a.revisions != b.revisions:
        for key in a.revisions.keys() | b.revisions.keys():
            if a.revisions.get(key, 0) != b.revisions.get(key, 0):
                for row in (a.row_of(key), b.row_of(key)):
                    if row is not None and row < limit:
                        limit = row
    return limit


def identical(a: Derivation, b: Derivation) -> bool:
    return len(a) == len(b) and common_prefix(a, b) == len(a)


def _first_true(mask: np.ndarray, default: int) -> int:
    if mask.shape[0] == 0:
        return default
    i = int(np.argmax(mask))
    return i if bool(mask[i]) else default


def rows_in(b: Derivation, keys: Int64Array) -> Int64Array:
    """The row in ``b`` of each key (-2 where ``b`` lacks it)."""
    out = np.full(keys.shape[0], _MARK, np.int64)
    source = keys >= 0
    out[source] = b.source_rows()[keys[source]]
    for i in np.flatnonzero(~source).tolist():
        row = b.row_of(int(keys[i]))
        if row is not None:
            out[i] = row
    return out


@dataclass(frozen=True, slots=True)
class Timeline:
    """The aligned timeline from the first row where the sequences differ.

    Element ``i`` is event ``keys[i]``; there A's state is the one at row ``rows_a[i]`` and B's
    at ``rows_b[i]``. Before element 0 both are at row ``start`` (the last shared row, -1 for
    the initial state), where their states are equal.
    """

    keys: Int64Array
    rows_a: Int64Array
    rows_b: Int64Array
    start: int

    def previous(self) -> tuple[Int64Array, Int64Array]:
        head = np.array([self.start], np.int64)
        return (
            np.concatenate([head, self.rows_a[:-1]]),
            np.concatenate([head, self.rows_b[:-1]]),
        )


def timeline(a: Derivation, b: Derivation) -> Timeline:
    start = common_prefix(a, b)
    keys = a.keys[start:]
    rows_a = np.arange(start, len(a), dtype=np.int64)
    rows_b = rows_in(b, keys)
    only_b = [
        (row, key)
        for row, key in zip(
            np.flatnonzero(b.keys < 0).tolist(), b.keys[b.keys < 0].tolist(), strict=True
        )
        if a.row_of(key) is None
    ]
    if only_b:
        at = []
        for row, _ in only_b:
            anchor = row - 1
            while anchor >= 0 and a.row_of(int(b.keys[anchor])) is None:
                anchor -= 1
            anchor_row_a = -1 if anchor < 0 else a.row_of(int(b.keys[anchor]))
            assert anchor_row_a is not None
            at.append(max(anchor_row_a - start + 1, 0))
        b_keys = np.array([key for _, key in only_b], np.int64)
        b_rows = np.array([row for row, _ in only_b], np.int64)
        keys = np.insert(keys, at, b_keys)
        rows_a = np.insert(rows_a, at, _MARK)
        rows_b = np.insert(rows_b, at, b_rows)
    return Timeline(keys, _carry(rows_a, start - 1), _carry(rows_b, start - 1), start - 1)


def _carry(rows: Int64Array, start: int) -> Int64Array:
    """Elements a side lacks stay at that side's previous row."""
    if not (rows == _MARK).any():
        return rows
    index = np.where(rows != _MARK, np.arange(rows.shape[0]), -1)
    np.maximum.accumulate(index, out=index)
    return np.where(index >= 0, rows[np.maximum(index, 0)], start)


def candidates(a: Derivation, b: Derivation, tl: Timeline) -> Int64Array:
    """Indices of the steps where the two sides do not apply one and the same event."""
    prev_a, prev_b = tl.previous()
    if len(a) == 0 or len(b) == 0:
        return np.arange(tl.keys.shape[0], dtype=np.int64)
    at_a = np.clip(tl.rows_a, 0, len(a) - 1)
    at_b = np.clip(tl.rows_b, 0, len(b) - 1)
    same = (
        (tl.rows_a == prev_a + 1)
        & (tl.rows_b == prev_b + 1)
        & (a.keys[at_a] == b.keys[at_b])
        & (a.dropped[at_a] == b.dropped[at_b])
    )
    differing: list[EventKey] = [
        key
        for key in a.revisions.keys() | b.revisions.keys()
        if a.revisions.get(key, 0) != b.revisions.get(key, 0)
    ]
    if differing:
        rows = [(a.row_of(key), b.row_of(key)) for key in differing]
        same &= ~np.isin(tl.rows_a, [ra for ra, _ in rows if ra is not None])
        same &= ~np.isin(tl.rows_b, [rb for _, rb in rows if rb is not None])
    return np.flatnonzero(~same)


def align(a: Derivation, b: Derivation) -> tuple[Int64Array, Int64Array]:
    """Rows in ``a`` and in ``b`` of the events both have, in ``a``'s order."""
    rows_b = rows_in(b, a.keys)
    present = rows_b != _MARK
    return np.flatnonzero(present).astype(np.int64), rows_b[present]
