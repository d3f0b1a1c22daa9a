"""A shop's money after the till: refunds, settlement by the community, the monthly statement.

The service layer behind ``api.routes.shop_payments`` (and the shop's
``month_minutes`` on its account). It reads what it needs, calls the pure
functions of ``ledger.audit.shop_statement`` and appends through ``api.drafts``; the
ledger checks every entry again and has the final word (a pre-check here only
gives a clearer problem).

- A refund is a ``correct`` entry naming the payment (shop -> member). A payment
  may be refunded in parts, together at most what it paid, within
  ``Settings.refund_window_days``, by the shop that took it.
- A settlement is a ``settle`` entry (shop -> the community's account): the
  municipality pays the shop outside the ledger for the credits retired.
- A statement walks the shop's history newest first, from the newest entry back
  past the month asked for, undoing each entry from the shop's balance, so it
  needs no history before that month.

Every entry a request appends carries the request's scoped key
(``idempotency.scoped_key``): a retry finds the entry again by it and gets the
same answer.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import timedelta

from msgspec import UNSET, UnsetType
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api import drafts, idempotency
from api import limits as api_limits
from api.access import Principal, Role, entry_accounts, may_see_account
from api.directory import ERASED_NAME, account_name, community_row, named_accounts
from api.problems import ProblemError, conflict, forbidden, invalid, not_found
from api.replica import ReadView
from api.runtime import Runtime
from api.schemas.community import ShopOut
from api.schemas.ledger import b64
from api.schemas.shop_payments import RefundIn, RefundOut, SettlementIn, SettlementOut
from api.tables import PersonRow, RoleRow
from ledger import limits
from ledger.audit.shop_statement import (
    CheckpointRef,
    ShopStatement,
    build_shop_statement,
    counterparty,
    month_net_minutes,
    payment_minutes,
)
from ledger.checkpoint import note_origin
from ledger.clock import parse_time
from ledger.ids import new_entry_id
from ledger.model import AccountType, Entry, EntryKind, Rejection
from ledger.store import Needs, Store

_RFC3339 = "%Y-%m-%dT%H:%M:%SZ"


async def account_history(
    store: Store,
    community: str,
    account: str,
    before_seq: int | None,
    done: Callable[[Entry], bool],
    entries_max: int,
) -> list[Entry] | None:
    """The account's entries below ``before_seq``, newest first, up to the first one that
    is ``done`` (not included); None if that takes more than ``entries_max`` entries."""
    found: list[Entry] = []
    before = before_seq
    for _ in range(entries_max // limits.PAGE_SIZE_MAX + 1):
        page = await store.account_entries(community, account, before, limits.PAGE_SIZE_MAX)
        for entry in page:
            if done(entry):
                return found
            if len(found) >= entries_max:
                return None
            found.append(entry)
        if len(page) < limits.PAGE_SIZE_MAX or page[-1].seq == 0:
            return found  # the account's first entry
        before = page[-1].seq
    return None


# -- refunds


async def refund(
    rt: Runtime, principal: Principal, community: str, key: str, data: RefundIn
) -> RefundOut:
    """Book a refund of the payment ``data.entry_id`` by the shop that took it."""
    request_key = idempotency.scoped_key(principal.credential_id, key)
    original = await _payment_to_refund(rt, principal, community, data.entry_id)
    # What is left is read before the key is looked up: a twin of this request that
    # lands in between is then found by its key, not refused as more than is left.
    remaining = await _remaining(rt, original)
    existing = await rt.store.entry_by_key(community, request_key)
    if existing is None:
        _check_window(rt, original)
        amount = _refund_amount(original, remaining, data.amount_minutes)
    else:
        amount = drafts.retry_amount(existing, EntryKind.CORRECT, data.amount_minutes)
    rt.payments.take(principal.credential_id)
    draft = drafts.correct(
        new_entry_id(), principal.staff_actor, original, amount, data.reason, key=request_key
    )
    try:
        entry = await drafts.append(rt.ledger, community, draft)
    except ProblemError as refused:
        if refused.code != Rejection.EXCEEDS_BALANCE.value:
            raise
        # The refund's payer is the shop: its credits were settled (paid out).
        raise invalid(
            "refund_exceeds_shop_balance",
            "The shop holds fewer credits than this refund: credits already settled "
            "(paid out by the municipality) cannot be given back here.",
            balance_minutes=refused.numbers.get("balance_minutes", 0),
            amount_minutes=amount,
        ) from None
    return RefundOut.from_entry(entry, original, await _remaining(rt, original))


async def _remaining(rt: Runtime, original: Entry) -> int:
    """Minutes of the payment ``original`` not refunded yet, by the ledger's own count."""
    remaining = await rt.ledger.remaining_minutes(original.community, (original.seq,))
    assert original.seq in remaining, "the payment is in the journal"
    return remaining[original.seq][0]


async def _payment_to_refund(
    rt: Runtime, principal: Principal, community: str, entry_id: str
) -> Entry:
    """The caller's shop's payment ``entry_id``, or a problem that tells another
    shop nothing about it (the same 404 as for no entry at all)."""
    original = await rt.store.entry_by_id(community, entry_id)
    missing = not_found("entry_not_found", f"Your shop took no payment {entry_id!r}.")
    if original is None:
        raise missing
    if original.kind is EntryKind.REDEEM and original.draft.postings[0].payee in principal.shops:
        return original
    if principal.shops.isdisjoint(entry_accounts(original)):
        raise missing
    raise invalid(
        "not_a_payment",
        "Only a payment to your shop can be refunded.",
        kind=original.kind.value,
    )


def _check_window(rt: Runtime, original: Entry) -> None:
    days = rt.settings.refund_window_days
    closes = parse_time(original.time) + timedelta(days=days)
    if rt.now() > closes:
        raise invalid(
            "refund_window_closed",
            f"A payment can be refunded up to {days} days after it was made.",
            paid_at=original.time,
            refund_window_days=days,
            closed_at=closes.strftime(_RFC3339),
        )


def _refund_amount(original: Entry, remaining: int, asked: int | None) -> int:
    """What to refund: ``asked``, or all that is left."""
    payment = payment_minutes(original)
    amount = remaining if asked is None else asked
    if remaining <= 0 or amount > remaining:
        raise invalid(
            "refund_exceeds_payment",
            f"{remaining} of this payment's {payment} minutes are left to refund.",
            remaining_minutes=remaining,
            payment_minutes=payment,
        )
    return amount


# -- settlement


async def shops(rt: Runtime, principal: Principal, community: str) -> list[ShopOut]:
    """The community's shops by name, each with its balance where ``principal`` may see it
    (``None`` elsewhere): what is there to settle."""
    async with rt.db.read() as session:
        rows = await named_accounts(session, community, AccountType.SHOP)
    listed = []
    for row in rows:
        balance = None
        if may_see_account(principal, row.account_id, AccountType.SHOP):
            account = await rt.store.account(community, row.account_id)
            balance = 0 if account is None else account.balance_minutes
        listed.append(ShopOut(account_id=row.account_id, name=row.name, balance_minutes=balance))
    return listed


async def shop_to_settle(rt: Runtime, community: str, account_id: str) -> ShopOut:
    """One shop of ``community`` with its balance, and the most one settlement of it moves
    now (its balance, at most ``TRANSFER_MINUTES_MAX``); ``shop_not_found`` otherwise."""
    account = await rt.store.account(community, account_id)
    if account is None or account.spec.type is not AccountType.SHOP:
        raise not_found("shop_not_found", f"No shop {account_id!r}.")
    async with rt.db.read() as session:
        name = await account_name(session, community, account_id)
    return ShopOut(account_id=account_id, name=name or "", balance_minutes=account.balance_minutes)


# How many of a shop's newest entries are looked through for its newest payout.
SETTLEMENT_LOOK_BACK = 2_000


async def newest_settlement(rt: Runtime, community: str, account_id: str) -> Entry | None:
    """The shop's newest payout (settle entry), if it is among the shop's newest
    ``SETTLEMENT_LOOK_BACK`` entries."""
    found: list[Entry] = []

    def is_payout(entry: Entry) -> bool:
        if entry.kind is EntryKind.SETTLE:
            found.append(entry)
        return bool(found)

    await account_history(rt.store, community, account_id, None, is_payout, SETTLEMENT_LOOK_BACK)
    return found[0] if found else None


def settlement_minutes(balance_minutes: int) -> int:
    """What one settlement of a shop holding ``balance_minutes`` moves at most."""
    return min(balance_minutes, limits.TRANSFER_MINUTES_MAX)


async def settle(
    rt: Runtime,
    principal: Principal,
    community: str,
    key: str,
    data: SettlementIn,
    *,
    payout_seen: str | UnsetType | None = UNSET,
) -> SettlementOut:
    """Retire (part of) a shop's balance: one settle entry to the community's account.

    ``payout_seen``, if given, is the id of the shop's newest payout when the caller
    decided (None: it had none): a newer one refuses this payout with
    ``settled_meanwhile``, so that a second screen drawn before it records nothing."""
    request_key = idempotency.scoped_key(principal.credential_id, key)
    shop = await rt.store.account(community, data.shop)
    if shop is None or shop.spec.type is not AccountType.SHOP:
        raise not_found("shop_not_found", f"No shop {data.shop!r}.")
    async with rt.db.read() as session:
        community_account = (await community_row(session, community)).community_account
    existing = await rt.store.entry_by_key(community, request_key)
    if existing is None and payout_seen is not UNSET:
        newest = await newest_settlement(rt, community, data.shop)
        if newest is not None and newest.id != payout_seen:
            raise conflict(
                "settled_meanwhile",
                f"A payout of this shop was recorded at {newest.time}, after the one you saw.",
                entry_id=newest.id, time=newest.time,
                amount_minutes=newest.draft.postings[0].amount_minutes,
            )  # fmt: skip
    if existing is None:
        balance = shop.balance_minutes
        if balance <= 0:
            raise invalid(
                "nothing_to_settle",
                "This shop holds no credits to settle.",
                balance_minutes=balance,
            )
        amount = data.amount_minutes or settlement_minutes(balance)
    else:
        amount = drafts.retry_amount(existing, EntryKind.SETTLE, data.amount_minutes)
    draft = drafts.settle(
        new_entry_id(), principal.staff_actor, data.shop, community_account, amount, key=request_key
    )
    return SettlementOut.from_entry(await drafts.append(rt.ledger, community, draft))


# -- statements


async def shop_statement(
    rt: Runtime,
    reads: ReadView,
    principal: Principal,
    community: str,
    shop: str,
    period: str,
    checkpoint_size: int | None,
) -> ShopStatement:
    """``shop``'s statement for ``period`` as at the newest signed checkpoint (once one
    covers what the journal held when asked: a refund just made is in it, also when
    ``reads`` is a replica that lags), or the one of ``checkpoint_size``, read from
    ``reads``."""
    await _statement_shop(reads.store, principal, community, shop)
    if period > rt.month():
        raise invalid("period_in_future", "Ask for this month or an earlier one.", period=period)
    if checkpoint_size is None:
        reads = await rt.reads.current(community)
        await reads.ledger.signed_head(community)
    async with reads.store.reader(community) as tx:
        # The head and the balance from one snapshot: the walk undoes exactly
        # the entries the balance includes.
        head = await tx.head()
        loaded = await tx.load(Needs(frozenset({shop}), frozenset(), frozenset(), frozenset()))
    balance = loaded.state.accounts[shop].balance_minutes
    stored = (
        head.checkpoint
        if checkpoint_size is None
        else await reads.store.checkpoint_at(community, checkpoint_size)
    )
    if stored is None or stored.size > head.size:
        raise not_found("checkpoint_not_found", "No signed checkpoint of that size.")
    size = stored.size
    entries = await account_history(
        reads.store,
        community,
        shop,
        head.size,
        lambda e: e.seq < size and e.month < period,
        api_limits.STATEMENT_ENTRIES_MAX,
    )
    if entries is None:
        raise _too_long()
    shown = [e for e in entries if e.seq < size and e.month == period]
    originals = await _originals(reads.store, community, entries, shown)
    async with reads.db.read() as session:
        names = await _names(session, community, shop, shown)
        shop_name = await account_name(session, community, shop) or ""
    checkpoint = CheckpointRef(note_origin(stored.note), size, b64(stored.root), stored.note)
    return build_shop_statement(
        shop=shop, shop_name=shop_name, period=period, checkpoint=checkpoint,
        balance_minutes=balance, entries=entries, names=names, originals=originals,
    )  # fmt: skip


async def _statement_shop(store: Store, principal: Principal, community: str, shop: str) -> None:
    """Shop staff read their own shop's statement; auditors and admins any shop's."""
    account = await store.account(community, shop)
    if account is None or account.spec.type is not AccountType.SHOP:
        raise not_found("shop_not_found", f"No shop {shop!r}.")
    if not principal.sees_everything and not (principal.has(Role.SHOP) and shop in principal.shops):
        raise forbidden("not_your_shop", "This is another shop's statement.")


def _too_long() -> ProblemError:
    return invalid(
        "statement_too_long",
        "This shop has too many entries since that month to add up in one request.",
        entries_max=api_limits.STATEMENT_ENTRIES_MAX,
    )


async def _originals(
    store: Store, community: str, walked: list[Entry], shown: list[Entry]
) -> dict[int, Entry]:
    """The payments the period's refunds refund (for their references)."""
    by_seq = {e.seq: e for e in walked}
    originals: dict[int, Entry] = {}
    for entry in shown:
        seq = entry.draft.corrects
        if seq is None or seq in originals:
            continue
        found = by_seq.get(seq)
        if found is None:  # paid in an earlier month: read it
            found = next(iter(await store.entries(community, seq, seq + 1)), None)
        if found is not None:
            originals[seq] = found
    return originals


async def _names(
    session: AsyncSession, community: str, shop: str, shown: list[Entry]
) -> dict[str, str]:
    """Display names of the other parties: members by the person who holds the
    member role for the account (erased: ``ERASED_NAME``), the community by its name."""
    others = {other for e in shown if (other := counterparty(e, shop)) is not None}
    names = dict.fromkeys(others, ERASED_NAME)
    community_data = await community_row(session, community)
    if community_data.community_account in names:
        names[community_data.community_account] = community_data.name
    names.update(await member_names(session, community, others))
    return names


async def member_names(
    session: AsyncSession, community: str, accounts: Collection[str]
) -> dict[str, str]:
    """account id -> the name of the person whose member account it is (never erased data)."""
    found: dict[str, str] = {}
    wanted = sorted(accounts)
    for start in range(0, len(wanted), api_limits.NAMES_PER_QUERY):
        rows = await session.exec(
            select(RoleRow.scope, PersonRow)
            .join(PersonRow, col(PersonRow.id) == col(RoleRow.person_id))
            .where(
                RoleRow.community == community,
                RoleRow.role == Role.MEMBER.value,
                col(RoleRow.scope).in_(wanted[start : start + api_limits.NAMES_PER_QUERY]),
            )
        )
        for scope, person in rows.all():
            found[scope] = ERASED_NAME if person.erased_at is not None else person.name
    return found


async def month_minutes(rt: Runtime, community: str, shop: str, month: str) -> int:
    """The net minutes ``shop`` took in ``month`` so far: redemptions minus refunds."""
    entries = await account_history(
        rt.store, community, shop, None, lambda e: e.month < month, api_limits.STATEMENT_ENTRIES_MAX
    )
    if entries is None:
        raise _too_long()
    return month_net_minutes(entries, shop, month)
