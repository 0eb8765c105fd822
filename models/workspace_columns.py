"""Columns <-> blobs, and merging the columns of an append-import into the stored ones.

Numeric columns are stored as little-endian raw bytes; event ids as one UTF-8 blob of
newline-joined ids (decoded by one ``bytes.decode`` and one ``str.split``: about 0.1 s for a
million UUIDs, where per-id slicing would take several times that). Ids that themselves
contain a newline switch the column to a JSON list.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import numpy.typing as npt
import orjson

from models.log import Columns, IdColumn
from models.workspace_records import WorkspaceError

NUMERIC_COLUMNS = ("stream_codes", "type_codes", "versions", "recorded_us", "processed_us")
ID_COLUMN = "event_ids"
NAME_COLUMNS = ("stream_names", "type_names")

RECORD_OFFSETS = "record_offsets"
"""Where each event's record starts inside its chunk (uint32 bytes): lets a reader cut single
records out of a stored chunk instead of fetching and splitting all of it. Optional: a
workspace written before it existed reads whole chunks."""
_OFFSETS_DTYPE = "<u4"

_LINES = "utf8-lines"
_JSON = "json"
"""orjson text (fast); lists orjson cannot write (lone surrogates) use ``_JSON_ASCII``."""
_JSON_ASCII = "json-ascii"

ColumnRow = tuple[str, str, int, bytes]
"""(name, dtype, count, data) as stored."""


def encode_columns(columns: Columns) -> Iterator[tuple[str, str, int, bytes | memoryview]]:
    """The stored rows, one at a time; a numeric column's data is a byte view of the array
    (no copy where it is already little-endian and contiguous)."""
    for name in NUMERIC_COLUMNS:
        array: npt.NDArray[np.integer] = getattr(columns, name)
        little = array.dtype.newbyteorder("<")
        data = memoryview(np.ascontiguousarray(array, dtype=little).data).cast("B")
        yield (name, little.str, int(array.shape[0]), data)
    yield _encode_ids(columns.event_ids)
    yield _encode_names("stream_names", columns.stream_names)
    yield _encode_names("type_names", columns.type_names)


def _encode_ids(ids: IdColumn) -> ColumnRow:
    lines = ids.lines()
    if lines is not None:
        return (ID_COLUMN, _LINES, len(ids), lines)
    return (ID_COLUMN, _JSON_ASCII, len(ids), json.dumps(ids.tolist()).encode("ascii"))


def _encode_names(name: str, names: Sequence[str]) -> ColumnRow:
    try:
        return (name, _JSON, len(names), orjson.dumps(list(names)))
    except TypeError:
        return (name, _JSON_ASCII, len(names), json.dumps(list(names)).encode("ascii"))


def encode_offsets(offsets: npt.NDArray[np.uint32]) -> ColumnRow:
    data = np.ascontiguousarray(offsets, dtype=_OFFSETS_DTYPE).tobytes()
    return (RECORD_OFFSETS, _OFFSETS_DTYPE, int(offsets.shape[0]), data)


def decode_offsets(row: ColumnRow, count: int) -> npt.NDArray[np.uint32] | None:
    """The stored record offsets, or None when they are not for exactly ``count`` events
    (an append that could not extend them)."""
    _name, dtype, stored_count, data = row
    if dtype != _OFFSETS_DTYPE or stored_count != count or len(data) != 4 * count:
        return None
    return np.frombuffer(data, _OFFSETS_DTYPE).astype(np.uint32)


def decode_columns(rows: Iterable[ColumnRow], where: str) -> Columns:
    """Rebuild :class:`Columns`; ``where`` names the source in errors about damaged data."""
    stored = {name: (dtype, count, data) for name, dtype, count, data in rows}
    missing = [n for n in (*NUMERIC_COLUMNS, ID_COLUMN, *NAME_COLUMNS) if n not in stored]
    if missing:
        raise WorkspaceError(
            f"the stored columns of {where} are incomplete (missing {', '.join(missing)}); "
            "re-import the log"
        )
    numeric: dict[str, npt.NDArray[np.integer]] = {}
    for name in NUMERIC_COLUMNS:
        dtype, count, data = stored[name]
        stored_dtype = np.dtype(dtype)
        array = np.frombuffer(data, dtype=stored_dtype)
        if array.shape[0] != count:
            raise _damaged(where, name)
        numeric[name] = array.astype(stored_dtype.newbyteorder("="), copy=True)
    dtype, count, data = stored[ID_COLUMN]
    event_ids = IdColumn.from_lines(data, count) if dtype == _LINES else None
    if event_ids is None:
        event_ids = IdColumn.of(_decode_list(dtype, count, data, where, ID_COLUMN))
    lengths = {len(a) for a in numeric.values()} | {len(event_ids)}
    if len(lengths) != 1:
        raise _damaged(where, "lengths")
    return Columns(
        stream_codes=numeric["stream_codes"].astype(np.int32, copy=False),
        type_codes=numeric["type_codes"].astype(np.int32, copy=False),
        versions=numeric["versions"].astype(np.int64, copy=False),
        recorded_us=numeric["recorded_us"].astype(np.int64, copy=False),
        processed_us=numeric["processed_us"].astype(np.int64, copy=False),
        event_ids=event_ids,
        stream_names=_decode_list(*stored["stream_names"], where, "stream_names"),
        type_names=_decode_list(*stored["type_names"], where, "type_names"),
    )


def _decode_list(dtype: str, count: int, data: bytes, where: str, name: str) -> list[str]:
    values: list[str]
    if dtype == _LINES:
        values = [] if count == 0 else data.decode("utf-8", "surrogatepass").split("\n")
    elif dtype == _JSON:
        values = orjson.loads(data)
    elif dtype == _JSON_ASCII:
        values = json.loads(data)
    else:
        raise WorkspaceError(
            f"the column {name} of {where} uses an encoding this Rewind does not know "
            f"({dtype}); update Rewind"
        )
    if len(values) != count:
        raise _damaged(where, name)
    return values


def _damaged(where: str, name: str) -> WorkspaceError:
    return WorkspaceError(f"the stored column {name} of {where} is damaged; re-import the log")


def merge_columns(old: Columns, new: Columns) -> Columns:
    """``old`` followed by ``new``, with ``new``'s stream and type codes translated.

    Names already known keep their code; new names get the next codes in order of first
    appearance, so the "codes in order of first appearance" rule of Columns still holds.
    """
    stream_names, stream_map = _merge_names(old.stream_names, new.stream_names)
    type_names, type_map = _merge_names(old.type_names, new.type_names)
    return Columns(
        stream_codes=np.concatenate([old.stream_codes, stream_map[new.stream_codes]]).astype(
            np.int32, copy=False
        ),
        type_codes=np.concatenate([old.type_codes, type_map[new.type_codes]]).astype(
            np.int32, copy=False
        ),
        versions=np.concatenate([old.versions, new.versions]),
        recorded_us=np.concatenate([old.recorded_us, new.recorded_us]),
        processed_us=np.concatenate([old.processed_us, new.processed_us]),
        event_ids=old.event_ids.concat(new.event_ids),
        stream_names=stream_names,
        type_names=type_names,
    )


def _merge_names(old: list[str], new: list[str]) -> tuple[list[str], npt.NDArray[np.int32]]:
    codes = {name: code for code, name in enumerate(old)}
    mapping = np.array([codes.setdefault(name, len(codes)) for name in new], np.int32)
    return list(codes), mapping
