"""One writer per community across processes: what the ledger needs from a lease.

Several processes may serve one deployment (``buurtmunt serve --workers N``).
Each community's journal is written by the process that holds its *lease*; the
others hand their drafts to that process instead of appending themselves, so
the processes do not keep moving each other's tip and rebuilding batches.

A lease is an optimisation, never the guard of the journal: the store's tip
check (``Store.write_if_tip``, and the per-community lock of ``Store.batch``)
keeps the journal whole whoever writes. So when no holder answers, the ledger
takes the lease or, failing that, appends in its own process; and a draft
whose holder went away mid-flight is sent again with the same id, which the
writer answers with the original entry if it was committed (exactly once).
"""

from __future__ import annotations

from typing import Protocol

from ledger.model import Draft
from ledger.writer import Result


class HolderGone(ConnectionError):
    """The holder went away with the draft in hand: it may or may not have been appended."""


class NoHolder(LookupError):
    """Nobody took the draft: no process holds the lease, or its holder is not listening."""


class Leases(Protocol):
    """Who writes each community; implemented outside the core (``api.leases``)."""

    def holds(self, community: str) -> bool:
        """Whether this process holds ``community``'s lease now (cheap: no IO)."""
        ...

    async def acquire(self, community: str) -> bool:
        """Take ``community``'s lease if nobody holds it; whether this process holds it."""
        ...

    async def forward(self, community: str, draft: Draft) -> Result:
        """Have the holder append ``draft`` and answer as ``Writer.append`` would
        (``LedgerBusy`` and ``LedgerUnavailable`` included). Raises ``NoHolder``
        when nobody took the draft, ``HolderGone`` when its holder went away with it."""
        ...

    async def close(self) -> None: ...
