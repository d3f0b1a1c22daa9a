"""The admin's screen over HTTP: its tables name roles in the reader's words."""

from __future__ import annotations

import re

import httpx

from tests.support.api import open_world
from tests.support.pages import link_phone, page_client, welcome_link


async def test_the_staff_and_token_tables_name_roles_in_words_not_codes(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        link = await welcome_link(world, world.admin.person_id)

        async def run() -> httpx.Response:
            async with page_client(world) as laptop:
                await link_phone(laptop, link)
                return await laptop.get("/s/admin")

        page = world.run(run)

    assert page.status_code == 200, page.text
    cells = re.findall(r"<td>([^<]*)</td>", page.text)
    assert "Coördinator" in " ".join(cells) and "Winkelmedewerker" in " ".join(cells), cells
    assert not {"admin", "coordinator", "shop", "auditor"} & {
        word.strip() for cell in cells for word in cell.split(",")
    }
