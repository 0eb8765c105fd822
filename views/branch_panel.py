"""The branch panel: branches as a tree, one click to switch, and the undo history.

A git-graph-like tree (each branch under the one it forks from, with its fork point and
edits), a small toolbar (fork here, rename, note, archive, compare with parent), and below
it the current branch's history: clicking an entry undoes or redoes up to it.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListView,
    QPlainTextEdit,
    QRadioButton,
    QSplitter,
    QToolBar,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.qt_branches import BranchController, BranchTreeModel, HistoryModel, NameRole, PointRole
from app.qt_errors import guarded
from models.event import Event, format_key
from views.theme import Theme


class ForkDialog(QDialog):
    """Fork a branch at an event: shared with the parent up to the fork point, changeable
    after it. By default the fork point is just *before* the chosen event, so that event
    itself can be dropped or edited in the new branch."""

    def __init__(
        self,
        parent_branch: str,
        event: Event | None,
        previous: Event | None,
        suggested: str,
        submit: Callable[[str, int | None, str], str | None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("forkDialog")
        self.setWindowTitle("Fork a branch")
        self._submit = submit
        self._event = event
        self._previous = previous
        self.name_edit = QLineEdit(suggested)
        self.name_edit.setObjectName("forkName")
        self.name_edit.selectAll()
        self.before = QRadioButton()
        self.after = QRadioButton()
        group = QButtonGroup(self)
        group.addButton(self.before)
        group.addButton(self.after)
        if event is None:
            self.before.setText("From the very start (every event can be changed)")
            self.after.hide()
        else:
            what = f"{format_key(event.key)} {event.type}"
            self.before.setText(f"Before {what}: it and everything after it can be changed")
            self.after.setText(f"After {what}: it is shared with {parent_branch}")
        self.before.setChecked(True)
        self.note_edit = QPlainTextEdit()
        self.note_edit.setObjectName("forkNote")
        self.note_edit.setPlaceholderText("What this branch tries (optional)")
        self.note_edit.setMaximumHeight(70)
        self.error = QLabel()
        self.error.setObjectName("dialogError")
        self.error.setStyleSheet("color: #c62828;")
        self.error.setWordWrap(True)
        self.error.hide()
        form = QFormLayout()
        form.addRow("Name:", self.name_edit)
        form.addRow("Forks from:", QLabel(parent_branch))
        where = QVBoxLayout()
        where.addWidget(self.before)
        where.addWidget(self.after)
        form.addRow("Fork point:", where)
        form.addRow("Note:", self.note_edit)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addWidget(self.error)
        box.addWidget(self.buttons)
        self.name_edit.textChanged.connect(self._update)
        self._update()
        self.resize(520, self.sizeHint().height())

    def fork_at(self) -> int | None:
        if self._event is None:
            return None
        if self.after.isChecked():
            return self._event.key
        return None if self._previous is None else self._previous.key

    def _update(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        if ok is not None:
            ok.setEnabled(bool(self.name_edit.text().strip()))

    def _accept(self) -> None:
        problem = self._submit(
            self.name_edit.text().strip(), self.fork_at(), self.note_edit.toPlainText()
        )
        if problem:
            self.error.setText(problem)
            self.error.show()
            return
        self.accept()


class BranchPanel(QWidget):
    forkRequested = Signal()
    """Fork at the window's current event (the window knows which one)."""
    compareRequested = Signal(str)
    """Compare this branch with its parent."""

    def __init__(
        self, controller: BranchController, theme: Theme, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("branchPanel")
        self.ctl = controller
        self._theme = theme
        self.model = BranchTreeModel(controller, self)
        self.history_model = HistoryModel(controller, self)
        self.rename_dialog: QInputDialog | None = None
        self.note_dialog: QInputDialog | None = None

        self.toolbar = QToolBar()
        self.toolbar.setIconSize(QSize(18, 18))
        self.fork_action = QAction("Fork here…", self)
        self.fork_action.setToolTip("Fork a branch at the current event (Ctrl+B)")
        self.fork_action.triggered.connect(self.forkRequested.emit)
        self.rename_action = QAction("Rename…", self)
        self.rename_action.setToolTip("Rename the selected branch")
        self.rename_action.triggered.connect(self.ask_rename)
        self.note_action = QAction("Note…", self)
        self.note_action.setToolTip("Write a note on the selected branch")
        self.note_action.triggered.connect(self.ask_note)
        self.archive_action = QAction("Archive", self)
        self.archive_action.setToolTip(
            "Hide the selected branch (never deleted; 'Show archived' brings it back)"
        )
        self.archive_action.triggered.connect(self.toggle_archive)
        self.compare_action = QAction("Compare with parent", self)
        self.compare_action.setToolTip("Compare the selected branch's end with its parent's")
        self.compare_action.triggered.connect(self._compare)
        for action in (
            self.fork_action,
            self.rename_action,
            self.note_action,
            self.archive_action,
            self.compare_action,
        ):
            self.toolbar.addAction(action)
        self.show_archived = QCheckBox("Show archived")
        self.show_archived.setObjectName("showArchived")
        self.show_archived.toggled.connect(self.model.set_show_archived)

        self.tree = QTreeView()
        self.tree.setObjectName("branchTree")
        self.tree.setModel(self.model)
        self.tree.setUniformRowHeights(True)
        self.tree.setRootIsDecorated(True)
        self.tree.setItemsExpandable(False)
        self.tree.setExpandsOnDoubleClick(False)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.tree.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        fm = self.fontMetrics()
        self.tree.setColumnWidth(0, fm.horizontalAdvance("fix-double-charge-00") + 40)
        self.tree.setColumnWidth(1, fm.horizontalAdvance("Forks after") + 12)
        self.tree.setColumnWidth(2, fm.horizontalAdvance("00 of 00") + 12)
        self.tree.setColumnWidth(3, fm.horizontalAdvance("0,000,000") + 12)
        self.tree.clicked.connect(self._on_clicked)
        self.tree.activated.connect(self._on_clicked)
        self.model.modelReset.connect(self._after_reset)

        self.history_title = QLabel()
        self.history_title.setObjectName("historyTitle")
        self.undo_button = QToolButton()
        self.undo_button.setObjectName("historyUndo")
        self.undo_button.setAutoRaise(True)
        self.redo_button = QToolButton()
        self.redo_button.setObjectName("historyRedo")
        self.redo_button.setAutoRaise(True)
        self.history = QListView()
        self.history.setObjectName("historyList")
        self.history.setModel(self.history_model)
        self.history.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.history.setUniformItemSizes(True)
        self.history.clicked.connect(self._on_history_clicked)
        self.history_model.modelReset.connect(self._after_history_reset)

        top = QWidget()
        tbox = QVBoxLayout(top)
        tbox.setContentsMargins(0, 0, 0, 0)
        tbox.setSpacing(2)
        row = QHBoxLayout()
        row.addWidget(self.toolbar, 1)
        row.addWidget(self.show_archived)
        tbox.addLayout(row)
        tbox.addWidget(self.tree, 1)
        bottom = QWidget()
        bbox = QVBoxLayout(bottom)
        bbox.setContentsMargins(0, 0, 0, 0)
        bbox.setSpacing(2)
        hrow = QHBoxLayout()
        hrow.addWidget(self.history_title, 1)
        hrow.addWidget(self.undo_button)
        hrow.addWidget(self.redo_button)
        bbox.addLayout(hrow)
        bbox.addWidget(self.history, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("branchSplitter")
        self.splitter.addWidget(top)
        self.splitter.addWidget(bottom)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        box = QVBoxLayout(self)
        box.setContentsMargins(2, 2, 2, 2)
        box.addWidget(self.splitter)
        theme.changed.connect(self._apply_theme)
        self._apply_theme()

    def set_undo_actions(self, undo: QAction, redo: QAction) -> None:
        """The window's Undo / Redo (Ctrl+Z / Ctrl+Shift+Z), shown above the history."""
        self.undo_button.setDefaultAction(undo)
        self.redo_button.setDefaultAction(redo)

    def _apply_theme(self) -> None:
        t = self._theme
        icons = {
            "branch": t.icon("branch"),
            "main": t.icon("main-branch"),
            "current": t.icon("current-branch"),
        }
        self.model.set_look(t.colors.muted, icons)
        marks = t.mark_icons()
        self.history_model.set_look(
            t.colors.muted,
            {
                "fork": t.icon("fork"),
                "drop": marks["dropped"],
                "restore": t.icon("undo"),
                "edit": marks["edited"],
                "insert": marks["inserted"],
                "move": marks["moved"],
            },
        )
        for action, icon in (
            (self.fork_action, "fork"),
            (self.rename_action, "rename"),
            (self.note_action, "note"),
            (self.archive_action, "archive"),
            (self.compare_action, "compare"),
        ):
            action.setIcon(t.icon(icon))

    # --- selection and switching ----------------------------------------------------------

    def selected(self) -> str | None:
        index = self.tree.currentIndex()
        name = index.data(NameRole) if index.isValid() else None
        return str(name) if name else None

    def _target(self) -> str | None:
        return self.selected() or (self.ctl.nav.branch if self.ctl.session else None)

    def _after_reset(self) -> None:
        self.tree.expandAll()
        self.tree.resizeColumnToContents(0)
        index = self.model.index_of(self.ctl.nav.branch)
        if index.isValid():
            self.tree.setCurrentIndex(index)
        self._update_actions()

    def _after_history_reset(self) -> None:
        nav = self.ctl.nav
        n = max(0, self.history_model.rowCount() - 1)
        self.history_title.setText(
            f"History of {nav.branch}" + (f" · {n} step{'s' if n != 1 else ''}" if n else "")
            if nav.session is not None
            else "History"
        )
        point = self.history_model.index(self.history_model.point, 0)
        if point.isValid():
            self.history.setCurrentIndex(point)
            self.history.scrollTo(point)

    def _update_actions(self) -> None:
        name = self._target()
        has = self.ctl.session is not None
        editable = has and name not in (None, "main")
        for action in (self.rename_action, self.note_action, self.archive_action):
            action.setEnabled(editable)
        self.compare_action.setEnabled(editable)
        self.fork_action.setEnabled(has)
        meta = self.ctl.session.branch_meta().get(name or "") if self.ctl.session else None
        archived = meta is not None and meta.archived
        self.archive_action.setText("Unarchive" if archived else "Archive")

    @guarded("Switch branch")
    def _on_clicked(self, index: QModelIndex | QPersistentModelIndex) -> None:
        name = index.data(NameRole)
        self._update_actions()
        if name:
            self.ctl.switch(str(name))

    @guarded("Undo history")
    def _on_history_clicked(self, index: QModelIndex | QPersistentModelIndex) -> None:
        point = index.data(PointRole)
        if point is None or point == self.history_model.point:
            return
        if self.ctl.nav.branch == "main":
            return
        self.ctl.go_to_history(int(point))

    # --- actions ----------------------------------------------------------------------------

    def ask_rename(self) -> None:
        name = self._target()
        if name is None or name == "main":
            return
        dialog = QInputDialog(self)
        dialog.setObjectName("renameDialog")
        dialog.setWindowTitle("Rename branch")
        dialog.setLabelText(f"New name for {name}:")
        dialog.setTextValue(name)
        dialog.textValueSelected.connect(lambda text: self.ctl.rename(name, text))
        self.rename_dialog = dialog
        dialog.open()

    def ask_note(self) -> None:
        name = self._target()
        if name is None or self.ctl.session is None:
            return
        meta = self.ctl.session.branch_meta().get(name)
        dialog = QInputDialog(self)
        dialog.setObjectName("noteDialog")
        dialog.setWindowTitle(f"Note on {name}")
        dialog.setLabelText("What this branch is about:")
        dialog.setOption(QInputDialog.InputDialogOption.UsePlainTextEditForTextInput)
        dialog.setTextValue(meta.note if meta else "")
        dialog.textValueSelected.connect(lambda text: self.ctl.set_note(name, text))
        self.note_dialog = dialog
        dialog.open()

    def toggle_archive(self) -> None:
        name = self._target()
        if name is None or name == "main" or self.ctl.session is None:
            return
        meta = self.ctl.session.branch_meta().get(name)
        self.ctl.archive(name, not (meta is not None and meta.archived))

    def _compare(self) -> None:
        name = self._target()
        if name is not None and name != "main":
            self.compareRequested.emit(name)
