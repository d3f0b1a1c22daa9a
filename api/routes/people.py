"""People: residents (members) and staff, their roles, erasure, links and devices.

Coordinators manage residents (people whose only role is member); admins manage
everyone in their community. Personal data lives here, never in the journal.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from api import limits, provisioning
from api.access import Action, Principal, Role
from api.auth import community_of
from api.directory import credentials_of, people_with_role, person_in, person_out, roles_of
from api.enrolment import create_person_once, enrolment_link_once
from api.idempotency import IdempotencyKeyHeader, draft_id
from api.problems import forbidden
from api.provisioning import KIND_DEVICE
from api.routes.markers import (
    IdPath,
    ListLimitQuery,
    PersonCursorQuery,
    PrincipalDep,
    RuntimeDep,
    route,
)
from api.runtime import Runtime
from api.schemas.common import SCOPE_PATTERN, rfc3339
from api.schemas.people import (
    CredentialOut,
    CredentialPage,
    EnrolmentLinkOut,
    PersonIn,
    PersonOut,
    PersonPage,
    RoleIn,
    StaffIn,
    StaffRole,
)
from api.tables import CredentialRow, PersonRow, RoleRow

RoleScopeQuery = Annotated[
    str,
    QueryParameter(
        name="scope",
        pattern=SCOPE_PATTERN,
        max_length=40,
        description="The role's account, if any.",
    ),
]
STAFF_LISTED = [Role.SHOP, Role.COORDINATOR, Role.AUDITOR, Role.ADMIN]


def check_manageable(principal: Principal, roles: list[RoleRow]) -> None:
    """Admins manage anyone in their community; coordinators only residents."""
    if principal.has(Role.ADMIN):
        return
    if principal.has(Role.COORDINATOR) and all(r.role == Role.MEMBER for r in roles):
        return
    raise forbidden("person_not_manageable", "Coordinators manage residents only.")


def credential_out(row: CredentialRow) -> CredentialOut:
    return CredentialOut(
        id=row.id,
        kind=row.kind,
        person_id=row.person_id,
        label=row.label,
        created_at=rfc3339(row.created_at) or "",
        role=row.role,
        last_used_at=rfc3339(row.last_used_at),
        revoked_at=rfc3339(row.revoked_at),
        expires_at=rfc3339(row.expires_at),
    )


async def _page(
    rt: Runtime, community: str, roles: list[Role], cursor: str | None, limit: int
) -> PersonPage:
    async with rt.db.read() as session:
        people = await people_with_role(session, community, roles, cursor, limit)
        items = [person_out(p, await roles_of(session, p.id)) for p in people]
    return PersonPage(items=items, next_cursor=items[-1].id if len(items) == limit else None)


class MemberController(Controller):
    path = "/api/v1/members"
    tags = ["people"]

    @post("/", summary="Register a resident with a member account", **route(Action.MEMBER_CREATE))
    async def create(
        self,
        data: JSONBody[PersonIn],
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[PersonOut]:
        status, out = await create_person_once(
            rt, principal, idempotency_key, "members.create", data, True, []
        )
        return Response(out, status_code=status)

    @get("/", summary="Residents, by id", **route(Action.MEMBER_READ))
    async def list_all(
        self,
        rt: RuntimeDep,
        principal: PrincipalDep,
        cursor: PersonCursorQuery = None,
        limit: ListLimitQuery = 100,
    ) -> PersonPage:
        return await _page(rt, community_of(principal), [Role.MEMBER], cursor, limit)


class StaffController(Controller):
    path = "/api/v1/staff"
    tags = ["people"]

    @post("/", summary="Add a staff member with roles", **route(Action.STAFF_CREATE))
    async def create(
        self,
        data: JSONBody[StaffIn],
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[PersonOut]:
        # A person holds a role once: the same role named twice is granted once.
        roles = list(dict.fromkeys((Role(r.role.value), r.scope) for r in data.roles))
        status, out = await create_person_once(
            rt, principal, idempotency_key, "staff.create", data, False, roles
        )
        return Response(out, status_code=status)

    @get("/", summary="Staff, by id", **route(Action.STAFF_READ))
    async def list_all(
        self,
        rt: RuntimeDep,
        principal: PrincipalDep,
        cursor: PersonCursorQuery = None,
        limit: ListLimitQuery = 100,
    ) -> PersonPage:
        return await _page(rt, community_of(principal), STAFF_LISTED, cursor, limit)


class PersonController(Controller):
    path = "/api/v1/people/{person_id:str}"
    tags = ["people"]

    async def _load(
        self, rt: Runtime, principal: Principal, person_id: str
    ) -> tuple[PersonRow, list[RoleRow]]:
        async with rt.db.read() as session:
            person = await person_in(session, community_of(principal), person_id)
            roles = await roles_of(session, person_id)
        check_manageable(principal, roles)
        return person, roles

    @get("/", summary="One person", **route(Action.MEMBER_READ, 404))
    async def read(self, person_id: IdPath, rt: RuntimeDep, principal: PrincipalDep) -> PersonOut:
        person, roles = await self._load(rt, principal, person_id)
        return person_out(person, roles)

    @post(
        "/roles",
        summary="Grant a staff role",
        status_code=200,
        **route(Action.ROLE_GRANT, 404, 409),
    )
    async def grant(
        self, person_id: IdPath, data: JSONBody[RoleIn], rt: RuntimeDep, principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> PersonOut:  # fmt: skip
        draft_id(idempotency_key)
        person, _ = await self._load(rt, principal, person_id)
        roles = await provisioning.grant_role(
            rt, person, Role(data.role.value), data.scope, principal.staff_actor
        )
        return person_out(person, roles)

    @delete(
        "/roles/{role:str}",
        summary="Revoke a staff role",
        status_code=200,
        **route(Action.ROLE_REVOKE, 404),
    )
    async def revoke(
        self,
        person_id: IdPath,
        role: FromPath[StaffRole],
        rt: RuntimeDep,
        principal: PrincipalDep,
        role_scope: RoleScopeQuery = "",
    ) -> PersonOut:
        person, _ = await self._load(rt, principal, person_id)
        roles = await provisioning.revoke_role(
            rt, person, Role(role.value), role_scope, principal.staff_actor
        )
        return person_out(person, roles)

    @post(
        "/erase",
        summary="Erase personal data (the ledger keeps only ids)",
        status_code=200,
        **route(Action.PERSON_ERASE, 404),
    )
    async def erase(
        self,
        person_id: IdPath,
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> PersonOut:
        draft_id(idempotency_key)
        person, roles = await self._load(rt, principal, person_id)
        erased = await provisioning.erase_person(rt, person, principal.staff_actor)
        return person_out(erased, roles)

    @post(
        "/enrolment-links",
        summary="A one-time sign-in link (and QR) for a phone",
        **route(Action.ENROLMENT_CREATE, 404, 409),
    )
    async def enrolment_link(
        self,
        person_id: IdPath,
        rt: RuntimeDep,
        principal: PrincipalDep,
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[EnrolmentLinkOut]:
        person, _ = await self._load(rt, principal, person_id)
        status, out = await enrolment_link_once(rt, principal, person, idempotency_key)
        return Response(out, status_code=status)

    @get("/devices", summary="The person's device sessions", **route(Action.DEVICE_READ, 404))
    async def devices(
        self, person_id: IdPath, rt: RuntimeDep, principal: PrincipalDep
    ) -> CredentialPage:
        await self._load(rt, principal, person_id)
        async with rt.db.read() as session:
            rows = await credentials_of(session, person_id, KIND_DEVICE)
        return CredentialPage(items=[credential_out(r) for r in rows[: limits.LIST_SIZE_MAX]])
