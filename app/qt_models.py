"""Qt item models adapting the log, the engine's states and import reports to the views.

None of them holds anything per event: the table reads numpy columns per visible cell and
payload summaries in chunks through a small cache; the state tree creates a node only when
the view asks for that index, and folds a substate only when it is shown or expanded.
Colours come from the views (``set_colors``), so this module knows nothing of the theme.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QColor, QFont

from app.controller import Navigator
from models.event import Event, format_key, us_to_datetime
from models.log import NA
from models.problems import Problem

AnyIndex = QModelIndex | QPersistentModelIndex
PathRole = Qt.ItemDataRole.UserRole + 1
"""The node's path in the state (a tuple of keys and list indices)."""
ChangeRole = Qt.ItemDataRole.UserRole + 2
"""'added', 'changed', 'removed' or None: what the current event did to this node."""
RowRole = Qt.ItemDataRole.UserRole + 3
"""Display row of the event table's row (an int), for views and tests."""

_DISPLAY = Qt.ItemDataRole.DisplayRole


# --- formatting helpers (shared by the views) ----------------------------------------------


def format_time(us: int) -> str:
    """Table cells: date and time to the millisecond, UTC."""
    if us == NA:
        return ""
    dt = us_to_datetime(int(us))
    assert dt is not None
    return dt.strftime("%Y-%m-%d %H:%M:%S.") + f"{dt.microsecond // 1000:03d}"


def format_duration(us: int) -> str:
    sign = "-" if us < 0 else "+"
    a = abs(us)
    if a < 1000:
        return f"{sign}{a} µs"
    if a < 1_000_000:
        return f"{sign}{a / 1000:.1f} ms"
    if a < 60_000_000:
        return f"{sign}{a / 1e6:.2f} s"
    if a < 3_600_000_000:
        return f"{sign}{a // 60_000_000} min {a % 60_000_000 / 1e6:.0f} s"
    return f"{sign}{a // 3_600_000_000} h {a % 3_600_000_000 // 60_000_000} min"


def format_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def format_value(value: Any) -> str:
    """One line for a tree cell: scalars as JSON-ish text, containers by size."""
    if isinstance(value, Mapping):
        n = len(value)
        return f"{{{n} key{'s' if n != 1 else ''}}}"
    if isinstance(value, list | tuple):
        n = len(value)
        return f"[{n} item{'s' if n != 1 else ''}]"
    return format_scalar(value)


def to_plain(value: Any) -> Any:
    """Lazy mappings and tuples as plain JSON types, for copying and pretty printing."""
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return value


def pretty_json(value: Any) -> str:
    return orjson.dumps(
        to_plain(value), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str
    ).decode()


def copy_text(value: Any) -> str:
    """What "copy value" puts on the clipboard: strings raw, everything else as JSON."""
    if isinstance(value, str):
        return value
    return pretty_json(value)


def format_path(path: Sequence[Any]) -> str:
    """Dotted, as ``rewind state --path`` accepts it (stream ids with dots are fine there)."""
    return ".".join(str(p) for p in path)


def summarize(data: Any, limit: int = 160) -> str:
    """One line of payload for the table: ``key=value`` pairs, nested containers by size."""
    if isinstance(data, Mapping):
        parts = []
        for k, v in data.items():
            if isinstance(v, Mapping | list | tuple):
                parts.append(f"{k}={format_value(v)}")
            else:
                parts.append(f"{k}={v if isinstance(v, str) else format_scalar(v)}")
            if sum(len(p) + 2 for p in parts) > limit:
                break
        text = "  ".join(parts)
    elif data is None:
        text = ""
    else:
        text = orjson.dumps(to_plain(data), default=str).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- the event table -----------------------------------------------------------------------


class EventTableModel(QAbstractTableModel):
    """Every display row of the current branch; nothing stored per row."""

    COLUMNS = ("Pos", "Recorded", "Processed", "Stream", "Ver", "Type", "Summary")
    POS, RECORDED, PROCESSED, STREAM, VERSION, TYPE, SUMMARY = range(7)
    CHUNK = 256
    MAX_CHUNKS = 32

    def __init__(self, navigator: Navigator, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._nav = navigator
        self._chunks: OrderedDict[int, list[Event]] = OrderedDict()
        self._summaries: dict[int, str] = {}
        self._current = navigator.row
        self._current_bg = QColor("#fff3b0")
        self._current_fg = QColor("#000000")
        self._dropped_fg = QColor("#888888")
        self._type_colors: list[QColor] = []
        self._bold = QFont()
        self._bold.setBold(True)
        self._strike = QFont()
        self._strike.setStrikeOut(True)
        navigator.sessionChanged.connect(self._reset)
        navigator.positionChanged.connect(self._on_position)

    def set_colors(
        self, current_bg: QColor, current_fg: QColor, dropped: QColor, types: list[QColor]
    ) -> None:
        self._current_bg, self._current_fg, self._dropped_fg = current_bg, current_fg, dropped
        self._type_colors = types
        if self.rowCount():
            self.dataChanged.emit(
                self.index(0, 0), self.index(self.rowCount() - 1, len(self.COLUMNS) - 1)
            )

    def _reset(self) -> None:
        self.beginResetModel()
        self._chunks.clear()
        self._summaries.clear()
        self._current = self._nav.row
        self.endResetModel()

    def _on_position(self, row: int) -> None:
        old, self._current = self._current, row
        last = len(self.COLUMNS) - 1
        for r in (old, row):
            if 0 <= r < self.rowCount():
                self.dataChanged.emit(self.index(r, 0), self.index(r, last))

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._nav.count

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == _DISPLAY:
            if 0 <= section < len(self.COLUMNS):
                return self.COLUMNS[section]
        return None

    def event(self, row: int) -> Event:  # type: ignore[override]
        """The event shown on ``row`` (payload read through the chunk cache)."""
        chunk, offset = divmod(row, self.CHUNK)
        events = self._chunks.get(chunk)
        if events is None:
            events = self._fetch(chunk)
            self._chunks[chunk] = events
            if len(self._chunks) > self.MAX_CHUNKS:
                old, _ = self._chunks.popitem(last=False)
                base = old * self.CHUNK
                for r in range(base, base + self.CHUNK):
                    self._summaries.pop(r, None)
        else:
            self._chunks.move_to_end(chunk)
        return events[offset]

    def _fetch(self, chunk: int) -> list[Event]:
        start = chunk * self.CHUNK
        stop = min(start + self.CHUNK, self._nav.count)
        session = self._nav.session
        assert session is not None
        if self._nav.rows.identity:
            return session.log.events(start, stop)
        engine, branch = session.engine, self._nav.branch
        return [engine.event_at(branch, r) for r in range(start, stop)]

    def _summary(self, row: int) -> str:
        text = self._summaries.get(row)
        if text is None:
            text = summarize(self.event(row).data)
            self._summaries[row] = text
        return text

    def _names(self, row: int) -> tuple[str, str]:
        rows = self._nav.rows
        sc, tc = int(rows.stream_codes[row]), int(rows.type_codes[row])
        cols = self._nav.columns
        if sc < 0 or tc < 0:
            ev = self.event(row)
            return ev.stream, ev.type
        return cols.stream_names[sc], cols.type_names[tc]

    def data(self, index: AnyIndex, role: int = _DISPLAY) -> Any:
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        rows = self._nav.rows
        if not 0 <= row < len(rows):
            return None
        if role == _DISPLAY:
            return self._display(row, col)
        if role == RowRole:
            return row
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, col)
        if role == Qt.ItemDataRole.BackgroundRole and row == self._current:
            return self._current_bg
        if role == Qt.ItemDataRole.ForegroundRole:
            if row == self._current:
                return self._current_fg
            if rows.dropped[row]:
                return self._dropped_fg
            return None
        if role == Qt.ItemDataRole.FontRole:
            if rows.dropped[row]:
                return self._strike
            if row == self._current:
                return self._bold
            return None
        if role == Qt.ItemDataRole.DecorationRole and col == self.TYPE:
            tc = int(rows.type_codes[row])
            if 0 <= tc and self._type_colors:
                return self._type_colors[tc % len(self._type_colors)]
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (self.POS, self.VERSION):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _display(self, row: int, col: int) -> str:
        rows = self._nav.rows
        if col == self.POS:
            return format_key(int(rows.keys[row]))
        if col == self.RECORDED:
            us = int(rows.recorded_us[row])
            if us == NA and rows.keys[row] < 0:
                return format_time(self.event(row).recorded_us or NA)
            return format_time(us)
        if col == self.PROCESSED:
            us = int(rows.processed_us[row])
            if us == NA and rows.keys[row] < 0:
                return format_time(self.event(row).processed_us or NA)
            return format_time(us)
        if col == self.STREAM:
            return self._names(row)[0]
        if col == self.TYPE:
            return self._names(row)[1]
        if col == self.VERSION:
            v = int(rows.versions[row])
            return "" if v == NA else str(v)
        if col == self.SUMMARY:
            return self._summary(row)
        return ""

    def _tooltip(self, row: int, col: int) -> str | None:
        rows = self._nav.rows
        if col == self.PROCESSED:
            rec, proc = int(rows.recorded_us[row]), int(rows.processed_us[row])
            if rec != NA and proc != NA:
                return f"processed {format_duration(proc - rec)} after it was recorded"
        if col == self.SUMMARY:
            return self._summary(row)
        if rows.dropped[row]:
            return "dropped in this branch"
        return None


# --- trees: the state inspector and the event detail ---------------------------------------


_UNSET: Any = object()


@dataclass(frozen=True)
class ChangeInfo:
    change: str
    old: Any = None
    new: Any = None


@dataclass(eq=False)
class _Node:
    parent: _Node | None
    row: int
    key: Any
    path: tuple[Any, ...]
    value: Any = _UNSET
    change: str | None = None
    old: Any = None
    removed: bool = False
    filtered: bool = False
    """Children are filtered (this node did not match the filter itself)."""
    child_keys: list[tuple[Any, bool]] | None = None
    """(key, removed) per visible child, or None until fetched."""
    nodes: dict[int, _Node] = field(default_factory=dict)


def _is_container(value: Any) -> bool:
    return isinstance(value, Mapping | list | tuple)


def _keys_of(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return list(value.keys())
    if isinstance(value, list | tuple):
        return list(range(len(value)))
    return []


def _child(value: Any, key: Any) -> Any:
    return value[key]


class StateTreeModel(QAbstractItemModel):
    """A JSON-like value (dicts, lists, lazy Mappings) as a tree, with change highlighting.

    Children of a node are listed when the view expands it (fetchMore), and a value from a
    lazy Mapping (the engine's keyed state) is folded only when shown. Removed keys stay
    visible, struck out, with their previous value.
    """

    COLUMNS = ("Key", "Value", "Previous")
    KEY, VALUE, PREVIOUS = range(3)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._root = _Node(None, 0, None, ())
        self._value: Any = {}
        self._changes: dict[tuple[Any, ...], ChangeInfo] = {}
        self._ancestors: set[tuple[Any, ...]] = set()
        self._filter = ""
        self._colors = {
            "added": QColor("#c8f7c5"),
            "changed": QColor("#ffe9a8"),
            "removed": QColor("#ffc9c9"),
        }
        self._change_fg = QColor("#000000")
        self._bold = QFont()
        self._bold.setBold(True)
        self._strike = QFont()
        self._strike.setStrikeOut(True)
        self._reset_root()

    # --- content ----------------------------------------------------------------------------

    def set_colors(self, changes: dict[str, QColor], text: QColor) -> None:
        """Backgrounds per change kind and the text colour drawn over them."""
        self._colors = dict(changes)
        self._change_fg = text
        if self._root.child_keys:
            last = self.index(len(self._root.child_keys) - 1, 0)
            self.dataChanged.emit(self.index(0, 0), last)

    def set_value(self, value: Any, changes: Sequence[Any] = ()) -> None:
        """Show ``value``; ``changes`` are the engine's Change records (path, change, old,
        new) of the event that led here."""
        self.beginResetModel()
        self._value = value
        self._changes = {}
        self._ancestors = set()
        for c in changes:
            path = tuple(c.path)
            self._changes[path] = ChangeInfo(str(c.change), c.old, c.new)
            for i in range(len(path)):
                self._ancestors.add(path[:i])
        self._reset_root()
        self.endResetModel()

    def set_filter(self, text: str) -> None:
        self.beginResetModel()
        self._filter = text.strip().lower()
        self._reset_root()
        self.endResetModel()

    @property
    def filter_text(self) -> str:
        return self._filter

    def changed_paths(self) -> list[tuple[Any, ...]]:
        return list(self._changes)

    def _reset_root(self) -> None:
        self._root = _Node(None, 0, None, (), value=self._value, filtered=bool(self._filter))
        self._root.child_keys = self._list_children(self._root)

    # --- filtering --------------------------------------------------------------------------

    def _key_matches(self, key: Any, value: Any) -> bool:
        f = self._filter
        if f in str(key).lower():
            return True
        return not _is_container(value) and f in format_scalar(value).lower()

    def _subtree_matches(self, value: Any, depth: int = 0) -> bool:
        if not _is_container(value) or depth > 64:
            return False
        for k in _keys_of(value):
            v = _child(value, k)
            if self._key_matches(k, v) or self._subtree_matches(v, depth + 1):
                return True
        return False

    # --- nodes --------------------------------------------------------------------------------

    def _node_value(self, node: _Node) -> Any:
        if node.value is _UNSET:
            parent = node.parent
            assert parent is not None
            pv = parent.old if parent.removed else self._node_value(parent)
            node.value = _child(pv, node.key)
        return node.value

    def _list_children(self, node: _Node) -> list[tuple[Any, bool]]:
        value = node.old if node.removed else self._node_value(node)
        keys: list[tuple[Any, bool]] = [(k, node.removed) for k in _keys_of(value)]
        if not node.removed:
            present = {k for k, _ in keys}
            depth = len(node.path)
            for path, info in self._changes.items():
                if (
                    info.change == "removed"
                    and len(path) == depth + 1
                    and path[:depth] == node.path
                    and path[-1] not in present
                ):
                    keys.append((path[-1], True))
        if node.filtered and self._filter:
            kept = []
            for k, removed in keys:
                v = self._removed_old(node, k) if removed else _child(value, k)
                if self._key_matches(k, v) or self._subtree_matches(v):
                    kept.append((k, removed))
            keys = kept
        return keys

    def _removed_old(self, parent: _Node, key: Any) -> Any:
        if parent.removed:
            return _child(parent.old, key)
        info = self._changes.get((*parent.path, key))
        return None if info is None else info.old

    def _child_node(self, parent: _Node, row: int) -> _Node:
        node = parent.nodes.get(row)
        if node is None:
            assert parent.child_keys is not None
            key, removed = parent.child_keys[row]
            path = (*parent.path, key)
            node = _Node(parent, row, key, path, removed=removed)
            info = self._changes.get(path)
            if removed:
                node.old = self._removed_old(parent, key)
                node.change = "removed"
            elif info is not None:
                node.change = info.change
                node.old = info.old
            elif parent.change in ("added", "removed"):
                node.change = parent.change
            if self._filter and parent.filtered:
                v = node.old if removed else self._node_value(node)
                node.filtered = not self._key_matches(key, v)
            parent.nodes[row] = node
        return node

    def _node(self, index: AnyIndex) -> _Node:
        if not index.isValid():
            return self._root
        node = index.internalPointer()
        assert isinstance(node, _Node)
        return node

    # --- Qt model API ---------------------------------------------------------------------

    def index(self, row: int, column: int, parent: AnyIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        node = self._child_node(self._node(parent), row)
        return self.createIndex(row, column, node)

    def parent(self, index: AnyIndex | None = None) -> Any:  # type: ignore[override]
        if index is None:  # QObject.parent()
            return QObject.parent(self)
        if not index.isValid():
            return QModelIndex()
        node = self._node(index)
        parent = node.parent
        if parent is None or parent is self._root:
            return QModelIndex()
        return self.createIndex(parent.row, 0, parent)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return 0
        keys = self._node(parent).child_keys
        return 0 if keys is None else len(keys)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return len(self.COLUMNS)

    def hasChildren(self, parent: AnyIndex = QModelIndex()) -> bool:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return False
        node = self._node(parent)
        if node.child_keys is not None:
            return bool(node.child_keys)
        if node.removed:
            return _is_container(node.old) and len(node.old) > 0
        if node.value is _UNSET and node.parent is not None:
            pv = node.parent.value
            if isinstance(pv, Mapping) and not isinstance(pv, dict):
                return True  # a lazy state: do not fold a substate just to draw an arrow
        value = self._node_value(node)
        if _is_container(value) and len(value) > 0:
            return True
        return any(
            info.change == "removed" and len(p) == len(node.path) + 1 and p[:-1] == node.path
            for p, info in self._changes.items()
        )

    def canFetchMore(self, parent: AnyIndex) -> bool:
        if parent.isValid() and parent.column() != 0:
            return False
        node = self._node(parent)
        return node.child_keys is None and self.hasChildren(parent)

    def fetchMore(self, parent: AnyIndex) -> None:
        node = self._node(parent)
        if node.child_keys is not None:
            return
        keys = self._list_children(node)
        if keys:
            self.beginInsertRows(parent, 0, len(keys) - 1)
            node.child_keys = keys
            self.endInsertRows()
        else:
            node.child_keys = keys

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == _DISPLAY:
            if 0 <= section < len(self.COLUMNS):
                return self.COLUMNS[section]
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def value_at(self, index: AnyIndex) -> Any:
        node = self._node(index)
        return node.old if node.removed else self._node_value(node)

    def path_at(self, index: AnyIndex) -> tuple[Any, ...]:
        return self._node(index).path

    def data(self, index: AnyIndex, role: int = _DISPLAY) -> Any:
        if not index.isValid():
            return None
        node = self._node(index)
        col = index.column()
        if role == _DISPLAY:
            if col == self.KEY:
                return f"[{node.key}]" if isinstance(node.key, int) else str(node.key)
            if col == self.VALUE:
                if node.removed:
                    return ""
                return format_value(self._node_value(node))
            if col == self.PREVIOUS:
                if node.change in ("changed", "removed") and node.path in self._changes:
                    return format_value(node.old)
                return ""
            return None
        if role == PathRole:
            return node.path
        if role == ChangeRole:
            return node.change
        if role == Qt.ItemDataRole.BackgroundRole and node.change is not None:
            return self._colors.get(node.change)
        if role == Qt.ItemDataRole.ForegroundRole and node.change is not None:
            return self._change_fg
        if role == Qt.ItemDataRole.FontRole:
            if node.removed:
                return self._strike
            if node.path in self._ancestors:
                return self._bold
            return None
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(node)
        return None

    def _tooltip(self, node: _Node) -> str:
        path = format_path(node.path)
        info = self._changes.get(node.path)
        if node.removed:
            return f"{path}\nremoved by this event; was {format_value(node.old)}"
        if info is not None and info.change == "changed":
            return f"{path}\nchanged by this event; was {format_value(info.old)}"
        if node.change == "added":
            return f"{path}\nadded by this event"
        if node.path in self._ancestors:
            return f"{path}\ncontains what this event changed"
        return path


# --- the import report ---------------------------------------------------------------------


class ProblemTableModel(QAbstractTableModel):
    COLUMNS = ("Severity", "Line", "Byte", "Reason", "Excerpt")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._problems: list[Problem] = []

    def set_problems(self, problems: Sequence[Problem]) -> None:
        self.beginResetModel()
        self._problems = list(problems)
        self.endResetModel()

    def problem(self, row: int) -> Problem:
        return self._problems[row]

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._problems)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == _DISPLAY:
            if 0 <= section < len(self.COLUMNS):
                return self.COLUMNS[section]
        return None

    def data(self, index: AnyIndex, role: int = _DISPLAY) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._problems):
            return None
        p = self._problems[index.row()]
        col = index.column()
        if role == _DISPLAY:
            return (
                p.severity.value,
                str(p.line),
                str(p.offset),
                p.reason,
                p.excerpt.replace("\n", " ")[:200],
            )[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{p.location()}\n{p.reason}\n\n{p.excerpt[:500]}"
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (1, 2):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
