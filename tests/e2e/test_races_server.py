"""Races against a real ``buurtmunt serve``, on SQLite and on PostgreSQL, over real HTTP.

All requests of a race are sent at once. A thousand one-credit payments from a
member who holds ten credits: exactly ten go through; many pays of one shop's
payment request: exactly one redeem; earnings against what is left of an
organisation's monthly budget, and against a member's monthly earning cap:
never over. Every refusal is a problem with a stable code, never a 500.

The in-process races (``tests/integration/test_concurrency.py`` on the
ledger, ``tests/e2e/test_api_payment_requests.py`` through the ASGI app) stay
where they are; these go through sockets, uvicorn and the server's own pools.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from api import bootstrap, provisioning
from api.access import Role
from api.runtime import open_runtime
from api.settings import Settings
from ledger.model import AccountType
from ledger.model import Settings as LedgerSettings
from tests.conftest import require
from tests.support.crash import ServerProcess
from tests.support.databases import POSTGRES_URL, postgres_unavailable_reason, with_database
from tests.support.server import free_port, server_env

pytestmark = pytest.mark.slow

COMMUNITY = "race"
PAYMENTS = 1_000
PAYMENT_MINUTES = 60
PAYER_MINUTES = 10 * PAYMENT_MINUTES  # covers ten payments
PAYS_OF_ONE_REQUEST = 100
EARNINGS = 200
EARNING_MINUTES = 30
BUDGET_MINUTES = 12 * EARNING_MINUTES  # what is left of it covers twelve earnings
# What a member may earn a month: the payer's ten credits exactly.
CAP_MINUTES = PAYER_MINUTES
CONNECTIONS = 200
# Connections a race may see dropped (each request then sent again with its key).
DROPS_MAX = 5
REQUEST_SECONDS = 120
# A credential that is refused PAYMENT_FAILURES_MAX times in a row is locked out for a
# while (by each worker process on its own): after that its refusals are 429
# locked_out instead of 422.
LOCKED_OUT = (429, "locked_out")


@dataclass(frozen=True, slots=True)
class Arena:
    base: str
    payer: str
    payer_token: str
    payee: str
    members: list[str]
    member_tokens: list[str]
    shop_token: str
    lean_coordinator: str  # of the organisation with little budget left
    rich_coordinator: str  # of the organisation with plenty


async def seed_arena(env: dict[str, str]) -> dict[str, Any]:
    """Community ``race``: a payer with ten credits, members, a shop, and two
    organisations (one with ``BUDGET_MINUTES`` left this month) with a coordinator each."""
    async with open_runtime(Settings.from_env(env)) as rt:
        operator = await bootstrap.cli_operator(rt)
        actor = operator.staff_id or "cli"
        await provisioning.create_community(
            rt, slug=COMMUNITY, name="Race", currency_name="Makkie",
            settings=LedgerSettings(True, CAP_MINUTES),
            actor=actor, plan=provisioning.community_plan(),
        )  # fmt: skip

        async def organisation(name: str, budget: int) -> tuple[str, str]:
            plan = provisioning.account_plan(AccountType.ORGANISATION)
            row = await provisioning.open_named_account(
                rt, COMMUNITY, AccountType.ORGANISATION, name, actor, plan,
                budget_minutes_per_month=budget,
            )  # fmt: skip
            person = await bootstrap.person_for_token(
                rt, role=Role.COORDINATOR, community=COMMUNITY, name=f"Co {name}",
                scope=row.account_id,
            )  # fmt: skip
            _, token = await bootstrap.issue_token(rt, person, Role.COORDINATOR, "race")
            return row.account_id, token

        rich, rich_token = await organisation("Buurthuis", 1_000_000)
        lean, lean_token = await organisation("Welzijn", PAYER_MINUTES + BUDGET_MINUTES)
        shop = await provisioning.open_named_account(
            rt, COMMUNITY, AccountType.SHOP, "Slagerij", actor,
            provisioning.account_plan(AccountType.SHOP),
        )  # fmt: skip
        staff = await bootstrap.person_for_token(
            rt, role=Role.SHOP, community=COMMUNITY, name="Piet", scope=shop.account_id
        )
        _, shop_token = await bootstrap.issue_token(rt, staff, Role.SHOP, "till")
        # The payer's ten credits come from the lean organisation's budget: what is
        # left of it this month is BUDGET_MINUTES.
        _, payer, payer_token = await bootstrap.funded_member(
            rt, COMMUNITY, "Payer", lean, PAYER_MINUTES, actor
        )
        members, tokens = [], []
        for index in range(4):
            _, account, token = await bootstrap.funded_member(
                rt, COMMUNITY, f"Member {index}", rich, PAYMENT_MINUTES, actor
            )
            members.append(account)
            tokens.append(token)
    return {
        "payer": payer, "payer_token": payer_token, "payee": members[0], "members": members,
        "member_tokens": tokens, "shop_token": shop_token, "lean_coordinator": lean_token,
        "rich_coordinator": rich_token,
    }  # fmt: skip


@pytest.fixture(
    scope="module", params=["sqlite", "sqlite, 2 workers", "postgres", "postgres, 2 workers"]
)
def arena(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Arena]:
    """One seeded server per engine, with one worker process and with two (whose
    drafts meet at each community's lease holder), shared by the races of this module."""
    workers = 2 if request.param.endswith("2 workers") else 1
    if request.param.startswith("sqlite"):
        url = f"sqlite:///{tmp_path_factory.mktemp('race')}/race.db"
        yield from _serve(url, workers)
        return
    require(asyncio.run(postgres_unavailable_reason()))
    name = f"bm_race_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield from _serve(with_database(POSTGRES_URL, name), workers)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _serve(url: str, workers: int = 1) -> Iterator[Arena]:
    port = free_port()
    env = server_env(url, f"http://127.0.0.1:{port}")
    seeded = asyncio.run(seed_arena(env))
    server = ServerProcess(env, port, workers)
    server.start()
    try:
        yield Arena(base=server.base, **seeded)
    finally:
        server.stop()


@pytest.fixture
async def client(arena: Arena) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(
        base_url=arena.base, limits=limits, timeout=REQUEST_SECONDS
    ) as client:
        yield client


def headers(token: str, key: bool = True) -> dict[str, str]:
    found = {"Authorization": f"Bearer {token}"}
    if key:
        found["Idempotency-Key"] = str(uuid.uuid4())
    return found


def outcomes(responses: list[httpx.Response]) -> Counter[tuple[int, str]]:
    """(status, problem code or "") per response."""
    found: Counter[tuple[int, str]] = Counter()
    for response in responses:
        code = response.json().get("code", "") if response.status_code >= 400 else ""
        found[(response.status_code, code)] += 1
    return found


async def balance(client: httpx.AsyncClient, account: str, token: str) -> int:
    found = await client.get(f"/api/v1/accounts/{account}/", headers=headers(token, key=False))
    assert found.status_code == 200, found.text
    minutes: int = found.json()["balance_minutes"]
    return minutes


async def all_at_once(
    client: httpx.AsyncClient, path: str, bodies: list[tuple[dict[str, Any], dict[str, str]]]
) -> list[httpx.Response]:
    """Every request sent at once. One whose connection drops before its answer is sent
    again with the same Idempotency-Key, as a client does (the outcome is the one the
    key already has); more than ``DROPS_MAX`` drops in one race fail it."""
    drops: list[str] = []

    async def post(body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        while True:
            try:
                return await client.post(path, json=body, headers=headers)
            except (httpx.NetworkError, httpx.RemoteProtocolError) as dropped:
                drops.append(repr(dropped))
                assert len(drops) <= DROPS_MAX, f"connections dropped: {drops}"

    return list(await asyncio.gather(*(post(body, h) for body, h in bodies)))


async def test_a_thousand_payments_against_ten_credits_let_exactly_ten_through(
    arena: Arena, client: httpx.AsyncClient
) -> None:
    body = {"payee": arena.payee, "amount_minutes": PAYMENT_MINUTES}
    payee_before = await balance(client, arena.payee, arena.member_tokens[0])

    paying = [(body, headers(arena.payer_token)) for _ in range(PAYMENTS)]

    answers = await all_at_once(client, "/api/v1/transfers", paying)

    found = outcomes(answers)
    assert found[(201, "")] == 10, found
    assert set(found) <= {(201, ""), (422, "exceeds_balance"), LOCKED_OUT}, found
    assert await balance(client, arena.payer, arena.payer_token) == 0
    payee_after = await balance(client, arena.payee, arena.member_tokens[0])
    assert payee_after == payee_before + PAYER_MINUTES


async def test_a_hundred_pays_of_one_payment_request_book_exactly_one_redeem(
    arena: Arena, client: httpx.AsyncClient
) -> None:
    made = await client.post(
        "/api/v1/payment-requests",
        json={"amount_minutes": 15, "memo": "Gehakt"},
        headers=headers(arena.shop_token),
    )
    assert made.status_code == 201, made.text
    path = f"/api/v1/payment-requests/{made.json()['id']}/pay"
    tokens = arena.member_tokens
    paying = [({}, headers(tokens[n % len(tokens)])) for n in range(PAYS_OF_ONE_REQUEST)]
    before = [await balance(client, m, t) for m, t in zip(arena.members, tokens, strict=True)]

    answers = await all_at_once(client, path, paying)

    found = outcomes(answers)
    paid = {a.json()["entry_id"] for a in answers if a.status_code == 200}
    assert len(paid) == 1, found
    refusals = {(409, "payment_request_paid"), (409, "payment_request_in_progress")}
    assert set(found) <= {(200, "")} | refusals, found
    after = [await balance(client, m, t) for m, t in zip(arena.members, tokens, strict=True)]
    assert sum(before) - sum(after) == 15
    record = await client.get(
        f"/api/v1/payment-requests/{made.json()['id']}", headers=headers(arena.shop_token, False)
    )
    assert record.json()["status"] == "paid" and record.json()["entry_id"] in paid


def _earning(member: str) -> dict[str, Any]:
    return {
        "member": member,
        "amount_minutes": EARNING_MINUTES,
        "activity": "boodschappen",
        "worked_on": datetime.now(UTC).date().isoformat(),
    }


async def test_earnings_racing_for_an_organisations_last_budget_never_go_over(
    arena: Arena, client: httpx.AsyncClient
) -> None:
    # Members 0-2: member 3 is the cap race's.
    bodies = [
        (_earning(arena.members[n % 3]), headers(arena.lean_coordinator)) for n in range(EARNINGS)
    ]

    answers = await all_at_once(client, "/api/v1/earnings", bodies)

    found = outcomes(answers)
    assert found[(201, "")] == BUDGET_MINUTES // EARNING_MINUTES, found
    assert set(found) <= {(201, ""), (422, "exceeds_monthly_budget"), LOCKED_OUT}, found


async def test_earnings_racing_for_a_members_monthly_cap_never_go_over(
    arena: Arena, client: httpx.AsyncClient
) -> None:
    member, token = arena.members[3], arena.member_tokens[3]
    before = await balance(client, member, token)
    bodies = [(_earning(member), headers(arena.rich_coordinator)) for _ in range(EARNINGS)]

    answers = await all_at_once(client, "/api/v1/earnings", bodies)

    found = outcomes(answers)
    # The member earned PAYMENT_MINUTES when seeded, this month.
    room = CAP_MINUTES - PAYMENT_MINUTES
    assert found[(201, "")] == room // EARNING_MINUTES, found
    assert set(found) <= {(201, ""), (422, "exceeds_monthly_earning_cap"), LOCKED_OUT}, found
    assert await balance(client, member, token) == before + room
