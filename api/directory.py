"""Reads of the application's tables: people with their roles, names of accounts.

Functions take an open session, so a route can combine them in one transaction.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api import limits
from api.access import Role
from api.problems import not_found
from api.schemas.common import rfc3339
from api.schemas.people import PersonOut, RoleOut
from api.tables import CommunityRow, CredentialRow, NamedAccountRow, PersonRow, RoleRow
from ledger.model import AccountType

ERASED_NAME = ""


async def roles_of(session: AsyncSession, person_id: str) -> list[RoleRow]:
    rows = await session.exec(
        select(RoleRow).where(RoleRow.person_id == person_id).order_by(col(RoleRow.role))
    )
    return list(rows.all())


async def person_in(session: AsyncSession, community: str, person_id: str) -> PersonRow:
    """The person ``person_id`` of ``community``, or a 404 problem."""
    person = await session.get(PersonRow, person_id)
    if person is None or person.community != community:
        raise not_found("person_not_found", f"No person {person_id!r} in this community.")
    return person


def person_out(person: PersonRow, roles: Sequence[RoleRow]) -> PersonOut:
    return PersonOut(
        id=person.id,
        name=person.name,
        language=person.language,
        roles=[RoleOut(Role(r.role), r.scope) for r in roles],
        created_at=rfc3339(person.created_at) or "",
        erased=person.erased_at is not None,
        phone=person.phone,
        email=person.email,
        neighbourhood=person.neighbourhood,
        member_account=next((r.scope for r in roles if r.role == Role.MEMBER), None),
        staff_id=person.staff_id,
    )


async def people_with_role(
    session: AsyncSession, community: str, roles: Sequence[Role], after: str | None, limit: int
) -> list[PersonRow]:
    query = (
        select(PersonRow)
        .where(PersonRow.community == community)
        .where(
            col(PersonRow.id).in_(
                select(RoleRow.person_id).where(
                    RoleRow.community == community, col(RoleRow.role).in_([r.value for r in roles])
                )
            )
        )
        .order_by(col(PersonRow.id))
        .limit(limit)
    )
    if after is not None:
        query = query.where(col(PersonRow.id) > after)
    return list((await session.exec(query)).all())


async def person_of_account(
    session: AsyncSession, community: str, account_id: str
) -> PersonRow | None:
    role = (
        await session.exec(
            select(RoleRow).where(
                RoleRow.community == community,
                RoleRow.role == Role.MEMBER.value,
                RoleRow.scope == account_id,
            )
        )
    ).first()
    return None if role is None else await session.get(PersonRow, role.person_id)


async def staff_name(session: AsyncSession, community: str, staff_id: str) -> str:
    """The name of the person of ``community`` who acts as ``staff_id`` (the journal's
    actor); "" if there is none or their data was erased."""
    person = (
        await session.exec(
            select(PersonRow).where(
                PersonRow.community == community, PersonRow.staff_id == staff_id
            )
        )
    ).first()
    return "" if person is None or person.erased_at is not None else person.name


async def named_accounts(
    session: AsyncSession, community: str, type: AccountType
) -> list[NamedAccountRow]:
    rows = await session.exec(
        select(NamedAccountRow)
        .where(NamedAccountRow.community == community, NamedAccountRow.type == type.value)
        .order_by(col(NamedAccountRow.name), col(NamedAccountRow.account_id))
    )
    return list(rows.all())


async def resident(
    session: AsyncSession, community: str, person_id: str, *, staff_too: bool
) -> tuple[PersonRow, str] | None:
    """The person ``person_id`` of ``community`` with a member account, and that account;
    None if there is no such person, they hold no member role, their data was erased, or
    (unless ``staff_too``) they hold a staff role as well."""
    person = await session.get(PersonRow, person_id)
    if person is None or person.community != community or person.erased_at is not None:
        return None
    roles = await roles_of(session, person.id)
    member = next((r.scope for r in roles if r.role == Role.MEMBER.value), None)
    if member is None or not (staff_too or all(r.role == Role.MEMBER.value for r in roles)):
        return None
    return person, member


async def people_names(
    session: AsyncSession, community: str, person_ids: Collection[str]
) -> dict[str, str]:
    """person id -> name, for those of ``person_ids`` in ``community`` (erased:
    ``ERASED_NAME``); at most ``LIST_SIZE_MAX`` ids."""
    wanted = sorted(set(person_ids))
    assert len(wanted) <= limits.LIST_SIZE_MAX, "one page of people"
    rows = await session.exec(
        select(PersonRow).where(PersonRow.community == community, col(PersonRow.id).in_(wanted))
    )
    return {p.id: ERASED_NAME if p.erased_at is not None else p.name for p in rows.all()}


async def account_name(session: AsyncSession, community: str, account_id: str) -> str | None:
    named = await session.get(NamedAccountRow, (community, account_id))
    if named is not None:
        return named.name
    person = await person_of_account(session, community, account_id)
    return None if person is None else person.name


async def community_row(session: AsyncSession, slug: str) -> CommunityRow:
    row = await session.get(CommunityRow, slug)
    if row is None:
        raise not_found("community_not_found", f"No community {slug!r}.")
    return row


async def credentials_of(
    session: AsyncSession, person_id: str, kind: str | None
) -> list[CredentialRow]:
    query = select(CredentialRow).where(CredentialRow.person_id == person_id)
    if kind is not None:
        query = query.where(CredentialRow.kind == kind)
    rows = await session.exec(query.order_by(col(CredentialRow.created_at), col(CredentialRow.id)))
    return list(rows.all())


async def members_named(
    session: AsyncSession, community: str, text: str, limit: int
) -> list[PersonRow]:
    """Residents (not erased) whose name holds ``text``, by name. Case and accents do not
    count (``folded``): "celik" finds "Çelik", "ayse" finds "Ayşe"."""
    wanted = folded(text)
    names = await session.exec(
        select(PersonRow.id, PersonRow.name)
        .where(PersonRow.community == community, col(PersonRow.erased_at).is_(None))
        .where(
            col(PersonRow.id).in_(
                select(RoleRow.person_id).where(
                    RoleRow.community == community, RoleRow.role == Role.MEMBER.value
                )
            )
        )
        .order_by(col(PersonRow.name), col(PersonRow.id))
    )
    found = [person_id for person_id, name in names.all() if wanted in folded(name)][:limit]
    if not found:
        return []
    rows = await session.exec(select(PersonRow).where(col(PersonRow.id).in_(found)))
    by_id = {row.id: row for row in rows.all()}
    return [by_id[person_id] for person_id in found]


# Letters that do not fall apart into a letter and an accent, as a search without accents
# reads them.
_PLAIN_LETTERS = str.maketrans({"\u0131": "i", "ø": "o", "ł": "l", "đ": "d", "æ": "ae", "œ": "oe"})


def folded(text: str) -> str:
    """``text`` as a name search compares it: in one case, without accents."""
    apart = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in apart if not unicodedata.combining(c)).translate(_PLAIN_LETTERS)


async def community_credentials(
    session: AsyncSession, community: str, kind: str, limit: int
) -> list[CredentialRow]:
    """The community's credentials of one kind (API tokens, device sessions), oldest first."""
    rows = await session.exec(
        select(CredentialRow)
        .where(CredentialRow.community == community, CredentialRow.kind == kind)
        .order_by(col(CredentialRow.created_at), col(CredentialRow.id))
        .limit(limit)
    )
    return list(rows.all())
