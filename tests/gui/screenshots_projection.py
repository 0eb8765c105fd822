"""Screenshots of the demo shop's own projection for the README (run on demand, under Xvfb):

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python -m tests.gui.screenshots_projection

Opens the bundled demo log, loads resources/demo/shop_projection.py the way File > Open
projection… does, and saves docs/screenshots/projection-*.png: a payment charged after the
fee rule changed (the inspector names the rule version), and an order whose payload the
projection upcasts (the event detail shows both).
"""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.gui.screenshots import demo_window, save


def main() -> None:
    app, w, out = demo_window(projection=True)
    session = w.session
    assert session is not None
    log = session.log
    boundary = next(
        r
        for r in range(len(log))
        if log.event(r).type == "PaymentCharged" and log.event(r).recorded_us is not None
        and log.event(r).recorded_at.isoformat() >= "2025-03-05"  # type: ignore[union-attr]
    )  # fmt: skip
    w.navigator.go_to(boundary)
    w.inspector.filter.setText(log.event(boundary).stream)
    w.inspector.filter.returnPressed.emit()
    w.activateWindow()
    w.table.setFocus()
    save(app, w, out / "projection-rule.png")
    w.inspector.filter.clear()
    w.inspector.filter.returnPressed.emit()
    order = next(r for r in range(len(log)) if log.event(r).type == "OrderPlaced")
    w.navigator.go_to(order)
    w.detail.tabs.setCurrentIndex(w.detail.versions_tab)
    w.resizeDocks([w.state_dock, w.detail_dock], [260, 640], Qt.Orientation.Vertical)
    save(app, w.detail_dock, out / "projection-upcast.png")
    w.close()
    app.processEvents()


if __name__ == "__main__":
    main()
