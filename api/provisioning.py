"""Setting things up: communities, named accounts, people, roles, credentials, links.

Shared by the routes, the CLI and the demo. Each operation that creates ids
takes a *plan* (the ids to use, see ``api.idempotency``) so that a retry, or a
takeover of a request that died half-way, creates the same ids again; ledger
appends with the plan's draft ids are then recognised as retries.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import TypeVar

from msgspec import UNSET, UnsetType
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from api import drafts, limits, pay_codes
from api.access import STAFF_ROLES, Role
from api.directory import ERASED_NAME, community_row, roles_of
from api.idempotency import Plan, forget_person
from api.problems import conflict, invalid
from api.runtime import Runtime
from api.tables import (
    CommunityRow,
    CredentialRow,
    EnrolmentLinkRow,
    NamedAccountRow,
    PayCodeDeviceRow,
    PersonRow,
    RoleRow,
)
from api.tokens import Prefix, new_id, new_token, token_hash
from ledger.ids import new_entry_id
from ledger.model import AccountType, Entry
from ledger.model import Settings as LedgerSettings

T = TypeVar("T")
KIND_DEVICE, KIND_API = "device", "api"
_ACCOUNT_PREFIX = {
    AccountType.MEMBER: Prefix.MEMBER,
    AccountType.SHOP: Prefix.SHOP,
    AccountType.ORGANISATION: Prefix.ORGANISATION,
}


@dataclass(frozen=True, slots=True)
class PersonDetails:
    name: str
    phone: str | None = None
    email: str | None = None
    language: str = "nl"
    neighbourhood: str | None = None


def community_plan() -> Plan:
    return {
        "account": new_id(Prefix.COMMUNITY),
        "configure": new_entry_id(),
        "open": new_entry_id(),
    }


async def create_community(
    rt: Runtime,
    *,
    slug: str,
    name: str,
    currency_name: str,
    settings: LedgerSettings,
    actor: str,
    plan: Plan,
) -> CommunityRow:
    async with rt.db.read() as session:
        existing = await session.get(CommunityRow, slug)
    if existing is not None:
        if existing.community_account == plan["account"]:
            return existing  # a retry of the request that created it
        raise conflict("community_exists", f"A community {slug!r} exists already.")
    if settings.approval_threshold_minutes is None:
        # The journal carries the threshold, and with it the authority rules.
        threshold = rt.settings.approval_threshold_minutes
        settings = replace(settings, approval_threshold_minutes=threshold)
    await drafts.append(rt.ledger, slug, drafts.configure(plan["configure"], actor, settings))
    opened = drafts.open_account(plan["open"], actor, plan["account"], AccountType.COMMUNITY)
    await drafts.append(rt.ledger, slug, opened)
    row = CommunityRow(
        slug=slug,
        name=name,
        currency_name=currency_name,
        community_account=plan["account"],
        created_at=rt.now_seconds(),
        created_by=actor,
    )
    async with rt.db.write() as session:
        if await session.get(CommunityRow, slug) is None:
            session.add(row)
    return row


@dataclass(frozen=True, slots=True)
class RulesChange:
    """What an admin changes of a community's rules; ``UNSET`` leaves a rule as it is."""

    members_may_transfer: bool | UnsetType = UNSET
    member_earning_cap_minutes_per_month: int | UnsetType | None = UNSET  # None: no cap
    offline_payment_minutes_max: int | UnsetType = UNSET
    offline_day_minutes_max: int | UnsetType = UNSET


async def change_rules(
    rt: Runtime, community: str, actor: str, key: str, change: RulesChange
) -> Entry:
    """Apply ``change`` over the community's current rules, and the configure entry that
    records them.

    The ledger's rules go in the entry, whole (a configure entry replaces them; the
    approval threshold stays as the journal has it). The caps on payments without a
    scan live in the community's row (they bound what a shop may take; the ledger's
    own rules still apply) and are written after the entry. Every request that names a
    rule appends an entry, so the journal shows each change of rules and who made it.
    A request that names none (``settings_empty``), or whose cap per payment would be
    above the cap per day (``offline_caps_inconsistent``), is refused and changes nothing.
    """
    if change == RulesChange():
        raise invalid("settings_empty", "Name at least one rule to change.")
    async with rt.db.read() as session:
        row = await community_row(session, community)
    current = await rt.store.settings(community)
    settings = LedgerSettings(
        _or(change.members_may_transfer, current.members_may_transfer),
        _or(
            change.member_earning_cap_minutes_per_month,
            current.member_earning_cap_minutes_per_month,
        ),
        current.approval_threshold_minutes,
    )
    payment_max = _or(change.offline_payment_minutes_max, row.offline_payment_minutes_max)
    day_max = _or(change.offline_day_minutes_max, row.offline_day_minutes_max)
    if payment_max > day_max:
        raise invalid(
            "offline_caps_inconsistent",
            "The cap per payment without a scan cannot be above the cap per day.",
            offline_payment_minutes_max=payment_max,
            offline_day_minutes_max=day_max,
        )
    draft = drafts.configure(new_entry_id(), actor, settings, key=key)
    entry = await drafts.append(rt.ledger, community, draft)
    if (payment_max, day_max) != (row.offline_payment_minutes_max, row.offline_day_minutes_max):
        async with rt.db.write() as session:
            row = await community_row(session, community)
            row.offline_payment_minutes_max, row.offline_day_minutes_max = payment_max, day_max
            session.add(row)
    return entry


def _or(given: T | UnsetType, current: T) -> T:
    return current if isinstance(given, UnsetType) else given


def account_plan(type: AccountType) -> Plan:
    return {"account": new_id(_ACCOUNT_PREFIX[type]), "open": new_entry_id()}


async def open_named_account(
    rt: Runtime,
    community: str,
    type: AccountType,
    name: str,
    actor: str,
    plan: Plan,
    budget_minutes_per_month: int | None = None,
) -> NamedAccountRow:
    """Open an organisation's or shop's account and remember its public name."""
    draft = drafts.open_account(
        plan["open"], actor, plan["account"], type, budget_minutes_per_month
    )
    await drafts.append(rt.ledger, community, draft)
    row = NamedAccountRow(
        community=community,
        account_id=plan["account"],
        type=type.value,
        name=name,
        created_at=rt.now_seconds(),
    )
    async with rt.db.write() as session:
        if await session.get(NamedAccountRow, (community, row.account_id)) is None:
            session.add(row)
    return row


def person_plan(member: bool) -> Plan:
    plan = {
        "person": new_id(Prefix.PERSON),
        "staff": new_id(Prefix.STAFF),
        "grant": new_entry_id(),
    }
    if member:
        plan |= {"account": new_id(Prefix.MEMBER), "open": new_entry_id()}
    return plan


async def check_scope(rt: Runtime, community: str, role: Role, scope: str) -> None:
    """A coordinator's scope is an organisation, a shop role's a shop; others have none."""
    wanted = {Role.COORDINATOR: AccountType.ORGANISATION, Role.SHOP: AccountType.SHOP}.get(role)
    if wanted is None:
        if scope:
            raise invalid("role_scope_invalid", f"The {role.value} role takes no scope.")
        return
    account = await rt.store.account(community, scope) if scope else None
    if account is None or account.spec.type is not wanted:
        raise invalid(
            "role_scope_invalid", f"The {role.value} role needs a {wanted.value} account."
        )


async def create_person(
    rt: Runtime,
    community: str | None,
    details: PersonDetails,
    *,
    member: bool,
    roles: list[tuple[Role, str]],
    actor: str,
    plan: Plan,
) -> tuple[PersonRow, list[RoleRow]]:
    """A person, with a member account (opened in the ledger) when ``member``."""
    for role, scope in roles:
        if community is not None:
            await check_scope(rt, community, role, scope)
    if member:
        assert community is not None
        opened = drafts.open_account(plan["open"], actor, plan["account"], AccountType.MEMBER)
        await drafts.append(rt.ledger, community, opened)
        roles = [(Role.MEMBER, plan["account"]), *roles]
    now = rt.now_seconds()
    is_staff = any(role in STAFF_ROLES for role, _ in roles)
    async with rt.db.write() as session:
        person = await session.get(PersonRow, plan["person"])
        if person is None:
            person = PersonRow(
                id=plan["person"],
                community=community,
                staff_id=plan["staff"] if is_staff else None,
                name=details.name,
                phone=details.phone,
                email=details.email,
                language=details.language,
                neighbourhood=details.neighbourhood,
                created_at=now,
            )
            session.add(person)
            for role, scope in roles:
                session.add(_role_row(person, role, scope, actor, now))
        await session.flush()
        held = await roles_of(session, person.id)
    if community is not None and person.staff_id is not None:
        # A plan of before staff entries has no "grant": a fresh id, as for any grant.
        first = plan.get("grant") or new_entry_id()
        for index, (role, scope) in enumerate(roles):
            if role is Role.COORDINATOR:
                await _declare_coordinator(
                    rt, community, f"{first}.{index}", actor, person.staff_id, scope, True
                )
    return person, held


async def _declare_coordinator(
    rt: Runtime,
    community: str,
    draft_id: str,
    actor: str,
    staff_id: str,
    organisation: str,
    active: bool,
) -> None:
    """Put a coordinator's role (or its end) in the journal: the audit checks earnings
    against it. By the pseudonymous staff id only, so erasure leaves the journal as is."""
    draft = drafts.coordinator(draft_id, actor, staff_id, organisation, active=active)
    await drafts.append(rt.ledger, community, draft)


def _role_row(person: PersonRow, role: Role, scope: str, actor: str, now: int) -> RoleRow:
    return RoleRow(
        person_id=person.id,
        role=role.value,
        scope=scope,
        community=person.community,
        granted_at=now,
        granted_by=actor,
    )


async def grant_role(
    rt: Runtime, person: PersonRow, role: Role, scope: str, actor: str
) -> list[RoleRow]:
    if role not in STAFF_ROLES or role is Role.OPERATOR:
        raise invalid("role_not_grantable", "Grant shop, coordinator, auditor or admin.")
    if person.community is not None:
        await check_scope(rt, person.community, role, scope)
    async with rt.db.write() as session:
        fresh = await session.get(PersonRow, person.id)
        assert fresh is not None
        if fresh.erased_at is not None:
            raise conflict("person_erased", "This person's data was erased.")
        granted = await session.get(RoleRow, (person.id, role.value, scope)) is None
        if granted:
            session.add(_role_row(fresh, role, scope, actor, rt.now_seconds()))
        if fresh.staff_id is None:
            fresh.staff_id = new_id(Prefix.STAFF)
            session.add(fresh)
        await session.flush()
        roles = await roles_of(session, person.id)
        staff_id = fresh.staff_id
    if granted and role is Role.COORDINATOR and person.community is not None:
        await _declare_coordinator(
            rt, person.community, new_entry_id(), actor, staff_id, scope, True
        )
    rt.authenticator.forget()
    return roles


async def keep_an_admin(session: AsyncSession, person: PersonRow) -> None:
    """Refuse (409 ``last_admin``) a change that would leave ``person``'s community
    with no admin who is not erased; call it in the write transaction that makes it.

    The community's row is locked first (on PostgreSQL; SQLite's write lock does
    the same), so two admins removing each other at once cannot both pass: the
    second one counts after the first has committed.
    """
    if person.community is None:
        return
    await session.get(CommunityRow, person.community, with_for_update=True)
    other = (
        await session.exec(
            select(RoleRow.person_id)
            .join(PersonRow, col(PersonRow.id) == col(RoleRow.person_id))
            .where(
                RoleRow.community == person.community,
                RoleRow.role == Role.ADMIN.value,
                RoleRow.person_id != person.id,
                col(PersonRow.erased_at).is_(None),
            )
            .limit(1)
        )
    ).first()
    if other is None:
        raise conflict(
            "last_admin", "This is the community's last admin; make someone else admin first."
        )


async def revoke_role(
    rt: Runtime, person: PersonRow, role: Role, scope: str, actor: str
) -> list[RoleRow]:
    if role is Role.MEMBER or role is Role.OPERATOR:
        raise invalid("role_not_revocable", "A member account stays; revoke staff roles only.")
    async with rt.db.write() as session:
        row = await session.get(RoleRow, (person.id, role.value, scope))
        if row is not None:
            if role is Role.ADMIN:
                await keep_an_admin(session, person)
            await session.delete(row)
        await session.flush()
        roles = await roles_of(session, person.id)
    ended = row is not None and role is Role.COORDINATOR
    if ended and person.community is not None and person.staff_id is not None:
        await _declare_coordinator(
            rt, person.community, new_entry_id(), actor, person.staff_id, scope, False
        )
    rt.authenticator.forget()
    return roles


SECONDS_PER_DAY = 24 * 3600


def token_expires_at(now: int, days: int | None) -> int | None:
    """When a token made at ``now`` to last ``days`` days expires (None: never)."""
    return None if days is None else now + days * SECONDS_PER_DAY


async def issue_credential(
    rt: Runtime,
    person: PersonRow,
    *,
    kind: str,
    role: Role | None,
    label: str,
    created_by: str,
    credential_id: str | None = None,
    pay_code_member: str | None = None,
    expires_at: int | None = None,
) -> tuple[CredentialRow, str]:
    """A new device session or API token; the token is returned once and stored hashed.

    Reusing ``credential_id`` (a takeover of a request that died) gives that
    credential a fresh token. ``pay_code_member``: a member's phone, which gets
    its pay-code secret in the same transaction (``api.pay_codes``).
    ``expires_at`` (Unix seconds): the token is refused from then on.
    """
    if role is not None:
        async with rt.db.read() as session:
            held = {(r.role) for r in await roles_of(session, person.id)}
        if role.value not in held:
            raise invalid("role_not_held", f"This person does not hold the {role.value} role.")
    token = new_token()
    async with rt.db.write() as session:
        row = await session.get(CredentialRow, credential_id) if credential_id else None
        if row is None:
            row = CredentialRow(
                id=credential_id
                or new_id(Prefix.DEVICE if kind == KIND_DEVICE else Prefix.API_TOKEN),
                token_hash=token_hash(token),
                kind=kind,
                person_id=person.id,
                community=person.community,
                role=None if role is None else role.value,
                label=label[: limits.LABEL_LENGTH_MAX],
                created_at=rt.now_seconds(),
                created_by=created_by,
                expires_at=expires_at,
            )
        else:
            row.token_hash = token_hash(token)
        session.add(row)
        if pay_code_member is not None and await session.get(PayCodeDeviceRow, row.id) is None:
            await pay_codes.add_device(
                session, rt.ledger.signer.private_key, row, pay_code_member, rt.now_seconds()
            )
    return row, token


async def revoke_credential(rt: Runtime, credential: CredentialRow, actor: str) -> CredentialRow:
    async with rt.db.write() as session:
        row = await session.get(CredentialRow, credential.id)
        assert row is not None
        if row.revoked_at is None:
            row.revoked_at, row.revoked_by = rt.now_seconds(), actor
            session.add(row)
    rt.authenticator.forget({credential.id})
    return row


async def sign_out_device(rt: Runtime, credential_id: str, actor: str) -> None:
    """Sign out the device session ``credential_id`` for good (its holder chose to)."""
    async with rt.db.read() as session:
        credential = await session.get(CredentialRow, credential_id)
    if credential is not None and credential.kind == KIND_DEVICE:
        await revoke_credential(rt, credential, actor)


def enrolment_url(rt: Runtime, token: str) -> str:
    return f"{rt.settings.public_url}/e/{token}"


async def _retire_links(
    session: AsyncSession, person_id: str, now: int, keep: str | None = None
) -> None:
    """Make every unused link of ``person_id`` (but ``keep``) expire at ``now``.

    A retired link is an expired one: its page says so and to ask the coordinator for
    a new one, and ``redeem_enrolment`` no longer consumes it. One conditional UPDATE,
    so a link being redeemed at this moment is either used already or retired.
    """
    retire = update(EnrolmentLinkRow).where(
        col(EnrolmentLinkRow.person_id) == person_id,
        col(EnrolmentLinkRow.used_at).is_(None),
        col(EnrolmentLinkRow.expires_at) > now,
    )
    if keep is not None:
        retire = retire.where(col(EnrolmentLinkRow.id) != keep)
    await session.exec(retire.values(expires_at=now))


async def retire_enrolment_links(rt: Runtime, person: PersonRow) -> None:
    """No unused link of ``person`` works any more (a lost phone, a lost welcome card)."""
    async with rt.db.write() as session:
        await _retire_links(session, person.id, rt.now_seconds())


async def issue_enrolment_link(
    rt: Runtime, person: PersonRow, created_by: str, link_id: str | None = None
) -> tuple[EnrolmentLinkRow, str]:
    """A one-time link, valid for ``ENROLMENT_LINK_SECONDS``; returns the row and the URL.

    Only the newest link of a person works: issuing one retires their earlier unused
    links (a card printed twice, a form sent twice, a card left in a stolen bag).
    Reusing ``link_id`` (a takeover of a request that died) gives that link a fresh
    token and, while unused, a fresh validity, even if it was retired meanwhile.
    """
    if person.erased_at is not None:
        raise conflict("person_erased", "This person's data was erased.")
    assert person.community is not None, "operators sign in with tokens, not links"
    token = new_token()
    now = rt.now_seconds()
    async with rt.db.write() as session:
        row = await session.get(EnrolmentLinkRow, link_id) if link_id else None
        if row is None:
            row = EnrolmentLinkRow(
                id=link_id or new_id(Prefix.ENROLMENT),
                token_hash=token_hash(token),
                person_id=person.id,
                community=person.community,
                created_at=now,
                created_by=created_by,
                expires_at=now + limits.ENROLMENT_LINK_SECONDS,
            )
        else:
            row.token_hash = token_hash(token)
            if row.used_at is None:
                row.expires_at = now + limits.ENROLMENT_LINK_SECONDS
        await _retire_links(session, person.id, now, keep=row.id)
        session.add(row)
    return row, enrolment_url(rt, token)


class LinkState(enum.StrEnum):
    """What an enrolment token is: a link that still works, one already used or expired
    (a retired link has expired), or a token that was never issued (or whose link was
    replaced)."""

    USABLE = "usable"
    USED = "used"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


async def enrolment_link_state(rt: Runtime, token: str) -> LinkState:
    async with rt.db.read() as session:
        link = (
            await session.exec(
                select(EnrolmentLinkRow).where(EnrolmentLinkRow.token_hash == token_hash(token))
            )
        ).first()
    if link is None:
        return LinkState.UNKNOWN
    if link.used_at is not None:
        return LinkState.USED
    if link.expires_at <= rt.now_seconds():
        return LinkState.EXPIRED
    return LinkState.USABLE


async def enrolment_language(rt: Runtime, token: str) -> str | None:
    """The language of the person an enrolment link is for (their welcome page speaks
    it), or None for an unknown token."""
    async with rt.db.read() as session:
        link = (
            await session.exec(
                select(EnrolmentLinkRow).where(EnrolmentLinkRow.token_hash == token_hash(token))
            )
        ).first()
        person = None if link is None else await session.get(PersonRow, link.person_id)
    return None if person is None else person.language


async def redeem_enrolment(rt: Runtime, token: str, label: str) -> tuple[CredentialRow, str] | None:
    """Consume the link (once, atomically) and bind a new device session; None if unusable.

    The conditional UPDATE is what makes the link single-use under concurrency:
    of two requests racing with the same token, exactly one changes the row.
    """
    digest = token_hash(token)
    now = rt.now_seconds()
    device_id = new_id(Prefix.DEVICE)
    async with rt.db.write() as session:
        consumed = await session.exec(
            update(EnrolmentLinkRow)
            .where(
                col(EnrolmentLinkRow.token_hash) == digest,
                col(EnrolmentLinkRow.used_at).is_(None),
                col(EnrolmentLinkRow.expires_at) > now,
            )
            .values(used_at=now, device_id=device_id)
        )
        if consumed.rowcount != 1:
            return None
        link = (
            await session.exec(
                select(EnrolmentLinkRow).where(EnrolmentLinkRow.token_hash == digest)
            )
        ).one()
        person = await session.get(PersonRow, link.person_id)
        if person is None or person.erased_at is not None:
            return None
        roles = await roles_of(session, person.id)
    member = next((r.scope for r in roles if r.role == Role.MEMBER.value), None)
    credential, session_token = await issue_credential(
        rt, person, kind=KIND_DEVICE, role=None, label=label, created_by=link.created_by,
        credential_id=device_id, pay_code_member=member,
    )  # fmt: skip
    return credential, session_token


async def erase_person(rt: Runtime, person: PersonRow, actor: str) -> PersonRow:
    """Erase personal data and sign the person out everywhere; ids and the journal stay."""
    now = rt.now_seconds()
    async with rt.db.write() as session:
        row = await session.get(PersonRow, person.id)
        assert row is not None
        admin = await session.get(RoleRow, (row.id, Role.ADMIN.value, ""))
        if admin is not None and row.erased_at is None:
            await keep_an_admin(session, row)
        row.name, row.phone, row.email, row.neighbourhood = ERASED_NAME, None, None, None
        row.erased_at = row.erased_at or now
        session.add(row)
        for credential in (
            await session.exec(select(CredentialRow).where(CredentialRow.person_id == person.id))
        ).all():
            if credential.revoked_at is None:
                credential.revoked_at, credential.revoked_by = now, actor
                session.add(credential)
    await forget_person(rt.db, person.id)
    rt.authenticator.forget()
    return row
