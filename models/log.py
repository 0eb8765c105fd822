"""The log as the engine and the views see it: columns for every event, payloads on demand.

The table and the timeline need positions, times, streams and types of every event, but
payloads only for what is on screen or being replayed (DESIGN.md, Log index). A million events
cost a few numpy arrays here, not a million dicts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from models.event import Event

NA = np.iinfo(np.int64).min
"""Missing value in the int64 columns (version, timestamps)."""

Int32Array = npt.NDArray[np.int32]
Int64Array = npt.NDArray[np.int64]
ObjectArray = npt.NDArray[np.object_]
_NEWLINE = 10
_HASH_BATCH = 65_536


class IdColumn:
    """Event ids in position order, as one UTF-8 buffer (the ids joined by newlines) and the
    offset where each starts: id ``i`` is ``data[starts[i] : starts[i + 1] - 1]``.

    A million ids cost their bytes and 8 bytes each, instead of a ``str`` object each (about
    85 bytes for a UUID), and a reopened log gets them from the stored text without creating
    a million objects. Reading a slice or a few positions decodes just those; indexing gives
    what an object array would (``str`` for one position, object arrays otherwise), and
    ``ids == "x"`` is a boolean mask found by searching the bytes.
    """

    __slots__ = ("_data", "_plain", "_starts")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, data: bytes, starts: Int64Array, plain: bool) -> None:
        self._data = data
        self._starts = starts
        self._plain = plain
        """No id holds a newline: a range decodes with one split."""

    @staticmethod
    def empty() -> IdColumn:
        return IdColumn(b"", np.zeros(1, np.int64), True)

    @staticmethod
    def of(ids: Sequence[str] | IdColumn) -> IdColumn:
        if isinstance(ids, IdColumn):
            return ids
        ids = ids.tolist() if isinstance(ids, np.ndarray) else list(ids)
        for i, value in enumerate(ids):
            if type(value) is not str:
                raise TypeError(f"event id at position {i} is {type(value).__name__}, not str")
        text = "\n".join(ids)
        data = text.encode("utf-8", "surrogatepass")
        if text.isascii():
            sizes = np.fromiter(map(len, ids), np.int64, len(ids))
        else:
            sizes = np.fromiter(
                (len(i.encode("utf-8", "surrogatepass")) for i in ids), np.int64, len(ids)
            )
        starts = np.zeros(len(ids) + 1, np.int64)
        np.cumsum(sizes + 1, out=starts[1:])
        return IdColumn(data, starts, text.count("\n") == max(len(ids) - 1, 0))

    @staticmethod
    def from_lines(data: bytes, count: int) -> IdColumn | None:
        """From ids joined by newlines (none holding one); None if there are not ``count``."""
        if count == 0:
            return IdColumn.empty() if not data else None
        if data.count(b"\n") != count - 1:
            return None
        width = data.find(b"\n") + 1 if count > 1 else len(data) + 1
        if len(data) + 1 == count * width and bool(
            (np.frombuffer(data, np.uint8)[width - 1 :: width] == _NEWLINE).all()
        ):  # ids of one length (UUIDs): every newline where it would be
            return IdColumn(data, np.arange(count + 1, dtype=np.int64) * width, True)
        starts = np.empty(count + 1, np.int64)
        starts[0] = 0
        starts[1:-1] = np.flatnonzero(np.frombuffer(data, np.uint8) == _NEWLINE) + 1
        starts[-1] = len(data) + 1
        return IdColumn(data, starts, True)

    def lines(self) -> bytes | None:
        """The ids joined by newlines (what :meth:`from_lines` reads); None if one holds a
        newline."""
        return self._data if self._plain else None

    @property
    def nbytes(self) -> int:
        return len(self._data) + self._starts.nbytes

    def __len__(self) -> int:
        return int(self._starts.shape[0]) - 1

    def _one(self, i: int) -> str:
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"event id {i} out of range ({n} events)")
        lo, hi = int(self._starts[i]), int(self._starts[i + 1]) - 1
        return self._data[lo:hi].decode("utf-8", "surrogatepass")

    def _range(self, lo: int, hi: int) -> list[str]:
        if hi <= lo:
            return []
        if self._plain:
            text = self._data[int(self._starts[lo]) : int(self._starts[hi]) - 1]
            return text.decode("utf-8", "surrogatepass").split("\n")
        return [self._one(i) for i in range(lo, hi)]

    def _positions(self, at: Int64Array) -> list[str]:
        data, starts = self._data, self._starts
        return [
            data[a : b - 1].decode("utf-8", "surrogatepass")
            for a, b in zip(starts[at].tolist(), starts[at + 1].tolist(), strict=True)
        ]

    def _gather(self, at: Int64Array) -> list[str]:
        """Positions in any order; a dense set (a chunk's events) decodes the range around
        them in one split instead of one decode each (five times faster)."""
        if at.shape[0] > 16 and self._plain:
            lo, hi = int(at.min()), int(at.max()) + 1
            if hi - lo <= 4 * at.shape[0]:
                around = self._range(lo, hi)
                return [around[i] for i in (at - lo).tolist()]
        return self._positions(at)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, int | np.integer):
            return self._one(int(index))
        if isinstance(index, slice):
            lo, hi, step = index.indices(len(self))
            values = (
                self._range(lo, hi)
                if step == 1
                else self._positions(np.arange(lo, hi, step, dtype=np.int64))
            )
        else:
            at = np.asarray(index)
            if at.dtype == np.bool_:
                at = np.flatnonzero(at)
            at = at.astype(np.int64, copy=False)
            at = np.where(at < 0, at + len(self), at)
            if at.size and (int(at.min()) < 0 or int(at.max()) >= len(self)):
                raise IndexError(f"event ids out of range ({len(self)} events)")
            values = self._gather(at)
        return _objects(values)

    def tolist(self) -> list[str]:
        return self._range(0, len(self))

    def __iter__(self) -> Iterator[str]:
        for lo in range(0, len(self), _HASH_BATCH):
            yield from self._range(lo, min(lo + _HASH_BATCH, len(self)))

    def __array__(self, dtype: Any = None, copy: Any = None) -> ObjectArray:
        return _objects(self.tolist())

    def hashes(self) -> Int64Array:
        """``hash()`` of every id (this process's str hashes), a batch of ids at a time."""
        out = np.empty(len(self), np.int64)
        for lo in range(0, len(self), _HASH_BATCH):
            hi = min(lo + _HASH_BATCH, len(self))
            out[lo:hi] = np.fromiter(map(hash, self._range(lo, hi)), np.int64, hi - lo)
        return out

    def __eq__(self, other: object) -> Any:
        if isinstance(other, IdColumn):
            return bool(self._data == other._data and np.array_equal(self._starts, other._starts))
        if not isinstance(other, str):
            return NotImplemented
        mask = np.zeros(len(self), np.bool_)
        needle = other.encode("utf-8", "surrogatepass")
        data, starts = self._data, self._starts
        if not needle:  # empty ids: those with no bytes
            return np.asarray(np.diff(starts) == 1)
        at = data.find(needle)
        while at >= 0:
            i = int(np.searchsorted(starts, at))
            if i < len(self) and starts[i] == at and starts[i + 1] == at + len(needle) + 1:
                mask[i] = True
            at = data.find(needle, at + 1)
        return mask

    def __ne__(self, other: object) -> Any:
        equal = self.__eq__(other)
        if isinstance(equal, np.ndarray):
            return ~equal
        return equal if equal is NotImplemented else not equal

    def concat(self, other: IdColumn) -> IdColumn:
        if not len(self) or not len(other):
            return other if not len(self) else self
        starts = np.concatenate([self._starts[:-1], other._starts + self._starts[-1]])
        data = b"\n".join((self._data, other._data))
        return IdColumn(data, starts, self._plain and other._plain)

    def __repr__(self) -> str:
        return f"IdColumn({len(self)} ids, {self.nbytes:,} bytes)"


def _objects(values: list[str]) -> ObjectArray:
    array = np.empty(len(values), object)
    array[:] = values
    return array


@dataclass
class Columns:
    """Per-event columns in source order; streams and types are dictionary-encoded.

    Codes are assigned in order of first appearance, so stream code ``c`` first occurs no
    earlier than stream code ``c - 1``.
    """

    stream_codes: Int32Array
    type_codes: Int32Array
    versions: Int64Array
    recorded_us: Int64Array
    processed_us: Int64Array
    event_ids: IdColumn
    """Event ids (a sequence of ``str`` given here becomes an :class:`IdColumn`)."""
    stream_names: list[str] = field(default_factory=list)
    type_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.event_ids = IdColumn.of(self.event_ids)

    def __len__(self) -> int:
        return int(self.stream_codes.shape[0])

    @staticmethod
    def empty() -> Columns:
        return Columns(
            stream_codes=np.zeros(0, np.int32),
            type_codes=np.zeros(0, np.int32),
            versions=np.zeros(0, np.int64),
            recorded_us=np.zeros(0, np.int64),
            processed_us=np.zeros(0, np.int64),
            event_ids=IdColumn.empty(),
        )

    @staticmethod
    def from_events(events: Sequence[Event]) -> Columns:
        streams: dict[str, int] = {}
        types: dict[str, int] = {}
        sc = [streams.setdefault(e.stream, len(streams)) for e in events]
        tc = [types.setdefault(e.type, len(types)) for e in events]

        def na(values: list[int | None]) -> Int64Array:
            return np.array([NA if v is None else v for v in values], np.int64)

        ids = IdColumn.of([e.event_id for e in events])
        return Columns(
            stream_codes=np.array(sc, np.int32),
            type_codes=np.array(tc, np.int32),
            versions=na([e.version for e in events]),
            recorded_us=na([e.recorded_us for e in events]),
            processed_us=na([e.processed_us for e in events]),
            event_ids=ids,
            stream_names=list(streams),
            type_names=list(types),
        )


class EventLog(Protocol):
    """What the replay engine, the CLI and the views read from an imported log."""

    @property
    def columns(self) -> Columns: ...

    def __len__(self) -> int: ...

    def event(self, pos: int) -> Event:
        """The source event at ``pos`` (0 <= pos < len)."""
        ...

    def events(self, start: int, stop: int) -> list[Event]:
        """Source events ``start <= pos < stop``, read in chunks through a small cache."""
        ...

    def iter_events(self, start: int = 0, stop: int | None = None) -> Iterator[Event]:
        """Stream source events in order without caching them: for full replays."""
        ...


Payload = tuple[str, str, "int | None", Any]
"""``(stream, type, version, data)``: all a stream-keyed fold of payloads needs."""


@runtime_checkable
class PayloadLog(EventLog, Protocol):
    """An EventLog that can also stream bare payloads, skipping what a full replay of the
    generic projection never reads (metadata, ids, timestamps): the hottest path there is."""

    def iter_payloads(self, start: int = 0, stop: int | None = None) -> Iterator[Payload]: ...


class MemoryLog:
    """An :class:`EventLog` over events held in a list: for tests and small synthetic logs."""

    def __init__(self, events: Sequence[Event]) -> None:
        for i, e in enumerate(events):
            if e.pos != i or e.key != i:
                raise ValueError(f"event {i} has pos {e.pos} and key {e.key}; both must be {i}")
        self._events = list(events)
        self._columns = Columns.from_events(self._events)

    @property
    def columns(self) -> Columns:
        return self._columns

    def __len__(self) -> int:
        return len(self._events)

    def event(self, pos: int) -> Event:
        return self._events[pos]

    def events(self, start: int, stop: int) -> list[Event]:
        return self._events[start:stop]

    def iter_events(self, start: int = 0, stop: int | None = None) -> Iterator[Event]:
        return iter(self._events[start:stop])

    def iter_payloads(self, start: int = 0, stop: int | None = None) -> Iterator[Payload]:
        return ((e.stream, e.type, e.version, e.data) for e in self._events[start:stop])
