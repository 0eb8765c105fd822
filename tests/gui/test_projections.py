"""The user's projection in the window: load, switch, rule shown, upcast shown, reload,
break on exception."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt

from tests.gui.shop import T0, make_session
from tests.gui.test_window import _find, open_window

SOURCE = """
from replay_engine.api import Projection

gui = Projection("gui", initial=dict)

@gui.upcaster("OrderPlaced", from_version=1)
def total_as_money(data):
    data["total"] = {{"amount": data["total"], "currency": "EUR"}}
    return data

@gui.on("OrderPlaced")
def placed(state, event):
    state["total"] = event.data["total"]

@gui.on("PaymentCharged")
def charged_old(state, event):
    state["fee"] = event.data["amount"] * {old}

@gui.on("PaymentCharged", effective={boundary})
def charged_new(state, event):
    state["fee"] = event.data["amount"] * 3

@gui.on("Ping")
def ping(state, event):
    if event.data["n"] == 7:
        raise RuntimeError("ping seven is not allowed")
    state["n"] = event.data["n"]
"""


def fee(w: Any) -> str | None:
    """The fee of pay-1 as the state tree shows it."""
    try:
        return str(_find(w.inspector.model, "pay-1", "fee").siblingAtColumn(1).data())
    except AssertionError:
        return None


def write(path: Path, old: int) -> Path:
    path.write_text(SOURCE.format(old=old, boundary=T0 + 3_500_000))
    return path


def test_load_switch_rules_upcasts_reload_and_break_on_exception(
    qtbot: Any, settings: QSettings, tmp_path: Path
) -> None:
    w = open_window(qtbot, settings, make_session())
    session = w.session
    assert session is not None
    code = write(tmp_path / "gui_projection.py", old=2)
    actions = w.projection_actions
    assert not actions.reload_action.isEnabled()

    actions.load(code)
    qtbot.waitUntil(lambda: session.projection_name == "gui")
    combo = actions.combo
    assert [combo.itemText(i) for i in range(combo.count())] == ["generic", "gui"]
    assert combo.currentText() == "gui" and actions.reload_action.isEnabled()

    nav = w.navigator
    nav.go_to(2)  # the first charge, before the fee rule changed
    qtbot.waitUntil(lambda: w.inspector.rule.isVisible())
    assert "charged_old" in w.inspector.rule.text()
    assert fee(w) == "80"
    nav.go_to(4)  # the retried charge, after the change
    qtbot.waitUntil(lambda: "charged_new" in w.inspector.rule.text())
    assert "effective" in w.inspector.rule.text() and str(code) in w.inspector.rule.text()
    assert fee(w) == "120"

    nav.go_to(1)  # OrderPlaced: its payload is upcast on read
    detail = w.detail
    qtbot.waitUntil(lambda: detail.tabs.isTabEnabled(detail.versions_tab))
    assert detail.tabs.tabText(detail.versions_tab) == "Original ⇄ upcast"
    assert '"currency": "EUR"' in detail.edited_json.toPlainText()
    assert '"currency"' not in detail.original_json.toPlainText()

    # Edit the code, Ctrl+R: the new rule applies, cursor and branches stay.
    session.create_branch("try")
    nav.go_to(2)
    qtbot.waitUntil(lambda: fee(w) == "80")
    write(code, old=5)
    qtbot.keyClick(w, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: fee(w) == "200")
    assert nav.row == 2 and "try" in session.engine.branches()

    # A handler that raises: the inspector shows where in the user's file, and the state
    # just before the failing event.
    failing = next(r for r in range(len(session.log)) if session.log.event(r).data == {"n": 7})
    nav.go_to(len(session.log) - 1)
    qtbot.waitUntil(lambda: w.inspector.error.isVisible())
    error = w.inspector.error.text()
    assert "ping seven is not allowed" in error
    line = SOURCE.splitlines().index('        raise RuntimeError("ping seven is not allowed")') + 1
    assert f"{code}, line {line}, in ping" in error
    assert w.inspector.title.text() == f"State before the failing event @{failing}"

    # Back to the built-in projection from the switch.
    combo.setCurrentIndex(0)
    combo.activated.emit(0)
    qtbot.waitUntil(lambda: session.projection_name == "generic")
    qtbot.waitUntil(lambda: not w.inspector.error.isVisible())
    assert not w.inspector.rule.isVisible()


def test_a_remembered_projection_asks_before_running_and_only_once(
    qtbot: Any, settings: QSettings, tmp_path: Path
) -> None:
    from app.session import open_session
    from models.generator import generate
    from views.main_window import MainWindow
    from views.theme import Theme

    log, ws = tmp_path / "shop.jsonl", tmp_path / "ws.sqlite"
    generate(log, events=600, seed=3)
    code = tmp_path / "remembered.py"
    code.write_text(
        "from replay_engine.api import Projection\n"
        "remembered = Projection('remembered', initial=0)\n"
        "remembered.on('OrderPlaced')(lambda state, event: state + 1)\n"
    )
    first = open_session(log, workspace=ws)
    first.add_projection_file(code)  # the workspace now names it
    first.close()

    w = MainWindow(opener=lambda *_a: None, settings=settings, theme=Theme("light"))
    qtbot.addWidget(w)
    asked: list[Path] = []
    answer = [False]

    def ask(path: Path) -> bool:
        asked.append(path)
        return answer[0]

    w.projection_actions.ask = ask
    w.set_session(open_session(log, workspace=ws))  # "no": nothing runs
    assert asked == [code.resolve()]
    assert w.session is not None and w.session.projection_name == "generic"

    answer[0] = True
    w.set_session(open_session(log, workspace=ws))  # "yes": it runs, and is trusted
    qtbot.waitUntil(lambda: w.session is not None and w.session.projection_name == "remembered")
    assert w.projection_actions.combo.currentText() == "remembered"

    w.set_session(open_session(log, workspace=ws))  # trusted now: no question
    qtbot.waitUntil(lambda: w.session is not None and w.session.projection_name == "remembered")
    assert len(asked) == 2

    code.unlink()  # gone: said, not asked
    w.set_session(open_session(log, workspace=ws))
    assert len(asked) == 2 and "no longer exists" in w.message_bar.text()
    w.set_session(None)


def shown(model: Any, *path: str) -> str | None:
    """The value a state tree shows at ``path``, or None while it is not there."""
    try:
        return str(_find(model, *path).siblingAtColumn(1).data())
    except AssertionError:
        return None


def test_two_projections_side_by_side(qtbot: Any, settings: QSettings, tmp_path: Path) -> None:
    w = open_window(qtbot, settings, make_session())
    session = w.session
    assert session is not None
    w.projection_actions.load(write(tmp_path / "gui_projection.py", old=2))
    qtbot.waitUntil(lambda: session.projection_name == "gui")
    side = w.side_inspector
    assert w.side_dock.isHidden()
    w.side_dock.toggleViewAction().trigger()
    qtbot.waitUntil(lambda: side.chosen() == "generic")
    nav = w.navigator
    nav.go_to(2)
    qtbot.waitUntil(lambda: fee(w) == "80")  # the main inspector: the user's projection
    qtbot.waitUntil(lambda: shown(side.model, "pay-1", "data", "amount") == "40")  # generic
    assert shown(side.model, "pay-1", "fee") is None
    assert "PaymentCharged" in side.title.text()
    # both follow the cursor
    nav.go_to(4)
    qtbot.waitUntil(lambda: fee(w) == "120")
    qtbot.waitUntil(lambda: shown(side.model, "pay-1", "data", "retry") == "true")
    # the side can show the active projection too
    side.combo.setCurrentIndex(side.combo.findData("gui"))
    side.combo.activated.emit(side.combo.currentIndex())
    qtbot.waitUntil(lambda: shown(side.model, "pay-1", "fee") == "120")
