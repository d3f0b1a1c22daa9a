"""Statements: what a community's credits did in a period, tied to a signed checkpoint.

A statement is computed in one pass over the journal up to a checkpoint, as an
audit observer (``StatementBuilder.observe`` sees each entry with the state
just before it is applied), so it costs no second read. It holds:

- the circulation and liability statement: what members and shops held at the
  start of the period, what was earned, redeemed, settled and corrected, and
  what they held at the end; the end figure is also taken from the replayed
  balances, and the two must agree (``Circulation.reconciles``);
- per organisation, credits issued against its budget, month by month;
- per shop, credits redeemed, refunded and settled;
- member activity: active, new and dormant members;
- a monthly series (earned, redeemed, outstanding at month end) for charts.

All amounts are integer minutes (60 minutes = 1 credit = 1 hour). Months are
UTC calendar months, ``time[:7]`` of each entry, as in the rules.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ledger import limits
from ledger.audit.csv_cells import CellWriter
from ledger.model import AccountType, Entry, EntryKind
from ledger.state import LedgerState

_PERIOD = re.compile(r"([0-9]{4})(?:-(?:(0[1-9]|1[0-2])|Q([1-4])))?")

MEMBER = AccountType.MEMBER
SHOP = AccountType.SHOP
ORGANISATION = AccountType.ORGANISATION
COMMUNITY = AccountType.COMMUNITY


class PeriodError(ValueError):
    """A period that is not ``YYYY``, ``YYYY-MM`` or ``YYYY-Qn``."""


@dataclass(frozen=True, slots=True)
class Period:
    """A month (``2026-11``), a quarter (``2026-Q4``) or a year (``2026``)."""

    label: str
    first_month: str
    last_month: str

    @classmethod
    def parse(cls, text: str) -> Period:
        match = _PERIOD.fullmatch(text)
        if match is None:
            raise PeriodError(f"{text!r}: use YYYY, YYYY-MM or YYYY-Qn")
        year, month, quarter = match.groups()
        if month is not None:
            return cls(text, f"{year}-{month}", f"{year}-{month}")
        if quarter is not None:
            first = 3 * int(quarter) - 2
            return cls(text, f"{year}-{first:02d}", f"{year}-{first + 2:02d}")
        return cls(text, f"{year}-01", f"{year}-12")

    def __contains__(self, month: object) -> bool:
        return isinstance(month, str) and self.first_month <= month <= self.last_month


def month_after(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"


@dataclass(frozen=True, slots=True)
class Circulation:
    """The circulation and liability statement, in minutes.

    Members: start + earned - earn corrections - redeemed + refunded = end
    (transfers and their corrections move minutes between members only).
    Shops: start + redeemed - refunded - settled + settle corrections = end.
    ``balances_end_minutes`` is the sum of member and shop balances replayed
    from the journal at the end of the period.
    """

    members_start_minutes: int
    shops_start_minutes: int
    earned_minutes: int
    earn_corrected_minutes: int
    transferred_minutes: int
    transfer_corrected_minutes: int
    redeemed_minutes: int
    refunded_minutes: int
    settled_minutes: int
    settle_corrected_minutes: int
    members_end_minutes: int
    shops_end_minutes: int
    balances_end_minutes: int

    @property
    def start_minutes(self) -> int:
        return self.members_start_minutes + self.shops_start_minutes

    @property
    def end_minutes(self) -> int:
        return self.members_end_minutes + self.shops_end_minutes

    @property
    def corrections_minutes(self) -> int:
        """The net effect of corrections on what members and shops hold."""
        return self.settle_corrected_minutes - self.earn_corrected_minutes

    @property
    def members_computed_end_minutes(self) -> int:
        return (
            self.members_start_minutes
            + self.earned_minutes
            - self.earn_corrected_minutes
            - self.redeemed_minutes
            + self.refunded_minutes
        )

    @property
    def shops_computed_end_minutes(self) -> int:
        return (
            self.shops_start_minutes
            + self.redeemed_minutes
            - self.refunded_minutes
            - self.settled_minutes
            + self.settle_corrected_minutes
        )

    @property
    def computed_end_minutes(self) -> int:
        """start + earned - settled +/- corrections (redemptions stay within the total)."""
        return (
            self.start_minutes
            + self.earned_minutes
            - self.settled_minutes
            + self.corrections_minutes
        )

    @property
    def reconciles(self) -> bool:
        return (
            self.members_computed_end_minutes == self.members_end_minutes
            and self.shops_computed_end_minutes == self.shops_end_minutes
            and self.computed_end_minutes == self.end_minutes == self.balances_end_minutes
        )


@dataclass(frozen=True, slots=True)
class OrganisationMonth:
    month: str
    issued_minutes: int  # net of corrections
    budget_minutes: int


@dataclass(frozen=True, slots=True)
class OrganisationLine:
    account: str
    issued_minutes: int
    corrected_minutes: int
    budget_minutes: int  # the monthly budgets of the period's months so far, added up
    months: tuple[OrganisationMonth, ...]

    @property
    def net_issued_minutes(self) -> int:
        return self.issued_minutes - self.corrected_minutes


@dataclass(frozen=True, slots=True)
class ShopLine:
    account: str
    redeemed_minutes: int
    refunded_minutes: int
    settled_minutes: int
    settle_corrected_minutes: int
    balance_end_minutes: int


@dataclass(frozen=True, slots=True)
class MemberActivity:
    members_end: int  # members with an account at the end of the period
    active: int  # paid or were paid in the period
    new: int  # opened in the period
    dormant: int  # opened before the period and not active in it


@dataclass(frozen=True, slots=True)
class MonthPoint:
    month: str
    earned_minutes: int
    redeemed_minutes: int
    outstanding_end_minutes: int  # held by members and shops at the month's end


@dataclass(frozen=True, slots=True)
class Statement:
    community: str
    origin: str
    period: Period
    checkpoint_size: int
    checkpoint_root: str  # base64, exactly as in the signed checkpoint
    as_of: str  # time of the last entry the checkpoint covers ("" if none)
    circulation: Circulation
    organisations: tuple[OrganisationLine, ...]
    shops: tuple[ShopLine, ...]
    members: MemberActivity
    series: tuple[MonthPoint, ...]


@dataclass(slots=True)
class _Flows:
    earned: int = 0
    earn_corrected: int = 0
    transferred: int = 0
    transfer_corrected: int = 0
    redeemed: int = 0
    refunded: int = 0
    settled: int = 0
    settle_corrected: int = 0


@dataclass(slots=True)
class _Org:
    issued: int = 0
    corrected: int = 0
    months: dict[str, list[int]] = field(default_factory=dict)  # month -> [net, budget]


@dataclass(slots=True)
class _Shop:
    redeemed: int = 0
    refunded: int = 0
    settled: int = 0
    settle_corrected: int = 0


class StatementBuilder:
    """Builds a ``Statement`` for ``period`` from a journal streamed through ``observe``."""

    def __init__(self, community: str, period: Period) -> None:
        self.community = community
        self.period = period
        self._month = ""
        self._as_of = ""
        self._held = {MEMBER: 0, SHOP: 0}  # running totals held by members and shops
        self._start: tuple[int, int] | None = None
        self._end: tuple[int, int, int] | None = None  # members, shops, replayed balances
        self._flows = _Flows()
        self._orgs: dict[str, _Org] = {}
        self._shops: dict[str, _Shop] = {}
        self._shop_balances: dict[str, int] = {}
        self._members_end = 0
        self._active: set[str] = set()
        self._new: set[str] = set()
        self._series: dict[str, list[int]] = {}  # month -> [earned, redeemed, outstanding]

    def observe(self, entry: Entry, state: LedgerState) -> None:
        """Account for ``entry``; ``state`` is the ledger just before it is applied."""
        month = entry.time[:7]
        self._advance(month, state)
        self._as_of = entry.time
        draft = entry.draft
        inside = month in self.period
        account = draft.account
        if inside and account is not None and account.type is MEMBER:
            self._new.add(account.id)
        point = self._series[month]
        for posting in draft.postings:
            payer = state.accounts.get(posting.payer)
            payee = state.accounts.get(posting.payee)
            if payer is None or payee is None:
                continue  # an entry the audit names; nothing to count
            amount = posting.amount_minutes
            payer_type, payee_type = payer.spec.type, payee.spec.type
            if payer_type in self._held:
                self._held[payer_type] -= amount
            if payee_type in self._held:
                self._held[payee_type] += amount
            if draft.kind is EntryKind.EARN:
                point[0] += amount
            elif draft.kind is EntryKind.REDEEM:
                point[1] += amount
            if inside:
                self._count(
                    draft.kind, posting.payer, posting.payee, payer_type, payee_type, amount
                )

    def _count(
        self,
        kind: EntryKind,
        payer: str,
        payee: str,
        payer_type: AccountType,
        payee_type: AccountType,
        amount: int,
    ) -> None:
        """Add one posting in the period to the flows, by what it does.

        A correction is recognised by the accounts it moves between, which are
        those of the entry it reverses, so no original needs to be at hand.
        """
        flows = self._flows
        correcting = kind is EntryKind.CORRECT
        for account, account_type in ((payer, payer_type), (payee, payee_type)):
            if account_type is MEMBER:
                self._active.add(account)
        if (payer_type, payee_type) == (ORGANISATION, MEMBER) and not correcting:
            flows.earned += amount
            self._org(payer).issued += amount
        elif (payer_type, payee_type) == (MEMBER, ORGANISATION) and correcting:
            flows.earn_corrected += amount
            self._org(payee).corrected += amount
        elif (payer_type, payee_type) == (MEMBER, MEMBER):
            if correcting:
                flows.transfer_corrected += amount
            else:
                flows.transferred += amount
        elif (payer_type, payee_type) == (MEMBER, SHOP) and not correcting:
            flows.redeemed += amount
            self._shop(payee).redeemed += amount
        elif (payer_type, payee_type) == (SHOP, MEMBER) and correcting:
            flows.refunded += amount
            self._shop(payer).refunded += amount
        elif (payer_type, payee_type) == (SHOP, COMMUNITY) and not correcting:
            flows.settled += amount
            self._shop(payer).settled += amount
        elif (payer_type, payee_type) == (COMMUNITY, SHOP) and correcting:
            flows.settle_corrected += amount
            self._shop(payee).settle_corrected += amount
        if payer_type is ORGANISATION or payee_type is ORGANISATION:
            org = payer if payer_type is ORGANISATION else payee
            sign = -1 if payee_type is ORGANISATION else 1
            self._org(org).months.setdefault(self._month, [0, 0])[0] += sign * amount

    def _org(self, account: str) -> _Org:
        return self._orgs.setdefault(account, _Org())

    def _shop(self, account: str) -> _Shop:
        return self._shops.setdefault(account, _Shop())

    def _advance(self, month: str, state: LedgerState) -> None:
        """Close every month before ``month``; ``state`` is as at their end."""
        if not self._month:
            self._month = month
            if month >= self.period.first_month:
                self._start = (0, 0)  # the journal begins inside or after the period
            if month > self.period.last_month:
                self._close_period(state)
            self._series[month] = [0, 0, 0]
            return
        while self._month < month:
            self._close_month(self._month, state)
            self._month = month_after(self._month)
            self._series[self._month] = [0, 0, 0]
            if len(self._series) > limits.STATEMENT_MONTHS_MAX:
                del self._series[next(iter(self._series))]

    def _close_month(self, month: str, state: LedgerState) -> None:
        self._series[month][2] = self._held[MEMBER] + self._held[SHOP]
        if month in self.period:
            self._close_month_budgets(month, state)
        if month_after(month) == self.period.first_month:
            self._start = (self._held[MEMBER], self._held[SHOP])
        if month == self.period.last_month:
            self._close_period(state)

    def _close_period(self, state: LedgerState) -> None:
        replayed = 0
        members = 0
        for account_id, account in state.accounts.items():
            kind = account.spec.type
            if kind is MEMBER or kind is SHOP:
                replayed += account.balance_minutes
            if kind is MEMBER:
                members += 1
            elif kind is SHOP:
                self._shop_balances[account_id] = account.balance_minutes
                self._shop(account_id)
            elif kind is ORGANISATION:
                self._org(account_id)
        self._members_end = members
        self._end = (self._held[MEMBER], self._held[SHOP], replayed)

    def finish(self, state: LedgerState, origin: str, size: int, root: str) -> Statement:
        """The statement, once every entry up to the checkpoint (size, root) was observed."""
        if self._month:
            self._series[self._month][2] = self._held[MEMBER] + self._held[SHOP]
        if self._start is None:  # the journal ends before the period begins
            self._start = (self._held[MEMBER], self._held[SHOP])
        if self._end is None:  # the period is still running at the checkpoint
            if self._month in self.period:
                self._close_month_budgets(self._month, state)
            self._close_period(state)
        assert self._end is not None
        return self._statement(origin, size, root)

    def _close_month_budgets(self, month: str, state: LedgerState) -> None:
        """Each organisation's budget for ``month``: the one in force at its end."""
        for account_id, account in state.accounts.items():
            if account.spec.type is ORGANISATION:
                budget = account.spec.budget_minutes_per_month or 0
                self._org(account_id).months.setdefault(month, [0, 0])[1] = budget

    def _statement(self, origin: str, size: int, root: str) -> Statement:
        assert self._start is not None and self._end is not None
        flows = self._flows
        circulation = Circulation(
            members_start_minutes=self._start[0],
            shops_start_minutes=self._start[1],
            earned_minutes=flows.earned,
            earn_corrected_minutes=flows.earn_corrected,
            transferred_minutes=flows.transferred,
            transfer_corrected_minutes=flows.transfer_corrected,
            redeemed_minutes=flows.redeemed,
            refunded_minutes=flows.refunded,
            settled_minutes=flows.settled,
            settle_corrected_minutes=flows.settle_corrected,
            members_end_minutes=self._end[0],
            shops_end_minutes=self._end[1],
            balances_end_minutes=self._end[2],
        )
        dormant = self._members_end - len(self._new) - len(self._active - self._new)
        members = MemberActivity(
            members_end=self._members_end,
            active=len(self._active),
            new=len(self._new),
            dormant=max(dormant, 0),
        )
        return Statement(
            community=self.community,
            origin=origin,
            period=self.period,
            checkpoint_size=size,
            checkpoint_root=root,
            as_of=self._as_of,
            circulation=circulation,
            organisations=tuple(self._org_lines()),
            shops=tuple(self._shop_lines()),
            members=members,
            series=tuple(self._points()),
        )

    def _org_lines(self) -> Iterable[OrganisationLine]:
        for account in sorted(self._orgs):
            org = self._orgs[account]
            months = tuple(
                OrganisationMonth(month, net, budget)
                for month, (net, budget) in sorted(org.months.items())
                if month in self.period
            )
            yield OrganisationLine(
                account=account,
                issued_minutes=org.issued,
                corrected_minutes=org.corrected,
                budget_minutes=sum(m.budget_minutes for m in months),
                months=months,
            )

    def _shop_lines(self) -> Iterable[ShopLine]:
        for account in sorted(self._shops):
            shop = self._shops[account]
            yield ShopLine(
                account=account,
                redeemed_minutes=shop.redeemed,
                refunded_minutes=shop.refunded,
                settled_minutes=shop.settled,
                settle_corrected_minutes=shop.settle_corrected,
                balance_end_minutes=self._shop_balances.get(account, 0),
            )

    def _points(self) -> Iterable[MonthPoint]:
        for month, (earned, redeemed, outstanding) in self._series.items():
            if month <= self.period.last_month:
                yield MonthPoint(month, earned, redeemed, outstanding)


def to_json(statement: Statement) -> dict[str, Any]:
    """The statement as a JSON object: every figure in minutes, plus the checks."""
    document = asdict(statement)
    circulation = statement.circulation
    document["circulation"].update(
        start_minutes=circulation.start_minutes,
        end_minutes=circulation.end_minutes,
        corrections_minutes=circulation.corrections_minutes,
        computed_end_minutes=circulation.computed_end_minutes,
        reconciles=circulation.reconciles,
    )
    for line, org in zip(document["organisations"], statement.organisations, strict=True):
        line["net_issued_minutes"] = org.net_issued_minutes
    return document


def to_csv(statement: Statement, names: Mapping[str, str] | None = None) -> str:
    """The statement as CSV rows: section, item, month, figure, minutes; with ``names``
    (by account id), a ``name`` column after ``item`` names each organisation and shop.
    Text that would start a spreadsheet formula gets a leading apostrophe (``csv_cells``)."""
    buffer = io.StringIO()
    out = CellWriter(buffer)

    def row(section: str, item: str, *figure: object) -> None:
        if names is None:
            out.writerow((section, item, *figure))
            return
        named = section in ("organisation", "shop")
        out.writerow((section, item, names.get(item, "") if named else "", *figure))

    if names is None:
        out.writerow(("section", "item", "month", "figure", "minutes"))
    else:
        out.writerow(("section", "item", "name", "month", "figure", "minutes"))
    row("checkpoint", statement.origin, "", "size", statement.checkpoint_size)
    row("checkpoint", statement.origin, "", "root", statement.checkpoint_root)
    row("period", statement.period.label, "", "as_of", statement.as_of)
    circulation = to_json(statement)["circulation"]
    for name, value in circulation.items():
        row("circulation", statement.community, "", name.removesuffix("_minutes"), value)
    for org in statement.organisations:
        for name in ("issued", "corrected", "net_issued", "budget"):
            row("organisation", org.account, "", name, getattr(org, f"{name}_minutes"))
        for month in org.months:
            row("organisation", org.account, month.month, "issued", month.issued_minutes)
            row("organisation", org.account, month.month, "budget", month.budget_minutes)
    for shop in statement.shops:
        for name in ("redeemed", "refunded", "settled", "settle_corrected", "balance_end"):
            row("shop", shop.account, "", name, getattr(shop, f"{name}_minutes"))
    for name in ("members_end", "active", "new", "dormant"):
        row("members", statement.community, "", name, getattr(statement.members, name))
    for point in statement.series:
        row("month", statement.community, point.month, "earned", point.earned_minutes)
        row("month", statement.community, point.month, "redeemed", point.redeemed_minutes)
        row(
            "month",
            statement.community,
            point.month,
            "outstanding_end",
            point.outstanding_end_minutes,
        )
    return buffer.getvalue()
