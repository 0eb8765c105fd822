"""Screenshots of parallel systems for the README (run on demand, under Xvfb):

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python -m tests.gui.screenshots_branches

The demo story, through the window's own dialogs: fork before the duplicate charge, drop it
and the second debit, correct the running balance the later debit carried, compare with
main, chart the balance in both branches, and compute the compensating event. Saves
docs/screenshots/issue4-*.png. The workspace lives in a temporary directory.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication

from app import gui as app_gui
from models.generator import write_demo
from tests.gui.screenshots import ROOT, open_log, save, settle, wait_until
from views.main_window import MainWindow
from views.theme import Theme

THEME = "light"


def idle(app: QApplication, w: MainWindow) -> None:
    wait_until(app, lambda: not w.engine_queue.busy)
    settle(app, 0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    args = parser.parse_args()
    global THEME
    THEME = args.theme
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="rewind-shots-"))
    planted = write_demo(tmp / "shop.jsonl")
    bug = planted.double_charge
    assert bug is not None
    demo = tmp / "shop.jsonl"

    app = app_gui.make_application([])
    settings = QSettings(str(tmp / "light.ini"), QSettings.Format.IniFormat)
    w = MainWindow(
        opener=app_gui.default_opener(str(tmp / "workspace.sqlite")),
        settings=settings,
        theme=Theme(THEME),
        demo_log=demo,
    )
    w.resize(1500, 940)
    w.show()
    open_log(app, w, demo)
    engine = w.navigator.engine

    # Fork just before the duplicate charge.
    dup_charge, dup_debit = bug.charge_positions[1], bug.debit_positions[1]
    w.navigator.go_to(dup_charge)
    w.table.setFocus()
    w.branch_actions.fork_here()
    dialog = w.branch_actions.fork_dialog
    assert dialog is not None
    dialog.name_edit.setText("fix-double-charge")
    dialog.note_edit.setPlainText(
        "Drop the re-emitted PaymentCharged and its second debit; correct the balance the "
        "next debit carried."
    )
    save(app, dialog, out / "issue4-fork-dialog.png")
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    wait_until(app, lambda: w.navigator.branch == "fix-double-charge")
    idle(app, w)

    for pos in (dup_charge, dup_debit):
        w.branch_ctl.drop(w.navigator.row_of_key(pos) or 0)
        idle(app, w)

    # The customer's next balance event carried the wrong running balance: correct it.
    cols = w.session.log.columns if w.session else None
    assert cols is not None
    code = list(cols.stream_names).index(bug.customer)
    later = [int(p) for p in (cols.stream_codes == code).nonzero()[0] if p > dup_debit]
    last = later[-1]
    row = w.navigator.row_of_key(last)
    assert row is not None
    w.navigator.go_to(row)
    w.table.setFocus()
    w.branch_actions.edit_event()
    edit = w.branch_actions.edit_dialog
    assert edit is not None
    data = dict(engine.event_at(w.navigator.branch, row).data)
    data["balance"] = bug.expected_balance
    edit.data_editor.set_value(data)
    save(app, edit, out / "issue4-edit-dialog.png")
    edit.ok_button.click()
    idle(app, w)

    # The edited event: its original beside the new version.
    w.navigator.go_to(row)
    idle(app, w)
    w.detail.tabs.setCurrentIndex(w.detail.versions_tab)
    w.table.scrollTo(w.table.event_model.index(row, 6))
    w.resizeDocks([w.state_dock, w.detail_dock], [300, 600], Qt.Orientation.Vertical)
    save(app, w, out / "issue4-edited-event.png")
    w.detail.tabs.setCurrentIndex(0)
    w.resizeDocks([w.state_dock, w.detail_dock], [520, 380], Qt.Orientation.Vertical)

    # Back at the bug, the branch panel and the table with the dropped rows.
    w.navigator.go_to(w.navigator.row_of_key(dup_debit) or 0)
    idle(app, w)
    top = w.table.event_model.index(max(0, w.navigator.row - 8), 0)
    w.table.scrollTo(top, w.table.ScrollHint.PositionAtTop)
    w.inspector.filter.setText(bug.customer)
    w.inspector.filter.returnPressed.emit()
    save(app, w, out / "issue4-branches.png")
    w.inspector.filter.clear()
    w.inspector.filter.returnPressed.emit()

    # Compare with main at the end (the event dock makes room for it).
    w.detail_dock.hide()
    w.resizeDocks([w.timeline_dock], [170], Qt.Orientation.Vertical)
    w.resizeDocks([w.branch_dock, w.state_dock], [290, 360], Qt.Orientation.Horizontal)
    w.branch_actions.compare_with_parent()
    w.resizeDocks([w.compare_dock], [430], Qt.Orientation.Vertical)
    wait_until(app, lambda: w.compare.result is not None)
    idle(app, w)
    save(app, w, out / "issue4-compare.png")
    w.compare.tabs.setCurrentIndex(1)
    save(app, w.compare_dock, out / "issue4-alignment.png")
    w.compare.tabs.setCurrentIndex(0)

    # The balance in both branches: the lines part at the bug.
    w.inspector.plotRequested.emit(f"{bug.customer}.data.balance")
    wait_until(app, lambda: bool(w.chart.series))
    idle(app, w)
    save(app, w, out / "issue4-chart.png")
    save(app, w.chart_dock, out / "issue4-chart-dock.png")

    # The compensating event to append to the live log.
    w.branch_actions.show_compensation()
    comp = w.branch_actions.compensation_dialog
    assert comp is not None
    wait_until(app, lambda: comp.compensation is not None)
    save(app, comp, out / "issue4-compensation.png")
    comp.close()
    w.close()
    app.processEvents()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
