"""The application's schema migrations: Alembic on the async engine.

The journal's migrations (``ledger.sql.migrate``) run first; these follow, with
their own version table ``alembic_version_api``. Safe to run on every start.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.sql.migrate import alembic_config, run_upgrade

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version_api"


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the application's tables to ``revision`` (the newest by default)."""
    await run_upgrade(engine, alembic_config(MIGRATIONS, VERSION_TABLE), revision)
