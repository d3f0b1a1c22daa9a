"""The phone's cookie session: who is signed in, what their home page shows, and
the per-form token that keeps other sites from posting with their cookie.

The API accepts the ``bm_session`` cookie only on safe requests. The few pages
that change something with it (paying from ``/P/<RID>``) carry a form token:
an HMAC of a fixed label keyed by the session token itself. Only a page served
to the holder of the cookie can know it, it needs no server-side state, and it
is checked in constant time. The cookie stays ``SameSite=Lax`` as a second wall.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from api.access import Principal
from api.runtime import Runtime
from ledger.model import Entry

RECENT_ENTRIES = 10
TOKEN_LENGTH_MAX = 100
_FORM_LABEL = b"buurtmunt form token v1"


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    principal: Principal
    language: str
    name: str


@dataclass(frozen=True, slots=True)
class Line:
    date: str
    what: str
    delta: int


@dataclass(frozen=True, slots=True)
class MemberView:
    name: str
    language: str
    roles: list[str]
    account_id: str | None
    balance_minutes: int | None
    lines: list[Line]


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


def form_token_ok(session: Session, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(form_token(session), sent)


def _line(entry: Entry, account_id: str) -> Line:
    delta = 0
    for posting in entry.draft.postings:
        if posting.payee == account_id:
            delta += posting.amount_minutes
        if posting.payer == account_id:
            delta -= posting.amount_minutes
    what = entry.draft.memo or dict(entry.draft.meta).get("activity", "") or entry.kind.value
    return Line(entry.time[:10], str(what), delta)


async def member_view(rt: Runtime, session: Session) -> MemberView:
    principal = session.principal
    assert principal.community is not None, "sessions belong to a community"
    account_id = principal.member_account
    balance = None
    lines: list[Line] = []
    if account_id is not None:
        row = await rt.store.account(principal.community, account_id)
        balance = None if row is None else row.balance_minutes
        recent = await rt.store.account_entries(
            principal.community, account_id, None, RECENT_ENTRIES
        )
        lines = [_line(entry, account_id) for entry in recent]
    return MemberView(
        name=session.name,
        language=session.language,
        roles=sorted(r.value for r in principal.roles),
        account_id=account_id,
        balance_minutes=balance,
        lines=lines,
    )
