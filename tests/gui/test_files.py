"""Opening files for real: the worker thread, progress, cancel, bad input, drag and drop.

These go through ``app.session.open_session`` (readers, workspace in tmp_path, engine), the
same path as the window's File > Open.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from app import gui as app_gui
from models.generator import generate
from views.main_window import MainWindow
from views.theme import Theme


@pytest.fixture
def window(qtbot: Any, settings: QSettings, tmp_path: Path) -> MainWindow:
    w = MainWindow(
        opener=app_gui.default_opener(str(tmp_path / "workspace.sqlite")),
        settings=settings,
        theme=Theme("light"),
    )
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.fixture
def small_log(tmp_path: Path) -> Path:
    path = tmp_path / "small.jsonl"
    generate(path, events=600)
    return path


def _open(qtbot: Any, w: MainWindow, path: Path) -> str:
    with qtbot.waitSignal(w.importFinished, timeout=30_000) as done:
        assert w.open_path(path) is not None
        assert w.progress.isVisible() and w.cancel_button.isVisible()
    return str(done.args[0])


def test_open_shows_the_log_and_remembers_it(
    window: MainWindow, qtbot: Any, small_log: Path
) -> None:
    w = window
    assert w.stack.currentWidget() is w.welcome
    assert _open(qtbot, w, small_log) == "opened"
    assert w.stack.currentWidget() is w.table
    assert w.table.event_model.rowCount() == 600
    assert w.windowTitle().endswith("small.jsonl")
    assert not w.progress.isVisible()
    assert app_gui.recent_files(w.settings)[0] == str(small_log.resolve())
    qtbot.keyClick(w.table, Qt.Key.Key_End)
    # (a move made while the worker looks for concurrency problems lands when it is done)
    qtbot.waitUntil(lambda: w.navigator.row == 599)
    qtbot.waitUntil(lambda: bool(w.inspector.visible_keys()))  # the state of a real import


def test_a_bad_file_shows_the_report_and_keeps_the_previous_log(
    window: MainWindow, qtbot: Any, small_log: Path, tmp_path: Path
) -> None:
    w = window
    _open(qtbot, w, small_log)
    w.navigator.go_to(42)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("this is not a log\nnor is this\n{truncated\n", encoding="utf-8")
    assert _open(qtbot, w, bad) == "failed"
    assert w.session is not None and w.session.name.endswith("small.jsonl")
    assert w.table.event_model.rowCount() == 600
    assert w.navigator.row == 42
    assert w.message_bar.isVisible() and "bad.jsonl" in w.message_bar.text()
    assert w.report_dock.isVisible()
    model = w.report.model
    assert model.rowCount() >= 1
    lines = {model.index(r, 1).data() for r in range(model.rowCount())}
    assert lines & {"1", "2", "3"}  # problems say where


def test_skipped_records_are_listed_with_line_numbers(
    window: MainWindow, qtbot: Any, small_log: Path, tmp_path: Path
) -> None:
    w = window
    lines = small_log.read_text(encoding="utf-8").splitlines()
    lines.insert(10, "{oops")  # line 11
    lines.insert(20, "[1, 2]")  # line 21: valid JSON, not an event
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert _open(qtbot, w, mixed) == "opened"
    assert w.table.event_model.rowCount() == 600
    assert w.report_dock.isVisible()
    model = w.report.model
    reported = {model.index(r, 1).data() for r in range(model.rowCount())}
    assert {"11", "21"} <= reported


def test_cancelling_an_import_keeps_the_previous_state(
    window: MainWindow, qtbot: Any, small_log: Path, tmp_path: Path
) -> None:
    w = window
    _open(qtbot, w, small_log)
    w.navigator.go_to(7)
    big = tmp_path / "big.jsonl"
    generate(big, events=30_000)
    responsive: list[bool] = []

    def on_progress(done: int, total: int) -> None:
        if responsive:
            return
        # The window answers while the import runs: step the open log, then cancel.
        job = w.jobs.current
        qtbot.keyClick(w.table, Qt.Key.Key_F10)
        responsive.append(job is not None and job.is_running() and w.navigator.row == 8)
        qtbot.mouseClick(w.cancel_button, Qt.MouseButton.LeftButton)

    with qtbot.waitSignal(w.importFinished, timeout=30_000) as done:
        job = w.open_path(big)
        assert job is not None
        job.progress.connect(on_progress)
    assert done.args == ["cancelled"]
    assert responsive == [True]
    assert w.session is not None and w.session.name.endswith("small.jsonl")
    assert w.table.event_model.rowCount() == 600
    assert w.navigator.row == 8
    assert not w.progress.isVisible()
    assert app_gui.recent_files(w.settings) == [str(small_log.resolve())]


def test_dropping_a_file_on_the_window_opens_it(
    window: MainWindow, qtbot: Any, small_log: Path
) -> None:
    w = window
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(small_log))])
    pos = QPoint(w.width() // 2, w.height() // 2)
    enter = QDragEnterEvent(
        pos,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(w, enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        QPointF(pos),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(w.importFinished, timeout=30_000) as done:
        QApplication.sendEvent(w, drop)
    assert done.args == ["opened"]
    assert w.table.event_model.rowCount() == 600


def test_an_unreadable_file_is_a_message_not_a_crash(
    window: MainWindow, qtbot: Any, small_log: Path, tmp_path: Path
) -> None:
    w = window
    _open(qtbot, w, small_log)
    corrupt = tmp_path / "corrupt.jsonl.gz"
    corrupt.write_bytes(b"\x1f\x8b" + b"not really gzip")
    assert _open(qtbot, w, corrupt) == "failed"
    assert "corrupt.jsonl.gz" in w.message_bar.text()
    assert "gzip" in w.message_bar.text()
    assert "small.jsonl stays open" in w.message_bar.text()
    assert w.session is not None and w.table.event_model.rowCount() == 600
