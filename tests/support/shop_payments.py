"""Builders for tests of what happens after the till: payments booked, a second shop.

Payments (redeem entries) are booked straight into the ledger, as the pay flows
book them, so that refund, settlement and statement tests need none of those flows.
"""

from __future__ import annotations

from api import drafts
from ledger.ids import new_entry_id
from ledger.model import Entry
from tests.support.api import COMMUNITY, Actor, World


def a_payment(world: World, minutes: int, member: int = 0, reference: str = "code:123456") -> Entry:
    """Member ``member`` pays the world's shop ``minutes`` (a redeem entry)."""
    return world.run(book_payment, world, minutes, member, reference)


async def book_payment(
    world: World, minutes: int, member: int = 0, reference: str = "code:123456"
) -> Entry:
    """``a_payment`` on the app's loop (``world.run``)."""
    account = world.members[member].account
    assert account is not None
    draft = drafts.redeem(new_entry_id(), account, account, world.shop, minutes, "", reference)
    return await drafts.append(world.rt.ledger, COMMUNITY, draft)


async def balance(world: World, account: str | None) -> int:
    answer = await world.get(f"/api/v1/accounts/{account}", as_=world.admin)
    assert answer.status_code == 200, answer.text
    value: int = answer.json()["balance_minutes"]
    return value


async def another_shop_staff(world: World) -> tuple[str, Actor]:
    """A second shop's account id, and its staff with an API token of their own."""
    shop = (await world.post("/api/v1/shops", {"name": "Bakker"}, as_=world.admin)).json()
    staff = await world.post(
        "/api/v1/staff",
        {"name": "Bakker kassa", "roles": [{"role": "shop", "scope": shop["account_id"]}]},
        as_=world.admin,
    )
    token = await world.post(
        "/api/v1/tokens", {"person_id": staff.json()["id"], "role": "shop"}, as_=world.admin
    )
    body = token.json()
    return shop["account_id"], Actor("shop", staff.json()["id"], body["token"], body["id"])
