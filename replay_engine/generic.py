"""The built-in projection that works on any log (DESIGN.md, Replay engine)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from models.event import Event
from models.log import Payload
from replay_engine.merge_patch import merge_patch, merge_patch_into

Substate = dict[str, Any]


class GenericProjection:
    """Per stream: the payloads merged in order (JSON Merge Patch), the version and the last
    event type — a useful state for a log whose domain code Rewind has never seen.

    ``version`` is the event's own version when it has one, otherwise the previous version
    plus one (0 before any event). A payload that is not an object replaces ``data`` wholesale,
    as RFC 7396 says.
    """

    name: ClassVar[str] = "generic"
    description: ClassVar[str] = "built in: each stream's payloads merged, its version, last type"
    key_is_stream: ClassVar[bool] = True
    """Promise to the engine that ``key(event) == event.stream`` (see projection.py)."""
    json_states: ClassVar[bool] = True
    """Promise that every substate is plain JSON: the engine keeps the log's end state
    packed (a subclass must declare it again to be believed)."""

    def key(self, event: Event) -> str:
        return event.stream

    def initial_substate(self) -> Substate:
        return {"version": 0, "last_type": "", "data": None}

    def apply_substate(self, substate: Substate, event: Event) -> Substate:
        version = event.version
        return {
            "version": substate["version"] + 1 if version is None else version,
            "last_type": event.type,
            "data": merge_patch(substate["data"], event.data),
        }

    def fold_events(self, substates: dict[str, Substate], events: Iterable[Event]) -> None:
        """``apply_substate`` over a run of events, updating the substates this fold created
        in place (see BulkKeyedProjection): one dict per stream instead of two per event."""
        if type(self).apply_substate is not GenericProjection.apply_substate:
            for event in events:  # a subclass changed the rule: follow it, one event at a time
                old = substates.get(event.stream)
                substates[event.stream] = self.apply_substate(
                    self.initial_substate() if old is None else old, event
                )
            return
        self.fold_payloads(substates, ((e.stream, e.type, e.version, e.data) for e in events))

    def fold_payloads(self, substates: dict[str, Substate], payloads: Iterable[Payload]) -> None:
        """The same fold over ``(stream, type, version, data)`` tuples (models.log.PayloadLog):
        the full replay's hot loop, which never builds an Event."""
        if type(self).apply_substate is not GenericProjection.apply_substate:
            raise TypeError("a subclass that changes apply_substate must fold events")
        get = substates.get
        for stream, type_, version, patch in payloads:
            substate = get(stream)
            if substate is None:
                substates[stream] = {
                    "version": 1 if version is None else version,
                    "last_type": type_,
                    "data": merge_patch(None, patch),
                }
                continue
            substate["version"] = substate["version"] + 1 if version is None else version
            substate["last_type"] = type_
            data = substate["data"]
            if type(data) is dict and type(patch) is dict:
                merge_patch_into(data, patch)  # ``data`` came from merge_patch: ours to update
            else:
                substate["data"] = merge_patch(data, patch)

    # The same fold as a plain Projection: one object keyed by stream id. The engine uses the
    # keyed form; this one exists for callers (and tests) that want the classic fold.

    def initial_state(self) -> dict[str, Substate]:
        return {}

    def apply(self, state: dict[str, Substate], event: Event) -> dict[str, Substate]:
        old = state.get(event.stream)
        new = self.apply_substate(self.initial_substate() if old is None else old, event)
        return {**state, event.stream: new}
