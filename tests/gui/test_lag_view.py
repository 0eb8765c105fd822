"""The Processing lag dock on the small shop log (processed 1.5 ms × (pos + 1) after each
recorded time)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings

from tests.gui.shop import make_session
from tests.gui.test_window import open_window


def test_lag_summary_plot_and_cursor(qtbot: Any, settings: QSettings) -> None:
    w = open_window(qtbot, settings, make_session())
    panel = w.lag_panel
    assert panel.lag is None  # nothing computed while the dock is hidden
    w.lag_dock.show()
    qtbot.waitUntil(lambda: panel.lag is not None)
    assert panel.lag is not None and panel.lag.lag_us.tolist() == [
        1500 * (p + 1) for p in range(20)
    ]
    assert "p50" in panel.summary.text() and "0 events processed out of recorded order" in (
        panel.summary.text()
    )
    x, y = panel.curves[50].getData()
    assert len(x) > 0 and max(y) <= 0.03
    w.navigator.go_to(3)
    assert "@3" in panel.at_cursor.text() and "+6.0 ms" in panel.at_cursor.text()


def test_read_sides_at_the_cursor(qtbot: Any, settings: QSettings) -> None:
    from models.event import Event
    from tests.gui.shop import shop_events

    events = shop_events()
    for pos, position in ((9, 4), (15, 12)):
        e = events[pos]
        events[pos] = Event(
            key=pos, pos=pos, event_id=e.event_id, stream="$checkpoints",
            type="CheckpointSaved", recorded_us=e.recorded_us, processed_us=e.processed_us,
            data={"consumer": "orders-view", "position": position},
        )  # fmt: skip
    w = open_window(qtbot, settings, make_session(events))
    w.lag_dock.show()
    panel = w.lag_panel
    qtbot.waitUntil(lambda: panel.lag is not None)
    w.navigator.go_to(17)
    item = panel.read_sides.topLevelItem(0)
    assert item is not None and item.text(0) == "orders-view"
    assert (item.text(1), item.text(2)) == ("@12", "5 events")
    w.navigator.go_to(10)
    assert panel.read_sides.topLevelItem(0).text(2) == "6 events"
    panel.read_sides.itemActivated.emit(panel.read_sides.topLevelItem(0), 0)
    assert w.navigator.row == 4
