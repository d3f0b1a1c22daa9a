"""The staff screens' forms over HTTP, sent twice (a double tap, a reload): enrolling a
resident, a new welcome card, a new printed card and a new staff member each happen once
and show the same page again; and what the API refuses, the forms refuse, before anything
changes."""

from __future__ import annotations

import re
from typing import Any

import httpx

from api import cards, provisioning
from api.tables import CardRow
from tests.support.api import World, open_world
from tests.support.pages import link_phone, page_client, welcome_link

FORM_KEY = re.compile(
    r'action="([^"]+)"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]+)">\s*'
    r'(?:<input type="hidden" name="key" value="([^"]+)">)?'
)
WELCOME_LINK = re.compile(r'id="welcome-link">([^<]+)<')
REFUSED = "Dit is niet gelukt. Kijk na wat u invulde en probeer het opnieuw."


def form_of(page: httpx.Response, action: str) -> dict[str, str]:
    """The hidden fields (form token and one-time key) of the form posting to ``action``."""
    for found in FORM_KEY.finditer(page.text):
        if found.group(1) == action:
            fields = {"csrf": found.group(2)}
            return fields | ({"key": found.group(3)} if found.group(3) else {})
    raise AssertionError(f"no form for {action}: {page.text}")


def link_on(page: httpx.Response) -> str:
    found = WELCOME_LINK.search(page.text)
    assert found is not None, page.text
    return found.group(1)


async def _names(world: World, path: str, as_: Any) -> list[str]:
    listed = await world.get(path, as_=as_)
    assert listed.status_code == 200, listed.text
    return [item["name"] for item in listed.json()["items"]]


async def _sent_twice(
    world: World, staff: Any, screen: str, action: str, fields: dict[str, str]
) -> list[httpx.Response]:
    """``staff``'s answers to the form of ``screen`` that posts to ``action``, filled with
    ``fields`` and sent twice (a double tap, a reload)."""
    link = await welcome_link(world, staff.person_id)

    async def run() -> list[httpx.Response]:
        async with page_client(world) as laptop:
            await link_phone(laptop, link)
            sent = form_of(await laptop.get(screen), action) | fields
            return [await laptop.post(action, data=sent), await laptop.post(action, data=sent)]

    answers: list[httpx.Response] = world.run(run)
    return answers


async def test_an_enrol_form_sent_twice_enrols_one_resident_and_shows_the_same_card(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        fields = {"name": "Fatma Demir", "phone": "0612", "language": "tr"}
        first, again = await _sent_twice(
            world, world.coordinator, "/s/coordinator", "/s/coordinator/enrol", fields
        )
        names = await _names(world, "/api/v1/members", world.coordinator)

    assert first.status_code == 200 and again.status_code == 200, (first.text, again.text)
    assert "Fatma Demir" in first.text and "Fatma Demir" in again.text
    assert link_on(first) == link_on(again)
    assert names.count("Fatma Demir") == 1, names


async def test_the_enrol_form_refuses_text_the_api_refuses_and_enrols_nobody(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        link = await welcome_link(world, world.coordinator.person_id)

        async def run() -> list[httpx.Response]:
            async with page_client(world) as laptop:
                await link_phone(laptop, link)
                answers = []
                for phone in ("06\r\n12", "06\u008512", "06\x1b\r\n12"):
                    form = form_of(await laptop.get("/s/coordinator"), "/s/coordinator/enrol")
                    sent = form | {"name": "Piet Pieters", "phone": phone, "language": "nl"}
                    answers.append(await laptop.post("/s/coordinator/enrol", data=sent))
                return answers

        line_break, c1_control, escape = world.run(run)
        names = await _names(world, "/api/v1/members", world.coordinator)

    for refused in (line_break, c1_control):
        assert refused.status_code == 422 and REFUSED in refused.text, refused.text
    # An escape character is refused for every form before any page sees it.
    assert escape.status_code == 422 and escape.json()["code"] == "text_invalid", escape.text
    assert "Piet Pieters" not in names, names


async def _a_card(world: World) -> str:
    """The id of a card printed for ``world.member`` through the API."""
    printed = await world.post(
        "/api/v1/cards", {"member": world.member.account, "pin": "4821"}, as_=world.coordinator
    )
    assert printed.status_code == 201, printed.text
    card_id: str = printed.json()["card"]["id"]
    return card_id


async def _new_card_sent(
    world: World, pins: list[str], *, one_form: bool
) -> tuple[list[httpx.Response], list[CardRow]]:
    """The coordinator's answers to the member screen's "new card" form, sent with each
    of ``pins`` (the same form each time if ``one_form``: a double tap, a reload; else
    the form anew), and the member's cards afterwards."""
    member = world.member
    link = await welcome_link(world, world.coordinator.person_id)
    screen = f"/s/coordinator/member/{member.person_id}"
    action = f"{screen}/new-card"

    async def run() -> tuple[list[httpx.Response], list[CardRow]]:
        async with page_client(world) as laptop:
            await link_phone(laptop, link)
            form = form_of(await laptop.get(screen), action)
            answers = []
            for pin in pins:
                if not one_form:
                    form = form_of(await laptop.get(screen), action)
                answers.append(await laptop.post(action, data=form | {"pin": pin}))
        assert member.account is not None
        return answers, await cards.cards_of(world.rt, "oost", member.account)

    sent: tuple[list[httpx.Response], list[CardRow]] = world.run(run)
    return sent


async def test_a_new_card_form_sent_twice_prints_one_card_and_revokes_it_not(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        old = await _a_card(world)
        # An Arabic coordinator types the PIN in Arabic-Indic digits.
        (first, again), held = await _new_card_sent(world, ["١٢٣٤", "١٢٣٤"], one_form=True)
        active = [row for row in held if row.revoked_at is None]
        pin_is_1234 = world.run(_pin_matches, world, active[0], "1234") if active else False

    assert first.status_code == 200 and again.status_code == 200, (first.text, again.text)
    qr = re.compile(r'<div class="qr"[^>]*>(.*?)</div>', re.S)
    assert qr.findall(first.text) == qr.findall(again.text)
    assert len(held) == 2 and len(active) == 1, held
    assert active[0].id != old
    assert pin_is_1234


async def _pin_matches(world: World, row: CardRow, pin: str) -> bool:
    return cards.pin_matches(world.rt.ledger.signer.private_key, row, pin)


async def test_a_pin_that_is_no_pin_changes_nothing(database_url: str) -> None:
    pins = ["١٢٣", "12a4", "²³⁴⁵", "1234567", ""]
    async with open_world(database_url) as world:
        old = await _a_card(world)
        answers, held = await _new_card_sent(world, pins, one_form=False)

    for pin, answer in zip(pins, answers, strict=True):
        assert answer.status_code == 422 and REFUSED in answer.text, (pin, answer.text)
    assert [(row.id, row.revoked_at) for row in held] == [(old, None)]


async def test_a_new_welcome_card_sent_again_signs_out_nothing_more(database_url: str) -> None:
    async with open_world(database_url) as world:
        member = world.member
        coordinator_link = await welcome_link(world, world.coordinator.person_id)
        old_phone_link = await welcome_link(world, member.person_id)
        action = f"/s/coordinator/member/{member.person_id}/new-phone"

        async def run() -> list[httpx.Response]:
            async with (
                page_client(world) as laptop,
                page_client(world) as old_phone,
                page_client(world) as new_phone,
            ):
                await link_phone(laptop, coordinator_link)
                await link_phone(old_phone, old_phone_link)
                # The member screen leads to a page that asks first; its form does the work.
                form = form_of(await laptop.get(action), action)
                first = await laptop.post(action, data=form)
                await link_phone(new_phone, link_on(first).replace("http://buurtmunt.test", ""))
                # The coordinator reloads the card after the resident linked the new phone.
                again = await laptop.post(action, data=form)
                return [first, again, await old_phone.get("/m"), await new_phone.get("/m")]

        first, again, old_home, new_home = world.run(run)

    assert first.status_code == 200 and again.status_code == 200, (first.text, again.text)
    assert link_on(first) == link_on(again)
    assert old_home.status_code != 200  # the lost phone is signed out
    assert new_home.status_code == 200, new_home.text  # the new one stays signed in


async def test_a_new_staff_form_sent_twice_adds_one_person_with_one_welcome_card(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        fields = {"name": "Sanne Smit", "role": "auditor", "language": "nl"}
        first, again = await _sent_twice(world, world.admin, "/s/admin", "/s/admin/staff", fields)
        token = link_on(first).rsplit("/", 1)[-1]
        state = world.run(provisioning.enrolment_link_state, world.rt, token)
        names = await _names(world, "/api/v1/staff", world.admin)

    assert first.status_code == 200 and again.status_code == 200, (first.text, again.text)
    assert link_on(first) == link_on(again)
    assert state is provisioning.LinkState.USABLE  # the card printed first still works
    assert names.count("Sanne Smit") == 1, names
    # Staff have no balance: their card says their work screen opens.
    assert "Uw werkscherm gaat open" in first.text and "Uw saldo gaat open" not in first.text


async def test_the_admins_forms_say_which_field_to_put_right_and_change_nothing(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        link = await welcome_link(world, world.admin.person_id)
        budget_action = f"/s/admin/organisations/{world.org}/budget"

        async def run() -> list[httpx.Response]:
            async with page_client(world) as office:
                await link_phone(office, link)
                answers = []
                for budget in ("abc", "-5", "12.5", ""):
                    form = form_of(await office.get("/s/admin"), budget_action)
                    answers.append(
                        await office.post(budget_action, data=form | {"budget_hours": budget})
                    )
                form = form_of(await office.get("/s/admin"), "/s/admin/staff")
                coordinator = {"name": "Kees Bos", "role": "coordinator", "language": "nl"}
                answers.append(await office.post("/s/admin/staff", data=form | coordinator))
                shop_staff = coordinator | {"role": "shop", "place": world.org}
                answers.append(await office.post("/s/admin/staff", data=form | shop_staff))
                answers.append(await office.get("/s/admin"))
                return answers

        *budgets, no_place, wrong_place, home = world.run(run)
        names = await _names(world, "/api/v1/staff", world.admin)
        orgs = await world.get("/api/v1/organisations", as_=world.admin)

    for answer in budgets:
        assert answer.status_code == 422, answer.text
        assert "Geef het budget per maand in hele uren, zoals 40" in answer.text, answer.text
    for answer in (no_place, wrong_place):
        assert answer.status_code == 422, answer.text
        assert "Kies de winkel waar deze persoon werkt" in answer.text, answer.text
    assert "Kees Bos" not in names
    # The rules the API sets are all shown on the admin's screen.
    rules = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", home.text))
    assert "Bewoners mogen elkaar uren geven Ja" in rules, rules
    assert "Hoogstens te verdienen per bewoner per maand 40 uur" in rules, rules
    budget = next(o for o in orgs.json()["items"] if o["account_id"] == world.org)
    assert budget["budget_minutes_per_month"] == 6_000
