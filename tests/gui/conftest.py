"""GUI test setup: offscreen Qt, settings in a temporary file, no leaked threads."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QSettings

from app.workers import running_jobs

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything here drives real Qt widgets: ``-m "not gui"`` skips it."""
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.gui)


@pytest.fixture(scope="session", autouse=True)
def _isolated_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Any QSettings created with default arguments lands in a temporary directory, under a
    test organisation: the user's own settings are never read or written."""
    root = tmp_path_factory.mktemp("qsettings")
    QCoreApplication.setOrganizationName("RewindTests")
    QCoreApplication.setApplicationName("RewindTests")
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, str(root))
        QSettings.setPath(QSettings.Format.NativeFormat, scope, str(root))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    yield


@pytest.fixture(autouse=True)
def _gc_on_the_gui_thread(qapp: object) -> Iterator[None]:
    """As the application does (app.gc_guard): cycles holding Qt objects of windows the tests
    closed are collected on the GUI thread, never by an engine worker. Python's own collector
    is back after each test (the unit tests run in the same process)."""
    from app.gc_guard import GuiCollector

    collector = GuiCollector().start()
    yield
    collector.stop()
    collector.deleteLater()


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    """A settings file of this test only."""
    return QSettings(str(tmp_path / "rewind.ini"), QSettings.Format.IniFormat)


@pytest.fixture(autouse=True)
def _no_thread_left_running(qtbot: object) -> Iterator[None]:
    """Fail a test that leaves a worker thread running (after its widgets were closed)."""
    yield
    leaked = running_jobs()
    for job in leaked:
        job.cancel()
        job.wait(5000)
    if leaked:
        pytest.fail(f"{len(leaked)} background job(s) still running after the test: {leaked}")
