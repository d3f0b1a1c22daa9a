"""People, roles, enrolment links, device sessions, API tokens and erasure through the API."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import select

from api import auth, limits
from api.tables import CredentialRow
from tests.support.api import COMMUNITY, World, open_world
from tests.support.api_checks import eventually, journal_verifies, problem, receipt_verifies
from tests.support.pages import form_token
from tests.support.qr_codes import decode_svg


async def a_resident(world: World, name: str = "Fatima") -> dict[str, str]:
    made = await world.post(
        "/api/v1/members",
        {"name": name, "phone": "0611111111", "language": "nl", "neighbourhood": "Dapperbuurt"},
        as_=world.coordinator,
    )
    assert made.status_code == 201, made.text
    body: dict[str, str] = made.json()
    return body


async def a_link(world: World, person_id: str) -> str:
    link = await world.post(f"/api/v1/people/{person_id}/enrolment-links", as_=world.coordinator)
    assert link.status_code == 201, link.text
    url: str = link.json()["url"]
    return url.removeprefix("http://buurtmunt.test")


async def press(world: World, path: str, page: httpx.Response | None = None) -> httpx.Response:
    """Press the button of the welcome ``page`` (opening ``path`` if none is given), as the
    phone that opened it."""
    page = page or await world.client.get(path)
    return await world.client.post(path, data={"csrf": form_token(page)}, follow_redirects=False)


async def test_a_coordinator_enrols_a_resident_whose_phone_then_sees_the_balance(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        resident = await a_resident(world)
        link = await world.post(
            f"/api/v1/people/{resident['id']}/enrolment-links", as_=world.coordinator
        )
        path = link.json()["url"].removeprefix("http://buurtmunt.test")

        shown = await world.client.get(path)
        still_usable = await world.client.get(path)
        bound = await press(world, path, shown)
        home = await world.client.get("/m")
        reused = await world.client.get(path)

        assert decode_svg(link.json()["qr_svg"].encode()) == [link.json()["url"]]
        assert path.startswith("/e/")
        assert link.json()["expires_at"] == "2026-11-29T09:30:00Z"
        assert shown.status_code == 200 and '<form method="post"' in shown.text
        assert still_usable.status_code == 200  # showing the page does not use the link up
        assert bound.status_code == 303 and bound.headers["location"] == "/m"
        cookie = bound.headers["set-cookie"]
        assert "bm_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert "Secure" not in cookie  # served over http in this test
        assert home.status_code == 200 and "Fatima" in home.text and "0 uur" in home.text
        # The phone it signed in opens it again: it goes home ("used" is for other browsers).
        assert reused.status_code == 200 and reused.url.path == "/m" and "Fatima" in reused.text
        devices = await world.get(f"/api/v1/people/{resident['id']}/devices", as_=world.coordinator)
        assert len(devices.json()["items"]) == 1


async def test_a_link_expires_after_a_day(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        resident = await a_resident(world)
        path = await a_link(world, resident["id"])
        opened = await world.client.get(path)  # the day before
        world.clock.advance(seconds=limits.ENROLMENT_LINK_SECONDS + 1)

        expired = await press(world, path, opened)

        assert expired.status_code == 410 and "verlopen" in expired.text


async def test_one_link_binds_exactly_one_device_even_when_raced(database_url: str) -> None:
    async with open_world(database_url) as world:
        resident = await a_resident(world)
        token = (await a_link(world, resident["id"])).rsplit("/", 1)[1]

        answers = world.concurrently(
            [
                (
                    "POST",
                    "/api/v1/enrolment/redeem",
                    {"token": token},
                    {"Idempotency-Key": f"race-{i}"},
                )
                for i in range(6)
            ]
        )

        assert sorted(a.status_code for a in answers) == [201] + [404] * 5
        session = next(a for a in answers if a.status_code == 201).json()
        me = await world.client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {session['session_token']}"}
        )
        assert me.json()["person_id"] == resident["id"]
        assert me.json()["balance_minutes"] == 0


async def test_unknown_enrolment_tokens_lock_the_address_out_but_never_a_valid_link(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        resident = await a_resident(world)
        good = await a_link(world, resident["id"])
        for attempt in range(limits.LOCKOUT_FAILURES_MAX):
            await world.client.get(f"/e/guess-{attempt}")

        other = await a_link(world, (await a_resident(world, "Second Resident"))["id"])

        locked_page = await world.client.get(
            "/e/guess-again", headers={"Accept-Language": "en", "Accept": "text/html"}
        )
        locked_api = await world.post("/api/v1/enrolment/redeem", {"token": "guess"}, as_=None)
        linked = await press(world, good)
        linked_api = await world.post(
            "/api/v1/enrolment/redeem", {"token": other.rsplit("/", 1)[1]}, as_=None
        )
        world.clock.advance(seconds=limits.LOCKOUT_SECONDS + 1)
        later = await world.client.get("/e/guess-after")

        assert locked_page.status_code == 429 and int(locked_page.headers["retry-after"]) > 0
        assert "Too many attempts" in locked_page.text and 'lang="en"' in locked_page.text
        body = problem(locked_api, 429, "locked_out")
        assert body["retry_after_seconds"] > 0
        assert linked.status_code == 303
        assert linked_api.status_code == 201
        assert later.status_code == 404


async def test_used_links_opened_again_and_again_lock_nobody_out(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        resident = await a_resident(world)
        used = await a_link(world, resident["id"])
        opened = await world.client.get(used)
        assert (await press(world, used, opened)).status_code == 303
        world.client.cookies.delete("bm_session")  # another browser, signed in as nobody
        # A second tab of the page still holds its form value; its button says "used" too.
        world.client.cookies.set("bm_link", form_token(opened), "buurtmunt.test", "/e/")
        for _ in range(limits.LOCKOUT_FAILURES_MAX * 2):
            again = await world.client.get(used)
            assert again.status_code == 410
            pressed = await press(world, used, opened)
            assert pressed.status_code == 410 and "al gebruikt" in pressed.text
        other = await a_resident(world, "Second Resident")
        fresh = await a_link(world, other["id"])

        opened = await world.client.get(fresh)
        unknown = await world.client.get("/e/never-issued")

        assert opened.status_code == 200
        assert unknown.status_code == 404


async def test_a_lost_phone_is_revoked_and_a_new_one_keeps_the_balance(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        member = world.members[0]
        first = await world.post(
            "/api/v1/enrolment/redeem",
            {
                "token": (await a_link(world, member.person_id)).rsplit("/", 1)[1],
                "label": "oude telefoon",
            },
            as_=None,
        )
        old = {"Authorization": f"Bearer {first.json()['session_token']}"}
        assert (await world.client.get("/api/v1/me", headers=old)).status_code == 200

        revoked = await world.post(
            f"/api/v1/devices/{first.json()['device_id']}/revoke", as_=world.coordinator
        )
        after = await world.client.get("/api/v1/me", headers=old)
        second = await world.post(
            "/api/v1/enrolment/redeem",
            {"token": (await a_link(world, member.person_id)).rsplit("/", 1)[1]},
            as_=None,
        )
        new = {"Authorization": f"Bearer {second.json()['session_token']}"}
        me = await world.client.get("/api/v1/me", headers=new)

        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        problem(after, 401, "not_authenticated")
        assert me.json()["member_account"] == member.account
        assert me.json()["balance_minutes"] == 600


async def test_coordinators_manage_residents_but_not_staff(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        admin_link = await world.post(
            f"/api/v1/people/{world.admin.person_id}/enrolment-links", as_=world.coordinator
        )
        admin_devices = await world.get(
            f"/api/v1/people/{world.admin.person_id}/devices", as_=world.coordinator
        )
        by_admin = await world.post(
            f"/api/v1/people/{world.coordinator.person_id}/enrolment-links", as_=world.admin
        )
        other_community = await world.get(
            "/api/v1/people/prs_aaaaaaaaaaaaaaaa", as_=world.coordinator
        )

        problem(admin_link, 403, "person_not_manageable")
        problem(admin_devices, 403, "person_not_manageable")
        assert by_admin.status_code == 201
        problem(other_community, 404, "person_not_found")


async def test_an_admin_adds_staff_grants_and_revokes_roles(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        staff = await world.post(
            "/api/v1/staff",
            {"name": "Kassa", "roles": [{"role": "shop", "scope": world.shop}]},
            as_=world.admin,
        )
        person = staff.json()["id"]
        bad_scope = await world.post(
            f"/api/v1/people/{person}/roles",
            {"role": "coordinator", "scope": world.shop},
            as_=world.admin,
        )
        granted = await world.post(
            f"/api/v1/people/{person}/roles",
            {"role": "coordinator", "scope": world.org},
            as_=world.admin,
        )
        revoked = await world.client.delete(
            f"/api/v1/people/{person}/roles/coordinator", params={"scope": world.org},
            headers=world.admin.headers,
        )  # fmt: skip
        listed = await world.get("/api/v1/staff", as_=world.admin)
        members = await world.get("/api/v1/members", as_=world.coordinator, params={"limit": 1})

        assert staff.status_code == 201 and staff.json()["staff_id"].startswith("stf_")
        assert staff.json()["roles"] == [{"role": "shop", "scope": world.shop}]
        problem(bad_scope, 422, "role_scope_invalid")
        assert {"role": "coordinator", "scope": world.org} in granted.json()["roles"]
        assert revoked.status_code == 200 and len(revoked.json()["roles"]) == 1
        assert person in [p["id"] for p in listed.json()["items"]]
        assert len(members.json()["items"]) == 1 and members.json()["next_cursor"] is not None


async def test_api_tokens_are_shown_once_stored_hashed_and_revocable(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        wanted = {"person_id": world.auditor.person_id, "role": "auditor", "label": "script"}
        issued = await world.post("/api/v1/tokens", wanted, as_=world.admin)
        not_held = await world.post(
            "/api/v1/tokens",
            {"person_id": world.auditor.person_id, "role": "admin"},
            as_=world.admin,
        )
        token = issued.json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        works = await world.client.get("/api/v1/ledger/checkpoint", headers=headers)
        listed = await world.get("/api/v1/tokens", as_=world.admin)
        revoked = await world.post(f"/api/v1/tokens/{issued.json()['id']}/revoke", as_=world.admin)
        after = await world.client.get("/api/v1/ledger/checkpoint", headers=headers)
        stored = world.run(_stored_hashes, world)

        assert issued.status_code == 201 and works.status_code == 200
        problem(not_held, 422, "role_not_held")
        assert "token" not in listed.json()["items"][0]
        assert revoked.status_code == 200
        problem(after, 401, "not_authenticated")
        assert token not in stored and all(len(h) == 64 for h in stored)


async def _stored_hashes(world: World) -> list[str]:
    from sqlmodel import select

    from api.tables import CredentialRow

    async with world.rt.db.read() as session:
        return [row.token_hash for row in (await session.exec(select(CredentialRow))).all()]


async def test_erasing_a_person_keeps_the_ledger_verifying(database_url: str) -> None:
    async with open_world(database_url) as world:
        member = world.members[0]
        given = await world.post(
            "/api/v1/transfers",
            {"payee": world.members[1].account, "amount_minutes": 30},
            as_=member,
        )
        size_before = await journal_verifies(world, world.auditor)

        erased = await world.post(f"/api/v1/people/{member.person_id}/erase", as_=world.admin)
        read = await world.get(f"/api/v1/people/{member.person_id}", as_=world.admin)
        signed_out = await world.get("/api/v1/me", as_=member)
        account = await world.get(f"/api/v1/accounts/{member.account}", as_=world.auditor)

        assert erased.status_code == 200
        person = read.json()
        assert person["erased"] is True and person["name"] == ""
        assert person["phone"] is None and person["member_account"] == member.account
        problem(signed_out, 401, "not_authenticated")
        assert account.json()["balance_minutes"] == 570
        assert await journal_verifies(world, world.auditor) == size_before
        await receipt_verifies(world, given.json()["id"], world.auditor)


async def test_me_tells_each_role_who_they_are(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        member = (await world.get("/api/v1/me", as_=world.member)).json()
        operator = (await world.get("/api/v1/me", as_=world.operator)).json()
        community = await world.get(f"/api/v1/communities/{COMMUNITY}", as_=world.member)

        assert member["roles"] == [{"role": "member", "scope": world.member.account}]
        assert member["balance_minutes"] == 600 and member["staff_id"] is None
        assert operator["community"] is None and operator["roles"][0]["role"] == "operator"
        assert community.json()["member_earning_cap_minutes_per_month"] == 2400
        assert community.json()["origin"] == "buurtmunt.test/oost"


async def test_an_operator_creates_a_community_that_starts_with_a_signed_journal(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        created = await world.post(
            "/api/v1/communities", {"slug": "west", "name": "West", "members_may_transfer": False},
            as_=world.operator,
        )  # fmt: skip
        again = await world.post(
            "/api/v1/communities", {"slug": "west", "name": "Anders"}, as_=world.operator
        )
        listed = await world.get("/api/v1/communities", as_=world.operator)

        assert created.status_code == 201, created.text
        assert created.json()["community_account"].startswith("cmy_")
        assert created.json()["members_may_transfer"] is False
        problem(again, 409, "community_exists")
        assert [c["slug"] for c in listed.json()["items"]] == ["oost", "west"]
        head = world.run(world.rt.ledger.checkpoint, "west")
        assert head is not None and head.size == 2


async def test_the_last_use_of_every_credential_is_recorded_in_one_write(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "TOUCH_GATHER_SECONDS", 0.0)
    async with open_world(database_url) as world:
        users = [world.coordinator, world.shop_staff, *world.members]
        for user in users:
            assert (await world.get("/api/v1/me", as_=user)).status_code == 200

        now = int(world.clock.now().timestamp())

        async def last_uses() -> dict[str, int | None]:
            async with world.rt.db.read() as session:
                rows = await session.exec(select(CredentialRow))
                return {row.id: row.last_used_at for row in rows}

        def written(found: dict[str, int | None]) -> bool:
            return all(found.get(user.credential_id) == now for user in users)

        used = world.run(eventually, last_uses, written)
        assert {used[user.credential_id] for user in users} == {now}
