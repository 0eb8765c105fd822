"""Item models of the compare view and the metric chart.

- :class:`CompareTreeModel`: one side of the side-by-side state trees. Both sides colour a
  path the same way, from B's point of view (added in B green, removed in B red, changed
  yellow); entries one side lacks are shown there struck out with the other side's value, so
  the two trees list the same paths. "Only differences" hides every path that does not
  differ or lead to a difference.
- :class:`AlignmentModel`: the event alignment (numpy arrays; nothing per event is stored).
- :class:`ValuesModel`: one metric's value in each branch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from app.compare import (
    DROPPED_A,
    DROPPED_B,
    EDITED,
    MOVED,
    ONLY_A,
    ONLY_B,
    EventAlignment,
    describe_status,
)
from app.metrics import MISSING, BranchValue, difference
from app.qt_models import ChangeRole, StateTreeModel, _Node, format_path, format_value
from models.event import format_key

AnyIndex = QModelIndex | QPersistentModelIndex
RowRole = Qt.ItemDataRole.UserRole + 20
"""Index into the alignment (an int) of a row of the alignment table."""
_DISPLAY = Qt.ItemDataRole.DisplayRole
_FLIP = {"added": "removed", "removed": "added", "changed": "changed"}


class CompareTreeModel(StateTreeModel):
    COLUMNS = ("Key", "Value", "Other side")

    def __init__(self, side: str, parent: QObject | None = None) -> None:
        self.side = side
        """"A" (left: its changes are B's, reversed) or "B"."""
        self._only = True
        super().__init__(parent)

    @property
    def only_differences(self) -> bool:
        return self._only

    def set_only_differences(self, only: bool) -> None:
        self.beginResetModel()
        self._only = only
        self._reset_root()
        self.endResetModel()

    def _shown_kind(self, change: str | None) -> str | None:
        if change is None or self.side == "B":
            return change
        return _FLIP[change]

    def _whole(self, path: tuple[Any, ...]) -> bool:
        return any(path[:i] in self._changes for i in range(len(path) + 1))

    def _list_children(self, node: _Node) -> tuple[list[Any], frozenset[Any]]:
        keys, gone = super()._list_children(node)
        if self._only and not self._whole(node.path):
            kept = [
                k
                for k in keys
                if (*node.path, k) in self._changes or (*node.path, k) in self._ancestors
            ]
            return kept, gone
        return keys, gone

    def data(self, index: AnyIndex, role: int = _DISPLAY) -> Any:
        if role in (ChangeRole, Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ToolTipRole):
            if not index.isValid():
                return None
            node = self._node(index)
            if node.group is not None:
                return super().data(index, role)
            kind = self._shown_kind(node.change)
            if role == ChangeRole:
                return kind
            if role == Qt.ItemDataRole.BackgroundRole:
                return None if kind is None else self._colors.get(kind)
            return self._compare_tooltip(node, kind)
        return super().data(index, role)

    def _compare_tooltip(self, node: _Node, kind: str | None) -> str:
        path = format_path(node.path)
        other = "B" if self.side == "A" else "A"
        if node.removed:
            return f"{path}\nonly in {other}, where it is {format_value(node.old)}"
        if (kind, self.side) in (("added", "B"), ("removed", "A")):
            return f"{path}\nonly in {self.side}"
        info = self._changes.get(node.path)
        if info is not None and info.change == "changed":
            return f"{path}\ndiffers: in {other} it is {format_value(info.old)}"
        if node.path in self._ancestors:
            return f"{path}\ncontains differences"
        return path


class AlignmentModel(QAbstractTableModel):
    """Both event lists merged by identity; ``only_differences`` lists differing events."""

    COLUMNS = ("A", "B", "Event", "Type", "Stream", "Difference")
    A, B, EVENT, TYPE, STREAM, DIFF = range(6)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._al: EventAlignment | None = None
        self._engine: Any = None
        self._rows = np.zeros(0, np.int64)
        self._only = True
        self._colors: dict[str, QColor] = {
            "added": QColor("#c9f2c7"),
            "removed": QColor("#ffcdcd"),
            "changed": QColor("#ffe7a3"),
        }
        self._text = QColor("#000000")
        self._bold = QFont()
        self._bold.setBold(True)
        self._strike = QFont()
        self._strike.setStrikeOut(True)
        self._events: dict[tuple[str, int], Any] = {}

    def set_colors(self, changes: dict[str, QColor], text: QColor) -> None:
        self._colors = dict(changes)
        self._text = text
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1, 5))

    @property
    def alignment(self) -> EventAlignment | None:
        return self._al

    @property
    def only_differences(self) -> bool:
        return self._only

    def set_alignment(self, alignment: EventAlignment | None, engine: Any) -> None:
        self.beginResetModel()
        self._al = alignment
        self._engine = engine
        self._events.clear()
        self._select()
        self.endResetModel()

    def set_only_differences(self, only: bool) -> None:
        self.beginResetModel()
        self._only = only
        self._select()
        self.endResetModel()

    def _select(self) -> None:
        al = self._al
        if al is None:
            self._rows = np.zeros(0, np.int64)
        elif self._only:
            rows = al.differing()
            if al.first_divergence is not None and al.first_divergence not in set(rows.tolist()):
                rows = np.sort(np.append(rows, al.first_divergence))
            self._rows = rows
        else:
            self._rows = np.arange(len(al), dtype=np.int64)

    def row_of_entry(self, i: int) -> int | None:
        """The table row showing alignment entry ``i`` (None: filtered out)."""
        hits = np.flatnonzero(self._rows == i)
        return int(hits[0]) if hits.size else None

    def entry(self, row: int) -> int:
        return int(self._rows[row])

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else int(self._rows.shape[0])

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if not horizontal or role != _DISPLAY or not 0 <= section < len(self.COLUMNS):
            return None
        al = self._al
        if al is not None and section == self.A:
            return f"A: {al.a}"
        if al is not None and section == self.B:
            return f"B: {al.b}"
        return self.COLUMNS[section]

    def _event(self, i: int) -> Any:
        al = self._al
        assert al is not None
        ra, rb = int(al.rows_a[i]), int(al.rows_b[i])
        branch, row = (al.b, rb) if rb >= 0 and (ra < 0 or al.status[i] & EDITED) else (al.a, ra)
        found = self._events.get((branch, row))
        if found is None:
            found = self._engine.event_at(branch, row)
            if len(self._events) > 4096:
                self._events.clear()
            self._events[(branch, row)] = found
        return found

    def data(self, index: AnyIndex, role: int = _DISPLAY) -> Any:
        al = self._al
        if al is None or not index.isValid() or not 0 <= index.row() < self.rowCount():
            return None
        i = int(self._rows[index.row()])
        col = index.column()
        status = int(al.status[i])
        if role == _DISPLAY:
            if col == self.A:
                r = int(al.rows_a[i])
                return "—" if r < 0 else f"{r:,}" + ("  ✕" if status & DROPPED_A else "")
            if col == self.B:
                r = int(al.rows_b[i])
                return "—" if r < 0 else f"{r:,}" + ("  ✕" if status & DROPPED_B else "")
            if col == self.EVENT:
                return format_key(int(al.keys[i]))
            if col == self.TYPE:
                return self._event(i).type
            if col == self.STREAM:
                return self._event(i).stream
            if col == self.DIFF:
                text = describe_status(status)
                if i == al.first_divergence:
                    text = "⚑ first divergence" + (f", {text}" if text else "")
                return text
            return None
        if role == RowRole:
            return i
        if role == Qt.ItemDataRole.BackgroundRole:
            kind = _kind(status)
            return None if kind is None else self._colors.get(kind)
        if role == Qt.ItemDataRole.ForegroundRole and _kind(status) is not None:
            return self._text
        if role == Qt.ItemDataRole.FontRole:
            if i == al.first_divergence:
                return self._bold
            if (col == self.A and status & DROPPED_A) or (col == self.B and status & DROPPED_B):
                return self._strike
            return None
        if role == Qt.ItemDataRole.ToolTipRole:
            text = describe_status(status) or "the same event, the same way, on both sides"
            if i == al.first_divergence:
                text = "the first event after which the two states differ\n" + text
            return text
        return None


def _kind(status: int) -> str | None:
    if status & (ONLY_B | DROPPED_A):
        return "added"
    if status & (ONLY_A | DROPPED_B):
        return "removed"
    if status & (EDITED | MOVED):
        return "changed"
    return None


def format_metric_value(value: Any) -> str:
    if value is MISSING:
        return "—"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.4g}"
    return format_value(value)


class ValuesModel(QAbstractTableModel):
    """A metric across branches: after the cursor's event (by identity) and at the end."""

    COLUMNS = ("Branch", "After cursor event", "At end", "Δ end vs first")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._values: list[BranchValue] = []
        self._cursor = ""

    def set_values(self, values: Sequence[BranchValue], cursor_label: str) -> None:
        self.beginResetModel()
        self._values = list(values)
        self._cursor = cursor_label
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._values)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == _DISPLAY:
            if section == 1 and self._cursor:
                return f"After {self._cursor}"
            return self.COLUMNS[section] if 0 <= section < len(self.COLUMNS) else None
        return None

    def data(self, index: AnyIndex, role: int = _DISPLAY) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._values):
            return None
        v = self._values[index.row()]
        col = index.column()
        if role == _DISPLAY:
            if col == 0:
                return v.branch
            if col == 1:
                if v.cursor_row is None:
                    return "(no such event)"
                return format_metric_value(v.at_cursor)
            if col == 2:
                return format_metric_value(v.at_end)
            if col == 3:
                if index.row() == 0:
                    return ""
                d = difference(self._values[0].at_end, v.at_end)
                return "—" if d is None else f"{d:+,.4g}" if not d.is_integer() else f"{d:+,.0f}"
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and col > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and col == 1 and v.cursor_row is not None:
            return f"row {v.cursor_row:,} of {v.branch}"
        return None

    def values(self) -> list[BranchValue]:
        return list(self._values)
