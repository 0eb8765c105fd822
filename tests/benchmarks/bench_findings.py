"""Benchmark of the concurrency findings on the imported 1,000,000-event log (on demand).

    .venv/bin/python tests/benchmarks/bench_foundation.py        # imports the log once
    .venv/bin/python tests/benchmarks/bench_findings.py [EVENTS]

Reads the workspace bench_foundation.py imported (nothing is written to it). Every time is
printed beside a baseline measured in the same run: a stable numpy argsort of the stream
column, the one sort the analysis cannot avoid. Also timed: the same columns with every
version shuffled (most streams out of order: the slow path, thousands of findings, listed
up to the Problems dock's limit) and the JSON report ``inspect --json`` adds.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from app.findings import findings_report  # noqa: E402
from app.session import open_session  # noqa: E402
from models.findings import find  # noqa: E402
from models.log import Columns  # noqa: E402
from views.problems_dock import LIMIT  # noqa: E402

TARGET_S = 1.0


def timed(fn: Callable[[], Any], runs: int = 3) -> tuple[float, Any]:
    """Median seconds of ``runs`` calls, and the last result."""
    times = []
    result = None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


class Shuffled:
    """The log's columns with versions shuffled across the whole log; bodies from the log."""

    def __init__(self, log: Any, seed: int = 1) -> None:
        self._log = log
        cols = log.columns
        versions = np.random.default_rng(seed).permutation(cols.versions)
        self.columns: Columns = replace(cols, versions=versions)

    def __len__(self) -> int:
        return len(self.columns)

    def raw(self, pos: int) -> bytes:
        raw: bytes = self._log.raw(pos)
        return raw

    def event(self, pos: int) -> Any:
        return self._log.event(pos)


def main(n: int) -> None:
    bench = Path(tempfile.gettempdir()) / "rewind-bench"
    log_path, ws = bench / f"shop-{n}.jsonl", bench / f"ws-{n}.sqlite"
    if not ws.exists():
        sys.exit(f"no imported workspace {ws}: run bench_foundation.py --events {n} first")
    t = time.perf_counter()
    session = open_session(log_path, workspace=ws)
    print(f"open the imported log ({session.import_info.get('change')}): "
          f"{time.perf_counter() - t:.2f} s")  # fmt: skip
    log = session.log
    events = len(log)
    codes = log.columns.stream_codes

    baseline, _ = timed(lambda: np.argsort(codes, kind="stable"))
    print(f"{events:,} events, {len(log.columns.stream_names):,} streams")
    print(f"baseline: stable argsort of the stream column: {baseline * 1e3:.0f} ms")

    t = time.perf_counter()
    first = find(log)
    cold = time.perf_counter() - t
    warm, found = timed(lambda: find(log))
    counts = found.counts()
    assert counts == first.counts()
    print(
        f"find(), first call (ids hashed for the first time): {cold * 1e3:.0f} ms "
        f"({cold / baseline:.1f}x baseline)"
    )
    print(f"find(), median of 3: {warm * 1e3:.0f} ms ({warm / baseline:.1f}x baseline)")
    print("  found: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))

    report_s, report = timed(lambda: findings_report(session))
    print(
        f"findings_report(session), what inspect --json adds: {report_s * 1e3:.0f} ms "
        f"({report_s / baseline:.1f}x baseline)"
    )
    assert report["finding_counts"] == counts

    shuffled = Shuffled(log)
    slow, messy = timed(lambda: find(shuffled, limit=LIMIT))
    print(
        f"find(limit={LIMIT}) with every version shuffled: {slow * 1e3:.0f} ms "
        f"({slow / baseline:.1f}x baseline)"
    )
    print("  found: " + ", ".join(f"{k} {v:,}" for k, v in messy.counts().items()))

    worst = max(cold, warm, report_s, slow)
    verdict = "within" if worst < TARGET_S else "OVER"
    print(f"slowest: {worst:.2f} s, {verdict} the {TARGET_S:.0f} s target for {events:,} events")
    session.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
