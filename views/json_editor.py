"""Editing events: a JSON editor that validates as you type, and the edit and insert dialogs.

Invalid JSON is refused with the reason and its place (line, column), underlined in the
text; the dialogs' OK buttons stay disabled until every field is valid, and what the engine
still refuses (an edit before the fork point...) is shown in the dialog, which stays open.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontDatabase, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QButtonGroup,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QSplitter,
    QTabWidget,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.qt_models import pretty_json
from models.event import Event, datetime_to_us, format_key, format_us

Submit = Callable[[dict[str, Any]], str | None]
"""Called with what the dialog produced; returns an error to show (the dialog stays open)
or None (it closes)."""


def mono_font() -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setStyleHint(QFont.StyleHint.Monospace)
    return font


class JsonEditor(QWidget):
    """A JSON text with live validation; ``kind`` "object" also requires a JSON object."""

    validityChanged = Signal(bool)

    def __init__(self, kind: str = "any", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = kind
        self.text = QPlainTextEdit()
        self.text.setObjectName("jsonText")
        self.text.setFont(mono_font())
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setTabChangesFocus(True)
        self.status = QLabel()
        self.status.setObjectName("jsonStatus")
        self.status.setWordWrap(True)
        self.format_button = QPushButton("Format")
        self.format_button.setToolTip("Pretty-print the JSON (2-space indent)")
        self.format_button.clicked.connect(self.reformat)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.status, 1)
        row.addWidget(self.format_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.text, 1)
        box.addLayout(row)
        self._valid = True
        self._value: Any = None
        self._error = ""
        self.text.textChanged.connect(self.validate)
        self.validate()

    def set_value(self, value: Any) -> None:
        self.text.setPlainText(pretty_json(value))

    def value(self) -> Any:
        """The parsed value (only meaningful while :meth:`is_valid`)."""
        return self._value

    def is_valid(self) -> bool:
        return self._valid

    def error(self) -> str:
        return self._error

    def reformat(self) -> None:
        if self._valid:
            self.set_value(self._value)

    def validate(self) -> bool:
        raw = self.text.toPlainText()
        self.text.setExtraSelections([])
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            self._set(False, None, f"Line {exc.lineno}, column {exc.colno}: {exc.msg}")
            self._underline(exc.pos)
            return False
        if self.kind == "object" and not isinstance(value, dict):
            self._set(False, None, "Must be a JSON object ({ ... })")
            return False
        self._set(True, value, "Valid JSON")
        return True

    def _set(self, valid: bool, value: Any, message: str) -> None:
        changed = valid != self._valid
        self._valid, self._value, self._error = valid, value, "" if valid else message
        color = "#2e7d32" if valid else "#c62828"
        self.status.setText(("✓ " if valid else "✗ ") + message)
        self.status.setStyleSheet(f"color: {color};")
        self.text.setStyleSheet("" if valid else "QPlainTextEdit { border: 1px solid #c62828; }")
        if changed:
            self.validityChanged.emit(valid)

    def _underline(self, pos: int) -> None:
        selection = QTextEdit.ExtraSelection()
        fmt = QTextCharFormat()
        fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
        fmt.setUnderlineColor(QColor("#c62828"))
        fmt.setBackground(QColor(198, 40, 40, 60))
        selection.format = fmt
        cursor = QTextCursor(self.text.document())
        length = len(self.text.toPlainText())
        start = max(0, min(pos, length - 1))
        cursor.setPosition(start)
        cursor.setPosition(min(start + 1, length), QTextCursor.MoveMode.KeepAnchor)
        selection.cursor = cursor
        self.text.setExtraSelections([selection])


def _readonly_json(value: Any) -> QPlainTextEdit:
    view = QPlainTextEdit()
    view.setReadOnly(True)
    view.setFont(mono_font())
    view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    view.setPlainText(pretty_json(value))
    return view


def editable_fields(event: Event) -> dict[str, Any]:
    return {
        "type": event.type,
        "stream": event.stream,
        "data": event.data,
        "metadata": event.metadata,
    }


class _Dialog(QDialog):
    def __init__(self, submit: Submit, parent: QWidget | None) -> None:
        super().__init__(parent)
        self._submit = submit
        self.error = QLabel()
        self.error.setObjectName("dialogError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c62828;")
        self.error.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)

    @property
    def ok_button(self) -> QPushButton:
        button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        assert button is not None
        return button

    def result_value(self) -> dict[str, Any] | None:
        raise NotImplementedError

    def _accept(self) -> None:
        value = self.result_value()
        if value is None:
            return
        problem = self._submit(value)
        if problem:
            self.error.setText(problem)
            self.error.show()
            return
        self.accept()


class EditEventDialog(_Dialog):
    """The original event (read-only) beside the editable new version: type, stream, data
    and metadata. OK is enabled only when the JSON is valid and something changed."""

    def __init__(
        self, original: Event, current: Event, submit: Submit, parent: QWidget | None = None
    ) -> None:
        super().__init__(submit, parent)
        self.setObjectName("editEventDialog")
        self.setWindowTitle(f"Edit event {format_key(current.key)}")
        self._current = editable_fields(current)
        self.type_edit = QLineEdit(current.type)
        self.type_edit.setObjectName("editType")
        self.stream_edit = QLineEdit(current.stream)
        self.stream_edit.setObjectName("editStream")
        self.data_editor = JsonEditor("any")
        self.data_editor.setObjectName("editData")
        self.data_editor.set_value(current.data)
        self.meta_editor = JsonEditor("object")
        self.meta_editor.setObjectName("editMetadata")
        self.meta_editor.set_value(current.metadata)
        tabs = QTabWidget()
        tabs.addTab(self.data_editor, "Data")
        tabs.addTab(self.meta_editor, "Metadata")
        form = QFormLayout()
        form.addRow("Type:", self.type_edit)
        form.addRow("Stream:", self.stream_edit)
        right = QWidget()
        rbox = QVBoxLayout(right)
        rbox.setContentsMargins(0, 0, 0, 0)
        rbox.addWidget(QLabel("<b>New version</b> (this branch)"))
        rbox.addLayout(form)
        rbox.addWidget(tabs, 1)
        left = QWidget()
        lbox = QVBoxLayout(left)
        lbox.setContentsMargins(0, 0, 0, 0)
        edited = original != current
        title = "as in the log" if original.key >= 0 else "as inserted"
        lbox.addWidget(QLabel(f"<b>Original</b> ({title})"))
        self.original_view = _readonly_json(editable_fields(original))
        self.original_view.setObjectName("originalJson")
        lbox.addWidget(self.original_view, 1)
        if edited:
            lbox.addWidget(QLabel("Already edited in this branch: the new version replaces it."))
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([380, 520])
        box = QVBoxLayout(self)
        box.addWidget(split, 1)
        box.addWidget(self.error)
        box.addWidget(self.buttons)
        for w in (self.type_edit, self.stream_edit):
            w.textChanged.connect(self._update)
        for e in (self.data_editor, self.meta_editor):
            e.text.textChanged.connect(self._update)
        self.resize(960, 560)
        self._update()

    def changes(self) -> dict[str, Any] | None:
        """The fields that differ from the current version, or None if something is invalid."""
        if not (self.data_editor.is_valid() and self.meta_editor.is_valid()):
            return None
        new = {
            "type": self.type_edit.text().strip(),
            "stream": self.stream_edit.text().strip(),
            "data": self.data_editor.value(),
            "metadata": self.meta_editor.value(),
        }
        if not new["type"] or not new["stream"]:
            return None
        return {k: v for k, v in new.items() if v != self._current[k]}

    def _update(self) -> None:
        changes = self.changes()
        self.ok_button.setEnabled(bool(changes))
        problems = []
        if not self.data_editor.is_valid():
            problems.append(f"Data: {self.data_editor.error()}")
        if not self.meta_editor.is_valid():
            problems.append(f"Metadata: {self.meta_editor.error()}")
        if not self.type_edit.text().strip():
            problems.append("Type: an event needs a type")
        if not self.stream_edit.text().strip():
            problems.append("Stream: an event needs a stream")
        if problems:
            self.error.setText("\n".join(problems))
            self.error.show()
        else:
            self.error.hide()

    def result_value(self) -> dict[str, Any] | None:
        return self.changes() or None


def parse_time(text: str) -> int | None:
    """ISO 8601 (a trailing Z allowed; naive = UTC) to microseconds; None if blank.
    Raises ValueError with a message for anything else."""
    text = text.strip()
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"'{text}' is not a time like 2025-03-04T16:21:25.164Z") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return datetime_to_us(dt)


class InsertEventDialog(_Dialog):
    """A new event before or after the chosen one: stream and type (completed from the log),
    times defaulting to between its neighbours, data and metadata as JSON."""

    def __init__(
        self,
        anchor: Event,
        neighbours: tuple[int | None, int | None, int | None],
        submit: Submit,
        *,
        streams: list[str],
        types: list[str],
        before: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        """``neighbours``: recorded times of the event before the anchor, the anchor and the
        event after it (None where there is none or it has no time)."""
        super().__init__(submit, parent)
        self.setObjectName("insertEventDialog")
        self.setWindowTitle(f"Insert an event next to {format_key(anchor.key)}")
        self._neighbours = neighbours
        self.before = QRadioButton(f"Before {format_key(anchor.key)} {anchor.type}")
        self.after = QRadioButton(f"After {format_key(anchor.key)} {anchor.type}")
        (self.before if before else self.after).setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.before)
        group.addButton(self.after)
        self.stream_edit = QLineEdit(anchor.stream)
        self.stream_edit.setObjectName("insertStream")
        self.stream_edit.setCompleter(self._completer(streams))
        self.type_edit = QLineEdit()
        self.type_edit.setObjectName("insertType")
        self.type_edit.setPlaceholderText("e.g. BalanceCredited")
        self.type_edit.setCompleter(self._completer(types))
        self.recorded_edit = QLineEdit()
        self.recorded_edit.setObjectName("insertRecorded")
        self.processed_edit = QLineEdit()
        self.processed_edit.setObjectName("insertProcessed")
        self.processed_edit.setPlaceholderText("same as recorded")
        self.data_editor = JsonEditor("any")
        self.data_editor.setObjectName("insertData")
        self.data_editor.set_value({})
        self.meta_editor = JsonEditor("object")
        self.meta_editor.setObjectName("insertMetadata")
        self.meta_editor.set_value({})
        tabs = QTabWidget()
        tabs.addTab(self.data_editor, "Data")
        tabs.addTab(self.meta_editor, "Metadata")
        form = QFormLayout()
        where = QHBoxLayout()
        where.addWidget(self.before)
        where.addWidget(self.after)
        where.addStretch(1)
        form.addRow("Place:", where)
        form.addRow("Stream:", self.stream_edit)
        form.addRow("Type:", self.type_edit)
        form.addRow("Recorded at:", self.recorded_edit)
        form.addRow("Processed at:", self.processed_edit)
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addWidget(tabs, 1)
        box.addWidget(self.error)
        box.addWidget(self.buttons)
        self.before.toggled.connect(self._default_time)
        for w in (self.stream_edit, self.type_edit, self.recorded_edit, self.processed_edit):
            w.textChanged.connect(self._update)
        for e in (self.data_editor, self.meta_editor):
            e.text.textChanged.connect(self._update)
        self._default_time()
        self.resize(640, 560)
        self._update()

    @staticmethod
    def _completer(words: list[str]) -> QCompleter:
        completer = QCompleter(sorted(set(words)))
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        return completer

    def _default_time(self) -> None:
        """Halfway between the two events the new one will sit between."""
        prev, here, nxt = self._neighbours
        us = _between(prev, here) if self.before.isChecked() else _between(here, nxt)
        self.recorded_edit.setText(format_us(us) or "")

    def new_event(self) -> dict[str, Any] | None:
        """The new event as canonical JSON fields, or None while something is invalid."""
        if not (self.data_editor.is_valid() and self.meta_editor.is_valid()):
            return None
        stream, type_ = self.stream_edit.text().strip(), self.type_edit.text().strip()
        if not stream or not type_:
            return None
        try:
            recorded = parse_time(self.recorded_edit.text())
            processed = parse_time(self.processed_edit.text())
        except ValueError:
            return None
        out: dict[str, Any] = {
            "stream": stream,
            "type": type_,
            "data": self.data_editor.value(),
            "metadata": self.meta_editor.value(),
        }
        if recorded is not None:
            out["recorded_at"] = format_us(recorded)
        if processed is not None or recorded is not None:
            out["processed_at"] = format_us(processed if processed is not None else recorded)
        return out

    def _update(self) -> None:
        problems = []
        if not self.stream_edit.text().strip():
            problems.append("Stream: an event needs a stream")
        if not self.type_edit.text().strip():
            problems.append("Type: an event needs a type")
        for label, edit in (
            ("Recorded at", self.recorded_edit),
            ("Processed at", self.processed_edit),
        ):
            try:
                parse_time(edit.text())
            except ValueError as exc:
                problems.append(f"{label}: {exc}")
        if not self.data_editor.is_valid():
            problems.append(f"Data: {self.data_editor.error()}")
        if not self.meta_editor.is_valid():
            problems.append(f"Metadata: {self.meta_editor.error()}")
        self.ok_button.setEnabled(not problems)
        if problems:
            self.error.setText("\n".join(problems))
            self.error.show()
        else:
            self.error.hide()

    def result_value(self) -> dict[str, Any] | None:
        event = self.new_event()
        if event is None:
            return None
        return {"before": self.before.isChecked(), "event": event}


def _between(a: int | None, b: int | None) -> int | None:
    if a is not None and b is not None:
        return (a + b) // 2
    if a is not None:
        return a + 1000
    if b is not None:
        return b - 1000
    return None
