"""Parallel systems in the window, driven like a user: fork from the context menu, drop,
edit (invalid JSON first), insert, move by drag, revert, undo and redo from the keyboard and
the history list, rename / note / archive, and reopening finds everything again."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from PySide6.QtCore import QModelIndex, QPointF, QSettings, Qt
from PySide6.QtWidgets import QApplication

from app import gui as app_gui
from app.qt_models import EventTableModel, MarkRole
from app.session import Session
from models.event import Event, format_us
from models.log import MemoryLog
from replay_engine.engine import Engine
from replay_engine.generic import GenericProjection
from tests.gui.branching import (
    drag_row,
    focus_table,
    fork_from_menu,
    idle,
    menu_action,
    open_window,
    right_click_row,
    row_keys,
    select,
)
from tests.gui.shop import make_session, shop_events
from views.main_window import MainWindow


@pytest.fixture
def window(qtbot: Any, settings: QSettings) -> MainWindow:
    return open_window(qtbot, settings, make_session())


def _cell(w: MainWindow, row: int, col: int, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
    return w.table.event_model.index(row, col).data(role)


def _balance(w: MainWindow, row: int) -> Any:
    return w.navigator.engine.state_at(w.navigator.branch, row)["cust-1"]["data"]["balance"]


def _inspector_value(w: MainWindow, *path: str) -> str:
    model = w.inspector.model
    index = model.index_of_path(path)
    assert index.isValid(), path
    return str(model.index(index.row(), 1, index.parent()).data())


def _history(w: MainWindow) -> list[str]:
    return w.branch_panel.history_model.labels()


def test_fork_from_the_context_menu_at_the_retried_charge(window: MainWindow, qtbot: Any) -> None:
    w = window
    menu = right_click_row(w, 4)
    drop = menu_action(menu, "Drop")
    assert not drop.isEnabled()  # main is the log itself
    menu.close()
    fork_from_menu(qtbot, w, 4, "fix")
    info = w.navigator.engine.branch("fix")
    assert (info.parent, info.fork_at) == ("main", 3)  # before @4: @4 can be changed
    assert w.branch_panel.model.names() == ["main", "fix"]
    tree = w.branch_panel.tree
    assert tree.currentIndex().data() == "fix"
    assert _history(w) == ["Forked from main after @3"]
    assert len(w.timeline._fork_lines) == 1
    assert w.navigator.branch == "fix"
    # one click on main in the panel switches the whole window back, on the same event
    w.navigator.go_to(5)
    main_index = w.branch_panel.model.index_of("main")
    qtbot.mouseClick(
        tree.viewport(), Qt.MouseButton.LeftButton, pos=tree.visualRect(main_index).center()
    )
    qtbot.waitUntil(lambda: w.navigator.branch == "main")
    assert w.navigator.row == 5
    assert w.timeline._fork_lines == []


def test_drop_restore_undo_redo_and_the_history_list(window: MainWindow, qtbot: Any) -> None:
    w = window
    fork_from_menu(qtbot, w, 4, "fix")
    for row in (4, 5):
        select(qtbot, w, row)
        qtbot.keyClick(w.table, Qt.Key.Key_Delete)
        idle(qtbot, w)
    assert [bool(d) for d in w.navigator.rows.dropped[3:7]] == [False, True, True, False]
    font = _cell(w, 4, EventTableModel.TYPE, Qt.ItemDataRole.FontRole)
    assert font is not None and font.strikeOut()
    assert _cell(w, 5, 0, MarkRole) == ["dropped"]
    icon = _cell(w, 5, EventTableModel.POS, Qt.ItemDataRole.DecorationRole)
    assert icon is not None and not icon.isNull()
    assert _cell(w, 6, EventTableModel.POS, Qt.ItemDataRole.DecorationRole) is None
    assert w.timeline.edit_marks_count == 2
    assert _history(w) == ["Forked from main after @3", "Drop @4", "Drop @5"]
    w.navigator.go_to(6)
    idle(qtbot, w)
    assert _inspector_value(w, "cust-1", "data", "balance") == "60"  # the second debit is gone

    qtbot.keyClick(w.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    idle(qtbot, w)
    assert not w.navigator.rows.dropped[5]
    assert _inspector_value(w, "cust-1", "data", "balance") == "20"
    qtbot.keyClick(
        w.table,
        Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    idle(qtbot, w)
    assert w.navigator.rows.dropped[5]
    # Back to just after the first drop from the history list; then forward again.
    history = w.branch_panel.history
    model = w.branch_panel.history_model
    qtbot.mouseClick(
        history.viewport(),
        Qt.MouseButton.LeftButton,
        pos=history.visualRect(model.index(1, 0)).center(),
    )
    idle(qtbot, w)
    assert model.point == 1
    assert [bool(d) for d in w.navigator.rows.dropped[4:6]] == [True, False]
    undone = model.index(2, 0)
    assert undone.data(Qt.ItemDataRole.FontRole).italic()
    qtbot.mouseClick(
        history.viewport(), Qt.MouseButton.LeftButton, pos=history.visualRect(undone).center()
    )
    idle(qtbot, w)
    assert model.point == 2 and w.navigator.rows.dropped[5]
    # Delete on a dropped event restores it
    select(qtbot, w, 4)
    qtbot.keyClick(w.table, Qt.Key.Key_Delete)
    idle(qtbot, w)
    assert not w.navigator.rows.dropped[4]
    assert _history(w)[-1] == "Restore @4"


def test_edit_refuses_invalid_json_then_shows_the_original_beside_the_new_version(
    window: MainWindow, qtbot: Any
) -> None:
    w = window
    fork_from_menu(qtbot, w, 4, "fix")
    # @3 is the fork point: shared with main, the dialog says so and stays open
    select(qtbot, w, 3)
    qtbot.keyClick(w.table, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    dialog = w.branch_actions.edit_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.data_editor.text.setPlainText('{"balance": 65}')
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "fork point" in dialog.error.text()
    dialog.reject()

    select(qtbot, w, 5)
    qtbot.keyClick(w.table, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    dialog = w.branch_actions.edit_dialog
    assert dialog is not None and dialog.isVisible()
    editor = dialog.data_editor
    editor.text.selectAll()
    qtbot.keyClicks(editor.text, '{"balance": 60,')
    assert not editor.is_valid()
    assert editor.status.text().startswith("✗ Line 1, column 16")
    assert not dialog.ok_button.isEnabled()
    assert "Data: Line 1" in dialog.error.text()
    qtbot.keyClicks(editor.text, ' "note": "one debit only"}')
    assert editor.is_valid() and dialog.ok_button.isEnabled()
    dialog.meta_editor.text.setPlainText("[1, 2]")  # metadata must stay an object
    assert not dialog.ok_button.isEnabled()
    assert "Metadata: Must be a JSON object" in dialog.error.text()
    dialog.meta_editor.text.setPlainText('{"source": "tests"}')
    assert dialog.ok_button.isEnabled()
    assert dialog.changes() == {"data": {"balance": 60, "note": "one debit only"}}
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    idle(qtbot, w)
    assert not dialog.isVisible()
    assert not w.message_bar.isVisible(), w.message_bar.text()
    summary = _cell(w, 5, EventTableModel.SUMMARY)
    assert summary.startswith("✎ balance=60  note=one debit only")
    assert "was: balance=20" in summary
    assert _cell(w, 5, 0, MarkRole) == ["edited"]
    w.navigator.go_to(5)
    idle(qtbot, w)
    assert "edited in fix" in w.detail.heading.text()
    assert w.detail.tabs.isTabEnabled(w.detail.versions_tab)
    left = w.detail.original_json.toPlainText().splitlines()
    right = w.detail.edited_json.toPlainText().splitlines()
    marked_left, marked_right = w.detail.changed_lines
    assert [left[i].strip() for i in marked_left] == ['"balance": 20']
    assert [right[i].strip() for i in marked_right] == [
        '"balance": 60,',
        '"note": "one debit only"',
    ]
    assert _inspector_value(w, "cust-1", "data", "note") == '"one debit only"'
    # the type too, and the table says what it was
    select(qtbot, w, 4)
    qtbot.keyClick(w.table, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    dialog = w.branch_actions.edit_dialog
    assert dialog is not None
    dialog.type_edit.setText("PaymentRetried")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    idle(qtbot, w)
    assert _cell(w, 4, EventTableModel.TYPE) == "PaymentRetried (was PaymentCharged)"


def test_insert_with_a_time_between_its_neighbours(window: MainWindow, qtbot: Any) -> None:
    w = window
    fork_from_menu(qtbot, w, 4, "fix")
    select(qtbot, w, 5)
    qtbot.keyClick(w.table, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    dialog = w.branch_actions.insert_dialog
    assert dialog is not None and dialog.isVisible()
    events = shop_events()
    middle = (events[5].recorded_us + events[6].recorded_us) // 2  # type: ignore[operator]
    assert dialog.recorded_edit.text() == format_us(middle)
    dialog.before.setChecked(True)
    middle_before = (events[4].recorded_us + events[5].recorded_us) // 2  # type: ignore[operator]
    assert dialog.recorded_edit.text() == format_us(middle_before)
    dialog.after.setChecked(True)
    assert not dialog.ok_button.isEnabled()  # no type yet
    qtbot.keyClicks(dialog.type_edit, "BalanceCredited")
    dialog.data_editor.text.setPlainText('{"balance": 60, "amount": 40}')
    dialog.recorded_edit.setText("not a time")
    assert not dialog.ok_button.isEnabled() and "Recorded at" in dialog.error.text()
    dialog.recorded_edit.setText(format_us(middle))
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    idle(qtbot, w)
    assert w.navigator.count == len(events) + 1
    assert _cell(w, 6, EventTableModel.POS) == "@+1"
    assert _cell(w, 6, EventTableModel.TYPE) == "BalanceCredited"
    assert _cell(w, 6, 0, MarkRole) == ["inserted"]
    assert _cell(w, 6, EventTableModel.RECORDED).startswith("2025-03-03")
    assert _balance(w, 6) == 60
    assert "(inserted)" in w.timeline.lay.lane_names  # type: ignore[union-attr]


def test_move_by_drag_and_with_the_keyboard(window: MainWindow, qtbot: Any) -> None:
    w = window
    fork_from_menu(qtbot, w, 4, "fix")
    before = row_keys(w)
    drag_row(w, 6, 8)  # OrderShipped dropped on the lower half of row 8: after it
    idle(qtbot, w)
    keys = row_keys(w)
    assert keys[:6] == before[:6] and keys[6:9] == [7, 8, 6]
    assert _cell(w, 8, 0, MarkRole) == ["moved"]
    select(qtbot, w, 8)
    qtbot.keyClick(w.table, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    idle(qtbot, w)
    assert row_keys(w)[6:9] == [7, 6, 8]
    qtbot.keyClick(w.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(w.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    idle(qtbot, w)
    assert row_keys(w) == before
    assert w.branch_panel.history_model.point == 0  # both moves undone, still redoable
    assert _history(w)[1:] == ["Move @6 after @8", "Move @6 after @7"]
    # dropping a row onto itself changes nothing
    drag_row(w, 6, 6, below=False)
    idle(qtbot, w)
    assert row_keys(w) == before and len(_history(w)) == 3


def test_revert_to_here_is_one_step(window: MainWindow, qtbot: Any) -> None:
    w = window
    fork_from_menu(qtbot, w, 4, "fix")
    menu = right_click_row(w, 9)
    menu_action(menu, "Revert to here").trigger()
    menu.close()
    idle(qtbot, w)
    focus_table(qtbot, w)
    dropped = [bool(d) for d in w.navigator.rows.dropped]
    assert dropped == [False] * 10 + [True] * 10
    assert _history(w) == ["Forked from main after @3", "Revert to @9 (10 events dropped)"]
    qtbot.keyClick(w.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    idle(qtbot, w)
    assert not any(w.navigator.rows.dropped)


def test_main_is_never_edited(window: MainWindow, qtbot: Any) -> None:
    w = window
    select(qtbot, w, 4)
    w.branch_actions.toggle_drop()
    assert w.message_bar.isVisible()
    assert "main is the log itself" in w.message_bar.text()
    assert not any(w.navigator.rows.dropped)
    assert not w.branch_actions.undo.isEnabled()


def test_rename_note_and_archive_from_the_panel(window: MainWindow, qtbot: Any) -> None:
    w = window
    fork_from_menu(qtbot, w, 4, "fix")
    panel = w.branch_panel
    panel.rename_action.trigger()
    dialog = panel.rename_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.setTextValue("fix-double-charge")
    dialog.accept()
    idle(qtbot, w)
    assert w.navigator.branch == "fix-double-charge"
    assert panel.model.names() == ["main", "fix-double-charge"]
    panel.note_action.trigger()
    note = panel.note_dialog
    assert note is not None
    note.setTextValue("drop the retried charge")
    note.accept()
    idle(qtbot, w)
    index = panel.model.index_of("fix-double-charge", panel.model.NOTE)
    assert index.data() == "drop the retried charge"
    panel.archive_action.trigger()
    idle(qtbot, w)
    assert w.navigator.branch == "main"  # the archived branch is left for its parent
    assert panel.model.names() == ["main"]
    panel.show_archived.setChecked(True)
    assert panel.model.names() == ["main", "fix-double-charge"]
    index = panel.model.index_of("fix-double-charge")
    assert index.data(Qt.ItemDataRole.FontRole).italic()


def _write_log(path: Path) -> Path:
    lines = []
    for e in shop_events():
        rec = {
            "id": e.event_id,
            "stream": e.stream,
            "type": e.type,
            "recorded_at": format_us(e.recorded_us),
            "data": e.data,
        }
        lines.append(orjson.dumps(rec))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _open_file(qtbot: Any, w: MainWindow, path: Path) -> None:
    with qtbot.waitSignal(w.importFinished, timeout=20_000) as blocker:
        w.open_path(path)
    assert blocker.args == ["opened"]
    idle(qtbot, w)
    focus_table(qtbot, w)


def test_reopening_finds_the_branches_edits_and_history(
    qtbot: Any, settings: QSettings, tmp_path: Path
) -> None:
    log = _write_log(tmp_path / "shop.jsonl")
    opener = app_gui.default_opener(str(tmp_path / "ws.sqlite"))
    w = open_window(qtbot, settings, None, opener)
    _open_file(qtbot, w, log)
    fork_from_menu(qtbot, w, 4, "fix")
    for row in (4, 5):
        select(qtbot, w, row)
        qtbot.keyClick(w.table, Qt.Key.Key_Delete)
        idle(qtbot, w)
    qtbot.keyClick(w.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    idle(qtbot, w)
    w.close()

    w2 = open_window(
        qtbot, QSettings(settings.fileName(), QSettings.Format.IniFormat), None, opener
    )
    _open_file(qtbot, w2, log)
    assert w2.navigator.branch == "fix"  # where the user left this log
    assert w2.branch_panel.model.names() == ["main", "fix"]
    assert _history(w2) == ["Forked from main after @3", "Drop @4", "Drop @5"]
    assert w2.branch_panel.history_model.point == 1
    assert [bool(d) for d in w2.navigator.rows.dropped[4:6]] == [True, False]
    assert w2.branch_actions.redo.isEnabled()
    qtbot.keyClick(
        w2.table,
        Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    idle(qtbot, w2)
    assert w2.navigator.rows.dropped[5]
    w2.close()


def test_branch_models_pass_the_model_tester(
    window: MainWindow, qtbot: Any, qtmodeltester: Any
) -> None:
    w = window
    fork_from_menu(qtbot, w, 4, "fix")
    select(qtbot, w, 5)
    qtbot.keyClick(w.table, Qt.Key.Key_Delete)
    idle(qtbot, w)
    fork_from_menu(qtbot, w, 8, "deeper")
    assert w.branch_panel.model.names() == ["main", "fix", "deeper"]
    deeper = w.branch_panel.model.index_of("deeper")
    assert deeper.parent().data() == "fix"
    qtmodeltester.check(w.branch_panel.model)
    qtmodeltester.check(w.branch_panel.history_model)
    qtmodeltester.check(w.table.event_model)
    assert w.branch_panel.model.rowCount(QModelIndex()) == 1
    QApplication.processEvents()


class GatedProjection(GenericProjection):
    """The generic fold as a plain (non-keyed) projection, so a replay after an edit folds
    thousands of events; it can hold the worker at one event until the test lets it go."""

    name = "gated"

    def __init__(self) -> None:
        self.gate: threading.Event | None = None
        self.reached = threading.Event()

    def apply(self, state: Any, event: Any) -> Any:
        gate = self.gate
        if gate is not None and event.key == 100:
            self.gate = None
            self.reached.set()
            gate.wait(10)
        return super().apply(state, event)


def test_a_long_replay_after_an_edit_runs_in_the_background_and_can_be_cancelled(
    qtbot: Any, settings: QSettings
) -> None:
    n = 20_000
    events = [
        Event(key=i, pos=i, event_id=f"e{i}", stream=f"s-{i % 50}", type="T", data={"i": i})
        for i in range(n)
    ]
    projection = GatedProjection()
    log = MemoryLog(events)
    session = Session(name="big", log=log, engine=Engine(log, projection, keyed=False))
    w = open_window(qtbot, settings, session)
    fork_from_menu(qtbot, w, 1, "b")
    w.navigator.go_to(n - 1)
    progress: list[tuple[int, int]] = []
    w.engine_queue.progress.connect(lambda _label, done, total: progress.append((done, total)))

    select(qtbot, w, 1)
    qtbot.keyClick(w.table, Qt.Key.Key_Delete)
    assert w.navigator.busy  # the replay runs in the worker...
    assert w.inspector.title.text().startswith("Replaying")
    assert not w.inspector.tree.isEnabled()
    idle(qtbot, w)  # ...and the state shows when it is done
    assert any(total > 10_000 and 0 < done <= total for done, total in progress), progress
    assert w.inspector.title.text().startswith(f"State after @{n - 1}")
    assert w.inspector.tree.isEnabled()
    assert w.navigator.row == n - 1

    gate = threading.Event()
    projection.gate = gate
    select(qtbot, w, 2)
    qtbot.keyClick(w.table, Qt.Key.Key_Delete)
    try:
        qtbot.waitUntil(projection.reached.is_set)
        qtbot.waitUntil(w.engine_cancel.isVisible)  # long enough to show progress
        assert "Replaying b" in w.engine_label.text()
        qtbot.mouseClick(w.engine_cancel, Qt.MouseButton.LeftButton)
    finally:
        gate.set()
    idle(qtbot, w)
    assert not w.engine_cancel.isVisible()
    assert "cancelled" in w.inspector.title.text()
    assert w.navigator.rows.dropped[2]  # the edit is kept
    w.navigator.go_to(n - 2)
    idle(qtbot, w)
    assert w.inspector.title.text().startswith(f"State after @{n - 2}")


def test_fork_from_the_timeline(window: MainWindow, qtbot: Any) -> None:
    w = window
    tl = w.timeline
    lay = tl.lay
    assert lay is not None
    x, lane = lay.x_of_row(6), float(lay.lane[6])
    vb = tl.viewbox
    pos = tl.plot.mapFromScene(vb.mapViewToScene(QPointF(x, lane)))
    qtbot.mouseClick(tl.plot.viewport(), Qt.MouseButton.RightButton, pos=pos)
    menu = w.branch_actions.last_menu
    assert menu.isVisible()
    assert w.table.target_row() == 6
    menu_action(menu, "Fork here…").trigger()
    menu.close()
    dialog = w.branch_actions.fork_dialog
    assert dialog is not None and "@6 OrderShipped" in dialog.before.text()
    dialog.name_edit.setText("from-timeline")
    qtbot.mouseClick(
        dialog.buttons.button(dialog.buttons.StandardButton.Ok), Qt.MouseButton.LeftButton
    )
    qtbot.waitUntil(lambda: w.navigator.branch == "from-timeline")
    idle(qtbot, w)
    assert w.navigator.engine.branch("from-timeline").fork_at == 5


def test_state_keys_match_the_engine_in_an_edited_branch(window: MainWindow, qtbot: Any) -> None:
    """The inspector reuses the top-level keys between steps while the sequence has no
    dropped rows: inserts, moves and a changed stream must not break that."""
    w = window
    fork_from_menu(qtbot, w, 1, "b")
    ctl = w.branch_ctl
    ctl.insert(2, False, {"stream": "new-9", "type": "Opened", "data": {"x": 1}})
    idle(qtbot, w)
    ctl.move(10, 4)
    idle(qtbot, w)
    ctl.edit(12, {"stream": "order-7"})
    idle(qtbot, w)
    assert not w.navigator.rows.dropped.any()
    engine = w.navigator.engine
    for row in (20, 3, 0, 12, 8, 20, -1, 5, 11, 13):
        w.navigator.go_to(row)
        idle(qtbot, w)
        assert w.inspector.visible_keys() == list(engine.state_at("b", row)), row
    select(qtbot, w, 3)
    qtbot.keyClick(w.table, Qt.Key.Key_Delete)
    idle(qtbot, w)
    for row in (20, 2, 3, 15, 4):
        w.navigator.go_to(row)
        idle(qtbot, w)
        assert w.inspector.visible_keys() == list(engine.state_at("b", row)), row
