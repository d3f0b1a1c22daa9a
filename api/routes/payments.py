"""Moving credits over HTTP: volunteer earnings, transfers between members, corrections.

Each POST appends at most one entry, under a fresh time-ordered id and carrying
the request's Idempotency-Key scoped to the caller's credential
(``api.idempotency.scoped_key``), so a retry returns the original entry and the
response is rebuilt from it. The earnings
workflow (booking, holding large earnings for a second coordinator, deciding)
lives in ``api.earnings``; the handlers here parse, call it and shape answers.
"""

from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody

from api import corrections, earnings, transfers
from api.access import Action
from api.auth import community_of
from api.idempotency import IdempotencyKeyHeader, draft_id
from api.problems import forbidden
from api.routes.markers import EntryIdPath, PrincipalDep, RuntimeDep, route
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
from ledger.model import Entry

_PENDING_SPEC = {
    202: ResponseSpec(data_container=EarningOut, description="Waiting for a second coordinator")
}


def earning_from_entry(entry: Entry) -> EarningOut:
    posting = entry.draft.postings[0]
    meta = dict(entry.draft.meta)
    approved_by = meta.get("approved_by")
    return EarningOut(
        id=entry.id,
        status=earnings.BOOKED,
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


def earning_from_pending(row: PendingEarningRow, *, as_recorded: bool = False) -> EarningOut:
    """A held earning as it is now, or ``as_recorded`` (the answer its recording got,
    which a retry of that request gets again whatever was decided since)."""
    status = earnings.PENDING if as_recorded else row.status
    return EarningOut(
        id=row.id,
        status=status,
        organisation=row.organisation,
        member=row.member,
        amount_minutes=row.amount_minutes,
        activity=row.activity,
        worked_on=row.worked_on,
        recorded_by=row.recorded_by,
        approved_by=row.decided_by if status == earnings.APPROVED else None,
    )


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
        recorded = await earnings.record(rt, principal, community, data, idempotency_key)
        if isinstance(recorded, Entry):
            return Response(earning_from_entry(recorded), status_code=201)
        return Response(earning_from_pending(recorded, as_recorded=True), status_code=202)

    @get(
        "/pending",
        summary="Earnings waiting for a second coordinator",
        **route(Action.EARNING_READ),
    )
    async def pending(self, rt: RuntimeDep, principal: PrincipalDep) -> EarningPage:
        rows = await earnings.pending(rt, principal, community_of(principal))
        return EarningPage(items=[earning_from_pending(r) for r in rows])

    @post(
        "/{earning_id:str}/approve",
        summary="Approve a large earning (a second coordinator): credits move now",
        **route(Action.EARNING_DECIDE, 404, 409),
    )
    async def approve(
        self, earning_id: EntryIdPath, rt: RuntimeDep, principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> EarningOut:  # fmt: skip
        # The entry takes the held earning's id; the approval's own key only has to be valid.
        draft_id(idempotency_key)
        entry = await earnings.approve(rt, principal, community_of(principal), earning_id)
        return earning_from_entry(entry)

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
        row = await earnings.decline(rt, principal, community_of(principal), earning_id)
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
        entry = await transfers.give(
            rt, principal, community, payer, data.payee, data.amount_minutes, data.memo,
            idempotency_key,
        )  # fmt: skip
        return TransferOut.from_entry(entry)


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
        entry = await corrections.correct(
            rt, principal, community_of(principal), idempotency_key, data.entry_id,
            data.amount_minutes, data.reason,
        )  # fmt: skip
        return CorrectionOut.from_entry(entry)
