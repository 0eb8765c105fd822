"""Breakpoints, watches, run forward/backward and "which events touched this?" in the
window, on the small shop log (cust-1's balance: 100 at row 0, 60 at row 3, 20 at row 5)."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtWidgets import QApplication

from replay_engine.breakpoints import Breakpoint
from tests.gui.shop import make_session
from tests.gui.test_window import _find, open_window
from views.main_window import MainWindow


def click_gutter(qtbot: Any, w: MainWindow, row: int) -> None:
    header = w.table.verticalHeader()
    w.table.scrollTo(w.table.event_model.index(row, 0))
    y = header.sectionViewportPosition(row) + header.sectionSize(row) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(8, y))


def run(qtbot: Any, w: MainWindow, key: str) -> None:
    """Press F5 or Shift+F5 in the table and wait for the search to end."""
    actions = w.debug_actions
    w.table.setFocus()
    mods = Qt.KeyboardModifier
    modifier = mods.ShiftModifier if key == "back" else mods.NoModifier
    with qtbot.waitSignal(actions.debugger.runningChanged, timeout=5000):
        qtbot.keyClick(w.table, Qt.Key.Key_F5, modifier)
    qtbot.waitUntil(lambda: not actions.debugger.running and not w.navigator.busy)


def test_gutter_breakpoints_and_running_both_ways(qtbot: Any, settings: QSettings) -> None:
    w = open_window(qtbot, settings, make_session())
    actions, nav = w.debug_actions, w.navigator
    model = w.table.event_model
    click_gutter(qtbot, w, 4)
    assert actions.debugger.breakpoints == [Breakpoint(event=4)]
    assert model.breakpoint_at(4) is True and model.breakpoint_at(3) is None
    assert model.headerData(4, Qt.Orientation.Vertical, Qt.ItemDataRole.DecorationRole)
    assert w.timeline.breakpoint_rows == [4]
    assert actions.breakpoints.tree.topLevelItem(0).text(0) == "event @4"

    nav.go_to(-1)
    run(qtbot, w, "forward")
    assert nav.row == 4
    assert "event @4" in w.message_bar.text()

    # a breakpoint on a type, through the dialog
    actions.new_breakpoint()
    dialog = actions.dialog
    assert dialog is not None
    qtbot.waitExposed(dialog)
    dialog.type_box.setCurrentText("BalanceDebited")
    dialog.condition_edit.setText("balance <")  # does not parse: the dialog says so
    dialog.accept()
    assert dialog.isVisible() and "column" in dialog.error.text()
    dialog.condition_edit.setText("balance < 50")
    dialog.accept()
    assert not dialog.isVisible()
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w)
    run(qtbot, w, "forward")
    assert nav.row == 5  # BalanceDebited to 20 (the one to 60 at row 3 is not < 50)
    run(qtbot, w, "back")
    assert nav.row == 4
    run(qtbot, w, "back")
    assert nav.row == 4 and "no breakpoint hit before" in w.message_bar.text()

    # disabled in the dock: no longer hit
    item = actions.breakpoints.tree.topLevelItem(0)
    item.setCheckState(0, Qt.CheckState.Unchecked)
    assert actions.debugger.breakpoints[0].enabled is False
    assert model.breakpoint_at(4) is False
    nav.go_to(-1)
    run(qtbot, w, "forward")
    assert nav.row == 5

    # F9 toggles the breakpoint of the current event; the list is saved with the session
    nav.go_to(7)
    qtbot.keyClick(w.table, Qt.Key.Key_F9)
    assert model.breakpoint_at(7) is True
    assert w.session is not None
    saved = w.session.debug_points()["breakpoints"]
    assert [b["event"] for b in saved] == [4, None, 7]


def test_a_condition_watch_breaks_running_backward_and_its_plot_matches_the_engine(
    qtbot: Any, settings: QSettings
) -> None:
    w = open_window(qtbot, settings, make_session())
    actions, nav = w.debug_actions, w.navigator
    panel = actions.watches
    engine = w.session.engine  # type: ignore[union-attr]
    nav.go_to(0)
    assert panel.scope.currentText() == "cust-1"  # the cursor's stream is offered first
    panel.expression.setText("data.balance < 50")
    panel.breaks.setChecked(True)
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    panel.expression.setText("data.balance")
    panel.breaks.setChecked(False)
    qtbot.keyClick(panel.expression, Qt.Key.Key_Return)
    assert [(x.expression, x.scope, x.breaks) for x in actions.debugger.watches] == [
        ("data.balance < 50", "cust-1", True),
        ("data.balance", "cust-1", False),
    ]

    nav.to_end()
    qtbot.waitUntil(lambda: panel.tree.topLevelItem(1).text(2) == "20")
    assert panel.tree.topLevelItem(0).text(2) == "true"
    run(qtbot, w, "back")
    assert nav.row == 5 and "became true" in w.message_bar.text()
    run(qtbot, w, "back")
    assert nav.row == 5  # it was never true before
    qtbot.waitUntil(lambda: panel.tree.topLevelItem(0).text(2) == "true")

    # the plot of the selected watch is the engine's values, step by step
    panel.tree.setCurrentItem(panel.tree.topLevelItem(1))
    qtbot.waitUntil(lambda: panel.line_data()[0].shape[0] == 5)
    x, y = panel.line_data()
    rows = engine.key_rows("main", "cust-1").tolist()
    assert x.tolist() == [-1, *rows]
    assert math.isnan(y[0])
    balances = [engine.substate_at("main", r, "cust-1")["data"]["balance"] for r in rows]
    assert y[1:].tolist() == balances
    assert panel.plot_title.text().startswith("data.balance of cust-1")


def test_which_events_touched_a_value_and_jump(qtbot: Any, settings: QSettings) -> None:
    w = open_window(qtbot, settings, make_session())
    actions, nav = w.debug_actions, w.navigator
    nav.go_to(7)
    qtbot.waitUntil(lambda: w.inspector.model.rowCount() > 0)
    index = _find(w.inspector.model, "cust-1", "data", "balance")
    w.inspector.tree.reveal(index)
    w.inspector.tree.setCurrentIndex(index)
    actions.touched_action.trigger()
    history = actions.history
    qtbot.waitUntil(lambda: history.tree.topLevelItemCount() == 3)
    cells = [[history.tree.topLevelItem(i).text(c) for c in (0, 2, 3, 4)] for i in range(3)]
    assert cells == [
        ["@0", "CustomerRegistered", "—", "100"],
        ["@3", "BalanceDebited", "100", "60"],
        ["@5", "BalanceDebited", "60", "20"],
    ]
    assert "changed by 3 events" in history.title.text()
    item = history.tree.topLevelItem(1)
    history.tree.itemActivated.emit(item, 0)
    assert nav.row == 3

    # "Watch this" turns the node into a watch of its stream
    w.inspector.tree.setCurrentIndex(_find(w.inspector.model, "cust-1", "data", "balance"))
    actions.watch_action.trigger()
    assert [(x.expression, x.scope) for x in actions.debugger.watches] == [
        ("data.balance", "cust-1")
    ]
    assert QApplication.activeModalWidget() is None


def test_a_breakpoint_from_the_timeline_menu(qtbot: Any, settings: QSettings) -> None:
    w = open_window(qtbot, settings, make_session())
    actions = w.branch_actions
    actions.timeline_menu(6, w.timeline.mapToGlobal(QPoint(40, 40)))
    menu = actions.last_menu
    assert menu is not None
    entry = next(a for a in menu.actions() if a.text() == "Set breakpoint here")
    entry.trigger()
    menu.close()
    assert w.debug_actions.debugger.breakpoints == [Breakpoint(event=6)]
    assert w.timeline.breakpoint_rows == [6]
    assert w.table.event_model.breakpoint_at(6) is True
    actions.timeline_menu(6, w.timeline.mapToGlobal(QPoint(40, 40)))
    menu = actions.last_menu
    assert menu is not None
    texts = [a.text() for a in menu.actions()]
    assert "Clear breakpoint" in texts and "Break on every OrderShipped…" in texts
    menu.close()
