"""``run_gui(argv) -> int``: the window on an optional log path (``main.py`` calls it).

It lives in ``views`` because it builds the main window; ``app.gui`` holds the Qt-side
application pieces it uses (arguments, QApplication, settings, the opener).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import TracebackType

from app import gui as app_gui
from app.gc_guard import collect_on_gui_thread
from app.qt_errors import error_reporter
from app.watchdog import watch_gui_thread
from views.main_window import MainWindow
from views.theme import Theme, app_icon


def _excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """Last line of defence: an exception that escaped a slot becomes a message in the
    window instead of a crash (PySide prints it and calls this hook)."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, exc, tb)
        return
    sys.__excepthook__(kind, exc, tb)
    error_reporter().report(exc.with_traceback(tb), "Unexpected error")


def run_gui(argv: Sequence[str]) -> int:
    """Open the window; ``argv`` excludes the program name: ``[LOG] [--workspace W]
    [--theme system|light|dark]``. Returns the exit code of the event loop."""
    options = app_gui.parse_args(argv)
    app = app_gui.make_application([])
    # The engine worker holds the interpreter lock while it folds; the window gets it back
    # within a millisecond instead of five, so it stays smooth during long replays.
    sys.setswitchinterval(0.001)
    watch_gui_thread()  # a user handler stuck on this thread is stopped after 3 s
    collect_on_gui_thread()  # never delete Qt objects from the engine worker
    app.setWindowIcon(app_icon())
    settings = app_gui.make_settings()
    theme = Theme(options.theme or str(settings.value("theme/mode", "system")))
    window = MainWindow(
        opener=app_gui.default_opener(options.workspace),
        settings=settings,
        theme=theme,
        demo_log=app_gui.DEMO_LOG,
    )
    previous_hook = sys.excepthook
    sys.excepthook = _excepthook
    try:
        window.show()
        if options.log is not None:
            window.open_path(options.log)
        return int(app.exec())
    finally:
        sys.excepthook = previous_hook
