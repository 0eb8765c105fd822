"""The timeline: events as coloured ticks in lanes, a draggable cursor, a range overview.

Drawing goes through :meth:`TimelineLayout.marks`: for the visible x range the events are
binned per pixel column, lane and type, so what pyqtgraph receives is bounded by the width
of the plot, not by the size of the log. One ``PlotCurveItem`` per event type draws its
ticks as line pairs.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QKeyEvent, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.controller import Navigator
from app.qt_errors import guarded
from app.qt_models import format_duration
from app.qt_timeline import TimelineLayout
from views.theme import Theme

pg.setConfigOptions(antialias=False, useNumba=False)


class TimeAxis(pg.AxisItem):
    """Tick labels in real time (UTC) although x is seconds since the first event with idle
    gaps cut out; in position mode, plain positions."""

    def __init__(self, timeline: TimelineWidget, **kwargs: Any) -> None:
        super().__init__("bottom", **kwargs)
        self._timeline = timeline

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        layout = self._timeline.lay
        if layout is None or layout.mode != "time":
            return [f"{round(v):,}" if abs(v - round(v)) < 1e-6 else "" for v in values]
        if spacing >= 86_400:
            fmt = "%Y-%m-%d"
        elif spacing >= 60:
            fmt = "%m-%d %H:%M"
        elif spacing >= 1:
            fmt = "%H:%M:%S"
        else:
            fmt = "%H:%M:%S.%f"
        out = []
        for v in values:
            try:
                dt = datetime.fromtimestamp(layout.real_us(v) / 1e6, UTC)
            except (OverflowError, OSError, ValueError):
                out.append("")
                continue
            text = dt.strftime(fmt)
            out.append(text[:-3] if fmt.endswith("%f") else text)
        return out


class LaneAxis(pg.AxisItem):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("left", **kwargs)
        self.names: list[str] = []

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[Any]:
        # Every lane when there is room for its label, else every k-th (the marks stay).
        n = len(self.names)
        room = max(1.0, size / max(1, n))
        step = max(1, int(np.ceil(14 / room)))
        return [(float(step), list(range(0, n, step)))]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        out = []
        for v in values:
            i = round(v)
            out.append(self.names[i] if 0 <= i < len(self.names) else "")
        return out


class TimelineWidget(QWidget):
    """Controls, the main lane plot and the overview strip."""

    rangeChanged = Signal(float, float)
    menuRequested = Signal(int, QPoint)
    """A right click near an event: (its row, -1 for none; global position)."""

    def __init__(self, navigator: Navigator, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timeline")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumHeight(180)
        self._nav = navigator
        self._theme = theme
        self.lay: TimelineLayout | None = None
        self._lay_key: tuple[Any, ...] | None = None
        self._lay_columns: Any = None
        self._curves: dict[int, pg.PlotCurveItem] = {}
        self._gap_lines: list[pg.InfiniteLine] = []
        self._fork_lines: list[pg.InfiniteLine] = []
        self.edit_marks = pg.ScatterPlotItem(pxMode=True)
        self.edit_marks.setZValue(60)
        self.edit_marks_count = 0
        self.breakpoint_marks = pg.ScatterPlotItem(pxMode=True)
        self.breakpoint_marks.setZValue(61)
        self.breakpoint_rows: list[int] = []
        self._breakpoints: dict[int, bool] = {}
        self._drag_from: int | None = None
        self._syncing = False
        self.marks_drawn = 0

        # --- controls
        self.mode_box = QComboBox()
        self.mode_box.addItem("Along time", "time")
        self.mode_box.addItem("Along position", "position")
        self.mode_box.setToolTip("Place events by recorded time or by position in the log")
        self.lanes_box = QComboBox()
        self.lanes_box.addItem("Lanes: stream type", "stream")
        self.lanes_box.addItem("Lanes: event type", "type")
        self.collapse_box = QCheckBox("Collapse idle gaps")
        self.collapse_box.setChecked(True)
        self.fit_button = QToolButton()
        self.fit_button.setText("Fit")
        self.fit_button.setToolTip("Show the whole log (0)")
        self.info = QLabel()
        self.info.setObjectName("timelineInfo")
        controls = QHBoxLayout()
        controls.setContentsMargins(4, 2, 4, 0)
        for w in (self.mode_box, self.lanes_box, self.collapse_box, self.fit_button):
            controls.addWidget(w)
        controls.addStretch(1)
        controls.addWidget(self.info)

        # --- main plot
        self.time_axis = TimeAxis(self)
        self.lane_axis = LaneAxis()
        self.plot = pg.PlotWidget(axisItems={"bottom": self.time_axis, "left": self.lane_axis})
        self.plot.setObjectName("timelinePlot")
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        item = self.plot.getPlotItem()
        item.setMouseEnabled(x=True, y=False)
        item.invertY(True)
        item.showGrid(x=True, y=False, alpha=0.15)
        self.viewbox: pg.ViewBox = item.getViewBox()
        self.viewbox.setDefaultPadding(0.0)
        self.cursor_line = pg.InfiniteLine(pos=0, angle=90, movable=True)
        self.cursor_line.setZValue(100)
        self.cursor_line.setHoverPen(pg.mkPen(width=5))
        self.plot.addItem(self.cursor_line, ignoreBounds=True)
        self.plot.addItem(self.edit_marks)
        self.plot.addItem(self.breakpoint_marks)
        self.cursor_line.sigDragged.connect(self._on_cursor_dragged)
        self.cursor_line.sigPositionChangeFinished.connect(self._on_cursor_released)
        self.viewbox.sigXRangeChanged.connect(self._on_range_changed)
        self.plot.scene().sigMouseClicked.connect(self._on_clicked)

        # --- overview
        self.overview = pg.PlotWidget()
        self.overview.setObjectName("timelineOverview")
        self.overview.setMenuEnabled(False)
        self.overview.hideButtons()
        self.overview.setFixedHeight(56)
        ov = self.overview.getPlotItem()
        ov.setMouseEnabled(x=False, y=False)
        ov.hideAxis("left")
        ov.hideAxis("bottom")
        self.overview_curve = pg.PlotCurveItem()
        self.overview.addItem(self.overview_curve)
        self.region = pg.LinearRegionItem(values=(0, 1))
        self.region.setZValue(10)
        self.overview.addItem(self.region, ignoreBounds=True)
        self.region.sigRegionChanged.connect(self._on_region_changed)
        self.overview_cursor = pg.InfiniteLine(pos=0, angle=90, movable=False)
        self.overview.addItem(self.overview_cursor, ignoreBounds=True)

        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addLayout(controls)
        box.addWidget(self.plot, 1)
        box.addWidget(self.overview)

        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(0)
        self._redraw_timer.timeout.connect(self._draw_marks)

        self.mode_box.currentIndexChanged.connect(self.rebuild)
        self.lanes_box.currentIndexChanged.connect(self.rebuild)
        self.collapse_box.toggled.connect(self.rebuild)
        self.fit_button.clicked.connect(self.fit)
        navigator.sessionChanged.connect(self.rebuild)
        navigator.positionChanged.connect(self._on_position)
        theme.changed.connect(self._apply_theme)
        self._apply_theme()

    # --- settings -----------------------------------------------------------------------

    def options(self) -> dict[str, Any]:
        return {
            "mode": self.mode_box.currentData(),
            "lanes": self.lanes_box.currentData(),
            "collapse": self.collapse_box.isChecked(),
        }

    def set_options(self, mode: str | None, lanes: str | None, collapse: bool | None) -> None:
        with QSignalBlocker(self.mode_box), QSignalBlocker(self.lanes_box):
            if mode is not None:
                self.mode_box.setCurrentIndex(max(0, self.mode_box.findData(mode)))
            if lanes is not None:
                self.lanes_box.setCurrentIndex(max(0, self.lanes_box.findData(lanes)))
        with QSignalBlocker(self.collapse_box):
            if collapse is not None:
                self.collapse_box.setChecked(bool(collapse))
        self.rebuild()

    # --- building -----------------------------------------------------------------------

    @guarded("Timeline")
    def rebuild(self, *_: Any) -> None:
        """Recompute x and lanes (new session, branch, or option) and show everything."""
        opts = self.options()
        rows, columns = self._nav.rows, self._nav.columns
        # A branch that only drops or edits events keeps the log's order and times: its
        # layout is the log's (a million events take a few hundred ms to lay out).
        key = (id(columns), len(rows), opts["mode"], opts["lanes"], opts["collapse"])
        if not (rows.identity and self._lay_key is not None and self._lay_key == key):
            self.lay = TimelineLayout.build(
                rows,
                columns,
                mode=opts["mode"],
                lanes_by=opts["lanes"],
                collapse_gaps=opts["collapse"],
            )
        self._lay_key = key if rows.identity else None
        self._lay_columns = columns  # keeps id(columns) from being reused while cached
        lay = self.lay
        assert lay is not None
        self.collapse_box.setEnabled(lay.mode == "time")
        self.cursor_line.setVisible(self._nav.session is not None)
        if self._nav.session is None:
            self.info.setText("")
        elif lay.mode != opts["mode"]:
            self.info.setText("no timestamps: placed by position")
        else:
            self.info.setText("")
        self.lane_axis.names = lay.lane_names
        self.lane_axis.picture = None
        self.lane_axis.update()
        fm = self.fontMetrics()
        widest = max((fm.horizontalAdvance(n) for n in lay.lane_names), default=40)
        self.lane_axis.setWidth(min(220, widest + 14))
        # Headroom above the first lane for the idle-gap labels.
        self.viewbox.setYRange(-1.1, len(lay.lane_names) - 0.4, padding=0)
        for line in self._gap_lines:
            self.plot.removeItem(line)
        self._gap_lines = []
        gaps = sorted(sorted(lay.gaps(), key=lambda g: -g[1])[:40])
        room = (lay.x_max - lay.x_min) * 0.1
        last_label = -math.inf
        for x, cut in gaps:
            idle = format_duration(int(cut * 1e6)).lstrip("+")
            labelled = x - last_label >= room  # neighbouring labels would overlap
            if labelled:
                last_label = x
            line = pg.InfiniteLine(
                pos=x,
                angle=90,
                movable=False,
                pen=pg.mkPen(self._theme.colors.muted, style=Qt.PenStyle.DashLine),
                label=f"⋯ {idle} idle" if labelled else None,
                labelOpts={"position": 0.05, "color": self._theme.colors.muted},
            )
            line.setToolTip(f"An idle gap of {idle} cut out")
            self.plot.addItem(line, ignoreBounds=True)
            self._gap_lines.append(line)
        self._draw_branch_marks()
        self._draw_breakpoints()
        edges, counts = lay.overview()
        self.overview_curve.setData(edges, np.log1p(counts), stepMode="center", fillLevel=0)
        self.overview.getPlotItem().setXRange(lay.x_min, lay.x_max, padding=0.01)
        top = max(1.0, float(np.log1p(counts).max()))
        self.overview.getPlotItem().setYRange(0, top, padding=0.05)
        self.fit()
        self._on_position(self._nav.row)

    def _draw_branch_marks(self) -> None:
        """Fork points as labelled dashed lines; dropped, edited, inserted and moved events
        as symbols above their marks (a branch has few edits: a handful of points)."""
        lay = self.lay
        for line in self._fork_lines:
            self.plot.removeItem(line)
        self._fork_lines = []
        marks = self._nav.rows.marks
        if lay is None or marks is None or len(lay) == 0:
            self.edit_marks.setData([], [])
            self.edit_marks_count = 0
            return
        colors = self._theme.colors
        for depth, (name, parent, key) in enumerate(marks.forks):
            row = -1 if key is None else self._nav.row_of_key(key)
            if row is None:
                continue
            x = lay.x_of_row(row)
            if row >= 0 and row + 1 < len(lay):  # between the fork point and the next event
                x = (x + lay.x_of_row(row + 1)) / 2
            line = pg.InfiniteLine(
                pos=x,
                angle=90,
                movable=False,
                pen=pg.mkPen(colors.link, width=2, style=Qt.PenStyle.DashDotLine),
                label=f"{name} forks from {parent} ▸",
                labelOpts={
                    "position": 0.93 - 0.1 * depth,
                    "color": colors.link,
                    "fill": colors.base,
                },
            )
            line.setToolTip(f"{name} shares everything up to here with {parent}")
            line.setZValue(40)
            self.plot.addItem(line, ignoreBounds=True)
            self._fork_lines.append(line)
        rows = self._nav.rows
        spots: list[dict[str, Any]] = []
        styles = {
            "dropped": ("x", "#d62728"),
            "edited": ("d", "#1f77b4"),
            "inserted": ("t1", "#2ca02c"),
            "moved": ("s", "#9467bd"),
        }
        dropped_rows = np.flatnonzero(rows.dropped).tolist()
        by_kind: dict[str, list[int]] = {"dropped": dropped_rows}
        for kind in ("edited", "inserted", "moved"):
            rows_of = (self._nav.row_of_key(k) for k in getattr(marks, kind))
            by_kind[kind] = [r for r in rows_of if r is not None]
        for kind, found in by_kind.items():
            symbol, color = styles[kind]
            for r in found:
                spots.append(
                    {
                        "pos": (float(lay.x[r]), float(lay.lane[r]) - 0.44),
                        "symbol": symbol,
                        "brush": pg.mkBrush(color),
                        "pen": pg.mkPen(color),
                        "size": 9,
                        "data": (kind, r),
                    }
                )
        self.edit_marks.setData(spots)
        self.edit_marks_count = len(spots)

    def set_breakpoints(self, keys: dict[int, bool]) -> None:
        """Events with a breakpoint (key -> enabled): red dots above their marks."""
        self._breakpoints = dict(keys)
        self._draw_breakpoints()

    def _draw_breakpoints(self) -> None:
        lay = self.lay
        rows = [] if lay is None else [self._nav.row_of_key(k) for k in self._breakpoints]
        spots = []
        self.breakpoint_rows = []
        if lay is not None:
            for (key, enabled), row in zip(self._breakpoints.items(), rows, strict=True):
                if row is None or not 0 <= row < len(lay):
                    continue
                self.breakpoint_rows.append(row)
                spots.append(
                    {
                        "pos": (float(lay.x[row]), float(lay.lane[row]) - 0.44),
                        "symbol": "o",
                        "size": 10,
                        "brush": pg.mkBrush("#e0245e" if enabled else (0, 0, 0, 0)),
                        "pen": pg.mkPen("#e0245e", width=1.5),
                        "data": ("breakpoint", key),
                    }
                )
        self.breakpoint_marks.setData(spots)

    def fit(self) -> None:
        lay = self.lay
        if lay is None:
            return
        lo, hi = lay.x_min, lay.x_max
        pad = max((hi - lo) * 0.01, 0.5 if lay.mode == "position" else 1e-3)
        self.viewbox.setXRange(lo - pad, hi + pad, padding=0)
        self.schedule_redraw()

    def x_range(self) -> tuple[float, float]:
        (x0, x1), _ = self.viewbox.viewRange()
        return float(x0), float(x1)

    def set_x_range(self, x0: float, x1: float) -> None:
        self.viewbox.setXRange(x0, x1, padding=0)

    # --- drawing ------------------------------------------------------------------------

    def schedule_redraw(self) -> None:
        self._redraw_timer.start()

    def _on_range_changed(self, *_: Any) -> None:
        self.schedule_redraw()
        x0, x1 = self.x_range()
        if not self._syncing:
            self._syncing = True
            try:
                self.region.setRegion((x0, x1))
            finally:
                self._syncing = False
        self.rangeChanged.emit(x0, x1)

    def _on_region_changed(self) -> None:
        if self._syncing:
            return
        x0, x1 = self.region.getRegion()
        self._syncing = True
        try:
            self.set_x_range(float(x0), float(x1))
        finally:
            self._syncing = False

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self.schedule_redraw()

    @guarded("Timeline")
    def _draw_marks(self) -> None:
        lay = self.lay
        if lay is None:
            return
        x0, x1 = self.x_range()
        # One mark per pixel column, lane and type, drawn with a one-pixel pen: pyqtgraph
        # then strokes a single path per type, several times faster than wider lines.
        width = max(50, int(self.viewbox.width()))
        marks = lay.marks(x0, x1, width)
        self.marks_drawn = int(marks.x.shape[0])
        colors = self._theme.colors
        maxc = float(marks.count.max()) if marks.count.size else 1.0
        exact = bool(marks.count.size) and maxc <= 1
        if exact:
            half = np.full(marks.x.shape[0], 0.32)
        else:
            half = 0.12 + 0.3 * np.log1p(marks.count) / math.log1p(max(maxc, 1.0))
        types = np.unique(marks.type_code)
        seen = set()
        for t in types.tolist():
            sel = marks.type_code == t
            xs = marks.x[sel]
            ys = marks.lane[sel].astype(np.float64)
            h = half[sel]
            px = np.repeat(xs, 2)
            py = np.empty(px.shape[0])
            py[0::2] = ys - h
            py[1::2] = ys + h
            curve = self._curves.get(t)
            if curve is None:
                curve = pg.PlotCurveItem(connect="pairs")
                curve.setZValue(5)
                self.plot.addItem(curve)
                self._curves[t] = curve
            curve.setPen(pg.mkPen(colors.type_color(t), width=3 if exact else 1))
            curve.setData(px, py, connect="pairs")
            seen.add(t)
        for t, curve in self._curves.items():
            if t not in seen:
                curve.setData([], [])

    # --- cursor -------------------------------------------------------------------------

    @guarded("Timeline")
    def _on_position(self, row: int) -> None:
        lay = self.lay
        if lay is None:
            return
        x = lay.x_of_row(row)
        with QSignalBlocker(self.cursor_line):
            self.cursor_line.setValue(x)
        self.overview_cursor.setValue(x)
        if self._drag_from is None and len(lay):
            x0, x1 = self.x_range()
            if not x0 <= x <= x1:
                span = x1 - x0
                self.set_x_range(x - span / 2, x + span / 2)

    def cursor_x(self) -> float:
        return float(self.cursor_line.value())

    @guarded("Timeline")
    def _on_cursor_dragged(self, _line: Any) -> None:
        lay = self.lay
        if lay is None:
            return
        if self._drag_from is None:
            self._drag_from = self._nav.row
        self._nav.go_to(lay.row_near(self.cursor_x()), record=False)

    @guarded("Timeline")
    def _on_cursor_released(self, _line: Any) -> None:
        lay = self.lay
        start, self._drag_from = self._drag_from, None
        if lay is None:
            return
        row = lay.row_near(self.cursor_x())
        self._nav.go_to(row, record=False)
        if start is not None and start != row:
            self._nav.note_jump(start)
        self._on_position(self._nav.row)

    @guarded("Timeline")
    def _on_clicked(self, event: Any) -> None:
        lay = self.lay
        if lay is not None and event.button() == Qt.MouseButton.RightButton:
            if self.viewbox.sceneBoundingRect().contains(event.scenePos()):
                x = self.viewbox.mapSceneToView(event.scenePos()).x()
                self.menuRequested.emit(lay.row_near(x), event.screenPos().toPoint())
            return
        if lay is None or event.button() != Qt.MouseButton.LeftButton or event.double():
            return
        if not self.viewbox.sceneBoundingRect().contains(event.scenePos()):
            return
        x = self.viewbox.mapSceneToView(event.scenePos()).x()
        x0, x1 = self.x_range()
        row = lay.row_near(x)
        # Only a click close to a mark jumps (within 4 pixels); elsewhere it is just focus.
        if row >= 0 and abs(lay.x_of_row(row) - x) <= 4 * (x1 - x0) / max(1, self.viewbox.width()):
            self._nav.go_to(row)
        self.setFocus()

    # --- keyboard -----------------------------------------------------------------------

    def zoom(self, factor: float, center: float | None = None) -> None:
        x0, x1 = self.x_range()
        c = self.cursor_x() if center is None else center
        if not x0 <= c <= x1:
            c = (x0 + x1) / 2
        self.set_x_range(c - (c - x0) * factor, c + (x1 - c) * factor)

    def pan(self, fraction: float) -> None:
        x0, x1 = self.x_range()
        d = (x1 - x0) * fraction
        self.set_x_range(x0 + d, x1 + d)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom(0.5)
        elif key in (Qt.Key.Key_Minus, Qt.Key.Key_Underscore):
            self.zoom(2.0)
        elif key == Qt.Key.Key_Left and not event.modifiers():
            self.pan(-0.2)
        elif key == Qt.Key.Key_Right and not event.modifiers():
            self.pan(0.2)
        elif key == Qt.Key.Key_0:
            self.fit()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    # --- look ---------------------------------------------------------------------------

    def _apply_theme(self) -> None:
        c = self._theme.colors
        for w in (self.plot, self.overview):
            w.setBackground(c.base)
        for name in ("bottom", "left"):
            axis = self.plot.getPlotItem().getAxis(name)
            axis.setPen(pg.mkPen(c.muted))
            axis.setTextPen(pg.mkPen(c.text))
        cursor_pen = QPen(c.cursor)
        cursor_pen.setWidth(2)
        cursor_pen.setCosmetic(True)
        self.cursor_line.setPen(cursor_pen)
        self.cursor_line.setHoverPen(pg.mkPen(c.cursor, width=4))
        self.overview_cursor.setPen(pg.mkPen(c.cursor, width=1))
        fill = QColor(c.highlight)
        fill.setAlpha(90)
        self.region.setBrush(pg.mkBrush(fill))
        line = QColor(c.link)
        self.overview_curve.setPen(pg.mkPen(line, width=1))
        area = QColor(c.link)
        area.setAlpha(70)
        self.overview_curve.setBrush(pg.mkBrush(area))
        self.schedule_redraw()
