"""Real test databases: a fresh PostgreSQL database per test, dropped afterwards."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg

POSTGRES_URL = os.environ.get(
    "BUURTMUNT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
_unavailable: list[str | None] = []


async def postgres_unavailable_reason() -> str | None:
    """None when PostgreSQL answers at POSTGRES_URL; otherwise why not (checked once)."""
    if not _unavailable:
        try:
            conn = await asyncio.wait_for(asyncpg.connect(POSTGRES_URL), timeout=3)
            await conn.close()
            _unavailable.append(None)
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            _unavailable.append(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc!r}")
    return _unavailable[0]


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@asynccontextmanager
async def fresh_postgres_url() -> AsyncIterator[str]:
    name = "bm_test_" + secrets.token_hex(6)
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield with_database(POSTGRES_URL, name)
    finally:
        admin = await asyncpg.connect(POSTGRES_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
