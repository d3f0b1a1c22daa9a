"""A store's companion: another layer's writes in the journal batch's own transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from ledger.model import Entry
from ledger.sql.journal import Db, native
from ledger.sql.migrate import upgrade
from ledger.sql.store import SqlStore
from ledger.store import Refused
from ledger.writer import Appended, LedgerUnavailable
from tests.support.builders import COMMUNITY, a_ledger, a_neighbourhood, accepted, earn

COUNT = "SELECT count(*) FROM journal_entries WHERE community = ?"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    sql = SqlStore.from_url(database_url)
    await upgrade(sql.engine)
    try:
        yield sql
    finally:
        await sql.close()


async def test_a_companion_sees_every_new_entry_inside_the_transaction_that_writes_it(
    store: SqlStore,
) -> None:
    seen: list[tuple[list[str], int]] = []

    def companion(db: Db, community: str, entries: Sequence[Entry]) -> set[str]:
        assert community == COMMUNITY
        journal_size = int(db.rows(native(db, COUNT), (community,))[0][0])
        seen.append(([e.id for e in entries], journal_size))
        return set()

    store.also_write(companion)
    ledger = a_ledger(store)
    try:
        setup = await accepted(ledger, *a_neighbourhood(members=2))
        results = await asyncio.gather(
            *(ledger.append(COMMUNITY, earn("org-1", "member-1", 15)) for _ in range(20))
        )
    finally:
        await ledger.close()

    written = [e.id for e in setup] + [r.entry.id for r in results if isinstance(r, Appended)]
    assert [entry_id for ids, _ in seen for entry_id in ids] == written
    assert all(size == seq_end for (_, size), seq_end in zip(seen, _ends(seen), strict=True)), (
        "each batch's companion runs after the batch's entries are written, before it commits"
    )


def _ends(seen: list[tuple[list[str], int]]) -> list[int]:
    ends, total = [], 0
    for ids, _ in seen:
        total += len(ids)
        ends.append(total)
    return ends


async def test_a_batch_whose_companion_fails_is_not_written(store: SqlStore) -> None:
    failing = False

    def companion(db: Db, community: str, entries: Sequence[Entry]) -> set[str]:
        if failing:
            raise RuntimeError("the companion's table is gone")
        return set()

    store.also_write(companion)
    ledger = a_ledger(store)
    try:
        await accepted(ledger, *a_neighbourhood(members=1))
        size_before = (await store.head(COMMUNITY)).size
        failing = True
        with pytest.raises(LedgerUnavailable):
            await ledger.append(COMMUNITY, earn("org-1", "member-1", 15, id="lost"))
    finally:
        await ledger.close()

    assert await store.entry_by_id(COMMUNITY, "lost") is None
    assert (await store.head(COMMUNITY)).size == size_before


async def test_entries_the_companion_refuses_are_left_out_and_the_rest_of_their_batch_is_written(
    store: SqlStore,
) -> None:
    refusing = {f"refused-{n}" for n in range(5)}
    batches: list[list[str]] = []

    def companion(db: Db, community: str, entries: Sequence[Entry]) -> set[str]:
        batches.append([e.id for e in entries])
        return {e.id for e in entries} & refusing

    store.also_write(companion)
    ledger = a_ledger(store)
    try:
        await accepted(ledger, *a_neighbourhood(members=2))
        size_before = (await store.head(COMMUNITY)).size
        ids = [f"refused-{n}" if n % 4 == 0 else f"kept-{n}" for n in range(20)]
        results = await asyncio.gather(
            *(ledger.append(COMMUNITY, earn("org-1", "member-1", 15, id=i)) for i in ids),
            return_exceptions=True,
        )
        after = await ledger.append(COMMUNITY, earn("org-1", "member-2", 15, id="after"))
    finally:
        await ledger.close()

    outcomes = dict(zip(ids, results, strict=True))
    assert all(isinstance(outcomes[i], Refused) for i in ids if i in refusing)
    kept = [i for i in ids if i not in refusing]
    assert all(isinstance(outcomes[i], Appended) for i in kept)
    assert isinstance(after, Appended)
    for entry_id in refusing:
        assert await store.entry_by_id(COMMUNITY, entry_id) is None
    assert (await store.head(COMMUNITY)).size == size_before + len(kept) + 1
    assert any(set(batch) & refusing for batch in batches), "the companion saw them"
