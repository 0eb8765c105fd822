"""The Problems dock: version conflicts, gaps, disorder, re-deliveries, id collisions and
clocks going back, found when a log opens (DESIGN.md, Concurrency: make conflicts visible).

The findings are computed on the engine worker (a million events take a fraction of a
second, but the window never waits for it), listed as a tree (kind, finding, its events),
and marked on the timeline with a scatter item of our own, drawn for at most
:data:`MAX_MARKS` events. A conflict can be resolved both ways in branches: "Branch: keep
only this one" forks main before the race and drops the other racing events, so the
outcomes can be compared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.controller import MAIN
from app.findings import LABELS, describe, session_findings
from app.qt_errors import guarded
from app.session import BranchOps
from models.event import format_key
from models.findings import KINDS, Conflict, Finding, Findings, Gap, OutOfOrder
from models.log import NA, Columns

if TYPE_CHECKING:
    from views.main_window import MainWindow

AnyIndex = QModelIndex | QPersistentModelIndex
PositionRole = Qt.ItemDataRole.UserRole + 20
"""The source position (event key) a row stands for: an event row's own, a finding row's
first event; None for a kind's row."""
KindRole = Qt.ItemDataRole.UserRole + 21
"""The kind of finding ('conflicts', 'gaps', ...) of every row under it."""

LIMIT = 5000
"""Findings of one kind listed at most (``inspect --json`` lists them all)."""
MAX_MARKS = 2000
"""Events marked on the timeline at most (a scatter item must stay small)."""

_DISPLAY = Qt.ItemDataRole.DisplayRole
_NAMES = {
    "conflicts": "Conflict",
    "gaps": "Gap",
    "out_of_order": "Out of order",
    "redeliveries": "Re-delivery",
    "id_collisions": "Id collision",
    "time_backwards": "Time goes back",
}
_MARKS = {  # symbol and colour of each kind's marks under the timeline's ticks
    "conflicts": ("star", "#ff7f0e"),
    "gaps": ("t", "#8c564b"),
    "out_of_order": ("t1", "#9467bd"),
    "redeliveries": ("s", "#17becf"),
    "id_collisions": ("d", "#d62728"),
    "time_backwards": ("h", "#bcbd22"),
}


def branch_name(conflict: Conflict, keep: int) -> str:
    """``conflict-<stream>-v<version>-keep-@<pos>``: says what the branch is for."""
    return f"conflict-{conflict.stream}-v{conflict.version}-keep-{format_key(keep)}"


class _Node:
    """A row of the tree: a kind, a finding of it, or one event of a finding."""

    __slots__ = ("children", "finding", "kind", "parent", "position", "row")

    def __init__(
        self,
        kind: str,
        row: int,
        parent: _Node | None = None,
        finding: Finding | None = None,
        position: int | None = None,
    ) -> None:
        self.kind = kind
        self.row = row
        self.parent = parent
        self.finding = finding
        self.position = position
        self.children: list[_Node] = []


class ProblemsModel(QAbstractItemModel):
    """Findings by kind: kind rows, a row per finding under them, its events under that."""

    COLUMNS = ("Finding", "Stream", "Version", "Events")
    FINDING, STREAM, VERSION, EVENTS = range(4)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._roots: list[_Node] = []
        self.findings = Findings()
        self._columns = Columns.empty()

    # --- content --------------------------------------------------------------------------

    def set_findings(self, findings: Findings, columns: Columns) -> None:
        self.beginResetModel()
        self.findings = findings
        self._columns = columns
        self._roots = []
        counts = findings.counts()
        for kind in KINDS:
            if not counts[kind]:
                continue
            group = _Node(kind, len(self._roots))
            for finding in findings.of_kind(kind):
                node = _Node(kind, len(group.children), group, finding, finding.positions[0])
                node.children = [
                    _Node(kind, i, node, finding, pos) for i, pos in enumerate(finding.positions)
                ]
                group.children.append(node)
            if counts[kind] > len(group.children):  # beyond LIMIT: say how many are left out
                group.children.append(_Node(kind, len(group.children), group))
            self._roots.append(group)
        self.endResetModel()

    @property
    def columns(self) -> Columns:
        """The columns of the log the findings are of (event rows show their fields)."""
        return self._columns

    def clear(self) -> None:
        self.set_findings(Findings(), Columns.empty())

    def node(self, index: AnyIndex) -> _Node | None:
        if not index.isValid():
            return None
        node = index.internalPointer()
        return node if isinstance(node, _Node) else None

    def kind_index(self, kind: str) -> QModelIndex:
        for node in self._roots:
            if node.kind == kind:
                return self.createIndex(node.row, 0, node)
        return QModelIndex()

    def conflict_at(self, index: AnyIndex) -> Conflict | None:
        node = self.node(index)
        finding = None if node is None else node.finding
        return finding if isinstance(finding, Conflict) else None

    # --- QAbstractItemModel ---------------------------------------------------------------

    def index(self, row: int, column: int, parent: AnyIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        p = self.node(parent)
        children = self._roots if p is None else p.children
        return self.createIndex(row, column, children[row])

    def parent(self, index: AnyIndex | None = None) -> Any:
        if index is None:
            return QObject.parent(self)
        node = self.node(index)
        if node is None or node.parent is None:
            return QModelIndex()
        return self.createIndex(node.parent.row, 0, node.parent)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return 0
        p = self.node(parent)
        return len(self._roots if p is None else p.children)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == _DISPLAY:
            return self.COLUMNS[section] if 0 <= section < len(self.COLUMNS) else None
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: AnyIndex, role: int = _DISPLAY) -> Any:
        node = self.node(index)
        if node is None:
            return None
        if role == _DISPLAY:
            return self._text(node, index.column())
        if role == PositionRole:
            return node.position
        if role == KindRole:
            return node.kind
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(node)
        return None

    def _text(self, node: _Node, col: int) -> str:
        finding = node.finding
        if finding is None:
            if node.parent is not None:  # the "more" row
                left = self.findings.counts()[node.kind] - len(node.parent.children) + 1
                return (
                    f"… {left:,} more (main.py inspect --json lists them all)" if col == 0 else ""
                )
            count = self.findings.counts()[node.kind]
            return f"{LABELS[node.kind]} ({count:,})" if col == 0 else ""
        event_row = node.parent is not None and node.parent.finding is finding
        if event_row:
            assert node.position is not None
            return self._event_text(node.position, col)
        if col == self.FINDING:
            return _NAMES[node.kind]
        if col == self.STREAM:
            return finding.stream
        if col == self.VERSION:
            return _version_text(finding)
        return ", ".join(format_key(p) for p in finding.positions)

    def _event_text(self, pos: int, col: int) -> str:
        cols = self._columns
        if not 0 <= pos < len(cols):
            return ""
        if col == self.FINDING:
            return format_key(pos)
        if col == self.STREAM:
            return cols.stream_names[int(cols.stream_codes[pos])]
        if col == self.VERSION:
            version = int(cols.versions[pos])
            return "" if version == NA else f"v{version}"
        type_name = cols.type_names[int(cols.type_codes[pos])]
        return f"{type_name} · {cols.event_ids[pos]}"

    def _tooltip(self, node: _Node) -> str:
        if node.finding is None:
            return LABELS[node.kind]
        text = describe(node.kind, node.finding.to_json())
        if node.kind == "conflicts":
            text += "\nRight-click an event: Branch: keep only this one"
        return text


def _version_text(finding: Finding) -> str:
    if isinstance(finding, Gap):
        return f"after v{finding.after_version}: {finding.missing} missing"
    if isinstance(finding, OutOfOrder):
        return f"v{finding.version} after v{finding.after_version}"
    version = finding.version
    return "" if version is None else f"v{version}"


class ProblemsPanel(QWidget):
    """The dock's widget; also draws the findings' marks on the window's timeline."""

    message = Signal(str)
    """Something done or found, for the status bar."""
    findingsShown = Signal()
    """New findings are listed (and marked on the timeline)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__()
        self.setObjectName("problemsPanel")
        self.w = window
        self.nav = window.navigator
        self.dock: QDockWidget | None = None
        self.findings: Findings | None = None
        self._session: Any = None
        """The session the findings are of (or being computed for)."""
        self._shown_for: Any = None
        """The session whose findings popped the dock up (once per log)."""
        self.mark_rows: list[int] = []
        """Display rows of the events marked on the timeline (tests, and the curious)."""

        self.summary = QLabel("Open a log to look for conflicts.")
        self.summary.setObjectName("problemsSummary")
        self.summary.setWordWrap(True)
        self.model = ProblemsModel(self)
        self.tree = QTreeView()
        self.tree.setObjectName("problemsTree")
        self.tree.setModel(self.model)
        self.tree.setUniformRowHeights(True)
        self.tree.setAllColumnsShowFocus(True)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header = self.tree.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.go_button = QPushButton("Go to event")
        self.go_button.setObjectName("problemsGoTo")
        self.go_button.setToolTip("Jump to the selected event (double-click or Enter)")
        self.keep_button = QPushButton("Branch: keep only this one")
        self.keep_button.setObjectName("problemsKeepOne")
        self.keep_button.setToolTip(
            "Fork main before the race and drop the other events written at this version: "
            "compare the branches of each outcome"
        )
        buttons = QHBoxLayout()
        buttons.addWidget(self.go_button)
        buttons.addWidget(self.keep_button)
        buttons.addStretch(1)
        box = QVBoxLayout(self)
        box.setContentsMargins(4, 4, 4, 4)
        box.addWidget(self.summary)
        box.addWidget(self.tree, 1)
        box.addLayout(buttons)

        self.marks = pg.ScatterPlotItem(pxMode=True)
        self.marks.setZValue(59)
        window.timeline.plot.addItem(self.marks)

        self.tree.activated.connect(guarded("Problems")(self.jump))
        self.tree.customContextMenuRequested.connect(self._context_menu)
        self.tree.selectionModel().currentChanged.connect(lambda *_: self._update_buttons())
        self.go_button.clicked.connect(guarded("Problems")(lambda: self.jump()))
        self.keep_button.clicked.connect(guarded("Problems")(lambda: self.keep_selected()))
        self.nav.sessionChanged.connect(self._on_session_changed)
        # Looked for a moment after a log opens: the window's own opening work (layouts,
        # the first states) is done by then, so the two never hold their memory at once.
        self._soon = QTimer(self)
        self._soon.setSingleShot(True)
        self._soon.setInterval(300)
        self._soon.timeout.connect(self.refresh)
        timeline = window.timeline  # its own slots rebuild the layout first (connected first)
        timeline.mode_box.currentIndexChanged.connect(lambda _i: self.draw_marks())
        timeline.lanes_box.currentIndexChanged.connect(lambda _i: self.draw_marks())
        timeline.collapse_box.toggled.connect(lambda _c: self.draw_marks())
        self._update_buttons()

    # --- computing ------------------------------------------------------------------------

    @guarded("Problems")
    def _on_session_changed(self) -> None:
        session = self.nav.session
        if session is not self._session:
            self._session = session
            self.findings = None
            self.model.clear()
            if session is None:
                self._soon.stop()
                self.summary.setText("Open a log to look for conflicts.")
            else:
                self.summary.setText(f"Looking for conflicts in {len(session.log):,} events…")
                self._soon.start()
        self.draw_marks()  # a new branch: rows (and the timeline's layout) changed
        self._update_buttons()

    def refresh(self) -> None:
        """Look for findings again, on the engine worker."""
        session: Any = self.nav.session
        if session is None:
            return
        self.summary.setText(f"Looking for conflicts in {len(session.log):,} events…")

        def work(progress: Callable[[int, int], bool]) -> Findings:
            return session_findings(session, limit=LIMIT, progress=progress)

        def done(found: Findings) -> None:
            self._show(session, found)

        self.w.engine_queue.submit("findings", work, label="Looking for conflicts", done=done)

    def _show(self, for_session: Any, findings: Findings) -> None:
        session = self.nav.session
        if session is None or session is not for_session:
            return  # another log was opened meanwhile
        self.findings = findings
        self.model.set_findings(findings, session.log.columns)
        self.tree.expandToDepth(0)
        counts = findings.counts()
        found = [f"{counts[k]:,} {LABELS[k]}" for k in KINDS if counts[k]]
        if found:
            self.summary.setText("Found " + "; ".join(found) + ".")
            self.message.emit(f"{session.name}: " + "; ".join(found) + " (View ▸ Problems)")
            if self.dock is not None and self._shown_for is not session:
                self._shown_for = session  # once per log: closing the dock is respected
                self.dock.show()
                self.dock.raise_()
        else:
            self.summary.setText(
                f"No conflicts, gaps, re-deliveries or clock problems in "
                f"{findings.events:,} events."
            )
        self.draw_marks()
        self._update_buttons()
        self.findingsShown.emit()

    # --- timeline marks -------------------------------------------------------------------

    def draw_marks(self) -> None:
        """Mark the findings' events under their ticks (for the timeline's current layout)."""
        lay = self.w.timeline.lay
        findings = self.findings
        self.mark_rows = []
        if lay is None or findings is None or len(lay) == 0 or self.nav.session is None:
            self.marks.setData([])
            return
        kinds: list[str] = []
        positions: list[int] = []
        for kind, finding in findings:
            for pos in finding.positions:
                kinds.append(kind)
                positions.append(pos)
            if len(positions) >= MAX_MARKS:
                break
        rows = self._rows_of(np.array(positions[:MAX_MARKS], np.int64))
        spots: list[dict[str, Any]] = []
        for kind, row in zip(kinds, rows.tolist(), strict=False):
            if not 0 <= row < len(lay):
                continue
            symbol, color = _MARKS[kind]
            spots.append(
                {
                    "pos": (float(lay.x[row]), float(lay.lane[row]) + 0.44),
                    "symbol": symbol,
                    "size": 10,
                    "brush": pg.mkBrush(color),
                    "pen": pg.mkPen(color),
                    "data": (kind, row),
                }
            )
            self.mark_rows.append(row)
        self.marks.setData(spots)

    def _rows_of(self, positions: np.ndarray[Any, np.dtype[np.int64]]) -> np.ndarray[Any, Any]:
        """Display rows of source positions in the current branch (-1 where absent): one
        inverse-index pass instead of a search per event."""
        rows = self.nav.rows
        if rows.identity:
            return np.where(positions < len(rows), positions, -1)
        keys = rows.keys
        size = int(max(int(keys.max(initial=-1)), int(positions.max(initial=-1)))) + 1
        inverse = np.full(size, -1, np.int64)
        source = np.flatnonzero(keys >= 0)
        inverse[keys[source]] = source
        found: np.ndarray[Any, Any] = inverse[positions]
        return found

    # --- commands -------------------------------------------------------------------------

    def jump(self, index: AnyIndex | None = None) -> None:
        """Go to the event of ``index`` (the current row when None); a finding's row goes to
        its first event."""
        index = self.tree.currentIndex() if index is None else index
        pos = index.data(PositionRole) if index.isValid() else None
        if pos is None:
            return
        row = self.nav.row_of_key(int(pos))
        if row is None:
            self.message.emit(f"{format_key(int(pos))} is not in branch {self.nav.branch}.")
            return
        self.nav.go_to(row)

    def keep_selected(self) -> None:
        """ "Branch: keep only this one" for the selected event of a conflict."""
        index = self.tree.currentIndex()
        conflict = self.model.conflict_at(index)
        node = self.model.node(index)
        if conflict is None or node is None or node.position is None:
            return
        if node.parent is not None and node.parent.finding is not conflict:
            self.message.emit("Pick one of the conflict's events to keep.")
            return
        self.keep_only(conflict, node.position)

    def keep_only(self, conflict: Conflict, keep: int) -> None:
        """Fork main just before the first racing event and drop every racing event but
        ``keep``; the window switches to that branch. Queued on the engine (never while a job
        reads it); an existing branch of that name is switched to, not made again."""
        if keep not in conflict.positions:
            raise ValueError(f"{format_key(keep)} is not one of the conflict's events")
        name = branch_name(conflict, keep)
        drop = [p for p in conflict.positions if p != keep]
        first = min(conflict.positions)
        fork_at = "start" if first == 0 else format_key(first - 1)
        session = self.nav.session

        def action() -> None:
            s = self.nav.session
            if s is None or s is not session:
                return
            if name in s.engine.branches():
                self.message.emit(f"Branch {name} exists already: switched to it")
            else:
                s.create_branch(name, parent=MAIN, at=fork_at)
                label = (
                    f"keep only {format_key(keep)} of the events written at "
                    f"{conflict.stream} v{conflict.version}"
                )
                BranchOps(s, name).drop_batch(drop, label)
                dropped = ", ".join(format_key(p) for p in drop)
                self.message.emit(f"Created branch {name}: {dropped} dropped")
            self.nav.set_branch(name)
            self.w.branch_ctl.branchesChanged.emit()

        self.w.engine_queue.after(action, "Branch: keep only this one")

    def _context_menu(self, point: QPoint) -> None:
        index = self.tree.indexAt(point)
        conflict = self.model.conflict_at(index)
        menu = QMenu(self)
        menu.setObjectName("problemsMenu")
        if index.data(PositionRole) is not None:
            menu.addAction("Go to event", lambda: self.jump(index))
        if conflict is not None:
            cols = self.model.columns
            for pos in conflict.positions:
                kind = cols.type_names[int(cols.type_codes[pos])] if pos < len(cols) else ""
                menu.addAction(
                    f"Branch: keep only {format_key(pos)} {kind}", self._keeper(conflict, pos)
                )
        if menu.isEmpty():
            return
        self.context_menu = menu
        menu.popup(self.tree.viewport().mapToGlobal(point))

    def _keeper(self, conflict: Conflict, keep: int) -> Callable[[], None]:
        return guarded("Problems")(lambda: self.keep_only(conflict, keep))

    def _update_buttons(self) -> None:
        index = self.tree.currentIndex()
        node = self.model.node(index)
        self.go_button.setEnabled(node is not None and node.position is not None)
        is_event = (
            node is not None and node.parent is not None and node.parent.finding is node.finding
        )
        self.keep_button.setEnabled(self.model.conflict_at(index) is not None and is_event)

    def reset_layout(self) -> None:
        """Put the dock back beside the metric chart (View ▸ Reset layout)."""
        if self.dock is None:
            return
        self.dock.setFloating(False)
        self.w.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)
        self.w.tabifyDockWidget(self.w.chart_dock, self.dock)


def install(window: MainWindow) -> ProblemsPanel:
    """The Problems dock (bottom, tabbed with the metric chart), its View menu entry, and
    the findings' timeline marks. Findings are looked for whenever a log is opened."""
    panel = ProblemsPanel(window)
    dock = window._dock("Problems", "problemsDock", panel, Qt.DockWidgetArea.BottomDockWidgetArea)
    window.tabifyDockWidget(window.chart_dock, dock)
    panel.dock = dock
    action = dock.toggleViewAction()
    action.setText("&Problems")
    action.setToolTip("Version conflicts, gaps, re-deliveries and clocks going back")
    separators = [a for a in window.view_menu.actions() if a.isSeparator()]
    if separators:
        window.view_menu.insertAction(separators[0], action)
    else:
        window.view_menu.addAction(action)
    panel.message.connect(lambda text: window.statusBar().showMessage(text, 8000))
    panel._on_session_changed()  # a log may be open already
    return panel
