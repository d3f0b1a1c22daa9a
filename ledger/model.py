"""The ledger's vocabulary: accounts, postings, drafts, entries and rejections.

One word per concept:

- an *entry* is what the journal holds, numbered by ``seq`` from 0 without gaps;
- a *draft* is what a caller asks the ledger to append (an entry before it has a
  place in the journal);
- a *posting* moves a positive number of minutes from one account to another;
- *open*, *configure*, *budget*, *staff*, *earn*, *transfer*, *redeem*, *settle*
  and *correct* are the kinds of entry;
- *staff* are the people who act for an organisation, known to the journal by a
  pseudonymous staff id only (names live in tables that can be erased).

Amounts are integer minutes (1 credit = 60 minutes).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ledger.limits import FORMAT_VERSION

MetaValue = str | int | bool
Meta = tuple[tuple[str, MetaValue], ...]


class AccountType(enum.StrEnum):
    MEMBER = "member"
    SHOP = "shop"
    ORGANISATION = "organisation"
    COMMUNITY = "community"


class EntryKind(enum.StrEnum):
    OPEN = "open"  # declares an account: id, type, floor or budget
    CONFIGURE = "configure"  # replaces the community's settings
    BUDGET = "budget"  # sets an organisation's monthly issuing budget
    STAFF = "staff"  # grants or revokes a staff id's role for an organisation
    EARN = "earn"  # organisation -> member, for confirmed volunteer work
    TRANSFER = "transfer"  # member -> member
    REDEEM = "redeem"  # member -> shop
    SETTLE = "settle"  # shop -> community: the shop's credits are retired
    CORRECT = "correct"  # reverses (part of) an earlier entry, naming it


MOVING_KINDS = frozenset(
    {EntryKind.EARN, EntryKind.TRANSFER, EntryKind.REDEEM, EntryKind.SETTLE, EntryKind.CORRECT}
)
CORRECTABLE_KINDS = frozenset(
    {EntryKind.EARN, EntryKind.TRANSFER, EntryKind.REDEEM, EntryKind.SETTLE}
)

# Which account types may pay and receive in each kind of entry that moves minutes.
POSTING_TYPES: dict[EntryKind, tuple[AccountType, AccountType]] = {
    EntryKind.EARN: (AccountType.ORGANISATION, AccountType.MEMBER),
    EntryKind.TRANSFER: (AccountType.MEMBER, AccountType.MEMBER),
    EntryKind.REDEEM: (AccountType.MEMBER, AccountType.SHOP),
    EntryKind.SETTLE: (AccountType.SHOP, AccountType.COMMUNITY),
}


@dataclass(frozen=True, slots=True)
class Posting:
    payer: str
    payee: str
    amount_minutes: int


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """An account as declared by an open entry.

    ``floor_minutes`` is the lowest balance allowed; ``None`` only for
    organisations, whose issuing is bounded by ``budget_minutes_per_month``.
    """

    id: str
    type: AccountType
    floor_minutes: int | None = 0
    budget_minutes_per_month: int | None = None


class StaffRole(enum.StrEnum):
    COORDINATOR = "coordinator"  # records and approves an organisation's earnings


@dataclass(frozen=True, slots=True)
class Settings:
    """The community's rules, replaced whole by each configure entry.

    ``member_earning_cap_minutes_per_month`` is ``None`` when there is no cap.
    ``approval_threshold_minutes`` is ``None`` in journals without authority
    (format version 1); with it, earnings are recorded by the organisation's
    coordinators, one above the threshold is approved by a second one, and a
    transfer is asked for by its payer (``rules.check_authority``).
    """

    members_may_transfer: bool = True
    member_earning_cap_minutes_per_month: int | None = None
    approval_threshold_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class StaffChange:
    """A staff entry: ``staff_id`` holds (``active``) or no longer holds ``role`` for
    ``organisation``. The staff id is pseudonymous, as account ids are."""

    staff_id: str
    role: StaffRole
    organisation: str
    active: bool


@dataclass(frozen=True, slots=True)
class BudgetChange:
    organisation: str
    budget_minutes_per_month: int


@dataclass(frozen=True, slots=True)
class Draft:
    """What a caller asks the ledger to append.

    A retried draft with the same id and the same content returns the original
    entry instead of appending again. ``key``, when present, is the caller's own
    name for the request (an Idempotency-Key scoped to the caller): the ledger
    maps it to the id of the first draft that carried it, so a retry under a
    fresh id is answered as that draft. The key is not part of the entry and
    plays no part in comparing drafts.
    """

    id: str
    kind: EntryKind
    actor: str
    postings: tuple[Posting, ...] = ()
    memo: str = ""
    reference: str = ""
    meta: Meta = ()
    account: AccountSpec | None = None
    settings: Settings | None = None
    budget: BudgetChange | None = None
    corrects: int | None = None  # seq of the entry this one corrects
    staff: StaffChange | None = None
    key: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Entry:
    """An entry as the journal holds it: the draft plus its place and time.

    ``data`` is the exact canonical bytes that are hashed; ``leaf`` is their
    RFC 6962 leaf hash; ``prev`` is the previous entry's leaf hash.
    """

    community: str
    seq: int
    time: str  # RFC 3339 UTC, fixed width: 2026-11-28T04:27:47.123456Z
    draft: Draft
    prev: bytes
    data: bytes = field(repr=False)
    leaf: bytes
    version: int = FORMAT_VERSION  # the entry's ``v``: which members it may use

    @property
    def id(self) -> str:
        return self.draft.id

    @property
    def kind(self) -> EntryKind:
        return self.draft.kind

    @property
    def month(self) -> str:
        return self.time[:7]


class Rejection(enum.StrEnum):
    """Why a draft was not appended. Checked in this order; the first match wins.

    Stateless checks come first, then idempotency, then checks against the
    ledger's state. A draft rejected for a state reason stays rejected: its id
    cannot be reused.
    """

    # -- shape of the draft, no state needed
    ID_INVALID = "id_invalid"
    ACTOR_INVALID = "actor_invalid"
    MEMO_TOO_LONG = "memo_too_long"
    REFERENCE_TOO_LONG = "reference_too_long"
    TEXT_INVALID = "text_invalid"
    META_INVALID = "meta_invalid"
    FIELDS_DO_NOT_MATCH_KIND = "fields_do_not_match_kind"
    ACCOUNT_ID_INVALID = "account_id_invalid"
    POSTINGS_COUNT_INVALID = "postings_count_invalid"
    AMOUNT_MUST_BE_POSITIVE = "amount_must_be_positive"
    AMOUNT_EXCEEDS_MAXIMUM = "amount_exceeds_maximum"
    PAYER_MUST_DIFFER_FROM_PAYEE = "payer_must_differ_from_payee"
    BUDGET_INVALID = "budget_invalid"
    CAP_INVALID = "cap_invalid"
    APPROVAL_THRESHOLD_INVALID = "approval_threshold_invalid"
    FLOOR_INVALID = "floor_invalid"
    # -- idempotency: the id was used before
    EXISTS_WITH_DIFFERENT_KIND = "exists_with_different_kind"
    EXISTS_WITH_DIFFERENT_ACTOR = "exists_with_different_actor"
    EXISTS_WITH_DIFFERENT_PAYER = "exists_with_different_payer"
    EXISTS_WITH_DIFFERENT_PAYEE = "exists_with_different_payee"
    EXISTS_WITH_DIFFERENT_AMOUNT = "exists_with_different_amount"
    EXISTS_WITH_DIFFERENT_MEMO = "exists_with_different_memo"
    EXISTS_WITH_DIFFERENT_REFERENCE = "exists_with_different_reference"
    EXISTS_WITH_DIFFERENT_META = "exists_with_different_meta"
    EXISTS_WITH_DIFFERENT_CONTENT = "exists_with_different_content"
    ID_ALREADY_FAILED = "id_already_failed"
    # -- against the ledger's state
    ACCOUNT_ALREADY_EXISTS = "account_already_exists"
    COMMUNITY_ACCOUNT_ALREADY_EXISTS = "community_account_already_exists"
    APPROVAL_THRESHOLD_REMOVED = "approval_threshold_removed"  # authority stays once declared
    PAYER_NOT_FOUND = "payer_not_found"
    PAYEE_NOT_FOUND = "payee_not_found"
    ORGANISATION_NOT_FOUND = "organisation_not_found"
    PAYER_TYPE_NOT_ALLOWED = "payer_type_not_allowed"
    PAYEE_TYPE_NOT_ALLOWED = "payee_type_not_allowed"
    TRANSFERS_BETWEEN_MEMBERS_DISABLED = "transfers_between_members_disabled"
    CORRECTED_ENTRY_NOT_FOUND = "corrected_entry_not_found"
    CORRECTED_ENTRY_NOT_CORRECTABLE = "corrected_entry_not_correctable"
    # An entry may be corrected in parts; together the corrections reverse at most it.
    ALREADY_CORRECTED = "already_corrected"  # earlier corrections reversed all of it
    CORRECTION_DOES_NOT_MATCH_ORIGINAL = "correction_does_not_match_original"
    CORRECTION_EXCEEDS_ORIGINAL = "correction_exceeds_original"  # more than remains of a posting
    EXCEEDS_MONTHLY_BUDGET = "exceeds_monthly_budget"
    EXCEEDS_MONTHLY_EARNING_CAP = "exceeds_monthly_earning_cap"
    EXCEEDS_BALANCE = "exceeds_balance"
    EXCEEDS_BALANCE_MAXIMUM = "exceeds_balance_maximum"
    # -- authority, in journals whose settings carry an approval threshold
    ACTOR_NOT_COORDINATOR = "actor_not_coordinator"  # an earn by anyone else
    APPROVAL_REQUIRED = "approval_required"  # above the threshold, no second coordinator
    APPROVER_NOT_COORDINATOR = "approver_not_coordinator"
    APPROVER_IS_ACTOR = "approver_is_actor"
    ACTOR_NOT_PAYER = "actor_not_payer"  # a transfer asked for by someone else


# Who may act: the audit checks these (``rules.check_authority``); the API before it appends.
AUTHORITY_REJECTIONS = frozenset(
    list(Rejection)[list(Rejection).index(Rejection.ACTOR_NOT_COORDINATOR) :]
)

STATELESS_REJECTIONS = frozenset(
    list(Rejection)[: list(Rejection).index(Rejection.FLOOR_INVALID) + 1]
)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A draft the ledger refused, with the numbers that explain why."""

    id: str
    code: Rejection
    numbers: tuple[tuple[str, int | str], ...] = ()

    @property
    def detail(self) -> dict[str, int | str]:
        return dict(self.numbers)
