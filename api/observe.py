"""What every HTTP request leaves behind: a request id, its metrics and one log line.

``observed(app)`` wraps the app's ASGI handler (outside routing, so requests
that match no route count too). The request id is the client's ``X-Request-Id``
when that is short and plain, otherwise a fresh one; the response carries it
back. Requests are named by their route template, never by their raw path,
so the metrics have a bounded number of series and the log no secrets.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from typing import Any, cast

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

from api import limits, metrics
from api.logs import CURRENT_REQUEST, RequestScope, log_request

REQUEST_ID_HEADER = b"x-request-id"
_PLAIN_ID = re.compile(rb"[A-Za-z0-9._:-]{1,%d}" % limits.REQUEST_ID_LENGTH_MAX)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Issued ids: this process's random prefix and a count, unique without asking the
# system for randomness on every request (an id is a name, not a secret).
_PROCESS_PREFIX = secrets.token_hex(4)
_issued = itertools.count(1)


def request_id(headers: Any) -> str:
    """The client's ``X-Request-Id`` if it is plain and short enough, else a new one."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if _PLAIN_ID.fullmatch(value):
                return str(value.decode("ascii"))
            break
    return f"{_PROCESS_PREFIX}{next(_issued):08x}"


def observed(app: ASGIApp) -> ASGIApp:
    """``app`` with every HTTP request timed, counted, logged and given a request id."""

    async def handle(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(scope["headers"])
        header = (REQUEST_ID_HEADER, rid.encode("ascii"))
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        current = RequestScope(rid)
        token = CURRENT_REQUEST.set(current)
        try:
            await app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            status = status or 500  # the app failed before it answered
            _record(scope, rid, status, seconds)
            current.end()
            CURRENT_REQUEST.reset(token)

    return handle


def _record(scope: Scope, rid: str, status: int, seconds: float) -> None:
    http = cast(HTTPScope, scope)
    route = http.get("path_template") or metrics.UNMATCHED_ROUTE
    method = http["method"] if http["method"] in _METHODS else "OTHER"
    metrics.observe_request(method, route, status, seconds)
    log_request(rid, method, route, status, seconds)
