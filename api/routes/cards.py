"""Printed cards: coordinators issue, list and revoke them; shops take payments with them.

The logic is in ``api.cards`` (and the booking in ``api.offline_payments``);
the card's format is in ``ledger.card`` and ``docs/cards-and-pay-codes.md``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.params import JSONBody, QueryParameter

from api import cards, offline_payments
from api.access import Action, Principal
from api.auth import community_of
from api.directory import roles_of
from api.idempotency import IdempotencyKeyHeader, draft_id, fingerprint, once
from api.offline_payments import METHOD_CARD
from api.qr import svg
from api.routes.markers import IdPath, PrincipalDep, RuntimeDep, route
from api.routes.people import check_manageable
from api.runtime import Runtime
from api.schemas.payments_offline import (
    CardCreatedOut,
    CardIn,
    CardOut,
    CardPage,
    CardRedeemIn,
    OfflinePaymentOut,
)
from api.tables import PersonRow
from api.tokens import Prefix, new_id
from ledger import limits
from ledger.shape import ACCOUNT_ID_PATTERN

MemberQuery = Annotated[
    str,
    QueryParameter(
        name="member",
        pattern=f"^{ACCOUNT_ID_PATTERN.pattern}$",
        max_length=limits.ACCOUNT_ID_LENGTH_MAX,
        description="The member account whose cards to list.",
    ),
]


async def _manageable_member(
    rt: Runtime, principal: Principal, community: str, member: str
) -> PersonRow:
    """The member's person, if the caller manages them (coordinators: residents only)."""
    person = await cards.member_person(rt, community, member)
    async with rt.db.read() as session:
        roles = await roles_of(session, person.id)
    check_manageable(principal, roles)
    return person


def _pin_tag(idempotency_key: str, pin: str) -> str:
    # The request's fingerprint is stored; a bare hash of a 4-6 digit PIN could
    # be reversed, one keyed with the Idempotency-Key (which only the client
    # knows) cannot.
    return hmac.new(idempotency_key.encode(), pin.encode(), hashlib.sha256).hexdigest()


class CardController(Controller):
    path = "/api/v1/cards"
    tags = ["cards"]

    @post(
        "/",
        summary="Issue a printed card with a PIN for a member (replaces nothing: revoke the old)",
        **route(Action.CARD_CREATE, 404, 409),
    )
    async def create(
        self,
        data: JSONBody[CardIn],
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[CardCreatedOut]:
        community = community_of(principal)
        person = await _manageable_member(rt, principal, community, data.member)

        async def work(plan: dict[str, str]) -> tuple[int, CardCreatedOut]:
            row = await cards.issue(
                rt, person, data.member, data.pin, principal.staff_actor, plan["card"]
            )
            payload = cards.payload_of(rt, row)
            return 201, CardCreatedOut(CardOut.from_row(row), payload, svg(payload))

        request = [data.member, _pin_tag(idempotency_key, data.pin)]
        status, out = await once(
            rt.db,
            scope=community,
            key=idempotency_key,
            fingerprint=fingerprint("cards.create", principal.person_id, request),
            now=rt.now_seconds,
            make_plan=lambda: {"card": new_id(Prefix.CARD), "person": person.id},
            out_type=CardCreatedOut,
            work=work,
        )
        return Response(out, status_code=status)

    @get("/", summary="A member's cards, newest first", **route(Action.CARD_READ, 404))
    async def list_all(
        self, member: MemberQuery, rt: RuntimeDep, principal: PrincipalDep
    ) -> CardPage:
        community = community_of(principal)
        await _manageable_member(rt, principal, community, member)
        rows = await cards.cards_of(rt, community, member)
        return CardPage(items=[CardOut.from_row(r) for r in rows])

    @post(
        "/{card_id:str}/revoke",
        summary="Stop a card for good (lost, stolen, or being replaced)",
        status_code=200,
        **route(Action.CARD_REVOKE, 404),
    )
    async def revoke(
        self,
        card_id: IdPath,
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> CardOut:
        draft_id(idempotency_key)
        community = community_of(principal)
        row = await cards.card_in(rt, community, card_id)
        async with rt.db.read() as session:
            check_manageable(principal, await roles_of(session, row.person_id))
        return CardOut.from_row(await cards.revoke(rt, row, principal.staff_actor))

    @post(
        "/redeem",
        summary="Take a payment with a member's card and PIN",
        **route(Action.CARD_REDEEM, 409),
    )
    async def redeem(
        self,
        data: JSONBody[CardRedeemIn],
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[OfflinePaymentOut]:
        till = await offline_payments.till(rt, principal, idempotency_key, data.shop, data.memo)
        payment = cards.redeem(
            rt, principal, community=till.community, shop=till.shop, entry_id=till.entry_id,
            key=till.key,
            payload=data.card, pin=data.pin, amount_minutes=data.amount_minutes, memo=data.memo,
        )  # fmt: skip
        entry = await offline_payments.counting_refusals(rt, principal, payment)
        return Response(OfflinePaymentOut.from_entry(entry, METHOD_CARD), status_code=201)
