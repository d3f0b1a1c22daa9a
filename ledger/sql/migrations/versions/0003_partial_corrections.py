"""An entry may be corrected in parts: several corrections may name one entry.

A shop refunds a payment fully or in part, in several refunds, all of them
together at most the original (the rules hold that: ``ledger.rules``). The
index on (community, corrects) stays, no longer unique: the writer loads an
entry's earlier corrections through it.

Revision ID: 0003_partial_corrections
Revises: 0002_account_history
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_partial_corrections"
down_revision = "0002_account_history"
branch_labels = None
depends_on = None


def _index(unique: bool) -> None:
    op.create_index(
        "ix_journal_entries_corrects",
        "journal_entries",
        ["community", "corrects"],
        unique=unique,
        sqlite_where=sa.text("corrects IS NOT NULL"),
        postgresql_where=sa.text("corrects IS NOT NULL"),
    )


def upgrade() -> None:
    op.drop_index("ix_journal_entries_corrects", "journal_entries")
    _index(unique=False)


def downgrade() -> None:
    # Fails, as it should, once an entry has been corrected in parts.
    op.drop_index("ix_journal_entries_corrects", "journal_entries")
    _index(unique=True)
