"""Branches in the window: the operations (fork, edit, undo...) and the panel's item models.

:class:`BranchController` is the one place the window changes branches. Each operation is
queued on the :class:`EngineQueue` (never while a worker reads the engine), validated by the
engine through :class:`app.session.BranchOps` and kept in the workspace; then the navigator
reloads the branch (every view resets) and the state at the cursor is replayed in the
background, with progress, before the state inspector shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QIcon

from app.controller import MAIN, Navigator
from app.errors import UsageError
from app.history import HistoryEntry, current_point, history
from app.qt_engine import EngineQueue
from app.qt_errors import error_reporter
from app.session import BranchMeta, Session
from models.edits import EditKind
from models.event import EventKey, format_key

AnyIndex = QModelIndex | QPersistentModelIndex
NameRole = Qt.ItemDataRole.UserRole + 10
"""The branch name of a row of the branch tree."""
PointRole = Qt.ItemDataRole.UserRole + 11
"""The history point a row of the history list stands for (entries in effect up to it)."""
KindRole = Qt.ItemDataRole.UserRole + 12
"""The edit kind of a history row ('drop', 'edit', ...; 'fork' for the first row)."""

REVERT_LIMIT = 1000
""""Revert to here" drops events one edit each (the engine has no range edit): beyond this
many, undoing it would take too long, so the window asks to fork earlier instead."""
_DISPLAY = Qt.ItemDataRole.DisplayRole


@dataclass
class BranchNode:
    name: str
    parent: str | None
    fork_at: EventKey | None
    edits: int
    in_effect: int
    events: int
    meta: BranchMeta
    children: list[BranchNode] = field(default_factory=list)
    up: BranchNode | None = None
    row: int = 0


def _prime(engine: Any, branch: str, row: int) -> None:
    """Fold what the state inspector is about to show (in the worker), so that showing it
    on the GUI thread only reads caches."""
    state = engine.state_at(branch, row)
    if row >= 0:
        engine.changes_at(branch, row)
    if isinstance(state, Mapping):
        len(state)


class BranchController(QObject):
    branchesChanged = Signal()
    """The list of branches, their names, notes, archive flags or edit counts changed."""
    edited = Signal(str)
    """A branch's sequence changed (an edit, undo or redo); its name."""
    message = Signal(str)
    """Something done, for the status bar."""
    replayCancelled = Signal(str)
    """The replay after an edit was cancelled (the edit stays); the branch's name."""

    def __init__(
        self, navigator: Navigator, queue: EngineQueue, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.nav = navigator
        self.queue = queue

    # --- queries (cheap; GUI thread) ------------------------------------------------------

    @property
    def session(self) -> Session | None:
        return self.nav.session

    @property
    def branch(self) -> str:
        return self.nav.branch

    def tree(self, include_archived: bool = False) -> list[BranchNode]:
        """Root nodes (main first), children under their parents in creation order."""
        s = self.session
        if s is None:
            return []
        meta = s.branch_meta()
        nodes: dict[str, BranchNode] = {}
        roots: list[BranchNode] = []
        for name in s.engine.branches():
            info = s.engine.branch(name)
            m = meta.get(name, BranchMeta("", False, None))
            node = BranchNode(
                name,
                info.parent,
                info.fork_at,
                len([e for e in info.edits if e.kind not in (EditKind.UNDO, EditKind.REDO)]),
                len(info.in_effect),
                s.engine.row_count(name),
                m,
            )
            nodes[name] = node
            if m.archived and not include_archived:
                continue
            up = nodes.get(info.parent) if info.parent is not None else None
            if up is not None and (include_archived or not up.meta.archived):
                node.up = up
                node.row = len(up.children)
                up.children.append(node)
            else:
                node.row = len(roots)
                roots.append(node)
        return roots

    def history(self, branch: str | None = None) -> list[HistoryEntry]:
        s = self.session
        name = branch or self.nav.branch
        if s is None or name not in s.engine.branches():
            return []
        return history(s.engine.branch(name).edits, s.edit_groups(name))

    def parent_of(self, branch: str) -> str | None:
        s = self.session
        if s is None or branch not in s.engine.branches():
            return None
        parent: str | None = s.engine.branch(branch).parent
        return parent

    def suggest_name(self, base: str = "fix") -> str:
        s = self.session
        taken = set(s.engine.branches()) if s is not None else set()
        if base not in taken:
            return base
        n = 2
        while f"{base}-{n}" in taken:
            n += 1
        return f"{base}-{n}"

    # --- operations (queued; GUI thread) ---------------------------------------------------

    def _run(self, label: str, fn: Callable[[], str | None]) -> None:
        def action() -> None:
            if self.session is None:
                return
            try:
                text = fn()
            except UsageError as exc:
                error_reporter().report(exc, label)
                return
            if text:
                self.message.emit(text)

        self.queue.after(action, label)

    def _ops(self) -> Any:
        s = self.session
        assert s is not None
        return s.branch_ops(self.nav.branch)

    def _changed(self, branch: str) -> None:
        """After an edit: reload the rows, replay the state at the cursor in the worker."""
        self.branchesChanged.emit()
        if branch == self.nav.branch:
            self.nav.reload()
            engine = self.nav.engine
            row = self.nav.row
            self.queue.submit(
                "prime",
                lambda _p: _prime(engine, branch, row),
                label=f"Replaying {branch}",
                cancelled=lambda: self.replayCancelled.emit(branch),
            )
        self.edited.emit(branch)

    def switch(self, name: str) -> None:
        def go() -> str | None:
            if name == self.nav.branch or self.session is None:
                return None
            if name not in self.session.engine.branches():
                raise UsageError(f"no branch named {name!r}")
            self.nav.set_branch(name)
            self.branchesChanged.emit()
            return f"Switched to {name}"

        self._run("Switch branch", go)

    def fork(self, name: str, parent: str, at: EventKey | None, note: str = "") -> None:
        """Create ``name`` from ``parent`` sharing everything up to and including ``at``
        (None: nothing) and switch the window to it."""

        def go() -> str:
            s = self.session
            assert s is not None
            ref = "start" if at is None else format_key(at)
            info = s.create_branch(name.strip(), parent=parent, at=ref)
            if note.strip():
                s.set_branch_note(name.strip(), note.strip())
            self.nav.set_branch(name.strip())
            self.branchesChanged.emit()
            return str(info["message"])

        self._run("Fork", go)

    def rename(self, old: str, new: str) -> None:
        def go() -> str:
            s = self.session
            assert s is not None
            info = s.rename_branch(old, new)
            if self.nav.branch == old:
                self.nav.set_branch(info["branch"])
            self.branchesChanged.emit()
            return str(info["message"])

        self._run("Rename", go)

    def set_note(self, name: str, note: str) -> None:
        def go() -> str:
            s = self.session
            assert s is not None
            info = s.set_branch_note(name, note)
            self.branchesChanged.emit()
            return str(info["message"])

        self._run("Note", go)

    def archive(self, name: str, archived: bool = True) -> None:
        def go() -> str:
            s = self.session
            assert s is not None
            info = s.archive_branch(name, archived)
            if archived and self.nav.branch == name:
                self.nav.set_branch(self.parent_of(name) or MAIN)
            self.branchesChanged.emit()
            return str(info["message"])

        self._run("Archive", go)

    def _edit(self, label: str, do: Callable[[Any], dict[str, Any]]) -> None:
        def go() -> str:
            branch = self.nav.branch
            info = do(self._ops())
            self._changed(branch)
            return str(info.get("message") or label)

        self._run(label, go)

    def _ref(self, row: int) -> str:
        return format_key(self.nav.key_at(row))

    def toggle_drop(self, row: int) -> None:
        if 0 <= row < self.nav.count and bool(self.nav.rows.dropped[row]):
            self.restore(row)
        else:
            self.drop(row)

    def drop(self, row: int) -> None:
        ref = self._ref(row)
        self._edit("Drop", lambda ops: ops.drop(ref))

    def restore(self, row: int) -> None:
        ref = self._ref(row)
        self._edit("Restore", lambda ops: ops.restore(ref))

    def edit(self, row: int, changes: dict[str, Any]) -> None:
        ref = self._ref(row)
        self._edit("Edit", lambda ops: ops.edit_fields(ref, changes))

    def insert(self, row: int, before: bool, event: dict[str, Any]) -> None:
        """Insert ``event`` before or after the event at ``row`` (row -1: at the start)."""
        anchor_row = row - 1 if before else row
        after = "start" if anchor_row < 0 else self._ref(anchor_row)
        self._edit("Insert", lambda ops: ops.insert(after, event))

    def move(self, row: int, after_row: int) -> None:
        """Move the event at ``row`` to just after the event at ``after_row`` (-1: first)."""
        ref = self._ref(row)
        after = "start" if after_row < 0 else self._ref(after_row)
        self._edit("Move", lambda ops: ops.move(ref, after))

    def move_up(self, row: int) -> None:
        if row <= 0:
            return
        self.move(row, row - 2)

    def move_down(self, row: int) -> None:
        if row >= self.nav.count - 1:
            return
        self.move(row, row + 1)

    def undo(self) -> None:
        self._edit("Undo", lambda ops: ops.undo_step())

    def redo(self) -> None:
        self._edit("Redo", lambda ops: ops.redo_step())

    def go_to_history(self, point: int) -> None:
        self._edit("Undo history", lambda ops: ops.go_to_history(point))

    def revert_rows(self, row: int) -> list[EventKey]:
        """Keys of the events a "revert to here" at ``row`` drops (later, not yet dropped)."""
        rows = self.nav.rows
        later = range(row + 1, len(rows))
        return [int(rows.keys[r]) for r in later if not rows.dropped[r]]

    def revert_to(self, row: int) -> None:
        """Drop every later event, as one step of the history; runs in the worker."""
        if self.nav.branch == MAIN:
            error_reporter().report(
                UsageError("main is the log itself and is never edited; fork a branch first"),
                "Revert to here",
            )
            return
        keys = self.revert_rows(row)
        if not keys:
            self.message.emit("Nothing after this event to drop")
            return
        if len(keys) > REVERT_LIMIT:
            error_reporter().report(
                UsageError(
                    f"reverting to here would drop {len(keys):,} events one by one (at most "
                    f"{REVERT_LIMIT:,}); fork a branch at this event instead and compare "
                    "up to it"
                ),
                "Revert to here",
            )
            return
        label = f"Revert to {self._ref(row)} ({len(keys)} events dropped)"
        branch = self.nav.branch

        def failed(exc: BaseException) -> None:
            error_reporter().report(exc, "Revert to here")
            self._changed(branch)

        def start() -> None:
            s = self.session
            if s is None:
                return
            ops = s.branch_ops(branch)
            self.queue.submit(
                "revert",
                lambda progress: ops.drop_batch(keys, label, progress),
                label=label,
                done=lambda _info: self._changed(branch),
                failed=failed,
                cancelled=lambda: self._changed(branch),
            )

        self.queue.after(start, "Revert to here")


# --- item models ---------------------------------------------------------------------------


class BranchTreeModel(QAbstractItemModel):
    """Branches as a tree, like a git graph read sideways: each under the branch it forks
    from, with its fork point, edits (in effect of recorded) and note."""

    COLUMNS = ("Branch", "Forks after", "Edits", "Events", "Note")
    NAME, FORK, EDITS, EVENTS, NOTE = range(5)

    def __init__(self, controller: BranchController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ctl = controller
        self._roots: list[BranchNode] = []
        self._by_name: dict[str, BranchNode] = {}
        self.show_archived = False
        self._bold = QFont()
        self._bold.setBold(True)
        self._italic = QFont()
        self._italic.setItalic(True)
        self._muted = QColor("#888888")
        self._icons: dict[str, QIcon] = {}
        controller.branchesChanged.connect(self.refresh)
        controller.nav.sessionChanged.connect(self.refresh)

    def set_look(self, muted: QColor, icons: dict[str, QIcon]) -> None:
        self._muted = muted
        self._icons = dict(icons)
        self.refresh()

    def set_show_archived(self, show: bool) -> None:
        self.show_archived = show
        self.refresh()

    def refresh(self) -> None:
        self.beginResetModel()
        self._roots = self._ctl.tree(self.show_archived)
        self._by_name = {}
        stack = list(self._roots)
        while stack:
            node = stack.pop()
            self._by_name[node.name] = node
            stack.extend(node.children)
        self.endResetModel()

    def names(self) -> list[str]:
        """Branches shown, depth first (for tests and menus)."""
        out: list[str] = []

        def walk(nodes: list[BranchNode]) -> None:
            for n in nodes:
                out.append(n.name)
                walk(n.children)

        walk(self._roots)
        return out

    def index_of(self, name: str, column: int = 0) -> QModelIndex:
        node = self._by_name.get(name)
        if node is None:
            return QModelIndex()
        return self.createIndex(node.row, column, node)

    def node(self, index: AnyIndex) -> BranchNode | None:
        if not index.isValid():
            return None
        node = index.internalPointer()
        return node if isinstance(node, BranchNode) else None

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
        if node is None or node.up is None:
            return QModelIndex()
        return self.createIndex(node.up.row, 0, node.up)

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
        col = index.column()
        current = node.name == self._ctl.nav.branch
        if role == _DISPLAY:
            if col == self.NAME:
                return node.name
            if col == self.FORK:
                if node.parent is None:
                    return "(the log)"
                where = "the start" if node.fork_at is None else format_key(node.fork_at)
                return where
            if col == self.EDITS:
                if node.parent is None:
                    return ""
                if node.in_effect == node.edits:
                    return str(node.edits)
                return f"{node.in_effect} of {node.edits}"
            if col == self.EVENTS:
                return f"{node.events:,}"
            if col == self.NOTE:
                note = node.meta.note.splitlines()[0] if node.meta.note else ""
                return ("[archived] " if node.meta.archived else "") + note
            return None
        if role == NameRole:
            return node.name
        if role == Qt.ItemDataRole.FontRole:
            if current:
                return self._bold
            if node.meta.archived:
                return self._italic
            return None
        if role == Qt.ItemDataRole.ForegroundRole and node.meta.archived:
            return self._muted
        if role == Qt.ItemDataRole.DecorationRole and col == self.NAME:
            key = "current" if current else ("main" if node.parent is None else "branch")
            return self._icons.get(key)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(node)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (self.EDITS, self.EVENTS):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _tooltip(self, node: BranchNode) -> str:
        if node.parent is None:
            return f"{node.name}: the log as imported ({node.events:,} events); never edited"
        where = "the start" if node.fork_at is None else format_key(node.fork_at)
        lines = [
            f"{node.name}: forked from {node.parent} after {where}",
            f"{node.in_effect} edit(s) in effect, {node.edits} recorded; {node.events:,} events",
        ]
        if node.meta.note:
            lines.append(node.meta.note)
        if node.meta.archived:
            lines.append("archived (hidden unless 'Show archived' is on)")
        return "\n".join(lines)


class HistoryModel(QAbstractListModel):
    """The current branch's undo history: the fork, then every edit; the current point in
    bold, undone edits (which Redo brings back) greyed. Selecting a row goes there."""

    def __init__(self, controller: BranchController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ctl = controller
        self._entries: list[HistoryEntry] = []
        self._first = ""
        self._point = 0
        self._bold = QFont()
        self._bold.setBold(True)
        self._italic = QFont()
        self._italic.setItalic(True)
        self._muted = QColor("#888888")
        self._icons: dict[str, QIcon] = {}
        controller.branchesChanged.connect(self.refresh)
        controller.edited.connect(lambda _b: self.refresh())
        controller.nav.sessionChanged.connect(self.refresh)

    def set_look(self, muted: QColor, icons: dict[str, QIcon]) -> None:
        self._muted = muted
        self._icons = dict(icons)
        self.refresh()

    @property
    def point(self) -> int:
        """The row of the current point (0: the branch as forked)."""
        return self._point

    def refresh(self) -> None:
        self.beginResetModel()
        nav = self._ctl.nav
        self._entries = self._ctl.history()
        self._point = current_point(self._entries)
        parent = self._ctl.parent_of(nav.branch)
        if nav.session is None:
            self._first = ""
        elif parent is None:
            self._first = "The log as imported (main is never edited)"
        else:
            info = nav.session.engine.branch(nav.branch)
            where = "the start" if info.fork_at is None else format_key(info.fork_at)
            self._first = f"Forked from {parent} after {where}"
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() or not self._first:
            return 0
        return 1 + len(self._entries)

    def labels(self) -> list[str]:
        return [str(self.index(r, 0).data()) for r in range(self.rowCount())]

    def data(self, index: AnyIndex, role: int = _DISPLAY) -> Any:
        if not index.isValid() or not 0 <= index.row() < self.rowCount():
            return None
        r = index.row()
        entry = self._entries[r - 1] if r else None
        if role == _DISPLAY:
            if entry is None:
                return self._first
            n = len(entry.indices)
            return entry.label if n == 1 or "(" in entry.label else f"{entry.label} ({n} edits)"
        if role == PointRole:
            return r
        if role == KindRole:
            if entry is None:
                return "fork"
            edits = self._ctl.session.engine.branch(self._ctl.nav.branch).edits  # type: ignore[union-attr]
            return str(edits[entry.indices[0]].kind.value)
        if role == Qt.ItemDataRole.FontRole:
            if r == self._point:
                return self._bold
            if entry is not None and not entry.applied:
                return self._italic
            return None
        if role == Qt.ItemDataRole.ForegroundRole and entry is not None and not entry.applied:
            return self._muted
        if role == Qt.ItemDataRole.DecorationRole:
            return self._icons.get(str(self.data(index, KindRole)))
        if role == Qt.ItemDataRole.ToolTipRole:
            if r == self._point:
                return "The current point: the branch as it is now"
            if entry is not None and not entry.applied:
                return "Undone: click to redo up to here (Ctrl+Shift+Z redoes one step)"
            return "Click to undo back to here (Ctrl+Z undoes one step)"
        return None
