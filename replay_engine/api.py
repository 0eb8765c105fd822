"""Writing your own projection: a plain Python module Rewind loads and replays.

A projection module creates one or more :class:`Projection` objects and registers handlers on
them with decorators::

    from replay_engine.api import Projection, gateway, sticky_id

    shop = Projection("shop", initial={"balance": 0})   # one state per stream (the default)

    @shop.on("BalanceDebited")
    def debited(state, event):
        state["balance"] -= event.data["amount"]
        return state

    @shop.on("PaymentCharged", effective="2018-02-01")  # this version from that date on
    def charged_with_new_fee(state, event): ...

    @shop.upcaster("OrderPlaced", from_version=1)       # schema 1 -> 2, applied on read
    def order_placed_v2(data):
        return {**data, "total": data.pop("amount")}

Rules of the game (what the engine relies on):

- A handler gets ``(state, event)`` and returns the new state. It receives its own deep copy
  of the state (``copy=True``, the default), so changing it in place and returning it is fine;
  with ``copy=False`` it must build a new state instead (faster for big states).
- Returning ``None`` keeps the (possibly changed) state it was given.
- ``key="stream"`` (default): one state per stream, and the engine only refolds the streams
  an edit touches. ``key=callable``: one state per ``key(event)``. ``key=None``: one state
  for the whole log.
- **Rules by effective date**: several handlers for one type, each ``effective`` from a date
  (or a timestamp); the event's *recorded* time picks the latest rule in effect. A handler
  without ``effective`` applies from the beginning of time.
- **Upcasters** migrate old payloads: the event's ``schema_version`` (1 when it has none)
  goes through ``from_version -> from_version + 1`` steps until no upcaster is registered.
- **Gateway**: :func:`gateway` answers a handler's question to an external system (an
  exchange rate, say) from a recording, never from a live call: first the event's
  ``metadata["gateway"][name][key]``, then the recorded-responses file beside the log
  (``LOG.responses.json``: ``{"name": {"key": answer}}``). A missing recording stops the
  replay at that event with a :class:`GatewayMiss` naming the question.
- **Sticky ids**: :func:`sticky_id` gives the same id for the same natural key on every
  replay, whatever subset or order of events is replayed.
- **A handler that never returns** (a loop, a very slow computation) can be stopped: the
  application calls :func:`interrupt` on the worker thread when the user cancels, and the
  replay ends with :class:`~replay_engine.errors.Cancelled` — not an error at that event,
  and no state is kept from it.

Nothing here imports Qt; the module runs in the application's worker thread.
"""

from __future__ import annotations

import contextvars
import copy as copying
import ctypes
import inspect
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import orjson

from models.event import Event
from models.timeparse import parse_timestamp
from replay_engine.errors import Cancelled

T = TypeVar("T")
Handler = Callable[[Any, Event], Any]
Upcaster = Callable[[Any], Any]
KeyFn = Callable[[Event], str]

STICKY_NAMESPACE: Final = uuid.UUID("6f1c8a52-6a8e-4c1e-9b0e-5f1d2c3b4a59")
"""Namespace of :func:`sticky_id` (uuid5): fixed forever, or ids would change."""


class ProjectionDefinitionError(ValueError):
    """A projection module declares something inconsistent (shown when it is loaded)."""


class GatewayMiss(LookupError):
    """A handler asked the gateway something no recording answers."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One handler version: what the inspector shows as "handled by"."""

    type: str
    function: str
    file: str
    line: int
    effective_us: int | None
    effective_text: str | None

    def describe(self) -> str:
        since = f" (effective {self.effective_text})" if self.effective_text else ""
        return f"{self.function}{since} — {self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class _Version:
    rule: Rule
    handler: Handler


# --- containing the user's code: cancelling a handler that never returns -------------------
#
# The engine's own cancel is cooperative (the progress callback, between chunks), which a
# handler stuck in ``while True`` never reaches. So every call into user code (handler,
# upcaster, key function, initial factory) goes through :func:`_user_code`, which marks the
# thread as inside user code; :func:`interrupt` raises an exception in that thread
# asynchronously (``PyThreadState_SetAsyncExc``), and only while the mark is set.
#
# The race, and how it is closed. CPython raises an asynchronous exception at the target
# thread's next "eval breaker" check (a call, a backward jump, a function entry), not when it
# is sent. If checking the mark and sending were not atomic with clearing it, the canceller
# could see the mark, the user function return, the thread leave the wrapper, and only then
# the send happen: the exception would surface in the engine, say between a fold and its
# cache update. Hence:
#
# 1. ``interrupt`` checks the mark, records ``interrupted`` and sends, all under ``_guard``;
#    the wrapper clears the mark and reads ``interrupted`` under the same lock. So a send
#    happens before the clearing, never after, and the wrapper knows it happened.
# 2. That block holds only attribute loads and stores (no call, no backward jump): no check
#    point, so the exception cannot fire while the lock is held or before the mark is
#    cleared. (If it did anyway, ``with`` would still release the lock.)
# 3. A send just before the clearing may still be pending when the user function has
#    returned. After the clearing the wrapper *flushes* it: it replaces it with a marker
#    exception sent to itself, which fires and is swallowed at once (the send holds the GIL
#    up to the check right after it). Every place where the interrupt may fire before that
#    lies inside the wrapper's ``try``, so it never surfaces after the wrapper returned.
# 4. Setting the mark needs no lock: it is one atomic store made inside that ``try``. The
#    canceller sees 0 (and sends nothing) or 1 (and the thread is already covered). The
#    wrapper costs about 0.5 us a call, 0.3 of it the one lock; a second one here would add
#    as much again to every event of a full replay.
# 5. The exception sent is a ``BaseException`` (:class:`_Interrupted`), so a handler's own
#    ``except Exception`` cannot swallow it; the wrapper turns it into ``Cancelled``, which
#    the engine lets through (never wrapped as a ProjectionError, nothing cached).
#
# Limits: a thread blocked inside one C call (``time.sleep``, a socket read) is interrupted
# when that call returns; a handler that catches ``BaseException`` and carries on runs until
# the next :func:`interrupt` (the application keeps calling it until the job has ended).


class _Interrupted(BaseException):
    """Sent into a thread running user code; becomes ``Cancelled`` at the wrapper."""


class _Flushed(BaseException):
    """Sent by a thread to itself to drop an interrupt that arrived too late."""


class _Site:
    """One thread's mark: how deeply it is inside user code, and whether it was interrupted
    meanwhile (kept until the outermost call ends, so that every level raises ``Cancelled``
    even if user code in between caught the inner one)."""

    __slots__ = ("calls", "depth", "interrupted")

    def __init__(self) -> None:
        self.depth = 0
        self.interrupted = False
        self.calls = 0
        """Outermost calls entered so far (a watchdog tells one long call from many)."""


_guard = threading.Lock()
_sites: dict[int, _Site] = {}
"""Thread ident -> its mark, for :func:`interrupt`. Idents are reused by later threads; an
entry is idle (depth 0) whenever its thread is outside user code, so that is harmless."""


class _Local(threading.local):
    def __init__(self) -> None:
        self.site = _sites[threading.get_ident()] = _Site()


_local = _Local()

_set_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)
"""Our own prototype (``ctypes.pythonapi``'s attributes are shared with other code); a PyDLL
function, so the GIL stays held across the call."""


def _check_point() -> None:
    """Entering a Python function is an eval breaker check: a pending exception fires here."""


def _flush() -> None:
    """Drop an interrupt still pending for this thread (point 3 above)."""
    try:
        _set_async_exc(threading.get_ident(), _Flushed)
        _check_point()
    except _Flushed:
        pass


def _cancelled(fn: Callable[..., Any]) -> Cancelled:
    if fn is _run_chain:
        name = "an upcaster"
    elif getattr(fn, "__func__", None) is Projection._key_text:
        name = "the key function"
    else:
        name = getattr(fn, "__qualname__", None) or repr(fn)
    return Cancelled(f"cancelled while the projection's own code ran ({name})")


def _user_code(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, which :func:`interrupt` may stop from another thread."""
    site = _local.site
    outer = site.depth
    try:
        try:
            site.depth = outer + 1  # point 4: no lock
            if not outer:
                site.calls += 1
            return fn(*args)
        finally:
            with _guard:  # point 2: no check point inside
                site.depth = outer
                hit = site.interrupted
                if not outer:
                    site.interrupted = False
            if hit:
                _flush()
                raise _cancelled(fn) from None  # replaces what fn returned or raised
    except _Interrupted:
        _flush()
        raise _cancelled(fn) from None


def interrupt(thread_id: int) -> bool:
    """Stop the user code that thread ``thread_id`` runs now (the user cancelled).

    ``Cancelled`` then comes out of the projection method that called that code, and the
    engine unwinds as for any cancel, keeping nothing of the fold. Returns False, doing
    nothing, when the thread is not inside user code at this moment (the engine's own
    cancel, through its progress callback, applies there); True when it interrupted.
    Safe to call from any thread, at any time, repeatedly.
    """
    with _guard:
        site = _sites.get(thread_id)
        if site is None or not site.depth:
            return False
        site.interrupted = True
        if _set_async_exc(thread_id, _Interrupted) != 1:  # no such thread: cannot happen
            site.interrupted = False
            return False
    return True


def user_call(thread_id: int) -> int | None:
    """Which outermost call into user code thread ``thread_id`` is in (a number that changes
    with every call), or None when it is not in user code: a watchdog that sees the same
    number twice, seconds apart, has found one call running that long."""
    site = _sites.get(thread_id)
    if site is None or not site.depth:
        return None
    return site.calls


def in_user_code(thread_id: int) -> bool:
    """Whether thread ``thread_id`` is running the user's projection code at this moment."""
    site = _sites.get(thread_id)
    return site is not None and site.depth > 0


# --- gateway and sticky ids ----------------------------------------------------------------


@dataclass
class _Call:
    event: Event
    recordings: Mapping[str, Mapping[str, Any]]


_CURRENT: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("rewind_call", default=None)


def _key_text(key: Any) -> str:
    if isinstance(key, str):
        return key
    return orjson.dumps(key, option=orjson.OPT_SORT_KEYS).decode()


def gateway(name: str, key: Any) -> Any:
    """The recorded answer of external system ``name`` to ``key`` for the current event.

    Only callable from a handler while Rewind replays. Looks in the event's metadata
    (``{"gateway": {name: {key: answer}}}``), then in the recorded-responses file.
    """
    call = _CURRENT.get()
    if call is None:
        raise RuntimeError("gateway() can only be called from a handler during a replay")
    text = _key_text(key)
    recorded = call.event.metadata.get("gateway") if isinstance(call.event.metadata, dict) else None
    if isinstance(recorded, dict):
        answers = recorded.get(name)
        if isinstance(answers, dict) and text in answers:
            return answers[text]
    answers = call.recordings.get(name)
    if answers is not None and text in answers:
        return answers[text]
    raise GatewayMiss(
        f"gateway({name!r}, {text!r}) has no recorded answer for event {call.event.event_id}: "
        f'record it in the event\'s metadata as {{"gateway": {{"{name}": {{"{text}": ...}}}}}} '
        "or in the recorded-responses file beside the log"
    )


def sticky_id(kind: str, natural_key: Any) -> str:
    """A stable id for ``(kind, natural_key)``: equal keys give equal ids on every replay."""
    return str(uuid.uuid5(STICKY_NAMESPACE, f"{kind}\x1f{_key_text(natural_key)}"))


# --- the projection ------------------------------------------------------------------------


def _effective_us(value: Any) -> int:
    try:
        return parse_timestamp(value)
    except ValueError as error:
        raise ProjectionDefinitionError(f"effective={value!r} is not a date: {error}") from None


def _since(version: _Version) -> int:
    return -(1 << 62) if version.rule.effective_us is None else version.rule.effective_us


def _where(fn: Callable[..., Any]) -> tuple[str, str, int]:
    code = getattr(fn, "__code__", None)
    name = getattr(fn, "__qualname__", repr(fn))
    if code is None:
        return name, "?", 0
    return name, code.co_filename, code.co_firstlineno


class Projection:
    """A projection written in Python (see the module docstring for the rules)."""

    key_is_stream: bool
    """Read by the engine: True when states are per stream (it then groups by the stream
    column instead of calling :meth:`key` on every event)."""
    recordings: Mapping[str, Mapping[str, Any]]
    """Recorded gateway answers outside the events (set by the application from the
    recorded-responses file)."""

    def __init__(
        self,
        name: str,
        *,
        initial: Any = None,
        key: str | KeyFn | None = "stream",
        copy: bool = True,
        description: str = "",
    ) -> None:
        if not name or not isinstance(name, str):
            raise ProjectionDefinitionError("a projection needs a name")
        if isinstance(key, str) and key != "stream":
            raise ProjectionDefinitionError(
                f'key={key!r}: use key="stream", a function of the event, or None'
            )
        self.name = name
        self.description = description
        self._initial = initial
        self._key: KeyFn | None = None if key is None or key == "stream" else key  # type: ignore[assignment]
        self.keyed = key is not None
        self.key_is_stream = key == "stream"
        self.copy = copy
        self.recordings = {}
        self._handlers: dict[str, list[_Version]] = {}
        self._fallback: _Version | None = None
        self._upcasters: dict[tuple[str, int], tuple[Upcaster, str]] = {}

    def __repr__(self) -> str:
        return f"Projection({self.name!r})"

    # --- declaring ---------------------------------------------------------------------

    def on(self, *types: str, effective: Any = None) -> Callable[[Handler], Handler]:
        """Register the decorated function for events of ``types``, from ``effective`` on."""
        if not types:
            raise ProjectionDefinitionError("on() needs at least one event type")
        when = None if effective is None else _effective_us(effective)

        def register(fn: Handler) -> Handler:
            problem = signature_problem(fn)
            if problem:
                raise ProjectionDefinitionError(f"{self.name}: {problem}")
            name, file, line = _where(fn)
            for type_ in types:
                versions = self._handlers.setdefault(type_, [])
                if any(v.rule.effective_us == when for v in versions):
                    since = "the beginning" if effective is None else repr(effective)
                    raise ProjectionDefinitionError(
                        f"{self.name}: two handlers for {type_!r} effective from {since} "
                        f"({name} at {file}:{line})"
                    )
                rule = Rule(
                    type_, name, file, line, when, None if effective is None else str(effective)
                )
                versions.append(_Version(rule, fn))
                versions.sort(key=_since)
            return fn

        return register

    def otherwise(self, fn: Handler) -> Handler:
        """Register the handler of every type without one of its own."""
        name, file, line = _where(fn)
        self._fallback = _Version(Rule("*", name, file, line, None, None), fn)
        return fn

    def upcaster(self, type_: str, *, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register the decorated ``data -> data`` migration of ``type_`` payloads from schema
        ``from_version`` to ``from_version + 1``."""
        if from_version < 1:
            raise ProjectionDefinitionError("schema versions start at 1")

        def register(fn: Upcaster) -> Upcaster:
            if (type_, from_version) in self._upcasters:
                raise ProjectionDefinitionError(
                    f"{self.name}: two upcasters of {type_!r} from version {from_version}"
                )
            name, file, line = _where(fn)
            self._upcasters[(type_, from_version)] = (fn, f"{name} — {file}:{line}")
            return fn

        return register

    # --- what the debugger asks --------------------------------------------------------

    def rules(self, type_: str) -> list[Rule]:
        """Every version of the handler of ``type_``, oldest first."""
        return [v.rule for v in self._handlers.get(type_, [])]

    def _version_for(self, event: Event) -> _Version | None:
        versions = self._handlers.get(event.type)
        if not versions:
            return self._fallback
        chosen: _Version | None = None
        at = event.recorded_us
        for version in versions:
            since = version.rule.effective_us
            if since is None or (at is not None and at >= since):
                chosen = version
        if chosen is None:
            first = versions[0].rule
            if at is None:
                raise LookupError(
                    f"event {event.event_id} ({event.type}) has no recorded time, and every "
                    f"handler of {event.type!r} has an effective date: add one without a date"
                )
            raise LookupError(
                f"no handler of {event.type!r} is in effect at the event's recorded time "
                f"(the first is effective {first.effective_text})"
            )
        return chosen

    def rule_for(self, event: Event) -> Rule | None:
        """The handler version that applies ``event`` (None: the event changes nothing).
        Raises LookupError, as the replay would, when no version is in effect for it."""
        version = self._version_for(event)
        return None if version is None else version.rule

    def _chain(self, event: Event) -> list[tuple[Upcaster, str]]:
        """The upcasters of ``event``'s type from its schema version on (1 when it has none)."""
        chain: list[tuple[Upcaster, str]] = []
        version = 1 if event.schema_version is None else event.schema_version
        while (found := self._upcasters.get((event.type, version + len(chain)))) is not None:
            chain.append(found)
        return chain

    def upcast_steps(self, event: Event) -> list[str]:
        """The upcasters :meth:`upcast` applies to ``event``, in order."""
        return [label for _fn, label in self._chain(event)]

    def upcast(self, event: Event) -> Event:
        """``event`` with its payload migrated to the current schema (itself if none apply)."""
        chain = self._chain(event) if self._upcasters else None  # per event: keep it cheap
        if not chain:
            return event
        data = _user_code(_run_chain, chain, copying.deepcopy(event.data))
        version = (1 if event.schema_version is None else event.schema_version) + len(chain)
        return event._replace(data=data, schema_version=version)

    # --- what the engine calls (replay_engine.projection protocols) ---------------------

    def initial_substate(self) -> Any:
        initial = self._initial
        return _user_code(initial) if callable(initial) else copying.deepcopy(initial)

    def initial_state(self) -> Any:
        return {} if self.keyed else self.initial_substate()

    def key(self, event: Event) -> str:
        if self._key is None:
            return event.stream
        return _user_code(self._key_text, self.upcast(event))

    def _key_text(self, event: Event) -> str:
        assert self._key is not None
        return str(self._key(event))  # str() may run the user's __str__: inside user code

    def apply_substate(self, substate: Any, event: Event) -> Any:
        event = self.upcast(event)
        version = self._version_for(event)
        if version is None:
            return substate
        state = copying.deepcopy(substate) if self.copy else substate
        token = _CURRENT.set(_Call(event, self.recordings))
        try:
            result = _user_code(version.handler, state, event)
        finally:
            _CURRENT.reset(token)
        return state if result is None else result

    def apply(self, state: Any, event: Event) -> Any:
        if not self.keyed:
            return self.apply_substate(state, event)
        key = self.key(event)
        old = state.get(key)
        new = self.apply_substate(self.initial_substate() if old is None else old, event)
        return {**state, key: new}


def _run_chain(chain: list[tuple[Upcaster, str]], data: Any) -> Any:
    for fn, _label in chain:
        data = fn(data)
    return data


def projections_in(namespace: Mapping[str, Any]) -> list[Projection]:
    """The projections a module defines (its globals), in definition order."""
    seen: list[Projection] = []
    for value in namespace.values():
        if isinstance(value, Projection) and all(value is not p for p in seen):
            seen.append(value)
    return seen


def check_unique(projections: Iterable[Projection]) -> None:
    names: set[str] = set()
    for p in projections:
        if p.name in names:
            raise ProjectionDefinitionError(f"two projections are named {p.name!r}")
        names.add(p.name)


def signature_problem(fn: Callable[..., Any]) -> str | None:
    """Why ``fn`` cannot be a handler, or None."""
    try:
        inspect.signature(fn).bind(None, None)
    except TypeError:
        return f"{getattr(fn, '__qualname__', fn)} must take (state, event)"
    return None
