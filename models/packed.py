"""Many small JSON states kept as bytes, each decoded the first time it is read.

The end state of a million-event log is the state of every stream: 150,000 small dicts that
cost a quarter of a gigabyte and most of a second to decode from the workspace, although a
reopened window reads a screenful of them. Packed, they are one bytes object and an offsets
array; a read decodes one state (and keeps it, so the same object comes back every time).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson

MAGIC: Final = b"RWPK1\n"
_OPTIONS: Final = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


class PackedStates(Mapping[str, Any]):
    """A read-only mapping name -> JSON value, decoded on first read."""

    __slots__ = ("_blob", "_decoded", "_index", "_names", "_offsets", "_stored")

    def __init__(
        self, names: list[str], blob: bytes | memoryview, offsets: npt.NDArray[np.uint64]
    ) -> None:
        if offsets.shape[0] != len(names) + 1:
            raise ValueError("offsets must have one entry more than names")
        self._names = names
        self._blob = blob
        self._offsets = offsets
        self._index: dict[str, int] | None = None
        self._decoded: dict[int, Any] = {}
        self._stored: bytes | bytearray | None = None
        """The whole stored form this was read from (saved again without a copy)."""

    @staticmethod
    def pack(states: Mapping[str, Any]) -> PackedStates:
        """Pack ``states`` (already packed values are copied as bytes, not decoded)."""
        return PackedStates.from_bytes(PackedStates.serialize(states))

    @staticmethod
    def consume(states: dict[str, Any]) -> PackedStates | None:
        """Pack ``states``, emptying the dict as it goes: its values are freed while the
        buffer grows, so a million events' end state never exists twice (a quarter of a
        gigabyte of dicts for a hundred megabytes of bytes). None, with ``states`` as it was,
        when a value is not JSON (an integer beyond 64 bits)."""
        out = bytearray(MAGIC)
        names = list(states)
        ends = array("Q")
        for i, name in enumerate(names):
            try:
                out += orjson.dumps(states[name], option=_OPTIONS)
            except TypeError:
                _restore(states, names[:i], out, ends)
                return None
            ends.append(len(out) - len(MAGIC))
            del states[name]
        return PackedStates._wrap(PackedStates._trailer(out, names, ends), names, ends)

    @staticmethod
    def _wrap(stored: bytearray, names: list[str], ends: array[int]) -> PackedStates:
        """The stored form just built, read without parsing it: the names list as it is
        (parsing the stored copy would scatter 150k new strings over memory the states just
        freed, and keep it from going back to the system)."""
        offsets = np.zeros(len(names) + 1, np.uint64)
        offsets[1:] = np.frombuffer(ends, np.uint64)
        blob_end = len(MAGIC) + (int(offsets[-1]) if names else 0)
        packed = PackedStates(names, memoryview(stored)[len(MAGIC) : blob_end], offsets)
        packed._stored = stored
        return packed

    @staticmethod
    def gather(
        names: list[str],
        parts: list[bytearray | None],
        part_of: npt.NDArray[np.int64],
        starts: npt.NDArray[np.int64],
        ends: npt.NDArray[np.int64],
    ) -> PackedStates:
        """The states ``names[i]`` = JSON ``parts[part_of[i]][starts[i]:ends[i]]`` (written
        in any order, e.g. as a fold finished them), laid out in the order of ``names``.
        ``parts`` is emptied as it goes: a part is dropped once its last state is copied,
        so the states do not exist twice over."""
        left = np.bincount(part_of, minlength=len(parts)).tolist()
        out = bytearray(MAGIC)
        stored_ends = array("Q")
        for p, a, b in zip(part_of.tolist(), starts.tolist(), ends.tolist(), strict=True):
            part = parts[p]
            assert part is not None
            out += memoryview(part)[a:b]
            stored_ends.append(len(out) - len(MAGIC))
            left[p] -= 1
            if not left[p]:
                parts[p] = None
        return PackedStates._wrap(
            PackedStates._trailer(out, names, stored_ends), names, stored_ends
        )

    @staticmethod
    def serialize(states: Mapping[str, Any]) -> bytes | bytearray:
        """``states`` straight into their stored form, one buffer and no other copy of the
        states' bytes (a million events' end state is a hundred megabytes): the states one
        after the other, then the names, the offsets, and a trailer saying where each is.
        Packed states read from a stored form give that form back as it is."""
        if isinstance(states, PackedStates) and states._stored is not None:
            return states._stored
        raw = states.raw if isinstance(states, PackedStates) else None
        out = bytearray(MAGIC)
        names: list[str] = []
        ends = array("Q")
        for name in states:
            names.append(name)
            out += raw(name) if raw is not None else orjson.dumps(states[name], option=_OPTIONS)
            ends.append(len(out) - len(MAGIC))
        return PackedStates._trailer(out, names, ends)

    @staticmethod
    def _trailer(out: bytearray, names: list[str], ends: array[int]) -> bytearray:
        blob_len = len(out) - len(MAGIC)
        names_json = orjson.dumps(names)
        out += names_json
        out += np.frombuffer(ends, np.uint64).astype("<u8").tobytes()
        out += np.array([len(names), len(names_json), blob_len], "<u8").tobytes()
        return out

    def to_bytes(self) -> bytes:
        return bytes(PackedStates.serialize(self))

    @staticmethod
    def from_bytes(data: bytes | bytearray | memoryview) -> PackedStates:
        """Read :meth:`serialize`'s form; the states stay in ``data`` (no copy)."""
        view = memoryview(data)
        if bytes(view[: len(MAGIC)]) != MAGIC or len(view) < len(MAGIC) + 24:
            raise ValueError("not a packed states blob")
        n, names_len, blob_len = (int(v) for v in np.frombuffer(view[-24:], "<u8"))
        start = len(MAGIC)
        names_at = start + blob_len
        ends_at = names_at + names_len
        if ends_at + 8 * n + 24 != len(view):
            raise ValueError("packed states: the lengths do not add up")
        names = orjson.loads(view[names_at:ends_at])
        if not isinstance(names, list) or len(names) != n:
            raise ValueError("packed states: the names do not match the offsets")
        offsets = np.zeros(n + 1, np.uint64)
        offsets[1:] = np.frombuffer(view[ends_at : ends_at + 8 * n], "<u8")
        packed = PackedStates(names, view[start:names_at], offsets)
        if isinstance(data, bytes | bytearray):
            packed._stored = data
        return packed

    def _position(self, name: str) -> int | None:
        index = self._index
        if index is None:
            index = self._index = {n: i for i, n in enumerate(self._names)}
        return index.get(name)

    def raw(self, name: str) -> bytes | memoryview:
        i = self._position(name)
        if i is None:
            raise KeyError(name)
        return self._blob[int(self._offsets[i]) : int(self._offsets[i + 1])]

    def __getitem__(self, name: str) -> Any:
        i = self._position(name)
        if i is None:
            raise KeyError(name)
        found = self._decoded.get(i, _MISSING)
        if found is _MISSING:
            found = self._decoded[i] = orjson.loads(
                self._blob[int(self._offsets[i]) : int(self._offsets[i + 1])]
            )
        return found

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._position(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def names(self) -> list[str]:
        return self._names

    def __repr__(self) -> str:
        size, read = len(self._blob), len(self._decoded)
        return f"<PackedStates {len(self)} states, {size:,} bytes, {read} read>"


_MISSING: Final = object()


def dump_state(value: Any) -> bytes:
    """One state as :class:`PackedStates` stores it (TypeError: not JSON)."""
    return orjson.dumps(value, option=_OPTIONS)


def _restore(states: dict[str, Any], packed: list[str], out: bytearray, ends: array[int]) -> None:
    """Undo :meth:`PackedStates.consume` after its first ``len(packed)`` states."""
    rest = dict(states)
    states.clear()
    start = len(MAGIC)
    for name, end in zip(packed, ends, strict=True):
        states[name] = orjson.loads(out[start : len(MAGIC) + end])
        start = len(MAGIC) + end
    states.update(rest)


class Packable:
    """Asks the workspace to store ``states`` packed (see :meth:`PackedStates.serialize`)."""

    __slots__ = ("states",)

    def __init__(self, states: Mapping[str, Any]) -> None:
        self.states = states


class Overlay(Mapping[str, Any]):
    """``base`` with some names set to new values and some removed, without copying it: a
    branch's end state over the log's (a dict copy would decode every packed state)."""

    __slots__ = ("_added", "_base", "_changed", "_removed")

    def __init__(self, base: Mapping[str, Any]) -> None:
        self._base = base
        self._changed: dict[str, Any] = {}
        self._added: list[str] = []
        self._removed: set[str] = set()

    def __setitem__(self, name: str, value: Any) -> None:
        if name not in self:
            self._removed.discard(name)
            if name not in self._base:
                self._added.append(name)
        self._changed[name] = value

    def pop(self, name: str, default: Any = _MISSING) -> Any:
        if name not in self:
            if default is _MISSING:
                raise KeyError(name)
            return default
        value = self[name]
        self._changed.pop(name, None)
        if name in self._base:
            self._removed.add(name)
        else:
            self._added.remove(name)
        return value

    def __getitem__(self, name: str) -> Any:
        found = self._changed.get(name, _MISSING)
        if found is not _MISSING:
            return found
        if name in self._removed:
            raise KeyError(name)
        return self._base[name]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return name in self._changed or (name not in self._removed and name in self._base)

    def __iter__(self) -> Iterator[str]:
        removed = self._removed
        for name in self._base:
            if name not in removed:
                yield name
        yield from self._added

    def __len__(self) -> int:
        return len(self._base) - len(self._removed) + len(self._added)
