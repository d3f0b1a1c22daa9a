"""A resident's balance and history in plain words: who, what, and how much.

Each line names the other side by name ("Buurtcentrum De Meeuw", "Slagerij
Piet"), says what kind of thing happened, and opens its receipt. Names come
from the API's directory, balances and entries from the ledger's store; pages
never read tables.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from api.directory import account_name
from api.runtime import Runtime
from ledger import limits
from ledger.model import AccountType, Entry, EntryKind

HOME_ENTRIES = 5
HISTORY_PAGE_ENTRIES = 20
assert HISTORY_PAGE_ENTRIES <= limits.PAGE_SIZE_MAX


@dataclass(frozen=True, slots=True)
class Line:
    """One entry as the resident reads it. ``kind`` picks the words: "earned" (from an
    organisation), "received", "given", "paid" (at a shop), "given back" (a shop's refund),
    "corrected" (any other correction, such as the admin's), "opened"."""

    entry_id: str
    seq: int
    time: str
    kind: str
    who: str
    what: str
    delta_minutes: int
    corrects: Line | None = None  # a correction's booking, as this account reads it


@dataclass(frozen=True, slots=True)
class History:
    balance_minutes: int | None
    lines: list[Line]
    older: int | None  # the cursor of the next (older) page, if there is one


def _delta(entry: Entry, account_id: str) -> tuple[int, str]:
    """What ``entry`` did to ``account_id``, and the account on the other side."""
    delta, other = 0, ""
    for posting in entry.draft.postings:
        if posting.payee == account_id:
            delta += posting.amount_minutes
            other = posting.payer
        if posting.payer == account_id:
            delta -= posting.amount_minutes
            other = posting.payee
    return delta, other


def _what(entry: Entry) -> str:
    """The entry's own words: its memo, or the activity an earning was for."""
    return entry.draft.memo or str(dict(entry.draft.meta).get("activity", ""))


def _kind(entry: Entry, delta: int, from_shop: bool = False) -> str:
    """The line's words; ``from_shop``: the other side is a shop."""
    kind = entry.kind
    if kind is EntryKind.EARN:
        return "earned"
    if kind is EntryKind.REDEEM:
        return "paid"
    if kind is EntryKind.TRANSFER:
        return "received" if delta > 0 else "given"
    if kind is EntryKind.CORRECT:
        # A shop's refund names the shop that gave the hours back; any other correction (the
        # admin's, of an earning or a gift) is a correction, and its memo says why.
        return "given back" if delta > 0 and from_shop else "corrected"
    return "opened"


async def history(
    rt: Runtime, community: str, account_id: str, before: int | None, count: int
) -> History:
    """The account's balance and ``count`` entries before ``before`` (newest first)."""
    assert 1 <= count <= limits.PAGE_SIZE_MAX
    row = await rt.store.account(community, account_id)
    entries = await rt.store.account_entries(community, account_id, before, count)
    moved = [(entry, *_delta(entry, account_id)) for entry in entries]
    shops = await _shops(rt, community, {o for e, d, o in moved if _refund_like(e, d)})
    names: dict[str, str] = {}
    async with rt.db.read() as session:
        for other in sorted({other for _, _, other in moved if other}):
            names[other] = await account_name(session, community, other) or ""
    lines = [
        Line(
            entry_id=entry.id,
            seq=entry.seq,
            time=entry.time,
            kind=_kind(entry, delta, other in shops),
            who=names.get(other, ""),
            what=_what(entry),
            delta_minutes=delta,
            corrects=await _corrected(rt, community, account_id, entry),
        )
        for entry, delta, other in moved
    ]
    older = entries[-1].seq if len(entries) == count and entries[-1].seq > 0 else None
    return History(None if row is None else row.balance_minutes, lines, older)


async def line_of(rt: Runtime, community: str, account_id: str, entry_id: str) -> Line | None:
    """One entry of the account as a line (for its receipt page); None if not the account's."""
    entry = await rt.store.entry_by_id(community, entry_id)
    if entry is None:
        return None
    line = await _line(rt, community, account_id, entry)
    if line is None:
        return None
    return replace(line, corrects=await _corrected(rt, community, account_id, entry))


async def _corrected(rt: Runtime, community: str, account_id: str, entry: Entry) -> Line | None:
    """The booking a correction corrects, as a line of the account (None for other entries)."""
    seq = entry.draft.corrects
    if entry.kind is not EntryKind.CORRECT or seq is None:
        return None
    found = await rt.store.entries(community, seq, seq + 1)
    return await _line(rt, community, account_id, found[0]) if found else None


async def _line(rt: Runtime, community: str, account_id: str, entry: Entry) -> Line | None:
    """``entry`` as a line of the account, without what it corrects; None if not the
    account's."""
    delta, other = _delta(entry, account_id)
    if not other and entry.kind is not EntryKind.OPEN:
        return None
    if entry.kind is EntryKind.OPEN and (
        entry.draft.account is None or entry.draft.account.id != account_id
    ):
        return None
    async with rt.db.read() as session:
        who = (await account_name(session, community, other) or "") if other else ""
    what = _what(entry)
    shops = await _shops(rt, community, {other} if _refund_like(entry, delta) else set())
    kind = _kind(entry, delta, other in shops)
    return Line(entry.id, entry.seq, entry.time, kind, who, what, delta)


def _refund_like(entry: Entry, delta: int) -> bool:
    """A correction that gives this account hours back: a refund, if a shop gave them."""
    return entry.kind is EntryKind.CORRECT and delta > 0


async def _shops(rt: Runtime, community: str, accounts: set[str]) -> set[str]:
    """Those of ``accounts`` that are shops."""
    found = set()
    for account_id in accounts:
        account = await rt.store.account(community, account_id)
        if account is not None and account.spec.type is AccountType.SHOP:
            found.add(account_id)
    return found
