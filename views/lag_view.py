"""The Processing lag dock: how long after it was recorded each event was processed, as
percentile bands over time, with the events processed out of their recorded order listed
(a click goes there) and the cursor's own lag."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.lag import CHECKPOINT_TYPES, Checkpoints, Lag, checkpoints_of, lag_of
from app.qt_errors import guarded
from app.qt_models import format_duration, format_time
from models.event import format_key
from models.log import NA

if TYPE_CHECKING:
    from views.main_window import MainWindow

_LIST_LIMIT = 2000


class LagPanel(QWidget):
    def __init__(self, window: MainWindow) -> None:
        super().__init__()
        self.setObjectName("lagPanel")
        self.w = window
        self.lag: Lag | None = None
        self.summary = QLabel("")
        self.summary.setObjectName("lagSummary")
        self.summary.setWordWrap(True)
        self.at_cursor = QLabel("")
        self.at_cursor.setObjectName("lagAtCursor")
        # the plot is built when the dock is first shown: it starts hidden, and a plot costs
        # a few tens of ms of the window's launch
        self.plot: pg.PlotWidget | None = None
        self.curves: dict[int, Any] = {}
        self.cursor: pg.InfiniteLine | None = None
        self._plot_box = QVBoxLayout()
        self.read_sides = QTreeWidget()
        self.read_sides.setObjectName("lagReadSides")
        self.read_sides.setHeaderLabels(["Read side", "At", "Behind", "Behind (time)"])
        self.read_sides.setRootIsDecorated(False)
        self.read_sides.itemActivated.connect(self._jump_side)
        self.checkpoints: Checkpoints | None = None
        self.out_of_order = QListWidget()
        self.out_of_order.setObjectName("lagOutOfOrder")
        self.out_of_order.itemActivated.connect(self._jump)
        side = QVBoxLayout()
        side.addWidget(QLabel(f"Read sides at the cursor (checkpoint events: {CHECKPOINT_TYPES})"))
        side.addWidget(self.read_sides, 1)
        side.addWidget(QLabel("Processed before an earlier-recorded event"))
        side.addWidget(self.out_of_order, 1)
        body = QHBoxLayout()
        body.addLayout(self._plot_box, 3)
        body.addLayout(side, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addWidget(self.at_cursor)
        layout.addLayout(body, 1)
        window.navigator.sessionChanged.connect(self.refresh)
        window.navigator.positionChanged.connect(self._on_position)
        window.theme.changed.connect(self._apply_theme)
        self._apply_theme()

    def _ensure_plot(self) -> pg.PlotWidget:
        if self.plot is None:
            plot = self.plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(utcOffset=0)})
            plot.setObjectName("lagPlot")
            plot.setLabel("left", "lag", units="s")
            plot.addLegend(offset=(10, 10))
            plot.showGrid(x=True, y=True, alpha=0.2)
            self.curves = {
                q: plot.plot([], [], name=f"p{int(q)}", pen=pg.mkPen(color, width=2))
                for q, color in ((50, "#2f80ed"), (95, "#f2994a"), (99, "#eb5757"))
            }
            self.cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#888", width=1))
            plot.addItem(self.cursor, ignoreBounds=True)
            self._plot_box.addWidget(plot)
            self._apply_theme()
        return self.plot

    def _apply_theme(self) -> None:
        if self.plot is None:
            return
        c = self.w.theme.colors
        self.plot.setBackground(c.base)
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setTextPen(c.text)
            self.plot.getAxis(axis).setPen(c.muted)

    @guarded("Processing lag")
    def refresh(self) -> None:
        if not self.isVisible():
            self.lag = None  # computed when the dock is shown
            return
        session = self.w.navigator.session
        self._ensure_plot()
        for curve in self.curves.values():
            curve.setData([], [])
        self.out_of_order.clear()
        if session is None:
            self.summary.setText("")
            self.lag = None
            return
        self.checkpoints = checkpoints_of(session.log)
        lag = self.lag = lag_of(session.log.columns)
        if not lag.lag_us.size:
            self.summary.setText("This log has no processed times: no lag to show.")
            return
        pct = lag.percentiles()
        n_out = int(lag.out_of_order.shape[0])
        self.summary.setText(
            "Lag (processed − recorded): "
            + ", ".join(f"p{int(q)} {format_duration(int(v))}" for q, v in pct.items())
            + f"; max {format_duration(int(lag.lag_us.max()))}. "
            f"{n_out:,} event{'s' if n_out != 1 else ''} processed out of recorded order."
        )
        starts, bands = lag.buckets()
        for q, values in bands.items():
            ok = ~np.isnan(values)
            self.curves[q].setData(starts[ok] / 1e6, values[ok] / 1e6)
        for pos in lag.out_of_order[:_LIST_LIMIT].tolist():
            item = QListWidgetItem(f"{format_key(pos)}")
            item.setData(Qt.ItemDataRole.UserRole, pos)
            self.out_of_order.addItem(item)
        if n_out > _LIST_LIMIT:
            self.out_of_order.addItem(f"… and {n_out - _LIST_LIMIT:,} more")
        self._on_position(self.w.navigator.row)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self.lag is None:
            self.refresh()

    @guarded("Processing lag")
    def _on_position(self, row: int) -> None:
        if self.lag is None:
            return
        self._show_read_sides(row)
        nav = self.w.navigator
        if nav.session is None or row < 0 or row >= nav.count:
            self.at_cursor.setText("")
            return
        rec, proc = int(nav.rows.recorded_us[row]), int(nav.rows.processed_us[row])
        if rec != NA and self.cursor is not None:
            self.cursor.setValue(rec / 1e6)
        if rec == NA or proc == NA:
            self.at_cursor.setText(f"{format_key(nav.key_at(row))}: no lag (a time is missing)")
            return
        self.at_cursor.setText(
            f"{format_key(nav.key_at(row))} recorded {format_time(rec)}, processed "
            f"{format_duration(proc - rec)} later"
        )

    def _show_read_sides(self, row: int) -> None:
        self.read_sides.clear()
        nav = self.w.navigator
        if self.checkpoints is None or nav.session is None or not 0 <= row < nav.count:
            return
        key = nav.key_at(row)
        if key < 0:
            return  # an inserted event has no log position
        for side in self.checkpoints.at(key, nav.session.log.columns.recorded_us):
            behind = "—" if side.behind_us is None else format_duration(side.behind_us)
            item = QTreeWidgetItem(
                [side.name, format_key(side.position), f"{side.behind_events:,} events", behind]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, side.position)
            item.setToolTip(0, f"its last checkpoint: {format_key(side.checkpoint_row)}")
            self.read_sides.addTopLevelItem(item)

    def _jump_side(self, item: QTreeWidgetItem, _column: int) -> None:
        row = self.w.navigator.row_of_key(int(item.data(0, Qt.ItemDataRole.UserRole)))
        if row is not None:
            self.w.navigator.go_to(row)

    def _jump(self, item: QListWidgetItem) -> None:
        pos: Any = item.data(Qt.ItemDataRole.UserRole)
        if pos is None:
            return
        row = self.w.navigator.row_of_key(int(pos))
        if row is not None:
            self.w.navigator.go_to(row)


def install(window: MainWindow) -> LagPanel:
    panel = LagPanel(window)
    dock = window._dock("Processing lag", "lagDock", panel, Qt.DockWidgetArea.BottomDockWidgetArea)
    window.tabifyDockWidget(window.chart_dock, dock)
    dock.hide()  # View ▸ Processing lag
    window.lag_dock = dock
    window.view_menu.insertAction(window.view_menu.actions()[-3], dock.toggleViewAction())
    return panel
