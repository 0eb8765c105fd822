"""Log readers: formats detected from content, records cut from blocks of input.

What a reader produces (:class:`~models.readers.batch.RecordBatch`) is turned into columns and
stored raw records by :mod:`models.importer`.
"""

from __future__ import annotations

from enum import StrEnum

import orjson

from models.readers.source import BOM


class Format(StrEnum):
    """How the records are laid out; gzip compression is detected separately."""

    JSONL = "jsonl"
    """JSON Lines / NDJSON: one JSON object per line."""
    JSON_ARRAY = "json-array"
    """One JSON array whose elements are the events."""
    CLOUDEVENTS = "cloudevents"
    """CloudEvents 1.0 structured mode, one event per line."""
    CLOUDEVENTS_BATCH = "cloudevents-batch"
    """CloudEvents 1.0 JSON batch format: an array of events."""

    @property
    def is_array(self) -> bool:
        return self in (Format.JSON_ARRAY, Format.CLOUDEVENTS_BATCH)

    @property
    def is_cloudevents(self) -> bool:
        return self in (Format.CLOUDEVENTS, Format.CLOUDEVENTS_BATCH)


_WS = b" \t\r\n"


def detect_container(head: bytes) -> bool | None:
    """Whether the input is a JSON array (True), JSON Lines (False) or neither (None).

    ``head`` is the first block of decompressed input. A first line that is complete JSON
    followed by more lines means JSON Lines even when that line is a list (a bad record, not
    an array file); an array opened on the first line that does not close there means an
    array.
    """
    if head.startswith(BOM):
        head = head[len(BOM) :]
    body = head.lstrip(_WS)
    if not body:
        return None
    first = body[:1]
    if first == b"{":
        return False
    if first == b"[":
        end = body.find(b"\n")
        if end < 0:
            return True
        rest = body[end + 1 :].lstrip(_WS)
        if not rest:
            return True
        try:
            orjson.loads(body[:end])
        except orjson.JSONDecodeError:
            return True
        return False
    # Something else first (a header line, garbage): JSON Lines if any line of the head
    # starts an object.
    if b"\n{" in body or b"\n {" in body:
        return False
    return None


__all__ = ["Format", "detect_container"]
