"""Has the log changed since it was imported? Cheap checks first, hashing only when needed.

The source log is only ever opened for reading (``"rb"``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from models.digest import prefix_digest
from models.workspace_records import Source

Change = Literal["unchanged", "grown", "changed", "missing"]

_READ_BLOCK = 1 << 20
_WHOLE_DOCUMENT_HINTS = ("gz", "gzip", "array", "batch", "redux", "sqlite", "page")
"""Format names containing these are read as one document (or a database): appending bytes
does not append records, so growth means a full re-import."""
_COMPRESSED_SUFFIXES = (".gz", ".gzip", ".bz2", ".xz", ".zst")


def file_identity(path: str | Path) -> tuple[int, int]:
    """(size in bytes, mtime in nanoseconds); raises OSError when the file cannot be read."""
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def can_grow(format_name: str, compressed: bool, path: str | Path) -> bool:
    """Whether bytes appended to a log of this format are new records after the old ones."""
    if compressed:
        return False
    low = format_name.lower()
    if any(hint in low for hint in _WHOLE_DOCUMENT_HINTS):
        return False
    return not str(path).lower().endswith(_COMPRESSED_SUFFIXES)


def classify_change(source: Source, path: str | Path | None = None) -> Change:
    """Compare the log on disk with what the source row recorded at import.

    ``unchanged``: same size and mtime (no hashing), or same size and same digest (only
    touched, see :mod:`models.digest`);
    ``grown``: bigger, the format appends line by line and the old bytes are untouched
    (append-import from ``source.end_offset``); ``changed``: anything else (full re-import);
    ``missing``: the file cannot be found or read.
    """
    target = Path(source.path if path is None else path)
    try:
        size, mtime_ns = file_identity(target)
        if size == source.size and mtime_ns == source.mtime_ns:
            return "unchanged"
        if size == source.size:
            same = prefix_digest(target, size, like=source.sha1) == source.sha1
            return "unchanged" if same else "changed"
        if size > source.size and can_grow(source.format, source.compressed, target):
            same = prefix_digest(target, source.size, like=source.sha1) == source.sha1
            return "grown" if same else "changed"
    except OSError:  # gone, or no longer readable: either way it cannot be re-read
        return "missing"
    return "changed"
