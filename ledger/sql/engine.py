"""Async engines for SQLite and PostgreSQL, configured for durability.

SQLite runs in WAL mode with ``synchronous=FULL`` so that a commit that
returned survives a power cut, and with Python's implicit transactions turned
off so that we choose ``BEGIN IMMEDIATE`` for writes (taking the write lock up
front instead of failing half-way with SQLITE_BUSY). PostgreSQL keeps its
durable defaults.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

T = TypeVar("T")
WRITE_OPTION = "buurtmunt_write"
SQLITE_BUSY_TIMEOUT_MS = 10_000
# No connection copies the WAL into the database file as part of a commit (by
# default the commit that takes the WAL past 1,000 pages does, and the next
# batch waits for it): the store's checkpointer does it beside the writers
# (``ledger.sql.connections``), and SQLite does it when the last connection closes.
# The busy timeout comes first: switching a new file to WAL takes a lock that
# another connection opening at the same moment (the checkpointer's) may hold.
SQLITE_PRAGMAS = (
    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA wal_autocheckpoint=0",
)
# SQLite's default limit on a statement's parameters (SQLITE_MAX_VARIABLE_NUMBER).
SQLITE_PARAMETERS_MAX = 32_766
# asyncpg prepares every statement; after five runs PostgreSQL may switch a
# prepared statement to a generic plan, which for `id = ANY($2)` can mean
# scanning a whole community. Batches are large, planning is cheap: always
# plan for the actual parameters.
POSTGRES_SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan"}


def sqlite_chunks(
    items: Sequence[T], width: int, spare: int = 0
) -> Iterator[tuple[Sequence[T], int]]:
    """``items`` in chunks for statements with ``width`` parameters per item, each with
    its number of slots: the next power of two, to be filled up with NULLs.

    sqlite3 keeps a prepared statement per SQL text, and a statement with a
    placeholder group per item has a text per item count: 2,000 rows of an
    entry take ~2 MB prepared, and a text for every batch size would fill the
    cache (128 statements) with hundreds of MB. Padded to powers of two, a
    statement has a dozen texts; the NULL rows match nothing and are skipped.
    A chunk holds as many items as SQLite's parameter limit allows, less
    ``spare`` parameters for the rest of the statement.
    """
    most = 1 << (((SQLITE_PARAMETERS_MAX - spare) // width).bit_length() - 1)
    for start in range(0, len(items), most):
        chunk = items[start : start + most]
        yield chunk, 1 << (len(chunk) - 1).bit_length()


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def async_url(url: str) -> str:
    """Accept plain URLs (``sqlite:///x.db``, ``postgresql://...``) and pick the async driver."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url[len("sqlite:") :]
    if url.startswith("postgresql:") or url.startswith("postgres:"):
        return "postgresql+asyncpg:" + url.split(":", 1)[1]
    return url


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    url = async_url(url)
    if is_sqlite(url):
        engine = create_async_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    # Connections beyond the pool are closed when returned and opened again at the
    # next burst (a TLS handshake and every statement prepared anew): keep enough
    # for a server's usual concurrency (its writers, requests, event streams' reads).
    kwargs.setdefault("pool_size", 32)
    kwargs.setdefault("max_overflow", 16)
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("connect_args", {"server_settings": dict(POSTGRES_SERVER_SETTINGS)})
    return create_async_engine(url, **kwargs)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
