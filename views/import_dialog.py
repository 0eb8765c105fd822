"""File ▸ Open…: choose a log, see its format and its first events as they will be imported,
change the field mapping, then open it.

The preview runs the real import on the first records (app.preview) in a background job, a
moment after the last change; the mapping chosen for a file is remembered (QSettings) and
offered again next time. Recent files are one click away.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app import gui as app_gui
from app.preview import (
    NATIVE_FORMATS,
    Preview,
    formats,
    preview,
    preview_eventsourcing,
    preview_table,
)
from app.qt_models import format_time
from app.workers import Job, JobSlot
from models import converters
from models.converters import sqltable
from models.event import format_key
from models.mapping import CANONICAL_FIELDS
from models.problems import InputError

if TYPE_CHECKING:
    from views.main_window import MainWindow

AUTO = ""
_MAPPING_KEY = "import/mapping/"
_FILTER = (
    "Event logs (*.jsonl *.ndjson *.json *.jsonl.gz *.gz *.csv *.tsv *.sqlite *.db);;All files (*)"
)


_RECENT_TABLES = "import/recent_tables"
_MAX_RECENT_TABLES = 10


def recent_tables(settings: Any) -> list[dict[str, Any]]:
    """Database tables opened before, newest first (URLs without their password)."""
    try:
        found = orjson.loads(str(settings.value(_RECENT_TABLES, "[]")))
    except orjson.JSONDecodeError:
        return []
    return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []


def remember_table(settings: Any, source: sqltable.TableSource) -> None:
    entry = {
        "url": sqltable.mask_url(source.url).replace(":***@", "@"),
        "table": source.table,
        "columns": dict(source.columns),
        "where": {k: str(v) for k, v in source.where.items()},
        "since": source.since,
        "until": source.until,
    }
    kept = [e for e in recent_tables(settings) if e != entry][: _MAX_RECENT_TABLES - 1]
    settings.setValue(_RECENT_TABLES, orjson.dumps([entry, *kept]).decode())


class ImportDialog(QDialog):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.setObjectName("importDialog")
        self.setWindowTitle("Open an event log")
        self.w = window
        self.settings = window.settings
        self.jobs = JobSlot(self)
        self.result_preview: Preview | None = None

        self.path_edit = QLineEdit()
        self.path_edit.setObjectName("importPath")
        self.path_edit.setPlaceholderText("A log file: JSON Lines, JSON, CloudEvents, CSV, ...")
        self.path_edit.editingFinished.connect(self.schedule)
        browse = QPushButton("Browse…")
        browse.setObjectName("importBrowse")
        browse.clicked.connect(self.browse)
        self.format_box = QComboBox()
        self.format_box.setObjectName("importFormat")
        self.format_box.addItem("Detect", AUTO)
        for name in formats():
            self.format_box.addItem(name, name)
        self.format_box.currentIndexChanged.connect(lambda _i: self.schedule())
        self.detected = QLabel()
        self.detected.setObjectName("importDetected")

        self.mapping_group = QGroupBox(
            "Field mapping (a path in each record; a|b: the first found)"
        )
        self.mapping_boxes: dict[str, QComboBox] = {}
        form = QFormLayout(self.mapping_group)
        for name in CANONICAL_FIELDS:
            box = QComboBox()
            box.setEditable(True)
            box.setObjectName(f"map_{name}")
            box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
            box.lineEdit().setPlaceholderText("(none)")
            box.lineEdit().editingFinished.connect(self.schedule)
            box.activated.connect(lambda _i: self.schedule())
            self.mapping_boxes[name] = box
            form.addRow(name, box)

        self.mapping_note = QLabel()
        self.mapping_note.setObjectName("importMappingNote")
        self.mapping_note.setWordWrap(True)
        self.mapping_note.hide()

        self.table = QTableWidget(0, 6)
        self.table.setWordWrap(False)
        self.table.setObjectName("importPreview")
        self.table.setHorizontalHeaderLabels(["Pos", "Stream", "Type", "Ver", "Recorded", "Data"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.status = QLabel("Choose a file.")
        self.status.setObjectName("importStatus")
        self.status.setWordWrap(True)
        self.recent = QListWidget()
        self.recent.setObjectName("importRecent")
        self.recent.itemActivated.connect(
            lambda item: self.set_path(item.data(Qt.ItemDataRole.UserRole))
        )
        for name in app_gui.recent_files(self.settings):
            self.recent.addItem(f"{Path(name).name}   —   {Path(name).parent}")
            self.recent.item(self.recent.count() - 1).setData(Qt.ItemDataRole.UserRole, name)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.open_button = self.buttons.button(QDialogButtonBox.StandardButton.Open)
        self.open_button.setEnabled(False)

        top = QHBoxLayout()
        top.addWidget(self.path_edit, 1)
        top.addWidget(browse)
        fmt_row = QHBoxLayout()
        fmt_row.addWidget(QLabel("Format"))
        fmt_row.addWidget(self.format_box)
        fmt_row.addWidget(self.detected, 1)
        file_tab = QWidget()
        file_box = QVBoxLayout(file_tab)
        file_box.addLayout(top)
        file_box.addLayout(fmt_row)
        file_box.addWidget(QLabel("Recent"))
        file_box.addWidget(self.recent, 1)
        file_box.addWidget(self.mapping_group)
        file_box.addWidget(self.mapping_note)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("importTabs")
        self.tabs.addTab(file_tab, "File")
        self.db_tab = self._database_tab()
        self.tabs.addTab(self.db_tab, "Database table")
        self.tabs.currentChanged.connect(self._on_tab)
        right = QWidget()
        right_box = QVBoxLayout(right)
        right_box.setContentsMargins(0, 0, 0, 0)
        right_box.addWidget(QLabel("The first events, as they will be imported"))
        right_box.addWidget(self.table, 1)
        right_box.addWidget(self.status)
        splitter = QSplitter()
        splitter.addWidget(self.tabs)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.buttons)
        self.resize(1100, 640)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self.refresh)
        self._loading_mapping = False

    # --- a database table ----------------------------------------------------------------

    def _database_tab(self) -> QWidget:
        tab = QWidget()
        form = QFormLayout(tab)
        self.db_kind = QComboBox()
        self.db_kind.setObjectName("dbKind")
        self.db_kind.addItem("An event table (map its columns)", "table")
        self.db_kind.addItem("A store of the Python eventsourcing library", "eventsourcing")
        self.db_kind.currentIndexChanged.connect(self._on_kind)
        self.schema_edit = QLineEdit()
        self.schema_edit.setObjectName("dbSchema")
        self.schema_edit.setPlaceholderText("(the database's default: public on PostgreSQL)")
        self.url_edit = QLineEdit()
        self.url_edit.setObjectName("dbUrl")
        self.url_edit.setPlaceholderText("postgresql+psycopg://user@host/db or sqlite:///events.db")
        self.table_edit = QLineEdit()
        self.table_edit.setObjectName("dbTable")
        self.table_edit.setPlaceholderText("events")
        self.columns_edit = QLineEdit()
        self.columns_edit.setObjectName("dbColumns")
        self.columns_edit.setPlaceholderText(
            '{"stream": "aggregate_id", "type": "kind", "data": "payload"}'
        )
        self.where_edit = QLineEdit()
        self.where_edit.setObjectName("dbWhere")
        self.where_edit.setPlaceholderText("aggregate_type=Order, tenant=7 (optional)")
        self.since_edit = QLineEdit()
        self.since_edit.setObjectName("dbSince")
        self.since_edit.setPlaceholderText("2025-03-01 (optional)")
        self.until_edit = QLineEdit()
        self.until_edit.setObjectName("dbUntil")
        self.until_edit.setPlaceholderText("2025-03-08 (optional)")
        self.db_recent = QComboBox()
        self.db_recent.setObjectName("dbRecent")
        self.db_recent.addItem("Recent tables…", None)
        for entry in recent_tables(self.settings):
            self.db_recent.addItem(f"{entry['table']}  —  {entry['url']}", entry)
        self.db_recent.activated.connect(self._on_recent_table)
        self.db_preview = QPushButton("Preview")
        self.db_preview.setObjectName("dbPreview")
        self.db_preview.clicked.connect(self.refresh_table)
        form.addRow(self.db_recent)
        form.addRow("Kind", self.db_kind)
        form.addRow("URL", self.url_edit)
        form.addRow("Schema", self.schema_edit)
        form.addRow("Table", self.table_edit)
        form.addRow("Columns", self.columns_edit)
        form.addRow("Only rows where", self.where_edit)
        form.addRow("Recorded since", self.since_edit)
        form.addRow("Recorded before", self.until_edit)
        form.addRow(
            QLabel(
                "Read in pages, in one read-only transaction; every value is sent as a bound "
                "parameter. The password is never shown or stored."
            )
        )
        form.addRow(self.db_preview)
        return tab

    def _on_kind(self, _index: int) -> None:
        table = self.db_kind.currentData() == "table"
        for widget in (
            self.table_edit,
            self.columns_edit,
            self.where_edit,
            self.since_edit,
            self.until_edit,
        ):
            widget.setEnabled(table)

    def eventsourcing_store(self) -> tuple[str, str | None] | None:
        """(URL, schema) when the Database tab names an eventsourcing store."""
        if self.db_kind.currentData() != "eventsourcing":
            return None
        url = self.url_edit.text().strip()
        if "://" not in url:
            raise ValueError("give the store's database URL (postgresql+psycopg://...)")
        return url, self.schema_edit.text().strip() or None

    def table_source(self) -> sqltable.TableSource:
        """What the Database tab describes; ValueError with a readable reason if incomplete."""
        url, table = self.url_edit.text().strip(), self.table_edit.text().strip()
        if "://" not in url or not table:
            raise ValueError("give a database URL (with ://) and a table name")
        text = self.columns_edit.text().strip() or "{}"
        try:
            columns = orjson.loads(text)
        except orjson.JSONDecodeError as error:
            raise ValueError(f"Columns is not a JSON object: {error}") from None
        if not isinstance(columns, dict):
            raise ValueError('Columns must be a JSON object, e.g. {"type": "kind"}')
        where: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in self.where_edit.text().split(","))):
            column, sep, value = part.partition("=")
            if not sep or not column.strip():
                raise ValueError(f"{part!r} in 'Only rows where': write COLUMN=VALUE")
            where[column.strip()] = value.strip()
        return sqltable.TableSource(
            url=url,
            table=table,
            columns={str(k): str(v) for k, v in columns.items()},
            where=where,
            since=self.since_edit.text().strip() or None,
            until=self.until_edit.text().strip() or None,
            schema=self.schema_edit.text().strip() or None,
        )

    def _on_recent_table(self, index: int) -> None:
        entry = self.db_recent.itemData(index)
        if not isinstance(entry, dict):
            return
        self.url_edit.setText(str(entry.get("url", "")))
        self.table_edit.setText(str(entry.get("table", "")))
        self.columns_edit.setText(orjson.dumps(entry.get("columns", {})).decode())
        where = entry.get("where", {})
        self.where_edit.setText(", ".join(f"{k}={v}" for k, v in where.items()))
        self.since_edit.setText(entry.get("since") or "")
        self.until_edit.setText(entry.get("until") or "")

    def refresh_table(self) -> None:
        try:
            store = self.eventsourcing_store()
            if store is not None:
                url, schema = store
                self.status.setText("Reading the first events of the store…")
                job = self.jobs.start(
                    lambda _p: preview_eventsourcing(url, schema), label="Previewing the store"
                )
                job.succeeded.connect(self._show)
                job.failed.connect(self._failed)
                self.last_job = job
                return
            source = self.table_source()
        except ValueError as error:
            self._failed(error)
            return
        self.status.setText(f"Reading the first rows of {source.describe()}…")
        job = self.jobs.start(lambda _p: preview_table(source), label="Previewing the table")
        job.succeeded.connect(self._show)
        job.failed.connect(self._failed)
        self.last_job = job

    def _on_tab(self, _index: int) -> None:
        self.jobs.cancel()  # a preview of the other tab must not land here
        self.result_preview = None
        self.table.setRowCount(0)
        self.open_button.setEnabled(False)
        if self.tabs.currentWidget() is self.db_tab:
            self.status.setText("Fill in the database and press Preview.")
        else:
            self.schedule()

    # --- inputs -------------------------------------------------------------------------

    def browse(self) -> None:
        start = self.path_edit.text() or next(iter(app_gui.recent_files(self.settings)), "")
        name, _ = QFileDialog.getOpenFileName(
            self, "Open an event log", str(Path(start).parent) if start else "", _FILTER
        )
        if name:
            self.set_path(name)

    def set_path(self, path: str | Path) -> None:
        self.path_edit.setText(str(path))
        self._restore_mapping(Path(path))
        self.schedule()

    def path(self) -> Path | None:
        text = self.path_edit.text().strip()
        return Path(text).expanduser() if text else None

    def fmt(self) -> str | None:
        data = self.format_box.currentData()
        return data or None

    def mapping(self) -> dict[str, str | None] | None:
        """The mapping the boxes show (native formats; None: converted ones map themselves)."""
        if not self.mapping_group.isEnabled():
            return None
        return self._typed_mapping()

    def _restore_mapping(self, path: Path) -> None:
        stored = self.settings.value(_MAPPING_KEY + str(path.resolve()))
        if not stored:
            return
        try:
            mapping = orjson.loads(str(stored))
        except orjson.JSONDecodeError:
            return
        self._loading_mapping = True
        for name, value in mapping.items():
            box = self.mapping_boxes.get(name)
            if box is not None:
                box.setEditText(value or "")
        self._loading_mapping = False

    # --- preview --------------------------------------------------------------------------

    def schedule(self) -> None:
        if not self._loading_mapping:
            self._timer.start()

    def refresh(self) -> None:
        path = self.path()
        if path is None:
            return
        if not path.is_file():
            self.status.setText(f"{path}: no such file.")
            self.open_button.setEnabled(False)
            return
        fmt = self.fmt()
        mapping = self._typed_mapping() if self.mapping_group.isEnabled() else None
        self.status.setText("Reading the first events…")

        def work(progress: Any) -> Preview:
            return preview(path, fmt, mapping, progress=progress)

        job = self.jobs.start(work, label=f"Previewing {path.name}")
        job.succeeded.connect(self._show)
        job.failed.connect(self._failed)
        self.last_job: Job = job

    def _typed_mapping(self) -> dict[str, str | None] | None:
        """What the boxes say (once a preview filled them in, untouched boxes hold what was
        detected); None before that: detect."""
        out = {n: (b.currentText().strip() or None) for n, b in self.mapping_boxes.items()}
        return out if any(out.values()) else None

    def _show(self, found: Preview) -> None:
        self.result_preview = found
        kind = "converted on import" if found.converted else "read directly"
        self.detected.setText(f"detected: {found.detected} ({kind})")
        native = found.format in NATIVE_FORMATS or found.format.startswith("cloudevents")
        self.mapping_group.setEnabled(native and not found.converted)
        self.mapping_group.setVisible(not found.converted)
        converter = converters.pick(found.path, found.format) if found.converted else None
        self.mapping_note.setVisible(converter is not None)
        if converter is not None:
            self.mapping_note.setText(
                f"{converter.description}.\nThis format maps its own fields (see the README's "
                "table of formats); the preview shows the result."
            )
        self._loading_mapping = True
        for name, box in self.mapping_boxes.items():
            current = found.mapping.get(name)
            box.clear()
            box.addItems(found.fields)
            box.setEditText(current or "")
        self._loading_mapping = False
        if found.error is not None:
            self.table.setRowCount(0)
            self.status.setText(f"Nothing can be imported this way: {found.error}")
            self.open_button.setEnabled(False)
            return
        self.table.setRowCount(len(found.events))
        for r, e in enumerate(found.events):
            values = [
                format_key(e.key),
                e.stream,
                e.type,
                "" if e.version is None else str(e.version),
                format_time(e.recorded_us) if e.recorded_us is not None else "",
                orjson.dumps(e.data).decode()[:200],
            ]
            for c, text in enumerate(values):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        errors = [p for p in found.problems if p.severity.value == "error"]
        text = f"{len(found.events)} event(s) previewed in format {found.format}."
        if found.problems:
            first = found.problems[0]
            text += (
                f" {len(found.problems)} problem(s) so far ({len(errors)} skipped), first at "
                f"{first.location()}: {first.reason}"
            )
        self.status.setText(text)
        self.open_button.setEnabled(bool(found.events) or not errors)

    def _failed(self, exc: BaseException) -> None:
        self.result_preview = None
        self.table.setRowCount(0)
        message = str(exc) if isinstance(exc, InputError | ValueError) else repr(exc)
        self.status.setText(f"Cannot read it this way: {message}")
        self.open_button.setEnabled(False)

    # --- open -------------------------------------------------------------------------------

    def accept(self) -> None:
        if self.tabs.currentWidget() is self.db_tab:
            if self.result_preview is None:
                return
            try:
                store = self.eventsourcing_store()
                source = self.table_source() if store is None else None
            except ValueError as error:  # a field edited into nonsense after the preview
                self._failed(error)
                return
            if store is not None:
                self.jobs.shutdown()
                super().accept()
                self.w.open_eventsourcing(*store)
                return
            assert source is not None
            remember_table(self.settings, source)
            self.jobs.shutdown()
            super().accept()
            self.w.open_table(source)
            return
        path = self.path()
        if path is None or self.result_preview is None:
            return
        mapping = self.mapping()
        if mapping is not None:
            self.settings.setValue(
                _MAPPING_KEY + str(path.resolve()), orjson.dumps(mapping).decode()
            )
        self.jobs.shutdown()
        super().accept()
        self.w.open_path(path, fmt=self.fmt(), mapping=mapping)

    def reject(self) -> None:
        self.jobs.shutdown()
        super().reject()
