"""An opened log: the workspace, the log's columns and payloads, the engine and its branches.

Qt-free, so the CLI and the GUI share it; the GUI runs `open_session` in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.log import EventLog
from models.problems import Problem


@dataclass
class Session:
    name: str
    """What to show in a title bar: the log's file name."""
    log: EventLog
    engine: Any
    """A replay_engine.engine.Engine over ``log`` with the branches loaded."""
    problems: list[Problem] = field(default_factory=list)
    """The import report: skipped records and warnings."""
    path: Path | None = None
    workspace: Any = None
    """models.workspace.Workspace, or None for an in-memory session (tests)."""
    source_id: int | None = None
