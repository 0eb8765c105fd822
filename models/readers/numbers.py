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


_WORD = 8
_HIGH_NIBBLES = np.uint64(0xF0F0F0F0F0F0F0F0)
_THREES = np.uint64(0x3030303030303030)
_SIXES = np.uint64(0x0606060606060606)
_LOW_HALF = np.uint64(0xFFFFFFFF)
_WINDOW = np.arange(-(MIN_RUN - _WORD), MIN_RUN)
"""Bytes around an aligned word that hold any run of MIN_RUN through the whole word."""


def _is_digit(byte: bytes) -> bool:
    return len(byte) == 1 and b"0" <= byte <= b"9"


class _Scratch:
    """Reusable work arrays: allocating megabytes per block costs page faults that dominate
    the scan itself."""

    def __init__(self) -> None:
        self.size = 0
        self.words = np.empty(0, np.uint64)
        self.whole = np.empty(0, np.bool_)

    def ensure(self, words: int) -> None:
        if words > self.size:
            self.size = words
            self.words = np.empty(words, np.uint64)
            self.whole = np.empty(words, np.bool_)


def _candidates(buf: bytes, scratch: _Scratch) -> npt.NDArray[np.intp]:
    """Offsets (multiples of 8) of aligned 8-byte words inside a run of MIN_RUN digits.

    A run of 19 digits always covers one aligned 8-byte word whole and the first 4 bytes of
    the next one, so the scan tests 8 bytes at a time (SWAR: a byte is a digit when its high
    nibble is 3 and adding 6 keeps it so); UUIDs and ISO timestamps almost never pass. The
    bytes around each candidate are then checked exactly, all candidates at once. The last
    few bytes (a partial word) are scanned again zero-padded.
    """
    found = _word_candidates(buf, scratch)
    if len(buf) % _WORD:
        base = max(0, (len(buf) // _WORD - 2) * _WORD)
        tail = buf[base:] + bytes(-(len(buf) - base) % _WORD)
        more = _word_candidates(tail, scratch) + base
        more = more[more < len(buf)]
        if len(more):
            found = np.union1d(found, more)
    return found


def _word_candidates(buf: bytes, scratch: _Scratch) -> npt.NDArray[np.intp]:
    count = len(buf) // _WORD
    if count < 2:
        return np.zeros(0, np.intp)
    scratch.ensure(count)
    w = np.frombuffer(buf, "<u8", count)  # little-endian: the low half is the first 4 bytes
    # First a necessary condition, two passes over the block: every byte of the word is in
    # 0x30-0x3F (digits, and ":;<=>?"). Few words pass (a time of day, "06:00:27", may);
    # the exact test then runs on those alone.
    high = scratch.words[:count]
    np.bitwise_and(w, _HIGH_NIBBLES, out=high)
    near = scratch.whole[:count]
    np.equal(high, _THREES, out=near)
    if not near[:-1].any():
        return np.zeros(0, np.intp)
    at = np.flatnonzero(near[:-1])
    words = w[at]
    more = words + _SIXES
    more &= _HIGH_NIBBLES
    digits = more == _THREES  # the whole word is digits
    at = at[digits]
    if not len(at):
        return np.zeros(0, np.intp)
    nxt = w[at + 1]  # and the first 4 bytes of the next one
    low_ok = ((nxt & _HIGH_NIBBLES) ^ _THREES) | (((nxt + _SIXES) & _HIGH_NIBBLES) ^ _THREES)
    at = at[(low_ok & _LOW_HALF) == 0]
    if not len(at):
        return np.zeros(0, np.intp)
    found = at * _WORD
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
