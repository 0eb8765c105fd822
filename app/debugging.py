"""The debugger's breakpoints and watches for the open log, and the searches they drive.

Holds the lists (saved in the workspace, per log), runs forward and backward on the engine
worker (a long search shows progress and can be cancelled) and computes the values the
watch dock shows. Searches themselves are replay_engine.breakpoints: Qt-free and tested there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import orjson
from PySide6.QtCore import QObject, Signal

from app.controller import Navigator
from app.qt_engine import EngineQueue
from models.event import EventKey, format_key
from replay_engine import breakpoints as bp
from replay_engine.breakpoints import ANY, MISSING, Breakpoint, Hit, Touch, Watch
from replay_engine.errors import ProjectionError


def format_value(value: Any, limit: int = 120) -> str:
    """A watch value as the dock shows it."""
    if value is MISSING:
        return "—"
    if isinstance(value, str):
        text = value
    else:
        try:
            text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Debugger(QObject):
    changed = Signal()
    """The breakpoints or watches changed (added, removed, enabled...)."""
    message = Signal(str, str)
    """(text, kind) for the window's message bar: 'info' or 'error'."""
    runningChanged = Signal(bool)

    def __init__(self, navigator: Navigator, queue: EngineQueue, parent: QObject | None = None):
        super().__init__(parent)
        self._nav = navigator
        self._queue = queue
        self.breakpoints: list[Breakpoint] = []
        self.watches: list[Watch] = []
        self.running = False
        self.last_hit: Hit | None = None
        navigator.sessionChanged.connect(self._load)

    # --- the lists --------------------------------------------------------------------------

    def _load(self) -> None:
        session = self._nav.session
        data = session.debug_points() if session is not None else {}
        self.breakpoints = [Breakpoint.from_json(d) for d in data.get("breakpoints", [])]
        self.watches = [
            w for w in (Watch.from_json(d) for d in data.get("watches", [])) if w.expression
        ]
        self.last_hit = None
        self.changed.emit()

    def _save(self) -> None:
        session = self._nav.session
        if session is not None:
            points = session.debug_points()  # bookmarks and saved filters live there too
            points["breakpoints"] = [b.to_json() for b in self.breakpoints]
            points["watches"] = [w.to_json() for w in self.watches]
            session.save_debug_points(points)
        self.changed.emit()

    def add_breakpoint(self, breakpoint: Breakpoint) -> None:
        """Raises ExpressionError (a clear message) for a condition that does not parse."""
        breakpoint.check()
        if breakpoint not in self.breakpoints:
            self.breakpoints.append(breakpoint)
            self._save()

    def remove_breakpoint(self, index: int) -> None:
        del self.breakpoints[index]
        self._save()

    def set_breakpoint_enabled(self, index: int, enabled: bool) -> None:
        if self.breakpoints[index].enabled != enabled:
            self.breakpoints[index] = self.breakpoints[index].with_enabled(enabled)
            self._save()

    def event_breakpoint(self, key: EventKey) -> int | None:
        for i, b in enumerate(self.breakpoints):
            if b.event == key and b.type is b.stream is b.condition is None:
                return i
        return None

    def toggle_event(self, key: EventKey) -> bool:
        """Set or clear the breakpoint on one event (the gutter); True if it is now set."""
        found = self.event_breakpoint(key)
        if found is None:
            self.breakpoints.append(Breakpoint(event=key))
            self._save()
            return True
        self.remove_breakpoint(found)
        return False

    def event_keys(self) -> dict[EventKey, bool]:
        """Events with a breakpoint of their own, and whether it is enabled."""
        return {b.event: b.enabled for b in self.breakpoints if b.event is not None}

    def add_watch(self, watch: Watch) -> None:
        bp.compile_expression(watch.expression)
        self.watches.append(watch)
        self._save()

    def remove_watch(self, index: int) -> None:
        del self.watches[index]
        self._save()

    def update_watch(self, index: int, **changes: Any) -> None:
        new = replace(self.watches[index], **changes)
        if new != self.watches[index]:
            self.watches[index] = new
            self._save()

    # --- running ------------------------------------------------------------------------

    def has_points(self) -> bool:
        return any(b.enabled for b in self.breakpoints) or any(
            w.enabled and w.breaks for w in self.watches
        )

    def run(self, direction: int) -> None:
        """Run forward (+1) or backward (-1) to the nearest hit, on the engine worker."""
        session = self._nav.session
        if session is None:
            return
        if not self.has_points():
            self.message.emit(
                "No breakpoints: click the gutter left of an event, press F9, or add a "
                "condition in the Breakpoints or Watches dock.",
                "info",
            )
            return
        engine, branch, row = session.engine, self._nav.branch, self._nav.row
        points, watches = list(self.breakpoints), list(self.watches)
        word = "forward" if direction > 0 else "backward"

        def work(_progress: Any) -> Hit | None:
            return bp.find_hit(engine, branch, row, direction, points, watches)

        def done(hit: Hit | None) -> None:
            self._set_running(False)
            self.last_hit = hit
            if hit is None:
                where = "after" if direction > 0 else "before"
                self.message.emit(
                    f"Ran {word}: no breakpoint hit {where} {self._where(row)}.", "info"
                )
                return
            if self._nav.branch != branch:
                return  # the user switched branches meanwhile: that hit is not for this one
            self._nav.go_to(hit.row)
            self.message.emit(f"Stopped at {self._where(hit.row)}: {hit.reason}", "info")

        def failed(exc: BaseException) -> None:
            self._set_running(False)
            if isinstance(exc, ProjectionError) and self._nav.branch == branch:
                # break on exception: the inspector shows the failure at that event
                self._nav.go_to(exc.row)
                self.message.emit(f"Stopped on an exception: {exc}", "error")
                return
            self.message.emit(f"Run {word} failed: {exc}", "error")

        self._set_running(True)
        self._queue.submit(
            "run",
            work,
            label=f"Running {word} to a breakpoint",
            done=done,
            failed=failed,
            cancelled=lambda: self._set_running(False),
        )

    def _set_running(self, running: bool) -> None:
        if running != self.running:
            self.running = running
            self.runningChanged.emit(running)

    def _where(self, row: int) -> str:
        if row < 0:
            return "the start"
        return f"{format_key(self._nav.key_at(row))} (row {row:,})"

    # --- watches' values ---------------------------------------------------------------

    def scope_for(self, watch: Watch, row: int) -> str | None:
        """The key the watch reads at ``row`` (ANY: the key of the event there)."""
        session = self._nav.session
        if session is None:
            return None
        return bp.watch_scope(session.engine, self._nav.branch, row, watch)

    def values(self, row: int) -> list[Any]:
        """Every watch's value at ``row`` (MISSING where there is none); reads the engine,
        so only when no job runs (the window shows the last values meanwhile)."""
        session = self._nav.session
        if session is None:
            return [MISSING] * len(self.watches)
        out = []
        for w in self.watches:
            try:
                out.append(bp.watch_value(session.engine, self._nav.branch, row, w))
            except ProjectionError:
                out.append(MISSING)
        return out

    def series(
        self,
        watch: Watch,
        key: str | None,
        done: Callable[[np.ndarray, np.ndarray], None],
    ) -> None:
        """The watch's numeric values along the branch (x: rows, y: NaN where not a number),
        computed on the engine worker."""
        session = self._nav.session
        if session is None:
            return
        engine, branch = session.engine, self._nav.branch

        def work(_progress: Any) -> tuple[np.ndarray, np.ndarray]:
            rows, values = bp.watch_series(engine, branch, watch, key)
            ys = np.array([bp.numeric(v) for v in values], np.float64)
            return rows.astype(np.float64), ys

        self._queue.submit(
            "watch-series",
            work,
            label=f"Plotting {watch.expression}",
            done=lambda xy: done(*xy),
            failed=lambda exc: self.message.emit(f"Cannot plot {watch.expression}: {exc}", "error"),
        )

    def touches(self, path: Sequence[str | int], done: Callable[[list[Touch]], None]) -> None:
        """Which events changed the value at ``path``: computed on the engine worker."""
        session = self._nav.session
        if session is None:
            return
        engine, branch = session.engine, self._nav.branch

        def work(_progress: Any) -> list[Touch]:
            return bp.touches(engine, branch, list(path))

        self._queue.submit(
            "touches",
            work,
            label="Finding the events that touched it",
            done=done,
            failed=lambda exc: self.message.emit(f"Cannot list what touched it: {exc}", "error"),
        )

    def scopes(self) -> list[str]:
        """Watch scopes to offer: ANY, then the key of the current event."""
        session = self._nav.session
        if session is None or not session.engine.is_keyed:
            return []
        out = [ANY]
        event = self._nav.current_event()
        if event is not None:
            out.insert(0, session.engine.key_of(event))
        return out


def finite(value: float) -> bool:
    return not math.isnan(value)
