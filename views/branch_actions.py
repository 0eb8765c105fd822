"""The window's branch commands: menus, shortcuts, context menus, dialogs and exports.

Kept out of ``main_window`` so that the window stays a place where things are wired, not
where they are done. Every command goes through :class:`BranchController` (engine
validation, workspace, undo history); the dialogs only collect what the user wants.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QPoint, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
)

from app.compensate import (
    CORRECTION_TYPE,
    Compensation,
    compensating_events,
    export_with_report,
    report_path,
    write_records,
)
from app.controller import MAIN
from app.errors import UsageError
from app.qt_errors import error_reporter, guarded
from app.qt_models import pretty_json
from models.event import format_key
from models.log import NA
from views.branch_panel import ForkDialog
from views.json_editor import EditEventDialog, InsertEventDialog, mono_font

if TYPE_CHECKING:
    from views.main_window import MainWindow


class CompensationDialog(QDialog):
    """Compensating events of a branch against a base (main by default): computed in the
    engine's worker, previewed as JSON, saved as JSON Lines."""

    def __init__(self, window: MainWindow, branch: str) -> None:
        super().__init__(window)
        self.setObjectName("compensationDialog")
        self.setWindowTitle(f"Compensating events for {branch}")
        self._window = window
        self.branch = branch
        self.compensation: Compensation | None = None
        self.save_dialog: QFileDialog | None = None
        engine = window.navigator.engine
        self.base = QComboBox()
        self.base.setObjectName("compensationBase")
        names = [b for b in engine.branches() if b != branch] if engine is not None else []
        self.base.addItems(names)
        self.base.setCurrentText(MAIN)
        self.type_edit = QLineEdit(CORRECTION_TYPE)
        self.type_edit.setObjectName("compensationType")
        self.summary = QLabel("Computing…")
        self.summary.setObjectName("compensationSummary")
        self.summary.setWordWrap(True)
        self.preview = QPlainTextEdit()
        self.preview.setObjectName("compensationPreview")
        self.preview.setReadOnly(True)
        self.preview.setFont(mono_font())
        self.preview.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.recompute = QPushButton("Recompute")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.save_button = self.buttons.addButton(
            "Save as JSON Lines…", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.save_button.setObjectName("compensationSave")
        self.save_button.setEnabled(False)
        self.buttons.rejected.connect(self.reject)
        self.save_button.clicked.connect(self.ask_save)
        self.recompute.clicked.connect(self.compute)
        self.base.activated.connect(lambda _i: self.compute())
        self.type_edit.returnPressed.connect(self.compute)
        form = QFormLayout()
        form.addRow("Bring this branch's end state:", QLabel(branch))
        form.addRow("to the log of:", self.base)
        form.addRow("Correction event type:", self.type_edit)
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addWidget(
            QLabel(
                "Append these events to the base's log: replaying it then gives this branch's "
                "state. History is not rewritten; each event carries the JSON merge patch "
                "(RFC 7396) of one stream's data."
            )
        )
        box.addWidget(self.summary)
        box.addWidget(self.preview, 1)
        box.addWidget(self.recompute, 0, Qt.AlignmentFlag.AlignLeft)
        box.addWidget(self.buttons)
        self.resize(760, 560)

    def compute(self) -> None:
        engine = self._window.navigator.engine
        if engine is None:
            return
        base, kind, branch = self.base.currentText(), self.type_edit.text(), self.branch
        self.summary.setText("Computing…")
        self.save_button.setEnabled(False)
        self._window.engine_queue.submit(
            "compensate",
            lambda progress: compensating_events(
                engine, branch, base=base, event_type=kind, progress=progress
            ),
            label="Compensating events",
            done=self._show,
            failed=lambda exc: self.summary.setText(f"⚠ {exc}"),
        )

    def _show(self, result: Compensation) -> None:
        self.compensation = result
        lines = [result.summary() + "."]
        if result.bookkeeping:
            names = ", ".join(result.bookkeeping)
            lines.append(f"Only the version / last type differ (nothing to send): {names}")
        lines += [f"Cannot be expressed: {u}" for u in result.unresolved]
        self.summary.setText("\n".join(lines))
        self.preview.setPlainText("\n".join(pretty_json(r) for r in result.records))
        self.save_button.setEnabled(bool(result.records))

    def ask_save(self) -> None:
        dialog = QFileDialog(self, "Save the compensating events")
        dialog.setObjectName("compensationSaveDialog")
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilters(["JSON Lines (*.jsonl)", "All files (*)"])
        dialog.selectFile(f"{self.branch}-compensation.jsonl")
        dialog.fileSelected.connect(lambda path: self.save(Path(path)))
        self.save_dialog = dialog
        dialog.open()

    @guarded("Save the compensating events")
    def save(self, path: Path) -> None:
        if self.compensation is None:
            return
        count = write_records(self.compensation.records, path)
        text = f"Wrote {count} compensating event{'s' if count != 1 else ''} to {path}"
        self.summary.setText(self.summary.text() + "\n" + text)
        self._window.statusBar().showMessage(text, 10000)


class BranchActions(QObject):
    """Owns the branch QActions of a :class:`MainWindow` and the dialogs they open."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self.ctl = window.branch_ctl
        self.fork_dialog: ForkDialog | None = None
        self.edit_dialog: EditEventDialog | None = None
        self.insert_dialog: InsertEventDialog | None = None
        self.export_dialog: QFileDialog | None = None
        self.compensation_dialog: CompensationDialog | None = None
        self.menu_extenders: list[Callable[[QMenu, int], None]] = []
        """More entries for an event's menu (the debugger adds its breakpoint commands)."""
        a = self._action
        self.fork = a(
            "&Fork here…", self.fork_here, "Ctrl+B", "fork", "Fork a branch at the selected event"
        )
        self.drop = a(
            "&Drop",
            self.toggle_drop,
            QKeySequence.StandardKey.Delete,
            "",
            "Drop the selected event in this branch, or restore it (Del)",
        )
        self.edit = a(
            "&Edit event…",
            self.edit_event,
            "Ctrl+E",
            "",
            "Edit the selected event's type, stream, data or metadata (Ctrl+E)",
        )
        self.insert_after = a(
            "Insert &after…",
            lambda: self.insert_event(False),
            "Ctrl+I",
            "",
            "Insert a new event after the selected one (Ctrl+I)",
        )
        self.insert_before = a(
            "Insert &before…",
            lambda: self.insert_event(True),
            "Ctrl+Shift+I",
            "",
            "Insert a new event before the selected one",
        )
        self.move_up = a(
            "Move &up",
            self.move_row_up,
            "Alt+Up",
            "",
            "Move the selected event one place earlier (Alt+Up)",
        )
        self.move_down = a(
            "Move do&wn",
            self.move_row_down,
            "Alt+Down",
            "",
            "Move the selected event one place later (Alt+Down)",
        )
        self.revert = a(
            "&Revert to here",
            self.revert_to_here,
            None,
            "",
            "Drop every later event of this branch (one undo step)",
        )
        self.undo = a(
            "&Undo",
            self.ctl.undo,
            QKeySequence.StandardKey.Undo,
            "undo",
            "Undo the latest edit of this branch (Ctrl+Z)",
        )
        self.redo = a(
            "&Redo",
            self.ctl.redo,
            "Ctrl+Shift+Z",
            "redo",
            "Redo the edit undone last (Ctrl+Shift+Z)",
        )
        self.compare = a(
            "&Compare with parent",
            self.compare_with_parent,
            "Ctrl+D",
            "compare",
            "Compare this branch with the one it forks from (Ctrl+D)",
        )
        self.chart = a(
            "&Metric chart",
            self.show_chart,
            "Ctrl+M",
            "chart",
            "Chart a value over the event sequence, per branch (Ctrl+M)",
        )
        self.export_branch = a(
            "E&xport branch as a log…",
            self.ask_export,
            "",
            "export",
            "Write this branch's effective log and a report of its edits",
        )
        self.export_compensation = a(
            "Export &compensating events…",
            self.show_compensation,
            "",
            "",
            "Events that bring the log to this branch's state",
        )
        self.edit_actions = [
            self.drop, self.edit, self.insert_after, self.insert_before,
            self.move_up, self.move_down, self.revert,
        ]  # fmt: skip
        for action in self.edit_actions:
            # Only while the table has the focus: Delete or Alt+Up mean other things elsewhere.
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            window.removeAction(action)
            window.table.addAction(action)
        window.table.menuRequested.connect(self.table_menu)
        window.table.moveRequested.connect(lambda src, after: self.ctl.move(src, after))
        window.timeline.menuRequested.connect(self.timeline_menu)
        window.branch_panel.forkRequested.connect(self.fork_here)
        window.branch_panel.compareRequested.connect(self.compare_branch)
        window.branch_panel.set_undo_actions(self.undo, self.redo)
        window.inspector.plotRequested.connect(self.plot_path)
        self.ctl.branchesChanged.connect(self.update)
        self.ctl.edited.connect(lambda _b: self.update())
        window.navigator.sessionChanged.connect(self.update)
        window.navigator.positionChanged.connect(lambda _r: self.update())
        window.navigator.busyChanged.connect(lambda _b: self.update())
        window.table.selectionModel().currentChanged.connect(lambda *_: self.update())

    def _action(
        self,
        text: str,
        slot: Callable[[], Any],
        shortcut: str | QKeySequence.StandardKey | None,
        icon: str,
        tip: str,
    ) -> QAction:
        action = QAction(text, self.w)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        if icon:
            action.setIcon(self.w.theme.icon(icon))
            action.setData(icon)
        action.setToolTip(tip)
        action.setStatusTip(tip)
        where = text.replace("&", "").rstrip("…")
        action.triggered.connect(guarded(where)(lambda _c=False: slot()))
        self.w.addAction(action)
        return action

    # --- menus --------------------------------------------------------------------------

    def install_menus(self) -> None:
        w = self.w
        bar = w.menuBar()
        edit = QMenu("&Edit", w)
        edit.addAction(self.undo)
        edit.addAction(self.redo)
        edit.addSeparator()
        for action in self.edit_actions:
            edit.addAction(action)
        branch = QMenu("&Branch", w)
        branch.addAction(self.fork)
        branch.addAction(w.branch_panel.rename_action)
        branch.addAction(w.branch_panel.note_action)
        branch.addAction(w.branch_panel.archive_action)
        branch.addSeparator()
        branch.addAction(self.compare)
        branch.addAction(self.chart)
        branch.addSeparator()
        branch.addAction(self.export_branch)
        branch.addAction(self.export_compensation)
        menus = bar.actions()
        go = next((m for m in menus if m.text() == "&Go"), None)
        bar.insertMenu(go, edit) if go is not None else bar.addMenu(edit)
        bar.insertMenu(go, branch) if go is not None else bar.addMenu(branch)
        self.edit_menu, self.branch_menu = edit, branch

    def install_toolbar(self) -> None:
        tb = self.w.toolbar
        tb.addSeparator()
        for action in (self.fork, self.undo, self.redo, self.compare, self.chart):
            tb.addAction(action)

    def update(self) -> None:
        w = self.w
        nav = w.navigator
        # Not disabled while the worker runs: commands queue behind it (Ctrl+Z pressed twice
        # undoes twice).
        has = w.session is not None
        editable = has and nav.branch != MAIN and nav.count > 0
        row = w.table.target_row() if has else -1
        on_event = editable and 0 <= row < nav.count
        for action in self.edit_actions:
            action.setEnabled(on_event)
        self.insert_after.setEnabled(editable)
        self.fork.setEnabled(has)
        info = nav.session.engine.branch(nav.branch) if nav.session is not None else None
        self.undo.setEnabled(has and info is not None and nav.branch != MAIN and info.can_undo)
        self.redo.setEnabled(has and info is not None and nav.branch != MAIN and info.can_redo)
        self.compare.setEnabled(has)
        self.chart.setEnabled(has)
        self.export_branch.setEnabled(has)
        self.export_compensation.setEnabled(has and nav.branch != MAIN)
        dropped = 0 <= row < nav.count and bool(nav.rows.dropped[row])
        self.drop.setText("&Restore" if dropped else "&Drop")
        tip = "main is the log itself: fork a branch to change events (Ctrl+B)"
        for action in self.edit_actions:
            action.setStatusTip(tip if nav.branch == MAIN else action.toolTip())

    def table_menu(self, row: int, pos: QPoint) -> None:
        self.update()
        menu = self._event_menu(row)
        self.last_menu = menu
        menu.popup(pos)

    def timeline_menu(self, row: int, pos: QPoint) -> None:
        if row >= 0:
            self.w.table.select_display_row(row)
        self.update()
        menu = self._event_menu(row)
        self.last_menu = menu
        menu.popup(pos)

    def _event_menu(self, row: int) -> QMenu:
        menu = QMenu(self.w)
        menu.setObjectName("eventMenu")
        nav = self.w.navigator
        if row >= 0:
            menu.addSection(f"{format_key(nav.key_at(row))} in {nav.branch}")
        menu.addAction(self.fork)
        menu.addSeparator()
        for action in self.edit_actions:
            menu.addAction(action)
        if nav.branch == MAIN:
            note = menu.addAction("main is never edited: fork a branch first")
            note.setEnabled(False)
        menu.addSeparator()
        menu.addAction(self.undo)
        menu.addAction(self.redo)
        menu.addSeparator()
        menu.addAction(self.compare)
        for extend in self.menu_extenders:
            extend(menu, row)
        return menu

    # --- commands -----------------------------------------------------------------------

    def _row(self) -> int:
        return self.w.table.target_row()

    def fork_here(self) -> None:
        w = self.w
        nav = w.navigator
        s = nav.session
        if s is None:
            return
        row = self._row()
        event = s.engine.event_at(nav.branch, row) if 0 <= row < nav.count else None
        prev = s.engine.event_at(nav.branch, row - 1) if event and row > 0 else None
        parent = nav.branch

        def submit(name: str, at: int | None, note: str) -> str | None:
            if not name:
                return "A branch needs a name."
            if name in s.engine.branches():
                return f"A branch named {name} already exists; choose another name."
            self.ctl.fork(name, parent, at, note)
            return None

        dialog = ForkDialog(parent, event, prev, self.ctl.suggest_name("fix"), submit, w)
        self.fork_dialog = dialog
        dialog.open()

    def toggle_drop(self) -> None:
        if self._check_editable():
            self.ctl.toggle_drop(self._row())

    def _check_editable(self) -> bool:
        nav = self.w.navigator
        if self.w.session is None:
            return False
        if nav.branch == MAIN:
            error_reporter().report(
                UsageError(
                    "main is the log itself and is never edited; fork a branch first (Ctrl+B)"
                ),
                "Edit",
            )
            return False
        return 0 <= self._row() < nav.count

    def edit_event(self) -> None:
        if not self._check_editable():
            return
        nav = self.w.navigator
        engine = nav.session.engine  # type: ignore[union-attr]
        row = self._row()
        current = engine.event_at(nav.branch, row)
        original = engine.original_event(nav.branch, row)

        def submit(changes: dict[str, Any]) -> str | None:
            problem = self._validate_edit(row, changes)
            if problem is None:
                self.ctl.edit(row, changes)
            return problem

        dialog = EditEventDialog(original, current, submit, self.w)
        self.edit_dialog = dialog
        dialog.open()

    def _validate_edit(self, row: int, changes: dict[str, Any]) -> str | None:
        """Refusals the dialog can show before it closes (the engine checks the rest)."""
        nav = self.w.navigator
        fork_point = nav.fork_row()
        if fork_point is not None and row <= fork_point:
            return (
                f"{format_key(nav.key_at(row))} is at or before the fork point of "
                f"{nav.branch}: only later events can be changed. Fork before it instead."
            )
        if not changes:
            return "Nothing changed."
        return None

    def insert_event(self, before: bool) -> None:
        w = self.w
        nav = w.navigator
        if w.session is None or nav.branch == MAIN:
            self._check_editable()
            return
        row = self._row()
        if not 0 <= row < nav.count:
            row = nav.count - 1
        engine = nav.session.engine  # type: ignore[union-attr]
        anchor = engine.event_at(nav.branch, row)

        def time_of(r: int) -> int | None:
            if not 0 <= r < nav.count:
                return None
            us = int(nav.rows.recorded_us[r])
            if us == NA:
                us = engine.event_at(nav.branch, r).recorded_us or NA
            return None if us == NA else us

        neighbours = (time_of(row - 1), time_of(row), time_of(row + 1))
        cols = w.session.log.columns

        def submit(value: dict[str, Any]) -> str | None:
            if value["before"]:
                fork_point = nav.fork_row()
                if fork_point is not None and row - 1 < fork_point:
                    return (
                        f"{nav.branch} forks after {format_key(nav.key_at(fork_point))}: "
                        "new events go after the fork point"
                    )
            self.ctl.insert(row, bool(value["before"]), value["event"])
            return None

        dialog = InsertEventDialog(
            anchor,
            neighbours,
            submit,
            streams=list(cols.stream_names),
            types=list(cols.type_names),
            before=before,
            parent=w,
        )
        self.insert_dialog = dialog
        dialog.open()

    def move_row_up(self) -> None:
        if self._check_editable():
            self.ctl.move_up(self._row())

    def move_row_down(self) -> None:
        if self._check_editable():
            self.ctl.move_down(self._row())

    def revert_to_here(self) -> None:
        if self._check_editable():
            self.ctl.revert_to(self._row())

    def compare_with_parent(self) -> None:
        self.compare_branch(self.w.navigator.branch)

    def compare_branch(self, branch: str) -> None:
        w = self.w
        w.compare_dock.show()
        w.compare_dock.raise_()
        w.compare.compare_with_parent(branch)

    def show_chart(self) -> None:
        w = self.w
        w.chart_dock.show()
        w.chart_dock.raise_()
        if not w.chart.metric_edit.text().strip():
            ev = w.navigator.current_event()
            if ev is not None:
                w.chart.metric_edit.setText(ev.stream)
        w.chart.schedule()

    def plot_path(self, path: str) -> None:
        w = self.w
        w.chart_dock.show()
        w.chart_dock.raise_()
        w.chart.set_metric(path)

    # --- exports ------------------------------------------------------------------------

    def ask_export(self) -> None:
        w = self.w
        if w.session is None:
            return
        dialog = QFileDialog(w, f"Export branch {w.navigator.branch} as a log")
        dialog.setObjectName("exportBranchDialog")
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilters(["JSON Lines (*.jsonl)", "CloudEvents (*.cloudevents.jsonl)"])
        dialog.selectFile(f"{w.navigator.branch}.jsonl")

        def chosen(path: str) -> None:
            cloud = "CloudEvents" in dialog.selectedNameFilter()
            self.export(Path(path), "cloudevents" if cloud else "jsonl")

        dialog.fileSelected.connect(chosen)
        self.export_dialog = dialog
        dialog.open()

    def export(self, path: Path, fmt: str = "jsonl") -> None:
        """Write the branch's effective log and its report in the engine's worker."""
        w = self.w
        s = w.session
        if s is None:
            return
        branch = w.navigator.branch

        def done(report: Any) -> None:
            text = f"Exported {branch}: {report.counts_line()}; report in {report_path(path).name}"
            w.statusBar().showMessage(text, 12000)
            w.message_bar.show_message(text, "info")

        w.engine_queue.submit(
            "export",
            lambda _progress: export_with_report(s, branch, path, fmt),
            label=f"Exporting {branch}",
            done=done,
        )

    def show_compensation(self) -> None:
        w = self.w
        if w.session is None or w.navigator.branch == MAIN:
            return
        dialog = CompensationDialog(w, w.navigator.branch)
        self.compensation_dialog = dialog
        dialog.open()
        dialog.compute()
