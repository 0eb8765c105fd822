"""Background jobs: results on the GUI thread, progress, cancel, failures, stale results."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from PySide6.QtCore import QThread

from app.workers import Job, JobSlot, ProgressFn


def test_result_and_progress_arrive_on_the_gui_thread(qtbot: Any) -> None:
    seen: list[tuple[int, int]] = []
    threads: list[QThread] = []

    def work(progress: ProgressFn) -> int:
        for i in range(1, 6):
            progress(i, 5)
        return 42

    job = Job(work, min_interval=0.0)
    job.progress.connect(
        lambda d, t: (seen.append((d, t)), threads.append(QThread.currentThread()))
    )
    with qtbot.waitSignal(job.succeeded) as blocker:
        job.start()
    assert blocker.args == [42]
    assert seen[-1] == (5, 5)
    assert all(t is QThread.currentThread() for t in threads)  # the GUI thread
    qtbot.waitUntil(lambda: not job.is_running())


def test_cancel_stops_the_work_and_drops_its_result(qtbot: Any) -> None:
    started = threading.Event()
    disposed: list[Any] = []

    def work(progress: ProgressFn) -> str:
        started.set()
        while progress(1, 10):
            pass
        return "partial"

    job = Job(work, dispose=disposed.append)
    got: list[Any] = []
    job.succeeded.connect(got.append)
    job.start()
    assert started.wait(5)
    with qtbot.waitSignal(job.cancelled):
        job.cancel()
    assert got == []
    assert disposed == ["partial"]  # e.g. an opened workspace gets closed


def test_an_exception_is_reported_not_raised(qtbot: Any) -> None:
    def work(progress: ProgressFn) -> None:
        raise ValueError("line 3: not JSON")

    job = Job(work)
    with qtbot.waitSignal(job.failed) as blocker:
        job.start()
    assert isinstance(blocker.args[0], ValueError)
    assert "line 3" in str(blocker.args[0])


def test_a_newer_job_makes_the_older_one_stale(qtbot: Any) -> None:
    slot = JobSlot()
    release = threading.Event()
    results: list[str] = []

    def slow(progress: ProgressFn) -> str:
        release.wait(5)
        progress(1, 1)
        return "old"

    first = slot.start(slow)
    first.succeeded.connect(results.append)
    second = slot.start(lambda progress: "new")
    second.succeeded.connect(results.append)
    assert not slot.is_current(first) and slot.is_current(second)
    with qtbot.waitSignals([first.cancelled, second.succeeded], timeout=5000):
        release.set()
    assert results == ["new"]
    assert slot.shutdown()


@pytest.mark.parametrize("count", [3])
def test_shutdown_waits_for_every_thread(qtbot: Any, count: int) -> None:
    slot = JobSlot()
    gates = [threading.Event() for _ in range(count)]
    jobs = [slot.start(lambda progress, g=g: g.wait(5)) for g in gates]
    for g in gates:
        g.set()
    assert slot.shutdown(5000)
    for job in jobs:
        qtbot.waitUntil(lambda j=job: not j.is_running())
