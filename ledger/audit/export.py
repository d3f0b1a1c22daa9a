"""Export a community's journal from a store as a bundle anyone can verify offline.

The bundle ends at the latest signed checkpoint. Its ``balances.json`` holds
the balances the store's cache held at exactly that checkpoint: the head is
read before and after the balances, and the read is repeated until no batch
committed in between (every batch that moves minutes also adds entries, so an
unchanged head means unchanged balances). Entries are streamed in chunks of
ENTRY_RANGE_MAX as their exact stored bytes; the bundle appears atomically.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from ledger import limits
from ledger.audit.bundle import BundleWriter, Manifest
from ledger.audit.findings import b64
from ledger.checkpoint import log_verifiers, open_checkpoint
from ledger.clock import Clock, SystemClock, format_time
from ledger.note import NoteVerifier
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
    """The latest checkpoint and the cached balances at exactly that checkpoint.

    Both come from one snapshot of the store, so appends that commit meanwhile
    cannot pair a checkpoint with balances from another moment.
    """
    head, rows = await store.snapshot(community)
    if head.checkpoint is None:
        raise ExportError(f"community {community!r} has no signed checkpoint yet")
    if head.checkpoint.size != head.size:
        raise ExportError("the journal's head is not signed by its latest checkpoint")
    return head.checkpoint, {row.spec.id: row.balance_minutes for row in rows}


async def export_bundle(
    store: Store,
    community: str,
    directory: str | os.PathLike[str],
    verifier: NoteVerifier,
    *,
    clock: Clock | None = None,
    cosignatures: Callable[[StoredCheckpoint], Awaitable[str]] | None = None,
) -> Exported:
    """Write ``community``'s bundle to the new directory ``directory``.

    The head checkpoint must verify with ``verifier``, so a bundle is never
    exported under a key that cannot check it. ``cosignatures`` gives the
    witnesses' cosignature lines on the head, added to the bundle's head note.
    """
    head, balances = await balances_at_head(store, community)
    signed = open_checkpoint(head.note, verifier)
    assert (signed.size, signed.root) == (head.size, head.root), "stored checkpoint columns"
    created = format_time((clock or SystemClock()).now())
    with BundleWriter(directory) as writer:
        start = 0
        while start < head.size:
            end = min(head.size, start + limits.ENTRY_RANGE_MAX)
            chunk = await store.raw_entries(community, start, end)
            if len(chunk) != end - start:
                raise ExportError(f"entries {start}..{end - 1} are not all in the store")
            writer.add_entries(chunk)
            start = end
        count = await _write_checkpoints(store, community, head.size, writer)
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


async def _write_checkpoints(store: Store, community: str, up_to: int, writer: BundleWriter) -> int:
    """Every checkpoint of size <= ``up_to``, in order of size; returns how many."""
    after = 0
    count = 0
    while True:
        page = await store.checkpoints(community, after, limits.PAGE_SIZE_MAX)
        for checkpoint in page:
            if checkpoint.size > up_to:
                return count
            writer.add_checkpoint(checkpoint.size, checkpoint.note)
            count += 1
        if len(page) < limits.PAGE_SIZE_MAX:
            return count
        after = page[-1].size
