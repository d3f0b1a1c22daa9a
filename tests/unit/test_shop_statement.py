"""A shop's statement: hand-computed figures on a scripted history, and months that chain.

The scripted history of shop-1, in minutes:

    2026-10  member-1 pays 60 (code:111111)                       end: 60
    2026-11  member-2 pays 40 (card:crd-1); refund 10 of October's
             payment; settle 80                                   end: 60 + 40 - 10 - 80 = 10
    2026-12  the settlement corrected by 20; member-1 pays 15    end: 10 + 20 + 15 = 45
"""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, datetime

import pytest

from ledger.audit.csv_cells import FORMULA_STARTS
from ledger.audit.shop_statement import (
    CSV_COLUMNS,
    REDEMPTION,
    REFUND,
    SETTLEMENT,
    SETTLEMENT_CORRECTION,
    CheckpointRef,
    ShopStatement,
    build_shop_statement,
    month_net_minutes,
    row_kind,
    to_csv,
)
from ledger.memory import MemoryStore
from ledger.model import Entry
from ledger.note import generate_signer
from ledger.service import Ledger
from tests.support.builders import (
    COMMUNITY,
    HOST,
    a_clock,
    a_neighbourhood,
    accepted,
    correct,
    earn,
    redeem,
    settle,
)

SHOP = "shop-1"
NAMES = {"member-1": "Fatima", "member-2": "Henk", "community": "Oost"}


def at(month: str, day: int = 10) -> datetime:
    return datetime(int(month[:4]), int(month[5:]), day, 12, tzinfo=UTC)


async def shop_history() -> tuple[list[Entry], int]:
    """The shop's entries newest first, and its balance after them."""
    store = MemoryStore()
    clock = a_clock(at("2026-09", 15))
    ledger = Ledger(store, generate_signer(HOST), HOST, clock)
    await accepted(ledger, *a_neighbourhood(members=2))
    await accepted(ledger, earn("org-1", "member-1", 300), earn("org-1", "member-2", 300))
    clock.set(at("2026-10"))
    (october,) = await accepted(ledger, redeem("member-1", SHOP, 60, reference="code:111111"))
    clock.set(at("2026-11"))
    await accepted(ledger, redeem("member-2", SHOP, 40, reference="card:crd-1"))
    clock.set(at("2026-11", 20))
    _, settled = await accepted(ledger, correct(october, 10), settle(SHOP, "community", 80))
    clock.set(at("2026-12", 2))
    await accepted(ledger, correct(settled, 20), redeem("member-1", SHOP, 15))
    entries = await store.account_entries(COMMUNITY, SHOP, None, 500)
    shop = await store.account(COMMUNITY, SHOP)
    assert shop is not None
    return entries, shop.balance_minutes


def checkpoint(size: int) -> CheckpointRef:
    return CheckpointRef(f"{HOST}/{COMMUNITY}", size, "AAAA", f"{HOST}/{COMMUNITY}\n{size}\n")


def statement_of(
    entries: list[Entry],
    balance: int,
    period: str,
    size: int | None = None,
    *,
    names: dict[str, str] | None = None,
    with_originals: bool = True,
) -> ShopStatement:
    """The statement for ``period`` as at ``size`` (all entries by default)."""
    return build_shop_statement(
        shop=SHOP,
        shop_name="Slagerij",
        period=period,
        checkpoint=checkpoint(entries[0].seq + 1 if size is None else size),
        balance_minutes=balance,
        entries=entries,
        names=NAMES if names is None else names,
        originals={e.seq: e for e in entries} if with_originals else {},
    )


async def test_a_month_lists_payments_refunds_and_settlements_from_the_shops_side() -> None:
    entries, balance = await shop_history()

    november = statement_of(entries, balance, "2026-11")

    assert [(r.kind, r.amount_minutes, r.name, r.reference) for r in november.rows] == [
        (REDEMPTION, 40, "Henk", "card:crd-1"),
        (REFUND, -10, "Fatima", "code:111111"),  # the reference of the payment it refunds
        (SETTLEMENT, -80, "Oost", ""),
    ]
    assert (november.opening_balance_minutes, november.closing_balance_minutes) == (60, 10)
    assert [(t.kind, t.count, t.amount_minutes) for t in november.totals] == [
        (REDEMPTION, 1, 40),
        (REFUND, 1, -10),
        (SETTLEMENT, 1, -80),
        (SETTLEMENT_CORRECTION, 0, 0),
    ]
    assert november.net_minutes == -50


async def test_months_chain_and_each_adds_up_to_its_change_in_balance() -> None:
    entries, balance = await shop_history()

    months = [
        statement_of(entries, balance, m) for m in ("2026-09", "2026-10", "2026-11", "2026-12")
    ]

    assert [(s.opening_balance_minutes, s.closing_balance_minutes) for s in months] == [
        (0, 0),
        (0, 60),
        (60, 10),
        (10, 45),
    ]
    for earlier, later in itertools.pairwise(months):
        assert earlier.closing_balance_minutes == later.opening_balance_minutes
    december = months[-1]
    assert [r.kind for r in december.rows] == [SETTLEMENT_CORRECTION, REDEMPTION]
    assert [r.amount_minutes for r in december.rows] == [20, 15]


async def test_a_statement_shows_only_what_its_checkpoint_covers() -> None:
    entries, balance = await shop_history()
    settlement = next(e for e in entries if row_kind(e, SHOP) == SETTLEMENT)

    before_settling = statement_of(entries, balance, "2026-11", size=settlement.seq)

    assert [r.kind for r in before_settling.rows] == [REDEMPTION, REFUND]
    assert before_settling.closing_balance_minutes == 90
    assert before_settling.checkpoint.size == settlement.seq


async def test_a_refunds_reference_is_left_empty_when_its_payment_is_not_at_hand() -> None:
    entries, balance = await shop_history()

    november = statement_of(entries, balance, "2026-11", names={}, with_originals=False)

    refund = november.rows[1]
    assert (refund.kind, refund.reference, refund.name) == (REFUND, "", "")
    assert refund.corrects_seq is not None


async def test_a_shops_month_is_its_payments_net_of_refunds() -> None:
    entries, _ = await shop_history()

    assert month_net_minutes(entries, SHOP, "2026-12") == 15
    assert month_net_minutes(entries, SHOP, "2026-11") == 40 - 10
    assert month_net_minutes(entries, SHOP, "2027-01") == 0


async def test_the_csv_has_a_record_per_row_total_and_balance_and_runs_no_formulas() -> None:
    entries, balance = await shop_history()
    names = {**NAMES, "member-2": '=HYPERLINK("http://evil")'}
    november = statement_of(entries, balance, "2026-11", names=names)

    text = to_csv(november, "nl")

    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r[0] for r in rows[1:]] == [
        "opening_balance", "entry", "entry", "entry",
        "total", "total", "total", "total", "closing_balance", "checkpoint",
    ]  # fmt: skip
    assert rows[2][3:6] == [REDEMPTION, "40", "40 minuten"]
    assert rows[2][7] == '\'=HYPERLINK("http://evil")'
    assert rows[4][4:6] == ["-80", "\N{MINUS SIGN}1 uur en 20 minuten"]
    assert rows[-1][1] == str(entries[0].seq + 1) and rows[-1][6] == november.checkpoint.note
    # Each entry's id (what a refund names) and, for a refund, the payment's seq.
    by_seq = {row.seq: row for row in november.rows}
    for cells in rows[2:5]:
        row = by_seq[int(cells[1])]
        assert cells[8] == row.entry_id
        assert cells[9] == ("" if row.corrects_seq is None else str(row.corrects_seq))
    assert any(cells[9] for cells in rows[2:5]), "the month has a refund naming its payment"


@pytest.mark.parametrize("start", FORMULA_STARTS)
async def test_the_csv_writes_names_a_spreadsheet_would_run_as_text(start: str) -> None:
    entries, balance = await shop_history()
    formula = f"{start}SUM(1+1)*cmd|' /C calc'!A0"
    names = {**NAMES, "member-1": formula, "community": "Oost - Gemeente"}
    november = statement_of(entries, balance, "2026-11", names=names)

    rows = list(csv.DictReader(io.StringIO(to_csv(november, "nl"))))

    lines = [r for r in rows if r["record"] == "entry"]
    assert [(r["kind"], r["amount_minutes"], r["reference"], r["name"]) for r in lines] == [
        (REDEMPTION, "40", "card:crd-1", "Henk"),
        (REFUND, "-10", "code:111111", "'" + formula),
        (SETTLEMENT, "-80", "", "Oost - Gemeente"),
    ]
    # One row a record: a carriage return in a name starts no row of its own.
    assert [r["record"] for r in rows] == [
        "opening_balance", "entry", "entry", "entry",
        "total", "total", "total", "total", "closing_balance", "checkpoint",
    ]  # fmt: skip
