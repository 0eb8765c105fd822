"""Small logs for the GUI tests, built from Event objects (fast, exact, readable)."""

from __future__ import annotations

from typing import Any

from app.session import Session
from models.event import Event
from models.log import MemoryLog

T0 = 1_741_000_000_000_000
"""A Monday morning in March 2025, in microseconds."""


def shop_events() -> list[Event]:
    """A customer registers, orders, pays twice (the retry bug), then a quiet night and a
    second customer: enough for lanes, changes, links and an idle gap."""
    specs: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
        ("cust-1", "CustomerRegistered", {"name": "Ada", "balance": 100}, {}),
        ("order-1", "OrderPlaced", {"customer": "cust-1", "total": 40, "items": ["sku-1"]}, {}),
        ("pay-1", "PaymentCharged", {"order": "order-1", "amount": 40}, {"cause": 1}),
        ("cust-1", "BalanceDebited", {"balance": 60}, {"cause": 2}),
        (
            "pay-1",
            "PaymentCharged",
            {"order": "order-1", "amount": 40, "retry": True},
            {"cause": 1},
        ),
        ("cust-1", "BalanceDebited", {"balance": 20}, {"cause": 4}),
        ("order-1", "OrderShipped", {"carrier": "DHL"}, {"cause": 1}),
        ("cust-1", "CustomerRenamed", {"name": None, "nickname": "ada"}, {}),
    ]
    for i in range(12):
        specs.append((f"cust-{2 + i % 3}", "CustomerRegistered" if i < 3 else "Ping", {"n": i}, {}))
    events = []
    for pos, (stream, etype, data, links) in enumerate(specs):
        late = 4 * 3600 * 1_000_000 if pos >= 8 else 0  # an idle gap of four hours
        rec = T0 + pos * 1_000_000 + late
        cause = links.get("cause")
        events.append(
            Event(
                key=pos,
                pos=pos,
                event_id=f"evt-{pos}",
                stream=stream,
                type=etype,
                version=None,
                recorded_us=rec,
                processed_us=rec + 1500 * (pos + 1),
                data=data,
                metadata={"source": "tests"},
                correlation_id="evt-1" if cause is not None else None,
                causation_id=None if cause is None else f"evt-{cause}",
            )
        )
    return events


def make_session(events: list[Event] | None = None, projection: Any = None) -> Session:
    from replay_engine.engine import Engine
    from replay_engine.generic import GenericProjection

    log = MemoryLog(shop_events() if events is None else events)
    engine = Engine(log, projection or GenericProjection())
    return Session(name="shop-test.jsonl", log=log, engine=engine)
