"""Statements: hand-computed figures on a scripted history, and reconciliation as a property.

The scripted history, in minutes (60 = 1 credit):

    2026-09  open community, org-1 (budget 600), member-1..3, shop-1
             earn org-1 -> member-1 120; earn org-1 -> member-3 60
             end: members 180, shops 0
    2026-10  earn org-1 -> member-2 90; redeem member-1 -> shop-1 60
             end: members 210, shops 60
    2026-11  open member-4; budget org-1 900; earn org-1 -> member-4 45
             transfer member-1 -> member-2 30; redeem member-2 -> shop-1 40
             settle shop-1 -> community 80; correct the earn by 15 (back to org-1)
             correct the redeem by 10 (a refund)
             end: members 210 + 45 - 40 - 15 + 10 = 210, shops 60 + 40 - 80 - 10 = 10
    2026-12  earn org-1 -> member-1 30; correct the settlement by 20
             end: members 240, shops 30
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.audit_commands import format_statement
from api.statement_report import render_html
from ledger.amounts import LANGUAGES
from ledger.audit.csv_cells import FORMULA_STARTS
from ledger.audit.statement import (
    Circulation,
    MemberActivity,
    MonthPoint,
    OrganisationLine,
    OrganisationMonth,
    Period,
    PeriodError,
    ShopLine,
    Statement,
    StatementBuilder,
    to_csv,
    to_json,
)
from ledger.canonical import ZERO_HASH, encode_entry
from ledger.memory import MemoryStore
from ledger.merkle import leaf_hash
from ledger.model import Draft, Entry, EntryKind, Posting
from ledger.note import generate_signer
from ledger.rules import apply, check_state, remaining_minutes
from ledger.service import Ledger
from ledger.shape import check_shape
from ledger.state import LedgerState
from tests.support.builders import (
    COMMUNITY,
    HOST,
    a_clock,
    a_community_account,
    a_member,
    a_neighbourhood,
    a_shop,
    accepted,
    an_organisation,
    correct,
    earn,
    open_account,
    redeem,
    set_budget,
    settle,
    transfer,
)

ORIGIN = f"{HOST}/{COMMUNITY}"
ROOT = "AAAA"


def compute_statement(
    entries: Iterable[Entry], community: str, period: Period, origin: str, size: int, root: str
) -> Statement:
    """A statement from entries that passed an audit, replayed with ``rules.apply``:
    what ``buurtmunt audit`` builds as the audit's observer, without the checks."""
    state = LedgerState()
    builder = StatementBuilder(community, period)
    for entry in entries:
        builder.observe(entry, state)
        apply(state, entry)
    return builder.finish(state, origin, size, root)


def month_before(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year - 1:04d}-12" if number == 1 else f"{year:04d}-{number - 1:02d}"


def at(month: str, day: int = 10) -> datetime:
    return datetime(int(month[:4]), int(month[5:]), day, 12, tzinfo=UTC)


async def scripted_history() -> list[Entry]:
    store = MemoryStore()
    clock = a_clock(at("2026-09", 15))
    ledger = Ledger(store, generate_signer(ORIGIN), HOST, clock)
    await accepted(ledger, *a_neighbourhood(members=3, budget_minutes_per_month=600))
    await accepted(ledger, earn("org-1", "member-1", 120), earn("org-1", "member-3", 60))
    clock.set(at("2026-10"))
    await accepted(ledger, earn("org-1", "member-2", 90), redeem("member-1", "shop-1", 60))
    clock.set(at("2026-11"))
    await accepted(ledger, open_account(a_member("member-4")), set_budget("org-1", 900))
    earned, _, redeemed, settled = await accepted(
        ledger,
        earn("org-1", "member-4", 45),
        transfer("member-1", "member-2", 30),
        redeem("member-2", "shop-1", 40),
        settle("shop-1", "community", 80),
    )
    await accepted(ledger, correct(earned, 15), correct(redeemed, 10))
    clock.set(at("2026-12", 3))
    await accepted(ledger, earn("org-1", "member-1", 30), correct(settled, 20))
    head = await store.head(COMMUNITY)
    return await store.entries(COMMUNITY, 0, head.size)


async def statement_for(period: str) -> Statement:
    entries = await scripted_history()
    return compute_statement(entries, COMMUNITY, Period.parse(period), ORIGIN, len(entries), ROOT)


# Periods.


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("2026-11", "2026-11", "2026-11"),
        ("2026-Q1", "2026-01", "2026-03"),
        ("2026-Q4", "2026-10", "2026-12"),
        ("2026", "2026-01", "2026-12"),
    ],
)
def test_a_period_is_a_month_a_quarter_or_a_year(text: str, first: str, last: str) -> None:
    period = Period.parse(text)

    assert (period.first_month, period.last_month) == (first, last)


@pytest.mark.parametrize("text", ["2026-13", "2026-Q5", "26-11", "2026-1", "november", ""])
def test_anything_else_is_not_a_period(text: str) -> None:
    with pytest.raises(PeriodError):
        Period.parse(text)


# Hand-computed figures.


async def test_the_november_circulation_statement_has_the_hand_computed_figures() -> None:
    statement = await statement_for("2026-11")

    assert statement.circulation == Circulation(
        members_start_minutes=210,
        shops_start_minutes=60,
        earned_minutes=45,
        earn_corrected_minutes=15,
        transferred_minutes=30,
        transfer_corrected_minutes=0,
        redeemed_minutes=40,
        refunded_minutes=10,
        settled_minutes=80,
        settle_corrected_minutes=0,
        members_end_minutes=210,
        shops_end_minutes=10,
        balances_end_minutes=220,
    )
    assert statement.circulation.reconciles
    assert statement.circulation.computed_end_minutes == 270 + 45 - 80 - 15 == 220


async def test_the_november_statement_shows_issuing_against_the_budget_in_force() -> None:
    statement = await statement_for("2026-11")

    assert statement.organisations == (
        OrganisationLine(
            account="org-1",
            issued_minutes=45,
            corrected_minutes=15,
            budget_minutes=900,
            months=(OrganisationMonth("2026-11", 30, 900),),
        ),
    )


async def test_the_november_statement_shows_what_the_shop_redeemed_refunded_and_settled() -> None:
    statement = await statement_for("2026-11")

    assert statement.shops == (ShopLine("shop-1", 40, 10, 80, 0, 10),)


async def test_the_november_statement_counts_active_new_and_dormant_members() -> None:
    statement = await statement_for("2026-11")

    # member-1, -2 and -4 moved credits; member-4 joined; member-3 did nothing.
    assert statement.members == MemberActivity(members_end=4, active=3, new=1, dormant=1)


async def test_the_quarter_adds_up_its_three_months_and_their_budgets() -> None:
    statement = await statement_for("2026-Q4")

    c = statement.circulation
    assert (c.members_start_minutes, c.shops_start_minutes) == (180, 0)
    assert (c.earned_minutes, c.earn_corrected_minutes) == (165, 15)
    assert (c.redeemed_minutes, c.refunded_minutes) == (100, 10)
    assert (c.settled_minutes, c.settle_corrected_minutes) == (80, 20)
    assert (c.members_end_minutes, c.shops_end_minutes, c.balances_end_minutes) == (240, 30, 270)
    assert c.reconciles
    org = statement.organisations[0]
    assert [(m.month, m.issued_minutes, m.budget_minutes) for m in org.months] == [
        ("2026-10", 90, 600),
        ("2026-11", 30, 900),
        ("2026-12", 30, 900),
    ]
    assert org.budget_minutes == 2400
    assert statement.shops == (ShopLine("shop-1", 100, 10, 80, 20, 30),)


async def test_the_monthly_series_ends_with_the_period() -> None:
    statement = await statement_for("2026-11")

    assert statement.series == (
        MonthPoint("2026-09", 180, 0, 180),
        MonthPoint("2026-10", 90, 60, 270),
        MonthPoint("2026-11", 45, 40, 220),
    )


async def test_a_period_after_the_last_entry_starts_and_ends_with_what_is_held() -> None:
    statement = await statement_for("2027-01")

    c = statement.circulation
    assert (c.start_minutes, c.end_minutes, c.balances_end_minutes) == (270, 270, 270)
    assert c.earned_minutes == c.redeemed_minutes == c.settled_minutes == 0
    assert statement.members == MemberActivity(members_end=4, active=0, new=0, dormant=4)


async def test_a_period_before_the_first_entry_is_all_zero() -> None:
    statement = await statement_for("2026-08")

    c = statement.circulation
    assert (c.start_minutes, c.end_minutes, c.balances_end_minutes) == (0, 0, 0)
    assert statement.members.members_end == 0


async def test_the_statement_names_the_checkpoint_it_was_computed_from() -> None:
    entries = await scripted_history()

    statement = compute_statement(
        entries, COMMUNITY, Period.parse("2026-11"), ORIGIN, len(entries), "cm9vdA=="
    )

    assert (statement.checkpoint_size, statement.checkpoint_root) == (len(entries), "cm9vdA==")
    assert statement.as_of == entries[-1].time


# Output.


async def test_the_json_statement_carries_the_checkpoint_and_the_reconciliation() -> None:
    statement = await statement_for("2026-11")

    document = json.loads(json.dumps(to_json(statement)))

    assert document["checkpoint_size"] == statement.checkpoint_size
    assert document["checkpoint_root"] == ROOT
    assert document["period"]["label"] == "2026-11"
    assert document["circulation"]["reconciles"] is True
    assert document["circulation"]["end_minutes"] == 220
    assert document["organisations"][0]["net_issued_minutes"] == 30


async def test_the_csv_statement_has_one_figure_per_row() -> None:
    statement = await statement_for("2026-11")

    rows = list(csv.DictReader(io.StringIO(to_csv(statement))))

    figures = {(r["section"], r["item"], r["month"], r["figure"]): r["minutes"] for r in rows}
    assert figures[("circulation", COMMUNITY, "", "earned")] == "45"
    assert figures[("circulation", COMMUNITY, "", "end")] == "220"
    assert figures[("shop", "shop-1", "", "settled")] == "80"
    assert figures[("organisation", "org-1", "2026-11", "budget")] == "900"
    assert figures[("checkpoint", ORIGIN, "", "root")] == ROOT


@pytest.mark.parametrize("start", FORMULA_STARTS)
async def test_the_csv_statement_writes_names_a_spreadsheet_would_run_as_text(start: str) -> None:
    statement = await statement_for("2026-11")
    formula = f"{start}SUM(1+1)*cmd|' /C calc'!A0"

    text = to_csv(statement, {"org-1": formula, "shop-1": "Slagerij - Oost"})

    rows = list(csv.DictReader(io.StringIO(text)))

    names = {(r["section"], r["item"]): r["name"] for r in rows if r["name"]}
    assert names == {
        ("organisation", "org-1"): "'" + formula,
        ("shop", "shop-1"): "Slagerij - Oost",
    }
    figures = {(r["section"], r["figure"]): r["minutes"] for r in rows if not r["month"]}
    assert figures[("circulation", "corrections")] == "-15"  # a number, not text
    assert figures[("circulation", "end")] == "220"


async def test_the_audits_csv_statement_writes_a_root_a_spreadsheet_would_run_as_text() -> None:
    # A base64 root may start with "+"; `buurtmunt audit --format csv` writes this CSV too.
    statement = dataclasses.replace(await statement_for("2026-11"), checkpoint_root="+AAA")

    text = format_statement(statement, "csv")

    rows = list(csv.DictReader(io.StringIO(text)))
    figures = {(r["section"], r["month"], r["figure"]): r["minutes"] for r in rows}
    assert figures[("checkpoint", "", "root")] == "'+AAA"
    assert figures[("circulation", "", "corrections")] == "-15"
    assert text == to_csv(statement)
    assert {r["item"] for r in rows if r["section"] == "organisation"} == {"org-1"}


class _Tags(HTMLParser):
    VOID = {"meta", "br", "img", "input", "link", "hr", "rect", "line", "circle", "polyline"}

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.seen: list[str] = []
        self.balanced = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append(tag)
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if not self.open or self.open.pop() != tag:
            self.balanced = False


@pytest.mark.parametrize(
    ("language", "direction"), [(code, "rtl" if code == "ar" else "ltr") for code in LANGUAGES]
)
async def test_the_html_statement_is_a_balanced_accessible_page_with_two_charts(
    language: str, direction: str
) -> None:
    statement = await statement_for("2026-Q4")

    page = render_html(statement, language)

    tags = _Tags()
    tags.feed(page)
    assert tags.balanced and not tags.open
    assert page.startswith("<!DOCTYPE html>")
    assert f'<html lang="{language}" dir="{direction}">' in page
    assert tags.seen.count("svg") == 2 and tags.seen.count("title") == 3
    assert tags.seen.count("desc") == 2 and tags.seen.count("caption") == 4
    assert statement.checkpoint_root in page and "<script" not in page
    assert "@media print" in page


async def test_the_charts_read_out_their_figures_month_by_month() -> None:
    statement = await statement_for("2026-Q4")

    english, dutch = render_html(statement, "en"), render_html(statement, "nl")

    assert "November 2026: issued 45 minutes, redeemed 40 minutes" in english
    assert "november 2026: uitgegeven 45 minuten, besteed 40 minuten" in dutch


# Reconciliation, always.

MEMBERS = ("member-1", "member-2", "member-3")
SHOPS = ("shop-1", "shop-2")
OPENING = [
    a_community_account(),
    an_organisation("org-1", budget_minutes_per_month=2_000),
    an_organisation("org-2", budget_minutes_per_month=500),
    *[a_member(m) for m in MEMBERS],
    *[a_shop(s) for s in SHOPS],
]
STEP = st.tuples(
    st.sampled_from(["earn", "transfer", "redeem", "settle", "correct"]),
    st.integers(0, 5),
    st.integers(0, 5),
    st.integers(1, 300),
    st.integers(0, 2),  # months to move the clock forward first
)


def a_journal(steps: list[tuple[str, int, int, int, int]]) -> list[Entry]:
    """Entries the rules accept, built with the pure functions; refused steps are skipped."""
    state = LedgerState()
    entries: list[Entry] = []
    prev = ZERO_HASH
    month = 0
    plan: list[tuple[int, Draft | tuple[str, int, int, int]]] = [
        (0, open_account(spec)) for spec in OPENING
    ]
    for kind, a, b, minutes, forward in steps:
        month += forward
        plan.append((month, (kind, a, b, minutes)))
    for n, (month_offset, step) in enumerate(plan):
        draft = step if isinstance(step, Draft) else _draft(n, *step, entries, state)
        year, month_number = divmod(9 + month_offset, 12)
        time = f"{2025 + year}-{month_number + 1:02d}-15T10:00:00.000000Z"
        if check_shape(draft) or check_state(state, draft, time[:7]):
            continue
        data = encode_entry(COMMUNITY, len(entries), time, draft, prev)
        entry = Entry(COMMUNITY, len(entries), time, draft, prev, data, leaf_hash(data))
        apply(state, entry)
        state.originals[entry.seq] = entry
        entries.append(entry)
        prev = entry.leaf
    return entries


def _draft(
    n: int, kind: str, a: int, b: int, minutes: int, entries: list[Entry], state: LedgerState
) -> Draft:
    member, other = MEMBERS[a % 3], MEMBERS[b % 3]
    shop = SHOPS[b % 2]
    if kind == "earn":
        return earn(("org-1", "org-2")[a % 2], other, minutes, id=f"e{n}")
    held = state.balance(member)
    spend = min(minutes, held) if held > 0 else minutes
    if kind == "transfer":
        return transfer(member, other, spend, id=f"t{n}")
    if kind == "redeem":
        return redeem(member, shop, spend, id=f"r{n}")
    if kind == "settle":
        held = state.balance(shop)
        return settle(shop, "community", min(minutes, held) if held > 0 else minutes, id=f"s{n}")
    moving = [
        e
        for e in entries
        if e.kind in (EntryKind.EARN, EntryKind.REDEEM, EntryKind.SETTLE, EntryKind.TRANSFER)
        and remaining_minutes(state, e.seq)[0] > 0
    ]
    if not moving:
        return earn("org-1", member, minutes, id=f"e{n}")
    original = moving[(a * 7 + b) % len(moving)]
    posting = original.draft.postings[0]
    left = remaining_minutes(state, original.seq)[0]  # an entry may be corrected in parts
    amount = min(minutes, left, max(state.balance(posting.payee), 1))
    reverse = Posting(posting.payee, posting.payer, amount)
    return correct(original.seq, postings=(reverse,), id=f"c{n}")


def held_at_the_end_of(entries: list[Entry], last_month: str) -> int:
    """Members' and shops' balances after every entry up to ``last_month``, replayed anew."""
    balances: dict[str, int] = {}
    types = {spec.id: spec.type.value for spec in OPENING}
    for entry in entries:
        if entry.time[:7] > last_month:
            break
        for posting in entry.draft.postings:
            balances[posting.payer] = balances.get(posting.payer, 0) - posting.amount_minutes
            balances[posting.payee] = balances.get(posting.payee, 0) + posting.amount_minutes
    return sum(v for k, v in balances.items() if types[k] in ("member", "shop"))


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(STEP, min_size=1, max_size=60),
    period=st.sampled_from(["2025-10", "2025-11", "2025-12", "2026-01", "2025-Q4", "2026"]),
)
def test_every_statement_reconciles_to_the_sum_of_member_and_shop_balances(
    steps: list[tuple[str, int, int, int, int]], period: str
) -> None:
    entries = a_journal(steps)
    the_period = Period.parse(period)

    statement = compute_statement(entries, COMMUNITY, the_period, ORIGIN, len(entries), ROOT)

    c = statement.circulation
    assert c.reconciles, c
    assert c.end_minutes == held_at_the_end_of(entries, the_period.last_month)
    assert c.start_minutes == held_at_the_end_of(entries, month_before(the_period.first_month))
