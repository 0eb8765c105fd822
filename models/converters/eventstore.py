"""EventStoreDB / KurrentDB JSON: stream pages of the HTTP API, and the append format.

**Stream pages** (AtomPub JSON, read with ``?embed=body``): an object with ``entries``, each
entry an event with ``eventId``, ``eventType``, ``eventNumber``, ``data`` (the JSON body as
text), ``metaData`` (text), ``streamId``, ``isJson``, ``updated``, ``positionStreamId``,
``positionEventNumber``, ``title`` (``"N@stream"``) and Atom links. A file may hold one page
(pretty-printed as the server sends it), one page per line, pages written one after another,
or a JSON array of pages.

- **stream** <- ``streamId``; **type** <- ``eventType``; **id** <- ``eventId``.
- **version** <- ``eventNumber + 1``. EventStoreDB numbers a stream's events from 0; Rewind's
  version is the stream's version after the event, the first event being 1 (as the generic
  projection counts and the shop generator writes). ``eventNumber`` itself stays in the
  metadata (``eventstore.eventNumber``).
- **recorded time** <- ``updated``.
- **data** <- the body parsed as JSON (``isJson`` true or absent); text when ``isJson`` is
  false, or when the body is not valid JSON (a warning). Events without a body in the page
  (non-JSON events, or pages read without ``embed=body``) get data null and a note.
- **metadata** <- the event's ``metaData`` object (so ``$correlationId`` / ``$causationId`` are
  lifted by the importer) plus ``eventstore``: ``eventNumber``, ``isJson``, the position
  (``positionStreamId``/``positionEventNumber``) when it differs (events read through a
  projection stream such as ``$ce-order``), and ``metaData`` / ``linkMetaData`` when they are
  not JSON objects.

Order: pages run newest first and may come in any order, so entries are sorted. Within the
stream a page was read from (``positionStreamId``, the event's own stream for ordinary
streams) by ``positionEventNumber``; several streams are merged by ``updated`` (sorted by the
latest time seen so far in their stream, ties by stream name, then number): see
:func:`models.converters.kafka.merge_order`. The sort needs every entry first: converted
lines are spooled (in memory, then in an anonymous temporary file). An entry found on two
pages is converted twice; the importer then reports the repeated event id.

**Append format** (``application/vnd.eventstore.events+json``): a JSON array of
``{"eventId", "eventType", "data", "metadata"}``, the body of a write request. It names no
stream: every event gets the file's name without its extension (and without ``.gz``) as
stream, and a note says so. No versions or times either (replays count events per stream).
Order: as in the array; streamed, nothing is sorted.

Records for ``records + skipped``: entries of pages (a page that cannot be read counts as one),
elements of the append array.
"""

from __future__ import annotations

import re
from array import array
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import orjson

from models.converters.base import (
    Conversion,
    ConversionCancelled,
    Converter,
    ProgressFn,
    canonical_line,
)
from models.converters.common import (
    MAX_RECORD_BYTES,
    PROGRESS_EVERY,
    Report,
    Skip,
    Spool,
    group_ranks,
    merge_order,
    without_bom,
)
from models.problems import InputError, Severity
from models.readers.batch import Issue, RecordBatch
from models.readers.jsonarray import ArraySplitter
from models.readers.source import BOM, Source
from models.timeparse import parse_timestamp

Kind = Literal["pages", "append"]

_NA = np.iinfo(np.int64).min
_WS = b" \t\r\n"
_TITLE = re.compile(r"(\d+)@(.+)", re.S)
_ENTRIES = re.compile(rb'"entries"\s*:\s*\[')
_APPEND_KEYS = frozenset(("eventId", "eventType", "data", "metadata"))
_PAGE_KEYS = ("headOfStream", "selfUrl", "eTag", "streamId", "links")
_NOT_PAGE_KEYS = ("eventType", "type", "data", "payload")


def _is_page(obj: Any) -> bool:
    """An Atom stream page: ``entries`` and page members, none of an event's own."""
    if type(obj) is not dict or type(obj.get("entries")) is not list:
        return False
    if any(k in obj for k in _NOT_PAGE_KEYS):
        return False
    entries = obj["entries"]
    if not entries:
        return any(k in obj for k in _PAGE_KEYS)
    first = entries[0]
    return type(first) is dict and (
        ("eventType" in first and "eventNumber" in first)
        or ("title" in first and "summary" in first)
    )


def _is_append_event(obj: Any) -> bool:
    """An element of the append format: exactly its members (``metadata``/``data`` optional)."""
    return (
        type(obj) is dict
        and "eventType" in obj
        and "eventId" in obj
        and _APPEND_KEYS.issuperset(obj)
    )


def _first_element(body: bytes) -> bytes | None:
    """The first top-level value of a document (an array's first element, or the first of
    objects written one after another), if it ends inside ``body``."""
    splitter = ArraySplitter(offset=0, line=1, max_record_bytes=len(body) + 2)
    batch = splitter.feed(body if body[:1] == b"[" else b"[" + body)
    return batch.records[0] if batch.records else None


def _kind_of(head: bytes) -> Kind | None:
    body = head.removeprefix(BOM).lstrip(_WS)
    if body[:1] not in (b"{", b"["):
        return None
    raw = _first_element(body)
    if raw is not None:
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if _is_page(obj):
            return "pages"
        if body[:1] == b"[" and _is_append_event(obj):
            return "append"
        return None
    # The first value is longer than the head: look at how it starts.
    if re.search(rb'"headOfStream"\s*:', body) and _ENTRIES.search(body):
        return "pages"
    if re.match(rb'\[\s*\{\s*"eventId"\s*:', body) and b'"eventType"' in body:
        return "append"
    return None


def _stream_from_name(path: Path) -> str:
    name = path.name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    stem = Path(name).stem
    return stem or name or "(no stream)"


def _json_or_text(value: str) -> tuple[Any, bool]:
    """``(parsed, True)`` for JSON text, ``(value, False)`` otherwise."""
    try:
        return orjson.loads(value), True
    except orjson.JSONDecodeError:
        return value, False


def _entry_places(raw: bytes, offset: int, line: int, count: int) -> list[tuple[int, int]] | None:
    """(line, offset) of each entry of a page, found only when a problem needs them."""
    match = _ENTRIES.search(raw)
    if match is None:
        return None
    start = match.end() - 1
    splitter = ArraySplitter(
        offset=offset + start,
        line=line + raw.count(b"\n", 0, start),
        max_record_bytes=len(raw) + 2,
    )
    batch = splitter.feed(raw[start:])
    if len(batch.records) < count:
        return None
    return [batch.locate(k) for k in range(count)]


class _Entry:
    __slots__ = ("group", "line", "no_body", "number", "time", "warnings")

    def __init__(
        self,
        line: bytes,
        group: str,
        number: int,
        time: int,
        warnings: list[str],
        no_body: bool,
    ) -> None:
        self.line = line
        self.group = group
        self.number = number
        self.time = time
        self.warnings = warnings
        self.no_body = no_body


def _number(value: Any, what: str) -> int:
    if type(value) is not int or value < 0:
        raise Skip(f"'{what}' must be a non-negative integer, not {value!r}")
    return value


def convert_entry(entry: Any, page_stream: str | None) -> _Entry:
    """The canonical line of one page entry; :class:`Skip` when it cannot be one."""
    if type(entry) is not dict:
        raise Skip("a page entry must be a JSON object; repair or remove it")
    event_type = entry.get("eventType")
    if event_type is None or event_type == "":
        if entry.get("summary") == "$>":
            raise Skip(
                "a link ($>) whose event no longer exists (deleted or scavenged): there is "
                "nothing to import"
            )
        raise Skip(
            "the entry has no eventType: the page was saved without the event bodies; "
            "fetch it again with ?embed=body (Accept: application/vnd.eventstore.atom+json)"
        )
    if type(event_type) is not str:
        raise Skip(f"'eventType' must be a string, not {event_type!r}")
    title = entry.get("title")
    titled = _TITLE.fullmatch(title) if type(title) is str else None
    number = entry.get("eventNumber")
    if number is None and titled is not None:
        number = int(titled.group(1))
    number = _number(number, "eventNumber")
    stream = entry.get("streamId")
    if stream is None:
        stream = titled.group(2) if titled is not None else page_stream
    if type(stream) is not str or not stream:
        raise Skip("the entry names no stream (no streamId, no 'N@stream' title)")
    position_stream = entry.get("positionStreamId")
    if type(position_stream) is not str or not position_stream:
        position_stream = stream
    position = entry.get("positionEventNumber")
    position = number if position is None else _number(position, "positionEventNumber")
    recorded: int | None = None
    updated = entry.get("updated")
    if updated is not None:
        try:
            recorded = parse_timestamp(updated)
        except ValueError as exc:
            raise Skip(f"'updated': {exc}") from None
    event_id = entry.get("eventId")
    event_id = event_id if type(event_id) is str else ""
    warnings: list[str] = []
    es: dict[str, Any] = {"eventNumber": number}
    is_json = entry.get("isJson")
    if type(is_json) is bool:
        es["isJson"] = is_json
    if position_stream != stream or position != number:
        es["positionStreamId"] = position_stream
        es["positionEventNumber"] = position
    body = entry.get("data")
    no_body = body is None
    data: Any
    if type(body) is str:
        if not body:
            data = None
        elif is_json is False:
            data = body
        else:
            data, parsed = _json_or_text(body)
            if not parsed:
                warnings.append(
                    "the event is marked as JSON but its data is not valid JSON; it is kept as text"
                )
    else:
        data = body
    metadata: dict[str, Any] = {}
    meta = entry.get("metaData")
    if type(meta) is str and meta:
        meta, _ = _json_or_text(meta)
    if type(meta) is dict:
        metadata.update(meta)
    elif meta is not None and meta != "":
        es["metaData"] = meta
    link_meta = entry.get("linkMetaData")
    if type(link_meta) is str and link_meta:
        es["linkMetaData"] = _json_or_text(link_meta)[0]
    metadata["eventstore"] = es
    line = canonical_line(
        event_id=event_id,
        stream=stream,
        event_type=event_type,
        data=data,
        version=number + 1,
        recorded_us=recorded,
        metadata=metadata,
    )
    return _Entry(
        line, position_stream, position, _NA if recorded is None else recorded, warnings, no_body
    )


def convert_append_event(obj: Any, stream: str) -> bytes:
    """The canonical line of one element of the append format."""
    if type(obj) is not dict:
        raise Skip(
            "not an event of the append format: expected an object with eventId, eventType, "
            "data and metadata"
        )
    event_type = obj.get("eventType")
    if type(event_type) is not str or not event_type:
        raise Skip(
            "no eventType: every event of the append format needs one; add it or remove the element"
        )
    event_id = obj.get("eventId")
    meta = obj.get("metadata")
    metadata: dict[str, Any] = {}
    if type(meta) is dict:
        metadata.update(meta)
    elif meta is not None:
        metadata["eventstore"] = {"metadata": meta}
    return canonical_line(
        event_id=event_id if type(event_id) is str else "",
        stream=stream,
        event_type=event_type,
        data=obj.get("data"),
        metadata=metadata,
    )


class EventStoreConverter:
    name: str = "eventstoredb"
    description: str = (
        "EventStoreDB / KurrentDB JSON: stream pages of the HTTP API (?embed=body) or the "
        "append format"
    )

    def sniff(self, path: Path, head: bytes) -> bool:
        return _kind_of(head) is not None

    def convert(
        self, path: Path, out: IO[bytes], *, strict: bool, progress: ProgressFn | None
    ) -> Conversion:
        result = Conversion()
        report = Report(path, strict, result)
        with Source(path) as source:
            head = source.head()
            kind = _kind_of(head)
            body = head.removeprefix(BOM).lstrip(_WS)
            if kind is None:
                if not body:
                    return result
                raise InputError(
                    f"{path}: not EventStoreDB JSON: expected stream pages (objects with "
                    "'entries', as the HTTP API returns with ?embed=body) or an array of "
                    "events in the append format ({eventId, eventType, data, metadata})"
                )
            run = _Run(source, path, out, report, progress, kind)
            run.read(array_file=body[:1] == b"[")
        return result


def _page_issue(issue: Issue) -> Issue:
    """An array splitter's issue, worded for pages written one after another."""
    if not issue.reason.startswith("truncated last array element"):
        return issue
    return replace(
        issue, reason="truncated last page: the file ends inside it; complete or remove it"
    )


class _Run:
    """One conversion: elements in, entries spooled (pages) or written (append format)."""

    def __init__(
        self,
        source: Source,
        path: Path,
        out: IO[bytes],
        report: Report,
        progress: ProgressFn | None,
        kind: Kind,
    ) -> None:
        self.source = source
        self.out = out
        self.report = report
        self.result = report.result
        self.progress = progress
        self.kind = kind
        self.stream = _stream_from_name(path)
        self.count = 0
        self.spool = Spool()
        self.group_ids: dict[str, int] = {}
        self.groups = array("q")
        self.numbers = array("q")
        self.times = array("q")
        self.pending: list[bytes] = []
        self.no_body = 0

    def read(self, *, array_file: bool) -> None:
        blocks, first = without_bom(self.source)
        if array_file:
            splitter = ArraySplitter(offset=first, line=1, max_record_bytes=MAX_RECORD_BYTES)
        else:  # objects one after another: read them as the elements of an array
            splitter = ArraySplitter(offset=first - 1, line=1, max_record_bytes=MAX_RECORD_BYTES)
            splitter.feed(b"[")
        try:
            for block in blocks:
                self.batch(splitter.feed(block), array_file)
            self.batch(splitter.finish(), array_file)
            self.tick(force=True)
            if self.kind == "pages":
                self.finish_pages()
            else:
                self.out.write(b"".join(self.pending))
                self.result.notes.append(
                    "the append format names no stream: every event was put in the stream "
                    f"'{self.stream}' (the file's name)"
                )
        finally:
            self.spool.close()

    def tick(self, force: bool = False) -> None:
        self.count += not force
        if (
            self.progress is not None
            and (force or self.count % PROGRESS_EVERY == 0)
            and not self.progress(self.source.raw_done, self.source.size)
        ):
            raise ConversionCancelled()

    def batch(self, batch: RecordBatch, array_file: bool) -> None:
        issues = batch.issues
        if not array_file:  # commas between pages and a closing ']' are not expected
            issues = [_page_issue(i) for i in issues if i.severity is Severity.ERROR]
        issues = sorted(issues, key=lambda i: i.offset)  # reported in input order
        report = self.report
        assert batch.offsets is not None and batch.lines is not None
        for i, raw in enumerate(batch.records):
            line, offset = batch.lines[i], batch.offsets[i]
            while issues and issues[0].offset < offset:
                report.issue(issues.pop(0))
            if i in batch.rejected:
                report.issue(batch.rejected[i])
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                self.tick()
                report.error(line, offset, f"not valid JSON ({exc}); repair or remove it", raw)
                continue
            if self.kind == "append":
                self.append_event(obj, raw, line, offset)
            elif _is_page(obj):
                self.page(obj, raw, line, offset)
            else:
                self.tick()
                report.error(
                    line,
                    offset,
                    "not a stream page (an object with 'entries', as the HTTP API returns "
                    "it): remove it or convert it separately",
                    raw,
                )
        for issue in issues:
            report.issue(issue)

    def append_event(self, obj: Any, raw: bytes, line: int, offset: int) -> None:
        self.tick()
        try:
            converted = convert_append_event(obj, self.stream)
        except Skip as exc:
            self.report.error(line, offset, str(exc), raw)
            return
        self.result.records += 1
        self.pending.append(converted)
        if len(self.pending) >= PROGRESS_EVERY:
            self.out.write(b"".join(self.pending))
            self.pending = []

    def page(self, page: dict[str, Any], raw: bytes, line: int, offset: int) -> None:
        entries = page["entries"]
        page_stream = page.get("streamId")
        page_stream = page_stream if type(page_stream) is str else None
        places: list[tuple[int, int]] | None = None

        def where(k: int) -> tuple[int, int]:
            nonlocal places
            if places is None:
                places = _entry_places(raw, offset, line, len(entries)) or []
            return places[k] if places else (line, offset)

        for k, entry in enumerate(entries):
            self.tick()
            try:
                converted = convert_entry(entry, page_stream)
            except Skip as exc:
                self.report.error(*where(k), str(exc), orjson.dumps(entry))
                continue
            for warning in converted.warnings:
                self.report.warn(*where(k), warning, orjson.dumps(entry))
            self.no_body += converted.no_body
            self.spool.add(converted.line)
            self.groups.append(self.group_ids.setdefault(converted.group, len(self.group_ids)))
            self.numbers.append(converted.number)
            self.times.append(converted.time)

    def finish_pages(self) -> None:
        names = list(self.group_ids)
        order = merge_order(
            group_ranks(names)[np.frombuffer(self.groups, np.int64)],
            np.frombuffer(self.times, np.int64),
            np.frombuffer(self.numbers, np.int64),
        )
        self.spool.write(self.out, order)
        self.result.records = len(self.groups)
        if names:
            self.result.notes.append(
                f"{len(names)} stream(s): entries sorted oldest first by event number"
                + (", streams merged by time" if len(names) > 1 else "")
            )
        if self.no_body:
            self.result.notes.append(
                f"{self.no_body} event(s) had no body in the pages (non-JSON events, or pages "
                "saved without ?embed=body): imported with data null"
            )


CONVERTER: Converter = EventStoreConverter()
