"""Change detection of imported logs, default workspace locations, and the promise that the
source log is never written."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import pytest
import xxhash

from models.digest import prefix_digest
from models.paths import DATA_DIR_ENV, default_workspace_for
from models.workspace import Source, Workspace
from models.workspace_change import classify_change, file_identity
from models.workspace_log import WorkspaceLog
from tests.unit.test_workspace_support import (
    decode,
    facts_for,
    feed,
    import_log,
    make_events,
    read_only,
    write_log,
)


@pytest.fixture
def imported(tmp_path: Path) -> tuple[Path, Source]:
    path = tmp_path / "log.jsonl"
    with Workspace.open(tmp_path / "ws.sqlite") as ws:
        source = import_log(ws, path, make_events(30))
    return path, source


def test_file_identity_and_prefix_digests(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    data = os.urandom(3 << 20)
    path.write_bytes(data)
    size, mtime_ns = file_identity(path)
    assert size == len(data) and mtime_ns == path.stat().st_mtime_ns

    def xxh(part: bytes) -> str:
        return "xxh3-128:" + xxhash.xxh3_128(part).hexdigest()

    assert prefix_digest(path, 1_234_567) == xxh(data[:1_234_567])
    assert prefix_digest(path, len(data) + 10) == prefix_digest(path, None) == xxh(data)
    assert prefix_digest(path, 0) == xxh(b"")
    # A digest stored by an earlier Rewind is a plain SHA-1, and is compared as one.
    legacy = hashlib.sha1(data[:1_234_567]).hexdigest()
    assert prefix_digest(path, 1_234_567, like=legacy) == legacy
    assert prefix_digest(path, 1_234_567, like=xxh(b"")) == xxh(data[:1_234_567])


def test_a_workspace_from_before_the_new_digest_keeps_its_import(
    imported: tuple[Path, Source],
) -> None:
    path, source = imported
    assert source.sha1.startswith("xxh3-128:")
    old = dataclasses.replace(source, sha1=hashlib.sha1(path.read_bytes()).hexdigest())
    os.utime(path, ns=(source.mtime_ns + 10**9, source.mtime_ns + 10**9))
    assert classify_change(old, path) == "unchanged"  # touched: hashed, the same
    write_log(path, make_events(5, start=30), append=True)
    assert classify_change(old, path) == "grown"
    path.write_bytes(path.read_bytes().replace(b"evt", b"EVT", 1))
    assert classify_change(old, path) == "changed"


def test_unchanged(imported: tuple[Path, Source]) -> None:
    path, source = imported
    assert classify_change(source, path) == "unchanged"
    # same size and mtime is trusted without hashing: a wrong stored hash goes unnoticed
    assert classify_change(dataclasses.replace(source, sha1="0" * 40), path) == "unchanged"
    # only touched: hashing shows the content is the same
    os.utime(path, ns=(source.mtime_ns + 10**9, source.mtime_ns + 10**9))
    assert classify_change(source, path) == "unchanged"


def test_grown(imported: tuple[Path, Source]) -> None:
    path, source = imported
    write_log(path, make_events(5, start=30), append=True)
    assert classify_change(source, path) == "grown"
    assert classify_change(source) == "grown"  # the stored path by default


@pytest.mark.parametrize("fmt", ["jsonl.gz", "cloudevents-batch", "json-array"])
def test_growth_of_a_whole_document_format_is_a_change(
    imported: tuple[Path, Source], fmt: str
) -> None:
    path, source = imported
    write_log(path, make_events(5, start=30), append=True)
    assert classify_change(dataclasses.replace(source, format=fmt), path) == "changed"


def test_growth_of_a_gzip_file_is_a_change(imported: tuple[Path, Source]) -> None:
    path, source = imported
    write_log(path, make_events(5, start=30), append=True)
    assert classify_change(dataclasses.replace(source, compressed=True), path) == "changed"
    gz = path.with_suffix(".jsonl.gz")
    gz.write_bytes(path.read_bytes() + b"more")
    assert classify_change(source, gz) == "changed"


def test_changed(imported: tuple[Path, Source]) -> None:
    path, source = imported
    data = bytearray(path.read_bytes())
    data[10] ^= 1
    path.write_bytes(bytes(data))  # same size, other content
    assert classify_change(source, path) == "changed"
    path.write_bytes(bytes(data) + b"{}\n")  # grown, but the old part changed too
    assert classify_change(source, path) == "changed"
    path.write_bytes(bytes(data[:-5]))  # shrunk
    assert classify_change(source, path) == "changed"


def test_missing(imported: tuple[Path, Source]) -> None:
    path, source = imported
    path.unlink()
    assert classify_change(source, path) == "missing"


def test_the_source_log_is_never_written(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    events = make_events(50)
    write_log(path, events)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    with read_only(path), Workspace.open(tmp_path / "ws.sqlite") as ws:
        with ws.begin_import(path) as writer:
            feed(writer, events)
            source = writer.finish(facts_for(path, events, 50))
        assert classify_change(source, path) == "unchanged"
        os.utime(path, ns=(1, 1))
        assert classify_change(source, path) == "unchanged"  # hashed, still only read
        os.utime(path, ns=(before[1], before[1]))
        assert list(WorkspaceLog(ws, source.id, decode).iter_events()) == events
        ws.delete_source(source.id)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_default_workspace_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))
    a = default_workspace_for(tmp_path / "x" / "orders events.jsonl")
    b = default_workspace_for(tmp_path / "y" / "orders events.jsonl")
    assert a.parent == b.parent == tmp_path / "data" / "workspaces"
    assert a != b  # same name, other folder: another workspace
    assert a.name.startswith("orders_events.jsonl-") and a.name.endswith(".rewind.sqlite")
    # one spelling per file: relative and dotted paths give the same workspace
    monkeypatch.chdir(tmp_path)
    assert default_workspace_for(Path("x") / ".." / "x" / "orders events.jsonl") == a
    assert default_workspace_for("日本語: log?.jsonl").name.startswith("日本語_log_.jsonl-")
    with Workspace.open(a) as ws:  # the folders are created on open
        assert ws.sources() == []
    assert a.exists()


def test_default_data_dir_without_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    path = default_workspace_for("/some/where/log.jsonl")
    assert "Rewind" in str(path) and path.parent.name == "workspaces"
