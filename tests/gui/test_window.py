"""The window driven like a user: keys, clicks, drags; asserting what is on screen."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QEvent, QModelIndex, QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QColor, QGuiApplication, QMouseEvent, QPalette
from PySide6.QtWidgets import QApplication

from app.qt_models import ChangeRole, EventTableModel, StateTreeModel
from app.session import Session
from models.event import Event
from models.log import MemoryLog
from tests.gui.shop import make_session, shop_events
from views.main_window import MainWindow
from views.theme import Theme


def _opener_unused(path: Any, progress: Any) -> Any:
    raise AssertionError("these tests do not open files")


def open_window(qtbot: Any, settings: QSettings, session: Any) -> MainWindow:
    w = MainWindow(opener=_opener_unused, settings=settings, theme=Theme("light"))
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    w.set_session(session)
    w.activateWindow()
    w.table.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is w.table)
    return w


@pytest.fixture
def window(qtbot: Any, settings: QSettings) -> MainWindow:
    return open_window(qtbot, settings, make_session())


def _highlighted_rows(w: MainWindow) -> list[int]:
    """Rows the table paints with the current-row background."""
    model = w.table.event_model
    bg = w.theme.colors.current_bg
    return [
        r
        for r in range(model.rowCount())
        if model.index(r, 0).data(Qt.ItemDataRole.BackgroundRole) == bg
    ]


def _state_keys(w: MainWindow) -> list[str]:
    return w.inspector.visible_keys()


def _find(model: StateTreeModel, *path: str) -> Any:
    """The row showing ``path``, found the way a user would: by its label, level by level."""
    index = QModelIndex()
    for key in path:
        if model.canFetchMore(index):
            model.fetchMore(index)
        rows = [model.index(r, 0, index) for r in range(model.rowCount(index))]
        found = [i for i in rows if i.data() == key]
        assert found, f"{key} not shown under {path}"
        index = found[0]
    return index


def test_opening_a_session_fills_every_pane(window: MainWindow) -> None:
    w = window
    assert w.stack.currentWidget() is w.table
    assert w.table.event_model.rowCount() == len(shop_events())
    assert w.timeline.lay is not None
    assert w.timeline.lay.lane_names == ["cust", "order", "pay"]
    assert w.timeline.marks_drawn > 0
    assert w.windowTitle() == "Rewind — shop-test.jsonl"
    assert w.inspector.title.text().startswith("Initial state")
    assert _state_keys(w) == []
    assert "Initial state" in w.position_label.text()


def test_event_table_model_passes_the_model_tester(window: MainWindow, qtmodeltester: Any) -> None:
    qtmodeltester.check(window.table.event_model)
    m = window.table.event_model
    assert m.index(2, EventTableModel.TYPE).data() == "PaymentCharged"
    assert m.index(2, EventTableModel.STREAM).data() == "pay-1"
    assert m.index(2, EventTableModel.SUMMARY).data() == "order=order-1  amount=40"
    assert m.index(2, EventTableModel.POS).data() == "@2"


def test_stepping_moves_the_highlight_the_cursor_and_the_state(
    window: MainWindow, qtbot: Any
) -> None:
    w = window
    lay = w.timeline.lay
    assert lay is not None
    qtbot.keyClick(w.table, Qt.Key.Key_F10)
    assert w.navigator.row == 0
    assert _highlighted_rows(w) == [0]
    assert w.table.currentIndex().row() == 0
    assert w.timeline.cursor_x() == pytest.approx(lay.x_of_row(0))
    assert _state_keys(w) == ["cust-1"]
    cust = _find(w.inspector.model, "cust-1")
    assert cust.data(ChangeRole) == "added"

    for _ in range(3):
        qtbot.keyClick(w.table, Qt.Key.Key_F10)
    assert w.navigator.row == 3
    assert _highlighted_rows(w) == [3]
    assert w.timeline.cursor_x() == pytest.approx(lay.x_of_row(3))
    assert _state_keys(w) == ["cust-1", "order-1", "pay-1"]
    balance = _find(w.inspector.model, "cust-1", "data", "balance")
    assert balance.data(ChangeRole) == "changed"
    model = w.inspector.model
    assert model.index(balance.row(), StateTreeModel.VALUE, balance.parent()).data() == "60"
    assert model.index(balance.row(), StateTreeModel.PREVIOUS, balance.parent()).data() == "100"
    # the change is opened up in the view, like a debugger's changed variables
    assert w.inspector.tree.isExpanded(balance.parent())

    qtbot.keyClick(w.table, Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)
    assert w.navigator.row == 2
    assert _highlighted_rows(w) == [2]
    balance = _find(w.inspector.model, "cust-1", "data", "balance")
    assert model.index(balance.row(), StateTreeModel.VALUE, balance.parent()).data() == "100"
    assert w.detail.heading.text().startswith("@2  PaymentCharged")


def test_home_end_and_the_history_of_jumps(window: MainWindow, qtbot: Any) -> None:
    w = window
    n = len(shop_events())
    qtbot.keyClick(w.table, Qt.Key.Key_F10)
    qtbot.keyClick(w.table, Qt.Key.Key_End)
    assert w.navigator.row == n - 1
    assert _highlighted_rows(w) == [n - 1]
    assert w.history_back_action.isEnabled()
    qtbot.keyClick(w.table, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert w.navigator.row == 0
    qtbot.keyClick(w.table, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert w.navigator.row == n - 1
    qtbot.keyClick(w.table, Qt.Key.Key_Home)
    assert w.navigator.row == -1
    assert _highlighted_rows(w) == []
    assert not w.start_action.isEnabled()


def test_double_click_and_enter_jump_to_a_row(window: MainWindow, qtbot: Any) -> None:
    w = window
    table = w.table
    rect = table.visualRect(table.event_model.index(5, EventTableModel.TYPE))
    # A real double-click is press, release, then the double-click press: QTest sends only
    # the last part, and the view wants to have seen the first press on the same cell.
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert w.navigator.row == -1  # a single click only selects
    qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert w.navigator.row == 5
    assert _highlighted_rows(w) == [5]
    table.setCurrentIndex(table.event_model.index(9, 0))
    qtbot.keyClick(table, Qt.Key.Key_Return)
    assert w.navigator.row == 9
    qtbot.keyClick(table, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert w.navigator.row == 5  # jumps are recorded


def _drag(widget: Any, points: list[QPoint]) -> None:
    """Press, move with the button held, release: QTest cannot hold a button while moving."""
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton

    def send(kind: QEvent.Type, p: QPoint, button: Qt.MouseButton, buttons: Any) -> None:
        local = QPointF(p)
        glob = QPointF(widget.mapToGlobal(p))
        ev = QMouseEvent(kind, local, glob, button, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(widget, ev)

    send(QEvent.Type.MouseButtonPress, points[0], left, left)
    for p in points[1:]:
        send(QEvent.Type.MouseMove, p, none, left)
    send(QEvent.Type.MouseButtonRelease, points[-1], left, none)


def test_dragging_the_cursor_moves_the_position(window: MainWindow, qtbot: Any) -> None:
    w = window
    tl = w.timeline
    lay = tl.lay
    assert lay is not None
    tl.mode_box.setCurrentIndex(tl.mode_box.findData("position"))
    lay = tl.lay
    assert lay is not None and lay.mode == "position"
    qtbot.keyClick(w.table, Qt.Key.Key_F10)
    qtbot.waitUntil(lambda: tl.marks_drawn > 0)
    view = tl.plot

    def to_pixel(x: float) -> QPoint:
        scene = tl.viewbox.mapViewToScene(QPointF(x, 1.0))
        return view.mapFromScene(scene)

    start = to_pixel(lay.x_of_row(0))
    target_row = 12
    end = to_pixel(lay.x_of_row(target_row))
    steps = [start + (end - start) * (i / 6) for i in range(7)]
    _drag(view.viewport(), [QPoint(round(p.x()), round(p.y())) for p in steps])
    assert w.navigator.row == target_row
    assert _highlighted_rows(w) == [target_row]
    assert tl.cursor_x() == pytest.approx(lay.x_of_row(target_row))
    assert w.inspector.title.text().startswith(f"State after @{target_row}")
    qtbot.keyClick(w.table, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert w.navigator.row == 0  # the drag is one jump in the history


def test_timeline_keyboard_zoom_and_fit(window: MainWindow, qtbot: Any) -> None:
    tl = window.timeline
    x0, x1 = tl.x_range()
    tl.setFocus()
    qtbot.keyClick(tl, Qt.Key.Key_Plus)
    z0, z1 = tl.x_range()
    assert z1 - z0 == pytest.approx((x1 - x0) / 2, rel=0.01)
    qtbot.keyClick(tl, Qt.Key.Key_Right)
    p0, _ = tl.x_range()
    assert p0 > z0
    qtbot.keyClick(tl, Qt.Key.Key_0)
    assert tl.x_range() == pytest.approx((x0, x1))


def test_lanes_by_event_type(window: MainWindow) -> None:
    tl = window.timeline
    tl.lanes_box.setCurrentIndex(tl.lanes_box.findData("type"))
    assert tl.lay is not None
    assert "PaymentCharged" in tl.lay.lane_names
    assert tl.lane_axis.names == tl.lay.lane_names


def test_filter_hides_rows(window: MainWindow, qtbot: Any) -> None:
    w = window
    qtbot.keyClick(w.table, Qt.Key.Key_End)
    assert len(_state_keys(w)) == 6
    qtbot.keyClicks(w.inspector.filter, "order")
    qtbot.waitUntil(lambda: _state_keys(w) == ["order-1", "pay-1"])  # key, or value inside
    w.inspector.filter.clear()
    qtbot.waitUntil(lambda: len(_state_keys(w)) == 6)
    qtbot.keyClicks(w.inspector.filter, "DHL")
    qtbot.waitUntil(lambda: _state_keys(w) == ["order-1"])


def test_copy_path_and_value(window: MainWindow, qtbot: Any) -> None:
    w = window
    for _ in range(4):
        qtbot.keyClick(w.table, Qt.Key.Key_F10)
    tree = w.inspector.tree
    balance = _find(w.inspector.model, "cust-1", "data", "balance")
    tree.setCurrentIndex(balance)
    tree.setFocus()
    qtbot.keyClick(tree, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == "60"
    qtbot.keyClick(
        tree, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    assert QGuiApplication.clipboard().text() == "cust-1.data.balance"


def test_causation_and_correlation_links_jump(window: MainWindow, qtbot: Any) -> None:
    w = window
    w.navigator.go_to(5)
    assert w.detail.causation.text() == "evt-4"
    qtbot.mouseClick(w.detail.causation, Qt.MouseButton.LeftButton)
    assert w.navigator.row == 4
    assert _highlighted_rows(w) == [4]
    qtbot.mouseClick(w.detail.correlation, Qt.MouseButton.LeftButton)
    assert w.navigator.row == 1
    assert w.detail.heading.text().startswith("@1  OrderPlaced")
    assert not w.detail.causation.isEnabled()  # @1 has no cause
    assert "Lag" in w.detail.fields and w.detail.fields["Lag"].text() == "+3.0 ms"
    assert '"event_id": "evt-1"' in w.detail.json.toPlainText()


def test_play_advances_until_the_end(window: MainWindow, qtbot: Any) -> None:
    w = window
    w.speed_box.setCurrentIndex(w.speed_box.findData(1000))
    with qtbot.waitSignal(w.player.playingChanged) as started:
        qtbot.keyClick(w.table, Qt.Key.Key_Space)
    assert started.args == [True]
    assert w.play_action.text() == "&Pause"
    qtbot.waitUntil(lambda: not w.player.is_playing(), timeout=5000)
    assert w.navigator.row == len(shop_events()) - 1
    assert _highlighted_rows(w) == [w.navigator.row]
    assert w.play_action.text() == "&Play"


def test_go_to_dialog(window: MainWindow, qtbot: Any) -> None:
    w = window
    qtbot.keyClick(w.table, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    dialog = w.goto_dialog
    qtbot.waitExposed(dialog)
    qtbot.keyClicks(dialog.input, "nonsense")
    qtbot.keyClick(dialog.input, Qt.Key.Key_Return)
    assert dialog.isVisible() and "nonsense" in dialog.error.text()
    dialog.input.clear()
    qtbot.keyClicks(dialog.input, "@6")
    qtbot.keyClick(dialog.input, Qt.Key.Key_Return)
    assert w.navigator.row == 6
    # a time: the first event recorded at or after it (after the idle gap)
    qtbot.keyClick(w.table, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    dialog = w.goto_dialog
    qtbot.keyClicks(dialog.input, "2025-03-03T12:00:00Z")
    qtbot.keyClick(dialog.input, Qt.Key.Key_Return)
    assert w.navigator.row == 8
    qtbot.keyClick(w.table, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(w.goto_dialog.input, "evt-3")
    qtbot.keyClick(w.goto_dialog.input, Qt.Key.Key_Return)
    assert w.navigator.row == 3
    # the state as of a time: the last event recorded (or processed) at or before it
    for mode, row in (("as_of", 3), ("as_of_processed", 2)):
        qtbot.keyClick(w.table, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
        dialog = w.goto_dialog
        dialog.time_mode.setCurrentIndex(dialog.time_mode.findData(mode))
        qtbot.keyClicks(dialog.input, "2025-03-03T11:06:43.004Z")  # row 3 processed 2 ms later
        qtbot.keyClick(dialog.input, Qt.Key.Key_Return)
        assert w.navigator.row == row, mode
    qtbot.keyClick(w.table, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    w.goto_dialog.time_mode.setCurrentIndex(1)
    qtbot.keyClicks(w.goto_dialog.input, "2020-01-01T00:00:00Z")
    qtbot.keyClick(w.goto_dialog.input, Qt.Key.Key_Return)
    assert w.navigator.row == -1  # before anything happened: the initial state


def test_dark_scheme(window: MainWindow) -> None:
    w = window
    w.set_theme("dark")
    window_color = QApplication.palette().color(QPalette.ColorRole.Window)
    assert window_color.lightness() < 80
    assert w.timeline.plot.backgroundBrush().color() == w.theme.colors.base
    assert not w.step_action.icon().isNull()
    assert w.theme.colors.current_bg != QColor("#ffe58a")
    w.set_theme("light")
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() > 200


class FragileProjection:
    """A user projection with a bug: it cannot handle renames."""

    name = "fragile"

    def key(self, event: Any) -> str:
        return str(event.stream)

    def initial_substate(self) -> dict[str, Any]:
        return {}

    def apply_substate(self, substate: dict[str, Any], event: Any) -> dict[str, Any]:
        if event.type == "CustomerRenamed":
            raise ValueError("renames are not supported")
        return {**substate, **(event.data or {})}


def test_a_failing_projection_is_reported_in_the_window(qtbot: Any, settings: QSettings) -> None:
    w = open_window(qtbot, settings, make_session(projection=FragileProjection()))
    w.navigator.go_to(6)
    assert w.inspector.error.isHidden()
    assert "cust-1" in _state_keys(w)
    qtbot.keyClick(w.table, Qt.Key.Key_F10)  # onto the rename
    assert w.navigator.row == 7
    qtbot.waitUntil(lambda: w.inspector.error.isVisible())
    assert "renames are not supported" in w.inspector.error.text()
    assert "@7" in w.inspector.error.text()
    qtbot.keyClick(w.table, Qt.Key.Key_F10)  # later states of that stream fail too, shown
    qtbot.waitUntil(lambda: "renames are not supported" in w.inspector.error.text())
    qtbot.keyClick(w.table, Qt.Key.Key_Home)  # and the app lives on
    assert w.navigator.row == -1
    qtbot.keyClick(w.table, Qt.Key.Key_F10)
    assert w.inspector.error.isHidden()
    assert _state_keys(w) == ["cust-1"]


def test_state_keys_match_the_engine_in_any_order_of_moves(window: MainWindow, qtbot: Any) -> None:
    w = window
    engine = w.navigator.engine
    for row in (19, 3, 0, 12, 8, 19, -1, 5):
        w.navigator.go_to(row)
        expected = list(engine.state_at("main", row))
        assert _state_keys(w) == expected, row


def test_the_window_follows_the_system_colour_scheme(qtbot: Any, settings: QSettings) -> None:
    w = MainWindow(opener=_opener_unused, settings=settings, theme=Theme("system"))
    qtbot.addWidget(w)
    hints = QGuiApplication.styleHints()
    # What the platform integration sends when the user switches the desktop to dark.
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert w.theme.colors.dark
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 80
    assert w.timeline.plot.backgroundBrush().color() == w.theme.colors.base
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert not w.theme.colors.dark
    w.set_theme("dark")  # an explicit choice wins over the system's
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert w.theme.colors.dark
    w.set_theme("light")


class CountingLog(MemoryLog):
    """Records which payload ranges the window reads."""

    def __init__(self, events: list[Event]) -> None:
        super().__init__(events)
        self.reads: list[tuple[int, int]] = []

    def events(self, start: int, stop: int) -> list[Event]:
        self.reads.append((start, stop))
        return super().events(start, stop)


def test_the_table_reads_payloads_only_for_what_is_on_screen(
    qtbot: Any, settings: QSettings
) -> None:
    from replay_engine.engine import Engine
    from replay_engine.generic import GenericProjection

    n = 20_000
    events = [
        Event(key=i, pos=i, event_id=f"e{i}", stream=f"s-{i % 7}", type="T", data={"i": i})
        for i in range(n)
    ]
    log = CountingLog(events)
    session = Session(name="big", log=log, engine=Engine(log, GenericProjection()))
    w = open_window(qtbot, settings, session)
    qtbot.keyClick(w.table, Qt.Key.Key_End)
    w.table.viewport().repaint()
    model = w.table.event_model
    assert model.index(n - 1, EventTableModel.SUMMARY).data() == f"i={n - 1}"
    read = sum(stop - start for start, stop in log.reads)
    assert 0 < read <= 4 * EventTableModel.CHUNK  # the first screen and the last one
    assert all(stop - start <= EventTableModel.CHUNK for start, stop in log.reads)
