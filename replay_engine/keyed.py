"""Replay of keyed projections with flat memory (DESIGN.md, Replay engine).

No full-state snapshots: a million events over 100k streams would need gigabytes of them.
Instead each display sequence groups its rows by key (CSR: ``order`` + ``starts``), and a
key's substate at a row is folded on demand from that key's own events, through an LRU keyed
by ``(token, code, count)``:

- ``code`` is the key's dictionary code, ``count`` how many of its non-dropped events are
  folded;
- ``token`` names the key's *content* (its non-dropped events and their versions, in order).
  It is ``SOURCE`` when the content is exactly the source log's, so every branch shares the
  work done for every key its edits did not touch; otherwise a digest of the content, so two
  branches (or an undo) that arrive at the same content share it too.

Long keys also keep a snapshot every K of their own events. The source's end state is one
streaming fold over ``log.iter_events()``; a branch's end state is that dict copied with only
the keys its edits touched recomputed.
"""

from __future__ import annotations

import hashlib
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain, islice
from typing import Any, Final

import numpy as np
import orjson

from models.event import Event, EventKey
from models.gc_pause import cycle_gc_paused
from models.log import EventLog, Int32Array, Int64Array, Payload, PayloadLog
from models.memory import release_free_memory
from models.packed import Overlay, PackedStates, dump_state
from replay_engine.branches import Derivation
from replay_engine.compare import Timeline, candidates
from replay_engine.diff import Change, diff, equal
from replay_engine.errors import Cancelled, ProjectionError
from replay_engine.projection import BulkKeyedProjection, KeyedProjection, is_keyed_by_stream

Ticker = Callable[[int, int], None]
"""Progress report (done, total); raises :class:`Cancelled` to stop."""

SOURCE: Final = b""
"""Token of a key whose content is exactly the source log's."""

CHUNK: Final = 65_536
PREFETCH_TAIL: Final = 4
"""A fold past the last snapshot reads its events in one pass from this many on (they sit
in different chunks; one at a time, each would cost a chunk read)."""
_NONE: Final = np.iinfo(np.int64).max
_EMPTY: Final = np.zeros(0, np.int64)
_MISSING: Final = object()


class KeyTable:
    """Key names <-> dense integer codes (grows when an edit introduces a new key)."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.codes = dict(zip(names, range(len(names)), strict=True))  # C speed: 150k names

    def code(self, name: str) -> int:
        found = self.codes.get(name)
        if found is None:
            found = self.codes[name] = len(self.names)
            self.names.append(name)
        return found

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True, slots=True)
class Grouping:
    """Display rows grouped by key code; ascending within each group."""

    order: Int64Array
    starts: Int64Array

    @property
    def n_codes(self) -> int:
        return int(self.starts.shape[0]) - 1

    def rows(self, code: int) -> Int64Array:
        if code >= self.n_codes:
            return _EMPTY
        return self.order[self.starts[code] : self.starts[code + 1]]

    @staticmethod
    def of(codes: Int32Array, n_codes: int) -> Grouping:
        return Grouping(_stable_order(codes), _starts(np.bincount(codes, minlength=n_codes)))


def _stable_order(codes: Int32Array) -> Int64Array:
    """``argsort(codes, kind="stable")`` in two 16-bit radix passes: numpy radix-sorts 16-bit
    keys, but merge-sorts 32-bit ones about five times slower (110 vs 22 ms for 1M rows)."""
    low = np.argsort((codes & 0xFFFF).astype(np.uint16), kind="stable")
    if codes.shape[0] == 0 or int(codes.max()) <= 0xFFFF:
        return low.astype(np.int64)
    high = (codes >> 16).astype(np.uint16)[low]
    return np.asarray(low[np.argsort(high, kind="stable")], np.int64)


def _starts(counts: Int64Array) -> Int64Array:
    starts = np.zeros(counts.shape[0] + 1, np.int64)
    np.cumsum(counts, out=starts[1:])
    return starts


class KeyedIndex:
    """What keyed replay derives once per display sequence, each part on first use."""

    __slots__ = (
        "appearance",
        "appearance_rows",
        "dropped_in_order",
        "end",
        "grouping",
        "override_codes",
        "rank",
        "tokens",
    )

    def __init__(self, grouping: Grouping, override_codes: dict[EventKey, int]) -> None:
        self.grouping = grouping
        self.override_codes = override_codes
        self.tokens: dict[int, tuple[bytes, int]] | None = None
        """code -> (token, how many leading events it shares with the source), for keys whose
        content differs from the source; absent codes are ``SOURCE``."""
        self.appearance: Int64Array | None = None
        self.appearance_rows: Int64Array | None = None
        self.rank: Int64Array | None = None
        self.dropped_in_order: np.ndarray | None = None
        self.end: EndState | None = None


class KeyedReplayer:
    def __init__(
        self,
        log: EventLog,
        projection: KeyedProjection,
        source: Derivation,
        *,
        tick: Ticker,
        cache_size: int,
        stream_snapshot_every: int,
    ) -> None:
        self.log = log
        self.projection = projection
        self.source = source
        self.tick = tick
        self.cache_size = cache_size
        self.k = stream_snapshot_every
        self._table: KeyTable | None = None
        self._source_codes: Int32Array | None = None
        self._source_grouping: Grouping | None = None
        self._indexes: weakref.WeakKeyDictionary[Derivation, KeyedIndex] = (
            weakref.WeakKeyDictionary()
        )
        self._lru: OrderedDict[tuple[bytes, int, int], Any] = OrderedDict()
        self._snaps: dict[tuple[bytes, int], list[Any]] = {}
        self._snaps_tried: set[tuple[bytes, int]] = set()
        self._source_end: Mapping[str, Any] | None = None
        self.end_loader: Callable[[], Mapping[str, Any] | None] | None = None
        self._spilled: PackedStates | None = None
        """The end state a spilling full fold packed (taken by :meth:`source_end`)."""
        self.snapshots_loader: Callable[[], Mapping[str, list[Any]] | None] | None = None
        """Persisted long-key snapshots (see :meth:`seed_source_snapshots`), loaded when a
        seek first looks for snapshots."""
        """Called once, the first time the source's end state is needed, before folding the
        log: a persisted end state (None when there is none that fits)."""
        self._source_totals: Int64Array | None = None
        self._source_failures: dict[str, ProjectionError] = {}
        self._source_failed_codes: set[int] = set()

    # --- keys and grouping ----------------------------------------------------------------

    @property
    def table(self) -> KeyTable:
        if self._table is None:
            self._build_source_keys()
        assert self._table is not None
        return self._table

    def _build_source_keys(self) -> None:
        if is_keyed_by_stream(self.projection):
            columns = self.log.columns
            table = KeyTable(list(columns.stream_names))
            codes = np.asarray(columns.stream_codes, np.int32)
        else:
            table = KeyTable([])
            codes = np.empty(len(self.log), np.int32)
            key = self.projection.key
            total = len(self.log)
            for start in range(0, total, CHUNK):
                for ev in self.log.iter_events(start, min(start + CHUNK, total)):
                    try:
                        codes[ev.pos] = table.code(key(ev))
                    except Cancelled:
                        raise
                    except Exception as exc:
                        raise self._failure(ev, ev.pos, exc, None, self.source) from exc
                self.tick(min(start + CHUNK, total), total)
        grouping = Grouping.of(codes, len(table))
        self._table, self._source_codes, self._source_grouping = table, codes, grouping
        self._source_totals = np.diff(grouping.starts)

    @property
    def source_codes(self) -> Int32Array:
        if self._source_codes is None:
            self._build_source_keys()
        assert self._source_codes is not None
        return self._source_codes

    @property
    def source_grouping(self) -> Grouping:
        if self._source_grouping is None:
            self._build_source_keys()
        assert self._source_grouping is not None
        return self._source_grouping

    def index(self, d: Derivation) -> KeyedIndex:
        found = self._indexes.get(d)
        if found is None:
            found = self._indexes[d] = self._build_index(d)
        return found

    def _build_index(self, d: Derivation) -> KeyedIndex:
        table, src_codes, src = self.table, self.source_codes, self.source_grouping
        override_codes = {key: table.code(self._key_of(ev, d)) for key, ev in d.overrides.items()}
        regroup = set(d.relocated)
        regroup.update(
            key for key, code in override_codes.items() if key >= 0 and code != src_codes[key]
        )
        if not regroup:
            return KeyedIndex(src, override_codes)
        # Patch the source grouping: untouched rows keep their relative order (a gather), the
        # few moved, inserted or re-keyed rows are inserted where they belong. No re-sort.
        n_codes = len(table)
        span = len(d) + 1
        moved = np.array(sorted(key for key in regroup if key >= 0), np.int64)
        keep = np.ones(d.n_source, np.bool_)
        keep[moved] = False
        kept_keys = src.order[keep[src.order]]
        kept_codes = src_codes[kept_keys].astype(np.int64)
        kept_rows = d.source_rows()[kept_keys]
        extra = sorted((self._code(key, override_codes), self._row(d, key)) for key in regroup)
        extra_codes = np.array([code for code, _ in extra], np.int64)
        extra_rows = np.array([row for _, row in extra], np.int64)
        at = np.searchsorted(kept_codes * span + kept_rows, extra_codes * span + extra_rows)
        order = np.insert(kept_rows, at, extra_rows)
        counts = np.bincount(kept_codes, minlength=n_codes) + np.bincount(
            extra_codes, minlength=n_codes
        )
        return KeyedIndex(Grouping(order, _starts(counts)), override_codes)

    @staticmethod
    def _row(d: Derivation, key: EventKey) -> int:
        row = d.row_of(key)
        assert row is not None, "a relocated event is always in its sequence"
        return row

    def _key_of(self, event: Event, d: Derivation) -> str:
        try:
            return self.projection.key(event)
        except Cancelled:
            raise
        except Exception as exc:
            row = d.row_of(event.key)
            raise self._failure(event, -1 if row is None else row, exc, None, d) from exc

    def code_of(self, d: Derivation, key: EventKey) -> int:
        """The code of the key of event ``key`` as ``d`` has it (edits may re-key events)."""
        return self._code(key, self.index(d).override_codes)

    def _code(self, key: EventKey, override_codes: dict[EventKey, int]) -> int:
        found = override_codes.get(key)
        return int(self.source_codes[key]) if found is None else found

    def effective_rows(self, d: Derivation, code: int) -> Int64Array:
        rows = self.index(d).grouping.rows(code)
        return rows[~d.dropped[rows]] if d.drop_count else rows

    def count_at(self, d: Derivation, code: int, row: int) -> int:
        """How many of the key's non-dropped events are at rows <= ``row``."""
        rows = self.index(d).grouping.rows(code)
        n = int(np.searchsorted(rows, row, side="right"))
        if d.drop_count and n:
            n -= int(np.count_nonzero(d.dropped[rows[:n]]))
        return n

    def counts_at(self, d: Derivation, row: int) -> Int64Array:
        """``count_at`` for every code at once (O(n) numpy)."""
        idx = self.index(d)
        g = idx.grouping
        mask = g.order <= row
        if d.drop_count:
            if idx.dropped_in_order is None:
                idx.dropped_in_order = d.dropped[g.order]
            mask &= ~idx.dropped_in_order
        cumulative = np.zeros(mask.shape[0] + 1, np.int64)
        np.cumsum(mask, out=cumulative[1:])
        return np.asarray(cumulative[g.starts[1:]] - cumulative[g.starts[:-1]], np.int64)

    def appearance(self, d: Derivation) -> tuple[Int64Array, Int64Array]:
        """Codes with at least one non-dropped event, by first such row; and those rows."""
        idx = self.index(d)
        if idx.appearance is None or idx.appearance_rows is None:
            g = idx.grouping
            nonempty = g.starts[1:] > g.starts[:-1]
            first = np.full(g.n_codes, _NONE, np.int64)
            first[nonempty] = g.order[g.starts[:-1][nonempty]]
            if d.drop_count:
                dropped_keys = d.keys[d.dropped].tolist()
                for code in {self.code_of(d, key) for key in dropped_keys}:
                    rows = self.effective_rows(d, code)
                    first[code] = rows[0] if rows.shape[0] else _NONE
            order = np.argsort(first)  # first rows are distinct: no need for a stable sort
            order = order[: int(np.count_nonzero(first != _NONE))]
            idx.appearance, idx.appearance_rows = order, first[order]
        return idx.appearance, idx.appearance_rows

    def rank(self, d: Derivation) -> Int64Array:
        idx = self.index(d)
        if idx.rank is None:
            appearance, _ = self.appearance(d)
            rank = np.full(idx.grouping.n_codes, _NONE, np.int64)
            rank[appearance] = np.arange(appearance.shape[0])
            idx.rank = rank
        return idx.rank

    def present(self, d: Derivation, row: int) -> Int64Array:
        appearance, rows = self.appearance(d)
        return appearance[: int(np.searchsorted(rows, row, side="right"))]

    # --- tokens -----------------------------------------------------------------------------

    def tokens(self, d: Derivation) -> dict[int, tuple[bytes, int]]:
        idx = self.index(d)
        if idx.tokens is None:
            codes: set[int] = set()
            for key in d.touched:
                if key >= 0:
                    codes.add(int(self.source_codes[key]))
                if key in idx.override_codes:
                    codes.add(idx.override_codes[key])
            tokens: dict[int, tuple[bytes, int]] = {}
            for code in sorted(codes):
                rows = self.effective_rows(d, code)
                keys = d.keys[rows]
                revisions = np.zeros(keys.shape[0], np.int64)
                if d.revisions:
                    for i in np.flatnonzero(np.isin(keys, list(d.revisions))).tolist():
                        revisions[i] = d.revisions[int(keys[i])]
                source_keys = self.source_grouping.rows(code)
                n = min(keys.shape[0], source_keys.shape[0])
                differs = (keys[:n] != source_keys[:n]) | (revisions[:n] != 0)
                shared = int(np.argmax(differs)) if differs.any() else n
                if shared == keys.shape[0] == source_keys.shape[0]:
                    continue
                digest = hashlib.blake2b(keys.tobytes() + revisions.tobytes(), digest_size=16)
                tokens[code] = (digest.digest(), shared)
            idx.tokens = tokens
        return idx.tokens

    def token_at(self, d: Derivation, code: int, count: int) -> bytes:
        """The token naming the content of the key's first ``count`` events."""
        token, shared = self.tokens(d).get(code, (SOURCE, 0))
        return SOURCE if count <= shared else token

    # --- folding ------------------------------------------------------------------------------

    def substate(self, d: Derivation, code: int, count: int, *, stepping: bool = True) -> Any:
        """The key's substate after its first ``count`` non-dropped events in ``d``.

        ``stepping``: also cache the substate one event earlier (what ``changes_at`` and a step
        back need next); bulk callers such as ``materialize`` leave it off.
        """
        if count <= 0:
            return self.projection.initial_substate()
        token = self.token_at(d, code, count)
        if (
            token == SOURCE
            and self._source_end is not None
            and self._source_totals is not None
            and code < self._source_totals.shape[0]
            and count == self._source_totals[code]
            and code not in self._source_failed_codes
        ):
            return self._source_end[self.table.names[code]]
        lru = self._lru
        hit = lru.get((token, code, count), _MISSING)
        if hit is not _MISSING:
            lru.move_to_end((token, code, count))
            return hit
        # A key whose first ``count`` events are the source's is folded over the source's
        # sequence, so that what is cached under SOURCE is the source's, beyond ``count`` too.
        source = token == SOURCE and code in self.tokens(d)
        where = self.source if source else d
        try:
            rows = self.effective_rows(where, code)
            snaps = self._snapshots(where, token, code, rows, count)
            k = self.k
            start = min(count // k, len(snaps)) * k
            state = snaps[start // k - 1] if start else self.projection.initial_substate()
            before = lru.get((token, code, count - 1), _MISSING)
            if before is not _MISSING and count - 1 > start:
                start, state = count - 1, before
            previous = state
            tail = rows[start:count].tolist()
            events = self._prefetch(where, tail, minimum=PREFETCH_TAIL)
            for row in tail:
                previous, state = state, self._apply(where, row, state, events.get(row))
        except ProjectionError as error:
            if source:
                raise self._failure_in(d, error) from error.error
            raise
        self._remember((token, code, count), state)
        if stepping and count - 1 > start:
            self._remember((self.token_at(d, code, count - 1), code, count - 1), previous)
        return state

    def _prefetch(self, d: Derivation, rows: list[int], minimum: int = 64) -> dict[int, Event]:
        """Source events of many rows in one pass over their chunks (see
        WorkspaceLog.events_at), for folds of long keys; others are read one at a time."""
        events_at = getattr(self.log, "events_at", None)
        if events_at is None or len(rows) < minimum:
            return {}
        at = np.array(rows, np.int64)
        keys = d.keys[at]
        keep = keys >= 0
        if d.overrides:
            keep &= np.isin(keys, list(d.overrides), invert=True)
        at, keys = at[keep], keys[keep]
        order = np.argsort(keys, kind="stable")
        fetched = events_at(keys[order].tolist())
        return dict(zip(at[order].tolist(), fetched, strict=True))

    def _apply(self, d: Derivation, row: int, state: Any, event: Event | None = None) -> Any:
        if event is None:
            event = d.event(int(d.keys[row]), self.log)
        try:
            return self.projection.apply_substate(state, event)
        except Cancelled:  # the user cancelled, even from inside the projection's code
            raise
        except Exception as exc:
            raise self._failure(event, row, exc, KeyedState(self, d, row - 1), d) from exc

    def _snapshots(
        self, d: Derivation, token: bytes, code: int, rows: Int64Array, count: int
    ) -> list[Any]:
        """The key's snapshots: its substate after K, 2K, ... of its events.

        A long key gets all of them on its first seek (one fold of that key), so that every
        later seek into it folds at most K events.
        """
        key = (token, code)
        if int(rows.shape[0]) >= 2 * self.k:  # only long keys have snapshots
            self._load_persisted_snapshots()
        found = self._snaps.get(key)
        if found is None:
            found = []
            if token != SOURCE:  # the leading events it shares with the source: reuse those
                _, shared = self.tokens(d)[code]
                found = self._snaps.get((SOURCE, code), [])[: shared // self.k]
            self._snaps[key] = found
        k, total = self.k, int(rows.shape[0])
        if total < 2 * k or len(found) >= total // k or key in self._snaps_tried:
            return found
        self._snaps_tried.add(key)
        state = found[-1] if found else self.projection.initial_substate()
        todo = rows[len(found) * k : total // k * k].tolist()
        events = self._prefetch(d, todo)
        try:
            for at, row in enumerate(todo, len(found) * k):
                try:
                    state = self._apply(d, row, state, events.get(row))
                except ProjectionError:
                    if at < count:
                        raise
                    break  # a failure beyond this seek: keep the snapshots before it
                if (at + 1) % k == 0:
                    found.append(state)
                if (at + 1) % CHUNK == 0:
                    self.tick(at + 1, total)
        except Cancelled:
            self._snaps_tried.discard(key)
            raise
        return found

    def _remember(self, key: tuple[bytes, int, int], state: Any) -> None:
        self._lru[key] = state
        self._lru.move_to_end(key)
        while len(self._lru) > self.cache_size:
            self._lru.popitem(last=False)

    def _failure(
        self, event: Event, row: int, exc: BaseException, before: Any, d: Derivation
    ) -> ProjectionError:
        return ProjectionError.raised_by(self.projection.name, event, row, exc, before, d.serial)

    def source_end(self) -> Mapping[str, Any]:
        """One streaming fold over the whole log: the "full replay" hot loop.

        A key whose projection raises is set aside (its first failure is kept) and the fold
        goes on for the other keys: a branch that drops or edits the bad event still reuses
        everything else. Callers must check :attr:`_source_failures` before trusting a key.
        """
        if self._source_end is not None:
            return self._source_end
        loader, self.end_loader = self.end_loader, None
        if loader is not None:
            loaded = loader()
            if loaded is not None and self.seed_source_end(loaded):
                assert self._source_end is not None
                return self._source_end
        if not is_keyed_by_stream(self.projection):
            self._build_source_keys()  # reports a failing key() at its event, before folding
        states: dict[str, Any] = {}
        failed: dict[str, ProjectionError] = {}
        total = len(self.log)
        with cycle_gc_paused(collect_after=True):
            if not (
                isinstance(self.projection, BulkKeyedProjection)
                and self._fold_source_bulk(self.projection, states, total)
            ):
                states.clear()
                self._fold_source(iter(self.log.iter_events()), states, failed, total)
        end: Mapping[str, Any] = states
        spilled, self._spilled = self._spilled, None
        if not failed and type(self.projection).__dict__.get("json_states", False):
            # kept packed, decoded per key when read, as a reopened log's end state is
            end = spilled if spilled is not None else PackedStates.consume(states) or states
            self._compact_snapshots()
        self._source_end = end
        self._source_failures = failed
        self._source_failed_codes = {self.table.codes[name] for name in failed}
        release_free_memory()  # what the fold freed (see models.memory)
        return end

    def source_snapshots(self) -> dict[str, list[Any]]:
        """The long keys' snapshots over the source sequence, by key name (to persist)."""
        self._load_persisted_snapshots()
        names = self.table.names
        return {
            names[code]: list(found)
            for (token, code), found in self._snaps.items()
            if token == SOURCE and found
        }

    def _load_persisted_snapshots(self) -> None:
        if self.snapshots_loader is not None:
            loader, self.snapshots_loader = self.snapshots_loader, None
            persisted = loader()
            if persisted:
                self.seed_source_snapshots(persisted)

    def seed_source_snapshots(self, snaps: Mapping[str, list[Any]]) -> None:
        """Persisted long-key snapshots (see :meth:`source_snapshots`); keys this log does
        not know, or lists longer than the key's events allow, are ignored."""
        codes = self.table.codes
        codes_col = self.source_codes.astype(np.int64)
        totals: Int64Array = np.bincount(codes_col) if len(codes_col) else np.zeros(0, np.int64)
        for name, found in snaps.items():
            code = codes.get(name)
            if code is None or not isinstance(found, list) or code >= totals.shape[0]:
                continue
            if len(found) <= int(totals[code]) // self.k:
                self._snaps.setdefault((SOURCE, code), found)

    def seed_source_end(self, states: Mapping[str, Any]) -> bool:
        """Take a persisted end state of the source instead of folding the log again.

        Refused (False) when its keys are not exactly the log's keys: a snapshot of another
        log or of an older import must not pass for this one.
        """
        if self._source_end is not None:
            return True
        names = self.table.names
        codes = self.source_codes
        present = np.flatnonzero(np.bincount(codes)).tolist() if len(codes) else []
        if len(states) != len(present) or any(names[c] not in states for c in present):
            return False
        self._source_end = states
        self._source_failures = {}
        self._source_failed_codes = set()
        return True

    def _fold_source_bulk(
        self, projection: BulkKeyedProjection, states: dict[str, Any], total: int
    ) -> bool:
        """The projection's own bulk fold; False if it raised (the caller then folds one
        event at a time, to report the failing event). Long keys get their snapshots later,
        on their first seek."""
        fold_payloads = getattr(projection, "fold_payloads", None)
        if fold_payloads is not None and isinstance(self.log, PayloadLog):
            return self._fold_source_payloads(fold_payloads, states, total)
        fold = projection.fold_events
        stream = iter(self.log.iter_events())
        done = 0
        while (first := next(stream, _MISSING)) is not _MISSING:
            assert isinstance(first, Event)
            try:  # runs are streamed, not listed: a list of 64k events costs a fifth more
                fold(states, chain((first,), islice(stream, CHUNK - 1)))
            except Cancelled:
                raise
            except Exception:
                return False
            done = min(done + CHUNK, total)
            self.tick(done, total)
        return True

    def _fold_source_payloads(
        self,
        fold: Callable[[dict[str, Any], Iterable[Payload]], None],
        states: dict[str, Any],
        total: int,
    ) -> bool:
        """Like the bulk fold, over bare payloads: no Event is built on the full replay.

        It also takes the snapshots of long keys on the way (their substate after K, 2K, ...
        of their events, copied out of the fold), so that no later seek has to fold a long
        key from its start: that would read events scattered over the whole log.
        """
        payloads = self.log.iter_payloads()  # type: ignore[attr-defined]
        points, point_codes = self._snapshot_points()
        names = self.table.names
        snaps: dict[int, list[Any]] = {}
        spill = self._spill_for(states)
        done = 0
        try:
            for at, code in zip(points.tolist(), point_codes.tolist(), strict=True):
                while done < at + 1:
                    if spill is not None:
                        spill(done)
                    step = min(CHUNK, at + 1 - done)
                    fold(states, islice(payloads, step))
                    done += step
                    self.tick(done, total)
                snaps.setdefault(code, []).append(_copy_json(states[names[code]]))
            while done < total:
                if spill is not None:
                    spill(done)
                fold(states, islice(payloads, CHUNK))
                done = min(done + CHUNK, total)
                self.tick(done, total)
            if spill is not None:
                spill(total)
                self._spilled = spill.packed()
        except Cancelled:
            raise
        except Exception:
            return False
        for code, found in snaps.items():
            self._snaps[(SOURCE, code)] = found
        return True

    def _spill_for(self, states: dict[str, Any]) -> _Spill | None:
        """A spill for a full fold of JSON states keyed by stream (see :class:`_Spill`)."""
        if not (
            type(self.projection).__dict__.get("json_states", False)
            and is_keyed_by_stream(self.projection)
        ):
            return None
        return _Spill(states, self.table.names, self.source_grouping)

    def _compact_snapshots(self) -> None:
        """Re-create the long keys' snapshots (JSON states) after a full fold. Taken during
        the fold, they lie scattered among the memory the fold's states held, and each pins
        its page of it: a million events' fold kept 100 MB this way. Rebuilt once the rest is
        freed, they fill few pages."""
        stored = {key: orjson.dumps(found) for key, found in self._snaps.items()}
        self._snaps.clear()
        for key, data in stored.items():
            self._snaps[key] = orjson.loads(data)

    def _snapshot_points(self) -> tuple[Int64Array, Int64Array]:
        """Source positions after which a key of at least K events completes K, 2K, ...
        of its events, in log order, with that key's code."""
        codes = self.source_codes.astype(np.int64)
        k = self.k
        if codes.shape[0] == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        totals = np.bincount(codes)
        long_codes = np.flatnonzero(totals >= k)
        if long_codes.shape[0] == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        pos = np.flatnonzero(np.isin(codes, long_codes))
        c = codes[pos]
        order = np.argsort(c, kind="stable")
        sorted_c = c[order]
        starts = np.flatnonzero(np.r_[True, sorted_c[1:] != sorted_c[:-1]])
        lengths = np.diff(np.r_[starts, sorted_c.shape[0]])
        rank = np.empty_like(order)
        rank[order] = np.arange(order.shape[0]) - np.repeat(starts, lengths)
        chosen = (rank + 1) % k == 0
        return pos[chosen], c[chosen]

    def _fold_source(
        self,
        stream: Iterator[Event],
        states: dict[str, Any],
        failed: dict[str, ProjectionError],
        total: int,
    ) -> None:
        projection = self.projection
        key, apply, initial = projection.key, projection.apply_substate, projection.initial_substate
        get = states.get
        missing = _MISSING
        while True:
            ev: Event | None = None
            if not failed:
                for ev in islice(stream, CHUNK):
                    try:
                        k = key(ev)
                        s = get(k, missing)
                        states[k] = apply(initial() if s is missing else s, ev)
                    except Cancelled:
                        raise
                    except Exception as exc:
                        failed[key(ev)] = self._failure(ev, ev.pos, exc, dict(states), self.source)
                        break
            else:  # after a failure: the failed keys are set aside, the others go on
                for ev in islice(stream, CHUNK):
                    k = key(ev)
                    if k in failed:
                        continue
                    try:
                        s = get(k, missing)
                        states[k] = apply(initial() if s is missing else s, ev)
                    except Cancelled:
                        raise
                    except Exception as exc:
                        failed[k] = self._failure(ev, ev.pos, exc, dict(states), self.source)
            if ev is None:
                break
            self.tick(ev.pos + 1, total)

    def end_state(self, d: Derivation) -> EndState:
        """The state after the last row: the source's end state, with only the keys the
        sequence's edits touched recomputed."""
        idx = self.index(d)
        if idx.end is not None:
            return idx.end
        source_end = self.source_end()
        names = self.table.names
        tokens = self.tokens(d)
        errors: list[ProjectionError] = []
        for name, failure in self._source_failures.items():
            if self.table.codes[name] not in tokens:  # the same events as the source: same error
                errors.append(self._failure_in(d, failure))
        values: Any = source_end
        if d.touched:  # a packed end state is overlaid, not copied (that would decode it all)
            values = dict(source_end) if isinstance(source_end, dict) else Overlay(source_end)
        removed: list[int] = []
        added: list[int] = []
        for code in sorted(tokens):
            name = names[code]
            count = int(self.effective_rows(d, code).shape[0])
            if count == 0:
                if values.pop(name, _MISSING) is not _MISSING:
                    removed.append(code)
                continue
            if name not in values:
                added.append(code)
            try:
                values[name] = self.substate(d, code, count)
            except ProjectionError as error:
                errors.append(error)
        if errors:
            raise min(errors, key=lambda error: error.row)
        order: Int64Array | None = None
        if d.touched:
            appearance, _ = self.appearance(d)
            kept, _ = self.appearance(self.source)
            if removed:
                kept = kept[np.isin(kept, removed, invert=True)]
            if not np.array_equal(np.concatenate([kept, np.array(added, np.int64)]), appearance):
                order = appearance  # a key's first event moved: iterate in the new order
        idx.end = EndState(values, order, names)
        return idx.end

    def _failure_in(self, d: Derivation, failure: ProjectionError) -> ProjectionError:
        """The source fold's failure, as seen from sequence ``d`` (its row, its state)."""
        row = d.row_of(failure.key)
        assert row is not None
        before = failure.state_before if d is self.source else KeyedState(self, d, row - 1)
        error = ProjectionError(
            failure.projection, failure.key, row, failure.error, failure.traceback_text, before
        )
        error.sequence_serial = d.serial
        return error

    # --- states, changes, diffs ------------------------------------------------------------

    def state(self, d: Derivation, row: int, label: str) -> KeyedState:
        return KeyedState(self, d, row, label)

    def materialize(self, d: Derivation, row: int) -> dict[str, Any]:
        if row == len(d) - 1:
            return dict(self.end_state(d))
        fold = getattr(self.projection, "fold_payloads", None)
        if d is self.source and fold is not None and isinstance(self.log, PayloadLog):
            # the log itself: one sequential fold of its first rows beats folding every key
            # from events scattered over the whole log
            states: dict[str, Any] = {}
            try:
                with cycle_gc_paused(collect_after=True):
                    fold(states, self.log.iter_payloads(0, row + 1))
                return states
            except Cancelled:
                raise
            except Exception:
                pass  # a projection error: the per-key path below names the failing event
        counts = self.counts_at(d, row)
        names = self.table.names
        return {
            names[code]: self.substate(d, code, int(counts[code]), stepping=False)
            for code in self.present(d, row).tolist()
        }

    def changes_at(self, d: Derivation, row: int) -> list[Change]:
        if d.dropped[row]:
            return []
        code = self.code_of(d, int(d.keys[row]))
        count = self.count_at(d, code, row)
        name = self.table.names[code]
        after = self.substate(d, code, count)
        if count == 1:
            return [Change((name,), "added", None, after)]
        return diff(self.substate(d, code, count - 1), after, (name,))

    def _same(self, a: Derivation, b: Derivation, code: int, na: int, nb: int) -> bool:
        if na == 0 or nb == 0:
            return na == nb
        if na == nb and self.token_at(a, code, na) == self.token_at(b, code, nb):
            return True
        return equal(self.substate(a, code, na), self.substate(b, code, nb))

    def diff(self, a: Derivation, row_a: int, b: Derivation, row_b: int) -> list[Change]:
        """The same list as ``diff(materialize(a), materialize(b))``, computed from only the
        keys whose token or count differ."""
        counts_a, counts_b = self.counts_at(a, row_a), self.counts_at(b, row_b)
        n = max(counts_a.shape[0], counts_b.shape[0])
        counts_a = np.pad(counts_a, (0, n - counts_a.shape[0]))
        counts_b = np.pad(counts_b, (0, n - counts_b.shape[0]))
        suspect = counts_a != counts_b
        for code in self.tokens(a).keys() | self.tokens(b).keys():
            na = int(counts_a[code])
            if na and na == counts_b[code]:
                suspect[code] |= self.token_at(a, code, na) != self.token_at(b, code, na)
        codes = np.flatnonzero(suspect)
        in_a = codes[counts_a[codes] > 0]
        only_b = codes[(counts_a[codes] == 0) & (counts_b[codes] > 0)]
        rank_a, rank_b = self.rank(a), self.rank(b)
        in_a = in_a[np.argsort(rank_a[in_a], kind="stable")]
        only_b = only_b[np.argsort(rank_b[only_b], kind="stable")]
        names = self.table.names
        out: list[Change] = []
        for code in in_a.tolist():
            name = names[code]
            old = self.substate(a, code, int(counts_a[code]))
            if counts_b[code] == 0:
                out.append(Change((name,), "removed", old, None))
            else:
                out.extend(diff(old, self.substate(b, code, int(counts_b[code])), (name,)))
        for code in only_b.tolist():
            new = self.substate(b, code, int(counts_b[code]))
            out.append(Change((names[code],), "added", None, new))
        return out

    def first_divergence(self, a: Derivation, b: Derivation, tl: Timeline) -> EventKey | None:
        """Walk the candidate steps; at each, only keys whose events were crossed can have
        changed (all keys were equal before it), so only those are compared."""
        prev_a, prev_b = tl.previous()
        for i in candidates(a, b, tl).tolist():
            ra, rb = int(tl.rows_a[i]), int(tl.rows_b[i])
            pa, pb = int(prev_a[i]), int(prev_b[i])
            codes = self._codes_between(a, pa, ra) | self._codes_between(b, pb, rb)
            for code in sorted(codes):
                if not self._same(
                    a, b, code, self.count_at(a, code, ra), self.count_at(b, code, rb)
                ):
                    return int(tl.keys[i])
            if i % 4096 == 0:
                self.tick(i, int(tl.keys.shape[0]))
        return None

    def _codes_between(self, d: Derivation, row_a: int, row_b: int) -> set[int]:
        lo, hi = min(row_a, row_b) + 1, max(row_a, row_b) + 1
        keys = d.keys[lo:hi]
        codes = np.zeros(keys.shape[0], np.int64)
        source = keys >= 0
        codes[source] = self.source_codes[keys[source]]
        idx = self.index(d)
        for i in np.flatnonzero(np.isin(keys, list(idx.override_codes))).tolist():
            codes[i] = idx.override_codes[int(keys[i])]
        return set(np.unique(codes).tolist())


_SPILL_PART: Final = 4 << 20
"""Bytes of packed states per part of a spill."""


class _Spill:
    """Packs the states of keys whose last event a full fold has passed, as it goes, so that
    a million events' fold holds the states of the keys still in progress, not of all
    150,000 (most streams of a log live for a short while).

    Call with the number of events folded so far; :meth:`packed` at the end lays the states
    out in the order of the keys' first events (a key's code order)."""

    def __init__(self, states: dict[str, Any], names: list[str], grouping: Grouping) -> None:
        self._states = states
        self._names = names
        n_codes = grouping.n_codes
        present = grouping.starts[1:] > grouping.starts[:-1]
        last = np.full(n_codes, -1, np.int64)
        last[present] = grouping.order[grouping.starts[1:][present] - 1]
        self._codes = np.flatnonzero(present)  # in code order: first appearance
        self._by_last = self._codes[np.argsort(last[self._codes], kind="stable")]
        self._last_sorted = last[self._by_last]
        self._next = 0
        self._parts: list[bytearray | None] = [bytearray()]
        self._part_of = np.zeros(n_codes, np.int64)
        self._starts = np.zeros(n_codes, np.int64)
        self._ends = np.zeros(n_codes, np.int64)

    def __call__(self, done: int) -> None:
        stop = int(np.searchsorted(self._last_sorted, done, side="left"))  # last < done
        if stop <= self._next:
            return
        states, names, parts = self._states, self._names, self._parts
        data = parts[-1]
        assert data is not None
        for code in self._by_last[self._next : stop].tolist():
            if len(data) >= _SPILL_PART:
                data = bytearray()
                parts.append(data)
            self._part_of[code] = len(parts) - 1
            self._starts[code] = len(data)
            data += dump_state(states.pop(names[code]))
            self._ends[code] = len(data)
        self._next = stop

    def packed(self) -> PackedStates:
        """The states in key order; the parts they were written to are dropped as they are
        copied (keys that start early mostly finish early: their parts go first)."""
        codes = self._codes
        names = self._names
        return PackedStates.gather(
            [names[c] for c in codes.tolist()],
            self._parts,
            self._part_of[codes],
            self._starts[codes],
            self._ends[codes],
        )


class EndState(Mapping[str, Any]):
    """A read-only end state: the substates in a dict, the keys in order of first appearance.

    When a branch moves a key's first appearance, re-inserting 100k keys in the new order
    costs tens of milliseconds of scattered memory reads; this keeps the copied dict as it is
    and only iterates in the new order (``dict(end)`` gives an ordered plain dict).
    """

    __slots__ = ("_names", "_order", "_values")

    def __init__(
        self, values: Mapping[str, Any], order: Int64Array | None, names: list[str]
    ) -> None:
        self._values = values
        self._order = order
        self._names = names

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        if self._order is None:
            return iter(self._values)
        names = self._names
        return (names[code] for code in self._order.tolist())

    def __len__(self) -> int:
        return len(self._values)

    def as_packed(self) -> PackedStates | None:
        """The packed states this is, unchanged (None: it holds other values or order)."""
        values = self._values
        return values if isinstance(values, PackedStates) and self._order is None else None

    def __repr__(self) -> str:
        return f"<EndState keys={len(self)}>"


class KeyedState(Mapping[str, Any]):
    """The state at one row as a read-only mapping key -> substate, folded on demand.

    Keys are those with at least one non-dropped event at rows <= ``row``, in order of first
    appearance. Reading a substate may raise :class:`ProjectionError` (the projection failed
    on one of that key's events). Substates are shared with the engine's cache: do not mutate.
    """

    __slots__ = ("_d", "_label", "_present", "_replayer", "row")

    def __init__(self, replayer: KeyedReplayer, d: Derivation, row: int, label: str = "") -> None:
        self._replayer = replayer
        self._d = d
        self._label = label
        self.row = row
        self._present: list[int] | None = None

    @property
    def branch(self) -> str:
        return self._label

    def _codes(self) -> list[int]:
        if self._present is None:
            self._present = self._replayer.present(self._d, self.row).tolist()
        return self._present

    def count(self, name: str) -> int:
        """How many non-dropped events of key ``name`` this state has folded."""
        code = self._replayer.table.codes.get(name)
        return 0 if code is None else self._replayer.count_at(self._d, code, self.row)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.count(name) > 0

    def __getitem__(self, name: str) -> Any:
        code = self._replayer.table.codes.get(name)
        count = 0 if code is None else self._replayer.count_at(self._d, code, self.row)
        if code is None or count == 0:
            raise KeyError(name)
        try:
            return self._replayer.substate(self._d, code, count)
        except ProjectionError as error:
            error.branch = error.branch or self._label or None
            raise

    def __iter__(self) -> Iterator[str]:
        names = self._replayer.table.names
        return (names[code] for code in self._codes())

    def __len__(self) -> int:
        return len(self._codes())

    def __repr__(self) -> str:
        return f"<KeyedState branch={self._label!r} row={self.row} keys={len(self)}>"


def _copy_json(value: Any) -> Any:
    """A deep copy of plain JSON values (dicts and lists), much faster than copy.deepcopy: the
    bulk fold keeps updating the dicts it created, so a snapshot must not share them."""
    t = type(value)
    if t is dict:
        return {k: _copy_json(v) for k, v in value.items()}
    if t is list:
        return [_copy_json(v) for v in value]
    return value
