"""The admin corrects a booking made in error, over HTTP: from the administration screen to
the resident's history, a form that says what is left, one correction entry however often
it is sent; and what the ledger refuses, the page refuses, in words, booking nothing."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from ledger.model import EntryKind
from tests.support.api import COMMUNITY, World, a_key, open_world
from tests.support.pages import form_token, link_phone, page_client, welcome_link

CORRECT_LINK = re.compile(r'href="(/s/admin/entries/([^/"]+)/correct\?person=[^"]+)"')
FORM = re.compile(
    r'<form method="post" action="(/s/admin/entries/[^/"]+/correct)">(.*?)</form>', re.S
)
HIDDEN = re.compile(r'<input type="hidden" name="([a-z]+)" value="([^"]*)">')


def correction_form(page: httpx.Response) -> tuple[str, dict[str, str]]:
    found = FORM.search(page.text)
    assert found is not None, page.text
    return found.group(1), dict(HIDDEN.findall(found.group(2)))


def corrections(world: World) -> list[tuple[int, int]]:
    """Every correction in the journal: (the seq it names, minutes)."""
    size = world.run(world.rt.store.head, COMMUNITY).size
    entries = world.run(world.rt.store.entries, COMMUNITY, 0, size)
    return [
        (entry.draft.corrects, posting.amount_minutes)
        for entry in entries
        if entry.kind is EntryKind.CORRECT and entry.draft.corrects is not None
        for posting in entry.draft.postings
    ]


async def as_admin(world: World, steps: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
    link = await welcome_link(world, world.admin.person_id)

    async def run() -> Any:
        async with page_client(world) as laptop:
            await link_phone(laptop, link)
            return await steps(laptop)

    return world.run(run)


async def _balance(world: World, member: int) -> int:
    answer = await world.get(f"/api/v1/accounts/{world.members[member].account}", as_=world.admin)
    assert answer.status_code == 200, answer.text
    value: int = answer.json()["balance_minutes"]
    return value


async def test_the_admin_corrects_part_of_an_earning_once_from_the_residents_history(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        resident = world.members[0].person_id

        async def steps(laptop: httpx.AsyncClient) -> dict[str, httpx.Response]:
            home = await laptop.get("/s/admin")
            history = await laptop.get(f"/s/admin/member/{resident}")
            link = CORRECT_LINK.search(history.text)
            assert link is not None, history.text
            form = await laptop.get(link.group(1).replace("&amp;", "&"))
            action, fields = correction_form(form)
            sent = fields | {"hours": "1", "minutes": "30", "reason": "1,5 uur te veel geboekt"}
            done = await laptop.post(action, data=sent)
            again = await laptop.post(action, data=sent)
            return {
                "home": home,
                "history": history,
                "form": form,
                "done": done,
                "again": again,
                "form after": await laptop.get(link.group(1).replace("&amp;", "&")),
            }

        seen = await as_admin(world, steps)
        booked = corrections(world)
        balance = await _balance(world, 0)

    assert f"/s/admin/member/{resident}" in seen["home"].text
    assert "Geholpen bij Buurthuis" in seen["history"].text
    assert '<dd id="left"><bdi>10 uur</bdi></dd>' in seen["form"].text, seen["form"].text
    assert seen["done"].status_code == 200 and "Gecorrigeerd: 1½ uur" in seen["done"].text
    assert seen["again"].status_code == 200 and "Gecorrigeerd" in seen["again"].text
    assert [minutes for _, minutes in booked] == [90], booked
    assert balance == 600 - 90
    assert '<dd id="left"><bdi>8½ uur</bdi></dd>' in seen["form after"].text


async def test_a_correction_the_ledger_refuses_is_refused_in_words_and_books_nothing(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url, members=3) as world:
        # The second resident gave most of their hours away: their earning can no longer
        # be reversed whole.
        gift = await world.post(
            "/api/v1/transfers",
            {"payee": world.members[2].account, "amount_minutes": 500},
            as_=world.members[1],
            headers={"Idempotency-Key": a_key()},
        )
        assert gift.status_code == 201, gift.text
        first, second = world.members[0].person_id, world.members[1].person_id

        async def steps(laptop: httpx.AsyncClient) -> dict[str, httpx.Response]:
            history = await laptop.get(f"/s/admin/member/{second}")
            links = CORRECT_LINK.findall(history.text)
            earning_link = links[-1][0].replace("&amp;", "&")  # the oldest: the earning
            earning = links[-1][1]
            action, fields = correction_form(await laptop.get(earning_link))

            async def post(**changed: str) -> httpx.Response:
                sent = fields | {"hours": "10", "minutes": "0", "reason": "fout"} | changed
                return await laptop.post(action, data=sent | {"key": a_key()})

            return {
                "spent": await post(),
                "more than left": await post(hours="11"),
                "no reason": await post(reason=""),
                "no amount": await post(hours="0"),
                "letters": await post(hours="tien"),
                "another resident's": await post(person=first),
                "unknown booking": await laptop.get(
                    f"/s/admin/entries/ent_nothere/correct?person={second}"
                ),
                "no form token": await post(csrf="x"),
                "unknown resident": await laptop.get("/s/admin/member/per_nothere"),
                "form": await laptop.get(f"/s/admin/entries/{earning}/correct?person={second}"),
            }

        seen = await as_admin(world, steps)
        booked = corrections(world)

    statuses = {what: answer.status_code for what, answer in seen.items()}
    assert statuses == {
        "spent": 422,
        "more than left": 422,
        "no reason": 422,
        "no amount": 422,
        "letters": 422,
        "another resident's": 404,
        "unknown booking": 404,
        "no form token": 403,
        "unknown resident": 404,
        "form": 200,
    }, {what: answer.text[-500:] for what, answer in seen.items()}
    assert "uitgegeven" in seen["spent"].text
    assert "meer dan er van deze boeking" in seen["more than left"].text
    assert booked == []


async def test_only_the_admin_opens_a_residents_corrections(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        link = await welcome_link(world, world.coordinator.person_id)
        resident = world.members[0].person_id

        async def run() -> list[httpx.Response]:
            async with page_client(world) as phone:
                await link_phone(phone, link)
                page = await phone.get(f"/s/admin/member/{resident}")
                sent = await phone.post(
                    "/s/admin/entries/ent_x/correct",
                    data={
                        "csrf": form_token(await phone.get("/s/coordinator")),
                        "person": resident,
                    },
                )
                return [page, sent]

        page, sent = world.run(run)

    assert page.status_code == 403 and sent.status_code == 403
