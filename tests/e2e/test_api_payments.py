"""Earnings, transfers and corrections through the API, with the ledger's rules as problems."""

from __future__ import annotations

from tests.support.api import (
    CAP_MINUTES,
    MEMBER_START_MINUTES,
    ORG_B_BUDGET_MINUTES,
    World,
    open_world,
)
from tests.support.api_checks import journal_verifies, problem, receipt_verifies

ARABIC_150 = "\u0661\u0665\u0660"  # 150 in Arabic-Indic digits


def earning(world: World, index: int, minutes: int, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "member": world.members[index].account,
        "amount_minutes": minutes,
        "activity": "boodschappen",
        "worked_on": "2026-11-27",
    }
    return body | extra


async def balance(world: World, member: int) -> int:
    account = await world.get(f"/api/v1/accounts/{world.members[member].account}", as_=world.admin)
    value: int = account.json()["balance_minutes"]
    return value


async def test_a_coordinator_books_volunteer_work_from_their_organisation(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        booked = await world.post("/api/v1/earnings", earning(world, 1, 90), as_=world.coordinator)

        assert booked.status_code == 201
        body = booked.json()
        assert body["status"] == "booked"
        assert (body["organisation"], body["recorded_by"]) == (
            world.org,
            world.coordinator.staff_id,
        )
        assert body["activity"] == "boodschappen" and body["worked_on"] == "2026-11-27"
        assert await balance(world, 1) == MEMBER_START_MINUTES + 90
        receipt = await receipt_verifies(world, body["id"], world.members[1])
        assert '"actor":"' + str(world.coordinator.staff_id) in receipt["entry"]
        assert "Member 1" not in receipt["entry"]  # the journal holds ids, never names
        organisation = await world.get(f"/api/v1/organisations/{world.org}", as_=world.coordinator)
        assert organisation.json()["issued_minutes"] >= 90


async def test_budget_and_cap_refusals_say_the_numbers_and_when_they_reset(sqlite_url: str) -> None:
    async with open_world(sqlite_url, approval_threshold_minutes=100_000) as world:
        # Each member earned 600 in the seed; the cap is 2400 a month per member.
        first = await world.post(
            "/api/v1/earnings", earning(world, 0, 300), as_=world.coordinator_b
        )
        await world.post("/api/v1/earnings", earning(world, 1, 1800), as_=world.coordinator_b)
        await world.post("/api/v1/earnings", earning(world, 0, 900), as_=world.coordinator_b)
        refused = await world.post(
            "/api/v1/earnings", earning(world, 1, 400), as_=world.coordinator_b
        )
        capped = await world.post("/api/v1/earnings", earning(world, 0, 700), as_=world.coordinator)

        assert first.status_code == 201
        body = problem(refused, 422, "exceeds_monthly_budget")
        assert body["budget_minutes_per_month"] == ORG_B_BUDGET_MINUTES
        assert body["issued_minutes"] == ORG_B_BUDGET_MINUTES
        assert body["month"] == "2026-11" and body["resets_at"] == "2026-12-01T00:00:00Z"
        cap = problem(capped, 422, "exceeds_monthly_earning_cap")
        assert cap["cap_minutes_per_month"] == CAP_MINUTES and cap["earned_minutes"] == 1800
        assert cap["resets_at"] == "2026-12-01T00:00:00Z"


async def test_a_large_earning_waits_for_a_second_coordinator(database_url: str) -> None:
    async with open_world(database_url, members=2) as world:
        held = await world.post("/api/v1/earnings", earning(world, 1, 600), as_=world.coordinator)
        earning_id = held.json()["id"]
        waiting = await world.get("/api/v1/earnings/pending", as_=world.coordinator2)
        own = await world.post(f"/api/v1/earnings/{earning_id}/approve", as_=world.coordinator)
        elsewhere = await world.post(
            f"/api/v1/earnings/{earning_id}/approve", as_=world.coordinator_b
        )
        before = await balance(world, 1)
        approved = await world.post(
            f"/api/v1/earnings/{earning_id}/approve", as_=world.coordinator2
        )
        again = await world.post(f"/api/v1/earnings/{earning_id}/approve", as_=world.coordinator2)
        late_decline = await world.post(
            f"/api/v1/earnings/{earning_id}/decline", as_=world.coordinator2
        )

        assert held.status_code == 202 and held.json()["status"] == "pending_approval"
        assert [e["id"] for e in waiting.json()["items"]] == [earning_id]
        problem(own, 403, "second_coordinator_required")
        problem(elsewhere, 403, "not_your_organisation")
        assert before == MEMBER_START_MINUTES
        assert approved.status_code == 201, approved.text
        assert approved.json()["approved_by"] == world.coordinator2.staff_id
        assert approved.json()["id"] == earning_id
        assert again.json() == approved.json()
        assert await balance(world, 1) == MEMBER_START_MINUTES + 600
        problem(late_decline, 409, "earning_already_decided")


async def test_a_declined_earning_moves_nothing(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        held = await world.post("/api/v1/earnings", earning(world, 1, 700), as_=world.coordinator)
        declined = await world.post(
            f"/api/v1/earnings/{held.json()['id']}/decline", as_=world.coordinator2
        )
        approve = await world.post(
            f"/api/v1/earnings/{held.json()['id']}/approve", as_=world.coordinator2
        )

        assert declined.status_code == 200 and declined.json()["status"] == "declined"
        problem(approve, 409, "earning_already_decided")
        assert await balance(world, 1) == MEMBER_START_MINUTES


async def test_earnings_are_refused_for_bad_dates_and_other_organisations(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        future = await world.post(
            "/api/v1/earnings", earning(world, 0, 30, worked_on="2026-12-25"), as_=world.coordinator
        )
        ancient = await world.post(
            "/api/v1/earnings", earning(world, 0, 30, worked_on="2020-01-01"), as_=world.coordinator
        )
        other = await world.post(
            "/api/v1/earnings",
            earning(world, 0, 30, organisation=world.org_b),
            as_=world.coordinator,
        )
        unknown = await world.post(
            "/api/v1/earnings", earning(world, 0, 30, member="mbr_nobody"), as_=world.coordinator
        )

        problem(future, 422, "worked_on_invalid")
        problem(ancient, 422, "worked_on_invalid")
        problem(other, 403, "not_your_organisation")
        problem(unknown, 422, "payee_not_found")


async def test_members_give_credits_to_each_other_within_their_balance(database_url: str) -> None:
    async with open_world(database_url) as world:
        payee = world.members[1].account
        given = await world.post(
            "/api/v1/transfers",
            {"payee": payee, "amount_minutes": 45, "memo": "dank je"},
            as_=world.member,
        )
        too_much = await world.post(
            "/api/v1/transfers",
            {"payee": payee, "amount_minutes": MEMBER_START_MINUTES},
            as_=world.member,
        )
        to_self = await world.post(
            "/api/v1/transfers",
            {"payee": world.member.account, "amount_minutes": 5},
            as_=world.member,
        )
        to_shop = await world.post(
            "/api/v1/transfers", {"payee": world.shop, "amount_minutes": 5}, as_=world.member
        )

        assert given.status_code == 201
        assert given.json()["payer"] == world.member.account and given.json()["memo"] == "dank je"
        body = problem(too_much, 422, "exceeds_balance")
        assert body["balance_minutes"] == MEMBER_START_MINUTES - 45 and body["floor_minutes"] == 0
        problem(to_self, 422, "payer_must_differ_from_payee")
        problem(to_shop, 422, "payee_type_not_allowed")
        assert await balance(world, 0) == MEMBER_START_MINUTES - 45
        assert await balance(world, 1) == MEMBER_START_MINUTES + 45


async def test_a_large_earning_the_cap_cannot_take_is_refused_when_recorded_not_held(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        capped = await world.post(
            "/api/v1/communities/oost/settings",
            {"member_earning_cap_minutes_per_month": 1_100},  # member 1 earned 600 this month
            as_=world.admin,
        )
        assert capped.status_code == 201, capped.text
        over = await world.post("/api/v1/earnings", earning(world, 1, 600), as_=world.coordinator)
        within = await world.post("/api/v1/earnings", earning(world, 1, 490), as_=world.coordinator)
        waiting = await world.get("/api/v1/earnings/pending", as_=world.coordinator2)

        refused = problem(over, 422, "exceeds_monthly_earning_cap")
        assert (refused["cap_minutes_per_month"], refused["earned_minutes"]) == (1_100, 600)
        assert within.status_code == 202, within.text  # above the threshold: held, and fits
        assert [e["amount_minutes"] for e in waiting.json()["items"]] == [490], waiting.text


async def test_transfers_are_refused_when_the_community_disallows_them(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        configured = await world.post(
            "/api/v1/communities/oost/settings", {"members_may_transfer": False}, as_=world.admin
        )
        refused = await world.post(
            "/api/v1/transfers",
            {"payee": world.members[1].account, "amount_minutes": 5},
            as_=world.member,
        )

        assert configured.status_code == 201 and configured.json()["kind"] == "configure"
        problem(refused, 403, "transfers_between_members_disabled")


async def journal_size(world: World) -> int:
    return (await world.rt.store.head("oost")).size


async def test_a_change_of_rules_leaves_what_it_does_not_name_as_it_was(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:

        async def change(body: dict[str, object]) -> tuple[int, str, dict[str, object]]:
            answer = await world.post("/api/v1/communities/oost/settings", body, as_=world.admin)
            rules = (await world.get("/api/v1/communities/oost", as_=world.admin)).json()
            shown = {
                name: rules[name]
                for name in (
                    "members_may_transfer",
                    "member_earning_cap_minutes_per_month",
                    "offline_payment_minutes_max",
                    "offline_day_minutes_max",
                )
            }
            return answer.status_code, answer.json().get("code", answer.json().get("kind")), shown

        all_four = {
            "members_may_transfer": True,
            "member_earning_cap_minutes_per_month": 600,
            "offline_payment_minutes_max": 30,
            "offline_day_minutes_max": 60,
        }
        set_all = await change(all_four)
        one_cap = await change({"offline_payment_minutes_max": 20})
        no_earning_cap = await change({"member_earning_cap_minutes_per_month": None})
        size_before = world.run(journal_size, world)
        nothing = await change({})
        null_offline_cap = await change({"offline_day_minutes_max": None})
        day_below_payment = await change({"offline_day_minutes_max": 10})
        size_after = world.run(journal_size, world)

        assert set_all == (201, "configure", all_four)
        assert one_cap == (201, "configure", all_four | {"offline_payment_minutes_max": 20})
        no_cap = all_four | {
            "offline_payment_minutes_max": 20,
            "member_earning_cap_minutes_per_month": None,
        }
        assert no_earning_cap == (201, "configure", no_cap)
        # Refused, and nothing written: no rule named, no cap, caps that cannot both hold.
        assert nothing == (422, "settings_empty", no_cap)
        assert null_offline_cap == (422, "request_invalid", no_cap)  # those caps cannot be off
        assert day_below_payment == (422, "offline_caps_inconsistent", no_cap)
        assert size_after == size_before  # no configure entry for a refused change


async def test_an_admin_corrects_an_entry_with_a_reason_once(database_url: str) -> None:
    async with open_world(database_url) as world:
        given = await world.post(
            "/api/v1/transfers",
            {"payee": world.members[1].account, "amount_minutes": 60},
            as_=world.member,
        )
        entry_id = given.json()["id"]
        too_much_body = {"entry_id": entry_id, "reason": "te veel", "amount_minutes": 61}
        too_much = await world.post("/api/v1/corrections", too_much_body, as_=world.admin)
        corrected = await world.post(
            "/api/v1/corrections",
            {"entry_id": entry_id, "reason": "verkeerde buur"},
            as_=world.admin,
        )
        twice = await world.post(
            "/api/v1/corrections", {"entry_id": entry_id, "reason": "nog eens"}, as_=world.admin
        )
        unknown = await world.post(
            "/api/v1/corrections", {"entry_id": "no-such-entry", "reason": "x"}, as_=world.admin
        )
        opening = await world.get(
            f"/api/v1/accounts/{world.member.account}/entries", as_=world.admin
        )
        open_id = opening.json()["items"][-1]["id"]
        not_correctable = await world.post(
            "/api/v1/corrections", {"entry_id": open_id, "reason": "x"}, as_=world.admin
        )

        problem(too_much, 422, "correction_exceeds_original")
        assert corrected.status_code == 201, corrected.text
        body = corrected.json()
        assert body["corrects_seq"] == given.json()["seq"] and body["reason"] == "verkeerde buur"
        assert body["actor"] == world.admin.staff_id
        assert body["postings"] == [
            {"payer": world.members[1].account, "payee": world.member.account, "amount_minutes": 60}
        ]
        problem(twice, 409, "already_corrected")
        problem(unknown, 404, "entry_not_found")
        problem(not_correctable, 422, "corrected_entry_not_correctable")
        assert await balance(world, 0) == MEMBER_START_MINUTES


async def test_members_see_their_own_account_and_staff_see_by_role(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        mine = await world.get(f"/api/v1/accounts/{world.member.account}", as_=world.member)
        theirs = await world.get(f"/api/v1/accounts/{world.members[1].account}", as_=world.member)
        unknown = await world.get("/api/v1/accounts/mbr_nobody", as_=world.member)
        shop_own = await world.get(f"/api/v1/accounts/{world.shop}", as_=world.shop_staff)
        shop_member = await world.get(
            f"/api/v1/accounts/{world.member.account}", as_=world.shop_staff
        )
        coordinator = await world.get(
            f"/api/v1/accounts/{world.member.account}", as_=world.coordinator
        )
        other_org = await world.get(f"/api/v1/accounts/{world.org_b}", as_=world.coordinator)
        auditor = await world.get(f"/api/v1/accounts/{world.org_b}", as_=world.auditor)

        assert mine.status_code == 200
        assert mine.json()["balance_minutes"] == MEMBER_START_MINUTES
        assert mine.json()["name"] == "Member 0"
        assert mine.json()["month_minutes"] == MEMBER_START_MINUTES
        problem(theirs, 403, "account_not_visible")
        problem(unknown, 404, "account_not_found")
        assert shop_own.status_code == 200
        problem(shop_member, 403, "account_not_visible")
        assert coordinator.status_code == 200
        problem(other_org, 403, "account_not_visible")
        assert auditor.status_code == 200 and auditor.json()["name"] == "Welzijn"


async def test_account_entries_page_newest_first_with_a_cursor(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        for minutes in (1, 2, 3, 4, 5):
            given = await world.post(
                "/api/v1/transfers", {"payee": world.members[1].account, "amount_minutes": minutes},
                as_=world.member,
            )  # fmt: skip
            assert given.status_code == 201
        path = f"/api/v1/accounts/{world.member.account}/entries"
        items, params, pages = [], {"limit": 3}, 0
        while True:
            page = (await world.get(path, as_=world.member, params=params)).json()
            items += page["items"]
            pages += 1
            if page["next_cursor"] is None:
                break
            params = {"limit": 3, "cursor": page["next_cursor"]}
        bad = [
            await world.get(path, as_=world.member, params={"cursor": cursor})
            for cursor in ["abc", str(2**63), "9" * 19, ARABIC_150]
        ]

        assert pages == 3
        kinds = [i["kind"] for i in items]
        assert kinds == ["transfer"] * 5 + ["earn", "open"]
        assert [i["postings"][0]["amount_minutes"] for i in items[:5]] == [5, 4, 3, 2, 1]
        seqs = [i["seq"] for i in items]
        assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs)
        for refused in bad:
            problem(refused, 422, "cursor_invalid")


async def test_the_journal_receipts_and_proofs_verify_offline(database_url: str) -> None:
    async with open_world(database_url) as world:
        from tests.support.api_checks import consistency_verifies

        before = (await world.get("/api/v1/ledger/checkpoint", as_=world.member)).json()
        given = await world.post(
            "/api/v1/transfers",
            {"payee": world.members[1].account, "amount_minutes": 10},
            as_=world.member,
        )
        after = (await world.get("/api/v1/ledger/checkpoint", as_=world.member)).json()
        size = await journal_verifies(world, world.auditor)
        inclusion = await world.get(
            "/api/v1/ledger/proofs/inclusion", as_=world.auditor, params={"seq": 0, "size": size}
        )
        beyond = await world.get(
            "/api/v1/ledger/proofs/inclusion",
            as_=world.auditor,
            params={"seq": size, "size": size + 1},
        )
        too_many = await world.get(
            "/api/v1/ledger/entries", as_=world.auditor, params={"start": 0, "end": 5000}
        )
        someone_elses = await world.get(
            f"/api/v1/receipts/{given.json()['id']}", as_=world.shop_staff
        )

        assert after["size"] == before["size"] + 1 == size
        await consistency_verifies(world, before, after, world.member)
        await receipt_verifies(world, given.json()["id"], world.members[1])
        assert inclusion.status_code == 200 and inclusion.json()["size"] == size
        problem(beyond, 422, "proof_unavailable")
        problem(too_many, 422, "range_invalid")
        problem(someone_elses, 403, "entry_not_visible")
