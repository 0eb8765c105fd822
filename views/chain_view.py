"""The Chain dock: who caused the current event, what it caused, what else belongs to its flow,
and — in a second tab — who reacts to what over the whole log (DESIGN.md, Collaboration).

The causation index (models.causation) is built once per session on the engine worker, the
first time the dock is shown; until then the dock says it is indexing. Afterwards every move
of the cursor is a few array slices. The chain is about the source log's events (positions
are event keys): in a branch that reorders or drops events, rows are found by key, and an
event the branch inserted has no recorded causes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableView,
    QTabWidget,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.qt_errors import describe, guarded
from app.qt_models import format_time
from models.causation import (
    CausationCancelled,
    CausationIndex,
    Chain,
    EffectNode,
    Link,
    Reaction,
    reactions,
)
from models.event import format_key
from replay_engine.errors import Cancelled
from views.theme import Theme

if TYPE_CHECKING:
    from views.main_window import MainWindow

AnyIndex = QModelIndex | QPersistentModelIndex
PositionRole: Final = Qt.ItemDataRole.UserRole + 1
"""The event position (key) of a chain row; None for headings and notes."""
CAUSES_SHOWN: Final = 1000
"""Causes the tree lists above the event (the nearest ones; a note says the chain goes on)."""
KIND: Final = "causation-index"
LABEL: Final = "Indexing causation"
_DISPLAY = Qt.ItemDataRole.DisplayRole

_SECTION, _EVENT, _NOTE = "section", "event", "note"
_GEOMETRY_EVENTS: Final = (QEvent.Type.Move, QEvent.Type.Resize, QEvent.Type.Show, QEvent.Type.Hide)


class _Node:
    """One row of the chain tree: a heading, an event or a note."""

    __slots__ = ("children", "current", "kind", "loops", "parent", "pos", "row", "text")

    def __init__(
        self,
        kind: str,
        parent: _Node | None,
        *,
        pos: int = -1,
        text: str = "",
        current: bool = False,
        loops: bool = False,
    ) -> None:
        self.kind = kind
        self.parent = parent
        self.pos = pos
        self.text = text
        self.current = current
        self.loops = loops
        self.children: list[_Node] = []
        self.row = 0
        if parent is not None:
            self.row = len(parent.children)
            parent.children.append(self)


class ChainModel(QAbstractItemModel):
    """Causes (the flow's first event at the top), the event with its effects below it,
    then the events of its correlation id in time order."""

    COLUMNS = ("Event", "Time", "Stream", "Type", "Service")

    def __init__(self, theme: Theme, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._theme = theme
        self._root = _Node(_SECTION, None)
        self._retired: list[_Node] = []
        """The trees before the last two resets: indexes a view still holds for a moment
        (a click being delivered) must not point at freed nodes."""
        self._index: CausationIndex | None = None
        self.chain: Chain | None = None

    # --- filling --------------------------------------------------------------------------

    def clear(self) -> None:
        self._reset(_Node(_SECTION, None), None, None)

    def set_chain(self, index: CausationIndex, chain: Chain) -> None:
        root = _Node(_SECTION, None)
        self._causes(root, index, chain)
        current = _Node(_EVENT, root, pos=chain.pos, current=True)
        self._effects(current, chain.effects)
        self._correlated(root, chain)
        self._reset(root, index, chain)

    def _reset(self, root: _Node, index: CausationIndex | None, chain: Chain | None) -> None:
        self.beginResetModel()
        self._retired = [*self._retired[-1:], self._root]
        self._root, self._index, self.chain = root, index, chain
        self.endResetModel()

    def _causes(self, root: _Node, index: CausationIndex, chain: Chain) -> None:
        causes = chain.causes
        if causes:
            title = f"Causes ({len(causes)}{'+' if chain.causes_cut else ''})"
        elif chain.link == Link.ROOT:
            title = "Causes — none: this event starts its flow"
        elif chain.link == Link.NONE:
            title = "Causes — this event has no causation id"
        else:
            title = "Causes"
        section = _Node(_SECTION, root, text=title)
        top = causes[-1] if causes else chain.pos
        if chain.missing_cause is not None:
            _Node(
                _NOTE,
                section,
                text=f"⚠ {format_key(top)} names cause “{chain.missing_cause}”, "
                "which is not in this log",
            )
        if chain.causes_cut:
            _Node(_NOTE, section, text=f"… the chain goes on above {format_key(top)}")
        if chain.cycle:
            again = index.cause_of(top)
            where = "" if again is None else f" back to {format_key(again)}"
            _Node(_NOTE, section, text=f"↺ the causes loop{where}: a cycle of ids")
        for pos in reversed(causes):
            _Node(_EVENT, section, pos=pos)

    def _effects(self, node: _Node, effects: EffectNode) -> None:
        """The tree below ``node`` (iteratively: it may be hundreds of levels deep)."""
        items = {id(effects): node}
        for effect, parent in effects.walk():
            if parent is not None:
                items[id(effect)] = _Node(
                    _EVENT, items[id(parent)], pos=effect.pos, loops=effect.loops
                )
        for effect, _parent in effects.walk():  # notes after an event's shown effects
            if effect.hidden:
                plural = "s" if effect.hidden != 1 else ""
                _Node(_NOTE, items[id(effect)], text=f"… {effect.hidden:,} more effect{plural}")

    def _correlated(self, root: _Node, chain: Chain) -> None:
        total = chain.correlated_total
        if not total:
            _Node(_SECTION, root, text="Correlated — this event has no correlation id")
            return
        section = _Node(_SECTION, root, text=f"Correlated ({total:,}, in time order)")
        before = chain.correlated_offset
        after = total - before - len(chain.correlated)
        if before:
            _Node(_NOTE, section, text=f"… {before:,} earlier")
        for pos in chain.correlated:
            _Node(_EVENT, section, pos=pos, current=pos == chain.pos)
        if after:
            _Node(_NOTE, section, text=f"… {after:,} later")

    # --- lookups --------------------------------------------------------------------------

    def position(self, index: AnyIndex) -> int | None:
        node = self._node(index)
        return None if node is None or node.kind != _EVENT else node.pos

    def current_index(self) -> QModelIndex:
        """The row of the event itself (under the causes)."""
        for node in self._root.children:
            if node.current:
                return self.createIndex(node.row, 0, node)
        return QModelIndex()

    def _node(self, index: AnyIndex) -> _Node | None:
        if not index.isValid():
            return None
        node = index.internalPointer()
        return node if isinstance(node, _Node) else None

    # --- QAbstractItemModel ---------------------------------------------------------------

    def index(self, row: int, column: int, parent: AnyIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return QModelIndex()
        node = self._node(parent) if parent.isValid() else self._root
        if node is None or not 0 <= row < len(node.children):
            return QModelIndex()
        if not 0 <= column < len(self.COLUMNS):
            return QModelIndex()
        return self.createIndex(row, column, node.children[row])

    def parent(self, index: AnyIndex | None = None) -> Any:
        if index is None:
            return super().parent()
        node = self._node(index)
        if node is None or node.parent is None or node.parent is self._root:
            return QModelIndex()
        return self.createIndex(node.parent.row, 0, node.parent)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return 0
        node = self._node(parent) if parent.isValid() else self._root
        return 0 if node is None else len(node.children)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == _DISPLAY
            and 0 <= section < len(self.COLUMNS)
        ):
            return self.COLUMNS[section]
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        node = self._node(index)
        if node is None:
            return Qt.ItemFlag.NoItemFlags
        if node.kind == _EVENT:
            return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        return Qt.ItemFlag.ItemIsEnabled

    def data(self, index: AnyIndex, role: int = _DISPLAY) -> Any:
        node = self._node(index)
        if node is None:
            return None
        col = index.column()
        if node.kind != _EVENT:
            if role == _DISPLAY and col == 0:
                return node.text
            if role == Qt.ItemDataRole.FontRole and node.kind == _SECTION:
                font = QFont()
                font.setBold(True)
                return font
            if role == Qt.ItemDataRole.ForegroundRole and node.kind == _NOTE:
                colors = self._theme.colors
                return colors.error_fg if node.text.startswith(("⚠", "↺")) else colors.muted
            if role == Qt.ItemDataRole.ToolTipRole and col == 0:
                return node.text
            return None
        if role == _DISPLAY:
            return self._cell(node, col)
        if role == PositionRole:
            return node.pos
        if role == Qt.ItemDataRole.FontRole and node.current:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole and col == 3 and self._index is not None:
            return self._theme.colors.type_color(int(self._index.columns.type_codes[node.pos]))
        if role == Qt.ItemDataRole.ToolTipRole:
            if node.loops:
                return f"{format_key(node.pos)} is already higher up: the causes loop"
            return f"Click to go to {format_key(node.pos)}"
        return None

    def _cell(self, node: _Node, col: int) -> str:
        index = self._index
        if index is None:
            return ""
        cols, pos = index.columns, node.pos
        if col == 0:
            return format_key(pos) + ("  ↺" if node.loops else "")
        if col == 1:
            return format_time(int(cols.recorded_us[pos]))
        if col == 2:
            return cols.stream_names[int(cols.stream_codes[pos])]
        if col == 3:
            return cols.type_names[int(cols.type_codes[pos])]
        return index.service(pos) or ""


class ReactionsModel(QAbstractTableModel):
    """Who reacts to what: one row per (cause type, effect type, service of the effect)."""

    COLUMNS = ("Cause type", "Effect type", "Service", "Events")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Reaction] = []

    def set_reactions(self, rows: list[Reaction]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def reaction(self, row: int) -> Reaction:
        return self._rows[row]

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == _DISPLAY
            and 0 <= section < len(self.COLUMNS)
        ):
            return self.COLUMNS[section]
        return None

    def data(self, index: AnyIndex, role: int = _DISPLAY) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        r, col = self._rows[index.row()], index.column()
        if role == _DISPLAY:
            return (r.cause_type, r.effect_type, r.service or "—", f"{r.events:,}")[col]
        if role == Qt.ItemDataRole.UserRole:  # what sorting compares
            return (r.cause_type, r.effect_type, r.service or "", r.events)[col]
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            by = f" (written by {r.service})" if r.service else ""
            return f"{r.events:,} {r.effect_type} events{by} were caused by a {r.cause_type}"
        return None


class ChainPanel(QWidget):
    """The dock's widget: status line, the chain tree and the reactions table."""

    indexed = Signal()
    """The index of the open session is ready (the views are filled)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__()
        self.setObjectName("chainPanel")
        self.w = window
        self.index: CausationIndex | None = None
        self._indexed_for: Any = None
        """The session ``index`` belongs to."""
        self._building_for: Any = None
        self._active = False
        self._check_pending = False
        self.dock: QDockWidget | None = None
        """The dock showing this panel (set by :func:`install`)."""

        self.status = QLabel()
        self.status.setObjectName("chainStatus")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setObjectName("chainProgress")
        self.progress.setRange(0, 0)
        self.progress.setMaximumHeight(10)
        self.progress.setTextVisible(False)
        self.build_button = QPushButton("Index causation")
        self.build_button.setObjectName("chainBuild")
        self.build_button.setToolTip("Read the correlation and causation ids of every event")
        self.build_button.clicked.connect(guarded("Chain")(self.build))

        self.model = ChainModel(window.theme, self)
        self.tree = QTreeView()
        self.tree.setObjectName("chainTree")
        self.tree.setModel(self.model)
        self.tree.setUniformRowHeights(True)
        self.tree.setExpandsOnDoubleClick(False)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree.header().setStretchLastSection(True)
        self._size_columns()
        self.tree.clicked.connect(self._on_clicked)
        self.tree.activated.connect(self._on_activated)

        self.reactions_model = ReactionsModel(self)
        self.reactions_proxy = QSortFilterProxyModel(self)
        self.reactions_proxy.setSourceModel(self.reactions_model)
        self.reactions_proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self.reactions_table = QTableView()
        self.reactions_table.setObjectName("reactionsTable")
        self.reactions_table.setModel(self.reactions_proxy)
        self.reactions_table.setSortingEnabled(True)
        self.reactions_table.sortByColumn(3, Qt.SortOrder.DescendingOrder)
        self.reactions_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.reactions_table.verticalHeader().hide()
        self.reactions_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.reactions_table.horizontalHeader().setStretchLastSection(True)
        self.summary = QLabel()
        self.summary.setObjectName("reactionsSummary")
        self.summary.setWordWrap(True)
        reactions_page = QWidget()
        box = QVBoxLayout(reactions_page)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.summary)
        box.addWidget(self.reactions_table, 1)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("chainTabs")
        self.tabs.addTab(self.tree, "This event")
        self.tabs.addTab(reactions_page, "Who reacts to what")
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.build_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        layout.addWidget(self.tabs, 1)

        nav = window.navigator
        nav.sessionChanged.connect(self._on_session)
        nav.positionChanged.connect(lambda _row: self.refresh())
        nav.busyChanged.connect(lambda busy: None if busy else self.refresh())
        window.engine_queue.progress.connect(self._on_progress)
        window.engine_queue.busyChanged.connect(
            lambda busy: None if busy else QTimer.singleShot(0, self, self._check_dropped)
        )
        window.theme.changed.connect(self.tree.viewport().update)
        self._show_state()

    def _size_columns(self) -> None:
        """Widths for typical contents, set once: measuring the rows on every step would
        cost more than building the chain (100 ms for a thousand rows)."""
        metrics = self.tree.fontMetrics()
        indent = self.tree.indentation()
        for col, sample in enumerate(
            ("@1,000,000  ↺", "2025-03-03 06:00:27.406", "x" * 16, "x" * 20)
        ):
            extra = 4 * indent if col == 0 else 0
            self.tree.setColumnWidth(col, metrics.horizontalAdvance(sample) + 16 + extra)

    # --- the index ------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        session = self.w.navigator.session
        return session is not None and self.index is not None and self._indexed_for is session

    @property
    def active(self) -> bool:
        """On the screen: it follows the cursor (and indexes a new session)."""
        return self._active

    @property
    def building(self) -> bool:
        session = self.w.navigator.session
        return session is not None and self._building_for is session

    def set_active(self, active: bool) -> None:
        """Shown: index the log if that is not done yet, and follow the cursor; hidden:
        nothing is computed."""
        self._active = active
        if active:
            if not self.ready and not self.building and self.w.navigator.session is not None:
                self.build()
            self.refresh()

    def watch(self, dock: QDockWidget) -> None:
        """Follow whether ``dock`` shows this panel. Qt tells with ``visibilityChanged``, but
        derives it from the geometry (a tab behind another is moved off-screen), which a
        dock not laid out yet does not have: the dock's moves are watched too, and what is
        on the screen decides once the layout has settled."""
        dock.visibilityChanged.connect(lambda _visible: self._check_later())
        dock.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in _GEOMETRY_EVENTS:
            self._check_later()
        return False

    def _check_later(self) -> None:
        if not self._check_pending:
            self._check_pending = True
            QTimer.singleShot(0, self, self._check)

    def _check(self) -> None:
        self._check_pending = False
        shown = self.on_screen()
        if shown != self._active:
            self.set_active(shown)

    def on_screen(self) -> bool:
        return self.isVisible() and not self.visibleRegion().isEmpty()

    def build(self) -> None:
        """Index the open log on the engine worker (once per session)."""
        session = self.w.navigator.session
        if session is None or self.building:
            return
        log = session.log
        self._building_for = session

        def work(progress: Any) -> tuple[CausationIndex, list[Reaction]]:
            try:
                index = CausationIndex.build(log, progress)
            except CausationCancelled as exc:
                raise Cancelled(str(exc)) from exc
            return index, reactions(index)

        def done(result: tuple[CausationIndex, list[Reaction]]) -> None:
            self._on_built(session, result)

        def failed(exc: BaseException) -> None:
            self._on_stopped(session, exc)

        def cancelled() -> None:
            self._on_stopped(session, None)

        self.w.engine_queue.submit(
            KIND, work, label=LABEL, done=done, failed=failed, cancelled=cancelled
        )
        self._show_state()

    def _on_built(self, session: Any, result: tuple[CausationIndex, list[Reaction]]) -> None:
        if self._building_for is session:
            self._building_for = None
        if session is not self.w.navigator.session:
            return
        self.index, self._indexed_for = result[0], session
        self.reactions_model.set_reactions(result[1])
        self.reactions_proxy.sort(
            self.reactions_table.horizontalHeader().sortIndicatorSection(),
            self.reactions_table.horizontalHeader().sortIndicatorOrder(),
        )
        self._show_summary()
        self._show_state()
        self.refresh()
        self.indexed.emit()

    def _on_stopped(self, session: Any, exc: BaseException | None) -> None:
        if self._building_for is session:
            self._building_for = None
        if exc is None:
            self._show_state("Indexing was cancelled. ")
        else:
            self._show_state(f"Indexing failed: {describe(exc)}. ")

    def _check_dropped(self) -> None:
        """The worker is idle and the index job never reported: it was dropped before it
        ran (the status bar's Cancel drops what waits), so it is not building any more."""
        if self._building_for is not None and not self.w.engine_queue.busy:
            self._building_for = None
            self._show_state("Indexing was cancelled. ")

    def _on_session(self) -> None:
        session = self.w.navigator.session
        if session is not self._indexed_for:
            self.index, self._indexed_for = None, None
            self.model.clear()
            self.reactions_model.set_reactions([])
            self.summary.setText("")
            if self._active and session is not None:
                self.build()
        self._show_state()
        self.refresh()

    def _on_progress(self, label: str, done: int, total: int) -> None:
        if label != LABEL or not self.building:
            return
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(done, total) / total))
            self.status.setText(f"Indexing causation and correlation ids… {done:,} of {total:,}")
        else:
            self.progress.setRange(0, 0)

    def _show_state(self, prefix: str = "") -> None:
        building = self.building
        self.progress.setVisible(building)
        session = self.w.navigator.session
        self.build_button.setVisible(session is not None and not building and not self.ready)
        if session is None:
            self.status.setText("Open a log to see who caused what.")
        elif building:
            self.progress.setRange(0, 0)
            self.status.setText(
                f"Indexing causation and correlation ids of {len(session.log):,} events…"
            )
        elif not self.ready:
            self.status.setText(prefix + "The log's causation ids are not indexed yet.")

    def _show_summary(self) -> None:
        if self.index is None:
            return
        c = self.index.counts()
        self.summary.setText(
            f"{c.caused:,} events name a cause in the log · {c.roots:,} start a flow · "
            f"{c.without_id:,} have no causation id · {c.dangling:,} name a cause that is "
            "not in the log"
        )

    # --- following the cursor -------------------------------------------------------------

    @guarded("Chain")
    def refresh(self) -> None:
        if not self._active or not self.ready or self.w.navigator.busy:
            return  # hidden, not indexed, or the worker uses the log: later
        index, nav = self.index, self.w.navigator
        assert index is not None
        key = nav.current_key()
        if key is None:
            self.model.clear()
            self.status.setText("The initial state: pick an event to see its chain.")
            return
        if key < 0:
            self.model.clear()
            self.status.setText(
                f"{format_key(key)} was inserted in this branch: it has no recorded causes "
                "or effects."
            )
            return
        chain = index.chain(key, causes_limit=CAUSES_SHOWN)
        self.model.set_chain(index, chain)
        self.tree.expandAll()
        self._span_headings()
        current = self.model.current_index()
        self.tree.setCurrentIndex(current)
        self.tree.scrollTo(current, QAbstractItemView.ScrollHint.PositionAtCenter)
        self.status.setText(self._describe(index, chain))

    def _span_headings(self) -> None:
        """Headings and notes use the whole width (iteratively: the tree may be deep)."""
        model, todo = self.model, [QModelIndex()]
        while todo:
            parent = todo.pop()
            for row in range(model.rowCount(parent)):
                child = model.index(row, 0, parent)
                if model.position(child) is None:
                    self.tree.setFirstColumnSpanned(row, parent, True)
                elif model.rowCount(child):
                    todo.append(child)

    def _describe(self, index: CausationIndex, chain: Chain) -> str:
        cols, pos = index.columns, chain.pos
        kind = cols.type_names[int(cols.type_codes[pos])]
        effects = chain.effects.size() - 1
        parts = [
            f"{format_key(pos)} {kind}",
            f"{len(chain.causes):,} cause{'s' if len(chain.causes) != 1 else ''}",
            f"{effects:,}{'+' if _capped(chain.effects) else ''} effect"
            f"{'s' if effects != 1 else ''}",
            f"{chain.correlated_total:,} correlated",
        ]
        text = " · ".join(parts)
        if chain.missing_cause is not None:
            text += f" — its chain breaks: cause “{chain.missing_cause}” is not in this log"
        elif chain.cycle:
            text += " — its causes loop"
        return text

    # --- jumping --------------------------------------------------------------------------

    def _on_clicked(self, index: QModelIndex) -> None:
        self._request_jump(self.model.position(index))

    def _on_activated(self, index: QModelIndex) -> None:
        if QGuiApplication.mouseButtons() != Qt.MouseButton.NoButton:
            return  # a double click: its first click already jumped
        self._request_jump(self.model.position(index))

    def _request_jump(self, pos: int | None) -> None:
        # After the signal is delivered: jumping resets the model the view is reporting on.
        if pos is not None:
            QTimer.singleShot(0, self, lambda: self.jump_to(pos))

    @guarded("Chain")
    def jump_to(self, pos: int) -> None:
        """Move the cursor to the event at source position ``pos`` in the current branch."""
        nav = self.w.navigator
        row = nav.row_of_key(pos)
        if row is None:
            self.status.setText(f"{format_key(pos)} is not in branch {nav.branch}.")
            return
        nav.go_to(row)

    # --- layout -----------------------------------------------------------------------------

    def reset_layout(self) -> None:
        """Back beside the event detail (View ▸ Reset layout)."""
        dock = self.dock
        if dock is None:
            return
        dock.setFloating(False)
        self.w.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.w.tabifyDockWidget(self.w.detail_dock, dock)
        self.w.detail_dock.raise_()
        dock.hide()


def _capped(tree: EffectNode) -> bool:
    return any(node.hidden > 0 for node, _parent in tree.walk())


def install(window: MainWindow) -> ChainPanel:
    """The Chain dock, a tab beside the event detail, and its View menu entry."""
    panel = ChainPanel(window)
    dock = window._dock("Chain", "chainDock", panel, Qt.DockWidgetArea.RightDockWidgetArea)
    window.tabifyDockWidget(window.detail_dock, dock)
    window.detail_dock.raise_()
    dock.hide()  # View ▸ Chain: the Event dock keeps its full height meanwhile
    panel.dock = dock
    action = dock.toggleViewAction()
    action.setText("&Chain (causation)")
    action.setToolTip("Who caused the current event, what it caused, who reacts to what")
    menu = window.view_menu
    actions = menu.actions()
    detail = window.detail_dock.toggleViewAction()
    at = actions.index(detail) + 1 if detail in actions else len(actions)
    if at < len(actions):
        menu.insertAction(actions[at], action)
    else:
        menu.addAction(action)
    panel.watch(dock)
    return panel
