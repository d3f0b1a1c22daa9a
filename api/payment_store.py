"""Payment requests in the database, on the hot path: raw statements, grouped commits.

Paying is as frequent as transferring, so its statements skip the ORM (through
an ORM session each costs milliseconds) and run on the store's fast
connections (``SqlStore.run``). Every change of status is one conditional
``UPDATE``: it either finds the request in the state it expects and changes
it, or changes nothing, so two processes can never both win it.

A request is paid by the journal batch that writes the paying entry, in that
batch's own transaction (``pay_requests``, the store's companion): the request
must still be open, not expired, and asked of this payee for this amount, or
the store refuses the entry and nothing of it is written. So a pay is one
commit, and the request is paid exactly when its entry is durable. Cancelling
and expiring are committed in groups, like the journal's entries: whatever
callers are waiting when the previous group commits go into the next
transaction together. On PostgreSQL each change is announced with
``pg_notify`` inside the transaction that makes it (``api.events``); on SQLite
a change wakes this process's streams once it is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
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
# The requests a batch's entries pay, each (id, entry id, paid at, payee, payer,
# minutes): an open request, not expired at the entry's time, of that payee,
# not the payer's own, for its amount (or any, for a "pay me" without one). It
# returns the ids of the entries that paid; when two entries pay one request,
# one of them does. Bounded by the batch (``ledger.limits.BATCH_SIZE_MAX``).
SQLITE_PAY = (
    "UPDATE payment_requests SET status = 'paid', attempt = attempt + 1, payer = v.column5, "
    "entry_id = v.column2, claimed_at = v.column3, decided_at = v.column3, "
    "paid_minutes = v.column6 FROM (VALUES {values}) AS v "
    "WHERE payment_requests.id = v.column1 AND payment_requests.community = ? "
    "AND payment_requests.status = 'open' AND payment_requests.expires_at > v.column3 "
    "AND payment_requests.payee = v.column4 AND payment_requests.payee <> v.column5 "
    "AND (payment_requests.amount_minutes IS NULL "
    "OR payment_requests.amount_minutes = v.column6) "
    "RETURNING entry_id"
)
PG_PAY = (
    "WITH paid AS (UPDATE payment_requests AS r SET status = 'paid', attempt = r.attempt + 1, "
    "payer = v.payer, entry_id = v.entry_id, claimed_at = v.paid_at, decided_at = v.paid_at, "
    "paid_minutes = v.minutes "
    "FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[]) "
    "AS v(id, entry_id, paid_at, payee, payer, minutes) "
    "WHERE r.id = v.id AND r.community = $1 AND r.status = 'open' AND r.expires_at > v.paid_at "
    "AND r.payee = v.payee AND r.payee <> v.payer "
    "AND (r.amount_minutes IS NULL OR r.amount_minutes = v.minutes) "
    "RETURNING r.id, r.entry_id) "
    "SELECT entry_id, pg_notify($8, id) FROM paid"
)
# A request left claimed ('paying', its entry's id reserved) is paid by the entry
# with that id: (id, entry id, paid at).
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
# A payment request's id (``payment_requests.new_request_id``); a pay code's or a
# card's reference (``code:…``, ``card:…``) is no such id.
_REQUEST_ID = re.compile(r"[A-Z2-7]{26}")


def paid_request(entry: Entry) -> str | None:
    """The request ``entry`` pays (the one its reference names), or None if it pays none."""
    reference = entry.draft.reference
    if entry.kind not in _PAYING_KINDS or not _REQUEST_ID.fullmatch(reference):
        return None
    return reference


def paid_seconds(entry: Entry) -> int:
    """When a request paid by ``entry`` was paid: the entry's time, in whole seconds."""
    return int(datetime.fromisoformat(entry.time).timestamp())


def paid_time(entry: Entry) -> str:
    """``paid_seconds(entry)`` as RFC 3339 (``schemas.common.rfc3339``), cut from the
    entry's time (``ledger.clock.format_time``: UTC, to the microsecond)."""
    return entry.time[:19] + "Z"


def pay_requests(db: Db, community: str, entries: Sequence[Entry]) -> set[str]:
    """Mark paid the requests ``entries`` pay (the store's companion: inside the batch's
    transaction, after its entries are written); the ids of the entries that
    cannot pay theirs (it is no longer open, or not asked of them), which the
    store then refuses. On PostgreSQL each request paid is announced."""
    paying = []
    for entry in entries:
        request_id = paid_request(entry)
        if request_id is not None:
            posting = entry.draft.postings[0]
            paying.append(
                (request_id, entry.id, paid_seconds(entry), posting.payee, posting.payer,
                 posting.amount_minutes)
            )  # fmt: skip
    if not paying:
        return set()
    if db.postgres:
        columns = [list(column) for column in zip(*paying, strict=True)]
        rows = db.rows(PG_PAY, (community, *columns, CHANNEL))
        return {row[1] for row in paying} - {str(row[0]) for row in rows}
    paid: set[str] = set()
    # One statement, not one per request (see ``SqliteDb.many``).
    for chunk, slots in sqlite_chunks(paying, 6, spare=1):
        values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * slots)
        padding = [None] * (6 * (slots - len(chunk)))  # matches no request
        params = [*(x for row in chunk for x in row), *padding, community]
        paid.update(str(row[0]) for row in db.rows(SQLITE_PAY.format(values=values), params))
    return {row[1] for row in paying} - paid


def mark_paid(db: Db, community: str, entries: Sequence[Entry]) -> None:
    """Mark paid the requests left claimed for the ids of ``entries`` (already in the
    journal); a request no longer claimed for that id is left as it is. On
    PostgreSQL each request marked is announced."""
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
# Giving up a claim changes nothing a till shows, so it wakes no stream; a
# payment is announced by ``pay_requests``.
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
        store.also_write(pay_requests)
        # On PostgreSQL this process hears its own notices like everyone else's.
        self._wake_here = store.engine.dialect.name == "sqlite"
        self._waiting: list[tuple[Statement, asyncio.Future[list[Sequence[Any]]]]] = []
        self._draining: asyncio.Task[None] | None = None
        # Shops' and organisations' names ("<community>/<account>"): public, and
        # written once, so a till's name costs no read per payment.
        self._public_names: dict[str, str] = {}
        # Requests as read, for their terms (community, payee, amount, memo,
        # expiry), which never change: a pay needs no read of its request.
        self._terms: dict[str, PaymentRequest] = {}

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
        if len(self._terms) >= limits.PAYMENT_REQUEST_TERMS_MAX:
            self._terms.clear()
        self._terms[request_id] = read.request
        return read

    async def terms(self, request_id: str) -> PaymentRequest | None:
        """The request as this process last read it (or now, if never): only its terms,
        which never change, are current; its status may not be."""
        known = self._terms.get(request_id)
        if known is not None:
            return known
        found = await self.read(request_id)
        return None if found is None else found.request

    async def record_paid(self, entry: Entry) -> None:
        """Mark paid the request left claimed for the id of ``entry`` (already in the
        journal), if it is not yet."""
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
