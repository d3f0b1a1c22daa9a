"""Moving credits: volunteer earnings, transfers between members, corrections.

Each POST appends at most one entry whose id is the request's Idempotency-Key,
so a retry returns the original entry and the response is rebuilt from it.
Earnings above the approval threshold wait in ``pending_earnings`` for a second
coordinator of the same organisation; the entry they become keeps the key.
"""

from __future__ import annotations

from datetime import date, timedelta

from litestar import Controller, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select, update

from api import drafts, limits
from api.access import Action, Principal
from api.auth import community_of
from api.idempotency import IdempotencyKeyHeader, draft_id, fingerprint
from api.problems import ProblemError, conflict, forbidden, from_rejection, invalid, not_found
from api.routes.markers import EntryIdPath, PrincipalDep, RuntimeDep, route
from api.runtime import Runtime
from api.schemas.common import text_ok
from api.schemas.ledger import (
    CorrectionIn,
    CorrectionOut,
    EarningIn,
    EarningOut,
    EarningPage,
    TransferIn,
    TransferOut,
    receipt_url,
)
from api.tables import PendingEarningRow
from ledger.model import CORRECTABLE_KINDS, Draft, Entry, Rejected, Rejection

BOOKED, PENDING, APPROVED, DECLINED, REFUSED = (
    "booked",
    "pending_approval",
    "approved",
    "declined",
    "refused",
)
_PENDING_SPEC = {
    202: ResponseSpec(data_container=EarningOut, description="Waiting for a second coordinator")
}


def earning_from_entry(entry: Entry) -> EarningOut:
    posting = entry.draft.postings[0]
    meta = dict(entry.draft.meta)
    approved_by = meta.get("approved_by")
    return EarningOut(
        id=entry.id,
        status=BOOKED,
        organisation=posting.payer,
        member=posting.payee,
        amount_minutes=posting.amount_minutes,
        activity=str(meta.get("activity", "")),
        worked_on=str(meta.get("worked_on", "")),
        recorded_by=entry.draft.actor,
        approved_by=None if approved_by is None else str(approved_by),
        seq=entry.seq,
        time=entry.time,
        receipt_url=receipt_url(entry.id),
    )


def earning_from_pending(row: PendingEarningRow) -> EarningOut:
    return EarningOut(
        id=row.id,
        status=PENDING if row.status == PENDING else row.status,
        organisation=row.organisation,
        member=row.member,
        amount_minutes=row.amount_minutes,
        activity=row.activity,
        worked_on=row.worked_on,
        recorded_by=row.recorded_by,
        approved_by=row.decided_by if row.status == APPROVED else None,
    )


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


async def _append_payment(rt: Runtime, principal: Principal, community: str, draft: Draft) -> Entry:
    result = await rt.ledger.append(community, draft)
    if isinstance(result, Rejected):
        rt.payments.failed(principal.credential_id)
        raise from_rejection(result)
    return result.entry


class EarningController(Controller):
    path = "/api/v1/earnings"
    tags = ["earnings"]

    @post(
        "/",
        summary="Record volunteer work: credits from the organisation to the member",
        **route(Action.EARNING_CREATE, 404, 409, extra=_PENDING_SPEC),
    )
    async def record(
        self,
        data: JSONBody[EarningIn],
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[EarningOut]:
        community = community_of(principal)
        key = draft_id(idempotency_key)
        organisation = _organisation(principal, data.organisation)
        if not text_ok(data.activity):
            raise invalid("text_invalid", "The activity must be printable text.")
        _check_worked_on(rt, data.worked_on)
        rt.payments.take(principal.credential_id)
        if data.amount_minutes > rt.settings.approval_threshold_minutes:
            return await self._hold(rt, principal, community, key, organisation, data)
        meta = drafts.earn_meta(data.activity, data.worked_on, None)
        draft = drafts.earn(
            key,
            principal.staff_actor,
            organisation,
            data.member,
            data.amount_minutes,
            meta,
            data.memo,
        )
        entry = await _append_payment(rt, principal, community, draft)
        return Response(earning_from_entry(entry), status_code=201)

    async def _hold(
        self,
        rt: Runtime,
        principal: Principal,
        community: str,
        key: str,
        organisation: str,
        data: JSONBody[EarningIn],
    ) -> Response[EarningOut]:
        """Keep a large earning for a second coordinator; a retry finds the same row."""
        if not text_ok(data.memo):
            raise invalid("text_invalid", "The memo must be printable text.")
        if await rt.store.entry_by_id(community, key) is not None:
            raise conflict("idempotency_key_reused", "This Idempotency-Key was used for an entry.")
        member = await rt.store.account(community, data.member)
        if member is None:
            raise from_rejection(Rejected(key, Rejection.PAYEE_NOT_FOUND))
        request_print = fingerprint("earnings.create", principal.person_id, data)
        fresh = PendingEarningRow(
            community=community, id=key, status=PENDING, fingerprint=request_print,
            organisation=organisation, member=data.member, amount_minutes=data.amount_minutes,
            activity=data.activity, worked_on=data.worked_on.isoformat(), memo=data.memo,
            recorded_by=principal.staff_actor, recorded_at=rt.now_seconds(),
        )  # fmt: skip
        try:
            async with rt.db.write() as session:
                row = await session.get(PendingEarningRow, (community, key))
                if row is None:
                    session.add(fresh)
                    row = fresh
        except IntegrityError:  # a concurrent retry inserted it first
            async with rt.db.read() as session:
                row = await session.get(PendingEarningRow, (community, key))
            assert row is not None
        if row.fingerprint != request_print:
            raise invalid("idempotency_key_reused", "This Idempotency-Key was used before.")
        return Response(earning_from_pending(row), status_code=202)

    @get(
        "/pending",
        summary="Earnings waiting for a second coordinator",
        **route(Action.EARNING_READ),
    )
    async def pending(self, rt: RuntimeDep, principal: PrincipalDep) -> EarningPage:
        community = community_of(principal)
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
            rows = (await session.exec(query)).all()
        return EarningPage(items=[earning_from_pending(r) for r in rows])

    async def _decide(
        self, rt: Runtime, principal: Principal, earning_id: str, status: str
    ) -> PendingEarningRow:
        community = community_of(principal)
        async with rt.db.read() as session:
            row = await session.get(PendingEarningRow, (community, earning_id))
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
                .values(
                    status=status, decided_by=principal.staff_actor, decided_at=rt.now_seconds()
                )
            )
            decided = await session.get(PendingEarningRow, (community, earning_id))
        assert decided is not None
        return decided

    @post(
        "/{earning_id:str}/approve",
        summary="Approve a large earning (a second coordinator): credits move now",
        **route(Action.EARNING_DECIDE, 404, 409),
    )
    async def approve(
        self, earning_id: EntryIdPath, rt: RuntimeDep, principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> EarningOut:  # fmt: skip
        draft_id(idempotency_key)
        row = await self._decide(rt, principal, earning_id, APPROVED)
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
        )
        result = await rt.ledger.append(row.community, draft)
        if isinstance(result, Rejected):
            async with rt.db.write() as session:
                await session.exec(
                    update(PendingEarningRow)
                    .where(
                        col(PendingEarningRow.community) == row.community,
                        col(PendingEarningRow.id) == row.id,
                    )
                    .values(status=REFUSED)
                )
            raise from_rejection(result)
        return earning_from_entry(result.entry)

    @post(
        "/{earning_id:str}/decline",
        summary="Decline a large earning: no credits move",
        status_code=200,
        **route(Action.EARNING_DECIDE, 404, 409),
    )
    async def decline(
        self, earning_id: EntryIdPath, rt: RuntimeDep, principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> EarningOut:  # fmt: skip
        draft_id(idempotency_key)
        row = await self._decide(rt, principal, earning_id, DECLINED)
        if row.status != DECLINED:
            raise conflict("earning_already_decided", f"This earning was {row.status}.")
        return earning_from_pending(row)


class TransferController(Controller):
    path = "/api/v1/transfers"
    tags = ["transfers"]

    @post("/", summary="Give credits to another member", **route(Action.TRANSFER_CREATE, 409))
    async def create(
        self,
        data: JSONBody[TransferIn],
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> TransferOut:
        community = community_of(principal)
        payer = principal.member_account
        if payer is None:
            raise forbidden("member_account_required")
        rt.payments.take(principal.credential_id)
        draft = drafts.transfer(
            draft_id(idempotency_key), payer, data.payee, data.amount_minutes, data.memo
        )
        return TransferOut.from_entry(await _append_payment(rt, principal, community, draft))


class CorrectionController(Controller):
    path = "/api/v1/corrections"
    tags = ["corrections"]

    @post(
        "/",
        summary="Reverse (part of) an entry, with a reason",
        **route(Action.CORRECTION_CREATE, 404, 409),
    )
    async def create(
        self,
        data: JSONBody[CorrectionIn],
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> CorrectionOut:
        community = community_of(principal)
        key = draft_id(idempotency_key)
        original = await rt.store.entry_by_id(community, data.entry_id)
        if original is None:
            raise not_found("entry_not_found", f"No entry {data.entry_id!r}.")
        if original.kind not in CORRECTABLE_KINDS:
            raise ProblemError(422, "corrected_entry_not_correctable", kind=original.kind.value)
        draft = drafts.correct(
            key, principal.staff_actor, original, data.amount_minutes, data.reason
        )
        return CorrectionOut.from_entry(await drafts.append(rt.ledger, community, draft))
