"""Cancelling the user's projection code that never returns (replay_engine.api.interrupt).

The engine's own cancel only acts between chunks; these handlers loop forever, so only the
asynchronous interrupt can stop them. Each test runs the replay on a real thread, stops it
from the test thread once the handler has signalled it is looping, and then checks that the
engine kept nothing of the interrupted fold.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

from models.edits import Edit, EditKind
from models.event import Event
from models.log import MemoryLog
from replay_engine.api import Projection, in_user_code, interrupt
from replay_engine.branches import BranchSpec
from replay_engine.engine import Engine
from replay_engine.errors import Cancelled, ProjectionError

SPIN_ROW = 4


def ev(pos: int, type_: str, data: Any, stream: str) -> Event:
    return Event(
        key=pos, pos=pos, event_id=f"e{pos}", stream=stream, type=type_, recorded_us=0, data=data
    )


def log() -> MemoryLog:
    """Streams a and b; the Spin of stream a sits at SPIN_ROW."""
    return MemoryLog(
        [
            ev(0, "Add", 1, "a"),
            ev(1, "Add", 10, "b"),
            ev(2, "Add", 2, "a"),
            ev(3, "Add", 20, "b"),
            ev(SPIN_ROW, "Spin", None, "a"),
            ev(5, "Add", 30, "b"),
            ev(6, "Add", 3, "a"),
        ]
    )


def spinning(entered: threading.Event, **options: Any) -> Projection:
    """Sums Add events; a Spin never returns (it also swallows every Exception on the way,
    as careless handler code does)."""
    p = Projection("spinning", initial=lambda: {"sum": 0}, **options)

    @p.on("Add")
    def add(state: dict[str, int], event: Event) -> None:
        state["sum"] += event.data

    @p.on("Spin")
    def spin(state: dict[str, int], event: Event) -> None:
        entered.set()
        while True:
            with contextlib.suppress(Exception):
                state["sum"] += 1

    return p


class Worker:
    """``fn()`` on a daemon thread (a test that fails to stop it must not hang the run)."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.result = fn()
            except BaseException as exc:
                self.error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    @property
    def ident(self) -> int:
        assert self.thread.ident is not None
        return self.thread.ident


def cancel_when_looping(worker: Worker, entered: threading.Event) -> BaseException | None:
    """Interrupt the worker once its handler loops; what the replay raised."""
    assert entered.wait(5), "the looping handler was never reached"
    assert in_user_code(worker.ident)
    assert interrupt(worker.ident)  # inside the handler: it interrupts at the first call
    worker.thread.join(5)
    assert not worker.thread.is_alive(), "the handler was not stopped"
    assert not in_user_code(worker.ident)
    entered.clear()
    return worker.error


def test_an_endless_handler_is_cancelled_and_the_engine_keeps_nothing_of_it() -> None:
    entered = threading.Event()
    engine = Engine(log(), spinning(entered), progress=lambda done, total: True)
    last = len(engine.log) - 1

    error = cancel_when_looping(Worker(lambda: engine.end_state("main")), entered)
    assert isinstance(error, Cancelled) and not isinstance(error, ProjectionError)
    assert "spin" in str(error)

    # States that do not contain the Spin are answered, and right.
    assert engine.state_at("main", SPIN_ROW - 1)["a"] == {"sum": 3}
    assert engine.state_at("main", last)["b"] == {"sum": 60}
    assert engine.changes_at("main", 5)[0].new == 60

    # Nothing half-done was kept: asking again runs the handler again (and is cancelled
    # again), for the end state and for a seek into stream a after the Spin.
    error = cancel_when_looping(Worker(lambda: engine.end_state("main")), entered)
    assert isinstance(error, Cancelled)
    error = cancel_when_looping(Worker(lambda: engine.state_at("main", last)["a"]), entered)
    assert isinstance(error, Cancelled)
    error = cancel_when_looping(Worker(lambda: engine.state_at("main", last)["a"]), entered)
    assert isinstance(error, Cancelled)

    # A branch that drops the Spin replays stream a in full.
    engine.add_branch(BranchSpec(name="fix", parent="main", fork_at=SPIN_ROW - 1))
    engine.append_edit("fix", Edit(EditKind.DROP, SPIN_ROW))
    end = engine.state_at("fix", last)
    assert (end["a"], end["b"]) == ({"sum": 6}, {"sum": 60})
    assert interrupt(threading.get_ident()) is False  # this thread runs no user code now


def test_one_state_for_the_whole_log_keeps_no_snapshot_of_an_interrupted_fold() -> None:
    entered = threading.Event()
    engine = Engine(log(), spinning(entered, key=None), snapshot_every=1)
    last = len(engine.log) - 1
    for _ in range(2):  # the second time folds again: neither cursor nor snapshot was kept
        error = cancel_when_looping(Worker(lambda: engine.state_at("main", last)), entered)
        assert isinstance(error, Cancelled)
    assert engine.state_at("main", SPIN_ROW - 1) == {"sum": 33}


def test_a_key_function_that_never_returns_is_cancelled_too() -> None:
    entered = threading.Event()

    def key(event: Event) -> str:
        if event.type == "Spin":
            entered.set()
            while True:
                pass
        return event.stream

    p = Projection("keys", initial=dict, key=key)
    p.otherwise(lambda state, event: state)
    engine = Engine(log(), p)
    for _ in range(2):
        error = cancel_when_looping(Worker(lambda: engine.end_state("main")), entered)
        assert isinstance(error, Cancelled) and not isinstance(error, ProjectionError)


def test_nested_user_code_that_catches_the_inner_cancel_is_cancelled_all_the_same() -> None:
    entered = threading.Event()
    inner = spinning(entered, key=None)
    outer = Projection("outer", initial=0, key=None)

    @outer.on("Spin")
    def calls_the_other(state: int, event: Event) -> int:
        with contextlib.suppress(Exception):  # the user's code swallows the inner Cancelled...
            inner.apply_substate({"sum": 0}, event)
        return state + 1

    engine = Engine(log(), outer)
    error = cancel_when_looping(Worker(lambda: engine.end_state("main")), entered)
    assert isinstance(error, Cancelled)  # ...but the outer call is cancelled as well


def test_an_interrupt_never_surfaces_outside_the_users_code() -> None:
    """Hammer a worker making many short handler calls: every interrupt becomes Cancelled out
    of a projection call, none fires in the code between calls, and every other call
    returns the whole result."""
    p = Projection("short", initial=dict)

    @p.on("Add")
    def add(state: dict[str, int], event: Event) -> None:
        for i in range(10):
            state[f"k{i}"] = state.get(f"k{i}", 0) + event.data

    event = ev(0, "Add", 1, "a")
    calls = 10_000
    outcomes: list[str] = []
    finished = threading.Event()

    def work() -> None:
        try:
            for _ in range(calls):
                try:
                    try:
                        state = p.apply_substate({}, event)
                    except Cancelled:
                        outcomes.append("cancelled")
                    else:
                        outcomes.append("ok" if state == {f"k{i}": 1 for i in range(10)} else "bad")
                except BaseException as exc:
                    outcomes.append(f"leaked {exc!r}")
        except BaseException as exc:
            outcomes.append(f"leaked {exc!r}")
        finally:
            finished.set()

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # hand the GIL over often: at many different places
    try:
        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        assert worker.ident is not None
        sent = 0
        while not finished.is_set():
            sent += interrupt(worker.ident)
        worker.join(5)
    finally:
        sys.setswitchinterval(switch)
    assert len(outcomes) == calls
    assert not [o for o in outcomes if o not in ("ok", "cancelled")]
    cancelled = outcomes.count("cancelled")
    assert 0 < cancelled <= sent  # interrupts sent before the first fires are merged
    assert not in_user_code(worker.ident) and not interrupt(worker.ident)


@pytest.mark.parametrize("thread_id", [0, 1, 2**40])
def test_interrupting_a_thread_that_runs_no_user_code_does_nothing(thread_id: int) -> None:
    assert interrupt(thread_id) is False
    assert in_user_code(thread_id) is False
