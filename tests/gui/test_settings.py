"""What the window remembers (in a temporary QSettings file) and its movable, hideable docks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt

from app import gui as app_gui
from tests.gui.shop import make_session
from views.main_window import MainWindow
from views.theme import Theme


def _window(qtbot: Any, settings: QSettings) -> MainWindow:
    w = MainWindow(
        opener=lambda p, progress: make_session(), settings=settings, theme=Theme("light")
    )
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def test_layout_splitters_options_and_recent_files_survive_a_restart(
    qtbot: Any, settings: QSettings, tmp_path: Path
) -> None:
    w = _window(qtbot, settings)
    w.set_session(make_session())
    w.resize(790, 590)
    assert w.size().width() == 790
    w.state_dock.toggleViewAction().trigger()  # hidden from the View menu
    assert w.state_dock.isHidden()
    w.timeline.mode_box.setCurrentIndex(w.timeline.mode_box.findData("position"))
    w.timeline.lanes_box.setCurrentIndex(w.timeline.lanes_box.findData("type"))
    qtbot.waitUntil(lambda: w.detail.splitter.height() > 300)
    default_top = w.detail.splitter.sizes()[0]
    top = default_top + 40
    w.detail.splitter.setSizes([top, 400 - top])
    assert w.detail.splitter.sizes()[0] == top
    w.speed_box.setCurrentIndex(w.speed_box.findData(250))
    log = tmp_path / "a.jsonl"
    log.write_text("{}\n")
    app_gui.add_recent(settings, log)
    w.close()
    assert Path(settings.fileName()).exists()

    w2 = _window(qtbot, QSettings(settings.fileName(), QSettings.Format.IniFormat))
    assert w2.state_dock.isHidden()
    assert not w2.timeline_dock.isHidden()
    assert w2.size().width() == 790
    assert w2.timeline.options() == {"mode": "position", "lanes": "type", "collapse": True}
    assert w2.detail.splitter.sizes()[0] == top
    assert w2.player.speed == 250
    w2.recent_menu.aboutToShow.emit()
    entries = [a.data() for a in w2.recent_menu.actions() if a.data()]
    assert entries == [str(log.resolve())]


def test_recent_files_are_most_recent_first_without_duplicates(settings: QSettings) -> None:
    for name in ("a", "b", "a", "c"):
        app_gui.add_recent(settings, Path("/tmp") / f"{name}.jsonl")
    assert [Path(p).name for p in app_gui.recent_files(settings)] == [
        "c.jsonl",
        "a.jsonl",
        "b.jsonl",
    ]
    app_gui.clear_recent(settings)
    assert app_gui.recent_files(settings) == []


def test_every_dock_can_be_hidden_moved_and_restored(qtbot: Any, settings: QSettings) -> None:
    w = _window(qtbot, settings)
    docks = [w.timeline_dock, w.state_dock, w.detail_dock, w.report_dock]
    view_actions = w.view_menu.actions()
    for dock in docks:
        assert dock.toggleViewAction() in view_actions
        assert dock.features() & dock.DockWidgetFeature.DockWidgetMovable
        assert dock.features() & dock.DockWidgetFeature.DockWidgetClosable
    w.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, w.state_dock)
    assert w.dockWidgetArea(w.state_dock) == Qt.DockWidgetArea.LeftDockWidgetArea
    w.timeline_dock.close()
    w.reset_layout_action.trigger()
    assert w.timeline_dock.isVisible()
    assert w.dockWidgetArea(w.state_dock) == Qt.DockWidgetArea.RightDockWidgetArea


def test_tests_never_touch_the_users_settings() -> None:
    default = QSettings()
    assert "RewindTests" in default.fileName()
    assert not default.fileName().startswith(str(Path.home() / ".config"))
