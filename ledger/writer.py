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
from ledger.batch import Accepted, Assembly, Outcome, assemble, needs_of, seal
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.clock import Clock, format_time
from ledger.merkle import BatchNodes
from ledger.model import Draft, Entry, Rejected
from ledger.note import NoteSigner
from ledger.receipt import Receipt
from ledger.shape import check_shape
from ledger.store import Store, StoredCheckpoint

log = logging.getLogger(__name__)


class LedgerUnavailable(RuntimeError):
    """The draft's batch could not be committed; nothing from it was acknowledged."""


class LedgerBusy(RuntimeError):
    """Too many drafts are waiting; the caller should retry shortly."""


@dataclass(frozen=True, slots=True)
class Appended:
    """A draft that is in the journal, durable, with what proves it.

    ``checkpoint`` and ``nodes`` are absent for a retry of an entry committed in
    an earlier batch; its receipt then comes from the store.
    """

    accepted: Accepted
    checkpoint: StoredCheckpoint | None
    nodes: BatchNodes | None

    @property
    def entry(self) -> Entry:
        return self.accepted.entry

    def receipt(self) -> Receipt | None:
        if self.checkpoint is None or self.nodes is None:
            return None
        seq = self.accepted.entry.seq
        proof = tuple(self.nodes.inclusion_proof(seq))
        return Receipt(index=seq, proof=proof, checkpoint_note=self.checkpoint.note)


Result = Appended | Rejected


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
        return await asyncio.shield(future)

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
            loaded = await tx.load(needs_of(drafts, time[:7]))
            loaded.state.size = head.size
            assembly = assemble(self._community, head, loaded, drafts, time)
            checkpoint = self._sign(assembly) if assembly.write.entries else None
            if checkpoint is not None:
                seal(assembly, checkpoint)
            await tx.write(assembly.write)
        return [self._result(o, assembly, checkpoint, head.size) for o in assembly.outcomes]

    def _sign(self, assembly: Assembly) -> StoredCheckpoint:
        assert assembly.nodes is not None
        size = assembly.nodes.size
        root = assembly.nodes.root()
        note = sign_checkpoint(Checkpoint(self._origin, size, root), self._signer)
        return StoredCheckpoint(size=size, root=root, note=note)

    @staticmethod
    def _result(
        outcome: Outcome, assembly: Assembly, checkpoint: StoredCheckpoint | None, first_seq: int
    ) -> Result:
        if isinstance(outcome, Rejected):
            return outcome
        if outcome.entry.seq < first_seq:
            return Appended(accepted=outcome, checkpoint=None, nodes=None)
        return Appended(accepted=outcome, checkpoint=checkpoint, nodes=assembly.nodes)
