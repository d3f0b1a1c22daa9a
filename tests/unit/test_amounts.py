"""The one amount formatter: minutes read as hours, in Dutch, English, Turkish and Arabic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.amounts import LANGUAGES, MINUS, format_hours, words_for


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


@pytest.mark.parametrize(
    ("minutes", "turkish", "arabic"),
    [
        (0, "0 saat", "0 ساعة"),
        (1, "1 dakika", "دقيقة"),
        (2, "2 dakika", "دقيقتان"),
        (15, "15 dakika", "15 دقيقة"),
        (30, "½ saat", "نصف ساعة"),
        (60, "1 saat", "ساعة"),
        (75, "1 saat 15 dakika", "ساعة و15 دقيقة"),
        (90, "1½ saat", "ساعة ونصف"),
        (120, "2 saat", "ساعتان"),
        (150, "2½ saat", "ساعتان ونصف"),
        (180 + 5, "3 saat 5 dakika", "3 ساعات و5 دقائق"),
        (660, "11 saat", "11 ساعة"),
        (-90, MINUS + "1½ saat", MINUS + "ساعة ونصف"),
        (60_000, "1.000 saat", "1,000 ساعة"),
    ],
)
def test_minutes_read_as_hours_in_turkish_and_arabic(
    minutes: int, turkish: str, arabic: str
) -> None:
    assert format_hours(minutes, "tr") == turkish
    assert format_hours(minutes, "ar") == arabic


def test_dutch_is_the_default_and_unknown_languages_read_english() -> None:
    assert format_hours(90) == "1½ uur"
    assert format_hours(90, "en-GB") == "1½ hours"
    assert format_hours(90, "nl_NL") == "1½ uur"
    assert words_for("tr-TR") == "tr" and words_for("ar") == "ar"
    assert words_for("de") == "en"


@given(st.integers(min_value=1, max_value=2**40))
def test_a_negative_amount_is_the_positive_one_after_a_minus_sign(minutes: int) -> None:
    for language in LANGUAGES:
        positive = format_hours(minutes, language)
        assert format_hours(-minutes, language) == MINUS + positive
        assert not positive.startswith(("-", MINUS, "=", "+"))
