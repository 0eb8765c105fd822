"""A handler stuck on the watched thread is interrupted; short calls never are."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from app.watchdog import Watchdog
from models.event import Event
from models.log import MemoryLog
from replay_engine.api import Projection
from replay_engine.engine import Engine
from replay_engine.errors import Cancelled


def ev(pos: int, type_: str) -> Event:
    return Event(key=pos, pos=pos, event_id=f"e{pos}", stream="s", type=type_, data={})


def test_a_call_running_too_long_on_the_watched_thread_is_cancelled() -> None:
    p = Projection("stuck", initial={"n": 0})

    @p.on("Tick")
    def tick(state: dict[str, Any], event: Event) -> None:
        state["n"] += 1

    @p.on("Spin")
    def spin(state: dict[str, Any], event: Event) -> None:
        while True:
            state["n"] += 1

    engine = Engine(MemoryLog([ev(i, "Tick") for i in range(2000)] + [ev(2000, "Spin")]), p)
    dog = Watchdog(threading.get_ident(), limit=0.3, poll=0.05).start()
    try:
        assert engine.state_at("main", 1999)["s"] == {"n": 2000}  # many short calls: fine
        assert dog.interrupted == 0
        with pytest.raises(Cancelled):
            engine.state_at("main", 2000)["s"]
        assert dog.interrupted == 1
        assert engine.state_at("main", 1999)["s"] == {"n": 2000}
    finally:
        dog.stop()
