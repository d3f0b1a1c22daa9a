"""An account's history is indexed behind the journal, on both engines.

``account_history`` gets an entry's accounts once ``limits.HISTORY_LAG_MAX``
entries are unindexed, in the transaction of the batch that reaches the lag; the
history read scans what is newer than the mark. The contract suite checks what a
history read returns at every lag; these tests check that the index is really
written, and that upgrading a database from before it indexes what is there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from ledger import limits
from ledger.sql.migrate import MIGRATIONS, alembic_config, upgrade
from ledger.sql.store import SqlStore
from tests.support.builders import COMMUNITY, a_ledger, a_neighbourhood, accepted, earn, transfer


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    store = SqlStore.from_url(database_url)
    await upgrade(store.engine)
    yield store
    await store.close()


async def indexed(store: SqlStore) -> tuple[int, list[tuple[str, int]]]:
    """The mark and every (account, seq) pair in the index."""
    async with store.engine.connect() as conn:
        mark = await conn.scalar(
            text("SELECT indexed_size FROM account_history_marks WHERE community = :c"),
            {"c": COMMUNITY},
        )
        rows = await conn.execute(
            text("SELECT account, seq FROM account_history WHERE community = :c ORDER BY 1, 2"),
            {"c": COMMUNITY},
        )
        return int(mark or 0), [(r.account, int(r.seq)) for r in rows]


async def named_pairs(store: SqlStore, below: int) -> list[tuple[str, int]]:
    """What the index must hold below ``below``: each entry's from and to accounts."""
    async with store.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT from_account, to_account, seq FROM journal_entries "
                "WHERE community = :c AND seq < :s"
            ),
            {"c": COMMUNITY, "s": below},
        )
        return sorted(
            (account, int(r.seq)) for r in rows for account in (r[0], r[1]) if account is not None
        )


async def test_the_index_catches_up_once_the_lag_is_reached_and_not_before(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "HISTORY_LAG_MAX", 5)
    ledger = a_ledger(store)
    base = a_neighbourhood()
    await accepted(ledger, *base)  # one batch per draft: indexed whenever 5 are behind
    size = (await store.head(COMMUNITY)).size

    mark, pairs = await indexed(store)

    assert size - 5 < mark <= size, "the index trails by fewer than HISTORY_LAG_MAX entries"
    assert pairs == await named_pairs(store, mark)
    await accepted(ledger, *[earn("org-1", "member-1", 1) for _ in range(4)])
    assert (await indexed(store))[0] == mark, "4 new entries are fewer than the lag"
    await accepted(ledger, earn("org-1", "member-1", 1))
    mark_after, pairs_after = await indexed(store)
    await ledger.close()
    assert mark_after == (await store.head(COMMUNITY)).size
    assert pairs_after == await named_pairs(store, mark_after)


async def test_a_lag_longer_than_the_journal_leaves_the_index_empty(store: SqlStore) -> None:
    ledger = a_ledger(store)
    await accepted(ledger, *a_neighbourhood(), earn("org-1", "member-1", 60))
    await ledger.close()

    assert await indexed(store) == (0, [])
    history = await store.account_entries(COMMUNITY, "member-1", None, 10)
    assert len(history) == 2, "opened and earned, read from the unindexed entries"


def _downgrade_to_the_first_schema(conn: Connection) -> None:
    config = alembic_config(MIGRATIONS, "alembic_version_ledger")
    config.attributes["connection"] = conn
    command.downgrade(config, "0001_journal")


async def test_upgrading_a_journal_from_before_the_index_indexes_all_of_it(
    store: SqlStore,
) -> None:
    ledger = a_ledger(store)
    await accepted(ledger, *a_neighbourhood(), earn("org-1", "member-1", 60))
    await accepted(ledger, transfer("member-1", "member-2", 30))
    await ledger.close()
    size = (await store.head(COMMUNITY)).size
    before = [e.seq for e in await store.account_entries(COMMUNITY, "member-1", None, 50)]
    async with store.engine.begin() as conn:
        await conn.run_sync(_downgrade_to_the_first_schema)

    await upgrade(store.engine)

    assert await indexed(store) == (size, await named_pairs(store, size))
    after = [e.seq for e in await store.account_entries(COMMUNITY, "member-1", None, 50)]
    assert after == before
    assert len(after) == 3


async def test_an_emptied_index_is_rebuilt_whole_by_the_next_batch(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What docs/operations.md tells an operator to do with a damaged index."""
    monkeypatch.setattr(limits, "HISTORY_LAG_MAX", 3)
    ledger = a_ledger(store)
    await accepted(ledger, *a_neighbourhood(), earn("org-1", "member-1", 60))
    async with store.engine.begin() as conn:
        await conn.execute(text("DELETE FROM account_history"))
        await conn.execute(text("DELETE FROM account_history_marks"))

    await accepted(ledger, transfer("member-1", "member-2", 30))
    await ledger.close()

    size = (await store.head(COMMUNITY)).size
    assert await indexed(store) == (size, await named_pairs(store, size))
