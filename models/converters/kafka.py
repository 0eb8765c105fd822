"""Kafka topic dumps written by ``kcat -C -J``: one JSON object per message and line.

kcat writes ``topic``, ``partition``, ``offset``, ``tstype`` + ``ts`` (absent when the message
has no timestamp), ``broker``, ``headers`` (a flat ``[name, value, ...]`` list, absent when
the message has none; ``-J`` with the header-map option writes ``{name: [values]}``, also
read), ``key`` and ``payload`` (strings or null; JSON values when kcat deserialised Avro, with
``payload_error`` / ``key_error`` when that failed).

Mapping onto Rewind's canonical fields:

- **stream** <- the message key. Messages without a key (null or empty) get the stream
  ``"{topic}-{partition}"``: Kafka keeps their order per partition only, so the partition is
  the only sequence they belong to. A non-string key (Avro) is its compact JSON text.
- **type** <- a header named ``type``, ``event_type`` or ``ce_type`` (CloudEvents binary mode;
  names compared case-insensitively, ``-``/``_`` ignored), else the topic. Tombstones
  (``payload`` null) are type ``"(tombstone)"`` with data null.
- **id** <- a header ``id``, ``event_id`` or ``ce_id``, else ``"{topic}/{partition}/{offset}"``,
  which is stable across re-imports of the same dump.
- **recorded time** <- ``ts`` (milliseconds since the epoch); ``tstype`` (``create`` or
  ``logappend``) stays in the metadata.
- **data** <- the payload parsed as JSON when it is JSON text, else the text itself.
- **metadata** <- ``{"kafka": {topic, partition, offset, key, broker, tstype, ts, headers,
  tombstone}}``; headers become an object (a repeated name gives a list of its values). A
  ``correlation_id`` / ``causation_id`` header (or ``ce_correlationid`` ...) is also copied to
  the top of the metadata, where the importer lifts it.
- **version**: none (Kafka has no per-key sequence number); replays count events per stream.

Order: a dump lists partitions in blocks, and Kafka orders messages within a partition only.
Each partition keeps its order as in the file (offset order); partitions are merged by
timestamp: the events are sorted by the latest timestamp seen so far in their partition (so a
message whose producer clock went backwards stays after its predecessor), ties broken by
(topic, partition) and then the position in the file. A message without a timestamp takes the
one of the message before it in its partition. The merge needs every event before the first
can be written: converted lines are spooled (in memory, then in an anonymous temporary file)
and three int64 values per message stay in memory for the sort (plus its temporary arrays).

Gzip-compressed dumps are read as they are (:class:`~models.readers.source.Source`).
"""

from __future__ import annotations

from array import array
from pathlib import Path
from typing import IO, Any

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
from models.readers.jsonl import line_batches
from models.readers.source import BOM, Source
from models.timeparse import MAX_US, MIN_US

TOMBSTONE = "(tombstone)"

_NA = np.iinfo(np.int64).min
_TYPE_HEADERS = ("type", "eventtype", "cetype")
_ID_HEADERS = ("id", "eventid", "ceid")
_CORRELATION_HEADERS = ("correlationid", "cecorrelationid")
_CAUSATION_HEADERS = ("causationid", "cecausationid")
_TRUNCATED = (
    "truncated last line: the dump ends without a newline inside a message that is not "
    "complete JSON; kcat may still be writing it (convert the file again when it is done)"
)


def _norm(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def _headers(value: Any) -> dict[str, Any]:
    """kcat's flat ``[name, value, ...]`` list (or header map) as an object."""
    out: dict[str, Any] = {}
    if value is None:
        return out
    if type(value) is dict:
        for name, values in value.items():
            many = type(values) is list
            out[name] = values[0] if many and len(values) == 1 else values
        return out
    if type(value) is not list or len(value) % 2:
        raise Skip(
            "'headers' must be a flat list of name, value pairs (as kcat -J writes it); "
            "repair or remove the member"
        )
    repeated: set[str] = set()
    for k in range(0, len(value), 2):
        name = value[k]
        if type(name) is not str:
            raise Skip(f"header name {name!r} is not a string; repair or remove the header")
        header = value[k + 1]
        if name not in out:
            out[name] = header
        elif name in repeated:
            out[name].append(header)
        else:
            out[name] = [out[name], header]
            repeated.add(name)
    return out


_ROLES: dict[str, tuple[int, int]] = {
    name: (role, rank)
    for role, names in enumerate(
        (_TYPE_HEADERS, _ID_HEADERS, _CORRELATION_HEADERS, _CAUSATION_HEADERS)
    )
    for rank, name in enumerate(names)
}
"""Normalised header name -> (what it gives: type, id, correlation, causation; its rank)."""
_NORMALISED: dict[str, str] = {}


def _header_roles(headers: dict[str, Any]) -> list[str | None]:
    """The type, id, correlation and causation the headers give (non-empty strings only;
    the best-ranked name wins, then the first header)."""
    found: list[str | None] = [None, None, None, None]
    ranks = [len(_TYPE_HEADERS)] * 4
    for name, value in headers.items():
        norm = _NORMALISED.get(name)
        if norm is None:
            norm = _norm(name)
            if len(_NORMALISED) < 4096:
                _NORMALISED[name] = norm
        role = _ROLES.get(norm)
        if role is None:
            continue
        if type(value) is list:  # a repeated header: its first value
            value = value[0] if value else None
        what, rank = role
        if type(value) is str and value and rank < ranks[what]:
            found[what] = value
            ranks[what] = rank
    return found


class _Message:
    """One converted message: its line and what the merge needs."""

    __slots__ = ("group", "keyless", "line", "time", "tombstone", "warnings")

    def __init__(
        self,
        line: bytes,
        group: tuple[str, int],
        time: int,
        warnings: list[str],
        tombstone: bool,
        keyless: bool,
    ) -> None:
        self.line = line
        self.group = group
        self.time = time
        self.warnings = warnings
        self.tombstone = tombstone
        self.keyless = keyless


def convert_message(obj: Any) -> _Message:
    """The canonical line of one parsed kcat record; :class:`Skip` when it cannot be one."""
    if type(obj) is not dict:
        raise Skip(
            "not a kcat -J message: expected a JSON object with topic, partition, offset and "
            "payload; remove the line or re-run kcat with -J"
        )
    missing = [name for name in ("topic", "partition", "offset") if name not in obj]
    if missing:
        raise Skip(
            f"not a kcat -J message: no {', '.join(missing)}; every line of a kcat -J dump has "
            "topic, partition and offset (was the file edited or written by another tool?)"
        )
    topic = obj["topic"]
    partition = obj["partition"]
    offset = obj["offset"]
    if type(topic) is not str or not topic:
        raise Skip(f"'topic' must be a non-empty string, not {topic!r}")
    if type(partition) is not int or partition < 0:
        raise Skip(f"'partition' must be a non-negative integer, not {partition!r}")
    if type(offset) is not int or offset < 0:
        raise Skip(f"'offset' must be a non-negative integer, not {offset!r}")
    if "payload" not in obj:
        raise Skip(
            "no 'payload' member: kcat -J writes one for every message (null for a "
            "tombstone); the line was cut or edited"
        )
    warnings: list[str] = []
    kafka: dict[str, Any] = {"topic": topic, "partition": partition, "offset": offset}
    key = obj.get("key")
    kafka["key"] = key
    if key is None or key == "":
        stream = f"{topic}-{partition}"
    elif type(key) is str:
        stream = key
    else:  # a deserialised (Avro) key
        stream = orjson.dumps(key, option=orjson.OPT_SORT_KEYS).decode()
    if "key_error" in obj:
        kafka["key_error"] = obj["key_error"]
    if "broker" in obj:
        kafka["broker"] = obj["broker"]
    recorded: int | None = None
    ts = obj.get("ts")
    if ts is not None:
        if type(ts) is not int or not MIN_US <= ts * 1000 <= MAX_US:
            raise Skip(
                f"'ts' must be milliseconds since the epoch (an integer), not {ts!r}; repair "
                "or remove the member"
            )
        recorded = ts * 1000
        kafka["tstype"] = obj.get("tstype")
        kafka["ts"] = ts
    metadata: dict[str, Any] = {}
    event_type = topic
    event_id = f"{topic}/{partition}/{offset}"
    if "headers" in obj:
        headers = _headers(obj["headers"])
        kafka["headers"] = headers
        if headers:
            typed, named, correlation, causation = _header_roles(headers)
            event_type = typed or topic
            event_id = named or event_id
            if correlation is not None:
                metadata["correlation_id"] = correlation
            if causation is not None:
                metadata["causation_id"] = causation
    payload = obj["payload"]
    data: Any
    if payload is None:
        data = None
        if "payload_error" in obj:
            kafka["payload_error"] = obj["payload_error"]
            warnings.append(
                f"kcat could not deserialise the value ({obj['payload_error']}); the event is "
                "imported with data null"
            )
        else:
            event_type = TOMBSTONE
            kafka["tombstone"] = True
    elif type(payload) is str:
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            data = payload
            if payload.lstrip()[:1] in ("{", "["):
                warnings.append(
                    f"the payload looks like JSON but is not valid JSON ({exc}); it is kept as text"
                )
    else:  # a deserialised (Avro) value: JSON already
        data = payload
    if "value_schema_id" in obj:
        kafka["value_schema_id"] = obj["value_schema_id"]
    metadata["kafka"] = kafka
    line = canonical_line(
        event_id=event_id,
        stream=stream,
        event_type=event_type,
        data=data,
        recorded_us=recorded,
        metadata=metadata,
    )
    return _Message(
        line,
        (topic, partition),
        _NA if recorded is None else recorded,
        warnings,
        payload is None and "payload_error" not in obj,
        key is None or key == "",
    )


def _parse(raw: bytes) -> tuple[Any, str | None]:
    """The JSON of a line, and a warning when invalid UTF-8 had to be replaced (kcat copies
    message bytes into its JSON strings without checking them)."""
    try:
        return orjson.loads(raw), None
    except orjson.JSONDecodeError:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "replace")
            return orjson.loads(text), "invalid UTF-8 in the message was replaced by U+FFFD"
        raise


class KafkaConverter:
    name: str = "kafka-kcat"
    description: str = "Kafka topic dump written by kcat -C -J (one JSON message per line)"

    def sniff(self, path: Path, head: bytes) -> bool:
        body = head.removeprefix(BOM).lstrip(b" \t\r\n")
        if not body.startswith(b"{"):
            return False
        end = body.find(b"\n")
        first = body if end < 0 else body[:end]
        try:
            obj = orjson.loads(first)
        except orjson.JSONDecodeError:
            # A first line longer than the head: kcat writes topic, partition, offset first.
            return (
                end < 0
                and body.startswith(b'{"topic":')
                and b'"partition":' in body
                and b'"offset":' in body
            )
        return type(obj) is dict and all(k in obj for k in ("topic", "partition", "offset"))

    def convert(
        self, path: Path, out: IO[bytes], *, strict: bool, progress: ProgressFn | None
    ) -> Conversion:
        result = Conversion()
        report = Report(path, strict, result)
        spool = Spool()
        group_ids: dict[tuple[str, int], int] = {}
        groups = array("q")
        times = array("q")
        tombstones = keyless = 0
        count = 0
        try:
            with Source(path) as source:
                blocks, first_offset = without_bom(source)
                for batch in line_batches(
                    blocks, offset=first_offset, line=1, max_record_bytes=MAX_RECORD_BYTES
                ):
                    rejected = batch.rejected
                    last = len(batch.records) - 1
                    for i, raw in enumerate(batch.records):
                        if rejected and i in rejected:
                            report.issue(rejected[i])
                            count += 1
                            continue
                        if raw[:1] != b"{" and not raw.strip():
                            continue  # a blank line is not a record
                        count += 1
                        if (
                            progress is not None
                            and count % PROGRESS_EVERY == 0
                            and not progress(source.raw_done, source.size)
                        ):
                            raise ConversionCancelled()
                        try:
                            obj, bad_utf8 = _parse(raw)
                            message = convert_message(obj)
                        except orjson.JSONDecodeError as exc:
                            line, offset = batch.locate(i)
                            if batch.unterminated and i == last:
                                report.error(line, offset, _TRUNCATED, raw)
                            else:
                                report.error(
                                    line,
                                    offset,
                                    f"not valid JSON ({exc}); kcat -J writes one JSON object "
                                    "per line: repair or remove the line",
                                    raw,
                                )
                            continue
                        except Skip as exc:
                            line, offset = batch.locate(i)
                            report.error(line, offset, str(exc), raw)
                            continue
                        if bad_utf8 is not None or message.warnings:
                            line, offset = batch.locate(i)
                            for warning in ([bad_utf8] if bad_utf8 else []) + message.warnings:
                                report.warn(line, offset, warning, raw)
                        group = group_ids.setdefault(message.group, len(group_ids))
                        groups.append(group)
                        times.append(message.time)
                        spool.add(message.line)
                        tombstones += message.tombstone
                        keyless += message.keyless
                if progress is not None and not progress(source.raw_done, source.size):
                    raise ConversionCancelled()
            names = list(group_ids)
            order = merge_order(
                group_ranks(names)[np.frombuffer(groups, np.int64)],
                np.frombuffer(times, np.int64),
            )
            spool.write(out, order)
        finally:
            spool.close()
        result.records = len(groups)
        result.notes.extend(_notes(names, order is not None, tombstones, keyless))
        return result


def _notes(
    names: list[tuple[str, int]], reordered: bool, tombstones: int, keyless: int
) -> list[str]:
    notes: list[str] = []
    topics = sorted({topic for topic, _ in names})
    if names:
        notes.append(
            f"{len(names)} partition(s) of {len(topics)} topic(s) "
            f"({', '.join(topics[:5])}{', ...' if len(topics) > 5 else ''})"
            + (
                ": merged by timestamp, each partition in offset order"
                if reordered
                else ": kept in file order (already merged by timestamp)"
            )
        )
    if keyless:
        notes.append(
            f"{keyless} message(s) had no key: each went to the stream '<topic>-<partition>' "
            "of its partition"
        )
    if tombstones:
        notes.append(f"{tombstones} tombstone(s) (null payload) imported as type '{TOMBSTONE}'")
    return notes


CONVERTER: Converter = KafkaConverter()
