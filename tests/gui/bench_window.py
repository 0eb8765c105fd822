"""Benchmark of the window on a large generated log (run on demand, not by pytest).

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m tests.gui.bench_window [EVENTS]

Builds the log in memory from the generator's records (so it measures the window, not the
import), then times: window ready, a step (F10) until the state tree has repainted, timeline
zoom/pan frames, a page of table scrolling, and the process RSS.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime

from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app import gui as app_gui
from app.session import Session
from models.event import Event, datetime_to_us
from models.generator import iter_events
from models.log import MemoryLog
from replay_engine.engine import Engine
from replay_engine.generic import GenericProjection
from views.main_window import MainWindow
from views.theme import Theme


def _us(text: str) -> int:
    return datetime_to_us(datetime.fromisoformat(text.replace("Z", "+00:00")))


def build_log(n: int) -> MemoryLog:
    events = []
    for i, r in enumerate(iter_events(events=n)):
        meta = r["metadata"]
        events.append(
            Event(
                key=i,
                pos=i,
                event_id=r["id"],
                stream=r["stream"],
                type=r["type"],
                version=r.get("version"),
                recorded_us=_us(r["recorded_at"]),
                processed_us=_us(r["processed_at"]),
                data=r["data"],
                metadata=meta,
                correlation_id=meta.get("correlation_id"),
                causation_id=meta.get("causation_id"),
            )
        )
    return MemoryLog(events)


def _ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1e3:.1f} ms, max {max(samples) * 1e3:.1f} ms"


def main(n: int) -> None:
    app = app_gui.make_application([])
    t = time.perf_counter()
    log = build_log(n)
    print(f"built {n:,} events in memory in {time.perf_counter() - t:.1f} s (not the window)")
    tmp = tempfile.mkdtemp()
    settings = QSettings(os.path.join(tmp, "bench.ini"), QSettings.Format.IniFormat)

    t = time.perf_counter()
    w = MainWindow(opener=lambda p, progress: None, settings=settings, theme=Theme("light"))
    w.resize(1500, 940)
    w.show()
    w.set_session(Session(name="bench", log=log, engine=Engine(log, GenericProjection())))
    w.navigator.go_to(n // 2)
    app.processEvents()
    w.repaint()
    print(f"window ready on the open log, at the middle: {time.perf_counter() - t:.2f} s")

    w.activateWindow()
    w.table.setFocus()
    app.processEvents()
    steps = []
    for _ in range(40):
        t = time.perf_counter()
        QTest.keyClick(w.table, Qt.Key.Key_F10)
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
    print(f"peak RSS {rss:.0f} MB (includes the in-memory log of Event objects)")
    w.close()
    QApplication.processEvents()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
