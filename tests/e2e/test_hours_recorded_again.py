"""A coordinator's hours form sent again with a new key (Back after a lost answer, then
send): the page asks before it records the same work twice, and records it once more only
when asked to."""

from __future__ import annotations

import re

import httpx

from tests.support.api import open_world
from tests.support.pages import form_token, link_phone, page_client, welcome_link
from tests.support.shop_payments import balance

HOURS = {"hours": "2", "minutes": "0", "activity": "tuin", "worked_on": "2026-11-28"}
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
ASKED = "U heeft om 10:30 al 2 uur tuin voor Member 0 genoteerd."


def _key(page: httpx.Response, action: str) -> str:
    form = page.text.split(f'action="{action}"', 1)[1]
    return form.split('name="key" value="', 1)[1].split('"', 1)[0]


async def test_the_same_hours_sent_again_are_asked_about_and_booked_again_only_when_asked(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        link = await welcome_link(world, world.coordinator.person_id)
        member_page = f"/s/coordinator/member/{world.member.person_id}"
        action = f"{member_page}/hours"
        start = await balance(world, world.member.account)

        async def send(laptop: httpx.AsyncClient, **fields: str) -> httpx.Response:
            page = await laptop.get(member_page)  # each time a fresh page, a fresh key
            sent = {"csrf": form_token(page), "key": _key(page, action), **HOURS, **fields}
            return await laptop.post(action, data=sent)

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
