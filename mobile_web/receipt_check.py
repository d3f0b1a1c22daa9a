"""``GET /receipt-check``: a page anyone may open to check a receipt in their own browser.

The page holds a form and ``/static/receipt_check.js``, which checks the
receipt with WebCrypto (Ed25519 and SHA-256) without sending it anywhere. A
``key`` in the query fills in the community's verifier key, so a link can
carry it; the key is only text in a field, checked by the script.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import QueryParameter

from ledger import limits
from mobile_web.render import render
from mobile_web.visitor import html, page_for

KeyQuery = Annotated[
    str, QueryParameter(name="key", required=False, max_length=limits.NOTE_BYTES_MAX)
]


@get("/receipt-check", include_in_schema=False)
async def receipt_check(request: Request[Any, Any, Any], key: KeyQuery = "") -> Response[str]:
    return html(render("receipt_check.html", page_for(request), key=key), personal=False)


ROUTES: list[Any] = [receipt_check]
