"""The read path: stored raw records back into Events, as fast as a full replay needs.

:meth:`FieldMapping.to_event` is the reference; :func:`make_decoder` builds a closure with
the same result for one mapping, with the mapping's getters bound once instead of looked up
per event, keyword arguments avoided and metadata copied only when leftover members must be
added. A full replay decodes every event, so this is on the hottest path there is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

from models.event import Event
from models.mapping import GENERIC, FieldMapping, normalise_int
from models.readers.numbers import I64_MIN, U64_MAX


class LenientJson:
    """stdlib ``json`` with hooks: accepts NaN/Infinity and keeps big integers exactly (the
    importer's policy; converters reading JSON that orjson refuses use it too)."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def constant(self, name: str) -> None:
        self.notes.append(f"{name} replaced by null (not valid JSON)")

    def integer(self, text: str) -> int | str:
        value = int(text)
        if I64_MIN <= value <= U64_MAX:
            return value
        shown = text if len(text) <= 40 else text[:37] + "..."
        self.notes.append(
            f"integer {shown} does not fit in 64 bits: kept exactly as a decimal string "
            "(a float would lose digits)"
        )
        return text

    def floating(self, text: str) -> float | None:
        value = float(text)
        if value in (float("inf"), float("-inf")):
            self.notes.append(f"number {text[:40]} is out of range: replaced by null")
            return None
        return value

    def loads(self, raw: bytes) -> Any:
        return json.loads(
            raw.decode("utf-8"),
            parse_constant=self.constant,
            parse_int=self.integer,
            parse_float=self.floating,
        )


def loads_stored(raw: bytes) -> Any:
    """A stored record, parsed.

    The import vouches for stored records being JSON objects orjson reads, with one
    exception: it parses only the members it needs (:mod:`models.lean`), and a number beyond
    the double range (``1e400``) in another member is valid JSON that orjson refuses. Such a
    number reads as ``null``, as the import's careful path makes it (try blocks cost nothing
    until they catch, so the hot loops below inline this).
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return LenientJson().loads(raw)


Decoder = Callable[[bytes, int, str, str, str, "int | None", "int | None", "int | None"], Event]
"""``decode(raw, pos, event_id, stream, type, version, recorded_us, processed_us)``; the
column values are already normalised (missing ones are None)."""


def make_decoder(mapping: FieldMapping) -> Decoder:
    if mapping.preset != GENERIC:
        return _reference(mapping)
    g = mapping._getters
    schema_get = g["schema_version"]
    corr_get, caus_get = g["correlation_id"], g["causation_id"]
    split = _splitter(mapping)
    loads, make = orjson.loads, Event._make

    def text(getter: Callable[[Any], Any] | None, obj: Any) -> str | None:
        if getter is None:
            return None
        value = getter(obj)
        if value is None or type(value) is str:
            return value
        if type(value) is int:
            return str(value)
        return orjson.dumps(value).decode()

    def decode(
        raw: bytes,
        pos: int,
        event_id: str,
        stream: str,
        type_: str,
        version: int | None,
        recorded_us: int | None,
        processed_us: int | None,
    ) -> Event:
        try:
            obj = loads(raw)
        except orjson.JSONDecodeError:
            obj = loads_stored(raw)
        data, metadata = split(obj)
        schema_version = None
        if schema_get is not None:
            try:
                schema_version = normalise_int(schema_get(obj))
            except ValueError:
                schema_version = None
        return make(
            (
                pos,
                pos,
                event_id,
                stream,
                type_,
                version,
                schema_version,
                recorded_us,
                processed_us,
                data,
                metadata,
                text(corr_get, obj),
                text(caus_get, obj),
            )
        )

    return decode


def _splitter(mapping: FieldMapping) -> Callable[[Any], tuple[Any, dict[str, Any]]]:
    """``(data, metadata)`` of a parsed record under a generic mapping."""
    data_get, meta_get = mapping._getters["data"], mapping._getters["metadata"]
    top = mapping._top_keys

    def split(obj: Any) -> tuple[Any, dict[str, Any]]:
        meta = None if meta_get is None else meta_get(obj)
        metadata: dict[str, Any]
        if meta is None:
            metadata = {}
        elif type(meta) is dict:
            metadata = meta
        else:
            metadata = {"value": meta}
        if data_get is None:
            return {k: v for k, v in obj.items() if k not in top}, metadata
        if not top.issuperset(obj):  # leftover top-level members go to metadata
            metadata = dict(metadata)
            for k, v in obj.items():
                if k not in top and k not in metadata:
                    metadata[k] = v
        return data_get(obj), metadata

    return split


def _reference(mapping: FieldMapping) -> Decoder:
    """Presets without a fast path go through the importer's own read path."""
    from models.importer import decode_record

    def decode(
        raw: bytes,
        pos: int,
        event_id: str,
        stream: str,
        type_: str,
        version: int | None,
        recorded_us: int | None,
        processed_us: int | None,
    ) -> Event:
        return decode_record(
            raw, mapping, pos, pos, event_id, stream, type_, version, recorded_us, processed_us
        )

    return decode


def make_document_decoder(mapping: FieldMapping) -> Callable[[bytes], tuple[Any, Any]]:
    """``(data, metadata)`` of a stored record, exactly as the full event has them (the column
    values are left out): what a query over the payload and metadata reads."""
    if mapping.preset == GENERIC:
        split = _splitter(mapping)
        return lambda raw: split(loads_stored(raw))
    decode = _reference(mapping)

    def parts(raw: bytes) -> tuple[Any, Any]:
        event = decode(raw, 0, "", "", "", None, None, None)
        return event.data, event.metadata

    return parts


def make_data_decoder(mapping: FieldMapping) -> Callable[[bytes], Any]:
    """Only the payload of a stored record: what :meth:`WorkspaceLog.iter_payloads` yields."""
    loads, error = orjson.loads, orjson.JSONDecodeError
    if mapping.preset != GENERIC:
        payload = mapping._cloudevents_payload
        return lambda raw: payload(loads_stored(raw))[0]
    data_get, top = mapping._getters["data"], mapping._top_keys
    if data_get is None:
        return lambda raw: {k: v for k, v in loads_stored(raw).items() if k not in top}

    def data(raw: bytes) -> Any:  # (a full replay calls this once per event)
        try:
            obj = loads(raw)
        except error:
            obj = loads_stored(raw)
        return data_get(obj)

    return data
