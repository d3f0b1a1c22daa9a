"""From requests to ledger drafts, and appending them with rejections as problems.

The ledger validates everything again; the builders here only put the request's
fields where the ledger expects them. Staff act under their staff id, members
under their account id.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from api.idempotency import key_reused
from api.problems import from_rejection
from ledger.model import (
    AccountSpec,
    AccountType,
    BudgetChange,
    Draft,
    Entry,
    EntryKind,
    Meta,
    Posting,
    Rejected,
    Settings,
    StaffChange,
    StaffRole,
)
from ledger.rules import APPROVED_BY
from ledger.service import Ledger


async def append(
    ledger: Ledger,
    community: str,
    draft: Draft,
    on_rejected: Callable[[], object] | None = None,
) -> Entry:
    """Append ``draft`` (or find it again, for a retry); a refusal raises its problem.

    The one place that appends for a request. ``on_rejected`` runs before the
    problem is raised: payments pass the limiter's count of refused attempts,
    so that a caller probing balances is locked out.
    """
    result = await ledger.append(community, draft)
    if isinstance(result, Rejected):
        if on_rejected is not None:
            on_rejected()
        raise from_rejection(result)
    return result.entry


def open_account(
    draft_id: str, actor: str, account_id: str, type: AccountType, budget: int | None = None
) -> Draft:
    is_org = type is AccountType.ORGANISATION
    spec = AccountSpec(
        id=account_id,
        type=type,
        floor_minutes=None if is_org else 0,
        budget_minutes_per_month=budget if is_org else None,
    )
    return Draft(id=draft_id, kind=EntryKind.OPEN, actor=actor, account=spec)


def configure(draft_id: str, actor: str, settings: Settings, *, key: str | None = None) -> Draft:
    return Draft(id=draft_id, kind=EntryKind.CONFIGURE, actor=actor, settings=settings, key=key)


def budget(
    draft_id: str, actor: str, organisation: str, minutes_per_month: int, *, key: str | None = None
) -> Draft:
    change = BudgetChange(organisation=organisation, budget_minutes_per_month=minutes_per_month)
    return Draft(id=draft_id, kind=EntryKind.BUDGET, actor=actor, budget=change, key=key)


def coordinator(
    draft_id: str, actor: str, staff_id: str, organisation: str, *, active: bool
) -> Draft:
    """Declare (``active``) or end ``staff_id``'s coordinator role for ``organisation``.

    The journal knows staff by their pseudonymous staff id only, so erasing a
    person's data leaves nothing personal in it.
    """
    change = StaffChange(staff_id, StaffRole.COORDINATOR, organisation, active)
    return Draft(id=draft_id, kind=EntryKind.STAFF, actor=actor, staff=change)


def earn_meta(activity: str, worked_on: date, approved_by: str | None) -> Meta:
    """An earning's meta; ``approved_by`` is the second coordinator's staff id, which the
    journal's authority rules require above the approval threshold."""
    meta: dict[str, str] = {"activity": activity, "worked_on": worked_on.isoformat()}
    if approved_by is not None:
        meta[APPROVED_BY] = approved_by
    return tuple(sorted(meta.items()))


def earn(
    draft_id: str,
    actor: str,
    organisation: str,
    member: str,
    amount_minutes: int,
    meta: Meta,
    memo: str,
    *,
    key: str | None = None,
) -> Draft:
    return Draft(
        id=draft_id,
        kind=EntryKind.EARN,
        actor=actor,
        postings=(Posting(organisation, member, amount_minutes),),
        memo=memo,
        meta=meta,
        key=key,
    )


def transfer(
    draft_id: str,
    payer: str,
    payee: str,
    amount_minutes: int,
    memo: str,
    reference: str = "",
    actor: str | None = None,
    *,
    key: str | None = None,
) -> Draft:
    """A member gives credits; ``actor`` is who did it for them (a coordinator's staff id),
    else the payer themself."""
    return Draft(
        id=draft_id,
        kind=EntryKind.TRANSFER,
        actor=actor or payer,
        postings=(Posting(payer, payee, amount_minutes),),
        memo=memo,
        reference=reference,
        key=key,
    )


def redeem(
    draft_id: str,
    actor: str,
    member: str,
    shop: str,
    amount_minutes: int,
    memo: str,
    reference: str,
    *,
    key: str | None = None,
) -> Draft:
    """A member pays a shop. ``reference`` names how: a payment request's RID,
    ``code:<device number>`` or ``card:<card id>``."""
    return Draft(
        id=draft_id,
        kind=EntryKind.REDEEM,
        actor=actor,
        postings=(Posting(member, shop, amount_minutes),),
        memo=memo,
        reference=reference,
        key=key,
    )


def settle(
    draft_id: str,
    actor: str,
    shop: str,
    community_account: str,
    amount_minutes: int,
    *,
    key: str | None = None,
) -> Draft:
    """The community retires a shop's credits (the municipality pays the shop outside)."""
    return Draft(
        id=draft_id,
        kind=EntryKind.SETTLE,
        actor=actor,
        postings=(Posting(shop, community_account, amount_minutes),),
        key=key,
    )


def correct(
    draft_id: str,
    actor: str,
    original: Entry,
    amount_minutes: int | None,
    reason: str,
    *,
    key: str | None = None,
) -> Draft:
    """Reverse ``original``'s postings, each by at most its amount (all of it by default)."""
    postings = tuple(
        Posting(
            p.payee,
            p.payer,
            p.amount_minutes if amount_minutes is None else amount_minutes,
        )
        for p in original.draft.postings
    )
    return Draft(
        id=draft_id,
        kind=EntryKind.CORRECT,
        actor=actor,
        postings=postings,
        memo=reason,
        corrects=original.seq,
        key=key,
    )


def retry_amount(existing: Entry, kind: EntryKind, asked: int | None) -> int:
    """The amount a retried request books: as asked, or else what the first booked.

    Without an amount a request means "all that is left" (of a payment, of a
    shop's balance); by the retry less is left, so the answer must come from the
    entry itself. The ledger still compares the whole draft with the entry.
    """
    if existing.kind is not kind or not existing.draft.postings:
        raise key_reused("This Idempotency-Key was used for another entry.")
    return existing.draft.postings[0].amount_minutes if asked is None else asked
