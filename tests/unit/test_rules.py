"""Every rejection at its boundary and one past it, the order of checks, and retries.

The table ``CASES`` holds, for every member of ``Rejection``, a setup, a draft
that just passes and a draft one step past the bound. Each case runs through a
real ``Ledger`` over the ``MemoryStore`` (so the writer, the batch and the rules
all take part), except the few bounds no ledger can reach in a test, which run
against a built ``LedgerState``. ``test_every_rejection_is_produced_by_the_table``
runs them all and compares the codes they produced with the enum.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import limits
from ledger.canonical import decode_entry, encode_entry
from ledger.memory import MemoryStore
from ledger.model import (
    AUTHORITY_REJECTIONS,
    Draft,
    Entry,
    EntryKind,
    Posting,
    Rejected,
    Rejection,
    Settings,
)
from ledger.rules import apply, apply_plain, check_state
from ledger.service import Ledger
from ledger.shape import check_shape
from ledger.state import LedgerState
from ledger.writer import Appended
from tests.support.builders import (
    COMMUNITY,
    MONTH,
    START,
    a_community_account,
    a_ledger,
    a_member,
    a_neighbourhood,
    a_shop,
    a_state,
    accepted,
    an_organisation,
    changed,
    code_of,
    configure,
    correct,
    earn,
    open_account,
    redeem,
    set_budget,
    settle,
    transfer,
    with_amount,
)

# The neighbourhood every ledger case starts from: seqs 0..5, then member-1 earns 120.
BASE = a_neighbourhood(members=2, shops=1, budget_minutes_per_month=600)
FUNDED = (*BASE, earn("org-1", "member-1", 120, id="base-earn"))
EARN_SEQ = len(FUNDED) - 1
OPEN_MEMBER_1_SEQ = next(i for i, d in enumerate(BASE) if d.account and d.account.id == "member-1")


@dataclass(frozen=True)
class Case:
    """A rule's boundary: after ``setup``, ``passing`` gets ``passing_code``, ``failing`` ``code``.

    ``attempts`` are appended after ``setup`` whatever their outcome. A case with
    ``state`` runs against that state with the pure checks instead of a ledger.
    """

    name: str
    code: Rejection
    passing: Draft
    failing: Draft
    setup: tuple[Draft, ...] = FUNDED
    attempts: tuple[Draft, ...] = ()
    passing_code: str = "accepted"
    state: Callable[[], LedgerState] | None = None


async def outcome(case: Case, draft: Draft) -> str:
    """The one-word outcome of ``draft`` after the case's setup, on a fresh ledger or state."""
    if case.state is not None:
        rejected = check_shape(draft) or check_state(case.state(), draft, MONTH)
        return "accepted" if rejected is None else rejected.code.value
    ledger = a_ledger(MemoryStore())
    try:
        await accepted(ledger, *case.setup)
        for attempt in case.attempts:
            await ledger.append(COMMUNITY, attempt)
        return code_of(await ledger.append(COMMUNITY, draft))
    finally:
        await ledger.close()


def _retry_case(code: Rejection, **field: object) -> Case:
    original = transfer("member-1", "member-2", 60, id="retried", memo="dank", reference="r-1")
    return Case(
        code.value,
        code,
        passing=original,
        failing=changed(original, **field),
        setup=(*FUNDED, original),
        passing_code="retried",
    )


def _rich_state(**balances: int) -> Callable[[], LedgerState]:
    specs = [a_member("member-1"), a_member("member-2"), an_organisation(), a_shop()]
    return lambda: a_state(*specs, balances=balances)


def _back(seq: int, member: str, minutes: int) -> Draft:
    """A correction of the earn at ``seq``: ``minutes`` from ``member`` back to org-1."""
    return correct(seq, postings=(Posting(member, "org-1", minutes),))


BIG = limits.BALANCE_MINUTES_MAX
WIDE_META = tuple((f"k{n:02d}", n) for n in range(limits.META_KEYS_MAX))
LONG_ID_MEMBER = "m" * limits.ACCOUNT_ID_LENGTH_MAX
RICH = (*a_neighbourhood(budget_minutes_per_month=limits.TRANSFER_MINUTES_MAX),)

CASES = [
    # -- shape
    Case("id length", Rejection.ID_INVALID, transfer(id="i" * 64), transfer(id="i" * 65)),
    Case(
        "actor length", Rejection.ACTOR_INVALID, transfer(actor="a" * 40), transfer(actor="a" * 41)
    ),
    Case("memo", Rejection.MEMO_TOO_LONG, transfer(memo="m" * 280), transfer(memo="m" * 281)),
    Case(
        "reference",
        Rejection.REFERENCE_TOO_LONG,
        transfer(reference="r" * 128),
        transfer(reference="r" * 129),
    ),
    Case("text", Rejection.TEXT_INVALID, transfer(memo="a b"), transfer(memo="a\nb")),
    Case(
        "meta keys",
        Rejection.META_INVALID,
        transfer(meta=WIDE_META),
        transfer(meta=(*WIDE_META, ("zz", 1))),
    ),
    Case(
        "fields",
        Rejection.FIELDS_DO_NOT_MATCH_KIND,
        transfer(),
        changed(transfer(), corrects=EARN_SEQ),
    ),
    Case(
        "account id",
        Rejection.ACCOUNT_ID_INVALID,
        transfer(payee=LONG_ID_MEMBER),
        transfer(payee=LONG_ID_MEMBER + "m"),
        setup=(*FUNDED, open_account(a_member(LONG_ID_MEMBER))),
    ),
    Case(
        "postings count",
        Rejection.POSTINGS_COUNT_INVALID,
        transfer(),
        changed(transfer(), postings=(Posting("member-1", "member-2", 1),) * 2),
    ),
    Case("amount", Rejection.AMOUNT_MUST_BE_POSITIVE, transfer(minutes=1), transfer(minutes=0)),
    Case(
        "amount maximum",
        Rejection.AMOUNT_EXCEEDS_MAXIMUM,
        transfer(minutes=limits.TRANSFER_MINUTES_MAX),
        transfer(minutes=limits.TRANSFER_MINUTES_MAX + 1),
        setup=(*RICH, earn(minutes=limits.TRANSFER_MINUTES_MAX)),
    ),
    Case(
        "payer and payee",
        Rejection.PAYER_MUST_DIFFER_FROM_PAYEE,
        transfer("member-1", "member-2"),
        transfer("member-1", "member-1"),
    ),
    Case(
        "budget",
        Rejection.BUDGET_INVALID,
        set_budget("org-1", limits.BUDGET_MINUTES_PER_MONTH_MAX),
        set_budget("org-1", limits.BUDGET_MINUTES_PER_MONTH_MAX + 1),
    ),
    Case(
        "cap",
        Rejection.CAP_INVALID,
        configure(member_earning_cap_minutes_per_month=limits.EARNING_CAP_MINUTES_PER_MONTH_MAX),
        configure(
            member_earning_cap_minutes_per_month=limits.EARNING_CAP_MINUTES_PER_MONTH_MAX + 1
        ),
    ),
    Case(
        "floor",
        Rejection.FLOOR_INVALID,
        open_account(a_member("member-9", floor_minutes=0)),
        open_account(a_member("member-9", floor_minutes=-1)),
    ),
    # -- idempotency
    _retry_case(Rejection.EXISTS_WITH_DIFFERENT_KIND, kind=EntryKind.REDEEM),
    _retry_case(Rejection.EXISTS_WITH_DIFFERENT_ACTOR, actor="member-2"),
    _retry_case(
        Rejection.EXISTS_WITH_DIFFERENT_PAYER, postings=(Posting("member-2", "member-1", 60),)
    ),
    _retry_case(
        Rejection.EXISTS_WITH_DIFFERENT_PAYEE, postings=(Posting("member-1", "shop-1", 60),)
    ),
    _retry_case(
        Rejection.EXISTS_WITH_DIFFERENT_AMOUNT, postings=(Posting("member-1", "member-2", 61),)
    ),
    _retry_case(Rejection.EXISTS_WITH_DIFFERENT_MEMO, memo="bedankt"),
    _retry_case(Rejection.EXISTS_WITH_DIFFERENT_REFERENCE, reference="r-2"),
    _retry_case(Rejection.EXISTS_WITH_DIFFERENT_META, meta=(("hours", 1),)),
    Case(
        "content",
        Rejection.EXISTS_WITH_DIFFERENT_CONTENT,
        open_account(a_member("member-3"), id="open-3"),
        open_account(a_member("member-3", floor_minutes=1), id="open-3"),
        setup=(*FUNDED, open_account(a_member("member-3"), id="open-3")),
        passing_code="retried",
    ),
    Case(
        "failed id",
        Rejection.ID_ALREADY_FAILED,
        transfer(minutes=121, id="too-much"),
        transfer(minutes=120, id="too-much"),
        attempts=(transfer(minutes=121, id="too-much"),),
        passing_code="exceeds_balance",
    ),
    # -- state
    Case(
        "account exists",
        Rejection.ACCOUNT_ALREADY_EXISTS,
        open_account(a_member("member-9")),
        open_account(a_member("member-1")),
    ),
    Case(
        "approval threshold",
        Rejection.APPROVAL_THRESHOLD_INVALID,
        configure(approval_threshold_minutes=limits.APPROVAL_THRESHOLD_MINUTES_MAX),
        configure(approval_threshold_minutes=limits.APPROVAL_THRESHOLD_MINUTES_MAX + 1),
    ),
    Case(
        "approval threshold kept",
        Rejection.APPROVAL_THRESHOLD_REMOVED,
        configure(approval_threshold_minutes=60),
        configure(),
        setup=(configure(approval_threshold_minutes=480),),
    ),
    Case(
        "community account exists",
        Rejection.COMMUNITY_ACCOUNT_ALREADY_EXISTS,
        open_account(a_shop("community-2")),
        open_account(a_community_account("community-2")),
    ),
    Case("payer", Rejection.PAYER_NOT_FOUND, transfer("member-1"), transfer("ghost", actor="x")),
    Case("payee", Rejection.PAYEE_NOT_FOUND, transfer(payee="member-2"), transfer(payee="ghost")),
    Case(
        "organisation",
        Rejection.ORGANISATION_NOT_FOUND,
        set_budget("org-1", 60),
        set_budget("member-1", 60),
    ),
    Case(
        "payer type",
        Rejection.PAYER_TYPE_NOT_ALLOWED,
        transfer("member-1", "member-2"),
        transfer("shop-1", "member-2"),
    ),
    Case(
        "payee type",
        Rejection.PAYEE_TYPE_NOT_ALLOWED,
        transfer("member-1", "member-2"),
        transfer("member-1", "shop-1"),
    ),
    Case(
        "transfers disabled",
        Rejection.TRANSFERS_BETWEEN_MEMBERS_DISABLED,
        redeem("member-1", "shop-1"),
        transfer("member-1", "member-2"),
        setup=(*FUNDED, configure(members_may_transfer=False)),
    ),
    Case(
        "corrected entry",
        Rejection.CORRECTED_ENTRY_NOT_FOUND,
        correct(EARN_SEQ, postings=(Posting("member-1", "org-1", 60),)),
        correct(EARN_SEQ + 1, postings=(Posting("member-1", "org-1", 60),)),
    ),
    Case(
        "correctable",
        Rejection.CORRECTED_ENTRY_NOT_CORRECTABLE,
        correct(EARN_SEQ, postings=(Posting("member-1", "org-1", 60),)),
        correct(OPEN_MEMBER_1_SEQ, postings=(Posting("member-1", "org-1", 60),)),
    ),
    Case(
        "corrected in full",
        Rejection.ALREADY_CORRECTED,
        _back(EARN_SEQ, "member-1", 1),  # one minute of the first earn remains
        _back(EARN_SEQ + 1, "member-2", 1),  # none of the second
        setup=(
            *FUNDED,
            earn("org-1", "member-2", 60),
            _back(EARN_SEQ, "member-1", 60),
            _back(EARN_SEQ, "member-1", 59),
            _back(EARN_SEQ + 1, "member-2", 30),
            _back(EARN_SEQ + 1, "member-2", 30),
        ),
    ),
    Case(
        "correction direction",
        Rejection.CORRECTION_DOES_NOT_MATCH_ORIGINAL,
        correct(EARN_SEQ, postings=(Posting("member-1", "org-1", 60),)),
        correct(EARN_SEQ, postings=(Posting("org-1", "member-1", 60),)),
    ),
    Case(
        "correction amount",
        Rejection.CORRECTION_EXCEEDS_ORIGINAL,
        correct(EARN_SEQ, postings=(Posting("member-1", "org-1", 120),)),
        correct(EARN_SEQ, postings=(Posting("member-1", "org-1", 121),)),
        setup=(*FUNDED, earn("org-1", "member-1", 60)),
    ),
    Case(
        "correction amount after a partial correction",
        Rejection.CORRECTION_EXCEEDS_ORIGINAL,
        _back(EARN_SEQ, "member-1", 70),
        _back(EARN_SEQ, "member-1", 71),
        setup=(*FUNDED, earn("org-1", "member-1", 60), _back(EARN_SEQ, "member-1", 50)),
    ),
    Case(
        "budget reached",
        Rejection.EXCEEDS_MONTHLY_BUDGET,
        earn(minutes=480),
        earn(minutes=481),
    ),
    Case(
        "cap reached",
        Rejection.EXCEEDS_MONTHLY_EARNING_CAP,
        earn("org-1", "member-1", 60),
        earn("org-1", "member-1", 61),
        setup=(
            *BASE,
            configure(member_earning_cap_minutes_per_month=300),
            earn("org-1", "member-1", 240),
        ),
    ),
    Case("balance", Rejection.EXCEEDS_BALANCE, transfer(minutes=120), transfer(minutes=121)),
    Case(
        "a member's floor",
        Rejection.EXCEEDS_BALANCE,
        transfer("member-3", minutes=60),
        transfer("member-3", minutes=61),
        setup=(
            *FUNDED,
            open_account(a_member("member-3", floor_minutes=60)),
            earn("org-1", "member-3", 120),
        ),
    ),
    Case(
        "a shop's balance",
        Rejection.EXCEEDS_BALANCE,
        settle("shop-1", "community", 60),
        settle("shop-1", "community", 61),
        setup=(*FUNDED, redeem("member-1", "shop-1", 60)),
    ),
    Case(
        "a payee's balance maximum",
        Rejection.EXCEEDS_BALANCE_MAXIMUM,
        transfer("member-1", "member-2", 60),
        transfer("member-1", "member-2", 61),
        state=_rich_state(**{"member-1": 1_000, "member-2": BIG - 60}),
    ),
    Case(
        "an organisation's balance minimum",
        Rejection.EXCEEDS_BALANCE_MAXIMUM,
        earn("org-1", "member-1", 60),
        earn("org-1", "member-1", 61),
        state=_rich_state(**{"org-1": -BIG + 60}),
    ),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
async def test_a_rule_lets_its_boundary_pass_and_rejects_one_past_it(case: Case) -> None:
    assert await outcome(case, case.passing) == case.passing_code
    assert await outcome(case, case.failing) == case.code.value


async def test_every_rejection_is_produced_by_the_table() -> None:
    produced = {await outcome(case, case.failing) for case in CASES}

    # Who acts is the API's to check before it appends; the audit holds the journal
    # to it (tests/unit/test_authority.py).
    missing = {r.value for r in Rejection} - produced - AUTHORITY_REJECTIONS

    assert not missing, f"no test produces {sorted(missing)}"


# The order of state checks: the first match wins. Each pair is a draft breaking
# two rules, and the same draft (or state) with only the earlier repaired, which
# must then fail on the later rule: so the draft really broke both.


def _ordered_state() -> LedgerState:
    return a_state(
        a_member("member-1"),
        a_member("member-2"),
        an_organisation(budget_minutes_per_month=600),
        a_shop(),
        a_community_account(),
        balances={"member-1": 100, "shop-1": 100, "member-2": BIG},
        settings=Settings(members_may_transfer=False),
        monthly={("org-1", MONTH): 590, ("member-1", MONTH): 0},
        entries=[
            _an_entry(0, transfer("member-1", "member-2", 50)),
            _an_entry(1, open_account(a_shop("x"))),
        ],
    )


def _an_entry(seq: int, draft: Draft) -> Entry:
    return decode_entry(
        encode_entry(COMMUNITY, seq, "2026-11-28T09:30:00.000000Z", draft, bytes(32))
    )


def _state_code(draft: Draft, state: LedgerState | None = None) -> Rejection | None:
    rejected = check_state(state or _ordered_state(), draft, MONTH)
    return None if rejected is None else rejected.code


def _with_cap(cap: int) -> LedgerState:
    state = _ordered_state()
    state.settings = replace(state.settings, member_earning_cap_minutes_per_month=cap)
    return state


STATE_ORDER = [
    ("payer, payee", transfer("ghost", "ghost-2"), None, transfer("member-1", "ghost-2"), None),
    ("payee, payer type", transfer("shop-1", "ghost"), None, transfer("shop-1", "member-2"), None),
    (
        "payer type, payee type",
        transfer("shop-1", "org-1"),
        None,
        transfer("member-1", "org-1"),
        None,
    ),
    (
        "payee type, transfers disabled",
        transfer("member-1", "shop-1"),
        None,
        transfer("member-1", "member-2"),
        None,
    ),
    (
        "transfers disabled, balance",
        transfer("member-1", "member-2", 101),
        None,
        redeem("member-1", "shop-1", 101),
        None,
    ),
    (
        "corrected entry, correctable",
        correct(2, postings=(Posting("a", "b", 1),)),
        None,
        correct(1, postings=(Posting("a", "b", 1),)),
        None,
    ),
    (
        "correctable, correction match",
        correct(1, postings=(Posting("member-1", "member-2", 1),)),
        None,
        correct(0, postings=(Posting("member-1", "member-2", 1),)),
        None,
    ),
    (
        "already corrected, correction match",
        correct(0, postings=(Posting("member-1", "member-2", 1),)),
        lambda: a_state_corrected(),
        correct(0, postings=(Posting("member-1", "member-2", 1),)),
        None,
    ),
    (
        "correction match, correction amount",
        correct(0, postings=(Posting("member-1", "member-2", 51),)),
        None,
        correct(0, postings=(Posting("member-2", "member-1", 51),)),
        None,
    ),
    (
        "correction amount, balance",
        correct(0, postings=(Posting("member-2", "member-1", 51),)),
        lambda: _drained("member-2"),
        correct(0, postings=(Posting("member-2", "member-1", 50),)),
        lambda: _drained("member-2"),
    ),
    (
        "budget, cap",
        earn("org-1", "member-1", 11),
        lambda: _with_cap(10),
        earn("org-1", "member-1", 11),
        lambda: _with_cap_and_budget(10),
    ),
    (
        "balance, balance maximum",
        transfer("member-1", "member-2", 101),
        lambda: _transfers_allowed(),
        transfer("member-1", "member-2", 100),
        lambda: _transfers_allowed(),
    ),
]


def a_state_corrected() -> LedgerState:
    state = _ordered_state()
    state.reversed_minutes[0] = (50,)  # all of entry 0's 50 minutes
    return state


def _drained(account: str) -> LedgerState:
    state = _ordered_state()
    state.accounts[account].balance_minutes = 0
    return state


def _with_cap_and_budget(cap: int) -> LedgerState:
    state = _with_cap(cap)
    state.monthly[("org-1", MONTH)] = 0
    return state


def _transfers_allowed() -> LedgerState:
    state = _ordered_state()
    state.settings = replace(state.settings, members_may_transfer=True)
    return state


@pytest.mark.parametrize(
    ("broken", "broken_state", "repaired", "repaired_state"),
    [pytest.param(b, bs, r, rs, id=w) for w, b, bs, r, rs in STATE_ORDER],
)
def test_a_draft_breaking_two_state_rules_gets_the_earlier_code(
    broken: Draft,
    broken_state: Callable[[], LedgerState] | None,
    repaired: Draft,
    repaired_state: Callable[[], LedgerState] | None,
) -> None:
    earlier = _state_code(broken, broken_state() if broken_state else None)
    later = _state_code(repaired, repaired_state() if repaired_state else None)

    assert earlier is not None and later is not None
    order = list(Rejection)
    assert order.index(earlier) < order.index(later), f"{earlier} should come before {later}"


async def test_a_malformed_retry_gets_the_shape_code_before_the_retry_code() -> None:
    ledger = a_ledger(MemoryStore())
    original = transfer(id="t-1")
    await accepted(ledger, *FUNDED, original)

    result = await ledger.append(COMMUNITY, changed(original, memo="m" * 281))

    assert code_of(result) == Rejection.MEMO_TOO_LONG.value


async def test_a_retry_is_answered_before_the_state_is_checked() -> None:
    ledger = a_ledger(MemoryStore())
    original = transfer("member-1", "member-2", 120, id="t-1")
    await accepted(ledger, *FUNDED, original)

    same = await ledger.append(COMMUNITY, original)
    different = await ledger.append(COMMUNITY, with_amount(original, 119))

    assert code_of(same) == "retried"
    assert code_of(different) == Rejection.EXISTS_WITH_DIFFERENT_AMOUNT.value


# Idempotency.


async def test_a_retried_transfer_returns_the_original_entry() -> None:
    store = MemoryStore()
    ledger = a_ledger(store)
    original = transfer("member-1", "member-2", 60, id="t-1")
    *_, first = await accepted(ledger, *FUNDED, original)
    size_before = (await store.head(COMMUNITY)).size

    retry = await ledger.append(COMMUNITY, transfer("member-1", "member-2", 60, id="t-1"))

    assert isinstance(retry, Appended)
    assert retry.accepted.retried is True
    assert retry.entry == first
    assert (await store.head(COMMUNITY)).size == size_before
    assert (await store.account(COMMUNITY, "member-1")).balance_minutes == 60  # type: ignore[union-attr]


async def test_a_state_rejection_sticks_to_its_id_after_the_state_would_allow_it() -> None:
    ledger = a_ledger(MemoryStore())
    too_much = transfer("member-1", "member-2", 180, id="t-1")
    await accepted(ledger, *FUNDED)
    first = await ledger.append(COMMUNITY, too_much)
    await accepted(ledger, earn("org-1", "member-1", 60))  # now 180 would be covered

    same = await ledger.append(COMMUNITY, too_much)
    different = await ledger.append(COMMUNITY, with_amount(too_much, 170))

    assert isinstance(first, Rejected) and first.code is Rejection.EXCEEDS_BALANCE
    assert same == first
    assert isinstance(different, Rejected)
    assert different.code is Rejection.ID_ALREADY_FAILED
    assert different.detail == {"first_code": "exceeds_balance"}


async def test_an_id_rejected_for_its_shape_can_be_used_again() -> None:
    ledger = a_ledger(MemoryStore())
    await accepted(ledger, *FUNDED)

    first = await ledger.append(COMMUNITY, transfer(minutes=0, id="t-1"))
    second = await ledger.append(COMMUNITY, transfer(minutes=60, id="t-1"))

    assert code_of(first) == Rejection.AMOUNT_MUST_BE_POSITIVE.value
    assert code_of(second) == "accepted"


# Corrections in parts: a payment refunded in several goes, together at most the original.


async def _balances(ledger: Ledger, *accounts: str) -> tuple[int, ...]:
    rows = [await ledger.store.account(COMMUNITY, a) for a in accounts]
    return tuple(row.balance_minutes for row in rows if row is not None)


async def test_two_partial_corrections_summing_to_the_original_are_both_accepted() -> None:
    ledger = a_ledger(MemoryStore())
    try:
        await accepted(ledger, *FUNDED)

        first = await ledger.append(COMMUNITY, _back(EARN_SEQ, "member-1", 50))
        second = await ledger.append(COMMUNITY, _back(EARN_SEQ, "member-1", 70))

        assert code_of(first) == code_of(second) == "accepted"
        assert await _balances(ledger, "member-1", "org-1") == (0, 0)
    finally:
        await ledger.close()


async def test_a_third_correction_after_two_that_sum_to_the_original_is_already_corrected() -> None:
    ledger = a_ledger(MemoryStore())
    try:
        await accepted(ledger, *FUNDED, _back(EARN_SEQ, "member-1", 50))
        await accepted(ledger, _back(EARN_SEQ, "member-1", 70))

        third = await ledger.append(COMMUNITY, _back(EARN_SEQ, "member-1", 1))

        assert isinstance(third, Rejected) and third.code is Rejection.ALREADY_CORRECTED
        assert third.detail == {"seq": EARN_SEQ}
    finally:
        await ledger.close()


async def test_a_partial_correction_above_what_remains_names_the_remaining_minutes() -> None:
    ledger = a_ledger(MemoryStore())
    try:
        await accepted(ledger, *FUNDED, _back(EARN_SEQ, "member-1", 50))

        over = await ledger.append(COMMUNITY, _back(EARN_SEQ, "member-1", 71))
        rest = await ledger.append(COMMUNITY, _back(EARN_SEQ, "member-1", 70))

        assert isinstance(over, Rejected) and over.code is Rejection.CORRECTION_EXCEEDS_ORIGINAL
        assert over.detail == {"original_minutes": 120, "remaining_minutes": 70}
        assert code_of(rest) == "accepted"
    finally:
        await ledger.close()


async def test_partial_corrections_in_one_batch_count_against_each_other() -> None:
    ledger = a_ledger(MemoryStore())
    try:
        await accepted(ledger, *FUNDED)
        drafts = [_back(EARN_SEQ, "member-1", m) for m in (60, 61, 60, 1)]

        results = await asyncio.gather(*(ledger.append(COMMUNITY, d) for d in drafts))

        assert [code_of(r) for r in results] == [
            "accepted",
            "correction_exceeds_original",
            "accepted",
            "already_corrected",
        ]
        one, two = (r for r in results if isinstance(r, Appended))
        assert one.checkpoint is not None and one.checkpoint == two.checkpoint  # one batch
    finally:
        await ledger.close()


async def test_a_retried_partial_correction_counts_once() -> None:
    ledger = a_ledger(MemoryStore())
    try:
        first = _back(EARN_SEQ, "member-1", 50)
        await accepted(ledger, *FUNDED, first)

        retried = await ledger.append(COMMUNITY, first)
        rest = await ledger.append(COMMUNITY, _back(EARN_SEQ, "member-1", 70))

        assert code_of(retried) == "retried"
        assert code_of(rest) == "accepted"
    finally:
        await ledger.close()


def test_a_correction_reverses_each_posting_by_what_remains_of_it_by_position() -> None:
    # No correctable kind has two postings today; the rule is written for any count.
    two = Draft(
        "two", EntryKind.TRANSFER, "member-1",
        (Posting("member-1", "member-2", 30), Posting("member-1", "shop-1", 20)),
    )  # fmt: skip
    state = a_state(
        a_member("member-1"), a_member("member-2"), a_shop(),
        balances={"member-2": 100, "shop-1": 100}, entries=[_an_entry(0, two)],
    )  # fmt: skip

    def back(first: int, second: int) -> Draft:
        return correct(
            0,
            postings=(
                Posting("member-2", "member-1", first),
                Posting("shop-1", "member-1", second),
            ),
        )

    apply(state, _an_entry(1, back(30, 5)))

    assert state.reversed_minutes == {0: (30, 5)}
    over = check_state(state, back(1, 1), MONTH)
    assert over is not None and over.code is Rejection.CORRECTION_EXCEEDS_ORIGINAL
    assert over.detail == {"original_minutes": 30, "remaining_minutes": 0}
    apply(state, _an_entry(2, back(0, 15)))  # as the audit replays a refused entry
    assert _state_code(back(1, 1), state) is Rejection.ALREADY_CORRECTED


# Applying entries.


def test_an_earn_counts_against_the_organisation_and_the_member_in_its_month() -> None:
    state = a_state(an_organisation(), a_member())
    entry = _an_entry(0, earn("org-1", "member-1", 90))

    apply(state, entry)

    assert state.balance("org-1") == -90
    assert state.balance("member-1") == 90
    assert state.monthly == {("org-1", "2026-11"): 90, ("member-1", "2026-11"): 90}
    assert state.size == 1


def test_correcting_an_earn_counts_back_in_the_month_of_the_correction() -> None:
    original = _an_entry(0, earn("org-1", "member-1", 90))
    state = a_state(an_organisation(), a_member(), entries=[original])
    apply(state, original)
    fix = decode_entry(
        encode_entry(
            COMMUNITY, 1, "2026-12-01T00:00:00.000000Z", correct(original, 30), original.leaf
        )
    )

    assert check_state(state, fix.draft, "2026-12") is None
    apply(state, fix)

    assert state.balance("member-1") == 60
    assert state.monthly[("member-1", "2026-12")] == -30
    assert state.monthly[("org-1", "2026-12")] == -30
    assert state.reversed_minutes == {0: (30,)}


def test_a_budget_change_applies_to_the_next_earn() -> None:
    state = a_state(an_organisation(budget_minutes_per_month=60), a_member())
    apply(state, _an_entry(0, set_budget("org-1", 120)))

    assert check_state(state, earn(minutes=120), MONTH) is None
    assert check_state(state, earn(minutes=121), MONTH).code is Rejection.EXCEEDS_MONTHLY_BUDGET  # type: ignore[union-attr]


def test_a_rejection_explains_itself_with_numbers() -> None:
    state = a_state(a_member(), a_member("member-2"), balances={"member-1": 120})

    rejected = check_state(state, transfer(minutes=121), MONTH)

    assert rejected is not None
    assert rejected.detail == {"balance_minutes": 120, "floor_minutes": 0}


def test_the_start_time_is_in_the_tested_month() -> None:
    assert START.strftime("%Y-%m") == MONTH


# The common entry's shortcut: check_state then apply, in one step.

_PLAIN_ACCOUNTS = ["org-1", "member-1", "member-2", "shop-1", "community", "ghost"]


@st.composite
def plain_cases(draw: st.DrawFn) -> tuple[LedgerState, Draft]:
    """A state near its bounds and a one-posting draft that may break any state rule."""
    budget = draw(st.sampled_from([None, 0, 100, 600]))
    state = a_state(
        an_organisation(budget_minutes_per_month=budget),
        a_member("member-1", floor_minutes=draw(st.sampled_from([0, 10]))),
        a_member("member-2"),
        a_shop(),
        a_community_account(),
        balances={
            name: draw(st.sampled_from([0, 5, 100, limits.BALANCE_MINUTES_MAX - 10]))
            for name in ("member-1", "member-2", "shop-1")
        },
        settings=Settings(
            members_may_transfer=draw(st.booleans()),
            member_earning_cap_minutes_per_month=draw(st.sampled_from([None, 60, 200])),
        ),
        monthly={("org-1", MONTH): draw(st.sampled_from([0, 550])), ("member-1", MONTH): 30},
    )
    kind = draw(
        st.sampled_from([EntryKind.EARN, EntryKind.TRANSFER, EntryKind.REDEEM, EntryKind.SETTLE])
    )
    payer, payee = draw(
        st.lists(st.sampled_from(_PLAIN_ACCOUNTS), min_size=2, max_size=2, unique=True)
    )
    minutes = draw(st.sampled_from([1, 5, 10, 50, 95, 100, 600]))
    return state, Draft(f"d-{kind}", kind, payer, (Posting(payer, payee, minutes),))


@settings(max_examples=500, deadline=None)
@given(plain_cases())
def test_the_common_entrys_shortcut_accepts_and_applies_exactly_as_the_rules_do(
    case: tuple[LedgerState, Draft],
) -> None:
    state, draft = case
    before, by_rules = copy.deepcopy(state), copy.deepcopy(state)
    p = draft.postings[0]

    took = apply_plain(state, 5, draft.kind, p.payer, p.payee, p.amount_minutes, MONTH)

    rejected = check_state(by_rules, draft, MONTH)
    if rejected is None:
        apply(by_rules, _an_entry(5, draft))
    assert took == (rejected is None)
    assert state == (by_rules if took else before)
