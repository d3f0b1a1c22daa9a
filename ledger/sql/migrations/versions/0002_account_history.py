"""An account's history is indexed behind the journal, not on every batch.

Two indexes on ``journal_entries`` (community, from_account, seq) and (community,
to_account, seq) made every group commit touch a page per account it named: the
largest part of a batch's write and of its commit. ``account_history`` holds the
same pairs, written in one sorted pass per ``limits.HISTORY_LAG_MAX`` entries;
``account_history_marks`` says how far it reaches.

Revision ID: 0002_account_history
Revises: 0001_journal
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_account_history"
down_revision = "0001_journal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_history",
        sa.Column("community", sa.String(40), primary_key=True),
        sa.Column("account", sa.String(40), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "account_history_marks",
        sa.Column("community", sa.String(40), primary_key=True),
        sa.Column("indexed_size", sa.BigInteger, nullable=False),
    )
    # Everything already in the journal is indexed at once.
    op.execute(
        "INSERT INTO account_history (community, account, seq) "
        "SELECT community, from_account, seq FROM journal_entries "
        "WHERE from_account IS NOT NULL "
        "UNION ALL SELECT community, to_account, seq FROM journal_entries "
        "WHERE to_account IS NOT NULL"
    )
    op.execute(
        "INSERT INTO account_history_marks (community, indexed_size) "
        "SELECT community, MAX(seq) + 1 FROM journal_entries GROUP BY community"
    )
    op.drop_index("ix_journal_entries_from", "journal_entries")
    op.drop_index("ix_journal_entries_to", "journal_entries")


def downgrade() -> None:
    op.create_index(
        "ix_journal_entries_from", "journal_entries", ["community", "from_account", "seq"]
    )
    op.create_index("ix_journal_entries_to", "journal_entries", ["community", "to_account", "seq"])
    op.drop_table("account_history_marks")
    op.drop_table("account_history")
