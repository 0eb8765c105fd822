"""Projections: folds of events into state (DESIGN.md, Replay engine)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from models.event import Event


@runtime_checkable
class Projection(Protocol):
    """A fold ``state = apply(state, event)`` starting from ``initial_state()``.

    ``apply`` must not mutate its input state in place (return a new one, sharing unchanged
    parts): the engine keeps earlier states as snapshots.
    """

    name: str

    def initial_state(self) -> Any: ...

    def apply(self, state: Any, event: Event) -> Any: ...


@runtime_checkable
class KeyedProjection(Protocol):
    """A projection whose state is ``{key(event): substate}`` and where an event only touches
    the substate of its own key (typically its stream).

    The engine exploits this: the state at a position is a view whose substates are folded on
    demand from their own events, and an edit to one key's event recomputes only that key.
    An object that has these methods but sets ``keyed = False`` (replay_engine.api does, for
    one state per log) is replayed as a plain :class:`Projection`.
    """

    name: str

    def key(self, event: Event) -> str: ...

    def initial_substate(self) -> Any: ...

    def apply_substate(self, substate: Any, event: Event) -> Any: ...


def is_keyed_by_stream(projection: object) -> bool:
    """Whether a keyed projection promises ``key(event) == event.stream``.

    Such a projection sets the class attribute ``key_is_stream = True``; the engine then groups
    events by the log's stream column instead of reading every payload to compute keys.
    """
    return getattr(projection, "key_is_stream", False) is True


@runtime_checkable
class BulkKeyedProjection(KeyedProjection, Protocol):
    """A keyed projection that can also fold a run of events faster than one
    ``apply_substate`` call each — the full replay's hot loop.

    ``fold_events(substates, events)`` must leave ``substates`` (key -> substate) exactly as
    repeated ``apply_substate`` calls would. The engine owns ``substates`` exclusively until the
    fold is over, so values this method put there may be updated in place meanwhile; it must
    not touch values it did not create. If it raises, the engine redoes the fold one event at a
    time to report the failing event.
    """

    def fold_events(self, substates: dict[str, Any], events: Iterable[Event]) -> None: ...
