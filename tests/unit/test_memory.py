"""models.memory: the allocator settings and the trim work on glibc (where this suite runs)
and are harmless elsewhere."""

from __future__ import annotations

import sys

import pytest

from models.memory import MMAP_THRESHOLD, release_free_memory, tune_allocator


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_the_allocator_takes_the_settings_and_returns_freed_memory() -> None:
    assert tune_allocator() is True
    size = MMAP_THRESHOLD // 4  # on the heap, not mapped
    blocks = [bytearray(size) for _ in range(800)]
    del blocks[::2]  # holes between live blocks: free() cannot give them back by itself
    assert release_free_memory() is True
    del blocks
