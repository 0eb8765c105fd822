"""The debugger window: event table in the middle, docks around it, transport on top.

The window wires things together and owns nothing clever: the Navigator holds the position,
the Player the timer, each view its own model, the JobSlot the import thread.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import gui as app_gui
from app.controller import MAIN, Navigator, Player
from app.qt_branches import BranchController
from app.qt_engine import EngineQueue
from app.qt_errors import error_reporter, guarded
from app.qt_models import format_time
from app.session import Session
from app.workers import Job, JobSlot
from models.event import format_key
from models.problems import InputError, Problem
from views import chain_view, lag_view, problems_dock, side_inspector
from views.bookmarks import BookmarkActions
from views.branch_actions import BranchActions
from views.branch_panel import BranchPanel
from views.compare_view import CompareView
from views.debug_panels import DebugActions
from views.event_detail import EventDetail
from views.event_table import EventTableView
from views.filter_bar import FilterActions, FilterBar
from views.metric_chart import MetricChart
from views.panels import GoToDialog, ImportReport, MessageBar
from views.projection_actions import ProjectionActions
from views.state_inspector import StateInspector
from views.theme import Theme, app_icon
from views.timeline import TimelineWidget


def _close_session(session: Session | None) -> None:
    """Release what a session holds (its workspace connection), whatever it offers."""
    if session is None:
        return
    for target in (session, getattr(session, "workspace", None)):
        close = getattr(target, "close", None)
        if callable(close):
            close()
            return


class MainWindow(QMainWindow):
    sessionOpened = Signal(object)
    importFinished = Signal(str)
    """'opened', 'failed' or 'cancelled', after the window has shown the outcome."""

    def __init__(
        self,
        *,
        opener: app_gui.Opener,
        settings: QSettings,
        theme: Theme | None = None,
        demo_log: Path | None = None,
    ) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("Rewind")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks
            | QMainWindow.DockOption.AllowNestedDocks
            | QMainWindow.DockOption.AllowTabbedDocks
        )
        self._opener = opener
        self.settings = settings
        self.theme = theme or Theme(str(settings.value("theme/mode", "system")), self)
        self.demo_log = demo_log if demo_log is not None and demo_log.exists() else None
        self.navigator = Navigator(self)
        self.player = Player(self.navigator, self)
        self.player.on_error = lambda exc: error_reporter().report(exc, "Playback")
        self.jobs = JobSlot(self)
        self.engine_queue = EngineQueue(self.navigator, self)
        self.branch_ctl = BranchController(self.navigator, self.engine_queue, self)
        self.session: Session | None = None
        self._importing: Path | None = None

        self._build_central()
        self._build_docks()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self.branch_actions = BranchActions(self)
        self.branch_actions.install_menus()
        self.branch_actions.install_toolbar()
        self.projection_actions = ProjectionActions(self)
        self.projection_actions.install()
        self.debug_actions = DebugActions(self)
        self.debug_actions.install()
        self.side_inspector = side_inspector.install(self)
        self.chain_panel = chain_view.install(self)
        self.problems = problems_dock.install(self)
        self.filter_bar = FilterBar(self)
        self.central_box.insertWidget(1, self.filter_bar)
        self.filter_actions = FilterActions(self, self.filter_bar)
        self.bookmark_actions = BookmarkActions(self)
        self.bookmark_actions.install()
        self.lag_panel = lag_view.install(self)
        self.projection_actions.changed.connect(self.side_inspector.fill)
        self._build_status()
        self._connect()
        self.theme.apply()
        self._restore_settings()
        self._update_actions()

    # --- building -------------------------------------------------------------------------

    def _build_central(self) -> None:
        self.message_bar = MessageBar(self.theme)
        self.table = EventTableView(self.navigator, self.theme)
        self.welcome = QWidget()
        self.welcome.setObjectName("welcome")
        title = QLabel("Rewind")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 2.2)
        font.setBold(True)
        title.setFont(font)
        text = QLabel(
            "A time-travel debugger for event logs.\n"
            "Open a log (Ctrl+O), drop a file on this window, or start with the demo shop."
        )
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text.setWordWrap(True)  # a narrow window must still fit the side docks
        self.open_button = QPushButton("Open a log…")
        self.demo_button = QPushButton("Open the demo shop log")
        self.demo_button.setVisible(self.demo_log is not None)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.demo_button)
        buttons.addStretch(1)
        wbox = QVBoxLayout(self.welcome)
        wbox.addStretch(1)
        wbox.addWidget(title, 0, Qt.AlignmentFlag.AlignCenter)
        wbox.addWidget(text, 0, Qt.AlignmentFlag.AlignCenter)
        wbox.addLayout(buttons)
        wbox.addStretch(2)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.table)
        central = QWidget()
        box = QVBoxLayout(central)
        box.setContentsMargins(2, 2, 2, 2)
        box.setSpacing(2)
        box.addWidget(self.message_bar)
        box.addWidget(self.stack, 1)
        self.central_box = box
        self.setCentralWidget(central)

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        self.timeline = TimelineWidget(self.navigator, self.theme)
        self.inspector = StateInspector(self.navigator, self.theme)
        self.detail = EventDetail(self.navigator, self.theme)
        self.report = ImportReport()
        top, right, bottom = (
            Qt.DockWidgetArea.TopDockWidgetArea,
            Qt.DockWidgetArea.RightDockWidgetArea,
            Qt.DockWidgetArea.BottomDockWidgetArea,
        )
        self.timeline_dock = self._dock("Timeline", "timelineDock", self.timeline, top)
        self.state_dock = self._dock("State", "stateDock", self.inspector, right)
        self.detail_dock = self._dock("Event", "detailDock", self.detail, right)
        self.report_dock = self._dock("Import report", "reportDock", self.report, bottom)
        self.report_dock.hide()
        self.branch_panel = BranchPanel(self.branch_ctl, self.theme)
        self.compare = CompareView(self.navigator, self.engine_queue, self.branch_ctl, self.theme)
        self.chart = MetricChart(self.navigator, self.engine_queue, self.branch_ctl, self.theme)
        left = Qt.DockWidgetArea.LeftDockWidgetArea
        self.branch_dock = self._dock("Branches", "branchDock", self.branch_panel, left)
        self.compare_dock = self._dock("Compare", "compareDock", self.compare, bottom)
        self.chart_dock = self._dock("Metric chart", "chartDock", self.chart, bottom)
        self.tabifyDockWidget(self.compare_dock, self.chart_dock)
        self.compare_dock.hide()
        self.chart_dock.hide()
        self.compare_dock.visibilityChanged.connect(self.compare.set_active)
        self.chart_dock.visibilityChanged.connect(self.chart.set_active)
        # The side docks run down to the bottom: the report, compare view and chart sit
        # under the table only.
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._sized = False

    def _action(
        self,
        text: str,
        slot: Any,
        shortcut: str | QKeySequence | QKeySequence.StandardKey | None = None,
        icon: str = "",
    ) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        if icon:
            action.setIcon(self.theme.icon(icon))
            action.setData(icon)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        nav = self.navigator
        a = self._action
        self.open_action = a("&Open…", self.choose_file, QKeySequence.StandardKey.Open, "open")
        self.quit_action = a("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.start_action = a("To &Start", guarded("To start")(nav.to_start), "Home", "to-start")
        self.back_step_action = a(
            "Step &Back", guarded("Step back")(lambda: nav.step(-1)), "Shift+F10", "step-back"
        )
        self.step_action = a(
            "Step &Forward", guarded("Step")(lambda: nav.step(1)), "F10", "step-forward"
        )
        self.end_action = a("To &End", guarded("To end")(nav.to_end), "End", "to-end")
        self.play_action = a("&Play", guarded("Play")(self.player.toggle), "Space", "play")
        self.goto_action = a("&Go to…", self.show_goto, "Ctrl+G", "goto")
        self.history_back_action = a("Bac&k", guarded("Back")(nav.back), "Alt+Left", "back")
        self.history_forward_action = a(
            "For&ward", guarded("Forward")(nav.forward), "Alt+Right", "forward"
        )
        for action, tip in (
            (self.start_action, "To the initial state (Home)"),
            (self.back_step_action, "Step back one event (Shift+F10)"),
            (self.step_action, "Step forward one event (F10)"),
            (self.end_action, "To the last event (End)"),
            (self.play_action, "Play / pause (Space)"),
            (self.goto_action, "Go to a position, key, event id or time (Ctrl+G)"),
            (self.history_back_action, "Back to where you jumped from (Alt+Left)"),
            (self.history_forward_action, "Forward again (Alt+Right)"),
            (self.open_action, "Open a log (Ctrl+O)"),
        ):
            action.setToolTip(tip)
        self.reset_layout_action = a("Reset layout", self.reset_layout)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.file_menu = file_menu
        file_menu.addAction(self.open_action)
        self.recent_menu = QMenu("Open &Recent", self)
        self.recent_menu.setObjectName("recentMenu")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addMenu(self.recent_menu)
        if self.demo_log is not None:
            file_menu.addAction(self._action("Open the &demo log", self.open_demo))
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        go = bar.addMenu("&Go")
        self.go_menu = go
        for action in (
            self.step_action,
            self.back_step_action,
            self.start_action,
            self.end_action,
            self.play_action,
        ):
            go.addAction(action)
        go.addSeparator()
        go.addAction(self.goto_action)
        go.addAction(self.history_back_action)
        go.addAction(self.history_forward_action)

        view = bar.addMenu("&View")
        self.view_menu = view
        for dock in (
            self.timeline_dock,
            self.state_dock,
            self.detail_dock,
            self.report_dock,
            self.branch_dock,
            self.compare_dock,
            self.chart_dock,
        ):
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        theme_menu = view.addMenu("&Theme")
        group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for mode, label in (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark")):
            action = QAction(label, self, checkable=True)
            action.setChecked(self.theme.mode == mode)
            action.triggered.connect(lambda _c=False, m=mode: self.set_theme(m))
            group.addAction(action)
            theme_menu.addAction(action)
            self.theme_actions[mode] = action
        view.addAction(self.reset_layout_action)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self._action("Keyboard shortcuts", self.show_shortcuts))

    def _build_toolbar(self) -> None:
        tb = QToolBar("Transport", self)
        tb.setObjectName("transportToolbar")
        tb.setIconSize(QSize(22, 22))
        tb.addAction(self.open_action)
        tb.addSeparator()
        for action in (
            self.start_action,
            self.back_step_action,
            self.play_action,
            self.step_action,
            self.end_action,
        ):
            tb.addAction(action)
        self.speed_box = QComboBox()
        self.speed_box.setObjectName("speedBox")
        self.speed_box.setToolTip("Playback speed (events per second)")
        for speed in Player.SPEEDS:
            self.speed_box.addItem(f"{speed} ev/s", speed)
        self.speed_box.setCurrentIndex(max(0, self.speed_box.findData(self.player.speed)))
        self.speed_box.currentIndexChanged.connect(
            lambda _i: self.player.set_speed(int(self.speed_box.currentData()))
        )
        tb.addWidget(self.speed_box)
        tb.addSeparator()
        tb.addAction(self.history_back_action)
        tb.addAction(self.history_forward_action)
        tb.addAction(self.goto_action)
        self.toolbar = tb
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
        self.view_menu.insertAction(self.view_menu.actions()[0], tb.toggleViewAction())

    def _build_status(self) -> None:
        sb = self.statusBar()
        self.position_label = QLabel()
        self.position_label.setObjectName("positionLabel")
        self.import_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setObjectName("importProgress")
        self.progress.setMaximumWidth(220)
        self.progress.setRange(0, 1000)
        self.cancel_button = QToolButton()
        self.cancel_button.setObjectName("cancelImport")
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Cancel the import; the open log stays open")
        self.cancel_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.cancel_button.clicked.connect(self.cancel_import)
        self.engine_label = QLabel()
        self.engine_label.setObjectName("engineLabel")
        self.engine_progress = QProgressBar()
        self.engine_progress.setObjectName("engineProgress")
        self.engine_progress.setMaximumWidth(160)
        self.engine_progress.setRange(0, 0)
        self.engine_cancel = QToolButton()
        self.engine_cancel.setObjectName("engineCancel")
        self.engine_cancel.setText("Cancel")
        self.engine_cancel.setToolTip("Stop the replay or comparison (edits already made stay)")
        self.engine_cancel.clicked.connect(lambda: self.engine_queue.cancel())
        self._engine_timer = QTimer(self)
        self._engine_timer.setSingleShot(True)
        self._engine_timer.setInterval(300)  # short work never flashes a progress bar
        self._engine_timer.timeout.connect(self._show_engine_widgets)
        sb.addWidget(self.position_label, 1)
        sb.addPermanentWidget(self.engine_label)
        sb.addPermanentWidget(self.engine_progress)
        sb.addPermanentWidget(self.engine_cancel)
        self._hide_engine_widgets()
        sb.addPermanentWidget(self.import_label)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)
        self._show_import_widgets(False)

    def _connect(self) -> None:
        nav = self.navigator
        nav.positionChanged.connect(self._on_position)
        nav.historyChanged.connect(self._update_actions)
        nav.sessionChanged.connect(self._update_actions)
        self.player.playingChanged.connect(self._on_playing)
        self.table.jumpRequested.connect(guarded("Jump")(lambda row: nav.go_to(row)))
        self.detail.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.open_button.clicked.connect(self.choose_file)
        self.demo_button.clicked.connect(self.open_demo)
        self.theme.changed.connect(self._on_theme)
        self.jobs.changed.connect(lambda: self._show_import_widgets(self.jobs.current is not None))
        error_reporter().reported.connect(self.show_error)
        self.engine_queue.busyChanged.connect(self._on_engine_busy)
        self.engine_queue.progress.connect(self._on_engine_progress)
        for source in (self.branch_ctl, self.compare, self.chart):
            source.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        nav.sessionChanged.connect(self._remember_branch)
        self.branch_ctl.replayCancelled.connect(
            lambda branch: self.inspector.hold(
                f"Replay of {branch} cancelled (the edit is kept): step or pick an event "
                "to show the state"
            )
        )

    # --- settings -----------------------------------------------------------------------

    def _restore_settings(self) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray | bytes) and geometry:
            self.restoreGeometry(QByteArray(geometry))
        else:
            self.resize(1500, 940)
        state = s.value("window/state")
        if isinstance(state, QByteArray | bytes) and state:
            self._sized = self.restoreState(QByteArray(state))
            self.report_dock.hide()
        splitter = s.value("detail/splitter")
        if isinstance(splitter, QByteArray | bytes) and splitter:
            self.detail.splitter.restoreState(QByteArray(splitter))
        speed = s.value("player/speed")
        if speed is not None:
            with contextlib.suppress(ValueError):
                self.speed_box.setCurrentIndex(max(0, self.speed_box.findData(int(str(speed)))))
        collapse = s.value("timeline/collapse")
        self.timeline.set_options(
            str(s.value("timeline/mode", "time")),
            str(s.value("timeline/lanes", "stream")),
            None if collapse is None else str(collapse).lower() in ("true", "1"),
        )

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("detail/splitter", self.detail.splitter.saveState())
        s.setValue("player/speed", self.player.speed)
        opts = self.timeline.options()
        s.setValue("timeline/mode", opts["mode"])
        s.setValue("timeline/lanes", opts["lanes"])
        s.setValue("timeline/collapse", bool(opts["collapse"]))
        s.setValue("theme/mode", self.theme.mode)
        s.sync()

    def _default_dock_sizes(self) -> None:
        self.resizeDocks([self.branch_dock], [330], Qt.Orientation.Horizontal)
        self.resizeDocks([self.timeline_dock], [300], Qt.Orientation.Vertical)
        self.resizeDocks([self.state_dock], [560], Qt.Orientation.Horizontal)
        self.resizeDocks([self.state_dock, self.detail_dock], [520, 380], Qt.Orientation.Vertical)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._sized:  # docks can only be sized once the window has its size
            self._sized = True
            self._default_dock_sizes()

    def reset_layout(self) -> None:
        for dock in (self.timeline_dock, self.state_dock, self.detail_dock):
            dock.setFloating(False)
            dock.show()
        self.addDockWidget(Qt.DockWidgetArea.TopDockWidgetArea, self.timeline_dock)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.state_dock)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.detail_dock)
        self.splitDockWidget(self.state_dock, self.detail_dock, Qt.Orientation.Vertical)
        self.branch_dock.setFloating(False)
        self.branch_dock.show()
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.branch_dock)
        for dock in (self.compare_dock, self.chart_dock):
            dock.setFloating(False)
            self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        self.tabifyDockWidget(self.compare_dock, self.chart_dock)
        self.debug_actions.reset_layout()
        self.chain_panel.reset_layout()
        self.problems.reset_layout()
        self._default_dock_sizes()

    def set_theme(self, mode: str) -> None:
        self.theme.set_mode(mode)
        self.theme_actions[mode].setChecked(True)

    def _on_theme(self) -> None:
        for action in self.actions():
            name = action.data()
            if isinstance(name, str) and name:
                action.setIcon(self.theme.icon(name))
        self._on_playing(self.player.is_playing())
        self.cancel_button.setIcon(self.theme.icon("cancel"))

    # --- files --------------------------------------------------------------------------

    def choose_file(self) -> None:
        """File ▸ Open…: the import dialog (format, mapping, a preview of the first events)."""
        from views.import_dialog import ImportDialog

        dialog = ImportDialog(self)
        self.import_dialog = dialog
        dialog.open()
        if not self._recent():
            dialog.browse()

    def open_demo(self) -> None:
        if self.demo_log is not None:
            self.open_path(self.demo_log)

    def _recent(self) -> list[str]:
        return app_gui.recent_files(self.settings)

    def _fill_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        files = self._recent()
        for i, name in enumerate(files):
            action = menu.addAction(f"&{i + 1}  {Path(name).name}   —   {Path(name).parent}")
            action.setData(name)
            action.triggered.connect(lambda _c=False, n=name: self.open_path(Path(n)))
        if not files:
            menu.addAction("No recent files").setEnabled(False)
        else:
            menu.addSeparator()
            menu.addAction("Clear the list", lambda: app_gui.clear_recent(self.settings))

    def open_path(
        self,
        path: Path | str,
        *,
        fmt: str | None = None,
        mapping: dict[str, str | None] | None = None,
    ) -> Job | None:
        """Import ``path`` in the background (as ``fmt`` with ``mapping`` overrides, when
        given); the open log stays usable until it is done."""
        path = Path(path)
        if not path.exists():
            self.show_error(f"Cannot open {path}: no such file.", "")
            return None
        opener = self._opener
        options = {k: v for k, v in (("fmt", fmt), ("mapping", mapping)) if v is not None}
        return self._start_import(path, lambda progress: opener(path, progress, **options))

    def open_table(self, source: Any) -> Job | None:
        """Import an event table of a database (a models.converters.sqltable.TableSource)."""
        label = Path(source.describe())
        opener = self._opener
        return self._start_import(
            label, lambda progress: opener(label, progress, table=source), recent=False
        )

    def open_eventsourcing(self, url: str, schema: str | None) -> Job | None:
        """Import a PostgreSQL store of the Python eventsourcing library."""
        from models.converters.sqltable import mask_url

        label = Path(f"{mask_url(url)}#{schema or 'public'}")
        opener = self._opener
        return self._start_import(
            label,
            lambda progress: opener(label, progress, eventsourcing=(url, schema)),
            recent=False,
        )

    def _start_import(self, path: Path, work: Any, *, recent: bool = True) -> Job:
        self.player.pause()
        self._importing = path
        job = self.jobs.start(work, label=f"Importing {path.name}", dispose=_close_session)
        job.progress.connect(self._on_import_progress)
        job.succeeded.connect(
            lambda session, j=job: self._on_import_done(j, path, session, recent=recent)
        )
        job.failed.connect(lambda exc, j=job: self._on_import_failed(j, path, exc))
        job.cancelled.connect(lambda j=job: self._on_import_cancelled(j, path))
        self.import_label.setText(f"Importing {path.name}…")
        self.progress.setRange(0, 0)
        return job

    def cancel_import(self) -> None:
        job = self.jobs.current
        if job is not None:
            job.setProperty("user_cancelled", True)
            self.jobs.cancel()
            self.import_label.setText("Cancelling…")

    def _show_import_widgets(self, visible: bool) -> None:
        for w in (self.import_label, self.progress, self.cancel_button):
            w.setVisible(visible)

    def _on_import_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(done, total) / total))
        else:
            self.progress.setRange(0, 0)

    def _on_import_done(
        self, job: Job, path: Path, session: Session, *, recent: bool = True
    ) -> None:
        if not self.jobs.is_current(job):
            _close_session(session)
            return
        problems = list(session.problems)
        if len(session.log) == 0 and problems:
            # Nothing readable: a report is all this file has to offer, and it must not
            # replace the log the user is working on.
            _close_session(session)
            self._show_import_failure(path, problems, "no record could be read as an event")
            return
        self.set_session(session)
        if recent:
            app_gui.add_recent(self.settings, path)
        skipped = sum(1 for p in problems if p.severity.value == "error")
        warnings = len(problems) - skipped
        if problems:
            self.report.set_report(path.name, problems, "")
        if skipped:
            self.show_report(path, problems, "")
            self.message_bar.show_message(
                f"{path.name} opened; {skipped} bad record{'s' if skipped != 1 else ''} "
                "skipped: see the import report.",
                "info",
            )
        else:
            self.report_dock.hide()
        if warnings and not skipped:
            self.message_bar.show_message(
                f"{path.name} opened with {warnings} warning{'s' if warnings != 1 else ''} "
                "(View ▸ Import report).",
                "info",
            )
        self.statusBar().showMessage(f"Opened {path.name}: {len(session.log):,} events", 8000)
        self.importFinished.emit("opened")

    def _on_import_failed(self, job: Job, path: Path, exc: BaseException) -> None:
        if not self.jobs.is_current(job):
            return
        keep = f" {self.session.name} stays open." if self.session is not None else ""
        if isinstance(exc, InputError):
            self._show_import_failure(path, list(exc.problems), str(exc))
            return
        error_reporter().report(exc, f"Could not open {path.name}")
        if keep:
            self.message_bar.show_message(self.message_bar.text() + keep, "error")
        self.importFinished.emit("failed")

    def _show_import_failure(self, path: Path, problems: list[Problem], reason: str) -> None:
        keep = f" {self.session.name} stays open." if self.session is not None else ""
        reason = reason.rstrip(".")
        if problems:
            self.show_report(path, problems, reason)
            self.message_bar.show_message(
                f"Could not open {path.name}: {reason}.{keep} See the import report.", "error"
            )
        else:
            self.message_bar.show_message(f"Could not open {path.name}: {reason}.{keep}", "error")
        self.statusBar().showMessage(f"Could not open {path.name}", 10000)
        self.importFinished.emit("failed")

    def _on_import_cancelled(self, job: Job, path: Path) -> None:
        if not job.property("user_cancelled"):
            return  # superseded by a newer import: nothing to say
        keep = f"; {self.session.name} stays open" if self.session is not None else ""
        self.statusBar().showMessage(f"Import of {path.name} cancelled{keep}.", 8000)
        self.importFinished.emit("cancelled")

    def show_report(self, path: Path, problems: list[Problem], message: str) -> None:
        self.report.set_report(path.name, problems, message)
        self.report_dock.show()
        self.report_dock.raise_()

    def set_session(self, session: Session | None) -> None:
        self.engine_queue.shutdown()  # the old log's worker stops before it is closed
        old, self.session = self.session, session
        self.player.pause()
        start = getattr(session, "start_row", None)
        branch = self._last_branch(session)
        self.navigator.set_session(
            session, branch, -1 if start is None or branch != MAIN else start
        )
        if old is not None and old is not session:
            _close_session(old)
        self.stack.setCurrentWidget(self.table if session is not None else self.welcome)
        self.setWindowTitle(f"Rewind — {session.name}" if session else "Rewind")
        self.message_bar.hide()
        self.sessionOpened.emit(session)

    # --- branches ---------------------------------------------------------------------------

    def _branch_setting(self, session: Session | None) -> str:
        name = str(session.path) if session is not None and session.path else ""
        return "branches/last/" + name.replace("/", "|").replace("\\", "|")

    def _last_branch(self, session: Session | None) -> str:
        """The branch this log was on when the window last showed it (main by default)."""
        if session is None or session.path is None:
            return MAIN
        name = str(self.settings.value(self._branch_setting(session), MAIN))
        if name not in session.engine.branches():
            return MAIN
        meta = session.branch_meta().get(name)
        return MAIN if meta is None or meta.archived else name

    def _remember_branch(self) -> None:
        s = self.session
        if s is not None and s.path is not None and self.navigator.session is s:
            self.settings.setValue(self._branch_setting(s), self.navigator.branch)

    def _on_engine_busy(self, busy: bool) -> None:
        if busy:
            self._engine_timer.start()
        else:
            self._engine_timer.stop()
            self._hide_engine_widgets()

    def _show_engine_widgets(self) -> None:
        if self.engine_queue.busy:
            self.engine_label.setText(f"{self.engine_queue.running_label or 'Working'}…")
            for w in (self.engine_label, self.engine_progress, self.engine_cancel):
                w.setVisible(True)

    def _hide_engine_widgets(self) -> None:
        for w in (self.engine_label, self.engine_progress, self.engine_cancel):
            w.setVisible(False)

    def _on_engine_progress(self, label: str, done: int, total: int) -> None:
        self.engine_label.setText(f"{label}…")
        if total > 0:
            self.engine_progress.setRange(0, 1000)
            self.engine_progress.setValue(int(1000 * min(done, total) / total))
        else:
            self.engine_progress.setRange(0, 0)

    # --- drag and drop --------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if any(u.isLocalFile() for u in urls):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.open_path(Path(files[0]))

    # --- navigation feedback ---------------------------------------------------------------

    def show_goto(self) -> None:
        if self.session is None:
            return
        dialog = GoToDialog(self.navigator.resolve, self)
        dialog.jumped.connect(guarded("Go to")(lambda row: self.navigator.go_to(row)))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.goto_dialog = dialog
        dialog.open()

    def show_shortcuts(self) -> None:
        lines = [
            "F10 step forward · Shift+F10 step back · Home / End to start / end",
            "Space play / pause · Ctrl+G go to · Alt+Left / Alt+Right back / forward",
            "Timeline: wheel or +/- zoom, drag or arrows pan, 0 fit, drag the cursor to move",
            "State tree: Ctrl+C copy value, Ctrl+Shift+C copy path",
            "Branches: Ctrl+B fork here · Del drop/restore · Ctrl+E edit · Ctrl+I insert after",
            "Alt+Up / Alt+Down move · Ctrl+Z undo · Ctrl+Shift+Z redo · Ctrl+D compare · "
            "Ctrl+M metric chart · drag a row in the table to move its event",
            "Debug: F5 run forward · Shift+F5 run backward (to the nearest breakpoint or watch "
            "condition) · F9 toggle a breakpoint · click the table's gutter to set one",
        ]
        self.message_bar.show_message("\n".join(lines), "info")

    @guarded("Status")
    def _on_position(self, row: int) -> None:
        nav = self.navigator
        self._update_actions()
        if self.session is None:
            self.position_label.setText("")
            return
        n = nav.count
        if row < 0:
            self.position_label.setText(f"Initial state · {n:,} events")
            return
        rows = nav.rows
        names = nav.columns.type_names
        tc = int(rows.type_codes[row])
        kind = names[tc] if 0 <= tc < len(names) else ""
        when = format_time(int(rows.recorded_us[row]))
        self.position_label.setText(
            f"{format_key(nav.key_at(row))} · row {row + 1:,} of {n:,} · {kind} · {when}"
        )

    def _on_playing(self, playing: bool) -> None:
        self.play_action.setText("&Pause" if playing else "&Play")
        self.play_action.setData("pause" if playing else "play")
        self.play_action.setIcon(self.theme.icon("pause" if playing else "play"))

    def _update_actions(self) -> None:
        nav = self.navigator
        has = self.session is not None and nav.count > 0
        for action in (self.start_action, self.back_step_action):
            action.setEnabled(has and nav.row > -1)
        for action in (self.step_action, self.end_action):
            action.setEnabled(has and not nav.at_end())
        self.play_action.setEnabled(has)
        self.goto_action.setEnabled(has)
        self.history_back_action.setEnabled(nav.can_back())
        self.history_forward_action.setEnabled(nav.can_forward())

    def show_error(self, message: str, details: str = "") -> None:
        self.message_bar.show_message(message, "error", details)
        self.statusBar().showMessage(message.splitlines()[0] if message else "", 10000)

    # --- closing ----------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        self.player.pause()
        self.save_settings()
        self.jobs.shutdown()
        self.engine_queue.shutdown()
        with contextlib.suppress(RuntimeError, TypeError):
            error_reporter().reported.disconnect(self.show_error)
        old, self.session = self.session, None
        self.navigator.set_session(None)
        _close_session(old)
        super().closeEvent(event)
