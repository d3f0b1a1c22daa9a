"""A coordinator's hours form sent again with a new key (Back after a lost answer, then
send), or the same hours recorded by a second coordinator a moment later: the page asks
(saying who recorded them and when) before it records the same work twice, and records it
once more only when asked to."""

from __future__ import annotations

import re

import httpx

from mobile_web.i18n import LANGUAGE_COOKIE
from tests.support.api import COMMUNITY, World, open_world
from tests.support.pages import form_token, link_phone, page_client, welcome_link
from tests.support.shop_payments import balance

HOURS = {"hours": "2", "minutes": "0", "activity": "tuin", "worked_on": "2026-11-28"}
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
ASKED = "U heeft om 10:30 al 2 uur tuin voor Member 0 genoteerd."


async def _balance(world: World) -> int:
    """The member's balance, read on the app's event loop (inside ``world.run``)."""
    account = await world.rt.store.account(COMMUNITY, world.member.account or "")
    assert account is not None
    return account.balance_minutes


def _key(page: httpx.Response, action: str) -> str:
    form = page.text.split(f'action="{action}"', 1)[1]
    return form.split('name="key" value="', 1)[1].split('"', 1)[0]


async def send_hours(laptop: httpx.AsyncClient, member_page: str, **fields: str) -> httpx.Response:
    """The hours form of a resident's page (``HOURS``, changed by ``fields``), sent from a
    freshly opened page: its own form token and one-time key, as a coordinator would."""
    action = f"{member_page}/hours"
    page = await laptop.get(member_page)
    sent = {"csrf": form_token(page), "key": _key(page, action), **HOURS, **fields}
    return await laptop.post(action, data=sent)


async def test_the_same_hours_sent_again_are_asked_about_and_booked_again_only_when_asked(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        link = await welcome_link(world, world.coordinator.person_id)
        member_page = f"/s/coordinator/member/{world.member.person_id}"
        action = f"{member_page}/hours"
        start = await balance(world, world.member.account)

        async def send(laptop: httpx.AsyncClient, **fields: str) -> httpx.Response:
            return await send_hours(laptop, member_page, **fields)

        async def run() -> list[httpx.Response]:
            async with page_client(world) as laptop:
                await link_phone(laptop, link)
                first = await send(laptop)
                again = await send(laptop)
                other = await send(laptop, activity="koken")
                asked = dict(HIDDEN.findall(again.text))  # the question's own form
                confirmed = await laptop.post(action, data=asked)
                return [first, again, other, confirmed]

        first, again, other, confirmed = world.run(run)
        after = await balance(world, world.member.account)

    assert "2 uur genoteerd voor Member 0" in first.text, first.text
    assert ASKED in again.text and "Nog een keer noteren" in again.text
    assert "genoteerd voor Member 0" in other.text, "other work is recorded at once"
    assert "2 uur genoteerd voor Member 0" in confirmed.text, confirmed.text
    assert after == start + 120 + 120 + 120


async def test_hours_another_coordinator_just_recorded_are_asked_about_naming_them(
    database_url: str,
) -> None:
    """Two coordinators of one organisation on the same resident's page, a moment apart:
    the second is asked, told who recorded it and when, and nothing is booked until they
    confirm; other hours, other work or another day are recorded at once."""
    async with open_world(database_url) as world:
        links = [
            await welcome_link(world, world.coordinator.person_id),
            await welcome_link(world, world.coordinator2.person_id),
        ]
        member_page = f"/s/coordinator/member/{world.member.person_id}"
        action = f"{member_page}/hours"
        start = await balance(world, world.member.account)

        async def send(laptop: httpx.AsyncClient, **fields: str) -> httpx.Response:
            return await send_hours(laptop, member_page, **fields)

        async def run() -> tuple[list[httpx.Response], int, int]:
            async with page_client(world) as karim, page_client(world) as sanne:
                await link_phone(karim, links[0])
                await link_phone(sanne, links[1])
                first = await send(karim)
                world.clock.advance(minutes=2)
                asked = await send(sanne)
                unbooked = await _balance(world)
                others = [
                    await send(sanne, hours="3"),
                    await send(sanne, activity="koken"),
                    await send(sanne, worked_on="2026-11-27"),
                ]
                confirmed = await sanne.post(action, data=dict(HIDDEN.findall(asked.text)))
                booked = await _balance(world)
                # Held for a second coordinator (above 8 hours): asked about all the same.
                held = await send(karim, hours="9")
                held_asked = await send(sanne, hours="9")
                world.clock.advance(minutes=16)
                later = await send(sanne, hours="9")
                return [first, asked, *others, confirmed, held, held_asked, later], unbooked, booked

        responses, unbooked, booked = world.run(run)

    first, asked, more, other_work, other_day, confirmed, held, held_asked, later = responses
    assert "2 uur genoteerd voor Member 0" in first.text, first.text
    assert "Coordinator heeft om 10:30 al 2 uur tuin voor Member 0 genoteerd." in asked.text
    assert "Nog een keer noteren" in asked.text and "U heeft" not in asked.text
    assert unbooked == start + 120, "nothing is booked until the second one confirms"
    assert "3 uur genoteerd voor Member 0" in more.text, more.text
    assert "2 uur genoteerd voor Member 0" in other_work.text, other_work.text
    assert "2 uur genoteerd voor Member 0" in other_day.text, other_day.text
    assert "2 uur genoteerd voor Member 0" in confirmed.text, confirmed.text
    assert booked == start + 120 + 180 + 120 + 120 + 120
    assert "wacht op een tweede coördinator" in held.text, held.text
    assert "Coordinator heeft om 10:32 al 9 uur tuin voor Member 0 genoteerd." in held_asked.text
    assert "wacht op een tweede coördinator" in later.text, "asked only within the window"


async def test_the_question_speaks_english_for_another_coordinator(database_url: str) -> None:
    async with open_world(database_url) as world:
        links = [
            await welcome_link(world, world.coordinator.person_id),
            await welcome_link(world, world.coordinator2.person_id),
        ]
        member_page = f"/s/coordinator/member/{world.member.person_id}"

        async def send(laptop: httpx.AsyncClient, **fields: str) -> httpx.Response:
            return await send_hours(laptop, member_page, **fields)

        async def run() -> httpx.Response:
            async with page_client(world) as karim, page_client(world) as sanne:
                await link_phone(karim, links[0])
                await link_phone(sanne, links[1])
                sanne.cookies.set(LANGUAGE_COOKIE, "en")  # English chosen on this phone
                await send(karim)
                return await send(sanne)

        asked = world.run(run)

    assert "Coordinator recorded 2 hours of tuin for Member 0 at 10:30 already." in asked.text
