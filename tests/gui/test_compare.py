"""Comparing branches in the window: side-by-side states with the right differences, the
event alignment and its first divergence, the metric chart against the engine's values, and
the exports (compare report, corrected log, compensating events) read back."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from PySide6.QtCore import QModelIndex, QPointF, QSettings, Qt
from PySide6.QtWidgets import QFileDialog

from app import gui as app_gui
from app.compare import DROPPED_B
from app.compensate import CORRECTION_TYPE
from app.metrics import extract
from app.qt_compare import RowRole
from app.qt_models import ChangeRole, StateTreeModel
from app.session import open_session
from models.generator import GeneratedLog, generate
from replay_engine.diff import equal, format_path
from tests.gui.branching import fork_from_menu, idle, open_window, select
from tests.gui.shop import make_session
from views.main_window import MainWindow


@pytest.fixture
def forked(qtbot: Any, settings: QSettings) -> MainWindow:
    """The retried charge and its debit dropped in a branch "fix" of the shop."""
    w = open_window(qtbot, settings, make_session())
    fork_from_menu(qtbot, w, 4, "fix")
    for row in (4, 5):
        select(qtbot, w, row)
        qtbot.keyClick(w.table, Qt.Key.Key_Delete)
        idle(qtbot, w)
    return w


def _open_compare(qtbot: Any, w: MainWindow) -> None:
    with qtbot.waitSignal(w.compare.computed, timeout=10_000):
        qtbot.keyClick(w.table, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    idle(qtbot, w)


def _changed_paths(model: StateTreeModel, parent: QModelIndex | None = None) -> dict[str, Any]:
    """Every path the tree marks, with its mark, listing children the way a view does."""
    parent = parent or QModelIndex()
    out: dict[str, Any] = {}
    if model.canFetchMore(parent):
        model.fetchMore(parent)
    for r in range(model.rowCount(parent)):
        index = model.index(r, 0, parent)
        change = index.data(ChangeRole)
        path = model.path_at(index)
        if change is not None:
            out[format_path(path)] = change
        out.update(_changed_paths(model, index))
    return out


def test_the_compare_view_shows_exactly_the_differences(forked: MainWindow, qtbot: Any) -> None:
    w = forked
    _open_compare(qtbot, w)
    c = w.compare
    assert (c.a_branch.currentText(), c.b_branch.currentText()) == ("main", "fix")
    engine = w.navigator.engine
    end_a, end_b = engine.row_count("main") - 1, engine.row_count("fix") - 1
    want = {format_path(ch.path): ch.change for ch in engine.diff("main", end_a, "fix", end_b)}
    assert "cust-1.data.balance" in want and "pay-1.data.retry" in want
    for model in (c.model_a, c.model_b):  # both sides mark each path the same way
        assert _changed_paths(model) == want
    assert [c.model_b.index(r, 0).data() for r in range(c.model_b.rowCount())] == [
        "cust-1",
        "pay-1",
    ]
    balance_b = c.model_b.index_of_path(("cust-1", "data", "balance"))
    assert c.model_b.index(balance_b.row(), StateTreeModel.VALUE, balance_b.parent()).data() == "60"
    assert (
        c.model_b.index(balance_b.row(), StateTreeModel.PREVIOUS, balance_b.parent()).data() == "20"
    )
    balance_a = c.model_a.index_of_path(("cust-1", "data", "balance"))
    assert c.model_a.index(balance_a.row(), StateTreeModel.VALUE, balance_a.parent()).data() == "20"
    # The retry flag exists only in A: present on the left, struck out on the right.
    retry_b = c.model_b.index_of_path(("pay-1", "data", "retry"))
    assert retry_b.data(ChangeRole) == "removed"
    assert retry_b.data(Qt.ItemDataRole.FontRole).strikeOut()
    retry_a = c.model_a.index_of_path(("pay-1", "data", "retry"))
    assert retry_a.data(ChangeRole) == "removed" and retry_a.data(Qt.ItemDataRole.FontRole) is None
    assert "first divergent event @4" in c.summary.text()
    assert c.summary.text().startswith(f"{len(want)} differences in 2 entities")

    # Everything, then synchronised expansion
    c.only.setChecked(False)
    keys = [c.model_a.index(r, 0).data() for r in range(c.model_a.rowCount())]
    assert keys == list(engine.end_state("main"))
    order_a = c.model_a.index_of_path(("order-1",))
    c.tree_a.expand(order_a)
    order_b = c.model_b.index_of_path(("order-1",))
    assert c.tree_b.isExpanded(order_b)
    c.tree_a.collapse(order_a)
    assert not c.tree_b.isExpanded(c.model_b.index_of_path(("order-1",)))
    # ...and synchronised scrolling: the same entity at the top of both sides
    c.tabs.setCurrentIndex(0)
    c.tree_a.resize(300, 80)
    c.tree_b.resize(300, 80)
    for r in range(c.model_a.rowCount()):
        c.tree_a.expand(c.model_a.index(r, 0))
    bar = c.tree_a.verticalScrollBar()
    assert bar.maximum() > 0
    bar.setValue(bar.maximum())

    def top(tree: Any) -> Any:
        return tree.tree_model.path_at(tree.indexAt(tree.viewport().rect().topLeft()))

    assert top(c.tree_a) == top(c.tree_b) != ("cust-1",)


def test_event_alignment_and_the_first_divergent_event(forked: MainWindow, qtbot: Any) -> None:
    w = forked
    _open_compare(qtbot, w)
    c = w.compare
    c.tabs.setCurrentIndex(1)
    model = c.alignment_model
    assert model.rowCount() == 2
    assert [model.index(r, model.EVENT).data() for r in range(2)] == ["@4", "@5"]
    al = model.alignment
    assert al is not None and all(al.status[model.entry(r)] & DROPPED_B for r in range(2))
    assert model.index(0, model.DIFF).data().startswith("⚑ first divergence")
    c.events_only.setChecked(False)
    assert model.rowCount() == 20
    w.navigator.go_to(15)
    qtbot.mouseClick(c.jump_button, Qt.MouseButton.LeftButton)
    assert w.navigator.row == 4
    assert model.index(c.events.currentIndex().row(), 0).data(RowRole) == al.first_divergence
    # a double click on an event of the alignment jumps there
    index = model.index(9, model.EVENT)
    c.events.doubleClicked.emit(index)
    assert w.navigator.row == 9


def test_following_the_cursor_compares_after_the_same_event(forked: MainWindow, qtbot: Any) -> None:
    w = forked
    _open_compare(qtbot, w)
    c = w.compare
    w.navigator.go_to(3)
    with qtbot.waitSignal(c.computed, timeout=10_000):
        c.follow.setChecked(True)
    assert c.result is not None and (c.result.a.row, c.result.b.row) == (3, 3)
    assert c.result.changes == [] and "equal" in c.summary.text()
    with qtbot.waitSignal(c.computed, timeout=10_000):
        w.navigator.go_to(5)
    paths = {format_path(ch.path) for ch in c.result.changes}
    assert "cust-1.data.balance" in paths
    idle(qtbot, w)


def test_the_chart_plots_the_engines_values_and_moves_the_cursor(
    forked: MainWindow, qtbot: Any
) -> None:
    w = forked
    chart = w.chart
    with qtbot.waitSignal(chart.computed, timeout=10_000):
        w.inspector.plotRequested.emit("cust-1.data.balance")
    idle(qtbot, w)
    assert w.chart_dock.isVisible()
    assert chart.checked_branches() == ["fix", "main"]
    engine = w.navigator.engine
    for branch in ("fix", "main"):
        s = chart.series[branch]
        rows = np.arange(-1, engine.row_count(branch))
        got = s.at(rows)
        for row, value in zip(rows.tolist(), got.tolist(), strict=True):
            state = engine.state_at(branch, row)
            want = state["cust-1"]["data"]["balance"] if "cust-1" in state else math.nan
            assert (math.isnan(value) and math.isnan(want)) or value == want, (branch, row)
        xs, ys = chart.line_data(branch)
        assert xs[-1] == engine.row_count(branch) - 1 and ys[-1] == s.end_value
    assert chart.divergences == {"main": 5.0}  # the second debit
    assert "fix and main part after @5" in chart.info.text()
    # the values tab, branch by branch
    w.navigator.go_to(6)
    values = chart.values_model.values()
    assert [(v.branch, v.at_cursor, v.at_end) for v in values] == [
        ("fix", 60, 60),
        ("main", 20, 20),
    ]
    assert chart.values_model.index(1, 3).data() == "-40"
    # any number of branches, branch by branch
    w.branch_ctl.fork("alt", "main", 0)
    idle(qtbot, w)
    w.branch_ctl.switch("fix")
    idle(qtbot, w)
    with qtbot.waitSignal(chart.computed, timeout=10_000):
        chart.set_branches(["fix", "main", "alt"])
    idle(qtbot, w)
    assert [v.branch for v in chart.values_model.values()] == ["fix", "main", "alt"]
    assert chart.values_model.values()[2].at_end == 20
    w.navigator.go_to(6)
    # a click on the chart moves the cursor to that event
    vb = chart.plot.getPlotItem().getViewBox()
    scene = vb.mapViewToScene(QPointF(12.2, 40))
    pos = chart.plot.mapFromScene(scene)
    qtbot.mouseClick(chart.plot.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert w.navigator.row == 12
    assert chart.cursor_line.value() == 12
    # an aggregate over every customer
    with qtbot.waitSignal(chart.computed, timeout=10_000):
        chart.set_metric("sum(cust-*.data.balance)")
    idle(qtbot, w)
    for branch in ("fix", "main"):
        end = engine.end_state(branch)
        total = sum(
            v for k, sub in end.items() if k.startswith("cust-")
            for v in [extract(sub, ["data", "balance"])] if isinstance(v, int)
        )  # fmt: skip
        assert chart.series[branch].end_value == total
    # a typo is explained, not raised
    chart.metric_edit.setText("nope.data")
    chart.request()
    assert "No entity 'nope'" in chart.info.text()


def _save_through(qtbot: Any, dialog: QFileDialog | None, path: Path) -> None:
    assert dialog is not None and dialog.isVisible()
    dialog.selectFile(str(path))
    dialog.accept()


@pytest.mark.parametrize("suffix", [".md", ".html", ".json"])
def test_the_compare_report_is_exported(
    forked: MainWindow, qtbot: Any, tmp_path: Path, suffix: str
) -> None:
    w = forked
    _open_compare(qtbot, w)
    qtbot.mouseClick(w.compare.export_button, Qt.MouseButton.LeftButton)
    out = tmp_path / f"report{suffix}"
    _save_through(qtbot, w.compare.save_dialog, out)
    text = out.read_text(encoding="utf-8")
    if suffix == ".json":
        data = orjson.loads(text)
        assert data["first_divergence"]["key"] == "@4"
        assert {c["path"] for c in data["changes"]} >= {"cust-1.data.balance"}
        assert data["alignment"]["differing"] == 2
    else:
        assert "@4" in text and "cust-1.data.balance" in text


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GeneratedLog]:
    path = tmp_path_factory.mktemp("logs") / "shop.jsonl"
    return path, generate(path, events=900, seed=5)


def test_the_demo_story_fork_drop_compare_chart_and_merge_back(
    qtbot: Any, settings: QSettings, tmp_path: Path, demo: tuple[Path, GeneratedLog]
) -> None:
    """Fork at the planted bug, drop the duplicate charge and debit, compare with main —
    the balance lines part at the bug — then export the corrected log and the compensating
    event, and read both back."""
    log, summary = demo
    bug = summary.double_charge
    assert bug is not None
    opener = app_gui.default_opener(str(tmp_path / "ws.sqlite"))
    w = open_window(qtbot, settings, None, opener)
    with qtbot.waitSignal(w.importFinished, timeout=30_000):
        w.open_path(log)
    idle(qtbot, w)
    charge, debit = bug.charge_positions[1], bug.debit_positions[1]
    w.navigator.go_to(charge)
    fork_from_menu(qtbot, w, charge, "fix-double-charge")
    for pos in (charge, debit):
        select(qtbot, w, w.navigator.row_of_key(pos) or 0)
        qtbot.keyClick(w.table, Qt.Key.Key_Delete)
        idle(qtbot, w)

    _open_compare(qtbot, w)
    paths = {format_path(c.path) for c in w.compare.result.changes}  # type: ignore[union-attr]
    assert f"{bug.customer}.data.balance" in paths
    assert f"@{charge}" in w.compare.summary.text()

    with qtbot.waitSignal(w.chart.computed, timeout=10_000):
        w.inspector.plotRequested.emit(f"{bug.customer}.data.balance")
    idle(qtbot, w)
    assert w.chart.divergences == {"main": float(debit)}  # the lines part at the bug
    fix_end = w.chart.series["fix-double-charge"].end_value
    assert (
        fix_end == bug.expected_balance and w.chart.series["main"].end_value == bug.logged_balance
    )

    # Merge back: the corrected log...
    w.branch_actions.export_branch.trigger()
    out = tmp_path / "fixed.jsonl"
    _save_through(qtbot, w.branch_actions.export_dialog, out)
    idle(qtbot, w)
    assert "2 dropped" in w.message_bar.text()
    assert f"@{charge}" in (tmp_path / "fixed.jsonl.report.md").read_text(encoding="utf-8")
    # ...and the compensating event
    w.branch_actions.export_compensation.trigger()
    dialog = w.branch_actions.compensation_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.compensation is not None, timeout=10_000)
    assert f'"balance": {bug.expected_balance}' in dialog.preview.toPlainText()
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    comp = tmp_path / "compensation.jsonl"
    _save_through(qtbot, dialog.save_dialog, comp)
    records = [orjson.loads(line) for line in comp.read_bytes().splitlines()]
    assert [(r["stream"], r["type"], r["data"]) for r in records] == [
        (bug.customer, CORRECTION_TYPE, {"balance": bug.expected_balance})
    ]
    dialog.close()
    branch_end = dict(w.navigator.engine.end_state("fix-double-charge"))
    w.close()

    fixed = open_session(out, workspace=tmp_path / "fixed.sqlite")
    patched = tmp_path / "patched.jsonl"
    patched.write_bytes(log.read_bytes() + comp.read_bytes())
    live = open_session(patched, workspace=tmp_path / "patched.sqlite")
    try:
        assert equal(dict(fixed.engine.end_state("main")), branch_end)
        replayed = live.engine.end_state("main")
        assert set(replayed) == set(branch_end)
        assert all(equal(replayed[k]["data"], v["data"]) for k, v in branch_end.items())
    finally:
        fixed.close()
        live.close()


def test_compare_models_pass_the_model_tester(
    forked: MainWindow, qtbot: Any, qtmodeltester: Any
) -> None:
    w = forked
    _open_compare(qtbot, w)
    with qtbot.waitSignal(w.chart.computed, timeout=10_000):
        w.chart.set_active(True)
        w.chart.set_metric("cust-1.data.balance")
    idle(qtbot, w)
    for model in (w.compare.model_a, w.compare.model_b, w.compare.alignment_model):
        qtmodeltester.check(model)
    w.compare.only.setChecked(False)
    qtmodeltester.check(w.compare.model_b)
    qtmodeltester.check(w.chart.values_model)
