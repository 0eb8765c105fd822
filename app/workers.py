"""Background work for the window: one QThread per job, progress and cancel, queued results.

The work function gets no widgets, only a ``progress(done, total) -> bool`` callback (False
means "stop": the user cancelled). Everything it reports crosses back to the GUI thread
through signals connected to slots of a QObject that lives there, so the public signals of a
:class:`Job` always fire on the GUI thread and any slot may touch widgets.

A :class:`JobSlot` holds at most one job of a kind: starting a new one cancels the old one
and its result, when it eventually arrives, is dropped as stale.

Cancelling also stops the user's projection code if the worker is inside it (a handler that
never returns never reaches the progress callback): see ``replay_engine.api.interrupt``. It
is tried at once and then every few milliseconds until the thread has ended, since the work
may enter such code only after the first try.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from replay_engine.api import interrupt

KNOCK_MS = 20
"""How often a cancelled job that still runs is interrupted again."""

ProgressFn = Callable[[int, int], bool]
WorkFn = Callable[[ProgressFn], Any]

_live: weakref.WeakSet[Job] = weakref.WeakSet()


def running_jobs() -> list[Job]:
    """Jobs whose thread has not finished yet (tests fail when one is left behind)."""
    return [job for job in list(_live) if job.is_running()]


class _Thread(QThread):
    """Runs the work function; talks to its :class:`Job` only through queued signals."""

    progressed = Signal(int, int)
    returned = Signal(object)
    raised = Signal(object)

    def __init__(self, fn: WorkFn, cancel: threading.Event, min_interval: float) -> None:
        super().__init__()
        self._fn = fn
        self._cancel = cancel
        self._min_interval = min_interval
        self._last = 0.0
        self._ident: int | None = None
        """The worker's thread ident while ``run`` runs (None before and after), so that an
        interrupt never reaches another job's thread that reuses the ident."""
        self._ident_lock = threading.Lock()

    def interrupt_user_code(self) -> bool:
        """Stop the user's projection code if this job's work is inside it right now."""
        with self._ident_lock:
            return self._ident is not None and interrupt(self._ident)

    def _progress(self, done: int, total: int) -> bool:
        # Throttled so a reader calling this per record cannot flood the event loop.
        now = time.monotonic()
        if now - self._last >= self._min_interval or done >= total > 0:
            self._last = now
            self.progressed.emit(int(done), int(total))
        return not self._cancel.is_set()

    def run(self) -> None:
        with self._ident_lock:
            self._ident = threading.get_ident()
        try:
            result = self._fn(self._progress)
        except BaseException as exc:  # reported to the GUI thread, never lost
            self.raised.emit(exc)
        else:
            self.returned.emit(result)
        finally:
            with self._ident_lock:
                self._ident = None


class Job(QObject):
    """One piece of background work. Exactly one of succeeded / failed / cancelled fires,
    then ``finished``; all on the GUI thread."""

    progress = Signal(int, int)
    succeeded = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    finished = Signal()

    def __init__(
        self,
        fn: WorkFn,
        *,
        label: str = "",
        parent: QObject | None = None,
        min_interval: float = 0.05,
        dispose: Callable[[Any], None] | None = None,
    ) -> None:
        super().__init__(parent)
        self.label = label
        self._dispose = dispose
        """Called on the GUI thread with a result nobody wants (cancelled or stale work),
        so that, e.g., an opened workspace gets closed."""
        self._cancel = threading.Event()
        self._thread = _Thread(fn, self._cancel, min_interval)
        self._thread.progressed.connect(self._on_progress)
        self._thread.returned.connect(self._on_returned)
        self._thread.raised.connect(self._on_raised)
        self._thread.finished.connect(self._on_thread_finished)
        self._knock = QTimer(self)
        self._knock.setInterval(KNOCK_MS)
        self._knock.timeout.connect(self._thread.interrupt_user_code)
        self._outcome: tuple[str, Any] | None = None
        self._done = False
        _live.add(self)

    def start(self) -> Job:
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the work to stop; ``cancelled`` fires when its thread has ended. Projection
        code the work is running (or will run) is interrupted until then."""
        self._cancel.set()
        self._thread.interrupt_user_code()
        if (
            self._thread.isRunning()
            and not self._knock.isActive()
            and QThread.currentThread() is self.thread()  # a timer starts on its own thread
        ):
            self._knock.start()

    def is_running(self) -> bool:
        return self._thread.isRunning() or (self._thread.isFinished() and not self._done)

    def wait(self, msecs: int = 5000) -> bool:
        """Block until the thread ended (window closing, tests); True if it did. A cancelled
        job's projection code keeps being interrupted meanwhile (no timer runs here)."""
        if not self._cancel.is_set():
            return bool(self._thread.wait(msecs))
        deadline = time.monotonic() + msecs / 1000
        while True:
            self._thread.interrupt_user_code()
            left = deadline - time.monotonic()
            if self._thread.wait(max(0, min(KNOCK_MS, int(left * 1000)))):
                return True
            if left <= 0:
                return False

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        if not self._cancel.is_set():
            self.progress.emit(done, total)

    @Slot(object)
    def _on_returned(self, result: Any) -> None:
        self._outcome = ("ok", result)

    @Slot(object)
    def _on_raised(self, exc: Any) -> None:
        self._outcome = ("error", exc)

    @Slot()
    def _on_thread_finished(self) -> None:
        # QThread.finished arrives after the run() signals (same sender thread, queued in
        # order), so the outcome is known here.
        self._done = True
        self._knock.stop()
        outcome = self._outcome
        if self._cancel.is_set():
            if outcome is not None and outcome[0] == "ok" and self._dispose is not None:
                # Disposing of unwanted work must not hide the cancel.
                with contextlib.suppress(Exception):
                    self._dispose(outcome[1])
            self.cancelled.emit()
        elif outcome is None:
            self.failed.emit(RuntimeError(f"{self.label or 'background job'} ended silently"))
        elif outcome[0] == "ok":
            self.succeeded.emit(outcome[1])
        else:
            self.failed.emit(outcome[1])
        self.finished.emit()


class JobSlot(QObject):
    """At most one current job of a kind; older ones are cancelled and their results dropped."""

    changed = Signal()
    """A job started or ended (to show or hide progress widgets)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._current: Job | None = None
        self._retired: list[Job] = []

    @property
    def current(self) -> Job | None:
        return self._current

    def start(
        self, fn: WorkFn, *, label: str = "", dispose: Callable[[Any], None] | None = None
    ) -> Job:
        self.cancel()
        job = Job(fn, label=label, parent=self, dispose=dispose)
        self._current = job
        job.finished.connect(self._on_finished)
        job.start()
        self.changed.emit()
        return job

    def is_current(self, job: Job) -> bool:
        return job is self._current

    def cancel(self) -> None:
        job = self._current
        if job is not None:
            job.cancel()
            self._retired.append(job)
            self._current = None
            self.changed.emit()

    def shutdown(self, msecs: int = 5000) -> bool:
        """Cancel everything and wait for the threads (the window is closing)."""
        self.cancel()
        ok = True
        for job in list(self._retired):
            ok = job.wait(msecs) and ok
        return ok

    def _on_finished(self) -> None:
        job = self.sender()
        if job is self._current:
            self._current = None
            self.changed.emit()
        elif job in self._retired:
            self._retired.remove(job)
        if job is not None:
            job.deleteLater()
