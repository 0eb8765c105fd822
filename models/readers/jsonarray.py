"""A JSON array of events (and the CloudEvents batch format), split element by element.

The input is scanned a block at a time and never held whole: numpy finds the bytes that
matter (quotes, backslashes, brackets), escapes and string state are resolved on those few
positions, and bracket depth gives each element's start and end. Each element's bytes then go
to ``orjson.loads`` like a line of JSON Lines. State (depth, inside a string, a pending
backslash, the element so far) carries over from block to block, so an element may span any
number of blocks; one larger than ``max_record_bytes`` is dropped as it arrives.

Between elements only whitespace and one comma may appear. Scalars there (``[1, "x"]``) are
cut out as records too (the importer reports them: not an object). Doubled, leading or
trailing commas and missing commas are warnings: the elements themselves are fine.
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt

from models.problems import Severity
from models.readers.batch import Issue, RecordBatch, excerpt
from models.readers.jsonl import too_large
from models.readers.numbers import big_integer_offsets, new_scratch

_WS = b" \t\r\n"
_GAP_TOKEN = re.compile(rb'[ \t\r\n]*(?:(,)|("(?:[^"\\]|\\.)*"?)|([^ \t\r\n,"]+))', re.S)

_QUOTE = 0x22
_BACKSLASH = 0x5C
_PIPE = 0x7C
_OPEN_SQUARE = 0x5B
_OPEN_CURLY = 0x7B
_CLOSE_SQUARE = 0x5D


def _escaped_positions(bpos: npt.NDArray[np.intp], carried: bool) -> npt.NDArray[np.intp]:
    """Positions escaped by a backslash, given the sorted backslash positions of a block.

    In a run of backslashes every other one escapes the next byte, starting with the first
    (or the second, when the run starts the block and the previous block ended with an
    escaping backslash).
    """
    count = len(bpos)
    starts = np.ones(count, np.bool_)
    starts[1:] = np.diff(bpos) != 1
    order = np.arange(count)
    run_start = np.maximum.accumulate(np.where(starts, order, 0))
    escaping = ((order - run_start) & 1) == 0
    if carried and bpos[0] == 0:
        first_run = run_start == 0
        escaping[first_run] = ~escaping[first_run]
    targets = bpos[escaping] + 1
    if carried and bpos[0] != 0:
        targets = np.concatenate((np.zeros(1, targets.dtype), targets))
    result: npt.NDArray[np.intp] = targets
    return result


class ArraySplitter:
    """Feed blocks in order; each :meth:`feed` returns the elements completed in that block."""

    def __init__(
        self, *, offset: int, line: int, max_record_bytes: int, resumed: bool = False
    ) -> None:
        """``resumed``: start just after an element of an array (a grown log's end offset)."""
        self.pos = offset
        self.line = line
        self.limit = max_record_bytes
        self.started = resumed
        self.closed = False
        self.stopped = False
        self.depth = 1 if resumed else 0
        self.in_string = False
        self.escape = False
        self.count = 0
        self.end_offset = offset
        self.end_line = line
        # The element in progress (depth >= 2 at a block end).
        self.elem_start = -1
        self.elem_line = 0
        self.parts: list[bytes] = []
        self.parts_len = 0
        self.dropped = False
        self.dropped_head = b""
        # Text at the array's own level since the last value (or the '['), not yet read.
        self.gap_parts: list[bytes] = []
        self.gap_len = 0
        self.gap_start = offset
        self.gap_line = line
        self.expect_comma = resumed
        self.comma_pending = False
        # Per feed.
        self._block = b""
        self._base = 0
        self._count_rel = 0
        self._count_line = 0
        self._batch: RecordBatch | None = None
        self._scratch = new_scratch()

    # --- helpers -------------------------------------------------------------------------

    def _line_at(self, rel: int) -> int:
        """Line of a position in the current block; positions must not go backwards."""
        if rel > self._count_rel:
            self._count_line += self._block.count(b"\n", self._count_rel, rel)
            self._count_rel = rel
        return self._count_line

    def _emit(self, raw: bytes, offset: int, line: int, size: int | None = None) -> None:
        batch = self._batch
        assert batch is not None and batch.offsets is not None and batch.lines is not None
        size = len(raw) if size is None else size
        if size > self.limit:
            batch.rejected[len(batch.records)] = Issue(
                line, offset, too_large(size, self.limit), excerpt=excerpt(raw)
            )
            raw = b""
        elif offset < self._base:  # assembled across blocks: the block scan did not see it
            batch.big_ints.extend(offset + at for at in big_integer_offsets(raw))
        batch.records.append(raw)
        batch.offsets.append(offset)
        batch.lines.append(line)

    def _issue(
        self, rel: int, reason: str, severity: Severity, raw: bytes = b"", counts: bool = False
    ) -> None:
        assert self._batch is not None
        self._batch.issues.append(
            Issue(self._line_at(rel), self._base + rel, reason, severity, excerpt(raw), counts)
        )

    def _gap(self, until: int) -> None:
        """Read the text between values (commas, scalars) up to ``until`` (block-relative)."""
        block = self._block
        if not self.gap_parts:
            gap_rel = max(0, self.gap_start - self._base)
            text = block[gap_rel:until]
            text_base = self._base + gap_rel
            text_line = self._line_at(gap_rel)
        else:
            text = b"".join(self.gap_parts) + block[:until]
            text_base = self.gap_start
            text_line = self.gap_line
        self.gap_parts = []
        self.gap_len = 0
        stripped = text.strip(_WS)
        if not stripped:
            return
        if stripped == b"," and self.expect_comma:
            self.expect_comma = False
            self.comma_pending = True
            return
        assert self._batch is not None
        issues = self._batch.issues
        for match in _GAP_TOKEN.finditer(text):
            start = match.start(match.lastindex or 0)
            line = text_line + text.count(b"\n", 0, start)
            if match.group(1) is not None:
                if self.expect_comma:
                    self.expect_comma = False
                    self.comma_pending = True
                else:
                    issues.append(
                        Issue(
                            line,
                            text_base + start,
                            "empty array element (two commas in a row, or a comma right after "
                            "'['); nothing is lost",
                            Severity.WARNING,
                            counts_as_record=False,
                        )
                    )
                continue
            value = match.group(2) if match.group(2) is not None else match.group(3)
            if value is None:
                continue
            if self.expect_comma:
                issues.append(
                    Issue(
                        line,
                        text_base + start,
                        "missing comma between array elements; both are read",
                        Severity.WARNING,
                        counts_as_record=False,
                    )
                )
            self._emit(value, text_base + start, line)
            self.count += 1
            self.expect_comma = True
            self.comma_pending = False
            self.end_offset = text_base + match.end()
            self.end_line = line

    # --- the scan ------------------------------------------------------------------------

    def feed(self, block: bytes) -> RecordBatch:
        base = self.pos
        batch = RecordBatch(
            records=[],
            base_offset=base,
            base_line=self.line,
            end_offset=self.end_offset,
            end_line=self.end_line,
            offsets=[],
            lines=[],
            multiline=True,
        )
        self._batch = batch
        self._block = block
        self._base = base
        self._count_rel = 0
        self._count_line = self.line
        try:
            if not self.stopped:
                if self.closed:
                    self._trailing(0)
                elif self.started:
                    batch.big_ints = [base + at for at in big_integer_offsets(block, self._scratch)]
                    self._scan(block, 0)
                else:
                    self._start(block)
        finally:
            self.pos = base + len(block)
            self.line = self._line_at(len(block))
            self._block = b""
            self._batch = None
        batch.end_offset = self.end_offset
        batch.end_line = self.end_line
        return batch

    def _trailing(self, rel: int) -> None:
        rest = self._block[rel:]
        stripped = rest.lstrip(_WS)
        if stripped:
            at = rel + len(rest) - len(stripped)
            self._issue(
                at,
                "data after the end of the JSON array: the array is malformed (an extra ']' "
                "or '}'?) or several documents were written into one file; the rest of the "
                "file is not read",
                Severity.ERROR,
                stripped[:200],
                counts=True,
            )
            self.stopped = True

    def _start(self, block: bytes) -> None:
        lead = block.lstrip(_WS)
        if not lead:
            return
        at = len(block) - len(lead)
        if lead[:1] != b"[":
            self._issue(
                at,
                "not a JSON array: expected '[' first; the file is not read",
                Severity.ERROR,
                lead[:200],
                counts=True,
            )
            self.stopped = True
            return
        self.started = True
        self.depth = 1
        self.gap_start = self._base + at + 1
        self.gap_line = self._line_at(at)
        assert self._batch is not None
        self._batch.big_ints = [self._base + at for at in big_integer_offsets(block, self._scratch)]
        self._scan(block, at + 1)

    def _scan(self, block: bytes, start: int) -> None:
        n = len(block)
        a = np.frombuffer(block, np.uint8)[start:]
        # [ \ ] { | } all map into 0x7B..0x7D when 0x20 is or-ed in; quotes separately.
        mask = ((a | np.uint8(0x20)) - np.uint8(0x7B)) <= 2
        mask |= a == _QUOTE
        idx = np.flatnonzero(mask)
        ch = a[idx]
        idx += start
        is_bs = ch == _BACKSLASH
        keep = ch != _PIPE
        if self.escape or is_bs.any():
            bpos = idx[is_bs]
            # No backslash here but one pending from the last block: byte 0 is escaped.
            targets = _escaped_positions(bpos, self.escape) if len(bpos) else np.zeros(1, np.intp)
            self.escape = bool(len(targets)) and int(targets[-1]) == n
            keep &= ~is_bs
            if len(targets):
                keep &= ~np.isin(idx, targets)
        idx = idx[keep]
        ch = ch[keep]
        quote = ch == _QUOTE
        if self.in_string or quote.any():
            quotes_through = np.cumsum(quote)
            inside = ((quotes_through - quote + self.in_string) & 1).astype(np.bool_)
            if len(quotes_through):
                self.in_string = bool((int(quotes_through[-1]) + self.in_string) & 1)
            struct = ~quote & ~inside
            idx = idx[struct]
            ch = ch[struct]
        opener = (ch == _OPEN_SQUARE) | (ch == _OPEN_CURLY)
        delta = np.where(opener, 1, -1)
        after = np.cumsum(delta) + self.depth
        before = after - delta
        events = np.flatnonzero(np.where(opener, before <= 1, after <= 1))
        final_depth = int(after[-1]) if len(after) else self.depth
        positions = idx[events].tolist()
        kinds = ch[events].tolist()
        depths = after[events].tolist()
        for p, kind, depth_after in zip(positions, kinds, depths, strict=True):
            if kind in (_OPEN_SQUARE, _OPEN_CURLY):  # an element starts
                self._gap(p)
                if self.expect_comma:
                    self._issue(
                        p, "missing comma between array elements; both are read", Severity.WARNING
                    )
                self.elem_start = self._base + p
                self.elem_line = self._line_at(p)
                continue
            end = p + 1
            if depth_after == 1:  # an element ends
                if self.dropped:
                    size = self.parts_len + end
                    self._emit(self.dropped_head, self.elem_start, self.elem_line, size)
                elif self.parts:
                    raw = b"".join(self.parts) + block[:end]
                    self._emit(raw, self.elem_start, self.elem_line)
                else:
                    raw = block[self.elem_start - self._base : end]
                    self._emit(raw, self.elem_start, self.elem_line)
                self.parts = []
                self.parts_len = 0
                self.dropped = False
                self.elem_start = -1
                self.count += 1
                self.expect_comma = True
                self.comma_pending = False
                self.gap_start = self._base + end
                self.end_offset = self._base + end
                self.end_line = self.gap_line = self._line_at(end)
                continue
            # depth_after == 0: the array ends
            self._gap(p)
            if self.comma_pending:
                self._issue(
                    p, "trailing comma before the array's ']'; nothing is lost", Severity.WARNING
                )
            if kind != _CLOSE_SQUARE:
                self._issue(p, "the array is closed with '}' instead of ']'", Severity.WARNING)
            self.closed = True
            self.depth = 0
            self._trailing(end)
            return
        self.depth = final_depth
        # Carry what is unfinished into the next block.
        if self.elem_start >= 0:
            piece = block[max(0, self.elem_start - self._base) :]
            self.parts_len += len(piece)
            if self.dropped:
                pass
            elif self.parts_len > self.limit:
                self.dropped_head = (self.parts[0] if self.parts else piece)[:200]
                self.dropped = True
                self.parts = []
            else:
                self.parts.append(piece)
        else:
            piece = block[max(0, self.gap_start - self._base) :]
            self.gap_len += len(piece)
            if self.gap_len <= self.limit:
                self.gap_parts.append(piece)

    def finish(self) -> RecordBatch:
        """The end of the input: an element or an array left open is reported here."""
        batch = RecordBatch(
            records=[],
            base_offset=self.pos,
            base_line=self.line,
            end_offset=self.end_offset,
            end_line=self.end_line,
            offsets=[],
            lines=[],
            multiline=True,
        )
        self._batch = batch
        self._block = b""
        self._base = self.pos
        self._count_rel = 0
        self._count_line = self.line
        if self.started and not self.closed and not self.stopped:
            if self.elem_start >= 0 or self.depth >= 2:
                batch.issues.append(
                    Issue(
                        self.elem_line,
                        self.elem_start,
                        "truncated last array element: the file ends inside it; the log may "
                        "still be being written (import it again later to pick it up)",
                        Severity.ERROR,
                        excerpt(b"".join(self.parts)[:200] if self.parts else self.dropped_head),
                        True,
                    )
                )
            else:
                self._gap(0)
                batch.issues.append(
                    Issue(
                        self.line,
                        self.pos,
                        "the JSON array is not closed (no ']' at the end): the log may still "
                        "be being written; the complete elements were read",
                        Severity.WARNING,
                        counts_as_record=False,
                    )
                )
        self._batch = None
        batch.end_offset = self.end_offset
        batch.end_line = self.end_line
        return batch
