"""Reading only the column members of records: the importer's fast parse.

The bulk import needs six values per record (event id, stream, type, version, recorded and
processed time, see :data:`models.mapping.COLUMN_FIELDS`); the payload is stored as the raw
bytes it arrived as. ``orjson.loads`` builds every dict, list and string of the payload only
for it to be thrown away, which made it most of the import's time. A msgspec decoder for a
struct holding just the members the mapping reads skips the rest while still checking its
syntax, at about a fifth of the cost (measured: 0.47 s against 2.4 s for a million
shop events, 420 MB).

What the skip does not check, this module checks, so that a record the fast parse accepts is
a record ``orjson.loads`` accepts (the stored bytes are decoded by orjson later): msgspec does
not validate UTF-8 inside skipped strings, so the few records with non-ASCII bytes are decoded
once (:func:`check_utf8`). Refused (bad JSON, a record that is not an object, bad UTF-8):
:class:`Refused`, and the importer takes its careful per-record path, which words the report.
Integers beyond 64 bits never get here (the reader finds them, see
:mod:`models.readers.numbers`).

One difference is left, on purpose: a number beyond the double range (``1e400``) in a skipped
member is valid JSON that orjson refuses. Finding such literals costs a pass over every byte
(0.3 s or more for a million events, measured: ``translate``, ``re``, numpy masks), for a
number a writer using doubles cannot even produce; the record is stored as written and reads
as ``null`` (:func:`models.decode.loads_stored`), without a warning. The careful path stores
such a record the same way (:meth:`ColumnDecoder.accepts`), so that what is stored never
depends on which records share a batch (the two-process import cuts batches elsewhere).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import filterfalse
from operator import attrgetter
from typing import Any

import msgspec

from models.mapping import COLUMN_FIELDS, FieldMapping, follow


class Refused(Exception):
    """The fast parse cannot vouch for a record of the batch."""


def check_utf8(records: Sequence[bytes]) -> None:
    """Raise :class:`Refused` when a record is not valid UTF-8 (checked only where a byte is
    not ASCII: most records are plain ASCII and ``isascii`` stops at the first such byte)."""
    try:
        for raw in filterfalse(bytes.isascii, records):
            raw.decode()
    except UnicodeDecodeError:
        raise Refused from None


class ColumnDecoder:
    """Column values of a batch of records, for one mapping.

    Every distinct top-level member the column paths start with becomes a struct field typed
    ``Any`` (decoded as orjson would: null, bool, int, float, str, list, dict); nested paths and
    ``a|b`` alternatives are then followed on those values with the mapping's own rules.
    """

    def __init__(self, mapping: FieldMapping) -> None:
        keys: dict[str, str] = {}  # top-level member -> struct field name
        getters: list[Callable[[Any], Any] | None] = []
        for name in COLUMN_FIELDS:
            alternatives = mapping.alternatives(name)
            if not alternatives:
                getters.append(None)
                continue
            for parts in alternatives:
                keys.setdefault(parts[0], f"f{len(keys)}")
            if len(alternatives) == 1 and len(alternatives[0]) == 1:
                getters.append(attrgetter(keys[alternatives[0][0]]))
            else:
                getters.append(_digger([(keys[p[0]], p[1:]) for p in alternatives]))
        struct = msgspec.defstruct(
            "ColumnMembers",
            [(field, Any, msgspec.field(name=key, default=None)) for key, field in keys.items()],
            gc=False,
        )
        self._decode = msgspec.json.Decoder(struct).decode
        self._getters = getters

    def columns(self, records: Sequence[bytes]) -> list[list[Any] | None]:
        """One list per column field (``None``: unmapped); :class:`Refused` when any record
        is not a JSON object orjson would read."""
        try:
            structs = list(map(self._decode, records))
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            raise Refused from None  # (msgspec nests ~1000 levels deep, orjson 1024)
        check_utf8(records)
        return [None if get is None else list(map(get, structs)) for get in self._getters]

    def accepts(self, raw: bytes) -> bool:
        """Whether the fast parse takes this record (as written)."""
        try:
            self.columns([raw])
        except Refused:
            return False
        return True


def _digger(alternatives: list[tuple[str, tuple[str, ...]]]) -> Callable[[Any], Any]:
    """The first alternative present and not null, as :meth:`FieldMapping.extract` reads it."""

    def dig(struct: Any) -> Any:
        for field, rest in alternatives:
            value = follow(getattr(struct, field), rest)
            if value is not None:
                return value
        return None

    return dig
