"""The first pages for phones: open an enrolment link, and a member's home.

Server-rendered, no JavaScript, Dutch by default (English when the person chose
it). ``GET /e/<token>`` only shows a confirm button, so link previewers cannot
use the link up; ``POST`` binds the device, sets the ``bm_session`` cookie and
redirects to ``/m``. A later issue replaces these with the real pages.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import PathParameter
from litestar.response import Redirect
from sqlmodel import select

from api.auth import SESSION_COOKIE
from api.problems import ProblemError
from api.provisioning import redeem_enrolment
from api.ratelimit import check_lockout, record_failure
from api.routes.credentials import client_bucket
from api.routes.markers import RuntimeDep
from api.runtime import Runtime
from api.tables import EnrolmentLinkRow
from api.tokens import token_hash
from mobile_web.render import TEXTS, home_page, message_page, page
from mobile_web.session import member_view

HTML = "text/html; charset=utf-8"
COOKIE_MAX_AGE_SECONDS = 400 * 24 * 3600
TokenPath = Annotated[str, PathParameter(max_length=100)]


def _html(body: str, status: int = 200) -> Response[str]:
    return Response(body, status_code=status, media_type=HTML)


async def _usable(rt: Runtime, token: str) -> bool:
    async with rt.db.read() as session:
        link = (
            await session.exec(
                select(EnrolmentLinkRow).where(EnrolmentLinkRow.token_hash == token_hash(token))
            )
        ).first()
    return link is not None and link.used_at is None and link.expires_at > rt.now_seconds()


async def _locked(rt: Runtime, bucket: str) -> Response[str] | None:
    try:
        await check_lockout(rt.db, bucket, rt.now_seconds())
    except ProblemError as exc:
        response = _html(message_page(TEXTS["nl"]["locked"]), 429)
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
    if not await _usable(rt, token):
        await record_failure(rt.db, bucket, rt.now_seconds())
        return _html(message_page(TEXTS["nl"]["invalid"]), 404)
    text = TEXTS["nl"]
    form = (
        f'<form method="post" action="/e/{token}">'
        f'<button type="submit">{text["confirm"]}</button></form>'
    )
    return _html(page(text["welcome"], f"<p>{text['explain']}</p>{form}"))


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
        return _html(message_page(TEXTS["nl"]["invalid"]), 404)
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


@get("/m", include_in_schema=False)
async def member_home(request: Request[Any, Any, Any], rt: RuntimeDep) -> Response[str]:
    view = await member_view(rt, request.cookies.get(SESSION_COOKIE))
    if view is None:
        return _html(message_page(TEXTS["nl"]["signed_out"]), 401)
    return _html(home_page(view))


ROUTES = [enrolment_page, enrolment_confirm, member_home]
