"""Merging a branch back: the corrected log with its report, and compensating events.

History is never rewritten (DESIGN.md, Parallel systems): the live system gets either the
corrected log (the branch's effective sequence, with a report of every dropped, edited,
inserted and moved event, so that nothing is left out silently) or *compensating events* to
append to the log it already has. For the generic projection that is one correction event
per stream whose data differ, carrying the RFC 7396 merge patch that turns the base
branch's end data into the branch's; a user projection may offer its own
``compensate(key, before, after) -> list[dict]`` (canonical event records).

Qt-free: the window runs these in a worker; a script can call them directly.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from app.errors import UsageError
from app.export import export_branch
from app.history import Changed, changed_events
from models.event import JSON, format_key, format_us, parse_key
from replay_engine.diff import diff, equal, format_path
from replay_engine.engine import MAIN
from replay_engine.merge_patch import merge_patch

ProgressFn = Callable[[int, int], bool]

CORRECTION_TYPE: Final = "StateCorrected"
"""Default type of the generic projection's correction events."""
_NAMESPACE: Final = uuid.UUID("5b0c8f9e-3a1d-4c36-9d43-7f2a5e0b1c11")
"""Correction ids are uuid5(namespace, branch/stream/patch): exporting twice gives the same
ids, so a live system that deduplicates by id never applies a correction twice."""


# --- merge patches -----------------------------------------------------------------------


def merge_patch_diff(before: JSON, after: JSON) -> JSON:
    """A patch ``p`` (RFC 7396) with ``merge_patch(before, p) == after`` whenever one exists:
    objects are patched member by member (``null`` deletes), anything else is replaced.

    An object member whose new value is ``null`` cannot be expressed (``null`` means delete);
    callers check the result with :func:`merge_patch`.
    """
    if type(after) is not dict or type(before) is not dict:
        return after
    patch: dict[str, JSON] = {}
    for name, old in before.items():
        if name not in after:
            patch[name] = None
        elif not equal(old, after[name]):
            new = after[name]
            patch[name] = merge_patch_diff(old, new) if type(new) is dict else new
    for name, new in after.items():
        if name not in before:
            patch[name] = new
    return patch


# --- compensating events -----------------------------------------------------------------


@dataclass
class Compensation:
    base: str
    branch: str
    records: list[dict[str, Any]] = field(default_factory=list)
    """Canonical JSON Lines records, ready to append to the base's log."""
    unresolved: list[str] = field(default_factory=list)
    """Differences no event can bring about, each with the reason (listed, never dropped)."""
    bookkeeping: list[str] = field(default_factory=list)
    """Streams whose data agree and that differ only in the generic projection's own
    bookkeeping (version, last event type): nothing for the live system to correct."""

    def summary(self) -> str:
        n = len(self.records)
        parts = [f"{n} compensating event{'s' if n != 1 else ''}"]
        if self.bookkeeping:
            parts.append(f"{len(self.bookkeeping)} stream(s) differ only in version/last type")
        if self.unresolved:
            parts.append(f"{len(self.unresolved)} difference(s) no event can express")
        return "; ".join(parts)


def compensating_events(
    engine: Any,
    branch: str,
    *,
    base: str = MAIN,
    event_type: str = CORRECTION_TYPE,
    recorded_us: int | None = None,
    progress: ProgressFn | None = None,
) -> Compensation:
    """The events that, appended to ``base``'s log, bring its end state to ``branch``'s."""
    if branch == base:
        raise UsageError(f"compare {branch} with another branch: a branch needs no correction")
    if not event_type.strip():
        raise UsageError("the correction events need a type name")
    before_state = engine.end_state(base)
    after_state = engine.end_state(branch)
    if not isinstance(before_state, Mapping) or not isinstance(after_state, Mapping):
        raise UsageError(
            f"the {engine.projection.name} projection's state is not keyed by entity; "
            "export the corrected log instead"
        )
    changes = engine.diff(base, engine.row_count(base) - 1, branch, engine.row_count(branch) - 1)
    keys: dict[Any, list[str]] = {}
    for c in changes:
        keys.setdefault(c.path[0] if c.path else None, []).append(format_path(c.path))
    out = Compensation(base, branch)
    if None in keys:
        out.unresolved.append("the whole state differs in type; no event can express that")
        keys.pop(None)
    when = recorded_us if recorded_us is not None else _now_us()
    custom = getattr(engine.projection, "compensate", None)
    generic = getattr(engine.projection, "name", "") == "generic" and custom is None
    for i, (key, paths) in enumerate(keys.items()):
        if progress is not None and not progress(i, len(keys)):
            break
        before = before_state.get(key)
        after = after_state.get(key)
        if callable(custom):
            records = custom(key, before, after)
            out.records.extend(_checked(records, key, engine.projection.name))
        elif generic:
            _generic_correction(out, str(key), before, after, paths, event_type, when)
        else:
            out.unresolved.append(
                f"{key}: the {engine.projection.name} projection offers no compensate(); "
                "export the corrected log instead"
            )
    return out


def _generic_correction(
    out: Compensation,
    key: str,
    before: Any,
    after: Any,
    paths: list[str],
    event_type: str,
    when: int,
) -> None:
    if after is None:
        out.unresolved.append(
            f"{key}: exists in {out.base} but has no event left in {out.branch}; no event "
            "removes a stream (retire it in the live system)"
        )
        return
    data_before = None if before is None else before.get("data")
    data_after = after.get("data")
    if before is not None and equal(data_before, data_after):
        out.bookkeeping.append(key)
        return
    patch = merge_patch_diff(data_before, data_after)
    if not equal(merge_patch(data_before, patch), data_after):
        out.unresolved.append(
            f"{key}: its data hold a null member, which a merge patch cannot set "
            "(null deletes); correct it by hand"
        )
        return
    version = 1 if before is None else int(before.get("version") or 0) + 1
    digest = orjson.dumps([out.branch, key, patch], option=orjson.OPT_SORT_KEYS).decode()
    rewind_meta = {
        "compensates": out.branch,
        "base": out.base,
        "paths": paths,
    }
    record = {
        "id": str(uuid.uuid5(_NAMESPACE, digest)),
        "stream": key,
        "type": event_type,
        "version": version,
        "recorded_at": format_us(when),
        "processed_at": format_us(when),
        "data": patch,
        "metadata": {"rewind": rewind_meta},
    }
    out.records.append(record)


def _checked(records: Any, key: Any, projection: str) -> list[dict[str, Any]]:
    if not isinstance(records, list) or not all(
        isinstance(r, dict) and "stream" in r and "type" in r for r in records
    ):
        raise UsageError(
            f"the {projection} projection's compensate() for {key} must return a list of "
            "event records (objects with stream and type)"
        )
    return records


def _now_us() -> int:
    return time.time_ns() // 1000


def write_records(records: Iterable[dict[str, Any]], out: Path, fmt: str = "jsonl") -> int:
    """JSON Lines, written atomically (a temporary file renamed into place)."""
    tmp = out.with_name(f".{out.name}.part")
    count = 0
    with open(tmp, "wb") as fh:
        for rec in records:
            if fmt == "cloudevents":
                rec = _record_as_cloudevent(rec)
            fh.write(orjson.dumps(rec, option=orjson.OPT_NON_STR_KEYS))
            fh.write(b"\n")
            count += 1
    os.replace(tmp, out)
    return count


def _record_as_cloudevent(rec: dict[str, Any]) -> dict[str, Any]:
    out = {
        "specversion": "1.0",
        "id": rec["id"],
        "source": "rewind:compensation",
        "type": rec["type"],
        "subject": rec["stream"],
        "time": rec.get("recorded_at"),
        "datacontenttype": "application/json",
        "data": rec["data"],
    }
    if rec.get("version") is not None:
        out["sequence"] = str(rec["version"])
    return out


# --- the corrected log and its report ----------------------------------------------------


@dataclass
class ExportReport:
    branch: str
    out: str
    format: str
    events_written: int
    source_events: int
    changed: list[Changed]
    bookmarks: list[dict[str, Any]] = field(default_factory=list)
    """The log's bookmarked events with their notes (key, event id, type, note)."""

    def by_kind(self, kind: str) -> list[Changed]:
        return [c for c in self.changed if c.kind == kind]

    def to_json(self) -> dict[str, Any]:
        def item(c: Changed) -> dict[str, Any]:
            e = c.event
            entry: dict[str, Any] = {
                "key": format_key(c.key),
                "row": c.row,
                "event_id": e.event_id,
                "stream": e.stream,
                "type": e.type,
            }
            if c.kind == "edited" and c.original is not None:
                o = c.original
                entry["changes"] = [
                    {
                        "path": format_path(ch.path),
                        "change": ch.change,
                        "old": ch.old,
                        "new": ch.new,
                    }
                    for ch in diff(_editable(o), _editable(e))
                ]
            return entry

        return {
            "branch": self.branch,
            "out": self.out,
            "format": self.format,
            "events_written": self.events_written,
            "source_events": self.source_events,
            **{kind: [item(c) for c in self.by_kind(kind)] for kind in _KINDS},
            "bookmarks": self.bookmarks,
        }

    def to_markdown(self) -> str:
        data = self.to_json()
        lines = [
            f"# Export of branch {self.branch}",
            "",
            f"{self.events_written:,} events written to `{self.out}` ({self.format}); "
            f"the source log has {self.source_events:,}.",
            "",
        ]
        for kind in _KINDS:
            entries = data[kind]
            lines.append(f"## {kind.capitalize()} ({len(entries)})")
            lines.append("")
            if not entries:
                lines.append("None.")
            for e in entries:
                lines.append(f"- {e['key']} {e['type']} on `{e['stream']}` (id `{e['event_id']}`)")
                for ch in e.get("changes", []):
                    lines.append(
                        f"  - `{ch['path']}` {ch['change']}: {_short(ch['old'])} → "
                        f"{_short(ch['new'])}"
                    )
            lines.append("")
        if self.bookmarks:
            lines.append(f"## Bookmarks ({len(self.bookmarks)})")
            lines.append("")
            for b in self.bookmarks:
                note = f": {b['note']}" if b["note"] else ""
                lines.append(f"- {b['key']} {b['type']} on `{b['stream']}`{note}")
            lines.append("")
        return "\n".join(lines)

    def counts_line(self) -> str:
        parts = [f"{len(self.by_kind(k))} {k}" for k in _KINDS]
        return f"{self.events_written:,} events written; " + ", ".join(parts)


_KINDS: Final = ("dropped", "edited", "inserted", "moved")


def _editable(e: Any) -> dict[str, Any]:
    return {"type": e.type, "stream": e.stream, "data": e.data, "metadata": e.metadata}


def _short(value: Any, limit: int = 80) -> str:
    text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bookmark_entries(session: Any, branch: str) -> list[dict[str, Any]]:
    """The bookmarks as a report lists them (those the branch has, in its order)."""
    out = []
    for text, note in session.bookmarks().items():
        key = parse_key(text)
        row = None if key is None else session.engine.row_of(branch, key)
        if key is None or row is None:
            continue
        e = session.engine.event_at(branch, row)
        out.append(
            {"key": text, "row": row, "event_id": e.event_id, "stream": e.stream,
             "type": e.type, "note": note}
        )  # fmt: skip
    return sorted(out, key=lambda b: int(b["row"]))


def report_path(out: Path) -> Path:
    """Where the report of an export to ``out`` goes: next to it."""
    return out.with_name(out.name + ".report.md")


def export_with_report(session: Any, branch: str, out: Path, fmt: str = "jsonl") -> ExportReport:
    """The corrected log (app.export) plus ``<out>.report.md`` and ``<out>.report.json``."""
    if session.path is not None and out.resolve() == Path(session.path).resolve():
        raise UsageError("that is the source log itself; Rewind never writes the source log")
    count = export_branch(session, branch, out, fmt)
    report = ExportReport(
        branch,
        str(out),
        fmt,
        count,
        len(session.log),
        changed_events(session.engine, branch),
        bookmark_entries(session, branch),
    )
    md = report_path(out)
    md.write_text(report.to_markdown(), encoding="utf-8")
    md.with_suffix(".json").write_bytes(
        orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    )
    return report


__all__ = [
    "CORRECTION_TYPE",
    "Compensation",
    "ExportReport",
    "compensating_events",
    "export_with_report",
    "merge_patch_diff",
    "report_path",
    "write_records",
]
