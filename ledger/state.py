"""The ledger state the rules read and change: accounts, balances, month counters."""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.model import AccountSpec, Entry, Settings


@dataclass(slots=True)
class AccountState:
    spec: AccountSpec
    balance_minutes: int = 0


@dataclass(slots=True)
class LedgerState:
    """The part of the ledger's state that the rules read.

    The writer loads only what a batch touches; the audit holds every account
    but only the current month's counters, so its memory is bounded by the
    number of accounts, never by the journal's length.
    """

    settings: Settings = field(default_factory=Settings)
    accounts: dict[str, AccountState] = field(default_factory=dict)
    community_account: str | None = None
    # (account, "YYYY-MM") -> net minutes an organisation issued, or a member
    # earned, in that month; corrections of earn entries count back.
    monthly: dict[tuple[str, str], int] = field(default_factory=dict)
    # seq -> entry, for entries that are (or may be) corrected.
    originals: dict[int, Entry] = field(default_factory=dict)
    # seq of a corrected entry -> minutes the corrections so far reversed of each
    # of its postings, by position. Only for entries in ``originals``.
    reversed_minutes: dict[int, tuple[int, ...]] = field(default_factory=dict)
    # (staff id, organisation) of every active coordinator, from staff entries.
    coordinators: set[tuple[str, str]] = field(default_factory=set)
    size: int = 0

    def balance(self, account_id: str) -> int:
        return self.accounts[account_id].balance_minutes
