"""The workspace wired to the real import loop: the glue the application uses."""

from __future__ import annotations

from pathlib import Path

from models.decode import make_decoder
from models.importer import run_import
from models.mapping import FieldMapping
from models.readers import Format
from models.workspace import Source, Workspace
from models.workspace_change import classify_change
from models.workspace_log import RecordDecoder, WorkspaceLog

LINES = [
    b'{"id":"a1","stream":"konto-\xc3\xa4","type":"Opened","version":1,"data":{"n":1}}',
    b'{"id":"a2","stream":"konto-\xc3\xa4","type":"Deposited","version":2,"data":{"n":2}}',
    b"not json at all",
    b'{"id":"b1","stream":"other","type":"Opened","data":{"n":3}}',
]
MORE = [
    b'{"id":"b2","stream":"other","type":"Closed","version":2,"data":{"n":4}}',
    b'{"id":"c1","stream":"third","type":"Opened","data":{"n":5}}',
]


def decoder_for(source: Source) -> RecordDecoder:
    """The read path the app uses, bound to the stored mapping (source events: key = pos)."""
    return make_decoder(FieldMapping.from_json(source.mapping))


def import_into(ws: Workspace, path: Path) -> Source:
    with ws.begin_import(path) as writer:
        result = run_import(path, sink=writer, start_pos=writer.start_pos)
        return writer.finish(result)


def append_grown(ws: Workspace, source: Source, path: Path) -> Source:
    """Import what was appended to ``path`` since ``source`` was imported."""
    log = WorkspaceLog(ws, source.id, decoder_for(source))
    with ws.begin_append(source.id) as writer:
        result = run_import(
            path,
            sink=writer,
            fmt=source.format,
            mapping=FieldMapping.from_json(source.mapping),
            start_offset=writer.start_offset,
            start_line=writer.start_line,
            start_pos=writer.start_pos,
            previous_ids=log.columns.event_ids.tolist(),
            previous_raw=log.raw,
        )
        return writer.finish(result)


def test_import_and_read_with_the_real_importer(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(LINES) + b"\n")
    with Workspace.open(tmp_path / "ws.sqlite") as ws:
        source = import_into(ws, path)
        assert (source.event_count, source.skipped, source.problem_count) == (3, 1, 1)
        assert source.format == Format.JSONL and not source.compressed
        assert classify_change(source, path) == "unchanged"
        (problem,) = ws.problems(source.id)
        assert problem.line == 3 and "not valid JSON" in problem.reason

        log = WorkspaceLog(ws, source.id, decoder_for(source))
        events = list(log.iter_events())
        assert [(e.pos, e.event_id, e.stream, e.data) for e in events] == [
            (0, "a1", "konto-ä", {"n": 1}),
            (1, "a2", "konto-ä", {"n": 2}),
            (2, "b1", "other", {"n": 3}),
        ]
        assert log.events(1, 3) == events[1:]


def test_append_a_grown_log_with_the_real_importer(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(LINES) + b"\n")
    with Workspace.open(tmp_path / "ws.sqlite") as ws:
        source = import_into(ws, path)
        with open(path, "ab") as handle:  # the log grows
            handle.write(b"\n".join(MORE) + b"\n")
        assert classify_change(source, path) == "grown"
        grown = append_grown(ws, source, path)
        assert grown.event_count == 5 and grown.records_read == 6
        assert classify_change(grown, path) == "unchanged"
        log = WorkspaceLog(ws, source.id, decoder_for(grown))
        assert log.columns.stream_names == ["konto-ä", "other", "third"]
        assert log.columns.type_names == ["Opened", "Deposited", "Closed"]
        assert [(e.pos, e.event_id, e.type) for e in log.iter_events(2)] == [
            (2, "b1", "Opened"),
            (3, "b2", "Closed"),
            (4, "c1", "Opened"),
        ]


def _fresh_log(ws: Workspace, source: Source) -> WorkspaceLog:
    return WorkspaceLog(ws, source.id, decoder_for(source), cache_chunks=1)


def test_record_offsets_cut_single_records_out_of_chunks(tmp_path: Path) -> None:
    from models.generator import generate
    from models.workspace_schema import columns

    path = tmp_path / "shop.jsonl"
    generate(path, events=3000, seed=6)  # three chunks of 1,024 records
    with Workspace.open(tmp_path / "ws.sqlite") as ws:
        source = import_into(ws, path)
        offsets = ws.record_offsets(source)
        assert offsets is not None and offsets.shape == (3000,)
        wanted = [0, 1, 5, 1023, 1024, 1025, 2047, 2048, 2999]
        log = _fresh_log(ws, source)
        expected = [log.event(p) for p in wanted]  # whole chunks, through the cache
        sliced = _fresh_log(ws, source)
        assert sliced.events_at(wanted) == expected
        assert sliced.cached_chunks() == []  # cut from the stored chunks, nothing cached
        # Where the workspace has no offsets (written before they existed), whole chunks.
        with ws.write() as conn:
            conn.execute(columns.delete().where(columns.c.name == "record_offsets"))
        assert ws.record_offsets(source) is None
        assert _fresh_log(ws, source).events_at(wanted) == expected


def test_an_append_extends_the_record_offsets(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(LINES) + b"\n")
    with Workspace.open(tmp_path / "ws.sqlite") as ws:
        source = import_into(ws, path)
        with open(path, "ab") as handle:
            handle.write(b"\n".join(MORE) + b"\n")
        grown = append_grown(ws, source, path)
        offsets = ws.record_offsets(grown)
        assert offsets is not None and offsets.tolist()[3:] == [0, len(MORE[0]) + 1]
        grown_log = _fresh_log(ws, grown)
        assert [e.event_id for e in grown_log.events_at([0, 2, 3, 4])] == ["a1", "b1", "b2", "c1"]
