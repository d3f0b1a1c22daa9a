"""Pages from Jinja2 templates (``mobile_web/templates``), with the words in each language.

Templates are autoescaped; amounts go through the one formatter
(``ledger.amounts.format_hours``), so a page says "1½ uur", never "1:30".
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from ledger.amounts import format_hours

TEXTS: dict[str, dict[str, str]] = {
    "nl": {
        "welcome": "Welkom bij Buurtmunt",
        "explain": "Druk op de knop om deze telefoon aan uw rekening te koppelen.",
        "confirm": "Deze telefoon koppelen",
        "invalid": "Deze link werkt niet (meer). Vraag uw coördinator om een nieuwe.",
        "locked": "Te veel pogingen. Probeer het over een kwartier opnieuw.",
        "signed_out": "U bent niet aangemeld. Open de link op uw welkomstkaart.",
        "balance": "Uw saldo",
        "recent": "Laatste boekingen",
        "none": "Nog geen boekingen.",
        "hello": "Hallo",
        "roles": "Uw rollen",
        "pay_title": "Betalen",
        "pay_to": "U betaalt aan",
        "how_much": "Hoeveel minuten geeft u?",
        "pay_button": "Betaal",
        "not_now": "Niet betalen",
        "paid": "Betaald",
        "paid_to": "Betaald aan",
        "home": "Naar mijn saldo",
        "request_unknown": "Deze betaalcode bestaat niet. Vraag de winkel om een nieuwe.",
        "request_paid": "Deze betaalcode is al betaald.",
        "request_cancelled": "De winkel heeft deze betaling geannuleerd.",
        "request_expired": "Deze betaalcode is verlopen. Vraag de winkel om een nieuwe.",
        "request_busy": "Deze betaling wordt op dit moment gedaan. Wacht even.",
        "not_enough": "U heeft niet genoeg tegoed voor deze betaling.",
        "form_expired": "Deze pagina is verlopen. Open de betaalcode opnieuw.",
        "members_only": "Alleen bewoners met een rekening kunnen betalen.",
        "failed": "De betaling is niet gelukt. Er is niets afgeschreven.",
        "too_many": "Te veel pogingen. Wacht even en probeer het opnieuw.",
    },
    "en": {
        "welcome": "Welcome to Buurtmunt",
        "explain": "Press the button to link this phone to your account.",
        "confirm": "Link this phone",
        "invalid": "This link does not work (any more). Ask your coordinator for a new one.",
        "locked": "Too many attempts. Try again in a quarter of an hour.",
        "signed_out": "You are not signed in. Open the link on your welcome card.",
        "balance": "Your balance",
        "recent": "Recent entries",
        "none": "No entries yet.",
        "hello": "Hello",
        "roles": "Your roles",
        "pay_title": "Pay",
        "pay_to": "You pay",
        "how_much": "How many minutes do you give?",
        "pay_button": "Pay",
        "not_now": "Don't pay",
        "paid": "Paid",
        "paid_to": "Paid to",
        "home": "To my balance",
        "request_unknown": "This pay code does not exist. Ask the shop for a new one.",
        "request_paid": "This pay code has been paid already.",
        "request_cancelled": "The shop cancelled this payment.",
        "request_expired": "This pay code has expired. Ask the shop for a new one.",
        "request_busy": "This payment is being made right now. Wait a moment.",
        "not_enough": "You do not have enough credit for this payment.",
        "form_expired": "This page has expired. Open the pay code again.",
        "members_only": "Only residents with an account can pay.",
        "failed": "The payment did not go through. Nothing was taken.",
        "too_many": "Too many attempts. Wait a moment and try again.",
    },
}
DEFAULT_LANGUAGE = "nl"


def language_of(preferred: str | None) -> str:
    return preferred if preferred in TEXTS else DEFAULT_LANGUAGE


def _signed_hours(minutes: int, language: str) -> str:
    """A plus sign for money in; money out already starts with a minus sign."""
    text = format_hours(minutes, language)
    return f"+{text}" if minutes > 0 else text


_environment = Environment(
    loader=PackageLoader("mobile_web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.filters["hours"] = format_hours
_environment.filters["signed_hours"] = _signed_hours


def render(template: str, language: str, title_key: str = "welcome", **context: Any) -> str:
    """The page ``template`` in ``language`` (Dutch when it has no words of its own yet)."""
    lang = language_of(language)
    texts = TEXTS[lang]
    return _environment.get_template(template).render(
        lang=lang, t=texts, title=texts.get(title_key, "Buurtmunt"), **context
    )


def message(language: str, key: str, *, problem: bool = True, title_key: str = "welcome") -> str:
    """A page that says one thing (``TEXTS[language][key]``)."""
    lang = language_of(language)
    return render("message.html", lang, title_key, message=TEXTS[lang][key], problem=problem)
