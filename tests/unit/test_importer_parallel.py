"""The two-process import (a helper process parses the second half of a big JSON Lines file)
gives exactly what the one-process import gives; the writer thread of the workspace sink
reports its failures; duplicate ids are found however they are looked up."""

from __future__ import annotations

import gc
import os
import random
import re
import sqlite3
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

import models.helper_process as helper_process
import models.importer as importer
import models.workspace_import as workspace_import
from models.importer import ImportResult, run_import
from models.problems import InputError, Problem, Severity
from models.readers.numbers import big_integer_offsets, new_scratch
from models.workspace import Workspace, WorkspaceError
from tests.unit.test_importer import ListSink, offsets_of, synthetic, write

# Small blocks: many batches in each part and many span messages from the helper.
BLOCK = 4096


def planted(n: int = 1200) -> list[bytes]:
    """Good records with bad ones in both halves and duplicate ids within and across them."""
    lines = [orjson.dumps(r) for r in synthetic(n)]
    lines[10] = b"this is not json"
    lines[11] = b""
    lines[40] = lines[5]  # exact re-delivery, first half
    lines[100] = b'{"id":"x","stream":"s","type":"T","recorded_at":"last tuesday"}'
    lines[700] = b"{broken"  # second half
    lines[701] = b"[1, 2]"
    lines[750] = lines[7]  # across the halves: exact re-delivery
    lines[760] = b'{"id":"evt-8","type":"Other"}'  # across the halves: id collision
    lines[800] = lines[790]  # within the second half
    lines[900] = b'{"id":"n","type":"T","data":{"v":NaN}}'  # re-serialised when stored
    lines[950] = b'{"id":"big","type":"T","data":{"v":123456789012345678901234567890}}'
    lines[1000] = b'{"id":"v","type":"T","version":"v1"}'
    lines[1100] = b'{"id":"two\\nlines","type":"T"}'  # an id with a newline in it
    return lines


def both(path: Path, **kwargs: Any) -> tuple[tuple[ImportResult, ListSink], ...]:
    """The same import in one process and in two."""
    out = []
    for threshold in (None, 1):
        sink = ListSink()
        result = run_import(
            path, sink=sink, block_size=BLOCK, parallel_min_bytes=threshold, **kwargs
        )
        assert result.imported + result.skipped == result.records_read
        assert len(result.columns) == result.imported == len(sink.records)
        out.append((result, sink))
    return tuple(out)


def by_place(problems: list[Problem]) -> list[tuple[int, int, str, Severity, str]]:
    return sorted((p.offset, p.line, p.reason, p.severity, p.excerpt) for p in problems)


def assert_same(one: tuple[ImportResult, ListSink], two: tuple[ImportResult, ListSink]) -> None:
    (a, sink_a), (b, sink_b) = one, two
    assert sink_b.chunks == sink_a.chunks
    # Duplicates across the cut reach the sink after the rest (like far duplicates): the
    # problems are the same, in file order in the result.
    assert by_place(sink_b.problems) == by_place(sink_a.problems)
    assert b.problems == a.problems
    for name in ("stream_codes", "type_codes", "versions", "recorded_us", "processed_us"):
        assert getattr(b.columns, name).tolist() == getattr(a.columns, name).tolist(), name
    assert b.columns.event_ids.tolist() == a.columns.event_ids.tolist()
    assert b.columns.stream_names == a.columns.stream_names
    assert b.columns.type_names == a.columns.type_names
    for name in (
        "records_read",
        "imported",
        "skipped",
        "warnings",
        "end_offset",
        "end_line",
        "file_size",
        "sha1",
        "cancelled",
    ):
        assert getattr(b, name) == getattr(a, name), name


def test_two_processes_give_exactly_what_one_gives(tmp_path: Path) -> None:
    lines = planted()
    path = write(tmp_path / "log.jsonl", b"\n".join(lines) + b"\n")
    one, two = both(path)
    assert_same(one, two)
    result, sink = two
    assert (result.skipped, result.records_read) == (3, 1199)
    at = offsets_of(lines)
    reasons = {(p.line, p.offset): p.reason for p in sink.problems}
    assert reasons[(701, at[700])].startswith("not valid JSON")
    assert "a JSON array where a JSON object was expected" in reasons[(702, at[701])]
    assert "position 7 (line 8) with the same bytes" in reasons[(751, at[750])]
    assert "position 8 (line 9) with a different body" in reasons[(761, at[760])]
    # positions after the cut count the skipped records of the first half
    assert "position 786 (line 791) with the same bytes" in reasons[(801, at[800])]
    assert 'version: "v1" is not an integer' in reasons[(1001, at[1000])]


def test_crlf_bom_and_an_unterminated_last_line(tmp_path: Path) -> None:
    lines = planted()
    body = b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n" + b'{"id":"cut","type":'
    one, two = both(write(tmp_path / "win.jsonl", body))
    assert_same(one, two)
    assert "the log may still be being written" in two[0].problems[-1].reason


def test_many_duplicates_and_a_resumed_import(tmp_path: Path) -> None:
    first = [orjson.dumps(r) for r in synthetic(300)]
    path = write(tmp_path / "log.jsonl", b"\n".join(first) + b"\n")
    start, start_sink = run_import(path, sink=ListSink(), parallel_min_bytes=None), None
    del start_sink
    more = [
        first[i % 300] if i % 3 == 0 else orjson.dumps({"id": f"m{i}", "type": "T"})
        for i in range(600)
    ]
    with open(path, "ab") as handle:
        handle.write(b"\n".join(more) + b"\n")
    stored = first

    kwargs: dict[str, Any] = {
        "mapping": start.mapping,
        "start_offset": start.end_offset,
        "start_line": start.end_line,
        "start_pos": 300,
        "previous_ids": start.columns.event_ids.tolist(),
        "previous_raw": stored.__getitem__,
    }
    one, two = both(path, **kwargs)
    assert_same(one, two)
    assert two[0].warnings == 200
    assert all("with the same bytes" in p.reason for p in two[1].problems)


def test_strict_mode_stops_at_the_first_bad_record_in_file_order(tmp_path: Path) -> None:
    lines = [orjson.dumps(r) for r in synthetic(1000)]
    lines[800] = b"{broken"
    path = write(tmp_path / "late.jsonl", b"\n".join(lines) + b"\n")
    for threshold in (None, 1):
        with pytest.raises(InputError) as caught:
            run_import(
                path, sink=ListSink(), strict=True, block_size=BLOCK, parallel_min_bytes=threshold
            )
        (problem,) = caught.value.problems
        assert (problem.line, problem.offset) == (801, offsets_of(lines)[800])
        assert str(caught.value).startswith(f"{path}:801 ")
    lines[100] = b"oops"  # an earlier one, in the first half
    path = write(tmp_path / "early.jsonl", b"\n".join(lines) + b"\n")
    with pytest.raises(InputError) as caught:
        run_import(path, sink=ListSink(), strict=True, block_size=BLOCK, parallel_min_bytes=1)
    assert caught.value.problems[0].line == 101
    assert not _children()


def _children() -> list[str]:
    """Processes this one started that are still there."""
    found = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as handle:
            found += handle.read().split()
    return found


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs /proc")
def test_progress_and_cancelling_stop_both_processes(tmp_path: Path) -> None:
    lines = [orjson.dumps(r) for r in synthetic(3000)]
    path = write(tmp_path / "log.jsonl", b"\n".join(lines) + b"\n")
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> bool:
        seen.append((done, total))
        return True

    run_import(path, sink=ListSink(), block_size=BLOCK, parallel_min_bytes=1, progress=progress)
    size = path.stat().st_size
    assert seen[-1] == (size, size) and len(seen) > 5
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    calls = 0

    def stop_soon(done: int, total: int) -> bool:
        nonlocal calls
        calls += 1
        return calls < 3

    sink = ListSink()
    result = run_import(path, sink=sink, block_size=BLOCK, parallel_min_bytes=1, progress=stop_soon)
    assert result.cancelled and result.sha1 is None and 0 < result.imported < 3000
    assert sink.records == lines[: result.imported]
    assert result.end_offset == offsets_of(lines)[result.imported]
    assert not _children()
    assert not [t for t in threading.enumerate() if t.name.startswith("rewind-")]
    assert gc.isenabled()


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs /proc")
def test_cancelling_while_the_helper_runs_keeps_the_import_consistent(tmp_path: Path) -> None:
    """Once the helper's records went to the sink, a cancel stops it at its next batch and
    the result accounts for every record the sink got: it can be kept and resumed."""
    lines = [orjson.dumps(r) for r in synthetic(40_000)]
    data = b"\n".join(lines) + b"\n"
    path = write(tmp_path / "log.jsonl", data)
    size = len(data)
    offsets = offsets_of(lines)
    past_half = 0
    for share in (0.6, 0.75, 0.9):

        def progress(done: int, total: int, share: float = share) -> bool:
            return done < share * total

        sink = ListSink()
        result = run_import(
            path, sink=sink, block_size=16 << 10, parallel_min_bytes=1, progress=progress
        )
        assert result.imported == len(result.columns) == len(sink.records)
        assert sink.records == lines[: result.imported]
        assert result.columns.event_ids.tolist() == [f"evt-{i}" for i in range(result.imported)]
        if result.cancelled:
            assert result.sha1 is None
            assert result.end_offset == offsets[result.imported]
            past_half += result.end_offset > size // 2
            rest = ListSink()
            run_import(
                path,
                sink=rest,
                mapping=result.mapping,
                start_offset=result.end_offset,
                start_line=result.end_line,
                start_pos=result.imported,
                parallel_min_bytes=1,
            )
            assert sink.records + rest.records == lines
        assert not _children()
    assert past_half  # at least one cancel came after the helper's records were used


def test_without_a_helper_process_the_importer_parses_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "log.jsonl", b"\n".join(planted()) + b"\n")
    one, _ = both(path)
    monkeypatch.setattr(helper_process.sys, "executable", str(tmp_path / "no-python-here"))
    sink = ListSink()
    result = run_import(path, sink=sink, block_size=BLOCK, parallel_min_bytes=1)
    assert_same(one, (result, sink))


def test_a_workspace_gets_the_same_import_from_two_processes(tmp_path: Path) -> None:
    path = write(tmp_path / "log.jsonl", b"\n".join(planted(3000)) + b"\n")
    stored = []
    with Workspace.open(tmp_path / "ws.sqlite") as ws:
        for threshold in (None, 1):
            with ws.begin_import(path) as writer:
                result = run_import(
                    path, sink=writer, block_size=BLOCK, parallel_min_bytes=threshold
                )
                source = writer.finish(result)
            index = ws.log_state(source.id)[2]
            chunks = ws.read_chunks(source.id, source.generation, 0, int(index.chunk_nos[-1]))
            stored.append((chunks, [p.reason for p in ws.problems(source.id)]))
            ws.delete_source(source.id)
    assert stored[0][0] == stored[1][0]
    assert sorted(stored[0][1]) == sorted(stored[1][1])


# --- the writer thread -----------------------------------------------------------------------


def test_a_failing_writer_thread_surfaces_and_the_import_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workspace_import, "FLUSH_BYTES", 1)  # every chunk is a batch
    log = write(tmp_path / "log.jsonl", b'{"type":"T"}\n')
    with Workspace.open(tmp_path / "ws.sqlite", busy_timeout=0.05) as ws:
        writer = ws.begin_import(log)
        blocker = sqlite3.connect(tmp_path / "ws.sqlite", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another program holds the write lock
        with pytest.raises(WorkspaceError, match="locked by another program"):
            for i in range(50):  # the thread's failure shows at a later call
                writer.add_chunk(i, [b"{}"])
        blocker.execute("ROLLBACK")
        blocker.close()
        with pytest.raises(WorkspaceError, match="locked"):
            writer.flush()
        writer.abort()
        assert ws.find_source(log) is None
        assert not [t for t in threading.enumerate() if t.name == "rewind-import-writer"]
        with ws.begin_import(log) as again:  # a new import works normally
            result = run_import(log, sink=again, parallel_min_bytes=None)
            assert again.finish(result).event_count == 1


def test_the_writer_thread_writes_before_finish_makes_it_visible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workspace_import, "FLUSH_BYTES", 64)
    lines = [orjson.dumps(r) for r in synthetic(2500)]
    log = write(tmp_path / "log.jsonl", b"\n".join(lines) + b"\n")
    with Workspace.open(tmp_path / "ws.sqlite") as ws:
        with ws.begin_import(log) as writer:
            result = run_import(log, sink=writer, parallel_min_bytes=None)
            pending = ws.find_source(log)
            assert pending is not None and not pending.ready
            source = writer.finish(result)
        assert not [t for t in threading.enumerate() if t.name == "rewind-import-writer"]
        rows = ws.read_chunks(source.id, source.generation, 0, 10)
        assert [row[2] for row in rows] == [1024, 1024, 452]
        assert b"\n".join(row[4] for row in rows).split(b"\n") == lines


# --- the bulk loop's helpers -----------------------------------------------------------------


def test_duplicates_found_by_scanning_or_by_index_are_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(4)
    lines = [orjson.dumps(r) for r in synthetic(3000)]
    for i in rng.sample(range(100, 3000), 60):
        lines[i] = lines[rng.randrange(i)]
    path = write(tmp_path / "log.jsonl", b"\n".join(lines) + b"\n")
    reports = []
    for scanned in (0, 1_000_000):
        monkeypatch.setattr(importer, "SCANNED_DUPLICATE_BATCHES", scanned)
        sink = ListSink()
        run_import(path, sink=sink, block_size=BLOCK, parallel_min_bytes=None)
        reports.append([(p.line, p.reason) for p in sink.problems])
    assert reports[0] == reports[1] and len(reports[0]) >= 55


def _reference_big_integers(buf: bytes) -> list[int]:
    out = []
    for match in re.finditer(rb"\d{19,}", buf):
        start, end = match.span()
        before, after = buf[start - 1 : start] if start else b"", buf[end : end + 1]
        if before == b"." or after in (b".", b"e", b"E"):
            continue
        value = int(buf[start:end])
        if before == b"-":
            if -value < -(2**63):
                out.append(start - 1)
        elif value > 2**64 - 1:
            out.append(start)
    return out


def test_the_word_scan_finds_every_long_integer() -> None:
    rng = random.Random(11)
    scratch = new_scratch()
    for _ in range(3000):
        size = rng.randrange(1, 160)
        buf = bytes(
            rng.choice(b'x.-e" :?') if rng.random() < 0.12 else rng.choice(b"0123456789")
            for _ in range(size)
        )
        assert big_integer_offsets(buf, scratch) == _reference_big_integers(buf), buf


def test_columns_handed_over_by_finish_are_the_stored_ones(tmp_path: Path) -> None:
    """Opening a log right after its import reuses the columns ``finish`` wrote (once); they
    equal what a later open decodes from the workspace."""
    path = write(tmp_path / "log.jsonl", b"\n".join(planted()) + b"\n")
    with Workspace.open(tmp_path / "ws.sqlite") as ws:
        with ws.begin_import(path) as writer:
            result = run_import(path, sink=writer, parallel_min_bytes=None)
            source = writer.finish(result)
        handed = ws.log_state(source.id)[1]
        assert handed is result.columns
        decoded = ws.log_state(source.id)[1]  # the hand-over is used once
        assert decoded is not handed
    with Workspace.open(tmp_path / "ws.sqlite") as again:
        reopened = again.log_state(source.id)[1]
    for columns in (decoded, reopened):
        for name in ("stream_codes", "type_codes", "versions", "recorded_us", "processed_us"):
            stored = getattr(columns, name)
            assert stored.dtype == getattr(handed, name).dtype
            assert stored.tolist() == getattr(handed, name).tolist()
        assert columns.event_ids.tolist() == handed.event_ids.tolist()
        assert columns.stream_names == handed.stream_names
        assert columns.type_names == handed.type_names
