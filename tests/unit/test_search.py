"""Filters over a branch's events (app.search) and ``main.py query``."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import orjson
import pytest

from app.cli import main
from app.search import Filter, document, matching_rows
from app.session import open_session
from models.edits import Edit, EditKind
from models.generator import generate
from models.timeparse import parse_timestamp
from replay_engine.branches import BranchSpec
from replay_engine.query import ExpressionError, compile_expression, truthy


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("search")
    log = folder / "shop.jsonl"
    generate(log, events=1500, seed=6)
    session = open_session(log, workspace=folder / "ws.sqlite")
    yield log, session
    session.close()


def brute(session, branch: str, f: Filter) -> list[int]:  # type: ignore[no-untyped-def]
    """The same filter the slow way: every event, every field in Python."""
    engine = session.engine
    expression = compile_expression(f.where) if f.where else None
    out = []
    for row in range(engine.row_count(branch)):
        e = engine.event_at(branch, row)
        if f.types and not any(fnmatch.fnmatchcase(e.type, g.strip()) for g in f.types.split(",")):
            continue
        globs = [g.strip() for g in (f.streams or "").split(",") if g.strip()]
        if globs and not any(fnmatch.fnmatchcase(e.stream, g) for g in globs):
            continue
        if f.since_us is not None and (e.recorded_us is None or e.recorded_us < f.since_us):
            continue
        if f.until_us is not None and (e.recorded_us is None or e.recorded_us >= f.until_us):
            continue
        body = orjson.dumps([e.data, e.metadata]).lower()
        if f.text and f.text.lower().encode() not in body:
            continue
        if expression is not None and not truthy(expression.search(document(e))):
            continue
        out.append(row)
    return out


def _jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


FILTERS = [
    Filter(where="data.amount > `2000` && type == 'PaymentCharged'"),  # payloads only
    Filter(streams="sku-*, cust*", where="data.qty > `1`"),
    Filter(types="Payment*"),
    Filter(types="OrderPlaced, OrderShipped", streams="order-00001*"),
    Filter(streams="customer-*", where="data.amount > `2000`"),
    Filter(where="metadata.service == 'payments' && data.currency == 'GBP'"),
    Filter(text="mug"),
    Filter(
        since_us=parse_timestamp("2025-03-03T12:00:00Z"),
        until_us=parse_timestamp("2025-03-03T14:00:00Z"),
        types="Stock*",
    ),
]


@pytest.mark.parametrize("f", FILTERS, ids=lambda f: f.describe())
def test_filters_match_a_scan_of_every_event(shop, f: Filter) -> None:  # type: ignore[no-untyped-def]
    _log, session = shop
    rows = matching_rows(session.engine, "main", f).tolist()
    assert rows == brute(session, "main", f)
    assert rows, "a filter that matches nothing proves little"


def test_edited_and_inserted_events_are_checked_on_their_new_version(shop) -> None:  # type: ignore[no-untyped-def]
    _log, session = shop
    engine = session.engine
    name = "search-edit"
    if name not in engine.branches():
        engine.add_branch(BranchSpec(name, "main", None, 0))
        engine.append_edit(name, Edit(EditKind.EDIT, 5, changes={"type": "Renamed"}))
    rows = matching_rows(engine, name, Filter(types="Renamed")).tolist()
    assert rows == [5]
    assert 5 not in matching_rows(engine, name, Filter(types=engine.event_at("main", 5).type))


BRANCH_FILTERS = [
    Filter(where="data.amount > `2000` && type == 'PaymentCharged'"),
    Filter(where="type == 'Renamed' || data.note == 'inserted'"),
    Filter(where="metadata.service == 'payments'"),
    Filter(text="mug"),
    Filter(text='"currency":"gbp"'),  # JSON punctuation: no raw pre-filter, same answer
    Filter(types="Order*", where="stream == 'order-000003'"),
]


@pytest.mark.parametrize("f", BRANCH_FILTERS, ids=lambda f: f.describe())
def test_a_branch_that_drops_edits_inserts_and_moves_is_searched_as_shown(shop, f: Filter) -> None:  # type: ignore[no-untyped-def]
    _log, session = shop
    engine = session.engine
    name = "search-all-edits"
    if name not in engine.branches():
        engine.add_branch(BranchSpec(name, "main", None, 0))
        payment = next(r for r in range(200) if engine.event_at("main", r).type == "PaymentCharged")
        for edit in (
            Edit(EditKind.DROP, 3),
            Edit(EditKind.EDIT, 7, changes={"type": "Renamed"}),
            Edit(EditKind.EDIT, payment, changes={"data": {"amount": 999999}}),
            Edit(
                EditKind.INSERT,
                target=-1,
                after=10,
                event={
                    "stream": "order-000003",
                    "type": "OrderNoted",
                    "data": {"note": "inserted"},
                },
            ),
            Edit(EditKind.MOVE, target=40, after=2),
        ):
            engine.append_edit(name, edit)
    rows = matching_rows(engine, name, f).tolist()
    assert rows == brute(session, name, f)
    assert rows


def test_escaped_json_is_searched_like_plain_json(tmp_path: Path) -> None:
    """The raw records are pre-filtered by the keys and strings a query names; a record that
    spells them with escapes must still be found."""
    log = _jsonl(
        tmp_path / "escaped.jsonl",
        [
            '{"id":"a","stream":"s","type":"T","data":{"amount":5},"metadata":{"service":"payments"}}',
            '{"id":"b","stream":"s","type":"T","data":{"\\u0061mount":6},"metadata":{"service":"pay\\u006dents"}}',
            '{"id":"c","stream":"s","type":"T","data":{"total":7},"metadata":{"service":"orders"}}',
            '{"id":"d","stream":"s","type":"T","data":{"amount":"8"},"metadata":"payments"}',
        ],
    )
    session = open_session(log, workspace=tmp_path / "ws.sqlite")
    try:
        engine = session.engine
        assert matching_rows(engine, "main", Filter(where="data.amount > `1`")).tolist() == [0, 1]
        assert matching_rows(
            engine, "main", Filter(where="metadata.service == 'payments'")
        ).tolist() == [0, 1]
        assert matching_rows(engine, "main", Filter(text="PAYMENTS")).tolist() == [0, 1, 3]
        assert matching_rows(
            engine, "main", Filter(where="metadata.value == 'payments'")
        ).tolist() == [3]
        assert matching_rows(engine, "main", Filter(where="metadata.value")).tolist() == [3]
        assert matching_rows(engine, "main", Filter(text="value")).tolist() == [3]
    finally:
        session.close()


def test_free_text_is_found_as_the_check_sees_it(tmp_path: Path) -> None:
    """The check lowercases the text as a string and the JSON as bytes; the decoder adds
    "null" for a missing payload and "value" around a scalar metadata: the raw pre-filter
    must let all of these through."""
    log = _jsonl(
        tmp_path / "text.jsonl",
        [
            '{"id":"a","stream":"s","type":"T","data":{"name":"émile"},"metadata":{}}',
            '{"id":"b","stream":"s","type":"T","metadata":{}}',
            '{"id":"c","stream":"s","type":"T","data":{"unit":"k"},"metadata":"m"}',
            '{"id":"d","stream":"s","type":"T","data":{"name":"ÉMILE"},"metadata":{}}',
        ],
    )
    session = open_session(log, workspace=tmp_path / "ws.sqlite")
    try:
        engine = session.engine
        for text, rows in [
            ("Émile", [0]),  # the check looks for "émile": the record spelled in capitals is not it
            ("null", [1]),
            ("ul", [1]),
            ("\u212a", [2]),  # the Kelvin sign lowercases to "k"
            ("alu", [2]),
        ]:
            got = matching_rows(engine, "main", Filter(text=text)).tolist()
            assert got == brute(session, "main", Filter(text=text)) == rows, text
    finally:
        session.close()


def test_a_helper_reads_a_workspace_whose_path_needs_quoting(  # type: ignore[no-untyped-def]
    tmp_path: Path, monkeypatch
) -> None:
    import app.search as search

    folder = tmp_path / "a#b?c%d"
    folder.mkdir()
    log = folder / "shop.jsonl"
    generate(log, events=600, seed=3)
    session = open_session(log, workspace=folder / "ws.sqlite")
    try:
        monkeypatch.setattr(search, "HELPER_MIN_EVENTS", 100)
        f = Filter(where="metadata.service == 'payments'")
        assert matching_rows(session.engine, "main", f).tolist() == brute(session, "main", f)
        assert not (tmp_path / "a").exists()  # no stray database where the URI was cut
    finally:
        session.close()


def test_progress_is_reported_and_cancel_stops(shop) -> None:  # type: ignore[no-untyped-def]
    from replay_engine.errors import Cancelled

    engine = shop[1].engine
    for where in ("data.amount > `1`", "metadata.service == 'payments'"):
        calls: list[int] = []

        def progress(done: int, _total: int, calls: list[int] = calls) -> bool:
            calls.append(done)
            return True

        matching_rows(engine, "main", Filter(where=where), progress)
        assert calls, where
        with pytest.raises(Cancelled):
            matching_rows(engine, "main", Filter(where=where), lambda d, n: False)


def test_a_bad_query_says_so(shop) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ExpressionError):
        matching_rows(shop[1].engine, "main", Filter(where="data.amount >"))


def test_query_command(shop, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    log, session = shop
    ws = str(tmp_path / "q.sqlite")
    code = main(["query", str(log), "--type", "Payment*", "--where", "data.amount > 20000",
                 "--json", "--workspace", ws])  # fmt: skip
    out = orjson.loads(capsys.readouterr().out)
    assert code == 0
    expected = brute(session, "main", Filter(types="Payment*", where="data.amount > `20000`"))
    assert out["count"] == len(expected)
    assert [e["row"] for e in out["events"]] == expected[:100]
    assert all(e["data"]["amount"] > 20000 for e in out["events"])
    with pytest.raises(SystemExit) as failed:
        main(["query", str(log), "--where", "data.amount >", "--workspace", ws])
    assert failed.value.code == 2 and "--where" in capsys.readouterr().err


@pytest.mark.parametrize("f", FILTERS[:2] + FILTERS[4:7], ids=lambda f: f.describe())
def test_a_helper_process_checks_the_last_part_with_the_same_answer(  # type: ignore[no-untyped-def]
    shop, f: Filter, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.search as search
    from app.search_helper import SearchProcess

    started: list[SearchProcess] = []
    start = SearchProcess.start

    def spy(job):  # type: ignore[no-untyped-def]
        helper = start(job)
        started.append(helper)
        return helper

    monkeypatch.setattr(search, "HELPER_MIN_EVENTS", 100)
    monkeypatch.setattr(SearchProcess, "start", staticmethod(spy))
    _log, session = shop
    calls: list[tuple[int, int]] = []
    rows = matching_rows(session.engine, "main", f, lambda d, n: calls.append((d, n)) or True)
    assert rows.tolist() == brute(session, "main", f)
    if f.needs_payload():
        assert started and started[0] is not None and started[0].finished
        done = [d for d, _n in calls]
        assert done == sorted(done) and done[-1] == calls[-1][1]  # its progress counted in


def test_a_search_whose_helper_fails_checks_that_part_itself(shop, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import app.search as search
    from app.search_helper import SearchProcess

    monkeypatch.setattr(search, "HELPER_MIN_EVENTS", 100)
    monkeypatch.setattr(SearchProcess, "ENTRY", "import sys; sys.exit(3)")
    f = Filter(where="metadata.service == 'payments' && data.currency == 'GBP'")
    calls: list[int] = []
    rows = matching_rows(shop[1].engine, "main", f, lambda d, n: calls.append(d) or True)
    assert rows.tolist() == brute(shop[1], "main", f) and rows.size
    assert calls == sorted(calls)  # progress never goes back


def test_cancelling_a_search_stops_its_helper(shop, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import app.search as search
    from app.search_helper import SearchProcess
    from replay_engine.errors import Cancelled

    helpers: list[SearchProcess] = []
    start = SearchProcess.start
    monkeypatch.setattr(search, "HELPER_MIN_EVENTS", 100)
    monkeypatch.setattr(
        SearchProcess, "start", staticmethod(lambda job: helpers.append(start(job)) or helpers[-1])
    )
    with pytest.raises(Cancelled):
        matching_rows(shop[1].engine, "main", Filter(where="data.amount > `1`"), lambda d, n: False)
    assert helpers and helpers[0]._process.poll() is not None  # ended and reaped
