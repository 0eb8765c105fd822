"""The bulk import loop: a log file in, per-event columns and stored raw records out.

:func:`run_import` streams the file (see :mod:`models.readers`), reads the members of each
record the mapping (:class:`~models.mapping.FieldMapping`) points the column fields at (a
msgspec decoder that skips the rest, :mod:`models.lean`) and builds the
:class:`~models.log.Columns` the table and the timeline need. The raw records go to a
:class:`RecordSink` (the workspace) in chunks, each record one line of compact JSON; the read
path later turns one back into an :class:`~models.event.Event` with :func:`decode_record`.

Work is done a block at a time (1 MB: thousands of records) and column by column with
C-level loops (``map``, numpy), so the per-event cost stays a small multiple of
``orjson.loads`` itself. A sub-batch with anything unusual in it (a blank line, bad JSON, a
record that is not an object, a missing type, a huge integer) goes through a careful
per-record path instead.

Policy for bad input (every problem carries file, 1-based line, byte offset and excerpt):

- A record that cannot be imported is skipped with an ERROR problem; ``strict=True`` raises
  :class:`~models.problems.InputError` at the first one instead. ``imported + skipped ==
  records_read`` always; blank lines are not records.
- WARNING problems mark records that *were* imported but deserve a look: duplicate event ids
  (exact re-delivery vs. id collision: the stored bodies are compared; when the earlier record
  is more than :data:`DUPLICATE_WINDOW` records back it is read again after the import, so
  those warnings reach the sink last), ``NaN``/``Infinity`` (replaced by ``null``: orjson and
  most tools reject them; the record is stored re-serialised), integers beyond 64 bits (kept
  exactly as decimal strings), timestamps or versions that cannot be read (kept as missing).
- An empty file imports as an empty log with a WARNING (not an error: a log that was just
  created is empty); ``[]`` is a valid empty batch and gives no problem at all.
- A missing or unreadable file, or a mapping that cannot find the event type in any of the
  first records, raises :class:`~models.problems.InputError`: nothing could be imported.

Cancelling: ``progress(bytes_done, bytes_total)`` is called after each block; returning
``False`` stops the import at that block boundary and returns a result with
``cancelled=True``. Everything up to ``end_offset`` was handed to the sink, so the caller may
keep the partial import (and resume it later) or throw it away.

Two processes: a plain JSON Lines file with at least ``parallel_min_bytes`` to read is cut at
a line boundary; the second part is parsed by a helper process with the same loop (see
:mod:`models.import_parallel`) while this one parses the first part and writes. The results
are the same as from one process (columns, chunks, counts, problems and their places, the
sha1), with one difference in the order the sink receives problems: duplicates of an id
seen before the cut are compared after the import, like far duplicates, so they come last.
Cancelling stops both; strict mode still stops at the first bad record in file order; if
the helper cannot start (or fails before its records were used), the rest is parsed here.

Resuming a grown log: pass ``start_offset=result.end_offset``, ``start_line=result.end_line``,
``start_pos=result.start_pos + result.imported`` and the stored mapping and format. The digest
in the result (``sha1``, the workspace column's name) covers raw bytes ``[0, file_size)`` only
for an import from offset 0; for a resumed one it is ``None`` and the caller hashes
(:func:`models.readers.source.file_digest`) —
it had to hash the old prefix anyway to know the log only grew.
"""

from __future__ import annotations

import gc
import operator
import os
import threading
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt
import orjson

from models.decode import LenientJson, loads_stored
from models.event import Event
from models.import_worker import PartJob, SpanBatch
from models.lean import ColumnDecoder, Refused
from models.log import NA, Columns, IdColumn
from models.mapping import (
    DERIVED_ID_PREFIX,
    NO_STREAM,
    FieldMapping,
    normalise_id,
    normalise_int,
    normalise_name,
    resolve_mapping,
)
from models.memory import bulk_allocation, release_free_memory
from models.problems import InputError, Problem, Severity
from models.readers import Format, detect_container
from models.readers.batch import Issue, RecordBatch, excerpt
from models.readers.jsonarray import ArraySplitter
from models.readers.jsonl import TRUNCATED, line_batches
from models.readers.source import BLOCK_SIZE, BOM, Source
from models.timeparse import parse_timestamps

CHUNK_SIZE: Final = 1024
"""Records per :meth:`RecordSink.add_chunk` call. Chunks are aligned: every chunk but the
first (when ``start_pos`` is not a multiple) and the last holds positions
``[k * CHUNK_SIZE, (k + 1) * CHUNK_SIZE)``."""

DEFAULT_MAX_RECORD_BYTES: Final = 64 << 20
"""Records larger than this are skipped (a problem says so); multi-MB events are fine."""

MAX_LISTED_PROBLEMS: Final = 1000
"""Problems kept in :attr:`ImportResult.problems`; the sink receives all of them."""

SAMPLE_RECORDS: Final = 100

SUB_BATCH: Final = 1024
"""Records parsed and mapped together: a bad record sends only its sub-batch down the careful
(per-record) path."""

DUPLICATE_WINDOW: Final = 65_536
"""Recent records kept in memory to compare the bodies of duplicate ids; a duplicate of an
older record is compared after the import by reading that record again."""

PARALLEL_MIN_BYTES: Final = 64 << 20
"""Plain JSON Lines files with at least this many bytes to read are parsed in two processes:
below it, starting the helper (a fresh interpreter importing numpy, ~0.3 s) does not pay."""

MAIN_SHARE: Final = 0.5
"""Share of the bytes parsed by the importing process, which also writes the chunks and
hashes the file (measured: the total time is flat between 0.45 and 0.6 on 2 cores)."""

PARSE_MMAP_THRESHOLD: Final = 8 << 20
"""Buffers below this size come from the heap while the importing process parses (its
blocks, lines and chunks); bigger ones, and everything after the parse, are mapped as usual
(:func:`models.memory.bulk_allocation`)."""

HELPERS_POSSIBLE: Final = os.name == "posix"
"""The helper's messages are read with ``poll`` and non-blocking pipes (POSIX only)."""

SPAN_MESSAGE_BLOCKS: Final = 4
"""How often (in blocks of input) the helper tells where its stored records are."""

SCANNED_DUPLICATE_BATCHES: Final = 4
"""Batches with duplicate ids handled by scanning the earlier ids; after that an id -> first
position index is built (a scan costs a few tens of ms per million events)."""

_INT64_MAX = 2**63 - 1


class RecordSink(Protocol):
    """Where an import puts what it read (the workspace store, or a list in tests).

    A sink may also have ``add_joined(first_pos, count, data, starts)``: a chunk given as its
    records joined by newlines and where each starts in them (the two-process import cuts
    those straight from the file); without it the importer splits such a chunk and calls
    :meth:`add_chunk`.
    """

    def add_chunk(self, first_pos: int, records: list[bytes]) -> None:
        """Raw records for positions ``first_pos ..``: each one line of JSON, no newline."""
        ...

    def add_problem(self, problem: Problem) -> None: ...


ProgressFn = Callable[[int, int], "bool | None"]


@dataclass
class ImportResult:
    columns: Columns
    """Columns of the events imported by this run (positions ``start_pos`` onwards)."""
    records_read: int
    imported: int
    skipped: int
    """Records skipped: one ERROR problem each."""
    warnings: int
    """WARNING problems (records imported with a remark, plus file-level notes)."""
    problems: list[Problem]
    """The first :data:`MAX_LISTED_PROBLEMS` problems reported, in file order."""
    end_offset: int
    """Byte offset (decompressed) just after the last complete record: resume here."""
    end_line: int
    """Line number at ``end_offset``: pass it as ``start_line`` when resuming."""
    file_size: int
    """Raw size of the file when it was opened; nothing beyond it was read."""
    sha1: str | None
    """Content digest (:mod:`models.digest`) of raw bytes ``[0, file_size)``; ``None`` for a
    resumed or cancelled import."""
    format: Format
    compressed: bool
    mapping: FieldMapping
    cancelled: bool = False
    start_pos: int = 0
    mtime_ns: int = 0
    """Modification time of the file when it was opened (ns)."""


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The bulk loop creates millions of short-lived objects and a few long-lived ones:
    collections would only rescan them. Restores the previous state, even on error."""
    was_enabled = gc.isenabled()
    froze = gc.get_freeze_count() == 0
    gc.disable()
    if froze:
        gc.freeze()
    try:
        yield
    finally:
        if froze:
            gc.unfreeze()
        if was_enabled:
            gc.enable()


# --- careful parsing -----------------------------------------------------------------------


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a JSON array"
    if isinstance(value, str):
        return "a JSON string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a JSON boolean"
    return "a JSON number"


# --- the loop ------------------------------------------------------------------------------


class _Block:
    """Column values of one batch's good records, gathered sub-batch by sub-batch."""

    __slots__ = ("pieces", "processed", "raws", "recorded", "streams", "types", "versions")

    def __init__(self) -> None:
        self.pieces: list[range | list[int]] = []
        """Where the good records are in the batch (ranges for sub-batches read whole)."""
        self.raws: list[bytes] = []
        self.streams: list[int] = []
        self.types: list[int] = []
        self.versions: list[Any] = []
        self.recorded: list[Any] = []
        self.processed: list[Any] = []

    def add_index(self, index: range | list[int]) -> None:
        self.pieces.append(index)

    def index(self, k: int) -> int:
        """Batch index of the block's k-th record."""
        for piece in self.pieces:
            if k < len(piece):
                return piece[k]
            k -= len(piece)
        raise IndexError(k)

    def where(self) -> npt.NDArray[np.int64]:
        if len(self.pieces) == 1 and isinstance(self.pieces[0], range):
            piece = self.pieces[0]
            return np.arange(piece.start, piece.stop, dtype=np.int64)
        return np.array([i for piece in self.pieces for i in piece], np.int64)


def _joined(into: list[Any], more: list[Any]) -> list[Any]:
    """``into + more`` without copying when ``into`` is empty (one sub-batch per block)."""
    if not into:
        return more if type(more) is list else list(more)
    into.extend(more)
    return into


@dataclass(slots=True)
class _FarDuplicate:
    """A duplicate id whose earlier record left the in-memory window: compared at the end."""

    line: int
    offset: int
    event_id: str
    earlier: int
    stored: bytes | None
    """The later record as stored; ``None``: read it again too (at position ``pos``)."""
    pos: int = -1


@dataclass(slots=True)
class _Finding:
    """A duplicate event id, before it is worded (a part run's positions and lines are
    relative to its part)."""

    line: int
    offset: int
    event_id: str
    earlier: int
    earlier_line: int | None
    same: bool | None
    raw: bytes

    def problem(self, file: str, pos_shift: int = 0, line_shift: int = 0) -> Problem:
        where = f"position {self.earlier + pos_shift}"
        if self.earlier_line is not None:
            where += f" (line {self.earlier_line + line_shift})"
        if self.same is None:
            verdict = "imported earlier (bodies not compared)"
        elif self.same:
            verdict = "with the same bytes: an exact re-delivery (at-least-once delivery)"
        else:
            verdict = "with a different body: an id collision"
        return Problem(
            file,
            self.line + line_shift,
            self.offset,
            f"duplicate event id {self.event_id!r}: also used by the record at {where} "
            f"{verdict}; both are imported",
            Severity.WARNING,
            excerpt(self.raw),
        )


_FINDING_MARK = "\x00duplicate:"


class _Spans:
    """Where a part run's stored records are in the file: their offsets and lengths, plus the
    few whose stored form differs from the file's bytes (a CR removed, re-serialised)."""

    def __init__(self) -> None:
        self.offsets: list[npt.NDArray[np.int64]] = []
        self.lengths: list[npt.NDArray[np.int64]] = []
        self.count = 0
        self.changed: dict[int, bytes] = {}

    def add(
        self, offsets: npt.NDArray[np.int64], stored: list[bytes], originals: list[bytes] | None
    ) -> None:
        """``originals``: the records as read (``None``: ``stored`` are those very objects)."""
        n = len(stored)
        self.offsets.append(offsets)
        self.lengths.append(np.fromiter(map(len, stored), np.int64, n))
        if originals is not None and not all(map(operator.is_, stored, originals)):
            for k, (a, b) in enumerate(zip(stored, originals, strict=True)):
                if a is not b:
                    self.changed[self.count + k] = a
        self.count += n

    def take(self) -> SpanBatch:
        """What was added since the last call (sent to the parent as it goes)."""
        first = self.count - sum(map(len, self.offsets))
        batch = SpanBatch(
            first,
            np.concatenate(self.offsets) if self.offsets else np.zeros(0, np.int64),
            np.concatenate(self.lengths) if self.lengths else np.zeros(0, np.int64),
            self.changed,
        )
        self.offsets, self.lengths, self.changed = [], [], {}
        return batch


class _Codes(dict[Any, int]):
    """Raw stream or type value -> dictionary code of its name: the steady state of a batch
    is one C-level ``map`` of lookups; a value seen for the first time is normalised
    (:func:`normalise_name`) and remembered by :meth:`__missing__`."""

    def __init__(self, names: dict[str, int], default: str | None) -> None:
        super().__init__()
        self.names = names
        """Name -> code, in order of first appearance."""
        self.default = default
        """The name of a missing value; ``None``: a missing value is :class:`_BadType`."""

    def name_code(self, value: Any) -> int:
        name = normalise_name(value, self.default)
        if name is None:
            raise _BadType
        return self.names.setdefault(name, len(self.names))

    def __missing__(self, value: Any) -> int:
        code = self.name_code(value)
        kind = type(value)
        # True == 1 == 1.0 as dict keys: only text, null and ints other than 0 and 1 are
        # remembered (a remembered 1 would answer for a later ``true``).
        if kind is str or value is None or (kind is int and value not in (0, 1)):
            self[value] = code
        return code


class _Run:
    """State of one import run."""

    def __init__(
        self,
        *,
        file: str,
        mapping: FieldMapping,
        sink: RecordSink,
        strict: bool,
        start_pos: int,
        previous_ids: Sequence[str] | None,
        previous_raw: Callable[[int], bytes] | None,
    ) -> None:
        self.file = file
        self.mapping = mapping
        self.lean = ColumnDecoder(mapping)
        self.sink = sink
        self.joined: Callable[[int, int, bytes, npt.NDArray[np.uint32]], None] | None = getattr(
            sink, "add_joined", None
        )
        self.strict = strict
        self.start_pos = start_pos
        self.pos = start_pos
        self.stream_codes: dict[str, int] = {}
        self.type_codes: dict[str, int] = {}
        self.stream_raw = _Codes(self.stream_codes, NO_STREAM)
        self.type_raw = _Codes(self.type_codes, None)
        # Duplicate ids: a set answers "any duplicate in this batch?" in one C call; the id ->
        # first position index is only built once the first duplicate shows up.
        self.previous_ids = previous_ids
        self.previous_raw = previous_raw
        self.ids: list[str] = []
        self.tail_ids: IdColumn | None = None
        self.head_ids: IdColumn | None = None
        """``ids`` as a column, made ahead of time (:meth:`seal_ids`)."""
        """The ids of a part a helper process parsed (the end of the file), after ``ids``."""
        self.seen_ids: set[str] = set(previous_ids or ())
        self.first_pos: dict[str, int] | None = None
        self.scanned_batches = 0
        self.recent: deque[tuple[int, list[bytes]]] = deque()
        self.recent_count = 0
        self.far: list[_FarDuplicate] = []
        self.stream_col: list[npt.NDArray[np.int32]] = []
        self.type_col: list[npt.NDArray[np.int32]] = []
        self.version_col: list[npt.NDArray[np.int64]] = []
        self.recorded_col: list[npt.NDArray[np.int64]] = []
        self.processed_col: list[npt.NDArray[np.int64]] = []
        # Where each position came from, per batch: for reports naming an earlier record.
        self.table_starts: list[int] = []
        self.line_tables: list[npt.NDArray[np.int64]] = []
        self.offset_tables: list[npt.NDArray[np.int64]] = []
        self.pending: list[bytes] = []
        self.spans: _Spans | None = None
        """Set (by a part run in a helper process): where the stored records are in the
        file, instead of handing them to the sink."""
        self.findings: list[_Finding] | None = None
        """Set (part run): duplicate ids are kept as findings, for the parent process to
        word with absolute positions and lines."""
        self.pending_pos = start_pos
        self.records_read = 0
        self.skipped = 0
        self.warnings = 0
        self.problems: list[Problem] = []
        self.end_offset = 0
        self.end_line = 1
        self.current: tuple[_Block, RecordBatch] = (_Block(), RecordBatch([], 0, 1, 0, 1))

    # --- problems -----------------------------------------------------------------------

    def report(self, problems: list[Problem], *, ordered: bool = False) -> None:
        """Hand a batch's problems over in file order; strict mode stops at an error."""
        if len(problems) > 1 and not ordered:
            problems.sort(key=lambda p: (p.offset, p.severity != Severity.ERROR))
        for problem in problems:
            if problem.severity == Severity.ERROR:
                if self.strict:
                    raise InputError(f"{problem.location()}: {problem.reason}", [problem])
            else:
                self.warnings += 1
            self.sink.add_problem(problem)
            if len(self.problems) < MAX_LISTED_PROBLEMS:
                self.problems.append(problem)

    def problem(
        self,
        line: int,
        offset: int,
        reason: str,
        raw: bytes = b"",
        severity: Severity = Severity.ERROR,
    ) -> Problem:
        return Problem(self.file, line, offset, reason, severity, excerpt(raw))

    def from_issue(self, issue: Issue) -> Problem:
        return Problem(
            self.file, issue.line, issue.offset, issue.reason, issue.severity, issue.excerpt
        )

    # --- a batch ------------------------------------------------------------------------

    def ingest(self, batch: RecordBatch) -> None:
        """Import one batch: sub-batches of :data:`SUB_BATCH` records are parsed and mapped
        while their objects are hot in the CPU cache; numpy work is done once per batch."""
        problems: list[Problem] = []
        for issue in batch.issues:
            problems.append(self.from_issue(issue))
            if issue.counts_as_record:
                self.records_read += 1
                self.skipped += 1
        records = batch.records
        n = len(records)
        if n:
            big = {batch.index_at(offset) for offset in batch.big_ints}
            special = sorted(set(batch.rejected) | big | ({n - 1} if batch.unterminated else set()))
            block = _Block()
            self.current = (block, batch)
            for start in range(0, n, SUB_BATCH):
                stop = min(n, start + SUB_BATCH)
                if special and bisect_right(special, stop - 1) > bisect_right(special, start - 1):
                    self.careful(batch, block, start, stop, big, problems)
                    continue
                part = records if stop - start == n else records[start:stop]
                if batch.multiline:  # (records re-serialised: the objects are needed)
                    try:
                        objs = list(map(orjson.loads, part))
                    except orjson.JSONDecodeError:
                        self.careful(batch, block, start, stop, big, problems)
                        continue
                    fast = self.extract_fast(objs)
                    raws = self.fast_raws(batch, part, objs)
                else:
                    fast = self.extract_lean(part)
                    raws = [raw.rstrip(b"\r") for raw in part] if batch.has_cr else part
                if fast is None:
                    self.careful(batch, block, start, stop, big, problems)
                    continue
                self.records_read += stop - start
                self.take(block, batch, range(start, stop), raws, fast[0], fast[1], problems)
            self.finish_block(block, batch, problems)
        if not batch.unterminated:  # (the end of an unterminated tail is set by careful())
            self.end_offset = batch.end_offset
            self.end_line = batch.end_line
        if problems:
            self.report(problems)
        self.flush(final=False)

    def extract_fast(self, objs: list[Any]) -> tuple[list[list[Any] | None], list[int]] | None:
        """Column values and type codes when every record is an object with a usable type."""
        mapping = self.mapping
        if not mapping.checks_objects and set(map(type, objs)) != {dict}:
            return None
        try:
            columns = mapping.extract_columns(objs)
        except (TypeError, AttributeError):  # a record that is not an object
            return None
        return self.typed(columns)

    def extract_lean(self, records: list[bytes]) -> tuple[list[list[Any] | None], list[int]] | None:
        """:meth:`extract_fast` reading only the column members (:mod:`models.lean`)."""
        try:
            columns = self.lean.columns(records)
        except Refused:
            return None
        return self.typed(columns)

    def typed(
        self, columns: list[list[Any] | None]
    ) -> tuple[list[list[Any] | None], list[int]] | None:
        types = columns[2]
        if types is None:
            return None
        try:
            codes = self.encode(types, self.type_raw)
        except _BadType:
            return None
        return columns, codes

    def fast_raws(self, batch: RecordBatch, records: list[bytes], objs: list[Any]) -> list[bytes]:
        """Stored forms of array elements (a record spanning lines is re-serialised)."""
        dumps = orjson.dumps
        return [
            dumps(obj) if (b"\n" in raw or b"\r" in raw) else raw
            for raw, obj in zip(records, objs, strict=True)
        ]

    def careful(
        self,
        batch: RecordBatch,
        block: _Block,
        start: int,
        stop: int,
        big: set[int],
        problems: list[Problem],
    ) -> None:
        """One record at a time: blank lines, bad records and sanitised ones (``big``: the
        records that may hold integers beyond 64 bits)."""
        records = batch.records
        good: list[int] = []
        good_objs: list[Any] = []
        good_raws: list[bytes] = []
        notes_at: dict[int, list[str]] = {}
        last = len(records) - 1
        for i in range(start, stop):
            raw = records[i]
            issue = batch.rejected.get(i)
            if issue is not None:
                self.records_read += 1
                self.skipped += 1
                problems.append(self.from_issue(issue))
                continue
            if not batch.multiline and not raw.strip():
                continue  # a blank line is not a record
            self.records_read += 1
            unterminated = batch.unterminated and i == last
            obj, notes, reason = _parse(raw, i in big)
            if notes and i not in big and self.lean.accepts(raw):
                notes = []  # stored as written, as the fast parse stores it (models.lean)
            if isinstance(reason, UnicodeDecodeError):
                offset = batch.locate(i)[1] + reason.start
                reason = (
                    f"invalid UTF-8 at byte {offset} (column {reason.start + 1} of the record): "
                    f"{reason.reason}; the record is skipped (convert the file to UTF-8, e.g. "
                    "iconv -f latin1 -t utf-8, and import again)"
                )
            if reason is None and type(obj) is not dict:
                reason = (
                    f"not an event: {_kind(obj)} where a JSON object was expected; the record "
                    "is skipped"
                )
            if reason is None:
                reason = self.check_type(obj)
            if reason is not None:
                line, offset = batch.locate(i)
                if unterminated and not reason.startswith("no event type"):
                    reason = TRUNCATED
                problems.append(self.problem(line, offset, reason, raw))
                self.skipped += 1
                continue
            if notes:
                notes_at[len(good)] = notes
            good.append(i)
            good_objs.append(obj)
            good_raws.append(_stored(raw, obj, bool(notes), batch))
            if unterminated:
                self.end_offset = batch.base_offset + len(raw)
                self.end_line = batch.base_line
        if batch.unterminated and stop == last + 1 and (not good or good[-1] != last):
            self.end_offset = batch.base_offset
            self.end_line = batch.base_line
        for k, notes in notes_at.items():
            line, offset = batch.locate(good[k])
            for note in notes:
                problems.append(self.problem(line, offset, note, good_raws[k], Severity.WARNING))
        if good_objs:
            columns = self.mapping.extract_columns(good_objs)
            types = self.encode(columns[2] or [], self.type_raw)
            self.take(block, batch, good, good_raws, columns, types, problems)

    def check_type(self, obj: dict[str, Any]) -> str | None:
        raw_type = self.mapping.get_type(obj)
        if raw_type is None or raw_type == "":
            return (
                f"no event type: {self.mapping.describe_missing('type', obj)}; the record is "
                "skipped (map 'type' to the member that holds it)"
            )
        if normalise_name(raw_type, None) is None:
            shown = orjson.dumps(raw_type).decode()[:60]
            return (
                f"the event type must be text, not {shown}; the record is skipped (map 'type' "
                "to another member)"
            )
        return None

    # --- columns ------------------------------------------------------------------------

    def encode(self, values: list[Any], raw_codes: _Codes) -> list[int]:
        """Dictionary codes for stream or type values, in order of first appearance (see
        :class:`_Codes`). Raises :class:`_BadType` for a value that cannot be a name (when
        the column has no default)."""
        try:
            return list(map(raw_codes.__getitem__, values))
        except TypeError:  # unhashable values (objects as names): one at a time
            return [raw_codes.name_code(value) for value in values]

    def take(
        self,
        block: _Block,
        batch: RecordBatch,
        index: range | list[int],
        raws: list[bytes],
        columns: list[list[Any] | None],
        types: list[int],
        problems: list[Problem],
    ) -> None:
        """Add good records (``index``: where they are in the batch) to the block: the work
        that touches the parsed objects, done while they are in the cache."""
        n = len(raws)
        first = self.pos + len(block.raws)
        ids_raw, streams, _types, versions, recorded, processed = columns
        block.raws = _joined(block.raws, raws)
        block.add_index(index)
        if ids_raw is None:
            ids = [f"{DERIVED_ID_PREFIX}{first + k}" for k in range(n)]
        else:
            try:
                "".join(ids_raw)
                plain = "" not in ids_raw
            except TypeError:
                plain = False
            ids = ids_raw if plain else [normalise_id(v, first + k) for k, v in enumerate(ids_raw)]
        self.ids.extend(ids)
        self.check_duplicates(ids, raws, first, block, batch, index, problems)
        if streams is None:
            code = self.stream_codes.setdefault(NO_STREAM, len(self.stream_codes))
            block.streams = _joined(block.streams, [code] * n)
        else:
            codes = self.encode(streams, self.stream_raw)
            block.streams = _joined(block.streams, codes)
        block.types = _joined(block.types, types)
        block.versions = _joined(block.versions, versions or [])
        block.recorded = _joined(block.recorded, recorded or [])
        block.processed = _joined(block.processed, processed or [])

    def finish_block(self, block: _Block, batch: RecordBatch, problems: list[Problem]) -> None:
        """The numpy part, once per batch: columns, timestamps, position tables."""
        n = len(block.raws)
        if not n:
            return
        first = self.pos

        def locate(k: int) -> tuple[int, int]:
            return batch.locate(block.index(k))

        where = block.where()
        if batch.lines is None:
            lines = where + batch.base_line
        else:
            lines = np.array(batch.lines, np.int64)[where]
        self.table_starts.append(first)
        self.line_tables.append(lines)
        offsets = batch.offset_array()[where]
        self.offset_tables.append(offsets)
        if self.spans is not None:
            whole = len(block.raws) == len(batch.records) and all(
                type(piece) is range for piece in block.pieces
            )
            if whole and not batch.has_cr and not batch.multiline:
                self.spans.add(offsets, block.raws, None)  # read whole: stored as in the file
            else:
                originals = [batch.records[i] for i in where.tolist()]
                self.spans.add(offsets, block.raws, originals)
        self.stream_col.append(np.array(block.streams, np.int32))
        self.type_col.append(np.array(block.types, np.int32))
        mapped = self.mapping.paths
        self.version_col.append(
            self.integers(
                block.versions if mapped["version"] else None,
                n,
                "version",
                locate,
                block.raws,
                problems,
            )
        )
        for values, name, target in (
            (block.recorded, "recorded_at", self.recorded_col),
            (block.processed, "processed_at", self.processed_col),
        ):
            if not mapped[name]:
                target.append(np.full(n, NA, np.int64))
                continue
            stamps, errors = parse_timestamps(values)
            target.append(stamps)
            for k, reason in errors:
                line, offset = locate(k)
                problems.append(
                    self.problem(
                        line,
                        offset,
                        f"{name}: {reason}; kept as missing",
                        block.raws[k],
                        Severity.WARNING,
                    )
                )
        self.pos += n
        if self.spans is None:
            self.pending.extend(block.raws)
        self.recent.append((first, block.raws))
        self.recent_count += n
        while self.recent_count - len(self.recent[0][1]) >= DUPLICATE_WINDOW:
            self.recent_count -= len(self.recent.popleft()[1])

    def integers(
        self,
        values: list[Any] | None,
        n: int,
        name: str,
        locate: Callable[[int], tuple[int, int]],
        raws: list[bytes],
        problems: list[Problem],
    ) -> npt.NDArray[np.int64]:
        if values is None:
            return np.full(n, NA, np.int64)
        kinds = set(map(type, values))
        if kinds == {int}:
            try:
                return np.array(values, np.int64)
            except OverflowError:
                pass
        elif kinds == {type(None)}:
            return np.full(n, NA, np.int64)
        out = np.full(n, NA, np.int64)
        for k, value in enumerate(values):
            try:
                number = normalise_int(value)
                if number is not None and not NA < number <= _INT64_MAX:
                    raise ValueError(f"{number} is out of range")
            except ValueError as exc:
                line, offset = locate(k)
                problems.append(
                    self.problem(
                        line, offset, f"{name}: {exc}; kept as missing", raws[k], Severity.WARNING
                    )
                )
                continue
            if number is not None:
                out[k] = number
        return out

    # --- duplicate ids ------------------------------------------------------------------

    def build_index(self, current: int) -> None:
        """The id -> first position index, over everything before the current batch.

        Built from the end backwards, so the earliest position of a repeated id is the one
        that stays (one C-level pass instead of a ``setdefault`` per event)."""
        own = self.ids[: len(self.ids) - current]
        stop = self.start_pos - 1
        index = dict(
            zip(reversed(own), range(self.start_pos + len(own) - 1, stop, -1), strict=True)
        )
        previous = self.previous_ids or ()
        index.update(zip(reversed(previous), range(len(previous) - 1, -1, -1), strict=True))
        self.first_pos = index

    def scan_earliest(self, ids: list[str], first: int) -> dict[str, int]:
        """Earliest position of each id of a batch, found without an index: the hashes of
        all earlier ids are compared with the batch's at once (the ids cache their hashes)."""
        wanted = np.unique(np.fromiter(map(hash, ids), np.int64, len(ids)))
        found: dict[str, int] = {}

        def scan(seq: Sequence[str], base: int, count: int) -> None:
            hashes = np.fromiter(map(hash, seq), np.int64, count)
            at = np.searchsorted(wanted, hashes)
            np.minimum(at, len(wanted) - 1, out=at)
            for i in np.flatnonzero(wanted[at] == hashes).tolist():
                found.setdefault(seq[i], base + i)

        previous = self.previous_ids or ()
        scan(previous, 0, len(previous))
        scan(self.ids, self.start_pos, len(self.ids) - len(ids))
        for k, event_id in enumerate(ids):
            found.setdefault(event_id, first + k)
        return found

    def check_duplicates(
        self,
        ids: list[str],
        raws: list[bytes],
        first: int,
        block: _Block,
        batch: RecordBatch,
        index: range | list[int],
        problems: list[Problem],
    ) -> None:
        n = len(ids)
        seen = self.seen_ids
        before = len(seen)
        seen.update(ids)
        if len(seen) - before == n:  # all new and distinct: the usual case
            if self.first_pos is not None:
                self.first_pos.update(zip(ids, range(first, first + n), strict=True))
            return
        # Duplicates: the first few batches with any are looked up by a scan; a log with
        # many gets an index (kept up to date from then on).
        if self.first_pos is None:
            self.scanned_batches += 1
            if self.scanned_batches > SCANNED_DUPLICATE_BATCHES:
                self.build_index(n)
        if self.first_pos is not None:
            earliest = self.first_pos
            for k, event_id in enumerate(ids):
                earliest.setdefault(event_id, first + k)
        else:
            earliest = self.scan_earliest(ids, first)
        for k, event_id in enumerate(ids):
            pos = first + k
            earlier = earliest[event_id]
            if earlier == pos:
                continue
            line, offset = batch.locate(index[k])
            if earlier < self.start_pos:
                same = self.compare_previous(earlier, raws[k])
            else:
                earlier_raw = self.recent_raw(earlier, block)
                if earlier_raw is None:
                    self.far.append(_FarDuplicate(line, offset, event_id, earlier, raws[k]))
                    continue
                same = earlier_raw == raws[k]
            self.duplicate_problem(problems, line, offset, event_id, earlier, same, raws[k])

    def duplicate_problem(
        self,
        problems: list[Problem],
        line: int,
        offset: int,
        event_id: str,
        earlier: int,
        same: bool | None,
        raw: bytes,
    ) -> None:
        finding = _Finding(line, offset, event_id, earlier, self.line_of(earlier), same, raw)
        if self.findings is not None:  # a placeholder keeps its place among the problems
            problems.append(
                Problem(
                    self.file,
                    line,
                    offset,
                    f"{_FINDING_MARK}{len(self.findings)}",
                    Severity.WARNING,
                )
            )
            self.findings.append(finding)
        else:
            problems.append(finding.problem(self.file))

    def compare_previous(self, earlier: int, raw: bytes) -> bool | None:
        if self.previous_raw is None:
            return None
        try:
            return self.previous_raw(earlier) == raw
        except Exception:  # the caller's store: a failure only costs the comparison
            return None

    def recent_raw(self, pos: int, block: _Block) -> bytes | None:
        if pos >= self.pos:  # in the batch being imported
            return block.raws[pos - self.pos]
        for start, chunk in reversed(self.recent):
            if start <= pos < start + len(chunk):
                return chunk[pos - start]
            if start < pos:
                break
        return None

    def table(self, pos: int) -> tuple[int, int]:
        i = bisect_right(self.table_starts, pos) - 1
        return i, pos - self.table_starts[i]

    def line_of(self, pos: int) -> int | None:
        if pos < self.start_pos:
            return None
        if pos >= self.pos:  # in the batch being imported
            block, batch = self.current
            return batch.locate(block.index(pos - self.pos))[0]
        i, k = self.table(pos)
        return int(self.line_tables[i][k])

    def resolve_far(self, fetch: Callable[[dict[int, tuple[int, int]]], dict[int, bytes]]) -> None:
        """Compare the bodies of duplicates whose earlier record was out of reach."""
        if not self.far:
            return
        wanted: dict[int, tuple[int, int]] = {}
        for dup in self.far:
            for pos in (dup.earlier, dup.pos):
                if pos >= self.start_pos and (pos == dup.earlier or dup.stored is None):
                    i, k = self.table(pos)
                    wanted[pos] = (int(self.line_tables[i][k]), int(self.offset_tables[i][k]))
        found = fetch(wanted)
        problems: list[Problem] = []
        for dup in self.far:
            stored = dup.stored if dup.stored is not None else found.get(dup.pos)
            if stored is None:
                same = None
            elif dup.earlier < self.start_pos:
                same = self.compare_previous(dup.earlier, stored)
            else:
                earlier_raw = found.get(dup.earlier)
                same = None if earlier_raw is None else earlier_raw == stored
            self.duplicate_problem(
                problems, dup.line, dup.offset, dup.event_id, dup.earlier, same, stored or b""
            )
        self.far = []
        self.report(problems)

    # --- output -------------------------------------------------------------------------

    def flush(self, final: bool) -> None:
        pending = self.pending
        start = 0
        pos = self.pending_pos
        while len(pending) - start > 0:
            room = CHUNK_SIZE - pos % CHUNK_SIZE
            if len(pending) - start < room and not final:
                break
            take = min(room, len(pending) - start)
            records = pending[start : start + take]
            if self.joined is None:
                self.sink.add_chunk(pos, records)
            else:  # (lines never hold a newline: the sink need not look for them)
                self.joined(pos, take, b"\n".join(records), record_starts(records))
            start += take
            pos += take
        self.pending = pending[start:] if start else pending
        self.pending_pos = pos

    def seal_ids(self) -> None:
        """Make the id column of what was read so far now, while another process is still
        parsing (:meth:`take_columns` uses it if no id was added since)."""
        self.head_ids = IdColumn.of(self.ids)

    def take_columns(self, *, ids: bool = True) -> Columns:
        """The run's columns, once, at its end: what the run held to build them is dropped
        as they are built (the end of a million-event import is its memory peak).
        ``ids=False``: the caller has the ids already (the column is left empty)."""

        def cat32(parts: list[npt.NDArray[np.int32]]) -> npt.NDArray[np.int32]:
            joined = np.concatenate(parts) if parts else np.zeros(0, np.int32)
            parts.clear()
            return joined

        def cat64(parts: list[npt.NDArray[np.int64]]) -> npt.NDArray[np.int64]:
            joined = np.concatenate(parts) if parts else np.zeros(0, np.int64)
            parts.clear()
            return joined

        self.seen_ids = set()
        self.first_pos = None
        head = self.head_ids
        if not ids:
            id_column = IdColumn.empty()
        elif head is not None and len(head) == len(self.ids):
            id_column = head
        else:
            id_column = IdColumn.of(self.ids)
        self.ids, self.head_ids = [], None
        if self.tail_ids is not None:
            id_column, self.tail_ids = id_column.concat(self.tail_ids), None
        return Columns(
            stream_codes=cat32(self.stream_col),
            type_codes=cat32(self.type_col),
            versions=cat64(self.version_col),
            recorded_us=cat64(self.recorded_col),
            processed_us=cat64(self.processed_col),
            event_ids=id_column,
            stream_names=list(self.stream_codes),
            type_names=list(self.type_codes),
        )


def record_starts(records: list[bytes]) -> npt.NDArray[np.uint32]:
    """Where each record starts once they are joined by newlines (a sink's ``add_joined``)."""
    starts = np.zeros(len(records), np.uint32)
    sizes = np.fromiter(map(len, records), np.uint32, len(records))
    np.cumsum(sizes[:-1] + 1, out=starts[1:])
    return starts


def _parse(raw: bytes, suspect: bool) -> tuple[Any, list[str], str | UnicodeDecodeError | None]:
    """(object, warnings, None), or (None, [], reason) for a record that cannot be imported
    (a :class:`UnicodeDecodeError` for invalid UTF-8: the caller knows where the record is).

    orjson first; the stdlib parser (:class:`LenientJson`) when orjson refuses the record or
    when it may hold integers orjson would turn into floats (``suspect``).
    """
    message = ""
    if not suspect:
        try:
            return orjson.loads(raw), [], None
        except orjson.JSONDecodeError as exc:
            message = str(exc)
    parser = LenientJson()
    try:
        obj = parser.loads(raw)
    except UnicodeDecodeError as bad:
        return None, [], bad
    except (ValueError, RecursionError):
        if not message:
            try:
                orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                message = str(exc)
        hint = ""
        if raw.strip() in (b"{", b"["):
            hint = " (is the file pretty-printed JSON rather than JSON Lines?)"
        return None, [], f"not valid JSON: {message or 'unreadable'}{hint}; the record is skipped"
    try:
        orjson.dumps(obj)
    except orjson.JSONEncodeError as bad:
        return None, [], f"not valid JSON: {message} ({bad}); the record is skipped"
    return obj, parser.notes, None


def _stored(raw: bytes, obj: Any, sanitised: bool, batch: RecordBatch) -> bytes:
    """The form a record is stored in: single-line JSON, re-serialised only when needed."""
    if sanitised or (batch.multiline and (b"\n" in raw or b"\r" in raw)):
        return orjson.dumps(obj)
    if batch.has_cr:
        return raw.rstrip(b"\r")
    return raw


def _fetch_records(
    batches: Iterator[RecordBatch], wanted: dict[int, tuple[int, int]]
) -> dict[int, bytes]:
    """Stored forms of the records at the given (line, offset) places, by position."""
    by_offset = {offset: pos for pos, (_line, offset) in wanted.items()}
    targets = np.array(sorted(by_offset), np.int64)
    found: dict[int, bytes] = {}
    for batch in batches:
        if len(found) == len(wanted):
            break
        if not batch.records:
            continue
        hits = np.flatnonzero(np.isin(batch.offset_array(), targets)).tolist()
        if not hits:
            continue
        big = {batch.index_at(offset) for offset in batch.big_ints}
        for i in hits:
            pos = by_offset[int(batch.offset_array()[i])]
            if i in batch.rejected:
                continue
            raw = batch.records[i]
            obj, notes, reason = _parse(raw, i in big)
            if reason is None:
                found[pos] = _stored(raw, obj, bool(notes), batch)
    return found


class _BadType(Exception):
    """A batch holds a record whose type is missing or unusable: take the careful path."""


# --- entry points --------------------------------------------------------------------------


def _strip_bom(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """Drop a UTF-8 byte order mark at offset 0 (it is still counted in offsets)."""
    head = b""
    for block in blocks:
        head += block
        if len(head) >= len(BOM) or not BOM.startswith(head):
            break
    if head.startswith(BOM):
        head = head[len(BOM) :]
    if head:
        yield head
    yield from blocks


def _sample(head: bytes, is_array: bool, limit: int) -> list[Any]:
    """Parsed objects among the first records, for detecting the mapping."""
    if head.startswith(BOM):
        head = head[len(BOM) :]
    out: list[Any] = []
    if is_array:
        splitter = ArraySplitter(offset=0, line=1, max_record_bytes=limit)
        records = splitter.feed(head).records
    else:
        records = head.split(b"\n")[: SAMPLE_RECORDS * 2]
    for raw in records:
        if len(out) >= SAMPLE_RECORDS:
            break
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if type(obj) is dict:
            out.append(obj)
    return out


def run_import(
    path: str | os.PathLike[str],
    *,
    sink: RecordSink,
    fmt: Format | str | None = None,
    mapping: FieldMapping | Mapping[str, str | None] | None = None,
    strict: bool = False,
    start_offset: int = 0,
    start_line: int = 1,
    start_pos: int = 0,
    progress: ProgressFn | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    previous_ids: Sequence[str] | None = None,
    previous_raw: Callable[[int], bytes] | None = None,
    block_size: int = BLOCK_SIZE,
    parallel_min_bytes: int | None = PARALLEL_MIN_BYTES,
) -> ImportResult:
    """Import a log file (see the module docstring for the policy).

    ``parallel_min_bytes``: plain JSON Lines with at least this many bytes to read are parsed
    in two processes (see :mod:`models.import_parallel`); ``None`` never does.

    ``fmt``: a :class:`~models.readers.Format` (or its value); detected from the content when
    ``None``. ``mapping``: a :class:`FieldMapping` used as is (resuming: pass the stored one),
    or a dict of overrides on top of the detected mapping. ``previous_ids`` (event ids of
    positions ``0 .. start_pos - 1``) lets a resumed import report duplicates of earlier
    events, ``previous_raw(pos)`` also lets it compare their bytes.
    """
    if start_offset < 0 or start_line < 1 or start_pos < 0:
        raise ValueError("start_offset and start_pos must be >= 0, start_line >= 1")
    with Source(path, block_size=block_size) as source, _gc_paused():
        label = str(path)
        head = source.head()
        if start_offset == 0 and not head.strip(b" \t\r\n" + BOM):
            return _empty(label, source, fmt, mapping, sink, start_pos, start_line)
        if fmt is not None:
            if not _valid_fmt(fmt):
                known = ", ".join(f.value for f in Format)
                raise InputError(f"unknown format {fmt!r}; known formats: {known}")
            the_format = Format(fmt)
            sample = _sample(head, the_format.is_array, max_record_bytes)
        else:
            container = detect_container(head)
            if container is None:
                raise InputError(
                    f"{label}: not a JSON Lines or JSON array log (it starts with "
                    f"{excerpt(head.lstrip(BOM).lstrip()[:40])!r}); Rewind reads JSON Lines "
                    "(.jsonl, .ndjson, optionally gzip-compressed), JSON arrays of events and "
                    "CloudEvents"
                )
            sample = _sample(head, container, max_record_bytes)
            is_ce = bool(sample) and sum("specversion" in r for r in sample) * 2 >= len(sample)
            if container:
                the_format = Format.CLOUDEVENTS_BATCH if is_ce else Format.JSON_ARRAY
            else:
                the_format = Format.CLOUDEVENTS if is_ce else Format.JSONL
        if mapping is None and the_format.is_cloudevents:
            chosen = FieldMapping.cloudevents()
        else:
            try:
                chosen = resolve_mapping(mapping, sample)
            except ValueError as exc:
                raise InputError(f"{label}: the mapping is not usable: {exc}") from None
        need = chosen.requires()
        if need is not None:
            keys = sorted({k for r in sample for k in r})[:30]
            raise InputError(
                f"{label}: {need} (members of the first records: {', '.join(keys) or 'none'})"
            )
        run = _Run(
            file=label,
            mapping=chosen,
            sink=sink,
            strict=strict,
            start_pos=start_pos,
            previous_ids=previous_ids,
            previous_raw=previous_raw,
        )
        run.end_offset = start_offset
        run.end_line = start_line
        cancelled = False
        split = None
        if (
            parallel_min_bytes is not None
            and HELPERS_POSSIBLE
            and not source.compressed
            and not the_format.is_array
            and source.size - start_offset >= parallel_min_bytes
        ):
            split = split_point(path, start_offset, source.size)
        job = None
        if split is not None:
            job = PartJob(
                path=str(path),
                label=label,
                fmt=the_format.value,
                mapping=chosen.to_json(),
                strict=strict,
                split=split,
                size=source.size,
                max_record_bytes=max_record_bytes,
                block_size=block_size,
            )

        interrupted = threading.Event()

        def report(done: int, total: int) -> bool | None:
            if interrupted.is_set():
                return False
            return None if progress is None else progress(done, total)

        def parse() -> bool:
            """The whole file through ``run``; True when cancelled."""
            if job is not None:
                from models.import_parallel import import_in_two  # (it builds on this module)

                return import_in_two(
                    run, source, job, start_offset, start_line, max_record_bytes, report
                )
            for batch in _batches(source, the_format, start_offset, start_line, max_record_bytes):
                run.ingest(batch)
                if report(source.raw_done, source.size) is False:
                    return True
            return False

        cancelled = _churning(parse, interrupted)
        run.flush(final=True)
        if run.far and not cancelled:
            with Source(path, block_size=block_size) as again:
                again.size = min(again.size, source.size)
                run.resolve_far(
                    lambda wanted: _fetch_records(
                        _batches(again, the_format, start_offset, start_line, max_record_bytes),
                        wanted,
                    )
                )
        complete = not cancelled and start_offset == 0
        columns = run.take_columns()
        release_free_memory()  # what built the columns (see models.memory)
        return ImportResult(
            columns=columns,
            records_read=run.records_read,
            imported=run.pos - start_pos,
            skipped=run.skipped,
            warnings=run.warnings,
            problems=sorted(run.problems, key=lambda p: (p.offset, p.line)),
            end_offset=run.end_offset,
            end_line=run.end_line,
            file_size=source.size,
            sha1=source.sha1 if complete else None,
            format=the_format,
            compressed=source.compressed,
            mapping=chosen,
            cancelled=cancelled,
            start_pos=start_pos,
            mtime_ns=source.mtime_ns,
        )


def _churning(work: Callable[[], bool], stop: threading.Event) -> bool:
    """``work()`` run where making and dropping megabyte buffers by the hundred is cheap and
    leaves nothing behind.

    Mapped and unmapped one by one (the default past 256 KB, see :mod:`models.memory`), the
    buffers of a million-event parse cost 750,000 page faults and 1.5 s of system time; taken
    from the heap they are reused instead (:func:`models.memory.bulk_allocation`). But a heap
    that grew and shrank keeps holes, and what the caller allocates next (the first replay)
    lands in them and stays resident: 440 MB at its peak instead of 370. So the work runs on
    a thread of its own, which glibc gives a malloc arena of its own: the caller's heap is
    left as it was. The caller waits; exceptions are raised again here. ``stop`` is set when
    the caller is interrupted while it waits (Ctrl-C): the work must then stop at its next
    block, as for a cancel, before the caller unwinds what it uses.

    The malloc settings are the process's: other threads allocate under them meanwhile too.
    """
    outcome: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            with bulk_allocation(PARSE_MMAP_THRESHOLD):
                outcome.append((True, work()))
        except BaseException as error:  # (handed to the caller)
            outcome.append((False, error))

    thread = threading.Thread(target=run, name="rewind-import-parse", daemon=True)
    thread.start()
    try:
        thread.join()
    except BaseException:  # Ctrl-C while waiting: the work stops at its next block first
        stop.set()
        thread.join()
        raise
    done, value = outcome[0]
    if not done:
        raise value
    return bool(value)


def split_point(path: str | os.PathLike[str], start_offset: int, size: int) -> int | None:
    """Where the helper's part starts: just after the first newline at or after the target
    share of the bytes (``None``: no line starts there)."""
    target = start_offset + int((size - start_offset) * MAIN_SHARE)
    with open(path, "rb") as f:
        f.seek(target)
        at = target
        while at < size:
            data = f.read(min(1 << 16, size - at))
            if not data:
                return None
            found = data.find(b"\n")
            if found >= 0:
                split = at + found + 1
                return split if split < size else None
            at += len(data)
    return None


def _batches(
    source: Source, fmt: Format, start_offset: int, start_line: int, max_record_bytes: int
) -> Iterator[RecordBatch]:
    """The reader for a format over a source, from a start offset."""
    blocks: Iterator[bytes] = source.blocks(start_offset)
    if start_offset == 0:
        blocks = _strip_bom(blocks)
        first_offset = len(BOM) if source.head().startswith(BOM) else 0
    else:
        first_offset = start_offset
    if fmt.is_array:
        splitter = ArraySplitter(
            offset=first_offset,
            line=start_line,
            max_record_bytes=max_record_bytes,
            resumed=start_offset > 0,
        )
        return chain(map(splitter.feed, blocks), _lazy(splitter.finish))
    return line_batches(
        blocks, offset=first_offset, line=start_line, max_record_bytes=max_record_bytes
    )


def _lazy(finish: Callable[[], RecordBatch]) -> Iterator[RecordBatch]:
    yield finish()


def _valid_fmt(fmt: Format | str | None) -> bool:
    if fmt is None:
        return False
    try:
        Format(fmt)
    except ValueError:
        return False
    return True


def _empty(
    label: str,
    source: Source,
    fmt: Format | str | None,
    mapping: FieldMapping | Mapping[str, str | None] | None,
    sink: RecordSink,
    start_pos: int,
    start_line: int,
) -> ImportResult:
    problem = Problem(
        label,
        0,
        0,
        "the file is empty: there are no events to import (if the log is still being "
        "written, import it again later)",
        Severity.WARNING,
    )
    sink.add_problem(problem)
    the_format = Format(fmt) if fmt is not None and _valid_fmt(fmt) else Format.JSONL
    if isinstance(mapping, FieldMapping):
        chosen = mapping
    elif the_format.is_cloudevents and mapping is None:
        chosen = FieldMapping.cloudevents()
    else:
        chosen = resolve_mapping(mapping, [])
    for _ in source.blocks(0):
        pass  # hash what is there (a BOM, whitespace)
    return ImportResult(
        columns=Columns.empty(),
        records_read=0,
        imported=0,
        skipped=0,
        warnings=1,
        problems=[problem],
        end_offset=0,
        end_line=start_line,
        file_size=source.size,
        sha1=source.sha1,
        format=the_format,
        compressed=source.compressed,
        mapping=chosen,
        start_pos=start_pos,
        mtime_ns=source.mtime_ns,
    )


# --- read path -----------------------------------------------------------------------------


def decode_record(
    raw: bytes,
    mapping: FieldMapping,
    key: int,
    pos: int,
    event_id: str,
    stream: str,
    type: str,
    version: int | None,
    recorded_us: int | None,
    processed_us: int | None,
) -> Event:
    """The full event from a stored raw record and its column values.

    Raw records are what the import handed to the sink (compact JSON objects), so this is
    one ``orjson.loads`` (see :func:`models.decode.loads_stored`) plus a few dict lookups.
    ``NA`` column values count as missing.
    """
    return mapping.to_event(
        loads_stored(raw),
        key=key,
        pos=pos,
        event_id=event_id,
        stream=stream,
        type=type,
        version=None if version is None or version == NA else version,
        recorded_us=None if recorded_us is None or recorded_us == NA else recorded_us,
        processed_us=None if processed_us is None or processed_us == NA else processed_us,
    )


def event_at(raw: bytes, mapping: FieldMapping, columns: Columns, index: int, pos: int) -> Event:
    """:func:`decode_record` with the column values taken from ``columns[index]``; the
    event's key and position are ``pos`` (source events are keyed by position)."""
    return decode_record(
        raw,
        mapping,
        pos,
        pos,
        str(columns.event_ids[index]),
        columns.stream_names[int(columns.stream_codes[index])],
        columns.type_names[int(columns.type_codes[index])],
        int(columns.versions[index]),
        int(columns.recorded_us[index]),
        int(columns.processed_us[index]),
    )
