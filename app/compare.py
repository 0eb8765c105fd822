"""Comparing two branches: their states at two rows, their event lists aligned, reports.

The engine diffs states and aligns events by identity; this module shapes that for people:
an *event alignment* like a diff of two event lists (each entry one event, on one side or
both, with what differs: dropped, edited, moved, only on one side), a summary of the state
differences by entity kind, and the report the compare view exports (Markdown, HTML, JSON).

Everything per event is numpy: aligning two million-event branches makes a few arrays, not
a million Python objects. Qt-free.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson

from app.history import row_marks
from models.event import EventKey, format_key, format_us
from replay_engine.diff import Change, format_path
from replay_engine.errors import Cancelled

I64 = npt.NDArray[np.int64]
ProgressFn = Callable[[int, int], bool]

ONLY_A: Final = 1
ONLY_B: Final = 2
DROPPED_A: Final = 4
"""Dropped in A, not in B."""
DROPPED_B: Final = 8
EDITED: Final = 16
"""The two sides have different versions of the event."""
MOVED: Final = 32
"""One side moved it (its place relative to the others differs)."""

FLAG_NAMES: Final = {
    ONLY_A: "only in A",
    ONLY_B: "only in B",
    DROPPED_A: "dropped in A",
    DROPPED_B: "dropped in B",
    EDITED: "edited",
    MOVED: "moved",
}


def describe_status(status: int) -> str:
    return ", ".join(name for flag, name in FLAG_NAMES.items() if status & flag)


def entity_kind(key: Any) -> str:
    """``customer-00020`` -> ``customer``; ``bank:Account`` -> ``bank``."""
    text = str(key)
    cut = [i for i in (text.find("-"), text.find(":")) if i > 0]
    return text[: min(cut)] if cut else text


# --- event alignment --------------------------------------------------------------------


@dataclass(frozen=True)
class EventAlignment:
    """Both display sequences merged by identity, in A's order (events only B has sit right
    after the event that precedes them in B). Rows are -1 where a side lacks the event."""

    a: str
    b: str
    keys: I64
    rows_a: I64
    rows_b: I64
    status: I64
    """Bit flags (ONLY_A, DROPPED_B, EDITED, ...); 0 where both sides agree."""
    first_divergence: int | None
    """Index of the first event after which the two states differ (engine's bisection)."""

    def __len__(self) -> int:
        return int(self.keys.shape[0])

    def differing(self) -> I64:
        return np.flatnonzero(self.status != 0).astype(np.int64)

    def counts(self) -> dict[str, int]:
        return {
            name: int(np.count_nonzero(self.status & flag)) for flag, name in FLAG_NAMES.items()
        }

    def index_of_key(self, key: EventKey) -> int | None:
        hits = np.flatnonzero(self.keys == key)
        return int(hits[0]) if hits.size else None


def _rows_by_key(keys: I64, n_source: int) -> tuple[I64, dict[int, int]]:
    """Source position -> display row (-1: absent), and inserted key -> row."""
    by_pos = np.full(max(n_source, 0), -1, np.int64)
    source = keys >= 0
    by_pos[keys[source]] = np.flatnonzero(source)
    negative = np.flatnonzero(~source)
    return by_pos, dict(zip(keys[negative].tolist(), negative.tolist(), strict=True))


def _lookup(keys: I64, by_pos: I64, inserted: dict[int, int]) -> I64:
    out = np.full(keys.shape[0], -1, np.int64)
    source = keys >= 0
    out[source] = by_pos[keys[source]]
    for i in np.flatnonzero(~source).tolist():
        out[i] = inserted.get(int(keys[i]), -1)
    return out


def align_events(engine: Any, a: str, b: str, *, divergence: bool = True) -> EventAlignment:
    seq_a, seq_b = engine.sequence(a), engine.sequence(b)
    keys_a = np.asarray(seq_a.keys, np.int64)
    keys_b = np.asarray(seq_b.keys, np.int64)
    n_source = len(engine.log)
    pos_a, ins_a = _rows_by_key(keys_a, n_source)
    pos_b, ins_b = _rows_by_key(keys_b, n_source)
    b_of_a = _lookup(keys_a, pos_b, ins_b)
    a_of_b = _lookup(keys_b, pos_a, ins_a)

    only_b = np.flatnonzero(a_of_b < 0)
    # Events only B has go after the nearest event before them in B that A has.
    shared_idx = np.where(a_of_b >= 0, np.arange(keys_b.shape[0]), -1)
    np.maximum.accumulate(shared_idx, out=shared_idx)
    anchor_idx = shared_idx[only_b]
    anchors = np.where(anchor_idx >= 0, a_of_b[np.maximum(anchor_idx, 0)], -1)

    n_a = keys_a.shape[0]
    primary = np.concatenate([np.arange(n_a, dtype=np.int64), anchors])
    secondary = np.concatenate([np.zeros(n_a, np.int64), np.ones(only_b.shape[0], np.int64)])
    tertiary = np.concatenate([np.zeros(n_a, np.int64), only_b])
    order = np.lexsort((tertiary, secondary, primary))
    keys = np.concatenate([keys_a, keys_b[only_b]])[order]
    rows_a = np.concatenate([np.arange(n_a, dtype=np.int64), np.full(only_b.shape[0], -1)])[order]
    rows_b = np.concatenate([b_of_a, only_b])[order]

    dropped_a = np.zeros(keys.shape[0], np.bool_)
    dropped_b = np.zeros(keys.shape[0], np.bool_)
    has_a, has_b = rows_a >= 0, rows_b >= 0
    dropped_a[has_a] = np.asarray(seq_a.dropped)[rows_a[has_a]]
    dropped_b[has_b] = np.asarray(seq_b.dropped)[rows_b[has_b]]
    status = np.zeros(keys.shape[0], np.int64)
    status[~has_b] |= ONLY_A
    status[~has_a] |= ONLY_B
    both = has_a & has_b
    status[both & dropped_a & ~dropped_b] |= DROPPED_A
    status[both & dropped_b & ~dropped_a] |= DROPPED_B

    maybe_edited = set(seq_a.edited) | set(seq_b.edited)
    moved = row_marks(engine, a).moved ^ row_marks(engine, b).moved
    if maybe_edited or moved:
        special = np.array(sorted(maybe_edited | moved), np.int64)
        for i in np.flatnonzero(np.isin(keys, special) & both).tolist():
            key = int(keys[i])
            if key in maybe_edited and engine.event_at(a, int(rows_a[i])) != engine.event_at(
                b, int(rows_b[i])
            ):
                status[i] |= EDITED
            if key in moved:
                status[i] |= MOVED

    first = None
    if divergence:
        key = engine.first_divergence(a, b)
        if key is not None:
            hits = np.flatnonzero(keys == key)
            first = int(hits[0]) if hits.size else None
    return EventAlignment(a, b, keys, rows_a, rows_b, status, first)


def aligned_row(engine: Any, branch_from: str, row: int, branch_to: str) -> int:
    """The row of ``branch_to`` "after the same event" as ``row`` of ``branch_from``: the row
    of that event, or of the nearest event before it that ``branch_to`` has (-1: none)."""
    if branch_from == branch_to:
        return row
    seq = engine.sequence(branch_from)
    keys = np.asarray(seq.keys)
    r = row
    while r >= 0:
        found = engine.row_of(branch_to, int(keys[r]))
        if found is not None:
            return int(found)
        r -= 1
    return -1


# --- state comparison --------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    branch: str
    row: int

    def label(self, engine: Any) -> str:
        if self.row < 0:
            return f"{self.branch} · initial state"
        end = self.row == engine.row_count(self.branch) - 1
        key = format_key(engine.key_at(self.branch, self.row))
        return f"{self.branch} · after {key}" + (" (end)" if end else "")


@dataclass
class KindSummary:
    entities: int = 0
    added: int = 0
    removed: int = 0
    changed: int = 0


@dataclass
class CompareResult:
    a: Side
    b: Side
    changes: list[Change]
    alignment: EventAlignment
    summary: dict[str, KindSummary] = field(default_factory=dict)

    @property
    def entities(self) -> list[Any]:
        seen: dict[Any, None] = {}
        for c in self.changes:
            if c.path:
                seen.setdefault(c.path[0], None)
        return list(seen)

    def reversed_changes(self) -> list[Change]:
        """The same differences seen from B towards A (for the left-hand tree)."""
        flip = {"added": "removed", "removed": "added", "changed": "changed"}
        return [Change(c.path, flip[c.change], c.new, c.old) for c in self.changes]  # type: ignore[arg-type]


def summarize(changes: list[Change]) -> dict[str, KindSummary]:
    """Entities that differ and the changes in them, by entity kind (stream prefix)."""
    out: dict[str, KindSummary] = {}
    entities: dict[str, set[Any]] = {}
    for c in changes:
        top = c.path[0] if c.path else "(root)"
        kind = entity_kind(top)
        s = out.setdefault(kind, KindSummary())
        entities.setdefault(kind, set()).add(top)
        setattr(s, c.change, getattr(s, c.change) + 1)
    for kind, found in entities.items():
        out[kind].entities = len(found)
    return dict(sorted(out.items()))


def compare(engine: Any, a: Side, b: Side, progress: ProgressFn | None = None) -> CompareResult:
    changes = engine.diff(a.branch, a.row, b.branch, b.row)
    if progress is not None and not progress(1, 3):
        raise Cancelled("comparison cancelled")
    alignment = align_events(engine, a.branch, b.branch)
    return CompareResult(a, b, changes, alignment, summarize(changes))


# --- reports ------------------------------------------------------------------------------

REPORT_ALIGNMENT_LIMIT: Final = 2000
"""Differing events listed in a report at most (the count is always exact)."""


def _short(value: Any, limit: int = 120) -> str:
    text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _event_line(engine: Any, branch: str, row: int) -> dict[str, Any]:
    e = engine.event_at(branch, row)
    return {
        "key": format_key(e.key),
        "row": row,
        "event_id": e.event_id,
        "stream": e.stream,
        "type": e.type,
        "recorded_at": format_us(e.recorded_us),
    }


def report_json(engine: Any, result: CompareResult) -> dict[str, Any]:
    al = result.alignment
    differing = al.differing()
    events = []
    for i in differing[:REPORT_ALIGNMENT_LIMIT].tolist():
        ra, rb = int(al.rows_a[i]), int(al.rows_b[i])
        events.append(
            {
                "key": format_key(int(al.keys[i])),
                "difference": describe_status(int(al.status[i])),
                "a": _event_line(engine, al.a, ra) if ra >= 0 else None,
                "b": _event_line(engine, al.b, rb) if rb >= 0 else None,
            }
        )
    first = None
    if al.first_divergence is not None:
        i = al.first_divergence
        ra, rb = int(al.rows_a[i]), int(al.rows_b[i])
        first = _event_line(engine, al.a, ra) if ra >= 0 else _event_line(engine, al.b, rb)
    return {
        "a": {"branch": result.a.branch, "row": result.a.row, "label": result.a.label(engine)},
        "b": {"branch": result.b.branch, "row": result.b.row, "label": result.b.label(engine)},
        "summary": {
            kind: {
                "entities": s.entities,
                "added": s.added,
                "removed": s.removed,
                "changed": s.changed,
            }
            for kind, s in result.summary.items()
        },
        "changes": [
            {"path": format_path(c.path), "change": c.change, "a": c.old, "b": c.new}
            for c in result.changes
        ],
        "first_divergence": first,
        "alignment": {
            "events_a": int(np.count_nonzero(al.rows_a >= 0)),
            "events_b": int(np.count_nonzero(al.rows_b >= 0)),
            "differing": int(differing.shape[0]),
            "counts": al.counts(),
            "listed": len(events),
            "events": events,
        },
    }


def report_markdown(engine: Any, result: CompareResult) -> str:
    data = report_json(engine, result)
    lines = [
        "# Rewind comparison",
        "",
        f"- **A**: {data['a']['label']}",
        f"- **B**: {data['b']['label']}",
        "",
    ]
    fd = data["first_divergence"]
    if fd is not None:
        lines.append(
            f"First divergent event: **{fd['key']}** {fd['type']} on `{fd['stream']}` "
            f"(id `{fd['event_id']}`)."
        )
    else:
        lines.append("The two branches never diverge.")
    lines += ["", "## Summary", ""]
    if not data["changes"]:
        lines.append("The two states are equal.")
    else:
        lines += ["| kind | entities | added | removed | changed |", "|---|---:|---:|---:|---:|"]
        for kind, s in data["summary"].items():
            lines.append(
                f"| {kind} | {s['entities']} | {s['added']} | {s['removed']} | {s['changed']} |"
            )
        lines += [
            "",
            "## Differences (B against A)",
            "",
            "| path | change | A | B |",
            "|---|---|---|---|",
        ]
        for c in data["changes"]:
            a = "" if c["change"] == "added" else f"`{_md(_short(c['a']))}`"
            b = "" if c["change"] == "removed" else f"`{_md(_short(c['b']))}`"
            lines.append(f"| `{_md(c['path'])}` | {c['change']} | {a} | {b} |")
    al = data["alignment"]
    lines += [
        "",
        "## Event alignment",
        "",
        f"A has {al['events_a']:,} events, B {al['events_b']:,}; {al['differing']:,} differ.",
        "",
    ]
    if al["events"]:
        lines += ["| event | difference | A | B |", "|---|---|---|---|"]
        for e in al["events"]:
            a = _md_event(e["a"])
            b = _md_event(e["b"])
            lines.append(f"| {e['key']} | {e['difference']} | {a} | {b} |")
        if al["listed"] < al["differing"]:
            lines.append(f"\n({al['differing'] - al['listed']:,} more not listed.)")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def _md_event(e: dict[str, Any] | None) -> str:
    if e is None:
        return "—"
    return f"row {e['row']}: {e['type']} `{_md(e['stream'])}`"


def report_html(engine: Any, result: CompareResult) -> str:
    data = report_json(engine, result)
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>Rewind comparison</title>',
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}"
        ".added{background:#c9f2c7}.removed{background:#ffcdcd}.changed{background:#ffe7a3}"
        "code{font-size:90%}</style></head><body>",
        "<h1>Rewind comparison</h1>",
        f"<p><b>A</b>: {esc(data['a']['label'])}<br><b>B</b>: {esc(data['b']['label'])}</p>",
    ]
    fd = data["first_divergence"]
    if fd is not None:
        parts.append(
            f"<p>First divergent event: <b>{esc(fd['key'])}</b> {esc(fd['type'])} on "
            f"<code>{esc(fd['stream'])}</code> (id <code>{esc(fd['event_id'])}</code>).</p>"
        )
    else:
        parts.append("<p>The two branches never diverge.</p>")
    parts.append("<h2>Summary</h2>")
    if not data["changes"]:
        parts.append("<p>The two states are equal.</p>")
    else:
        parts.append(
            "<table><tr><th>kind</th><th>entities</th><th>added</th><th>removed</th>"
            "<th>changed</th></tr>"
        )
        for kind, s in data["summary"].items():
            parts.append(
                f"<tr><td>{esc(kind)}</td><td>{s['entities']}</td><td>{s['added']}</td>"
                f"<td>{s['removed']}</td><td>{s['changed']}</td></tr>"
            )
        parts.append("</table><h2>Differences (B against A)</h2>")
        parts.append("<table><tr><th>path</th><th>change</th><th>A</th><th>B</th></tr>")
        for c in data["changes"]:
            a = "" if c["change"] == "added" else esc(_short(c["a"]))
            b = "" if c["change"] == "removed" else esc(_short(c["b"]))
            parts.append(
                f'<tr class="{c["change"]}"><td><code>{esc(c["path"])}</code></td>'
                f"<td>{c['change']}</td><td><code>{a}</code></td><td><code>{b}</code></td></tr>"
            )
        parts.append("</table>")
    al = data["alignment"]
    parts.append("<h2>Event alignment</h2>")
    parts.append(
        f"<p>A has {al['events_a']:,} events, B {al['events_b']:,}; {al['differing']:,} differ.</p>"
    )
    if al["events"]:
        parts.append("<table><tr><th>event</th><th>difference</th><th>A</th><th>B</th></tr>")
        for e in al["events"]:
            cells = [
                "—"
                if side is None
                else f"row {side['row']}: {esc(side['type'])} <code>{esc(side['stream'])}</code>"
                for side in (e["a"], e["b"])
            ]
            parts.append(
                f"<tr><td>{esc(e['key'])}</td><td>{esc(e['difference'])}</td>"
                f"<td>{cells[0]}</td><td>{cells[1]}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def counts_line(result: CompareResult) -> str:
    """One line for the compare view's summary."""
    if not result.changes:
        return "The two states are equal."
    n = len(result.changes)
    per_kind = " · ".join(
        f"{kind} {s.entities} ({_kinds(s)})" for kind, s in result.summary.items()
    )
    ents = len(result.entities)
    return (
        f"{n} difference{'s' if n != 1 else ''} in {ents} entit{'ies' if ents != 1 else 'y'}: "
        f"{per_kind}"
    )


def _kinds(s: KindSummary) -> str:
    parts = Counter({"added": s.added, "removed": s.removed, "changed": s.changed})
    return ", ".join(f"{v} {k}" for k, v in parts.items() if v)
