"""The journal on SQLite or PostgreSQL: the ``Store`` contract over SQLAlchemy Core.

The append path uses plain SQL with ``executemany``, one round of statements per
batch, never the ORM. A batch is one transaction: ``BEGIN IMMEDIATE`` on SQLite
(one writer at a time across processes), and a transaction-scoped advisory lock
per community on PostgreSQL, so processes appending to the same community take
turns and each batch reads the head the previous one committed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger import limits
from ledger.canonical import ZERO_HASH, decode_entry
from ledger.merkle import Frontier, node_home, range_nodes
from ledger.model import AccountSpec, AccountType, Entry, Rejected, Rejection, Settings
from ledger.sql.engine import WRITE_OPTION, is_sqlite, make_engine
from ledger.state import AccountState, LedgerState
from ledger.store import AccountRow, BatchWrite, Head, Loaded, Needs, StoredCheckpoint

_IN_CHUNK = 500  # ids per IN (...) list, well under every engine's parameter limit


def entry_from_row(community: str, seq: int, data: bytes) -> Entry:
    entry = decode_entry(bytes(data))
    assert (entry.community, entry.seq) == (community, seq), "row and bytes disagree"
    return entry


_ACCOUNT_TYPES = {t.value: t for t in AccountType}


def _account_from_row(row: Any) -> AccountRow:
    spec = AccountSpec(
        id=row.id,
        type=_ACCOUNT_TYPES[row.type],
        floor_minutes=row.floor_minutes,
        budget_minutes_per_month=row.budget_minutes_per_month,
    )
    return AccountRow(spec=spec, balance_minutes=int(row.balance_minutes))


def _chunks(values: Iterable[Any]) -> Iterable[list[Any]]:
    items = list(values)
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]


def advisory_key(community: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory lock on a community."""
    return int.from_bytes(hashlib.sha256(b"buurtmunt:" + community.encode()).digest()[:8], "big", signed=True)


async def read_head(conn: AsyncConnection, community: str) -> Head:
    last = (
        await conn.execute(
            text(
                "SELECT seq, leaf, time FROM journal_entries WHERE community = :c "
                "ORDER BY seq DESC LIMIT 1"
            ),
            {"c": community},
        )
    ).first()
    size = 0 if last is None else int(last.seq) + 1
    coordinates = range_nodes(0, size)
    found = await read_nodes(conn, community, coordinates)
    assert len(found) == len(coordinates), "the tree's frontier is missing from the journal"
    checkpoint = (
        await conn.execute(
            text(
                "SELECT size, root, note FROM checkpoints WHERE community = :c "
                "ORDER BY size DESC LIMIT 1"
            ),
            {"c": community},
        )
    ).first()
    return Head(
        size=size,
        last_leaf=ZERO_HASH if last is None else bytes(last.leaf),
        last_time="" if last is None else last.time,
        frontier=Frontier.from_hashes(size, [found[c] for c in coordinates]),
        checkpoint=None
        if checkpoint is None
        else StoredCheckpoint(int(checkpoint.size), bytes(checkpoint.root), checkpoint.note),
    )


async def read_nodes(
    conn: AsyncConnection, community: str, coordinates: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    homes = {c: node_home(*c) if c[0] > 0 else (c[1], -1) for c in coordinates}
    rows = await select_in(
        conn,
        "SELECT seq, leaf, nodes FROM journal_entries WHERE community = ? AND seq IN ?",
        sorted({seq for seq, _ in homes.values()}),
        community,
    )
    by_seq = {int(r.seq): (bytes(r.leaf), bytes(r.nodes)) for r in rows}
    found: dict[tuple[int, int], bytes] = {}
    for coordinate, (seq, slot) in homes.items():
        if seq not in by_seq:
            continue
        leaf, nodes = by_seq[seq]
        if slot < 0:
            found[coordinate] = leaf
        elif len(nodes) >= 32 * (slot + 1):
            found[coordinate] = nodes[32 * slot : 32 * (slot + 1)]
    return found


class SqlBatch:
    """One group commit's transaction.

    The statements here run once per batch with thousands of rows, so they go
    to the driver directly (``exec_driver_sql``, native placeholders, tuples)
    instead of through SQL compilation: the ORM and the compiler stay at the edges.
    """

    def __init__(self, conn: AsyncConnection, community: str, writable: bool = True) -> None:
        self._conn = conn
        self._community = community
        self._writable = writable
        self._sql = driver_sql(conn)

    async def head(self) -> Head:
        return await read_head(self._conn, self._community)

    async def _select_in(self, sql: str, values: Iterable[Any], *before: Any) -> list[Any]:
        return await select_in(self._conn, sql, values, *before)

    async def load(self, needs: Needs) -> Loaded:
        conn, c = self._conn, self._community
        state = LedgerState(settings=await read_settings(conn, c))
        state.community_account = await _community_account(conn, c)
        for row in await self._select_in(_SELECT_ACCOUNTS, sorted(needs.account_ids), c):
            account = _account_from_row(row)
            state.accounts[account.spec.id] = AccountState(account.spec, account.balance_minutes)
        await self._load_monthly(state, needs)
        seqs = sorted(needs.corrected_seqs)
        for row in await self._select_in(_SELECT_BY_SEQ, seqs, c):
            state.originals[int(row.seq)] = entry_from_row(c, int(row.seq), row.data)
        for row in await self._select_in(_SELECT_CORRECTED, seqs, c):
            state.corrected.add(int(row.corrects))
        ids = sorted(needs.entry_ids)
        existing: dict[str, Entry] = {}
        for row in await self._select_in(_SELECT_BY_ID, ids, c):
            entry = entry_from_row(c, int(row.seq), row.data)
            existing[entry.id] = entry
        failed: dict[str, tuple[Rejected, bytes]] = {}
        for row in await self._select_in(_SELECT_REJECTIONS, ids, c):
            numbers = tuple(json.loads(row.numbers).items())
            rejected = Rejected(row.id, Rejection(row.code), numbers)
            failed[row.id] = (rejected, bytes(row.fingerprint))
        return Loaded(state=state, existing=existing, failed=failed)

    async def _load_monthly(self, state: LedgerState, needs: Needs) -> None:
        by_month: dict[str, set[str]] = {}
        for account, month in needs.monthly_keys:
            by_month.setdefault(month, set()).add(account)
        for month, accounts in by_month.items():
            rows = await self._select_in(_SELECT_MONTHLY, sorted(accounts), self._community, month)
            for row in rows:
                state.monthly[(row.account, month)] = int(row.minutes)

    async def _many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            await self._conn.exec_driver_sql(self._sql.native(sql), rows)

    async def write(self, batch: BatchWrite) -> None:
        assert self._writable, "a reader cannot write"
        c = self._community
        entries = [_entry_params(c, e, n) for e, n in zip(batch.entries, batch.nodes, strict=True)]
        balances = [(b, c, a) for a, b in batch.balances.items()]
        if self._sql.postgres:
            await self._write_columns(entries, balances)
        else:
            await self._many(_INSERT_ENTRY, entries)
            await self._many(_UPDATE_BALANCE, balances)
        await self._many(_INSERT_ACCOUNT, [_account_params(c, a) for a in batch.new_accounts])
        await self._many(
            _UPDATE_ACCOUNT_SPEC,
            [(a.floor_minutes, a.budget_minutes_per_month, c, a.id) for a in batch.changed_accounts],
        )
        await self._many(_UPSERT_MONTHLY, [(c, a, m, v) for (a, m), v in batch.monthly.items()])
        new_community = any(a.type is AccountType.COMMUNITY for a in batch.new_accounts)
        if batch.settings is not None or new_community:
            await self._write_settings(batch)
        await self._many(
            _INSERT_REJECTION,
            [
                (c, r.id, r.code.value, json.dumps(dict(r.numbers), sort_keys=True), fingerprint)
                for r, fingerprint in batch.rejections
            ],
        )
        if batch.checkpoint is not None:
            cp = batch.checkpoint
            await self._many(_INSERT_CHECKPOINT, [(c, cp.size, cp.root, cp.note)])

    async def _write_columns(
        self, entries: list[tuple[Any, ...]], balances: list[tuple[Any, ...]]
    ) -> None:
        """PostgreSQL: each big write is one statement over arrays, not one per row."""
        if entries:
            columns = list(zip(*entries, strict=True))
            await self._conn.exec_driver_sql(_PG_INSERT_ENTRIES, (self._community, *columns[1:]))
        if balances:
            amounts, _, ids = zip(*balances, strict=True)
            await self._conn.exec_driver_sql(
                _PG_UPDATE_BALANCES, (self._community, list(ids), list(amounts))
            )

    async def _write_settings(self, batch: BatchWrite) -> None:
        settings = batch.settings or await read_settings(self._conn, self._community)
        community_account = next(
            (a.id for a in batch.new_accounts if a.type is AccountType.COMMUNITY),
            await _community_account(self._conn, self._community),
        )
        row = (
            self._community,
            settings.members_may_transfer,
            settings.member_earning_cap_minutes_per_month,
            community_account,
        )
        await self._many(_UPSERT_SETTINGS, [row])


class DriverSql:
    """Statements in the driver's own placeholder style.

    Written with ``?`` (SQLite's style); for asyncpg each ``?`` becomes ``$n``.
    ``IN ?`` expands to a list on SQLite and to ``= ANY($n)`` with an array on
    PostgreSQL.
    """

    def __init__(self, dialect: str) -> None:
        self.postgres = self._postgres = dialect == "postgresql"
        self._cache: dict[tuple[str, int], str] = {}

    def native(self, sql: str) -> str:
        if not self._postgres:
            return sql
        parts = sql.split("?")
        return "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], 1)) + parts[-1]

    def select_in(
        self, sql: str, before: tuple[Any, ...], values: list[Any]
    ) -> tuple[str, tuple[Any, ...]]:
        key = (sql, 1 if self._postgres else len(values))
        statement = self._cache.get(key)
        if statement is None:
            if self._postgres:
                statement = self.native(sql.replace(" IN ?", " = ANY(?)"))
            else:
                statement = sql.replace(" IN ?", " IN (" + ",".join("?" * len(values)) + ")")
            self._cache[key] = statement
        if self._postgres:
            return statement, (*before, values)
        return statement, (*before, *values)


_DRIVER_SQL: dict[str, DriverSql] = {}


def driver_sql(conn: AsyncConnection) -> DriverSql:
    name = conn.dialect.name
    if name not in _DRIVER_SQL:
        _DRIVER_SQL[name] = DriverSql(name)
    return _DRIVER_SQL[name]


async def select_in(conn: AsyncConnection, sql: str, values: Iterable[Any], *before: Any) -> list[Any]:
    """Rows of ``sql`` whose ``IN ?`` marker is filled with ``values``, in chunks."""
    sql_style = driver_sql(conn)
    rows: list[Any] = []
    for chunk in _chunks(values):
        statement, params = sql_style.select_in(sql, before, chunk)
        result = await conn.exec_driver_sql(statement, params)
        rows.extend(result.all())
    return rows


def _entry_params(community: str, entry: Entry, nodes: bytes) -> tuple[Any, ...]:
    draft = entry.draft
    first = draft.postings[0] if draft.postings else None
    to_account = first.payee if first else None
    if draft.account is not None:
        to_account = draft.account.id
    elif draft.budget is not None:
        to_account = draft.budget.organisation
    return (
        community, entry.seq, entry.id, entry.kind.value, entry.time,
        first.payer if first else None, to_account, draft.corrects, entry.data, entry.leaf, nodes,
    )  # fmt: skip


def _account_params(community: str, spec: AccountSpec) -> tuple[Any, ...]:
    return (
        community, spec.id, spec.type.value, spec.floor_minutes, spec.budget_minutes_per_month,
    )  # fmt: skip


_SELECT_ACCOUNTS = (
    "SELECT id, type, floor_minutes, budget_minutes_per_month, balance_minutes FROM accounts "
    "WHERE community = ? AND id IN ?"
)
_SELECT_BY_SEQ = "SELECT seq, data FROM journal_entries WHERE community = ? AND seq IN ?"
_SELECT_CORRECTED = "SELECT corrects FROM journal_entries WHERE community = ? AND corrects IN ?"
_SELECT_BY_ID = "SELECT seq, data FROM journal_entries WHERE community = ? AND id IN ?"
_SELECT_REJECTIONS = (
    "SELECT id, code, numbers, fingerprint FROM rejections WHERE community = ? AND id IN ?"
)
_SELECT_MONTHLY = (
    "SELECT account, minutes FROM monthly_totals WHERE community = ? AND month = ? "
    "AND account IN ?"
)
_INSERT_ENTRY = (
    "INSERT INTO journal_entries (community, seq, id, kind, time, from_account, to_account, "
    "corrects, data, leaf, nodes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_ACCOUNT = (
    "INSERT INTO accounts (community, id, type, floor_minutes, budget_minutes_per_month, "
    "balance_minutes) VALUES (?, ?, ?, ?, ?, 0)"
)
_UPDATE_ACCOUNT_SPEC = (
    "UPDATE accounts SET floor_minutes = ?, budget_minutes_per_month = ? "
    "WHERE community = ? AND id = ?"
)
_UPDATE_BALANCE = "UPDATE accounts SET balance_minutes = ? WHERE community = ? AND id = ?"
_UPSERT_MONTHLY = (
    "INSERT INTO monthly_totals (community, account, month, minutes) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (community, account, month) DO UPDATE SET minutes = excluded.minutes"
)
_UPSERT_SETTINGS = (
    "INSERT INTO ledger_settings (community, members_may_transfer, "
    "member_earning_cap_minutes_per_month, community_account) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (community) DO UPDATE SET members_may_transfer = excluded.members_may_transfer, "
    "member_earning_cap_minutes_per_month = excluded.member_earning_cap_minutes_per_month, "
    "community_account = excluded.community_account"
)
_INSERT_REJECTION = (
    "INSERT INTO rejections (community, id, code, numbers, fingerprint) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (community, id) DO NOTHING"
)
_PG_INSERT_ENTRIES = (
    "INSERT INTO journal_entries (community, seq, id, kind, time, from_account, to_account, "
    "corrects, data, leaf, nodes) SELECT $1, * FROM unnest($2::bigint[], $3::text[], "
    "$4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::bytea[], $10::bytea[], "
    "$11::bytea[])"
)
_PG_UPDATE_BALANCES = (
    "UPDATE accounts AS a SET balance_minutes = v.b FROM unnest($2::text[], $3::bigint[]) "
    "AS v(id, b) WHERE a.community = $1 AND a.id = v.id"
)
_INSERT_CHECKPOINT = "INSERT INTO checkpoints (community, size, root, note) VALUES (?, ?, ?, ?)"


async def read_settings(conn: AsyncConnection, community: str) -> Settings:
    row = (
        await conn.execute(
            text("SELECT * FROM ledger_settings WHERE community = :c"), {"c": community}
        )
    ).first()
    if row is None:
        return Settings()
    return Settings(
        members_may_transfer=bool(row.members_may_transfer),
        member_earning_cap_minutes_per_month=row.member_earning_cap_minutes_per_month,
    )


async def _community_account(conn: AsyncConnection, community: str) -> str | None:
    row = (
        await conn.execute(
            text("SELECT community_account FROM ledger_settings WHERE community = :c"),
            {"c": community},
        )
    ).first()
    return None if row is None else row.community_account


class SqlStore:
    """The ``Store`` contract on an async SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sqlite = engine.dialect.name == "sqlite"

    @classmethod
    def from_url(cls, url: str) -> SqlStore:
        return cls(make_engine(url))

    @asynccontextmanager
    async def batch(self, community: str) -> AsyncIterator[SqlBatch]:
        async with self.engine.connect() as conn:
            if self._sqlite:
                conn = await conn.execution_options(**{WRITE_OPTION: True})
            async with conn.begin():
                if not self._sqlite:
                    await conn.execute(
                        text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_key(community)}
                    )
                yield SqlBatch(conn, community)

    @asynccontextmanager
    async def reader(self, community: str) -> AsyncIterator[SqlBatch]:
        async with self.engine.connect() as conn:
            if not self._sqlite:
                # One snapshot for every statement: under READ COMMITTED another
                # process's commit between two reads could pair a journal of one
                # size with the checkpoint of a larger one. (SQLite's read
                # transaction is a snapshot already.)
                conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                yield SqlBatch(conn, community, writable=False)

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
        sql = (
            "SELECT seq, data FROM journal_entries WHERE community = :c AND {col} = :a "
            "AND seq < :b ORDER BY seq DESC LIMIT :n"
        )
        async with self._read() as conn:
            seen: dict[int, bytes] = {}
            for column in ("from_account", "to_account"):
                rows = await conn.execute(
                    text(sql.format(col=column)),
                    {"c": community, "a": account_id, "b": before, "n": limit},
                )
                seen.update((int(r.seq), r.data) for r in rows)
        newest = sorted(seen, reverse=True)[:limit]
        return [entry_from_row(community, seq, seen[seq]) for seq in newest]

    async def account(self, community: str, account_id: str) -> AccountRow | None:
        async with self._read() as conn:
            row = (
                await conn.execute(
                    text("SELECT * FROM accounts WHERE community = :c AND id = :id"),
                    {"c": community, "id": account_id},
                )
            ).first()
        return None if row is None else _account_from_row(row)

    async def accounts(self, community: str) -> list[AccountRow]:
        async with self._read() as conn:
            rows = await conn.execute(
                text("SELECT * FROM accounts WHERE community = :c ORDER BY id"), {"c": community}
            )
            return [_account_from_row(r) for r in rows]

    async def settings(self, community: str) -> Settings:
        async with self._read() as conn:
            return await read_settings(conn, community)

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
        async with self._read() as conn:
            return await read_nodes(conn, community, coordinates)

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
                    text("SELECT size, root, note FROM checkpoints WHERE community = :c AND size = :s"),
                    {"c": community, "s": size},
                )
            ).first()
        return None if row is None else StoredCheckpoint(int(row.size), bytes(row.root), row.note)

    async def close(self) -> None:
        await self.engine.dispose()


__all__ = ["SqlStore", "entry_from_row", "advisory_key", "is_sqlite"]
