"""Handing freed memory back to the system.

A million-event import or replay creates and frees millions of small objects and many
megabyte-sized buffers. glibc's allocator keeps freed heap memory for reuse and, by default,
raises its mmap threshold each time a large block is freed, so that later large buffers come
from the heap too: the process then keeps hundreds of megabytes it no longer uses (measured:
145 MB after importing a million events). :func:`tune_allocator` fixes the threshold (large
buffers are mapped and unmapped, returned at once); :func:`release_free_memory` returns the
free heap after bulk work. Elsewhere than glibc both do nothing.

Mapping every large buffer has a price where such buffers are made and dropped at a high
rate: each one is zero-filled page by page on first touch. An import reads, splits and
copies megabyte blocks by the hundred, which made 800,000 page faults and 2 s of system time
for a million events. :func:`bulk_allocation` takes large buffers from the heap while such
work runs (freed ones are reused, already touched) and trims the heap after it. The heap keeps
the holes such work leaves (malloc reuses a free block before it maps a new one, and what is
allocated later lands in them and stays resident): run the work on a thread of its own, which
glibc serves from an arena of its own (see ``models.importer._churning``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from functools import cache
from typing import Any

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 * 1024
"""Blocks from this size up are mapped on their own (glibc's initial default, held fixed)."""
TRIM_THRESHOLD = 128 * 1024
"""Free memory at the top of the heap beyond this is returned at once (glibc's default)."""
BULK_MMAP_THRESHOLD = 64 << 20
"""The threshold while bulk work runs: the blocks it makes and frees stay in the heap."""


@cache
def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    if not hasattr(libc, "mallopt") or not hasattr(libc, "malloc_trim"):
        return None  # not glibc (musl has neither)
    return libc


def no_blas_threads(env: MutableMapping[str, str]) -> None:
    """Ask numpy's BLAS, in a process started with ``env``, for no threads of its own (what
    the environment sets already stays)."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, "1")


def tune_allocator() -> bool:
    """Once, at start-up, before numpy is imported; True if the allocator took the setting.

    Also asks numpy's BLAS for no threads of its own (unless the environment says
    otherwise): nothing here multiplies matrices big enough to share, and its idle threads
    spin, taking a core from the import's helper process (measured: 0.2 s of CPU for a
    million-event import on two cores).
    """
    no_blas_threads(os.environ)
    libc = _libc()
    return bool(libc is not None and libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1)


def release_free_memory() -> bool:
    """After bulk work; True if memory was returned to the system."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0) == 1)


@contextmanager
def bulk_allocation(threshold: int = BULK_MMAP_THRESHOLD) -> Iterator[None]:
    """Buffers below ``threshold`` come from the heap (and are reused) inside; on leaving,
    the threshold is :data:`MMAP_THRESHOLD` again and the free heap is returned."""
    libc = _libc()
    if libc is None:
        yield
        return
    libc.mallopt(_M_TRIM_THRESHOLD, 2 * threshold)
    libc.mallopt(_M_MMAP_THRESHOLD, threshold)
    try:
        yield
    finally:
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        libc.malloc_trim(0)
