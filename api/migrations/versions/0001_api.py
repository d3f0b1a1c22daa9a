"""The application's tables: communities, people, roles, credentials, links, approvals,
stored responses for retries, and lockouts.

Revision ID: 0001_api
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_api"
down_revision = None
branch_labels = None
depends_on = None


def _s(name: str, length: int, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length), nullable=nullable)


def _t(name: str, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "communities",
        _s("slug", 40), _s("name", 100), _s("currency_name", 40), _s("community_account", 40),
        _t("created_at"), _s("created_by", 40),
        sa.PrimaryKeyConstraint("slug"),
    )  # fmt: skip
    op.create_table(
        "named_accounts",
        _s("community", 40), _s("account_id", 40), _s("type", 16), _s("name", 100),
        _t("created_at"),
        sa.PrimaryKeyConstraint("community", "account_id"),
    )  # fmt: skip
    op.create_table(
        "people",
        _s("id", 40), _s("community", 40, True), _s("staff_id", 40, True), _s("name", 100),
        _s("phone", 32, True), _s("email", 254, True), _s("language", 8),
        _s("neighbourhood", 100, True), _t("created_at"), _t("erased_at", True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("staff_id"),
    )  # fmt: skip
    op.create_index("ix_people_community", "people", ["community", "id"])
    op.create_table(
        "roles",
        _s("person_id", 40), _s("role", 16), _s("scope", 40), _s("community", 40, True),
        _t("granted_at"), _s("granted_by", 40),
        sa.PrimaryKeyConstraint("person_id", "role", "scope"),
    )  # fmt: skip
    op.create_index("ix_roles_community", "roles", ["community", "role", "scope"])
    op.create_table(
        "credentials",
        _s("id", 40), _s("token_hash", 64), _s("kind", 8), _s("person_id", 40),
        _s("community", 40, True), _s("role", 16, True), _s("label", 100), _t("created_at"),
        _s("created_by", 40), _t("last_used_at", True), _t("revoked_at", True),
        _s("revoked_by", 40, True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )  # fmt: skip
    op.create_index("ix_credentials_person", "credentials", ["person_id"])
    op.create_table(
        "enrolment_links",
        _s("id", 40), _s("token_hash", 64), _s("person_id", 40), _s("community", 40),
        _t("created_at"), _s("created_by", 40), _t("expires_at"), _t("used_at", True),
        _s("device_id", 40, True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )  # fmt: skip
    op.create_index("ix_enrolment_links_person", "enrolment_links", ["person_id"])
    op.create_table(
        "pending_earnings",
        _s("community", 40), _s("id", 64), _s("status", 16), _s("fingerprint", 64),
        _s("organisation", 40), _s("member", 40),
        sa.Column("amount_minutes", sa.BigInteger(), nullable=False),
        _s("activity", 200), _s("worked_on", 10), _s("memo", 280), _s("recorded_by", 40),
        _t("recorded_at"), _s("decided_by", 40, True), _t("decided_at", True),
        sa.PrimaryKeyConstraint("community", "id"),
    )  # fmt: skip
    op.create_index("ix_pending_earnings_status", "pending_earnings", ["community", "status"])
    op.create_table(
        "idempotent_responses",
        _s("scope", 40), _s("key_hash", 64), _s("fingerprint", 64), _s("state", 8),
        _s("plan", 2000), sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=True), _s("person_id", 40, True),
        _t("created_at"),
        sa.PrimaryKeyConstraint("scope", "key_hash"),
    )  # fmt: skip
    op.create_table(
        "lockouts",
        _s("bucket", 100), sa.Column("failures", sa.Integer(), nullable=False),
        _t("window_started_at"), _t("locked_until", True),
        sa.PrimaryKeyConstraint("bucket"),
    )  # fmt: skip


def downgrade() -> None:
    for table in (
        "lockouts", "idempotent_responses", "pending_earnings", "enrolment_links",
        "credentials", "roles", "people", "named_accounts", "communities",
    ):  # fmt: skip
        op.drop_table(table)
