"""Pausing Python's cycle collector around bulk passes over a log.

A pass over a million events creates and drops a few acyclic containers per event (parsed
records, substates, documents): reference counting frees them; the cycle collector would
only rescan, again and again, the long-lived objects already in memory (DESIGN.md). Where the
collector is already off (the window collects on its GUI thread, see app/gc_guard.py), this
leaves it off.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cycle_gc_paused(*, collect_after: bool = False) -> Iterator[None]:
    """``collect_after``: one full collection at the end, for a pass that leaves many new
    long-lived objects (a fold's substates), so that the pauses do not come later instead."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
            if collect_after:
                gc.collect()
