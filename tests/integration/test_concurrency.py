"""Concurrent appends on real SQLite and PostgreSQL: no double spend, no fork, no gap.

``check_journal`` reads a whole journal back and checks what any number of
writers must leave behind; the multi-process test uses it too.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ledger.canonical import ZERO_HASH, decode_entry
from ledger.merkle import Frontier
from ledger.model import Rejected, Rejection
from ledger.rules import apply, check_state
from ledger.service import Ledger
from ledger.sql.migrate import upgrade
from ledger.sql.store import SqlStore
from ledger.state import LedgerState
from ledger.store import Store
from ledger.writer import Appended
from tests.support.builders import (
    COMMUNITY,
    a_ledger,
    a_member,
    a_neighbourhood,
    accepted,
    earn,
    open_account,
    transfer,
)

BASE = a_neighbourhood(members=2, budget_minutes_per_month=600_000)


async def check_journal(store: Store, community: str = COMMUNITY) -> LedgerState:
    """Check the journal end to end and return the state replaying it gives.

    Gapless seqs, each entry chained to the previous leaf, every checkpoint's
    root equal to the tree recomputed at its size, every entry accepted again by
    the rules in order (so no floor was ever breached), and the replayed
    balances equal to the stored ones, summing to zero.
    """
    head = await store.head(community)
    data: list[bytes] = []
    while len(data) < head.size:
        data += [e.data for e in await store.entries(community, len(data), head.size)]
    checkpoints = {c.size: c for c in await store.checkpoints(community, 0, head.size + 1)}
    state = LedgerState()
    frontier = Frontier.empty()
    previous = ZERO_HASH
    for seq, raw in enumerate(data):
        entry = decode_entry(raw)
        assert entry.seq == seq, f"gap or reorder at {seq}"
        assert entry.prev == previous, f"entry {seq} does not chain to entry {seq - 1}"
        corrects = entry.draft.corrects
        if corrects is not None and corrects < seq:
            state.originals[corrects] = decode_entry(data[corrects])
        rejected = check_state(state, entry.draft, entry.month)
        assert rejected is None, f"entry {seq} breaks the rules on replay: {rejected}"
        apply(state, entry)
        previous = entry.leaf
        frontier.append(entry.leaf)
        if frontier.size in checkpoints:
            assert checkpoints[frontier.size].root == frontier.root(), f"checkpoint {frontier.size}"
    assert set(checkpoints) <= set(range(1, head.size + 1)), "a checkpoint beyond the journal"
    assert head.size in checkpoints, "the head is not signed"
    stored = {r.spec.id: r.balance_minutes for r in await store.accounts(community)}
    assert {a: s.balance_minutes for a, s in state.accounts.items()} == stored
    assert sum(stored.values()) == 0
    return state


@pytest.fixture
async def sql_store(database_url: str) -> AsyncIterator[SqlStore]:
    store = SqlStore.from_url(database_url)
    await upgrade(store.engine)
    yield store
    await store.close()


@pytest.fixture
async def ledger(sql_store: SqlStore) -> AsyncIterator[Ledger]:
    ledger = a_ledger(sql_store)
    yield ledger
    await ledger.close()


def codes(results: list[Any]) -> Counter[str]:
    return Counter(
        r.code.value
        if isinstance(r, Rejected)
        else "accepted"
        if isinstance(r, Appended)
        else repr(r)
        for r in results
    )


async def test_two_hundred_concurrent_one_credit_transfers_from_ten_credits_let_ten_through(
    sql_store: SqlStore, ledger: Ledger
) -> None:
    await accepted(ledger, *BASE, earn("org-1", "member-1", 600))
    drafts = [transfer("member-1", "member-2", 60, id=f"t-{n:03d}") for n in range(200)]

    results = await asyncio.gather(*(ledger.append(COMMUNITY, d) for d in drafts))

    assert codes(results) == {"accepted": 10, Rejection.EXCEEDS_BALANCE.value: 190}
    payer = await sql_store.account(COMMUNITY, "member-1")
    payee = await sql_store.account(COMMUNITY, "member-2")
    assert payer is not None and payer.balance_minutes == 0
    assert payee is not None and payee.balance_minutes == 600
    state = await check_journal(sql_store)
    assert state.balance("member-1") == 0


async def test_a_retried_transfer_under_concurrency_moves_minutes_once(
    sql_store: SqlStore, ledger: Ledger
) -> None:
    await accepted(ledger, *BASE, earn("org-1", "member-1", 600))
    draft = transfer("member-1", "member-2", 60, id="the-one")

    results = await asyncio.gather(*(ledger.append(COMMUNITY, draft) for _ in range(50)))

    assert all(isinstance(r, Appended) for r in results)
    assert sum(not r.accepted.retried for r in results) == 1  # type: ignore[union-attr]
    assert len({r.entry.seq for r in results}) == 1  # type: ignore[union-attr]
    payer = await sql_store.account(COMMUNITY, "member-1")
    assert payer is not None and payer.balance_minutes == 540
    await check_journal(sql_store)


async def test_two_writers_with_their_own_engines_share_one_journal(
    sql_store: SqlStore, ledger: Ledger, database_url: str
) -> None:
    await accepted(ledger, *BASE, earn("org-1", "member-1", 600))
    await accepted(ledger, *[open_account(a_member(f"r-{n}")) for n in range(4)])
    other_store = SqlStore.from_url(database_url)
    other = a_ledger(other_store)
    size_before = (await sql_store.head(COMMUNITY)).size

    async def spend(writer: Ledger, name: str) -> list[Any]:
        # Each writer sends 30 one-credit transfers from the shared payer and 20
        # earns to its own members, in waves, so that batches from both interleave.
        results: list[Any] = []
        for wave in range(5):
            drafts = [
                transfer("member-1", f"r-{n % 4}", 60, id=f"{name}-t-{wave}-{n}") for n in range(6)
            ] + [earn("org-1", f"r-{n % 4}", 1, id=f"{name}-e-{wave}-{n}") for n in range(4)]
            results += await asyncio.gather(*(writer.append(COMMUNITY, d) for d in drafts))
        return results

    try:
        first, second = await asyncio.gather(spend(ledger, "a"), spend(other, "b"))
    finally:
        await other.close()
        await other_store.close()

    outcomes = codes(first) + codes(second)
    assert outcomes == {"accepted": 10 + 40, Rejection.EXCEEDS_BALANCE.value: 50}
    head = await sql_store.head(COMMUNITY)
    assert head.size == size_before + 50
    state = await check_journal(sql_store)
    assert state.balance("member-1") == 0
    assert sum(state.balance(f"r-{n}") for n in range(4)) == 600 + 40
