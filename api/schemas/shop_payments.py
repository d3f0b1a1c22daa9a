"""Shapes for refunds, settlements and a shop's monthly statement."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from api.schemas.common import AccountId, EntryId, Memo, Minutes
from api.schemas.ledger import receipt_url
from ledger.audit.shop_statement import ShopRow, ShopStatement
from ledger.model import Entry

Period = Annotated[
    str,
    Meta(
        pattern="^[0-9]{4}-(0[1-9]|1[0-2])$",
        description="A calendar month (UTC), YYYY-MM.",
        examples=["2026-11"],
    ),
]


class RefundIn(msgspec.Struct, forbid_unknown_fields=True):
    """Give (part of) a payment back. Without ``amount_minutes``: all that is left of it."""

    entry_id: EntryId
    amount_minutes: Minutes | None = None
    reason: Memo = ""


class RefundOut(msgspec.Struct):
    id: str
    seq: int
    time: str
    original_entry_id: str
    amount_minutes: int
    # What is left to refund of the payment after this refund; null when the
    # member's history since the payment is too long to add up in one request.
    remaining_minutes: int | None
    reason: str
    receipt_url: str

    @classmethod
    def from_entry(cls, entry: Entry, original: Entry, remaining: int | None) -> RefundOut:
        return cls(
            id=entry.id,
            seq=entry.seq,
            time=entry.time,
            original_entry_id=original.id,
            amount_minutes=entry.draft.postings[0].amount_minutes,
            remaining_minutes=remaining,
            reason=entry.draft.memo,
            receipt_url=receipt_url(entry.id),
        )


class SettlementIn(msgspec.Struct, forbid_unknown_fields=True):
    """Retire a shop's credits. Without ``amount_minutes``: its whole balance
    (at most the most one entry may move, ``TRANSFER_MINUTES_MAX``)."""

    shop: AccountId
    amount_minutes: Minutes | None = None


class SettlementOut(msgspec.Struct):
    id: str
    seq: int
    time: str
    shop: str
    community_account: str
    amount_minutes: int
    receipt_url: str

    @classmethod
    def from_entry(cls, entry: Entry) -> SettlementOut:
        posting = entry.draft.postings[0]
        return cls(
            id=entry.id,
            seq=entry.seq,
            time=entry.time,
            shop=posting.payer,
            community_account=posting.payee,
            amount_minutes=posting.amount_minutes,
            receipt_url=receipt_url(entry.id),
        )


class StatementRowOut(msgspec.Struct):
    """One movement of the shop's minutes, signed from the shop's side."""

    seq: int
    entry_id: str
    time: str
    kind: str  # redemption | refund | settlement | settlement_correction
    amount_minutes: int
    reference: str  # how the member paid; a refund carries its payment's reference
    name: str  # the member's name ("" once erased); for a settlement, the community's
    corrects_seq: int | None = None

    @classmethod
    def from_row(cls, row: ShopRow) -> StatementRowOut:
        return cls(
            seq=row.seq,
            entry_id=row.entry_id,
            time=row.time,
            kind=row.kind,
            amount_minutes=row.amount_minutes,
            reference=row.reference,
            name=row.name,
            corrects_seq=row.corrects_seq,
        )


class StatementTotalOut(msgspec.Struct):
    kind: str
    count: int
    amount_minutes: int


class StatementCheckpointOut(msgspec.Struct):
    """The signed checkpoint the statement was computed from: entries with seq < size."""

    origin: str
    size: int
    root_hash: str
    note: str


class ShopStatementOut(msgspec.Struct):
    """A shop's month: opening balance + the totals' amounts = closing balance.

    Names, never account ids: this is what a shop keeper files and shows.
    """

    shop_name: str
    period: str
    opening_balance_minutes: int
    closing_balance_minutes: int
    net_minutes: int
    rows: list[StatementRowOut]
    totals: list[StatementTotalOut]
    checkpoint: StatementCheckpointOut

    @classmethod
    def from_statement(cls, statement: ShopStatement) -> ShopStatementOut:
        checkpoint = statement.checkpoint
        return cls(
            shop_name=statement.shop_name,
            period=statement.period,
            opening_balance_minutes=statement.opening_balance_minutes,
            closing_balance_minutes=statement.closing_balance_minutes,
            net_minutes=statement.net_minutes,
            rows=[StatementRowOut.from_row(r) for r in statement.rows],
            totals=[StatementTotalOut(t.kind, t.count, t.amount_minutes) for t in statement.totals],
            checkpoint=StatementCheckpointOut(
                checkpoint.origin, checkpoint.size, checkpoint.root_hash, checkpoint.note
            ),
        )
