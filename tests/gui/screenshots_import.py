"""Screenshot of the import dialog for the README (run on demand, under Xvfb):

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python -m tests.gui.screenshots_import

Writes the demo log's first 300 events as a Kafka dump (the shape ``kcat -C -J`` prints:
two partitions, the event type in a header, the payload as JSON text), opens File ▸ Open…
on it and saves docs/screenshots/import-dialog.png.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import orjson
from PySide6.QtCore import QSettings

from app import gui as app_gui
from tests.gui.screenshots import ROOT, save, wait_until
from views.import_dialog import ImportDialog
from views.main_window import MainWindow
from views.theme import Theme


def kafka_dump(out: Path, events: int = 300) -> None:
    lines = []
    offsets = [0, 0]
    with open(app_gui.DEMO_LOG, "rb") as fh:
        for _, line in zip(range(events), fh, strict=False):
            e = orjson.loads(line)
            partition = hash(e["stream"]) % 2
            from models.timeparse import parse_timestamp

            ms = parse_timestamp(e["recorded_at"]) // 1000
            lines.append(
                {
                    "topic": "shop-events",
                    "partition": partition,
                    "offset": offsets[partition],
                    "tstype": "create",
                    "ts": ms,
                    "broker": 1,
                    "headers": ["type", e["type"], "ce_id", e["id"]],
                    "key": e["stream"],
                    "payload": orjson.dumps(e["data"]).decode(),
                }
            )
            offsets[partition] += 1
    out.write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")


def main() -> None:
    out = ROOT / "docs" / "screenshots"
    tmp = Path(tempfile.mkdtemp(prefix="rewind-shots-"))
    dump = tmp / "shop-events.kcat.json"
    kafka_dump(dump)
    app = app_gui.make_application([])
    w = MainWindow(
        opener=app_gui.default_opener(str(tmp / "workspace.sqlite")),
        settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat),
        theme=Theme("light"),
    )
    w.resize(1500, 940)
    w.show()
    dialog = ImportDialog(w)
    dialog.show()
    dialog.set_path(dump)
    wait_until(app, lambda: dialog.table.rowCount() > 0)
    save(app, dialog, out / "import-dialog.png")
    dialog.reject()
    w.close()
    app.processEvents()


if __name__ == "__main__":
    main()
