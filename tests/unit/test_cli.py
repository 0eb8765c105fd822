"""The headless commands, end to end: a generated log, a real SQLite workspace, main.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from app.cli import main
from models.generator import GeneratedLog, generate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GeneratedLog]:
    path = tmp_path_factory.mktemp("logs") / "shop.jsonl"
    summary = generate(path, events=800, seed=11)
    return path, summary


@pytest.fixture
def ws(tmp_path: Path) -> str:
    return str(tmp_path / "ws.sqlite")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse and usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = run(capsys, *args)
    assert code == 0, err
    return orjson.loads(out)


def test_inspect_reports_counts_from_the_log(shop, ws, capsys) -> None:
    path, summary = shop
    report = run_json(capsys, "inspect", str(path), "--workspace", ws, "--json")
    assert report["events"] == summary.events
    assert report["types"] == dict(summary.counts)
    assert report["streams"] == summary.streams
    assert report["skipped"] == 0
    assert report["records_read"] == report["events"] + report["skipped"]
    first = report["time_range"]["first"]
    assert first.startswith("20") and first.endswith("Z")
    # the planted exact re-delivery is reported as a warning, with its line and offset
    dup = summary.redeliveries[0]
    warnings = [p for p in report["problems"] if p["severity"] == "warning"]
    assert any(p["line"] == dup.positions[1] + 1 and p["offset"] > 0 for p in warnings)


def test_inspect_bad_records_are_listed_and_counts_add_up(tmp_path, ws, capsys) -> None:
    log = tmp_path / "bad.jsonl"
    good = b'{"id": "a", "stream": "s-1", "type": "Created", "data": {"n": 1}}\n'
    log.write_bytes(good + b"{not json\n" + b"[1, 2]\n" + good.replace(b'"a"', b'"b"'))
    before = (log.read_bytes(), log.stat().st_mtime_ns)
    report = run_json(capsys, "inspect", str(log), "--workspace", ws, "--json")
    assert report["events"] == 2 and report["skipped"] == 2 and report["records_read"] == 4
    lines = sorted(p["line"] for p in report["problems"] if p["severity"] == "error")
    assert lines == [2, 3]
    offsets = sorted(p["offset"] for p in report["problems"] if p["severity"] == "error")
    assert offsets == [len(good), len(good) + len(b"{not json\n")]
    assert (log.read_bytes(), log.stat().st_mtime_ns) == before  # never written


def test_strict_stops_with_exit_3_and_the_location(tmp_path, ws, capsys) -> None:
    log = tmp_path / "bad.jsonl"
    log.write_bytes(b'{"id": "a", "stream": "s", "type": "T"}\n{oops\n')
    code, _, err = run(capsys, "inspect", str(log), "--workspace", ws, "--strict")
    assert code == 3
    assert "bad.jsonl:2" in err


def test_missing_log_is_an_input_error(tmp_path, ws, capsys) -> None:
    code, _, err = run(capsys, "inspect", str(tmp_path / "nope.jsonl"), "--workspace", ws)
    assert code == 3 and "nope.jsonl" in err and "Traceback" not in err


def test_state_is_keyed_by_stream_and_follows_the_log(shop, ws, capsys) -> None:
    path, summary = shop
    bug = summary.double_charge
    assert bug is not None
    end = run_json(capsys, "state", str(path), "--workspace", ws)
    assert set(end) == set(_streams(path))
    first_debit, second_debit = bug.debit_positions
    after_first = run_json(
        capsys,
        "state",
        str(path),
        "--workspace",
        ws,
        "--at",
        str(first_debit),
        "--path",
        f"{bug.customer}.data.balance",
    )
    after_second = run_json(
        capsys,
        "state",
        str(path),
        "--workspace",
        ws,
        "--at",
        f"@{second_debit}",
        "--path",
        f"{bug.customer}.data.balance",
    )
    assert after_first - after_second == bug.amount  # debited twice
    initial = run_json(capsys, "state", str(path), "--workspace", ws, "--at", "-1")
    assert initial == {}


def test_a_branch_that_drops_the_double_charge(shop, ws, capsys) -> None:
    path, summary = shop
    bug = summary.double_charge
    assert bug is not None
    p, w = str(path), ws
    assert run(capsys, "branch", p, "--workspace", w, "create", "fix")[0] == 0
    second_charge, second_debit = bug.charge_positions[1], bug.debit_positions[1]
    assert run(capsys, "branch", p, "--workspace", w, "drop", "fix", f"@{second_charge}")[0] == 0
    # by event id, as a user copies it from the log
    assert run(capsys, "branch", p, "--workspace", w, "drop", "fix", bug.debit_ids[1])[0] == 0
    listed = run_json(capsys, "branch", p, "--workspace", w, "list", "--json")
    fix = next(b for b in listed if b["name"] == "fix")
    assert fix["edits"] == 2 and fix["parent"] == "main"

    path_arg = f"{bug.customer}.data.balance"
    main_bal = run_json(
        capsys, "state", p, "--workspace", w, "--at", f"@{second_debit}", "--path", path_arg
    )
    fix_bal = run_json(
        capsys,
        "state",
        p,
        "--workspace",
        w,
        "--branch",
        "fix",
        "--at",
        f"@{second_debit}",
        "--path",
        path_arg,
    )
    assert fix_bal - main_bal == bug.amount

    report = run_json(
        capsys, "diff", p, "--workspace", w, f"main@{second_debit}", f"fix@{second_debit}", "--json"
    )
    paths = {c["path"] for c in report["changes"]}
    assert f"{bug.customer}.data.balance" in paths
    assert report["first_divergence"]["event"] == f"@{second_charge}"

    # undo restores the debit: the states agree again at that point
    assert run(capsys, "branch", p, "--workspace", w, "undo", "fix")[0] == 0
    again = run_json(
        capsys,
        "state",
        p,
        "--workspace",
        w,
        "--branch",
        "fix",
        "--at",
        f"@{second_debit}",
        "--path",
        path_arg,
    )
    assert again == main_bal


def test_edit_insert_move_and_export_round_trip(shop, ws, tmp_path, capsys) -> None:
    path, _ = shop
    p, w = str(path), ws
    assert run(capsys, "branch", p, "--workspace", w, "create", "exp", "--at", "@10")[0] == 0
    ok = run(
        capsys, "branch", p, "--workspace", w, "edit", "exp", "@20", "--data", '{"note": "edited"}'
    )
    assert ok[0] == 0, ok[2]
    new = '{"stream": "audit-1", "type": "Audited", "data": {"by": "rewind"}}'
    code, out, err = run(
        capsys,
        "branch",
        p,
        "--workspace",
        w,
        "insert",
        "exp",
        "--after",
        "@30",
        "--event",
        new,
        "--json",
    )
    assert code == 0, err
    inserted = orjson.loads(out)["key"]
    assert (
        run(capsys, "branch", p, "--workspace", w, "move", "exp", "@40", "--after", "@11")[0] == 0
    )
    # edits before the fork point are refused with a clear message
    code, _, err = run(capsys, "branch", p, "--workspace", w, "drop", "exp", "@5")
    assert code == 2 and "@5" in err

    state = run_json(capsys, "state", p, "--workspace", w, "--branch", "exp")
    assert state["audit-1"]["data"] == {"by": "rewind"}
    out_file = tmp_path / "exp.jsonl"
    assert (
        run(capsys, "export", p, "--workspace", w, "--branch", "exp", "--out", str(out_file))[0]
        == 0
    )
    lines = out_file.read_bytes().splitlines()
    records = [orjson.loads(line) for line in lines]
    assert len(records) == _count(path) + 1
    assert records[12]["id"] == _line(path, 40)["id"]  # moved right after @11 (row 11)
    assert any(r["type"] == "Audited" for r in records)
    # the exported log opens in Rewind and computes the branch's state
    reimported = run_json(
        capsys, "state", str(out_file), "--workspace", str(tmp_path / "ws2.sqlite")
    )
    assert reimported == state
    assert inserted.startswith("@+")


def test_export_cloudevents_is_read_by_the_sdk(shop, ws, tmp_path, capsys) -> None:
    from cloudevents.core.formats.json import JSONFormat

    path, _ = shop
    out_file = tmp_path / "ce.jsonl"
    code, _, err = run(
        capsys,
        "export",
        str(path),
        "--workspace",
        ws,
        "--out",
        str(out_file),
        "--format",
        "cloudevents",
    )
    assert code == 0, err
    lines = out_file.read_bytes().splitlines()
    assert len(lines) == _count(path)
    fmt = JSONFormat()
    first = fmt.read(None, lines[0])
    assert first.get_type() == _line(path, 0)["type"]
    assert first.get_subject() == _line(path, 0)["stream"]


def test_ambiguous_ids_list_their_positions(shop, ws, capsys) -> None:
    path, summary = shop
    dup = summary.redeliveries[0]
    run(capsys, "branch", str(path), "--workspace", ws, "create", "amb")
    code, _, err = run(capsys, "branch", str(path), "--workspace", ws, "drop", "amb", dup.event_id)
    assert code == 2
    for pos in dup.positions:
        assert f"@{pos}" in err


def test_main_is_never_edited_and_unknown_branches_are_named(shop, ws, capsys) -> None:
    path, _ = shop
    code, _, err = run(capsys, "branch", str(path), "--workspace", ws, "drop", "main", "@3")
    assert code == 2 and "fork a branch" in err
    code, _, err = run(capsys, "state", str(path), "--workspace", ws, "--branch", "nope")
    assert code == 2 and "nope" in err


def test_reopen_is_incremental_for_a_grown_log(tmp_path, ws, capsys) -> None:
    log = tmp_path / "grow.jsonl"
    generate(log, events=600, seed=5)
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:450]))
    assert run_json(capsys, "inspect", str(log), "--workspace", ws, "--json")["events"] == 450
    run(capsys, "branch", str(log), "--workspace", ws, "create", "keep")
    with open(log, "ab") as fh:  # the log is exported again later: it only grew
        fh.write(b"".join(lines[450:]))
    report = run_json(capsys, "inspect", str(log), "--workspace", ws, "--json")
    assert report["events"] == 600
    names = [
        b["name"] for b in run_json(capsys, "branch", str(log), "--workspace", ws, "list", "--json")
    ]
    assert "keep" in names


def test_usage_errors_exit_2(shop, ws, capsys) -> None:
    path, _ = shop
    assert run(capsys, "state", str(path), "--workspace", ws, "--at", "999999")[0] == 2
    assert (
        run(capsys, "branch", str(path), "--workspace", ws, "edit", "x", "@1", "--data", "{bad")[0]
        == 2
    )
    assert run(capsys, "state")[0] == 2  # LOG missing: argparse's usage message


def test_window_without_a_display_explains_itself(tmp_path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"}
    }
    proc = subprocess.run(
        [sys.executable, str(ROOT / "main.py")], env=env, capture_output=True, text=True, timeout=60
    )
    if sys.platform != "linux":
        pytest.skip("only Linux decides by DISPLAY")
    assert proc.returncode == 1
    assert "no display" in proc.stderr and "xvfb-run" in proc.stderr


def _streams(path: Path) -> set[str]:
    return {orjson.loads(line)["stream"] for line in path.read_bytes().splitlines()}


def _count(path: Path) -> int:
    return len(path.read_bytes().splitlines())


def _line(path: Path, pos: int) -> dict[str, Any]:
    return orjson.loads(path.read_bytes().splitlines()[pos])


def test_reopening_uses_the_persisted_end_state(shop, ws, capsys) -> None:
    from app.session import open_session

    path, _ = shop
    first = run_json(capsys, "state", str(path), "--workspace", ws)  # folds and persists
    session = open_session(path, workspace=ws)
    try:
        assert session.import_info["change"] == "unchanged"
        assert "snapshot_row" not in session.import_info  # loaded only when first needed
        assert dict(session.engine.end_state("main")) == first
        assert session.import_info.get("snapshot_row") == len(session.log) - 1
    finally:
        session.close()


def test_reopen_restores_long_stream_snapshots(tmp_path, capsys) -> None:
    from app.session import open_session

    log = tmp_path / "shop.jsonl"
    generate(log, events=3000, seed=2)  # sku streams grow past K events
    ws = str(tmp_path / "ws.sqlite")
    run_json(capsys, "state", str(log), "--workspace", ws)
    first = open_session(log, workspace=ws)
    try:
        snaps = first.engine.stream_snapshots()
        assert snaps  # the reopened engine got them from the workspace
        name, found = next(iter(snaps.items()))
        rows = [i for i in range(len(first.log)) if first.engine.event_at("main", i).stream == name]
        row = rows[len(found) * 16 - 1]  # the event completing the last snapshot
        fresh = open_session(log, workspace=str(tmp_path / "other.sqlite"))
        try:
            assert first.engine.substate_at("main", row, name) == fresh.engine.substate_at(
                "main", row, name
            )
        finally:
            fresh.close()
    finally:
        first.close()


def test_a_database_table_by_url_with_a_filter(tmp_path, ws, capsys) -> None:
    """``inspect URL --table T --columns ... --rows-where col=value``: paged, parameterised, read
    only; the state of a stream comes from the table's rows."""
    import sqlalchemy as sa

    db = tmp_path / "events.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    meta = sa.MetaData()
    events = sa.Table(
        "events",
        meta,
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("aggregate", sa.Text),
        sa.Column("kind", sa.Text),
        sa.Column("body", sa.Text),
    )
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            events.insert(),
            [
                {"aggregate": f"acct-{i % 3}", "kind": "Deposited", "body": f'{{"amount": {i}}}'}
                for i in range(1, 31)
            ],
        )
    engine.dispose()
    before = db.read_bytes()
    url = f"sqlite:///{db}"
    columns = '{"stream": "aggregate", "type": "kind", "data": "body"}'
    report = run_json(
        capsys, "inspect", url, "--table", "events", "--columns", columns, "--workspace", ws,
        "--json",
    )  # fmt: skip
    assert report["events"] == 30 and report["streams"] == 3
    only = run_json(
        capsys, "state", url, "--table", "events", "--columns", columns,
        "--rows-where", "aggregate=acct-1", "--workspace", str(tmp_path / "ws2.sqlite"),
        "--path", "acct-1", "--json",
    )  # fmt: skip
    assert only["data"]["amount"] == 28  # the last deposit of acct-1 (1, 4, ..., 28)
    assert db.read_bytes() == before
    code, _out, err = run(capsys, "inspect", url, "--workspace", ws)
    assert code == 2 and "--table" in err


def test_state_as_of_a_time(tmp_path, ws, capsys) -> None:
    log = tmp_path / "timed.jsonl"
    lines = [
        {"id": f"e{i}", "stream": "s", "type": "Set", "recorded_at": f"2025-03-03T10:0{i}:00Z",
         "processed_at": f"2025-03-03T10:0{i}:30Z", "data": {"n": i}}
        for i in range(5)
    ]  # fmt: skip
    log.write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    state = run_json(
        capsys, "state", str(log), "--as-of", "2025-03-03T10:02:10Z", "--workspace", ws
    )
    assert state["s"]["data"]["n"] == 2
    state = run_json(
        capsys, "state", str(log), "--as-of", "2025-03-03T10:02:10Z", "--processed",
        "--workspace", ws,
    )  # fmt: skip
    assert state["s"]["data"]["n"] == 1
    assert run_json(capsys, "state", str(log), "--as-of", "2020-01-01", "--workspace", ws) == {}
    code, _out, err = run(capsys, "state", str(log), "--as-of", "soon", "--workspace", ws)
    assert code == 2 and "--as-of" in err


def test_inspect_reports_concurrency_findings(shop, ws, capsys) -> None:
    path, summary = shop
    report = run_json(capsys, "inspect", str(path), "--workspace", ws, "--json")
    assert len(report["conflicts"]) == len(summary.conflicts)
    for found, planted in zip(report["conflicts"], summary.conflicts, strict=True):
        assert found["stream"] == planted.stream and found["version"] == planted.version
        assert len(found["event_ids"]) >= 2
    assert len(report["redeliveries"]) == len(summary.redeliveries)
    assert report["gaps"] == [] and report["id_collisions"] == []
    code, out, _err = run(capsys, "inspect", str(path), "--workspace", ws)
    assert code == 0 and "concurrency findings:" in out
