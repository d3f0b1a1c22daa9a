"""Payment requests in the database, on the hot path: raw statements, grouped commits.

Paying is as frequent as transferring, so its statements skip the ORM (through
an ORM session each costs milliseconds) and run on the store's fast
connections (``SqlStore.run``). Every change of status is one conditional
``UPDATE … RETURNING``: it either finds the request in the state it expects and
changes it, or changes nothing, so two processes can never both win a claim.

Changes are committed in groups, like the journal's entries: whatever callers
are waiting when the previous group commits go into the next transaction
together. The change to ``paid`` is no such group's: the journal's batch that
writes the paying entry makes it, in its own transaction (``mark_paid``, the
store's companion), so the request is paid exactly when its entry is durable.
On PostgreSQL each change is announced with ``pg_notify`` inside the
transaction that makes it (``api.events``); on SQLite a change wakes this
process's streams once it is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api import limits
from api.events import CHANNEL, PaymentSignals
from ledger.model import Entry, EntryKind
from ledger.sql.engine import sqlite_chunks
from ledger.sql.journal import Db, native
from ledger.sql.store import SqlStore

OPEN, PAYING, PAID, CANCELLED, EXPIRED = "open", "paying", "paid", "cancelled", "expired"
# Changes committed together at most (a group is one transaction).
GROUP_SIZE_MAX = 1_024

_COLUMNS = (
    "id, community, payee, payee_type, amount_minutes, memo, status, created_by, "
    "credential_id, created_at, expires_at, attempt, payer, claimed_at, entry_id, "
    "paid_minutes, decided_at"
)
SELECT_REQUEST = f"SELECT {_COLUMNS} FROM payment_requests WHERE id = ?"
SELECT_NAMED = "SELECT name FROM named_accounts WHERE community = ? AND account_id = ?"
SELECT_MEMBER = (
    "SELECT p.name, p.erased_at FROM roles r JOIN people p ON p.id = r.person_id "
    "WHERE r.community = ? AND r.role = 'member' AND r.scope = ?"
)
# A payer takes an open request of their community in one statement, checking in
# it what reading first would check: not expired, not their own, the amount
# theirs to choose (a "pay me" without one) or absent or the same. It returns
# the request as claimed; no row means "look closer" (``pay`` reads and explains).
CLAIM_OPEN = (
    "UPDATE payment_requests SET status = 'paying', attempt = attempt + 1, payer = ?, "
    "entry_id = ?, claimed_at = ?, paid_minutes = COALESCE(amount_minutes, CAST(? AS BIGINT)) "
    "WHERE id = ? AND community = ? AND status = 'open' AND expires_at > ? AND payee <> ? "
    "AND (amount_minutes IS NULL AND CAST(? AS BIGINT) IS NOT NULL "
    "OR amount_minutes IS NOT NULL AND (CAST(? AS BIGINT) IS NULL "
    "OR amount_minutes = CAST(? AS BIGINT))) "
    f"RETURNING {_COLUMNS}"
)
# The requests a batch of entries pays: (id, entry id, paid at). A request is paid
# by the entry whose id its claim reserved.
SQLITE_MARK_PAID = (
    "UPDATE payment_requests SET status = 'paid', decided_at = v.column3 "
    "FROM (VALUES {values}) AS v WHERE payment_requests.id = v.column1 "
    "AND payment_requests.community = ? AND payment_requests.status = 'paying' "
    "AND payment_requests.entry_id = v.column2"
)
PG_MARK_PAID = (
    "WITH paid AS (UPDATE payment_requests AS r SET status = 'paid', decided_at = v.paid_at "
    "FROM unnest($2::text[], $3::text[], $4::bigint[]) AS v(id, entry_id, paid_at) "
    "WHERE r.id = v.id AND r.community = $1 AND r.status = 'paying' "
    "AND r.entry_id = v.entry_id RETURNING r.id) "
    "SELECT pg_notify($5, id) FROM paid"
)
RELEASE = (
    "UPDATE payment_requests SET status = 'open', payer = NULL, entry_id = NULL, "
    "claimed_at = NULL, paid_minutes = NULL WHERE id = ? AND status = 'paying' AND attempt = ? "
    "RETURNING attempt"
)
CANCEL = (
    "UPDATE payment_requests SET status = 'cancelled', decided_at = ? "
    "WHERE id = ? AND status = 'open' AND expires_at > ? RETURNING attempt"
)
EXPIRE = (
    "UPDATE payment_requests SET status = 'expired', decided_at = expires_at "
    "WHERE id = ? AND status = 'open' AND expires_at <= ? RETURNING attempt"
)
NOTIFY = "SELECT pg_notify(?, ?)"


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """A payment request as stored (see ``api.tables.PaymentRequestRow``)."""

    id: str
    community: str
    payee: str
    payee_type: str
    amount_minutes: int | None
    memo: str
    status: str
    created_by: str
    credential_id: str
    created_at: int
    expires_at: int
    attempt: int
    payer: str | None
    claimed_at: int | None
    entry_id: str | None
    paid_minutes: int | None
    decided_at: int | None

    def status_at(self, now: int) -> str:
        """The status at ``now``: an open request past its time has expired."""
        if self.status == OPEN and self.expires_at <= now:
            return EXPIRED
        return self.status


@dataclass(frozen=True, slots=True)
class RequestRead:
    """A request and the names that go with it; a name is None when erased or unknown."""

    request: PaymentRequest
    payee_name: str | None
    payer_name: str | None


_PAYING_KINDS = frozenset({EntryKind.REDEEM, EntryKind.TRANSFER})


def paid_request(entry: Entry) -> str | None:
    """The request ``entry`` may pay (the one its reference names), or None if it pays
    none; it pays it if its id is the one the request's claim reserved."""
    reference = entry.draft.reference
    if not reference or entry.kind not in _PAYING_KINDS:
        return None
    return reference


def paid_seconds(entry: Entry) -> int:
    """When a request paid by ``entry`` was paid: the entry's time, in whole seconds."""
    return int(datetime.fromisoformat(entry.time).timestamp())


def mark_paid(db: Db, community: str, entries: Sequence[Entry]) -> None:
    """Mark paid the requests whose claims reserved the ids of ``entries`` (the journal's
    companion: inside the transaction that writes them). A request that is no
    longer claimed for that id is left as it is; on PostgreSQL each request
    marked is announced."""
    paid = []
    for entry in entries:
        request_id = paid_request(entry)
        if request_id is not None:
            paid.append((request_id, entry.id, paid_seconds(entry)))
    if not paid:
        return
    if db.postgres:
        columns = [list(column) for column in zip(*paid, strict=True)]
        db.rows(PG_MARK_PAID, (community, *columns, CHANNEL))
        return
    # One statement, not one per request (see ``SqliteDb.many``).
    for chunk, slots in sqlite_chunks(paid, 3, spare=1):
        values = ", ".join(["(?, ?, ?)"] * slots)
        padding = [None] * (3 * (slots - len(chunk)))  # matches no request
        params = [*(x for row in chunk for x in row), *padding, community]
        db.execute(SQLITE_MARK_PAID.format(values=values), params)


def _name(name: Any, erased_at: Any) -> str | None:
    return None if name is None or erased_at is not None else str(name)


def request_from_row(row: Sequence[Any]) -> PaymentRequest:
    fields = list(row)
    for index in (4, 9, 10, 11, 13, 15, 16):  # integers that PostgreSQL may hand back as such
        fields[index] = None if fields[index] is None else int(fields[index])
    return PaymentRequest(*fields)


def _member_name(db: Db, community: str, account: str) -> str | None:
    rows = db.rows(native(db, SELECT_MEMBER), (community, account))
    return _name(rows[0][0], rows[0][1]) if rows else None


def _account_name(db: Db, community: str, account: str) -> tuple[str | None, bool]:
    named = db.rows(native(db, SELECT_NAMED), (community, account))
    if named:
        return str(named[0][0]), True
    return _member_name(db, community, account), False


def _read(
    db: Db, request_id: str, known_names: Mapping[str, str]
) -> tuple[RequestRead, bool] | None:
    """The request and its names, in one trip; whether the payee's is a public name
    (an organisation's or shop's, which never changes and may be kept)."""
    rows = db.rows(native(db, SELECT_REQUEST), (request_id,))
    if not rows:
        return None
    request = request_from_row(rows[0])
    payee_name = known_names.get(request.payee)
    public = payee_name is not None
    if payee_name is None:
        named = db.rows(native(db, SELECT_NAMED), (request.community, request.payee))
        public = bool(named)
        payee_name = (
            str(named[0][0]) if named else _member_name(db, request.community, request.payee)
        )
    payer_name = (
        None if request.payer is None else _member_name(db, request.community, request.payer)
    )
    return RequestRead(request, payee_name, payer_name), public


# Changes a till hears of among the grouped ones: a request cancelled or expired.
# A claim (or a claim given up) changes nothing a till shows, so it wakes no
# stream; a payment is announced by ``mark_paid``.
ANNOUNCED = frozenset({CANCEL, EXPIRE})

Statement = tuple[str, tuple[Any, ...], str]  # SQL, parameters, the request it changes


def _apply(db: Db, statements: list[Statement]) -> list[list[Sequence[Any]]]:
    """Each conditional update in turn; announce the requests that changed (PostgreSQL)."""
    results = [db.rows(native(db, sql), params) for sql, params, _ in statements]
    if db.postgres:
        announced = {
            request_id
            for (sql, _, request_id), rows in zip(statements, results, strict=True)
            if rows and sql in ANNOUNCED
        }
        for request_id in sorted(announced):
            db.rows(native(db, NOTIFY), (CHANNEL, request_id))
    return results


class PaymentStore:
    """Reads of payment requests, and their changes of status in grouped commits."""

    def __init__(self, store: SqlStore, signals: PaymentSignals) -> None:
        self._store = store
        self._signals = signals
        store.also_write(mark_paid)
        # On PostgreSQL this process hears its own notices like everyone else's.
        self._wake_here = store.engine.dialect.name == "sqlite"
        self._waiting: list[tuple[Statement, asyncio.Future[list[Sequence[Any]]]]] = []
        self._draining: asyncio.Task[None] | None = None
        # Shops' and organisations' names ("<community>/<account>"): public, and
        # written once, so a till's name costs no read per payment.
        self._public_names: dict[str, str] = {}

    async def claim(
        self,
        request_id: str,
        community: str,
        payer: str,
        amount_minutes: int | None,
        now: int,
        entry_id: str,
    ) -> PaymentRequest | None:
        """Take an open request for ``payer`` (``CLAIM_OPEN``), reserving ``entry_id`` for
        the entry that pays it: as claimed, or None."""
        amount = amount_minutes
        params = (
            payer, entry_id, now, amount, request_id, community, now, payer, amount, amount,
            amount,
        )  # fmt: skip
        row = await self.change(CLAIM_OPEN, params, request_id)
        return request_from_row(row) if row else None

    async def name_of(self, community: str, account: str) -> str | None:
        """An account's display name: a shop's or organisation's (kept), or a member's."""
        known = self._public_names.get(f"{community}/{account}")
        if known is not None:
            return known
        name, public = await self._store.run(False, _account_name, community, account)
        if public and name is not None:
            self._remember(community, account, name)
        return name

    def _remember(self, community: str, account: str, name: str) -> None:
        if len(self._public_names) >= limits.PUBLIC_NAMES_MAX:
            self._public_names.clear()
        self._public_names[f"{community}/{account}"] = name

    async def read(self, request_id: str) -> RequestRead | None:
        """The request, with the payee's and (once someone paid) the payer's names."""
        found = await self._store.run(False, _read, request_id, self._public_names)
        if found is None:
            return None
        read, public = found
        if public and read.payee_name is not None:
            self._remember(read.request.community, read.request.payee, read.payee_name)
        return read

    async def record_paid(self, entry: Entry) -> None:
        """Mark paid the request whose claim reserved the id of ``entry`` (already in the
        journal), if it is not yet: for a claim whose booking was never acknowledged."""
        await self._store.run(True, mark_paid, entry.community, [entry])
        request_id = paid_request(entry)
        if request_id is not None and self._wake_here:
            self._signals.wake(request_id)

    async def change(self, sql: str, params: tuple[Any, ...], request_id: str) -> list[Any]:
        """Run one conditional ``UPDATE … RETURNING`` in the next group; its returned row
        (empty when the request was not in the state it expects)."""
        rows = await asyncio.shield(self._enqueue(sql, params, request_id))
        return list(rows[0]) if rows else []

    def _enqueue(
        self, sql: str, params: tuple[Any, ...], request_id: str
    ) -> asyncio.Future[list[Sequence[Any]]]:
        future: asyncio.Future[list[Sequence[Any]]] = asyncio.get_running_loop().create_future()
        self._waiting.append(((sql, params, request_id), future))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.get_running_loop().create_task(self._drain())
        return future

    async def _drain(self) -> None:
        while self._waiting:
            group = self._waiting[:GROUP_SIZE_MAX]
            del self._waiting[:GROUP_SIZE_MAX]
            statements = [statement for statement, _ in group]
            try:
                results = await self._store.run(True, _apply, statements)
            except Exception as error:  # noqa: BLE001 - each caller re-raises it
                for _, future in group:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (statement, future), rows in zip(group, results, strict=True):
                if rows and self._wake_here and statement[0] in ANNOUNCED:
                    self._signals.wake(statement[2])
                if not future.done():
                    future.set_result(rows)

    async def close(self) -> None:
        if self._draining is not None:
            with contextlib.suppress(Exception):
                await self._draining
