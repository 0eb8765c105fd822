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
    event_ids: npt.NDArray[np.object_]
    """Event ids as Python ``str`` (not GC-tracked, so cheap for the collector)."""
    stream_names: list[str] = field(default_factory=list)
    type_names: list[str] = field(default_factory=list)

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
            event_ids=np.zeros(0, object),
        )

    @staticmethod
    def from_events(events: Sequence[Event]) -> Columns:
        streams: dict[str, int] = {}
        types: dict[str, int] = {}
        sc = [streams.setdefault(e.stream, len(streams)) for e in events]
        tc = [types.setdefault(e.type, len(types)) for e in events]

        def na(values: list[int | None]) -> Int64Array:
            return np.array([NA if v is None else v for v in values], np.int64)

        ids = np.empty(len(events), object)
        ids[:] = [e.event_id for e in events]
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
