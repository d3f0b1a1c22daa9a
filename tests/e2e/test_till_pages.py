"""The till and the resident's pay screens over HTTP: a till's QR paid and seen as paid,
more time and cancelling, the scanner that takes only our QR codes, a typed code, the
pay code taken at the till, today's takings with a refund, the statement, receiving
from a neighbour, and where to spend."""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from api import pay_codes
from api.qr import image
from tests.support.api import World, open_world
from tests.support.pages import form_token, link_phone, page_client, welcome_link
from tests.support.qr_codes import decode_svg

QR_IMAGE = re.compile(r'<img class="qr" src="data:image/svg\+xml;base64,([^"]+)"')


async def two_phones(
    world: World, steps: Callable[[httpx.AsyncClient, httpx.AsyncClient], Awaitable[Any]]
) -> Any:
    """Run ``steps`` with the shop's till and the first member's phone, both linked."""

    till_link = await welcome_link(world, world.shop_staff.person_id)
    phone_link = await welcome_link(world, world.member.person_id)

    async def run() -> Any:
        async with page_client(world) as till, page_client(world) as phone:
            await link_phone(till, till_link)
            await link_phone(phone, phone_link)
            return await steps(till, phone)

    return world.run(run)


async def _ask(till: httpx.AsyncClient, minutes: int) -> str:
    keypad = await till.get("/till")
    assert keypad.status_code == 200 and "Slagerij" in keypad.text
    asked = await till.post(
        "/till", data={"csrf": form_token(keypad), "amount_minutes": str(minutes)}
    )
    assert asked.status_code == 303, asked.text
    location: str = asked.headers["location"]
    return location.rsplit("/", 1)[1]


async def test_the_till_shows_a_qr_code_of_ours_and_then_paid_once_the_member_pays(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:

        async def steps(till: httpx.AsyncClient, phone: httpx.AsyncClient) -> None:
            request_id = await _ask(till, 90)
            screen = await till.get(f"/till/r/{request_id}")
            drawn = QR_IMAGE.search(screen.text)
            assert drawn is not None and "1½ uur" in screen.text
            assert decode_svg(base64.b64decode(drawn.group(1))) == [
                f"HTTP://BUURTMUNT.TEST/P/{request_id}"
            ]
            assert f"/api/v1/payment-requests/{request_id}/events" in screen.text
            pay_page = await phone.get(f"/P/{request_id}")
            paid = await phone.post(
                f"/P/{request_id}", data={"csrf": form_token(pay_page), "amount_minutes": "90"}
            )
            assert paid.status_code == 200
            after = await till.get(f"/till/r/{request_id}")
            assert "Betaald ✓" in after.text and "Member 0" in after.text

        await two_phones(world, steps)


async def test_more_time_asks_again_for_the_same_amount_and_cancel_withdraws(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:

        async def steps(till: httpx.AsyncClient, phone: httpx.AsyncClient) -> None:
            first = await _ask(till, 45)
            screen = await till.get(f"/till/r/{first}")
            again = await till.post(f"/till/r/{first}/again", data={"csrf": form_token(screen)})
            assert again.status_code == 303
            second = again.headers["location"].rsplit("/", 1)[1]
            assert second != first
            old = await till.get(f"/till/r/{first}")
            assert "geannuleerd" in old.text.lower() or "cancelled" in old.text.lower()
            new = await till.get(f"/till/r/{second}")
            assert "45 minuten" in new.text
            cancelled = await till.post(f"/till/r/{second}/cancel", data={"csrf": form_token(new)})
            assert cancelled.status_code == 303
            pay_page = await phone.get(f"/P/{second}")
            assert pay_page.status_code == 409

        await two_phones(world, steps)


async def test_the_scanner_reads_our_qr_code_from_a_photo_and_names_any_other_as_not_ours(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:

        async def steps(till: httpx.AsyncClient, phone: httpx.AsyncClient) -> None:
            request_id = await _ask(till, 30)
            scanner = await phone.get("/m/pay")
            token = form_token(scanner)
            ours = image(f"HTTP://BUURTMUNT.TEST/P/{request_id}", "png")
            read = await phone.post(
                "/m/pay/scan", data={"csrf": token}, files={"photo": ("qr.png", ours, "image/png")}
            )
            assert read.status_code == 303 and read.headers["location"] == f"/P/{request_id}"
            foreign = image(f"https://example.com/P/{request_id}", "png")
            refused = await phone.post(
                "/m/pay/scan",
                data={"csrf": token},
                files={"photo": ("qr.png", foreign, "image/png")},
            )
            assert refused.status_code == 422 and "geen Buurtmunt-betaling" in refused.text
            as_json = await phone.post(
                "/m/pay/scan", data={"csrf": token}, headers={"Accept": "application/json"},
                files={"photo": ("qr.png", b"not an image", "image/png")},
            )  # fmt: skip
            assert as_json.json()["outcome"] == "none"
            typed = await phone.post(
                "/m/pay/type",
                data={"csrf": token, "code": request_id.lower()[:13] + " " + request_id[13:]},
            )
            assert typed.status_code == 303 and typed.headers["location"] == f"/P/{request_id}"
            wrong = await phone.post("/m/pay/type", data={"csrf": token, "code": "ABC"})
            assert wrong.status_code == 422

        await two_phones(world, steps)


async def test_the_till_takes_the_pay_code_the_phone_shows_and_gives_it_back_today(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:

        async def steps(till: httpx.AsyncClient, phone: httpx.AsyncClient) -> None:
            shown = await phone.get("/m/paycode")
            assert shown.status_code == 200
            number = re.search(r'data-number="(\d{6})"', shown.text)
            secret = re.search(r'data-secret="([A-Z2-7]+)"', shown.text)
            assert number is not None and secret is not None
            padded = secret.group(1) + "=" * (-len(secret.group(1)) % 8)
            code = pay_codes.code_at(
                number.group(1), base64.b32decode(padded), world.rt.now().timestamp()
            )
            form = await till.get("/till/take")
            taken = await till.post(
                "/till/take", data={"csrf": form_token(form), "hours": "1", "code": code}
            )
            assert taken.status_code == 200 and "Betaald ✓" in taken.text, taken.text
            today = await till.get("/till/today")
            assert "1 uur" in today.text and "Member 0" in today.text
            entry = re.search(r'name="entry_id" value="([^"]+)"', today.text)
            assert entry is not None
            back = await till.post(
                "/till/refund", data={"csrf": form_token(today), "entry_id": entry.group(1)}
            )
            assert back.status_code == 303
            statement = await till.get(
                re.findall(r'href="(/api/v1/shops/[^"]+)"', today.text)[0].replace("&amp;", "&")
            )
            assert statement.status_code == 200 and "closing_balance" in statement.text

        await two_phones(world, steps)


async def test_a_resident_shows_a_pay_me_qr_and_sees_where_to_spend_and_earn(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:

        async def steps(till: httpx.AsyncClient, phone: httpx.AsyncClient) -> None:
            form = await phone.get("/m/receive")
            made = await phone.post("/m/receive", data={"csrf": form_token(form), "minutes": "30"})
            assert made.status_code == 303, made.text
            screen = await phone.get(made.headers["location"])
            assert QR_IMAGE.search(screen.text) is not None and "½ uur" in screen.text
            places = await phone.get("/m/places")
            assert "Slagerij" in places.text and "Buurthuis" in places.text
            not_staff = await phone.get("/till")
            assert not_staff.status_code == 403

        await two_phones(world, steps)


async def test_the_till_reads_a_pay_code_from_a_photo_into_its_form(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:

        async def steps(till: httpx.AsyncClient, phone: httpx.AsyncClient) -> None:
            form = await till.get("/till/take")
            token = form_token(form)
            photo = image("123456654321", "png")
            read = await till.post(
                "/till/scan", data={"csrf": token}, files={"photo": ("qr.png", photo, "image/png")}
            )
            assert read.status_code == 200 and 'value="123456654321"' in read.text
            ours = image("HTTP://BUURTMUNT.TEST/P/ABCDEFGHIJKLMNOPQRSTUVWXY2", "png")
            as_json = await till.post(
                "/till/scan", data={"csrf": token}, headers={"Accept": "application/json"},
                files={"photo": ("qr.png", ours, "image/png")},
            )  # fmt: skip
            assert as_json.json()["outcome"] == "foreign"
            assert as_json.json()["message"] == "Deze QR-code is geen betaalcode en geen pas."
            not_staff = await phone.post(
                "/till/scan", data={"csrf": token}, files={"photo": ("qr.png", photo, "image/png")}
            )
            assert not_staff.status_code == 403

        await two_phones(world, steps)


async def test_an_expired_qr_says_so_in_words_and_offers_the_same_amount_again(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:

        async def steps(till: httpx.AsyncClient, phone: httpx.AsyncClient) -> None:
            request_id = await _ask(till, 60)
            world.clock.advance(seconds=world.rt.settings.payment_request_seconds + 1)
            screen = await till.get(f"/till/r/{request_id}")
            assert "Deze code is verlopen." in screen.text and 'role="alert"' in screen.text
            assert QR_IMAGE.search(screen.text) is None
            again = await till.post(
                f"/till/r/{request_id}/again", data={"csrf": form_token(screen)}
            )
            fresh = await till.get(again.headers["location"])
            assert QR_IMAGE.search(fresh.text) is not None and "1 uur" in fresh.text

        await two_phones(world, steps)


async def test_shop_staff_who_open_the_resident_home_land_on_the_till(database_url: str) -> None:
    async with open_world(database_url) as world:
        till_link = await welcome_link(world, world.shop_staff.person_id)

        async def run() -> list[httpx.Response]:
            async with page_client(world) as till:
                linked = await till.post(till_link)
                return [linked, await till.get("/m"), await till.get("/till")]

        linked, home, keypad = world.run(run)
    assert linked.headers["location"] == "/m"
    assert home.status_code == 303 and home.headers["location"] == "/till"
    assert keypad.status_code == 200 and "Slagerij" in keypad.text
