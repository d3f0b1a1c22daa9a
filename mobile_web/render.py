"""Pages from Jinja2 templates (``mobile_web/templates``), in the visitor's language.

One Jinja environment per language, each with its gettext catalog installed
(``{{ _("…") }}`` in templates). Templates are autoescaped; amounts go through
the one formatter (``ledger.amounts.format_hours``), so a page says "1½ uur",
never "1:30". Icons are SVG files under ``static/icons`` that templates include
inline (``{% include "icons/home.svg" %}``): no extra request, no icon font.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    PrefixLoader,
    select_autoescape,
)

from ledger.amounts import LANGUAGES, LOCALES, format_hours
from mobile_web.i18n import NATIVE_NAMES, direction, translations

STATIC = Path(str(files("mobile_web") / "static"))
# The pages' clock: "today" and the times the staff screens show are the Netherlands' own.
LOCAL_TIME_ZONE = ZoneInfo("Europe/Amsterdam")


@dataclass(frozen=True, slots=True)
class Page:
    """What every page's layout needs: its language, where it is, and this device's settings.

    ``path`` is where the language switch comes back to; ``csrf`` is the form
    token of a signed-in session (None when nobody is signed in).
    """

    language: str
    path: str = "/"
    large_text: bool = False
    signed_in: bool = False
    csrf: str | None = None

    @property
    def dir(self) -> str:
        return direction(self.language)


def _signed_hours(minutes: int, language: str) -> str:
    """A plus sign for credits in; credits out already start with a minus sign."""
    text = format_hours(minutes, language)
    return f"+{text}" if minutes > 0 else text


def _local(moment: str) -> datetime:
    """An RFC 3339 time (the journal's, in UTC) on the pages' clock."""
    return datetime.fromisoformat(moment).astimezone(LOCAL_TIME_ZONE)


def _date(value: date | str, language: str) -> str:
    """A day, or the day of an RFC 3339 time on the pages' clock ("28 november 2026")."""
    if isinstance(value, str):
        value = _local(value).date() if len(value) > 10 else date.fromisoformat(value)
    return format_date(value, format="d MMMM y", locale=LOCALES[language])


def moment(value: str, language: str) -> str:
    """An RFC 3339 time on the pages' clock, to the minute ("28 november 2026 10:30")."""
    return format_datetime(_local(value), format="d MMMM y HH:mm", locale=LOCALES[language])


def _clock(value: str) -> str:
    """The hour and minute of an RFC 3339 time on the pages' clock ("10:30")."""
    return _local(value).strftime("%H:%M")


@functools.cache
def environment(language: str) -> Environment:
    assert language in LANGUAGES, language
    loader = ChoiceLoader(
        [
            PackageLoader("mobile_web", "templates"),
            PrefixLoader({"icons": FileSystemLoader(STATIC / "icons")}),
        ]
    )
    env = Environment(
        loader=loader,
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["hours"] = format_hours
    env.filters["signed_hours"] = _signed_hours
    env.filters["day"] = _date
    env.filters["moment"] = moment
    env.filters["clock"] = _clock
    env.globals["languages"] = [(code, NATIVE_NAMES[code]) for code in LANGUAGES]
    return env


def render(template: str, page: Page, **context: Any) -> str:
    """The page ``template`` in ``page.language``."""
    return environment(page.language).get_template(template).render(page=page, **context)


def translate(language: str, message: str) -> str:
    """``message`` (an English message id, marked with ``N_``) in ``language``."""
    return translations(language).gettext(message)


def N_(message: str) -> str:
    """Marks ``message`` for the catalogs; ``translate`` gives its words at render time."""
    return message
