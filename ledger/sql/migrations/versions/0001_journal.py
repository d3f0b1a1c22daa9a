"""The journal, its caches, checkpoints and remembered rejections.

Revision ID: 0001_journal
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_journal"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = ("journal_entries", "checkpoints")


def upgrade() -> None:
    op.create_table(
        "journal_entries",
        sa.Column("community", sa.String(40), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("time", sa.String(27), nullable=False),
        sa.Column("from_account", sa.String(40)),
        sa.Column("to_account", sa.String(40)),
        sa.Column("corrects", sa.BigInteger),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("leaf", sa.LargeBinary, nullable=False),
        sa.Column("nodes", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_journal_entries_id", "journal_entries", ["community", "id"], unique=True)
    op.create_index(
        "ix_journal_entries_from", "journal_entries", ["community", "from_account", "seq"]
    )
    op.create_index("ix_journal_entries_to", "journal_entries", ["community", "to_account", "seq"])
    op.create_index(
        "ix_journal_entries_corrects",
        "journal_entries",
        ["community", "corrects"],
        unique=True,
        sqlite_where=sa.text("corrects IS NOT NULL"),
        postgresql_where=sa.text("corrects IS NOT NULL"),
    )
    op.create_table(
        "accounts",
        sa.Column("community", sa.String(40), primary_key=True),
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("floor_minutes", sa.BigInteger),
        sa.Column("budget_minutes_per_month", sa.BigInteger),
        sa.Column("balance_minutes", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "monthly_totals",
        sa.Column("community", sa.String(40), primary_key=True),
        sa.Column("account", sa.String(40), primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("minutes", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "ledger_settings",
        sa.Column("community", sa.String(40), primary_key=True),
        sa.Column("members_may_transfer", sa.Boolean, nullable=False),
        sa.Column("member_earning_cap_minutes_per_month", sa.BigInteger),
        sa.Column("community_account", sa.String(40)),
    )
    op.create_table(
        "checkpoints",
        sa.Column("community", sa.String(40), primary_key=True),
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_table(
        "rejections",
        sa.Column("community", sa.String(40), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("numbers", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.LargeBinary, nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_append_only()
    else:
        _postgresql_append_only()


def _sqlite_append_only() -> None:
    for table in APPEND_ONLY:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def _postgresql_append_only() -> None:
    op.execute(
        "CREATE FUNCTION buurtmunt_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME "
        "USING ERRCODE = 'insufficient_privilege'; END $$"
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION buurtmunt_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION buurtmunt_append_only()"
        )


def downgrade() -> None:
    # The journal is never dropped by a migration: downgrading past it would
    # destroy the ledger. Restore from a backup instead.
    raise RuntimeError("the journal's first migration cannot be downgraded")
