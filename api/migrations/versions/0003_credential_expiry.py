"""API tokens may expire: ``credentials.expires_at`` (Unix seconds; NULL never).

Revision ID: 0003_credential_expiry
Revises: 0002_payments
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_credential_expiry"
down_revision = "0002_payments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("expires_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("expires_at")
