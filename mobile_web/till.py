"""The shop's till, for a signed-in member of a shop's staff: type an amount, show its QR
full screen, with its code to type for a phone that cannot scan, and see "Paid ✓" the
moment the member pays; take a pay code or a card with PIN; today's takings, in the
shop's own time, with refunds that ask once more before they give back; the month's
statement as CSV.

The QR screen listens to the request's event stream (``till.js``); without
JavaScript it offers a link that checks again. Every outcome is said in words and
an icon, never by colour alone. Forms carry the session's form token and a key,
so a form sent twice takes one payment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, PathParameter
from litestar.response import Redirect

from api import cards, offline_payments, pay_codes, payment_requests, shop_payments
from api.directory import account_name
from api.problems import ProblemError
from api.routes.markers import RuntimeDep
from api.runtime import Runtime
from api.schemas.shop_payments import RefundIn
from ledger import limits
from ledger.card import PAYLOAD_LENGTH_MAX, PAYLOAD_PREFIX
from ledger.clock import parse_time
from mobile_web.forms import (
    AMOUNT_INVALID,
    AmountInvalid,
    FormBody,
    amount_bounds,
    form_key,
    fresh_key,
    minutes_from,
)
from mobile_web.history import Line, history
from mobile_web.pay import NO_CODE, wants_json
from mobile_web.qr_images import data_url, texts_of_upload
from mobile_web.render import LOCAL_TIME_ZONE, N_, Page, render, translate
from mobile_web.resident import FORM_EXPIRED, message_page, not_signed_in
from mobile_web.session import Session, form_token_ok
from mobile_web.visitor import html, page_for, signed_in

PhotoBody = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]
RequestPath = Annotated[str, PathParameter(max_length=40)]
# The quick choices on the keypad, in minutes: a quarter to four hours.
QUICK_MINUTES = (15, 30, 45, 60, 90, 120, 180, 240)
# The take form looks this far back in the shop's entries for its latest payment.
LAST_TAKEN_LOOK_BACK = 10
# Today's takings are read this many entries at a time, back to the day's first.
TAKINGS_PAGE_ENTRIES = 200
assert TAKINGS_PAGE_ENTRIES <= limits.PAGE_SIZE_MAX
TILL_PROBLEMS = {
    "pay_code_invalid": N_("This code is not right. Ask for the code on the phone."),
    "pay_code_locked": N_("Too many wrong codes for this phone. Wait a quarter of an hour."),
    "pay_code_used": N_("This code was used already. Ask for the next code on the phone."),
    "card_invalid": N_("This card or PIN is not right."),
    "card_pin_wrong": N_("This card or PIN is not right."),
    "card_pin_invalid": N_("This card or PIN is not right."),
    "card_locked": N_("This card is locked after too many wrong PINs."),
    "card_revoked": N_("This card has been blocked."),
    "exceeds_balance": N_("The customer does not have enough hours."),
    "refund_exceeds_payment": N_("This payment has been given back already."),
    "already_corrected": N_("This payment has been given back already."),
    "refund_window_closed": N_("This payment is too old to give back."),
    "offline_payment_cap_exceeded": N_(
        "This is more than one payment by code or card may be. Ask the customer to scan "
        "the QR code instead."
    ),
    "offline_day_cap_exceeded": N_(
        "The customer has paid the most allowed by code or card today. Ask them to scan "
        "the QR code instead."
    ),
    "refund_exceeds_shop_balance": N_(
        "The credits of this payment were paid out to the shop already. "
        "It cannot be given back here."
    ),
    "rate_limited": N_("Too many attempts. Wait a moment and try again."),
    "locked_out": N_("Too many attempts. Wait a moment and try again."),
    "payment_request_paid": N_("This payment has been paid already."),
}
TILL_FAILED = N_("That did not work. Nothing was taken.")
REFUND_FAILED = N_("That did not work. Nothing was given back.")
NOT_A_SHOP = N_("This page is for the staff of a shop.")
NOT_A_CODE = N_("This QR code is not a pay code or a card.")


def _shop(session: Session) -> str | None:
    """The shop this till takes payments for: the staff member's first shop."""
    return min(session.principal.shops) if session.principal.shops else None


async def _till_session(
    request: Request[Any, Any, Any], rt: Runtime
) -> tuple[Session, Page, str] | Response[str]:
    """The signed-in staff member, their page and shop; or the page that says why not."""
    session = await signed_in(request, rt)
    if session is None:
        return not_signed_in(request)
    page = page_for(request, session)
    shop = _shop(session)
    if shop is None:
        return message_page(page, N_("Till"), NOT_A_SHOP, 403)
    return session, page, shop


async def _till_form(
    request: Request[Any, Any, Any], rt: Runtime, token: object
) -> tuple[Session, Page, str] | Response[str]:
    """The signed-in staff member, their page and shop, for a posted form whose token must
    be the signed-in session's; or the page that says why not (on the till's own screen)."""
    found = await _till_session(request, rt)
    if isinstance(found, Response):
        return found
    session, page, _ = found
    if not form_token_ok(session, token):
        return till_message(page, N_("Till"), FORM_EXPIRED, 403, link="/till")
    return found


async def _shop_name(rt: Runtime, community: str | None, shop: str) -> str:
    if community is None:
        return ""
    async with rt.db.read() as db:
        return await account_name(db, community, shop) or ""


def _problem(
    page: Page, problem: ProblemError, back: str = "/till", failed: str = TILL_FAILED
) -> Response[str]:
    """The till's page for ``problem``: its words if the till has them, else ``failed``."""
    text = TILL_PROBLEMS.get(problem.code, failed)
    response = till_message(page, N_("Till"), text, problem.status, link=back)
    response.headers.update(problem.headers)
    return response


def till_message(
    page: Page,
    title: str,
    text: str,
    status: int,
    *,
    link: str,
    words: Mapping[str, str] | None = None,
) -> Response[str]:
    """A till screen that says one thing (message ids, ``text``'s fields filled with
    ``words``), with the till's menu and a way back to ``link``."""
    return message_page(page, title, text, status, link=link, layout="till_base.html", words=words)


@get("/till", include_in_schema=False)
async def keypad(request: Request[Any, Any, Any], rt: RuntimeDep) -> Response[str]:
    found = await _till_session(request, rt)
    if isinstance(found, Response):
        return found
    session, page, shop = found
    name = await _shop_name(rt, session.principal.community, shop)
    body = render("till_keypad.html", page, shop_name=name, quick=QUICK_MINUTES, key=fresh_key())
    return html(body)


async def _new_request(
    rt: Runtime, session: Session, shop: str, key: str, minutes: int
) -> Redirect:
    made = await payment_requests.create(
        rt, session.principal, key=key, amount_minutes=minutes, memo="", shop=shop
    )
    return Redirect(f"/till/r/{made.id}", status_code=303)


@post("/till", include_in_schema=False, status_code=303)
async def ask(
    request: Request[Any, Any, Any], rt: RuntimeDep, data: FormBody
) -> Response[str] | Redirect:
    found = await _till_form(request, rt, data.get("csrf"))
    if isinstance(found, Response):
        return found
    session, page, shop = found
    try:
        minutes = minutes_from(data, required=True)
        assert minutes is not None
        return await _new_request(rt, session, shop, form_key(data), minutes)
    except AmountInvalid:
        return till_message(
            page, N_("Till"), AMOUNT_INVALID, 422, link="/till", words=amount_bounds(page.language)
        )
    except ProblemError as problem:
        return _problem(page, problem)


@get("/till/r/{request_id:str}", include_in_schema=False)
async def request_screen(
    request: Request[Any, Any, Any], request_id: RequestPath, rt: RuntimeDep
) -> Response[str]:
    found = await _till_session(request, rt)
    if isinstance(found, Response):
        return found
    session, page, _ = found
    try:
        view = await payment_requests.view(rt, session.principal, request_id)
    except ProblemError as problem:
        return _problem(page, problem)
    if not view.is_payee:
        return message_page(page, N_("Till"), NOT_A_SHOP, 403)
    seconds_left = max(0, view.request.expires_at - rt.now_seconds())
    body = render(
        "till_request.html",
        page,
        view=view,
        qr=data_url(view.pay_url) if view.status == payment_requests.OPEN else None,
        seconds_left=seconds_left,
        # Whole minutes left, rounded down: never more than there are.
        minutes_left=seconds_left // 60,
        key=fresh_key(),
    )
    return html(body)


@post("/till/r/{request_id:str}/cancel", include_in_schema=False, status_code=303)
async def cancel(
    request: Request[Any, Any, Any], request_id: RequestPath, rt: RuntimeDep, data: FormBody
) -> Response[str] | Redirect:
    found = await _till_form(request, rt, data.get("csrf"))
    if isinstance(found, Response):
        return found
    session, page, _ = found
    try:
        await payment_requests.cancel(rt, session.principal, request_id)
    except ProblemError as problem:
        return _problem(page, problem, f"/till/r/{request_id}")
    return Redirect("/till", status_code=303)


@post("/till/r/{request_id:str}/again", include_in_schema=False, status_code=303)
async def more_time(
    request: Request[Any, Any, Any], request_id: RequestPath, rt: RuntimeDep, data: FormBody
) -> Response[str] | Redirect:
    """More time: the same amount in a new request; the old one is withdrawn if still open."""
    found = await _till_form(request, rt, data.get("csrf"))
    if isinstance(found, Response):
        return found
    session, page, shop = found
    try:
        view = await payment_requests.view(rt, session.principal, request_id)
        minutes = view.request.amount_minutes
        if not view.is_payee or minutes is None:
            return message_page(page, N_("Till"), NOT_A_SHOP, 403)
        if view.status == payment_requests.PAID:
            return Redirect(f"/till/r/{request_id}", status_code=303)
        if view.status == payment_requests.OPEN:
            await payment_requests.cancel(rt, session.principal, request_id)
        return await _new_request(rt, session, shop, form_key(data), minutes)
    except ProblemError as problem:
        return _problem(page, problem, f"/till/r/{request_id}")


def _take_page(
    page: Page, last: Taking | None, code: str = "", card: str = "", read: bool = False
) -> str:
    return render(
        "till_take.html", page, key=fresh_key(), code=code, card=card, read=read, last=last,
        not_ours=translate(page.language, NOT_A_CODE),
    )  # fmt: skip


async def _last_taken(rt: Runtime, community: str | None, shop: str) -> Taking | None:
    """The shop's latest payment today, if one of its latest entries is: the take form
    shows it, so that after an answer lost on the way the shop sees whether it was taken
    before taking the next code."""
    if community is None:
        return None
    day = datetime.fromtimestamp(rt.now_seconds(), LOCAL_TIME_ZONE).date()
    for line in (await history(rt, community, shop, None, LAST_TAKEN_LOOK_BACK)).lines:
        moment = parse_time(line.time).astimezone(LOCAL_TIME_ZONE)
        if moment.date() != day:
            return None
        if _is_payment(line):
            return Taking(line, moment.strftime("%H:%M"), None)
    return None


@get("/till/take", include_in_schema=False)
async def take_form(request: Request[Any, Any, Any], rt: RuntimeDep) -> Response[str]:
    found = await _till_session(request, rt)
    if isinstance(found, Response):
        return found
    session, page, shop = found
    return html(_take_page(page, await _last_taken(rt, session.principal.community, shop)))


def till_code(text: str) -> str | None:
    """``text`` if it is what a till takes: a pay code's 12 digits or a card's code."""
    text = text.strip()
    if pay_codes.split_code(text) is not None:
        return text
    if text.startswith(PAYLOAD_PREFIX) and len(text) <= PAYLOAD_LENGTH_MAX:
        return text
    return None


@post("/till/scan", include_in_schema=False, status_code=200)
async def scan(request: Request[Any, Any, Any], rt: RuntimeDep, data: PhotoBody) -> Response[Any]:
    """A photo or camera frame of a pay code or a card: the code, into the take form."""
    found = await _till_form(request, rt, data.get("csrf"))
    if isinstance(found, Response):
        return found
    session, page, shop = found
    texts = await texts_of_upload(data.get("photo"))
    read = next((code for code in map(till_code, texts) if code is not None), None)
    outcome = "found" if read is not None else ("foreign" if texts else "none")
    if wants_json(request):
        message = translate(page.language, NOT_A_CODE if texts else NO_CODE)
        return Response({"outcome": outcome, "text": read, "message": message})
    if read is None:
        return till_message(
            page, N_("Code or card"), NOT_A_CODE if texts else NO_CODE, 422, link="/till/take"
        )
    is_code = pay_codes.split_code(read) is not None
    last = await _last_taken(rt, session.principal.community, shop)
    code, card = (read, "") if is_code else ("", read)
    body = _take_page(page, last, code=code, card=card, read=True)
    return html(body)


@post("/till/take", include_in_schema=False, status_code=200)
async def take(request: Request[Any, Any, Any], rt: RuntimeDep, data: FormBody) -> Response[str]:
    """Take a payment with the pay code a phone shows, or a card and its PIN."""
    found = await _till_form(request, rt, data.get("csrf"))
    if isinstance(found, Response):
        return found
    session, page, shop = found
    principal = session.principal
    try:
        minutes = minutes_from(data, required=True)
    except AmountInvalid:
        return till_message(
            page, N_("Till"), AMOUNT_INVALID, 422, link="/till/take",
            words=amount_bounds(page.language),
        )  # fmt: skip
    assert minutes is not None
    code = "".join(data.get("code", "").split())
    card = data.get("card", "").strip()
    try:
        till = await offline_payments.till(rt, principal, form_key(data), shop, "")
        if card:
            work = cards.redeem(
                rt, principal, community=till.community, shop=till.shop,
                entry_id=till.entry_id, key=till.key, payload=card, pin=data.get("pin", "").strip(),
                amount_minutes=minutes, memo="",
            )  # fmt: skip
        else:
            work = pay_codes.redeem(
                rt, principal, community=till.community, shop=till.shop,
                entry_id=till.entry_id, key=till.key, code=code, amount_minutes=minutes, memo="",
            )  # fmt: skip
        entry = await offline_payments.counting_refusals(rt, principal, work)
    except ProblemError as problem:
        return _problem(page, problem, "/till/take")
    return html(render("till_paid.html", page, minutes=minutes, entry_id=entry.id))


@dataclass(frozen=True, slots=True)
class Taking:
    """A line of today's takings as the till shows it: the line, its time on the shop's
    clock ("09:56"), and for a payment the minutes not given back yet (else None)."""

    line: Line
    clock: str
    refundable_minutes: int | None


def _is_payment(line: Line) -> bool:
    """Whether ``line`` is a payment to the shop (which it may give back)."""
    return line.kind == "paid" and line.delta_minutes > 0


async def _takings(rt: Runtime, community: str, shop: str) -> list[Taking]:
    """Every entry of the shop's today on its own clock, newest first (the page totals the
    day, so none may be left out); for each payment, what of it can still be given back
    by the ledger's own count (the refund's)."""
    day = datetime.fromtimestamp(rt.now_seconds(), LOCAL_TIME_ZONE).date()
    today: list[tuple[Line, datetime]] = []
    before: int | None = None
    earlier_day = False
    while not earlier_day:
        found = await history(rt, community, shop, before, TAKINGS_PAGE_ENTRIES)
        for line in found.lines:
            moment = parse_time(line.time).astimezone(LOCAL_TIME_ZONE)
            earlier_day = moment.date() < day
            if earlier_day:
                break
            if moment.date() == day and line.kind != "opened":  # the opening moves nothing
                today.append((line, moment))
        before = found.older
        earlier_day = earlier_day or before is None
    payments = [line.seq for line, _ in today if _is_payment(line)]
    remaining = await rt.ledger.remaining_minutes(community, payments) if payments else {}
    return [
        Taking(
            line,
            moment.strftime("%H:%M"),
            remaining.get(line.seq, (0,))[0] if _is_payment(line) else None,
        )
        for line, moment in today
    ]


@get("/till/today", include_in_schema=False)
async def today(request: Request[Any, Any, Any], rt: RuntimeDep) -> Response[str]:
    """Today's payments, their total, and refunds: a
    payment given back in full has no button left; one given back in part offers the rest."""
    found = await _till_session(request, rt)
    if isinstance(found, Response):
        return found
    session, page, shop = found
    community = session.principal.community
    assert community is not None
    takings = await _takings(rt, community, shop)
    taken = sum(taking.line.delta_minutes for taking in takings)
    refunded = request.query_params.get("refunded") == "1"
    body = render(
        "till_today.html", page, takings=takings, taken=taken, shop=shop, month=rt.month(),
        refunded=refunded, key=fresh_key(),
    )  # fmt: skip
    return html(body)


@post("/till/refund", include_in_schema=False, status_code=303)
async def refund(
    request: Request[Any, Any, Any], rt: RuntimeDep, data: FormBody
) -> Response[str] | Redirect:
    found = await _till_form(request, rt, data.get("csrf"))
    if isinstance(found, Response):
        return found
    session, page, _ = found
    community = session.principal.community
    assert community is not None
    entry_id = data.get("entry_id", "")[: limits.ENTRY_ID_LENGTH_MAX]
    try:
        await shop_payments.refund(
            rt, session.principal, community, form_key(data), RefundIn(entry_id=entry_id)
        )
    except ProblemError as problem:
        return _problem(page, problem, "/till/today", REFUND_FAILED)
    return Redirect("/till/today?refunded=1", status_code=303)


ROUTES = [keypad, ask, request_screen, cancel, more_time, take_form, scan, take, today, refund]
