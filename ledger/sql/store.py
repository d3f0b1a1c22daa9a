"""The journal on SQLite or PostgreSQL: the ``Store`` contract over SQLAlchemy and sqlite3.

Group commits (``load``, ``write_if_tip``, ``batch``, ``reader``) run the
statements of ``ledger.sql.journal`` as synchronous steps (see
``ledger.sql.connections``), never through the ORM; on SQLite ``load`` and
``write_if_tip`` are one step each, transaction included. A batch is one
transaction: ``BEGIN IMMEDIATE`` on SQLite (one writer at a time across
processes), and a transaction-scoped advisory lock per community on PostgreSQL,
so processes appending to the same community take turns and each batch reads
the head the previous one committed. Another layer may add its own writes to
every batch's transaction (``SqlStore.also_write``). Everything else (the API's reads, exports)
goes through the async SQLAlchemy engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import limits
from ledger.model import Entry, Settings
from ledger.sql import journal
from ledger.sql.connections import Call, PgWriteConnections, SqliteWorkers, alchemy_call
from ledger.sql.engine import make_engine
from ledger.sql.journal import account_from_row, advisory_key, entry_from_row
from ledger.store import AccountRow, BatchWrite, Head, Loaded, Needs, StoredCheckpoint

SELECT_HISTORY_MARK = "SELECT indexed_size FROM account_history_marks WHERE community = :c"
SELECT_UNINDEXED_HISTORY = (
    "SELECT seq, data FROM journal_entries WHERE community = :c AND seq >= :m AND seq < :b "
    "AND (from_account = :a OR to_account = :a) ORDER BY seq DESC LIMIT :n"
)
SELECT_INDEXED_HISTORY = (
    "SELECT j.seq, j.data FROM account_history h JOIN journal_entries j "
    "ON j.community = h.community AND j.seq = h.seq "
    "WHERE h.community = :c AND h.account = :a AND h.seq < :m AND h.seq < :b "
    "ORDER BY h.seq DESC LIMIT :n"
)

T = TypeVar("T")

__all__ = ["SqlBatch", "SqlStore", "advisory_key", "entry_from_row"]


class SqlBatch:
    """One group commit's transaction (or, when not writable, a consistent read)."""

    def __init__(
        self,
        call: Call,
        community: str,
        writable: bool,
        companion: journal.Companion | None = None,
    ) -> None:
        self._call = call
        self._community = community
        self._writable = writable
        self._companion = companion

    async def head(self) -> Head:
        head: Head = await self._call(journal.read_head, self._community)
        return head

    async def load(self, needs: Needs) -> Loaded:
        loaded: Loaded = await self._call(journal.load, self._community, needs)
        return loaded

    async def write(self, batch: BatchWrite) -> None:
        assert self._writable, "a reader cannot write"
        await self._call(journal.write, self._community, batch, self._companion)

    async def snapshot(self) -> tuple[Head, list[AccountRow]]:
        found: tuple[Head, list[AccountRow]] = await self._call(
            journal.read_snapshot, self._community
        )
        return found

    async def settings(self) -> Settings:
        found: tuple[Settings, str | None] = await self._call(
            journal.read_settings, self._community
        )
        return found[0]

    async def nodes(self, coordinates: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        found: dict[tuple[int, int], bytes] = await self._call(
            journal.read_nodes, self._community, coordinates
        )
        return found


class SqlStore:
    """The ``Store`` contract on an async SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._workers = SqliteWorkers(str(engine.url.database)) if self._sqlite else None
        self._writes = None if self._sqlite else PgWriteConnections(engine)
        self._companion: journal.Companion | None = None

    def also_write(self, companion: journal.Companion) -> None:
        """Run ``companion`` in every batch's transaction, after the batch's own writes,
        over the entries it adds: another layer's tables then change in the same
        commit as the entries they follow, or not at all. The entries it refuses
        (a condition in its tables that does not hold for them) keep the batch
        from being written: the writer then writes it without them, and their
        callers hear ``ledger.store.Refused``. One per store."""
        assert self._companion in (None, companion), "a store has one companion"
        self._companion = companion

    @property
    def write_lock(self) -> asyncio.Lock | None:
        """On SQLite, what every write transaction of this process takes first."""
        return None if self._workers is None else self._workers.write_lock

    @classmethod
    def from_url(cls, url: str, pool_size: int | None = None) -> SqlStore:
        """A store on ``url``; on PostgreSQL with ``pool_size`` pooled connections (and
        half as many more for bursts) instead of the engine's default."""
        if pool_size is None or url.startswith("sqlite"):
            return cls(make_engine(url))
        return cls(make_engine(url, pool_size=pool_size, max_overflow=pool_size // 2))

    @asynccontextmanager
    async def batch(self, community: str) -> AsyncIterator[SqlBatch]:
        if self._workers is not None:
            async with self._workers.transaction(write=True) as call:
                yield SqlBatch(call, community, writable=True, companion=self._companion)
            return
        assert self._writes is not None
        async with self._writes.transaction(advisory_key(community)) as call:
            yield SqlBatch(call, community, True, self._companion)

    @asynccontextmanager
    async def reader(self, community: str) -> AsyncIterator[SqlBatch]:
        if self._workers is not None:
            # A SQLite read transaction is one snapshot.
            async with self._workers.transaction(write=False) as call:
                yield SqlBatch(call, community, writable=False)
            return
        async with self.engine.connect() as conn:
            # One snapshot for every statement: under READ COMMITTED another
            # process's commit between two reads could pair a journal of one
            # size with the checkpoint of a larger one.
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                yield SqlBatch(alchemy_call(conn), community, writable=False)

    async def load(self, community: str, needs: Needs) -> Loaded:
        if self._workers is not None:
            loaded: Loaded = await self._workers.run(False, journal.load, community, needs)
            return loaded
        async with self.reader(community) as tx:
            return await tx.load(needs)

    async def write_if_tip(
        self,
        community: str,
        tip: tuple[int, bytes],
        batch: BatchWrite,
        new_ids: Collection[str] = (),
        new_keys: Collection[str] = (),
    ) -> bool:
        args = (community, tip, batch, list(new_ids), self._companion, list(new_keys))
        if self._workers is not None:
            written: bool = await self._workers.run(True, journal.write_if_tip, *args)
            return written
        assert self._writes is not None
        async with self._writes.transaction(advisory_key(community)) as call:
            written = await call(journal.write_if_tip, *args)
            return written

    async def forget_keys(self, community: str, made_before: str) -> int:
        if self._workers is not None:
            forgotten: int = await self._workers.run(
                True, journal.forget_keys, community, made_before
            )
            return forgotten
        assert self._writes is not None
        # Under the community's lock, like a batch: a key is never forgotten
        # between a batch's check and its write.
        async with self._writes.transaction(advisory_key(community)) as call:
            forgotten = await call(journal.forget_keys, community, made_before)
            return forgotten

    async def run(self, write: bool, fn: Callable[..., T], *args: Any) -> T:
        """``fn(db, *args)`` in one transaction of its own, on the store's fast connections.

        ``db`` is a ``journal.Db`` (raw statements, ``?`` placeholders through
        ``journal.native``). For the application's hot statements next to the
        journal's: through an ORM session each would cost milliseconds.
        """
        if self._workers is not None:
            result: T = await self._workers.run(write, fn, *args)
            return result
        async with self.engine.connect() as conn, conn.begin():
            result = await alchemy_call(conn)(fn, *args)
            return result

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    async def head(self, community: str) -> Head:
        async with self.reader(community) as tx:
            return await tx.head()

    async def communities(self) -> list[str]:
        async with self._read() as conn:
            rows = await conn.execute(
                text("SELECT DISTINCT community FROM journal_entries ORDER BY community")
            )
            return [r.community for r in rows]

    async def entry_by_id(self, community: str, entry_id: str) -> Entry | None:
        async with self._read() as conn:
            row = (
                await conn.execute(
                    text("SELECT seq, data FROM journal_entries WHERE community = :c AND id = :id"),
                    {"c": community, "id": entry_id},
                )
            ).first()
        return None if row is None else entry_from_row(community, int(row.seq), row.data)

    async def entry_by_key(self, community: str, key: str) -> Entry | None:
        async with self._read() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT e.seq, e.data FROM entry_keys k JOIN journal_entries e "
                        "ON e.community = k.community AND e.id = k.id "
                        "WHERE k.community = :c AND k.key = :k"
                    ),
                    {"c": community, "k": key},
                )
            ).first()
        return None if row is None else entry_from_row(community, int(row.seq), row.data)

    async def entries(self, community: str, start: int, end: int) -> list[Entry]:
        end = min(end, start + limits.ENTRY_RANGE_MAX)
        async with self._read() as conn:
            rows = await conn.execute(
                text(
                    "SELECT seq, data FROM journal_entries WHERE community = :c "
                    "AND seq >= :s AND seq < :e ORDER BY seq"
                ),
                {"c": community, "s": start, "e": end},
            )
            return [entry_from_row(community, int(r.seq), r.data) for r in rows]

    async def raw_entries(self, community: str, start: int, end: int) -> list[bytes]:
        """The exact stored bytes of entries start <= seq < end, for export."""
        end = min(end, start + limits.ENTRY_RANGE_MAX)
        async with self._read() as conn:
            rows = await conn.execute(
                text(
                    "SELECT data FROM journal_entries WHERE community = :c "
                    "AND seq >= :s AND seq < :e ORDER BY seq"
                ),
                {"c": community, "s": start, "e": end},
            )
            return [bytes(r.data) for r in rows]

    async def account_entries(
        self, community: str, account_id: str, before_seq: int | None, limit: int
    ) -> list[Entry]:
        before = limits.TREE_SIZE_MAX if before_seq is None else before_seq
        limit = max(1, min(limit, limits.PAGE_SIZE_MAX))
        params: dict[str, Any] = {"c": community, "a": account_id, "b": before, "n": limit}
        async with self._read() as conn:
            # Entries from the mark on are not indexed yet (fewer than
            # HISTORY_LAG_MAX): scan them. The mark only moves up, and what is
            # below it is indexed, so reading it first leaves no gap.
            mark = await conn.scalar(text(SELECT_HISTORY_MARK), params)
            params["m"] = int(mark or 0)
            rows = list(await conn.execute(text(SELECT_UNINDEXED_HISTORY), params))
            if len(rows) < limit and params["m"] > 0:
                params["n"] = limit - len(rows)
                rows += await conn.execute(text(SELECT_INDEXED_HISTORY), params)
        return [entry_from_row(community, int(r.seq), r.data) for r in rows]

    async def account(self, community: str, account_id: str) -> AccountRow | None:
        async with self._read() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT id, type, floor_minutes, budget_minutes_per_month, balance_minutes "
                        "FROM accounts WHERE community = :c AND id = :id"
                    ),
                    {"c": community, "id": account_id},
                )
            ).first()
        return None if row is None else account_from_row(row)

    async def accounts(self, community: str) -> list[AccountRow]:
        async with self._read() as conn:
            rows = await conn.execute(
                text(
                    "SELECT id, type, floor_minutes, budget_minutes_per_month, balance_minutes "
                    "FROM accounts WHERE community = :c ORDER BY id"
                ),
                {"c": community},
            )
            return [account_from_row(r) for r in rows]

    async def snapshot(self, community: str) -> tuple[Head, list[AccountRow]]:
        async with self.reader(community) as tx:
            return await tx.snapshot()

    async def settings(self, community: str) -> Settings:
        async with self.reader(community) as tx:
            return await tx.settings()

    async def monthly_total(self, community: str, account_id: str, month: str) -> int:
        async with self._read() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT minutes FROM monthly_totals WHERE community = :c "
                        "AND account = :a AND month = :m"
                    ),
                    {"c": community, "a": account_id, "m": month},
                )
            ).first()
        return 0 if row is None else int(row.minutes)

    async def nodes(
        self, community: str, coordinates: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], bytes]:
        async with self.reader(community) as tx:
            return await tx.nodes(coordinates)

    async def checkpoints(
        self, community: str, after_size: int, limit: int
    ) -> list[StoredCheckpoint]:
        async with self._read() as conn:
            rows = await conn.execute(
                text(
                    "SELECT size, root, note FROM checkpoints WHERE community = :c "
                    "AND size > :s ORDER BY size LIMIT :n"
                ),
                {"c": community, "s": after_size, "n": limit},
            )
            return [StoredCheckpoint(int(r.size), bytes(r.root), r.note) for r in rows]

    async def checkpoint_at(self, community: str, size: int) -> StoredCheckpoint | None:
        async with self._read() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT size, root, note FROM checkpoints "
                        "WHERE community = :c AND size = :s"
                    ),
                    {"c": community, "s": size},
                )
            ).first()
        return None if row is None else StoredCheckpoint(int(row.size), bytes(row.root), row.note)

    async def close(self) -> None:
        if self._workers is not None:
            self._workers.close()
        if self._writes is not None:
            await self._writes.close()
        await self.engine.dispose()
