"""The stateless checks on a draft: every bound at its limit and one past it, in order."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import limits
from ledger.canonical import canonical_json, decode_entry, encode_entry
from ledger.model import AccountType, Draft, EntryKind, Posting, Rejection
from ledger.shape import _check_shape_in_order, check_retry, check_shape, plain_shape_ok
from tests.support.builders import (
    a_member,
    a_shop,
    an_organisation,
    changed,
    configure,
    correct,
    earn,
    open_account,
    set_budget,
    transfer,
)
from tests.support.strategies import drafts, hostile_drafts

TIME = "2026-11-28T09:30:00.000000Z"
MAX_META = tuple((f"k{n:02d}", "v") for n in range(limits.META_KEYS_MAX))


def code(draft: Draft) -> Rejection | None:
    rejected = check_shape(draft)
    return None if rejected is None else rejected.code


def a_correction(*amounts: int) -> Draft:
    return correct(3, postings=tuple(Posting("member-2", "member-1", a) for a in amounts))


# Each bound: the draft at the bound passes, one past it is rejected with its code.
BOUNDARIES = [
    # (what, passes at the bound, rejected one past it, code)
    ("id length", transfer(id="a" * 64), transfer(id="a" * 65), Rejection.ID_INVALID),
    ("id first character", transfer(id="a.b"), transfer(id=".ab"), Rejection.ID_INVALID),
    ("id characters", transfer(id="a:b_c-d.e"), transfer(id="a/b"), Rejection.ID_INVALID),
    ("actor length", transfer(actor="a" * 40), transfer(actor="a" * 41), Rejection.ACTOR_INVALID),
    ("actor characters", transfer(actor="a-b_c"), transfer(actor="a.b"), Rejection.ACTOR_INVALID),
    ("empty actor", transfer(actor="a"), transfer(actor=""), Rejection.ACTOR_INVALID),
    ("memo length", transfer(memo="m" * 280), transfer(memo="m" * 281), Rejection.MEMO_TOO_LONG),
    (
        "memo length in characters, not bytes",
        transfer(memo="🎉" * 280),
        transfer(memo="ş" * 281),
        Rejection.MEMO_TOO_LONG,
    ),
    (
        "reference length",
        transfer(reference="r" * 128),
        transfer(reference="r" * 129),
        Rejection.REFERENCE_TOO_LONG,
    ),
    ("memo newline", transfer(memo="a b"), transfer(memo="a\nb"), Rejection.TEXT_INVALID),
    ("memo NUL", transfer(memo="İyi"), transfer(memo="a\x00"), Rejection.TEXT_INVALID),
    (
        "memo lone surrogate",
        transfer(memo="شكرا 🙏"),
        transfer(memo="a\ud800"),
        Rejection.TEXT_INVALID,
    ),
    (
        "reference tab",
        transfer(reference="a b"),
        transfer(reference="a\tb"),
        Rejection.TEXT_INVALID,
    ),
    (
        "meta key count",
        transfer(meta=MAX_META),
        transfer(meta=(*MAX_META, ("zz", "v"))),
        Rejection.META_INVALID,
    ),
    (
        "meta key length",
        transfer(meta=(("k" * 32, 1),)),
        transfer(meta=(("k" * 33, 1),)),
        Rejection.META_INVALID,
    ),
    (
        "meta key characters",
        transfer(meta=(("a_1", 1),)),
        transfer(meta=(("A", 1),)),
        Rejection.META_INVALID,
    ),
    (
        "meta value length",
        transfer(meta=(("k", "v" * 200),)),
        transfer(meta=(("k", "v" * 201),)),
        Rejection.META_INVALID,
    ),
    (
        "meta integer",
        transfer(meta=(("k", 2**53 - 1),)),
        transfer(meta=(("k", 2**53),)),
        Rejection.META_INVALID,
    ),
    (
        "meta negative integer",
        transfer(meta=(("k", -(2**53) + 1),)),
        transfer(meta=(("k", -(2**53)),)),
        Rejection.META_INVALID,
    ),
    (
        "meta keys sorted",
        transfer(meta=(("a", 1), ("b", 2))),
        transfer(meta=(("b", 2), ("a", 1))),
        Rejection.META_INVALID,
    ),
    (
        "meta keys unique",
        transfer(meta=(("a", 1), ("b", 1))),
        transfer(meta=(("a", 1), ("a", 1))),
        Rejection.META_INVALID,
    ),
    (
        "meta value type",
        transfer(meta=(("a", True),)),
        transfer(meta=(("a", 1.5),)),  # type: ignore[arg-type]
        Rejection.META_INVALID,
    ),
    (
        "meta value text",
        transfer(meta=(("a", "ok"),)),
        transfer(meta=(("a", "\x1b"),)),
        Rejection.META_INVALID,
    ),
    (
        "an earn carries no account",
        earn(),
        changed(earn(), account=a_member()),
        Rejection.FIELDS_DO_NOT_MATCH_KIND,
    ),
    (
        "an open carries an account",
        open_account(a_member()),
        changed(open_account(a_member()), account=None),
        Rejection.FIELDS_DO_NOT_MATCH_KIND,
    ),
    (
        "a correction names a seq",
        a_correction(60),
        changed(a_correction(60), corrects=None),
        Rejection.FIELDS_DO_NOT_MATCH_KIND,
    ),
    (
        "only a correction names a seq",
        transfer(),
        changed(transfer(), corrects=3),
        Rejection.FIELDS_DO_NOT_MATCH_KIND,
    ),
    (
        "a correction names a seq from zero",
        changed(a_correction(60), corrects=0),
        changed(a_correction(60), corrects=-1),
        Rejection.FIELDS_DO_NOT_MATCH_KIND,
    ),
    (
        "a correction names a seq within JSON integers",
        changed(a_correction(60), corrects=limits.JSON_INTEGER_MAX),
        changed(a_correction(60), corrects=limits.JSON_INTEGER_MAX + 1),
        Rejection.FIELDS_DO_NOT_MATCH_KIND,
    ),
    (
        "a correction names a seq, not a boolean",
        changed(a_correction(60), corrects=1),
        changed(a_correction(60), corrects=True),
        Rejection.FIELDS_DO_NOT_MATCH_KIND,
    ),
    (
        "payee id length",
        transfer(payee="p" * 40),
        transfer(payee="p" * 41),
        Rejection.ACCOUNT_ID_INVALID,
    ),
    (
        "payer id characters",
        transfer(payer="m-1_a", actor="a"),
        transfer(payer="m.1", actor="a"),
        Rejection.ACCOUNT_ID_INVALID,
    ),
    (
        "opened account id",
        open_account(a_member("m" * 40)),
        open_account(a_member("m" * 41)),
        Rejection.ACCOUNT_ID_INVALID,
    ),
    (
        "budgeted organisation id",
        set_budget("org-1", 60),
        set_budget("org 1", 60),
        Rejection.ACCOUNT_ID_INVALID,
    ),
    (
        "a transfer has one posting",
        transfer(),
        changed(transfer(), postings=transfer().postings * 2),
        Rejection.POSTINGS_COUNT_INVALID,
    ),
    (
        "an earn has a posting",
        earn(),
        changed(earn(), postings=()),
        Rejection.POSTINGS_COUNT_INVALID,
    ),
    (
        "an open has no postings",
        open_account(a_member()),
        changed(open_account(a_member()), postings=transfer().postings),
        Rejection.POSTINGS_COUNT_INVALID,
    ),
    (
        "a correction has at most eight postings",
        a_correction(*[1] * limits.POSTINGS_PER_ENTRY_MAX),
        a_correction(*[1] * (limits.POSTINGS_PER_ENTRY_MAX + 1)),
        Rejection.POSTINGS_COUNT_INVALID,
    ),
    (
        "a correction has a posting",
        a_correction(1),
        a_correction(),
        Rejection.POSTINGS_COUNT_INVALID,
    ),
    ("amount zero", transfer(minutes=1), transfer(minutes=0), Rejection.AMOUNT_MUST_BE_POSITIVE),
    (
        "amount negative",
        transfer(minutes=1),
        transfer(minutes=-1),
        Rejection.AMOUNT_MUST_BE_POSITIVE,
    ),
    (
        "amount boolean",
        transfer(minutes=1),
        transfer(minutes=True),
        Rejection.AMOUNT_MUST_BE_POSITIVE,
    ),
    (
        "amount maximum",
        transfer(minutes=limits.TRANSFER_MINUTES_MAX),
        transfer(minutes=limits.TRANSFER_MINUTES_MAX + 1),
        Rejection.AMOUNT_EXCEEDS_MAXIMUM,
    ),
    (
        "payer and payee",
        transfer("member-1", "member-2"),
        transfer("member-1", "member-1"),
        Rejection.PAYER_MUST_DIFFER_FROM_PAYEE,
    ),
    (
        "budget maximum",
        set_budget("org-1", limits.BUDGET_MINUTES_PER_MONTH_MAX),
        set_budget("org-1", limits.BUDGET_MINUTES_PER_MONTH_MAX + 1),
        Rejection.BUDGET_INVALID,
    ),
    ("budget zero", set_budget("org-1", 0), set_budget("org-1", -1), Rejection.BUDGET_INVALID),
    ("budget boolean", set_budget("org-1", 1), set_budget("org-1", True), Rejection.BUDGET_INVALID),
    (
        "an organisation opens with a budget",
        open_account(an_organisation(budget_minutes_per_month=limits.BUDGET_MINUTES_PER_MONTH_MAX)),
        open_account(replace(an_organisation(), budget_minutes_per_month=None)),
        Rejection.BUDGET_INVALID,
    ),
    (
        "an organisation's opening budget maximum",
        open_account(an_organisation(budget_minutes_per_month=limits.BUDGET_MINUTES_PER_MONTH_MAX)),
        open_account(
            an_organisation(budget_minutes_per_month=limits.BUDGET_MINUTES_PER_MONTH_MAX + 1)
        ),
        Rejection.BUDGET_INVALID,
    ),
    (
        "only an organisation has a budget",
        open_account(a_member()),
        open_account(replace(a_member(), budget_minutes_per_month=60)),
        Rejection.BUDGET_INVALID,
    ),
    (
        "cap maximum",
        configure(member_earning_cap_minutes_per_month=limits.EARNING_CAP_MINUTES_PER_MONTH_MAX),
        configure(
            member_earning_cap_minutes_per_month=limits.EARNING_CAP_MINUTES_PER_MONTH_MAX + 1
        ),
        Rejection.CAP_INVALID,
    ),
    (
        "cap minimum",
        configure(member_earning_cap_minutes_per_month=1),
        configure(member_earning_cap_minutes_per_month=0),
        Rejection.CAP_INVALID,
    ),
    (
        "cap boolean",
        configure(member_earning_cap_minutes_per_month=1),
        configure(member_earning_cap_minutes_per_month=True),
        Rejection.CAP_INVALID,
    ),
    (
        "approval threshold minimum",
        configure(approval_threshold_minutes=1),
        configure(approval_threshold_minutes=0),
        Rejection.APPROVAL_THRESHOLD_INVALID,
    ),
    (
        "approval threshold maximum",
        configure(approval_threshold_minutes=limits.APPROVAL_THRESHOLD_MINUTES_MAX),
        configure(approval_threshold_minutes=limits.APPROVAL_THRESHOLD_MINUTES_MAX + 1),
        Rejection.APPROVAL_THRESHOLD_INVALID,
    ),
    (
        "floor zero",
        open_account(a_member(floor_minutes=0)),
        open_account(a_member(floor_minutes=-1)),
        Rejection.FLOOR_INVALID,
    ),
    (
        "floor maximum",
        open_account(a_shop(floor_minutes=limits.BALANCE_MINUTES_MAX)),
        open_account(a_shop(floor_minutes=limits.BALANCE_MINUTES_MAX + 1)),
        Rejection.FLOOR_INVALID,
    ),
    (
        "floor boolean",
        open_account(a_member(floor_minutes=1)),
        open_account(a_member(floor_minutes=True)),
        Rejection.FLOOR_INVALID,
    ),
    (
        "an organisation has no floor",
        open_account(an_organisation()),
        open_account(replace(an_organisation(), floor_minutes=0)),
        Rejection.FLOOR_INVALID,
    ),
    (
        "a member has a floor",
        open_account(a_member()),
        open_account(replace(a_member(), floor_minutes=None)),
        Rejection.FLOOR_INVALID,
    ),
]


@pytest.mark.parametrize(
    ("passing", "failing", "expected"),
    [pytest.param(p, f, c, id=what) for what, p, f, c in BOUNDARIES],
)
def test_a_bound_holds_at_its_limit_and_rejects_one_past_it(
    passing: Draft, failing: Draft, expected: Rejection
) -> None:
    assert code(passing) is None
    assert code(failing) is expected


def test_every_stateless_rejection_has_a_boundary_case() -> None:
    covered = {expected for *_, expected in BOUNDARIES}

    missing = {r for r in Rejection if r.name in _STATELESS_NAMES} - covered

    assert not missing, f"no boundary case for {sorted(missing)}"


_STATELESS_NAMES = {
    r.name for r in list(Rejection)[: list(Rejection).index(Rejection.FLOOR_INVALID) + 1]
}


# Order: a draft that breaks two rules gets the earlier code. Each pair is the
# broken draft and the same draft with only the earlier rule repaired, which must
# then fail on the later one: so the draft really breaks both.
ORDER = [
    ("id, actor", transfer(id="-", actor=""), transfer(id="ok", actor="")),
    ("actor, memo", transfer(actor="", memo="m" * 281), transfer(memo="m" * 281)),
    (
        "memo, reference",
        transfer(memo="m" * 281, reference="r" * 129),
        transfer(reference="r" * 129),
    ),
    (
        "reference, text",
        transfer(memo="\n", reference="r" * 129),
        transfer(memo="\n", reference="r"),
    ),
    ("text, meta", transfer(memo="\n", meta=(("A", 1),)), transfer(meta=(("A", 1),))),
    (
        "meta, fields",
        changed(transfer(meta=(("A", 1),)), corrects=1),
        changed(transfer(), corrects=1),
    ),
    (
        "fields, account id",
        changed(transfer(payee="x.y"), corrects=1),
        transfer(payee="x.y"),
    ),
    (
        "corrects, amount",
        changed(a_correction(0), corrects=-1),
        a_correction(0),
    ),
    (
        "account id, postings count",
        changed(transfer(payee="x.y"), postings=(Posting("a", "x.y", 1),) * 2),
        changed(transfer(), postings=(Posting("a", "b", 1),) * 2),
    ),
    (
        "postings count, amount",
        changed(transfer(), postings=(Posting("a", "b", 0),) * 2),
        transfer(minutes=0),
    ),
    (
        "amount positive, amount maximum (across postings)",
        a_correction(limits.TRANSFER_MINUTES_MAX + 1, 0),
        a_correction(limits.TRANSFER_MINUTES_MAX + 1, 1),
    ),
    (
        "amount maximum, payer and payee",
        transfer("member-1", "member-1", limits.TRANSFER_MINUTES_MAX + 1),
        transfer("member-1", "member-1", 1),
    ),
    (
        "budget, floor",
        open_account(replace(an_organisation(budget_minutes_per_month=-1), floor_minutes=0)),
        open_account(replace(an_organisation(), floor_minutes=0)),
    ),
]


@pytest.mark.parametrize(("broken", "repaired"), [pytest.param(b, r, id=w) for w, b, r in ORDER])
def test_a_draft_breaking_two_rules_gets_the_earlier_code(broken: Draft, repaired: Draft) -> None:
    earlier, later = code(broken), code(repaired)

    assert earlier is not None and later is not None
    order = list(Rejection)
    assert order.index(earlier) < order.index(later), f"{earlier} should come before {later}"
    assert code(broken) is earlier


# Shape and encoding agree: whatever passes the shape check is stored and read back whole.


WIDEST = "\U0001f389"  # four bytes in UTF-8, one character


def meta_of_bytes(budget: int) -> tuple[tuple[str, str], ...]:
    """The most meta (longest keys, widest values) whose canonical JSON fits ``budget`` bytes."""
    keys = [
        f"k{n:02d}" + "k" * (limits.META_KEY_LENGTH_MAX - 3) for n in range(limits.META_KEYS_MAX)
    ]
    length = limits.META_VALUE_LENGTH_MAX
    while len(canonical_json({k: WIDEST * length for k in keys})) > budget:
        length -= 1
    meta = {k: WIDEST * length for k in keys}
    # Top up the last value with one-byte characters until the budget is exactly met.
    while len(canonical_json(meta)) < budget and len(meta[keys[-1]]) < limits.META_VALUE_LENGTH_MAX:
        meta[keys[-1]] += "v"
    return tuple(sorted(meta.items()))


def the_widest_correction(meta: tuple[tuple[str, str], ...]) -> Draft:
    postings = tuple(
        Posting("p" * 40, "q" * 40, limits.TRANSFER_MINUTES_MAX)
        for _ in range(limits.POSTINGS_PER_ENTRY_MAX)
    )
    return Draft(
        id="i" * limits.ENTRY_ID_LENGTH_MAX,
        kind=EntryKind.CORRECT,
        actor="a" * limits.ACTOR_ID_LENGTH_MAX,
        postings=postings,
        memo=WIDEST * limits.MEMO_LENGTH_MAX,
        reference=WIDEST * limits.REFERENCE_LENGTH_MAX,
        meta=meta,
        corrects=limits.JSON_INTEGER_MAX,
    )


def test_the_largest_well_shaped_draft_fits_in_an_entry() -> None:
    draft = the_widest_correction(meta_of_bytes(limits.META_BYTES_MAX))
    assert code(draft) is None

    data = encode_entry("c" * 40, limits.JSON_INTEGER_MAX, TIME, draft, bytes(32))

    assert len(data) <= limits.ENTRY_BYTES_MAX
    assert decode_entry(data).draft == draft


def test_meta_one_byte_past_its_budget_is_rejected() -> None:
    at_budget = meta_of_bytes(limits.META_BYTES_MAX)
    past_budget = (*at_budget[:-1], (at_budget[-1][0], at_budget[-1][1] + "v"))
    assert len(canonical_json(dict(past_budget))) == limits.META_BYTES_MAX + 1

    assert code(transfer(meta=at_budget)) is None
    assert code(transfer(meta=past_budget)) is Rejection.META_INVALID


def test_meta_with_every_value_at_its_length_limit_can_overflow_an_entry_and_is_rejected() -> None:
    meta = tuple(
        (f"k{n:02d}", WIDEST * limits.META_VALUE_LENGTH_MAX) for n in range(limits.META_KEYS_MAX)
    )

    assert code(transfer(meta=meta)) is Rejection.META_INVALID


@pytest.mark.parametrize(
    "account_type", [AccountType.MEMBER, AccountType.SHOP, AccountType.COMMUNITY]
)
def test_any_non_organisation_account_opens_with_a_floor_and_no_budget(
    account_type: AccountType,
) -> None:
    draft = open_account(replace(a_member("x-1"), type=account_type))

    assert code(draft) is None


# Retries: which field differs decides the code, in the order of Rejection.


def test_a_repeat_of_the_same_draft_is_no_difference() -> None:
    draft = transfer(memo="dank je")

    assert check_retry(replace(draft), draft) is None


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ({"kind": EntryKind.REDEEM}, Rejection.EXISTS_WITH_DIFFERENT_KIND),
        ({"actor": "someone-else"}, Rejection.EXISTS_WITH_DIFFERENT_ACTOR),
        (
            {"postings": (Posting("member-3", "member-2", 60),)},
            Rejection.EXISTS_WITH_DIFFERENT_PAYER,
        ),
        (
            {"postings": (Posting("member-1", "member-3", 60),)},
            Rejection.EXISTS_WITH_DIFFERENT_PAYEE,
        ),
        (
            {"postings": (Posting("member-1", "member-2", 61),)},
            Rejection.EXISTS_WITH_DIFFERENT_AMOUNT,
        ),
        ({"memo": "other"}, Rejection.EXISTS_WITH_DIFFERENT_MEMO),
        ({"reference": "other"}, Rejection.EXISTS_WITH_DIFFERENT_REFERENCE),
        ({"meta": (("k", 1),)}, Rejection.EXISTS_WITH_DIFFERENT_META),
    ],
)
def test_a_retry_names_the_field_that_differs(
    field: dict[str, object], expected: Rejection
) -> None:
    original = transfer("member-1", "member-2", 60, memo="dank je")

    rejected = check_retry(changed(original, **field), original)

    assert rejected is not None and rejected.code is expected


def test_a_retry_that_differs_in_two_fields_names_the_earlier() -> None:
    original = transfer("member-1", "member-2", 60)
    retry = changed(original, actor="x", postings=(Posting("member-1", "member-2", 61),))

    rejected = check_retry(retry, original)

    assert rejected is not None and rejected.code is Rejection.EXISTS_WITH_DIFFERENT_ACTOR


# The shortcut for the common draft agrees with the checks in order.


def _plain_ok(draft: Draft) -> bool:
    p = draft.postings[0]
    return plain_shape_ok(
        draft.id, draft.kind, draft.actor, p.payer, p.payee, p.amount_minutes,
        draft.memo, draft.reference, draft.meta, draft.corrects,
    )  # fmt: skip


_ONE_POSTING = (EntryKind.EARN, EntryKind.TRANSFER, EntryKind.REDEEM, EntryKind.SETTLE)


@settings(max_examples=400, deadline=None)
@given(st.one_of(hostile_drafts(), drafts((*_ONE_POSTING, EntryKind.CORRECT))))
def test_the_common_drafts_shortcut_passes_exactly_what_the_ordered_checks_pass(
    draft: Draft,
) -> None:
    if len(draft.postings) != 1 or draft.kind not in (*_ONE_POSTING, EntryKind.CORRECT):
        return
    try:
        in_order = _check_shape_in_order(draft)
    except (TypeError, AttributeError):
        return  # a value of the wrong type: the shortcut defers, see below

    assert _plain_ok(draft) == (in_order is None)
    assert check_shape(draft) == in_order


@pytest.mark.parametrize(
    "draft",
    [
        transfer(id=" bad"),
        transfer(actor="bad actor"),
        transfer("member-1", "member-1"),
        transfer(minutes=0),
        transfer(minutes=True),  # type: ignore[arg-type]
        transfer(minutes=limits.TRANSFER_MINUTES_MAX + 1),
        transfer(memo="x" * (limits.MEMO_LENGTH_MAX + 1)),
        transfer(memo="tab\t"),
        transfer(reference="a\ud800"),
        transfer(meta=(("b", "1"), ("a", "2"))),
        transfer(meta=(("k", "v" * (limits.META_VALUE_LENGTH_MAX + 1)),)),
        replace(transfer(), corrects=3),
        replace(correct(3, postings=(Posting("member-2", "member-1", 5),)), corrects=None),
        replace(correct(3, postings=(Posting("member-2", "member-1", 5),)), corrects=-1),
    ],
)
def test_the_common_drafts_shortcut_refuses_each_fault(draft: Draft) -> None:
    assert not _plain_ok(draft)
    assert check_shape(draft) is not None


def test_the_meta_size_bound_is_checked_exactly_when_the_estimate_is_too_high() -> None:
    # Sixteen values of 200 characters would estimate far above META_BYTES_MAX.
    wide = tuple((f"k{n:02d}", "é" * 200) for n in range(limits.META_KEYS_MAX))
    narrow = tuple((f"k{n:02d}", "v" * 200) for n in range(limits.META_KEYS_MAX))

    assert code(transfer(meta=wide)) is Rejection.META_INVALID
    assert len(canonical_json(dict(narrow))) <= limits.META_BYTES_MAX
    assert code(transfer(meta=narrow)) is None
