"""A running API over a real database, with one person per role: ``open_world``.

Litestar's ``AsyncTestClient`` runs the app on an event loop in a thread of
its own (a blocking portal); whatever touches the app's runtime directly (the
ledger, the database) must run there too: ``world.run(fn, *args)``. Requests
that must really overlap go through ``world.concurrently``, which drives the
same app with an httpx ASGI client inside that loop.

The world is one community (``oost``) with two organisations (budgets 100 and
50 hours a month), a shop, staff for every role (two coordinators of the first
organisation, so that one can approve what the other recorded), and members
funded with earnings. Each person has an API token; ``world.post`` and
``world.get`` call the app as one of them through Litestar's async test client.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api import bootstrap, drafts, provisioning
from api.access import Role
from api.app import create_app
from api.directory import roles_of
from api.provisioning import PersonDetails
from api.runtime import Runtime
from api.settings import Settings
from api.tables import PersonRow
from ledger.clock import ManualClock
from ledger.ids import new_entry_id
from ledger.model import AccountType
from ledger.model import Settings as LedgerSettings
from ledger.note import generate_signer

T = TypeVar("T")
COMMUNITY = "oost"
START = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
ORG_BUDGET_MINUTES = 6_000
ORG_B_BUDGET_MINUTES = 3_000
MEMBER_START_MINUTES = 600
CAP_MINUTES = 2_400


@dataclass(frozen=True, slots=True)
class Actor:
    role: str
    person_id: str
    token: str
    credential_id: str
    staff_id: str | None = None
    account: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(slots=True)
class World:
    app: Litestar
    client: AsyncTestClient[Litestar]
    rt: Runtime
    clock: ManualClock
    org: str
    org_b: str
    shop: str
    actors: dict[str, Actor] = field(default_factory=dict)
    members: list[Actor] = field(default_factory=list)

    def __getattr__(self, name: str) -> Actor:
        try:
            return self.actors[name]
        except KeyError:
            raise AttributeError(name) from None

    async def post(
        self,
        path: str,
        body: Any = None,
        *,
        as_: Actor | None,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        sent = dict(as_.headers) if as_ is not None else {}
        if key != "":
            sent["Idempotency-Key"] = key or str(uuid.uuid4())
        sent.update(headers or {})
        return await self.client.post(path, json=body, headers=sent)

    async def get(
        self, path: str, *, as_: Actor | None, params: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        sent = as_.headers if as_ is not None else {}
        return await self.client.get(path, headers=sent, params=params)

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``fn(*args)`` on the app's event loop and return its result."""
        return self.client.blocking_portal.call(fn, *args)

    def concurrently(
        self, requests: list[tuple[str, str, Any, dict[str, str]]]
    ) -> list[httpx.Response]:
        """Send (method, path, json, headers) requests at once, truly overlapping."""

        async def send_all() -> list[httpx.Response]:
            transport = httpx.ASGITransport(app=self.app)  # type: ignore[arg-type]
            async with httpx.AsyncClient(
                transport=transport, base_url="http://buurtmunt.test"
            ) as c:
                return list(
                    await asyncio.gather(
                        *(c.request(m, p, json=j, headers=h) for m, p, j, h in requests)
                    )
                )

        return self.run(send_all)


def world_settings(database_url: str, **overrides: Any) -> Settings:
    signer = generate_signer("buurtmunt.test")
    settings = Settings(
        database_url=database_url,
        signing_key=signer.key_string(),
        public_url="http://buurtmunt.test",
        rate_limit_per_minute=100_000,
        # Every batch signs, so a test sees the head signed once its request is
        # answered; tests of the cadence pass their own interval.
        checkpoint_interval_seconds=0.0,
    )
    return dataclasses.replace(settings, **overrides)


@asynccontextmanager
async def open_world(
    database_url: str, *, members: int = 2, **overrides: Any
) -> AsyncIterator[World]:
    clock = ManualClock(START)
    app = create_app(world_settings(database_url, **overrides), clock=clock)
    async with AsyncTestClient(app=app, base_url="http://buurtmunt.test") as client:
        rt: Runtime = app.state.runtime
        yield client.blocking_portal.call(_populate, app, client, rt, clock, members)


async def _populate(
    app: Litestar, client: AsyncTestClient[Litestar], rt: Runtime, clock: ManualClock, members: int
) -> World:
    operator = await bootstrap.person_for_token(rt, role=Role.OPERATOR, community=None, name="Ops")
    actor = operator.staff_id or "cli"
    await provisioning.create_community(
        rt, slug=COMMUNITY, name="Oost", currency_name="Makkie",
        settings=LedgerSettings(True, CAP_MINUTES), actor=actor, plan=provisioning.community_plan(),
    )  # fmt: skip

    async def named(type: AccountType, name: str, budget: int | None = None) -> str:
        row = await provisioning.open_named_account(
            rt, COMMUNITY, type, name, actor, provisioning.account_plan(type), budget
        )
        return row.account_id

    org = await named(AccountType.ORGANISATION, "Buurthuis", ORG_BUDGET_MINUTES)
    org_b = await named(AccountType.ORGANISATION, "Welzijn", ORG_B_BUDGET_MINUTES)
    shop = await named(AccountType.SHOP, "Slagerij")
    world = World(app, client, rt, clock, org, org_b, shop)
    world.actors["operator"] = await _actor(rt, operator.id, Role.OPERATOR)
    for name, role, scope in (
        ("admin", Role.ADMIN, ""),
        ("coordinator", Role.COORDINATOR, org),
        ("coordinator2", Role.COORDINATOR, org),
        ("coordinator_b", Role.COORDINATOR, org_b),
        ("shop_staff", Role.SHOP, shop),
        ("auditor", Role.AUDITOR, ""),
    ):
        person = await bootstrap.person_for_token(
            rt, role=role, community=COMMUNITY, name=name.title(), scope=scope
        )
        world.actors[name] = await _actor(rt, person.id, role)
    for index in range(members):
        person, _ = await provisioning.create_person(
            rt, COMMUNITY, PersonDetails(f"Member {index}", phone="0612345678"), member=True,
            roles=[], actor=actor, plan=provisioning.person_plan(True),
        )  # fmt: skip
        member = await _actor(rt, person.id, Role.MEMBER)
        world.members.append(member)
        assert member.account is not None
        coordinator = world.actors["coordinator"].staff_id
        assert coordinator is not None
        # Above the approval threshold: approved by the second coordinator, as the API books it.
        meta = drafts.earn_meta("seed", START.date(), world.actors["coordinator2"].staff_id)
        earn = drafts.earn(
            new_entry_id(), coordinator, org, member.account, MEMBER_START_MINUTES, meta, ""
        )
        await drafts.append(rt.ledger, COMMUNITY, earn)
    world.actors["member"] = world.members[0]
    return world


async def _actor(rt: Runtime, person_id: str, role: Role) -> Actor:
    async with rt.db.read() as session:
        person = await session.get(PersonRow, person_id)
        assert person is not None
        roles = await roles_of(session, person_id)
    credential, token = await bootstrap.issue_token(rt, person, role, "test")
    account = next((r.scope for r in roles if r.role == Role.MEMBER.value), None)
    return Actor(role.value, person.id, token, credential.id, person.staff_id, account)


def a_key() -> str:
    return str(uuid.uuid4())
