"""A guard against a reference-counting bug of PySide6 6.12 on CPython 3.11.

When C++ calls a Python override that returns ``None`` where Qt expects a QVariant (every
``data()`` / ``headerData()`` of an item model for a role it does not handle, and some
pyqtgraph item callbacks, which also return ``True``), PySide drops one reference to that
singleton per call. CPython 3.11 aborts the process ("Fatal Python error: none_dealloc") once
the count reaches zero: after some ten thousand repaints of a table or a few hundred timeline
frames. CPython 3.12 made these singletons immortal, which hides the bug; on 3.11 we give them
a reference count that no session can exhaust. Detected at run time, so a fixed PySide (or a
newer Python) turns this into a no-op.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QAbstractTableModel, QIdentityProxyModel, QModelIndex, QObject

_PAD = 1 << 40
_applied = False


class _NoneModel(QAbstractTableModel):
    def rowCount(self, parent: object = QModelIndex()) -> int:
        return 1

    def columnCount(self, parent: object = QModelIndex()) -> int:
        return 1

    def data(self, index: object, role: int = 0) -> None:
        return None


def _bug_present() -> bool:
    holder = QObject()
    model = _NoneModel(holder)
    proxy = QIdentityProxyModel(holder)
    proxy.setSourceModel(model)
    index = proxy.index(0, 0)
    before = sys.getrefcount(None)
    for _ in range(50):
        proxy.data(index)
    lost = before - sys.getrefcount(None)
    proxy.setSourceModel(None)
    if lost > 0:
        ctypes.c_ssize_t.from_address(id(None)).value += lost  # give back what the probe took
    return lost >= 50


def protect_singletons() -> bool:
    """Pad the reference counts of None, True and False when the bug is present; True if it
    did. Safe to call many times (the probe runs once)."""
    global _applied
    if _applied or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return _applied
    _applied = True
    if not _bug_present():
        return False
    for singleton in (None, True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value += _PAD
    return True
