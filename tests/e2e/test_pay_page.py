"""Paying from the page a phone's camera opens (``/P/<RID>``), with the cookie session."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.support.api import MEMBER_START_MINUTES, World, open_world
from tests.support.pages import link_phone, posted_form

FORM_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')


async def a_welcome_link(world: World) -> str:
    """A new member with some credit, and the path of their welcome card's link."""
    made = await world.post("/api/v1/members", {"name": "Fatima"}, as_=world.admin)
    person = made.json()["id"]
    await world.post(
        "/api/v1/transfers",
        {"payee": made.json()["member_account"], "amount_minutes": 300},
        as_=world.member,
    )
    link = await world.post(f"/api/v1/people/{person}/enrolment-links", as_=world.admin)
    url: str = link.json()["url"]
    return url.replace("http://buurtmunt.test", "")


async def on_phone(world: World, steps: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
    """Run ``steps`` on a member's phone: linked by the welcome link, holding the cookie."""
    link = await a_welcome_link(world)

    async def run() -> Any:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=world.app),  # type: ignore[arg-type]
            base_url="http://buurtmunt.test",
        ) as phone:
            await link_phone(phone, link)
            return await steps(phone)

    return world.run(run)


async def a_request(world: World, minutes: int) -> str:
    made = await world.post(
        "/api/v1/payment-requests", {"amount_minutes": minutes}, as_=world.shop_staff
    )
    request_id: str = made.json()["id"]
    return request_id


async def test_a_phone_opens_the_pay_page_and_pays_with_the_form(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        request_id = await a_request(world, 90)

        async def steps(phone: httpx.AsyncClient) -> list[httpx.Response]:
            page = await phone.get(f"/P/{request_id}")
            token = FORM_TOKEN.search(page.text)
            assert token is not None, page.text
            paid = await phone.post(
                f"/P/{request_id}", data={"csrf": token.group(1), "amount_minutes": "90"}
            )
            return [page, paid, await phone.get(f"/P/{request_id}")]

        page, paid, again = await on_phone(world, steps)

        assert page.status_code == 200 and "Slagerij" in page.text and "1½ uur" in page.text
        assert paid.status_code == 200 and "Betaald" in paid.text, paid.text
        # Opened again by its payer (Back, or the camera once more): what they paid, once.
        assert again.status_code == 200, again.text
        assert "U heeft dit betaald op" in again.text and "1½ uur" in again.text, again.text
        assert "Betaald aan Slagerij" in again.text
        shop = await world.get(f"/api/v1/accounts/{world.shop}", as_=world.admin)
        assert shop.json()["balance_minutes"] == 90


async def test_a_post_without_the_form_token_is_refused_and_moves_nothing(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        request_id = await a_request(world, 30)

        async def steps(phone: httpx.AsyncClient) -> list[httpx.Response]:
            # What another site's form could send: the cookie rides along, the token cannot.
            return [
                await phone.post(f"/P/{request_id}", data={"amount_minutes": "30"}),
                await phone.post(f"/P/{request_id}", data={"csrf": "forged"}),
            ]

        refused = await on_phone(world, steps)

        assert [r.status_code for r in refused] == [403, 403]
        assert all("verlopen" in r.text for r in refused)
        shop = await world.get(f"/api/v1/accounts/{world.shop}", as_=world.admin)
        assert shop.json()["balance_minutes"] == 0
        status = await world.get(f"/api/v1/payment-requests/{request_id}", as_=world.shop_staff)
        assert status.json()["status"] == "open"


async def test_unknown_paid_and_expired_codes_get_a_clear_page(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        paid = await a_request(world, 10)
        await world.post(f"/api/v1/payment-requests/{paid}/pay", {}, as_=world.member)
        expired = await a_request(world, 10)
        world.clock.advance(minutes=11)

        async def steps(phone: httpx.AsyncClient) -> list[httpx.Response]:
            return [
                await phone.get("/P/" + "B" * 26),
                await phone.get("/P/not-a-request"),
                await phone.get(f"/P/{paid}"),
                await phone.get(f"/P/{expired}"),
            ]

        pages = await on_phone(world, steps)

        assert [p.status_code for p in pages] == [404, 404, 409, 410]
        assert all(p.headers["content-type"].startswith("text/html") for p in pages)
        assert "bestaat niet" in pages[0].text and "al betaald" in pages[2].text
        assert "verlopen" in pages[3].text


async def test_a_phone_without_a_session_is_told_to_sign_in(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        request_id = await a_request(world, 10)

        page = await world.client.get(f"/P/{request_id}")

        assert page.status_code == 401 and "niet aangemeld" in page.text
        assert MEMBER_START_MINUTES  # the world's members are untouched


REFUSED_AMOUNTS = [
    ({"hours": "een"}, "Typ hoeveel u geeft, in hele uren en minuten."),
    ({"hours": "-1"}, "Typ hoeveel u geeft, in hele uren en minuten."),
    ({"hours": "0", "minutes": "0"}, "Typ hoeveel u geeft, in hele uren en minuten."),
    ({}, "Typ hoeveel u geeft, in hele uren en minuten."),
    ({"hours": "1,5"}, "Typ hoeveel u geeft, in hele uren en minuten."),
    ({"hours": "99999"}, "Dat is meer dan u in één keer kunt geven."),
    ({"hours": "6"}, "U heeft niet genoeg uren voor deze betaling."),  # Fatima has 5 hours
]


async def test_the_payer_says_how_much_in_hours_and_minutes_and_a_wrong_amount_asks_again(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        made = await world.post("/api/v1/payment-requests", {}, as_=world.member)
        assert made.status_code == 201 and made.json()["amount_minutes"] is None, made.text
        request_id = made.json()["id"]

        async def steps(phone: httpx.AsyncClient) -> tuple[httpx.Response, ...]:
            page = await phone.get(f"/P/{request_id}")
            token = FORM_TOKEN.search(page.text)
            assert token is not None, page.text
            csrf = token.group(1)
            refused = [
                await phone.post(
                    f"/P/{request_id}/amount", data={"csrf": csrf, "checked": "1", **typed}
                )
                for typed, _ in REFUSED_AMOUNTS
            ]
            typed = {"csrf": csrf, "hours": "1", "minutes": "30"}
            check = await phone.post(f"/P/{request_id}/amount", data=typed)
            action, fields = posted_form(check, r"/P/[A-Z2-7]+/amount")
            return page, *refused, check, await phone.post(action, data=fields)

        page, *refused, check, paid = await on_phone(world, steps)

        assert page.status_code == 200 and f'action="/P/{request_id}/amount"' in page.text
        assert "Hoeveel geeft u?" in page.text
        assert 'name="hours"' in page.text and 'name="minutes"' in page.text
        for (typed, words), answer in zip(REFUSED_AMOUNTS, refused, strict=True):
            assert answer.status_code == 422, (typed, answer.text)
            assert words in answer.text and 'role="alert"' in answer.text, typed
            assert f'action="/P/{request_id}/amount"' in answer.text, typed  # the form again
            assert f'value="{typed.get("hours", "")}"' in answer.text, typed
        # The typed amount, big, and "is this right?" before anything is paid.
        assert check.status_code == 200 and "Klopt dit?" in check.text, check.text
        assert "<bdi>1½ uur</bdi>" in check.text and "Betaald" not in check.text
        assert paid.status_code == 200 and "Betaald" in paid.text, paid.text
        payee = await world.get(f"/api/v1/accounts/{world.member.account}", as_=world.admin)
        assert payee.json()["balance_minutes"] == MEMBER_START_MINUTES - 300 + 90
