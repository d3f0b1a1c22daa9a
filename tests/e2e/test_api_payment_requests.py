"""Paying a shop (and a neighbour) by a payment request's QR code, through the API."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from api import qr
from ledger.ids import milliseconds_of
from tests.support.api import MEMBER_START_MINUTES, World, a_key, open_world
from tests.support.api_checks import journal_verifies, problem, receipt_verifies
from tests.support.qr_codes import decode_png, decode_svg

RACERS = 50


async def a_request(world: World, minutes: int = 90, **extra: Any) -> dict[str, Any]:
    made = await world.post(
        "/api/v1/payment-requests",
        {"amount_minutes": minutes, "memo": "Gehakt"} | extra,
        as_=world.shop_staff,
    )
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


async def balance(world: World, account: str | None) -> int:
    found = await world.get(f"/api/v1/accounts/{account}", as_=world.admin)
    minutes: int = found.json()["balance_minutes"]
    return minutes


def sse_events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in response.text.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields.get("data", "{}"))))
    return events


async def test_a_member_pays_a_shops_request_once_and_the_shop_is_credited(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        request = await a_request(world, 90)
        seen = await world.get(f"/api/v1/payment-requests/{request['id']}", as_=world.member)
        paid = await world.post(
            f"/api/v1/payment-requests/{request['id']}/pay", {}, as_=world.member
        )
        again = await world.post(
            f"/api/v1/payment-requests/{request['id']}/pay", {}, as_=world.member
        )

        assert seen.json()["payee_name"] == "Slagerij" and seen.json()["amount_minutes"] == 90
        assert "payee" not in seen.json(), "a payer does not see the shop's record"
        assert paid.status_code == 200, paid.text
        body = paid.json()
        assert body["kind"] == "redeem" and body["amount_minutes"] == 90
        assert body["payer_name"] == "Member 0" and body["payee_name"] == "Slagerij"
        assert again.json()["entry_id"] == body["entry_id"], "a retry is the same payment"
        assert await balance(world, world.member.account) == MEMBER_START_MINUTES - 90
        assert await balance(world, world.shop) == 90
        record = await world.get(f"/api/v1/payment-requests/{request['id']}", as_=world.shop_staff)
        assert record.json()["status"] == "paid"
        assert record.json()["payer_name"] == "Member 0"
        assert record.json()["entry_id"] == body["entry_id"]
        assert record.json()["decided_at"] == body["time"][:19] + "Z", "paid when its entry was"
        await receipt_verifies(world, body["entry_id"], world.member)
        await journal_verifies(world, world.auditor)


async def test_fifty_concurrent_pays_of_one_request_book_exactly_one_redeem(
    database_url: str,
) -> None:
    async with open_world(database_url, members=3) as world:
        request = await a_request(world, 60)
        path = f"/api/v1/payment-requests/{request['id']}/pay"
        payers = [world.members[i % 3] for i in range(RACERS)]

        answers = world.concurrently(
            [("POST", path, {}, {**m.headers, "Idempotency-Key": a_key()}) for m in payers]
        )

        ok = [a for a in answers if a.status_code == 200]
        assert all(a.status_code in (200, 409) for a in answers), [a.text for a in answers]
        assert len({a.json()["entry_id"] for a in ok}) == 1
        winner = ok[0].json()["payer_name"]
        assert all(a.json()["payer_name"] == winner for a in ok)
        refused = {a.json()["code"] for a in answers if a.status_code == 409}
        assert refused <= {"payment_request_paid", "payment_request_in_progress"}
        assert await balance(world, world.shop) == 60
        total = sum([await balance(world, m.account) for m in world.members])
        assert total == 3 * MEMBER_START_MINUTES - 60


async def test_a_pay_racing_a_cancel_has_one_outcome(database_url: str) -> None:
    async with open_world(database_url) as world:
        for _ in range(5):
            request = await a_request(world, 30)
            base = f"/api/v1/payment-requests/{request['id']}"
            paying = {**world.member.headers, "Idempotency-Key": a_key()}
            cancelling = {**world.shop_staff.headers, "Idempotency-Key": a_key()}
            pay, cancel = world.concurrently(
                [("POST", f"{base}/pay", {}, paying), ("POST", f"{base}/cancel", None, cancelling)]
            )
            final = (await world.get(base, as_=world.shop_staff)).json()["status"]
            if pay.status_code == 200:
                assert final == "paid" and cancel.status_code == 409
            else:
                assert final == "cancelled" and cancel.status_code == 200
                assert pay.json()["code"] in ("payment_request_cancelled",)
        shop = await balance(world, world.shop)
        paid = MEMBER_START_MINUTES - await balance(world, world.member.account)
        assert shop == paid


async def test_paid_cancelled_expired_and_unknown_requests_refuse_and_move_nothing(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        paid = await a_request(world, 10)
        await world.post(f"/api/v1/payment-requests/{paid['id']}/pay", {}, as_=world.member)
        cancelled = await a_request(world, 10)
        await world.post(f"/api/v1/payment-requests/{cancelled['id']}/cancel", as_=world.shop_staff)
        expired = await a_request(world, 10)
        world.clock.advance(minutes=11)
        before = await balance(world, world.members[1].account)

        def pay(request_id: str) -> Any:
            path = f"/api/v1/payment-requests/{request_id}/pay"
            return world.post(path, {}, as_=world.members[1])

        problem(await pay(paid["id"]), 409, "payment_request_paid")
        problem(await pay(cancelled["id"]), 409, "payment_request_cancelled")
        problem(await pay(expired["id"]), 410, "payment_request_expired")
        unknown = problem(await pay("A" * 26), 404, "payment_request_not_found")
        assert "A" * 26 not in unknown["detail"]
        assert await balance(world, world.members[1].account) == before
        assert await balance(world, world.shop) == 10


async def test_a_member_without_enough_credit_is_refused_and_the_request_stays_open(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        request = await a_request(world, MEMBER_START_MINUTES + 1)
        path = f"/api/v1/payment-requests/{request['id']}/pay"

        refused = await world.post(path, {}, as_=world.member)
        status = await world.get(f"/api/v1/payment-requests/{request['id']}", as_=world.member)

        problem(refused, 422, "exceeds_balance")
        assert status.json()["status"] == "open"
        # Another member with enough credit can still pay it.
        await world.post(
            "/api/v1/transfers",
            {"payee": world.members[1].account, "amount_minutes": MEMBER_START_MINUTES},
            as_=world.member,
        )
        paid = await world.post(path, {}, as_=world.members[1])
        again = await world.get(f"/api/v1/payment-requests/{request['id']}", as_=world.shop_staff)
        assert paid.status_code == 200, paid.text
        # The second attempt's entry, under an id of its own.
        assert milliseconds_of(paid.json()["entry_id"]) is not None
        assert again.json()["entry_id"] == paid.json()["entry_id"]


async def test_a_neighbour_pays_a_pay_me_request_with_the_amount_they_type(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        asked = await world.post(
            "/api/v1/payment-requests", {"memo": "Boodschappen"}, as_=world.members[1]
        )
        request = asked.json()
        path = f"/api/v1/payment-requests/{request['id']}/pay"

        missing = await world.post(path, {}, as_=world.member)
        own = await world.post(path, {"amount_minutes": 30}, as_=world.members[1])
        paid = await world.post(path, {"amount_minutes": 45}, as_=world.member)

        assert asked.status_code == 201 and request["amount_minutes"] is None
        problem(missing, 422, "amount_required")
        problem(own, 422, "payer_must_differ_from_payee")
        assert paid.json()["kind"] == "transfer" and paid.json()["amount_minutes"] == 45
        assert await balance(world, world.members[1].account) == MEMBER_START_MINUTES + 45


async def test_a_pay_me_request_is_refused_where_members_may_not_transfer(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        await world.post(
            "/api/v1/communities/oost/settings",
            {"members_may_transfer": False, "member_earning_cap_minutes_per_month": 2400},
            as_=world.admin,
        )

        asked = await world.post("/api/v1/payment-requests", {}, as_=world.member)

        problem(asked, 403, "transfers_between_members_disabled")


async def test_every_qr_code_decodes_to_the_pay_url_at_version_4_or_less(sqlite_url: str) -> None:
    async with open_world(sqlite_url, public_url="https://buurtmunt.amsterdam.nl") as world:
        request = await a_request(world)
        png = await world.get(request["qr_png_url"], as_=world.shop_staff)
        svg = await world.get(request["qr_svg_url"], as_=world.member)

        assert decode_png(png.content) == [request["pay_url"]]
        assert decode_svg(svg.content) == [request["pay_url"]]
        assert request["pay_url"] == f"HTTPS://BUURTMUNT.AMSTERDAM.NL/P/{request['id']}"
        assert qr.version(request["pay_url"]) <= 4
        assert svg.headers["content-type"].startswith("image/svg+xml")
        assert b"<svg" in svg.content


async def test_the_shops_event_stream_says_paid_with_the_payer_and_receipt(
    database_url: str,
) -> None:
    async with open_world(database_url, event_heartbeat_seconds=0.2) as world:
        request = await a_request(world, 15)
        base = f"/api/v1/payment-requests/{request['id']}"

        async def watch_then_pay() -> list[httpx.Response]:
            transport = httpx.ASGITransport(app=world.app)  # type: ignore[arg-type]
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                stream = asyncio.ensure_future(
                    c.get(f"{base}/events", headers=world.shop_staff.headers)
                )
                await asyncio.sleep(0.5)
                pay = await c.post(
                    f"{base}/pay",
                    json={},
                    headers={**world.member.headers, "Idempotency-Key": a_key()},
                )
                return [await asyncio.wait_for(stream, 5), pay]

        stream, pay = world.run(watch_then_pay)

        events = sse_events(stream)
        kinds = [kind for kind, _ in events]
        assert kinds[-1] == "paid" and "heartbeat" in kinds
        paid = events[-1][1]
        assert paid["entry_id"] == pay.json()["entry_id"]
        assert paid["payer_name"] == "Member 0"
        assert paid["receipt_url"] == f"/api/v1/receipts/{paid['entry_id']}"
        assert paid["paid_at"] == pay.json()["time"][:19] + "Z", "paid when its entry was"


async def test_the_event_stream_says_expired_and_cancelled(sqlite_url: str) -> None:
    async with open_world(sqlite_url, event_heartbeat_seconds=0.1) as world:
        expiring = await a_request(world)
        cancelled = await a_request(world)
        await world.post(f"/api/v1/payment-requests/{cancelled['id']}/cancel", as_=world.shop_staff)
        world.clock.advance(minutes=10, seconds=1)

        expired = await world.get(expiring["events_url"], as_=world.shop_staff)
        gone = await world.get(cancelled["events_url"], as_=world.shop_staff)

        assert [k for k, _ in sse_events(expired)] == ["expired"]
        assert [k for k, _ in sse_events(gone)] == ["cancelled"]


async def test_only_the_payee_side_watches_or_cancels(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        request = await a_request(world)

        watch = await world.get(request["events_url"], as_=world.member)
        cancel = await world.post(
            f"/api/v1/payment-requests/{request['id']}/cancel", as_=world.member
        )

        problem(watch, 403, "not_your_payment_request")
        problem(cancel, 403, "not_your_payment_request")


async def test_a_retried_create_returns_the_same_request(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        key = a_key()
        first = await world.post(
            "/api/v1/payment-requests", {"amount_minutes": 5}, as_=world.shop_staff, key=key
        )
        second = await world.post(
            "/api/v1/payment-requests", {"amount_minutes": 5}, as_=world.shop_staff, key=key
        )
        other = await world.post(
            "/api/v1/payment-requests", {"amount_minutes": 6}, as_=world.shop_staff, key=key
        )

        assert first.json()["id"] == second.json()["id"]
        problem(other, 422, "idempotency_key_reused")
