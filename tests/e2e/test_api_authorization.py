"""Every role against every API route, compared with the matrix in ``api.access``.

A role the matrix allows for a route's action passes the guard (whatever the
route then says about the particular resource); every other role gets 403
``forbidden``. Without a token every route says 401. The table of sample
requests must cover every guarded route the app has, so a new route cannot
slip through untested.
"""

# ruff: noqa: E501  (the table of sample requests reads best one route per line)
from __future__ import annotations

from typing import Any

from litestar.routes import HTTPRoute

from api.access import MATRIX, Action, Role
from tests.support.api import COMMUNITY, Actor, World, open_world

ROLE_ACTORS = {
    Role.MEMBER: "member",
    Role.SHOP: "shop_staff",
    Role.COORDINATOR: "coordinator",
    Role.AUDITOR: "auditor",
    Role.ADMIN: "admin",
    Role.OPERATOR: "operator",
}


async def _victim(world: World) -> dict[str, str]:
    """A disposable resident with a device and a token, for the routes that destroy."""
    made = await world.post("/api/v1/members", {"name": "Victim"}, as_=world.admin)
    person = made.json()["id"]
    link = await world.post(f"/api/v1/people/{person}/enrolment-links", as_=world.admin)
    token = link.json()["url"].rsplit("/", 1)[1]
    device = await world.post("/api/v1/enrolment/redeem", {"token": token}, as_=None)
    api_token = await world.post(
        "/api/v1/tokens", {"person_id": person, "role": "member"}, as_=world.admin
    )
    request = await world.post(
        "/api/v1/payment-requests", {"amount_minutes": 5}, as_=world.shop_staff
    )
    return {
        "person": person,
        "account": made.json()["member_account"],
        "device": device.json()["device_id"],
        "token": api_token.json()["id"],
        "request": request.json()["id"],
    }


def _samples(
    world: World, victim: dict[str, str], entry_id: str
) -> dict[tuple[str, str], tuple[str, Any]]:
    """(method, route path) -> (request path, JSON body) for every guarded route."""
    member = world.members[0]
    other = world.members[1]
    earning = {
        "member": other.account,
        "amount_minutes": 15,
        "activity": "koffie",
        "worked_on": "2026-11-27",
    }
    return {
        ("GET", "/api/v1/me"): ("/api/v1/me", None),
        ("POST", "/api/v1/communities"): ("/api/v1/communities", {"slug": "west", "name": "West"}),
        ("GET", "/api/v1/communities"): ("/api/v1/communities", None),
        ("GET", "/api/v1/communities/{slug}"): (f"/api/v1/communities/{COMMUNITY}", None),
        ("POST", "/api/v1/communities/{slug}/settings"): (
            f"/api/v1/communities/{COMMUNITY}/settings",
            {"members_may_transfer": True, "member_earning_cap_minutes_per_month": 2400},
        ),
        ("POST", "/api/v1/organisations"): (
            "/api/v1/organisations", {"name": "Nieuw", "budget_minutes_per_month": 60},
        ),
        ("GET", "/api/v1/organisations"): ("/api/v1/organisations", None),
        ("GET", "/api/v1/organisations/{account_id}"): (f"/api/v1/organisations/{world.org}", None),
        ("POST", "/api/v1/organisations/{account_id}/budget"): (
            f"/api/v1/organisations/{world.org_b}/budget", {"budget_minutes_per_month": 3000},
        ),
        ("POST", "/api/v1/shops"): ("/api/v1/shops", {"name": "Bakker"}),
        ("GET", "/api/v1/shops"): ("/api/v1/shops", None),
        ("POST", "/api/v1/members"): ("/api/v1/members", {"name": "Nieuwe bewoner"}),
        ("GET", "/api/v1/members"): ("/api/v1/members", None),
        ("POST", "/api/v1/staff"): (
            "/api/v1/staff", {"name": "Controleur", "roles": [{"role": "auditor"}]},
        ),
        ("GET", "/api/v1/staff"): ("/api/v1/staff", None),
        ("GET", "/api/v1/people/{person_id}"): (f"/api/v1/people/{victim['person']}", None),
        ("POST", "/api/v1/people/{person_id}/roles"): (
            f"/api/v1/people/{victim['person']}/roles", {"role": "auditor"},
        ),
        ("DELETE", "/api/v1/people/{person_id}/roles/{role}"): (
            f"/api/v1/people/{victim['person']}/roles/auditor", None,
        ),
        ("POST", "/api/v1/people/{person_id}/erase"): (f"/api/v1/people/{victim['person']}/erase", None),
        ("POST", "/api/v1/people/{person_id}/enrolment-links"): (
            f"/api/v1/people/{other.person_id}/enrolment-links", None,
        ),
        ("GET", "/api/v1/people/{person_id}/devices"): (f"/api/v1/people/{other.person_id}/devices", None),
        ("POST", "/api/v1/devices/{device_id}/revoke"): (f"/api/v1/devices/{victim['device']}/revoke", None),
        ("POST", "/api/v1/tokens"): ("/api/v1/tokens", {"person_id": other.person_id, "role": "member"}),
        ("GET", "/api/v1/tokens"): ("/api/v1/tokens", None),
        ("POST", "/api/v1/tokens/{token_id}/revoke"): (f"/api/v1/tokens/{victim['token']}/revoke", None),
        ("POST", "/api/v1/earnings"): ("/api/v1/earnings", earning),
        ("GET", "/api/v1/earnings/pending"): ("/api/v1/earnings/pending", None),
        ("POST", "/api/v1/earnings/{earning_id}/approve"): ("/api/v1/earnings/nothing-here/approve", None),
        ("POST", "/api/v1/earnings/{earning_id}/decline"): ("/api/v1/earnings/nothing-here/decline", None),
        ("POST", "/api/v1/transfers"): ("/api/v1/transfers", {"payee": other.account, "amount_minutes": 1}),
        ("POST", "/api/v1/corrections"): (
            "/api/v1/corrections", {"entry_id": entry_id, "reason": "test", "amount_minutes": 1},
        ),
        ("GET", "/api/v1/accounts/{account_id}"): (f"/api/v1/accounts/{member.account}", None),
        ("GET", "/api/v1/accounts/{account_id}/entries"): (f"/api/v1/accounts/{member.account}/entries", None),
        ("GET", "/api/v1/ledger/checkpoint"): ("/api/v1/ledger/checkpoint", None),
        ("GET", "/api/v1/ledger/entries"): ("/api/v1/ledger/entries?start=0&end=2", None),
        ("GET", "/api/v1/ledger/proofs/inclusion"): ("/api/v1/ledger/proofs/inclusion?seq=0&size=2", None),
        ("GET", "/api/v1/ledger/proofs/consistency"): ("/api/v1/ledger/proofs/consistency?from=1&to=2", None),
        ("GET", "/api/v1/receipts/{entry_id}"): (f"/api/v1/receipts/{entry_id}", None),
        ("POST", "/api/v1/refunds"): ("/api/v1/refunds", {"entry_id": entry_id, "amount_minutes": 1}),
        ("POST", "/api/v1/settlements"): ("/api/v1/settlements", {"shop": world.shop}),
        ("GET", "/api/v1/shops/{account_id}/statement"): (f"/api/v1/shops/{world.shop}/statement", None),
        ("GET", "/api/v1/shops/{account_id}/statement.csv"): (f"/api/v1/shops/{world.shop}/statement.csv", None),
        ("POST", "/api/v1/payment-requests"): ("/api/v1/payment-requests", {"amount_minutes": 5}),
        ("GET", "/api/v1/payment-requests/{request_id}"): (f"/api/v1/payment-requests/{victim['request']}", None),
        ("GET", "/api/v1/payment-requests/{request_id}/qr.svg"): (f"/api/v1/payment-requests/{victim['request']}/qr.svg", None),
        ("GET", "/api/v1/payment-requests/{request_id}/qr.png"): (f"/api/v1/payment-requests/{victim['request']}/qr.png", None),
        ("GET", "/api/v1/payment-requests/{request_id}/events"): (f"/api/v1/payment-requests/{'Z' * 26}/events", None),
        ("POST", "/api/v1/payment-requests/{request_id}/pay"): (f"/api/v1/payment-requests/{'Z' * 26}/pay", {}),
        ("POST", "/api/v1/payment-requests/{request_id}/cancel"): (f"/api/v1/payment-requests/{'Z' * 26}/cancel", None),
        ("GET", "/api/v1/pay-codes/device"): ("/api/v1/pay-codes/device", None),
        ("POST", "/api/v1/pay-codes/redeem"): ("/api/v1/pay-codes/redeem", {"code": "000000000000", "amount_minutes": 1}),
        ("POST", "/api/v1/cards"): ("/api/v1/cards", {"member": other.account, "pin": "4821"}),
        ("GET", "/api/v1/cards"): (f"/api/v1/cards?member={other.account}", None),
        ("POST", "/api/v1/cards/{card_id}/revoke"): (f"/api/v1/cards/crd_{'a' * 16}/revoke", None),
        ("POST", "/api/v1/cards/redeem"): ("/api/v1/cards/redeem", {"card": "BMC1:AAAA", "pin": "4821", "amount_minutes": 1}),
        ("POST", "/api/v1/payment-reports"): ("/api/v1/payment-reports", {"entry_id": entry_id}),
        ("GET", "/api/v1/payment-reports"): ("/api/v1/payment-reports", None),
        ("GET", "/api/v1/statements"): ("/api/v1/statements?period=2026-11", None),
        ("GET", "/api/v1/statements.csv"): ("/api/v1/statements.csv?period=2026-11", None),
        ("GET", "/api/v1/statements.html"): ("/api/v1/statements.html?period=2026-11", None),
        ("GET", "/api/v1/exports/entries.csv"): ("/api/v1/exports/entries.csv?start=0&end=2", None),
        ("GET", "/api/v1/exports/balances.csv"): ("/api/v1/exports/balances.csv", None),
        ("GET", "/api/v1/exports/bundle"): ("/api/v1/exports/bundle", None),
    }  # fmt: skip


def _guarded_routes(world: World) -> dict[tuple[str, str], Action]:
    found: dict[tuple[str, str], Action] = {}
    for route in world.app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if "action" in handler.opt:
                for method in handler.http_methods:
                    found[(method, route.path_format)] = Action(handler.opt["action"])
    return found


async def _call(
    world: World, method: str, path: str, body: Any, actor: Actor | None
) -> tuple[int, str]:
    if method == "GET":
        response = await world.get(path, as_=actor)
    elif method == "POST":
        response = await world.post(path, body, as_=actor)
    else:
        headers = actor.headers if actor is not None else {}
        response = await world.client.request(method, path, headers=headers)
    media_type = response.headers.get("content-type", "").split(";")[0]
    is_json = media_type in ("application/json", "application/problem+json")
    code = response.json().get("code", "") if is_json and response.content else ""
    return response.status_code, code


async def test_each_role_may_call_exactly_the_routes_the_matrix_allows(database_url: str) -> None:
    async with open_world(database_url) as world:
        victim = await _victim(world)
        entry = await world.post(
            "/api/v1/transfers",
            {"payee": world.members[1].account, "amount_minutes": 60},
            as_=world.member,
        )
        routes = _guarded_routes(world)
        samples = _samples(world, victim, entry.json()["id"])
        assert set(samples) == set(routes), "every guarded route has a sample request"

        mismatches = []
        for (method, route_path), action in sorted(routes.items()):
            path, body = samples[(method, route_path)]
            status, _ = await _call(world, method, path, body, None)
            if status != 401:
                mismatches.append(f"{method} {route_path} without a token: {status}")
            for role, name in ROLE_ACTORS.items():
                status, code = await _call(world, method, path, body, world.actors[name])
                allowed = role in MATRIX[action]
                denied_by_guard = status == 403 and code == "forbidden"
                if allowed == denied_by_guard or status in (401, 500):
                    mismatches.append(f"{method} {route_path} as {role}: {status} {code}")
        assert mismatches == []


async def test_an_api_token_carries_only_the_role_it_was_issued_for(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        staff = await world.post(
            "/api/v1/staff",
            {
                "name": "Twee petten",
                "roles": [{"role": "auditor"}, {"role": "coordinator", "scope": world.org}],
            },
            as_=world.admin,
        )
        person = staff.json()["id"]
        token = await world.post(
            "/api/v1/tokens", {"person_id": person, "role": "auditor"}, as_=world.admin
        )
        headers = {"Authorization": f"Bearer {token.json()['token']}"}

        ledger = await world.client.get("/api/v1/ledger/entries?start=0&end=1", headers=headers)
        earning = await world.client.post(
            "/api/v1/earnings",
            json={
                "member": world.members[0].account,
                "amount_minutes": 15,
                "activity": "x",
                "worked_on": "2026-11-27",
            },
            headers={**headers, "Idempotency-Key": "k-1"},
        )

        assert ledger.status_code == 200
        assert earning.status_code == 403


async def test_the_lists_of_shops_and_organisations_show_balances_only_to_who_may_see_them(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        shops = {
            name: (await world.get("/api/v1/shops", as_=getattr(world, name))).json()["items"]
            for name in ("member", "shop_staff", "admin")
        }
        org_b = f"/api/v1/organisations/{world.org_b}"
        others = (await world.get(org_b, as_=world.coordinator)).json()
        own = (await world.get(f"/api/v1/organisations/{world.org}", as_=world.coordinator)).json()
        listed = (await world.get("/api/v1/organisations", as_=world.coordinator)).json()["items"]
        admin = (await world.get(org_b, as_=world.admin)).json()

    assert [s["balance_minutes"] for s in shops["member"]] == [None]
    assert [s["balance_minutes"] for s in shops["shop_staff"]] == [0]
    assert [s["balance_minutes"] for s in shops["admin"]] == [0]
    # A coordinator sees another organisation's budget, not its balance or what it issued.
    assert others["budget_minutes_per_month"] > 0
    assert others["balance_minutes"] is None and others["issued_minutes"] is None
    assert isinstance(own["balance_minutes"], int) and isinstance(own["issued_minutes"], int)
    shown = {o["account_id"]: o["balance_minutes"] is not None for o in listed}
    assert shown == {world.org: True, world.org_b: False}
    assert isinstance(admin["balance_minutes"], int)
