"""Held earnings and Idempotency-Keys: a held earning's id is reserved, and keys are the caller's.

A coordinator's large earning waits for a second coordinator under the id its
recording request's key names (scoped to the coordinator's credential). No
other request may take that id before the approval books it.
"""

from __future__ import annotations

from typing import Any

import httpx

from api import provisioning
from api.access import Role
from api.provisioning import PersonDetails
from ledger.ids import milliseconds_of
from tests.support.api import COMMUNITY, MEMBER_START_MINUTES, Actor, World, a_key, open_world
from tests.support.api_checks import problem

HELD_MINUTES = 600  # above the default approval threshold of 480
BOOKED_MINUTES = 30


def work(world: World, minutes: int) -> dict[str, Any]:
    return {
        "member": world.members[1].account,
        "amount_minutes": minutes,
        "activity": "tuinieren",
        "worked_on": "2026-11-27",
    }


async def record(world: World, minutes: int, key: str, as_: Actor | None = None) -> httpx.Response:
    """Post volunteer work for the second member, as the first coordinator unless ``as_``."""
    return await world.post(
        "/api/v1/earnings", work(world, minutes), as_=as_ or world.coordinator, key=key
    )


async def balance(world: World, member: int) -> int:
    account = await world.get(f"/api/v1/accounts/{world.members[member].account}", as_=world.admin)
    value: int = account.json()["balance_minutes"]
    return value


async def earnings_of(world: World, member: int) -> list[int]:
    page = await world.get(
        f"/api/v1/accounts/{world.members[member].account}/entries", as_=world.admin
    )
    return [e["postings"][0]["amount_minutes"] for e in page.json()["items"] if e["kind"] == "earn"]


async def test_a_different_earning_under_a_held_earnings_key_is_refused_and_nothing_is_booked(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        key = a_key()
        held = await record(world, HELD_MINUTES, key)
        retried = await record(world, HELD_MINUTES, key)
        smaller = await record(world, BOOKED_MINUTES, key)
        larger = await record(world, HELD_MINUTES + 60, key)
        before_approval = await balance(world, 1)
        approved = await world.post(
            f"/api/v1/earnings/{held.json()['id']}/approve", as_=world.coordinator2
        )

        assert held.status_code == retried.status_code == 202
        assert retried.content == held.content
        problem(smaller, 422, "idempotency_key_reused")
        problem(larger, 422, "idempotency_key_reused")
        assert milliseconds_of(held.json()["id"]) is not None  # a time-ordered id, not the key
        assert before_approval == MEMBER_START_MINUTES
        assert approved.status_code == 201, approved.text
        assert approved.json()["amount_minutes"] == HELD_MINUTES
        assert approved.json()["id"] == held.json()["id"]
        assert await balance(world, 1) == MEMBER_START_MINUTES + HELD_MINUTES
        assert sorted(await earnings_of(world, 1)) == sorted([MEMBER_START_MINUTES, HELD_MINUTES])


async def test_a_members_transfer_with_a_coordinators_key_leaves_the_held_earning_bookable(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        key = a_key()
        held = await record(world, HELD_MINUTES, key)
        given = await world.post(
            "/api/v1/transfers",
            {"payee": world.members[1].account, "amount_minutes": 5},
            as_=world.member,
            key=key,
        )
        approved = await world.post(
            f"/api/v1/earnings/{held.json()['id']}/approve", as_=world.coordinator2
        )

        assert held.status_code == 202
        assert given.status_code == 201, given.text
        assert approved.status_code == 201, approved.text
        assert approved.json()["amount_minutes"] == HELD_MINUTES
        assert given.json()["id"] != held.json()["id"]
        assert await balance(world, 1) == MEMBER_START_MINUTES + 5 + HELD_MINUTES


async def test_a_retry_of_a_held_earning_after_its_approval_gets_the_original_answer(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        key = a_key()
        held = await record(world, HELD_MINUTES, key)
        await world.post(f"/api/v1/earnings/{held.json()['id']}/approve", as_=world.coordinator2)
        retried = await record(world, HELD_MINUTES, key)

        assert retried.status_code == 202
        assert retried.content == held.content
        assert await balance(world, 1) == MEMBER_START_MINUTES + HELD_MINUTES


async def test_a_large_earning_under_a_booked_earnings_key_is_refused_with_422(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        key = a_key()
        booked = await record(world, BOOKED_MINUTES, key)
        larger = await record(world, HELD_MINUTES, key)
        pending = await world.get("/api/v1/earnings/pending", as_=world.coordinator2)

        assert booked.status_code == 201
        problem(larger, 422, "idempotency_key_reused")
        assert pending.json()["items"] == []


async def test_a_coordinator_who_is_a_member_cannot_spend_a_held_earnings_key(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        both = world.run(_coordinator_and_member, world)
        key = a_key()
        held = await record(world, HELD_MINUTES, key, as_=both)
        given = await world.post(
            "/api/v1/transfers",
            {"payee": world.members[1].account, "amount_minutes": 5},
            as_=both,
            key=key,
        )
        approved = await world.post(
            f"/api/v1/earnings/{held.json()['id']}/approve", as_=world.coordinator2
        )

        assert held.status_code == 202, held.text
        problem(given, 422, "idempotency_key_reused")
        assert approved.status_code == 201, approved.text
        assert await balance(world, 1) == MEMBER_START_MINUTES + HELD_MINUTES


async def _coordinator_and_member(world: World) -> Actor:
    """A person who coordinates for the first organisation and has a member account,
    signed in on a phone (a device session carries all of a person's roles)."""
    rt = world.rt
    person, roles = await provisioning.create_person(
        rt, COMMUNITY, PersonDetails("Both"), member=True,
        roles=[(Role.COORDINATOR, world.org)], actor="cli", plan=provisioning.person_plan(True),
    )  # fmt: skip
    credential, token = await provisioning.issue_credential(
        rt, person, kind=provisioning.KIND_DEVICE, role=None, label="phone", created_by="cli"
    )
    account = next(r.scope for r in roles if r.role == Role.MEMBER.value)
    return Actor("coordinator", person.id, token, credential.id, person.staff_id, account)
