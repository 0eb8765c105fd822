"""What a log will look like once imported, before importing it: the import dialog's preview.

The first records go through the real import (into a throwaway workspace), so the preview
maps, normalises and reports problems exactly as the import will. Formats that are converted
(Kafka dumps, CSV, event stores...) are converted whole into Rewind's cache first; the
import that follows then reuses that file.
"""

from __future__ import annotations

import io
import itertools
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from app.session import open_session
from models import converters
from models.converters import eventsourcing_store, sqltable
from models.converters.base import ConversionCancelled
from models.event import Event
from models.problems import InputError, Problem
from models.readers import Format, detect_container
from models.readers.jsonarray import ArraySplitter
from models.readers.source import BOM, Source

ProgressFn = Callable[[int, int], bool]
HEAD_BYTES = 1 << 20
NATIVE_FORMATS = (Format.JSONL.value, Format.JSON_ARRAY.value)
"""Formats the importer reads itself: their field mapping can be changed."""


@dataclass
class Preview:
    path: Path
    format: str
    """The format the import will use (detected, or as asked)."""
    detected: str
    """What detection alone finds."""
    converted: bool
    events: list[Event] = field(default_factory=list)
    mapping: dict[str, str | None] = field(default_factory=dict)
    """Canonical field -> source path, as the import will use it (native formats)."""
    fields: list[str] = field(default_factory=list)
    """Paths found in the sample records, to offer in the mapping editor."""
    problems: list[Problem] = field(default_factory=list)
    error: str | None = None
    """Why nothing can be imported this way (e.g. no field holds the event type); the
    fields are still listed, so the user can map one."""


def formats() -> list[str]:
    """Every format a user can ask for."""
    return [f.value for f in Format] + converters.names()


def detect(path: Path) -> str:
    converter = converters.pick(path)
    if converter is not None:
        return converter.name
    head = _head(path) if path.exists() else b""
    if head.startswith(BOM):
        head = head[len(BOM) :]
    container = detect_container(head)
    if container is None or not container:
        return Format.JSONL.value
    return Format.JSON_ARRAY.value


def preview(
    path: Path,
    fmt: str | None = None,
    mapping: dict[str, str | None] | None = None,
    rows: int = 50,
    progress: ProgressFn | None = None,
) -> Preview:
    """The first ``rows`` events of ``path`` as the import with ``fmt`` and ``mapping``
    (overrides of the detected mapping) would make them. A mapping that finds no event type
    gives a preview with ``error`` set; a file that cannot be read raises InputError."""
    detected = detect(path)
    chosen = fmt or detected
    converter = converters.pick(path, chosen) if chosen in converters.names() else None
    if converter is not None:
        source, conversion = converters.convert_cached(path, converter, progress=progress)
        sample_lines = _first_lines(source, rows)
        problems = list(conversion.problems) if conversion is not None else []
        native_mapping = None
    else:
        sample_lines = _first_records(path, chosen, rows)
        problems = []
        native_mapping = mapping
    result = Preview(path, chosen, detected, converter is not None, problems=problems)
    return _through_import(result, sample_lines, native_mapping)


def preview_table(source: sqltable.TableSource, rows: int = 50) -> Preview:
    """The first events of a database table (the first page only: nothing is cached)."""
    out = io.BytesIO()

    def first_page_only(done: int, _total: int) -> bool:
        return done < rows

    try:
        conversion = sqltable.convert(source, out, progress=first_page_only, page_size=rows)
    except ConversionCancelled:
        conversion = None
    label = Path(source.describe())
    result = Preview(label, "sql-table", "sql-table", True)
    if conversion is not None:
        result.problems = list(conversion.problems)
    lines = out.getvalue().splitlines(keepends=True)[:rows]
    return _through_import(result, lines, None)


def preview_eventsourcing(url: str, schema: str | None, rows: int = 50) -> Preview:
    """The first events of a PostgreSQL eventsourcing store (the first page only)."""
    out = io.BytesIO()

    def first_page_only(done: int, _total: int) -> bool:
        return done < rows

    try:
        conversion = eventsourcing_store.convert_postgres(
            url, out, schema=schema, progress=first_page_only, page_size=rows
        )
    except ConversionCancelled:
        conversion = None
    label = Path(f"{sqltable.mask_url(url)}#{schema or 'public'}")
    result = Preview(label, "eventsourcing-postgres", "eventsourcing-postgres", True)
    if conversion is not None:
        result.problems = list(conversion.problems)
    return _through_import(result, out.getvalue().splitlines(keepends=True)[:rows], None)


def _through_import(
    result: Preview, sample_lines: list[bytes], native_mapping: dict[str, str | None] | None
) -> Preview:
    """Import the sample lines into a throwaway workspace and fill ``result`` in."""
    path, converted = result.path, result.converted
    result.fields = _fields(sample_lines)
    with tempfile.TemporaryDirectory(prefix="rewind-preview-") as tmp:
        sample = Path(tmp) / "sample.jsonl"
        sample.write_bytes(b"".join(sample_lines))
        try:
            session = open_session(
                sample, workspace=Path(tmp) / "preview.sqlite", fmt="jsonl", mapping=native_mapping
            )
        except InputError as error:
            result.error = str(error).replace(str(sample), str(path))
            return result
        try:
            result.events = list(session.log.iter_events())
            source_row = session.workspace.find_source(sample) if session.workspace else None
            if source_row is not None and not converted:
                result.mapping = dict(source_row.mapping.get("paths", source_row.mapping))
            if not converted:
                for p in session.problems:
                    result.problems.append(
                        Problem(str(path), p.line, p.offset, p.reason, p.severity, p.excerpt)
                    )
        finally:
            session.close()
    return result


def _head(path: Path) -> bytes:
    with Source(path) as source:
        return source.head()


def _first_lines(path: Path, rows: int) -> list[bytes]:
    with open(path, "rb") as fh:
        return [
            line if line.endswith(b"\n") else line + b"\n" for line in itertools.islice(fh, rows)
        ]


def _first_records(path: Path, fmt: str, rows: int) -> list[bytes]:
    """The first records of a native log as JSON lines (an array's elements cut out)."""
    head = _head(path)
    if head.startswith(BOM):
        head = head[len(BOM) :]
    if fmt in (Format.JSON_ARRAY.value, Format.CLOUDEVENTS_BATCH.value):
        splitter = ArraySplitter(offset=0, line=1, max_record_bytes=HEAD_BYTES)
        records = splitter.feed(head).records[:rows]
        return [orjson.dumps(orjson.loads(r)) + b"\n" for r in records if r.strip()]
    out: list[bytes] = []
    records = 0
    for line in head.split(b"\n")[:-1]:  # the last piece may be cut short
        out.append(line + b"\n")  # blank lines too: problems keep their line numbers
        records += bool(line.strip())
        if records >= rows:
            break
    return out


def _fields(lines: list[bytes]) -> list[str]:
    """Top-level keys and one level inside objects, in order of first appearance."""
    seen: dict[str, None] = {}
    for line in lines:
        try:
            obj: Any = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(obj, dict):
            continue
        for key, value in obj.items():
            seen.setdefault(key, None)
            if isinstance(value, dict):
                for inner in value:
                    seen.setdefault(f"{key}.{inner}", None)
    return list(seen)
