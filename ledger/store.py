"""What the ledger needs from storage: the contract every store implements.

A store holds many communities' journals. Writes happen only inside
``Store.batch(community)``: one transaction that, on PostgreSQL, also holds a
per-community lock, so several processes can append to the same journal without
a fork, a gap or a double spend. Reads outside a batch see committed state.

Two implementations pass the same contract suite: ``ledger.memory.MemoryStore``
(a fake for unit tests) and ``ledger.sql.store.SqlStore`` (SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

from ledger.merkle import Frontier, Node, consistency_proof_nodes, hash_of_nodes
from ledger.model import AccountSpec, Entry, Rejected, Settings
from ledger.state import LedgerState


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str


@dataclass(frozen=True, slots=True)
class Head:
    """The end of a journal: its size, last leaf hash and time, tree frontier, and newest
    checkpoint, which may cover fewer entries than the head holds (ledger.cadence).

    ``signed_proof`` is the consistency proof from the checkpoint's tree to the
    head's, as a store reads it with the head; None where nobody read it (a head
    the writer made by appending to one that was checked).
    """

    size: int
    last_leaf: bytes
    last_time: str
    frontier: Frontier
    checkpoint: StoredCheckpoint | None
    signed_proof: tuple[bytes, ...] | None = None


def signed_proof_nodes(checkpoint: StoredCheckpoint | None, size: int) -> list[list[Node]]:
    """The node groups of the consistency proof from ``checkpoint``'s tree to ``size``."""
    if checkpoint is None or not 0 < checkpoint.size < size:
        return []
    return consistency_proof_nodes(checkpoint.size, size)


def proof_from(groups: list[list[Node]], found: Mapping[Node, bytes]) -> tuple[bytes, ...]:
    """The proof hashes of ``groups`` (``signed_proof_nodes``); a missing node is a defect."""
    assert all(n in found for group in groups for n in group), "a Merkle node is missing"
    return tuple(hash_of_nodes([found[n] for n in group]) for group in groups)


@dataclass(frozen=True, slots=True)
class Needs:
    """What a batch of drafts must see of the ledger's state to be checked."""

    account_ids: frozenset[str]
    monthly_keys: frozenset[tuple[str, str]]
    # Entries that drafts correct: each is loaded with what the corrections of
    # it at seqs below ``corrections_before`` (all of them when None) reversed.
    corrected_seqs: frozenset[int]
    entry_ids: frozenset[str]
    corrections_before: int | None = None
    # Drafts' keys (``Draft.key``): each is looked up for the id it maps to.
    entry_keys: frozenset[str] = frozenset()


@dataclass(slots=True)
class Loaded:
    state: LedgerState
    existing: dict[str, Entry]
    failed: dict[str, tuple[Rejected, bytes]]  # id -> (rejection, canonical draft bytes)
    # key -> the id it maps to, for the keys asked for that are known; the ids'
    # entries and rejections are in ``existing`` and ``failed``.
    keyed: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class BatchWrite:
    """Everything one group commit changes, written in one transaction."""

    entries: list[Entry] = field(default_factory=list)
    nodes: list[bytes] = field(default_factory=list)  # per entry: subtree hashes it completes
    new_accounts: list[AccountSpec] = field(default_factory=list)
    changed_accounts: list[AccountSpec] = field(default_factory=list)
    balances: dict[str, int] = field(default_factory=dict)  # account -> new balance
    monthly: dict[tuple[str, str], int] = field(default_factory=dict)  # -> new total
    settings: Settings | None = None
    rejections: list[tuple[Rejected, bytes]] = field(default_factory=list)
    # New keys: (key, the id it maps to, the batch's time), for entries and rejections.
    keys: list[tuple[str, str, str]] = field(default_factory=list)
    checkpoint: StoredCheckpoint | None = None


@dataclass(frozen=True, slots=True)
class AccountRow:
    spec: AccountSpec
    balance_minutes: int


class Refused(Exception):
    """The store refused new entries of a batch (``ids``, their drafts' ids): a
    condition another layer keeps beside the journal (``SqlStore.also_write``)
    did not hold for them in the batch's transaction. Nothing of the batch was
    written; without those entries it may be."""

    def __init__(self, ids: Collection[str], message: str = "") -> None:
        super().__init__(message or f"refused: {sorted(ids)}")
        self.ids = frozenset(ids)


class BatchTx(Protocol):
    async def head(self) -> Head: ...

    async def load(self, needs: Needs) -> Loaded: ...

    async def write(self, batch: BatchWrite) -> None:
        """Write ``batch`` in this transaction; may raise ``Refused``."""
        ...


class Store(Protocol):
    def batch(self, community: str) -> AbstractAsyncContextManager[BatchTx]:
        """A write transaction holding the community's lock."""
        ...

    def reader(self, community: str) -> AbstractAsyncContextManager[BatchTx]:
        """A read-only view with the same ``head`` and ``load``; ``write`` is not allowed."""
        ...

    async def head(self, community: str) -> Head: ...

    async def load(self, community: str, needs: Needs) -> Loaded:
        """What ``needs`` asks for, read in one consistent view."""
        ...

    async def write_if_tip(
        self,
        community: str,
        tip: tuple[int, bytes],
        batch: BatchWrite,
        new_ids: Collection[str] = (),
        new_keys: Collection[str] = (),
    ) -> bool:
        """Write ``batch`` in one transaction if the journal's (size, last leaf) is still
        ``tip``, none of ``new_ids`` is an entry's id or a remembered rejection's and
        none of ``new_keys`` is a known key; otherwise write nothing and return False.
        Raises ``Refused``, writing nothing, when the store refuses entries of it."""
        ...

    async def forget_keys(self, community: str, made_before: str) -> int:
        """Forget the keys mapped before the entry time ``made_before`` (at most
        ``limits.KEY_PRUNE_BATCH_MAX`` of them); how many were forgotten."""
        ...

    async def communities(self) -> list[str]: ...

    async def entry_by_id(self, community: str, entry_id: str) -> Entry | None: ...

    async def entry_by_key(self, community: str, key: str) -> Entry | None:
        """The entry a draft's ``key`` maps to, if the key is known and names an entry
        (not a rejection)."""
        ...

    async def entries(self, community: str, start: int, end: int) -> list[Entry]:
        """Entries with start <= seq < end, in order (at most ENTRY_RANGE_MAX)."""
        ...

    async def raw_entries(self, community: str, start: int, end: int) -> list[bytes]:
        """The exact stored bytes of entries with start <= seq < end (at most ENTRY_RANGE_MAX)."""
        ...

    async def account_entries(
        self, community: str, account_id: str, before_seq: int | None, limit: int
    ) -> list[Entry]:
        """Newest first: entries that open the account, set its budget or move its minutes."""
        ...

    async def account(self, community: str, account_id: str) -> AccountRow | None: ...

    async def accounts(self, community: str) -> list[AccountRow]: ...

    async def snapshot(self, community: str) -> tuple[Head, list[AccountRow]]:
        """The head and every account, as one consistent state (for export and audit)."""
        ...

    async def settings(self, community: str) -> Settings: ...

    async def monthly_total(self, community: str, account_id: str, month: str) -> int: ...

    async def nodes(
        self, community: str, coordinates: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], bytes]:
        """Merkle node hashes by (level, index), for complete subtrees below the head."""
        ...

    async def checkpoints(
        self, community: str, after_size: int, limit: int
    ) -> list[StoredCheckpoint]: ...

    async def checkpoint_at(self, community: str, size: int) -> StoredCheckpoint | None: ...

    async def close(self) -> None: ...
