"""Payment requests: a shop's till asks a member to pay, or a member asks a neighbour.

A request is single-use and expires. Its status moves::

    open --paid--> paid (in the paying entry's own transaction)
    open --cancel--> cancelled        open --(time)--> expired

Paying is exactly once under any concurrency because the journal batch that
writes the paying entry marks the request paid in its own transaction, only if
it is still open and not expired (``payment_store.pay_requests``, the store's
companion); otherwise the store refuses the entry and nothing of it is written
(``ledger.store.Refused``). Each attempt books an entry under a fresh
time-ordered id (``ledger.ids``): a refused or rejected attempt burns only its
own id, and a payer who asks again after their own attempt succeeded is
answered with that payment.

A request may also be ``paying``: claimed, with its entry's id reserved, by a
pay that had not finished when its process stopped. After
``PAYMENT_CLAIM_STALE_SECONDS`` such a claim is settled by asking the ledger
whether the entry with the reserved id exists.

Every change of status is announced to the request's event streams
(``api.events``), inside the transaction that makes it on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from api import drafts, limits
from api.access import Principal, Role
from api.directory import ERASED_NAME
from api.idempotency import Plan, fingerprint, once, scoped_key
from api.payment_store import (
    CANCEL,
    CANCELLED,
    EXPIRE,
    EXPIRED,
    OPEN,
    PAID,
    PAYING,
    RELEASE,
    PaymentRequest,
    RequestRead,
    paid_time,
)
from api.problems import ProblemError, conflict, forbidden, from_rejection, invalid, not_found
from api.qr import payment_url
from api.runtime import Runtime
from api.schemas.common import rfc3339, text_ok
from api.schemas.ledger import receipt_url
from api.tables import PaymentRequestRow
from ledger.ids import new_entry_id
from ledger.model import AccountType, Draft, Entry, Rejected
from ledger.store import Refused

__all__ = ["CANCELLED", "EXPIRED", "OPEN", "PAID", "PAYING"]
TERMINAL = frozenset({PAID, CANCELLED, EXPIRED})
# The events that end a stream: a request's final status.
FINAL_EVENTS = TERMINAL
_WAIT_POLL_SECONDS = 0.02


def new_request_id() -> str:
    """128 random bits as 26 upper-case base32 characters (the QR stays alphanumeric)."""
    return base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=")


@dataclass(frozen=True, slots=True)
class RequestView:
    """A request as someone sees it: the request, its status now, and the names."""

    request: PaymentRequest
    status: str
    payee_name: str
    pay_url: str
    # Whether the caller is the payee's side (shop staff of that shop, or the member
    # who asked to be paid): they see the whole record.
    is_payee: bool
    payer_name: str | None = None


@dataclass(frozen=True, slots=True)
class Payment:
    """A paid request and the entry that paid it (of the request, only its terms and
    id are current: the status may be as it was read before the payment)."""

    request: PaymentRequest
    entry: Entry
    payer_name: str
    payee_name: str


def _is_payee(principal: Principal, request: PaymentRequest) -> bool:
    if request.payee_type == AccountType.SHOP.value:
        return request.payee in principal.shops
    return principal.has(Role.MEMBER) and principal.member_account == request.payee


async def _load(rt: Runtime, community: str | None, request_id: str) -> RequestRead:
    """The request, or 404 for an unknown id or one of another community (the same answer)."""
    found = await rt.requests.read(request_id)
    if found is None or community is None or found.request.community != community:
        raise not_found("payment_request_not_found", "No such payment request.")
    return found


async def view(rt: Runtime, principal: Principal, request_id: str) -> RequestView:
    found = await _load(rt, principal.community, request_id)
    request = found.request
    is_payee = _is_payee(principal, request)
    payer_name = (found.payer_name or ERASED_NAME) if is_payee and request.payer else None
    return RequestView(
        request=request,
        status=request.status_at(rt.now_seconds()),
        payee_name=found.payee_name or ERASED_NAME,
        pay_url=payment_url(rt.settings.public_url, request.id),
        is_payee=is_payee,
        payer_name=payer_name,
    )


async def payment_of_caller(rt: Runtime, principal: Principal, request_id: str) -> Payment | None:
    """The caller's payment of the request, if the caller paid it (a paid code opened again
    by its payer); None otherwise."""
    found = await _load(rt, principal.community, request_id)
    request = found.request
    payer = principal.member_account
    if payer is None or request.status != PAID or request.payer != payer:
        return None
    return await _payment(rt, found)


# -- creating ---------------------------------------------------------------------------


def _payee_of(principal: Principal, shop: str | None) -> tuple[str, AccountType]:
    """Whom the caller asks money for: the shop named (or their only shop), else themself."""
    if shop is not None:
        if shop not in principal.shops:
            raise forbidden("not_your_shop", "You take payments for other shops.")
        return shop, AccountType.SHOP
    if principal.member_account is not None and principal.has(Role.MEMBER):
        return principal.member_account, AccountType.MEMBER
    if len(principal.shops) == 1:
        return next(iter(principal.shops)), AccountType.SHOP
    if principal.shops:
        raise invalid("shop_required", "Say for which shop you take this payment.")
    raise forbidden("member_account_required", "Only members and shops ask to be paid.")


async def _transfers_allowed(rt: Runtime, community: str) -> bool:
    return (await rt.store.settings(community)).members_may_transfer


async def create(
    rt: Runtime,
    principal: Principal,
    *,
    key: str,
    amount_minutes: int | None,
    memo: str,
    shop: str | None,
) -> PaymentRequest:
    """A new open request (a retry with the same Idempotency-Key gets the same one)."""
    community = principal.community
    if community is None:
        raise forbidden("community_required", "This needs a community role.")
    payee, payee_type = _payee_of(principal, shop)
    # Checked here, not first when paid: the memo becomes the payment entry's.
    if not text_ok(memo):
        raise invalid("text_invalid", "The memo must be printable text.")
    if payee_type is AccountType.SHOP and amount_minutes is None:
        raise invalid("amount_required", "A shop's payment request names the amount.")
    if payee_type is AccountType.MEMBER and not await _transfers_allowed(rt, community):
        raise forbidden("transfers_between_members_disabled")
    request_print = fingerprint(
        "payment_requests.create", principal.credential_id, [payee, amount_minutes, memo]
    )

    async def work(plan: Plan) -> tuple[int, str]:
        now = rt.now_seconds()
        row = PaymentRequestRow(
            id=plan["request"], community=community, payee=payee, payee_type=payee_type.value,
            amount_minutes=amount_minutes, memo=memo, status=OPEN,
            created_by=principal.staff_id or payee, credential_id=principal.credential_id,
            created_at=now, expires_at=now + rt.settings.payment_request_seconds,
        )  # fmt: skip
        async with rt.db.write() as session:
            session.add(row)
        return 201, row.id

    _, request_id = await once(
        rt.db, scope="payment_requests.create", key=scoped_key(principal.credential_id, key),
        fingerprint=request_print, now=rt.now_seconds,
        make_plan=lambda: {"request": new_request_id()}, out_type=str, work=work,
    )  # fmt: skip
    return (await _load(rt, community, request_id)).request


# -- cancelling and expiring ------------------------------------------------------------


async def cancel(rt: Runtime, principal: Principal, request_id: str) -> RequestView:
    """The payee's side withdraws an open request; a paid one stays paid."""
    request = (await _load(rt, principal.community, request_id)).request
    if not _is_payee(principal, request):
        raise forbidden("not_your_payment_request", "Only who asked to be paid may cancel.")
    now = rt.now_seconds()
    await _expire_if_due(rt, request, now)
    if not await rt.requests.change(CANCEL, (now, request.id, now), request.id):
        current = (await _load(rt, principal.community, request_id)).request
        if current.status != CANCELLED:
            raise state_problem(current, now)
    return await view(rt, principal, request_id)


async def _expire_if_due(rt: Runtime, request: PaymentRequest, now: int) -> None:
    if request.status == OPEN and request.expires_at <= now:
        await rt.requests.change(EXPIRE, (request.id, now), request.id)


def state_problem(request: PaymentRequest, now: int) -> ProblemError:
    """Why ``request`` cannot be paid now, as a problem."""
    status = request.status_at(now)
    if status == PAID:
        return conflict("payment_request_paid", "This payment request has been paid.")
    if status == CANCELLED:
        return conflict("payment_request_cancelled", "The shop cancelled this payment request.")
    if status == EXPIRED:
        return ProblemError(410, "payment_request_expired", "This payment request has expired.")
    return _in_progress()


def _in_progress() -> ProblemError:
    return conflict(
        "payment_request_in_progress",
        "Someone is paying this request right now.",
        headers={"Retry-After": "1"},
        retry_after_seconds=1,
    )


# -- paying -----------------------------------------------------------------------------


def _amount(request: PaymentRequest, amount_minutes: int | None) -> int:
    if request.amount_minutes is None:
        if amount_minutes is None:
            raise invalid("amount_required", "Say how much you give.")
        return amount_minutes
    if amount_minutes is not None and amount_minutes != request.amount_minutes:
        raise invalid(
            "amount_does_not_match",
            "The amount differs from the payment request's.",
            amount_minutes=request.amount_minutes,
        )
    return request.amount_minutes


def _draft(request: PaymentRequest, payer: str, minutes: int) -> Draft:
    """The entry that pays ``request``, under a fresh id."""
    if request.payee_type == AccountType.SHOP.value:
        return drafts.redeem(
            new_entry_id(), payer, payer, request.payee, minutes, request.memo, request.id
        )
    return drafts.transfer(new_entry_id(), payer, request.payee, minutes, request.memo, request.id)


async def pay(
    rt: Runtime, principal: Principal, request_id: str, amount_minutes: int | None
) -> Payment:
    """Pay the request from the caller's member account, exactly once.

    The same payer asking again (a retry, a double tap) gets the same payment;
    anyone else gets the request's state as a problem, and nothing moves.
    """
    payer, community = principal.member_account, principal.community
    if payer is None or community is None or not principal.has(Role.MEMBER):
        raise forbidden("member_account_required", "Only members pay.")
    rt.payments.take(principal.credential_id)
    # Most pays find the request open: book its entry at once, on its terms as
    # known, and let the batch's transaction check that it is still open.
    terms = await rt.requests.terms(request_id)
    if terms is None or terms.community != community:
        raise not_found("payment_request_not_found", "No such payment request.")
    deadline: float | None = None  # for asking again, from the first time it is needed
    while True:
        if terms.payee == payer or terms.expires_at <= rt.now_seconds():
            paid = await _explain(rt, principal, request_id, payer)  # raises why not
            if paid is not None:
                return paid
        try:
            minutes = _amount(terms, amount_minutes)
        except ProblemError:
            paid = await _explain(rt, principal, request_id, payer)  # a state says more
            if paid is not None:
                return paid
            raise
        try:
            return await _book(rt, principal, terms, payer, minutes)
        except Refused:
            pass  # no longer open: someone paid it, or it was cancelled or expired
        paid = await _explain(rt, principal, request_id, payer)
        if paid is not None:
            return paid
        # Open again (a claim left by a stopped process was given up): once more.
        now = asyncio.get_running_loop().time()
        if deadline is None:
            deadline = now + limits.IDEMPOTENCY_WAIT_SECONDS
        elif now > deadline:
            raise _in_progress()
        await asyncio.sleep(_WAIT_POLL_SECONDS)


async def _explain(
    rt: Runtime, principal: Principal, request_id: str, payer: str
) -> Payment | None:
    """Why the request cannot be paid now, as a problem raised; its payment, if the
    caller paid it already; None if it is open after all."""
    deadline = asyncio.get_running_loop().time() + limits.IDEMPOTENCY_WAIT_SECONDS
    while True:
        now = rt.now_seconds()
        found = await _settle_if_stale(rt, await _load(rt, principal.community, request_id), now)
        request = found.request
        if request.status == PAID and request.payer == payer:
            return await _payment(rt, found)
        if request.status != PAYING:
            _check_payable(request, payer, now)
            return None
        # Claimed by a pay whose process stopped: settled once the claim is stale.
        if asyncio.get_running_loop().time() > deadline:
            raise state_problem(request, now)
        await asyncio.sleep(_WAIT_POLL_SECONDS)


def _check_payable(request: PaymentRequest, payer: str, now: int) -> None:
    if request.status_at(now) != OPEN:
        raise state_problem(request, now)
    if request.payee == payer:
        raise invalid("payer_must_differ_from_payee", "You cannot pay yourself.")


async def _book(
    rt: Runtime, principal: Principal, request: PaymentRequest, payer: str, minutes: int
) -> Payment:
    """Book the entry that pays ``request``; raises ``Refused`` if it is no longer open."""
    result = await rt.ledger.append(request.community, _draft(request, payer, minutes))
    if isinstance(result, Rejected):
        rt.payments.failed(principal.credential_id)
        raise from_rejection(result)
    entry, payer_name = result.entry, principal.name or ERASED_NAME
    # The entry is durable, and the transaction that wrote it marked the request
    # paid (``payment_store.pay_requests``), announcing it to other processes'
    # tills: this process's hear it now.
    event = paid_event(request.id, entry.id, payer_name, minutes, paid_time(entry))
    rt.signals.wake(request.id, event)
    payee_name = await rt.requests.name_of(request.community, request.payee) or ERASED_NAME
    return Payment(request, entry, payer_name, payee_name)


async def _settle_claim(rt: Runtime, request: PaymentRequest, attempt: int) -> None:
    """Decide a claim whose booking was not acknowledged, by what the journal holds."""
    # A claim made before ids were reserved holds none: its booking never committed
    # (the booking marks the request paid in its own transaction).
    reserved = request.entry_id
    entry = None if reserved is None else await rt.store.entry_by_id(request.community, reserved)
    if entry is not None:
        await rt.requests.record_paid(entry)
    else:
        await rt.requests.change(RELEASE, (request.id, attempt), request.id)


async def _settle_if_stale(rt: Runtime, found: RequestRead, now: int) -> RequestRead:
    """A claim older than ``PAYMENT_CLAIM_STALE_SECONDS`` is settled by the journal."""
    request = found.request
    claimed = request.claimed_at
    if request.status != PAYING or claimed is None:
        return found
    if now - claimed < limits.PAYMENT_CLAIM_STALE_SECONDS:
        return found
    await _settle_claim(rt, request, request.attempt)
    return await _load(rt, request.community, request.id)


async def _payment(rt: Runtime, found: RequestRead) -> Payment:
    request = found.request
    assert request.status == PAID and request.entry_id is not None, "only a paid request"
    entry = await rt.store.entry_by_id(request.community, request.entry_id)
    assert entry is not None, "a paid request's entry is in the journal"
    return Payment(request, entry, found.payer_name or ERASED_NAME, found.payee_name or ERASED_NAME)


# -- watching ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """What an event stream says: ``paid``, ``cancelled``, ``expired`` or ``heartbeat``."""

    kind: str
    data: dict[str, Any]


async def watch(rt: Runtime, principal: Principal, request_id: str) -> AsyncIterator[Event]:
    """The request's events for its payee's side, ending with its final status.

    Each wake-up (a signal, or the heartbeat) re-reads the request, so a lost
    signal delays an event by one heartbeat at most. An open request's expiry is
    written (and announced) by the first stream that sees the time pass.
    """
    request = (await _load(rt, principal.community, request_id)).request
    if not _is_payee(principal, request):
        raise forbidden("not_your_payment_request", "Only who asked to be paid may watch.")
    if rt.signals.open_streams >= limits.EVENT_STREAMS_MAX:
        raise ProblemError(
            503, "too_many_streams", "Too many open event streams; retry shortly.",
            headers={"Retry-After": "5"}, retry_after_seconds=5,
        )  # fmt: skip
    return _events(rt, request.community, request_id)


async def _events(rt: Runtime, community: str, request_id: str) -> AsyncIterator[Event]:
    heartbeat = rt.settings.event_heartbeat_seconds
    async with rt.signals.watch(request_id) as watch:
        while True:
            watch.clear()
            if isinstance(watch.final, Event):
                yield watch.final
                return
            now = rt.now_seconds()
            found = await _settle_if_stale(rt, await _load(rt, community, request_id), now)
            request = found.request
            if request.status_at(now) == EXPIRED and request.status == OPEN:
                await _expire_if_due(rt, request, now)
                found = await _load(rt, community, request_id)
            if found.request.status_at(now) in TERMINAL:
                yield _final_event(found, now)
                return
            wait = min(heartbeat, max(0.05, float(request.expires_at - now)))
            if not await watch.wait(wait):
                yield Event("heartbeat", {"id": request_id, "status": request.status})


def paid_event(
    request_id: str, entry_id: str, payer_name: str, minutes: int, paid_at: str
) -> Event:
    """The event a till hears when its request is paid (``paid_at``: RFC 3339, whole
    seconds)."""
    return Event(
        PAID,
        {
            "id": request_id,
            "status": PAID,
            "entry_id": entry_id,
            "receipt_url": receipt_url(entry_id),
            "payer_name": payer_name,
            "amount_minutes": minutes,
            "paid_at": paid_at,
        },
    )


def _final_event(found: RequestRead, now: int) -> Event:
    request = found.request
    status = request.status_at(now)
    if status == PAID and request.entry_id is not None:
        assert request.paid_minutes is not None and request.decided_at is not None
        payer_name = found.payer_name or ERASED_NAME
        paid_at = rfc3339(request.decided_at) or ""
        return paid_event(request.id, request.entry_id, payer_name, request.paid_minutes, paid_at)
    return Event(status, {"id": request.id, "status": status})
