"""Where Rewind keeps its files by default.

One workspace per log file, in the user's data directory, named after the log (for humans)
and a hash of its absolute path (so two ``events.jsonl`` in different folders never share a
workspace). ``REWIND_DATA_DIR`` overrides the data directory (tests and CI set it).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from platformdirs import user_data_dir

DATA_DIR_ENV = "REWIND_DATA_DIR"
WORKSPACE_SUFFIX = ".rewind.sqlite"
_UNSAFE = re.compile(r"[^\w.-]+")
"""Anything but letters (any script), digits, ``_``, ``.`` and ``-`` becomes ``_``."""


def data_dir() -> Path:
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return Path(user_data_dir("Rewind", appauthor=False))


def absolute_log_path(log_path: str | Path) -> Path:
    """The one spelling of a log's path that the workspace stores and compares."""
    return Path(log_path).expanduser().resolve()


def default_workspace_for(log_path: str | Path) -> Path:
    path = absolute_log_path(log_path)
    key = os.path.normcase(str(path)).encode("utf-8", "surrogatepass")
    digest = hashlib.sha1(key, usedforsecurity=False)
    name = _UNSAFE.sub("_", path.name).strip("._")[:60] or "log"
    return data_dir() / "workspaces" / f"{name}-{digest.hexdigest()[:16]}{WORKSPACE_SUFFIX}"
