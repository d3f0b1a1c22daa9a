"""Schema migrations: run Alembic on the async engine.

Each layer owns its schema and its own Alembic version table; the journal's is
``alembic_version_ledger``. ``upgrade`` is safe to run on every start. On
PostgreSQL, a run that applied a migration ends with ``ANALYZE``: a migration
may fill or index many rows, and the planner should not wait for autovacuum to
learn of them.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(script_location: Path, version_table: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["version_table"] = version_table
    return config


async def run_upgrade(engine: AsyncEngine, config: Config, revision: str = "head") -> None:
    def _upgrade(connection: Connection) -> None:
        config.attributes["connection"] = connection
        before = _heads(connection, config)
        command.upgrade(config, revision)
        if connection.dialect.name == "postgresql" and _heads(connection, config) != before:
            connection.exec_driver_sql("ANALYZE")

    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


def _heads(connection: Connection, config: Config) -> tuple[str, ...]:
    opts = {"version_table": config.attributes["version_table"]}
    return MigrationContext.configure(connection, opts=opts).get_current_heads()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the journal's schema to ``revision`` (the newest by default)."""
    await run_upgrade(engine, alembic_config(MIGRATIONS, "alembic_version_ledger"), revision)
