"""The application-level half of the GUI start: arguments, QApplication, settings, opening.

``run_gui`` itself lives in :mod:`views.gui`: it builds the main window, and the layers
contract (views -> app) forbids ``app`` from importing ``views``. Everything here is what
the window needs from the application layer and what tests configure differently (a
temporary QSettings file, an in-memory opener).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QSettings, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from app.session import Session, open_eventsourcing_store, open_session, open_table
from app.workers import ProgressFn

ORGANIZATION = "Rewind"
APPLICATION = "Rewind"
DEMO_LOG = Path(__file__).resolve().parent.parent / "resources" / "demo" / "shop.jsonl"
MAX_RECENT = 10

Opener = Callable[..., Session]
"""``opener(path, progress, **options)``: options are open_session's ``fmt`` and ``mapping``."""
"""Opens a log in a worker thread: must not touch Qt widgets."""


@dataclass
class GuiOptions:
    log: Path | None = None
    workspace: str | None = None
    theme: str = "system"


def parse_args(argv: Sequence[str]) -> GuiOptions:
    parser = argparse.ArgumentParser(prog="rewind", description="Open the Rewind window.")
    parser.add_argument("log", nargs="?", help="an event log to open")
    parser.add_argument("--workspace", help="workspace: a SQLite file or a SQLAlchemy URL")
    parser.add_argument("--theme", choices=("system", "light", "dark"), default=None)
    ns = parser.parse_args(list(argv))
    return GuiOptions(
        log=Path(ns.log) if ns.log else None,
        workspace=ns.workspace,
        theme=ns.theme or "",
    )


def make_application(argv: Sequence[str]) -> QApplication:
    """The QApplication (or the existing one), named so QSettings finds our file."""
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
    )
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication([sys.argv[0] if sys.argv else "rewind", *argv])
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("Rewind")
    app.setStyle("Fusion")
    return app


def make_settings() -> QSettings:
    return QSettings(ORGANIZATION, APPLICATION)


def default_opener(workspace: str | None = None) -> Opener:
    """Open with :func:`app.session.open_session` (import, index, engine), in the worker."""

    def open_log(path: Path, progress: ProgressFn, **options: Any) -> Session:
        table = options.pop("table", None)
        if table is not None:
            return open_table(table, workspace=workspace, progress=progress)
        store = options.pop("eventsourcing", None)
        if store is not None:
            url, schema = store
            return open_eventsourcing_store(
                url, schema=schema, workspace=workspace, progress=progress
            )
        return open_session(path, workspace=workspace, progress=progress, **options)

    return open_log


def recent_files(settings: QSettings) -> list[str]:
    value: Any = settings.value("recent/files", [])
    if isinstance(value, str):  # QSettings gives a one-item list back as a plain string
        value = [value]
    return [str(v) for v in (value or []) if v]


def add_recent(settings: QSettings, path: Path | str) -> list[str]:
    text = str(Path(path).resolve())
    files = [text, *(f for f in recent_files(settings) if f != text)][:MAX_RECENT]
    settings.setValue("recent/files", files)
    return files


def clear_recent(settings: QSettings) -> None:
    settings.setValue("recent/files", [])
