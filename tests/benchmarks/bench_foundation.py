"""Foundation benchmark: import, full replay, seek, drop-and-replay, memory, reopen.

Run on demand (not part of the test suite):

    .venv/bin/python tests/benchmarks/bench_foundation.py            # 1,000,000 events
    .venv/bin/python tests/benchmarks/bench_foundation.py --events 100000

Every figure is printed with a ratio against a baseline measured in the same run on the same
file, so a slow or busy machine shows in both. Memory and reopen are measured in fresh child
processes (peak RSS of a process is monotonic, and reopening must not profit from warm
caches of this one).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

if "--child" not in sys.argv:
    # What `dev.py run` does before it starts the app: Rewind's bytecode is cached (this
    # machine may set PYTHONDONTWRITEBYTECODE; a user's usually does not), so the children
    # and the import's helper process read it instead of compiling Rewind's modules.
    import runpy

    runpy.run_path(str(ROOT / "dev.py"))["byte_compile"]()

from models.memory import tune_allocator  # noqa: E402

tune_allocator()  # as main.py does at start-up, before numpy is imported

import orjson  # noqa: E402


def peak_rss_mb() -> float:
    """This process's peak RSS. On Linux from VmHWM: ``ru_maxrss`` survives exec, so a child
    started by a big parent would report the parent's size (a fork copies its page tables)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- child processes ------------------------------------------------------------------------


def child_import(log: str, ws: str) -> dict[str, float]:
    from app.session import open_session

    t0 = time.perf_counter()
    session = open_session(log, workspace=ws)
    t1 = time.perf_counter()
    session.end_state("main")  # computes the fold and persists it for the reopen run
    t2 = time.perf_counter()
    return {"import_s": t1 - t0, "end_state_s": t2 - t1, "rss_mb": peak_rss_mb()}


def child_reopen(log: str, ws: str) -> dict[str, float]:
    from app.session import open_session

    t0 = time.perf_counter()
    session = open_session(log, workspace=ws)
    state = session.end_state("main")
    n = len(state)
    t1 = time.perf_counter()
    return {"reopen_s": t1 - t0, "streams": n, "rss_mb": peak_rss_mb()}


def child_dicts(log: str) -> dict[str, float]:
    gc.disable()
    with open(log, "rb") as fh:
        events = [orjson.loads(line) for line in fh]
    return {"events": len(events), "rss_mb": peak_rss_mb()}


def in_child(kind: str, *args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if out.returncode != 0:
        sys.exit(f"child {kind} failed:\n{out.stderr}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# --- baselines ------------------------------------------------------------------------------


def bare_parse(log: Path) -> float:
    """orjson.loads on every line, result discarded: seconds."""
    t0 = time.perf_counter()
    with open(log, "rb") as fh:
        for line in fh:
            orjson.loads(line)
    return time.perf_counter() - t0


def bare_fold(log: Path) -> float:
    """Parse each line and merge its payload into a dict per stream: seconds."""
    gc.collect()
    t0 = time.perf_counter()
    state: dict[str, dict[str, object]] = {}
    with open(log, "rb") as fh:
        for line in fh:
            d = orjson.loads(line)
            s = d["stream"]
            state[s] = {**state.get(s, {}), **d["data"]}
    return time.perf_counter() - t0


def median_of(fn, runs: int = 3) -> float:  # type: ignore[no-untyped-def]
    return statistics.median(fn() for _ in range(runs))


# --- main -----------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "rewind-bench"))
    ap.add_argument("--seeks", type=int, default=1000)
    args = ap.parse_args()

    from models.generator import generate

    workdir = Path(args.dir)
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"shop-{args.events}.jsonl"
    if not log.exists():
        print(f"generating {args.events:,} events into {log} ...", flush=True)
        generate(log, events=args.events, seed=7)
    size_mb = log.stat().st_size / 1e6
    n = args.events
    print(f"log: {log} ({n:,} events, {size_mb:,.0f} MB)\n")
    rows: list[tuple[str, str, str, str]] = []

    # import, measured in a child on a fresh workspace
    ws = workdir / f"ws-{n}.sqlite"
    # Three imports, each right after a run of the baseline (a shared machine's speed drifts
    # by 10-15 % within minutes); the medians of both. The last workspace is kept.
    bases, imports = [], []
    for _ in range(3):
        bases.append(bare_parse(log))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{ws}{suffix}").unlink(missing_ok=True)
        imports.append(in_child("import", str(log), str(ws)))
    base_parse = statistics.median(bases)
    imp = sorted(imports, key=lambda r: r["import_s"])[1]
    imp["rss_mb"] = max(r["rss_mb"] for r in imports)  # the worst peak of the three
    rows.append(
        (
            "import throughput",
            f"{n / imp['import_s'] / 1e3:,.0f} k events/s ({imp['import_s']:.2f} s)",
            f"bare orjson.loads loop {n / base_parse / 1e3:,.0f} k/s",
            f"{base_parse / imp['import_s']:.3f} (goal >= 0.5)",
        )
    )

    # full replay in this process: a fresh engine over the imported workspace, no snapshots
    from app.session import open_session
    from models.edits import Edit, EditKind
    from replay_engine.branches import BranchSpec
    from replay_engine.engine import Engine
    from replay_engine.generic import GenericProjection

    base_fold = median_of(lambda: bare_fold(log))
    session = open_session(log, workspace=str(ws))

    def full_replay() -> float:
        engine = Engine(session.log, GenericProjection())
        t0 = time.perf_counter()
        engine.end_state("main")
        return time.perf_counter() - t0

    replay = median_of(full_replay)
    rows.append(
        (
            "full replay (no snapshots)",
            f"{n / replay / 1e3:,.0f} k events/s ({replay:.2f} s)",
            f"bare parse+merge loop {n / base_fold / 1e3:,.0f} k/s",
            f"{base_fold / replay:.2f} (goal >= 0.5)",
        )
    )

    # seeks: state at a random row + the substate of that event's stream + what it changed
    engine = Engine(session.log, GenericProjection())
    engine.end_state("main")
    rng = random.Random(1)
    targets = [rng.randrange(n) for _ in range(args.seeks)]
    times = []
    for row in targets:
        t0 = time.perf_counter()
        state = engine.state_at("main", row)
        ev = engine.event_at("main", row)
        _ = state[ev.stream]
        engine.changes_at("main", row)
        times.append(time.perf_counter() - t0)
    times.sort()
    med, p99 = times[len(times) // 2], times[int(len(times) * 0.99)]
    naive = replay * statistics.median(targets) / n
    rows.append(
        (
            f"seek, {args.seeks} random rows",
            f"median {med * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms",
            f"replay from event 0: {naive * 1e3:,.0f} ms (median row)",
            f"{med / naive:.4f} (goal: median < 10 ms, p99 < 30 ms)",
        )
    )

    # full materialisation at random rows, for transparency (the CLI's `state --at`)
    sample = targets[:20]
    t0 = time.perf_counter()
    for row in sample:
        engine.materialize("main", row)
    mat = (time.perf_counter() - t0) / len(sample)
    rows.append(
        (
            "materialise the whole state at a random row",
            f"{mat * 1e3:,.0f} ms (mean of {len(sample)})",
            f"full replay {replay * 1e3:,.0f} ms",
            f"{mat / replay:.2f}",
        )
    )

    # drop one event at 10,000 in a branch, then the state at the end
    drop_at = min(10_000, n - 1)
    engine.add_branch(BranchSpec(name="bench-drop", parent="main"))
    t0 = time.perf_counter()
    engine.append_edit("bench-drop", Edit(EditKind.DROP, target=drop_at))
    end = engine.end_state("bench-drop")
    len(end)
    dropped = time.perf_counter() - t0
    rows.append(
        (
            f"drop @{drop_at:,} then the end state",
            f"{dropped * 1e3:.1f} ms",
            f"full replay {replay * 1e3:,.0f} ms",
            f"{dropped / replay:.4f} (goal < 50 ms)",
        )
    )
    session.close()

    # memory and reopen, in fresh children
    dicts = in_child("dicts", str(log))
    rows.append(
        (
            "peak RSS: imported + end state computed",
            f"{imp['rss_mb']:,.0f} MB",
            f"the events held as dicts {dicts['rss_mb']:,.0f} MB",
            f"{imp['rss_mb'] / dicts['rss_mb']:.2f} (goal < 400 MB)",
        )
    )
    reopen = in_child("reopen", str(log), str(ws))
    first = imp["import_s"] + imp["end_state_s"]
    rows.append(
        (
            "reopen to the computed end state",
            f"{reopen['reopen_s']:.2f} s (RSS {reopen['rss_mb']:,.0f} MB)",
            f"first import + replay {first:.2f} s",
            f"{reopen['reopen_s'] / first:.3f} (goal < 1 s)",
        )
    )

    print("| measure | Rewind | baseline (same run) | ratio |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        kind, rest = sys.argv[2], sys.argv[3:]
        fn = {"import": child_import, "reopen": child_reopen, "dicts": child_dicts}[kind]
        print(json.dumps(fn(*rest)))
    else:
        main()
