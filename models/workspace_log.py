"""An :class:`~models.log.EventLog` over a source stored in the workspace.

Columns (and the chunk index) are loaded once; payloads are read in chunks. ``events`` and
``event`` go through a small LRU cache of chunks whose events are decoded on demand;
``iter_events`` streams chunks in big ordered batches without caching (the full-replay path).

The workspace stores raw records; turning one into an :class:`Event` is the importer's
business, so the decoder is injected (see :class:`RecordDecoder`).
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from models.event import Event
from models.log import Columns, Int64Array, Payload
from models.scan import Document, DocumentScan, chunk_blob, name_array, optional_ints
from models.workspace import ChunkIndex, Workspace
from models.workspace_records import Source, WorkspaceError

_T = TypeVar("_T")

DEFAULT_CACHE_CHUNKS = 8
DEFAULT_BATCH_CHUNKS = 32


class RecordDecoder(Protocol):
    """Turns a stored raw record into an Event; the column values of its position are passed
    along (already decoded: names for codes, None for NA) so it need not recompute them.

    Typically the importer's ``decode_record`` bound to the source's mapping; the key of a
    source event is its position.
    """

    def __call__(
        self,
        raw: bytes,
        pos: int,
        event_id: str,
        stream: str,
        type_: str,
        version: int | None,
        recorded_us: int | None,
        processed_us: int | None,
        /,
    ) -> Event: ...


class _CachedChunk:
    __slots__ = ("events", "first", "records")

    def __init__(self, first: int, records: list[bytes]) -> None:
        self.first = first
        self.records = records
        self.events: list[Event | None] = [None] * len(records)


class WorkspaceLog:
    """Read-only view of one import of a source: create a new one after an append or
    replacement to see the new events."""

    def __init__(
        self,
        workspace: Workspace,
        source_id: int,
        decode: RecordDecoder,
        *,
        data_decode: Callable[[bytes], Any] | None = None,
        document_decode: Callable[[bytes], tuple[Any, Any]] | None = None,
        raw_holds_payload: bool = False,
        cache_chunks: int = DEFAULT_CACHE_CHUNKS,
        batch_chunks: int = DEFAULT_BATCH_CHUNKS,
    ) -> None:
        if cache_chunks < 1 or batch_chunks < 1:
            raise ValueError("cache_chunks and batch_chunks must be at least 1")
        self._ws = workspace
        self._decode = decode
        self._data_decode = data_decode
        self._document_decode = document_decode
        self._raw_holds_payload = raw_holds_payload and document_decode is not None
        self.source: Source
        self.source, self._columns, self._index = workspace.log_state(source_id)
        self._stream_names = name_array(self._columns.stream_names)
        self._type_names = name_array(self._columns.type_names)
        self._cache: OrderedDict[int, _CachedChunk] = OrderedDict()
        self._cache_size = cache_chunks
        self._batch = batch_chunks
        self._lock = threading.Lock()
        self._offsets: npt.NDArray[np.uint32] | None = None
        self._offsets_loaded = False
        self.chunk_reads = 0
        """Chunks fetched from the database so far (a cache statistic)."""

    @property
    def columns(self) -> Columns:
        return self._columns

    @property
    def chunk_index(self) -> ChunkIndex:
        return self._index

    def __len__(self) -> int:
        return len(self._columns)

    def cached_chunks(self) -> list[int]:
        """Indexes of the cached chunks, least recently used first."""
        with self._lock:
            return list(self._cache)

    def event(self, pos: int) -> Event:
        if not 0 <= pos < len(self):
            raise IndexError(f"position {pos} is outside the log (0..{len(self) - 1})")
        return self.events(pos, pos + 1)[0]

    def raw(self, pos: int) -> bytes:
        """The stored record at ``pos`` (a resumed import's ``previous_raw``)."""
        if not 0 <= pos < len(self):
            raise IndexError(f"position {pos} is outside the log (0..{len(self) - 1})")
        chunk = self._index.chunk_of(pos)
        with self._lock:
            self._load(range(chunk, chunk + 1))
            cached = self._cache[chunk]
            self._cache.move_to_end(chunk)
            self._evict()
            return cached.records[pos - cached.first]

    def events(self, start: int, stop: int) -> list[Event]:
        start, stop = max(start, 0), min(stop, len(self))
        if start >= stop:
            return []
        first_chunk = self._index.chunk_of(start)
        last_chunk = self._index.chunk_of(stop - 1)
        if last_chunk - first_chunk + 1 > self._cache_size:
            return list(self.iter_events(start, stop))  # larger than the cache: stream it
        with self._lock:
            self._load(range(first_chunk, last_chunk + 1))
            result: list[Event] = []
            for chunk in range(first_chunk, last_chunk + 1):
                cached = self._cache[chunk]
                self._cache.move_to_end(chunk)
                lo = max(start, cached.first)
                hi = min(stop, cached.first + len(cached.records))
                wanted = cached.events[lo - cached.first : hi - cached.first]
                if None in wanted:
                    fresh = list(self._decode_range(cached.records, cached.first, lo, hi))
                    cached.events[lo - cached.first : hi - cached.first] = fresh
                    result.extend(fresh)
                else:
                    result.extend(wanted)  # type: ignore[arg-type]  # no None left
            self._evict()
        return result

    def events_at(self, positions: list[int]) -> list[Event]:
        """Events at scattered ascending positions (one stream's events, say), reading each
        chunk they touch once, a batch of chunks per query. With record offsets only the
        records are read; otherwise more chunks than the cache holds bypass it (a refold of a
        long stream must not evict what the table shows)."""
        if not positions:
            return []
        if any(b < a for a, b in itertools.pairwise(positions)):
            raise ValueError("events_at needs ascending positions")
        if positions[0] < 0 or positions[-1] >= len(self):
            raise IndexError(f"positions outside 0..{len(self) - 1}")
        at = np.searchsorted(self._index.starts, np.array(positions, np.int64), side="right") - 1
        wanted: dict[int, list[int]] = {}
        for chunk, pos in zip(at.tolist(), positions, strict=True):
            wanted.setdefault(chunk, []).append(pos)
        pending = [c for c in wanted if c not in self._cache]
        sliced = self._slices(pending, wanted)
        if sliced is not None:
            records: list[bytes] = []
            for chunk, pos_list in wanted.items():
                cached = self._cache.get(chunk)
                if cached is None:
                    records.extend(sliced[chunk])
                else:
                    records.extend(cached.records[pos - cached.first] for pos in pos_list)
            return list(self._decode_each(records, positions))
        with self._lock:
            if pending and len(pending) <= self._cache_size:
                self._load(pending)  # a few chunks: cached, where the next seek nearby finds them
                pending = []
            fetched = {c: self._cache[c] for c in wanted if c in self._cache}
            for chunk in fetched:
                self._cache.move_to_end(chunk)
            self._evict()
        for i in range(0, len(pending), self._batch):  # many: in batches, past the cache
            fetched.update(self._fetch(pending[i : i + self._batch]))
        records = [
            fetched[chunk].records[pos - fetched[chunk].first]
            for chunk, pos_list in wanted.items()
            for pos in pos_list
        ]
        return list(self._decode_each(records, positions))

    def _slices(
        self, pending: list[int], wanted: dict[int, list[int]]
    ) -> dict[int, list[bytes]] | None:
        """The wanted records of the ``pending`` chunks cut out of the stored chunks (see
        Workspace.read_records), or None where the workspace cannot do that."""
        if not pending:
            return {}
        if not self._offsets_loaded:
            self._offsets = self._ws.record_offsets(self.source)
            self._offsets_loaded = True
        offsets = self._offsets
        if offsets is None:
            return None
        index = self._index
        spans: dict[int, list[tuple[int, int]]] = {}
        for chunk in pending:
            end = int(index.starts[chunk] + index.counts[chunk])
            spans[int(index.chunk_nos[chunk])] = [
                (int(offsets[pos]), int(offsets[pos + 1]) - 1 if pos + 1 < end else -1)
                for pos in wanted[chunk]
            ]
        got = self._ws.read_records(self.source.id, self.source.generation, spans)
        if got is None:
            return None
        self.chunk_reads += len(got)
        out = {chunk: got[int(index.chunk_nos[chunk])] for chunk in pending}
        if any(b"\n" in record for records in out.values() for record in records):
            raise self._vanished()  # offsets of another import: the cut is not one record
        return out

    def _decode_each(self, records: list[bytes], positions: list[int]) -> Iterator[Event]:
        """Decode records of scattered positions (``records[i]`` is at ``positions[i]``)."""
        cols = self._columns
        at = np.array(positions, np.int64)
        return map(
            self._decode,
            records,
            positions,
            cols.event_ids[at].tolist(),
            self._stream_names[cols.stream_codes[at]].tolist(),
            self._type_names[cols.type_codes[at]].tolist(),
            optional_ints(cols.versions[at]),
            optional_ints(cols.recorded_us[at]),
            optional_ints(cols.processed_us[at]),
        )

    def iter_events(self, start: int = 0, stop: int | None = None) -> Iterator[Event]:
        # One map object per chunk, chained in C: no Python frame per event.
        return itertools.chain.from_iterable(self._chunk_maps(start, stop, self._decode_range))

    def iter_payloads(self, start: int = 0, stop: int | None = None) -> Iterator[Payload]:
        """``(stream, type, version, data)`` per event, decoding only the payload (see
        models.log.PayloadLog); without a ``data_decode`` it takes them from full events."""
        if self._data_decode is None:
            return ((e.stream, e.type, e.version, e.data) for e in self.iter_events(start, stop))
        return itertools.chain.from_iterable(self._chunk_maps(start, stop, self._payload_range))

    def scan_documents(
        self,
        positions: Int64Array,
        patterns: Sequence[re.Pattern[bytes]] = (),
        *,
        lean: bool = False,
    ) -> Iterator[tuple[int, list[Document]]]:
        """The events at ``positions`` (ascending) as :data:`~models.scan.Document` tuples,
        one list per stored chunk with how many of ``positions`` are behind it: ``(done,
        documents)``; ``patterns`` pre-filter the raw records (see
        :class:`~models.scan.DocumentScan`)."""
        scan = self.document_scan(positions, patterns, lean=lean)
        start, stop = scan.span
        for records, first, lo, hi, escaped in self._chunk_records(start, stop):
            yield scan.chunk(records, first, lo, hi, escaped)

    def document_scan(
        self,
        positions: Int64Array,
        patterns: Sequence[re.Pattern[bytes]] = (),
        *,
        lean: bool = False,
    ) -> DocumentScan:
        if self._document_decode is None:
            raise WorkspaceError("this log was opened without a document decoder")
        return DocumentScan(
            positions,
            patterns,
            self._document_decode,
            self._columns,
            self._raw_holds_payload,
            lean=lean,
        )

    @property
    def raw_holds_payload(self) -> bool:
        return self._raw_holds_payload

    @property
    def sqlite_file(self) -> str | None:
        """The workspace's SQLite file, where it is one (a helper process can read it)."""
        url = self._ws.url
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return None
        return str(url.database)

    def _payload_range(
        self, records: list[bytes], first: int, lo: int, hi: int
    ) -> Iterator[Payload]:
        assert self._data_decode is not None
        cols = self._columns
        return zip(
            self._stream_names[cols.stream_codes[lo:hi]].tolist(),
            self._type_names[cols.type_codes[lo:hi]].tolist(),
            optional_ints(cols.versions[lo:hi]),
            map(self._data_decode, records[lo - first : hi - first]),
            strict=True,
        )

    def _chunk_maps(
        self,
        start: int,
        stop: int | None,
        decode_range: Callable[[list[bytes], int, int, int], Iterator[_T]],
    ) -> Iterator[Iterator[_T]]:
        for records, first, lo, hi, _escaped in self._chunk_records(start, stop):
            yield decode_range(records, first, lo, hi)

    def _chunk_records(
        self, start: int, stop: int | None
    ) -> Iterator[tuple[list[bytes], int, int, int, bool]]:
        """Per stored chunk overlapping ``start..stop-1``, in order: its records, its first
        position, the overlap ``lo..hi-1``, and whether any record holds a backslash."""
        start = max(start, 0)
        stop = len(self) if stop is None else min(stop, len(self))
        if start >= stop:
            return
        first_chunk = self._index.chunk_of(start)
        last_chunk = self._index.chunk_of(stop - 1)
        nos = self._index.chunk_nos
        for batch_start in range(first_chunk, last_chunk + 1, self._batch):
            batch_end = min(batch_start + self._batch, last_chunk + 1)
            rows = self._ws.read_chunks(
                self.source.id,
                self.source.generation,
                int(nos[batch_start]),
                int(nos[batch_end - 1]),
            )
            self._check_rows(rows, batch_start, batch_end)
            self.chunk_reads += len(rows)
            for _no, first, count, codec, data in rows:
                blob = chunk_blob(codec, data)
                records = blob.split(b"\n")
                if len(records) != count:
                    raise self._vanished()
                yield (
                    records,
                    first,
                    max(start, first),
                    min(stop, first + len(records)),
                    b"\\" in blob,
                )

    def _load(self, chunks: Iterable[int]) -> None:
        self._cache.update(self._fetch([c for c in chunks if c not in self._cache]))

    def _fetch(self, chunks: list[int]) -> dict[int, _CachedChunk]:
        """Read and split the chunks at these indexes, in one query."""
        if not chunks:
            return {}
        nos = [int(self._index.chunk_nos[c]) for c in chunks]
        rows = self._ws.read_chunk_set(self.source.id, self.source.generation, nos)
        by_no = {row[0]: row for row in rows}
        if len(by_no) != len(nos):
            raise self._vanished()
        self.chunk_reads += len(rows)
        out: dict[int, _CachedChunk] = {}
        for chunk, no in zip(chunks, nos, strict=True):
            _no, first, count, codec, data = by_no[no]
            records = chunk_blob(codec, data).split(b"\n")
            if len(records) != count or first != int(self._index.starts[chunk]):
                raise self._vanished()
            out[chunk] = _CachedChunk(first, records)
        return out

    def _evict(self) -> None:
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _check_rows(
        self, rows: list[tuple[int, int, int, str, bytes]], batch_start: int, batch_end: int
    ) -> None:
        expected = self._index.chunk_nos[batch_start:batch_end]
        if len(rows) != len(expected) or any(
            row[0] != no for row, no in zip(rows, expected.tolist(), strict=True)
        ):
            raise self._vanished()

    def _vanished(self) -> WorkspaceError:
        return WorkspaceError(
            f"the stored events of {self.source.path} changed while reading (re-imported?); "
            "reopen the log"
        )

    def _decode_range(self, records: list[bytes], first: int, lo: int, hi: int) -> Iterator[Event]:
        """Decode positions ``lo..hi-1`` of a chunk starting at ``first``: the column values
        are sliced once per range, not indexed per event."""
        cols = self._columns
        return map(
            self._decode,
            records[lo - first : hi - first],
            range(lo, hi),
            cols.event_ids[lo:hi].tolist(),
            self._stream_names[cols.stream_codes[lo:hi]].tolist(),
            self._type_names[cols.type_codes[lo:hi]].tolist(),
            optional_ints(cols.versions[lo:hi]),
            optional_ints(cols.recorded_us[lo:hi]),
            optional_ints(cols.processed_us[lo:hi]),
        )
