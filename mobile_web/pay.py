"""A resident's money screens: pay by scanning a QR code (or typing its code), ask a
neighbour to pay me with my own QR, show my pay code, and where to spend and earn;
and paying a neighbour's request that leaves the amount to the payer.

The scanner (``scan.js``) uses the phone's rear camera; the browser's
``BarcodeDetector`` reads frames where it exists, otherwise frames go to
``POST /m/pay/scan`` and zxing-cpp reads them on the server. Without
JavaScript the same endpoint takes a photo from the form. Only our own QR codes
(``<PUBLIC_URL>/P/<RID>``) lead on to the pay page; anything else is named as
not ours. The pay code is computed on the phone (``paycode.js``) from the
device's secret, so it shows without a network.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, PathParameter
from litestar.response import Redirect

from api import limits as api_limits
from api import pay_codes, payment_requests
from api.directory import named_accounts
from api.problems import ProblemError
from api.qr import is_request_id, request_id_of
from api.routes.markers import RuntimeDep
from api.runtime import Runtime
from ledger.model import AccountType
from mobile_web.forms import (
    AMOUNT_INVALID,
    AmountInvalid,
    FormBody,
    amount_bounds,
    form_key,
    fresh_key,
    minutes_from,
)
from mobile_web.qr_images import data_url, texts_of_upload
from mobile_web.render import N_, Page, render, translate
from mobile_web.resident import message_page, not_signed_in, refused_form
from mobile_web.session import Session
from mobile_web.visitor import html, page_for, signed_in

PhotoBody = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]
RequestPath = Annotated[str, PathParameter(max_length=40)]
TYPED_CODE_LENGTH_MAX = 200
AMOUNT_FIELD_LENGTH_MAX = 20  # what is shown again of a refused amount field
NOT_OURS = N_("This QR code is not a Buurtmunt payment. Scan the code at the shop's till.")
NO_CODE = N_("No QR code found in the photo. Try again, closer and with more light.")
CODE_WRONG = N_("This code is not right. It has 26 letters and digits; look again.")
# What the payer who types the amount is told on the form, which stays to be corrected.
AMOUNT_UNCLEAR = N_(
    "Type how much you give in whole hours and minutes, for example 1 hour and 30 minutes."
)
AMOUNT_TOO_LARGE = N_("That is more than can be given at once.")
# What a payment problem's code says to the payer (on the pay page or its form again),
# and the page's status.
PAY_PROBLEMS = {
    "payment_request_not_found": (
        N_("This QR code does not exist. Ask the shop for a new one."),
        404,
    ),
    "payment_request_paid": (N_("This QR code has been paid already."), 409),
    "payment_request_cancelled": (
        N_("The shop withdrew this QR code. If the shop shows a new one, scan that one."),
        409,
    ),
    "payment_request_expired": (
        N_("This QR code has expired. Ask the shop for a new one."),
        410,
    ),
    "payment_request_in_progress": (
        N_("This payment is being made right now. Wait a moment."),
        409,
    ),
    "exceeds_balance": (N_("You do not have enough hours for this payment."), 422),
    "payer_must_differ_from_payee": (
        N_("This is your own code. Another resident pays it."),
        422,
    ),
    "member_account_required": (N_("Only residents with an account can pay."), 403),
    "rate_limited": (N_("Too many attempts. Wait a moment and try again."), 429),
    "locked_out": (N_("Too many attempts. Wait a moment and try again."), 429),
}
PAY_FAILED = N_("The payment did not go through. Nothing was taken.")
# A request that can no longer be paid: its own page (``GET /P/<RID>``) says why.
REQUEST_STATE_PROBLEMS = frozenset(
    {
        "payment_request_not_found",
        "payment_request_paid",
        "payment_request_cancelled",
        "payment_request_expired",
    }
)
RECEIVE_PROBLEMS = {
    "transfers_between_members_disabled": N_("Giving hours to each other is off here."),
    "member_account_required": N_("Only residents with an account can do this."),
}


async def _resident(
    request: Request[Any, Any, Any], rt: Runtime
) -> tuple[Session, Page] | Response[str]:
    session = await signed_in(request, rt)
    if session is None:
        return not_signed_in(request)
    return session, page_for(request, session)


async def _resident_form(
    request: Request[Any, Any, Any], rt: Runtime, token: object
) -> tuple[Session, Page] | Response[str]:
    """The signed-in resident and their page, for a posted form whose token must be the
    signed-in session's; or the page that says why not."""
    found = await _resident(request, rt)
    if isinstance(found, Response):
        return found
    return refused_form(request, found[0], token) or found


@get("/m/pay", include_in_schema=False)
async def scanner(request: Request[Any, Any, Any], rt: RuntimeDep) -> Response[str]:
    found = await _resident(request, rt)
    if isinstance(found, Response):
        return found
    _, page = found
    return html(render("pay_scan.html", page, not_ours=translate(page.language, NOT_OURS)))


def wants_json(request: Request[Any, Any, Any]) -> bool:
    """Whether the scanner script asks (it takes JSON; a form takes a page)."""
    return "application/json" in request.headers.get("accept", "")


def _scan_answer(
    request: Request[Any, Any, Any], page: Page, outcome: str, request_id: str | None = None
) -> Response[Any] | Redirect:
    """Where a scan leads: the pay page, or a message (JSON for the scanner script)."""
    if request_id is not None:
        if wants_json(request):
            return Response({"outcome": outcome, "next": f"/P/{request_id}"})
        return Redirect(f"/P/{request_id}", status_code=303)
    text = NO_CODE if outcome == "none" else NOT_OURS
    if wants_json(request):
        return Response({"outcome": outcome, "message": translate(page.language, text)})
    return message_page(page, N_("Pay"), text, 422, link="/m/pay")


@post("/m/pay/scan", include_in_schema=False, status_code=200)
async def scan(
    request: Request[Any, Any, Any], rt: RuntimeDep, data: PhotoBody
) -> Response[Any] | Redirect:
    """A photo or a camera frame: the pay page of the QR code in it, if it is ours."""
    found = await _resident_form(request, rt, data.get("csrf"))
    if isinstance(found, Response):
        return found
    _, page = found
    texts = await texts_of_upload(data.get("photo"))
    if not texts:
        return _scan_answer(request, page, "none")
    for text in texts:
        request_id = request_id_of(rt.settings.public_url, text)
        if request_id is not None:
            return _scan_answer(request, page, "found", request_id)
    return _scan_answer(request, page, "foreign")


# Digits a request id has none of, read as the letters they look like.
_LOOK_ALIKES = str.maketrans("08", "OB")


def typed_request_id(public_url: str, typed: str) -> str | None:
    """The request id in what someone typed: the 26 characters (spaces and case do not
    matter; the code has no 0 or 8, so a 0 is the letter O and an 8 a B), or the whole
    link."""
    text = "".join(typed.split())[:TYPED_CODE_LENGTH_MAX]
    code = text.upper().translate(_LOOK_ALIKES)
    if is_request_id(code):
        return code
    return request_id_of(public_url, text)


@post("/m/pay/type", include_in_schema=False, status_code=303)
async def typed(
    request: Request[Any, Any, Any], rt: RuntimeDep, data: FormBody
) -> Response[str] | Redirect:
    found = await _resident_form(request, rt, data.get("csrf"))
    if isinstance(found, Response):
        return found
    _, page = found
    request_id = typed_request_id(rt.settings.public_url, data.get("code", ""))
    if request_id is None:
        return message_page(page, N_("Pay"), CODE_WRONG, 422, link="/m/pay")
    return Redirect(f"/P/{request_id}", status_code=303)


@get("/m/receive", include_in_schema=False)
async def receive_form(request: Request[Any, Any, Any], rt: RuntimeDep) -> Response[str]:
    found = await _resident(request, rt)
    if isinstance(found, Response):
        return found
    _, page = found
    return html(render("pay_receive.html", page, key=fresh_key()))


@post("/m/receive", include_in_schema=False, status_code=303)
async def receive(
    request: Request[Any, Any, Any], rt: RuntimeDep, data: FormBody
) -> Response[str] | Redirect:
    """A "pay me" request of this member, with an amount or for the payer to choose."""
    found = await _resident_form(request, rt, data.get("csrf"))
    if isinstance(found, Response):
        return found
    session, page = found
    try:
        minutes = minutes_from(data, required=False)
        made = await payment_requests.create(
            rt, session.principal, key=form_key(data), amount_minutes=minutes, memo="", shop=None
        )
    except AmountInvalid:
        return message_page(
            page, N_("Receive"), AMOUNT_INVALID, 422, link="/m/receive",
            words=amount_bounds(page.language),
        )  # fmt: skip
    except ProblemError as problem:
        text = RECEIVE_PROBLEMS.get(problem.code, N_("This did not work. Please try again."))
        return message_page(page, N_("Receive"), text, problem.status, link="/m/receive")
    return Redirect(f"/m/receive/{made.id}", status_code=303)


@get("/m/receive/{request_id:str}", include_in_schema=False)
async def receive_screen(
    request: Request[Any, Any, Any], request_id: RequestPath, rt: RuntimeDep
) -> Response[str]:
    found = await _resident(request, rt)
    if isinstance(found, Response):
        return found
    session, page = found
    try:
        view = await payment_requests.view(rt, session.principal, request_id)
    except ProblemError:
        return message_page(page, N_("Receive"), N_("We cannot find this page."), 404)
    if not view.is_payee:
        return message_page(page, N_("Receive"), N_("This page is not for you."), 403)
    body = render(
        "pay_receive_qr.html",
        page,
        view=view,
        qr=data_url(view.pay_url) if view.status == payment_requests.OPEN else None,
        seconds_left=max(0, view.request.expires_at - rt.now_seconds()),
    )
    return html(body)


def _amount_problem(form: dict[str, str]) -> str:
    """Why the typed amount was refused: too much, or not a whole amount at all."""
    fields = [form.get("hours", "").strip(), form.get("minutes", "").strip()]
    whole = all(field.isdecimal() or not field for field in fields)
    return (
        AMOUNT_TOO_LARGE if whole and any(field.strip("0") for field in fields) else AMOUNT_UNCLEAR
    )


async def _pay_form_again(
    rt: Runtime, session: Session, page: Page, request_id: str, form: dict[str, str], text: str
) -> Response[str] | Redirect:
    """The pay page again with what was typed and ``text`` (a message id) saying what to do."""
    try:
        view = await payment_requests.view(rt, session.principal, request_id)
    except ProblemError:
        return Redirect(f"/P/{request_id}", status_code=303)
    body = render(
        "pay.html", page, request=view, error=translate(page.language, text),
        hours=form.get("hours", "")[:AMOUNT_FIELD_LENGTH_MAX],
        minutes=form.get("minutes", "")[:AMOUNT_FIELD_LENGTH_MAX],
    )  # fmt: skip
    return html(body, 422)


@post("/P/{request_id:str}/amount", include_in_schema=False, status_code=200)
async def pay_typed_amount(
    request: Request[Any, Any, Any], request_id: RequestPath, rt: RuntimeDep, data: FormBody
) -> Response[str] | Redirect:
    """Pay a request that leaves the amount to the payer, in hours and minutes as typed,
    once a page that shows the amount big has asked "is this right?" (a 10 typed for a 1
    is caught there). An amount that will not do, or more than the payer holds, shows the
    form again."""
    found = await _resident_form(request, rt, data.get("csrf"))
    if isinstance(found, Response):
        return found
    session, page = found
    try:
        minutes = minutes_from(data, required=True)
        assert minutes is not None
        if data.get("checked") != "1":
            view = await payment_requests.view(rt, session.principal, request_id)
            if view.status != payment_requests.OPEN:
                return Redirect(f"/P/{request_id}", status_code=303)
            return html(render("pay_check.html", page, request=view, minutes=minutes))
        payment = await payment_requests.pay(rt, session.principal, request_id, minutes)
    except AmountInvalid:
        return await _pay_form_again(rt, session, page, request_id, data, _amount_problem(data))
    except ProblemError as problem:
        if problem.code in REQUEST_STATE_PROBLEMS:
            return Redirect(f"/P/{request_id}", status_code=303)
        text, _ = PAY_PROBLEMS.get(problem.code, (PAY_FAILED, 422))
        response = await _pay_form_again(rt, session, page, request_id, data, text)
        response.headers.update(problem.headers)
        return response
    return html(render("paid.html", page, payment=payment))


@get("/m/paycode", include_in_schema=False)
async def pay_code(request: Request[Any, Any, Any], rt: RuntimeDep) -> Response[str]:
    """The code and its QR now, and the secret for the phone to go on by itself."""
    found = await _resident(request, rt)
    if isinstance(found, Response):
        return found
    session, page = found
    try:
        codes = await pay_codes.device_of(rt, session.principal)
    except ProblemError:
        text = N_("This phone has no pay code. Ask your coordinator for a new welcome link.")
        return message_page(page, N_("My pay code"), text, 404)
    number = codes.row.device_number
    code = pay_codes.code_at(number, codes.secret, rt.now().timestamp())
    body = render(
        "pay_code.html",
        page,
        number=number,
        secret=pay_codes.secret_base32(codes.secret),
        code=code,
        qr=data_url(code),
        step_seconds=api_limits.PAY_CODE_STEP_SECONDS,
    )
    return html(body)


@get("/m/places", include_in_schema=False)
async def places(request: Request[Any, Any, Any], rt: RuntimeDep) -> Response[str]:
    """Where to spend (the community's shops) and where to earn (its organisations)."""
    found = await _resident(request, rt)
    if isinstance(found, Response):
        return found
    session, page = found
    community = session.principal.community
    assert community is not None
    async with rt.db.read() as db:
        shops = await named_accounts(db, community, AccountType.SHOP)
        organisations = await named_accounts(db, community, AccountType.ORGANISATION)
    body = render(
        "pay_places.html",
        page,
        shops=[row.name for row in shops if row.name],
        organisations=[row.name for row in organisations if row.name],
    )
    return html(body)


ROUTES = [
    scanner, scan, typed, receive_form, receive, receive_screen, pay_typed_amount, pay_code, places,
]  # fmt: skip
