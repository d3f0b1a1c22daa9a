"""Who is visiting and how they want their pages: language, text size, session, and the
HTML response every page goes out as.

Device settings are cookies (``bm_lang``, ``bm_text``), so they work before
anyone signs in and on a shared phone per browser. Personal pages go out with
``Cache-Control: no-store``; public pages may be cached briefly.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.datastructures import Cookie

from api.auth import SESSION_COOKIE
from api.runtime import Runtime
from mobile_web.i18n import LANGUAGE_COOKIE, choose
from mobile_web.render import Page
from mobile_web.session import Session, form_token, session_of

HTML = "text/html"  # Litestar adds "; charset=utf-8" to text types itself
TEXT_COOKIE = "bm_text"
LARGE_TEXT = "large"
PREFERENCE_MAX_AGE_SECONDS = 400 * 24 * 3600
PUBLIC_PAGE_MAX_AGE_SECONDS = 300
NEXT_PATH_LENGTH_MAX = 200


def page_for(
    request: Request[Any, Any, Any],
    session: Session | None = None,
    person_language: str | None = None,
) -> Page:
    """The layout's view of this request: language, this page's path, device settings.

    The language is this device's choice, else the person's (the signed-in one's, or
    ``person_language`` for a page about a person not signed in yet), else the browser's.
    """
    language = choose(
        request.cookies.get(LANGUAGE_COOKIE),
        session.language if session is not None else person_language,
        request.headers.get("accept-language"),
    )
    path = request.url.path
    if request.url.query:
        path = f"{path}?{request.url.query}"
    return Page(
        language=language,
        path=local_path(path),
        large_text=request.cookies.get(TEXT_COOKIE) == LARGE_TEXT,
        signed_in=session is not None,
        csrf=form_token(session) if session is not None else None,
    )


def local_path(path: str | None, default: str = "/") -> str:
    """``path`` if it stays on this site (one leading slash), else ``default``."""
    if not path or len(path) > NEXT_PATH_LENGTH_MAX:
        return default
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return default
    return path


async def signed_in(request: Request[Any, Any, Any], rt: Runtime) -> Session | None:
    return await session_of(rt, request.cookies.get(SESSION_COOKIE))


def html(body: str, status: int = 200, *, personal: bool = True) -> Response[str]:
    """A page. Personal pages are never stored by a browser or a proxy."""
    cache = "no-store" if personal else f"public, max-age={PUBLIC_PAGE_MAX_AGE_SECONDS}"
    return Response(
        body,
        status_code=status,
        media_type=HTML,
        headers={"Cache-Control": cache, "Vary": "Cookie, Accept-Language"},
    )


def site_cookie(key: str, value: str, max_age: int, secure: bool, path: str = "/") -> Cookie:
    """A cookie of these pages: never read by scripts, and sent on cross-site requests
    only when a person follows a link (SameSite=Lax)."""
    return Cookie(
        key=key, value=value, max_age=max_age, httponly=True, samesite="lax", secure=secure,
        path=path,
    )  # fmt: skip


def preference_cookie(key: str, value: str, secure: bool) -> Cookie:
    return site_cookie(key, value, PREFERENCE_MAX_AGE_SECONDS, secure)
