"""Screenshots of the real window for the README (run on demand, under Xvfb):

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python -m tests.gui.screenshots

Opens the bundled demo log through File > Open's code path (import in the worker thread,
workspace in a temporary directory), goes to the planted double charge and saves
docs/screenshots/*.png.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QWidget

from app import gui as app_gui
from models.generator import write_demo
from views.main_window import MainWindow
from views.theme import Theme

ROOT = Path(__file__).resolve().parents[2]


def wait_until(app: QApplication, condition: Callable[[], bool], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the window did not get there in time")
        app.processEvents()
        time.sleep(0.01)


def settle(app: QApplication, seconds: float = 0.4) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def save(app: QApplication, widget: QWidget, path: Path) -> None:
    settle(app)
    widget.grab().save(str(path))
    print(f"saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def open_log(app: QApplication, w: MainWindow, path: Path) -> None:
    done: list[str] = []
    w.importFinished.connect(done.append)
    w.open_path(path)
    wait_until(app, lambda: bool(done))
    w.importFinished.disconnect(done.append)


def demo_window(
    projection: bool = False, problems: bool = False
) -> tuple[QApplication, MainWindow, Path]:
    """The window as the README shows it (1500x940, light theme, settings and workspace of
    its own) with the demo log open, and the demo projection loaded when asked: the setup
    every screenshot script shares. Returns the app, the window and the output folder."""
    out = ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="rewind-shots-"))
    app = app_gui.make_application([])
    w = MainWindow(
        opener=app_gui.default_opener(str(tmp / "workspace.sqlite")),
        settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat),
        theme=Theme("light"),
        demo_log=app_gui.DEMO_LOG,
    )
    w.resize(1500, 940)
    w.show()
    open_log(app, w, app_gui.DEMO_LOG)
    wait_until(app, lambda: w.problems.findings is not None)  # the dock pops up once found
    if not problems:
        w.problems.dock.hide()
    if projection:
        session = w.session
        assert session is not None
        w.projection_actions.load(ROOT / "resources" / "demo" / "shop_projection.py")
        wait_until(app, lambda: session.projection_name == "shop")
    return app, w, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="rewind-shots-"))
    planted = write_demo(tmp / "shop.jsonl")  # byte-identical to the bundled demo
    bug = planted.double_charge
    assert bug is not None
    demo = app_gui.DEMO_LOG if app_gui.DEMO_LOG.exists() else tmp / "shop.jsonl"

    app = app_gui.make_application([])
    for mode in ("light", "dark"):
        settings = QSettings(str(tmp / f"{mode}.ini"), QSettings.Format.IniFormat)
        w = MainWindow(
            opener=app_gui.default_opener(str(tmp / "workspace.sqlite")),
            settings=settings,
            theme=Theme(mode),
            demo_log=demo,
        )
        w.resize(1500, 940)
        w.show()
        if mode == "light":
            save(app, w, out / "welcome.png")
        open_log(app, w, demo)
        first, second = bug.debit_positions
        w.navigator.go_to(first)
        w.navigator.go_to(second)
        w.activateWindow()
        w.table.setFocus()
        save(app, w, out / f"double-charge-{mode}.png")
        if mode == "light":
            tl = w.timeline
            tl.lanes_box.setCurrentIndex(tl.lanes_box.findData("type"))
            lay = tl.lay
            assert lay is not None
            a, b = lay.x_of_row(bug.charge_positions[0]), lay.x_of_row(second)
            span = max(b - a, 1.0)
            tl.set_x_range(a - span * 4, b + span * 4)
            w.inspector.filter.setText(bug.customer)
            w.inspector.filter.returnPressed.emit()
            save(app, w, out / "timeline-by-type.png")
            w.inspector.filter.clear()
            w.inspector.filter.returnPressed.emit()
            w.detail.tabs.setCurrentIndex(1)
            w.resizeDocks([w.state_dock, w.detail_dock], [260, 640], Qt.Orientation.Vertical)
            save(app, w.detail_dock, out / "event-detail-json.png")
            bad = tmp / "with-bad-lines.jsonl"
            lines = demo.read_text(encoding="utf-8").splitlines()[:400]
            lines.insert(57, '{"id": "x", "stream": "order-1", "type": "Oops", "data": ')
            lines.insert(121, "[1, 2, 3]")
            lines.insert(300, "not json at all")
            bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
            open_log(app, w, bad)
            w.report_dock.raise_()
            save(app, w, out / "import-report.png")
        w.close()
        app.processEvents()


if __name__ == "__main__":
    main()
