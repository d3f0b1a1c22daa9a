"""Synchronous connections for the journal's hot steps, handed over from the event loop.

``Call`` runs one of ``ledger.sql.journal``'s functions on a connection inside
an open transaction and returns its result; each call is one hand-off.

- SQLite: stdlib ``sqlite3`` connections, each owned by a thread of its own (so
  a connection is never used by two threads at once, even when a caller is
  cancelled mid-step), pooled, with the same durability settings as the engine.
  Commits never checkpoint the WAL; a thread of the store's own does, every
  ``SQLITE_CHECKPOINT_SECONDS``, without taking the write lock (``Checkpointer``).
  Write steps that wait for the write lock together (the group commits of
  several communities) run in one transaction, each inside a savepoint of its
  own, and share one hand-off and one commit (``SqliteWorkers.run``).
- PostgreSQL: a group commit's transaction runs on a connection kept out of the
  pool between batches (``PgWriteConnections``), taken without a checkout and
  pre-ping per batch, its transaction begun with the
  community's lock in one round trip. The statements go to asyncpg directly from
  the synchronous functions through SQLAlchemy's greenlet bridge (``greenlet_spawn``
  and ``await_only``), without SQLAlchemy's execution layer. Other work (the
  application's reads, ``SqlStore.run``) uses the async engine's connection
  through ``run_sync``. Either way asyncpg stays on the event loop and the
  statements run without thread hand-offs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util import await_only, greenlet_spawn

from ledger.sql.engine import SQLITE_PRAGMAS, sqlite_chunks

log = logging.getLogger(__name__)
Call = Callable[..., Awaitable[Any]]
# sqlite3 connections (each with its thread) one store keeps; a caller beyond
# them waits for one to come back. Opening one costs a thread and a file open,
# so they are kept rather than opened per burst (2,000 event streams reading at
# once made hundreds); WAL readers never block each other, so a few serve all.
SQLITE_CONNECTIONS_MAX = 16
# PostgreSQL connections one store keeps out of the engine's pool for group
# commits. A community's batches land one at a time, so this many communities can
# commit at once; a batch beyond them waits for one to come back.
PG_WRITE_CONNECTIONS_MAX = 4
# How often the checkpointer copies what the WAL holds into the database file.
# Often enough that each copy is small (a busy server writes a few MB a second)
# and the WAL stays short for readers.
SQLITE_CHECKPOINT_SECONDS = 0.5


class SqliteDb:
    postgres = False

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def rows(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        return self.conn.execute(sql, params).fetchall()

    def many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """``executemany``, but an ``INSERT ... VALUES (?, ...)`` of several rows runs as
        one multi-row statement (or a few: ``sqlite_chunks``). Its first column
        must never be NULL.

        sqlite3 releases the GIL while a statement steps and takes it back after:
        per row with ``executemany``, where each take waits for the event loop's
        thread to let go. One step per chunk lets the database work through a
        whole batch while the event loop runs.
        """
        head, marker, tail = sql.partition(" VALUES (")
        if len(rows) < 2 or not marker or not head.startswith("INSERT"):
            self.conn.executemany(sql, rows)
            return
        group, close, tail = tail.partition(")")
        group = f"({group}{close}"
        width = len(rows[0])
        for chunk, slots in sqlite_chunks(rows, width):
            values = ", ".join([group] * slots)
            params = [p for row in chunk for p in row]
            params += [None] * (width * (slots - len(chunk)))
            # The padding rows are all NULL; a row to insert never starts with one.
            statement = f"{head} SELECT * FROM (VALUES {values}) WHERE column1 IS NOT NULL{tail}"
            self.conn.execute(statement, params)

    def execute(self, sql: str, params: Sequence[Any]) -> None:
        self.conn.execute(sql, params)


class AlchemyDb:
    """A synchronous SQLAlchemy connection (inside ``run_sync``) as a ``Db``."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"

    def rows(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        return list(self.conn.exec_driver_sql(sql, tuple(params)).all())

    def many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self.conn.exec_driver_sql(sql, rows)

    def execute(self, sql: str, params: Sequence[Any]) -> None:
        self.conn.exec_driver_sql(sql, tuple(params))


class AsyncpgDb:
    """A plain asyncpg connection as a ``Db``, for functions run through ``greenlet_spawn``."""

    postgres = True

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    def rows(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        found: list[Sequence[Any]] = await_only(self.conn.fetch(sql, *params))
        return found

    def many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        await_only(self.conn.executemany(sql, rows))

    def execute(self, sql: str, params: Sequence[Any]) -> None:
        await_only(self.conn.fetch(sql, *params))


def alchemy_call(conn: AsyncConnection) -> Call:
    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        return await conn.run_sync(lambda sync: fn(AlchemyDb(sync), *args))

    return call


class _Worker:
    """One sqlite3 connection and the one thread that uses it."""

    def __init__(self, path: str) -> None:
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="buurtmunt-sqlite")
        self.db: SqliteDb | None = None
        self.path = path

    def open(self) -> None:
        self.db = SqliteDb(_connect(self.path))

    def call(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """``fn(db, *args)`` on this connection's thread; the future is its outcome."""
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self.thread, lambda: fn(self.db, *args))

    def close(self) -> None:
        if self.db is not None:
            self.thread.submit(self.db.conn.close).result()
            self.db = None
        self.thread.shutdown(wait=True)


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in SQLITE_PRAGMAS:
        conn.execute(pragma)
    return conn


class Checkpointer:
    """A thread with a connection of its own that checkpoints the WAL now and then.

    A passive checkpoint copies the frames no reader still needs into the
    database file while writers go on appending to the WAL; once it has copied
    them all, the next writer starts the WAL from its beginning again. A commit
    therefore only ever appends to the WAL and syncs it.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="buurtmunt-sqlite-checkpoint", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        # Opened at the first turn, not before: by then the writer that started
        # this thread has switched a new file to WAL, which a second connection
        # opening at the same moment could find locked.
        conn: sqlite3.Connection | None = None
        try:
            while not self._stop.wait(SQLITE_CHECKPOINT_SECONDS):
                try:
                    conn = conn or _connect(self._path)
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as error:  # tried again at the next turn
                    log.warning("checkpointing %s failed: %r", self._path, error)
        finally:
            if conn is not None:
                conn.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def _begin(db: SqliteDb, write: bool) -> None:
    db.conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")


def _commit(db: SqliteDb) -> None:
    db.conn.execute("COMMIT")


def _in_transaction(
    db: SqliteDb, write: bool, fn: Callable[..., Any], args: tuple[Any, ...]
) -> Any:
    _begin(db, write)
    try:
        result = fn(db, *args)
    except BaseException:
        _rollback(db)
        raise
    _commit(db)
    return result


def _rollback(db: SqliteDb) -> None:
    if db.conn.in_transaction:
        db.conn.execute("ROLLBACK")


class _Step:
    """One write step waiting for its round: ``fn(db, *args)`` and where its outcome goes."""

    __slots__ = ("args", "fn", "future")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn = fn
        self.args = args
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()


Outcome = tuple[bool, Any]  # (True, a step's result) or (False, the exception it raised)


def _each_in_one_transaction(
    db: SqliteDb, steps: list[tuple[Callable[..., Any], tuple[Any, ...]]]
) -> list[Outcome]:
    """Run each step inside a savepoint of one write transaction, and commit once.

    A step that raises is rolled back to its savepoint and answered with its
    exception; the others stand. An error that ends the whole transaction (SQLite
    rolls it back by itself after an I/O error, a full disk…) or the commit's own
    failure raises, and every step of the round fails with it. A round of one
    step needs no savepoint: its transaction is its own."""
    if len(steps) == 1:
        fn, args = steps[0]
        try:
            return [(True, _in_transaction(db, True, fn, args))]
        except Exception as error:  # noqa: BLE001 - the step's caller raises it
            return [(False, error)]
    _begin(db, write=True)
    outcomes: list[Outcome] = []
    try:
        for fn, args in steps:
            db.conn.execute("SAVEPOINT step")
            try:
                result = fn(db, *args)
            except Exception as error:
                if not db.conn.in_transaction:
                    raise
                db.conn.execute("ROLLBACK TO step")
                db.conn.execute("RELEASE step")
                outcomes.append((False, error))
                continue
            db.conn.execute("RELEASE step")
            outcomes.append((True, result))
    except BaseException:
        _rollback(db)
        raise
    _commit(db)
    return outcomes


def _answer(steps: list[_Step], round_: asyncio.Future[list[Outcome]]) -> None:
    """Give each step of a finished round its outcome (all the round's error, if it failed)."""
    if round_.cancelled():
        outcomes: list[Outcome] = [(False, RuntimeError("the write was interrupted"))] * len(steps)
    elif round_.exception() is not None:
        outcomes = [(False, round_.exception())] * len(steps)
    else:
        outcomes = round_.result()
    for step, (ok, value) in zip(steps, outcomes, strict=True):
        if step.future.done():  # its caller stopped waiting
            continue
        if ok:
            step.future.set_result(value)
        else:
            step.future.set_exception(value)


class SqliteWorkers:
    """A small pool of sqlite3 connections, each with its own thread.

    ``write_lock`` admits one write transaction of this process at a time (the
    journal's and, through ``api.database``, the application's). SQLite has one
    writer anyway, and a second one waiting inside SQLite backs off in sleeps of
    up to 100 ms; waiting here, it starts the moment the first commits. The write
    steps that wait for it meanwhile (``run``: the group commits of other
    communities) then go together, in one transaction with a savepoint each.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []
        self._free = asyncio.Semaphore(SQLITE_CONNECTIONS_MAX)
        self.write_lock = asyncio.Lock()
        self._checkpointer = Checkpointer(path)
        self._steps: list[_Step] = []
        self._leading = False
        self._rounds: asyncio.Task[None] | None = None

    async def _take(self) -> _Worker:
        if self._idle:
            return self._idle.pop()
        worker = _Worker(self._path)
        await asyncio.get_running_loop().run_in_executor(worker.thread, worker.open)
        self._all.append(worker)
        return worker

    @asynccontextmanager
    async def _borrowed(self) -> AsyncIterator[_Worker]:
        """A worker for one transaction (waiting while all are lent out); it goes back
        to the pool only if the block ended in a commit or a successful rollback."""
        async with self._free:
            worker = await self._take()
            healthy = False
            try:
                yield worker
                healthy = True
            finally:
                if not healthy:
                    healthy = await self._roll_back(worker)
                if healthy:
                    self._idle.append(worker)
                else:
                    self._retire(worker)

    @asynccontextmanager
    async def transaction(self, write: bool) -> AsyncIterator[Call]:
        """A transaction (``BEGIN IMMEDIATE`` to write); commits when the block succeeds."""
        async with self._locked(write), self._borrowed() as worker:
            await worker.call(_begin, write)
            yield worker.call
            await worker.call(_commit)

    async def run(self, write: bool, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn`` in a transaction, begun and committed in the same hand-off.

        One trip to a connection's thread instead of three: under load every trip
        waits for the event loop's turn, so the few that a group commit needs
        decide how long its callers wait. A write step joins the next round
        (``_write_round``): when it returns, what it wrote is committed, or, if it
        raised, rolled back alone. A caller that stops waiting does not take its
        step out of its round.
        """
        if not write:
            async with self._borrowed() as worker:
                return await worker.call(_in_transaction, False, fn, args)
        step = _Step(fn, args)
        self._steps.append(step)
        if not self._leading:
            # Nobody runs rounds: this caller runs one (its own step's, without a
            # hand-off to a task) and leaves any steps that came meanwhile to a task.
            self._leading = True
            try:
                await self._write_round()
            finally:
                if self._steps:
                    self._rounds = asyncio.get_running_loop().create_task(self._write_rounds())
                else:
                    self._leading = False
        return await step.future

    async def _write_rounds(self) -> None:
        try:
            while self._steps:
                await self._write_round()
        finally:
            self._leading = False
            self._rounds = None
            steps, self._steps = self._steps, []
            for step in steps:  # only when closing
                if not step.future.done():
                    step.future.set_exception(RuntimeError("the store closed"))

    async def _write_round(self) -> None:
        """Take the write lock, run every step that waits in one transaction, answer
        each, and let go of the lock (a transaction waiting for it comes next)."""
        async with self._locked(True):
            steps, self._steps = self._steps, []
            try:
                async with self._borrowed() as worker:
                    round_ = worker.call(_each_in_one_transaction, [(s.fn, s.args) for s in steps])
                    round_.add_done_callback(functools.partial(_answer, steps))
                    # Waited for without being cancelled with this task: the
                    # steps hear how it ended, and the connection comes back
                    # only once its thread is done with it.
                    await asyncio.wait([round_])
                    round_.result()  # after a failed round the connection is checked
            except Exception as error:  # noqa: BLE001 - the steps' callers raise it
                for step in steps:  # those the round did not answer: no connection
                    if not step.future.done():
                        step.future.set_exception(error)

    @asynccontextmanager
    async def _locked(self, write: bool) -> AsyncIterator[None]:
        if not write:
            yield
            return
        self._checkpointer.start()
        async with self.write_lock:
            yield

    async def _roll_back(self, worker: _Worker) -> bool:
        try:
            await asyncio.shield(worker.call(_rollback))
        except (sqlite3.Error, asyncio.CancelledError):
            return False
        return True

    def _retire(self, worker: _Worker) -> None:
        if worker in self._all:
            self._all.remove(worker)
        worker.thread.submit(lambda: worker.db.conn.close() if worker.db else None)
        worker.thread.shutdown(wait=False)

    def close(self) -> None:
        self._checkpointer.close()
        for worker in self._all:
            worker.close()
        self._all.clear()
        self._idle.clear()


class _Held:
    """A connection taken out of the engine's pool for group commits, and its asyncpg side."""

    def __init__(self, pooled: AsyncConnection, conn: asyncpg.Connection) -> None:
        self.pooled = pooled
        self.conn = conn

    async def drop(self) -> None:
        """Close the connection for good; its place in the pool frees up."""
        self.conn.terminate()
        with contextlib.suppress(Exception):
            await self.pooled.invalidate()
        with contextlib.suppress(Exception):
            await self.pooled.close()


class PgWriteConnections:
    """Connections for group commits on PostgreSQL, kept out of the pool between batches.

    Each is taken from the engine's pool once (so they count within its size) and
    kept: a batch takes an idle one without a checkout or pre-ping (one found
    broken as its transaction begins is replaced), begins its transaction and
    takes the community's advisory lock in one round trip, runs the journal's
    functions on its asyncpg connection, and commits. A connection whose
    transaction did not end cleanly (an error mid-statement, a cancelled caller)
    is closed rather than reused.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._closed = False
        self._idle: list[_Held] = []
        self._free = asyncio.Semaphore(PG_WRITE_CONNECTIONS_MAX)

    @asynccontextmanager
    async def transaction(self, lock_key: int) -> AsyncIterator[Call]:
        """A transaction holding the advisory lock ``lock_key``; commits when the block
        succeeds, rolls back when it raises."""
        async with self._free:
            held = await self._begun(lock_key)
            clean = False
            try:
                try:
                    yield _asyncpg_call(held.conn)
                except BaseException:
                    clean = await _rolled_back(held.conn)
                    raise
                await held.conn.execute("COMMIT")
                clean = True
            finally:
                if not clean or held.conn.is_closed():
                    await asyncio.shield(held.drop())
                elif self._closed:  # the store closed meanwhile: back to the pool
                    await asyncio.shield(held.pooled.close())
                else:
                    self._idle.append(held)

    async def _begun(self, lock_key: int) -> _Held:
        """A connection in a new transaction holding ``lock_key``. An idle connection
        that turns out broken (the server restarted meanwhile) is replaced by a new
        one, as a pool's pre-ping would, but without its round trip when all is well."""
        # One round trip: an integer literal, so no parameters are needed.
        begin = f"BEGIN; SELECT pg_advisory_xact_lock({int(lock_key)})"
        while self._idle:
            held = self._idle.pop()
            try:
                await held.conn.execute(begin)
            except (asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError, OSError):
                await held.drop()
                continue
            except BaseException:
                await asyncio.shield(held.drop())
                raise
            return held
        pooled = await self._engine.connect()
        raw = await pooled.get_raw_connection()
        held = _Held(pooled, raw.driver_connection)
        try:
            await held.conn.execute(begin)
        except BaseException:
            await asyncio.shield(held.drop())
            raise
        return held

    async def close(self) -> None:
        """Hand the idle connections back to the pool; one in use goes back when its
        transaction ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        for held in idle:
            await held.pooled.close()


async def _rolled_back(conn: asyncpg.Connection) -> bool:
    """Roll back; whether the connection is fit to use again (not if a statement of the
    transaction was cut off half-way, or the connection broke)."""
    if conn.is_closed() or conn.is_in_transaction() is False:
        return False
    try:
        await asyncio.shield(conn.execute("ROLLBACK"))
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.CancelledError):
        return False
    return True


def _asyncpg_call(conn: asyncpg.Connection) -> Call:
    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        return await greenlet_spawn(fn, AsyncpgDb(conn), *args)

    return call
