"""A NUL or another control character where no one types one is a 422 problem for every
page and route, on SQLite and on PostgreSQL (which refuses to store a NUL: without the
check, a 500): in a path or query string ``request_invalid``, in a page's form
``text_invalid``."""

from __future__ import annotations

import httpx

from tests.support.api import open_world
from tests.support.api_checks import problem
from tests.support.pages import form_token, link_phone, page_client, welcome_link


async def test_a_nul_in_a_path_query_or_form_is_a_problem_not_a_crash(database_url: str) -> None:
    async with open_world(database_url) as world:
        links = [
            await welcome_link(world, actor.person_id)
            for actor in (world.coordinator, world.admin, world.shop_staff)
        ]
        member_page = f"/s/coordinator/member/{world.member.person_id}"

        async def run() -> dict[str, httpx.Response]:
            async with (
                page_client(world) as laptop,
                page_client(world) as office,
                page_client(world) as till,
            ):
                for client, link in zip((laptop, office, till), links, strict=True):
                    await link_phone(client, link)
                coordinator = {"csrf": form_token(await laptop.get("/s/coordinator"))}
                admin = {"csrf": form_token(await office.get("/s/admin"))}
                shop = {"csrf": form_token(await till.get("/till"))}
                return {
                    "search": await laptop.get("/s/coordinator", params={"q": "a\x00b"}),
                    "raw query": await laptop.get("/s/coordinator?q=a%00b"),
                    "path": await laptop.get("/s/coordinator/member/prs_%00"),
                    "give": await laptop.post(
                        f"{member_page}/give",
                        data=coordinator | {"to": "a\x00b", "hours": "1", "minutes": "0"},
                    ),
                    "enrol": await laptop.post(
                        "/s/coordinator/enrol",
                        data=coordinator | {"name": "Nul", "phone": "06\x0012", "language": "nl"},
                    ),
                    "escape": await laptop.post(
                        "/s/coordinator/enrol",
                        data=coordinator | {"name": "Esc\x1b", "language": "nl"},
                    ),
                    "token": await office.post(
                        "/s/admin/tokens", data=admin | {"person": "prs_\x00", "role": "admin"}
                    ),
                    "refund": await till.post("/till/refund", data=shop | {"entry_id": "ab\x00cd"}),
                    "browser": await till.post(
                        "/till/refund",
                        data=shop | {"entry_id": "ab\x00cd"},
                        headers={"Accept": "text/html"},
                    ),
                }

        answers = world.run(run)
        answers["api query"] = await world.client.get(
            "/api/v1/members?cursor=prs_%00", headers=world.coordinator.headers
        )
        answers["api path"] = await world.get("/api/v1/people/prs_%00", as_=world.coordinator)
        members = await world.get("/api/v1/members", as_=world.coordinator)

    browser = answers.pop("browser")
    in_the_address = {"search", "raw query", "path", "api query", "api path"}
    for name, answer in answers.items():
        assert answer.status_code == 422, (name, answer.text)
        problem(answer, 422, "request_invalid" if name in in_the_address else "text_invalid")
    # A browser gets the same refusal as a page.
    assert browser.status_code == 422 and browser.headers["content-type"].startswith("text/html")
    assert not {"Nul", "Esc\x1b"} & {item["name"] for item in members.json()["items"]}


async def test_tabs_and_line_breaks_in_a_form_reach_the_page(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        link = await welcome_link(world, world.coordinator.person_id)
        member_page = f"/s/coordinator/member/{world.member.person_id}"

        async def run() -> httpx.Response:
            async with page_client(world) as laptop:
                await link_phone(laptop, link)
                page = await laptop.get(member_page)
                sent = {
                    "csrf": form_token(page),
                    "key": "tab-and-lines",
                    "hours": "1",
                    "minutes": "0",
                    "activity": "Koffie\tschenken\r\nin de buurtkamer",
                    "worked_on": "2026-11-28",
                    "organisation": world.org,
                }
                return await laptop.post(f"{member_page}/hours", data=sent)

        answer = world.run(run)

    # The page, not the check for control characters, answers (and refuses the tab).
    assert answer.headers["content-type"].startswith("text/html"), answer.text
