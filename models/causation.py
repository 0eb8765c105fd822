"""Who caused what: the causation and correlation index of a whole log (DESIGN.md, Analysis).

Events name their cause by its event id (``causation_id``) and the business flow they belong
to by another id (``correlation_id``). Following those ids one lookup at a time would read
payloads on every step, so :meth:`CausationIndex.build` reads them once, in one pass, and keeps
only numpy arrays: per event the position of its cause (or -1) and a link status; the direct
effects of every event as CSR (``child_order`` sliced by ``child_starts``); correlation groups
as codes, with the members of each group stored in time order (``group_order`` sliced by
``group_starts``). A chain query is then a few array slices and a short walk: well under a
millisecond on a million events.

Ids are matched the way the rest of Rewind treats them: a log may repeat an id (at-least-once
delivery), so an id names its *first* event; an event whose causation id is its own id is the
root of its flow; an id that names no event of the log is *dangling* and said so. A cause may
even be recorded after its effect, or ids may point at each other: every walk keeps track of
what it has seen, so a cycle ends the walk and is reported instead of looping.

On a workspace log only the bytes of the member that holds the ids are parsed (the metadata
object, usually the record's last member), not the whole record: see :class:`_RecordReader`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from itertools import islice
from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt
import orjson

from models.decode import loads_stored
from models.gc_pause import cycle_gc_paused
from models.log import NA, Columns, EventLog, IdColumn
from models.mapping import GENERIC, FieldMapping, _split_path, follow
from models.workspace_log import WorkspaceLog

ProgressFn = Callable[[int, int], object]
"""``progress(done, total)``; returning ``False`` (not merely falsy ``None``) cancels."""

Int32Array = npt.NDArray[np.int32]

SERVICE_KEY: Final = "service"
"""The metadata member naming the service that wrote an event (the shop generator's)."""

CAUSES_LIMIT: Final = 10_000
"""Longest walk up a causation chain (a chain of a million links would otherwise take a
second to walk)."""
EFFECTS_LIMIT: Final = 500
"""Most events an effects tree holds; the rest are counted, not listed."""
CORRELATED_LIMIT: Final = 500
"""Most correlated events a :class:`Chain` lists (a window around the event)."""

_BATCH: Final = 4096
"""Events decoded and resolved together: few enough that what they allocate stays in the
CPU's caches while their ids are looked up."""


class Link(IntEnum):
    """How an event names its cause."""

    NONE = 0
    """No causation id."""
    ROOT = 1
    """Its causation id is its own id: it starts a flow."""
    CAUSED = 2
    """Its cause is an event of the log."""
    DANGLING = 3
    """Its causation id names no event of the log."""


class CausationCancelled(Exception):
    """The progress callback returned False: nothing was built."""


@dataclass(slots=True)
class EffectNode:
    """One event of an effects tree and the effects shown below it."""

    pos: int
    children: list[EffectNode] = field(default_factory=list)
    hidden: int = 0
    """Direct effects left out because the tree reached its size limit."""
    loops: bool = False
    """This event is already higher up in the tree (a causation cycle): not expanded again."""

    def size(self) -> int:
        """Events in this tree (loop markers included)."""
        return len(self.positions())

    def positions(self) -> list[int]:
        """Positions of the tree, depth first (the root first). Not recursive: a chain of
        effects can be as deep as the tree is large."""
        out: list[int] = []
        stack = [self]
        while stack:
            node = stack.pop()
            out.append(node.pos)
            stack.extend(reversed(node.children))
        return out

    def walk(self) -> Iterator[tuple[EffectNode, EffectNode | None]]:
        """``(node, its parent)`` for every node, parents before their children."""
        stack: list[tuple[EffectNode, EffectNode | None]] = [(self, None)]
        while stack:
            node, parent = stack.pop()
            yield node, parent
            stack.extend((child, node) for child in reversed(node.children))


@dataclass(frozen=True, slots=True)
class Chain:
    """Everything the index knows about one event's collaboration, for a view to draw."""

    pos: int
    link: Link
    causes: tuple[int, ...]
    """The causes, nearest first; the last one is the root of the flow (unless the walk
    stopped early: see ``missing_cause``, ``cycle`` and ``causes_cut``)."""
    missing_cause: str | None
    """The causation id that names no event of the log, carried by the last event of
    ``causes`` (or by the event itself when it has no causes): where the chain breaks."""
    cycle: bool
    """The causes lead back to an event already on the chain (a cause recorded after its
    effect, ids pointing at each other)."""
    causes_cut: bool
    """The walk stopped at its limit (:data:`CAUSES_LIMIT` by default); the chain goes on
    above the last of ``causes``."""
    effects: EffectNode
    """The event itself, its effects below it, recursively (capped)."""
    correlated: tuple[int, ...]
    """Events of the same correlation id in time order (the event included): all of them, or
    a window of them around the event; empty without a correlation id."""
    correlated_total: int
    correlated_offset: int
    """Index of ``correlated[0]`` among all ``correlated_total`` events of the group."""

    @property
    def root(self) -> int | None:
        """The flow's first event, when the chain reaches one."""
        top = self.causes[-1] if self.causes else self.pos
        if self.cycle or self.causes_cut or self.missing_cause is not None:
            return None
        return top


class Reaction(NamedTuple):
    """Events of ``effect_type`` (written by ``service``) caused by ``cause_type`` events."""

    cause_type: str
    effect_type: str
    service: str | None
    events: int


@dataclass(frozen=True)
class LinkCounts:
    """How many events name their cause in each way (an index's health at a glance)."""

    caused: int
    roots: int
    without_id: int
    dangling: int


class CausationIndex:
    """Causes, effects and correlation groups of every event of one log (positions are source
    positions, i.e. event keys >= 0). Build one with :meth:`build`; it never changes after."""

    def __init__(
        self,
        log: EventLog,
        cause: Int32Array,
        links: npt.NDArray[np.int8],
        correlation: Int32Array,
        service_codes: Int32Array,
        service_names: Sequence[str],
    ) -> None:
        """``cause`` is -1 wherever ``links`` is not CAUSED; ``correlation`` holds group codes
        (-1: no correlation id) below ``len(log) + number of foreign ids``."""
        self._log = log
        self.columns: Columns = log.columns
        n = len(self.columns)
        if not cause.shape == links.shape == correlation.shape == service_codes.shape == (n,):
            raise ValueError("the index arrays must have one value per event of the log")
        self.cause = cause
        self.links = links
        self.correlation = correlation
        self.service_codes = service_codes
        self.service_names = list(service_names)
        self.child_order, self.child_starts = _csr(cause, n)
        groups = int(correlation.max()) + 1 if n else 0
        self.group_order, self.group_starts = _time_csr(correlation, groups, self.columns)
        for array in (
            self.cause,
            self.links,
            self.correlation,
            self.service_codes,
            self.child_order,
            self.child_starts,
            self.group_order,
            self.group_starts,
        ):
            array.setflags(write=False)  # shared with views and workers: never changed

    # --- building -------------------------------------------------------------------------

    @classmethod
    def build(cls, log: EventLog, progress: ProgressFn | None = None) -> CausationIndex:
        """One pass over the log's correlation / causation ids (and the service in metadata).

        Raises :class:`CausationCancelled` when ``progress`` returns False.
        """
        cols = log.columns
        n = len(cols)
        if n >= np.iinfo(np.int32).max // 2:
            raise ValueError(f"{n:,} events are more than a causation index can hold")
        builder = _Builder(cols, progress)
        with cycle_gc_paused():
            for start, corr, caus, svc in _id_batches(log):
                builder.add(start, corr, caus, svc)
        return cls(log, *builder.finish())

    # --- questions about one event --------------------------------------------------------

    def __len__(self) -> int:
        return int(self.cause.shape[0])

    def link(self, pos: int) -> Link:
        return Link(int(self.links[self._check(pos)]))

    def cause_of(self, pos: int) -> int | None:
        cause = int(self.cause[self._check(pos)])
        return None if cause < 0 else cause

    def service(self, pos: int) -> str | None:
        code = int(self.service_codes[self._check(pos)])
        return None if code < 0 else self.service_names[code]

    def children(self, pos: int) -> list[int]:
        """Direct effects, in log order."""
        self._check(pos)
        lo, hi = int(self.child_starts[pos]), int(self.child_starts[pos + 1])
        out: list[int] = self.child_order[lo:hi].tolist()
        return out

    def causes(self, pos: int, limit: int = CAUSES_LIMIT) -> list[int]:
        """The chain up to the root, nearest cause first (at most ``limit`` of them; a cycle
        ends it where it would repeat)."""
        return self._walk(pos, limit)[0]

    def effects(self, pos: int, limit: int = EFFECTS_LIMIT) -> EffectNode:
        """``pos`` and its effects, recursively, breadth first until ``limit`` events are in
        the tree (the others are counted in ``hidden``); an effect that is already in the
        tree (a cycle) is a leaf with ``loops`` set."""
        self._check(pos)
        if limit < 1:
            raise ValueError("an effects tree holds at least its own event")
        root = EffectNode(pos)
        seen = {pos}
        queue: deque[EffectNode] = deque([root])
        size = 1
        order, starts = self.child_order, self.child_starts
        while queue:
            node = queue.popleft()
            lo, hi = int(starts[node.pos]), int(starts[node.pos + 1])
            room = limit - size
            if room <= 0:
                node.hidden = hi - lo
                continue
            take = min(hi - lo, room)
            node.hidden = hi - lo - take
            for child in order[lo : lo + take].tolist():
                leaf = EffectNode(child, loops=child in seen)
                node.children.append(leaf)
                if not leaf.loops:
                    seen.add(child)
                    queue.append(leaf)
            size += take
        return root

    def correlated(self, pos: int) -> list[int]:
        """Every event with the same correlation id as ``pos``, in time order (recorded
        time, then position; events without a time last); empty without a correlation id."""
        lo, hi = self._group(pos)
        out: list[int] = self.group_order[lo:hi].tolist()
        return out

    def chain(
        self,
        pos: int,
        *,
        causes_limit: int = CAUSES_LIMIT,
        effects_limit: int = EFFECTS_LIMIT,
        correlated_limit: int = CORRELATED_LIMIT,
    ) -> Chain:
        causes, cycle, cut = self._walk(pos, causes_limit)
        top = causes[-1] if causes else pos
        missing = None
        if not cycle and not cut and self.links[top] == Link.DANGLING:
            missing = self._log.event(top).causation_id
        lo, hi = self._group(pos)
        offset = 0
        if hi - lo > correlated_limit:
            members = self.group_order[lo:hi]
            at = int(np.flatnonzero(members == pos)[0])
            offset = max(0, min(at - correlated_limit // 2, hi - lo - correlated_limit))
            lo, hi = lo + offset, lo + offset + correlated_limit
        return Chain(
            pos=pos,
            link=self.link(pos),
            causes=tuple(causes),
            missing_cause=missing,
            cycle=cycle,
            causes_cut=cut,
            effects=self.effects(pos, effects_limit),
            correlated=tuple(self.group_order[lo:hi].tolist()),
            correlated_total=self._group_size(pos),
            correlated_offset=offset,
        )

    def counts(self) -> LinkCounts:
        tally = np.bincount(self.links, minlength=len(Link))
        return LinkCounts(
            caused=int(tally[Link.CAUSED]),
            roots=int(tally[Link.ROOT]),
            without_id=int(tally[Link.NONE]),
            dangling=int(tally[Link.DANGLING]),
        )

    # --- internals ------------------------------------------------------------------------

    def _check(self, pos: int) -> int:
        if not 0 <= pos < len(self):
            raise IndexError(f"position {pos} is outside the log (0..{len(self) - 1})")
        return pos

    def _walk(self, pos: int, limit: int) -> tuple[list[int], bool, bool]:
        """(causes nearest first, ended in a cycle, stopped at the limit)."""
        self._check(pos)
        cause = self.cause
        seen = {pos}
        out: list[int] = []
        at = int(cause[pos])
        while at >= 0:
            if at in seen:
                return out, True, False
            if len(out) >= limit:
                return out, False, True
            out.append(at)
            seen.add(at)
            at = int(cause[at])
        return out, False, False

    def _group(self, pos: int) -> tuple[int, int]:
        code = int(self.correlation[self._check(pos)])
        if code < 0:
            return 0, 0
        return int(self.group_starts[code]), int(self.group_starts[code + 1])

    def _group_size(self, pos: int) -> int:
        lo, hi = self._group(pos)
        return hi - lo


def reactions(source: EventLog | CausationIndex) -> list[Reaction]:
    """Who reacts to what over the whole log: for each (cause type, effect type, service of
    the effect) the number of caused events, most frequent first."""
    index = source if isinstance(source, CausationIndex) else CausationIndex.build(source)
    cols = index.columns
    effects = np.flatnonzero(index.cause >= 0)
    if effects.size == 0:
        return []
    types = np.int64(max(len(cols.type_names), 1))
    services = np.int64(len(index.service_names) + 1)
    cause_types = cols.type_codes[index.cause[effects]].astype(np.int64)
    effect_types = cols.type_codes[effects].astype(np.int64)
    service = index.service_codes[effects].astype(np.int64) + 1
    keys, counts = np.unique(
        (cause_types * types + effect_types) * services + service, return_counts=True
    )
    names, svc_names = cols.type_names, index.service_names
    out = [
        Reaction(
            names[key // services // types],
            names[key // services % types],
            None if key % services == 0 else svc_names[key % services - 1],
            count,
        )
        for key, count in zip(keys.tolist(), counts.tolist(), strict=True)
    ]
    out.sort(key=lambda r: (-r.events, r.cause_type, r.effect_type, r.service or ""))
    return out


# --- building -------------------------------------------------------------------------------


_Ids = Sequence["str | None"]


class _Builder:
    """Resolves ids to positions batch by batch: only numpy arrays outlive a batch."""

    def __init__(self, cols: Columns, progress: ProgressFn | None) -> None:
        self.cols = cols
        self.n = len(cols)
        self.progress = progress
        self.lookup = _IdLookup(cols.event_ids)
        self.foreign: dict[str, int] = {}
        """Correlation ids that are no event's id, by group code (from ``n`` up)."""
        self.services: dict[str | None, int] = {None: -1}
        self.parts: list[tuple[Int32Array, npt.NDArray[np.int8], Int32Array, Int32Array]] = []
        self.done = 0
        self._tick()

    def add(self, start: int, corr: _Ids, caus: _Ids, svc: _Ids) -> None:
        m = len(caus)
        if start != self.done or m != len(corr) or m != len(svc):
            raise ValueError("the ids of the log did not come in order")  # a bug, not input
        named = _objects(caus)
        cause = self.lookup.positions(named)
        has = np.fromiter(map(bool, caus), np.bool_, m)  # "" is no id either
        itself: npt.NDArray[np.bool_] = named == self.cols.event_ids[start : start + m]
        links = np.where(
            ~has,
            np.int8(Link.NONE),
            np.where(
                itself,
                np.int8(Link.ROOT),
                np.where(cause >= 0, np.int8(Link.CAUSED), np.int8(Link.DANGLING)),
            ),
        ).astype(np.int8)
        cause[links != Link.CAUSED] = -1

        flows = dict.fromkeys(corr)  # events of one flow share the id: look each up once
        unique = _objects(list(flows))
        flows.update(zip(unique.tolist(), self.lookup.positions(unique).tolist(), strict=True))
        group = np.fromiter(map(flows.__getitem__, corr), np.int32, m)
        has_corr = np.fromiter(map(bool, corr), np.bool_, m)
        foreign = np.flatnonzero((group < 0) & has_corr)
        if foreign.size:
            table, base = self.foreign, self.n
            for at in foreign.tolist():
                name = corr[at]
                assert name is not None  # has_corr
                group[at] = base + table.setdefault(name, len(table))

        services = self.services
        for name in dict.fromkeys(svc):
            if name not in services:
                services[name] = len(services) - 1
        codes = np.fromiter(map(services.__getitem__, svc), np.int32, m)

        self.parts.append((cause, links, group, codes))
        self.done += m
        self._tick()

    def _tick(self) -> None:
        if self.progress is not None and self.progress(self.done, self.n) is False:
            raise CausationCancelled(
                f"indexing causation was cancelled after {self.done:,} of {self.n:,} events"
            )

    def finish(self) -> tuple[Int32Array, npt.NDArray[np.int8], Int32Array, Int32Array, list[str]]:
        if self.done != self.n:
            raise ValueError(f"read the ids of {self.done:,} events, expected {self.n:,}")
        if not self.parts:
            empty = np.zeros(0, np.int32)
            return empty, np.zeros(0, np.int8), empty.copy(), empty.copy(), []
        cause, links, group, codes = (np.concatenate(p) for p in zip(*self.parts, strict=True))
        names = [name for name in self.services if name is not None]
        return cause, links, group, codes, names


def _objects(values: Sequence[Any]) -> npt.NDArray[np.object_]:
    array = np.empty(len(values), object)
    array[:] = values
    return array


class _IdLookup:
    """First position of an event id, for whole batches of ids at once.

    A hash table built with numpy: the log's ids bucketed by the low bits of their hash
    (positions ascending inside a bucket), a lookup compares hashes, then text, bucket entry
    by bucket entry for the whole batch at once. A million ids cost three arrays instead of
    a million-entry dict (about 70 MB and twice the time to build).
    """

    def __init__(self, ids: IdColumn) -> None:
        n = len(ids)
        self.ids = ids
        self.mask = (1 << max(1, (2 * n).bit_length())) - 1  # at least 2 buckets per id
        hashes = ids.hashes()
        buckets = hashes & self.mask
        self.order = np.argsort(buckets, kind="stable").astype(np.int32)
        self.hashes = hashes[self.order]
        self.starts = np.zeros(self.mask + 2, np.int32)
        np.cumsum(np.bincount(buckets, minlength=self.mask + 1), out=self.starts[1:])

    def positions(self, names: npt.NDArray[np.object_]) -> Int32Array:
        """Per name, the first position of the event with that id; -1 where none has it."""
        m = len(names)
        out = np.full(m, -1, np.int32)
        wanted = np.fromiter(map(hash, names.tolist()), np.int64, m)
        buckets = wanted & self.mask
        at, end = self.starts[buckets], self.starts[buckets + 1]
        active = np.flatnonzero(at < end)
        while active.size:
            slot = at[active]
            same = self.hashes[slot] == wanted[active]
            if same.any():
                pos = self.order[slot[same]]
                which = active[same]
                equal: npt.NDArray[np.bool_] = self.ids[pos] == names[which]
                out[which[equal]] = pos[equal]
                same[same] = equal
            at[active] += 1
            active = active[~same & (at[active] < end[active])]
        return out


def _csr(cause: Int32Array, n: int) -> tuple[Int32Array, Int32Array]:
    """Direct effects of every event: ``order[starts[p]:starts[p + 1]]``, in log order."""
    effects = np.flatnonzero(cause >= 0).astype(np.int32)
    order = effects[np.argsort(cause[effects], kind="stable")]
    starts = np.zeros(n + 1, np.int32)
    np.cumsum(np.bincount(cause[effects], minlength=n), out=starts[1:])
    return order, starts


def _time_csr(codes: Int32Array, groups: int, cols: Columns) -> tuple[Int32Array, Int32Array]:
    """Members of every group in time order: recorded time (events without one last), then
    position; so a chain's correlated events are one slice."""
    members = np.flatnonzero(codes >= 0).astype(np.int32)
    recorded = cols.recorded_us[members]
    recorded = np.where(recorded == NA, np.iinfo(np.int64).max, recorded)
    by_time = members[np.argsort(recorded, kind="stable")]
    order = by_time[np.argsort(codes[by_time], kind="stable")]
    starts = np.zeros(groups + 1, np.int32)
    np.cumsum(np.bincount(codes[members], minlength=groups), out=starts[1:])
    return order, starts


# --- reading the ids --------------------------------------------------------------------------


def _id_batches(log: EventLog) -> Iterator[tuple[int, _Ids, _Ids, _Ids]]:
    """``(start, correlation ids, causation ids, services)`` for consecutive batches."""
    if isinstance(log, WorkspaceLog):
        mapping = FieldMapping.from_json(log.source.mapping)
        if mapping.preset == GENERIC:
            return _raw_batches(log, _RecordReader(mapping))
    return _event_batches(log)


def _event_batches(log: EventLog) -> Iterator[tuple[int, _Ids, _Ids, _Ids]]:
    """Any log: from decoded events (the reference the raw path must agree with)."""
    events = log.iter_events()
    start = 0
    while batch := list(islice(events, _BATCH)):
        yield (
            start,
            [e.correlation_id for e in batch],
            [e.causation_id for e in batch],
            [_text(e.metadata.get(SERVICE_KEY)) for e in batch],
        )
        start += len(batch)


def _raw_batches(
    log: WorkspaceLog, reader: _RecordReader
) -> Iterator[tuple[int, _Ids, _Ids, _Ids]]:
    """A workspace log: the stored records, read by ``reader`` a batch at a time; no Event
    is built.

    Uses the log's chunk iterator (``WorkspaceLog._chunk_maps``, the one ``iter_events`` and
    ``iter_payloads`` use): there is no public way to stream raw records yet."""

    def records(raw: list[bytes], first: int, lo: int, hi: int) -> Iterator[list[bytes]]:
        return iter((raw[lo - first : hi - first],))

    start = 0
    corr: list[str | None] = []
    caus: list[str | None] = []
    svc: list[str | None] = []
    for chunk in log._chunk_maps(0, None, records):
        for raw in chunk:  # read chunk by chunk: what it parses stays in the CPU's caches
            a, b, c = reader.read(raw)
            corr += a
            caus += b
            svc += c
        if len(caus) >= _BATCH:  # ... and resolved a few chunks at a time
            yield start, corr, caus, svc
            start += len(caus)
            corr, caus, svc = [], [], []
    if caus:
        yield start, corr, caus, svc


def _text(value: Any) -> str | None:
    """Ids and names as the read path gives them (models.mapping): text stays, integers
    become decimal text, other JSON its compact text; empty text is no value."""
    if value is None or value == "":
        return None
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    return orjson.dumps(value).decode()


_NOT_FOUND: Final = object()
_ABSENT: Final = object()
_FIELDS: Final = ("correlation_id", "causation_id", "metadata")
_Fields = tuple["str | None", "str | None", "str | None"]
_Column = list[Any]


class _RecordReader:
    """``(correlation ids, causation ids, services)`` of stored records, exactly as the
    decoder's Events would carry them, without parsing whole records where it can.

    The fast path: when every path the ids are read from starts at one top-level member
    ``K`` (``metadata.correlation_id`` ...), only that member's value is parsed. Its key is
    found with ``rfind``; in valid JSON a ``"K":`` whose quote is not escaped is a key token,
    and if the bytes from its value to the record's closing brace parse as *one* JSON value,
    that value is followed by the closing brace of the record itself, so the key is a
    top-level one (a nested ``K`` or a member after it makes the parse fail). Anything else
    (``K`` not last, spaces around it, escapes in the key) takes the full parse, and so does
    a record whose service may come from a top-level member (see ``leftovers``).
    """

    def __init__(self, mapping: FieldMapping) -> None:
        g = mapping._getters
        self.getters = (g["correlation_id"], g["causation_id"])
        self.meta = g["metadata"]
        self.leftovers = g["data"] is not None and SERVICE_KEY not in mapping._top_keys
        """The decoder adds unmapped top-level members to metadata when data is mapped, so
        a top-level ``service`` member shows there (unless the metadata has one)."""
        paths = {
            name: [_split_path(alternative) for alternative in path.split("|")]
            for name in ("correlation_id", "causation_id", "metadata")
            if (path := mapping.paths[name]) is not None
        }
        roots = {parts[0] for alternatives in paths.values() for parts in alternatives}
        self.key: str | None = roots.pop() if len(roots) == 1 else None
        self.inner = {
            name: tuple(parts[1:] for parts in alternatives) for name, alternatives in paths.items()
        }
        """Per field, its alternatives below ``K``."""
        self.service_token = orjson.dumps(SERVICE_KEY)
        token = orjson.dumps(self.key) + b":"
        self._member = _last_member_reader(token) if self.key else None
        corr, caus, meta = (self.inner.get(name, ()) for name in _FIELDS)
        simple = self.key is not None and meta in ((), ((),))
        simple = simple and all(a == () or (len(a) == 1 and len(a[0]) == 1) for a in (corr, caus))
        self._simple = (
            _simple_reader(
                token,
                corr[0][0] if corr else None,
                caus[0][0] if caus else None,
                bool(meta),
                self.service_token if self.leftovers else None,
            )
            if simple
            else None
        )
        """The usual shape (``metadata.correlation_id``, ``metadata.causation_id``,
        ``metadata``): one function call per record does it all."""

    def read(self, raws: list[bytes]) -> tuple[_Column, _Column, _Column]:
        if self._simple is not None:
            rows = list(map(self._simple, raws))
            if None in rows:
                rows = [
                    self.whole(raw) if r is None else r for r, raw in zip(rows, raws, strict=True)
                ]
            return _columns(rows)  # type: ignore[arg-type]  # no None left
        if self._member is None:
            return _columns(list(map(self.whole, raws)))
        members = list(map(self._member, raws))
        corr = _texts(_pick(members, self.inner.get("correlation_id", ())))
        caus = _texts(_pick(members, self.inner.get("causation_id", ())))
        metas = _pick(members, self.inner.get("metadata", ()))
        service = [m.get(SERVICE_KEY, _ABSENT) if type(m) is dict else _ABSENT for m in metas]
        redo = [i for i, m in enumerate(members) if m is _NOT_FOUND]
        if self.leftovers:
            token = self.service_token
            redo += [
                i
                for i, s in enumerate(service)
                if s is _ABSENT and token in raws[i] and members[i] is not _NOT_FOUND
            ]
        service = _texts([None if s is _ABSENT else s for s in service])
        for i in redo:
            corr[i], caus[i], service[i] = self.whole(raws[i])
        return corr, caus, service

    def whole(self, raw: bytes) -> tuple[str | None, str | None, str | None]:
        """The full parse of one record (the decoder's own reading)."""
        try:
            obj = loads_stored(raw)
        except (ValueError, RecursionError):
            return None, None, None  # not stored by an import: nothing to say about it
        if type(obj) is not dict:
            return None, None, None
        corr, caus = (None if get is None else _text(get(obj)) for get in self.getters)
        meta = None if self.meta is None else self.meta(obj)
        if type(meta) is dict and SERVICE_KEY in meta:
            service = _text(meta[SERVICE_KEY])
        else:
            service = _text(obj.get(SERVICE_KEY)) if self.leftovers else None
        return corr, caus, service


def _simple_reader(
    token: bytes,
    corr_key: str | None,
    caus_key: str | None,
    has_meta: bool,
    service_token: bytes | None,
) -> Callable[[bytes], _Fields | None]:
    """:meth:`_RecordReader.read` for one record of the usual shape: the fields, or None
    where only the whole record can tell (see :class:`_RecordReader`)."""
    skip = len(token)
    loads, error, text, absent = orjson.loads, orjson.JSONDecodeError, _text, _ABSENT

    def read(raw: bytes) -> _Fields | None:
        at = raw.rfind(token)
        if at <= 0 or raw[at - 1] == 0x5C or raw[-1] != 0x7D:  # escaped quote; no final }
            return None
        try:
            member = loads(raw[at + skip : -1])
        except error:
            return None
        if member.__class__ is not dict:
            return None
        corr = None if corr_key is None else member.get(corr_key)
        if corr is not None and (corr.__class__ is not str or not corr):
            corr = text(corr)
        caus = None if caus_key is None else member.get(caus_key)
        if caus is not None and (caus.__class__ is not str or not caus):
            caus = text(caus)
        service = member.get(SERVICE_KEY, absent) if has_meta else absent
        if service is absent:
            if service_token is not None and service_token in raw:
                return None  # a top-level service member may be it
            service = None
        elif service is not None and (service.__class__ is not str or not service):
            service = text(service)
        return corr, caus, service

    return read


def _last_member_reader(token: bytes) -> Callable[[bytes], Any]:
    """The value of the top-level member whose key token is ``token`` when it is the
    record's last member, else ``_NOT_FOUND`` (see :class:`_RecordReader`)."""
    skip = len(token)
    loads, error = orjson.loads, orjson.JSONDecodeError

    def member(raw: bytes) -> Any:
        at = raw.rfind(token)
        if at <= 0 or raw[at - 1] == 0x5C or raw[-1] != 0x7D:  # escaped quote; no final }
            return _NOT_FOUND
        try:
            return loads(raw[at + skip : -1])
        except error:
            return _NOT_FOUND

    return member


def _pick(members: list[Any], alternatives: tuple[tuple[str, ...], ...]) -> _Column:
    """The first non-null of the alternatives (paths below the member) in each member."""
    if not alternatives:
        return [None] * len(members)
    if alternatives == ((),):
        return [None if m is _NOT_FOUND else m for m in members]
    if len(alternatives) == 1 and len(alternatives[0]) == 1:
        (key,) = alternatives[0]
        return [m.get(key) if type(m) is dict else None for m in members]

    def dig(member: Any) -> Any:
        for parts in alternatives:
            value = follow(member, parts)
            if value is not None:
                return value
        return None

    return [None if m is _NOT_FOUND else dig(m) for m in members]


def _texts(values: _Column) -> _Column:
    """:func:`_text` where a value is not already text (the common case costs one pass)."""
    return [v if v.__class__ is str and v else _text(v) for v in values]


def _columns(rows: list[_Fields]) -> tuple[_Column, _Column, _Column]:
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
