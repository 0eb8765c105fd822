"""Redux DevTools exports: the ``state.json`` the Export button saves, in both shapes.

**Actions only** (an instance created by the Redux store enhancer, whose export the page
answers itself): ``{"payload": "<text>", "preloadedState": "<text>"}`` written by
``JSON.stringify(..., null, "\\t")``; ``payload`` is the text of the staged actions without
``@@INIT`` (plain actions, no ids, timestamps, skip flags, recorded states or position) and
``preloadedState`` the text of ``committedState`` (absent when it was undefined). Both texts
come from the extension's ``stringify``: ``JSON.stringify``, or when that fails (a cycle) jsan
with ``{circular: "[CIRCULAR]", date: true}``, or jsan with the ``serialize`` options.
DevTools' own import also accepts a ``payload`` that holds a whole lifted state; so does this.

**Lifted state** (other instances): the monitor's copy of the lifted state, written by
``jsan.stringify(state)`` (plain JSON unless there is a cycle, then ``$jsan`` references for
every shared object) or, with ``serialize``, ``jsan.stringify(state, replacer, null, true)``
(references, dates, undefined, regexps, ... all encoded). Members: ``actionsById`` (``{id:
{"type": "PERFORM_ACTION", "action": {...}, "timestamp": ms, "stack"?: text}}``),
``stagedActionIds`` (``[0, ...]``: position 0 is always the ``@@INIT`` action, also after
DevTools committed old actions), ``skippedActionIds``, ``committedState``,
``computedStates`` (``[{"state", "error"?}]``; entry ``i`` is the state after staged action
``i``, computed with the skipped actions left out: a skipped action's entry *is* the previous
entry, an action whose reducer threw keeps the previous state with ``error`` set to the
error's text, and every later one says "Interrupted by an error up the chain"),
``currentStateIndex`` (the state DevTools showed), ``nextActionId``, ``isLocked``,
``isPaused``.

Mapping, one canonical event per staged action after ``@@INIT`` (which is not an event):

- **stream** <- ``"store"``: one export is one Redux store, one sequence.
- **type** <- ``action.type`` (a non-string type, e.g. a number, is its JSON text);
  **data** <- the action without ``type``; **version** <- the staged position (1, 2, ...).
- **id** <- ``"action-<id>"`` with DevTools' action id (actions-only exports: the position,
  which is the id DevTools' own import gives them).
- **recorded time** <- ``timestamp`` (milliseconds); actions-only exports have none.
- **metadata** ``redux``: ``action_id``, ``skipped`` (in ``skippedActionIds``),
  ``recorded_state`` (``computedStates[i].state``; absent when the export has no entry for
  the action), ``error`` (when the entry has one), ``stack`` (when DevTools traced it),
  ``current: true`` on the action ``currentStateIndex`` points at, and ``initial_state`` on
  the first event (the state before the first action: ``computedStates[0].state``, else
  ``committedState`` / ``preloadedState``).

What the application does after the import comes with the :class:`Conversion`, as the
attribute ``hints`` (see :func:`hints_of`; rebuilt from the events by
:func:`hints_from_events`, for a conversion read back from the cache, which keeps no hints):
``skipped_event_ids`` (a branch "skipped in DevTools" drops them), ``current_event_id``
(where the cursor starts; None: before the first action), ``projection`` (``"redux-recorded"``
when the export has recorded states, see :mod:`replay_engine.recorded`; None for actions-only
exports: load the app's reducer as a projection to replay them) and ``initial_state``.

**jsan** (the npm library, version 3.1: ``lib/cycle.js``, ``lib/utils.js``,
``lib/path-getter.js``) is JSON in which an object ``{"$jsan": "<code>"}`` stands for a value
JSON cannot hold, decoded here as ``JSON.stringify`` would have written the value (Rewind stores
JSON): ``$<path>`` the object first written at that path (``$``, ``.name`` for keys of word
characters, ``["json text"]`` for others, ``[i]`` for array items; references always point to
an object written earlier), ``d<ms>`` a Date (its ISO 8601 text, null when invalid), ``u``
undefined (the member is left out; null in an array), ``r<flags>,<source>`` a RegExp
(``"/source/flags"``), ``f<text>`` a function (its text), ``e<message>`` an Error
(``"Error: message"``), ``s<desc>`` / ``g<key>`` a Symbol (``"Symbol(desc)"``), ``m<jsan>`` a
Map (its own jsan text of ``[[key, value], ...]``: an object when every key is a string, else
that list of pairs), ``l<jsan>`` a Set (a list), ``n`` / ``i`` / ``y`` NaN / Infinity /
-Infinity (null). A real member named ``$jsan`` is written as ``{"$jsan": [value]}``. Where
jsan itself is lenient or buggy, this decoder is strict and says so: a reference to an
ancestor of itself (a cycle, which JSON cannot hold) becomes ``"[CIRCULAR]"`` as the
extension's own fallback writes it, and a note counts them; a reference that points to
nothing, a malformed path or an unknown code makes the record holding it an error (jsan warns
on the console and keeps going); the escaped ``$jsan`` member is unwrapped (jsan's parser
mistakes it for a code). ``{"data": ..., "__serializedType__": ...}`` objects (the
``serialize`` option's custom types) are kept as they are.

Records for ``records + skipped``: the staged actions after ``@@INIT`` (or the actions of an
actions-only payload). A file that is not one complete JSON document, or not an export, stops
the conversion with a located :class:`~models.problems.InputError`. Problems point at the
original file: byte offsets inside the ``payload`` text are mapped back through its escaping.
The whole export is read into memory (it is one JSON document).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import orjson

from models.converters.base import (
    Conversion,
    ConversionCancelled,
    Converter,
    ProgressFn,
    canonical_line,
)
from models.converters.common import PROGRESS_EVERY, Report, Skip, without_bom
from models.event import Event
from models.problems import InputError, Problem, Severity
from models.readers.batch import excerpt
from models.readers.source import BOM, Source
from models.timeparse import MAX_US, MIN_US

STREAM: Final = "store"
"""The stream of every event: one export is one Redux store."""
METADATA_KEY: Final = "redux"
PROJECTION_NAME: Final = "redux-recorded"
"""The name of :class:`replay_engine.recorded.RecordedStateProjection`."""
HINTS_ATTRIBUTE: Final = "hints"
"""The attribute of the returned :class:`Conversion` that holds the hints."""
CIRCULAR: Final = "[CIRCULAR]"
"""What a reference to an enclosing object becomes (the extension's own marker)."""
INIT_TYPE: Final = "@@INIT"

JsanPath = tuple[str | int, ...]
"""Keys (str) and array indices (int) from a document's root."""

_WS: Final = b" \t\r\n"
_MAX_CHAIN = 64
_NOT_AN_EXPORT = (
    "not a Redux DevTools export: expected the state.json its Export button saves, either "
    '{"payload": "<actions>", "preloadedState": "<state>"} or a lifted state with '
    "actionsById, stagedActionIds and computedStates"
)
_EXPORT_AGAIN = "export it again from Redux DevTools"


# --- jsan ----------------------------------------------------------------------------------


class Unresolved:
    """A jsan value that cannot be decoded. It stands in the value's place; a record that
    holds it cannot be written and is reported with ``reason`` at ``where``."""

    __slots__ = ("reason", "where")

    def __init__(self, reason: str, where: JsanPath) -> None:
        self.reason = reason
        self.where = where

    def __repr__(self) -> str:
        return f"Unresolved({self.reason!r}, {self.where!r})"


class _Undefined:
    """JavaScript's undefined while decoding: a member that JSON would leave out."""


_UNDEFINED: Final = _Undefined()
_MISSING: Final = object()


@dataclass
class Decoded:
    value: Any
    unresolved: list[Unresolved] = field(default_factory=list)
    """Every value that could not be decoded, in document order."""
    circular: int = 0
    """References to an enclosing object, replaced by :data:`CIRCULAR`."""


def jsan_parse(text: str | bytes) -> Decoded:
    """``jsan.parse(text)`` as JSON values; raises ``orjson.JSONDecodeError`` for bad JSON.

    As jsan does, only a text that contains ``"$jsan"`` is searched for codes.
    """
    root = orjson.loads(text)
    marked = b'"$jsan"' in text if isinstance(text, bytes) else '"$jsan"' in text
    return _Retrocycle(root).run() if marked else Decoded(root)


_PLAIN, _ENCODED, _ESCAPED, _BAD = range(4)
_SEGMENT = re.compile(r'\.([A-Za-z0-9_]+)|\[([0-9]+)\]|\["((?:[^"\\]|\\.)*)"\]', re.S)


def _kind(obj: dict[str, Any]) -> int:
    """What an object's ``$jsan`` member makes of it (jsan: a truthy member is a code)."""
    if "$jsan" not in obj:
        return _PLAIN
    code = obj["$jsan"]
    if type(code) is str:
        return _ENCODED if code else _PLAIN
    if type(code) is list:
        return _ESCAPED if len(code) == 1 else _BAD
    if code is None or code is False or (type(code) in (int, float) and code == 0):
        return _PLAIN
    return _BAD


class _Retrocycle:
    """jsan's ``retrocycle``: the codes replaced in place, in document order."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.unresolved: list[Unresolved] = []
        self.circular = 0
        self._open: set[int] = set()
        self._resolving: set[int] = set()

    def run(self) -> Decoded:
        root = self.root
        if type(root) is dict and _kind(root) == _ENCODED:
            code = root["$jsan"]
            if code.startswith("$"):
                value: Any = self._bad(f"the whole document is the jsan reference {code!r}", ())
            else:
                value = self.restore(code, ())
            return Decoded(None if value is _UNDEFINED else value, self.unresolved, self.circular)
        if type(root) is dict and _kind(root) == _BAD:
            return Decoded(self._bad_member(root, ()), self.unresolved, self.circular)
        if type(root) in (dict, list):
            self._walk()
        return Decoded(root, self.unresolved, self.circular)

    def _bad(self, reason: str, where: JsanPath) -> Unresolved:
        bad = Unresolved(reason, where)
        self.unresolved.append(bad)
        return bad

    def _bad_member(self, obj: dict[str, Any], where: JsanPath) -> Unresolved:
        return self._bad(
            f"an object whose '$jsan' member is {orjson.dumps(obj['$jsan']).decode()[:60]}: "
            "jsan writes a code (a string) or an escaped member ([value]) there",
            where,
        )

    def _walk(self) -> None:
        opened = self._open
        stack: list[tuple[Any, JsanPath | None]] = [(self.root, ())]
        while stack:
            node, path = stack.pop()
            if path is None:
                opened.discard(id(node))
                continue
            opened.add(id(node))
            stack.append((node, None))
            children: list[tuple[Any, JsanPath]] = []
            if type(node) is dict:
                if _kind(node) == _ESCAPED:
                    node["$jsan"] = node["$jsan"][0]
                gone: list[str] = []
                for key, value in node.items():
                    if type(value) is dict:
                        kind = _kind(value)
                        if kind == _ENCODED:
                            new = self.restore(value["$jsan"], (*path, key))
                            if new is _UNDEFINED:
                                gone.append(key)
                            else:
                                node[key] = new
                            continue
                        if kind == _BAD:
                            node[key] = self._bad_member(value, (*path, key))
                            continue
                        children.append((value, (*path, key)))
                    elif type(value) is list:
                        children.append((value, (*path, key)))
                for key in gone:
                    del node[key]
            else:
                for i, value in enumerate(node):
                    if type(value) is dict:
                        kind = _kind(value)
                        if kind == _ENCODED:
                            new = self.restore(value["$jsan"], (*path, i))
                            node[i] = None if new is _UNDEFINED else new
                            continue
                        if kind == _BAD:
                            node[i] = self._bad_member(value, (*path, i))
                            continue
                        children.append((value, (*path, i)))
                    elif type(value) is list:
                        children.append((value, (*path, i)))
            stack.extend(reversed(children))

    def restore(self, code: str, where: JsanPath, depth: int = 0) -> Any:
        """jsan's ``utils.restore`` for one code, as JSON would hold the value."""
        tag, rest = code[0], code[1:]
        if tag == "$":
            target = self._follow(code, where, depth)
            if type(target) in (dict, list) and id(target) in self._open:
                self.circular += 1
                return CIRCULAR
            return target
        if tag == "d":
            return js_date_json(rest)
        if tag == "u":
            return _UNDEFINED
        if tag == "r":
            comma = rest.find(",")
            if comma < 0:
                return self._bad(
                    f"malformed jsan RegExp {code[:60]!r}: no ',' after the flags", where
                )
            return f"/{rest[comma + 1 :]}/{rest[:comma]}"
        if tag == "f":
            return rest
        if tag == "e":
            return f"Error: {rest}" if rest else "Error"
        if tag in ("s", "g"):
            return f"Symbol({rest})"
        if tag in ("n", "i", "y"):
            return None
        if tag in ("m", "l"):
            return self._collection(tag, rest, where)
        return self._bad(
            f"unknown jsan code {code[:40]!r}: jsan 3.1 writes $ (reference), d, u, r, f, e, s, "
            "g, m, l, n, i and y; was the export written by another tool, or edited?",
            where,
        )

    def _collection(self, tag: str, text: str, where: JsanPath) -> Any:
        what = "Map" if tag == "m" else "Set"
        try:
            inner = jsan_parse(text)
        except orjson.JSONDecodeError as exc:
            return self._bad(f"the jsan {what} is not valid JSON text ({exc})", where)
        if inner.unresolved:
            return self._bad(f"inside the jsan {what}: {inner.unresolved[0].reason}", where)
        self.circular += inner.circular
        items = inner.value
        if type(items) is not list:
            return self._bad(f"the jsan {what} is not a list of its entries", where)
        if tag == "l":
            return items
        if all(type(e) is list and len(e) == 2 and type(e[0]) is str for e in items):
            return {e[0]: e[1] for e in items}
        return items

    def _follow(self, path: str, where: JsanPath, depth: int) -> Any:
        """The value a ``$...`` reference points to, or an :class:`Unresolved`."""
        keys: list[str | int] = []
        ends: list[int] = []
        pos = 1
        while pos < len(path):
            m = _SEGMENT.match(path, pos)
            if m is None:
                return self._bad(
                    f"malformed jsan reference {path[:80]!r} (at character {pos}); {_EXPORT_AGAIN}",
                    where,
                )
            pos = m.end()
            ends.append(pos)
            name, index, quoted = m.groups()
            if name is not None:
                keys.append(name)
            elif index is not None:
                keys.append(int(index))
            else:
                try:
                    keys.append(orjson.loads(f'"{quoted}"'))
                except orjson.JSONDecodeError:
                    return self._bad(f"malformed key in the jsan reference {path[:80]!r}", where)
        node = self.root
        for n, key in enumerate(keys):
            node = self._step(node, key, where, depth)
            if node is _MISSING:
                return self._bad(
                    f"the jsan reference {path[:80]!r} points to nothing (no "
                    f"{path[: ends[n]][:80]!r} in the document): the export was edited or "
                    f"cut; {_EXPORT_AGAIN}",
                    where,
                )
        return node

    def _step(self, node: Any, key: str | int, where: JsanPath, depth: int) -> Any:
        if type(node) is dict:
            name = key if type(key) is str else str(key)
            if name not in node:
                return _MISSING
            value = node[name]
        elif type(node) is list:
            if type(key) is str:
                if not (key.isascii() and key.isdigit() and str(int(key)) == key):
                    return _MISSING
                key = int(key)
            if not 0 <= int(key) < len(node):
                return _MISSING
            value = node[int(key)]
        else:
            return _MISSING
        if type(value) is dict and _kind(value) == _ENCODED:
            # A code not replaced yet: jsan never writes a reference to a later object, but
            # an edited file may. A chain through a code being resolved points to nothing.
            if depth >= _MAX_CHAIN or id(value) in self._resolving:
                return _MISSING
            marker = id(value)
            self._resolving.add(marker)
            problems = len(self.unresolved)
            try:
                value = self.restore(value["$jsan"], where, depth + 1)
            finally:
                self._resolving.discard(marker)
                del self.unresolved[problems:]  # reported once, by the outer reference
        if value is _UNDEFINED or isinstance(value, Unresolved):
            return _MISSING
        return value


_JS_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?Infinity")
_JS_RADIX = re.compile(r"0([xXoObB])([0-9a-fA-F]+)")


def _js_number(text: str) -> float:
    """JavaScript's ``+text``."""
    s = text.strip()
    if not s:
        return 0.0
    if _JS_DECIMAL.fullmatch(s):
        return float(s.replace("Infinity", "inf"))
    m = _JS_RADIX.fullmatch(s)
    if m:
        try:
            return float(int(m[2], {"x": 16, "o": 8, "b": 2}[m[1].lower()]))
        except ValueError:
            return math.nan
    return math.nan


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """Proleptic Gregorian (year, month, day) of a day count from 1970-01-01, any year."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def js_date_json(text: str) -> str | None:
    """What ``JSON.stringify(new Date(+text))`` writes: ``toISOString()``, null if invalid."""
    t = _js_number(text)
    if not math.isfinite(t) or abs(t) > 8.64e15:
        return None
    ms = int(t)  # TimeClip truncates towards zero
    days, of_day = divmod(ms, 86_400_000)
    year, month, day = _civil_from_days(days)
    seconds, milli = divmod(of_day, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    y = f"{year:04d}" if 0 <= year <= 9999 else f"{'-' if year < 0 else '+'}{abs(year):06d}"
    return f"{y}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{milli:03d}Z"


# --- where things are in the file ----------------------------------------------------------

_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},:]', re.S)
_SPACE = re.compile(rb"[ \t\r\n]*")


def _end(pattern: re.Pattern[bytes], raw: bytes, pos: int) -> int:
    """Where ``pattern`` (which may match nothing) stops matching from ``pos``."""
    m = pattern.match(raw, pos)
    return pos if m is None else m.end()


def value_offsets(raw: bytes, wanted: Iterable[JsanPath]) -> dict[JsanPath, int]:
    """Byte offsets in the JSON text ``raw`` of the values at the ``wanted`` paths (those that
    exist): one scan of the text, stopped when all are found."""
    want = set(wanted)
    found: dict[JsanPath, int] = {}
    if not want:
        return found
    depths = {len(p) for p in want}
    if () in want:
        found[()] = _end(_SPACE, raw, 0)
    frames: list[list[Any]] = []  # [is_object, key or index, expecting a key]

    def value_at(end: int) -> None:
        if len(frames) in depths:
            path = tuple(f[1] for f in frames)
            if path in want and path not in found:
                found[path] = _end(_SPACE, raw, end)

    for m in _TOKEN.finditer(raw):
        c = raw[m.start()]
        if c == 0x22:  # a string: a key, or a value already located at its separator
            if frames and frames[-1][2]:
                frames[-1][1] = orjson.loads(m.group())
                frames[-1][2] = False
            continue
        if c == 0x7B:  # {
            frames.append([True, "", True])
        elif c == 0x5B:  # [
            frames.append([False, 0, False])
            value_at(m.end())
        elif c in (0x7D, 0x5D):  # } ]
            if frames:
                frames.pop()
        elif c == 0x2C:  # ,
            if frames:
                top = frames[-1]
                if top[0]:
                    top[2] = True
                else:
                    top[1] += 1
                    value_at(m.end())
        elif frames:  # :
            value_at(m.end())
        if len(found) == len(want):
            break
    return found


def _escaped_size(raw: bytes) -> int:
    """Bytes the UTF-8 text ``raw`` takes inside a string literal ``JSON.stringify`` wrote."""
    text = raw.decode("utf-8", "surrogatepass")
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8", "surrogatepass")) - 2


class _Text:
    """One JSON text of the export and where its bytes lie in the file: the file itself, or
    a string member (``payload``) whose value is JSON text."""

    def __init__(self, raw: bytes, start: int, escaped: bool) -> None:
        self.raw = raw
        self.start = start
        """File offset of ``raw[0]``."""
        self.escaped = escaped

    def file_offsets(self, inner: list[int]) -> list[int]:
        """File offsets of byte offsets into :attr:`raw` (any order)."""
        if not self.escaped:
            return [self.start + k for k in inner]
        out = [0] * len(inner)
        done = size = 0
        for i in sorted(range(len(inner)), key=inner.__getitem__):
            k = max(done, min(inner[i], len(self.raw)))
            size += _escaped_size(self.raw[done:k])
            done = k
            out[i] = self.start + size
        return out

    def locate(self, paths: list[JsanPath]) -> list[int]:
        """File offsets of the values at ``paths`` (or of their nearest existing ancestor)."""
        found = value_offsets(self.raw, {p[:n] for p in paths for n in range(len(p) + 1)})
        inner = []
        for p in paths:
            n = len(p)
            while n and p[:n] not in found:
                n -= 1
            inner.append(found.get(p[:n], 0))
        return self.file_offsets(inner)

    def char_offset(self, text: str, pos: int) -> int:
        """File offset of character ``pos`` of ``text`` (this text, decoded)."""
        return self.file_offsets([len(text[:pos].encode("utf-8", "surrogatepass"))])[0]


@dataclass
class _Pending:
    text: _Text
    where: JsanPath
    reason: str
    severity: Severity
    counts: bool


# --- the converter -------------------------------------------------------------------------


def _is_lifted(obj: Any) -> bool:
    return (
        type(obj) is dict
        and type(obj.get("actionsById")) is dict
        and (type(obj.get("computedStates")) is list or type(obj.get("stagedActionIds")) is list)
    )


def _is_action_list(obj: Any) -> bool:
    return type(obj) is list and all(type(a) is dict and "type" in a for a in obj[:50])


def _is_export(obj: Any) -> bool:
    if type(obj) is not dict:
        return False
    if _is_lifted(obj):
        return True
    payload = obj.get("payload")
    if type(payload) is not str or not set(obj) <= {"payload", "preloadedState"}:
        return False
    try:
        inner = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return _is_lifted(inner) or _is_action_list(inner)


_PAYLOAD_START = re.compile(rb'\{\s*"payload"\s*:\s*"')
_LITERAL = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.S)
_LIFTED_KEY = re.compile(rb'"actionsById"\s*:\s*\{')
_LIFTED_OTHER = re.compile(rb'"(?:computedStates|stagedActionIds)"\s*:\s*\[|"PERFORM_ACTION"')


def _literal_prefix(body: bytes, start: int) -> str:
    """The decoded text of the string literal starting at ``start``, as far as ``body`` has
    it (cut before an escape or a character the end splits)."""
    lit = body[start : _end(_LITERAL, body, start)]
    for cut in range(12):
        try:
            text: str = orjson.loads(b'"' + lit[: len(lit) - cut] + b'"')
            return text
        except orjson.JSONDecodeError:
            continue
    return ""


def sniff_export(head: bytes) -> bool:
    """Whether ``head`` starts a Redux DevTools export (by its structure)."""
    body = head.removeprefix(BOM).lstrip(_WS)
    if body[:1] != b"{":
        return False
    try:
        return _is_export(orjson.loads(body))
    except orjson.JSONDecodeError:
        pass
    end = body.find(b"\n")
    if end > 0:
        try:  # a complete first line: JSON Lines (or a one-line export, then more)
            return _is_export(orjson.loads(body[:end]))
        except orjson.JSONDecodeError:
            pass
    # The document goes on beyond the head: look at how it starts.
    m = _PAYLOAD_START.match(body)
    if m:
        inner = _literal_prefix(body, m.end()).lstrip()
        if inner.startswith("["):
            return bool(re.match(r"\[\s*(?:\]|\{)", inner)) and '"type"' in inner
        return inner.startswith("{") and '"actionsById"' in inner
    return bool(_LIFTED_KEY.search(body)) and bool(_LIFTED_OTHER.search(body))


def _action_type(action: dict[str, Any]) -> str:
    if "type" not in action:
        raise Skip(
            "the action has no 'type' (Redux requires one; DevTools never records such an "
            "action): repair the export"
        )
    value = action["type"]
    if type(value) is str:
        return value
    if isinstance(value, Unresolved):
        raise Skip(value.reason)
    return orjson.dumps(value).decode()


def _first_unresolved(value: Any) -> Unresolved | None:
    """The first :class:`Unresolved` inside ``value`` (each container visited once)."""
    seen: set[int] = set()
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, Unresolved):
            return node
        if type(node) in (dict, list) and id(node) not in seen:
            seen.add(id(node))
            items = node.values() if type(node) is dict else node
            stack.extend(reversed(list(items)))
    return None


class _Export:
    """One conversion: the file read, decoded, and written as canonical lines."""

    def __init__(self, path: Path, body: bytes, first: int, report: Report) -> None:
        self.path = path
        self.body = body
        """The file without its byte order mark."""
        self.first = first
        """File offset of ``body[0]``."""
        self.report = report
        self.result = report.result
        self.outer = _Text(body, first, escaped=False)
        self.pending: list[_Pending] = []
        self.hints: dict[str, Any] = {
            "skipped_event_ids": [],
            "current_event_id": None,
            "projection": None,
            "initial_state": None,
        }
        self.circular = 0

    # -- problems --

    def _place(self, offset: int) -> tuple[int, bytes]:
        at = max(0, offset - self.first)
        return self.body.count(b"\n", 0, at) + 1, self.body[at : at + 200]

    def problem(
        self,
        text: _Text,
        where: JsanPath,
        reason: str,
        severity: Severity = Severity.ERROR,
        *,
        counts: bool = True,
    ) -> None:
        pending = _Pending(text, where, reason, severity, counts)
        if self.report.strict and severity is Severity.ERROR:
            self._emit([pending])  # raises InputError
        self.pending.append(pending)

    def _emit(self, pending: list[_Pending]) -> None:
        """Report ``pending`` in file order, locating each text's problems in one scan."""
        placed: list[tuple[int, int, _Pending]] = []
        for text in {id(p.text): p.text for p in pending}.values():
            mine = [(k, p) for k, p in enumerate(pending) if p.text is text]
            offsets = text.locate([p.where for _, p in mine])
            placed.extend((offset, k, p) for offset, (k, p) in zip(offsets, mine, strict=True))
        for offset, _, p in sorted(placed, key=lambda t: (t[0], t[1])):
            line, raw = self._place(offset)
            if p.severity is Severity.ERROR:
                self.report.error(line, offset, p.reason, raw, counts=p.counts)
            else:
                self.report.warn(line, offset, p.reason, raw)

    def fatal(self, offset: int, reason: str) -> InputError:
        line, raw = self._place(offset)
        problem = Problem(str(self.path), line, offset, reason, Severity.ERROR, excerpt(raw))
        return InputError(f"{problem.location()}: {reason}", [problem])

    def _json_error(
        self, exc: orjson.JSONDecodeError, text: str, where: _Text, what: str
    ) -> InputError:
        offset = where.char_offset(text, exc.pos)
        if "end of data" in exc.msg:
            return self.fatal(
                offset,
                f"truncated: {what} ends before its JSON is complete (an interrupted download "
                f"or copy?); {_EXPORT_AGAIN}",
            )
        return self.fatal(offset, f"{what} is not valid JSON ({exc.msg}); {_EXPORT_AGAIN}")

    # -- reading --

    def run(self, out: IO[bytes], progress: ProgressFn | None) -> None:
        if not self.body.strip(_WS):
            raise self.fatal(self.first, f"empty file: {_NOT_AN_EXPORT}")
        try:
            doc = orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            text = self.body.decode("utf-8", "surrogateescape")
            offset = self.first + len(text[: exc.pos].encode("utf-8", "surrogateescape"))
            if "end of data" in exc.msg:
                raise self.fatal(
                    offset,
                    "truncated: the file ends before the export's JSON is complete (an "
                    f"interrupted download or copy?); {_EXPORT_AGAIN}",
                ) from None
            raise self.fatal(
                offset,
                f"not valid JSON ({exc.msg}): {_NOT_AN_EXPORT}",
            ) from None
        if type(doc) is dict and type(doc.get("payload")) is str:
            self._payload_export(doc, out, progress)
        elif type(doc) is dict and "actionsById" in doc:
            decoded = _Retrocycle(doc).run() if b'"$jsan"' in self.body else Decoded(doc)
            self.circular += decoded.circular
            self._lifted(decoded.value, self.outer, out, progress, "")
        else:
            raise self.fatal(self.first, _NOT_AN_EXPORT)
        if self.circular:
            self.result.notes.append(
                f"{self.circular} reference(s) to an enclosing object (a cycle, which JSON "
                f"cannot hold) shown as {CIRCULAR!r}"
            )
        self._emit(self.pending)

    def _member_text(self, doc: dict[str, Any], key: str) -> _Text:
        raw = doc[key].encode("utf-8", "surrogatepass")
        start = self.outer.locate([(key,)])[0] + 1  # after the opening quote
        return _Text(raw, start, escaped=True)

    def _payload_export(
        self, doc: dict[str, Any], out: IO[bytes], progress: ProgressFn | None
    ) -> None:
        payload: str = doc["payload"]
        text = self._member_text(doc, "payload")
        try:
            decoded = jsan_parse(payload)
        except orjson.JSONDecodeError as exc:
            raise self._json_error(exc, payload, text, "the payload text") from None
        self.circular += decoded.circular
        value = decoded.value
        if type(value) is dict and "actionsById" in value:
            ignored = (
                " (its preloadedState is ignored, as DevTools' own import does)"
                if "preloadedState" in doc
                else ""
            )
            self._lifted(value, text, out, progress, f" from its payload{ignored}")
            return
        if type(value) is not list:
            raise self.fatal(
                text.start - 1,
                "the payload is neither a list of actions nor a lifted state (an object with "
                f"actionsById): {_NOT_AN_EXPORT}",
            )
        initial = self._preloaded(doc)
        self._actions(value, text, initial, out, progress)

    def _preloaded(self, doc: dict[str, Any]) -> Any:
        if "preloadedState" not in doc:
            return None
        value = doc["preloadedState"]
        if type(value) is not str:
            return value  # not what DevTools write, but unambiguous
        text = self._member_text(doc, "preloadedState")
        try:
            decoded = jsan_parse(value)
        except orjson.JSONDecodeError as exc:
            raise self._json_error(exc, value, text, "the preloadedState text") from None
        self.circular += decoded.circular
        return self._initial(decoded.value, text)

    def _initial(self, value: Any, text: _Text) -> Any:
        bad = _first_unresolved(value)
        if bad is None:
            return value
        self.problem(
            text,
            bad.where,
            f"the initial state cannot be read: {bad.reason}; it is left empty (null)",
            counts=False,
        )
        return None

    # -- writing --

    def _write(
        self,
        out: IO[bytes],
        text: _Text,
        where: JsanPath,
        event_id: str,
        action: dict[str, Any],
        version: int,
        recorded_us: int | None,
        redux: dict[str, Any],
    ) -> bool:
        try:
            event_type = _action_type(action)
            data = {k: v for k, v in action.items() if k != "type"}
            line = canonical_line(
                event_id=event_id,
                stream=STREAM,
                event_type=event_type,
                data=data,
                version=version,
                recorded_us=recorded_us,
                metadata={METADATA_KEY: redux},
            )
        except Skip as exc:
            self.problem(text, where, f"action #{version}: {exc}")
            return False
        except orjson.JSONEncodeError as exc:
            bad = _first_unresolved([action, redux])
            if bad is not None:
                self.problem(text, bad.where, f"action #{version} ({event_id}): {bad.reason}")
            else:
                self.problem(
                    text,
                    where,
                    f"action #{version} ({event_id}) cannot be written as JSON ({exc}): a "
                    f"reference cycle or nesting too deep; {_EXPORT_AGAIN}",
                )
            return False
        out.write(line)
        self.result.records += 1
        return True

    def _tick(self, count: int, progress: ProgressFn | None) -> None:
        """Let the user cancel while events are written (the file is read by then)."""
        size = len(self.body)
        if progress is not None and count % PROGRESS_EVERY == 0 and not progress(size, size):
            raise ConversionCancelled()

    def _actions(
        self,
        actions: list[Any],
        text: _Text,
        initial: Any,
        out: IO[bytes],
        progress: ProgressFn | None,
    ) -> None:
        """The actions-only shape: no ids, times, skip flags, recorded states or position."""
        last: str | None = None
        for i, action in enumerate(actions, start=1):
            self._tick(i, progress)
            event_id = f"action-{i}"
            if type(action) is not dict:
                self.problem(
                    text,
                    (i - 1,),
                    f"action #{i} is not an object with a 'type' but "
                    f"{orjson.dumps(action, default=repr).decode()[:60]}; repair the export",
                )
                continue
            redux: dict[str, Any] = {"action_id": i, "skipped": False}
            if i == len(actions):
                redux["current"] = True
            if last is None:
                redux["initial_state"] = initial
            if self._write(out, text, (i - 1,), event_id, action, i, None, redux):
                last = event_id
        self.hints.update(current_event_id=last, initial_state=initial)
        self.result.notes.append(
            f"Redux DevTools export of a Redux store: {len(actions)} action(s) in the stream "
            f"'{STREAM}'. This shape holds the actions and preloadedState only (no timestamps, "
            "skip flags, recorded states or position): load your reducer as a projection to "
            "replay them from the initial state"
        )

    def _lifted(
        self,
        lifted: Any,
        text: _Text,
        out: IO[bytes],
        progress: ProgressFn | None,
        origin: str,
    ) -> None:
        if type(lifted) is not dict:
            raise self.fatal(text.start, _NOT_AN_EXPORT)
        actions = lifted.get("actionsById")
        staged = lifted.get("stagedActionIds")
        if type(actions) is not dict:
            raise self.fatal(
                text.locate([("actionsById",)])[0],
                "actionsById is not an object {id: {type: 'PERFORM_ACTION', action, timestamp}}"
                f": {_NOT_AN_EXPORT}",
            )
        if type(staged) is not list or not staged:
            raise self.fatal(
                text.locate([("stagedActionIds",)])[0],
                "stagedActionIds is missing or not a non-empty list of action ids (DevTools "
                f"always write [0, ...]); {_EXPORT_AGAIN}",
            )
        computed = lifted.get("computedStates")
        if type(computed) is not list:
            self.problem(
                text,
                ("computedStates",),
                "no computedStates list: the events have no recorded states (load your "
                "reducer as a projection to replay them)",
                Severity.WARNING,
            )
            computed = []
        elif len(computed) < len(staged):
            self.problem(
                text,
                ("computedStates",),
                f"computedStates has {len(computed)} entries for {len(staged)} staged actions: "
                f"action #{max(1, len(computed))} and later have no recorded state (the "
                "recorded-states projection keeps the last recorded one)",
                Severity.WARNING,
            )
        skipped_ids = lifted.get("skippedActionIds", [])
        if type(skipped_ids) is not list:
            self.problem(
                text,
                ("skippedActionIds",),
                "skippedActionIds is not a list: no action is marked skipped",
                Severity.WARNING,
            )
            skipped_ids = []
        skipped = {x for x in skipped_ids if type(x) is int}
        current = lifted.get("currentStateIndex")
        if type(current) is not int or not 0 <= current < len(staged):
            if "currentStateIndex" in lifted:
                self.problem(
                    text,
                    ("currentStateIndex",),
                    f"currentStateIndex {current!r} is not a staged position: the cursor starts "
                    "at the last action",
                    Severity.WARNING,
                )
            current = len(staged) - 1

        first = computed[0] if computed else None
        if type(first) is dict and "state" in first:
            initial = self._initial(first["state"], text)
            if isinstance(first.get("error"), str):
                self.problem(
                    text,
                    ("computedStates", 0, "error"),
                    f"the reducer threw on @@INIT: {first['error']}",
                    Severity.WARNING,
                )
        else:
            initial = self._initial(lifted.get("committedState"), text)

        written: dict[int, str] = {}
        recorded = errors = 0
        for i in range(1, len(staged)):
            self._tick(i, progress)
            aid = staged[i]
            if type(aid) is not int:
                self.problem(
                    text,
                    ("stagedActionIds", i),
                    f"staged action #{i} has the id {aid!r}, not a number; {_EXPORT_AGAIN}",
                )
                continue
            entry = actions.get(str(aid))
            where: JsanPath = ("actionsById", str(aid))
            if entry is None:
                self.problem(
                    text,
                    ("stagedActionIds", i),
                    f"staged action #{i} (id {aid}) is not in actionsById; {_EXPORT_AGAIN}",
                )
                continue
            if type(entry) is not dict or type(entry.get("action")) is not dict:
                self.problem(
                    text,
                    where,
                    f"actionsById[{aid}] is not a recorded action {{type: 'PERFORM_ACTION', "
                    f"action: {{type, ...}}, timestamp}}; {_EXPORT_AGAIN}",
                )
                continue
            redux: dict[str, Any] = {"action_id": aid, "skipped": aid in skipped}
            state_entry = computed[i] if i < len(computed) else _MISSING
            if isinstance(state_entry, Unresolved):
                self.problem(
                    text, state_entry.where, f"action #{i} (id {aid}): {state_entry.reason}"
                )
                continue
            if type(state_entry) is dict:
                redux["recorded_state"] = state_entry.get("state")
                recorded += 1
                error = state_entry.get("error")
                if error is not None:
                    redux["error"] = error
                    errors += 1
            elif state_entry is not _MISSING:
                self.problem(
                    text,
                    ("computedStates", i),
                    f"computedStates[{i}] is not an object {{state, error?}}: action #{i} has "
                    "no recorded state",
                    Severity.WARNING,
                )
            if type(entry.get("stack")) is str:
                redux["stack"] = entry["stack"]
            if i == current:
                redux["current"] = True
            if not written:
                redux["initial_state"] = initial
            recorded_us = self._time(entry, text, where, i)
            event_id = f"action-{aid}"
            if self._write(out, text, where, event_id, entry["action"], i, recorded_us, redux):
                written[i] = event_id

        kept_current = max((i for i in written if i <= current), default=None)
        self.hints.update(
            skipped_event_ids=[event_id for i, event_id in written.items() if staged[i] in skipped],
            current_event_id=None if kept_current is None else written[kept_current],
            projection=PROJECTION_NAME if recorded else None,
            initial_state=initial,
        )
        n_skipped = len(self.hints["skipped_event_ids"])
        self.result.notes.append(
            f"Redux DevTools lifted state{origin}: {len(staged) - 1} staged action(s) in the "
            f"stream '{STREAM}' ({n_skipped} skipped in DevTools), DevTools showed "
            f"{f'the state after action #{current}' if current else 'the initial state'}; "
            f"{recorded} recorded state(s) (the projection "
            f"'{PROJECTION_NAME}' shows them as DevTools computed them: skipped actions "
            "changed nothing)"
        )
        if errors:
            self.result.notes.append(
                f"{errors} action(s) carry a reducer error from DevTools (metadata "
                f"{METADATA_KEY}.error): the state stayed as it was before them"
            )

    def _time(self, entry: dict[str, Any], text: _Text, where: JsanPath, i: int) -> int | None:
        ts = entry.get("timestamp")
        if ts is None:
            return None
        if type(ts) is float and ts.is_integer():
            ts = int(ts)
        if type(ts) is int and MIN_US <= ts * 1000 <= MAX_US:
            return ts * 1000
        self.problem(
            text,
            (*where, "timestamp"),
            f"action #{i}: timestamp {ts!r} is not milliseconds since the epoch; the event has "
            "no recorded time",
            Severity.WARNING,
        )
        return None


def _read(path: Path, progress: ProgressFn | None) -> tuple[bytes, int]:
    """The whole (decompressed) file without its byte order mark, and the mark's length."""
    parts: list[bytes] = []
    with Source(path) as source:
        blocks, first = without_bom(source)
        for block in blocks:
            parts.append(block)
            if progress is not None and not progress(source.raw_done, source.size):
                raise ConversionCancelled()
    return b"".join(parts), first


class ReduxDevToolsConverter:
    name: str = "redux-devtools"
    description: str = (
        "Redux DevTools export (state.json of the Export button: a lifted state with recorded "
        "states, or a Redux store's actions with preloadedState)"
    )

    def sniff(self, path: Path, head: bytes) -> bool:
        return sniff_export(head)

    def convert(
        self, path: Path, out: IO[bytes], *, strict: bool, progress: ProgressFn | None
    ) -> Conversion:
        result = Conversion()
        report = Report(path, strict, result)
        body, first = _read(path, progress)
        export = _Export(path, body, first, report)
        export.run(out, progress)
        setattr(result, HINTS_ATTRIBUTE, export.hints)
        return result


def hints_of(conversion: Conversion) -> dict[str, Any] | None:
    """What the application should do after importing a converted export: a dict with
    ``skipped_event_ids`` (list of event ids), ``current_event_id`` (str or None),
    ``projection`` (``"redux-recorded"`` or None) and ``initial_state``; None for a
    conversion that has no hints (another format, or one read back from the cache: use
    :func:`hints_from_events` then)."""
    hints = getattr(conversion, HINTS_ATTRIBUTE, None)
    return hints if isinstance(hints, dict) else None


def hints_from_events(events: Iterable[Event]) -> dict[str, Any]:
    """The hints rebuilt from the imported events' ``redux`` metadata (same keys as
    :func:`hints_of`); reads every event, which a DevTools export has few of."""
    skipped: list[str] = []
    current: str | None = None
    initial: Any = None
    recorded = False
    seen_first = False
    for event in events:
        redux = event.metadata.get(METADATA_KEY)
        if not isinstance(redux, dict):
            continue
        if not seen_first:
            initial = redux.get("initial_state")
            seen_first = True
        if redux.get("skipped") is True:
            skipped.append(event.event_id)
        if redux.get("current") is True:
            current = event.event_id
        recorded = recorded or "recorded_state" in redux
    return {
        "skipped_event_ids": skipped,
        "current_event_id": current,
        "projection": PROJECTION_NAME if recorded else None,
        "initial_state": initial,
    }


CONVERTER: Converter = ReduxDevToolsConverter()
