"""Bookmarks and notes on events (Ctrl+F2), kept with the log's workspace and listed in
exported reports: the Bookmarks dock lists them, a double-click goes there."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QInputDialog,
    QMenu,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.qt_errors import guarded
from models.event import EventKey, format_key, parse_key

if TYPE_CHECKING:
    from views.main_window import MainWindow


class BookmarksPanel(QWidget):
    def __init__(self, window: MainWindow) -> None:
        super().__init__()
        self.setObjectName("bookmarksPanel")
        self.w = window
        self.tree = QTreeWidget()
        self.tree.setObjectName("bookmarkList")
        self.tree.setHeaderLabels(["Event", "Type", "Stream", "Note"])
        self.tree.setRootIsDecorated(False)
        for column, width in enumerate((70, 150, 140)):
            self.tree.setColumnWidth(column, width)
        self.tree.itemActivated.connect(self._jump)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tree)

    def refill(self) -> None:
        self.tree.clear()
        nav = self.w.navigator
        session = nav.session
        if session is None:
            return
        entries = []
        for text, note in session.bookmarks().items():
            key = parse_key(text)
            row = None if key is None else nav.row_of_key(key)
            if row is None:
                continue  # not in this branch
            event = session.engine.event_at(nav.branch, row)
            entries.append((row, text, event.type, event.stream, note))
        for row, text, kind, stream, note in sorted(entries):
            item = QTreeWidgetItem([text, kind, stream, note])
            item.setData(0, Qt.ItemDataRole.UserRole, row)
            item.setToolTip(3, note)
            self.tree.addTopLevelItem(item)

    @guarded("Bookmarks")
    def _jump(self, item: QTreeWidgetItem, _column: int) -> None:
        self.w.navigator.go_to(int(item.data(0, Qt.ItemDataRole.UserRole)))


class BookmarkActions(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self.panel = BookmarksPanel(window)
        self.toggle_action = QAction("Toggle &Bookmark", window)
        self.toggle_action.setShortcut(QKeySequence("Ctrl+F2"))
        self.toggle_action.setToolTip("Bookmark the current event, or remove its bookmark")
        self.toggle_action.triggered.connect(guarded("Bookmark")(self.toggle_current))
        self.note_action = QAction("Bookmark with a &Note…", window)
        self.note_action.setShortcut(QKeySequence("Ctrl+Shift+F2"))
        self.note_action.triggered.connect(guarded("Bookmark")(self.note_current))
        for action in (self.toggle_action, self.note_action):
            window.addAction(action)
        self.ask = self._ask
        """Asks for a note (tests replace the dialog)."""
        window.navigator.sessionChanged.connect(self.refresh)

    def install(self) -> None:
        w = self.w
        self.dock = w._dock(
            "Bookmarks", "bookmarksDock", self.panel, Qt.DockWidgetArea.LeftDockWidgetArea
        )
        self.dock.hide()  # shown with the first bookmark, or from the Go menu
        w.go_menu.addSeparator()
        w.go_menu.addAction(self.toggle_action)
        w.go_menu.addAction(self.note_action)
        w.go_menu.addAction(self.dock.toggleViewAction())
        w.branch_actions.menu_extenders.append(self._extend_menu)

    def refresh(self) -> None:
        session = self.w.navigator.session
        notes: dict[EventKey, str] = {}
        if session is not None:
            for text, note in session.bookmarks().items():
                key = parse_key(text)
                if key is not None:
                    notes[key] = note
        self.w.table.event_model.set_bookmarks(notes)
        self.panel.refill()

    def set(self, row: int, note: str | None) -> None:
        nav = self.w.navigator
        if nav.session is None or not 0 <= row < nav.count:
            return
        nav.session.set_bookmark(nav.key_at(row), note)
        self.refresh()
        if note is not None and not self.dock.isVisible():
            self.dock.show()

    def toggle_current(self) -> None:
        nav = self.w.navigator
        if nav.session is None or nav.row < 0:
            return
        has = format_key(nav.key_at(nav.row)) in nav.session.bookmarks()
        self.set(nav.row, None if has else "")

    def note_current(self) -> None:
        nav = self.w.navigator
        if nav.session is None or nav.row < 0:
            return
        self.edit_note(nav.row)

    def edit_note(self, row: int) -> None:
        nav = self.w.navigator
        assert nav.session is not None
        old = nav.session.bookmarks().get(format_key(nav.key_at(row)), "")
        note = self.ask(old)
        if note is not None:
            self.set(row, note)

    def _ask(self, old: str) -> str | None:
        note, ok = QInputDialog.getText(self.w, "Bookmark", "Note (may be empty):", text=old)
        return note if ok else None

    def _extend_menu(self, menu: QMenu, row: int) -> None:
        nav = self.w.navigator
        if nav.session is None or not 0 <= row < nav.count:
            return
        has = format_key(nav.key_at(row)) in nav.session.bookmarks()
        text = "Edit the bookmark's note…" if has else "Bookmark…"
        menu.addAction(text, lambda: self.edit_note(row))
        if has:
            menu.addAction("Remove the bookmark", lambda: self.set(row, None))
