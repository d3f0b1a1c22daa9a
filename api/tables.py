"""The application's own tables: people, roles, credentials, links, approvals, replays, limits.

These hold what the journal must not: names and contact details (erasable),
device sessions and API tokens (stored as SHA-256 hashes only), enrolment links,
earnings waiting for a second coordinator, stored responses for idempotent
retries, and lockout counters. They have their own metadata and their own
Alembic version table (``alembic_version_api``), so the journal's schema and
this one evolve separately. Times are integer Unix seconds (UTC).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, LargeBinary
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class ApiTable(SQLModel, registry=registry()):
    """Base of the application's tables, kept out of the journal's metadata."""


metadata = ApiTable.metadata


def _time(nullable: bool = False) -> Column[int]:
    return Column(BigInteger, nullable=nullable)


class CommunityRow(ApiTable, table=True):
    __tablename__ = "communities"

    slug: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=100)
    currency_name: str = Field(max_length=40)
    community_account: str = Field(max_length=40)
    created_at: int = Field(sa_column=_time())
    created_by: str = Field(max_length=40)


class NamedAccountRow(ApiTable, table=True):
    """The public name of an organisation's or shop's account (not personal data)."""

    __tablename__ = "named_accounts"

    community: str = Field(primary_key=True, max_length=40)
    account_id: str = Field(primary_key=True, max_length=40)
    type: str = Field(max_length=16)
    name: str = Field(max_length=100)
    created_at: int = Field(sa_column=_time())


class PersonRow(ApiTable, table=True):
    """A person; ``community`` is None only for deployment operators."""

    __tablename__ = "people"
    __table_args__ = (Index("ix_people_community", "community", "id"),)

    id: str = Field(primary_key=True, max_length=40)
    community: str | None = Field(default=None, max_length=40)
    staff_id: str | None = Field(default=None, max_length=40, unique=True)
    name: str = Field(max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    language: str = Field(max_length=8)
    neighbourhood: str | None = Field(default=None, max_length=100)
    created_at: int = Field(sa_column=_time())
    erased_at: int | None = Field(default=None, sa_column=_time(nullable=True))


class RoleRow(ApiTable, table=True):
    """One role a person holds; ``scope`` is the account it applies to, or ''."""

    __tablename__ = "roles"
    __table_args__ = (Index("ix_roles_community", "community", "role", "scope"),)

    person_id: str = Field(primary_key=True, max_length=40)
    role: str = Field(primary_key=True, max_length=16)
    scope: str = Field(primary_key=True, max_length=40)
    community: str | None = Field(default=None, max_length=40)
    granted_at: int = Field(sa_column=_time())
    granted_by: str = Field(max_length=40)


class CredentialRow(ApiTable, table=True):
    """A device session or an API token; only the token's SHA-256 is kept.

    ``role`` is None for a device session (it carries all the person's roles) and
    the one role an API token was issued for otherwise.
    """

    __tablename__ = "credentials"
    __table_args__ = (Index("ix_credentials_person", "person_id"),)

    id: str = Field(primary_key=True, max_length=40)
    token_hash: str = Field(max_length=64, unique=True)
    kind: str = Field(max_length=8)
    person_id: str = Field(max_length=40)
    community: str | None = Field(default=None, max_length=40)
    role: str | None = Field(default=None, max_length=16)
    label: str = Field(max_length=100)
    created_at: int = Field(sa_column=_time())
    created_by: str = Field(max_length=40)
    last_used_at: int | None = Field(default=None, sa_column=_time(nullable=True))
    revoked_at: int | None = Field(default=None, sa_column=_time(nullable=True))
    revoked_by: str | None = Field(default=None, max_length=40)


class EnrolmentLinkRow(ApiTable, table=True):
    __tablename__ = "enrolment_links"
    __table_args__ = (Index("ix_enrolment_links_person", "person_id"),)

    id: str = Field(primary_key=True, max_length=40)
    token_hash: str = Field(max_length=64, unique=True)
    person_id: str = Field(max_length=40)
    community: str = Field(max_length=40)
    created_at: int = Field(sa_column=_time())
    created_by: str = Field(max_length=40)
    expires_at: int = Field(sa_column=_time())
    used_at: int | None = Field(default=None, sa_column=_time(nullable=True))
    device_id: str | None = Field(default=None, max_length=40)


class PendingEarningRow(ApiTable, table=True):
    """An earning above the approval threshold, waiting for a second coordinator.

    ``id`` is the recording request's Idempotency-Key, and becomes the entry's id.
    """

    __tablename__ = "pending_earnings"
    __table_args__ = (Index("ix_pending_earnings_status", "community", "status"),)

    community: str = Field(primary_key=True, max_length=40)
    id: str = Field(primary_key=True, max_length=64)
    status: str = Field(max_length=16)
    fingerprint: str = Field(max_length=64)
    organisation: str = Field(max_length=40)
    member: str = Field(max_length=40)
    amount_minutes: int = Field(sa_column=Column(BigInteger, nullable=False))
    activity: str = Field(max_length=200)
    worked_on: str = Field(max_length=10)
    memo: str = Field(max_length=280)
    recorded_by: str = Field(max_length=40)
    recorded_at: int = Field(sa_column=_time())
    decided_by: str | None = Field(default=None, max_length=40)
    decided_at: int | None = Field(default=None, sa_column=_time(nullable=True))


class IdempotentResponseRow(ApiTable, table=True):
    """The first response to a non-ledger POST, replayed for retries with the same key.

    The row is found by a hash of the key, and the response is sealed with a key
    derived from the Idempotency-Key itself, so a database dump does not reveal
    the secrets (tokens, links) or personal data that some responses carry.
    """

    __tablename__ = "idempotent_responses"

    scope: str = Field(primary_key=True, max_length=40)
    key_hash: str = Field(primary_key=True, max_length=64)
    fingerprint: str = Field(max_length=64)
    state: str = Field(max_length=8)
    plan: str = Field(max_length=2000)
    status_code: int | None = None
    sealed: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    person_id: str | None = Field(default=None, max_length=40)
    created_at: int = Field(sa_column=_time())


class LockoutRow(ApiTable, table=True):
    """Failed attempts per bucket (e.g. enrolment by client address) and any lockout."""

    __tablename__ = "lockouts"

    bucket: str = Field(primary_key=True, max_length=100)
    failures: int
    window_started_at: int = Field(sa_column=_time())
    locked_until: int | None = Field(default=None, sa_column=_time(nullable=True))
