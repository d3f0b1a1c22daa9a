"""Pages for phones: link a device, a member's home, and paying a request from its QR.

``GET /e/<token>`` only shows a confirm button, so link previewers cannot use
the link up; ``POST`` binds the device, sets the ``bm_session`` cookie and
redirects to ``/m``. ``GET /P/<RID>`` is what a phone's camera app opens from a
shop's QR code: the shop's name, the amount and one big button, which posts the
form back (no JavaScript needed) with the session's form token. Every outcome
is a page in plain words, never an error code.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body, PathParameter
from litestar.response import Redirect

from api import payment_requests
from api.auth import SESSION_COOKIE
from api.problems import ProblemError
from api.provisioning import enrolment_link_usable, redeem_enrolment
from api.ratelimit import check_lockout, record_failure
from api.routes.credentials import client_bucket
from api.routes.markers import RuntimeDep
from api.runtime import Runtime
from ledger import limits
from mobile_web.render import message, render
from mobile_web.session import Session, form_token, form_token_ok, member_view, session_of

HTML = "text/html; charset=utf-8"
COOKIE_MAX_AGE_SECONDS = 400 * 24 * 3600
TokenPath = Annotated[str, PathParameter(max_length=100)]
RequestPath = Annotated[str, PathParameter(max_length=40)]
FormBody = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
# What a payment problem's code says to the payer, and the page's status.
PAY_PROBLEMS = {
    "payment_request_not_found": ("request_unknown", 404),
    "payment_request_paid": ("request_paid", 409),
    "payment_request_cancelled": ("request_cancelled", 409),
    "payment_request_expired": ("request_expired", 410),
    "payment_request_in_progress": ("request_busy", 409),
    "exceeds_balance": ("not_enough", 422),
    "member_account_required": ("members_only", 403),
    "rate_limited": ("too_many", 429),
    "locked_out": ("too_many", 429),
}


def _html(body: str, status: int = 200) -> Response[str]:
    return Response(body, status_code=status, media_type=HTML)


async def _locked(rt: Runtime, bucket: str) -> Response[str] | None:
    try:
        await check_lockout(rt.db, bucket, rt.now_seconds())
    except ProblemError as exc:
        response = _html(message("nl", "locked"), 429)
        response.headers.update(exc.headers)
        return response
    return None


@get("/e/{token:str}", include_in_schema=False)
async def enrolment_page(
    request: Request[Any, Any, Any], token: TokenPath, rt: RuntimeDep
) -> Response[str]:
    bucket = client_bucket(request)
    locked = await _locked(rt, bucket)
    if locked is not None:
        return locked
    if not await enrolment_link_usable(rt, token):
        await record_failure(rt.db, bucket, rt.now_seconds())
        return _html(message("nl", "invalid"), 404)
    return _html(render("enrol.html", "nl", token=token))


@post("/e/{token:str}", include_in_schema=False, status_code=303)
async def enrolment_confirm(
    request: Request[Any, Any, Any], token: TokenPath, rt: RuntimeDep
) -> Response[str] | Redirect:
    bucket = client_bucket(request)
    locked = await _locked(rt, bucket)
    if locked is not None:
        return locked
    label = request.headers.get("user-agent", "phone")[:100]
    redeemed = await redeem_enrolment(rt, token, label)
    if redeemed is None:
        await record_failure(rt.db, bucket, rt.now_seconds())
        return _html(message("nl", "invalid"), 404)
    _, session_token = redeemed
    cookie = Cookie(
        key=SESSION_COOKIE,
        value=session_token,
        max_age=COOKIE_MAX_AGE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=rt.settings.secure_cookies,
        path="/",
    )
    return Redirect("/m", status_code=303, cookies=[cookie])


async def _session(request: Request[Any, Any, Any], rt: Runtime) -> Session | None:
    return await session_of(rt, request.cookies.get(SESSION_COOKIE))


@get("/m", include_in_schema=False)
async def member_home(request: Request[Any, Any, Any], rt: RuntimeDep) -> Response[str]:
    session = await _session(request, rt)
    if session is None:
        return _html(message("nl", "signed_out"), 401)
    view = await member_view(rt, session)
    return _html(render("home.html", view.language, view=view, lines=view.lines))


def _pay_problem(language: str, problem: ProblemError) -> Response[str]:
    key, status = PAY_PROBLEMS.get(problem.code, ("failed", 422))
    response = _html(message(language, key, title_key="pay_title"), status)
    response.headers.update(problem.headers)
    return response


@get("/P/{request_id:str}", include_in_schema=False)
async def pay_page(
    request: Request[Any, Any, Any], request_id: RequestPath, rt: RuntimeDep
) -> Response[str]:
    session = await _session(request, rt)
    if session is None:
        return _html(message("nl", "signed_out", title_key="pay_title"), 401)
    try:
        view = await payment_requests.view(rt, session.principal, request_id)
        if view.status != payment_requests.OPEN:
            raise payment_requests.state_problem(view.request, rt.now_seconds())
    except ProblemError as problem:
        return _pay_problem(session.language, problem)
    page = render(
        "pay.html",
        session.language,
        "pay_title",
        request=view,
        csrf=form_token(session),
        amount_max=limits.TRANSFER_MINUTES_MAX,
    )
    return _html(page)


def _minutes(form: dict[str, str]) -> int | None:
    text = form.get("amount_minutes", "").strip()
    if not text:
        return None
    if not text.isdecimal() or not 1 <= int(text) <= limits.TRANSFER_MINUTES_MAX:
        raise ProblemError(422, "amount_invalid")
    return int(text)


@post("/P/{request_id:str}", include_in_schema=False, status_code=200)
async def pay_confirm(
    request: Request[Any, Any, Any], request_id: RequestPath, rt: RuntimeDep, data: FormBody
) -> Response[str]:
    session = await _session(request, rt)
    if session is None:
        return _html(message("nl", "signed_out", title_key="pay_title"), 401)
    if not form_token_ok(session, data.get("csrf")):
        return _html(message(session.language, "form_expired", title_key="pay_title"), 403)
    try:
        payment = await payment_requests.pay(rt, session.principal, request_id, _minutes(data))
    except ProblemError as problem:
        return _pay_problem(session.language, problem)
    return _html(render("paid.html", session.language, "paid", payment=payment))


ROUTES = [enrolment_page, enrolment_confirm, member_home, pay_page, pay_confirm]
