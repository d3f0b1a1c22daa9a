"""The one amount formatter: minutes read as hours, in Dutch and English."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.amounts import MINUS, format_hours, words_for


@pytest.mark.parametrize(
    ("minutes", "dutch", "english"),
    [
        (0, "0 uur", "0 hours"),
        (1, "1 minuut", "1 minute"),
        (15, "15 minuten", "15 minutes"),
        (30, "½ uur", "½ hour"),
        (60, "1 uur", "1 hour"),
        (75, "1 uur en 15 minuten", "1 hour 15 minutes"),
        (90, "1½ uur", "1½ hours"),
        (61, "1 uur en 1 minuut", "1 hour 1 minute"),
        (120, "2 uur", "2 hours"),
        (150, "2½ uur", "2½ hours"),
        (-120, MINUS + "2 uur", MINUS + "2 hours"),
        (-30, MINUS + "½ uur", MINUS + "½ hour"),
        (-100, MINUS + "1 uur en 40 minuten", MINUS + "1 hour 40 minutes"),
        (60_000, "1.000 uur", "1,000 hours"),
        (600_000 + 45, "10.000 uur en 45 minuten", "10,000 hours 45 minutes"),
    ],
)
def test_minutes_read_as_hours_in_dutch_and_english(minutes: int, dutch: str, english: str) -> None:
    assert format_hours(minutes, "nl") == dutch
    assert format_hours(minutes, "en") == english


def test_dutch_is_the_default_and_languages_without_words_read_english() -> None:
    assert format_hours(90) == "1½ uur"
    assert format_hours(90, "en-GB") == "1½ hours"
    assert format_hours(90, "nl_NL") == "1½ uur"
    assert words_for("tr") == "en" and words_for("ar") == "en"


@given(st.integers(min_value=1, max_value=2**40))
def test_a_negative_amount_is_the_positive_one_after_a_minus_sign(minutes: int) -> None:
    for language in ("nl", "en"):
        positive = format_hours(minutes, language)
        assert format_hours(-minutes, language) == MINUS + positive
        assert not positive.startswith(("-", MINUS, "=", "+"))
