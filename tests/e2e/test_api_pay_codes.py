"""Pay codes through the API: a linked phone's code pays a shop once, and only once.

Also the members' "this was not me" reports, which coordinators list.
"""

from __future__ import annotations

import base64
from typing import Any

from api import pay_codes
from api.tables import PayCodeDeviceRow
from tests.support.api import MEMBER_START_MINUTES, Actor, World, a_key, open_world
from tests.support.api_checks import problem, receipt_verifies
from tests.support.qr_codes import decode_svg

REDEEM = "/api/v1/pay-codes/redeem"


async def a_phone(world: World, index: int = 0) -> Actor:
    """Link a phone for member ``index`` as a resident would: an enrolment link, redeemed."""
    member = world.members[index]
    link = await world.post(
        f"/api/v1/people/{member.person_id}/enrolment-links", as_=world.coordinator
    )
    token = link.json()["url"].rsplit("/", 1)[1]
    device = await world.post("/api/v1/enrolment/redeem", {"token": token}, as_=None)
    assert device.status_code == 201, device.text
    session = device.json()
    return Actor("member", member.person_id, session["session_token"], session["device_id"],
                 None, member.account)  # fmt: skip


async def code_of(world: World, phone: Actor) -> str:
    """The code the phone shows now, computed offline from what the API gave it."""
    device = await world.get("/api/v1/pay-codes/device", as_=phone)
    assert device.status_code == 200, device.text
    body = device.json()
    secret = base64.b32decode(body["secret"] + "=" * (-len(body["secret"]) % 8))
    code = pay_codes.code_at(body["device_number"], secret, world.clock.now().timestamp())
    assert code == body["code"]
    return code


def wrong(code: str) -> str:
    return code[:6] + f"{(int(code[6:]) + 1) % 10**6:06d}"


async def balance(world: World, actor: Actor) -> int:
    account = await world.get(f"/api/v1/accounts/{actor.account}", as_=world.admin)
    value: int = account.json()["balance_minutes"]
    return value


async def redeems(world: World, actor: Actor) -> list[dict[str, Any]]:
    page = await world.get(f"/api/v1/accounts/{actor.account}/entries", as_=world.admin)
    return [e for e in page.json()["items"] if e["kind"] == "redeem"]


async def test_a_shop_takes_a_phones_code_once_and_the_member_sees_the_payment(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        phone = await a_phone(world)
        code = await code_of(world, phone)

        paid = await world.post(
            REDEEM, {"code": code, "amount_minutes": 45, "memo": "gehakt"}, as_=world.shop_staff
        )
        again = await world.post(REDEEM, {"code": code, "amount_minutes": 45}, as_=world.shop_staff)

        assert paid.status_code == 201, paid.text
        body = paid.json()
        assert (body["member"], body["shop"], body["amount_minutes"]) == (
            phone.account, world.shop, 45,
        )  # fmt: skip
        assert body["reference"] == f"code:{code[:6]}" and body["method"] == "code"
        problem(again, 409, "pay_code_used")
        assert await balance(world, phone) == MEMBER_START_MINUTES - 45
        page = await world.get(f"/api/v1/accounts/{phone.account}/entries", as_=phone)
        history = [e for e in page.json()["items"] if e["kind"] == "redeem"]
        assert [(e["id"], e["reference"]) for e in history] == [
            (body["entry_id"], body["reference"])
        ]
        receipt = await receipt_verifies(world, body["entry_id"], phone)
        assert '"actor":"' + str(world.shop_staff.staff_id) in receipt["entry"]


async def test_the_next_step_gives_a_new_code_that_pays_again(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        phone = await a_phone(world)
        first = await code_of(world, phone)
        await world.post(REDEEM, {"code": first, "amount_minutes": 10}, as_=world.shop_staff)
        world.clock.advance(seconds=30)
        second = await code_of(world, phone)

        paid = await world.post(
            REDEEM, {"code": second, "amount_minutes": 10}, as_=world.shop_staff
        )

        assert first != second
        assert paid.status_code == 201, paid.text
        assert await balance(world, phone) == MEMBER_START_MINUTES - 20


async def test_a_retried_redeem_returns_the_original_payment(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        phone = await a_phone(world)
        body = {"code": await code_of(world, phone), "amount_minutes": 30}
        key = a_key()

        first = await world.post(REDEEM, body, as_=world.shop_staff, key=key)
        retried = await world.post(REDEEM, body, as_=world.shop_staff, key=key)
        changed = await world.post(
            REDEEM, body | {"amount_minutes": 31}, as_=world.shop_staff, key=key
        )

        assert first.status_code == retried.status_code == 201
        assert first.content == retried.content
        problem(changed, 422, "idempotency_key_reused")
        assert len(await redeems(world, phone)) == 1
        assert await balance(world, phone) == MEMBER_START_MINUTES - 30


async def test_a_till_locked_out_still_gets_its_earlier_payment_back(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        from api import limits

        phone = await a_phone(world)
        body = {"code": await code_of(world, phone), "amount_minutes": 30}
        key = a_key()
        first = await world.post(REDEEM, body, as_=world.shop_staff, key=key)
        for n in range(limits.PAYMENT_FAILURES_MAX):  # codes of no phone lock the till out
            await world.post(REDEEM, body | {"code": f"{900000 + n}000000"}, as_=world.shop_staff)

        new = await world.post(REDEEM, body | {"amount_minutes": 5}, as_=world.shop_staff)
        retried = await world.post(REDEEM, body, as_=world.shop_staff, key=key)

        problem(new, 429, "locked_out")
        assert first.status_code == retried.status_code == 201, retried.text
        assert first.content == retried.content
        assert len(await redeems(world, phone)) == 1


async def test_two_concurrent_redeems_of_one_code_book_one_payment(database_url: str) -> None:
    async with open_world(database_url) as world:
        phone = await a_phone(world)
        body = {"code": await code_of(world, phone), "amount_minutes": 20}
        headers = [dict(world.shop_staff.headers, **{"Idempotency-Key": a_key()}) for _ in range(6)]

        answers = world.concurrently([("POST", REDEEM, body, h) for h in headers])

        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201, 409, 409, 409, 409, 409], [a.text for a in answers]
        for answer in answers:
            if answer.status_code == 409:
                problem(answer, 409, "pay_code_used")
        assert len(await redeems(world, phone)) == 1
        assert await balance(world, phone) == MEMBER_START_MINUTES - 20


async def test_concurrent_retries_of_one_redeem_all_answer_the_one_payment(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        phone = await a_phone(world)
        body = {"code": await code_of(world, phone), "amount_minutes": 20}
        headers = dict(world.shop_staff.headers, **{"Idempotency-Key": a_key()})

        answers = world.concurrently([("POST", REDEEM, body, headers)] * 6)

        assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
        assert len({a.json()["entry_id"] for a in answers}) == 1
        assert len(await redeems(world, phone)) == 1


async def test_a_code_from_a_signed_out_phone_is_refused(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        phone = await a_phone(world)
        code = await code_of(world, phone)
        revoked = await world.post(
            f"/api/v1/devices/{phone.credential_id}/revoke", as_=world.coordinator
        )

        refused = await world.post(
            REDEEM, {"code": code, "amount_minutes": 5}, as_=world.shop_staff
        )

        assert revoked.status_code == 200
        problem(refused, 422, "pay_code_invalid")
        assert await redeems(world, phone) == []


async def test_five_wrong_codes_lock_the_phones_codes_for_a_while(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        phone = await a_phone(world)
        code = await code_of(world, phone)
        body = {"code": wrong(code), "amount_minutes": 5}

        tries = [await world.post(REDEEM, body, as_=world.shop_staff) for _ in range(5)]
        locked = await world.post(REDEEM, {"code": code, "amount_minutes": 5}, as_=world.shop_staff)
        world.clock.advance(minutes=15, seconds=30)
        later = await world.post(
            REDEEM, {"code": await code_of(world, phone), "amount_minutes": 5}, as_=world.shop_staff
        )

        for answer in tries:
            problem(answer, 422, "pay_code_invalid")
        assert problem(locked, 429, "pay_code_locked")["retry_after_seconds"] > 0
        assert later.status_code == 201, later.text


async def test_an_unknown_device_number_answers_exactly_like_a_wrong_code(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        phone = await a_phone(world)
        code = await code_of(world, phone)
        unknown = f"{(int(code[:6]) + 1) % 10**6:06d}" + code[6:]

        wrong_code = await world.post(
            REDEEM, {"code": wrong(code), "amount_minutes": 5}, as_=world.shop_staff
        )
        no_device = await world.post(
            REDEEM, {"code": unknown, "amount_minutes": 5}, as_=world.shop_staff
        )
        for _ in range(4):
            await world.post(REDEEM, {"code": unknown, "amount_minutes": 5}, as_=world.shop_staff)
        no_device_locked = await world.post(
            REDEEM, {"code": unknown, "amount_minutes": 5}, as_=world.shop_staff
        )

        assert no_device.json() == wrong_code.json()
        problem(no_device, 422, "pay_code_invalid")
        problem(no_device_locked, 429, "pay_code_locked")


async def test_only_a_members_linked_phone_gets_a_pay_code_secret(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        api_token = await world.get("/api/v1/pay-codes/device", as_=world.member)
        staff = await world.get("/api/v1/pay-codes/device", as_=world.shop_staff)
        phone = await world.get("/api/v1/pay-codes/device", as_=await a_phone(world))

        problem(api_token, 403, "device_session_required")
        problem(staff, 403, "forbidden")
        assert phone.status_code == 200
        body = phone.json()
        assert len(body["device_number"]) == 6 and len(body["code"]) == 12
        assert (body["algorithm"], body["digits"], body["step_seconds"]) == ("SHA1", 6, 30)
        assert "no-store" in phone.headers["cache-control"]
        assert decode_svg(body["qr_svg"].encode()) == [body["code"]]


async def test_a_code_refused_by_the_payment_cap_still_pays_a_smaller_amount(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        settings = {"members_may_transfer": True, "offline_payment_minutes_max": 60}
        await world.post("/api/v1/communities/oost/settings", settings, as_=world.admin)
        phone = await a_phone(world)
        code = await code_of(world, phone)

        capped = await world.post(
            REDEEM, {"code": code, "amount_minutes": 61}, as_=world.shop_staff
        )
        paid = await world.post(REDEEM, {"code": code, "amount_minutes": 60}, as_=world.shop_staff)

        refusal = problem(capped, 422, "offline_payment_cap_exceeded")
        assert (refusal["cap_minutes"], refusal["amount_minutes"]) == (60, 61)
        assert paid.status_code == 201, paid.text


async def test_staff_take_payments_only_for_their_own_shop(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        phone = await a_phone(world)
        body = {"code": await code_of(world, phone), "amount_minutes": 5, "shop": world.org}

        refused = await world.post(REDEEM, body, as_=world.shop_staff)

        problem(refused, 403, "not_your_shop")


async def test_a_member_reports_a_payment_and_coordinators_see_the_report(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        phone = await a_phone(world)
        paid = await world.post(
            REDEEM,
            {"code": await code_of(world, phone), "amount_minutes": 15},
            as_=world.shop_staff,
        )
        entry_id = paid.json()["entry_id"]
        report = {"entry_id": entry_id, "note": "Ik was thuis"}

        by_other = await world.post("/api/v1/payment-reports", report, as_=world.members[1])
        unknown = await world.post(
            "/api/v1/payment-reports", report | {"entry_id": "nothing-here"}, as_=world.members[1]
        )
        before = await world.get("/api/v1/payment-reports", as_=world.coordinator)
        key = a_key()
        reported = await world.post("/api/v1/payment-reports", report, as_=phone, key=key)
        retried = await world.post("/api/v1/payment-reports", report, as_=phone, key=key)
        reused = await world.post(
            "/api/v1/payment-reports", report | {"note": "toch wel"}, as_=phone, key=key
        )
        listed = await world.get("/api/v1/payment-reports", as_=world.coordinator)

        assert problem(by_other, 404, "payment_not_found") == problem(
            unknown, 404, "payment_not_found"
        )
        assert before.json()["items"] == []
        assert reported.status_code == retried.status_code == 201, reported.text
        assert retried.content == reported.content
        problem(reused, 422, "idempotency_key_reused")
        items = listed.json()["items"]
        assert [(i["entry_id"], i["member"], i["instrument"], i["note"]) for i in items] == [
            (entry_id, phone.account, paid.json()["reference"][5:], "Ik was thuis")
        ]


async def test_a_phone_linked_before_pay_codes_existed_gets_them_on_first_ask(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        phone = await a_phone(world)

        async def forget_device() -> None:
            async with world.rt.db.write() as session:
                row = await session.get(PayCodeDeviceRow, phone.credential_id)
                assert row is not None
                await session.delete(row)

        world.run(forget_device)
        code = await code_of(world, phone)
        paid = await world.post(REDEEM, {"code": code, "amount_minutes": 5}, as_=world.shop_staff)

        assert paid.status_code == 201, paid.text
