"""The path every foreign format takes: sniffed, converted once per content into Rewind's
cache, imported like a JSON Lines log, problems reported against the original input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO

import orjson
import pytest

from app.session import open_session
from models import converters
from models.converters.base import Conversion, ProgressFn, canonical_line
from models.problems import InputError, Problem


class PipeLog:
    """A made-up format: ``#pipes`` on the first line, then ``stream|type|amount``."""

    name = "pipes-test"
    description = "test format"

    def __init__(self) -> None:
        self.calls = 0

    def sniff(self, path: Path, head: bytes) -> bool:
        return head.startswith(b"#pipes\n")

    def convert(
        self, path: Path, out: IO[bytes], *, strict: bool, progress: ProgressFn | None
    ) -> Conversion:
        self.calls += 1
        result = Conversion()
        offset = 0
        for number, line in enumerate(path.read_bytes().splitlines(keepends=True), 1):
            text = line.decode().rstrip("\n")
            if number > 1:
                parts = text.split("|")
                if len(parts) != 3 or not parts[2].isdigit():
                    problem = Problem(str(path), number, offset, "expected stream|type|amount")
                    if strict:
                        raise InputError(f"{problem.location()}: {problem.reason}")
                    result.problems.append(problem)
                    result.skipped += 1
                else:
                    out.write(
                        canonical_line(
                            event_id=f"p{number}",
                            stream=parts[0],
                            event_type=parts[1],
                            data={"amount": int(parts[2])},
                            version=None,
                        )
                    )
                    result.records += 1
            offset += len(line)
        return result


@pytest.fixture
def pipes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[PipeLog]:
    monkeypatch.setenv("REWIND_DATA_DIR", str(tmp_path / "data"))
    converter = PipeLog()
    monkeypatch.setattr(converters, "_REGISTRY", [converter])
    yield converter


def test_a_converted_log_opens_with_problems_at_their_original_place(
    pipes: PipeLog, tmp_path: Path
) -> None:
    log = tmp_path / "shop.pipes"
    log.write_bytes(b"#pipes\na|Paid|5\nbroken line\nb|Paid|7\n")
    before = log.read_bytes(), log.stat().st_mtime_ns
    session = open_session(log, workspace=tmp_path / "ws.sqlite")
    assert session.name == "shop.pipes"
    assert [(e.stream, e.type, e.data) for e in session.log.iter_events()] == [
        ("a", "Paid", {"amount": 5}),
        ("b", "Paid", {"amount": 7}),
    ]
    assert [(p.file, p.line, p.offset) for p in session.problems] == [(str(log), 3, 16)]
    assert session.import_info["format"] == "pipes-test"
    assert session.import_info["records_read"] == 3 and session.import_info["skipped"] == 1
    session.close()
    # reopened unchanged: no second conversion, same problems
    again = open_session(log, workspace=tmp_path / "ws.sqlite")
    assert pipes.calls == 1 and [p.line for p in again.problems] == [3]
    assert again.import_info["change"] == "unchanged"
    again.close()
    assert (log.read_bytes(), log.stat().st_mtime_ns) == before
    # changed: converted again
    log.write_bytes(b"#pipes\na|Paid|5\nc|Refunded|2\n")
    third = open_session(log, workspace=tmp_path / "ws.sqlite")
    assert pipes.calls == 2 and third.problems == []
    assert [e.type for e in third.log.iter_events()] == ["Paid", "Refunded"]
    third.close()


def test_strict_stops_at_the_first_bad_record_and_caches_nothing(
    pipes: PipeLog, tmp_path: Path
) -> None:
    log = tmp_path / "bad.pipes"
    log.write_bytes(b"#pipes\na|Paid|x\n")
    with pytest.raises(InputError, match=r"bad.pipes:2"):
        open_session(log, workspace=tmp_path / "ws.sqlite", strict=True)
    assert not list(converters.cache_dir().glob("*.jsonl"))


def test_a_plain_log_is_not_converted(pipes: PipeLog, tmp_path: Path) -> None:
    log = tmp_path / "plain.jsonl"
    log.write_bytes(canonical_line(event_id="1", stream="s", event_type="T", data={}))
    session = open_session(log, workspace=tmp_path / "ws.sqlite")
    assert pipes.calls == 0 and session.import_info["format"] == "jsonl"
    session.close()


def test_canonical_times_are_written_as_the_export_writes_them() -> None:
    from models.event import format_us

    for us in (1_741_000_000_000_000, 1_741_000_000_123_456, 1_741_000_000_100_000, -5):
        line = canonical_line(event_id="1", stream="s", event_type="T", data=None, recorded_us=us)
        assert orjson.loads(line)["recorded_at"] == format_us(us)


def test_a_changed_input_stays_the_same_log_with_its_branches(
    pipes: PipeLog, tmp_path: Path
) -> None:
    """Re-exported with more records, a converted log keeps its workspace source: branches,
    bookmarks and breakpoints stay with it (the cache file keeps its name)."""
    log = tmp_path / "grow.pipes"
    log.write_bytes(b"#pipes\na|Paid|5\nb|Paid|7\n")
    session = open_session(log, workspace=tmp_path / "ws.sqlite")
    session.create_branch("fix")
    session.set_bookmark(1, "look here")
    session.close()
    log.write_bytes(b"#pipes\na|Paid|5\nb|Paid|7\nc|Refunded|2\n")
    again = open_session(log, workspace=tmp_path / "ws.sqlite")
    assert pipes.calls == 2 and len(again.log) == 3
    assert "fix" in again.engine.branches() and again.bookmarks() == {"@1": "look here"}
    again.close()
    assert len(list(converters.cache_dir().glob("grow.pipes.*.jsonl"))) == 1


def test_strict_sees_the_problems_of_a_cached_conversion(pipes: PipeLog, tmp_path: Path) -> None:
    log = tmp_path / "bad.pipes"
    log.write_bytes(b"#pipes\na|Paid|5\nbroken\n")
    open_session(log, workspace=tmp_path / "ws.sqlite").close()  # lenient: cached
    with pytest.raises(InputError, match=r"bad.pipes:3"):
        open_session(log, workspace=tmp_path / "ws.sqlite", strict=True)
