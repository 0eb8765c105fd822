"""Small pieces of the window: the message bar, the import report, the Go to dialog."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.qt_models import ProblemTableModel
from models.problems import Problem
from views.theme import Theme


class MessageBar(QWidget):
    """A dismissable line above the table: errors and notices stay visible in the window
    instead of popping modal boxes (and never kill the app)."""

    def __init__(self, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")
        self._theme = theme
        self._kind = "info"
        self.label = QLabel()
        self.label.setObjectName("messageText")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Dismiss")
        self.close_button.setAutoRaise(True)
        self.close_button.clicked.connect(self.hide)
        box = QHBoxLayout(self)
        box.setContentsMargins(8, 4, 4, 4)
        box.addWidget(self.label, 1)
        box.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.setAutoFillBackground(True)
        theme.changed.connect(self._restyle)
        self.hide()

    @property
    def kind(self) -> str:
        return self._kind

    def show_message(self, text: str, kind: str = "error", details: str = "") -> None:
        self._kind = kind
        self.label.setText(text)
        self.label.setToolTip(details[-4000:] if details else "")
        self._restyle()
        self.show()

    def text(self) -> str:
        return self.label.text()

    def _restyle(self) -> None:
        c = self._theme.colors
        bg = c.error_bg if self._kind == "error" else c.info_bg
        fg = c.error_fg if self._kind == "error" else c.text
        self.setStyleSheet(
            f"#messageBar {{ background: {bg.name()}; border-radius: 3px; }}"
            f" #messageText {{ color: {fg.name()}; }}"
        )


class ImportReport(QWidget):
    """Skipped records and warnings of the last import, with file, line and byte offset."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("importReport")
        self.model = ProblemTableModel(self)
        self.summary = QLabel("No import problems.")
        self.summary.setObjectName("reportSummary")
        self.summary.setWordWrap(True)
        self.table = QTableView()
        self.table.setObjectName("reportTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setWordWrap(False)
        fm = self.fontMetrics()
        self.table.setColumnWidth(0, fm.horizontalAdvance("warning") + 16)
        self.table.setColumnWidth(1, fm.horizontalAdvance("000000") + 16)
        self.table.setColumnWidth(2, fm.horizontalAdvance("000000000") + 16)
        self.table.setColumnWidth(3, fm.horizontalAdvance("x" * 48))
        box = QVBoxLayout(self)
        box.setContentsMargins(2, 2, 2, 2)
        box.addWidget(self.summary)
        box.addWidget(self.table, 1)

    def set_report(self, file: str, problems: Sequence[Problem], message: str = "") -> None:
        self.model.set_problems(problems)
        errors = sum(1 for p in problems if p.severity.value == "error")
        warnings = len(problems) - errors
        parts = [message] if message else []
        parts.append(
            f"{file}: {errors} record{'s' if errors != 1 else ''} skipped or rejected, "
            f"{warnings} warning{'s' if warnings != 1 else ''}."
        )
        self.summary.setText(" ".join(parts))


class GoToDialog(QDialog):
    """Ctrl+G: a position, ``@key``, an event id or a time; errors are shown in the dialog."""

    jumped = Signal(int)

    TIME_MODES = (
        ("after", "a time: the first event recorded at or after it"),
        ("as_of", "a time: the state as of it (last event recorded at or before)"),
        ("as_of_processed", "a time: the state as of it (last event processed at or before)"),
    )

    def __init__(self, resolve: Callable[[str, str], int], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("goToDialog")
        self.setWindowTitle("Go to event")
        self._resolve = resolve
        self.input = QLineEdit()
        self.input.setObjectName("goToInput")
        self.input.setPlaceholderText("123, @123, an event id, 2025-03-03T09:15:00 or 09:15")
        self.error = QLabel()
        self.error.setObjectName("goToError")
        self.error.setWordWrap(True)
        self.error.hide()
        hint = QLabel("A position in the log, an event key (@123), an event id, or a time (UTC).")
        hint.setWordWrap(True)
        self.time_mode = QComboBox()
        self.time_mode.setObjectName("goToTimeMode")
        for mode, text in self.TIME_MODES:
            self.time_mode.addItem(text, mode)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._go)
        buttons.rejected.connect(self.reject)
        box = QVBoxLayout(self)
        box.addWidget(hint)
        box.addWidget(self.input)
        box.addWidget(self.time_mode)
        box.addWidget(self.error)
        box.addWidget(buttons)
        self.resize(460, self.sizeHint().height())

    def _go(self) -> None:
        try:
            row = self._resolve(self.input.text(), str(self.time_mode.currentData()))
        except ValueError as exc:
            self.error.setText(str(exc))
            self.error.show()
            self.input.selectAll()
            return
        self.error.hide()
        self.accept()
        self.jumped.emit(row)
