"""The full current event: header fields, payload and metadata as a tree and as pretty JSON.

Correlation and causation ids are buttons styled as links: a click jumps to the event that
carries that id (the first one, when a log repeats ids).
"""

from __future__ import annotations

import difflib

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QTextCharFormat,
    QTextCursor,
    QTextFormat,
)
from PySide6.QtWidgets import (
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.controller import Navigator
from app.projections import upcast_of
from app.qt_errors import describe, guarded
from app.qt_models import StateTreeModel, format_duration, pretty_json
from models.event import Event, format_key, format_us
from views.state_inspector import JsonTreeView
from views.theme import Theme


def _versioned(event: Event) -> dict[str, object]:
    """What an edit can change, payload first: the fields worth comparing side by side."""
    return {
        "data": event.data,
        "type": event.type,
        "stream": event.stream,
        "metadata": event.metadata,
        "recorded_at": format_us(event.recorded_us),
        "processed_at": format_us(event.processed_us),
    }


def _line_mark(view: QPlainTextEdit, line: int, color: QColor) -> QTextEdit.ExtraSelection:
    selection = QTextEdit.ExtraSelection()
    fmt = QTextCharFormat()
    fmt.setBackground(color)
    fmt.setProperty(QTextFormat.Property.FullWidthSelection, True)
    selection.format = fmt
    cursor = QTextCursor(view.document().findBlockByLineNumber(line))
    selection.cursor = cursor
    return selection


class LinkButton(QPushButton):
    """A flat button that looks like a hyperlink (and is one for the keyboard too)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFlat(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.target = ""

    def set_link(self, text: str, color: str, enabled: bool, tip: str) -> None:
        self.target = text
        self.setText(text or "—")
        self.setEnabled(enabled)
        self.setToolTip(tip)
        deco = "underline" if enabled else "none"
        self.setStyleSheet(
            f"QPushButton {{ color: {color}; text-decoration: {deco}; text-align: left;"
            " border: none; padding: 0px; }"
        )


class EventDetail(QWidget):
    message = Signal(str)
    """Something to tell the user in the status bar (a link to an id not in the log)."""

    def __init__(self, navigator: Navigator, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("eventDetail")
        self._nav = navigator
        self._theme = theme
        self.current: Event | None = None

        self.heading = QLabel("No event")
        self.heading.setObjectName("detailHeading")
        font = self.heading.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.heading.setFont(font)
        self.heading.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fields: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setContentsMargins(4, 0, 4, 0)
        form.setVerticalSpacing(1)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for name in ("Event id", "Stream", "Recorded", "Processed", "Lag"):
            label = QLabel()
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.fields[name] = label
            form.addRow(f"{name}:", label)
        self.correlation = LinkButton()
        self.correlation.setObjectName("correlationLink")
        self.causation = LinkButton()
        self.causation.setObjectName("causationLink")
        form.addRow("Correlation:", self.correlation)
        form.addRow("Causation:", self.causation)
        self.correlation.clicked.connect(lambda: self._follow(self.correlation.target))
        self.causation.clicked.connect(lambda: self._follow(self.causation.target))

        self.tree_model = StateTreeModel(self)
        self.tree = JsonTreeView(self.tree_model)
        self.tree.setObjectName("detailTree")
        self.tree.setColumnHidden(StateTreeModel.PREVIOUS, True)
        self.json = QPlainTextEdit()
        self.json.setObjectName("detailJson")
        self.json.setReadOnly(True)
        self.json.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.json.setFont(mono)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("detailTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.tree, "Tree")
        self.tabs.addTab(self.json, "JSON")
        self.original_json = QPlainTextEdit()
        self.original_json.setObjectName("detailOriginal")
        self.edited_json = QPlainTextEdit()
        self.edited_json.setObjectName("detailEdited")
        versions = QSplitter(Qt.Orientation.Horizontal)
        self.version_titles: list[QLabel] = []
        for title, view in (("Original (the log)", self.original_json),
                            ("This branch", self.edited_json)):  # fmt: skip
            view.setReadOnly(True)
            view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
            view.setFont(mono)
            pane = QWidget()
            pbox = QVBoxLayout(pane)
            pbox.setContentsMargins(0, 0, 0, 0)
            pbox.setSpacing(1)
            label = QLabel(title)
            self.version_titles.append(label)
            pbox.addWidget(label)
            pbox.addWidget(view, 1)
            versions.addWidget(pane)
        self.changed_lines: tuple[list[int], list[int]] = ([], [])
        """Lines of the two versions that differ (for tests)."""
        self.versions_tab = self.tabs.addTab(versions, "Original ⇄ edited")
        self.tabs.setTabEnabled(self.versions_tab, False)
        self.tabs.setTabToolTip(
            self.versions_tab, "The log's version beside this branch's (edited events only)"
        )

        top = QWidget()
        top_box = QVBoxLayout(top)
        top_box.setContentsMargins(2, 2, 2, 2)
        top_box.addWidget(self.heading)
        top_box.addLayout(form)
        top_box.addStretch(1)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("detailSplitter")
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.splitter)

        navigator.positionChanged.connect(self.refresh)
        theme.changed.connect(self._on_theme)
        self.tabs.currentChanged.connect(lambda _i: self._center_changes())

    def _on_theme(self) -> None:
        self.refresh(self._nav.row)

    @guarded("Event detail")
    def refresh(self, row: int | None = None) -> None:
        row = self._nav.row if row is None else row
        ev = self._nav.current_event() if row == self._nav.row else None
        if ev is None and row >= 0 and self._nav.engine is not None:
            ev = self._nav.engine.event_at(self._nav.branch, row)
        self.current = ev
        if ev is None:
            self.heading.setText("Initial state: no event" if self._nav.engine else "No event")
            for label in self.fields.values():
                label.setText("")
            self.correlation.set_link("", self._theme.colors.muted.name(), False, "")
            self.causation.set_link("", self._theme.colors.muted.name(), False, "")
            self.tree_model.set_value({})
            self.json.setPlainText("")
            self._show_versions(None, None)
            return
        dropped = row >= 0 and bool(self._nav.rows.dropped[row])
        marks = self._nav.rows.marks
        kinds = [] if marks is None or row < 0 else marks.kinds(ev.key)
        if dropped and "dropped" not in kinds:
            kinds.insert(0, "dropped")
        note = f"  ({', '.join(kinds)} in {self._nav.branch})" if kinds else ""
        self.heading.setText(f"{format_key(ev.key)}  {ev.type}{note}")
        self.fields["Event id"].setText(ev.event_id)
        version = "" if ev.version is None else f"  v{ev.version}"
        schema = "" if ev.schema_version is None else f"  schema {ev.schema_version}"
        self.fields["Stream"].setText(f"{ev.stream}{version}{schema}")
        self.fields["Recorded"].setText(format_us(ev.recorded_us) or "—")
        self.fields["Processed"].setText(format_us(ev.processed_us) or "—")
        if ev.recorded_us is not None and ev.processed_us is not None:
            lag = ev.processed_us - ev.recorded_us
            text = format_duration(lag)
            if lag < 0:
                text += "  (processed before it was recorded: clock skew?)"
            self.fields["Lag"].setText(text)
        else:
            self.fields["Lag"].setText("—")
        for button, value, what in (
            (self.correlation, ev.correlation_id, "correlation"),
            (self.causation, ev.causation_id, "causation"),
        ):
            self._set_link(button, value or "", what)
        self.tree_model.set_value({"data": ev.data, "metadata": ev.metadata})
        for r in range(self.tree_model.rowCount()):
            self.tree.expand(self.tree_model.index(r, 0))
        self.json.setPlainText(pretty_json(ev.to_json()))
        self._show_other_version(row, ev, "edited" in kinds)

    def _show_other_version(self, row: int, ev: Event, edited: bool) -> None:
        """The log's version beside the branch's (an edited event), or beside what the
        projection's upcasters make of it."""
        engine = self._nav.engine
        if edited and engine is not None:
            original = engine.original_event(self._nav.branch, row)
            self._show_versions(original, ev, "Original ⇄ edited", "This branch")
            return
        try:
            found = upcast_of(getattr(engine, "projection", None), ev)
        except Exception as exc:  # the user's upcaster: shown where its result would be
            self._show_versions(None, None)
            self.tabs.setTabEnabled(self.versions_tab, True)
            self.tabs.setTabText(self.versions_tab, "Upcast failed")
            self.original_json.setPlainText(pretty_json(_versioned(ev)))
            self.edited_json.setPlainText(f"The projection's upcaster raised:\n{describe(exc)}")
            return
        if found is None:
            self._show_versions(None, None)
            return
        upcast, steps = found
        label = f"Upcast ({steps} step{'s' if steps != 1 else ''})"
        self._show_versions(ev, upcast, "Original ⇄ upcast", label)

    def _show_versions(
        self,
        original: Event | None,
        edited: Event | None,
        tab: str = "Original ⇄ edited",
        right: str = "This branch",
    ) -> None:
        """The log's version beside the branch's (an edited event) or beside what the
        projection's upcasters make of it."""
        self.tabs.setTabEnabled(self.versions_tab, original is not None)
        self.tabs.setTabText(self.versions_tab, tab)
        self.version_titles[1].setText(right)
        if original is None or edited is None:
            self.original_json.setPlainText("")
            self.edited_json.setPlainText("")
            self.changed_lines = ([], [])
            if self.tabs.currentIndex() == self.versions_tab:
                self.tabs.setCurrentIndex(0)
            return
        left = pretty_json(_versioned(original)).splitlines()
        right = pretty_json(_versioned(edited)).splitlines()
        self.original_json.setPlainText("\n".join(left))
        self.edited_json.setPlainText("\n".join(right))
        # The lines that differ, marked on both sides (a line diff of the pretty JSON).
        matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
        color = self._theme.colors.changed
        marks_left: list[int] = []
        marks_right: list[int] = []
        for tag, a0, a1, b0, b1 in matcher.get_opcodes():
            if tag != "equal":
                marks_left.extend(range(a0, a1))
                marks_right.extend(range(b0, b1))
        for view, lines in ((self.original_json, marks_left), (self.edited_json, marks_right)):
            view.setExtraSelections([_line_mark(view, n, color) for n in lines])
        self.changed_lines = (marks_left, marks_right)
        self._center_changes()

    def _center_changes(self) -> None:
        """The first difference in view, not below the fold (again when the tab is shown:
        a hidden view cannot scroll)."""
        for view, lines in zip(
            (self.original_json, self.edited_json), self.changed_lines, strict=True
        ):
            if lines:
                view.setTextCursor(QTextCursor(view.document().findBlockByNumber(lines[0])))
                view.centerCursor()

    def _set_link(self, button: LinkButton, value: str, what: str) -> None:
        c = self._theme.colors
        if not value:
            button.set_link("", c.muted.name(), False, f"No {what} id")
            return
        # Resolved on click: scanning a million ids on every step would cost a frame.
        button.set_link(value, c.link.name(), True, f"Jump to the event with id {value}")

    @guarded("Follow link")
    def _follow(self, event_id: str) -> None:
        rows = self._nav.rows_of_event_id(event_id)
        if not rows:
            self.message.emit(f"No event with id {event_id} in this log")
            return
        self._nav.go_to(rows[0])
