"""Errors the replay engine raises at its callers (the application layer shows them)."""

from __future__ import annotations

import traceback
from typing import Any

from models.event import Event, EventKey, format_key


class Cancelled(Exception):
    """The progress callback returned False, or the user's projection code was interrupted
    (``replay_engine.api.interrupt``): the long fold stopped, nothing was returned or kept.

    Never wrap it as a :class:`ProjectionError`: it is the user's cancel, not a failure at
    the event being folded."""


class ProjectionError(Exception):
    """A projection raised while folding: the replay stopped at that event.

    Carries where (event key, display row, branch), what (the original exception and its
    traceback text) and the state just before the failing event, so the debugger can show it;
    no partial state is ever passed off as a result.
    """

    def __init__(
        self,
        projection: str,
        key: EventKey,
        row: int,
        error: BaseException,
        traceback_text: str,
        state_before: Any,
        branch: str | None = None,
    ) -> None:
        super().__init__(projection, key, row, error)
        self.projection = projection
        self.key = key
        self.row = row
        self.error = error
        self.traceback_text = traceback_text
        self.state_before = state_before
        self.branch = branch
        self.sequence_serial = -1
        """Which display sequence it happened in (lets the engine name the branch)."""

    @staticmethod
    def raised_by(
        projection: str, event: Event, row: int, error: BaseException, before: Any, serial: int
    ) -> ProjectionError:
        """The error for ``error``, being handled now, raised by ``projection`` on ``event`` at
        display row ``row`` of the sequence numbered ``serial``."""
        made = ProjectionError(projection, event.key, row, error, traceback.format_exc(), before)
        made.sequence_serial = serial
        return made

    def __str__(self) -> str:
        where = f"row {self.row}" + (f" of branch {self.branch!r}" if self.branch else "")
        return (
            f"projection {self.projection!r} failed on event {format_key(self.key)} ({where}): "
            f"{type(self.error).__name__}: {self.error}"
        )
