"""One-line setup for ledger tests: accounts, drafts, states and a ledger over a store.

Accounts are ``AccountSpec`` values (``a_member``, ``an_organisation``…); drafts are
built by the kind of entry they ask for (``earn``, ``transfer``, ``open_account``…),
each with a fresh id unless one is given. ``a_state`` builds the ``LedgerState``
the pure rules read; ``a_ledger`` builds a ``Ledger`` over any store with a
``ManualClock`` and a freshly generated signer, and ``accepted`` appends drafts
that the test needs to have succeeded.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

from ledger.cadence import EVERY_BATCH, Cadence
from ledger.clock import ManualClock
from ledger.model import (
    AccountSpec,
    AccountType,
    BudgetChange,
    Draft,
    Entry,
    EntryKind,
    Meta,
    Posting,
    Rejected,
    Settings,
    StaffChange,
    StaffRole,
)
from ledger.note import generate_signer
from ledger.service import Ledger
from ledger.state import AccountState, LedgerState
from ledger.store import Store
from ledger.writer import Appended, Result

COMMUNITY = "oost"
HOST = "buurtmunt.test"
ADMIN = "admin"
COORDINATOR = "coordinator-1"
START = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
MONTH = "2026-11"

_serial = itertools.count(1)


def an_id(prefix: str = "e") -> str:
    """A fresh, valid entry id, unlike any a test spells out."""
    # A dot keeps generated ids apart from the ones tests spell out ("t-1").
    return f"{prefix}.{next(_serial)}"


# Accounts.


def a_member(account_id: str = "member-1", *, floor_minutes: int = 0) -> AccountSpec:
    return AccountSpec(id=account_id, type=AccountType.MEMBER, floor_minutes=floor_minutes)


def a_shop(account_id: str = "shop-1", *, floor_minutes: int = 0) -> AccountSpec:
    return AccountSpec(id=account_id, type=AccountType.SHOP, floor_minutes=floor_minutes)


def an_organisation(
    account_id: str = "org-1", *, budget_minutes_per_month: int = 60_000
) -> AccountSpec:
    return AccountSpec(
        id=account_id,
        type=AccountType.ORGANISATION,
        floor_minutes=None,
        budget_minutes_per_month=budget_minutes_per_month,
    )


def a_community_account(account_id: str = "community") -> AccountSpec:
    return AccountSpec(id=account_id, type=AccountType.COMMUNITY, floor_minutes=0)


# Drafts.


def _draft(kind: EntryKind, id: str | None, actor: str, **fields: object) -> Draft:
    return Draft(id=id or an_id(kind.value), kind=kind, actor=actor, **fields)  # type: ignore[arg-type]


def open_account(spec: AccountSpec, *, id: str | None = None, actor: str = ADMIN) -> Draft:
    return _draft(EntryKind.OPEN, id, actor, account=spec)


def configure(
    *,
    members_may_transfer: bool = True,
    member_earning_cap_minutes_per_month: int | None = None,
    approval_threshold_minutes: int | None = None,
    id: str | None = None,
    actor: str = ADMIN,
) -> Draft:
    settings = Settings(
        members_may_transfer=members_may_transfer,
        member_earning_cap_minutes_per_month=member_earning_cap_minutes_per_month,
        approval_threshold_minutes=approval_threshold_minutes,
    )
    return _draft(EntryKind.CONFIGURE, id, actor, settings=settings)


def appoint(
    staff_id: str = COORDINATOR,
    organisation: str = "org-1",
    *,
    active: bool = True,
    id: str | None = None,
    actor: str = ADMIN,
) -> Draft:
    """A staff entry: ``staff_id`` becomes (or, not ``active``, stops being) a
    coordinator of ``organisation``."""
    change = StaffChange(staff_id, StaffRole.COORDINATOR, organisation, active)
    return _draft(EntryKind.STAFF, id, actor, staff=change)


def set_budget(
    organisation: str, budget_minutes_per_month: int, *, id: str | None = None, actor: str = ADMIN
) -> Draft:
    budget = BudgetChange(organisation, budget_minutes_per_month)
    return _draft(EntryKind.BUDGET, id, actor, budget=budget)


def _moving(
    kind: EntryKind,
    payer: str,
    payee: str,
    minutes: int,
    *,
    id: str | None,
    actor: str | None,
    memo: str,
    reference: str,
    meta: Meta,
) -> Draft:
    return _draft(
        kind,
        id,
        payer if actor is None else actor,
        postings=(Posting(payer, payee, minutes),),
        memo=memo,
        reference=reference,
        meta=meta,
    )


def earn(
    organisation: str = "org-1",
    member: str = "member-1",
    minutes: int = 60,
    *,
    id: str | None = None,
    actor: str | None = COORDINATOR,
    memo: str = "",
    reference: str = "",
    meta: Meta = (),
) -> Draft:
    return _moving(
        EntryKind.EARN, organisation, member, minutes,
        id=id, actor=actor, memo=memo, reference=reference, meta=meta,
    )  # fmt: skip


def transfer(
    payer: str = "member-1",
    payee: str = "member-2",
    minutes: int = 60,
    *,
    id: str | None = None,
    actor: str | None = None,
    memo: str = "",
    reference: str = "",
    meta: Meta = (),
) -> Draft:
    return _moving(
        EntryKind.TRANSFER, payer, payee, minutes,
        id=id, actor=actor, memo=memo, reference=reference, meta=meta,
    )  # fmt: skip


def redeem(
    member: str = "member-1",
    shop: str = "shop-1",
    minutes: int = 60,
    *,
    id: str | None = None,
    actor: str | None = None,
    memo: str = "",
    reference: str = "",
    meta: Meta = (),
) -> Draft:
    return _moving(
        EntryKind.REDEEM, member, shop, minutes,
        id=id, actor=actor, memo=memo, reference=reference, meta=meta,
    )  # fmt: skip


def settle(
    shop: str = "shop-1",
    community: str = "community",
    minutes: int = 60,
    *,
    id: str | None = None,
    actor: str | None = ADMIN,
    memo: str = "",
    reference: str = "",
    meta: Meta = (),
) -> Draft:
    return _moving(
        EntryKind.SETTLE, shop, community, minutes,
        id=id, actor=actor, memo=memo, reference=reference, meta=meta,
    )  # fmt: skip


def correct(
    original: Entry | int,
    minutes: int | None = None,
    *,
    postings: tuple[Posting, ...] | None = None,
    id: str | None = None,
    actor: str = ADMIN,
    memo: str = "",
) -> Draft:
    """A correction of ``original``: its postings reversed (optionally for fewer minutes).

    Given only a seq, ``postings`` must be given too.
    """
    if isinstance(original, Entry):
        seq = original.seq
        if postings is None:
            postings = tuple(
                Posting(p.payee, p.payer, p.amount_minutes if minutes is None else minutes)
                for p in original.draft.postings
            )
    else:
        seq = original
    assert postings is not None, "a correction by seq needs its postings"
    return _draft(EntryKind.CORRECT, id, actor, postings=postings, corrects=seq, memo=memo)


def changed(draft: Draft, **fields: object) -> Draft:
    """The same draft (same id) with some fields changed, as a careless retry would send it."""
    return replace(draft, **fields)  # type: ignore[arg-type]


def with_amount(draft: Draft, minutes: int) -> Draft:
    return replace(
        draft, postings=tuple(replace(p, amount_minutes=minutes) for p in draft.postings)
    )


# States for the pure rules.


def a_state(
    *accounts: AccountSpec,
    balances: dict[str, int] | None = None,
    settings: Settings | None = None,
    monthly: dict[tuple[str, str], int] | None = None,
    entries: Iterable[Entry] = (),
    reversed_minutes: dict[int, tuple[int, ...]] | None = None,
) -> LedgerState:
    """A state holding ``accounts`` with ``balances`` (0 by default) and these ``entries``.

    ``reversed_minutes`` says what corrections already reversed of each posting
    of some of the ``entries`` (by seq). Balances need not sum to zero: the
    rules check one draft at a time.
    """
    balances = balances or {}
    state = LedgerState(settings=settings or Settings(), monthly=dict(monthly or {}))
    for spec in accounts:
        state.accounts[spec.id] = AccountState(spec, balances.get(spec.id, 0))
        if spec.type is AccountType.COMMUNITY:
            state.community_account = spec.id
    for entry in entries:
        state.originals[entry.seq] = entry
        state.size = max(state.size, entry.seq + 1)
    state.reversed_minutes.update(reversed_minutes or {})
    return state


# A ledger over a store.


def a_clock(start: datetime = START) -> ManualClock:
    return ManualClock(start)


def a_ledger(
    store: Store,
    *,
    clock: ManualClock | None = None,
    host: str = HOST,
    cadence: Cadence = EVERY_BATCH,
) -> Ledger:
    """A ``Ledger`` over ``store`` with a manual clock and a freshly generated signer.

    It signs a checkpoint for every batch unless ``cadence`` says otherwise, so
    a test sees each batch's checkpoint as soon as its append returns."""
    return Ledger(store, generate_signer(host), host, clock or a_clock(), cadence=cadence)


async def accepted(ledger: Ledger, *drafts: Draft, community: str = COMMUNITY) -> list[Entry]:
    """Append ``drafts`` in order; each must be accepted. Returns their entries."""
    entries: list[Entry] = []
    for draft in drafts:
        result = await ledger.append(community, draft)
        assert isinstance(result, Appended), f"setup draft {draft.id} was rejected: {result}"
        entries.append(result.entry)
    return entries


def code_of(result: Result) -> str:
    """``"accepted"``, ``"retried"`` or the rejection code: one word to compare outcomes by."""
    if isinstance(result, Rejected):
        return result.code.value
    return "retried" if result.accepted.retried else "accepted"


def a_neighbourhood(
    *,
    members: int = 2,
    shops: int = 1,
    budget_minutes_per_month: int = 60_000,
    settings: Draft | None = None,
) -> list[Draft]:
    """Drafts that open a community account, one organisation, members and shops."""
    drafts = [open_account(a_community_account())]
    if settings is not None:
        drafts.append(settings)
    drafts.append(open_account(an_organisation(budget_minutes_per_month=budget_minutes_per_month)))
    drafts += [open_account(a_member(f"member-{n}")) for n in range(1, members + 1)]
    drafts += [open_account(a_shop(f"shop-{n}")) for n in range(1, shops + 1)]
    return drafts


async def a_funded_member(
    ledger: Ledger, account_id: str, minutes: int, *, community: str = COMMUNITY
) -> None:
    """Open ``account_id`` and have ``org-1`` pay it ``minutes`` (org-1 must exist)."""
    await accepted(ledger, open_account(a_member(account_id)), community=community)
    if minutes:
        await accepted(ledger, earn("org-1", account_id, minutes), community=community)
