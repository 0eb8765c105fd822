"""Timestamps of every common shape to integer microseconds since the Unix epoch (UTC).

Accepted values:

- **ISO 8601 / RFC 3339 strings**: ``2024-03-01T12:00:00Z``, any sub-second precision (digits
  beyond microseconds are truncated, not rounded), any ``±HH:MM`` / ``±HHMM`` / ``±HH`` offset
  or ``Z``, a ``T``, ``t`` or space between date and time, date-only ``2024-03-01`` (midnight),
  and what :meth:`datetime.fromisoformat` accepts besides (basic format, week dates). A
  string without an offset is taken as UTC.
- **Epoch numbers** (JSON numbers or numeric strings), unit chosen by magnitude of the
  absolute value: below 1e11 seconds (up to year 5138), below 1e14 milliseconds (from
  1973-03-03), below 1e17 microseconds, otherwise nanoseconds (truncated to microseconds).
  Fractions are kept to the microsecond. A millisecond timestamp before March 1973 is
  therefore read as seconds: a documented ambiguity of the format, not a bug.

Anything else (booleans, objects, empty strings, NaN) is not a timestamp: :func:`parse_timestamp`
raises :class:`ValueError` with a message fit for an import report.

:func:`parse_timestamps` does the same for a whole batch: strings sharing one fixed-width
layout (the normal case: one writer, one format) are parsed with numpy in one go, about ten
times faster than ``fromisoformat`` plus the datetime arithmetic per value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from models.log import NA

Int64Array = npt.NDArray[np.int64]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)

SECONDS_BELOW = 10**11
MILLIS_BELOW = 10**14
MICROS_BELOW = 10**17

MIN_US = -62_135_596_800_000_000
"""0001-01-01T00:00:00Z: the range of :class:`datetime`, so every result can be shown."""
MAX_US = 253_402_300_799_999_999
"""9999-12-31T23:59:59.999999Z."""

_NUMERIC = re.compile(r"[+-]?(\d+)(?:\.(\d*))?")
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d+))?"
    r"\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?"
)


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _epoch_int(value: int) -> int:
    magnitude = -value if value < 0 else value
    if magnitude < SECONDS_BELOW:
        return value * 1_000_000
    if magnitude < MILLIS_BELOW:
        return value * 1_000
    if magnitude < MICROS_BELOW:
        return value
    # Nanoseconds: truncate towards zero, like the fraction digits of ISO strings.
    return value // 1_000 if value >= 0 else -((-value) // 1_000)


_POWERS = (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000)


def _epoch_decimal(negative: bool, whole: str, fraction: str) -> int:
    """Exact for numeric strings: no float rounding of ``"1700000000.123456"``."""
    magnitude = int(whole)
    if magnitude < SECONDS_BELOW:
        scale = 6
    elif magnitude < MILLIS_BELOW:
        scale = 3
    elif magnitude < MICROS_BELOW:
        scale = 0
    else:
        scale = -3
    if scale >= 0:
        us = magnitude * _POWERS[scale] + int((fraction + "000000")[:scale] or "0")
    else:
        us = magnitude // 1_000
    return -us if negative else us


def _epoch_float(value: float) -> int:
    if not math.isfinite(value):
        raise ValueError(f"{_describe(value)} is not a timestamp")
    magnitude = abs(value)
    if magnitude < SECONDS_BELOW:
        return round(value * 1_000_000)
    if magnitude < MILLIS_BELOW:
        return round(value * 1_000)
    if magnitude < MICROS_BELOW:
        return round(value)
    return int(value / 1_000)


def datetime_us(dt: datetime) -> int:
    """Exact integer microseconds; naive datetimes are UTC."""
    delta = dt - (_EPOCH_NAIVE if dt.tzinfo is None else _EPOCH)
    return int(delta // _US)


def _parse_iso(text: str) -> int:
    try:
        return datetime_us(datetime.fromisoformat(text))
    except ValueError as first:
        match = _RFC3339.fullmatch(text)
        if match is None:
            raise ValueError(
                f"{_describe(text)} is not a timestamp (expected ISO 8601 / RFC 3339 such as "
                "2024-03-01T12:00:00Z, or epoch seconds / milliseconds / microseconds)"
            ) from None
        date, clock, fraction, offset = match.groups()
        fraction = f".{fraction[:6]}" if fraction else ""
        if offset in (None, "Z", "z"):
            offset = "+00:00"
        try:
            return datetime_us(datetime.fromisoformat(f"{date}T{clock}{fraction}{offset}"))
        except ValueError:
            raise ValueError(f"{_describe(text)} is not a valid timestamp: {first}") from None


def parse_timestamp(value: object) -> int:
    """Microseconds since the epoch (UTC); :class:`ValueError` says why a value is not one."""
    us = _parse_any(value)
    if not MIN_US <= us <= MAX_US:
        raise ValueError(f"{_describe(value)} is outside the years 1 to 9999")
    return us


def _parse_any(value: object) -> int:
    kind = type(value)
    if kind is str:
        text = value.strip()  # type: ignore[attr-defined]
        if not text:
            raise ValueError("an empty string is not a timestamp")
        numeric = _NUMERIC.fullmatch(text)
        if numeric is not None:
            return _epoch_decimal(text[0] == "-", numeric.group(1), numeric.group(2) or "")
        return _parse_iso(text)
    if kind is int:
        return _epoch_int(value)  # type: ignore[arg-type]
    if kind is float:
        return _epoch_float(value)  # type: ignore[arg-type]
    raise ValueError(f"{_describe(value)} is not a timestamp (a string or a number is needed)")


def to_us(value: object) -> int | None:
    """Like :func:`parse_timestamp`, but ``None`` (absent) stays ``None``."""
    return None if value is None else parse_timestamp(value)


# --- batch parsing -------------------------------------------------------------------------
#
# One writer writes one layout, so a batch is mostly same-length strings such as
# ``2024-03-01T12:00:00.123456Z``. Those are joined into one bytes buffer, viewed as an
# N x L matrix and parsed column by column with numpy. Rows that do not fit the layout of the
# group's first string (and groups with no fixed layout) go through :func:`parse_timestamp`.


def _lut(allowed: bytes) -> npt.NDArray[np.uint8]:
    """Maps each allowed byte to the first one (its canonical form), anything else to 0."""
    table = np.zeros(256, np.uint8)
    table[list(allowed)] = allowed[0]
    return table


class _Layout:
    """Where the fields sit in one fixed-width ISO string layout, and what the vectorised
    parser needs for it: the expected row, the digit pairs to gather, their ranges."""

    __slots__ = (
        "alternatives",
        "checks",
        "digit_columns",
        "expected",
        "frac_single",
        "frac_weights",
        "length",
        "ones",
        "tens",
        "tz",
        "tz_pos",
        "with_seconds",
        "with_time",
    )

    def __init__(self, template: str) -> None:
        length = len(template)
        self.length = length
        literals: list[tuple[int, bytes]] = [(4, b"-"), (7, b"-")]
        # Pairs of digit columns (tens, ones) with their valid range, in this order: year
        # (two pairs), month, day, hour, minute, second, fraction pairs, offset.
        pairs: list[tuple[int, int, int, int]] = [
            (0, 1, 0, 99),
            (2, 3, 0, 99),
            (5, 6, 1, 12),
            (8, 9, 1, 31),
        ]
        self.with_time = length > 10
        self.with_seconds = False
        self.frac_weights: list[int] = []
        self.frac_single: tuple[int, int] | None = None
        self.tz = ""
        self.tz_pos = length
        if not self.with_time:
            if length != 10:
                raise ValueError("not a fixed layout")
        else:
            if length < 16 or template[10] not in "Tt " or template[13] != ":":
                raise ValueError("not a fixed layout")
            literals += [(10, b"Tt "), (13, b":")]
            pairs += [(11, 12, 0, 23), (14, 15, 0, 59)]
            pos = 16
            if length > 16 and template[16] == ":":
                self.with_seconds = True
                literals.append((16, b":"))
                pairs.append((17, 18, 0, 59))
                pos = 19
            if pos < length and template[pos] in ".,":
                literals.append((pos, b".,"))
                start = pos = pos + 1
                while pos < length and template[pos].isdigit():
                    pos += 1
                if pos == start:
                    raise ValueError("not a fixed layout")
                # Microseconds from the first six digits; later ones are truncated (their
                # columns are still checked to be digits).
                used = min(pos - start, 6)
                for k in range(0, used - 1, 2):
                    pairs.append((start + k, start + k + 1, 0, 99))
                    self.frac_weights.append(10 ** (4 - k))
                if used % 2:
                    self.frac_single = (start + used - 1, 10 ** (6 - used))
            rest = template[pos:]
            self.tz_pos = pos
            if rest in ("Z", "z"):
                self.tz = "Z"
                literals.append((pos, b"Zz"))
            elif len(rest) == 6 and rest[0] in "+-" and rest[3] == ":":
                self.tz = "+HH:MM"
                literals += [(pos, b"+-"), (pos + 3, b":")]
                pairs += [(pos + 1, pos + 2, 0, 23), (pos + 4, pos + 5, 0, 59)]
            elif len(rest) == 5 and rest[0] in "+-":
                self.tz = "+HHMM"
                literals.append((pos, b"+-"))
                pairs += [(pos + 1, pos + 2, 0, 23), (pos + 3, pos + 4, 0, 59)]
            elif rest:
                raise ValueError("not a fixed layout")
        literal_cols = {col for col, _ in literals}
        digit = [col not in literal_cols for col in range(length)]
        self.digit_columns = np.array([0xFF if d else 0 for d in digit], np.uint8)
        # The row every valid string maps to: 0 for digits (their "not a digit" flag), the
        # canonical byte for literals.
        expected = bytearray(length)
        self.alternatives: list[tuple[int, npt.NDArray[np.uint8]]] = []
        for col, allowed in literals:
            expected[col] = allowed[0]
            if len(allowed) > 1:
                self.alternatives.append((col, _lut(allowed)))
        self.expected = bytes(expected)
        self.tens = [t for t, _, _, _ in pairs]
        self.ones = [o for _, o, _, _ in pairs]
        self.checks = [(i, lo, hi) for i, (_, _, lo, hi) in enumerate(pairs) if (lo, hi) != (0, 99)]


_month_tables: tuple[Int64Array, npt.NDArray[np.int64]] | None = None


def _months() -> tuple[Int64Array, npt.NDArray[np.int64]]:
    """Day number (since 1970-01-01) of the first day and length of every month, years 0-9999.

    A table lookup replaces the leap-year and civil-date arithmetic (a dozen integer
    divisions per value) in the batch parser.
    """
    global _month_tables
    if _month_tables is None:
        year = np.repeat(np.arange(10_000, dtype=np.int64), 12)
        month = np.tile(np.arange(1, 13, dtype=np.int64), 10_000)
        leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
        lengths = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)
        length = lengths[month - 1] + ((month == 2) & leap)
        # Howard Hinnant's days_from_civil for day 1 of each month.
        y = year - (month <= 2)
        era = y // 400
        yoe = y - era * 400
        doy = (153 * ((month + 9) % 12) + 2) // 5
        doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
        _month_tables = (era * 146097 + doe - 719468, length)
    return _month_tables


def _parse_fixed(
    buf: bytes, rows: int, layout: _Layout
) -> tuple[Int64Array, npt.NDArray[np.bool_]]:
    """Parse ``rows`` ASCII strings of one layout packed in ``buf``; flag rows that do not fit.

    Some forty numpy calls whatever the layout: the structure is checked with one row
    comparison and all two-digit fields are gathered at once.
    """
    length = layout.length
    m = np.frombuffer(buf, np.uint8).reshape(rows, length)
    u = m - np.uint8(48)  # digits become 0..9, anything else wraps to >= 10
    # Row-wise broadcasting over 20-odd columns runs numpy's inner loop once per row: work
    # on flat arrays with the per-column masks tiled instead.
    shape = (u > 9).view(np.uint8)
    flat = shape.reshape(-1)
    digit = np.tile(layout.digit_columns, rows)
    flat &= digit  # digit columns: their "not a digit" flag (0 or 1)
    digit ^= 0xFF
    digit &= m.reshape(-1)
    flat |= digit  # literal columns: the byte itself
    for column, lut in layout.alternatives:
        shape[:, column] = lut[m[:, column]]
    ok: npt.NDArray[np.bool_] = shape.view(f"S{length}").ravel() == layout.expected
    pairs = u[:, layout.tens].astype(np.int64)
    pairs *= 10
    pairs += u[:, layout.ones]
    for column, low, high in layout.checks:  # two-digit fields that are not 00-99
        field = pairs[:, column]
        ok &= field <= high
        if low:
            ok &= field >= low
    year = pairs[:, 0] * 100 + pairs[:, 1]
    ok &= year >= 1
    index = year * 12 + pairs[:, 2] - 1
    index[~ok] = 0
    first_day, month_length = _months()
    day = pairs[:, 3]
    ok &= day <= month_length[index]
    total = first_day[index] + day - 1
    total *= 86_400
    col = 4
    if layout.with_time:
        total += pairs[:, 4] * 3600 + pairs[:, 5] * 60
        col = 6
        if layout.with_seconds:
            total += pairs[:, 6]
            col = 7
    total *= 1_000_000
    for weight in layout.frac_weights:
        total += pairs[:, col] * weight
        col += 1
    if layout.frac_single is not None:
        single, weight = layout.frac_single
        total += u[:, single].astype(np.int64) * weight
    if layout.tz in ("+HH:MM", "+HHMM"):
        offset = (pairs[:, col] * 60 + pairs[:, col + 1]) * 60_000_000
        total -= np.where(m[:, layout.tz_pos] == ord("-"), -offset, offset)
    ok &= (total >= MIN_US) & (total <= MAX_US)
    return total, ok


def _parse_strings(
    strings: list[str], targets: list[int] | None, out: Int64Array, slow: list[int]
) -> None:
    """Vectorised parse of ``strings`` into ``out[targets]`` (``None``: all of ``out``).

    What the fast path cannot do goes to ``slow`` (indices into ``out``).
    """
    if targets is None and len(set(map(len, strings))) == 1:
        groups: list[tuple[list[str], list[int] | None]] = [(strings, None)]
    else:
        by_length: dict[int, tuple[list[str], list[int]]] = {}
        for text, target in zip(strings, targets or range(len(strings)), strict=True):
            group = by_length.get(len(text))
            if group is None:
                by_length[len(text)] = ([text], [target])
            else:
                group[0].append(text)
                group[1].append(target)
        groups = list(by_length.values())
    for texts, where in groups:
        try:
            layout = _Layout(texts[0])
        except ValueError:
            slow.extend(range(len(out)) if where is None else where)
            continue
        buf = "".join(texts).encode()
        if len(buf) != layout.length * len(texts):  # non-ASCII somewhere
            slow.extend(range(len(out)) if where is None else where)
            continue
        total, ok = _parse_fixed(buf, len(texts), layout)
        if where is None:
            out[:] = total
            if not ok.all():
                bad = ~ok
                out[bad] = NA
                slow.extend(np.flatnonzero(bad).tolist())
        else:
            index = np.array(where, np.int64)
            out[index[ok]] = total[ok]
            slow.extend(index[~ok].tolist())


def parse_timestamps(values: Sequence[object]) -> tuple[Int64Array, list[tuple[int, str]]]:
    """Parse a batch: int64 microseconds (``NA`` where absent or bad) and ``(index, reason)``
    for every value that is present but not a timestamp, in index order."""
    n = len(values)
    out = np.full(n, NA, np.int64)
    errors: list[tuple[int, str]] = []
    if n == 0:
        return out, errors
    slow: list[int] = []
    try:
        "".join(values)  # type: ignore[arg-type]
        all_strings = True
    except TypeError:
        all_strings = False
    if all_strings:
        _parse_strings(list(values), None, out, slow)  # type: ignore[arg-type]
    else:
        targets = [i for i, v in enumerate(values) if type(v) is str]
        if targets:
            _parse_strings([values[i] for i in targets], targets, out, slow)  # type: ignore[misc]
        if len(targets) < n:
            slow.extend(i for i, v in enumerate(values) if v is not None and type(v) is not str)
    if slow:
        slow.sort()
        for i in slow:
            try:
                out[i] = parse_timestamp(values[i])
            except ValueError as exc:
                errors.append((i, str(exc)))
    return out, errors
