"""Minimal HTML for the first phone pages: escaped text, no scripts, large type."""

from __future__ import annotations

from html import escape

from ledger.model import Entry
from mobile_web.session import MemberView

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
        "credits": "uur",
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
        "credits": "hours",
    },
}
STYLE = (
    "body{font-family:system-ui,sans-serif;font-size:1.2rem;max-width:32rem;margin:1rem auto;"
    "padding:0 1rem;line-height:1.5}button{font-size:1.3rem;padding:.8rem 1.2rem;width:100%}"
    ".balance{font-size:2.5rem;font-weight:bold}li{margin:.3rem 0}"
)


def page(title: str, body: str, language: str = "nl") -> str:
    return (
        f'<!doctype html><html lang="{escape(language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )


def message_page(text: str) -> str:
    return page("Buurtmunt", f"<p>{escape(text)}</p>")


def hours(minutes: int) -> str:
    sign = "-" if minutes < 0 else ""
    whole, rest = divmod(abs(minutes), 60)
    return f"{sign}{whole}:{rest:02d}"


def _entry_line(entry: Entry, account_id: str) -> str:
    delta = 0
    for posting in entry.draft.postings:
        if posting.payee == account_id:
            delta += posting.amount_minutes
        if posting.payer == account_id:
            delta -= posting.amount_minutes
    sign = "+" if delta > 0 else ""
    memo = entry.draft.memo or dict(entry.draft.meta).get("activity", "") or entry.kind.value
    return f"<li>{escape(entry.time[:10])} {escape(str(memo))}: <b>{sign}{hours(delta)}</b></li>"


def home_page(view: MemberView) -> str:
    text = TEXTS.get(view.language, TEXTS["nl"])
    parts = [f"<p>{escape(text['hello'])} {escape(view.name)}</p>"]
    if view.account_id is not None and view.balance_minutes is not None:
        parts.append(
            f"<p>{escape(text['balance'])}</p>"
            f'<p class="balance">{hours(view.balance_minutes)} {escape(text["credits"])}</p>'
            f"<h2>{escape(text['recent'])}</h2>"
        )
        lines = [_entry_line(e, view.account_id) for e in view.recent]
        parts.append(f"<ul>{''.join(lines)}</ul>" if lines else f"<p>{escape(text['none'])}</p>")
    else:
        parts.append(f"<p>{escape(text['roles'])}: {escape(', '.join(view.roles))}</p>")
    return page("Buurtmunt", "".join(parts), view.language if view.language in TEXTS else "nl")
