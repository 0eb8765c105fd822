"""Write a branch's effective log: dropped events left out, edited ones in their new version,
inserted ones in place. The source log is never the target."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from models.event import Event, format_us


def effective_events(session: Any, branch: str) -> Iterator[Event]:
    engine = session.engine
    rows = np.flatnonzero(~engine.sequence(branch).dropped).astype(np.int64)
    for _row, event in engine.iter_events(branch, rows):
        yield event


def canonical_record(e: Event) -> dict[str, Any]:
    """The JSON Lines shape Rewind reads back with its automatic mapping."""
    meta = dict(e.metadata)
    if e.correlation_id is not None:
        meta.setdefault("correlation_id", e.correlation_id)
    if e.causation_id is not None:
        meta.setdefault("causation_id", e.causation_id)
    out: dict[str, Any] = {"id": e.event_id, "stream": e.stream, "type": e.type}
    if e.version is not None:
        out["version"] = e.version
    if e.schema_version is not None:
        out["schema_version"] = e.schema_version
    if e.recorded_us is not None:
        out["recorded_at"] = format_us(e.recorded_us)
    if e.processed_us is not None:
        out["processed_at"] = format_us(e.processed_us)
    out["data"] = e.data
    out["metadata"] = meta
    return out


def cloudevent_record(e: Event, source: str) -> dict[str, Any]:
    """CloudEvents 1.0 structured mode; correlation/causation as extension attributes."""
    out: dict[str, Any] = {
        "specversion": "1.0",
        "id": e.event_id,
        "source": source,
        "type": e.type,
        "subject": e.stream,
    }
    if e.recorded_us is not None:
        out["time"] = format_us(e.recorded_us)
    if e.correlation_id is not None:
        out["correlationid"] = e.correlation_id
    if e.causation_id is not None:
        out["causationid"] = e.causation_id
    if e.version is not None:
        out["sequence"] = str(e.version)
    if isinstance(e.data, str):
        out["datacontenttype"] = "text/plain"
    else:
        out["datacontenttype"] = "application/json"
    out["data"] = e.data
    return out


def export_branch(session: Any, branch: str, out: Path, fmt: str = "jsonl") -> int:
    """Write atomically (a temporary file renamed into place); returns the event count."""
    session.branch_ops(branch)  # an unknown branch is a UsageError before any file exists
    source = f"rewind:{session.name}#{branch}"
    tmp = out.with_name(f".{out.name}.part")
    count = 0
    with open(tmp, "wb") as fh:
        for e in effective_events(session, branch):
            rec = canonical_record(e) if fmt == "jsonl" else cloudevent_record(e, source)
            fh.write(orjson.dumps(rec, option=orjson.OPT_NON_STR_KEYS))
            fh.write(b"\n")
            count += 1
    os.replace(tmp, out)
    return count
