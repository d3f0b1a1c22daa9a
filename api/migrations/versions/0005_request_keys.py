"""Held earnings and offline payments are found by their request's key, not their id.

Entry ids are time-ordered and made by the server; a request's Idempotency-Key,
scoped to its caller, maps to the id instead of being it. The rows that reserve
an id before the entry exists (a held earning, an offline payment's
reservation) keep the scoped key beside it, unique per community, so a retry
finds them. Rows written before hold as their id what is now
``api.idempotency.legacy_entry_id``: the key column starts as
``ledger.ids.key_of_legacy_id`` of it.

Revision ID: 0005_request_keys
Revises: 0004_witness_cosignatures
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ledger.ids import key_of_legacy_id

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
        bind = op.get_bind()
        ids = [row[0] for row in bind.execute(sa.text(f"SELECT {id_column} FROM {table}"))]
        update = sa.text(f"UPDATE {table} SET key = :k WHERE {id_column} = :i")
        if ids:
            bind.execute(update, [{"k": key_of_legacy_id(i), "i": i} for i in ids])
        with op.batch_alter_table(table) as batch:
            batch.alter_column("key", existing_type=sa.String(64), nullable=False)
        op.create_index(f"ix_{table}_key", table, ["community", "key"], unique=True)


def downgrade() -> None:
    for table, _ in _TABLES:
        op.drop_index(f"ix_{table}_key", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("key")
