"""What stops a coordinator's hours, said in full: a monthly limit they no longer fit
(how much of it is left, not just that it "is used up"); an approval the budget refuses
(nothing was booked, and the hours no longer wait); and hours that must wait for a
second coordinator in an organisation that has none."""

from __future__ import annotations

import httpx

from tests.e2e.test_hours_recorded_again import send_hours
from tests.support.api import World, open_world
from tests.support.pages import form_token, link_phone, page_client, welcome_link


async def _issued(world: World) -> int:
    listed = await world.get("/api/v1/organisations", as_=world.admin)
    org = next(o for o in listed.json()["items"] if o["account_id"] == world.org)
    issued: int = org["issued_minutes"]
    return issued


async def _set_budget(world: World, minutes: int) -> None:
    answer = await world.post(
        f"/api/v1/organisations/{world.org}/budget",
        {"budget_minutes_per_month": minutes},
        as_=world.admin,
    )
    assert answer.status_code in (200, 201), answer.text


async def test_hours_over_the_budget_are_refused_saying_what_is_left(database_url: str) -> None:
    async with open_world(database_url) as world:
        issued = await _issued(world)
        await _set_budget(world, issued + 90)  # 1½ hours left
        link = await welcome_link(world, world.coordinator.person_id)
        member_page = f"/s/coordinator/member/{world.member.person_id}"

        async def run() -> httpx.Response:
            async with page_client(world) as laptop:
                await link_phone(laptop, link)
                return await send_hours(laptop, member_page)

        refused = world.run(run)
        after = await _issued(world)

    assert refused.status_code == 422, refused.text
    assert "niet genoeg: er is nog 1½ uur over van" in refused.text, refused.text
    assert after == issued


async def test_an_approval_the_budget_refuses_says_nothing_was_booked(database_url: str) -> None:
    async with open_world(database_url) as world:
        held = await world.post(
            "/api/v1/earnings",
            {
                "member": world.member.account,
                "amount_minutes": 9 * 60,  # above the approval threshold of 8 hours
                "activity": "tuin",
                "worked_on": "2026-11-28",
            },
            as_=world.coordinator,
        )
        assert held.status_code == 202, held.text
        await _set_budget(world, await _issued(world))  # nothing left
        link = await welcome_link(world, world.coordinator2.person_id)

        async def run() -> httpx.Response:
            async with page_client(world) as laptop:
                await link_phone(laptop, link)
                home = await laptop.get("/s/coordinator")
                decision = {"csrf": form_token(home), "decision": "approve"}
                return await laptop.post(
                    f"/s/coordinator/earnings/{held.json()['id']}", data=decision
                )

        refused = world.run(run)
        waiting = await world.get("/api/v1/earnings/pending", as_=world.coordinator2)

    assert refused.status_code == 422, refused.text
    assert "niet genoeg: er is nog 0 uur over van" in refused.text, refused.text
    assert "de uren wachten niet meer op goedkeuring" in refused.text, refused.text
    assert waiting.json()["items"] == []


async def test_hours_held_where_no_second_coordinator_exists_say_to_ask_the_admin(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        links = {
            name: await welcome_link(world, world.actors[name].person_id)
            for name in ("coordinator", "coordinator_b")
        }
        member_page = f"/s/coordinator/member/{world.member.person_id}"

        async def record(name: str) -> httpx.Response:
            async with page_client(world) as laptop:
                await link_phone(laptop, links[name])
                return await send_hours(laptop, member_page, hours="9", activity=name)

        alone = world.run(record, "coordinator_b")  # the only coordinator of Welzijn
        with_a_colleague = world.run(record, "coordinator")

    assert "heeft geen andere coördinator: vraag de beheerder" in alone.text, alone.text
    assert "wacht op een tweede coördinator." in with_a_colleague.text, with_a_colleague.text
