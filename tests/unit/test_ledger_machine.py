"""A stateful test: random earns, transfers, redemptions, settlements, corrections and retries.

Hypothesis drives a real ``Ledger`` over the ``MemoryStore`` and a model written
here, independently of ``ledger.rules``, from the documented order of checks.
After every step: the ledger and the model agreed on every outcome, balances sum
to zero, no floor is breached, the journal is gapless and chained, and replaying
the journal's bytes from an empty state gives exactly the balances and month
counters the store holds.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import timedelta

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ledger import limits
from ledger.canonical import ZERO_HASH, decode_entry
from ledger.memory import MemoryStore
from ledger.model import (
    CORRECTABLE_KINDS,
    AccountType,
    Draft,
    EntryKind,
    Posting,
    Rejected,
    Rejection,
)
from ledger.rules import apply, check_state
from ledger.state import LedgerState
from tests.support.builders import (
    COMMUNITY,
    a_clock,
    a_community_account,
    a_ledger,
    a_member,
    a_shop,
    accepted,
    an_organisation,
    configure,
    correct,
    earn,
    open_account,
    redeem,
    set_budget,
    settle,
    transfer,
)

MEMBERS = ("member-1", "member-2", "member-3")
SHOPS = ("shop-1", "shop-2")
ORGS = ("org-1", "org-2")
ACCOUNTS = (*MEMBERS, *SHOPS, *ORGS, "community", "ghost")  # ghost is never opened
FLOORS = {"member-3": 30}
BUDGETS = {"org-1": 1_200, "org-2": 300}
accounts = st.sampled_from(ACCOUNTS)
# Mostly drafts that can succeed, often enough ones that must not.
amounts = st.integers(-20, 240).map(
    lambda n: {-20: 0, -19: -1, -18: limits.TRANSFER_MINUTES_MAX + 1}.get(n, abs(n) or 1)
)


def mostly(likely: tuple[str, ...]) -> st.SearchStrategy[str]:
    """One of ``likely`` most of the time, else any account (maybe of the wrong type)."""
    return st.sampled_from(likely * (12 // len(likely)) + ACCOUNTS)


POSTING_TYPES = {
    EntryKind.EARN: (AccountType.ORGANISATION, AccountType.MEMBER),
    EntryKind.TRANSFER: (AccountType.MEMBER, AccountType.MEMBER),
    EntryKind.REDEEM: (AccountType.MEMBER, AccountType.SHOP),
    EntryKind.SETTLE: (AccountType.SHOP, AccountType.COMMUNITY),
}


@dataclass
class ModelEntry:
    kind: EntryKind
    postings: tuple[Posting, ...]
    reversed_minutes: int = 0  # what corrections so far reversed of the one posting


@dataclass
class Model:
    """The ledger as this test understands it from the documentation."""

    types: dict[str, AccountType] = field(default_factory=dict)
    balances: dict[str, int] = field(default_factory=dict)
    budgets: dict[str, int] = field(default_factory=dict)
    monthly: dict[tuple[str, str], int] = field(default_factory=dict)
    members_may_transfer: bool = True
    cap: int | None = None
    journal: list[ModelEntry] = field(default_factory=list)
    # id -> (draft, seq it was accepted at or the state rejection it got)
    decided: dict[str, tuple[Draft, int | Rejection]] = field(default_factory=dict)

    def floor(self, account: str) -> int | None:
        if self.types[account] is AccountType.ORGANISATION:
            return None
        return FLOORS.get(account, 0)

    def expect(self, draft: Draft, month: str) -> str | int:
        """The seq the draft will be accepted at, ``"retried:<seq>"``, or a rejection code."""
        for posting in draft.postings:
            if posting.amount_minutes <= 0:
                return Rejection.AMOUNT_MUST_BE_POSITIVE.value
        for posting in draft.postings:
            if posting.amount_minutes > limits.TRANSFER_MINUTES_MAX:
                return Rejection.AMOUNT_EXCEEDS_MAXIMUM.value
        for posting in draft.postings:
            if posting.payer == posting.payee:
                return Rejection.PAYER_MUST_DIFFER_FROM_PAYEE.value
        if draft.id in self.decided:
            first, outcome = self.decided[draft.id]
            if isinstance(outcome, Rejection):
                return outcome.value if first == draft else Rejection.ID_ALREADY_FAILED.value
            if first == draft:
                return f"retried:{outcome}"
            assert first.postings[0].amount_minutes != draft.postings[0].amount_minutes
            return Rejection.EXISTS_WITH_DIFFERENT_AMOUNT.value
        code = self._state_code(draft, month)
        return len(self.journal) if code is None else code.value

    def _state_code(self, draft: Draft, month: str) -> Rejection | None:
        if draft.kind is EntryKind.CONFIGURE:
            return None
        if draft.kind is EntryKind.BUDGET:
            assert draft.budget is not None
            is_org = self.types.get(draft.budget.organisation) is AccountType.ORGANISATION
            return None if is_org else Rejection.ORGANISATION_NOT_FOUND
        posting = draft.postings[0]
        if draft.kind is EntryKind.CORRECT:
            code = self._correction_code(draft)
            if code is not None:
                return code
        else:
            code = self._parties_code(draft.kind, posting)
            if code is not None:
                return code
        if draft.kind is EntryKind.EARN:
            issued = self.monthly.get((posting.payer, month), 0)
            if issued + posting.amount_minutes > self.budgets[posting.payer]:
                return Rejection.EXCEEDS_MONTHLY_BUDGET
            earned = self.monthly.get((posting.payee, month), 0)
            if self.cap is not None and earned + posting.amount_minutes > self.cap:
                return Rejection.EXCEEDS_MONTHLY_EARNING_CAP
        floor = self.floor(posting.payer)
        if floor is not None and self.balances[posting.payer] - posting.amount_minutes < floor:
            return Rejection.EXCEEDS_BALANCE
        return None

    def _parties_code(self, kind: EntryKind, posting: Posting) -> Rejection | None:
        if posting.payer not in self.types:
            return Rejection.PAYER_NOT_FOUND
        if posting.payee not in self.types:
            return Rejection.PAYEE_NOT_FOUND
        payer_type, payee_type = POSTING_TYPES[kind]
        if self.types[posting.payer] is not payer_type:
            return Rejection.PAYER_TYPE_NOT_ALLOWED
        if self.types[posting.payee] is not payee_type:
            return Rejection.PAYEE_TYPE_NOT_ALLOWED
        if kind is EntryKind.TRANSFER and not self.members_may_transfer:
            return Rejection.TRANSFERS_BETWEEN_MEMBERS_DISABLED
        return None

    def _correction_code(self, draft: Draft) -> Rejection | None:
        assert draft.corrects is not None
        if draft.corrects >= len(self.journal):
            return Rejection.CORRECTED_ENTRY_NOT_FOUND
        original = self.journal[draft.corrects]
        if original.kind not in CORRECTABLE_KINDS:
            return Rejection.CORRECTED_ENTRY_NOT_CORRECTABLE
        mine, theirs = draft.postings[0], original.postings[0]
        remaining = theirs.amount_minutes - original.reversed_minutes
        if remaining <= 0:
            return Rejection.ALREADY_CORRECTED
        if (mine.payer, mine.payee) != (theirs.payee, theirs.payer):
            return Rejection.CORRECTION_DOES_NOT_MATCH_ORIGINAL
        if mine.amount_minutes > remaining:
            return Rejection.CORRECTION_EXCEEDS_ORIGINAL
        return None

    def record(self, draft: Draft, outcome: str | int, month: str) -> None:
        if isinstance(outcome, int):
            self._apply(draft, month)
            self.decided[draft.id] = (draft, outcome)
        elif outcome in _STATE_CODES and draft.id not in self.decided:
            self.decided[draft.id] = (draft, Rejection(outcome))

    def _apply(self, draft: Draft, month: str) -> None:
        kind = draft.kind
        self.journal.append(ModelEntry(kind, draft.postings))
        if kind is EntryKind.OPEN:
            assert draft.account is not None
            self.types[draft.account.id] = draft.account.type
            self.balances[draft.account.id] = 0
            if draft.account.budget_minutes_per_month is not None:
                self.budgets[draft.account.id] = draft.account.budget_minutes_per_month
        elif kind is EntryKind.CONFIGURE:
            assert draft.settings is not None
            self.members_may_transfer = draft.settings.members_may_transfer
            self.cap = draft.settings.member_earning_cap_minutes_per_month
        elif kind is EntryKind.BUDGET:
            assert draft.budget is not None
            self.budgets[draft.budget.organisation] = draft.budget.budget_minutes_per_month
        for posting in draft.postings:
            self.balances[posting.payer] -= posting.amount_minutes
            self.balances[posting.payee] += posting.amount_minutes
        direction = 1 if kind is EntryKind.EARN else 0
        if kind is EntryKind.CORRECT:
            assert draft.corrects is not None
            original = self.journal[draft.corrects]
            original.reversed_minutes += draft.postings[0].amount_minutes
            direction = -1 if original.kind is EntryKind.EARN else 0
        for posting in draft.postings:
            for account in (posting.payer, posting.payee):
                key = (account, month)
                self.monthly[key] = self.monthly.get(key, 0) + direction * posting.amount_minutes


_STATE_CODES = {
    r.value for r in list(Rejection)[list(Rejection).index(Rejection.ACCOUNT_ALREADY_EXISTS) :]
}


def replay(entries_data: list[bytes]) -> LedgerState:
    """The state the journal's bytes lead to from nothing, under the same rules."""
    state = LedgerState()
    previous = ZERO_HASH
    for seq, data in enumerate(entries_data):
        entry = decode_entry(data)
        assert entry.seq == seq, "the journal has a gap"
        assert entry.prev == previous, f"entry {seq} is not chained to its predecessor"
        if entry.draft.corrects is not None and entry.draft.corrects < seq:
            state.originals[entry.draft.corrects] = decode_entry(entries_data[entry.draft.corrects])
        rejected = check_state(state, entry.draft, entry.month)
        assert rejected is None, f"replaying entry {seq} is rejected: {rejected}"
        apply(state, entry)
        previous = entry.leaf
    return state


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.store = MemoryStore()
        self.clock = a_clock()
        self.ledger = a_ledger(self.store, clock=self.clock)
        self.model = Model()
        self.sent: list[Draft] = []
        opens = [open_account(a_community_account())]
        opens += [
            open_account(an_organisation(o, budget_minutes_per_month=b)) for o, b in BUDGETS.items()
        ]
        opens += [open_account(a_member(m, floor_minutes=FLOORS.get(m, 0))) for m in MEMBERS]
        opens += [open_account(a_shop(s)) for s in SHOPS]
        # Members start with some credit (an account opened with a floor above
        # zero starts below it, so this also lifts member-3 above its floor).
        opens += [earn("org-1", m, 90) for m in MEMBERS]
        self.loop.run_until_complete(accepted(self.ledger, *opens))
        for draft in opens:
            self.model.record(draft, len(self.model.journal), self.month)

    @property
    def month(self) -> str:
        return self.clock.now().strftime("%Y-%m")

    def teardown(self) -> None:
        self.loop.run_until_complete(self.ledger.close())
        self.loop.close()

    def send(self, draft: Draft) -> None:
        expected = self.model.expect(draft, self.month)
        result = self.loop.run_until_complete(self.ledger.append(COMMUNITY, draft))
        if isinstance(result, Rejected):
            actual: str | int = result.code.value
        elif result.accepted.retried:
            actual = f"retried:{result.entry.seq}"
        else:
            actual = result.entry.seq
        assert actual == expected, f"{draft}: ledger says {actual}, model says {expected}"
        event(
            f"{draft.kind.value}: {'accepted' if isinstance(actual, int) else actual.split(':')[0]}"
        )
        self.model.record(draft, actual, self.month)
        self.sent.append(draft)
        self.clock.advance(seconds=1)

    # Entries.

    @rule(org=mostly(ORGS), member=mostly(MEMBERS), minutes=amounts)
    def earn(self, org: str, member: str, minutes: int) -> None:
        self.send(earn(org, member, minutes))

    @rule(payer=mostly(MEMBERS), payee=mostly(MEMBERS), minutes=amounts)
    def transfer(self, payer: str, payee: str, minutes: int) -> None:
        self.send(transfer(payer, payee, minutes, actor="member-1"))

    @rule(member=mostly(MEMBERS), shop=mostly(SHOPS), minutes=amounts)
    def redeem(self, member: str, shop: str, minutes: int) -> None:
        self.send(redeem(member, shop, minutes, actor="member-1"))

    @rule(shop=mostly(SHOPS), minutes=amounts)
    def settle(self, shop: str, minutes: int) -> None:
        self.send(settle(shop, "community", minutes))

    @rule(data=st.data())
    def correct(self, data: st.DataObject) -> None:
        size = len(self.model.journal)
        journal = self.model.journal
        moving = [seq for seq, e in enumerate(journal) if e.postings]
        reversed_in_full = [
            seq
            for seq in moving
            if journal[seq].reversed_minutes >= journal[seq].postings[0].amount_minutes
        ]
        open_to_correction = sorted(set(moving) - set(reversed_in_full))
        choice = data.draw(st.integers(0, 9))
        if open_to_correction and choice > 1:
            seq = data.draw(st.sampled_from(open_to_correction))
        elif reversed_in_full and choice == 1:
            seq = data.draw(st.sampled_from(reversed_in_full))
        else:
            seq = data.draw(st.integers(0, size))  # size itself does not exist yet
        original = self.model.journal[seq] if seq < size else None
        if original is not None and original.postings and data.draw(st.integers(0, 4)) > 0:
            theirs = original.postings[0]
            # Often a part of what remains, so that several corrections add up;
            # sometimes one minute more than remains.
            remaining = max(theirs.amount_minutes - original.reversed_minutes, 0)
            minutes = data.draw(st.integers(1, remaining + 1))
            if original.reversed_minutes:
                event("correct: of an entry corrected in part before")
            posting = Posting(theirs.payee, theirs.payer, minutes)
            if data.draw(st.integers(0, 9)) == 0:
                posting = Posting(theirs.payer, theirs.payee, minutes)  # the wrong way round
        else:
            posting = Posting(data.draw(accounts), data.draw(accounts), data.draw(amounts))
        self.send(correct(seq, postings=(posting,)))

    @rule(
        members_may_transfer=st.sampled_from([True, True, False]),
        cap=st.sampled_from([None, None, 150, 300]),
    )
    def configure(self, members_may_transfer: bool, cap: int | None) -> None:
        self.send(
            configure(
                members_may_transfer=members_may_transfer, member_earning_cap_minutes_per_month=cap
            )
        )

    @rule(org=mostly(ORGS), budget=st.integers(0, 900))
    def budget(self, org: str, budget: int) -> None:
        self.send(set_budget(org, budget))

    # Retries.

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def retry_the_same(self, data: st.DataObject) -> None:
        self.send(data.draw(st.sampled_from(self.sent)))

    @precondition(lambda self: any(d.postings for d in self.sent))
    @rule(data=st.data())
    def retry_with_another_amount(self, data: st.DataObject) -> None:
        draft = data.draw(st.sampled_from([d for d in self.sent if d.postings]))
        posting = draft.postings[0]
        self.send(
            replace(draft, postings=(replace(posting, amount_minutes=posting.amount_minutes + 1),))
        )

    @rule()
    def next_month(self) -> None:
        now = self.clock.now()
        self.clock.set((now.replace(day=1) + timedelta(days=32)).replace(day=1))

    # Invariants.

    def stored(self) -> tuple[list[bytes], dict[str, int]]:
        async def read() -> tuple[list[bytes], dict[str, int]]:
            head = await self.store.head(COMMUNITY)
            data = []
            for start in range(0, head.size, limits.ENTRY_RANGE_MAX):
                data += await self.store.raw_entries(COMMUNITY, start, head.size)
            rows = await self.store.accounts(COMMUNITY)
            return data, {r.spec.id: r.balance_minutes for r in rows}

        return self.loop.run_until_complete(read())

    @invariant()
    def balances_sum_to_zero_and_match_the_model(self) -> None:
        _, balances = self.stored()
        assert sum(balances.values()) == 0
        assert balances == self.model.balances

    @invariant()
    def no_floor_is_breached(self) -> None:
        _, balances = self.stored()
        for account, balance in balances.items():
            floor = self.model.floor(account)
            assert floor is None or balance >= floor, f"{account} is at {balance}, below {floor}"

    @invariant()
    def replaying_the_journal_gives_the_stored_balances_and_month_counters(self) -> None:
        data, balances = self.stored()
        state = replay(data)
        assert {a: s.balance_minutes for a, s in state.accounts.items()} == balances
        for (account, month), minutes in state.monthly.items():
            stored = self.loop.run_until_complete(
                self.store.monthly_total(COMMUNITY, account, month)
            )
            assert stored == minutes, (account, month)
        assert len(data) == len(self.model.journal)


LedgerMachine.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_the_ledger_agrees_with_its_model_under_random_operations = LedgerMachine.TestCase
