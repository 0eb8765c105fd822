"""models.memory: the allocator settings and the trim are harmless everywhere and work on
glibc (where this suite runs)."""

from __future__ import annotations

import sys

import pytest

from models.memory import release_free_memory, tune_allocator


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_the_allocator_takes_the_settings_and_returns_freed_memory() -> None:
    assert tune_allocator() is True
    blocks = [bytearray(64) for _ in range(200_000)]  # small blocks on the heap
    del blocks
    assert release_free_memory() is True
