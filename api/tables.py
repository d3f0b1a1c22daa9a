"""The application's own tables: people, roles, credentials, links, approvals, payments, limits.

These hold what the journal must not: names and contact details (erasable),
device sessions and API tokens (stored as SHA-256 hashes only), enrolment links,
earnings waiting for a second coordinator, payment requests, pay-code devices,
printed cards, the log of payments taken without a scan (for caps and reports),
stored responses for idempotent retries, and lockout counters. They have their
own metadata and their own Alembic version table (``alembic_version_api``), so
the journal's schema and this one evolve separately. Times are integer Unix
seconds (UTC).
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
    # Caps on payments a shop takes with a pay code or a printed card (no scan by
    # the member): per payment, and per member per calendar day (UTC).
    offline_payment_minutes_max: int = Field(default=240)
    offline_day_minutes_max: int = Field(default=480)


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
    the one role an API token was issued for otherwise. ``expires_at``: an API
    token is refused from then on (None: it does not expire).
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
    expires_at: int | None = Field(default=None, sa_column=_time(nullable=True))


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

    ``id`` is the entry id the recording request reserves (a time-ordered id);
    ``key`` is that request's Idempotency-Key scoped to the credential that sent
    it (``api.idempotency.scoped_key``), by which a retry finds the row. Approving
    books the entry under the id, carrying the key.
    """

    __tablename__ = "pending_earnings"
    __table_args__ = (
        Index("ix_pending_earnings_status", "community", "status"),
        Index("ix_pending_earnings_key", "community", "key", unique=True),
    )

    community: str = Field(primary_key=True, max_length=40)
    id: str = Field(primary_key=True, max_length=64)
    key: str = Field(max_length=64)
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


class PaymentRequestRow(ApiTable, table=True):
    """A single-use request to pay ``payee``: a shop's till, or a member's "pay me" code.

    ``id`` is the RID in the QR code's URL (128 random bits, upper-case base32).
    ``status`` moves open -> paying -> paid, or open -> cancelled / expired; a
    payment that the ledger refuses moves paying back to open. ``attempt``
    counts claims: the entry a claim books has the id ``<id>.<attempt>``, so a
    refused attempt never blocks the next payer.
    """

    __tablename__ = "payment_requests"
    __table_args__ = (
        Index("ix_payment_requests_payee", "community", "payee", "created_at"),
        Index("ix_payment_requests_status", "status", "expires_at"),
    )

    id: str = Field(primary_key=True, max_length=26)
    community: str = Field(max_length=40)
    payee: str = Field(max_length=40)
    payee_type: str = Field(max_length=16)
    amount_minutes: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    memo: str = Field(max_length=280)
    status: str = Field(max_length=16)
    created_by: str = Field(max_length=40)
    credential_id: str = Field(max_length=40)
    created_at: int = Field(sa_column=_time())
    expires_at: int = Field(sa_column=_time())
    attempt: int = Field(default=0)
    payer: str | None = Field(default=None, max_length=40)
    claimed_at: int | None = Field(default=None, sa_column=_time(nullable=True))
    entry_id: str | None = Field(default=None, max_length=64)
    paid_minutes: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    decided_at: int | None = Field(default=None, sa_column=_time(nullable=True))


class PayCodeDeviceRow(ApiTable, table=True):
    """A linked phone's pay-code secret (RFC 6238 TOTP), one per device session.

    A pay code is ``device_number`` (6 digits) followed by the 6-digit TOTP of
    the current 30-second step. ``last_step`` is the newest step used, so each
    code works once; ``failures`` wrong codes in a row lock the device's codes.
    """

    __tablename__ = "pay_code_devices"
    __table_args__ = (
        Index("ux_pay_code_devices_number", "community", "device_number", unique=True),
    )

    credential_id: str = Field(primary_key=True, max_length=40)
    community: str = Field(max_length=40)
    member: str = Field(max_length=40)
    device_number: str = Field(max_length=6)
    secret: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: int = Field(sa_column=_time())
    last_step: int | None = Field(default=None, sa_column=_time(nullable=True))
    failures: int = Field(default=0)
    locked_until: int | None = Field(default=None, sa_column=_time(nullable=True))


class CardRow(ApiTable, table=True):
    """A printed card: its QR holds Ed25519-signed claims; the PIN is kept as a scrypt hash."""

    __tablename__ = "cards"
    __table_args__ = (Index("ix_cards_member", "community", "member"),)

    id: str = Field(primary_key=True, max_length=40)
    community: str = Field(max_length=40)
    member: str = Field(max_length=40)
    person_id: str = Field(max_length=40)
    pin_salt: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    pin_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    issued_at: int = Field(sa_column=_time())
    issued_by: str = Field(max_length=40)
    failures: int = Field(default=0)
    locked_at: int | None = Field(default=None, sa_column=_time(nullable=True))
    revoked_at: int | None = Field(default=None, sa_column=_time(nullable=True))
    revoked_by: str | None = Field(default=None, max_length=40)


class OfflinePaymentRow(ApiTable, table=True):
    """A payment a shop took with a pay code or a card: counted against the caps,
    and what a member reports as "this was not me". ``entry_id`` is the id its
    entry gets, reserved with the row; ``key`` the taking request's scoped
    Idempotency-Key, by which a retry finds the row."""

    __tablename__ = "offline_payments"
    __table_args__ = (
        Index("ix_offline_payments_key", "community", "key", unique=True),
        Index("ix_offline_payments_member_day", "community", "member", "day"),
        # Coordinators list the reported ones.
        Index("ix_offline_payments_reported", "community", "reported_at"),
    )

    community: str = Field(primary_key=True, max_length=40)
    entry_id: str = Field(primary_key=True, max_length=64)
    key: str = Field(max_length=64)
    member: str = Field(max_length=40)
    method: str = Field(max_length=8)
    instrument: str = Field(max_length=40)
    shop: str = Field(max_length=40)
    amount_minutes: int = Field(sa_column=Column(BigInteger, nullable=False))
    day: str = Field(max_length=10)
    created_at: int = Field(sa_column=_time())
    reported_at: int | None = Field(default=None, sa_column=_time(nullable=True))
    report_note: str | None = Field(default=None, max_length=280)


class WitnessCosignatureRow(ApiTable, table=True):
    """The newest cosignature each configured witness gave a community's log: the
    checkpoint it covers (size and base64 root) and its signature line."""

    __tablename__ = "witness_cosignatures"

    community: str = Field(primary_key=True, max_length=40)
    witness: str = Field(primary_key=True, max_length=200)  # the witness's vkey
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    root: str = Field(max_length=44)
    line: str = Field(max_length=400)
    cosigned_at: int = Field(sa_column=_time())
