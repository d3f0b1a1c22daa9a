"""The journal's tables, as SQLModel classes; the schema Alembic migrates.

``journal_entries`` holds each entry's exact canonical bytes (``data``) and the
columns derived from them that queries need; the database refuses UPDATE and
DELETE on it and on ``checkpoints`` (triggers in the migration). ``accounts``,
``monthly_totals`` and ``ledger_settings`` are caches of what the journal says,
updated in the same transaction as the entries; the audit rebuilds them.
``account_history`` indexes entries by the accounts they name, trailing the
journal by fewer than ``limits.HISTORY_LAG_MAX`` entries
(``account_history_marks`` says how far).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, LargeBinary, text
from sqlmodel import Field, SQLModel

metadata = SQLModel.metadata


class JournalEntryRow(SQLModel, table=True):
    __tablename__ = "journal_entries"
    __table_args__ = (
        Index("ix_journal_entries_id", "community", "id", unique=True),
        # Not unique: an entry may be corrected in parts (0003_partial_corrections).
        Index(
            "ix_journal_entries_corrects",
            "community",
            "corrects",
            sqlite_where=text("corrects IS NOT NULL"),
            postgresql_where=text("corrects IS NOT NULL"),
        ),
    )

    community: str = Field(primary_key=True, max_length=40)
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    id: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    time: str = Field(max_length=27)
    # The account paying (or, for open and budget entries, none) and the account
    # receiving (or the account opened / organisation budgeted), for history: the
    # newest entries are found by these, older ones through ``account_history``.
    from_account: str | None = Field(default=None, max_length=40)
    to_account: str | None = Field(default=None, max_length=40)
    corrects: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    leaf: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # Hashes of the Merkle subtrees this leaf completes (levels 1..t), 32 bytes each.
    nodes: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class AccountRowTable(SQLModel, table=True):
    __tablename__ = "accounts"

    community: str = Field(primary_key=True, max_length=40)
    id: str = Field(primary_key=True, max_length=40)
    type: str = Field(max_length=16)
    floor_minutes: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    budget_minutes_per_month: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    balance_minutes: int = Field(sa_column=Column(BigInteger, nullable=False))


class MonthlyTotalRow(SQLModel, table=True):
    __tablename__ = "monthly_totals"

    community: str = Field(primary_key=True, max_length=40)
    account: str = Field(primary_key=True, max_length=40)
    month: str = Field(primary_key=True, max_length=7)
    minutes: int = Field(sa_column=Column(BigInteger, nullable=False))


class LedgerSettingsRow(SQLModel, table=True):
    __tablename__ = "ledger_settings"

    community: str = Field(primary_key=True, max_length=40)
    members_may_transfer: bool
    member_earning_cap_minutes_per_month: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    approval_threshold_minutes: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    community_account: str | None = Field(default=None, max_length=40)


class CheckpointRow(SQLModel, table=True):
    __tablename__ = "checkpoints"

    community: str = Field(primary_key=True, max_length=40)
    size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    root: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    note: str


class RejectionRow(SQLModel, table=True):
    __tablename__ = "rejections"

    community: str = Field(primary_key=True, max_length=40)
    id: str = Field(primary_key=True, max_length=64)
    code: str = Field(max_length=64)
    numbers: str  # canonical JSON object of the rejection's numbers
    fingerprint: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class EntryKeyRow(SQLModel, table=True):
    """A caller's key for a request (``Draft.key``) and the id of the entry or
    rejection it named first; forgotten after the retention window. Narrow on
    purpose: keys are random, so each new one lands on its own page."""

    __tablename__ = "entry_keys"
    __table_args__ = (
        Index("ix_entry_keys_made_at", "community", "made_at"),
        {"sqlite_with_rowid": False},
    )

    community: str = Field(primary_key=True, max_length=40)
    key: str = Field(primary_key=True, max_length=64)
    id: str = Field(max_length=64)
    # The Unix second of the batch's entry time when the key was mapped.
    made_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class AccountHistoryRow(SQLModel, table=True):
    """One entry that names one account (as from_account or to_account)."""

    __tablename__ = "account_history"
    __table_args__ = {"sqlite_with_rowid": False}

    community: str = Field(primary_key=True, max_length=40)
    account: str = Field(primary_key=True, max_length=40)
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))


class AccountHistoryMarkRow(SQLModel, table=True):
    """Entries with seq below ``indexed_size`` are in ``account_history``."""

    __tablename__ = "account_history_marks"

    community: str = Field(primary_key=True, max_length=40)
    indexed_size: int = Field(sa_column=Column(BigInteger, nullable=False))
