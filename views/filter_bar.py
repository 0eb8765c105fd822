"""The filter bar above the event table (Ctrl+F): find the one event that matters.

Type and stream globs, a recorded-time window, free text and a query over the event
(JMESPath, the watches' language). Matching runs on the engine worker (app.search: the
columns first, payloads only for what is left); the table then hides the others or only
dims them, the timeline marks the matches, F3 / Shift+F3 go to the next / previous one.
Filters can be saved by name (kept with the log's workspace).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.qt_errors import guarded
from app.search import Filter, matching_rows
from models.timeparse import parse_timestamp
from replay_engine.query import ExpressionError

if TYPE_CHECKING:
    from views.main_window import MainWindow

_SAVED_META = "saved_filters"


class FilterBar(QWidget):
    def __init__(self, window: MainWindow) -> None:
        super().__init__()
        self.setObjectName("filterBar")
        self.w = window
        self.rows = np.zeros(0, np.int64)
        self.active: Filter | None = None

        def edit(name: str, hint: str, width: int) -> QLineEdit:
            box = QLineEdit()
            box.setObjectName(name)
            box.setPlaceholderText(hint)
            box.setClearButtonEnabled(True)
            box.setMinimumWidth(width)
            box.returnPressed.connect(self.apply)
            return box

        self.types = edit("filterTypes", "types: Order*, Payment*", 60)
        self.streams = edit("filterStreams", "streams: customer-*", 60)
        self.since = edit("filterSince", "since (UTC)", 50)
        self.until = edit("filterUntil", "before", 50)
        self.text = edit("filterText", "text", 50)
        self.where = edit("filterWhere", "query: data.amount > 100 && metadata.service == 'x'", 90)
        self.hide = QCheckBox("Hide others")
        self.hide.setObjectName("filterHide")
        self.hide.setToolTip("Show only the matching events (else the others are dimmed)")
        self.hide.toggled.connect(lambda _on: self._show_rows())
        self.count = QLabel("")
        self.count.setObjectName("filterCount")
        self.saved = QComboBox()
        self.saved.setObjectName("filterSaved")
        self.saved.setToolTip("Saved filters of this log")
        self.saved.activated.connect(self._on_saved)

        def button(text: str, tip: str, slot: Any) -> QToolButton:
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            return b

        fields = QHBoxLayout()
        for widget in (self.types, self.streams, self.since, self.until, self.text):
            fields.addWidget(widget, 1)
        query = QHBoxLayout()
        query.addWidget(self.where, 1)
        query.addWidget(button("Filter", "Apply (Enter)", self.apply))
        query.addWidget(self.hide)
        query.addWidget(button("◀", "Previous match (Shift+F3)", lambda: self.jump(-1)))
        query.addWidget(button("▶", "Next match (F3)", lambda: self.jump(1)))
        query.addWidget(self.count)
        query.addWidget(self.saved)
        query.addWidget(button("Save…", "Save this filter by name", self.save))
        query.addWidget(button("✕", "Clear the filter (Esc)", self.clear))
        layout = QVBoxLayout(self)  # two rows: the bar must not widen the window
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addLayout(fields)
        layout.addLayout(query)
        self.marks = pg.ScatterPlotItem(pxMode=True)
        self.marks.setZValue(59)
        window.timeline.plot.addItem(self.marks)
        window.navigator.sessionChanged.connect(self._on_session)
        self.hide_bar = self.hide  # for the tests' readability
        self.setVisible(False)

    # --- reading the inputs -----------------------------------------------------------------

    def current(self) -> Filter:
        """The filter the fields describe; ValueError with a readable reason when one is
        wrong (a time, the query)."""

        def time(box: QLineEdit, what: str) -> int | None:
            text = box.text().strip()
            if not text:
                return None
            try:
                return parse_timestamp(text)
            except ValueError as exc:
                raise ValueError(f"{what}: {exc}") from None

        f = Filter(
            types=self.types.text().strip() or None,
            streams=self.streams.text().strip() or None,
            since_us=time(self.since, "since"),
            until_us=time(self.until, "before"),
            text=self.text.text().strip() or None,
            where=self.where.text().strip() or None,
        )
        try:
            f.check()
        except ExpressionError as exc:
            raise ValueError(str(exc)) from None
        return f

    def set_fields(self, f: Filter) -> None:
        from models.event import format_us

        self.types.setText(f.types or "")
        self.streams.setText(f.streams or "")
        self.since.setText(format_us(f.since_us) or "")
        self.until.setText(format_us(f.until_us) or "")
        self.text.setText(f.text or "")
        self.where.setText(f.where or "")

    # --- running ------------------------------------------------------------------------

    @guarded("Filter")
    def apply(self) -> None:
        nav = self.w.navigator
        session = nav.session
        if session is None:
            return
        try:
            f = self.current()
        except ValueError as exc:
            self.count.setText("")
            self.w.message_bar.show_message(f"Filter: {exc}", "error")
            return
        if f.is_empty():
            self.clear()
            return
        engine, branch = session.engine, nav.branch
        self.count.setText("filtering…")

        def done(rows: Any) -> None:
            if nav.branch != branch:
                return
            self.active = f
            self.rows = rows
            self._show_rows()

        self.w.engine_queue.submit(
            "filter",
            lambda progress: matching_rows(engine, branch, f, progress),
            label=f"Filtering: {f.describe()}",
            done=done,
        )

    def _show_rows(self) -> None:
        model = self.w.table.event_model
        if self.active is None:
            model.set_filter(None, hide=False)
            self.count.setText("")
            self.marks.setData([], [])
            return
        model.set_filter(self.rows, hide=self.hide.isChecked())
        n = int(self.rows.shape[0])
        self.count.setText(f"{n:,} match{'es' if n != 1 else ''}")
        self._draw_marks()
        self.w.table._follow(self.w.navigator.row)

    def _draw_marks(self) -> None:
        lay = self.w.timeline.lay
        if lay is None or self.active is None or len(lay) == 0:
            self.marks.setData([], [])
            return
        rows = self.rows[:20_000]  # beyond that the marks are a band anyway
        rows = rows[rows < len(lay)]
        xs = np.asarray(lay.x)[rows].astype(float)
        ys = np.asarray(lay.lane)[rows].astype(float) + 0.44
        self.marks.setData(
            xs, ys, symbol="t", size=7, brush=pg.mkBrush("#f39c12"), pen=pg.mkPen(None)
        )

    def clear(self) -> None:
        self.active = None
        self.rows = np.zeros(0, np.int64)
        self._show_rows()

    def jump(self, direction: int) -> None:
        """To the next (+1) or previous (-1) match from the cursor."""
        if self.active is None or not self.rows.shape[0]:
            return
        row = self.w.navigator.row
        if direction > 0:
            i = int(np.searchsorted(self.rows, row, side="right"))
            if i < self.rows.shape[0]:
                self.w.navigator.go_to(int(self.rows[i]))
        else:
            i = int(np.searchsorted(self.rows, row, side="left")) - 1
            if i >= 0:
                self.w.navigator.go_to(int(self.rows[i]))

    def _on_session(self) -> None:
        """A new log or branch: the rows changed; apply the filter again, refill saved."""
        self._fill_saved()
        if self.active is not None and self.w.navigator.session is not None:
            self.apply()
        else:
            self.clear()

    # --- saved filters ----------------------------------------------------------------

    def _saved(self) -> dict[str, dict[str, Any]]:
        session = self.w.navigator.session
        if session is None:
            return {}
        data = session.debug_points().get(_SAVED_META, {})
        return data if isinstance(data, dict) else {}

    def _fill_saved(self) -> None:
        self.saved.clear()
        self.saved.addItem("Saved filters…", None)
        for name in sorted(self._saved()):
            self.saved.addItem(name, name)

    def save(self, name: str | None = None) -> None:
        session = self.w.navigator.session
        if session is None:
            return
        try:
            f = self.current()
        except ValueError as exc:
            self.w.message_bar.show_message(f"Filter: {exc}", "error")
            return
        if name is None:
            name, ok = QInputDialog.getText(self, "Save the filter", "Name:")
            if not ok or not name.strip():
                return
        points = session.debug_points()
        saved = dict(points.get(_SAVED_META, {}))
        saved[name.strip()] = f.to_json()
        points[_SAVED_META] = saved
        session.save_debug_points(points)
        self._fill_saved()

    def _on_saved(self, index: int) -> None:
        name = self.saved.itemData(index)
        if isinstance(name, str):
            self.set_fields(Filter.from_json(self._saved()[name]))
            self.apply()


class FilterActions(QObject):
    """Ctrl+F shows the bar, F3 / Shift+F3 step through the matches, Esc clears."""

    def __init__(self, window: MainWindow, bar: FilterBar) -> None:
        super().__init__(window)
        self.bar = bar
        self.find_action = QAction("&Filter events…", window)
        self.find_action.setShortcut(QKeySequence.StandardKey.Find)
        self.find_action.triggered.connect(self.show_bar)
        self.next_action = QAction("Next match", window)
        self.next_action.setShortcut(QKeySequence("F3"))
        self.next_action.triggered.connect(lambda: bar.jump(1))
        self.prev_action = QAction("Previous match", window)
        self.prev_action.setShortcut(QKeySequence("Shift+F3"))
        self.prev_action.triggered.connect(lambda: bar.jump(-1))
        for action in (self.find_action, self.next_action, self.prev_action):
            window.addAction(action)
        go = window.go_menu
        go.addSeparator()
        for action in (self.find_action, self.next_action, self.prev_action):
            go.addAction(action)

    def show_bar(self) -> None:
        self.bar.setVisible(True)
        self.bar.types.setFocus(Qt.FocusReason.ShortcutFocusReason)
