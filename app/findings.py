"""Concurrency findings for the CLI's ``inspect`` and the window's Problems dock.

The analysis itself is :func:`models.findings.find` (columns only, plus the bodies of events
whose id repeats); this adds what a report needs: counts per kind and a few lines of text.
"""

from __future__ import annotations

from typing import Any

from models.findings import KINDS, Findings, ProgressFn, find

LABELS = {
    "conflicts": "version conflicts (lost updates)",
    "gaps": "version gaps",
    "out_of_order": "versions out of order",
    "redeliveries": "exact re-deliveries",
    "id_collisions": "id collisions (same id, different body)",
    "time_backwards": "recorded times going backwards",
}
"""How each kind of finding is named to a person."""


def session_findings(
    session: Any, *, limit: int | None = None, progress: ProgressFn | None = None
) -> Findings:
    """The findings of the session's source log (branches do not change them)."""
    return find(session.log, limit=limit, progress=progress)


def findings_report(session: Any, findings: Findings | None = None) -> dict[str, Any]:
    """The keys ``inspect --json`` adds: ``findings`` (every finding, by kind) and
    ``finding_counts`` (how many of each)."""
    found = findings if findings is not None else session_findings(session)
    return {"findings": found.to_json(), "finding_counts": found.counts()}


def findings_lines(report: dict[str, Any], examples: int = 3) -> list[str]:
    """``inspect``'s plain-text summary of a :func:`findings_report`: a line per kind found,
    with its first few findings."""
    counts: dict[str, int] = report["finding_counts"]
    if not any(counts.values()):
        return ["concurrency: no conflicts, gaps, re-deliveries or clock problems found"]
    lines = ["concurrency findings:"]
    for kind in KINDS:
        count = counts.get(kind, 0)
        if not count:
            continue
        lines.append(f"  {count:,} {LABELS[kind]}")
        for item in report["findings"][kind][:examples]:
            lines.append(f"    {describe(kind, item)}")
        if count > examples:
            lines.append(f"    ... and {count - examples:,} more (use --json for all)")
    return lines


def describe(kind: str, item: dict[str, Any]) -> str:
    """One finding (as :meth:`Findings.to_json` gives it) in a line."""
    at = ", ".join(f"@{p}" for p in item.get("positions", [item.get("position")]))
    if kind == "conflicts":
        return f"{item['stream']} v{item['version']}: {len(item['positions'])} events ({at})"
    if kind == "gaps":
        return (
            f"{item['stream']}: {item['missing']} version(s) missing after "
            f"v{item['after_version']} (next event @{item['position']})"
        )
    if kind == "out_of_order":
        return (
            f"{item['stream']} v{item['version']} @{item['position']} written after "
            f"v{item['after_version']} @{item['after_position']}"
        )
    if kind == "redeliveries":
        return f"{item['event_id']} ({item['stream']}) delivered {len(item['positions'])}x: {at}"
    if kind == "id_collisions":
        return f"{item['event_id']} used by {len(item['positions'])} different events: {at}"
    if kind == "time_backwards":
        return (
            f"{item['stream']} @{item['position']} recorded {item['back_us'] / 1e6:g} s "
            f"before @{item['previous_position']}"
        )
    raise ValueError(f"no kind of finding named {kind!r}")
