"""Screenshots of the analysis views for the README (run on demand, under Xvfb):

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python -m tests.gui.screenshots_analysis

Opens the bundled demo log: the Problems dock lists its conflicts (docs/screenshots/
analysis-problems.png); the Chain dock shows what caused the double charge and what it
caused (analysis-chain.png); the filter bar keeps only the big payments
(analysis-filter.png); the Processing lag dock (analysis-lag.png).
"""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.gui.screenshots import demo_window, save, settle, wait_until


def main() -> None:
    app, w, out = demo_window(problems=True)
    problems = w.problems
    wait_until(app, lambda: problems.findings is not None)
    wait_until(app, lambda: not w.engine_queue.busy)
    problems.tree.expandAll()
    w.resizeDocks([problems.dock], [330], Qt.Orientation.Vertical)
    settle(app)
    save(app, w, out / "analysis-problems.png")

    # the double charge: its causes and effects
    session = w.session
    assert session is not None
    charged = [
        r
        for r in range(len(session.log))
        if session.log.event(r).type == "PaymentCharged"
        and session.log.event(r).stream == "payment-000112"
    ]
    w.navigator.go_to(charged[-1])
    chain = w.chain_panel
    assert chain.dock is not None
    chain.dock.show()
    chain.dock.raise_()
    wait_until(app, lambda: chain.ready)
    w.navigator.go_to(charged[-1])
    settle(app)
    save(app, w, out / "analysis-chain.png")

    # only the big payments, hidden the others
    chain.dock.hide()
    problems.dock.hide()
    w.filter_actions.show_bar()
    bar = w.filter_bar
    bar.types.setText("Payment*")
    bar.where.setText("data.amount > 20000")
    bar.hide.setChecked(True)
    bar.apply()
    wait_until(app, lambda: bar.active is not None and not w.engine_queue.busy)
    settle(app)
    save(app, w, out / "analysis-filter.png")
    bar.clear()

    w.lag_dock.show()
    w.lag_dock.raise_()
    wait_until(app, lambda: w.lag_panel.lag is not None)
    w.resizeDocks([w.lag_dock], [360], Qt.Orientation.Vertical)
    settle(app)
    save(app, w.lag_dock, out / "analysis-lag.png")
    w.close()
    app.processEvents()


if __name__ == "__main__":
    main()
