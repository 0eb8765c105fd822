"""The item models on their own: qtmodeltester, laziness, change highlighting, filtering."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt

from app.qt_models import (
    ChangeRole,
    PathRole,
    ProblemTableModel,
    StateTreeModel,
    format_path,
    summarize,
)
from models.problems import Problem, Severity
from replay_engine.diff import diff


class CountingState(Mapping[str, Any]):
    """A lazy mapping like the engine's keyed state: records which values were read."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        self.read: list[str] = []

    def __getitem__(self, key: str) -> Any:
        self.read.append(key)
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def _row_of(model: StateTreeModel, key: str, parent: QModelIndex | None = None) -> QModelIndex:
    parent = parent or QModelIndex()
    if model.canFetchMore(parent):
        model.fetchMore(parent)
    for r in range(model.rowCount(parent)):
        index = model.index(r, 0, parent)
        if index.data() == key:
            return index
    raise AssertionError(f"{key} not under {parent.data()}")


BEFORE = {
    "cust-1": {"balance": 100, "tags": ["a", "b"], "name": "Ada"},
    "order-7": {"status": "placed", "total": 40},
}
AFTER = {
    "cust-1": {"balance": 60, "tags": ["a", "b"], "email": "ada@example.com"},
    "order-7": {"status": "placed", "total": 40},
}


@pytest.mark.parametrize("filter_text", ["", "ada", "nothing matches this"])
def test_state_tree_passes_the_model_tester(qtmodeltester: Any, filter_text: str) -> None:
    # Configured before the check: Qt's tester runs its checks (which call fetchMore) from
    # inside modelReset and then objects to the rows fetchMore inserts.
    model = StateTreeModel()
    model.set_value(AFTER, diff(BEFORE, AFTER))
    model.set_filter(filter_text)
    qtmodeltester.check(model)


def test_problem_table_passes_the_model_tester(qtmodeltester: Any) -> None:
    model = ProblemTableModel()
    model.set_problems(
        [
            Problem("log.jsonl", 3, 120, "not JSON: unexpected end of data", excerpt='{"id": '),
            Problem("log.jsonl", 9, 800, "duplicate id e-1", Severity.WARNING, excerpt="{}"),
        ]
    )
    qtmodeltester.check(model)
    assert model.index(0, 1).data() == "3"
    assert model.index(1, 0).data() == "warning"


def test_changes_are_marked_with_the_previous_value() -> None:
    model = StateTreeModel()
    model.set_value(AFTER, diff(BEFORE, AFTER))
    cust = _row_of(model, "cust-1")
    assert cust.data(Qt.ItemDataRole.FontRole).bold()  # contains changes
    balance = _row_of(model, "balance", cust)
    assert balance.data(ChangeRole) == "changed"
    assert model.index(balance.row(), StateTreeModel.VALUE, cust).data() == "60"
    assert model.index(balance.row(), StateTreeModel.PREVIOUS, cust).data() == "100"
    assert "was 100" in balance.data(Qt.ItemDataRole.ToolTipRole)
    assert _row_of(model, "email", cust).data(ChangeRole) == "added"
    name = _row_of(model, "name", cust)  # removed: still shown, struck out, with old value
    assert name.data(ChangeRole) == "removed"
    assert name.data(Qt.ItemDataRole.FontRole).strikeOut()
    assert model.index(name.row(), StateTreeModel.PREVIOUS, cust).data() == '"Ada"'
    assert _row_of(model, "order-7").data(ChangeRole) is None
    assert balance.data(PathRole) == ("cust-1", "balance")
    assert format_path(balance.data(PathRole)) == "cust-1.balance"


def test_lazy_state_is_folded_only_where_shown_and_big_levels_are_grouped() -> None:
    state = CountingState({f"s-{i}": {"n": i} for i in range(100_000)})
    model = StateTreeModel()
    model.set_value(state)
    assert model.rowCount() == 200  # 200 groups of 500, not 100,000 rows
    assert state.read == []  # listing the keys reads no substate
    group = model.index(3, 0)
    assert group.data() == "[1500 … 1999]"
    assert model.index(3, StateTreeModel.VALUE).data() == "s-1500 … s-1999"
    assert model.rowCount(group) == 500
    index = model.index(5, 0, group)
    assert index.data() == "s-1505"
    assert model.hasChildren(index) and state.read == []
    assert model.index(5, StateTreeModel.VALUE, group).data() == "{1 key}"
    assert state.read == ["s-1505"]
    model.fetchMore(index)
    assert model.index(0, 1, index).data() == "1505"
    assert model.index_of_path(("s-99999", "n")).data(StateTreeModel.VALUE) is None
    found = model.index_of_path(("s-99999", "n"))
    assert model.index(found.row(), 1, found.parent()).data() == "99999"
    assert model.path_at(found) == ("s-99999", "n")
    assert len(state.read) == 2


def test_grouped_tree_passes_the_model_tester(qtmodeltester: Any) -> None:
    model = StateTreeModel()
    before = {f"k{i}": i for i in range(1_200)}
    after = {**before, "k7": -7, "new": 1}
    del after["k3"]
    model.set_value(after, diff(before, after))
    assert model.rowCount() == 3
    qtmodeltester.check(model)


def test_filter_keeps_matching_keys_values_and_their_parents() -> None:
    model = StateTreeModel()
    model.set_value(AFTER)
    model.set_filter("example.com")
    assert [model.index(r, 0).data() for r in range(model.rowCount())] == ["cust-1"]
    cust = model.index(0, 0)
    model.fetchMore(cust)
    assert [model.index(r, 0, cust).data() for r in range(model.rowCount(cust))] == ["email"]
    model.set_filter("ORDER")  # case-insensitive; a matching key shows its whole subtree
    order = _row_of(model, "order-7")
    model.fetchMore(order)
    assert model.rowCount(order) == 2
    model.set_filter("")
    assert model.rowCount() == 2


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"amount": 12.5, "currency": "EUR"}, "amount=12.5  currency=EUR"),
        ({"items": [1, 2], "ok": True, "note": None}, "items=[2 items]  ok=true  note=null"),
        ([1, "x"], '[1,"x"]'),
        (None, ""),
    ],
)
def test_payload_summary(data: Any, expected: str) -> None:
    assert summarize(data) == expected
