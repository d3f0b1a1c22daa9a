"""Shapes for entries, accounts, earnings, transfers, corrections, proofs and receipts."""

from __future__ import annotations

import base64
from datetime import date

import msgspec

from api.schemas.common import AccountId, Activity, EntryId, Memo, Minutes, Reason
from ledger.model import AccountType, Entry, EntryKind, MetaValue
from ledger.store import AccountRow


class PostingOut(msgspec.Struct):
    payer: str
    payee: str
    amount_minutes: int


class AccountSpecOut(msgspec.Struct):
    id: str
    type: AccountType
    floor_minutes: int | None
    budget_minutes_per_month: int | None


class SettingsOut(msgspec.Struct):
    members_may_transfer: bool
    member_earning_cap_minutes_per_month: int | None


class BudgetOut(msgspec.Struct):
    organisation: str
    budget_minutes_per_month: int


class EntryOut(msgspec.Struct):
    """An entry as the journal holds it, decoded (the canonical bytes are in /ledger/entries)."""

    id: str
    seq: int
    kind: EntryKind
    time: str
    actor: str
    postings: list[PostingOut]
    memo: str
    reference: str
    meta: dict[str, MetaValue]
    leaf_hash: str
    corrects: int | None = None
    account: AccountSpecOut | None = None
    settings: SettingsOut | None = None
    budget: BudgetOut | None = None

    @classmethod
    def from_entry(cls, entry: Entry) -> EntryOut:
        draft = entry.draft
        spec = draft.account
        return cls(
            id=entry.id,
            seq=entry.seq,
            kind=entry.kind,
            time=entry.time,
            actor=draft.actor,
            postings=[PostingOut(p.payer, p.payee, p.amount_minutes) for p in draft.postings],
            memo=draft.memo,
            reference=draft.reference,
            meta=dict(draft.meta),
            leaf_hash=entry.leaf.hex(),
            corrects=draft.corrects,
            account=None
            if spec is None
            else AccountSpecOut(
                spec.id, spec.type, spec.floor_minutes, spec.budget_minutes_per_month
            ),
            settings=None
            if draft.settings is None
            else SettingsOut(
                draft.settings.members_may_transfer,
                draft.settings.member_earning_cap_minutes_per_month,
            ),
            budget=None
            if draft.budget is None
            else BudgetOut(draft.budget.organisation, draft.budget.budget_minutes_per_month),
        )


class EntryPage(msgspec.Struct):
    items: list[EntryOut]
    next_cursor: str | None


class AccountOut(msgspec.Struct):
    id: str
    type: AccountType
    balance_minutes: int
    floor_minutes: int | None
    budget_minutes_per_month: int | None
    month: str
    # Minutes issued this month (organisation), earned this month (member), or
    # taken this month (shop: redemptions minus refunds; settlements not counted).
    month_minutes: int
    name: str | None = None

    @classmethod
    def from_row(
        cls, row: AccountRow, month: str, month_minutes: int, name: str | None
    ) -> AccountOut:
        spec = row.spec
        return cls(
            id=spec.id,
            type=spec.type,
            balance_minutes=row.balance_minutes,
            floor_minutes=spec.floor_minutes,
            budget_minutes_per_month=spec.budget_minutes_per_month,
            month=month,
            month_minutes=month_minutes,
            name=name,
        )


def receipt_url(entry_id: str) -> str:
    return f"/api/v1/receipts/{entry_id}"


class TransferIn(msgspec.Struct, forbid_unknown_fields=True):
    payee: AccountId
    amount_minutes: Minutes
    memo: Memo = ""


class TransferOut(msgspec.Struct):
    id: str
    seq: int
    time: str
    payer: str
    payee: str
    amount_minutes: int
    memo: str
    receipt_url: str

    @classmethod
    def from_entry(cls, entry: Entry) -> TransferOut:
        posting = entry.draft.postings[0]
        return cls(
            id=entry.id,
            seq=entry.seq,
            time=entry.time,
            payer=posting.payer,
            payee=posting.payee,
            amount_minutes=posting.amount_minutes,
            memo=entry.draft.memo,
            receipt_url=receipt_url(entry.id),
        )


class EarningIn(msgspec.Struct, forbid_unknown_fields=True):
    member: AccountId
    amount_minutes: Minutes
    activity: Activity
    worked_on: date
    organisation: AccountId | None = None
    memo: Memo = ""


class EarningOut(msgspec.Struct):
    """Volunteer work recorded: ``booked`` (credits moved) or waiting for a second coordinator."""

    id: str
    status: str
    organisation: str
    member: str
    amount_minutes: int
    activity: str
    worked_on: str
    recorded_by: str
    approved_by: str | None = None
    seq: int | None = None
    time: str | None = None
    receipt_url: str | None = None


class EarningPage(msgspec.Struct):
    items: list[EarningOut]


class CorrectionIn(msgspec.Struct, forbid_unknown_fields=True):
    entry_id: EntryId
    reason: Reason
    amount_minutes: Minutes | None = None


class CorrectionOut(msgspec.Struct):
    id: str
    seq: int
    time: str
    actor: str
    corrects_seq: int
    reason: str
    postings: list[PostingOut]
    receipt_url: str

    @classmethod
    def from_entry(cls, entry: Entry) -> CorrectionOut:
        draft = entry.draft
        assert draft.corrects is not None
        return cls(
            id=entry.id,
            seq=entry.seq,
            time=entry.time,
            actor=draft.actor,
            corrects_seq=draft.corrects,
            reason=draft.memo,
            postings=[PostingOut(p.payer, p.payee, p.amount_minutes) for p in draft.postings],
            receipt_url=receipt_url(entry.id),
        )


class CheckpointOut(msgspec.Struct):
    origin: str
    size: int
    root_hash: str
    note: str
    verifier_key: str


class InclusionProofOut(msgspec.Struct):
    seq: int
    size: int
    hashes: list[str]


class ConsistencyProofOut(msgspec.Struct):
    from_size: int
    to_size: int
    hashes: list[str]


class ReceiptOut(msgspec.Struct):
    """A c2sp.org/tlog-proof receipt and the entry's exact canonical bytes (as text)."""

    entry_id: str
    seq: int
    entry: str
    receipt: str
    origin: str
    verifier_key: str


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
