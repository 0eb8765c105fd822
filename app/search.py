"""Finding the events that matter: filters over a branch's events.

Type and stream (globs), a time window and positions are answered from the columns (numpy,
no payload read); free text and a query over the event (JMESPath over ``{"id", "stream",
"type", "version", "data", "metadata"}`` — never Python, so a saved filter cannot run code)
read only the rows the column filters left, with progress and cancel.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from models.event import Event
from models.log import NA
from replay_engine.errors import Cancelled
from replay_engine.query import Expression, compile_expression, evaluate, truthy

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
    seq = engine.sequence(branch)
    keys = np.asarray(seq.keys, np.int64)
    cols = engine.log.columns
    special = set(seq.edited) | set(seq.inserted)
    plain = keys >= 0
    if special:
        plain &= ~np.isin(keys, list(special))
    safe = np.where(plain, keys, 0)
    mask = np.ones(keys.shape[0], bool)
    checked_here = ~plain  # edited and inserted events: every field is checked on the event
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
    mask |= checked_here
    rows = np.flatnonzero(mask).astype(np.int64)
    if not (f.needs_payload() or checked_here.any()):
        return rows
    keep = np.zeros(rows.shape[0], bool)
    needle = f.text.lower().encode() if f.text else None
    type_globs, stream_globs = _globs(f.types), _globs(f.streams)
    total = int(rows.shape[0])
    if needle is None and expression is not None and _payload_only(f.where or ""):
        found = _payload_matches(engine, rows, keys, plain, expression, progress)
        if found is not None:
            return rows[found]
    for i, (row, event) in enumerate(engine.iter_events(branch, rows)):
        if progress is not None and i % _CHUNK == _CHUNK - 1 and not progress(i + 1, total):
            raise Cancelled(f"search stopped after {i + 1:,} of {total:,} events")
        if not plain[row] and not _fields_match(event, type_globs, stream_globs, f):
            continue
        if needle is not None:
            body = orjson.dumps([event.data, event.metadata], option=orjson.OPT_NON_STR_KEYS)
            if needle not in body.lower():
                continue
        if expression is not None and not truthy(evaluate(expression, document(event))):
            continue
        keep[i] = True
    if progress is not None and not progress(total, total):
        raise Cancelled("search stopped at its end")
    return rows[keep]


_NOT_PAYLOAD = re.compile(r"\b(metadata|id)\b")


def _payload_only(where: str) -> bool:
    """Whether a query reads only ``data``, ``type``, ``stream`` and ``version`` (then the
    payloads are enough: no full event is built)."""
    return _NOT_PAYLOAD.search(re.sub(r"'[^']*'|`[^`]*`|\"[^\"]*\"", "", where)) is None


def _payload_matches(
    engine: Any,
    rows: I64,
    keys: I64,
    plain: Any,
    expression: Expression,
    progress: ProgressFn | None,
) -> Any:
    """The fast path over the source's payloads, for rows that are the log's own events at
    their own positions (main, or a branch that only drops); None when it does not apply."""
    iter_payloads = getattr(engine.log, "iter_payloads", None)
    if iter_payloads is None or not rows.shape[0] or not bool(plain[rows].all()):
        return None
    if not np.array_equal(keys[rows], rows):
        return None  # moved or inserted events: rows are not positions
    keep = np.zeros(rows.shape[0], bool)
    first, last = int(rows[0]), int(rows[-1])
    wanted = np.zeros(last - first + 1, bool)
    wanted[rows - first] = True
    index = np.cumsum(wanted) - 1
    for offset, (stream, kind, version, data) in enumerate(iter_payloads(first, last + 1)):
        stop = offset % _CHUNK == _CHUNK - 1 and progress is not None
        if stop and not progress(offset + 1, last - first + 1):  # type: ignore[misc]
            raise Cancelled(f"search stopped after {offset + 1:,} events")
        if not wanted[offset]:
            continue
        doc = {"stream": stream, "type": kind, "version": version, "data": data}
        if truthy(evaluate(expression, doc)):
            keep[index[offset]] = True
    if progress is not None and not progress(last - first + 1, last - first + 1):
        raise Cancelled("search stopped at its end")
    return keep


def _fields_match(event: Event, types: list[str], streams: list[str], f: Filter) -> bool:
    if types and not any(fnmatch.fnmatchcase(event.type, p) for p in types):
        return False
    if streams and not any(fnmatch.fnmatchcase(event.stream, p) for p in streams):
        return False
    us = event.recorded_us
    if f.since_us is not None and (us is None or us < f.since_us):
        return False
    return f.until_us is None or (us is not None and us < f.until_us)
