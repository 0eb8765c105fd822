"""The Chain dock on the small shop log: @1 OrderPlaced causes the charge @2 (which causes
the debit @3), the retried charge @4 (debit @5) and the shipment @6; all five effects share
the correlation id evt-1."""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QModelIndex, QSettings, Qt
from PySide6.QtWidgets import QApplication, QTabBar

from models.event import Event
from tests.gui.branching import idle, open_window
from tests.gui.shop import make_session, shop_events
from views.chain_view import ChainModel, ChainPanel, PositionRole
from views.main_window import MainWindow
from views.theme import Theme


def rows(model: Any, parent: QModelIndex | None = None) -> list[Any]:
    """What a row says in its first column, nested rows as (text, [children])."""
    parent = parent or QModelIndex()
    out: list[Any] = []
    for r in range(model.rowCount(parent)):
        index = model.index(r, 0, parent)
        text = index.data()
        out.append((text, rows(model, index)) if model.rowCount(index) else text)
    return out


def find(model: ChainModel, text: str, parent: QModelIndex | None = None) -> QModelIndex:
    """The first row (depth first) whose first column reads ``text``."""
    parent = parent or QModelIndex()
    for r in range(model.rowCount(parent)):
        index = model.index(r, 0, parent)
        if index.data() == text:
            return index
        found = find(model, text, index)
        if found.isValid():
            return found
    return QModelIndex()


def chain_tab(w: MainWindow, title: str = "Chain") -> tuple[QTabBar, int] | None:
    """The tab of the main window's dock area showing ``title``, as the user sees it (the
    window may keep an unused tab bar around: the one on top at the tab is the one)."""
    for bar in w.findChildren(QTabBar, options=Qt.FindChildOption.FindDirectChildrenOnly):
        for i in range(bar.count()):
            if bar.tabText(i) == title and w.childAt(bar.mapTo(w, bar.tabRect(i).center())) is bar:
                return bar, i
    return None


def click_tab(qtbot: Any, w: MainWindow, title: str) -> None:
    dock = w.chain_panel.dock
    if title == "Chain" and dock is not None and dock.isHidden():
        dock.toggleViewAction().trigger()  # View ▸ Chain: it starts hidden
    qtbot.waitUntil(lambda: chain_tab(w, title) is not None)
    found = chain_tab(w, title)
    assert found is not None
    bar, i = found
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(i).center())


def shown(qtbot: Any, w: MainWindow) -> ChainPanel:
    """Install the dock, click its tab and wait for the index."""
    panel = w.chain_panel  # the window installs it in its constructor
    assert not panel.ready and "not indexed" in panel.status.text()
    with qtbot.waitSignal(panel.indexed, timeout=10_000):
        click_tab(qtbot, w, "Chain")
    idle(qtbot, w)
    return panel


def test_the_chain_follows_the_cursor(qtbot: Any, settings: QSettings, qtmodeltester: Any) -> None:
    w = open_window(qtbot, settings, make_session())
    panel = shown(qtbot, w)
    assert w.tabifiedDockWidgets(w.detail_dock) == [panel.dock]
    model, nav = panel.model, w.navigator

    nav.go_to(3)
    assert rows(model) == [
        ("Causes (2)", ["@1", "@2"]),
        "@3",
        ("Correlated (5, in time order)", ["@2", "@3", "@4", "@5", "@6"]),
    ]
    current = model.current_index()
    assert current.data() == "@3" and current.data(PositionRole) == 3
    assert current.data(Qt.ItemDataRole.FontRole).bold()
    assert panel.tree.currentIndex() == current
    row = model.index(current.row(), 3)
    assert row.data() == "BalanceDebited" and model.index(current.row(), 2).data() == "cust-1"
    assert "@3 BalanceDebited · 2 causes · 0 effects · 5 correlated" in panel.status.text()
    qtmodeltester.check(model)

    nav.go_to(1)  # the order: no causation id of its own, three effects
    assert rows(model) == [
        "Causes — this event has no causation id",
        ("@1", [("@2", ["@3"]), ("@4", ["@5"]), "@6"]),
        "Correlated — this event has no correlation id",
    ]
    qtmodeltester.check(model)

    nav.go_to(9)  # no ids at all
    assert rows(model)[1] == "@9" and "0 causes · 0 effects" in panel.status.text()
    nav.go_to(-1)
    assert model.rowCount() == 0 and "initial state" in panel.status.text()


def test_clicking_or_activating_a_node_jumps_there(qtbot: Any, settings: QSettings) -> None:
    w = open_window(qtbot, settings, make_session())
    panel = shown(qtbot, w)
    model, nav, tree = panel.model, w.navigator, panel.tree
    nav.go_to(3)
    cause = find(model, "@1")
    tree.scrollTo(cause)
    qtbot.mouseClick(
        tree.viewport(), Qt.MouseButton.LeftButton, pos=tree.visualRect(cause).center()
    )
    qtbot.waitUntil(lambda: nav.row == 1)
    qtbot.waitUntil(lambda: model.current_index().data() == "@1")

    effect = find(model, "@5")  # two levels down the effects of @1
    tree.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is tree)
    tree.setCurrentIndex(effect)
    qtbot.keyClick(tree, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: nav.row == 5)
    assert rows(model)[0] == ("Causes (2)", ["@1", "@4"])

    heading = model.index(0, 0)  # headings and notes are not events: nowhere to go
    assert heading.data(PositionRole) is None and model.position(heading) is None
    assert not model.flags(heading) & Qt.ItemFlag.ItemIsSelectable


def test_branches_map_positions_to_rows(qtbot: Any, settings: QSettings) -> None:
    """In a branch that moved @1 to the end, the chain still names @1, and a click on it
    goes to the row where the branch has it."""
    w = open_window(qtbot, settings, make_session())
    panel = shown(qtbot, w)
    w.branch_ctl.fork("moved", "main", None)
    idle(qtbot, w)
    w.branch_ctl.move(1, w.navigator.count - 1)
    idle(qtbot, w)
    nav = w.navigator
    assert nav.branch == "moved" and nav.key_at(nav.count - 1) == 1
    nav.go_to(nav.row_of_key(3) or 0)
    idle(qtbot, w)
    assert rows(panel.model)[0] == ("Causes (2)", ["@1", "@2"])
    cause = find(panel.model, "@1")
    qtbot.mouseClick(
        panel.tree.viewport(),
        Qt.MouseButton.LeftButton,
        pos=panel.tree.visualRect(cause).center(),
    )
    qtbot.waitUntil(lambda: nav.row == nav.count - 1)
    assert panel.model.current_index().data() == "@1"
    panel.jump_to(99)
    assert "@99 is not in branch moved" in panel.status.text()


def test_who_reacts_to_what(qtbot: Any, settings: QSettings, qtmodeltester: Any) -> None:
    w = open_window(qtbot, settings, make_session())
    panel = shown(qtbot, w)
    qtmodeltester.check(panel.reactions_model)
    proxy = panel.reactions_proxy
    table = [tuple(proxy.index(r, c).data() for c in range(4)) for r in range(proxy.rowCount())]
    assert table[2] == ("OrderPlaced", "OrderShipped", "—", "1")  # the rarest last
    assert sorted(table[:2]) == [
        ("OrderPlaced", "PaymentCharged", "—", "2"),
        ("PaymentCharged", "BalanceDebited", "—", "2"),
    ]
    panel.reactions_table.sortByColumn(1, Qt.SortOrder.AscendingOrder)  # by effect type
    assert [proxy.index(r, 1).data() for r in range(3)] == [
        "BalanceDebited",
        "OrderShipped",
        "PaymentCharged",
    ]
    assert "5 events name a cause in the log" in panel.summary.text()
    assert "15 have no causation id" in panel.summary.text()


def test_a_new_session_is_indexed_again(qtbot: Any, settings: QSettings) -> None:
    w = open_window(qtbot, settings, make_session())
    panel = shown(qtbot, w)
    first = panel.index
    with qtbot.waitSignal(panel.indexed, timeout=10_000):
        w.set_session(make_session())
    idle(qtbot, w)
    assert panel.ready and panel.index is not first
    w.navigator.go_to(2)
    assert rows(panel.model)[0] == ("Causes (1)", ["@1"])
    # hidden, it does nothing; a session opened meanwhile is indexed when shown again
    click_tab(qtbot, w, "Event")
    qtbot.waitUntil(lambda: not panel.active)
    w.set_session(make_session())
    idle(qtbot, w)
    assert not panel.ready and not panel.building and panel.build_button.isVisibleTo(panel)
    with qtbot.waitSignal(panel.indexed, timeout=10_000):
        click_tab(qtbot, w, "Chain")
    assert panel.ready


def test_broken_chains_are_said(qtbot: Any, settings: QSettings, qtmodeltester: Any) -> None:
    """A cause that is not in the log, and two events naming each other as cause."""
    events = shop_events()
    events[2] = events[2]._replace(causation_id="evt-missing")
    events[8] = events[8]._replace(causation_id="evt-9", correlation_id="loop")
    events[9] = events[9]._replace(causation_id="evt-8", correlation_id="loop")
    w = open_window(qtbot, settings, make_session(events))
    panel = shown(qtbot, w)
    nav, model = w.navigator, panel.model
    nav.go_to(3)
    causes = rows(model)[0]
    assert causes == (
        "Causes (1)",
        ["⚠ @2 names cause “evt-missing”, which is not in this log", "@2"],
    )
    assert "its chain breaks: cause “evt-missing” is not in this log" in panel.status.text()
    nav.go_to(8)
    assert rows(model)[0] == ("Causes (1)", ["↺ the causes loop back to @8: a cycle of ids", "@9"])
    assert rows(model)[1] == ("@8", [("@9", ["@8  ↺"])])
    assert "its causes loop" in panel.status.text()
    qtmodeltester.check(model)


def test_cancelled_indexing_can_be_started_again(qtbot: Any, settings: QSettings) -> None:
    """The status bar's Cancel drops an index job still waiting for the worker: the dock
    says so and offers to index again."""
    w = open_window(qtbot, settings, make_session())
    panel = w.chain_panel  # the window installs it in its constructor
    started, release = threading.Event(), threading.Event()

    def blocker(_progress: Any) -> None:
        started.set()
        release.wait(10)

    w.engine_queue.submit("blocker", blocker)
    qtbot.waitUntil(started.is_set)
    click_tab(qtbot, w, "Chain")
    qtbot.waitUntil(lambda: panel.building)
    assert panel.progress.isVisibleTo(panel) and "Indexing" in panel.status.text()
    w.engine_cancel.click()
    release.set()
    qtbot.waitUntil(lambda: not panel.building and not w.engine_queue.busy)
    assert "cancelled" in panel.status.text() and not panel.ready
    assert panel.build_button.isVisibleTo(panel)
    with qtbot.waitSignal(panel.indexed, timeout=10_000):
        panel.build_button.click()
    assert panel.ready and not panel.build_button.isVisibleTo(panel)


def test_reset_layout_puts_it_back_beside_the_event(qtbot: Any, settings: QSettings) -> None:
    w = open_window(qtbot, settings, make_session())
    panel = w.chain_panel  # the window installs it in its constructor
    assert panel.dock is not None
    panel.dock.show()
    panel.dock.setFloating(True)
    assert panel.dock.isFloating()
    panel.reset_layout()
    assert not panel.dock.isFloating() and panel.dock.isHidden()  # back, and out of the way
    panel.dock.toggleViewAction().trigger()
    assert w.tabifiedDockWidgets(w.detail_dock) == [panel.dock]


def test_installed_before_the_window_shows(qtbot: Any, settings: QSettings) -> None:
    """Where the window installs it: in its constructor, before its layout is restored."""
    w = MainWindow(opener=lambda *_a, **_k: None, settings=settings, theme=Theme("light"))
    panel = w.chain_panel  # the window installs it in its constructor
    qtbot.addWidget(w)
    w.resize(1500, 940)
    w.show()
    qtbot.waitExposed(w)
    w.set_session(make_session())
    assert not panel.active and not panel.building  # behind the Event tab: nothing to do
    with qtbot.waitSignal(panel.indexed, timeout=10_000):
        click_tab(qtbot, w, "Chain")
    w.navigator.go_to(4)
    assert rows(panel.model)[0] == ("Causes (1)", ["@1"])


def test_a_deep_chain(qtbot: Any, settings: QSettings) -> None:
    """Hundreds of levels of effects, more causes than the tree lists: capped, and said."""
    events = [
        Event(
            key=i,
            pos=i,
            event_id=f"e{i}",
            stream="s",
            type="Step",
            recorded_us=i,
            causation_id=f"e{max(i - 1, 0)}",
            correlation_id="e0",
        )
        for i in range(1200)
    ]
    w = open_window(qtbot, settings, make_session(events))
    panel = shown(qtbot, w)
    nav, model = w.navigator, panel.model
    nav.go_to(0)
    index, depth = model.current_index(), 0
    while model.rowCount(index):
        index, depth = model.index(0, 0, index), depth + 1
    assert depth == 500 and index.data() == "… 1 more effect"  # @1..@499, then a note
    nav.go_to(1199)
    causes = model.index(0, 0)
    assert causes.data() == "Causes (1000+)"
    assert model.index(0, 0, causes).data() == "… the chain goes on above @199"
    assert model.index(1, 0, causes).data() == "@199"
    assert "1,000 causes · 0 effects · 1,200 correlated" in panel.status.text()
    correlated = model.index(2, 0)
    assert correlated.data() == "Correlated (1,200, in time order)"
    assert model.index(0, 0, correlated).data() == "… 700 earlier"
