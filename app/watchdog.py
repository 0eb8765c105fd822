"""The window's thread never runs user projection code for long.

Seeks the inspector makes on the GUI thread run the user's handlers there; one stuck in a
loop would freeze the window for good, with no Cancel button to press. This watchdog (a
daemon thread) interrupts one call into user code that has run on the watched thread for
longer than ``limit`` seconds: the fold raises ``Cancelled`` and the view says so. Work on
the engine worker is not watched (its Cancel button interrupts it, see app.workers).
"""

from __future__ import annotations

import threading
import time

from replay_engine.api import interrupt, user_call


class Watchdog:
    def __init__(self, thread_id: int, limit: float = 3.0, poll: float = 0.25) -> None:
        self.thread_id = thread_id
        self.limit = limit
        self.poll = poll
        self.interrupted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gui-watchdog", daemon=True)

    def start(self) -> Watchdog:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        seen: int | None = None
        since = 0.0
        while not self._stop.wait(self.poll):
            call = user_call(self.thread_id)
            now = time.monotonic()
            if call is None or call != seen:
                seen, since = call, now
            elif now - since >= self.limit and interrupt(self.thread_id):
                self.interrupted += 1
                seen = None


_gui: Watchdog | None = None


def watch_gui_thread(limit: float = 3.0) -> Watchdog:
    """Start watching the calling (GUI) thread, once per process."""
    global _gui
    if _gui is None:
        _gui = Watchdog(threading.get_ident(), limit).start()
    return _gui
