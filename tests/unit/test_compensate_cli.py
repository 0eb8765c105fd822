"""The headless merge back: ``main.py export LOG --branch NAME --compensating`` and
``--report``, on a generated shop log and a real workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from app.cli import main
from app.compensate import CORRECTION_TYPE
from models.generator import GeneratedLog, generate


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GeneratedLog]:
    path = tmp_path_factory.mktemp("logs") / "shop.jsonl"
    return path, generate(path, events=700, seed=3)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 0, err
    return orjson.loads(out)


def test_compensating_events_and_the_report_from_the_command_line(
    shop: tuple[Path, GeneratedLog], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, summary = shop
    bug = summary.double_charge
    assert bug is not None
    p, w = str(path), str(tmp_path / "ws.sqlite")
    for args in (
        ("create", "fix"),
        ("drop", "fix", f"@{bug.charge_positions[1]}"),
        ("drop", "fix", f"@{bug.debit_positions[1]}"),
    ):
        assert main(["branch", p, "--workspace", w, *args]) == 0
    capsys.readouterr()

    out = tmp_path / "comp.jsonl"
    msg = _run(
        capsys, "export", p, "--workspace", w, "--branch", "fix", "--compensating",
        "--out", str(out), "--json",
    )  # fmt: skip
    assert msg["events"] == 1 and msg["unresolved"] == [] and bug.payment in msg["bookkeeping_only"]
    (record,) = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert record["stream"] == bug.customer and record["type"] == CORRECTION_TYPE
    assert record["data"] == {"balance": bug.expected_balance}

    fixed = tmp_path / "fixed.jsonl"
    report = _run(
        capsys, "export", p, "--workspace", w, "--branch", "fix", "--report",
        "--out", str(fixed), "--json",
    )  # fmt: skip
    assert report["events_written"] == summary.events - 2
    assert {d["key"] for d in report["dropped"]} == {
        f"@{bug.charge_positions[1]}",
        f"@{bug.debit_positions[1]}",
    }
    assert Path(report["report"]).read_text(encoding="utf-8").startswith("# Export of branch fix")
