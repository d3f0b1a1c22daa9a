"""The admin's screen over HTTP: its tables name roles in the reader's words; a shop's
payout is recorded once, for the hours the confirm page named; a staff member's lost phone
is signed out after a page that asks; a token is revoked after a page that names it."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from api import provisioning
from api.provisioning import PersonDetails
from ledger.model import EntryKind
from mobile_web import staff_admin
from tests.support.api import COMMUNITY, World, open_world
from tests.support.pages import (
    as_admin,
    form_token,
    link_phone,
    page_client,
    posted_form,
    welcome_link,
)
from tests.support.shop_payments import a_payment, balance, book_payment

SETTLE = r"/s/admin/shops/[^/\"]+/settle"
NEW_PHONE = r"/s/admin/staff/[^/\"]+/new-phone"
# Residents' names with letters a Dutch keyboard does not type (\u0131: the dotless i).
CELIK, AYDIN, YILMAZ = "Emre Çelik", "Yusuf Ayd\u0131n", "Ayşe Y\u0131lmaz"


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


async def test_the_admin_finds_any_resident_by_name_beyond_the_listed_ones(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staff_admin, "LISTED_MAX", 2)
    async with open_world(sqlite_url, members=4) as world:

        async def steps(laptop: httpx.AsyncClient) -> dict[str, httpx.Response]:
            listed = await laptop.get("/s/admin")
            unlisted = sorted({f"Member {n}" for n in range(4)} - set(residents(listed)))[0]
            return {
                "list": listed,
                "found": await laptop.get("/s/admin", params={"q": unlisted.lower()}),
                "nobody": await laptop.get("/s/admin", params={"q": "Zoë"}),
            }

        pages = await as_admin(world, steps)

    assert len(residents(pages["list"])) == 2
    assert "Alleen de eerste 2 staan hier" in pages["list"].text
    found = residents(pages["found"])
    assert len(found) == 1 and found[0] not in residents(pages["list"]), found
    assert "Alle bewoners" in pages["found"].text
    assert residents(pages["nobody"]) == [] and "Niemand met die naam" in pages["nobody"].text


async def test_a_name_is_found_typed_without_its_accents(database_url: str) -> None:
    async with open_world(database_url) as world:
        for name in (CELIK, AYDIN, YILMAZ):
            world.run(_resident, world, name)

        async def steps(laptop: httpx.AsyncClient) -> dict[str, list[str]]:
            typed = ["celik", "AYDIN", "ayse yil", "Çelik", "el"]
            return {q: residents(await laptop.get("/s/admin", params={"q": q})) for q in typed}

        found = await as_admin(world, steps)

    assert found == {
        "celik": [CELIK],
        "AYDIN": [AYDIN],
        "ayse yil": [YILMAZ],
        "Çelik": [CELIK],
        "el": [CELIK],
    }


async def _resident(world: World, name: str) -> None:
    await provisioning.create_person(
        world.rt, COMMUNITY, PersonDetails(name), member=True, roles=[], actor="cli",
        plan=provisioning.person_plan(True),
    )  # fmt: skip


def residents(page: httpx.Response) -> list[str]:
    """The names in the admin screen's list of residents."""
    listed = re.search(r'<ul class="people" id="residents">(.*?)</ul>', page.text)
    assert listed is not None, page.text
    return re.findall(r"<bdi>([^<]*)</bdi>", listed.group(1))


# -- a shop's payout, recorded by the admin


async def _settlements(world: World) -> list[tuple[str, int]]:
    """Every settle entry in the journal: (shop, minutes)."""
    size = world.run(world.rt.store.head, COMMUNITY).size
    entries = world.run(world.rt.store.entries, COMMUNITY, 0, size)
    return [
        (posting.payer, posting.amount_minutes)
        for entry in entries
        if entry.kind is EntryKind.SETTLE
        for posting in entry.draft.postings
    ]


async def test_the_admin_records_a_shops_payout_once_for_the_hours_the_page_named(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        a_payment(world, 150)

        async def steps(laptop: httpx.AsyncClient) -> list[httpx.Response]:
            home = await laptop.get("/s/admin")
            link = re.search(r'href="(/s/admin/shops/[^"]+/settle)"', home.text)
            assert link is not None, home.text
            confirm = await laptop.get(link.group(1))
            # A payment after the page opened is left for the next payout.
            await book_payment(world, 30, member=1)
            action, fields = posted_form(confirm, SETTLE)
            return [
                home,
                confirm,
                await laptop.post(action, data=fields),
                await laptop.post(action, data=fields),
            ]

        home, confirm, done, again = await as_admin(world, steps)
        settled = await _settlements(world)
        left = await balance(world, world.shop)

    assert "2½ uur" in home.text and "Uitbetaling vastleggen" in home.text, home.text
    assert confirm.status_code == 200 and "2½ uur" in confirm.text, confirm.text
    assert done.status_code == 200 and "Vastgelegd" in done.text and "2½ uur" in done.text, (
        done.text
    )
    assert again.status_code == 200 and "Vastgelegd" in again.text, again.text
    assert settled == [(world.shop, 150)]
    assert left == 30


async def test_a_payout_form_with_nothing_to_pay_out_or_bad_fields_records_nothing(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        a_payment(world, 60)

        async def steps(laptop: httpx.AsyncClient) -> dict[str, httpx.Response]:
            path = f"/s/admin/shops/{world.shop}/settle"
            action, fields = posted_form(await laptop.get(path), SETTLE)
            answers = {
                "unknown shop": await laptop.get("/s/admin/shops/acc_nothere/settle"),
                "an organisation": await laptop.get(f"/s/admin/shops/{world.org}/settle"),
                "no minutes": await laptop.post(action, data=fields | {"amount_minutes": "0"}),
                "minus": await laptop.post(action, data=fields | {"amount_minutes": "-60"}),
                "letters": await laptop.post(action, data=fields | {"amount_minutes": "een uur"}),
                "huge": await laptop.post(action, data=fields | {"amount_minutes": "9" * 40}),
                "more than held": await laptop.post(
                    action, data=fields | {"amount_minutes": "61", "key": fields["key"] + "-more"}
                ),
                "no form token": await laptop.post(action, data=fields | {"csrf": "x"}),
            }
            paid_out = await laptop.post(action, data=fields)
            answers["after the payout"] = await laptop.get(path)
            answers["paid out"] = paid_out
            return answers

        answers = await as_admin(world, steps)
        settled = await _settlements(world)

    statuses = {what: answer.status_code for what, answer in answers.items()}
    assert statuses == {
        "unknown shop": 404,
        "an organisation": 404,
        "no minutes": 422,
        "minus": 422,
        "letters": 422,
        "huge": 422,
        "more than held": 422,
        "no form token": 403,
        "paid out": 200,
        "after the payout": 409,
    }, {what: answer.text[-600:] for what, answer in answers.items()}
    assert "minder uren" in answers["more than held"].text
    # A form whose token is wrong says so on a staff page, leading back to the admin screen.
    expired = answers["no form token"].text
    assert "verlopen" in expired and 'class="button" href="/s/admin"' in expired, expired
    back = answers["after the payout"].text
    assert "geen uren om uit te betalen" in back and "De laatste uitbetaling, van 1 uur" in back
    assert "Sorry" not in back and 'role="alert"' not in back, back  # nothing went wrong
    assert settled == [(world.shop, 60)]


async def test_a_second_payout_page_opened_before_a_payout_records_nothing(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        a_payment(world, 60)

        async def steps(laptop: httpx.AsyncClient) -> dict[str, httpx.Response]:
            path = f"/s/admin/shops/{world.shop}/settle"
            first = posted_form(await laptop.get(path), SETTLE)
            second = posted_form(await laptop.get(path), SETTLE)
            answers = {"first": await laptop.post(first[0], data=first[1])}
            # The shop takes as many hours again: the second page's payout would fit.
            await book_payment(world, 60, member=1)
            answers["second"] = await laptop.post(second[0], data=second[1])
            unseen = {k: v for k, v in second[1].items() if k != "payout_seen"}
            answers["without what it saw"] = await laptop.post(second[0], data=unseen)
            return answers

        answers = await as_admin(world, steps)
        settled = await _settlements(world)
        left = await balance(world, world.shop)

    assert answers["first"].status_code == 200, answers["first"].text
    second = answers["second"]
    assert second.status_code == 409, second.text
    assert "nadat deze pagina was geopend" in second.text and "1 uur" in second.text, second.text
    assert answers["without what it saw"].status_code == 422
    assert settled == [(world.shop, 60)]
    assert left == 60


async def test_only_the_admin_may_record_a_payout(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        a_payment(world, 60)
        link = await welcome_link(world, world.coordinator.person_id)

        async def run() -> httpx.Response:
            async with page_client(world) as phone:
                await link_phone(phone, link)
                return await phone.get(f"/s/admin/shops/{world.shop}/settle")

        page = world.run(run)
        settled = await _settlements(world)

    assert page.status_code == 403, page.text
    assert settled == []


# -- a staff member's lost phone, and revoking a token


WELCOME_LINK = re.compile(r'id="welcome-link">([^<]+)<')


async def test_the_admin_signs_out_a_staff_members_lost_phone_and_prints_a_new_card(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        old_link = await welcome_link(world, world.coordinator.person_id)
        person = world.coordinator.person_id

        async def steps(laptop: httpx.AsyncClient) -> dict[str, Any]:
            async with page_client(world) as lost, page_client(world) as new:
                await link_phone(lost, old_link)
                home = await laptop.get("/s/admin")
                before = await lost.get("/s/coordinator")
                confirm = await laptop.get(f"/s/admin/staff/{person}/new-phone")
                after_confirm = await lost.get("/s/coordinator")
                action, fields = posted_form(confirm, NEW_PHONE)
                card = await laptop.post(action, data=fields)
                again = await laptop.post(action, data=fields)
                after = await lost.get("/s/coordinator")
                found = WELCOME_LINK.search(card.text)
                assert found is not None, card.text
                await link_phone(new, found.group(1).replace("http://buurtmunt.test", ""))
                return {
                    "home": home,
                    "before": before,
                    "confirm": confirm,
                    "after confirm": after_confirm,
                    "card": card,
                    "again": again,
                    "after": after,
                    "new phone": await new.get("/s/coordinator"),
                    "back to the confirm page": await laptop.get(
                        f"/s/admin/staff/{person}/new-phone"
                    ),
                }

        seen = await as_admin(world, steps)

    links = set(re.findall(r'href="/s/admin/staff/([^/"]+)/new-phone"', seen["home"].text))
    # Every staff member but the admin themselves has the button.
    assert world.admin.person_id not in links
    assert {world.coordinator.person_id, world.shop_staff.person_id} <= links
    assert seen["before"].status_code == 200
    assert seen["confirm"].status_code == 200 and "afmelden" in seen["confirm"].text
    assert seen["after confirm"].status_code == 200, "the confirm page signs nobody out"
    assert seen["card"].status_code == 200 and "Uw werkscherm gaat open" in seen["card"].text
    # Sent twice: the same card, no second link.
    assert WELCOME_LINK.findall(seen["again"].text) == WELCOME_LINK.findall(seen["card"].text)
    assert seen["after"].status_code == 401, "the lost phone is signed out"
    assert seen["new phone"].status_code == 200, seen["new phone"].text
    # Back to the confirm page a moment later: it warns that a new card makes this one useless.
    assert "onbruikbaar" in seen["back to the confirm page"].text


async def test_a_lost_phone_page_for_oneself_a_resident_or_nobody_signs_nobody_out(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:

        async def steps(laptop: httpx.AsyncClient) -> dict[str, httpx.Response]:
            _, fields = posted_form(
                await laptop.get(f"/s/admin/staff/{world.coordinator.person_id}/new-phone"),
                NEW_PHONE,
            )

            async def post(person_id: str) -> httpx.Response:
                return await laptop.post(f"/s/admin/staff/{person_id}/new-phone", data=fields)

            answers = {
                "own phone": await post(world.admin.person_id),
                "own phone's page": await laptop.get(
                    f"/s/admin/staff/{world.admin.person_id}/new-phone"
                ),
                "a resident": await post(world.members[0].person_id),
                "nobody": await post("per_nothere"),
            }
            answers["admin screen after"] = await laptop.get("/s/admin")
            return answers

        answers = await as_admin(world, steps)

    statuses = {what: answer.status_code for what, answer in answers.items()}
    assert statuses == {
        "own phone": 409,
        "own phone's page": 409,
        "a resident": 404,
        "nobody": 404,
        "admin screen after": 200,
    }, {what: answer.text[-400:] for what, answer in answers.items()}
    assert "andere beheerder" in answers["own phone"].text


async def test_the_admin_revokes_a_token_after_a_page_that_names_it_and_whose_it_is(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        token_id = world.shop_staff.credential_id

        async def steps(laptop: httpx.AsyncClient) -> dict[str, httpx.Response]:
            path = f"/s/admin/tokens/{token_id}/revoke"
            home = await laptop.get("/s/admin")
            confirm = await laptop.get(path)
            async with page_client(world) as program:
                works_before = await program.get("/api/v1/me", headers=world.shop_staff.headers)
            done = await laptop.post(path, data={"csrf": form_token(confirm)})
            return {
                "home": home,
                "confirm": confirm,
                "works before": works_before,
                "done": done,
                "confirm after": await laptop.get(path),
                "unknown": await laptop.get("/s/admin/tokens/tok_nothere/revoke"),
            }

        seen = await as_admin(world, steps)
        after = await world.get("/api/v1/me", as_=world.shop_staff)

    row = re.search(
        rf"<tr>(?:(?!</tr>).)*/s/admin/tokens/{token_id}/revoke(?:(?!</tr>).)*</tr>",
        seen["home"].text,
        re.S,
    )
    assert row is not None, seen["home"].text
    owner = re.search(r"<td><bdi>([^<]*)</bdi></td>", row.group(0))
    assert owner is not None and owner.group(1) != "", row.group(0)
    assert seen["confirm"].status_code == 200 and owner.group(1) in seen["confirm"].text
    assert "Ja, intrekken" in seen["confirm"].text
    assert seen["works before"].status_code == 200, "the confirm page revokes nothing"
    assert seen["done"].status_code == 200 and "werkt niet meer" in seen["done"].text
    assert after.status_code == 401, after.text
    assert (
        seen["confirm after"].status_code == 200 and "werkt niet meer" in seen["confirm after"].text
    )
    assert seen["unknown"].status_code == 404


async def test_residents_and_staff_are_listed_by_name(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        made = await world.post("/api/v1/members", {"name": "Aaron Amrani"}, as_=world.coordinator)
        assert made.status_code == 201, made.text

        async def steps(laptop: httpx.AsyncClient) -> httpx.Response:
            return await laptop.get("/s/admin")

        page = await as_admin(world, steps)

    listed = re.search(r'<ul class="people" id="residents">(.*?)</ul>', page.text, re.S)
    assert listed is not None, page.text
    names = re.findall(r"<bdi>([^<]+)</bdi>", listed.group(1))
    assert names == sorted(names, key=str.casefold) and names[0] == "Aaron Amrani", names


async def test_the_sign_out_page_tells_staff_about_their_screens_not_their_hours(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:

        async def steps(laptop: httpx.AsyncClient) -> httpx.Response:
            return await laptop.get("/m/sign-out")

        page = await as_admin(world, steps)

    assert page.status_code == 200
    assert "werkschermen" in page.text and "van de beheerder" in page.text, page.text
    assert "uw uren" not in page.text
