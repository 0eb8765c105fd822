"""Which member of a source record feeds which canonical event field.

A :class:`FieldMapping` maps each canonical field (DESIGN.md, Data model) to a *path* in the
source record, or to nothing:

- ``"eventType"`` — a top-level member;
- ``"meta.corr"`` — a member of a nested object (``\\.`` stands for a dot inside a name);
- ``"subject|source"`` — the first of several paths that is present and not ``null``.

Mappings are auto-detected from the first records of a log (:meth:`FieldMapping.detect`), can
be overridden field by field (:meth:`FieldMapping.with_overrides`) and round-trip through JSON
(:meth:`FieldMapping.to_json` / :meth:`FieldMapping.from_json`) so the workspace can store the
mapping an import used and reuse it when the log grows.

Two ways of using it:

- the bulk path of the importer reads only the column fields (event id, stream, type,
  version, recorded and processed time): :meth:`FieldMapping.extract` for one record,
  :meth:`FieldMapping.extract_columns` for a batch (C-level ``map`` over top-level members);
- the read path builds one full :class:`~models.event.Event` from a stored raw record plus its
  column values (already normalised at import): :meth:`FieldMapping.to_event`, which only has
  to look at data, metadata, schema version, correlation and causation.

Rules the bulk and read paths share:

- ``null`` is the same as absent.
- Missing event id: ``DERIVED_ID_PREFIX + str(pos)`` (``"pos:42"``), stable across re-imports
  of the same log because positions are. An empty string counts as missing.
- Missing stream: :data:`NO_STREAM`.
- Missing type: the record cannot be imported (the importer reports it).
- When no ``data`` path is mapped, ``data`` is the record without the members the mapping
  uses (a flat log such as ``{"id":…, "type":"Deposited", "amount": 5}``).
- When ``data`` is mapped, top-level members nothing maps are added to ``metadata`` under
  their own names (unless the metadata object already has that name), so nothing is hidden.

CloudEvents (preset ``"cloudevents"``): id <- ``id``, stream <- ``subject`` or, when an event
has no subject, ``source`` (a subject is only unique within its source, but for one
producer's log it is the aggregate, and ``source`` is kept in metadata), type <- ``type``,
version <- the ``sequence`` extension, recorded <- ``time``, correlation / causation <- the
``correlationid`` / ``causationid`` extensions. ``data`` is ``data`` as written (JSON, or a
string for non-JSON content types); ``data_base64`` stays base64 text in ``data`` and sets
``metadata["data_base64"] = True``. Every other attribute (``source``, ``specversion``,
``subject``, ``datacontenttype``, ``dataschema``, extensions) goes to ``metadata``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from types import MappingProxyType
from typing import Any, Final

import orjson

from models.event import JSON, Event

CANONICAL_FIELDS: Final = (
    "event_id",
    "stream",
    "type",
    "version",
    "schema_version",
    "recorded_at",
    "processed_at",
    "data",
    "metadata",
    "correlation_id",
    "causation_id",
)
COLUMN_FIELDS: Final = ("event_id", "stream", "type", "version", "recorded_at", "processed_at")
"""The fields :meth:`FieldMapping.extract` returns, in this order."""

GENERIC: Final = "generic"
CLOUDEVENTS: Final = "cloudevents"
PRESETS: Final = (GENERIC, CLOUDEVENTS)

NO_STREAM: Final = "(no stream)"
DERIVED_ID_PREFIX: Final = "pos:"

# Candidate member names per field, best first, compared after lower-casing and removing
# "_", "-" and "$" (so eventId, event_id, EventID and $eventId all match "eventid").
CANDIDATES: Final[dict[str, tuple[str, ...]]] = {
    "event_id": ("id", "eventid", "messageid", "uuid"),
    "stream": (
        "stream",
        "streamid",
        "streamname",
        "aggregateid",
        "aggregate",
        "originatorid",
        "subject",
    ),
    "type": ("type", "eventtype", "eventname"),
    "version": (
        "version",
        "sequence",
        "eventnumber",
        "streamversion",
        "aggregateversion",
        "originatorversion",
        "seq",
    ),
    "schema_version": ("schemaversion", "classversion", "dataversion"),
    "recorded_at": (
        "recordedat",
        "time",
        "timestamp",
        "created",
        "createdat",
        "occurredat",
        "ts",
        "updated",
    ),
    "processed_at": ("processedat", "processed", "handledat"),
    "data": ("data", "payload", "body", "eventdata"),
    "metadata": ("metadata", "meta"),
    "correlation_id": ("correlationid", "correlation", "corrid"),
    "causation_id": ("causationid", "causation", "causeid"),
}
_LIFTED: Final = ("correlation_id", "causation_id", "schema_version")
"""Fields also looked for inside the metadata object."""

SAMPLE_SIZE: Final = 100
"""How many leading records :meth:`FieldMapping.detect` looks at."""


def _norm(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "").replace("$", "")


def _split_path(path: str) -> tuple[str, ...]:
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(path):
        ch = path[i]
        if ch == "\\" and i + 1 < len(path) and path[i + 1] == ".":
            current.append(".")
            i += 2
            continue
        if ch == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    if any(not part for part in parts):
        raise ValueError(f"path {path!r} has an empty member name")
    return tuple(parts)


def _quote(name: str) -> str:
    return name.replace(".", "\\.")


Getter = Callable[[Any], Any]


def _compile(path: str | None) -> tuple[tuple[tuple[str, ...], ...], Getter | None]:
    """Parsed alternatives of a path and a getter for one record (None: always absent)."""
    if path is None:
        return (), None
    alternatives = tuple(_split_path(alt) for alt in path.split("|"))
    if len(alternatives) == 1 and len(alternatives[0]) == 1:
        key = alternatives[0][0]

        def top(obj: Any) -> Any:
            return obj.get(key)

        return alternatives, top

    def dig(obj: Any) -> Any:
        for parts in alternatives:
            value = follow(obj, parts)
            if value is not None:
                return value
        return None

    return alternatives, dig


def follow(value: Any, parts: Iterable[str]) -> Any:
    """The member at ``parts`` below ``value`` (``None`` where a step is not an object)."""
    for part in parts:
        if type(value) is not dict:
            return None
        value = value.get(part)
    return value


def normalise_id(value: Any, pos: int) -> str:
    """Event ids are text; absent or empty ids are derived from the position."""
    if type(value) is str:
        return value if value else f"{DERIVED_ID_PREFIX}{pos}"
    if value is None:
        return f"{DERIVED_ID_PREFIX}{pos}"
    if type(value) is int:
        return str(value)
    return orjson.dumps(value).decode()


def normalise_name(value: Any, default: str | None) -> str | None:
    """Stream and type names: text; numbers become their decimal text.

    Absent, empty or structured values give ``default`` (``None`` means "not acceptable").
    """
    if type(value) is str:
        return value if value else default
    if type(value) is int:
        return str(value)
    if type(value) is float and value.is_integer():
        return str(int(value))
    return default


def normalise_int(value: Any) -> int | None:
    """Versions: integers, integral floats and digit strings; ``ValueError`` otherwise."""
    kind = type(value)
    if kind is int:
        return value  # type: ignore[no-any-return]
    if value is None:
        return None
    if kind is float and value.is_integer():
        return int(value)
    if kind is str and value.strip().lstrip("+-").isdigit():
        return int(value)
    raise ValueError(f"{_short(value)} is not an integer")


def _short(value: Any) -> str:
    text = orjson.dumps(value).decode() if not isinstance(value, float) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True, eq=False)
class FieldMapping:
    """Canonical field -> source path (or ``None``), plus the preset that shapes data/metadata.

    Build one with :meth:`detect`, :meth:`cloudevents` or :meth:`from_json`; paths are checked
    (and compiled) at construction.
    """

    paths: Mapping[str, str | None]
    preset: str = GENERIC
    _getters: dict[str, Getter | None] = field(init=False, repr=False)
    _top_keys: frozenset[str] = field(init=False, repr=False)
    _column_keys: tuple[str | None, ...] = field(init=False, repr=False)
    _alternatives: dict[str, tuple[tuple[str, ...], ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        unknown = set(self.paths) - set(CANONICAL_FIELDS)
        if unknown:
            raise ValueError(
                f"unknown field(s) in mapping: {', '.join(sorted(unknown))}; "
                f"known fields: {', '.join(CANONICAL_FIELDS)}"
            )
        if self.preset not in PRESETS:
            raise ValueError(f"unknown mapping preset {self.preset!r}; known: {PRESETS}")
        full = {name: self.paths.get(name) for name in CANONICAL_FIELDS}
        for name, path in full.items():
            if path is not None and (type(path) is not str or not path):
                raise ValueError(f"the path for {name} must be a non-empty string, not {path!r}")
        object.__setattr__(self, "paths", MappingProxyType(full))
        getters: dict[str, Getter | None] = {}
        top: set[str] = set()
        column_keys: list[str | None] = []
        parsed: dict[str, tuple[tuple[str, ...], ...]] = {}
        for name in CANONICAL_FIELDS:
            alternatives, getter = _compile(full[name])
            getters[name] = getter
            parsed[name] = alternatives
            top.update(parts[0] for parts in alternatives)
            if name in COLUMN_FIELDS:
                simple = len(alternatives) == 1 and len(alternatives[0]) == 1
                column_keys.append(alternatives[0][0] if simple else None)
        if self.preset == CLOUDEVENTS:
            top.update(("id", "type", "time", "data", "data_base64"))
        object.__setattr__(self, "_getters", getters)
        object.__setattr__(self, "_top_keys", frozenset(top))
        object.__setattr__(self, "_column_keys", tuple(column_keys))
        object.__setattr__(self, "_alternatives", parsed)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldMapping):
            return NotImplemented
        return dict(self.paths) == dict(other.paths) and self.preset == other.preset

    def __hash__(self) -> int:
        return hash((tuple(self.paths.items()), self.preset))

    # --- building ------------------------------------------------------------------------

    @staticmethod
    def cloudevents() -> FieldMapping:
        return FieldMapping(
            {
                "event_id": "id",
                "stream": "subject|source",
                "type": "type",
                "version": "sequence",
                "recorded_at": "time",
                "correlation_id": "correlationid",
                "causation_id": "causationid",
            },
            preset=CLOUDEVENTS,
        )

    @staticmethod
    def default() -> FieldMapping:
        """The canonical names: what :meth:`detect` gives when it has no record to look at
        (an empty log, an empty batch)."""
        return FieldMapping(
            {
                "event_id": "id",
                "stream": "stream",
                "type": "type",
                "version": "version",
                "recorded_at": "recorded_at",
                "processed_at": "processed_at",
                "data": "data",
                "metadata": "metadata",
                "correlation_id": "correlation_id|metadata.correlation_id",
                "causation_id": "causation_id|metadata.causation_id",
            }
        )

    @staticmethod
    def detect(sample: Iterable[Any]) -> FieldMapping:
        """Pick, per field, the best candidate name present in the sample records.

        CloudEvents (records with ``specversion``) get the CloudEvents preset. A name is used
        for one field only; correlation / causation / schema version are also looked for
        inside the metadata object, and become ``top|metadata.x`` alternatives when both
        places occur.
        """
        records = [r for r in sample if type(r) is dict][:SAMPLE_SIZE]
        if not records:
            return FieldMapping.default()
        if sum("specversion" in r for r in records) * 2 >= len(records):
            return FieldMapping.cloudevents()
        seen: dict[str, str] = {}
        for record in records:
            for key in record:
                seen.setdefault(_norm(key), key)
        taken: set[str] = set()
        paths: dict[str, str | None] = {}
        for name in CANONICAL_FIELDS:
            chosen = None
            for candidate in CANDIDATES[name]:
                key = seen.get(candidate)
                if key is not None and key not in taken:
                    chosen = key
                    break
            if chosen is not None:
                taken.add(chosen)
            paths[name] = None if chosen is None else _quote(chosen)
        meta_key = paths["metadata"]
        if meta_key is not None:
            inner: dict[str, str] = {}
            for record in records:
                meta = record.get(meta_key.replace("\\.", "."))
                if type(meta) is dict:
                    for key in meta:
                        inner.setdefault(_norm(key), key)
            for name in _LIFTED:
                nested = next(
                    (inner[c] for c in CANDIDATES[name] if c in inner),
                    None,
                )
                if nested is None:
                    continue
                nested_path = f"{meta_key}.{_quote(nested)}"
                current = paths[name]
                paths[name] = nested_path if current is None else f"{current}|{nested_path}"
        return FieldMapping(paths)

    def with_overrides(self, overrides: Mapping[str, str | None]) -> FieldMapping:
        """This mapping with some fields re-pointed (``None`` unmaps a field)."""
        return FieldMapping({**self.paths, **overrides}, preset=self.preset)

    def to_json(self) -> dict[str, JSON]:
        return {"preset": self.preset, "paths": dict(self.paths)}

    @staticmethod
    def from_json(value: Mapping[str, Any]) -> FieldMapping:
        """Inverse of :meth:`to_json`; ``ValueError`` with a readable reason when malformed."""
        if not isinstance(value, Mapping) or not isinstance(value.get("paths"), Mapping):
            raise ValueError("a stored mapping needs a 'paths' object")
        return FieldMapping(dict(value["paths"]), preset=str(value.get("preset", GENERIC)))

    # --- bulk path -----------------------------------------------------------------------

    def requires(self) -> str | None:
        """Why nothing could be imported with this mapping, or ``None`` if it can work."""
        if self.paths["type"] is None:
            names = ", ".join(CANDIDATES["type"])
            return (
                "no member holds the event type (looked for names like "
                f"{names}); give an explicit mapping for 'type'"
            )
        return None

    def extract(self, obj: dict[str, Any]) -> tuple[Any, Any, Any, Any, Any, Any]:
        """Raw (not yet normalised) event id, stream, type, version, recorded, processed."""
        g = self._getters
        values = []
        for name in COLUMN_FIELDS:
            getter = g[name]
            values.append(None if getter is None else getter(obj))
        return tuple(values)  # type: ignore[return-value]

    def extract_columns(self, objs: list[dict[str, Any]]) -> list[list[Any] | None]:
        """:meth:`extract` for a batch, one list per column field (``None`` for an unmapped
        field): C-level loops where the path is a plain top-level member.

        ``objs`` must all be dicts; where a plain member is read, anything else raises
        :class:`TypeError` (which callers may use as their check).
        """
        n = len(objs)
        columns: list[list[Any] | None] = []
        get = dict.get
        for name, key in zip(COLUMN_FIELDS, self._column_keys, strict=True):
            if key is not None:
                columns.append(list(map(get, objs, repeat(key, n))))
            else:
                getter = self._getters[name]
                columns.append(None if getter is None else list(map(getter, objs)))
        return columns

    def alternatives(self, name: str) -> tuple[tuple[str, ...], ...]:
        """The parsed path of a field: its ``|`` alternatives, each a tuple of member names
        (empty when the field is unmapped)."""
        return self._alternatives[name]

    @property
    def checks_objects(self) -> bool:
        """Whether :meth:`extract_columns` reads a plain member (and so rejects non-dicts)."""
        return any(key is not None for key in self._column_keys)

    def get_type(self, obj: dict[str, Any]) -> Any:
        getter = self._getters["type"]
        return None if getter is None else getter(obj)

    def describe_missing(self, name: str, obj: dict[str, Any]) -> str:
        """For a report: which path was read and which members the record has."""
        keys = ", ".join(list(obj)[:20]) + (", ..." if len(obj) > 20 else "")
        path = self.paths[name]
        where = f"member {path!r}" if path else "no member (unmapped)"
        return f"the mapping reads {name} from {where}; members present: {keys or '(none)'}"

    # --- read path -----------------------------------------------------------------------

    def to_event(
        self,
        obj: dict[str, Any],
        *,
        key: int,
        pos: int,
        event_id: str,
        stream: str,
        type: str,
        version: int | None,
        recorded_us: int | None,
        processed_us: int | None,
    ) -> Event:
        """The full canonical event; the column values come from the import (normalised)."""
        g = self._getters
        metadata: dict[str, Any]
        if self.preset == CLOUDEVENTS:
            data, metadata = self._cloudevents_payload(obj)
        else:
            data_get = g["data"]
            meta_get = g["metadata"]
            meta = None if meta_get is None else meta_get(obj)
            if meta is None:
                metadata = {}
            elif type_of(meta) is dict:
                metadata = dict(meta)
            else:
                metadata = {"value": meta}
            top = self._top_keys
            if data_get is None:
                data = {k: v for k, v in obj.items() if k not in top}
            else:
                data = data_get(obj)
                for k, v in obj.items():
                    if k not in top and k not in metadata:
                        metadata[k] = v
        schema_get = g["schema_version"]
        schema_version: int | None = None
        if schema_get is not None:
            try:
                schema_version = normalise_int(schema_get(obj))
            except ValueError:
                schema_version = None
        return Event(
            key=key,
            pos=pos,
            event_id=event_id,
            stream=stream,
            type=type,
            version=version,
            schema_version=schema_version,
            recorded_us=recorded_us,
            processed_us=processed_us,
            data=data,
            metadata=metadata,
            correlation_id=_text(g["correlation_id"], obj),
            causation_id=_text(g["causation_id"], obj),
        )

    def _cloudevents_payload(self, obj: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        metadata = {
            k: v
            for k, v in obj.items()
            if k not in ("id", "type", "time", "data", "data_base64") and v is not None
        }
        if obj.get("data_base64") is not None and obj.get("data") is None:
            metadata["data_base64"] = True
            return obj["data_base64"], metadata
        return obj.get("data"), metadata


type_of = type
"""``type`` is shadowed by a parameter name in :meth:`FieldMapping.to_event`."""


def _text(getter: Getter | None, obj: dict[str, Any]) -> str | None:
    if getter is None:
        return None
    value = getter(obj)
    if value is None or type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    return orjson.dumps(value).decode()


def resolve_mapping(
    mapping: FieldMapping | Mapping[str, str | None] | None, sample: Sequence[Any]
) -> FieldMapping:
    """An explicit :class:`FieldMapping` as is; a dict overrides the detected mapping."""
    if isinstance(mapping, FieldMapping):
        return mapping
    detected = FieldMapping.detect(sample)
    return detected if not mapping else detected.with_overrides(mapping)
