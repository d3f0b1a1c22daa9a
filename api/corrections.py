"""Corrections by a community admin: reversing (part of) an entry, with a reason.

Without an amount a correction reverses all that is left of the entry: its
postings less what earlier corrections reversed (refunds included), by the
ledger's own count. A retry finds the correction it made and books the same.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from api import drafts, earnings
from api.access import Principal
from api.earnings import TWIN_SECONDS, Earlier
from api.idempotency import scoped_key
from api.problems import ProblemError, not_found
from api.runtime import Runtime
from ledger.ids import new_entry_id
from ledger.model import CORRECTABLE_KINDS, Entry, EntryKind


async def correct(
    rt: Runtime,
    principal: Principal,
    community: str,
    key: str,
    original_id: str,
    amount_minutes: int | None,
    reason: str,
) -> Entry:
    """Book the correction of entry ``original_id`` (or find it again, for a retry)."""
    request_key = scoped_key(principal.credential_id, key)
    original = await rt.store.entry_by_id(community, original_id)
    if original is None:
        raise not_found("entry_not_found", f"No entry {original_id!r}.")
    if original.kind not in CORRECTABLE_KINDS:
        raise ProblemError(422, "corrected_entry_not_correctable", kind=original.kind.value)
    await earnings.refuse_held_key(rt, principal, community, request_key)
    amount = amount_minutes
    if amount is None:
        amount = await _all_that_is_left(rt, community, request_key, original)
    draft = drafts.correct(
        new_entry_id(), principal.staff_actor, original, amount, reason, key=request_key
    )
    return await drafts.append(rt.ledger, community, draft)


async def _all_that_is_left(
    rt: Runtime, community: str, request_key: str, original: Entry
) -> int | None:
    """The amount a correction without one reverses: what a retry booked before, or
    else what is left of the original's (one) posting; None for an entry of several
    postings, each reversed whole."""
    existing = await rt.store.entry_by_key(community, request_key)
    if existing is not None:
        return drafts.retry_amount(existing, EntryKind.CORRECT, None)
    remaining = (await rt.ledger.remaining_minutes(community, (original.seq,))).get(original.seq)
    if remaining is None or len(remaining) != 1:
        return None
    return remaining[0] or None


@dataclass(frozen=True, slots=True)
class Correctable:
    """An entry a correction may reverse, and what is left of its one posting to reverse
    (0: all of it was corrected or refunded before)."""

    entry: Entry
    left_minutes: int


async def correctable(rt: Runtime, community: str, entry_id: str) -> Correctable:
    """The entry ``entry_id`` as a correction would find it now; ``entry_not_found`` or
    ``corrected_entry_not_correctable`` (also for an entry of several postings, which a
    correction reverses only whole) otherwise."""
    entry = await rt.store.entry_by_id(community, entry_id)
    if entry is None:
        raise not_found("entry_not_found", f"No entry {entry_id!r}.")
    if entry.kind not in CORRECTABLE_KINDS:
        raise ProblemError(422, "corrected_entry_not_correctable", kind=entry.kind.value)
    left = (await left_to_correct(rt, community, (entry.seq,))).get(entry.seq)
    if left is None:
        raise ProblemError(422, "corrected_entry_not_correctable", kind=entry.kind.value)
    return Correctable(entry, left)


async def left_to_correct(rt: Runtime, community: str, seqs: Collection[int]) -> dict[int, int]:
    """What corrections may still reverse of each entry of ``seqs`` that has one posting,
    read in one go (an entry of several postings, or none, is left out)."""
    left = await rt.ledger.remaining_minutes(community, seqs)
    return {seq: minutes[0] for seq, minutes in left.items() if len(minutes) == 1}


# How many of an account's newest entries are searched for earlier corrections of one of them.
CORRECTIONS_LOOK_BACK = 100


async def earlier_corrections(rt: Runtime, community: str, account: str, seq: int) -> list[Entry]:
    """The corrections (refunds included) of the entry at ``seq`` among ``account``'s newest
    ``CORRECTIONS_LOOK_BACK`` entries, newest first: what the correction page lists."""
    entries = await rt.store.account_entries(community, account, None, CORRECTIONS_LOOK_BACK)
    return [e for e in entries if e.kind is EntryKind.CORRECT and e.draft.corrects == seq]


async def booked_by(rt: Runtime, principal: Principal, community: str, key: str) -> Entry | None:
    """The entry the request with Idempotency-Key ``key`` booked, if it did: a retry,
    which finds its own answer whatever changed since."""
    return await rt.store.entry_by_key(community, scoped_key(principal.credential_id, key))


async def corrected_just_now(
    rt: Runtime, principal: Principal, community: str, account: str, seq: int
) -> Earlier | None:
    """The latest correction of the entry at ``seq`` in the past ``TWIN_SECONDS``, by
    anyone, and who made it; None if there is none.

    The correction form, sent again after Back, carries a new key and would reverse
    the hours twice: the page asks before it books (unless the request is a retry,
    ``booked_by``)."""
    since = rt.now_seconds() - TWIN_SECONDS
    for entry in await earlier_corrections(rt, community, account, seq):
        at = datetime.fromisoformat(entry.time)
        if at.timestamp() < since:
            return None
        async with rt.db.read() as session:
            return await earnings.earlier(session, principal, community, at, entry.draft.actor)
    return None
