"""Amounts as people read them: minutes in words of hours, in Dutch, English, Turkish or Arabic.

The one formatter for amounts (pages, statements and the verifier use it):
``format_hours(90, "nl") == "1½ uur"``. Whole and half hours read as hours
("2 uur", "½ uur", "1½ hours", "1½ saat"); anything else says its minutes
("1 uur en 15 minuten", "1 hour 15 minutes", "1 saat 15 dakika"). Arabic counts
the way Arabic speakers say it, with the dual and the plural of three to ten
("ساعتان", "3 ساعات", "ساعة ونصف", "نصف ساعة"). A negative amount starts with a
real minus sign (U+2212), so it cannot be mistaken for a hyphen or, in a
spreadsheet, for a formula. Thousands are grouped the local way ("1.000 uur",
"1,000 hours").
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
    "tr": _Words("saat", "saat", "dakika", "dakika", " ", "."),
}
LANGUAGES = ("nl", "en", "tr", "ar")
DEFAULT_LANGUAGE = "nl"
RIGHT_TO_LEFT = frozenset({"ar"})
# The CLDR locale (Babel's) each language's dates and numbers are written in:
# English is British English.
LOCALES = {"nl": "nl", "en": "en_GB", "tr": "tr", "ar": "ar"}
assert set(LOCALES) == set(LANGUAGES), "every language has its locale"


def words_for(language: str) -> str:
    """The language ``format_hours`` will use for ``language`` (a tag like "nl" or "en-GB");
    a language it has no words for reads English."""
    primary = language.split("-", 1)[0].split("_", 1)[0].lower()
    return primary if primary in LANGUAGES else "en"


def format_hours(minutes: int, language: str = DEFAULT_LANGUAGE) -> str:
    """``minutes`` as hours in words: 90 -> "1½ uur" (nl), "1½ hours" (en), "ساعة ونصف" (ar)."""
    sign = MINUS if minutes < 0 else ""
    whole, rest = divmod(abs(minutes), 60)
    chosen = words_for(language)
    if chosen == "ar":
        return sign + _arabic(whole, rest)
    words = _WORDS[chosen]
    if rest == 0:
        return f"{sign}{_group(whole, words.thousands)} {words.hour if whole == 1 else words.hours}"
    if rest == 30:
        number = HALF if whole == 0 else f"{_group(whole, words.thousands)}{HALF}"
        # "½ hour" but "1½ hours"; Dutch and Turkish say "uur" and "saat" either way.
        return f"{sign}{number} {words.hour if whole == 0 else words.hours}"
    minute_text = f"{rest} {words.minute if rest == 1 else words.minutes}"
    if whole == 0:
        return f"{sign}{minute_text}"
    hour_text = f"{_group(whole, words.thousands)} {words.hour if whole == 1 else words.hours}"
    return f"{sign}{hour_text}{words.joiner}{minute_text}"


# Arabic nouns after a count: one, two (the dual), three to ten (plural), and the rest.
_AR_HOUR = ("ساعة", "ساعتان", "ساعات", "ساعة")
_AR_MINUTE = ("دقيقة", "دقيقتان", "دقائق", "دقيقة")
_AR_HALF_HOUR = "نصف ساعة"
_AR_AND = " و"
_AR_HALF = "نصف"


def _arabic_count(number: int, nouns: tuple[str, str, str, str]) -> str:
    if number == 1:
        return nouns[0]
    if number == 2:
        return nouns[1]
    noun = nouns[2] if 3 <= number <= 10 else nouns[3]
    return f"{_group(number, ',')} {noun}"


def _arabic(whole: int, rest: int) -> str:
    if whole == 0 and rest == 30:
        return _AR_HALF_HOUR
    if whole == 0 and rest:
        return _arabic_count(rest, _AR_MINUTE)
    hours = _arabic_count(whole, _AR_HOUR) if whole else f"0 {_AR_HOUR[3]}"
    if rest == 0:
        return hours
    if rest == 30:
        return f"{hours}{_AR_AND}{_AR_HALF}"
    return f"{hours}{_AR_AND}{_arabic_count(rest, _AR_MINUTE)}"


def _group(number: int, thousands: str) -> str:
    return f"{number:,}".replace(",", thousands)
