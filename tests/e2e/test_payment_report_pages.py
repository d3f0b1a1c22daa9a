"""'This was not me' on the phone, over HTTP: a member reports a payment a shop took with
their card from its receipt, the coordinators' screen lists it, and the member's history
says who gave back a refund."""

from __future__ import annotations

import httpx

from tests.e2e.test_api_cards import a_card, pay
from tests.support.api import World, open_world
from tests.support.pages import form_token, link_phone, page_client, welcome_link


async def _card_payment(world: World, minutes: int) -> str:
    """A card payment the shop takes from the world's member; its entry id."""
    paid = await pay(world, await a_card(world, world.member), minutes)
    assert paid.status_code == 201, paid.text
    entry_id: str = paid.json()["entry_id"]
    return entry_id


async def test_a_member_reports_a_card_payment_from_its_receipt_and_coordinators_see_it(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        entry_id = await _card_payment(world, 45)
        transfer = await world.post(
            "/api/v1/transfers",
            {"payee": world.members[1].account, "amount_minutes": 5},
            as_=world.member,
        )
        member_link = await welcome_link(world, world.member.person_id)
        other_link = await welcome_link(world, world.members[1].person_id)
        coordinator_link = await welcome_link(world, world.coordinator.person_id)
        receipt = f"/m/r/{entry_id}"

        async def run() -> dict[str, httpx.Response]:
            async with (
                page_client(world) as phone,
                page_client(world) as other,
                page_client(world) as laptop,
            ):
                await link_phone(phone, member_link)
                await link_phone(other, other_link)
                await link_phone(laptop, coordinator_link)
                seen: dict[str, httpx.Response] = {}
                seen["coordinator before"] = await laptop.get("/s/coordinator")
                seen["transfer receipt"] = await phone.get(f"/m/r/{transfer.json()['id']}")
                seen["receipt"] = await phone.get(receipt)
                form = {"csrf": form_token(seen["receipt"]), "note": "Ik was thuis"}
                seen["forged"] = await phone.post(f"{receipt}/report", data={"note": "x"})
                other_form = {"csrf": form_token(await other.get("/m/settings"))}
                seen["by other"] = await other.post(f"{receipt}/report", data=other_form)
                seen["reported"] = await phone.post(f"{receipt}/report", data=form)
                seen["receipt after"] = await phone.get(receipt)
                seen["coordinator after"] = await laptop.get("/s/coordinator")
                return seen

        seen = world.run(run)
        reports = await world.get("/api/v1/payment-reports", as_=world.coordinator)

    assert "Dit was ik niet" in seen["receipt"].text
    assert f'action="{receipt}/report"' in seen["receipt"].text
    assert "Dit was ik niet" not in seen["transfer receipt"].text  # only code or card payments
    assert seen["forged"].status_code == 403  # no form token: nothing reported
    assert seen["by other"].status_code == 404  # another member's payment
    assert seen["reported"].status_code == 303
    assert seen["reported"].headers["location"] == receipt
    assert "U heeft deze betaling gemeld" in seen["receipt after"].text
    assert 'action="' + receipt not in seen["receipt after"].text
    assert "niet zelf deden" not in seen["coordinator before"].text
    after = seen["coordinator after"].text
    assert "niet zelf deden" in after and "Ik was thuis" in after
    assert f'href="/s/coordinator/member/{world.member.person_id}"' in after
    assert [(r["entry_id"], r["note"]) for r in reports.json()["items"]] == [
        (entry_id, "Ik was thuis")
    ]


async def test_a_refund_in_the_history_names_the_shop_that_gave_it_back(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        entry_id = await _card_payment(world, 60)
        refund = await world.post(
            "/api/v1/refunds",
            {"entry_id": entry_id, "amount_minutes": 15, "reason": "te veel"},
            as_=world.shop_staff,
        )
        assert refund.status_code == 201, refund.text
        shop = await world.get(f"/api/v1/accounts/{world.shop}", as_=world.admin)
        link = await welcome_link(world, world.member.person_id)

        async def run() -> httpx.Response:
            async with page_client(world) as phone:
                await link_phone(phone, link)
                return await phone.get("/m/history")

        history = world.run(run)

    name = shop.json()["name"]
    assert f"Teruggegeven door {name}" in history.text, history.text
