"""A coordinator gives hours from a resident at the desk to a neighbour named in part: the
next page names the neighbour in full and nothing moves until the coordinator confirms;
the resident's own name is refused as such; a neighbour that is no resident of the
community is not found."""

from __future__ import annotations

import re

import httpx

from tests.support.api import open_world
from tests.support.pages import form_token, link_phone, page_client, welcome_link
from tests.support.shop_payments import balance

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


async def test_a_neighbour_named_in_part_is_confirmed_in_full_before_anything_moves(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        giver, neighbour = world.members[0], world.members[1]
        link = await welcome_link(world, world.coordinator.person_id)
        member_page = f"/s/coordinator/member/{giver.person_id}"
        action = f"{member_page}/give"
        start = [await balance(world, giver.account), await balance(world, neighbour.account)]

        async def run() -> list[httpx.Response]:
            async with page_client(world) as laptop:
                await link_phone(laptop, link)
                page = await laptop.get(member_page)
                form = {"csrf": form_token(page), "key": "give-1", "hours": "1", "minutes": "30"}
                asked = await laptop.post(action, data=form | {"to": "ember 1", "memo": "soep"})
                confirm = dict(HIDDEN.findall(asked.text))
                given = await laptop.post(action, data=confirm)
                again = await laptop.post(action, data=confirm)  # a double tap
                themselves = await laptop.post(action, data=form | {"to": "Member 0"})
                stranger = await laptop.post(action, data=confirm | {"neighbour": "prs_nobody"})
                self_id = await laptop.post(action, data=confirm | {"neighbour": giver.person_id})
                return [asked, given, again, themselves, stranger, self_id]

        asked, given, again, themselves, stranger, self_id = world.run(run)
        end = [await balance(world, giver.account), await balance(world, neighbour.account)]

    assert asked.status_code == 200, asked.text
    assert "1½ uur van Member 0 aan Member 1 geven?" in asked.text, asked.text
    assert "Ja, geven" in asked.text
    assert "gegeven van Member 0 aan Member 1" in given.text, given.text
    assert "gegeven van Member 0 aan Member 1" in again.text, again.text
    assert end == [start[0] - 90, start[1] + 90]  # once
    assert themselves.status_code == 422
    assert "Een bewoner kan geen uren aan zichzelf geven." in themselves.text, themselves.text
    assert stranger.status_code == 404 and self_id.status_code == 404
