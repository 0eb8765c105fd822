"""File > Open projection…, Reload (Ctrl+R) and the inspector's projection switch.

Loading runs the user's module, so it happens only when the user asks: the menu, or — for a
projection the workspace remembers — after a yes to "run it?" the first time on this machine
for this exact file content (app.projections keeps the trust record). Changing the engine
goes through the engine queue (never while a worker reads it); the navigator then reloads,
keeping the branch and the current event.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QComboBox, QFileDialog, QMessageBox

from app.projections import ProjectionLoadError, is_trusted, trust
from app.qt_errors import guarded

if TYPE_CHECKING:
    from views.main_window import MainWindow


class ProjectionActions(QObject):
    changed = Signal()
    """The loaded projections or the active one changed."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self.open_action = QAction("Open &Projection…", window)
        self.open_action.setShortcut(QKeySequence("Ctrl+Shift+O"))
        self.open_action.setToolTip(
            "Replay the log through your own projection code (a Python file) (Ctrl+Shift+O)"
        )
        self.open_action.triggered.connect(self.choose_file)
        self.reload_action = QAction("&Reload Projection", window)
        self.reload_action.setShortcut(QKeySequence("Ctrl+R"))
        self.reload_action.setToolTip(
            "Run the projection files again after editing them; cursor and branches stay (Ctrl+R)"
        )
        self.reload_action.triggered.connect(self.reload)
        for action in (self.open_action, self.reload_action):
            window.addAction(action)
        self.combo = QComboBox()
        self.combo.setObjectName("projectionCombo")
        self.combo.setToolTip("The projection whose state the inspector shows")
        self.combo.activated.connect(self._on_chosen)
        self.ask: Callable[[Path], bool] = self._ask
        """Whether to run a projection the workspace names (tests replace the dialog)."""
        window.sessionOpened.connect(self._on_session)
        self._fill()

    def install(self) -> None:
        """After File > Open Recent (and the demo entry), before the separator above Quit."""
        menu = self.w.file_menu
        separator = next((a for a in menu.actions() if a.isSeparator()), None)
        menu.insertAction(separator, self.open_action)
        menu.insertAction(separator, self.reload_action)
        self.w.inspector.add_header(self.combo)

    # --- loading ----------------------------------------------------------------------------

    def choose_file(self) -> None:
        if self.w.session is None:
            self.w.show_error("Open a log first: a projection replays the open log.")
            return
        name, _ = QFileDialog.getOpenFileName(
            self.w, "Open projection", str(Path.cwd()), "Python files (*.py)"
        )
        if name:
            self.load(Path(name))

    def load(self, *paths: Path, remember: bool = True) -> None:
        """Load the projections of ``paths`` and show the first one loaded (queued behind
        engine jobs); a file that fails is reported, the others still load."""
        session = self.w.session
        if session is None:
            return

        def act() -> None:
            if self.w.session is not session:
                return
            names: list[str] = []
            for path in paths:
                try:
                    names += session.add_projection_file(path, remember=remember)
                except ProjectionLoadError as error:
                    self.w.show_error(str(error))
            if not names:
                return
            session.use_projection(names[0])
            self.w.navigator.reload()
            self._fill()
            self.w.statusBar().showMessage(
                f"Loaded {', '.join(names)} (Ctrl+R reloads after an edit)", 8000
            )

        self.w.engine_queue.after(act, "Loading the projection")

    def reload(self) -> None:
        session = self.w.session
        if session is None or not session.projection_files:
            self.w.statusBar().showMessage(
                "No projection file loaded (File ▸ Open projection…)", 5000
            )
            return

        def act() -> None:
            if self.w.session is not session:
                return
            try:
                names = session.reload_projections()
            except ProjectionLoadError as error:
                self.w.show_error(f"{error}\nThe previous code stays in use.")
                return
            self.w.navigator.reload()
            self._fill()
            self.w.statusBar().showMessage(f"Reloaded {', '.join(names)}", 5000)

        self.w.engine_queue.after(act, "Reloading the projection")

    def switch(self, name: str) -> None:
        session = self.w.session
        if session is None or name == session.projection_name:
            return

        def act() -> None:
            if self.w.session is session:
                session.use_projection(name)
                self.w.navigator.reload()
                self._fill()

        self.w.engine_queue.after(act, "Switching projection")

    @guarded("Projection")
    def _on_chosen(self, index: int) -> None:
        name = self.combo.itemData(index)
        if isinstance(name, str):
            self.switch(name)

    def _on_session(self, session: Any) -> None:
        self._fill()
        if session is None:
            return
        allowed: list[Path] = []
        for path in session.remembered_projections():
            if not path.is_file():
                self.w.message_bar.show_message(
                    f"This log was debugged with the projection {path}, which no longer exists.",
                    "info",
                )
            elif is_trusted(path):
                allowed.append(path)
            elif self.ask(path):
                trust(path)
                allowed.append(path)
        if allowed:
            self.load(*allowed, remember=False)

    def _ask(self, path: Path) -> bool:
        answer = QMessageBox.question(
            self.w,
            "Run this projection?",
            f"The workspace of this log names the projection\n{path}\n\nLoading it runs its "
            "Python code on this computer. Run it? (You will be asked again if the file "
            "changes.)",
        )
        return answer == QMessageBox.StandardButton.Yes

    def _fill(self) -> None:
        session = self.w.session
        self.combo.clear()
        self.reload_action.setEnabled(bool(session is not None and session.projection_files))
        self.open_action.setEnabled(session is not None)
        if session is None:
            self.combo.setEnabled(False)
            return
        for name, projection in session.projections().items():
            self.combo.addItem(name, name)
            tip = getattr(projection, "description", "")
            self.combo.setItemData(self.combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.combo.setCurrentIndex(self.combo.findData(session.projection_name))
        self.combo.setEnabled(self.combo.count() > 1)
        self.changed.emit()
