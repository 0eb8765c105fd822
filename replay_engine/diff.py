"""Structural diff of two states: what the compare view and ``changes_at`` show.

Objects (any ``Mapping``) are compared key by key, lists index by index; everything else is a
leaf. ``True`` and ``1`` are different JSON values (a bool is not a number), so a bool on one
side and a number on the other is a change even though Python calls them equal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import orjson

from models.event import JSON

ChangeKind = Literal["added", "removed", "changed"]
PathPart = str | int
Path = tuple[PathPart, ...]

ROOT_LABEL = "(root)"
_PLAIN_NAME = re.compile(r'[^.\[\]"\s]+')


@dataclass(frozen=True, slots=True)
class Change:
    path: Path
    """Keys (objects) and indices (lists) from the root down to the changed value."""
    change: ChangeKind
    old: JSON = None
    """The value before (``None`` when added)."""
    new: JSON = None
    """The value after (``None`` when removed)."""

    @property
    def dotted_path(self) -> str:
        return format_path(self.path)


def format_path(path: Path) -> str:
    """``acct-1.data.items[2]``; names that would be ambiguous are quoted: ``["a.b"]``."""
    if not path:
        return ROOT_LABEL
    out: list[str] = []
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out.append(f"[{part}]")
        elif isinstance(part, str) and _PLAIN_NAME.fullmatch(part):
            out.append(f".{part}" if out else part)
        else:
            out.append(f"[{orjson.dumps(str(part)).decode()}]")
    return "".join(out)


def diff(a: object, b: object, path: Path = ()) -> list[Change]:
    """Every difference between ``a`` and ``b``; empty exactly when :func:`equal` holds.

    Order: for objects, ``a``'s keys in order (changed or removed), then keys only in ``b``
    (added); for lists, common indices, then removed, then added.
    """
    out: list[Change] = []
    _diff(a, b, path, out)
    return out


def _diff(a: object, b: object, path: Path, out: list[Change]) -> None:
    if a is b:
        return
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for name, old in a.items():
            if name in b:
                _diff(old, b[name], (*path, name), out)
            else:
                out.append(Change((*path, name), "removed", old, None))
        for name, new in b.items():
            if name not in a:
                out.append(Change((*path, name), "added", None, new))
        return
    if isinstance(a, list) and isinstance(b, list):
        common = min(len(a), len(b))
        for i in range(common):
            _diff(a[i], b[i], (*path, i), out)
        for i in range(common, len(a)):
            out.append(Change((*path, i), "removed", a[i], None))
        for i in range(common, len(b)):
            out.append(Change((*path, i), "added", None, b[i]))
        return
    if not _leaf_equal(a, b):
        out.append(Change(path, "changed", a, b))


def equal(a: object, b: object) -> bool:
    """The equality :func:`diff` implements, without building the list of changes."""
    if a is b:
        return True
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if len(a) != len(b):
            return False
        return all(name in b and equal(old, b[name]) for name, old in a.items())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping | list) or isinstance(b, Mapping | list):
        return False
    return _leaf_equal(a, b)


def _leaf_equal(a: object, b: object) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    try:
        return bool(a == b)
    except Exception:  # e.g. numpy arrays in a user state: equal only if the same object
        return False
