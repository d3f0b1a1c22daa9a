"""The four languages of the pages: their gettext catalogs and which one a visitor reads.

The words live in ``mobile_web/translations/<lang>/LC_MESSAGES/messages.po``
(Babel; message ids are English). They are compiled in memory when first
needed, so an installed package needs nothing but the ``.po`` files. The
language is the one chosen on this device (the ``bm_lang`` cookie, set by the
switch on every page), else the signed-in person's, else the browser's
``Accept-Language``, else Dutch.
"""

from __future__ import annotations

import functools
import io
from gettext import GNUTranslations
from importlib.resources import files

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from ledger.amounts import DEFAULT_LANGUAGE, LANGUAGES, RIGHT_TO_LEFT

LANGUAGE_COOKIE = "bm_lang"
# Each language's name in itself, for the switch.
NATIVE_NAMES = {"nl": "Nederlands", "en": "English", "tr": "Türkçe", "ar": "العربية"}
ACCEPT_LANGUAGE_ITEMS_MAX = 20
assert set(NATIVE_NAMES) == set(LANGUAGES), "every language has its name in the switch"


@functools.cache
def translations(language: str) -> GNUTranslations:
    """The compiled catalog of ``language`` (one of ``LANGUAGES``)."""
    assert language in LANGUAGES, language
    source = files("mobile_web") / "translations" / language / "LC_MESSAGES" / "messages.po"
    with source.open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return GNUTranslations(compiled)


def direction(language: str) -> str:
    return "rtl" if language in RIGHT_TO_LEFT else "ltr"


def supported(tag: str | None) -> str | None:
    """The language of ``tag`` ("tr", "ar-MA", "en_GB") if the pages speak it."""
    if not tag:
        return None
    primary = tag.strip().split("-", 1)[0].split("_", 1)[0].lower()
    return primary if primary in LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The language the browser prefers most among those the pages speak (RFC 9110 q-values)."""
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate((header or "").split(",")[:ACCEPT_LANGUAGE_ITEMS_MAX]):
        tag, _, params = item.partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        language = supported(tag)
        if language is not None and quality > 0:
            ranked.append((-quality, index, language))
    return min(ranked)[2] if ranked else None


def choose(cookie: str | None, person: str | None, accept_language: str | None) -> str:
    """The page's language: this device's choice, the person's, the browser's, or Dutch."""
    return (
        supported(cookie)
        or supported(person)
        or from_accept_language(accept_language)
        or DEFAULT_LANGUAGE
    )
