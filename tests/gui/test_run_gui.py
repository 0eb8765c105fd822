"""``run_gui(argv)``: the real entry point, on a log given on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from models.generator import generate
from views.gui import run_gui
from views.main_window import MainWindow


def test_run_gui_opens_the_log_from_the_command_line(qtbot: Any, tmp_path: Path) -> None:
    log = tmp_path / "cli.jsonl"
    generate(log, events=600)
    seen: dict[str, Any] = {}
    org, name = QCoreApplication.organizationName(), QCoreApplication.applicationName()

    def poll() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        if windows and windows[0].session is not None:
            w = windows[0]
            seen["rows"] = w.table.event_model.rowCount()
            seen["title"] = w.windowTitle()
            seen["settings"] = QSettings().fileName()
            timer.stop()
            w.close()  # the last window: the event loop ends and run_gui returns

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(20)
    try:
        code = run_gui([str(log), "--workspace", str(tmp_path / "ws.sqlite"), "--theme", "dark"])
    finally:
        timer.stop()
        QCoreApplication.setOrganizationName(org)
        QCoreApplication.setApplicationName(name)
    assert code == 0
    assert seen["rows"] == 600
    assert seen["title"] == "Rewind — cli.jsonl"
    assert str(Path.home()) not in seen["settings"] or "pytest" in seen["settings"]
