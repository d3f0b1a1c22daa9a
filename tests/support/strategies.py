"""Hypothesis strategies for drafts, entries and the JSON values canonical bytes are made of.

``drafts()`` draws well-shaped drafts of every kind (each passes ``check_shape``);
``hostile_drafts()`` draws drafts whose fields may be anything a careless caller
could put in them; ``entries()`` draws the arguments of ``encode_entry``. Text
mixes ASCII, characters JSON must escape, Dutch, Turkish, Arabic and emoji.
"""

from __future__ import annotations

import string
from dataclasses import replace
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from ledger import limits
from ledger.model import (
    AccountSpec,
    AccountType,
    BudgetChange,
    Draft,
    EntryKind,
    Posting,
    Settings,
    StaffChange,
    StaffRole,
)

JSON_INT = st.integers(min_value=-limits.JSON_INTEGER_MAX, max_value=limits.JSON_INTEGER_MAX)
JSON_COUNT = st.integers(min_value=0, max_value=limits.JSON_INTEGER_MAX)

# Characters worth drawing often: those JSON escapes, and scripts the community writes in.
ESCAPED = '"\\/'
DUTCH = "éëïöüĳ€"
TURKISH = "İıŞşĞğÇçÖöÜü"
ARABIC = "شكرا لك على المساعدة"
EMOJI = "🎉🙏👍🏽🧓🏿🇳🇱"
NOTABLE = ESCAPED + DUTCH + TURKISH + ARABIC + EMOJI


def printable_text(max_size: int) -> st.SearchStrategy[str]:
    """Text a draft may carry: printable characters only, never a lone surrogate."""
    return st.text(st.one_of(st.sampled_from(NOTABLE + " "), _PRINTABLE), max_size=max_size)


# What str.isprintable() accepts, without filtering: no controls, format characters,
# surrogates, private use, unassigned code points or separators other than space.
_PRINTABLE = st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"))


def any_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Any encodable text, control characters included (canonical bytes escape them)."""
    return st.text(
        st.one_of(
            st.sampled_from(NOTABLE + "\x00\x1f\x7f\u2028\b\f\n\r\t"), st.characters(codec="utf-8")
        ),
        max_size=max_size,
    )


_ALNUM = string.ascii_letters + string.digits


def _identifiers(first: str, rest: str, max_size: int) -> st.SearchStrategy[str]:
    """A first character from ``first``, then up to ``max_size - 1`` from ``rest``."""
    return st.builds(
        str.__add__, st.sampled_from(first), st.text(st.sampled_from(rest), max_size=max_size - 1)
    )


entry_ids = _identifiers(_ALNUM, _ALNUM + "._:-", limits.ENTRY_ID_LENGTH_MAX)
account_ids = _identifiers(_ALNUM, _ALNUM + "_-", limits.ACCOUNT_ID_LENGTH_MAX)
meta_keys = _identifiers(
    string.ascii_lowercase, string.ascii_lowercase + string.digits + "_", limits.META_KEY_LENGTH_MAX
)
amounts = st.integers(min_value=1, max_value=limits.TRANSFER_MINUTES_MAX)


@st.composite
def metas(draw: st.DrawFn) -> tuple[tuple[str, str | int | bool], ...]:
    # Few, short values keep generation fast; the bounds themselves have explicit tests.
    values = st.one_of(printable_text(24), JSON_INT, st.booleans())
    meta = draw(st.dictionaries(meta_keys, values, max_size=4))
    return tuple(sorted(meta.items()))


@st.composite
def postings(draw: st.DrawFn) -> Posting:
    payer, payee = draw(st.lists(account_ids, min_size=2, max_size=2, unique=True))
    return Posting(payer, payee, draw(amounts))


@st.composite
def account_specs(draw: st.DrawFn) -> AccountSpec:
    account_type = draw(st.sampled_from(AccountType))
    if account_type is AccountType.ORGANISATION:
        budget = draw(st.integers(0, limits.BUDGET_MINUTES_PER_MONTH_MAX))
        return AccountSpec(draw(account_ids), account_type, None, budget)
    floor = draw(st.integers(0, limits.BALANCE_MINUTES_MAX))
    return AccountSpec(draw(account_ids), account_type, floor, None)


settings_values = st.builds(
    Settings,
    members_may_transfer=st.booleans(),
    member_earning_cap_minutes_per_month=st.none()
    | st.integers(1, limits.EARNING_CAP_MINUTES_PER_MONTH_MAX),
    approval_threshold_minutes=st.none() | st.integers(1, limits.APPROVAL_THRESHOLD_MINUTES_MAX),
)


@st.composite
def drafts(draw: st.DrawFn, kinds: tuple[EntryKind, ...] = tuple(EntryKind)) -> Draft:
    """A well-shaped draft of one of ``kinds``: it passes ``check_shape``."""
    kind = draw(st.sampled_from(kinds))
    extra: dict[str, Any] = {}
    if kind is EntryKind.OPEN:
        extra["account"] = draw(account_specs())
    elif kind is EntryKind.CONFIGURE:
        extra["settings"] = draw(settings_values)
    elif kind is EntryKind.BUDGET:
        extra["budget"] = BudgetChange(
            draw(account_ids), draw(st.integers(0, limits.BUDGET_MINUTES_PER_MONTH_MAX))
        )
    elif kind is EntryKind.STAFF:
        extra["staff"] = StaffChange(
            draw(account_ids), StaffRole.COORDINATOR, draw(account_ids), draw(st.booleans())
        )
    elif kind is EntryKind.CORRECT:
        extra["postings"] = tuple(
            draw(st.lists(postings(), min_size=1, max_size=limits.POSTINGS_PER_ENTRY_MAX))
        )
        extra["corrects"] = draw(JSON_COUNT)
    else:
        extra["postings"] = (draw(postings()),)
    return Draft(
        id=draw(entry_ids),
        kind=kind,
        actor=draw(account_ids),
        memo=draw(printable_text(limits.MEMO_LENGTH_MAX)),
        reference=draw(printable_text(limits.REFERENCE_LENGTH_MAX)),
        meta=draw(metas()),
        **extra,
    )


# Hostile drafts: any field may hold a wrong value of a plausible type.
_odd_ints = st.one_of(
    st.integers(),
    st.booleans(),
    st.sampled_from([0, -1, 2**53 - 1, 2**53, -(2**53), limits.TRANSFER_MINUTES_MAX + 1]),
)
_odd_text = st.one_of(any_text(300), st.sampled_from(["", " ", "a\ud800", "x" * 300]))


@st.composite
def hostile_drafts(draw: st.DrawFn) -> Draft:
    """A well-shaped draft with one value made odd: a boolean or huge integer for a
    number, control characters or a lone surrogate in text, a float in meta."""
    draft = draw(drafts())
    odd = draw(st.one_of(st.booleans(), st.booleans(), _odd_ints, _odd_text))
    texts = ["id", "actor", "memo", "reference", "meta"]
    target = draw(st.sampled_from(texts + ["number"] * len(texts)))
    if target in ("id", "actor", "memo", "reference"):
        return replace(draft, **{target: odd if isinstance(odd, str) else draw(_odd_text)})
    if target == "meta":
        value = draw(st.one_of(st.just(odd), st.floats(allow_nan=False)))
        return replace(draft, meta=((draw(meta_keys), value),))
    # A number of the draft's own kind.
    number = odd if not isinstance(odd, str) else draw(_odd_ints)
    if draft.postings:
        postings = (replace(draft.postings[0], amount_minutes=number), *draft.postings[1:])
        draft = replace(draft, postings=postings)
    if draft.corrects is not None and draw(st.booleans()):
        return replace(draft, corrects=number)
    if draft.account is not None:
        field = draw(st.sampled_from(["floor_minutes", "budget_minutes_per_month"]))
        return replace(draft, account=replace(draft.account, **{field: number}))
    if draft.settings is not None:
        settings = replace(draft.settings, member_earning_cap_minutes_per_month=number)
        return replace(draft, settings=settings)
    if draft.budget is not None:
        return replace(draft, budget=replace(draft.budget, budget_minutes_per_month=number))
    return draft


times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(9999, 12, 31)).map(
    lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
)
hashes = st.binary(min_size=32, max_size=32)
communities = _identifiers(
    string.ascii_lowercase + string.digits,
    string.ascii_lowercase + string.digits + "-",
    limits.COMMUNITY_SLUG_LENGTH_MAX,
)


@st.composite
def entries(draw: st.DrawFn) -> tuple[str, int, str, Draft, bytes]:
    """Arguments of ``encode_entry``: community, seq, time, draft, prev."""
    return draw(communities), draw(JSON_COUNT), draw(times), draw(drafts()), draw(hashes)


# JSON values within the canonical schema: no floats, no null, integers below 2**53.
json_scalars = st.one_of(JSON_INT, st.booleans(), any_text(20))
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(st.characters(max_codepoint=127), max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
