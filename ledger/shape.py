"""Checks on a draft's shape and on retries, which need no ledger state.

``check_shape`` needs only the draft; ``check_retry`` compares a draft with the
one already stored under its id. State checks live in ``ledger.rules``. The
order of checks is the order of ``Rejection``; the first match wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ledger import limits
from ledger.canonical import canonical_json
from ledger.model import (
    AccountType,
    Draft,
    EntryKind,
    Rejected,
    Rejection,
)

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
ACCOUNT_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
META_KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,31}")


def reject(draft: Draft, code: Rejection, **numbers: int | str) -> Rejected:
    return Rejected(id=draft.id, code=code, numbers=tuple(numbers.items()))


def _text_ok(text: str) -> bool:
    # No lone surrogates (not encodable as UTF-8) and no control characters.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return text.isprintable()


def check_shape(draft: Draft) -> Rejected | None:
    """Checks that need nothing but the draft itself."""
    if not isinstance(draft.id, str) or not ID_PATTERN.fullmatch(draft.id):
        return reject(draft, Rejection.ID_INVALID)
    if not ACCOUNT_ID_PATTERN.fullmatch(draft.actor):
        return reject(draft, Rejection.ACTOR_INVALID)
    if len(draft.memo) > limits.MEMO_LENGTH_MAX:
        return reject(draft, Rejection.MEMO_TOO_LONG, memo_length_max=limits.MEMO_LENGTH_MAX)
    if len(draft.reference) > limits.REFERENCE_LENGTH_MAX:
        return reject(
            draft, Rejection.REFERENCE_TOO_LONG, reference_length_max=limits.REFERENCE_LENGTH_MAX
        )
    if (draft.memo or draft.reference) and not (_text_ok(draft.memo) and _text_ok(draft.reference)):
        return reject(draft, Rejection.TEXT_INVALID)
    if not _meta_ok(draft):
        return reject(draft, Rejection.META_INVALID)
    if not _fields_match_kind(draft):
        return reject(draft, Rejection.FIELDS_DO_NOT_MATCH_KIND)
    if not all(ACCOUNT_ID_PATTERN.fullmatch(a) for a in _account_ids(draft)):
        return reject(draft, Rejection.ACCOUNT_ID_INVALID)
    return _check_amounts(draft) or _check_declarations(draft)


def _meta_ok(draft: Draft) -> bool:
    if not draft.meta:
        return True
    if len(draft.meta) > limits.META_KEYS_MAX:
        return False
    keys = [k for k, _ in draft.meta]
    if len(set(keys)) != len(keys) or keys != sorted(keys):
        return False
    for key, value in draft.meta:
        if not META_KEY_PATTERN.fullmatch(key):
            return False
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            if abs(value) > limits.JSON_INTEGER_MAX:
                return False
        elif not isinstance(value, str):
            return False
        elif len(value) > limits.META_VALUE_LENGTH_MAX or not _text_ok(value):
            return False
    return len(canonical_json(dict(draft.meta))) <= limits.META_BYTES_MAX


def _fields_match_kind(draft: Draft) -> bool:
    kind = draft.kind
    return (
        (draft.account is not None) == (kind is EntryKind.OPEN)
        and (draft.settings is not None) == (kind is EntryKind.CONFIGURE)
        and (draft.budget is not None) == (kind is EntryKind.BUDGET)
        and (draft.corrects is not None) == (kind is EntryKind.CORRECT)
        and (draft.corrects is None or _is_json_count(draft.corrects))
    )


def _is_json_count(value: object) -> bool:
    """A non-negative integer that canonical JSON can carry (not a bool)."""
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and 0 <= value <= limits.JSON_INTEGER_MAX
    )


def _account_ids(draft: Draft) -> Iterable[str]:
    for posting in draft.postings:
        yield posting.payer
        yield posting.payee
    if draft.account is not None:
        yield draft.account.id
    if draft.budget is not None:
        yield draft.budget.organisation


def _check_amounts(draft: Draft) -> Rejected | None:
    count = len(draft.postings)
    if draft.kind in (EntryKind.OPEN, EntryKind.CONFIGURE, EntryKind.BUDGET):
        count_ok = count == 0
    elif draft.kind is EntryKind.CORRECT:
        count_ok = 1 <= count <= limits.POSTINGS_PER_ENTRY_MAX
    else:
        count_ok = count == 1
    if not count_ok:
        return reject(draft, Rejection.POSTINGS_COUNT_INVALID)
    # One loop per check, so that a later posting's earlier-ordered fault wins.
    for posting in draft.postings:
        amount = posting.amount_minutes
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            return reject(draft, Rejection.AMOUNT_MUST_BE_POSITIVE)
    for posting in draft.postings:
        if posting.amount_minutes > limits.TRANSFER_MINUTES_MAX:
            return reject(
                draft,
                Rejection.AMOUNT_EXCEEDS_MAXIMUM,
                transfer_minutes_max=limits.TRANSFER_MINUTES_MAX,
            )
    for posting in draft.postings:
        if posting.payer == posting.payee:
            return reject(draft, Rejection.PAYER_MUST_DIFFER_FROM_PAYEE)
    return None


def _check_declarations(draft: Draft) -> Rejected | None:
    if draft.budget is not None and not _budget_ok(draft.budget.budget_minutes_per_month):
        return reject(draft, Rejection.BUDGET_INVALID)
    account = draft.account
    if account is not None:
        is_org = account.type is AccountType.ORGANISATION
        budget = account.budget_minutes_per_month
        if (budget is not None) != is_org or (budget is not None and not _budget_ok(budget)):
            return reject(draft, Rejection.BUDGET_INVALID)
    if draft.settings is not None:
        cap = draft.settings.member_earning_cap_minutes_per_month
        if cap is not None and not (
            _is_json_count(cap) and 1 <= cap <= limits.EARNING_CAP_MINUTES_PER_MONTH_MAX
        ):
            return reject(draft, Rejection.CAP_INVALID)
    if account is not None:
        floor = account.floor_minutes
        if account.type is AccountType.ORGANISATION:
            floor_ok = floor is None
        else:
            floor_ok = (
                floor is not None and _is_json_count(floor) and floor <= limits.BALANCE_MINUTES_MAX
            )
        if not floor_ok:
            return reject(draft, Rejection.FLOOR_INVALID)
    return None


def _budget_ok(value: object) -> bool:
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and 0 <= value <= limits.BUDGET_MINUTES_PER_MONTH_MAX
    )


def check_retry(draft: Draft, existing: Draft) -> Rejected | None:
    """``None`` when ``draft`` repeats ``existing`` exactly (same id, same content)."""
    if draft == existing:
        return None
    if draft.kind != existing.kind:
        return reject(draft, Rejection.EXISTS_WITH_DIFFERENT_KIND)
    if draft.actor != existing.actor:
        return reject(draft, Rejection.EXISTS_WITH_DIFFERENT_ACTOR)
    mine, theirs = draft.postings, existing.postings
    if [p.payer for p in mine] != [p.payer for p in theirs]:
        return reject(draft, Rejection.EXISTS_WITH_DIFFERENT_PAYER)
    if [p.payee for p in mine] != [p.payee for p in theirs]:
        return reject(draft, Rejection.EXISTS_WITH_DIFFERENT_PAYEE)
    if [p.amount_minutes for p in mine] != [p.amount_minutes for p in theirs]:
        return reject(draft, Rejection.EXISTS_WITH_DIFFERENT_AMOUNT)
    if draft.memo != existing.memo:
        return reject(draft, Rejection.EXISTS_WITH_DIFFERENT_MEMO)
    if draft.reference != existing.reference:
        return reject(draft, Rejection.EXISTS_WITH_DIFFERENT_REFERENCE)
    if draft.meta != existing.meta:
        return reject(draft, Rejection.EXISTS_WITH_DIFFERENT_META)
    return reject(draft, Rejection.EXISTS_WITH_DIFFERENT_CONTENT)
