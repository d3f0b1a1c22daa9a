"""A coordinator finds a resident by their printed card, over HTTP: a photo or camera frame
of the card's QR code, or its code as the scanner read it, opens the resident's page; a
forged card, someone else's QR code and a photo without one are each named in words."""

from __future__ import annotations

from typing import Any

import httpx

from api.qr import image
from tests.support.api import World, open_world
from tests.support.pages import form_token, link_phone, page_client, welcome_link

SCAN = "/s/coordinator/card/scan"
JSON = {"Accept": "application/json"}


async def _card_payload(world: World) -> str:
    card = await world.post(
        "/api/v1/cards", {"member": world.member.account, "pin": "4821"}, as_=world.coordinator
    )
    assert card.status_code == 201, card.text
    payload: str = card.json()["payload"]
    return payload


def _photo(text: str) -> dict[str, Any]:
    return {"photo": ("card.png", image(text, "png"), "image/png")}


async def test_a_coordinator_scans_a_card_and_lands_on_its_residents_page(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        payload = await _card_payload(world)
        link = await welcome_link(world, world.coordinator.person_id)
        member_page = f"/s/coordinator/member/{world.member.person_id}"

        async def run() -> list[httpx.Response]:
            async with page_client(world) as laptop:
                await link_phone(laptop, link)
                home = await laptop.get("/s/coordinator")
                screen = await laptop.get("/s/coordinator/card")
                csrf = {"csrf": form_token(screen)}
                return [
                    home,
                    screen,
                    await laptop.post(SCAN, data=csrf, files=_photo(payload), headers=JSON),
                    await laptop.post(SCAN, data=csrf, files=_photo(payload)),
                    await laptop.post("/s/coordinator/card", data=csrf | {"card": payload}),
                    await laptop.get(member_page),
                ]

        home, screen, framed, photo, typed, member = world.run(run)
    assert 'href="/s/coordinator/card"' in home.text and "Zoeken met de kaart" in home.text
    assert screen.status_code == 200 and 'data-mode="card"' in screen.text
    assert framed.json()["outcome"] == "found" and framed.json()["next"] == member_page
    assert photo.status_code == 303 and photo.headers["location"] == member_page
    assert typed.status_code == 303 and typed.headers["location"] == member_page
    assert member.status_code == 200


async def test_a_forged_card_a_pay_code_and_a_blank_photo_find_nobody(database_url: str) -> None:
    async with open_world(database_url) as world:
        payload = await _card_payload(world)
        body = payload[5:]
        flipped = "A" if body[10] != "A" else "B"
        forged = payload[:5] + body[:10] + flipped + body[11:]
        link = await welcome_link(world, world.coordinator.person_id)

        async def run() -> list[httpx.Response]:
            async with page_client(world) as laptop:
                await link_phone(laptop, link)
                csrf = {"csrf": form_token(await laptop.get("/s/coordinator/card"))}
                return [
                    await laptop.post(SCAN, data=csrf, files=_photo(forged), headers=JSON),
                    await laptop.post(SCAN, data=csrf, files=_photo("123456654321"), headers=JSON),
                    await laptop.post(
                        SCAN,
                        data=csrf,
                        headers=JSON,
                        files={"photo": ("card.png", b"not an image", "image/png")},
                    ),
                    await laptop.post("/s/coordinator/card", data=csrf | {"card": forged}),
                    await laptop.post("/s/coordinator/card", data={"card": payload}),
                ]

        forged_frame, pay_code, blank, typed, no_token = world.run(run)
    assert forged_frame.json()["outcome"] == "foreign" and forged_frame.json()["next"] is None
    assert forged_frame.json()["message"] == "Deze QR-code is geen kaart van deze buurt."
    assert pay_code.json()["outcome"] == "foreign"
    assert blank.json()["outcome"] == "none"
    assert typed.status_code == 422 and "Deze QR-code is geen kaart van deze buurt." in typed.text
    # A refusal keeps the staff screen's menu and leads back, not to a resident's balance.
    assert 'href="/static/staff.css"' in typed.text and 'href="/m/pay"' not in typed.text
    assert 'href="/s/coordinator/card"' in typed.text and "Terug" in typed.text
    assert no_token.status_code == 403
