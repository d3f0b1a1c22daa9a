"""Field types and text checks shared by the request and response shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from msgspec import Meta

from api import limits as api_limits
from ledger import limits
from ledger.printable import is_text
from ledger.shape import ACCOUNT_ID_PATTERN, ID_PATTERN

AccountId = Annotated[
    str,
    Meta(
        pattern=f"^{ACCOUNT_ID_PATTERN.pattern}$",
        max_length=limits.ACCOUNT_ID_LENGTH_MAX,
        description="A pseudonymous account id.",
        examples=["mbr_k3j5x7q2m4n6p8r1"],
    ),
]
EntryId = Annotated[
    str,
    Meta(
        pattern=f"^{ID_PATTERN.pattern}$",
        max_length=limits.ENTRY_ID_LENGTH_MAX,
        description=(
            "An entry's id. Entries made through the API take an id derived from the "
            "Idempotency-Key of the request that made them and the credential that sent it."
        ),
    ),
]
Minutes = Annotated[
    int,
    Meta(ge=1, le=limits.TRANSFER_MINUTES_MAX, description="Minutes (1 credit = 60 minutes)."),
]
BudgetMinutes = Annotated[int, Meta(ge=0, le=limits.BUDGET_MINUTES_PER_MONTH_MAX)]
CapMinutes = Annotated[int, Meta(ge=1, le=limits.EARNING_CAP_MINUTES_PER_MONTH_MAX)]
Name = Annotated[str, Meta(min_length=1, max_length=api_limits.NAME_LENGTH_MAX)]
Memo = Annotated[str, Meta(max_length=limits.MEMO_LENGTH_MAX)]
Activity = Annotated[str, Meta(min_length=1, max_length=api_limits.ACTIVITY_LENGTH_MAX)]
Reason = Annotated[str, Meta(min_length=1, max_length=api_limits.REASON_LENGTH_MAX)]
# Labels come from people and user agents: no control characters (PostgreSQL refuses NUL).
Label = Annotated[
    str, Meta(max_length=api_limits.LABEL_LENGTH_MAX, pattern="^[^\\x00-\\x1f\\x7f]*$")
]
# Ids of the application's own rows (people, devices, tokens, cards): api.tokens.new_id.
ROW_ID_PATTERN = "^[a-z]{3}_[a-z2-7]{16}$"
RowId = Annotated[str, Meta(pattern=ROW_ID_PATTERN, max_length=40)]
# A role's scope: the account (organisation or shop) it applies to, or nothing.
SCOPE_PATTERN = f"^({ACCOUNT_ID_PATTERN.pattern})?$"
Scope = Annotated[str, Meta(pattern=SCOPE_PATTERN, max_length=limits.ACCOUNT_ID_LENGTH_MAX)]


def text_ok(text: str) -> bool:
    """Text as the journal allows it (``ledger.printable``): printable in a fixed
    Unicode version, so no control characters and no lone surrogates."""
    return is_text(text)


def rfc3339(unix_seconds: int | None) -> str | None:
    if unix_seconds is None:
        return None
    return datetime.fromtimestamp(unix_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
