"""The checkpoint cadence: when the writer signs, the timer, close, recovery, receipts."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from ledger.cadence import Cadence
from ledger.memory import MemoryStore
from ledger.merkle import verify_consistency
from ledger.receipt import verify_receipt
from ledger.service import Ledger, ReceiptPending
from ledger.writer import Appended
from tests.support.builders import (
    COMMUNITY,
    a_ledger,
    a_neighbourhood,
    accepted,
    earn,
)

BASE = a_neighbourhood(members=2, budget_minutes_per_month=600_000)
# Long enough that no slow machine reaches it inside a test, unless the test waits.
LONG = Cadence(interval_seconds=60)
SHORT = Cadence(interval_seconds=0.2)


async def signed_sizes(store: Any) -> list[int]:
    return [c.size for c in await store.checkpoints(COMMUNITY, 0, 1_000_000)]


async def size_of(store: Any) -> int:
    return int((await store.head(COMMUNITY)).size)


def earns(count: int, tag: str = "e") -> list[Any]:
    return [earn("org-1", "member-1", 1, id=f"{tag}-{n}") for n in range(count)]


def test_a_cadence_is_due_after_its_interval_or_its_step() -> None:
    cadence = Cadence(interval_seconds=1.0, entries_step=100)

    assert not cadence.due(0.5, 99)
    assert cadence.due(1.0, 1)
    assert cadence.due(0.0, 100)
    assert Cadence(interval_seconds=0).due(0.0, 1)  # every batch


async def test_batches_within_the_interval_after_the_first_sign_nothing() -> None:
    store = MemoryStore()
    ledger = a_ledger(store, cadence=LONG)
    try:
        await accepted(ledger, *BASE)  # one at a time: a batch each
        first = await signed_sizes(store)
        await accepted(ledger, *earns(5))

        assert first == [1]  # the first batch signs whatever was left unsigned
        assert await signed_sizes(store) == [1]
        assert await size_of(store) == len(BASE) + 5
    finally:
        await ledger.close()


async def test_the_timer_signs_the_head_once_the_interval_has_passed() -> None:
    store = MemoryStore()
    ledger = a_ledger(store, cadence=SHORT)
    try:
        await accepted(ledger, *BASE, *earns(3))
        before = await signed_sizes(store)
        await asyncio.sleep(SHORT.interval_seconds * 3)

        assert before[-1] < await size_of(store)
        assert (await signed_sizes(store))[-1] == await size_of(store)
    finally:
        await ledger.close()


async def test_a_batch_after_the_interval_signs_its_own_head() -> None:
    store = MemoryStore()
    ledger = a_ledger(store, cadence=SHORT)
    try:
        await accepted(ledger, *BASE)
        await asyncio.sleep(SHORT.interval_seconds * 3)  # the timer signs the rest
        signed = len(await signed_sizes(store))
        results = await accepted(ledger, earn("org-1", "member-1", 1, id="late"))

        assert len(results) == 1
        assert len(await signed_sizes(store)) == signed + 1
        assert (await signed_sizes(store))[-1] == await size_of(store)
    finally:
        await ledger.close()


async def test_a_batch_that_leaves_a_step_of_entries_unsigned_signs() -> None:
    store = MemoryStore()
    ledger = a_ledger(store, cadence=Cadence(interval_seconds=60, entries_step=4))
    try:
        await accepted(ledger, *BASE, *earns(8))

        sizes = await signed_sizes(store)
        assert sizes[0] == 1 and len(sizes) >= 3
        assert all(b - a <= 4 for a, b in itertools.pairwise(sizes))
    finally:
        await ledger.close()


async def test_closing_signs_the_head() -> None:
    store = MemoryStore()
    ledger = a_ledger(store, cadence=LONG)
    await accepted(ledger, *BASE, *earns(3))
    assert (await signed_sizes(store))[-1] < await size_of(store)

    await ledger.close()

    assert (await signed_sizes(store))[-1] == await size_of(store)


async def test_the_next_start_signs_a_tail_a_crash_left_unsigned() -> None:
    store = MemoryStore()
    crashed = a_ledger(store, cadence=LONG)
    await accepted(crashed, *BASE, *earns(3))
    # The process dies: its writer never closes. (Its tasks are idle.)
    head = await store.head(COMMUNITY)
    assert head.checkpoint is not None and head.checkpoint.size < head.size
    assert head.signed_proof is not None and verify_consistency(
        head.checkpoint.size,
        head.size,
        head.signed_proof,
        head.checkpoint.root,
        head.frontier.root(),
    )

    started = Ledger(store, crashed.signer, crashed.host, cadence=LONG)
    try:
        assert await started.sign_unsigned() == 1
        assert await started.sign_unsigned() == 0  # nothing left to sign
    finally:
        await started.close()

    assert (await signed_sizes(store))[-1] == head.size


async def test_an_entry_no_checkpoint_covers_has_a_pending_receipt() -> None:
    store = MemoryStore()
    ledger = a_ledger(store, cadence=LONG)
    try:
        await accepted(ledger, *BASE)
        last = BASE[-1].id

        with pytest.raises(ReceiptPending) as pending:
            await ledger.receipt(COMMUNITY, last)
        waited = await ledger.covering_checkpoint(COMMUNITY, len(BASE), 0.05)

        assert pending.value.seq == len(BASE) - 1
        assert waited is None
    finally:
        await ledger.close()


async def test_waiters_for_a_receipt_share_the_next_checkpoint() -> None:
    store = MemoryStore()
    ledger = a_ledger(store, cadence=SHORT)
    try:
        results = await accepted(ledger, *BASE, *earns(3))
        size = await size_of(store)

        waits = [ledger.covering_checkpoint(COMMUNITY, size, 5.0) for _ in range(10)]
        found = await asyncio.gather(*waits)
        receipt = await ledger.receipt(COMMUNITY, results[-1].id)

        assert len({c.size for c in found if c is not None}) == 1
        assert found[0] is not None and found[0].size == size
        assert verify_receipt(receipt, results[-1].data, ledger.verifier).size == size
    finally:
        await ledger.close()


async def test_an_unsigned_append_has_no_receipt_of_its_own() -> None:
    ledger = a_ledger(MemoryStore(), cadence=LONG)
    try:
        await accepted(ledger, *BASE[:1])
        result = await ledger.append(COMMUNITY, BASE[1])

        assert isinstance(result, Appended) and result.checkpoint is None
        assert result.receipt() is None
    finally:
        await ledger.close()
