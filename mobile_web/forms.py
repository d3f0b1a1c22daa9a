"""What the payment screens' forms send: an amount in hours and minutes, and the key that
makes a form sent twice do its work once."""

from __future__ import annotations

from typing import Annotated

from litestar.enums import RequestEncodingType
from litestar.params import Body

from ledger import limits
from ledger.amounts import format_hours
from ledger.ids import new_uuid7
from ledger.shape import ID_PATTERN
from mobile_web.render import N_

# A posted HTML form: its fields as text (the pages' forms send no files).
FormBody = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]

AMOUNT_FIELD_DIGITS_MAX = 6


# What a form with an amount out of bounds says (``amount_bounds`` fills it in).
AMOUNT_INVALID = N_("Choose an amount from %(least)s to %(most)s.")


class AmountInvalid(ValueError):
    """The form's amount is not a whole number of minutes within the bounds."""


def amount_bounds(language: str) -> dict[str, str]:
    """The fields of ``AMOUNT_INVALID`` in ``language``: the least and the most a form's
    amount may be."""
    return {
        "least": format_hours(1, language),
        "most": format_hours(limits.TRANSFER_MINUTES_MAX, language),
    }


def _number(text: str) -> int:
    text = text.strip()
    if not text:
        return 0
    if not text.isdecimal() or len(text) > AMOUNT_FIELD_DIGITS_MAX:
        raise AmountInvalid(text)
    return int(text)


def minutes_from(form: dict[str, str], *, required: bool) -> int | None:
    """``amount_minutes`` (a quick-choice button), else ``hours`` and ``minutes`` fields.
    None when the form names no amount and none is ``required``."""
    if form.get("amount_minutes", "").strip():
        minutes = _number(form["amount_minutes"])
    else:
        minutes = _number(form.get("hours", "")) * 60 + _number(form.get("minutes", ""))
        if minutes == 0 and not required:
            return None
    if not 1 <= minutes <= limits.TRANSFER_MINUTES_MAX:
        raise AmountInvalid(str(minutes))
    return minutes


def fresh_key() -> str:
    """An idempotency key for a form about to be shown: a UUIDv7, so that the ledger's
    key map grows at its end (``ledger.ids``)."""
    return new_uuid7()


def form_key(form: dict[str, str]) -> str:
    """The form's key, or a fresh one if it sent none that fits."""
    key = form.get("key", "").strip()
    if not ID_PATTERN.fullmatch(key):
        return fresh_key()
    return key
