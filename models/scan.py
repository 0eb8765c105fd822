"""Events' documents — what a query over events looks at — read straight from stored chunks.

Shared by :meth:`models.workspace_log.WorkspaceLog.scan_documents` (through the workspace)
and by a search helper process that reads an SQLite workspace file with ``sqlite3`` alone
(:func:`sqlite_documents`): no SQLAlchemy to import, so the helper starts in a fraction of
a second.
"""

from __future__ import annotations

import re
import sqlite3
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.log import NA, Columns, Int64Array
from models.workspace_records import WorkspaceError

Document = tuple[int, str, str, str, "int | None", Any, Any]
"""``(pos, event_id, stream, type, version, data, metadata)``."""
DocumentDecoder = Callable[[bytes], tuple[Any, Any]]
_BATCH_CHUNKS = 32


class DocumentScan:
    """One pass over the events at ``positions`` (ascending): per stored chunk, the documents
    of those whose raw record matches every pattern (or holds a backslash: an escape could
    spell what a pattern looks for). Patterns apply only where the raw records hold the
    payload as JSON (``raw_holds_payload``); a pattern must match the raw record of every
    event the caller wants — it saves decoding, it never decides."""

    def __init__(
        self,
        positions: Int64Array,
        patterns: Sequence[re.Pattern[bytes]],
        decode: DocumentDecoder,
        columns: Columns,
        raw_holds_payload: bool,
        *,
        lean: bool = False,
    ) -> None:
        self.positions = np.asarray(positions, np.int64)
        self._lean = lean
        """Documents without event id, stream, type and version (None): the caller reads
        only payloads and metadata."""
        self._searches = [p.search for p in patterns] if raw_holds_payload else []
        self._decode = decode
        self._cols = columns
        self._streams = name_array(columns.stream_names)
        self._types = name_array(columns.type_names)

    @property
    def span(self) -> tuple[int, int]:
        """``start, stop`` of the positions (empty: ``0, 0``)."""
        if not self.positions.shape[0]:
            return 0, 0
        return int(self.positions[0]), int(self.positions[-1]) + 1

    def chunk(
        self, records: list[bytes], first: int, lo: int, hi: int, escaped: bool
    ) -> tuple[int, list[Document]]:
        """Positions ``lo..hi-1`` of a chunk starting at ``first``: how many of the scan's
        positions are behind it, and the documents of those that pass the patterns."""
        a, b = np.searchsorted(self.positions, [lo, hi])
        local = (self.positions[a:b] - first).tolist()
        for search in self._searches:
            if escaped:  # rare
                local = [i for i in local if search(records[i]) or b"\\" in records[i]]
            else:
                local = [i for i in local if search(records[i])]
        if not local:
            return int(b), []
        cols, decode = self._cols, self._decode
        at = np.asarray(local, np.int64) + first
        fields: list[list[Any]]
        if self._lean:
            fields = [[None] * len(local)] * 4
        else:
            fields = [
                cols.event_ids[at].tolist(),
                self._streams[cols.stream_codes[at]].tolist(),
                self._types[cols.type_codes[at]].tolist(),
                optional_ints(cols.versions[at]),
            ]
        decoded = zip(*[decode(records[i]) for i in local], strict=True)
        return int(b), list(zip(at.tolist(), *fields, *decoded, strict=True))


def sqlite_documents(
    path: str, source_id: int, generation: int, scan: DocumentScan
) -> Iterator[tuple[int, list[Document]]]:
    """:meth:`DocumentScan.chunk` over the stored chunks of an SQLite workspace file, read
    with ``sqlite3`` (read-only)."""
    start, stop = scan.span
    if start >= stop:
        return
    db = _read_only(path)
    try:
        (first_no,) = db.execute(
            "SELECT MAX(chunk_no) FROM chunks WHERE source_id = ? AND generation = ?"
            " AND first_pos <= ?",
            (source_id, generation, start),
        ).fetchone()
        no = first_no if first_no is not None else 0
        while True:
            rows = db.execute(
                "SELECT chunk_no, first_pos, count, codec, data FROM chunks WHERE source_id = ?"
                " AND generation = ? AND chunk_no >= ? AND first_pos < ?"
                " ORDER BY chunk_no LIMIT ?",
                (source_id, generation, no, stop, _BATCH_CHUNKS),
            ).fetchall()
            if not rows:
                return
            no = rows[-1][0] + 1
            for _no, first, count, codec, data in rows:
                blob = chunk_blob(codec, data)
                records = blob.split(b"\n")
                if len(records) != count:
                    raise WorkspaceError("the stored events changed while reading; reopen the log")
                lo, hi = max(start, first), min(stop, first + count)
                if lo < hi:
                    yield scan.chunk(records, first, lo, hi, b"\\" in blob)
    finally:
        db.close()


def sqlite_columns(path: str, source_id: int, generation: int) -> Columns:
    """The stored columns of a source in an SQLite workspace file, read with ``sqlite3``."""
    from models.workspace_columns import RECORD_OFFSETS, decode_columns

    db = _read_only(path)
    try:
        rows = db.execute(
            "SELECT name, dtype, count, data FROM columns WHERE source_id = ? AND generation = ?"
            " AND name != ?",
            (source_id, generation, RECORD_OFFSETS),
        ).fetchall()
    finally:
        db.close()
    return decode_columns([(n, d, int(c), bytes(b)) for n, d, c, b in rows], path)


def _read_only(path: str) -> sqlite3.Connection:
    """The file, read-only (a URI with the path quoted: ``#``, ``?`` and ``%`` are common)."""
    return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)


def optional_ints(values: Int64Array) -> list[int | None]:
    """A column's values as a list, None where missing (NA)."""
    missing = values == NA
    if not missing.any():
        as_list: list[int | None] = values.tolist()
        return as_list
    if missing.all():
        return [None] * len(values)
    boxed = values.astype(object)
    boxed[missing] = None
    with_none: list[int | None] = boxed.tolist()
    return with_none


def name_array(names: list[str]) -> npt.NDArray[np.object_]:
    """Names as an object array, so that a slice of codes maps to names in one indexing."""
    array = np.empty(len(names), object)
    array[:] = names
    return array


def chunk_blob(codec: str, data: bytes) -> bytes:
    """A stored chunk's records, joined by newlines."""
    if codec == "raw":
        return data
    if codec == "zlib":
        return zlib.decompress(data)
    raise WorkspaceError(
        f"the workspace stores events in an encoding this Rewind does not know ({codec}); "
        "update Rewind"
    )
