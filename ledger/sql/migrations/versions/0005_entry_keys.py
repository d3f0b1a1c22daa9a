"""Callers' keys map to entry ids instead of being them.

The API names each entry it appends with a time-ordered id (``ledger.ids``), so
that the journal's id index grows at its end. A request's Idempotency-Key,
scoped to its caller, is kept here with the id of the entry (or remembered
rejection) it named first, written in the same batch transaction; a retry under
the same key is answered as that entry. ``time`` is the batch's entry time:
keys older than the retention window are forgotten, oldest first, by the
(community, time) index.

Revision ID: 0005_entry_keys
Revises: 0004_approval_threshold
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_entry_keys"
down_revision = "0004_approval_threshold"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entry_keys",
        sa.Column("community", sa.String(40), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("time", sa.String(27), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_entry_keys_time", "entry_keys", ["community", "time"])


def downgrade() -> None:
    op.drop_index("ix_entry_keys_time", table_name="entry_keys")
    op.drop_table("entry_keys")
