"""The database itself refuses to change or remove journal entries and checkpoints.

A direct UPDATE or DELETE (and on PostgreSQL a TRUNCATE) on ``journal_entries``
or ``checkpoints`` fails on both engines, and the rows are unchanged afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ledger.sql.migrate import upgrade
from ledger.sql.store import SqlStore
from tests.support.builders import COMMUNITY, a_ledger, a_neighbourhood, accepted, earn


async def _filled(url: str) -> AsyncIterator[SqlStore]:
    store = SqlStore.from_url(url)
    await upgrade(store.engine)
    ledger = a_ledger(store)
    await accepted(ledger, *a_neighbourhood(), earn("org-1", "member-1", 60))
    await ledger.close()
    yield store
    await store.close()


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    async for store in _filled(database_url):
        yield store


async def snapshot(store: SqlStore, table: str) -> list[Any]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2"))
        return [tuple(row) for row in rows]


async def attempt(store: SqlStore, statement: str) -> DBAPIError:
    with pytest.raises(DBAPIError) as raised:
        async with store.engine.begin() as conn:
            await conn.execute(text(statement))
    return raised.value


STATEMENTS = [
    ("journal_entries", "UPDATE journal_entries SET data = leaf WHERE seq = 0"),
    ("journal_entries", "UPDATE journal_entries SET time = '2000-01-01T00:00:00.000000Z'"),
    ("journal_entries", "DELETE FROM journal_entries WHERE seq = 0"),
    ("journal_entries", "DELETE FROM journal_entries"),
    ("checkpoints", "UPDATE checkpoints SET root = root WHERE size = 1"),
    ("checkpoints", "UPDATE checkpoints SET note = 'forged'"),
    ("checkpoints", "DELETE FROM checkpoints WHERE size = 1"),
    ("checkpoints", "DELETE FROM checkpoints"),
]


@pytest.mark.parametrize(("table", "statement"), STATEMENTS, ids=[s for _, s in STATEMENTS])
async def test_the_journal_and_its_checkpoints_refuse_update_and_delete(
    store: SqlStore, table: str, statement: str
) -> None:
    before = await snapshot(store, table)
    assert before, f"{table} should hold rows for this test to mean anything"

    error = await attempt(store, statement)

    assert "append-only" in str(error)
    assert await snapshot(store, table) == before


@pytest.fixture
async def postgres_store(postgres_url: str) -> AsyncIterator[SqlStore]:
    async for store in _filled(postgres_url):
        yield store


@pytest.mark.parametrize("table", ["journal_entries", "checkpoints"])
async def test_postgres_refuses_to_truncate_the_journal_or_its_checkpoints(
    postgres_store: SqlStore, table: str
) -> None:
    before = await snapshot(postgres_store, table)

    error = await attempt(postgres_store, f"TRUNCATE {table}")

    assert "append-only" in str(error)
    assert await snapshot(postgres_store, table) == before


async def test_the_caches_beside_the_journal_may_still_change(store: SqlStore) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(
            text("UPDATE accounts SET balance_minutes = balance_minutes WHERE community = :c"),
            {"c": COMMUNITY},
        )

    assert (await store.account(COMMUNITY, "member-1")).balance_minutes == 60  # type: ignore[union-attr]


async def test_appending_still_works_after_refused_changes(store: SqlStore) -> None:
    await attempt(store, "DELETE FROM journal_entries")
    ledger = a_ledger(store)

    [entry] = await accepted(ledger, earn("org-1", "member-1", 30))

    assert entry.seq == (await store.head(COMMUNITY)).size - 1
    await ledger.close()
