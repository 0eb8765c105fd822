"""The metric chart: one value (or an aggregate) over the event sequence, one line per branch.

Lines are step functions drawn from their change points only (a balance that changes twenty
times is twenty steps, whatever the size of the log); where a branch's line parts from the
first branch's, a dashed marker says so. Clicking the chart moves the cursor there. The
"Values by branch" tab lists the value in every selected branch, after the cursor's event
(aligned by identity) and at the end.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QStringListModel, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCompleter,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.compare import entity_kind
from app.controller import Navigator
from app.metrics import (
    Metric,
    MetricError,
    Series,
    first_difference,
    metric_series,
    parse_metric,
    values_by_branch,
)
from app.qt_branches import BranchController
from app.qt_compare import ValuesModel, format_metric_value
from app.qt_engine import EngineQueue
from app.qt_errors import guarded
from models.event import format_key
from views.theme import Theme

MAX_LINES = 8


def step_xy(series: Series) -> tuple[np.ndarray, np.ndarray]:
    """A step function's change points as a polyline (each value held until the next)."""
    return step_points(series.x, series.y, series.end_row)


def step_points(x: np.ndarray, y: np.ndarray, end_row: float) -> tuple[np.ndarray, np.ndarray]:
    """Values ``y`` holding from ``x[i]`` until ``x[i + 1]`` (the last to ``end_row``)."""
    end = max(float(end_row), float(x[-1]))
    xs = np.empty(2 * x.shape[0], np.float64)
    ys = np.empty(2 * x.shape[0], np.float64)
    xs[0::2] = x
    xs[1::2] = np.append(x[1:], end)
    ys[0::2] = y
    ys[1::2] = y
    return xs, ys


class MetricChart(QWidget):
    computed = Signal()
    """The series of the selected branches are drawn."""
    message = Signal(str)

    def __init__(
        self,
        navigator: Navigator,
        queue: EngineQueue,
        controller: BranchController,
        theme: Theme,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("metricChart")
        self._nav = navigator
        self._queue = queue
        self._ctl = controller
        self._theme = theme
        self.active = False
        self.current_metric: Metric | None = None
        self.series: dict[str, Series] = {}
        self.divergences: dict[str, float] = {}
        self._lines: list[Any] = []
        self._marks: list[Any] = []
        self._checked: set[str] | None = None
        self._session_seen: Any = None
        self._names_cache: tuple[Any, set[str]] | None = None
        self._words_for: Any = None

        self.metric_edit = QLineEdit()
        self.metric_edit.setObjectName("metricPath")
        self.metric_edit.setPlaceholderText(
            "customer-00020.data.balance   ·   sum(customer-*.data.balance)   ·   count(order-*)"
        )
        self.metric_edit.setToolTip(
            "A value in the state (entity.path), or count / sum / avg / min / max over the "
            "entities whose key matches a glob: sum(customer-*.data.balance)"
        )
        self._words = QStringListModel(self)
        completer = QCompleter(self._words, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.metric_edit.setCompleter(completer)
        self.plot_button = QPushButton("Plot")
        self.plot_button.setObjectName("metricPlot")
        self.info = QLabel()
        self.info.setObjectName("metricInfo")
        self.info.setWordWrap(True)
        top = QHBoxLayout()
        top.setContentsMargins(4, 2, 4, 0)
        top.addWidget(QLabel("Value:"))
        top.addWidget(self.metric_edit, 1)
        top.addWidget(self.plot_button)

        self.branch_list = QListWidget()
        self.branch_list.setObjectName("metricBranches")
        self.branch_list.setToolTip("Branches to plot (the first checked one is the reference)")
        self.branch_list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.branch_list.setMaximumWidth(200)

        self.plot = pg.PlotWidget()
        self.plot.setObjectName("metricPlotWidget")
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        item = self.plot.getPlotItem()
        item.showGrid(x=True, y=True, alpha=0.15)
        item.setLabel("bottom", "event (row in each branch's sequence)")
        item.setDownsampling(mode="peak")
        item.setClipToView(True)
        self.legend = item.addLegend(offset=(10, 10))
        self.cursor_line = pg.InfiniteLine(pos=-1, angle=90, movable=False)
        self.cursor_line.setZValue(50)
        self.plot.addItem(self.cursor_line, ignoreBounds=True)
        self.plot.scene().sigMouseClicked.connect(self._on_clicked)

        self.values_model = ValuesModel(self)
        self.values = QTableView()
        self.values.setObjectName("metricValues")
        self.values.setModel(self.values_model)
        self.values.verticalHeader().setVisible(False)
        self.values.horizontalHeader().setStretchLastSection(True)
        self.values.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        fm = self.fontMetrics()
        for col, sample in enumerate(("fix-double-charge-2", "After @0000000", "-0,000,000.00")):
            self.values.setColumnWidth(col, fm.horizontalAdvance(sample) + 24)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("metricTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.plot, "Chart")
        self.tabs.addTab(self.values, "Values by branch")
        split = QSplitter(Qt.Orientation.Horizontal)
        side = QWidget()
        sbox = QVBoxLayout(side)
        sbox.setContentsMargins(0, 0, 0, 0)
        sbox.addWidget(QLabel("Branches:"))
        sbox.addWidget(self.branch_list, 1)
        split.addWidget(side)
        split.addWidget(self.tabs)
        split.setStretchFactor(1, 1)
        split.setSizes([170, 900])
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addLayout(top)
        box.addWidget(self.info)
        box.addWidget(split, 1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(30)
        self._timer.timeout.connect(self.request)
        self.plot_button.clicked.connect(self.request)
        self.metric_edit.returnPressed.connect(self.request)
        self.branch_list.itemChanged.connect(self._on_item_changed)
        navigator.sessionChanged.connect(self._on_session)
        navigator.positionChanged.connect(self._on_position)
        controller.branchesChanged.connect(self._fill_branches)
        theme.changed.connect(self._apply_theme)
        self._apply_theme()

    # --- look ---------------------------------------------------------------------------

    def _apply_theme(self) -> None:
        c = self._theme.colors
        self.plot.setBackground(c.base)
        item = self.plot.getPlotItem()
        for name in ("bottom", "left"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(c.muted))
            axis.setTextPen(pg.mkPen(c.text))
        self.legend.setLabelTextColor(c.text)
        pen = pg.mkPen(c.cursor, width=2)
        self.cursor_line.setPen(pen)
        if self.series:
            self._draw()

    # --- branches and words ---------------------------------------------------------------

    def checked_branches(self) -> list[str]:
        out = []
        for i in range(self.branch_list.count()):
            item = self.branch_list.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                out.append(item.text())
        return out

    def set_branches(self, names: list[str]) -> None:
        self._checked = set(names)
        self._fill_branches()
        self.schedule()

    def _default_checked(self) -> set[str]:
        branch = self._nav.branch
        parent = self._ctl.parent_of(branch)
        return {branch} | ({parent} if parent else set())

    def _fill_branches(self) -> None:
        s = self._nav.session
        names = [] if s is None else s.engine.branches()
        wanted = self._checked if self._checked is not None else self._default_checked()
        current = self._nav.branch
        # The current branch first: it is the reference the others are compared with.
        order = [current] + [n for n in names if n != current] if current in names else names
        self.branch_list.blockSignals(True)
        try:
            self.branch_list.clear()
            for name in order:
                item = QListWidgetItem(name)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(
                    Qt.CheckState.Checked if name in wanted else Qt.CheckState.Unchecked
                )
                self.branch_list.addItem(item)
        finally:
            self.branch_list.blockSignals(False)

    def _on_item_changed(self, _item: QListWidgetItem) -> None:
        self._checked = set(self.checked_branches())
        self.schedule()

    def _fill_words(self) -> None:
        s = self._nav.session
        if s is None:
            self._words.setStringList([])
            self._words_for = None
            return
        if s is self._words_for:  # once per log: 150,000 stream names take a while
            return
        self._words_for = s
        names = list(s.log.columns.stream_names)
        kinds = sorted({entity_kind(n) for n in names})
        words = [f"count({k}-*)" for k in kinds] + names
        self._words.setStringList(words)

    # --- running ----------------------------------------------------------------------------

    def set_metric(self, text: str) -> None:
        self.metric_edit.setText(text)
        self.schedule()

    def set_active(self, active: bool) -> None:
        self.active = active
        if active:
            self._fill_words()
            self.schedule()

    def schedule(self) -> None:
        if self.active and self._nav.session is not None and self.metric_edit.text().strip():
            self._timer.start()

    def _on_session(self) -> None:
        s = self._nav.session
        if s is not self._session_seen:  # another log: start from the defaults
            self._session_seen = s
            self._checked = None
        elif self._checked is not None:
            self._checked.add(self._nav.branch)
        self._fill_branches()
        if self.active or self._nav.session is None:
            self._fill_words()  # else on first show: 150,000 names cost 0.3 s at launch
        if self._nav.session is None:
            self.series = {}
            self.divergences = {}
            self.current_metric = None
            self._draw()
            return
        self.schedule()

    def _is_key(self, name: str) -> bool:
        s = self._nav.session
        if s is None:
            return False
        if name in self._stream_names():
            return True
        state = s.engine.state_at(self._nav.branch, self._nav.count - 1)
        return name in state

    def _stream_names(self) -> set[str]:
        s = self._nav.session
        cached = self._names_cache
        if s is None:
            return set()
        if cached is None or cached[0] is not s:
            cached = (s, set(s.log.columns.stream_names))
            self._names_cache = cached
        return cached[1]

    @guarded("Metric chart")
    def request(self) -> None:
        self._timer.stop()
        engine = self._nav.engine
        if engine is None:
            return
        try:
            metric = parse_metric(
                self.metric_edit.text(), self._is_key if engine.is_keyed else None
            )
        except MetricError as exc:
            self.info.setText(f"⚠ {exc}")
            return
        branches = self.checked_branches()[:MAX_LINES]
        if not branches:
            self.info.setText("Check at least one branch on the left.")
            return
        self.info.setText(f"Computing {metric.text} in {', '.join(branches)}…")

        def work(progress: Any) -> dict[str, Series]:
            return {b: metric_series(engine, b, metric, progress) for b in branches}

        self._queue.submit(
            "metric",
            work,
            label=f"Plotting {metric.text}",
            done=lambda series: self._show(metric, series),
            failed=lambda exc: self.info.setText(f"⚠ {exc}"),
        )

    def _show(self, metric: Metric, series: dict[str, Series]) -> None:
        self.current_metric = metric
        self.series = series
        names = list(series)
        self.divergences = {}
        if names:
            ref = series[names[0]]
            for name in names[1:]:
                x = first_difference(ref, series[name])
                if x is not None:
                    self.divergences[name] = x
        self._draw()
        self._update_values()
        self._info()
        self.computed.emit()

    def _info(self) -> None:
        if self.current_metric is None:
            return
        parts = []
        names = list(self.series)
        for name, x in self.divergences.items():
            key = self._key_label(names[0], int(x))
            parts.append(f"{names[0]} and {name} part after {key}")
        if len(names) > 1 and not self.divergences:
            parts.append("the lines never part")
        bad = sum(s.non_numeric for s in self.series.values())
        if bad:
            parts.append(f"{bad} value(s) are not numbers (gaps)")
        ends = ", ".join(f"{n}: {format_metric_value(s.end_value)}" for n, s in self.series.items())
        self.info.setText(
            f"{self.current_metric.text} at the end — {ends}"
            + ("  ·  " + "; ".join(parts) if parts else "")
        )

    def _key_label(self, branch: str, row: int) -> str:
        engine = self._nav.engine
        if engine is None or row < 0 or row >= engine.row_count(branch):
            return f"row {row}"
        return format_key(engine.key_at(branch, row))

    # --- drawing ----------------------------------------------------------------------------

    def _draw(self) -> None:
        item = self.plot.getPlotItem()
        for line in self._lines:
            item.removeItem(line)
        for mark in self._marks:
            self.plot.removeItem(mark)
        self._lines, self._marks = [], []
        self.legend.clear()
        c = self._theme.colors
        item.setLabel("left", self.current_metric.text if self.current_metric else "")
        for i, (name, s) in enumerate(self.series.items()):
            xs, ys = step_xy(s)
            color = c.series_color(i)
            pen = pg.mkPen(color, width=3 if i == 0 else 2)
            line = item.plot(xs, ys, pen=pen, name=name, connect="finite")
            line.setZValue(10 if i == 0 else 5)  # the current branch on top where they agree
            self._lines.append(line)
        names = list(self.series)
        for i, (name, x) in enumerate(self.divergences.items(), 1):
            color = QColor(c.series_color(names.index(name)))
            mark = pg.InfiniteLine(
                pos=x,
                angle=90,
                movable=False,
                pen=pg.mkPen(color, width=1, style=Qt.PenStyle.DashLine),
                label=f"{name} parts here, after {self._key_label(names[0], int(x))}",
                labelOpts={"position": 0.95 - 0.08 * (i - 1), "color": color, "fill": c.base},
            )
            self.plot.addItem(mark, ignoreBounds=True)
            self._marks.append(mark)
            at = [self.series[names[0]].value_at(int(x)), self.series[name].value_at(int(x))]
            dots_y = [v for v in at if not math.isnan(v)]
            if dots_y:
                dots = pg.ScatterPlotItem(
                    [x] * len(dots_y), dots_y, size=9, brush=pg.mkBrush(color), pen=pg.mkPen(c.base)
                )
                self.plot.addItem(dots)
                self._marks.append(dots)
        self.cursor_line.setValue(self._nav.row)
        if self.series:
            item.getViewBox().autoRange(padding=0.04)  # now, not at the next paint

    def _on_position(self, row: int) -> None:
        self.cursor_line.setValue(row)
        if self.active and self.current_metric is not None and not self._nav.busy:
            self._update_values()  # hidden: nothing to show, and a step must stay cheap

    @guarded("Metric values")
    def _update_values(self) -> None:
        engine, metric = self._nav.engine, self.current_metric
        if engine is None or metric is None:
            self.values_model.set_values([], "")
            return
        key = self._nav.current_key()
        branches = [b for b in self.series if b in engine.branches()]
        values = values_by_branch(engine, metric, branches, key, self.series)
        label = "the initial state" if key is None else format_key(key)
        self.values_model.set_values(values, label)

    @guarded("Metric chart")
    def _on_clicked(self, event: Any) -> None:
        if event.button() != Qt.MouseButton.LeftButton or not self.series:
            return
        vb = self.plot.getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        x = vb.mapSceneToView(event.scenePos()).x()
        self.go_to_x(x)

    def go_to_x(self, x: float) -> None:
        """Move the cursor to the event nearest to ``x`` (a row of the current branch)."""
        row = max(-1, min(round(x), self._nav.count - 1))
        self._nav.go_to(row)

    def line_data(self, branch: str) -> tuple[np.ndarray, np.ndarray]:
        """What is drawn for ``branch`` (for tests)."""
        i = list(self.series).index(branch)
        x, y = self._lines[i].getData()
        return np.asarray(x), np.asarray(y)
