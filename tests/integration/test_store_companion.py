"""A store's companion: another layer's writes in the journal batch's own transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from ledger.model import Entry
from ledger.sql.journal import Db, native
from ledger.sql.migrate import upgrade
from ledger.sql.store import SqlStore
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

    def companion(db: Db, community: str, entries: Sequence[Entry]) -> None:
        assert community == COMMUNITY
        journal_size = int(db.rows(native(db, COUNT), (community,))[0][0])
        seen.append(([e.id for e in entries], journal_size))

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

    def companion(db: Db, community: str, entries: Sequence[Entry]) -> None:
        if failing:
            raise RuntimeError("the companion's table is gone")

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
