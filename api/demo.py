"""``buurtmunt demo``: a community with a few weeks of history, and a way in for each role.

Creates community ``demo`` (two organisations with budgets, three shops, twenty
members, staff for every role) and three weeks of earnings, transfers and
redemptions, written with a clock that walks through those weeks. Running it
again keeps the data and prints fresh sign-in links. Then it serves the app,
unless ``--seed-only``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import random
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from api import bootstrap, directory, drafts, logs, provisioning
from api.access import Role
from api.problems import ProblemError
from api.provisioning import PersonDetails
from api.runtime import Runtime, open_runtime
from api.settings import Settings
from api.tables import CommunityRow, PersonRow
from ledger.clock import ManualClock
from ledger.ids import new_entry_id
from ledger.keys import generate_key_file
from ledger.model import AccountType, Draft, EntryKind, Posting
from ledger.model import Settings as LedgerSettings

SLUG = "demo"
SEED = 20261128
HISTORY_DAYS = 21
MEMBERS = [
    "Fatima Amrani", "Jan de Boer", "Ria Smit", "Hüseyin Kaya", "Els Visser", "Mohamed Bouzid",
    "Joke Mulder", "Ahmed Benali", "Wil de Groot", "Ayşe Demir", "Kees Bos", "Nadia Haddou",
    "Truus Vos", "Samir Ouali", "Greet Peters", "Emre Çelik", "Lies Hendriks", "Yusuf Aydın",  # noqa: RUF001
    "Marga Dekker", "Dewi Pranoto",
]  # fmt: skip
ORGANISATIONS = [("Buurthuis De Meeuw", 12_000), ("Stichting Welzijn Oost", 6_000)]
SHOPS = ["Slagerij Bakker", "Filmhuis Het Ketelhuis", "Zwembad Oost"]
ACTIVITIES = ["koffie schenken", "boodschappen doen", "tuinonderhoud", "taalmaatje", "klussen"]


@dataclass(frozen=True, slots=True)
class Way:
    role: str
    name: str
    link: str
    token: str


@dataclass(slots=True)
class Cast:
    """Who acts in the history: coordinators' (staff id, organisation), shops, members."""

    coordinators: list[tuple[str, str]]
    shops: list[str]
    members: list[str]


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if "BUURTMUNT_PUBLIC_URL" not in os.environ:
        settings = dataclasses.replace(settings, public_url=f"http://{args.host}:{args.port}")
    if not settings.signing_key and not os.path.exists(settings.signing_key_file):
        generate_key_file(settings.signing_key_file, settings.host)
        print(f"created signing key {settings.signing_key_file} (keep it private)")
    ways, verifier_key = asyncio.run(seed(settings))
    print_ways(settings, ways, verifier_key)
    if args.seed_only:
        return 0
    import uvicorn

    from api.app import create_app
    from api.protocol import HTTP_PROTOCOL

    logs.configure(settings.log_level, request_log=settings.request_log)
    # As ``buurtmunt serve`` logs: the app's own JSON line per request, named by its
    # route, never uvicorn's access log, which would print the sign-in links' tokens.
    uvicorn.run(
        create_app(settings, server=True),
        host=args.host,
        port=args.port,
        access_log=False,
        log_config=logs.logging_config(settings.log_level, request_log=settings.request_log),
        http=HTTP_PROTOCOL,
    )
    return 0


async def seed(settings: Settings) -> tuple[list[Way], str]:
    """Create the demo data once; return a fresh way in for each role, and the key that
    verifies the community's checkpoints."""
    start = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    start -= timedelta(days=HISTORY_DAYS)
    async with open_runtime(settings, ManualClock(start)) as rt:
        async with rt.db.read() as session:
            exists = await session.get(CommunityRow, SLUG) is not None
        if not exists:
            assert isinstance(rt.clock, ManualClock)
            cast = await create_cast(rt)
            await history(rt, rt.clock, cast)
    async with open_runtime(settings) as rt:
        return await ways_in(rt), (await rt.ledger.log_verifier(SLUG)).key_string()


async def create_cast(rt: Runtime) -> Cast:
    operator = await bootstrap.cli_operator(rt)
    actor = operator.staff_id or "cli"
    await provisioning.create_community(
        rt, slug=SLUG, name="Demo Oost", currency_name="Buurtmunt",
        settings=LedgerSettings(True, 20 * 60), actor=actor, plan=provisioning.community_plan(),
    )  # fmt: skip
    orgs = [
        await provisioning.open_named_account(
            rt,
            SLUG,
            AccountType.ORGANISATION,
            name,
            actor,
            provisioning.account_plan(AccountType.ORGANISATION),
            budget_minutes_per_month=budget,
        )
        for name, budget in ORGANISATIONS
    ]
    shops = [
        await provisioning.open_named_account(
            rt, SLUG, AccountType.SHOP, name, actor, provisioning.account_plan(AccountType.SHOP)
        )
        for name in SHOPS
    ]

    async def staff(name: str, role: Role, scope: str = "") -> str:
        person, _ = await provisioning.create_person(
            rt, SLUG, PersonDetails(name), member=False, roles=[(role, scope)], actor=actor,
            plan=provisioning.person_plan(False),
        )  # fmt: skip
        assert person.staff_id is not None
        return person.staff_id

    await staff("Anna de Vries", Role.ADMIN)
    coordinators = [
        (await staff(name, Role.COORDINATOR, orgs[index].account_id), orgs[index].account_id)
        for name, index in (("Karim El Idrissi", 0), ("Sanne Jansen", 0), ("Mehmet Yılmaz", 1))  # noqa: RUF001
    ]
    await staff("Piet Bakker", Role.SHOP, shops[0].account_id)
    await staff("Gemeente, team controle", Role.AUDITOR)
    members = []
    for name in MEMBERS:
        details = PersonDetails(name, neighbourhood="Oost", language="nl")
        _, roles = await provisioning.create_person(
            rt,
            SLUG,
            details,
            member=True,
            roles=[],
            actor=actor,
            plan=provisioning.person_plan(True),
        )
        members.append(next(r.scope for r in roles if r.role == Role.MEMBER))
    return Cast(coordinators, [s.account_id for s in shops], members)


async def history(rt: Runtime, clock: ManualClock, cast: Cast) -> None:
    """Three weeks of earnings, gifts between neighbours and visits to shops."""
    rng = random.Random(SEED)
    for day in range(HISTORY_DAYS):
        clock.set(clock.now().replace(hour=9) + timedelta(days=1 if day else 0))
        for _ in range(4):
            clock.advance(minutes=rng.randint(5, 90))
            staff_id, org = rng.choice(cast.coordinators)
            worked = (clock.now() - timedelta(days=rng.randint(0, 3))).date()
            meta = drafts.earn_meta(rng.choice(ACTIVITIES), worked, None)
            minutes = rng.choice([15, 30, 60, 90, 120, 180])
            member = rng.choice(cast.members)
            await _try(rt, drafts.earn(new_entry_id(), staff_id, org, member, minutes, meta, ""))
        for _ in range(2):
            clock.advance(minutes=rng.randint(5, 60))
            payer, payee = rng.sample(cast.members, 2)
            draft = drafts.transfer(
                new_entry_id(), payer, payee, rng.choice([15, 30, 60]), "bedankt!"
            )
            await _try(rt, draft)
        if day % 3 == 2:
            clock.advance(minutes=30)
            payer, shop = rng.choice(cast.members), rng.choice(cast.shops)
            redeem = Draft(
                id=new_entry_id(), kind=EntryKind.REDEEM, actor=payer,
                postings=(Posting(payer, shop, 60),), memo="korting",
            )  # fmt: skip
            await _try(rt, redeem)


async def _try(rt: Runtime, draft: Draft) -> None:
    # Not enough balance or budget that day: the demo skips it, as a person would.
    with contextlib.suppress(ProblemError):
        await drafts.append(rt.ledger, SLUG, draft)


async def ways_in(rt: Runtime) -> list[Way]:
    """An enrolment link (24 h, once) and an API token for each role."""
    ways = []
    for role in (Role.ADMIN, Role.COORDINATOR, Role.SHOP, Role.AUDITOR, Role.MEMBER):
        if role is Role.MEMBER:
            person = await best_off_member(rt)
        else:
            person = await bootstrap.someone_with(rt, SLUG, role)
        _, url = await provisioning.issue_enrolment_link(rt, person, person.staff_id or "cli")
        _, token = await bootstrap.issue_token(rt, person, role, "demo")
        ways.append(Way(role.value, person.name, url, token))
    operator = await bootstrap.cli_operator(rt)
    _, token = await bootstrap.issue_token(rt, operator, Role.OPERATOR, "demo")
    ways.append(Way(Role.OPERATOR.value, operator.name, "(API only)", token))
    return ways


async def best_off_member(rt: Runtime) -> PersonRow:
    """The member with the most credits (the history leaves some with none), so that
    the one the demo prints can make the README's shop payment."""
    members = [
        account
        for account in await rt.store.accounts(SLUG)
        if account.spec.type is AccountType.MEMBER
    ]
    async with rt.db.read() as session:
        for account in sorted(members, key=lambda a: (-a.balance_minutes, a.spec.id)):
            person = await directory.person_of_account(session, SLUG, account.spec.id)
            if person is not None:
                return person
    raise LookupError(f"nobody in {SLUG!r} is a member")


def print_ways(settings: Settings, ways: list[Way], verifier_key: str) -> None:
    print(f"\nBuurtmunt demo: community {SLUG!r} at {settings.public_url}")
    print(f"API documentation: {settings.public_url}/schema")
    print(f"its checkpoints verify with (buurtmunt verify --key): {verifier_key}\n")
    for way in ways:
        print(f"{way.role:<12} {way.name}")
        print(f"  sign in (once, 24 h): {way.link}")
        print(f"  API token:            {way.token}")
    print(f"\ntry: curl -H 'Authorization: Bearer <token>' {settings.public_url}/api/v1/me\n")
    sys.stdout.flush()
