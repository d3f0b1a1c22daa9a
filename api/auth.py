"""Authentication: from a bearer token or session cookie to a ``Principal``, per route.

A device session token is accepted as ``Authorization: Bearer`` anywhere and as
the ``bm_session`` cookie on safe (GET/HEAD) requests, so a cross-site form can
never spend with a resident's cookie. Tokens are looked up by their SHA-256.
A resolved principal is cached for ``AUTH_CACHE_SECONDS``: revocations through
this process apply at once, those through another process within that time.
An API token past its ``expires_at`` is refused with 401 ``token_expired``, cached
or not. When a credential was last used is recorded at most once a minute.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers import BaseRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlmodel import col, select, update

from api import limits
from api.access import Action, Principal, Role
from api.database import Database
from api.problems import ProblemError
from api.tables import CredentialRow, PersonRow, RoleRow
from api.tokens import token_hash
from ledger.clock import Clock

log = logging.getLogger(__name__)

SESSION_COOKIE = "bm_session"
TOKEN_LENGTH_MAX = 100
LAST_USED_RESOLUTION_SECONDS = 60
TOUCH_GATHER_SECONDS = 1.0
TOUCH_CHUNK = 500
_SAFE_METHODS = frozenset({"GET", "HEAD"})
# A loaded credential: its principal, when it was last used and when it expires.
_Loaded = tuple[Principal, int | None, int | None]


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any], allow_cookie: bool) -> str | None:
    # Straight from the raw ASGI headers: ``connection.headers`` parses them all.
    header = next(
        (v.decode("latin-1") for k, v in connection.scope["headers"] if k == b"authorization"),
        None,
    )
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and 0 < len(value.strip()) <= TOKEN_LENGTH_MAX:
            return value.strip()
        return None
    if allow_cookie:
        cookie = connection.cookies.get(SESSION_COOKIE)
        if cookie and len(cookie) <= TOKEN_LENGTH_MAX:
            return cookie
    return None


class Authenticator:
    """Resolves tokens to principals, with a short cache and one database load per token.

    Concurrent requests with the same uncached token share one load. Recording
    when a credential was last used never delays a request: it is written in
    the background, at most once per ``LAST_USED_RESOLUTION_SECONDS``.
    """

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        # token hash -> (cached until, monotonic; the principal; expires at, Unix seconds)
        self._cache: dict[str, tuple[float, Principal, int | None]] = {}
        self._loading: dict[str, asyncio.Future[_Loaded | None]] = {}
        self._touched: dict[str, int] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._pending: dict[str, int] = {}

    async def principal(self, token: str) -> Principal | None:
        """The token's principal; None for an unknown or revoked token, and a 401
        problem ``token_expired`` for an API token past its expiry."""
        digest = token_hash(token)
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            self._refuse_if_expired(cached[2])
            return cached[1]
        loaded = await self._load_once(digest)
        if loaded is None:
            self._cache.pop(digest, None)
            return None
        principal, last_used, expires_at = loaded
        if len(self._cache) >= limits.AUTH_CACHE_ENTRIES_MAX:
            self._cache.clear()
        self._cache[digest] = (now + limits.AUTH_CACHE_SECONDS, principal, expires_at)
        self._refuse_if_expired(expires_at)
        self._maybe_touch(principal.credential_id, last_used)
        return principal

    def _refuse_if_expired(self, expires_at: int | None) -> None:
        if expires_at is not None and self._clock.now().timestamp() >= expires_at:
            raise ProblemError(
                401,
                "token_expired",
                "This token has expired; ask an admin for a new one.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )

    async def _load_once(self, digest: str) -> _Loaded | None:
        waiting = self._loading.get(digest)
        if waiting is not None:
            return await asyncio.shield(waiting)
        future: asyncio.Future[_Loaded | None]
        future = asyncio.get_running_loop().create_future()
        self._loading[digest] = future
        try:
            result = await self._load(digest)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: waiters re-raise it, nobody else must
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._loading[digest]

    def forget(self, credential_ids: set[str] | None = None) -> None:
        """Drop cached principals (all of them, or those of ``credential_ids``)."""
        if credential_ids is None:
            self._cache.clear()
            return
        for digest, (_, principal, _) in list(self._cache.items()):
            if principal.credential_id in credential_ids:
                del self._cache[digest]

    async def _load(self, digest: str) -> _Loaded | None:
        async with self._db.read() as session:
            credential = (
                await session.exec(select(CredentialRow).where(CredentialRow.token_hash == digest))
            ).first()
            if credential is None or credential.revoked_at is not None:
                return None
            person = await session.get(PersonRow, credential.person_id)
            if person is None or person.erased_at is not None:
                return None
            roles = (
                await session.exec(select(RoleRow).where(RoleRow.person_id == person.id))
            ).all()
        principal = principal_of(person, credential, list(roles))
        return principal, credential.last_used_at, credential.expires_at

    def _maybe_touch(self, credential_id: str, last_used: int | None) -> None:
        now = int(self._clock.now().timestamp())
        last = max(last_used or 0, self._touched.get(credential_id, 0))
        if now - last <= LAST_USED_RESOLUTION_SECONDS:
            return
        if len(self._touched) >= limits.AUTH_CACHE_ENTRIES_MAX:
            self._touched.clear()
        self._touched[credential_id] = now
        # Uses seen in the same moment are recorded together in one write
        # transaction, so a burst of new sessions does not queue a write per
        # credential in front of the ledger's group commits.
        first = not self._pending
        self._pending[credential_id] = now
        if first:
            task = asyncio.get_running_loop().create_task(self._touch())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _touch(self) -> None:
        await asyncio.sleep(TOUCH_GATHER_SECONDS)
        pending, self._pending = self._pending, {}
        # One statement per chunk, not a read and a write per credential: this
        # transaction holds the write lock that the ledger's group commits wait for.
        used_at = max(pending.values())  # the uses were gathered within one second
        ids = sorted(pending)
        try:
            async with self._db.write() as session:
                for start in range(0, len(ids), TOUCH_CHUNK):
                    chunk = ids[start : start + TOUCH_CHUNK]
                    await session.exec(
                        update(CredentialRow)
                        .where(col(CredentialRow.id).in_(chunk))
                        .values(last_used_at=used_at)
                    )
        except Exception:
            log.warning(
                "could not record the last use of %d credentials", len(pending), exc_info=True
            )


def principal_of(person: PersonRow, credential: CredentialRow, roles: list[RoleRow]) -> Principal:
    """The principal a credential gives: all the person's roles for a device session,
    only the token's role for an API token."""
    held = [r for r in roles if credential.role is None or r.role == credential.role]
    names = frozenset(Role(r.role) for r in held)
    return Principal(
        person_id=person.id,
        community=person.community,
        roles=names,
        credential_id=credential.id,
        staff_id=person.staff_id if names - {Role.MEMBER} else None,
        member_account=next((r.scope for r in held if r.role == Role.MEMBER), None),
        organisations=frozenset(r.scope for r in held if r.role == Role.COORDINATOR),
        shops=frozenset(r.scope for r in held if r.role == Role.SHOP),
        name=person.name,
        language=person.language,
    )


async def authorize(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Authenticate, then check the route's action in the matrix (see ``authorization``)."""
    action: Action = handler.opt["action"]
    token = bearer_token(connection, allow_cookie=connection.scope.get("method") in _SAFE_METHODS)
    principal = None
    if token is not None:
        principal = await connection.app.state.runtime.authenticator.principal(token)
    if principal is None:
        raise ProblemError(
            401,
            "not_authenticated",
            "Send a valid token as 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not principal.may(action):
        raise ProblemError(403, "forbidden", f"Your role may not do {action.value}.")
    # Kept in the request's ASGI state dict itself: ``connection.state`` builds a
    # new wrapper (with its own lock) on every access.
    connection.scope.setdefault("state", {})["principal"] = principal


def authorization(app: ASGIApp) -> ASGIApp:
    """Route middleware on every API route: ``authorize`` before anything else runs.

    A middleware rather than a Litestar guard: a guard is handed a fresh copy of
    the route handler on every request, which cost more than the check itself.
    """

    async def authorized(scope: Scope, receive: Receive, send: Send) -> None:
        await authorize(ASGIConnection(scope), scope["route_handler"])
        await app(scope, receive, send)

    return authorized


def provide_principal(
    request: ASGIConnection[Any, Any, Any, Any], rt: NamedDependency[object]
) -> Principal:
    """The caller, as the authorization middleware left them.

    Takes ``rt`` only so that Litestar resolves the two dependencies one after
    the other: independent dependencies are resolved in a task group, which
    costs more per request than both of them together.
    """
    principal = request.scope.get("state", {}).get("principal")
    assert isinstance(principal, Principal), "authorization ran before this dependency"
    return principal


def community_of(principal: Principal) -> str:
    """The caller's community, or 403 for a deployment-wide principal (an operator)."""
    if principal.community is None:
        raise ProblemError(403, "community_required", "This needs a community role.")
    return principal.community
