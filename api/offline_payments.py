"""Payments a shop takes without a scan (pay code or card): caps, booking, reports.

Both ways end in ``book``. It reserves the payment in ``offline_payments``
under the community's caps (per payment, and per member per UTC day), in one
write transaction that first runs the way's own *claim* (a pay code's step, a
card's state), then appends the redeem entry. The reservation comes first so
that the caps hold under concurrency: on PostgreSQL an advisory lock per
member serialises the check-and-insert, on SQLite the write transaction
already does. The ledger's append is never waited for inside that
transaction (the ledger's writer needs the same write lock); if the ledger
refuses, the reservation is deleted again.

A reservation holds the entry id it reserves and the request's scoped
Idempotency-Key, so a retried request (same key) finds it, books under the
same id and gets the original payment back instead of being refused as a
second use of the code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import func, text
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api import drafts, limits
from api.access import Principal
from api.idempotency import Plan, draft_id, fingerprint, once, scoped_key
from api.problems import ProblemError, forbidden, invalid, not_found
from api.runtime import Runtime
from api.schemas.common import rfc3339, text_ok
from api.schemas.payments_offline import PaymentReportOut
from api.tables import CommunityRow, OfflinePaymentRow
from ledger.ids import new_entry_id
from ledger.model import Draft, Entry, Rejection

METHOD_CODE, METHOD_CARD = "code", "card"

# A claim runs inside the booking transaction. It returns a refusal to raise
# once the transaction has committed (so that what it wrote, e.g. a count of
# wrong codes, stays), or None to go on; raising rolls everything back.
Claim = Callable[[AsyncSession], Awaitable[ProblemError | None]]


@dataclass(frozen=True, slots=True)
class Payment:
    """One payment to book: ``key`` is the request's scoped Idempotency-Key;
    ``entry_id`` a fresh id, or the one an earlier request with the key reserved."""

    community: str
    entry_id: str
    key: str
    actor: str
    member: str
    shop: str
    amount_minutes: int
    memo: str
    method: str
    instrument: str

    @property
    def reference(self) -> str:
        return f"{self.method}:{self.instrument}"

    def draft(self) -> Draft:
        return drafts.redeem(
            self.entry_id, self.actor, self.member, self.shop, self.amount_minutes, self.memo,
            self.reference, key=self.key,
        )  # fmt: skip


def day_of(now: datetime) -> str:
    """The calendar day (UTC) a payment counts against."""
    return now.astimezone(UTC).date().isoformat()


def member_lock_key(community: str, member: str) -> int:
    """A signed 64-bit key for ``pg_advisory_xact_lock``: one per member."""
    digest = hashlib.sha256(f"offline-payments\0{community}\0{member}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def earlier(rt: Runtime, community: str, key: str) -> OfflinePaymentRow | None:
    """The reservation an earlier request with the same scoped key made, if any."""
    async with rt.db.read() as session:
        return await _reserved_under(session, community, key)


async def _reserved_under(
    session: AsyncSession, community: str, key: str
) -> OfflinePaymentRow | None:
    query = select(OfflinePaymentRow).where(
        col(OfflinePaymentRow.community) == community, col(OfflinePaymentRow.key) == key
    )
    return (await session.exec(query)).first()


async def book(rt: Runtime, payment: Payment, claim: Claim) -> Entry:
    """Reserve ``payment`` under the caps (after ``claim``), then append its redeem entry.

    A retry (a reservation with this key exists) skips the claim and the caps
    and appends the same draft again under the reserved id, which the ledger
    answers with the original entry. A ledger refusal deletes the reservation and raises.
    """
    now = rt.now().astimezone(UTC)
    refusal: ProblemError | None = None
    async with rt.db.write() as session:
        if not rt.db.is_sqlite:
            # Taken before the claim: every booking locks its member first and
            # then at most its code or card, so two bookings never wait in a circle.
            key = member_lock_key(payment.community, payment.member)
            connection = await session.connection()
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        existing = await _reserved_under(session, payment.community, payment.key)
        if existing is not None:
            _check_same(existing, payment)
            payment = replace(payment, entry_id=existing.entry_id)
        else:
            refusal = await claim(session)
            if refusal is None:
                await _reserve(session, payment, now)
    if refusal is not None:
        raise refusal
    return await _append(rt, payment)


def _check_same(row: OfflinePaymentRow, payment: Payment) -> None:
    same = (row.member, row.shop, row.amount_minutes, row.method, row.instrument) == (
        payment.member, payment.shop, payment.amount_minutes, payment.method, payment.instrument,
    )  # fmt: skip
    if not same:
        raise invalid(
            "idempotency_key_reused", "This Idempotency-Key was used for a different payment."
        )


async def _reserve(session: AsyncSession, payment: Payment, now: datetime) -> None:
    community = await session.get(CommunityRow, payment.community)
    assert community is not None, "a principal's community exists"
    cap = community.offline_payment_minutes_max
    if payment.amount_minutes > cap:
        raise invalid(
            "offline_payment_cap_exceeded",
            f"A payment without a scan may be at most {cap} minutes.",
            cap_minutes=cap,
            amount_minutes=payment.amount_minutes,
        )
    day = day_of(now)
    used = (
        await session.exec(
            select(func.coalesce(func.sum(OfflinePaymentRow.amount_minutes), 0)).where(
                OfflinePaymentRow.community == payment.community,
                OfflinePaymentRow.member == payment.member,
                OfflinePaymentRow.day == day,
            )
        )
    ).one()
    day_cap = community.offline_day_minutes_max
    if used + payment.amount_minutes > day_cap:
        tomorrow = datetime.combine(now.date() + timedelta(days=1), time.min, tzinfo=UTC)
        raise invalid(
            "offline_day_cap_exceeded",
            f"Payments without a scan may total at most {day_cap} minutes a day; "
            f"{used} are used today.",
            cap_minutes=day_cap,
            used_minutes=int(used),
            amount_minutes=payment.amount_minutes,
            day=day,
            resets_at=rfc3339(int(tomorrow.timestamp())),
        )
    session.add(
        OfflinePaymentRow(
            community=payment.community, entry_id=payment.entry_id, key=payment.key,
            member=payment.member,
            method=payment.method, instrument=payment.instrument, shop=payment.shop,
            amount_minutes=payment.amount_minutes, day=day, created_at=int(now.timestamp()),
        )
    )  # fmt: skip


async def _append(rt: Runtime, payment: Payment) -> Entry:
    try:
        return await drafts.append(rt.ledger, payment.community, payment.draft())
    except ProblemError as refused:
        # Refused by the ledger (not enough balance, say): nothing was paid, so
        # nothing counts against the caps. (A busy or unavailable ledger is
        # another error: the reservation stays for the client's retry.)
        async with rt.db.write() as session:
            await session.exec(
                delete(OfflinePaymentRow).where(
                    col(OfflinePaymentRow.community) == payment.community,
                    col(OfflinePaymentRow.entry_id) == payment.entry_id,
                )
            )
        raise for_the_till(refused) from None


def for_the_till(refused: ProblemError) -> ProblemError:
    """The ledger's refusal as the shop may hear it: its code, without the member's
    figures (a balance, a floor), which are the member's to know, not the till's."""
    detail = _TILL_DETAILS.get(refused.code, "The ledger refused this payment.")
    return ProblemError(refused.status, refused.code, detail, headers=refused.headers)


_TILL_DETAILS = {
    Rejection.EXCEEDS_BALANCE.value: "The member's credits do not cover this payment.",
}


async def report(
    rt: Runtime, principal: Principal, key: str, entry_id: str, note: str | None
) -> PaymentReportOut:
    """The member ``principal`` reports a payment taken from them as "this was not me"
    (the first report stays); a retry with the same Idempotency-Key gets the same answer.

    Another member's payment, or an entry that is no offline payment, is the
    same 404: the answer reveals nothing about entries that are not yours.
    """
    community, member = principal.community, principal.member_account
    if community is None or member is None:
        raise forbidden("member_account_required")

    async def work(_: Plan) -> tuple[int, PaymentReportOut]:
        async with rt.db.write() as session:
            row = await session.get(OfflinePaymentRow, (community, entry_id))
            if row is None or row.member != member:
                raise not_found("payment_not_found", "No payment of yours with this id.")
            if row.reported_at is None:
                row.reported_at, row.report_note = rt.now_seconds(), note
                session.add(row)
        return 201, PaymentReportOut.from_row(row)

    route, caller = "payment_reports.create", principal.credential_id
    _, out = await once(
        rt.db, scope=route, key=scoped_key(caller, draft_id(key)),
        fingerprint=fingerprint(route, caller, [entry_id, note]),
        now=rt.now_seconds, make_plan=lambda: {"person": principal.person_id},
        out_type=PaymentReportOut, work=work,
    )  # fmt: skip
    return out


async def taken_from(
    rt: Runtime, community: str, member: str, entry_id: str
) -> OfflinePaymentRow | None:
    """The payment ``entry_id`` if a shop took it from ``member`` by pay code or card
    (what the member's receipt offers to report), else None."""
    async with rt.db.read() as session:
        row = await session.get(OfflinePaymentRow, (community, entry_id))
    return row if row is not None and row.member == member else None


async def reports(rt: Runtime, community: str) -> list[OfflinePaymentRow]:
    """Reported payments, newest report first: what coordinators follow up."""
    async with rt.db.read() as session:
        rows = await session.exec(
            select(OfflinePaymentRow)
            .where(
                OfflinePaymentRow.community == community,
                col(OfflinePaymentRow.reported_at).is_not(None),
            )
            .order_by(col(OfflinePaymentRow.reported_at).desc(), col(OfflinePaymentRow.entry_id))
            .limit(limits.LIST_SIZE_MAX)
        )
        return list(rows.all())


# Refusals that count towards the caller's lockout (``PaymentLimiter.failed``):
# wrong codes, cards and PINs, and payments the ledger refused (trying amounts
# is a way to learn a member's balance).
_PROBING = frozenset(
    {"pay_code_invalid", "card_invalid", "card_pin_wrong", *(r.value for r in Rejection)}
)


async def counting_refusals(rt: Runtime, principal: Principal, work: Awaitable[Entry]) -> Entry:
    """``work``'s entry; a refusal that may be probing is counted against the caller."""
    try:
        return await work
    except ProblemError as problem:
        if problem.code in _PROBING:
            rt.payments.failed(principal.credential_id)
        raise


@dataclass(frozen=True, slots=True)
class Till:
    """Where an offline payment is taken, the id its entry gets unless a retry finds
    an earlier reservation, and the request's scoped key."""

    community: str
    shop: str
    entry_id: str
    key: str


async def till(rt: Runtime, principal: Principal, key: str, shop: str | None, memo: str) -> Till:
    """The checks both flows make before they touch a code or a card, in this order:
    the caller's shop, the memo (a refusal by the ledger would use up the code),
    then one attempt from the caller's payment allowance. A till that is out of
    attempts may still retry a payment it reserved (same key): that gets the
    original payment back and moves nothing new."""
    if principal.community is None:
        raise forbidden("community_required", "This needs a community role.")
    taken_by = shop_for(principal, shop)
    if not text_ok(memo):
        raise invalid("text_invalid", "The memo must be printable text.")
    request_key = scoped_key(principal.credential_id, key)
    try:
        rt.payments.take(principal.credential_id)
    except ProblemError:
        if await earlier(rt, principal.community, request_key) is None:
            raise
    return Till(principal.community, taken_by, new_entry_id(), request_key)


def shop_for(principal: Principal, wanted: str | None) -> str:
    """The shop that takes the payment: the staff member's only shop, or the one named."""
    if wanted is None:
        if len(principal.shops) != 1:
            raise invalid("shop_required", "Say for which shop you take this payment.")
        return next(iter(principal.shops))
    if wanted not in principal.shops:
        raise forbidden("not_your_shop", "You take payments for other shops.")
    return wanted
