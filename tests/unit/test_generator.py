"""The demo-log generator: deterministic, internally consistent, and honest about its plants."""

from __future__ import annotations

import gzip
import re
from collections import Counter, defaultdict
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest
from cloudevents.core.formats.json import JSONFormat
from cloudevents.v1.http import from_json

from models.event import datetime_to_us
from models.generator import (
    DEMO_EVENTS,
    GeneratedLog,
    generate,
    iter_events,
    to_cloudevent,
    write_demo,
)

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "resources" / "demo" / "shop.jsonl"
DEMO_README = REPO / "resources" / "demo" / "README.md"

PARAMS: dict[str, Any] = {"events": 3_000, "seed": 11, "conflicts": 3, "redeliveries": 2}


def read_lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return data[:-1].split(b"\n")


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> tuple[GeneratedLog, list[bytes]]:
    summary = generate(tmp_path_factory.mktemp("gen") / "shop.jsonl", **PARAMS)
    return summary, read_lines(summary.path)


@pytest.fixture(scope="module")
def records(log: tuple[GeneratedLog, list[bytes]]) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in log[1]]


def us(text: str) -> int:
    return datetime_to_us(datetime.fromisoformat(text))


# -- determinism ------------------------------------------------------------------------------


def test_same_parameters_give_identical_bytes(tmp_path: Path) -> None:
    first = generate(tmp_path / "a.jsonl", **PARAMS)
    second = generate(tmp_path / "b.jsonl", **PARAMS)
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.counts == second.counts and first.double_charge == second.double_charge


def test_another_seed_gives_another_log(tmp_path: Path) -> None:
    first = generate(tmp_path / "a.jsonl", **PARAMS)
    other = generate(tmp_path / "b.jsonl", **{**PARAMS, "seed": 12})
    assert first.path.read_bytes() != other.path.read_bytes()
    assert other.events == first.events


def test_the_committed_demo_regenerates_byte_for_byte(tmp_path: Path) -> None:
    summary = write_demo(tmp_path / "shop.jsonl")
    assert summary.events == DEMO_EVENTS
    assert (tmp_path / "shop.jsonl").read_bytes() == DEMO.read_bytes()
    assert summary.size_bytes < 1_500_000


def test_the_demo_readme_quotes_the_plants_where_they_are(tmp_path: Path) -> None:
    summary = write_demo(tmp_path / "shop.jsonl")
    readme = DEMO_README.read_text(encoding="utf-8")
    bug = summary.double_charge
    assert bug is not None
    quoted = [*bug.charge_positions, *bug.debit_positions]
    quoted += [p for c in summary.conflicts for p in c.positions]
    quoted += [p for r in summary.redeliveries for p in r.positions]
    quoted += list(summary.processed_before_recorded)
    for pos in quoted:
        assert f"`@{pos}`" in readme, pos
    assert set(map(int, re.findall(r"`@(\d+)`", readme))) - set(quoted) <= {
        bug.charge_positions[0] - 1  # the PaymentRequested both charges answer
    }
    for text in (*bug.charge_ids, *bug.debit_ids, bug.customer, bug.order, bug.payment):
        assert text in readme
    for c in summary.conflicts:
        assert c.stream in readme and f"version {c.version}" in readme
    expected, logged = bug.expected_balance / 100, bug.logged_balance / 100
    assert f"−{-expected:.2f} EUR" in readme and f"−{-logged:.2f} EUR" in readme


# -- the summary matches the file -------------------------------------------------------------


def test_counts_per_type_add_up(
    log: tuple[GeneratedLog, list[bytes]], records: list[dict[str, Any]]
) -> None:
    summary, lines = log
    assert len(lines) == summary.events == PARAMS["events"]
    assert sum(summary.counts.values()) == summary.events
    assert Counter(r["type"] for r in records) == summary.counts
    assert summary.size_bytes == summary.path.stat().st_size


def test_streams_are_counted_per_kind(
    log: tuple[GeneratedLog, list[bytes]], records: list[dict[str, Any]]
) -> None:
    summary, _ = log
    streams = {r["stream"] for r in records}
    assert len(streams) == summary.streams
    assert Counter(s.split("-", 1)[0] for s in streams) == summary.streams_by_kind
    assert set(summary.streams_by_kind) == {"customer", "order", "payment", "sku"}


def test_versions_run_one_to_n_except_the_planted_conflicts(
    log: tuple[GeneratedLog, list[bytes]], records: list[dict[str, Any]]
) -> None:
    summary, _ = log
    redelivered = {r.positions[1] for r in summary.redeliveries}
    versions: dict[str, list[int]] = defaultdict(list)
    for pos, r in enumerate(records):
        if pos not in redelivered:
            versions[r["stream"]].append(r["version"])
    conflicted = {c.stream: c.version for c in summary.conflicts}
    assert len(conflicted) == PARAMS["conflicts"]
    for stream, seen in versions.items():
        expected = list(range(1, len(seen) + 1 - (stream in conflicted)))
        if stream in conflicted:
            expected.append(conflicted[stream])
        assert sorted(seen) == sorted(expected), stream


def test_conflicts_are_where_the_summary_says(
    log: tuple[GeneratedLog, list[bytes]], records: list[dict[str, Any]]
) -> None:
    summary, _ = log
    kinds = set()
    for conflict in summary.conflicts:
        pair = [records[p] for p in conflict.positions]
        assert [r["stream"] for r in pair] == [conflict.stream] * 2
        assert [r["version"] for r in pair] == [conflict.version] * 2
        assert tuple(r["id"] for r in pair) == conflict.event_ids
        assert tuple(r["type"] for r in pair) == conflict.types
        assert pair[0]["data"] != pair[1]["data"]
        kinds.add(conflict.types)
    assert kinds == {("OrderShipped", "OrderCancelled"), ("AddressChanged", "AddressChanged")}


def test_the_double_charge_is_where_the_summary_says(
    log: tuple[GeneratedLog, list[bytes]], records: list[dict[str, Any]]
) -> None:
    summary, _ = log
    bug = summary.double_charge
    assert bug is not None
    first, again = (records[p] for p in bug.charge_positions)
    assert (first["type"], again["type"]) == ("PaymentCharged", "PaymentCharged")
    assert (first["id"], again["id"]) == bug.charge_ids and first["id"] != again["id"]
    assert first["stream"] == again["stream"] == bug.payment
    assert again["version"] == first["version"] + 1
    assert first["data"] == again["data"] and first["data"]["amount"] == bug.amount
    assert first["metadata"] == again["metadata"]  # same gateway response, cause, flow
    assert first["metadata"]["gateway"]["card"]["status"] == "approved"
    debits = [records[p] for p in bug.debit_positions]
    assert tuple(d["id"] for d in debits) == bug.debit_ids
    for debit, charge in zip(debits, (first, again), strict=True):
        assert (debit["stream"], debit["type"]) == (bug.customer, "BalanceDebited")
        assert debit["metadata"]["causation_id"] == charge["id"]
        assert debit["data"]["amount"] == bug.amount and debit["data"]["order_id"] == bug.order
    assert [r["id"] for r in records].count(first["id"]) == 1


def test_the_customer_balance_ends_wrong_by_the_order_amount(
    log: tuple[GeneratedLog, list[bytes]], records: list[dict[str, Any]]
) -> None:
    bug = log[0].double_charge
    assert bug is not None
    merged: dict[str, Any] = {}  # what the generic merge-patch projection shows
    net = 0
    for pos, r in enumerate(records):
        if r["stream"] != bug.customer:
            continue
        merged.update(r["data"])
        sign = {"BalanceCredited": 1, "BalanceDebited": -1}.get(r["type"], 0)
        if pos != bug.debit_positions[1]:
            net += sign * r["data"].get("amount", 0)
    assert merged["balance"] == bug.logged_balance
    assert net == bug.expected_balance
    assert bug.logged_balance == bug.expected_balance - bug.amount


def test_balances_and_stock_levels_follow_their_movements(records: list[dict[str, Any]]) -> None:
    levels: dict[str, int] = {}
    sign = {
        "BalanceCredited": 1,
        "BalanceDebited": -1,
        "StockReplenished": 1,
        "StockReleased": 1,
        "StockReserved": -1,
    }
    seen_ids: set[str] = set()
    for r in records:
        if r["id"] in seen_ids or r["type"] not in sign:
            continue  # an exact re-delivery moves nothing a second time
        seen_ids.add(r["id"])
        key = "balance" if r["type"].startswith("Balance") else "available"
        amount = r["data"]["amount" if key == "balance" else "qty"]
        if r["stream"] in levels:
            assert r["data"][key] == levels[r["stream"]] + sign[r["type"]] * amount
        levels[r["stream"]] = r["data"][key]


def test_redeliveries_repeat_a_line_byte_for_byte(
    log: tuple[GeneratedLog, list[bytes]], records: list[dict[str, Any]]
) -> None:
    summary, lines = log
    assert len(summary.redeliveries) == PARAMS["redeliveries"]
    for again in summary.redeliveries:
        first, second = again.positions
        assert second > first and lines[first] == lines[second]
        assert records[first]["id"] == again.event_id
        assert (records[first]["stream"], records[first]["type"]) == (again.stream, again.type)
    repeated = {i for i, n in Counter(r["id"] for r in records).items() if n > 1}
    assert repeated == {r.event_id for r in summary.redeliveries}


# -- references and time ----------------------------------------------------------------------


def test_correlation_and_causation_ids_name_earlier_events(records: list[dict[str, Any]]) -> None:
    first_pos: dict[str, int] = {}
    for pos, r in enumerate(records):
        first_pos.setdefault(r["id"], pos)
    roots = 0
    for pos, r in enumerate(records):
        meta = r["metadata"]
        assert first_pos[meta["causation_id"]] <= pos
        root = records[first_pos[meta["correlation_id"]]]
        assert root["metadata"]["correlation_id"] == root["metadata"]["causation_id"] == root["id"]
        cause = records[first_pos[meta["causation_id"]]]
        assert cause["metadata"]["correlation_id"] == meta["correlation_id"]
        roots += meta["causation_id"] == r["id"]
        assert meta["service"]
    assert 0 < roots < len(records) / 3


def test_timestamps_parse_and_run_forward_except_where_flagged(
    log: tuple[GeneratedLog, list[bytes]], records: list[dict[str, Any]]
) -> None:
    summary, _ = log
    recorded = [us(r["recorded_at"]) for r in records]
    processed = [us(r["processed_at"]) for r in records]
    pattern = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
    assert all(
        pattern.match(r["recorded_at"]) and pattern.match(r["processed_at"]) for r in records
    )
    skewed = {p for p in range(len(records)) if processed[p] < recorded[p]}
    assert skewed == set(summary.processed_before_recorded) and skewed
    latest, late = recorded[0], set()
    for pos, t in enumerate(recorded):
        if t < latest:
            late.add(pos)
        latest = max(latest, t)
    assert late == set(summary.recorded_out_of_order)
    assert late <= {r.positions[1] for r in summary.redeliveries}
    assert (summary.first_recorded_us, summary.last_recorded_us) == (recorded[0], max(recorded))
    assert any(b < a for a, b in pairwise(processed))  # processed in another order, at times
    lags = sorted(p - r for p, r in zip(processed, recorded, strict=True))
    assert 1_000 <= lags[len(lags) // 2] <= 100_000  # milliseconds, typically
    assert lags[-1] >= 1_000_000  # and now and then a backlog of seconds


def test_nights_are_quiet(records: list[dict[str, Any]]) -> None:
    hours = Counter(int(r["recorded_at"][11:13]) for r in records)
    night = sum(hours[h] for h in range(0, 6))
    evening = sum(hours[h] for h in range(18, 21))
    assert night * 4 < evening
    recorded = sorted(us(r["recorded_at"]) for r in records)
    gaps = [b - a for a, b in pairwise(recorded)]
    assert max(gaps) > 2 * 3_600_000_000


def test_iter_events_yields_the_records_of_the_file(
    log: tuple[GeneratedLog, list[bytes]], records: list[dict[str, Any]]
) -> None:
    assert list(iter_events(**PARAMS)) == records


def test_a_gateway_response_is_recorded_on_every_card_event(records: list[dict[str, Any]]) -> None:
    statuses = {
        "PaymentCharged": "approved",
        "PaymentFailed": "declined",
        "PaymentRefunded": "refunded",
    }
    for r in records:
        gateway = r["metadata"].get("gateway")
        if r["type"] in statuses:
            assert gateway["card"]["status"] == statuses[r["type"]]
        else:
            assert gateway is None


# -- other formats ----------------------------------------------------------------------------


def test_cloudevents_variant_is_valid_and_carries_the_same_events(
    tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    summary = generate(tmp_path / "shop.ce.jsonl", fmt="cloudevents", **PARAMS)
    lines = read_lines(summary.path)
    assert len(lines) == len(records) == summary.events
    fmt = JSONFormat()
    for line, record in zip(lines, records, strict=True):
        assert orjson.loads(line) == to_cloudevent(record)
        event = fmt.read(None, line)  # validates required and extension attributes
        assert event.get_specversion() == "1.0"
        assert event.get_subject() == record["stream"]
        assert event.get_type() == record["type"]
        assert event.get_source() == "/shop/" + record["metadata"]["service"]
        time = event.get_time()
        assert time is not None and datetime_to_us(time) == us(record["recorded_at"])
        assert int(event.get_extension("sequence")) == record["version"]
        assert event.get_extension("causationid") == record["metadata"]["causation_id"]
        assert event.get_data() == record["data"]
    legacy = from_json(lines[0])  # the 1.x-style API the SDK still ships
    assert legacy["correlationid"] == records[0]["metadata"]["correlation_id"]


def test_cloudevent_sequences_sort_like_versions(records: list[dict[str, Any]]) -> None:
    versions = sorted({r["version"] for r in records})
    sequences = sorted(to_cloudevent({**records[0], "version": v})["sequence"] for v in versions)
    assert [int(s) for s in sequences] == versions


def test_gzip_variant_decompresses_to_the_same_lines(tmp_path: Path) -> None:
    plain = generate(tmp_path / "shop.jsonl", **PARAMS)
    packed = generate(tmp_path / "shop.jsonl.gz", gzip=True, **PARAMS)
    again = generate(tmp_path / "again.jsonl.gz", gzip=True, **PARAMS)
    raw = packed.path.read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    assert gzip.decompress(raw) == plain.path.read_bytes()
    assert packed.size_bytes == plain.size_bytes
    assert again.path.read_bytes() == raw  # no file name or time in the header


# -- parameters -------------------------------------------------------------------------------


def test_too_few_events_to_plant_is_refused_with_advice(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"too few to plant.*at least"):
        generate(tmp_path / "x.jsonl", events=50)
    assert not list(tmp_path.iterdir())


def test_a_clean_log_has_no_plants(tmp_path: Path) -> None:
    summary = generate(
        tmp_path / "clean.jsonl", events=400, conflicts=0, plant_bug=False, redeliveries=0
    )
    assert summary.double_charge is None and not summary.conflicts and not summary.redeliveries
    ids = [orjson.loads(line)["id"] for line in read_lines(summary.path)]
    assert len(set(ids)) == len(ids) == 400


def test_an_empty_log_is_an_empty_file(tmp_path: Path) -> None:
    summary = generate(
        tmp_path / "empty.jsonl", events=0, conflicts=0, plant_bug=False, redeliveries=0
    )
    assert summary.events == 0 and summary.path.read_bytes() == b""


def test_an_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fmt must be"):
        generate(tmp_path / "x.jsonl", events=400, fmt="csv")  # type: ignore[arg-type]
