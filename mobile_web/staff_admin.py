"""The community admin's screen: members, staff, shops, organisations with their monthly
budgets, the community's settings and its API tokens, each listed from the API's
services; API tokens can be revoked here (``api.provisioning``). Making people,
accounts and tokens stays with the API and the ``buurtmunt`` command, which the
screen names.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response, get, post

from api import limits, provisioning
from api.access import Role
from api.directory import (
    community_credentials,
    community_row,
    named_accounts,
    people_with_role,
    roles_of,
)
from api.problems import ProblemError
from api.provisioning import KIND_API
from api.routes.markers import RuntimeDep
from api.routes.people import STAFF_LISTED
from api.tables import CredentialRow
from ledger.model import AccountType
from mobile_web.render import N_
from mobile_web.resident import message_page
from mobile_web.staff import FormBody, IdPath, Staff, screen, staff_for, staff_form

HOME = "/s/admin"
LISTED_MAX = limits.LIST_SIZE_MAX


@get(HOME, include_in_schema=False)
async def admin_home(request: Request[Any, Any, Any], rt: RuntimeDep) -> Response[str]:
    staff = await staff_for(request, rt, Role.ADMIN)
    if not isinstance(staff, Staff):
        return staff
    community = staff.community
    async with rt.db.read() as session:
        settings = await community_row(session, community)
        members = await people_with_role(session, community, [Role.MEMBER], None, LISTED_MAX)
        staff_people = await people_with_role(session, community, STAFF_LISTED, None, LISTED_MAX)
        shops = await named_accounts(session, community, AccountType.SHOP)
        organisations = await named_accounts(session, community, AccountType.ORGANISATION)
        tokens = await community_credentials(session, community, KIND_API, LISTED_MAX)
        roles = {
            p.id: sorted({r.role for r in await roles_of(session, p.id)}) for p in staff_people
        }
    created = {t.id: datetime.fromtimestamp(t.created_at, UTC).date() for t in tokens}
    budgets = {}
    for org in organisations:
        account = await rt.store.account(community, org.account_id)
        budgets[org.account_id] = (
            0 if account is None else account.spec.budget_minutes_per_month or 0
        )
    return screen(
        "staff_admin.html",
        staff,
        settings=settings,
        members=members,
        staff_people=staff_people,
        shops=shops,
        organisations=organisations,
        budgets=budgets,
        tokens=tokens,
        roles=roles,
        created=created,
        own_token=staff.session.principal.credential_id,
    )


@post(f"{HOME}/tokens/{{token_id:str}}/revoke", include_in_schema=False, status_code=200)
async def revoke_token(
    request: Request[Any, Any, Any], token_id: IdPath, rt: RuntimeDep, data: FormBody
) -> Response[str]:
    staff = await staff_form(request, rt, Role.ADMIN, data)
    if not isinstance(staff, Staff):
        return staff
    async with rt.db.read() as session:
        row = await session.get(CredentialRow, token_id)
    if row is None or row.kind != KIND_API or row.community != staff.community:
        return message_page(
            staff.page, N_("Sorry"), N_("We cannot find this page."), 404, link=HOME
        )
    try:
        await provisioning.revoke_credential(rt, row, staff.actor)
    except ProblemError:
        return message_page(staff.page, N_("Sorry"), N_("This did not work."), 409, link=HOME)
    return message_page(
        staff.page, N_("Administration"), N_("The token no longer works."), 200,
        problem=False, link=HOME,
    )  # fmt: skip


ROUTES = [admin_home, revoke_token]
