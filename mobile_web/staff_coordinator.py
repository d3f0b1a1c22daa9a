"""The coordinator's screens: find a resident, record their hours, decide held earnings,
enrol a resident and print their welcome card, replace a lost phone or card.

Everything goes through the API's services (``api.earnings``, ``api.provisioning``,
``api.cards``), so a coordinator's work here is recorded exactly as over the API:
under their staff id, with the form's one-time key as the Idempotency-Key of what it
does (a form sent twice, or reloaded, books, enrols, signs out or prints once, and
shows the same page again).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Request, Response, get, post

from api import cards, earnings, enrolment, limits, offline_payments, transfers
from api.access import Role
from api.directory import (
    account_name,
    credentials_of,
    members_named,
    person_in,
    person_of_account,
    resident,
)
from api.problems import ProblemError
from api.provisioning import KIND_DEVICE
from api.qr import svg
from api.routes.markers import RuntimeDep
from api.runtime import Runtime
from api.schemas.ledger import EarningIn
from api.schemas.people import PersonIn
from api.tables import PendingEarningRow, PersonRow
from ledger import limits as ledger_limits
from ledger.amounts import LANGUAGES, format_hours
from mobile_web.forms import FormBody, form_key
from mobile_web.render import LOCAL_TIME_ZONE, N_, translate
from mobile_web.staff import IdPath, Staff, key_ok, screen, staff_for, staff_form, staff_message

HOME = "/s/coordinator"
SEARCH_RESULTS_MAX = 50
MINUTE_STEPS = (0, 15, 30, 45)
HOURS_MAX = 24
# The welcome card's three steps, printed in every language.
WELCOME_STEPS = (
    N_("Scan the square with your phone's camera."),
    N_("Press the green button once."),
    N_("Your balance opens. Add it to your home screen."),
)
# The same for a staff member, who has no balance: their screens open.
STAFF_WELCOME_STEPS = (
    *WELCOME_STEPS[:2],
    N_("Your work screen opens. Add it to your home screen."),
)
# What a refusal's code says to the coordinator.
PROBLEM_TEXTS = {
    "exceeds_monthly_budget": N_(
        "The organisation's budget for this month is not enough for this: %(left)s of "
        "%(limit)s is left."
    ),
    "exceeds_monthly_earning_cap": N_(
        "This resident can earn %(left)s more this month; the limit is %(limit)s."
    ),
    "worked_on_invalid": N_("The date must be today or in the recent past."),
    "earning_already_decided": N_("This has been decided already."),
    "second_coordinator_required": N_("A second coordinator must decide this, not you."),
    "rate_limited": N_("Too many attempts. Wait a moment and try again."),
    "exceeds_balance": N_("This resident does not have enough hours for this."),
    "transfers_between_members_disabled": N_(
        "In this community residents cannot give hours to each other."
    ),
}
# The refusals under a monthly limit: the limit's and what is used of it, as the problem
# names them, for the text to say what is left.
MONTHLY_LIMITS = {
    "exceeds_monthly_budget": ("budget_minutes_per_month", "issued_minutes"),
    "exceeds_monthly_earning_cap": ("cap_minutes_per_month", "earned_minutes"),
}
BACK_HOME = N_("Back to the coordinator's screen")
DID_NOT_WORK = N_("This did not work. Check what you filled in and try again.")
NOT_APPROVED = N_(
    "Nothing was booked, and the hours no longer wait for approval: record them again when "
    "there is room."
)


def _problem(
    staff: Staff, problem: ProblemError | None = None, hint: str | None = None
) -> Response[str]:
    text = PROBLEM_TEXTS.get(problem.code, DID_NOT_WORK) if problem else DID_NOT_WORK
    status = problem.status if problem else 422
    words = None
    if problem is not None and problem.code in MONTHLY_LIMITS:
        limit, used = (problem.numbers.get(name) for name in MONTHLY_LIMITS[problem.code])
        if not (isinstance(limit, int) and isinstance(used, int)):
            text = DID_NOT_WORK
        else:
            words = {"left": _hours(staff, max(limit - used, 0)), "limit": _hours(staff, limit)}
    return staff_message(staff, N_("Sorry"), text, status, link=HOME, words=words, hint=hint)


def _done(staff: Staff, text: str, person: PersonRow | None = None, **words: str) -> Response[str]:
    """A notice in plain words (``text`` a message id with ``%(name)s`` style fields), with
    a way back to the resident it was about."""
    message = translate(staff.page.language, text) % words
    return screen("staff_done.html", staff, message=message, person=person)


@get(HOME, include_in_schema=False)
async def coordinator_home(request: Request[Any, Any, Any], rt: RuntimeDep) -> Response[str]:
    staff = await staff_for(request, rt, Role.COORDINATOR)
    if not isinstance(staff, Staff):
        return staff
    wanted = request.query_params.get("q", "").strip()[: limits.NAME_LENGTH_MAX]
    principal = staff.session.principal
    held = await earnings.pending(rt, principal, staff.community)
    reported = await offline_payments.reports(rt, staff.community)
    async with rt.db.read() as session:
        found = (
            await members_named(session, staff.community, wanted, SEARCH_RESULTS_MAX)
            if wanted
            else None
        )
        names = {}
        for account in {row.member for row in held} | {row.shop for row in reported}:
            names[account] = await account_name(session, staff.community, account)
        people = {
            row.member: await person_of_account(session, staff.community, row.member)
            for row in reported
        }
    return screen(
        "staff_coordinator.html",
        staff,
        wanted=wanted,
        found=found,
        held=held,
        reported=reported,
        people=people,
        names=names,
        me=staff.actor,
        languages_all=LANGUAGES,
    )


async def _member(rt: Runtime, staff: Staff, person_id: str) -> tuple[PersonRow, str] | None:
    """A resident this coordinator may help (no staff member), and their member account."""
    async with rt.db.read() as session:
        return await resident(session, staff.community, person_id, staff_too=False)


async def _member_form(
    request: Request[Any, Any, Any], rt: Runtime, data: dict[str, str], person_id: str
) -> tuple[Staff, PersonRow, str] | Response[str]:
    """A coordinator's posted form about a resident they may help: the coordinator, the
    resident and their member account; or the page that says why not."""
    staff = await staff_form(request, rt, Role.COORDINATOR, data)
    if not isinstance(staff, Staff):
        return staff
    found = await _member(rt, staff, person_id)
    if found is None:
        return _not_found(staff)
    return (staff, *found)


async def _member_page(
    request: Request[Any, Any, Any], rt: Runtime, person_id: str
) -> tuple[Staff, PersonRow, str] | Response[str]:
    """As ``_member_form``, for a page: the coordinator, the resident and their member
    account; or the page that says why not."""
    staff = await staff_for(request, rt, Role.COORDINATOR)
    if not isinstance(staff, Staff):
        return staff
    found = await _member(rt, staff, person_id)
    if found is None:
        return _not_found(staff)
    return (staff, *found)


def _not_found(staff: Staff) -> Response[str]:
    return staff_message(staff, N_("Sorry"), N_("We cannot find this resident."), 404, link=HOME)


@get(f"{HOME}/member/{{person_id:str}}", include_in_schema=False)
async def member_screen(
    request: Request[Any, Any, Any], person_id: IdPath, rt: RuntimeDep
) -> Response[str]:
    found = await _member_page(request, rt, person_id)
    if isinstance(found, Response):
        return found
    staff, person, member = found
    account = await rt.store.account(staff.community, member)
    async with rt.db.read() as session:
        devices = [
            d for d in await credentials_of(session, person.id, KIND_DEVICE) if d.revoked_at is None
        ]
    held_cards = [
        c for c in await cards.cards_of(rt, staff.community, member) if c.revoked_at is None
    ]
    organisations = []
    async with rt.db.read() as session:
        for org in sorted(staff.session.principal.organisations):
            organisations.append((org, await account_name(session, staff.community, org) or org))
    return screen(
        "staff_member.html",
        staff,
        person=person,
        balance_minutes=None if account is None else account.balance_minutes,
        devices=len(devices),
        cards=len(held_cards),
        organisations=organisations,
        today=rt.now().date().isoformat(),
        minute_steps=MINUTE_STEPS,
        hours_max=HOURS_MAX,
    )


def _minutes(data: dict[str, str]) -> int | None:
    hours, minutes = data.get("hours", "0").strip() or "0", data.get("minutes", "0")
    if not (hours.isdecimal() and minutes.isdecimal()) or len(hours) > 3:
        return None
    total = int(hours) * 60 + int(minutes)
    if int(minutes) not in MINUTE_STEPS or not 0 < total <= HOURS_MAX * 60:
        return None
    return total


@post(f"{HOME}/member/{{person_id:str}}/hours", include_in_schema=False, status_code=200)
async def record_hours(
    request: Request[Any, Any, Any], person_id: IdPath, rt: RuntimeDep, data: FormBody
) -> Response[str]:
    found = await _member_form(request, rt, data, person_id)
    if isinstance(found, Response):
        return found
    staff, person, member = found
    amount = _minutes(data)
    key = data.get("key", "")
    if amount is None or not key_ok(key):
        return _problem(staff)
    try:
        earning = msgspec.convert(
            {
                "member": member,
                "amount_minutes": amount,
                "activity": data.get("activity", "").strip(),
                "worked_on": data.get("worked_on") or rt.now().date().isoformat(),
                "organisation": data.get("organisation") or None,
            },
            EarningIn,
        )
    except msgspec.ValidationError:
        return _problem(staff)
    principal = staff.session.principal
    if data.get("again") != "1":
        earlier = await earnings.recorded_just_now(rt, principal, staff.community, earning)
        if earlier is not None:
            # Sent again after its answer was lost, twice by mistake, or by two
            # coordinators a moment apart: ask first, saying who recorded it.
            clock = earlier.at.astimezone(LOCAL_TIME_ZONE).strftime("%H:%M")
            return screen(
                "staff_record_again.html", staff, person=person, earning=earning, key=key,
                hours=_hours(staff, amount), time=clock, earlier=earlier,
            )  # fmt: skip
    try:
        recorded = await earnings.record(rt, principal, staff.community, earning, key)
    except ProblemError as problem:
        return _problem(staff, problem)
    hours = _hours(staff, amount)
    if isinstance(recorded, PendingEarningRow) and recorded.status == earnings.PENDING:
        text = N_("%(hours)s for %(name)s waits for a second coordinator.")
        if not await earnings.others_may_decide(
            rt, staff.community, recorded.organisation, staff.actor
        ):
            text = N_(
                "%(hours)s for %(name)s waits for a second coordinator, but your organisation "
                "has no other coordinator: ask the admin to add one."
            )
    else:
        text = N_("%(hours)s recorded for %(name)s.")
    return _done(staff, text, person, hours=hours, name=person.name)


def _hours(staff: Staff, minutes: int) -> str:
    return format_hours(minutes, staff.page.language)


@post(f"{HOME}/earnings/{{earning_id:str}}", include_in_schema=False, status_code=200)
async def decide(
    request: Request[Any, Any, Any], earning_id: IdPath, rt: RuntimeDep, data: FormBody
) -> Response[str]:
    staff = await staff_form(request, rt, Role.COORDINATOR, data)
    if not isinstance(staff, Staff):
        return staff
    principal = staff.session.principal
    try:
        if data.get("decision") == "approve":
            await earnings.approve(rt, principal, staff.community, earning_id)
            text = N_("Approved. The hours are booked.")
        elif data.get("decision") == "decline":
            await earnings.decline(rt, principal, staff.community, earning_id)
            text = N_("Declined. Nothing was booked.")
        else:
            return _problem(staff)
    except ProblemError as problem:
        # A monthly limit the hours no longer fit: the ledger refused them, and the
        # earning is closed (``earnings.approve``).
        refused = problem.code in MONTHLY_LIMITS
        return _problem(staff, problem, hint=NOT_APPROVED if refused else None)
    return _done(staff, text)


def welcome_card(
    staff: Staff,
    person: PersonRow,
    url: str,
    back: tuple[str, str] = (HOME, BACK_HOME),
    three_steps: tuple[str, ...] = WELCOME_STEPS,
) -> Response[str]:
    """The printable welcome card: the one-time link as a QR code, ``three_steps`` in every
    language (a resident's, or ``STAFF_WELCOME_STEPS``), and ``back`` (path, message id) to
    the screen it was made on."""
    steps = [
        (language, [translate(language, step) for step in three_steps]) for language in LANGUAGES
    ]
    qr = svg(url).split("?>", 1)[-1]
    return screen(
        "staff_welcome.html", staff, person=person, url=url, qr=qr, steps=steps, back=back
    )


@post(f"{HOME}/enrol", include_in_schema=False, status_code=200)
async def enrol(request: Request[Any, Any, Any], rt: RuntimeDep, data: FormBody) -> Response[str]:
    """A new resident with a member account, and their welcome card: the API's
    ``POST /api/v1/members``, its checks and its Idempotency-Key (the form's key), so a
    form sent twice enrols one resident and shows their same card."""
    staff = await staff_form(request, rt, Role.COORDINATOR, data)
    if not isinstance(staff, Staff):
        return staff
    fields = {
        "name": data.get("name", "").strip(),
        "phone": data.get("phone", "").strip() or None,
        "language": data.get("language", "nl"),
    }
    try:
        details = msgspec.convert(fields, PersonIn)
    except msgspec.ValidationError:
        return _problem(staff)
    key = form_key(data)
    try:
        _, out = await enrolment.create_person_once(
            rt, staff.session.principal, key, "members.create", details, True, []
        )
        async with rt.db.read() as session:
            person = await person_in(session, staff.community, out.id)
        url = await enrolment.welcome_link_once(rt, staff.session.principal, person, key)
    except ProblemError as problem:
        return _problem(staff, problem)
    return welcome_card(staff, person, url)


async def new_phone_confirm(
    rt: Runtime, staff: Staff, person: PersonRow, action: str, back: str
) -> Response[str]:
    """The page that asks before a lost phone's new welcome card (posting to ``action``,
    leading back to ``back``): it names the person, and says so when a card was made for
    them a moment ago, which a new one would make useless."""
    issued = await enrolment.newest_link_at(rt, person)
    made_at = None
    if issued is not None and rt.now_seconds() - issued < earnings.TWIN_SECONDS:
        made_at = datetime.fromtimestamp(issued, LOCAL_TIME_ZONE).strftime("%H:%M")
    return screen(
        "staff_new_phone_confirm.html", staff, person=person, made_at=made_at, action=action,
        back=back,
    )  # fmt: skip


@get(f"{HOME}/member/{{person_id:str}}/new-phone", include_in_schema=False)
async def replace_phone_confirm(
    request: Request[Any, Any, Any], person_id: IdPath, rt: RuntimeDep
) -> Response[str]:
    """Asks before a resident's lost phone is signed out (``new_phone_confirm``)."""
    found = await _member_page(request, rt, person_id)
    if isinstance(found, Response):
        return found
    staff, person, _ = found
    back = f"{HOME}/member/{person.id}"
    return await new_phone_confirm(rt, staff, person, f"{back}/new-phone", back)


@post(f"{HOME}/member/{{person_id:str}}/new-phone", include_in_schema=False, status_code=200)
async def replace_phone(
    request: Request[Any, Any, Any], person_id: IdPath, rt: RuntimeDep, data: FormBody
) -> Response[str]:
    """A lost phone: every device of the resident signed out, and a new welcome link
    (``enrolment.replace_phone_once``, with the form's key)."""
    found = await _member_form(request, rt, data, person_id)
    if isinstance(found, Response):
        return found
    staff, person, _ = found
    try:
        replaced = await enrolment.replace_phone_once(
            rt, staff.session.principal, person, form_key(data)
        )
    except ProblemError as problem:
        return _problem(staff, problem)
    return welcome_card(staff, person, replaced.url)


@post(f"{HOME}/member/{{person_id:str}}/new-card", include_in_schema=False, status_code=200)
async def replace_card(
    request: Request[Any, Any, Any], person_id: IdPath, rt: RuntimeDep, data: FormBody
) -> Response[str]:
    """A new printed card with the PIN the resident chose; their old cards stop working
    (``cards.replace_once``, with the form's key). The PIN is checked first: digits of
    any script are read as their values (``cards.pin_digits``)."""
    found = await _member_form(request, rt, data, person_id)
    if isinstance(found, Response):
        return found
    staff, person, member = found
    pin = cards.pin_digits(data.get("pin", ""))
    if pin is None:
        return _problem(staff)
    try:
        row = await cards.replace_once(
            rt, staff.session.principal, person, member, pin, form_key(data)
        )
    except ProblemError as problem:
        return _problem(staff, problem)
    qr = svg(cards.payload_of(rt, row)).split("?>", 1)[-1]
    return screen("staff_card.html", staff, person=person, qr=qr)


@post(f"{HOME}/member/{{person_id:str}}/give", include_in_schema=False, status_code=200)
async def give_for_member(
    request: Request[Any, Any, Any], person_id: IdPath, rt: RuntimeDep, data: FormBody
) -> Response[str]:
    """Gives hours from a resident to a neighbour for them (a resident without a phone, at
    the desk): a transfer from their account whose entry names the coordinator as actor.

    The form names the neighbour by (part of) their name; the page that follows shows
    whom that is, in full, and gives only when the coordinator confirms."""
    found = await _member_form(request, rt, data, person_id)
    if isinstance(found, Response):
        return found
    staff, person, member = found
    amount, key = _minutes(data), data.get("key", "")
    memo = data.get("memo", "").strip()
    if amount is None or not key_ok(key) or len(memo) > ledger_limits.MEMO_LENGTH_MAX:
        return _problem(staff)
    back = f"{HOME}/member/{person.id}"
    chosen = data.get("neighbour", "")
    if not chosen:
        wanted = data.get("to", "").strip()[: limits.NAME_LENGTH_MAX]
        if not wanted:
            return _problem(staff)
        async with rt.db.read() as session:
            named = await members_named(session, staff.community, wanted, 3)
        others = [p for p in named if p.id != person.id]
        if len(others) != 1:
            text = (
                N_("A resident cannot give hours to themselves.")
                if named and not others
                else N_("Type the neighbour's name so that it fits one resident only.")
            )
            return staff_message(staff, N_("Sorry"), text, 422, link=back)
        return screen(
            "staff_give_confirm.html", staff, person=person, neighbour=others[0], key=key,
            hours=_hours(staff, amount), form=data, memo=memo,
        )  # fmt: skip
    neighbour = None if chosen == person.id else await _member(rt, staff, chosen)
    if neighbour is None:
        return _not_found(staff)
    try:
        await transfers.give(
            rt, staff.session.principal, staff.community, member, neighbour[1], amount, memo,
            key, for_member=True,
        )  # fmt: skip
    except ProblemError as problem:
        return _problem(staff, problem)
    text = N_("%(hours)s given from %(name)s to %(neighbour)s, recorded under your name.")
    hours = _hours(staff, amount)
    return _done(staff, text, person, hours=hours, name=person.name, neighbour=neighbour[0].name)


ROUTES = [
    coordinator_home,
    member_screen,
    record_hours,
    give_for_member,
    decide,
    enrol,
    replace_phone_confirm,
    replace_phone,
    replace_card,
]
