"""The ledger as an async service: one writer per community, proofs and receipts.

This is what the API (and the CLI, and the benchmarks) talk to. It owns the
signing key and the writers; it does no validation of its own beyond what the
writer and the rules do.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Collection, Sequence

from ledger import limits, merkle
from ledger.cadence import Cadence
from ledger.checkpoint import note_origin, origin_for
from ledger.clock import Clock, SystemClock
from ledger.lease import HolderGone, Leases, NoHolder
from ledger.model import Draft
from ledger.note import NoteSigner, NoteVerifier
from ledger.receipt import Receipt
from ledger.rules import remaining_minutes
from ledger.store import Needs, Store, StoredCheckpoint
from ledger.writer import CommitObserver, Result, Writer


class ProofUnavailable(LookupError):
    """The requested proof does not exist (unknown entry, or sizes out of range)."""


class ReceiptPending(ProofUnavailable):
    """The entry is in the journal, but no signed checkpoint covers it yet."""

    def __init__(self, seq: int) -> None:
        super().__init__(f"no checkpoint covers entry {seq} yet")
        self.seq = seq


# How often a wait for a checkpoint looks at the store when this process's
# writer does not say (another process writes, or the reads come from a replica).
_CHECKPOINT_POLL_SECONDS = 0.1


class Ledger:
    def __init__(
        self,
        store: Store,
        signer: NoteSigner,
        host: str,
        clock: Clock | None = None,
        observer: CommitObserver | None = None,
        cadence: Cadence | None = None,
        retired: Sequence[NoteVerifier] = (),
    ) -> None:
        self.store = store
        self.signer = signer
        # The public keys of signing keys used before ``signer`` (after a rotation).
        self.retired = tuple(retired)
        self.host = host
        self.clock = clock or SystemClock()
        self.observer = observer
        self.cadence = cadence or Cadence()
        self._writers: dict[str, Writer] = {}
        # Called with the community each time this process's writer has committed a
        # new checkpoint (api.witnesses asks the witnesses to cosign it).
        self.on_checkpoint: list[Callable[[str], None]] = []
        # Set (and dropped) when a community's next checkpoint commits here.
        self._signatures: dict[str, asyncio.Event] = {}
        # With several processes, who writes each community (None: this process
        # writes every community it is asked to).
        self.leases: Leases | None = None

    @property
    def verifier(self) -> NoteVerifier:
        """The deployment's public key under the signing key file's name."""
        return self.signer.verifier()

    async def log_verifier(self, community: str) -> NoteVerifier:
        """The public key as ``community``'s log signs with it: named for the log's origin.
        Its key string is the one to publish for the community's auditors."""
        return self.verifier.named(await self.origin(community))

    async def log_keys(self, community: str) -> tuple[NoteVerifier, ...]:
        """Every key ``community``'s checkpoints may be signed with: the current one (as
        ``log_verifier``), then the retired ones. What audits open checkpoints with."""
        return (await self.log_verifier(community), *self.retired)

    async def origin(self, community: str) -> str:
        """The journal's origin: that of its first checkpoint, which it keeps for life."""
        checkpoint = await self.checkpoint(community)
        if checkpoint is None:
            return origin_for(self.host, community)
        return note_origin(checkpoint.note)

    def writer(self, community: str) -> Writer:
        writer = self._writers.get(community)
        if writer is None:
            origin = origin_for(self.host, community)
            writer = Writer(
                self.store, community, self.signer, origin, self.clock, self.observer,
                cadence=self.cadence, on_signed=functools.partial(self._signed, community),
            )  # fmt: skip
            self._writers[community] = writer
        return writer

    def _signed(self, community: str, _checkpoint: StoredCheckpoint) -> None:
        event = self._signatures.pop(community, None)
        if event is not None:
            event.set()
        for listener in self.on_checkpoint:
            listener(community)

    async def sign_unsigned(self) -> int:
        """Sign every community's head that no checkpoint covers (a crash's tail, or a
        process that stopped without closing); how many were signed. Run at start."""
        signed = 0
        for community in await self.store.communities():
            signed += await self.writer(community).sign_head() is not None
        return signed

    def writers(self) -> dict[str, Writer]:
        """This process's writers so far, by community (made at a community's first append)."""
        return dict(self._writers)

    async def append(self, community: str, draft: Draft) -> Result:
        """Append ``draft`` durably, or say why not; retries with the same id are safe.

        Written here or by the process holding the community's lease, which the
        caller cannot tell apart."""
        return await self._route(community, draft)

    async def append_here(self, community: str, draft: Draft) -> Result:
        """Append through this process's writer (what a lease's holder runs)."""
        return await self.writer(community).append(draft)

    async def _route(self, community: str, draft: Draft) -> Result:
        leases = self.leases
        if leases is None:
            return await self.writer(community).append(draft)
        for attempt in range(limits.FORWARD_ATTEMPTS_MAX):
            if leases.holds(community) or await leases.acquire(community):
                return await self.writer(community).append(draft)
            try:
                return await leases.forward(community, draft)
            except NoHolder:
                break
            except HolderGone:
                # The holder went away, perhaps with the draft committed: offer it
                # again (its id makes that safe) once the lease has had time to move.
                await asyncio.sleep(limits.FORWARD_RETRY_SECONDS * (attempt + 1))
        # Nobody holds the lease or its holder does not answer: append here. The
        # store's tip check keeps the journal whole; it only costs contention.
        return await self.writer(community).append(draft)

    async def remaining_minutes(
        self, community: str, seqs: Collection[int]
    ) -> dict[int, tuple[int, ...]]:
        """What corrections may still reverse of each posting of each entry of ``seqs``, as
        the writer would judge it now (``rules.remaining_minutes``), read in one go; an
        entry that does not exist is left out. A correction appended meanwhile is still
        caught by the writer."""
        needs = Needs(frozenset(), frozenset(), frozenset(seqs), frozenset())
        state = (await self.store.load(community, needs)).state
        return {seq: remaining_minutes(state, seq) for seq in seqs if seq in state.originals}

    async def checkpoint(self, community: str) -> StoredCheckpoint | None:
        return (await self.store.head(community)).checkpoint

    async def inclusion_proof(self, community: str, seq: int, size: int) -> list[bytes]:
        if not 0 <= seq < size or size > (await self.store.head(community)).size:
            raise ProofUnavailable(f"no entry {seq} in a tree of size {size}")
        return await self._hashes(community, merkle.inclusion_proof_nodes(seq, size))

    async def consistency_proof(self, community: str, old_size: int, new_size: int) -> list[bytes]:
        head_size = (await self.store.head(community)).size
        if not 0 < old_size <= new_size <= head_size:
            raise ProofUnavailable(f"no consistency proof from {old_size} to {new_size}")
        groups = merkle.consistency_proof_nodes(old_size, new_size)
        return await self._hashes(community, groups)

    async def covering_checkpoint(
        self, community: str, size: int, timeout_seconds: float
    ) -> StoredCheckpoint | None:
        """The newest checkpoint once one covers the first ``size`` entries, waiting at most
        ``timeout_seconds`` for it; None if none does by then.

        Many waiters share one checkpoint: the cadence's timer signs the head at
        most an interval after its entries landed. This process's writer wakes
        the waiters as its checkpoint commits; they also look every 100 ms, for
        a checkpoint another process signed.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(timeout_seconds, limits.CHECKPOINT_INTERVAL_SECONDS_MAX)
        while True:
            checkpoint = await self.checkpoint(community)
            if checkpoint is not None and checkpoint.size >= size:
                return checkpoint
            left = deadline - loop.time()
            if left <= 0:
                return None
            signature = self._signatures.setdefault(community, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signature.wait(), min(left, _CHECKPOINT_POLL_SECONDS))

    @property
    def checkpoint_wait_seconds(self) -> float:
        """How long a reader waits for the cadence to sign what it asks about: an
        interval, and a margin for the signing itself."""
        return self.cadence.interval_seconds + limits.CHECKPOINT_WAIT_MARGIN_SECONDS

    async def signed_head(self, community: str) -> StoredCheckpoint | None:
        """The newest checkpoint once one covers every entry the journal holds now,
        waiting at most ``checkpoint_wait_seconds`` for it; else the newest there is.

        For answers computed "as at the newest checkpoint" (statements): what was
        written before the question is in the answer."""
        head = await self.store.head(community)
        if head.size == 0 or (head.checkpoint is not None and head.checkpoint.size >= head.size):
            return head.checkpoint
        covering = await self.covering_checkpoint(
            community, head.size, self.checkpoint_wait_seconds
        )
        return covering if covering is not None else await self.checkpoint(community)

    async def receipt(self, community: str, entry_id: str) -> Receipt:
        """A tlog-proof for the entry against the newest signed checkpoint.

        ``ReceiptPending`` when the entry is there but no checkpoint covers it yet."""
        entry = await self.store.entry_by_id(community, entry_id)
        if entry is None:
            raise ProofUnavailable(f"no entry {entry_id!r}")
        checkpoint = await self.checkpoint(community)
        if checkpoint is None or entry.seq >= checkpoint.size:
            raise ReceiptPending(entry.seq)
        # The checkpoint was read from the head just now: no need to read it again.
        proof = await self._hashes(
            community, merkle.inclusion_proof_nodes(entry.seq, checkpoint.size)
        )
        return Receipt(index=entry.seq, proof=tuple(proof), checkpoint_note=checkpoint.note)

    async def _hashes(self, community: str, groups: list[list[tuple[int, int]]]) -> list[bytes]:
        wanted = sorted({node for group in groups for node in group})
        found = await self.store.nodes(community, wanted)
        assert len(found) == len(wanted), "a Merkle node below the head is missing"
        return [merkle.hash_of_nodes([found[n] for n in group]) for group in groups]

    async def close(self) -> None:
        if self.leases is not None:
            await self.leases.close()  # stop taking drafts before the writers stop
        for writer in self._writers.values():
            await writer.close()
        self._writers.clear()
