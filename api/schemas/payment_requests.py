"""Shapes for payment requests: asking to be paid, paying, and what each side sees."""

from __future__ import annotations

from typing import Annotated

import msgspec

from api.payment_requests import Payment, RequestView
from api.schemas.common import AccountId, Memo, Minutes, rfc3339
from api.schemas.ledger import receipt_url

RequestId = Annotated[
    str,
    msgspec.Meta(
        pattern="^[A-Z2-7]{26}$",
        description="The request's RID: 128 random bits, 26 upper-case base32 characters.",
    ),
]


class PaymentRequestIn(msgspec.Struct, forbid_unknown_fields=True):
    """Shop staff name the amount; a member asking a neighbour may leave it to the payer.

    ``shop`` is needed only by staff of several shops; without it a member asks
    to be paid into their own account.
    """

    amount_minutes: Minutes | None = None
    memo: Memo = ""
    shop: AccountId | None = None


class PayIn(msgspec.Struct, forbid_unknown_fields=True):
    """The amount only where the request leaves it open ("pay me" without an amount)."""

    amount_minutes: Minutes | None = None


def _path(request_id: str) -> str:
    return f"/api/v1/payment-requests/{request_id}"


class PaymentRequestOut(msgspec.Struct, omit_defaults=True):
    """What a payer sees; the payee's side also sees who paid, when, and the entry."""

    id: str
    pay_url: str
    qr_svg_url: str
    qr_png_url: str
    events_url: str
    payee_type: str
    payee_name: str
    amount_minutes: int | None
    memo: str
    status: str
    expires_at: str
    payee: str | None = None
    created_at: str | None = None
    payer_name: str | None = None
    paid_minutes: int | None = None
    decided_at: str | None = None
    entry_id: str | None = None
    receipt_url: str | None = None

    @classmethod
    def from_view(cls, view: RequestView) -> PaymentRequestOut:
        row = view.request
        base = _path(row.id)
        out = cls(
            id=row.id, pay_url=view.pay_url, qr_svg_url=f"{base}/qr.svg",
            qr_png_url=f"{base}/qr.png", events_url=f"{base}/events",
            payee_type=row.payee_type, payee_name=view.payee_name,
            amount_minutes=row.amount_minutes, memo=row.memo, status=view.status,
            expires_at=rfc3339(row.expires_at) or "",
        )  # fmt: skip
        if view.is_payee:
            out.payee = row.payee
            out.created_at = rfc3339(row.created_at)
            out.payer_name = view.payer_name
            out.paid_minutes = row.paid_minutes
            out.decided_at = rfc3339(row.decided_at)
            # A claim reserves the id its entry will get; it is the payment's once paid.
            paid_id = row.entry_id if row.status == "paid" else None
            out.entry_id = paid_id
            out.receipt_url = None if paid_id is None else receipt_url(paid_id)
        return out


class PaymentOut(msgspec.Struct):
    """A paid request: the entry that paid it, with its receipt."""

    request_id: str
    entry_id: str
    seq: int
    time: str
    kind: str
    payee_name: str
    amount_minutes: int
    payer_name: str
    receipt_url: str

    @classmethod
    def from_payment(cls, payment: Payment) -> PaymentOut:
        entry = payment.entry
        return cls(
            request_id=payment.request.id, entry_id=entry.id, seq=entry.seq, time=entry.time,
            kind=entry.kind.value, payee_name=payment.payee_name,
            amount_minutes=entry.draft.postings[0].amount_minutes,
            payer_name=payment.payer_name, receipt_url=receipt_url(entry.id),
        )  # fmt: skip
