"""The state after the current event, as a lazy tree with what the event changed highlighted.

Expanded nodes stay expanded while stepping (remembered by path), and the paths the current
event changed are opened and scrolled to, the way a debugger shows the variables that just
changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.controller import Navigator
from app.projections import handled_by, user_location
from app.qt_errors import describe, guarded
from app.qt_models import StateTreeModel, copy_text, format_path
from models.event import Event, format_key
from replay_engine.errors import Cancelled, ProjectionError
from views.theme import Theme

AUTO_EXPAND_LIMIT = 60


class JsonTreeView(QTreeView):
    """A tree over a :class:`StateTreeModel` with copy path / copy value actions."""

    def __init__(self, model: StateTreeModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree_model = model
        self.setModel(model)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.setColumnWidth(0, 200)
        self.setColumnWidth(1, 220)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.copy_value_action = QAction("Copy value", self)
        self.copy_value_action.setShortcut(QKeySequence.StandardKey.Copy)
        self.copy_value_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.copy_value_action.triggered.connect(self.copy_value)
        self.copy_path_action = QAction("Copy path", self)
        self.copy_path_action.setShortcut(QKeySequence("Ctrl+Shift+C"))
        self.copy_path_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.copy_path_action.triggered.connect(self.copy_path)
        self.addAction(self.copy_value_action)
        self.addAction(self.copy_path_action)
        self.extra_actions: list[QAction] = []
        """More entries for the context menu (the state inspector adds "Plot over time")."""

    def _menu(self, pos: QPoint) -> None:
        index = self.indexAt(pos)
        if not index.isValid():
            return
        self.setCurrentIndex(index)
        menu = QMenu(self)
        menu.addAction(self.copy_value_action)
        menu.addAction(self.copy_path_action)
        if self.extra_actions:
            menu.addSeparator()
            for action in self.extra_actions:
                menu.addAction(action)
        menu.popup(self.viewport().mapToGlobal(pos))

    @guarded("Copy value")
    def copy_value(self) -> None:
        index = self.currentIndex()
        if index.isValid():
            value = self.tree_model.value_at(index)
            QGuiApplication.clipboard().setText(copy_text(value))

    @guarded("Copy path")
    def copy_path(self) -> None:
        index = self.currentIndex()
        if index.isValid():
            QGuiApplication.clipboard().setText(format_path(self.tree_model.path_at(index)))

    def index_of_path(self, path: tuple[Any, ...]) -> QModelIndex:
        """The row of state path ``path``, or invalid if it is not shown."""
        return self.tree_model.index_of_path(path)

    def reveal(self, index: QModelIndex) -> None:
        """Expand every ancestor of ``index`` (groups included)."""
        parent = index.parent()
        chain = []
        while parent.isValid():
            chain.append(parent)
            parent = parent.parent()
        for p in reversed(chain):
            self.expand(p)


class StateInspector(QWidget):
    plotRequested = Signal(str)
    """Plot the value at this path over the event sequence (the metric chart)."""

    def __init__(self, navigator: Navigator, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("stateInspector")
        self._nav = navigator
        self._theme = theme
        self.model = StateTreeModel(self)
        self.title = QLabel("No log open")
        self.title.setObjectName("stateTitle")
        self.title.setWordWrap(True)
        self.error = QLabel()
        self.error.setObjectName("stateError")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.hide()
        self.filter = QLineEdit()
        self.filter.setObjectName("stateFilter")
        self.filter.setPlaceholderText("Filter keys and values…")
        self.filter.setClearButtonEnabled(True)
        self.rule = QLabel()
        self.rule.setObjectName("stateRule")
        self.rule.setWordWrap(True)
        self.rule.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.rule.hide()
        self.tree = JsonTreeView(self.model)
        self.tree.setObjectName("stateTree")
        self.header = QHBoxLayout()
        self.header.setContentsMargins(0, 0, 0, 0)
        self.header.addWidget(self.filter, 1)
        box = QVBoxLayout(self)
        box.setContentsMargins(2, 2, 2, 2)
        box.setSpacing(3)
        box.addWidget(self.title)
        box.addWidget(self.rule)
        box.addLayout(self.header)
        box.addWidget(self.error)
        box.addWidget(self.tree, 1)

        self._expanded: set[tuple[Any, ...]] = set()
        self._key_cache: list[Any] = []
        self._prefix_keys = False
        self._restoring = False
        self.tree.expanded.connect(self._on_expanded)
        self.tree.collapsed.connect(self._on_collapsed)
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(200)
        self._filter_timer.timeout.connect(self._apply_filter)
        self.filter.textChanged.connect(lambda _t: self._filter_timer.start())
        self.filter.returnPressed.connect(self._apply_filter)
        self.model.failed.connect(self._on_failed, Qt.ConnectionType.QueuedConnection)
        self.plot_action = QAction("Plot over time", self)
        self.plot_action.setToolTip("Chart this value over the event sequence, per branch")
        self.plot_action.triggered.connect(self._plot_current)
        self.tree.extra_actions.append(self.plot_action)
        self._held = False
        navigator.busyChanged.connect(self._on_busy)
        navigator.positionChanged.connect(self._on_position)
        navigator.sessionChanged.connect(self._on_session)
        theme.changed.connect(self._apply_theme)
        self._apply_theme()

    def add_header(self, widget: QWidget) -> None:
        """A control beside the filter (the projection switch)."""
        self.header.addWidget(widget)

    def engine(self) -> Any:
        """The engine whose state this inspector shows (the session's active one)."""
        return self._nav.engine

    def _show_rule(self, ev: Event | None) -> None:
        """Which handler version of the user's projection applies the current event."""
        engine = self.engine()
        text = None if ev is None or engine is None else handled_by(engine.projection, ev)
        self.rule.setText(text or "")
        self.rule.setVisible(text is not None)

    def _show_failure(self, exc: BaseException, where: str) -> None:
        """Break on exception: what failed, where in the user's code, and the state just
        before the failing event."""
        text = f"The projection failed at {where}:\n{describe(exc)}"
        if isinstance(exc, Cancelled):
            text = (
                f"Stopped at {where}: the projection's own code ran for seconds in one call "
                f"({exc}). Fix the handler and reload (Ctrl+R), or look at another event."
            )
        if isinstance(exc, ProjectionError):
            spot = user_location(exc.traceback_text)
            if spot is not None:
                text += f"\n{spot[0]}, line {spot[1]}, in {spot[2]}"
            self.error.setToolTip(exc.traceback_text)
            self.model.set_value(exc.state_before)
            self.title.setText(f"State before the failing event {format_key(exc.key)}")
        else:
            self.error.setToolTip("")
            self.model.set_value({})
            self.title.setText(f"No state after {where}")
        self.error.setText(text)
        self.error.show()

    def _apply_theme(self) -> None:
        c = self._theme.colors
        self.model.set_colors(
            {"added": c.added, "changed": c.changed, "removed": c.removed}, c.change_text
        )
        self.error.setStyleSheet(
            f"background: {c.error_bg.name()}; color: {c.error_fg.name()};"
            " padding: 4px; border-radius: 3px;"
        )

    def _on_failed(self, exc: BaseException) -> None:
        self._show_failure(exc, "a state this view unfolded")

    def _on_session(self) -> None:
        self._expanded.clear()
        self._key_cache = []
        rows = self._nav.rows
        # In a branch without dropped events the keys of a keyed state (in order of first
        # appearance) at an earlier row are a prefix of those at a later one, so one listing
        # serves every step back and every step that adds no key.
        self._prefix_keys = len(rows) > 0 and not bool(rows.dropped.any())

    def _keys_of(self, state: Any) -> list[Any] | None:
        if not self._prefix_keys or not isinstance(state, Mapping) or isinstance(state, dict):
            return None
        n = len(state)
        if n > len(self._key_cache):
            self._key_cache = list(state)
        return self._key_cache[:n]

    def _on_expanded(self, index: QModelIndex | QPersistentModelIndex) -> None:
        if not self._restoring:
            self._expanded.add(self.model.npath_at(index))

    def _on_collapsed(self, index: QModelIndex | QPersistentModelIndex) -> None:
        if not self._restoring:
            path = self.model.npath_at(index)
            self._expanded = {p for p in self._expanded if p[: len(path)] != path}

    @guarded("Filter")
    def _apply_filter(self) -> None:
        self._filter_timer.stop()
        if self.filter.text().strip().lower() == self.model.filter_text:
            return
        self.model.set_filter(self.filter.text())
        self._restore_expansion()
        self.tree.scrollToTop()
        if self.model.filter_text and self.model.rowCount() <= 30:
            self._restoring = True
            try:
                for r in range(self.model.rowCount()):
                    self.tree.expand(self.model.index(r, 0))
            finally:
                self._restoring = False

    def _plot_current(self) -> None:
        index = self.tree.currentIndex()
        if index.isValid():
            self.plotRequested.emit(format_path(self.model.path_at(index)))

    def _on_busy(self, busy: bool) -> None:
        self.tree.setEnabled(not busy and not self._held)
        if busy:
            self.title.setText("Replaying… (the state shows when the engine is done)")
        elif not self._held:
            self.refresh()

    def hold(self, text: str) -> None:
        """Show ``text`` instead of the state until the user moves: a replay was cancelled,
        and folding here would freeze the window for as long as the replay would have taken."""
        self._held = True
        self.title.setText(text)
        self.tree.setEnabled(False)

    def _on_position(self, row: int) -> None:
        self._held = False
        self.refresh(row)

    @guarded("State inspector")
    def refresh(self, row: int | None = None) -> None:
        """Show the state after ``row`` (the navigator's by default)."""
        nav = self._nav
        row = nav.row if row is None else row
        if nav.busy:  # a worker uses the engine: the state shows when it is done
            self.tree.setEnabled(False)
            return
        self.tree.setEnabled(True)
        engine = self.engine()
        if engine is None:
            self.title.setText("No log open")
            self.model.set_value({})
            self.error.hide()
            return
        ev = None
        if row >= 0:
            ev = nav.current_event() if row == nav.row else engine.event_at(nav.branch, row)
        try:
            state = engine.state_at(nav.branch, row)
            changes = engine.changes_at(nav.branch, row) if row >= 0 else []
        except Exception as exc:
            where = "the initial state" if row < 0 else f"event {format_key(nav.key_at(row))}"
            self._show_failure(exc, where)
            self._show_rule(ev)
            return
        self.error.hide()
        self._show_rule(ev)
        self.model.set_value(state, changes, self._keys_of(state))
        n = len(changes)
        if row < 0:
            self.title.setText("Initial state (before the first event)")
        else:
            what = f" {ev.type}" if ev is not None else ""
            change = f" · {n} change{'s' if n != 1 else ''}" if n else " · no change"
            self.title.setText(f"State after {format_key(nav.key_at(row))}{what}{change}")
        self._restore_expansion()
        self._show_changes()

    def _restore_expansion(self) -> None:
        self._restoring = True
        try:
            for npath in sorted(self._expanded, key=len):
                index = self.model.index_of_npath(npath)
                if index.isValid():
                    self.tree.expand(index)
        finally:
            self._restoring = False

    def _show_changes(self) -> None:
        paths = self.model.changed_paths()[:AUTO_EXPAND_LIMIT]
        self._restoring = True
        first: QModelIndex | None = None
        try:
            for path in paths:
                index = self.model.index_of_path(path)
                if index.isValid():
                    self.tree.reveal(index)
                    first = index if first is None else first
        finally:
            self._restoring = False
        if first is not None:
            # The changed node's top-level entry (its stream) at the top: its neighbours in
            # view, the change right below.
            top = self.model.index_of_path(self.model.path_at(first)[:1])
            self.tree.scrollTo(top, QAbstractItemView.ScrollHint.PositionAtTop)
            self.tree.scrollTo(first, QAbstractItemView.ScrollHint.EnsureVisible)

    def visible_keys(self) -> list[str]:
        """Keys of the top-level rows as shown (for tests)."""
        return [self.model.index(r, 0).data() for r in range(self.model.rowCount())]
