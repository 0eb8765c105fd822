"""Concurrency findings of a log: lost updates, version gaps and disorder, re-deliveries.

DESIGN.md (Concurrency, Analysis): a lost update shows up as two events written at one
stream version; at-least-once delivery as one event delivered twice. A debugger should make
both visible, and tell an exact re-delivery (same id, same body: harmless if consumers are
idempotent) from an id collision (same id, different body: two facts that one id hides).

Everything is computed on the numpy columns, per stream, after one stable sort by stream code
(which keeps source order inside a stream): a million events cost a few array passes, and
Python objects are built only for what is found. Payloads are read only for events whose id
occurs more than once, to compare their bodies.

Exact re-delivered copies (the second and later deliveries of one body) are reported once, as
re-deliveries, and left out of every other check: a copy at its original version is not a
lost update, and a copy arriving late is not a stream going back in versions or time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import orjson

from models.event import Event, format_us
from models.log import NA, Columns, EventLog

ProgressFn = Callable[[int, int], object]
"""``progress(done, total)``; returning ``False`` (not merely falsy ``None``) cancels."""

KINDS: Final = (
    "conflicts",
    "gaps",
    "out_of_order",
    "redeliveries",
    "id_collisions",
    "time_backwards",
)
"""The kinds of finding, in the order :meth:`Findings.to_json` lists them."""

_STAGES: Final = 5

IntArray = npt.NDArray[np.int64]


class FindingsCancelled(Exception):
    """The progress callback returned False: nothing was found, nothing is returned."""


@runtime_checkable
class RawLog(Protocol):
    """A log that can hand out the stored bytes of a record (the workspace's)."""

    def raw(self, pos: int) -> bytes: ...


# --- what is found ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two or more distinct events written at one version of one stream: a lost update."""

    stream: str
    version: int
    positions: tuple[int, ...]
    event_ids: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "version": self.version,
            "event_ids": list(self.event_ids),
            "positions": list(self.positions),
        }


@dataclass(frozen=True, slots=True)
class Gap:
    """Versions of a stream that no event carries, between two that some do.

    ``position`` is the first event after the gap (at version ``after_version + missing +
    1``). A stream that does not start at 1 is not a gap: exports often start mid-stream.
    """

    stream: str
    after_version: int
    missing: int
    position: int
    event_id: str

    @property
    def version(self) -> int:
        """The version found after the gap."""
        return self.after_version + self.missing + 1

    @property
    def positions(self) -> tuple[int, ...]:
        return (self.position,)

    def to_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "after_version": self.after_version,
            "missing": self.missing,
            "position": self.position,
        }


@dataclass(frozen=True, slots=True)
class OutOfOrder:
    """An event whose version is lower than one written before it in its stream."""

    stream: str
    version: int
    position: int
    event_id: str
    after_version: int
    """The highest version the stream had reached before it ..."""
    after_position: int
    """... and the (last) event that carried it."""

    @property
    def positions(self) -> tuple[int, ...]:
        return (self.after_position, self.position)

    def to_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "version": self.version,
            "position": self.position,
            "event_id": self.event_id,
            "after_version": self.after_version,
            "after_position": self.after_position,
        }


@dataclass(frozen=True, slots=True)
class Redelivery:
    """One event delivered more than once: same id, same stored body (at-least-once)."""

    stream: str
    version: int | None
    event_id: str
    positions: tuple[int, ...]
    """The first delivery, then its copies."""

    def to_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "version": self.version,
            "event_id": self.event_id,
            "positions": list(self.positions),
        }


@dataclass(frozen=True, slots=True)
class IdCollision:
    """One event id used by events with different bodies (re-delivered copies left out)."""

    event_id: str
    positions: tuple[int, ...]
    streams: tuple[str, ...]
    versions: tuple[int | None, ...]

    @property
    def stream(self) -> str:
        return self.streams[0]

    @property
    def version(self) -> int | None:
        return self.versions[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "stream": self.stream,
            "version": self.version,
            "positions": list(self.positions),
            "streams": list(self.streams),
            "versions": list(self.versions),
        }


@dataclass(frozen=True, slots=True)
class TimeBackwards:
    """An event recorded earlier than the event before it in its stream."""

    stream: str
    version: int | None
    position: int
    event_id: str
    recorded_us: int
    previous_position: int
    previous_recorded_us: int

    @property
    def back_us(self) -> int:
        return self.previous_recorded_us - self.recorded_us

    @property
    def positions(self) -> tuple[int, ...]:
        return (self.previous_position, self.position)

    def to_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "version": self.version,
            "position": self.position,
            "event_id": self.event_id,
            "recorded_at": format_us(self.recorded_us),
            "previous_position": self.previous_position,
            "previous_recorded_at": format_us(self.previous_recorded_us),
            "back_us": self.back_us,
        }


Finding = Conflict | Gap | OutOfOrder | Redelivery | IdCollision | TimeBackwards


@dataclass
class Findings:
    """Every finding of one log, each list in order of the findings' first positions. With a
    ``limit`` each list holds at most that many (the earliest); :attr:`totals` always counts
    them all."""

    events: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    out_of_order: list[OutOfOrder] = field(default_factory=list)
    redeliveries: list[Redelivery] = field(default_factory=list)
    id_collisions: list[IdCollision] = field(default_factory=list)
    time_backwards: list[TimeBackwards] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)

    def of_kind(self, kind: str) -> list[Finding]:
        if kind not in KINDS:
            raise ValueError(f"no kind of finding named {kind!r} (kinds: {', '.join(KINDS)})")
        found: list[Finding] = getattr(self, kind)
        return found

    def __iter__(self) -> Iterator[tuple[str, Finding]]:
        for kind in KINDS:
            for finding in self.of_kind(kind):
                yield kind, finding

    def __len__(self) -> int:
        return sum(self.counts().values())

    def counts(self) -> dict[str, int]:
        """Findings per kind (all of them, also beyond a ``limit``)."""
        return {kind: self.totals.get(kind, len(self.of_kind(kind))) for kind in KINDS}

    def to_json(self) -> dict[str, list[dict[str, Any]]]:
        return {kind: [f.to_json() for f in self.of_kind(kind)] for kind in KINDS}


# --- finding them -----------------------------------------------------------------------------


def find(
    log: EventLog, *, limit: int | None = None, progress: ProgressFn | None = None
) -> Findings:
    """Every finding of ``log`` (see the module docstring for what counts as what)."""
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, not {limit}")
    cols = log.columns
    n = len(cols)
    out = Findings(events=n)
    if n == 0:
        return out
    step = _Stepper(progress)
    step(0)
    names = np.empty(len(cols.stream_names), object)
    names[:] = cols.stream_names

    copies = _duplicates(log, cols, names, out, limit)
    step(1)
    order = np.argsort(cols.stream_codes, kind="stable")  # by stream, then position
    if copies.size:
        keep = np.ones(n, np.bool_)
        keep[copies] = False
        order = order[keep[order]]
    step(2)
    _versions(cols, names, order, out, limit)
    step(3)
    _times(cols, names, order, out, limit)
    step(_STAGES)
    return out


class _Stepper:
    def __init__(self, progress: ProgressFn | None) -> None:
        self._progress = progress

    def __call__(self, done: int) -> None:
        if self._progress is not None and self._progress(done, _STAGES) is False:
            raise FindingsCancelled("looking for findings was cancelled")


def _first(by_position: IntArray, limit: int | None) -> IntArray:
    """Indexes of the findings to build, given each one's position: in position order, the
    first ``limit`` of them."""
    if limit is not None and limit < by_position.shape[0]:
        # the ``limit`` earliest without sorting everything (positions are distinct)
        picked = np.argpartition(by_position, limit)[:limit] if limit else by_position[:0]
        return picked[np.argsort(by_position[picked])]
    return np.argsort(by_position, kind="stable")


def _optional(value: int) -> int | None:
    return None if value == NA else value


def _duplicates(
    log: EventLog,
    cols: Columns,
    names: npt.NDArray[np.object_],
    out: Findings,
    limit: int | None,
) -> IntArray:
    """Re-deliveries and id collisions; returns the positions of the re-delivered copies.

    Ids are compared by hash first (one C pass and one sort), so only the few events whose
    hash repeats are looked at in Python, and only their bodies are read.
    """
    ids = cols.event_ids
    hashes = ids.hashes()
    ordered = np.sort(hashes)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    empty: IntArray = np.zeros(0, np.int64)
    out.totals["redeliveries"] = out.totals["id_collisions"] = 0
    if not repeated.size:
        return empty
    candidates = np.flatnonzero(np.isin(hashes, np.unique(repeated)))
    groups: dict[str, list[int]] = {}
    for pos, event_id in zip(candidates.tolist(), ids[candidates].tolist(), strict=True):
        groups.setdefault(event_id, []).append(pos)
    wanted = sorted(p for group in groups.values() if len(group) > 1 for p in group)
    if not wanted:
        return empty  # hashes that collide, ids that do not
    bodies = _bodies(log, wanted)
    copies: list[int] = []
    redeliveries: list[tuple[str, list[int]]] = []
    collisions: list[tuple[str, list[int]]] = []
    for event_id, group in groups.items():
        if len(group) < 2:
            continue
        by_body: dict[bytes, list[int]] = {}  # insertion order: first delivery first
        for pos in group:
            by_body.setdefault(bodies[pos], []).append(pos)
        for delivered in by_body.values():
            if len(delivered) > 1:
                redeliveries.append((event_id, delivered))
                copies.extend(delivered[1:])
        if len(by_body) > 1:
            collisions.append((event_id, [delivered[0] for delivered in by_body.values()]))
    redeliveries.sort(key=lambda r: r[1][0])
    collisions.sort(key=lambda c: c[1][0])
    out.totals["redeliveries"] = len(redeliveries)
    out.totals["id_collisions"] = len(collisions)
    codes, versions = cols.stream_codes, cols.versions
    for event_id, positions in redeliveries[:limit]:
        first = positions[0]
        out.redeliveries.append(
            Redelivery(
                str(names[codes[first]]),
                _optional(int(versions[first])),
                event_id,
                tuple(positions),
            )
        )
    for event_id, positions in collisions[:limit]:
        out.id_collisions.append(
            IdCollision(
                event_id,
                tuple(positions),
                tuple(str(names[codes[p]]) for p in positions),
                tuple(_optional(int(versions[p])) for p in positions),
            )
        )
    return np.array(sorted(copies), np.int64)


def _bodies(log: EventLog, positions: list[int]) -> dict[int, bytes]:
    """What "the same event" is compared on, as a 128-bit BLAKE2 digest (a log repeating
    ids a million times must not keep a million bodies): the stored record bytes where the
    log keeps them (a workspace), else the canonical event with its position taken out.
    ``positions`` ascend, so a workspace reads each chunk once."""
    if isinstance(log, RawLog):
        return {pos: _digest(log.raw(pos)) for pos in positions}
    return {pos: _digest(_canonical(log.event(pos))) for pos in positions}


def _digest(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=16).digest()


def _canonical(event: Event) -> bytes:
    """An event without its place, keys sorted: equal events give equal bytes."""
    fields = event._replace(key=0, pos=0).to_json()
    return orjson.dumps(fields, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=repr)


def _versions(
    cols: Columns,
    names: npt.NDArray[np.object_],
    order: IntArray,
    out: Findings,
    limit: int | None,
) -> None:
    """Conflicts and gaps in version order, out-of-order events in position order.

    Most streams are written in version order, so the stream-sorted positions are already
    sorted by version there; only streams where a version goes down are sorted again.
    """
    codes, versions, ids = cols.stream_codes, cols.versions, cols.event_ids
    at = order[versions[order] != NA]  # by stream, then position
    s = codes[at]
    v = versions[at]
    same = s[1:] == s[:-1]
    down = same & (v[1:] < v[:-1])
    ooo_event: IntArray = np.zeros(0, np.int64)
    ooo_after: IntArray = np.zeros(0, np.int64)
    by_version = at
    if down.any():
        dirty = np.isin(s, np.unique(s[1:][down]))
        sub = at[dirty]
        k = _by_stream_then_version(s[dirty], v[dirty])
        # Rank in (stream, version, position) order; a running maximum along position order
        # is the latest-highest event so far (ranks of later streams are all higher, so the
        # maximum starts over at each stream by itself).
        rank = np.empty(sub.shape[0], np.int64)
        rank[k] = np.arange(sub.shape[0])
        running = np.maximum.accumulate(rank)
        lower = np.flatnonzero(rank[1:] < running[:-1]) + 1
        ooo_event = sub[lower]
        ooo_after = sub[k[running[lower - 1]]]
        by_version = at.copy()
        by_version[dirty] = sub[k]  # the dirty streams' blocks, each sorted by version
    s = codes[by_version]
    v = versions[by_version]
    same = s[1:] == s[:-1]
    # Differences as unsigned: exact for any two int64 versions in ascending order.
    step = v[1:].view(np.uint64) - v[:-1].view(np.uint64)

    # Conflicts: runs of one (stream, version).
    equal = np.concatenate(([False], same & (v[1:] == v[:-1]), [False]))
    starts = np.flatnonzero(~equal[:-1] & equal[1:])
    ends = np.flatnonzero(equal[:-1] & ~equal[1:])
    out.totals["conflicts"] = int(starts.shape[0])
    picked = _first(by_version[starts], limit)
    for a, b in zip(starts[picked].tolist(), ends[picked].tolist(), strict=True):
        positions = by_version[a : b + 1]
        out.conflicts.append(
            Conflict(
                str(names[s[a]]),
                int(v[a]),
                tuple(positions.tolist()),
                tuple(ids[positions].tolist()),
            )
        )

    # Gaps: consecutive distinct versions more than one apart.
    gap = np.flatnonzero(same & (v[1:] > v[:-1]) & (step > 1))
    out.totals["gaps"] = int(gap.shape[0])
    for i in gap[_first(by_version[gap + 1], limit)].tolist():
        pos = int(by_version[i + 1])
        out.gaps.append(Gap(str(names[s[i]]), int(v[i]), int(step[i]) - 1, pos, str(ids[pos])))

    out.totals["out_of_order"] = int(ooo_event.shape[0])
    picked = _first(ooo_event, limit)
    for pos, after in zip(ooo_event[picked].tolist(), ooo_after[picked].tolist(), strict=True):
        out.out_of_order.append(
            OutOfOrder(
                str(names[codes[pos]]),
                int(versions[pos]),
                pos,
                str(ids[pos]),
                int(versions[after]),
                after,
            )
        )


def _by_stream_then_version(streams: npt.NDArray[np.int32], versions: IntArray) -> IntArray:
    """The stable order by (stream, version) of events grouped by stream in position order:
    equal versions stay in position order.

    One int64 key (stream block, version) sorted by timsort, which runs through the
    already-sorted blocks: several times faster than ``np.lexsort``, used where the key
    could overflow."""
    block = np.cumsum(streams[1:] != streams[:-1], dtype=np.int64)
    block = np.concatenate((np.zeros(1, np.int64), block))
    low, high = int(versions.min()), int(versions.max())
    span = high - low + 1
    if (int(block[-1]) + 1) * span >= 2**62:
        return np.lexsort((versions, streams)).astype(np.int64)
    key = block * span + (versions - low)
    return np.argsort(key, kind="stable").astype(np.int64)


def _times(
    cols: Columns,
    names: npt.NDArray[np.object_],
    order: IntArray,
    out: Findings,
    limit: int | None,
) -> None:
    """Recorded times that go back from one event of a stream to the next."""
    codes, recorded, ids = cols.stream_codes, cols.recorded_us, cols.event_ids
    at = order[recorded[order] != NA]
    s = codes[at]
    t = recorded[at]
    back = np.flatnonzero((s[1:] == s[:-1]) & (t[1:] < t[:-1]))
    out.totals["time_backwards"] = int(back.shape[0])
    for i in back[_first(at[back + 1], limit)].tolist():
        pos, prev = int(at[i + 1]), int(at[i])
        out.time_backwards.append(
            TimeBackwards(
                str(names[s[i + 1]]),
                _optional(int(cols.versions[pos])),
                pos,
                str(ids[pos]),
                int(t[i + 1]),
                prev,
                int(t[i]),
            )
        )
