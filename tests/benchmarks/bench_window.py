"""Benchmark of the window on an imported 1,000,000-event log (run on demand, not by pytest).

    .venv/bin/python tests/benchmarks/bench_foundation.py        # imports the log once
    .venv/bin/python tests/benchmarks/bench_window.py [EVENTS [DIR]]

Opens the workspace that bench_foundation.py imported (so it measures the window on a real
SQLite-backed log, as a user reopening a log would get it), then times: launch to a usable
window (process start, imports included, to the first painted frame with the state at the
end; the median of five launches, four of them in fresh processes at the end, as launch
times here vary by a few hundred ms), a step (F10) until the state tree has repainted,
timeline zoom/pan frames, a page of table scrolling, and the peak RSS of the process.
Offscreen; each figure is printed next to a baseline from the same run (an empty QMainWindow
shown and painted).
"""

from __future__ import annotations

import runpy
import time
from pathlib import Path as _Path

# What `dev.py run` does before it starts the app: Rewind's bytecode is cached (this machine
# may set PYTHONDONTWRITEBYTECODE, a user's usually does not).
runpy.run_path(str(_Path(__file__).resolve().parents[2] / "dev.py"))["byte_compile"]()

T0 = time.perf_counter()

import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import resource  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402

from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QMainWindow  # noqa: E402

from app import gui as app_gui  # noqa: E402
from app.session import open_session  # noqa: E402
from views.main_window import MainWindow  # noqa: E402
from views.theme import Theme  # noqa: E402


def _ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1e3:.1f} ms, max {max(samples) * 1e3:.1f} ms"


LAUNCHES = 5


def _launch(n: int, bench: Path) -> float:
    """One more launch in a fresh process (this machine's timings vary from one to the next:
    the median of a few is the figure)."""
    import subprocess

    out = subprocess.run(
        [sys.executable, __file__, str(n), str(bench), "--launch-only"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(out.strip().splitlines()[-1])


def main(n: int, bench: Path, launch_only: bool = False) -> None:
    log, ws = bench / f"shop-{n}.jsonl", bench / f"ws-{n}.sqlite"
    if not ws.exists():
        sys.exit(f"no imported workspace {ws}: run bench_foundation.py --events {n} first")
    app = app_gui.make_application([])
    tmp = tempfile.mkdtemp()
    settings = QSettings(os.path.join(tmp, "bench.ini"), QSettings.Format.IniFormat)

    t = time.perf_counter()
    empty = QMainWindow()
    empty.resize(1500, 940)
    empty.show()
    app.processEvents()
    empty.repaint()
    baseline = time.perf_counter() - t
    empty.close()

    session = open_session(log, workspace=str(ws))
    w = MainWindow(opener=lambda p, progress: session, settings=settings, theme=Theme("light"))
    w.resize(1500, 940)
    w.show()
    w.set_session(session)
    w.navigator.go_to(len(session.log) - 1)
    app.processEvents()
    w.repaint()
    ready = time.perf_counter() - T0
    if launch_only:
        print(f"{ready:.4f}")
        os._exit(0)  # the launch is measured; a teardown is not part of it
    print(f"launch to a usable window (this process): {ready:.2f} s; an empty QMainWindow "
          f"shown and painted: {baseline * 1e3:.0f} ms")  # fmt: skip
    # the worker looks for concurrency problems right after opening; moves made meanwhile
    # are held back until it is done, so the steps below wait for it
    while w.engine_queue.busy:
        app.processEvents()
    idle = time.perf_counter() - T0
    print(f"worker idle again (concurrency findings done): {idle:.2f} s after process start")
    w.navigator.go_to(n // 2)
    app.processEvents()
    while w.engine_queue.busy:
        app.processEvents()

    w.activateWindow()
    w.table.setFocus()
    app.processEvents()
    steps = []
    for _ in range(40):
        t = time.perf_counter()
        QTest.keyClick(w.table, Qt.Key.Key_F10)
        assert not w.navigator.busy
        w.inspector.tree.viewport().repaint()
        w.table.viewport().repaint()
        steps.append(time.perf_counter() - t)
    print(f"step (F10 -> table, cursor, state tree repainted): {_ms(steps)}")

    tl = w.timeline
    frames = []
    for i in range(30):
        t = time.perf_counter()
        if i < 10:
            tl.zoom(0.7)
        elif i < 20:
            tl.pan(0.1)
        else:
            tl.zoom(1.4)
        tl._draw_marks()
        tl.plot.viewport().repaint()
        frames.append(time.perf_counter() - t)
    tl.fit()
    t = time.perf_counter()
    tl._draw_marks()
    tl.plot.viewport().repaint()
    full = time.perf_counter() - t
    print(f"timeline zoom/pan frame: {_ms(frames)}; whole log in view: {full * 1e3:.1f} ms")

    pages = []
    bar = w.table.verticalScrollBar()
    for _ in range(30):
        t = time.perf_counter()
        bar.setValue(bar.value() + bar.pageStep())
        w.table.viewport().repaint()
        pages.append(time.perf_counter() - t)
    print(f"table page scroll: {_ms(pages)}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MB (goal < 500 MB)")
    w.close()
    QApplication.processEvents()
    launches = sorted([ready, *(_launch(n, bench) for _ in range(LAUNCHES - 1))])
    median = statistics.median(launches)
    print(
        f"launch to a usable window at the end of the log: median {median:.2f} s of {LAUNCHES} "
        f"launches ({', '.join(f'{x:.2f}' for x in launches)}; process start, imports, reopen, "
        "first paint; goal < 1.5 s)"
    )


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--launch-only"]
    main(
        int(args[0]) if args else 1_000_000,
        Path(args[1]) if len(args) > 1 else Path(tempfile.gettempdir()) / "rewind-bench",
        launch_only="--launch-only" in sys.argv,
    )
