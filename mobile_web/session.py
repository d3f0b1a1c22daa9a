"""The phone's cookie session: who is signed in, and the per-form token that keeps
other sites from posting with their cookie.

The API accepts the ``bm_session`` cookie only on safe requests. Every page
form that changes something with it (paying from ``/P/<RID>``, settings,
signing out) carries a form token: an HMAC of a fixed label keyed by the
session token itself. Only a page served to the holder of the cookie can know
it, it needs no server-side state, and it is checked in constant time. The
cookie stays ``SameSite=Lax`` as a second wall.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from api.access import Principal
from api.runtime import Runtime

TOKEN_LENGTH_MAX = 100
_FORM_LABEL = b"buurtmunt form token v1"


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    principal: Principal
    language: str
    name: str


async def session_of(rt: Runtime, token: str | None) -> Session | None:
    """The signed-in person for a cookie's session token, or None."""
    if not token or len(token) > TOKEN_LENGTH_MAX:
        return None
    principal = await rt.authenticator.principal(token)
    if principal is None or principal.community is None:
        return None
    return Session(token, principal, principal.language, principal.name)


def form_token(session: Session) -> str:
    digest = hmac.new(session.token.encode(), _FORM_LABEL, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def form_token_ok(session: Session, sent: object) -> bool:
    """Whether ``sent`` (a form's token field, if it sent one) is ``session``'s form token."""
    return isinstance(sent, str) and hmac.compare_digest(form_token(session), sent)
