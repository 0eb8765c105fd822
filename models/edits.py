"""Branch edits: an append-only list per branch; the effective sequence is derived from it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from models.event import EventKey


class EditKind(StrEnum):
    DROP = "drop"
    RESTORE = "restore"
    EDIT = "edit"
    """A new version of the target event; ``changes`` maps field names (data, metadata, type,
    stream, ...) to their new values. The original stays visible."""
    INSERT = "insert"
    """A new event (``event``: canonical JSON fields) with key ``target`` (negative), placed
    after ``after`` (``None``: at the very start)."""
    MOVE = "move"
    """Move ``target`` to just after ``after`` (``None``: to the very start)."""
    UNDO = "undo"
    """Cancels the latest edit still in effect."""
    REDO = "redo"
    """Re-applies the latest undone edit (only right after undos)."""


@dataclass(frozen=True, slots=True)
class Edit:
    kind: EditKind
    target: EventKey | None = None
    after: EventKey | None = None
    changes: dict[str, Any] | None = None
    event: dict[str, Any] | None = None
    seq: int = 0
    """Order within the branch (assigned by the store)."""
