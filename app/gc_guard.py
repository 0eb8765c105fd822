"""Garbage collection only on the GUI thread.

Python collects cycles in whichever thread happens to allocate when a threshold is crossed:
with an engine worker busy allocating, that is usually the worker. A collected cycle that
holds a Qt wrapper (a window closed a moment ago, a lambda connected to a widget) then
deletes a Qt object from the worker, which can deadlock against the GUI thread holding a Qt
lock while it waits for the interpreter lock. So the automatic collector is switched off and
the GUI thread collects on a timer instead, with CPython's own per-generation thresholds.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QTimer

_INTERVAL_MS = 250


class GuiCollector(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.collections = 0
        self._timer = QTimer(self)
        self._timer.setInterval(_INTERVAL_MS)
        self._timer.timeout.connect(self.tick)

    def start(self) -> GuiCollector:
        gc.disable()
        self._timer.start()
        return self

    def stop(self) -> None:
        """Back to Python's own collector (tests: the next ones expect it)."""
        self._timer.stop()
        gc.enable()

    def tick(self) -> None:
        """Collect the generations whose counts passed their thresholds (as CPython would)."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        for generation in (2, 1, 0):
            if thresholds[generation] and counts[generation] > thresholds[generation]:
                gc.collect(generation)
                self.collections += 1
                return


_installed: GuiCollector | None = None


def collect_on_gui_thread() -> GuiCollector:
    """Install once per process (the QApplication must exist)."""
    global _installed
    if _installed is None:
        app = QCoreApplication.instance()
        if app is None:
            raise RuntimeError("create the QApplication first")
        _installed = GuiCollector(app).start()
    return _installed
