"""The admin corrects a booking made in error, over HTTP: from the administration screen to
the resident's history, a form that says what is left, one correction entry however often
it is sent; and what the ledger refuses, the page refuses, in words, booking nothing."""

from __future__ import annotations

import re

import httpx

from ledger.model import EntryKind
from tests.support.api import COMMUNITY, World, a_key, open_world
from tests.support.pages import (
    as_admin,
    form_token,
    link_phone,
    page_client,
    posted_form,
    welcome_link,
)

CORRECT = r"/s/admin/entries/[^/\"]+/correct"
CORRECT_LINK = re.compile(r'href="(/s/admin/entries/([^/"]+)/correct\?person=[^"]+)"')


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


async def earning_form(laptop: httpx.AsyncClient, resident: str) -> tuple[str, str, dict[str, str]]:
    """The correction form of ``resident``'s oldest booking (the earning that funded them),
    opened from their history: its link, where it posts, its hidden fields."""
    history = await laptop.get(f"/s/admin/member/{resident}")
    link = CORRECT_LINK.findall(history.text)[-1][0].replace("&amp;", "&")
    action, fields = posted_form(await laptop.get(link), CORRECT)
    return link, action, fields


async def give(world: World, giver: int, to: int, minutes: int, memo: str = "") -> None:
    """Resident ``giver`` gives ``minutes`` to resident ``to`` (a transfer, over the API)."""
    body = {"payee": world.members[to].account, "amount_minutes": minutes, "memo": memo}
    gift = await world.post(
        "/api/v1/transfers", body, as_=world.members[giver], headers={"Idempotency-Key": a_key()}
    )
    assert gift.status_code == 201, gift.text


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
            action, fields = posted_form(form, CORRECT)
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
                "history after": await laptop.get(f"/s/admin/member/{resident}"),
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
    # The booking says it was corrected in part; the correction names the booking.
    after = seen["history after"].text
    assert "Deels gecorrigeerd: nog 8½ uur over" in after, after
    assert re.search(r"Correctie\s*<span class=\"corrects\">van: Geholpen bij Buurthuis, \d", after)


async def test_a_correction_the_ledger_refuses_is_refused_in_words_and_books_nothing(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url, members=3) as world:
        # The second resident gave most of their hours away: their earning can no longer
        # be reversed whole.
        await give(world, 1, 2, 500)
        first, second = world.members[0].person_id, world.members[1].person_id

        async def steps(laptop: httpx.AsyncClient) -> dict[str, httpx.Response]:
            history = await laptop.get(f"/s/admin/member/{second}")
            links = CORRECT_LINK.findall(history.text)
            earning_link = links[-1][0].replace("&amp;", "&")  # the oldest: the earning
            earning = links[-1][1]
            action, fields = posted_form(await laptop.get(earning_link), CORRECT)

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
    # The refusal names who holds too few, and how much they hold.
    assert "Member 1 heeft nu nog maar 1 uur en 40 minuten" in seen["spent"].text, seen[
        "spent"
    ].text
    assert "korte reden" in seen["no reason"].text
    assert "minstens 1 minuut" in seen["no amount"].text
    assert "nog te corrigeren is: hoogstens 10 uur" in seen["more than left"].text
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


async def test_a_double_tap_corrects_once_and_a_booking_with_nothing_left_has_no_link(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        resident = world.members[0].person_id

        async def steps(laptop: httpx.AsyncClient) -> dict[str, httpx.Response]:
            link, action, fields = await earning_form(laptop, resident)
            sent = fields | {"hours": "10", "minutes": "0", "reason": "dubbel geboekt"}
            done = await laptop.post(action, data=sent)
            form_again = await laptop.get(link)
            return {
                "done": done,
                "double tap": await laptop.post(action, data=sent),
                "form again": form_again,
                "history after": await laptop.get(f"/s/admin/member/{resident}"),
            }

        seen = await as_admin(world, steps)
        booked = corrections(world)

    assert seen["done"].status_code == 200 and "Gecorrigeerd: 10 uur" in seen["done"].text
    # A double tap (the same key) finds its own correction and asks nothing.
    assert "Gecorrigeerd: 10 uur" in seen["double tap"].text
    # The whole earning is corrected: the form says so, the history has no link for it.
    assert seen["form again"].status_code == 409, seen["form again"].text
    assert "niets meer te corrigeren" in seen["form again"].text
    assert CORRECT_LINK.findall(seen["history after"].text) == []
    assert '<span class="memo">Gecorrigeerd</span>' in seen["history after"].text
    assert [minutes for _, minutes in booked] == [600]


async def test_a_part_correction_sent_again_with_a_new_key_asks_before_it_books(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        resident = world.members[0].person_id

        async def steps(laptop: httpx.AsyncClient) -> dict[str, httpx.Response]:
            link, action, fields = await earning_form(laptop, resident)
            typed = {"hours": "1", "minutes": "0", "reason": "1 uur te veel"}
            done = await laptop.post(action, data=fields | typed)
            # Back: the form comes again with a new key; the browser puts back what was typed.
            _, back = posted_form(await laptop.get(link), CORRECT)
            asked = await laptop.post(action, data=back | typed)
            _, confirmed = posted_form(asked, CORRECT)
            return {
                "done": done,
                "asked": asked,
                "confirmed": await laptop.post(action, data=confirmed),
            }

        seen = await as_admin(world, steps)
        booked = corrections(world)

    assert "Gecorrigeerd: 1 uur" in seen["done"].text
    assert seen["asked"].status_code == 200
    assert "U heeft deze boeking van Member 0 om" in seen["asked"].text, seen["asked"].text
    assert "Er is nog 9 uur te corrigeren" in seen["asked"].text
    assert "Gecorrigeerd: 1 uur" in seen["confirmed"].text
    assert [minutes for _, minutes in booked] == [60, 60]


async def test_a_gift_corrected_by_the_admin_reads_as_a_correction_not_as_given_back(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        await give(world, 0, 1, 90, "bloemen")
        giver = world.members[0].person_id

        async def steps(laptop: httpx.AsyncClient) -> dict[str, httpx.Response]:
            history = await laptop.get(f"/s/admin/member/{giver}")
            link = CORRECT_LINK.findall(history.text)[0][0].replace("&amp;", "&")  # the gift
            action, fields = posted_form(await laptop.get(link), CORRECT)
            sent = fields | {"hours": "1", "minutes": "30", "reason": "aan de verkeerde buur"}
            return {
                "done": await laptop.post(action, data=sent),
                "history after": await laptop.get(f"/s/admin/member/{giver}"),
            }

        seen = await as_admin(world, steps)

    assert "Gecorrigeerd: 1½ uur" in seen["done"].text, seen["done"].text
    after = seen["history after"].text
    assert "Correctie" in after and "aan de verkeerde buur" in after, after
    assert "van: Gegeven aan Member 1," in after, after
    assert "Teruggegeven door" not in after


async def test_a_correction_of_more_than_is_left_or_of_hours_all_spent_says_how_much_can_be(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url, members=3) as world:
        # The second resident gave all their hours away.
        await give(world, 1, 2, 600)
        first, second = world.members[0].person_id, world.members[1].person_id

        async def steps(laptop: httpx.AsyncClient) -> dict[str, httpx.Response]:
            _, action, fields = await earning_form(laptop, first)
            typed = {"hours": "1", "minutes": "0", "reason": "te veel"}
            done = await laptop.post(action, data=fields | typed)
            # Back, and more than is now left: refused at once, naming what is left.
            _, _, back = await earning_form(laptop, first)
            more = await laptop.post(action, data=back | typed | {"hours": "9", "minutes": "30"})
            _, spent_action, spent = await earning_form(laptop, second)
            return {
                "done": done,
                "more than left": more,
                "all spent": await laptop.post(spent_action, data=spent | typed),
            }

        seen = await as_admin(world, steps)
        booked = corrections(world)

    assert "Gecorrigeerd: 1 uur van deze boeking van Member 0" in seen["done"].text
    assert seen["more than left"].status_code == 422
    assert "hoogstens 9 uur" in seen["more than left"].text, seen["more than left"].text
    assert seen["all spent"].status_code == 422
    assert "Member 1 heeft nu geen uren meer" in seen["all spent"].text, seen["all spent"].text
    assert [minutes for _, minutes in booked] == [60]
