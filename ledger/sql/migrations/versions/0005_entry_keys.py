"""Callers' keys map to entry ids instead of being them.

The API names each entry it appends with a time-ordered id (``ledger.ids``), so
that the journal's id index grows at its end. A request's Idempotency-Key,
scoped to its caller, is kept here with the id of the entry (or remembered
rejection) it named first, written in the same batch transaction; a retry under
the same key is answered as that entry. ``time`` is the batch's entry time:
keys older than the retention window are forgotten, oldest first, by the
(community, time) index.

Before this revision the API named an entry by the scoped key itself. So that a
client's retry across the upgrade still finds its entry, each entry of the last
``CARRIED_DAYS`` (and each remembered rejection) is mapped from its own id.

Revision ID: 0005_entry_keys
Revises: 0004_approval_threshold
Create Date: 2026-12-06
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0005_entry_keys"
down_revision = "0004_approval_threshold"
branch_labels = None
depends_on = None

# Entries this many days older than a journal's newest are not carried over:
# the server's default retention window for keys.
CARRIED_DAYS = 30


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
    newest = op.get_bind().execute(sa.text("SELECT max(time) FROM journal_entries")).scalar()
    if newest is None:
        return
    since = datetime.fromisoformat(newest) - timedelta(days=CARRIED_DAYS)
    op.execute(
        sa.text(
            "INSERT INTO entry_keys (community, key, id, time) "
            "SELECT community, id, id, time FROM journal_entries WHERE time >= :since"
        ).bindparams(since=since.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    )
    op.execute(
        sa.text(
            "INSERT INTO entry_keys (community, key, id, time) "
            "SELECT community, id, id, :newest FROM rejections "
            "WHERE NOT EXISTS (SELECT 1 FROM entry_keys k "
            "WHERE k.community = rejections.community AND k.key = rejections.id)"
        ).bindparams(newest=newest)
    )


def downgrade() -> None:
    op.drop_index("ix_entry_keys_time", table_name="entry_keys")
    op.drop_table("entry_keys")
