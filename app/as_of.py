"""The state as of a time: the last event recorded (or processed) at or before it.

A branch's rows are in the order their events take effect, so "as of 10:00" is the state
after the last row whose time is at or before 10:00 (rows without that time are passed
over). Works on the per-row time columns: no payload is read.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from models.log import NA

I64 = npt.NDArray[np.int64]


def as_of_row(times: I64, us: int) -> int:
    """The last row whose time is known and at or before ``us``; -1 (the initial state)
    when there is none."""
    ok = np.flatnonzero((times != NA) & (times <= us))
    return int(ok[-1]) if ok.size else -1


def branch_times(session: Any, branch: str, *, processed: bool = False) -> I64:
    """Recorded (or processed) time of every display row of ``branch`` (NA where unknown);
    inserted and edited events carry their own."""
    engine = session.engine
    seq = engine.sequence(branch)
    keys = np.asarray(seq.keys, np.int64)
    column = session.log.columns.processed_us if processed else session.log.columns.recorded_us
    times = np.full(keys.shape[0], NA, np.int64)
    plain = keys >= 0
    times[plain] = column[keys[plain]]
    for row in np.flatnonzero(~plain | np.isin(keys, list(seq.edited))).tolist():
        event = engine.event_at(branch, row)
        value = event.processed_us if processed else event.recorded_us
        times[row] = NA if value is None else value
    return times
