"""Integers that do not fit in 64 bits, found without parsing.

orjson turns integers above 2**64 - 1 or below -2**63 into floats and loses digits silently;
the stdlib ``json`` keeps them. Such a literal has at least 19 digits in a row, which real
events rarely have, so a cheap vectorised look for long digit runs over a whole block
decides which few records need the careful (slow) parse.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

MIN_RUN = 19
"""-2**63 - 1 has 19 digits; every integer orjson cannot hold has at least that many."""
U64_MAX = 2**64 - 1
I64_MIN = -(2**63)


_STRIDE = 4
"""Every run of MIN_RUN digits holds 4 consecutive bytes at offsets divisible by 4."""
_WINDOW = np.arange(-6, MIN_RUN + 6)
"""Bytes around a candidate that hold any run of MIN_RUN through it."""


def _is_digit(byte: bytes) -> bool:
    return len(byte) == 1 and b"0" <= byte <= b"9"


class _Scratch:
    """Reusable work arrays: allocating megabytes per block costs page faults that dominate
    the scan itself."""

    def __init__(self) -> None:
        self.size = 0
        self.words = np.empty(0, np.uint32)
        self.flags = np.empty(0, np.bool_)
        self.pairs = np.empty(0, np.bool_)

    def ensure(self, words: int) -> None:
        if words > self.size:
            self.size = words
            self.words = np.empty(words, np.uint32)
            self.flags = np.empty(words, np.bool_)
            self.pairs = np.empty(words, np.bool_)


def _candidates(buf: bytes, scratch: _Scratch) -> npt.NDArray[np.intp]:
    """Offsets p (multiples of 4) where a run of MIN_RUN digits may pass through.

    Looks at every 4th byte only (the low byte of each 32-bit word): four digits in a row
    there is necessary for a run of 19, and ISO timestamps never have it. The bytes around
    each candidate are then checked exactly, all candidates at once.
    """
    count = len(buf) // 4
    scratch.ensure(count)
    w = np.frombuffer(buf, np.uint32, count)
    t = scratch.words[:count]
    np.subtract(w, np.uint32(48), out=t)
    np.bitwise_and(t, np.uint32(0xFF), out=t)
    digit = scratch.flags[:count]
    np.less(t, 10, out=digit)
    pairs = scratch.pairs[: count - 1]
    np.logical_and(digit[:-1], digit[1:], out=pairs)
    quads = scratch.flags[: count - 3]
    np.logical_and(pairs[:-2], pairs[2:], out=quads)
    if not quads.any():
        return np.zeros(0, np.intp)
    found = np.flatnonzero(quads) * _STRIDE
    a = np.frombuffer(buf, np.uint8)
    window = found[:, None] + _WINDOW
    inside = (window >= 0) & (window < len(a))
    rows = np.where(inside, a[np.clip(window, 0, len(a) - 1)], 0)
    run = (rows - np.uint8(48)) < 10
    for shift in (1, 2, 4, 8, 3):  # run[:, i]: MIN_RUN digits start at window column i
        run = run[:, :-shift] & run[:, shift:]
    confirmed: npt.NDArray[np.intp] = found[run.any(axis=1)]
    return confirmed


def new_scratch() -> _Scratch:
    return _Scratch()


def big_integer_offsets(buf: bytes, scratch: _Scratch | None = None) -> list[int]:
    """Offsets in ``buf`` of integer literals outside [-2**63, 2**64 - 1].

    May include digit runs inside strings (the careful parse then finds nothing); never
    misses a literal. ``scratch`` (:func:`new_scratch`) makes repeated calls cheap; without
    it a temporary one is used.
    """
    if len(buf) < MIN_RUN:
        return []
    candidates = _candidates(buf, scratch if scratch is not None else _Scratch())
    if not len(candidates):
        return []
    found: list[int] = []
    last_end = -1
    for hit in candidates.tolist():
        if hit < last_end:
            continue  # inside a run already looked at
        start = hit
        while start > 0 and _is_digit(buf[start - 1 : start]):
            start -= 1
        end = hit
        while end < len(buf) and _is_digit(buf[end : end + 1]):
            end += 1
        last_end = end
        if end - start < MIN_RUN:
            continue
        before = buf[start - 1 : start] if start else b""
        after = buf[end : end + 1]
        if before == b"." or after in (b".", b"e", b"E"):
            continue  # part of a float: orjson and json agree on floats
        value = int(buf[start:end])
        if before == b"-":
            if -value < I64_MIN:
                found.append(start - 1)
        elif value > U64_MAX:
            found.append(start)
    return found
