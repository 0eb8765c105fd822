"""Search benchmark on the 1M-event workspace made by bench_foundation.py: the filter bar's
and ``main.py query``'s filters (app.search.matching_rows).

    .venv/bin/python tests/benchmarks/bench_search.py

Goals (issue 7): type, stream and time filters under 100 ms; a payload query over every
event under 3 s (with progress and cancel). The query cases go from one the columns and the
raw records narrow down most to one nothing narrows (the worst case: every event decoded).
Baseline in the same run: a numpy pass over the type column, and ``orjson.loads`` over every
line of the file.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import orjson  # noqa: E402


def main() -> None:
    from app.search import Filter, matching_rows
    from app.session import open_session
    from models.timeparse import parse_timestamp

    bench = Path(os.path.join(tempfile.gettempdir(), "rewind-bench"))
    log, ws = bench / "shop-1000000.jsonl", bench / "ws-1000000.sqlite"
    if not ws.exists():
        sys.exit("run tests/benchmarks/bench_foundation.py first")
    session = open_session(log, workspace=ws)
    engine, cols = session.engine, session.log.columns
    t = time.perf_counter()
    np.flatnonzero(cols.type_codes == 3)
    base = time.perf_counter() - t
    print(f"baseline: a numpy pass over the type column: {base * 1e3:.1f} ms")
    cases = [
        ("type Payment*", Filter(types="Payment*")),
        ("stream customer-0001*", Filter(streams="customer-0001*")),
        (
            "time window of 6 hours",
            Filter(
                since_us=parse_timestamp("2025-03-04T09:00:00Z"),
                until_us=parse_timestamp("2025-03-04T15:00:00Z"),
            ),
        ),
        ("type + stream + time", Filter(types="Order*", streams="order-00*")),
    ]
    for name, f in cases:
        t = time.perf_counter()
        rows = matching_rows(engine, "main", f)
        print(f"{name:<28} {len(rows):>9,} matches {(time.perf_counter() - t) * 1e3:8.1f} ms"
              "  (goal < 100 ms)")  # fmt: skip
    t = time.perf_counter()
    with open(log, "rb") as fh:
        for line in fh:
            orjson.loads(line)
    parse = time.perf_counter() - t
    print(f"baseline: orjson.loads over every line of the file: {parse:.2f} s")
    for where in (
        "data.amount > `5000` && type == 'PaymentCharged'",
        "data.amount > `5000` && metadata.service == 'payments'",
        "metadata.gateway.card.network == 'amex'",
        "data.amount > `5000`",
        # nothing to pre-filter on: every event is decoded and the query run on it
        "length(keys(data)) > `5` || metadata.service == `null`",
    ):
        calls: list[int] = []

        def progress(done: int, _total: int, calls: list[int] = calls) -> bool:
            calls.append(done)
            return True

        t = time.perf_counter()
        rows = matching_rows(engine, "main", Filter(where=where), progress)
        query = time.perf_counter() - t
        print(
            f"query {where!r}: {len(rows):,} matches in {query:.2f} s over every event "
            f"(goal < 3 s; {len(calls)} progress calls)"
        )


if __name__ == "__main__":
    main()
