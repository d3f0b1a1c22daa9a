"""Time as the ledger writes it, and the clocks that tell it.

Entry times are RFC 3339 UTC strings of fixed width with microseconds
(``2026-11-28T04:27:47.123456Z``), so string order is time order and the first
seven characters are the month. The clock is injected so that tests and
simulations can replay exactly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


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
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def month_of(text: str) -> str:
    return text[:7]
