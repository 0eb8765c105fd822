"""Ctrl+F: the filter bar hides or dims the events that do not match, F3 steps through the
matches, a saved filter comes back."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings, Qt

from tests.gui.shop import make_session
from tests.gui.test_window import open_window


def test_filter_hide_dim_step_and_save(qtbot: Any, settings: QSettings, qtmodeltester: Any) -> None:
    w = open_window(qtbot, settings, make_session())
    bar, model, nav = w.filter_bar, w.table.event_model, w.navigator
    assert not bar.isVisible()
    qtbot.keyClick(w.table, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert bar.isVisible()
    bar.types.setText("Balance*, Payment*")
    bar.where.setText("data.amount > 30 || data.balance < 50")
    qtbot.keyClick(bar.where, Qt.Key.Key_Return)
    # PaymentCharged 40 at rows 2 and 4; BalanceDebited to 20 at row 5 (60 at row 3 is not)
    qtbot.waitUntil(lambda: bar.count.text() == "3 matches")
    assert bar.rows.tolist() == [2, 4, 5]
    assert model.rowCount() == 20  # dimmed, not hidden
    dimmed = model.index(0, 0).data(Qt.ItemDataRole.ForegroundRole)
    assert dimmed is not None and model.index(2, 0).data(Qt.ItemDataRole.ForegroundRole) is None
    bar.hide.setChecked(True)
    assert model.rowCount() == 3 and model.filtered
    qtmodeltester.check(model)
    assert [model.index(r, 0).data() for r in range(3)] == ["@2", "@4", "@5"]
    # jumps and the table map view rows to the navigator's rows
    nav.go_to(-1)
    qtbot.keyClick(w.table, Qt.Key.Key_F3)
    assert nav.row == 2
    qtbot.keyClick(w.table, Qt.Key.Key_F3)
    assert nav.row == 4
    qtbot.keyClick(w.table, Qt.Key.Key_F3, Qt.KeyboardModifier.ShiftModifier)
    assert nav.row == 2
    with qtbot.waitSignal(w.table.jumpRequested) as jumped:
        w.table.doubleClicked.emit(model.index(2, 0))
    assert jumped.args == [5]
    # saved with the log, applied again by name
    bar.save("big money")
    bar.clear()
    assert model.rowCount() == 20 and not model.filtered
    bar.types.clear()
    bar.where.clear()
    bar.saved.setCurrentIndex(bar.saved.findData("big money"))
    bar.saved.activated.emit(bar.saved.currentIndex())
    qtbot.waitUntil(lambda: bar.rows.tolist() == [2, 4, 5])
    assert bar.types.text() == "Balance*, Payment*"
    # a wrong query is reported, nothing else changes
    bar.where.setText("data.amount >")
    bar.apply()
    assert "column" in w.message_bar.text() and bar.rows.tolist() == [2, 4, 5]
