"""Alembic environment for the application's tables.

Migrations always run on a connection handed in by ``api.migrate``, which opens
it on the async engine and calls Alembic inside ``run_sync``.
"""

from __future__ import annotations

from alembic import context

from api.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through api.migrate.upgrade(engine)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=context.config.attributes.get("version_table", "alembic_version_api"),
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
