"""The store contract, run identically on the MemoryStore and on SqlStore (SQLite, PostgreSQL).

Every test appends through a real ``Ledger`` (so the writer produces what a store
must keep) and then reads back through the ``Store`` protocol only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from ledger import limits
from ledger.ids import new_entry_id
from ledger.memory import MemoryStore
from ledger.merkle import Frontier, hash_of_nodes, leaf_hash, node_hash, range_nodes
from ledger.model import AccountType, Draft, Rejected, Rejection, Settings
from ledger.service import Ledger
from ledger.sql.migrate import upgrade
from ledger.sql.store import SqlStore
from ledger.store import BatchWrite, Needs, Store
from ledger.writer import Appended
from tests.conftest import require
from tests.support.builders import (
    COMMUNITY,
    MONTH,
    a_ledger,
    a_member,
    a_neighbourhood,
    accepted,
    an_organisation,
    code_of,
    configure,
    correct,
    earn,
    open_account,
    redeem,
    set_budget,
    settle,
    transfer,
)
from tests.support.databases import fresh_postgres_url, postgres_unavailable_reason


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Store]:
    """An empty store of each kind; SQL stores migrated first and closed after."""
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "sqlite":
        sql = SqlStore.from_url(f"sqlite:///{tmp_path}/contract.db")
        await upgrade(sql.engine)
        try:
            yield sql
        finally:
            await sql.close()
        return
    require(await postgres_unavailable_reason())
    async with fresh_postgres_url() as url:
        sql = SqlStore.from_url(url)
        await upgrade(sql.engine)
        try:
            yield sql
        finally:
            await sql.close()


@pytest.fixture
async def ledger(store: Store) -> AsyncIterator[Ledger]:
    ledger = a_ledger(store)
    yield ledger
    await ledger.close()


BASE = a_neighbourhood(members=3, shops=1, budget_minutes_per_month=6_000)


async def in_batches(ledger: Ledger, drafts: list[Draft]) -> list[Any]:
    """Append ``drafts`` concurrently, so that the writer groups them."""
    return list(await asyncio.gather(*(ledger.append(COMMUNITY, d) for d in drafts)))


def tree_root(leaves: list[bytes]) -> bytes:
    frontier = Frontier.empty()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


def subtree_hash(leaves: list[bytes]) -> bytes:
    """The RFC 6962 hash of a complete (power of two) run of leaves."""
    level = list(leaves)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


# The head and the journal.


async def test_an_empty_journal_has_an_empty_head(store: Store) -> None:
    head = await store.head(COMMUNITY)

    assert head.size == 0
    assert head.last_leaf == bytes(32)
    assert head.last_time == ""
    assert head.checkpoint is None
    assert await store.entries(COMMUNITY, 0, 10) == []
    assert await store.communities() == []


async def test_the_head_follows_the_appended_entries(store: Store, ledger: Ledger) -> None:
    entries = await accepted(ledger, *BASE)
    results = await in_batches(ledger, [open_account(a_member(f"m-{n}")) for n in range(11)])
    entries += [r.entry for r in results]

    head = await store.head(COMMUNITY)

    assert head.size == len(entries) == entries[-1].seq + 1
    assert head.last_leaf == entries[-1].leaf
    assert head.last_time == entries[-1].time
    assert head.frontier.size == head.size
    assert head.frontier.root() == tree_root([e.leaf for e in entries])
    assert head.checkpoint is not None
    assert (head.checkpoint.size, head.checkpoint.root) == (head.size, head.frontier.root())
    assert await store.communities() == [COMMUNITY]


async def test_a_snapshot_pairs_the_head_with_the_balances_at_that_head(
    store: Store, ledger: Ledger
) -> None:
    await accepted(ledger, *BASE, earn("org-1", "member-1", 90))

    head, accounts = await store.snapshot(COMMUNITY)

    assert head == await store.head(COMMUNITY)
    assert accounts == await store.accounts(COMMUNITY)
    assert {a.spec.id: a.balance_minutes for a in accounts}["member-1"] == 90
    assert sum(a.balance_minutes for a in accounts) == 0


async def test_entries_come_back_in_order_with_their_exact_bytes(
    store: Store, ledger: Ledger
) -> None:
    appended = await accepted(ledger, *BASE, earn(memo="tuin 🌱 شكرا", meta=(("hours", 1),)))

    stored = await store.entries(COMMUNITY, 0, 100)

    assert [e.seq for e in stored] == list(range(len(appended)))
    assert [e.data for e in stored] == [e.data for e in appended]
    assert [e.draft for e in stored] == [e.draft for e in appended]
    assert [e.leaf for e in stored] == [leaf_hash(e.data) for e in appended]
    assert [e.prev for e in stored[1:]] == [e.leaf for e in stored[:-1]]


async def test_an_entry_range_is_half_open_and_clipped(store: Store, ledger: Ledger) -> None:
    await accepted(ledger, *BASE)
    size = len(BASE)

    assert [e.seq for e in await store.entries(COMMUNITY, 2, 4)] == [2, 3]
    assert [e.seq for e in await store.entries(COMMUNITY, size - 1, size + 10)] == [size - 1]
    assert await store.entries(COMMUNITY, size, size + 10) == []
    assert await store.entries(COMMUNITY, 3, 3) == []
    assert await store.entries("elsewhere", 0, 10) == []


async def test_an_entry_range_holds_at_most_the_range_limit(
    store: Store, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "ENTRY_RANGE_MAX", 3)
    await accepted(ledger, *BASE)

    assert [e.seq for e in await store.entries(COMMUNITY, 1, 100)] == [1, 2, 3]


async def test_an_entry_is_found_by_its_id(store: Store, ledger: Ledger) -> None:
    *_, entry = await accepted(ledger, *BASE, earn(id="earn-42"))

    assert await store.entry_by_id(COMMUNITY, "earn-42") == entry
    assert await store.entry_by_id(COMMUNITY, "earn-43") is None
    assert await store.entry_by_id("elsewhere", "earn-42") is None


# An account's history.


@pytest.fixture(params=[1, 4, None], ids=["indexed", "partly-indexed", "unindexed"])
def history_lag(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQL stores index history behind the journal: read it wholly indexed, across the
    mark, and wholly from the unindexed newest entries (the default lag)."""
    if request.param is not None:
        monkeypatch.setattr(limits, "HISTORY_LAG_MAX", request.param)


async def test_an_accounts_history_pages_newest_first_with_a_cursor(
    store: Store, ledger: Ledger, history_lag: None
) -> None:
    await accepted(ledger, *BASE)
    mine = [(await accepted(ledger, earn("org-1", "member-1", n)))[0].seq for n in range(1, 8)]
    await accepted(ledger, earn("org-1", "member-2", 30))  # not member-1's
    mine += [(await accepted(ledger, transfer("member-1", "member-2", 5)))[0].seq]
    opened = next(i for i, d in enumerate(BASE) if d.account and d.account.id == "member-1")
    expected = sorted([opened, *mine], reverse=True)

    pages: list[list[int]] = []
    before: int | None = None
    while True:
        page = await store.account_entries(COMMUNITY, "member-1", before, 3)
        if not page:
            break
        pages.append([e.seq for e in page])
        before = page[-1].seq

    assert [seq for page in pages for seq in page] == expected
    assert [len(p) for p in pages] == [3, 3, 3]


async def test_an_accounts_history_holds_every_kind_of_entry_that_moves_its_minutes(
    store: Store, ledger: Ledger, history_lag: None
) -> None:
    await accepted(ledger, *BASE)
    (earned,) = await accepted(ledger, earn("org-1", "member-1", 120))
    (paid,) = await accepted(ledger, redeem("member-1", "shop-1", 60))
    (fixed,) = await accepted(ledger, correct(paid, 10))
    (settled,) = await accepted(ledger, settle("shop-1", "community", 50))

    shop = [e.seq for e in await store.account_entries(COMMUNITY, "shop-1", None, 50)]
    member = [e.seq for e in await store.account_entries(COMMUNITY, "member-1", None, 50)]

    assert shop[:3] == [settled.seq, fixed.seq, paid.seq]
    assert member[:3] == [fixed.seq, paid.seq, earned.seq]


async def test_an_unknown_account_has_no_history(
    store: Store, ledger: Ledger, history_lag: None
) -> None:
    await accepted(ledger, *BASE)

    assert await store.account_entries(COMMUNITY, "ghost", None, 10) == []


# Accounts, settings and month totals.


async def test_an_account_opened_and_paid_in_one_batch_holds_its_balance(
    store: Store, ledger: Ledger
) -> None:
    results = await in_batches(ledger, [*BASE, earn("org-1", "member-1", 120)])

    assert all(isinstance(r, Appended) for r in results)
    assert len({r.checkpoint for r in results}) == 1, "one batch"
    member = await store.account(COMMUNITY, "member-1")
    org = await store.account(COMMUNITY, "org-1")
    assert member is not None and member.balance_minutes == 120
    assert org is not None and org.balance_minutes == -120


async def test_accounts_carry_their_spec_and_balance(store: Store, ledger: Ledger) -> None:
    await accepted(
        ledger,
        *BASE,
        earn("org-1", "member-1", 120),
        transfer("member-1", "member-2", 45),
        set_budget("org-1", 9_000),
    )

    member = await store.account(COMMUNITY, "member-1")
    org = await store.account(COMMUNITY, "org-1")
    rows = await store.accounts(COMMUNITY)

    assert member is not None and member.balance_minutes == 75
    assert member.spec == a_member("member-1")
    assert org is not None and org.balance_minutes == -120
    assert org.spec == an_organisation("org-1", budget_minutes_per_month=9_000)
    assert await store.account(COMMUNITY, "ghost") is None
    assert [r.spec.id for r in rows] == sorted(r.spec.id for r in rows)
    assert sum(r.balance_minutes for r in rows) == 0
    assert {r.spec.type for r in rows} == set(AccountType)


async def test_settings_are_those_of_the_last_configure_entry(store: Store, ledger: Ledger) -> None:
    assert await store.settings(COMMUNITY) == Settings()
    await accepted(
        ledger,
        *BASE,
        configure(members_may_transfer=False, member_earning_cap_minutes_per_month=600),
    )

    first = await store.settings(COMMUNITY)
    await accepted(ledger, configure(member_earning_cap_minutes_per_month=None))

    assert first == Settings(members_may_transfer=False, member_earning_cap_minutes_per_month=600)
    assert await store.settings(COMMUNITY) == Settings()


async def test_month_totals_count_earnings_and_corrections(store: Store, ledger: Ledger) -> None:
    await accepted(ledger, *BASE)
    (first,) = await accepted(ledger, earn("org-1", "member-1", 90))
    await in_batches(ledger, [earn("org-1", "member-2", 30), earn("org-1", "member-1", 15)])
    await accepted(ledger, correct(first, 20))

    assert await store.monthly_total(COMMUNITY, "org-1", MONTH) == 90 + 30 + 15 - 20
    assert await store.monthly_total(COMMUNITY, "member-1", MONTH) == 90 + 15 - 20
    assert await store.monthly_total(COMMUNITY, "member-2", MONTH) == 30
    assert await store.monthly_total(COMMUNITY, "member-3", MONTH) == 0
    assert await store.monthly_total(COMMUNITY, "org-1", "2026-10") == 0


# The Merkle tree and checkpoints.


async def test_stored_nodes_agree_with_a_tree_recomputed_from_the_leaves(
    store: Store, ledger: Ledger
) -> None:
    await accepted(ledger, *BASE)
    await in_batches(ledger, [open_account(a_member(f"m-{n}")) for n in range(13)])
    leaves = [e.leaf for e in await store.entries(COMMUNITY, 0, 1_000)]
    size = len(leaves)
    complete = [
        (level, index) for level in range(size.bit_length()) for index in range(size >> level)
    ]

    found = await store.nodes(COMMUNITY, complete)

    assert set(found) == set(complete)
    for level, index in complete:
        run = leaves[index << level : (index + 1) << level]
        assert found[(level, index)] == subtree_hash(run), (level, index)
    frontier = [found[n] for n in range_nodes(0, size)]
    assert hash_of_nodes(frontier) == tree_root(leaves)


async def test_nodes_beyond_the_tree_are_not_found(store: Store, ledger: Ledger) -> None:
    await accepted(ledger, *BASE)  # 6 leaves: (1, 2) complete, (1, 3) and (2, 1) not

    found = await store.nodes(COMMUNITY, [(1, 2), (1, 3), (2, 1), (0, 6), (0, 5)])

    assert set(found) == {(1, 2), (0, 5)}


async def test_every_batch_leaves_a_checkpoint_of_its_tree(store: Store, ledger: Ledger) -> None:
    await accepted(ledger, *BASE)
    await in_batches(ledger, [open_account(a_member(f"m-{n}")) for n in range(5)])
    await accepted(ledger, open_account(a_member("m-last")))
    leaves = [e.leaf for e in await store.entries(COMMUNITY, 0, 1_000)]

    checkpoints = await store.checkpoints(COMMUNITY, 0, 1_000)

    sizes = [c.size for c in checkpoints]
    assert sizes == sorted(set(sizes))
    assert sizes[-1] == len(leaves)
    for checkpoint in checkpoints:
        assert checkpoint.root == tree_root(leaves[: checkpoint.size])
        assert checkpoint.note.startswith(f"{await ledger.origin(COMMUNITY)}\n{checkpoint.size}\n")
        assert await store.checkpoint_at(COMMUNITY, checkpoint.size) == checkpoint
    assert [c.size for c in await store.checkpoints(COMMUNITY, sizes[1], 2)] == sizes[2:4]
    assert await store.checkpoint_at(COMMUNITY, len(leaves) + 1) is None


# Rejections are remembered.


async def test_a_rejection_for_a_state_reason_is_remembered(store: Store, ledger: Ledger) -> None:
    await accepted(ledger, *BASE, earn("org-1", "member-1", 60))
    draft = transfer("member-1", "member-2", 61, id="too-much")

    first = await ledger.append(COMMUNITY, draft)
    again = await a_ledger(store).append(COMMUNITY, draft)  # a fresh writer reads the store
    other = await a_ledger(store).append(
        COMMUNITY, transfer("member-1", "member-2", 60, id="too-much")
    )

    assert isinstance(first, Rejected) and first.code is Rejection.EXCEEDS_BALANCE
    assert again == first
    assert code_of(other) == Rejection.ID_ALREADY_FAILED.value


async def test_a_retry_through_a_fresh_writer_returns_the_stored_entry(
    store: Store, ledger: Ledger
) -> None:
    draft = open_account(a_member("member-9"), id="open-9")
    *_, entry = await accepted(ledger, *BASE, draft)

    retry = await a_ledger(store).append(COMMUNITY, draft)

    assert isinstance(retry, Appended) and retry.accepted.retried
    assert retry.entry == entry


async def test_retries_reach_a_writer_that_has_seen_every_account_and_are_recognised(
    store: Store, ledger: Ledger
) -> None:
    # The writer's basis knows every account here, so it assembles these
    # drafts without reading and leaves the ids to the landing's check.
    *_, paid = await accepted(ledger, *BASE, earn("org-1", "member-1", 600), transfer(id="t-1"))
    refused = await ledger.append(COMMUNITY, transfer(minutes=999, id="t-2"))
    await accepted(ledger, transfer(id="t-3"), transfer(id="t-4"))  # t-1, t-2 leave the basis
    size = (await store.head(COMMUNITY)).size

    again = await ledger.append(COMMUNITY, transfer(id="t-1"))
    refused_again = await ledger.append(COMMUNITY, transfer(minutes=999, id="t-2"))
    changed = await ledger.append(COMMUNITY, transfer(minutes=1, id="t-2"))

    assert isinstance(again, Appended) and again.accepted.retried and again.entry == paid
    assert refused_again == refused and code_of(refused) == "exceeds_balance"
    assert code_of(changed) == "id_already_failed"
    assert (await store.head(COMMUNITY)).size == size
    assert code_of(await ledger.append(COMMUNITY, transfer(id="t-5"))) == "accepted"


async def test_a_write_does_not_land_over_an_id_the_journal_already_knows(
    store: Store, ledger: Ledger
) -> None:
    *_, entry = await accepted(ledger, *BASE)
    await ledger.append(COMMUNITY, transfer(minutes=999, id="refused"))
    head = await store.head(COMMUNITY)
    tip = (head.size, head.last_leaf)
    nothing = BatchWrite()

    assert not await store.write_if_tip(COMMUNITY, tip, nothing, [entry.id])
    assert not await store.write_if_tip(COMMUNITY, tip, nothing, ["fresh", "refused"])
    assert await store.write_if_tip(COMMUNITY, tip, nothing, ["fresh"])


def keyed(draft: Draft, key: str) -> Draft:
    """``draft`` under a fresh id, carrying ``key``: how the API sends every request."""
    return replace(draft, id=new_entry_id(), key=key)


async def test_a_keyed_retry_under_a_fresh_id_returns_the_first_entry(
    store: Store, ledger: Ledger
) -> None:
    *_, first = await accepted(
        ledger, *BASE, earn("org-1", "member-1", 600), keyed(transfer(), "k1")
    )
    # Through this writer (its basis knows the key or leaves it to the landing's
    # check) and through a fresh one (which reads the key from the store).
    await accepted(ledger, transfer(id="t-3"), transfer(id="t-4"))  # k1 leaves the basis
    size = (await store.head(COMMUNITY)).size

    again = await ledger.append(COMMUNITY, keyed(transfer(), "k1"))
    fresh = await a_ledger(store).append(COMMUNITY, keyed(transfer(), "k1"))
    changed = await a_ledger(store).append(COMMUNITY, keyed(transfer(minutes=61), "k1"))

    assert isinstance(again, Appended) and again.accepted.retried and again.entry == first
    assert isinstance(fresh, Appended) and fresh.entry == first
    assert code_of(changed) == "exists_with_different_amount"
    assert (await store.head(COMMUNITY)).size == size
    assert await store.entry_by_key(COMMUNITY, "k1") == first
    assert await store.entry_by_key(COMMUNITY, "k2") is None


async def test_twenty_concurrent_drafts_with_one_key_append_one_entry(
    store: Store, ledger: Ledger
) -> None:
    await accepted(ledger, *BASE, earn("org-1", "member-1", 600))
    size = (await store.head(COMMUNITY)).size
    other = a_ledger(store)  # a second writer, as a second process would have

    results = await asyncio.gather(
        *(
            (ledger if i % 2 else other).append(COMMUNITY, keyed(transfer(), "same"))
            for i in range(20)
        )
    )
    await other.close()

    assert all(isinstance(r, Appended) for r in results), [code_of(r) for r in results]
    assert len({r.entry.id for r in results if isinstance(r, Appended)}) == 1
    assert (await store.head(COMMUNITY)).size == size + 1
    balances = {a.spec.id: a.balance_minutes for a in await store.accounts(COMMUNITY)}
    assert balances["member-2"] == 60


async def test_a_keyed_rejection_is_the_answer_to_a_retry_with_its_key(
    store: Store, ledger: Ledger
) -> None:
    await accepted(ledger, *BASE, earn("org-1", "member-1", 60))

    first = await ledger.append(COMMUNITY, keyed(transfer(minutes=61), "too-much"))
    again = await a_ledger(store).append(COMMUNITY, keyed(transfer(minutes=61), "too-much"))
    other = await ledger.append(COMMUNITY, keyed(transfer(minutes=60), "too-much"))

    assert isinstance(first, Rejected) and first.code is Rejection.EXCEEDS_BALANCE
    assert again == first
    assert code_of(other) == Rejection.ID_ALREADY_FAILED.value


async def test_one_key_in_two_communities_names_two_entries(store: Store, ledger: Ledger) -> None:
    await accepted(ledger, *BASE, earn("org-1", "member-1", 600))
    await accepted(ledger, *BASE, earn("org-1", "member-1", 600), community="west")

    here = await ledger.append(COMMUNITY, keyed(transfer(), "k"))
    there = await ledger.append("west", keyed(transfer(), "k"))

    assert isinstance(here, Appended) and isinstance(there, Appended)
    assert not here.accepted.retried and not there.accepted.retried


async def test_forgotten_keys_no_longer_name_their_entries(store: Store, ledger: Ledger) -> None:
    *_, old = await accepted(ledger, *BASE, earn("org-1", "member-1", 600), keyed(transfer(), "k"))
    size = (await store.head(COMMUNITY)).size

    kept = await store.forget_keys(COMMUNITY, old.time)  # only keys mapped before that time
    forgotten = await store.forget_keys(COMMUNITY, "9999-12-31T23:59:59.999999Z")
    retry = await a_ledger(store).append(COMMUNITY, keyed(transfer(), "k"))

    assert (kept, forgotten) == (0, 1)
    assert isinstance(retry, Appended) and not retry.accepted.retried
    assert await store.entry_by_key(COMMUNITY, "k") == retry.entry
    assert (await store.head(COMMUNITY)).size == size + 1


async def test_a_write_does_not_land_over_a_key_the_journal_already_knows(
    store: Store, ledger: Ledger
) -> None:
    await accepted(ledger, *BASE, earn("org-1", "member-1", 600), keyed(transfer(), "k"))
    head = await store.head(COMMUNITY)
    tip = (head.size, head.last_leaf)
    nothing = BatchWrite()

    assert not await store.write_if_tip(COMMUNITY, tip, nothing, ["fresh"], ["k"])
    assert await store.write_if_tip(COMMUNITY, tip, nothing, ["fresh"], ["other"])


async def test_a_batch_loads_what_its_drafts_need(store: Store, ledger: Ledger) -> None:
    await accepted(ledger, *BASE, configure(member_earning_cap_minutes_per_month=600))
    (earned,) = await accepted(ledger, earn("org-1", "member-1", 90, id="e-1"))
    await accepted(ledger, correct(earned, 30, id="c-1"))
    await ledger.append(COMMUNITY, transfer("member-1", "member-2", 999, id="nope"))
    needs = Needs(
        account_ids=frozenset({"member-1", "org-1", "ghost"}),
        monthly_keys=frozenset({("member-1", MONTH), ("org-1", MONTH), ("member-2", MONTH)}),
        corrected_seqs=frozenset({earned.seq}),
        entry_ids=frozenset({"e-1", "nope", "unknown"}),
    )

    async with store.batch(COMMUNITY) as tx:
        head = await tx.head()
        loaded = await tx.load(needs)

    state = loaded.state
    assert head.size == earned.seq + 2
    assert set(state.accounts) == {"member-1", "org-1"}
    assert state.balance("member-1") == 60
    assert state.monthly == {("member-1", MONTH): 60, ("org-1", MONTH): 60}
    assert state.originals[earned.seq] == earned
    assert state.reversed_minutes == {earned.seq: (30,)}
    assert state.settings == Settings(member_earning_cap_minutes_per_month=600)
    assert state.community_account == "community"
    assert set(loaded.existing) == {"e-1"} and loaded.existing["e-1"] == earned
    assert set(loaded.failed) == {"nope"}
    assert loaded.failed["nope"][0].code is Rejection.EXCEEDS_BALANCE


async def test_a_load_counts_the_corrections_of_an_entry_below_the_bound_it_is_given(
    store: Store, ledger: Ledger
) -> None:
    *_, earned = await accepted(ledger, *BASE, earn("org-1", "member-1", 90))
    (first,) = await accepted(ledger, correct(earned, 30))
    (second,) = await accepted(ledger, correct(earned, 20))

    def needs(before: int | None) -> Needs:
        seqs = frozenset({earned.seq})
        return Needs(frozenset(), frozenset(), seqs, frozenset(), corrections_before=before)

    every = await store.load(COMMUNITY, needs(None))
    below_second = await store.load(COMMUNITY, needs(second.seq))
    below_first = await store.load(COMMUNITY, needs(first.seq))

    assert every.state.reversed_minutes == {earned.seq: (50,)}
    assert below_second.state.reversed_minutes == {earned.seq: (30,)}
    assert below_first.state.reversed_minutes == {}
    assert below_first.state.originals == {earned.seq: earned}


async def test_a_second_partial_correction_counts_the_first_one_from_the_store(
    store: Store,
) -> None:
    first_writer = a_ledger(store)
    try:
        *_, earned = await accepted(first_writer, *BASE, earn("org-1", "member-1", 90))
        await accepted(first_writer, correct(earned, 30))
    finally:
        await first_writer.close()
    fresh = a_ledger(store)  # nothing in memory: what the first correction left is read
    try:
        over = await fresh.append(COMMUNITY, correct(earned, 61))
        rest = await fresh.append(COMMUNITY, correct(earned, 60))
        more = await fresh.append(COMMUNITY, correct(earned, 1))
    finally:
        await fresh.close()

    assert isinstance(over, Rejected) and over.code is Rejection.CORRECTION_EXCEEDS_ORIGINAL
    assert over.detail == {"original_minutes": 90, "remaining_minutes": 60}
    assert code_of(rest) == "accepted"
    assert isinstance(more, Rejected) and more.code is Rejection.ALREADY_CORRECTED
    member = await store.account(COMMUNITY, "member-1")
    assert member is not None and member.balance_minutes == 0


async def test_partial_corrections_in_successive_batches_add_up_to_at_most_the_original(
    store: Store, ledger: Ledger
) -> None:
    *_, paid = await accepted(
        ledger, *BASE, earn("org-1", "member-1", 120), redeem("member-1", "shop-1", 100)
    )
    refunds = [correct(paid, m) for m in (10, 20, 30, 41, 40, 1)]

    codes = [code_of(await ledger.append(COMMUNITY, r)) for r in refunds]

    assert codes == ["accepted"] * 3 + ["correction_exceeds_original", "accepted"] + [
        "already_corrected"
    ]
    shop = await store.account(COMMUNITY, "shop-1")
    assert shop is not None and shop.balance_minutes == 0


async def test_a_one_step_load_reads_what_a_batch_reads(store: Store, ledger: Ledger) -> None:
    await accepted(ledger, *BASE, configure(member_earning_cap_minutes_per_month=600))
    (earned,) = await accepted(ledger, earn("org-1", "member-1", 90, id="e-1"))
    needs = Needs(
        account_ids=frozenset({"member-1", "org-1", "ghost"}),
        monthly_keys=frozenset({("member-1", MONTH)}),
        corrected_seqs=frozenset({earned.seq}),
        entry_ids=frozenset({"e-1", "unknown"}),
    )

    async with store.reader(COMMUNITY) as tx:
        expected = await tx.load(needs)
    loaded = await store.load(COMMUNITY, needs)

    assert loaded.state.accounts == expected.state.accounts
    assert loaded.state.monthly == expected.state.monthly == {("member-1", MONTH): 90}
    assert loaded.state.originals == expected.state.originals
    assert loaded.existing == expected.existing and set(loaded.existing) == {"e-1"}


async def test_a_write_lands_only_on_the_tip_it_was_assembled_on(
    store: Store, ledger: Ledger
) -> None:
    await accepted(ledger, *BASE)
    head = await store.head(COMMUNITY)
    refused = (Rejected("r-1", Rejection.EXCEEDS_BALANCE, (("balance_minutes", 0),)), b"f" * 32)
    asks_for_it = Needs(frozenset(), frozenset(), frozenset(), frozenset({"r-1"}))

    stale = (head.size - 1, head.last_leaf)
    assert not await store.write_if_tip(COMMUNITY, stale, BatchWrite(rejections=[refused]))
    assert (await store.load(COMMUNITY, asks_for_it)).failed == {}

    tip = (head.size, head.last_leaf)
    assert await store.write_if_tip(COMMUNITY, tip, BatchWrite(rejections=[refused]))
    assert (await store.load(COMMUNITY, asks_for_it)).failed["r-1"] == refused


async def test_a_batch_that_fails_before_writing_leaves_no_trace(
    store: Store, ledger: Ledger
) -> None:
    await accepted(ledger, *BASE)
    before = await store.head(COMMUNITY)

    with pytest.raises(RuntimeError):
        async with store.batch(COMMUNITY) as tx:
            await tx.head()
            raise RuntimeError("the signer is gone")

    after = await store.head(COMMUNITY)
    assert (after.size, after.last_leaf) == (before.size, before.last_leaf)
    assert await accepted(ledger, open_account(a_member("member-9")))


async def test_communities_are_separate_journals(store: Store, ledger: Ledger) -> None:
    await accepted(ledger, *BASE)
    await accepted(ledger, *BASE[:2], community="west")

    assert await store.communities() == [COMMUNITY, "west"]
    assert (await store.head("west")).size == 2
    assert (await store.entries("west", 0, 10))[1].community == "west"
    assert await store.account("west", "member-1") is None


async def test_an_organisations_history_holds_its_opening_its_budgets_and_its_earns(
    store: Store, ledger: Ledger, history_lag: None
) -> None:
    opened = next(i for i, d in enumerate(BASE) if d.account and d.account.id == "org-1")
    await accepted(ledger, *BASE)
    (budget,) = await accepted(ledger, set_budget("org-1", 9_000))
    (earned,) = await accepted(ledger, earn("org-1", "member-1", 60))

    history = [e.seq for e in await store.account_entries(COMMUNITY, "org-1", None, 50)]

    assert history == [earned.seq, budget.seq, opened]


async def test_a_history_page_holds_at_least_one_and_at_most_the_page_limit(
    store: Store, ledger: Ledger, monkeypatch: pytest.MonkeyPatch, history_lag: None
) -> None:
    monkeypatch.setattr(limits, "PAGE_SIZE_MAX", 2)
    await accepted(ledger, *BASE, earn(minutes=1), earn(minutes=2), earn(minutes=3))

    assert len(await store.account_entries(COMMUNITY, "member-1", None, 5)) == 2
    assert len(await store.account_entries(COMMUNITY, "member-1", None, 0)) == 1
