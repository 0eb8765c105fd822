"""The Breakpoints, Watches and Value history docks, and the Debug menu.

Run forward (F5) and run backward (Shift+F5) go to the nearest hit of an enabled breakpoint
or breaking watch; F9 toggles a breakpoint on the current event (so does a click in the event
table's gutter, or the event menu of the table and the timeline).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.debugging import Debugger, format_value
from app.qt_errors import guarded
from models.event import format_key
from replay_engine.breakpoints import ANY, Breakpoint, ExpressionError, Touch, Watch
from views.metric_chart import step_points
from views.theme import Theme

if TYPE_CHECKING:
    from views.main_window import MainWindow


class BreakpointDialog(QDialog):
    """A breakpoint on event fields: type and stream globs, a condition on the payload."""

    def __init__(self, debugger: Debugger, types: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("breakpointDialog")
        self.setWindowTitle("New breakpoint")
        self._debugger = debugger
        self.type_box = QComboBox()
        self.type_box.setObjectName("breakpointType")
        self.type_box.setEditable(True)
        self.type_box.addItems(["", *types])
        self.type_box.lineEdit().setPlaceholderText("any type — or a glob such as Order*")
        self.stream_edit = QLineEdit()
        self.stream_edit.setObjectName("breakpointStream")
        self.stream_edit.setPlaceholderText("any stream — or a glob such as customer-*")
        self.condition_edit = QLineEdit()
        self.condition_edit.setObjectName("breakpointCondition")
        self.condition_edit.setPlaceholderText("on the payload, e.g. total > 100 (JMESPath)")
        self.error = QLabel()
        self.error.setObjectName("breakpointError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b;")
        form = QFormLayout()
        form.addRow("Event &type", self.type_box)
        form.addRow("&Stream", self.stream_edit)
        form.addRow("&Condition", self.condition_edit)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(460, 0)

    def breakpoint(self) -> Breakpoint:
        def text(value: str) -> str | None:
            return value.strip() or None

        return Breakpoint(
            type=text(self.type_box.currentText()),
            stream=text(self.stream_edit.text()),
            condition=text(self.condition_edit.text()),
        )

    def accept(self) -> None:
        try:
            self._debugger.add_breakpoint(self.breakpoint())
        except ExpressionError as error:
            self.error.setText(str(error))
            self.condition_edit.setFocus()
            return
        super().accept()


class BreakpointsPanel(QWidget):
    def __init__(self, debugger: Debugger, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("breakpointsPanel")
        self._debugger = debugger
        self.tree = QTreeWidget()
        self.tree.setObjectName("breakpointList")
        self.tree.setHeaderLabels(["Breakpoint"])
        self.tree.setRootIsDecorated(False)
        self.tree.itemChanged.connect(self._on_item_changed)
        self.tree.itemDoubleClicked.connect(self._on_double_clicked)
        self.add_button = QPushButton("Add…")
        self.add_button.setObjectName("addBreakpoint")
        self.add_button.setToolTip("A breakpoint on a type, a stream or a payload condition")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("removeBreakpoint")
        self.remove_button.clicked.connect(self.remove_selected)
        self.back_button = QPushButton("◀ Run back")
        self.back_button.setObjectName("runBackwardButton")
        self.forward_button = QPushButton("Run ▶")
        self.forward_button.setObjectName("runForwardButton")
        edit = QHBoxLayout()
        edit.addWidget(self.add_button)
        edit.addWidget(self.remove_button)
        edit.addStretch(1)
        running = QHBoxLayout()
        running.addWidget(self.back_button)
        running.addWidget(self.forward_button)
        running.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tree)
        layout.addLayout(edit)
        layout.addLayout(running)
        debugger.changed.connect(self.refill)
        self.jump_to_key: Any = None
        """Set by the actions: jump to an event breakpoint's event on double-click."""
        self.refill()

    def refill(self) -> None:
        self.tree.blockSignals(True)
        try:
            self.tree.clear()
            for i, b in enumerate(self._debugger.breakpoints):
                item = QTreeWidgetItem([b.describe()])
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(
                    0, Qt.CheckState.Checked if b.enabled else Qt.CheckState.Unchecked
                )
                item.setData(0, Qt.ItemDataRole.UserRole, i)
                item.setToolTip(0, "Untick to keep it without stopping there")
                self.tree.addTopLevelItem(item)
        finally:
            self.tree.blockSignals(False)
        self.remove_button.setEnabled(bool(self._debugger.breakpoints))

    @guarded("Breakpoints")
    def _on_item_changed(self, item: QTreeWidgetItem, _column: int) -> None:
        i = int(item.data(0, Qt.ItemDataRole.UserRole))
        self._debugger.set_breakpoint_enabled(i, item.checkState(0) == Qt.CheckState.Checked)

    def _on_double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        b = self._debugger.breakpoints[int(item.data(0, Qt.ItemDataRole.UserRole))]
        if b.event is not None and self.jump_to_key is not None:
            self.jump_to_key(b.event)

    @guarded("Breakpoints")
    def remove_selected(self) -> None:
        item = self.tree.currentItem()
        if item is not None:
            self._debugger.remove_breakpoint(int(item.data(0, Qt.ItemDataRole.UserRole)))


class WatchesPanel(QWidget):
    """Watches with their value at the cursor; the selected one plotted along the events."""

    def __init__(self, window: MainWindow, debugger: Debugger, theme: Theme) -> None:
        super().__init__()
        self.setObjectName("watchesPanel")
        self.w = window
        self._debugger = debugger
        self._theme = theme
        self.expression = QLineEdit()
        self.expression.setObjectName("watchExpression")
        self.expression.setPlaceholderText("JMESPath over the state, e.g. balance_eur < 0")
        self.expression.returnPressed.connect(self.add_from_inputs)
        self.scope = QComboBox()
        self.scope.setObjectName("watchScope")
        self.scope.setEditable(True)
        self.scope.setMinimumContentsLength(10)
        self.scope.setToolTip(
            "Whose substate the watch reads: a key (stream), or * for the key of each event"
        )
        self.breaks = QCheckBox("Break when true")
        self.breaks.setObjectName("watchBreaks")
        self.breaks.setToolTip("Run forward/backward stops where the condition becomes true")
        self.add_button = QPushButton("Watch")
        self.add_button.setObjectName("addWatch")
        self.add_button.clicked.connect(self.add_from_inputs)
        self.error = QLabel()
        self.error.setObjectName("watchError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b;")
        self.error.hide()
        self.tree = QTreeWidget()
        self.tree.setObjectName("watchList")
        self.tree.setHeaderLabels(["Watch", "In", "Value", "Breaks"])
        self.tree.setRootIsDecorated(False)
        self.tree.setColumnWidth(0, 170)
        self.tree.setColumnWidth(1, 110)
        self.tree.setColumnWidth(2, 120)
        self.tree.itemChanged.connect(self._on_item_changed)
        self.tree.currentItemChanged.connect(lambda *_: self.plot_selected())
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._menu)
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("watchPlot")
        self.plot.setMinimumHeight(120)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setLabel("bottom", "row")
        self.curve = self.plot.plot([], [])
        self.cursor = pg.InfiniteLine(angle=90, movable=False)
        self.plot.addItem(self.cursor, ignoreBounds=True)
        self.plot.scene().sigMouseClicked.connect(self._on_plot_clicked)
        self.plot_title = QLabel()
        self.plot_title.setObjectName("watchPlotTitle")
        self.plotted: tuple[Watch, str | None] | None = None
        self.plot_x = np.zeros(0)
        self.plot_y = np.zeros(0)
        inputs = QHBoxLayout()
        inputs.addWidget(self.expression, 1)
        inputs.addWidget(self.add_button)
        options = QHBoxLayout()
        options.addWidget(QLabel("in"))
        options.addWidget(self.scope, 1)
        options.addWidget(self.breaks)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(inputs)
        layout.addLayout(options)
        layout.addWidget(self.error)
        layout.addWidget(self.tree, 2)
        layout.addWidget(self.plot_title)
        layout.addWidget(self.plot, 3)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(0)
        self._refresh_timer.timeout.connect(self.refresh_values)
        nav = window.navigator
        nav.positionChanged.connect(self._on_position)
        nav.sessionChanged.connect(self._on_session)
        nav.busyChanged.connect(lambda busy: None if busy else self._refresh_timer.start())
        debugger.changed.connect(self.refill)
        theme.changed.connect(self._apply_theme)
        self._apply_theme()
        self.refill()

    def _apply_theme(self) -> None:
        c = self._theme.colors
        self.plot.setBackground(c.base)
        self.curve.setPen(pg.mkPen(c.series[0], width=2))
        self.cursor.setPen(pg.mkPen(c.cursor, width=1))

    # --- list ---------------------------------------------------------------------------

    def _on_session(self) -> None:
        self._update_scopes()
        self.plotted = None
        self.curve.setData([], [])

    def _update_scopes(self) -> None:
        """Offer the cursor's stream and ANY; what the user typed stays."""
        typed = self.scope.currentText()
        offered = [self.scope.itemText(i) for i in range(self.scope.count())]
        scopes = self._debugger.scopes()
        if scopes == offered:
            return
        self.scope.clear()
        self.scope.addItems(scopes)
        if typed and typed not in offered:
            self.scope.setCurrentText(typed)
        self.scope.setEnabled(bool(scopes))

    @guarded("Watches")
    def add_from_inputs(self) -> None:
        text = self.expression.text().strip()
        scope: str | None = self.scope.currentText().strip() or None
        if not self.scope.isEnabled():
            scope = None
        elif scope is None:
            scope = ANY
        try:
            self._debugger.add_watch(Watch(text, scope, self.breaks.isChecked()))
        except ExpressionError as error:
            self.error.setText(str(error))
            self.error.show()
            return
        self.error.hide()
        self.expression.clear()
        self.tree.setCurrentItem(self.tree.topLevelItem(self.tree.topLevelItemCount() - 1))

    def refill(self) -> None:
        current = self.tree.currentIndex().row()
        self.tree.blockSignals(True)
        try:
            self.tree.clear()
            for i, w in enumerate(self._debugger.watches):
                item = QTreeWidgetItem([w.expression, w.scope or "state", "", ""])
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(
                    3, Qt.CheckState.Checked if w.breaks else Qt.CheckState.Unchecked
                )
                item.setData(0, Qt.ItemDataRole.UserRole, i)
                item.setToolTip(3, "Stop run forward/backward where this becomes true")
                self.tree.addTopLevelItem(item)
        finally:
            self.tree.blockSignals(False)
        count = self.tree.topLevelItemCount()
        if count:
            self.tree.setCurrentItem(self.tree.topLevelItem(min(max(current, 0), count - 1)))
        self.refresh_values()
        self.plot_selected()

    @guarded("Watches")
    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if column == 3:
            i = int(item.data(0, Qt.ItemDataRole.UserRole))
            self._debugger.update_watch(i, breaks=item.checkState(3) == Qt.CheckState.Checked)

    def _menu(self, pos: Any) -> None:
        item = self.tree.itemAt(pos)
        if item is None:
            return
        i = int(item.data(0, Qt.ItemDataRole.UserRole))
        menu = QMenu(self)
        menu.addAction("Remove watch", lambda: self._debugger.remove_watch(i))
        menu.popup(self.tree.viewport().mapToGlobal(pos))

    def _on_position(self, _row: int) -> None:
        self._refresh_timer.start()
        if not self.w.navigator.busy:
            self._update_scopes()

    @guarded("Watches")
    def refresh_values(self) -> None:
        nav = self.w.navigator
        if nav.busy or nav.session is None:
            return
        values = self._debugger.values(nav.row)
        for i, value in enumerate(values):
            item = self.tree.topLevelItem(i)
            if item is None:
                continue
            item.setText(2, format_value(value))
            item.setToolTip(2, format_value(value, 4000))
        self._move_cursor()
        w = self.selected()
        if (
            w is not None
            and w.scope == ANY
            and self.plotted is not None
            and self._debugger.scope_for(w, nav.row) != self.plotted[1]
        ):
            self.plot_selected()

    # --- plot ---------------------------------------------------------------------------

    def selected(self) -> Watch | None:
        item = self.tree.currentItem()
        if item is None:
            return None
        i = int(item.data(0, Qt.ItemDataRole.UserRole))
        return self._debugger.watches[i] if i < len(self._debugger.watches) else None

    @guarded("Watch plot")
    def plot_selected(self) -> None:
        w = self.selected()
        nav = self.w.navigator
        if w is None or nav.session is None:
            self.curve.setData([], [])
            self.plot_title.setText("")
            self.plotted = None
            return
        key = None
        if w.scope == ANY:
            key = self._debugger.scope_for(w, max(nav.row, 0)) if nav.count else None
            if key is None:
                self.plot_title.setText(f"{w.expression}: no event at the cursor to follow")
                self.curve.setData([], [])
                return
        elif w.scope is not None:
            key = w.scope
        if self.plotted == (w, key):
            return
        self.plotted = (w, key)
        where = f" of {key}" if key is not None else ""
        follow = " (the cursor's stream)" if w.scope == ANY else ""
        self.plot_title.setText(f"{w.expression}{where}{follow} along the events")
        end = nav.count - 1

        def show(x: np.ndarray, y: np.ndarray) -> None:
            if self.plotted != (w, key):
                return
            self.plot_x, self.plot_y = x, y
            xs, ys = step_points(x, y, end)
            self.curve.setData(xs, ys, connect="finite")
            if np.isnan(y).all():
                self.plot_title.setText(
                    f"{w.expression}{where}: no numeric values to plot (see the Value column)"
                )
            self._move_cursor()

        self._debugger.series(w, key, show)

    def _move_cursor(self) -> None:
        self.cursor.setValue(self.w.navigator.row)

    def line_data(self) -> tuple[np.ndarray, np.ndarray]:
        """The plotted change points (x: rows, y: values; NaN where not numeric)."""
        return self.plot_x, self.plot_y

    @guarded("Watch plot")
    def _on_plot_clicked(self, event: Any) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        vb = self.plot.getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        row = round(vb.mapSceneToView(event.scenePos()).x())
        nav = self.w.navigator
        if nav.count:
            nav.go_to(min(max(row, -1), nav.count - 1))


class ValueHistoryPanel(QWidget):
    """The events that changed one value of the state ("which events touched this?")."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__()
        self.setObjectName("valueHistoryPanel")
        self.w = window
        self.title = QLabel("Right-click a value in the State dock: “Which events touched this?”")
        self.title.setObjectName("valueHistoryTitle")
        self.title.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setObjectName("valueHistoryList")
        self.tree.setHeaderLabels(["Pos", "Row", "Type", "Before", "After"])
        self.tree.setRootIsDecorated(False)
        for column, width in enumerate((80, 70, 170, 150)):
            self.tree.setColumnWidth(column, width)
        self.tree.itemActivated.connect(self._jump)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.tree)
        self.touches: list[Touch] = []

    SHOWN = 5000
    """Rows listed at most (a value a million events changed would freeze the list)."""

    def show_touches(self, label: str, touches: list[Touch]) -> None:
        self.touches = touches
        nav = self.w.navigator
        self.tree.clear()
        engine = nav.session.engine if nav.session is not None else None
        for t in touches[: self.SHOWN]:
            kind = engine.event_at(nav.branch, t.row).type if engine is not None else ""
            item = QTreeWidgetItem(
                [
                    format_key(nav.key_at(t.row)),
                    f"{t.row:,}",
                    kind,
                    format_value(t.before),
                    format_value(t.after),
                ]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, t.row)
            self.tree.addTopLevelItem(item)
        n = len(touches)
        more = f"; the first {self.SHOWN:,} listed" if n > self.SHOWN else ""
        self.title.setText(
            f"{label}: changed by {n:,} event{'s' if n != 1 else ''} in {nav.branch}{more} "
            "(double-click to go there)"
        )

    @guarded("Value history")
    def _jump(self, item: QTreeWidgetItem, _column: int) -> None:
        self.w.navigator.go_to(int(item.data(0, Qt.ItemDataRole.UserRole)))


class DebugActions(QObject):
    """Run forward/backward, breakpoints in the gutter and menus, the three docks."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self.debugger = Debugger(window.navigator, window.engine_queue, self)
        self.forward_action = self._action(
            "Run &Forward", "F5", "Run forward to the next breakpoint or watch hit (F5)"
        )
        self.forward_action.triggered.connect(guarded("Run forward")(lambda: self.run(1)))
        self.backward_action = self._action(
            "Run &Backward",
            "Shift+F5",
            "Run backward to the previous breakpoint or watch hit (Shift+F5)",
        )
        self.backward_action.triggered.connect(guarded("Run backward")(lambda: self.run(-1)))
        self.toggle_action = self._action(
            "&Toggle Breakpoint", "F9", "Set or clear a breakpoint on the current event (F9)"
        )
        self.toggle_action.triggered.connect(guarded("Breakpoint")(self.toggle_current))
        self.touched_action = QAction("Which events touched this?", window)
        self.touched_action.setObjectName("touchedAction")
        self.touched_action.triggered.connect(guarded("Value history")(self.touched_current))
        self.watch_action = QAction("Watch this", window)
        self.watch_action.triggered.connect(guarded("Watch")(self.watch_current))
        self.breakpoints = BreakpointsPanel(self.debugger)
        self.breakpoints.add_button.clicked.connect(self.new_breakpoint)
        self.breakpoints.forward_button.clicked.connect(self.forward_action.trigger)
        self.breakpoints.back_button.clicked.connect(self.backward_action.trigger)
        self.breakpoints.jump_to_key = self._jump_to_key
        self.watches = WatchesPanel(window, self.debugger, window.theme)
        self.history = ValueHistoryPanel(window)
        self.debugger.message.connect(self._on_message)
        self.debugger.changed.connect(self._show_breakpoints)
        self.debugger.runningChanged.connect(lambda _r: self.update())
        window.navigator.sessionChanged.connect(self.update)
        window.navigator.positionChanged.connect(lambda _row: self.update())
        window.navigator.busyChanged.connect(lambda _b: self.update())
        table = window.table
        table.verticalHeader().sectionClicked.connect(
            guarded("Breakpoint")(
                lambda section: self.toggle_row(table.event_model.display_row(section))
            )
        )
        self.dialog: BreakpointDialog | None = None

    def _action(self, text: str, shortcut: str, tip: str) -> QAction:
        action = QAction(text, self.w)
        action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(tip)
        self.w.addAction(action)
        return action

    def install(self) -> None:
        w = self.w
        left = Qt.DockWidgetArea.LeftDockWidgetArea
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        self.breakpoints_dock = w._dock("Breakpoints", "breakpointsDock", self.breakpoints, left)
        w.splitDockWidget(w.branch_dock, self.breakpoints_dock, Qt.Orientation.Vertical)
        self.watches_dock = w._dock("Watches", "watchesDock", self.watches, bottom)
        self.history_dock = w._dock("Value history", "valueHistoryDock", self.history, bottom)
        w.tabifyDockWidget(w.chart_dock, self.watches_dock)
        w.tabifyDockWidget(self.watches_dock, self.history_dock)
        self.watches_dock.hide()  # shown when asked for (Debug menu, "Watch this", a value's
        self.history_dock.hide()  # history): the table keeps its height meanwhile
        menu = QMenu("&Debug", w)
        menu.setObjectName("debugMenu")
        for action in (self.forward_action, self.backward_action, self.toggle_action):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction("New &Breakpoint…", self.new_breakpoint)
        menu.addAction(self.breakpoints_dock.toggleViewAction())
        menu.addAction(self.watches_dock.toggleViewAction())
        menu.addAction(self.history_dock.toggleViewAction())
        w.menuBar().insertMenu(w.view_menu.menuAction(), menu)
        self.menu = menu
        w.toolbar.addSeparator()
        w.toolbar.addAction(self.backward_action)
        w.toolbar.addAction(self.forward_action)
        w.branch_actions.menu_extenders.append(self._extend_event_menu)
        w.inspector.tree.extra_actions.extend([self.watch_action, self.touched_action])
        self.update()

    def reset_layout(self) -> None:
        w = self.w
        for dock in (self.breakpoints_dock, self.watches_dock, self.history_dock):
            dock.setFloating(False)
        self.breakpoints_dock.show()
        w.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.breakpoints_dock)
        w.splitDockWidget(w.branch_dock, self.breakpoints_dock, Qt.Orientation.Vertical)
        w.tabifyDockWidget(w.chart_dock, self.watches_dock)
        w.tabifyDockWidget(self.watches_dock, self.history_dock)
        self.watches_dock.hide()
        self.history_dock.hide()

    def update(self) -> None:
        nav = self.w.navigator
        ready = nav.session is not None and not self.debugger.running
        for action in (self.forward_action, self.backward_action):
            action.setEnabled(ready)
        self.toggle_action.setEnabled(nav.session is not None and nav.row >= 0)

    def _on_message(self, text: str, kind: str) -> None:
        self.w.message_bar.show_message(text, kind)

    def _show_breakpoints(self) -> None:
        keys = self.debugger.event_keys()
        self.w.table.event_model.set_breakpoints(keys)
        self.w.timeline.set_breakpoints(keys)
        self.update()

    # --- commands -----------------------------------------------------------------------

    def run(self, direction: int) -> None:
        self.debugger.run(direction)

    def toggle_row(self, row: int) -> None:
        nav = self.w.navigator
        if 0 <= row < nav.count:
            self.debugger.toggle_event(nav.key_at(row))

    def toggle_current(self) -> None:
        self.toggle_row(self.w.navigator.row)

    def _jump_to_key(self, key: int) -> None:
        row = self.w.navigator.row_of_key(key)
        if row is None:
            self._on_message(f"{format_key(key)} is not in this branch.", "info")
        else:
            self.w.navigator.go_to(row)

    def new_breakpoint(self, event_type: str | None = None, stream: str | None = None) -> None:
        nav = self.w.navigator
        types = list(nav.columns.type_names) if nav.session is not None else []
        dialog = BreakpointDialog(self.debugger, types, self.w)
        if event_type:
            dialog.type_box.setCurrentText(event_type)
        if stream:
            dialog.stream_edit.setText(stream)
        self.dialog = dialog
        dialog.open()

    def _extend_event_menu(self, menu: QMenu, row: int) -> None:
        nav = self.w.navigator
        if not 0 <= row < nav.count or nav.session is None:
            return
        key = nav.key_at(row)
        event = nav.session.engine.event_at(nav.branch, row)
        menu.addSeparator()
        has = self.debugger.event_breakpoint(key) is not None
        menu.addAction(
            "Clear breakpoint" if has else "Set breakpoint here",
            lambda: self.debugger.toggle_event(key),
        )
        menu.addAction(
            f"Break on every {event.type}…", lambda: self.new_breakpoint(event_type=event.type)
        )
        menu.addAction(
            f"Break on stream {event.stream}…", lambda: self.new_breakpoint(stream=event.stream)
        )

    def _current_path(self) -> tuple[Any, ...] | None:
        tree = self.w.inspector.tree
        index = tree.currentIndex()
        if not index.isValid():
            return None
        return tuple(tree.tree_model.path_at(index))

    def touched_current(self) -> None:
        path = self._current_path()
        if not path:
            return
        label = ".".join(str(p) for p in path)
        self.history_dock.show()
        self.history_dock.raise_()
        self.history.title.setText(f"{label}: looking for the events that changed it…")
        branch = self.w.navigator.branch

        def done(found: list[Touch]) -> None:
            if self.w.navigator.branch == branch:  # rows of another branch would mislead
                self.history.show_touches(label, found)

        self.debugger.touches(path, done)

    def watch_current(self) -> None:
        path = self._current_path()
        if not path:
            return
        nav = self.w.navigator
        keyed = nav.session is not None and nav.session.engine.is_keyed
        scope = str(path[0]) if keyed else None
        inner = path[1:] if keyed else path
        if not inner:
            self._on_message("Pick a value inside a stream's state to watch it.", "info")
            return
        expression = ".".join(
            f"[{p}]" if isinstance(p, int) else _identifier(str(p)) for p in inner
        ).replace(".[", "[")
        self.debugger.add_watch(Watch(expression, scope))
        self.watches_dock.show()
        self.watches_dock.raise_()


def _identifier(name: str) -> str:
    """A JMESPath field: bare when it is an identifier, quoted otherwise."""
    if name.isidentifier() and name.isascii():
        return name
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
