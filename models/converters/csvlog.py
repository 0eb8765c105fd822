"""CSV event exports with a header row (RFC 4180; Python's :mod:`csv` reads the records).

- **Encoding**: UTF-8, with or without a byte order mark. Invalid bytes are replaced by
  U+FFFD in the row that holds them (with a warning).
- **Separator**: ``,``, ``;`` or tab, found by :class:`csv.Sniffer` on the first 64 KiB (or,
  when it gives up, on the header line alone) and checked against the header line (a
  separator the header does not contain is not believed); otherwise the one the header line
  holds most, then ``,`` (tab for ``.tsv``). Quotes are
  ``"``, doubled inside a field; a quoted field may hold separators and line breaks, so a
  record can span several lines.
- **Columns**: each canonical field takes the first header that matches one of its usual
  names (compared lower-case, ignoring ``_``, ``-`` and spaces):

  ==================  ===========================================
  event id            ``id``, ``event_id``
  stream              ``stream``, ``stream_id``, ``aggregate_id``
  type                ``type``, ``event_type``
  version             ``version``
  recorded time       ``timestamp``, ``recorded_at``, ``time``
  processed time      ``processed_at``
  data                ``data``, ``payload``
  metadata            ``metadata``
  correlation id      ``correlation_id``
  causation id        ``causation_id``
  ==================  ===========================================

  ``CsvConverter(mapping={"type": "Kind", ...})`` names columns explicitly (keys, in the
  table's order: ``event_id``, ``stream``, ``type``, ``version``, ``recorded_at``,
  ``processed_at``, ``data``, ``metadata``, ``correlation_id``, ``causation_id``; ``id`` is
  accepted for ``event_id``; header names compared as above); it wins over the guesses.
- **Values**: the data and metadata cells hold JSON (an empty cell is null / no metadata; a
  cell that is not JSON, or metadata that is not an object, skips the row). Versions are
  integers; times ISO 8601 / RFC 3339 or epoch numbers (:mod:`models.timeparse`). Columns no
  field uses become members of ``data`` when there is no data column, otherwise members of
  ``metadata["csv"]``; their values stay the strings of the file (CSV has no types). The
  correlation and causation columns go to the top of the metadata, where the importer lifts
  them. An empty id lets the importer derive a stable one from the position; an empty stream
  is Rewind's "(no stream)".
- **Rows skipped** (one ERROR each, at the physical line where the row starts and its byte
  offset): a row whose number of fields differs from the header's, an empty type cell, a bad
  version, time, data or metadata cell, malformed quoting (including a file that ends inside
  a quoted field). A file without any type column cannot be converted (``InputError``).

Order: the rows' order. Streamed: one row at a time, nothing is sorted. Cells may be up to
64 Mi characters: the :mod:`csv` module's process-wide field limit is raised to that (never
lowered).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

import orjson

from models.converters.base import (
    Conversion,
    ConversionCancelled,
    Converter,
    ProgressFn,
    canonical_line,
)
from models.converters.common import PROGRESS_EVERY, Report, Skip, without_bom
from models.mapping import NO_STREAM
from models.problems import InputError
from models.readers.source import BOM, Source
from models.timeparse import parse_timestamp

GUESSES: Final[dict[str, tuple[str, ...]]] = {
    "event_id": ("id", "eventid"),
    "stream": ("stream", "streamid", "aggregateid"),
    "type": ("type", "eventtype"),
    "version": ("version",),
    "recorded_at": ("timestamp", "recordedat", "time"),
    "processed_at": ("processedat",),
    "data": ("data", "payload"),
    "metadata": ("metadata",),
    "correlation_id": ("correlationid",),
    "causation_id": ("causationid",),
}
"""Normalised header names each field is guessed from, best first."""
FIELDS: Final = tuple(GUESSES)
_ALIASES: Final = {"id": "event_id"}
_DELIMITERS: Final = ",;\t"
_SAMPLE: Final = 64 << 10
_FIELD_LIMIT: Final = 64 << 20
"""Largest cell (characters) read; the csv module's default of 128 KiB is too small for JSON
payloads."""


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "").replace("-", "").replace(" ", "")


def _text_head(head: bytes) -> str:
    """The head as text, cut at its last line break (the last line may be incomplete)."""
    text = head.removeprefix(BOM)[:_SAMPLE].decode("utf-8", "replace")
    cut = max(text.rfind("\n"), text.rfind("\r"))
    return text[: cut + 1] if cut > 0 else text


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line
    return ""


def _sniffed(text: str, header: str) -> str | None:
    """The sniffer's separator for the head, or for the header line alone (the sniffer gives
    up on small samples with quoted fields)."""
    for sample in (text, header):
        try:
            return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
        except csv.Error:
            continue
    return None


def detect_delimiter(head: bytes, path: Path | None = None) -> str:
    """``,``, ``;`` or tab: what the sniffer finds if the header line holds it, else the one
    the header line holds most, else ``,`` (tab for a ``.tsv`` file)."""
    text = _text_head(head)
    header = _first_line(text)
    sniffed = _sniffed(text, header)
    if sniffed is not None and sniffed in header:
        return sniffed
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    if counts[best]:
        return best
    tsv = path is not None and path.name.lower().removesuffix(".gz").endswith(".tsv")
    return "\t" if tsv else ","


def _lines(blocks: Iterator[bytes], state: list[int], last: list[bytes]) -> Iterator[str]:
    """Physical lines with their line ends (as :func:`csv.reader` wants them), decoded.

    ``state`` is ``[lines, bytes, bad lines]`` handed out so far: the caller knows where the
    next row starts, and whether the row just read held invalid UTF-8 (replaced by U+FFFD).
    ``last`` holds the raw bytes of the latest line, for reports. Lines end at LF, CRLF or
    CR, as with ``newline=""``.
    """
    carry = b""
    for block in blocks:
        if carry:
            block = carry + block
        parts = block.splitlines(keepends=True)
        carry = b""
        if parts and not parts[-1].endswith(b"\n"):
            carry = parts.pop()  # incomplete, or a CR whose LF may open the next block
        for raw in parts:
            state[0] += 1
            state[1] += len(raw)
            last[0] = raw
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                state[2] += 1
                yield raw.decode("utf-8", "replace")
    if carry:
        state[0] += 1
        state[1] += len(carry)
        last[0] = carry
        try:
            yield carry.decode("utf-8")
        except UnicodeDecodeError:
            state[2] += 1
            yield carry.decode("utf-8", "replace")


class _Columns:
    """Which header column feeds which field, and what the unmapped columns become."""

    def __init__(self, header: list[str], mapping: dict[str, str]) -> None:
        names = [cell.strip() or f"column_{k + 1}" for k, cell in enumerate(header)]
        seen: dict[str, int] = {}
        self.renamed: list[str] = []
        for k, name in enumerate(names):
            if name in seen:
                seen[name] += 1
                names[k] = f"{name}_{seen[name]}"
                self.renamed.append(f"{name!r} -> {names[k]!r}")
            else:
                seen[name] = 1
        self.names = names
        self.width = len(names)
        index: dict[str, int | None] = dict.fromkeys(FIELDS)
        taken: set[int] = set()
        exact = {name: k for k, name in enumerate(names)}
        loose: dict[str, int] = {}
        for k, name in enumerate(names):
            loose.setdefault(_norm(name), k)
        for field, column in mapping.items():
            named = exact.get(column.strip(), loose.get(_norm(column)))
            if named is None:
                raise ValueError(
                    f"the mapping names column {column!r} for {field!r}, but the header has "
                    f"no such column (columns: {', '.join(names)})"
                )
            index[field] = named
            taken.add(named)
        for field, candidates in GUESSES.items():
            if field in mapping:
                continue
            for candidate in candidates:
                guessed = loose.get(candidate)
                if guessed is not None and guessed not in taken:
                    index[field] = guessed
                    taken.add(guessed)
                    break
        self.index = index
        self.rest = [(k, names[k]) for k in range(len(names)) if k not in taken]

    def describe(self) -> str:
        used = [f"{field} <- {self.names[k]!r}" for field, k in self.index.items() if k is not None]
        text = "CSV columns: " + ", ".join(used)
        if self.rest:
            where = "data" if self.index["data"] is None else "metadata.csv"
            text += f"; the other columns ({', '.join(n for _, n in self.rest)}) go to {where}"
        return text


def _json_cell(cell: str, column: str) -> Any:
    try:
        return orjson.loads(cell)
    except orjson.JSONDecodeError as exc:
        raise Skip(
            f"column {column!r} must hold JSON, and this cell does not ({exc}); repair the "
            "cell, or map another column with the mapping"
        ) from None


class _Rows:
    """Converts rows with one header's columns."""

    def __init__(self, columns: _Columns) -> None:
        self.columns = columns
        index = columns.index
        type_k = index["type"]
        assert type_k is not None
        self.type_k = type_k
        self.id_k = index["event_id"]
        self.stream_k = index["stream"]
        self.version_k = index["version"]
        self.recorded_k = index["recorded_at"]
        self.processed_k = index["processed_at"]
        self.data_k = index["data"]
        self.meta_k = index["metadata"]
        self.correlation_k = index["correlation_id"]
        self.causation_k = index["causation_id"]
        self.rest = columns.rest
        self.names = columns.names

    def _time(self, row: list[str], k: int | None) -> int | None:
        if k is None or not row[k].strip():
            return None
        try:
            return parse_timestamp(row[k])
        except ValueError as exc:
            raise Skip(f"column {self.names[k]!r}: {exc}") from None

    def convert(self, row: list[str]) -> bytes:
        names = self.names
        if len(row) != self.columns.width:
            raise Skip(
                f"the row has {len(row)} field(s) but the header has {self.columns.width}: a "
                "separator inside an unquoted field, a missing or extra column, or a quote "
                "that is not closed; repair the row"
            )
        event_type = row[self.type_k]
        if not event_type.strip():
            raise Skip(
                f"the type column {names[self.type_k]!r} is empty: every event needs a type; "
                "fill it in, or name another column with mapping={'type': ...}"
            )
        version: int | None = None
        if self.version_k is not None and row[self.version_k].strip():
            try:
                version = int(row[self.version_k])
            except ValueError:
                raise Skip(
                    f"column {names[self.version_k]!r}: {row[self.version_k]!r} is not an "
                    "integer version"
                ) from None
        recorded = self._time(row, self.recorded_k)
        processed = self._time(row, self.processed_k)
        extra = {name: row[k] for k, name in self.rest}
        data: Any
        if self.data_k is None:
            data = extra
            metadata: dict[str, Any] = {}
        else:
            cell = row[self.data_k]
            data = _json_cell(cell, names[self.data_k]) if cell.strip() else None
            metadata = {"csv": extra} if extra else {}
        if self.meta_k is not None and row[self.meta_k].strip():
            meta = _json_cell(row[self.meta_k], names[self.meta_k])
            if type(meta) is not dict:
                raise Skip(
                    f"column {names[self.meta_k]!r} must hold a JSON object, not "
                    f"{type(meta).__name__}"
                )
            metadata = {**meta, **metadata}
        if self.correlation_k is not None and row[self.correlation_k]:
            metadata["correlation_id"] = row[self.correlation_k]
        if self.causation_k is not None and row[self.causation_k]:
            metadata["causation_id"] = row[self.causation_k]
        stream = "" if self.stream_k is None else row[self.stream_k]
        return canonical_line(
            event_id="" if self.id_k is None else row[self.id_k],
            stream=stream or NO_STREAM,
            event_type=event_type,
            data=data,
            version=version,
            recorded_us=recorded,
            processed_us=processed,
            metadata=metadata,
        )


def _shown(row: list[str], delimiter: str) -> bytes:
    """A row as CSV again, for a report's excerpt."""
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter, lineterminator="").writerow(row)
    return text.getvalue().encode()


class CsvConverter:
    name: str = "csv"
    description: str = "CSV with a header row (comma, semicolon or tab separated)"

    def __init__(self, mapping: dict[str, str] | None = None) -> None:
        """``mapping``: field -> header name, for fields the guesses get wrong."""
        fields: dict[str, str] = {}
        for key, column in (mapping or {}).items():
            field = _ALIASES.get(key, key)
            if field not in GUESSES:
                raise ValueError(
                    f"unknown field {key!r} in the CSV mapping; known: {', '.join(FIELDS)}"
                )
            if not isinstance(column, str) or not column.strip():
                raise ValueError(f"the CSV mapping of {key!r} must be a column name")
            fields[field] = column
        self.mapping = fields

    def sniff(self, path: Path, head: bytes) -> bool:
        body = head.removeprefix(BOM)
        if body.lstrip()[:1] in (b"{", b"["):
            return False
        if b"\0" in body:  # binary: a database, a compressed file
            return False
        if path.name.lower().removesuffix(".gz").endswith((".csv", ".tsv")):
            return True
        text = _text_head(head)
        first = _first_line(text)
        if not first:
            return False
        delimiter = _sniffed(text, first)
        if delimiter is None or delimiter not in first:
            return False
        header = next(csv.reader([first], delimiter=delimiter), [])
        wanted = set(GUESSES["type"])
        if "type" in self.mapping:
            wanted.add(_norm(self.mapping["type"]))
        return len(header) >= 2 and any(_norm(cell) in wanted for cell in header)

    def convert(
        self, path: Path, out: IO[bytes], *, strict: bool, progress: ProgressFn | None
    ) -> Conversion:
        result = Conversion()
        report = Report(path, strict, result)
        if csv.field_size_limit() < _FIELD_LIMIT:
            csv.field_size_limit(_FIELD_LIMIT)
        with Source(path) as source:
            delimiter = detect_delimiter(source.head(), path)
            blocks, first = without_bom(source)
            state = [0, first, 0]
            last = [b""]
            bad_lines = 0
            reader = csv.reader(_lines(blocks, state, last), delimiter=delimiter, strict=True)
            rows: _Rows | None = None
            pending: list[bytes] = []
            count = 0
            while True:
                line, offset = state[0] + 1, state[1]
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    count += 1
                    bad_lines = state[2]
                    report.error(line, offset, self._malformed(str(exc)), last[0])
                    continue
                replaced = state[2] != bad_lines
                bad_lines = state[2]
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # a blank line
                if rows is None:
                    rows = self._header(path, row, line, offset, result)
                    continue
                count += 1
                if (
                    progress is not None
                    and count % PROGRESS_EVERY == 0
                    and not progress(source.raw_done, source.size)
                ):
                    raise ConversionCancelled()
                try:
                    converted = rows.convert(row)
                except Skip as exc:
                    report.error(line, offset, str(exc), _shown(row, delimiter))
                    continue
                if replaced:
                    report.warn(
                        line,
                        offset,
                        "invalid UTF-8 in the row was replaced by U+FFFD",
                        _shown(row, delimiter),
                    )
                pending.append(converted)
                result.records += 1
                if len(pending) >= PROGRESS_EVERY:
                    out.write(b"".join(pending))
                    pending = []
            if pending:
                out.write(b"".join(pending))
            if progress is not None and not progress(source.raw_done, source.size):
                raise ConversionCancelled()
        return result

    @staticmethod
    def _malformed(reason: str) -> str:
        if "unexpected end of data" in reason:
            return (
                "the file ends inside a quoted field: a quote is not closed (is the file "
                "cut short?); close the quote or remove the row"
            )
        return (
            f"malformed CSV ({reason}): a quote inside a field must be doubled and the "
            "field quoted; repair the row"
        )

    def _header(
        self, path: Path, row: list[str], line: int, offset: int, result: Conversion
    ) -> _Rows:
        try:
            columns = _Columns(row, self.mapping)
        except ValueError as exc:
            raise InputError(f"{path}:{line}: {exc}") from None
        if columns.index["type"] is None:
            raise InputError(
                f"{path}:{line} (byte {offset}): no column for the event type (looked for "
                f"'type' and 'event_type' among {', '.join(columns.names)}); name it with "
                "mapping={'type': '<column>'}"
            )
        if columns.renamed:
            result.notes.append("repeated column names were renamed: " + ", ".join(columns.renamed))
        result.notes.append(columns.describe())
        return _Rows(columns)


CONVERTER: Converter = CsvConverter()
