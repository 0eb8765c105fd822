"""The states Redux DevTools recorded, shown without running any of the app's code (issue 6).

A Redux DevTools export (see :mod:`models.converters.redux`) keeps, for every action, the
state DevTools computed after it; the converter puts it in the event's metadata
(``metadata["redux"]["recorded_state"]``). This projection reads it back, so the inspector
can show those states right after the import, before the user has loaded their own reducer.
"""

from __future__ import annotations

from typing import Any

from models.converters.redux import METADATA_KEY, PROJECTION_NAME
from models.event import Event


class RecordedStateProjection:
    """The state after an event is the state DevTools *recorded* after that action: nothing
    is replayed.

    - Recorded states are as DevTools computed them: with the actions skipped in DevTools
      left out (a skipped action's state is the state before it) and, after a reducer threw,
      the state from before the error.
    - An event without a recorded state (one inserted in a branch, or an action the export
      has no state for) leaves the state as it was: this projection never runs a reducer. So a
      branch that drops actions shows, after each kept action, the state recorded for it in
      the original history, not what the history without the dropped actions would give:
      load the app's own reducer as a projection to replay for real.
    - States are the events' own metadata values, shared rather than copied (the engine keeps
      them as snapshots): nothing may change them in place.
    """

    name: str = PROJECTION_NAME
    description: str = (
        "built in for Redux DevTools exports: the state DevTools recorded after each action "
        "(no reducer runs)"
    )
    keyed: bool = False
    """One state for the whole store (the engine replays it as a plain Projection)."""

    def __init__(self, initial_state: Any = None) -> None:
        """``initial_state``: the state before the first action (the conversion's
        ``hints["initial_state"]``: the export's state after ``@@INIT``)."""
        self._initial = initial_state

    def initial_state(self) -> Any:
        return self._initial

    def apply(self, state: Any, event: Event) -> Any:
        redux = event.metadata.get(METADATA_KEY)
        if isinstance(redux, dict) and "recorded_state" in redux:
            return redux["recorded_state"]
        return state
