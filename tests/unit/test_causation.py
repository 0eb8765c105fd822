"""The causation / correlation index (models.causation), checked against the generated shop
log read here with the standard library (a plain dict from id to first line), and on small
hand-made logs for what real logs get wrong: dangling causes, cycles, missing ids."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.session import Session, open_session
from models.causation import (
    CausationCancelled,
    CausationIndex,
    Link,
    Reaction,
    _RecordReader,
    reactions,
)
from models.decode import make_decoder
from models.event import Event
from models.generator import generate
from models.log import NA, MemoryLog
from models.mapping import FieldMapping
from models.workspace_log import WorkspaceLog

# --- the generated shop, and what its lines say ----------------------------------------------


@dataclass
class Expected:
    """Causes, groups and services read straight from the file, one line at a time."""

    ids: list[str]
    types: list[str]
    services: list[str | None]
    recorded: list[str]
    causes: list[int]
    links: list[Link]
    correlation: list[str]


def expected_from(path: Path, fmt: str) -> Expected:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    if fmt == "jsonl":
        corr = [r["metadata"]["correlation_id"] for r in records]
        caus = [r["metadata"]["causation_id"] for r in records]
        services = [r["metadata"]["service"] for r in records]
        recorded = [r["recorded_at"] for r in records]
    else:  # CloudEvents name the writer in "source", not a "service" member
        corr = [r["correlationid"] for r in records]
        caus = [r["causationid"] for r in records]
        services = [None] * len(records)
        recorded = [r["time"] for r in records]
    ids = [r["id"] for r in records]
    first: dict[str, int] = {}
    for pos, event_id in enumerate(ids):
        first.setdefault(event_id, pos)
    causes, links = [], []
    for pos, cause in enumerate(caus):
        if cause == ids[pos]:
            causes.append(-1)
            links.append(Link.ROOT)
        elif cause in first:
            causes.append(first[cause])
            links.append(Link.CAUSED)
        else:
            causes.append(-1)
            links.append(Link.DANGLING)
    return Expected(ids, [r["type"] for r in records], services, recorded, causes, links, corr)


@pytest.fixture(scope="module", params=["jsonl", "cloudevents"])
def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Session, Expected]]:
    fmt = request.param
    root = tmp_path_factory.mktemp(f"causation-{fmt}")
    path = root / "shop.jsonl"
    generate(path, events=2500, seed=11, fmt=fmt)
    session = open_session(path, workspace=root / "ws.sqlite")
    yield session, expected_from(path, fmt)
    session.close()


@pytest.fixture(scope="module")
def shop_index(shop: tuple[Session, Expected]) -> CausationIndex:
    return CausationIndex.build(shop[0].log)


def test_causes_are_the_generators(
    shop: tuple[Session, Expected], shop_index: CausationIndex
) -> None:
    session, want = shop
    assert isinstance(session.log, WorkspaceLog)
    assert shop_index.cause.tolist() == want.causes
    assert [Link(v) for v in shop_index.links.tolist()] == want.links
    assert Link.CAUSED in want.links and Link.ROOT in want.links
    assert Link.DANGLING not in want.links  # the shop writes every cause it names
    counts = shop_index.counts()
    assert counts.caused == want.links.count(Link.CAUSED)
    assert counts.roots == want.links.count(Link.ROOT)
    assert counts.without_id == counts.dangling == 0
    for pos in (0, 17, 1234, len(want.ids) - 1):
        assert shop_index.service(pos) == want.services[pos]
        cause = shop_index.cause_of(pos)
        assert cause == (None if want.causes[pos] < 0 else want.causes[pos])


def test_every_chain_climbs_to_its_flows_first_event(
    shop: tuple[Session, Expected], shop_index: CausationIndex
) -> None:
    """The shop's flows: each event's causes lead, step by step back in the file, to the
    event whose id is its correlation id."""
    _, want = shop
    for pos in range(len(want.ids)):
        chain = shop_index.chain(pos)
        walked, at = [], want.causes[pos]
        while at >= 0:
            walked.append(at)
            at = want.causes[at]
        assert list(chain.causes) == walked == shop_index.causes(pos)
        assert all(b < a for a, b in zip([pos, *walked], walked, strict=False))
        assert chain.root is not None and want.ids[chain.root] == want.correlation[pos]
        assert not chain.cycle and not chain.causes_cut and chain.missing_cause is None


def test_effects_are_the_events_caused_recursively(
    shop: tuple[Session, Expected], shop_index: CausationIndex
) -> None:
    _, want = shop
    children: dict[int, list[int]] = {}
    for pos, cause in enumerate(want.causes):
        if cause >= 0:
            children.setdefault(cause, []).append(pos)
    roots = [p for p, link in enumerate(want.links) if link == Link.ROOT]
    assert roots
    for pos in roots[:200]:
        tree = shop_index.effects(pos, limit=10_000)
        expected, todo = [], [pos]
        while todo:
            at = todo.pop(0)
            expected.append(at)
            todo.extend(children.get(at, []))
        assert sorted(tree.positions()) == sorted(expected)
        assert tree.size() == len(expected)
        assert shop_index.children(pos) == children.get(pos, [])


def test_correlated_events_come_in_time_order(
    shop: tuple[Session, Expected], shop_index: CausationIndex
) -> None:
    _, want = shop
    groups: dict[str, list[int]] = {}
    for pos, corr in enumerate(want.correlation):
        groups.setdefault(corr, []).append(pos)
    for pos in range(0, len(want.ids), 7):
        members = groups[want.correlation[pos]]
        # RFC 3339 with the same precision and a Z sorts as text in time order
        expected = sorted(members, key=lambda p: (want.recorded[p], p))
        assert shop_index.correlated(pos) == expected
        chain = shop_index.chain(pos)
        assert chain.correlated == tuple(expected) and chain.correlated_total == len(expected)


def test_who_reacts_to_what(shop: tuple[Session, Expected], shop_index: CausationIndex) -> None:
    _, want = shop
    counted = Counter(
        (want.types[cause], want.types[pos], want.services[pos])
        for pos, cause in enumerate(want.causes)
        if cause >= 0
    )
    got = reactions(shop_index)
    assert {(r.cause_type, r.effect_type, r.service): r.events for r in got} == counted
    assert [r.events for r in got] == sorted(counted.values(), reverse=True)
    assert reactions(shop[0].log) == got  # from a log, the index is built first


def test_reading_only_the_ids_agrees_with_decoding_events(
    shop: tuple[Session, Expected], shop_index: CausationIndex
) -> None:
    """The workspace path parses only the metadata member; the reference decodes Events."""
    log = shop[0].log
    reference = CausationIndex.build(MemoryLog(list(log.iter_events())))
    for name in ("cause", "links", "correlation", "service_codes", "child_order"):
        assert np.array_equal(getattr(reference, name), getattr(shop_index, name)), name
    assert reference.service_names == shop_index.service_names


# --- records the fast path must not misread ---------------------------------------------------

TRICKY = [
    # plain: metadata is the last member
    {"id": "a", "type": "T", "data": {}, "metadata": {"correlation_id": "a",
     "causation_id": "a", "service": "orders"}},
    # metadata first, a nested "metadata" last: the nested one must not be taken
    {"id": "b", "type": "T", "metadata": {"correlation_id": "a", "causation_id": "a"},
     "data": {"metadata": {"correlation_id": "x", "causation_id": "x", "service": "fake"}}},
    # no metadata at all, a nested one in data is last
    {"id": "c", "type": "T", "data": {"metadata": {"causation_id": "a"}}},
    # a top-level service (data is mapped, so it lands in metadata)
    {"id": "d", "type": "T", "data": {}, "service": "billing",
     "metadata": {"correlation_id": "a", "causation_id": "b"}},
    # the metadata's own service wins over a top-level one
    {"id": "e", "type": "T", "data": {}, "service": "ignored",
     "metadata": {"causation_id": "d", "service": "shipping"}},
    # numbers as ids, an explicit null service, an empty causation id
    {"id": "f", "type": "T", "data": {}, "metadata": {"correlation_id": 7, "causation_id": "",
     "service": None}},
    # metadata that is not an object
    {"id": "g", "type": "T", "data": {}, "metadata": "just text"},
    # a cause that names no event, a structured service
    {"id": "h", "type": "T", "data": {"service": "in data"}, "metadata": {
     "causation_id": "nowhere", "service": {"name": "s"}}},
    # a member after metadata
    {"id": "i", "type": "T", "data": {}, "metadata": {"causation_id": "h"}, "extra": 1},
]  # fmt: skip
"""Each is a line of the log; the lines below add spacing the dict form cannot express."""

RAW_LINES = [
    '{"id": "j", "type": "T", "data": {}, "metadata" : {"causation_id": "i"}}',
    '{"id":"k","type":"T","data":{},"metadata":{"causation_id":"j"}}   ',
    '{"id":"l","type":"T","data":{},"meta\\u0064ata":{"causation_id":"k"}}',
    '{"id":"m","type":"T","data":{"x\\"metadata":{"causation_id":"zz"}},'
    '"metadata":{"causation_id":"l"}}',
]


def test_the_fast_path_reads_what_the_decoder_reads(tmp_path: Path) -> None:
    path = tmp_path / "tricky.jsonl"
    lines = [json.dumps(r) for r in TRICKY] + RAW_LINES
    path.write_text("\n".join(lines) + "\n")
    session = open_session(path, workspace=tmp_path / "ws.sqlite")
    try:
        log = session.log
        assert isinstance(log, WorkspaceLog) and len(log) == len(lines)
        reader = _RecordReader(FieldMapping.from_json(log.source.mapping))
        assert reader.key == "metadata"  # the fast path is the one under test
        events = list(log.iter_events())
        for pos, event in enumerate(events):
            raw = log.raw(pos)
            corr, caus, service = (column[0] for column in reader.read([raw]))
            assert corr == event.correlation_id or (corr is None and not event.correlation_id)
            assert caus == (event.causation_id or None), pos
            value = event.metadata.get("service")
            assert service == (None if value is None else _as_text(value)), pos
            assert reader.whole(raw) == (corr, caus, service)
        built = CausationIndex.build(log)
        reference = CausationIndex.build(MemoryLog(events))
        for name in ("cause", "links", "correlation", "service_codes"):
            assert np.array_equal(getattr(reference, name), getattr(built, name)), name
        assert built.service_names == reference.service_names
        at = {e.event_id: e.pos for e in events}
        assert built.service(at["b"]) is None  # not the nested "fake"
        assert built.cause_of(at["c"]) is None and built.link(at["c"]) == Link.NONE
        assert built.service(at["d"]) == "billing" and built.cause_of(at["d"]) == at["b"]
        assert built.service(at["e"]) == "shipping"
        assert built.link(at["f"]) == Link.NONE and built.service(at["f"]) is None
        assert built.link(at["h"]) == Link.DANGLING and built.service(at["h"]) == '{"name":"s"}'
        assert built.chain(at["i"]).missing_cause == "nowhere"
        assert built.causes(at["m"]) == [at[x] for x in "lkjih"]  # escapes and spaces too
    finally:
        session.close()


MAPPINGS = {
    "usual": FieldMapping.default().with_overrides(
        {"correlation_id": "metadata.correlation_id", "causation_id": "metadata.causation_id"}
    ),
    "alternatives below metadata": FieldMapping.default().with_overrides(
        {
            "correlation_id": "metadata.corr|metadata.correlation_id",
            "causation_id": "metadata.trace.cause|metadata.causation_id",
        }
    ),
    "top level or metadata": FieldMapping.default(),
    "no metadata, ids in data": FieldMapping.default().with_overrides(
        {"metadata": None, "correlation_id": None, "causation_id": "data.metadata.causation_id"}
    ),
}


@pytest.mark.parametrize("name", list(MAPPINGS))
def test_every_reading_agrees_with_the_decoder(name: str) -> None:
    """Whatever shape the mapping has (the usual one, alternatives, members at the top, no
    metadata at all), the ids read are the decoder's."""
    mapping = MAPPINGS[name]
    decode = make_decoder(mapping)
    raws = [json.dumps(r).encode() for r in TRICKY] + [line.encode() for line in RAW_LINES]
    raws.append(b'{"id":"n","type":"T","correlation_id":"top","metadata":{"corr":"inner"}}')
    # A number orjson cannot hold, in a member the import does not read (stored as written):
    for shape in (
        b'{"id":"f","type":"T","metadata":{"correlation_id":"c9","corr":"c9"},"data":[1e400]}',
        b'{"id":"g","type":"T","data":{"x":1e400},"correlation_id":"c8","metadata":{"a":1}}',
    ):
        raws.append(shape)
    reader = _RecordReader(mapping)
    corr, caus, services = reader.read(raws)
    for pos, raw in enumerate(raws):
        event = decode(raw, pos, "id", "s", "T", None, None, None)
        assert corr[pos] == (event.correlation_id or None), (name, pos)
        assert caus[pos] == (event.causation_id or None), (name, pos)
        value = event.metadata.get("service")
        assert services[pos] == (None if value is None else _as_text(value)), (name, pos)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


# --- hand-made logs --------------------------------------------------------------------------


def make_log(*specs: tuple[str, str | None, str | None], **extra: Any) -> MemoryLog:
    """Events ``(id, causation id, correlation id)``, one second apart, type ``T<pos>``
    unless ``types`` says otherwise."""
    types = extra.get("types")
    times = extra.get("times")
    services = extra.get("services")
    events = []
    for pos, (event_id, cause, corr) in enumerate(specs):
        events.append(
            Event(
                key=pos,
                pos=pos,
                event_id=event_id,
                stream="s",
                type=types[pos] if types else f"T{pos}",
                recorded_us=times[pos] if times else pos * 1_000_000,
                metadata={}
                if not services or services[pos] is None
                else {"service": services[pos]},
                causation_id=cause,
                correlation_id=corr,
            )
        )
    return MemoryLog(events)


def test_a_dangling_cause_is_named() -> None:
    log = make_log(("e0", "e0", "e0"), ("e1", "ghost", "e0"), ("e2", "e1", "e0"))
    index = CausationIndex.build(log)
    assert index.link(1) == Link.DANGLING and index.cause_of(1) is None
    chain = index.chain(2)
    assert chain.causes == (1,) and chain.missing_cause == "ghost" and chain.root is None
    assert index.chain(1).missing_cause == "ghost"
    assert index.chain(0).missing_cause is None and index.chain(0).root == 0
    assert index.counts().dangling == 1


def test_cycles_end_the_walk() -> None:
    # e0 names e1 (written later) as its cause and e1 names e0: neither walk may loop
    log = make_log(("e0", "e1", None), ("e1", "e0", None), ("e2", "e1", None))
    index = CausationIndex.build(log)
    assert index.causes(0) == [1] and index.causes(1) == [0]
    assert index.chain(0).cycle and index.chain(0).root is None
    assert index.causes(2) == [1, 0] and index.chain(2).cycle
    tree = index.effects(0)
    assert [c.pos for c in tree.children] == [1]
    looped = tree.children[0].children
    assert [(c.pos, c.loops) for c in looped] == [(0, True), (2, False)]
    assert looped[0].children == []  # not expanded again


def test_a_cause_recorded_after_its_effect_is_followed() -> None:
    log = make_log(("e0", "e2", None), ("e1", None, None), ("e2", "e2", None))
    index = CausationIndex.build(log)
    assert index.causes(0) == [2] and index.link(2) == Link.ROOT
    assert index.chain(0).root == 2 and not index.chain(0).cycle
    assert index.children(2) == [0]


def test_events_without_ids() -> None:
    log = make_log(("e0", None, None), ("e1", None, None))
    index = CausationIndex.build(log)
    assert [index.link(p) for p in (0, 1)] == [Link.NONE, Link.NONE]
    chain = index.chain(1)
    assert chain.causes == () and chain.correlated == () and chain.correlated_total == 0
    assert chain.effects.children == [] and chain.missing_cause is None
    assert index.correlated(0) == [] and reactions(index) == []
    assert index.counts().without_id == 2


def test_repeated_ids_name_their_first_event() -> None:
    """At-least-once delivery: the copy of a root is a root, causes resolve to the first."""
    log = make_log(
        ("a", "a", "a"), ("b", "a", "a"), ("a", "a", "a"), ("c", "a", "a"), ("d", "b", "a")
    )
    index = CausationIndex.build(log)
    assert [index.link(p) for p in range(5)] == [
        Link.ROOT, Link.CAUSED, Link.ROOT, Link.CAUSED, Link.CAUSED
    ]  # fmt: skip
    assert index.children(0) == [1, 3] and index.causes(4) == [1, 0]
    assert index.correlated(2) == [0, 1, 2, 3, 4]


def test_foreign_correlation_ids_and_time_order() -> None:
    """A correlation id that is no event's id still groups; time order puts events without
    a recorded time last, ties in log order."""
    log = make_log(
        ("e0", None, "req-1"),
        ("e1", None, "req-2"),
        ("e2", None, "req-1"),
        ("e3", None, "req-1"),
        ("e4", None, "req-1"),
        times=[5, 1, 3, NA, 3],
    )
    index = CausationIndex.build(log)
    assert index.correlated(0) == [2, 4, 0, 3]
    assert index.correlated(1) == [1]


def test_limits_and_windows() -> None:
    specs: list[tuple[str, str | None, str | None]] = [("r", "r", "r")]
    specs += [(f"c{i}", "r", "r") for i in range(30)]  # a fan-out of 30
    specs += [(f"l{i}", f"l{i - 1}" if i else "c0", "r") for i in range(50)]  # a long chain
    index = CausationIndex.build(make_log(*specs))
    tree = index.effects(0, limit=10)
    assert tree.size() == 10 and len(tree.children) == 9 and tree.hidden == 21
    full = index.effects(0, limit=1000)
    assert full.size() == len(specs) and full.hidden == 0

    last = len(specs) - 1
    assert len(index.causes(last)) == 51  # l48 .. l0 (49), c0, r
    cut = index.chain(last, causes_limit=5)
    assert len(cut.causes) == 5 and cut.causes_cut and cut.root is None
    assert cut.causes == (last - 1, last - 2, last - 3, last - 4, last - 5)

    window = index.chain(40, correlated_limit=10)
    assert window.correlated_total == len(specs) and len(window.correlated) == 10
    assert 40 in window.correlated
    everything = index.correlated(40)
    offset = window.correlated_offset
    assert list(window.correlated) == everything[offset : offset + 10]
    edge = index.chain(0, correlated_limit=10)
    assert edge.correlated_offset == 0 and edge.correlated[0] == 0


def test_deep_effect_trees() -> None:
    """A chain of effects as deep as the tree is large: nothing here may recurse."""
    specs: list[tuple[str, str | None, str | None]] = [("e0", "e0", "e0")]
    specs += [(f"e{i}", f"e{i - 1}", "e0") for i in range(1, 1500)]
    index = CausationIndex.build(make_log(*specs))
    tree = index.effects(0)  # EFFECTS_LIMIT events
    assert tree.positions() == list(range(500)) and tree.size() == 500
    deepest = [node for node, _parent in tree.walk() if not node.children]
    assert [(n.pos, n.hidden) for n in deepest] == [(499, 1)]
    assert len(index.causes(1499)) == 1499 and index.chain(1499).root == 0


def test_reactions_count_services_per_effect() -> None:
    log = make_log(
        ("o1", "o1", "o1"),
        ("p1", "o1", "o1"),
        ("s1", "o1", "o1"),
        ("o2", "o2", "o2"),
        ("p2", "o2", "o2"),
        ("x", "p2", "o2"),
        types=["Ordered", "Paid", "Reserved", "Ordered", "Paid", "Noted"],
        services=[None, "payments", "stock", None, "payments", None],
    )
    assert reactions(log) == [
        Reaction("Ordered", "Paid", "payments", 2),
        Reaction("Ordered", "Reserved", "stock", 1),
        Reaction("Paid", "Noted", None, 1),
    ]


def test_progress_and_cancel() -> None:
    log = make_log(*[(f"e{i}", "e0", "e0") for i in range(10)])
    seen: list[tuple[int, int]] = []
    CausationIndex.build(log, progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 10) and seen[-1] == (10, 10)
    with pytest.raises(CausationCancelled, match="cancelled"):
        CausationIndex.build(log, progress=lambda done, total: done == 0)


def test_empty_log_and_bad_positions() -> None:
    index = CausationIndex.build(MemoryLog([]))
    assert len(index) == 0 and reactions(index) == []
    one = CausationIndex.build(make_log(("e0", None, None)))
    with pytest.raises(IndexError, match="outside the log"):
        one.chain(1)
    with pytest.raises(IndexError):
        one.causes(-1)
