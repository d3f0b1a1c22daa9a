"""The community admin's screen: members, staff, shops, organisations with their monthly
budgets, the community's settings and its API tokens, each listed from the API's
services. The admin opens organisations and shops, sets budgets, adds staff (printing
their welcome card) and makes and revokes API tokens here, through the same services
as the API's routes (``api.provisioning``), each form's one-time key its
Idempotency-Key. Residents are enrolled on the coordinator's screen.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, Response, get, post

from api import drafts, enrolment, limits, provisioning, shop_payments
from api.access import Role
from api.directory import (
    community_credentials,
    community_row,
    members_named,
    named_accounts,
    people_names,
    people_with_role,
    person_in,
    roles_of,
)
from api.idempotency import fingerprint, once, scoped_key
from api.problems import ProblemError
from api.provisioning import KIND_API
from api.routes.markers import RuntimeDep
from api.routes.organisations import organisation_out
from api.routes.people import STAFF_LISTED
from api.runtime import Runtime
from api.schemas.common import text_ok
from api.schemas.community import ShopOut
from api.schemas.people import StaffIn, TokenCreatedOut
from api.tables import CredentialRow, PersonRow
from api.tokens import Prefix, new_id
from ledger import limits as ledger_limits
from ledger.amounts import LANGUAGES
from ledger.ids import new_entry_id
from ledger.model import AccountType
from mobile_web.forms import FormBody
from mobile_web.render import N_
from mobile_web.staff import IdPath, Staff, key_ok, screen, staff_for, staff_form, staff_message
from mobile_web.staff_coordinator import STAFF_WELCOME_STEPS, new_phone_confirm, welcome_card

HOME = "/s/admin"
LISTED_MAX = limits.LIST_SIZE_MAX
BUDGET_HOURS_MAX = ledger_limits.BUDGET_MINUTES_PER_MONTH_MAX // 60
# The staff roles an admin gives here, and what the forms call them; shop staff and
# coordinators work for one shop or organisation.
STAFF_ROLE_NAMES = {
    Role.SHOP: N_("Shop staff"),
    Role.COORDINATOR: N_("Coordinator"),
    Role.AUDITOR: N_("Municipality"),
    Role.ADMIN: N_("Administration"),
}
SCOPED = {Role.SHOP: AccountType.SHOP, Role.COORDINATOR: AccountType.ORGANISATION}
STAFF_VALUES = frozenset(role.value for role in STAFF_LISTED)
OWN_PHONE = N_(
    "This would sign out the phone you are using. Ask another admin to make your new welcome card."
)
# What the staff and token tables call every role a person or token may hold.
ROLE_WORDS = {
    **{role.value: name for role, name in STAFF_ROLE_NAMES.items()},
    Role.MEMBER.value: N_("Resident"),
    Role.OPERATOR.value: N_("Operator"),
}


@get(HOME, include_in_schema=False)
async def admin_home(request: Request[Any, Any, Any], rt: RuntimeDep) -> Response[str]:
    staff = await staff_for(request, rt, Role.ADMIN)
    if not isinstance(staff, Staff):
        return staff
    community = staff.community
    # A name to look for among all residents: the list without one stops at LISTED_MAX.
    wanted = request.query_params.get("q", "").strip()[: limits.NAME_LENGTH_MAX]
    async with rt.db.read() as session:
        settings = await community_row(session, community)
        if wanted:
            members = await members_named(session, community, wanted, LISTED_MAX)
        else:
            members = await people_with_role(session, community, [Role.MEMBER], None, LISTED_MAX)
        staff_people = await people_with_role(session, community, STAFF_LISTED, None, LISTED_MAX)
        # By name, as people look for them (the directory lists them in the order made).
        members.sort(key=lambda person: person.name.casefold())
        staff_people.sort(key=lambda person: person.name.casefold())
        organisations = await named_accounts(session, community, AccountType.ORGANISATION)
        tokens = await community_credentials(session, community, KIND_API, LISTED_MAX)
        owners = await people_names(session, community, [t.person_id for t in tokens])
        roles = {
            p.id: sorted({r.role for r in await roles_of(session, p.id)}) for p in staff_people
        }
    rules = await rt.store.settings(community)
    shops = await shop_payments.shops(rt, staff.session.principal, community)
    created = {t.id: datetime.fromtimestamp(t.created_at, UTC).date() for t in tokens}
    organisation_lines = [await organisation_out(rt, community, org) for org in organisations]
    return screen(
        "staff_admin.html",
        staff,
        settings=settings,
        rules=rules,
        members=members,
        wanted=wanted,
        members_cut=len(members) >= LISTED_MAX,
        staff_people=staff_people,
        shops=shops,
        organisations=organisation_lines,
        hours_max=BUDGET_HOURS_MAX,
        tokens=tokens,
        roles=roles,
        owners=owners,
        created=created,
        own_token=staff.session.principal.credential_id,
        own_person=staff.session.principal.person_id,
        role_names=STAFF_ROLE_NAMES,
        role_words=ROLE_WORDS,
        days_max=limits.TOKEN_LIFETIME_DAYS_MAX,
    )


def _token_path(token_id: str) -> str:
    return f"{HOME}/tokens/{token_id}/revoke"


async def _api_token(rt: Runtime, staff: Staff, token_id: str) -> CredentialRow | None:
    """An API token of the admin's community, or None."""
    async with rt.db.read() as session:
        row = await session.get(CredentialRow, token_id)
    if row is None or row.kind != KIND_API or row.community != staff.community:
        return None
    return row


def _no_such_page(staff: Staff) -> Response[str]:
    return staff_message(staff, N_("Sorry"), N_("We cannot find this page."), 404, link=HOME)


@get(_token_path("{token_id:str}"), include_in_schema=False)
async def revoke_token_confirm(
    request: Request[Any, Any, Any], token_id: IdPath, rt: RuntimeDep
) -> Response[str]:
    """Asks before revoking a token, naming it, whose it is and what stops."""
    staff = await staff_for(request, rt, Role.ADMIN)
    if not isinstance(staff, Staff):
        return staff
    row = await _api_token(rt, staff, token_id)
    if row is None:
        return _no_such_page(staff)
    if row.revoked_at is not None:
        return _done(staff, N_("The token no longer works."))
    async with rt.db.read() as session:
        owner = await session.get(PersonRow, row.person_id)
    return screen(
        "staff_revoke_confirm.html", staff, token=row, owner=owner,
        role_words=ROLE_WORDS, own=row.id == staff.session.principal.credential_id,
        made_on=datetime.fromtimestamp(row.created_at, UTC).date(),
    )  # fmt: skip


@post(_token_path("{token_id:str}"), include_in_schema=False, status_code=200)
async def revoke_token(
    request: Request[Any, Any, Any], token_id: IdPath, rt: RuntimeDep, data: FormBody
) -> Response[str]:
    staff = await staff_form(request, rt, Role.ADMIN, data)
    if not isinstance(staff, Staff):
        return staff
    row = await _api_token(rt, staff, token_id)
    if row is None:
        return _no_such_page(staff)
    try:
        await provisioning.revoke_credential(rt, row, staff.actor)
    except ProblemError:
        return staff_message(staff, N_("Sorry"), N_("This did not work."), 409, link=HOME)
    return _done(staff, N_("The token no longer works."))


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


DID_NOT_WORK = N_("This did not work. Check what you filled in and try again.")
BUDGET_INVALID = N_(
    "Give the budget per month in whole hours, such as 40: no letters, decimals or minus sign."
)
PLACE_MISSING = N_(
    "Choose the shop this person works at (shop staff) or the organisation they work for "
    "(a coordinator); other roles have none."
)


def _not_done(
    staff: Staff, status: int = 422, text: str = DID_NOT_WORK, **words: str
) -> Response[str]:
    """The refusal of an admin form: ``text`` (a message id, filled with ``words``) says
    what to put right, where the form can tell."""
    return staff_message(staff, N_("Sorry"), text, status, link=HOME, words=words or None)


def _budget_invalid(staff: Staff) -> Response[str]:
    return _not_done(staff, text=BUDGET_INVALID)


def _done(staff: Staff, text: str) -> Response[str]:
    return staff_message(staff, N_("Administration"), text, 200, problem=False, link=HOME)


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
        return _budget_invalid(staff)
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
    if not key_ok(key):
        return _not_done(staff)
    if budget is None:
        return _budget_invalid(staff)
    account = await rt.store.account(staff.community, account_id)
    if account is None or account.spec.type is not AccountType.ORGANISATION:
        return _not_done(staff, 404)
    principal = staff.session.principal
    request_key = scoped_key(principal.credential_id, key)
    draft = drafts.budget(new_entry_id(), staff.actor, account_id, budget, key=request_key)
    try:
        await drafts.append(rt.ledger, staff.community, draft)
    except ProblemError:
        return _not_done(staff, 409)
    return _done(staff, N_("The budget is set."))


def _role(text: str | None) -> Role | None:
    return next((role for role in STAFF_ROLE_NAMES if role.value == text), None)


async def _scope(rt: Any, staff: Staff, role: Role, place: str) -> str | None:
    """The shop or organisation a shop or coordinator role is for ("" for the others)."""
    wanted = SCOPED.get(role)
    if wanted is None:
        return ""
    account = await rt.store.account(staff.community, place) if place else None
    return place if account is not None and account.spec.type is wanted else None


@post(f"{HOME}/staff", include_in_schema=False, status_code=200)
async def add_staff(
    request: Request[Any, Any, Any], rt: RuntimeDep, data: FormBody
) -> Response[str]:
    """A new staff member with one role, and their welcome card (``POST /api/v1/staff``);
    the form sent again shows the same person's same card, and issues no second link."""
    staff = await staff_form(request, rt, Role.ADMIN, data)
    if not isinstance(staff, Staff):
        return staff
    name, role, key = _name(data.get("name")), _role(data.get("role")), data.get("key", "")
    language = data.get("language", "")
    if name is None or role is None or language not in LANGUAGES or not key_ok(key):
        return _not_done(staff)
    scope = await _scope(rt, staff, role, data.get("place", ""))
    if scope is None:
        return _not_done(staff, text=PLACE_MISSING)
    community = staff.community
    wanted = {"name": name, "language": language, "roles": [{"role": role.value, "scope": scope}]}
    try:
        asked = msgspec.convert(wanted, StaffIn)
    except msgspec.ValidationError:
        return _not_done(staff)
    try:
        _, out = await enrolment.create_person_once(
            rt, staff.session.principal, key, "staff.create", asked, False, [(role, scope)]
        )
        async with rt.db.read() as session:
            person: PersonRow = await person_in(session, community, out.id)
        url = await enrolment.welcome_link_once(rt, staff.session.principal, person, key)
    except ProblemError:
        return _not_done(staff, 409)
    return welcome_card(
        staff, person, url, back=(HOME, N_("Administration")), three_steps=STAFF_WELCOME_STEPS
    )


def _new_phone_path(person_id: str) -> str:
    return f"{HOME}/staff/{person_id}/new-phone"


async def _staff_member(rt: Runtime, staff: Staff, person_id: str) -> PersonRow | Response[str]:
    """A staff member of the admin's community other than the admin, or the page that
    says why not (their own: that would sign out the screen asking)."""
    try:
        async with rt.db.read() as session:
            person = await person_in(session, staff.community, person_id)
            listed = {r.role for r in await roles_of(session, person.id)} & STAFF_VALUES
    except ProblemError:
        return _no_such_page(staff)
    if not listed:
        return _no_such_page(staff)
    if person.id == staff.session.principal.person_id:
        return _not_done(staff, 409, OWN_PHONE)
    return person


@get(_new_phone_path("{person_id:str}"), include_in_schema=False)
async def replace_staff_phone_confirm(
    request: Request[Any, Any, Any], person_id: IdPath, rt: RuntimeDep
) -> Response[str]:
    """Asks before signing out a staff member's phones, naming them; and says so when a
    card was made for them a moment ago, which a new one would make useless."""
    staff = await staff_for(request, rt, Role.ADMIN)
    if not isinstance(staff, Staff):
        return staff
    person = await _staff_member(rt, staff, person_id)
    if not isinstance(person, PersonRow):
        return person
    return await new_phone_confirm(rt, staff, person, _new_phone_path(person.id), HOME)


@post(_new_phone_path("{person_id:str}"), include_in_schema=False, status_code=200)
async def replace_staff_phone(
    request: Request[Any, Any, Any], person_id: IdPath, rt: RuntimeDep, data: FormBody
) -> Response[str]:
    """A staff member's lost phone: every device of theirs signed out, and a new welcome
    card (``enrolment.replace_phone_once``, with the confirm page's key), as a coordinator
    does for a resident."""
    staff = await staff_form(request, rt, Role.ADMIN, data)
    if not isinstance(staff, Staff):
        return staff
    key = data.get("key", "")
    if not key_ok(key):
        return _not_done(staff)
    person = await _staff_member(rt, staff, person_id)
    if not isinstance(person, PersonRow):
        return person
    try:
        replaced = await enrolment.replace_phone_once(rt, staff.session.principal, person, key)
    except ProblemError:
        return _not_done(staff, 409)
    return welcome_card(
        staff, person, replaced.url, back=(HOME, N_("Administration")),
        three_steps=STAFF_WELCOME_STEPS,
    )  # fmt: skip


def _days(text: str | None) -> tuple[bool, int | None]:
    """Whether the field is right, and the days a token lives (None: for good)."""
    text = (text or "").strip()
    if not text:
        return True, None
    if not text.isdecimal() or len(text) > len(str(limits.TOKEN_LIFETIME_DAYS_MAX)):
        return False, None
    days = int(text)
    return 1 <= days <= limits.TOKEN_LIFETIME_DAYS_MAX, days


@post(f"{HOME}/tokens", include_in_schema=False, status_code=200)
async def make_token(
    request: Request[Any, Any, Any], rt: RuntimeDep, data: FormBody
) -> Response[str]:
    """An API token for a staff member's role, shown once (``POST /api/v1/tokens``)."""
    staff = await staff_form(request, rt, Role.ADMIN, data)
    if not isinstance(staff, Staff):
        return staff
    role, key = _role(data.get("role")), data.get("key", "")
    days_ok, days = _days(data.get("days"))
    label = (data.get("label") or "").strip()
    ok_label = len(label) <= limits.LABEL_LENGTH_MAX and (not label or text_ok(label))
    if role is None or not days_ok or not ok_label or not key_ok(key):
        return _not_done(staff)
    community = staff.community
    try:
        async with rt.db.read() as session:
            person = await person_in(session, community, data.get("person", ""))
    except ProblemError:
        return _not_done(staff, 404)

    async def work(plan: dict[str, str]) -> tuple[int, TokenCreatedOut]:
        expires_at = int(plan["expires_at"]) if plan.get("expires_at") else None
        row, token = await provisioning.issue_credential(
            rt, person, kind=KIND_API, role=role, label=label, created_by=staff.actor,
            credential_id=plan["credential"], expires_at=expires_at,
        )  # fmt: skip
        out = TokenCreatedOut(
            id=row.id, person_id=person.id, role=role.value, label=row.label, token=token,
            expires_at=None,
        )  # fmt: skip
        return 201, out

    def plan() -> dict[str, str]:
        made = {"credential": new_id(Prefix.API_TOKEN)}
        expires_at = provisioning.token_expires_at(rt.now_seconds(), days)
        if expires_at is not None:
            made["expires_at"] = str(expires_at)
        return made

    try:
        _, out = await once(
            rt.db,
            scope=community,
            key=key,
            fingerprint=fingerprint("pages.tokens.create", staff.session.principal.person_id, data),
            now=rt.now_seconds,
            make_plan=plan,
            out_type=TokenCreatedOut,
            work=work,
        )
    except ProblemError:
        return _not_done(staff)
    return screen("staff_token.html", staff, token=out, person=person)


ROUTES = [
    admin_home, revoke_token_confirm, revoke_token, open_account, set_budget, add_staff,
    replace_staff_phone_confirm, replace_staff_phone, make_token,
]  # fmt: skip
