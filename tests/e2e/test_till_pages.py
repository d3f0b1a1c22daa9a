"""The till and the resident's pay screens over HTTP: a till's QR paid and seen as paid,
more time and cancelling, the scanner that takes only our QR codes, a typed code, the
pay code taken at the till, today's takings with a refund, the statement, receiving
from a neighbour, and where to spend."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from api import pay_codes
from api.qr import image
from mobile_web.pay import typed_request_id
from mobile_web.till import TAKINGS_PAGE_ENTRIES
from tests.support.api import World, open_world
from tests.support.pages import form_token, link_phone, page_client, welcome_link
from tests.support.qr_codes import decode_svg
from tests.support.shop_payments import a_payment

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


async def _code_on(phone: httpx.AsyncClient, world: World) -> str:
    """The pay code the phone's page shows now, made as its script makes it."""
    shown = await phone.get("/m/paycode")
    assert shown.status_code == 200
    number = re.search(r'data-number="(\d{6})"', shown.text)
    secret = re.search(r'data-secret="([A-Z2-7]+)"', shown.text)
    assert number is not None and secret is not None
    padded = secret.group(1) + "=" * (-len(secret.group(1)) % 8)
    return pay_codes.code_at(number.group(1), base64.b32decode(padded), world.rt.now().timestamp())


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
            # A resident still holding the old code is sent to the new one.
            withdrawn = await phone.get(f"/P/{first}")
            assert "ingetrokken. Laat de winkel een nieuwe zien en scan die." in withdrawn.text
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
            code = await _code_on(phone, world)
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


async def test_a_code_used_once_and_a_refund_done_elsewhere_are_named_in_words(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:

        async def steps(till: httpx.AsyncClient, phone: httpx.AsyncClient) -> list[str]:
            code = await _code_on(phone, world)
            form = await till.get("/till/take")
            take = {"csrf": form_token(form), "hours": "1", "code": code}
            assert (await till.post("/till/take", data=take)).status_code == 200
            again = await till.post("/till/take", data=take | {"key": "another-form"})
            today = await till.get("/till/today")
            entry = re.search(r'name="entry_id" value="([^"]+)"', today.text)
            assert entry is not None
            elsewhere = await till.post(  # another device gives it back first
                "/api/v1/refunds",
                json={"entry_id": entry.group(1)},
                headers={**world.shop_staff.headers, "Idempotency-Key": str(uuid.uuid4())},
            )
            assert elsewhere.status_code == 201, elsewhere.text
            refund = {"csrf": form_token(today), "entry_id": entry.group(1), "key": "k2"}
            late = await till.post("/till/refund", data=refund)
            unknown = await till.post("/till/refund", data=refund | {"entry_id": "ent_nothing"})
            return [again.text, late.text, unknown.text]

        again, late, unknown = await two_phones(world, steps)

    assert "Deze code is al gebruikt. Vraag om de volgende code op de telefoon." in again
    assert "Deze betaling is al teruggegeven." in late
    assert "Er is niets teruggegeven." in unknown and "afgeschreven" not in unknown


async def test_the_take_form_shows_the_latest_payment_of_today(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:

        async def steps(till: httpx.AsyncClient, phone: httpx.AsyncClient) -> list[str]:
            before = await till.get("/till/take")
            code = await _code_on(phone, world)
            take = {"csrf": form_token(before), "hours": "1", "code": code}
            assert (await till.post("/till/take", data=take)).status_code == 200
            after = await till.get("/till/take")
            world.clock.advance(hours=24)
            next_day = await till.get("/till/take")
            return [before.text, after.text, next_day.text]

        before, after, next_day = await two_phones(world, steps)

    # Taken at 09:30 UTC on 28 November: 10:30 in Amsterdam.
    assert "Laatst ontvangen" not in before
    assert "Laatst ontvangen: 1 uur van Member 0 om 10:30." in after
    assert 'href="/till/today"' in after
    assert "Laatst ontvangen" not in next_day


async def test_a_code_above_the_cap_is_refused_in_words_on_the_tills_own_screen(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        capped = await world.post(
            "/api/v1/communities/oost/settings",
            {"offline_payment_minutes_max": 60},
            as_=world.admin,
        )
        assert capped.status_code == 201, capped.text

        async def steps(till: httpx.AsyncClient, phone: httpx.AsyncClient) -> httpx.Response:
            code = await _code_on(phone, world)
            form = await till.get("/till/take")
            return await till.post(
                "/till/take", data={"csrf": form_token(form), "hours": "2", "code": code}
            )

        refused = await two_phones(world, steps)

    assert refused.status_code == 422
    assert "Vraag de klant de QR-code te scannen" in refused.text
    # The till's own menu and a way back to it, not the resident's balance.
    assert 'href="/till/today"' in refused.text and 'href="/m/pay"' not in refused.text
    assert "Terug" in refused.text


async def test_an_amount_out_of_bounds_is_refused_with_the_bounds_in_words(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:

        async def steps(till: httpx.AsyncClient, phone: httpx.AsyncClient) -> httpx.Response:
            keypad = await till.get("/till")
            return await till.post("/till", data={"csrf": form_token(keypad), "hours": "20000"})

        refused = await two_phones(world, steps)

    assert refused.status_code == 422
    assert "Kies een bedrag van 1 minuut tot 10.000 uur." in refused.text
    assert 'href="/till/today"' in refused.text, "on the till's own screen"


async def test_a_pin_in_arabic_indic_digits_is_read_as_digits_and_no_pin_at_all_is_no_try(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        card = await world.post(
            "/api/v1/cards", {"member": world.member.account, "pin": "4821"}, as_=world.coordinator
        )
        assert card.status_code == 201, card.text
        payload = card.json()["payload"]

        async def steps(till: httpx.AsyncClient, phone: httpx.AsyncClient) -> list[httpx.Response]:
            async def take(pin: str) -> httpx.Response:
                form = await till.get("/till/take")
                data = {"csrf": form_token(form), "card": payload, "pin": pin, "hours": "1"}
                return await till.post("/till/take", data=data)

            # More than the five wrong tries that would lock the card.
            not_pins = [await take(pin) for pin in ["48a1", "482", "4821999", "", "x", "١٢"]]
            return [*not_pins, await take("٤٨٢١")]

        *not_pins, paid = await two_phones(world, steps)

    for refused in not_pins:
        assert refused.status_code == 422, refused.text
        assert "Deze pas of pincode klopt niet." in refused.text
    assert paid.status_code == 200, paid.text
    assert "1 uur" in paid.text


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
            # Their own code, opened on their own phone: no pay button, but why not.
            own = await phone.get(f"/P/{made.headers['location'].rsplit('/', 1)[1]}")
            assert own.status_code == 422 and "Dit is uw eigen code" in own.text
            assert 'action="/P/' not in own.text

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
                linked = await link_phone(till, till_link)
                return [linked, await till.get("/m"), await till.get("/till")]

        linked, home, keypad = world.run(run)
    assert linked.headers["location"] == "/m"
    assert home.status_code == 303 and home.headers["location"] == "/till"
    assert keypad.status_code == 200 and "Slagerij" in keypad.text


PAYCODE = re.compile(r'<span class="paycode">((?:<span>[A-Z2-7]{1,4}</span>)+)</span>')


def shown_code(page: httpx.Response) -> str:
    """The code under the till's QR as someone reads it off: its groups, with spaces."""
    found = PAYCODE.search(page.text)
    assert found is not None, page.text
    return " ".join(re.findall(r"<span>([A-Z2-7]+)</span>", found.group(1)))


async def test_the_till_shows_the_code_under_its_qr_that_a_phone_types_to_reach_the_request(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:

        async def steps(till: httpx.AsyncClient, phone: httpx.AsyncClient) -> None:
            request_id = await _ask(till, 60)
            screen = await till.get(f"/till/r/{request_id}")
            code = shown_code(screen)
            assert "Lukt scannen niet? Typ deze code:" in screen.text
            assert code.replace(" ", "") == request_id and " " in code
            scanner = await phone.get("/m/pay")
            # Read out over the counter and typed as heard: in groups, in small letters.
            typed = await phone.post(
                "/m/pay/type", data={"csrf": form_token(scanner), "code": code.lower()}
            )
            assert typed.status_code == 303 and typed.headers["location"] == f"/P/{request_id}"
            pay_page = await phone.get(typed.headers["location"])
            assert pay_page.status_code == 200 and "1 uur" in pay_page.text

        await two_phones(world, steps)


def test_a_typed_zero_is_the_letter_o_of_the_code_and_a_link_is_taken_whole() -> None:
    code = "ABCDEFGHIJKLMNOPQRSTUVWXYO"
    assert typed_request_id("http://buurtmunt.test", "abcd efgh ijkl mn0p qrst uvwx y0") == code
    assert typed_request_id("http://buurtmunt.test", f"HTTP://BUURTMUNT.TEST/P/{code}") == code
    assert typed_request_id("http://buurtmunt.test", code[:-1] + "1") is None


async def test_the_till_says_the_minutes_left_never_more_than_there_are_in_good_dutch(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        assert world.rt.settings.payment_request_seconds == 10 * 60

        async def steps(till: httpx.AsyncClient, phone: httpx.AsyncClient) -> list[str]:
            request_id = await _ask(till, 30)
            said = []
            for seconds in (0, 1, 8 * 60 + 30, 29, 30):
                world.clock.advance(seconds=seconds)
                screen = await till.get(f"/till/r/{request_id}")
                said.append(re.findall(r"Deze code werkt nog [^<]*", screen.text)[0])
            return said

        said = await two_phones(world, steps)
    assert said == [
        "Deze code werkt nog 10 minuten.",  # just made: 600 seconds left
        "Deze code werkt nog 9 minuten.",  # 599 seconds
        "Deze code werkt nog 1 minuut.",  # 89 seconds
        "Deze code werkt nog 1 minuut.",  # 60 seconds
        "Deze code werkt nog minder dan een minuut.",  # 30 seconds
    ]


REFUND_BUTTON = re.compile(
    r'<details class="refund">\s*<summary[^>]*>Teruggeven.*?</summary>\s*'
    r'<form method="post" action="/till/refund" class="pay">.*?name="entry_id" value="([^"]+)".*?'
    r"<p>([^<]*)</p>\s*<button type=\"submit\">Ja, teruggeven</button>",
    re.S,
)


async def test_today_asks_before_giving_back_and_shows_what_is_given_back_in_local_time(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:

        async def steps(till: httpx.AsyncClient, phone: httpx.AsyncClient) -> list[str]:
            request_id = await _ask(till, 90)
            pay_page = await phone.get(f"/P/{request_id}")
            paid = await phone.post(
                f"/P/{request_id}", data={"csrf": form_token(pay_page), "amount_minutes": "90"}
            )
            assert paid.status_code == 200
            whole = await till.get("/till/today")
            partly = await till.post(
                "/api/v1/refunds",
                json={"entry_id": REFUND_BUTTON.findall(whole.text)[0][0], "amount_minutes": 30},
                headers={**world.shop_staff.headers, "Idempotency-Key": str(uuid.uuid4())},
            )
            assert partly.status_code == 201, partly.text
            rest = await till.get("/till/today")
            entry_id = REFUND_BUTTON.findall(rest.text)[0][0]
            back = await till.post(
                "/till/refund", data={"csrf": form_token(rest), "entry_id": entry_id}
            )
            assert back.status_code == 303
            done = await till.get(back.headers["location"])
            again = await till.post(  # a page left open from before: refused in words
                "/till/refund", data={"csrf": form_token(rest), "entry_id": entry_id}
            )
            assert again.status_code == 422 and "al teruggegeven" in again.text
            return [whole.text, rest.text, done.text]

        whole, rest, done = await two_phones(world, steps)
    # Paid at 09:30 UTC on 28 November: 10:30 in Amsterdam (winter time).
    assert "10:30</time>" in whole and "UTC" not in whole
    assert [asked for _, asked in REFUND_BUTTON.findall(whole)] == [
        "1½ uur teruggeven aan Member 0?"
    ]
    assert "Deels teruggegeven; er is nog 1 uur over." in rest
    assert [asked for _, asked in REFUND_BUTTON.findall(rest)] == ["1 uur teruggeven aan Member 0?"]
    assert REFUND_BUTTON.search(done) is None and 'name="entry_id"' not in done
    assert "Helemaal teruggegeven" in done and "Teruggegeven." in done


async def test_today_is_the_day_on_the_shops_clock(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        # 22:50 UTC is 23:50 in Amsterdam, on the evening of 28 November.
        world.clock.advance(hours=13, minutes=20)

        async def steps(till: httpx.AsyncClient, phone: httpx.AsyncClient) -> list[str]:
            request_id = await _ask(till, 45)
            pay_page = await phone.get(f"/P/{request_id}")
            await phone.post(
                f"/P/{request_id}", data={"csrf": form_token(pay_page), "amount_minutes": "45"}
            )
            evening = await till.get("/till/today")
            world.clock.advance(minutes=20)  # 23:10 UTC: past midnight in Amsterdam
            night = await till.get("/till/today")
            return [evening.text, night.text]

        evening, night = await two_phones(world, steps)
    assert "23:50</time>" in evening and "Member 0" in evening
    assert "Member 0" not in night and "Nog niets." in night


async def test_today_totals_every_payment_of_the_day_however_many(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        a_payment(world, 7)  # yesterday's: not today's takings
        world.clock.advance(hours=24)
        # More than two pages of the history the page reads the day from.
        for index in range(2 * TAKINGS_PAGE_ENTRIES + 50):
            a_payment(world, 1, member=index % 2)

        async def steps(till: httpx.AsyncClient, phone: httpx.AsyncClient) -> str:
            return (await till.get("/till/today")).text

        today = await two_phones(world, steps)

    taken = re.search(r'id="taken-label">.*?<bdi>([^<]+)</bdi>', today, re.S)
    assert taken is not None and taken.group(1) == "7½ uur"
    assert today.count('name="entry_id"') == 2 * TAKINGS_PAGE_ENTRIES + 50


async def test_a_till_form_whose_page_expired_says_so_on_the_tills_own_screen(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:

        async def steps(till: httpx.AsyncClient, phone: httpx.AsyncClient) -> httpx.Response:
            return await till.post("/till", data={"csrf": "stale", "amount_minutes": "60"})

        expired = await two_phones(world, steps)

    assert expired.status_code == 403
    assert "Deze pagina is verlopen" in expired.text
    assert 'href="/till/today"' in expired.text and 'href="/m/pay"' not in expired.text
