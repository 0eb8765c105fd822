"""Redux DevTools exports converted to canonical JSON Lines, imported, and replayed through
the recorded-states projection.

Neither DevTools nor jsan run under Python, so the exports are built as their sources write
them, ported below as far as an export needs:

- ``DevTools``: ``@redux-devtools/instrument``'s lifted store with ``shouldCatchErrors``:
  PERFORM_ACTION, TOGGLE_ACTION (skip), JUMP_TO_STATE, ``recomputeStates`` (a skipped action's
  entry *is* the previous entry; a throwing reducer keeps the previous state with
  ``error = err.toString()``, later actions are "Interrupted by an error up the chain").
- ``jsan_stringify``: jsan 3.1's ``stringify`` / ``decycle`` (references by identity to the
  path where an object was first written, ``$jsan`` member escaping, the ``circular``,
  ``date`` and ``undefined`` options; ``JSON.stringify`` first when no options are given).
- ``extension_stringify``: the extension's ``tryCatchStringify`` (``JSON.stringify``, then
  jsan with ``{circular: "[CIRCULAR]", date: true}``); ``redux_store_export``: the page's
  ``exportState`` plus the app's ``download(JSON.stringify({payload, preloadedState}, null,
  "\\t"))``; ``lifted_state_export``: the app's ``stringifyJSON(state, serialize)``.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from app.session import open_session
from models.converters.base import Conversion, ConversionCancelled
from models.converters.redux import (
    CIRCULAR,
    CONVERTER,
    hints_from_events,
    hints_of,
    js_date_json,
    jsan_parse,
    sniff_export,
    value_offsets,
)
from models.edits import Edit, EditKind
from models.event import Event
from models.problems import InputError, Severity
from replay_engine.branches import BranchSpec
from replay_engine.engine import MAIN, Engine
from replay_engine.projection import Projection
from replay_engine.recorded import RecordedStateProjection

T0_MS = 1_714_557_600_000  # 2024-05-01T10:00:00Z
DUE_MS = 1_717_200_000_000  # 2024-06-01T00:00:00Z


# --- JavaScript values and JSON.stringify ----------------------------------------------------


def iso(ms: int) -> str:
    """``new Date(ms).toISOString()`` for years 1 to 9999."""
    d = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return (
        f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}."
        f"{d.microsecond // 1000:03d}Z"
    )


class JsDate:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def iso(self) -> str:
        return iso(self.ms)


class _Undefined:
    pass


UNDEFINED = _Undefined()
_WORD = re.compile(r"[A-Za-z0-9_]+")


def _plain(value: Any, ancestors: set[int]) -> Any:
    """What JSON.stringify sees: Dates through toJSON, undefined members left out."""
    if isinstance(value, JsDate):
        return value.iso()
    if isinstance(value, dict | list):
        if id(value) in ancestors:
            raise ValueError("Converting circular structure to JSON")
        ancestors.add(id(value))
        if isinstance(value, dict):
            out: Any = {k: _plain(v, ancestors) for k, v in value.items() if v is not UNDEFINED}
        else:
            out = [None if v is UNDEFINED else _plain(v, ancestors) for v in value]
        ancestors.discard(id(value))
        return out
    return value


def js_json(value: Any, indent: str | None = None) -> str:
    """``JSON.stringify(value, null, indent)``; ValueError on a cycle, as JS throws."""
    plain = _plain(value, set())
    if indent is None:
        return json.dumps(plain, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(plain, indent=indent, ensure_ascii=False)


ALL = {"date": True, "function": True, "regex": True, "undefined": True, "error": True}


def decycle(value: Any, options: dict[str, Any]) -> Any:
    """jsan's ``decycle`` (lib/cycle.js) for the values these tests use."""
    paths: dict[int, str] = {}
    no_circular_option = "circular" not in options
    with_refs = options.get("refs") is not False

    def derez(v: Any, path: str) -> Any:
        if options.get("date") and isinstance(v, JsDate):
            return {"$jsan": f"d{v.ms}"}
        if options.get("undefined") and v is UNDEFINED:
            return {"$jsan": "u"}
        if isinstance(v, JsDate):
            v = v.iso()  # toJSON
        if isinstance(v, dict | list):
            found = paths.get(id(v))
            if found:
                if no_circular_option and with_refs:
                    return {"$jsan": found}
                if path.startswith(found):  # path.indexOf(foundPath) === 0
                    return {"$jsan": found} if no_circular_option else options["circular"]
                if with_refs:
                    return {"$jsan": found}
            paths[id(v)] = path
            if isinstance(v, list):
                return [derez(x, f"{path}[{i}]") for i, x in enumerate(v)]
            out = {}
            for name, x in v.items():
                step = f".{name}" if _WORD.fullmatch(name) else f"[{js_json(name)}]"
                out[name] = [derez(x, path + step)] if name == "$jsan" else derez(x, path + step)
            return out
        return v

    return derez(value, "$")


def jsan_stringify(value: Any, options: dict[str, Any] | None = None) -> str:
    """``jsan.stringify(value)`` (options None) or ``jsan.stringify(value, null, null,
    options)``."""
    if options is None:
        try:
            return js_json(value)
        except ValueError:
            options = {}
    return js_json(decycle(value, options))


def extension_stringify(value: Any) -> str:
    """The extension's ``stringify`` without ``serialize``: ``tryCatchStringify``."""
    try:
        return js_json(value)
    except ValueError:
        return jsan_stringify(value, {"circular": "[CIRCULAR]", "date": True})


# --- the DevTools' lifted store --------------------------------------------------------------


class JsError(Exception):
    pass


class DevTools:
    """``@redux-devtools/instrument`` with ``shouldCatchErrors``, as far as exports need."""

    def __init__(self, reducer: Any, preloaded: Any = UNDEFINED) -> None:
        self.reducer = reducer
        self.actions_by_id: dict[int, dict[str, Any]] = {0: self._lift({"type": "@@INIT"}, T0_MS)}
        self.next_id = 1
        self.staged = [0]
        self.skipped: list[int] = []
        self.committed = preloaded
        self.current = 0
        self.computed: list[dict[str, Any]] = []
        self._recompute(0)

    @staticmethod
    def _lift(action: dict[str, Any], at_ms: int) -> dict[str, Any]:
        return {"type": "PERFORM_ACTION", "action": action, "timestamp": at_ms, "stack": UNDEFINED}

    def dispatch(self, action: dict[str, Any], at_ms: int) -> None:
        if self.current == len(self.staged) - 1:
            self.current += 1
        self.actions_by_id[self.next_id] = self._lift(action, at_ms)
        self.staged.append(self.next_id)
        self.next_id += 1
        self._recompute(len(self.staged) - 1)

    def toggle(self, action_id: int) -> None:
        if action_id in self.skipped:
            self.skipped = [i for i in self.skipped if i != action_id]
        else:
            self.skipped = [action_id, *self.skipped]
        self._recompute(self.staged.index(action_id))

    def jump_to_state(self, index: int) -> None:
        self.current = index

    def _recompute(self, start: int) -> None:
        computed = self.computed[:start]
        for i in range(start, len(self.staged)):
            action_id = self.staged[i]
            previous = computed[i - 1] if i else None
            state = previous["state"] if previous is not None else self.committed
            if action_id in self.skipped:
                entry = previous  # the same object
            elif previous is not None and previous["error"] is not UNDEFINED:
                entry = {"state": state, "error": "Interrupted by an error up the chain"}
            else:
                try:
                    entry = {
                        "state": self.reducer(state, self.actions_by_id[action_id]["action"]),
                        "error": UNDEFINED,
                    }
                except JsError as exc:
                    entry = {"state": state, "error": f"Error: {exc}"}
            assert entry is not None
            computed.append(entry)
        self.computed = computed

    def lifted_state(self) -> dict[str, Any]:
        return {
            "nextActionId": self.next_id,
            "actionsById": {str(k): v for k, v in self.actions_by_id.items()},
            "stagedActionIds": list(self.staged),
            "skippedActionIds": list(self.skipped),
            "committedState": self.committed,
            "currentStateIndex": self.current,
            "computedStates": self.computed,
            "isLocked": False,
            "isPaused": False,
        }


def todo_reducer(state: Any, action: dict[str, Any]) -> Any:
    """A counter + todo app; returns the same object for actions it does not handle."""
    if state is UNDEFINED:
        state = {"counter": 0, "todos": [], "filter": "all"}
    kind = action["type"]
    if kind == "counter/increment":
        return {**state, "counter": state["counter"] + action.get("by", 1)}
    if kind == "todos/add":
        todo = {"id": action["id"], "text": action["text"], "done": False, "due": action["due"]}
        return {**state, "todos": [*state["todos"], todo]}
    if kind == "todos/toggle":
        if all(t["id"] != action["id"] for t in state["todos"]):
            raise JsError(f"no todo {action['id']}")
        todos = [
            {**t, "done": not t["done"]} if t["id"] == action["id"] else t for t in state["todos"]
        ]
        return {**state, "todos": todos}
    return state


def recorded_session(extra: int = 0) -> DevTools:
    """Seven actions: #3 skipped in DevTools, #6's reducer threw, #7 interrupted by it, the
    user jumped back to the state after #5. ``extra``: more actions first (a big export)."""
    tools = DevTools(todo_reducer)
    ui = {"source": "ui", "session": "s-1"}  # the same object in two actions
    for k in range(extra):
        tools.dispatch({"type": "counter/increment", "by": 0, "note": "x" * 200}, T0_MS + k)
    t = T0_MS + 1000
    tools.dispatch({"type": "counter/increment"}, t)
    tools.dispatch(
        {"type": "todos/add", "id": "a", "text": "buy milk", "due": JsDate(DUE_MS), "meta": ui},
        t + 1000,
    )
    tools.dispatch({"type": "counter/increment", "by": 5}, t + 2000)
    tools.dispatch(
        {"type": "todos/add", "id": "b", "text": "café", "due": None, "meta": ui}, t + 3000
    )
    tools.dispatch({"type": "todos/toggle", "id": "a"}, t + 4000)
    tools.dispatch({"type": "todos/toggle", "id": "zz"}, t + 5000)
    tools.dispatch({"type": "counter/increment"}, t + 6000)
    tools.toggle(tools.staged[3 + extra])
    tools.jump_to_state(5 + extra)
    return tools


def lifted_state_export(tools: DevTools, serialize: bool = True) -> bytes:
    """The app's Export for a lifted state: ``download(stringifyJSON(state, serialize))``."""
    state = tools.lifted_state()
    text = jsan_stringify(state, ALL) if serialize else jsan_stringify(state)
    return text.encode()


def redux_store_export(actions: list[Any], committed: Any) -> bytes:
    """The page's ``exportState`` (staged actions after @@INIT, committed state) through
    ``toContentScript`` and the app's ``download``."""
    message: dict[str, Any] = {"payload": extension_stringify(actions)}
    if committed is not UNDEFINED:
        message["preloadedState"] = extension_stringify(committed)
    return js_json(message, indent="\t").encode()


def as_json(value: Any) -> Any:
    """A JavaScript value as the JSON it stringifies to (a recorded state, an action)."""
    return json.loads(js_json(value))


# --- running the converter -------------------------------------------------------------------


def convert(path: Path, *, strict: bool = False) -> tuple[bytes, Conversion]:
    out = io.BytesIO()
    result = CONVERTER.convert(path, out, strict=strict, progress=None)
    return out.getvalue(), result


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def import_events(tmp_path: Path, converted: bytes) -> tuple[list[Event], Any]:
    log = write(tmp_path, "x.jsonl", converted)
    session = open_session(log, workspace=tmp_path / "ws.sqlite")
    return list(session.log.iter_events()), session


def expected_hints(tools: DevTools) -> dict[str, Any]:
    return {
        "skipped_event_ids": [f"action-{i}" for i in tools.staged[1:] if i in tools.skipped],
        "current_event_id": f"action-{tools.staged[tools.current]}",
        "projection": "redux-recorded",
        "initial_state": as_json(tools.computed[0]["state"]),
    }


# --- the lifted state ------------------------------------------------------------------------


def test_a_lifted_state_export_becomes_one_event_per_staged_action(tmp_path: Path) -> None:
    tools = recorded_session()
    raw = lifted_state_export(tools)
    # What DevTools write with serialize: the skipped action's entry refers to the previous
    # one, the repeated object and unchanged sub-states are references, dates and undefined
    # are encoded.
    assert b'{"$jsan":"$.computedStates[2]"}' in raw
    assert b'"meta":{"$jsan":"$.actionsById.2.action.meta"}' in raw
    assert b'"todos":{"$jsan":"$.computedStates[0].state.todos"}' in raw
    assert b'"state":{"$jsan":"$.computedStates[5].state"}' in raw
    assert f'"due":{{"$jsan":"d{DUE_MS}"}}'.encode() in raw
    assert b'"stack":{"$jsan":"u"}' in raw and b'"committedState":{"$jsan":"u"}' in raw

    converted, result = convert(write(tmp_path, "state.json", raw))
    assert (result.records, result.skipped, result.problems) == (7, 0, [])
    hints = hints_of(result)
    assert hints == expected_hints(tools)
    assert hints == {
        "skipped_event_ids": ["action-3"],
        "current_event_id": "action-5",
        "projection": "redux-recorded",
        "initial_state": {"counter": 0, "todos": [], "filter": "all"},
    }

    events, session = import_events(tmp_path, converted)
    try:
        assert session.problems == []
        assert [e.event_id for e in events] == [f"action-{i}" for i in range(1, 8)]
        assert {e.stream for e in events} == {"store"}
        assert [e.version for e in events] == list(range(1, 8))
        assert [e.type for e in events] == [
            "counter/increment",
            "todos/add",
            "counter/increment",
            "todos/add",
            "todos/toggle",
            "todos/toggle",
            "counter/increment",
        ]
        assert [e.recorded_us for e in events] == [(T0_MS + 1000 * k) * 1000 for k in range(1, 8)]
        for event, action_id in zip(events, tools.staged[1:], strict=True):
            action = as_json(tools.actions_by_id[action_id]["action"])
            del action["type"]
            assert event.data == action
        assert events[1].data["due"] == "2024-06-01T00:00:00.000Z"
        assert events[3].data["meta"] == {"source": "ui", "session": "s-1"}
        redux = [e.metadata["redux"] for e in events]
        assert [r["action_id"] for r in redux] == list(range(1, 8))
        assert [r["skipped"] for r in redux] == [False, False, True, False, False, False, False]
        assert [r.get("error") for r in redux] == [
            None,
            None,
            None,
            None,
            None,
            "Error: no todo zz",
            "Interrupted by an error up the chain",
        ]
        assert [r.get("current", False) for r in redux] == [k == 4 for k in range(7)]
        assert "initial_state" in redux[0] and all("initial_state" not in r for r in redux[1:])
        for k, r in enumerate(redux, start=1):
            assert r["recorded_state"] == as_json(tools.computed[k]["state"])
        # The skipped action changed nothing; the throwing one kept the state before it.
        assert redux[2]["recorded_state"] == redux[1]["recorded_state"]
        assert redux[5]["recorded_state"] == redux[4]["recorded_state"]

        # What the application can rebuild from the events (a conversion read from the
        # cache has no hints).
        assert hints_from_events(events) == hints

        projection = RecordedStateProjection(hints["initial_state"])
        assert isinstance(projection, Projection)
        engine = Engine(session.log, projection)
        assert not engine.is_keyed
        for row in range(7):
            assert engine.state_at(MAIN, row) == as_json(tools.computed[row + 1]["state"])
    finally:
        session.close()


def test_a_branch_dropping_the_skipped_actions_shows_the_last_kept_recorded_state(
    tmp_path: Path,
) -> None:
    tools = recorded_session()
    converted, result = convert(write(tmp_path, "state.json", lifted_state_export(tools)))
    hints = hints_of(result)
    assert hints is not None
    events, session = import_events(tmp_path, converted)
    try:
        engine = Engine(session.log, RecordedStateProjection(hints["initial_state"]))
        keys = [e.key for e in events if e.event_id in hints["skipped_event_ids"]]
        drops = tuple(Edit(EditKind.DROP, target=key) for key in keys)
        engine.add_branch(BranchSpec("skipped in DevTools", MAIN, None, 0, drops))
        recorded = [e.metadata["redux"]["recorded_state"] for e in events]
        assert engine.is_dropped("skipped in DevTools", 2)
        assert engine.state_at("skipped in DevTools", 2) == recorded[1]
        assert engine.state_at("skipped in DevTools", 3) == recorded[3]
        # An event inserted in a branch has no recorded state: the state stays as it was.
        inserted = events[0].with_changes(metadata={})
        assert RecordedStateProjection().apply(recorded[3], inserted) is recorded[3]
    finally:
        session.close()


def test_a_lifted_state_written_without_serialize_is_plain_json(tmp_path: Path) -> None:
    tools = recorded_session()
    raw = lifted_state_export(tools, serialize=False)
    assert b"$jsan" not in raw  # no cycle: jsan.stringify is JSON.stringify
    converted, result = convert(write(tmp_path, "state.json", raw))
    assert (result.records, result.skipped, result.problems) == (7, 0, [])
    serialized, _ = convert(write(tmp_path, "serialized.json", lifted_state_export(tools)))
    assert converted == serialized


def test_a_payload_holding_a_lifted_state_converts_like_the_lifted_state(tmp_path: Path) -> None:
    tools = recorded_session()
    lifted = lifted_state_export(tools).decode()
    wrapped = js_json({"payload": lifted, "preloadedState": "{}"}, indent="\t").encode()
    assert sniff_export(wrapped)
    converted, result = convert(write(tmp_path, "wrapped.json", wrapped))
    direct, _ = convert(write(tmp_path, "state.json", lifted.encode()))
    assert converted == direct
    assert hints_of(result) == expected_hints(tools)
    assert any("preloadedState is ignored" in note for note in result.notes)


def test_gzip_and_cancelling(tmp_path: Path) -> None:
    raw = lifted_state_export(recorded_session())
    plain, _ = convert(write(tmp_path, "state.json", raw))
    packed, _ = convert(write(tmp_path, "state.json.gz", gzip.compress(raw)))
    assert packed == plain
    with pytest.raises(ConversionCancelled):
        CONVERTER.convert(
            tmp_path / "state.json", io.BytesIO(), strict=False, progress=lambda d, t: False
        )


# --- the Redux store's export (actions + preloadedState) --------------------------------------


def store_actions() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    tools = DevTools(todo_reducer, preloaded={"counter": 10, "todos": [], "filter": "all"})
    ui = {"source": "ui"}
    click: dict[str, Any] = {"kind": "click", "target": {"tag": "BUTTON"}}
    click["target"]["event"] = click  # a DOM-like cycle
    tools.dispatch({"type": "counter/increment"}, T0_MS)
    tools.dispatch(
        {"type": "todos/add", "id": "a", "text": "tea", "due": JsDate(DUE_MS), "meta": ui}, T0_MS
    )
    tools.dispatch({"type": "todos/toggle", "id": "a", "event": click, "meta": ui}, T0_MS)
    tools.dispatch({"type": "counter/increment", "by": 2}, T0_MS)
    tools.toggle(tools.staged[4])  # skipped: the export cannot say so
    actions = [tools.actions_by_id[i]["action"] for i in tools.staged[1:]]
    return actions, tools.committed


def test_a_redux_store_export_holds_actions_and_the_preloaded_state(tmp_path: Path) -> None:
    actions, committed = store_actions()
    raw = redux_store_export(actions, committed)
    assert raw.startswith(b'{\n\t"payload": "[{\\"type\\":\\"counter/increment\\"}')
    # The cycle made the extension fall back to jsan: references, dates, "[CIRCULAR]".
    assert b'\\"meta\\":{\\"$jsan\\":\\"$[1].meta\\"}' in raw
    assert f'\\"due\\":{{\\"$jsan\\":\\"d{DUE_MS}\\"}}'.encode() in raw
    assert b'\\"event\\":\\"[CIRCULAR]\\"' in raw
    assert sniff_export(raw)

    converted, result = convert(write(tmp_path, "state.json", raw))
    assert (result.records, result.skipped, result.problems) == (4, 0, [])
    assert hints_of(result) == {
        "skipped_event_ids": [],
        "current_event_id": "action-4",
        "projection": None,
        "initial_state": {"counter": 10, "todos": [], "filter": "all"},
    }
    assert any("no timestamps" in note for note in result.notes)
    events, session = import_events(tmp_path, converted)
    try:
        assert [e.event_id for e in events] == ["action-1", "action-2", "action-3", "action-4"]
        assert [e.version for e in events] == [1, 2, 3, 4]
        assert [e.recorded_us for e in events] == [None] * 4
        assert events[1].data == {
            "id": "a",
            "text": "tea",
            "due": "2024-06-01T00:00:00.000Z",
            "meta": {"source": "ui"},
        }
        assert events[2].data["event"] == {
            "kind": "click",
            "target": {"tag": "BUTTON", "event": CIRCULAR},
        }
        assert events[2].data["meta"] == {"source": "ui"}
        assert all("recorded_state" not in e.metadata["redux"] for e in events)
        assert hints_from_events(events) == hints_of(result)
        # Without recorded states the projection shows the initial state throughout.
        engine = Engine(session.log, RecordedStateProjection({"counter": 10}))
        assert engine.state_at(MAIN, 3) == {"counter": 10}
    finally:
        session.close()


# --- jsan ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "circular"),
    [
        # Outputs from jsan's own test suite (test/unit.js) and README.
        (
            '{"self":{"$jsan":"$"},"a":{},"b":{"$jsan":"$.a"}}',
            {"self": CIRCULAR, "a": {}, "b": {}},
            1,
        ),
        ('[[{"$jsan":"$[0]"}]]', [[CIRCULAR]], 1),
        (
            r'{"[\"key\"]":{"[\"key\"]":{"$jsan":"$[\"[\\\"key\\\"]\"]"}}}',
            {'["key"]': {'["key"]': CIRCULAR}},
            1,
        ),
        (
            '{"self":{"$jsan":"$"},"sub":{"subSelf":{"$jsan":"$.sub"}},"now":{"$jsan":"d1420088400000"}}',
            {"self": CIRCULAR, "sub": {"subSelf": CIRCULAR}, "now": "2015-01-01T05:00:00.000Z"},
            2,
        ),
        (
            r'{"map":{"$jsan":"m[[\"a\",1],[{\"toString\":'
            r'{\"$jsan\":\"ffunction (){ /* ... */ }\"}},2],[{},3]]"}}',
            {"map": [["a", 1], [{"toString": "function (){ /* ... */ }"}, 2], [{}, 3]]},
            0,
        ),
        (
            r'{"map":{"$jsan":"m[[\"a\",1],[\"b\",{\"$jsan\":\"d0\"}]]"}}',
            {"map": {"a": 1, "b": "1970-01-01T00:00:00.000Z"}},
            0,
        ),
        (r'{"set":{"$jsan":"l[\"a\",{},{\"$jsan\":\"u\"}]"}}', {"set": ["a", {}, None]}, 0),
        (
            '{"r":{"$jsan":"r,test"},"f":{"$jsan":"ffunction () { /* ... */ }"}}',
            {"r": "/test/", "f": "function () { /* ... */ }"},
            0,
        ),
        ('{"r":{"$jsan":"rgi,a,b"}}', {"r": "/a,b/gi"}, 0),
        (
            '{"e":{"$jsan":"e:("},"s":{"$jsan":"sfoo"},"g":{"$jsan":"gfoo"}}',
            {"e": "Error: :(", "s": "Symbol(foo)", "g": "Symbol(foo)"},
            0,
        ),
        (
            '{"u":{"$jsan":"u"},"n":{"$jsan":"n"},"l":[{"$jsan":"i"},{"$jsan":"y"},{"$jsan":"u"}]}',
            {"n": None, "l": [None, None, None]},
            0,
        ),
        ('{"$jsan":"d1400000000000"}', "2014-05-13T16:53:20.000Z", 0),
        ('{"$jsan":"u"}', None, 0),
        ('{"$jsan":"dNaN"}', None, 0),
        # A real member named $jsan is escaped as [value] (decycle), its value may be a code.
        (
            '{"a":{"x":1},"o":{"$jsan":["$.a"]},"p":{"$jsan":[{"$jsan":"$.a"}]}}',
            {"a": {"x": 1}, "o": {"$jsan": "$.a"}, "p": {"$jsan": {"x": 1}}},
            0,
        ),
        ('{"$jsan":""}', {"$jsan": ""}, 0),
    ],
)
def test_jsan_codes_decode_as_json_would_hold_the_values(
    text: str, expected: Any, circular: int
) -> None:
    decoded = jsan_parse(text)
    assert decoded.value == expected
    assert decoded.unresolved == []
    assert decoded.circular == circular


def test_jsan_references_share_the_object_and_match_the_encoder() -> None:
    shared = {"x": [1, 2]}
    value = {"a": shared, "b": [shared, {"$jsan": "not a code, a member"}], "ü ber": {"k": shared}}
    text = jsan_stringify(value, ALL)
    assert '{"$jsan":["not a code, a member"]}' in text
    decoded = jsan_parse(text)
    assert decoded.value == {
        "a": {"x": [1, 2]},
        "b": [{"x": [1, 2]}, {"$jsan": "not a code, a member"}],
        "ü ber": {"k": {"x": [1, 2]}},
    }
    assert decoded.value["b"][0] is decoded.value["a"]
    # A reference through a key that is not a word: $["ü ber"].k
    inner = {"deep": [3]}
    text = jsan_stringify({"ü ber": {"k": inner}, "again": inner}, ALL)
    assert '{"$jsan":"$[\\"ü ber\\"].k"}' in text
    assert jsan_parse(text).value["again"] == {"deep": [3]}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"a":{"$jsan":"$.nope"}}', "points to nothing"),
        ('{"a":[1],"b":{"$jsan":"$.a[3]"}}', "points to nothing"),
        ('{"a":{"$jsan":"$.a-b"}}', "malformed jsan reference"),
        ('{"a":{"$jsan":"q12"}}', "unknown jsan code 'q12'"),
        ('{"a":{"$jsan":5}}', "'$jsan' member is 5"),
        ('{"a":{"$jsan":"rgi"}}', "malformed jsan RegExp"),
        ('{"a":{"$jsan":"m[[1,"}}', "Map is not valid JSON"),
        ('{"a":{"$jsan":"l[{\\"$jsan\\":\\"$.x\\"}]"}}', "inside the jsan Set"),
    ],
)
def test_bad_jsan_values_are_kept_as_unresolved_with_their_place(text: str, reason: str) -> None:
    decoded = jsan_parse(text)
    assert len(decoded.unresolved) == 1
    bad = decoded.unresolved[0]
    assert reason in bad.reason
    assert bad.where[0] in ("a", "b")
    assert decoded.value[bad.where[0]] is bad


@pytest.mark.parametrize(
    "ms", [0, -1, 1, 999, DUE_MS, -86_400_001, 253_402_300_799_999, -62_135_596_800_000]
)
def test_dates_are_written_as_to_iso_string_writes_them(ms: int) -> None:
    assert js_date_json(str(ms)) == iso(ms)


def test_dates_outside_four_digit_years_and_invalid_ones() -> None:
    assert js_date_json("8.64e15") == "+275760-09-13T00:00:00.000Z"
    assert js_date_json("-62198755200000") == "-000001-01-01T00:00:00.000Z"
    assert js_date_json("8640000000000001") is None
    assert js_date_json("") == "1970-01-01T00:00:00.000Z"  # +"" is 0
    assert js_date_json("1.9") == "1970-01-01T00:00:00.001Z"
    assert js_date_json("abc") is None


def test_value_offsets_find_values_by_path() -> None:
    raw = b'{"a": [1, {"b": "x,]y"}, [3]], "c\\"": {"d": 4}, "e": []}'
    found = value_offsets(raw, [(), ("a", 1), ("a", 1, "b"), ("a", 2, 0), ('c"', "d"), ("z",)])
    assert {path: raw[at : at + 4] for path, at in found.items()} == {
        (): b'{"a"',
        ("a", 1): b'{"b"',
        ("a", 1, "b"): b'"x,]',
        ("a", 2, 0): b"3]],",
        ('c"', "d"): b"4}, ",
    }


# --- bad input -------------------------------------------------------------------------------


def test_an_invalid_reference_skips_its_action_with_a_located_error(tmp_path: Path) -> None:
    tools = recorded_session()
    raw = lifted_state_export(tools)
    bad_ref = b'{"$jsan":"$.computedStates[20]"}'
    raw = raw.replace(b'{"$jsan":"$.computedStates[2]"}', bad_ref)
    path = write(tmp_path, "state.json", raw)
    converted, result = convert(path)
    assert (result.records, result.skipped) == (6, 1)
    [problem] = result.problems
    assert problem.severity is Severity.ERROR
    assert (problem.file, problem.line) == (str(path), 1)
    assert raw[problem.offset :].startswith(bad_ref)
    assert "action #3 (id 3)" in problem.reason
    assert "'$.computedStates[20]' points to nothing" in problem.reason
    hints = hints_of(result)
    assert hints is not None and hints["skipped_event_ids"] == []  # action 3 is not there
    assert b'"id":"action-3"' not in converted

    with pytest.raises(InputError) as raised:
        convert(path, strict=True)
    assert [p.offset for p in raised.value.problems] == [problem.offset]
    assert str(path) in str(raised.value)


def test_a_bad_code_inside_the_payload_is_located_in_the_file(tmp_path: Path) -> None:
    actions, committed = store_actions()
    raw = redux_store_export(actions, committed)
    raw = raw.replace(b'\\"$jsan\\":\\"$[1].meta\\"', b'\\"$jsan\\":\\"$[1].nope\\"')
    raw = raw.replace(f'\\"$jsan\\":\\"d{DUE_MS}\\"'.encode(), b'\\"$jsan\\":\\"x1\\"')
    path = write(tmp_path, "state.json", raw)
    converted, result = convert(path)
    assert (result.records, result.skipped) == (2, 2)
    first, second = result.problems
    assert raw[first.offset :].startswith(b'{\\"$jsan\\":\\"x1\\"}')
    assert "action #2" in first.reason and "unknown jsan code 'x1'" in first.reason
    assert raw[second.offset :].startswith(b'{\\"$jsan\\":\\"$[1].nope\\"}')
    assert "action #3" in second.reason and "points to nothing" in second.reason
    assert first.line == second.line == 2  # the payload's line in the tab-indented file
    assert [json.loads(line)["id"] for line in converted.splitlines()] == ["action-1", "action-4"]


def test_missing_computed_states_leave_the_last_recorded_state(tmp_path: Path) -> None:
    tools = recorded_session()
    lifted = json.loads(lifted_state_export(tools))
    lifted["computedStates"] = lifted["computedStates"][:5]
    raw = json.dumps(lifted, separators=(",", ":")).encode()
    path = write(tmp_path, "state.json", raw)
    converted, result = convert(path, strict=True)  # a warning does not stop strict mode
    assert (result.records, result.skipped) == (7, 0)
    [warning] = result.problems
    assert warning.severity is Severity.WARNING
    assert "computedStates has 5 entries for 8 staged actions" in warning.reason
    assert raw[: warning.offset].endswith(b'"computedStates":')
    events, session = import_events(tmp_path, converted)
    try:
        assert ["recorded_state" in e.metadata["redux"] for e in events] == [True] * 4 + [False] * 3
        engine = Engine(
            session.log, RecordedStateProjection(hints_from_events(events)["initial_state"])
        )
        last = as_json(tools.computed[4]["state"])
        assert [engine.state_at(MAIN, row) for row in (3, 4, 5, 6)] == [last] * 4
    finally:
        session.close()


def test_actions_that_cannot_be_read_are_skipped_in_file_order(tmp_path: Path) -> None:
    lifted = json.loads(lifted_state_export(recorded_session()))
    lifted["stagedActionIds"][2] = 99  # not in actionsById
    lifted["actionsById"]["4"]["action"] = {"text": "no type"}
    lifted["actionsById"]["5"]["timestamp"] = "yesterday"
    lifted["currentStateIndex"] = 42
    raw = json.dumps(lifted, indent=2).encode()
    path = write(tmp_path, "state.json", raw)
    converted, result = convert(path)
    assert (result.records, result.skipped) == (5, 2)
    assert [p.offset for p in result.problems] == sorted(p.offset for p in result.problems)
    missing = next(p for p in result.problems if "not in actionsById" in p.reason)
    assert raw[missing.offset :].startswith(b"99")
    assert missing.line == raw[: missing.offset].count(b"\n") + 1
    no_type = next(p for p in result.problems if "no 'type'" in p.reason)
    assert raw[no_type.offset :].startswith(b'{\n      "type": "PERFORM_ACTION"')
    stamp = next(p for p in result.problems if "timestamp" in p.reason)
    assert stamp.severity is Severity.WARNING and raw[stamp.offset :].startswith(b'"yesterday"')
    current = next(p for p in result.problems if "currentStateIndex" in p.reason)
    assert current.severity is Severity.WARNING and raw[current.offset :].startswith(b"42")
    assert len(result.problems) == 4
    hints = hints_of(result)
    assert hints is not None and hints["current_event_id"] == "action-7"
    events = [json.loads(line) for line in converted.splitlines()]
    assert [e["id"] for e in events] == ["action-1", "action-3", "action-5", "action-6", "action-7"]
    assert "recorded_at" not in events[2] and "recorded_at" in events[1]


def test_a_truncated_export_is_refused_where_it_ends(tmp_path: Path) -> None:
    raw = lifted_state_export(recorded_session())
    cut = raw[: len(raw) * 3 // 5]
    path = write(tmp_path, "state.json", cut)
    assert sniff_export(cut)
    with pytest.raises(InputError) as raised:
        convert(path)
    [problem] = raised.value.problems
    assert "truncated" in problem.reason and problem.offset == len(cut)
    assert str(path) in str(raised.value)

    store = redux_store_export(*store_actions())
    assert sniff_export(store[:300])
    with pytest.raises(InputError, match="truncated"):
        convert(write(tmp_path, "store.json", store[:300]))
    # The file is whole, but the payload text inside it was cut.
    payload = json.loads(store)["payload"]
    inner_cut = js_json({"payload": payload[:150]}, indent="\t").encode()
    with pytest.raises(InputError) as raised:
        convert(write(tmp_path, "inner.json", inner_cut))
    [problem] = raised.value.problems
    assert "the payload text ends" in problem.reason
    assert problem.offset == len(inner_cut) - len(b'"\n}')


def test_what_is_not_an_export_is_not_claimed_or_converted(tmp_path: Path) -> None:
    jsonl = b"".join(
        orjson.dumps({"id": f"e{i}", "stream": "s", "type": "T", "data": {"payload": "[]"}}) + b"\n"
        for i in range(3)
    )
    kafka = b'{"topic":"t","partition":0,"offset":1,"key":null,"payload":"[{\\"type\\":1}]"}\n'
    for head in (
        jsonl,
        kafka,
        b'{"payload": "hello"}',
        b'{"payload": "[1, 2]"}',
        b'[{"type": "x"}]',
        b'{"actionsById": []}',
        b"",
        b"type,data\nx,1\n",
    ):
        assert not sniff_export(head), head
    for data, reason in (
        (b'{"events": []}', "not a Redux DevTools export"),
        (b'{"payload": "\\"text\\""}', "neither a list of actions nor a lifted state"),
        (b"  \n", "empty file"),
        (b'{"a": 1} x', "not valid JSON"),
        (b'{"actionsById": {}, "stagedActionIds": []}', "stagedActionIds"),
    ):
        with pytest.raises(InputError, match=reason):
            convert(write(tmp_path, "other.json", data))


def test_sniff_reads_the_start_of_big_exports(tmp_path: Path) -> None:
    tools = recorded_session(extra=400)
    lifted = lifted_state_export(tools)
    store = redux_store_export(
        [tools.actions_by_id[i]["action"] for i in tools.staged[1:]], UNDEFINED
    )
    for raw in (lifted, store, b"\xef\xbb\xbf" + store):
        assert len(raw) > 65_536
        assert sniff_export(raw[:65_536])
    converted, result = convert(write(tmp_path, "big.json", b"\xef\xbb\xbf" + lifted))
    assert (result.records, result.skipped, result.problems) == (407, 0, [])
    assert len(converted.splitlines()) == 407


def test_an_export_opens_as_the_devtools_showed_it(tmp_path: Path) -> None:
    """By its own path: the recorded states are the projection, the skipped action is
    dropped in a branch, the cursor starts on the state DevTools showed; reopening keeps all
    of it (the conversion comes from the cache, the branch from the workspace)."""
    from app.session import SKIPPED_BRANCH, open_session

    tools = recorded_session()
    export = write(tmp_path, "todo-devtools.json", lifted_state_export(tools))
    for _ in range(2):
        session = open_session(export, workspace=tmp_path / "ws.sqlite")
        assert session.import_info["format"] == "redux-devtools"
        assert session.projection_name == "redux-recorded"
        assert session.start_row == tools.current - 1
        shown = session.engine.state_at("main", session.start_row)
        assert shown == as_json(tools.computed[tools.current]["state"])
        assert SKIPPED_BRANCH in session.engine.branches()
        skipped = session.engine.sequence(SKIPPED_BRANCH)
        assert int(skipped.dropped.sum()) == len(tools.skipped)
        session.close()
