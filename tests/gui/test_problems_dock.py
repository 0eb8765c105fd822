"""The Problems dock: findings listed when a log opens, marked on the timeline, jumped to,
and a conflict resolved both ways in branches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, QSettings, Qt

from app.session import open_session
from models.event import Event
from models.findings import find
from models.generator import generate
from tests.gui.branching import idle
from tests.gui.shop import T0, make_session
from views.main_window import MainWindow
from views.problems_dock import PositionRole, ProblemsModel, ProblemsPanel, branch_name
from views.theme import Theme


def race_events() -> list[Event]:
    """An order shipped and cancelled at one version (a lost update), and a re-delivered
    registration."""
    specs: list[tuple[str, str, int, dict[str, Any], str]] = [
        ("cust-1", "CustomerRegistered", 1, {"name": "Ada"}, "evt-0"),
        ("order-1", "OrderPlaced", 1, {"total": 40}, "evt-1"),
        ("order-1", "OrderShipped", 2, {"carrier": "DHL"}, "evt-2"),
        ("order-1", "OrderCancelled", 2, {"reason": "customer_request"}, "evt-3"),
        ("cust-1", "CustomerRenamed", 2, {"name": "Ada L."}, "evt-4"),
        ("order-1", "OrderNoted", 3, {"note": "late"}, "evt-5"),
        ("cust-2", "CustomerRegistered", 1, {"name": "Ben"}, "evt-6"),
        ("cust-2", "CustomerRegistered", 1, {"name": "Ben"}, "evt-6"),
    ]
    events = []
    for pos, (stream, etype, version, data, event_id) in enumerate(specs):
        rec = T0 + min(pos, 6) * 1_000_000  # the copy carries its original's time
        events.append(Event(pos, pos, event_id, stream, etype, version, recorded_us=rec, data=data))
    return events


def _no_opener(path: Any, progress: Any) -> Any:
    raise AssertionError("these tests do not open files")


def _open(qtbot: Any, settings: QSettings, session: Any) -> tuple[MainWindow, ProblemsPanel]:
    """The window as the lead wires it: the dock installed while the window is built, then
    shown, then a log opened (which starts the search for findings)."""
    w = MainWindow(opener=_no_opener, settings=settings, theme=Theme("light"))
    qtbot.addWidget(w)
    panel = w.problems  # the window installs it in its constructor
    w.resize(1500, 940)
    w.show()
    qtbot.waitExposed(w)
    with qtbot.waitSignal(panel.findingsShown, timeout=10_000):
        w.set_session(session)
    idle(qtbot, w)
    return w, panel


def _children(model: Any, parent: QModelIndex) -> list[QModelIndex]:
    return [model.index(r, 0, parent) for r in range(model.rowCount(parent))]


def _row_texts(model: Any, index: QModelIndex) -> list[str]:
    return [
        str(model.index(index.row(), c, index.parent()).data())
        for c in range(model.columnCount(index.parent()))
    ]


def test_conflict_listed_marked_jumped_to_and_kept_one_way(
    qtbot: Any, settings: QSettings, qtmodeltester: Any
) -> None:
    w, panel = _open(qtbot, settings, make_session(race_events()))
    bottom = Qt.DockWidgetArea.BottomDockWidgetArea
    assert panel.dock is not None and w.dockWidgetArea(panel.dock) == bottom
    assert panel.dock.isVisible()  # findings pop it up
    w.chart_dock.show()
    assert panel.dock in w.tabifiedDockWidgets(w.chart_dock)
    assert any(a.text() == "&Problems" for a in w.view_menu.actions())
    model = panel.model
    qtmodeltester.check(model)

    # listed: a conflict at order-1 v2 with its two events, and the re-delivery
    kinds = [i.data() for i in _children(model, QModelIndex())]
    assert kinds == ["version conflicts (lost updates) (1)", "exact re-deliveries (1)"]
    (conflict,) = _children(model, model.kind_index("conflicts"))
    assert _row_texts(model, conflict) == ["Conflict", "order-1", "v2", "@2, @3"]
    events = _children(model, conflict)
    assert [_row_texts(model, e) for e in events] == [
        ["@2", "order-1", "v2", "OrderShipped · evt-2"],
        ["@3", "order-1", "v2", "OrderCancelled · evt-3"],
    ]
    (redelivery,) = _children(model, model.kind_index("redeliveries"))
    assert redelivery.data(PositionRole) == 6
    assert "Found 1 version conflicts" in panel.summary.text()

    # marked on the timeline, under the events' ticks
    assert sorted(panel.mark_rows) == [2, 3, 6, 7]
    assert len(panel.marks.points()) == 4
    assert panel.marks in w.timeline.plot.getPlotItem().items
    # redrawn when the timeline lays itself out again (lanes by event type)
    w.timeline.lanes_box.setCurrentIndex(w.timeline.lanes_box.findData("type"))
    lay = w.timeline.lay
    assert lay is not None and lay.lanes_by == "type"
    ys = sorted(float(p.pos().y()) for p in panel.marks.points())
    assert ys == sorted(float(lay.lane[r]) + 0.44 for r in (2, 3, 6, 7))

    # a double-click on an event jumps there; so does Enter
    tree = panel.tree
    tree.expandAll()
    rect = tree.visualRect(events[1])
    assert tree.viewport().rect().contains(rect.center())
    # QTest sends only the double-click press: the view wants to have seen a first press
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert w.navigator.row == -1  # a single click only selects
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert w.navigator.row == 3
    tree.setCurrentIndex(events[0])
    tree.setFocus()
    qtbot.keyClick(tree, Qt.Key.Key_Return)
    assert w.navigator.row == 2

    # keep only the cancellation: a branch forked before the race drops the shipment
    tree.setCurrentIndex(events[1])
    assert panel.keep_button.isEnabled()
    qtbot.mouseClick(panel.keep_button, Qt.MouseButton.LeftButton)
    name = "conflict-order-1-v2-keep-@3"
    qtbot.waitUntil(lambda: w.navigator.branch == name)
    idle(qtbot, w)
    engine = w.navigator.engine
    info = engine.branch(name)
    assert (info.parent, info.fork_at) == ("main", 1)
    rows = w.navigator.rows
    assert [bool(d) for d in rows.dropped] == [r == 2 for r in range(8)]
    assert name in w.branch_panel.model.names()
    end = w.navigator.count - 1
    kept = engine.state_at(name, end)["order-1"]["data"]
    both = engine.state_at("main", end)["order-1"]["data"]
    assert "reason" in kept and "carrier" not in kept
    assert "reason" in both and "carrier" in both
    # the marks follow the branch (the dropped event is still shown, and still marked)
    assert sorted(panel.mark_rows) == [2, 3, 6, 7]
    # the findings are of the log: a branch switch does not look again
    assert model.rowCount() == 2
    qtmodeltester.check(model)


def test_keep_the_other_one_from_the_context_menu(qtbot: Any, settings: QSettings) -> None:
    w, panel = _open(qtbot, settings, make_session(race_events()))
    conflict = panel.model.findings.conflicts[0]
    tree = panel.tree
    tree.expandAll()
    index = _children(panel.model, _children(panel.model, panel.model.kind_index("conflicts"))[0])[
        0
    ]
    panel._context_menu(tree.visualRect(index).center())
    texts = [a.text() for a in panel.context_menu.actions()]
    assert texts == [
        "Go to event",
        "Branch: keep only @2 OrderShipped",
        "Branch: keep only @3 OrderCancelled",
    ]
    panel.context_menu.actions()[1].trigger()
    panel.context_menu.close()
    name = branch_name(conflict, 2)
    assert name == "conflict-order-1-v2-keep-@2"
    qtbot.waitUntil(lambda: w.navigator.branch == name)
    idle(qtbot, w)
    kept = w.navigator.engine.state_at(name, w.navigator.count - 1)["order-1"]["data"]
    assert "carrier" in kept and "reason" not in kept
    # asking again switches to the branch instead of failing
    w.navigator.set_branch("main")
    with qtbot.waitSignal(panel.message) as blocker:
        panel.keep_only(conflict, 2)
    assert "exists already" in blocker.args[0]
    assert w.navigator.branch == name
    with pytest.raises(ValueError, match="not one of"):
        panel.keep_only(conflict, 5)


def test_a_generated_log_in_a_workspace(qtbot: Any, settings: QSettings, tmp_path: Path) -> None:
    """A real import: the planted conflict is listed, and its branch is kept in the
    workspace (reopening finds it)."""
    summary = generate(
        tmp_path / "shop.jsonl", events=600, seed=3, conflicts=1, redeliveries=1, plant_bug=False
    )
    ws = tmp_path / "ws.sqlite"
    w, panel = _open(qtbot, settings, open_session(summary.path, workspace=ws))
    found = panel.model.findings
    (planted,) = summary.conflicts
    assert [c.positions for c in found.conflicts] == [planted.positions]
    assert [r.positions for r in found.redeliveries] == [summary.redeliveries[0].positions]
    keep = planted.positions[1]
    panel.keep_only(found.conflicts[0], keep)
    name = branch_name(found.conflicts[0], keep)
    qtbot.waitUntil(lambda: w.navigator.branch == name)
    idle(qtbot, w)
    w.set_session(None)
    again = open_session(summary.path, workspace=ws)
    try:
        info = again.engine.branch(name)
        assert info.fork_at == planted.positions[0] - 1
        assert [(e.kind.value, e.target) for e in info.edits] == [("drop", planted.positions[0])]
    finally:
        again.close()


def test_more_findings_than_listed(qtbot: Any, qtmodeltester: Any) -> None:
    """Beyond the limit a kind ends with a row saying how many are left out."""
    events = []
    for i in range(5):  # five streams, each with a lost update at v1
        for k in range(2):
            pos = 2 * i + k
            events.append(Event(pos, pos, f"e{pos}", f"s{i}", "T", 1, recorded_us=T0 + pos))
    session = make_session(events)
    found = find(session.log, limit=2)
    model = ProblemsModel()
    model.set_findings(found, session.log.columns)
    qtmodeltester.check(model)
    rows = _children(model, model.kind_index("conflicts"))
    assert [r.data() for r in rows] == [
        "Conflict",
        "Conflict",
        "… 3 more (main.py inspect --json lists them all)",
    ]
    assert rows[-1].data(PositionRole) is None
    assert model.index(0, 0).data() == "version conflicts (lost updates) (5)"
    model.clear()
    assert model.rowCount() == 0
