"""Printed cards through the API: issued by a coordinator, paid with at a shop with a PIN,
locked by wrong PINs, revoked and replaced; and the caps on payments without a scan."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from api import offline_payments
from api.offline_payments import Payment
from api.problems import ProblemError
from ledger.card import decode_card
from ledger.note import NoteVerifier
from tests.support.api import MEMBER_START_MINUTES, Actor, World, a_key, open_world
from tests.support.api_checks import problem
from tests.support.qr_codes import decode_svg

REDEEM = "/api/v1/cards/redeem"
PIN = "4821"


async def a_card(world: World, member: Actor, pin: str = PIN) -> dict[str, Any]:
    issued = await world.post(
        "/api/v1/cards", {"member": member.account, "pin": pin}, as_=world.coordinator
    )
    assert issued.status_code == 201, issued.text
    body: dict[str, Any] = issued.json()
    return body


async def pay(world: World, card: dict[str, Any], minutes: int, pin: str = PIN) -> Any:
    body = {"card": card["payload"], "pin": pin, "amount_minutes": minutes}
    return await world.post(REDEEM, body, as_=world.shop_staff)


async def balance(world: World, actor: Actor) -> int:
    account = await world.get(f"/api/v1/accounts/{actor.account}", as_=world.admin)
    value: int = account.json()["balance_minutes"]
    return value


async def set_caps(world: World, **caps: int) -> None:
    settings = {"members_may_transfer": True, **caps}
    answer = await world.post("/api/v1/communities/oost/settings", settings, as_=world.admin)
    assert answer.status_code == 201, answer.text


async def test_a_card_verifies_offline_and_pays_at_a_shop_with_its_pin(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        member = world.members[0]
        card = await a_card(world, member)
        community = (await world.get("/api/v1/communities/oost", as_=world.admin)).json()
        verifier = NoteVerifier.from_key_string(community["verifier_key"])

        paid = await pay(world, card, 40)
        listed = await world.get(
            "/api/v1/cards", as_=world.coordinator, params={"member": member.account}
        )

        claims = decode_card(card["payload"], verifier.public_key)
        assert (claims.community, claims.member, claims.card_id) == (
            "oost",
            member.account,
            card["card"]["id"],
        )
        assert card["card"]["id"].startswith("crd_") and card["payload"].startswith("BMC1:")
        assert decode_svg(card["qr_svg"].encode()) == [card["payload"]]
        assert paid.status_code == 201, paid.text
        assert paid.json()["reference"] == f"card:{claims.card_id}"
        assert await balance(world, member) == MEMBER_START_MINUTES - 40
        assert [c["id"] for c in listed.json()["items"]] == [claims.card_id]
        # No field of a listed card holds or names the PIN (ids are random text, so
        # a word may turn up inside one by chance: look at the fields, not the page).
        fields = {key.lower() for item in listed.json()["items"] for key in item}
        assert not any("pin" in key for key in fields), fields
        assert PIN not in listed.json()["items"][0].values()


async def test_a_card_with_one_changed_byte_is_invalid_and_moves_nothing(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        member = world.members[0]
        card = await a_card(world, member)
        body = card["payload"][5:]
        raw = bytearray(base64.b32decode(body + "=" * (-len(body) % 8)))
        raw[10] ^= 0x20
        forged = "BMC1:" + base64.b32encode(bytes(raw)).decode().rstrip("=")

        refused = await pay(world, card | {"payload": forged}, 40)

        problem(refused, 422, "card_invalid")
        assert await balance(world, member) == MEMBER_START_MINUTES


async def test_a_revoked_card_is_refused_and_its_replacement_pays(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        member = world.members[0]
        lost = await a_card(world, member)

        revoked = await world.post(
            f"/api/v1/cards/{lost['card']['id']}/revoke", as_=world.coordinator
        )
        refused = await pay(world, lost, 10)
        replacement = await a_card(world, member, pin="9135")
        paid = await pay(world, replacement, 10, pin="9135")

        assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
        problem(refused, 409, "card_revoked")
        assert paid.status_code == 201, paid.text
        assert await balance(world, member) == MEMBER_START_MINUTES - 10


async def test_the_fifth_wrong_pin_locks_the_card_and_then_even_the_right_pin_is_refused(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        member = world.members[0]
        card = await a_card(world, member)

        wrong = [await pay(world, card, 10, pin="0000") for _ in range(5)]
        right = await pay(world, card, 10)
        listed = await world.get(
            "/api/v1/cards", as_=world.admin, params={"member": member.account}
        )

        left = [problem(w, 422, "card_pin_wrong")["pin_attempts_left"] for w in wrong]
        assert left == [4, 3, 2, 1, 0]
        problem(right, 409, "card_locked")
        assert listed.json()["items"][0]["status"] == "locked"
        assert await balance(world, member) == MEMBER_START_MINUTES


async def test_a_right_pin_resets_the_count_of_wrong_ones(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        member = world.members[0]
        card = await a_card(world, member)

        for _ in range(4):
            await pay(world, card, 10, pin="0000")
        paid = await pay(world, card, 10)
        wrong_again = [await pay(world, card, 10, pin="0000") for _ in range(4)]
        paid_again = await pay(world, card, 10)

        assert paid.status_code == paid_again.status_code == 201
        assert problem(wrong_again[-1], 422, "card_pin_wrong")["pin_attempts_left"] == 1
        assert await balance(world, member) == MEMBER_START_MINUTES - 20


async def test_the_per_payment_and_per_day_caps_refuse_with_the_numbers(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        await set_caps(world, offline_payment_minutes_max=60, offline_day_minutes_max=100)
        member = world.members[0]
        card = await a_card(world, member)

        too_large = await pay(world, card, 61)
        first = await pay(world, card, 60)
        over_day = await pay(world, card, 50)
        fits = await pay(world, card, 40)
        world.clock.advance(days=1)
        next_day = await pay(world, card, 60)
        community = await world.get("/api/v1/communities/oost", as_=world.member)

        one = problem(too_large, 422, "offline_payment_cap_exceeded")
        assert (one["cap_minutes"], one["amount_minutes"]) == (60, 61)
        day = problem(over_day, 422, "offline_day_cap_exceeded")
        assert (day["cap_minutes"], day["used_minutes"], day["amount_minutes"]) == (100, 60, 50)
        assert day["resets_at"] == "2026-11-29T00:00:00Z"
        assert [a.status_code for a in (first, fits, next_day)] == [201, 201, 201]
        assert await balance(world, member) == MEMBER_START_MINUTES - 160
        caps = community.json()
        assert (caps["offline_payment_minutes_max"], caps["offline_day_minutes_max"]) == (60, 100)


async def test_the_day_cap_holds_under_concurrent_payments(database_url: str) -> None:
    async with open_world(database_url) as world:
        await set_caps(world, offline_payment_minutes_max=60, offline_day_minutes_max=100)
        member = world.members[0]
        card = await a_card(world, member)
        body = {"card": card["payload"], "pin": PIN, "amount_minutes": 40}
        headers = [dict(world.shop_staff.headers, **{"Idempotency-Key": a_key()}) for _ in range(4)]

        answers = world.concurrently([("POST", REDEEM, body, h) for h in headers])

        assert sorted(a.status_code for a in answers) == [201, 201, 422, 422], [
            a.text for a in answers
        ]
        for answer in answers:
            if answer.status_code == 422:
                problem(answer, 422, "offline_day_cap_exceeded")
        assert await balance(world, member) == MEMBER_START_MINUTES - 80


async def test_the_day_cap_holds_when_bookings_overlap_inside_their_transactions(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        await set_caps(world, offline_payment_minutes_max=60, offline_day_minutes_max=100)
        member = world.members[0]
        assert member.account is not None and world.shop_staff.staff_id is not None
        payments = [
            Payment(
                community="oost",
                entry_id=f"overlap-{index}",
                key=f"overlap-{index}",
                actor=world.shop_staff.staff_id,
                member=member.account,
                shop=world.shop,
                amount_minutes=40,
                memo="",
                method="card",
                instrument="crd_test",
            )
            for index in range(6)
        ]

        async def slow_claim(_: object) -> None:
            await asyncio.sleep(0.05)  # so that every booking is inside its transaction at once

        async def book_all() -> list[object]:
            return await asyncio.gather(
                *(offline_payments.book(world.rt, p, slow_claim) for p in payments),
                return_exceptions=True,
            )

        results = world.run(book_all)

        refused = [r.code for r in results if isinstance(r, ProblemError)]
        assert refused == ["offline_day_cap_exceeded"] * 4, results
        assert await balance(world, member) == MEMBER_START_MINUTES - 80


async def test_a_retried_card_payment_returns_the_original(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        member = world.members[0]
        card = await a_card(world, member)
        body = {"card": card["payload"], "pin": PIN, "amount_minutes": 25}
        key = a_key()

        first = await world.post(REDEEM, body, as_=world.shop_staff, key=key)
        retried = await world.post(REDEEM, body, as_=world.shop_staff, key=key)

        assert first.status_code == retried.status_code == 201
        assert first.content == retried.content
        assert await balance(world, member) == MEMBER_START_MINUTES - 25


async def test_a_retried_card_issue_returns_the_same_card_and_another_pin_is_refused(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        member = world.members[0]
        key = a_key()
        body = {"member": member.account, "pin": PIN}

        first = await world.post("/api/v1/cards", body, as_=world.coordinator, key=key)
        retried = await world.post("/api/v1/cards", body, as_=world.coordinator, key=key)
        other_pin = await world.post(
            "/api/v1/cards", body | {"pin": "1111"}, as_=world.coordinator, key=key
        )

        assert first.status_code == retried.status_code == 201
        assert first.json() == retried.json()
        problem(other_pin, 422, "idempotency_key_reused")


async def test_a_card_is_only_for_a_member_account(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        refused = await world.post(
            "/api/v1/cards", {"member": world.shop, "pin": PIN}, as_=world.coordinator
        )
        short_pin = await world.post(
            "/api/v1/cards",
            {"member": world.members[0].account, "pin": "123"},
            as_=world.coordinator,
        )

        problem(refused, 404, "member_not_found")
        problem(short_pin, 422, "request_invalid")


async def test_erasing_a_person_stops_their_cards(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        member = world.members[0]
        card = await a_card(world, member)
        erased = await world.post(f"/api/v1/people/{member.person_id}/erase", as_=world.admin)

        refused = await pay(world, card, 10)

        assert erased.status_code == 200, erased.text
        problem(refused, 409, "card_revoked")
        assert await balance(world, member) == MEMBER_START_MINUTES


async def test_a_payment_the_ledger_refuses_does_not_count_against_the_day_cap(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        await set_caps(world, offline_payment_minutes_max=700, offline_day_minutes_max=700)
        member = world.members[0]
        card = await a_card(world, member)

        too_much = await pay(world, card, MEMBER_START_MINUTES + 50)
        paid = await pay(world, card, 500)

        refusal = problem(too_much, 422, "exceeds_balance")
        # The till hears that the credits do not cover it, not how many the member holds.
        assert not {"balance_minutes", "floor_minutes"} & set(refusal), refusal
        assert str(MEMBER_START_MINUTES) not in too_much.text
        assert paid.status_code == 201, paid.text
        assert await balance(world, member) == MEMBER_START_MINUTES - 500
