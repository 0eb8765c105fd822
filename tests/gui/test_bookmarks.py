"""Bookmarks and notes: set from the keyboard and the event menu, listed in their dock,
kept with the log, shown in the gutter, and listed in an export's report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt

from app.compensate import export_with_report
from replay_engine.breakpoints import Watch
from tests.gui.shop import make_session
from tests.gui.test_window import open_window


def test_bookmarks_with_notes(qtbot: Any, settings: QSettings, tmp_path: Path) -> None:
    w = open_window(qtbot, settings, make_session())
    actions, nav, model = w.bookmark_actions, w.navigator, w.table.event_model
    nav.go_to(4)
    qtbot.keyClick(w.table, Qt.Key.Key_F2, Qt.KeyboardModifier.ControlModifier)
    assert w.session is not None and w.session.bookmarks() == {"@4": ""}
    assert model.bookmark_at(4) == ""
    assert model.headerData(4, Qt.Orientation.Vertical, Qt.ItemDataRole.DecorationRole)
    actions.ask = lambda old: "the retried charge"
    w.branch_actions.table_menu(6, w.table.mapToGlobal(w.table.rect().center()))
    menu = w.branch_actions.last_menu
    assert menu is not None
    next(a for a in menu.actions() if a.text() == "Bookmark…").trigger()
    menu.close()
    assert w.session.bookmarks() == {"@4": "", "@6": "the retried charge"}
    tree = actions.panel.tree
    assert [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())] == ["@4", "@6"]
    assert tree.topLevelItem(1).text(3) == "the retried charge"
    tree.itemActivated.emit(tree.topLevelItem(1), 0)
    assert nav.row == 6
    qtbot.keyClick(w.table, Qt.Key.Key_F2, Qt.KeyboardModifier.ControlModifier)  # off again
    assert w.session.bookmarks() == {"@4": ""}
    w.session.set_bookmark(6, "kept for the report")
    report = export_with_report(w.session, "main", tmp_path / "out.jsonl")
    assert [(b["key"], b["note"]) for b in report.bookmarks] == [
        ("@4", ""),
        ("@6", "kept for the report"),
    ]
    assert "kept for the report" in (tmp_path / "out.jsonl.report.md").read_text()


def test_breakpoints_keep_the_bookmarks_and_saved_filters(qtbot: Any, settings: QSettings) -> None:
    w = open_window(qtbot, settings, make_session())
    assert w.session is not None
    w.session.set_bookmark(4, "keep me")
    w.filter_bar.types.setText("Order*")
    w.filter_bar.save("orders")
    w.debug_actions.toggle_row(2)
    w.debug_actions.debugger.add_watch(Watch("data"))
    points = w.session.debug_points()
    assert w.session.bookmarks() == {"@4": "keep me"}
    assert "orders" in points["saved_filters"] and points["breakpoints"]
