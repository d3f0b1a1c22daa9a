"""Idempotency-Key: a retried POST moves nothing twice and gets the original response.

Every POST under ``/api/v1`` requires the header. Keys belong to the
credential that sent them. A POST that appends one entry names it with a fresh
time-ordered id (``ledger.ids``) and hands the ledger its key scoped to the
credential (``scoped_key``, the draft's ``key``): the ledger maps the key to
the id of the first draft that carried it, in the transaction that appends
it, so a retry is answered with the original entry (same content) or refused
(different content), however many requests or processes race, and the route
rebuilds the same response from the entry. Another caller's same key is
another key. The ledger forgets keys after the retention window
(``Settings.idempotency_key_retention_days``, ``api.key_retention``).

Other POSTs go through ``once``: the first request claims the key in
``idempotent_responses`` together with a *plan* (the random ids it will
create), does its work, and stores its response; a retry gets the stored
response, a concurrent duplicate waits for it, and a request that died half-way
is taken over with the same plan, so it creates the same ids again.

Stored responses are sealed (AES-GCM) with a key derived from the
Idempotency-Key, which only the client knows: some carry one-time tokens or
personal data, and a database dump must not reveal them.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import msgspec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from litestar.params import HeaderParameter
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete

from api import limits
from api.database import Database
from api.problems import ProblemError
from api.tables import IdempotentResponseRow
from ledger import limits as ledger_limits
from ledger.ids import key_of_legacy_id
from ledger.shape import ID_PATTERN

T = TypeVar("T")
Plan = dict[str, str]

IdempotencyKeyHeader = Annotated[
    str,
    HeaderParameter(
        name="Idempotency-Key",
        pattern=f"^{ID_PATTERN.pattern}$",
        min_length=1,
        max_length=limits.IDEMPOTENCY_KEY_LENGTH_MAX,
        description=(
            "A client-chosen unique key (best a UUIDv7, whose time order keeps the server's "
            "key map growing at its end; any UUID will do): letters, digits and '._:-', at "
            "most 64. "
            "A retry with the same key returns the original response and moves nothing twice; "
            "the same key with a different request is refused: where the request is one "
            "journal entry (a transfer, refund, settlement, correction, change of rules), with "
            "409 and the ledger's code for what differs (exists_with_different_amount, …), "
            "elsewhere with 422 idempotency_key_reused. "
            "Keys belong to the credential that sends them: the same key from another caller "
            "is another request. Keys are remembered for the server's retention window "
            "(30 days unless configured otherwise)."
        ),
    ),
]

_POLL_SECONDS = 0.025
# Hex digits of the credential's hash at the end of an entry id (48 bits).
ENTRY_ID_TAG_DIGITS = 12
_PENDING, _DONE = "pending", "done"


def draft_id(key: str) -> str:
    """The ledger draft id for a request's Idempotency-Key, or a 422 problem."""
    if not ID_PATTERN.fullmatch(key):
        raise ProblemError(
            422,
            "idempotency_key_invalid",
            "Idempotency-Key: 1 to 64 of A-Z a-z 0-9 . _ : - starting with a letter or digit.",
        )
    return key


def key_reused(
    detail: str = "This Idempotency-Key was used for a different request.",
) -> ProblemError:
    """The one answer to a key sent again with a different request, wherever it is found."""
    return ProblemError(422, "idempotency_key_reused", detail)


def scoped_key(credential_id: str, key: str) -> str:
    """A request's Idempotency-Key scoped to the credential that sent it: 32 hex digits.

    Keys belong to the credential that sent them (as Stripe scopes keys to an
    account): two callers choosing the same key never touch each other's
    entries, and a retry from the same credential finds the same entry. The
    scoped key is ``ledger.ids.key_of_legacy_id`` of ``legacy_entry_id``: the
    SHA-256 of the legacy id, after the key's millisecond when the key is a
    UUIDv7 (so those keys land at the end of the ledger's key map, and a random
    key anywhere in it). A journal written before keys were mapped, whose
    entries bear ``legacy_entry_id`` as their id, can so be mapped by the ledger
    migration. ``key`` must pass ``draft_id``.
    """
    return key_of_legacy_id(legacy_entry_id(credential_id, key))


def legacy_entry_id(credential_id: str, key: str) -> str:
    """The id the API gave an entry before keys were mapped: ``<key>:<tag>``, the tag 12
    hex digits of the credential's SHA-256, or for a key too long for that ``k`` and 32
    hex digits of a hash of the credential and the key."""
    draft_id(key)
    tag = _tag(credential_id)
    if len(key) + 1 + ENTRY_ID_TAG_DIGITS <= ledger_limits.ENTRY_ID_LENGTH_MAX:
        return f"{key}:{tag}"
    return "k" + hashlib.sha256(f"{credential_id}\0{key}".encode()).hexdigest()[:32]


@functools.lru_cache(maxsize=limits.CREDENTIAL_TAGS_CACHED_MAX)
def _tag(credential_id: str) -> str:
    return hashlib.sha256(credential_id.encode()).hexdigest()[:ENTRY_ID_TAG_DIGITS]


def fingerprint(route: str, person_id: str, payload: object) -> str:
    digest = hashlib.sha256(f"{route}\0{person_id}\0".encode())
    digest.update(msgspec.json.encode(payload))
    return digest.hexdigest()


def _key_hash(scope: str, key: str) -> str:
    return hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()


def _aead(scope: str, key: str) -> AESGCM:
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=scope.encode(), info=b"buurtmunt replay v1"
    )
    return AESGCM(hkdf.derive(key.encode()))


def seal(scope: str, key: str, body: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + _aead(scope, key).encrypt(nonce, body, None)


def unseal(scope: str, key: str, sealed: bytes) -> bytes:
    return _aead(scope, key).decrypt(sealed[:12], sealed[12:], None)


async def once(
    db: Database,
    *,
    scope: str,
    key: str,
    fingerprint: str,
    now: Callable[[], int],
    make_plan: Callable[[], Plan],
    out_type: type[T],
    work: Callable[[Plan], Awaitable[tuple[int, T]]],
) -> tuple[int, T]:
    """Run ``work`` once per (scope, key); return its (status, response) every time.

    ``fingerprint`` identifies the request (route, caller, body): the same key with
    another fingerprint is refused. A plan's ``person`` names whose personal data
    the response may carry, so that erasing that person drops it.
    """
    draft_id(key)
    key_hash = _key_hash(scope, key)
    plan = await _claim(db, scope, key, key_hash, fingerprint, now, make_plan)
    if isinstance(plan, tuple):
        status, body = plan
        return status, msgspec.json.decode(body, type=out_type)
    try:
        status, response = await work(plan)
    except ProblemError:
        # Refused before anything was created: free the key for a corrected retry.
        async with db.write() as session:
            row = await session.get(IdempotentResponseRow, (scope, key_hash))
            if row is not None and row.state == _PENDING:
                await session.delete(row)
        raise
    body = msgspec.json.encode(response)
    assert len(body) <= limits.IDEMPOTENT_RESPONSE_BYTES_MAX, "responses worth replaying are small"
    async with db.write() as session:
        row = await session.get(IdempotentResponseRow, (scope, key_hash))
        if row is not None:
            row.state, row.status_code, row.sealed = _DONE, status, seal(scope, key, body)
            session.add(row)
    return status, response


async def _claim(
    db: Database,
    scope: str,
    key: str,
    key_hash: str,
    fingerprint: str,
    now: Callable[[], int],
    make_plan: Callable[[], Plan],
) -> Plan | tuple[int, bytes]:
    """A plan to carry out, or the stored (status, body) of an earlier request."""
    deadline = asyncio.get_running_loop().time() + limits.IDEMPOTENCY_WAIT_SECONDS
    while True:
        async with db.read() as session:
            row = await session.get(IdempotentResponseRow, (scope, key_hash))
        if row is None:
            plan = make_plan()
            try:
                async with db.write() as session:
                    session.add(
                        IdempotentResponseRow(
                            scope=scope, key_hash=key_hash, fingerprint=fingerprint,
                            state=_PENDING, plan=json.dumps(plan), person_id=plan.get("person"),
                            created_at=now(),
                        )
                    )  # fmt: skip
                return plan
            except IntegrityError:
                continue  # someone claimed it first: read their row
        if row.fingerprint != fingerprint:
            raise key_reused()
        if row.state == _DONE and row.sealed is not None and row.status_code is not None:
            return row.status_code, unseal(scope, key, row.sealed)
        if now() - row.created_at > limits.IDEMPOTENCY_STALE_SECONDS:
            stored: Plan = json.loads(row.plan)
            return stored
        if asyncio.get_running_loop().time() > deadline:
            raise ProblemError(
                409,
                "idempotency_key_in_use",
                "A request with this Idempotency-Key is still being processed.",
                headers={"Retry-After": "1"},
                retry_after_seconds=1,
            )
        await asyncio.sleep(_POLL_SECONDS)


async def forget_person(db: Database, person_id: str) -> None:
    """Drop stored responses about ``person_id`` (they may hold personal data)."""
    async with db.write() as session:
        await session.exec(
            delete(IdempotentResponseRow).where(col(IdempotentResponseRow.person_id) == person_id)
        )
