"""The rules an entry obeys against the ledger's state, and how it changes that state.

``check_state`` says whether a (well-shaped) draft may be appended now;
``apply`` changes the state by an appended entry. The writer runs both for every
draft, and the audit runs both over every journal entry, so the live ledger and
the auditor hold the journal to the same rules.

Checks run in the order of ``Rejection``; the first match wins. Month counters
(an organisation's issuing against its budget, a member's earnings against the
cap) use the calendar month (UTC) of the entry's time; a correction of an earn
entry counts back in the month of the correction.

An entry may be corrected in parts, by several corrections (a shop refunds a
payment in two goes): each reverses each posting of the original by at most
what the corrections before it left of that posting (``remaining_minutes``).

``check_authority`` says whether the entry's actor (and approver) may ask for
it, once the settings carry an approval threshold. It reads the coordinators
that staff entries declared, which only the audit holds: the API checks who
acts before it appends, and the audit holds the journal to the same rule.
"""

from __future__ import annotations

from dataclasses import replace

from ledger import limits
from ledger.model import (
    CORRECTABLE_KINDS,
    POSTING_TYPES,
    AccountType,
    Draft,
    Entry,
    EntryKind,
    Posting,
    Rejected,
    Rejection,
)
from ledger.shape import reject
from ledger.state import AccountState, LedgerState


def check_state(state: LedgerState, draft: Draft, month: str) -> Rejected | None:
    """Whether ``draft`` may be appended now, as an entry in ``month`` ("YYYY-MM")."""
    kind = draft.kind
    if kind is EntryKind.OPEN:
        assert draft.account is not None
        if draft.account.id in state.accounts:
            return reject(draft, Rejection.ACCOUNT_ALREADY_EXISTS)
        if draft.account.type is AccountType.COMMUNITY and state.community_account is not None:
            return reject(draft, Rejection.COMMUNITY_ACCOUNT_ALREADY_EXISTS)
        return None
    if kind is EntryKind.BUDGET or kind is EntryKind.STAFF:
        named = draft.budget or draft.staff
        assert named is not None
        organisation = named.organisation
        org = state.accounts.get(organisation)
        if org is None or org.spec.type is not AccountType.ORGANISATION:
            return reject(draft, Rejection.ORGANISATION_NOT_FOUND)
        return None
    if kind is EntryKind.CONFIGURE:
        assert draft.settings is not None
        if (
            state.settings.approval_threshold_minutes is not None
            and draft.settings.approval_threshold_minutes is None
        ):
            return reject(draft, Rejection.APPROVAL_THRESHOLD_REMOVED)
        return None
    if kind is EntryKind.CORRECT:
        return _check_correction(state, draft) or _check_postings(state, draft, month)
    return _check_parties(state, draft) or _check_postings(state, draft, month)


APPROVED_BY = "approved_by"  # the meta member naming an earning's second coordinator


def check_authority(state: LedgerState, draft: Draft) -> Rejected | None:
    """Whether the actor of a (well-shaped) draft may ask for it, with its approver.

    Only once the settings carry an approval threshold: an earning is recorded
    by a coordinator of the paying organisation, and one above the threshold
    names in meta ``approved_by`` another coordinator of it; a transfer is
    asked for by its payer, or by a coordinator helping the payer (on their
    behalf, and recorded as theirs). Other kinds have no authority check.
    """
    threshold = state.settings.approval_threshold_minutes
    if threshold is None:
        return None
    kind = draft.kind
    if kind is EntryKind.TRANSFER:
        if draft.actor != draft.postings[0].payer and not _is_coordinator(state, draft.actor):
            return reject(draft, Rejection.ACTOR_NOT_PAYER)
        return None
    if kind is not EntryKind.EARN:
        return None
    posting = draft.postings[0]
    organisation = posting.payer
    if (draft.actor, organisation) not in state.coordinators:
        return reject(draft, Rejection.ACTOR_NOT_COORDINATOR)
    if posting.amount_minutes <= threshold:
        return None
    approver = dict(draft.meta).get(APPROVED_BY)
    if approver is None:
        return reject(draft, Rejection.APPROVAL_REQUIRED, approval_threshold_minutes=threshold)
    if approver == draft.actor:
        return reject(draft, Rejection.APPROVER_IS_ACTOR)
    if not isinstance(approver, str) or (approver, organisation) not in state.coordinators:
        return reject(draft, Rejection.APPROVER_NOT_COORDINATOR)
    return None


def _is_coordinator(state: LedgerState, actor: str) -> bool:
    """Whether ``actor`` is an active coordinator of any organisation."""
    return any(staff == actor for staff, _ in state.coordinators)


def authority_plain(
    state: LedgerState, kind: EntryKind, actor: str, payer: str, amount_minutes: int
) -> bool:
    """``check_authority`` for the common entry, without its meta: True passes, False defers.

    True exactly when ``check_authority`` accepts the entry whatever its meta
    says; an earning above the threshold (whose approver is in meta) defers.
    """
    threshold = state.settings.approval_threshold_minutes
    if threshold is None:
        return True
    if kind is EntryKind.TRANSFER:
        return actor == payer
    if kind is EntryKind.EARN:
        return amount_minutes <= threshold and (actor, payer) in state.coordinators
    return True


def _check_parties(state: LedgerState, draft: Draft) -> Rejected | None:
    posting = draft.postings[0]
    payer = state.accounts.get(posting.payer)
    payee = state.accounts.get(posting.payee)
    if payer is None:
        return reject(draft, Rejection.PAYER_NOT_FOUND)
    if payee is None:
        return reject(draft, Rejection.PAYEE_NOT_FOUND)
    payer_type, payee_type = POSTING_TYPES[draft.kind]
    if payer.spec.type is not payer_type:
        return reject(draft, Rejection.PAYER_TYPE_NOT_ALLOWED, payer_type=payer.spec.type.value)
    if payee.spec.type is not payee_type:
        return reject(draft, Rejection.PAYEE_TYPE_NOT_ALLOWED, payee_type=payee.spec.type.value)
    if draft.kind is EntryKind.TRANSFER and not state.settings.members_may_transfer:
        return reject(draft, Rejection.TRANSFERS_BETWEEN_MEMBERS_DISABLED)
    return None


def _check_correction(state: LedgerState, draft: Draft) -> Rejected | None:
    assert draft.corrects is not None
    original = state.originals.get(draft.corrects)
    if draft.corrects >= state.size or original is None:
        return reject(draft, Rejection.CORRECTED_ENTRY_NOT_FOUND, seq=draft.corrects)
    if original.kind not in CORRECTABLE_KINDS:
        return reject(
            draft, Rejection.CORRECTED_ENTRY_NOT_CORRECTABLE, corrected_kind=original.kind.value
        )
    remaining = remaining_minutes(state, draft.corrects)
    if not any(remaining):
        return reject(draft, Rejection.ALREADY_CORRECTED, seq=draft.corrects)
    theirs = original.draft.postings
    if len(draft.postings) != len(theirs) or any(
        (mine.payer, mine.payee) != (orig.payee, orig.payer)
        for mine, orig in zip(draft.postings, theirs, strict=True)
    ):
        return reject(draft, Rejection.CORRECTION_DOES_NOT_MATCH_ORIGINAL)
    # The original's accounts exist when the ledger wrote it; in a forged
    # journal the original itself may name an account never opened.
    for mine in draft.postings:
        if mine.payer not in state.accounts:
            return reject(draft, Rejection.PAYER_NOT_FOUND)
        if mine.payee not in state.accounts:
            return reject(draft, Rejection.PAYEE_NOT_FOUND)
    for mine, orig, left in zip(draft.postings, theirs, remaining, strict=True):
        if mine.amount_minutes > left:
            return reject(
                draft,
                Rejection.CORRECTION_EXCEEDS_ORIGINAL,
                original_minutes=orig.amount_minutes,
                remaining_minutes=left,
            )
    return None


def remaining_minutes(state: LedgerState, seq: int) -> tuple[int, ...]:
    """What corrections may still reverse of each posting of entry ``seq``, by position.

    ``seq`` must be in ``state.originals``. A posting's amount minus what the
    corrections so far reversed of it, never below zero (a journal the audit
    replays past a broken rule may have reversed more).
    """
    postings = state.originals[seq].draft.postings
    done = state.reversed_minutes.get(seq)
    if done is None:
        return tuple(p.amount_minutes for p in postings)
    done = _by_position(done, len(postings))
    return tuple(max(p.amount_minutes - d, 0) for p, d in zip(postings, done, strict=True))


def _by_position(done: tuple[int, ...], count: int) -> tuple[int, ...]:
    """What was reversed of the first ``count`` postings of an entry. The ledger keeps one
    figure per posting; a forged journal the audit replays may claim one seq for entries
    with more or fewer postings than the corrections so far were counted against."""
    return done[:count] + (0,) * (count - len(done))


def note_reversal(state: LedgerState, draft: Draft) -> None:
    """Count correction ``draft`` against the entry it names, posting by position.

    Only an entry in ``state.originals`` is counted against; a posting beyond
    the original's count reverses nothing. So a correction the rules refused
    (which the audit still replays) counts as far as it can be matched.
    """
    assert draft.corrects is not None
    original = state.originals.get(draft.corrects)
    if original is None:
        return
    count = len(original.draft.postings)
    done = _by_position(state.reversed_minutes.get(draft.corrects, ()), count)
    mine = [p.amount_minutes for p in draft.postings[:count]]
    mine += [0] * (count - len(mine))
    state.reversed_minutes[draft.corrects] = tuple(d + m for d, m in zip(done, mine, strict=True))


def _check_postings(state: LedgerState, draft: Draft, month: str) -> Rejected | None:
    earning = _earn_direction(state, draft)
    for posting in draft.postings:
        payer = state.accounts[posting.payer]
        payee = state.accounts[posting.payee]
        amount = posting.amount_minutes
        if earning > 0:
            rejected = _check_monthly(state, draft, posting, month)
            if rejected is not None:
                return rejected
        floor = payer.spec.floor_minutes
        if floor is not None and payer.balance_minutes - amount < floor:
            return reject(
                draft,
                Rejection.EXCEEDS_BALANCE,
                balance_minutes=payer.balance_minutes,
                floor_minutes=floor,
            )
        if (
            payee.balance_minutes + amount > limits.BALANCE_MINUTES_MAX
            or payer.balance_minutes - amount < -limits.BALANCE_MINUTES_MAX
        ):
            return reject(draft, Rejection.EXCEEDS_BALANCE_MAXIMUM)
    return None


def _check_monthly(
    state: LedgerState, draft: Draft, posting: Posting, month: str
) -> Rejected | None:
    return check_month(
        draft.id,
        posting.amount_minutes,
        month,
        budget=state.accounts[posting.payer].spec.budget_minutes_per_month or 0,
        issued=state.monthly.get((posting.payer, month), 0),
        cap=state.settings.member_earning_cap_minutes_per_month,
        earned=state.monthly.get((posting.payee, month), 0),
    )


def check_month(
    draft_id: str,
    amount: int,
    month: str,
    *,
    budget: int,
    issued: int,
    cap: int | None,
    earned: int,
) -> Rejected | None:
    """Whether an earning of ``amount`` fits ``month``: the organisation's budget (of which
    ``issued`` is used) and the member's earning cap (``None``: none; ``earned`` so far).
    The ledger checks every earning so; a service may ask first, with totals it read."""
    if issued + amount > budget:
        numbers: tuple[tuple[str, int | str], ...] = (
            ("budget_minutes_per_month", budget), ("issued_minutes", issued), ("month", month),
        )  # fmt: skip
        return Rejected(draft_id, Rejection.EXCEEDS_MONTHLY_BUDGET, numbers)
    if cap is not None and earned + amount > cap:
        numbers = (("cap_minutes_per_month", cap), ("earned_minutes", earned), ("month", month))
        return Rejected(draft_id, Rejection.EXCEEDS_MONTHLY_EARNING_CAP, numbers)
    return None


def _earn_direction(state: LedgerState, draft: Draft) -> int:
    """+1 for an earn, -1 for a correction of an earn, 0 otherwise."""
    kind = draft.kind
    if kind is EntryKind.EARN:
        return 1
    if kind is EntryKind.CORRECT and draft.corrects is not None:
        original = state.originals.get(draft.corrects)
        if original is not None and original.kind is EntryKind.EARN:
            return -1
    return 0


def apply(state: LedgerState, entry: Entry) -> None:
    """Change ``state`` by ``entry``, which ``check_state`` accepted."""
    draft = entry.draft
    kind = draft.kind
    if kind is EntryKind.OPEN:
        assert draft.account is not None
        state.accounts[draft.account.id] = AccountState(spec=draft.account)
        if draft.account.type is AccountType.COMMUNITY:
            state.community_account = draft.account.id
    elif kind is EntryKind.CONFIGURE:
        assert draft.settings is not None
        settings, kept = draft.settings, state.settings.approval_threshold_minutes
        if settings.approval_threshold_minutes is None and kept is not None:
            # Only the audit replays such an entry (approval_threshold_removed):
            # authority, once declared, stays.
            settings = replace(settings, approval_threshold_minutes=kept)
        state.settings = settings
    elif kind is EntryKind.BUDGET:
        assert draft.budget is not None
        org = state.accounts[draft.budget.organisation]
        org.spec = replace(org.spec, budget_minutes_per_month=draft.budget.budget_minutes_per_month)
    elif kind is EntryKind.STAFF:
        assert draft.staff is not None
        holder = (draft.staff.staff_id, draft.staff.organisation)
        if draft.staff.active:
            state.coordinators.add(holder)
        else:
            state.coordinators.discard(holder)
    else:
        _apply_postings(state, entry)
    state.size = entry.seq + 1


def _apply_postings(state: LedgerState, entry: Entry) -> None:
    direction = _earn_direction(state, entry.draft)
    month = entry.month
    for posting in entry.draft.postings:
        amount = posting.amount_minutes
        state.accounts[posting.payer].balance_minutes -= amount
        state.accounts[posting.payee].balance_minutes += amount
        if direction > 0:
            _count(state, posting.payer, month, amount)
            _count(state, posting.payee, month, amount)
        elif direction < 0:
            # Reversing an earn: the member (payer) gives back, the organisation gets back.
            _count(state, posting.payee, month, -amount)
            _count(state, posting.payer, month, -amount)
    if entry.draft.corrects is not None:
        note_reversal(state, entry.draft)


def _count(state: LedgerState, account: str, month: str, minutes: int) -> None:
    key = (account, month)
    state.monthly[key] = state.monthly.get(key, 0) + minutes


def apply_plain(
    state: LedgerState,
    seq: int,
    kind: EntryKind,
    payer_id: str,
    payee_id: str,
    amount_minutes: int,
    month: str,
) -> bool:
    """``check_state`` then ``apply`` in one step, for the common case; False defers.

    For a well-shaped one-posting earn, transfer, redeem or settle entry at
    ``seq`` in ``month``. When ``check_state`` would accept it, changes
    ``state`` exactly as ``apply`` would and returns True. Otherwise returns
    False with ``state`` untouched, and the caller asks ``check_state`` (which
    says why, in its order) and ``apply``. The writer and the audit both take
    this path, so it is the same rules, written once more for speed: the tests
    hold it to ``check_state`` and ``apply`` case by case.
    """
    types = POSTING_TYPES.get(kind)
    accounts = state.accounts
    payer = accounts.get(payer_id)
    payee = accounts.get(payee_id)
    if types is None or payer is None or payee is None or payer is payee:
        return False
    payer_spec = payer.spec
    if payer_spec.type is not types[0] or payee.spec.type is not types[1]:
        return False
    if kind is EntryKind.TRANSFER and not state.settings.members_may_transfer:
        return False
    paid = payer.balance_minutes - amount_minutes
    received = payee.balance_minutes + amount_minutes
    floor = payer_spec.floor_minutes
    if (
        (floor is not None and paid < floor)
        or received > limits.BALANCE_MINUTES_MAX
        or paid < -limits.BALANCE_MINUTES_MAX
    ):
        return False
    if kind is EntryKind.EARN:
        monthly = state.monthly
        issued_key, earned_key = (payer_id, month), (payee_id, month)
        issued = monthly.get(issued_key, 0) + amount_minutes
        earned = monthly.get(earned_key, 0) + amount_minutes
        cap = state.settings.member_earning_cap_minutes_per_month
        if issued > (payer_spec.budget_minutes_per_month or 0) or (
            cap is not None and earned > cap
        ):
            return False
        monthly[issued_key] = issued
        monthly[earned_key] = earned
    payer.balance_minutes = paid
    payee.balance_minutes = received
    state.size = seq + 1
    return True


def admit(state: LedgerState, entry: Entry) -> Rejected | None:
    """``check_state`` of a well-shaped entry about to be appended, then ``apply`` if it passes.

    The writer's one step per entry. The common entry (one posting, no
    correction) goes through ``apply_plain``, which decides and applies at
    once; what it defers takes ``check_state`` (which says why, in its order)
    and ``apply``. A rejected entry leaves ``state`` as it was.
    """
    draft = entry.draft
    month = entry.month
    if len(draft.postings) == 1 and draft.corrects is None:
        p = draft.postings[0]
        if apply_plain(state, entry.seq, draft.kind, p.payer, p.payee, p.amount_minutes, month):
            return None
    rejected = check_state(state, draft, month)
    if rejected is None:
        apply(state, entry)
    return rejected


def unwind_balances(balances: dict[str, int], entry: Entry) -> None:
    """Undo ``entry`` in ``balances`` (account -> minutes after it): the balances before it.

    Only opening an account and moving minutes change balances, so an account
    the entry opened (at zero) is dropped and postings are reversed."""
    draft = entry.draft
    if draft.kind is EntryKind.OPEN:
        assert draft.account is not None
        opened = balances.pop(draft.account.id)
        assert opened == 0, "an account opens at zero"
        return
    for posting in draft.postings:
        balances[posting.payer] += posting.amount_minutes
        balances[posting.payee] -= posting.amount_minutes
