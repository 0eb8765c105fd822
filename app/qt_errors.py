"""Errors reach the user as messages in the window, never as a crash.

Slots that call into the engine or a user projection are wrapped with :func:`guarded`: an
exception becomes a report on the application's :class:`ErrorReporter` (the main window
shows it in its message bar and status bar) and the application lives on.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from PySide6.QtCore import QObject, Signal

P = ParamSpec("P")
R = TypeVar("R")


class ErrorReporter(QObject):
    reported = Signal(str, str)
    """(message for the user, technical details: the traceback)."""

    def __init__(self) -> None:
        super().__init__()
        self.last: tuple[str, str] | None = None

    def report(self, exc: BaseException, where: str = "") -> None:
        message = describe(exc)
        if where:
            message = f"{where}: {message}"
        details = "".join(traceback.format_exception(exc))
        self.last = (message, details)
        self.reported.emit(message, details)


def describe(exc: BaseException) -> str:
    """A one-line message: the exception's text, with its type when the text is bare."""
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, OSError) or type(exc).__name__ in _PLAIN:
        return text
    return f"{type(exc).__name__}: {text}"


_PLAIN = {"InputError", "UsageError", "WorkspaceError", "ProjectionError"}
"""Our own errors already say what went wrong and where; others get their type name."""


_reporter: ErrorReporter | None = None


def error_reporter() -> ErrorReporter:
    global _reporter
    if _reporter is None:
        _reporter = ErrorReporter()
    return _reporter


def guarded(where: str) -> Callable[[Callable[P, R]], Callable[P, R | None]]:
    """Decorator for slots: exceptions are reported, not raised into Qt's event loop."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R | None]:
        @functools.wraps(fn)
        def call(*args: P.args, **kwargs: P.kwargs) -> R | None:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                error_reporter().report(exc, where)
                return None

        return call

    return wrap
