"""Export a community's journal from a store as a bundle anyone can verify offline.

The bundle ends at the latest signed checkpoint. Its ``balances.json`` holds
the balances at exactly that checkpoint (``balances_at_head``). Entries are
streamed in chunks of ENTRY_RANGE_MAX as their exact stored bytes; the bundle
appears atomically.

It keeps the checkpoints that matter rather than all of them: the head, the
last one of each UTC day (by the time of the last entry it covers), and each
one a witness cosigned, with the witnesses' cosignatures. The entries prove
how each of them extends the one before, so nothing in between is needed.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from ledger import limits
from ledger.audit.bundle import BundleWriter, Manifest
from ledger.audit.findings import b64
from ledger.canonical import decode_entry
from ledger.checkpoint import LogKeys, log_verifiers, open_checkpoint
from ledger.clock import Clock, SystemClock, format_time
from ledger.rules import unwind_balances
from ledger.store import Store, StoredCheckpoint


class ExportError(RuntimeError):
    """The bundle could not be written; nothing was left at the target."""


@dataclass(frozen=True, slots=True)
class Exported:
    directory: Path
    community: str
    origin: str
    size: int
    root: bytes
    checkpoints: int
    accounts: int


async def balances_at_head(store: Store, community: str) -> tuple[StoredCheckpoint, dict[str, int]]:
    """The newest checkpoint and the balances at exactly that checkpoint.

    The store's cache holds the balances at the journal's head, which the
    checkpoint cadence may leave a few entries ahead of the newest checkpoint:
    those entries are undone (``rules.unwind_balances``). The head, the
    checkpoint and the cache come from one snapshot of the store, so appends
    that commit meanwhile cannot pair a checkpoint with balances from another
    moment; the entries undone are immutable once committed.
    """
    head, rows = await store.snapshot(community)
    if head.checkpoint is None:
        if head.size == 0:
            raise ExportError(f"no community {community!r}: its journal has no entries")
        raise ExportError(f"community {community!r} has no signed checkpoint yet")
    balances = {row.spec.id: row.balance_minutes for row in rows}
    end = head.size
    while end > head.checkpoint.size:
        start = max(head.checkpoint.size, end - limits.ENTRY_RANGE_MAX)
        entries = await store.entries(community, start, end)
        if len(entries) != end - start:
            raise ExportError(f"entries {start}..{end - 1} are not all in the store")
        for entry in reversed(entries):
            unwind_balances(balances, entry)
        end = start
    return head.checkpoint, balances


async def export_bundle(
    store: Store,
    community: str,
    directory: str | os.PathLike[str],
    verifier: LogKeys,
    *,
    clock: Clock | None = None,
    cosignatures: Callable[[StoredCheckpoint], Awaitable[str]] | None = None,
    witnessed: Collection[int] = (),
) -> Exported:
    """Write ``community``'s bundle to the new directory ``directory``.

    The head checkpoint must verify with ``verifier``, so a bundle is never
    exported under a key that cannot check it. ``witnessed`` are the sizes of
    the checkpoints witnesses cosigned; ``cosignatures`` gives the witnesses'
    cosignature lines on a checkpoint, added to its note in the bundle.
    """
    head, balances = await balances_at_head(store, community)
    signed = open_checkpoint(head.note, verifier)
    assert (signed.size, signed.root) == (head.size, head.root), "stored checkpoint columns"
    created = format_time((clock or SystemClock()).now())
    with BundleWriter(directory) as writer:
        keeper = _Keeper(writer, frozenset(witnessed), cosignatures)
        checkpoints = _checkpoints(store, community, head.size)
        due = await anext(checkpoints, None)
        start = 0
        while start < head.size:
            end = min(head.size, start + limits.ENTRY_RANGE_MAX)
            chunk = await store.raw_entries(community, start, end)
            if len(chunk) != end - start:
                raise ExportError(f"entries {start}..{end - 1} are not all in the store")
            writer.add_entries(chunk)
            while due is not None and due.size <= end:
                # The day of the last entry the checkpoint covers.
                await keeper.offer(due, decode_entry(chunk[due.size - 1 - start]).time[:10])
                due = await anext(checkpoints, None)
            start = end
        count = await keeper.finish()
        manifest = Manifest(
            community=community,
            origin=signed.origin,
            size=head.size,
            root=b64(head.root),
            created=created,
        )
        writer.commit(
            manifest=manifest,
            head_note=head.note + (await cosignatures(head) if cosignatures else ""),
            verifier_key=log_verifiers(verifier, signed.origin)[0].key_string(),
            balances=balances,
        )
    return Exported(
        directory=Path(directory),
        community=community,
        origin=signed.origin,
        size=head.size,
        root=head.root,
        checkpoints=count,
        accounts=len(balances),
    )


async def _checkpoints(store: Store, community: str, up_to: int) -> AsyncIterator[StoredCheckpoint]:
    """Every checkpoint of size <= ``up_to``, in order of size."""
    after = 0
    while True:
        page = await store.checkpoints(community, after, limits.PAGE_SIZE_MAX)
        for checkpoint in page:
            if checkpoint.size > up_to:
                return
            yield checkpoint
        if len(page) < limits.PAGE_SIZE_MAX:
            return
        after = page[-1].size


class _Keeper:
    """Chooses the checkpoints a bundle keeps as they are offered in order of size: each
    one witnessed, the last of each day, and the last of all (the head)."""

    def __init__(
        self,
        writer: BundleWriter,
        witnessed: frozenset[int],
        cosignatures: Callable[[StoredCheckpoint], Awaitable[str]] | None,
    ) -> None:
        self._writer = writer
        self._witnessed = witnessed
        self._cosignatures = cosignatures
        # The last checkpoint offered, if it is not kept yet, and its day.
        self._last: tuple[StoredCheckpoint, str] | None = None
        self.kept = 0

    async def offer(self, checkpoint: StoredCheckpoint, day: str) -> None:
        if self._last is not None and self._last[1] != day:
            await self._keep(self._last[0])  # the last of its day
        self._last = None
        if checkpoint.size in self._witnessed:
            await self._keep(checkpoint)
        else:
            self._last = (checkpoint, day)

    async def finish(self) -> int:
        """Keep the last checkpoint offered; how many were kept."""
        if self._last is not None:
            await self._keep(self._last[0])
            self._last = None
        return self.kept

    async def _keep(self, checkpoint: StoredCheckpoint) -> None:
        note = checkpoint.note
        if self._cosignatures is not None and checkpoint.size in self._witnessed:
            note += await self._cosignatures(checkpoint)
        self._writer.add_checkpoint(checkpoint.size, note)
        self.kept += 1
