"""Loading the user's projection files: the CLI, sessions, reload, trust, recorded responses."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from app.cli import main
from app.projections import ProjectionLoadError, is_trusted, load_file, trust
from app.session import open_session
from models.generator import generate

ROOT = Path(__file__).resolve().parents[2]
DEMO_PROJECTION = ROOT / "resources" / "demo" / "shop_projection.py"
DEMO_RESPONSES = ROOT / "resources" / "demo" / "shop.responses.json"

COUNTER = """
from replay_engine.api import Projection

counter = Projection("counter", initial={{"n": 0}})

@counter.on("OrderPlaced", "PaymentCharged")
def count(state, event):
    state["n"] += {step}
"""


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    log = tmp_path / "shop.jsonl"
    generate(log, events=800, seed=5)
    shutil.copy(DEMO_RESPONSES, tmp_path / "shop.responses.json")
    return log


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_state_through_the_demo_projection(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = str(shop.parent / "ws.sqlite")
    code, out, _ = run(
        capsys, "state", str(shop), "--workspace", ws, "--projection", str(DEMO_PROJECTION),
        "--path", "customer-00001",
    )  # fmt: skip
    assert code == 0
    customer = json.loads(out)
    assert customer["kind"] == "customer" and len(customer["account"]) == 36
    code, out, _ = run(
        capsys, "state", str(shop), "--workspace", ws, "--projection", str(DEMO_PROJECTION),
        "--use", "revenue",
    )  # fmt: skip
    revenue = json.loads(out)
    assert code == 0 and revenue["orders"] > 0 and revenue["fees_eur"] > 0


def test_a_missing_recording_names_the_question_and_the_event(
    shop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (shop.parent / "shop.responses.json").unlink()
    code, _, err = run(
        capsys, "state", str(shop), "--workspace", str(shop.parent / "ws.sqlite"),
        "--projection", str(DEMO_PROJECTION),
    )  # fmt: skip
    assert code == 3
    assert "gateway('fx', '" in err and "/EUR')" in err
    assert f'File "{DEMO_PROJECTION}", line' in err and "in eur" in err


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("x = (\n", r"bad\.py:1: syntax error"),
        (
            "from replay_engine.api import Projection\n\nraise KeyError('k')\n",
            r"bad\.py:3: .*KeyError",
        ),
        ("x = 1\n", "defines no projection"),
        (
            "from replay_engine.api import Projection\np = Projection('a')\nq = Projection('a')\n",
            "two projections are named 'a'",
        ),
        (
            "from replay_engine.api import Projection\np = Projection('a')\n"
            "p.on('T')(lambda s: s)\n",
            r"must take \(state, event\)",
        ),
    ],
)
def test_files_that_cannot_be_loaded_say_where(tmp_path: Path, source: str, expected: str) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(source)
    with pytest.raises(ProjectionLoadError, match=expected):
        load_file(bad)


def test_cli_reports_a_bad_projection_file_as_a_usage_error(
    shop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = shop.parent / "nope.py"
    with pytest.raises(SystemExit) as exited:
        main(["state", str(shop), "--workspace", str(shop.parent / "w.sqlite"),
              "--projection", str(missing)])  # fmt: skip
    assert exited.value.code == 2
    assert "no such projection file" in capsys.readouterr().err


def test_reload_runs_the_edited_code_and_keeps_the_branches(shop: Path) -> None:
    code = shop.parent / "counter.py"
    code.write_text(COUNTER.format(step=1))
    session = open_session(shop, workspace=shop.parent / "ws.sqlite")
    try:
        assert session.add_projection_file(code) == ["counter"]
        session.use_projection("counter")
        session.create_branch("fix")
        first_order = next(
            row for row in range(len(session.log)) if session.log.event(row).type == "OrderPlaced"
        )
        session.branch_ops("fix").drop(f"@{first_order}")
        main_end = session.end_state("main")
        counted = {s: v["n"] for s, v in main_end.items()}
        code.write_text(COUNTER.format(step=10))
        session.reload_projections()
        assert session.projection_name == "counter"
        assert {s: v["n"] for s, v in session.end_state("main").items()} == {
            s: 10 * n for s, n in counted.items()
        }
        assert session.engine.branch("fix").edits  # the branch and its edit survived
        dropped_stream = session.log.event(first_order).stream
        fix_end = session.engine.end_state("fix")
        assert fix_end.get(dropped_stream, {"n": 0})["n"] == 10 * counted[dropped_stream] - 10
        # the other projections are still there, with the same branches
        generic = session.engine_for("generic")
        assert "fix" in generic.branches()
    finally:
        session.close()
    reopened = open_session(shop, workspace=shop.parent / "ws.sqlite")
    try:
        assert reopened.remembered_projections() == [code.resolve()]
        assert reopened.projection_name == "generic"  # remembered, not run
    finally:
        reopened.close()


def test_trust_is_per_file_content(tmp_path: Path) -> None:
    code = tmp_path / "counter.py"
    code.write_text(COUNTER.format(step=1))
    assert not is_trusted(code)
    trust(code)
    assert is_trusted(code)
    code.write_text(COUNTER.format(step=2))  # edited (or swapped by a shared workspace)
    assert not is_trusted(code)


def test_opening_the_active_file_again_runs_the_new_code_and_a_failed_reload_changes_nothing(
    shop: Path,
) -> None:
    code = shop.parent / "counter.py"
    code.write_text(COUNTER.format(step=1))
    session = open_session(shop, workspace=shop.parent / "ws.sqlite")
    try:
        session.add_projection_file(code)
        session.use_projection("counter")
        ones = {s: v["n"] for s, v in session.end_state("main").items()}
        code.write_text(COUNTER.format(step=3))
        session.add_projection_file(code)  # File > Open projection… on the same file
        assert {s: v["n"] for s, v in session.end_state("main").items()} == {
            s: 3 * n for s, n in ones.items()
        }
        code.write_text("x = (\n")
        with pytest.raises(ProjectionLoadError, match="syntax error"):
            session.reload_projections()
        assert session.projection_name == "counter"  # the previous code stays in use
        assert {s: v["n"] for s, v in session.end_state("main").items()} == {
            s: 3 * n for s, n in ones.items()
        }
    finally:
        session.close()
