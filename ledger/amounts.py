"""Amounts as people read them: minutes in words of hours, in Dutch or English.

The one formatter for amounts (pages, statements and the verifier use it):
``format_hours(90, "nl") == "1½ uur"``. Whole and half hours read as hours
("2 uur", "½ uur", "1½ hours"); anything else says its minutes
("1 uur en 15 minuten", "1 hour 15 minutes", "45 minutes"). A negative amount
starts with a real minus sign (U+2212), so it cannot be mistaken for a hyphen
or, in a spreadsheet, for a formula. Thousands are grouped the local way
("1.000 uur", "1,000 hours").
"""

from __future__ import annotations

from dataclasses import dataclass

MINUS = "\N{MINUS SIGN}"
HALF = "\N{VULGAR FRACTION ONE HALF}"


@dataclass(frozen=True, slots=True)
class _Words:
    hour: str
    hours: str
    minute: str
    minutes: str
    joiner: str  # between hours and minutes
    thousands: str


_WORDS = {
    "nl": _Words("uur", "uur", "minuut", "minuten", " en ", "."),
    "en": _Words("hour", "hours", "minute", "minutes", " ", ","),
}
LANGUAGES = tuple(_WORDS)
DEFAULT_LANGUAGE = "nl"


def words_for(language: str) -> str:
    """The language ``format_hours`` will use for ``language`` (a tag like "nl" or "en-GB").

    Languages without words of their own yet (Turkish, Arabic) read English.
    """
    primary = language.split("-", 1)[0].split("_", 1)[0].lower()
    return primary if primary in _WORDS else "en"


def format_hours(minutes: int, language: str = DEFAULT_LANGUAGE) -> str:
    """``minutes`` as hours in words: 90 -> "1½ uur" (nl) or "1½ hours" (en)."""
    words = _WORDS[words_for(language)]
    sign = MINUS if minutes < 0 else ""
    whole, rest = divmod(abs(minutes), 60)
    if rest == 0:
        return f"{sign}{_group(whole, words)} {words.hour if whole == 1 else words.hours}"
    if rest == 30:
        number = HALF if whole == 0 else f"{_group(whole, words)}{HALF}"
        # "½ hour" but "1½ hours"; Dutch says "uur" either way.
        return f"{sign}{number} {words.hour if whole == 0 else words.hours}"
    minute_text = f"{rest} {words.minute if rest == 1 else words.minutes}"
    if whole == 0:
        return f"{sign}{minute_text}"
    hour_text = f"{_group(whole, words)} {words.hour if whole == 1 else words.hours}"
    return f"{sign}{hour_text}{words.joiner}{minute_text}"


def _group(number: int, words: _Words) -> str:
    return f"{number:,}".replace(",", words.thousands)
