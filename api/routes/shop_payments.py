"""Refunds, settlements and a shop's monthly statement (logic in ``api.shop_payments``).

The statement comes as JSON at ``/statement`` and as CSV at ``/statement.csv``:
two routes rather than a ``format`` parameter, so that each has one documented
media type.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.params import JSONBody, QueryParameter

from api import shop_payments
from api.access import Action
from api.auth import community_of
from api.idempotency import IdempotencyKeyHeader, draft_id
from api.routes.markers import (
    AccountIdPath,
    LanguageQuery,
    PrincipalDep,
    ReadsDep,
    RuntimeDep,
    route,
)
from api.schemas.shop_payments import (
    Period,
    RefundIn,
    RefundOut,
    SettlementIn,
    SettlementOut,
    ShopStatementOut,
)
from ledger import limits
from ledger.audit.shop_statement import CSV_COLUMNS, to_csv

CSV = "text/csv"  # Litestar adds "; charset=utf-8"

PeriodQuery = Annotated[
    Period | None,
    QueryParameter(
        name="period",
        required=False,
        pattern="^[0-9]{4}-(0[1-9]|1[0-2])$",
        description="The calendar month (UTC), YYYY-MM; this month by default.",
    ),
]
CheckpointQuery = Annotated[
    int | None,
    QueryParameter(
        name="checkpoint",
        required=False,
        ge=1,
        le=limits.TREE_SIZE_MAX,
        description=(
            "The size of the signed checkpoint to compute from (the newest by default): "
            "the same checkpoint always gives the same statement."
        ),
    ),
]


class RefundController(Controller):
    path = "/api/v1/refunds"
    tags = ["shop payments"]

    @post(
        "/",
        summary="Give (part of) a payment back to the member (shop staff, within the window)",
        description=(
            "Books a correction of the payment, shop to member. A payment may be refunded in "
            "parts, together at most what it paid; without amount_minutes, all that is left."
        ),
        **route(Action.REFUND_CREATE, 404, 409),
    )
    async def create(
        self,
        data: JSONBody[RefundIn],
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> RefundOut:
        community = community_of(principal)
        key = draft_id(idempotency_key)
        return await shop_payments.refund(rt, principal, community, key, data)


class SettlementController(Controller):
    path = "/api/v1/settlements"
    tags = ["shop payments"]

    @post(
        "/",
        summary="Settle a shop's credits to the community (its whole balance by default)",
        **route(Action.SETTLEMENT_CREATE, 404, 409),
    )
    async def create(
        self,
        data: JSONBody[SettlementIn],
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> SettlementOut:
        community = community_of(principal)
        key = draft_id(idempotency_key)
        return await shop_payments.settle(rt, principal, community, key, data)


class ShopStatementController(Controller):
    path = "/api/v1/shops/{account_id:str}"
    tags = ["shop payments"]

    @get(
        "/statement",
        summary="A shop's month as JSON (the same as CSV at /statement.csv)",
        **route(Action.SHOP_STATEMENT, 404),
    )
    async def statement(
        self,
        account_id: AccountIdPath,
        rt: RuntimeDep,
        reads: ReadsDep,
        principal: PrincipalDep,
        period: PeriodQuery = None,
        checkpoint: CheckpointQuery = None,
    ) -> ShopStatementOut:
        community = community_of(principal)
        found = await shop_payments.shop_statement(
            rt, reads, principal, community, account_id, period or rt.month(), checkpoint
        )
        return ShopStatementOut.from_statement(found)

    @get(
        "/statement.csv",
        summary="A shop's month as CSV (the same as JSON at /statement)",
        description=(
            f"One table, columns {', '.join(CSV_COLUMNS)}. Records: opening_balance; one entry "
            "per movement, oldest first; one total per kind; closing_balance; checkpoint (seq: "
            "its size; reference: the signed note). Amounts in minutes and in words."
        ),
        media_type=CSV,
        **route(Action.SHOP_STATEMENT, 404),
    )
    async def statement_csv(
        self,
        account_id: AccountIdPath,
        rt: RuntimeDep,
        reads: ReadsDep,
        principal: PrincipalDep,
        period: PeriodQuery = None,
        checkpoint: CheckpointQuery = None,
        language: LanguageQuery = "nl",
    ) -> Response[str]:
        community = community_of(principal)
        month = period or rt.month()
        found = await shop_payments.shop_statement(
            rt, reads, principal, community, account_id, month, checkpoint
        )
        return Response(
            to_csv(found, language),
            media_type=CSV,
            headers={
                "Content-Disposition": f'attachment; filename="statement-{month}.csv"',
            },
        )
