"""Group commit: one writer per community gathers waiting drafts and commits them together.

A caller's ``append`` puts its draft on the writer's queue and waits. The writer
takes everything that is waiting (up to ``BATCH_SIZE_MAX``), loads what those
drafts need in one transaction, checks and assembles them in order, signs a
checkpoint over the new tree head, writes it all and commits. Only then does any
caller in the batch get its entry: an acknowledged entry is durable. A batch
closes as soon as the writer is free, so a lone request waits for one commit,
not for a timer.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from ledger import limits
from ledger.batch import Accepted, Assembly, BatchProofs, Outcome, assemble, needs_of, seal
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.clock import Clock, format_time
from ledger.model import Draft, Entry, Rejected
from ledger.note import NoteSigner
from ledger.receipt import Receipt
from ledger.shape import check_shape
from ledger.state import LedgerState
from ledger.store import Head, Loaded, Needs, Store, StoredCheckpoint

log = logging.getLogger(__name__)


class LedgerUnavailable(RuntimeError):
    """The draft's batch could not be committed; nothing from it was acknowledged."""


class LedgerBusy(RuntimeError):
    """Too many drafts are waiting; the caller should retry shortly."""


@dataclass(frozen=True, slots=True)
class Appended:
    """A draft that is in the journal, durable, with what proves it.

    ``checkpoint`` and ``nodes`` are absent for a retry of an entry committed in
    an earlier batch; its receipt then comes from the store (``Ledger.receipt``).
    """

    accepted: Accepted
    checkpoint: StoredCheckpoint | None
    proofs: BatchProofs | None

    @property
    def entry(self) -> Entry:
        return self.accepted.entry

    def receipt(self) -> Receipt | None:
        if self.checkpoint is None or self.proofs is None:
            return None
        seq = self.accepted.entry.seq
        proof = tuple(self.proofs.inclusion_proof(seq))
        return Receipt(index=seq, proof=proof, checkpoint_note=self.checkpoint.note)


Result = Appended | Rejected


@dataclass(slots=True)
class _StateCache:
    """The state this writer left behind at the head it last committed.

    Balances, settings and month counters change only together with the
    journal, so while the journal's head is still the one this writer wrote
    (no other process appended since), what it holds is current and the next
    batch need not load it again. Memory is bounded by the number of accounts.
    """

    size: int
    last_leaf: bytes
    month: str
    state: LedgerState
    monthly_known: frozenset[tuple[str, str]]

    @classmethod
    def after(
        cls, head: Head, assembly: Assembly, state: LedgerState, known: frozenset[tuple[str, str]]
    ) -> _StateCache:
        entries = assembly.write.entries
        last_leaf = entries[-1].leaf if entries else head.last_leaf
        month = entries[-1].month if entries else ""
        state.originals = {}
        state.corrected = set()
        return cls(assembly.frontier.size, last_leaf, month, state, known)

    def holds(self, head: Head, month: str) -> bool:
        return (self.size, self.last_leaf, self.month) == (head.size, head.last_leaf, month)

    def missing(self, needs: Needs) -> Needs:
        return Needs(
            account_ids=needs.account_ids - self.state.accounts.keys(),
            monthly_keys=needs.monthly_keys - self.monthly_known,
            corrected_seqs=needs.corrected_seqs,
            entry_ids=needs.entry_ids,
        )

    def merge_into(self, loaded: Loaded) -> None:
        fresh = loaded.state
        self.state.accounts.update(fresh.accounts)
        self.state.monthly.update(fresh.monthly)
        self.state.originals = fresh.originals
        self.state.corrected = fresh.corrected
        self.state.settings = fresh.settings
        self.state.community_account = fresh.community_account
        loaded.state = self.state


@dataclass(slots=True)
class _Waiting:
    draft: Draft
    future: asyncio.Future[Result]


class Writer:
    """The single writer of one community's journal within this process."""

    def __init__(
        self, store: Store, community: str, signer: NoteSigner, origin: str, clock: Clock
    ) -> None:
        self._store = store
        self._community = community
        self._signer = signer
        self._origin = origin
        self._clock = clock
        self._queue: asyncio.Queue[_Waiting] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._broken: BaseException | None = None
        self._cache: _StateCache | None = None

    async def append(self, draft: Draft) -> Result:
        """Append ``draft`` durably, or say why not. Retries with the same id are safe."""
        rejected = check_shape(draft)
        if rejected is not None:
            return rejected
        if self._broken is not None:
            raise LedgerUnavailable("the writer stopped after an internal error") from self._broken
        if self._queue.qsize() >= limits.QUEUE_LENGTH_MAX:
            raise LedgerBusy("too many waiting drafts")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Waiting(draft, future))
        return await future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < limits.BATCH_SIZE_MAX and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                results = await self._commit([w.draft for w in batch])
            except AssertionError as exc:
                # An invariant broke: stop writing rather than sign something wrong.
                log.critical("ledger writer for %s stopped: %r", self._community, exc)
                self._broken = exc
                self._fail(batch, exc)
                self._fail_waiting(exc)
                return
            except Exception as exc:  # noqa: BLE001 - the callers get it, the writer goes on
                log.exception("batch for %s failed", self._community)
                self._fail(batch, exc)
                continue
            for waiting, result in zip(batch, results, strict=True):
                if not waiting.future.done():
                    waiting.future.set_result(result)

    def _fail(self, batch: list[_Waiting], exc: BaseException) -> None:
        for waiting in batch:
            if not waiting.future.done():
                error = LedgerUnavailable(f"the batch could not be committed: {exc!r}")
                error.__cause__ = exc
                waiting.future.set_exception(error)

    def _fail_waiting(self, exc: BaseException) -> None:
        while not self._queue.empty():
            self._fail([self._queue.get_nowait()], exc)

    async def _commit(self, drafts: list[Draft]) -> list[Result]:
        async with self._store.batch(self._community) as tx:
            head = await tx.head()
            # Never sign a tree that does not extend the last signed one.
            last = head.checkpoint
            assert last is None or (last.size, last.root) == (head.size, head.frontier.root()), (
                "the stored tree does not match the last signed checkpoint"
            )
            time = max(format_time(self._clock.now()), head.last_time)
            needs = needs_of(drafts, time[:7])
            cache, self._cache = self._cache, None  # void until this batch commits
            if cache is not None and not cache.holds(head, time[:7]):
                cache = None
            loaded = await tx.load(needs if cache is None else cache.missing(needs))
            if cache is not None:
                cache.merge_into(loaded)
            loaded.state.size = head.size
            assembly = assemble(self._community, head, loaded, drafts, time)
            checkpoint = self._sign(assembly) if assembly.write.entries else None
            if checkpoint is not None:
                seal(assembly, checkpoint)
            await tx.write(assembly.write)
        known = needs.monthly_keys | (cache.monthly_known if cache is not None else frozenset())
        self._cache = _StateCache.after(head, assembly, loaded.state, known)
        return [self._result(o, assembly, checkpoint, head.size) for o in assembly.outcomes]

    def _sign(self, assembly: Assembly) -> StoredCheckpoint:
        size = assembly.frontier.size
        root = assembly.frontier.root()
        note = sign_checkpoint(Checkpoint(self._origin, size, root), self._signer)
        return StoredCheckpoint(size=size, root=root, note=note)

    @staticmethod
    def _result(
        outcome: Outcome, assembly: Assembly, checkpoint: StoredCheckpoint | None, first_seq: int
    ) -> Result:
        if isinstance(outcome, Rejected):
            return outcome
        if outcome.entry.seq < first_seq:
            return Appended(accepted=outcome, checkpoint=None, proofs=None)
        return Appended(accepted=outcome, checkpoint=checkpoint, proofs=assembly.proofs)
