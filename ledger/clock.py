"""Time as the ledger writes it, and the clocks that tell it.

Entry times are RFC 3339 UTC strings of fixed width with microseconds
(``2026-11-28T04:27:47.123456Z``), so string order is time order and the first
seven characters are the month. The clock is injected so that tests and
simulations can replay exactly.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Protocol

# An entry time, read strictly, as one pattern: a year 0001-9999, a day its
# month has (29 February in leap years of the proleptic Gregorian calendar
# only), an hour 00-23, a minute and a second 00-59 (UTC has no leap second
# here: the clock never tells one). Days 01-28 come first: nearly every time
# matches there without trying the rest.
_YEAR = "(?!0000)[0-9]{4}"
_LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
TIME_PATTERN = (
    "(?:" + _YEAR + "-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    "|" + _YEAR + "-(?:0[13-9]|1[0-2])-(?:29|30)"
    "|" + _YEAR + "-(?:0[13578]|1[02])-31"
    "|(?!0000)" + _LEAP_YEAR + "-02-29)"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{6}Z"
)
TIME_WIDTH = 27  # "2026-11-02T09:00:00.000000Z"
_TIME = re.compile(TIME_PATTERN).fullmatch


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to; for tests and simulations."""

    def __init__(self, start: datetime) -> None:
        assert start.tzinfo is not None, "clocks tell aware UTC times"
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        self._now += timedelta(**delta)

    def set(self, moment: datetime) -> None:
        self._now = moment


def format_time(moment: datetime) -> str:
    assert moment.tzinfo is not None, "entry times are aware UTC times"
    t = moment.astimezone(UTC)
    # Not strftime: its %Y writes years before 1000 in fewer than four digits.
    text = (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
        f".{t.microsecond:06d}Z"
    )
    assert is_entry_time(text), text
    return text


def is_entry_time(text: str) -> bool:
    """Whether ``text`` is an entry time (``TIME_PATTERN``).

    The one reading of entry times: the decoder and the writer ask this, and the
    audit's shortcuts match ``TIME_PATTERN`` inside their larger patterns.
    """
    return _TIME(text) is not None


def parse_time(text: str) -> datetime:
    """The moment of an entry time; ValueError unless ``is_entry_time(text)``."""
    if not is_entry_time(text):
        raise ValueError(f"not an entry time: {text[:40]!r}")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
