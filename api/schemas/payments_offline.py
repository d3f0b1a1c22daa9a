"""Shapes for paying without a scan: pay codes, printed cards, and reports of payments."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from api import limits as api_limits
from api.schemas.common import AccountId, EntryId, Memo, Minutes, Reason, rfc3339
from api.schemas.ledger import receipt_url
from api.tables import CardRow, OfflinePaymentRow
from ledger.model import Entry

PayCode = Annotated[
    str,
    Meta(
        pattern="^[0-9]{12}$",
        description="The 12 digits the member's phone shows: device number, then the TOTP.",
        examples=["123456287082"],
    ),
]
Pin = Annotated[
    str,
    Meta(
        pattern=f"^[0-9]{{{api_limits.CARD_PIN_LENGTH_MIN},{api_limits.CARD_PIN_LENGTH_MAX}}}$",
        description="The card's PIN: 4 to 6 digits.",
    ),
]
CardPayload = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=api_limits.CARD_PAYLOAD_LENGTH_MAX,
        description="The text of the card's QR code (BMC1:...).",
    ),
]


class PayCodeDeviceOut(msgspec.Struct):
    """What a phone needs to show pay codes offline (RFC 6238 TOTP).

    A pay code is ``device_number`` followed by the TOTP of the current step:
    HMAC-SHA1 over the 8-byte big-endian step number floor(unix time /
    step_seconds), dynamically truncated to ``digits`` digits. Its QR code holds
    just those digits. ``code`` and ``qr_svg`` are the code of this moment.
    """

    device_number: str
    secret: str  # base32 (RFC 4648), no padding
    algorithm: str
    digits: int
    step_seconds: int
    code_digits: int
    code_layout: str
    code: str
    qr_svg: str


class PayCodeRedeemIn(msgspec.Struct, forbid_unknown_fields=True):
    code: PayCode
    amount_minutes: Minutes
    memo: Memo = ""
    # Which shop takes the payment; needed only by staff of several shops.
    shop: AccountId | None = None


class CardRedeemIn(msgspec.Struct, forbid_unknown_fields=True):
    card: CardPayload
    pin: Pin
    amount_minutes: Minutes
    memo: Memo = ""
    shop: AccountId | None = None


class OfflinePaymentOut(msgspec.Struct):
    """A payment taken with a pay code or a card: one redeem entry, member -> shop."""

    entry_id: str
    seq: int
    time: str
    member: str
    shop: str
    amount_minutes: int
    memo: str
    method: str  # "code" or "card"
    reference: str  # "code:<device number>" or "card:<card id>"
    receipt_url: str

    @classmethod
    def from_entry(cls, entry: Entry, method: str) -> OfflinePaymentOut:
        posting = entry.draft.postings[0]
        return cls(
            entry_id=entry.id,
            seq=entry.seq,
            time=entry.time,
            member=posting.payer,
            shop=posting.payee,
            amount_minutes=posting.amount_minutes,
            memo=entry.draft.memo,
            method=method,
            reference=entry.draft.reference,
            receipt_url=receipt_url(entry.id),
        )


class CardIn(msgspec.Struct, forbid_unknown_fields=True):
    member: AccountId
    pin: Pin


class CardOut(msgspec.Struct):
    id: str
    member: str
    person_id: str
    status: str  # "active", "locked" (too many wrong PINs) or "revoked"
    issued_at: str
    issued_by: str
    locked_at: str | None
    revoked_at: str | None

    @classmethod
    def from_row(cls, row: CardRow) -> CardOut:
        locked = row.locked_at is not None or row.failures >= api_limits.CARD_PIN_FAILURES_MAX
        status = "revoked" if row.revoked_at else "locked" if locked else "active"
        return cls(
            id=row.id,
            member=row.member,
            person_id=row.person_id,
            status=status,
            issued_at=rfc3339(row.issued_at) or "",
            issued_by=row.issued_by,
            locked_at=rfc3339(row.locked_at),
            revoked_at=rfc3339(row.revoked_at),
        )


class CardCreatedOut(msgspec.Struct):
    """A new card: print ``payload`` as a QR code (``qr_svg`` is one) on it."""

    card: CardOut
    payload: str
    qr_svg: str


class CardPage(msgspec.Struct):
    items: list[CardOut]


class PaymentReportIn(msgspec.Struct, forbid_unknown_fields=True):
    entry_id: EntryId
    note: Reason | None = None


class PaymentReportOut(msgspec.Struct):
    """A payment the member says they did not make, for a coordinator to follow up."""

    entry_id: str
    member: str
    shop: str
    method: str
    instrument: str  # the device number or card id: what to revoke
    amount_minutes: int
    paid_at: str
    reported_at: str
    note: str | None

    @classmethod
    def from_row(cls, row: OfflinePaymentRow) -> PaymentReportOut:
        return cls(
            entry_id=row.entry_id,
            member=row.member,
            shop=row.shop,
            method=row.method,
            instrument=row.instrument,
            amount_minutes=row.amount_minutes,
            paid_at=rfc3339(row.created_at) or "",
            reported_at=rfc3339(row.reported_at) or "",
            note=row.report_note,
        )


class PaymentReportPage(msgspec.Struct):
    items: list[PaymentReportOut]
