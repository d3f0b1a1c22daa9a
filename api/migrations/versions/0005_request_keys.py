"""Held earnings and offline payments are found by their request's key, not their id.

Entry ids are time-ordered and made by the server; a request's Idempotency-Key,
scoped to its caller, maps to the id instead of being it. The rows that reserve
an id before the entry exists (a held earning, an offline payment's
reservation) keep the scoped key beside it, unique per community, so a retry
finds them. Rows written before hold their scoped key as their id: the key
column starts as a copy of it.

Revision ID: 0005_request_keys
Revises: 0004_witness_cosignatures
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_request_keys"
down_revision = "0004_witness_cosignatures"
branch_labels = None
depends_on = None

# (table, id column)
_TABLES = (("pending_earnings", "id"), ("offline_payments", "entry_id"))


def upgrade() -> None:
    for table, id_column in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("key", sa.String(64), nullable=True))
        op.execute(f"UPDATE {table} SET key = {id_column}")
        with op.batch_alter_table(table) as batch:
            batch.alter_column("key", existing_type=sa.String(64), nullable=False)
        op.create_index(f"ix_{table}_key", table, ["community", "key"], unique=True)


def downgrade() -> None:
    for table, _ in _TABLES:
        op.drop_index(f"ix_{table}_key", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("key")
