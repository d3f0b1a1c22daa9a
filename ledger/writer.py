"""Group commit: one writer per community gathers waiting drafts and commits them together.

A caller's ``append`` puts its draft on the writer's queue and waits. The writer
takes everything that is waiting (up to ``BATCH_SIZE_MAX``), checks and
assembles the drafts in order against the ledger's state, signs a checkpoint
over the new tree head when the cadence says one is due (``ledger.cadence``),
and writes it all in one transaction. Only when that transaction has committed
does any caller in the batch get its entry: an acknowledged entry is durable. A
batch closes as soon as the writer is free, so a lone request waits for one
commit, not for a timer.

Entries a batch leaves unsigned are signed by the next batch that is due, or by
a timer once the interval has passed (``sign_head``), or when the writer closes.

Batches are pipelined: while batch N is being written and committed, batch N+1
is assembled on the state N will leave behind (its *basis*). Landing N+1 first
checks, inside its own transaction and lock, that the journal's head is exactly
the one N+1 was assembled on; if not (N failed, or another process appended),
N+1 is assembled again inside a new transaction from what the database says.
So speculation can cost time, never correctness.

Under load every trip to the database waits for the event loop's turn, so a
batch on a basis makes one: a write that checks, under the lock, that the head
is the one it was assembled on and that its drafts' ids are new, and commits
(``Store.write_if_tip``). Only drafts that name an account, a month or an
entry the basis has not seen yet need a read first (``Store.load``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ledger import limits
from ledger.batch import Accepted, Assembly, BatchProofs, Outcome, assemble, needs_of, seal
from ledger.cadence import Cadence
from ledger.checkpoint import Checkpoint, note_origin, sign_checkpoint
from ledger.clock import Clock, format_time
from ledger.merkle import verify_consistency
from ledger.model import Draft, Entry, Rejected
from ledger.note import NoteSigner
from ledger.receipt import Receipt
from ledger.rules import note_reversal
from ledger.shape import check_shape
from ledger.state import LedgerState
from ledger.store import (
    BatchTx,
    BatchWrite,
    Head,
    Loaded,
    Needs,
    Refused,
    Store,
    StoredCheckpoint,
)

log = logging.getLogger(__name__)


class LedgerUnavailable(RuntimeError):
    """The draft's batch could not be committed; nothing from it was acknowledged."""


class LedgerBusy(RuntimeError):
    """Too many drafts are waiting; the caller should retry shortly."""


@dataclass(frozen=True, slots=True)
class Appended:
    """A draft that is in the journal, durable, with what proves it.

    ``checkpoint`` and ``proofs`` are absent for a retry of an entry committed in
    an earlier batch, for an entry of a batch the cadence left unsigned, and for a
    draft another process's writer appended (``ledger.lease``); its receipt then
    comes from the store (``Ledger.receipt``) once a checkpoint covers it.
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


class CommitObserver(Protocol):
    """Told about every batch a writer lands; for metrics, so the core knows no metrics library.

    Called on the event loop, right after the batch's transaction ends: it must
    be quick and must not raise.
    """

    def batch_committed(self, community: str, drafts: int, entries: int, seconds: float) -> None:
        """``drafts`` were answered by one commit that appended ``entries`` (the rest
        were rejections or retries) and took ``seconds``, from the write to the commit."""

    def batch_failed(self, community: str) -> None:
        """A batch could not be committed; its callers were told."""


@dataclass(slots=True)
class _Waiting:
    draft: Draft
    future: asyncio.Future[Result]


@dataclass(slots=True)
class _Basis:
    """The head and state the last assembled batch leaves behind, for the next one.

    Balances, settings and month counters change only together with the
    journal, so while the journal's head is the one this basis expects, what it
    holds is current. ``recent`` holds the last batch's entries and remembered
    rejections, which may not be committed yet when the next batch is assembled.
    Memory is bounded by the number of accounts plus one batch.
    """

    head: Head
    state: LedgerState
    monthly_known: frozenset[tuple[str, str]]
    batch: int  # the number of the batch that leaves this basis behind
    recent: dict[str, Entry]
    recent_rejections: dict[str, tuple[Rejected, bytes]]
    recent_keys: dict[str, str]  # the keys the last batch mapped, to their ids

    def missing(self, needs: Needs) -> Needs:
        return Needs(
            account_ids=needs.account_ids - self.state.accounts.keys(),
            monthly_keys=needs.monthly_keys - self.monthly_known,
            corrected_seqs=frozenset(s for s in needs.corrected_seqs if s < self.first_recent),
            entry_ids=needs.entry_ids - self.recent.keys() - self.recent_rejections.keys(),
            entry_keys=needs.entry_keys - self.recent_keys.keys(),
            # The last batch's corrections are counted from ``recent`` (``merge``),
            # whether or not that batch has committed by the time the store is read.
            corrections_before=self.first_recent,
        )

    @property
    def first_recent(self) -> int:
        return self.head.size - len(self.recent)

    def merge(self, loaded: Loaded, needs: Needs) -> Loaded:
        state = self.state
        state.accounts.update(loaded.state.accounts)
        state.monthly.update(loaded.state.monthly)
        state.originals = dict(loaded.state.originals)
        state.reversed_minutes = dict(loaded.state.reversed_minutes)
        for entry in self.recent.values():  # in seq order: an original before its corrections
            if entry.seq in needs.corrected_seqs:
                state.originals[entry.seq] = entry
            if entry.draft.corrects in needs.corrected_seqs:
                note_reversal(state, entry.draft)
        existing = dict(loaded.existing)
        failed = dict(loaded.failed)
        keyed = dict(loaded.keyed)
        keyed.update((k, self.recent_keys[k]) for k in needs.entry_keys if k in self.recent_keys)
        for entry_id in needs.entry_ids | frozenset(keyed.values()):
            if entry_id in self.recent:
                existing[entry_id] = self.recent[entry_id]
            elif entry_id in self.recent_rejections:
                failed[entry_id] = self.recent_rejections[entry_id]
        return Loaded(state=state, existing=existing, failed=failed, keyed=keyed)


@dataclass(slots=True)
class _Prepared:
    number: int
    on: Head  # the head this batch was assembled on
    on_batch: int | None  # the batch whose basis it was assembled on, if any
    assembly: Assembly
    checkpoint: StoredCheckpoint | None
    after: _Basis
    # Draft ids and keys taken to be new without reading: landing checks them.
    unchecked_ids: frozenset[str] = frozenset()
    unchecked_keys: frozenset[str] = frozenset()
    # Drafts the store refused (``Refused``): left out of the assembly.
    refused: frozenset[str] = frozenset()


# A prepared batch handed to the lander, with the future its write sets.
_Handed = tuple[list[_Waiting], _Prepared, "asyncio.Future[None]"]


class Writer:
    """The single writer of one community's journal within this process."""

    def __init__(
        self,
        store: Store,
        community: str,
        signer: NoteSigner,
        origin: str,
        clock: Clock,
        observer: CommitObserver | None = None,
        cadence: Cadence | None = None,
        on_signed: Callable[[StoredCheckpoint], None] | None = None,
    ) -> None:
        self._store = store
        self._observer = observer
        self._cadence = cadence or Cadence()
        # Told of every checkpoint this writer has committed, on the event loop.
        self._on_signed = on_signed
        self._community = community
        self._signer = signer
        self._origin = origin
        self._clock = clock
        self._queue: asyncio.Queue[_Waiting] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # Prepared batches go to the lander, which writes them one at a time in
        # order; each batch's ``written`` future is set once its write is done.
        self._lander: asyncio.Task[None] | None = None
        self._prepared: asyncio.Queue[_Handed | None] = asyncio.Queue()
        self._broken: BaseException | None = None
        self._resync = False
        self._batches = 0
        # The last batch that landed exactly as assembled: only a basis it left
        # behind may be built on. (A batch of rejections only does not move the
        # head, so the head alone cannot tell that it failed.)
        self._last_exact: int | None = None
        # The cadence: when this writer last decided to sign (monotonic seconds;
        # never at first, so the first batch signs whatever a crash left), the
        # head its last landed batch left and the newest checkpoint it knows.
        self._signed_at = -math.inf
        self._landed_size = 0
        self._signed_size = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timed: asyncio.Task[None] | None = None
        self._sign_lock = asyncio.Lock()

    @property
    def alive(self) -> bool:
        """False once an invariant broke or a task of the writer ended unexpectedly."""
        if self._broken is not None:
            return False
        tasks = (self._task, self._lander)
        return not any(t is not None and t.done() and not t.cancelled() for t in tasks)

    @property
    def waiting(self) -> int:
        """Drafts queued for a batch that has not been taken yet."""
        return self._queue.qsize()

    async def append(self, draft: Draft) -> Result:
        """Append ``draft`` durably, or say why not. Retries with the same id are safe.

        Raises ``Refused`` when the store refused the draft's entry (a condition
        another layer keeps, ``SqlStore.also_write``): nothing of it was written."""
        rejected = check_shape(draft)
        if rejected is not None:
            return rejected
        if self._broken is not None:
            raise LedgerUnavailable("the writer stopped after an internal error") from self._broken
        if self._queue.qsize() >= limits.QUEUE_LENGTH_MAX:
            raise LedgerBusy("too many waiting drafts")
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._task = loop.create_task(self._run())
            self._lander = loop.create_task(self._land_in_order())
        future: asyncio.Future[Result] = loop.create_future()
        self._queue.put_nowait(_Waiting(draft, future))
        return await future

    async def close(self) -> None:
        """Stop taking batches; let a batch that is being written finish; sign the head if
        the cadence left it unsigned."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._lander is not None:
            # Batches already prepared are written; then the lander stops.
            self._prepared.put_nowait(None)  # stop
            with contextlib.suppress(asyncio.CancelledError):
                await self._lander
            self._lander = None
        while not self._queue.empty():  # nobody will take these any more
            self._fail([self._queue.get_nowait()], RuntimeError("the writer was closed"))
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._timed is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._timed
            self._timed = None
        if self._broken is None and self._landed_size > self._signed_size:
            try:
                await self.sign_head()
            except Exception:
                # The next start signs it (``sign_head`` there): nothing is lost.
                log.exception("signing %s's head on close failed", self._community)

    async def sign_head(self) -> StoredCheckpoint | None:
        """Sign the journal's head if no checkpoint covers it yet; the checkpoint signed.

        Reads the head under the community's lock, so a head another process or
        a batch of this writer signed meanwhile is left alone. Used by the
        cadence's timer, on close, and at start for a tail a crash left
        unsigned. The stored tree must extend the last checkpoint's.
        """
        async with self._sign_lock, self._store.batch(self._community) as tx:
            head = await tx.head()
            self._check_extends(head)
            signed = head.checkpoint
            if head.size == 0 or (signed is not None and signed.size >= head.size):
                self._signed_size = max(self._signed_size, head.size)
                return None
            self._signed_at = time.monotonic()
            checkpoint = self._sign(head.size, head.frontier.root(), head)
            await tx.write(BatchWrite(checkpoint=checkpoint))
        self._signed(checkpoint)
        return checkpoint

    def _signed(self, checkpoint: StoredCheckpoint) -> None:
        """A checkpoint of this writer's has committed."""
        self._signed_size = max(self._signed_size, checkpoint.size)
        self._landed_size = max(self._landed_size, checkpoint.size)
        if self._on_signed is not None:
            self._on_signed(checkpoint)

    def _arm(self) -> None:
        """Have the timer sign the head once the interval since the last signature is over."""
        if self._timer is not None or self._timed is not None or self._task is None:
            return
        wait = self._signed_at + self._cadence.interval_seconds - time.monotonic()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(max(wait, 0.0), self._timer_rang)

    def _timer_rang(self) -> None:
        self._timer = None
        if self._landed_size <= self._signed_size or self._task is None:
            return
        if time.monotonic() - self._signed_at < self._cadence.interval_seconds:
            self._arm()  # a batch signed meanwhile
            return
        # Counted as signed now, so that a batch assembled meanwhile does not sign too.
        self._signed_at = time.monotonic()
        self._timed = asyncio.get_running_loop().create_task(self._sign_on_time())

    async def _sign_on_time(self) -> None:
        try:
            await self.sign_head()
        except AssertionError as exc:
            log.critical("ledger writer for %s stopped: %r", self._community, exc)
            self._broken = exc
        except Exception:
            log.exception("signing %s's head on time failed; trying again", self._community)
            self._signed_at = time.monotonic()  # wait an interval before the next try
        finally:
            self._timed = None
        if self._broken is None and self._landed_size > self._signed_size:
            self._arm()

    async def _next_batch(self, landing: asyncio.Future[None] | None) -> list[_Waiting]:
        """The waiting drafts, at least one.

        While the batch before (``landing``) is still being written, the next could
        not be written anyway: it waits a few turns of the event loop before taking
        the queue, so that drafts arriving meanwhile (requests being read, drafts
        that other processes forward) join it instead of making a batch of their own.
        """
        batch = [await self._queue.get()]
        try:
            turns = 0
            while landing is not None and not landing.done() and turns < limits.GATHER_TURNS_MAX:
                await asyncio.sleep(0)
                turns += 1
        except asyncio.CancelledError:  # closing: the draft taken is answered, not dropped
            self._fail(batch, RuntimeError("the writer was closed"))
            raise
        while len(batch) < limits.BATCH_SIZE_MAX and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _run(self) -> None:
        basis: _Basis | None = None
        # The writes of the last batch handed to the lander and of the one before.
        # A batch is assembled while the last one is being written, never before
        # the one before it is done: a basis is at most one uncommitted batch
        # ahead of the store (its ``recent``). Awaited directly, not through a
        # shield, so that this resumes before the landed batch's callers do;
        # cancelling the wait cancels that future only, never the write.
        before_last: asyncio.Future[None] | None = None
        last: asyncio.Future[None] | None = None
        while self._broken is None:
            if before_last is not None and not before_last.done():
                await before_last
            batch = await self._next_batch(last)
            try:
                if self._resync:
                    basis, self._resync = None, False
                try:
                    self._batches += 1
                    drafts = [w.draft for w in batch]
                    prepared = await self._prepare(drafts, basis, self._batches)
                except AssertionError as exc:
                    self._stop(batch, exc)
                    return
                except Exception as exc:
                    log.exception("assembling a batch for %s failed", self._community)
                    self._fail(batch, exc)
                    basis = None
                    continue
                basis = prepared.after
                before_last, last = last, asyncio.get_running_loop().create_future()
                self._prepared.put_nowait((batch, prepared, last))
            except asyncio.CancelledError:
                # Closing, with this batch taken but not yet handed to the lander.
                self._fail(batch, RuntimeError("the writer was closed"))
                raise

    async def _land_in_order(self) -> None:
        """Write prepared batches one at a time, in the order they were assembled.

        A batch's ``written`` is set when its write is done, before its callers
        hear back; the next prepared batch's write starts before they do, so the
        database works on it while they run.
        """
        while True:
            handed = await self._prepared.get()
            if handed is None:
                return
            batch, prepared, written = handed
            if self._broken is not None:  # assembled before an invariant broke
                self._fail(batch, self._broken)
                written.cancel()
                continue
            started = time.perf_counter()
            try:
                landed = await self._land(batch, prepared)
            finally:
                if not written.done():  # cancelled when the writer was closed
                    written.set_result(None)
            self._observe(len(batch), landed, time.perf_counter() - started)
            if landed is not None:
                self._after_landing(landed)
                # After the next prepared batch's write has been handed over.
                asyncio.get_running_loop().call_soon(self._deliver, batch, landed)

    async def _prepare(self, drafts: list[Draft], basis: _Basis | None, number: int) -> _Prepared:
        """Assemble ``drafts`` on ``basis``, or on a fresh read of the store when there is none.

        On a basis, a batch reads only the accounts, months and corrected
        entries the basis has not seen, if any; its drafts' ids are checked
        when it lands.
        """
        if basis is not None:
            time = max(format_time(self._clock.now()), basis.head.last_time)
            if basis.head.last_time[:7] in ("", time[:7]):
                needs = needs_of(drafts, time[:7])
                missing = basis.missing(needs)
                unchecked: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())
                if missing.account_ids or missing.monthly_keys or missing.corrected_seqs:
                    found = await self._store.load(self._community, missing)
                    # A key read as new here may be mapped by another process's
                    # batch of rejections only, which leaves the tip where it was:
                    # the landing checks again under its lock.
                    unchecked = (frozenset(), missing.entry_keys - found.keyed.keys())
                else:
                    # Only the drafts' ids and keys are new to the basis: take them
                    # to be new to the journal too (a retry is rare), and have the
                    # landing check that under its lock instead of reading first.
                    found = Loaded(LedgerState(), {}, {})
                    unchecked = (missing.entry_ids, missing.entry_keys)
                loaded = basis.merge(found, needs)
                known = basis.monthly_known | needs.monthly_keys
                return self._assemble(
                    basis.head, loaded, drafts, time, known, basis.batch, number, *unchecked
                )
            # A new month: the month counters must come from the store.
        async with self._store.reader(self._community) as reader:
            return await self._prepare_fresh(reader, drafts, number)

    async def _prepare_fresh(self, tx: BatchTx, drafts: list[Draft], number: int) -> _Prepared:
        """Assemble ``drafts`` on the head and state that ``tx`` reads."""
        head = await tx.head()
        time = max(format_time(self._clock.now()), head.last_time)
        needs = needs_of(drafts, time[:7])
        loaded = await tx.load(needs)
        return self._assemble(head, loaded, drafts, time, needs.monthly_keys, None, number)

    def _assemble(
        self,
        head: Head,
        loaded: Loaded,
        drafts: list[Draft],
        time: str,
        known: frozenset[tuple[str, str]],
        on_batch: int | None,
        number: int,
        unchecked_ids: frozenset[str] = frozenset(),
        unchecked_keys: frozenset[str] = frozenset(),
    ) -> _Prepared:
        self._check_extends(head)
        loaded.state.size = head.size
        assembly = assemble(self._community, head, loaded, drafts, time)
        checkpoint = None
        if assembly.write.entries and self._due(head, assembly.frontier.size):
            checkpoint = self._sign(assembly.frontier.size, assembly.frontier.root(), head)
            seal(assembly, checkpoint)
        return _Prepared(
            number=number,
            on=head,
            on_batch=on_batch,
            assembly=assembly,
            checkpoint=checkpoint,
            after=self._basis_after(head, assembly, loaded.state, known, checkpoint, number),
            unchecked_ids=unchecked_ids,
            unchecked_keys=unchecked_keys,
        )

    @staticmethod
    def _check_extends(head: Head) -> None:
        """Never sign a tree that does not extend the last signed one: the stored tree is
        the last checkpoint's, or extends it by the proof read with the head."""
        last = head.checkpoint
        if last is None:
            return
        assert last.size <= head.size, "the journal is shorter than its last checkpoint"
        if last.size == head.size:
            assert last.root == head.frontier.root(), (
                "the stored tree does not match the last signed checkpoint"
            )
        elif head.signed_proof is not None:
            assert verify_consistency(
                last.size, head.size, head.signed_proof, last.root, head.frontier.root()
            ), "the stored tree does not extend the last signed checkpoint"

    def _due(self, head: Head, size: int) -> bool:
        """Whether a batch that takes the journal from ``head`` to ``size`` signs it."""
        signed = 0 if head.checkpoint is None else head.checkpoint.size
        due = self._cadence.due(
            time.monotonic() - self._signed_at, size - max(signed, self._signed_size)
        )
        if due:
            self._signed_at = time.monotonic()
        return due

    @staticmethod
    def _basis_after(
        head: Head,
        assembly: Assembly,
        state: LedgerState,
        known: frozenset[tuple[str, str]],
        checkpoint: StoredCheckpoint | None,
        number: int,
    ) -> _Basis:
        entries = assembly.write.entries
        after = head
        if entries:
            after = Head(
                size=assembly.frontier.size,
                last_leaf=entries[-1].leaf,
                last_time=entries[-1].time,
                frontier=assembly.frontier.copy(),
                checkpoint=checkpoint or head.checkpoint,
            )
        return _Basis(
            head=after,
            state=state,
            monthly_known=known,
            batch=number,
            recent={e.id: e for e in entries},
            recent_rejections={r.id: (r, f) for r, f in assembly.write.rejections},
            recent_keys={key: entry_id for key, entry_id, _ in assembly.write.keys},
        )

    async def _land(self, batch: list[_Waiting], prepared: _Prepared) -> _Prepared | None:
        """Write a prepared batch durably, reassembling it if its basis did not hold.

        Returns the batch as written, or None when it failed (its callers are told)."""
        exact = prepared.on_batch in (None, self._last_exact)
        self._last_exact = None
        try:
            refused: frozenset[str] = frozenset()
            tip = (prepared.on.size, prepared.on.last_leaf)
            try:
                written = exact and await self._store.write_if_tip(
                    self._community,
                    tip,
                    prepared.assembly.write,
                    prepared.unchecked_ids,
                    prepared.unchecked_keys,
                )
            except Refused as exc:
                written, refused = False, exc.ids
            if written:
                self._last_exact = prepared.number
            else:
                # The journal moved under this batch (another process, or a
                # batch before it that did not land as assembled), one of
                # its ids or keys was not new after all, or the store refused
                # some of its entries: assemble it again on what is there now,
                # under the lock.
                self._resync = True
                prepared = await self._land_fresh(batch, prepared.number, refused)
        except AssertionError as exc:
            self._stop(batch, exc)
            return None
        except Exception as exc:
            log.exception("batch for %s failed", self._community)
            self._resync = True
            self._fail(batch, exc)
            return None
        return prepared

    async def _land_fresh(
        self, batch: list[_Waiting], number: int, refused: frozenset[str]
    ) -> _Prepared:
        """Assemble and write the batch inside one locked transaction, leaving out the
        drafts the store refuses (each refusal rolls back, and the rest is tried again)."""
        for _ in range(len(batch) + 1):
            drafts = [w.draft for w in batch if w.draft.id not in refused]
            try:
                async with self._store.batch(self._community) as tx:
                    prepared = await self._prepare_fresh(tx, drafts, number)
                    await tx.write(prepared.assembly.write)
            except Refused as exc:
                assert exc.ids and not exc.ids & refused, "a refusal names new drafts"
                refused |= exc.ids
                continue
            prepared.refused = refused
            return prepared
        raise AssertionError("the store refused more drafts than the batch holds")

    def _after_landing(self, landed: _Prepared) -> None:
        self._landed_size = max(self._landed_size, landed.after.head.size)
        if landed.checkpoint is not None:
            self._signed(landed.checkpoint)
        elif self._landed_size > self._signed_size:
            self._arm()

    def _observe(self, drafts: int, landed: _Prepared | None, seconds: float) -> None:
        if self._observer is None:
            return
        if landed is None:
            self._observer.batch_failed(self._community)
        else:
            entries = len(landed.assembly.write.entries)
            self._observer.batch_committed(self._community, drafts, entries, seconds)

    def _deliver(self, batch: list[_Waiting], prepared: _Prepared) -> None:
        first_seq = prepared.on.size
        outcomes = iter(prepared.assembly.outcomes)
        for waiting in batch:
            if waiting.draft.id in prepared.refused:
                if not waiting.future.done():
                    waiting.future.set_exception(Refused({waiting.draft.id}))
                continue
            outcome = next(outcomes)
            if not waiting.future.done():
                waiting.future.set_result(self._result(outcome, prepared, first_seq))
        assert next(outcomes, None) is None, "one outcome for each draft not refused"

    def _stop(self, batch: list[_Waiting], exc: AssertionError) -> None:
        # An invariant broke: stop writing rather than sign something wrong.
        log.critical("ledger writer for %s stopped: %r", self._community, exc)
        self._broken = exc
        self._fail(batch, exc)
        while not self._queue.empty():
            self._fail([self._queue.get_nowait()], exc)

    @staticmethod
    def _fail(batch: list[_Waiting], exc: BaseException) -> None:
        for waiting in batch:
            if not waiting.future.done():
                error = LedgerUnavailable(f"the batch could not be committed: {exc!r}")
                error.__cause__ = exc
                waiting.future.set_exception(error)

    def _sign(self, size: int, root: bytes, head: Head) -> StoredCheckpoint:
        # A journal keeps the origin of its first checkpoint for life, even if
        # the deployment's public address changes: verifiers pin it.
        origin = self._origin if head.checkpoint is None else note_origin(head.checkpoint.note)
        if self._signer.name != origin:  # a log's key is named for its origin (C2SP)
            self._signer = self._signer.named(origin)
        note = sign_checkpoint(Checkpoint(origin, size, root), self._signer)
        return StoredCheckpoint(size=size, root=root, note=note)

    @staticmethod
    def _result(outcome: Outcome, prepared: _Prepared, first_seq: int) -> Result:
        if isinstance(outcome, Rejected):
            return outcome
        if outcome.entry.seq < first_seq:
            return Appended(accepted=outcome, checkpoint=None, proofs=None)
        return Appended(
            accepted=outcome, checkpoint=prepared.checkpoint, proofs=prepared.assembly.proofs
        )
