"""Causation benchmark: building the causation / correlation index of a million events, and
answering chain questions on it (models.causation).

Run on demand (not part of the test suite); reuses the workspace bench_foundation.py made:

    .venv/bin/python tests/benchmarks/bench_causation.py            # 1,000,000 events
    .venv/bin/python tests/benchmarks/bench_causation.py --events 100000

The build is printed beside a baseline measured in the same run, interleaved with it:
iterating the log's payloads once (``iter_payloads``, the full-replay path) and decoding
every event once (``iter_events``). Chain answers: median and p99 over 1,000 random events
(goal: well under 100 ms).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process)."""
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "rewind-bench"))
    ap.add_argument("--repeat", type=int, default=3, help="runs of the build and baselines")
    ap.add_argument("--chains", type=int, default=1000)
    args = ap.parse_args()

    from app.session import open_session
    from models.causation import CausationIndex, reactions
    from models.generator import generate

    workdir = Path(args.dir)
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"shop-{args.events}.jsonl"
    if not log_path.exists():
        generate(log_path, events=args.events, seed=7)
    session = open_session(log_path, workspace=str(workdir / f"ws-{args.events}.sqlite"))
    log = session.log
    n = len(log)
    print(f"log: {log_path} ({n:,} events)\n")

    runs: dict[str, list[tuple[float, float]]] = {"payloads": [], "events": [], "build": []}
    index: CausationIndex | None = None
    for _ in range(args.repeat):
        _, wall, cpu = timed(lambda: deque(log.iter_payloads(), 0))
        runs["payloads"].append((wall, cpu))
        index, wall, cpu = timed(lambda: CausationIndex.build(log))
        runs["build"].append((wall, cpu))
        _, wall, cpu = timed(lambda: deque(log.iter_events(), 0))
        runs["events"].append((wall, cpu))
    assert index is not None

    def median(name: str, k: int) -> float:
        return statistics.median(r[k] for r in runs[name])

    base = median("payloads", 0)
    rows = [
        ("iterate payloads once (baseline)", median("payloads", 0), median("payloads", 1)),
        ("decode every event once", median("events", 0), median("events", 1)),
        ("build the causation index", median("build", 0), median("build", 1)),
    ]
    print(f"medians of {args.repeat} interleaved runs:")
    for label, wall, cpu in rows:
        print(f"  {label:<36} {wall:6.2f} s wall  {cpu:6.2f} s CPU  {wall / base:5.2f}x baseline")
    arrays = (
        index.cause,
        index.links,
        index.correlation,
        index.service_codes,
        index.child_order,
        index.child_starts,
        index.group_order,
        index.group_starts,
    )
    size = sum(a.nbytes for a in arrays)
    counts = index.counts()
    print(
        f"  index arrays: {size / 2**20:.1f} MiB; {counts.caused:,} caused, "
        f"{counts.roots:,} roots, {counts.without_id:,} without id, "
        f"{counts.dangling:,} dangling"
    )

    rng = np.random.default_rng(7)
    times = []
    sizes = []
    for pos in rng.integers(0, n, args.chains).tolist():
        t0 = time.perf_counter()
        chain = index.chain(pos)
        times.append(time.perf_counter() - t0)
        sizes.append(len(chain.causes) + chain.effects.size() + len(chain.correlated))
    ms = np.array(times) * 1e3
    print(
        f"\nchain(pos) over {args.chains:,} random events: median {np.median(ms):.3f} ms, "
        f"p99 {np.percentile(ms, 99):.3f} ms, max {ms.max():.3f} ms "
        f"(goal < 100 ms; {np.mean(sizes):.1f} events per answer on average)"
    )
    biggest = int(np.argmax(np.diff(index.child_starts)))
    _, wall, _ = timed(lambda: index.chain(biggest))
    print(
        f"chain of the event with most direct effects (@{biggest}, "
        f"{len(index.children(biggest)):,}): {wall * 1e3:.3f} ms"
    )
    found, wall, _ = timed(lambda: reactions(index))
    print(f"reactions (who reacts to what, {len(found)} rows): {wall * 1e3:.1f} ms")
    for r in found[:5]:
        print(f"  {r.cause_type} -> {r.effect_type} ({r.service}): {r.events:,}")
    session.close()
    worst_cases(CausationIndex, n)


class _ColumnsOnly:
    """Just what an index built from arrays reads of its log (no dangling ids here)."""

    def __init__(self, n: int) -> None:
        from models.log import Columns

        self.columns = Columns(
            stream_codes=np.zeros(n, np.int32),
            type_codes=np.zeros(n, np.int32),
            versions=np.arange(n, dtype=np.int64),
            recorded_us=np.arange(n, dtype=np.int64),
            processed_us=np.arange(n, dtype=np.int64),
            event_ids=np.array([f"e{i}" for i in range(n)], dtype=object),
            stream_names=["s"],
            type_names=["T"],
        )


def worst_cases(index_type: Any, n: int) -> None:
    """Shapes the shop never has: one event causing all the others (one correlation group
    of n events), and one chain n events long. The limits keep answers small and fast."""
    from models.causation import Link

    log = _ColumnsOnly(n)
    no_service = np.full(n, -1, np.int32)
    one_group = np.zeros(n, np.int32)
    links = np.full(n, Link.CAUSED, np.int8)
    links[0] = Link.ROOT
    fan = np.zeros(n, np.int32)
    fan[0] = -1
    line = np.arange(-1, n - 1, dtype=np.int32)
    print("\nworst cases (chain of the middle event, of the root):")
    for label, cause in (("one root causing everything", fan), ("one chain of every event", line)):
        index, build, _ = timed(
            lambda cause=cause: index_type(log, cause, links, one_group, no_service, [])
        )
        _, middle, _ = timed(lambda index=index: index.chain(n // 2))
        _, root, _ = timed(lambda index=index: index.chain(0))
        print(
            f"  {label}: arrays to index {build * 1e3:.0f} ms; chain {middle * 1e3:.2f} ms "
            f"/ {root * 1e3:.2f} ms"
        )


if __name__ == "__main__":
    main()
