"""The canonical event record every reader maps its format onto (see DESIGN.md, Data model)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

JSON = Any
"""A JSON value as orjson/json produce it: dict, list, str, int, float, bool or None."""

EventKey = int
"""Stable identity of an event inside a workspace source.

Source events are keyed by their 0-based position in the source log (``key >= 0``). Events a
branch inserts get negative keys (-1, -2, ...) allocated per source, so that edits never name
events by the log's ``event_id`` alone: real logs repeat ids.
"""


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def us_to_datetime(us: int | None) -> datetime | None:
    """Timestamps are kept as integer microseconds (UTC) so that columns stay numpy arrays."""
    return None if us is None else EPOCH + timedelta(microseconds=us)


def datetime_to_us(dt: datetime) -> int:
    """Aware datetimes only; naive ones are taken as UTC."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def format_us(us: int | None) -> str | None:
    """RFC 3339 in UTC with a ``Z``, microsecond precision only where needed."""
    dt = us_to_datetime(us)
    if dt is None:
        return None
    text = dt.isoformat(timespec="microseconds" if dt.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def format_key(key: EventKey) -> str:
    """``@123`` for source events, ``@+4`` for the fourth inserted event."""
    return f"@{key}" if key >= 0 else f"@+{-key}"


def parse_key(text: str) -> EventKey | None:
    """Inverse of :func:`format_key` (the leading ``@`` is required); ``None`` if not a key."""
    if not text.startswith("@"):
        return None
    body = text[1:]
    if body.startswith("+") and body[1:].isdigit() and int(body[1:]) > 0:
        return -int(body[1:])
    if body.isdigit():
        return int(body)
    return None


class Event(NamedTuple):
    """Immutable. A NamedTuple rather than a frozen dataclass: a million of them are built on
    a full replay, and a tuple is built about 5x faster than a frozen dataclass."""

    key: EventKey
    pos: int
    """Position in the source log's order; -1 for inserted events."""
    event_id: str
    stream: str
    type: str
    version: int | None = None
    schema_version: int | None = None
    recorded_us: int | None = None
    """Recorded time, microseconds since the Unix epoch (UTC); see :attr:`recorded_at`."""
    processed_us: int | None = None
    data: JSON = None
    metadata: dict[str, JSON] = {}  # noqa: RUF012 - shared empty default, never mutated
    correlation_id: str | None = None
    causation_id: str | None = None

    @property
    def recorded_at(self) -> datetime | None:
        return us_to_datetime(self.recorded_us)

    @property
    def processed_at(self) -> datetime | None:
        return us_to_datetime(self.processed_us)

    def with_changes(self, **changes: Any) -> Event:
        return self._replace(**changes)

    def to_json(self) -> dict[str, JSON]:
        """The canonical record as a JSON object (timestamps in RFC 3339)."""
        return {
            "pos": self.pos,
            "key": format_key(self.key),
            "event_id": self.event_id,
            "stream": self.stream,
            "type": self.type,
            "version": self.version,
            "schema_version": self.schema_version,
            "recorded_at": format_us(self.recorded_us),
            "processed_at": format_us(self.processed_us),
            "data": self.data,
            "metadata": self.metadata,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
        }
