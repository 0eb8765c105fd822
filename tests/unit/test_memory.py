"""models.memory: the allocator settings and the trim work on glibc (where this suite runs)
and are harmless elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.memory import MMAP_THRESHOLD, release_free_memory, tune_allocator


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_the_allocator_takes_the_settings_and_returns_freed_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert tune_allocator() is True
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"  # for numpy, imported after it
    assert os.environ["OMP_NUM_THREADS"] == "3"  # what the user set stays
    size = MMAP_THRESHOLD // 4  # on the heap, not mapped
    blocks = [bytearray(size) for _ in range(800)]
    del blocks[::2]  # holes between live blocks: free() cannot give them back by itself
    assert release_free_memory() is True
    del blocks


_BULK_CHECK = """
import ctypes
from models.memory import MMAP_THRESHOLD, bulk_allocation, tune_allocator

libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
assert tune_allocator()


def mapped(size):
    # the IS_MMAPPED bit of the chunk's size field, just before the block
    block = libc.malloc(size)
    try:
        return bool(ctypes.c_size_t.from_address(block - 8).value & 2)
    finally:
        libc.free(block)


size = 4 * MMAP_THRESHOLD
seen = [mapped(size)]
with bulk_allocation(8 * MMAP_THRESHOLD):
    seen += [mapped(size), mapped(16 * MMAP_THRESHOLD)]
seen.append(mapped(64 * MMAP_THRESHOLD))  # (bigger than the free heap the bulk part left)
print(seen)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_bulk_allocation_takes_large_buffers_from_the_heap_only_inside() -> None:
    # A fresh process: in this one, earlier tests left free heap blocks that malloc reuses
    # before it considers mapping anything.
    out = subprocess.run(
        [sys.executable, "-c", _BULK_CHECK],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.split() == ["[True,", "False,", "True,", "True]"]
