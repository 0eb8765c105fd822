"""Finding the events that matter: filters over a branch's events.

Type and stream (globs), a time window and positions are answered from the columns (numpy,
no payload read); free text and a query over the event (JMESPath over ``{"id", "stream",
"type", "version", "data", "metadata"}`` — never Python, so a saved filter cannot run code)
read only the rows the column filters left, with progress and cancel.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from jmespath.exceptions import JMESPathError

from models.event import Event
from models.gc_pause import cycle_gc_paused
from models.log import NA
from models.scan import Document
from replay_engine.errors import Cancelled
from replay_engine.query import (
    Atom,
    Clause,
    Expression,
    compile_expression,
    is_false,
    necessary,
    reads_only,
)

I64 = npt.NDArray[np.int64]
ProgressFn = Callable[[int, int], bool]
_CHUNK = 4096


@dataclass(frozen=True)
class Filter:
    types: str | None = None
    """Globs over event types, comma-separated (``Order*, Payment*``)."""
    streams: str | None = None
    """Globs over stream names, comma-separated."""
    since_us: int | None = None
    until_us: int | None = None
    """Recorded time window: ``since`` inclusive, ``until`` exclusive."""
    text: str | None = None
    """Case-insensitive text anywhere in the payload or metadata (as JSON)."""
    where: str | None = None
    """JMESPath over the event: ``data.amount > 100 && metadata.service == 'payments'``."""

    def is_empty(self) -> bool:
        return not any(asdict(self).values())

    def needs_payload(self) -> bool:
        return bool(self.text or self.where)

    def describe(self) -> str:
        parts = []
        if self.types:
            parts.append(f"type {self.types}")
        if self.streams:
            parts.append(f"stream {self.streams}")
        if self.since_us is not None or self.until_us is not None:
            parts.append("time window")
        if self.text:
            parts.append(f"text {self.text!r}")
        if self.where:
            parts.append(f"where {self.where}")
        return ", ".join(parts) or "every event"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> Filter:
        known = set(Filter.__dataclass_fields__)
        return Filter(**{k: v for k, v in data.items() if k in known})

    def check(self) -> Expression | None:
        """The compiled query (ExpressionError, with a readable message, if it is wrong)."""
        return compile_expression(self.where) if self.where else None


def _globs(text: str | None) -> list[str]:
    return [g.strip() for g in (text or "").split(",") if g.strip()]


def _codes(patterns: Sequence[str], names: Sequence[str]) -> I64:
    """Codes of the names any glob matches: one regex pass over all the names at once (150k
    stream names: ~10 ms instead of a call each)."""
    if not names or not patterns:
        return np.zeros(0, np.int64)
    joined = "\n".join(names)
    # a name holding a newline, or a negated set ([!x] could match the newline between two
    # names): the slow way
    if joined.count("\n") != len(names) - 1 or any("[!" in p for p in patterns):
        return np.array(
            [i for i, n in enumerate(names) if any(fnmatch.fnmatchcase(n, p) for p in patterns)],
            np.int64,
        )
    body = "|".join(f"(?:{fnmatch.translate(p)[4:-3]})" for p in patterns)  # (?s:...)\Z
    rx = re.compile(f"^(?:{body})$", re.MULTILINE)
    starts = np.zeros(len(names), np.int64)
    np.cumsum([len(n) + 1 for n in names[:-1]], out=starts[1:])
    hits = np.array([m.start() for m in rx.finditer(joined)], np.int64)
    return np.unique(np.searchsorted(starts, hits, side="right") - 1)


def document(event: Event) -> dict[str, Any]:
    """What a query looks at."""
    return {
        "id": event.event_id,
        "stream": event.stream,
        "type": event.type,
        "version": event.version,
        "data": event.data,
        "metadata": event.metadata,
    }


def matching_rows(engine: Any, branch: str, f: Filter, progress: ProgressFn | None = None) -> I64:
    """Display rows of ``branch`` whose events match every part of ``f``, ascending
    (dropped events included: they are shown, struck through)."""
    expression = f.check()
    clauses = necessary(expression) if expression is not None else []
    seq = engine.sequence(branch)
    keys = np.asarray(seq.keys, np.int64)
    cols = engine.log.columns
    special = set(seq.edited) | set(seq.inserted)
    plain = keys >= 0
    if special:
        plain &= ~np.isin(keys, list(special))
    safe = np.where(plain, keys, 0)
    mask = np.ones(keys.shape[0], bool)
    if f.types:
        mask &= np.isin(cols.type_codes[safe], _codes(_globs(f.types), cols.type_names))
    if f.streams:
        mask &= np.isin(cols.stream_codes[safe], _codes(_globs(f.streams), cols.stream_names))
    if f.since_us is not None or f.until_us is not None:
        rec = cols.recorded_us[safe]
        ok = rec != NA
        if f.since_us is not None:
            ok &= rec >= f.since_us
        if f.until_us is not None:
            ok &= rec < f.until_us
        mask &= ok
    for field, value in _column_equalities(clauses):  # type == 'X' in the query
        names = cols.type_names if field == "type" else cols.stream_names
        codes = cols.type_codes if field == "type" else cols.stream_codes
        mask &= np.isin(codes[safe], [i for i, name in enumerate(names) if name == value])
    mask |= ~plain  # edited and inserted events: every field is checked on the event
    rows = np.flatnonzero(mask).astype(np.int64)
    if not (f.needs_payload() or not plain.all()):
        return rows
    checks = Checks(f, expression)
    plain_rows = rows[plain[rows]]
    other_rows = rows[~plain[rows]]
    scan = getattr(engine.log, "scan_documents", None)
    total = int(rows.shape[0])
    keep = np.zeros(rows.shape[0], bool)
    if not f.needs_payload():
        keep[plain[rows]] = True  # the columns decided
    elif scan is None:
        other_rows = rows  # every row through full events
    else:
        positions = keys[plain_rows]
        order = np.argsort(positions, kind="stable")
        with cycle_gc_paused():
            found = _scan(engine.log, positions[order], f, checks, clauses, progress, total)
        keep[plain[rows]] = np.isin(positions, found)
    offset = total - int(other_rows.shape[0])
    other_keep = np.zeros(other_rows.shape[0], bool)
    for i, (row, event) in enumerate(engine.iter_events(branch, other_rows)):
        done = offset + i + 1
        if progress is not None and i % _CHUNK == _CHUNK - 1 and not progress(done, total):
            raise Cancelled(f"search stopped after {done:,} of {total:,} events")
        if not plain[row] and not _fields_match(event, checks.types, checks.streams, f):
            continue
        d = (i, event.event_id, event.stream, event.type, event.version, event.data, event.metadata)
        other_keep[i] = bool(matching_positions([d], checks))
    keep[np.isin(rows, other_rows[other_keep])] = True
    if progress is not None and not progress(total, total):
        raise Cancelled("search stopped at its end")
    return rows[keep]


class Checks:
    """The text and query parts of a filter, on one event's document."""

    def __init__(self, f: Filter, expression: Expression | None) -> None:
        self.text = f.text.lower().encode() if f.text else None
        self.expression = expression
        self.types, self.streams = _globs(f.types), _globs(f.streams)
        self.lean = expression is None or reads_only(expression, _PAYLOAD)
        """The query reads only ``data`` and ``metadata``: documents need nothing else."""


HELPER_MIN_EVENTS = 200_000
"""A search over at least this many stored events shares them with a helper process (it
takes a few hundred ms to start, a million events several seconds to check)."""
HELPER_SHARE = 0.48
"""The helper's part of the positions: a little under half, for its start-up (measured:
the best split of a million events on two cores)."""


def _scan(
    log: Any,
    positions: I64,
    f: Filter,
    checks: Checks,
    clauses: list[Clause],
    progress: ProgressFn | None,
    total: int,
) -> I64:
    """Positions (ascending) among ``positions`` whose stored events pass ``checks``; the raw
    records are pre-filtered by what the query and the text need (see :func:`_patterns`).
    A long search gives its last part to a helper process (:mod:`app.search_helper`) when
    the log is an SQLite workspace file and there is a second core."""
    patterns = _patterns(clauses, f.text)
    helper, mine = _start_helper(log, positions, patterns, f)
    found: list[int] = []
    try:
        done = 0
        for done, documents in log.scan_documents(mine, patterns, lean=checks.lean):
            found.extend(matching_positions(documents, checks))
            if helper is not None:
                helper.poll()
            _report(progress, done + (helper.done if helper else 0), total)
        if helper is not None:
            rest = positions[mine.shape[0] :]
            while not helper.finished:
                helper.wait(0.05)
                _report(progress, done + helper.done, total)
            if helper.error is not None or helper.result is None:  # do its part here
                reported = helper.done  # progress never goes back
                for more, documents in log.scan_documents(rest, patterns, lean=checks.lean):
                    found.extend(matching_positions(documents, checks))
                    _report(progress, done + max(more, reported), total)
            else:
                found.extend(np.frombuffer(helper.result, np.int64).tolist())
    finally:
        if helper is not None:
            helper.stop()
    return np.asarray(found, np.int64)


def _report(progress: ProgressFn | None, done: int, total: int) -> None:
    if progress is not None and not progress(done, total):
        raise Cancelled(f"search stopped after {done:,} of {total:,} events")


def matching_positions(documents: list[Document], checks: Checks) -> list[int]:
    """Positions of the documents that pass ``checks`` (the hot loop of a search: the text
    against the JSON of payload and metadata, then the query, as ``evaluate`` would)."""
    found = []
    text, lean = checks.text, checks.lean
    search = checks.expression.search if checks.expression is not None else None
    dumps, option = orjson.dumps, orjson.OPT_NON_STR_KEYS
    for pos, event_id, stream, kind, version, data, metadata in documents:
        if text is not None and text not in dumps([data, metadata], option=option).lower():
            continue
        if search is not None:
            if lean:
                doc = {"data": data, "metadata": metadata}
            else:
                doc = {
                    "id": event_id,
                    "stream": stream,
                    "type": kind,
                    "version": version,
                    "data": data,
                    "metadata": metadata,
                }
            try:
                value = search(doc)
            except (JMESPathError, TypeError):
                continue  # as evaluate(): no value
            if is_false(value):
                continue
        found.append(pos)
    return found


def _start_helper(
    log: Any, positions: I64, patterns: list[re.Pattern[bytes]], f: Filter
) -> tuple[Any, I64]:
    """A helper for the last part of ``positions`` (and the part left here), or None."""
    path = getattr(log, "sqlite_file", None)
    n = int(positions.shape[0])
    if path is None or n < HELPER_MIN_EVENTS or (os.cpu_count() or 1) < 2:
        return None, positions
    from app.search_helper import SearchJob, SearchProcess

    mine = positions[: n - int(n * HELPER_SHARE)]
    job = SearchJob(
        path=path,
        source_id=log.source.id,
        generation=log.source.generation,
        mapping=log.source.mapping,
        raw_holds_payload=log.raw_holds_payload,
        positions=positions[mine.shape[0] :].tobytes(),
        patterns=[(p.pattern, p.flags) for p in patterns],
        where=f.where,
        text=f.text,
    )
    helper = SearchProcess.start(job)
    return (helper, mine) if helper is not None else (None, positions)


_PAYLOAD = frozenset({"data", "metadata"})
_MADE_UP = re.compile(r"^(?:v?a?l?u?e?|n?u?l?l?)$")
"""Text that can come from what the decoder adds, not from the record: "value" (the key a
scalar metadata is wrapped in) and "null" (a missing payload), or a part of them."""
_UNSAFE_TEXT = re.compile(r'[{}\[\]:,"\\]|^[0-9.eE+-]*$')


def _column_equalities(clauses: list[Clause]) -> list[tuple[str, str]]:
    """``type == 'X'`` / ``stream == 'X'`` the query requires: answered by the columns."""
    out = []
    for clause in clauses:
        if len(clause) == 1:
            (atom,) = clause
            if atom.exact and atom.value is not None and atom.path in (("type",), ("stream",)):
                out.append((atom.path[0], atom.value))
    return out


def _patterns(clauses: list[Clause], text: str | None) -> list[re.Pattern[bytes]]:
    """What the raw record (JSON) of a matching event must contain: per clause, one of its
    strings as a JSON string (a key the query reads, or a string it compares with), and the
    free text, case-insensitively, when it can only occur inside a JSON string."""
    patterns = []
    for clause in clauses:
        tokens = [_token(atom) for atom in clause]
        if tokens and None not in tokens:
            alternatives = sorted({re.escape(orjson.dumps(t)) for t in tokens if t is not None})
            patterns.append(re.compile(b"|".join(alternatives)))
    lowered = text.lower() if text else ""
    if lowered and not _UNSAFE_TEXT.search(text or "") and not _MADE_UP.search(lowered):
        # inside a string, the raw JSON spells the text as the query sees it (escapes aside,
        # which the scan lets through). The check lowercases the text as str and the JSON as
        # bytes (ASCII only): the pattern is the lowercased text, ASCII case ignored.
        patterns.append(re.compile(re.escape(lowered.encode()), re.IGNORECASE))
    return patterns


def _token(atom: Atom) -> str | None:
    """A string the raw record holds when ``atom`` holds, or None (nothing known)."""
    root, *rest = atom.path
    if root not in ("data", "metadata") or (not rest and atom.value is None):
        return None
    if atom.value is not None:
        return atom.value
    if root == "metadata" and rest == ["value"]:
        return None  # a scalar metadata is shown as {"value": ...}
    return rest[-1]


def _fields_match(event: Event, types: list[str], streams: list[str], f: Filter) -> bool:
    if types and not any(fnmatch.fnmatchcase(event.type, p) for p in types):
        return False
    if streams and not any(fnmatch.fnmatchcase(event.stream, p) for p in streams):
        return False
    us = event.recorded_us
    if f.since_us is not None and (us is None or us < f.since_us):
        return False
    return f.until_us is None or (us is not None and us < f.until_us)
