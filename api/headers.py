"""Headers every response carries, pages and API alike, set in one place.

A strict Content-Security-Policy (scripts and styles only from this server's
files, never inline; no frames, no plugins, forms post only here), no referrer
beyond this origin, no MIME sniffing, and ``Cache-Control: no-store`` unless
the route chose its own caching (static files, public pages): what is personal
is never kept by a browser or a proxy.
"""

from __future__ import annotations

from litestar.types import Message, Scope

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
