"""Benchmark of parallel systems in the window on the imported 1,000,000-event log (on demand).

    .venv/bin/python tests/benchmarks/bench_foundation.py        # imports the log once
    .venv/bin/python tests/benchmarks/bench_branches.py [EVENTS]

Works on a copy of the workspace bench_foundation.py imported (the branches it creates must
not change the other benchmarks). Times, offscreen, as a user would meet them: forking near
the end, a drop (the GUI-thread part, then until the state at the cursor is replayed in the
worker), undo, the comparison with main, a metric chart of one customer's balance and of an
aggregate over every customer, and the compensating events.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app import gui as app_gui  # noqa: E402
from app.compensate import compensating_events  # noqa: E402
from app.session import open_session  # noqa: E402
from views.main_window import MainWindow  # noqa: E402
from views.theme import Theme  # noqa: E402


def wait(app: QApplication, cond: object, timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > end:
            raise TimeoutError
        app.processEvents()


def main(n: int) -> None:
    bench = Path(tempfile.gettempdir()) / "rewind-bench"
    log, ws = bench / f"shop-{n}.jsonl", bench / f"ws-{n}.sqlite"
    if not ws.exists():
        sys.exit(f"no imported workspace {ws}: run bench_foundation.py --events {n} first")
    mine = Path(tempfile.mkdtemp(prefix="rewind-bench-branches-")) / "ws.sqlite"
    shutil.copyfile(ws, mine)
    app = app_gui.make_application([])
    t = time.perf_counter()
    session = open_session(log, workspace=mine)
    print(f"open the imported log: {time.perf_counter() - t:.2f} s")
    w = MainWindow(
        opener=lambda *_: session,
        settings=QSettings(str(mine.with_suffix(".ini")), QSettings.Format.IniFormat),
        theme=Theme("light"),
    )
    w.resize(1500, 940)
    w.show()
    w.set_session(session)
    idle = lambda: not w.engine_queue.busy  # noqa: E731
    wait(app, idle)
    nav = w.navigator
    engine = session.engine

    row = int(n * 0.9)
    nav.go_to(n - 1)
    t = time.perf_counter()
    wait(app, idle)
    print(f"state at the end of main (first time): {time.perf_counter() - t:.2f} s")

    t = time.perf_counter()
    w.branch_ctl.fork("bench", "main", int(nav.key_at(row)))
    wait(app, lambda: nav.branch == "bench" and idle())
    print(f"fork at row {row:,}: {(time.perf_counter() - t) * 1e3:.0f} ms")

    nav.go_to(n - 1)
    wait(app, idle)
    t = time.perf_counter()
    w.branch_ctl.drop(row + 1)
    gui = time.perf_counter() - t
    wait(app, idle)
    app.processEvents()
    total = time.perf_counter() - t
    print(
        f"drop @{row + 1:,}: GUI thread {gui * 1e3:.0f} ms (edit, workspace, reload), "
        f"until the state at the cursor is shown {total * 1e3:.0f} ms"
    )
    t = time.perf_counter()
    w.branch_ctl.undo()
    wait(app, idle)
    print(f"undo: {(time.perf_counter() - t) * 1e3:.0f} ms")
    w.branch_ctl.redo()
    wait(app, idle)

    w.compare_dock.show()
    t = time.perf_counter()
    w.compare.compare_with_parent("bench")
    wait(app, lambda: w.compare.result is not None and idle())
    app.processEvents()
    print(f"compare with main (diff, alignment, first divergence): {time.perf_counter() - t:.2f} s")

    key = engine.event_at("bench", row + 1).stream
    w.chart_dock.show()
    w.chart_dock.raise_()
    for metric in (f"{key}.version", "sum(customer-*.data.balance)"):
        w.chart.series = {}
        t = time.perf_counter()
        w.chart.set_metric(metric)
        wait(app, lambda: bool(w.chart.series) and idle())
        print(f"chart {metric} in 2 branches: {time.perf_counter() - t:.2f} s")

    t = time.perf_counter()
    comp = compensating_events(engine, "bench")
    print(f"compensating events: {time.perf_counter() - t:.2f} s ({comp.summary()})")
    w.close()
    session.close()
    shutil.rmtree(mine.parent, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
