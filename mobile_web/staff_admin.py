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

from api import drafts, limits, provisioning
from api.access import Role
from api.directory import (
    community_credentials,
    community_row,
    named_accounts,
    people_with_role,
    roles_of,
)
from api.idempotency import entry_id, fingerprint, once
from api.problems import ProblemError
from api.provisioning import KIND_API
from api.routes.markers import RuntimeDep
from api.routes.organisations import organisation_out
from api.routes.people import STAFF_LISTED
from api.schemas.common import text_ok
from api.schemas.community import ShopOut
from api.tables import CredentialRow
from ledger import limits as ledger_limits
from ledger.model import AccountType
from mobile_web.render import N_
from mobile_web.resident import message_page
from mobile_web.staff import FormBody, IdPath, Staff, key_ok, screen, staff_for, staff_form

HOME = "/s/admin"
LISTED_MAX = limits.LIST_SIZE_MAX
BUDGET_HOURS_MAX = ledger_limits.BUDGET_MINUTES_PER_MONTH_MAX // 60


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
    organisation_lines = [await organisation_out(rt, community, org) for org in organisations]
    return screen(
        "staff_admin.html",
        staff,
        settings=settings,
        members=members,
        staff_people=staff_people,
        shops=shops,
        organisations=organisation_lines,
        hours_max=BUDGET_HOURS_MAX,
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


def _hours(text: str | None) -> int | None:
    """Whole hours from a form field, in minutes; None unless 0 to ``BUDGET_HOURS_MAX``."""
    text = (text or "").strip()
    if not text.isdecimal() or len(text) > len(str(BUDGET_HOURS_MAX)):
        return None
    return int(text) * 60 if int(text) <= BUDGET_HOURS_MAX else None


def _name(text: str | None) -> str | None:
    name = (text or "").strip()
    ok = 0 < len(name) <= limits.NAME_LENGTH_MAX and text_ok(name)
    return name if ok else None


def _not_done(staff: Staff, status: int = 422) -> Response[str]:
    text = N_("This did not work. Check what you filled in and try again.")
    return message_page(staff.page, N_("Sorry"), text, status, link=HOME)


def _done(staff: Staff, text: str) -> Response[str]:
    return message_page(staff.page, N_("Administration"), text, 200, problem=False, link=HOME)


@post(f"{HOME}/accounts", include_in_schema=False, status_code=200)
async def open_account(
    request: Request[Any, Any, Any], rt: RuntimeDep, data: FormBody
) -> Response[str]:
    """A new organisation (with its monthly budget) or shop; the form's key makes a second
    send of the same form open nothing more."""
    staff = await staff_form(request, rt, Role.ADMIN, data)
    if not isinstance(staff, Staff):
        return staff
    kind = {"organisation": AccountType.ORGANISATION, "shop": AccountType.SHOP}.get(
        data.get("kind", "")
    )
    name, key = _name(data.get("name")), data.get("key", "")
    budget = _hours(data.get("budget_hours")) if kind is AccountType.ORGANISATION else None
    if kind is None or name is None or not key_ok(key):
        return _not_done(staff)
    if kind is AccountType.ORGANISATION and budget is None:
        return _not_done(staff)
    community = staff.community

    async def work(plan: dict[str, str]) -> tuple[int, ShopOut]:
        named = await provisioning.open_named_account(
            rt, community, kind, name, staff.actor, plan, budget_minutes_per_month=budget
        )
        return 201, ShopOut(account_id=named.account_id, name=named.name, balance_minutes=0)

    await once(
        rt.db,
        scope=community,
        key=key,
        fingerprint=fingerprint("pages.accounts.open", staff.session.principal.person_id, data),
        now=rt.now_seconds,
        make_plan=lambda: provisioning.account_plan(kind),
        out_type=ShopOut,
        work=work,
    )
    return _done(staff, N_("Opened."))


@post(f"{HOME}/organisations/{{account_id:str}}/budget", include_in_schema=False, status_code=200)
async def set_budget(
    request: Request[Any, Any, Any], account_id: IdPath, rt: RuntimeDep, data: FormBody
) -> Response[str]:
    """The organisation's monthly budget: a budget entry in the journal."""
    staff = await staff_form(request, rt, Role.ADMIN, data)
    if not isinstance(staff, Staff):
        return staff
    budget, key = _hours(data.get("budget_hours")), data.get("key", "")
    if budget is None or not key_ok(key):
        return _not_done(staff)
    account = await rt.store.account(staff.community, account_id)
    if account is None or account.spec.type is not AccountType.ORGANISATION:
        return _not_done(staff, 404)
    principal = staff.session.principal
    draft = drafts.budget(entry_id(principal.credential_id, key), staff.actor, account_id, budget)
    try:
        await drafts.append(rt.ledger, staff.community, draft)
    except ProblemError:
        return _not_done(staff, 409)
    return _done(staff, N_("The budget is set."))


ROUTES = [admin_home, revoke_token, open_account, set_budget]
