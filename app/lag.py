"""Processing lag (processed − recorded) and events processed out of their recorded order.

All from the time columns (numpy), so a million events take milliseconds. Percentiles are
per time bucket, for a chart of how far the read side trailed the log over the day.
"""

from __future__ import annotations

from dataclasses import dataclass

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
