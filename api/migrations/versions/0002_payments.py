"""Paying: payment requests, pay-code devices, printed cards, payments taken without
a scan, and the community's caps on those.

Revision ID: 0002_payments
Revises: 0001_api
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_payments"
down_revision = "0001_api"
branch_labels = None
depends_on = None


def _s(name: str, length: int, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length), nullable=nullable)


def _t(name: str, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _i(name: str, default: int) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=False, server_default=str(default))


def upgrade() -> None:
    with op.batch_alter_table("communities") as batch:
        batch.add_column(_i("offline_payment_minutes_max", 240))
        batch.add_column(_i("offline_day_minutes_max", 480))
    op.create_table(
        "payment_requests",
        _s("id", 26), _s("community", 40), _s("payee", 40), _s("payee_type", 16),
        _t("amount_minutes", True), _s("memo", 280), _s("status", 16), _s("created_by", 40),
        _s("credential_id", 40), _t("created_at"), _t("expires_at"), _i("attempt", 0),
        _s("payer", 40, True), _t("claimed_at", True), _s("entry_id", 64, True),
        _t("paid_minutes", True), _t("decided_at", True),
        sa.PrimaryKeyConstraint("id"),
    )  # fmt: skip
    op.create_index(
        "ix_payment_requests_payee", "payment_requests", ["community", "payee", "created_at"]
    )
    op.create_index("ix_payment_requests_status", "payment_requests", ["status", "expires_at"])
    op.create_table(
        "pay_code_devices",
        _s("credential_id", 40), _s("community", 40), _s("member", 40), _s("device_number", 6),
        sa.Column("secret", sa.LargeBinary(), nullable=False), _t("created_at"),
        _t("last_step", True), _i("failures", 0), _t("locked_until", True),
        sa.PrimaryKeyConstraint("credential_id"),
    )  # fmt: skip
    op.create_index(
        "ux_pay_code_devices_number",
        "pay_code_devices",
        ["community", "device_number"],
        unique=True,
    )
    op.create_table(
        "cards",
        _s("id", 40), _s("community", 40), _s("member", 40), _s("person_id", 40),
        sa.Column("pin_salt", sa.LargeBinary(), nullable=False),
        sa.Column("pin_hash", sa.LargeBinary(), nullable=False),
        _t("issued_at"), _s("issued_by", 40), _i("failures", 0), _t("locked_at", True),
        _t("revoked_at", True), _s("revoked_by", 40, True),
        sa.PrimaryKeyConstraint("id"),
    )  # fmt: skip
    op.create_index("ix_cards_member", "cards", ["community", "member"])
    op.create_table(
        "offline_payments",
        _s("community", 40), _s("entry_id", 64), _s("member", 40), _s("method", 8),
        _s("instrument", 40), _s("shop", 40), sa.Column("amount_minutes", sa.BigInteger(),
        nullable=False), _s("day", 10), _t("created_at"), _t("reported_at", True),
        _s("report_note", 280, True),
        sa.PrimaryKeyConstraint("community", "entry_id"),
    )  # fmt: skip
    op.create_index(
        "ix_offline_payments_member_day", "offline_payments", ["community", "member", "day"]
    )
    op.create_index(
        "ix_offline_payments_reported", "offline_payments", ["community", "reported_at"]
    )


def downgrade() -> None:
    for table in ("offline_payments", "cards", "pay_code_devices", "payment_requests"):
        op.drop_table(table)
    with op.batch_alter_table("communities") as batch:
        batch.drop_column("offline_day_minutes_max")
        batch.drop_column("offline_payment_minutes_max")
