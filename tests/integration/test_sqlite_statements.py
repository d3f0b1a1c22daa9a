"""On SQLite a batch is written in a few multi-row statements, not a statement per row,
and a commit only appends to the WAL: copying it into the database file is left to
the store's checkpointer.

One statement steps through many rows while the worker thread has let go of the
GIL, instead of taking it back after every row. Statements are padded to a power
of two of rows with NULLs that match nothing, so that a connection prepares a
dozen statement shapes, not one per batch size. These tests shrink the limit so
that a small batch needs several statements, and check that nothing is lost or
reordered across them.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from api.audit_commands import audit_store
from ledger.service import Ledger
from ledger.sql import connections, engine
from ledger.sql.connections import SqliteDb
from ledger.sql.migrate import upgrade
from ledger.sql.store import SqlStore
from tests.support.builders import COMMUNITY, a_ledger, a_neighbourhood, accepted, earn, transfer


@pytest.mark.parametrize(
    ("count", "limit", "chunks"),
    [
        (0, 32_766, []),
        (1, 32_766, [(1, 1)]),
        (11, 32_766, [(11, 16)]),
        (11, 4, [(4, 4), (4, 4), (3, 4)]),
        (9, 7, [(4, 4), (4, 4), (1, 1)]),
    ],
)
def test_chunks_stay_within_the_limit_and_are_padded_to_a_power_of_two(
    count: int, limit: int, chunks: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "SQLITE_PARAMETERS_MAX", limit)

    found = list(engine.sqlite_chunks(list(range(count)), 1))

    assert [(len(chunk), slots) for chunk, slots in found] == chunks
    assert [x for chunk, _ in found for x in chunk] == list(range(count))


def test_every_batch_size_needs_only_a_dozen_statement_shapes() -> None:
    shapes = {slots for n in range(1, 2_049) for _, slots in engine.sqlite_chunks(range(n), 11)}

    assert shapes == {2**k for k in range(12)}


def a_db(tmp_path: Path) -> SqliteDb:
    conn = sqlite3.connect(tmp_path / "rows.db", isolation_level=None)
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    return SqliteDb(conn)


def test_many_rows_go_in_statements_of_at_most_the_parameter_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "SQLITE_PARAMETERS_MAX", 9)  # at most 4 rows of 2
    db = a_db(tmp_path)
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)

    db.many("INSERT INTO t (k, v) VALUES (?, ?)", [(k, f"v{k}") for k in range(11)])
    db.conn.set_trace_callback(None)

    assert db.conn.execute("SELECT k, v FROM t ORDER BY k").fetchall() == [
        (k, f"v{k}") for k in range(11)
    ]
    assert [s.count("NULL") for s in statements] == [1, 1, 1 + 2], statements  # 4, 4, 3 + pad


def test_an_upsert_keeps_its_conflict_clause_in_every_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "SQLITE_PARAMETERS_MAX", 4)
    db = a_db(tmp_path)
    db.many("INSERT INTO t (k, v) VALUES (?, ?)", [(k, "old") for k in range(5)])

    db.many(
        "INSERT INTO t (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
        [(k, "new") for k in range(3, 8)],
    )

    rows = db.conn.execute("SELECT k, v FROM t ORDER BY k").fetchall()
    assert rows == [(k, "old") for k in range(3)] + [(k, "new") for k in range(3, 8)]


def test_a_statement_that_is_not_an_insert_runs_once_per_row(tmp_path: Path) -> None:
    db = a_db(tmp_path)
    db.many("INSERT INTO t (k, v) VALUES (?, ?)", [(1, "a"), (2, "b")])

    db.many("UPDATE t SET v = ? WHERE k = ?", [("x", 1), ("y", 2)])

    assert db.conn.execute("SELECT v FROM t ORDER BY k").fetchall() == [("x",), ("y",)]


async def test_a_batch_split_over_many_statements_lands_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entries, balances and the id check each need several statements; the journal
    and the cached balances still agree with a replay."""
    # 2 entries, 8 balances or 16 ids a statement.
    monkeypatch.setattr(engine, "SQLITE_PARAMETERS_MAX", 25)
    store = SqlStore.from_url(f"sqlite:///{tmp_path}/ledger.db")
    await upgrade(store.engine)
    ledger = a_ledger(store)
    await accepted(ledger, *a_neighbourhood(members=10), earn("org-1", "member-1", 6000))
    drafts = [transfer("member-1", f"member-{2 + n % 9}", 10 + n) for n in range(20)]

    results = await asyncio.gather(*(ledger.append(COMMUNITY, d) for d in drafts))
    await ledger.close()

    assert [r.entry.id for r in results] == [d.id for d in drafts]  # type: ignore[union-attr]
    report, _ = await audit_store(store, COMMUNITY, ledger.verifier)
    assert report.clean, report.findings
    member_1 = await store.account(COMMUNITY, "member-1")
    assert member_1 is not None and member_1.balance_minutes == 6000 - sum(
        10 + n for n in range(20)
    )
    await store.close()


async def a_busy_store(path: Path, rounds: int) -> tuple[SqlStore, Ledger, int]:
    """A store on ``path`` that has committed ``rounds`` batches of 100 transfers,
    and the size its database file had before them."""
    store = SqlStore.from_url(f"sqlite:///{path}")
    await upgrade(store.engine)
    ledger = a_ledger(store)
    await accepted(ledger, *a_neighbourhood(members=10), earn("org-1", "member-1", 60_000))
    before = path.stat().st_size
    for round_ in range(rounds):
        drafts = [transfer("member-1", f"member-{2 + n % 9}", 1 + round_) for n in range(100)]
        await asyncio.gather(*(ledger.append(COMMUNITY, d) for d in drafts))
    return store, ledger, before


async def test_commits_only_append_to_the_wal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the checkpointer's turn far off, the database file does not grow however
    long the WAL gets: no commit copies it, not even past SQLite's own 1,000 pages."""
    monkeypatch.setattr(connections, "SQLITE_CHECKPOINT_SECONDS", 3600.0)
    path = tmp_path / "ledger.db"

    store, ledger, before = await a_busy_store(path, rounds=40)

    wal = path.with_name("ledger.db-wal").stat().st_size
    assert wal > 1_000 * 4096, f"a WAL of {wal} bytes is not past the automatic checkpoint"
    assert path.stat().st_size == before, "a commit copied the WAL into the file"
    async with store.engine.connect() as conn:  # the application's connections too
        found = await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")
        assert found.scalar() == 0
    await ledger.close()
    await store.close()


async def test_the_checkpointer_copies_the_wal_while_the_store_is_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connections, "SQLITE_CHECKPOINT_SECONDS", 0.05)
    path = tmp_path / "ledger.db"

    store, ledger, before = await a_busy_store(path, rounds=5)
    deadline = time.monotonic() + 10
    while path.stat().st_size == before and time.monotonic() < deadline:
        await asyncio.sleep(0.05)

    assert path.stat().st_size > before, "the checkpointer did not copy the WAL"
    await ledger.close()
    report, _ = await audit_store(store, COMMUNITY, ledger.verifier)
    assert report.clean, report.findings
    await store.close()


def a_table(db: SqliteDb) -> None:
    db.conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")


def put(db: SqliteDb, k: int) -> int:
    db.conn.execute("INSERT INTO t (k) VALUES (?)", (k,))
    return k


def put_then_fail(db: SqliteDb, k: int) -> int:
    put(db, k)
    raise ValueError(f"step {k} failed after writing")


async def test_steps_that_wait_together_commit_together_and_fail_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements: list[str] = []

    def traced(path: str) -> sqlite3.Connection:
        conn = real_connect(path)
        conn.set_trace_callback(statements.append)
        return conn

    real_connect = connections._connect
    monkeypatch.setattr(connections, "_connect", traced)
    workers = connections.SqliteWorkers(str(tmp_path / "steps.db"))
    await workers.run(True, a_table)
    statements.clear()

    async with workers.write_lock:  # a transaction in the way: the steps queue up
        steps = [
            asyncio.ensure_future(workers.run(True, fn, k))
            for fn, k in [(put, 1), (put_then_fail, 2), (put, 3)]
        ]
        await asyncio.sleep(0.01)
    outcomes = await asyncio.gather(*steps, return_exceptions=True)
    in_the_round = list(statements)

    assert outcomes[0] == 1 and outcomes[2] == 3
    assert isinstance(outcomes[1], ValueError)
    assert in_the_round.count("BEGIN IMMEDIATE") == in_the_round.count("COMMIT") == 1, in_the_round
    assert in_the_round.count("ROLLBACK TO step") == 1, in_the_round
    rows = await workers.run(False, lambda db: db.conn.execute("SELECT k FROM t").fetchall())
    assert rows == [(1,), (3,)]
    workers.close()


def lose_the_transaction(db: SqliteDb) -> None:
    """What SQLite does after an I/O error or a full disk: the whole transaction is gone."""
    db.conn.execute("ROLLBACK")
    raise sqlite3.OperationalError("disk I/O error")


async def test_a_step_that_ends_the_transaction_fails_its_whole_round(
    tmp_path: Path,
) -> None:
    workers = connections.SqliteWorkers(str(tmp_path / "steps.db"))
    await workers.run(True, a_table)

    async with workers.write_lock:
        steps = [asyncio.ensure_future(workers.run(True, put, k)) for k in (1, 2)]
        steps.append(asyncio.ensure_future(workers.run(True, lose_the_transaction)))
        await asyncio.sleep(0.01)
    outcomes = await asyncio.gather(*steps, return_exceptions=True)

    assert all(isinstance(o, sqlite3.Error) for o in outcomes), outcomes
    rows = await workers.run(False, lambda db: db.conn.execute("SELECT k FROM t").fetchall())
    assert rows == []
    assert await workers.run(True, put, 7) == 7  # the connection came back clean
    workers.close()
