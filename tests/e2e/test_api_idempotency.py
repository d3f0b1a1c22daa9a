"""Idempotency-Key: a retried POST, also a concurrent one, moves nothing twice, answers the same."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ledger.ids import milliseconds_of, new_uuid7
from tests.support.api import MEMBER_START_MINUTES, World, a_key, open_world
from tests.support.api_checks import problem

RETRIES = 8
# A random key is found by its hash, a UUIDv7 by its millisecond and its hash.
KEY_KINDS = pytest.mark.parametrize("make_key", [a_key, new_uuid7], ids=["uuid4", "uuid7"])


async def entries_of(world: World, account: str | None) -> list[dict[str, Any]]:
    assert account is not None
    page = await world.get(f"/api/v1/accounts/{account}/entries", as_=world.admin)
    items: list[dict[str, Any]] = page.json()["items"]
    return items


def same_post(
    world: World, path: str, body: Any, token: str, key: str
) -> list[tuple[str, str, Any, dict[str, str]]]:
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    return [("POST", path, body, headers)] * RETRIES


@KEY_KINDS
async def test_a_retried_transfer_returns_the_original_entry(
    database_url: str, make_key: Callable[[], str]
) -> None:
    async with open_world(database_url) as world:
        key = make_key()
        body = {"payee": world.members[1].account, "amount_minutes": 25}
        first = await world.post("/api/v1/transfers", body, as_=world.member, key=key)
        second = await world.post("/api/v1/transfers", body, as_=world.member, key=key)
        changed = await world.post(
            "/api/v1/transfers", body | {"amount_minutes": 26}, as_=world.member, key=key
        )

        assert first.status_code == second.status_code == 201
        assert first.content == second.content
        assert milliseconds_of(first.json()["id"]) is not None  # a time-ordered id, not the key
        problem(changed, 409, "exists_with_different_amount")
        transfers = [
            e for e in await entries_of(world, world.member.account) if e["kind"] == "transfer"
        ]
        assert len(transfers) == 1
        account = await world.get(f"/api/v1/accounts/{world.member.account}", as_=world.member)
        assert account.json()["balance_minutes"] == MEMBER_START_MINUTES - 25


async def test_concurrent_retries_of_a_transfer_give_one_entry_and_identical_answers(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        body = {"payee": world.members[1].account, "amount_minutes": 40, "memo": "samen"}
        answers = world.concurrently(
            same_post(world, "/api/v1/transfers", body, world.member.token, a_key())
        )

        assert {a.status_code for a in answers} == {201}
        assert len({a.content for a in answers}) == 1
        transfers = [
            e for e in await entries_of(world, world.member.account) if e["kind"] == "transfer"
        ]
        assert len(transfers) == 1


async def test_twenty_concurrent_transfers_with_one_key_move_credits_once(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        body = {"payee": world.members[1].account, "amount_minutes": 7}
        headers = {"Authorization": f"Bearer {world.member.token}", "Idempotency-Key": a_key()}

        answers = world.concurrently([("POST", "/api/v1/transfers", body, headers)] * 20)

        assert {a.status_code for a in answers} == {201}
        assert len({a.content for a in answers}) == 1
        account = await world.get(f"/api/v1/accounts/{world.member.account}", as_=world.member)
        assert account.json()["balance_minutes"] == MEMBER_START_MINUTES - 7


async def test_a_refused_transfer_stays_refused_for_its_key(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        key = a_key()
        body = {"payee": world.members[1].account, "amount_minutes": MEMBER_START_MINUTES + 1}
        first = await world.post("/api/v1/transfers", body, as_=world.member, key=key)
        again = await world.post("/api/v1/transfers", body, as_=world.member, key=key)
        other = await world.post(
            "/api/v1/transfers", body | {"amount_minutes": 1}, as_=world.member, key=key
        )

        problem(first, 422, "exceeds_balance")
        assert again.content == first.content
        problem(other, 409, "id_already_failed")


async def test_concurrent_retries_of_earnings_and_corrections_book_once(database_url: str) -> None:
    async with open_world(database_url) as world:
        earning = {
            "member": world.members[1].account, "amount_minutes": 30,
            "activity": "koken", "worked_on": "2026-11-28",
        }  # fmt: skip
        booked = world.concurrently(
            same_post(world, "/api/v1/earnings", earning, world.coordinator.token, a_key())
        )
        held_body = earning | {"amount_minutes": 900}
        held = world.concurrently(
            same_post(world, "/api/v1/earnings", held_body, world.coordinator.token, a_key())
        )
        correction = {"entry_id": booked[0].json()["id"], "reason": "dubbel"}
        corrected = world.concurrently(
            same_post(world, "/api/v1/corrections", correction, world.admin.token, a_key())
        )
        pending = await world.get("/api/v1/earnings/pending", as_=world.coordinator2)

        assert {a.status_code for a in booked} == {201} and len({a.content for a in booked}) == 1
        assert {a.status_code for a in held} == {202} and len({a.content for a in held}) == 1
        assert {a.status_code for a in corrected} == {201} and len(
            {a.content for a in corrected}
        ) == 1
        assert len(pending.json()["items"]) == 1
        kinds = [e["kind"] for e in await entries_of(world, world.members[1].account)]
        assert (
            kinds.count("earn") == 2 and kinds.count("correct") == 1
        )  # the seed's earn + this one


async def test_retries_of_non_ledger_posts_replay_the_stored_answer(database_url: str) -> None:
    async with open_world(database_url) as world:
        key = a_key()
        person = {"name": "Jan", "email": "jan@example.org"}
        created = world.concurrently(
            same_post(world, "/api/v1/members", person, world.coordinator.token, key)
        )
        reused = await world.post(
            "/api/v1/members", {"name": "Piet"}, as_=world.coordinator, key=key
        )
        members = await world.get("/api/v1/members", as_=world.admin)
        person_id = created[0].json()["id"]
        link_key = a_key()
        link = await world.post(
            f"/api/v1/people/{person_id}/enrolment-links", as_=world.coordinator, key=link_key
        )
        link_again = await world.post(
            f"/api/v1/people/{person_id}/enrolment-links", as_=world.coordinator, key=link_key
        )
        sealed = world.run(_stored, world)

        assert {a.status_code for a in created} == {201} and len({a.content for a in created}) == 1
        problem(reused, 422, "idempotency_key_reused")
        assert [m["name"] for m in members.json()["items"]].count("Jan") == 1
        assert link.status_code == link_again.status_code == 201
        assert link.content == link_again.content
        token = link.json()["url"].rsplit("/", 1)[1]
        # Needles long enough that ciphertext cannot hold them by chance (a
        # three-byte name turns up in random bytes about once in a few thousand runs).
        in_the_clear = [token.encode(), b"jan@example.org", created[0].content, link.content]
        assert not [n for n in in_the_clear for blob in sealed if n in blob]


async def _stored(world: World) -> list[bytes]:
    from sqlmodel import select

    from api.tables import IdempotentResponseRow

    async with world.rt.db.read() as session:
        rows = (await session.exec(select(IdempotentResponseRow))).all()
    return [bytes(r.sealed or b"") + r.plan.encode() for r in rows]


@KEY_KINDS
async def test_the_same_key_from_two_members_makes_two_transfers(
    database_url: str, make_key: Callable[[], str]
) -> None:
    async with open_world(database_url) as world:
        key = make_key()
        first, second = world.members
        given = await world.post(
            "/api/v1/transfers", {"payee": second.account, "amount_minutes": 10},
            as_=first, key=key,
        )  # fmt: skip
        given_back = await world.post(
            "/api/v1/transfers", {"payee": first.account, "amount_minutes": 4},
            as_=second, key=key,
        )  # fmt: skip

        assert given.status_code == given_back.status_code == 201, given_back.text
        assert given.json()["id"] != given_back.json()["id"]
        account = await world.get(f"/api/v1/accounts/{first.account}", as_=first)
        assert account.json()["balance_minutes"] == MEMBER_START_MINUTES - 10 + 4


async def test_the_idempotency_key_is_required_and_checked(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        body = {"payee": world.members[1].account, "amount_minutes": 1}
        missing = await world.post("/api/v1/transfers", body, as_=world.member, key="")
        malformed = await world.post(
            "/api/v1/transfers", body, as_=world.member, key="no spaces allowed"
        )
        too_long = await world.post("/api/v1/transfers", body, as_=world.member, key="k" * 65)

        problem(missing, 422, "request_invalid")
        problem(malformed, 422, "request_invalid")
        problem(too_long, 422, "request_invalid")
        # The detail names what is wrong, though Litestar gives no list of errors for it.
        assert "'idempotency-key'" in missing.json()["detail"].lower(), missing.text
