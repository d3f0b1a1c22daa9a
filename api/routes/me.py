"""Who am I: the caller's person, roles and (for members) balance."""

from __future__ import annotations

from litestar import Controller, get

from api.access import Action, Role
from api.directory import roles_of
from api.problems import ProblemError
from api.routes.markers import PrincipalDep, RuntimeDep, route
from api.schemas.people import MeOut, RoleOut
from api.tables import PersonRow


class MeController(Controller):
    path = "/api/v1/me"
    tags = ["me"]

    @get("/", summary="The signed-in person", **route(Action.ME_READ))
    async def me(self, rt: RuntimeDep, principal: PrincipalDep) -> MeOut:
        async with rt.db.read() as session:
            person = await session.get(PersonRow, principal.person_id)
            roles = await roles_of(session, principal.person_id)
        if person is None:
            raise ProblemError(401, "not_authenticated")
        balance = None
        if principal.member_account is not None and principal.community is not None:
            account = await rt.store.account(principal.community, principal.member_account)
            balance = None if account is None else account.balance_minutes
        return MeOut(
            person_id=person.id,
            community=person.community,
            name=person.name,
            language=person.language,
            roles=[
                RoleOut(Role(r.role), r.scope) for r in roles if Role(r.role) in principal.roles
            ],
            credential_id=principal.credential_id,
            member_account=principal.member_account,
            balance_minutes=balance,
            staff_id=principal.staff_id,
        )
