"""The event table: every event of the branch, the current one highlighted and kept in view."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QKeyEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from app.controller import Navigator
from app.qt_errors import guarded
from app.qt_models import ROW_MIME, EventTableModel
from views.theme import Theme


class EventTableView(QTableView):
    """Double-click or Enter on a row asks to jump there (``jumpRequested``). In a branch,
    rows can be dragged to another place (``moveRequested``); a right click asks for the
    row's menu (``menuRequested``, the window builds it)."""

    jumpRequested = Signal(int)
    moveRequested = Signal(int, int)
    """(row of the dragged event, row it goes after; -1: to the very start)."""
    menuRequested = Signal(int, QPoint)
    """(row under the mouse, -1 for none; global position)."""

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
        vh = self.verticalHeader()
        vh.setObjectName("breakpointGutter")
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setFixedWidth(18)
        vh.setSectionsClickable(True)
        vh.setHighlightSections(False)
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
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._on_menu)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        navigator.positionChanged.connect(self._follow)
        navigator.sessionChanged.connect(self._on_session)
        theme.changed.connect(self._apply_theme)
        self._apply_theme()

    def _apply_theme(self) -> None:
        c = self._theme.colors
        self.event_model.set_colors(c.current_bg, c.current_fg, c.muted, list(c.types))
        self.event_model.set_marks_look(self._theme.mark_icons(), c.edited_bg, c.inserted_bg)

    def _on_session(self) -> None:
        self._follow(self._nav.row)

    @guarded("Event table")
    def _follow(self, row: int) -> None:
        """Select and scroll to the current row (the model also paints it)."""
        view_row = self.event_model.view_row(row) if row >= 0 else None
        if view_row is None or view_row >= self.event_model.rowCount():
            if row < 0 and self.event_model.rowCount():
                self.scrollToTop()
            return
        # The current position is painted by the model (its own colour); the selection stays
        # the user's, so "where I am" and "what I clicked" never look alike.
        index = self.event_model.index(view_row, 0)
        self.selectionModel().setCurrentIndex(index, self.selectionModel().SelectionFlag.NoUpdate)
        self.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)

    def _on_double_clicked(self, index: QModelIndex | QPersistentModelIndex) -> None:
        if index.isValid():
            self.jumpRequested.emit(self.event_model.display_row(index.row()))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            index = self.currentIndex()
            if index.isValid():
                self.jumpRequested.emit(self.event_model.display_row(index.row()))
                event.accept()
                return
        super().keyPressEvent(event)

    def target_row(self) -> int:
        """The row edits apply to: the one the user picked, else the cursor's."""
        index = self.currentIndex()
        return self.event_model.display_row(index.row()) if index.isValid() else self._nav.row

    def select_display_row(self, row: int) -> None:
        """Select the row showing the navigator's row ``row`` (if the filter shows it)."""
        view_row = self.event_model.view_row(row)
        if view_row is not None:
            self.selectRow(view_row)
            self.setCurrentIndex(self.event_model.index(view_row, 0))

    def _on_menu(self, pos: QPoint) -> None:
        index = self.indexAt(pos)
        if index.isValid():
            self.selectRow(index.row())
            self.setCurrentIndex(index)
        self.menuRequested.emit(
            self.event_model.display_row(index.row()) if index.isValid() else -1,
            self.viewport().mapToGlobal(pos),
        )

    # --- moving events by dragging their rows ------------------------------------------------

    def _accepts(self, event: QDragEnterEvent | QDragMoveEvent | QDropEvent) -> bool:
        """Only rows of this table (a private mime type), only in a branch, and not while a
        filter hides rows (where a row lands would be ambiguous)."""
        return (
            self._nav.branch != "main"
            and not self.event_model.filtered
            and event.mimeData().hasFormat(ROW_MIME)
        )

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._accepts(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if self._accepts(event):
            super().dragMoveEvent(event)
            event.acceptProposedAction()
        else:
            event.ignore()

    def drop_target(self, pos: QPoint) -> int:
        """The row a drop at ``pos`` (viewport coordinates) puts the event after."""
        index = self.indexAt(pos)
        if not index.isValid():
            return self.event_model.rowCount() - 1
        rect = self.visualRect(index)
        return index.row() - 1 if pos.y() < rect.center().y() else index.row()

    def dropEvent(self, event: QDropEvent) -> None:
        if not self._accepts(event):
            event.ignore()
            return
        try:
            source = int(bytes(event.mimeData().data(ROW_MIME).data()).decode())
        except ValueError:
            event.ignore()
            return
        after = self.drop_target(event.position().toPoint())
        # The model never removes the dragged row itself: the move is an edit, made by the
        # window, and the branch reloads.
        event.setDropAction(Qt.DropAction.IgnoreAction)
        event.accept()
        if after not in (source, source - 1):
            self.moveRequested.emit(source, after)
