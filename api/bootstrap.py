"""Getting a deployment going without the API: the operator, first people, tokens.

Used by the CLI, the demo and tests. Work done here is attributed to a person
too: the deployment's command-line operator, created on first use.
"""

from __future__ import annotations

from sqlmodel import col, select

from api import drafts, provisioning
from api.access import Role
from api.directory import named_accounts, people_with_role, person_of_account
from api.provisioning import KIND_API, PersonDetails
from api.runtime import Runtime
from api.tables import CredentialRow, PersonRow, RoleRow
from ledger.ids import new_entry_id
from ledger.model import AccountType

CLI_SCOPE = "cli"


async def cli_operator(rt: Runtime) -> PersonRow:
    """The operator that command-line work is attributed to (one per deployment)."""
    async with rt.db.read() as session:
        role = (
            await session.exec(
                select(RoleRow).where(
                    RoleRow.role == Role.OPERATOR.value, RoleRow.scope == CLI_SCOPE
                )
            )
        ).first()
        if role is not None:
            person = await session.get(PersonRow, role.person_id)
            if person is not None:
                return person
    person, _ = await provisioning.create_person(
        rt, None, PersonDetails("command line", language="en"), member=False,
        roles=[(Role.OPERATOR, CLI_SCOPE)], actor="cli", plan=provisioning.person_plan(False),
    )  # fmt: skip
    return person


async def person_for_token(
    rt: Runtime,
    *,
    role: Role,
    community: str | None,
    person_id: str | None = None,
    account_id: str | None = None,
    name: str | None = None,
    scope: str = "",
) -> PersonRow:
    """The person a token is for: given by id or member account, or a new one with ``role``."""
    async with rt.db.read() as session:
        if person_id is not None:
            person = await session.get(PersonRow, person_id)
            if person is None or person.community != community:
                raise LookupError(f"no person {person_id!r} in {community!r}")
            return person
        if account_id is not None:
            assert community is not None
            found = await person_of_account(session, community, account_id)
            if found is None:
                raise LookupError(f"no member account {account_id!r} in {community!r}")
            return found
    actor = (await cli_operator(rt)).staff_id or "cli"
    details = PersonDetails(name or f"{role.value} (token)", language="nl")
    if role is Role.MEMBER:
        assert community is not None
        member, _ = await provisioning.create_person(
            rt, community, details, member=True, roles=[], actor=actor,
            plan=provisioning.person_plan(True),
        )  # fmt: skip
        return member
    staff, _ = await provisioning.create_person(
        rt, community, details, member=False, roles=[(role, scope)], actor=actor,
        plan=provisioning.person_plan(False),
    )  # fmt: skip
    return staff


async def issue_token(
    rt: Runtime, person: PersonRow, role: Role, label: str, expires_at: int | None = None
) -> tuple[CredentialRow, str]:
    actor = (await cli_operator(rt)).staff_id or "cli"
    return await provisioning.issue_credential(
        rt, person, kind=KIND_API, role=role, label=label, created_by=actor, expires_at=expires_at
    )


async def first_scope(rt: Runtime, community: str, type: AccountType) -> str:
    """The first organisation's or shop's account (for a token's default scope)."""
    async with rt.db.read() as session:
        rows = await named_accounts(session, community, type)
    if not rows:
        raise LookupError(f"{community!r} has no {type.value} yet")
    return rows[0].account_id


async def someone_with(rt: Runtime, community: str, role: Role) -> PersonRow:
    """The first person (by id) holding ``role`` in ``community``."""
    async with rt.db.read() as session:
        people = await people_with_role(session, community, [role], None, 1)
    if not people:
        raise LookupError(f"nobody in {community!r} is {role.value}")
    return people[0]


async def welcome_coordinators(rt: Runtime, community: str, organisation: str) -> tuple[str, str]:
    """The staff ids of two coordinators of ``organisation``, made on first use: one books
    welcome credits and the other approves them, as the journal's authority rules ask."""
    async with rt.db.read() as session:
        found = (
            await session.exec(
                select(PersonRow.staff_id)
                .join(RoleRow, col(RoleRow.person_id) == col(PersonRow.id))
                .where(
                    RoleRow.community == community,
                    RoleRow.role == Role.COORDINATOR.value,
                    RoleRow.scope == organisation,
                    col(PersonRow.staff_id).is_not(None),
                )
                .order_by(col(PersonRow.id))
                .limit(2)
            )
        ).all()
    staff = [s for s in found if s is not None]
    while len(staff) < 2:
        person = await person_for_token(
            rt, role=Role.COORDINATOR, community=community,
            name=f"welcome {len(staff) + 1}", scope=organisation,
        )  # fmt: skip
        assert person.staff_id is not None
        staff.append(person.staff_id)
    return staff[0], staff[1]


async def funded_member(
    rt: Runtime, community: str, name: str, organisation: str, minutes: int, actor: str
) -> tuple[PersonRow, str, str]:
    """A resident with a member account, ``minutes`` earned from ``organisation``, and an
    API token: (the person, the account, the token). For demos, tests and benchmarks."""
    person, roles = await provisioning.create_person(
        rt, community, PersonDetails(name), member=True, roles=[], actor=actor,
        plan=provisioning.person_plan(True),
    )  # fmt: skip
    account = next(r.scope for r in roles if r.role == Role.MEMBER)
    recorder, approver = await welcome_coordinators(rt, community, organisation)
    meta = drafts.earn_meta("welcome", rt.now().date(), approver)
    draft = drafts.earn(new_entry_id(), recorder, organisation, account, minutes, meta, "")
    await drafts.append(rt.ledger, community, draft)
    _, token = await issue_token(rt, person, Role.MEMBER, "seed")
    return person, account, token
