"""An in-memory store: the fake that passes the same contract suite as the SQL store.

It keeps whole journals in lists, so it is for tests and simulations only. A
batch copies nothing: ``write`` applies the batch at once, and a batch that
raises before ``write`` leaves no trace, which is all the writer relies on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace

from ledger import limits
from ledger.canonical import ZERO_HASH
from ledger.merkle import Frontier, node_home
from ledger.model import AccountType, Entry, Rejected, Settings
from ledger.rules import note_reversal
from ledger.state import AccountState, LedgerState
from ledger.store import (
    AccountRow,
    BatchWrite,
    Head,
    Loaded,
    Needs,
    StoredCheckpoint,
    proof_from,
    signed_proof_nodes,
)


@dataclass(slots=True)
class _Journal:
    entries: list[Entry] = field(default_factory=list)
    nodes: list[bytes] = field(default_factory=list)
    by_id: dict[str, Entry] = field(default_factory=dict)
    accounts: dict[str, AccountRow] = field(default_factory=dict)
    monthly: dict[tuple[str, str], int] = field(default_factory=dict)
    settings: Settings = field(default_factory=Settings)
    community_account: str | None = None
    # seq of a corrected entry -> seqs of its corrections, as the SQL store's index.
    corrections: dict[int, list[int]] = field(default_factory=dict)
    rejections: dict[str, tuple[Rejected, bytes]] = field(default_factory=dict)
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (id, time)
    checkpoints: list[StoredCheckpoint] = field(default_factory=list)
    frontier: Frontier = field(default_factory=Frontier.empty)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class _MemoryTx:
    def __init__(self, journal: _Journal, writable: bool = True) -> None:
        self._j = journal
        self._writable = writable

    async def head(self) -> Head:
        return _head(self._j)

    async def load(self, needs: Needs) -> Loaded:
        j = self._j
        state = LedgerState(settings=j.settings, community_account=j.community_account)
        for account_id in needs.account_ids:
            row = j.accounts.get(account_id)
            if row is not None:
                state.accounts[account_id] = AccountState(row.spec, row.balance_minutes)
        for key in needs.monthly_keys:
            if key in j.monthly:
                state.monthly[key] = j.monthly[key]
        before = len(j.entries) if needs.corrections_before is None else needs.corrections_before
        for seq in needs.corrected_seqs:
            if seq < len(j.entries):
                state.originals[seq] = j.entries[seq]
                for correction in j.corrections.get(seq, ()):
                    if correction < before:
                        note_reversal(state, j.entries[correction].draft)
        state.size = len(j.entries)
        keyed = {k: j.keys[k][0] for k in needs.entry_keys if k in j.keys}
        ids = needs.entry_ids | frozenset(keyed.values())
        existing = {i: j.by_id[i] for i in ids if i in j.by_id}
        failed = {i: j.rejections[i] for i in ids if i in j.rejections}
        return Loaded(state=state, existing=existing, failed=failed, keyed=keyed)

    async def write(self, batch: BatchWrite) -> None:
        assert self._writable, "a reader cannot write"
        j = self._j
        for entry, nodes in zip(batch.entries, batch.nodes, strict=True):
            assert entry.seq == len(j.entries), "gapless"
            assert entry.id not in j.by_id, "unique id"
            j.entries.append(entry)
            j.nodes.append(nodes)
            j.by_id[entry.id] = entry
            j.frontier.append(entry.leaf)
            if entry.draft.corrects is not None:
                j.corrections.setdefault(entry.draft.corrects, []).append(entry.seq)
        for spec in batch.new_accounts:
            j.accounts[spec.id] = AccountRow(spec, 0)
            if spec.type is AccountType.COMMUNITY:
                j.community_account = spec.id
        for spec in batch.changed_accounts:
            j.accounts[spec.id] = replace(j.accounts[spec.id], spec=spec)
        for account_id, balance in batch.balances.items():
            j.accounts[account_id] = replace(j.accounts[account_id], balance_minutes=balance)
        j.monthly.update(batch.monthly)
        if batch.settings is not None:
            j.settings = batch.settings
        for rejected, fingerprint in batch.rejections:
            j.rejections.setdefault(rejected.id, (rejected, fingerprint))
        for key, entry_id, time in batch.keys:
            assert key not in j.keys, "a batch maps only keys it checked"
            j.keys[key] = (entry_id, time)
        if batch.checkpoint is not None:
            assert batch.checkpoint.size == len(j.entries)
            j.checkpoints.append(batch.checkpoint)


def _head(j: _Journal) -> Head:
    last = j.entries[-1] if j.entries else None
    checkpoint = j.checkpoints[-1] if j.checkpoints else None
    groups = signed_proof_nodes(checkpoint, len(j.entries))
    return Head(
        size=len(j.entries),
        last_leaf=last.leaf if last else ZERO_HASH,
        last_time=last.time if last else "",
        frontier=j.frontier.copy(),
        checkpoint=checkpoint,
        signed_proof=proof_from(groups, _nodes(j, [n for group in groups for n in group])),
    )


def _nodes(j: _Journal, coordinates: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    found: dict[tuple[int, int], bytes] = {}
    for level, index in coordinates:
        if level == 0:
            if index < len(j.entries):
                found[(level, index)] = j.entries[index].leaf
            continue
        seq, slot = node_home(level, index)
        if seq < len(j.nodes) and len(j.nodes[seq]) >= 32 * (slot + 1):
            found[(level, index)] = j.nodes[seq][32 * slot : 32 * (slot + 1)]
    return found


class MemoryStore:
    def __init__(self) -> None:
        self._journals: dict[str, _Journal] = {}

    def _journal(self, community: str) -> _Journal:
        return self._journals.setdefault(community, _Journal())

    @asynccontextmanager
    async def batch(self, community: str) -> AsyncIterator[_MemoryTx]:
        journal = self._journal(community)
        async with journal.lock:
            yield _MemoryTx(journal)

    @asynccontextmanager
    async def reader(self, community: str) -> AsyncIterator[_MemoryTx]:
        yield _MemoryTx(self._journal(community), writable=False)

    async def head(self, community: str) -> Head:
        return _head(self._journal(community))

    async def load(self, community: str, needs: Needs) -> Loaded:
        return await _MemoryTx(self._journal(community), writable=False).load(needs)

    async def write_if_tip(
        self,
        community: str,
        tip: tuple[int, bytes],
        batch: BatchWrite,
        new_ids: Collection[str] = (),
        new_keys: Collection[str] = (),
    ) -> bool:
        journal = self._journal(community)
        async with journal.lock:
            last = journal.entries[-1].leaf if journal.entries else ZERO_HASH
            if (len(journal.entries), last) != tip:
                return False
            if any(i in journal.by_id or i in journal.rejections for i in new_ids):
                return False
            if any(k in journal.keys for k in new_keys):
                return False
            await _MemoryTx(journal).write(batch)
            return True

    async def forget_keys(self, community: str, made_before: str) -> int:
        journal = self._journal(community)
        async with journal.lock:
            old = sorted((t, k) for k, (_, t) in journal.keys.items() if t < made_before)
            for _, key in old[: limits.KEY_PRUNE_BATCH_MAX]:
                del journal.keys[key]
            return min(len(old), limits.KEY_PRUNE_BATCH_MAX)

    async def communities(self) -> list[str]:
        return sorted(c for c, j in self._journals.items() if j.entries)

    async def entry_by_id(self, community: str, entry_id: str) -> Entry | None:
        return self._journal(community).by_id.get(entry_id)

    async def entry_by_key(self, community: str, key: str) -> Entry | None:
        journal = self._journal(community)
        mapped = journal.keys.get(key)
        return None if mapped is None else journal.by_id.get(mapped[0])

    async def entries(self, community: str, start: int, end: int) -> list[Entry]:
        end = min(end, start + limits.ENTRY_RANGE_MAX)
        return self._journal(community).entries[max(start, 0) : max(end, 0)]

    async def raw_entries(self, community: str, start: int, end: int) -> list[bytes]:
        return [e.data for e in await self.entries(community, start, end)]

    async def account_entries(
        self, community: str, account_id: str, before_seq: int | None, limit: int
    ) -> list[Entry]:
        limit = max(1, min(limit, limits.PAGE_SIZE_MAX))  # as the SQL store pages
        found: list[Entry] = []
        entries = self._journal(community).entries
        top = len(entries) if before_seq is None else min(before_seq, len(entries))
        for entry in reversed(entries[:top]):
            draft = entry.draft
            # As the SQL store's to_account column: opened, budgeted, or paying or paid.
            if (
                (draft.account is not None and draft.account.id == account_id)
                or (draft.budget is not None and draft.budget.organisation == account_id)
                or any(account_id in (p.payer, p.payee) for p in draft.postings)
            ):
                found.append(entry)
                if len(found) >= limit:
                    break
        return found

    async def account(self, community: str, account_id: str) -> AccountRow | None:
        return self._journal(community).accounts.get(account_id)

    async def accounts(self, community: str) -> list[AccountRow]:
        return sorted(self._journal(community).accounts.values(), key=lambda r: r.spec.id)

    async def snapshot(self, community: str) -> tuple[Head, list[AccountRow]]:
        return await self.head(community), await self.accounts(community)

    async def settings(self, community: str) -> Settings:
        return self._journal(community).settings

    async def monthly_total(self, community: str, account_id: str, month: str) -> int:
        return self._journal(community).monthly.get((account_id, month), 0)

    async def nodes(
        self, community: str, coordinates: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], bytes]:
        return _nodes(self._journal(community), coordinates)

    async def checkpoints(
        self, community: str, after_size: int, limit: int
    ) -> list[StoredCheckpoint]:
        chosen = [c for c in self._journal(community).checkpoints if c.size > after_size]
        return chosen[:limit]

    async def checkpoint_at(self, community: str, size: int) -> StoredCheckpoint | None:
        for checkpoint in self._journal(community).checkpoints:
            if checkpoint.size == size:
                return checkpoint
        return None

    async def close(self) -> None:
        return None
