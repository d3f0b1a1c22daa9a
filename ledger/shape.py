"""Checks on a draft's shape and on retries, which need no ledger state.

``check_shape`` needs only the draft; ``check_retry`` compares a draft with the
one already stored under its id. State checks live in ``ledger.rules``. The
order of checks is the order of ``Rejection``; the first match wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ledger import limits
from ledger.canonical import canonical_json, common_entry_grammar, read_meta
from ledger.model import (
    AccountType,
    Draft,
    EntryKind,
    Meta,
    Rejected,
    Rejection,
)
from ledger.printable import is_text

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
ACCOUNT_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
META_KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,31}")


def journal_position(text: str) -> int | None:
    """A position in a journal written as text (a page's cursor): ASCII digits of a number
    up to ``limits.TREE_SIZE_MAX``; else None."""
    if not (text.isascii() and text.isdecimal()) or len(text) > len(str(limits.TREE_SIZE_MAX)):
        return None
    position = int(text)
    return position if position <= limits.TREE_SIZE_MAX else None


def reject(draft: Draft, code: Rejection, **numbers: int | str) -> Rejected:
    return Rejected(id=draft.id, code=code, numbers=tuple(numbers.items()))


def check_shape(draft: Draft) -> Rejected | None:
    """Checks that need nothing but the draft itself."""
    if (
        len(draft.postings) == 1
        and draft.kind in _ONE_POSTING_KINDS
        and draft.account is None
        and draft.settings is None
        and draft.budget is None
        and (draft.key is None or ID_PATTERN.fullmatch(draft.key) is not None)
    ):
        p = draft.postings[0]
        if plain_shape_ok(
            draft.id, draft.kind, draft.actor, p.payer, p.payee, p.amount_minutes,
            draft.memo, draft.reference, draft.meta, draft.corrects,
        ):  # fmt: skip
            return None
    return _check_shape_in_order(draft)


def _check_shape_in_order(draft: Draft) -> Rejected | None:
    """``check_shape`` one check at a time, in the order of ``Rejection``: the first fault."""
    if not isinstance(draft.id, str) or not ID_PATTERN.fullmatch(draft.id):
        return reject(draft, Rejection.ID_INVALID)
    if draft.key is not None and not (
        isinstance(draft.key, str) and ID_PATTERN.fullmatch(draft.key)
    ):  # a key has an id's shape: the store keeps it beside the id
        return reject(draft, Rejection.ID_INVALID)
    if not ACCOUNT_ID_PATTERN.fullmatch(draft.actor):
        return reject(draft, Rejection.ACTOR_INVALID)
    if len(draft.memo) > limits.MEMO_LENGTH_MAX:
        return reject(draft, Rejection.MEMO_TOO_LONG, memo_length_max=limits.MEMO_LENGTH_MAX)
    if len(draft.reference) > limits.REFERENCE_LENGTH_MAX:
        return reject(
            draft, Rejection.REFERENCE_TOO_LONG, reference_length_max=limits.REFERENCE_LENGTH_MAX
        )
    if (draft.memo or draft.reference) and not (is_text(draft.memo) and is_text(draft.reference)):
        return reject(draft, Rejection.TEXT_INVALID)
    if not _meta_ok(draft.meta):
        return reject(draft, Rejection.META_INVALID)
    if not _fields_match_kind(draft):
        return reject(draft, Rejection.FIELDS_DO_NOT_MATCH_KIND)
    if not all(ACCOUNT_ID_PATTERN.fullmatch(a) for a in _account_ids(draft)):
        return reject(draft, Rejection.ACCOUNT_ID_INVALID)
    return _check_amounts(draft) or _check_declarations(draft)


# The kinds whose entries move minutes with exactly one posting, or may (a correction).
_ONE_POSTING_KINDS = frozenset(
    {EntryKind.EARN, EntryKind.TRANSFER, EntryKind.REDEEM, EntryKind.SETTLE, EntryKind.CORRECT}
)


def plain_shape_ok(
    id_: object,
    kind: EntryKind,
    actor: str,
    payer: str,
    payee: str,
    amount_minutes: int,
    memo: str,
    reference: str,
    meta: Meta,
    corrects: int | None,
) -> bool:
    """Whether a one-posting draft of a kind that moves minutes passes ``check_shape``.

    The common case of the writer and the audit, as one expression without
    building a draft: True exactly when ``check_shape`` of that draft (no
    account, settings or budget) returns None. False says nothing about which
    check fails; ``check_shape`` finds that out in its order.
    """
    return (
        type(id_) is str
        and ID_PATTERN.fullmatch(id_) is not None
        and _account_id_ok(actor)
        and len(memo) <= limits.MEMO_LENGTH_MAX
        and len(reference) <= limits.REFERENCE_LENGTH_MAX
        and (not (memo or reference) or (is_text(memo) and is_text(reference)))
        and (not meta or _meta_ok(meta))
        and (corrects is None) == (kind is not EntryKind.CORRECT)
        and (corrects is None or _is_json_count(corrects))
        and _account_id_ok(payer)
        and _account_id_ok(payee)
        and type(amount_minutes) is int
        and 0 < amount_minutes <= limits.TRANSFER_MINUTES_MAX
        and payer != payee
    )


def _text_up_to(length: int) -> str:
    return r'[^"\\\x00-\x1f]{0,' + str(length) + "}"


# ``plain_shape_ok`` as far as a regular expression can say it, inside the one
# match of the common entry's grammar (``canonical.common_entry_grammar``), for
# readers of many lines at once (``audit.scan.scan_lines``). What the grammar
# cannot say, the reader checks after the match: a payer equal to the payee,
# minutes above TRANSFER_MINUTES_MAX (it allows six digits), a seq above
# JSON_INTEGER_MAX, a line above ENTRY_BYTES_MAX, and ``shaped_texts_ok``.
# Corrections are left out.
SHAPED_ENTRY_GRAMMAR = common_entry_grammar(
    kinds="earn|transfer|redeem|settle",
    entry_id=ID_PATTERN.pattern,
    account_id=ACCOUNT_ID_PATTERN.pattern,
    memo=_text_up_to(limits.MEMO_LENGTH_MAX),
    reference=_text_up_to(limits.REFERENCE_LENGTH_MAX),
    meta_key=META_KEY_PATTERN.pattern,
    meta_value=_text_up_to(limits.META_VALUE_LENGTH_MAX),
    minutes=r"[1-9][0-9]{0,5}",
)


def shaped_texts_ok(memo: str, reference: str, meta: str) -> bool:
    """``plain_shape_ok``'s text and meta checks for strings ``SHAPED_ENTRY_GRAMMAR`` matched.

    ``meta`` is the meta object's members as written; the grammar has bounded
    every length and key already. A single member is in order and far within
    the bounds; several go through ``_meta_ok``.
    """
    if not is_text(memo + reference + meta):  # keys, quotes and commas are text too
        return False
    if not meta or meta.count('"') == 4:
        return True
    pairs = read_meta(meta)
    return pairs is not None and _meta_ok(pairs)


# Account ids that matched ACCOUNT_ID_PATTERN. A community has few accounts and
# each entry names three, so remembering them saves most of the matching.
_good_account_ids: set[str] = set()


def _account_id_ok(value: object) -> bool:
    if type(value) is not str:
        return False
    if value in _good_account_ids:
        return True
    if ACCOUNT_ID_PATTERN.fullmatch(value) is None:
        return False
    if len(_good_account_ids) >= limits.ACCOUNT_ID_CACHE_MAX:
        _good_account_ids.clear()
    _good_account_ids.add(value)
    return True


def _meta_ok(meta: Meta) -> bool:
    if not meta:
        return True
    if len(meta) > limits.META_KEYS_MAX:
        return False
    keys = [k for k, _ in meta]
    if len(set(keys)) != len(keys) or keys != sorted(keys):
        return False
    # An upper bound of the meta object's canonical size: a key is ASCII
    # (it matches META_KEY_PATTERN), a value character takes at most 6 bytes
    # (``\u001f``). Within the bound, encoding the object is not needed.
    bound = 2
    for key, value in meta:
        if not META_KEY_PATTERN.fullmatch(key):
            return False
        if isinstance(value, bool):
            bound += len(key) + 9
            continue
        if isinstance(value, int):
            if abs(value) > limits.JSON_INTEGER_MAX:
                return False
            bound += len(key) + 21
        elif (
            not isinstance(value, str)
            or len(value) > limits.META_VALUE_LENGTH_MAX
            or not is_text(value)
        ):
            return False
        else:
            bound += len(key) + 6 * len(value) + 6
    if bound <= limits.META_BYTES_MAX:
        return True
    return len(canonical_json(dict(meta))) <= limits.META_BYTES_MAX


def _fields_match_kind(draft: Draft) -> bool:
    kind = draft.kind
    return (
        (draft.account is not None) == (kind is EntryKind.OPEN)
        and (draft.settings is not None) == (kind is EntryKind.CONFIGURE)
        and (draft.budget is not None) == (kind is EntryKind.BUDGET)
        and (draft.staff is not None) == (kind is EntryKind.STAFF)
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
    if draft.staff is not None:
        yield draft.staff.staff_id
        yield draft.staff.organisation


def _check_amounts(draft: Draft) -> Rejected | None:
    count = len(draft.postings)
    if draft.kind in (EntryKind.OPEN, EntryKind.CONFIGURE, EntryKind.BUDGET, EntryKind.STAFF):
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
        threshold = draft.settings.approval_threshold_minutes
        if threshold is not None and not (
            _is_json_count(threshold) and 1 <= threshold <= limits.APPROVAL_THRESHOLD_MINUTES_MAX
        ):
            return reject(draft, Rejection.APPROVAL_THRESHOLD_INVALID)
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
