"""A resident's own pages: home (balance and the latest lines), history (paged), a receipt,
settings (language, larger text), and signing this phone out.

Every page here is personal: ``Cache-Control: no-store``, and a visitor without a
session gets the "not signed in" page. Forms carry the session's form token.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import PathParameter
from litestar.response import Redirect

from api import limits as api_limits
from api import offline_payments, provisioning
from api.auth import SESSION_COOKIE
from api.problems import ProblemError
from api.routes.markers import RuntimeDep
from api.runtime import Runtime
from api.schemas.common import text_ok
from ledger.amounts import LANGUAGES
from ledger.shape import journal_position
from mobile_web import staff_roles as staff
from mobile_web.forms import FormBody, form_key, fresh_key
from mobile_web.history import HISTORY_PAGE_ENTRIES, HOME_ENTRIES, history, line_of
from mobile_web.i18n import LANGUAGE_COOKIE
from mobile_web.render import N_, Page, render, translate
from mobile_web.session import Session, form_token_ok
from mobile_web.visitor import (
    LARGE_TEXT,
    TEXT_COOKIE,
    html,
    page_for,
    preference_cookie,
    signed_in,
)

EntryPath = Annotated[str, PathParameter(max_length=100)]
NOT_SIGNED_IN = N_("You are not signed in. Open the link on your welcome card.")
FORM_EXPIRED = N_("This page has expired. Please open it again.")
BACK = N_("Back")


def message_page(
    page: Page,
    title: str,
    text: str,
    status: int,
    *,
    problem: bool = True,
    layout: str | None = None,
    words: Mapping[str, str] | None = None,
    **context: Any,
) -> Response[str]:
    """A page that says one thing (``title`` and ``text`` are message ids; ``words`` fill
    ``text``'s ``%(name)s`` fields). A ``layout`` of a staff or till screen (with its menu
    in ``context``) leads ``Back`` to ``link``; without one the page is a resident's, and
    leads to their balance."""
    if layout is not None:
        context["link_text"] = translate(page.language, BACK)
    message = translate(page.language, text)
    body = render(
        "message.html",
        page,
        title=translate(page.language, title),
        message=message % words if words is not None else message,
        problem=problem,
        layout=layout,
        **context,
    )
    return html(body, status)


def not_signed_in(request: Request[Any, Any, Any]) -> Response[str]:
    return message_page(page_for(request), N_("Not signed in"), NOT_SIGNED_IN, 401)


def form_expired(request: Request[Any, Any, Any], session: Session) -> Response[str]:
    return message_page(page_for(request, session), N_("Sorry"), FORM_EXPIRED, 403)


def refused_form(
    request: Request[Any, Any, Any], session: Session, sent: object
) -> Response[str] | None:
    """The page saying a posted form has expired, or None when ``sent`` (the form's
    token field) is the signed-in session's form token."""
    if form_token_ok(session, sent):
        return None
    return form_expired(request, session)


def _account(session: Session) -> tuple[str, str] | None:
    principal = session.principal
    if principal.community is None or principal.member_account is None:
        return None
    return principal.community, principal.member_account


@get("/m", include_in_schema=False)
async def home(request: Request[Any, Any, Any], rt: RuntimeDep) -> Response[str] | Redirect:
    session = await signed_in(request, rt)
    if session is None:
        return not_signed_in(request)
    account = _account(session)
    start = staff.start_path(session)
    if account is None and start is not None:
        return Redirect(start, status_code=303)
    found = None if account is None else await history(rt, *account, None, HOME_ENTRIES)
    now = datetime.fromtimestamp(rt.now_seconds(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    page = page_for(request, session)
    screens = staff.screens(session)
    body = render("home.html", page, name=session.name, history=found, now=now, screens=screens)
    return html(body)


def _before(request: Request[Any, Any, Any]) -> int | None:
    return journal_position(request.query_params.get("before", ""))


@get("/m/history", include_in_schema=False)
async def full_history(request: Request[Any, Any, Any], rt: RuntimeDep) -> Response[str]:
    session = await signed_in(request, rt)
    if session is None:
        return not_signed_in(request)
    page = page_for(request, session)
    account = _account(session)
    if account is None:
        return message_page(page, N_("My history"), N_("There is no account here."), 404)
    before = _before(request)
    found = await history(rt, *account, before, HISTORY_PAGE_ENTRIES)
    return html(render("history.html", page, history=found, before=before))


@get("/m/r/{entry_id:str}", include_in_schema=False)
async def receipt(
    request: Request[Any, Any, Any], entry_id: EntryPath, rt: RuntimeDep
) -> Response[str]:
    session = await signed_in(request, rt)
    if session is None:
        return not_signed_in(request)
    page = page_for(request, session)
    account = _account(session)
    line = None if account is None else await line_of(rt, *account, entry_id)
    if account is None or line is None:
        return _no_receipt(page)
    taken = await offline_payments.taken_from(rt, *account, entry_id)
    return html(render("receipt.html", page, line=line, taken=taken, key=fresh_key()))


def _no_receipt(page: Page) -> Response[str]:
    return message_page(page, N_("Receipt"), N_("We cannot find this page."), 404)


@post("/m/r/{entry_id:str}/report", include_in_schema=False, status_code=303)
async def report_payment(
    request: Request[Any, Any, Any], entry_id: EntryPath, rt: RuntimeDep, data: FormBody
) -> Response[str] | Redirect:
    """ "This was not me": the member reports a payment a shop took by pay code or card;
    the coordinators see it on their screen. The receipt then says it was reported."""
    session = await signed_in(request, rt)
    if session is None:
        return not_signed_in(request)
    refused = refused_form(request, session, data.get("csrf"))
    if refused is not None:
        return refused
    note = " ".join(data.get("note", "").split())[: api_limits.REASON_LENGTH_MAX]
    try:
        await offline_payments.report(
            rt, session.principal, form_key(data), entry_id, note if text_ok(note) else None
        )
    except ProblemError:
        return _no_receipt(page_for(request, session))
    return Redirect(f"/m/r/{entry_id}", status_code=303)


@get("/m/settings", include_in_schema=False)
async def settings(request: Request[Any, Any, Any], rt: RuntimeDep) -> Response[str]:
    session = await signed_in(request, rt)
    if session is None:
        return not_signed_in(request)
    saved = request.query_params.get("saved") == "1"
    return html(render("settings.html", page_for(request, session), saved=saved))


@post("/m/settings", include_in_schema=False, status_code=303)
async def save_settings(
    request: Request[Any, Any, Any], rt: RuntimeDep, data: FormBody
) -> Response[str] | Redirect:
    session = await signed_in(request, rt)
    if session is None:
        return not_signed_in(request)
    if (refused := refused_form(request, session, data.get("csrf"))) is not None:
        return refused
    secure = rt.settings.secure_cookies
    cookies = [preference_cookie(TEXT_COOKIE, LARGE_TEXT if data.get("large_text") else "", secure)]
    if data.get("language") in LANGUAGES:
        cookies.append(preference_cookie(LANGUAGE_COOKIE, data["language"], secure))
    return Redirect("/m/settings?saved=1", status_code=303, cookies=cookies)


@get("/m/sign-out", include_in_schema=False)
async def sign_out_page(request: Request[Any, Any, Any], rt: RuntimeDep) -> Response[str]:
    session = await signed_in(request, rt)
    if session is None:
        return not_signed_in(request)
    staff_only = session.principal.member_account is None  # staff: no hours of their own
    return html(render("sign_out.html", page_for(request, session), staff_only=staff_only))


async def _sign_out(rt: Runtime, session: Session) -> None:
    principal = session.principal
    actor = principal.member_account or principal.staff_id or principal.person_id
    await provisioning.sign_out_device(rt, principal.credential_id, actor)


@post("/m/sign-out", include_in_schema=False, status_code=200)
async def sign_out(
    request: Request[Any, Any, Any], rt: RuntimeDep, data: FormBody
) -> Response[str]:
    session = await signed_in(request, rt)
    if session is None:
        return not_signed_in(request)
    if (refused := refused_form(request, session, data.get("csrf"))) is not None:
        return refused
    await _sign_out(rt, session)
    page = page_for(request)
    response = html(render("signed_out.html", page))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


ROUTES = [
    home,
    full_history,
    receipt,
    report_payment,
    settings,
    save_settings,
    sign_out_page,
    sign_out,
]
