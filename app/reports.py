"""Headless reports shared by the CLI and the window: inspect, diff, path selection."""

from __future__ import annotations

from typing import Any

import numpy as np

from app.errors import UsageError
from models.event import format_us
from models.log import NA


def inspect_report(session: Any) -> dict[str, Any]:
    """Counts and ranges from the columns alone: no payload is read."""
    cols = session.log.columns
    n = len(cols)
    type_counts = np.bincount(cols.type_codes, minlength=len(cols.type_names)) if n else []
    rec = cols.recorded_us[cols.recorded_us != NA]
    info = session.import_info
    return {
        "file": str(session.path) if session.path else session.name,
        "format": info.get("format"),
        "events": n,
        "streams": len(np.unique(cols.stream_codes)) if n else 0,
        "types": {name: int(c) for name, c in zip(cols.type_names, type_counts, strict=True)},
        "time_range": {
            "first": format_us(int(rec.min())) if rec.size else None,
            "last": format_us(int(rec.max())) if rec.size else None,
        },
        "records_read": info.get("records_read", n),
        "skipped": info.get("skipped", 0),
        "warnings": sum(1 for p in session.problems if p.severity == "warning"),
        "problems": [p.to_json() for p in session.problems],
        "workspace": info.get("workspace"),
    }


def select_path(state: Any, dotted: str) -> Any:
    """Walk ``a.b.0.c``; keys that contain dots themselves (stream ids often do) are matched
    greedily, longest first."""
    parts = dotted.split(".")
    node = state
    i = 0
    walked: list[str] = []
    while i < len(parts):
        for j in range(len(parts), i, -1):
            key = ".".join(parts[i:j])
            if isinstance(node, dict) and key in node:
                node = node[key]
                walked.append(key)
                i = j
                break
            if isinstance(node, list) and j == i + 1 and key.lstrip("-").isdigit():
                idx = int(key)
                if -len(node) <= idx < len(node):
                    node = node[idx]
                    walked.append(key)
                    i = j
                    break
        else:
            where = ".".join(walked) or "the state"
            have = ", ".join(list(node)[:10]) if isinstance(node, dict) else type(node).__name__
            raise UsageError(f"--path {dotted}: no '{parts[i]}' in {where} (it has: {have})")
    return node


def parse_side(session: Any, spec: str) -> tuple[str, int]:
    """``NAME`` (the end of the branch) or ``NAME@POS`` / ``NAME@+N`` / ``NAME@EVENT_ID``: the
    row just after that event *as it stands in that branch*, so that two sides name the same
    event by identity, not by index."""
    name, sep, ref = spec.rpartition("@")
    if not sep:
        name, ref = spec, ""
    ops = session.branch_ops(name)
    if not ref:
        return name, session.engine.row_count(name) - 1
    event_ref = f"@{ref}" if ref.isdigit() or (ref.startswith("+") and ref[1:].isdigit()) else ref
    return name, ops.row_for(event_ref)


def diff_report(session: Any, a_spec: str, b_spec: str) -> dict[str, Any]:
    from models.event import format_key
    from replay_engine.diff import format_path

    (a, row_a), (b, row_b) = parse_side(session, a_spec), parse_side(session, b_spec)
    engine = session.engine
    changes = engine.diff(a, row_a, b, row_b)
    first = engine.first_divergence(a, b)
    divergence = None
    if first is not None:
        row = engine.row_of(a, first)
        row = engine.row_of(b, first) if row is None else row
        owner = a if engine.row_of(a, first) is not None else b
        ev = engine.event_at(owner, row)
        divergence = {
            "event": format_key(first),
            "event_id": ev.event_id,
            "stream": ev.stream,
            "type": ev.type,
            "row_a": engine.row_of(a, first),
            "row_b": engine.row_of(b, first),
        }
    return {
        "a": {"branch": a, "row": row_a},
        "b": {"branch": b, "row": row_b},
        "changes": [
            {"path": format_path(c.path), "change": c.change, "old": c.old, "new": c.new}
            for c in changes
        ],
        "first_divergence": divergence,
    }
