"""The event table: every event of the branch, the current one highlighted and kept in view."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from app.controller import Navigator
from app.qt_errors import guarded
from app.qt_models import EventTableModel
from views.theme import Theme


class EventTableView(QTableView):
    """Double-click or Enter on a row asks to jump there (``jumpRequested``)."""

    jumpRequested = Signal(int)

    def __init__(self, navigator: Navigator, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("eventTable")
        self._nav = navigator
        self._theme = theme
        self.event_model = EventTableModel(navigator, self)
        self.setModel(self.event_model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setCornerButtonEnabled(False)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalHeader().setVisible(False)
        vh = self.verticalHeader()
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(self.fontMetrics().height() + 6)
        hh = self.horizontalHeader()
        hh.setStretchLastSection(True)
        hh.setHighlightSections(False)
        fm = self.fontMetrics()
        widths = {
            EventTableModel.POS: fm.horizontalAdvance("@0000000") + 12,
            EventTableModel.RECORDED: fm.horizontalAdvance("2024-01-01 00:00:00.000") + 28,
            EventTableModel.PROCESSED: fm.horizontalAdvance("2024-01-01 00:00:00.000") + 28,
            EventTableModel.STREAM: fm.horizontalAdvance("customer-000000") + 16,
            EventTableModel.VERSION: fm.horizontalAdvance("Ver0000") + 8,
            EventTableModel.TYPE: fm.horizontalAdvance("PaymentCaptured") + 36,
        }
        for col, w in widths.items():
            self.setColumnWidth(col, w)
        self.doubleClicked.connect(self._on_double_clicked)
        navigator.positionChanged.connect(self._follow)
        navigator.sessionChanged.connect(self._on_session)
        theme.changed.connect(self._apply_theme)
        self._apply_theme()

    def _apply_theme(self) -> None:
        c = self._theme.colors
        self.event_model.set_colors(c.current_bg, c.current_fg, c.muted, list(c.types))

    def _on_session(self) -> None:
        self._follow(self._nav.row)

    @guarded("Event table")
    def _follow(self, row: int) -> None:
        """Select and scroll to the current row (the model also paints it)."""
        if row < 0 or row >= self.event_model.rowCount():
            if row < 0 and self.event_model.rowCount():
                self.scrollToTop()
            return
        # The current position is painted by the model (its own colour); the selection stays
        # the user's, so "where I am" and "what I clicked" never look alike.
        index = self.event_model.index(row, 0)
        self.selectionModel().setCurrentIndex(index, self.selectionModel().SelectionFlag.NoUpdate)
        self.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)

    def _on_double_clicked(self, index: QModelIndex | QPersistentModelIndex) -> None:
        if index.isValid():
            self.jumpRequested.emit(index.row())

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            index = self.currentIndex()
            if index.isValid():
                self.jumpRequested.emit(index.row())
                event.accept()
                return
        super().keyPressEvent(event)

    def visible_rows(self) -> tuple[int, int]:
        """First and last row on screen (for tests and the benchmark)."""
        top = self.rowAt(0)
        bottom = self.rowAt(self.viewport().height() - 1)
        if bottom < 0:
            bottom = self.event_model.rowCount() - 1
        return top, bottom
