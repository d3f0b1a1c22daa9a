"""Volunteer earnings: booking them, and holding large ones for a second coordinator.

Shared by the API routes and the phone pages. An earning gets a fresh
time-ordered id and carries the recording request's Idempotency-Key scoped to
the caller's credential (``api.idempotency.scoped_key``). An earning above the
approval threshold is not booked: it waits as a row in ``pending_earnings``,
which reserves its id at once and holds its key, so that no other request of
the same caller books anything under that key. A later request with the same
key is a retry of the held earning (the same content gets the held row back)
or is refused as a reused key. A second coordinator of the same organisation
approves it (the entry is booked under the reserved id, carrying the key) or
declines it (nothing moves). The entry names
the recording coordinator as its actor and the approving one in meta
``approved_by``; the audit checks both against the coordinators the journal's
staff entries declare (``ledger.rules.check_authority``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from api import drafts, limits
from api.access import Principal, Role
from api.directory import staff_name
from api.idempotency import fingerprint, key_reused, scoped_key
from api.problems import ProblemError, conflict, forbidden, from_rejection, invalid, not_found
from api.runtime import Runtime
from api.schemas.common import text_ok
from api.schemas.ledger import EarningIn
from api.tables import PendingEarningRow, PersonRow, RoleRow
from ledger import rules
from ledger.ids import new_entry_id
from ledger.model import Entry, EntryKind, Rejected, Rejection

# The same earning recorded again within this long, by anyone, is asked about first
# (on the pages).
TWIN_SECONDS = 15 * 60
TWIN_LOOK_BACK = 50
# What an earning is: booked in the journal, or a held row in one of these states.
BOOKED, PENDING, APPROVED, DECLINED, REFUSED = (
    "booked",
    "pending_approval",
    "approved",
    "declined",
    "refused",
)


async def record(
    rt: Runtime, principal: Principal, community: str, data: EarningIn, key: str
) -> Entry | PendingEarningRow:
    """Book volunteer work (the entry), or hold it for a second coordinator (the row).

    ``key`` is the request's Idempotency-Key. A retry of a booked earning gets
    its entry back from the ledger; a retry of a held one gets the held row,
    whatever its state now, and a different request under the same key is
    refused, so that a held earning never loses its id to another booking.
    """
    request_key = scoped_key(principal.credential_id, key)
    organisation = _organisation(principal, data.organisation)
    if not text_ok(data.activity):
        raise invalid("text_invalid", "The activity must be printable text.")
    _check_worked_on(rt, data.worked_on)
    rt.payments.take(principal.credential_id)
    request_print = fingerprint("earnings.create", principal.person_id, data)
    held = await _held_under(rt, community, request_key)
    if held is not None:
        return _same_request(held, request_print)
    if data.amount_minutes > await approval_threshold(rt, community):
        return await _hold(rt, principal, community, request_key, organisation, data, request_print)
    meta = drafts.earn_meta(data.activity, data.worked_on, None)
    draft = drafts.earn(
        new_entry_id(),
        principal.staff_actor,
        organisation,
        data.member,
        data.amount_minutes,
        meta,
        data.memo,
        key=request_key,
    )
    return await drafts.append(
        rt.ledger,
        community,
        draft,
        on_rejected=partial(rt.payments.failed, principal.credential_id),
    )


@dataclass(frozen=True, slots=True)
class Earlier:
    """The same booking (an earning, a correction), made a moment ago: when, and by whom.

    ``by`` is the staff id (the journal's actor) that recorded it; ``mine`` whether that
    was the caller; ``name`` the other staff member's name, "" for the caller or when
    the name is not known (no such person in the community, or erased)."""

    at: datetime
    by: str
    mine: bool
    name: str = ""


async def recorded_just_now(
    rt: Runtime, principal: Principal, community: str, data: EarningIn
) -> Earlier | None:
    """The latest time any staff member (the caller or another) recorded this same
    earning (member, amount, activity and day) in the past ``TWIN_SECONDS``, booked or
    held, and who did; None if nobody did.

    A form sent again after its answer was lost (Back, then send) carries a new key and
    would book the work twice, as would two coordinators who record the same work a
    moment apart: the staff page asks before it books. Looks at the member's latest
    ``TWIN_LOOK_BACK`` entries and their held earnings."""
    since = rt.now_seconds() - TWIN_SECONDS
    activity, worked_on = data.activity, data.worked_on.isoformat()
    found: tuple[datetime, str] | None = None
    for entry in await rt.store.account_entries(community, data.member, None, TWIN_LOOK_BACK):
        moment = datetime.fromisoformat(entry.time)
        if moment.timestamp() < since:
            break
        draft, meta = entry.draft, dict(entry.draft.meta)
        if (
            draft.kind is EntryKind.EARN
            and draft.postings[0].amount_minutes == data.amount_minutes
            and meta.get("activity") == activity
            and meta.get("worked_on") == worked_on
        ):
            found = (moment, draft.actor)
            break
    async with rt.db.read() as session:
        held = (
            await session.exec(
                select(PendingEarningRow)
                .where(
                    PendingEarningRow.community == community,
                    PendingEarningRow.member == data.member,
                    PendingEarningRow.amount_minutes == data.amount_minutes,
                    PendingEarningRow.activity == activity,
                    PendingEarningRow.worked_on == worked_on,
                    col(PendingEarningRow.recorded_at) >= since,
                )
                .order_by(col(PendingEarningRow.recorded_at).desc())
            )
        ).first()
        if held is not None:
            held_at = datetime.fromtimestamp(held.recorded_at, UTC)
            if found is None or held_at > found[0]:
                found = (held_at, held.recorded_by)
        if found is None:
            return None
        return await earlier(session, principal, community, *found)


async def earlier(
    session: AsyncSession, principal: Principal, community: str, at: datetime, by: str
) -> Earlier:
    """The booking made at ``at`` by staff id ``by``, as ``Earlier``: the caller's own, or
    another staff member's, named."""
    if by == principal.staff_actor:
        return Earlier(at, by, mine=True)
    return Earlier(at, by, mine=False, name=await staff_name(session, community, by))


async def others_may_decide(rt: Runtime, community: str, organisation: str, staff_id: str) -> bool:
    """Whether ``organisation`` has a coordinator besides ``staff_id`` (who recorded a held
    earning), so that someone may approve or decline it."""
    query = (
        select(RoleRow.person_id)
        .join(PersonRow, col(PersonRow.id) == col(RoleRow.person_id))
        .where(
            RoleRow.community == community,
            RoleRow.role == Role.COORDINATOR.value,
            RoleRow.scope == organisation,
            col(PersonRow.erased_at).is_(None),
            col(PersonRow.staff_id) != staff_id,
        )
        .limit(1)
    )
    async with rt.db.read() as session:
        return (await session.exec(query)).first() is not None


async def approval_threshold(rt: Runtime, community: str) -> int:
    """Above how many minutes an earning waits for a second coordinator: the threshold
    in the community's journal (where the audit checks it), or for a journal that
    has none (format version 1) the deployment's setting."""
    settings = await rt.store.settings(community)
    if settings.approval_threshold_minutes is not None:
        return settings.approval_threshold_minutes
    return rt.settings.approval_threshold_minutes


async def refuse_held_key(rt: Runtime, principal: Principal, community: str, key: str) -> None:
    """Refuse to append under the scoped key ``key`` when a held earning of this caller
    holds it.

    Only coordinators hold earnings, and keys are scoped to the credential, so
    for anyone else (most transfers) this costs nothing.
    """
    if principal.has(Role.COORDINATOR) and await _held_under(rt, community, key) is not None:
        raise key_reused("This Idempotency-Key was used for an earning that waits for approval.")


async def pending(rt: Runtime, principal: Principal, community: str) -> list[PendingEarningRow]:
    """Held earnings waiting for a decision, oldest first: all of them for those who see
    everything, else those of the caller's organisations."""
    query = (
        select(PendingEarningRow)
        .where(PendingEarningRow.community == community, PendingEarningRow.status == PENDING)
        .order_by(col(PendingEarningRow.recorded_at), col(PendingEarningRow.id))
        .limit(limits.LIST_SIZE_MAX)
    )
    if not principal.sees_everything:
        query = query.where(
            col(PendingEarningRow.organisation).in_(sorted(principal.organisations))
        )
    async with rt.db.read() as session:
        return list((await session.exec(query)).all())


async def approve(rt: Runtime, principal: Principal, community: str, earning_id: str) -> Entry:
    """Book a held earning as its second coordinator; a retry returns the same entry.

    If the ledger refuses the booking (the budget ran out meanwhile), the row
    is marked refused and the refusal is raised.
    """
    row = await _decide(rt, principal, community, earning_id, APPROVED)
    if row.status not in (APPROVED, REFUSED):
        raise conflict("earning_already_decided", f"This earning was {row.status}.")
    assert row.decided_by is not None
    meta = drafts.earn_meta(row.activity, date.fromisoformat(row.worked_on), row.decided_by)
    draft = drafts.earn(
        row.id,
        row.recorded_by,
        row.organisation,
        row.member,
        row.amount_minutes,
        meta,
        row.memo,
        key=row.key,
    )
    try:
        return await drafts.append(rt.ledger, community, draft)
    except ProblemError:
        async with rt.db.write() as session:
            await session.exec(
                update(PendingEarningRow)
                .where(
                    col(PendingEarningRow.community) == community,
                    col(PendingEarningRow.id) == row.id,
                )
                .values(status=REFUSED)
            )
        raise


async def decline(
    rt: Runtime, principal: Principal, community: str, earning_id: str
) -> PendingEarningRow:
    """Decline a held earning as its second coordinator: nothing moves."""
    row = await _decide(rt, principal, community, earning_id, DECLINED)
    if row.status != DECLINED:
        raise conflict("earning_already_decided", f"This earning was {row.status}.")
    return row


def _organisation(principal: Principal, wanted: str | None) -> str:
    if wanted is None:
        if len(principal.organisations) != 1:
            raise invalid("organisation_required", "Say for which organisation you record this.")
        return next(iter(principal.organisations))
    if wanted not in principal.organisations:
        raise forbidden("not_your_organisation", "You coordinate for other organisations.")
    return wanted


def _check_worked_on(rt: Runtime, worked_on: date) -> None:
    today = rt.now().date()
    earliest = today - timedelta(days=limits.WORKED_ON_DAYS_BACK_MAX)
    # One day of slack for time zones ahead of UTC.
    if not earliest <= worked_on <= today + timedelta(days=1):
        raise invalid(
            "worked_on_invalid",
            f"The date worked must lie between {earliest.isoformat()} and today.",
        )


async def _held(rt: Runtime, community: str, earning_id: str) -> PendingEarningRow | None:
    async with rt.db.read() as session:
        return await session.get(PendingEarningRow, (community, earning_id))


async def _held_under(rt: Runtime, community: str, key: str) -> PendingEarningRow | None:
    """The held earning a request with the scoped key ``key`` recorded, if any."""
    async with rt.db.read() as session:
        return await _row_under(session, community, key)


async def _row_under(session: AsyncSession, community: str, key: str) -> PendingEarningRow | None:
    query = select(PendingEarningRow).where(
        col(PendingEarningRow.community) == community, col(PendingEarningRow.key) == key
    )
    return (await session.exec(query)).first()


def _same_request(row: PendingEarningRow, request_print: str) -> PendingEarningRow:
    if row.fingerprint != request_print:
        raise key_reused("This Idempotency-Key was used for an earning that waits for approval.")
    return row


async def _hold(
    rt: Runtime,
    principal: Principal,
    community: str,
    key: str,
    organisation: str,
    data: EarningIn,
    request_print: str,
) -> PendingEarningRow:
    """Keep a large earning for a second coordinator; a concurrent retry finds the same row."""
    if not text_ok(data.memo):
        raise invalid("text_invalid", "The memo must be printable text.")
    # The booking path checks for this row before it appends, so once the row
    # exists no other earning takes the key. A different request of the same
    # caller racing this one could still book between this check and the
    # insert; the ledger then refuses the approval's draft (its key names
    # another entry), the row is marked refused, and nothing moves twice.
    if await rt.store.entry_by_key(community, key) is not None:
        raise key_reused("This Idempotency-Key was used for an entry.")
    earning_id = new_entry_id()
    if await rt.store.account(community, data.member) is None:
        raise from_rejection(Rejected(earning_id, Rejection.PAYEE_NOT_FOUND))
    await _check_month(rt, community, earning_id, organisation, data)
    fresh = PendingEarningRow(
        community=community, id=earning_id, key=key, status=PENDING, fingerprint=request_print,
        organisation=organisation, member=data.member, amount_minutes=data.amount_minutes,
        activity=data.activity, worked_on=data.worked_on.isoformat(), memo=data.memo,
        recorded_by=principal.staff_actor, recorded_at=rt.now_seconds(),
    )  # fmt: skip
    try:
        async with rt.db.write() as session:
            row = await _row_under(session, community, key)
            if row is None:
                session.add(fresh)
                row = fresh
    except IntegrityError:  # a concurrent retry inserted it first
        row = await _held_under(rt, community, key)
        assert row is not None
    return _same_request(row, request_print)


async def _check_month(
    rt: Runtime, community: str, earning_id: str, organisation: str, data: EarningIn
) -> None:
    """Refuse at once an earning this month's budget or the member's cap cannot take, as
    the ledger would when it is approved (which still checks: others may book first)."""
    organisation_row = await rt.store.account(community, organisation)
    if organisation_row is None:
        return  # the ledger names what is missing when the earning is booked
    month = rt.month()
    refused = rules.check_month(
        earning_id,
        data.amount_minutes,
        month,
        budget=organisation_row.spec.budget_minutes_per_month or 0,
        issued=await rt.store.monthly_total(community, organisation, month),
        cap=(await rt.store.settings(community)).member_earning_cap_minutes_per_month,
        earned=await rt.store.monthly_total(community, data.member, month),
    )
    if refused is not None:
        raise from_rejection(refused)


async def _decide(
    rt: Runtime, principal: Principal, community: str, earning_id: str, status: str
) -> PendingEarningRow:
    """Move a held earning from pending to ``status`` (once); return the row as it is now.

    Of two coordinators deciding at once, the conditional update lets exactly
    one decide; the other reads the winner's decision.
    """
    row = await _held(rt, community, earning_id)
    if row is None:
        raise not_found("earning_not_found", f"No earning {earning_id!r} waits for approval.")
    if row.organisation not in principal.organisations:
        raise forbidden("not_your_organisation")
    if row.status == PENDING and row.recorded_by == principal.staff_id:
        raise forbidden("second_coordinator_required", "Another coordinator must decide.")
    async with rt.db.write() as session:
        await session.exec(
            update(PendingEarningRow)
            .where(
                col(PendingEarningRow.community) == community,
                col(PendingEarningRow.id) == earning_id,
                col(PendingEarningRow.status) == PENDING,
            )
            .values(status=status, decided_by=principal.staff_actor, decided_at=rt.now_seconds())
        )
        decided = await session.get(PendingEarningRow, (community, earning_id))
    assert decided is not None
    return decided
