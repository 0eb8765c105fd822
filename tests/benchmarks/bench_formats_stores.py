"""Benchmark lines for the two formats bench_formats.py does not write: a store of the Python
eventsourcing library (SQLite, written by the library itself) and a Redux DevTools export
(the lifted state, plain JSON as the DevTools write it without the serialize option).

    .venv/bin/python tests/benchmarks/bench_formats_stores.py [--events 100000]

Each figure: opening the file in Rewind (convert + import into a fresh workspace), beside
``orjson.loads`` over as many JSON Lines lines in the same run.
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

import orjson  # noqa: E402


def write_eventsourcing(path: Path, events: int) -> int:
    from decimal import Decimal
    from uuid import UUID

    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class Account(Aggregate):
        @event("Opened")
        def __init__(self, owner: str) -> None:
            self.owner = owner
            self.balance = Decimal("0")

        @event("Credited")
        def credit(self, amount: Decimal) -> None:
            self.balance += amount

    app: Application[UUID] = Application(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    )
    accounts = [Account(f"owner-{i}") for i in range(1000)]
    written = len(accounts)
    i = 0
    while written < events:
        account = accounts[i % len(accounts)]
        account.credit(Decimal(f"{i}.25"))
        written += 1
        i += 1
    app.save(*accounts)
    app.close()
    return written


def write_redux(path: Path, events: int) -> int:
    actions = {"0": {"type": "PERFORM_ACTION", "action": {"type": "@@INIT"}, "timestamp": 0}}
    computed = [{"state": {"count": 0, "last": None}}]
    count = 0
    for i in range(1, events + 1):
        by = i % 7
        actions[str(i)] = {
            "type": "PERFORM_ACTION",
            "action": {"type": "counter/increment", "by": by},
            "timestamp": 1_741_000_000_000 + i,
        }
        count += by
        computed.append({"state": {"count": count, "last": by}})
    lifted = {
        "actionsById": actions,
        "computedStates": computed,
        "committedState": {"count": 0, "last": None},
        "currentStateIndex": events,
        "nextActionId": events + 1,
        "skippedActionIds": [],
        "stagedActionIds": list(range(events + 1)),
        "isLocked": False,
        "isPaused": False,
    }
    path.write_bytes(orjson.dumps(lifted))
    return events


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    args = ap.parse_args()
    from app.session import open_session
    from models.generator import generate

    with tempfile.TemporaryDirectory(prefix="rewind-bench-stores-") as tmp:
        folder = Path(tmp)
        log = folder / "shop.jsonl"
        generate(log, events=args.events, seed=7)
        lines = log.read_bytes().splitlines()
        t0 = time.perf_counter()
        for line in lines:
            orjson.loads(line)
        base_rate = len(lines) / (time.perf_counter() - t0)
        print(f"baseline: orjson.loads over {len(lines):,} lines: {base_rate:,.0f} lines/s")
        files = {
            "eventsourcing": (folder / "bank.db", write_eventsourcing),
            "redux-devtools": (folder / "counter-devtools.json", write_redux),
        }
        for name, (path, write) in files.items():
            n = write(path, args.events)
            os.environ["REWIND_DATA_DIR"] = str(folder / f"data-{name}")
            t0 = time.perf_counter()
            session = open_session(path, workspace=folder / f"ws-{name}.sqlite")
            elapsed = time.perf_counter() - t0
            assert len(session.log) == n, (name, len(session.log), n)
            session.close()
            rate = n / elapsed
            print(
                f"{name:<15} {n:>9,} events {elapsed:>7.2f} s {rate:>10,.0f} events/s "
                f"({base_rate / rate:.1f}x the orjson.loads baseline)"
            )


if __name__ == "__main__":
    main()
