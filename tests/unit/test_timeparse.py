"""Timestamps of every kind to microseconds UTC, one at a time and in batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.event import datetime_to_us
from models.log import NA
from models.timeparse import parse_timestamp, parse_timestamps, to_us

NOON = datetime_to_us(datetime(2024, 3, 1, 12, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01T12:00:00Z", NOON),
        ("2024-03-01T12:00:00z", NOON),
        ("2024-03-01t12:00:00Z", NOON),
        ("2024-03-01 12:00:00Z", NOON),
        ("2024-03-01T12:00:00+00:00", NOON),
        ("2024-03-01T12:00:00", NOON),  # no offset: UTC
        ("2024-03-01T12:00Z", NOON),  # no seconds (ISO 8601 allows it)
        ("2024-03-01T13:30:00+01:30", NOON),
        ("2024-03-01T13:30:00+0130", NOON),
        ("2024-03-01T07:00:00-05:00", NOON),
        ("2024-03-01T12:00:00 +00:00", NOON),
        ("2024-03-01T12:00:00.5Z", NOON + 500_000),
        ("2024-03-01T12:00:00,5Z", NOON + 500_000),
        ("2024-03-01T12:00:00.123Z", NOON + 123_000),
        ("2024-03-01T12:00:00.123456Z", NOON + 123_456),
        ("2024-03-01T12:00:00.123456789Z", NOON + 123_456),  # nanoseconds truncated
        ("2024-03-01T12:00:00.999999999Z", NOON + 999_999),  # truncated, not rounded
        ("2024-03-01T12:00:00.123456789z", NOON + 123_456),
        ("2024-03-01", NOON - 12 * 3_600_000_000),
        ("  2024-03-01T12:00:00Z  ", NOON),
    ],
)
def test_iso_8601_and_rfc_3339(text: str, expected: int) -> None:
    assert parse_timestamp(text) == expected


def test_epoch_unit_is_chosen_by_magnitude() -> None:
    seconds = 1_709_294_400  # 2024-03-01T12:00:00Z
    assert seconds * 1_000_000 == NOON
    assert parse_timestamp(seconds) == NOON
    assert parse_timestamp(seconds * 1_000) == NOON
    assert parse_timestamp(seconds * 1_000_000) == NOON
    assert parse_timestamp(seconds * 1_000_000_000 + 999) == NOON  # ns, truncated
    assert parse_timestamp(float(seconds) + 0.25) == NOON + 250_000
    assert parse_timestamp(seconds * 1_000 + 0.5) == NOON + 500
    assert parse_timestamp(str(seconds)) == NOON
    assert parse_timestamp(f"{seconds * 1000}") == NOON
    # Numeric strings are exact: no float rounding of the fraction.
    assert parse_timestamp(f"{seconds}.000001") == NOON + 1
    assert parse_timestamp(f"{seconds}.1234567") == NOON + 123_456
    assert parse_timestamp(0) == 0
    assert parse_timestamp(-86_400) == -86_400_000_000  # before 1970, seconds
    # The documented boundary: 1e11 is read as milliseconds (1973-03-03).
    assert parse_timestamp(10**11) == 10**14
    assert parse_timestamp(10**11 - 1) == (10**11 - 1) * 1_000_000


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        None,
        "",
        "   ",
        "yesterday",
        "2024-02-30",
        "2024-13-01T00:00:00Z",
        [],
        {},
        float("nan"),
        float("inf"),
        "2024-03-01T25:00:00Z",
        10**30,
    ],
)
def test_what_is_not_a_timestamp_says_so(value: object) -> None:
    with pytest.raises(ValueError, match=r"timestamp|range|year|day|month|hour"):
        parse_timestamp(value)


def test_to_us_keeps_absent_values_absent() -> None:
    assert to_us(None) is None
    assert to_us("2024-03-01T12:00:00Z") == NOON


def test_batch_parses_like_one_at_a_time_and_reports_the_bad_ones() -> None:
    values: list[object] = [
        "2024-03-01T12:00:00Z",
        None,
        "2024-03-01T12:00:00.5+01:00",
        1_709_294_400_000,
        "2024-02-30T12:00:00Z",  # same layout as the first, not a date
        "nonsense",
        "2024-03-01",
        True,
    ]
    stamps, errors = parse_timestamps(values)
    assert stamps.dtype == np.int64
    assert [i for i, _ in errors] == [4, 5, 7]
    assert "day is out of range" in errors[0][1]
    for i, value in enumerate(values):
        if value is None or i in (4, 5, 7):
            assert stamps[i] == NA
        else:
            assert stamps[i] == parse_timestamp(value)


def test_batch_with_many_layouts_and_leap_days() -> None:
    values = [
        "2024-02-29T00:00:00Z",
        "2023-02-29T00:00:00Z",  # not a leap year
        "2000-02-29T23:59:59.999999Z",
        "1900-02-29T00:00:00Z",  # not a leap year either
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z",
        "0000-01-01T00:00:00Z",  # year 0 does not exist in RFC 3339 / datetime
    ]
    stamps, errors = parse_timestamps(values)
    assert [i for i, _ in errors] == [1, 3, 6]
    assert stamps[0] == datetime_to_us(datetime(2024, 2, 29, tzinfo=UTC))
    assert stamps[2] == datetime_to_us(datetime(2000, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC))
    assert stamps[4] == datetime_to_us(datetime(1, 1, 1, tzinfo=UTC))
    assert stamps[5] == datetime_to_us(datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC))


def test_batch_of_non_ascii_strings_falls_back_to_the_slow_path() -> None:
    stamps, errors = parse_timestamps(["2024-03-01T12:00:00Z", "2024-03-01T12:00:00Ž"])
    assert stamps[0] == NOON
    assert [i for i, _ in errors] == [1]


def test_empty_and_all_missing_batches() -> None:
    assert parse_timestamps([])[0].shape == (0,)
    stamps, errors = parse_timestamps([None, None])
    assert stamps.tolist() == [NA, NA] and errors == []


_moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
_offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


def _render(moment: datetime, offset: timezone, style: int) -> str:
    local = moment.astimezone(offset)
    naive = moment.replace(tzinfo=None).isoformat(timespec="microseconds")  # zero-padded year
    if style == 0:
        return local.isoformat()  # +HH:MM, microseconds only when non-zero
    if style == 1:
        return naive + "Z"
    if style == 2:
        return naive + "789Z"  # nanoseconds
    if style == 3:
        text = local.isoformat(sep=" ", timespec="microseconds")
        return text[:-3] + text[-2:]  # +HHMM
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


@given(st.lists(st.tuples(_moments, _offsets, st.integers(0, 4)), max_size=40))
def test_batch_parser_agrees_with_datetime_arithmetic(
    cases: list[tuple[datetime, timezone, int]],
) -> None:
    texts = [_render(moment, offset, style) for moment, offset, style in cases]
    expected = []
    for moment, _offset, style in cases:
        us = datetime_to_us(moment)
        if style == 4:
            us -= moment.microsecond % 1000
        expected.append(us)
    stamps, errors = parse_timestamps(texts)
    assert errors == []
    assert stamps.tolist() == expected
    assert [parse_timestamp(t) for t in texts] == expected
