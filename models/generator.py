"""A deterministic, realistic e-commerce event log: the demo, the test data and the benchmarks.

The shop is a small discrete-event simulation. Every business flow (a customer placing an
order, a restock, two devices racing to change an address) is a Python generator that yields
the next event it wants written and how long after the previous one; a heap interleaves the
flows in time. Versions, running balances and stock levels are filled in when an event is
written, so concurrent flows touching one customer or one SKU stay consistent.

Planted on purpose, and reported in the returned :class:`GeneratedLog` so tests never
hard-code them:

- a **double charge**: a consumer retry re-emits a ``PaymentCharged`` with a new event id and
  debits the customer a second time, so the customer's balance ends short by the order amount;
- **same-version conflicts** (lost updates): two events of one stream written at one version;
- **exact re-deliveries** (at-least-once delivery): one line written again, byte for byte;
- **clock skew**: a few events whose ``processed_at`` is earlier than their ``recorded_at``.

Same seed and parameters give a byte-identical file: no wall clock, no ``uuid4``; the flows
draw from one ``random.Random(seed)``, ids and processing lags from numpy ``PCG64`` streams of
the same seed (lags with integer arithmetic only). That holds for one Python minor version and
the pinned numpy, which is what the demo's regeneration test checks. Output is streamed in
batches, so memory depends on the number of flows in progress, not on the length of the log.
"""

from __future__ import annotations

import gc
import gzip as gzip_module
import math
import os
import random
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Generator, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from heapq import heappop, heappush
from itertools import accumulate
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt
import orjson

from models.event import datetime_to_us

__all__ = [
    "DEMO_CONFLICTS",
    "DEMO_EVENTS",
    "DEMO_REDELIVERIES",
    "DEMO_SEED",
    "MIN_EVENTS_TO_PLANT",
    "START",
    "Conflict",
    "DoubleCharge",
    "Format",
    "GeneratedLog",
    "Record",
    "Redelivery",
    "generate",
    "iter_events",
    "to_cloudevent",
    "write_demo",
]

Record = dict[str, Any]
"""One event as a JSON object: a line of the JSON Lines file, or a CloudEvent."""

Format = Literal["jsonl", "cloudevents"]
_T = TypeVar("_T")

START = datetime(2025, 3, 3, 6, tzinfo=UTC)
"""A Monday morning; the log's first flows arrive shortly after."""

DEMO_EVENTS = 3_300
DEMO_SEED = 7
DEMO_CONFLICTS = 2
DEMO_REDELIVERIES = 1

MIN_EVENTS_TO_PLANT = 300
"""Below this a log is too short to be sure every planted flow completes inside it."""

_BATCH = 4096
"""Events simulated before their ids and timestamps are formatted together."""
_US = 1_000_000
_MINUTE = 60 * _US
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR

_HOURLY = (
    0.15, 0.08, 0.05, 0.04, 0.04, 0.06, 0.15, 0.35, 0.55, 0.70, 0.80, 0.85,
    0.90, 0.85, 0.80, 0.80, 0.85, 0.90, 1.00, 1.00, 0.95, 0.80, 0.55, 0.30,
)  # fmt: skip
"""Relative order rate per UTC hour: busy evenings, nearly idle nights."""
_WEEKEND = 0.75

_EVENTS_PER_FLOW = 14.0
"""Measured average events per order flow; sizes the arrival rate to the requested count."""

_SOURCE = "/shop/"
"""CloudEvents ``source``: this prefix and the writing service."""

# -- catalogue and people ---------------------------------------------------------------------

_FIRST = (
    "Ada", "Ben", "Chloé", "Dmitri", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas",
    "Kemal", "Lena", "Mateo", "Nora", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tariq",
    "Ulla", "Vera", "Wim", "Xenia", "Yusuf", "Zoë",
)  # fmt: skip
_LAST = (
    "Andersen", "Bauer", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Hansen",
    "Ivanova", "Jansen", "Kowalski", "Laurent", "Müller", "Novak", "Olsen", "Petit", "Rossi",
    "Schmidt", "Torres", "Visser", "Weber", "Young",
)  # fmt: skip
_CITIES = (
    ("FR", "EUR", "Lyon", "690"), ("FR", "EUR", "Paris", "750"), ("DE", "EUR", "Berlin", "101"),
    ("DE", "EUR", "Köln", "506"), ("NL", "EUR", "Utrecht", "351"), ("ES", "EUR", "Sevilla", "410"),
    ("IT", "EUR", "Torino", "101"), ("GB", "GBP", "Leeds", "LS1"), ("GB", "GBP", "Bristol", "BS1"),
    ("US", "USD", "Portland", "972"),
)  # fmt: skip
_STREETS = ("Market St", "Rue Neuve", "Hauptstraße", "Kerkstraat", "Calle Mayor", "Via Roma")
_CATEGORIES = ("MUG", "TEE", "CAP", "BAG", "PEN", "NB", "SOCK", "LAMP", "PLANT", "BOOK")
_SKUS = 300
_CARRIERS = ("dhl", "ups", "colissimo", "postnl", "royalmail")
_NETWORKS = ("visa", "mastercard", "amex")
_RATE = {"EUR": 1.0, "GBP": 0.86, "USD": 1.09}
_VAT = {"FR": 20, "DE": 19, "NL": 21, "ES": 21, "IT": 22, "GB": 20, "US": 0}
"""Percent included in prices, by the customer's country."""


# -- what a generated log contains ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two events written at one version of one stream (a lost update)."""

    stream: str
    version: int
    positions: tuple[int, int]
    event_ids: tuple[str, str]
    types: tuple[str, str]


@dataclass(frozen=True, slots=True)
class DoubleCharge:
    """The planted bug: one card charge recorded twice, and the customer debited twice."""

    customer: str
    order: str
    payment: str
    amount: int
    """Minor units (cents) of :attr:`currency`."""
    currency: str
    charge_positions: tuple[int, int]
    """The original ``PaymentCharged`` and its re-emission (a new event id, the next version)."""
    charge_ids: tuple[str, str]
    debit_positions: tuple[int, int]
    debit_ids: tuple[str, str]
    logged_balance: int
    """The customer's balance as the last balance event of the log states it (wrong)."""
    expected_balance: int
    """What it would be without the second debit: ``logged_balance + amount``."""


@dataclass(frozen=True, slots=True)
class Redelivery:
    """One line written twice, byte for byte (same event id): at-least-once delivery."""

    event_id: str
    stream: str
    type: str
    positions: tuple[int, int]


@dataclass(frozen=True, slots=True)
class GeneratedLog:
    """What :func:`generate` wrote, so tests and docs can assert without hard-coding.

    Positions are 0-based line numbers of the (decompressed) file, i.e. ``Event.pos``.
    """

    path: Path
    fmt: Format
    gzip: bool
    seed: int
    events: int
    size_bytes: int
    """Uncompressed size."""
    counts: Mapping[str, int]
    """Events per type, re-delivered lines included; sums to :attr:`events`."""
    streams: int
    streams_by_kind: Mapping[str, int]
    """Distinct streams per prefix (``customer``, ``order``, ``payment``, ``sku``)."""
    first_recorded_us: int
    last_recorded_us: int
    conflicts: tuple[Conflict, ...]
    double_charge: DoubleCharge | None
    redeliveries: tuple[Redelivery, ...]
    processed_before_recorded: tuple[int, ...]
    """Positions whose ``processed_at`` is earlier than ``recorded_at`` (a consumer's clock
    running behind). Everywhere else ``processed_at >= recorded_at``."""
    recorded_out_of_order: tuple[int, ...]
    """Positions whose ``recorded_at`` is earlier than an earlier line's (the re-delivered
    copies). Everywhere else ``recorded_at`` never decreases along the file."""


# -- simulation -------------------------------------------------------------------------------


class _Stream:
    """Per-stream write state; ``level`` is the running balance or stock the events carry."""

    __slots__ = ("level", "level_key", "name", "version")

    def __init__(self, name: str, level_key: str = "") -> None:
        self.name = name
        self.version = 0
        self.level = 0
        self.level_key = level_key


class _Customer:
    """Who orders: currency and city follow the country, so prices and taxes do too."""

    __slots__ = ("city", "currency", "name", "stream")

    def __init__(self, stream: _Stream, name: str, currency: str, city: tuple[str, ...]) -> None:
        self.stream = stream
        self.name = name
        self.currency = currency
        self.city = city


class _Sku:
    """A product with its stock stream; restocked when stock falls to half a delivery."""

    __slots__ = ("code", "prices", "reorder_at", "restock", "restocking", "stream", "supplier")

    def __init__(self, code: str, price: int, restock: int, supplier: str) -> None:
        self.code = code
        self.stream = _Stream(f"sku-{code}", "available")
        self.stream.level = 2 * restock
        self.prices = {
            currency: max(99, round(price * rate / 100) * 100 - 1)
            for currency, rate in _RATE.items()
        }  # shelf prices end in .99 in every currency
        self.restock = restock
        self.reorder_at = restock // 2
        self.restocking = False
        self.supplier = supplier


class _Step(NamedTuple):
    """One event a flow wants written ``delay`` microseconds after its previous one."""

    delay: int
    stream: _Stream
    type: str
    data: dict[str, Any]
    service: str
    correlation: str | None
    """``None`` starts a new business flow: the event correlates with itself."""
    causation: str | None
    """``None`` for a flow's root event: it is its own cause."""
    gateway: dict[str, Any] | None = None
    level_delta: int | None = None
    """Added to the stream's running level, whose new value is written into ``data``."""
    version: int | None = None
    """Write at this (already used) version instead of the next one: a lost update."""


Flow = Generator[_Step, str, None]
"""Yields the next event to write; is sent that event's id once it is written."""

_Row = tuple[int, _Step]
"""A written event before formatting: its version and its step."""


class _Shop:
    """The simulation; :meth:`chunks` yields the log's text in file order."""

    def __init__(
        self, *, events: int, seed: int, conflicts: int, plant_bug: bool, redeliveries: int
    ) -> None:
        _check_parameters(events, conflicts, plant_bug, redeliveries)
        self.n = events
        self.rng = random.Random(seed)
        # Logs that differ in any parameter share no ids, even at the same positions.
        plan = [seed, events, conflicts, int(plant_bug), redeliveries]
        self._id_bits = np.random.PCG64([*plan, 1])
        self._lag_bits = np.random.PCG64([*plan, 2])
        self._ids: list[str] = []
        self._times: list[int] = []
        self.now = datetime_to_us(START)
        self.pos = -1
        self.counts: dict[str, int] = {}
        self.streams_by_kind: dict[str, int] = {}
        self.customers: list[_Customer] = []
        self.reserved: set[int] = set()  # customers of planted flows: never two plants in one
        self.orders = 0
        self.payments = 0
        self.invoices = 0
        self.first_us = 0
        self.last_us = 0  # the latest recorded time written, as of the last batch
        self.conflicts: list[Conflict] = []
        self.double_charge: DoubleCharge | None = None
        self.bug_customer: _Customer | None = None
        self.bug_parts: dict[str, Any] = {}
        self.redeliveries: list[Redelivery] = []
        self.skewed: list[int] = []
        self.late: list[int] = []
        self._seq = 0
        # Re-deliveries: (due position, first position, recorded time, step, id) until written;
        # their lines by first position (filled once that one is formatted); due -> first.
        self._due: list[tuple[int, int, int, _Step, str]] = []
        self._copies: dict[int, str] = {}
        self._copy_of: dict[int, int] = {}
        self._marking = False  # the next StockReserved written is to be re-delivered
        self._next_plant = 0  # the next position at which _plant has something to do
        self._heap: list[tuple[int, int, Flow, _Step]] = []

        rng = self.rng
        days = min(30, max(1, round(math.sqrt(events) / 20)))
        mean = sum(_HOURLY) / 24 * (5 + 2 * _WEEKEND) / 7
        self._peak_rate = max(events, 1) / _EVENTS_PER_FLOW / (days * _DAY * mean)
        self._next_arrival = self._arrival_after(self.now)
        weights = [1 / (rank + 1) ** 0.9 for rank in range(_SKUS)]
        total = sum(weights)
        daily_units = events / _EVENTS_PER_FLOW / days * 2.6 * 1.4
        self.skus: list[_Sku] = []
        for rank in range(_SKUS):
            cat = _CATEGORIES[rank % len(_CATEGORIES)]
            price = max(199, round(rng.lognormvariate(7.6, 0.6) / 100) * 100 - 1)
            restock = max(40, 10 * round(daily_units * weights[rank] / total * 0.15))
            supplier = f"supplier-{1 + rank % 12:02d}"
            self.skus.append(_Sku(f"{cat}-{1000 + rank * 7}", price, restock, supplier))
        self._sku_cum = list(accumulate(weights))

        lo, hi = events // 10, events * 95 // 100
        skew_count = max(2, events // 20_000)
        self._skew_at = (
            sorted(rng.sample(range(lo, hi), skew_count)) if hi - lo > skew_count else []
        )
        specials: list[tuple[int, str]] = []
        if plant_bug:
            specials.append((events * 45 // 100, "bug"))
        for i in range(conflicts):
            at = events * (20 + 50 * (2 * i + 1) // (2 * conflicts)) // 100
            specials.append((at, "order_race" if i % 2 == 0 else "address_race"))
        self._specials = sorted(specials, key=lambda s: (s[0], s[1]))
        self._redeliver_at = [
            events * (55 + 30 * (2 * i + 1) // (2 * redeliveries)) // 100
            for i in range(redeliveries)
        ]
        self._plan = (conflicts, plant_bug, redeliveries)

    # -- the writing loop ---------------------------------------------------------------------

    def chunks(self, fmt: Format) -> Iterator[str]:
        """The log as text, a batch of lines at a time: events are simulated first, then their
        ids, timestamps and lines are formatted together (the per-event cost is the budget)."""
        while self.pos + 1 < self.n:
            base = self.pos + 1
            size = min(self.n - base, _BATCH)
            self._ids = _uuids(self._id_bits, size)
            self._times = []
            rows = self._simulate(base + size)
            if base == 0:
                self.first_us = self._times[0]
            self.last_us = max(self.last_us, max(self._times))
            yield self._finish(base, rows, fmt)
        self._check_plan()

    def _simulate(self, end: int) -> list[_Row | None]:
        """Write events up to position ``end``; ``None`` rows are re-deliveries.

        Writing an event assigns its stream's next version (or the version a lost update
        reuses) and moves the stream's running level; formatting waits for :meth:`_finish`.
        """
        heap = self._heap
        rows: list[_Row | None] = []
        times = self._times
        ids = self._ids
        counts = self.counts
        pos = self.pos
        while pos + 1 < end:
            if pos + 1 >= self._next_plant:
                self.pos = pos
                planted = self._plant(rows)
                pos = self.pos
                if planted:
                    continue
            if not heap or self._next_arrival <= heap[0][0]:
                at = self._next_arrival
                self._next_arrival = self._arrival_after(at)
                self._start(self._order_flow(None), at)
                continue
            t, _, flow, step = heappop(heap)
            self.now = t
            pos += 1
            _, stream, event_type, data, _, _, _, _, delta, version = step
            if version is None:
                version = stream.version = stream.version + 1
                if version == 1:
                    kind = stream.name.split("-", 1)[0]
                    self.streams_by_kind[kind] = self.streams_by_kind.get(kind, 0) + 1
            if delta is not None:
                stream.level = level = stream.level + delta
                data[stream.level_key] = level
            counts[event_type] = counts.get(event_type, 0) + 1
            times.append(t)
            rows.append((version, step))
            event_id = ids[len(rows) - 1]
            self.pos = pos
            if self._marking and event_type == "StockReserved":
                self._mark_redelivery(t, step, event_id)
            try:
                step = flow.send(event_id)
            except StopIteration:
                continue
            self._seq += 1
            heappush(heap, (t + step.delay, self._seq, flow, step))
        self.pos = pos
        return rows

    def _plant(self, rows: list[_Row | None]) -> bool:
        """Start a planted flow or write a re-delivery when their position comes; ``True`` if
        a line or a flow was added (the caller then looks at the queue again)."""
        nxt = self.pos + 1
        done = False
        if self._due and self._due[0][0] <= nxt:
            _, first, recorded, again, again_id = self._due.pop(0)
            self.pos = nxt
            self._copy_of[nxt] = first
            self.counts[again.type] += 1
            self.redeliveries.append(
                Redelivery(again_id, again.stream.name, again.type, (first, nxt))
            )
            if recorded < max(self.last_us, *self._times[-1:]):
                self.late.append(nxt)
            self._times.append(recorded)
            rows.append(None)
            done = True
        elif self._specials and self._specials[0][0] <= nxt:
            _, kind = self._specials.pop(0)
            self._start(self._special_flow(kind), self.now)
            done = True
        elif self._redeliver_at and self._redeliver_at[0] <= nxt:
            self._redeliver_at.pop(0)
            self._marking = True
        self._next_plant = min(
            self._due[0][0] if self._due else self.n,
            self._specials[0][0] if self._specials else self.n,
            self._redeliver_at[0] if self._redeliver_at else self.n,
        )
        return done

    def _mark_redelivery(self, t: int, step: _Step, event_id: str) -> None:
        """Have the line just written delivered again a few lines later, byte for byte."""
        self._marking = False
        self._copies[self.pos] = ""
        due = self.pos + 2 + self._below(5)
        self._due.append((due, self.pos, t, step, event_id))
        self._next_plant = min(self._next_plant, due)

    def _start(self, flow: Flow, at: int) -> None:
        """Run a new flow up to its first event, due ``delay`` after ``at``."""
        saved, self.now = self.now, max(self.now, at)
        step = next(flow, None)
        if step is not None:
            self._seq += 1
            heappush(self._heap, (self.now + step.delay, self._seq, flow, step))
        self.now = saved

    def _finish(self, base: int, rows: list[_Row | None], fmt: Format) -> str:
        """Format a simulated batch: bulk timestamps, lags and clock skew, then one line per
        event from a template (every value but the payloads is our own plain ASCII)."""
        recorded = np.array(self._times, np.int64)
        processed = recorded + _lags(self._lag_bits, len(rows))
        skew_from = bisect_left(self._skew_at, base)
        skew_to = bisect_left(self._skew_at, base + len(rows))
        for pos in self._skew_at[skew_from:skew_to]:
            if rows[pos - base] is not None:
                behind = 200_000 + pos * 2_654_435_761 % 2_800_000
                processed[pos - base] = recorded[pos - base] - behind
                self.skewed.append(pos)
        recorded_at = _rfc3339(recorded)
        processed_at = _rfc3339(processed)
        ids = self._ids
        copies = self._copies
        dumps = orjson.dumps
        jsonl = fmt == "jsonl"
        lines: list[str] = []
        for i, row in enumerate(rows):
            if row is None:
                lines.append(copies.pop(self._copy_of[base + i]))
                continue
            version, step = row
            _, stream, event_type, payload, service, correlation, causation, gateway, _, _ = step
            event_id = ids[i]
            correlation = correlation or event_id
            causation = causation or event_id
            data = dumps(payload).decode()
            if jsonl:
                extra = "" if gateway is None else f',"gateway":{dumps(gateway).decode()}'
                line = (
                    f'{{"id":"{event_id}","stream":"{stream.name}","type":"{event_type}",'
                    f'"version":{version},"recorded_at":"{recorded_at[i]}",'
                    f'"processed_at":"{processed_at[i]}","data":{data},"metadata":{{'
                    f'"correlation_id":"{correlation}","causation_id":"{causation}",'
                    f'"service":"{service}"{extra}}}}}\n'
                )
            else:
                line = (
                    f'{{"specversion":"1.0","id":"{event_id}",'
                    f'"source":"{_SOURCE}{service}","type":"{event_type}",'
                    f'"subject":"{stream.name}","time":"{recorded_at[i]}",'
                    f'"datacontenttype":"application/json","correlationid":"{correlation}",'
                    f'"causationid":"{causation}","sequence":"{version:010d}","data":{data}}}\n'
                )
            if base + i in copies:
                copies[base + i] = line
            lines.append(line)
        return "".join(lines)

    def _check_plan(self) -> None:
        """Every plant must be in the log, or the summary would lie about it."""
        conflicts, plant_bug, redeliveries = self._plan
        if plant_bug and self.bug_customer is not None and "dup_debit" in self.bug_parts:
            parts = self.bug_parts
            self.double_charge = DoubleCharge(
                customer=self.bug_customer.stream.name,
                order=parts["order"],
                payment=parts["payment"],
                amount=parts["amount"],
                currency=self.bug_customer.currency,
                charge_positions=(parts["charge"][0], parts["dup_charge"][0]),
                charge_ids=(parts["charge"][1], parts["dup_charge"][1]),
                debit_positions=(parts["debit"][0], parts["dup_debit"][0]),
                debit_ids=(parts["debit"][1], parts["dup_debit"][1]),
                logged_balance=self.bug_customer.stream.level,
                expected_balance=self.bug_customer.stream.level + parts["amount"],
            )
        missing = []
        if plant_bug and self.double_charge is None:
            missing.append("the double charge")
        if len(self.conflicts) != conflicts:
            missing.append(f"{conflicts - len(self.conflicts)} conflict(s)")
        if len(self.redeliveries) != redeliveries:
            missing.append(f"{redeliveries - len(self.redeliveries)} re-delivery(ies)")
        if missing:
            raise RuntimeError(
                f"the log of {self.n} events ended before {', '.join(missing)} could be "
                "written; ask for more events or fewer plants"
            )

    # -- small helpers ------------------------------------------------------------------------

    def _arrival_after(self, t: int) -> int:
        """The next order after ``t``: a Poisson process thinned by the hour of the week."""
        rng = self.rng
        while True:
            t += int(rng.expovariate(self._peak_rate)) + 1
            weekday = (t // _DAY + 3) % 7  # 1970-01-01 was a Thursday
            factor = _HOURLY[(t // _HOUR) % 24] * (_WEEKEND if weekday >= 5 else 1.0)
            if rng.random() < factor:
                return t

    def _daytime(self, t: int) -> int:
        """Warehouses and carriers work 06:00-22:00 UTC: push ``t`` into the next such hour."""
        hour = (t // _HOUR) % 24
        if 6 <= hour < 22:
            return t
        next_six = (t // _DAY) * _DAY + 6 * _HOUR
        if hour >= 22:
            next_six += _DAY
        return next_six + self._below(2 * _HOUR)

    def _below(self, n: int) -> int:
        """``random.randrange(n)`` without its overhead."""
        return int(self.rng.random() * n)

    def _pick(self, options: tuple[_T, ...]) -> _T:
        """``random.choice`` without its overhead: called several times per order."""
        return options[int(self.rng.random() * len(options))]

    def _ms(self, lo: int, hi: int) -> int:
        """A delay between ``lo`` and ``hi`` milliseconds, in microseconds."""
        return lo * 1000 + int(self.rng.random() * (hi - lo) * 1000)

    def _pick_sku(self) -> _Sku:
        cum = self._sku_cum
        return self.skus[min(bisect_right(cum, self.rng.random() * cum[-1]), _SKUS - 1)]

    def _returning_customer(self, exclude_reserved: bool) -> _Customer | None:
        """Anyone who registered, but the earliest 5% (the regulars) about three times as
        often: a few long customer streams, none absurdly long."""
        customers = self.customers
        if not customers:
            return None
        for _ in range(20):
            share = 0.05 if self.rng.random() < 0.1 else 1.0
            i = int(len(customers) * share * self.rng.random())
            if not exclude_reserved or i not in self.reserved:
                if exclude_reserved:
                    self.reserved.add(i)
                return customers[i]
        return None

    def _new_customer(self) -> _Customer:
        number = len(self.customers) + 1
        first, last = self._pick(_FIRST), self._pick(_LAST)
        city = self._pick(_CITIES)
        customer = _Customer(
            _Stream(f"customer-{number:05d}", "balance"), f"{first} {last}", city[1], city
        )
        self.customers.append(customer)
        return customer

    def _address(self, customer: _Customer) -> dict[str, Any]:
        country, _, city, zip_prefix = customer.city
        return {
            "street": f"{1 + self._below(180)} {self._pick(_STREETS)}",
            "city": city,
            "zip": f"{zip_prefix}{self._below(100):02d}",
            "country": country,
        }

    # -- the flows ----------------------------------------------------------------------------

    def _special_flow(self, kind: str) -> Flow:
        if kind == "bug":
            return self._order_flow("bug")
        if kind == "order_race":
            return self._order_flow("race")
        return self._address_race()

    def _order_flow(self, special: str | None) -> Flow:
        """A customer (maybe new) orders; stock is reserved, the card charged, the parcel
        shipped and delivered, or the order cancelled and refunded."""
        rng = self.rng
        normal = special is None
        p_new = max(0.08, 1 - len(self.customers) / 150)
        customer = None
        if not normal or rng.random() >= p_new:
            customer = self._returning_customer(exclude_reserved=not normal)
        if customer is None:
            customer = self._new_customer()
            if not normal:
                self.reserved.add(len(self.customers) - 1)
            cs = customer.stream
            registered = yield _Step(
                0,
                cs,
                "CustomerRegistered",
                {
                    "customer_id": cs.name,
                    "name": customer.name,
                    "email": f"{customer.name.split()[0].lower()}.{cs.name[-5:]}@example.com",
                    "currency": customer.currency,
                    "address": self._address(customer),
                    "balance": 0,
                },
                "customers",
                None,
                None,
            )
            if rng.random() < 0.3:
                yield _Step(
                    self._ms(300, 4000),
                    cs,
                    "CreditLimitSet",
                    {
                        "limit": self._pick((50_000, 100_000, 250_000)),
                        "currency": customer.currency,
                    },
                    "risk",
                    registered,
                    registered,
                )
            first_delay = self._ms(20_000, 600_000)
        else:
            first_delay = 0
            if normal and rng.random() < 0.05:
                yield _Step(
                    0,
                    customer.stream,
                    "AddressChanged",
                    {"address": self._address(customer)},
                    "customers",
                    None,
                    None,
                )
                first_delay = self._ms(5_000, 120_000)
        if special == "bug":
            self.bug_customer = customer
        currency = customer.currency
        cs = customer.stream

        self.orders += 1
        order = _Stream(f"order-{self.orders:06d}")
        lines: dict[_Sku, int] = {}
        for _ in range(self._pick((1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 6))):
            lines.setdefault(self._pick_sku(), self._pick((1, 1, 1, 1, 2, 2, 3)))
        items = [
            {"sku": sku.code, "qty": qty, "price": sku.prices[currency]}
            for sku, qty in lines.items()
        ]
        amount = sum(sku.prices[currency] * qty for sku, qty in lines.items())
        placed = yield _Step(
            first_delay,
            order,
            "OrderPlaced",
            {
                "order_id": order.name,
                "customer_id": cs.name,
                "items": items,
                "amount": amount,
                "currency": currency,
            },
            "orders",
            None,
            None,
        )
        flow = placed
        for sku, qty in lines.items():
            yield from self._reserve(sku, qty, order, flow, placed)
        cause = placed
        if normal and rng.random() < 0.3:
            for _ in range(1 + (rng.random() < 0.3)):
                sku, qty = self._pick_sku(), 1
                if sku in lines:
                    continue
                lines[sku] = qty
                price = sku.prices[currency]
                amount += price * qty
                cause = yield _Step(
                    self._ms(8_000, 300_000),
                    order,
                    "ItemAdded",
                    {"sku": sku.code, "qty": qty, "price": price, "amount": amount},
                    "orders",
                    flow,
                    cause,
                )
                yield from self._reserve(sku, qty, order, flow, cause)

        self.payments += 1
        payment = _Stream(f"payment-{self.payments:06d}")
        pay_data = {
            "payment_id": payment.name,
            "order_id": order.name,
            "amount": amount,
            "currency": currency,
        }
        requested = yield _Step(
            self._ms(100, 900),
            payment,
            "PaymentRequested",
            {**pay_data, "method": "card"},
            "payments",
            flow,
            cause,
        )
        network = self._pick(_NETWORKS)
        if normal and rng.random() < 0.05:
            failed = yield _Step(
                self._ms(400, 3_000),
                payment,
                "PaymentFailed",
                {**pay_data, "reason": "card_declined"},
                "payments",
                flow,
                requested,
                {"card": {"status": "declined", "code": self._pick(("05", "51", "54"))}},
            )
            if rng.random() < 0.5:
                yield from self._cancel(order, lines, flow, failed, "payment_failed")
                return
            requested = yield _Step(
                self._ms(30_000, 400_000),
                payment,
                "PaymentRequested",
                {**pay_data, "method": "card", "attempt": 2},
                "payments",
                flow,
                failed,
            )
        gateway = {
            "card": {
                "status": "approved",
                "auth": f"{self._below(1_000_000):06d}",
                "network": network,
            }
        }
        charge_data = {**pay_data}
        charged = yield _Step(
            self._ms(400, 3_000),
            payment,
            "PaymentCharged",
            charge_data,
            "payments",
            flow,
            requested,
            gateway,
        )
        if special == "bug":
            self.bug_parts.update(
                order=order.name, payment=payment.name, amount=amount, charge=(self.pos, charged)
            )
        debit_data = {
            "amount": amount,
            "currency": currency,
            "reason": "order_payment",
            "order_id": order.name,
            "payment_id": payment.name,
        }
        debited = yield _Step(
            self._ms(3, 60), cs, "BalanceDebited", dict(debit_data), "billing", flow, charged,
            level_delta=-amount,
        )  # fmt: skip
        if special == "bug":
            self.bug_parts["debit"] = (self.pos, debited)
        confirmed = yield _Step(
            self._ms(3, 60),
            order,
            "OrderConfirmed",
            {"payment_id": payment.name},
            "orders",
            flow,
            charged,
        )
        rate = _VAT[customer.city[0]]
        net = amount * 100 // (100 + rate)
        self.invoices += 1
        yield _Step(
            self._ms(20, 900),
            order,
            "InvoiceIssued",
            {"invoice_no": f"INV-{self.invoices:07d}", "net": net, "tax": amount - net,
             "tax_rate": rate},
            "billing",
            flow,
            confirmed,
        )  # fmt: skip
        if special == "bug":
            # The billing consumer timed out acknowledging the charge, the broker redelivered
            # it, and the retry re-emitted it with a fresh id before debiting again.
            dup = yield _Step(
                self._ms(30_000, 45_000),
                payment,
                "PaymentCharged",
                charge_data,
                "payments",
                flow,
                requested,
                gateway,
            )
            self.bug_parts["dup_charge"] = (self.pos, dup)
            dup_debit = yield _Step(
                self._ms(3, 60), cs, "BalanceDebited", dict(debit_data), "billing", flow, dup,
                level_delta=-amount,
            )  # fmt: skip
            self.bug_parts["dup_debit"] = (self.pos, dup_debit)

        if normal and rng.random() < 0.04:
            cancelled = yield _Step(
                self._ms(60_000, 3 * 3_600_000),
                order,
                "OrderCancelled",
                {"reason": "customer_request"},
                "orders",
                flow,
                confirmed,
            )
            yield from self._refund(payment, customer, pay_data, flow, cancelled)
            yield from self._release(order, lines, flow, cancelled)
            return

        fast = special is not None
        packed_at = self._daytime(self.now + self._ms(600_000 if fast else 1_800_000, 5_400_000))
        packed = yield _Step(
            packed_at - self.now,
            order,
            "OrderPacked",
            {"parcels": 1 + (len(lines) > 3)},
            "warehouse",
            flow,
            confirmed,
        )
        shipped_at = self._daytime(self.now + self._ms(300_000, 900_000 if fast else 7_200_000))
        carrier = self._pick(_CARRIERS)
        shipped = yield _Step(
            shipped_at - self.now,
            order,
            "OrderShipped",
            {"carrier": carrier, "tracking": f"{carrier.upper()[:3]}{self._below(10**10):010d}"},
            "shipping",
            flow,
            packed,
        )
        if special == "race":
            shipped_pos, version = self.pos, order.version
            # The customer's cancel read the order before the shipment was written and
            # appended at the same version: no optimistic concurrency check.
            cancelled = yield _Step(
                self._ms(80, 400),
                order,
                "OrderCancelled",
                {"reason": "customer_request"},
                "orders",
                flow,
                confirmed,
                version=version,
            )
            self.conflicts.append(
                Conflict(
                    order.name,
                    version,
                    (shipped_pos, self.pos),
                    (shipped, cancelled),
                    ("OrderShipped", "OrderCancelled"),
                )
            )
            yield from self._refund(payment, customer, pay_data, flow, cancelled)
            return
        scanned = shipped
        hubs = (f"{carrier.upper()} hub {self._pick(_CITIES)[2]}", customer.city[2])
        for status, hub in zip(("in_transit", "out_for_delivery"), hubs, strict=True):
            if status == "in_transit" and rng.random() < 0.4:
                continue
            scan_at = self._daytime(self.now + self._ms(4 * 3_600_000, 30 * 3_600_000))
            scanned = yield _Step(
                scan_at - self.now,
                order,
                "ParcelScanned",
                {"status": status, "location": hub},
                "shipping",
                flow,
                scanned,
            )
        delivered_at = self._daytime(self.now + self._ms(1_800_000, 6 * 3_600_000))
        delivered = yield _Step(
            delivered_at - self.now,
            order,
            "OrderDelivered",
            {"carrier": carrier},
            "shipping",
            flow,
            scanned,
        )
        if normal and rng.random() < 0.03:
            credit = 500 if currency != "GBP" else 400
            yield _Step(
                self._ms(3_600_000, 20 * 3_600_000),
                cs,
                "BalanceCredited",
                {"amount": credit, "currency": currency, "reason": "goodwill",
                 "order_id": order.name},
                "support",
                flow,
                delivered,
                level_delta=credit,
            )  # fmt: skip

    def _reserve(self, sku: _Sku, qty: int, order: _Stream, flow: str, cause: str) -> Flow:
        yield _Step(
            self._ms(4, 120),
            sku.stream,
            "StockReserved",
            {"order_id": order.name, "qty": qty},
            "inventory",
            flow,
            cause,
            level_delta=-qty,
        )
        if sku.stream.level < sku.reorder_at and not sku.restocking:
            sku.restocking = True
            self._start(self._restock(sku), self.now)

    def _release(self, order: _Stream, lines: dict[_Sku, int], flow: str, cause: str) -> Flow:
        for sku, qty in lines.items():
            yield _Step(
                self._ms(4, 120),
                sku.stream,
                "StockReleased",
                {"order_id": order.name, "qty": qty},
                "inventory",
                flow,
                cause,
                level_delta=qty,
            )

    def _cancel(
        self, order: _Stream, lines: dict[_Sku, int], flow: str, cause: str, reason: str
    ) -> Flow:
        cancelled = yield _Step(
            self._ms(50, 500), order, "OrderCancelled", {"reason": reason}, "orders", flow, cause
        )
        yield from self._release(order, lines, flow, cancelled)

    def _refund(
        self, payment: _Stream, customer: _Customer, pay_data: dict[str, Any], flow: str, cause: str
    ) -> Flow:
        refunded = yield _Step(
            self._ms(500, 4_000),
            payment,
            "PaymentRefunded",
            dict(pay_data),
            "payments",
            flow,
            cause,
            {"card": {"status": "refunded", "ref": f"R{self._below(10**8):08d}"}},
        )
        yield _Step(
            self._ms(3, 60),
            customer.stream,
            "BalanceCredited",
            {
                "amount": pay_data["amount"],
                "currency": pay_data["currency"],
                "reason": "refund",
                "order_id": pay_data["order_id"],
                "payment_id": pay_data["payment_id"],
            },
            "billing",
            flow,
            refunded,
            level_delta=pay_data["amount"],
        )

    def _restock(self, sku: _Sku) -> Flow:
        """A purchase order placed when stock runs low, delivered a few working hours later."""
        arrives = self._daytime(self.now + self._ms(3_600_000, 6 * 3_600_000))
        yield _Step(
            arrives - self.now,
            sku.stream,
            "StockReplenished",
            {"qty": sku.restock, "supplier": sku.supplier},
            "inventory",
            None,
            None,
            level_delta=sku.restock,
        )
        sku.restocking = False

    def _address_race(self) -> Flow:
        """Two devices change one address at once; both writes land at one version."""
        customer = self._returning_customer(exclude_reserved=True)
        if customer is None:  # no customer yet: make one first
            customer = self._new_customer()
            self.reserved.add(len(self.customers) - 1)
            yield _Step(
                0,
                customer.stream,
                "CustomerRegistered",
                {"customer_id": customer.stream.name, "name": customer.name, "balance": 0},
                "customers",
                None,
                None,
            )
        first = yield _Step(
            self._ms(1_000, 5_000),
            customer.stream,
            "AddressChanged",
            {"address": self._address(customer), "channel": "web"},
            "customers",
            None,
            None,
        )
        first_pos, version = self.pos, customer.stream.version
        second = yield _Step(
            self._ms(20, 250),
            customer.stream,
            "AddressChanged",
            {"address": self._address(customer), "channel": "mobile"},
            "customers",
            None,
            None,
            version=version,
        )
        self.conflicts.append(
            Conflict(
                customer.stream.name,
                version,
                (first_pos, self.pos),
                (first, second),
                ("AddressChanged", "AddressChanged"),
            )
        )


def _uuids(bits: np.random.PCG64, n: int) -> list[str]:
    """``n`` version-4-shaped UUIDs, formatted in bulk: one per event is the hot path."""
    raw = bits.random_raw(2 * n).astype("<u8").view(np.uint8).reshape(n, 16)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = np.frombuffer(raw.tobytes().hex().encode(), "S1").reshape(n, 32)
    out = np.full((n, 37), b"-", "S1")
    for src, dst, width in ((0, 0, 8), (8, 9, 4), (12, 14, 4), (16, 19, 4), (20, 24, 12)):
        out[:, dst : dst + width] = hexed[:, src : src + width]
    out[:, 36] = b" "
    return out.tobytes().decode().split()


def _lags(bits: np.random.PCG64, n: int) -> npt.NDArray[np.int64]:
    """Processing lags in microseconds: mostly milliseconds, now and then a backlog of
    seconds. Integer arithmetic only, so that every platform draws the same values."""
    raw = bits.random_raw(n).astype(np.int64) >> 1
    a = raw % 40_000
    b = (raw >> 20) % 40_000
    tail = (raw >> 40) % 1000
    lag = 800 + a * b // 40_000
    lag = np.where(tail < 60, lag + a % 600 * 1000, lag)
    return np.where(tail < 4, 1_000_000 + (raw >> 8) % 25_000_000, lag)


def _rfc3339(us: npt.NDArray[np.int64]) -> list[str]:
    """RFC 3339 in UTC with six sub-second digits and a ``Z``."""
    text: npt.NDArray[np.str_] = np.datetime_as_string(
        us.view("datetime64[us]"), unit="us", timezone="UTC"
    )
    return text.tolist()  # type: ignore[no-any-return]


def _check_parameters(events: int, conflicts: int, plant_bug: bool, redeliveries: int) -> None:
    if events < 0:
        raise ValueError(f"events must be >= 0, not {events}")
    if conflicts < 0 or redeliveries < 0:
        raise ValueError("conflicts and redeliveries must be >= 0")
    plants = conflicts + redeliveries + int(plant_bug)
    if plants and events < max(MIN_EVENTS_TO_PLANT, plants * 100):
        raise ValueError(
            f"{events} events are too few to plant {plants} problem(s): ask for at least "
            f"{max(MIN_EVENTS_TO_PLANT, plants * 100)} events, or pass conflicts=0, "
            "redeliveries=0, plant_bug=False"
        )


# -- public API -------------------------------------------------------------------------------


def iter_events(
    *,
    events: int,
    seed: int = 7,
    conflicts: int = 3,
    plant_bug: bool = True,
    redeliveries: int = 1,
) -> Iterator[Record]:
    """The records :func:`generate` would write with ``fmt="jsonl"``, as fresh dicts.

    Handy for in-memory logs in tests. Each record is parsed back from the line the writer
    formats, so the two can never disagree (and this costs more per event than writing).
    """
    shop = _Shop(
        events=events,
        seed=seed,
        conflicts=conflicts,
        plant_bug=plant_bug,
        redeliveries=redeliveries,
    )
    loads = orjson.loads
    for chunk in shop.chunks("jsonl"):
        for line in chunk.split("\n")[:-1]:
            yield loads(line)


def to_cloudevent(record: Mapping[str, Any]) -> Record:
    """A record as a structured-mode CloudEvent 1.0 (JSON format).

    ``subject`` is the stream, ``source`` the writing service, ``time`` the recorded time and
    ``sequence`` the stream version as a zero-padded string (the extension requires a
    lexicographically orderable string). ``processed_at`` and recorded gateway responses
    have no CloudEvents attribute and are left out.
    """
    metadata = record["metadata"]
    return {
        "specversion": "1.0",
        "id": record["id"],
        "source": _SOURCE + metadata["service"],
        "type": record["type"],
        "subject": record["stream"],
        "time": record["recorded_at"],
        "datacontenttype": "application/json",
        "correlationid": metadata["correlation_id"],
        "causationid": metadata["causation_id"],
        "sequence": f"{record['version']:010d}",
        "data": record["data"],
    }


def generate(
    path: str | os.PathLike[str],
    *,
    events: int,
    seed: int = 7,
    conflicts: int = 3,
    plant_bug: bool = True,
    redeliveries: int = 1,
    fmt: Format = "jsonl",
    gzip: bool = False,
) -> GeneratedLog:
    """Write a shop's event log to ``path`` (one JSON object per line) and describe it.

    The file is written to a temporary name next to ``path`` and renamed when complete, so a
    failed or interrupted run never leaves a truncated log behind. ``gzip=True`` compresses
    it with a fixed header (no name, no time), so the bytes stay reproducible.
    """
    if fmt not in ("jsonl", "cloudevents"):
        raise ValueError(f"fmt must be 'jsonl' or 'cloudevents', not {fmt!r}")
    shop = _Shop(
        events=events,
        seed=seed,
        conflicts=conflicts,
        plant_bug=plant_bug,
        redeliveries=redeliveries,
    )
    target = Path(path)
    tmp = target.with_name(f".{target.name}.part")
    size = 0
    collecting = gc.isenabled()
    gc.disable()  # the simulation keeps thousands of live flows: full collections dominate
    try:
        # Writing (and compressing) runs in a thread: zlib and file I/O release the GIL, so
        # they overlap with the simulation instead of adding to it.
        with open(tmp, "wb") as raw, ThreadPoolExecutor(1) as writer:
            packer = (
                gzip_module.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0)
                if gzip
                else None
            )
            write = raw.write if packer is None else packer.write
            pending: deque[Future[int]] = deque()
            for chunk in shop.chunks(fmt):
                block = chunk.encode()
                size += len(block)
                pending.append(writer.submit(write, block))
                if len(pending) > 2:  # bounded memory: at most three blocks in flight
                    pending.popleft().result()
            while pending:
                pending.popleft().result()
            if packer is not None:
                packer.close()
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if collecting:
            gc.enable()
    return GeneratedLog(
        path=target,
        fmt=fmt,
        gzip=gzip,
        seed=seed,
        events=shop.pos + 1,
        size_bytes=size,
        counts=dict(sorted(shop.counts.items())),
        streams=sum(shop.streams_by_kind.values()),
        streams_by_kind=dict(sorted(shop.streams_by_kind.items())),
        first_recorded_us=shop.first_us,
        last_recorded_us=shop.last_us,
        conflicts=tuple(sorted(shop.conflicts, key=lambda c: c.positions)),
        double_charge=shop.double_charge,
        redeliveries=tuple(shop.redeliveries),
        processed_before_recorded=tuple(shop.skewed),
        recorded_out_of_order=tuple(shop.late),
    )


def write_demo(path: str | os.PathLike[str]) -> GeneratedLog:
    """The bundled ``resources/demo/shop.jsonl``: regenerate it with exactly these settings."""
    return generate(
        path,
        events=DEMO_EVENTS,
        seed=DEMO_SEED,
        conflicts=DEMO_CONFLICTS,
        plant_bug=True,
        redeliveries=DEMO_REDELIVERIES,
    )
