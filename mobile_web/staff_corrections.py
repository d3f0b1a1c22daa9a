"""The admin's corrections: a resident's history, and a booking of it reversed (all of it
or part), with a reason, when it was made in error (three hours booked for two, hours
given to the wrong neighbour).

A correction is a ``correct`` entry naming the booking (``api.corrections``, as
``POST /api/v1/corrections``); the ledger checks it again, so nothing is reversed twice
beyond what the booking moved and no account goes below what it may. The form's key
makes a second send book nothing more, and a form sent again after Back (a new key)
asks first when the booking was corrected a moment ago. The admin reaches a resident
from the administration screen.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post

from api import corrections
from api import limits as api_limits
from api.access import Role
from api.directory import account_name, resident
from api.problems import ProblemError
from api.routes.markers import RuntimeDep
from api.runtime import Runtime
from api.schemas.common import text_ok
from api.tables import PersonRow
from ledger.amounts import format_hours
from ledger.shape import journal_position
from mobile_web.forms import AmountInvalid, FormBody, minutes_from
from mobile_web.history import HISTORY_PAGE_ENTRIES, history, line_of
from mobile_web.render import LOCAL_TIME_ZONE, N_
from mobile_web.staff import IdPath, Staff, key_ok, screen, staff_for, staff_form, staff_message
from mobile_web.staff_admin import DID_NOT_WORK, HOME

# The history lines a correction may reverse (``history.Line.kind``): what was earned,
# given or received between residents, and paid at a shop.
CORRECTABLE_LINES = frozenset({"earned", "received", "given", "paid"})
NOTHING_LEFT = N_("Nothing of this booking is left to correct: it was corrected or refunded.")
AMOUNT_INVALID = N_(
    "Give how much to reverse in hours and minutes: at least 1 minute, at most what is left."
)
REASON_MISSING = N_("Give a short reason: the journal keeps it with the correction.")
# The payer of the correction holds too few: words filled with its name and balance.
EXCEEDS_BALANCE = N_(
    "%(who)s holds only %(held)s now, too few to give these hours back: they were spent or "
    "paid out since. Correct at most %(held)s, or talk with them first."
)
MORE_THAN_LEFT = N_("That is more than is left of this booking to correct: at most %(left)s.")
# The payer of the correction holds nothing at all.
NOTHING_HELD = N_(
    "%(who)s holds no hours now: they were spent or paid out since, so none can be given "
    "back. Talk with them first."
)
# The ledger's refusals of a correction, in the admin's words.
CORRECTION_TEXTS = {
    "entry_not_found": N_("We cannot find this booking."),
    "corrected_entry_not_correctable": N_("This booking cannot be corrected here."),
    "correction_exceeds_original": N_(
        "That is more than is left of this booking to correct. Look at the booking again."
    ),
    "idempotency_key_reused": N_(
        "This form was sent before with another amount. Open the booking again."
    ),
}


def member_path(person_id: str) -> str:
    return f"{HOME}/member/{person_id}"


def _correct_path(entry_id: str) -> str:
    return f"{HOME}/entries/{entry_id}/correct"


async def _resident(rt: Runtime, staff: Staff, person_id: str) -> tuple[PersonRow, str] | None:
    """A resident of the admin's community (staff may be residents too) and their member
    account."""
    async with rt.db.read() as session:
        return await resident(session, staff.community, person_id, staff_too=True)


def _not_found(staff: Staff) -> Response[str]:
    return staff_message(staff, N_("Sorry"), N_("We cannot find this resident."), 404, link=HOME)


@get(member_path("{person_id:str}"), include_in_schema=False)
async def resident_history(
    request: Request[Any, Any, Any], person_id: IdPath, rt: RuntimeDep
) -> Response[str]:
    """A resident's balance and history, newest first; each booking that has something
    left to reverse has a way to correct it."""
    staff = await staff_for(request, rt, Role.ADMIN)
    if not isinstance(staff, Staff):
        return staff
    found = await _resident(rt, staff, person_id)
    if found is None:
        return _not_found(staff)
    person, member = found
    before = journal_position(request.query_params.get("before", ""))
    lines = await history(rt, staff.community, member, before, HISTORY_PAGE_ENTRIES)
    seqs = [line.seq for line in lines.lines if line.kind in CORRECTABLE_LINES]
    left = await corrections.left_to_correct(rt, staff.community, seqs)
    return screen(
        "staff_admin_member.html", staff, person=person, history=lines, before=before,
        left=left,
    )  # fmt: skip


@get(_correct_path("{entry_id:str}"), include_in_schema=False)
async def correction_form(
    request: Request[Any, Any, Any], entry_id: IdPath, rt: RuntimeDep
) -> Response[str]:
    """The booking as the resident's history shows it, its corrections so far, what is
    left of it to correct, and a form for the amount (all that is left, unless changed)
    and the reason."""
    staff = await staff_for(request, rt, Role.ADMIN)
    if not isinstance(staff, Staff):
        return staff
    found = await _resident(rt, staff, request.query_params.get("person", ""))
    if found is None:
        return _not_found(staff)
    person, member = found
    line = await line_of(rt, staff.community, member, entry_id)
    back = member_path(person.id)
    if line is None or line.kind not in CORRECTABLE_LINES:
        return _refused(staff, back, CORRECTION_TEXTS["entry_not_found"], 404)
    try:
        booking = await corrections.correctable(rt, staff.community, entry_id)
    except ProblemError as problem:
        return _refused(staff, back, CORRECTION_TEXTS.get(problem.code, DID_NOT_WORK), 422)
    if booking.left_minutes <= 0:
        return _refused(staff, back, NOTHING_LEFT, 409)
    earlier = await corrections.earlier_corrections(rt, staff.community, member, line.seq)
    return screen(
        "staff_correct.html", staff, person=person, line=line, left=booking.left_minutes,
        left_words=format_hours(booking.left_minutes, staff.page.language),
        earlier=earlier, reason_max=api_limits.REASON_LENGTH_MAX,
    )  # fmt: skip


@post(_correct_path("{entry_id:str}"), include_in_schema=False, status_code=200)
async def correct(
    request: Request[Any, Any, Any], entry_id: IdPath, rt: RuntimeDep, data: FormBody
) -> Response[str]:
    """Books the correction: a ``correct`` entry naming the booking, for the amount and
    reason the form gives; first asks, when the booking was corrected a moment ago."""
    staff = await staff_form(request, rt, Role.ADMIN, data)
    if not isinstance(staff, Staff):
        return staff
    found = await _resident(rt, staff, data.get("person", ""))
    if found is None:
        return _not_found(staff)
    person, member = found
    back = member_path(person.id)
    key, reason = data.get("key", ""), data.get("reason", "").strip()
    try:
        minutes = minutes_from(data, required=True)
    except AmountInvalid:
        minutes = None
    if not key_ok(key):
        return _refused(staff, back, DID_NOT_WORK, 422)
    if minutes is None:
        return _refused(staff, back, AMOUNT_INVALID, 422)
    if not (len(reason) <= api_limits.REASON_LENGTH_MAX and text_ok(reason)) or not reason:
        return _refused(staff, back, REASON_MISSING, 422)
    line = await line_of(rt, staff.community, member, entry_id)
    if line is None or line.kind not in CORRECTABLE_LINES:
        return _refused(staff, back, CORRECTION_TEXTS["entry_not_found"], 404)
    principal = staff.session.principal
    try:
        booking = await corrections.correctable(rt, staff.community, entry_id)
    except ProblemError as problem:
        return _refused(staff, back, CORRECTION_TEXTS.get(problem.code, DID_NOT_WORK), 422)
    retry = await corrections.booked_by(rt, principal, staff.community, key) is not None
    if not retry and minutes > booking.left_minutes:
        left = {"left": format_hours(booking.left_minutes, staff.page.language)}
        return staff_message(staff, N_("Sorry"), MORE_THAN_LEFT, 422, link=back, words=left)
    try:
        if not retry and data.get("again") != "1":
            earlier = await corrections.corrected_just_now(
                rt, principal, staff.community, member, booking.entry.seq
            )
            if earlier is not None:
                return screen(
                    "staff_correct_again.html", staff, person=person, line=line, key=key,
                    minutes=minutes, reason=reason, earlier=earlier,
                    time=earlier.at.astimezone(LOCAL_TIME_ZONE).strftime("%H:%M"),
                    left_words=format_hours(booking.left_minutes, staff.page.language),
                )  # fmt: skip
        await corrections.correct(rt, principal, staff.community, key, entry_id, minutes, reason)
    except ProblemError as problem:
        if problem.code == "exceeds_balance":
            return await _too_few(rt, staff, back, booking.entry.draft.postings[0].payee, problem)
        text = CORRECTION_TEXTS.get(problem.code, DID_NOT_WORK)
        return _refused(staff, back, text, problem.status)
    return staff_message(
        staff, N_("Administration"),
        N_("Corrected: %(hours)s of this booking of %(name)s reversed."), 200, problem=False,
        link=back, words={"hours": format_hours(minutes, staff.page.language), "name": person.name},
    )  # fmt: skip


async def _too_few(
    rt: Runtime, staff: Staff, back: str, payer: str, problem: ProblemError
) -> Response[str]:
    """The refusal of a correction whose payer (who got the hours: the resident, the
    neighbour, the shop) holds too few now, naming them and what they hold."""
    held = problem.numbers.get("balance_minutes")
    if not isinstance(held, int):
        return _refused(staff, back, DID_NOT_WORK, problem.status)
    async with rt.db.read() as session:
        who = await account_name(session, staff.community, payer) or ""
    words = {"who": who, "held": format_hours(max(held, 0), staff.page.language)}
    text = EXCEEDS_BALANCE if held > 0 else NOTHING_HELD
    return staff_message(staff, N_("Sorry"), text, problem.status, link=back, words=words)


def _refused(staff: Staff, back: str, text: str, status: int) -> Response[str]:
    return staff_message(staff, N_("Sorry"), text, status, link=back)


ROUTES = [resident_history, correction_form, correct]
