"""Short transactions on the application's tables, next to the ledger's own.

The ledger's writer holds SQLite's single write lock for each group commit, so
a request must never hold a write transaction of its own while it waits for
the ledger: routes that append do their table work in short transactions
before and after. Write transactions start with ``BEGIN IMMEDIATE`` on SQLite
(they wait for the lock up front instead of failing half-way); reads take no
lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from ledger.sql.engine import WRITE_OPTION

# How deep ``database_unreachable`` looks into an error's causes.
CAUSES_MAX = 8
# A connection refused or reset, PostgreSQL shutting down, starting up or in recovery.
_UNREACHABLE = (
    OSError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)


def database_unreachable(error: BaseException) -> bool:
    """Whether ``error``, or an error that caused it, says the database cannot be
    reached right now (as opposed to a statement it refused)."""
    cause: BaseException | None = error
    for _ in range(CAUSES_MAX):
        if cause is None:
            return False
        if isinstance(cause, _UNREACHABLE):
            return True
        if isinstance(cause, DBAPIError):
            if cause.connection_invalidated:
                return True
            # The driver's error it wraps (SQLAlchemy also chains it, not always).
            if isinstance(cause.orig, BaseException):
                cause = cause.orig
                continue
        cause = cause.__cause__ or cause.__context__
    return False


class Database:
    def __init__(self, engine: AsyncEngine, write_lock: asyncio.Lock | None = None) -> None:
        """``write_lock``: the store's (``SqlStore.write_lock``), so the application's
        write transactions queue with the journal's instead of inside SQLite."""
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._write_lock = write_lock
        self._writer = (
            engine.execution_options(**{WRITE_OPTION: True}) if self.is_sqlite else engine
        )

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One write transaction: committed when the block ends, rolled back on error."""
        async with (
            self._locked(),
            AsyncSession(self._writer, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
            return
        async with self._write_lock:
            yield

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with AsyncSession(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
