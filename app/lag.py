"""Processing lag (processed − recorded), events processed out of their recorded order, and
how far each read side (a consumer or projection that records checkpoints in the log)
trails the log at the cursor.

All from the time columns (numpy), so a million events take milliseconds. Percentiles are
per time bucket, for a chart of how far the read side trailed the log over the day.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from models.log import NA, Columns

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Lag:
    positions: I64
    """Source positions of the events that have both times."""
    recorded_us: I64
    lag_us: I64
    """processed − recorded, per event of ``positions`` (negative: clocks disagree)."""
    out_of_order: I64
    """Positions processed before an event recorded earlier than them was (the read side
    saw them in another order than the writer)."""

    def percentiles(self, qs: tuple[float, ...] = (50, 95, 99)) -> dict[float, float]:
        if not self.lag_us.size:
            return {}
        values = np.percentile(self.lag_us, qs)
        return {q: float(v) for q, v in zip(qs, values, strict=True)}

    def buckets(
        self, count: int = 200, qs: tuple[float, ...] = (50, 95, 99)
    ) -> tuple[F64, dict[float, F64]]:
        """Bucket start times (µs) and each percentile of the lag in each bucket (NaN where
        a bucket is empty)."""
        if not self.lag_us.size:
            return np.zeros(0), {q: np.zeros(0) for q in qs}
        order = np.argsort(self.recorded_us, kind="stable")
        t, lag = self.recorded_us[order], self.lag_us[order]
        edges = np.linspace(float(t[0]), float(t[-1]) + 1.0, count + 1)
        cut = np.searchsorted(t, edges)
        out = {q: np.full(count, np.nan) for q in qs}
        for i in range(count):
            part = lag[cut[i] : cut[i + 1]]
            if part.size:
                for q, v in zip(qs, np.percentile(part, qs), strict=True):
                    out[q][i] = v
        return edges[:-1], out


def lag_of(columns: Columns) -> Lag:
    rec, proc = columns.recorded_us, columns.processed_us
    both = (rec != NA) & (proc != NA)
    positions = np.flatnonzero(both).astype(np.int64)
    r, p = rec[both], proc[both]
    # in recorded order, an event whose processed time is below the running maximum of the
    # processed times before it was processed before something recorded earlier
    order = np.argsort(r, kind="stable")
    p_sorted = p[order]
    running = np.maximum.accumulate(p_sorted)
    behind = np.zeros(p_sorted.shape[0], bool)
    behind[1:] = p_sorted[1:] < running[:-1]
    out_of_order = np.sort(positions[order][behind])
    return Lag(positions, r, (p - r).astype(np.int64), out_of_order)


# --- read sides: consumer / projection checkpoints in the log ------------------------------

CHECKPOINT_TYPES = "*Checkpoint*"
"""Event types that record a read side's position (``CheckpointSaved``, ...)."""
_NAME_FIELDS = ("consumer", "projection", "subscription", "group", "name")
_POSITION_FIELDS = ("position", "checkpoint", "offset", "commit_position", "global_position")


@dataclass(frozen=True)
class ReadSide:
    name: str
    position: int
    """The log position the read side had processed (its last checkpoint at the cursor)."""
    checkpoint_row: int
    behind_events: int
    """Events in the log between its position and the cursor."""
    behind_us: int | None
    """Recorded time from its position's event to the cursor's (None: a time is missing)."""


@dataclass(frozen=True)
class Checkpoints:
    """Every checkpoint in the log, by read side: rows (ascending) and positions."""

    sides: dict[str, tuple[I64, I64]]

    def at(self, row: int, recorded_us: I64) -> list[ReadSide]:
        """Where each read side stood at ``row`` (those with a checkpoint at or before it)."""
        out = []
        for name, (rows, positions) in sorted(self.sides.items()):
            i = int(np.searchsorted(rows, row, side="right")) - 1
            if i < 0:
                continue
            position = int(positions[i])
            behind = max(0, row - position)
            t_now = int(recorded_us[row]) if 0 <= row < recorded_us.shape[0] else NA
            t_pos = int(recorded_us[position]) if 0 <= position < recorded_us.shape[0] else NA
            gap = None if NA in (t_now, t_pos) else max(0, t_now - t_pos)
            out.append(ReadSide(name, position, int(rows[i]), behind, gap))
        return out


def checkpoints_of(log: Any, types: str = CHECKPOINT_TYPES) -> Checkpoints:
    """The checkpoints a log carries: events whose type matches ``types`` (a glob) and whose
    payload names a read side and a log position. Only those events are read."""
    cols = log.columns
    codes = [i for i, n in enumerate(cols.type_names) if fnmatch.fnmatchcase(n, types)]
    rows = np.flatnonzero(np.isin(cols.type_codes, codes)).astype(np.int64)
    found: dict[str, tuple[list[int], list[int]]] = {}
    for pos in rows.tolist():
        data = log.event(pos).data
        if not isinstance(data, dict):
            continue
        name = next((data[k] for k in _NAME_FIELDS if isinstance(data.get(k), str)), None)
        position = next((data[k] for k in _POSITION_FIELDS if type(data.get(k)) is int), None)
        if name is None or position is None:
            continue
        at = found.setdefault(name, ([], []))
        at[0].append(pos)
        at[1].append(position)
    return Checkpoints(
        {name: (np.array(r, np.int64), np.array(p, np.int64)) for name, (r, p) in found.items()}
    )
