"""Witness cosignatures: the newest one per community and witness.

Revision ID: 0004_witness_cosignatures
Revises: 0003_credential_expiry
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_witness_cosignatures"
down_revision = "0003_credential_expiry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "witness_cosignatures",
        sa.Column("community", sa.String(40), primary_key=True),
        sa.Column("witness", sa.String(200), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.String(44), nullable=False),
        sa.Column("line", sa.String(400), nullable=False),
        sa.Column("cosigned_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("witness_cosignatures")
