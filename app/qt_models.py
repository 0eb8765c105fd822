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

import numpy as np
import numpy.typing as npt
import orjson
from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractTableModel,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPen, QPixmap

from app.controller import Navigator
from models.event import Event, EventKey, format_key, us_to_datetime
from models.log import NA
from models.problems import Problem

AnyIndex = QModelIndex | QPersistentModelIndex
PathRole = Qt.ItemDataRole.UserRole + 1
"""The node's path in the state (a tuple of keys and list indices)."""
ChangeRole = Qt.ItemDataRole.UserRole + 2
"""'added', 'changed', 'removed' or None: what the current event did to this node."""
RowRole = Qt.ItemDataRole.UserRole + 3
"""Display row of the event table's row (an int), for views and tests."""
MarkRole = Qt.ItemDataRole.UserRole + 4
"""What the branch did to the event of a table row: a list of 'dropped', 'edited',
'inserted', 'moved' (empty for an event as in the log)."""
ROW_MIME = "application/x-rewind-row"
"""Drag and drop of a table row inside the table (moving an event): the row as text."""

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
    if isinstance(value, Failed):
        return str(value)
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


def _header(columns: Sequence[str], section: int, orientation: Qt.Orientation, role: int) -> Any:
    horizontal = orientation == Qt.Orientation.Horizontal
    if horizontal and role == _DISPLAY and 0 <= section < len(columns):
        return columns[section]
    return None


# --- the event table -----------------------------------------------------------------------


def _bookmark_icon(color: str) -> QIcon:
    """A bookmark ribbon."""
    pixmap = QPixmap(12, 12)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(color))
    painter.drawPolygon([QPoint(2, 0), QPoint(10, 0), QPoint(10, 12), QPoint(6, 8), QPoint(2, 12)])
    painter.end()
    return QIcon(pixmap)


def _dot_icon(color: str, filled: bool) -> QIcon:
    """A breakpoint's dot: filled when enabled, a ring when disabled."""
    pixmap = QPixmap(12, 12)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(QColor(color), 1.5))
    painter.setBrush(QColor(color) if filled else Qt.BrushStyle.NoBrush)
    painter.drawEllipse(1, 1, 10, 10)
    painter.end()
    return QIcon(pixmap)


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
        self._mark_icons: dict[str, QIcon] = {}
        self._edited_bg: QColor | None = None
        self._inserted_bg: QColor | None = None
        self._originals: dict[int, str] = {}
        self._breakpoints: dict[EventKey, bool] = {}
        self._view: npt.NDArray[np.int64] | None = None
        """Display rows shown when a filter hides the others (ascending); None: all."""
        self._matches: npt.NDArray[np.int64] | None = None
        """Display rows a filter matches, when it only highlights them."""
        self._breakpoint_icons = (_dot_icon("#e0245e", True), _dot_icon("#e0245e", False))
        self._bookmarks: dict[EventKey, str] = {}
        self._bookmark_icon = _bookmark_icon("#2f80ed")
        navigator.sessionChanged.connect(self._reset)
        navigator.positionChanged.connect(self._on_position)

    def set_marks_look(
        self, icons: dict[str, QIcon], edited_bg: QColor | None, inserted_bg: QColor | None
    ) -> None:
        """Icons per mark ('dropped', 'edited', 'inserted', 'moved') and row tints."""
        self._mark_icons = dict(icons)
        self._edited_bg, self._inserted_bg = edited_bg, inserted_bg
        if self.rowCount():
            self.dataChanged.emit(
                self.index(0, 0), self.index(self.rowCount() - 1, len(self.COLUMNS) - 1)
            )

    def marks(self, row: int) -> list[str]:
        marks = self._nav.rows.marks
        if marks is None or marks.empty:
            return []
        return marks.kinds(int(self._nav.rows.keys[row]))

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
        self._view = self._matches = None  # the rows changed: the filter bar runs again
        self._chunks.clear()
        self._summaries.clear()
        self._originals.clear()
        self._current = self._nav.row
        self.endResetModel()

    def _on_position(self, row: int) -> None:
        old, self._current = self._current, row
        last = len(self.COLUMNS) - 1
        for display in (old, row):
            r = self.view_row(display)
            if r is not None and 0 <= r < self.rowCount():
                self.dataChanged.emit(self.index(r, 0), self.index(r, last))

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid():
            return 0
        return self._nav.count if self._view is None else int(self._view.shape[0])

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        if orientation == Qt.Orientation.Vertical:
            return self._gutter(self.display_row(section), role)
        return _header(self.COLUMNS, section, orientation, role)

    # --- filtering ---------------------------------------------------------------------------

    def set_filter(self, matches: npt.NDArray[np.int64] | None, *, hide: bool) -> None:
        """Show only ``matches`` (``hide``), or show every row with the others dimmed;
        None clears the filter. Rows of the model are then view rows: map them with
        :meth:`display_row` / :meth:`view_row`."""
        self.beginResetModel()
        self._view = matches if (hide and matches is not None) else None
        self._matches = matches if (not hide and matches is not None) else None
        self._summaries.clear()
        self.endResetModel()

    @property
    def filtered(self) -> bool:
        return self._view is not None

    def display_row(self, view_row: int) -> int:
        """The navigator's row shown on model row ``view_row``."""
        view = self._view
        return view_row if view is None or view_row < 0 else int(view[view_row])

    def view_row(self, display_row: int) -> int | None:
        """The model row showing ``display_row`` (None: the filter hides it)."""
        view = self._view
        if view is None:
            return display_row
        i = int(np.searchsorted(view, display_row))
        return i if i < view.shape[0] and int(view[i]) == display_row else None

    def _is_match(self, row: int) -> bool:
        matches = self._matches
        if matches is None:
            return True
        i = int(np.searchsorted(matches, row))
        return i < matches.shape[0] and int(matches[i]) == row

    def set_breakpoints(self, keys: dict[EventKey, bool]) -> None:
        """Events with a breakpoint (and whether it is enabled), drawn in the gutter."""
        self._breakpoints = dict(keys)
        if self.rowCount():
            self.headerDataChanged.emit(Qt.Orientation.Vertical, 0, self.rowCount() - 1)

    def set_bookmarks(self, notes: dict[EventKey, str]) -> None:
        """Bookmarked events and their notes, drawn in the gutter (below a breakpoint)."""
        self._bookmarks = dict(notes)
        if self.rowCount():
            self.headerDataChanged.emit(Qt.Orientation.Vertical, 0, self.rowCount() - 1)

    def bookmark_at(self, row: int) -> str | None:
        if not self._bookmarks or not 0 <= row < len(self._nav.rows):
            return None
        return self._bookmarks.get(int(self._nav.rows.keys[row]))

    def breakpoint_at(self, row: int) -> bool | None:
        """None: no breakpoint on that row's event; else whether it is enabled."""
        if not self._breakpoints or not 0 <= row < len(self._nav.rows):
            return None
        return self._breakpoints.get(int(self._nav.rows.keys[row]))

    def _gutter(self, row: int, role: int) -> Any:
        if role == _DISPLAY:
            return ""
        if role == Qt.ItemDataRole.DecorationRole:
            enabled = self.breakpoint_at(row)
            if enabled is None:
                return self._bookmark_icon if self.bookmark_at(row) is not None else None
            return self._breakpoint_icons[0 if enabled else 1]
        if role == Qt.ItemDataRole.ToolTipRole:
            enabled = self.breakpoint_at(row)
            note = self.bookmark_at(row)
            mark = "" if note is None else f"\nBookmark{': ' + note if note else ''}"
            if enabled is None:
                return "Click to set a breakpoint on this event (F9)" + mark
            text = "Breakpoint (disabled)" if not enabled else "Breakpoint: click to clear"
            return text + mark
        return None

    def event_at(self, row: int) -> Event:
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
        rows = self._nav.rows
        if rows.identity and (rows.marks is None or not rows.marks.edited):
            return session.log.events(start, stop)
        engine, branch = session.engine, self._nav.branch
        return [engine.event_at(branch, r) for r in range(start, stop)]

    def _summary(self, row: int) -> str:
        text = self._summaries.get(row)
        if text is None:
            text = summarize(self.event_at(row).data)
            if "edited" in self.marks(row):
                was = self._original(row)
                if was is not None and was.data != self.event_at(row).data:
                    text = f"✎ {text}   ⟸ was: {summarize(was.data, 80)}"
            self._summaries[row] = text
        return text

    def _original(self, row: int) -> Event | None:
        session = self._nav.session
        if session is None:
            return None
        event: Event = session.engine.original_event(self._nav.branch, row)
        return event

    def _names(self, row: int) -> tuple[str, str]:
        rows = self._nav.rows
        sc, tc = int(rows.stream_codes[row]), int(rows.type_codes[row])
        cols = self._nav.columns
        if (
            sc < 0
            or tc < 0
            or (rows.marks is not None and int(rows.keys[row]) in rows.marks.edited)
        ):
            ev = self.event_at(row)
            return ev.stream, ev.type
        return cols.stream_names[sc], cols.type_names[tc]

    def data(self, index: AnyIndex, role: int = _DISPLAY) -> Any:
        if not index.isValid():
            return None
        col = index.column()
        row = self.display_row(index.row())
        rows = self._nav.rows
        if not 0 <= row < len(rows):
            return None
        if role == _DISPLAY:
            return self._display(row, col)
        if role == RowRole:
            return row
        if role == MarkRole:
            return self.marks(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, col)
        if role == Qt.ItemDataRole.BackgroundRole and row == self._current:
            return self._current_bg
        if role == Qt.ItemDataRole.BackgroundRole:
            marks = self.marks(row)
            if "inserted" in marks:
                return self._inserted_bg
            if "edited" in marks:
                return self._edited_bg
            return None
        if role == Qt.ItemDataRole.DecorationRole and col == self.POS:
            for mark in self.marks(row):
                icon = self._mark_icons.get(mark)
                if icon is not None:
                    return icon
            return None
        if role == Qt.ItemDataRole.ForegroundRole:
            if row == self._current:
                return self._current_fg
            if rows.dropped[row] or not self._is_match(row):
                return self._dropped_fg  # what a highlighting filter does not match: dimmed
            return None
        if role == Qt.ItemDataRole.FontRole:
            if rows.dropped[row]:
                return self._strike
            if row == self._current:
                return self._bold
            return None
        if role == Qt.ItemDataRole.DecorationRole and col == self.TYPE:
            tc = int(rows.type_codes[row])
            if tc >= 0 and self._type_colors:
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
                return format_time(self.event_at(row).recorded_us or NA)
            return format_time(us)
        if col == self.PROCESSED:
            us = int(rows.processed_us[row])
            if us == NA and rows.keys[row] < 0:
                return format_time(self.event_at(row).processed_us or NA)
            return format_time(us)
        if col == self.STREAM:
            return self._names(row)[0]
        if col == self.TYPE:
            name = self._names(row)[1]
            if "edited" in self.marks(row):
                was = self._original(row)
                if was is not None and was.type != name:
                    return f"{name} (was {was.type})"
            return name
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
        marks = self.marks(row)
        if marks:
            where = f"in {self._nav.branch}"
            text = {
                "dropped": f"dropped {where}: struck out, not replayed",
                "edited": f"edited {where}: a new version replaces the log's",
                "inserted": f"inserted {where}: not in the log",
                "moved": f"moved {where}: out of the log's order",
            }
            return "\n".join(text[m] for m in marks)
        if rows.dropped[row]:
            return "dropped in this branch"
        return None

    # --- moving events by drag and drop (the view decides where they land) ------------------

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        base = super().flags(index)
        if index.isValid() and self._nav.branch != "main":
            return base | Qt.ItemFlag.ItemIsDragEnabled
        return base

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def mimeTypes(self) -> list[str]:
        return [ROW_MIME]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        data = QMimeData()
        rows = sorted({self.display_row(i.row()) for i in indexes if i.isValid()})
        if rows:
            data.setData(ROW_MIME, str(rows[0]).encode())
        return data


# --- trees: the state inspector and the event detail ---------------------------------------


_UNSET: Any = object()
GROUP = 500
"""Containers with more children than this show them in groups ("[0 … 499]"), the way
debuggers show big arrays: a tree view lays out every row of an expanded level, so a level
of 100,000 keys would cost 100,000 calls per step; grouped, it costs a few hundred."""


@dataclass(frozen=True)
class ChangeInfo:
    change: str
    old: Any = None
    new: Any = None


@dataclass(frozen=True)
class GroupKey:
    """A group's place in a node path (groups are not part of the state's own paths)."""

    start: int


class Failed:
    """A value the engine could not produce (the projection raised while folding it)."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __str__(self) -> str:
        return f"⚠ {type(self.error).__name__}: {self.error}"


@dataclass(eq=False)
class _Node:
    parent: _Node | None
    """The parent in the tree (a group node, for children of a grouped container)."""
    owner: _Node | None
    """The container whose value holds this node's value (for a group: its container)."""
    row: int
    key: Any
    path: tuple[Any, ...]
    """Path in the state: keys and list indices."""
    npath: tuple[Any, ...]
    """Path in the tree: the state path with GroupKey markers where groups are."""
    group: tuple[int, int] | None = None
    value: Any = _UNSET
    change: str | None = None
    old: Any = None
    removed: bool = False
    filtered: bool = False
    """Children are filtered (this node did not match the filter itself)."""
    items: list[Any] | None = None
    """Keys of the visible children, or None until fetched (containers only)."""
    gone: frozenset[Any] = frozenset()
    """Those of ``items`` that the current event removed (listed after the others)."""
    group_size: int = 0
    lookups: dict[Any, int | None] = field(default_factory=dict)
    marked: set[int] | None = None
    """Item positions that are changed or contain changes (for bold groups)."""
    nodes: dict[int, _Node] = field(default_factory=dict)


def _group_size(n: int) -> int:
    """0 (no groups) for small levels; else about GROUP groups of at least GROUP items."""
    return 0 if n <= GROUP else max(GROUP, -(-n // GROUP))


def _is_container(value: Any) -> bool:
    return isinstance(value, Mapping | list | tuple)


def _keys_of(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return list(value.keys())
    if isinstance(value, list | tuple):
        return list(range(len(value)))
    return []


def _child(value: Any, key: Any) -> Any:
    """``value[key]``; a lazy state folds here, so a projection error becomes a value."""
    if isinstance(value, Failed):
        return value
    try:
        return value[key]
    except Exception as exc:
        return Failed(exc)


class StateTreeModel(QAbstractItemModel):
    """A JSON-like value (dicts, lists, lazy Mappings) as a tree, with change highlighting.

    Children of a node are listed when the view expands it (fetchMore), a value from a lazy
    Mapping (the engine's keyed state) is folded only when shown, and big levels are grouped.
    Removed keys stay visible, struck out, with their previous value.
    """

    COLUMNS = ("Key", "Value", "Previous")
    KEY, VALUE, PREVIOUS = range(3)

    failed = Signal(object)
    """A value could not be produced (the projection raised): the exception, once per reset.
    Connect it queued: it fires while the view paints."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._value: Any = {}
        self._root_keys: list[Any] | None = None
        self._changes: dict[tuple[Any, ...], ChangeInfo] = {}
        self._ancestors: set[tuple[Any, ...]] = set()
        self._filter = ""
        self._failure_reported = False
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
        self._root = _Node(None, None, 0, None, (), ())
        self._reset_root()

    # --- content ----------------------------------------------------------------------------

    def set_colors(self, changes: dict[str, QColor], text: QColor) -> None:
        """Backgrounds per change kind and the text colour drawn over them."""
        self._colors = dict(changes)
        self._change_fg = text
        n = self.rowCount()
        if n:
            self.dataChanged.emit(self.index(0, 0), self.index(n - 1, len(self.COLUMNS) - 1))

    def set_value(
        self, value: Any, changes: Sequence[Any] = (), keys: list[Any] | None = None
    ) -> None:
        """Show ``value``; ``changes`` are the engine's Change records (path, change, old,
        new) of the event that led here. ``keys``, when the caller knows them, are the
        top-level keys of ``value`` in order (listing a big lazy state costs a few ms)."""
        self.beginResetModel()
        self._value = value
        self._root_keys = keys
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
        self._root_keys = None
        self._reset_root()
        self.endResetModel()

    @property
    def filter_text(self) -> str:
        return self._filter

    def changed_paths(self) -> list[tuple[Any, ...]]:
        return list(self._changes)

    def _reset_root(self) -> None:
        self._failure_reported = False
        self._root = _Node(
            None, None, 0, None, (), (), value=self._value, filtered=bool(self._filter)
        )
        self._set_items(self._root, self._list_children(self._root))

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
        if node.group is not None:
            assert node.owner is not None
            return self._node_value(node.owner)
        if node.value is _UNSET:
            owner = node.owner
            assert owner is not None
            pv = owner.old if owner.removed else self._node_value(owner)
            node.value = _child(pv, node.key)
            if isinstance(node.value, Failed) and not self._failure_reported:
                self._failure_reported = True
                self.failed.emit(node.value.error)
        return node.value

    def _list_children(self, node: _Node) -> tuple[list[Any], frozenset[Any]]:
        value = node.old if node.removed else self._node_value(node)
        if node is self._root and self._root_keys is not None:
            keys = list(self._root_keys)
        else:
            keys = _keys_of(value)
        gone: frozenset[Any] = frozenset()
        if not node.removed:
            depth = len(node.path)
            removed = [
                path[-1]
                for path, info in self._changes.items()
                if info.change == "removed" and len(path) == depth + 1 and path[:depth] == node.path
            ]
            if removed:
                present = set(keys)
                gone = frozenset(k for k in removed if k not in present)
                keys.extend(k for k in removed if k in gone)
        if node.filtered and self._filter:
            kept = []
            for k in keys:
                v = self._removed_old(node, k) if k in gone else _child(value, k)
                if self._key_matches(k, v) or self._subtree_matches(v):
                    kept.append(k)
            keys = kept
        return keys, gone

    def _set_items(self, node: _Node, items: tuple[list[Any], frozenset[Any]]) -> None:
        node.items, node.gone = items
        node.group_size = _group_size(len(node.items))

    def _removed_old(self, parent: _Node, key: Any) -> Any:
        if parent.removed:
            return _child(parent.old, key)
        info = self._changes.get((*parent.path, key))
        return None if info is None else info.old

    def _position(self, node: _Node, key: Any) -> int | None:
        """Where ``key`` is among the items of ``node``. A scan in C (keys are mostly the very
        objects the engine handed out, so compared by identity) for the few lookups a step
        needs; a dict of a 100,000-key level would cost more than all of them."""
        assert node.items is not None
        memo = node.lookups
        if key in memo:
            return memo[key]
        try:
            found: int | None = node.items.index(key)
        except ValueError:
            found = None
        memo[key] = found
        return found

    def _marked(self, node: _Node) -> set[int]:
        """Positions of the items of ``node`` that are changed or lead to a change."""
        if node.marked is None:
            depth = len(node.path)
            keys = {
                p[depth]
                for p in (*self._changes, *self._ancestors)
                if len(p) > depth and p[:depth] == node.path
            }
            found = (self._position(node, k) for k in keys)
            node.marked = {i for i in found if i is not None}
        return node.marked

    def _child_node(self, parent: _Node, row: int) -> _Node:
        node = parent.nodes.get(row)
        if node is not None:
            return node
        if parent.group is None and parent.group_size:
            size = parent.group_size
            assert parent.items is not None
            start = row * size
            stop = min(start + size, len(parent.items))
            node = _Node(
                parent,
                parent,
                row,
                None,
                parent.path,
                (*parent.npath, GroupKey(start)),
                group=(start, stop),
            )
            parent.nodes[row] = node
            return node
        owner = parent.owner if parent.group is not None else parent
        assert owner is not None and owner.items is not None
        i = row + (parent.group[0] if parent.group is not None else 0)
        key = owner.items[i]
        removed = owner.removed or key in owner.gone
        path = (*owner.path, key)
        node = _Node(parent, owner, row, key, path, (*parent.npath, key), removed=removed)
        info = self._changes.get(path)
        if removed:
            node.old = self._removed_old(owner, key)
            node.change = "removed"
        elif info is not None:
            node.change = info.change
            node.old = info.old
        elif owner.change in ("added", "removed"):
            node.change = owner.change
        if self._filter and owner.filtered:
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

    def _row_count(self, node: _Node) -> int:
        if node.group is not None:
            return node.group[1] - node.group[0]
        if node.items is None:
            return 0
        if node.group_size:
            return -(-len(node.items) // node.group_size)
        return len(node.items)

    # --- finding nodes by path ----------------------------------------------------------------

    def index_of_path(self, path: Sequence[Any]) -> QModelIndex:
        """The row showing state path ``path`` (listing children on the way), or invalid."""
        index = QModelIndex()
        node = self._root
        for key in path:
            if node.items is None:
                self.fetchMore(index)
            if node.items is None:
                return QModelIndex()
            i = self._position(node, key)
            if i is None:
                return QModelIndex()
            if node.group_size:
                g = i // node.group_size
                index = self.index(g, 0, index)
                i -= g * node.group_size
            index = self.index(i, 0, index)
            if not index.isValid():
                return QModelIndex()
            node = self._node(index)
        return index

    def index_of_npath(self, npath: Sequence[Any]) -> QModelIndex:
        """Like :meth:`index_of_path` for a tree path (with groups), as :meth:`npath_at`
        gives it: how views remember what was expanded."""
        index = QModelIndex()
        node = self._root
        for key in npath:
            if isinstance(key, GroupKey):
                if node.group is not None or not node.group_size:
                    return QModelIndex()
                if key.start % node.group_size:
                    return QModelIndex()
                index = self.index(key.start // node.group_size, 0, index)
            else:
                if node.group is None and node.items is None:
                    self.fetchMore(index)
                owner = node.owner if node.group is not None else node
                if owner is None or owner.items is None:
                    return QModelIndex()
                i = self._position(owner, key)
                if i is None:
                    return QModelIndex()
                if node.group is not None:
                    i -= node.group[0]
                elif node.group_size:
                    return QModelIndex()
                index = self.index(i, 0, index)
            if not index.isValid():
                return QModelIndex()
            node = self._node(index)
        return index

    def npath_at(self, index: AnyIndex) -> tuple[Any, ...]:
        return self._node(index).npath

    # --- Qt model API ---------------------------------------------------------------------

    def index(self, row: int, column: int, parent: AnyIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        # Bounds checked here rather than with hasIndex(): a tree view calls this for every
        # row of an expanded level, and hasIndex() calls back into Python twice.
        if column < 0 or column >= 3 or row < 0:
            return QModelIndex()
        if parent.isValid() and parent.column() != 0:
            return QModelIndex()
        pnode = self._node(parent)
        if row >= self._row_count(pnode):
            return QModelIndex()
        return self.createIndex(row, column, self._child_node(pnode, row))

    def parent(self, index: AnyIndex | None = None) -> Any:
        if index is None:  # QObject.parent()
            return QObject.parent(self)
        if not index.isValid():
            return QModelIndex()
        parent = self._node(index).parent
        if parent is None or parent is self._root:
            return QModelIndex()
        return self.createIndex(parent.row, 0, parent)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return 0
        return self._row_count(self._node(parent))

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return len(self.COLUMNS)

    def hasChildren(self, parent: AnyIndex = QModelIndex()) -> bool:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return False
        node = self._node(parent)
        if node.group is not None:
            return True
        if node.items is not None:
            return bool(node.items)
        if node.removed:
            return _is_container(node.old) and len(node.old) > 0
        if node.value is _UNSET and node.owner is not None:
            pv = node.owner.value
            if isinstance(pv, Mapping) and not isinstance(pv, dict):
                return True  # a lazy state: do not fold a substate just to draw an arrow
        value = self._node_value(node)
        if _is_container(value) and len(value) > 0:
            return True
        depth = len(node.path)
        return any(
            info.change == "removed" and len(p) == depth + 1 and p[:-1] == node.path
            for p, info in self._changes.items()
        )

    def canFetchMore(self, parent: AnyIndex) -> bool:
        if parent.isValid() and parent.column() != 0:
            return False
        node = self._node(parent)
        return node.group is None and node.items is None and self.hasChildren(parent)

    def fetchMore(self, parent: AnyIndex) -> None:
        node = self._node(parent)
        if node.group is not None or node.items is not None:
            return
        items = self._list_children(node)
        size = _group_size(len(items[0]))
        n = -(-len(items[0]) // size) if size else len(items[0])
        if n:
            self.beginInsertRows(parent, 0, n - 1)
            self._set_items(node, items)
            self.endInsertRows()
        else:
            self._set_items(node, items)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        return _header(self.COLUMNS, section, orientation, role)

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def value_at(self, index: AnyIndex) -> Any:
        node = self._node(index)
        if node.group is not None:
            owner = node.owner
            assert owner is not None and owner.items is not None
            value = self._node_value(owner)
            start, stop = node.group
            return {str(k): _child(value, k) for k in owner.items[start:stop]}
        return node.old if node.removed else self._node_value(node)

    def path_at(self, index: AnyIndex) -> tuple[Any, ...]:
        return self._node(index).path

    def data(self, index: AnyIndex, role: int = _DISPLAY) -> Any:
        if not index.isValid():
            return None
        node = self._node(index)
        if node.group is not None:
            return self._group_data(node, index.column(), role)
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
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == self.VALUE and isinstance(node.value, Failed):
                return QColor("#d03030")
            if node.change is not None:
                return self._change_fg
            return None
        if role == Qt.ItemDataRole.FontRole:
            if node.removed:
                return self._strike
            if node.path in self._ancestors:
                return self._bold
            return None
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(node)
        return None

    def _group_data(self, node: _Node, col: int, role: int) -> Any:
        owner = node.owner
        assert owner is not None and owner.items is not None and node.group is not None
        start, stop = node.group
        if role == _DISPLAY:
            if col == self.KEY:
                return f"[{start} … {stop - 1}]"
            if col == self.VALUE:
                first, last = owner.items[start], owner.items[stop - 1]
                return f"{first} … {last}"
            return ""
        if role == PathRole:
            return node.path
        if role == Qt.ItemDataRole.FontRole:
            if any(start <= i < stop for i in self._marked(owner)):
                return self._bold
            return None
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{stop - start} of {len(owner.items)} entries, grouped to keep the tree fast"
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

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        return _header(self.COLUMNS, section, orientation, role)

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
