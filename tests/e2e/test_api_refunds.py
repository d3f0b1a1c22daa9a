"""Refunds through the API: the shop that took a payment gives (part of) it back, in time."""

from __future__ import annotations

from typing import Any

import httpx

from ledger.model import Entry
from tests.support.api import MEMBER_START_MINUTES, Actor, World, a_key, open_world
from tests.support.api_checks import journal_verifies, problem, receipt_verifies
from tests.support.shop_payments import a_payment, another_shop_staff, balance


async def a_refund(
    world: World,
    payment: Entry,
    minutes: int | None = None,
    *,
    as_: Actor | None = None,
    key: str | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"entry_id": payment.id, "reason": "verkeerd aangeslagen"}
    if minutes is not None:
        body["amount_minutes"] = minutes
    return await world.post("/api/v1/refunds", body, as_=as_ or world.shop_staff, key=key)


async def balances(world: World) -> tuple[int, int]:
    """(the first member's, the shop's)."""
    return await balance(world, world.members[0].account), await balance(world, world.shop)


async def test_a_shop_gives_part_of_a_payment_back_to_the_member(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        payment = a_payment(world, 120)

        refunded = await a_refund(world, payment, 45)

        assert refunded.status_code == 201, refunded.text
        body = refunded.json()
        assert body["original_entry_id"] == payment.id
        assert (body["amount_minutes"], body["remaining_minutes"]) == (45, 75)
        assert body["reason"] == "verkeerd aangeslagen"
        assert await balances(world) == (MEMBER_START_MINUTES - 120 + 45, 120 - 45)
        receipt = await receipt_verifies(world, body["id"], world.member)
        assert f'"corrects":{payment.seq}' in receipt["entry"]
        await journal_verifies(world, world.auditor)


async def test_a_refund_without_an_amount_gives_back_all_that_is_left(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        payment = a_payment(world, 90)

        refunded = await a_refund(world, payment)

        assert refunded.status_code == 201, refunded.text
        assert (refunded.json()["amount_minutes"], refunded.json()["remaining_minutes"]) == (90, 0)
        assert await balances(world) == (MEMBER_START_MINUTES, 0)


async def test_two_partial_refunds_may_add_up_to_the_payment_and_a_third_is_refused(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        payment = a_payment(world, 120)

        first = await a_refund(world, payment, 50)
        second = await a_refund(world, payment)
        third = await a_refund(world, payment, 1)

        assert first.status_code == 201, first.text
        assert second.status_code == 201, second.text  # needs several corrections per entry
        assert (second.json()["amount_minutes"], second.json()["remaining_minutes"]) == (70, 0)
        refused = problem(third, 422, "refund_exceeds_payment")
        assert (refused["remaining_minutes"], refused["payment_minutes"]) == (0, 120)
        assert await balances(world) == (MEMBER_START_MINUTES, 0)


async def test_a_refund_above_what_is_left_is_refused_and_nothing_moves(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        payment = a_payment(world, 60)
        before = await balances(world)
        size = await journal_verifies(world, world.auditor)

        refused = await a_refund(world, payment, 61)

        body = problem(refused, 422, "refund_exceeds_payment")
        assert (body["remaining_minutes"], body["payment_minutes"]) == (60, 60)
        assert await balances(world) == before
        assert await journal_verifies(world, world.auditor) == size


async def test_a_refund_after_the_window_is_refused_and_nothing_moves(sqlite_url: str) -> None:
    async with open_world(sqlite_url, refund_window_days=14) as world:
        late = a_payment(world, 60)
        world.clock.advance(days=13, hours=23)
        in_time = a_payment(world, 30)
        world.clock.advance(hours=2)
        before = await balances(world)

        refused = await a_refund(world, late)
        allowed = await a_refund(world, in_time)

        body = problem(refused, 422, "refund_window_closed")
        assert body["refund_window_days"] == 14 and body["paid_at"] == late.time
        assert body["closed_at"] == "2026-12-12T09:30:00Z"
        assert allowed.status_code == 201, allowed.text
        assert await balances(world) == (before[0] + 30, before[1] - 30)


async def test_another_shop_can_neither_refund_a_payment_nor_learn_that_it_exists(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        payment = a_payment(world, 60)
        _, other = await another_shop_staff(world)
        before = await balances(world)

        theirs = await a_refund(world, payment, as_=other)
        nothing = await world.post(
            "/api/v1/refunds", {"entry_id": "no-such-entry"}, as_=world.shop_staff
        )

        refused = problem(theirs, 404, "entry_not_found")
        absent = problem(nothing, 404, "entry_not_found")
        assert set(refused) == set(absent)
        # The answer names the id asked for, whose random part may hold the seq's digits.
        said = theirs.text.replace(payment.id, "")
        assert world.shop not in said and str(payment.seq) not in said
        assert await balances(world) == before


async def test_only_a_payment_can_be_refunded(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        a_payment(world, 60)
        settled = await world.post("/api/v1/settlements", {"shop": world.shop}, as_=world.admin)
        gift = await world.post(
            "/api/v1/transfers",
            {"payee": world.members[1].account, "amount_minutes": 15},
            as_=world.member,
        )

        own_settlement = await world.post(
            "/api/v1/refunds", {"entry_id": settled.json()["id"]}, as_=world.shop_staff
        )
        members_gift = await world.post(
            "/api/v1/refunds", {"entry_id": gift.json()["id"]}, as_=world.shop_staff
        )

        assert problem(own_settlement, 422, "not_a_payment")["kind"] == "settle"
        problem(members_gift, 404, "entry_not_found")


async def test_a_retried_refund_returns_the_first_answer_and_moves_nothing_twice(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        payment = a_payment(world, 60)
        key = a_key()

        first = await a_refund(world, payment, key=key)
        world.clock.advance(days=30)  # even after the window: it is the same refund
        again = await a_refund(world, payment, key=key)
        changed = await a_refund(world, payment, 10, key=key)

        assert first.status_code == 201 and again.status_code == 201, again.text
        assert again.json() == first.json()
        problem(changed, 409, "exists_with_different_amount")
        assert await balances(world) == (MEMBER_START_MINUTES, 0)


async def test_racing_full_refunds_give_the_payment_back_once(database_url: str) -> None:
    async with open_world(database_url) as world:
        payment = a_payment(world, 100)
        request = ("POST", "/api/v1/refunds", {"entry_id": payment.id})

        answers = world.concurrently(
            [(*request, {**world.shop_staff.headers, "Idempotency-Key": a_key()}) for _ in range(3)]
        )

        booked = [a for a in answers if a.status_code == 201]
        refused = [a.json()["code"] for a in answers if a.status_code != 201]
        assert len(booked) == 1, [a.text for a in answers]
        assert booked[0].json()["amount_minutes"] == 100
        assert set(refused) <= {"already_corrected", "refund_exceeds_payment"}, refused
        assert await balances(world) == (MEMBER_START_MINUTES, 0)
        await journal_verifies(world, world.auditor)


async def test_the_same_refund_sent_at_once_several_times_answers_each_with_the_one_refund(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        for _ in range(8):  # the twins land in a different order each time
            payment = a_payment(world, 10)
            request = ("POST", "/api/v1/refunds", {"entry_id": payment.id})
            headers = {**world.shop_staff.headers, "Idempotency-Key": a_key()}

            answers = world.concurrently([(*request, headers) for _ in range(3)])

            assert [a.status_code for a in answers] == [201] * 3, [a.text for a in answers]
            assert len({a.json()["id"] for a in answers}) == 1
        assert await balances(world) == (MEMBER_START_MINUTES, 0)


async def test_racing_partial_refunds_never_give_back_more_than_the_payment(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        payment = a_payment(world, 100)
        request = ("POST", "/api/v1/refunds", {"entry_id": payment.id, "amount_minutes": 40})

        answers = world.concurrently(
            [(*request, {**world.shop_staff.headers, "Idempotency-Key": a_key()}) for _ in range(3)]
        )

        booked = [a for a in answers if a.status_code == 201]
        refused = [a for a in answers if a.status_code != 201]
        # Two fit in the payment (80 of 100); the third would exceed it.
        assert len(booked) == 2, [a.text for a in answers]
        assert [a.json()["code"] for a in refused] in (
            ["correction_exceeds_original"],
            ["refund_exceeds_payment"],
        )
        assert await balances(world) == (MEMBER_START_MINUTES - 100 + 80, 20)
        await journal_verifies(world, world.auditor)


async def test_a_refund_needs_the_credits_still_in_the_shop(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        payment = a_payment(world, 60)
        settled = await world.post("/api/v1/settlements", {"shop": world.shop}, as_=world.admin)

        refused = await a_refund(world, payment, 30)

        assert settled.status_code == 201, settled.text
        body = problem(refused, 422, "refund_exceeds_shop_balance")
        assert (body["balance_minutes"], body["amount_minutes"]) == (0, 30)
        assert "settled" in body["detail"]
        assert await balances(world) == (MEMBER_START_MINUTES - 60, 0)


async def test_an_admins_correction_without_an_amount_reverses_what_the_refunds_left(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        payment = a_payment(world, 100)
        await a_refund(world, payment, 30)
        key = a_key()
        body = {"entry_id": payment.id, "reason": "dubbel geboekt"}

        corrected = await world.post("/api/v1/corrections", body, as_=world.admin, key=key)
        retried = await world.post("/api/v1/corrections", body, as_=world.admin, key=key)
        again = await world.post("/api/v1/corrections", body, as_=world.admin)

        assert corrected.status_code == 201, corrected.text
        assert corrected.json()["postings"][0]["amount_minutes"] == 70
        assert retried.json()["id"] == corrected.json()["id"]
        problem(again, 409, "already_corrected")
        assert await balances(world) == (MEMBER_START_MINUTES, 0)
