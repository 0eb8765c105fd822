"""Screenshots of breakpoints and watches for the README (run on demand, under Xvfb):

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python -m tests.gui.screenshots_debugging

Opens the bundled demo log with the demo shop projection, goes to the last event, adds the
watch ``charges > 1`` over every stream as a condition that breaks, and runs backward
(Shift+F5): the run stops at the payment charged twice. Saves docs/screenshots/debug-*.png.
"""

from __future__ import annotations

from PySide6.QtCore import Qt

from replay_engine.breakpoints import ANY, Breakpoint, Watch
from tests.gui.screenshots import demo_window, save, wait_until


def main() -> None:
    app, w, out = demo_window(projection=True)
    session = w.session
    assert session is not None
    debugger = w.debug_actions.debugger
    debugger.add_breakpoint(Breakpoint(type="PaymentRefunded", condition="amount > `20000`"))
    debugger.set_breakpoint_enabled(0, False)
    debugger.add_watch(Watch("charges > 1", ANY, breaks=True))
    debugger.add_watch(Watch("fee", ANY))
    w.debug_actions.watches_dock.show()
    w.debug_actions.watches_dock.raise_()
    wait_until(app, lambda: not w.navigator.busy)
    w.navigator.to_end()
    wait_until(app, lambda: w.navigator.row == w.navigator.count - 1 and not w.navigator.busy)
    w.activateWindow()
    w.table.setFocus()
    w.debug_actions.backward_action.trigger()
    wait_until(app, lambda: not debugger.running and debugger.last_hit is not None)
    hit = debugger.last_hit
    assert hit is not None
    stream = session.engine.event_at("main", hit.row).stream
    wait_until(app, lambda: w.navigator.row == hit.row)
    debugger.toggle_event(session.engine.key_at("main", hit.row - 5))
    w.inspector.filter.setText(stream)
    w.inspector.filter.returnPressed.emit()
    w.debug_actions.watches.tree.setCurrentItem(w.debug_actions.watches.tree.topLevelItem(1))
    w.resizeDocks([w.debug_actions.watches_dock], [330], Qt.Orientation.Vertical)
    w.table.setFocus()
    save(app, w, out / "debug-run-backward.png")
    # which events touched the charges of that payment?
    tree = w.inspector.tree
    model = w.inspector.model
    top = model.index(0, 0)
    tree.expand(top)
    wait_until(app, lambda: model.rowCount(top) > 0)
    charges = next(
        model.index(r, 0, top)
        for r in range(model.rowCount(top))
        if model.index(r, 0, top).data() == "charges"
    )
    tree.setCurrentIndex(charges)
    w.debug_actions.touched_action.trigger()
    history = w.debug_actions.history
    wait_until(app, lambda: history.tree.topLevelItemCount() > 0)
    save(app, w.debug_actions.history_dock, out / "debug-touched.png")
    # the same event through the revenue projection, side by side
    w.side_dock.show()
    side = w.side_inspector
    wait_until(app, lambda: side.combo.count() > 0)
    side.combo.setCurrentIndex(side.combo.findData("revenue"))
    side.combo.activated.emit(side.combo.currentIndex())
    wait_until(app, lambda: side.chosen() == "revenue" and side.model.rowCount() > 0)
    save(app, w, out / "debug-side-by-side.png")
    w.close()
    app.processEvents()


if __name__ == "__main__":
    main()
