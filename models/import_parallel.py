"""The two-process import of :func:`models.importer.run_import`: this process's side
(parse the first part, take the helper's records and results in) and the helper's side
(:func:`run_part`, run by :func:`models.import_worker.serve`).

Why and how: see :mod:`models.import_worker` (the process and its messages).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from models.digest import bytes_check
from models.import_worker import PartJob, PartProcess, PartResult, SpanBatch
from models.importer import (
    _FINDING_MARK,
    CHUNK_SIZE,
    SPAN_MESSAGE_BLOCKS,
    ProgressFn,
    RecordSink,
    _batches,
    _FarDuplicate,
    _fetch_records,
    _Finding,
    _gc_paused,
    _Run,
    _Spans,
    _strip_bom,
    record_starts,
)
from models.log import IdColumn
from models.mapping import FieldMapping
from models.memory import bulk_allocation
from models.problems import InputError, Problem
from models.readers import Format
from models.readers.jsonl import line_batches
from models.readers.source import BOM, Source


class _ByteStream:
    """The decompressed (plain) input as the importing process reads it, once, in order:
    the first part goes to the line splitter, the helper's part is read afterwards to hash it
    and to cut the stored records from it, with a 64-bit hash of its bytes to compare with the
    helper's (both must have seen the same bytes)."""

    def __init__(self, blocks: Iterator[bytes], offset: int) -> None:
        self._blocks = blocks
        self.offset = offset
        """Absolute offset of ``buffer[0]`` (or of the next byte when it is empty)."""
        self.buffer = bytearray()
        self.check = bytes_check()
        self._checked_to = offset
        """The check covers ``[split, _checked_to)``."""

    def until(self, stop: int) -> Iterator[bytes]:
        """Blocks up to offset ``stop``; the check starts there."""
        for data in self._blocks:
            take = stop - self.offset
            if len(data) > take:
                self.buffer += data[take:]
                data = data[:take]
            if data:
                self.offset += len(data)
                yield data
            if self.offset >= stop:
                break
        self._checked_to = self.offset

    def rest(self) -> Iterator[bytes]:
        """Everything after what was read (parsed here after all)."""
        if self.buffer:
            data = bytes(self.buffer)
            self.offset += len(data)
            self.buffer = bytearray()
            yield data
        for data in self._blocks:
            self.offset += len(data)
            yield data

    def _more(self) -> bool:
        data = next(self._blocks, None)
        if data is None:
            return False
        self.buffer += data
        return True

    def _check_through(self, end: int) -> None:
        if end > self._checked_to:
            view = memoryview(self.buffer)[self._checked_to - self.offset : end - self.offset]
            self.check.update(view)
            view.release()
            self._checked_to = end

    def get(self, lo: int, hi: int) -> bytes:
        """Bytes ``[lo, hi)``; what lies before ``lo`` is dropped (reads only go forward)."""
        while self.offset + len(self.buffer) < hi and self._more():
            pass
        if lo > self.offset:
            self._check_through(lo)
            del self.buffer[: lo - self.offset]
            self.offset = lo
        return bytes(memoryview(self.buffer)[lo - self.offset : hi - self.offset])

    def drain(self, upto: int | None = None) -> int:
        """Read (and so hash) the rest, with the check up to ``upto`` (``None``: the end of
        the input); the offset the check reached."""
        while True:
            end = self.offset + len(self.buffer)
            if upto is not None and end >= upto:
                self._check_through(upto)
                return upto
            self._check_through(end)
            self.offset = end
            self.buffer = bytearray()
            if not self._more():
                return end


def _emit(
    sink: RecordSink, first_pos: int, count: int, data: bytes, starts: npt.NDArray[np.uint32]
) -> None:
    """One chunk given as its stored bytes (records joined by newlines) and where each
    record starts in them."""
    joined = getattr(sink, "add_joined", None)
    if joined is not None:
        joined(first_pos, count, data, starts)
    else:
        sink.add_chunk(first_pos, data.split(b"\n"))


def import_in_two(
    run: _Run,
    source: Source,
    job: PartJob,
    start_offset: int,
    start_line: int,
    max_record_bytes: int,
    progress: ProgressFn | None,
) -> bool:
    """Parse ``[start_offset, split)`` here and the rest in a helper process, then take the
    helper's results in; True when cancelled.

    Once the first part is done, the helper's records go to the sink as it reports where
    they are, so writing them overlaps its parsing. Without a helper (it cannot start, or
    fails before its records were used) the rest is parsed here.
    """
    split = job.split
    helper = PartProcess.start(job)
    blocks: Iterator[bytes] = source.blocks(start_offset)
    first_offset = start_offset
    if start_offset == 0:
        blocks = _strip_bom(blocks)
        first_offset = len(BOM) if source.head().startswith(BOM) else 0
    stream = _ByteStream(blocks, first_offset)
    shown = [0]

    def report(done: int) -> bool:
        """Progress; False when the caller wants to stop."""
        shown[0] = max(shown[0], min(done, source.size))
        return progress is None or progress(shown[0], source.size) is not False

    try:
        for batch in line_batches(
            stream.until(split),
            offset=first_offset,
            line=start_line,
            max_record_bytes=max_record_bytes,
        ):
            run.ingest(batch)
            done = batch.end_offset
            if helper is not None:
                helper.poll()
                done += helper.done
            if not report(done):
                return True
        if helper is not None:
            used = stopping = False
            run.seal_ids()
            crossing: set[str] | None = set()
            while True:
                if helper.error is None:
                    while helper.spans:
                        spans = helper.spans.popleft()
                        _feed_spans(run, stream, spans)
                        used = True
                        if spans.ids is None:
                            crossing = None
                        elif crossing is not None and spans.ids:
                            text = spans.ids.decode("utf-8", "surrogatepass")
                            crossing.update(run.seen_ids.intersection(text.split("\n")))
                if helper.finished:
                    break
                if not stopping and not report(split + helper.done):
                    if not used:
                        return True
                    # Its first records are in the sink already: it stops at its next batch
                    # and the import covers what it read up to there.
                    helper.request_stop()
                    stopping = True
                helper.wait(0.05)
            part = helper.result
            if part is not None:
                if part.strict_error is not None:
                    problem = part.strict_error
                    problem = replace(problem, line=problem.line + run.end_line - 1)
                    raise InputError(f"{problem.location()}: {problem.reason}", [problem])
                _absorb(run, part, stream, split, crossing)
                if part.cancelled:
                    return True
                report(source.size)
                return False
            if used:
                raise InputError(
                    f"{run.file}: the helper process parsing the second half of the file "
                    f"failed ({helper.error}); import the file again"
                )
        for batch in line_batches(
            stream.rest(), offset=split, line=run.end_line, max_record_bytes=max_record_bytes
        ):
            run.ingest(batch)
            if not report(source.raw_done):
                return True
        return False
    finally:
        if helper is not None:
            helper.stop()


def _absorb(
    run: _Run, part: PartResult, stream: _ByteStream, split: int, crossing: set[str] | None
) -> None:
    """Continue ``run`` with the helper's part (whose chunks were handed over already):
    problems and findings worded with absolute lines and positions, columns re-coded,
    duplicates across the cut found, and the bytes checked to be the ones it parsed.
    ``crossing``: the ids of the part seen before it, when the span batches told them."""
    line_shift = run.end_line - 1
    pos_shift = run.pos
    # The part's ids stay one buffer (IdColumn): as half a million strings they would cost
    # ~50 MB at the very moment the import peaks; they are read through in batches here.
    part_ids = part.columns.event_ids
    if part.ids_text is not None:
        found = IdColumn.from_lines(part.ids_text, len(part.columns))
        if found is None:
            raise InputError(
                f"{run.file}: the helper process sent {len(part.columns):,} events but not as "
                "many ids; import the file again"
            )
        part_ids = found
    if crossing is None:
        crossing = run.seen_ids.intersection(part_ids)
    problems: list[Problem] = []
    for problem in part.problems:
        if problem.reason.startswith(_FINDING_MARK):
            finding = part.findings[int(problem.reason[len(_FINDING_MARK) :])]
            if finding.event_id not in crossing:
                problems.append(finding.problem(run.file, pos_shift, line_shift))
        else:
            problems.append(replace(problem, line=problem.line + line_shift))
    run.report(problems, ordered=True)
    # Columns: the part's names get the codes they already have here, or the next ones.
    cols = part.columns
    for names, codes, target, known in (
        (cols.stream_names, cols.stream_codes, run.stream_col, run.stream_codes),
        (cols.type_names, cols.type_codes, run.type_col, run.type_codes),
    ):
        recode = np.array([known.setdefault(name, len(known)) for name in names], np.int32)
        target.append(recode[codes] if len(codes) else np.zeros(0, np.int32))
    run.version_col.append(cols.versions)
    run.recorded_col.append(cols.recorded_us)
    run.processed_col.append(cols.processed_us)
    run.table_starts.append(pos_shift)
    run.line_tables.append(part.lines + line_shift)
    run.offset_tables.append(part.offsets)
    # Duplicates across the cut: every later use of an id seen before it, compared after the
    # import (both records are read again).
    if crossing:
        earliest: dict[str, int] = {}
        for i, event_id in enumerate(run.previous_ids or ()):
            if event_id in crossing:
                earliest.setdefault(event_id, i)
        for i, event_id in enumerate(run.head_ids if run.head_ids is not None else run.ids):
            if event_id in crossing:
                earliest.setdefault(event_id, run.start_pos + i)
        for k, event_id in enumerate(part_ids):
            if event_id in crossing:
                line, offset = int(part.lines[k]) + line_shift, int(part.offsets[k])
                run.far.append(
                    _FarDuplicate(line, offset, event_id, earliest[event_id], None, pos_shift + k)
                )
    run.tail_ids = part_ids
    read_to = stream.drain(part.read_to if part.cancelled else None)
    if read_to != part.read_to or stream.check.intdigest() != part.check:
        raise InputError(
            f"{run.file}: the file changed while it was being imported (bytes after offset "
            f"{split} differ between two reads); import it again"
        )
    run.records_read += part.records_read
    run.skipped += part.skipped
    run.pos += len(part_ids)
    run.end_offset = part.end_offset
    run.end_line = part.end_line + line_shift


def _feed_spans(run: _Run, stream: _ByteStream, spans: SpanBatch) -> None:
    """Hand the helper's next stored records to the sink, read from the file's bytes: whole
    chunks as one slice when their records are consecutive lines, the rest of a chunk kept
    as pending records (like the records parsed here)."""
    offsets, lengths, changed = spans.offsets, spans.lengths, spans.changed
    n = len(offsets)
    ends = offsets + lengths
    gaps = np.flatnonzero(offsets[1:] != ends[:-1] + 1) + 1
    """Records that do not start just after the previous one's newline."""
    changed_at = np.array(sorted(changed), np.int64) - spans.first

    def cut(k: int, stop: int) -> tuple[bytes, npt.NDArray[np.uint32]]:
        """Records ``[k, stop)`` joined by newlines, and where each starts."""
        if np.searchsorted(gaps, k, "right") == np.searchsorted(gaps, stop - 1, "right") and (
            np.searchsorted(changed_at, k) == np.searchsorted(changed_at, stop)
        ):
            lo = int(offsets[k])
            return stream.get(lo, int(ends[stop - 1])), (offsets[k:stop] - lo).astype(np.uint32)
        records = [
            changed.get(spans.first + i) or stream.get(int(offsets[i]), int(ends[i]))
            for i in range(k, stop)
        ]
        return b"\n".join(records), record_starts(records)

    k = 0
    while k < n:
        room = CHUNK_SIZE - run.pending_pos % CHUNK_SIZE - len(run.pending)
        if n - k < room:
            run.pending.extend(cut(k, n)[0].split(b"\n"))
            return
        stop = k + room
        data, starts = cut(k, stop)
        count = room
        if run.pending:
            head = b"\n".join(run.pending)
            starts = np.concatenate([record_starts(run.pending), starts + (len(head) + 1)])
            data = b"\n".join([head, data])
            count += len(run.pending)
            run.pending = []
        _emit(run.sink, run.pending_pos, count, data, starts)
        run.pending_pos += count
        k = stop


def run_part(
    job: PartJob,
    send: Callable[[str, object], None],
    stop_requested: Callable[[], bool] = lambda: False,
) -> PartResult:
    """The helper process's side of :func:`import_in_two`: bytes ``[job.split, job.size)``
    with positions and lines counted from the part's start. Where its stored records are is
    sent as it goes (``send("spans", ...)``, every :data:`SPAN_MESSAGE_BLOCKS` blocks)."""
    mapping = FieldMapping.from_json(job.mapping)
    fmt = Format(job.fmt)
    collected: list[Problem] = []

    class _Collect:
        def add_chunk(self, first_pos: int, records: list[bytes]) -> None:
            raise AssertionError("a part run hands no chunks over")

        def add_problem(self, problem: Problem) -> None:
            collected.append(problem)

    # Its large buffers come from the heap (it is a process of its own: its memory is
    # returned when it ends, and the parent's peak is not made of it).
    with bulk_allocation(), Source(job.path, block_size=job.block_size) as source, _gc_paused():
        source.size = min(source.size, job.size)
        run = _Run(
            file=job.label,
            mapping=mapping,
            sink=_Collect(),
            strict=job.strict,
            start_pos=0,
            previous_ids=None,
            previous_raw=None,
        )
        spans = run.spans = _Spans()
        findings: list[_Finding] = []
        run.findings = findings
        run.end_offset = job.split
        run.end_line = 1
        check = bytes_check()
        read_to = job.split

        def blocks() -> Iterator[bytes]:
            nonlocal read_to
            for data in source.blocks(job.split):
                check.update(data)
                read_to += len(data)
                yield data

        strict_error = None
        cancelled = False
        sent_at = job.split
        sent_ids = 0
        id_parts: list[bytes] | None = []
        """The ids sent so far, as sent: the id column is made of them at the end."""

        def take_spans() -> SpanBatch:
            nonlocal sent_ids, id_parts
            batch = spans.take()
            text = "\n".join(run.ids[sent_ids:])
            if text.count("\n") == len(run.ids) - sent_ids - 1 or not text:
                batch.ids = text.encode("utf-8", "surrogatepass")
                if id_parts is not None and batch.ids:
                    id_parts.append(batch.ids)
            else:
                id_parts = None
            sent_ids = len(run.ids)
            return batch

        try:
            for batch in line_batches(
                blocks(), offset=job.split, line=1, max_record_bytes=job.max_record_bytes
            ):
                run.ingest(batch)
                if stop_requested():
                    cancelled = True
                    break
                if batch.end_offset - sent_at >= SPAN_MESSAGE_BLOCKS * job.block_size:
                    sent_at = batch.end_offset
                    send("spans", (take_spans(), batch.end_offset - job.split))
        except InputError as error:
            if not error.problems:
                raise
            strict_error = error.problems[0]
        if strict_error is None:
            send("spans", (take_spans(), read_to - job.split))
        if run.far and strict_error is None and not cancelled:
            with Source(job.path, block_size=job.block_size) as again:
                again.size = source.size
                run.resolve_far(
                    lambda wanted: _fetch_records(
                        _batches(again, fmt, job.split, 1, job.max_record_bytes), wanted
                    )
                )
        empty = np.zeros(0, np.int64)
        sent_all = id_parts is not None and sent_ids == len(run.ids)
        columns = run.take_columns(ids=not sent_all)
        if sent_all and id_parts is not None:
            ids_text: bytes | None = b"\n".join(id_parts)
        else:
            ids_text = columns.event_ids.lines()
            if ids_text is not None:
                columns = replace(columns, event_ids=IdColumn.empty())
        return PartResult(
            columns=columns,
            ids_text=ids_text,
            records_read=run.records_read,
            skipped=run.skipped,
            problems=collected,
            findings=findings,
            lines=np.concatenate(run.line_tables) if run.line_tables else empty,
            offsets=np.concatenate(run.offset_tables) if run.offset_tables else empty,
            end_offset=run.end_offset,
            end_line=run.end_line,
            check=check.intdigest(),
            read_to=read_to,
            strict_error=strict_error,
            cancelled=cancelled,
        )
