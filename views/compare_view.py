"""The compare view: two sides (branch, position), their states side by side, their events
aligned, and the report.

By default side A is the current branch's parent and side B the current branch, both at
their ends. "Follow the cursor" puts both sides after the cursor's event, aligned by event
identity (in a branch that lacks that event: after the nearest event before it that it
has), so stepping compares "after the same event". The comparison runs in the engine's
worker; the trees fold values lazily, only where they are shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.compare import (
    CompareResult,
    Side,
    aligned_row,
    compare,
    counts_line,
    report_html,
    report_json,
    report_markdown,
)
from app.controller import MAIN, Navigator
from app.qt_branches import BranchController
from app.qt_compare import AlignmentModel, CompareTreeModel, RowRole
from app.qt_engine import EngineQueue
from app.qt_errors import error_reporter, guarded
from models.event import format_key, parse_key
from views.state_inspector import JsonTreeView
from views.theme import Theme

AUTO_EXPAND = 40


def parse_position(engine: Any, branch: str, text: str) -> int:
    """``end``, ``start``, ``@KEY`` (after that event) or a display row number."""
    t = text.strip().lower()
    n = int(engine.row_count(branch))
    if t in ("", "end"):
        return n - 1
    if t in ("start", "initial"):
        return -1
    key = parse_key(text.strip())
    if key is not None:
        row = engine.row_of(branch, key)
        if row is None:
            raise ValueError(f"{branch} has no event {text.strip()}")
        return int(row)
    if t.lstrip("-").isdigit():
        row = int(t)
        if not -1 <= row < n:
            raise ValueError(f"{branch} has rows -1..{n - 1}")
        return row
    raise ValueError(f"'{text}' is not a position: type end, start, @KEY or a row number")


class CompareView(QWidget):
    computed = Signal()
    """A comparison finished and is on screen."""
    message = Signal(str)

    def __init__(
        self,
        navigator: Navigator,
        queue: EngineQueue,
        controller: BranchController,
        theme: Theme,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("compareView")
        self._nav = navigator
        self._queue = queue
        self._ctl = controller
        self._theme = theme
        self.result: CompareResult | None = None
        self.active = False
        self._syncing = False
        self._defaults_for: str | None = None
        self.save_dialog: QFileDialog | None = None

        self.a_branch = QComboBox()
        self.a_branch.setObjectName("compareBranchA")
        self.a_at = QLineEdit("end")
        self.a_at.setObjectName("comparePosA")
        self.b_branch = QComboBox()
        self.b_branch.setObjectName("compareBranchB")
        self.b_at = QLineEdit("end")
        self.b_at.setObjectName("comparePosB")
        for edit in (self.a_at, self.b_at):
            edit.setFixedWidth(self.fontMetrics().horizontalAdvance("@0000000") + 16)
            edit.setToolTip("end, start, @KEY (after that event) or a row number")
        self.swap_button = QToolButton()
        self.swap_button.setText("⇄")
        self.swap_button.setToolTip("Swap the two sides")
        self.follow = QCheckBox("Follow the cursor")
        self.follow.setObjectName("compareFollow")
        self.follow.setToolTip(
            "Both sides after the cursor's event, aligned by event identity: stepping "
            "compares after the same event"
        )
        self.only = QCheckBox("Only differences")
        self.only.setObjectName("compareOnly")
        self.only.setChecked(True)
        self.compare_button = QPushButton("Compare")
        self.compare_button.setObjectName("compareButton")
        self.export_button = QPushButton("Export report…")
        self.export_button.setObjectName("compareExport")
        self.export_button.setEnabled(False)
        for combo in (self.a_branch, self.b_branch):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            combo.setMinimumContentsLength(10)
        sides = QHBoxLayout()
        sides.setContentsMargins(4, 2, 4, 0)
        sides.addWidget(QLabel("<b>A</b>"))
        sides.addWidget(self.a_branch)
        sides.addWidget(QLabel("at"))
        sides.addWidget(self.a_at)
        sides.addWidget(self.swap_button)
        sides.addWidget(QLabel("<b>B</b>"))
        sides.addWidget(self.b_branch)
        sides.addWidget(QLabel("at"))
        sides.addWidget(self.b_at)
        sides.addStretch(1)
        sides.addWidget(self.compare_button)
        options = QHBoxLayout()
        options.setContentsMargins(4, 0, 4, 0)
        options.addWidget(self.follow)
        options.addWidget(self.only)
        options.addStretch(1)
        options.addWidget(self.export_button)

        self.summary = QLabel("Pick two sides and compare.")
        self.summary.setObjectName("compareSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.jump_button = QPushButton("Jump to the first divergent event")
        self.jump_button.setObjectName("compareJump")
        self.jump_button.setEnabled(False)
        srow = QHBoxLayout()
        srow.setContentsMargins(4, 0, 4, 0)
        srow.addWidget(self.summary, 1)
        srow.addWidget(self.jump_button)

        # --- states side by side
        self.model_a = CompareTreeModel("A", self)
        self.model_b = CompareTreeModel("B", self)
        self.tree_a = JsonTreeView(self.model_a)
        self.tree_a.setObjectName("compareTreeA")
        self.tree_b = JsonTreeView(self.model_b)
        self.tree_b.setObjectName("compareTreeB")
        for tree in (self.tree_a, self.tree_b):
            tree.setColumnWidth(0, 170)
            tree.setColumnWidth(1, 120)
        self.title_a = QLabel("A")
        self.title_b = QLabel("B")
        panes = QSplitter(Qt.Orientation.Horizontal)
        for title, tree in ((self.title_a, self.tree_a), (self.title_b, self.tree_b)):
            pane = QWidget()
            pbox = QVBoxLayout(pane)
            pbox.setContentsMargins(0, 0, 0, 0)
            pbox.setSpacing(1)
            pbox.addWidget(title)
            pbox.addWidget(tree, 1)
            panes.addWidget(pane)

        # --- events aligned
        self.alignment_model = AlignmentModel(self)
        self.events_only = QCheckBox("Only differing events")
        self.events_only.setObjectName("alignmentOnly")
        self.events_only.setChecked(True)
        self.events_info = QLabel()
        self.events = QTableView()
        self.events.setObjectName("alignmentTable")
        self.events.setModel(self.alignment_model)
        self.events.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.events.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.events.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.events.verticalHeader().setVisible(False)
        self.events.setWordWrap(False)
        self.events.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.events.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.events.horizontalHeader().setStretchLastSection(True)
        self.events.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        fm = self.fontMetrics()
        samples = ["A: fix-double-charge", "B: fix-double-charge", "@0000000"]
        samples += ["PaymentCharged00", "customer-000000"]
        for col, sample in enumerate(samples):
            self.events.setColumnWidth(col, fm.horizontalAdvance(sample) + 16)
        events = QWidget()
        ebox = QVBoxLayout(events)
        ebox.setContentsMargins(0, 0, 0, 0)
        erow = QHBoxLayout()
        erow.addWidget(self.events_only)
        erow.addWidget(self.events_info, 1)
        ebox.addLayout(erow)
        ebox.addWidget(self.events, 1)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("compareTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(panes, "States side by side")
        self.tabs.addTab(events, "Event alignment")

        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addLayout(sides)
        box.addLayout(options)
        box.addLayout(srow)
        box.addWidget(self.tabs, 1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(30)
        self._timer.timeout.connect(self.request)

        self.compare_button.clicked.connect(self.request)
        self.swap_button.clicked.connect(self.swap)
        self.export_button.clicked.connect(self.ask_export)
        self.jump_button.clicked.connect(self.jump_to_divergence)
        self.only.toggled.connect(self._on_only)
        self.events_only.toggled.connect(self.alignment_model.set_only_differences)
        self.events_only.toggled.connect(lambda _c: self._events_info())
        self.follow.toggled.connect(self._on_follow)
        for edit in (self.a_at, self.b_at):
            edit.returnPressed.connect(self.request)
        for combo in (self.a_branch, self.b_branch):
            combo.activated.connect(lambda _i: self.schedule())
        self.events.doubleClicked.connect(self._on_event_activated)
        self.events.activated.connect(self._on_event_activated)
        for tree, other in ((self.tree_a, self.tree_b), (self.tree_b, self.tree_a)):
            tree.expanded.connect(lambda index, t=tree, o=other: self._sync_expand(t, o, index))
            tree.collapsed.connect(lambda index, t=tree, o=other: self._sync_collapse(t, o, index))
            tree.verticalScrollBar().valueChanged.connect(
                lambda _v, t=tree, o=other: self._sync_scroll(t, o)
            )
        navigator.sessionChanged.connect(self._on_session)
        navigator.positionChanged.connect(self._on_position)
        navigator.busyChanged.connect(self._on_busy)
        controller.branchesChanged.connect(self._fill_branches)
        theme.changed.connect(self._apply_theme)
        self._apply_theme()

    # --- look ---------------------------------------------------------------------------

    def _apply_theme(self) -> None:
        c = self._theme.colors
        changes = {"added": c.added, "changed": c.changed, "removed": c.removed}
        for model in (self.model_a, self.model_b):
            model.set_colors(changes, c.change_text)
        self.alignment_model.set_colors(changes, c.change_text)

    # --- sides ------------------------------------------------------------------------------

    def _fill_branches(self) -> None:
        s = self._nav.session
        names = [] if s is None else s.engine.branches()
        for combo in (self.a_branch, self.b_branch):
            current = combo.currentText()
            with QSignalBlocker(combo):
                combo.clear()
                combo.addItems(names)
                if current in names:
                    combo.setCurrentText(current)

    def set_sides(self, a: str, a_at: str, b: str, b_at: str, *, run: bool = True) -> None:
        self._fill_branches()
        with QSignalBlocker(self.a_branch), QSignalBlocker(self.b_branch):
            self.a_branch.setCurrentText(a)
            self.b_branch.setCurrentText(b)
        self.a_at.setText(a_at)
        self.b_at.setText(b_at)
        if run:
            self.schedule()

    def compare_with_parent(self, branch: str | None = None) -> None:
        """A: the branch's parent, B: the branch, both at their ends."""
        branch = branch or self._nav.branch
        parent = self._ctl.parent_of(branch) or MAIN
        self.follow.setChecked(False)
        self._defaults_for = branch
        self.set_sides(parent, "end", branch, "end")

    def swap(self) -> None:
        a, b = self.a_branch.currentText(), self.b_branch.currentText()
        a_at, b_at = self.a_at.text(), self.b_at.text()
        self.set_sides(b, b_at, a, a_at)

    def sides(self) -> tuple[Side, Side]:
        engine = self._nav.engine
        a, b = self.a_branch.currentText(), self.b_branch.currentText()
        if self.follow.isChecked():
            nav = self._nav
            return (
                Side(a, aligned_row(engine, nav.branch, nav.row, a)),
                Side(b, aligned_row(engine, nav.branch, nav.row, b)),
            )
        return (
            Side(a, parse_position(engine, a, self.a_at.text())),
            Side(b, parse_position(engine, b, self.b_at.text())),
        )

    # --- running ----------------------------------------------------------------------------

    def schedule(self) -> None:
        if self.active and self._nav.session is not None:
            self._timer.start()

    def _on_session(self) -> None:
        self._fill_branches()
        s = self._nav.session
        if s is None:
            self.clear()
            return
        names = s.engine.branches()
        if (
            self.a_branch.currentText() not in names
            or self.b_branch.currentText() not in names
            or (self._defaults_for is not None and self._defaults_for != self._nav.branch)
        ):
            self.compare_with_parent(self._nav.branch)
        else:
            self.schedule()

    def _on_follow(self, follow: bool) -> None:
        for edit in (self.a_at, self.b_at):
            edit.setEnabled(not follow)
        self.schedule()

    def _on_position(self, _row: int) -> None:
        if self.follow.isChecked():
            self.schedule()

    def _on_busy(self, busy: bool) -> None:
        for tree in (self.tree_a, self.tree_b):
            tree.setEnabled(not busy)

    def set_active(self, active: bool) -> None:
        """Compute only while shown (the dock's visibility)."""
        self.active = active
        if active:
            if self.a_branch.count() == 0 or self._defaults_for is None:
                self.compare_with_parent(self._nav.branch)
            else:
                self.schedule()

    def clear(self) -> None:
        self.result = None
        self.model_a.set_value({})
        self.model_b.set_value({})
        self.alignment_model.set_alignment(None, None)
        self.summary.setText("No log open." if self._nav.session is None else "")
        self.export_button.setEnabled(False)
        self.jump_button.setEnabled(False)

    @guarded("Compare")
    def request(self) -> None:
        self._timer.stop()
        engine = self._nav.engine
        if engine is None:
            return
        try:
            a, b = self.sides()
        except ValueError as exc:
            self.summary.setText(f"⚠ {exc}")
            return
        self.summary.setText(f"Comparing {a.label(engine)} with {b.label(engine)}…")
        self._queue.submit(
            "compare",
            lambda progress: compare(engine, a, b, progress),
            label="Comparing",
            done=self._show,
            failed=lambda exc: self.summary.setText(f"⚠ The comparison failed: {exc}"),
            cancelled=lambda: None,
        )

    def _show(self, result: CompareResult) -> None:
        engine = self._nav.engine
        if engine is None:
            return
        self.result = result
        a, b = result.a, result.b
        self.title_a.setText(f"<b>A</b>: {a.label(engine)}")
        self.title_b.setText(f"<b>B</b>: {b.label(engine)}")
        self.model_a.set_value(engine.state_at(a.branch, a.row), result.reversed_changes())
        self.model_b.set_value(engine.state_at(b.branch, b.row), result.changes)
        self._reveal()
        self.alignment_model.set_alignment(result.alignment, engine)
        text = counts_line(result)
        al = result.alignment
        if al.first_divergence is not None:
            key = format_key(int(al.keys[al.first_divergence]))
            text += f"  ·  first divergent event {key}"
        elif a.branch != b.branch:
            text += "  ·  the branches never diverge"
        self.summary.setText(text)
        self.jump_button.setEnabled(al.first_divergence is not None)
        self.export_button.setEnabled(True)
        self._events_info()
        self.computed.emit()

    def _events_info(self) -> None:
        r = self.result
        if r is None:
            self.events_info.setText("")
            return
        al = r.alignment
        counts = ", ".join(f"{v} {k}" for k, v in al.counts().items() if v) or "none differ"
        self.events_info.setText(
            f"{len(al):,} events aligned by identity; {al.differing().shape[0]:,} differ ({counts})"
        )

    def _on_only(self, only: bool) -> None:
        for model in (self.model_a, self.model_b):
            model.set_only_differences(only)
        self._reveal()

    def _reveal(self) -> None:
        """Open the differing paths on both sides (the first few dozen)."""
        if self.result is None:
            return
        self._syncing = True
        try:
            for change in self.result.changes[:AUTO_EXPAND]:
                for tree, model in ((self.tree_a, self.model_a), (self.tree_b, self.model_b)):
                    index = model.index_of_path(change.path)
                    if index.isValid():
                        tree.reveal(index)
        finally:
            self._syncing = False
        self.tree_a.scrollToTop()
        self.tree_b.scrollToTop()

    # --- synchronised trees ---------------------------------------------------------------

    def _sync_expand(self, tree: JsonTreeView, other: JsonTreeView, index: Any) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            npath = tree.tree_model.npath_at(index)
            target = other.tree_model.index_of_npath(npath)
            if target.isValid():
                other.expand(target)
        finally:
            self._syncing = False

    def _sync_collapse(self, tree: JsonTreeView, other: JsonTreeView, index: Any) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            target = other.tree_model.index_of_npath(tree.tree_model.npath_at(index))
            if target.isValid():
                other.collapse(target)
        finally:
            self._syncing = False

    def _sync_scroll(self, tree: JsonTreeView, other: JsonTreeView) -> None:
        if self._syncing:
            return
        top = tree.indexAt(tree.viewport().rect().topLeft())
        if not top.isValid():
            return
        self._syncing = True
        try:
            target = other.tree_model.index_of_path(tree.tree_model.path_at(top))
            if target.isValid():
                other.scrollTo(target, QAbstractItemView.ScrollHint.PositionAtTop)
        finally:
            self._syncing = False

    # --- events -----------------------------------------------------------------------------

    @guarded("Jump")
    def jump_to_divergence(self) -> None:
        r = self.result
        if r is None or r.alignment.first_divergence is None:
            return
        i = r.alignment.first_divergence
        row = self.alignment_model.row_of_entry(i)
        if row is not None:
            self.events.selectRow(row)
            self.events.scrollTo(self.alignment_model.index(row, 0))
        self._jump(int(r.alignment.keys[i]))

    @guarded("Jump")
    def _on_event_activated(self, index: QModelIndex | QPersistentModelIndex) -> None:
        r = self.result
        i = index.data(RowRole)
        if r is None or i is None:
            return
        self._jump(int(r.alignment.keys[int(i)]))

    def _jump(self, key: int) -> None:
        nav = self._nav
        row = nav.row_of_key(key)
        if row is None:
            error_reporter().report(
                ValueError(f"{nav.branch} has no event {format_key(key)}; switch branch"), "Jump"
            )
            return
        nav.go_to(row)

    # --- report -----------------------------------------------------------------------------

    def ask_export(self) -> None:
        if self.result is None:
            return
        dialog = QFileDialog(self, "Export the comparison")
        dialog.setObjectName("compareExportDialog")
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilters(["Markdown (*.md)", "HTML (*.html)", "JSON (*.json)"])
        dialog.selectFile("comparison.md")
        dialog.fileSelected.connect(lambda path: self.export(Path(path)))
        self.save_dialog = dialog
        dialog.open()

    @guarded("Export the comparison")
    def export(self, path: Path) -> None:
        """Markdown, HTML or JSON by the file's extension (.md when it has none)."""
        r, engine = self.result, self._nav.engine
        if r is None or engine is None:
            return
        suffix = path.suffix.lower()
        if suffix in (".html", ".htm"):
            text = report_html(engine, r)
        elif suffix == ".json":
            text = orjson.dumps(
                report_json(engine, r), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
            ).decode()
        else:
            if not suffix:
                path = path.with_suffix(".md")
            text = report_markdown(engine, r)
        path.write_text(text, encoding="utf-8")
        self.message.emit(f"Comparison written to {path}")
