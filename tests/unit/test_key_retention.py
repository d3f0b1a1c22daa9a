"""Old idempotency keys are forgotten after the retention window, newer ones kept."""

from __future__ import annotations

from dataclasses import replace

from api.key_retention import KeyRetention
from ledger.ids import new_entry_id
from ledger.memory import MemoryStore
from tests.support.builders import (
    COMMUNITY,
    a_clock,
    a_ledger,
    a_neighbourhood,
    accepted,
    earn,
    transfer,
)


async def test_keys_older_than_the_window_are_forgotten_and_newer_ones_kept() -> None:
    store, clock = MemoryStore(), a_clock()
    ledger = a_ledger(store, clock=clock)
    await accepted(ledger, *a_neighbourhood(members=2), earn("org-1", "member-1", 600))
    await accepted(ledger, replace(transfer(id=new_entry_id()), key="old"))
    clock.advance(days=20)
    await accepted(ledger, replace(transfer(id=new_entry_id()), key="new"))
    await ledger.close()
    clock.advance(days=15)  # "old" is 35 days old, "new" 15

    forgotten = await KeyRetention(store, clock, days=30).prune()
    again = await KeyRetention(store, clock, days=30).prune()

    assert (forgotten, again) == (1, 0)
    assert await store.entry_by_key(COMMUNITY, "old") is None
    assert await store.entry_by_key(COMMUNITY, "new") is not None
