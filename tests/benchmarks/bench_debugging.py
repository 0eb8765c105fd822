"""Debugger benchmark: run forward/backward to breakpoints and watch conditions, watch series
and "which events touched this?" on a million events (generic projection, branch main).

Run on demand (not part of the test suite); reuses the workspace bench_foundation.py made:

    .venv/bin/python tests/benchmarks/bench_debugging.py            # 1,000,000 events
    .venv/bin/python tests/benchmarks/bench_debugging.py --events 100000

Each figure is printed beside a baseline measured in the same run: a numpy pass over the
type column for field breakpoints, orjson.loads of as many lines for payload conditions, a
full replay for searches that fold states.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import orjson  # noqa: E402


def timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "rewind-bench"))
    args = ap.parse_args()

    from app.session import open_session
    from models.generator import generate
    from replay_engine.breakpoints import ANY, Breakpoint, Watch, find_hit, touches, watch_series
    from replay_engine.engine import Engine
    from replay_engine.generic import GenericProjection

    workdir = Path(args.dir)
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"shop-{args.events}.jsonl"
    if not log_path.exists():
        generate(log_path, events=args.events, seed=7)
    session = open_session(log_path, workspace=str(workdir / f"ws-{args.events}.sqlite"))
    engine = session.engine
    n = engine.row_count("main")
    cols = session.log.columns
    print(f"log: {log_path} ({n:,} events)\n")
    rows: list[tuple[str, str, str]] = []

    # field breakpoints: the rarest type, forward from the start and backward from the end
    counts = np.bincount(cols.type_codes)
    rare = int(np.argmin(np.where(counts > 0, counts, n + 1)))
    name = cols.type_names[rare]
    _, base = timed(lambda: np.flatnonzero(cols.type_codes == rare))
    bp = [Breakpoint(type=name)]
    last = int(np.flatnonzero(cols.type_codes == rare)[-1])
    hit, fwd = timed(lambda: find_hit(engine, "main", last, 1, bp))
    assert hit is None
    hit, back = timed(lambda: find_hit(engine, "main", 0, -1, bp))
    rows.append(
        (
            f"type breakpoint ({name}, {counts[rare]:,} events), no hit over the rest of the log",
            f"forward from its last {fwd * 1e3:.1f} ms, backward from row 0 {back * 1e3:.2f} ms",
            f"numpy pass over the type column {base * 1e3:.1f} ms",
        )
    )

    # a payload condition that never holds: every event of a common type is decoded
    common = int(np.argmax(counts))
    cname = cols.type_names[common]
    cond = [Breakpoint(type=cname, condition="never_there == `1`")]
    hit, scan = timed(lambda: find_hit(engine, "main", -1, 1, cond))
    assert hit is None
    k = int(counts[common])

    def grep() -> None:  # what a script over the file would do: parse every line
        with open(log_path, "rb") as fh:
            for line in fh:
                orjson.loads(line)

    _, parse = timed(grep)
    rows.append(
        (
            f"payload condition on {cname} ({k:,} events), no hit",
            f"{scan:.2f} s over {n:,} events ({n / scan / 1e3:,.0f} k events/s)",
            f"orjson.loads of every line of the file {parse:.2f} s; ratio {parse / scan:.2f}",
        )
    )

    # a watch condition over every stream that never holds: a fold of the whole log
    def full_replay() -> float:
        fresh = Engine(session.log, GenericProjection())
        return timed(lambda: fresh.end_state("main"))[1]

    replay = full_replay()
    never = [Watch("version < `0`", ANY, breaks=True)]
    hit, forward = timed(lambda: find_hit(engine, "main", -1, 1, [], never))
    assert hit is None
    rows.append(
        (
            "watch condition on any stream, forward over the whole log, no hit",
            f"{forward:.2f} s ({n / forward / 1e3:,.0f} k events/s)",
            f"full replay {replay:.2f} s; ratio {replay / forward:.2f}",
        )
    )
    middle = n // 2
    hit, backward = timed(lambda: find_hit(engine, "main", middle, -1, [], never))
    assert hit is None
    rows.append(
        (
            f"same, backward from row {middle:,} to the start, no hit",
            f"{backward:.2f} s ({middle / backward / 1e3:,.0f} k events/s)",
            f"full replay {replay:.2f} s",
        )
    )

    # one long stream: its watch series and the events that touched one value
    longest = int(np.argmax(np.bincount(cols.stream_codes)))
    stream = cols.stream_names[longest]
    (xs, _values), series = timed(lambda: watch_series(engine, "main", Watch("version", stream)))
    found, touched = timed(lambda: touches(engine, "main", [stream, "version"]))
    rows.append(
        (
            f"watch series and 'touched' of {stream} ({xs.shape[0] - 1:,} events)",
            f"series {series * 1e3:.0f} ms, touched {touched * 1e3:.0f} ms ({len(found):,})",
            "",
        )
    )

    width = max(len(r[0]) for r in rows)
    for what, result, baseline in rows:
        print(f"{what:<{width}}  {result}")
        if baseline:
            print(f"{'':<{width}}  baseline: {baseline}")


if __name__ == "__main__":
    main()
