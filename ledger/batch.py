"""One group commit, as a pure function: drafts + loaded state -> what to write.

The writer loads what a batch needs, calls ``assemble`` without awaiting, and
writes the result in the same transaction. Keeping this step pure makes it
testable without a database and keeps the rules identical for every store.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ledger import limits
from ledger.canonical import canonical_json, draft_object, encode_entry
from ledger.merkle import BatchNodes, Frontier, leaf_hash
from ledger.model import Draft, Entry, EntryKind, Rejected, Rejection
from ledger.rules import admit
from ledger.shape import check_retry, reject
from ledger.state import LedgerState
from ledger.store import BatchWrite, Head, Loaded, Needs, StoredCheckpoint


@dataclass(frozen=True, slots=True)
class Accepted:
    """A draft's outcome when it is (or already was) in the journal."""

    entry: Entry
    retried: bool  # True when the id was already in the journal with this content


Outcome = Accepted | Rejected


class BatchProofs:
    """Inclusion proofs for a batch's new entries, built on the first request.

    Most callers never ask for a receipt in the same breath, so the batch's
    Merkle nodes are only kept if someone does.
    """

    def __init__(self, before: Frontier, leaves: list[bytes]) -> None:
        self._before = before
        self._leaves = leaves
        self._nodes: BatchNodes | None = None

    def inclusion_proof(self, seq: int) -> list[bytes]:
        if self._nodes is None:
            self._nodes = BatchNodes(self._before, self._leaves)
        return self._nodes.inclusion_proof(seq)


@dataclass(slots=True)
class Assembly:
    write: BatchWrite
    outcomes: list[Outcome]
    frontier: Frontier  # after the batch
    proofs: BatchProofs | None = None


def needs_of(drafts: list[Draft], month: str) -> Needs:
    accounts: set[str] = set()
    monthly: set[tuple[str, str]] = set()
    corrected: set[int] = set()
    for draft in drafts:
        for posting in draft.postings:
            accounts.update((posting.payer, posting.payee))
            if draft.kind in (EntryKind.EARN, EntryKind.CORRECT):
                monthly.update(((posting.payer, month), (posting.payee, month)))
        if draft.account is not None:
            accounts.add(draft.account.id)
        if draft.budget is not None:
            accounts.add(draft.budget.organisation)
        if draft.staff is not None:
            accounts.add(draft.staff.organisation)
        if draft.corrects is not None:
            corrected.add(draft.corrects)
    return Needs(
        account_ids=frozenset(accounts),
        monthly_keys=frozenset(monthly),
        corrected_seqs=frozenset(corrected),
        entry_ids=frozenset(d.id for d in drafts),
        entry_keys=frozenset(d.key for d in drafts if d.key is not None),
    )


def draft_fingerprint(draft: Draft) -> bytes:
    return canonical_json(draft_object(draft))


def assemble(
    community: str, head: Head, loaded: Loaded, drafts: list[Draft], time: str
) -> Assembly:
    """Check ``drafts`` in order against ``loaded`` state and build the batch's entries.

    ``time`` must not be earlier than ``head.last_time``.
    """
    assert time >= head.last_time, "entry times never go back"
    state = loaded.state
    assert state.size == head.size
    write = BatchWrite()
    outcomes: list[Outcome] = []
    frontier = head.frontier.copy()
    prev = head.last_leaf
    seen: dict[str, tuple[Draft, Outcome]] = {}
    keyed = dict(loaded.keyed)
    touched: set[str] = set()
    monthly_before = dict(state.monthly)
    balances_before: dict[str, int] = {}  # of the accounts the batch's postings touch
    for draft in drafts:
        draft = _resolve_key(draft, keyed)
        earlier = seen.get(draft.id)
        if earlier is not None:
            outcomes.append(_repeat(draft, earlier))
            continue
        outcome = _known(draft, loaded)
        if outcome is None:
            # Only a fresh decision is what a later draft with this id is held to;
            # one answered from the store is answered from the store again.
            seq = state.size
            data = encode_entry(community, seq, time, draft, prev)
            leaf = leaf_hash(data)
            entry = Entry(community, seq, time, draft, prev, data, leaf)
            _remember_balances(balances_before, state, draft)
            rejected = admit(state, entry)
            if rejected is not None:
                write.rejections.append((rejected, draft_fingerprint(draft)))
                outcome = rejected
            else:
                write.nodes.append(b"".join(frontier.append(leaf)))
                write.entries.append(entry)
                _note_changes(write, touched, entry, state)
                prev = leaf
                outcome = Accepted(entry=entry, retried=False)
            seen[draft.id] = (draft, outcome)
            if draft.key is not None and keyed.get(draft.key) == draft.id:
                write.keys.append((draft.key, draft.id, time))
        outcomes.append(outcome)
    for account_id in touched:
        write.balances[account_id] = state.accounts[account_id].balance_minutes
    _assert_balances_hold(state, balances_before, touched)
    for key, total in state.monthly.items():
        if monthly_before.get(key) != total:
            write.monthly[key] = total
    assembly = Assembly(write=write, outcomes=outcomes, frontier=frontier)
    if write.entries:
        assembly.proofs = BatchProofs(head.frontier, [e.leaf for e in write.entries])
    assert frontier.size == head.size + len(write.entries)
    return assembly


def _remember_balances(before: dict[str, int], state: LedgerState, draft: Draft) -> None:
    """The balances of ``draft``'s accounts as they were before the batch first touched them
    (0 for an account the batch opens)."""
    for posting in draft.postings:
        for account_id in (posting.payer, posting.payee):
            if account_id not in before:
                account = state.accounts.get(account_id)
                before[account_id] = 0 if account is None else account.balance_minutes


def _assert_balances_hold(state: LedgerState, before: dict[str, int], touched: set[str]) -> None:
    """After a batch: its postings moved minutes without making or losing any,
    and every account it touched is within its floor and the balance bounds."""
    moved = 0
    for account_id in touched:
        account = state.accounts[account_id]
        balance = account.balance_minutes
        moved += balance - before.get(account_id, 0)
        floor = account.spec.floor_minutes
        assert floor is None or balance >= floor, f"{account_id} is below its floor"
        assert abs(balance) <= limits.BALANCE_MINUTES_MAX, f"{account_id} is out of bounds"
    assert moved == 0, f"the batch's postings sum to {moved} minutes, not zero"


def _resolve_key(draft: Draft, keyed: dict[str, str]) -> Draft:
    """``draft`` under the id its key maps to, if the key is known; else the key now
    maps to the draft's own id (for the drafts after it)."""
    if draft.key is None:
        return draft
    known = keyed.setdefault(draft.key, draft.id)
    return draft if known == draft.id else replace(draft, id=known)


def seal(assembly: Assembly, checkpoint: StoredCheckpoint) -> None:
    assembly.write.checkpoint = checkpoint


def _repeat(draft: Draft, earlier: tuple[Draft, Outcome]) -> Outcome:
    """A draft whose id was decided earlier in this batch, answered as a later batch would be."""
    first_draft, first_outcome = earlier
    if isinstance(first_outcome, Rejected):
        if draft_fingerprint(draft) == draft_fingerprint(first_draft):
            return first_outcome
        return reject(draft, Rejection.ID_ALREADY_FAILED, first_code=first_outcome.code.value)
    different = check_retry(draft, first_draft)
    return different if different is not None else Accepted(entry=first_outcome.entry, retried=True)


def _known(draft: Draft, loaded: Loaded) -> Outcome | None:
    existing = loaded.existing.get(draft.id)
    if existing is not None:
        different = check_retry(draft, existing.draft)
        return different if different is not None else Accepted(entry=existing, retried=True)
    failed = loaded.failed.get(draft.id)
    if failed is not None:
        rejection, fingerprint = failed
        if fingerprint == draft_fingerprint(draft):
            return rejection
        return reject(draft, Rejection.ID_ALREADY_FAILED, first_code=rejection.code.value)
    return None


def _note_changes(write: BatchWrite, touched: set[str], entry: Entry, state: LedgerState) -> None:
    draft = entry.draft
    for posting in draft.postings:
        touched.add(posting.payer)
        touched.add(posting.payee)
    if draft.account is not None:
        write.new_accounts.append(draft.account)
    if draft.budget is not None:
        write.changed_accounts.append(state.accounts[draft.budget.organisation].spec)
    if draft.settings is not None:
        write.settings = draft.settings
