"""The community's approval threshold, cached with its other settings.

A ``configure`` entry of format version 2 may carry ``approval_threshold_minutes``:
earnings above it need a second coordinator, and the journal's authority rules
apply (``ledger.rules.check_authority``). The cache holds it next to the cap.

Revision ID: 0004_approval_threshold
Revises: 0003_partial_corrections
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_approval_threshold"
down_revision = "0003_partial_corrections"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_settings") as batch:
        batch.add_column(sa.Column("approval_threshold_minutes", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_settings") as batch:
        batch.drop_column("approval_threshold_minutes")
