"""A second state inspector beside the first: the same event through another projection
(the CQRS read side: the shop's per-stream state next to its revenue totals, say).

It follows the navigator (same branch, same event) and shows the state of the projection
chosen in its own switch. An engine for that projection is built (with the branches of the
active one) and first brought to the cursor on the engine worker; afterwards it answers on
the GUI thread like the main inspector, and only when no job uses the log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox

from app.qt_errors import guarded
from views.state_inspector import StateInspector

if TYPE_CHECKING:
    from views.main_window import MainWindow


class SideInspector(StateInspector):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window.navigator, window.theme)
        self.setObjectName("sideInspector")
        self.tree.setObjectName("sideStateTree")
        self.w = window
        self.combo = QComboBox()
        self.combo.setObjectName("sideProjectionCombo")
        self.combo.setToolTip("The projection this second inspector shows")
        self.combo.activated.connect(lambda _i: self.refresh())
        self.add_header(self.combo)
        self.tree.extra_actions.remove(self.plot_action)  # the chart plots the active one
        self._warm: tuple[Any, str, int] | None = None
        """(engine, branch, row) the worker last brought a non-keyed engine to."""
        self.title.setText("Load a second projection to compare their states here")

    def fill(self) -> None:
        """The loaded projections; keeps the choice, else the first one that is not active."""
        session = self.w.session
        chosen = self.combo.currentData()
        self.combo.clear()
        if session is None:
            return
        names = list(session.projections())
        for name in names:
            self.combo.addItem(name, name)
        if chosen not in names:
            others = [n for n in names if n != session.projection_name]
            chosen = others[0] if others else session.projection_name
        self.combo.setCurrentIndex(self.combo.findData(chosen))
        self.refresh()

    def chosen(self) -> str | None:
        name = self.combo.currentData()
        return name if isinstance(name, str) else None

    def engine(self) -> Any:
        session, name = self.w.session, self.chosen()
        if session is None or name is None:
            return None
        return session.built_engine(name)

    @guarded("Second inspector")
    def refresh(self, row: int | None = None) -> None:
        if not self.isVisible():
            return  # hidden: no fold for it (showEvent refreshes)
        nav = self.w.navigator
        row = nav.row if row is None else row
        session, name = self.w.session, self.chosen()
        if session is None or name is None or nav.busy:
            super().refresh(row)
            return
        engine = session.built_engine(name)
        if engine is None or (
            not engine.is_keyed and self._warm != (engine, nav.branch, row) and row >= 0
        ):
            self._prepare(session, name, nav.branch, row)
            return
        super().refresh(row)

    def _prepare(self, session: Any, name: str, branch: str, row: int) -> None:
        """Build the engine and fold to ``row`` on the worker, then show it."""
        self.title.setText(f"Replaying through {name}…")

        def work(_progress: Any) -> Any:
            engine = session.engine_for(name)
            if not engine.is_keyed and row >= 0:
                engine.state_at(branch, row)
            return engine

        def done(engine: Any) -> None:
            self._warm = (engine, branch, row)
            self.refresh()

        self.w.engine_queue.submit(
            "side-state",
            work,
            label=f"Replaying through {name}",
            done=done,
            failed=lambda exc: self._show_failure(exc, f"event row {row}"),
        )

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.fill()


def install(window: MainWindow) -> SideInspector:
    """The dock (hidden until asked for: View ▸ State, side by side) and its menu entry."""
    side = SideInspector(window)
    dock = window._dock(
        "State — second projection", "sideStateDock", side, Qt.DockWidgetArea.RightDockWidgetArea
    )
    window.splitDockWidget(window.state_dock, dock, Qt.Orientation.Horizontal)
    dock.hide()
    window.side_dock = dock
    action = dock.toggleViewAction()
    action.setText("State, &side by side")
    action.setShortcut("Ctrl+Shift+2")
    action.setToolTip("A second state inspector showing another projection (Ctrl+Shift+2)")
    window.view_menu.insertAction(window.view_menu.actions()[3], action)
    window.navigator.sessionChanged.connect(side.fill)

    def shown(visible: bool) -> None:
        if visible and not dock.isFloating():  # share the width with the main inspector
            width = window.state_dock.width() + dock.width()
            window.resizeDocks(
                [window.state_dock, dock], [width // 2, width // 2], Qt.Orientation.Horizontal
            )

    dock.visibilityChanged.connect(shown)
    return side
