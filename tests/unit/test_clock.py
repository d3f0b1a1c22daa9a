"""Entry times: one strict reading, which the writer's own times always pass."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.clock import format_time, is_entry_time, parse_time


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-28T09:30:00.000000Z",
        "2028-02-29T23:59:59.999999Z",
        "2000-02-29T00:00:00.000000Z",
        "0001-01-01T00:00:00.000000Z",
        "9999-12-31T23:59:59.999999Z",
    ],
)
def test_a_real_moment_is_an_entry_time(text: str) -> None:
    assert is_entry_time(text)
    assert format_time(parse_time(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "2026-13-01T00:00:00.000000Z",
        "2026-99-01T00:00:00.000000Z",
        "2026-00-10T00:00:00.000000Z",
        "2026-01-99T00:00:00.000000Z",
        "2026-01-00T00:00:00.000000Z",
        "2026-04-31T00:00:00.000000Z",
        "2026-02-29T00:00:00.000000Z",
        "1900-02-29T00:00:00.000000Z",
        "2026-01-01T24:00:00.000000Z",
        "2026-01-01T00:60:00.000000Z",
        "2026-01-01T00:00:60.000000Z",
        "0000-01-01T00:00:00.000000Z",
        "2026-01-01T00:00:00Z",
        "2026-01-01 00:00:00.000000Z",
        "\uff12026-01-01T00:00:00.000000Z",  # a full-width digit,
    ],
)
def test_an_impossible_or_misshapen_time_is_no_entry_time(text: str) -> None:
    assert not is_entry_time(text)
    with pytest.raises(ValueError):
        parse_time(text)


@given(st.datetimes(timezones=st.just(UTC)))
def test_every_time_the_clock_can_tell_is_an_entry_time(moment: datetime) -> None:
    text = format_time(moment)

    assert is_entry_time(text)
    assert parse_time(text) == moment


def test_an_entry_time_has_the_same_width_in_the_first_millennium() -> None:
    moment = datetime(999, 12, 31, 23, 59, tzinfo=UTC) + timedelta(microseconds=5)

    assert format_time(moment) == "0999-12-31T23:59:00.000005Z"


def test_every_date_of_the_calendar_and_no_other_is_read_as_an_entry_time() -> None:
    years = [1, 4, 100, 400, *range(1896, 2105), 2400, 9996, 9999]
    for year in years:
        for month in range(0, 14):
            for day in range(0, 33):
                text = f"{year:04d}-{month:02d}-{day:02d}T12:00:00.000000Z"
                try:
                    date(year, month, day)
                except ValueError:
                    real = False
                else:
                    real = True
                assert is_entry_time(text) is real, text
