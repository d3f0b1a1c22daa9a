"""The audit's vocabulary: what a finding is, the structural checks, and the report.

A finding names one failed check. Structural checks carry a ``Check`` code;
an entry that breaks a ledger rule carries the ``Rejection`` code the writer
would have answered, with the message ``rule_message`` gives it.
``docs/ledger-format.md`` section 11 defines every code.
"""

from __future__ import annotations

import base64
import enum
from dataclasses import dataclass

from ledger.checkpoint import Checkpoint
from ledger.model import Rejection

Number = int | str


class Check(enum.StrEnum):
    """The structural checks. Rule findings carry the ``Rejection`` code instead."""

    NOT_CANONICAL = "not_canonical"
    WRONG_COMMUNITY = "wrong_community"
    SEQ_OUT_OF_ORDER = "seq_out_of_order"
    DUPLICATE_ID = "duplicate_id"
    TIME_WENT_BACK = "time_went_back"
    HASH_CHAIN_BROKEN = "hash_chain_broken"
    CHECKPOINT_INVALID = "checkpoint_invalid"
    CHECKPOINT_ORIGIN_MISMATCH = "checkpoint_origin_mismatch"
    CHECKPOINT_ROOT_MISMATCH = "checkpoint_root_mismatch"
    CHECKPOINT_BEYOND_END = "checkpoint_beyond_end"
    CHECKPOINT_OUT_OF_ORDER = "checkpoint_out_of_order"
    FORK = "fork"
    TRUSTED_CHECKPOINT_MISMATCH = "trusted_checkpoint_mismatch"
    TRUSTED_CHECKPOINT_BEYOND_END = "trusted_checkpoint_beyond_end"
    NO_CHECKPOINT = "no_checkpoint"
    HEAD_SIZE_MISMATCH = "head_size_mismatch"
    BALANCES_SIZE_MISMATCH = "balances_size_mismatch"
    BALANCE_MISMATCH = "balance_mismatch"
    BALANCES_DO_NOT_SUM_TO_ZERO = "balances_do_not_sum_to_zero"
    BUNDLE_FORMAT = "bundle_format"


@dataclass(frozen=True, slots=True)
class Finding:
    """One failed check: the entry it is about, the check, and the numbers.

    ``seq`` is the journal position (line number from 0) of the entry the
    finding is about, or ``None`` when it is about the log as a whole (a
    checkpoint that does not verify, a cached balance).
    """

    seq: int | None
    check: str
    message: str
    numbers: tuple[tuple[str, Number], ...] = ()

    @property
    def detail(self) -> dict[str, Number]:
        return dict(self.numbers)

    def line(self) -> str:
        """One line for a terminal or a log: where, which check, why, the numbers."""
        where = "log" if self.seq is None else f"seq {self.seq}"
        numbers = " ".join(f"{k}={v}" for k, v in self.numbers)
        return f"{where}: {self.check}: {self.message}" + (f" [{numbers}]" if numbers else "")


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What an audit found, and the state it verified."""

    size: int
    root: bytes
    head: Checkpoint | None
    accounts: int
    outstanding_minutes: int  # held by members and shops: what the scheme owes
    checkpoints_verified: int
    findings: tuple[Finding, ...]
    findings_omitted: int

    @property
    def clean(self) -> bool:
        return not self.findings and not self.findings_omitted


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


_BROKEN = "entry breaks a ledger rule"
_RULE_MESSAGES: dict[str, str] = {
    Rejection.EXCEEDS_BALANCE: "the payer goes below its floor",
    Rejection.EXCEEDS_MONTHLY_BUDGET: "the organisation issues more than its monthly budget",
    Rejection.EXCEEDS_MONTHLY_EARNING_CAP: "the member earns more than the monthly cap",
    Rejection.CORRECTED_ENTRY_NOT_FOUND: "the correction names no earlier entry",
    Rejection.ALREADY_CORRECTED: "the correction names an entry already reversed in full",
    Rejection.CORRECTION_EXCEEDS_ORIGINAL: "the correction moves more than remains of the original",
    Rejection.CORRECTION_DOES_NOT_MATCH_ORIGINAL: "the correction does not reverse the original",
    Rejection.PAYER_NOT_FOUND: "the payer account was never opened",
    Rejection.PAYEE_NOT_FOUND: "the payee account was never opened",
    Rejection.AMOUNT_MUST_BE_POSITIVE: "a posting moves zero or fewer minutes",
    Rejection.ACTOR_NOT_COORDINATOR: "no coordinator of the organisation recorded the earning",
    Rejection.APPROVAL_REQUIRED: "above the approval threshold, the earning names no approver",
    Rejection.APPROVER_IS_ACTOR: "the earning was approved by the coordinator who recorded it",
    Rejection.APPROVER_NOT_COORDINATOR: "the approver is no coordinator of the organisation",
    Rejection.ACTOR_NOT_PAYER: "the transfer was asked for by neither its payer nor a coordinator",
    Rejection.APPROVAL_THRESHOLD_REMOVED: "the settings drop the approval threshold",
}


def rule_message(code: str) -> str:
    """The sentence a finding about a broken ledger rule carries."""
    return _RULE_MESSAGES.get(code, _BROKEN)
