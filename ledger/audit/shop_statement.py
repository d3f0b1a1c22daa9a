"""A shop's own view of the journal: its monthly statement, and what is left to refund.

Pure functions over entries the caller has read. A shop's minutes move in four
ways, each shown from the shop's side (signed):

- ``redemption``: a member pays the shop (a redeem entry), plus;
- ``refund``: a correction of a redemption, shop back to member, minus;
- ``settlement``: the community retires the shop's credits (a settle entry), minus;
- ``settlement_correction``: a correction of a settlement, plus.

A statement covers one UTC calendar month and is computed from the entries a
signed checkpoint covers (seq < its size), so the same checkpoint always gives
the same statement. Rows name the other party by a display name the caller
supplies (never an account id), and the opening balance plus the rows' totals
is the closing balance, or the statement is not built.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ledger.amounts import format_hours
from ledger.audit.csv_cells import CellWriter
from ledger.model import Entry, EntryKind

REDEMPTION = "redemption"
REFUND = "refund"
SETTLEMENT = "settlement"
SETTLEMENT_CORRECTION = "settlement_correction"
ROW_KINDS = (REDEMPTION, REFUND, SETTLEMENT, SETTLEMENT_CORRECTION)

CSV_COLUMNS = (
    "record", "seq", "time", "kind", "amount_minutes", "amount", "reference", "name",
    "entry_id", "corrects_seq",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CheckpointRef:
    """The signed checkpoint a statement was computed from."""

    origin: str
    size: int
    root_hash: str  # base64, exactly as in the note
    note: str


@dataclass(frozen=True, slots=True)
class ShopRow:
    seq: int
    entry_id: str
    time: str
    kind: str
    amount_minutes: int  # signed, from the shop's side
    reference: str  # the payment's reference (a refund: that of the payment it refunds)
    name: str  # the member's name; for a settlement, the community's
    corrects_seq: int | None = None


@dataclass(frozen=True, slots=True)
class KindTotal:
    kind: str
    count: int
    amount_minutes: int


@dataclass(frozen=True, slots=True)
class ShopStatement:
    shop_name: str
    period: str  # "YYYY-MM", UTC
    opening_balance_minutes: int
    closing_balance_minutes: int
    rows: tuple[ShopRow, ...]  # oldest first
    totals: tuple[KindTotal, ...]  # one per ROW_KINDS, in that order
    checkpoint: CheckpointRef

    @property
    def net_minutes(self) -> int:
        return sum(t.amount_minutes for t in self.totals)


def shop_delta(entry: Entry, shop: str) -> int:
    """How many minutes ``entry`` moved into (+) or out of (-) ``shop``."""
    delta = 0
    for posting in entry.draft.postings:
        if posting.payee == shop:
            delta += posting.amount_minutes
        if posting.payer == shop:
            delta -= posting.amount_minutes
    return delta


def row_kind(entry: Entry, shop: str) -> str | None:
    """The statement's kind for an entry that moves ``shop``'s minutes (None if none)."""
    delta = shop_delta(entry, shop)
    if delta == 0:
        return None
    kind = entry.kind
    if kind is EntryKind.REDEEM:
        return REDEMPTION
    if kind is EntryKind.SETTLE:
        return SETTLEMENT
    # A shop only takes part in redemptions and settlements, so a correction
    # that pays the shop undoes a settlement and one the shop pays undoes a payment.
    assert kind is EntryKind.CORRECT, f"a shop takes no part in {kind.value} entries"
    return SETTLEMENT_CORRECTION if delta > 0 else REFUND


def counterparty(entry: Entry, shop: str) -> str | None:
    """The account on the other side of ``shop`` in ``entry`` (its first posting)."""
    for posting in entry.draft.postings:
        if posting.payee == shop:
            return posting.payer
        if posting.payer == shop:
            return posting.payee
    return None


def build_shop_statement(
    *,
    shop: str,
    shop_name: str,
    period: str,
    checkpoint: CheckpointRef,
    balance_minutes: int,
    entries: Iterable[Entry],
    names: Mapping[str, str],
    originals: Mapping[int, Entry],
) -> ShopStatement:
    """The statement of ``shop`` for ``period`` as at ``checkpoint``.

    ``balance_minutes`` is the shop's balance after ``entries``: the shop's
    entries newest first, from some size at or above the checkpoint's down to
    (at least) the first one below the checkpoint's size and before the period.
    Entries at or beyond the checkpoint's size are undone but not shown.
    ``names`` maps the other parties' account ids to display names;
    ``originals`` maps the seqs of refunded payments to their entries, for the
    refund's reference.
    """
    balance = balance_minutes
    closing: int | None = None
    shown: list[ShopRow] = []
    for entry in entries:
        if entry.seq < checkpoint.size:
            if entry.month < period:
                break
            if entry.month == period:
                if closing is None:  # everything newer is undone: the period's end
                    closing = balance
                row = _row(entry, shop, names, originals)
                if row is not None:
                    shown.append(row)
        balance -= shop_delta(entry, shop)
    rows = tuple(reversed(shown))
    totals = tuple(
        KindTotal(
            kind,
            sum(1 for r in rows if r.kind == kind),
            sum(r.amount_minutes for r in rows if r.kind == kind),
        )
        for kind in ROW_KINDS
    )
    closing = balance if closing is None else closing
    statement = ShopStatement(shop_name, period, balance, closing, rows, totals, checkpoint)
    assert statement.opening_balance_minutes + statement.net_minutes == closing, (
        "a shop's rows add up to its change in balance"
    )
    return statement


def _row(
    entry: Entry, shop: str, names: Mapping[str, str], originals: Mapping[int, Entry]
) -> ShopRow | None:
    kind = row_kind(entry, shop)
    if kind is None:
        return None
    corrects = entry.draft.corrects
    original = None if corrects is None else originals.get(corrects)
    reference = entry.draft.reference if original is None else original.draft.reference
    other = counterparty(entry, shop)
    return ShopRow(
        seq=entry.seq,
        entry_id=entry.id,
        time=entry.time,
        kind=kind,
        amount_minutes=shop_delta(entry, shop),
        reference=reference,
        name="" if other is None else names.get(other, ""),
        corrects_seq=corrects,
    )


def payment_minutes(original: Entry) -> int:
    """What a redemption paid (its one posting)."""
    return original.draft.postings[0].amount_minutes


def month_net_minutes(entries: Iterable[Entry], shop: str, month: str) -> int:
    """Redemptions minus refunds in ``month``, from the shop's entries newest first."""
    net = 0
    for entry in entries:
        if entry.month < month:
            break
        kind = row_kind(entry, shop) if entry.month == month else None
        if kind in (REDEMPTION, REFUND):
            net += shop_delta(entry, shop)
    return net


def to_csv(statement: ShopStatement, language: str) -> str:
    """The statement as one CSV table (columns ``CSV_COLUMNS``), amounts in minutes and words.

    Records: ``opening_balance``; one ``entry`` per row, oldest first; one
    ``total`` per kind; ``closing_balance``; and ``checkpoint``, whose ``seq``
    is the checkpoint's size and whose ``reference`` is the signed note. Text
    that would start a spreadsheet formula gets a leading apostrophe (``csv_cells``).
    """
    out = io.StringIO()
    writer = CellWriter(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)

    def amount(record: str, minutes: int, kind: str = "") -> list[object]:
        return [record, "", "", kind, minutes, format_hours(minutes, language), "", "", "", ""]

    writer.writerow(amount("opening_balance", statement.opening_balance_minutes))
    for row in statement.rows:
        writer.writerow(
            [
                "entry",
                row.seq,
                row.time,
                row.kind,
                row.amount_minutes,
                format_hours(row.amount_minutes, language),
                row.reference,
                row.name,
                row.entry_id,
                "" if row.corrects_seq is None else row.corrects_seq,
            ]
        )
    for total in statement.totals:
        writer.writerow(amount("total", total.amount_minutes, total.kind))
    writer.writerow(amount("closing_balance", statement.closing_balance_minutes))
    checkpoint = statement.checkpoint
    writer.writerow(["checkpoint", checkpoint.size, "", "", "", "", checkpoint.note, "", "", ""])
    return out.getvalue()
