"""Pages for phones: link a device, and pay a request from its QR; and every page route
of ``mobile_web`` in one list, ``ROUTES``, which the API finds by its entry point.

``GET /e/<token>`` only shows a confirm button, so link previewers cannot use
the link up; ``POST`` binds the device, sets the ``bm_session`` cookie and
redirects to ``/m``. Only unknown tokens count toward an address's lockout
(``api.ratelimit.refuse_unknown_enrolment``); a valid unused link always works.
Another site must not be able to link a visitor's browser to a link of its own
(signing them in as someone else): the confirm page sets a short-lived random
``bm_link`` cookie (``SameSite=Lax``, so a cross-site post goes without it) and
puts the same value in the form, and the ``POST`` needs both to match, and an
``Origin`` (and ``Sec-Fetch-Site``) of this site if the browser sends one.
A refused post changes nothing and leaves the link as it was.
``GET /P/<RID>`` is what a phone's camera app opens from a shop's QR code: the
shop's name, the amount and one big button, which posts the form back (no
JavaScript needed) with the session's form token. A neighbour's request that
leaves the amount to the payer asks for hours and minutes instead, and posts
them to ``mobile_web.pay.pay_typed_amount``. Every outcome is a page in plain
words, never an error code.
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import Annotated, Any
from urllib.parse import urlsplit

from litestar import Request, Response, get, post
from litestar.config.app import AppConfig
from litestar.datastructures import Cookie
from litestar.params import PathParameter
from litestar.plugins import InitPluginProtocol
from litestar.response import Redirect

from api import limits as api_limits
from api import payment_requests
from api.auth import SESSION_COOKIE
from api.problems import ERROR_PAGE_STATE, ProblemError
from api.provisioning import (
    LinkState,
    enrolment_language,
    enrolment_link_state,
    redeem_enrolment,
)
from api.ratelimit import refuse_unknown_enrolment
from api.routes.credentials import client_bucket
from api.routes.markers import RuntimeDep
from api.runtime import Runtime
from mobile_web import (
    pay,
    public,
    receipt_check,
    resident,
    staff,
    staff_admin,
    staff_card_scan,
    staff_coordinator,
    staff_corrections,
    staff_municipality,
    staff_payouts,
    till,
)
from mobile_web.forms import AmountInvalid, FormBody, minutes_from
from mobile_web.i18n import LANGUAGE_COOKIE
from mobile_web.pay import PAY_FAILED, PAY_PROBLEMS
from mobile_web.render import N_, Page, render, translate
from mobile_web.resident import FORM_EXPIRED, message_page, not_signed_in, refused_form
from mobile_web.session import session_of
from mobile_web.visitor import html, page_for, preference_cookie, signed_in, site_cookie

COOKIE_MAX_AGE_SECONDS = 400 * 24 * 3600
# The welcome page's form value: a random cookie, sent back in the form.
LINK_FORM_COOKIE = "bm_link"
LINK_FORM_PATH = "/e/"
LINK_FORM_SECONDS = 3600
LINK_FORM_BYTES = 32
LINK_FORM_VALUE = re.compile(r"[A-Za-z0-9_-]{43}")  # LINK_FORM_BYTES, base64url
SAME_SITE_FETCHES = ("same-origin", "none")
DEFAULT_PORTS = {"http": ":80", "https": ":443"}
TokenPath = Annotated[str, PathParameter(max_length=100)]
RequestPath = Annotated[str, PathParameter(max_length=40)]
# What an enrolment link that cannot be used says, and the page's status.
LINK_TEXTS = {
    LinkState.USED: (
        N_(
            "This link has been used already. Each link works once. "
            "Ask your coordinator for a new one if you need it."
        ),
        410,
    ),
    LinkState.EXPIRED: (N_("This link has expired. Ask your coordinator for a new one."), 410),
    LinkState.UNKNOWN: (
        N_("This link does not work. Check it, or ask your coordinator for a new one."),
        404,
    ),
}


async def _unusable_link(
    request: Request[Any, Any, Any], rt: Runtime, state: LinkState
) -> Response[str]:
    """The page for a link that cannot be used; unknown tokens count toward the lockout."""
    page = page_for(request)
    if state is LinkState.UNKNOWN:
        try:
            await refuse_unknown_enrolment(rt.db, client_bucket(request), rt.now_seconds())
        except ProblemError as locked:
            text = N_("Too many attempts. Try again in a quarter of an hour.")
            response = message_page(page, N_("Welcome to Buurtmunt"), text, 429)
            response.headers.update(locked.headers)
            return response
    text, status = LINK_TEXTS[state]
    return message_page(page, N_("Welcome to Buurtmunt"), text, status)


def web_origin(url: str) -> str:
    """The origin of ``url`` as a browser sends it: ``scheme://host[:port]``, lower case,
    no default port."""
    parts = urlsplit(url.strip())
    scheme, netloc = parts.scheme.lower(), parts.netloc.rpartition("@")[2].lower()
    default = DEFAULT_PORTS.get(scheme)
    if default is not None and netloc.endswith(default):
        netloc = netloc[: -len(default)]
    return f"{scheme}://{netloc}"


def _from_this_site(request: Request[Any, Any, Any], rt: Runtime, sent: str | None) -> bool:
    """Whether a posted welcome form came from the page this browser was served here:
    its field matches the ``bm_link`` cookie, and the browser names no other origin."""
    origin = request.headers.get("origin")
    if origin is not None and web_origin(origin) != web_origin(rt.settings.public_url):
        return False
    if request.headers.get("sec-fetch-site", "same-origin") not in SAME_SITE_FETCHES:
        return False
    cookie = request.cookies.get(LINK_FORM_COOKIE)
    if cookie is None or sent is None or not LINK_FORM_VALUE.fullmatch(cookie):
        return False
    return hmac.compare_digest(cookie.encode(), sent.encode())


def _link_form_cookie(value: str, rt: Runtime, max_age: int = LINK_FORM_SECONDS) -> Cookie:
    return site_cookie(
        LINK_FORM_COOKIE, value, max_age, rt.settings.secure_cookies, path=LINK_FORM_PATH
    )


@get("/e/{token:str}", include_in_schema=False)
async def enrolment_page(
    request: Request[Any, Any, Any], token: TokenPath, rt: RuntimeDep
) -> Response[str] | Redirect:
    state = await enrolment_link_state(rt, token)
    if state is LinkState.USED and await signed_in(request, rt) is not None:
        # A phone that is signed in opens its welcome card again: it is in already.
        return Redirect("/m", status_code=303)
    if state is not LinkState.USABLE:
        return await _unusable_link(request, rt, state)
    page = page_for(request, person_language=await enrolment_language(rt, token))
    # A value this browser has already keeps working (two tabs of the same link).
    form = request.cookies.get(LINK_FORM_COOKIE, "")
    if not LINK_FORM_VALUE.fullmatch(form):
        form = secrets.token_urlsafe(LINK_FORM_BYTES)
    response = html(render("enrol.html", page, token=token, form=form))
    response.set_cookie(_link_form_cookie(form, rt))
    return response


async def _refused_link(request: Request[Any, Any, Any], rt: Runtime, token: str) -> Response[str]:
    """The page for a welcome form that did not come from this site's page (or whose
    page is too old): nothing changed; opening the link again shows the button anew."""
    page = page_for(request, person_language=await enrolment_language(rt, token))
    link_text = translate(page.language, N_("Open"))
    title = N_("Welcome to Buurtmunt")
    return message_page(page, title, FORM_EXPIRED, 403, link=f"/e/{token}", link_text=link_text)


@post("/e/{token:str}", include_in_schema=False, status_code=303)
async def enrolment_confirm(
    request: Request[Any, Any, Any], token: TokenPath, rt: RuntimeDep, data: FormBody
) -> Response[str] | Redirect:
    if not _from_this_site(request, rt, data.get("csrf")):
        return await _refused_link(request, rt, token)
    label = request.headers.get("user-agent", "phone")[: api_limits.USER_AGENT_LABEL_MAX]
    redeemed = await redeem_enrolment(rt, token, label)
    if redeemed is None:
        return await _unusable_link(request, rt, await enrolment_link_state(rt, token))
    _, session_token = redeemed
    secure = rt.settings.secure_cookies
    cookies = [site_cookie(SESSION_COOKIE, session_token, COOKIE_MAX_AGE_SECONDS, secure)]
    session = await session_of(rt, session_token)
    if session is not None and LANGUAGE_COOKIE not in request.cookies:
        # The phone speaks the person's language from now on, on every page (also the
        # public ones and the offline page), until they choose another in the settings.
        cookies.append(preference_cookie(LANGUAGE_COOKIE, session.language, secure))
    cookies.append(_link_form_cookie("", rt, max_age=0))  # its work is done
    return Redirect("/m", status_code=303, cookies=cookies)


def _pay_problem(page: Page, problem: ProblemError) -> Response[str]:
    text, status = PAY_PROBLEMS.get(problem.code, (PAY_FAILED, 422))
    response = message_page(page, N_("Pay"), text, status)
    response.headers.update(problem.headers)
    return response


@get("/P/{request_id:str}", include_in_schema=False)
async def pay_page(
    request: Request[Any, Any, Any], request_id: RequestPath, rt: RuntimeDep
) -> Response[str]:
    session = await signed_in(request, rt)
    if session is None:
        return not_signed_in(request)
    page = page_for(request, session)
    try:
        view = await payment_requests.view(rt, session.principal, request_id)
        if view.status == payment_requests.PAID:
            # Opened again by who paid it (Back, or the camera once more): what they paid.
            mine = await payment_requests.payment_of_caller(rt, session.principal, request_id)
            if mine is not None:
                return html(render("paid.html", page, payment=mine, before=True))
        if view.status != payment_requests.OPEN:
            raise payment_requests.state_problem(view.request, rt.now_seconds())
        if view.is_payee:  # their own "pay me" code (or the till's): another pays it
            raise ProblemError(422, "payer_must_differ_from_payee")
    except ProblemError as problem:
        return _pay_problem(page, problem)
    body = render("pay.html", page, request=view)
    return html(body)


@post("/P/{request_id:str}", include_in_schema=False, status_code=200)
async def pay_confirm(
    request: Request[Any, Any, Any], request_id: RequestPath, rt: RuntimeDep, data: FormBody
) -> Response[str]:
    session = await signed_in(request, rt)
    if session is None:
        return not_signed_in(request)
    if (refused := refused_form(request, session, data.get("csrf"))) is not None:
        return refused
    page = page_for(request, session)
    try:
        # The amount the page showed (a request that leaves it to the payer posts its
        # hours and minutes to pay.pay_typed_amount instead).
        minutes = minutes_from(data, required=False)
        payment = await payment_requests.pay(rt, session.principal, request_id, minutes)
    except AmountInvalid:
        return _pay_problem(page, ProblemError(422, "amount_invalid"))
    except ProblemError as problem:
        return _pay_problem(page, problem)
    return html(render("paid.html", page, payment=payment))


class ErrorPages(InitPluginProtocol):
    """Gives the API the HTML error page that browsers get (see ``api.problems``)."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.state[ERROR_PAGE_STATE] = public.error_page
        return app_config


ROUTES: list[Any] = [
    enrolment_page,
    enrolment_confirm,
    pay_page,
    pay_confirm,
    *resident.ROUTES,
    *pay.ROUTES,
    *till.ROUTES,
    *public.ROUTES,
    *staff.ROUTES,
    *staff_coordinator.ROUTES,
    *staff_card_scan.ROUTES,
    *staff_municipality.ROUTES,
    *staff_admin.ROUTES,
    *staff_corrections.ROUTES,
    *staff_payouts.ROUTES,
    *receipt_check.ROUTES,
    ErrorPages(),
]
