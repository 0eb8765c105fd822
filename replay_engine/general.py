"""Replay of general (non-keyed) projections: classic snapshots (DESIGN.md, Replay engine).

A seek starts from the nearest snapshot at or before the row — the branch's own, or one of
an ancestor's taken before the first row where the two sequences differ — and folds forward,
leaving a snapshot every K rows on the way. K adapts so that a fold between two snapshots
takes about two milliseconds, unless the caller fixes it.
"""

from __future__ import annotations

import time
from bisect import bisect_right, insort
from collections.abc import Callable, Sequence
from typing import Any, Final

from models.event import Event, EventKey
from models.log import EventLog
from replay_engine.branches import Derivation
from replay_engine.compare import Timeline, candidates
from replay_engine.diff import equal
from replay_engine.errors import Cancelled, ProjectionError
from replay_engine.projection import Projection

Ticker = Callable[[int, int], None]

CHUNK: Final = 4096
_TARGET_SECONDS: Final = 0.002
_MIN_K, _MAX_K = 256, 65_536


class SnapshotStore:
    """One branch's snapshots (state after row ``r``), valid for its current sequence."""

    __slots__ = ("cursor", "rows", "states")

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.states: dict[int, Any] = {}
        self.cursor: tuple[int, Any] | None = None
        """The last state handed out, so that stepping forward folds one event."""

    def best(self, row: int, limit: int) -> tuple[int, Any] | None:
        """The latest state at a row <= ``row`` and < ``limit``."""
        upto = min(row, limit - 1)
        i = bisect_right(self.rows, upto)
        found = (self.rows[i - 1], self.states[self.rows[i - 1]]) if i else None
        cursor = self.cursor
        if cursor is not None and cursor[0] <= upto and (found is None or cursor[0] > found[0]):
            found = cursor
        return found

    def add(self, row: int, state: Any) -> None:
        if row not in self.states:
            insort(self.rows, row)
        self.states[row] = state

    def truncate(self, first_changed: int) -> None:
        """Forget states that depend on rows >= ``first_changed`` (the sequence changed)."""
        keep = bisect_right(self.rows, first_changed - 1)
        for row in self.rows[keep:]:
            del self.states[row]
        del self.rows[keep:]
        if self.cursor is not None and self.cursor[0] >= first_changed:
            self.cursor = None

    def __len__(self) -> int:
        return len(self.rows)


class GeneralReplayer:
    def __init__(
        self,
        log: EventLog,
        projection: Projection,
        *,
        tick: Ticker,
        snapshot_every: int | None,
    ) -> None:
        self.log = log
        self.projection = projection
        self.tick = tick
        self.fixed_k = snapshot_every
        self.k = snapshot_every or 1024

    def state_at(
        self,
        d: Derivation,
        row: int,
        own: SnapshotStore,
        shared: Sequence[tuple[SnapshotStore, int]] = (),
    ) -> Any:
        """State after rows ``0..row`` of ``d``; ``shared`` are other stores with the number of
        leading rows they have in common with ``d``."""
        if row < 0:
            return self.projection.initial_state()
        start: tuple[int, Any] | None = own.best(row, row + 1)
        for store, limit in shared:
            found = store.best(row, limit)
            if found is not None and (start is None or found[0] > start[0]):
                start = found
        first, state = (0, self.projection.initial_state()) if start is None else start
        if start is not None:
            first += 1
        state = self.fold(d, first, row, state, own)
        own.cursor = (row, state)
        return state

    def fold(self, d: Derivation, first: int, last: int, state: Any, store: SnapshotStore) -> Any:
        """Apply rows ``first..last`` (dropped ones skipped) to ``state``."""
        apply = self.projection.apply
        k = self.k
        began = time.perf_counter()
        row = first
        while row <= last:
            stop = min(last + 1, row + CHUNK)
            events = d.events(self.log, row, stop)
            dropped = d.dropped[row:stop].tolist() if d.drop_count else None
            for offset, event in enumerate(events):
                at = row + offset
                if dropped is None or not dropped[offset]:
                    try:
                        state = apply(state, event)
                    except Cancelled:  # the user cancelled, even from inside the projection
                        raise
                    except Exception as exc:
                        raise self._failure(event, at, exc, state, d) from exc
                if (at + 1) % k == 0:
                    store.add(at, state)
            self.tick(stop - first, last + 1 - first)
            row = stop
        self._adapt(last + 1 - first, time.perf_counter() - began)
        return state

    def _adapt(self, events: int, seconds: float) -> None:
        if self.fixed_k is not None or events < CHUNK or seconds <= 0:
            return
        wanted = int(events / seconds * _TARGET_SECONDS)
        k = _MIN_K
        while k < wanted and k < _MAX_K:
            k *= 2
        self.k = k

    def _failure(
        self, event: Event, row: int, exc: BaseException, before: Any, d: Derivation
    ) -> ProjectionError:
        return ProjectionError.raised_by(self.projection.name, event, row, exc, before, d.serial)

    def first_divergence(
        self,
        a: Derivation,
        b: Derivation,
        tl: Timeline,
        state_a: Callable[[int], Any],
        state_b: Callable[[int], Any],
    ) -> EventKey | None:
        """Compare whole states, but only at the candidate steps (see compare.py)."""
        for n, i in enumerate(candidates(a, b, tl).tolist()):
            if not equal(state_a(int(tl.rows_a[i])), state_b(int(tl.rows_b[i]))):
                return int(tl.keys[i])
            if n % 64 == 63:
                self.tick(i, int(tl.keys.shape[0]))
        return None
