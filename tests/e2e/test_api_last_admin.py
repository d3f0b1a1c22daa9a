"""A community always keeps an admin: the last one can neither demote nor erase themself."""

from __future__ import annotations

from api.access import Role
from tests.support.api import Actor, World, _actor, open_world
from tests.support.api_checks import problem


async def grant_admin(world: World, person_id: str) -> Actor:
    """Make ``person_id`` an admin too; their admin token."""
    answer = await world.post(
        f"/api/v1/people/{person_id}/roles", {"role": "admin"}, as_=world.admin
    )
    assert answer.status_code == 200, answer.text
    return world.run(_actor, world.rt, person_id, Role.ADMIN)


async def test_the_last_admin_cannot_demote_themself(database_url: str) -> None:
    async with open_world(database_url) as world:
        admin = world.admin
        answer = await world.client.delete(
            f"/api/v1/people/{admin.person_id}/roles/admin", headers=admin.headers
        )
        me = await world.get("/api/v1/me", as_=admin)

        problem(answer, 409, "last_admin")
        assert me.status_code == 200
        assert "admin" in {r["role"] for r in me.json()["roles"]}


async def test_the_last_admin_cannot_erase_themself(database_url: str) -> None:
    async with open_world(database_url) as world:
        admin = world.admin
        answer = await world.post(f"/api/v1/people/{admin.person_id}/erase", as_=admin)
        me = await world.get("/api/v1/me", as_=admin)

        problem(answer, 409, "last_admin")
        assert me.status_code == 200 and me.json()["name"] == "Admin"


async def test_an_admin_steps_down_once_another_admin_exists(database_url: str) -> None:
    async with open_world(database_url) as world:
        first = world.admin
        second = await grant_admin(world, world.auditor.person_id)

        stepped_down = await world.client.delete(
            f"/api/v1/people/{first.person_id}/roles/admin", headers=first.headers
        )
        erase_last = await world.post(f"/api/v1/people/{second.person_id}/erase", as_=second)

        assert stepped_down.status_code == 200, stepped_down.text
        assert "admin" not in {r["role"] for r in stepped_down.json()["roles"]}
        problem(erase_last, 409, "last_admin")


async def test_an_erased_admin_does_not_count_as_the_remaining_admin(database_url: str) -> None:
    async with open_world(database_url) as world:
        first = world.admin
        second = await grant_admin(world, world.auditor.person_id)
        erased = await world.post(f"/api/v1/people/{second.person_id}/erase", as_=first)
        demote = await world.client.delete(
            f"/api/v1/people/{first.person_id}/roles/admin", headers=first.headers
        )

        assert erased.status_code == 200, erased.text
        problem(demote, 409, "last_admin")


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(database_url: str) -> None:
    async with open_world(database_url) as world:
        first = world.admin
        second = await grant_admin(world, world.auditor.person_id)
        answers = world.concurrently(
            [
                ("DELETE", f"/api/v1/people/{second.person_id}/roles/admin", None, first.headers),
                ("DELETE", f"/api/v1/people/{first.person_id}/roles/admin", None, second.headers),
            ]
        )

        # Either both were authorised and the second to land found the last admin (409), or
        # the first had landed before the second was authorised, by an admin no more (403).
        statuses = sorted(a.status_code for a in answers)
        assert statuses in ([200, 403], [200, 409]), [a.text for a in answers]
        refused = next(a for a in answers if a.status_code != 200)
        problem(refused, statuses[1], "forbidden" if statuses[1] == 403 else "last_admin")
        # A demoted admin's token holds no role any more: only the one left reads /me.
        admins = []
        for actor in (first, second):
            me = await world.get("/api/v1/me", as_=actor)
            if me.status_code == 200 and "admin" in {r["role"] for r in me.json()["roles"]}:
                admins.append(actor.person_id)
        assert len(admins) == 1, f"exactly one of the two is still an admin: {admins}"
