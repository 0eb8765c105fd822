"""A projection handler that never returns, in the window: the replay that runs into it can be
cancelled with the status bar's Cancel; the window stays alive, shows no state computed from
it, and keeps working for the events before it. Also the worker's side: a cancel that comes
before the work reaches the handler, and waiting for a cancelled job (the window closing)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt

from app.workers import Job, ProgressFn
from models.event import Event
from models.log import MemoryLog
from replay_engine.api import Projection
from replay_engine.engine import Engine
from tests.gui.branching import fork_from_menu, idle, open_window, select
from tests.gui.shop import make_session, shop_events
from tests.gui.test_window import _find

SOURCE = """
import threading
from pathlib import Path

from replay_engine.api import Projection

spin = Projection("spin", initial=dict)

@spin.otherwise
def count(state, event):
    state["events"] = state.get("events", 0) + 1

@spin.on("OrderShipped")
def shipped(state, event):
    if threading.current_thread() is threading.main_thread():
        # the window folding this itself would freeze it: fail the test instead of hanging
        raise RuntimeError("folded on the GUI thread")
    Path({marker!r}).touch()
    while True:  # a bug: the handler never returns
        pass
"""

SHIPPED = next(e.pos for e in shop_events() if e.type == "OrderShipped")


@pytest.fixture
def quick_gil_handover() -> Iterator[None]:
    """The looping handler holds the GIL; the GUI thread gets it back only at each switch
    interval (5 ms), and a window repaint needs it many times: about 0.8 s for what the test
    waits on. A shorter interval keeps the test fast; what it checks is the same."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    yield
    sys.setswitchinterval(interval)


def events_shown(w: Any, stream: str) -> str:
    return str(_find(w.inspector.model, stream, "events").siblingAtColumn(1).data())


def test_a_handler_that_never_returns_is_cancelled_from_the_window(
    qtbot: Any, settings: QSettings, tmp_path: Path, quick_gil_handover: None
) -> None:
    marker = tmp_path / "looping"
    code = tmp_path / "spin_projection.py"
    code.write_text(SOURCE.format(marker=str(marker)))
    w = open_window(qtbot, settings, make_session())
    session = w.session
    assert session is not None
    w.projection_actions.load(code)
    qtbot.waitUntil(lambda: session.projection_name == "spin")
    idle(qtbot, w)

    # A branch without the OrderShipped: its state there is fine.
    fork_from_menu(qtbot, w, SHIPPED, "fix")
    select(qtbot, w, SHIPPED)
    qtbot.keyClick(w.table, Qt.Key.Key_Delete)
    idle(qtbot, w)
    w.navigator.go_to(SHIPPED)
    idle(qtbot, w)
    assert w.inspector.title.text().startswith(f"State after @{SHIPPED}")
    assert events_shown(w, "order-1") == "1"

    def undo_and_cancel() -> None:
        """Undo the drop: the replay at the cursor runs into the endless handler in the
        worker; Cancel in the status bar stops it."""
        marker.unlink(missing_ok=True)
        qtbot.keyClick(w.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        qtbot.waitUntil(marker.exists)  # the handler is looping now
        assert w.navigator.busy and w.engine_queue.busy
        qtbot.waitUntil(w.engine_cancel.isVisible)
        assert "Replaying fix" in w.engine_label.text()
        qtbot.mouseClick(w.engine_cancel, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not w.engine_queue.busy and not w.navigator.busy, timeout=5000)
        assert not w.engine_cancel.isVisible()
        # No state for the row is shown as computed, no break on exception, no error.
        assert "cancelled" in w.inspector.title.text()
        assert not w.inspector.tree.isEnabled()
        assert not w.inspector.error.isVisible()
        assert not w.message_bar.isVisible()
        assert not w.navigator.rows.dropped[SHIPPED]  # the undo itself is kept
        assert w.navigator.row == SHIPPED

    undo_and_cancel()
    # Nothing of the interrupted fold was kept: the same replay runs into the handler again.
    qtbot.keyClick(
        w.table,
        Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    idle(qtbot, w)
    assert w.navigator.rows.dropped[SHIPPED]
    undo_and_cancel()

    # A step back, before the endless event, shows its state as usual.
    w.navigator.step(-1)
    idle(qtbot, w)
    assert w.inspector.title.text().startswith(f"State after @{SHIPPED - 1}")
    assert w.inspector.tree.isEnabled() and not w.inspector.error.isVisible()
    assert events_shown(w, "order-1") == "1"
    assert events_shown(w, "cust-1") == "3"


def endless(entered: threading.Event) -> Projection:
    p = Projection("endless", initial=0, key=None)

    @p.on("Spin")
    def spin(state: int, event: Event) -> int:
        entered.set()
        while True:
            state += 1

    return p


def spin_log() -> MemoryLog:
    return MemoryLog([Event(key=0, pos=0, event_id="e0", stream="s", type="Spin", data={})])


def test_a_job_cancelled_before_it_reaches_the_endless_handler_is_stopped_there(
    qtbot: Any, quick_gil_handover: None
) -> None:
    """The first interrupt comes too early (the work is not in the user's code yet); the job
    keeps knocking until the handler is interrupted."""
    entered, go = threading.Event(), threading.Event()
    engine = Engine(spin_log(), endless(entered))

    def work(progress: ProgressFn) -> Any:
        go.wait(5)
        return engine.end_state("main")

    job = Job(work)
    outcomes: list[str] = []
    job.succeeded.connect(lambda _r: outcomes.append("succeeded"))
    job.failed.connect(lambda _e: outcomes.append("failed"))
    job.cancelled.connect(lambda: outcomes.append("cancelled"))
    job.start()
    qtbot.waitUntil(job.is_running)
    with qtbot.waitSignal(job.finished, timeout=5000):
        job.cancel()
        go.set()
    assert entered.is_set()  # it did get into the handler, and was stopped there
    assert outcomes == ["cancelled"]


def test_waiting_for_a_cancelled_job_interrupts_its_handler(qtbot: Any) -> None:
    """Closing the window waits for the worker without an event loop: no timer runs then."""
    entered, go = threading.Event(), threading.Event()
    engine = Engine(spin_log(), endless(entered))

    def work(progress: ProgressFn) -> Any:
        go.wait(5)
        return engine.end_state("main")

    job = Job(work)
    job.start()
    qtbot.waitUntil(job.is_running)
    job.cancel()
    go.set()
    assert job.wait(5000)
    assert entered.is_set()
    qtbot.waitUntil(lambda: not job.is_running())
