"""File > Open…: the import dialog detects the format, previews the first events through the
real import, lets the user change the mapping (remembered per file) and opens the log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from PySide6.QtCore import QSettings, Qt

from app import gui as app_gui
from views.import_dialog import ImportDialog
from views.main_window import MainWindow
from views.theme import Theme


def make_window(qtbot: Any, settings: QSettings, tmp_path: Path) -> MainWindow:
    w = MainWindow(
        opener=app_gui.default_opener(str(tmp_path / "ws.sqlite")),
        settings=settings,
        theme=Theme("light"),
    )
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def streams(dialog: ImportDialog) -> list[str]:
    return [dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())]


def test_preview_change_the_mapping_open_and_remember(
    qtbot: Any, settings: QSettings, tmp_path: Path
) -> None:
    log = tmp_path / "odd.jsonl"
    records = [{"kind": "Paid", "agg": f"acct-{i % 2}", "shop": "main", "n": i} for i in range(6)]
    log.write_bytes(b"\n".join(orjson.dumps(r) for r in records) + b"\n")
    w = make_window(qtbot, settings, tmp_path)
    dialog = ImportDialog(w)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.set_path(log)
    # no member is called like an event type: the dialog says so and offers the fields
    qtbot.waitUntil(lambda: "event type" in dialog.status.text(), timeout=10_000)
    assert not dialog.open_button.isEnabled()
    assert dialog.format_box.currentData() == "" and "jsonl" in dialog.detected.text()
    assert dialog.mapping_group.isEnabled()
    kind = dialog.mapping_boxes["type"]
    assert kind.findText("kind") >= 0
    kind.setCurrentIndex(kind.findText("kind"))
    kind.activated.emit(kind.currentIndex())
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 6, timeout=10_000)
    assert dialog.mapping_boxes["stream"].currentText() == ""  # nothing looks like one
    assert len(set(streams(dialog))) == 1
    other = "agg"
    box = dialog.mapping_boxes["stream"]
    box.setEditText(other)
    box.lineEdit().editingFinished.emit()
    expected = [r["agg"] for r in records]
    qtbot.waitUntil(lambda: streams(dialog) == expected, timeout=10_000)
    with qtbot.waitSignal(w.importFinished, timeout=20_000) as opened:
        dialog.accept()
    assert opened.args == ["opened"]
    assert w.session is not None
    assert [e.stream for e in w.session.log.iter_events()] == expected
    # the choice is offered again for this file
    again = ImportDialog(w)
    qtbot.addWidget(again)
    again.set_path(log)
    assert again.mapping_boxes["stream"].currentText() == other
    again.reject()


def test_a_converted_format_is_detected_and_not_remapped(
    qtbot: Any, settings: QSettings, tmp_path: Path
) -> None:
    csv = tmp_path / "events.csv"
    csv.write_text("id,stream,type,amount\n1,s,Paid,5\n2,s,Refunded,2\n3,t,Paid,x\n")
    w = make_window(qtbot, settings, tmp_path)
    dialog = ImportDialog(w)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.set_path(csv)
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 3, timeout=10_000)
    assert "csv" in dialog.detected.text() and "converted" in dialog.detected.text()
    assert not dialog.mapping_group.isEnabled()
    assert dialog.open_button.isEnabled()
    dialog.set_path(tmp_path / "missing.jsonl")
    qtbot.waitUntil(lambda: "no such file" in dialog.status.text())
    assert not dialog.open_button.isEnabled()
    dialog.reject()


def test_a_redux_devtools_export_opens_on_the_state_it_showed(
    qtbot: Any, settings: QSettings, tmp_path: Path
) -> None:
    from tests.unit.test_convert_redux import lifted_state_export, recorded_session

    tools = recorded_session()
    export = tmp_path / "todo-devtools.json"
    export.write_bytes(lifted_state_export(tools))
    w = make_window(qtbot, settings, tmp_path)
    with qtbot.waitSignal(w.importFinished, timeout=20_000):
        w.open_path(export)
    assert w.navigator.row == tools.current - 1
    assert w.projection_actions.combo.currentText() == "redux-recorded"
    qtbot.waitUntil(lambda: w.inspector.model.rowCount() > 0)
    assert "counter" in w.inspector.visible_keys()
    assert "skipped in DevTools" in [b["name"] for b in w.session.branch_list()]  # type: ignore[union-attr]


def test_a_database_table_previewed_and_opened(
    qtbot: Any, settings: QSettings, tmp_path: Path
) -> None:
    import sqlalchemy as sa

    db = tmp_path / "events.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    meta = sa.MetaData()
    events = sa.Table(
        "events",
        meta,
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("aggregate", sa.Text),
        sa.Column("kind", sa.Text),
        sa.Column("body", sa.Text),
    )
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            events.insert(),
            [
                {"aggregate": f"a{i % 2}", "kind": "Paid", "body": f'{{"n": {i}}}'}
                for i in range(80)
            ],
        )
    engine.dispose()
    w = make_window(qtbot, settings, tmp_path)
    dialog = ImportDialog(w)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.tabs.setCurrentWidget(dialog.db_tab)
    dialog.url_edit.setText(f"sqlite:///{db}")
    dialog.table_edit.setText("events")
    dialog.columns_edit.setText('{"stream": "aggregate", "type": "kind", "data": "body"}')
    dialog.where_edit.setText("aggregate=a1")
    qtbot.mouseClick(dialog.db_preview, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 40, timeout=10_000)
    assert set(streams(dialog)) == {"a1"}
    with qtbot.waitSignal(w.importFinished, timeout=20_000) as opened:
        dialog.accept()
    assert opened.args == ["opened"]
    assert w.session is not None and len(w.session.log) == 40
    assert "events" in w.windowTitle()
    # the table is offered again, without having to type it
    again = ImportDialog(w)
    qtbot.addWidget(again)
    again.tabs.setCurrentWidget(again.db_tab)
    assert again.db_recent.count() == 2
    again.db_recent.setCurrentIndex(1)
    again.db_recent.activated.emit(1)
    assert again.url_edit.text() == f"sqlite:///{db}" and again.table_edit.text() == "events"
    assert again.where_edit.text() == "aggregate=a1"
    assert again.table_source().columns["stream"] == "aggregate"
    again.reject()


def test_an_eventsourcing_store_on_postgresql(
    qtbot: Any, settings: QSettings, tmp_path: Path
) -> None:
    import os
    from uuid import uuid4

    import pytest
    from sqlalchemy import create_engine, text

    from tests.unit.test_convert_eventsourcing import PgPlace, bank, fill

    base = os.environ.get("REWIND_TEST_PG_URL")
    if not base:
        pytest.skip("set REWIND_TEST_PG_URL to run the PostgreSQL tests")
    schema = f"rewind_gui_{uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        app = bank(PgPlace(base, schema, admin))
        ids = fill(app, operations=10)
        app.close()
        w = make_window(qtbot, settings, tmp_path)
        dialog = ImportDialog(w)
        qtbot.addWidget(dialog)
        dialog.show()
        dialog.tabs.setCurrentWidget(dialog.db_tab)
        dialog.db_kind.setCurrentIndex(dialog.db_kind.findData("eventsourcing"))
        assert not dialog.table_edit.isEnabled()
        dialog.url_edit.setText(base)
        dialog.schema_edit.setText(schema)
        qtbot.mouseClick(dialog.db_preview, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.table.rowCount() == len(ids) + 10, timeout=10_000)
        with qtbot.waitSignal(w.importFinished, timeout=20_000) as opened:
            dialog.accept()
        assert opened.args == ["opened"]
        assert w.session is not None and len(w.session.log) == len(ids) + 10
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
