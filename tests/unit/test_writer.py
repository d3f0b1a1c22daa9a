"""The group-commit writer: batching, failure, time, retries within a batch, receipts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from ledger import batch, limits, rules
from ledger.memory import MemoryStore
from ledger.model import Draft, Entry, Rejection
from ledger.receipt import verify_receipt
from ledger.service import Ledger
from ledger.state import LedgerState
from ledger.store import BatchWrite, Head, Loaded, Needs, StoredCheckpoint
from ledger.writer import Appended, LedgerBusy, LedgerUnavailable
from tests.support.builders import (
    COMMUNITY,
    START,
    a_clock,
    a_ledger,
    a_member,
    a_neighbourhood,
    accepted,
    code_of,
    earn,
    open_account,
    transfer,
    with_amount,
)

BASE = a_neighbourhood(members=3, budget_minutes_per_month=600_000)


class FlakyStore:
    """A MemoryStore whose batches fail at writing while ``failing`` is set.

    It can also hold every landing batch until ``gate`` opens, and it counts batches.
    """

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.failing = False
        self.failures_left = 0  # fail this many writes, then succeed
        self.gate: asyncio.Event | None = None
        self.batches = 0
        self.breaking = False  # writes begun while set find an invariant broken

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @asynccontextmanager
    async def batch(self, community: str) -> AsyncIterator[_FlakyTx]:
        self.batches += 1
        async with self.inner.batch(community) as tx:
            yield _FlakyTx(tx, self)

    async def write_if_tip(
        self,
        community: str,
        tip: tuple[int, bytes],
        batch: BatchWrite,
        new_ids: Collection[str] = (),
        new_keys: Collection[str] = (),
    ) -> bool:
        self.batches += 1
        breaking = self.breaking  # as the write began
        if self.gate is not None:
            await self.gate.wait()
        if breaking:
            raise AssertionError("an invariant broke")
        self._maybe_fail()
        written: bool = await self.inner.write_if_tip(community, tip, batch, new_ids, new_keys)
        return written

    def _maybe_fail(self) -> None:
        if self.failing or self.failures_left > 0:
            self.failures_left -= 1
            raise OSError("disk full")


class _FlakyTx:
    def __init__(self, tx: Any, store: FlakyStore) -> None:
        self._tx = tx
        self._store = store

    async def head(self) -> Head:
        if self._store.gate is not None:
            await self._store.gate.wait()
        head: Head = await self._tx.head()
        return head

    async def load(self, needs: Needs) -> Loaded:
        loaded: Loaded = await self._tx.load(needs)
        return loaded

    async def write(self, batch: BatchWrite) -> None:
        self._store._maybe_fail()
        await self._tx.write(batch)


async def checkpoint_count(store: Any) -> int:
    return len(await store.checkpoints(COMMUNITY, 0, 1_000_000))


async def a_batch_held_at_the_gate() -> tuple[FlakyStore, asyncio.Event, Ledger, Any]:
    """A ledger whose first batch after the neighbourhood's is being written, held at
    its store's gate (setting the gate lets it land), and that append's future."""
    store = FlakyStore()
    ledger = a_ledger(store)  # type: ignore[arg-type]
    await accepted(ledger, *BASE)
    store.gate = gate = asyncio.Event()
    first = asyncio.ensure_future(ledger.append(COMMUNITY, open_account(a_member("m-1"))))
    for _ in range(5):
        await asyncio.sleep(0)
    return store, gate, ledger, first


# Failure.


async def test_a_failing_write_fails_every_caller_of_its_batch_and_acknowledges_nothing() -> None:
    store = FlakyStore()
    ledger = a_ledger(store)  # type: ignore[arg-type]
    await accepted(ledger, *BASE, earn("org-1", "member-1", 600))
    size_before = (await store.head(COMMUNITY)).size
    batches_before = store.batches
    drafts = [transfer("member-1", "member-2", 60, id=f"t-{n}") for n in range(5)]
    store.failing = True

    results = await asyncio.gather(
        *(ledger.append(COMMUNITY, d) for d in drafts), return_exceptions=True
    )

    assert store.batches == batches_before + 1, "the five drafts should share one batch"
    assert all(isinstance(r, LedgerUnavailable) for r in results), results
    assert (await store.head(COMMUNITY)).size == size_before
    assert [await store.entry_by_id(COMMUNITY, d.id) for d in drafts] == [None] * 5
    await ledger.close()


async def test_the_writer_serves_the_next_batch_after_a_failed_one() -> None:
    store = FlakyStore()
    ledger = a_ledger(store)  # type: ignore[arg-type]
    await accepted(ledger, *BASE, earn("org-1", "member-1", 600))
    size_before = (await store.head(COMMUNITY)).size
    draft = transfer("member-1", "member-2", 60, id="t-1")
    store.failing = True
    with pytest.raises(LedgerUnavailable):
        await ledger.append(COMMUNITY, draft)
    store.failing = False

    result = await ledger.append(COMMUNITY, draft)

    assert isinstance(result, Appended)
    assert result.accepted.retried is False, "the failed attempt must have left no trace"
    assert result.entry.seq == size_before
    await ledger.close()


async def test_a_writer_that_finds_the_tree_disagreeing_with_its_checkpoint_stops() -> None:
    store = MemoryStore()
    await accepted(a_ledger(store), *BASE)
    journal = store._journal(COMMUNITY)  # the last signed root no longer matches the tree
    last = journal.checkpoints[-1]
    journal.checkpoints[-1] = StoredCheckpoint(last.size, bytes(32), last.note)
    ledger = a_ledger(store)

    with pytest.raises(LedgerUnavailable):
        await ledger.append(COMMUNITY, open_account(a_member("member-9")))
    with pytest.raises(LedgerUnavailable):
        await ledger.append(COMMUNITY, open_account(a_member("member-10")))

    assert (await store.head(COMMUNITY)).size == len(BASE)
    await ledger.close()


async def test_a_batch_assembled_before_the_writer_stopped_is_never_written() -> None:
    store = FlakyStore()
    ledger = a_ledger(store)  # type: ignore[arg-type]
    await accepted(ledger, *BASE)
    size_before = (await store.head(COMMUNITY)).size
    store.gate, store.breaking = asyncio.Event(), True
    first = asyncio.ensure_future(ledger.append(COMMUNITY, open_account(a_member("m-1"))))
    for _ in range(5):  # m-1's batch is being written, held at the gate
        await asyncio.sleep(0)
    second = asyncio.ensure_future(ledger.append(COMMUNITY, open_account(a_member("m-2"))))
    for _ in range(5):  # m-2's batch is assembled and handed on, waiting its turn
        await asyncio.sleep(0)
    store.breaking = False  # only m-1's write finds the invariant broken

    store.gate.set()
    results = await asyncio.gather(first, second, return_exceptions=True)

    assert all(isinstance(r, LedgerUnavailable) for r in results), results
    assert (await store.head(COMMUNITY)).size == size_before
    await ledger.close()


async def test_a_batch_assembled_on_one_that_then_fails_is_checked_again() -> None:
    store = FlakyStore()
    ledger = a_ledger(store)  # type: ignore[arg-type]
    await accepted(ledger, *BASE, earn("org-1", "member-1", 60))
    store.gate, store.failures_left = asyncio.Event(), 1
    first = asyncio.ensure_future(ledger.append(COMMUNITY, transfer(minutes=60, id="t-1")))
    for _ in range(5):  # t-1 is assembled and held at the gate
        await asyncio.sleep(0)
    second = asyncio.ensure_future(ledger.append(COMMUNITY, transfer(minutes=60, id="t-2")))
    for _ in range(5):  # t-2 is assembled on t-1 having spent the 60 minutes
        await asyncio.sleep(0)

    store.gate.set()
    results = await asyncio.gather(first, second, return_exceptions=True)

    assert isinstance(results[0], LedgerUnavailable)
    assert code_of(results[1]) == "accepted", "t-2 must be checked against what was committed"
    assert (await store.account(COMMUNITY, "member-1")).balance_minutes == 0
    await ledger.close()


async def test_a_rejection_whose_batch_failed_is_decided_again_and_kept_by_the_next_batch() -> None:
    # A batch of rejections only leaves the journal's head where it was, so the
    # next batch cannot tell from the head alone that it failed.
    store = FlakyStore()
    ledger = a_ledger(store)  # type: ignore[arg-type]
    await accepted(ledger, *BASE)
    store.gate, store.failures_left = asyncio.Event(), 1
    first = asyncio.ensure_future(ledger.append(COMMUNITY, transfer(minutes=60, id="t-1")))
    for _ in range(5):  # t-1 is assembled (rejected: no balance) and held at the gate
        await asyncio.sleep(0)
    again = asyncio.ensure_future(ledger.append(COMMUNITY, transfer(minutes=60, id="t-1")))
    funds = asyncio.ensure_future(ledger.append(COMMUNITY, earn("org-1", "member-1", 60)))
    for _ in range(5):  # the retry and the earn are assembled on the failing batch
        await asyncio.sleep(0)
    store.gate.set()
    results = await asyncio.gather(first, again, funds, return_exceptions=True)
    assert isinstance(results[0], LedgerUnavailable)
    assert code_of(results[1]) == "exceeds_balance"

    third = await ledger.append(COMMUNITY, transfer(minutes=60, id="t-1"))

    assert code_of(third) == "exceeds_balance", "the retry's rejection must have been stored"
    await ledger.close()


# Batching.


async def test_concurrent_appends_are_committed_in_fewer_batches_than_entries() -> None:
    store = MemoryStore()
    ledger = a_ledger(store)
    await accepted(ledger, *BASE)
    before = await checkpoint_count(store)
    drafts = [open_account(a_member(f"m-{n}")) for n in range(50)]

    results = await asyncio.gather(*(ledger.append(COMMUNITY, d) for d in drafts))

    assert all(isinstance(r, Appended) for r in results)
    added = await checkpoint_count(store) - before
    assert 1 <= added < len(drafts)
    await ledger.close()


async def test_a_batch_closes_at_its_maximum_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "BATCH_SIZE_MAX", 4)
    store = MemoryStore()
    ledger = a_ledger(store)
    await accepted(ledger, *BASE)
    before = await checkpoint_count(store)

    await asyncio.gather(
        *(ledger.append(COMMUNITY, open_account(a_member(f"m-{n}"))) for n in range(10))
    )

    assert await checkpoint_count(store) - before == 3  # 4 + 4 + 2
    await ledger.close()


async def test_drafts_arriving_while_a_batch_is_written_go_together_into_the_next() -> None:
    store, gate, ledger, first = await a_batch_held_at_the_gate()
    written = store.batches
    second = asyncio.ensure_future(ledger.append(COMMUNITY, open_account(a_member("m-2"))))
    for _ in range(2):  # the writer has taken the second draft
        await asyncio.sleep(0)
    # A request read a turn later (or a draft another process forwards) still joins it.
    third = asyncio.ensure_future(ledger.append(COMMUNITY, open_account(a_member("m-3"))))
    for _ in range(limits.GATHER_TURNS_MAX + 5):
        await asyncio.sleep(0)
    gate.set()

    one, two, three = await asyncio.gather(first, second, third)

    assert isinstance(one, Appended)
    assert isinstance(two, Appended) and isinstance(three, Appended)
    assert two.entry.seq + 1 == three.entry.seq
    assert store.batches - written == 1, "the second and third drafts were written apart"
    await ledger.close()


async def test_a_draft_with_no_batch_being_written_is_taken_at_once() -> None:
    ledger = a_ledger(MemoryStore())
    await accepted(ledger, *BASE)
    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    counting = asyncio.ensure_future(count_turns())
    result = await ledger.append(COMMUNITY, open_account(a_member("m-9")))
    counting.cancel()

    assert isinstance(result, Appended)
    assert turns < limits.GATHER_TURNS_MAX + 3, f"a lone draft waited {turns} turns"
    await ledger.close()


async def test_a_lone_append_is_answered_without_waiting_for_a_timer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger = a_ledger(MemoryStore())
    await accepted(ledger, *BASE)
    loop = asyncio.get_running_loop()
    timers: list[float] = []
    call_at = loop.call_at

    def spy(when: float, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        timers.append(when - loop.time())
        return call_at(when, *args, **kwargs)

    monkeypatch.setattr(loop, "call_at", spy)

    result = await ledger.append(COMMUNITY, open_account(a_member("member-9")))

    assert isinstance(result, Appended)
    assert timers == [], f"the append waited on timers of {timers} s"
    await ledger.close()


async def test_a_full_queue_refuses_more_drafts_with_a_retryable_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(limits, "QUEUE_LENGTH_MAX", 3)
    store = FlakyStore()
    ledger = a_ledger(store)  # type: ignore[arg-type]
    await accepted(ledger, *BASE)
    store.gate = asyncio.Event()
    held = asyncio.ensure_future(ledger.append(COMMUNITY, open_account(a_member("m-0"))))
    await asyncio.sleep(0)  # the writer takes m-0 and waits at the gate
    await asyncio.sleep(0)
    waiting = [
        asyncio.ensure_future(ledger.append(COMMUNITY, open_account(a_member(f"m-{n}"))))
        for n in range(1, 4)
    ]
    await asyncio.sleep(0)

    with pytest.raises(LedgerBusy):
        await ledger.append(COMMUNITY, open_account(a_member("m-4")))

    store.gate.set()
    results = await asyncio.gather(held, *waiting)
    assert [code_of(r) for r in results] == ["accepted"] * 4
    await ledger.close()


# Time.


async def test_entry_times_never_go_back_even_when_the_clock_does() -> None:
    clock = a_clock()
    ledger = a_ledger(MemoryStore(), clock=clock)
    [first] = await accepted(ledger, open_account(a_member("member-1")))
    clock.set(START - timedelta(days=40))

    [second] = await accepted(ledger, open_account(a_member("member-2")))
    clock.set(START + timedelta(seconds=1))
    [third] = await accepted(ledger, open_account(a_member("member-3")))

    assert second.time == first.time
    assert third.time == "2026-11-28T09:30:01.000000Z"
    await ledger.close()


async def test_an_entry_records_the_clock_time_of_its_batch() -> None:
    clock = a_clock()
    ledger = a_ledger(MemoryStore(), clock=clock)
    clock.advance(microseconds=123456)

    [entry] = await accepted(ledger, open_account(a_member("member-1")))

    assert entry.time == "2026-11-28T09:30:00.123456Z"
    assert entry.month == "2026-11"
    await ledger.close()


# Retries inside one batch are answered as retries in later batches are.

X = transfer("member-1", "member-2", 60, id="x")
Y = transfer("member-1", "member-2", 700, id="y")  # more than member-1 holds


@pytest.mark.parametrize(
    ("before", "drafts", "expected"),
    [
        ([], [X, X], ["accepted", "retried"]),
        ([], [X, with_amount(X, 61)], ["accepted", "exists_with_different_amount"]),
        ([], [Y, Y], ["exceeds_balance", "exceeds_balance"]),
        ([], [Y, with_amount(Y, 60)], ["exceeds_balance", "id_already_failed"]),
        ([X], [with_amount(X, 61), X], ["exists_with_different_amount", "retried"]),
        ([Y], [with_amount(Y, 60), Y], ["id_already_failed", "exceeds_balance"]),
        (
            [],
            [Y, with_amount(Y, 60), Y],
            ["exceeds_balance", "id_already_failed", "exceeds_balance"],
        ),
    ],
    ids=[
        "accepted then same",
        "accepted then different",
        "rejected then same",
        "rejected then different",
        "stored: different then same",
        "stored failure: different then same",
        "rejected, different, same",
    ],
)
async def test_retries_in_one_batch_are_answered_as_in_separate_batches(
    before: list[Draft], drafts: list[Draft], expected: list[str]
) -> None:
    together, one_by_one = a_ledger(MemoryStore()), a_ledger(MemoryStore())
    setup = [*BASE, earn("org-1", "member-1", 600)]
    for ledger in (together, one_by_one):
        await accepted(ledger, *setup)
        for draft in before:
            await ledger.append(COMMUNITY, draft)

    batched = await asyncio.gather(*(together.append(COMMUNITY, d) for d in drafts))
    serial = [await one_by_one.append(COMMUNITY, d) for d in drafts]

    assert [code_of(r) for r in serial] == expected
    assert [code_of(r) for r in batched] == expected
    await together.close()
    await one_by_one.close()


async def test_drafts_in_one_batch_are_checked_in_the_order_they_arrived() -> None:
    ledger = a_ledger(MemoryStore())
    await accepted(ledger, *BASE, earn("org-1", "member-1", 120))

    results = await asyncio.gather(
        *(
            ledger.append(COMMUNITY, transfer("member-1", "member-2", 60, id=f"t-{n}"))
            for n in range(3)
        )
    )

    assert [code_of(r) for r in results] == ["accepted", "accepted", "exceeds_balance"]
    assert [r.entry.seq for r in results[:2]] == [len(BASE) + 1, len(BASE) + 2]  # type: ignore[union-attr]
    await ledger.close()


async def test_a_shape_rejection_never_reaches_the_store() -> None:
    store = FlakyStore()
    ledger = a_ledger(store)  # type: ignore[arg-type]
    await accepted(ledger, *BASE)
    batches = store.batches

    result = await ledger.append(COMMUNITY, transfer(minutes=0))

    assert code_of(result) == Rejection.AMOUNT_MUST_BE_POSITIVE.value
    assert store.batches == batches
    await ledger.close()


# Receipts.


async def test_an_appended_entry_comes_with_a_receipt_that_verifies_offline() -> None:
    ledger = a_ledger(MemoryStore())
    await accepted(ledger, *BASE)

    results = await asyncio.gather(
        *(ledger.append(COMMUNITY, open_account(a_member(f"m-{n}"))) for n in range(7))
    )

    origin = await ledger.origin(COMMUNITY)
    for result in results:
        assert isinstance(result, Appended)
        receipt = result.receipt()
        assert receipt is not None
        checkpoint = verify_receipt(
            receipt, result.entry.data, ledger.verifier, expected_origin=origin
        )
        assert checkpoint.size == len(BASE) + 7
    await ledger.close()


async def test_a_retry_from_an_earlier_batch_gets_its_receipt_from_the_store() -> None:
    ledger = a_ledger(MemoryStore())
    draft = open_account(a_member("member-9"), id="open-9")
    await accepted(ledger, *BASE, draft, open_account(a_member("member-10")))

    retry = await ledger.append(COMMUNITY, replace(draft))
    receipt = await ledger.receipt(COMMUNITY, "open-9")

    assert isinstance(retry, Appended) and retry.receipt() is None
    checkpoint = verify_receipt(receipt, retry.entry.data, ledger.verifier)
    assert checkpoint.size == len(BASE) + 2
    await ledger.close()


# Closing.


async def test_closing_lets_the_batch_being_written_finish_and_answers_every_caller() -> None:
    store, gate, ledger, first = await a_batch_held_at_the_gate()
    second = asyncio.ensure_future(ledger.append(COMMUNITY, open_account(a_member("m-2"))))
    for _ in range(5):  # the second batch is assembled and waits for the first to land
        await asyncio.sleep(0)

    closing = asyncio.ensure_future(ledger.close())
    await asyncio.sleep(0)
    gate.set()
    await asyncio.wait_for(closing, timeout=5)
    _, pending = await asyncio.wait([first, second], timeout=5)

    assert not pending, "a caller was left waiting for an answer that never comes"
    assert code_of(first.result()) == "accepted"
    assert await store.entry_by_id(COMMUNITY, first.result().entry.id) is not None
    if second.exception() is None:
        assert code_of(second.result()) == "accepted"
    else:
        assert isinstance(second.exception(), LedgerUnavailable)


async def test_a_journal_keeps_its_first_origin_when_the_public_address_changes() -> None:
    store = MemoryStore()
    first = a_ledger(store, host="buurtmunt.example")
    await accepted(first, *BASE)
    await first.close()
    moved = Ledger(store, first.signer, "buurtmunt.example:8010", a_clock())

    result = await moved.append(COMMUNITY, earn("org-1", "member-1", 60))

    assert isinstance(result, Appended) and result.checkpoint is not None
    assert result.checkpoint.note.startswith(f"buurtmunt.example/{COMMUNITY}\n")
    assert await moved.origin(COMMUNITY) == f"buurtmunt.example/{COMMUNITY}"
    await moved.close()


# After each batch the writer asserts what the rules promise: the batch's postings
# make and lose no minutes, and every account it touched holds its floor. A rule
# step that broke either stops the writer before anything is written.


def _admit_without_checks(state: LedgerState, entry: Entry) -> None:
    rules.apply(state, entry)


def _admit_and_mint_a_minute(state: LedgerState, entry: Entry) -> None:
    rules.apply(state, entry)
    for posting in entry.draft.postings:
        state.accounts[posting.payee].balance_minutes += 1


@pytest.mark.parametrize(
    ("broken_admit", "draft"),
    [
        (_admit_without_checks, transfer("member-1", "member-2", 10_000)),
        (_admit_and_mint_a_minute, transfer("member-1", "member-2", 10)),
    ],
    ids=["an overdraft let through", "a minute made from nothing"],
)
async def test_a_batch_that_breaks_a_floor_or_makes_minutes_stops_the_writer_unwritten(
    monkeypatch: pytest.MonkeyPatch, broken_admit: object, draft: Draft
) -> None:
    store = MemoryStore()
    ledger = a_ledger(store)
    await accepted(ledger, *BASE, earn("org-1", "member-1", 60))
    size = (await store.head(COMMUNITY)).size
    monkeypatch.setattr(batch, "admit", broken_admit)

    with pytest.raises(LedgerUnavailable):
        await ledger.append(COMMUNITY, draft)

    assert (await store.head(COMMUNITY)).size == size
    await ledger.close()
