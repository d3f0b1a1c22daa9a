"""Headers, both ways, set in one place: what every response carries, and the
bound on what a request may carry.

Every response, pages and API alike, gets a strict Content-Security-Policy
(scripts and styles only from this server's files, never inline; no frames, no
plugins, forms post only here), no referrer beyond this origin, no MIME
sniffing, and ``Cache-Control: no-store`` unless the route chose its own
caching (static files, public pages): what is personal is never kept by a
browser or a proxy.

A request whose header names and values together exceed
``REQUEST_HEADER_BYTES_MAX`` is a 431 problem ``headers_too_large``, whatever
the ASGI server in front let through. (Which peer's ``X-Forwarded-For`` is
believed is the server's business: ``buurtmunt serve`` trusts only
``BUURTMUNT_TRUSTED_PROXIES``.)
"""

from __future__ import annotations

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api import limits
from api.problems import ProblemError

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "manifest-src 'self'",
        "worker-src 'self'",
        "media-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
# Encoded once: the hook runs for every response and only appends what is missing.
_ENCODED = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]


async def add_security_headers(message: Message, scope: Scope) -> None:
    """A ``before_send`` hook: adds the headers to the start of every HTTP response,
    leaving any the route set itself (its own ``Cache-Control``) as they are."""
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers") or [])
    present = {bytes(name).lower() for name, _ in headers}
    headers.extend(header for header in _ENCODED if header[0] not in present)
    message["headers"] = headers


def header_bytes(scope: Scope) -> int:
    total = 0
    for name, value in scope["headers"]:  # a plain loop: twice as fast as sum() over a generator
        total += len(name) + len(value)
    return total


def bounded_headers(app: ASGIApp) -> ASGIApp:
    """App middleware: refuse oversized headers with a 431 problem."""

    async def bounded(scope: Scope, receive: Receive, send: Send) -> None:
        if header_bytes(scope) > limits.REQUEST_HEADER_BYTES_MAX:
            raise ProblemError(
                431,
                "headers_too_large",
                f"The request's headers exceed {limits.REQUEST_HEADER_BYTES_MAX} bytes.",
                headers_bytes_max=limits.REQUEST_HEADER_BYTES_MAX,
            )
        await app(scope, receive, send)

    return bounded
