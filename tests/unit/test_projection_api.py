"""The projection API users write their domain code with (replay_engine.api)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from models.edits import Edit, EditKind
from models.event import Event
from models.log import MemoryLog
from models.timeparse import parse_timestamp
from replay_engine.api import GatewayMiss, Projection, ProjectionDefinitionError, gateway, sticky_id
from replay_engine.branches import BranchSpec
from replay_engine.engine import Engine, ProjectionError

BOUNDARY = parse_timestamp("2018-02-01")


def ev(
    pos: int, type_: str, data: Any, *, stream: str = "s", at: int | None = 0, **kw: Any
) -> Event:
    return Event(
        key=pos,
        pos=pos,
        event_id=f"e{pos}",
        stream=stream,
        type=type_,
        recorded_us=at,
        data=data,
        **kw,
    )


def tax_projection() -> Projection:
    p = Projection("tax", initial={"tax": 0})

    @p.on("Sale")
    def old_rate(state: dict[str, Any], event: Event) -> None:
        state["tax"] += event.data * 15  # per mille

    @p.on("Sale", effective="2018-02-01")
    def new_rate(state: dict[str, Any], event: Event) -> None:
        state["tax"] += event.data * 18

    return p


def test_rule_selected_by_recorded_time_at_the_boundary_instant() -> None:
    p = tax_projection()
    before = ev(0, "Sale", 1000, at=BOUNDARY - 1)
    at = ev(1, "Sale", 1000, at=BOUNDARY)
    assert p.rule_for(before).function.endswith("old_rate")  # type: ignore[union-attr]
    assert p.rule_for(at).function.endswith("new_rate")  # type: ignore[union-attr]
    assert p.rule_for(at).effective_text == "2018-02-01"  # type: ignore[union-attr]
    engine = Engine(MemoryLog([before, at]), p)
    assert engine.end_state("main")["s"] == {"tax": 15_000 + 18_000}
    assert [r.function.rsplit(".", 1)[-1] for r in p.rules("Sale")] == ["old_rate", "new_rate"]


def test_an_event_without_recorded_time_and_only_dated_rules_is_an_error_at_that_event() -> None:
    p = Projection("dated")

    @p.on("Sale", effective="2018-02-01")
    def dated(state: Any, event: Event) -> Any:
        return event.data

    engine = Engine(MemoryLog([ev(0, "Sale", 1, at=BOUNDARY), ev(1, "Sale", 2, at=None)]), p)
    with pytest.raises(ProjectionError) as caught:
        engine.end_state("main")
    assert caught.value.row == 1 and "no recorded time" in str(caught.value.error)


def test_definition_errors_are_reported_when_the_module_loads() -> None:
    p = Projection("p")
    p.on("A")(lambda state, event: state)
    with pytest.raises(ProjectionDefinitionError, match="two handlers"):
        p.on("A")(lambda state, event: state)
    with pytest.raises(ProjectionDefinitionError, match=r"must take \(state, event\)"):
        p.on("B")(lambda state: state)
    with pytest.raises(ProjectionDefinitionError, match="not a date"):
        p.on("C", effective="soon")
    with pytest.raises(ProjectionDefinitionError, match="key="):
        Projection("q", key="customer")


def test_upcasters_chain_by_schema_version_and_leave_the_original_alone() -> None:
    p = Projection("up")

    @p.upcaster("Placed", from_version=1)
    def v2(data: dict[str, Any]) -> dict[str, Any]:
        data["total"] = data.pop("amount")
        return data

    @p.upcaster("Placed", from_version=2)
    def v3(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "total": {"cents": data["total"]}}

    @p.on("Placed")
    def placed(state: Any, event: Event) -> Any:
        return {"total": event.data["total"], "schema": event.schema_version}

    old = ev(0, "Placed", {"amount": 5})
    middle = ev(1, "Placed", {"total": 7}, schema_version=2, stream="t")
    current = ev(2, "Placed", {"total": {"cents": 9}}, schema_version=3, stream="u")
    assert p.upcast(old).data == {"total": {"cents": 5}} and p.upcast(old).schema_version == 3
    assert old.data == {"amount": 5}  # on read, never in place
    assert len(p.upcast_steps(old)) == 2 and len(p.upcast_steps(middle)) == 1
    assert p.upcast(current) is current and p.upcast_steps(current) == []
    end = Engine(MemoryLog([old, middle, current]), p).end_state("main")
    assert [end[s] for s in "stu"] == [
        {"total": {"cents": 5}, "schema": 3},
        {"total": {"cents": 7}, "schema": 3},
        {"total": {"cents": 9}, "schema": 3},
    ]


def fx_projection() -> Projection:
    p = Projection("fx", initial={"eur": 0})

    @p.on("Paid")
    def paid(state: dict[str, Any], event: Event) -> None:
        state["eur"] += round(event.data["amount"] * gateway("fx", event.data["currency"]))

    return p


def test_gateway_answers_from_the_event_then_the_recordings_and_names_a_miss() -> None:
    p = fx_projection()
    p.recordings = {"fx": {"GBP": 1.5}}
    events = [
        ev(
            0,
            "Paid",
            {"amount": 100, "currency": "USD"},
            metadata={"gateway": {"fx": {"USD": 0.5}}},
        ),
        ev(1, "Paid", {"amount": 100, "currency": "GBP"}),
        ev(2, "Paid", {"amount": 100, "currency": "CHF"}),
    ]
    engine = Engine(MemoryLog(events), p)
    assert engine.state_at("main", 1)["s"] == {"eur": 50 + 150}
    with pytest.raises(ProjectionError) as caught:
        engine.end_state("main")
    assert caught.value.row == 2 and isinstance(caught.value.error, GatewayMiss)
    assert "gateway('fx', 'CHF')" in str(caught.value.error) and "e2" in str(caught.value.error)
    assert caught.value.state_before["s"] == {"eur": 200}
    with pytest.raises(RuntimeError, match="during a replay"):
        gateway("fx", "GBP")


def test_sticky_ids_are_stable_under_reordering_and_dropping() -> None:
    p = Projection("accounts", initial=dict)

    @p.on("Registered")
    def registered(state: dict[str, Any], event: Event) -> dict[str, Any]:
        return {"account": sticky_id("account", event.data["email"])}

    events = [
        ev(i, "Registered", {"email": f"c{i % 3}@example.com"}, stream=f"c{i}") for i in range(6)
    ]
    engine = Engine(MemoryLog(events), p)
    main = dict(engine.end_state("main"))
    engine.add_branch(BranchSpec(name="b", parent="main"))
    engine.append_edit("b", Edit(EditKind.DROP, target=0))
    engine.append_edit("b", Edit(EditKind.MOVE, target=5, after=None))
    branch = dict(engine.end_state("b"))
    assert "c0" not in branch
    assert all(branch[s] == main[s] for s in branch)
    assert main["c0"] == main["c3"] != main["c1"]  # same natural key, same id
    assert sticky_id("account", "c0@example.com") == main["c0"]["account"]


def test_break_on_exception_points_at_the_users_line_with_the_state_before() -> None:
    p = Projection("fragile", initial={"n": 0})

    @p.on("Tick")
    def tick(state: dict[str, Any], event: Event) -> None:
        state["n"] += 1
        if event.data == "boom":
            raise ValueError("cannot tick on boom")  # the line the traceback must name

    events = [ev(0, "Tick", "ok"), ev(1, "Tick", "ok"), ev(2, "Tick", "boom"), ev(3, "Tick", "ok")]
    engine = Engine(MemoryLog(events), p)
    with pytest.raises(ProjectionError) as caught:
        engine.end_state("main")
    error = caught.value
    assert error.row == 2 and error.key == 2
    assert error.state_before["s"] == {"n": 2}  # the handler's in-place change did not leak
    lines, first = inspect.getsourcelines(tick)
    line = first + next(i for i, text in enumerate(lines) if "raise ValueError" in text)
    assert f'File "{__file__}", line {line}, in tick' in error.traceback_text
    assert engine.state_at("main", 1)["s"] == {"n": 2}


def test_a_handler_changing_its_state_in_place_never_changes_earlier_states() -> None:
    p = Projection("mutating", initial={"items": []})

    @p.on("Add")
    def add(state: dict[str, Any], event: Event) -> None:
        state["items"].append(event.data)

    engine = Engine(MemoryLog([ev(i, "Add", i) for i in range(40)]), p)
    assert engine.end_state("main")["s"] == {"items": list(range(40))}
    assert engine.state_at("main", 2)["s"] == {"items": [0, 1, 2]}
    assert engine.state_at("main", 30)["s"]["items"] == list(range(31))


def test_one_state_for_the_whole_log_and_keys_of_the_users_choice() -> None:
    total = Projection("total", initial={"sum": 0}, key=None)
    total.on("Add")(lambda state, event: {"sum": state["sum"] + event.data})
    by_parity = Projection("parity", initial=0, key=lambda e: "odd" if e.data % 2 else "even")
    by_parity.on("Add")(lambda state, event: state + event.data)
    log = MemoryLog([ev(i, "Add", i, stream=f"s{i % 4}") for i in range(30)])
    assert not Engine(log, total).is_keyed
    assert Engine(log, total).end_state("main") == {"sum": sum(range(30))}
    end = Engine(log, by_parity).end_state("main")
    assert dict(end) == {"even": sum(range(0, 30, 2)), "odd": sum(range(1, 30, 2))}
    # an event of a type without a handler changes nothing
    assert Engine(MemoryLog([ev(0, "Other", 5)]), total).end_state("main") == {"sum": 0}
