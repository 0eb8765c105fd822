"""Helpers for the branch and compare GUI tests: open the window, wait for the engine's
worker, and do what a user does (right-click menus, dialogs, drag and drop)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import (
    QAction,
    QContextMenuEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
)
from PySide6.QtWidgets import QApplication, QMenu

from views.main_window import MainWindow
from views.theme import Theme


def _no_opener(path: Any, progress: Any) -> Any:
    raise AssertionError("this test does not open files")


def open_window(qtbot: Any, settings: QSettings, session: Any, opener: Any = None) -> MainWindow:
    w = MainWindow(opener=opener or _no_opener, settings=settings, theme=Theme("light"))
    qtbot.addWidget(w)
    w.resize(1500, 940)
    w.show()
    qtbot.waitExposed(w)
    if session is not None:
        w.set_session(session)
        idle(qtbot, w)
        focus_table(qtbot, w)
    return w


def idle(qtbot: Any, w: MainWindow, timeout: int = 10_000) -> None:
    """Wait until the engine's worker is done (edits, replays, comparisons, charts)."""
    qtbot.waitUntil(lambda: not w.engine_queue.busy and not w.navigator.busy, timeout=timeout)


def focus_table(qtbot: Any, w: MainWindow) -> None:
    """Keyboard shortcuts go to the focused widget of the active window: after a dialog
    closed, make the window active again, as the window manager would."""
    w.activateWindow()
    w.table.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is w.table)


def select(qtbot: Any, w: MainWindow, row: int) -> None:
    """Click a row (the one edits apply to) and give the table the keyboard."""
    index = w.table.event_model.index(row, 0)
    w.table.selectRow(row)
    w.table.setCurrentIndex(index)
    focus_table(qtbot, w)


def right_click_row(w: MainWindow, row: int) -> QMenu:
    """A right click on a table row, as the platform delivers it: a context menu event."""
    view = w.table
    pos = view.visualRect(view.event_model.index(row, 1)).center()
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, view.viewport().mapToGlobal(pos))
    QApplication.sendEvent(view.viewport(), event)
    menu: QMenu = w.branch_actions.last_menu
    assert menu.isVisible()
    return menu


def menu_action(menu: QMenu, text: str) -> QAction:
    for action in menu.actions():
        if action.text().replace("&", "") == text:
            return action
    raise AssertionError(f"no '{text}' in {[a.text() for a in menu.actions()]}")


def fork_from_menu(qtbot: Any, w: MainWindow, row: int, name: str, *, after: bool = False) -> None:
    menu = right_click_row(w, row)
    menu_action(menu, "Fork here…").trigger()
    menu.close()
    dialog = w.branch_actions.fork_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.name_edit.clear()
    qtbot.keyClicks(dialog.name_edit, name)
    if after:
        dialog.after.setChecked(True)
    qtbot.mouseClick(
        dialog.buttons.button(dialog.buttons.StandardButton.Ok), Qt.MouseButton.LeftButton
    )
    qtbot.waitUntil(lambda: w.navigator.branch == name)
    idle(qtbot, w)
    focus_table(qtbot, w)


def drag_row(w: MainWindow, source: int, target: int, *, below: bool = True) -> None:
    """Drag the row ``source`` onto the lower (or upper) half of row ``target``."""
    view = w.table
    model = view.event_model
    mime: QMimeData = model.mimeData([model.index(source, 0)])
    rect = view.visualRect(model.index(target, 1))
    y = rect.bottom() - 2 if below else rect.top() + 2
    pos = QPointF(QPoint(rect.center().x(), y))
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    action = Qt.DropAction.MoveAction
    enter = QDragEnterEvent(pos.toPoint(), action, mime, buttons, mods)
    QApplication.sendEvent(view.viewport(), enter)
    assert enter.isAccepted()
    move = QDragMoveEvent(pos.toPoint(), action, mime, buttons, mods)
    QApplication.sendEvent(view.viewport(), move)
    drop = QDropEvent(pos, action, mime, buttons, mods)
    QApplication.sendEvent(view.viewport(), drop)
    assert drop.isAccepted()


def row_keys(w: MainWindow) -> list[int]:
    return [int(k) for k in w.navigator.rows.keys]
