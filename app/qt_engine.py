"""One worker at a time for the engine: replays after an edit, comparisons, metric series.

The engine is not thread-safe, so everything that may take long runs here, one job after the
other (like Anki's single collection worker): a request of a kind replaces a pending one of
the same kind and cancels a running one. While a job runs the navigator is *busy*: moves are
held back and views do not fold states. Changes to the engine (edits, undo, new branches)
are GUI-thread actions queued with :meth:`EngineQueue.after`, so they never run while a job
reads it. The work function gets the engine's progress hook (done, total) -> keep_going.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Signal

from app.controller import Navigator
from app.qt_errors import error_reporter
from app.workers import Job, ProgressFn
from replay_engine.errors import Cancelled

Work = Callable[[ProgressFn], Any]


@dataclass
class _Request:
    kind: str
    label: str
    work: Work | None = None
    action: Callable[[], None] | None = None
    done: Callable[[Any], None] | None = None
    failed: Callable[[BaseException], None] | None = None
    cancelled: Callable[[], None] | None = None
    session: Any = None
    outcome: tuple[str, Any] | None = None


class EngineQueue(QObject):
    busyChanged = Signal(bool)
    progress = Signal(str, int, int)
    """(label, done, total) of the running job; total 0 while it is unknown."""
    started = Signal(str)
    finished = Signal(str)
    """The kind of the job that ended (succeeded, failed or cancelled)."""

    def __init__(self, navigator: Navigator, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._nav = navigator
        self._pending: list[_Request] = []
        self._running: tuple[_Request, Job] | None = None
        self._busy = False
        self._pumping = False
        self.last_kind = ""

    # --- public ---------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def running_label(self) -> str:
        return "" if self._running is None else self._running[0].label

    def submit(
        self,
        kind: str,
        work: Work,
        *,
        label: str = "",
        done: Callable[[Any], None] | None = None,
        failed: Callable[[BaseException], None] | None = None,
        cancelled: Callable[[], None] | None = None,
    ) -> None:
        """Run ``work(progress)`` in the worker once the jobs before it are done. ``done``,
        ``failed`` and ``cancelled`` are called on the GUI thread (failures are reported in
        the window when ``failed`` is None); a result for a session that has since been
        replaced is dropped."""
        self._pending = [r for r in self._pending if r.kind != kind]
        if self._running is not None and self._running[0].kind == kind:
            self._running[1].cancel()
        self._pending.append(
            _Request(kind, label or kind, work, None, done, failed, cancelled, self._nav.session)
        )
        self._pump()

    def after(self, action: Callable[[], None], label: str = "") -> None:
        """Run ``action`` on the GUI thread as soon as no job uses the engine (now, if none
        does). For changes to the engine; exceptions are reported in the window."""
        self._pending.append(_Request("action", label, action=action))
        self._pump()

    def cancel(self, kind: str | None = None) -> None:
        """Drop pending jobs of ``kind`` (every job when None) and cancel the running one."""
        self._pending = [
            r for r in self._pending if r.work is None or (kind is not None and r.kind != kind)
        ]
        if self._running is not None and (kind is None or self._running[0].kind == kind):
            self._running[1].cancel()

    def shutdown(self, msecs: int = 5000) -> None:
        """Drop what waits, cancel what runs and wait for the worker (the window closes, or
        another log replaces this one: nothing queued for the old log may run on the new)."""
        self._pending = []
        running = self._running
        if running is not None:
            running[1].cancel()
            running[1].wait(msecs)
            # Let the job deliver its (cancelled) outcome now, so the queue moves on.
            for _ in range(50):
                if self._running is not running:
                    break
                QCoreApplication.processEvents()

    # --- internals ------------------------------------------------------------------------

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self._nav.set_busy(busy)
            self.busyChanged.emit(busy)

    def _pump(self) -> None:
        if self._pumping:
            return
        self._pumping = True
        try:
            while self._running is None and self._pending:
                req = self._pending.pop(0)
                if req.action is not None:
                    self._set_busy(True)  # views hold still while the engine changes
                    try:
                        req.action()
                    except Exception as exc:
                        error_reporter().report(exc, req.label or "Branch")
                    continue
                self._start(req)
            if self._running is None:
                self._set_busy(False)
        finally:
            self._pumping = False

    def _start(self, req: _Request) -> None:
        session: Any = req.session
        work = req.work
        assert work is not None
        if session is None or session is not self._nav.session:
            return  # the log it was for is gone
        engine: Any = session.engine

        def run(progress: ProgressFn) -> Any:
            old = engine.progress
            engine.progress = progress
            try:
                return work(progress)
            finally:
                engine.progress = old

        job = Job(run, label=req.label, parent=self)
        self._running = (req, job)
        label = req.label
        job.progress.connect(lambda done, total: self.progress.emit(label, done, total))
        job.succeeded.connect(lambda result, r=req: setattr(r, "outcome", ("ok", result)))
        job.failed.connect(lambda exc, r=req: setattr(r, "outcome", ("error", exc)))
        job.cancelled.connect(lambda r=req: setattr(r, "outcome", ("cancelled", None)))
        job.finished.connect(lambda r=req, j=job: self._on_finished(r, j))
        self._set_busy(True)
        self.last_kind = req.kind
        self.started.emit(req.kind)
        self.progress.emit(req.label, 0, 0)
        job.start()

    def _stale(self, req: _Request) -> bool:
        return req.session is not self._nav.session

    def _on_done(self, req: _Request, result: Any) -> None:
        if self._stale(req) or req.done is None:
            return
        try:
            req.done(result)
        except Exception as exc:
            error_reporter().report(exc, req.label)

    def _on_failed(self, req: _Request, exc: BaseException) -> None:
        if self._stale(req):
            return
        if isinstance(exc, Cancelled):
            self._on_cancelled(req)
            return
        if req.failed is not None:
            try:
                req.failed(exc)
            except Exception as inner:
                error_reporter().report(inner, req.label)
        else:
            error_reporter().report(exc, req.label)

    def _on_cancelled(self, req: _Request) -> None:
        if self._stale(req) or req.cancelled is None:
            return
        with contextlib.suppress(Exception):
            req.cancelled()

    def _on_finished(self, req: _Request, job: Job) -> None:
        """The worker is idle from here on: the outcome is delivered with the engine free
        (callbacks may read it), and busy clears first unless more jobs wait.

        A cancel is the exception: it is delivered while still busy, so that views told to
        hold still (the inspector after a cancelled replay) are told before busy clears.
        Otherwise they would fold on the GUI thread, at once, what the user just cancelled:
        for a handler that never returns, a frozen window."""
        if self._running is not None and self._running[1] is job:
            self._running = None
        job.deleteLater()
        kind, value = req.outcome or ("error", RuntimeError(f"{req.label} ended silently"))
        if kind == "cancelled" or (kind == "error" and isinstance(value, Cancelled)):
            self._on_cancelled(req)  # may queue more work (a revert replays again)
            self._idle_unless_more()
        else:
            self._idle_unless_more()
            if kind == "ok":
                self._on_done(req, value)
            else:
                self._on_failed(req, value)
        self.finished.emit(req.kind)
        self._pump()

    def _idle_unless_more(self) -> None:
        if self._running is None and not any(r.work is not None for r in self._pending):
            self._set_busy(False)
