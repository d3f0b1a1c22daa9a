"""Pages anyone may open: the start page, help for a lost phone, the accessibility
statement, the offline page, the language switch, the web app manifest, the service
worker, the static files, and the HTML error page browsers get instead of problem JSON.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.params import PathParameter
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from api.auth import SESSION_COOKIE
from api.routes.markers import RuntimeDep
from ledger.amounts import LANGUAGES
from mobile_web.i18n import LANGUAGE_COOKIE, choose, direction
from mobile_web.render import N_, STATIC, Page, render, translate
from mobile_web.visitor import html, local_path, page_for, preference_cookie

STATIC_MAX_AGE_SECONDS = 3600
LanguagePath = Annotated[str, PathParameter(max_length=8)]
ERROR_TEXTS = {
    401: N_("You are not signed in. Open the link on your welcome card."),
    403: N_("This page is not for you."),
    404: N_("We cannot find this page."),
    405: N_("This page cannot do that."),
    413: N_("That was too much at once."),
    429: N_("Too many attempts. Wait a moment and try again."),
}
ERROR_TEXT_OTHER = N_("This did not work. Please try again.")
ERROR_TEXT_SERVER = N_("Something went wrong on our side. Please try again in a minute.")
# Problem codes with words of their own on an error page.
CODE_TEXTS = {"locked_out": N_("Too many attempts. Try again in a quarter of an hour.")}


@get("/", include_in_schema=False)
async def landing(request: Request[Any, Any, Any]) -> Response[str]:
    has_session = SESSION_COOKIE in request.cookies
    body = render("landing.html", page_for(request), has_session=has_session)
    return html(body, personal=False)


@get("/help/lost-phone", include_in_schema=False)
async def lost_phone(request: Request[Any, Any, Any]) -> Response[str]:
    return html(render("lost_phone.html", page_for(request)), personal=False)


@get("/accessibility", include_in_schema=False)
async def accessibility(request: Request[Any, Any, Any]) -> Response[str]:
    return html(render("accessibility.html", page_for(request)), personal=False)


@get("/offline", include_in_schema=False)
async def offline(request: Request[Any, Any, Any]) -> Response[str]:
    """What the service worker shows without a network (it keeps a copy)."""
    return html(render("offline.html", page_for(request)), personal=False)


@get("/lang/{language:str}", include_in_schema=False, status_code=303)
async def switch_language(
    request: Request[Any, Any, Any], language: LanguagePath, rt: RuntimeDep
) -> Redirect:
    """Remember this device's language and go back to the page it was chosen on."""
    target = local_path(request.query_params.get("next"))
    if language not in LANGUAGES:
        return Redirect(target, status_code=303)
    cookie = preference_cookie(LANGUAGE_COOKIE, language, rt.settings.secure_cookies)
    return Redirect(target, status_code=303, cookies=[cookie])


@get("/manifest.webmanifest", include_in_schema=False)
async def manifest(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    language = page_for(request).language
    body = {
        "name": "Buurtmunt",
        "short_name": "Buurtmunt",
        "description": translate(language, N_("Your hours of the neighbourhood, on your phone.")),
        "lang": language,
        "dir": direction(language),
        "start_url": "/m",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0b5e2e",
        "icons": [
            {"src": "/static/icons/app.svg", "sizes": "any", "type": "image/svg+xml"},
            {"src": "/static/icons/app-192.png", "sizes": "192x192", "type": "image/png"},
            {"src": "/static/icons/app-512.png", "sizes": "512x512", "type": "image/png"},
        ],
    }
    return Response(body, media_type="application/manifest+json")


@get("/sw.js", include_in_schema=False)
async def service_worker() -> Response[bytes]:
    """At the root, so that it may look after every page; always checked for a new version."""
    return Response(
        (STATIC / "sw.js").read_bytes(),
        media_type="text/javascript",  # Litestar adds "; charset=utf-8"
        headers={"Cache-Control": "no-cache"},
    )


@get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response[bytes]:
    return Response(
        (STATIC / "icons" / "app.svg").read_bytes(),
        media_type="image/svg+xml",
        headers={"Cache-Control": f"public, max-age={STATIC_MAX_AGE_SECONDS}"},
    )


static_files = create_static_files_router(
    path="/static",
    directories=[STATIC],
    cache_control=CacheControlHeader(max_age=STATIC_MAX_AGE_SECONDS, public=True),
    include_in_schema=False,
    name="static",
)


def error_page(request: Request[Any, Any, Any], status: int, code: str) -> Response[str]:
    """The page a browser gets for an error (``api.problems`` asks for it by Accept)."""
    language = choose(
        request.cookies.get(LANGUAGE_COOKIE), None, request.headers.get("accept-language")
    )
    page = Page(language=language, path=local_path(request.url.path))
    if status >= 500:
        text = ERROR_TEXT_SERVER
    else:
        text = CODE_TEXTS.get(code) or ERROR_TEXTS.get(status, ERROR_TEXT_OTHER)
    title = translate(language, N_("Sorry"))
    body = render(
        "message.html", page, title=title, message=translate(language, text), problem=True
    )
    return html(body, status)


ROUTES = [
    landing,
    lost_phone,
    accessibility,
    offline,
    switch_language,
    manifest,
    service_worker,
    favicon,
    static_files,
]
