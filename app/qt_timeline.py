"""What the timeline draws, computed with numpy: x per event, lanes, idle gaps, binning.

Kept apart from the pyqtgraph widget so it is cheap to test and so the widget never loops
over events in Python. For a view range it returns at most one mark per (pixel column, lane,
event type) with the number of events behind it: a million events in view cost a few numpy
passes, and no scatter item ever sees them all (DESIGN.md: never hand a million points to a
scatter item).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.controller import BranchRows
from models.log import NA, Columns

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]


def stream_type(stream: str) -> str:
    """``order-42`` -> ``order``; ``bank:Account`` -> ``bank``; no separator: the stream."""
    dash, colon = stream.find("-"), stream.find(":")
    if dash > 0 and (colon <= 0 or dash < colon):
        return stream[:dash]
    return stream[:colon] if colon > 0 else stream


@dataclass
class Marks:
    """Marks for one view range: parallel arrays, one entry per non-empty cell."""

    x: F64
    lane: I32
    type_code: I32
    count: I64


@dataclass
class TimelineLayout:
    mode: str
    """"time" or "position"."""
    lanes_by: str
    """"stream" (stream type) or "type" (event type)."""
    x: F64
    lane: I32
    type_code: I32
    lane_names: list[str]
    n_types: int
    order: I64
    xs: F64
    """x sorted ascending (``x[order]``)."""
    lt: I32
    """lane * n_types + type, in the same sorted order."""
    t0_us: int
    gap_at: F64
    """Collapsed gaps: x (collapsed) where each starts ..."""
    gap_excess: F64
    """... and the seconds cut out of it; real time = t0 + x + cumulative excess before x."""

    @staticmethod
    def build(
        rows: BranchRows,
        columns: Columns,
        *,
        mode: str = "time",
        lanes_by: str = "stream",
        collapse_gaps: bool = True,
    ) -> TimelineLayout:
        n = len(rows)
        t0 = 0
        gap_at = np.zeros(0)
        gap_excess = np.zeros(0)
        times = _event_times(rows) if mode == "time" else None
        if times is None:
            mode = "position"
            x = np.arange(n, dtype=np.float64)
            order = np.arange(n, dtype=np.int64)
        else:
            t0 = int(times.min()) if n else 0
            x = (times - t0) / 1e6  # float64
            # mostly in time order already: a stable sort of nearly sorted data is quick
            order = np.argsort(x, kind="stable").astype(np.int64, copy=False)
            if collapse_gaps and n > 2:
                x, gap_at, gap_excess = _collapse(x, order)  # keeps the order

        if lanes_by == "type":
            type_names = columns.type_names
            lane = rows.type_codes.astype(np.int32, copy=True)
            names = list(type_names)
        else:
            per_stream, names = _stream_lanes(columns.stream_names)
            codes = rows.stream_codes
            lane = per_stream[np.maximum(codes, 0)] if per_stream.size else np.zeros(n, np.int32)
            lanes_by = "stream"
        if n and (rows.stream_codes < 0).any():  # inserted events have no source columns
            lane = np.where(rows.stream_codes < 0, len(names), lane).astype(np.int32)
            names.append("(inserted)")
        if not names:
            names = ["(no events)"]
        n_types = max(1, len(columns.type_names) + 1)
        type_code = rows.type_codes.astype(np.int32, copy=False)
        if n and (type_code < 0).any():
            type_code = np.where(type_code < 0, n_types - 1, type_code).astype(np.int32)
        xs = x[order]
        lt = (lane[order] * np.int32(n_types) + type_code[order]).astype(np.int32, copy=False)
        return TimelineLayout(
            mode, lanes_by, x, lane, type_code, names, n_types, order, xs, lt, t0,
            gap_at, gap_excess,
        )  # fmt: skip

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def x_min(self) -> float:
        return float(self.xs[0]) if len(self) else 0.0

    @property
    def x_max(self) -> float:
        return float(self.xs[-1]) if len(self) else 1.0

    def x_of_row(self, row: int) -> float:
        """Where the cursor stands for ``row``; the initial state (-1) sits left of all."""
        if len(self) == 0:
            return 0.0
        if row < 0:
            return self.x_min - max(1e-6, (self.x_max - self.x_min) * 0.002)
        return float(self.x[min(row, len(self) - 1)])

    def row_near(self, x: float) -> int:
        """The display row whose mark is nearest to ``x`` (-1 left of every event)."""
        n = len(self)
        if n == 0 or x < self.x_min - (self.x_max - self.x_min) * 0.001:
            return -1
        i = int(np.searchsorted(self.xs, x))
        if i >= n:
            return int(self.order[-1])
        if i > 0 and abs(self.xs[i - 1] - x) <= abs(self.xs[i] - x):
            i -= 1
        # Several events at the same x (same timestamp): take the last of them in row order,
        # so dragging forward ends after the whole burst.
        same = self.order[
            np.searchsorted(self.xs, self.xs[i]) : np.searchsorted(
                self.xs, self.xs[i], side="right"
            )
        ]
        return int(same.max())

    def real_us(self, x: float) -> float:
        """Inverse of the gap collapsing: microseconds since the epoch at collapsed ``x``."""
        if self.gap_at.size:
            k = int(np.searchsorted(self.gap_at, x, side="right"))
            x = x + float(self.gap_excess[:k].sum())
        return self.t0_us + x * 1e6

    def marks(self, x0: float, x1: float, pixels: int) -> Marks:
        """Events with ``x0 <= x <= x1``, binned into ``pixels`` columns per lane and type."""
        pixels = max(1, min(int(pixels), 8192))
        i0 = int(np.searchsorted(self.xs, x0, side="left"))
        i1 = int(np.searchsorted(self.xs, x1, side="right"))
        if i1 <= i0:
            none = np.zeros(0, np.int32)
            return Marks(np.zeros(0), none, none, np.zeros(0, np.int64))
        xs = self.xs[i0:i1]
        if i1 - i0 <= pixels:  # few events: each at its exact place
            lane, tcode = np.divmod(self.lt[i0:i1], self.n_types)
            ones = np.ones(i1 - i0, np.int64)
            return Marks(xs.astype(np.float64), lane.astype(np.int32), tcode.astype(np.int32), ones)
        span = max(x1 - x0, 1e-12)
        b = ((xs - x0) * (pixels / span)).astype(np.int64)
        np.clip(b, 0, pixels - 1, out=b)
        nlt = len(self.lane_names) * self.n_types
        counts = np.bincount(b * nlt + self.lt[i0:i1])
        cells = np.flatnonzero(counts)
        bins, lt = np.divmod(cells, nlt)
        lane, tcode = np.divmod(lt, self.n_types)
        x = x0 + (bins + 0.5) * (span / pixels)
        return Marks(x, lane.astype(np.int32), tcode.astype(np.int32), counts[cells])

    def overview(self, bins: int = 400) -> tuple[F64, F64]:
        """Histogram of all events along x: (edges, counts) for the range overview."""
        if len(self) == 0:
            return np.array([0.0, 1.0]), np.zeros(1)
        lo, hi = self.x_min, self.x_max
        if hi <= lo:
            hi = lo + 1.0
        counts, edges = np.histogram(self.xs, bins=bins, range=(lo, hi))
        return edges.astype(np.float64), counts.astype(np.float64)

    def gaps(self) -> list[tuple[float, float]]:
        """(x, seconds cut) of every collapsed gap, for the markers."""
        return [(float(a), float(e)) for a, e in zip(self.gap_at, self.gap_excess, strict=True)]


_lanes_cache: list[tuple[object, I32, list[str]]] = []
_TYPE_PREFIX = re.compile(r"^(.?[^-:\n]*)", re.MULTILINE)
"""stream_type of every line at once: up to the first ``-`` or ``:`` after the first
character (one regex pass over 150,000 names instead of a call each)."""


def _stream_lanes(stream_names: list[str]) -> tuple[I32, list[str]]:
    """Lane of each stream code (by stream type) and the lane names. Cached for the last
    list of names: a log with 150,000 streams would otherwise cost a few hundred ms on every
    branch switch or edit."""
    if _lanes_cache and (
        _lanes_cache[0][0] is stream_names or _lanes_cache[0][0] == stream_names
    ):  # equal lists of the same str objects compare by pointer: about a millisecond
        _, per_stream, names = _lanes_cache[0]
        return per_stream, list(names)
    fast = _ascii_lanes(stream_names)
    if fast is not None:
        per_stream, names = fast
        _lanes_cache[:] = [(stream_names, per_stream, names)]
        return per_stream, list(names)
    joined = "\n".join(stream_names)
    if joined.count("\n") == len(stream_names) - 1:  # no name holds a newline
        types = _TYPE_PREFIX.findall(joined) if stream_names else []
        if joined[:1] in ("-", ":") or "\n-" in joined or "\n:" in joined:
            for i, name in enumerate(stream_names):
                if name[:1] in ("-", ":"):  # a leading separator does not count
                    types[i] = stream_type(name)
    else:
        types = [stream_type(s) for s in stream_names]
    lanes = {name: lane for lane, name in enumerate(dict.fromkeys(types))}  # first seen first
    per_stream = np.fromiter(map(lanes.__getitem__, types), np.int32, count=len(types))
    _lanes_cache[:] = [(stream_names, per_stream, list(lanes))]
    return per_stream, list(lanes)


def _ascii_lanes(stream_names: list[str]) -> tuple[I32, list[str]] | None:
    """:func:`_stream_lanes` for names in ASCII without newlines or leading separators (the
    usual case), with numpy on the bytes: each name's type ends at its first ``-`` or ``:``;
    the types are told apart per length as fixed-size byte strings. None: not that case."""
    n = len(stream_names)
    joined = "\n".join(stream_names)
    if not n or not joined.isascii() or joined.count("\n") != n - 1:
        return None
    buf = np.frombuffer(joined.encode("ascii"), np.uint8)
    starts = np.zeros(n, np.int64)
    starts[1:] = np.flatnonzero(buf == 10) + 1
    ends = np.append(starts[1:] - 1, buf.shape[0])
    nonempty = starts < ends
    first = buf[np.minimum(starts, buf.shape[0] - 1)] if buf.shape[0] else np.zeros(n, np.uint8)
    if bool((nonempty & ((first == 45) | (first == 58))).any()):
        return None  # a leading separator does not count: the slow way
    seps = np.flatnonzero((buf == 45) | (buf == 58))
    k = np.searchsorted(seps, starts)
    cut = seps[np.minimum(k, seps.shape[0] - 1)] if seps.shape[0] else ends
    cut = np.where(k < seps.shape[0], cut, ends)
    sizes = np.minimum(cut, ends) - starts
    group = np.empty(n, np.int64)
    texts: list[str] = []
    for size in np.unique(sizes).tolist():
        rows = np.flatnonzero(sizes == size)
        if size == 0:
            group[rows] = len(texts)
            texts.append("")
            continue
        cells = np.ascontiguousarray(buf[starts[rows, None] + np.arange(size)])
        unique, inverse = np.unique(cells.view(f"V{size}").ravel(), return_inverse=True)
        group[rows] = len(texts) + inverse.ravel()
        texts.extend(bytes(u).decode("ascii") for u in unique)
    _, first_row = np.unique(group, return_index=True)
    order = np.argsort(first_row, kind="stable")  # lanes in order of first appearance
    lane_of = np.empty(len(texts), np.int32)
    lane_of[order] = np.arange(len(texts), dtype=np.int32)
    return lane_of[group], [texts[i] for i in order.tolist()]


def _event_times(rows: BranchRows) -> I64 | None:
    """Recorded time, else processed; rows with neither take the previous row's time."""
    t = np.where(rows.recorded_us != NA, rows.recorded_us, rows.processed_us)
    known = t != NA
    if not known.any():
        return None
    if known.all():
        return t
    idx = np.where(known, np.arange(t.shape[0]), 0)
    np.maximum.accumulate(idx, out=idx)
    first = int(np.flatnonzero(known)[0])
    idx[:first] = first
    return t[idx]


def _collapse(x: F64, order: I64) -> tuple[F64, F64, F64]:
    """Shrink idle gaps (much longer than the typical spacing) to a fixed width; ``order``
    sorts ``x`` (and still sorts the result)."""
    xs = x[order]
    d = np.diff(xs)
    pos = d[d > 0]
    if pos.size < 2:
        return x, np.zeros(0), np.zeros(0)
    # the typical spacing: a median of at most ~65k of them is as good as of a million
    # (np.partition: np.median would import numpy.ma, 30 ms, on the way to the first paint)
    sample = pos[:: max(1, pos.size // 65_536)]
    half = sample.size // 2
    parted = np.partition(sample, half)
    typical = float(parted[half])
    if sample.size % 2 == 0:  # the mean of the two middle ones, as np.median
        typical = (typical + float(parted[:half].max())) / 2.0
    limit = max(typical * 20.0, (xs[-1] - xs[0]) * 0.02, 1e-3)
    big = np.flatnonzero(d > limit)
    if big.size == 0:
        return x, np.zeros(0), np.zeros(0)
    busy = float(xs[-1] - xs[0] - d[big].sum())
    width = min(limit, max(typical * 5.0, busy * 0.01, 1e-3))
    # What a gap shrinks to: a narrow spacer, wide enough to see its marker.
    excess = d[big] - width
    # Gap k starts after xs[big[k]]; everything after it moves left by the excess so far.
    starts = xs[big]
    cum = np.concatenate([[0.0], np.cumsum(excess)])
    shift = cum[np.searchsorted(starts, x, side="left")]
    collapsed = x - shift
    gap_at = starts - cum[:-1] + width / 2.0
    return collapsed, gap_at, excess
